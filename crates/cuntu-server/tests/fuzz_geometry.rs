//! Issue 12, bad input: generated geometries (wrong types, wrong nesting, open and twisted
//! rings, out-of-range and non-numeric coordinates, empty and huge vertex lists) sent to every
//! route that takes one: drawing and reshaping grids (dry run and for real), hazards, OGC API
//! features, incident locations. A client's mistake is a 4xx, never a 5xx; the partition and
//! the area tree stay intact. Seeded: the same inputs every run (`CUNTU_FUZZ_SEED` to vary).

mod common;

use common::{login, rate_limits_off, start_server, township_with_admin, Ground, ADMIN};
use cuntu_store::testing::TestDatabase;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};

/// A coordinate value: mostly near the village, sometimes anything.
fn number(rng: &mut StdRng, centre: f64) -> Value {
    match rng.gen_range(0..20) {
        0 => json!(1e300),
        1 => json!(-1e300),
        2 => json!(rng.gen_range(-1000.0..1000.0)),
        3 => json!("9.5"),
        4 => Value::Null,
        5 => json!(true),
        6 => json!([]),
        7 => json!(0),
        _ => json!(centre + rng.gen_range(-0.02..0.02)),
    }
}

fn position(rng: &mut StdRng, lon: f64, lat: f64) -> Value {
    match rng.gen_range(0..12) {
        0 => json!([number(rng, lon)]),
        1 => json!([number(rng, lon), number(rng, lat), 5.0, 7.0]),
        2 => json!({"x": lon, "y": lat}),
        _ => json!([number(rng, lon), number(rng, lat)]),
    }
}

fn ring(rng: &mut StdRng, lon: f64, lat: f64) -> Value {
    let n = match rng.gen_range(0..30) {
        0 => 0,
        1 => 2,
        2 => 20_000,
        _ => rng.gen_range(3..40),
    };
    let mut points: Vec<Value> = (0..n).map(|_| position(rng, lon, lat)).collect();
    match rng.gen_range(0..6) {
        // A small valid square or triangle.
        4 => {
            let d = rng.gen_range(0.0001..0.003);
            return json!([
                [lon, lat],
                [lon + d, lat],
                [lon + d, lat + d],
                [lon, lat + d],
                [lon, lat]
            ]);
        }
        5 => {
            let d = rng.gen_range(0.0001..0.003);
            return json!([[lon, lat], [lon + d, lat], [lon, lat + d], [lon, lat]]);
        }
        // Closed, as it should be.
        0 | 1 => {
            if let Some(first) = points.first().cloned() {
                points.push(first);
            }
        }
        // A bow tie.
        2 => {
            let d = 0.001;
            points = vec![
                json!([lon, lat]),
                json!([lon + d, lat + d]),
                json!([lon + d, lat]),
                json!([lon, lat + d]),
                json!([lon, lat]),
            ];
        }
        // Left open.
        _ => {}
    }
    Value::Array(points)
}

fn geometry(rng: &mut StdRng, lon: f64, lat: f64) -> Value {
    let kinds = [
        "Point",
        "LineString",
        "Polygon",
        "MultiPolygon",
        "MultiPoint",
        "GeometryCollection",
        "Banana",
    ];
    let kind = kinds[rng.gen_range(0..kinds.len())];
    let coordinates = match rng.gen_range(0..10) {
        0 => Value::Null,
        1 => json!("POLYGON((0 0, 1 1))"),
        2 => position(rng, lon, lat),
        3 => ring(rng, lon, lat),
        4..=7 => Value::Array(
            (0..rng.gen_range(0..3))
                .map(|_| ring(rng, lon, lat))
                .collect(),
        ),
        _ => json!([[ring(rng, lon, lat)]]),
    };
    match rng.gen_range(0..12) {
        0 => json!({"coordinates": coordinates}),
        1 => json!(kind),
        2 => json!({"type": kind}),
        3 => {
            json!({"type": "GeometryCollection", "geometries": [{"type": kind, "coordinates": coordinates}]})
        }
        _ => json!({"type": kind, "coordinates": coordinates}),
    }
}

