//! Issue 12: security headers on every answer, CSRF refusal for cookie sessions, rate limits on
//! logins and writes, request ids, `/metrics` and what the request log leaves out.

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};

use common::{add_user, client, login, start_server, township_with_admin, Ground};
use cuntu_core::auth::Role;
use cuntu_store::testing::TestDatabase;
use reqwest::StatusCode;
use serde_json::Value;

/// Every log line of this test process.
fn log_lines() -> &'static Arc<Mutex<Vec<u8>>> {
    static LOG: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    LOG.get_or_init(|| {
        let buffer = Arc::new(Mutex::new(Vec::new()));
        let sink = buffer.clone();
        let _ = tracing_subscriber::fmt()
            .with_env_filter("info")
            .with_ansi(false)
            .with_writer(move || Sink(sink.clone()))
            .try_init();
        buffer
    })
}

struct Sink(Arc<Mutex<Vec<u8>>>);

impl Write for Sink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A server over a township with an admin and a worker; their ids and the township's.
async fn township_server() -> (TestDatabase, String, i64) {
    let db = TestDatabase::new().await.unwrap();
    let township = township_with_admin(&db.store, Ground::Square("安全镇")).await;
    add_user(
        &db.store,
        "leader",
        "leader-password",
        Role::Leader,
        township,
        &[],
    )
    .await;
    let base = start_server(db.store.clone()).await;
    (db, base, township)
}

async fn error_code(r: reqwest::Response) -> (StatusCode, String, String) {
    let status = r.status();
    let body: Value = r.json().await.unwrap_or(Value::Null);
    (
        status,
        body["error"]["code"].as_str().unwrap_or("").to_string(),
        body["error"]["message"].as_str().unwrap_or("").to_string(),
    )
}

#[tokio::test]
async fn every_answer_carries_the_security_headers_and_a_request_id() {
    let (_db, base, township) = township_server().await;
    let cookie = login(&base, "admin", "admin-password").await.unwrap();
    let requests = [
        client().get(format!("{base}/healthz")),
        client().get(format!("{base}/")),
        client().get(format!("{base}/tiles")),
        client().get(format!("{base}/api/summary")),
        client().get(format!("{base}/api/areas/{township}")),
        client().get(format!("{base}/api/no-such-thing")),
        client().get(format!("{base}/ogc/collections")),
        client().get(format!("{base}/api/docs")),
        client()
            .post(format!("{base}/api/notifications/read"))
            .header("cookie", &cookie),
        client()
            .post(format!("{base}/api/login"))
            .json(&serde_json::json!({"username": "nobody", "password": "x"})),
    ];
    let mut ids = std::collections::HashSet::new();
    for request in requests {
        let r = request.send().await.unwrap();
        let url = r.url().to_string();
        let h = r.headers();
        let csp = h["content-security-policy"].to_str().unwrap();
        for part in [
            "default-src 'self'",
            "script-src 'self'",
            "frame-ancestors 'none'",
            "worker-src 'self' blob:",
            "object-src 'none'",
        ] {
            assert!(csp.contains(part), "{url}: CSP {csp} lacks {part}");
        }
        assert!(!csp.contains("script-src 'self' 'unsafe"), "{url}: {csp}");
        assert_eq!(h["x-content-type-options"], "nosniff", "{url}");
        assert_eq!(h["x-frame-options"], "DENY", "{url}");
        assert_eq!(h["referrer-policy"], "same-origin", "{url}");
        let id = h["x-request-id"].to_str().unwrap().to_string();
        assert_eq!(id.len(), 36, "{url}: a UUID, got {id}");
        assert!(ids.insert(id), "{url}: request ids are fresh");
    }
    // A caller's own id (a proxy's) is kept and echoed.
    let r = client()
        .get(format!("{base}/healthz"))
        .header("x-request-id", "edge-7f3a")
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["x-request-id"], "edge-7f3a");
    // One that is long or not plain is replaced by a fresh one.
    for junk in ["a b c", "<script>alert(1)</script>", &"x".repeat(200)] {
        let r = client()
            .get(format!("{base}/healthz"))
            .header("x-request-id", junk)
            .send()
            .await
            .unwrap();
        let id = r.headers()["x-request-id"].to_str().unwrap();
        assert_ne!(id, junk);
        assert_eq!(id.len(), 36, "{id}");
    }
}

