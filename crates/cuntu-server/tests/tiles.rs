//! The memory tile engine against PostGIS `ST_AsMVT` on the demo township, and the tile
//! cache against edits: same features, same properties, geometry within one tile unit;
//! an edit visible in the very next tile, in this process and in another one.

mod common;

use std::collections::{BTreeMap, HashSet};

use common::{client, eventually, load_demo, login, start_server};
use cuntu_core::layers::{self, LAYERS};
use cuntu_core::tilesource::{Visibility, CLUSTER_BELOW_ZOOM};
use cuntu_core::TileCoord;
use cuntu_server::MapIndex;
use cuntu_store::testing::TestDatabase;
use cuntu_store::tiles::TileScope;
use geo::{Coord, Distance, Euclidean, Geometry, Line, Point};
use reqwest::StatusCode;
use serde_json::json;

type Props = BTreeMap<String, String>;

struct Decoded {
    geometry: Geometry<f32>,
    props: Props,
}

fn decode(bytes: Vec<u8>) -> BTreeMap<u64, Decoded> {
    if bytes.is_empty() {
        return BTreeMap::new();
    }
    let reader = mvt_reader::Reader::new(bytes).expect("a valid MVT");
    reader
        .get_features(0)
        .expect("one layer")
        .into_iter()
        .map(|f| {
            let props = f
                .properties
                .unwrap_or_default()
                .into_iter()
                .map(|(k, v)| {
                    let v = match v {
                        mvt_reader::feature::Value::String(s) => s,
                        mvt_reader::feature::Value::Int(i) => i.to_string(),
                        mvt_reader::feature::Value::UInt(u) => u.to_string(),
                        mvt_reader::feature::Value::SInt(s) => s.to_string(),
                        other => format!("{other:?}"),
                    };
                    (k, v)
                })
                .collect();
            (
                f.id.expect("every feature has an id"),
                Decoded {
                    geometry: f.geometry,
                    props,
                },
            )
        })
        .collect()
}

/// The vertices and segments of a geometry (rings as their boundary).
fn parts(g: &Geometry<f32>) -> (Vec<Coord<f64>>, Vec<Line<f64>>) {
    let mut vertices = Vec::new();
    let mut segments = Vec::new();
    let mut line = |coords: &[geo::Coord<f32>]| {
        let c: Vec<Coord<f64>> = coords
            .iter()
            .map(|c| Coord {
                x: f64::from(c.x),
                y: f64::from(c.y),
            })
            .collect();
        for w in c.windows(2) {
            segments.push(Line::new(w[0], w[1]));
        }
        vertices.extend(c);
    };
    match g {
        Geometry::Point(p) => line(&[p.0]),
        Geometry::MultiPoint(mp) => mp.0.iter().for_each(|p| line(&[p.0])),
        Geometry::LineString(ls) => line(&ls.0),
        Geometry::MultiLineString(mls) => mls.0.iter().for_each(|ls| line(&ls.0)),
        Geometry::Polygon(p) => {
            line(&p.exterior().0);
            p.interiors().iter().for_each(|r| line(&r.0));
        }
        Geometry::MultiPolygon(mp) => mp.0.iter().for_each(|p| {
            line(&p.exterior().0);
            p.interiors().iter().for_each(|r| line(&r.0));
        }),
        other => panic!("unexpected geometry {other:?}"),
    }
    (vertices, segments)
}

