//! The township leader's risk map: hazards and their influence zones, who is exposed (from
//! the R-tree, in metres), the nearest shelter of each by road, figures per village and grid
//! for thematic maps and the dashboard, exports, the grid noticeboard, hazard upkeep and
//! evacuations.
//!
//! Scope: the areas where the caller is a leader or township admin. Counts are for everyone
//! with that scope; names and places of households only for a role that reads households
//! (township admin, or a leader granted personal data), and for the others a count from 1
//! to 4 in any cell is shown as "<5".

use std::collections::{BTreeMap, HashMap};

use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::{get, post, put};
use axum::{Json, Router};
use chrono::Utc;
use cuntu_core::area::AreaKind;
use cuntu_core::auth::{Assignment, Role};
use cuntu_core::exposure::exposed_households;
use cuntu_core::feature::{HazardKind, KeyPopulation, Severity};
use cuntu_core::thematic::{is_suppressed, quantile_breaks};
use cuntu_core::visits::quarter_start;
use cuntu_store::layers::FeatureLayer;
use cuntu_store::risk::{HazardInput, HazardRow, HouseholdFacts, Shelter};
use geo::{Centroid, Geometry, Point};
use serde::Deserialize;
use serde_json::{json, Value};

use super::route::road_network;
use super::worker::tag_label;
use super::{bad, json_body, townships_of, valid_lon_lat};
use crate::auth::Viewer;
use crate::error::ApiError;
use crate::i18n::Lang;
use crate::routes::attachment;
use crate::AppState;

/// Walking speed to a shelter, metres a minute (4 km/h: families with children and elders).
const EVACUATION_M_PER_MIN: f64 = 66.7;
const MAX_HAZARD_VERTICES: usize = 20_000;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/leader/hazards", get(hazards))
        .route("/api/leader/hazard-zones", get(hazard_zones))
        .route("/api/leader/exposure", get(exposure))
        .route("/api/leader/exposure.xlsx", get(exposure_xlsx))
        .route("/api/leader/exposure.csv", get(exposure_csv))
        .route("/api/leader/shelter-route", get(shelter_route))
        .route("/api/leader/choropleth", get(choropleth))
        .route("/api/leader/dashboard", get(dashboard))
        .route("/api/leader/heat", get(heat))
        .route("/api/leader/noticeboard/{grid}", get(noticeboard))
        .route("/api/leader/buffers", get(buffers).put(set_buffer))
        .route(
            "/api/leader/evacuations",
            get(evacuations).post(create_evacuation),
        )
        .route("/api/evacuations/{id}", get(evacuation))
        .route(
            "/api/evacuations/{id}/households/{household}",
            put(mark_evacuee),
        )
        .route("/api/hazards", post(create_hazard))
        .route("/api/hazards/{id}", axum::routing::patch(update_hazard))
        .route("/api/hazards/{id}/history", get(hazard_history))
        .route(
            "/api/hazards/{id}/inspections",
            get(inspections).post(add_inspection),
        )
}

/// Who reads the risk map, over which areas, and whether they may see households.
struct LeaderScope {
    user_id: i64,
    roots: Vec<i64>,
    personal: bool,
    admin: bool,
}

fn leader_scope(viewer: &Viewer) -> Result<LeaderScope, ApiError> {
    let account = viewer.require()?;
    let mine: Vec<Assignment> = viewer
        .assignments()
        .into_iter()
        .filter(|a| matches!(a.role, Role::Leader | Role::TownshipAdmin))
        .collect();
    if mine.is_empty() {
        return Err(ApiError::Forbidden);
    }
    let mut roots: Vec<i64> = mine.iter().map(|a| a.area_id).collect();
    roots.sort_unstable();
    roots.dedup();
    Ok(LeaderScope {
        user_id: account.id,
        roots,
        personal: mine.iter().any(Assignment::reads_households),
        admin: mine.iter().any(|a| a.role == Role::TownshipAdmin),
    })
}

/// A count as this viewer may see it.
fn shown(n: i64, personal: bool) -> Value {
    if !personal && is_suppressed(n) {
        json!("<5")
    } else {
        json!(n)
    }
}

fn kind_label(kind: &str, lang: Lang) -> String {
    match (HazardKind::from_code(kind), lang) {
        (Some(k), Lang::Zh) => k.label_zh().to_string(),
        (Some(k), Lang::En) => match k {
            HazardKind::Landslide => "geological hazard point",
            HazardKind::Flood => "flood zone",
            HazardKind::DangerousHouse => "dangerous house",
            HazardKind::Fire => "fire risk",
            HazardKind::Water => "water danger spot",
        }
        .to_string(),
        (None, _) => kind.to_string(),
    }
}

fn geometry_json(g: &Geometry<f64>) -> Value {
    geozero::ToJson::to_json(g)
        .ok()
        .and_then(|text| serde_json::from_str(&text).ok())
        .unwrap_or(Value::Null)
}