#[tokio::test]
async fn cross_site_writes_with_the_session_cookie_are_refused() {
    let (_db, base, _) = township_server().await;
    let cookie = login(&base, "admin", "admin-password").await.unwrap();
    let host = base.trim_start_matches("http://").to_string();

    // A forged logout from another site: refused in both languages, the session stays.
    for (lang, words) in [("zh-CN", "跨站"), ("en", "another site")] {
        let r = client()
            .post(format!("{base}/api/logout"))
            .header("cookie", &cookie)
            .header("origin", "https://evil.example")
            .header("accept-language", lang)
            .send()
            .await
            .unwrap();
        let (status, code, message) = error_code(r).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        assert_eq!(code, "cross_site");
        assert!(message.contains(words), "{lang}: {message}");
    }
    for site in ["cross-site", "same-site"] {
        let r = client()
            .post(format!("{base}/api/logout"))
            .header("cookie", &cookie)
            .header("sec-fetch-site", site)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "Sec-Fetch-Site: {site}");
    }
    let r = client()
        .post(format!("{base}/api/logout"))
        .header("cookie", &cookie)
        .header("origin", "null")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN, "Origin: null");
    let me = client()
        .get(format!("{base}/api/me"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(
        me.status(),
        StatusCode::OK,
        "the forged logouts did nothing"
    );

    // Reads are not affected; a login from another site is refused too.
    let r = client()
        .get(format!("{base}/api/me"))
        .header("cookie", &cookie)
        .header("sec-fetch-site", "cross-site")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let r = client()
        .post(format!("{base}/api/login"))
        .header("origin", "https://evil.example")
        .json(&serde_json::json!({"username": "admin", "password": "admin-password"}))
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(r).await.1, "cross_site");

    // Token requests are exempt: a browser never adds Authorization by itself.
    let r = client()
        .post(format!("{base}/api/logout"))
        .header("authorization", "Bearer not-a-real-token")
        .header("origin", "https://evil.example")
        .send()
        .await
        .unwrap();
    assert_ne!(error_code(r).await.1, "cross_site");

    // The page itself: same origin, by Origin or by Sec-Fetch-Site.
    let r = client()
        .post(format!("{base}/api/notifications/read"))
        .header("cookie", &cookie)
        .header("origin", format!("http://{host}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let r = client()
        .post(format!("{base}/api/logout"))
        .header("cookie", &cookie)
        .header("sec-fetch-site", "same-origin")
        .header("origin", format!("http://{host}"))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.status());
    let me = client()
        .get(format!("{base}/api/me"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), StatusCode::UNAUTHORIZED, "logged out");
}

#[tokio::test]
async fn logins_are_rate_limited_per_address_with_retry_after() {
    let (_db, base, _) = township_server().await;
    let mut statuses = Vec::new();
    let mut retry_after = None;
    for _ in 0..45 {
        let r = client()
            .post(format!("{base}/api/login"))
            .header("accept-language", "en")
            .json(&serde_json::json!({"username": "nobody", "password": "wrong-password"}))
            .send()
            .await
            .unwrap();
        if r.status() == StatusCode::TOO_MANY_REQUESTS {
            retry_after = r.headers().get("retry-after").cloned();
            let (_, code, message) = error_code(r).await;
            assert_eq!(code, "rate_limited");
            assert!(message.contains("try again"), "{message}");
            statuses.push(429);
        } else {
            statuses.push(r.status().as_u16());
        }
    }
    assert!(
        statuses[..30].iter().all(|s| *s == 401),
        "the first 30 are answered: {statuses:?}"
    );
    assert!(statuses[30..].contains(&429), "{statuses:?}");
    let seconds: u64 = retry_after
        .unwrap()
        .to_str()
        .unwrap()
        .parse()
        .expect("Retry-After in seconds");
    assert!(seconds >= 1);
    let limited = statuses.iter().filter(|s| **s == 429).count();
    println!("45 logins from one address: {limited} answered 429");
}

#[tokio::test]
async fn writes_are_rate_limited_per_client() {
    let (_db, base, _) = township_server().await;
    let admin = login(&base, "admin", "admin-password").await.unwrap();
    let leader = login(&base, "leader", "leader-password").await.unwrap();
    let mut limited = 0;
    let mut retry_after = None;
    for _ in 0..300 {
        let r = client()
            .post(format!("{base}/api/notifications/read"))
            .header("cookie", &admin)
            .send()
            .await
            .unwrap();
        match r.status() {
            StatusCode::OK => {}
            StatusCode::TOO_MANY_REQUESTS => {
                limited += 1;
                retry_after = r.headers().get("retry-after").cloned();
            }
            other => panic!("{other}"),
        }
    }
    assert!(limited > 0, "300 writes in a row meet the limit");
    assert!(retry_after.is_some());
    println!("300 writes by one session: {limited} answered 429");
    // Another client has its own budget; reads are not limited.
    let r = client()
        .post(format!("{base}/api/notifications/read"))
        .header("cookie", &leader)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let r = client()
        .get(format!("{base}/api/me"))
        .header("cookie", &admin)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
}

#[tokio::test]
async fn metrics_count_routes_by_template_and_read_deadlines_from_the_store() {
    let (db, base, township) = township_server().await;
    // One open incident past its deadline, one resolved past it, one not yet due.
    for (state, due) in [
        ("accepted", "now() - interval '1 day'"),
        ("resolved", "now() - interval '1 day'"),
        ("reported", "now() + interval '1 day'"),
    ] {
        sqlx::query(&format!(
            "INSERT INTO incidents (township_id, geom, category, grade, description, state, \
             due_at, reported_at) VALUES ($1, ST_SetSRID(ST_MakePoint(9.55, 47.15), 4326), \
             (SELECT code FROM incident_categories ORDER BY code LIMIT 1), 'normal', 'test', \
             $2, {due}, now())"
        ))
        .bind(township)
        .bind(state)
        .execute(db.store.pool())
        .await
        .unwrap();
    }
    // The same tile twice: made once, then answered from the tile cache.
    let tile = cuntu_core::tile::TileCoord::containing(12, 9.55, 47.15).unwrap();
    for _ in 0..2 {
        client()
            .get(format!("{base}/tiles/areas/12/{}/{}", tile.x, tile.y))
            .send()
            .await
            .unwrap();
    }
    for id in [township, 987_654_321] {
        client()
            .get(format!("{base}/api/areas/{id}"))
            .send()
            .await
            .unwrap();
    }
    let r = client()
        .get(format!("{base}/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/plain"));
    let text = r.text().await.unwrap();
    let line = |prefix: &str| {
        text.lines()
            .find(|l| l.starts_with(prefix))
            .unwrap_or_else(|| panic!("no {prefix} in\n{text}"))
            .to_string()
    };
    assert!(line("cuntu_http_requests_total{").contains("route="));
    assert!(
        text.lines()
            .any(|l| l.starts_with("cuntu_http_requests_total{")
                && l.contains("route=\"/api/areas/{id}\"")
                && l.contains("status=\"2xx\"")),
        "{text}"
    );
    assert!(
        text.lines()
            .any(|l| l.starts_with("cuntu_http_requests_total{")
                && l.contains("route=\"/api/areas/{id}\"")
                && l.contains("status=\"4xx\"")),
        "{text}"
    );
    assert!(
        !text.contains("/api/areas/987654321"),
        "raw URIs never label"
    );
    line("cuntu_http_request_duration_seconds_bucket{");
    let value = |l: String| -> f64 { l.rsplit(' ').next().unwrap().parse().unwrap() };
    assert!(value(line("cuntu_tile_cache_hits_total")) >= 1.0, "{text}");
    assert!(
        value(line("cuntu_tile_cache_misses_total")) >= 1.0,
        "{text}"
    );
    line("cuntu_db_pool_connections");
    line("cuntu_db_pool_idle_connections");
    assert_eq!(
        line("cuntu_incident_deadlines_missed"),
        "cuntu_incident_deadlines_missed 1"
    );
    assert_eq!(line("cuntu_database_up"), "cuntu_database_up 1");

    // Through a proxy the loopback is not trusted: a township admin only.
    let proxied = |cookie: Option<&str>| {
        let mut r = client()
            .get(format!("{base}/metrics"))
            .header("x-forwarded-for", "203.0.113.9");
        if let Some(c) = cookie {
            r = r.header("cookie", c.to_string());
        }
        r.send()
    };
    assert_eq!(
        proxied(None).await.unwrap().status(),
        StatusCode::UNAUTHORIZED
    );
    let leader = login(&base, "leader", "leader-password").await.unwrap();
    assert_eq!(
        proxied(Some(&leader)).await.unwrap().status(),
        StatusCode::FORBIDDEN
    );
    let admin = login(&base, "admin", "admin-password").await.unwrap();
    assert_eq!(
        proxied(Some(&admin)).await.unwrap().status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn the_request_log_has_ids_but_no_query_strings_or_bodies() {
    let log = log_lines();
    let (_db, base, _) = township_server().await;
    let cookie = login(&base, "admin", "admin-password").await.unwrap();
    let r = client()
        .get(format!("{base}/api/households/search?q=13912345678"))
        .header("cookie", &cookie)
        .header("x-request-id", "log-check-1")
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.status());
    client()
        .post(format!("{base}/api/login"))
        .header("x-request-id", "log-check-2")
        .json(&serde_json::json!({"username": "王秀英", "password": "secret-password-1"}))
        .send()
        .await
        .unwrap();
    let text = String::from_utf8(log.lock().unwrap().clone()).unwrap();
    let ours: Vec<&str> = text.lines().filter(|l| l.contains("log-check-")).collect();
    assert!(
        ours.iter()
            .any(|l| l.contains("log-check-1") && l.contains("/api/households/search")),
        "{text}"
    );
    assert!(ours
        .iter()
        .any(|l| l.contains("log-check-2") && l.contains("status=401")));
    for secret in ["13912345678", "王秀英", "secret-password-1"] {
        assert!(!text.contains(secret), "{secret} is in the log:\n{text}");
    }
}
