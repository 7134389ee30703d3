//! Helpers shared by the HTTP tests: a server on a free port, the demo township, JSON calls.
#![allow(dead_code)]

use std::path::PathBuf;

use cuntu_core::TileCoord;

use cuntu_core::demo::{plan, DemoNaming};
use cuntu_core::gridding::GridRule;
use cuntu_gdal::{divisions, osm};
use cuntu_store::testing::workspace_data_dir;
use cuntu_store::Store;
use reqwest::StatusCode;
use serde_json::Value;

pub async fn start_server(store: Store) -> String {
    let state = cuntu_server::prepare(store, PathBuf::from("/nonexistent"))
        .await
        .expect("state");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(
            listener,
            cuntu_server::router(state)
                .into_make_service_with_connect_info::<std::net::SocketAddr>(),
        )
        .await
    });
    format!("http://{addr}")
}

pub async fn load_demo(store: &Store) {
    let data = workspace_data_dir();
    let rows = divisions::read_divisions(&data.join("seed-county-130111.csv")).unwrap();
    let naming = DemoNaming {
        township_admin_level: 6,
        village_admin_level: 8,
        townships: vec![
            divisions::villages_of(&rows, "130111103").unwrap(),
            divisions::villages_of(&rows, "130111104").unwrap(),
        ],
    };
    let extract = osm::read_extract(
        &data.join("liechtenstein-2022-07-24.osm.pbf"),
        &data.join("osmconf.ini"),
    )
    .unwrap();
    let p = plan(&extract, &naming, &GridRule::default(), 2022);
    store
        .load_demo("demo-township", "test", &p)
        .await
        .expect("demo loads");
}

/// A township square around (9.55, 47.15), written straight to the database.
pub async fn insert_township(store: &Store, name: &str) {
    sqlx::query(
        "INSERT INTO areas (kind, code, name, geom) VALUES ('township', 'T', $1, \
         ST_Multi(ST_GeomFromText('POLYGON((9.5 47.1, 9.6 47.1, 9.6 47.2, 9.5 47.2, 9.5 47.1))', 4326)))",
    )
    .bind(name)
    .execute(store.pool())
    .await
    .unwrap();
}

/// Whether `check` turns true within ten seconds.
pub async fn eventually<F, Fut>(check: F) -> bool
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..100 {
        if check().await {
            return true;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    false
}

pub fn client() -> reqwest::Client {
    reqwest::Client::new()
}

pub async fn json(url: &str, lang: &str) -> (StatusCode, Value) {
    let r = client()
        .get(url)
        .header("accept-language", lang)
        .send()
        .await
        .unwrap();
    let status = r.status();
    (status, r.json().await.unwrap_or(Value::Null))
}

/// A user with one role, created straight in the store.
pub async fn add_user(
    store: &Store,
    username: &str,
    password: &str,
    role: cuntu_core::auth::Role,
    area_id: i64,
    grants: &[cuntu_core::auth::Grant],
) -> i64 {
    let hash = cuntu_server::auth::hash_password(password).unwrap();
    let id = store.create_user(username, username, &hash).await.unwrap();
    store.grant_role(id, role, area_id, grants).await.unwrap();
    id
}

/// Logs in and returns the `Cookie` header value of the session, or the failed response.
pub async fn login(
    base: &str,
    username: &str,
    password: &str,
) -> Result<String, (StatusCode, Value)> {
    let r = client()
        .post(format!("{base}/api/login"))
        .header("accept-language", "zh-CN")
        .json(&serde_json::json!({ "username": username, "password": password }))
        .send()
        .await
        .unwrap();
    if r.status() != StatusCode::OK {
        let status = r.status();
        return Err((status, r.json().await.unwrap_or(Value::Null)));
    }
    let cookie = r.headers()["set-cookie"].to_str().unwrap().to_string();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    Ok(cookie.split(';').next().unwrap().to_string())
}

/// GET with an optional session cookie: status and JSON body (Null when not JSON).
pub async fn get_as(url: &str, cookie: Option<&str>) -> (StatusCode, Value) {
    let mut request = client().get(url).header("accept-language", "zh-CN");
    if let Some(c) = cookie {
        request = request.header("cookie", c);
    }
    let r = request.send().await.unwrap();
    let status = r.status();
    (status, r.json().await.unwrap_or(Value::Null))
}

/// The household features of one tile as a viewer gets them: `(id, grid_id)` pairs.
pub async fn household_tile(base: &str, tile: TileCoord, cookie: Option<&str>) -> Vec<(i64, i64)> {
    let mut request = client().get(format!(
        "{base}/tiles/households/{}/{}/{}",
        tile.z, tile.x, tile.y
    ));
    if let Some(c) = cookie {
        request = request.header("cookie", c);
    }
    let r = request.send().await.unwrap();
    if r.status() == StatusCode::NO_CONTENT {
        return Vec::new();
    }
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.headers()["cache-control"]
        .to_str()
        .unwrap()
        .contains("private"));
    let reader = mvt_reader::Reader::new(r.bytes().await.unwrap().to_vec()).unwrap();
    let number = |v: Option<&mvt_reader::feature::Value>| -> i64 {
        match v {
            Some(mvt_reader::feature::Value::Int(i)) => *i,
            Some(mvt_reader::feature::Value::UInt(u)) => *u as i64,
            Some(mvt_reader::feature::Value::SInt(s)) => *s,
            other => panic!("not an integer: {other:?}"),
        }
    };
    reader
        .get_features(0)
        .unwrap()
        .iter()
        .map(|f| {
            let p = f.properties.as_ref().unwrap();
            (number(p.get("id")), number(p.get("grid_id")))
        })
        .collect()
}

