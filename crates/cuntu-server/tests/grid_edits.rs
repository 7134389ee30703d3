//! Editing the grid layer over HTTP against PostGIS: split, merge, stale versions, history,
//! restore, and who may do it.

mod common;

use common::{add_user, client, login, start_server};
use cuntu_core::auth::Role;
use cuntu_store::testing::TestDatabase;
use reqwest::StatusCode;
use serde_json::{json, Value};

const TOWNSHIP: &str = "POLYGON((9.50 47.10, 9.54 47.10, 9.54 47.14, 9.50 47.14, 9.50 47.10))";
const VILLAGE: &str = "POLYGON((9.50 47.10, 9.52 47.10, 9.52 47.12, 9.50 47.12, 9.50 47.10))";
const WEST: &str = "POLYGON((9.50 47.10, 9.51 47.10, 9.51 47.12, 9.50 47.12, 9.50 47.10))";
const EAST: &str = "POLYGON((9.51 47.10, 9.52 47.10, 9.52 47.12, 9.51 47.12, 9.51 47.10))";

struct Village {
    base: String,
    cadre: String,
    worker: String,
    west: i64,
    east: i64,
    db: TestDatabase,
}

async fn area(
    db: &TestDatabase,
    kind: &str,
    parent: Option<i64>,
    code: &str,
    name: &str,
    wkt: &str,
) -> i64 {
    sqlx::query_scalar(
        "INSERT INTO areas (kind, parent_id, code, name, geom) \
         VALUES ($1, $2, $3, $4, ST_Multi(ST_GeomFromText($5, 4326))) RETURNING id",
    )
    .bind(kind)
    .bind(parent)
    .bind(code)
    .bind(name)
    .bind(wkt)
    .fetch_one(db.store.pool())
    .await
    .unwrap()
}

/// A village of two grids, 40 households each on a regular lattice, every fifth tagged.
async fn village() -> Village {
    let db = TestDatabase::new().await.unwrap();
    let t = area(&db, "township", None, "T", "冶河镇", TOWNSHIP).await;
    let v = area(&db, "village", Some(t), "V", "冶河村", VILLAGE).await;
    let west = area(&db, "grid", Some(v), "V-01", "网格01", WEST).await;
    let east = area(&db, "grid", Some(v), "V-02", "网格02", EAST).await;
    for i in 0..80 {
        let lon = 9.5005 + 0.0025 * f64::from(i % 8);
        let lat = 47.1005 + 0.0019 * f64::from(i / 8);
        let tags: Vec<&str> = if i % 5 == 0 {
            vec!["elderly_alone"]
        } else {
            vec![]
        };
        sqlx::query("INSERT INTO households (geom, tags) VALUES (ST_SetSRID(ST_MakePoint($1, $2), 4326), $3)")
            .bind(lon)
            .bind(lat)
            .bind(&tags)
            .execute(db.store.pool())
            .await
            .unwrap();
    }
    let base = start_server(db.store.clone()).await;
    add_user(
        &db.store,
        "cadre",
        "cadre-password",
        Role::VillageCadre,
        v,
        &[],
    )
    .await;
    add_user(
        &db.store,
        "worker",
        "worker-password",
        Role::GridWorker,
        west,
        &[],
    )
    .await;
    let cadre = login(&base, "cadre", "cadre-password").await.unwrap();
    let worker = login(&base, "worker", "worker-password").await.unwrap();
    Village {
        base,
        cadre,
        worker,
        west,
        east,
        db,
    }
}

async fn post(v: &Village, cookie: Option<&str>, path: &str, body: Value) -> (StatusCode, Value) {
    let mut r = client()
        .post(format!("{}{path}", v.base))
        .header("accept-language", "zh-CN")
        .json(&body);
    if let Some(c) = cookie {
        r = r.header("cookie", c);
    }
    let r = r.send().await.unwrap();
    let status = r.status();
    (status, r.json().await.unwrap_or(Value::Null))
}

async fn scalar(v: &Village, sql: &str) -> i64 {
    sqlx::query_scalar(sql)
        .fetch_one(v.db.store.pool())
        .await
        .unwrap()
}