fn parse_ids(
    raw: Option<&str>,
    what_zh: &str,
    what_en: &str,
) -> Result<Option<Vec<i64>>, ApiError> {
    let Some(raw) = raw.filter(|r| !r.trim().is_empty()) else {
        return Ok(None);
    };
    raw.split(',')
        .map(|part| {
            part.trim().parse::<i64>().map_err(|_| {
                bad(
                    format!("{what_zh}须为以逗号分隔的编号，如 3,7；“{part}”不是编号"),
                    format!("{what_en} must be ids separated by commas, such as 3,7; '{part}' is not one"),
                )
            })
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
}

// ---------------------------------------------------------------------------------------
// Hazards and zones

async fn hazards(
    State(state): State<AppState>,
    viewer: Viewer,
    lang: Lang,
) -> Result<Json<Value>, ApiError> {
    let scope = leader_scope(&viewer)?;
    let rows = state.store.hazards_in_scope(&scope.roots).await?;
    let exposed = exposure_sets(&state, &rows).await;
    let facts = facts_by_id(&state, &scope, &exposed).await?;
    let features: Vec<Value> = rows
        .iter()
        .map(|h| {
            let ids = exposed.get(&h.id).map(Vec::as_slice).unwrap_or(&[]);
            let in_scope: Vec<&HouseholdFacts> = ids.iter().filter_map(|i| facts.get(i)).collect();
            let persons: i64 = in_scope
                .iter()
                .map(|f| i64::from(f.members.unwrap_or(0)))
                .sum();
            json!({
                "type": "Feature",
                "id": h.id,
                "geometry": geometry_json(&h.geometry),
                "properties": {
                    "id": h.id,
                    "kind": h.kind,
                    "kind_zh": kind_label(&h.kind, Lang::Zh),
                    "kind_en": kind_label(&h.kind, Lang::En),
                    "kind_label": kind_label(&h.kind, lang),
                    "severity": h.severity,
                    "name": h.name,
                    "status": h.status,
                    "version": h.version,
                    "buffer_m": h.buffer_m,
                    "updated_at": h.updated_at,
                    "households": shown(in_scope.len() as i64, scope.personal),
                    "persons": shown(persons, scope.personal),
                }
            })
        })
        .collect();
    Ok(Json(
        json!({ "type": "FeatureCollection", "features": features }),
    ))
}

async fn hazard_zones(
    State(state): State<AppState>,
    viewer: Viewer,
) -> Result<Json<Value>, ApiError> {
    let scope = leader_scope(&viewer)?;
    let zones = state.store.hazard_zones(&scope.roots).await?;
    let features: Vec<Value> = zones
        .into_iter()
        .map(|(id, kind, severity, buffer_m, geometry)| {
            json!({
                "type": "Feature",
                "id": id,
                "geometry": geometry,
                "properties": { "id": id, "kind": kind, "severity": severity, "buffer_m": buffer_m },
            })
        })
        .collect();
    Ok(Json(
        json!({ "type": "FeatureCollection", "features": features }),
    ))
}

/// Hazard id → the households (ids) within its zone, from the R-tree.
async fn exposure_sets(state: &AppState, hazards: &[HazardRow]) -> HashMap<i64, Vec<i64>> {
    let index = state.index.read().await;
    let Some(households) = index.layers.get(&FeatureLayer::Households) else {
        return HashMap::new();
    };
    hazards
        .iter()
        .map(|h| {
            (
                h.id,
                exposed_households(&h.geometry, h.buffer_m, households),
            )
        })
        .collect()
}

/// The facts of the exposed households that lie in the scope (the query applies it).
async fn facts_by_id(
    state: &AppState,
    scope: &LeaderScope,
    exposed: &HashMap<i64, Vec<i64>>,
) -> Result<HashMap<i64, HouseholdFacts>, ApiError> {
    let mut ids: Vec<i64> = exposed.values().flatten().copied().collect();
    ids.sort_unstable();
    ids.dedup();
    Ok(state
        .store
        .household_facts(&scope.roots, &ids)
        .await?
        .into_iter()
        .map(|f| (f.id, f))
        .collect())
}

// ---------------------------------------------------------------------------------------
// Exposure

#[derive(Deserialize)]
struct ExposureQuery {
    hazards: Option<String>,
}

struct ExposedHousehold {
    facts: HouseholdFacts,
    hazards: Vec<i64>,
    village: Option<(i64, String)>,
    grid: Option<(i64, String)>,
    /// Index into `Exposure::shelters`, and the walk in metres.
    shelter: Option<(usize, f64)>,
}

struct Exposure {
    hazards: Vec<HazardRow>,
    households: Vec<ExposedHousehold>,
    shelters: Vec<Shelter>,
}

/// Who is exposed to the chosen hazards (all open ones when none are named), where they
/// live, and their nearest shelter by road.
async fn compute_exposure(
    state: &AppState,
    scope: &LeaderScope,
    wanted: Option<Vec<i64>>,
) -> Result<Exposure, ApiError> {
    let all = state.store.hazards_in_scope(&scope.roots).await?;
    let chosen: Vec<HazardRow> = match wanted {
        Some(ids) => {
            let mut chosen = Vec::with_capacity(ids.len());
            for id in ids {
                let h = all.iter().find(|h| h.id == id).ok_or(ApiError::NotFound {
                    what_zh: format!("编号为 {id} 的风险点（或不在您的辖区内）"),
                    what_en: format!("Hazard {id} (or it is outside your area)"),
                })?;
                chosen.push(h.clone());
            }
            chosen
        }
        None => all.into_iter().filter(|h| h.status == "open").collect(),
    };
    let sets = exposure_sets(state, &chosen).await;
    let facts = facts_by_id(state, scope, &sets).await?;
    let mut by_household: BTreeMap<i64, Vec<i64>> = BTreeMap::new();
    for h in &chosen {
        for id in sets.get(&h.id).into_iter().flatten() {
            if facts.contains_key(id) {
                by_household.entry(*id).or_default().push(h.id);
            }
        }
    }
    let shelters = state.store.shelters_in_scope(&scope.roots).await?;
    let network = road_network(state).await?;
    let places: Vec<Point<f64>> = shelters.iter().map(|s| Point::new(s.lon, s.lat)).collect();
    let points: Vec<(i64, Point<f64>)> = by_household
        .keys()
        .filter_map(|id| facts.get(id).map(|f| (*id, Point::new(f.lon, f.lat))))
        .collect();
    let nearest: HashMap<i64, (usize, f64)> = tokio::task::spawn_blocking(move || {
        let prepared = network.nearest_places(&places);
        points
            .into_iter()
            .filter_map(|(id, p)| network.nearest_place(&prepared, p).map(|n| (id, n)))
            .collect()
    })
    .await
    .map_err(|_| ApiError::Internal)?;

    let index = state.index.read().await;
    let mut facts = facts;
    let households = by_household
        .into_iter()
        .filter_map(|(id, hazards)| {
            let facts = facts.remove(&id)?;
            let chain = index.areas.locate(Point::new(facts.lon, facts.lat));
            let level = |kind: AreaKind| {
                chain
                    .iter()
                    .find(|a| a.kind == kind)
                    .map(|a| (a.id, a.name.clone()))
            };
            Some(ExposedHousehold {
                village: level(AreaKind::Village),
                grid: level(AreaKind::Grid),
                shelter: nearest.get(&id).copied(),
                hazards,
                facts,
            })
        })
        .collect();
    Ok(Exposure {
        hazards: chosen,
        households,
        shelters,
    })
}

/// Households, persons and key-population households by tag, of some exposed households.
#[derive(Default)]
struct Tally {
    households: i64,
    persons: i64,
    tags: BTreeMap<String, i64>,
}

impl Tally {
    fn add(&mut self, h: &HouseholdFacts) {
        self.households += 1;
        self.persons += i64::from(h.members.unwrap_or(0));
        for t in &h.tags {
            *self.tags.entry(t.clone()).or_default() += 1;
        }
    }

    fn json(&self, personal: bool) -> Value {
        let tags: serde_json::Map<String, Value> = KeyPopulation::ALL
            .iter()
            .map(|k| {
                let n = self.tags.get(k.code()).copied().unwrap_or(0);
                (k.code().to_string(), shown(n, personal))
            })
            .collect();
        json!({
            "households": shown(self.households, personal),
            "persons": shown(self.persons, personal),
            "tags": tags,
        })
    }
}

fn exposure_json(e: &Exposure, scope: &LeaderScope, lang: Lang) -> Value {
    let mut total = Tally::default();
    let mut villages: BTreeMap<(String, i64), Tally> = BTreeMap::new();
    let mut grids: BTreeMap<(String, String, i64), Tally> = BTreeMap::new();
    let mut loads: Vec<(i64, i64)> = vec![(0, 0); e.shelters.len()];
    for h in &e.households {
        total.add(&h.facts);
        let (vid, vname) = h.village.clone().unwrap_or((0, String::new()));
        villages
            .entry((vname.clone(), vid))
            .or_default()
            .add(&h.facts);
        let (gid, gname) = h.grid.clone().unwrap_or((0, String::new()));
        grids.entry((vname, gname, gid)).or_default().add(&h.facts);
        if let Some((s, _)) = h.shelter {
            loads[s].0 += 1;
            loads[s].1 += i64::from(h.facts.members.unwrap_or(0));
        }
    }
    let no_grid = |zh: &str, en: &str| lang.pick(zh.to_string(), en.to_string());
    let villages: Vec<Value> = villages
        .iter()
        .map(|((name, id), t)| {
            let mut v = t.json(scope.personal);
            v["id"] = json!(id);
            v["name"] = json!(if *id == 0 {
                no_grid("未划入村", "outside any village")
            } else {
                name.clone()
            });
            v
        })
        .collect();
    let grids: Vec<Value> = grids
        .iter()
        .map(|((village, name, id), t)| {
            let mut v = t.json(scope.personal);
            v["id"] = json!(id);
            v["name"] = json!(if *id == 0 {
                no_grid("未划网格区域", "outside any grid")
            } else {
                name.clone()
            });
            v["village"] = json!(village);
            v
        })
        .collect();
    let households: Vec<Value> = if scope.personal {
        e.households
            .iter()
            .map(|h| {
                json!({
                    "id": h.facts.id,
                    "lon": h.facts.lon,
                    "lat": h.facts.lat,
                    "head_name": h.facts.head_name,
                    "house_number": h.facts.house_number,
                    "members": h.facts.members,
                    "tags": h.facts.tags,
                    "tag_labels": h.facts.tags.iter().map(|t| tag_label(t, lang)).collect::<Vec<_>>(),
                    "hazards": h.hazards,
                    "village": h.village.as_ref().map(|v| &v.1),
                    "grid": h.grid.as_ref().map(|g| &g.1),
                    "shelter": h.shelter.map(|(s, metres)| json!({
                        "id": e.shelters[s].id,
                        "name": e.shelters[s].name,
                        "distance_m": metres.round(),
                    })),
                })
            })
            .collect()
    } else {
        Vec::new()
    };
    let shelters: Vec<Value> = e
        .shelters
        .iter()
        .zip(&loads)
        .map(|(s, (households, persons))| {
            json!({
                "id": s.id,
                "name": s.name,
                "capacity": s.capacity,
                "lon": s.lon,
                "lat": s.lat,
                "assigned_households": shown(*households, scope.personal),
                "assigned_persons": shown(*persons, scope.personal),
                "over_capacity": s.capacity.is_some_and(|c| *persons > i64::from(c)),
            })
        })
        .collect();
    json!({
        "hazards": e.hazards.iter().map(|h| h.id).collect::<Vec<_>>(),
        "personal": scope.personal,
        "total": total.json(scope.personal),
        "villages": villages,
        "grids": grids,
        "households": households,
        "households_hidden": !scope.personal,
        "shelters": shelters,
        "tag_labels": KeyPopulation::ALL.iter().map(|k| (k.code().to_string(), json!(tag_label(k.code(), lang)))).collect::<serde_json::Map<_, _>>(),
    })
}

async fn exposure(
    State(state): State<AppState>,
    viewer: Viewer,
    lang: Lang,
    Query(q): Query<ExposureQuery>,
) -> Result<Json<Value>, ApiError> {
    let scope = leader_scope(&viewer)?;
    let wanted = parse_ids(q.hazards.as_deref(), "风险点", "hazards")?;
    let e = compute_exposure(&state, &scope, wanted).await?;
    if scope.personal {
        state
            .store
            .audit(viewer.audit_entry(
                "exposure.read",
                Some(format!("{} households", e.households.len())),
            ))
            .await?;
    }
    Ok(Json(exposure_json(&e, &scope, lang)))
}

/// The exported table: one row per household for a viewer who may see them, else one row
/// per grid with counts (small ones shown as "<5").
fn exposure_table(e: &Exposure, scope: &LeaderScope) -> (Vec<String>, Vec<Vec<Value>>) {
    let hazard_name = |id: &i64| {
        e.hazards
            .iter()
            .find(|h| h.id == *id)
            .map(|h| {
                format!(
                    "{}（{}）",
                    h.name.clone().unwrap_or_else(|| format!("#{id}")),
                    kind_label(&h.kind, Lang::Zh)
                )
            })
            .unwrap_or_default()
    };
    if scope.personal {
        let head = [
            "编号",
            "村",
            "网格",
            "门牌号",
            "户主",
            "人口",
            "重点人群",
            "风险点",
            "就近避难场所",
            "步行距离（米）",
            "步行时间（分钟）",
            "经度",
            "纬度",
        ];
        let rows = e
            .households
            .iter()
            .map(|h| {
                let shelter = h.shelter.map(|(s, m)| {
                    (
                        e.shelters[s]
                            .name
                            .clone()
                            .unwrap_or_else(|| format!("#{}", e.shelters[s].id)),
                        m,
                    )
                });
                vec![
                    json!(h.facts.id),
                    json!(h.village.as_ref().map(|v| v.1.clone()).unwrap_or_default()),
                    json!(h.grid.as_ref().map(|g| g.1.clone()).unwrap_or_default()),
                    json!(h.facts.house_number.clone().unwrap_or_default()),
                    json!(h.facts.head_name.clone().unwrap_or_default()),
                    json!(h.facts.members.unwrap_or(0)),
                    json!(h
                        .facts
                        .tags
                        .iter()
                        .map(|t| tag_label(t, Lang::Zh))
                        .collect::<Vec<_>>()
                        .join("、")),
                    json!(h
                        .hazards
                        .iter()
                        .map(hazard_name)
                        .collect::<Vec<_>>()
                        .join("、")),
                    json!(shelter.as_ref().map(|s| s.0.clone()).unwrap_or_default()),
                    shelter.as_ref().map_or(Value::Null, |s| json!(s.1.round())),
                    shelter
                        .as_ref()
                        .map_or(Value::Null, |s| json!((s.1 / EVACUATION_M_PER_MIN).ceil())),
                    json!(h.facts.lon),
                    json!(h.facts.lat),
                ]
            })
            .collect();
        (head.iter().map(|s| s.to_string()).collect(), rows)
    } else {
        let mut head: Vec<String> = ["村", "网格", "暴露户数", "人口"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        head.extend(KeyPopulation::ALL.iter().map(|k| k.label_zh().to_string()));
        let mut grids: BTreeMap<(String, String), Tally> = BTreeMap::new();
        for h in &e.households {
            let v = h
                .village
                .as_ref()
                .map(|v| v.1.clone())
                .unwrap_or_else(|| "未划入村".into());
            let g = h
                .grid
                .as_ref()
                .map(|g| g.1.clone())
                .unwrap_or_else(|| "未划网格区域".into());
            grids.entry((v, g)).or_default().add(&h.facts);
        }
        let rows = grids
            .into_iter()
            .map(|((v, g), t)| {
                let mut row = vec![
                    json!(v),
                    json!(g),
                    shown(t.households, false),
                    shown(t.persons, false),
                ];
                row.extend(
                    KeyPopulation::ALL
                        .iter()
                        .map(|k| shown(t.tags.get(k.code()).copied().unwrap_or(0), false)),
                );
                row
            })
            .collect();
        (head, rows)
    }
}

async fn exposure_for_export(
    state: &AppState,
    viewer: &Viewer,
    q: &ExposureQuery,
) -> Result<(Vec<String>, Vec<Vec<Value>>), ApiError> {
    let scope = leader_scope(viewer)?;
    let wanted = parse_ids(q.hazards.as_deref(), "风险点", "hazards")?;
    let e = compute_exposure(state, &scope, wanted).await?;
    if scope.personal {
        state
            .store
            .audit(viewer.audit_entry(
                "exposure.export",
                Some(format!("{} households", e.households.len())),
            ))
            .await?;
    }
    Ok(exposure_table(&e, &scope))
}

async fn exposure_xlsx(
    State(state): State<AppState>,
    viewer: Viewer,
    Query(q): Query<ExposureQuery>,
) -> Result<Response, ApiError> {
    let (head, rows) = exposure_for_export(&state, &viewer, &q).await?;
    let bytes = xlsx(&head, &rows).map_err(|e| {
        tracing::error!("xlsx export failed: {e}");
        ApiError::Internal
    })?;
    Ok(attachment(
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "exposure.xlsx",
        "风险暴露清单.xlsx",
        bytes,
    ))
}

fn xlsx(head: &[String], rows: &[Vec<Value>]) -> Result<Vec<u8>, rust_xlsxwriter::XlsxError> {
    let mut book = rust_xlsxwriter::Workbook::new();
    let sheet = book.add_worksheet();
    sheet.set_name("风险暴露")?;
    let bold = rust_xlsxwriter::Format::new().set_bold();
    for (c, h) in head.iter().enumerate() {
        sheet.write_string_with_format(0, c as u16, h, &bold)?;
        sheet.set_column_width(c as u16, 14)?;
    }
    for (r, row) in rows.iter().enumerate() {
        let r = r as u32 + 1;
        for (c, v) in row.iter().enumerate() {
            match v {
                Value::Number(n) => {
                    sheet.write_number(r, c as u16, n.as_f64().unwrap_or(0.0))?;
                }
                Value::String(s) => {
                    sheet.write_string(r, c as u16, s)?;
                }
                Value::Null => {}
                other => {
                    sheet.write_string(r, c as u16, other.to_string())?;
                }
            }
        }
    }
    sheet.set_freeze_panes(1, 0)?;
    book.save_to_buffer()
}

async fn exposure_csv(
    State(state): State<AppState>,
    viewer: Viewer,
    Query(q): Query<ExposureQuery>,
) -> Result<Response, ApiError> {
    let (head, rows) = exposure_for_export(&state, &viewer, &q).await?;
    // A byte-order mark, so that Excel opens the Chinese as UTF-8.
    let mut out = Vec::from("\u{feff}".as_bytes());
    {
        let mut w = csv::Writer::from_writer(&mut out);
        let fail = |e: csv::Error| {
            tracing::error!("csv export failed: {e}");
            ApiError::Internal
        };
        w.write_record(&head).map_err(fail)?;
        for row in &rows {
            w.write_record(row.iter().map(|v| match v {
                Value::String(s) => s.clone(),
                Value::Null => String::new(),
                other => other.to_string(),
            }))
            .map_err(fail)?;
        }
        w.flush().map_err(|_| ApiError::Internal)?;
    }
    Ok(attachment(
        "text/csv; charset=utf-8",
        "exposure.csv",
        "风险暴露清单.csv",
        out,
    ))
}

#[derive(Deserialize)]
struct ShelterRouteQuery {
    household: Option<String>,
}

/// The walk from an exposed household to its nearest shelter.
async fn shelter_route(
    State(state): State<AppState>,
    viewer: Viewer,
    Query(q): Query<ShelterRouteQuery>,
) -> Result<Json<Value>, ApiError> {
    let scope = leader_scope(&viewer)?;
    if !scope.personal {
        return Err(ApiError::Forbidden);
    }
    let id: i64 = q
        .household
        .as_deref()
        .unwrap_or("")
        .trim()
        .parse()
        .map_err(|_| {
            bad(
                "须给出住户编号：household=编号",
                "Give the household: household=<id>",
            )
        })?;
    let facts = state
        .store
        .household_facts(&scope.roots, &[id])
        .await?
        .pop()
        .ok_or(ApiError::NotFound {
            what_zh: format!("编号为 {id} 的住户（或不在您的辖区内）"),
            what_en: format!("Household {id} (or it is outside your area)"),
        })?;
    let shelters = state.store.shelters_in_scope(&scope.roots).await?;
    let network = road_network(&state).await?;
    let from = Point::new(facts.lon, facts.lat);
    let places: Vec<Point<f64>> = shelters.iter().map(|s| Point::new(s.lon, s.lat)).collect();
    let answer = tokio::task::spawn_blocking(move || {
        let prepared = network.nearest_places(&places);
        let (k, _) = network.nearest_place(&prepared, from)?;
        let tour = network.route(from, &[places[k]]);
        Some((k, tour))
    })
    .await
    .map_err(|_| ApiError::Internal)?;
    let Some((k, tour)) = answer else {
        return Err(ApiError::NotFound {
            what_zh: "由道路可达的避难场所".into(),
            what_en: "A shelter reachable by road".into(),
        });
    };
    let s = &shelters[k];
    Ok(Json(json!({
        "household": id,
        "shelter": { "id": s.id, "name": s.name, "capacity": s.capacity, "lon": s.lon, "lat": s.lat },
        "distance_m": tour.length_m.round(),
        "walking_minutes": (tour.length_m / EVACUATION_M_PER_MIN).ceil(),
        "line": geometry_json(&Geometry::LineString(tour.line)),
    })))
}

// ---------------------------------------------------------------------------------------
// Thematic maps, dashboard, density

#[derive(Deserialize)]
struct ChoroplethQuery {
    level: Option<String>,
    metric: Option<String>,
}

async fn choropleth(
    State(state): State<AppState>,
    viewer: Viewer,
    lang: Lang,
    Query(q): Query<ChoroplethQuery>,
) -> Result<Json<Value>, ApiError> {
    let scope = leader_scope(&viewer)?;
    let level = q.level.as_deref().unwrap_or("village");
    if !matches!(level, "village" | "grid") {
        return Err(bad(
            format!("level 须为 village 或 grid，收到“{level}”"),
            format!("level must be village or grid, got '{level}'"),
        ));
    }
    let metric = q.metric.as_deref().unwrap_or("households");
    let (unit_zh, unit_en) = match metric {
        "households" => ("户", "households"),
        "key_population" => ("重点人群户", "key-population households"),
        "coverage" => ("% 本季度已走访", "% visited this quarter"),
        "incidents" => ("起（未办结事件）", "open incidents"),
        _ => {
            return Err(bad(
                format!(
                    "metric 须为 households、key_population、coverage 或 incidents，收到“{metric}”"
                ),
                format!(
                "metric must be households, key_population, coverage or incidents, got '{metric}'"
            ),
            ))
        }
    };
    let figures = state
        .store
        .area_figures(&scope.roots, level, quarter_start(Utc::now()))
        .await?;
    // Open incidents (and the overdue among them) per area, on the server's clock.
    let incidents: BTreeMap<i64, (i64, i64)> = if metric == "incidents" {
        state
            .store
            .incidents_by_area(&scope.roots, level, state.clock.now())
            .await?
            .into_iter()
            .map(|a| (a.area_id, (a.open, a.overdue)))
            .collect()
    } else {
        BTreeMap::new()
    };
    let mut values = Vec::new();
    let features: Vec<Value> = figures
        .iter()
        .map(|f| {
            let (open, overdue) = incidents.get(&f.id).copied().unwrap_or((0, 0));
            let (value, label): (Option<f64>, String) = match metric {
                "households" => (Some(f.households as f64), f.households.to_string()),
                "incidents" if overdue > 0 => (
                    Some(open as f64),
                    lang.pick(
                        format!("{open}（逾期 {overdue}）"),
                        format!("{open} ({overdue} overdue)"),
                    ),
                ),
                "incidents" => (Some(open as f64), open.to_string()),
                "key_population" if !scope.personal && is_suppressed(f.key_households) => {
                    (None, "<5".to_string())
                }
                "key_population" => (Some(f.key_households as f64), f.key_households.to_string()),
                _ if f.households == 0 => (None, "–".to_string()),
                _ => {
                    let p = (1000.0 * f.visited as f64 / f.households as f64).round() / 10.0;
                    (Some(p), format!("{p}%"))
                }
            };
            if let Some(v) = value {
                values.push(v);
            }
            json!({
                "type": "Feature",
                "id": f.id,
                "geometry": f.geometry,
                "properties": {
                    "id": f.id,
                    "name": f.name,
                    "village": f.parent_name,
                    "value": value,
                    "label": label,
                    "households": f.households,
                    "open_incidents": (metric == "incidents").then_some(open),
                    "overdue_incidents": (metric == "incidents").then_some(overdue),
                },
            })
        })
        .collect();
    Ok(Json(json!({
        "type": "FeatureCollection",
        "level": level,
        "metric": metric,
        "unit_zh": unit_zh,
        "unit_en": unit_en,
        "unit": lang.pick(unit_zh.into(), unit_en.into()),
        "breaks": if metric == "incidents" { incident_breaks(&values) } else { quantile_breaks(&values, 5) },
        "method": "quantile",
        "features": features,
    })))
}

/// Class breaks of incident counts: most areas have none, which would swallow every quantile,
/// so "none" is a class of its own (a break at 1) and the areas with incidents are split by
/// their own quantiles.
fn incident_breaks(values: &[f64]) -> Vec<f64> {
    let positive: Vec<f64> = values.iter().copied().filter(|v| *v > 0.0).collect();
    if positive.is_empty() {
        return Vec::new();
    }
    let mut breaks = vec![1.0];
    for b in quantile_breaks(&positive, 4) {
        if breaks.last().is_some_and(|last| b > *last) {
            breaks.push(b);
        }
    }
    breaks
}

async fn dashboard(
    State(state): State<AppState>,
    viewer: Viewer,
    lang: Lang,
) -> Result<Json<Value>, ApiError> {
    let scope = leader_scope(&viewer)?;
    let villages = state
        .store
        .area_figures(&scope.roots, "village", quarter_start(Utc::now()))
        .await?;
    let grids = state
        .store
        .area_figures(&scope.roots, "grid", quarter_start(Utc::now()))
        .await?;
    let key = state.store.key_population_counts(&scope.roots).await?;
    let hazards = state.store.hazards_in_scope(&scope.roots).await?;
    let exposure = compute_exposure(&state, &scope, None).await?;
    let sum = |f: fn(&cuntu_store::risk::AreaFigures) -> i64| villages.iter().map(f).sum::<i64>();
    let mut by_kind: BTreeMap<String, i64> = BTreeMap::new();
    let mut by_severity: BTreeMap<String, i64> = BTreeMap::new();
    for h in hazards.iter().filter(|h| h.status == "open") {
        *by_kind.entry(h.kind.clone()).or_default() += 1;
        *by_severity.entry(h.severity.clone()).or_default() += 1;
    }
    let township = {
        let index = state.index.read().await;
        scope
            .roots
            .first()
            .and_then(|r| index.areas.get(*r))
            .map(|a| json!({ "id": a.id, "name": a.data.name }))
    };
    let key_population: serde_json::Map<String, Value> = KeyPopulation::ALL
        .iter()
        .map(|k| {
            let n = key
                .iter()
                .find(|(t, _, _)| t == k.code())
                .map_or(0, |r| r.1);
            (k.code().to_string(), shown(n, scope.personal))
        })
        .collect();
    let over = exposure_json(&exposure, &scope, lang);
    Ok(Json(json!({
        "township": township,
        "villages": villages.len(),
        "grids": grids.len(),
        "households": sum(|f| f.households),
        "persons": sum(|f| f.persons),
        "key_population": key_population,
        "key_population_labels": KeyPopulation::ALL.iter().map(|k| (k.code().to_string(), json!(tag_label(k.code(), lang)))).collect::<serde_json::Map<_, _>>(),
        "coverage": {
            "visited": sum(|f| f.visited),
            "total": sum(|f| f.households),
            "key_visited": sum(|f| f.key_visited),
            "key_total": sum(|f| f.key_households),
        },
        "hazards": {
            "by_kind": by_kind,
            "by_severity": by_severity,
            "kind_labels": HazardKind::ALL.iter().map(|k| (k.code().to_string(), json!(kind_label(k.code(), lang)))).collect::<serde_json::Map<_, _>>(),
            "severity_labels": Severity::ALL.iter().map(|s| (s.code().to_string(), json!(lang.pick(s.label_zh().into(), s.code().into())))).collect::<serde_json::Map<_, _>>(),
        },
        "exposed_households": over["total"]["households"],
        "exposed_persons": over["total"]["persons"],
        "shelters": {
            "count": exposure.shelters.len(),
            "capacity": exposure.shelters.iter().filter_map(|s| s.capacity).map(i64::from).sum::<i64>(),
            "over_capacity": over["shelters"].as_array().map_or(0, |a| a.iter().filter(|s| s["over_capacity"] == json!(true)).count()),
        },
    })))
}

/// Key-population density: each household for a viewer who may see them, otherwise one
/// weighted point per grid (grids with 1 to 4 such households left out).
async fn heat(State(state): State<AppState>, viewer: Viewer) -> Result<Json<Value>, ApiError> {
    let scope = leader_scope(&viewer)?;
    let points: Vec<(f64, f64, i64)> = if scope.personal {
        state
            .store
            .key_population_points(&scope.roots)
            .await?
            .into_iter()
            .map(|(x, y, w)| (x, y, i64::from(w)))
            .collect()
    } else {
        let grids = state
            .store
            .area_figures(&scope.roots, "grid", quarter_start(Utc::now()))
            .await?;
        let index = state.index.read().await;
        grids
            .iter()
            .filter(|g| g.key_households >= cuntu_core::thematic::SUPPRESS_BELOW)
            .filter_map(|g| {
                let c = index.areas.get(g.id)?.geometry.centroid()?;
                Some((c.x(), c.y(), g.key_households))
            })
            .collect()
    };
    let features: Vec<Value> = points
        .into_iter()
        .map(|(x, y, w)| {
            json!({
                "type": "Feature",
                "geometry": { "type": "Point", "coordinates": [x, y] },
                "properties": { "weight": w },
            })
        })
        .collect();
    Ok(Json(json!({
        "type": "FeatureCollection",
        "aggregated": !scope.personal,
        "features": features,
    })))
}

/// The grid noticeboard (网格公示牌): the grid, its leader and workers with their phones,
/// which the board shows publicly so that residents can call them.
async fn noticeboard(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(raw): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let scope = leader_scope(&viewer)?;
    let not_found = || ApiError::NotFound {
        what_zh: format!("编号为 {raw} 的网格（或不在您的辖区内）"),
        what_en: format!("Grid {raw} (or it is outside your area)"),
    };
    let id: i64 = raw.parse().map_err(|_| not_found())?;
    if !state.store.area_in_scope(&scope.roots, id).await? {
        return Err(not_found());
    }
    let (grid, village, geometry) = {
        let index = state.index.read().await;
        let grid = index
            .areas
            .get(id)
            .filter(|a| a.data.kind == AreaKind::Grid)
            .ok_or_else(not_found)?;
        let village = grid
            .data
            .parent_id
            .and_then(|p| index.areas.get(p))
            .map(|v| v.data.name.clone());
        (
            grid.data.name.clone(),
            village,
            geometry_json(&grid.geometry),
        )
    };
    let contacts = state.store.grid_contacts(id).await?;
    let households = state
        .store
        .area_figures(&scope.roots, "grid", quarter_start(Utc::now()))
        .await?
        .into_iter()
        .find(|f| f.id == id)
        .map_or(0, |f| f.households);
    let person = |c: &cuntu_store::risk::StaffContact| json!({ "name": c.name, "phone": c.phone });
    Ok(Json(json!({
        "grid": { "id": id, "name": grid, "village": village, "households": households },
        "geometry": geometry,
        "leader": contacts.iter().find(|c| c.duty == "leader").map(person),
        "workers": contacts.iter().filter(|c| c.duty == "worker").map(person).collect::<Vec<_>>(),
    })))
}

// ---------------------------------------------------------------------------------------
// Buffers, hazards, inspections

async fn buffers(State(state): State<AppState>, viewer: Viewer) -> Result<Json<Value>, ApiError> {
    leader_scope(&viewer)?;
    let rows = state.store.hazard_buffers().await?;
    Ok(Json(json!(rows
        .into_iter()
        .map(|(kind, severity, buffer_m)| json!({ "kind": kind, "severity": severity, "buffer_m": buffer_m }))
        .collect::<Vec<_>>())))
}

#[derive(Deserialize)]
struct BufferRequest {
    kind: String,
    severity: String,
    buffer_m: f64,
}

fn check_kind_severity(kind: &str, severity: &str) -> Result<(), ApiError> {
    if HazardKind::from_code(kind).is_none() {
        return Err(bad(
            format!("风险类型须为 landslide、flood、dangerous_house、fire 或 water，收到“{kind}”"),
            format!("The hazard kind must be landslide, flood, dangerous_house, fire or water, got '{kind}'"),
        ));
    }
    if Severity::from_code(severity).is_none() {
        return Err(bad(
            format!("风险等级须为 low、medium 或 high，收到“{severity}”"),
            format!("The severity must be low, medium or high, got '{severity}'"),
        ));
    }
    Ok(())
}

async fn set_buffer(
    State(state): State<AppState>,
    viewer: Viewer,
    request: Result<Json<BufferRequest>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let scope = leader_scope(&viewer)?;
    if !scope.admin {
        return Err(ApiError::Forbidden);
    }
    let b = json_body(request)?;
    check_kind_severity(&b.kind, &b.severity)?;
    if !(0.0..=5000.0).contains(&b.buffer_m) {
        return Err(bad(
            format!("影响范围须在 0 至 5000 米之间，收到 {}", b.buffer_m),
            format!("The zone must be 0 to 5000 metres, got {}", b.buffer_m),
        ));
    }
    state
        .store
        .set_hazard_buffer(&b.kind, &b.severity, b.buffer_m)
        .await?;
    state
        .store
        .audit(viewer.audit_entry(
            "hazard_buffer.set",
            Some(format!("{}/{} = {} m", b.kind, b.severity, b.buffer_m)),
        ))
        .await?;
    Ok(Json(
        json!({ "kind": b.kind, "severity": b.severity, "buffer_m": b.buffer_m }),
    ))
}

#[derive(Deserialize)]
struct HazardRequest {
    kind: Option<String>,
    severity: Option<String>,
    name: Option<String>,
    geometry: Option<Value>,
    status: Option<String>,
    version: Option<i32>,
}

fn hazard_geometry(g: &Value) -> Result<Geometry<f64>, ApiError> {
    let kind = g.get("type").and_then(Value::as_str).unwrap_or("");
    if !matches!(
        kind,
        "Point" | "MultiPoint" | "LineString" | "MultiLineString" | "Polygon" | "MultiPolygon"
    ) {
        return Err(bad(
            format!("风险点的形状须为 GeoJSON 点、线或面，收到“{kind}”"),
            format!("A hazard's shape must be a GeoJSON point, line or polygon, got '{kind}'"),
        ));
    }
    let geometry = geozero::geojson::GeoJson(&g.to_string())
        .to_geo()
        .map_err(|e| {
            bad(
                format!("GeoJSON 无法读取：{e}"),
                format!("The GeoJSON cannot be read: {e}"),
            )
        })?;
    let mut vertices = 0usize;
    for c in geo::CoordsIter::coords_iter(&geometry) {
        vertices += 1;
        if !valid_lon_lat(c.x, c.y) {
            return Err(bad(
                format!("坐标 [{}, {}] 不是经纬度（EPSG:4326）", c.x, c.y),
                format!(
                    "The coordinate [{}, {}] is not longitude/latitude (EPSG:4326)",
                    c.x, c.y
                ),
            ));
        }
    }
    if vertices == 0 || vertices > MAX_HAZARD_VERTICES {
        return Err(bad(
            format!("形状须有 1 至 {MAX_HAZARD_VERTICES} 个点，收到 {vertices} 个"),
            format!("The shape must have 1 to {MAX_HAZARD_VERTICES} points, got {vertices}"),
        ));
    }
    if let Geometry::Polygon(_) | Geometry::MultiPolygon(_) = geometry {
        use geo::Validation;
        if let Err(e) = geometry.check_validation() {
            return Err(bad(
                format!("面不合法（如自相交）：{e}"),
                format!("The polygon is not valid (for example it crosses itself): {e}"),
            ));
        }
    }
    Ok(geometry)
}

use geozero::ToGeo;

/// The hazard geometry must touch the caller's township.
async fn geometry_in_scope(
    state: &AppState,
    scope: &LeaderScope,
    g: &Geometry<f64>,
) -> Result<(), ApiError> {
    use geo::Intersects;
    let index = state.index.read().await;
    let inside = scope
        .roots
        .iter()
        .filter_map(|r| index.areas.get(*r))
        .any(|a| a.geometry.intersects(g));
    if inside {
        Ok(())
    } else {
        Err(ApiError::Forbidden)
    }
}

async fn create_hazard(
    State(state): State<AppState>,
    viewer: Viewer,
    request: Result<Json<HazardRequest>, JsonRejection>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let scope = leader_scope(&viewer)?;
    let r = json_body(request)?;
    let (Some(kind), Some(severity), Some(geometry)) = (
        r.kind.as_deref(),
        r.severity.as_deref(),
        r.geometry.as_ref(),
    ) else {
        return Err(bad(
            "须给出 kind（类型）、severity（等级）和 geometry（GeoJSON 形状）",
            "kind, severity and geometry (GeoJSON) are required",
        ));
    };
    check_kind_severity(kind, severity)?;
    let geometry = hazard_geometry(geometry)?;
    geometry_in_scope(&state, &scope, &geometry).await?;
    let name = r.name.as_deref().map(str::trim).filter(|n| !n.is_empty());
    let id = state
        .store
        .create_hazard(
            &HazardInput {
                kind,
                severity,
                name,
                geometry: &geometry,
            },
            scope.user_id,
        )
        .await?;
    state
        .store
        .audit(viewer.audit_entry("hazard.create", Some(id.to_string())))
        .await?;
    Ok((StatusCode::CREATED, Json(json!({ "id": id, "version": 1 }))))
}

fn if_match(headers: &HeaderMap) -> Option<i32> {
    headers
        .get(header::IF_MATCH)?
        .to_str()
        .ok()?
        .trim()
        .trim_start_matches("W/")
        .trim_matches('"')
        .parse()
        .ok()
}

async fn update_hazard(
    State(state): State<AppState>,
    viewer: Viewer,
    headers: HeaderMap,
    Path(raw): Path<String>,
    request: Result<Json<HazardRequest>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let scope = leader_scope(&viewer)?;
    let r = json_body(request)?;
    let current = hazard_in_scope(&state, &scope, &raw).await?;
    let Some(version) = if_match(&headers).or(r.version) else {
        return Err(bad(
            "须给出所编辑的版本号（请求体 version 或 If-Match 头）",
            "The version being edited is required (body field version, or an If-Match header)",
        ));
    };
    if version != current.version {
        return Err(ApiError::Conflict {
            expected: version,
            current: current.version,
        });
    }
    let kind = r.kind.as_deref().unwrap_or(&current.kind);
    let severity = r.severity.as_deref().unwrap_or(&current.severity);
    check_kind_severity(kind, severity)?;
    let status = r.status.as_deref().unwrap_or(&current.status);
    if !matches!(status, "open" | "closed") {
        return Err(bad(
            format!("状态须为 open（在册）或 closed（已销号），收到“{status}”"),
            format!("status must be open or closed, got '{status}'"),
        ));
    }
    let geometry = match &r.geometry {
        Some(g) => {
            let g = hazard_geometry(g)?;
            geometry_in_scope(&state, &scope, &g).await?;
            g
        }
        None => current.geometry.clone(),
    };
    let name = match &r.name {
        Some(n) => Some(n.trim()).filter(|n| !n.is_empty()),
        None => current.name.as_deref(),
    };
    let input = HazardInput {
        kind,
        severity,
        name,
        geometry: &geometry,
    };
    let Some(new_version) = state
        .store
        .update_hazard(current.id, version, &input, status, scope.user_id)
        .await?
    else {
        let now = hazard_in_scope(&state, &scope, &raw).await?;
        return Err(ApiError::Conflict {
            expected: version,
            current: now.version,
        });
    };
    state
        .store
        .audit(viewer.audit_entry("hazard.update", Some(current.id.to_string())))
        .await?;
    Ok(Json(
        json!({ "id": current.id, "version": new_version, "status": status }),
    ))
}

async fn hazard_in_scope(
    state: &AppState,
    scope: &LeaderScope,
    raw: &str,
) -> Result<HazardRow, ApiError> {
    let not_found = || ApiError::NotFound {
        what_zh: format!("编号为 {raw} 的风险点（或不在您的辖区内）"),
        what_en: format!("Hazard {raw} (or it is outside your area)"),
    };
    let id: i64 = raw.parse().map_err(|_| not_found())?;
    state
        .store
        .hazards_in_scope(&scope.roots)
        .await?
        .into_iter()
        .find(|h| h.id == id)
        .ok_or_else(not_found)
}

async fn hazard_history(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(raw): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let scope = leader_scope(&viewer)?;
    let h = hazard_in_scope(&state, &scope, &raw).await?;
    Ok(Json(
        json!({ "id": h.id, "versions": state.store.hazard_history(h.id).await? }),
    ))
}

async fn inspections(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(raw): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let scope = leader_scope(&viewer)?;
    let h = hazard_in_scope(&state, &scope, &raw).await?;
    Ok(Json(
        json!({ "id": h.id, "inspections": state.store.hazard_inspections(h.id).await? }),
    ))
}

#[derive(Deserialize)]
struct InspectionRequest {
    note: String,
}

async fn add_inspection(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(raw): Path<String>,
    request: Result<Json<InspectionRequest>, JsonRejection>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let scope = leader_scope(&viewer)?;
    let h = hazard_in_scope(&state, &scope, &raw).await?;
    let note = json_body(request)?.note;
    let note = note.trim();
    if note.is_empty() || note.chars().count() > 2000 {
        return Err(bad(
            "巡查记录须为 1 至 2000 字",
            "An inspection note must be 1 to 2000 characters",
        ));
    }
    let id = state
        .store
        .add_inspection(h.id, scope.user_id, note)
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({ "id": id, "hazard": h.id })),
    ))
}

