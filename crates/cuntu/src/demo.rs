//! `cuntu demo load`: the demo township from `data/`, read through GDAL, planned by the
//! core, written by the store in one transaction.

use std::path::Path;
use std::time::Instant;

use anyhow::{anyhow, Context, Result};
use cuntu_core::demo::{plan, DemoNaming};
use cuntu_core::gridding::GridRule;
use cuntu_gdal::{divisions, osm};
use cuntu_store::Store;

pub const LOAD_NAME: &str = "demo-township";
pub const OSM_FILE: &str = "liechtenstein-2022-07-24.osm.pbf";
pub const NAMES_FILE: &str = "seed-county-130111.csv";
/// 冶河镇 and 窦妪镇 of 栾城区: their names go to Liechtenstein's Oberland and Unterland.
pub const TOWNSHIP_CODES: [&str; 2] = ["130111103", "130111104"];
pub const SEED: u64 = 2022;

fn step(started: &Instant, what: &str) {
    println!("  {:>6.1} s  {what}", started.elapsed().as_secs_f64());
}

pub async fn load(store: &Store, data: &Path) -> Result<()> {
    if store.has_load(LOAD_NAME).await? {
        println!("demo township already loaded; nothing to do (`make clean-db` starts over)");
        return Ok(());
    }
    let started = Instant::now();
    println!("loading the demo township from {}", data.display());
    let rows = divisions::read_divisions(&data.join(NAMES_FILE))?;
    let townships = TOWNSHIP_CODES
        .iter()
        .map(|code| {
            divisions::villages_of(&rows, code)
                .ok_or_else(|| anyhow!("township {code} is not in {NAMES_FILE}"))
        })
        .collect::<Result<Vec<_>>>()?;
    let naming = DemoNaming {
        township_admin_level: 6,
        village_admin_level: 8,
        townships,
    };
    let osm_path = data.join(OSM_FILE);
    let extract = osm::read_extract(&osm_path, &data.join("osmconf.ini"))
        .with_context(|| format!("reading {}", osm_path.display()))?;
    step(
        &started,
        &format!(
            "read {} buildings, {} lines, {} boundaries",
            extract.buildings.len(),
            extract.lines.len(),
            extract.boundaries.len()
        ),
    );
    let plan = plan(&extract, &naming, &GridRule::default(), SEED);
    for warning in &plan.warnings {
        println!("  warning: {warning}");
    }
    step(
        &started,
        &format!(
            "planned {} areas and {} households",
            plan.areas.len(),
            plan.households.len()
        ),
    );
    let summary = store
        .load_demo(LOAD_NAME, &osm_path.display().to_string(), &plan)
        .await
        .context("writing the demo township (nothing was kept)")?;
    step(
        &started,
        &format!(
            "stored {} areas, {} households, {} facilities, {} roads, {} waterways, {} hazards",
            summary.areas,
            summary.households,
            summary.facilities,
            summary.roads,
            summary.waterways,
            summary.hazards
        ),
    );
    Ok(())
}
