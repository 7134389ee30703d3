//! SQL only through bound parameters (issue 12): SQL metacharacters through every path and query
//! parameter of the OpenAPI document, as a township admin of the demo, answer no 5xx and
//! change no row of any table.

mod common;

use common::{
    add_user, client, load_demo, login, operation_parameters, percent_encode, start_server,
};
use cuntu_core::auth::Role;
use cuntu_store::testing::TestDatabase;
use serde_json::Value;

const PAYLOADS: &[&str] = &[
    "'",
    "''",
    "\"",
    "' OR '1'='1",
    "1 OR 1=1",
    "1; DROP TABLE households; --",
    "1'); DELETE FROM areas; --",
    "' UNION SELECT password_hash, NULL FROM users --",
    "\\'; TRUNCATE audit_log; --",
    "$1",
    "%27%20OR%201%3D1",
    "＇ OR 1=1",
    "1e999",
    "-1",
    "name = 'x' OR 1=1",
    "S_INTERSECTS(geom, POLYGON((0 0, 1 0, 1 1, 0 0))) OR 1=1",
];

/// A value that passes for `name` (so that only the parameter under test is wrong), chosen so
/// that a write, even if it were carried out, would find nothing: ids that do not exist.
fn harmless(name: &str, method: &str, ids: &Ids) -> String {
    let read = method == "get";
    match name {
        "collection_id" => "households".into(),
        "layer" => "areas".into(),
        "format" => "json".into(),
        "z" => "14".into(),
        "x" => "8627".into(),
        "y" => "5753".into(),
        "lon" => "9.52".into(),
        "lat" => "47.13".into(),
        "q" => "1".into(),
        "f" => "json".into(),
        "limit" => "5".into(),
        "code" => "road".into(),
        "id" | "grid" if read => ids.area.to_string(),
        "household" | "feature_id" if read => ids.household.to_string(),
        _ => "987654321".into(),
    }
}

struct Ids {
    area: i64,
    household: i64,
}

#[tokio::test]
async fn sql_metacharacters_in_every_parameter_change_nothing_and_never_fail() {
    // Thousands of writes from one session: the rate limit would answer most with 429 before
    // the parameter reached a handler. (This test binary is its own process.)
    std::env::set_var("CUNTU_RATE_LIMITS", "off");
    let db = TestDatabase::new().await.unwrap();
    load_demo(&db.store).await;
    let township: i64 = sqlx::query_scalar("SELECT id FROM areas WHERE code = '130111103'")
        .fetch_one(db.store.pool())
        .await
        .unwrap();
    let ids = Ids {
        area: sqlx::query_scalar("SELECT min(id) FROM areas WHERE kind = 'grid'")
            .fetch_one(db.store.pool())
            .await
            .unwrap(),
        household: sqlx::query_scalar("SELECT min(id) FROM households")
            .fetch_one(db.store.pool())
            .await
            .unwrap(),
    };
    add_user(
        &db.store,
        "fuzz-admin",
        "fuzz-admin-password",
        Role::TownshipAdmin,
        township,
        &[cuntu_core::auth::Grant::Personal],
    )
    .await;
    let base = start_server(db.store.clone()).await;
    let cookie = login(&base, "fuzz-admin", "fuzz-admin-password")
        .await
        .unwrap();
    let before = db.store.facts().await.unwrap().tables;

    let doc: Value = client()
        .get(format!("{base}/api/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mut sent = 0usize;
    let mut parameters = 0usize;
    let mut by_status = std::collections::BTreeMap::<u16, usize>::new();
    for (path, methods) in doc["paths"].as_object().unwrap() {
        for (method, op) in methods.as_object().unwrap() {
            let params = operation_parameters(op);
            for (target, _) in &params {
                parameters += 1;
                for payload in PAYLOADS {
                    let mut url = path.clone();
                    let mut query = Vec::new();
                    for (name, place) in &params {
                        let value = if name == target {
                            payload.to_string()
                        } else {
                            harmless(name, method, &ids)
                        };
                        if place == "path" {
                            url = url.replace(&format!("{{{name}}}"), &percent_encode(&value));
                        } else {
                            query.push(format!("{name}={}", percent_encode(&value)));
                        }
                    }
                    if !query.is_empty() {
                        url = format!("{url}?{}", query.join("&"));
                    }
                    let method_name = method.to_uppercase();
                    let mut request = client()
                        .request(method_name.parse().unwrap(), format!("{base}{url}"))
                        .header("cookie", &cookie);
                    if matches!(method.as_str(), "post" | "put" | "patch") {
                        request = request
                            .header("content-type", "application/json")
                            .body("{}");
                    }
                    let r = request.send().await.unwrap();
                    let status = r.status().as_u16();
                    *by_status.entry(status).or_default() += 1;
                    sent += 1;
                    assert!(
                        status < 500
                            || status == 503 && r.text().await.unwrap().contains("timed_out"),
                        "{method_name} {url}: {status}"
                    );
                }
            }
        }
    }
    // And a queryable property of an OGC collection as a filter (?name=value).
    for payload in PAYLOADS {
        let r = client()
            .get(format!(
                "{base}/ogc/collections/facilities/items?name={}",
                percent_encode(payload)
            ))
            .header("cookie", &cookie)
            .send()
            .await
            .unwrap();
        sent += 1;
        *by_status.entry(r.status().as_u16()).or_default() += 1;
        assert!(r.status().as_u16() < 500, "?name={payload}: {}", r.status());
    }
    let after = db.store.facts().await.unwrap().tables;
    // Reads of household detail are audited: the audit log may grow, nothing else may change.
    let changed: Vec<String> = before
        .iter()
        .filter(|(t, n)| t.as_str() != "audit_log" && after.get(*t) != Some(n))
        .map(|(t, n)| format!("{t}: {n} → {:?}", after.get(t)))
        .collect();
    assert!(changed.is_empty(), "rows changed: {changed:?}");
    for table in ["areas", "households", "users", "incidents"] {
        assert_eq!(before[table], after[table], "{table}");
    }
    println!(
        "{sent} requests ({parameters} parameters × {} payloads): statuses {by_status:?}",
        PAYLOADS.len()
    );
    assert!(sent > 500);
}
