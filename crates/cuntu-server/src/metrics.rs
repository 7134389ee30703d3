//! `/metrics` in the Prometheus text format, and the request log's span.
//!
//! Figures are kept by the `metrics` facade with `metrics-exporter-prometheus` as the one
//! recorder of the process (installed on first use): any module counts with one call and no
//! handle to pass around, and the exporter renders histograms and counters in the text format
//! without its HTTP listener (we serve `/metrics` ourselves, behind our own access rule).
//!
//! Labels are bounded: the route is the router's template (`/api/areas/{id}`, never the raw
//! URI), `(web)` for the static front end, the method one of the standard ones or `other`,
//! the status its class (`2xx`...). Pool use and the missed incident deadlines are read at
//! scrape time.
//!
//! Who may read it: a client on the loopback interface that came straight in (no
//! `X-Forwarded-For`/`Forwarded`: a proxy on the same host forwarding the world is not the
//! loopback), or a township admin by session or token. Others get 401/403.

use std::net::SocketAddr;
use std::sync::OnceLock;
use std::time::Instant;

use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Extension;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use crate::auth::Viewer;
use crate::error::ApiError;
use crate::AppState;

pub const REQUESTS: &str = "cuntu_http_requests_total";
pub const DURATION: &str = "cuntu_http_request_duration_seconds";
pub const TILE_CACHE_HITS: &str = "cuntu_tile_cache_hits_total";
pub const TILE_CACHE_MISSES: &str = "cuntu_tile_cache_misses_total";
pub const POOL_SIZE: &str = "cuntu_db_pool_connections";
pub const POOL_IDLE: &str = "cuntu_db_pool_idle_connections";
pub const DEADLINES_MISSED: &str = "cuntu_incident_deadlines_missed";
pub const DATABASE_UP: &str = "cuntu_database_up";

const BUCKETS: [f64; 12] = [
    0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// The process's recorder, installed on first call.
fn handle() -> &'static PrometheusHandle {
    HANDLE.get_or_init(|| {
        let recorder = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Full(DURATION.into()), &BUCKETS)
            .unwrap_or_else(|_| PrometheusBuilder::new())
            .build_recorder();
        let handle = recorder.handle();
        if ::metrics::set_global_recorder(recorder).is_err() {
            tracing::warn!("another metrics recorder is installed: /metrics stays empty");
        }
        ::metrics::describe_counter!(
            REQUESTS,
            "HTTP requests by method, route template and status class"
        );
        ::metrics::describe_histogram!(
            DURATION,
            ::metrics::Unit::Seconds,
            "HTTP request latency by method and route template"
        );
        ::metrics::describe_counter!(TILE_CACHE_HITS, "Tiles answered from the tile cache");
        ::metrics::describe_counter!(TILE_CACHE_MISSES, "Tiles the tile cache had to make");
        ::metrics::describe_gauge!(POOL_SIZE, "Database connections open in the pool");
        ::metrics::describe_gauge!(POOL_IDLE, "Database connections idle in the pool");
        ::metrics::describe_gauge!(
            DEADLINES_MISSED,
            "Open incidents past their deadline (read at scrape time)"
        );
        ::metrics::describe_gauge!(DATABASE_UP, "1 when the database answered the scrape");
        // Present from the start, at zero.
        ::metrics::counter!(TILE_CACHE_HITS).increment(0);
        ::metrics::counter!(TILE_CACHE_MISSES).increment(0);
        handle
    })
}

/// Installs the recorder (idempotent); the router calls it once.
pub fn init() {
    handle();
}

/// One tile answered by the tile cache (`hit`) or made for it.
pub fn tile_cache(hit: bool) {
    // Handles made once: the registry lookup behind `counter!` cost more than a cached tile.
    static HANDLES: OnceLock<[::metrics::Counter; 2]> = OnceLock::new();
    let [hits, misses] = HANDLES.get_or_init(|| {
        // The recorder first, or the handles would count into nothing.
        handle();
        [
            ::metrics::counter!(TILE_CACHE_HITS),
            ::metrics::counter!(TILE_CACHE_MISSES),
        ]
    });
    if hit { hits } else { misses }.increment(1);
}

fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

