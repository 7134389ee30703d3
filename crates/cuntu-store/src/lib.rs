//! PostGIS is the source of truth: this crate is the only one that speaks SQL.
//!
//! Every write is one transaction; geometry crosses the boundary as WKB, decoded into `geo`
//! types with geozero. `cluster` starts the private PostgreSQL the product runs on when no
//! `DATABASE_URL` is given, and `testing` the throwaway one the tests use.

pub mod area_import;
pub mod areas;
pub mod audit;
pub mod changes;
pub mod cluster;
pub mod county;
pub mod demo;
mod error;
pub mod grid_edits;
pub mod grid_layer;
pub mod households;
pub mod import;
pub mod incidents;
pub mod layers;
pub mod notifications;
pub mod ogc;
pub mod ops;
pub mod proposals;
pub mod risk;
pub mod testing;
pub mod tiles;
pub mod users;
pub mod visits;
mod wkb;

use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::PgPool;

pub use error::StoreError;

/// The migrations in `migrations/` at the top of the workspace, embedded at compile time.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations");

/// A handle on the database; cheap to clone (it is a connection pool).
#[derive(Clone, Debug)]
pub struct Store {
    pool: PgPool,
}

impl Store {
    /// Connects lazily: the server starts even when the database is down, answers 503 while
    /// it is, and recovers by itself when it is back.
    pub fn connect_lazy(url: &str) -> Result<Self, StoreError> {
        let options: PgConnectOptions = url
            .parse()
            .map_err(|e: sqlx::Error| StoreError::Config(format!("DATABASE_URL: {e}")))?;
        let pool = PgPoolOptions::new()
            .max_connections(16)
            .acquire_timeout(Duration::from_secs(3))
            .connect_lazy_with(options.application_name("cuntu"));
        Ok(Store { pool })
    }

    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let store = Self::connect_lazy(url)?;
        store.ping().await?;
        Ok(store)
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    pub async fn migrate(&self) -> Result<(), StoreError> {
        MIGRATOR
            .run(&self.pool)
            .await
            .map_err(|e| StoreError::Migrate(e.to_string()))
    }

    /// Round trip to the database; what `/healthz` reports.
    pub async fn ping(&self) -> Result<DatabaseHealth, StoreError> {
        let (postgres, postgis): (String, Option<String>) = sqlx::query_as(
            "SELECT current_setting('server_version'), \
             (SELECT extversion FROM pg_extension WHERE extname = 'postgis')",
        )
        .fetch_one(&self.pool)
        .await?;
        Ok(DatabaseHealth { postgres, postgis })
    }
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct DatabaseHealth {
    pub postgres: String,
    pub postgis: Option<String>,
}
