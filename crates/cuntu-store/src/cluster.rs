//! A private PostgreSQL cluster under a folder of the project's: the "embedded default".
//!
//! `make run` keeps one under `.cuntu/pg` (started with `pg_ctl`, so it outlives the server
//! and the next `make run` reuses it). Tests start a throwaway one in a temporary folder
//! (see `crate::testing`). PostgreSQL refuses to run as root, so when we are root the
//! server runs as the `postgres` system user, which owns the data folder.

use std::ffi::CString;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::StoreError;

/// The database every cluster of ours holds.
pub const DATABASE_NAME: &str = "cuntu";

/// Where PostgreSQL's server programs are: `CUNTU_PG_BIN`, else the newest
/// `/usr/lib/postgresql/*/bin` that has `initdb` (Debian's layout).
pub fn server_bin_dir() -> Result<PathBuf, StoreError> {
    if let Ok(dir) = std::env::var("CUNTU_PG_BIN") {
        return Ok(PathBuf::from(dir));
    }
    let mut candidates: Vec<(u32, PathBuf)> = fs::read_dir("/usr/lib/postgresql")
        .map_err(|_| missing_server())?
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let version = e.file_name().to_string_lossy().parse::<u32>().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").exists().then_some((version, bin))
        })
        .collect();
    candidates.sort();
    candidates
        .pop()
        .map(|(_, bin)| bin)
        .ok_or_else(missing_server)
}

fn missing_server() -> StoreError {
    StoreError::Cluster(
        "PostgreSQL server programs not found under /usr/lib/postgresql/*/bin; \
         install them with `make deps` (apt-get install postgresql-15-postgis-3) \
         or set DATABASE_URL to an existing PostGIS"
            .into(),
    )
}

/// The system user that runs the cluster when we are root.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RunAs {
    uid: u32,
    gid: u32,
}

pub(crate) fn run_as() -> Result<Option<RunAs>, StoreError> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Ok(None);
    }
    let name = CString::new("postgres").expect("no NUL in a constant");
    // SAFETY: getpwnam is given a valid C string; the result is read at once, before any
    // other call could overwrite its static buffer.
    let pw = unsafe { libc::getpwnam(name.as_ptr()) };
    if pw.is_null() {
        return Err(StoreError::Cluster(
            "running as root, and PostgreSQL refuses to run as root, but there is no `postgres` \
             user to run it as; install postgresql (it creates the user) or run as another user"
                .into(),
        ));
    }
    // SAFETY: pw is non-null and points to a valid passwd record.
    let (uid, gid) = unsafe { ((*pw).pw_uid, (*pw).pw_gid) };
    Ok(Some(RunAs { uid, gid }))
}

pub(crate) fn command(bin: &Path, program: &str, user: Option<RunAs>) -> Command {
    let mut cmd = Command::new(bin.join(program));
    if let Some(u) = user {
        // std drops root's supplementary groups when it changes the uid.
        cmd.uid(u.uid).gid(u.gid);
        // psql reads ~/.psqlrc; root's home is not readable by postgres.
        cmd.env("HOME", "/tmp");
    }
    cmd
}

pub(crate) fn chown_tree(path: &Path, user: Option<RunAs>) -> Result<(), StoreError> {
    let Some(u) = user else { return Ok(()) };
    std::os::unix::fs::chown(path, Some(u.uid), Some(u.gid))
        .map_err(|e| StoreError::Cluster(format!("chown {}: {e}", path.display())))?;
    if path.is_dir() {
        for entry in fs::read_dir(path).map_err(|e| StoreError::Cluster(e.to_string()))? {
            let entry = entry.map_err(|e| StoreError::Cluster(e.to_string()))?;
            chown_tree(&entry.path(), user)?;
        }
    }
    Ok(())
}

