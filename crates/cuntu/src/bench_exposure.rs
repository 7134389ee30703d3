//! `cuntu bench exposure`: who lives within each hazard's zone, for every hazard of the
//! database (the county of `cuntu gen county`), from the in-memory R-tree
//! (`cuntu_core::exposure`) and from PostGIS (`ST_DWithin` on geography, with a GiST index on
//! `geom::geography` made for it so that PostGIS runs its best plan), timed in the same run,
//! with the answers compared hazard by hazard.

use std::collections::BTreeMap;
use std::time::Instant;

use anyhow::Result;
use clap::Args;
use cuntu_core::exposure::exposed_households;
use cuntu_core::index::LayerIndex;
use cuntu_store::layers::FeatureLayer;
use cuntu_store::Store;

#[derive(Args)]
pub struct ExposureBench {
    /// Timed runs of each side; the median is reported.
    #[arg(long, default_value_t = 5)]
    runs: usize,
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

pub async fn run(store: &Store, args: &ExposureBench) -> Result<()> {
    let runs = args.runs.max(1);
    let townships: Vec<i64> = sqlx::query_scalar("SELECT id FROM areas WHERE parent_id IS NULL")
        .fetch_all(store.pool())
        .await?;
    let hazards = store.hazards_in_scope(&townships).await?;
    let ids: Vec<i64> = hazards.iter().map(|h| h.id).collect();

    let started = Instant::now();
    let households =
        LayerIndex::bulk_load(store.features_for_index(FeatureLayer::Households).await?);
    let load_s = started.elapsed().as_secs_f64();

    let mut ours_ms = Vec::new();
    let mut ours: BTreeMap<i64, Vec<i64>> = BTreeMap::new();
    for _ in 0..runs {
        let t = Instant::now();
        ours = hazards
            .iter()
            .map(|h| {
                (
                    h.id,
                    exposed_households(&h.geometry, h.buffer_m, &households),
                )
            })
            .collect();
        ours_ms.push(t.elapsed().as_secs_f64() * 1000.0);
    }

    sqlx::query("CREATE INDEX IF NOT EXISTS households_geography_bench_idx ON households USING gist ((geom::geography))")
        .execute(store.pool())
        .await?;
    sqlx::query("ANALYZE households")
        .execute(store.pool())
        .await?;
    let mut postgis_ms = Vec::new();
    let mut reference: BTreeMap<i64, Vec<i64>> = BTreeMap::new();
    for _ in 0..runs {
        let t = Instant::now();
        let pairs = store.exposure_reference(&ids).await?;
        postgis_ms.push(t.elapsed().as_secs_f64() * 1000.0);
        reference = ids.iter().map(|id| (*id, Vec::new())).collect();
        for (hazard, household) in pairs {
            reference.entry(hazard).or_default().push(household);
        }
    }

    let pairs: usize = ours.values().map(Vec::len).sum();
    let differing: Vec<i64> = ids
        .iter()
        .filter(|id| ours.get(id) != reference.get(id))
        .copied()
        .collect();
    let (ours_median, postgis_median) = (median(ours_ms), median(postgis_ms));
    println!(
        "exposure of households to every hazard: in-memory R-tree vs PostGIS ST_DWithin(geography) with a geography GiST index; median of {runs} runs"
    );
    println!("hazards | households | exposed pairs | R-tree load | cuntu median | PostGIS median | speed-up | hazards with different answers");
    println!("---|---|---|---|---|---|---|---");
    println!(
        "{} | {} | {} | {:.2} s | {:.1} ms | {:.1} ms | {:.1}× | {}",
        hazards.len(),
        households.len(),
        pairs,
        load_s,
        ours_median,
        postgis_median,
        postgis_median / ours_median,
        differing.len()
    );
    if !differing.is_empty() {
        println!("different answers for hazards {differing:?}");
    }
    Ok(())
}
