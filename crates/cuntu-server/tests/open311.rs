//! Open311 GeoReport v2 against PostGIS: a client written from the specification (Python's
//! standard library only, scripts/open311_client.py) lists the services, posts a request and
//! reads it back; the request is an incident in the township's triage queue, its workflow
//! facts in `extended_attributes`; errors come in the format asked for.

mod common;

use common::{add_user, client, start_server};
use cuntu_core::auth::Role;
use cuntu_store::testing::TestDatabase;
use reqwest::StatusCode;
use serde_json::Value;

#[tokio::test]
async fn a_spec_client_lists_posts_and_reads_back() {
    let db = TestDatabase::new().await.unwrap();
    let township: i64 = sqlx::query_scalar(
        "INSERT INTO areas (kind, code, name, geom) VALUES ('township', 'T', '花山镇', \
         ST_Multi(ST_GeomFromText('POLYGON((114.30 30.60, 114.34 30.60, 114.34 30.64, 114.30 30.64, 114.30 30.60))', 4326))) RETURNING id",
    )
    .fetch_one(db.store.pool())
    .await
    .unwrap();
    let portal = add_user(
        &db.store,
        "portal",
        "pw-portal-1",
        Role::TownshipAdmin,
        township,
        &[],
    )
    .await;
    let (key, hash) = cuntu_server::auth::new_token();
    db.store
        .create_api_token(&hash, portal, "citizen portal")
        .await
        .unwrap();
    let base = start_server(db.store.clone()).await;
    let v2 = format!("{base}/open311/v2");

    let script =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/open311_client.py");
    let out = tokio::process::Command::new("python3")
        .arg(&script)
        .args([&v2, &key, "rubbish", "30.615", "114.325"])
        .output()
        .await
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "the spec client failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let summary: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(summary["services"], serde_json::json!(8));
    assert_eq!(summary["attributes"], serde_json::json!(["grade"]));
    assert_eq!(
        summary["extended_attributes"]["grade"],
        serde_json::json!("major")
    );
    assert_eq!(
        summary["extended_attributes"]["state"],
        serde_json::json!("reported")
    );
    let id: i64 = summary["posted"].as_str().unwrap().parse().unwrap();

    // It is an incident of the township, from Open311, awaiting triage.
    let row = db.store.incident(id).await.unwrap().unwrap();
    assert_eq!(
        (row.township_id, row.source.as_str(), row.state.as_str()),
        (Some(township), "open311", "reported")
    );
    assert!(row.reporter.unwrap().contains("Wei Zhang"));

    // Errors in Open311's own format: no key, a bad key, an unknown service, no location.
    let post = |form: &'static [(&'static str, &'static str)]| {
        let url = format!("{v2}/requests.xml");
        async move {
            let r = client()
                .post(url)
                .header("accept-language", "en")
                .form(form)
                .send()
                .await
                .unwrap();
            (r.status(), r.text().await.unwrap())
        }
    };
    let (status, body) = post(&[
        ("service_code", "rubbish"),
        ("lat", "30.61"),
        ("long", "114.32"),
        ("description", "x"),
    ])
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(body.contains("<errors><error><code>403</code>"), "{body}");
    let (status, _) = post(&[
        ("api_key", "nope"),
        ("service_code", "rubbish"),
        ("lat", "30.61"),
        ("long", "114.32"),
    ])
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let r = client()
        .post(format!("{v2}/requests.json"))
        .header("accept-language", "en")
        .form(&[
            ("api_key", key.as_str()),
            ("service_code", "ufo"),
            ("lat", "30.61"),
            ("long", "114.32"),
            ("description", "x"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let errors: Value = r.json().await.unwrap();
    assert_eq!(errors[0]["code"], serde_json::json!(400));
    assert!(
        errors[0]["description"]
            .as_str()
            .unwrap()
            .contains("rubbish"),
        "{errors}"
    );
    let r = client()
        .post(format!("{v2}/requests.json"))
        .form(&[
            ("api_key", key.as_str()),
            ("service_code", "rubbish"),
            ("description", "x"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let r = client()
        .get(format!("{v2}/services.yaml"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    // Human labels follow Accept-Language (Chinese by default); the codes stay.
    for (lang, service, state) in [
        ("zh-CN", "垃圾堆放", "已上报"),
        ("en", "rubbish", "reported"),
    ] {
        let r = client()
            .get(format!("{v2}/requests/{id}.json"))
            .header("accept-language", lang)
            .send()
            .await
            .unwrap();
        let one: Value = r.json().await.unwrap();
        assert_eq!(one[0]["service_code"], serde_json::json!("rubbish"));
        assert_eq!(one[0]["service_name"], serde_json::json!(service), "{one}");
        assert_eq!(
            one[0]["extended_attributes"]["state_label"],
            serde_json::json!(state),
            "{one}"
        );
    }
    // The township's triage queue: its admin lists the public's reports apart.
    let cookie = common::login(&base, "portal", "pw-portal-1").await.unwrap();
    let list = |q: &'static str| {
        let (base, cookie) = (base.clone(), cookie.clone());
        async move {
            let r = client()
                .get(format!("{base}/api/incidents?{q}"))
                .header("cookie", cookie)
                .header("accept-language", "en")
                .send()
                .await
                .unwrap();
            (r.status(), r.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    let ids = |v: &Value| -> Vec<i64> {
        v["features"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["id"].as_i64().unwrap())
            .collect()
    };
    let (status, public) = list("source=open311&state=reported").await;
    assert_eq!(status, StatusCode::OK, "{public}");
    assert_eq!(ids(&public), vec![id]);
    assert_eq!(
        public["features"][0]["properties"]["source_label"],
        serde_json::json!("the public (Open311)")
    );
    let (_, app) = list("source=app").await;
    assert!(!ids(&app).contains(&id));
    assert_eq!(list("source=fax").await.0, StatusCode::BAD_REQUEST);
    // Closed and open filter as the spec says.
    let r = client()
        .get(format!("{v2}/requests.json?status=closed"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.json::<Value>().await.unwrap(), serde_json::json!([]));
}
