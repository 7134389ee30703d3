//! The grid worker's API: their grid with each household's visit state, search, visits
//! (idempotent by the client's id, so an offline queue can replay), and photos. Everything
//! is read through the caller's household scope and masked by role.

use axum::body::Bytes;
use axum::extract::rejection::JsonRejection;
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine;
use chrono::{DateTime, Duration, Utc};
use cuntu_core::auth::{household_access, Visibility};
use cuntu_core::coords::{bd09_to_wgs84, gcj02_to_wgs84};
use cuntu_core::feature::KeyPopulation;
use cuntu_core::visits::{cadence_days, due, merge_rules, quarter_label, quarter_start};
use cuntu_store::audit::AuditEntry;
use cuntu_store::visits::{NewVisit, WorkerHousehold};
use geo::coord;
use serde::Deserialize;
use serde_json::{json, Value};

use super::bad;
use crate::auth::Viewer;
use crate::error::ApiError;
use crate::i18n::Lang;
use crate::AppState;

/// A photo as sent (base64 in a data URL) may be this large; decoded, 3 MB.
const MAX_VISIT_BODY: usize = 6 * 1024 * 1024;
const MAX_PHOTO_BYTES: usize = 3 * 1024 * 1024;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/worker/overview", get(overview))
        .route("/api/households/search", get(search))
        .route("/api/households/{id}/visits", get(visits_of_household))
        .route(
            "/api/visits",
            post(record_visit).layer(DefaultBodyLimit::max(MAX_VISIT_BODY)),
        )
        .route("/api/visits/{id}/photo", get(photo))
}

pub(crate) fn tag_label(code: &str, lang: Lang) -> String {
    let Some(k) = KeyPopulation::from_code(code) else {
        return code.to_string();
    };
    match lang {
        Lang::Zh => k.label_zh().to_string(),
        Lang::En => match k {
            KeyPopulation::ElderlyAlone => "elderly living alone",
            KeyPopulation::Disabled => "disabled",
            KeyPopulation::LowIncome => "low income (dibao)",
            KeyPopulation::ExtremeHardship => "extreme hardship",
            KeyPopulation::LeftBehindChild => "left-behind child",
            KeyPopulation::ChildInDifficulty => "child in difficulty",
        }
        .to_string(),
    }
}

/// Tags whose label (either language) or code contains the query: "独居" finds elderly_alone.
fn tags_matching(query: &str) -> Vec<String> {
    let q = query.to_lowercase();
    [
        KeyPopulation::ElderlyAlone,
        KeyPopulation::Disabled,
        KeyPopulation::LowIncome,
        KeyPopulation::ExtremeHardship,
        KeyPopulation::LeftBehindChild,
        KeyPopulation::ChildInDifficulty,
    ]
    .into_iter()
    .filter(|k| {
        !q.is_empty()
            && (k.label_zh().contains(&q)
                || k.code().contains(&q)
                || tag_label(k.code(), Lang::En).contains(&q))
    })
    .map(|k| k.code().to_string())
    .collect()
}

/// A household as this viewer may see it, with its visit state.
fn household_json(
    viewer: &Viewer,
    h: &WorkerHousehold,
    cadence: i32,
    now: DateTime<Utc>,
    lang: Lang,
) -> Option<Value> {
    let access = household_access(&viewer.assignments(), &h.chain)?;
    let names = access.names != Visibility::Hidden;
    let tags: Vec<String> = if access.tags != Visibility::Hidden {
        h.tags.clone()
    } else {
        Vec::new()
    };
    let d = due(h.last_visit_at, cadence, now);
    Some(json!({
        "id": h.id,
        "house_number": h.house_number,
        "head_name": h.head_name.clone().filter(|_| names),
        "address": h.address,
        "members": h.members.filter(|_| names),
        "tags": tags,
        "tag_labels": tags.iter().map(|t| tag_label(t, lang)).collect::<Vec<_>>(),
        "key_population": !tags.is_empty(),
        "grid_id": h.grid_id,
        "grid_name": h.grid_name,
        "last_visit_at": h.last_visit_at,
        "cadence_days": cadence,
        "due_at": d.due_at,
        "days_until_due": d.days_until_due,
        "state": d.state,
    }))
}

