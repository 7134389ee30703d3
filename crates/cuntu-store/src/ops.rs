//! Operations on the database as a whole: backups (`pg_dump`/`pg_restore` under a snapshot
//! the manifest's row counts share) and the figures `/metrics` reads at scrape time.
//!
//! The client programs are PostgreSQL's own, from the same folder as the private cluster's
//! server (`cluster::server_bin_dir`), so their version is never older than the server's.
//! A password in the URL goes to them through `PGPASSWORD`, never on a command line.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Stdio;

use chrono::{DateTime, Utc};
use tokio::process::Command;

use crate::cluster::server_bin_dir;
use crate::{Store, StoreError, MIGRATOR};

/// What a backup's manifest says of the database it was taken from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DatabaseFacts {
    /// The newest migration applied (0 when none).
    pub migration: i64,
    pub postgres: String,
    pub postgis: Option<String>,
    /// Rows per table of the `public` schema (tables of extensions excluded).
    pub tables: BTreeMap<String, i64>,
}

/// The newest migration this build knows.
pub fn known_migration() -> i64 {
    MIGRATOR.iter().map(|m| m.version).max().unwrap_or(0)
}

const FACTS_SQL: &str = "\
    SELECT c.relname::text, \
           (xpath('/row/n/text()', query_to_xml(format('SELECT count(*) AS n FROM public.%I', c.relname), \
                  false, true, '')))[1]::text::bigint \
      FROM pg_class c JOIN pg_namespace s ON s.oid = c.relnamespace \
     WHERE s.nspname = 'public' AND c.relkind IN ('r', 'p') \
       AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass \
                        AND d.objid = c.oid AND d.deptype = 'e') \
     ORDER BY 1";

async fn facts_in(conn: &mut sqlx::PgConnection) -> Result<DatabaseFacts, StoreError> {
    let (postgres, postgis): (String, Option<String>) = sqlx::query_as(
        "SELECT current_setting('server_version'), \
         (SELECT extversion FROM pg_extension WHERE extname = 'postgis')",
    )
    .fetch_one(&mut *conn)
    .await?;
    let tables: BTreeMap<String, i64> = sqlx::query_as::<_, (String, i64)>(FACTS_SQL)
        .fetch_all(&mut *conn)
        .await?
        .into_iter()
        .collect();
    let migration = if tables.contains_key("_sqlx_migrations") {
        sqlx::query_scalar::<_, Option<i64>>(
            "SELECT max(version) FROM public._sqlx_migrations WHERE success",
        )
        .fetch_one(&mut *conn)
        .await?
        .unwrap_or(0)
    } else {
        0
    };
    Ok(DatabaseFacts {
        migration,
        postgres,
        postgis,
        tables,
    })
}

impl Store {
    /// The facts of the database now.
    pub async fn facts(&self) -> Result<DatabaseFacts, StoreError> {
        let mut conn = self.pool().acquire().await?;
        facts_in(&mut conn).await
    }

    /// Open incidents whose deadline has passed at `now`: the deadlines missed.
    pub async fn overdue_incidents(&self, now: DateTime<Utc>) -> Result<i64, StoreError> {
        Ok(sqlx::query_scalar(
            "SELECT count(*) FROM incidents \
              WHERE due_at < $1 AND state NOT IN ('resolved', 'verified', 'closed')",
        )
        .bind(now)
        .fetch_one(self.pool())
        .await?)
    }

    /// Writes a `pg_dump` custom-format archive of the database at `url` (schema and data) to
    /// `out`, and returns the facts of the same snapshot: the counts are of exactly the rows
    /// the archive holds, even while others write.
    pub async fn dump(&self, url: &str, out: &Path) -> Result<DatabaseFacts, StoreError> {
        let mut tx = self.pool().begin().await?;
        sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            .execute(&mut *tx)
            .await?;
        let snapshot: String = sqlx::query_scalar("SELECT pg_export_snapshot()")
            .fetch_one(&mut *tx)
            .await?;
        let facts = facts_in(&mut tx).await?;
        let (conninfo, password) = split_password(url);
        let output = client(&server_bin_dir()?, "pg_dump", password.as_deref())
            .args(["--format=custom", "--no-owner", "--no-privileges"])
            .arg(format!("--snapshot={snapshot}"))
            .arg("--file")
            .arg(out)
            .arg("--dbname")
            .arg(&conninfo)
            .output()
            .await
            .map_err(|e| StoreError::Cluster(format!("pg_dump: {e}")))?;
        tx.commit().await?;
        if !output.status.success() {
            return Err(StoreError::Cluster(format!(
                "pg_dump failed ({}): {}",
                output.status,
                String::from_utf8_lossy(&output.stderr)
            )));
        }
        Ok(facts)
    }

