//! Editing grids: draw, reshape, delete, split, merge, move shared vertices, restore, and the
//! dry run of any of them. Village cadres of the village and township admins of the township
//! may; everyone else gets 403. Every edit answers with what it did in people's terms.

use std::collections::HashMap;

use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap};
use axum::routing::{get, patch, post};
use axum::{Json, Router};
use cuntu_core::auth::may_edit_grids;
use cuntu_store::grid_edits::{Drawing, EditReport, VertexMove};
use geo::{coord, Geometry, LineString};
use geozero::ToGeo;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::{json, Value};

use super::{bad, json_body as body, valid_lon_lat as valid_coord};
use crate::auth::Viewer;
use crate::error::ApiError;
use crate::i18n::Lang;
use crate::AppState;

/// Up to this many groups of moved households, the summary names each.
const SUMMARY_MOVES: usize = 4;

/// More vertices than any hand-drawn shape has: a bound on the work one request can ask for.
/// OGC feature writes take the same bound.
pub(crate) const MAX_VERTICES: usize = 10_000;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/areas/{id}/split", post(edit::<SplitRequest>))
        .route("/api/areas/merge", post(merge))
        .route("/api/areas/{id}/history", get(history))
        .route("/api/areas/{id}/restore", post(edit::<RestoreRequest>))
        .route("/api/areas/{id}", patch(update).delete(delete))
        .route("/api/villages/{id}/grids", post(edit::<CreateRequest>))
        // The same for any container: lanes (街巷) are drawn inside a grid this way.
        .route("/api/areas/{id}/children", post(edit::<CreateRequest>))
        .route(
            "/api/villages/{id}/grids/move-vertices",
            post(edit::<MoveRequest>),
        )
        .route("/api/villages/{id}/grids/validate", post(validate))
        .route(
            "/api/villages/{id}/grids/accept",
            post(edit::<AcceptRequest>),
        )
}

fn bad_coordinate(c: &impl std::fmt::Debug) -> ApiError {
    bad(
        format!("坐标 {c:?} 无效：须为 [经度, 纬度]（WGS84/CGCS2000 度）"),
        format!("Coordinate {c:?} is invalid: expected [longitude, latitude] in degrees (WGS84/CGCS2000)"),
    )
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
    if g.coordinates.len() < 2 || g.coordinates.len() > MAX_VERTICES {
        return Err(bad(
            format!("分割线须有 2 到 {MAX_VERTICES} 个点"),
            format!("The cutting line needs 2 to {MAX_VERTICES} points"),
        ));
    }
    let mut coords = Vec::with_capacity(g.coordinates.len());
    for c in &g.coordinates {
        match c.as_slice() {
            [lon, lat, ..] if valid_coord(*lon, *lat) => coords.push(coord! { x: *lon, y: *lat }),
            _ => return Err(bad_coordinate(c)),
        }
    }
    Ok(LineString::new(coords))
}

/// A GeoJSON Polygon or MultiPolygon in longitude/latitude, read with geozero.
fn area_of(g: &Value) -> Result<Geometry<f64>, ApiError> {
    let kind = g.get("type").and_then(Value::as_str).unwrap_or("");
    if !matches!(kind, "Polygon" | "MultiPolygon") {
        return Err(bad(
            format!("网格的形状须为 GeoJSON Polygon 或 MultiPolygon，收到“{kind}”"),
            format!("A grid's shape must be a GeoJSON Polygon or MultiPolygon, got '{kind}'"),
        ));
    }
    let text = g.to_string();
    let geometry = geozero::geojson::GeoJson(&text).to_geo().map_err(|e| {
        bad(
            format!("GeoJSON 无法读取：{e}"),
            format!("The GeoJSON cannot be read: {e}"),
        )
    })?;
    let mut vertices = 0usize;
    for c in geo::CoordsIter::coords_iter(&geometry) {
        vertices += 1;
        if !valid_coord(c.x, c.y) {
            return Err(bad_coordinate(&[c.x, c.y]));
        }
    }
    if vertices > MAX_VERTICES {
        return Err(bad(
            format!("形状有 {vertices} 个点，超过上限 {MAX_VERTICES}"),
            format!("The shape has {vertices} points, more than the limit of {MAX_VERTICES}"),
        ));
    }
    // An empty polygon, or a ring of fewer than three points, is not a shape (PostGIS would
    // fail on it with an internal error).
    let polygons: Vec<&geo::Polygon<f64>> = match &geometry {
        Geometry::Polygon(p) => vec![p],
        Geometry::MultiPolygon(mp) => mp.0.iter().collect(),
        _ => Vec::new(),
    };
    let short = polygons.is_empty()
        || polygons.iter().any(|p| {
            std::iter::once(p.exterior())
                .chain(p.interiors())
                .any(|ring| ring.0.len() < 4)
        });
    if short {
        return Err(bad(
            "形状为空，或有的环少于 3 个点：多边形的每个环至少需要 3 个不同的点并闭合",
            "The shape is empty, or a ring has fewer than 3 points: each ring of a polygon needs at least 3 distinct points, closed",
        ));
    }
    Ok(geometry)
}

