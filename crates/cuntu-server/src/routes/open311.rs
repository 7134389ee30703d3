//! Open311 GeoReport v2 at `/open311/v2/`, in JSON and XML, so that city platforms and
//! citizen apps can report incidents and follow them.
//!
//! Services are the incident categories. A request posted with an `api_key` (an API token of
//! an account, `cuntu user token`) becomes an incident in the reported state, placed by its
//! location, waiting in the township's triage queue. Open311 knows only open and closed; the
//! workflow's own facts travel in `extended_attributes`: the state, grade, escalation level,
//! the departments whistled, the deadline and whether it is overdue, the village and grid.
//!
//! Reads: without a key, the requests that came in through Open311; with a key, the
//! incidents the key's account sees in the app.

use std::collections::HashMap;

use axum::extract::{Path, Query, RawForm, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use chrono::{DateTime, Duration, Utc};
use cuntu_core::incident::{default_allowance, due_at, Grade, Step};
use cuntu_store::incidents::{IncidentFilter, IncidentRow, IncidentScope, NewIncident};
use serde_json::{json, Map, Value};

use super::incidents::check_report;
use crate::auth::token_hash;
use crate::i18n::Lang;
use crate::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/open311/v2/discovery.{format}", get(discovery))
        .route("/open311/v2/services.{format}", get(services))
        .route("/open311/v2/services/{code}", get(service_definition))
        .route(
            "/open311/v2/requests.{format}",
            get(list_requests).post(post_request),
        )
        .route("/open311/v2/requests/{id}", get(one_request))
        .route("/open311/v2/tokens/{token}", get(token))
}

#[derive(Clone, Copy, PartialEq)]
enum Format {
    Json,
    Xml,
}

fn format_of(ext: &str) -> Option<Format> {
    match ext {
        "json" => Some(Format::Json),
        "xml" => Some(Format::Xml),
        _ => None,
    }
}

/// `name.json` / `name.xml` → (name, format).
fn split_ext(s: &str) -> Option<(&str, Format)> {
    let (name, ext) = s.rsplit_once('.')?;
    Some((name, format_of(ext)?))
}

/// An Open311 error list, in the asked format.
fn error(format: Format, status: StatusCode, description: String) -> Response {
    let body = json!([{ "code": status.as_u16(), "description": description }]);
    respond(format, status, "errors", "error", &body)
}

fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c if (c as u32) < 0x20 && !matches!(c, '\n' | '\r' | '\t') => {}
            c => out.push(c),
        }
    }
    out
}

/// A JSON value as XML elements: objects become child elements, arrays repeat `item`.
fn xml_value(name: &str, v: &Value, out: &mut String) {
    match v {
        Value::Null => out.push_str(&format!("<{name}/>")),
        Value::Object(m) => {
            out.push_str(&format!("<{name}>"));
            for (k, v) in m {
                xml_value(k, v, out);
            }
            out.push_str(&format!("</{name}>"));
        }
        Value::Array(items) => {
            out.push_str(&format!("<{name}>"));
            for v in items {
                xml_value("item", v, out);
            }
            out.push_str(&format!("</{name}>"));
        }
        Value::String(s) => out.push_str(&format!("<{name}>{}</{name}>", escape(s))),
        other => out.push_str(&format!("<{name}>{other}</{name}>")),
    }
}

/// A list of records as Open311 sends it: a JSON array, or `<root><item>...</item></root>`.
fn respond(format: Format, status: StatusCode, root: &str, item: &str, list: &Value) -> Response {
    match format {
        Format::Json => (
            status,
            [(header::CONTENT_TYPE, "application/json; charset=utf-8")],
            list.to_string(),
        )
            .into_response(),
        Format::Xml => {
            let mut out = String::from("<?xml version=\"1.0\" encoding=\"utf-8\"?>");
            out.push_str(&format!("<{root}>"));
            for v in list.as_array().into_iter().flatten() {
                xml_value(item, v, &mut out);
            }
            out.push_str(&format!("</{root}>"));
            (
                status,
                [(header::CONTENT_TYPE, "text/xml; charset=utf-8")],
                out,
            )
                .into_response()
        }
    }
}

