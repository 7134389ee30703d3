//! The schema's rules, checked against a real PostGIS (a throwaway cluster of the tests).

use cuntu_core::layers::layer;
use cuntu_core::TileCoord;
use cuntu_store::testing::TestDatabase;
use cuntu_store::tiles::TileScope;
use cuntu_store::StoreError;

async fn insert_area(
    db: &TestDatabase,
    kind: &str,
    parent: Option<i64>,
    code: &str,
    wkt: &str,
) -> Result<i64, StoreError> {
    Ok(sqlx::query_scalar(
        "INSERT INTO areas (kind, parent_id, code, name, geom) \
         VALUES ($1, $2, $3, $3, ST_Multi(ST_GeomFromText($4, 4326))) RETURNING id",
    )
    .bind(kind)
    .bind(parent)
    .bind(code)
    .bind(wkt)
    .fetch_one(db.store.pool())
    .await?)
}

const TOWNSHIP: &str = "POLYGON((9.50 47.10, 9.54 47.10, 9.54 47.14, 9.50 47.14, 9.50 47.10))";
const VILLAGE: &str = "POLYGON((9.50 47.10, 9.52 47.10, 9.52 47.12, 9.50 47.12, 9.50 47.10))";
const GRID: &str = "POLYGON((9.50 47.10, 9.51 47.10, 9.51 47.11, 9.50 47.11, 9.50 47.10))";

#[tokio::test]
async fn migrations_give_postgis_and_the_schema() {
    let db = TestDatabase::new().await.expect("test database");
    let health = db.store.ping().await.expect("ping");
    assert!(health.postgis.is_some());
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT table_name::text FROM information_schema.tables WHERE table_schema = 'public' ORDER BY 1",
    )
    .fetch_all(db.store.pool())
    .await
    .unwrap();
    for t in [
        "areas",
        "area_versions",
        "households",
        "household_links",
        "facilities",
        "hazards",
        "roads",
        "waterways",
    ] {
        assert!(
            tables.iter().any(|x| x == t),
            "missing table {t}: {tables:?}"
        );
    }
}

#[tokio::test]
async fn a_child_must_lie_inside_its_parent() {
    let db = TestDatabase::new().await.unwrap();
    let t = insert_area(&db, "township", None, "T", TOWNSHIP)
        .await
        .unwrap();
    let v = insert_area(&db, "village", Some(t), "V", VILLAGE)
        .await
        .unwrap();
    insert_area(&db, "grid", Some(v), "G", GRID).await.unwrap();

    // A grid reaching 0.005° (about 400 m) beyond its village is refused, with the reason.
    let err = insert_area(
        &db,
        "grid",
        Some(v),
        "G2",
        "POLYGON((9.515 47.10, 9.525 47.10, 9.525 47.11, 9.515 47.11, 9.515 47.10))",
    )
    .await
    .unwrap_err();
    match err {
        StoreError::Rule {
            constraint,
            message,
            detail,
        } => {
            assert_eq!(constraint, "areas_within_parent");
            assert!(message.contains("超出了V的边界"), "{message}");
            let detail = detail.unwrap_or_default();
            assert!(detail.contains("outside its parent V"), "{detail}");
        }
        other => panic!("expected a rule violation, got {other:?}"),
    }
    // A village may not sit under a grid, nor a grid be a root.
    let g = sqlx::query_scalar::<_, i64>("SELECT id FROM areas WHERE code = 'G'")
        .fetch_one(db.store.pool())
        .await
        .unwrap();
    assert!(matches!(
        insert_area(&db, "village", Some(g), "V2", GRID).await,
        Err(StoreError::Rule { ref constraint, .. }) if constraint == "areas_parent_rank"
    ));
    assert!(matches!(
        insert_area(&db, "grid", None, "G3", GRID).await,
        Err(StoreError::Rule { ref constraint, .. }) if constraint == "areas_township_is_root"
    ));
    // Shrinking the village so that its grid would stick out is refused too.
    let shrink = sqlx::query(
        "UPDATE areas SET geom = ST_Multi(ST_GeomFromText('POLYGON((9.505 47.10, 9.52 47.10, 9.52 47.12, 9.505 47.12, 9.505 47.10))', 4326)) WHERE id = $1",
    )
    .bind(v)
    .execute(db.store.pool())
    .await;
    assert!(shrink.is_err(), "the grid would be left outside");
}

