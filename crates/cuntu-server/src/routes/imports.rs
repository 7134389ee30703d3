//! File imports from the web (issue 9): upload, dry run, commit as a background job, progress.
//!
//! The same code path as `cuntu import`: `cuntu_gdal::import::read` (GDAL, or calamine for
//! Excel rosters), `cuntu_core::import::stage_all` / `join_roster`, and one transaction in
//! `Store::import_staged` / `Store::update_households`. What is added here is the uploader's
//! scope: township admins import within their township, village cadres within their village;
//! a row outside it is skipped with that reason, never stored. Layer `areas` (with `kind`:
//! grid, village, hamlet, lane) goes through `Store::import_areas` instead (the grid editor's
//! rules, one transaction): the dry run is the store's own, rolled back; a polygon whose
//! container is outside the uploader's areas is skipped; villages and hamlets are the
//! township admin's, grids and lanes also a village cadre's.
//!
//! - `POST /api/imports` (multipart: `file`, `layer`, optional `kind`, `trim`, `crs`): stores the upload and
//!   answers the dry run: source fields, proposed mapping, the first rows as they would be
//!   stored, every problem with its row number, the rows that would be skipped.
//! - `POST /api/imports/{id}/dry-run` (JSON: layer, crs, mapping, key): the dry run again
//!   with an edited mapping or a chosen CRS.
//! - `POST /api/imports/{id}/commit` (same JSON): starts the job (202); any problem → 422
//!   and nothing written.
//! - `GET /api/imports/{id}`: the job's state, rows done of total, rows per second, and at
//!   the end the report (rows read, stored, skipped with reasons).

use std::collections::{BTreeMap, HashMap};
use std::path::{Path as FsPath, PathBuf};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use axum::extract::{DefaultBodyLimit, Multipart, Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use cuntu_core::area::AreaKind;
use cuntu_core::auth::Role;
use cuntu_core::import::{
    self as core_import, ImportLayer, InputRow, JoinField, Mapping, Offset, Problem, SourceCrs,
    StagedRow,
};
use cuntu_core::index::AreaIndex;
use cuntu_gdal::import::SourceTable;
use cuntu_store::area_import::{AreaImport, AreaImportReport};
use cuntu_store::audit::AuditEntry;
use geo::{Intersects, Point, Rect};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::{bad, json_body};
use crate::auth::Viewer;
use crate::error::ApiError;
use crate::AppState;

/// The largest upload: a county's household layer as GeoPackage fits many times over.
pub const MAX_UPLOAD_BYTES: usize = 50 * 1024 * 1024;
/// Rows shown as they would be stored.
const PREVIEW_ROWS: usize = 10;
/// Uploads older than this are forgotten (their files deleted) at the next upload.
const KEEP: Duration = Duration::from_secs(6 * 3600);

pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/api/imports",
            post(upload).layer(DefaultBodyLimit::max(MAX_UPLOAD_BYTES)),
        )
        .route("/api/imports/{id}", get(status))
        .route("/api/imports/{id}/dry-run", post(dry_run))
        .route("/api/imports/{id}/commit", post(commit))
}

// ---- uploads and jobs ------------------------------------------------------------------

#[derive(Debug, Clone, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
enum JobState {
    /// Uploaded; dry runs may be asked for.
    Uploaded,
    Running {
        done: usize,
        total: usize,
        rows_per_second: f64,
    },
    Done {
        report: Value,
    },
    Failed {
        zh: String,
        en: String,
    },
}

struct Upload {
    owner: i64,
    dir: PathBuf,
    path: PathBuf,
    file_name: String,
    created: Instant,
    state: JobState,
    started: Option<Instant>,
}

type Uploads = Mutex<HashMap<String, Upload>>;

fn uploads() -> &'static Uploads {
    static UPLOADS: OnceLock<Uploads> = OnceLock::new();
    UPLOADS.get_or_init(Default::default)
}

fn with_uploads<T>(f: impl FnOnce(&mut HashMap<String, Upload>) -> T) -> T {
    let mut guard = uploads().lock().unwrap_or_else(|e| e.into_inner());
    f(&mut guard)
}

fn not_found(id: &str) -> ApiError {
    ApiError::NotFound {
        what_zh: format!(
            "导入 {id}（上传已过期、服务器已重启或不是您的；未见导入报告的，数据库没有改变，请重新上传）"
        ),
        what_en: format!(
            "Import {id} (the upload expired, the server restarted, or it is not yours; without an import report nothing was written: upload the file again)"
        ),
    }
}

/// The upload's file and name, when it is the caller's.
fn upload_of(id: &str, owner: i64) -> Result<(PathBuf, String), ApiError> {
    with_uploads(|u| match u.get(id) {
        Some(up) if up.owner == owner => Ok((up.path.clone(), up.file_name.clone())),
        _ => Err(not_found(id)),
    })
}

fn set_state(id: &str, state: JobState) {
    with_uploads(|u| {
        if let Some(up) = u.get_mut(id) {
            if matches!(state, JobState::Running { .. }) && up.started.is_none() {
                up.started = Some(Instant::now());
            }
            up.state = state;
        }
    });
}