async fn overview(
    State(state): State<AppState>,
    viewer: Viewer,
    lang: Lang,
) -> Result<Json<Value>, ApiError> {
    viewer.require()?;
    let roots = viewer.household_roots();
    let grids = state.store.grids_in_scope(&roots).await?;
    let households = state.store.worker_households(&roots).await?;
    let own = match roots.first() {
        Some(root) => state.store.own_visit_rules(*root).await?,
        None => Vec::new(),
    };
    let rules = merge_rules(&own);
    let now = Utc::now();
    let quarter = quarter_start(now);
    let mut features = Vec::with_capacity(households.len());
    let (mut total, mut visited, mut key_total, mut key_visited) = (0, 0, 0, 0);
    for h in &households {
        let cadence = cadence_days(&rules, &h.tags);
        let Some(properties) = household_json(&viewer, h, cadence, now, lang) else {
            continue;
        };
        let this_quarter = h.last_visit_at.is_some_and(|v| v >= quarter);
        let key = properties["key_population"].as_bool().unwrap_or(false);
        total += 1;
        visited += i64::from(this_quarter);
        key_total += i64::from(key);
        key_visited += i64::from(key && this_quarter);
        features.push(json!({
            "type": "Feature",
            "id": h.id,
            "geometry": { "type": "Point", "coordinates": [h.lon, h.lat] },
            "properties": properties,
        }));
    }
    state
        .store
        .audit(AuditEntry {
            detail: json!({ "count": features.len() }),
            ..viewer.audit_entry("worker_overview", None)
        })
        .await?;
    let cadence: Vec<Value> = rules
        .iter()
        .map(|r| {
            json!({
                "tag": r.tag,
                "label": r.tag.as_deref().map(|t| tag_label(t, lang))
                    .unwrap_or_else(|| lang.pick("每户".into(), "every household".into())),
                "days": r.days,
            })
        })
        .collect();
    Ok(Json(json!({
        "grids": grids,
        "households": { "type": "FeatureCollection", "features": features },
        "coverage": {
            "quarter": quarter_label(now),
            "total": total, "visited": visited,
            "key_total": key_total, "key_visited": key_visited,
        },
        "cadence": cadence,
    })))
}

#[derive(Deserialize)]
struct SearchQuery {
    q: Option<String>,
    limit: Option<i64>,
}

async fn search(
    State(state): State<AppState>,
    viewer: Viewer,
    lang: Lang,
    query: Result<Query<SearchQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    viewer.require()?;
    let Query(query) =
        query.map_err(|e| bad(format!("参数错误：{e}"), format!("Bad parameters: {e}")))?;
    let q = query.q.unwrap_or_default().trim().to_string();
    if q.is_empty() {
        return Ok(Json(json!({ "households": [] })));
    }
    if q.chars().count() > 50 {
        return Err(bad(
            "搜索词最多 50 个字",
            "A search is at most 50 characters",
        ));
    }
    let limit = query.limit.unwrap_or(20).clamp(1, 100);
    let roots = viewer.household_roots();
    let found = state
        .store
        .search_households(&roots, &q, &tags_matching(&q), limit)
        .await?;
    let rules = match roots.first() {
        Some(root) => merge_rules(&state.store.own_visit_rules(*root).await?),
        None => Vec::new(),
    };
    let now = Utc::now();
    let households: Vec<Value> = found
        .iter()
        .filter_map(|h| {
            let mut v = household_json(&viewer, h, cadence_days(&rules, &h.tags), now, lang)?;
            v["lon"] = json!(h.lon);
            v["lat"] = json!(h.lat);
            Some(v)
        })
        .collect();
    state
        .store
        .audit(AuditEntry {
            detail: json!({ "count": households.len() }),
            ..viewer.audit_entry("search_households", None)
        })
        .await?;
    Ok(Json(json!({ "households": households })))
}

