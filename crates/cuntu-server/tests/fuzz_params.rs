//! Issue 12, bad input: generated query and path parameters on every GET route of the OpenAPI
//! document (/api/openapi.json), sent by a township admin over the demo township. Each case
//! picks a route and gives each of its parameters a value (left out, a plausible one, random
//! numbers, bboxes of odd numbers, tile coordinates out of range, random text); the server
//! must answer below 500 (a 503 only for its own time limit). A failing case is shrunk by
//! proptest to its simplest form. Routes that sum up the whole township (over a second an
//! answer in a debug build) get two cases each. `CUNTU_FUZZ_CASES` sets the number of cases (default 400).

mod common;

use std::collections::BTreeMap;
use std::sync::Mutex;

use common::{
    login, operation_parameters, percent_encode, rate_limits_off, start_server,
    township_with_admin, Ground, ADMIN,
};
use cuntu_store::testing::TestDatabase;
use proptest::prelude::*;
use serde_json::Value;

/// A value that passes for `name`, so that a case often reaches the handler.
fn plausible(name: &str, ids: &(i64, i64)) -> String {
    match name {
        "collection_id" => "households".into(),
        "layer" => "areas".into(),
        "format" | "f" => "json".into(),
        "z" => "14".into(),
        "x" => "8627".into(),
        "y" => "5753".into(),
        "lon" => "9.52".into(),
        "lat" => "47.13".into(),
        "bbox" => "9.5,47.1,9.6,47.2".into(),
        "limit" => "5".into(),
        "offset" => "0".into(),
        "household" | "feature_id" => ids.1.to_string(),
        _ => ids.0.to_string(),
    }
}

#[derive(Debug, Clone)]
enum Value_ {
    Absent,
    Plausible,
    Text(String),
}

fn number() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<i64>().prop_map(|n| n.to_string()),
        any::<i32>().prop_map(|n| n.to_string()),
        (-200.0..200.0f64).prop_map(|f| f.to_string()),
        any::<f64>().prop_map(|f| f.to_string()),
        prop::sample::select(vec![
            "0",
            "-0",
            "-1",
            "NaN",
            "inf",
            "-inf",
            "1e999",
            "1e-999",
            "0x10",
            "+5",
            " 5",
            "5 ",
            "99999999999999999999999999",
            "4294967296",
            "2147483648",
            "-9223372036854775809",
            "1.",
            ".5",
            "1,5",
            "１２",
            "",
        ])
        .prop_map(str::to_string),
    ]
}

fn value() -> impl Strategy<Value = Value_> {
    prop_oneof![
        2 => Just(Value_::Absent),
        3 => Just(Value_::Plausible),
        3 => number().prop_map(Value_::Text),
        2 => prop::collection::vec(number(), 1..6).prop_map(|v| Value_::Text(v.join(","))),
        2 => "\\PC{0,40}".prop_map(Value_::Text),
        1 => prop::sample::select(vec![
            "true", "false", "null", "[]", "{}", "%", "%zz", "&", "=", "..", "../..", "\u{0}",
            "households", "areas", "grid", "village", "reported", "accepted", "open311", "app",
            "json", "html", "geojson", "csv", "xlsx", "gpkg", "2026-11-22", "2026-13-45",
            "2026-11-22T25:00:00Z", "zh", "en",
        ])
        .prop_map(|s| Value_::Text(s.to_string())),
    ]
}

/// The GET operations: path and (name, in) of each parameter.
fn get_routes(doc: &Value) -> Vec<(String, Vec<(String, String)>)> {
    let mut routes = Vec::new();
    for (path, methods) in doc["paths"].as_object().unwrap() {
        let Some(op) = methods.get("get") else {
            continue;
        };
        let params = operation_parameters(op);
        routes.push((path.clone(), params));
    }
    routes
}

/// Per route: answers sent, and whether one took more than a second.
static SLOW: Mutex<BTreeMap<String, (usize, bool)>> = Mutex::new(BTreeMap::new());

