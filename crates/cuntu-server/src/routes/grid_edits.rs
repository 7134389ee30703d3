//! Editing grids: split along a line, merge neighbours, history, restore. Village cadres of
//! the village and township admins of the township may; everyone else gets 403.

use axum::extract::{Path, State};
use axum::routing::{get, post};
use axum::{Json, Router};
use cuntu_core::auth::may_edit_grids;
use cuntu_core::gridding::GridRule;
use cuntu_store::grid_edits::EditReport;
use geo::{coord, LineString};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::auth::Viewer;
use crate::error::ApiError;
use crate::i18n::Lang;
use crate::AppState;

/// More vertices than any hand-drawn line has: a bound on the work one request can ask for.
const MAX_LINE_VERTICES: usize = 10_000;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/areas/{id}/split", post(split))
        .route("/api/areas/merge", post(merge))
        .route("/api/areas/{id}/history", get(history))
        .route("/api/areas/{id}/restore", post(restore))
}

fn bad(zh: String, en: String) -> ApiError {
    ApiError::BadQuery { zh, en }
}

fn body<T>(b: Result<Json<T>, axum::extract::rejection::JsonRejection>) -> Result<T, ApiError> {
    b.map(|Json(t)| t).map_err(|e| {
        bad(
            format!("请求内容无法读取：{e}"),
            format!("The request body cannot be read: {e}"),
        )
    })
}

/// A GeoJSON (RFC 7946) LineString in longitude/latitude.
#[derive(Deserialize)]
struct GeoJsonLine {
    #[serde(rename = "type")]
    kind: String,
    coordinates: Vec<Vec<f64>>,
}

fn line_of(g: &GeoJsonLine) -> Result<LineString<f64>, ApiError> {
    if g.kind != "LineString" {
        return Err(bad(
            format!("分割线须为 GeoJSON LineString，收到 {}", g.kind),
            format!(
                "The cutting line must be a GeoJSON LineString, got {}",
                g.kind
            ),
        ));
    }
    if g.coordinates.len() < 2 || g.coordinates.len() > MAX_LINE_VERTICES {
        return Err(bad(
            format!("分割线须有 2 到 {MAX_LINE_VERTICES} 个点"),
            format!("The cutting line needs 2 to {MAX_LINE_VERTICES} points"),
        ));
    }
    let mut coords = Vec::with_capacity(g.coordinates.len());
    for c in &g.coordinates {
        match c.as_slice() {
            [lon, lat, ..] if lon.is_finite() && lat.is_finite() && lon.abs() <= 180.0 && lat.abs() <= 90.0 => {
                coords.push(coord! { x: *lon, y: *lat });
            }
            _ => {
                return Err(bad(
                    format!("坐标 {c:?} 无效：须为 [经度, 纬度]（WGS84/CGCS2000 度）"),
                    format!("Coordinate {c:?} is invalid: expected [longitude, latitude] in degrees (WGS84/CGCS2000)"),
                ))
            }
        }
    }
    Ok(LineString::new(coords))
}

fn parse_id(raw: &str) -> Result<i64, ApiError> {
    raw.parse().map_err(|_| ApiError::NotFound {
        what_zh: format!("编号为 {raw} 的区域"),
        what_en: format!("Area {raw}"),
    })
}

/// 401 without a session, 404 for an unknown area, 403 unless the viewer edits its grids.
async fn authorize_edit(state: &AppState, viewer: &Viewer, id: i64) -> Result<String, ApiError> {
    let account = viewer.require()?;
    let detail = state.store.area_detail(id).await.map_err(|e| match e {
        cuntu_store::StoreError::NotFound => ApiError::NotFound {
            what_zh: format!("编号为 {id} 的区域"),
            what_en: format!("Area {id}"),
        },
        other => other.into(),
    })?;
    let chain: Vec<i64> = detail.chain.iter().map(|a| a.id).collect();
    if !may_edit_grids(&viewer.assignments(), &chain) {
        return Err(ApiError::Forbidden);
    }
    Ok(account.username.clone())
}