/// The partition is exact: grids cover the village, overlap nowhere, every household in one.
async fn assert_partition_exact(v: &Village) {
    let (gap, overlap): (f64, f64) = sqlx::query_as(
        "SELECT planar_area_m2(ST_Difference(v.geom, ST_Union(g.geom))), \
                coalesce((SELECT sum(planar_area_m2(ST_Intersection(a.geom, b.geom))) \
                          FROM areas a JOIN areas b ON a.parent_id = b.parent_id AND a.id < b.id \
                          WHERE a.parent_id = v.id), 0) \
         FROM areas v JOIN areas g ON g.parent_id = v.id WHERE v.code = 'V' GROUP BY v.id, v.geom",
    )
    .fetch_one(v.db.store.pool())
    .await
    .unwrap();
    assert!(gap < 0.01, "uncovered {gap} m²");
    assert!(overlap < 0.01, "overlap {overlap} m²");
    assert_eq!(
        scalar(v, "SELECT count(*) FROM households WHERE grid_id IS NULL").await,
        0
    );
    assert_eq!(scalar(v, "SELECT count(*) FROM households").await, 80);
}

fn cut_line(lon: f64) -> Value {
    json!({ "type": "LineString", "coordinates": [[lon, 47.099], [lon, 47.121]] })
}

