//! `cuntu bench`: measured speed and quality against the anchors the issues name.
//!
//! `cuntu bench grids` runs the grid proposal on every demo village and on a generated village,
//! and PySAL spopt's max-p (scripts/maxp_anchor.py, in the venv `make bench-grids` makes) on
//! the same households with the same floor, and measures both results the same way
//! (`cuntu_core::proposal::assess`).

use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use cuntu_core::gridding::GridRule;
use cuntu_core::metric::LocalMetric;
use cuntu_core::proposal::{assess, grid_count, propose, Barrier, ProposalInput, ProposedGrid};
use cuntu_store::Store;
use geo::{coord, BoundingRect, LineString, MultiPolygon, Point, Polygon};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tokio::io::AsyncWriteExt;

#[derive(Subcommand)]
pub enum BenchCommand {
    /// Grid proposals against spopt's max-p.
    Grids(GridBench),
}

#[derive(Args)]
pub struct GridBench {
    /// The Python with spopt installed (`make bench-grids` makes this venv).
    #[arg(long, default_value = ".cuntu/bench-venv/bin/python")]
    python: PathBuf,
    #[arg(long, default_value = "scripts/maxp_anchor.py")]
    anchor_script: PathBuf,
    /// Give up on max-p for one village after this many seconds.
    #[arg(long, default_value_t = 600)]
    anchor_timeout: u64,
    /// Skip max-p (only our figures).
    #[arg(long)]
    no_anchor: bool,
    /// Households of the generated village.
    #[arg(long, default_value_t = 3000)]
    households: usize,
    #[arg(long, default_value_t = 30)]
    min: usize,
    #[arg(long, default_value_t = 60)]
    max: usize,
    /// Only the demo villages with these codes (default: all).
    #[arg(long, value_delimiter = ',')]
    villages: Vec<String>,
}

pub async fn run(store: Option<&Store>, command: &BenchCommand) -> Result<()> {
    match command {
        BenchCommand::Grids(args) => grids(store, args).await,
    }
}

struct Case {
    name: String,
    region: MultiPolygon<f64>,
    households: Vec<Point<f64>>,
    barriers: Vec<Barrier>,
}

/// How one method did on one case.
struct Figures {
    seconds: f64,
    grids: usize,
    within: usize,
    mean_pp: f64,
    worst_pp: f64,
    crossing: usize,
}

impl Figures {
    fn of(grids: &[ProposedGrid], rule: &GridRule, seconds: f64) -> Figures {
        let n = grids.len().max(1) as f64;
        Figures {
            seconds,
            grids: grids.len(),
            within: grids
                .iter()
                .filter(|g| rule.admits(g.members.len()))
                .count(),
            mean_pp: grids.iter().map(|g| g.polsby_popper).sum::<f64>() / n,
            worst_pp: grids
                .iter()
                .map(|g| g.polsby_popper)
                .fold(f64::INFINITY, f64::min),
            crossing: grids.iter().filter(|g| g.crosses_barrier).count(),
        }
    }

    fn row(&self) -> String {
        format!(
            "{:>8.3} s | {:>4} | {:>5.1} % | {:.3} | {:.3} | {:>4}",
            self.seconds,
            self.grids,
            100.0 * self.within as f64 / self.grids.max(1) as f64,
            self.mean_pp,
            if self.worst_pp.is_finite() {
                self.worst_pp
            } else {
                0.0
            },
            self.crossing
        )
    }
}