fn parse_id(raw: &str) -> Result<i64, ApiError> {
    raw.parse().map_err(|_| ApiError::NotFound {
        what_zh: format!("编号为 {raw} 的区域"),
        what_en: format!("Area {raw}"),
    })
}

fn unknown_area(id: i64) -> ApiError {
    ApiError::NotFound {
        what_zh: format!("编号为 {id} 的区域"),
        what_en: format!("Area {id}"),
    }
}

/// 401 without a session, 404 for an unknown area, 403 unless the viewer edits its grids.
/// Answers the actor's name for the history.
pub(crate) async fn authorize_edit(
    state: &AppState,
    viewer: &Viewer,
    id: i64,
) -> Result<String, ApiError> {
    let account = viewer.require()?;
    let detail = state.store.area_detail(id).await.map_err(|e| match e {
        cuntu_store::StoreError::NotFound => unknown_area(id),
        other => other.into(),
    })?;
    let chain: Vec<i64> = detail.chain.iter().map(|a| a.id).collect();
    if !may_edit_grids(&viewer.assignments(), &chain) {
        return Err(ApiError::Forbidden);
    }
    Ok(account.username.clone())
}

fn note_texts(notes: &[cuntu_store::grid_edits::Note], lang: Lang) -> Vec<String> {
    notes
        .iter()
        .map(|n| lang.pick(n.zh.clone(), n.en.clone()))
        .collect()
}

/// One move as a sentence: "17 户从网格03移到网格04，其中 2 户为重点人群户（更换网格员）".
fn move_sentence(m: &cuntu_store::grid_edits::Move, lang: Lang) -> String {
    let from_zh = m.from_name.clone().unwrap_or_else(|| "未划网格区域".into());
    let to_zh = m.to_name.clone().unwrap_or_else(|| "未划网格区域".into());
    let from_en = m.from_name.clone().unwrap_or_else(|| "no grid".into());
    let to_en = m.to_name.clone().unwrap_or_else(|| "no grid".into());
    let key_zh = if m.key_population > 0 {
        format!("，其中 {} 户为重点人群户（更换网格员）", m.key_population)
    } else {
        String::new()
    };
    let key_en = if m.key_population > 0 {
        format!(
            "; {} of them key-population households (they change grid worker)",
            m.key_population
        )
    } else {
        String::new()
    };
    lang.pick(
        format!("{} 户从{from_zh}移到{to_zh}{key_zh}", m.households),
        format!(
            "{} households move from {from_en} to {to_en}{key_en}",
            m.households
        ),
    )
}