    /// The tables of ours in the database (extensions' excluded): none means it is empty.
    pub async fn table_count(&self) -> Result<usize, StoreError> {
        Ok(self.facts().await?.tables.len())
    }
}

/// Restores a custom-format archive into the database at `url` in one transaction: on any
/// error nothing changes. With `replace`, the `public` schema (tables, PostGIS, everything)
/// is dropped first, in the same transaction.
pub async fn restore(url: &str, archive: &Path, replace: bool) -> Result<(), StoreError> {
    let bin = server_bin_dir()?;
    let (conninfo, password) = split_password(url);
    // pg_restore writes the archive as SQL; psql runs it and our prelude as one transaction.
    let mut reader = client(&bin, "pg_restore", None)
        .args(["--no-owner", "--no-privileges", "--file=-"])
        .arg(archive)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| StoreError::Cluster(format!("pg_restore: {e}")))?;
    let script: Stdio = reader
        .stdout
        .take()
        .ok_or_else(|| StoreError::Cluster("pg_restore: no output".into()))?
        .try_into()
        .map_err(|e| StoreError::Cluster(format!("pg_restore: {e}")))?;
    let mut psql = client(&bin, "psql", password.as_deref());
    psql.args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "--single-transaction"]);
    if replace {
        psql.args([
            "-c",
            "DROP SCHEMA public CASCADE; CREATE SCHEMA public; GRANT ALL ON SCHEMA public TO PUBLIC",
        ]);
    }
    let applied = psql
        .args(["-f", "-", "--dbname"])
        .arg(&conninfo)
        .stdin(script)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output();
    let (read, applied) = tokio::join!(reader.wait_with_output(), applied);
    let read = read.map_err(|e| StoreError::Cluster(format!("pg_restore: {e}")))?;
    let applied = applied.map_err(|e| StoreError::Cluster(format!("psql: {e}")))?;
    if !read.status.success() {
        return Err(StoreError::Cluster(format!(
            "pg_restore cannot read the archive ({}): {}",
            read.status,
            String::from_utf8_lossy(&read.stderr)
        )));
    }
    if !applied.status.success() {
        return Err(StoreError::Cluster(format!(
            "restore failed, nothing changed ({}): {}",
            applied.status,
            String::from_utf8_lossy(&applied.stderr)
        )));
    }
    Ok(())
}

fn client(bin: &Path, program: &str, password: Option<&str>) -> Command {
    let mut cmd = Command::new(bin.join(program));
    cmd.env_remove("PGPASSWORD").kill_on_drop(true);
    if let Some(p) = password {
        cmd.env("PGPASSWORD", p);
    }
    cmd
}

/// The URL without its password, and the password.
fn split_password(url: &str) -> (String, Option<String>) {
    if let (Some(scheme), Some(at)) = (url.find("://"), url.rfind('@')) {
        if at > scheme {
            let credentials = &url[scheme + 3..at];
            if let Some((user, password)) = credentials.split_once(':') {
                return (
                    format!("{}{user}{}", &url[..scheme + 3], &url[at..]),
                    Some(percent_decode(password)),
                );
            }
        }
    }
    (url.to_string(), None)
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        if bytes[i] == b'%' {
            if let Some(b) = hex {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_leave_the_url() {
        assert_eq!(
            split_password("postgres://u:p%40ss@h:5432/db"),
            (
                "postgres://u@h:5432/db".to_string(),
                Some("p@ss".to_string())
            )
        );
        assert_eq!(
            split_password("postgres://u@h/db"),
            ("postgres://u@h/db".to_string(), None)
        );
    }
}
