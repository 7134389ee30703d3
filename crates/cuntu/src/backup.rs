//! `cuntu db backup FILE` and `cuntu db restore FILE`.
//!
//! A backup is one uncompressed tar file (`tar tf` lists it) of two members, in this order:
//! - `manifest.json`: the format (`cuntu-backup/1`), the cuntu version, the migration level,
//!   PostgreSQL's and PostGIS's versions, the rows of every table, the time it was made, and
//!   the dump's size and SHA-256;
//! - `cuntu.pgdump`: `pg_dump --format=custom` of the schema and data (no owners, no grants).
//!
//! The counts come from the same snapshot as the dump. A restore checks the manifest before it
//! touches the database: a checksum or size that does not match, or migrations newer than this
//! build knows, refuse. It restores into an empty database, or with `--force` replaces the
//! contents of one, in one transaction, and then checks every table's row count.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{Read, Write};
use std::path::Path;

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use cuntu_store::ops::{known_migration, restore as restore_archive};
use cuntu_store::Store;

pub const FORMAT: &str = "cuntu-backup/1";
pub const MANIFEST: &str = "manifest.json";
pub const DUMP: &str = "cuntu.pgdump";

#[derive(Debug, Serialize, Deserialize)]
pub struct Manifest {
    pub format: String,
    pub cuntu_version: String,
    pub migration: i64,
    pub postgres: String,
    pub postgis: Option<String>,
    pub created_at: String,
    pub tables: BTreeMap<String, i64>,
    pub dump: DumpFacts,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct DumpFacts {
    pub file: String,
    pub bytes: u64,
    pub sha256: String,
}

fn sha256_of(path: &Path) -> Result<(u64, String)> {
    let mut file = File::open(path).with_context(|| format!("reading {}", path.display()))?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 1 << 16];
    let mut bytes = 0u64;
    loop {
        let n = file.read(&mut buffer)?;
        if n == 0 {
            break;
        }
        bytes += n as u64;
        hasher.update(&buffer[..n]);
    }
    let hex = hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    Ok((bytes, hex))
}

pub async fn backup(store: &Store, url: &str, out: &Path) -> Result<()> {
    let work = tempfile::tempdir().context("a temporary folder for the dump")?;
    let dump = work.path().join(DUMP);
    let facts = store
        .dump(url, &dump)
        .await
        .context("dumping the database")?;
    let (bytes, sha256) = sha256_of(&dump)?;
    let manifest = Manifest {
        format: FORMAT.into(),
        cuntu_version: env!("CARGO_PKG_VERSION").into(),
        migration: facts.migration,
        postgres: facts.postgres,
        postgis: facts.postgis,
        created_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        tables: facts.tables,
        dump: DumpFacts {
            file: DUMP.into(),
            bytes,
            sha256,
        },
    };
    let json = serde_json::to_vec_pretty(&manifest)?;
    // Written beside the target and renamed: a crash leaves no half backup under its name.
    let partial = out.with_extension("partial");
    {
        let file =
            File::create(&partial).with_context(|| format!("creating {}", partial.display()))?;
        let mut tar = tar::Builder::new(file);
        let mut header = tar::Header::new_gnu();
        header.set_size(json.len() as u64);
        header.set_mode(0o644);
        header.set_mtime(chrono::Utc::now().timestamp().max(0) as u64);
        header.set_cksum();
        tar.append_data(&mut header, MANIFEST, json.as_slice())?;
        tar.append_path_with_name(&dump, DUMP)?;
        let mut file = tar.into_inner()?;
        file.flush()?;
        file.sync_all()?;
    }
    std::fs::rename(&partial, out)
        .with_context(|| format!("renaming {} to {}", partial.display(), out.display()))?;
    let rows: i64 = manifest.tables.values().sum();
    println!(
        "backup {}: migration {}, {} tables, {rows} rows, dump {} bytes, sha256 {}",
        out.display(),
        manifest.migration,
        manifest.tables.len(),
        manifest.dump.bytes,
        manifest.dump.sha256
    );
    Ok(())
}