fn bad_format(raw: &str) -> Response {
    error(
        Format::Json,
        StatusCode::NOT_FOUND,
        format!("{raw}: ask for .json or .xml"),
    )
}

async fn discovery(State(_): State<AppState>, Path(ext): Path<String>) -> Response {
    let Some(format) = format_of(&ext) else {
        return bad_format(&ext);
    };
    let body = json!({
        "changeset": "2026-11-22T00:00:00Z",
        "contact": "The township's grid office (网格化服务管理中心)",
        "key_service": "API keys are API tokens of an account: `cuntu user token NAME`",
        "endpoints": [{
            "specification": "http://wiki.open311.org/GeoReport_v2",
            "url": "/open311/v2",
            "changeset": "2026-11-22T00:00:00Z",
            "type": "production",
            "formats": ["application/json", "text/xml"],
        }],
    });
    match format {
        Format::Json => (
            [(header::CONTENT_TYPE, "application/json; charset=utf-8")],
            body.to_string(),
        )
            .into_response(),
        Format::Xml => {
            let mut out = String::from("<?xml version=\"1.0\" encoding=\"utf-8\"?>");
            xml_value("discovery", &body, &mut out);
            ([(header::CONTENT_TYPE, "text/xml; charset=utf-8")], out).into_response()
        }
    }
}

async fn services(State(state): State<AppState>, lang: Lang, Path(ext): Path<String>) -> Response {
    let Some(format) = format_of(&ext) else {
        return bad_format(&ext);
    };
    match state.store.incident_categories().await {
        Ok(categories) => {
            let list: Vec<Value> = categories
                .iter()
                .map(|c| {
                    json!({
                        "service_code": c.code,
                        "service_name": lang.pick(c.name_zh.clone(), c.name_en.clone()),
                        "description": format!("{} / {}", c.name_zh, c.name_en),
                        "metadata": true,
                        "type": "realtime",
                        "keywords": c.code.replace('_', ","),
                        "group": "网格事件 incidents",
                    })
                })
                .collect();
            respond(format, StatusCode::OK, "services", "service", &json!(list))
        }
        Err(e) => {
            tracing::error!("open311 services: {e}");
            error(
                format,
                StatusCode::SERVICE_UNAVAILABLE,
                "the database is not available".into(),
            )
        }
    }
}

/// The one attribute every service takes: the grade (普通 / 重大 / 紧急).
async fn service_definition(State(state): State<AppState>, Path(raw): Path<String>) -> Response {
    let Some((code, format)) = split_ext(&raw) else {
        return bad_format(&raw);
    };
    let known = state
        .store
        .incident_categories()
        .await
        .map(|c| c.iter().any(|c| c.code == code))
        .unwrap_or(false);
    if !known {
        return error(format, StatusCode::NOT_FOUND, format!("no service {code}"));
    }
    let values: Vec<Value> = Grade::ALL
        .iter()
        .map(|g| json!({ "key": g.code(), "name": format!("{} / {}", g.label_zh(), g.label_en()) }))
        .collect();
    let definition = json!({
        "service_code": code,
        "attributes": [{
            "variable": true,
            "code": "grade",
            "datatype": "singlevaluelist",
            "required": false,
            "datatype_description": "normal unless given",
            "order": 1,
            "description": "等级 grade",
            "values": values,
        }],
    });
    match format {
        Format::Json => (
            [(header::CONTENT_TYPE, "application/json; charset=utf-8")],
            definition.to_string(),
        )
            .into_response(),
        Format::Xml => {
            let mut out = String::from("<?xml version=\"1.0\" encoding=\"utf-8\"?>");
            xml_value("service_definition", &definition, &mut out);
            ([(header::CONTENT_TYPE, "text/xml; charset=utf-8")], out).into_response()
        }
    }
}

/// The account an `api_key` belongs to: its id, name, areas and departments.
async fn key_account(state: &AppState, key: &str) -> Option<(i64, String, Vec<i64>, Vec<i64>)> {
    let user = state.store.user_by_token(&token_hash(key)).await.ok()??;
    let account = state.store.account(&user).await.ok()?;
    let roots: Vec<i64> = account
        .assignments()
        .iter()
        .filter(|a| a.role != cuntu_core::auth::Role::Department)
        .map(|a| a.area_id)
        .collect();
    let departments = state.store.departments_of_user(account.id).await.ok()?;
    Some((account.id, account.display_name.clone(), roots, departments))
}

