//! The HTTP face of cuntu: axum routes over the store and the in-memory index.
//!
//! Request → extractors (language; later: who is asking, what scope) → thin handler →
//! core (pure decisions) / store (one transaction) → response. Errors are one type,
//! `ApiError`, turned into HTTP once, with messages in the request's language.

pub mod auth;
mod error;
mod i18n;
pub mod index;
pub mod metrics;
mod routes;
pub mod security;
pub mod tilecache;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use cuntu_store::Store;
use tokio::net::TcpListener;
use tokio::sync::RwLock;

pub use error::ApiError;
pub use i18n::Lang;
pub use index::MapIndex;
pub use routes::grid_layer::proposal_json;

/// The state every handler gets: one allocation shared by all, so that handing it to each
/// request and middleware is a reference count, not a copy of its fields.
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

/// What every handler shares: the store, the R-tree cache, where the web build is, the road
/// network, the tile cache.
pub struct Shared {
    pub store: Store,
    pub index: Arc<RwLock<MapIndex>>,
    pub web_dir: PathBuf,
    /// The walking network for routes, built on first use.
    pub roads: Arc<tokio::sync::OnceCell<Arc<cuntu_core::routing::RoadNetwork>>>,
    /// The time deadlines run on.
    pub clock: Clock,
    /// Drawn tiles, invalidated by edits.
    pub tiles: Arc<tilecache::TileCache>,
    /// Where tiles are drawn from.
    pub tile_engine: TileEngine,
    /// Read-your-writes: a write's response waits until this process's index has it.
    pub sync: index::SyncPoint,
}

/// Where tiles are drawn: from the in-memory layers (the default), or by PostGIS
/// `ST_AsMVT` on every request (`CUNTU_TILE_ENGINE=postgis`, the reference path, uncached).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TileEngine {
    Memory,
    Postgis,
}

impl TileEngine {
    pub fn from_env() -> Self {
        match std::env::var("CUNTU_TILE_ENGINE").as_deref() {
            Ok("postgis") => TileEngine::Postgis,
            _ => TileEngine::Memory,
        }
    }
}

/// Bytes of tiles kept in memory: `CUNTU_TILE_CACHE_MB`, 256 MB unless set.
fn tile_cache_budget() -> usize {
    std::env::var("CUNTU_TILE_CACHE_MB")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(256)
        * 1024
        * 1024
}

/// The time incident deadlines run on: the system clock, moved forward by a test.
#[derive(Debug, Clone, Default)]
pub struct Clock {
    offset_seconds: Arc<std::sync::atomic::AtomicI64>,
}

impl Clock {
    pub fn now(&self) -> chrono::DateTime<chrono::Utc> {
        chrono::Utc::now()
            + chrono::Duration::seconds(
                self.offset_seconds
                    .load(std::sync::atomic::Ordering::Relaxed),
            )
    }

    /// Moves this clock (and every copy of it) forward.
    pub fn advance(&self, by: chrono::Duration) {
        self.offset_seconds
            .fetch_add(by.num_seconds(), std::sync::atomic::Ordering::Relaxed);
    }
}

#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub addr: SocketAddr,
    pub web_dir: PathBuf,
}

/// Builds the state: loads the index from the database (waiting for it if it is not up
/// yet) after subscribing to changes, so that no change falls between the two.
pub async fn prepare(store: Store, web_dir: PathBuf) -> Result<AppState, cuntu_store::StoreError> {
    let listener = wait_for(|| store.listen()).await;
    let index = wait_for(|| MapIndex::load(&store)).await;
    let state = AppState(Arc::new(Shared {
        store: store.clone(),
        index: Arc::new(RwLock::new(index)),
        web_dir,
        roads: Arc::new(tokio::sync::OnceCell::new()),
        clock: Clock::default(),
        tiles: Arc::new(tilecache::TileCache::new(tile_cache_budget())),
        tile_engine: TileEngine::from_env(),
        sync: index::SyncPoint::default(),
    }));
    tokio::spawn(index::follow_changes(
        store.clone(),
        state.index.clone(),
        state.tiles.clone(),
        state.sync.clone(),
        listener,
    ));
    tokio::spawn(routes::notifications::deliver_webhooks(store));
    Ok(state)
}

async fn wait_for<T, F, Fut>(mut attempt: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, cuntu_store::StoreError>>,
{
    let mut warned = false;
    loop {
        match attempt().await {
            Ok(v) => return v,
            Err(e) => {
                if !warned {
                    tracing::warn!("waiting for the database: {e}");
                    warned = true;
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
}

pub fn router(state: AppState) -> axum::Router {
    routes::router(state)
}

/// Serves until the process is stopped. Prints the address once it accepts connections.
pub async fn serve(store: Store, config: ServerConfig) -> std::io::Result<()> {
    if !config.web_dir.join("index.html").exists() {
        tracing::warn!(
            "no web build at {}: run `make web` (the API and tiles work without it)",
            config.web_dir.display()
        );
    }
    let state = prepare(store, config.web_dir.clone())
        .await
        .map_err(std::io::Error::other)?;
    let listener = TcpListener::bind(config.addr).await?;
    println!("cuntu listening on http://{}", listener.local_addr()?);
    axum::serve(
        listener,
        router(state).into_make_service_with_connect_info::<SocketAddr>(),
    )
    .await
}
