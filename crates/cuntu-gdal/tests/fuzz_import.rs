//! Issue 12, bad input: the import readers fed damaged files. Valid GeoJSON, CSV, GeoPackage,
//! KML and XLSX files (written here, a few households with points and a polygon) are mutated
//! by proptest — bytes overwritten, runs deleted or repeated, the file cut short — and
//! `cuntu_gdal::import::read` must answer `Ok` or `Err` for every one, never panic (a panic
//! fails the case and proptest shrinks it to the smallest damage that does it).
//! `CUNTU_FUZZ_CASES` sets the cases per format (default 1000).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;

use cuntu_core::import::{ImportLayer, SourceCrs};
use cuntu_gdal::export::{self, ExportFormat, OutTable};
use cuntu_gdal::import;
use proptest::prelude::*;

const FORMATS: [(&str, ExportFormat); 5] = [
    ("geojson", ExportFormat::GeoJson),
    ("csv", ExportFormat::Csv),
    ("gpkg", ExportFormat::Gpkg),
    ("kml", ExportFormat::Kml),
    ("xlsx", ExportFormat::Xlsx),
];

fn table() -> OutTable {
    let wkb = |wkt: &str| {
        gdal::vector::Geometry::from_wkt(wkt)
            .unwrap()
            .wkb()
            .unwrap()
    };
    OutTable {
        name: "households".into(),
        columns: vec!["户主".into(), "门牌号".into(), "人口".into()],
        rows: vec![
            (
                wkb("POINT (9.55 47.15)"),
                vec![Some("张三".into()), Some("1号".into()), Some("3".into())],
            ),
            (
                wkb("POINT (9.56 47.151)"),
                vec![Some("李四".into()), None, Some("x".into())],
            ),
            (
                wkb("POLYGON ((9.5 47.1, 9.6 47.1, 9.6 47.2, 9.5 47.1))"),
                vec![Some("王五, \"引号\"".into()), Some("3号".into()), None],
            ),
        ],
    }
}

/// The valid file of each format, written once: (extension, bytes).
fn seeds() -> &'static Vec<(&'static str, Vec<u8>)> {
    static SEEDS: OnceLock<Vec<(&'static str, Vec<u8>)>> = OnceLock::new();
    SEEDS.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        FORMATS
            .iter()
            .map(|(ext, format)| {
                let path = dir.path().join(format!("seed.{ext}"));
                let written = export::write(&table(), *format, 4326, &path).unwrap();
                let bytes = std::fs::read(&written).unwrap();
                // Each seed reads (a CSV names its CRS only through --crs): the damage, not the
                // seed, is what the cases try.
                let crs = Some(SourceCrs::Epsg(4326));
                let read = import::read(&written, ImportLayer::Households, crs, &mut |_| {});
                assert!(read.is_ok(), "{ext} seed: {:?}", read.err());
                (*ext, bytes)
            })
            .collect()
    })
}

