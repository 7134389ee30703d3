//! Incidents over HTTP: report, list and read in scope, act on them (the rules are
//! `cuntu_core::incident`), photos with evidence flags, the department inbox, scoring, and
//! on-time statistics. Unanswered whistles escalate by themselves: every read of incidents
//! first escalates those past their signing deadline on the server's clock.

use axum::body::Bytes;
use axum::extract::rejection::JsonRejection;
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use cuntu_core::auth::Role;
use cuntu_core::coords::{bd09_to_wgs84, gcj02_to_wgs84};
use cuntu_core::incident::{
    default_allowance, due_at, level_of, next, step_in, whistle_escalation, Action, Allowance,
    Capacity, Grade, Level, Since, State as IncidentState, Step,
};
use cuntu_store::incidents::{IncidentFilter, IncidentRow, IncidentScope, NewIncident, Transition};
use cuntu_store::notifications::{Audience, Notice};
use geo::coord;
use serde::Deserialize;
use serde_json::{json, Value};

use super::worker::decode_photo;
use super::{bad, json_body as body, townships_of, valid_lon_lat};
use crate::auth::Viewer;
use crate::error::ApiError;
use crate::i18n::Lang;
use crate::AppState;

const MAX_PHOTO_BODY: usize = 6 * 1024 * 1024;
/// A closure photo taken farther than this from the incident is flagged.
const FAR_PHOTO_M: f64 = 300.0;
const LIST_LIMIT: i64 = 500;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/incident-categories", get(categories))
        .route(
            "/api/incident-categories/{code}",
            axum::routing::put(set_category),
        )
        .route("/api/incident-deadlines", get(deadlines).put(set_deadline))
        .route("/api/departments", get(departments))
        .route("/api/incidents", get(list).post(report))
        .route("/api/incidents/stats", get(stats))
        .route("/api/incidents/stats.csv", get(stats_csv))
        .route("/api/incidents/stats.xlsx", get(stats_xlsx))
        .route("/api/incidents/{id}", get(one))
        .route("/api/incidents/{id}/actions", post(act))
        .route("/api/incidents/{id}/score", post(score))
        .route(
            "/api/incidents/{id}/photos",
            post(add_photo).layer(DefaultBodyLimit::max(MAX_PHOTO_BODY)),
        )
        .route("/api/incidents/{id}/photos/{photo}", get(photo))
}

#[derive(Deserialize)]
struct Location {
    lon: f64,
    lat: f64,
    #[serde(default)]
    crs: Option<String>,
}

/// A location in WGS84, converted from GCJ-02 or BD-09 when the client says so.
fn wgs84(l: &Location) -> Result<(f64, f64), ApiError> {
    if !valid_lon_lat(l.lon, l.lat) {
        return Err(bad(
            format!("位置 [{}, {}] 不是经纬度", l.lon, l.lat),
            format!(
                "The location [{}, {}] is not longitude/latitude",
                l.lon, l.lat
            ),
        ));
    }
    let c = coord! { x: l.lon, y: l.lat };
    let c = match l
        .crs
        .as_deref()
        .unwrap_or("wgs84")
        .to_ascii_lowercase()
        .as_str()
    {
        "wgs84" | "epsg:4326" | "cgcs2000" | "epsg:4490" => c,
        "gcj02" | "gcj-02" => gcj02_to_wgs84(c),
        "bd09" | "bd-09" => bd09_to_wgs84(c),
        other => {
            return Err(bad(
                format!("坐标系“{other}”不支持：请用 wgs84、gcj02 或 bd09"),
                format!(
                    "The coordinate system '{other}' is not supported: use wgs84, gcj02 or bd09"
                ),
            ))
        }
    };
    Ok((c.x, c.y))
}

/// Who the viewer is for incidents: their area roots, departments and account.
struct Actor {
    user_id: i64,
    name: String,
    roots: Vec<i64>,
    departments: Vec<i64>,
    assignments: Vec<cuntu_core::auth::Assignment>,
}

async fn actor(state: &AppState, viewer: &Viewer) -> Result<Actor, ApiError> {
    let account = viewer.require()?;
    let assignments = viewer.assignments();
    let mut roots: Vec<i64> = assignments
        .iter()
        .filter(|a| a.role != Role::Department)
        .map(|a| a.area_id)
        .collect();
    roots.sort_unstable();
    roots.dedup();
    Ok(Actor {
        user_id: account.id,
        name: account.display_name.clone(),
        roots,
        departments: state.store.departments_of_user(account.id).await?,
        assignments,
    })
}