/// 401/404/403 unless the household is in the viewer's scope; its id when it is.
async fn household_in_scope(state: &AppState, viewer: &Viewer, raw: &str) -> Result<i64, ApiError> {
    viewer.require()?;
    let not_found = || ApiError::NotFound {
        what_zh: format!("编号为 {raw} 的户"),
        what_en: format!("Household {raw}"),
    };
    let id: i64 = raw.parse().map_err(|_| not_found())?;
    let record = state
        .store
        .household_in_scope(id, &viewer.household_roots())
        .await?;
    match record {
        Some(r) if household_access(&viewer.assignments(), &r.chain).is_some() => Ok(id),
        _ if state.store.household_exists(id).await? => Err(ApiError::Forbidden),
        _ => Err(not_found()),
    }
}

async fn visits_of_household(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(raw): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let id = household_in_scope(&state, &viewer, &raw).await?;
    let visits = state.store.visits_of(id, 50).await?;
    state
        .store
        .audit(viewer.audit_entry("read_visits", Some(format!("household:{id}"))))
        .await?;
    Ok(Json(json!({ "visits": visits })))
}

#[derive(Deserialize)]
struct Location {
    lon: f64,
    lat: f64,
    #[serde(default = "wgs84")]
    crs: String,
}

fn wgs84() -> String {
    "wgs84".into()
}

#[derive(Deserialize)]
struct VisitRequest {
    client_id: String,
    household_id: i64,
    visited_at: DateTime<Utc>,
    location: Option<Location>,
    #[serde(default)]
    found: String,
    #[serde(default)]
    follow_up: bool,
    photo: Option<String>,
}

/// `data:image/jpeg;base64,...` → (content type, bytes), checked by its first bytes.
pub(crate) fn decode_photo(data_url: &str) -> Result<(&'static str, Vec<u8>), ApiError> {
    let refuse = || {
        bad(
            "照片须为 JPEG、PNG 或 WebP 图片（data URL），不超过 3 MB",
            "The photo must be a JPEG, PNG or WebP image (a data URL) of at most 3 MB",
        )
    };
    let (head, data) = data_url.split_once(',').ok_or_else(refuse)?;
    if !head.ends_with(";base64") {
        return Err(refuse());
    }
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(data.trim())
        .map_err(|_| refuse())?;
    if bytes.len() > MAX_PHOTO_BYTES {
        return Err(refuse());
    }
    let kind = if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        "image/jpeg"
    } else if bytes.starts_with(&[0x89, b'P', b'N', b'G']) {
        "image/png"
    } else if bytes.len() > 12 && &bytes[..4] == b"RIFF" && &bytes[8..12] == b"WEBP" {
        "image/webp"
    } else {
        return Err(refuse());
    };
    Ok((kind, bytes))
}

