//! Property: any sequence of splits and merges of a village's grids keeps the partition exact
//! (union = village, no overlap above 0.01 m², every household in exactly one grid).
//! Each seed plays a different random sequence; the seeds make failures reproducible.

use cuntu_store::testing::TestDatabase;
use cuntu_store::StoreError;
use geo::{coord, LineString};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const VILLAGE: &str =
    "POLYGON((9.50 47.10, 9.52 47.10, 9.525 47.115, 9.51 47.125, 9.50 47.12, 9.50 47.10))";

async fn setup(db: &TestDatabase) -> (i64, i64) {
    let pool = db.store.pool();
    let t: i64 = sqlx::query_scalar(
        "INSERT INTO areas (kind, code, name, geom) VALUES ('township', 'T', 'T', \
         ST_Multi(ST_Expand(ST_GeomFromText($1, 4326), 0.01))) RETURNING id",
    )
    .bind(VILLAGE)
    .fetch_one(pool)
    .await
    .unwrap();
    let v: i64 = sqlx::query_scalar(
        "INSERT INTO areas (kind, parent_id, code, name, geom) \
         VALUES ('village', $1, 'V', 'V', ST_Multi(ST_GeomFromText($2, 4326))) RETURNING id",
    )
    .bind(t)
    .bind(VILLAGE)
    .fetch_one(pool)
    .await
    .unwrap();
    let g: i64 = sqlx::query_scalar(
        "INSERT INTO areas (kind, parent_id, code, name, geom) \
         SELECT 'grid', $1, 'V-01', '网格01', geom FROM areas WHERE id = $1 RETURNING id",
    )
    .bind(v)
    .fetch_one(pool)
    .await
    .unwrap();
    // 200 households scattered over the village.
    sqlx::query(
        "INSERT INTO households (geom) \
         SELECT (ST_Dump(ST_GeneratePoints(geom, 200, 7))).geom FROM areas WHERE id = $1",
    )
    .bind(v)
    .execute(pool)
    .await
    .unwrap();
    (v, g)
}

async fn assert_exact(db: &TestDatabase, village: i64, context: &str) {
    let (gap, extra, overlap): (f64, f64, f64) = sqlx::query_as(
        "SELECT planar_area_m2(ST_Difference(v.geom, u.geom)), \
                planar_area_m2(ST_Difference(u.geom, v.geom)), \
                coalesce((SELECT sum(planar_area_m2(ST_Intersection(a.geom, b.geom))) \
                          FROM areas a JOIN areas b ON a.parent_id = b.parent_id AND a.id < b.id \
                          WHERE a.parent_id = v.id AND ST_Intersects(a.geom, b.geom)), 0) \
         FROM areas v, LATERAL (SELECT ST_Union(geom) AS geom FROM areas WHERE parent_id = v.id) u \
         WHERE v.id = $1",
    )
    .bind(village)
    .fetch_one(db.store.pool())
    .await
    .unwrap();
    assert!(gap < 0.01, "{context}: uncovered {gap} m²");
    assert!(extra < 0.01, "{context}: outside the village {extra} m²");
    assert!(overlap < 0.01, "{context}: overlap {overlap} m²");
    let (unfiled, total): (i64, i64) =
        sqlx::query_as("SELECT count(*) FILTER (WHERE grid_id IS NULL), count(*) FROM households")
            .fetch_one(db.store.pool())
            .await
            .unwrap();
    assert_eq!(
        (unfiled, total),
        (0, 200),
        "{context}: every household in one grid"
    );
}

#[tokio::test]
async fn random_splits_and_merges_keep_the_partition_exact() {
    for seed in 0..4u64 {
        let db = TestDatabase::new().await.unwrap();
        let (village, _) = setup(&db).await;
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut done = 0;
        for step in 0..14 {
            let grids: Vec<(i64, i32, f64, f64, f64, f64)> = sqlx::query_as(
                "SELECT id, version, ST_XMin(geom), ST_YMin(geom), ST_XMax(geom), ST_YMax(geom) \
                 FROM areas WHERE parent_id = $1 ORDER BY id",
            )
            .bind(village)
            .fetch_all(db.store.pool())
            .await
            .unwrap();
            let (id, version, x0, y0, x1, y1) = grids[rng.gen_range(0..grids.len())];
            let split = grids.len() < 3 || rng.gen_bool(0.6);
            let context = format!("seed {seed} step {step}");
            let result = if split {
                // A straight cut across the grid's box, vertical or horizontal, at a random
                // place; slightly tilted so that cuts are not all parallel.
                let t: f64 = rng.gen_range(0.2..0.8);
                let tilt: f64 = rng.gen_range(-0.2..0.2);
                let line = if rng.gen_bool(0.5) {
                    let x = x0 + t * (x1 - x0);
                    let dx = tilt * (x1 - x0);
                    LineString::new(vec![
                        coord! { x: x - dx, y: y0 - 0.001 },
                        coord! { x: x + dx, y: y1 + 0.001 },
                    ])
                } else {
                    let y = y0 + t * (y1 - y0);
                    let dy = tilt * (y1 - y0);
                    LineString::new(vec![
                        coord! { x: x0 - 0.001, y: y - dy },
                        coord! { x: x1 + 0.001, y: y + dy },
                    ])
                };
                db.store
                    .split_area(id, version, &line, "property-test", false)
                    .await
            } else {
                let neighbour: Option<(i64, i32)> = sqlx::query_as(
                    "SELECT n.id, n.version FROM areas n, areas g WHERE g.id = $1 AND n.parent_id = g.parent_id \
                     AND n.id <> g.id AND ST_DWithin(n.geom, g.geom, 1e-7) ORDER BY n.id LIMIT 1",
                )
                .bind(id)
                .fetch_optional(db.store.pool())
                .await
                .unwrap();
                match neighbour {
                    Some(n) => {
                        db.store
                            .merge_areas((id, version), n, "property-test", false)
                            .await
                    }
                    None => continue,
                }
            };
            match result {
                Ok(_) => done += 1,
                // A cut through a multi-part grid may make three pieces: refused, untouched.
                Err(StoreError::Invalid { .. }) => {}
                Err(e) => panic!("{context}: {e}"),
            }
            assert_exact(&db, village, &context).await;
        }
        assert!(done >= 8, "seed {seed}: only {done} edits went through");
    }
}