/// Forgets uploads past `KEEP`, deleting their files (not while a job runs).
fn purge_old() {
    let old: Vec<PathBuf> = with_uploads(|u| {
        let expired: Vec<String> = u
            .iter()
            .filter(|(_, up)| {
                up.created.elapsed() > KEEP && !matches!(up.state, JobState::Running { .. })
            })
            .map(|(k, _)| k.clone())
            .collect();
        expired
            .iter()
            .filter_map(|k| u.remove(k).map(|up| up.dir))
            .collect()
    });
    for dir in old {
        let _ = std::fs::remove_dir_all(dir);
    }
}

// ---- who may import where ----------------------------------------------------------------

/// The areas the caller imports into: township admins' townships, village cadres' villages.
/// Hazards and roads are the township's: only its admins import them; so are villages and
/// hamlets (a cadre imports grids and lanes within their village).
fn import_areas(viewer: &Viewer, options: &Options) -> Result<Vec<i64>, ApiError> {
    let account = viewer.require()?;
    let township_only = matches!(options.layer.as_deref(), Some("hazards" | "roads"))
        || (options.layer.as_deref() == Some("areas")
            && !matches!(options.kind.as_deref(), Some("grid" | "lane")));
    let mut areas: Vec<i64> = account
        .roles
        .iter()
        .filter(|r| match r.role {
            Role::TownshipAdmin => true,
            Role::VillageCadre => !township_only,
            _ => false,
        })
        .map(|r| r.area_id)
        .collect();
    areas.sort_unstable();
    areas.dedup();
    if areas.is_empty() {
        return Err(ApiError::Forbidden);
    }
    Ok(areas)
}

// ---- the dry run ---------------------------------------------------------------------------

#[derive(Debug, Clone, Default, Deserialize)]
struct Options {
    layer: Option<String>,
    /// For layer areas: grid | village | hamlet | lane.
    kind: Option<String>,
    /// For grids and lanes: cut the parts over existing siblings instead of refusing.
    trim: Option<bool>,
    crs: Option<String>,
    mapping: Option<BTreeMap<String, String>>,
    key: Option<String>,
}

struct Parsed {
    layer: ImportLayer,
    kind: Option<AreaKind>,
    crs: Option<SourceCrs>,
}

fn parse_options(o: &Options) -> Result<Parsed, ApiError> {
    let raw = o.layer.as_deref().unwrap_or("households");
    let layer = ImportLayer::parse(raw).ok_or_else(|| {
        bad(
            format!("不能导入图层“{raw}”：可导入 households（住户）、facilities（设施）、hazards（隐患）、roads（道路）、areas（区域）"),
            format!("Cannot import into layer '{raw}': households, facilities, hazards, roads and areas can be imported"),
        )
    })?;
    let kind = match (layer, o.kind.as_deref().map(str::trim).filter(|k| !k.is_empty())) {
        (ImportLayer::Areas, Some(k)) => match k.parse::<AreaKind>() {
            Ok(AreaKind::Township) | Err(_) => {
                return Err(bad(
                    format!("未知区域类型“{k}”：可选 grid（网格）、village（村）、hamlet（自然村）、lane（街巷）"),
                    format!("Unknown area kind '{k}': grid, village, hamlet or lane"),
                ))
            }
            Ok(kind) => Some(kind),
        },
        (ImportLayer::Areas, None) => {
            return Err(bad(
                "导入区域须选择类型：网格、村、自然村或街巷",
                "Importing areas needs a kind: grid, village, hamlet or lane",
            ))
        }
        _ => None,
    };
    if o.key.as_deref().is_some_and(|k| !k.is_empty()) && layer == ImportLayer::Areas {
        return Err(bad(
            "区域按编码（code）更新，不用唯一编号列",
            "Areas are matched by their code: no key column",
        ));
    }
    if o.key.as_deref().is_some_and(|k| !k.is_empty())
        && matches!(layer, ImportLayer::Hazards | ImportLayer::Roads)
    {
        return Err(bad(
            "唯一编号列仅用于住户和设施（隐患、道路再次导入会新增）",
            "A key column is for households and facilities (hazards and roads imported again are added again)",
        ));
    }
    let crs = match o.crs.as_deref().map(str::trim).filter(|c| !c.is_empty()) {
        None => None,
        Some(c) => Some(SourceCrs::parse(c).ok_or_else(|| {
            bad(
                format!("无法识别坐标系“{c}”（如 EPSG:4326、EPSG:4490、EPSG:4547、gcj02、bd09）"),
                format!("Unknown CRS '{c}' (e.g. EPSG:4326, EPSG:4490, EPSG:4547, gcj02, bd09)"),
            )
        })?),
    };
    Ok(Parsed { layer, kind, crs })
}