async fn record_visit(
    State(state): State<AppState>,
    viewer: Viewer,
    request: Result<Json<VisitRequest>, JsonRejection>,
) -> Result<Response, ApiError> {
    let account = viewer.require()?.clone();
    let Json(request) = request.map_err(|e| {
        bad(
            format!("走访记录无法读取：{e}"),
            format!("The visit cannot be read: {e}"),
        )
    })?;
    let id = household_in_scope(&state, &viewer, &request.household_id.to_string()).await?;
    let client_id = request.client_id.trim();
    if !(8..=64).contains(&client_id.len())
        || !client_id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Err(bad(
            "client_id 须为 8 到 64 位的字母、数字或连字符",
            "client_id must be 8 to 64 letters, digits or dashes",
        ));
    }
    let now = Utc::now();
    if request.visited_at > now + Duration::minutes(10)
        || request.visited_at < now - Duration::days(366)
    {
        return Err(bad(
            "走访时间须在过去一年内，不能晚于现在",
            "The visit time must lie within the past year, not in the future",
        ));
    }
    if request.found.chars().count() > 4000 {
        return Err(bad(
            "走访情况最多 4000 字",
            "What was found is at most 4000 characters",
        ));
    }
    let location = match &request.location {
        None => None,
        Some(l) => {
            if !(l.lon.is_finite()
                && l.lat.is_finite()
                && l.lon.abs() <= 180.0
                && l.lat.abs() <= 90.0)
            {
                return Err(bad(
                    format!("位置 ({}, {}) 无效", l.lon, l.lat),
                    format!("The location ({}, {}) is invalid", l.lon, l.lat),
                ));
            }
            let c = coord! { x: l.lon, y: l.lat };
            let (wgs, crs) = match l.crs.to_ascii_lowercase().as_str() {
                "wgs84" | "epsg:4326" | "cgcs2000" | "epsg:4490" => (c, "wgs84"),
                "gcj02" | "gcj-02" => (gcj02_to_wgs84(c), "gcj02"),
                "bd09" | "bd-09" => (bd09_to_wgs84(c), "bd09"),
                other => {
                    return Err(bad(
                        format!("不支持的坐标系“{other}”：可为 wgs84、gcj02、bd09"),
                        format!("Unsupported coordinate system '{other}': wgs84, gcj02 or bd09"),
                    ))
                }
            };
            Some(((wgs.x, wgs.y), crs))
        }
    };
    let photo = request.photo.as_deref().map(decode_photo).transpose()?;
    let visit = NewVisit {
        user_id: account.id,
        client_id,
        household_id: id,
        visited_at: request.visited_at,
        location,
        found: &request.found,
        follow_up: request.follow_up,
        photo,
    };
    let (row, duplicate) = state.store.record_visit(&visit).await?;
    if !duplicate {
        state
            .store
            .audit(AuditEntry {
                detail: json!({ "visit": row.id, "flagged": row.flagged }),
                ..viewer.audit_entry("record_visit", Some(format!("household:{id}")))
            })
            .await?;
    }
    let status = if duplicate {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    Ok((
        status,
        Json(json!({ "visit": row, "duplicate": duplicate })),
    )
        .into_response())
}

async fn photo(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(raw): Path<String>,
) -> Result<Response, ApiError> {
    viewer.require()?;
    let not_found = || ApiError::NotFound {
        what_zh: format!("走访 {raw} 的照片"),
        what_en: format!("The photo of visit {raw}"),
    };
    let id: i64 = raw.parse().map_err(|_| not_found())?;
    let (household, content_type, bytes) =
        state.store.visit_photo(id).await?.ok_or_else(not_found)?;
    household_in_scope(&state, &viewer, &household.to_string()).await?;
    Ok((
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "private, max-age=86400".to_string()),
        ],
        Bytes::from(bytes),
    )
        .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_are_found_by_partial_labels() {
        assert_eq!(tags_matching("独居"), ["elderly_alone"]);
        assert_eq!(
            tags_matching("儿童"),
            ["left_behind_child", "child_in_difficulty"]
        );
        assert_eq!(tags_matching("Elderly"), ["elderly_alone"]);
        assert!(tags_matching("王").is_empty());
    }

    #[test]
    fn photos_are_checked_by_their_bytes() {
        let jpeg = format!(
            "data:image/jpeg;base64,{}",
            base64::engine::general_purpose::STANDARD.encode([0xFF, 0xD8, 0xFF, 0xE0, 1, 2])
        );
        assert_eq!(decode_photo(&jpeg).unwrap().0, "image/jpeg");
        let text = format!(
            "data:image/jpeg;base64,{}",
            base64::engine::general_purpose::STANDARD.encode(b"<svg>")
        );
        assert!(decode_photo(&text).is_err());
        assert!(decode_photo("not a data url").is_err());
    }
}
