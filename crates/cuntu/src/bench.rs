//! `cuntu bench`: measured speed and quality against the anchors the issues name.
//!
//! `cuntu bench grids` runs the grid proposal on every demo village and on a generated village,
//! and PySAL spopt's max-p (scripts/maxp_anchor.py, in the venv `make bench-grids` makes) on
//! the same households with the same floor, and measures both results the same way
//! (`cuntu_core::proposal::assess`).
//!
//! `cuntu bench route` times visit routes (`cuntu_core::routing`) of random households on the
//! demo road network and on a generated county, and orders the same distance matrices with VROOM
//! and OR-Tools CP-SAT (scripts/route_anchor.py, in the venv `make bench-route` makes); all three
//! orders are measured on the same matrix.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use cuntu_core::gridding::GridRule;
use cuntu_core::metric::LocalMetric;
use cuntu_core::proposal::{assess, grid_count, propose, Barrier, ProposalInput, ProposedGrid};
use cuntu_core::routing::RoadNetwork;
use cuntu_store::Store;
use geo::{coord, BoundingRect, Coord, LineString, MultiPolygon, Point, Polygon};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tokio::io::AsyncWriteExt;

#[derive(Subcommand)]
pub enum BenchCommand {
    /// Grid proposals against spopt's max-p.
    Grids(GridBench),
    /// Visit routes against VROOM and a proven optimum (OR-Tools CP-SAT).
    Route(RouteBench),
    /// Exposure of households to every hazard: the R-tree against PostGIS ST_DWithin.
    Exposure(crate::bench_exposure::ExposureBench),
    /// A generated GeoPackage of points: `cuntu import` against `ogr2ogr -f PostgreSQL`.
    Import(crate::bench_import::ImportBench),
    /// Tiles of the county against Martin (wrk, cold and warm caches), stale tiles after
    /// edits, memory, and `/api/locate` against PostGIS `ST_Contains`.
    Tiles(crate::bench_tiles::TilesBench),
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

#[derive(Args)]
pub struct RouteBench {
    /// The Python with pyvroom and ortools installed (`make bench-route` makes this venv).
    #[arg(long, default_value = ".cuntu/bench-venv/bin/python")]
    python: PathBuf,
    #[arg(long, default_value = "scripts/route_anchor.py")]
    anchor_script: PathBuf,
    /// Seconds CP-SAT may spend proving one optimum.
    #[arg(long, default_value_t = 10)]
    anchor_time_limit: u64,
    /// Skip VROOM and OR-Tools (only our figures).
    #[arg(long)]
    no_anchor: bool,
    /// Routes per network.
    #[arg(long, default_value_t = 20)]
    instances: usize,
    /// Stops per route (besides the start).
    #[arg(long, default_value_t = 60)]
    stops: usize,
    /// Junctions per side of the generated county (224: about 50,000 nodes, 94,000 edges).
    #[arg(long, default_value_t = 224)]
    county_side: usize,
    #[arg(long, default_value_t = 2026)]
    seed: u64,
}

pub async fn run(store: Option<&Store>, command: &BenchCommand) -> Result<()> {
    match command {
        BenchCommand::Grids(args) => grids(store, args).await,
        BenchCommand::Route(args) => route(store, args).await,
        BenchCommand::Exposure(args) => {
            let store = store.context("the exposure benchmark needs the database")?;
            crate::bench_exposure::run(store, args).await
        }
        BenchCommand::Tiles(args) => {
            let store = store.context("the tile benchmark needs the county's database")?;
            crate::bench_tiles::run(store, args).await
        }
        // Runs in throwaway databases of its own, so it needs none given.
        BenchCommand::Import(args) => crate::bench_import::run(args).await,
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

/// One network of the route benchmark: its roads and where stops may be.
struct RouteCase {
    name: String,
    roads: Vec<LineString<f64>>,
    /// Candidate stops (households); `None`: uniform in the roads' bounding box.
    households: Option<Vec<Point<f64>>>,
}

async fn route(store: Option<&Store>, args: &RouteBench) -> Result<()> {
    let mut cases = Vec::new();
    if let Some(store) = store {
        // Vertices of every road, in order (no WKB decoding needed here).
        let vertices: Vec<(i64, f64, f64)> = sqlx::query_as(
            "SELECT id, ST_X((d).geom), ST_Y((d).geom) \
             FROM (SELECT id, ST_DumpPoints(geom) AS d FROM roads) AS v \
             ORDER BY id, (d).path[1]",
        )
        .fetch_all(store.pool())
        .await?;
        let mut roads: Vec<LineString<f64>> = Vec::new();
        let mut current = None;
        for (id, x, y) in vertices {
            if current != Some(id) {
                current = Some(id);
                roads.push(LineString::new(Vec::new()));
            }
            roads
                .last_mut()
                .expect("a road begun")
                .0
                .push(coord! { x: x, y: y });
        }
        let households: Vec<(f64, f64)> =
            sqlx::query_as("SELECT ST_X(geom), ST_Y(geom) FROM households ORDER BY id")
                .fetch_all(store.pool())
                .await?;
        cases.push(RouteCase {
            name: "demo township".into(),
            roads,
            households: Some(households.into_iter().map(Point::from).collect()),
        });
    }
    cases.push(generated_county(args.county_side, args.seed));

    println!(
        "visit routes: {} routes of {} stops per network; cuntu vs VROOM (exploration 5) vs CP-SAT ({} s)",
        args.instances, args.stops, args.anchor_time_limit
    );
    println!("network | nodes | edges | build + CH | route median | route p95 | of which matrix (median) | cuntu mean tour | VROOM mean tour | optimum mean tour | proven optimal | cuntu vs VROOM | cuntu vs optimum | VROOM vs optimum | worst cuntu vs optimum | VROOM time (mean) | CP-SAT time (mean)");
    println!("---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---");
    for case in &cases {
        route_case(case, args).await?;
    }
    Ok(())
}

async fn route_case(case: &RouteCase, args: &RouteBench) -> Result<()> {
    let started = Instant::now();
    let network = RoadNetwork::build(&case.roads);
    let build_s = started.elapsed().as_secs_f64();

    let mut rng = ChaCha8Rng::seed_from_u64(args.seed);
    let (mut min, mut max) = (
        coord! { x: f64::INFINITY, y: f64::INFINITY },
        coord! { x: f64::NEG_INFINITY, y: f64::NEG_INFINITY },
    );
    for c in case.roads.iter().flat_map(|r| r.0.iter()) {
        min = coord! { x: min.x.min(c.x), y: min.y.min(c.y) };
        max = coord! { x: max.x.max(c.x), y: max.y.max(c.y) };
    }
    let pick = |rng: &mut ChaCha8Rng| match &case.households {
        Some(h) => h[rng.gen_range(0..h.len())],
        None => Point::new(rng.gen_range(min.x..max.x), rng.gen_range(min.y..max.y)),
    };

    let mut route_ms = Vec::new();
    let mut matrix_ms = Vec::new();
    let mut ours = Vec::new();
    let mut matrices = Vec::new();
    let mut unreachable = 0;
    for _ in 0..args.instances {
        let start = pick(&mut rng);
        let stops: Vec<Point<f64>> = (0..args.stops).map(|_| pick(&mut rng)).collect();
        let began = Instant::now();
        let tour = network.route(start, &stops);
        route_ms.push(began.elapsed().as_secs_f64() * 1e3);
        unreachable += tour.unreachable.len();

        // The matrix our ordering saw: the start and the reachable stops.
        let points: Vec<Point<f64>> = std::iter::once(start)
            .chain(stops.iter().copied())
            .collect();
        let began = Instant::now();
        let full = network.distance_matrix(&points);
        matrix_ms.push(began.elapsed().as_secs_f64() * 1e3);
        let mut kept: Vec<usize> = vec![0];
        kept.extend(
            (0..stops.len())
                .filter(|i| !tour.unreachable.contains(i))
                .map(|i| i + 1),
        );
        let matrix: Vec<Vec<f64>> = kept
            .iter()
            .map(|&i| kept.iter().map(|&j| full[i][j]).collect())
            .collect();
        let order: Vec<usize> = tour
            .order
            .iter()
            .map(|&s| {
                kept.iter()
                    .position(|&k| k == s + 1)
                    .expect("a reachable stop")
            })
            .collect();
        let length = open_path_length(&matrix, &order);
        anyhow::ensure!(
            (length - tour.length_m).abs() <= 0.005 * tour.length_m + 0.1,
            "the tour's length {} differs from its matrix's {length}",
            tour.length_m
        );
        ours.push(length);
        matrices.push(matrix);
    }
    let (median, p95) = (percentile(&route_ms, 0.5), percentile(&route_ms, 0.95));
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len().max(1) as f64;
    let name = if unreachable > 0 {
        format!("{} ({unreachable} stops unreachable in all)", case.name)
    } else {
        case.name.clone()
    };
    let ours_line = format!(
        "{name} | {} | {} | {build_s:.2} s | {median:.1} ms | {p95:.1} ms | {:.1} ms | {:.0} m",
        network.node_count(),
        network.edge_count(),
        percentile(&matrix_ms, 0.5),
        mean(&ours),
    );
    if args.no_anchor {
        println!("{ours_line} | | | | | | | | | |");
        return Ok(());
    }
    let answer = run_route_anchor(args, &matrices).await?;
    let results = answer["results"].as_array().context("no results")?;
    let (mut vroom, mut optimum, mut proven) = (Vec::new(), Vec::new(), 0);
    let (mut vroom_s, mut optimum_s) = (Vec::new(), Vec::new());
    let mut worst_gap: f64 = 0.0;
    for ((result, matrix), our) in results.iter().zip(&matrices).zip(&ours) {
        let order_of = |v: &serde_json::Value| -> Option<Vec<usize>> {
            v["order"].as_array().map(|o| {
                o.iter()
                    .filter_map(|i| i.as_u64())
                    .map(|i| i as usize)
                    .collect()
            })
        };
        let v = order_of(&result["vroom"]).context("VROOM gave no order")?;
        anyhow::ensure!(v.len() + 1 == matrix.len(), "VROOM left stops out");
        vroom.push(open_path_length(matrix, &v));
        vroom_s.push(result["vroom"]["seconds"].as_f64().unwrap_or(0.0));
        let o = order_of(&result["optimum"]).context("CP-SAT gave no order")?;
        let best = open_path_length(matrix, &o);
        optimum.push(best);
        optimum_s.push(result["optimum"]["seconds"].as_f64().unwrap_or(0.0));
        if result["optimum"]["proven"].as_bool() == Some(true) {
            proven += 1;
        }
        worst_gap = worst_gap.max(our / best - 1.0);
    }
    let percent = |a: f64, b: f64| 100.0 * (a / b - 1.0);
    println!(
        "{ours_line} | {:.0} m | {:.0} m | {proven} of {} | {:+.2} % | {:+.2} % | {:+.2} % | {:+.2} % | {:.2} s | {:.2} s",
        mean(&vroom),
        mean(&optimum),
        results.len(),
        percent(mean(&ours), mean(&vroom)),
        percent(mean(&ours), mean(&optimum)),
        percent(mean(&vroom), mean(&optimum)),
        100.0 * worst_gap,
        mean(&vroom_s),
        mean(&optimum_s),
    );
    Ok(())
}

/// Metres of the open path from index 0 through `order`.
fn open_path_length(matrix: &[Vec<f64>], order: &[usize]) -> f64 {
    std::iter::once(0)
        .chain(order.iter().copied())
        .collect::<Vec<_>>()
        .windows(2)
        .map(|w| matrix[w[0]][w[1]])
        .sum()
}

fn percentile(values: &[f64], q: f64) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() - 1) as f64 * q).round() as usize]
}

