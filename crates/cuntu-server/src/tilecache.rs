//! Drawn tiles, compressed once, kept until an edit touches them.
//!
//! Keys are (layer, z, x, y, scope): a personal layer's tile is stored per scope, so no
//! household crosses from one user's map to another's. An edit drops exactly the tiles its
//! old and new extents reach at every cached zoom (see `cuntu_core::tilesource::Dirty`), in
//! every server process, since each applies the same change notifications.
//!
//! Races: the change listener invalidates while it holds the index's write lock, and a tile
//! is drawn under the read lock; the epoch taken at drawing time must still be current when
//! the tile is stored, or it is not stored (it may predate an edit).

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use axum::body::Bytes;
use cuntu_core::layers::LAYERS;
use cuntu_core::tilesource::{tiles_touching, Dirty};
use cuntu_core::TileCoord;
use sha2::{Digest, Sha256};

/// One drawn tile: the MVT bytes and their compressed forms.
#[derive(Debug)]
pub struct CachedTile {
    pub raw: Bytes,
    pub gzip: Bytes,
    brotli: OnceLock<Bytes>,
    pub etag: String,
    /// The ETag as the header it goes out in, made once.
    pub etag_header: axum::http::HeaderValue,
}

impl CachedTile {
    pub fn new(raw: Vec<u8>) -> Self {
        let digest = Sha256::digest(&raw);
        let hex: String = digest[..12].iter().map(|b| format!("{b:02x}")).collect();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        // Writing to memory does not fail; if it ever did, the tile is served uncompressed.
        let gzip = gz
            .write_all(&raw)
            .and_then(|_| gz.finish())
            .unwrap_or_default();
        CachedTile {
            raw: Bytes::from(raw),
            gzip: Bytes::from(gzip),
            brotli: OnceLock::new(),
            etag_header: axum::http::HeaderValue::from_str(&format!("\"{hex}\""))
                .unwrap_or(axum::http::HeaderValue::from_static("\"\"")),
            etag: format!("\"{hex}\""),
        }
    }

    /// Brotli, made on the first request that accepts it and then kept.
    pub fn brotli(&self) -> &Bytes {
        self.brotli.get_or_init(|| {
            let mut out = Vec::new();
            let params = brotli::enc::BrotliEncoderParams {
                quality: 5,
                ..Default::default()
            };
            match brotli::BrotliCompress(&mut &self.raw[..], &mut out, &params) {
                Ok(_) => Bytes::from(out),
                Err(_) => Bytes::new(),
            }
        })
    }

    fn size(&self) -> usize {
        self.raw.len() + self.gzip.len() + self.brotli.get().map_or(0, |b| b.len()) + 64
    }
}

type Position = (u8, u8, u32, u32);

#[derive(Default)]
struct Inner {
    tiles: BTreeMap<Position, HashMap<Arc<str>, Arc<CachedTile>>>,
    /// Insertion order, for eviction when over budget (entries may be gone already).
    order: VecDeque<(Position, Arc<str>)>,
    bytes: usize,
    /// Per layer, which zooms hold any tile: invalidation skips the others.
    zooms: [u32; 8],
}

/// How long a token's household scope is remembered for tiles: a map asks dozens of tiles at
/// once, and each would otherwise look the session up. A logout or a changed role reaches the
/// tiles within this time.
pub const SCOPE_TTL: std::time::Duration = std::time::Duration::from_secs(5);

/// When a token's household roots were looked up, and what they were.
type RememberedScope = (std::time::Instant, Arc<Vec<i64>>);

/// The grids a scope reads, and the epoch they were worked out at.
type ScopeGrids = (u64, Arc<HashSet<i64>>);

pub struct TileCache {
    inner: Mutex<Inner>,
    scopes: Mutex<HashMap<Vec<u8>, RememberedScope>>,
    /// Per scope key, the grids whose households it reads: walking every area up to the roots
    /// was 44 % of drawing a household tile, and the answer only changes with an edit.
    scope_grids: Mutex<HashMap<String, ScopeGrids>>,
    epoch: AtomicU64,
    budget: usize,
    hits: AtomicU64,
    misses: AtomicU64,
}

fn layer_number(layer: &str) -> Option<u8> {
    LAYERS.iter().position(|l| l.id == layer).map(|i| i as u8)
}