/// The distance of every vertex of each geometry inside the visible tile to the other
/// geometry, in tile units: measured against segments, so that a vertex one side keeps on a
/// straight edge the other side dropped costs nothing. The largest is the Hausdorff distance
/// over what is drawn. Vertices in the buffer are left out: clipping there differs between
/// implementations (lines running along the clip edge) and nothing of it is visible.
fn distances(a: &Geometry<f32>, b: &Geometry<f32>) -> Vec<f64> {
    let one_way = |from: &Geometry<f32>, to: &Geometry<f32>| {
        let (vertices, _) = parts(from);
        let (to_vertices, to_segments) = parts(to);
        vertices
            .iter()
            .filter(|v| (0.0..=4096.0).contains(&v.x) && (0.0..=4096.0).contains(&v.y))
            .map(|v| {
                let p = Point(*v);
                let to_segment = to_segments
                    .iter()
                    .map(|s| Euclidean.distance(&p, s))
                    .fold(f64::INFINITY, f64::min);
                let to_vertex = to_vertices
                    .iter()
                    .map(|c| Euclidean.distance(&p, &Point(*c)))
                    .fold(f64::INFINITY, f64::min);
                to_segment.min(to_vertex)
            })
            .collect::<Vec<f64>>()
    };
    let mut all = one_way(a, b);
    all.extend(one_way(b, a));
    all
}

/// The extent of a geometry in tile units (its larger side).
fn size(g: &Geometry<f32>) -> f64 {
    let (v, _) = parts(g);
    let span = |f: fn(&Coord<f64>) -> f64| {
        let (lo, hi) = v
            .iter()
            .map(f)
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), x| {
                (lo.min(x), hi.max(x))
            });
        hi - lo
    };
    span(|c| c.x).max(span(|c| c.y))
}

