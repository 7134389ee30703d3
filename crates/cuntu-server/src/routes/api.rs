//! `/api`: locate a point in the area tree, area details, the map's summary.

use std::collections::HashMap;

use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, Query, State};
use axum::routing::get;
use axum::{Json, Router};
use cuntu_core::area::AreaRef;
use cuntu_store::areas::AreaDetail;
use cuntu_store::layers::FeatureLayer;
use geo::Point;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::error::ApiError;
use crate::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/locate", get(locate).post(locate_many))
        .route("/api/areas/{id}", get(area))
        .route("/api/summary", get(summary))
}

fn coordinate(params: &HashMap<String, String>, name: &str, limit: f64) -> Result<f64, ApiError> {
    let (zh_name, en_name) = if name == "lon" {
        ("经度", "longitude")
    } else {
        ("纬度", "latitude")
    };
    let raw = params.get(name).map(|s| s.trim()).unwrap_or("");
    if raw.is_empty() {
        return Err(ApiError::BadQuery {
            zh: format!("缺少参数 {name}（{zh_name}，十进制度，WGS84/CGCS2000）"),
            en: format!("Missing parameter {name} ({en_name}, decimal degrees, WGS84/CGCS2000)"),
        });
    }
    let value: f64 = raw.parse().map_err(|_| ApiError::BadQuery {
        zh: format!("参数 {name}（{zh_name}）必须是数字，收到“{raw}”"),
        en: format!("Parameter {name} ({en_name}) must be a number, got '{raw}'"),
    })?;
    if !value.is_finite() || value.abs() > limit {
        return Err(ApiError::BadQuery {
            zh: format!("{zh_name} {raw} 超出范围 -{limit} 到 {limit}"),
            en: format!("{en_name} {raw} is outside -{limit}..{limit}"),
        });
    }
    Ok(value)
}

#[derive(Serialize)]
struct Located {
    lon: f64,
    lat: f64,
    /// From the township down to the deepest area holding the point; empty outside all.
    chain: Vec<AreaRef>,
}

async fn locate(
    State(state): State<AppState>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Json<Located>, ApiError> {
    let lon = coordinate(&params, "lon", 180.0)?;
    let lat = coordinate(&params, "lat", 90.0)?;
    let chain = state.index.read().await.areas.locate(Point::new(lon, lat));
    Ok(Json(Located { lon, lat, chain }))
}

/// Points in one batch request; more go in several.
const MAX_BATCH_POINTS: usize = 100_000;

#[derive(Deserialize)]
struct Points {
    points: Vec<[f64; 2]>,
}

/// `POST /api/locate {"points": [[lon, lat], ...]}`: for each point the ids of its area chain,
/// township first (empty outside every area), in the order given. One lock of the index for
/// the whole batch: a county's worth of points in one request.
async fn locate_many(
    State(state): State<AppState>,
    body: Result<Json<Points>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let Points { points } = super::json_body(body)?;
    if points.len() > MAX_BATCH_POINTS {
        return Err(super::bad(
            format!(
                "一次最多 {MAX_BATCH_POINTS} 个点，收到 {} 个：请分批提交。",
                points.len()
            ),
            format!(
                "At most {MAX_BATCH_POINTS} points a request, got {}: send them in batches.",
                points.len()
            ),
        ));
    }
    if let Some(i) = points
        .iter()
        .position(|[lon, lat]| !super::valid_lon_lat(*lon, *lat))
    {
        return Err(super::bad(
            format!("第 {} 个点的经纬度超出范围：{:?}", i + 1, points[i]),
            format!(
                "Point {} is not a longitude/latitude: {:?}",
                i + 1,
                points[i]
            ),
        ));
    }
    let index = state.index.read().await;
    let chains: Vec<Vec<i64>> = points
        .iter()
        .map(|[lon, lat]| {
            index
                .areas
                .locate(Point::new(*lon, *lat))
                .iter()
                .map(|a| a.id)
                .collect()
        })
        .collect();
    Ok(Json(json!({ "chains": chains })))
}

async fn area(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<AreaDetail>, ApiError> {
    let not_found = || ApiError::NotFound {
        what_zh: format!("编号为 {id} 的区域"),
        what_en: format!("Area {id}"),
    };
    let numeric: i64 = id.parse().map_err(|_| not_found())?;
    match state.store.area_detail(numeric).await {
        Err(cuntu_store::StoreError::NotFound) => Err(not_found()),
        other => Ok(Json(other?)),
    }
}

async fn summary(State(state): State<AppState>) -> Json<Value> {
    let index = state.index.read().await;
    let bbox = index
        .areas
        .bounds()
        .map(|b| json!([b.min().x, b.min().y, b.max().x, b.max().y]));
    let mut counts = serde_json::Map::new();
    for kind in cuntu_core::AreaKind::ALL {
        let n = index.areas.iter().filter(|a| a.data.kind == kind).count();
        counts.insert(format!("{}s", kind.as_str()), n.into());
    }
    for layer in FeatureLayer::ALL {
        counts.insert(layer.id().into(), index.count(layer).into());
    }
    Json(json!({ "bbox": bbox, "counts": Value::Object(counts) }))
}
