//! The audit log: every write and every read of personal detail.

use serde::Serialize;
use sqlx::FromRow;

use crate::{Store, StoreError};

/// One thing that happened, as the caller describes it.
#[derive(Debug, Clone, Default)]
pub struct AuditEntry<'a> {
    pub user_id: Option<i64>,
    pub username: Option<&'a str>,
    pub action: &'a str,
    pub target: Option<String>,
    pub detail: serde_json::Value,
    pub remote_addr: Option<String>,
}

#[derive(Debug, Clone, Serialize, FromRow)]
pub struct AuditRecord {
    pub id: i64,
    pub at: chrono::DateTime<chrono::Utc>,
    pub user_id: Option<i64>,
    pub username: Option<String>,
    pub action: String,
    pub target: Option<String>,
    pub detail: serde_json::Value,
    pub remote_addr: Option<String>,
}

impl Store {
    pub async fn audit(&self, entry: AuditEntry<'_>) -> Result<(), StoreError> {
        let detail = if entry.detail.is_null() {
            serde_json::json!({})
        } else {
            entry.detail
        };
        sqlx::query(
            "INSERT INTO audit_log (user_id, username, action, target, detail, remote_addr) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(entry.user_id)
        .bind(entry.username)
        .bind(entry.action)
        .bind(entry.target)
        .bind(sqlx::types::Json(detail))
        .bind(entry.remote_addr)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Newest first; `before` pages backwards by id.
    pub async fn audit_page(
        &self,
        before: Option<i64>,
        limit: i64,
    ) -> Result<Vec<AuditRecord>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT id, at, user_id, username, action, target, detail, remote_addr FROM audit_log \
             WHERE ($1::bigint IS NULL OR id < $1) ORDER BY id DESC LIMIT $2",
        )
        .bind(before)
        .bind(limit)
        .fetch_all(self.pool())
        .await?)
    }
}