#[tokio::test(flavor = "multi_thread")]
async fn memory_tiles_equal_postgis_st_asmvt_on_the_demo() {
    let db = TestDatabase::new().await.unwrap();
    load_demo(&db.store).await;
    let index = MapIndex::load(&db.store).await.unwrap();
    let townships: Vec<i64> =
        sqlx::query_scalar("SELECT id FROM areas WHERE kind = 'township' ORDER BY id")
            .fetch_all(db.store.pool())
            .await
            .unwrap();
    let grids: HashSet<i64> = sqlx::query_scalar(
        "WITH RECURSIVE s(id) AS (SELECT unnest($1::bigint[]) \
         UNION SELECT a.id FROM areas a JOIN s ON a.parent_id = s.id) SELECT id FROM s",
    )
    .bind(&townships)
    .fetch_all(db.store.pool())
    .await
    .unwrap()
    .into_iter()
    .collect();

    // Tiles over a spread of each layer's features, at every zoom the map uses.
    let mut sample: Vec<(&str, TileCoord)> = Vec::new();
    for layer in LAYERS {
        let table = layer.id;
        let points: Vec<(f64, f64)> = sqlx::query_as(&format!(
            "SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_PointOnSurface(geom) p, \
             row_number() OVER (ORDER BY id) n FROM {table}) s WHERE n % 97 = 1 LIMIT 12"
        ))
        .fetch_all(db.store.pool())
        .await
        .unwrap();
        for (lon, lat) in points {
            for z in [10, 12, 13, 14, 15, 16] {
                sample.push((layer.id, TileCoord::containing(z, lon, lat).unwrap()));
            }
        }
    }
    sample.sort_by_key(|(l, t)| (l.to_string(), t.z, t.x, t.y));
    sample.dedup();

    let scope = TileScope {
        household_roots: &townships,
    };
    let (mut tiles, mut features, mut worst) = (0, 0, 0.0f64);
    let (mut vertices, mut beyond_one) = (0usize, 0usize);
    let mut collapsed = 0;
    for (layer_id, tile) in &sample {
        let layer = layers::layer(layer_id).unwrap();
        let visible = if *layer_id == "households" {
            Visibility::Grids(&grids)
        } else {
            Visibility::All
        };
        let ours = decode(index.tiles.render(layer, *tile, visible));
        let reference = decode(db.store.tile(layer, *tile, scope).await.unwrap());
        let here = format!("{layer_id} {}/{}/{}", tile.z, tile.x, tile.y);
        for (id, r) in &reference {
            match ours.get(id) {
                Some(o) => {
                    assert_eq!(o.props, r.props, "{here} feature {id}: properties");
                    let d = distances(&o.geometry, &r.geometry);
                    let far = d.iter().filter(|d| **d > 1.0).count();
                    let most = d.iter().cloned().fold(0.0, f64::max);
                    // Both sides drop vertices within half a unit of the previous one, then
                    // snap: where one drops a vertex the other kept, the two outlines can
                    // part by up to 1.5 units at that vertex.
                    if most > 1.5 {
                        for (name, a, b) in [
                            ("ours", &o.geometry, &r.geometry),
                            ("ref", &r.geometry, &o.geometry),
                        ] {
                            let (av, _) = parts(a);
                            let (_, bs) = parts(b);
                            for (i, v) in av.iter().enumerate() {
                                let d = bs
                                    .iter()
                                    .map(|s| Euclidean.distance(&Point(*v), s))
                                    .fold(f64::INFINITY, f64::min);
                                if d > 1.0 {
                                    eprintln!(
                                        "DBG {name} vertex {i} {v:?} off by {d}; around {:?}",
                                        &av[i.saturating_sub(3)..(i + 4).min(av.len())]
                                    );
                                }
                            }
                        }
                    }
                    assert!(most <= 1.5, "{here} feature {id}: {most} tile units apart");
                    worst = worst.max(most);
                    vertices += d.len();
                    beyond_one += far;
                    features += 1;
                }
                // A part smaller than a unit may collapse on one side and not the other.
                None if size(&r.geometry) <= 2.0 => collapsed += 1,
                None => panic!("{here}: feature {id} only in PostGIS's tile"),
            }
        }
        for (id, o) in &ours {
            if !reference.contains_key(id) {
                assert!(
                    size(&o.geometry) <= 2.0,
                    "{here}: feature {id} only in the memory engine's tile: {:?}",
                    o.geometry
                );
                collapsed += 1;
            }
        }
        if !reference.is_empty() {
            tiles += 1;
        }
    }
    println!(
        "{tiles} tiles, {features} features equal; worst distance {worst:.2} units; \
         {beyond_one} of {vertices} vertices more than 1 unit from the other outline; \
         {collapsed} sub-unit features on one side only"
    );
    assert!(
        beyond_one * 1000 <= vertices,
        "vertices more than a unit apart stay under 0.1 %: {beyond_one} of {vertices}"
    );
    assert!(tiles > 100, "the sample reaches most layers and zooms");
    assert!(
        collapsed * 100 <= features,
        "collapsed parts stay rare: {collapsed}"
    );

    // Below the cluster zoom, households come one point per grid with its count.
    let (lon, lat): (f64, f64) = sqlx::query_as(
        "SELECT ST_X(geom), ST_Y(geom) FROM households WHERE grid_id IS NOT NULL ORDER BY id LIMIT 1",
    )
    .fetch_one(db.store.pool())
    .await
    .unwrap();
    let tile = TileCoord::containing(CLUSTER_BELOW_ZOOM - 1, lon, lat).unwrap();
    let clusters = decode(index.tiles.render(
        layers::layer("households").unwrap(),
        tile,
        Visibility::Grids(&grids),
    ));
    assert!(!clusters.is_empty());
    for (grid, c) in &clusters {
        let counted: i64 = sqlx::query_scalar("SELECT count(*) FROM households WHERE grid_id = $1")
            .bind(*grid as i64)
            .fetch_one(db.store.pool())
            .await
            .unwrap();
        assert_eq!(c.props["count"], counted.to_string(), "grid {grid}");
    }
}

async fn tile_ids(base: &str, path: &str, cookie: &str) -> (StatusCode, Vec<u64>, Option<String>) {
    let r = client()
        .get(format!("{base}{path}"))
        .header("cookie", cookie)
        .header("accept-encoding", "gzip")
        .send()
        .await
        .unwrap();
    let status = r.status();
    let encoding = r
        .headers()
        .get("content-encoding")
        .map(|v| v.to_str().unwrap().to_string());
    // reqwest here does not decompress by itself: gunzip by hand.
    let body = r.bytes().await.unwrap().to_vec();
    let raw = if encoding.as_deref() == Some("gzip") {
        use std::io::Read;
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(&body[..])
            .read_to_end(&mut out)
            .unwrap();
        out
    } else {
        body
    };
    (status, decode(raw).into_keys().collect(), encoding)
}

