//! What the grid editor reads: the villages a viewer edits, a village's grids with counts,
//! staff and gaps, the staff of a grid, the township's household rule; and the `/draw` page,
//! which only those who edit grids may open.

use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use cuntu_core::auth::Role;
use cuntu_core::gridding::GridRule;
use cuntu_core::proposal::Infeasible;
use cuntu_store::grid_edits::HouseholdRule;
use cuntu_store::proposals::{ProposalRequest, VillageProposal};
use serde::Deserialize;
use serde_json::{json, Value};

use super::grid_edits::authorize_edit;
use super::json_body as body;
use crate::auth::Viewer;
use crate::error::ApiError;
use crate::i18n::Lang;
use crate::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/villages", get(villages))
        .route("/api/villages/{id}/grids", get(village_grids))
        .route("/api/areas/{id}/staff", get(staff).put(set_staff))
        .route("/api/townships/{id}/grid-rule", get(rule).put(set_rule))
        .route("/api/villages/{id}/grids/propose", post(propose))
}

/// The page routes that are not for everyone; the rest of the front end is public.
pub fn pages() -> Router<AppState> {
    Router::new().route("/draw", get(draw_page))
}

fn parse_id(raw: &str) -> Result<i64, ApiError> {
    raw.parse().map_err(|_| ApiError::NotFound {
        what_zh: format!("编号为 {raw} 的区域"),
        what_en: format!("Area {raw}"),
    })
}

/// The areas where the viewer edits grids: cadres' villages, admins' townships.
fn editing_roots(viewer: &Viewer) -> Vec<i64> {
    viewer
        .assignments()
        .iter()
        .filter(|a| matches!(a.role, Role::VillageCadre | Role::TownshipAdmin))
        .map(|a| a.area_id)
        .collect()
}

async fn villages(State(state): State<AppState>, viewer: Viewer) -> Result<Json<Value>, ApiError> {
    viewer.require()?;
    let villages = state.store.villages_under(&editing_roots(&viewer)).await?;
    Ok(Json(json!({ "villages": villages })))
}

async fn village_grids(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(raw): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let id = parse_id(&raw)?;
    authorize_edit(&state, &viewer, id).await?;
    Ok(Json(
        serde_json::to_value(state.store.child_layer(id).await?).map_err(|_| ApiError::Internal)?,
    ))
}

async fn staff(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(raw): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let id = parse_id(&raw)?;
    authorize_edit(&state, &viewer, id).await?;
    Ok(Json(
        serde_json::to_value(state.store.staffing(id).await?).map_err(|_| ApiError::Internal)?,
    ))
}

#[derive(Deserialize)]
struct StaffRequest {
    leader: Option<i64>,
    #[serde(default)]
    workers: Vec<i64>,
}

async fn set_staff(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(raw): Path<String>,
    request: Result<Json<StaffRequest>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let id = parse_id(&raw)?;
    let actor = authorize_edit(&state, &viewer, id).await?;
    let request = body(request)?;
    if request.workers.len() > 100 {
        return Err(ApiError::BadQuery {
            zh: "一个网格最多分配 100 名网格员".into(),
            en: "At most 100 workers can be assigned to one grid".into(),
        });
    }
    let staffing = state
        .store
        .set_staff(id, request.leader, &request.workers, &actor)
        .await?;
    state
        .store
        .audit(cuntu_store::audit::AuditEntry {
            detail: json!({ "leader": request.leader, "workers": request.workers }),
            ..viewer.audit_entry("set_staff", Some(format!("area:{id}")))
        })
        .await?;
    Ok(Json(
        serde_json::to_value(staffing).map_err(|_| ApiError::Internal)?,
    ))
}

async fn rule(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(raw): Path<String>,
) -> Result<Json<HouseholdRule>, ApiError> {
    viewer.require()?;
    let id = parse_id(&raw)?;
    Ok(Json(state.store.household_rule(id).await?))
}

async fn set_rule(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(raw): Path<String>,
    request: Result<Json<HouseholdRule>, JsonRejection>,
) -> Result<Json<HouseholdRule>, ApiError> {
    let account = viewer.require()?;
    let id = parse_id(&raw)?;
    let is_admin = viewer
        .assignments()
        .iter()
        .any(|a| a.role == Role::TownshipAdmin && a.area_id == id);
    if !is_admin {
        return Err(ApiError::Forbidden);
    }
    let rule = body(request)?;
    let saved = state
        .store
        .set_household_rule(id, rule, &account.username)
        .await?;
    state
        .store
        .audit(cuntu_store::audit::AuditEntry {
            detail: json!(saved),
            ..viewer.audit_entry("set_grid_rule", Some(format!("area:{id}")))
        })
        .await?;
    Ok(Json(saved))
}

