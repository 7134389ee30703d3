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

/// An area's household list comes in pages: `limit` (default and most 1000) from `offset`,
/// with the total and where the next page starts; the pages together are the whole list.
#[tokio::test]
async fn an_areas_households_come_in_pages() {
    let db = TestDatabase::new().await.unwrap();
    let township = township_with_admin(&db.store, Ground::Demo).await;
    let base = start_server(db.store.clone()).await;
    let cookie = login(&base, ADMIN.0, ADMIN.1).await.unwrap();
    let grid: i64 = sqlx::query_scalar(
        "SELECT g.id FROM areas g JOIN areas v ON v.id = g.parent_id \
          WHERE g.kind = 'grid' AND v.parent_id = $1 \
          ORDER BY (SELECT count(*) FROM households h WHERE h.grid_id = g.id) DESC LIMIT 1",
    )
    .bind(township)
    .fetch_one(db.store.pool())
    .await
    .unwrap();
    let get = |query: String| {
        let url = format!("{base}/api/areas/{grid}/households{query}");
        let cookie = cookie.clone();
        async move {
            let r = reqwest::Client::new()
                .get(url)
                .header("cookie", cookie)
                .header("accept-language", "en")
                .send()
                .await
                .unwrap();
            (r.status().as_u16(), r.json::<Value>().await.unwrap())
        }
    };
    let ids = |v: &Value| -> Vec<i64> {
        v["households"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| h["id"].as_i64().unwrap())
            .collect()
    };
    let (status, whole) = get(String::new()).await;
    assert_eq!(status, 200, "{whole}");
    let all = ids(&whole);
    assert!(all.len() > 10, "a grid with households");
    assert_eq!(whole["total"], all.len());
    assert_eq!(whole["limit"], 1000);
    assert!(whole["next_offset"].is_null());
    let mut paged = Vec::new();
    let mut offset = Some(0);
    while let Some(o) = offset {
        let (status, page) = get(format!("?limit=10&offset={o}")).await;
        assert_eq!(status, 200, "{page}");
        assert!(ids(&page).len() <= 10);
        assert_eq!(page["total"], all.len());
        paged.extend(ids(&page));
        offset = page["next_offset"].as_i64();
    }
    assert_eq!(
        paged, all,
        "the pages make the whole list, in order, once each"
    );
    let (status, past) = get(format!("?offset={}", all.len())).await;
    assert_eq!(status, 200);
    assert!(ids(&past).is_empty());
    for bad in ["?limit=0", "?limit=1001", "?offset=-1", "?limit=x"] {
        let (status, body) = get(bad.to_string()).await;
        assert_eq!(status, 400, "{bad}: {body}");
        assert!(
            body.to_string().contains("limit") || body.to_string().contains("parameters"),
            "{bad}: {body}"
        );
    }
}