/// What a dry run found, and what a commit writes.
struct Plan {
    table: SourceTable,
    needs_crs: bool,
    layer: ImportLayer,
    mapping: Mapping,
    key: Option<String>,
    join: Option<JoinField>,
    /// Insert mode: rows in scope, to store.
    staged: Vec<(usize, StagedRow)>,
    /// Join mode: (row, household id, values).
    updates: Vec<(usize, i64, core_import::HouseholdUpdate)>,
    problems: Vec<Problem>,
    skipped: Vec<Problem>,
    /// Layer areas: the kind, and the store's dry run (what each container would get).
    area_kind: Option<AreaKind>,
    trim: bool,
    areas_report: Option<AreaImportReport>,
}

impl Plan {
    fn storable(&self) -> usize {
        if self.join.is_some() {
            self.updates.len()
        } else {
            self.staged.len()
        }
    }
}

fn read_error(e: cuntu_gdal::import::ReadError, file_name: &str, dir: &FsPath) -> ApiError {
    // The message names the file where it was saved; the uploader knows it by its name.
    let shown = |s: String| s.replace(&dir.join(file_name).display().to_string(), file_name);
    ApiError::Rule {
        zh: shown(e.zh),
        en: shown(e.en),
    }
}

/// Reads the upload, stages every row, keeps what is in the caller's scope.
async fn plan(
    state: &AppState,
    path: PathBuf,
    file_name: &str,
    options: &Options,
    areas: &[i64],
    actor: &str,
) -> Result<Plan, ApiError> {
    let Parsed { layer, kind, crs } = parse_options(options)?;
    let dir = path.parent().map(FsPath::to_path_buf).unwrap_or_default();
    let read_path = path.clone();
    let read = tokio::task::spawn_blocking(move || {
        match cuntu_gdal::import::read(&read_path, layer, crs, &mut |_| {}) {
            // No CRS in the file and none chosen: read it as lon/lat to list its fields; the
            // commit waits for a choice.
            Err(e) if e.missing_crs && crs.is_none() => cuntu_gdal::import::read(
                &read_path,
                layer,
                Some(SourceCrs::Epsg(4326)),
                &mut |_| {},
            )
            .map(|t| (t, true)),
            other => other.map(|t| (t, false)),
        }
    })
    .await
    .map_err(|_| ApiError::Internal)?;
    let (table, needs_crs) = read.map_err(|e| read_error(e, file_name, &dir))?;

    let mapping = match &options.mapping {
        Some(fields) => Mapping {
            layer: Some(layer),
            fields: fields
                .iter()
                .filter(|(_, v)| !v.is_empty())
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        },
        None => core_import::propose_mapping(layer, &table.fields),
    };
    core_import::check_mapping(layer, &mapping, &table.fields)
        .map_err(|p| bad(p.zh.clone(), p.en.clone()))?;
    let key = options.key.clone().filter(|k| !k.is_empty());
    if let Some(k) = &key {
        if !table.fields.iter().any(|f| f == k) {
            return Err(bad(
                format!("文件中没有键字段“{k}”"),
                format!("The file has no key field '{k}'"),
            ));
        }
    }
    let offset: Option<Offset> = match crs {
        Some(SourceCrs::Offset(o)) => Some(o),
        _ => None,
    };
    let any_geometry = table.rows.iter().any(|r| r.geometry.is_some());
    // Longitude/latitude read from columns of a file without geometry need a CRS too.
    let needs_crs = needs_crs
        || (!any_geometry
            && crs.is_none()
            && !core_import::is_join(layer, &mapping, any_geometry)
            && mapping.fields.contains_key("lon"));
    let mut plan = Plan {
        needs_crs,
        layer,
        key,
        join: None,
        staged: Vec::new(),
        updates: Vec::new(),
        problems: Vec::new(),
        skipped: Vec::new(),
        area_kind: kind,
        trim: options.trim.unwrap_or(false),
        areas_report: None,
        mapping,
        table,
    };
    if needs_crs {
        plan.problems.push(Problem::file(
            "文件没有坐标系：请选择坐标系（WGS84、CGCS2000、GCJ-02 火星坐标或 BD-09 百度坐标）"
                .into(),
            "The file has no CRS: choose one (WGS84, CGCS2000, GCJ-02 or BD-09)".into(),
        ));
    }

    if core_import::is_join(layer, &plan.mapping, any_geometry) {
        let Some(field) = JoinField::of(&plan.mapping) else {
            plan.problems.push(Problem::file(
                "没有坐标（经度/纬度），也没有门牌号或地址可对应已有住户：请映射经度、纬度，或门牌号/地址".into(),
                "No coordinates (longitude/latitude) and no house number or address to match stored households: map lon/lat, or house_number/address".into(),
            ));
            return Ok(plan);
        };
        plan.join = Some(field);
        let candidates = state.store.join_candidates(areas).await?;
        let joined = core_import::join_roster(
            &plan.mapping,
            field,
            plan.table.rows.iter().map(|r| &r.values),
            &candidates,
        );
        plan.updates = joined.updates;
        plan.problems.extend(joined.problems);
        plan.skipped = joined.skipped;
        return Ok(plan);
    }

    let staging = core_import::stage_all(
        layer,
        &plan.mapping,
        plan.table.rows.iter().map(|r| InputRow {
            values: &r.values,
            geometry: r.geometry.as_ref(),
            geometry_error: r.geometry_error.as_deref(),
        }),
        offset,
        plan.key.as_deref(),
    );
    plan.problems.extend(staging.problems);
    if let Some(kind) = plan.area_kind {
        // Areas: the store's own dry run finds each polygon's container, checks it against
        // the caller's areas and runs the grid editor's rules, then rolls back.
        let table = &plan.table;
        let other = |row: usize| {
            table
                .rows
                .get(row.wrapping_sub(1))
                .is_some_and(|r| core_import::other_area_kind(&r.values, kind))
        };
        plan.problems.retain(|p| !other(p.row));
        let rows: Vec<(usize, core_import::AreaRow)> = staging
            .staged
            .into_iter()
            .filter(|(row, _)| !other(*row))
            .filter_map(|(row, s)| match s {
                StagedRow::Area(a) => Some((row, a)),
                _ => None,
            })
            .collect();
        if plan.needs_crs {
            return Ok(plan);
        }
        let report = state
            .store
            .import_areas(
                &rows,
                &AreaImport {
                    kind,
                    actor,
                    scope: Some(areas),
                    trim: plan.trim,
                    dry_run: true,
                },
                &mut |_| {},
            )
            .await?;
        plan.problems.extend(report.problems.iter().cloned());
        plan.problems.sort_by_key(|p| p.row);
        plan.skipped = report.skipped.clone();
        let skipped: Vec<usize> = plan.skipped.iter().map(|p| p.row).collect();
        plan.staged = rows
            .into_iter()
            .filter(|(row, _)| !skipped.contains(row))
            .map(|(row, a)| (row, StagedRow::Area(a)))
            .collect();
        plan.areas_report = Some(report);
        return Ok(plan);
    }
    // The caller's scope: the point's chain of areas must hold one of their areas, and a
    // household must fall in a grid (a household outside every grid is seen by nobody).
    let started = Instant::now();
    let index = state.index.read().await;
    let locked = started.elapsed();
    for (row, s) in staging.staged {
        let (lon, lat) = s.lon_lat();
        // A household must fall in a grid: only grids (and lanes) are tested, never the
        // large village and township outlines, which matters for 100,000 rows.
        let households = layer == ImportLayer::Households;
        let deepest_from = if households {
            AreaKind::Grid
        } else {
            AreaKind::Township
        };
        let chain = chain_of(&index.areas, Point::new(lon, lat), deepest_from);
        let in_scope = chain.iter().any(|(id, _)| areas.contains(id));
        let in_grid = chain.iter().any(|(_, kind)| *kind == AreaKind::Grid);
        let reason = if households && !in_grid {
            Some((
                format!("位置 ({lon:.6}, {lat:.6}) 不在您管辖范围内的任何网格中，未导入"),
                format!("({lon:.6}, {lat:.6}) lies in no grid of your area: not imported"),
            ))
        } else if !in_scope {
            Some((
                format!("位置 ({lon:.6}, {lat:.6}) 不在您管辖的范围内，未导入"),
                format!(
                    "({lon:.6}, {lat:.6}) is outside your area of responsibility: not imported"
                ),
            ))
        } else {
            None
        };
        match reason {
            Some((zh, en)) => plan.skipped.push(Problem {
                row,
                field: Some("geometry".into()),
                zh,
                en,
            }),
            None => plan.staged.push((row, s)),
        }
    }
    tracing::debug!(
        rows = plan.table.rows.len(),
        lock_ms = locked.as_millis() as u64,
        scope_ms = started.elapsed().as_millis() as u64,
        "import scope checked"
    );
    Ok(plan)
}