// ---------------------------------------------------------------------------------------
// Evacuations

#[derive(Deserialize)]
struct EvacuationRequest {
    name: String,
    hazards: Vec<i64>,
}

async fn create_evacuation(
    State(state): State<AppState>,
    viewer: Viewer,
    request: Result<Json<EvacuationRequest>, JsonRejection>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let scope = leader_scope(&viewer)?;
    let r = json_body(request)?;
    let name = r.name.trim();
    if name.is_empty() || name.chars().count() > 200 {
        return Err(bad(
            "转移名称须为 1 至 200 字",
            "The evacuation's name must be 1 to 200 characters",
        ));
    }
    if r.hazards.is_empty() {
        return Err(bad("须选择至少一个风险点", "Choose at least one hazard"));
    }
    let e = compute_exposure(&state, &scope, Some(r.hazards.clone())).await?;
    let township = scope.roots[0];
    let rows: Vec<(i64, Option<i64>, Option<f64>)> = e
        .households
        .iter()
        .map(|h| {
            (
                h.facts.id,
                h.shelter.map(|(s, _)| e.shelters[s].id),
                h.shelter.map(|(_, m)| m.round()),
            )
        })
        .collect();
    let id = state
        .store
        .create_evacuation(township, name, &r.hazards, &rows, scope.user_id)
        .await?;
    state
        .store
        .audit(viewer.audit_entry(
            "evacuation.create",
            Some(format!("{id}: {} households", rows.len())),
        ))
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({ "id": id, "households": rows.len() })),
    ))
}