/// An edit shows in the next tile of the server that took it, and within a second in the
/// tiles of a second server on the same database; tiles elsewhere stay cached.
#[tokio::test(flavor = "multi_thread")]
async fn edits_reach_cached_tiles_at_once_in_every_process() {
    let db = TestDatabase::new().await.unwrap();
    load_demo(&db.store).await;
    let one = start_server(db.store.clone()).await;
    let two = start_server(db.store.clone()).await;
    let password = "a-long-test-password";
    let township: i64 = sqlx::query_scalar("SELECT id FROM areas WHERE code = '130111103'")
        .fetch_one(db.store.pool())
        .await
        .unwrap();
    common::add_user(
        &db.store,
        "tileadmin",
        password,
        cuntu_core::auth::Role::TownshipAdmin,
        township,
        &[],
    )
    .await;
    let cookie = login(&one, "tileadmin", password).await.unwrap();

    // A household of the admin's township, and its z16 tile, drawn once on each server.
    let (id, lon, lat, version): (i64, f64, f64, i32) = sqlx::query_as(
        "SELECT h.id, ST_X(h.geom), ST_Y(h.geom), h.version FROM households h \
         JOIN areas g ON g.id = h.grid_id JOIN areas v ON v.id = g.parent_id \
         WHERE v.code LIKE '130111103%' ORDER BY h.id LIMIT 1",
    )
    .fetch_one(db.store.pool())
    .await
    .unwrap();
    let here = TileCoord::containing(16, lon, lat).unwrap();
    // Another household of the township, in another tile: the move goes next to it, inside
    // a grid.
    let (there_lon, there_lat): (f64, f64) = sqlx::query_as(
        "SELECT ST_X(h.geom) + 0.00001, ST_Y(h.geom) FROM households h \
         JOIN areas g ON g.id = h.grid_id JOIN areas v ON v.id = g.parent_id \
         WHERE v.code LIKE '130111103%' AND ST_Distance(h.geom, ST_SetSRID(ST_Point($1, $2), 4326)) > 0.02 \
         ORDER BY h.id LIMIT 1",
    )
    .bind(lon)
    .bind(lat)
    .fetch_one(db.store.pool())
    .await
    .unwrap();
    let there = TileCoord::containing(16, there_lon, there_lat).unwrap();
    let path = |t: TileCoord| format!("/tiles/households/{}/{}/{}", t.z, t.x, t.y);
    for base in [&one, &two] {
        let (status, ids, encoding) = tile_ids(base, &path(here), &cookie).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(
            encoding.as_deref(),
            Some("gzip"),
            "compressed once, sent gzipped"
        );
        assert!(ids.contains(&(id as u64)));
        tile_ids(base, &path(there), &cookie).await;
    }

    // Move it through the API of server one (OGC API - Features Part 4).
    let moved = client()
        .patch(format!("{one}/ogc/collections/households/items/{id}"))
        .header("cookie", &cookie)
        .header("if-match", format!("\"{version}\""))
        .json(&json!({
            "geometry": { "type": "Point", "coordinates": [there_lon, there_lat] },
        }))
        .send()
        .await
        .unwrap();
    assert!(
        moved.status().is_success(),
        "move: {} {}",
        moved.status(),
        moved.text().await.unwrap()
    );

    // A move to where no grid is gets a 4xx naming the rule, and changes nothing.
    let nowhere = client()
        .patch(format!("{one}/ogc/collections/households/items/{id}"))
        .header("cookie", &cookie)
        .header("accept-language", "en")
        .header("if-match", format!("\"{}\"", version + 1))
        .json(&json!({ "geometry": { "type": "Point", "coordinates": [100.0, 30.0] } }))
        .send()
        .await
        .unwrap();
    assert!(nowhere.status().is_client_error(), "{}", nowhere.status());
    assert!(nowhere.text().await.unwrap().contains("no grid"));

    // Server one: the very next requests, no waiting.
    let (_, old_tile, _) = tile_ids(&one, &path(here), &cookie).await;
    let (_, new_tile, _) = tile_ids(&one, &path(there), &cookie).await;
    assert!(
        !old_tile.contains(&(id as u64)),
        "stale tile at the old place"
    );
    assert!(
        new_tile.contains(&(id as u64)),
        "stale tile at the new place"
    );

    // Server two hears it through LISTEN/NOTIFY.
    assert!(
        eventually(|| async {
            let (_, ids, _) = tile_ids(&two, &path(there), &cookie).await;
            ids.contains(&(id as u64))
        })
        .await,
        "the second server's tile shows the move"
    );
    let (_, old_two, _) = tile_ids(&two, &path(here), &cookie).await;
    assert!(!old_two.contains(&(id as u64)));

    // ETag and 304 still hold on cached tiles.
    let first = client()
        .get(format!("{one}{}", path(there)))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    let etag = first.headers()["etag"].to_str().unwrap().to_string();
    let again = client()
        .get(format!("{one}{}", path(there)))
        .header("cookie", &cookie)
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
}