/// The areas holding a point, from the deepest up, as `AreaIndex::locate` finds them (the
/// deepest containing area, ties to the smaller id, then its parents), but testing exact
/// geometry deepest first and only for areas of kind `deepest_from` or deeper: a grid's few
/// vertices instead of a township's thousands.
fn chain_of(index: &AreaIndex, point: Point<f64>, deepest_from: AreaKind) -> Vec<(i64, AreaKind)> {
    let mut candidates: Vec<_> = index
        .in_rect(Rect::new(point.0, point.0))
        .filter(|a| a.data.kind.rank() >= deepest_from.rank())
        .collect();
    candidates.sort_by(|a, b| {
        b.data
            .kind
            .rank()
            .cmp(&a.data.kind.rank())
            .then(a.id.cmp(&b.id))
    });
    let mut next = candidates
        .into_iter()
        .find(|a| a.geometry.intersects(&point))
        .map(|a| a.id);
    let mut chain = Vec::new();
    while let Some(id) = next {
        let Some(area) = index.get(id) else { break };
        chain.push((id, area.data.kind));
        if chain.len() > AreaKind::ALL.len() {
            break;
        }
        next = area.data.parent_id;
    }
    chain
}

fn bbox(points: impl Iterator<Item = (f64, f64)>) -> Option<[f64; 4]> {
    points.fold(None, |b, (x, y)| {
        Some(match b {
            None => [x, y, x, y],
            Some([w, s, e, n]) => [w.min(x), s.min(y), e.max(x), n.max(y)],
        })
    })
}