impl Actor {
    fn scope(&self) -> IncidentScope<'_> {
        IncidentScope {
            area_roots: &self.roots,
            departments: &self.departments,
            reporter: Some(self.user_id),
        }
    }

    /// In which capacities this actor stands to an incident.
    fn capacities(&self, i: &IncidentRow) -> Vec<Capacity> {
        let mut c = Vec::new();
        let holds = |roles: &[Role], area: Option<i64>| {
            area.is_some_and(|area| {
                self.assignments
                    .iter()
                    .any(|a| roles.contains(&a.role) && a.area_id == area)
            })
        };
        if holds(&[Role::GridWorker], i.grid_id) {
            c.push(Capacity::Grid);
        }
        if holds(&[Role::VillageCadre], i.village_id) {
            c.push(Capacity::Village);
        }
        if holds(&[Role::TownshipAdmin, Role::Leader], i.township_id) {
            c.push(Capacity::Township);
        }
        if i.department_ids
            .iter()
            .any(|d| self.departments.contains(d))
        {
            c.push(Capacity::Department);
        }
        if i.reported_by == Some(self.user_id) {
            c.push(Capacity::Reporter);
        }
        c
    }

    fn sees(&self, i: &IncidentRow) -> bool {
        !self.capacities(i).is_empty()
            || self.assignments.iter().any(|a| {
                a.role != Role::Department
                    && [i.grid_id, i.village_id, i.township_id].contains(&Some(a.area_id))
            })
    }
}

async fn allowance(state: &AppState, grade: Grade, step: Step) -> Result<Allowance, ApiError> {
    Ok(
        match state
            .store
            .incident_deadline(grade.code(), step.code())
            .await?
        {
            Some((minutes, days)) => Allowance {
                minutes: i64::from(minutes),
                working_days: i64::from(days),
            },
            None => default_allowance(grade, step),
        },
    )
}

/// Escalates the whistles nobody signed in time (哨声升级), on the server's clock.
async fn sweep(state: &AppState) -> Result<(), ApiError> {
    let again = default_allowance(Grade::Normal, Step::DeptAccept).minutes;
    let escalated = state
        .store
        .escalate_unanswered_whistles(state.clock.now(), again, |level| {
            let (new, zh, en) = whistle_escalation(level);
            (new, format!("{zh} / {en}"))
        })
        .await?;
    if !escalated.is_empty() {
        tracing::info!(?escalated, "unanswered whistles escalated");
    }
    state.store.notice_overdue(state.clock.now()).await?;
    Ok(())
}

fn not_found(raw: &str) -> ApiError {
    ApiError::NotFound {
        what_zh: format!("编号为 {raw} 的事件（或不在您的范围内）"),
        what_en: format!("Incident {raw} (or it is outside your area)"),
    }
}

/// The label of a timeline event's action: the workflow's actions, and the two events that are
/// not actions anyone takes (the report, the whistle escalating by itself).
fn action_label(code: &str, lang: Lang) -> String {
    match (Action::from_code(code), code) {
        (Some(a), _) => lang.pick(a.label_zh().into(), a.label_en().into()),
        (None, "report") => lang.pick("上报".into(), "report".into()),
        (None, "whistle_escalated") => lang.pick("哨声升级".into(), "whistle escalated".into()),
        (None, other) => other.to_string(),
    }
}

fn state_label(code: &str, lang: Lang) -> Option<String> {
    IncidentState::from_code(code).map(|s| lang.pick(s.label_zh().into(), s.label_en().into()))
}

fn grade_label(code: &str, lang: Lang) -> String {
    Grade::from_code(code).map_or_else(
        || code.to_string(),
        |g| lang.pick(g.label_zh().into(), g.label_en().into()),
    )
}

/// Notes the server writes itself carry both languages as "中文 / English"; the reader's half.
fn system_note(note: &str, lang: Lang) -> String {
    match note.split_once(" / ") {
        Some((zh, en)) => lang.pick(zh.into(), en.into()),
        None => note.to_string(),
    }
}

/// The timeline with its labels in the reader's language beside the codes.
fn timeline_json(events: &[cuntu_store::incidents::IncidentEvent], lang: Lang) -> Value {
    events
        .iter()
        .map(|e| {
            let system = e.action == "whistle_escalated";
            json!({
                "id": e.id,
                "action": e.action,
                "action_label": action_label(&e.action, lang),
                "from_state": e.from_state,
                "from_state_label": e.from_state.as_deref().and_then(|s| state_label(s, lang)),
                "to_state": e.to_state,
                "to_state_label": state_label(&e.to_state, lang),
                "by": if system { Some(lang.pick("系统".into(), "system".into())) } else { e.by.clone() },
                "at": e.at,
                "lon": e.lon,
                "lat": e.lat,
                "note": e.note,
                "note_label": e.note.as_deref().map(|n| if system { system_note(n, lang) } else { n.to_string() }),
                "late": e.late,
            })
        })
        .collect()
}

/// The photos with their stage and evidence flags said in the reader's language.
fn photos_json(photos: &[cuntu_store::incidents::PhotoRow], lang: Lang) -> Value {
    photos
        .iter()
        .map(|p| {
            let reasons: Vec<String> = p
                .flag_reason
                .as_deref()
                .unwrap_or("")
                .split("; ")
                .filter(|r| !r.is_empty())
                .map(|r| match r {
                    "far" => lang.pick(
                        format!("拍摄地点距事件 {} 米", p.far_m.unwrap_or(0.0).round()),
                        format!("taken {} m from the incident", p.far_m.unwrap_or(0.0).round()),
                    ),
                    "early" => lang.pick(
                        "拍摄时间早于派单".into(),
                        "taken before the dispatch".into(),
                    ),
                    other => other.to_string(),
                })
                .collect();
            json!({
                "id": p.id,
                "stage": p.stage,
                "stage_label": if p.stage == "after" {
                    lang.pick("处置后".into(), "after".into())
                } else {
                    lang.pick("处置前".into(), "before".into())
                },
                "taken_at": p.taken_at,
                "far_m": p.far_m,
                "flagged": p.flagged,
                "flag_reason": p.flag_reason,
                "flag_label": (!reasons.is_empty()).then(|| reasons.join(if lang == Lang::Zh { "；" } else { "; " })),
                "created_at": p.created_at,
            })
        })
        .collect()
}

