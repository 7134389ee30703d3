//! `cuntu gen county`: the county-scale dataset the benchmarks run on, in the database in use.

use anyhow::{bail, Result};
use clap::{Args, Subcommand};
use cuntu_store::Store;
use indicatif::{ProgressBar, ProgressStyle};

#[derive(Subcommand)]
pub enum GenCommand {
    /// Replicates the loaded demo townships side by side until the county holds about this
    /// many households (real geometry, households jittered by a few metres, by seed).
    County(CountyArgs),
}

#[derive(Args)]
pub struct CountyArgs {
    #[arg(long, default_value_t = 150_000)]
    households: i64,
    /// Reported, and a check: the copies give about the demo's grids per copy.
    #[arg(long, default_value_t = 3_000)]
    grids: i64,
    #[arg(long, default_value_t = 2026)]
    seed: i64,
}

pub async fn run(store: &Store, command: &GenCommand) -> Result<()> {
    match command {
        GenCommand::County(args) => county(store, args).await,
    }
}

async fn county(store: &Store, args: &CountyArgs) -> Result<()> {
    let original = store.county_original().await?;
    if original.households == 0 || original.width <= 0.0 {
        bail!("no demo to replicate: run `cuntu demo load` first (没有可复制的演示数据)");
    }
    let copies_wanted =
        ((args.households as f64 / original.households as f64).ceil() as i64).max(1);
    let have = original.copies + 1;
    if have >= copies_wanted {
        println!(
            "the county is there already: {have} copies of {} households and {} grids (不需再生成)",
            original.households, original.grids
        );
        return Ok(());
    }
    let columns = (copies_wanted as f64).sqrt().ceil() as i64;
    // A margin between copies, so that no road or zone of one reaches into the next.
    let (step_x, step_y) = (original.width * 1.05, original.height * 1.05);
    println!(
        "county: {copies_wanted} copies of {} households and {} grids → about {} households, {} grids (asked: {}, {})",
        original.households,
        original.grids,
        copies_wanted * original.households,
        copies_wanted * original.grids,
        args.households,
        args.grids
    );
    let bar = ProgressBar::new((copies_wanted - have) as u64);
    bar.set_style(
        ProgressStyle::with_template(
            "{bar:30} {pos}/{len} copies, {per_sec}, {elapsed} (eta {eta})",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    for copy in have..copies_wanted {
        let (col, row) = (copy % columns, copy / columns);
        let offset = (col as f64 * step_x, -(row as f64) * step_y);
        store
            .add_county_copy(copy as i32, offset, args.seed)
            .await?;
        bar.inc(1);
    }
    bar.finish();
    store.analyze().await?;
    let now = store.county_original().await?;
    println!(
        "done: {} copies; the original has {} households and {} grids",
        now.copies + 1,
        now.households,
        now.grids
    );
    Ok(())
}