fn dry_run_json(id: &str, file_name: &str, plan: &Plan) -> Value {
    let targets: Vec<Value> = plan
        .layer
        .targets()
        .iter()
        .map(|(t, _)| {
            let required = match (plan.layer, *t) {
                (ImportLayer::Facilities | ImportLayer::Hazards, "kind") => true,
                (_, "lon" | "lat") => false,
                _ => false,
            };
            json!({ "field": t, "required": required })
        })
        .collect();
    let preview: Vec<Value> = if plan.join.is_some() {
        plan.updates
            .iter()
            .take(PREVIEW_ROWS)
            .map(|(row, id, u)| json!({ "row": row, "household_id": id, "values": u }))
            .collect()
    } else {
        plan.staged
            .iter()
            .take(PREVIEW_ROWS)
            .map(|(row, s)| json!({ "row": row, "values": s }))
            .collect()
    };
    json!({
        "id": id,
        "file": file_name,
        "driver": plan.table.driver,
        "source_layer": plan.table.layer,
        "layer": plan.layer.as_str(),
        "crs": if plan.needs_crs { Value::Null } else { json!(plan.table.crs) },
        "needs_crs": plan.needs_crs,
        "notes": source_notes(&plan.table),
        "mode": if plan.join.is_some() { "join" } else { "insert" },
        "join_field": plan.join,
        "fields": plan.table.fields,
        "targets": targets,
        "mapping": plan.mapping.fields,
        "key": plan.key,
        "rows": plan.table.rows.len(),
        "storable": plan.storable(),
        "preview": preview,
        "problems": plan.problems,
        "skipped": plan.skipped,
        "bbox": bbox(plan.staged.iter().map(|(_, s)| s.lon_lat())),
        "kind": plan.area_kind,
        "areas": plan.areas_report.as_ref().map(areas_json),
    })
}

/// Per container: the areas created or reshaped, the households that change grid.
fn areas_json(r: &AreaImportReport) -> Value {
    json!({
        "created": r.created,
        "reshaped": r.reshaped,
        "moved_households": r.moved_households,
        "containers": r.containers.iter().map(|c| json!({
            "id": c.container_id,
            "name": c.container_name,
            "areas": c.areas,
            "moves": c.edit.as_ref().map(|e| &e.moves),
            "notes": c.edit.as_ref().map(|e| &e.notes),
            "gaps": c.edit.as_ref().map(|e| json!({
                "area_m2": e.gaps.area_m2,
                "households": e.gaps.households,
            })),
        })).collect::<Vec<_>>(),
    })
}

/// What the reader left out of the file and why, in both languages (the page picks one).
fn source_notes(table: &SourceTable) -> Value {
    table
        .notes
        .iter()
        .map(|(zh, en)| json!({ "zh": zh, "en": en }))
        .collect()
}

// ---- handlers ------------------------------------------------------------------------------

