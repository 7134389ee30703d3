//! Throwaway PostGIS for tests: one private cluster per test process, one fresh database per
//! test, copied from a migrated template so that each test starts from the same empty schema.
//!
//! The cluster's postmaster is a child of a thread that lives as long as the test process, and
//! asks the kernel to stop it (SIGQUIT: immediate shutdown) when that thread dies, so a
//! crashed or interrupted test run leaves no server behind. Folders of earlier runs whose
//! server is gone are swept at the next start.

use std::fs;
use std::io::Read;
use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{mpsc, OnceLock};
use std::time::{Duration, Instant};

use sqlx::Connection;

use crate::cluster::{chown_tree, command, create_database, init_data_dir, run_as, server_bin_dir};
use crate::{Store, StoreError};

const TEMPLATE: &str = "cuntu_template";
const PREFIX: &str = "cuntu-test-";

struct Cluster {
    port: u16,
}

static CLUSTER: OnceLock<Result<Cluster, String>> = OnceLock::new();
static TEMPLATE_READY: tokio::sync::OnceCell<()> = tokio::sync::OnceCell::const_new();
static COUNTER: AtomicU32 = AtomicU32::new(0);

fn cluster() -> Result<&'static Cluster, StoreError> {
    CLUSTER
        .get_or_init(|| start_cluster().map_err(|e| e.to_string()))
        .as_ref()
        .map_err(|e| StoreError::Cluster(e.clone()))
}

fn free_port() -> Result<u16, StoreError> {
    let listener =
        TcpListener::bind("127.0.0.1:0").map_err(|e| StoreError::Cluster(e.to_string()))?;
    listener
        .local_addr()
        .map(|a| a.port())
        .map_err(|e| StoreError::Cluster(e.to_string()))
}

fn sweep_stale(tmp: &Path) {
    let Ok(entries) = fs::read_dir(tmp) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        if !name.to_string_lossy().starts_with(PREFIX) {
            continue;
        }
        let pid_file = entry.path().join("data/postmaster.pid");
        let alive = fs::read_to_string(&pid_file)
            .ok()
            .and_then(|s| s.lines().next().and_then(|l| l.trim().parse::<i32>().ok()))
            // SAFETY: kill with signal 0 only checks that the process exists.
            .is_some_and(|pid| unsafe { libc::kill(pid, 0) } == 0);
        if !alive {
            let _ = fs::remove_dir_all(entry.path());
        }
    }
}

fn start_cluster() -> Result<Cluster, StoreError> {
    let tmp = std::env::temp_dir();
    sweep_stale(&tmp);
    let bin = server_bin_dir()?;
    let user = run_as()?;
    let dir = tempfile::Builder::new()
        .prefix(PREFIX)
        .tempdir_in(&tmp)
        .map_err(|e| StoreError::Cluster(e.to_string()))?
        .keep();
    chown_tree(&dir, user)?;
    let data = dir.join("data");
    init_data_dir(&bin, &data, user)?;
    let port = free_port()?;

    let (sender, receiver) = mpsc::channel();
    let spawn_data = data.clone();
    std::thread::Builder::new()
        .name("cuntu-test-postgres".into())
        .spawn(move || {
            let mut cmd = command(&bin, "postgres", user);
            cmd.arg("-D")
                .arg(&spawn_data)
                .arg("-p")
                .arg(port.to_string())
                .arg("-k")
                .arg(&spawn_data)
                .args(["-c", "listen_addresses=127.0.0.1", "-c", "fsync=off"])
                .args(["-c", "synchronous_commit=off", "-c", "full_page_writes=off"])
                .args(["-c", "max_connections=200"])
                .stdout(Stdio::null())
                .stderr(Stdio::piped());
            // SAFETY: prctl is async-signal-safe; it runs in the child between fork and exec.
            unsafe {
                cmd.pre_exec(|| {
                    if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGQUIT) != 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                    Ok(())
                });
            }
            match cmd.spawn() {
                Ok(mut child) => {
                    let stderr = child.stderr.take();
                    let _ = sender.send(Ok(stderr));
                    // Keep this thread (the parent of record) alive for the whole process.
                    let _ = child.wait();
                }
                Err(e) => {
                    let _ = sender.send(Err(e.to_string()));
                }
            }
        })
        .map_err(|e| StoreError::Cluster(e.to_string()))?;
    let stderr = receiver
        .recv()
        .map_err(|e| StoreError::Cluster(e.to_string()))?
        .map_err(|e| StoreError::Cluster(format!("postgres: {e}")))?;

    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let ready = command(&server_bin_dir()?, "pg_isready", user)
            .arg("-h")
            .arg(&data)
            .arg("-p")
            .arg(port.to_string())
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false);
        if ready {
            break;
        }
        if Instant::now() > deadline {
            let mut log = String::new();
            if let Some(mut s) = stderr {
                let _ = s.read_to_string(&mut log);
            }
            return Err(StoreError::Cluster(format!(
                "test postgres did not start: {log}"
            )));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    create_database(&server_bin_dir()?, user, port, &data)?;
    Ok(Cluster { port })
}

fn url(port: u16, db: &str) -> String {
    format!("postgres://postgres@127.0.0.1:{port}/{db}")
}

/// A fresh, migrated, empty database of its own for one test.
pub struct TestDatabase {
    pub store: Store,
    pub url: String,
    pub name: String,
}

impl TestDatabase {
    pub async fn new() -> Result<Self, StoreError> {
        let port = cluster()?.port;
        TEMPLATE_READY
            .get_or_try_init(|| async {
                let mut admin = sqlx::PgConnection::connect(&url(port, "postgres")).await?;
                sqlx::query(&format!("CREATE DATABASE {TEMPLATE} TEMPLATE cuntu"))
                    .execute(&mut admin)
                    .await?;
                admin.close().await?;
                let template = Store::connect(&url(port, TEMPLATE)).await?;
                template.migrate().await?;
                template.pool().close().await;
                Ok::<(), StoreError>(())
            })
            .await?;
        let name = format!(
            "test_{}_{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        let mut admin = sqlx::PgConnection::connect(&url(port, "postgres")).await?;
        sqlx::query(&format!("CREATE DATABASE {name} TEMPLATE {TEMPLATE}"))
            .execute(&mut admin)
            .await?;
        admin.close().await?;
        let url = url(port, &name);
        let store = Store::connect(&url).await?;
        Ok(TestDatabase { store, url, name })
    }
}

/// The folder that holds the demo data, for tests that load it.
pub fn workspace_data_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../data")
}
