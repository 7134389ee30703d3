//! `cuntu bench tiles`: our tile server against Martin over the same PostGIS tables.
//!
//! Both serve the county of `cuntu gen county` (`DATABASE_URL`). The tile list is every tile
//! z10-z16 over the county's townships for each layer, shuffled; `wrk` requests it at 1, 8 and
//! 64 connections, first with a cold cache (each server freshly started, every request a tile
//! not asked before), then warm (a fixed subset asked once beforehand, then asked again).
//! Then: edits made through our API and the very next tile of each server (stale or not), the
//! resident memory of both, and `/api/locate` on 100,000 points against PostGIS `ST_Contains`
//! one query per point.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::Args;
use cuntu_core::auth::Role;
use cuntu_core::TileCoord;
use cuntu_store::Store;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::{json, Value};

#[derive(Args)]
pub struct TilesBench {
    /// Martin 1.14.0 (`make bench-tiles` installs it there).
    #[arg(long, default_value = ".cuntu/martin/bin/martin")]
    martin: PathBuf,
    /// Seconds of each wrk run.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    #[arg(long, value_delimiter = ',', default_value = "1,8,64")]
    connections: Vec<u32>,
    #[arg(long, value_delimiter = ',', default_value = "areas,roads,households")]
    layers: Vec<String>,
    /// Tiles of the warm-cache runs (asked once before, then again and again).
    #[arg(long, default_value_t = 3000)]
    warm_tiles: usize,
    /// Edits checked for stale tiles.
    #[arg(long, default_value_t = 20)]
    edits: usize,
    /// Points of the `/api/locate` comparison.
    #[arg(long, default_value_t = 100_000)]
    locate_points: usize,
    #[arg(long, default_value_t = 2026)]
    seed: u64,
}

const OURS_PORT: u16 = 18730;
const MARTIN_PORT: u16 = 18731;

/// One side of the comparison.
#[derive(Clone, Copy, PartialEq)]
enum Server {
    Cuntu,
    Martin,
}

impl Server {
    fn name(self) -> &'static str {
        match self {
            Server::Cuntu => "cuntu",
            Server::Martin => "Martin 1.14.0",
        }
    }

    fn base(self) -> String {
        let port = match self {
            Server::Cuntu => OURS_PORT,
            Server::Martin => MARTIN_PORT,
        };
        format!("http://127.0.0.1:{port}")
    }

    fn path(self, layer: &str, t: TileCoord) -> String {
        match self {
            Server::Cuntu => format!("/tiles/{layer}/{}/{}/{}", t.z, t.x, t.y),
            Server::Martin => format!("/{layer}/{}/{}/{}", t.z, t.x, t.y),
        }
    }
}

struct Running {
    child: Child,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Running {
    fn rss_mib(&self) -> Option<f64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).ok()?;
        let kb: f64 = status
            .lines()
            .find(|l| l.starts_with("VmRSS:"))?
            .split_whitespace()
            .nth(1)?
            .parse()
            .ok()?;
        Some(kb / 1024.0)
    }
}

fn martin_config(dir: &Path, database_url: &str) -> Result<PathBuf> {
    // The same tables and the same properties our tiles carry.
    let config = format!(
        "listen_addresses: 127.0.0.1:{MARTIN_PORT}
postgres:
  connection_string: {database_url}
  auto_publish: false
  tables:
    areas:
      {{ schema: public, table: areas, srid: 4326, geometry_column: geom, geometry_type: MULTIPOLYGON, id_column: id,
        properties: {{ kind: text, code: text, name: text, parent_id: int8 }} }}
    households:
      {{ schema: public, table: households, srid: 4326, geometry_column: geom, geometry_type: POINT, id_column: id,
        properties: {{ grid_id: int8, house_number: text }} }}
    roads:
      {{ schema: public, table: roads, srid: 4326, geometry_column: geom, geometry_type: LINESTRING, id_column: id,
        properties: {{ class: text, name: text }} }}
"
    );
    let path = dir.join("martin.yaml");
    std::fs::write(&path, config)?;
    Ok(path)
}

