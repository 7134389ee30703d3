//! Issue 12, faults: the database goes away under load and comes back, twice over: through a
//! TCP proxy that the test cuts (every open connection dropped, new ones refused) and restores,
//! and for real: a PostGIS cluster of the test's own stopped with `pg_ctl stop -m fast` and
//! started again. While it is down every answer is 503 (never 500, never a hang); afterwards
//! the server recovers by itself; every acknowledged write is in the database, and every
//! incident found there is whole (its `reported` event with it).

mod common;

use std::collections::{BTreeMap, HashSet};
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{
    check_acknowledged, client, login, rate_limits_off, start_server, stored_incidents,
    township_with_admin, Ground, OwnCluster, ADMIN,
};
use cuntu_store::testing::TestDatabase;
use cuntu_store::Store;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// A proxy to `upstream` on a port of its own.
struct Proxy {
    port: u16,
    up: Arc<AtomicBool>,
    cut: watch::Sender<u64>,
}

impl Proxy {
    async fn start(upstream: u16) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let up = Arc::new(AtomicBool::new(true));
        let (cut, cuts) = watch::channel(0u64);
        let accepting = up.clone();
        tokio::spawn(async move {
            loop {
                let Ok((mut inbound, _)) = listener.accept().await else {
                    continue;
                };
                if !accepting.load(Ordering::SeqCst) {
                    drop(inbound);
                    continue;
                }
                let mut cuts = cuts.clone();
                cuts.borrow_and_update();
                tokio::spawn(async move {
                    let Ok(mut outbound) = TcpStream::connect(("127.0.0.1", upstream)).await else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                        _ = cuts.changed() => {}
                    }
                });
            }
        });
        Proxy { port, up, cut }
    }

    fn down(&self) {
        self.up.store(false, Ordering::SeqCst);
        self.cut.send_modify(|n| *n += 1);
    }

    fn restore(&self) {
        self.up.store(true, Ordering::SeqCst);
    }
}