async fn post_request(
    State(state): State<AppState>,
    lang: Lang,
    Path(ext): Path<String>,
    RawForm(raw): RawForm,
) -> Response {
    let Some(format) = format_of(&ext) else {
        return bad_format(&ext);
    };
    let form: HashMap<String, String> = form_urlencoded(&raw);
    let say = |zh: &str, en: &str| lang.pick(zh.to_string(), en.to_string());
    let Some(key) = form.get("api_key").filter(|k| !k.is_empty()) else {
        return error(
            format,
            StatusCode::FORBIDDEN,
            say("须提供 api_key", "api_key is required"),
        );
    };
    let Some((user_id, name, _, _)) = key_account(&state, key).await else {
        return error(
            format,
            StatusCode::FORBIDDEN,
            say("api_key 无效", "the api_key is not valid"),
        );
    };
    let service = form.get("service_code").cloned().unwrap_or_default();
    let (lat, lon) = match (
        form.get("lat").and_then(|v| v.parse::<f64>().ok()),
        form.get("long").and_then(|v| v.parse::<f64>().ok()),
    ) {
        (Some(lat), Some(lon))
            if (-90.0..=90.0).contains(&lat) && (-180.0..=180.0).contains(&lon) =>
        {
            (lat, lon)
        }
        _ => {
            return error(
                format,
                StatusCode::BAD_REQUEST,
                say(
                    "须给出位置：lat 和 long（WGS84 经纬度）",
                    "lat and long (WGS84) are required",
                ),
            )
        }
    };
    let grade = form
        .get("attribute[grade]")
        .cloned()
        .unwrap_or_else(|| "normal".into());
    let description = form.get("description").cloned().unwrap_or_default();
    let categories: Vec<String> = match state.store.incident_categories().await {
        Ok(c) => c.into_iter().map(|c| c.code).collect(),
        Err(_) => {
            return error(
                format,
                StatusCode::SERVICE_UNAVAILABLE,
                "the database is not available".into(),
            )
        }
    };
    let grade = match check_report(&service, &grade, &description, &categories) {
        Ok(g) => g,
        Err(e) => return error(format, StatusCode::BAD_REQUEST, e.message(lang)),
    };
    let reporter = [form.get("first_name"), form.get("last_name")]
        .into_iter()
        .flatten()
        .filter(|s| !s.trim().is_empty())
        .cloned()
        .collect::<Vec<_>>()
        .join(" ");
    let reporter = if reporter.is_empty() {
        name
    } else {
        format!("{reporter}（{name}）")
    };
    let now = state.clock.now();
    let due = due_at(now, default_allowance(grade, Step::Accept));
    // Public reports wait in the township's triage queue (and the grid's inbox).
    let notice = cuntu_store::notifications::Notice {
        audience: cuntu_store::notifications::Audience {
            township: true,
            grid: true,
            ..Default::default()
        },
        kind: "inbox",
        zh: format!(
            "Open311 新报告待分拣：{}",
            description.trim().chars().take(40).collect::<String>()
        ),
        en: format!(
            "A new Open311 report waits for triage: {}",
            description.trim().chars().take(40).collect::<String>()
        ),
        except: None,
    };
    let placed = {
        let index = state.index.read().await;
        super::incidents::placement(&index.areas.locate(geo::Point::new(lon, lat)))
    };
    let stored = state
        .store
        .report_incident_noticed(
            &NewIncident {
                lon,
                lat,
                category: &service,
                grade: grade.code(),
                description: description.trim(),
                reported_by: None,
                reporter_name: Some(&reporter),
                reporter_email: form.get("email").map(String::as_str),
                source: "open311",
                at: now,
                placed: Some(placed),
            },
            due,
            Some(&notice),
        )
        .await;
    match stored {
        Ok(id) => {
            tracing::info!(incident = id, via = user_id, "open311 request stored");
            let body = json!([{
                "service_request_id": id.to_string(),
                "token": format!("req-{id}"),
                "service_notice": say("已进入镇网格中心分拣队列", "queued for the township's triage"),
                "account_id": Value::Null,
            }]);
            respond(
                format,
                StatusCode::CREATED,
                "service_requests",
                "request",
                &body,
            )
        }
        Err(e) => {
            tracing::error!("open311 post: {e}");
            error(
                format,
                StatusCode::SERVICE_UNAVAILABLE,
                "the request could not be stored".into(),
            )
        }
    }
}