#[derive(Debug, Clone)]
enum Damage {
    /// Overwrite the byte at this fraction of the file.
    Set(f64, u8),
    /// Delete `len` bytes from this fraction.
    Delete(f64, usize),
    /// Repeat `len` bytes from this fraction.
    Repeat(f64, usize),
    /// Insert text that means something to one of the formats.
    Insert(f64, &'static str),
    /// Cut the file at this fraction.
    Truncate(f64),
}

fn damage() -> impl Strategy<Value = Damage> {
    let at = 0.0..1.0f64;
    prop_oneof![
        4 => (at.clone(), any::<u8>()).prop_map(|(a, b)| Damage::Set(a, b)),
        2 => (at.clone(), 1..64usize).prop_map(|(a, n)| Damage::Delete(a, n)),
        1 => (at.clone(), 1..256usize).prop_map(|(a, n)| Damage::Repeat(a, n)),
        2 => (at.clone(), prop::sample::select(vec![
            "{", "}", "[", "]", "\"", ",", "\n", "\r\n", "\0", "NaN", "1e999", "-0",
            "\"coordinates\":[]", "\"type\":\"Polygon\"", "POLYGON((", "<Placemark>", "</",
            "<coordinates>1,2,3 4</coordinates>", "'", "\u{FEFF}", "\u{FFFD}", "PK\u{3}\u{4}",
            "SQLite format 3\0",
        ])).prop_map(|(a, s)| Damage::Insert(a, s)),
        1 => at.prop_map(Damage::Truncate),
    ]
}

fn apply(bytes: &mut Vec<u8>, d: &Damage) {
    let pos = |f: f64, len: usize| ((f * len as f64) as usize).min(len);
    match d {
        Damage::Set(f, b) => {
            if !bytes.is_empty() {
                let i = pos(*f, bytes.len() - 1);
                bytes[i] = *b;
            }
        }
        Damage::Delete(f, n) => {
            let i = pos(*f, bytes.len());
            let end = (i + n).min(bytes.len());
            bytes.drain(i..end);
        }
        Damage::Repeat(f, n) => {
            let i = pos(*f, bytes.len());
            let end = (i + n).min(bytes.len());
            let run: Vec<u8> = bytes[i..end].to_vec();
            bytes.splice(end..end, run);
        }
        Damage::Insert(f, s) => {
            let i = pos(*f, bytes.len());
            bytes.splice(i..i, s.bytes());
        }
        Damage::Truncate(f) => {
            let i = pos(*f, bytes.len());
            bytes.truncate(i);
        }
    }
}

static CASES: AtomicUsize = AtomicUsize::new(0);
static OK: AtomicUsize = AtomicUsize::new(0);
static ERR: AtomicUsize = AtomicUsize::new(0);

fn read_damaged(dir: &Path, ext: &str, bytes: &[u8], crs: Option<SourceCrs>) {
    let n = CASES.fetch_add(1, Ordering::Relaxed);
    let path: PathBuf = dir.join(format!("case{n}.{ext}"));
    std::fs::write(&path, bytes).unwrap();
    match import::read(&path, ImportLayer::Households, crs, &mut |_| {}) {
        Ok(_) => OK.fetch_add(1, Ordering::Relaxed),
        Err(_) => ERR.fetch_add(1, Ordering::Relaxed),
    };
    let _ = std::fs::remove_file(&path);
}

fn cases() -> u32 {
    std::env::var("CUNTU_FUZZ_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1000)
}

#[test]
fn damaged_files_are_read_or_refused_never_a_panic() {
    // GDAL's complaints about the damage (thousands of lines) are not the test's output.
    gdal::config::set_error_handler(|_, _, _| {});
    let dir = tempfile::tempdir().unwrap();
    let seeds = seeds();
    for (f, (ext, seed)) in seeds.iter().enumerate() {
        let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig {
            cases: cases(),
            // Failures are reported with their damage; no regression file in the tree.
            failure_persistence: None,
            rng_seed: proptest::test_runner::RngSeed::Fixed(12 + f as u64),
            ..ProptestConfig::default()
        });
        let before = CASES.load(Ordering::Relaxed);
        runner
            .run(
                &(prop::collection::vec(damage(), 1..6), any::<bool>()),
                |(damages, with_crs)| {
                    let mut bytes = seed.clone();
                    for d in &damages {
                        apply(&mut bytes, d);
                    }
                    let crs = with_crs.then_some(SourceCrs::Epsg(4326));
                    read_damaged(dir.path(), ext, &bytes, crs);
                    Ok(())
                },
            )
            .unwrap_or_else(|e| panic!("{ext}: {e}"));
        println!(
            "{ext}: {} damaged files read",
            CASES.load(Ordering::Relaxed) - before
        );
    }
    println!(
        "import readers: {} damaged files, {} read, {} refused with an error, 0 panics",
        CASES.load(Ordering::Relaxed),
        OK.load(Ordering::Relaxed),
        ERR.load(Ordering::Relaxed)
    );
    assert!(
        ERR.load(Ordering::Relaxed) > 0,
        "the damage reached the readers"
    );
}