fn incident_json(i: &IncidentRow, now: DateTime<Utc>, lang: Lang, actor: &Actor) -> Value {
    let state = IncidentState::from_code(&i.state);
    let grade = Grade::from_code(&i.grade);
    let capacities = actor.capacities(i);
    let possible: Vec<Value> = state
        .map(cuntu_core::incident::actions_from)
        .unwrap_or_default()
        .into_iter()
        .filter(|a| next(state.unwrap_or(IncidentState::Closed), *a, &capacities, None).is_ok())
        .map(|a| json!({ "action": a.code(), "label": lang.pick(a.label_zh().into(), a.label_en().into()) }))
        .collect();
    json!({
        "id": i.id,
        "lon": i.lon,
        "lat": i.lat,
        "township": { "id": i.township_id, "name": i.township_name },
        "village": { "id": i.village_id, "name": i.village_name },
        "grid": { "id": i.grid_id, "name": i.grid_name },
        "category": i.category,
        "category_label": lang.pick(i.category_zh.clone(), i.category_en.clone()),
        "grade": i.grade,
        "grade_label": grade.map(|g| lang.pick(g.label_zh().into(), g.label_en().into())),
        "source_label": if i.source == "open311" {
            lang.pick("公众（Open311）".into(), "the public (Open311)".into())
        } else {
            lang.pick("App".into(), "app".into())
        },
        "description": i.description,
        "state": i.state,
        "state_label": state.map(|s| lang.pick(s.label_zh().into(), s.label_en().into())),
        "resolved_by": i.resolved_by,
        "escalation_level": i.escalation_level,
        "due_at": i.due_at,
        "overdue": i.due_at.is_some_and(|d| d < now) && !matches!(i.state.as_str(), "resolved" | "verified" | "closed"),
        "missed_deadlines": i.missed_deadlines,
        "reporter": i.reporter,
        "source": i.source,
        "reported_at": i.reported_at,
        "whistled_at": i.whistled_at,
        "resolved_at": i.resolved_at,
        "closed_at": i.closed_at,
        "score": i.score,
        "version": i.version,
        "departments": i.department_ids,
        "actions": possible,
    })
}

async fn categories(State(state): State<AppState>, lang: Lang) -> Result<Json<Value>, ApiError> {
    let out: Vec<Value> = state
        .store
        .incident_categories()
        .await?
        .into_iter()
        .map(|c| {
            json!({
                "label": lang.pick(c.name_zh.clone(), c.name_en.clone()),
                "code": c.code,
                "name_zh": c.name_zh,
                "name_en": c.name_en,
            })
        })
        .collect();
    Ok(Json(json!(out)))
}

fn require_admin(viewer: &Viewer) -> Result<(), ApiError> {
    viewer.require()?;
    if viewer
        .assignments()
        .iter()
        .any(|a| a.role == Role::TownshipAdmin)
    {
        Ok(())
    } else {
        Err(ApiError::Forbidden)
    }
}

#[derive(Deserialize)]
struct CategoryRequest {
    name_zh: String,
    name_en: String,
    #[serde(default = "yes")]
    active: bool,
}

fn yes() -> bool {
    true
}

/// A township admin adds, renames or retires a category of the catalogue.
async fn set_category(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(code): Path<String>,
    request: Result<Json<CategoryRequest>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    require_admin(&viewer)?;
    let r = body(request)?;
    let code_ok =
        (2..=40).contains(&code.len()) && code.chars().all(|c| c.is_ascii_lowercase() || c == '_');
    if !code_ok {
        return Err(bad(
            format!("类别代码“{code}”须为 2 至 40 个小写字母或下划线"),
            format!("The category code '{code}' must be 2 to 40 lowercase letters or underscores"),
        ));
    }
    let (zh, en) = (r.name_zh.trim(), r.name_en.trim());
    if zh.is_empty() || en.is_empty() || zh.chars().count() > 50 || en.chars().count() > 80 {
        return Err(bad(
            "须给出中文和英文名称",
            "Give the Chinese and the English name",
        ));
    }
    state.store.upsert_category(&code, zh, en, r.active).await?;
    state
        .store
        .audit(viewer.audit_entry("incident_category.set", Some(code.clone())))
        .await?;
    Ok(Json(
        json!({ "code": code, "name_zh": zh, "name_en": en, "active": r.active }),
    ))
}

/// The deadline of every grade's step: the configured one or the default.
async fn deadlines(State(state): State<AppState>, lang: Lang) -> Result<Json<Value>, ApiError> {
    let mut out = Vec::new();
    for grade in Grade::ALL {
        for step in Step::ALL {
            let a = allowance(&state, *grade, *step).await?;
            out.push(json!({
                "grade": grade.code(),
                "grade_label": lang.pick(grade.label_zh().into(), grade.label_en().into()),
                "step": step.code(),
                "step_label": lang.pick(step.label_zh().into(), step.label_en().into()),
                "minutes": a.minutes,
                "working_days": a.working_days,
                "default": a == default_allowance(*grade, *step),
            }));
        }
    }
    Ok(Json(json!(out)))
}