fn form_urlencoded(raw: &[u8]) -> HashMap<String, String> {
    serde_urlencoded::from_bytes::<Vec<(String, String)>>(raw)
        .unwrap_or_default()
        .into_iter()
        .collect()
}

/// An incident as an Open311 service request.
fn request_json(
    i: &IncidentRow,
    now: DateTime<Utc>,
    departments: &HashMap<i64, String>,
    lang: Lang,
) -> Value {
    let state_label = cuntu_core::incident::State::from_code(&i.state)
        .map(|s| lang.pick(s.label_zh().into(), s.label_en().into()));
    let grade_label = cuntu_core::incident::Grade::from_code(&i.grade)
        .map(|g| lang.pick(g.label_zh().into(), g.label_en().into()));
    let address = [i.village_name.clone(), i.grid_name.clone()]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(" ");
    let closed = i.state == "closed";
    let mut extended = Map::new();
    extended.insert("state".into(), json!(i.state));
    extended.insert("state_label".into(), json!(state_label));
    extended.insert("grade".into(), json!(i.grade));
    extended.insert("grade_label".into(), json!(grade_label));
    extended.insert("escalation_level".into(), json!(i.escalation_level));
    extended.insert(
        "departments".into(),
        json!(i
            .department_ids
            .iter()
            .filter_map(|d| departments.get(d))
            .collect::<Vec<_>>()),
    );
    extended.insert("due_at".into(), json!(i.due_at.map(|d| d.to_rfc3339())));
    extended.insert(
        "overdue".into(),
        json!(
            i.due_at.is_some_and(|d| d < now)
                && !matches!(i.state.as_str(), "resolved" | "verified" | "closed")
        ),
    );
    extended.insert("village".into(), json!(i.village_name));
    extended.insert("grid".into(), json!(i.grid_name));
    json!({
        "service_request_id": i.id.to_string(),
        "status": if closed { "closed" } else { "open" },
        "status_notes": format!("{} / {}", state_label.unwrap_or_default(), i.state),
        "service_name": lang.pick(i.category_zh.clone(), i.category_en.clone()),
        "service_code": i.category,
        "description": i.description,
        "agency_responsible": i.department_ids.iter().filter_map(|d| departments.get(d)).cloned().collect::<Vec<_>>().join("、"),
        "service_notice": "",
        "requested_datetime": i.reported_at.to_rfc3339(),
        "updated_datetime": i.closed_at.or(i.resolved_at).or(i.whistled_at).unwrap_or(i.reported_at).to_rfc3339(),
        "expected_datetime": i.due_at.map(|d| d.to_rfc3339()),
        "address": address,
        "lat": i.lat,
        "long": i.lon,
        "media_url": "",
        "extended_attributes": Value::Object(extended),
    })
}

async fn visible_requests(
    state: &AppState,
    key: Option<&str>,
) -> Result<Vec<IncidentRow>, Response> {
    let scope = match key {
        Some(k) => Some(
            key_account(state, k)
                .await
                .ok_or(StatusCode::FORBIDDEN)
                .map_err(|s| error(Format::Json, s, "the api_key is not valid".into()))?,
        ),
        None => None,
    };
    let rows = match &scope {
        Some((user, _, roots, departments)) => {
            state
                .store
                .incidents_in_scope(
                    &IncidentScope {
                        area_roots: roots,
                        departments,
                        reporter: Some(*user),
                    },
                    &IncidentFilter::default(),
                    1000,
                    0,
                )
                .await
        }
        None => state.store.open311_incidents(1000).await,
    };
    rows.map_err(|e| {
        tracing::error!("open311 list: {e}");
        error(
            Format::Json,
            StatusCode::SERVICE_UNAVAILABLE,
            "the database is not available".into(),
        )
    })
}

