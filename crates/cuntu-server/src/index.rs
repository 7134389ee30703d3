//! The R-tree cache of every layer, loaded at start and kept current from LISTEN/NOTIFY.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use cuntu_core::index::{AreaIndex, LayerIndex};
use cuntu_core::layers::LAYERS;
use cuntu_core::tilesource::{Dirty, TileSources};
use cuntu_store::changes::{self, Change};
use cuntu_store::layers::{feature_for_index, FeatureClass, FeatureLayer};
use cuntu_store::tiles::tile_source_feature;
use cuntu_store::{areas, Store, StoreError};
use sqlx::postgres::PgListener;
use tokio::sync::RwLock;

use crate::tilecache::TileCache;

#[derive(Debug, Default)]
pub struct MapIndex {
    pub areas: AreaIndex,
    pub layers: HashMap<FeatureLayer, LayerIndex<FeatureClass>>,
    /// The same layers in Web Mercator with their tile properties, for the tile engine.
    pub tiles: TileSources,
}

impl MapIndex {
    pub async fn load(store: &Store) -> Result<MapIndex, StoreError> {
        let started = std::time::Instant::now();
        let areas = LayerIndex::bulk_load(store.areas_for_index().await?);
        let mut layers = HashMap::new();
        for layer in FeatureLayer::ALL {
            layers.insert(
                layer,
                LayerIndex::bulk_load(store.features_for_index(layer).await?),
            );
        }
        let mut sources = HashMap::new();
        for layer in LAYERS {
            sources.insert(layer.id, store.tile_source(layer).await?);
        }
        let index = MapIndex {
            areas,
            layers,
            tiles: TileSources::load(sources),
        };
        tracing::info!(
            areas = index.areas.len(),
            households = index.count(FeatureLayer::Households),
            elapsed_ms = started.elapsed().as_millis() as u64,
            "R-tree index loaded"
        );
        Ok(index)
    }

    pub fn count(&self, layer: FeatureLayer) -> usize {
        self.layers.get(&layer).map_or(0, |l| l.len())
    }

    /// Applies one committed change, reading the row as it is now; returns the regions whose
    /// tiles it changed.
    async fn apply(&mut self, store: &Store, change: &Change) -> Result<Vec<Dirty>, StoreError> {
        let Some(tile_layer) = LAYERS.iter().find(|l| l.id == change.layer) else {
            return Ok(Vec::new());
        };
        if change.layer == "areas" {
            match areas::area_for_index(store.pool(), change.id).await? {
                Some(area) => self.areas.upsert(area),
                None => {
                    self.areas.remove(change.id);
                }
            }
        } else if let Some(layer) = FeatureLayer::from_id(&change.layer) {
            let feature = feature_for_index(store.pool(), layer, change.id).await?;
            let index = self.layers.entry(layer).or_default();
            match feature {
                Some(f) => index.upsert(f),
                None => {
                    index.remove(change.id);
                }
            }
        }
        let source = tile_source_feature(store.pool(), tile_layer, change.id).await?;
        Ok(self.tiles.apply(tile_layer.id, change.id, source))
    }
}

/// Runs for the life of the server: applies each change; after losing the connection it
/// subscribes again and reloads everything, since changes made meanwhile were not heard.
pub async fn follow_changes(
    store: Store,
    index: Arc<RwLock<MapIndex>>,
    tiles: Arc<TileCache>,
    sync: SyncPoint,
    mut listener: PgListener,
) {
    loop {
        match listener.try_recv().await {
            Ok(Some(notification)) => {
                if let Some(token) = sync.barrier_of(notification.payload()) {
                    sync.reached(token);
                    continue;
                }
                let Some(change) = changes::parse(notification.payload()) else {
                    tracing::warn!("unreadable change notification: {}", notification.payload());
                    continue;
                };
                // Read outside the lock would race with a reload; changes are rare and small.
                // The cache is invalidated before the write lock is released: a tile drawn
                // from the old index can no longer be stored (see TileCache::insert).
                let mut guard = index.write().await;
                match guard.apply(&store, &change).await {
                    Ok(dirty) => tiles.invalidate(&dirty),
                    Err(e) => {
                        tracing::warn!("could not apply change {change:?}: {e}");
                        tiles.clear();
                    }
                }
            }
            Ok(None) | Err(_) => {
                tracing::warn!(
                    "lost the change subscription; resubscribing and reloading the index"
                );
                listener = resubscribe_and_reload(&store, &index, &tiles).await;
            }
        }
    }
}

async fn resubscribe_and_reload(
    store: &Store,
    index: &Arc<RwLock<MapIndex>>,
    tiles: &TileCache,
) -> PgListener {
    loop {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let Ok(listener) = store.listen().await else {
            continue;
        };
        match MapIndex::load(store).await {
            Ok(fresh) => {
                let mut guard = index.write().await;
                *guard = fresh;
                tiles.clear();
                tracing::info!("index reloaded after reconnecting");
                return listener;
            }
            Err(e) => tracing::warn!("reload failed: {e}"),
        }
    }
}

/// Read-your-writes for this process: after a write commits, [`SyncPoint::wait`] returns
/// once this process's listener has heard every change committed before it, so the next
/// request (a tile, a lookup) sees the write. Other processes hear it through the same
/// channel a moment later.
#[derive(Clone)]
pub struct SyncPoint {
    process: u64,
    next: Arc<std::sync::atomic::AtomicU64>,
    reached: Arc<tokio::sync::watch::Sender<u64>>,
}

impl Default for SyncPoint {
    fn default() -> Self {
        SyncPoint {
            process: rand::random(),
            next: Arc::new(std::sync::atomic::AtomicU64::new(1)),
            reached: Arc::new(tokio::sync::watch::channel(0).0),
        }
    }
}

#[derive(serde::Deserialize)]
struct Barrier {
    process: u64,
    barrier: u64,
}

impl SyncPoint {
    fn barrier_of(&self, payload: &str) -> Option<u64> {
        let b: Barrier = serde_json::from_str(payload).ok()?;
        (b.process == self.process).then_some(b.barrier)
    }

    fn reached(&self, token: u64) {
        self.reached.send_if_modified(|v| {
            let newer = token > *v;
            if newer {
                *v = token;
            }
            newer
        });
    }

    /// Waits (at most two seconds) until the changes committed so far have been applied.
    pub async fn wait(&self, store: &Store) {
        let token = self.next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let mut seen = self.reached.subscribe();
        let payload = serde_json::json!({ "process": self.process, "barrier": token }).to_string();
        if let Err(e) = changes::announce(store, &payload).await {
            tracing::warn!("could not send a sync barrier: {e}");
            return;
        }
        let waited = tokio::time::timeout(Duration::from_secs(2), seen.wait_for(|v| *v >= token));
        if waited.await.is_err() {
            tracing::warn!("the change listener did not confirm a write within 2 s");
        }
    }
}

/// After a successful write, answers only once this process's index (and tile cache) has
/// the change: whoever wrote sees it in the next tile or lookup.
pub async fn read_your_writes(
    axum::extract::State(state): axum::extract::State<crate::AppState>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    // A batch lookup is a read sent by POST.
    let writes = !matches!(
        *request.method(),
        axum::http::Method::GET | axum::http::Method::HEAD | axum::http::Method::OPTIONS
    ) && request.uri().path() != "/api/locate";
    let response = next.run(request).await;
    if writes && response.status().is_success() {
        state.sync.wait(&state.store).await;
    }
    response
}
