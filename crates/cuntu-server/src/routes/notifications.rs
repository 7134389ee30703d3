//! The caller's notifications (incidents reaching their inbox, overdue ones), and a
//! township's webhook for outside systems, delivered from an outbox with retries and an
//! HMAC-SHA256 signature of the body in `X-Cuntu-Signature`.

use std::time::Duration;

use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::routing::{get, post};
use axum::{Json, Router};
use cuntu_core::auth::Role;
use cuntu_store::Store;
use hmac::{Hmac, Mac};
use serde::Deserialize;
use serde_json::{json, Value};
use sha2::Sha256;

use crate::auth::Viewer;
use crate::error::ApiError;
use crate::i18n::Lang;
use crate::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/notifications", get(list))
        .route("/api/notifications/read", post(read_all))
        .route("/api/notifications/{id}/read", post(read_one))
        .route(
            "/api/townships/{id}/webhook",
            get(webhook).put(set_webhook).delete(delete_webhook),
        )
}

async fn list(
    State(state): State<AppState>,
    viewer: Viewer,
    lang: Lang,
) -> Result<Json<Value>, ApiError> {
    let account = viewer.require()?;
    let rows = state.store.notifications_of(account.id, 100).await?;
    let unread = rows.iter().filter(|r| r.read_at.is_none()).count();
    let items: Vec<Value> = rows
        .iter()
        .map(|r| {
            json!({
                "id": r.id,
                "incident": r.incident_id,
                "kind": r.kind,
                "message": lang.pick(r.message_zh.clone(), r.message_en.clone()),
                "created_at": r.created_at,
                "read": r.read_at.is_some(),
            })
        })
        .collect();
    Ok(Json(json!({ "unread": unread, "notifications": items })))
}

async fn read_all(State(state): State<AppState>, viewer: Viewer) -> Result<Json<Value>, ApiError> {
    let account = viewer.require()?;
    let n = state.store.mark_read(account.id, None).await?;
    Ok(Json(json!({ "read": n })))
}

async fn read_one(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(raw): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let account = viewer.require()?;
    let not_found = || ApiError::NotFound {
        what_zh: format!("编号为 {raw} 的通知"),
        what_en: format!("Notification {raw}"),
    };
    let id: i64 = raw.parse().map_err(|_| not_found())?;
    if state.store.mark_read(account.id, Some(id)).await? == 0 {
        return Err(not_found());
    }
    Ok(Json(json!({ "read": 1 })))
}

/// Only the township's admin manages its webhook.
fn township_admin(viewer: &Viewer, raw: &str) -> Result<i64, ApiError> {
    viewer.require()?;
    let id: i64 = raw.parse().map_err(|_| ApiError::Forbidden)?;
    if viewer
        .assignments()
        .iter()
        .any(|a| a.role == Role::TownshipAdmin && a.area_id == id)
    {
        Ok(id)
    } else {
        Err(ApiError::Forbidden)
    }
}

async fn webhook(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(raw): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let id = township_admin(&viewer, &raw)?;
    Ok(Json(json!({ "url": state.store.webhook_url(id).await? })))
}

#[derive(Deserialize)]
struct WebhookRequest {
    url: String,
    secret: String,
}

async fn set_webhook(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(raw): Path<String>,
    request: Result<Json<WebhookRequest>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let id = township_admin(&viewer, &raw)?;
    let r = super::json_body(request)?;
    let url_ok = (r.url.starts_with("http://") || r.url.starts_with("https://"))
        && r.url.len() <= 500
        && !r.url.contains(char::is_whitespace);
    if !url_ok {
        return Err(super::bad(
            "网址须以 http:// 或 https:// 开头，不含空格",
            "The URL must start with http:// or https:// and contain no spaces",
        ));
    }
    if !(16..=200).contains(&r.secret.chars().count()) {
        return Err(super::bad(
            "签名密钥须为 16 至 200 个字符",
            "The signing secret must be 16 to 200 characters",
        ));
    }
    state.store.set_webhook(id, &r.url, &r.secret).await?;
    state
        .store
        .audit(viewer.audit_entry("webhook.set", Some(format!("township:{id}"))))
        .await?;
    Ok(Json(json!({ "url": r.url })))
}

async fn delete_webhook(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(raw): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let id = township_admin(&viewer, &raw)?;
    let deleted = state.store.delete_webhook(id).await?;
    Ok(Json(json!({ "deleted": deleted })))
}

/// Sends what the outbox holds, for the life of the server. A failed delivery is retried
/// later (the store doubles the wait), up to ten attempts.
pub async fn deliver_webhooks(store: Store) {
    let client = match reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
    {
        Ok(c) => c,
        Err(e) => {
            tracing::error!("webhooks disabled: {e}");
            return;
        }
    };
    loop {
        match store.claim_deliveries(20).await {
            Ok(due) => {
                for d in due {
                    let body = d.payload.to_string();
                    let outcome = match Hmac::<Sha256>::new_from_slice(d.secret.as_bytes()) {
                        Ok(mut mac) => {
                            mac.update(body.as_bytes());
                            let signature: String = mac
                                .finalize()
                                .into_bytes()
                                .iter()
                                .map(|b| format!("{b:02x}"))
                                .collect();
                            client
                                .post(&d.url)
                                .header("content-type", "application/json")
                                .header("x-cuntu-signature", format!("sha256={signature}"))
                                .body(body)
                                .send()
                                .await
                                .map_err(|e| e.to_string())
                                .and_then(|r| {
                                    if r.status().is_success() {
                                        Ok(())
                                    } else {
                                        Err(format!("HTTP {}", r.status()))
                                    }
                                })
                        }
                        Err(e) => Err(e.to_string()),
                    };
                    if let Err(e) = &outcome {
                        tracing::warn!(
                            delivery = d.id,
                            attempts = d.attempts + 1,
                            "webhook failed: {e}"
                        );
                    }
                    if let Err(e) = store.delivery_outcome(d.id, outcome.err().as_deref()).await {
                        tracing::warn!("webhook outcome not recorded: {e}");
                    }
                }
            }
            Err(e) => tracing::debug!("webhook outbox unreadable: {e}"),
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
}