impl TileCache {
    /// A cache holding at most `budget` bytes of tiles.
    pub fn new(budget: usize) -> Self {
        TileCache {
            inner: Mutex::new(Inner::default()),
            scopes: Mutex::new(HashMap::new()),
            scope_grids: Mutex::new(HashMap::new()),
            epoch: AtomicU64::new(0),
            budget,
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic while holding the lock leaves a consistent map: keep serving.
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The household roots remembered for a token, if looked up less than [`SCOPE_TTL`] ago.
    pub fn scope_of(&self, token_hash: &[u8]) -> Option<Arc<Vec<i64>>> {
        let scopes = self.scopes.lock().unwrap_or_else(|p| p.into_inner());
        scopes
            .get(token_hash)
            .filter(|(at, _)| at.elapsed() < SCOPE_TTL)
            .map(|(_, roots)| roots.clone())
    }

    pub fn remember_scope(&self, token_hash: Vec<u8>, roots: Arc<Vec<i64>>) {
        let mut scopes = self.scopes.lock().unwrap_or_else(|p| p.into_inner());
        if scopes.len() > 10_000 {
            scopes.retain(|_, (at, _)| at.elapsed() < SCOPE_TTL);
        }
        scopes.insert(token_hash, (std::time::Instant::now(), roots));
    }

    /// The grids of scope `key` at `epoch`: remembered from an earlier tile of the same epoch,
    /// else worked out by `compute` (under the index's read lock, so no edit comes between).
    pub fn scope_grids(
        &self,
        key: &str,
        epoch: u64,
        compute: impl FnOnce() -> HashSet<i64>,
    ) -> Arc<HashSet<i64>> {
        let remembered = {
            let grids = self.scope_grids.lock().unwrap_or_else(|p| p.into_inner());
            grids
                .get(key)
                .filter(|(at, _)| *at == epoch)
                .map(|(_, g)| g.clone())
        };
        if let Some(g) = remembered {
            return g;
        }
        let computed = Arc::new(compute());
        let mut grids = self.scope_grids.lock().unwrap_or_else(|p| p.into_inner());
        if grids.len() > 10_000 {
            grids.retain(|_, (at, _)| *at == epoch);
        }
        grids.insert(key.to_string(), (epoch, computed.clone()));
        computed
    }

    /// The generation of the cache's contents; take it before drawing a tile.
    pub fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::Acquire)
    }

    /// (hits, misses) since start.
    pub fn counts(&self) -> (u64, u64) {
        (
            self.hits.load(Ordering::Relaxed),
            self.misses.load(Ordering::Relaxed),
        )
    }

    pub fn get(&self, layer: &str, tile: TileCoord, scope: &str) -> Option<Arc<CachedTile>> {
        let n = layer_number(layer)?;
        let found = self
            .lock()
            .tiles
            .get(&(n, tile.z as u8, tile.x, tile.y))
            .and_then(|by_scope| by_scope.get(scope).cloned());
        let counter = if found.is_some() {
            &self.hits
        } else {
            &self.misses
        };
        counter.fetch_add(1, Ordering::Relaxed);
        crate::metrics::tile_cache(found.is_some());
        found
    }

    /// Keeps a tile drawn at `epoch`, unless an edit came since. Returns whether it was kept.
    pub fn insert(
        &self,
        layer: &str,
        tile: TileCoord,
        scope: &str,
        drawn: Arc<CachedTile>,
        epoch: u64,
    ) -> bool {
        let Some(n) = layer_number(layer) else {
            return false;
        };
        let mut inner = self.lock();
        if self.epoch() != epoch {
            return false;
        }
        let position = (n, tile.z as u8, tile.x, tile.y);
        let scope: Arc<str> = Arc::from(scope);
        inner.bytes += drawn.size();
        if let Some(old) = inner
            .tiles
            .entry(position)
            .or_default()
            .insert(scope.clone(), drawn)
        {
            inner.bytes -= old.size().min(inner.bytes);
        }
        inner.order.push_back((position, scope));
        if let Some(z) = inner.zooms.get_mut(n as usize) {
            *z |= 1 << tile.z;
        }
        while inner.bytes > self.budget {
            let Some((position, scope)) = inner.order.pop_front() else {
                break;
            };
            let removed = inner
                .tiles
                .get_mut(&position)
                .and_then(|by_scope| by_scope.remove(&scope));
            if let Some(t) = removed {
                inner.bytes -= t.size().min(inner.bytes);
            }
            if inner.tiles.get(&position).is_some_and(|m| m.is_empty()) {
                inner.tiles.remove(&position);
            }
        }
        true
    }

    /// Drops every tile (of every scope) that the dirty regions reach.
    pub fn invalidate(&self, dirty: &[Dirty]) {
        let mut inner = self.lock();
        self.epoch.fetch_add(1, Ordering::AcqRel);
        for d in dirty {
            let Some(n) = layer_number(d.layer) else {
                continue;
            };
            let zooms = inner.zooms.get(n as usize).copied().unwrap_or(0);
            for z in 0..=cuntu_core::tile::MAX_ZOOM {
                if zooms & (1 << z) == 0 {
                    continue;
                }
                let (xs, ys) = tiles_touching(&d.region, z);
                let doomed: Vec<Position> = inner
                    .tiles
                    .range((n, z as u8, *xs.start(), 0)..=(n, z as u8, *xs.end(), u32::MAX))
                    .map(|(p, _)| *p)
                    .filter(|p| ys.contains(&p.3))
                    .collect();
                for p in doomed {
                    if let Some(by_scope) = inner.tiles.remove(&p) {
                        let freed: usize = by_scope.values().map(|t| t.size()).sum();
                        inner.bytes -= freed.min(inner.bytes);
                    }
                }
            }
        }
    }

