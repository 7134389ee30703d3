//! Issue 12, bad input: Schemathesis (PyPI, installed by scripts/schemathesis.sh) generates
//! requests from /api/openapi.json — every operation, its parameters and bodies — and sends
//! them to a test server over the demo township as its township admin; the check is
//! `not_a_server_error` (no 5xx). Run by `make fuzz-api` (it is `#[ignore]`d in `make test`);
//! `CUNTU_SCHEMATHESIS_EXAMPLES` sets the examples per operation (default 20).

mod common;

use std::process::Command;

use common::{login, rate_limits_off, start_server, township_with_admin, Ground, ADMIN};
use cuntu_store::testing::TestDatabase;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "minutes long and needs PyPI: make fuzz-api"]
async fn schemathesis_finds_no_server_error() {
    rate_limits_off();
    let db = TestDatabase::new().await.unwrap();
    township_with_admin(&db.store, Ground::Demo).await;
    let base = start_server(db.store.clone()).await;
    let cookie = login(&base, ADMIN.0, ADMIN.1).await.unwrap();
    let examples = std::env::var("CUNTU_SCHEMATHESIS_EXAMPLES").unwrap_or_else(|_| "20".into());
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../../scripts/schemathesis.sh");
    let out = tokio::task::spawn_blocking(move || {
        let installed = Command::new(script)
            .output()
            .expect("scripts/schemathesis.sh");
        assert!(
            installed.status.success(),
            "{}",
            String::from_utf8_lossy(&installed.stderr)
        );
        let st = String::from_utf8_lossy(&installed.stdout)
            .lines()
            .last()
            .unwrap_or_default()
            .trim()
            .to_string();
        // Its reports and example store go to a temporary folder, not the source tree.
        let scratch = tempfile::tempdir().unwrap();
        Command::new(st)
            .current_dir(scratch.path())
            .arg("run")
            .arg(format!("{base}/api/openapi.json"))
            .args(["--url", &base])
            .args(["--checks", "not_a_server_error"])
            // Signing out would leave every later request without a session.
            .args(["--exclude-path", "/api/logout"])
            .args(["--max-examples", &examples])
            .args(["--phases", "examples,coverage,fuzzing"])
            .args(["--seed", "12", "--request-timeout", "60"])
            .args(["--generation-database", "none"])
            .args(["--header", &format!("Cookie: {cookie}")])
            .args(["--header", "Accept-Language: zh-CN"])
            .env("NO_COLOR", "1")
            .output()
            .expect("schemathesis runs")
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    println!("{stdout}");
    eprintln!("{}", String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "schemathesis found server errors");
}
