//! One router per resource, merged here; the web build is served for everything else.

mod api;
mod exports;
mod grid_edits;
pub(crate) mod grid_layer;
mod health;
mod households;
mod imports;
mod incidents;
mod leader;
pub(crate) mod notifications;
mod ogc;
mod open311;
mod route;
mod session;
mod tiles;
mod worker;

use axum::http::{header, HeaderValue, Uri};
use axum::routing::get;
use axum::{middleware, Router};
use tower_http::compression::CompressionLayer;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::services::{ServeDir, ServeFile};
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::trace::TraceLayer;

use axum::extract::rejection::JsonRejection;
use axum::Json;

use crate::auth::Viewer;
use crate::error::{localize, ApiError};
use crate::AppState;

pub fn router(state: AppState) -> Router {
    crate::metrics::init();
    let index_html = state.web_dir.join("index.html");
    // Pages of the single-page front end (/, /worker, later /leader) all get index.html.
    // `fallback` (not `not_found_service`) so that /login and the other pages answer 200.
    let web = ServeDir::new(&state.web_dir).fallback(ServeFile::new(index_html));
    // JSON answers may carry personal data and depend on the session: no cache keeps them.
    let json_api = Router::new()
        .merge(api::router())
        .merge(session::router())
        .merge(households::router())
        .merge(imports::router())
        .merge(exports::router())
        .merge(grid_edits::router())
        .merge(grid_layer::router())
        .merge(worker::router())
        .merge(route::router())
        .merge(leader::router())
        .merge(incidents::router())
        .merge(notifications::router())
        .merge(ogc::router())
        .route("/api/{*rest}", get(api_not_found))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::CACHE_CONTROL,
            HeaderValue::from_static("no-store"),
        ));
    // Tiles skip the general stack below for one lean layer: security::tile_edge says why.
    let tile_route = tiles::tile_router()
        .with_state(state.clone())
        .layer(middleware::from_fn(crate::security::tile_edge));
    let general = Router::new()
        .route("/healthz", get(health::healthz))
        .route("/metrics", get(crate::metrics::scrape))
        .merge(tiles::router())
        .merge(open311::router())
        .merge(json_api)
        .merge(grid_layer::pages())
        .layer(middleware::from_fn_with_state(
            state.clone(),
            crate::index::read_your_writes,
        ))
        .with_state(state)
        .fallback_service(web)
        // security.rs and metrics.rs say what these do and in which order.
        .layer(middleware::from_fn_with_state(
            crate::security::Guard::from_env(),
            crate::security::guard,
        ))
        .layer(middleware::from_fn(crate::metrics::track))
        .layer(middleware::from_fn(localize))
        .layer(middleware::from_fn(crate::security::add_headers))
        .layer(RequestBodyLimitLayer::new(crate::security::MAX_BODY_BYTES))
        .layer(CompressionLayer::new())
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(crate::metrics::span)
                .on_response(crate::metrics::on_response),
        )
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
        .layer(middleware::from_fn(crate::security::clean_request_id));
    Router::new().merge(tile_route).fallback_service(general)
}

async fn api_not_found(uri: Uri) -> ApiError {
    ApiError::NotFound {
        what_zh: format!("接口 {}", uri.path()),
        what_en: format!("The endpoint {}", uri.path()),
    }
}

/// A 400 with its message in both languages.
pub(crate) fn bad(zh: impl Into<String>, en: impl Into<String>) -> ApiError {
    ApiError::BadQuery {
        zh: zh.into(),
        en: en.into(),
    }
}

/// The JSON body of a request, or a 400 that says what is wrong with it.
pub(crate) fn json_body<T>(request: Result<Json<T>, JsonRejection>) -> Result<T, ApiError> {
    request.map(|Json(b)| b).map_err(|e| {
        bad(
            format!("请求内容无法读取：{}", e.body_text()),
            format!("The request body cannot be read: {}", e.body_text()),
        )
    })
}

/// The townships holding the caller's areas (the roots of the area tree above them).
pub(crate) async fn townships_of(state: &AppState, viewer: &Viewer) -> Vec<i64> {
    let index = state.index.read().await;
    let mut out: Vec<i64> = viewer
        .assignments()
        .iter()
        .filter_map(|a| {
            let mut id = a.area_id;
            for _ in 0..8 {
                let area = index.areas.get(id)?;
                match area.data.parent_id {
                    Some(p) => id = p,
                    None => return Some(id),
                }
            }
            None
        })
        .collect();
    out.sort_unstable();
    out.dedup();
    out
}

/// A longitude and latitude in range (EPSG:4326).
pub(crate) fn valid_lon_lat(lon: f64, lat: f64) -> bool {
    lon.is_finite() && lat.is_finite() && lon.abs() <= 180.0 && lat.abs() <= 90.0
}

/// A file to download. RFC 6266: `ascii_name` for clients that read only `filename`, and the
/// (possibly Chinese) `name` as UTF-8 in `filename*`.
pub(crate) fn attachment(
    content_type: &str,
    ascii_name: &str,
    name: &str,
    body: Vec<u8>,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let disposition = format!(
        "attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{}",
        percent_encode(name)
    );
    (
        axum::http::StatusCode::OK,
        [
            (header::CONTENT_TYPE, content_type.to_string()),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        body,
    )
        .into_response()
}

/// A value as a URL or a header's `filename*` takes it: unreserved bytes as they are, the
/// rest as %XX.
pub(crate) fn percent_encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