/// The report with its warnings and the sentences a cadre reads before saving.
pub(crate) fn describe(report: &EditReport, lang: Lang) -> Value {
    let rule = report.rule;
    let mut warnings = Vec::new();
    for g in &report.grids {
        if report.children_are_grids && !rule.admits(g.households) {
            warnings.push(lang.pick(
                format!(
                    "{}有 {} 户，不在 {}–{} 户的规定范围内",
                    g.name, g.households, rule.min_households, rule.max_households
                ),
                format!(
                    "{} holds {} households, outside the rule of {}-{}",
                    g.name, g.households, rule.min_households, rule.max_households
                ),
            ));
        }
        if g.parts > 1 {
            warnings.push(lang.pick(
                format!("{}由 {} 块互不相连的区域组成", g.name, g.parts),
                format!(
                    "{} is made of {} separate pieces (not contiguous)",
                    g.name, g.parts
                ),
            ));
        }
    }
    if report.gaps.area_m2 > 0.0 {
        warnings.push(lang.pick(
            format!(
                "村内有 {:.0} 平方米未划入网格，其中有 {} 户",
                report.gaps.area_m2, report.gaps.households
            ),
            format!(
                "{:.0} m² of the village lie in no grid, with {} households in them",
                report.gaps.area_m2, report.gaps.households
            ),
        ));
    }
    let summary = match report.moves.len() {
        0 => lang.pick(
            "没有住户更换网格".into(),
            "No household changes grid".into(),
        ),
        1..=SUMMARY_MOVES => report
            .moves
            .iter()
            .map(|m| move_sentence(m, lang))
            .collect::<Vec<_>>()
            .join(lang.pick("；".into(), "; ".into()).as_str()),
        // A whole new division moves households between dozens of grids: the sentence
        // gives the totals, the `moves` list every pair.
        groups => lang.pick(
            format!(
                "共 {} 户更换网格（{groups} 组），其中 {} 户为重点人群户（更换网格员）",
                report.moved_households, report.moved_key_population
            ),
            format!(
                "{} households change grid ({groups} groups), {} of them key-population households (they change grid worker)",
                report.moved_households, report.moved_key_population
            ),
        ),
    };
    let mut report_json = serde_json::to_value(report).unwrap_or(Value::Null);
    if let Some(obj) = report_json.as_object_mut() {
        obj.insert("notes".into(), json!(note_texts(&report.notes, lang)));
        obj.remove("gaps");
    }
    json!({
        "report": report_json,
        "summary": summary,
        "moves": report.moves.iter().map(|m| move_sentence(m, lang)).collect::<Vec<_>>(),
        "warnings": warnings,
        "gaps": { "area_m2": report.gaps.area_m2, "households": report.gaps.households,
                  "geometry": report.gaps.geometry },
    })
}

/// Audits a saved edit (a dry run saves nothing, so it is not audited) and answers with
/// its description.
async fn respond(
    state: &AppState,
    viewer: &Viewer,
    lang: Lang,
    report: EditReport,
    action: &str,
    target: String,
) -> Result<Json<Value>, ApiError> {
    if !report.dry_run {
        let detail = json!({
            "grids": report.grids.iter().map(|g| g.id).collect::<Vec<_>>(),
            "removed": report.removed,
            "moved_households": report.moved_households,
        });
        state
            .store
            .audit(cuntu_store::audit::AuditEntry {
                detail,
                ..viewer.audit_entry(action, Some(target))
            })
            .await?;
    }
    Ok(Json(describe(&report, lang)))
}

/// An edit: its audit name, its target, and the run itself (real or dry).
trait EditOp: DeserializeOwned + Send {
    const ACTION: &'static str;
    /// The area whose grids the edit changes, checked against the viewer's scope, and the
    /// audit target: the area in the path, unless the edit names it otherwise.
    fn scope(&self, path_id: Option<i64>) -> Result<(i64, String), ApiError> {
        let id = need_id(path_id)?;
        Ok((id, format!("area:{id}")))
    }
    fn run(
        self,
        state: &AppState,
        path_id: Option<i64>,
        actor: String,
        dry_run: bool,
    ) -> impl std::future::Future<Output = Result<EditReport, ApiError>> + Send;
    fn dry_run(&self) -> bool;
}

async fn perform<Op: EditOp>(
    state: &AppState,
    viewer: &Viewer,
    lang: Lang,
    path_id: Option<i64>,
    op: Op,
    force_dry_run: bool,
) -> Result<Json<Value>, ApiError> {
    let (scope, target) = op.scope(path_id)?;
    let actor = authorize_edit(state, viewer, scope).await?;
    let dry_run = force_dry_run || op.dry_run();
    let report = op.run(state, path_id, actor, dry_run).await?;
    respond(state, viewer, lang, report, Op::ACTION, target).await
}

fn need_id(path_id: Option<i64>) -> Result<i64, ApiError> {
    path_id.ok_or_else(|| {
        bad(
            "请求须指明区域编号 id",
            "The request must name the area: id",
        )
    })
}

#[derive(Deserialize)]
struct SplitRequest {
    line: GeoJsonLine,
    version: i32,
    #[serde(default)]
    dry_run: bool,
}

