//! The grid worker's API over HTTP against PostGIS: the scoped overview and search, visits
//! recorded once however often a queue replays them, coverage, GCJ-02 locations, photos.

mod common;

use common::{add_user, client, login, start_server};
use cuntu_core::auth::Role;
use cuntu_core::coords::wgs84_to_gcj02;
use cuntu_store::testing::TestDatabase;
use geo::coord;
use reqwest::StatusCode;
use serde_json::{json, Value};

/// A village near Wuhan (GCJ-02 applies there) with two grids of six households each.
struct Fixture {
    base: String,
    worker: String,
    other_worker: String,
    cadre: String,
    households_west: Vec<(i64, f64, f64)>,
    households_east: Vec<(i64, f64, f64)>,
    _db: TestDatabase,
}

const NAMES: [&str; 6] = ["王建国", "王秀英", "李明", "张伟", "刘芳", "陈静"];

async fn fixture() -> Fixture {
    let db = TestDatabase::new().await.unwrap();
    let pool = db.store.pool();
    let (_, v, west, east) = common::huashan(&db.store).await;
    let mut households_west = Vec::new();
    let mut households_east = Vec::new();
    for (i, name) in NAMES.iter().enumerate() {
        for (x0, list) in [
            (114.302, &mut households_west),
            (114.312, &mut households_east),
        ] {
            let (lon, lat) = (x0 + 0.001 * i as f64, 30.605 + 0.001 * i as f64);
            let tags: Vec<&str> = if i == 0 {
                vec!["elderly_alone"]
            } else {
                vec![]
            };
            let id: i64 = sqlx::query_scalar(
                "INSERT INTO households (geom, head_name, house_number, phone, tags) \
                 VALUES (ST_SetSRID(ST_MakePoint($1, $2), 4326), $3, $4, $5, $6) RETURNING id",
            )
            .bind(lon)
            .bind(lat)
            .bind(name)
            .bind(format!("{}号", i + 1))
            .bind(format!("1380000{:04}", 1000 + i))
            .bind(&tags)
            .fetch_one(pool)
            .await
            .unwrap();
            list.push((id, lon, lat));
        }
    }
    let base = start_server(db.store.clone()).await;
    add_user(
        &db.store,
        "worker",
        "worker-password",
        Role::GridWorker,
        west,
        &[],
    )
    .await;
    add_user(
        &db.store,
        "other",
        "other-password",
        Role::GridWorker,
        east,
        &[],
    )
    .await;
    add_user(
        &db.store,
        "cadre",
        "cadre-password",
        Role::VillageCadre,
        v,
        &[],
    )
    .await;
    Fixture {
        worker: login(&base, "worker", "worker-password").await.unwrap(),
        other_worker: login(&base, "other", "other-password").await.unwrap(),
        cadre: login(&base, "cadre", "cadre-password").await.unwrap(),
        base,
        households_west,
        households_east,
        _db: db,
    }
}

async fn get(f: &Fixture, cookie: &str, path: &str) -> (StatusCode, Value) {
    let r = client()
        .get(format!("{}{path}", f.base))
        .header("cookie", cookie)
        .header("accept-language", "zh-CN")
        .send()
        .await
        .unwrap();
    let status = r.status();
    (status, r.json().await.unwrap_or(Value::Null))
}

async fn post(f: &Fixture, cookie: &str, path: &str, body: Value) -> (StatusCode, Value) {
    let r = client()
        .post(format!("{}{path}", f.base))
        .header("cookie", cookie)
        .header("accept-language", "en")
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = r.status();
    (status, r.json().await.unwrap_or(Value::Null))
}

fn ids(households: &Value) -> Vec<i64> {
    let mut ids: Vec<i64> = households
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["id"].as_i64().or(h["properties"]["id"].as_i64()).unwrap())
        .collect();
    ids.sort_unstable();
    ids
}