fn new_id() -> String {
    let mut bytes = [0u8; 12];
    rand::thread_rng().fill_bytes(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn too_large() -> ApiError {
    ApiError::PayloadTooLarge {
        zh: format!(
            "文件太大：上传上限为 {} MB。请分成几个文件，或压缩（Shapefile 可打包为 .zip）后再传",
            MAX_UPLOAD_BYTES / 1024 / 1024
        ),
        en: format!(
            "The file is too large: uploads are limited to {} MB. Split it, or zip it (a Shapefile may be sent as .zip)",
            MAX_UPLOAD_BYTES / 1024 / 1024
        ),
    }
}

fn multipart_error(e: axum::extract::multipart::MultipartError) -> ApiError {
    if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
        too_large()
    } else {
        bad(
            format!("上传内容无法读取：{}", e.body_text()),
            format!("The upload cannot be read: {}", e.body_text()),
        )
    }
}

/// A file name safe to keep on disk: its last component, no path, not empty.
fn safe_name(raw: &str) -> String {
    let base = raw.rsplit(['/', '\\']).next().unwrap_or_default().trim();
    let cleaned: String = base
        .chars()
        .filter(|c| !c.is_control() && *c != ':')
        .collect();
    if cleaned.is_empty() || cleaned.starts_with('.') {
        format!("upload{cleaned}")
    } else {
        cleaned
    }
}

async fn upload(
    State(state): State<AppState>,
    viewer: Viewer,
    multipart: Result<Multipart, axum::extract::multipart::MultipartRejection>,
) -> Result<Json<Value>, ApiError> {
    // Who may import at all; the layer's own rule once the form is read.
    import_areas(&viewer, &Options::default())?;
    let owner = viewer.require()?.id;
    let mut multipart = multipart.map_err(|e| {
        bad(
            format!(
                "请以 multipart/form-data 上传文件（字段 file）：{}",
                e.body_text()
            ),
            format!(
                "Upload the file as multipart/form-data (field 'file'): {}",
                e.body_text()
            ),
        )
    })?;
    purge_old();
    let id = new_id();
    let dir = std::env::temp_dir().join("cuntu-imports").join(&id);
    let mut options = Options::default();
    let mut saved: Option<(PathBuf, String)> = None;
    let result: Result<(), ApiError> = async {
        while let Some(field) = multipart.next_field().await.map_err(multipart_error)? {
            match field.name().unwrap_or_default() {
                "file" => {
                    let name = safe_name(field.file_name().unwrap_or("upload"));
                    let bytes = field.bytes().await.map_err(multipart_error)?;
                    if bytes.is_empty() {
                        return Err(bad("上传的文件是空的", "The uploaded file is empty"));
                    }
                    std::fs::create_dir_all(&dir).map_err(|e| {
                        tracing::error!("import upload dir {}: {e}", dir.display());
                        ApiError::Internal
                    })?;
                    let path = dir.join(&name);
                    std::fs::write(&path, &bytes).map_err(|e| {
                        tracing::error!("import upload {}: {e}", path.display());
                        ApiError::Internal
                    })?;
                    saved = Some((path, name));
                }
                "layer" => options.layer = Some(field.text().await.map_err(multipart_error)?),
                "crs" => options.crs = Some(field.text().await.map_err(multipart_error)?),
                "key" => options.key = Some(field.text().await.map_err(multipart_error)?),
                "kind" => options.kind = Some(field.text().await.map_err(multipart_error)?),
                "trim" => {
                    options.trim = Some(field.text().await.map_err(multipart_error)? == "true")
                }
                _ => {}
            }
        }
        Ok(())
    }
    .await;
    let cleanup = || {
        let _ = std::fs::remove_dir_all(&dir);
    };
    if let Err(e) = result {
        cleanup();
        return Err(e);
    }
    let Some((path, name)) = saved else {
        cleanup();
        return Err(bad(
            "没有收到文件：请选择要导入的文件（字段 file）",
            "No file received: choose the file to import (field 'file')",
        ));
    };
    let actor = viewer.require()?.username.clone();
    let planned = match import_areas(&viewer, &options) {
        Ok(areas) => plan(&state, path.clone(), &name, &options, &areas, &actor).await,
        Err(e) => Err(e),
    };
    let plan = match planned {
        Ok(p) => p,
        Err(e) => {
            cleanup();
            return Err(e);
        }
    };
    with_uploads(|u| {
        u.insert(
            id.clone(),
            Upload {
                owner,
                dir: dir.clone(),
                path,
                file_name: name.clone(),
                created: Instant::now(),
                state: JobState::Uploaded,
                started: None,
            },
        )
    });
    Ok(Json(dry_run_json(&id, &name, &plan)))
}

async fn dry_run(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(id): Path<String>,
    body: Result<Json<Options>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let owner = viewer.require()?.id;
    let options = json_body(body)?;
    let areas = import_areas(&viewer, &options)?;
    let (path, name) = upload_of(&id, owner)?;
    let actor = viewer.require()?.username.clone();
    let plan = plan(&state, path, &name, &options, &areas, &actor).await?;
    Ok(Json(dry_run_json(&id, &name, &plan)))
}

async fn commit(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(id): Path<String>,
    body: Result<Json<Options>, axum::extract::rejection::JsonRejection>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let owner = viewer.require()?.id;
    let options = json_body(body)?;
    let areas = import_areas(&viewer, &options)?;
    let (path, name) = upload_of(&id, owner)?;
    let busy = with_uploads(|u| {
        u.get(&id)
            .is_some_and(|up| !matches!(up.state, JobState::Uploaded | JobState::Failed { .. }))
    });
    if busy {
        return Err(ApiError::Rule {
            zh: "此文件已在导入或已导入完成；如需再次导入请重新上传".into(),
            en: "This upload is being imported or was imported; upload it again to import again"
                .into(),
        });
    }
    let actor = viewer.require()?.username.clone();
    let plan = plan(&state, path, &name, &options, &areas, &actor).await?;
    if !plan.problems.is_empty() {
        let n = plan.problems.len();
        return Err(ApiError::Rule {
            zh: format!("有 {n} 个问题，未写入任何数据；请按试运行列出的行号修正文件或映射后重试"),
            en: format!("{n} problems, nothing written: fix the file or the mapping at the rows the dry run lists and retry"),
        });
    }
    if plan.storable() == 0 {
        return Err(ApiError::Rule {
            zh: "没有可导入的行（全部被跳过），未写入任何数据".into(),
            en: "No row can be imported (all are skipped): nothing written".into(),
        });
    }
    let total = plan.storable();
    set_state(
        &id,
        JobState::Running {
            done: 0,
            total,
            rows_per_second: 0.0,
        },
    );
    let username = viewer.require()?.username.clone();
    let remote = viewer.remote_addr.clone();
    let job_id = id.clone();
    tokio::spawn(async move {
        let final_state = run(
            &state, &job_id, plan, &areas, owner, &username, remote, &name,
        )
        .await;
        set_state(&job_id, final_state);
    });
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({ "id": id, "state": "running", "done": 0, "total": total })),
    ))
}