#[derive(Deserialize)]
struct DeadlineRequest {
    grade: String,
    step: String,
    #[serde(default)]
    minutes: i32,
    #[serde(default)]
    working_days: i32,
}

async fn set_deadline(
    State(state): State<AppState>,
    viewer: Viewer,
    request: Result<Json<DeadlineRequest>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    require_admin(&viewer)?;
    let r = body(request)?;
    if Grade::from_code(&r.grade).is_none() || Step::from_code(&r.step).is_none() {
        return Err(bad(
            "grade 须为 normal/major/urgent，step 须为 accept/dept_accept/dept_arrive/resolve",
            "grade must be normal, major or urgent; step accept, dept_accept, dept_arrive or resolve",
        ));
    }
    let valid = (0..=60 * 24 * 30).contains(&r.minutes)
        && (0..=60).contains(&r.working_days)
        && (r.minutes > 0 || r.working_days > 0);
    if !valid {
        return Err(bad(
            "时限须为 1 分钟至 30 天，或 1 至 60 个工作日",
            "A deadline is 1 minute to 30 days, or 1 to 60 working days",
        ));
    }
    state
        .store
        .set_incident_deadline(&r.grade, &r.step, r.minutes, r.working_days)
        .await?;
    state
        .store
        .audit(viewer.audit_entry(
            "incident_deadline.set",
            Some(format!("{}/{}", r.grade, r.step)),
        ))
        .await?;
    Ok(Json(
        json!({ "grade": r.grade, "step": r.step, "minutes": r.minutes, "working_days": r.working_days }),
    ))
}

/// The departments of the viewer's township(s).
async fn departments(
    State(state): State<AppState>,
    viewer: Viewer,
) -> Result<Json<Value>, ApiError> {
    viewer.require()?;
    let townships = townships_of(&state, &viewer).await;
    Ok(Json(json!(state.store.departments_of(&townships).await?)))
}

#[derive(Deserialize)]
struct ReportRequest {
    location: Location,
    category: String,
    #[serde(default = "normal")]
    grade: String,
    description: String,
}

/// (township, village, grid) of a chain of areas from the R-tree.
pub(crate) fn placement(chain: &[cuntu_core::AreaRef]) -> (Option<i64>, Option<i64>, Option<i64>) {
    use cuntu_core::AreaKind;
    let of = |kind: AreaKind| chain.iter().find(|a| a.kind == kind).map(|a| a.id);
    (
        of(AreaKind::Township),
        of(AreaKind::Village),
        of(AreaKind::Grid),
    )
}

fn normal() -> String {
    "normal".into()
}

pub(crate) fn check_report(
    category: &str,
    grade: &str,
    description: &str,
    categories: &[String],
) -> Result<Grade, ApiError> {
    if !categories.iter().any(|c| c == category) {
        return Err(bad(
            format!("事件类别“{category}”不在目录中：{}", categories.join("、")),
            format!(
                "The category '{category}' is not in the catalogue: {}",
                categories.join(", ")
            ),
        ));
    }
    let g = Grade::from_code(grade).ok_or_else(|| {
        bad(
            format!("等级须为 normal（普通）、major（重大）或 urgent（紧急），收到“{grade}”"),
            format!("The grade must be normal, major or urgent, got '{grade}'"),
        )
    })?;
    let n = description.trim().chars().count();
    if n == 0 || n > 4000 {
        return Err(bad(
            "须描述事件（1 至 4000 字）",
            "Describe the incident (1 to 4000 characters)",
        ));
    }
    Ok(g)
}

/// Reports an incident in an area where the caller works; it is placed by its location.
async fn report(
    State(state): State<AppState>,
    viewer: Viewer,
    lang: Lang,
    request: Result<Json<ReportRequest>, JsonRejection>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let actor = actor(&state, &viewer).await?;
    if actor.roots.is_empty() && actor.departments.is_empty() {
        return Err(ApiError::Forbidden);
    }
    let r = body(request)?;
    let categories: Vec<String> = state
        .store
        .incident_categories()
        .await?
        .into_iter()
        .map(|c| c.code)
        .collect();
    let grade = check_report(&r.category, &r.grade, &r.description, &categories)?;
    let (lon, lat) = wgs84(&r.location)?;
    // Placed by the R-tree: the chain of areas holding the point.
    let (inside, placed) = {
        let index = state.index.read().await;
        let chain = index.areas.locate(geo::Point::new(lon, lat));
        (
            chain.iter().any(|a| actor.roots.contains(&a.id)),
            placement(&chain),
        )
    };
    if !inside {
        return Err(bad(
            "事件位置不在您负责的区域内",
            "The incident's location is outside the areas you work in",
        ));
    }
    let now = state.clock.now();
    let due = due_at(now, allowance(&state, grade, Step::Accept).await?);
    let notice = Notice {
        audience: Audience {
            grid: true,
            ..Audience::default()
        },
        kind: "inbox",
        zh: format!(
            "新事件待受理：{}",
            r.description.trim().chars().take(40).collect::<String>()
        ),
        en: format!(
            "A new incident waits for the grid: {}",
            r.description.trim().chars().take(40).collect::<String>()
        ),
        except: Some(actor.user_id),
    };
    let id = state
        .store
        .report_incident_noticed(
            &NewIncident {
                lon,
                lat,
                category: &r.category,
                grade: grade.code(),
                description: r.description.trim(),
                reported_by: Some(actor.user_id),
                reporter_name: Some(&actor.name),
                reporter_email: None,
                source: "app",
                at: now,
                placed: Some(placed),
            },
            due,
            Some(&notice),
        )
        .await?;
    let row = state.store.incident(id).await?.ok_or(ApiError::Internal)?;
    Ok((
        StatusCode::CREATED,
        Json(incident_json(&row, now, lang, &actor)),
    ))
}

