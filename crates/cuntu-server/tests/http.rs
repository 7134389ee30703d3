//! The HTTP surface over a real PostGIS holding the real demo township.

mod common;

use common::{client, eventually, insert_township, json, load_demo, start_server};
use cuntu_core::TileCoord;
use cuntu_store::cluster::LocalCluster;
use cuntu_store::testing::TestDatabase;
use cuntu_store::Store;
use reqwest::StatusCode;

#[tokio::test]
async fn the_demo_township_over_http() {
    let db = TestDatabase::new().await.unwrap();
    load_demo(&db.store).await;
    let base = start_server(db.store.clone()).await;

    // Health: the database answers and the index holds the demo.
    let (status, health) = json(&format!("{base}/healthz"), "zh-CN").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(health["database"]["status"], "ok");
    assert!(health["index"]["households"].as_u64().unwrap() > 10_000);

    // The catalogue lists every layer, each with TileJSON 3.0.0.
    let (_, catalogue) = json(&format!("{base}/tiles"), "zh-CN").await;
    let ids: Vec<&str> = catalogue["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        [
            "areas",
            "households",
            "facilities",
            "hazards",
            "roads",
            "waterways"
        ]
    );
    let (_, tilejson) = json(&format!("{base}/tiles/households"), "zh-CN").await;
    assert_eq!(tilejson["tilejson"], "3.0.0");
    assert_eq!(tilejson["vector_layers"][0]["id"], "households");
    assert!(tilejson["tiles"][0].as_str().unwrap().starts_with(&base));

    // A grid of the demo, and a point inside it.
    let (grid_id, grid_wkt): (i64, String) = sqlx::query_as(
        "SELECT a.id, ST_AsText(ST_PointOnSurface(a.geom)) FROM areas a \
         WHERE a.kind = 'grid' AND a.name = '网格01' ORDER BY a.code LIMIT 1",
    )
    .fetch_one(db.store.pool())
    .await
    .unwrap();
    let coords: Vec<f64> = grid_wkt
        .trim_start_matches("POINT(")
        .trim_end_matches(')')
        .split(' ')
        .map(|c| c.parse().unwrap())
        .collect();
    let (lon, lat) = (coords[0], coords[1]);

    // Locate gives township → village → grid.
    let (status, located) = json(&format!("{base}/api/locate?lon={lon}&lat={lat}"), "zh-CN").await;
    assert_eq!(status, StatusCode::OK);
    let kinds: Vec<&str> = located["chain"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["township", "village", "grid"]);
    assert_eq!(located["chain"][2]["id"], grid_id);

    // The same in a batch, in order, with a point outside everything; a bad point is named.
    let batch: serde_json::Value = client()
        .post(format!("{base}/api/locate"))
        .json(&serde_json::json!({ "points": [[lon, lat], [116.4, 39.9], [lon, lat]] }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let chain_ids: Vec<serde_json::Value> = located["chain"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["id"].clone())
        .collect();
    assert_eq!(batch["chains"][0].as_array().unwrap(), &chain_ids);
    assert_eq!(batch["chains"][1].as_array().unwrap().len(), 0);
    assert_eq!(batch["chains"][2], batch["chains"][0]);
    let refused = client()
        .post(format!("{base}/api/locate"))
        .header("accept-language", "en")
        .json(&serde_json::json!({ "points": [[lon, lat], [200.0, 47.0]] }))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::BAD_REQUEST);
    assert!(refused.text().await.unwrap().contains("Point 2"));

    // Each layer's tile over that point decodes to as many features as PostGIS holds there
    // (households as a township admin sees them: all of the township).
    let township: i64 = located["chain"][0]["id"].as_i64().unwrap();
    common::add_user(
        &db.store,
        "admin",
        "admin-password",
        cuntu_core::auth::Role::TownshipAdmin,
        township,
        &[],
    )
    .await;
    let cookie = common::login(&base, "admin", "admin-password")
        .await
        .unwrap();
    let tile = TileCoord::containing(15, lon, lat).unwrap();
    for layer in [
        "areas",
        "households",
        "facilities",
        "hazards",
        "roads",
        "waterways",
    ] {
        let url = format!("{base}/tiles/{layer}/{}/{}/{}", tile.z, tile.x, tile.y);
        let response = client()
            .get(&url)
            .header("cookie", &cookie)
            .send()
            .await
            .unwrap();
        let expected: i64 = sqlx::query_scalar(&format!(
            "SELECT count(*) FROM {layer} t WHERE ST_Intersects(ST_Transform(t.geom, 3857), \
             ST_TileEnvelope($1, $2, $3, margin => 64.0 / 4096))"
        ))
        .bind(tile.z as i32)
        .bind(tile.x as i32)
        .bind(tile.y as i32)
        .fetch_one(db.store.pool())
        .await
        .unwrap();
        if expected == 0 {
            assert_eq!(response.status(), StatusCode::NO_CONTENT, "{layer}");
            continue;
        }
        assert_eq!(response.status(), StatusCode::OK, "{layer}");
        assert_eq!(
            response.headers()["content-type"],
            "application/vnd.mapbox-vector-tile"
        );
        let etag = response.headers()["etag"].to_str().unwrap().to_string();
        let bytes = response.bytes().await.unwrap().to_vec();
        let reader = mvt_reader::Reader::new(bytes).expect("decodes as MVT");
        assert_eq!(reader.get_layer_names().unwrap(), vec![layer.to_string()]);
        let features = reader.get_features(0).unwrap();
        assert_eq!(
            features.len() as i64,
            expected,
            "{layer} features in tile {tile:?}"
        );

        let again = client()
            .get(&url)
            .header("cookie", &cookie)
            .header("if-none-match", &etag)
            .send()
            .await
            .unwrap();
        assert_eq!(again.status(), StatusCode::NOT_MODIFIED, "{layer}");
    }
    let households_there: i64 =
        sqlx::query_scalar("SELECT count(*) FROM households WHERE grid_id = $1")
            .bind(grid_id)
            .fetch_one(db.store.pool())
            .await
            .unwrap();
    assert!((30..=60).contains(&households_there), "{households_there}");

    // Area details count the grid's households and give its chain.
    let (_, detail) = json(&format!("{base}/api/areas/{grid_id}"), "zh-CN").await;
    assert_eq!(detail["households"], households_there);
    assert_eq!(detail["chain"].as_array().unwrap().len(), 3);

    // Far from any village: an empty chain and an empty tile.
    let (_, nowhere) = json(&format!("{base}/api/locate?lon=116.4&lat=39.9"), "zh-CN").await;
    assert_eq!(nowhere["chain"].as_array().unwrap().len(), 0);
    let far = TileCoord::containing(14, 116.4, 39.9).unwrap();
    let r = client()
        .get(format!("{base}/tiles/households/14/{}/{}", far.x, far.y))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
}

