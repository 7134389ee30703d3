//! `/tiles`: the catalogue, TileJSON 3.0.0 per layer, and MVT tiles with ETag/304.

use axum::extract::{FromRequestParts, Path, Request, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use cuntu_core::layers::{self, Layer, ANNOUNCED_MAXZOOM, LAYERS};
use cuntu_core::TileCoord;
use serde_json::{json, Value};
use std::collections::HashSet;
use std::sync::{Arc, OnceLock};

use crate::auth::Viewer;
use crate::error::ApiError;
use crate::tilecache::CachedTile;
use crate::{AppState, TileEngine};
use cuntu_core::tilesource::Visibility;
use cuntu_store::tiles::{is_scoped, TileScope};

pub const MVT_CONTENT_TYPE: &str = "application/vnd.mapbox-vector-tile";
pub const ATTRIBUTION: &str = "© OpenStreetMap contributors";

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/tiles", get(catalogue))
        .route("/tiles/{layer}", get(tilejson))
}

/// The tiles themselves, served behind [`crate::security::tile_edge`] alone.
pub fn tile_router() -> Router<AppState> {
    // The literal, as tests/ogc.rs reads routes from the sources; metrics::TILE_ROUTE names
    // the same template (tests/tiles.rs checks the series).
    Router::new().route("/tiles/{layer}/{z}/{x}/{y}", get(tile))
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

/// The grids whose households the viewer reads: every area under (or equal to) a root.
fn grids_under(areas: &cuntu_core::AreaIndex, roots: &[i64]) -> HashSet<i64> {
    let roots: HashSet<i64> = roots.iter().copied().collect();
    areas
        .iter()
        .filter(|area| {
            let mut next = Some(area.id);
            // Parents rank strictly higher, so a chain is at most as long as the levels.
            for _ in 0..=cuntu_core::AreaKind::ALL.len() {
                match next {
                    Some(id) if roots.contains(&id) => return true,
                    Some(id) => next = areas.get(id).and_then(|a| a.data.parent_id),
                    None => return false,
                }
            }
            false
        })
        .map(|area| area.id)
        .collect()
}

/// Draws a tile from the in-memory layers, or takes it from the cache.
async fn memory_tile(
    state: &AppState,
    layer: &'static Layer,
    coord: TileCoord,
    roots: &[i64],
) -> Arc<CachedTile> {
    let personal = is_scoped(layer.id);
    if personal && roots.is_empty() {
        // One empty tile for every viewer without households: nothing to draw, hash or zip.
        static NOTHING: OnceLock<Arc<CachedTile>> = OnceLock::new();
        return NOTHING
            .get_or_init(|| Arc::new(CachedTile::new(Vec::new())))
            .clone();
    }
    let scope = if personal {
        let mut sorted = roots.to_vec();
        sorted.sort_unstable();
        sorted
            .iter()
            .map(|r| r.to_string())
            .collect::<Vec<_>>()
            .join(",")
    } else {
        String::new()
    };
    if let Some(hit) = state.tiles.get(layer.id, coord, &scope) {
        return hit;
    }
    let index = state.index.read().await;
    let epoch = state.tiles.epoch();
    let grids;
    let visible = if personal {
        grids = state
            .tiles
            .scope_grids(&scope, epoch, || grids_under(&index.areas, roots));
        Visibility::Grids(&grids)
    } else {
        Visibility::All
    };
    let raw = index.tiles.render(layer, coord, visible);
    drop(index);
    let drawn = Arc::new(CachedTile::new(raw));
    state
        .tiles
        .insert(layer.id, coord, &scope, drawn.clone(), epoch);
    drawn
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Encoding {
    Brotli,
    Gzip,
    Identity,
}

/// The best encoding the client accepts (a `q=0` refuses one). Runs on every tile request:
/// no allocation.
fn negotiate(headers: &HeaderMap) -> Encoding {
    let (mut brotli, mut gzip) = (false, false);
    for value in headers.get_all(header::ACCEPT_ENCODING) {
        let Ok(value) = value.to_str() else { continue };
        for item in value.split(',') {
            let mut parts = item.split(';');
            let name = parts.next().unwrap_or("").trim();
            let refused = parts.any(|p| {
                p.trim()
                    .strip_prefix("q=")
                    .and_then(|q| q.trim().parse::<f32>().ok())
                    .is_some_and(|q| q <= 0.0)
            });
            if refused {
                continue;
            }
            brotli |= name.eq_ignore_ascii_case("br");
            gzip |= name.eq_ignore_ascii_case("gzip");
        }
    }
    if brotli {
        Encoding::Brotli
    } else if gzip {
        Encoding::Gzip
    } else {
        Encoding::Identity
    }
}

/// The household roots of whoever asks: from the session (or token), remembered for a few
/// seconds per token so that a map's burst of tiles costs one lookup.
async fn viewer_roots(state: &AppState, parts: &mut Parts) -> Result<Arc<Vec<i64>>, ApiError> {
    let Some(token) = crate::auth::presented_token(parts) else {
        return Ok(Arc::new(Vec::new()));
    };
    let hash = crate::auth::token_hash(&token);
    if let Some(roots) = state.tiles.scope_of(&hash) {
        return Ok(roots);
    }
    let viewer = Viewer::from_request_parts(parts, state).await?;
    let roots = Arc::new(viewer.household_roots());
    state.tiles.remember_scope(hash, roots.clone());
    Ok(roots)
}

async fn tile(
    State(state): State<AppState>,
    Path((id, z, x, y)): Path<(String, String, String, String)>,
    request: Request,
) -> Result<Response, ApiError> {
    let layer = find_layer(&id)?;
    let coord = parse_tile(&z, &x, &y)?;
    let (mut parts, _) = request.into_parts();
    // Only personal layers depend on who asks: the others skip the session lookup.
    let roots = if is_scoped(layer.id) {
        viewer_roots(&state, &mut parts).await?
    } else {
        Arc::new(Vec::new())
    };
    let headers = &parts.headers;
    let drawn = match state.tile_engine {
        TileEngine::Memory => memory_tile(&state, layer, coord, &roots).await,
        TileEngine::Postgis => {
            let scope = TileScope {
                household_roots: &roots,
            };
            Arc::new(CachedTile::new(
                state.store.tile(layer, coord, scope).await?,
            ))
        }
    };
    let personal = is_scoped(layer.id);
    if drawn.raw.is_empty() {
        return Ok(StatusCode::NO_CONTENT.into_response());
    }
    let matches = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(',')
                .any(|t| t.trim() == drawn.etag || t.trim() == "*")
        });
    let mut response = if matches {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        let (body, encoding) = match negotiate(headers) {
            Encoding::Brotli if !drawn.brotli().is_empty() => (drawn.brotli().clone(), Some("br")),
            Encoding::Brotli | Encoding::Gzip if !drawn.gzip.is_empty() => {
                (drawn.gzip.clone(), Some("gzip"))
            }
            _ => (drawn.raw.clone(), None),
        };
        let mut r = (
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static(MVT_CONTENT_TYPE),
            )],
            body,
        )
            .into_response();
        if let Some(e) = encoding {
            r.headers_mut()
                .insert(header::CONTENT_ENCODING, HeaderValue::from_static(e));
        }
        r
    };
    let h = response.headers_mut();
    h.insert(header::ETAG, drawn.etag_header.clone());
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
            HeaderValue::from_static("Accept-Encoding, Cookie, Authorization"),
        );
    } else {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
        h.insert(header::VARY, HeaderValue::from_static("Accept-Encoding"));
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
        let etag = |b: &[u8]| CachedTile::new(b.to_vec()).etag;
        assert_eq!(etag(b"abc"), etag(b"abc"));
        assert_ne!(etag(b"abc"), etag(b"abd"));
    }

    #[test]
    fn encodings_follow_the_clients_preference() {
        let with = |v: &str| {
            let mut h = HeaderMap::new();
            h.insert(header::ACCEPT_ENCODING, HeaderValue::from_str(v).unwrap());
            negotiate(&h)
        };
        assert_eq!(with("gzip, deflate, br, zstd"), Encoding::Brotli);
        assert_eq!(with("gzip, br;q=0"), Encoding::Gzip);
        assert_eq!(with("identity"), Encoding::Identity);
        assert_eq!(negotiate(&HeaderMap::new()), Encoding::Identity);
    }
}
