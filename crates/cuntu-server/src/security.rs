//! What every request passes before a handler: the cross-site check for cookie sessions,
//! rate limits on logins and writes, the request's time limit; and the security headers of
//! every answer.
//!
//! - CSRF: an unsafe method (POST, PUT, PATCH, DELETE) that carries the session cookie, and
//!   every login, is refused (403, `cross_site`) when the browser says it comes from another
//!   site: `Sec-Fetch-Site` other than `same-origin`/`none`, or an `Origin` whose host is not
//!   the request's `Host` (or `X-Forwarded-Host`). Requests with an `Authorization` header
//!   (bearer or Basic tokens) are exempt: a browser never adds one by itself. Requests without
//!   either header (curl, QGIS, older clients) pass: only a browser can be made to forge, and
//!   browsers send them. The session cookie is `SameSite=Strict` as well.
//! - Rate limits, token buckets in memory per server process: logins per client address,
//!   writes per client (its session cookie or token, else its address). 429 with `Retry-After`.
//! - Time limit: a request not answered in [`Guard::timeout`] is dropped (its transaction is
//!   rolled back with it) and answered 503 `timed_out`; imports get [`Guard::upload_timeout`].
//! - Body size: no request body beyond [`MAX_BODY_BYTES`] (routes set lower limits of their
//!   own; the JSON default is 2 MB).

use std::collections::hash_map::DefaultHasher;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::auth::SESSION_COOKIE;
use crate::error::ApiError;

/// The largest request body any route takes (imports take 50 MB).
pub const MAX_BODY_BYTES: usize = 64 * 1024 * 1024;

/// The page may load scripts, styles, fonts, data and workers from its own origin only.
/// MapLibre makes its worker from a `blob:` URL and some images from `data:`/`blob:`; the
/// server's own HTML pages and MapLibre set inline styles.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; \
     style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; font-src 'self' data:; \
     connect-src 'self'; worker-src 'self' blob:; child-src 'self' blob:; object-src 'none'; \
     base-uri 'self'; form-action 'self'; frame-ancestors 'none'";

/// The security headers of every answer (a handler's own value wins).
pub fn headers() -> [(HeaderName, HeaderValue); 5] {
    [
        (
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CONTENT_SECURITY_POLICY),
        ),
        (header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY")),
        (
            header::REFERRER_POLICY,
            HeaderValue::from_static("same-origin"),
        ),
        (
            HeaderName::from_static("cross-origin-opener-policy"),
            HeaderValue::from_static("same-origin"),
        ),
        (
            HeaderName::from_static("permissions-policy"),
            HeaderValue::from_static("geolocation=(self), camera=(self), microphone=()"),
        ),
    ]
}

/// Adds [`headers`] to every response that does not set them.
pub async fn add_headers(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let map = response.headers_mut();
    for (name, value) in headers() {
        if !map.contains_key(&name) {
            map.insert(name, value);
        }
    }
    map.entry(header::X_CONTENT_TYPE_OPTIONS)
        .or_insert(HeaderValue::from_static("nosniff"));
    response
}

