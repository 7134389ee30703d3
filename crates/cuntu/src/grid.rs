//! `cuntu grid`: grid proposals from the command line.

use std::collections::HashMap;
use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};
use cuntu_core::gridding::GridRule;
use cuntu_server::Lang;
use cuntu_store::proposals::ProposalRequest;
use cuntu_store::Store;

#[derive(Subcommand)]
pub enum GridCommand {
    /// Propose grids for a village: print the figures, write GeoJSON, or store them.
    Propose(ProposeArgs),
}

#[derive(Args)]
pub struct ProposeArgs {
    /// The village: its id or its 12-digit code.
    #[arg(long)]
    village: String,
    /// Fewest households a grid may hold (default: the township's rule).
    #[arg(long)]
    min: Option<usize>,
    /// Most households a grid may hold (default: the township's rule).
    #[arg(long)]
    max: Option<usize>,
    /// Households a grid should hold (default: the middle of the rule).
    #[arg(long)]
    target: Option<usize>,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Keep the current grids and propose only for the part they leave uncovered.
    #[arg(long)]
    keep_existing: bool,
    /// Write the proposal as GeoJSON to this file.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Store the proposal as the village's grids (one versioned change).
    #[arg(long)]
    write: bool,
}

pub async fn run(store: &Store, command: &GridCommand) -> Result<()> {
    match command {
        GridCommand::Propose(args) => propose(store, args).await,
    }
}

async fn village_id(store: &Store, raw: &str) -> Result<i64> {
    if raw.len() < 12 {
        if let Ok(id) = raw.parse::<i64>() {
            return Ok(id);
        }
    }
    store
        .area_id_by_code(raw)
        .await?
        .with_context(|| format!("no village with code {raw}"))
}

async fn propose(store: &Store, args: &ProposeArgs) -> Result<()> {
    let village = village_id(store, &args.village).await?;
    let township_rule = store.household_rule(village).await?;
    let min = args.min.unwrap_or(township_rule.min_households as usize);
    let max = args.max.unwrap_or(township_rule.max_households as usize);
    let rule = GridRule::new(min, max).map_err(|e| anyhow::anyhow!("{e}"))?;
    let proposal = store
        .propose_grids(
            village,
            ProposalRequest {
                rule,
                target: args.target,
                seed: args.seed,
                keep_existing: args.keep_existing,
            },
        )
        .await?;
    let geojson = cuntu_server::proposal_json(&proposal, &rule, Lang::En);
    let s = &geojson["summary"];
    println!(
        "{} households → {} grids in {:.0} ms: {} within {min}-{max}, Polsby-Popper mean {} worst {}, {} crossing a major road or river, {} not contiguous",
        s["households"], s["grids"], s["elapsed_ms"].as_f64().unwrap_or(0.0), s["within_rule"],
        s["mean_polsby_popper"], s["worst_polsby_popper"], s["crossing_barriers"], s["not_contiguous"],
    );
    if let Some(reason) = geojson["infeasible"].as_str() {
        println!("note: {reason}");
    }
    if let Some(path) = &args.out {
        std::fs::write(path, serde_json::to_vec_pretty(&geojson)?)
            .with_context(|| format!("writing {}", path.display()))?;
        println!("wrote {}", path.display());
    }
    if args.write {
        let layer = store.child_layer(village).await?;
        let mut versions = HashMap::new();
        for f in layer.grids["features"].as_array().into_iter().flatten() {
            if let (Some(id), Some(v)) = (f["id"].as_i64(), f["properties"]["version"].as_i64()) {
                versions.insert(id, v as i32);
            }
        }
        let drafts: Vec<_> = proposal
            .proposal
            .grids
            .iter()
            .map(|g| (None, g.geometry.clone()))
            .collect();
        if drafts.is_empty() {
            bail!("the proposal holds no grid");
        }
        let report = store
            .accept_proposal(
                village,
                &drafts,
                &versions,
                args.keep_existing,
                "cli",
                false,
            )
            .await?;
        println!(
            "stored: {} grids, {} removed, {} households changed grid",
            report.grids.len(),
            report.removed.len(),
            report.moved_households
        );
    }
    Ok(())
}