#[tokio::test]
async fn split_then_merge_keeps_the_partition_and_the_households() {
    let v = village().await;
    let split_path = format!("/api/areas/{}/split", v.west);

    // A dry run says what would happen and changes nothing.
    let (status, dry) = post(
        &v,
        Some(&v.cadre),
        &split_path,
        json!({ "line": cut_line(9.505), "version": 1, "dry_run": true }),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{dry}");
    assert_eq!(dry["report"]["moved_households"], 20, "{dry}");
    assert_eq!(dry["report"]["moved_key_population"], 4, "{dry}");
    assert!(
        dry["summary"].as_str().unwrap().contains("20 户更换网格"),
        "{dry}"
    );
    assert!(dry["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .any(|w| w.as_str().unwrap().contains("不在 30–60")));
    assert_eq!(
        scalar(&v, "SELECT count(*) FROM areas WHERE kind = 'grid'").await,
        2
    );

    // The real split: two grids sharing the cut, households filed by location.
    let (status, done) = post(
        &v,
        Some(&v.cadre),
        &split_path,
        json!({ "line": cut_line(9.505), "version": 1 }),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{done}");
    let grids = done["report"]["grids"].as_array().unwrap();
    assert_eq!(grids.len(), 2);
    assert_eq!(
        grids[0]["households"].as_i64().unwrap() + grids[1]["households"].as_i64().unwrap(),
        40
    );
    assert_eq!(grids[1]["name"], "网格03");
    let new_grid = grids[1]["id"].as_i64().unwrap();
    assert_partition_exact(&v).await;

    // The stale version is refused with 409 and nothing changes.
    let (status, stale) = post(
        &v,
        Some(&v.cadre),
        &split_path,
        json!({ "line": cut_line(9.5025), "version": 1 }),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "{stale}");
    assert!(stale["error"]["message"]
        .as_str()
        .unwrap()
        .contains("第 2 版"));
    assert_eq!(
        scalar(&v, "SELECT count(*) FROM areas WHERE kind = 'grid'").await,
        3
    );

    // Restoring the old, larger shape would overlap the new grid: refused with the reason.
    let (status, refused) = post(
        &v,
        Some(&v.cadre),
        &format!("/api/areas/{}/restore", v.west),
        json!({ "version": 2, "to_version": 1 }),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{refused}");
    assert!(
        refused["error"]["message"]
            .as_str()
            .unwrap()
            .contains("overlaps"),
        "{refused}"
    );

    // Merge the new grid back: the village has its two grids and 80 households again.
    let (status, merged) = post(
        &v,
        Some(&v.cadre),
        "/api/areas/merge",
        json!({ "keep": { "id": v.west, "version": 2 }, "absorb": { "id": new_grid, "version": 1 } }),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{merged}");
    assert_eq!(merged["report"]["grids"][0]["households"], 40);
    assert_eq!(merged["report"]["removed"][0], new_grid);
    assert_eq!(
        scalar(&v, "SELECT count(*) FROM areas WHERE kind = 'grid'").await,
        2
    );
    assert_partition_exact(&v).await;

    // History: three versions of the west grid, each with who made it.
    let r = client()
        .get(format!("{}/api/areas/{}/history", v.base, v.west))
        .header("cookie", &v.cadre)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let history: Value = r.json().await.unwrap();
    let versions: Vec<i64> = history["versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["version"].as_i64().unwrap())
        .collect();
    assert_eq!(versions, [3, 2, 1]);
    assert_eq!(history["versions"][1]["changed_by"], "cadre");
    assert_eq!(history["versions"][0]["geometry"]["type"], "MultiPolygon");

    // Restore version 1 (the same shape as now): a new version 4, the partition still exact.
    let (status, restored) = post(
        &v,
        Some(&v.cadre),
        &format!("/api/areas/{}/restore", v.west),
        json!({ "version": 3, "to_version": 1 }),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{restored}");
    assert_eq!(restored["report"]["grids"][0]["version"], 4);
    assert_partition_exact(&v).await;
}

#[tokio::test]
async fn bad_edits_are_refused_with_a_reason() {
    let v = village().await;
    let split_path = format!("/api/areas/{}/split", v.west);
    // A line that stays inside the grid cuts nothing.
    let inside = json!({ "type": "LineString", "coordinates": [[9.503, 47.105], [9.506, 47.108]] });
    let (status, body) = post(
        &v,
        Some(&v.cadre),
        &split_path,
        json!({ "line": inside, "version": 1 }),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("cross the grid once"));
    // Not GeoJSON, bad coordinates, no body.
    let (status, _) = post(
        &v,
        Some(&v.cadre),
        &split_path,
        json!({ "line": { "type": "Point", "coordinates": [9.5, 47.1] }, "version": 1 }),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = post(&v, Some(&v.cadre), &split_path, json!({ "line": { "type": "LineString", "coordinates": [[9.5, 95.0], [9.6, 47.1]] }, "version": 1 })).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = post(&v, Some(&v.cadre), &split_path, json!({ "version": 1 })).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    // Unknown grid.
    let (status, _) = post(
        &v,
        Some(&v.cadre),
        "/api/areas/999999/split",
        json!({ "line": cut_line(9.505), "version": 1 }),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // A village is not split here.
    let village_id = scalar(&v, "SELECT id FROM areas WHERE code = 'V'").await;
    let (status, _) = post(
        &v,
        Some(&v.cadre),
        &format!("/api/areas/{village_id}/split"),
        json!({ "line": cut_line(9.505), "version": 1 }),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    // Nothing was written by any of these.
    assert_partition_exact(&v).await;
    assert_eq!(
        scalar(&v, "SELECT max(version)::bigint FROM areas").await,
        1
    );
    let _ = v.east;
}

#[tokio::test]
async fn only_cadres_and_admins_edit_grids() {
    let v = village().await;
    let split = json!({ "line": cut_line(9.505), "version": 1 });
    let path = format!("/api/areas/{}/split", v.west);
    assert_eq!(
        post(&v, None, &path, split.clone()).await.0,
        StatusCode::UNAUTHORIZED
    );
    let (status, body) = post(&v, Some(&v.worker), &path, split.clone()).await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "a grid worker may not cut their own grid"
    );
    assert!(body.get("report").is_none());
    let merge =
        json!({ "keep": { "id": v.west, "version": 1 }, "absorb": { "id": v.east, "version": 1 } });
    assert_eq!(
        post(&v, Some(&v.worker), "/api/areas/merge", merge).await.0,
        StatusCode::FORBIDDEN
    );
    let r = client()
        .get(format!("{}/api/areas/{}/history", v.base, v.west))
        .header("cookie", &v.worker)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        scalar(&v, "SELECT max(version)::bigint FROM areas").await,
        1
    );
}
