//! `/tiles`: the catalogue, TileJSON 3.0.0 per layer, and MVT tiles with ETag/304.

use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use cuntu_core::layers::{self, Layer, ANNOUNCED_MAXZOOM, LAYERS};
use cuntu_core::TileCoord;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::auth::Viewer;
use crate::error::ApiError;
use crate::AppState;
use cuntu_store::tiles::{is_scoped, TileScope};

pub const MVT_CONTENT_TYPE: &str = "application/vnd.mapbox-vector-tile";
pub const ATTRIBUTION: &str = "© OpenStreetMap contributors";

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/tiles", get(catalogue))
        .route("/tiles/{layer}", get(tilejson))
        .route("/tiles/{layer}/{z}/{x}/{y}", get(tile))
}

fn find_layer(id: &str) -> Result<&'static Layer, ApiError> {
    layers::layer(id).ok_or_else(|| ApiError::UnknownLayer(id.to_string()))
}

/// `http://host` of the request, so TileJSON URLs work behind any address the client used.
fn base_url(headers: &HeaderMap) -> String {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("127.0.0.1:8080");
    let scheme = headers
        .get("x-forwarded-proto")
        .and_then(|h| h.to_str().ok())
        .filter(|p| *p == "https")
        .unwrap_or("http");
    format!("{scheme}://{host}")
}

async fn catalogue(headers: HeaderMap) -> Json<Value> {
    let base = base_url(&headers);
    Json(json!({
        "layers": LAYERS.iter().map(|l| json!({
            "id": l.id,
            "title": { "zh-CN": l.title_zh, "en": l.title_en },
            "url": format!("{base}/tiles/{}", l.id),
            "minzoom": l.minzoom,
            "maxzoom": ANNOUNCED_MAXZOOM,
        })).collect::<Vec<_>>()
    }))
}

async fn tilejson(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    let layer = find_layer(&id)?;
    let base = base_url(&headers);
    let bounds = state.index.read().await.areas.bounds();
    let (bounds, center) = match bounds {
        Some(b) => (
            json!([b.min().x, b.min().y, b.max().x, b.max().y]),
            json!([b.center().x, b.center().y, 11]),
        ),
        None => (
            json!([-180.0, -85.0511, 180.0, 85.0511]),
            json!([0.0, 0.0, 1]),
        ),
    };
    let fields: serde_json::Map<String, Value> = layer
        .fields
        .iter()
        .map(|f| (f.name.to_string(), Value::String(f.description.to_string())))
        .collect();
    Ok(Json(json!({
        "tilejson": "3.0.0",
        "name": layer.id,
        "description": format!("{} / {}", layer.title_zh, layer.title_en),
        "version": "1.0.0",
        "attribution": ATTRIBUTION,
        "scheme": "xyz",
        "tiles": [format!("{base}/tiles/{}/{{z}}/{{x}}/{{y}}", layer.id)],
        "minzoom": layer.minzoom,
        "maxzoom": ANNOUNCED_MAXZOOM,
        "bounds": bounds,
        "center": center,
        "vector_layers": [{
            "id": layer.id,
            "description": layer.title_en,
            "minzoom": layer.minzoom,
            "maxzoom": ANNOUNCED_MAXZOOM,
            "fields": fields,
        }],
    })))
}

fn parse_tile(z: &str, x: &str, y: &str) -> Result<TileCoord, ApiError> {
    let bad = |reason: String| ApiError::BadTile {
        z: z.to_string(),
        x: x.to_string(),
        y: y.to_string(),
        reason,
    };
    // Clients often append the format: 14/8600/5740.pbf or .mvt.
    let y_number = y
        .strip_suffix(".pbf")
        .or_else(|| y.strip_suffix(".mvt"))
        .unwrap_or(y);
    let parse = |s: &str| {
        s.parse::<u32>()
            .map_err(|_| bad(format!("'{s}' is not a non-negative integer")))
    };
    TileCoord::new(parse(z)?, parse(x)?, parse(y_number)?).map_err(|e| bad(e.to_string()))
}

fn etag_of(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    let hex: String = digest[..12].iter().map(|b| format!("{b:02x}")).collect();
    format!("\"{hex}\"")
}

async fn tile(
    State(state): State<AppState>,
    viewer: Viewer,
    Path((id, z, x, y)): Path<(String, String, String, String)>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let layer = find_layer(&id)?;
    let coord = parse_tile(&z, &x, &y)?;
    let roots = viewer.household_roots();
    let scope = TileScope {
        household_roots: &roots,
    };
    let bytes = state.store.tile(layer, coord, scope).await?;
    let personal = is_scoped(layer.id);
    if bytes.is_empty() {
        return Ok(StatusCode::NO_CONTENT.into_response());
    }
    let etag = etag_of(&bytes);
    let matches = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag || t.trim() == "*"));
    let mut response = if matches {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        (
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static(MVT_CONTENT_TYPE),
            )],
            bytes,
        )
            .into_response()
    };
    let h = response.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&etag) {
        h.insert(header::ETAG, v);
    }
    // Edits change tiles at any time: clients keep them but must revalidate (cheap with 304).
    // Tiles that depend on the viewer are private: no shared cache may keep them, and they
    // vary with the session.
    if personal {
        h.insert(
            header::CACHE_CONTROL,
            HeaderValue::from_static("private, no-cache"),
        );
        h.insert(
            header::VARY,
            HeaderValue::from_static("Cookie, Authorization"),
        );
    } else {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    }
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tile_paths_parse_or_explain() {
        assert_eq!(
            parse_tile("14", "8600", "5740.pbf").unwrap(),
            TileCoord::new(14, 8600, 5740).unwrap()
        );
        assert!(matches!(
            parse_tile("23", "0", "0"),
            Err(ApiError::BadTile { .. })
        ));
        assert!(matches!(
            parse_tile("2", "4", "0"),
            Err(ApiError::BadTile { .. })
        ));
        assert!(matches!(
            parse_tile("a", "0", "0"),
            Err(ApiError::BadTile { .. })
        ));
        assert!(matches!(
            parse_tile("1", "-1", "0"),
            Err(ApiError::BadTile { .. })
        ));
    }

    #[test]
    fn etags_follow_content() {
        assert_eq!(etag_of(b"abc"), etag_of(b"abc"));
        assert_ne!(etag_of(b"abc"), etag_of(b"abd"));
    }
}
