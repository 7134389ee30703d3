//! `cuntu import FILE --layer areas --kind grid` on the demo township: the export of the areas
//! layer comes back as the same grids (same ids by code, same shapes, same households in
//! them); a file that overlaps or lies outside the villages is refused with its rows named
//! and the database unchanged.

use std::path::Path;

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

/// `cuntu import FILE --layer areas --kind KIND` and any further flags.
fn import_areas(url: &str, file: &Path, kind: &str, extra: &[&str]) -> std::process::Output {
    let file = file.to_str().unwrap();
    let mut args = vec!["import", file, "--layer", "areas", "--kind", kind];
    args.extend_from_slice(extra);
    cuntu(url, &args)
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
        let dry = import_areas(&db.url, &file, "grid", &["--dry-run"]);
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

        let run = import_areas(&db.url, &file, "grid", &[]);
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
    let file = feature_file(
        dir.path(),
        "bad.geojson",
        &[
            (r#"{"网格名称":"新网格"}"#, &existing),
            (
                r#"{"网格名称":"海上"}"#,
                r#"{"type":"Polygon","coordinates":[[[0,0],[0.01,0],[0.01,0.01],[0,0.01],[0,0]]]}"#,
            ),
        ],
    );
    let run = import_areas(&db.url, &file, "grid", &[]);
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
    let run = import_areas(&db.url, &file, "village", &[]);
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
    let run = import_areas(&db.url, &bad, "village", &[]);
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

/// A GeoJSON file of features given as (properties, geometry), both JSON text.
fn feature_file(dir: &Path, name: &str, features: &[(&str, &str)]) -> std::path::PathBuf {
    let features: Vec<String> = features
        .iter()
        .map(|(properties, geometry)| {
            format!(r#"{{"type":"Feature","properties":{properties},"geometry":{geometry}}}"#)
        })
        .collect();
    let file = dir.join(name);
    std::fs::write(
        &file,
        format!(
            r#"{{"type":"FeatureCollection","features":[{}]}}"#,
            features.join(",\n")
        ),
    )
    .unwrap();
    file
}

/// The western half of an area's bounding box, as GeoJSON.
const WESTERN_HALF_OF_BOX: &str =
    "SELECT ST_AsGeoJSON(ST_MakeEnvelope(ST_XMin(geom), ST_YMin(geom), \
     (ST_XMin(geom) + ST_XMax(geom)) / 2, ST_YMax(geom), 4326)) FROM areas WHERE id = $1";

async fn geojson_of(store: &Store, sql: &str, id: i64) -> String {
    sqlx::query_scalar(sql)
        .bind(id)
        .fetch_one(store.pool())
        .await
        .unwrap()
}

#[tokio::test]
async fn trim_cuts_a_new_grid_off_its_neighbours_and_hamlets_and_lanes_land_in_their_containers() {
    let db = TestDatabase::new().await.unwrap();
    common::load_demo(&db.store).await;
    let dir = tempfile::tempdir().unwrap();
    let (grid, code, _) = grids(&db.store).await.remove(0);
    let (village,): (i64,) = sqlx::query_as("SELECT parent_id FROM areas WHERE id = $1")
        .bind(grid)
        .fetch_one(db.store.pool())
        .await
        .unwrap();
    let whole = geojson_of(
        &db.store,
        "SELECT ST_AsGeoJSON(geom) FROM areas WHERE id = $1",
        grid,
    )
    .await;
    let in_grid_before: i64 =
        sqlx::query_scalar("SELECT count(*) FROM households WHERE grid_id = $1")
            .bind(grid)
            .fetch_one(db.store.pool())
            .await
            .unwrap();

    // The grid shrinks to the western half of its box, by its code; --trim keeps the half off
    // the neighbours it reaches into.
    let half = geojson_of(&db.store, WESTERN_HALF_OF_BOX, grid).await;
    let file = feature_file(
        dir.path(),
        "half.geojson",
        &[(&format!(r#"{{"网格编码":"{code}"}}"#), &half)],
    );
    let run = import_areas(&db.url, &file, "grid", &["--trim"]);
    assert!(run.status.success(), "{}", text(&run));
    assert!(
        text(&run).contains("0 新建 created, 1 改形 reshaped"),
        "{}",
        text(&run)
    );
    let in_half: i64 = sqlx::query_scalar("SELECT count(*) FROM households WHERE grid_id = $1")
        .bind(grid)
        .fetch_one(db.store.pool())
        .await
        .unwrap();
    assert!(
        in_half < in_grid_before,
        "half the grid holds fewer households"
    );

    // A new grid drawn over the whole old shape overlaps the half that stayed: refused as it
    // is, nothing written; with --trim it takes the freed half and the households in it.
    let file = feature_file(
        dir.path(),
        "new.geojson",
        &[(r#"{"网格名称":"新网格"}"#, &whole)],
    );
    let before = snapshot(&db.store).await;
    let refused = import_areas(&db.url, &file, "grid", &[]);
    let out = text(&refused);
    assert!(!refused.status.success(), "{out}");
    assert!(out.contains("重叠") && out.contains("trim"), "{out}");
    assert_eq!(snapshot(&db.store).await, before, "nothing written");
    let run = import_areas(&db.url, &file, "grid", &["--trim"]);
    assert!(run.status.success(), "{}", text(&run));
    assert!(
        text(&run).contains("1 新建 created, 0 改形 reshaped"),
        "{}",
        text(&run)
    );
    let (new_grid, parent, overlap, in_new): (i64, i64, f64, i64) = sqlx::query_as(
        "SELECT n.id, n.parent_id, ST_Area(ST_Intersection(n.geom, o.geom)), \
                (SELECT count(*) FROM households h WHERE h.grid_id = n.id) \
         FROM areas n, areas o WHERE n.name = '新网格' AND n.kind = 'grid' AND o.id = $1",
    )
    .bind(grid)
    .fetch_one(db.store.pool())
    .await
    .unwrap();
    assert_eq!(parent, village);
    assert!(
        overlap < 1e-10,
        "the new grid does not overlap the half: {overlap}"
    );
    assert_eq!(
        in_half + in_new,
        in_grid_before,
        "the households of the old shape are in the half or the new grid"
    );

    // A lane without a code inside the new grid: filed under it with the next free code.
    let shape = geojson_of(
        &db.store,
        "SELECT ST_AsGeoJSON(geom) FROM areas WHERE id = $1",
        new_grid,
    )
    .await;
    let file = feature_file(
        dir.path(),
        "lane.geojson",
        &[(r#"{"名称":"一巷"}"#, &shape)],
    );
    let run = import_areas(&db.url, &file, "lane", &[]);
    assert!(run.status.success(), "{}", text(&run));
    let (lane_parent, lane_code): (i64, String) =
        sqlx::query_as("SELECT parent_id, code FROM areas WHERE kind = 'lane' AND name = '一巷'")
            .fetch_one(db.store.pool())
            .await
            .unwrap();
    assert_eq!(lane_parent, new_grid);
    assert!(!lane_code.is_empty());

    // A hamlet: the village's western half, with a code and a name; imported again by code it
    // is reshaped, not doubled.
    let shape = geojson_of(
        &db.store,
        "SELECT ST_AsGeoJSON(ST_Intersection(geom, ST_MakeEnvelope(ST_XMin(geom), ST_YMin(geom), \
                (ST_XMin(geom) + ST_XMax(geom)) / 2, ST_YMax(geom), 4326))) FROM areas WHERE id = $1",
        village,
    )
    .await;
    let file = feature_file(
        dir.path(),
        "hamlet.geojson",
        &[(r#"{"编码":"H-TEST-1","名称":"西庄"}"#, &shape)],
    );
    for (expected, label) in [
        ("1 新建 created, 0 改形 reshaped", "first"),
        ("0 新建 created, 1 改形 reshaped", "again"),
    ] {
        let run = import_areas(&db.url, &file, "hamlet", &[]);
        assert!(run.status.success(), "{label}: {}", text(&run));
        assert!(text(&run).contains(expected), "{label}: {}", text(&run));
    }
    let hamlets: Vec<(i64, String)> = sqlx::query_as(
        "SELECT parent_id, name FROM areas WHERE kind = 'hamlet' AND code = 'H-TEST-1'",
    )
    .fetch_all(db.store.pool())
    .await
    .unwrap();
    assert_eq!(hamlets, [(village, "西庄".to_string())]);
}

#[tokio::test]
async fn a_grid_that_grows_into_room_a_later_row_frees_is_stored_on_a_second_pass() {
    let db = TestDatabase::new().await.unwrap();
    common::load_demo(&db.store).await;
    let dir = tempfile::tempdir().unwrap();
    // Two grids of one village: row 1 grows A over the eastern part of B, row 2 shrinks B to
    // its western part. Row 1 comes first and overlaps B as B still is.
    let (a, a_code, b, b_code, a_then, b_then, total, grown, shrunk): (
        i64,
        String,
        i64,
        String,
        i64,
        i64,
        f64,
        String,
        String,
    ) = sqlx::query_as(
        "WITH pair AS ( \
           SELECT a.id AS a, a.code AS a_code, a.geom AS ag, b.id AS b, b.code AS b_code, b.geom AS bg, \
                  ST_MakeEnvelope(ST_XMin(b.geom), ST_YMin(b.geom), \
                                  (ST_XMin(b.geom) + ST_XMax(b.geom)) / 2, ST_YMax(b.geom), 4326) AS west \
           FROM areas a JOIN areas b ON a.parent_id = b.parent_id AND a.id < b.id \
           WHERE a.kind = 'grid' AND b.kind = 'grid' ORDER BY a.id, b.id LIMIT 1) \
         SELECT a, a_code, b, b_code, \
                (SELECT count(*) FROM households WHERE grid_id = a), \
                (SELECT count(*) FROM households WHERE grid_id = b), \
                ST_Area(ag) + ST_Area(bg), \
                ST_AsGeoJSON(ST_Union(ag, ST_Difference(bg, west))), \
                ST_AsGeoJSON(ST_Intersection(bg, west)) \
         FROM pair",
    )
    .fetch_one(db.store.pool())
    .await
    .unwrap();
    let (a_props, b_props) = (
        format!(r#"{{"网格编码":"{a_code}"}}"#),
        format!(r#"{{"网格编码":"{b_code}"}}"#),
    );
    let file = feature_file(
        dir.path(),
        "two.geojson",
        &[(&a_props, &grown), (&b_props, &shrunk)],
    );
    let run = import_areas(&db.url, &file, "grid", &[]);
    let out = text(&run);
    assert!(run.status.success(), "{out}");
    assert!(out.contains("0 新建 created, 2 改形 reshaped"), "{out}");
    let (area_now, a_now, b_now, overlap): (f64, i64, i64, f64) = sqlx::query_as(
        "SELECT ST_Area(a.geom) + ST_Area(b.geom), \
                (SELECT count(*) FROM households WHERE grid_id = a.id), \
                (SELECT count(*) FROM households WHERE grid_id = b.id), \
                ST_Area(ST_Intersection(a.geom, b.geom)) \
         FROM areas a, areas b WHERE a.id = $1 AND b.id = $2",
    )
    .bind(a)
    .bind(b)
    .fetch_one(db.store.pool())
    .await
    .unwrap();
    assert!(overlap < 1e-10, "A and B do not overlap: {overlap}");
    assert!(
        (area_now - total).abs() < total * 1e-6,
        "A and B cover what they covered: {area_now} vs {total}"
    );
    assert_eq!(
        a_now + b_now,
        a_then + b_then,
        "their households stay theirs"
    );
    assert!(a_now > a_then, "A took B's eastern households");
}