/// Orders every matrix with VROOM and CP-SAT in one Python process.
async fn run_route_anchor(
    args: &RouteBench,
    matrices: &[Vec<Vec<f64>>],
) -> Result<serde_json::Value> {
    let job = serde_json::json!({
        "instances": matrices.iter().map(|m| serde_json::json!({ "matrix": m })).collect::<Vec<_>>(),
        "time_limit": args.anchor_time_limit,
    });
    let mut child = tokio::process::Command::new(&args.python)
        .arg(&args.anchor_script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .with_context(|| {
            format!(
                "starting {} (make bench-route creates it)",
                args.python.display()
            )
        })?;
    let mut stdin = child.stdin.take().context("no stdin")?;
    stdin.write_all(job.to_string().as_bytes()).await?;
    drop(stdin);
    let output = child.wait_with_output().await?;
    anyhow::ensure!(output.status.success(), "the route anchor failed");
    Ok(serde_json::from_slice(&output.stdout)?)
}

/// A county's roads: a jittered lattice of `side` × `side` junctions 150 m apart (about
/// 34 km across for 224), each road a way with a bend in the middle, one in eight missing,
/// and a few long straight roads across: deterministic by seed.
fn generated_county(side: usize, seed: u64) -> RouteCase {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let metric = LocalMetric::centred_on(coord! { x: 113.6, y: 34.7 });
    let spacing = 150.0;
    let half = side as f64 * spacing / 2.0;
    let junction: Vec<Vec<Coord<f64>>> = (0..side)
        .map(|i| {
            (0..side)
                .map(|j| {
                    coord! {
                        x: i as f64 * spacing - half + rng.gen_range(-40.0..40.0),
                        y: j as f64 * spacing - half + rng.gen_range(-40.0..40.0),
                    }
                })
                .collect()
        })
        .collect();
    let mut roads = Vec::new();
    let mut way = |a: Coord<f64>, b: Coord<f64>, rng: &mut ChaCha8Rng| {
        let bend = coord! {
            x: (a.x + b.x) / 2.0 + rng.gen_range(-15.0..15.0),
            y: (a.y + b.y) / 2.0 + rng.gen_range(-15.0..15.0),
        };
        roads.push(LineString::new(
            [a, bend, b].iter().map(|&c| metric.to_degrees(c)).collect(),
        ));
    };
    for i in 0..side {
        for j in 0..side {
            if i + 1 < side && rng.gen_range(0..8) != 0 {
                way(junction[i][j], junction[i + 1][j], &mut rng);
            }
            if j + 1 < side && rng.gen_range(0..8) != 0 {
                way(junction[i][j], junction[i][j + 1], &mut rng);
            }
        }
    }
    // Main roads along every 16th row and column, through the junctions (one long way each).
    for k in (0..side).step_by(16) {
        roads.push(LineString::new(
            (0..side)
                .map(|i| metric.to_degrees(junction[i][k]))
                .collect(),
        ));
        roads.push(LineString::new(
            (0..side)
                .map(|j| metric.to_degrees(junction[k][j]))
                .collect(),
        ));
    }
    RouteCase {
        name: format!("generated county, {side}×{side} lattice"),
        roads,
        households: None,
    }
}