#[test]
fn generated_parameters_on_every_get_route_never_get_a_5xx() {
    rate_limits_off();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (db, base, cookie, ids, routes) = rt.block_on(async {
        let db = TestDatabase::new().await.unwrap();
        township_with_admin(&db.store, Ground::Demo).await;
        let ids: (i64, i64) = sqlx::query_as(
            "SELECT (SELECT min(id) FROM areas WHERE kind = 'grid'), \
                    (SELECT min(id) FROM households)",
        )
        .fetch_one(db.store.pool())
        .await
        .unwrap();
        let base = start_server(db.store.clone()).await;
        let cookie = login(&base, ADMIN.0, ADMIN.1).await.unwrap();
        let doc: Value = reqwest::get(format!("{base}/api/openapi.json"))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        (db, base, cookie, ids, get_routes(&doc))
    });
    assert!(
        routes.len() > 20,
        "the OpenAPI document lists the GET routes"
    );
    let http = reqwest::Client::new();
    let by_status = Mutex::new(BTreeMap::<u16, usize>::new());
    let cases: u32 = std::env::var("CUNTU_FUZZ_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(400);
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig {
        cases,
        failure_persistence: None,
        rng_seed: proptest::test_runner::RngSeed::Fixed(12),
        ..ProptestConfig::default()
    });
    let strategy = (
        0..routes.len(),
        prop::collection::vec(value(), 8),
        prop::option::of("[a-z_]{1,12}"),
    );
    let result = runner.run(&strategy, |(route, values, extra)| {
        let (path, params) = &routes[route];
        let mut url = path.clone();
        let mut query = Vec::new();
        for (i, (name, place)) in params.iter().enumerate() {
            let v = match &values[i % values.len()] {
                // A path parameter cannot be left out.
                Value_::Absent if place == "path" => plausible(name, &ids),
                Value_::Absent => continue,
                Value_::Plausible => plausible(name, &ids),
                Value_::Text(t) => t.clone(),
            };
            if place == "path" {
                url = url.replace(&format!("{{{name}}}"), &percent_encode(&v));
            } else {
                query.push(format!("{name}={}", percent_encode(&v)));
            }
        }
        // A parameter the route does not know (an OGC filter on a queryable, or nothing).
        if let Some(name) = extra {
            query.push(format!("{name}={}", percent_encode("x")));
        }
        if !query.is_empty() {
            url = format!("{url}?{}", query.join("&"));
        }
        // Routes that sum up the whole township take seconds in a debug build: after their
        // first slow answers they get no more cases, to keep the test under a minute.
        if SLOW
            .lock()
            .unwrap()
            .get(path)
            .is_some_and(|(n, slow)| *slow && *n >= 2)
        {
            *by_status.lock().unwrap().entry(0).or_default() += 1;
            return Ok(());
        }
        let t0 = std::time::Instant::now();
        let (status, body) = rt.block_on(async {
            let r = http
                .get(format!("{base}{url}"))
                .header("cookie", &cookie)
                .send()
                .await
                .unwrap();
            let status = r.status().as_u16();
            (status, r.text().await.unwrap_or_default())
        });
        *by_status.lock().unwrap().entry(status).or_default() += 1;
        {
            let mut slow = SLOW.lock().unwrap();
            let entry = slow.entry(path.clone()).or_default();
            entry.0 += 1;
            entry.1 |= t0.elapsed() > std::time::Duration::from_secs(1);
        }
        prop_assert!(
            status < 500 || status == 503 && body.contains("timed_out"),
            "GET {url}: {status} {body}"
        );
        Ok(())
    });
    let mut by_status = by_status.into_inner().unwrap();
    let skipped = by_status.remove(&0).unwrap_or(0);
    let sent: usize = by_status.values().sum();
    let slow: Vec<String> = SLOW
        .lock()
        .unwrap()
        .iter()
        .filter(|(_, (_, slow))| *slow)
        .map(|(path, _)| path.clone())
        .collect();
    println!(
        "query parameters: {cases} cases over {} GET routes, {sent} requests sent, answers by \
         status {by_status:?}; {skipped} cases not sent to the slow routes {slow:?}",
        routes.len()
    );
    if let Err(e) = result {
        panic!("{e}");
    }
    rt.block_on(db.store.pool().close());
}