#[tokio::test]
async fn edits_are_versioned_with_history_and_households_find_their_grid() {
    let db = TestDatabase::new().await.unwrap();
    let t = insert_area(&db, "township", None, "T", TOWNSHIP)
        .await
        .unwrap();
    let v = insert_area(&db, "village", Some(t), "V", VILLAGE)
        .await
        .unwrap();
    let g = insert_area(&db, "grid", Some(v), "G", GRID).await.unwrap();
    let h: (i64, Option<i64>) = sqlx::query_as(
        "INSERT INTO households (geom) VALUES (ST_SetSRID(ST_MakePoint(9.505, 47.105), 4326)) RETURNING id, grid_id",
    )
    .fetch_one(db.store.pool())
    .await
    .unwrap();
    assert_eq!(h.1, Some(g));

    let mut tx = db.store.pool().begin().await.unwrap();
    sqlx::query("SET LOCAL cuntu.actor = 'cadre-1'")
        .execute(&mut *tx)
        .await
        .unwrap();
    sqlx::query("UPDATE areas SET name = '网格01' WHERE id = $1")
        .bind(g)
        .execute(&mut *tx)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let (version,): (i32,) = sqlx::query_as("SELECT version FROM areas WHERE id = $1")
        .bind(g)
        .fetch_one(db.store.pool())
        .await
        .unwrap();
    assert_eq!(version, 2);
    let (old_name, by): (String, Option<String>) = sqlx::query_as(
        "SELECT name, replaced_by FROM area_versions WHERE area_id = $1 AND version = 1",
    )
    .bind(g)
    .fetch_one(db.store.pool())
    .await
    .unwrap();
    assert_eq!((old_name.as_str(), by.as_deref()), ("G", Some("cadre-1")));

    let detail = db.store.area_detail(v).await.unwrap();
    assert_eq!(detail.households, 1);
    let chain: Vec<&str> = detail.chain.iter().map(|a| a.code.as_str()).collect();
    assert_eq!(chain, ["T", "V"]);
    assert!(matches!(
        db.store.area_detail(99_999).await,
        Err(StoreError::NotFound)
    ));
}

#[tokio::test]
async fn tiles_carry_the_features_of_their_layer() {
    let db = TestDatabase::new().await.unwrap();
    let t = insert_area(&db, "township", None, "T", TOWNSHIP)
        .await
        .unwrap();
    let v = insert_area(&db, "village", Some(t), "V", VILLAGE)
        .await
        .unwrap();
    insert_area(&db, "grid", Some(v), "G", GRID).await.unwrap();
    for i in 0..3 {
        sqlx::query("INSERT INTO households (geom, house_number, head_name) VALUES (ST_SetSRID(ST_MakePoint($1, 47.105), 4326), $2, '王建国')")
            .bind(9.501 + 0.001 * f64::from(i))
            .bind(format!("{i}号"))
            .execute(db.store.pool())
            .await
            .unwrap();
    }
    let tile = TileCoord::containing(14, 9.505, 47.105).unwrap();
    // Anonymous viewers get no households at all; a viewer scoped to the township gets all.
    let households = layer("households").unwrap();
    let anonymous = db
        .store
        .tile(households, tile, TileScope::ANONYMOUS)
        .await
        .unwrap();
    assert!(anonymous.is_empty());
    let roots = [t];
    let township = TileScope {
        household_roots: &roots,
    };
    let bytes = db.store.tile(households, tile, township).await.unwrap();
    let reader = mvt_reader::Reader::new(bytes).expect("valid MVT");
    let layers = reader.get_layer_names().unwrap();
    assert_eq!(layers, vec!["households".to_string()]);
    let features = reader.get_features(0).unwrap();
    assert_eq!(features.len(), 3);
    let props = features[0].properties.as_ref().unwrap();
    assert!(props.contains_key("house_number") && props.contains_key("grid_id"));
    assert!(
        !props.contains_key("head_name"),
        "no personal data in tiles"
    );

    let areas = db
        .store
        .tile(layer("areas").unwrap(), tile, TileScope::ANONYMOUS)
        .await
        .unwrap();
    let reader = mvt_reader::Reader::new(areas).unwrap();
    let features = reader.get_features(0).unwrap();
    assert_eq!(features.len(), 3, "township, village and grid");
    let grid = features
        .iter()
        .find(|f| {
            f.properties
                .as_ref()
                .unwrap()
                .get("kind")
                .map(|k| format!("{k:?}"))
                .unwrap_or_default()
                .contains("grid")
        })
        .expect("grid feature");
    assert!(format!("{:?}", grid.properties.as_ref().unwrap().get("households")).contains('3'));

    // Below the layer's minimum zoom, and far away, a tile is empty.
    let far = TileCoord::containing(14, 100.0, 30.0).unwrap();
    assert!(db
        .store
        .tile(households, far, township)
        .await
        .unwrap()
        .is_empty());
    let low = TileCoord::containing(5, 9.505, 47.105).unwrap();
    assert!(db
        .store
        .tile(households, low, township)
        .await
        .unwrap()
        .is_empty());
}