#[derive(Deserialize)]
struct ListQuery {
    state: Option<String>,
    overdue: Option<String>,
    inbox: Option<String>,
    /// `open311`: the public's reports (the township's triage queue); `app`: the others.
    source: Option<String>,
    /// Incidents a page (1 to 500, 500 unless given), newest first.
    limit: Option<String>,
    /// How many of the newest to pass over (0 unless given).
    offset: Option<String>,
}

async fn list(
    State(state): State<AppState>,
    viewer: Viewer,
    lang: Lang,
    Query(q): Query<ListQuery>,
) -> Result<Json<Value>, ApiError> {
    let actor = actor(&state, &viewer).await?;
    sweep(&state).await?;
    let now = state.clock.now();
    if let Some(s) = q.state.as_deref() {
        if IncidentState::from_code(s).is_none() {
            return Err(bad(
                format!("没有“{s}”这种状态"),
                format!("There is no state '{s}'"),
            ));
        }
    }
    if let Some(s) = q.source.as_deref() {
        if !matches!(s, "app" | "open311") {
            return Err(bad(
                format!("source 须为 app 或 open311，收到“{s}”"),
                format!("source must be app or open311, got '{s}'"),
            ));
        }
    }
    let overdue = matches!(q.overdue.as_deref(), Some("1" | "true")).then_some(now);
    let limit = match q.limit.as_deref().map(str::parse::<i64>) {
        None => LIST_LIMIT,
        Some(Ok(n)) if (1..=LIST_LIMIT).contains(&n) => n,
        Some(_) => {
            return Err(bad(
                format!("limit 须为 1 到 {LIST_LIMIT} 之间的整数"),
                format!("limit must be a whole number from 1 to {LIST_LIMIT}"),
            ))
        }
    };
    let offset = match q.offset.as_deref().map(str::parse::<i64>) {
        None => 0,
        Some(Ok(n)) if n >= 0 => n,
        Some(_) => {
            return Err(bad(
                "offset 须为 0 或更大的整数".to_string(),
                "offset must be a whole number of 0 or more".to_string(),
            ))
        }
    };
    let filter = IncidentFilter {
        state: q.state.as_deref(),
        overdue_at: overdue,
        source: q.source.as_deref(),
        // The department inbox: what waits for one of the caller's departments.
        department_inbox: matches!(q.inbox.as_deref(), Some("1" | "true")),
    };
    let rows = state
        .store
        .incidents_in_scope(&actor.scope(), &filter, limit, offset)
        .await?;
    let next_offset = (rows.len() as i64 == limit).then_some(offset + limit);
    let features: Vec<Value> = rows
        .iter()
        .map(|i| {
            json!({
                "type": "Feature",
                "id": i.id,
                "geometry": { "type": "Point", "coordinates": [i.lon, i.lat] },
                "properties": incident_json(i, now, lang, &actor),
            })
        })
        .collect();
    let overdue_count = features
        .iter()
        .filter(|f| f["properties"]["overdue"] == json!(true))
        .count();
    Ok(Json(json!({
        "type": "FeatureCollection",
        "overdue": overdue_count,
        "features": features,
        "next_offset": next_offset,
    })))
}

async fn one(
    State(state): State<AppState>,
    viewer: Viewer,
    lang: Lang,
    Path(raw): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let actor = actor(&state, &viewer).await?;
    sweep(&state).await?;
    let row = visible(&state, &actor, &raw).await?;
    let mut out = incident_json(&row, state.clock.now(), lang, &actor);
    out["timeline"] = timeline_json(&state.store.incident_events(row.id).await?, lang);
    out["photos"] = photos_json(&state.store.incident_photos(row.id).await?, lang);
    Ok(Json(out))
}

async fn visible(state: &AppState, actor: &Actor, raw: &str) -> Result<IncidentRow, ApiError> {
    let id: i64 = raw.parse().map_err(|_| not_found(raw))?;
    let row = state
        .store
        .incident(id)
        .await?
        .ok_or_else(|| not_found(raw))?;
    let in_scope = actor.sees(&row) || state.store.incident_in_scope(&actor.scope(), id).await?;
    if in_scope {
        Ok(row)
    } else {
        Err(not_found(raw))
    }
}

#[derive(Deserialize)]
struct ActionRequest {
    action: String,
    version: i32,
    note: Option<String>,
    location: Option<Location>,
    #[serde(default)]
    departments: Vec<i64>,
}

