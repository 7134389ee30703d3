//! "Visit these": the worker's walk through chosen households along the roads, from where
//! they stand, as JSON for the map or GPX for a phone's track app.

use axum::extract::rejection::JsonRejection;
use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use cuntu_core::auth::{household_access, Visibility};
use cuntu_core::coords::{bd09_to_wgs84, gcj02_to_wgs84};
use cuntu_core::routing::RoadNetwork;
use geo::{coord, Point};
use serde::Deserialize;
use serde_json::{json, Value};
use std::sync::Arc;

use super::bad;
use crate::auth::Viewer;
use crate::error::ApiError;
use crate::AppState;

/// More stops than a day of visits: a bound on the work one request asks for.
const MAX_STOPS: usize = 200;
/// Walking speed on village roads, metres a minute (4.5 km/h).
const WALKING_M_PER_MIN: f64 = 75.0;

pub fn router() -> Router<AppState> {
    Router::new().route("/api/route", post(route))
}

/// The road network, built from the roads table on first use (contraction hierarchy
/// included) and kept for the life of the process.
pub(crate) async fn road_network(state: &AppState) -> Result<Arc<RoadNetwork>, ApiError> {
    let store = state.store.clone();
    state
        .roads
        .get_or_try_init(|| async move {
            let lines = store.road_lines().await?;
            let started = std::time::Instant::now();
            let network = tokio::task::spawn_blocking(move || RoadNetwork::build(&lines))
                .await
                .map_err(|_| ApiError::Internal)?;
            tracing::info!(
                nodes = network.node_count(),
                edges = network.edge_count(),
                elapsed_ms = started.elapsed().as_millis() as u64,
                "road network ready"
            );
            Ok::<_, ApiError>(Arc::new(network))
        })
        .await
        .cloned()
}

#[derive(Deserialize)]
struct RouteRequest {
    from: [f64; 2],
    #[serde(default)]
    crs: Option<String>,
    households: Vec<i64>,
}

#[derive(Deserialize)]
struct RouteQuery {
    format: Option<String>,
}

async fn route(
    State(state): State<AppState>,
    viewer: Viewer,
    query: Query<RouteQuery>,
    request: Result<Json<RouteRequest>, JsonRejection>,
) -> Result<Response, ApiError> {
    viewer.require()?;
    let Json(request) = request.map_err(|e| {
        bad(
            format!("路线请求无法读取：{e}"),
            format!("The route request cannot be read: {e}"),
        )
    })?;
    if request.households.is_empty() || request.households.len() > MAX_STOPS {
        return Err(bad(
            format!("请选择 1 到 {MAX_STOPS} 户"),
            format!("Choose 1 to {MAX_STOPS} households"),
        ));
    }
    let [lon, lat] = request.from;
    if !(lon.is_finite() && lat.is_finite() && lon.abs() <= 180.0 && lat.abs() <= 90.0) {
        return Err(bad(
            format!("起点 ({lon}, {lat}) 无效"),
            format!("The starting point ({lon}, {lat}) is invalid"),
        ));
    }
    let at = coord! { x: lon, y: lat };
    let start = match request
        .crs
        .as_deref()
        .unwrap_or("wgs84")
        .to_ascii_lowercase()
        .as_str()
    {
        "wgs84" | "epsg:4326" | "cgcs2000" | "epsg:4490" => at,
        "gcj02" | "gcj-02" => gcj02_to_wgs84(at),
        "bd09" | "bd-09" => bd09_to_wgs84(at),
        other => {
            return Err(bad(
                format!("不支持的坐标系“{other}”：可为 wgs84、gcj02、bd09"),
                format!("Unsupported coordinate system '{other}': wgs84, gcj02 or bd09"),
            ))
        }
    };
    let mut asked = request.households.clone();
    asked.sort_unstable();
    asked.dedup();
    let stops = state
        .store
        .route_stops_in_scope(&viewer.household_roots(), &asked)
        .await?;
    let assignments = viewer.assignments();
    let stops: Vec<_> = stops
        .into_iter()
        .filter_map(|s| household_access(&assignments, &s.chain).map(|a| (s, a)))
        .collect();
    if stops.len() != asked.len() {
        return Err(ApiError::Forbidden);
    }
    let network = road_network(&state).await?;
    let points: Vec<Point<f64>> = stops
        .iter()
        .map(|(s, _)| Point::new(s.lon, s.lat))
        .collect();
    let tour = tokio::task::spawn_blocking(move || network.route(Point::from(start), &points))
        .await
        .map_err(|_| ApiError::Internal)?;
    let ordered: Vec<Value> = tour
        .order
        .iter()
        .enumerate()
        .map(|(n, &i)| {
            let (s, access) = &stops[i];
            json!({
                "order": n + 1,
                "household_id": s.id,
                "house_number": s.house_number,
                "head_name": s.head_name.clone().filter(|_| access.names != Visibility::Hidden),
                "lon": s.lon,
                "lat": s.lat,
                "leg_m": tour.legs_m.get(n).copied().unwrap_or(0.0).round(),
            })
        })
        .collect();
    let unreachable: Vec<i64> = tour.unreachable.iter().map(|&i| stops[i].0.id).collect();
    let line: Vec<[f64; 2]> = tour.line.0.iter().map(|c| [c.x, c.y]).collect();
    if query.format.as_deref() == Some("gpx") {
        return gpx_of(&ordered, &tour.line);
    }
    Ok(Json(json!({
        "stops": ordered,
        "line": { "type": "LineString", "coordinates": line },
        "distance_m": tour.length_m.round(),
        "walking_minutes": (tour.length_m / WALKING_M_PER_MIN).ceil(),
        "unreachable": unreachable,
    }))
    .into_response())
}

/// GPX 1.1: the walk as a track, the stops as numbered waypoints.
fn gpx_of(stops: &[Value], line: &geo::LineString<f64>) -> Result<Response, ApiError> {
    let mut doc = gpx::Gpx {
        version: gpx::GpxVersion::Gpx11,
        creator: Some("cuntu 村图".into()),
        ..Default::default()
    };
    for s in stops {
        let mut w = gpx::Waypoint::new(Point::new(
            s["lon"].as_f64().unwrap_or(0.0),
            s["lat"].as_f64().unwrap_or(0.0),
        ));
        let number = s["order"].as_u64().unwrap_or(0);
        let house = s["house_number"].as_str().unwrap_or("");
        let head = s["head_name"].as_str().unwrap_or("");
        w.name = Some(format!("{number}. {house} {head}").trim().to_string());
        doc.waypoints.push(w);
    }
    let mut segment = gpx::TrackSegment::new();
    segment.points = line
        .0
        .iter()
        .map(|c| gpx::Waypoint::new(Point::from(*c)))
        .collect();
    let mut track = gpx::Track::new();
    track.name = Some("走访路线 visit route".into());
    track.segments.push(segment);
    doc.tracks.push(track);
    let mut out = Vec::new();
    gpx::write(&doc, &mut out).map_err(|e| {
        tracing::error!("gpx: {e}");
        ApiError::Internal
    })?;
    Ok((
        [
            (header::CONTENT_TYPE, "application/gpx+xml; charset=utf-8"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"route.gpx\"",
            ),
        ],
        out,
    )
        .into_response())
}
