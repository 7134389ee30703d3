//! `cuntu bench import`: in one run, two sources imported by `cuntu import` (read, map, check,
//! one transaction) and by `ogr2ogr -f PostgreSQL -append` into the same `households` table
//! (same triggers) of throwaway databases:
//! - every building of an OSM extract (Liechtenstein) as one household at a point inside it;
//!   ogr2ogr reads the same file with the same tag configuration and takes the same point
//!   (SpatiaLite's `ST_PointOnSurface`);
//! - a generated GeoPackage of N household points.

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use clap::Args;
use cuntu_core::import::{self as core_import, ImportLayer, SourceRow, StagedRow};
use cuntu_store::testing::TestDatabase;

#[derive(Args)]
pub struct ImportBench {
    /// Points in the generated GeoPackage.
    #[arg(long, default_value_t = 1_000_000)]
    points: usize,
    /// The OSM extract whose buildings are imported as households (skipped when absent).
    #[arg(long, default_value = "data/liechtenstein-2022-07-24.osm.pbf")]
    osm: std::path::PathBuf,
}

fn run_ok(cmd: &mut Command, what: &str) -> Result<()> {
    let out = cmd.output().with_context(|| format!("running {what}"))?;
    if !out.status.success() {
        bail!("{what} failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(())
}

fn generate(dir: &Path, n: usize) -> Result<std::path::PathBuf> {
    use std::io::Write;
    let csv = dir.join("points.csv");
    let mut w = std::io::BufWriter::new(std::fs::File::create(&csv)?);
    writeln!(w, "head_name,house_number,members,phone,lon,lat")?;
    // A deterministic spread over a county-sized box near 石家庄.
    let side = (n as f64).sqrt().ceil() as usize;
    for i in 0..n {
        let (r, c) = (i / side, i % side);
        let lon = 114.3 + 0.4 * c as f64 / side as f64;
        let lat = 37.7 + 0.4 * r as f64 / side as f64;
        writeln!(
            w,
            "户主{i},{}号,{},138{:08},{lon:.7},{lat:.7}",
            i % 200 + 1,
            i % 6 + 1,
            i
        )?;
    }
    w.flush()?;
    let gpkg = dir.join("points.gpkg");
    run_ok(
        Command::new("ogr2ogr").args([
            "-f",
            "GPKG",
            "-a_srs",
            "EPSG:4326",
            "-oo",
            "X_POSSIBLE_NAMES=lon",
            "-oo",
            "Y_POSSIBLE_NAMES=lat",
            "-oo",
            "KEEP_GEOM_COLUMNS=NO",
            "-nln",
            "households",
            gpkg.to_str().context("path")?,
            csv.to_str().context("path")?,
        ]),
        "ogr2ogr (making the GeoPackage)",
    )?;
    Ok(gpkg)
}

/// `postgres://user[:pass]@host:port/db` → `PG:host=... port=... user=... dbname=...`: GDAL
/// appends its application_name to the string, which breaks the URI form.
fn pg_keywords(url: &str) -> Result<String> {
    let rest = url.split_once("://").context("database URL")?.1;
    let (credentials, rest) = rest.rsplit_once('@').context("database URL without user")?;
    let (host_port, db) = rest.split_once('/').context("database URL without name")?;
    let (host, port) = host_port.split_once(':').unwrap_or((host_port, "5432"));
    let (user, password) = credentials.split_once(':').unwrap_or((credentials, ""));
    let mut s = format!("PG:host={host} port={port} user={user} dbname={db}");
    if !password.is_empty() {
        s.push_str(&format!(" password={password}"));
    }
    Ok(s)
}

pub async fn run(args: &ImportBench) -> Result<()> {
    if args.osm.exists() {
        buildings(&args.osm).await?;
    } else {
        println!(
            "{} not found: the OSM buildings half is skipped (--osm names another extract)",
            args.osm.display()
        );
    }
    points(args.points).await
}

/// Imports a read table as `cuntu import` does: map, check every row, one transaction.
/// Rows stored, seconds mapping and checking, seconds writing.
async fn stage_and_store(
    db: &TestDatabase,
    table: &cuntu_gdal::import::SourceTable,
) -> Result<(u64, f64, f64)> {
    let started = Instant::now();
    let mapping = core_import::propose_mapping(ImportLayer::Households, &table.fields);
    let mut rows = Vec::with_capacity(table.rows.len());
    for (i, r) in table.rows.iter().enumerate() {
        let source = SourceRow {
            row: i + 1,
            values: &r.values,
            geometry: r.geometry.as_ref(),
        };
        match core_import::stage_row(ImportLayer::Households, &mapping, &source, None, None) {
            Ok(StagedRow::Household(h)) => rows.push(h),
            Ok(_) => {}
            Err(p) => bail!("row {}: {:?}", i + 1, p),
        }
    }
    let staged_s = started.elapsed().as_secs_f64();
    let counts = db.store.import_households(&rows, &mut |_| {}).await?;
    Ok((
        counts.inserted,
        staged_s,
        started.elapsed().as_secs_f64() - staged_s,
    ))
}

/// `ogr2ogr -f PostgreSQL -append` of `source` into the households table of a fresh database
/// (COPY, as fast as ogr2ogr goes), with `extra` arguments; the database and the seconds taken.
async fn ogr2ogr_into_fresh_database(source: &Path, extra: &[&str]) -> Result<(TestDatabase, f64)> {
    let db = TestDatabase::new().await?;
    let started = Instant::now();
    run_ok(
        Command::new("ogr2ogr")
            .args([
                "-f",
                "PostgreSQL",
                &pg_keywords(&db.url)?,
                source.to_str().context("path")?,
                "-append",
                "-nln",
                "households",
                "--config",
                "PG_USE_COPY",
                "YES",
            ])
            .args(extra),
        "ogr2ogr -f PostgreSQL",
    )?;
    Ok((db, started.elapsed().as_secs_f64()))
}

async fn household_count(db: &TestDatabase) -> Result<i64> {
    Ok(sqlx::query_scalar("SELECT count(*) FROM households")
        .fetch_one(db.store.pool())
        .await?)
}

/// Every building of an OSM extract as a household, ours against ogr2ogr.
async fn buildings(osm: &Path) -> Result<()> {
    println!("OSM buildings of {} as households:", osm.display());
    let ours_db = TestDatabase::new().await?;
    let started = Instant::now();
    let table = cuntu_gdal::import::read(osm, ImportLayer::Households, None, &mut |_| {})?;
    let read_s = started.elapsed().as_secs_f64();
    let (inserted, map_s, write_s) = stage_and_store(&ours_db, &table).await?;
    let ours = started.elapsed().as_secs_f64();

    // ogr2ogr with the same tag configuration the import writes, so it sees the same fields.
    let conf = std::env::temp_dir().join("cuntu-bench-osmconf.ini");
    std::fs::write(&conf, include_str!("../../../data/osmconf.ini"))?;
    let (ogr_db, ogr) = ogr2ogr_into_fresh_database(
        osm,
        &[
            "--config",
            "OSM_CONFIG_FILE",
            conf.to_str().context("path")?,
            "-dialect",
            "SQLite",
            "-sql",
            "SELECT ST_PointOnSurface(GEOMETRY) AS geom, addr_housenumber AS house_number, \
             CASE WHEN addr_street IS NULL THEN NULL \
                  ELSE trim(addr_street || ' ' || coalesce(addr_housenumber, '')) END AS address \
             FROM multipolygons WHERE building IS NOT NULL AND building <> 'no'",
            "-nlt",
            "POINT",
        ],
    )
    .await?;
    let ogr_rows = household_count(&ogr_db).await?;
    let ours_rows = household_count(&ours_db).await?;
    println!(
        "  cuntu import: {inserted} buildings in {ours:.2} s ({:.0} rows/s; read {read_s:.2} s, map+check {map_s:.2} s, write {write_s:.2} s)",
        inserted as f64 / ours,
    );
    println!(
        "  ogr2ogr -f PostgreSQL -append (COPY, SpatiaLite ST_PointOnSurface): {ogr_rows} rows in {ogr:.2} s ({:.0} rows/s)",
        ogr_rows as f64 / ogr
    );
    if ours_rows != ogr_rows {
        println!("  row counts differ: cuntu {ours_rows}, ogr2ogr {ogr_rows}");
    }
    println!("  ratio cuntu/ogr2ogr time: {:.2}", ours / ogr);
    Ok(())
}

/// A generated GeoPackage of `n` household points, ours against ogr2ogr.
async fn points(n: usize) -> Result<()> {
    let dir = tempfile::tempdir()?;
    println!("generating {n} points ...");
    let gpkg = generate(dir.path(), n)?;

    // Ours: the whole of `cuntu import` but the printing.
    let ours_db = TestDatabase::new().await?;
    let started = Instant::now();
    let table = cuntu_gdal::import::read(&gpkg, ImportLayer::Households, None, &mut |_| {})?;
    let read_s = started.elapsed().as_secs_f64();
    let (inserted, map_s, write_s) = stage_and_store(&ours_db, &table).await?;
    let ours = started.elapsed().as_secs_f64();

    // ogr2ogr into the same table of another fresh database.
    let (ogr_db, ogr) = ogr2ogr_into_fresh_database(&gpkg, &[]).await?;
    let ogr_rows = household_count(&ogr_db).await?;

    println!(
        "cuntu import: {inserted} rows in {ours:.2} s ({:.0} rows/s; read {read_s:.2} s, map+check {map_s:.2} s, write {write_s:.2} s)",
        inserted as f64 / ours,
    );
    println!(
        "ogr2ogr -f PostgreSQL -append (COPY): {ogr_rows} rows in {ogr:.2} s ({:.0} rows/s)",
        ogr_rows as f64 / ogr
    );
    println!("ratio cuntu/ogr2ogr: {:.2}", ours / ogr);
    Ok(())
}