async fn act(
    State(state): State<AppState>,
    viewer: Viewer,
    lang: Lang,
    Path(raw): Path<String>,
    request: Result<Json<ActionRequest>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let actor = actor(&state, &viewer).await?;
    let r = body(request)?;
    sweep(&state).await?;
    let row = visible(&state, &actor, &raw).await?;
    let action = Action::from_code(&r.action).ok_or_else(|| {
        let all: Vec<&str> = Action::ALL.iter().map(|a| a.code()).collect();
        bad(
            format!("没有“{}”这种操作：{}", r.action, all.join("、")),
            format!("There is no action '{}': {}", r.action, all.join(", ")),
        )
    })?;
    if r.version != row.version {
        return Err(ApiError::Conflict {
            expected: r.version,
            current: row.version,
        });
    }
    let from = IncidentState::from_code(&row.state).ok_or(ApiError::Internal)?;
    let resolved_by = row.resolved_by.as_deref().and_then(Level::from_code);
    let to = next(from, action, &actor.capacities(&row), resolved_by)
        .map_err(|e| ApiError::Rule { zh: e.zh, en: e.en })?;
    let location = r.location.as_ref().map(wgs84).transpose()?;
    if action == Action::DeptArrive && location.is_none() {
        return Err(bad(
            "到场须报告所在位置",
            "Arriving on site needs your location",
        ));
    }
    let note = r.note.as_deref().map(str::trim).filter(|n| !n.is_empty());
    if note.is_some_and(|n| n.chars().count() > 2000) {
        return Err(bad(
            "说明最多 2000 字",
            "A note has at most 2000 characters",
        ));
    }
    let mut departments = Vec::new();
    if action == Action::Whistle {
        let known: Vec<i64> = state
            .store
            .departments_of(&row.township_id.into_iter().collect::<Vec<_>>())
            .await?
            .into_iter()
            .map(|d| d.id)
            .collect();
        if r.departments.is_empty() || r.departments.iter().any(|d| !known.contains(d)) {
            return Err(bad(
                "吹哨须选择本镇的一个或多个部门",
                "A whistle names one or more departments of the township",
            ));
        }
        departments.clone_from(&r.departments);
    }
    let now = state.clock.now();
    let grade = Grade::from_code(&row.grade).unwrap_or(Grade::Normal);
    let due = match step_in(to) {
        Some((step, since)) => {
            let start = match since {
                Since::Report => row.reported_at,
                Since::Whistle => row.whistled_at.unwrap_or(now),
                Since::Entered => now,
            };
            Some(due_at(start, allowance(&state, grade, step).await?))
        }
        None => None,
    };
    let auto_note;
    let note = if action == Action::Whistle && departments.len() > 1 {
        auto_note = format!(
            "多部门协同，由镇综治办协调 / several departments: the township office coordinates{}",
            note.map(|n| format!("; {n}")).unwrap_or_default()
        );
        Some(auto_note.as_str())
    } else {
        note
    };
    let notice = notice_for(
        action,
        to,
        row.id,
        &row.category_zh,
        &row.category_en,
        actor.user_id,
    );
    let applied = state
        .store
        .apply_transition(&Transition {
            incident: row.id,
            version: row.version,
            action: action.code(),
            from: from.code(),
            to: to.code(),
            user_id: Some(actor.user_id),
            actor: &actor.name,
            at: now,
            location,
            note,
            late: row.due_at.is_some_and(|d| d < now),
            due_at: due,
            resolved_by: (action == Action::Resolve).then(|| level_of(from).code()),
            departments: &departments,
            notice,
        })
        .await?;
    if !applied {
        let current = state
            .store
            .incident(row.id)
            .await?
            .map_or(row.version, |i| i.version);
        return Err(ApiError::Conflict {
            expected: r.version,
            current,
        });
    }
    state
        .store
        .audit(viewer.audit_entry(
            "incident.act",
            Some(format!("{}:{}", row.id, action.code())),
        ))
        .await?;
    let row = state
        .store
        .incident(row.id)
        .await?
        .ok_or(ApiError::Internal)?;
    Ok(Json(incident_json(&row, now, lang, &actor)))
}

/// Who hears of a step: the people whose inbox the incident reaches.
fn notice_for(
    action: Action,
    to: IncidentState,
    id: i64,
    category_zh: &str,
    category_en: &str,
    by: i64,
) -> Option<Notice> {
    let (audience, kind) = match (action, to) {
        (Action::Escalate, _) | (Action::Reopen, IncidentState::Escalated) => (
            Audience {
                village: true,
                ..Audience::default()
            },
            "inbox",
        ),
        (Action::Whistle, _) | (Action::Reopen, IncidentState::DeptAccepted) => (
            Audience {
                departments: true,
                ..Audience::default()
            },
            "inbox",
        ),
        (Action::Reopen, _) => (
            Audience {
                grid: true,
                ..Audience::default()
            },
            "inbox",
        ),
        (Action::Resolve, _) => (
            Audience {
                reporter: true,
                grid: true,
                ..Audience::default()
            },
            "resolved",
        ),
        _ => return None,
    };
    Some(Notice {
        audience,
        kind,
        zh: format!("事件 {id}（{category_zh}）{}", to.label_zh()),
        en: format!("Incident {id} ({category_en}): {}", to.label_en()),
        except: Some(by),
    })
}