/// An area written straight to the database (its tree rules still apply); its id.
pub async fn insert_area(
    store: &Store,
    kind: &str,
    parent: Option<i64>,
    code: &str,
    name: &str,
    wkt: &str,
) -> i64 {
    sqlx::query_scalar::<_, i64>(
        "INSERT INTO areas (kind, parent_id, code, name, geom) \
         VALUES ($1, $2, $3, $4, ST_Multi(ST_GeomFromText($5, 4326))) RETURNING id",
    )
    .bind(kind)
    .bind(parent)
    .bind(code)
    .bind(name)
    .bind(wkt)
    .fetch_one(store.pool())
    .await
    .unwrap()
}

/// 花山镇 › 花山村 near Wuhan (where GCJ-02 applies), split into two grids, 网格01 in the west
/// and 网格02 in the east: (township, village, west, east).
pub async fn huashan(store: &Store) -> (i64, i64, i64, i64) {
    let t = insert_area(
        store,
        "township",
        None,
        "T",
        "花山镇",
        "POLYGON((114.30 30.60, 114.34 30.60, 114.34 30.64, 114.30 30.64, 114.30 30.60))",
    )
    .await;
    let v = insert_area(
        store,
        "village",
        Some(t),
        "V",
        "花山村",
        "POLYGON((114.30 30.60, 114.32 30.60, 114.32 30.62, 114.30 30.62, 114.30 30.60))",
    )
    .await;
    let west = insert_area(
        store,
        "grid",
        Some(v),
        "V-01",
        "网格01",
        "POLYGON((114.30 30.60, 114.31 30.60, 114.31 30.62, 114.30 30.62, 114.30 30.60))",
    )
    .await;
    let east = insert_area(
        store,
        "grid",
        Some(v),
        "V-02",
        "网格02",
        "POLYGON((114.31 30.60, 114.32 30.60, 114.32 30.62, 114.31 30.62, 114.31 30.60))",
    )
    .await;
    (t, v, west, east)
}

/// Tests that send thousands of requests from one session turn the login and write limits off
/// (each test binary is its own process, so this reaches no other test's server).
pub fn rate_limits_off() {
    std::env::set_var("CUNTU_RATE_LIMITS", "off");
}

