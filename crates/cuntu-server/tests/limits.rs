//! Issue 12, limits: a geometry with more points than grid edits take (10,000) is refused by
//! the OGC API feature writes too, with a reason in Chinese or English, and nothing is stored.

mod common;

use common::{login, start_server, township_with_admin, Ground, ADMIN};
use cuntu_store::testing::TestDatabase;
use serde_json::{json, Value};

fn line(points: usize) -> Value {
    let coordinates: Vec<[f64; 2]> = (0..points)
        .map(|i| [9.51 + 0.08 * i as f64 / points as f64, 47.15])
        .collect();
    json!({"type": "LineString", "coordinates": coordinates})
}

#[tokio::test]
async fn ogc_writes_refuse_more_vertices_than_grid_edits_take() {
    let db = TestDatabase::new().await.unwrap();
    township_with_admin(&db.store, Ground::Square("限点镇")).await;
    let base = start_server(db.store.clone()).await;
    let cookie = login(&base, ADMIN.0, ADMIN.1).await.unwrap();
    let http = reqwest::Client::new();
    let hazards = || async {
        sqlx::query_scalar::<_, i64>("SELECT count(*) FROM hazards")
            .fetch_one(db.store.pool())
            .await
            .unwrap()
    };
    let before = hazards().await;
    let post = |geometry: Value, lang: &'static str| {
        http.post(format!("{base}/ogc/collections/hazards/items"))
            .header("cookie", &cookie)
            .header("accept-language", lang)
            .header("content-type", "application/geo+json")
            .body(
                json!({
                    "type": "Feature",
                    "geometry": geometry,
                    "properties": {"name": "长堤", "kind": "flood", "severity": "high"},
                })
                .to_string(),
            )
            .send()
    };
    for (lang, words) in [
        ("zh-CN", "10001 个点，超过上限 10000"),
        ("en", "10001 points, more than the limit of 10000"),
    ] {
        let r = post(line(10_001), lang).await.unwrap();
        assert_eq!(r.status(), 422, "{lang}");
        let body: Value = r.json().await.unwrap();
        assert!(body.to_string().contains(words), "{lang}: {body}");
    }
    assert_eq!(hazards().await, before, "nothing stored");
    // At the limit the points are not what is refused.
    let r = post(line(10_000), "en").await.unwrap();
    let status = r.status();
    let body = r.text().await.unwrap();
    assert!(!body.contains("more than the limit"), "{status} {body}");
    assert!(status.is_success(), "{status} {body}");
    assert_eq!(hazards().await, before + 1);
}