async fn grids(store: Option<&Store>, args: &GridBench) -> Result<()> {
    let rule = GridRule::new(args.min, args.max).map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut cases = Vec::new();
    if let Some(store) = store {
        let villages: Vec<(i64, String, String)> =
            sqlx::query_as("SELECT id, code, name FROM areas WHERE kind = 'village' ORDER BY code")
                .fetch_all(store.pool())
                .await?;
        for (id, code, name) in villages {
            if !args.villages.is_empty() && !args.villages.contains(&code) {
                continue;
            }
            let data = store.proposal_data(id, false).await?;
            cases.push(Case {
                name: format!("{code} {name}"),
                region: data.region,
                households: data.households.iter().map(|h| h.1).collect(),
                barriers: data.barriers,
            });
        }
    }
    cases.push(generated_village(args.households, 2026));

    println!(
        "grid proposals: cuntu vs spopt MaxPHeuristic (floor {}), rule {}-{}",
        rule.min_households, rule.min_households, rule.max_households
    );
    println!("method | case | households | runtime | grids | within rule | mean PP | worst PP | crossing roads/rivers | max-p ÷ cuntu time");
    println!("---|---|---|---|---|---|---|---|---|---");
    let mut ratios = Vec::new();
    for case in &cases {
        let input = ProposalInput {
            region: &case.region,
            households: &case.households,
            barriers: &case.barriers,
            rule,
            target: None,
            seed: 0,
        };
        // Ours: the median of five runs.
        let mut times = Vec::new();
        let mut ours = Vec::new();
        for _ in 0..5 {
            let started = Instant::now();
            ours = propose(&input).grids;
            times.push(started.elapsed().as_secs_f64());
        }
        times.sort_by(f64::total_cmp);
        let our = Figures::of(&ours, &rule, times[2]);
        println!(
            "cuntu | {} | {} | {} | |",
            case.name,
            case.households.len(),
            our.row()
        );
        if args.no_anchor {
            continue;
        }
        let (_, infeasible) = grid_count(case.households.len(), &rule, None);
        if infeasible.is_some() {
            println!(
                "max-p | {} | {} | skipped: no whole number of grids fits the rule | |",
                case.name,
                case.households.len()
            );
            continue;
        }
        match run_anchor(args, case, rule.min_households).await {
            Ok(Some((labels, seconds))) => {
                let theirs = Figures::of(&assess(&input, &labels), &rule, seconds);
                let ratio = seconds / our.seconds.max(1e-6);
                ratios.push(ratio);
                println!(
                    "max-p | {} | {} | {} | {ratio:.0}× |",
                    case.name,
                    case.households.len(),
                    theirs.row()
                );
            }
            Ok(None) => {
                let ratio = args.anchor_timeout as f64 / our.seconds.max(1e-6);
                println!(
                    "max-p | {} | {} | did not finish in {} s | | | | | | > {ratio:.0}× |",
                    case.name,
                    case.households.len(),
                    args.anchor_timeout
                );
            }
            Err(e) => println!(
                "max-p | {} | {} | failed: {e:#} | |",
                case.name,
                case.households.len()
            ),
        }
    }
    if !ratios.is_empty() {
        ratios.sort_by(f64::total_cmp);
        println!(
            "\nmax-p took {:.0}× to {:.0}× cuntu's time (median {:.0}×) where it finished",
            ratios[0],
            ratios[ratios.len() - 1],
            ratios[ratios.len() / 2]
        );
    }
    Ok(())
}