/// The township a test works in.
pub enum Ground<'a> {
    /// The demo county; the township is 130111103.
    Demo,
    /// One square township around (9.55, 47.15) with this name, nothing else.
    Square(&'a str),
}

/// The admin `township_with_admin` creates.
pub const ADMIN: (&str, &str) = ("admin", "admin-password");

/// Loads `ground` and adds a township admin (`ADMIN`) for it; returns the township's id.
pub async fn township_with_admin(store: &Store, ground: Ground<'_>) -> i64 {
    let township: i64 = match ground {
        Ground::Demo => {
            load_demo(store).await;
            sqlx::query_scalar("SELECT id FROM areas WHERE code = '130111103'")
                .fetch_one(store.pool())
                .await
                .unwrap()
        }
        Ground::Square(name) => {
            insert_township(store, name).await;
            sqlx::query_scalar("SELECT id FROM areas WHERE kind = 'township'")
                .fetch_one(store.pool())
                .await
                .unwrap()
        }
    };
    add_user(
        store,
        ADMIN.0,
        ADMIN.1,
        cuntu_core::auth::Role::TownshipAdmin,
        township,
        &[],
    )
    .await;
    township
}

/// The incidents whose description starts with `prefix`: description and how many `reported`
/// events each has (a whole incident has exactly one).
pub async fn stored_incidents(store: &Store, prefix: &str) -> Vec<(String, i64)> {
    sqlx::query_as(
        "SELECT i.description, (SELECT count(*) FROM incident_events e \
          WHERE e.incident_id = i.id AND e.to_state = 'reported') \
           FROM incidents i WHERE starts_with(i.description, $1)",
    )
    .bind(prefix)
    .fetch_all(store.pool())
    .await
    .unwrap()
}

/// Asserts that every acknowledged write is stored, every stored incident is whole and none is
/// stored twice; returns how many were found.
pub fn check_acknowledged(
    acknowledged: &std::collections::HashSet<String>,
    found: &[(String, i64)],
) -> usize {
    let found_set: std::collections::HashSet<&String> = found.iter().map(|(d, _)| d).collect();
    let missing: Vec<&String> = acknowledged
        .iter()
        .filter(|d| !found_set.contains(d))
        .collect();
    assert!(missing.is_empty(), "acknowledged, then lost: {missing:?}");
    assert!(
        found.iter().all(|(_, events)| *events == 1),
        "an incident without its reported event (half applied)"
    );
    assert_eq!(found.len(), found_set.len(), "no write stored twice");
    found.len()
}

/// A PostGIS cluster of a test's own (the shared test cluster serves the other tests of its
/// process), in a temporary folder, destroyed when dropped — also when the test fails.
pub struct OwnCluster {
    pub cluster: cuntu_store::cluster::LocalCluster,
    _dir: tempfile::TempDir,
}

impl OwnCluster {
    pub fn start() -> OwnCluster {
        let dir = tempfile::Builder::new()
            .prefix("cuntu-own-cluster-")
            .tempdir()
            .unwrap();
        // PostgreSQL runs as `postgres` when we are root: it must reach the folder.
        std::fs::set_permissions(
            dir.path(),
            std::os::unix::fs::PermissionsExt::from_mode(0o755),
        )
        .unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let cluster = cuntu_store::cluster::LocalCluster::new(dir.path(), port);
        cluster.ensure_running().expect("own cluster starts");
        OwnCluster { cluster, _dir: dir }
    }
}

impl Drop for OwnCluster {
    fn drop(&mut self) {
        let _ = self.cluster.destroy();
    }
}

/// An OpenAPI operation's parameters as (name, in): what the fuzzers give values to.
pub fn operation_parameters(operation: &Value) -> Vec<(String, String)> {
    operation["parameters"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|p| {
                    (
                        p["name"].as_str().unwrap().to_string(),
                        p["in"].as_str().unwrap().to_string(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

/// A value as a URL's query or path takes it: unreserved bytes as they are, the rest %XX.
pub fn percent_encode(value: &str) -> String {
    let mut out = String::new();
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
