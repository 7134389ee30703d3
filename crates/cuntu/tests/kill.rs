//! Issue 12, faults: `cuntu serve` killed with SIGKILL in the middle of a stream of writes.
//! After a restart every acknowledged write is in the database, and nothing is half there:
//! each stored incident has its `reported` event, none is stored twice.

use std::collections::HashSet;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use cuntu_store::testing::TestDatabase;

// The HTTP tests' helpers (township, admin, login, the acknowledged-writes check).
#[path = "../../cuntu-server/tests/common/mod.rs"]
mod common;
use common::{check_acknowledged, login, stored_incidents, township_with_admin, Ground, ADMIN};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn serve(url: &str, port: u16) -> Child {
    let mut child = Command::new(env!("CARGO_BIN_EXE_cuntu"))
        .args(["serve", "--addr", &format!("127.0.0.1:{port}")])
        .args(["--web-dir", "/nonexistent"])
        .env("DATABASE_URL", url)
        .env("RUST_LOG", "warn")
        .env("CUNTU_RATE_LIMITS", "off")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("cuntu serve starts");
    for _ in 0..300 {
        if reqwest::get(format!("http://127.0.0.1:{port}/healthz"))
            .await
            .is_ok_and(|r| r.status().is_success())
        {
            return child;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("cuntu serve did not come up");
}

#[tokio::test]
async fn acknowledged_writes_survive_a_sigkill_and_nothing_is_half_there() {
    let db = TestDatabase::new().await.unwrap();
    township_with_admin(&db.store, Ground::Square("断电镇")).await;

    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let mut server = serve(&db.url, port).await;
    let cookie = login(&base, ADMIN.0, ADMIN.1).await.unwrap();

    let acknowledged = Arc::new(Mutex::new(HashSet::new()));
    let sent = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let mut clients = Vec::new();
    for c in 0..6 {
        let (base, cookie, acknowledged, sent, stop) = (
            base.clone(),
            cookie.clone(),
            acknowledged.clone(),
            sent.clone(),
            stop.clone(),
        );
        clients.push(tokio::spawn(async move {
            let http = reqwest::Client::new();
            let mut n = 0;
            while !stop.load(Ordering::SeqCst) {
                n += 1;
                let description = format!("kill-test client {c} write {n}");
                sent.fetch_add(1, Ordering::SeqCst);
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
                    Ok(r) if r.status().is_success() => {
                        acknowledged.lock().unwrap().insert(description);
                    }
                    Ok(r) => panic!("{}: {}", r.status(), r.text().await.unwrap_or_default()),
                    // The server is gone: the write may or may not have been made.
                    Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
                }
            }
        }));
    }
    let mut kills = 0;
    for _ in 0..3 {
        // Let writes flow, then kill the server in the middle of them.
        let before = acknowledged.lock().unwrap().len();
        for _ in 0..200 {
            if acknowledged.lock().unwrap().len() >= before + 40 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        // std's Child::kill is SIGKILL on Unix: no shutdown, no flush.
        server.kill().unwrap();
        server.wait().unwrap();
        kills += 1;
        server = serve(&db.url, port).await;
    }
    stop.store(true, Ordering::SeqCst);
    for c in clients {
        c.await.unwrap();
    }
    let _ = server.kill();
    let _ = server.wait();

    let found = stored_incidents(&db.store, "kill-test ").await;
    let acknowledged = acknowledged.lock().unwrap().clone();
    check_acknowledged(&acknowledged, &found);
    assert!(
        acknowledged.len() >= 3 * 40,
        "writes flowed between the kills"
    );
    println!(
        "{kills} SIGKILLs; writes sent {}, acknowledged {}, found {} (committed but unanswered: {})",
        sent.load(Ordering::SeqCst),
        acknowledged.len(),
        found.len(),
        found.len() - acknowledged.len()
    );
}