#[derive(Default)]
struct Tally {
    by_phase: Mutex<BTreeMap<(&'static str, u16), usize>>,
    acknowledged: Mutex<HashSet<String>>,
    sent_writes: AtomicUsize,
}

/// What eight clients met while the database went away and came back.
struct Outage {
    by_phase: BTreeMap<(&'static str, u16), usize>,
    acknowledged: HashSet<String>,
    sent_writes: usize,
}

impl Outage {
    fn count(&self, phase: &str, ok: fn(u16) -> bool) -> usize {
        self.by_phase
            .iter()
            .filter(|((p, status), _)| *p == phase && ok(*status))
            .map(|(_, n)| n)
            .sum()
    }
}

/// Eight clients (as `cookie`) reporting incidents described `<prefix>client C write N` and
/// listing them, while `down` takes the database away for `down_for` and `up` brings it back. Asserts the answers of each phase: all 2xx before, all 503 while down, the server
/// answering again by itself, all 2xx after. Answers that straddle a switch are not counted.
async fn outage(
    base: &str,
    cookie: &str,
    prefix: &'static str,
    down_for: Duration,
    down: impl Future<Output = ()>,
    up: impl Future<Output = ()>,
) -> Outage {
    let phase = Arc::new(Mutex::new("before"));
    let tally = Arc::new(Tally::default());
    let stop = Arc::new(AtomicBool::new(false));
    let mut clients = Vec::new();
    for c in 0..8 {
        let (base, cookie, phase, tally, stop) = (
            base.to_string(),
            cookie.to_string(),
            phase.clone(),
            tally.clone(),
            stop.clone(),
        );
        clients.push(tokio::spawn(async move {
            // Longer than any answer may take: a request that hangs shows as status 0.
            let http = reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .unwrap();
            let mut n = 0;
            while !stop.load(Ordering::SeqCst) {
                n += 1;
                let at = *phase.lock().unwrap();
                let status = if n % 2 == 0 {
                    let description = format!("{prefix}client {c} write {n}");
                    tally.sent_writes.fetch_add(1, Ordering::SeqCst);
                    let r = http
                        .post(format!("{base}/api/incidents"))
                        .header("cookie", &cookie)
                        .json(&serde_json::json!({
                            "location": {"lon": 9.55, "lat": 47.15},
                            "category": "rubbish",
                            "description": description,
                        }))
                        .send()
                        .await;
                    match r {
                        Ok(r) => {
                            if r.status().is_success() {
                                tally.acknowledged.lock().unwrap().insert(description);
                            }
                            r.status().as_u16()
                        }
                        Err(_) => 0,
                    }
                } else {
                    match http
                        .get(format!("{base}/api/incidents"))
                        .header("cookie", &cookie)
                        .send()
                        .await
                    {
                        Ok(r) => r.status().as_u16(),
                        Err(_) => 0,
                    }
                };
                // Answers that straddle a switch are counted under the phase they began in.
                if at == *phase.lock().unwrap() {
                    *tally
                        .by_phase
                        .lock()
                        .unwrap()
                        .entry((at, status))
                        .or_default() += 1;
                }
            }
        }));
    }
    let set = |name: &'static str| *phase.lock().unwrap() = name;
    tokio::time::sleep(Duration::from_secs(2)).await;
    set("switching");
    down.await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    set("down");
    tokio::time::sleep(down_for).await;
    set("switching back");
    up.await;
    // It recovers by itself: no restart, no request of ours to help it.
    let recovered = common::eventually(|| async {
        client()
            .get(format!("{base}/api/incidents"))
            .header("cookie", cookie)
            .send()
            .await
            .is_ok_and(|r| r.status().is_success())
    })
    .await;
    assert!(
        recovered,
        "the server answers again after the database is back"
    );
    set("after");
    // Until the clients have had some answers begun after the recovery (requests begun before
    // it may still be waiting for a connection), at most 30 s.
    let since = Instant::now();
    while since.elapsed() < Duration::from_secs(30) {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let after: usize = tally
            .by_phase
            .lock()
            .unwrap()
            .iter()
            .filter(|((p, _), _)| *p == "after")
            .map(|(_, n)| n)
            .sum();
        if after >= 40 && since.elapsed() >= Duration::from_secs(2) {
            break;
        }
    }
    stop.store(true, Ordering::SeqCst);
    for c in clients {
        c.await.unwrap();
    }

    let o = Outage {
        by_phase: tally.by_phase.lock().unwrap().clone(),
        acknowledged: tally.acknowledged.lock().unwrap().clone(),
        sent_writes: tally.sent_writes.load(Ordering::SeqCst),
    };
    let by_phase = &o.by_phase;
    println!("answers by phase and status: {by_phase:?}");
    fn success(s: u16) -> bool {
        (200..300).contains(&s)
    }
    assert!(o.count("before", success) > 0);
    assert_eq!(o.count("before", |s| !success(s)), 0, "{by_phase:?}");
    assert!(o.count("down", |s| s == 503) > 0, "{by_phase:?}");
    assert_eq!(
        o.count("down", |s| s != 503),
        0,
        "while the database is away every answer is 503 (0: no answer in 30 s): {by_phase:?}"
    );
    assert!(o.count("after", success) > 0, "{by_phase:?}");
    assert_eq!(o.count("after", |s| !success(s)), 0, "{by_phase:?}");
    o
}

#[tokio::test]
async fn the_database_goes_away_under_load_and_the_server_recovers_by_itself() {
    // Eight clients writing as fast as they can would meet the write limit (own process).
    rate_limits_off();
    let db = TestDatabase::new().await.unwrap();
    township_with_admin(&db.store, Ground::Square("断电镇")).await;
    let upstream: u16 = db
        .url
        .rsplit_once(':')
        .and_then(|(_, rest)| rest.split('/').next())
        .and_then(|p| p.parse().ok())
        .unwrap();
    let proxy = Proxy::start(upstream).await;
    let via_proxy = format!("postgres://postgres@127.0.0.1:{}/{}", proxy.port, db.name);
    let base = start_server(Store::connect_lazy(&via_proxy).unwrap()).await;
    let cookie = login(&base, ADMIN.0, ADMIN.1).await.unwrap();

    let o = outage(
        &base,
        &cookie,
        "fault-test ",
        Duration::from_secs(4),
        async { proxy.down() },
        async { proxy.restore() },
    )
    .await;

    // Every acknowledged write is there; whatever is there is whole.
    let found = stored_incidents(&db.store, "fault-test ").await;
    check_acknowledged(&o.acknowledged, &found);
    println!(
        "proxy cut: writes sent {}, acknowledged {}, found {} (unacknowledged but whole: {})",
        o.sent_writes,
        o.acknowledged.len(),
        found.len(),
        found.len() - o.acknowledged.len()
    );
}

#[tokio::test]
async fn postgres_stopped_fast_under_load_then_started_again() {
    rate_limits_off();
    let own = Arc::new(OwnCluster::start());
    let url = own.cluster.url();
    let store = Store::connect(&url).await.unwrap();
    store.migrate().await.unwrap();
    township_with_admin(&store, Ground::Square("停库镇")).await;
    let base = start_server(store.clone()).await;
    let cookie = login(&base, ADMIN.0, ADMIN.1).await.unwrap();

    let (stopping, starting) = (own.clone(), own.clone());
    let o = outage(
        &base,
        &cookie,
        "pg-stop-test ",
        // Refused connections are retried until the pool's 3 s acquire timeout, so a request
        // meets its 503 only after it: the outage lasts long enough for several rounds.
        Duration::from_secs(10),
        async move {
            tokio::task::spawn_blocking(move || stopping.cluster.stop())
                .await
                .unwrap()
                .expect("pg_ctl stop -m fast");
        },
        async move {
            tokio::task::spawn_blocking(move || starting.cluster.ensure_running())
                .await
                .unwrap()
                .expect("pg_ctl start");
        },
    )
    .await;

    let found = stored_incidents(&store, "pg-stop-test ").await;
    check_acknowledged(&o.acknowledged, &found);
    let down = o.count("down", |_| true);
    println!(
        "pg_ctl stop -m fast: {down} requests while down, {} answered 503; writes sent {}, \
         acknowledged {}, found {} (committed but unanswered: {})",
        o.count("down", |s| s == 503),
        o.sent_writes,
        o.acknowledged.len(),
        found.len(),
        found.len() - o.acknowledged.len()
    );
    store.pool().close().await;
}