/// `/draw`: the login page for the anonymous, a 403 page for roles that edit no grids, the
/// front end for the others.
async fn draw_page(State(state): State<AppState>, viewer: Viewer, lang: Lang) -> Response {
    if viewer.account.is_none() {
        return Redirect::to("/login?next=/draw").into_response();
    }
    if editing_roots(&viewer).is_empty() {
        let (title, text) = match lang {
            Lang::Zh => ("无权访问", "网格编辑仅供村干部和镇管理员使用。"),
            Lang::En => (
                "Forbidden",
                "The grid editor is for village cadres and township administrators.",
            ),
        };
        let html = format!(
            "<!doctype html><html><head><meta charset=\"utf-8\"><meta name=\"viewport\" \
             content=\"width=device-width\"><title>{title}</title></head><body>\
             <h1>403 {title}</h1><p>{text}</p><p><a href=\"/\">村图 cuntu</a></p></body></html>"
        );
        return (
            StatusCode::FORBIDDEN,
            [
                (header::CONTENT_TYPE, "text/html; charset=utf-8"),
                (header::CACHE_CONTROL, "no-store"),
            ],
            html,
        )
            .into_response();
    }
    match tokio::fs::read(state.web_dir.join("index.html")).await {
        Ok(page) => (
            [
                (header::CONTENT_TYPE, "text/html; charset=utf-8"),
                (header::CACHE_CONTROL, "no-store"),
            ],
            page,
        )
            .into_response(),
        Err(e) => {
            tracing::error!("index.html: {e}");
            ApiError::Internal.into_response()
        }
    }
}

#[derive(Deserialize, Default)]
struct ProposeRequest {
    min_households: Option<usize>,
    max_households: Option<usize>,
    target: Option<usize>,
    #[serde(default)]
    seed: u64,
    #[serde(default)]
    keep_existing: bool,
}

/// The proposal as GeoJSON with each draft grid's figures, and the figures of the whole.
pub fn proposal_json(p: &VillageProposal, rule: &GridRule, lang: Lang) -> Value {
    let features: Vec<Value> = p
        .features()
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let geometry: Value =
                geozero::ToJson::to_json(&geo::Geometry::MultiPolygon(f.grid.geometry.clone()))
                    .ok()
                    .and_then(|j| serde_json::from_str(&j).ok())
                    .unwrap_or(Value::Null);
            let n = f.household_ids.len();
            json!({
                "type": "Feature",
                "id": i + 1,
                "geometry": geometry,
                "properties": {
                    "draft": i + 1,
                    "households": n,
                    "key_population": f.key_population,
                    "polsby_popper": (f.grid.polsby_popper * 1000.0).round() / 1000.0,
                    "crosses_barrier": f.grid.crosses_barrier,
                    "parts": f.grid.parts,
                    "within_rule": rule.admits(n),
                }
            })
        })
        .collect();
    let grids = &p.proposal.grids;
    let within = grids
        .iter()
        .filter(|g| rule.admits(g.members.len()))
        .count();
    let mean_pp = if grids.is_empty() {
        0.0
    } else {
        grids.iter().map(|g| g.polsby_popper).sum::<f64>() / grids.len() as f64
    };
    let worst_pp = grids
        .iter()
        .map(|g| g.polsby_popper)
        .fold(f64::INFINITY, f64::min);
    let infeasible = p.proposal.infeasible.map(|i| match i {
        Infeasible::TooFewHouseholds { households, min } => lang.pick(
            format!("只有 {households} 户，少于一个网格的下限 {min} 户：全部划为一个网格"),
            format!("Only {households} households, fewer than one grid's minimum of {min}: they make one grid"),
        ),
        Infeasible::NoWholeNumberOfGrids { households, min, max } => lang.pick(
            format!("{households} 户无法分成每格 {min}–{max} 户的整数个网格：已尽量均分，个别网格超出范围"),
            format!("{households} households cannot be divided into whole grids of {min}-{max}: they are shared out as evenly as possible, some grids fall outside"),
        ),
    });
    json!({
        "type": "FeatureCollection",
        "features": features,
        "rule": { "min_households": rule.min_households, "max_households": rule.max_households },
        "summary": {
            "grids": grids.len(),
            "households": p.household_ids.len(),
            "within_rule": within,
            "mean_polsby_popper": (mean_pp * 1000.0).round() / 1000.0,
            "worst_polsby_popper": if worst_pp.is_finite() { (worst_pp * 1000.0).round() / 1000.0 } else { 0.0 },
            "crossing_barriers": grids.iter().filter(|g| g.crosses_barrier).count(),
            "not_contiguous": grids.iter().filter(|g| g.parts > 1).count(),
            "elapsed_ms": p.elapsed.as_secs_f64() * 1000.0,
        },
        "infeasible": infeasible,
    })
}

/// A proposal of grids for the village: nothing is saved; accepting it is an edit.
async fn propose(
    State(state): State<AppState>,
    viewer: Viewer,
    lang: Lang,
    Path(raw): Path<String>,
    request: Result<Json<ProposeRequest>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let id = parse_id(&raw)?;
    authorize_edit(&state, &viewer, id).await?;
    let request = body(request)?;
    let township_rule = state.store.household_rule(id).await?;
    let min = request
        .min_households
        .unwrap_or(township_rule.min_households as usize);
    let max = request
        .max_households
        .unwrap_or(township_rule.max_households as usize);
    let rule = GridRule::new(min, max)
        .ok()
        .filter(|_| max <= 10_000)
        .ok_or_else(|| ApiError::BadQuery {
            zh: format!("户数规则无效：最少 {min}、最多 {max}。须 1 ≤ 最少 ≤ 最多 ≤ 10000"),
            en: format!("Invalid household rule {min}-{max}: need 1 ≤ min ≤ max ≤ 10000"),
        })?;
    let proposal = state
        .store
        .propose_grids(
            id,
            ProposalRequest {
                rule,
                target: request.target.filter(|t| *t > 0),
                seed: request.seed,
                keep_existing: request.keep_existing,
            },
        )
        .await?;
    Ok(Json(proposal_json(&proposal, &rule, lang)))
}