impl EditOp for SplitRequest {
    const ACTION: &'static str = "split_area";
    async fn run(
        self,
        state: &AppState,
        path_id: Option<i64>,
        actor: String,
        dry_run: bool,
    ) -> Result<EditReport, ApiError> {
        let line = line_of(&self.line)?;
        Ok(state
            .store
            .split_area(need_id(path_id)?, self.version, &line, &actor, dry_run)
            .await?)
    }
    fn dry_run(&self) -> bool {
        self.dry_run
    }
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

impl EditOp for MergeRequest {
    const ACTION: &'static str = "merge_areas";
    fn scope(&self, _: Option<i64>) -> Result<(i64, String), ApiError> {
        Ok((self.keep.id, format!("area:{}", self.keep.id)))
    }
    async fn run(
        self,
        state: &AppState,
        _: Option<i64>,
        actor: String,
        dry_run: bool,
    ) -> Result<EditReport, ApiError> {
        Ok(state
            .store
            .merge_areas(
                (self.keep.id, self.keep.version),
                (self.absorb.id, self.absorb.version),
                &actor,
                dry_run,
            )
            .await?)
    }
    fn dry_run(&self) -> bool {
        self.dry_run
    }
}

#[derive(Deserialize)]
struct RestoreRequest {
    version: i32,
    to_version: i32,
    #[serde(default)]
    dry_run: bool,
}

impl EditOp for RestoreRequest {
    const ACTION: &'static str = "restore_area";
    async fn run(
        self,
        state: &AppState,
        path_id: Option<i64>,
        actor: String,
        dry_run: bool,
    ) -> Result<EditReport, ApiError> {
        Ok(state
            .store
            .restore_area(
                need_id(path_id)?,
                self.version,
                self.to_version,
                &actor,
                dry_run,
            )
            .await?)
    }
    fn dry_run(&self) -> bool {
        self.dry_run
    }
}

#[derive(Deserialize)]
struct CreateRequest {
    geometry: Value,
    name: Option<String>,
    #[serde(default)]
    trim: bool,
    #[serde(default)]
    dry_run: bool,
}

impl EditOp for CreateRequest {
    const ACTION: &'static str = "create_area";
    async fn run(
        self,
        state: &AppState,
        path_id: Option<i64>,
        actor: String,
        dry_run: bool,
    ) -> Result<EditReport, ApiError> {
        let shape = area_of(&self.geometry)?;
        let drawing = Drawing {
            geometry: &shape,
            trim: self.trim,
        };
        Ok(state
            .store
            .create_area(
                need_id(path_id)?,
                &drawing,
                self.name.as_deref(),
                &actor,
                dry_run,
            )
            .await?)
    }
    fn dry_run(&self) -> bool {
        self.dry_run
    }
}

#[derive(Deserialize)]
struct UpdateRequest {
    version: Option<i32>,
    name: Option<String>,
    geometry: Option<Value>,
    #[serde(default)]
    trim: bool,
    #[serde(default)]
    dry_run: bool,
}

impl EditOp for UpdateRequest {
    const ACTION: &'static str = "update_area";
    async fn run(
        self,
        state: &AppState,
        path_id: Option<i64>,
        actor: String,
        dry_run: bool,
    ) -> Result<EditReport, ApiError> {
        let version = self.version.ok_or_else(missing_version)?;
        let shape = self.geometry.as_ref().map(area_of).transpose()?;
        let drawing = shape.as_ref().map(|geometry| Drawing {
            geometry,
            trim: self.trim,
        });
        Ok(state
            .store
            .update_area(
                need_id(path_id)?,
                version,
                self.name.as_deref(),
                drawing.as_ref(),
                &actor,
                dry_run,
            )
            .await?)
    }
    fn dry_run(&self) -> bool {
        self.dry_run
    }
}

fn missing_version() -> ApiError {
    bad(
        "须给出所编辑的版本号（请求体 version 或 If-Match 头）",
        "The version being edited is required (body field version, or an If-Match header)",
    )
}

#[derive(Deserialize)]
struct DeleteRequest {
    version: i32,
    #[serde(default)]
    dry_run: bool,
}

impl EditOp for DeleteRequest {
    const ACTION: &'static str = "delete_area";
    async fn run(
        self,
        state: &AppState,
        path_id: Option<i64>,
        actor: String,
        dry_run: bool,
    ) -> Result<EditReport, ApiError> {
        Ok(state
            .store
            .delete_area(need_id(path_id)?, self.version, &actor, dry_run)
            .await?)
    }
    fn dry_run(&self) -> bool {
        self.dry_run
    }
}

#[derive(Deserialize)]
struct MoveSpec {
    from: [f64; 2],
    to: [f64; 2],
}

#[derive(Deserialize)]
struct MoveRequest {
    moves: Vec<MoveSpec>,
    #[serde(default)]
    versions: HashMap<String, i32>,
    #[serde(default)]
    dry_run: bool,
}

impl EditOp for MoveRequest {
    const ACTION: &'static str = "move_vertices";
    async fn run(
        self,
        state: &AppState,
        path_id: Option<i64>,
        actor: String,
        dry_run: bool,
    ) -> Result<EditReport, ApiError> {
        if self.moves.len() > MAX_VERTICES {
            return Err(bad(
                format!("一次最多移动 {MAX_VERTICES} 个顶点"),
                format!("At most {MAX_VERTICES} vertices move at once"),
            ));
        }
        let mut moves = Vec::with_capacity(self.moves.len());
        for m in &self.moves {
            for c in [m.from, m.to] {
                if !valid_coord(c[0], c[1]) {
                    return Err(bad_coordinate(&c));
                }
            }
            moves.push(VertexMove {
                from: coord! { x: m.from[0], y: m.from[1] },
                to: coord! { x: m.to[0], y: m.to[1] },
            });
        }
        let versions = versions_of(&self.versions)?;
        Ok(state
            .store
            .move_vertices(need_id(path_id)?, &moves, &versions, &actor, dry_run)
            .await?)
    }
    fn dry_run(&self) -> bool {
        self.dry_run
    }
}

/// An edit of the area in the path, with the edit in the body.
async fn edit<Op: EditOp + 'static>(
    State(state): State<AppState>,
    viewer: Viewer,
    lang: Lang,
    Path(raw): Path<String>,
    request: Result<Json<Op>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let id = parse_id(&raw)?;
    perform(&state, &viewer, lang, Some(id), body(request)?, false).await
}