pub(crate) fn checked(what: &str, output: std::io::Result<Output>) -> Result<Output, StoreError> {
    let output = output.map_err(|e| StoreError::Cluster(format!("{what}: {e}")))?;
    if !output.status.success() {
        return Err(StoreError::Cluster(format!(
            "{what} failed ({}): {}{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )));
    }
    Ok(output)
}

/// Creates a fresh data folder with `initdb`: local connections trusted, UTF-8.
pub(crate) fn init_data_dir(
    bin: &Path,
    data: &Path,
    user: Option<RunAs>,
) -> Result<(), StoreError> {
    fs::create_dir_all(data)
        .map_err(|e| StoreError::Cluster(format!("mkdir {}: {e}", data.display())))?;
    fs::set_permissions(data, fs::Permissions::from_mode(0o700))
        .map_err(|e| StoreError::Cluster(e.to_string()))?;
    chown_tree(data, user)?;
    checked(
        "initdb",
        command(bin, "initdb", user)
            .arg("-D")
            .arg(data)
            .args([
                "-U",
                "postgres",
                "--auth=trust",
                "-E",
                "UTF8",
                "--locale=C.UTF-8",
                "--no-sync",
            ])
            .output(),
    )?;
    Ok(())
}

/// The persistent local cluster of `make run`.
#[derive(Debug, Clone)]
pub struct LocalCluster {
    pub dir: PathBuf,
    pub port: u16,
}

impl LocalCluster {
    pub fn new(dir: impl Into<PathBuf>, port: u16) -> Self {
        let dir = dir.into();
        // PostgreSQL changes into its data folder: every path it is given must be absolute.
        let dir = std::path::absolute(&dir).unwrap_or(dir);
        LocalCluster { dir, port }
    }

    fn data_dir(&self) -> PathBuf {
        self.dir.join("data")
    }

    pub fn url(&self) -> String {
        format!(
            "postgres://postgres@127.0.0.1:{}/{DATABASE_NAME}",
            self.port
        )
    }

    pub fn is_initialised(&self) -> bool {
        self.data_dir().join("PG_VERSION").exists()
    }

    pub fn is_running(&self) -> Result<bool, StoreError> {
        if !self.is_initialised() {
            return Ok(false);
        }
        let status = command(&server_bin_dir()?, "pg_ctl", run_as()?)
            .arg("status")
            .arg("-D")
            .arg(self.data_dir())
            .output()
            .map_err(|e| StoreError::Cluster(format!("pg_ctl status: {e}")))?;
        Ok(status.status.success())
    }

    /// Creates the cluster if it does not exist, starts it if it is not running, creates the
    /// database with PostGIS, and returns its URL. Idempotent.
    pub fn ensure_running(&self) -> Result<String, StoreError> {
        let bin = server_bin_dir()?;
        let user = run_as()?;
        fs::create_dir_all(&self.dir)
            .map_err(|e| StoreError::Cluster(format!("mkdir {}: {e}", self.dir.display())))?;
        if !self.is_initialised() {
            tracing::info!(dir = %self.dir.display(), "creating a private PostgreSQL cluster");
            init_data_dir(&bin, &self.data_dir(), user)?;
        }
        if !self.is_running()? {
            let log = self.dir.join("postgres.log");
            if !log.exists() {
                fs::write(&log, b"").map_err(|e| StoreError::Cluster(e.to_string()))?;
            }
            chown_tree(&log, user)?;
            checked(
                "pg_ctl start",
                command(&bin, "pg_ctl", user)
                    .arg("start")
                    .arg("-w")
                    .arg("-D")
                    .arg(self.data_dir())
                    .arg("-l")
                    .arg(&log)
                    .arg("-o")
                    .arg(format!(
                        "-p {} -c listen_addresses=127.0.0.1 -k {}",
                        self.port,
                        self.data_dir().display()
                    ))
                    .output(),
            )
            .map_err(|e| {
                let e = match e {
                    StoreError::Cluster(message) => message,
                    other => other.to_string(),
                };
                StoreError::Cluster(format!(
                    "{e}\n(is port {} taken? set CUNTU_PG_PORT; log: {})",
                    self.port,
                    log.display()
                ))
            })?;
        }
        create_database(&bin, user, self.port, &self.data_dir())?;
        Ok(self.url())
    }

    pub fn stop(&self) -> Result<(), StoreError> {
        if !self.is_running()? {
            return Ok(());
        }
        checked(
            "pg_ctl stop",
            command(&server_bin_dir()?, "pg_ctl", run_as()?)
                .arg("stop")
                .arg("-w")
                .arg("-m")
                .arg("fast")
                .arg("-D")
                .arg(self.data_dir())
                .output(),
        )?;
        Ok(())
    }

    /// Stops the cluster and deletes its folder: every byte of local data is gone.
    pub fn destroy(&self) -> Result<(), StoreError> {
        self.stop()?;
        if self.dir.exists() {
            fs::remove_dir_all(&self.dir)
                .map_err(|e| StoreError::Cluster(format!("rm -r {}: {e}", self.dir.display())))?;
        }
        Ok(())
    }
}

/// Creates our database (with PostGIS) if it is missing, through `psql` over the socket.
pub(crate) fn create_database(
    bin: &Path,
    user: Option<RunAs>,
    port: u16,
    socket_dir: &Path,
) -> Result<(), StoreError> {
    let psql = |db: &str, sql: &str| {
        command(bin, "psql", user)
            .args([
                "-X",
                "-q",
                "-t",
                "-A",
                "-v",
                "ON_ERROR_STOP=1",
                "-U",
                "postgres",
            ])
            .arg("-h")
            .arg(socket_dir)
            .arg("-p")
            .arg(port.to_string())
            .arg("-d")
            .arg(db)
            .arg("-c")
            .arg(sql)
            .output()
    };
    let exists = checked(
        "psql",
        psql(
            "postgres",
            &format!("SELECT 1 FROM pg_database WHERE datname = '{DATABASE_NAME}'"),
        ),
    )?;
    if String::from_utf8_lossy(&exists.stdout).trim() != "1" {
        checked(
            "create database",
            psql("postgres", &format!("CREATE DATABASE {DATABASE_NAME}")),
        )?;
    }
    checked(
        "create extension postgis",
        psql(DATABASE_NAME, "CREATE EXTENSION IF NOT EXISTS postgis"),
    )
    .map_err(|e| {
        let e = match e {
            StoreError::Cluster(message) => message,
            other => other.to_string(),
        };
        StoreError::Cluster(format!(
            "{e}\nPostGIS is missing: install it with `make deps` (apt-get install postgresql-15-postgis-3)"
        ))
    })?;
    Ok(())
}