#[tokio::test]
async fn generated_geometries_are_refused_with_4xx_never_5xx() {
    rate_limits_off();
    let seed: u64 = std::env::var("CUNTU_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(12);
    let db = TestDatabase::new().await.unwrap();
    let township = township_with_admin(&db.store, Ground::Demo).await;
    let pool = db.store.pool().clone();
    let (village, grid, version, lon, lat): (i64, i64, i32, f64, f64) = sqlx::query_as(
        "SELECT g.parent_id, g.id, g.version, ST_X(ST_PointOnSurface(g.geom)), \
                ST_Y(ST_PointOnSurface(g.geom)) \
           FROM areas g JOIN areas v ON v.id = g.parent_id \
          WHERE g.kind = 'grid' AND v.parent_id = $1 ORDER BY g.id LIMIT 1",
    )
    .bind(township)
    .fetch_one(&pool)
    .await
    .unwrap();
    let base = start_server(db.store.clone()).await;
    let cookie = login(&base, ADMIN.0, ADMIN.1).await.unwrap();
    let http = reqwest::Client::new();
    let mut rng = StdRng::seed_from_u64(seed);
    let mut by_status = std::collections::BTreeMap::<(&str, u16), usize>::new();
    let mut samples = std::collections::BTreeMap::<(&str, u16), String>::new();
    let rounds = 60;
    for round in 0..rounds {
        let g = geometry(&mut rng, lon, lat);
        let dry_run = round % 3 != 0;
        let requests: Vec<(&str, reqwest::RequestBuilder)> = vec![
            (
                "draw grid",
                http.post(format!("{base}/api/villages/{village}/grids"))
                    .json(&json!({"geometry": g, "name": format!("模糊 {round}"), "dry_run": dry_run})),
            ),
            (
                "reshape grid",
                http.patch(format!("{base}/api/areas/{grid}"))
                    .json(&json!({"geometry": g, "version": version, "dry_run": true})),
            ),
            (
                "hazard",
                http.post(format!("{base}/api/hazards"))
                    .json(&json!({"kind": "landslide", "severity": "high", "name": "模糊", "geometry": g})),
            ),
            (
                "ogc facility",
                http.post(format!("{base}/ogc/collections/facilities/items"))
                    .header("content-type", "application/geo+json")
                    .body(
                        json!({"type": "Feature", "geometry": g, "properties": {"name": "模糊", "kind": "school"}})
                            .to_string(),
                    ),
            ),
            (
                "incident",
                http.post(format!("{base}/api/incidents")).json(&json!({
                    "location": {"lon": number(&mut rng, lon), "lat": number(&mut rng, lat)},
                    "category": "rubbish",
                    "description": "模糊",
                })),
            ),
        ];
        for (what, request) in requests {
            let r = request.header("cookie", &cookie).send().await.unwrap();
            let status = r.status().as_u16();
            let body = r.text().await.unwrap_or_default();
            *by_status.entry((what, status)).or_default() += 1;
            samples
                .entry((what, status))
                .or_insert_with(|| body.chars().take(160).collect());
            assert!(
                status < 500,
                "{what} answered {status} to {}: {body}",
                g.to_string().chars().take(300).collect::<String>()
            );
        }
    }
    println!(
        "{} generated inputs (seed {seed}): {by_status:?}",
        by_status.values().sum::<usize>()
    );
    for (key, body) in &samples {
        println!("{key:?}: {body}");
    }
    // Whatever was accepted kept the data's rules.
    let astray: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM households h JOIN areas g ON g.id = h.grid_id \
          WHERE NOT ST_Covers(g.geom, h.geom)",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(astray, 0);
    let invalid: i64 = sqlx::query_scalar("SELECT count(*) FROM areas WHERE NOT ST_IsValid(geom)")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(invalid, 0, "no invalid area geometry stored");
}