#[tokio::test]
async fn the_overview_and_search_stay_in_scope() {
    let f = fixture().await;
    let west: Vec<i64> = f.households_west.iter().map(|h| h.0).collect();
    let (status, overview) = get(&f, &f.worker, "/api/worker/overview").await;
    assert_eq!(status, StatusCode::OK, "{overview}");
    assert_eq!(ids(&overview["households"]["features"]), west);
    assert_eq!(overview["grids"].as_array().unwrap().len(), 1);
    assert_eq!(overview["coverage"]["total"], 6);
    assert_eq!(overview["coverage"]["key_total"], 1);
    let elderly = overview["households"]["features"][0]["properties"].clone();
    assert_eq!(elderly["cadence_days"], 30);
    assert_eq!(elderly["tag_labels"][0], "独居老人");
    let (_, cadre) = get(&f, &f.cadre, "/api/worker/overview").await;
    assert_eq!(
        cadre["households"]["features"].as_array().unwrap().len(),
        12
    );

    // Partial Chinese: "王" finds both Wangs of the worker's grid, not the other grid's.
    let (_, found) = get(&f, &f.worker, "/api/households/search?q=%E7%8E%8B").await;
    assert_eq!(ids(&found["households"]), west[..2].to_vec());
    // The phone's last digits, a house number, a tag's label.
    let (_, by_phone) = get(&f, &f.worker, "/api/households/search?q=1003").await;
    assert_eq!(ids(&by_phone["households"]), vec![west[3]]);
    let (_, by_tag) = get(&f, &f.worker, "/api/households/search?q=%E7%8B%AC%E5%B1%85").await;
    assert_eq!(ids(&by_tag["households"]), vec![west[0]]);
    // LIKE wildcards are text, not patterns.
    let (_, wild) = get(&f, &f.worker, "/api/households/search?q=%25").await;
    assert_eq!(wild["households"], json!([]));
    let (_, other) = get(&f, &f.other_worker, "/api/households/search?q=%E7%8E%8B").await;
    assert!(ids(&other["households"])
        .iter()
        .all(|id| !west.contains(id)));
}

