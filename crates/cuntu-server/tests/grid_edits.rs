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
    if gap >= 0.01 {
        let dbg: Vec<(String, f64)> = sqlx::query_as("SELECT ST_AsText(d.geom), planar_area_m2(d.geom) FROM areas v, LATERAL ST_Dump(ST_Difference(v.geom, (SELECT ST_Union(geom) FROM areas WHERE parent_id = v.id))) d WHERE v.code = 'V'").fetch_all(v.db.store.pool()).await.unwrap();
        eprintln!("{dbg:?}");
    }
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
    assert_eq!(
        dry["summary"], "20 户从网格01移到网格03，其中 4 户为重点人群户（更换网格员）",
        "{dry}"
    );
    assert_eq!(dry["report"]["moves"][0]["from_id"], v.west);
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
            .contains("重叠"),
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
        .contains("分成两块"));
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

/// Any method, JSON in and out, with an optional session and extra headers.
async fn send(
    v: &Village,
    method: reqwest::Method,
    cookie: Option<&str>,
    path: &str,
    body: Option<Value>,
    headers: &[(&str, &str)],
) -> (StatusCode, Value) {
    let mut r = client()
        .request(method, format!("{}{path}", v.base))
        .header("accept-language", "zh-CN");
    if let Some(c) = cookie {
        r = r.header("cookie", c);
    }
    for (k, val) in headers {
        r = r.header(*k, *val);
    }
    if let Some(b) = body {
        r = r.json(&b);
    }
    let r = r.send().await.unwrap();
    let status = r.status();
    (status, r.json().await.unwrap_or(Value::Null))
}

async fn village_id(v: &Village) -> i64 {
    scalar(v, "SELECT id FROM areas WHERE code = 'V'").await
}

fn polygon(ring: &[(f64, f64)]) -> Value {
    let coords: Vec<[f64; 2]> = ring.iter().map(|(x, y)| [*x, *y]).collect();
    json!({ "type": "Polygon", "coordinates": [coords] })
}