/// Runs max-p on a case in metres; `None` when it did not finish in time.
async fn run_anchor(
    args: &GridBench,
    case: &Case,
    floor: usize,
) -> Result<Option<(Vec<usize>, f64)>> {
    let centre = case
        .region
        .bounding_rect()
        .context("an empty region")?
        .center();
    let metric = LocalMetric::centred_on(centre);
    let region = metric.project(&case.region);
    let region_coords: Vec<Vec<Vec<[f64; 2]>>> = region
        .0
        .iter()
        .map(|p| {
            std::iter::once(p.exterior())
                .chain(p.interiors())
                .map(|r| r.0.iter().map(|c| [c.x, c.y]).collect())
                .collect()
        })
        .collect();
    // Households at one spot would have no Voronoi cell each: a centimetre apart they do.
    let mut seen = std::collections::HashSet::new();
    let households: Vec<[f64; 2]> = case
        .households
        .iter()
        .enumerate()
        .map(|(i, h)| {
            let m = metric.to_metres(h.0);
            let mut at = [m.x, m.y];
            while !seen.insert(((at[0] * 100.0) as i64, (at[1] * 100.0) as i64)) {
                at[0] += 0.013 * ((i % 7) as f64 + 1.0);
            }
            at
        })
        .collect();
    let job = serde_json::json!({ "region": region_coords, "households": households, "min": floor, "seed": 0 });
    let mut child = tokio::process::Command::new(&args.python)
        .arg(&args.anchor_script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .with_context(|| {
            format!(
                "starting {} (make bench-grids creates it)",
                args.python.display()
            )
        })?;
    let mut stdin = child.stdin.take().context("no stdin")?;
    stdin.write_all(job.to_string().as_bytes()).await?;
    drop(stdin);
    match tokio::time::timeout(
        Duration::from_secs(args.anchor_timeout),
        child.wait_with_output(),
    )
    .await
    {
        Err(_) => Ok(None),
        Ok(output) => {
            let output = output?;
            if !output.status.success() {
                let err = String::from_utf8_lossy(&output.stderr);
                anyhow::bail!("{}", err.lines().last().unwrap_or("max-p failed"));
            }
            let answer: serde_json::Value = serde_json::from_slice(&output.stdout)?;
            let labels = answer["labels"]
                .as_array()
                .context("no labels")?
                .iter()
                .map(|l| l.as_i64().unwrap_or(-1).max(0) as usize)
                .collect();
            Ok(Some((labels, answer["seconds"].as_f64().unwrap_or(0.0))))
        }
    }
}

/// A village of `n` households in hamlets (clusters) on a 3 km square, with a river across
/// and two main roads between the hamlets: deterministic by seed.
fn generated_village(n: usize, seed: u64) -> Case {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let metric = LocalMetric::centred_on(coord! { x: 114.3, y: 30.6 });
    let side = 3000.0;
    let ring = |pts: &[(f64, f64)]| {
        LineString::new(
            pts.iter()
                .map(|&(x, y)| metric.to_degrees(coord! { x: x, y: y }))
                .collect(),
        )
    };
    let region = MultiPolygon(vec![Polygon::new(
        ring(&[
            (-side / 2.0, -side / 2.0),
            (side / 2.0, -side / 2.0),
            (side / 2.0, side / 2.0),
            (-side / 2.0, side / 2.0),
            (-side / 2.0, -side / 2.0),
        ]),
        vec![],
    )]);
    let hamlets: Vec<(f64, f64, f64)> = (0..(n / 150).max(1))
        .map(|_| {
            (
                rng.gen_range(-side / 2.5..side / 2.5),
                rng.gen_range(-side / 2.5..side / 2.5),
                rng.gen_range(60.0..180.0),
            )
        })
        .collect();
    let mut households = Vec::with_capacity(n);
    while households.len() < n {
        let (cx, cy, spread) = hamlets[rng.gen_range(0..hamlets.len())];
        // A sum of uniforms: roughly normal, bounded.
        let dx: f64 = (0..4).map(|_| rng.gen_range(-1.0..1.0)).sum::<f64>() * spread / 2.0;
        let dy: f64 = (0..4).map(|_| rng.gen_range(-1.0..1.0)).sum::<f64>() * spread / 2.0;
        let (x, y) = (cx + dx, cy + dy);
        if x.abs() < side / 2.0 - 1.0 && y.abs() < side / 2.0 - 1.0 {
            households.push(Point::from(metric.to_degrees(coord! { x: x, y: y })));
        }
    }
    let barriers = vec![
        Barrier {
            line: ring(&[(-side, -200.0), (0.0, 150.0), (side, -50.0)]),
            cost_factor: 0.05,
        },
        Barrier {
            line: ring(&[(-400.0, -side), (-300.0, side)]),
            cost_factor: 0.05,
        },
        Barrier {
            line: ring(&[(500.0, -side), (650.0, side)]),
            cost_factor: 0.05,
        },
    ];
    Case {
        name: format!("generated, {} hamlets", hamlets.len()),
        region,
        households,
        barriers,
    }
}
