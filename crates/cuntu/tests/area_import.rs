//! `cuntu import FILE --layer areas --kind grid` on the demo township: the export of the areas
//! layer comes back as the same grids (same ids by code, same shapes, same households in
//! them); a file that overlaps or lies outside the villages is refused with its rows named
//! and the database unchanged.

use cuntu_store::testing::TestDatabase;
use cuntu_store::Store;

#[path = "../../cuntu-server/tests/common/mod.rs"]
mod common;

mod cli;
use cli::{cuntu, text};

/// Every area's id, code, name and shape, and every household's grid: what must not change.
async fn snapshot(store: &Store) -> (Vec<(i64, String, String, String)>, Vec<(i64, Option<i64>)>) {
    let areas = sqlx::query_as("SELECT id, code, name, ST_AsText(geom) FROM areas ORDER BY id")
        .fetch_all(store.pool())
        .await
        .unwrap();
    let households = sqlx::query_as("SELECT id, grid_id FROM households ORDER BY id")
        .fetch_all(store.pool())
        .await
        .unwrap();
    (areas, households)
}

async fn grids(store: &Store) -> Vec<(i64, String, String)> {
    sqlx::query_as("SELECT id, code, name FROM areas WHERE kind = 'grid' ORDER BY id")
        .fetch_all(store.pool())
        .await
        .unwrap()
}

#[tokio::test]
async fn exported_grids_come_back_by_code_with_their_shapes_and_households() {
    let db = TestDatabase::new().await.unwrap();
    common::load_demo(&db.store).await;
    let dir = tempfile::tempdir().unwrap();
    let before = snapshot(&db.store).await;
    let grids_before = grids(&db.store).await;
    assert!(grids_before.len() >= 4, "the demo has grids");

    for format in ["gpkg", "geojson"] {
        let file = dir.path().join(format!("areas.{format}"));
        let out = cuntu(
            &db.url,
            &[
                "export",
                "--layer",
                "areas",
                "--format",
                format,
                "-o",
                file.to_str().unwrap(),
            ],
        );
        assert!(out.status.success(), "{}", text(&out));

        // Alter the database: two grids renamed, one reshaped to half of itself (its
        // households fall out of it, into the gap).
        let (a, b, c) = (&grids_before[0], &grids_before[1], &grids_before[2]);
        sqlx::query("UPDATE areas SET name = name || '改' WHERE id = ANY($1)")
            .bind(vec![a.0, b.0])
            .execute(db.store.pool())
            .await
            .unwrap();
        let reshaped = db
            .store
            .update_area(
                c.0,
                sqlx::query_scalar("SELECT version FROM areas WHERE id = $1")
                    .bind(c.0)
                    .fetch_one(db.store.pool())
                    .await
                    .unwrap(),
                None,
                Some(&cuntu_store::grid_edits::Drawing {
                    geometry: &half_of(&db.store, c.0).await,
                    trim: true,
                }),
                "test",
                false,
            )
            .await
            .unwrap();
        assert!(
            reshaped.moved_households > 0,
            "half a grid holds fewer households"
        );
        assert_ne!(snapshot(&db.store).await, before);

        // The dry run says what would happen and writes nothing.
        let altered = snapshot(&db.store).await;
        let dry = cuntu(
            &db.url,
            &[
                "import",
                file.to_str().unwrap(),
                "--layer",
                "areas",
                "--kind",
                "grid",
                "--dry-run",
            ],
        );
        let dry_text = text(&dry);
        assert!(dry.status.success(), "{dry_text}");
        assert!(dry_text.contains("reshaped"), "{dry_text}");
        assert!(
            dry_text.contains("rows of another kind left out"),
            "{dry_text}"
        );
        assert!(
            dry_text.contains(&format!(
                "0 新建 created, {} 改形 reshaped",
                grids_before.len()
            )),
            "{dry_text}"
        );
        assert_eq!(
            snapshot(&db.store).await,
            altered,
            "a dry run writes nothing"
        );

        let run = cuntu(
            &db.url,
            &[
                "import",
                file.to_str().unwrap(),
                "--layer",
                "areas",
                "--kind",
                "grid",
            ],
        );
        let run_text = text(&run);
        assert!(run.status.success(), "{run_text}");
        assert!(run_text.contains("households"), "{run_text}");

        // Same ids by code, names back, shapes within 1e-6° (0.1 m: the file's precision and
        // the editor's snapping), every household in the grid it was in before.
        assert_eq!(grids(&db.store).await, grids_before, "{format}");
        let worst: f64 = sqlx::query_scalar(
            "SELECT max(ST_HausdorffDistance(a.geom, ST_GeomFromText(b.wkt, 4326))) \
             FROM areas a JOIN unnest($1::bigint[], $2::text[]) AS b(id, wkt) ON a.id = b.id",
        )
        .bind(before.0.iter().map(|r| r.0).collect::<Vec<_>>())
        .bind(before.0.iter().map(|r| r.3.clone()).collect::<Vec<_>>())
        .fetch_one(db.store.pool())
        .await
        .unwrap();
        assert!(worst < 1e-6, "{format}: shapes moved by up to {worst}°");
        let after = snapshot(&db.store).await;
        assert_eq!(
            after.1, before.1,
            "{format}: households back in their grids"
        );
        assert_eq!(after.0.len(), before.0.len(), "no area added");
    }
}

/// The western half of an area's bounding box, as a drawing (trimmed off the neighbours).
async fn half_of(store: &Store, id: i64) -> geo::Geometry<f64> {
    let (x0, y0, x1, y1): (f64, f64, f64, f64) = sqlx::query_as(
        "SELECT ST_XMin(geom), ST_YMin(geom), ST_XMax(geom), ST_YMax(geom) FROM areas WHERE id = $1",
    )
    .bind(id)
    .fetch_one(store.pool())
    .await
    .unwrap();
    geo::Geometry::Polygon(geo::Rect::new((x0, y0), ((x0 + x1) / 2.0, y1)).to_polygon())
}

