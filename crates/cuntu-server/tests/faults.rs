//! Issue 12, faults: the database goes away under load and comes back. The server reaches it
//! through a TCP proxy that the test can cut (every open connection dropped, new ones refused,
//! as when PostgreSQL stops) and restore. While it is down every answer is 503; afterwards the
//! server recovers by itself; every acknowledged write is in the database, and every incident
//! found there is whole (its `reported` event with it).

mod common;

use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{
    check_acknowledged, client, login, rate_limits_off, start_server, stored_incidents,
    township_with_admin, Ground, ADMIN,
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

    let phase = Arc::new(Mutex::new("before"));
    let tally = Arc::new(Tally::default());
    let stop = Arc::new(AtomicBool::new(false));
    let mut clients = Vec::new();
    for c in 0..8 {
        let (base, cookie, phase, tally, stop) = (
            base.clone(),
            cookie.clone(),
            phase.clone(),
            tally.clone(),
            stop.clone(),
        );
        clients.push(tokio::spawn(async move {
            let http = reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .unwrap();
            let mut n = 0;
            while !stop.load(Ordering::SeqCst) {
                n += 1;
                let at = *phase.lock().unwrap();
                let status = if n % 2 == 0 {
                    let description = format!("fault-test client {c} write {n}");
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
    proxy.down();
    tokio::time::sleep(Duration::from_millis(500)).await;
    set("down");
    tokio::time::sleep(Duration::from_secs(4)).await;
    set("switching back");
    proxy.restore();
    // It recovers by itself: no restart, no request of ours to help it.
    let recovered = common::eventually(|| async {
        client()
            .get(format!("{base}/api/incidents"))
            .header("cookie", &cookie)
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
    tokio::time::sleep(Duration::from_secs(2)).await;
    stop.store(true, Ordering::SeqCst);
    for c in clients {
        c.await.unwrap();
    }

    let by_phase = tally.by_phase.lock().unwrap().clone();
    println!("answers by phase and status: {by_phase:?}");
    let count = |p: &str, ok: fn(u16) -> bool| -> usize {
        by_phase
            .iter()
            .filter(|((phase, status), _)| *phase == p && ok(*status))
            .map(|(_, n)| n)
            .sum()
    };
    assert!(count("before", |s| (200..300).contains(&s)) > 0);
    assert_eq!(
        count("before", |s| !(200..300).contains(&s)),
        0,
        "{by_phase:?}"
    );
    assert!(count("down", |s| s == 503) > 0, "{by_phase:?}");
    assert_eq!(
        count("down", |s| s != 503),
        0,
        "while the database is away every answer is 503: {by_phase:?}"
    );
    assert!(count("after", |s| (200..300).contains(&s)) > 0);
    assert_eq!(
        count("after", |s| !(200..300).contains(&s)),
        0,
        "{by_phase:?}"
    );

    // Every acknowledged write is there; whatever is there is whole.
    let found = stored_incidents(&db.store, "fault-test ").await;
    let acknowledged = tally.acknowledged.lock().unwrap().clone();
    check_acknowledged(&acknowledged, &found);
    println!(
        "writes sent {}, acknowledged {}, found {} (unacknowledged but whole: {})",
        tally.sent_writes.load(Ordering::SeqCst),
        acknowledged.len(),
        found.len(),
        found.len() - acknowledged.len()
    );
}