async fn evacuations(
    State(state): State<AppState>,
    viewer: Viewer,
) -> Result<Json<Value>, ApiError> {
    viewer.require()?;
    let townships = townships_of(&state, &viewer).await;
    let roots = evacuation_roots(&viewer);
    let mut out = Vec::new();
    for e in state.store.evacuations_of(&townships).await? {
        let households = state.store.evacuation_households(e.id, &roots).await?;
        out.push(json!({ "evacuation": e, "tally": tally(&households) }));
    }
    Ok(Json(json!(out)))
}

/// Whose households of an evacuation a caller sees: those below their areas.
fn evacuation_roots(viewer: &Viewer) -> Vec<i64> {
    let mut roots: Vec<i64> = viewer
        .assignments()
        .iter()
        .filter(|a| a.role != Role::Department)
        .map(|a| a.area_id)
        .collect();
    roots.sort_unstable();
    roots.dedup();
    roots
}

fn tally(rows: &[cuntu_store::risk::EvacueeRow]) -> Value {
    let mut t: BTreeMap<&str, i64> = ["pending", "moved", "refused", "away", "needs_help"]
        .iter()
        .map(|s| (*s, 0))
        .collect();
    for r in rows {
        *t.entry(r.status.as_str()).or_default() += 1;
    }
    json!({ "total": rows.len(), "by_status": t })
}