/// Counts and times every request by its route template (a `Router::layer`, so the router
/// has matched the path when it runs).
pub async fn track(request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "(web)".to_owned());
    let method = method_label(request.method());
    let started = Instant::now();
    let response = next.run(request).await;
    let status = match response.status().as_u16() {
        100..=199 => "1xx",
        200..=299 => "2xx",
        300..=399 => "3xx",
        400..=499 => "4xx",
        _ => "5xx",
    };
    ::metrics::counter!(REQUESTS, "method" => method, "route" => route.clone(), "status" => status)
        .increment(1);
    ::metrics::histogram!(DURATION, "method" => method, "route" => route)
        .record(started.elapsed().as_secs_f64());
    response
}

/// The route template of the tile endpoint, as [`track`] labels it.
pub const TILE_ROUTE: &str = "/tiles/{layer}/{z}/{x}/{y}";

/// One `GET` tile answered, with its status and time: the same series [`track`] keeps, through
/// handles made once, because the label lookup cost more than a cached tile.
pub fn tile_request(status: StatusCode, elapsed: std::time::Duration) {
    static HANDLES: OnceLock<([::metrics::Counter; 5], ::metrics::Histogram)> = OnceLock::new();
    let (counters, histogram) = HANDLES.get_or_init(|| {
        handle();
        let counter = |class: &'static str| {
            ::metrics::counter!(REQUESTS, "method" => "GET", "route" => TILE_ROUTE, "status" => class)
        };
        (
            [
                counter("1xx"),
                counter("2xx"),
                counter("3xx"),
                counter("4xx"),
                counter("5xx"),
            ],
            ::metrics::histogram!(DURATION, "method" => "GET", "route" => TILE_ROUTE),
        )
    });
    let class = usize::from(status.as_u16() / 100).clamp(1, 5) - 1;
    counters[class].increment(1);
    histogram.record(elapsed.as_secs_f64());
}

/// Whether the peer came straight in over loopback (no proxy between).
fn direct_loopback(peer: Option<SocketAddr>, headers: &HeaderMap) -> bool {
    peer.is_some_and(|p| p.ip().is_loopback())
        && !headers.contains_key("x-forwarded-for")
        && !headers.contains_key(header::FORWARDED)
}

/// `GET /metrics`.
pub async fn scrape(
    State(state): State<AppState>,
    viewer: Viewer,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    if !direct_loopback(peer.map(|Extension(c)| c.0), &headers) {
        let account = viewer.account.as_ref().ok_or(ApiError::Unauthorized)?;
        let admin = account
            .assignments()
            .iter()
            .any(|a| a.role == cuntu_core::auth::Role::TownshipAdmin);
        if !admin {
            return Err(ApiError::Forbidden);
        }
    }
    let pool = state.store.pool();
    ::metrics::gauge!(POOL_SIZE).set(f64::from(pool.size()));
    ::metrics::gauge!(POOL_IDLE).set(pool.num_idle() as f64);
    match state.store.overdue_incidents(state.clock.now()).await {
        Ok(n) => {
            ::metrics::gauge!(DEADLINES_MISSED).set(n as f64);
            ::metrics::gauge!(DATABASE_UP).set(1.0);
        }
        Err(e) => {
            tracing::warn!("metrics: the database did not answer: {e}");
            ::metrics::gauge!(DATABASE_UP).set(0.0);
        }
    }
    let mut response = (StatusCode::OK, handle().render()).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

/// The span of one request in the log: its id, method and path. Never the query string (it
/// may hold a name or a phone number searched for), never a header or the body.
pub fn span(request: &Request) -> tracing::Span {
    let id = request
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("-");
    tracing::info_span!(
        "request",
        id = %id,
        method = %request.method(),
        path = %request.uri().path(),
    )
}

/// The log line of a finished request (inside its span).
pub fn on_response(response: &Response, latency: std::time::Duration, _span: &tracing::Span) {
    tracing::info!(
        status = response.status().as_u16(),
        ms = latency.as_millis() as u64,
        "answered"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_direct_loopback_peer_is_trusted() {
        let local: SocketAddr = "127.0.0.1:5000".parse().unwrap();
        let remote: SocketAddr = "192.0.2.7:5000".parse().unwrap();
        let mut forwarded = HeaderMap::new();
        forwarded.insert("x-forwarded-for", HeaderValue::from_static("198.51.100.1"));
        assert!(direct_loopback(Some(local), &HeaderMap::new()));
        assert!(!direct_loopback(Some(local), &forwarded));
        assert!(!direct_loopback(Some(remote), &HeaderMap::new()));
        assert!(!direct_loopback(None, &HeaderMap::new()));
    }
}