/// The job: one transaction, progress after each chunk, the report at the end.
#[allow(clippy::too_many_arguments)]
async fn run(
    state: &AppState,
    id: &str,
    plan: Plan,
    scope: &[i64],
    owner: i64,
    username: &str,
    remote: Option<String>,
    file_name: &str,
) -> JobState {
    let started = Instant::now();
    let total = plan.storable();
    let mut progress = progress_of(id, started, total);
    let layer = plan.layer;
    let before = state.store.layer_count(layer.as_str()).await.ok();
    let bbox = bbox(plan.staged.iter().map(|(_, s)| s.lon_lat()));
    if let Some(kind) = plan.area_kind {
        return run_areas(
            state, id, plan, kind, scope, owner, username, remote, file_name,
        )
        .await;
    }
    let (result, ids) = if plan.join.is_some() {
        let ids: Vec<i64> = plan.updates.iter().map(|(_, id, _)| *id).collect();
        let updates: Vec<(i64, core_import::HouseholdUpdate)> =
            plan.updates.into_iter().map(|(_, id, u)| (id, u)).collect();
        (
            state.store.update_households(&updates, &mut progress).await,
            ids,
        )
    } else {
        let staged: Vec<StagedRow> = plan.staged.into_iter().map(|(_, s)| s).collect();
        (
            state.store.import_staged(staged, &mut progress).await,
            Vec::new(),
        )
    };
    let seconds = started.elapsed().as_secs_f64();
    let counts = match result {
        Ok(c) => c,
        Err(e) => {
            tracing::warn!("import {id} failed: {e}");
            return write_failed(e.into());
        }
    };
    // Households updated by a roster: where they are, for the map link.
    let bbox = match (bbox, ids.is_empty()) {
        (Some(b), _) => Some(b),
        (None, false) => state.store.households_bbox(&ids).await.ok().flatten(),
        (None, true) => None,
    };
    let after = state.store.layer_count(layer.as_str()).await.ok();
    let stored = counts.inserted + counts.updated;
    let report = json!({
        "file": file_name,
        "layer": layer.as_str(),
        "mode": if plan.join.is_some() { "join" } else { "insert" },
        "crs": plan.table.crs,
        "notes": source_notes(&plan.table),
        "rows_read": plan.table.rows.len(),
        "stored": stored,
        "inserted": counts.inserted,
        "updated": counts.updated,
        "skipped": plan.skipped,
        "seconds": seconds,
        "rows_per_second": stored as f64 / seconds.max(1e-6),
        "count_before": before,
        "count_after": after,
        "bbox": bbox,
    });
    let audit = AuditEntry {
        user_id: Some(owner),
        username: Some(username),
        action: "import",
        target: Some(layer.as_str().to_string()),
        detail: json!({
            "file": file_name,
            "crs": plan.table.crs,
            "inserted": counts.inserted,
            "updated": counts.updated,
            "skipped": plan.skipped.len(),
        }),
        remote_addr: remote,
    };
    job_done(state, id, audit).await;
    JobState::Done { report }
}

/// The end of a job that wrote: its audit entry, and its file deleted (the report stays for
/// the page).
/// What a running job reports as it goes: rows done of `total`, and rows per second.
fn progress_of(id: &str, started: Instant, total: usize) -> impl FnMut(usize) + Send {
    let id = id.to_string();
    move |done: usize| {
        let seconds = started.elapsed().as_secs_f64().max(1e-6);
        set_state(
            &id,
            JobState::Running {
                done,
                total,
                rows_per_second: done as f64 / seconds,
            },
        );
    }
}

/// A job whose transaction the database refused: it rolled back, and the cadre reads why.
fn write_failed(api: ApiError) -> JobState {
    JobState::Failed {
        zh: format!(
            "写入失败，数据库未改变：{}",
            api.message(crate::i18n::Lang::Zh)
        ),
        en: format!(
            "Writing failed; the database is as it was: {}",
            api.message(crate::i18n::Lang::En)
        ),
    }
}

async fn job_done(state: &AppState, id: &str, audit: AuditEntry<'_>) {
    if let Err(e) = state.store.audit(audit).await {
        tracing::warn!("import {id}: audit entry not written: {e}");
    }
    with_uploads(|u| {
        if let Some(up) = u.get(id) {
            let _ = std::fs::remove_file(&up.path);
        }
    });
}

