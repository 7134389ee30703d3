//! The R-tree cache of every layer, loaded at start and kept current from LISTEN/NOTIFY.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use cuntu_core::index::{AreaIndex, LayerIndex};
use cuntu_store::changes::{self, Change};
use cuntu_store::layers::{feature_for_index, FeatureClass, FeatureLayer};
use cuntu_store::{areas, Store, StoreError};
use sqlx::postgres::PgListener;
use tokio::sync::RwLock;

#[derive(Debug, Default)]
pub struct MapIndex {
    pub areas: AreaIndex,
    pub layers: HashMap<FeatureLayer, LayerIndex<FeatureClass>>,
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
        let index = MapIndex { areas, layers };
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

    /// Applies one committed change, reading the row as it is now.
    async fn apply(&mut self, store: &Store, change: &Change) -> Result<(), StoreError> {
        if change.layer == "areas" {
            match areas::area_for_index(store.pool(), change.id).await? {
                Some(area) => self.areas.upsert(area),
                None => {
                    self.areas.remove(change.id);
                }
            }
            return Ok(());
        }
        let Some(layer) = FeatureLayer::from_id(&change.layer) else {
            return Ok(());
        };
        let feature = feature_for_index(store.pool(), layer, change.id).await?;
        let index = self.layers.entry(layer).or_default();
        match feature {
            Some(f) => index.upsert(f),
            None => {
                index.remove(change.id);
            }
        }
        Ok(())
    }
}

/// Runs for the life of the server: applies each change; after losing the connection it
/// subscribes again and reloads everything, since changes made meanwhile were not heard.
pub async fn follow_changes(store: Store, index: Arc<RwLock<MapIndex>>, mut listener: PgListener) {
    loop {
        match listener.try_recv().await {
            Ok(Some(notification)) => {
                let Some(change) = changes::parse(notification.payload()) else {
                    tracing::warn!("unreadable change notification: {}", notification.payload());
                    continue;
                };
                // Read outside the lock would race with a reload; changes are rare and small.
                let mut guard = index.write().await;
                if let Err(e) = guard.apply(&store, &change).await {
                    tracing::warn!("could not apply change {change:?}: {e}");
                }
            }
            Ok(None) | Err(_) => {
                tracing::warn!(
                    "lost the change subscription; resubscribing and reloading the index"
                );
                listener = resubscribe_and_reload(&store, &index).await;
            }
        }
    }
}

async fn resubscribe_and_reload(store: &Store, index: &Arc<RwLock<MapIndex>>) -> PgListener {
    loop {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let Ok(listener) = store.listen().await else {
            continue;
        };
        match MapIndex::load(store).await {
            Ok(fresh) => {
                *index.write().await = fresh;
                tracing::info!("index reloaded after reconnecting");
                return listener;
            }
            Err(e) => tracing::warn!("reload failed: {e}"),
        }
    }
}