/// Reads the manifest and extracts the dump into `into`; checks the format and checksum.
pub fn open(file: &Path, into: &Path) -> Result<Manifest> {
    let reader = File::open(file).with_context(|| format!("opening {}", file.display()))?;
    let mut archive = tar::Archive::new(reader);
    let mut manifest: Option<Manifest> = None;
    let mut dump_found = false;
    for entry in archive
        .entries()
        .with_context(|| format!("{} is not a cuntu backup (not a tar file)", file.display()))?
    {
        let mut entry = entry.with_context(|| format!("{} is damaged", file.display()))?;
        let name = entry.path()?.to_string_lossy().into_owned();
        match name.as_str() {
            MANIFEST => {
                let mut text = String::new();
                entry.read_to_string(&mut text)?;
                manifest =
                    Some(serde_json::from_str(&text).with_context(|| {
                        format!("{}: the manifest cannot be read", file.display())
                    })?);
            }
            DUMP => {
                let mut out = File::create(into.join(DUMP))?;
                std::io::copy(&mut entry, &mut out)
                    .with_context(|| format!("{} is damaged", file.display()))?;
                dump_found = true;
            }
            _ => {}
        }
    }
    let Some(manifest) = manifest else {
        bail!("{} is not a cuntu backup: no {MANIFEST}", file.display());
    };
    if manifest.format != FORMAT {
        bail!(
            "{}: backup format '{}' is not {FORMAT}, the one this cuntu reads",
            file.display(),
            manifest.format
        );
    }
    if !dump_found {
        bail!("{} is damaged: no {DUMP}", file.display());
    }
    let (bytes, sha256) = sha256_of(&into.join(DUMP))?;
    if bytes != manifest.dump.bytes || sha256 != manifest.dump.sha256 {
        bail!(
            "{} is corrupt: its dump has {bytes} bytes with SHA-256 {sha256}, the manifest says \
             {} bytes with {}. Nothing was restored.",
            file.display(),
            manifest.dump.bytes,
            manifest.dump.sha256
        );
    }
    let known = known_migration();
    if manifest.migration > known {
        bail!(
            "{} was made by cuntu {} at migration {}, newer than this cuntu {} knows (up to {known}): \
             restore it with that version or a newer one. Nothing was restored.",
            file.display(),
            manifest.cuntu_version,
            manifest.migration,
            env!("CARGO_PKG_VERSION"),
        );
    }
    Ok(manifest)
}

pub async fn restore(url: &str, file: &Path, force: bool) -> Result<()> {
    let work = tempfile::tempdir().context("a temporary folder for the dump")?;
    let manifest = open(file, work.path())?;
    let store = Store::connect(url)
        .await
        .context("connecting to the database")?;
    let before = store.facts().await?;
    if !before.tables.is_empty() && !force {
        bail!(
            "the database is not empty ({} tables, {} rows): restore into an empty database \
             (`cuntu db create` with a new name in DATABASE_URL), or add --force to replace \
             everything in it. Nothing was restored.",
            before.tables.len(),
            before.tables.values().sum::<i64>()
        );
    }
    if let (Some(made), Some(here)) = (&manifest.postgis, &before.postgis) {
        if made != here {
            eprintln!("note: the backup was made with PostGIS {made}, this database has {here}");
        }
    }
    // Our own connections would keep nothing locked, but close them before the schema goes.
    store.pool().close().await;
    restore_archive(url, &work.path().join(DUMP), force)
        .await
        .context("restoring")?;
    let store = Store::connect(url).await?;
    let after = store.facts().await?;
    store.pool().close().await;
    if after.tables != manifest.tables || after.migration != manifest.migration {
        let differ: Vec<String> = manifest
            .tables
            .iter()
            .filter(|(t, n)| after.tables.get(*t) != Some(n))
            .map(|(t, n)| format!("{t}: {n} in the backup, {:?} now", after.tables.get(t)))
            .collect();
        bail!(
            "restored, but the database differs from the manifest: {}",
            differ.join("; ")
        );
    }
    let rows: i64 = after.tables.values().sum();
    println!(
        "restored {}: migration {}, {} tables, {rows} rows, as the manifest says",
        file.display(),
        after.migration,
        after.tables.len()
    );
    Ok(())
}