#[tokio::test]
async fn bad_requests_get_4xx_with_a_message_in_the_callers_language() {
    let db = TestDatabase::new().await.unwrap();
    let base = start_server(db.store.clone()).await;
    let cases = [
        (
            "/tiles/people",
            StatusCode::NOT_FOUND,
            "没有名为",
            "There is no layer",
        ),
        (
            "/tiles/people/1/0/0",
            StatusCode::NOT_FOUND,
            "没有名为",
            "There is no layer",
        ),
        (
            "/tiles/areas/23/0/0",
            StatusCode::BAD_REQUEST,
            "不存在",
            "does not exist",
        ),
        (
            "/tiles/areas/2/4/1",
            StatusCode::BAD_REQUEST,
            "不存在",
            "does not exist",
        ),
        (
            "/tiles/areas/a/b/c",
            StatusCode::BAD_REQUEST,
            "不存在",
            "does not exist",
        ),
        (
            "/api/locate?lon=abc&lat=47",
            StatusCode::BAD_REQUEST,
            "必须是数字",
            "must be a number",
        ),
        (
            "/api/locate?lon=9.5&lat=95",
            StatusCode::BAD_REQUEST,
            "超出范围",
            "outside",
        ),
        (
            "/api/locate?lat=47",
            StatusCode::BAD_REQUEST,
            "缺少参数 lon",
            "Missing parameter lon",
        ),
        (
            "/api/locate?lon=NaN&lat=47",
            StatusCode::BAD_REQUEST,
            "超出范围",
            "outside",
        ),
        (
            "/api/areas/999999",
            StatusCode::NOT_FOUND,
            "找不到",
            "not found",
        ),
        ("/api/areas/x", StatusCode::NOT_FOUND, "找不到", "not found"),
        (
            "/api/nothing-here",
            StatusCode::NOT_FOUND,
            "找不到",
            "not found",
        ),
    ];
    for (path, status, zh, en) in cases {
        let (s, body) = json(&format!("{base}{path}"), "zh-CN,zh;q=0.9").await;
        assert_eq!(s, status, "{path}");
        let message = body["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains(zh), "{path}: {message}");
        let (s, body) = json(&format!("{base}{path}"), "en-US,en;q=0.9").await;
        assert_eq!(s, status, "{path}");
        let message = body["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains(en), "{path}: {message}");
    }
}

/// Stops PostgreSQL under a running server: requests get 503 with a message, the server
/// stays up, and it serves again by itself once the database is back.
#[tokio::test]
async fn database_down_gives_503_and_the_server_recovers() {
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let cluster = LocalCluster::new(dir.path().join("pg"), port);
    struct StopOnDrop(LocalCluster);
    impl Drop for StopOnDrop {
        fn drop(&mut self) {
            let _ = self.0.stop();
        }
    }
    let guard = StopOnDrop(cluster.clone());
    let url = cluster.ensure_running().unwrap();
    let store = Store::connect(&url).await.unwrap();
    store.migrate().await.unwrap();
    insert_township(&store, "冶河镇").await;
    let base = start_server(store).await;
    let (status, _) = json(&format!("{base}/api/areas/1"), "zh-CN").await;
    assert_eq!(status, StatusCode::OK);

    guard.0.stop().unwrap();
    let (status, body) = json(&format!("{base}/api/areas/1"), "zh-CN").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("数据库暂时无法连接"));
    let (status, health) = json(&format!("{base}/healthz"), "en").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(health["database"]["status"], "unavailable");
    // The R-tree still answers from memory while the database is away.
    let (status, located) = json(&format!("{base}/api/locate?lon=9.55&lat=47.15"), "zh-CN").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(located["chain"][0]["name"], "冶河镇");

    guard.0.ensure_running().unwrap();
    let recovered = eventually(|| async {
        json(&format!("{base}/api/areas/1"), "zh-CN").await.0 == StatusCode::OK
    })
    .await;
    assert!(
        recovered,
        "the server serves again once the database is back"
    );
    let (status, _) = json(&format!("{base}/healthz"), "zh-CN").await;
    assert_eq!(status, StatusCode::OK);
}

/// A change written by another process reaches this server's R-tree through LISTEN/NOTIFY.
#[tokio::test]
async fn changes_from_elsewhere_reach_the_index() {
    let db = TestDatabase::new().await.unwrap();
    let base = start_server(db.store.clone()).await;
    let (_, before) = json(&format!("{base}/api/locate?lon=9.55&lat=47.15"), "zh-CN").await;
    assert_eq!(before["chain"].as_array().unwrap().len(), 0);
    let other = Store::connect(&db.url).await.unwrap();
    insert_township(&other, "窦妪镇").await;
    let seen = eventually(|| async {
        let (_, after) = json(&format!("{base}/api/locate?lon=9.55&lat=47.15"), "zh-CN").await;
        after["chain"][0]["name"] == "窦妪镇"
    })
    .await;
    assert!(seen, "the new township is found within ten seconds");
}