async fn department_names(state: &AppState) -> HashMap<i64, String> {
    state
        .store
        .all_departments()
        .await
        .unwrap_or_default()
        .into_iter()
        .map(|d| (d.id, d.name))
        .collect()
}

async fn list_requests(
    State(state): State<AppState>,
    lang: Lang,
    Path(ext): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let Some(format) = format_of(&ext) else {
        return bad_format(&ext);
    };
    let rows = match visible_requests(&state, q.get("api_key").map(String::as_str)).await {
        Ok(r) => r,
        Err(e) => return e,
    };
    let parse_date = |k: &str| -> Result<Option<DateTime<Utc>>, String> {
        match q.get(k).filter(|v| !v.is_empty()) {
            None => Ok(None),
            Some(v) => DateTime::parse_from_rfc3339(v)
                .map(|d| Some(d.with_timezone(&Utc)))
                .map_err(|_| {
                    format!("{k} must be a w3 datetime such as 2026-11-22T08:00:00+08:00")
                }),
        }
    };
    let (start, end) = match (parse_date("start_date"), parse_date("end_date")) {
        (Ok(s), Ok(e)) => (s, e),
        (Err(message), _) | (_, Err(message)) => {
            return error(format, StatusCode::BAD_REQUEST, message)
        }
    };
    let ids: Option<Vec<String>> = q
        .get("service_request_id")
        .map(|v| v.split(',').map(|s| s.trim().to_string()).collect());
    let codes: Option<Vec<String>> = q
        .get("service_code")
        .map(|v| v.split(',').map(|s| s.trim().to_string()).collect());
    let status = q.get("status").map(String::as_str);
    // The spec's default window is the last 90 days, unless ids are asked for.
    let start = start.or_else(|| {
        ids.is_none()
            .then(|| state.clock.now() - Duration::days(90))
    });
    let now = state.clock.now();
    let names = department_names(&state).await;
    let list: Vec<Value> = rows
        .iter()
        .filter(|i| {
            ids.as_ref()
                .is_none_or(|ids| ids.contains(&i.id.to_string()))
        })
        .filter(|i| codes.as_ref().is_none_or(|c| c.contains(&i.category)))
        .filter(|i| match status {
            Some("open") => i.state != "closed",
            Some("closed") => i.state == "closed",
            _ => true,
        })
        .filter(|i| {
            start.is_none_or(|s| i.reported_at >= s) && end.is_none_or(|e| i.reported_at <= e)
        })
        .map(|i| request_json(i, now, &names, lang))
        .collect();
    respond(
        format,
        StatusCode::OK,
        "service_requests",
        "request",
        &json!(list),
    )
}

async fn one_request(
    State(state): State<AppState>,
    lang: Lang,
    Path(raw): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let Some((id, format)) = split_ext(&raw) else {
        return bad_format(&raw);
    };
    let rows = match visible_requests(&state, q.get("api_key").map(String::as_str)).await {
        Ok(r) => r,
        Err(e) => return e,
    };
    let names = department_names(&state).await;
    match rows.iter().find(|i| i.id.to_string() == id) {
        Some(i) => respond(
            format,
            StatusCode::OK,
            "service_requests",
            "request",
            &json!([request_json(i, state.clock.now(), &names, lang)]),
        ),
        None => error(
            format,
            StatusCode::NOT_FOUND,
            format!("no service request {id}"),
        ),
    }
}

async fn token(State(state): State<AppState>, Path(raw): Path<String>) -> Response {
    let Some((token, format)) = split_ext(&raw) else {
        return bad_format(&raw);
    };
    let id = token
        .strip_prefix("req-")
        .and_then(|n| n.parse::<i64>().ok());
    let found = match id {
        Some(id) => state
            .store
            .incident(id)
            .await
            .ok()
            .flatten()
            .filter(|i| i.source == "open311"),
        None => None,
    };
    match found {
        Some(i) => respond(
            format,
            StatusCode::OK,
            "service_requests",
            "request",
            &json!([{ "service_request_id": i.id.to_string(), "token": token }]),
        ),
        None => error(
            format,
            StatusCode::NOT_FOUND,
            format!("no request for token {token}"),
        ),
    }
}