#[tokio::test]
async fn a_visit_counts_once_however_often_it_is_sent() {
    let f = fixture().await;
    let (id, lon, lat) = f.households_west[1];
    // A phone in China reports GCJ-02: converted, the visit is at the household.
    let gcj = wgs84_to_gcj02(coord! { x: lon, y: lat });
    let visit = json!({
        "client_id": "0f8c2b1e-visit-0001", "household_id": id, "visited_at": "2026-11-20T09:00:00Z",
        "location": { "lon": gcj.x, "lat": gcj.y, "crs": "gcj02" }, "found": "一切正常", "follow_up": false,
    });
    let (status, first) = post(&f, &f.worker, "/api/visits", visit.clone()).await;
    assert_eq!(status, StatusCode::CREATED, "{first}");
    assert_eq!(first["duplicate"], false);
    assert!(first["visit"]["far_m"].as_f64().unwrap() < 1.0, "{first}");
    assert_eq!(first["visit"]["flagged"], false);
    // The offline queue replays it: the same visit, not a second one.
    let (status, replay) = post(&f, &f.worker, "/api/visits", visit.clone()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(replay["duplicate"], true);
    assert_eq!(replay["visit"]["id"], first["visit"]["id"]);
    let (_, visits) = get(&f, &f.worker, &format!("/api/households/{id}/visits")).await;
    assert_eq!(visits["visits"].as_array().unwrap().len(), 1);
    assert_eq!(visits["visits"][0]["found"], "一切正常");

    // The same numbers sent as WGS84 are hundreds of metres off: accepted, flagged.
    let mut far = visit.clone();
    far["client_id"] = json!("0f8c2b1e-visit-0002");
    far["location"]["crs"] = json!("wgs84");
    let (status, flagged) = post(&f, &f.worker, "/api/visits", far).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(flagged["visit"]["flagged"], true);
    assert!(flagged["visit"]["far_m"].as_f64().unwrap() > 200.0);

    // Coverage: one household visited this quarter (if the test runs in 2026Q4, as its
    // visits do; otherwise the visit is in an earlier quarter and counts none).
    let (_, overview) = get(&f, &f.worker, "/api/worker/overview").await;
    let quarter = overview["coverage"]["quarter"]
        .as_str()
        .unwrap()
        .to_string();
    let expected = if quarter == "2026Q4" { 1 } else { 0 };
    assert_eq!(
        overview["coverage"]["visited"], expected,
        "{}",
        overview["coverage"]
    );
    let props = overview["households"]["features"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["id"] == id)
        .unwrap()["properties"]
        .clone();
    assert_eq!(props["last_visit_at"], "2026-11-20T09:00:00Z");

    // Outside the scope, bad input: refused, nothing stored.
    let (other_id, _, _) = f.households_east[0];
    let mut outside = visit.clone();
    outside["client_id"] = json!("0f8c2b1e-visit-0003");
    outside["household_id"] = json!(other_id);
    assert_eq!(
        post(&f, &f.worker, "/api/visits", outside).await.0,
        StatusCode::FORBIDDEN
    );
    for (field, value) in [
        ("client_id", json!("x")),
        ("visited_at", json!("2099-01-01T00:00:00Z")),
        ("location", json!({ "lon": 400.0, "lat": 30.6 })),
        (
            "location",
            json!({ "lon": 114.3, "lat": 30.6, "crs": "mars" }),
        ),
        ("photo", json!("data:image/jpeg;base64,PHN2Zz4=")),
    ] {
        let mut bad = visit.clone();
        bad["client_id"] = json!("0f8c2b1e-visit-0004");
        bad[field] = value.clone();
        let (status, body) = post(&f, &f.worker, "/api/visits", bad).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{field}={value}: {body}");
        assert!(!body["error"]["message"].as_str().unwrap().is_empty());
    }
    let (_, visits) = get(&f, &f.worker, &format!("/api/households/{id}/visits")).await;
    assert_eq!(visits["visits"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn a_visit_photo_is_kept_and_shown_in_scope_only() {
    let f = fixture().await;
    let (id, _, _) = f.households_west[2];
    let jpeg: Vec<u8> = [0xFF, 0xD8, 0xFF, 0xE0]
        .iter()
        .copied()
        .chain(std::iter::repeat_n(7u8, 500))
        .collect();
    let data_url = format!(
        "data:image/jpeg;base64,{}",
        base64::Engine::encode(&base64::engine::general_purpose::STANDARD, &jpeg)
    );
    let (status, visit) = post(&f, &f.worker, "/api/visits", json!({
        "client_id": "photo-visit-0001", "household_id": id, "visited_at": "2026-11-21T10:00:00Z",
        "found": "屋顶漏雨", "follow_up": true, "photo": data_url,
    }))
    .await;
    assert_eq!(status, StatusCode::CREATED, "{visit}");
    assert_eq!(visit["visit"]["has_photo"], true);
    assert_eq!(visit["visit"]["far_m"], Value::Null);
    let photo = format!("{}/api/visits/{}/photo", f.base, visit["visit"]["id"]);
    let r = client()
        .get(&photo)
        .header("cookie", &f.worker)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["content-type"], "image/jpeg");
    assert_eq!(r.bytes().await.unwrap().to_vec(), jpeg);
    let r = client()
        .get(&photo)
        .header("cookie", &f.other_worker)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let r = client().get(&photo).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
}

/// Roads on a lattice over the fixture's village: 0.001° apart, one way per lattice edge, so
/// ways meet at shared vertices as OSM ways do.
async fn lattice_roads(f: &Fixture) {
    let pool = f._db.store.pool();
    for i in 0..=20 {
        for j in 0..=20 {
            let (x, y) = (
                114.300 + 0.001 * f64::from(i),
                30.600 + 0.001 * f64::from(j),
            );
            for (dx, dy) in [(0.001, 0.0), (0.0, 0.001)] {
                if x + dx > 114.3205 || y + dy > 30.6205 {
                    continue;
                }
                sqlx::query(
                    "INSERT INTO roads (class, geom) VALUES ('residential', \
                     ST_MakeLine(ST_SetSRID(ST_MakePoint($1, $2), 4326), ST_SetSRID(ST_MakePoint($3, $4), 4326)))",
                )
                .bind(x)
                .bind(y)
                .bind(x + dx)
                .bind(y + dy)
                .execute(pool)
                .await
                .unwrap();
            }
        }
    }
}

#[tokio::test]
async fn a_route_visits_each_household_once_along_the_roads() {
    let f = fixture().await;
    lattice_roads(&f).await;
    let west: Vec<i64> = f.households_west.iter().map(|h| h.0).collect();
    let (status, route) = post(
        &f,
        &f.worker,
        "/api/route",
        json!({ "from": [114.3005, 30.6003], "households": west }),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{route}");
    let mut visited: Vec<i64> = route["stops"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["household_id"].as_i64().unwrap())
        .collect();
    let orders: Vec<i64> = route["stops"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["order"].as_i64().unwrap())
        .collect();
    assert_eq!(orders, (1..=6).collect::<Vec<_>>());
    visited.sort_unstable();
    assert_eq!(visited, west, "each household once");
    assert_eq!(route["unreachable"], json!([]));
    // The line is one walk: its length is the distance, and it passes by every stop.
    let line = route["line"].to_string();
    let (length, farthest): (f64, f64) = sqlx::query_as(
        "SELECT ST_Length(ST_GeomFromGeoJSON($1)::geography), \
                max(ST_Distance(ST_GeomFromGeoJSON($1)::geography, ST_SetSRID(ST_MakePoint(x, y), 4326)::geography)) \
         FROM unnest($2::float8[], $3::float8[]) AS s(x, y)",
    )
    .bind(&line)
    .bind(f.households_west.iter().map(|h| h.1).collect::<Vec<_>>())
    .bind(f.households_west.iter().map(|h| h.2).collect::<Vec<_>>())
    .fetch_one(f._db.store.pool())
    .await
    .unwrap();
    let distance = route["distance_m"].as_f64().unwrap();
    assert!(
        (length - distance).abs() < 0.01 * distance + 2.0,
        "line {length} m vs distance {distance} m"
    );
    assert!(farthest < 1.0, "a stop {farthest} m off the walk");
    // The households step 0.001° diagonally, the first 0.0015° east and 0.0047° north of the
    // start: along the lattice the walk is the Manhattan distance, give or take the snapping.
    let manhattan =
        (0.0015 * 95_800.0 + 0.0047 * 111_000.0) + 5.0 * (0.001 * 95_800.0 + 0.001 * 111_000.0);
    assert!(
        distance >= manhattan * 0.97 && distance < manhattan * 1.1,
        "{distance} m vs {manhattan} m"
    );
    assert!(route["walking_minutes"].as_f64().unwrap() >= distance / 75.0);

    // GPX: a track and six numbered waypoints.
    let r = client()
        .post(format!("{}/api/route?format=gpx", f.base))
        .header("cookie", &f.worker)
        .json(&json!({ "from": [114.3005, 30.6003], "households": west }))
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.headers()["content-type"],
        "application/gpx+xml; charset=utf-8"
    );
    let gpx = r.text().await.unwrap();
    assert_eq!(gpx.matches("<wpt").count(), 6);
    assert!(gpx.contains("<trkseg>") && gpx.contains("王建国"));

    // Another grid's household: 403; nothing chosen, bad start: 400.
    let east = f.households_east[0].0;
    assert_eq!(
        post(
            &f,
            &f.worker,
            "/api/route",
            json!({ "from": [114.3005, 30.6003], "households": [east] })
        )
        .await
        .0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        post(
            &f,
            &f.worker,
            "/api/route",
            json!({ "from": [114.3005, 30.6003], "households": [] })
        )
        .await
        .0,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        post(
            &f,
            &f.worker,
            "/api/route",
            json!({ "from": [514.3, 30.6], "households": west })
        )
        .await
        .0,
        StatusCode::BAD_REQUEST
    );
}