/// The one layer in front of `GET /tiles/{layer}/{z}/{x}/{y}`, instead of the general stack.
///
/// A map asks for dozens of tiles a view and a county's maps for thousands a second, nearly all
/// answered from the tile cache in microseconds, so the general layers (trace span, body limit,
/// compression of already compressed bytes, the write guard, per-request metric label lookups)
/// cost more than the answer. Tiles keep what those layers give a client: the security headers,
/// a request id (the caller's when acceptable, else a fresh UUID), errors in the caller's
/// language, and the route's request count and latency in `/metrics`. Tiles are reads, so the
/// guard's write limits and the read-your-writes barrier have nothing to do here.
pub async fn tile_edge(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let lang = request.headers().get(header::ACCEPT_LANGUAGE).cloned();
    let request_id = request
        .headers()
        .get("x-request-id")
        .filter(|v| acceptable_request_id(v.as_bytes()))
        .cloned()
        .unwrap_or_else(fresh_request_id);
    let mut response = next.run(request).await;
    if !response.status().is_success() && response.status() != StatusCode::NOT_MODIFIED {
        let lang = lang
            .as_ref()
            .and_then(|v| v.to_str().ok())
            .map(crate::i18n::Lang::from_accept_language)
            .unwrap_or(crate::i18n::Lang::Zh);
        response = crate::error::in_language(lang, response);
    }
    let map = response.headers_mut();
    for (name, value) in headers() {
        map.entry(name).or_insert(value);
    }
    map.entry(header::X_CONTENT_TYPE_OPTIONS)
        .or_insert(HeaderValue::from_static("nosniff"));
    map.insert("x-request-id", request_id);
    crate::metrics::tile_request(response.status(), started.elapsed());
    response
}

/// A random (version 4) UUID from the thread's user-space generator: the general stack's
/// `MakeRequestUuid` asks the kernel (`getrandom`) once per request, 2 % of a cached tile.
fn fresh_request_id() -> HeaderValue {
    let bits: u128 = rand::random();
    let bits = (bits & !(0xf << 76) & !(0x3 << 62)) | (0x4 << 76) | (0x2 << 62);
    let hex = format!("{bits:032x}");
    let id = format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    );
    HeaderValue::from_str(&id).unwrap_or(HeaderValue::from_static("-"))
}

/// Whether a caller's `x-request-id` may stand as ours: 1 to 64 of `A-Z a-z 0-9 . _ : -`.
pub fn acceptable_request_id(id: &[u8]) -> bool {
    (1..=64).contains(&id.len())
        && id
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-'))
}

/// Drops a caller's `x-request-id` that is not [`acceptable_request_id`], so a fresh one is
/// made: what reaches the log and the response is short and plain.
pub async fn clean_request_id(mut request: Request, next: Next) -> Response {
    let bad = request
        .headers()
        .get("x-request-id")
        .is_some_and(|v| !acceptable_request_id(v.as_bytes()));
    if bad {
        request.headers_mut().remove("x-request-id");
    }
    next.run(request).await
}

/// A token bucket per key: `burst` requests at once, then `per_second`.
#[derive(Debug)]
pub struct Limiter {
    burst: f64,
    per_second: f64,
    buckets: Mutex<HashMap<u64, (f64, Instant)>>,
}

