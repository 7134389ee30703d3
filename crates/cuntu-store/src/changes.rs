//! Changes committed by any process, heard through LISTEN/NOTIFY on `cuntu_changes`.

use serde::Deserialize;
use sqlx::postgres::PgListener;

use crate::{Store, StoreError};

pub const CHANNEL: &str = "cuntu_changes";

/// One row changed in one layer (the payload of `notify_layer_change()`).
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct Change {
    pub layer: String,
    pub op: String,
    pub id: i64,
}

impl Store {
    /// A listener on the change channel. It reconnects by itself after the database has been
    /// away; notifications sent meanwhile are lost, so the caller should reload on reconnect.
    pub async fn listen(&self) -> Result<PgListener, StoreError> {
        let mut listener = PgListener::connect_with(self.pool()).await?;
        listener.listen(CHANNEL).await?;
        Ok(listener)
    }
}

/// Sends a payload on the change channel (after everything this connection committed).
pub async fn announce(store: &Store, payload: &str) -> Result<(), StoreError> {
    sqlx::query("SELECT pg_notify($1, $2)")
        .bind(CHANNEL)
        .bind(payload)
        .execute(store.pool())
        .await?;
    Ok(())
}

pub fn parse(payload: &str) -> Option<Change> {
    serde_json::from_str(payload).ok()
}