    /// Drops everything (after a reload, when changes may have been missed).
    pub fn clear(&self) {
        let mut inner = self.lock();
        self.epoch.fetch_add(1, Ordering::AcqRel);
        *inner = Inner::default();
    }

    pub fn len(&self) -> usize {
        self.lock().tiles.values().map(|m| m.len()).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use geo::{coord, Rect};

    fn tile(z: u32, x: u32, y: u32) -> TileCoord {
        TileCoord::new(z, x, y).expect("valid tile")
    }

    #[test]
    fn a_scopes_grids_are_worked_out_once_per_epoch() {
        let cache = TileCache::new(1 << 20);
        let computed = std::cell::Cell::new(0);
        let grids = |cache: &TileCache, key: &str, answer: &[i64]| {
            let epoch = cache.epoch();
            cache.scope_grids(key, epoch, || {
                computed.set(computed.get() + 1);
                answer.iter().copied().collect()
            })
        };
        assert_eq!(*grids(&cache, "1", &[11, 12]), HashSet::from([11, 12]));
        assert_eq!(*grids(&cache, "1", &[99]), HashSet::from([11, 12]));
        assert_eq!(*grids(&cache, "2", &[21]), HashSet::from([21]));
        // An edit (here: a grid gained) starts a new epoch: worked out again.
        cache.clear();
        assert_eq!(
            *grids(&cache, "1", &[11, 12, 13]),
            HashSet::from([11, 12, 13])
        );
        assert_eq!(computed.get(), 3);
    }

    #[test]
    fn an_edit_drops_the_tiles_it_touches_and_keeps_the_others() {
        let cache = TileCache::new(1 << 20);
        let near = tile(14, 8625, 5762);
        let far = tile(14, 8700, 5762);
        for (t, scope) in [(near, ""), (far, ""), (near, "7")] {
            let e = cache.epoch();
            assert!(cache.insert(
                "roads",
                t,
                scope,
                Arc::new(CachedTile::new(vec![1, 2, 3])),
                e
            ));
        }
        let b = near.mercator_bounds();
        let p = coord! { x: b.center().x, y: b.center().y };
        cache.invalidate(&[Dirty {
            layer: "roads",
            region: Rect::new(p, p),
        }]);
        assert!(cache.get("roads", near, "").is_none());
        assert!(cache.get("roads", near, "7").is_none(), "every scope");
        assert!(cache.get("roads", far, "").is_some());
    }

    #[test]
    fn a_tile_drawn_before_an_edit_is_not_kept() {
        let cache = TileCache::new(1 << 20);
        let t = tile(12, 2150, 1440);
        let drawn_at = cache.epoch();
        cache.invalidate(&[]);
        assert!(!cache.insert("areas", t, "", Arc::new(CachedTile::new(vec![9])), drawn_at));
        assert!(cache.get("areas", t, "").is_none());
    }

    #[test]
    fn scopes_do_not_share_tiles() {
        let cache = TileCache::new(1 << 20);
        let t = tile(16, 34500, 23050);
        let e = cache.epoch();
        cache.insert("households", t, "1", Arc::new(CachedTile::new(vec![1])), e);
        assert!(cache.get("households", t, "2").is_none());
        assert!(cache.get("households", t, "1").is_some());
    }

    #[test]
    fn the_budget_evicts_the_oldest() {
        let one = CachedTile::new(vec![0; 1000]).size();
        let cache = TileCache::new(one * 2 + 10);
        for x in 0..3 {
            let e = cache.epoch();
            cache.insert(
                "roads",
                tile(10, x, 0),
                "",
                Arc::new(CachedTile::new(vec![0; 1000])),
                e,
            );
        }
        assert_eq!(cache.len(), 2);
        assert!(cache.get("roads", tile(10, 0, 0), "").is_none());
    }

    #[test]
    fn compressed_forms_decompress_to_the_tile() {
        use std::io::Read;
        let raw: Vec<u8> = (0..5000u32).map(|i| (i % 7) as u8).collect();
        let t = CachedTile::new(raw.clone());
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(&t.gzip[..])
            .read_to_end(&mut out)
            .expect("gunzip");
        assert_eq!(out, raw);
        let mut out = Vec::new();
        brotli::BrotliDecompress(&mut &t.brotli()[..], &mut out).expect("brotli");
        assert_eq!(out, raw);
    }
}