/// Tiles skip the general middleware stack for one lean layer; what a client relies on from
/// that stack must still be there.
#[tokio::test(flavor = "multi_thread")]
async fn tiles_keep_security_headers_request_ids_languages_and_metrics_on_their_lean_path() {
    let db = TestDatabase::new().await.unwrap();
    load_demo(&db.store).await;
    let base = start_server(db.store.clone()).await;
    let (lon, lat): (f64, f64) = sqlx::query_as(
        "SELECT ST_X(c), ST_Y(c) FROM (SELECT ST_PointOnSurface(geom) c FROM areas \
         WHERE kind = 'township' LIMIT 1) s",
    )
    .fetch_one(db.store.pool())
    .await
    .unwrap();
    let t = TileCoord::containing(12, lon, lat).unwrap();
    let url = format!("{base}/tiles/areas/12/{}/{}", t.x, t.y);

    let r = client()
        .get(&url)
        .header("accept-encoding", "gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let h = r.headers();
    assert!(h["content-security-policy"]
        .to_str()
        .unwrap()
        .contains("default-src 'self'"));
    assert_eq!(h["x-content-type-options"], "nosniff");
    assert_eq!(h["x-frame-options"], "DENY");
    assert_eq!(h["content-encoding"], "gzip");
    let first = h["x-request-id"].to_str().unwrap().to_string();
    assert_eq!(first.len(), 36, "{first}");
    let again = client().get(&url).send().await.unwrap();
    assert_ne!(again.headers()["x-request-id"].to_str().unwrap(), first);
    // A proxy's own id is echoed; a junk one is replaced.
    let echoed = client()
        .get(&url)
        .header("x-request-id", "edge-42")
        .send()
        .await
        .unwrap();
    assert_eq!(echoed.headers()["x-request-id"], "edge-42");
    let junk = client()
        .get(&url)
        .header("x-request-id", "a b\tc")
        .send()
        .await
        .unwrap();
    assert_eq!(junk.headers()["x-request-id"].len(), 36);

    // A bad tile address: 400 with the reason in the asked language.
    let bad = format!("{base}/tiles/areas/12/99999/0");
    for (lang, words) in [("en", "tile"), ("zh-CN", "瓦片")] {
        let r = client()
            .get(&bad)
            .header("accept-language", lang)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);
        let body = r.text().await.unwrap();
        assert!(body.contains(words), "{lang}: {body}");
    }

    // Counted under the route's template, like every other route.
    let metrics = client()
        .get(format!("{base}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let count = |status: &str| -> f64 {
        let series = format!(
            "cuntu_http_requests_total{{method=\"GET\",route=\"/tiles/{{layer}}/{{z}}/{{x}}/{{y}}\",status=\"{status}\"}} "
        );
        metrics
            .lines()
            .find_map(|l| l.strip_prefix(&series))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or_else(|| panic!("no {series} in {metrics}"))
    };
    // Other tests of this binary ask for tiles in the same process (one recorder): at least.
    assert!(count("2xx") >= 4.0);
    assert!(count("4xx") >= 2.0);
}