#[derive(Deserialize)]
struct ScoreRequest {
    score: i16,
}

/// The village scores the department's response once the incident is closed.
async fn score(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(raw): Path<String>,
    request: Result<Json<ScoreRequest>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let actor = actor(&state, &viewer).await?;
    let r = body(request)?;
    let row = visible(&state, &actor, &raw).await?;
    if !actor.capacities(&row).contains(&Capacity::Village) {
        return Err(ApiError::Forbidden);
    }
    if !(1..=5).contains(&r.score) {
        return Err(bad("评分须为 1 至 5", "The score must be 1 to 5"));
    }
    if row.department_ids.is_empty() || !state.store.score_incident(row.id, r.score).await? {
        return Err(ApiError::Rule {
            zh: "只有办结的、吹哨给部门的事件才能为部门评分".into(),
            en: "Only a closed incident that was whistled to a department can be scored".into(),
        });
    }
    Ok(Json(json!({ "id": row.id, "score": r.score })))
}

#[derive(Deserialize)]
struct PhotoRequest {
    stage: String,
    photo: String,
    taken_at: Option<DateTime<Utc>>,
    location: Option<Location>,
}

async fn add_photo(
    State(state): State<AppState>,
    viewer: Viewer,
    lang: Lang,
    Path(raw): Path<String>,
    request: Result<Json<PhotoRequest>, JsonRejection>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let actor = actor(&state, &viewer).await?;
    let r = body(request)?;
    let row = visible(&state, &actor, &raw).await?;
    if actor.capacities(&row).is_empty() {
        return Err(ApiError::Forbidden);
    }
    if !matches!(r.stage.as_str(), "before" | "after") {
        return Err(bad(
            "照片阶段须为 before（处置前）或 after（处置后）",
            "stage must be before or after",
        ));
    }
    let (content_type, bytes) = decode_photo(&r.photo)?;
    let location = r.location.as_ref().map(wgs84).transpose()?;
    let photo = state
        .store
        .add_incident_photo(
            row.id,
            &r.stage,
            r.taken_at,
            location,
            content_type,
            &bytes,
            actor.user_id,
            FAR_PHOTO_M,
        )
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(photos_json(std::slice::from_ref(&photo), lang)[0].take()),
    ))
}