async fn start(server: Server, dir: &Path, database_url: &str, martin: &Path) -> Result<Running> {
    let log = std::fs::File::create(dir.join(format!("{}.log", server.name())))?;
    let child = match server {
        Server::Cuntu => Command::new(std::env::current_exe()?)
            .args(["serve", "--addr", &format!("127.0.0.1:{OURS_PORT}")])
            .env("DATABASE_URL", database_url)
            .env("CUNTU_RATE_LIMITS", "off")
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()?,
        Server::Martin => Command::new(martin)
            .args(["--config"])
            .arg(martin_config(dir, database_url)?)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .with_context(|| format!("starting {}", martin.display()))?,
    };
    let running = Running { child };
    let health = match server {
        Server::Cuntu => "/healthz",
        Server::Martin => "/health",
    };
    let client = reqwest::Client::new();
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(180) {
        if let Ok(r) = client
            .get(format!("{}{health}", server.base()))
            .send()
            .await
        {
            if r.status().is_success() {
                return Ok(running);
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    bail!("{} did not answer within 3 minutes", server.name())
}

const WRK_SCRIPT: &str = r#"
local paths = {}
local counter = 0
local count = 0
local threads = {}
function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end
function init(args)
  for line in io.lines(args[1]) do paths[#paths + 1] = line end
  counter = math.floor(id * #paths / tonumber(args[2]))
  wrk.headers["Accept-Encoding"] = "gzip"
  if args[3] ~= nil and args[3] ~= "" then wrk.headers["Authorization"] = "Bearer " .. args[3] end
end
function request()
  counter = counter + 1
  if counter > #paths then counter = 1 end
  return wrk.format("GET", paths[counter])
end
function done(summary, latency, requests)
  io.write(string.format("RESULT %d %d %f %f %d %d\n", summary.requests, summary.duration,
    latency:percentile(50), latency:percentile(99), summary.errors.status,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
"#;

#[derive(Clone, Copy, Default)]
struct Run {
    tiles_per_s: f64,
    p50_ms: f64,
    p99_ms: f64,
    bad_status: u64,
    socket_errors: u64,
}

fn wrk(
    server: Server,
    dir: &Path,
    list: &Path,
    connections: u32,
    seconds: u64,
    token: &str,
) -> Result<Run> {
    let script = dir.join("tiles.lua");
    std::fs::write(&script, WRK_SCRIPT)?;
    let threads = connections.min(2);
    let mut cmd = Command::new("wrk");
    cmd.args([
        "-t",
        &threads.to_string(),
        "-c",
        &connections.to_string(),
        "-d",
        &format!("{seconds}s"),
        "--timeout",
        "30s",
        "-s",
    ])
    .arg(&script)
    .arg(server.base())
    .arg("--")
    .arg(list)
    .arg(threads.to_string());
    if server == Server::Cuntu {
        cmd.arg(token);
    }
    let out = cmd.output().context("running wrk (apt-get install wrk)")?;
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text
        .lines()
        .find(|l| l.starts_with("RESULT "))
        .with_context(|| {
            format!(
                "wrk printed no result: {text} {}",
                String::from_utf8_lossy(&out.stderr)
            )
        })?;
    let f: Vec<f64> = line
        .split_whitespace()
        .skip(1)
        .map(|v| v.parse().unwrap_or(0.0))
        .collect();
    if f.len() < 6 {
        bail!("unexpected wrk result: {line}");
    }
    Ok(Run {
        tiles_per_s: f[0] / (f[1] / 1e6),
        p50_ms: f[2] / 1000.0,
        p99_ms: f[3] / 1000.0,
        bad_status: f[4] as u64,
        socket_errors: f[5] as u64,
    })
}

/// The box of all townships (west, south, east, north): where the tiles and points go.
async fn county_extent(store: &Store) -> Result<(f64, f64, f64, f64)> {
    sqlx::query_as(
        "SELECT ST_XMin(x), ST_YMin(x), ST_XMax(x), ST_YMax(x) FROM \
         (SELECT ST_Extent(geom)::geometry x FROM areas WHERE kind = 'township') b",
    )
    .fetch_one(store.pool())
    .await
    .context("the county's extent (is the county loaded? `make county`)")
}

/// Every tile z10-z16 over the townships, for each layer, shuffled.
async fn tile_list(
    store: &Store,
    layers: &[String],
    seed: u64,
) -> Result<Vec<(String, TileCoord)>> {
    let (w, s, e, n) = county_extent(store).await?;
    let mut tiles = Vec::new();
    for z in 10..=16 {
        let nw = TileCoord::containing(z, w, n)?;
        let se = TileCoord::containing(z, e, s)?;
        for layer in layers {
            for x in nw.x..=se.x {
                for y in nw.y..=se.y {
                    tiles.push((layer.clone(), TileCoord::new(z, x, y)?));
                }
            }
        }
    }
    tiles.shuffle(&mut ChaCha8Rng::seed_from_u64(seed));
    Ok(tiles)
}

/// A user who may read every household of the county, and an API token of theirs.
async fn bench_token(store: &Store) -> Result<String> {
    let name = "bench-tiles";
    let id = match store.user_by_name(name).await? {
        Some(u) => u.id,
        None => {
            let (password, _) = cuntu_server::auth::new_token();
            let hash = cuntu_server::auth::hash_password(&password).map_err(anyhow::Error::msg)?;
            store
                .create_user(name, "瓦片基准 tile benchmark", &hash)
                .await?
        }
    };
    let townships: Vec<i64> = sqlx::query_scalar("SELECT id FROM areas WHERE kind = 'township'")
        .fetch_all(store.pool())
        .await?;
    for t in townships {
        // Already granted on an earlier run: nothing to do.
        let _ = store.grant_role(id, Role::TownshipAdmin, t, &[]).await;
    }
    let (token, hash) = cuntu_server::auth::new_token();
    store.create_api_token(&hash, id, "bench tiles").await?;
    Ok(token)
}

async fn prewarm(server: Server, paths: &[String], token: &str) -> Result<()> {
    let client = reqwest::Client::new();
    let chunks: Vec<Vec<String>> = paths
        .chunks(paths.len().div_ceil(8).max(1))
        .map(|c| c.to_vec())
        .collect();
    let mut tasks = Vec::new();
    for chunk in chunks {
        let client = client.clone();
        let token = token.to_string();
        tasks.push(tokio::spawn(async move {
            for p in chunk {
                let mut r = client
                    .get(format!("{}{p}", server.base()))
                    .header("accept-encoding", "gzip");
                if server == Server::Cuntu {
                    r = r.bearer_auth(&token);
                }
                r.send().await?.bytes().await?;
            }
            Ok::<(), reqwest::Error>(())
        }));
    }
    for t in tasks {
        t.await??;
    }
    Ok(())
}

/// The position (tile units) of feature `id` in a tile, if it is there.
fn point_in_tile(bytes: Vec<u8>, id: i64) -> Option<(f32, f32)> {
    if bytes.is_empty() {
        return None;
    }
    let reader = mvt_reader::Reader::new(bytes).ok()?;
    let features = reader.get_features(0).ok()?;
    features.into_iter().find_map(|f| {
        let same = f.id == Some(id as u64)
            || f.properties
                .as_ref()
                .and_then(|p| p.get("id"))
                .is_some_and(|v| format!("{v:?}").contains(&format!("({id})")));
        match (&f.geometry, same) {
            (geo::Geometry::Point(p), true) => Some((p.x(), p.y())),
            (geo::Geometry::MultiPoint(mp), true) => mp.0.first().map(|p| (p.x(), p.y())),
            _ => None,
        }
    })
}

async fn fetch_tile(server: Server, path: &str, token: &str) -> Result<Vec<u8>> {
    let mut r = reqwest::Client::new().get(format!("{}{path}", server.base()));
    if server == Server::Cuntu {
        r = r.bearer_auth(token);
    }
    Ok(r.send().await?.bytes().await?.to_vec())
}

/// Moves households through our API and asks each server for the tile right after: how many
/// answers still show the old position.
async fn stale_tiles(
    store: &Store,
    edits: usize,
    token: &str,
    seed: u64,
) -> Result<(usize, usize, usize)> {
    let rows: Vec<(i64, f64, f64)> = sqlx::query_as(
        "SELECT id, ST_X(geom), ST_Y(geom) FROM households WHERE grid_id IS NOT NULL \
         ORDER BY md5(id::text || $1::text) LIMIT $2",
    )
    .bind(seed.to_string())
    .bind(edits as i64)
    .fetch_all(store.pool())
    .await?;
    let client = reqwest::Client::new();
    let (mut ours_stale, mut martin_stale, mut done) = (0, 0, 0);
    for (id, lon, lat) in rows {
        let tile = TileCoord::containing(16, lon, lat)?;
        let b = tile.lonlat_bounds();
        // Within the same tile and grid: 1/16 of the tile to the side, towards the tile's middle.
        let shift = (b.max().x - b.min().x) / 16.0;
        let new_lon = if lon < b.center().x {
            lon + shift
        } else {
            lon - shift
        };
        // Both servers have the tile cached before the edit.
        for server in [Server::Cuntu, Server::Martin] {
            fetch_tile(server, &server.path("households", tile), token).await?;
        }
        let item = format!(
            "{}/ogc/collections/households/items/{id}",
            Server::Cuntu.base()
        );
        let current = client.get(&item).bearer_auth(token).send().await?;
        let etag = current
            .headers()
            .get("etag")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        let moved = client
            .patch(&item)
            .bearer_auth(token)
            .header("if-match", &etag)
            .json(&json!({ "geometry": { "type": "Point", "coordinates": [new_lon, lat] } }))
            .send()
            .await?;
        if !moved.status().is_success() {
            continue;
        }
        done += 1;
        let expected_x = ((new_lon - b.min().x) / (b.max().x - b.min().x) * 4096.0) as f32;
        for server in [Server::Cuntu, Server::Martin] {
            let bytes = fetch_tile(server, &server.path("households", tile), token).await?;
            let fresh =
                point_in_tile(bytes, id).is_some_and(|(x, _)| (x - expected_x).abs() <= 2.0);
            if !fresh {
                match server {
                    Server::Cuntu => ours_stale += 1,
                    Server::Martin => martin_stale += 1,
                }
            }
        }
    }
    Ok((done, ours_stale, martin_stale))
}

/// `/api/locate` for many points against PostGIS, one `ST_Contains` query per point
/// (8 at a time) and, as PostGIS's best case, one set query for all.
async fn locate(store: &Store, points: usize, seed: u64) -> Result<String> {
    let (w, s, e, n) = county_extent(store).await?;
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let pts: Vec<[f64; 2]> = (0..points)
        .map(|_| [rng.gen_range(w..e), rng.gen_range(s..n)])
        .collect();

    let client = reqwest::Client::new();
    let started = Instant::now();
    let mut ours: Vec<Option<i64>> = Vec::with_capacity(points);
    for batch in pts.chunks(10_000) {
        let answer: Value = client
            .post(format!("{}/api/locate", Server::Cuntu.base()))
            .json(&json!({ "points": batch }))
            .send()
            .await?
            .json()
            .await?;
        let chains = answer["chains"].as_array().context("chains")?;
        ours.extend(
            chains
                .iter()
                .map(|c| c.as_array().and_then(|c| c.last()).and_then(Value::as_i64)),
        );
    }
    let ours_s = started.elapsed().as_secs_f64();

    let sql = "SELECT id FROM areas WHERE ST_Contains(geom, ST_SetSRID(ST_Point($1, $2), 4326)) \
               ORDER BY CASE kind WHEN 'township' THEN 0 WHEN 'village' THEN 1 WHEN 'hamlet' THEN 2 \
               WHEN 'grid' THEN 3 ELSE 4 END DESC LIMIT 1";
    let started = Instant::now();
    let mut tasks = Vec::new();
    for chunk in pts.chunks(points.div_ceil(8).max(1)) {
        let chunk = chunk.to_vec();
        let pool = store.pool().clone();
        tasks.push(tokio::spawn(async move {
            let mut found = Vec::with_capacity(chunk.len());
            for [lon, lat] in chunk {
                let id: Option<i64> = sqlx::query_scalar(sql)
                    .bind(lon)
                    .bind(lat)
                    .fetch_optional(&pool)
                    .await?;
                found.push(id);
            }
            Ok::<_, sqlx::Error>(found)
        }));
    }
    let mut per_point: Vec<Option<i64>> = Vec::with_capacity(points);
    for t in tasks {
        per_point.extend(t.await??);
    }
    let per_point_s = started.elapsed().as_secs_f64();

    let (lons, lats): (Vec<f64>, Vec<f64>) = pts.iter().map(|p| (p[0], p[1])).unzip();
    let started = Instant::now();
    let _set: Vec<Option<i64>> = sqlx::query_scalar(&format!(
        "SELECT (SELECT id FROM ({}) d) FROM unnest($1::float8[], $2::float8[]) WITH ORDINALITY p(lon, lat, n) ORDER BY n",
        sql.replace("$1", "p.lon").replace("$2", "p.lat")
    ))
    .bind(&lons)
    .bind(&lats)
    .fetch_all(store.pool())
    .await?;
    let set_s = started.elapsed().as_secs_f64();
    let differ = ours.iter().zip(&per_point).filter(|(a, b)| a != b).count();
    let inside = ours.iter().filter(|a| a.is_some()).count();
    Ok(format!(
        "| `/api/locate`, 10 batches of 10,000 over HTTP | {ours_s:.2} s | {:.0} points/s | 1 |\n\
         | PostGIS `ST_Contains`, one query per point, 8 connections | {per_point_s:.2} s | {:.0} points/s | {:.1}× slower |\n\
         | PostGIS, one set query for all points | {set_s:.2} s | {:.0} points/s | {:.1}× slower |\n\n\
         {points} points in the county's box, {inside} inside an area; the deepest area differs for {differ} \
         (points on a shared edge: ST_Contains counts no side, the R-tree the smaller id).",
        points as f64 / ours_s,
        points as f64 / per_point_s,
        per_point_s / ours_s,
        points as f64 / set_s,
        set_s / ours_s,
    ))
}

pub async fn run(store: &Store, args: &TilesBench) -> Result<()> {
    let database_url = std::env::var("DATABASE_URL")
        .context("set DATABASE_URL to the county's database (`make bench-tiles` does)")?;
    if !args.martin.exists() {
        bail!(
            "no Martin at {} (`make bench-tiles` installs 1.14.0 there)",
            args.martin.display()
        );
    }
    let dir = tempfile::tempdir()?;
    let households: i64 = sqlx::query_scalar("SELECT count(*) FROM households")
        .fetch_one(store.pool())
        .await?;
    let tiles = tile_list(store, &args.layers, args.seed).await?;
    let token = bench_token(store).await?;
    println!(
        "county: {households} households; {} tiles (z10-z16 × {}), shuffled; wrk {} s a run",
        tiles.len(),
        args.layers.join(", "),
        args.seconds
    );
    let warm: Vec<(String, TileCoord)> = tiles.iter().take(args.warm_tiles).cloned().collect();

    let mut table = String::new();
    let mut results: Vec<(Server, &str, u32, Run)> = Vec::new();
    let mut rss = Vec::new();
    for server in [Server::Cuntu, Server::Martin] {
        let cold_list = dir.path().join(format!("cold-{}.txt", server.name()));
        let warm_list = dir.path().join(format!("warm-{}.txt", server.name()));
        let paths: Vec<String> = tiles.iter().map(|(l, t)| server.path(l, *t)).collect();
        std::fs::write(&cold_list, paths.join("\n"))?;
        let warm_paths: Vec<String> = warm.iter().map(|(l, t)| server.path(l, *t)).collect();
        std::fs::write(&warm_list, warm_paths.join("\n"))?;
        for &c in &args.connections {
            let running = start(server, dir.path(), &database_url, &args.martin).await?;
            let cold = wrk(server, dir.path(), &cold_list, c, args.seconds, &token)?;
            prewarm(server, &warm_paths, &token).await?;
            let hot = wrk(server, dir.path(), &warm_list, c, args.seconds, &token)?;
            eprintln!(
                "{} c={c}: cold {:.0} tiles/s, warm {:.0} tiles/s",
                server.name(),
                cold.tiles_per_s,
                hot.tiles_per_s
            );
            results.push((server, "cold", c, cold));
            results.push((server, "warm", c, hot));
            if c == *args.connections.last().unwrap_or(&c) {
                rss.push((server, running.rss_mib()));
            }
        }
    }

    writeln!(table, "| cache | connections | cuntu tiles/s | Martin tiles/s | ratio | cuntu p50 / p99 ms | Martin p50 / p99 ms | p99 ratio | errors (cuntu / Martin) |")?;
    writeln!(table, "|---|---|---|---|---|---|---|---|---|")?;
    for cache in ["cold", "warm"] {
        for &c in &args.connections {
            let find = |s: Server| {
                results
                    .iter()
                    .find(|(srv, k, cc, _)| *srv == s && *k == cache && *cc == c)
                    .map(|r| r.3)
                    .unwrap_or_default()
            };
            let (o, m) = (find(Server::Cuntu), find(Server::Martin));
            writeln!(
                table,
                "| {cache} | {c} | {:.0} | {:.0} | **{:.1}×** | {:.2} / {:.2} | {:.2} / {:.2} | {:.2} | {} / {} |",
                o.tiles_per_s,
                m.tiles_per_s,
                o.tiles_per_s / m.tiles_per_s.max(1e-9),
                o.p50_ms,
                o.p99_ms,
                m.p50_ms,
                m.p99_ms,
                o.p99_ms / m.p99_ms.max(1e-9),
                o.bad_status + o.socket_errors,
                m.bad_status + m.socket_errors,
            )?;
        }
    }
    println!("\n{table}");
    for (server, mib) in &rss {
        match mib {
            Some(m) => println!(
                "resident memory of {} after the runs: {m:.0} MiB",
                server.name()
            ),
            None => println!("resident memory of {}: not readable", server.name()),
        }
    }

    // Stale tiles: both servers up, their caches warm, edits through our API.
    let ours = start(Server::Cuntu, dir.path(), &database_url, &args.martin).await?;
    let martin = start(Server::Martin, dir.path(), &database_url, &args.martin).await?;
    let (done, ours_stale, martin_stale) =
        stale_tiles(store, args.edits, &token, args.seed).await?;
    println!(
        "\nedits: {done} households moved through the API; the very next z16 tile was stale \
         {ours_stale} times from cuntu, {martin_stale} times from Martin"
    );
    println!("\n| locate | time | throughput | vs /api/locate |\n|---|---|---|---|");
    println!("{}", locate(store, args.locate_points, args.seed).await?);
    drop(martin);
    drop(ours);
    Ok(())
}
