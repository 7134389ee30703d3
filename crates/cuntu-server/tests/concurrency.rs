//! Issue 12, concurrency: 50 clients at once on the demo, renaming the same grids with the
//! version they read, recording visits whose client ids collide, and accepting the same
//! incidents. No lost update (every acknowledged rename is a version in the history, stale
//! ones get 409), exactly one accept per incident, one visit per client id, no 5xx (a deadlock
//! would be one), and every household still inside its grid. `CUNTU_SOAK_SECONDS` (default
//! 8) sets how long it runs; the figure is 60.

mod common;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{add_user, login, rate_limits_off, start_server, township_with_admin, Ground, ADMIN};
use cuntu_core::auth::Role;
use cuntu_store::testing::TestDatabase;
use serde_json::json;

#[derive(Default)]
struct Tally {
    statuses: Mutex<BTreeMap<(&'static str, u16), usize>>,
    renamed: Mutex<HashMap<i64, Vec<String>>>,
    visits: Mutex<HashSet<String>>,
    accepted: Mutex<HashMap<i64, usize>>,
}

impl Tally {
    fn count(&self, what: &'static str, status: u16) {
        *self
            .statuses
            .lock()
            .unwrap()
            .entry((what, status))
            .or_default() += 1;
    }
}

#[tokio::test]
async fn fifty_clients_lose_no_update_and_meet_no_deadlock() {
    rate_limits_off();
    let seconds: u64 = std::env::var("CUNTU_SOAK_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(8);
    let db = TestDatabase::new().await.unwrap();
    let township = township_with_admin(&db.store, Ground::Demo).await;
    let pool = db.store.pool().clone();
    // The grid with the most households of the township, its neighbours for renames.
    let grid: i64 = sqlx::query_scalar(
        "SELECT g.id FROM areas g JOIN areas v ON v.id = g.parent_id \
          WHERE g.kind = 'grid' AND v.parent_id = $1 \
          ORDER BY (SELECT count(*) FROM households h WHERE h.grid_id = g.id) DESC, g.id LIMIT 1",
    )
    .bind(township)
    .fetch_one(&pool)
    .await
    .unwrap();
    let grids: Vec<i64> = sqlx::query_scalar(
        "SELECT id FROM areas WHERE kind = 'grid' AND parent_id = \
         (SELECT parent_id FROM areas WHERE id = $1) ORDER BY id LIMIT 4",
    )
    .bind(grid)
    .fetch_all(&pool)
    .await
    .unwrap();
    let households: Vec<i64> =
        sqlx::query_scalar("SELECT id FROM households WHERE grid_id = $1 ORDER BY id LIMIT 20")
            .bind(grid)
            .fetch_all(&pool)
            .await
            .unwrap();
    let (lon, lat): (f64, f64) = sqlx::query_as(
        "SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_PointOnSurface(geom) AS p FROM areas WHERE id = $1) s",
    )
    .bind(grid)
    .fetch_one(&pool)
    .await
    .unwrap();
    add_user(
        &db.store,
        "worker",
        "worker-password",
        Role::GridWorker,
        grid,
        &[],
    )
    .await;
    let base = start_server(db.store.clone()).await;
    let admin = login(&base, ADMIN.0, ADMIN.1).await.unwrap();
    let worker = login(&base, "worker", "worker-password").await.unwrap();
    let versions_before: HashMap<i64, i32> =
        sqlx::query_as::<_, (i64, i32)>("SELECT id, version FROM areas WHERE id = ANY($1)")
            .bind(&grids)
            .fetch_all(&pool)
            .await
            .unwrap()
            .into_iter()
            .collect();

    let tally = Arc::new(Tally::default());
    let stop = Arc::new(AtomicBool::new(false));
    let mut clients = Vec::new();
    for c in 0..50usize {
        let (base, admin, worker, tally, stop, pool, grids, households) = (
            base.clone(),
            admin.clone(),
            worker.clone(),
            tally.clone(),
            stop.clone(),
            pool.clone(),
            grids.clone(),
            households.clone(),
        );
        clients.push(tokio::spawn(async move {
            let http = reqwest::Client::new();
            let mut n = 0usize;
            while !stop.load(Ordering::SeqCst) {
                n += 1;
                match (c + n) % 3 {
                    0 => {
                        // Rename a grid with the version just read.
                        let id = grids[(c + n) % grids.len()];
                        let version: i32 =
                            sqlx::query_scalar("SELECT version FROM areas WHERE id = $1")
                                .bind(id)
                                .fetch_one(&pool)
                                .await
                                .unwrap();
                        let name = format!("并发网格 {c}-{n}");
                        let r = http
                            .patch(format!("{base}/api/areas/{id}"))
                            .header("cookie", &admin)
                            .json(&json!({ "name": name, "version": version }))
                            .send()
                            .await
                            .unwrap();
                        let status = r.status().as_u16();
                        tally.count("rename", status);
                        if status == 200 {
                            tally
                                .renamed
                                .lock()
                                .unwrap()
                                .entry(id)
                                .or_default()
                                .push(name);
                        }
                    }
                    1 => {
                        // A visit whose client id others send too.
                        let client_id = format!("soak-visit-{:02}", n % 40);
                        let household = households[n % households.len()];
                        let r = http
                            .post(format!("{base}/api/visits"))
                            .header("cookie", &worker)
                            .json(&json!({
                                "client_id": client_id,
                                "household_id": household,
                                "visited_at": "2026-11-20T08:00:00Z",
                                "found": "ok",
                            }))
                            .send()
                            .await
                            .unwrap();
                        let status = r.status().as_u16();
                        tally.count("visit", status);
                        if r.status().is_success() {
                            tally.visits.lock().unwrap().insert(client_id);
                        }
                    }
                    _ => {
                        // Report an incident, then accept the newest reported one with its
                        // version; others race for the same.
                        if n.is_multiple_of(4) {
                            let r = http
                                .post(format!("{base}/api/incidents"))
                                .header("cookie", &worker)
                                .json(&json!({
                                    "location": {"lon": lon, "lat": lat},
                                    "category": "rubbish",
                                    "description": format!("soak {c}-{n}"),
                                }))
                                .send()
                                .await
                                .unwrap();
                            tally.count("report", r.status().as_u16());
                        }
                        let newest: Option<(i64, i32)> = sqlx::query_as(
                            "SELECT id, version FROM incidents WHERE state = 'reported' \
                             ORDER BY id DESC LIMIT 1",
                        )
                        .fetch_optional(&pool)
                        .await
                        .unwrap();
                        if let Some((id, version)) = newest {
                            let r = http
                                .post(format!("{base}/api/incidents/{id}/actions"))
                                .header("cookie", &worker)
                                .json(&json!({ "action": "accept", "version": version }))
                                .send()
                                .await
                                .unwrap();
                            let status = r.status().as_u16();
                            tally.count("accept", status);
                            if status == 200 {
                                *tally.accepted.lock().unwrap().entry(id).or_default() += 1;
                            }
                        }
                    }
                }
            }
        }));
    }
    let started = Instant::now();
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    stop.store(true, Ordering::SeqCst);
    for c in clients {
        c.await.unwrap();
    }
    let statuses = tally.statuses.lock().unwrap().clone();
    let total: usize = statuses.values().sum();
    println!(
        "50 clients, {:.0} s, {total} requests: {statuses:?}",
        started.elapsed().as_secs_f64()
    );
    for ((what, status), n) in &statuses {
        assert!(*status < 500, "{what}: {n} answers {status}");
        assert!(
            matches!(*status, 200 | 201 | 409),
            "{what}: {n} answers {status}"
        );
    }
    assert!(statuses.contains_key(&("rename", 409)), "renames raced");
    assert!(statuses.contains_key(&("accept", 409)), "accepts raced");

    // Renames: each acknowledged one is a version; the history holds every one before the last.
    let renamed = tally.renamed.lock().unwrap().clone();
    for id in &grids {
        let names = renamed.get(id).cloned().unwrap_or_default();
        let (version, current): (i32, String) =
            sqlx::query_as("SELECT version, name FROM areas WHERE id = $1")
                .bind(id)
                .fetch_one(&pool)
                .await
                .unwrap();
        assert_eq!(
            version,
            versions_before[id] + names.len() as i32,
            "grid {id}: every acknowledged rename is one version, no more, no less"
        );
        let history: HashSet<String> =
            sqlx::query_scalar("SELECT name FROM area_versions WHERE area_id = $1")
                .bind(id)
                .fetch_all(&pool)
                .await
                .unwrap()
                .into_iter()
                .collect();
        for name in &names {
            assert!(
                history.contains(name) || *name == current,
                "grid {id}: the acknowledged rename to {name} was lost"
            );
        }
    }
    // Visits: one per client id.
    let stored: i64 = sqlx::query_scalar(
        "SELECT count(DISTINCT client_id) FROM visits WHERE client_id LIKE 'soak-%'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM visits WHERE client_id LIKE 'soak-%'")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(rows, stored, "one visit per client id");
    assert_eq!(stored as usize, tally.visits.lock().unwrap().len());
    // Accepts: one per incident, and the incident's accept event once.
    let accepted = tally.accepted.lock().unwrap().clone();
    assert!(accepted.values().all(|n| *n == 1), "{accepted:?}");
    let events: Vec<(i64, i64)> = sqlx::query_as(
        "SELECT incident_id, count(*) FROM incident_events WHERE action = 'accept' GROUP BY 1",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert!(events.iter().all(|(_, n)| *n == 1), "{events:?}");
    assert_eq!(events.len(), accepted.len());
    // The partition: every household inside the grid it is filed in.
    let astray: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM households h JOIN areas g ON g.id = h.grid_id \
          WHERE NOT ST_Covers(g.geom, h.geom)",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(astray, 0);
    println!(
        "renames acknowledged {}, visits stored {stored}, incidents accepted once each {}",
        renamed.values().map(Vec::len).sum::<usize>(),
        accepted.len()
    );
}