async fn evacuation(
    State(state): State<AppState>,
    viewer: Viewer,
    lang: Lang,
    Path(raw): Path<String>,
) -> Result<Json<Value>, ApiError> {
    viewer.require()?;
    let not_found = || ApiError::NotFound {
        what_zh: format!("编号为 {raw} 的转移"),
        what_en: format!("Evacuation {raw}"),
    };
    let id: i64 = raw.parse().map_err(|_| not_found())?;
    let e = state.store.evacuation(id).await?.ok_or_else(not_found)?;
    if !townships_of(&state, &viewer).await.contains(&e.township_id) {
        return Err(not_found());
    }
    let names = viewer
        .assignments()
        .iter()
        .any(Assignment::reads_households);
    let rows = state
        .store
        .evacuation_households(id, &evacuation_roots(&viewer))
        .await?;
    let households: Vec<Value> = rows
        .iter()
        .map(|r| {
            json!({
                "id": r.household_id,
                "lon": if names { json!(r.lon) } else { Value::Null },
                "lat": if names { json!(r.lat) } else { Value::Null },
                "house_number": if names { json!(r.house_number) } else { Value::Null },
                "head_name": if names { json!(r.head_name) } else { Value::Null },
                "members": r.members,
                "needs": r.tags.iter().map(|t| tag_label(t, lang)).collect::<Vec<_>>(),
                "grid": r.grid_name,
                "shelter": { "id": r.shelter_id, "name": r.shelter_name, "distance_m": r.distance_m },
                "status": r.status,
                "note": r.note,
                "updated_by": r.updated_by,
                "updated_at": r.updated_at,
            })
        })
        .collect();
    Ok(Json(
        json!({ "evacuation": e, "tally": tally(&rows), "households": households }),
    ))
}