/// The report with its warnings and a sentence a cadre reads before saving.
fn describe(report: &EditReport, lang: Lang) -> Value {
    let rule = GridRule::default();
    let warnings: Vec<String> = report
        .grids
        .iter()
        .filter(|g| !rule.admits(g.households as usize))
        .map(|g| {
            lang.pick(
                format!(
                    "{}有 {} 户，不在 {}–{} 户的规定范围内",
                    g.name, g.households, rule.min_households, rule.max_households
                ),
                format!(
                    "{} holds {} households, outside the rule of {}-{}",
                    g.name, g.households, rule.min_households, rule.max_households
                ),
            )
        })
        .collect();
    let summary = lang.pick(
        format!(
            "{} 户更换网格，其中 {} 户为重点人群户（将更换网格员）",
            report.moved_households, report.moved_key_population
        ),
        format!(
            "{} households change grid, {} of them key-population households (they change grid worker)",
            report.moved_households, report.moved_key_population
        ),
    );
    json!({ "report": report, "summary": summary, "warnings": warnings })
}

/// Audits a saved edit (a dry run saves nothing, so it is not audited) and answers with
/// its description.
async fn respond(
    state: &AppState,
    viewer: &Viewer,
    lang: Lang,
    report: EditReport,
    action: &str,
    target: Option<String>,
    detail: Value,
) -> Result<Json<Value>, ApiError> {
    if !report.dry_run {
        state
            .store
            .audit(cuntu_store::audit::AuditEntry {
                detail,
                ..viewer.audit_entry(action, target)
            })
            .await?;
    }
    Ok(Json(describe(&report, lang)))
}

#[derive(Deserialize)]
struct SplitRequest {
    line: GeoJsonLine,
    version: i32,
    #[serde(default)]
    dry_run: bool,
}

async fn split(
    State(state): State<AppState>,
    viewer: Viewer,
    lang: Lang,
    Path(raw): Path<String>,
    request: Result<Json<SplitRequest>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let id = parse_id(&raw)?;
    let actor = authorize_edit(&state, &viewer, id).await?;
    let request = body(request)?;
    let line = line_of(&request.line)?;
    let report = state
        .store
        .split_area(id, request.version, &line, &actor, request.dry_run)
        .await?;
    let detail = json!({ "new": report.grids.iter().map(|g| g.id).collect::<Vec<_>>() });
    respond(
        &state,
        &viewer,
        lang,
        report,
        "split_area",
        Some(format!("area:{id}")),
        detail,
    )
    .await
}

#[derive(Deserialize)]
struct Versioned {
    id: i64,
    version: i32,
}

#[derive(Deserialize)]
struct MergeRequest {
    keep: Versioned,
    absorb: Versioned,
    #[serde(default)]
    dry_run: bool,
}

async fn merge(
    State(state): State<AppState>,
    viewer: Viewer,
    lang: Lang,
    request: Result<Json<MergeRequest>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let request = body(request)?;
    let actor = authorize_edit(&state, &viewer, request.keep.id).await?;
    authorize_edit(&state, &viewer, request.absorb.id).await?;
    let report = state
        .store
        .merge_areas(
            (request.keep.id, request.keep.version),
            (request.absorb.id, request.absorb.version),
            &actor,
            request.dry_run,
        )
        .await?;
    let detail = json!({ "absorbed": request.absorb.id });
    respond(
        &state,
        &viewer,
        lang,
        report,
        "merge_areas",
        Some(format!("area:{}", request.keep.id)),
        detail,
    )
    .await
}

async fn history(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(raw): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let id = parse_id(&raw)?;
    authorize_edit(&state, &viewer, id).await?;
    let versions = state.store.area_history(id).await?;
    Ok(Json(json!({ "id": id, "versions": versions })))
}

#[derive(Deserialize)]
struct RestoreRequest {
    version: i32,
    to_version: i32,
    #[serde(default)]
    dry_run: bool,
}

async fn restore(
    State(state): State<AppState>,
    viewer: Viewer,
    lang: Lang,
    Path(raw): Path<String>,
    request: Result<Json<RestoreRequest>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let id = parse_id(&raw)?;
    let actor = authorize_edit(&state, &viewer, id).await?;
    let request = body(request)?;
    let report = state
        .store
        .restore_area(
            id,
            request.version,
            request.to_version,
            &actor,
            request.dry_run,
        )
        .await?;
    let detail = json!({ "to_version": request.to_version });
    respond(
        &state,
        &viewer,
        lang,
        report,
        "restore_area",
        Some(format!("area:{id}")),
        detail,
    )
    .await
}