async fn merge(
    State(state): State<AppState>,
    viewer: Viewer,
    lang: Lang,
    request: Result<Json<MergeRequest>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let request = body(request)?;
    authorize_edit(&state, &viewer, request.absorb.id).await?;
    perform(&state, &viewer, lang, None, request, false).await
}

/// The version the client edited, from `If-Match` (an entity tag `"7"` or `W/"7"`).
fn if_match_version(headers: &HeaderMap) -> Result<Option<i32>, ApiError> {
    let Some(raw) = headers.get(header::IF_MATCH) else {
        return Ok(None);
    };
    let text = raw.to_str().unwrap_or("");
    let tag = text.trim().trim_start_matches("W/").trim_matches('"');
    tag.parse().map(Some).map_err(|_| {
        bad(
            format!("If-Match 头须为版本号，如 \"3\"，收到 {text}"),
            format!("The If-Match header must be a version such as \"3\", got {text}"),
        )
    })
}

async fn update(
    State(state): State<AppState>,
    viewer: Viewer,
    lang: Lang,
    headers: HeaderMap,
    Path(raw): Path<String>,
    request: Result<Json<UpdateRequest>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let id = parse_id(&raw)?;
    let mut request = body(request)?;
    if let Some(v) = if_match_version(&headers)? {
        request.version = Some(v);
    }
    perform(&state, &viewer, lang, Some(id), request, false).await
}

#[derive(Deserialize)]
struct DeleteQuery {
    version: Option<i32>,
    #[serde(default)]
    dry_run: bool,
}

async fn delete(
    State(state): State<AppState>,
    viewer: Viewer,
    lang: Lang,
    headers: HeaderMap,
    Path(raw): Path<String>,
    query: Result<Query<DeleteQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let id = parse_id(&raw)?;
    let Query(query) = query.map_err(|e| {
        bad(
            format!("查询参数无效：{e}"),
            format!("Invalid query parameters: {e}"),
        )
    })?;
    let version = if_match_version(&headers)?
        .or(query.version)
        .ok_or_else(missing_version)?;
    let request = DeleteRequest {
        version,
        dry_run: query.dry_run,
    };
    perform(&state, &viewer, lang, Some(id), request, false).await
}

fn op_body<T: DeserializeOwned>(value: Value) -> Result<T, ApiError> {
    serde_json::from_value(value).map_err(|e| {
        bad(
            format!("请求内容无法读取：{e}"),
            format!("The request body cannot be read: {e}"),
        )
    })
}