#[tokio::test]
async fn an_overlapping_grid_or_one_outside_the_villages_is_refused_and_nothing_changes() {
    let db = TestDatabase::new().await.unwrap();
    common::load_demo(&db.store).await;
    let dir = tempfile::tempdir().unwrap();
    let before = snapshot(&db.store).await;
    // Row 1: an existing grid's shape drawn again without its code (overlaps it); row 2: a
    // square at 0°, 0°, in no village.
    let existing: String = sqlx::query_scalar(
        "SELECT ST_AsGeoJSON(geom) FROM areas WHERE kind = 'grid' ORDER BY id LIMIT 1",
    )
    .fetch_one(db.store.pool())
    .await
    .unwrap();
    let file = dir.path().join("bad.geojson");
    std::fs::write(
        &file,
        format!(
            r#"{{"type":"FeatureCollection","features":[
{{"type":"Feature","properties":{{"网格名称":"新网格"}},"geometry":{existing}}},
{{"type":"Feature","properties":{{"网格名称":"海上"}},"geometry":{{"type":"Polygon","coordinates":[[[0,0],[0.01,0],[0.01,0.01],[0,0.01],[0,0]]]}}}}
]}}"#
        ),
    )
    .unwrap();
    let run = cuntu(
        &db.url,
        &[
            "import",
            file.to_str().unwrap(),
            "--layer",
            "areas",
            "--kind",
            "grid",
        ],
    );
    let out = text(&run);
    assert!(!run.status.success(), "{out}");
    assert!(out.contains("第 1 行") && out.contains("重叠"), "{out}");
    assert!(
        out.contains("row 2") && out.contains("lies in no village"),
        "{out}"
    );
    assert!(out.contains("nothing written"), "{out}");
    assert_eq!(
        snapshot(&db.store).await,
        before,
        "the database is as it was"
    );

    // The same with --kind missing, or a township: refused before reading rows.
    let run = cuntu(
        &db.url,
        &["import", file.to_str().unwrap(), "--layer", "areas"],
    );
    assert!(!run.status.success());
    assert!(text(&run).contains("needs --kind"), "{}", text(&run));
    assert_eq!(snapshot(&db.store).await, before);
}

#[tokio::test]
async fn villages_reimport_by_code_and_the_triggers_refusals_come_back_as_row_problems() {
    let db = TestDatabase::new().await.unwrap();
    common::load_demo(&db.store).await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("areas.geojson");
    let out = cuntu(
        &db.url,
        &[
            "export",
            "--layer",
            "areas",
            "--format",
            "geojson",
            "-o",
            file.to_str().unwrap(),
        ],
    );
    assert!(out.status.success(), "{}", text(&out));
    let villages: Vec<(i64, String)> =
        sqlx::query_as("SELECT id, code FROM areas WHERE kind = 'village' ORDER BY id")
            .fetch_all(db.store.pool())
            .await
            .unwrap();
    let before = snapshot(&db.store).await;
    let run = cuntu(
        &db.url,
        &[
            "import",
            file.to_str().unwrap(),
            "--layer",
            "areas",
            "--kind",
            "village",
        ],
    );
    let run_text = text(&run);
    assert!(run.status.success(), "{run_text}");
    assert!(
        run_text.contains(&format!("0 新建 created, {} 改形 reshaped", villages.len())),
        "{run_text}"
    );
    let after = snapshot(&db.store).await;
    assert_eq!(after.0.len(), before.0.len());
    assert_eq!(after.1, before.1, "households stay where they were");

    // A new village over two existing ones, and one sticking out of the township: each a
    // problem of its row in words (the areas triggers' refusals), nothing written.
    let (x0, y0, x1, y1): (f64, f64, f64, f64) = sqlx::query_as(
        "SELECT ST_XMin(geom), ST_YMin(geom), ST_XMax(geom), ST_YMax(geom) FROM areas WHERE kind = 'township'",
    )
    .fetch_one(db.store.pool())
    .await
    .unwrap();
    let (cx, cy) = ((x0 + x1) / 2.0, (y0 + y1) / 2.0);
    let square = |a: f64, b: f64, c: f64, d: f64| {
        format!("[[[{a},{b}],[{c},{b}],[{c},{d}],[{a},{d}],[{a},{b}]]]")
    };
    let bad = dir.path().join("villages.geojson");
    std::fs::write(
        &bad,
        format!(
            r#"{{"type":"FeatureCollection","features":[
{{"type":"Feature","properties":{{"区划代码":"130111103299","村名":"新村"}},"geometry":{{"type":"Polygon","coordinates":{}}}}},
{{"type":"Feature","properties":{{"区划代码":"130111103298","村名":"界外村"}},"geometry":{{"type":"Polygon","coordinates":{}}}}}
]}}"#,
            square(cx - 0.01, cy - 0.01, cx + 0.01, cy + 0.01),
            square(x1 - 0.001, cy, x1 + 0.05, cy + 0.01),
        ),
    )
    .unwrap();
    let run = cuntu(
        &db.url,
        &[
            "import",
            bad.to_str().unwrap(),
            "--layer",
            "areas",
            "--kind",
            "village",
        ],
    );
    let out = text(&run);
    assert!(!run.status.success(), "{out}");
    assert!(out.contains("第 1 行 / row 1"), "{out}");
    assert!(out.contains("第 2 行 / row 2"), "{out}");
    assert!(out.contains("nothing written"), "{out}");
    assert_eq!(
        snapshot(&db.store).await.0,
        after.0,
        "no village added or changed"
    );
}