#[tokio::test]
async fn a_drawn_grid_is_clipped_trimmed_and_fills_the_gap() {
    let v = village().await;
    let vid = village_id(&v).await;

    // Delete the east grid: its 40 households and its area become the gap.
    let (status, stale) = send(
        &v,
        reqwest::Method::DELETE,
        Some(&v.cadre),
        &format!("/api/areas/{}", v.east),
        None,
        &[("if-match", "\"7\"")],
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "{stale}");
    let (status, deleted) = send(
        &v,
        reqwest::Method::DELETE,
        Some(&v.cadre),
        &format!("/api/areas/{}", v.east),
        None,
        &[("if-match", "\"1\"")],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{deleted}");
    assert_eq!(deleted["report"]["removed"][0], v.east);
    assert_eq!(deleted["gaps"]["households"], 40, "{deleted}");
    let gap = deleted["gaps"]["area_m2"].as_f64().unwrap();
    let east_m2 = 0.01 * 0.02 * 111_319.49 * 111_319.49 * (47.11f64).to_radians().cos();
    assert!(
        (gap - east_m2).abs() < 0.01 * east_m2,
        "gap {gap} m², east grid {east_m2} m²"
    );
    let (_, layer) = send(
        &v,
        reqwest::Method::GET,
        Some(&v.cadre),
        &format!("/api/villages/{vid}/grids"),
        None,
        &[],
    )
    .await;
    assert_eq!(layer["gaps"]["households"], 40);
    assert_eq!(layer["grids"]["features"].as_array().unwrap().len(), 1);
    assert_eq!(layer["rule"]["min_households"], 30);

    // A shape over the west grid is refused without trim, naming the grid; nothing changes.
    let overshoot = polygon(&[
        (9.505, 47.095),
        (9.53, 47.095),
        (9.53, 47.125),
        (9.505, 47.125),
        (9.505, 47.095),
    ]);
    let (status, refused) = post(
        &v,
        Some(&v.cadre),
        &format!("/api/villages/{vid}/grids"),
        json!({ "geometry": overshoot }),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{refused}");
    assert!(
        refused["error"]["message"]
            .as_str()
            .unwrap()
            .contains("网格01"),
        "{refused}"
    );
    assert_eq!(
        scalar(&v, "SELECT count(*) FROM areas WHERE kind = 'grid'").await,
        1
    );

    // The dry run through validate says what the trimmed grid would hold.
    let (status, preview) = post(
        &v,
        Some(&v.cadre),
        &format!("/api/villages/{vid}/grids/validate"),
        json!({ "op": "create", "geometry": overshoot, "trim": true }),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{preview}");
    assert_eq!(preview["report"]["grids"][0]["households"], 40);
    assert_eq!(
        scalar(&v, "SELECT count(*) FROM areas WHERE kind = 'grid'").await,
        1
    );

    // With trim: clipped to the village, trimmed off the west grid, and it says so.
    let (status, created) = post(
        &v,
        Some(&v.cadre),
        &format!("/api/villages/{vid}/grids"),
        json!({ "geometry": overshoot, "trim": true, "name": "东片" }),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{created}");
    let notes: Vec<&str> = created["report"]["notes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n.as_str().unwrap())
        .collect();
    assert!(notes.iter().any(|n| n.contains("超出村界")), "{notes:?}");
    assert!(
        notes
            .iter()
            .any(|n| n.contains("网格01") && n.contains("裁去")),
        "{notes:?}"
    );
    assert_eq!(created["report"]["grids"][0]["name"], "东片");
    assert_eq!(created["report"]["grids"][0]["households"], 40);
    assert_eq!(
        created["summary"],
        "40 户从未划网格区域移到东片，其中 8 户为重点人群户（更换网格员）"
    );
    assert_eq!(created["gaps"]["households"], 0);
    assert_partition_exact(&v).await;

    // Bad shapes: not a polygon, coordinates out of range, no area.
    for (geometry, want) in [
        (
            json!({ "type": "LineString", "coordinates": [[9.5, 47.1], [9.6, 47.1]] }),
            StatusCode::BAD_REQUEST,
        ),
        (
            polygon(&[(9.5, 47.1), (200.0, 47.1), (9.6, 47.2), (9.5, 47.1)]),
            StatusCode::BAD_REQUEST,
        ),
        (
            polygon(&[
                (9.501, 47.101),
                (9.502, 47.102),
                (9.503, 47.103),
                (9.501, 47.101),
            ]),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            json!({ "type": "Polygon", "coordinates": "no" }),
            StatusCode::BAD_REQUEST,
        ),
    ] {
        let (status, body) = post(
            &v,
            Some(&v.cadre),
            &format!("/api/villages/{vid}/grids"),
            json!({ "geometry": geometry, "trim": true }),
        )
        .await;
        assert_eq!(status, want, "{geometry} → {body}");
        assert!(
            body["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty()),
            "{body}"
        );
    }
    assert_partition_exact(&v).await;
}

#[tokio::test]
async fn a_shared_vertex_moves_in_both_grids() {
    let v = village().await;
    let vid = village_id(&v).await;
    let path = format!("/api/villages/{vid}/grids/move-vertices");
    let versions = json!({ v.west.to_string(): 1, v.east.to_string(): 1 });

    // (9.51, 47.11) lies on the shared edge of both grids: inserted and moved in both.
    let (status, moved) = post(&v, Some(&v.cadre), &path, json!({ "moves": [{ "from": [9.51, 47.11], "to": [9.5126, 47.11] }], "versions": versions })).await;
    assert_eq!(status, StatusCode::OK, "{moved}");
    let grids = moved["report"]["grids"].as_array().unwrap();
    assert_eq!(grids.len(), 2, "{moved}");
    assert!(grids.iter().all(|g| g["version"] == 2));
    // The lattice column at 9.5105 near the middle now lies west of the moved edge.
    assert!(
        moved["report"]["moved_households"].as_i64().unwrap() > 0,
        "{moved}"
    );
    assert_partition_exact(&v).await;
    let shared: bool = sqlx::query_scalar(
        "SELECT ST_Equals(ST_Intersection(ST_Boundary(a.geom), ST_Boundary(b.geom)), \
                ST_Intersection(ST_Boundary(a.geom), ST_Boundary(b.geom))) \
                AND ST_Length(ST_Intersection(ST_Boundary(a.geom), ST_Boundary(b.geom))) > 0.02 \
         FROM areas a, areas b WHERE a.id = $1 AND b.id = $2",
    )
    .bind(v.west)
    .bind(v.east)
    .fetch_one(v.db.store.pool())
    .await
    .unwrap();
    assert!(shared, "the two grids still share their whole edge");

    // A stale view: 409, nothing written.
    let (status, stale) = post(
        &v,
        Some(&v.cadre),
        &path,
        json!({ "moves": [{ "from": [9.51, 47.11], "to": [9.509, 47.11] }], "versions": versions }),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "{stale}");

    // The bottom end of the shared edge slides along the village boundary, and stays on it.
    let versions = json!({ v.west.to_string(): 2, v.east.to_string(): 2 });
    let (status, slid) = post(&v, Some(&v.cadre), &path, json!({ "moves": [{ "from": [9.51, 47.10], "to": [9.5115, 47.0990] }], "versions": versions })).await;
    assert_eq!(status, StatusCode::OK, "{slid}");
    assert_partition_exact(&v).await;
    let on_boundary: bool = sqlx::query_scalar(
        "SELECT ST_DWithin(ST_Boundary(v.geom), ST_SetSRID(ST_MakePoint(9.5115, 47.10), 4326), 1e-9) \
            AND ST_DWithin(g.geom, ST_SetSRID(ST_MakePoint(9.5115, 47.10), 4326), 1e-9) \
         FROM areas v, areas g WHERE v.code = 'V' AND g.id = $1",
    )
    .bind(v.west)
    .fetch_one(v.db.store.pool())
    .await
    .unwrap();
    assert!(on_boundary);

    // A corner of the village stays where it is; a point on no edge moves nothing.
    let versions = json!({ v.west.to_string(): 3, v.east.to_string(): 3 });
    let (status, corner) = post(&v, Some(&v.cadre), &path, json!({ "moves": [{ "from": [9.50, 47.10], "to": [9.501, 47.101] }], "versions": versions })).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{corner}");
    assert!(corner["error"]["message"]
        .as_str()
        .unwrap()
        .contains("拐点"));
    let (status, nowhere) = post(&v, Some(&v.cadre), &path, json!({ "moves": [{ "from": [9.505, 47.105], "to": [9.506, 47.106] }], "versions": versions })).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{nowhere}");

    // A move that folds a grid over itself is refused by the database with the reason.
    let (status, folded) = post(&v, Some(&v.cadre), &path, json!({ "moves": [{ "from": [9.5126, 47.11], "to": [9.525, 47.11] }], "versions": versions })).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{folded}");
    assert_partition_exact(&v).await;
    assert_eq!(
        scalar(
            &v,
            "SELECT max(version)::bigint FROM areas WHERE kind = 'grid'"
        )
        .await,
        3
    );
}

#[tokio::test]
async fn renames_staff_and_the_township_rule() {
    let v = village().await;
    let vid = village_id(&v).await;
    let township = scalar(&v, "SELECT id FROM areas WHERE code = 'T'").await;

    // Rename with If-Match; a stale If-Match is 409.
    let path = format!("/api/areas/{}", v.east);
    let (status, renamed) = send(
        &v,
        reqwest::Method::PATCH,
        Some(&v.cadre),
        &path,
        Some(json!({ "name": "河东" })),
        &[("if-match", "\"1\"")],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{renamed}");
    assert_eq!(renamed["report"]["grids"][0]["name"], "河东");
    let (status, _) = send(
        &v,
        reqwest::Method::PATCH,
        Some(&v.cadre),
        &path,
        Some(json!({ "name": "河西" })),
        &[("if-match", "\"1\"")],
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT);

    // Staff: the candidates are the village's people; the leader gets the grid_worker role.
    let staff_path = format!("/api/areas/{}/staff", v.east);
    let (status, staffing) = send(
        &v,
        reqwest::Method::GET,
        Some(&v.cadre),
        &staff_path,
        None,
        &[],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{staffing}");
    let candidates: Vec<&str> = staffing["candidates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["username"].as_str().unwrap())
        .collect();
    assert_eq!(candidates, ["cadre", "worker"]);
    let worker_id = scalar(&v, "SELECT id FROM users WHERE username = 'worker'").await;
    let (status, set) = send(
        &v,
        reqwest::Method::PUT,
        Some(&v.cadre),
        &staff_path,
        Some(json!({ "leader": worker_id, "workers": [] })),
        &[],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{set}");
    assert_eq!(set["staff"][0]["duty"], "leader");
    assert_eq!(
        scalar(
            &v,
            &format!(
                "SELECT count(*) FROM role_assignments WHERE area_id = {} AND role = 'grid_worker'",
                v.east
            )
        )
        .await,
        1
    );
    let (status, _) = send(
        &v,
        reqwest::Method::PUT,
        Some(&v.cadre),
        &staff_path,
        Some(json!({ "leader": null, "workers": [999_999] })),
        &[],
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, _) = send(
        &v,
        reqwest::Method::PUT,
        Some(&v.worker),
        &staff_path,
        Some(json!({ "leader": worker_id })),
        &[],
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (_, layer) = send(
        &v,
        reqwest::Method::GET,
        Some(&v.cadre),
        &format!("/api/villages/{vid}/grids"),
        None,
        &[],
    )
    .await;
    let east = layer["grids"]["features"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["id"] == v.east)
        .unwrap()
        .clone();
    assert_eq!(east["properties"]["staff"][0]["username"], "worker");

    // Merging the east grid away keeps its leader in the kept grid (as its leader: west has none).
    let (status, merged) = post(
        &v,
        Some(&v.cadre),
        "/api/areas/merge",
        json!({ "keep": { "id": v.west, "version": 1 }, "absorb": { "id": v.east, "version": 2 } }),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{merged}");
    let (_, west_staff) = send(
        &v,
        reqwest::Method::GET,
        Some(&v.cadre),
        &format!("/api/areas/{}/staff", v.west),
        None,
        &[],
    )
    .await;
    assert_eq!(
        west_staff["staff"].as_array().unwrap().len(),
        1,
        "{west_staff}"
    );
    assert_eq!(west_staff["staff"][0]["duty"], "leader");

    // The township's rule: only its admin sets it, and edits are judged by it.
    let rule_path = format!("/api/townships/{township}/grid-rule");
    let (status, _) = send(
        &v,
        reqwest::Method::PUT,
        Some(&v.cadre),
        &rule_path,
        Some(json!({ "min_households": 60, "max_households": 90 })),
        &[],
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    add_user(
        &v.db.store,
        "admin",
        "admin-password",
        Role::TownshipAdmin,
        township,
        &[],
    )
    .await;
    let admin = login(&v.base, "admin", "admin-password").await.unwrap();
    let (status, bad) = send(
        &v,
        reqwest::Method::PUT,
        Some(&admin),
        &rule_path,
        Some(json!({ "min_households": 90, "max_households": 60 })),
        &[],
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}");
    let (status, _) = send(
        &v,
        reqwest::Method::PUT,
        Some(&admin),
        &rule_path,
        Some(json!({ "min_households": 60, "max_households": 90 })),
        &[],
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (_, rule) = send(
        &v,
        reqwest::Method::GET,
        Some(&v.cadre),
        &rule_path,
        None,
        &[],
    )
    .await;
    assert_eq!(rule, json!({ "min_households": 60, "max_households": 90 }));
    let (status, preview) = post(
        &v,
        Some(&v.cadre),
        &format!("/api/villages/{vid}/grids/validate"),
        json!({ "op": "split", "id": v.west, "version": 2, "line": cut_line(9.51) }),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{preview}");
    let warnings = preview["warnings"].to_string();
    assert!(warnings.contains("60–90"), "{warnings}");
    // The admin's village list has the village; the worker's is empty and /draw is closed.
    let (_, list) = send(
        &v,
        reqwest::Method::GET,
        Some(&admin),
        "/api/villages",
        None,
        &[],
    )
    .await;
    assert_eq!(list["villages"][0]["id"], vid);
    let (_, list) = send(
        &v,
        reqwest::Method::GET,
        Some(&v.worker),
        "/api/villages",
        None,
        &[],
    )
    .await;
    assert_eq!(list["villages"], json!([]));
}

#[tokio::test]
async fn the_draw_page_is_for_grid_editors_only() {
    let v = village().await;
    let no_redirects = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let r = no_redirects
        .get(format!("{}/draw", v.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(r.headers()["location"], "/login?next=/draw");
    let r = no_redirects
        .get(format!("{}/draw", v.base))
        .header("cookie", &v.worker)
        .header("accept-language", "en")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert!(r.text().await.unwrap().contains("village cadres"));
    let vid = village_id(&v).await;
    for (method, path, body) in [
        (
            reqwest::Method::POST,
            format!("/api/villages/{vid}/grids"),
            Some(
                json!({ "geometry": polygon(&[(9.5, 47.1), (9.51, 47.1), (9.51, 47.11), (9.5, 47.1)]) }),
            ),
        ),
        (
            reqwest::Method::POST,
            format!("/api/villages/{vid}/grids/move-vertices"),
            Some(json!({ "moves": [] })),
        ),
        (
            reqwest::Method::POST,
            format!("/api/villages/{vid}/grids/validate"),
            Some(json!({ "op": "delete", "id": v.west, "version": 1 })),
        ),
        (
            reqwest::Method::GET,
            format!("/api/villages/{vid}/grids"),
            None,
        ),
        (
            reqwest::Method::PATCH,
            format!("/api/areas/{}", v.west),
            Some(json!({ "name": "x", "version": 1 })),
        ),
        (
            reqwest::Method::DELETE,
            format!("/api/areas/{}?version=1", v.west),
            None,
        ),
        (
            reqwest::Method::PUT,
            format!("/api/areas/{}/staff", v.west),
            Some(json!({ "leader": null })),
        ),
    ] {
        let (status, _) = send(&v, method.clone(), Some(&v.worker), &path, body, &[]).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{method} {path}");
    }
    assert_eq!(
        scalar(&v, "SELECT max(version)::bigint FROM areas").await,
        1
    );
    assert_eq!(
        scalar(&v, "SELECT count(*) FROM areas WHERE kind = 'grid'").await,
        2
    );
}

#[tokio::test]
async fn a_proposal_is_previewed_adjusted_and_accepted_as_one_change() {
    let v = village().await;
    let vid = village_id(&v).await;
    // Three grids of 20-30 households for 80: the west grid's worker should stay on.
    let (status, proposal) = post(
        &v,
        Some(&v.cadre),
        &format!("/api/villages/{vid}/grids/propose"),
        json!({ "min_households": 20, "max_households": 30, "seed": 3 }),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{proposal}");
    let features = proposal["features"].as_array().unwrap().clone();
    assert_eq!(features.len(), 3, "{}", proposal["summary"]);
    assert_eq!(proposal["summary"]["within_rule"], 3);
    let counts: i64 = features
        .iter()
        .map(|f| f["properties"]["households"].as_i64().unwrap())
        .sum();
    assert_eq!(counts, 80);
    // The same request, the same proposal.
    let (_, again) = post(
        &v,
        Some(&v.cadre),
        &format!("/api/villages/{vid}/grids/propose"),
        json!({ "min_households": 20, "max_households": 30, "seed": 3 }),
    )
    .await;
    assert_eq!(again["features"], proposal["features"]);
    // Nothing is stored by proposing.
    assert_eq!(
        scalar(&v, "SELECT count(*) FROM areas WHERE kind = 'grid'").await,
        2
    );

    // Preview, then accept: one change, the partition exact, the old grids' histories go on.
    let versions = json!({ v.west.to_string(): 1, v.east.to_string(): 1 });
    let accept = json!({ "features": features, "versions": versions });
    let mut preview_request = accept.clone();
    preview_request["op"] = json!("accept");
    let (status, preview) = post(
        &v,
        Some(&v.cadre),
        &format!("/api/villages/{vid}/grids/validate"),
        preview_request,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{preview}");
    assert_eq!(preview["report"]["grids"].as_array().unwrap().len(), 3);
    assert_eq!(
        scalar(&v, "SELECT count(*) FROM areas WHERE kind = 'grid'").await,
        2
    );
    let (status, accepted) = post(
        &v,
        Some(&v.cadre),
        &format!("/api/villages/{vid}/grids/accept"),
        accept.clone(),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{accepted}");
    assert_eq!(
        scalar(&v, "SELECT count(*) FROM areas WHERE kind = 'grid'").await,
        3
    );
    assert_partition_exact(&v).await;
    let grid_counts: Vec<i64> = accepted["report"]["grids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["households"].as_i64().unwrap())
        .collect();
    assert!(
        grid_counts.iter().all(|c| (20..=30).contains(c)),
        "{grid_counts:?}"
    );
    assert_eq!(
        scalar(
            &v,
            &format!("SELECT version::bigint FROM areas WHERE id = {}", v.west)
        )
        .await,
        2
    );
    assert_eq!(
        scalar(
            &v,
            &format!(
                "SELECT count(*) FROM role_assignments WHERE area_id = {}",
                v.west
            )
        )
        .await,
        1,
        "the west grid's worker stays"
    );
    // The same accept again is stale.
    let (status, _) = post(
        &v,
        Some(&v.cadre),
        &format!("/api/villages/{vid}/grids/accept"),
        accept,
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT);
    // A worker may not propose.
    let (status, _) = post(
        &v,
        Some(&v.worker),
        &format!("/api/villages/{vid}/grids/propose"),
        json!({}),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn lanes_are_drawn_inside_a_grid_with_their_leader() {
    let v = village().await;
    let lane = polygon(&[
        (9.50, 47.10),
        (9.505, 47.10),
        (9.505, 47.11),
        (9.50, 47.11),
        (9.50, 47.10),
    ]);
    let (status, created) = post(
        &v,
        Some(&v.cadre),
        &format!("/api/areas/{}/children", v.west),
        json!({ "geometry": lane, "name": "东街" }),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{created}");
    let lane_id = created["report"]["grids"][0]["id"].as_i64().unwrap();
    assert_eq!(
        scalar(
            &v,
            &format!("SELECT count(*) FROM areas WHERE id = {lane_id} AND kind = 'lane'")
        )
        .await,
        1
    );
    // Lanes are not counted against the households rule, and the rest of the grid is a gap.
    assert!(
        created["warnings"].to_string().contains("未划入"),
        "{created}"
    );
    assert!(
        !created["warnings"].to_string().contains("30–60"),
        "{created}"
    );
    let worker_id = scalar(&v, "SELECT id FROM users WHERE username = 'worker'").await;
    let (status, staff) = send(
        &v,
        reqwest::Method::PUT,
        Some(&v.cadre),
        &format!("/api/areas/{lane_id}/staff"),
        Some(json!({ "leader": worker_id })),
        &[],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{staff}");
    assert_eq!(staff["staff"][0]["duty"], "leader");
    // A grid with a lane is not deleted under it.
    let (status, _) = send(
        &v,
        reqwest::Method::DELETE,
        Some(&v.cadre),
        &format!("/api/areas/{}?version=1", v.west),
        None,
        &[],
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
}