impl Limiter {
    pub fn new(burst: u32, per_second: f64) -> Self {
        Limiter {
            burst: f64::from(burst),
            per_second,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes one token for `key`, or says in how many whole seconds one will be there.
    pub fn take(&self, key: u64) -> Result<(), u64> {
        let now = Instant::now();
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        if buckets.len() > 50_000 {
            // Forget the clients whose buckets have filled up again.
            let (burst, rate) = (self.burst, self.per_second);
            buckets.retain(|_, (tokens, at)| {
                *tokens + now.duration_since(*at).as_secs_f64() * rate < burst
            });
        }
        let (tokens, at) = buckets.entry(key).or_insert((self.burst, now));
        *tokens =
            (*tokens + now.duration_since(*at).as_secs_f64() * self.per_second).min(self.burst);
        *at = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            Ok(())
        } else {
            Err(((1.0 - *tokens) / self.per_second).ceil().max(1.0) as u64)
        }
    }
}

/// The state of [`guard`]: the limits of one server process.
#[derive(Debug, Clone)]
pub struct Guard {
    pub logins: Arc<Limiter>,
    pub writes: Arc<Limiter>,
    pub timeout: Duration,
    pub upload_timeout: Duration,
}

impl Default for Guard {
    /// Logins: 30 at once per address, then one every 2 s. Writes: 200 at once per client,
    /// then 20 a second. Answers within 60 s, imports within 15 minutes.
    fn default() -> Self {
        Guard {
            logins: Arc::new(Limiter::new(30, 0.5)),
            writes: Arc::new(Limiter::new(200, 20.0)),
            timeout: Duration::from_secs(60),
            upload_timeout: Duration::from_secs(15 * 60),
        }
    }
}

impl Guard {
    /// The default limits, or none with `CUNTU_RATE_LIMITS=off` (load tests, benchmarks, the
    /// injection test; never in production).
    pub fn from_env() -> Self {
        let guard = Guard::default();
        if std::env::var("CUNTU_RATE_LIMITS").is_ok_and(|v| v == "off") {
            tracing::warn!("CUNTU_RATE_LIMITS=off: logins and writes are not rate limited");
            return Guard {
                logins: Arc::new(Limiter::new(u32::MAX, 1e9)),
                writes: Arc::new(Limiter::new(u32::MAX, 1e9)),
                ..guard
            };
        }
        guard
    }
}

fn hashed(parts: &[&[u8]]) -> u64 {
    let mut h = DefaultHasher::new();
    for p in parts {
        p.hash(&mut h);
    }
    h.finish()
}

fn session_cookie(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .find(|(name, _)| *name == SESSION_COOKIE)
        .map(|(_, value)| value)
}

/// Whether the browser says this request comes from another site.
pub fn cross_site(headers: &HeaderMap) -> bool {
    if let Some(site) = headers.get("sec-fetch-site") {
        return !matches!(site.as_bytes(), b"same-origin" | b"none");
    }
    let Some(origin) = headers.get(header::ORIGIN) else {
        return false;
    };
    let Some(origin_host) = origin
        .to_str()
        .ok()
        .and_then(|o| o.split_once("://"))
        .map(|(_, host)| host.trim_end_matches('/'))
    else {
        // `Origin: null` (a sandboxed frame, a file) or garbage.
        return true;
    };
    let hosts = [header::HOST, HeaderName::from_static("x-forwarded-host")];
    !hosts.iter().any(|name| {
        headers
            .get(name)
            .and_then(|h| h.to_str().ok())
            .is_some_and(|h| h.eq_ignore_ascii_case(origin_host))
    })
}

fn unsafe_method(method: &Method) -> bool {
    !matches!(
        *method,
        Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE
    )
}

fn too_many(seconds: u64) -> Response {
    let mut response = ApiError::TooManyRequests { seconds }.into_response();
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
    response
}

/// CSRF check, rate limits and the time limit (a `Router::layer`, inside `localize`).
pub async fn guard(State(guard): State<Guard>, request: Request, next: Next) -> Response {
    let headers = request.headers();
    let login = request.uri().path() == "/api/login";
    let writes = unsafe_method(request.method());
    let token = headers.contains_key(header::AUTHORIZATION);
    let cookie = session_cookie(headers);
    if writes && !token && (cookie.is_some() || login) && cross_site(headers) {
        return ApiError::CrossSite.into_response();
    }
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip().to_string())
        .unwrap_or_default();
    if login && writes {
        if let Err(seconds) = guard.logins.take(hashed(&[b"ip", peer.as_bytes()])) {
            return too_many(seconds);
        }
    } else if writes {
        let key = match (headers.get(header::AUTHORIZATION), cookie) {
            (Some(authorization), _) => hashed(&[b"token", authorization.as_bytes()]),
            (None, Some(session)) => hashed(&[b"session", session.as_bytes()]),
            (None, None) => hashed(&[b"ip", peer.as_bytes()]),
        };
        if let Err(seconds) = guard.writes.take(key) {
            return too_many(seconds);
        }
    }
    let limit = if request.uri().path().starts_with("/api/imports") {
        guard.upload_timeout
    } else {
        guard.timeout
    };
    match tokio::time::timeout(limit, next.run(request)).await {
        Ok(response) => response,
        Err(_) => ApiError::TimedOut {
            seconds: limit.as_secs(),
        }
        .into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::routing::{get, post};
    use axum::Router;
    use tower::ServiceExt;

    #[test]
    fn fresh_request_ids_are_version_4_uuids_and_differ() {
        let a = fresh_request_id();
        let b = fresh_request_id();
        assert_ne!(a, b);
        let a = a.to_str().unwrap();
        assert_eq!(a.len(), 36, "{a}");
        assert!(acceptable_request_id(a.as_bytes()));
        let parts: Vec<&str> = a.split('-').collect();
        assert_eq!(
            parts.iter().map(|p| p.len()).collect::<Vec<_>>(),
            [8, 4, 4, 4, 12]
        );
        assert!(parts[2].starts_with('4'), "version 4: {a}");
        assert!(
            matches!(&parts[3][..1], "8" | "9" | "a" | "b"),
            "variant: {a}"
        );
    }

    fn with(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn cross_site_by_fetch_metadata_then_origin() {
        assert!(!cross_site(&with(&[])));
        assert!(!cross_site(&with(&[("sec-fetch-site", "same-origin")])));
        assert!(!cross_site(&with(&[("sec-fetch-site", "none")])));
        assert!(cross_site(&with(&[("sec-fetch-site", "cross-site")])));
        assert!(cross_site(&with(&[("sec-fetch-site", "same-site")])));
        let host = ("host", "cuntu.example:8080");
        assert!(!cross_site(&with(&[
            host,
            ("origin", "https://cuntu.example:8080")
        ])));
        assert!(cross_site(&with(&[
            host,
            ("origin", "https://evil.example")
        ])));
        assert!(cross_site(&with(&[host, ("origin", "null")])));
        assert!(!cross_site(&with(&[
            ("host", "127.0.0.1:9000"),
            ("x-forwarded-host", "cuntu.example"),
            ("origin", "https://cuntu.example")
        ])));
    }

    #[test]
    fn request_ids_are_short_and_plain() {
        assert!(acceptable_request_id(b"edge-7f3a"));
        assert!(acceptable_request_id(
            b"0b6c1f2e-1d0a-4c1e-9f7e-3b0c6f9d8a21"
        ));
        assert!(!acceptable_request_id(b""));
        assert!(!acceptable_request_id(b"a b"));
        assert!(!acceptable_request_id(b"<script>"));
        assert!(!acceptable_request_id(&[b'a'; 65]));
    }

    #[test]
    fn a_bucket_empties_and_says_when_to_come_back() {
        let limiter = Limiter::new(3, 0.5);
        assert!((0..3).all(|_| limiter.take(1).is_ok()));
        assert_eq!(limiter.take(1), Err(2));
        assert!(limiter.take(2).is_ok(), "another client has its own bucket");
    }

    fn app(guard: Guard) -> Router {
        Router::new()
            .route(
                "/slow",
                get(|| async {
                    tokio::time::sleep(Duration::from_secs(30)).await;
                    "late"
                }),
            )
            .route("/echo", post(|body: String| async move { body }))
            .layer(axum::middleware::from_fn_with_state(guard, super::guard))
            .layer(tower_http::limit::RequestBodyLimitLayer::new(1024))
    }

    #[tokio::test]
    async fn a_slow_request_is_cut_off_with_503() {
        let guard = Guard {
            timeout: Duration::from_millis(50),
            ..Guard::default()
        };
        let response = app(guard)
            .oneshot(Request::get("/slow").body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(response.status(), 503);
    }

    #[tokio::test]
    async fn a_body_over_the_limit_is_refused_with_413() {
        let response = app(Guard::default())
            .oneshot(
                Request::post("/echo")
                    .body(Body::from(vec![b'x'; 2048]))
                    .unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(response.status(), 413);
        let response = app(Guard::default())
            .oneshot(Request::post("/echo").body(Body::from("fine")).unwrap())
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
    }
}
