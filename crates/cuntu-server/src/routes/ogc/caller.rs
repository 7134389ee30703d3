//! Who calls the OGC API. Standard clients (QGIS, GDAL, OWSLib) send an API token as a bearer
//! header, which the `Viewer` extractor reads, or HTTP Basic credentials, read here: the
//! account's password (checked like a login: wrong ones count toward the lock-out and are
//! audited) or an API token in the password field.

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use base64::Engine;
use cuntu_store::audit::AuditEntry;

use crate::auth::{self, Viewer};
use crate::error::ApiError;
use crate::AppState;

pub struct Caller(pub Viewer);

fn basic_credentials(parts: &Parts) -> Option<(String, String)> {
    let value = parts.headers.get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, encoded) = value.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (user, password) = text.split_once(':')?;
    Some((user.trim().to_lowercase(), password.to_string()))
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let anonymous = Viewer::from_request_parts(parts, state).await?;
        let Some((username, password)) = basic_credentials(parts) else {
            return Ok(Caller(anonymous));
        };
        // An API token given as the password of its own user.
        let hash = auth::token_hash(&password);
        if let Some(user) = state.store.user_by_token(&hash).await? {
            if user.username == username {
                let account = state.store.account(&user).await?;
                return Ok(Caller(Viewer {
                    account: Some(account),
                    token_hash: Some(hash),
                    ..anonymous
                }));
            }
        }
        let user = state.store.user_by_name(&username).await?;
        let Some(user) = user.filter(|u| !u.disabled) else {
            tokio::task::spawn_blocking(move || auth::verify_against_nobody(&password))
                .await
                .map_err(|_| ApiError::Internal)?;
            return Err(ApiError::BadCredentials);
        };
        if let Some(seconds) = user.locked_for_seconds.filter(|s| *s > 0.0) {
            return Err(ApiError::Locked {
                minutes: (seconds / 60.0).ceil() as i64,
            });
        }
        let stored = user.password_hash.clone();
        let ok = tokio::task::spawn_blocking(move || auth::verify_password(&password, &stored))
            .await
            .map_err(|_| ApiError::Internal)?;
        if !ok {
            state.store.record_failed_login(user.id).await?;
            state
                .store
                .audit(AuditEntry {
                    user_id: Some(user.id),
                    username: Some(&user.username),
                    ..anonymous.audit_entry("login_failed", Some("ogc:basic".into()))
                })
                .await?;
            return Err(ApiError::BadCredentials);
        }
        if user.failed_logins > 0 {
            state.store.record_successful_login(user.id).await?;
        }
        let account = state.store.account(&user).await?;
        Ok(Caller(Viewer {
            account: Some(account),
            token_hash: None,
            ..anonymous
        }))
    }
}