async fn photo(
    State(state): State<AppState>,
    viewer: Viewer,
    Path((raw, photo)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let actor = actor(&state, &viewer).await?;
    let row = visible(&state, &actor, &raw).await?;
    let id: i64 = photo.parse().map_err(|_| not_found(&raw))?;
    let (content_type, bytes) = state
        .store
        .incident_photo(row.id, id)
        .await?
        .ok_or_else(|| not_found(&raw))?;
    Ok(([(header::CONTENT_TYPE, content_type)], Bytes::from(bytes)).into_response())
}

/// The statistics' column headings, in the reader's language (the CSV/XLSX use them too).
fn stats_headings(lang: Lang) -> [String; 8] {
    let zh = [
        "等级",
        "牵头部门",
        "处置数",
        "按时处置数",
        "按时率（%）",
        "村内解决数",
        "小事不出村率（%）",
        "平均用时（小时）",
    ];
    let en = [
        "Grade",
        "Lead department",
        "Resolved",
        "Resolved on time",
        "On-time rate (%)",
        "Resolved within the village",
        "Share within the village (%)",
        "Mean hours to resolve",
    ];
    std::array::from_fn(|k| lang.pick(zh[k].into(), en[k].into()))
}

fn no_department(lang: Lang) -> String {
    lang.pick("未吹哨".into(), "not whistled".into())
}

/// Per cent of `of`, one decimal; None when `of` is 0.
fn share(n: i64, of: i64) -> Option<f64> {
    (of > 0).then(|| (1000.0 * n as f64 / of as f64).round() / 10.0)
}

async fn stats_rows(
    state: &AppState,
    viewer: &Viewer,
) -> Result<Vec<cuntu_store::incidents::StatsRow>, ApiError> {
    viewer.require()?;
    let townships = townships_of(state, viewer).await;
    sweep(state).await?;
    Ok(state.store.incident_stats(&townships).await?)
}

/// On-time figures of the caller's township(s): per grade and leading department, and totals.
async fn stats(
    State(state): State<AppState>,
    viewer: Viewer,
    lang: Lang,
) -> Result<Json<Value>, ApiError> {
    let rows = stats_rows(&state, &viewer).await?;
    let resolved: i64 = rows.iter().map(|r| r.resolved).sum();
    let on_time: i64 = rows.iter().map(|r| r.on_time).sum();
    let in_village: i64 = rows.iter().map(|r| r.in_village).sum();
    let h = stats_headings(lang);
    let labelled: Vec<Value> = rows
        .iter()
        .map(|r| {
            let mut v = json!(r);
            v["grade_label"] = json!(grade_label(&r.grade, lang));
            v["department_label"] =
                json!(r.department.clone().unwrap_or_else(|| no_department(lang)));
            v["on_time_percent"] = json!(share(r.on_time, r.resolved));
            v["in_village_percent"] = json!(share(r.in_village, r.resolved));
            v
        })
        .collect();
    Ok(Json(json!({
        "resolved": resolved,
        "on_time": on_time,
        "on_time_percent": share(on_time, resolved),
        "in_village": in_village,
        "in_village_percent": share(in_village, resolved),
        "headings": {
            "grade": h[0], "department": h[1], "resolved": h[2], "on_time": h[3],
            "on_time_percent": h[4], "in_village": h[5], "in_village_percent": h[6], "mean_hours": h[7],
        },
        "title": lang.pick("事件按时办结统计".into(), "On-time handling of incidents".into()),
        "rows": labelled,
    })))
}

/// The statistics as a table: headings and rows (grade, lead department, counts, shares in
/// per cent, mean hours), with a total row last.
fn stats_table(
    rows: &[cuntu_store::incidents::StatsRow],
    lang: Lang,
) -> (Vec<String>, Vec<Vec<Value>>) {
    let num = |v: Option<f64>| v.map_or(Value::Null, |v| json!(v));
    let mut out: Vec<Vec<Value>> = rows
        .iter()
        .map(|r| {
            vec![
                json!(grade_label(&r.grade, lang)),
                json!(r.department.clone().unwrap_or_else(|| no_department(lang))),
                json!(r.resolved),
                json!(r.on_time),
                num(share(r.on_time, r.resolved)),
                json!(r.in_village),
                num(share(r.in_village, r.resolved)),
                num(r.mean_hours.map(|h| (h * 10.0).round() / 10.0)),
            ]
        })
        .collect();
    let resolved: i64 = rows.iter().map(|r| r.resolved).sum();
    let on_time: i64 = rows.iter().map(|r| r.on_time).sum();
    let in_village: i64 = rows.iter().map(|r| r.in_village).sum();
    out.push(vec![
        json!(lang.pick("合计".into(), "Total".into())),
        Value::Null,
        json!(resolved),
        json!(on_time),
        num(share(on_time, resolved)),
        json!(in_village),
        num(share(in_village, resolved)),
        Value::Null,
    ]);
    (stats_headings(lang).to_vec(), out)
}

fn download(
    content_type: &'static str,
    name_zh: &str,
    ext: &str,
    lang: Lang,
    body: Vec<u8>,
) -> Response {
    let name = format!(
        "{}.{ext}",
        lang.pick(name_zh.into(), "incident-on-time-statistics".into())
    );
    let encoded: String = name
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect();
    (
        [
            (header::CONTENT_TYPE, content_type.to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!(
                    "attachment; filename=\"incident-on-time-statistics.{ext}\"; filename*=UTF-8''{encoded}"
                ),
            ),
        ],
        body,
    )
        .into_response()
}

/// The statistics as CSV (UTF-8 with a BOM, so Excel reads the Chinese), headings in the
/// request's language.
async fn stats_csv(
    State(state): State<AppState>,
    viewer: Viewer,
    lang: Lang,
) -> Result<Response, ApiError> {
    let rows = stats_rows(&state, &viewer).await?;
    let (head, table) = stats_table(&rows, lang);
    let mut out = Vec::from("\u{feff}".as_bytes());
    {
        let mut w = csv::Writer::from_writer(&mut out);
        let fail = |e: csv::Error| {
            tracing::error!("csv export failed: {e}");
            ApiError::Internal
        };
        w.write_record(&head).map_err(fail)?;
        for row in &table {
            w.write_record(row.iter().map(|v| match v {
                Value::String(s) => s.clone(),
                Value::Null => String::new(),
                other => other.to_string(),
            }))
            .map_err(fail)?;
        }
        w.flush().map_err(|_| ApiError::Internal)?;
    }
    Ok(download(
        "text/csv; charset=utf-8",
        "事件按时办结统计",
        "csv",
        lang,
        out,
    ))
}

/// The statistics as an XLSX workbook, headings in the request's language.
async fn stats_xlsx(
    State(state): State<AppState>,
    viewer: Viewer,
    lang: Lang,
) -> Result<Response, ApiError> {
    let rows = stats_rows(&state, &viewer).await?;
    let (head, table) = stats_table(&rows, lang);
    let build = || -> Result<Vec<u8>, rust_xlsxwriter::XlsxError> {
        let mut book = rust_xlsxwriter::Workbook::new();
        let sheet = book.add_worksheet();
        sheet.set_name(lang.pick("按时办结".into(), "on time".into()))?;
        let bold = rust_xlsxwriter::Format::new().set_bold();
        for (c, h) in head.iter().enumerate() {
            sheet.write_string_with_format(0, c as u16, h, &bold)?;
            sheet.set_column_width(c as u16, 16)?;
        }
        for (r, row) in table.iter().enumerate() {
            let r = r as u32 + 1;
            for (c, v) in row.iter().enumerate() {
                match v {
                    Value::Number(n) => {
                        sheet.write_number(r, c as u16, n.as_f64().unwrap_or(0.0))?;
                    }
                    Value::String(s) => {
                        sheet.write_string(r, c as u16, s)?;
                    }
                    _ => {}
                }
            }
        }
        sheet.set_freeze_panes(1, 0)?;
        book.save_to_buffer()
    };
    let bytes = build().map_err(|e| {
        tracing::error!("xlsx export failed: {e}");
        ApiError::Internal
    })?;
    Ok(download(
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "事件按时办结统计",
        "xlsx",
        lang,
        bytes,
    ))
}