/// The areas job: the store's area import for real, the same rules as its dry run.
#[allow(clippy::too_many_arguments)]
async fn run_areas(
    state: &AppState,
    id: &str,
    plan: Plan,
    kind: AreaKind,
    scope: &[i64],
    owner: i64,
    username: &str,
    remote: Option<String>,
    file_name: &str,
) -> JobState {
    let started = Instant::now();
    let rows: Vec<(usize, core_import::AreaRow)> = plan
        .staged
        .into_iter()
        .filter_map(|(row, s)| match s {
            StagedRow::Area(a) => Some((row, a)),
            _ => None,
        })
        .collect();
    let total = rows.len();
    let mut progress = progress_of(id, started, total);
    let before = state.store.layer_count("areas").await.ok();
    let result = state
        .store
        .import_areas(
            &rows,
            &AreaImport {
                kind,
                actor: username,
                scope: Some(scope),
                trim: plan.trim,
                dry_run: false,
            },
            &mut progress,
        )
        .await;
    let report = match result {
        Ok(r) if r.committed => r,
        Ok(r) => {
            let list = |en: bool| {
                r.problems
                    .iter()
                    .take(5)
                    .map(|p| {
                        let text = if en { &p.en } else { &p.zh };
                        format!("{} {}: {text}", if en { "row" } else { "第" }, p.row)
                    })
                    .collect::<Vec<_>>()
                    .join("; ")
            };
            return JobState::Failed {
                zh: format!("{} 个问题，数据库未改变：{}", r.problems.len(), list(false)),
                en: format!(
                    "{} problems; the database is as it was: {}",
                    r.problems.len(),
                    list(true)
                ),
            };
        }
        Err(e) => {
            tracing::warn!("import {id} failed: {e}");
            return write_failed(e.into());
        }
    };
    let seconds = started.elapsed().as_secs_f64();
    let after = state.store.layer_count("areas").await.ok();
    let stored = report.created + report.reshaped;
    let json_report = json!({
        "file": file_name,
        "layer": "areas",
        "kind": kind,
        "mode": "insert",
        "crs": plan.table.crs,
        "notes": source_notes(&plan.table),
        "rows_read": plan.table.rows.len(),
        "stored": stored,
        "inserted": report.created,
        "updated": report.reshaped,
        "skipped": report.skipped,
        "seconds": seconds,
        "rows_per_second": stored as f64 / seconds.max(1e-6),
        "count_before": before,
        "count_after": after,
        "bbox": bbox(rows.iter().map(|(_, a)| (a.lon, a.lat))),
        "areas": areas_json(&report),
    });
    let audit = AuditEntry {
        user_id: Some(owner),
        username: Some(username),
        action: "import",
        target: Some("areas".to_string()),
        detail: json!({
            "file": file_name,
            "kind": kind,
            "created": report.created,
            "reshaped": report.reshaped,
            "moved_households": report.moved_households,
            "skipped": report.skipped.len(),
        }),
        remote_addr: remote,
    };
    job_done(state, id, audit).await;
    JobState::Done {
        report: json_report,
    }
}

async fn status(viewer: Viewer, Path(id): Path<String>) -> Result<Json<Value>, ApiError> {
    let owner = viewer.require()?.id;
    let state = with_uploads(|u| match u.get(&id) {
        Some(up) if up.owner == owner => Ok(up.state.clone()),
        _ => Err(not_found(&id)),
    })?;
    let mut body = serde_json::to_value(&state).map_err(|_| ApiError::Internal)?;
    if let Some(o) = body.as_object_mut() {
        o.insert("id".into(), json!(id));
    }
    Ok(Json(body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upload_names_lose_their_path() {
        assert_eq!(safe_name("../../etc/passwd"), "passwd");
        assert_eq!(safe_name("C:\\村\\花名册.xlsx"), "花名册.xlsx");
        assert_eq!(safe_name(".hidden"), "upload.hidden");
        assert_eq!(safe_name(""), "upload");
    }

    #[test]
    fn the_box_covers_every_point() {
        assert_eq!(
            bbox([(1.0, 2.0), (-1.0, 5.0)].into_iter()),
            Some([-1.0, 2.0, 1.0, 5.0])
        );
        assert_eq!(bbox(std::iter::empty()), None);
    }

    #[test]
    fn areas_need_a_kind_and_hazards_keep_no_key() {
        let o = |l: &str| Options {
            layer: Some(l.into()),
            ..Default::default()
        };
        assert!(parse_options(&o("areas")).is_err());
        let grid = Options {
            kind: Some("grid".into()),
            ..o("areas")
        };
        assert_eq!(
            parse_options(&grid).ok().and_then(|p| p.kind),
            Some(AreaKind::Grid)
        );
        let township = Options {
            kind: Some("township".into()),
            ..o("areas")
        };
        assert!(parse_options(&township).is_err());
        assert!(parse_options(&o("roads")).is_ok());
        assert!(parse_options(&o("facilities")).is_ok());
        let c = Options {
            crs: Some("gcj02".into()),
            ..Default::default()
        };
        assert_eq!(
            parse_options(&c).map(|p| p.crs).ok(),
            Some(Some(SourceCrs::Offset(Offset::Gcj02)))
        );
    }
}