/// The dry run of any edit, named by `op`, in the village `id`: what would change, nothing
/// saved. Edits of one grid name it with `id` in the body.
async fn validate(
    State(state): State<AppState>,
    viewer: Viewer,
    lang: Lang,
    Path(raw): Path<String>,
    request: Result<Json<Value>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let village = parse_id(&raw)?;
    authorize_edit(&state, &viewer, village).await?;
    let request = body(request)?;
    let op = request
        .get("op")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let target = request
        .get("id")
        .or_else(|| request.pointer("/keep/id"))
        .and_then(Value::as_i64);
    // An edit of one grid must be an edit in this village.
    if let Some(grid) = target {
        let container = state.store.container_of(grid).await.map_err(|e| match e {
            cuntu_store::StoreError::NotFound => unknown_area(grid),
            other => other.into(),
        })?;
        if container != village {
            return Err(bad(
                format!("区域 {grid} 不在村 {village} 内"),
                format!("Area {grid} is not in village {village}"),
            ));
        }
    }
    let (s, v, l) = (&state, &viewer, lang);
    match op.as_str() {
        "split" => perform(s, v, l, target, op_body::<SplitRequest>(request)?, true).await,
        "merge" => perform(s, v, l, None, op_body::<MergeRequest>(request)?, true).await,
        "restore" => perform(s, v, l, target, op_body::<RestoreRequest>(request)?, true).await,
        "update" => perform(s, v, l, target, op_body::<UpdateRequest>(request)?, true).await,
        "delete" => perform(s, v, l, target, op_body::<DeleteRequest>(request)?, true).await,
        "create" => {
            perform(
                s,
                v,
                l,
                Some(village),
                op_body::<CreateRequest>(request)?,
                true,
            )
            .await
        }
        "move" => {
            perform(
                s,
                v,
                l,
                Some(village),
                op_body::<MoveRequest>(request)?,
                true,
            )
            .await
        }
        "accept" => {
            perform(s, v, l, Some(village), op_body::<AcceptRequest>(request)?, true).await
        }
        other => Err(bad(
            format!(
                "未知的操作“{other}”：可为 split、merge、create、update、delete、move、restore、accept"
            ),
            format!(
                "Unknown op '{other}': one of split, merge, create, update, delete, move, restore, accept"
            ),
        )),
    }
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

/// A proposal (possibly adjusted) as the village's new grids.
#[derive(Deserialize)]
struct AcceptRequest {
    /// A GeoJSON FeatureCollection; each feature's geometry a (Multi)Polygon, `name` optional.
    features: Vec<Value>,
    #[serde(default)]
    versions: HashMap<String, i32>,
    #[serde(default)]
    keep_existing: bool,
    #[serde(default)]
    dry_run: bool,
}

fn versions_of(raw: &HashMap<String, i32>) -> Result<HashMap<i64, i32>, ApiError> {
    raw.iter()
        .map(|(id, v)| {
            id.parse::<i64>().map(|id| (id, *v)).map_err(|_| {
                bad(
                    format!("versions 的键须为网格编号，收到“{id}”"),
                    format!("The keys of versions must be grid ids, got '{id}'"),
                )
            })
        })
        .collect()
}

impl EditOp for AcceptRequest {
    const ACTION: &'static str = "accept_proposal";
    async fn run(
        self,
        state: &AppState,
        path_id: Option<i64>,
        actor: String,
        dry_run: bool,
    ) -> Result<EditReport, ApiError> {
        if self.features.len() > 1000 {
            return Err(bad(
                "一个方案最多 1000 个网格",
                "A proposal holds at most 1000 grids",
            ));
        }
        let mut drafts = Vec::with_capacity(self.features.len());
        for feature in &self.features {
            let geometry = feature.get("geometry").unwrap_or(&Value::Null);
            let shape = match area_of(geometry)? {
                Geometry::Polygon(p) => geo::MultiPolygon(vec![p]),
                Geometry::MultiPolygon(m) => m,
                _ => return Err(bad("网格须为面", "A grid must be a polygon")),
            };
            let name = feature
                .pointer("/properties/name")
                .and_then(Value::as_str)
                .map(str::to_string);
            drafts.push((name, shape));
        }
        let versions = versions_of(&self.versions)?;
        Ok(state
            .store
            .accept_proposal(
                need_id(path_id)?,
                &drafts,
                &versions,
                self.keep_existing,
                &actor,
                dry_run,
            )
            .await?)
    }
    fn dry_run(&self) -> bool {
        self.dry_run
    }
}