#[derive(Deserialize)]
struct MarkRequest {
    status: String,
    note: Option<String>,
}

async fn mark_evacuee(
    State(state): State<AppState>,
    viewer: Viewer,
    Path((raw, household)): Path<(String, String)>,
    request: Result<Json<MarkRequest>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let account = viewer.require()?;
    let r = json_body(request)?;
    if !matches!(
        r.status.as_str(),
        "pending" | "moved" | "refused" | "away" | "needs_help"
    ) {
        return Err(bad(
            format!("状态须为 moved（已转移）、refused（拒绝）、away（不在家）、needs_help（需协助）或 pending，收到“{}”", r.status),
            format!("status must be moved, refused, away, needs_help or pending, got '{}'", r.status),
        ));
    }
    let note = r.note.as_deref().map(str::trim).filter(|n| !n.is_empty());
    if note.is_some_and(|n| n.chars().count() > 500) {
        return Err(bad("备注最多 500 字", "A note has at most 500 characters"));
    }
    let (Ok(id), Ok(household)) = (raw.parse::<i64>(), household.parse::<i64>()) else {
        return Err(ApiError::NotFound {
            what_zh: "该转移中的这户".into(),
            what_en: "This household of the evacuation".into(),
        });
    };
    let marked = state
        .store
        .mark_evacuee(
            id,
            household,
            &evacuation_roots(&viewer),
            &r.status,
            note,
            account.id,
        )
        .await?;
    if !marked {
        return Err(ApiError::NotFound {
            what_zh: format!("转移 {id} 中您辖区内的住户 {household}"),
            what_en: format!("Household {household} of evacuation {id} in your area"),
        });
    }
    Ok(Json(
        json!({ "evacuation": id, "household": household, "status": r.status }),
    ))
}
