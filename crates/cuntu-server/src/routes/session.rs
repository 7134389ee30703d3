//! `/api/login`, `/api/logout`, `/api/me`, `/api/me/password`.

use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use cuntu_store::audit::AuditEntry;
use cuntu_store::users::Account;
use serde::Deserialize;
use serde_json::json;

use crate::auth::{self, Viewer, MIN_PASSWORD_CHARS, SESSION_HOURS};
use crate::error::ApiError;
use crate::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/login", post(login))
        .route("/api/logout", post(logout))
        .route("/api/me", get(me))
        .route("/api/me/password", post(change_password))
}

#[derive(Deserialize)]
struct Login {
    username: String,
    password: String,
}

fn bad_body(e: impl std::fmt::Display) -> ApiError {
    ApiError::BadQuery {
        zh: format!("请求内容无法读取：{e}"),
        en: format!("The request body cannot be read: {e}"),
    }
}

async fn login(
    State(state): State<AppState>,
    viewer: Viewer,
    headers: HeaderMap,
    body: Result<Json<Login>, axum::extract::rejection::JsonRejection>,
) -> Result<Response, ApiError> {
    let Json(login) = body.map_err(bad_body)?;
    let username = login.username.trim().to_lowercase();
    let password = login.password;
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
    let hash = user.password_hash.clone();
    let ok = tokio::task::spawn_blocking(move || auth::verify_password(&password, &hash))
        .await
        .map_err(|_| ApiError::Internal)?;
    if !ok {
        state.store.record_failed_login(user.id).await?;
        state
            .store
            .audit(AuditEntry {
                user_id: Some(user.id),
                username: Some(&user.username),
                ..viewer.audit_entry("login_failed", None)
            })
            .await?;
        return Err(ApiError::BadCredentials);
    }
    state.store.record_successful_login(user.id).await?;
    let (token, token_hash) = auth::new_token();
    state
        .store
        .create_session(
            &token_hash,
            user.id,
            SESSION_HOURS,
            viewer.remote_addr.as_deref(),
        )
        .await?;
    state
        .store
        .audit(AuditEntry {
            user_id: Some(user.id),
            username: Some(&user.username),
            ..viewer.audit_entry("login", None)
        })
        .await?;
    let account = state.store.account(&user).await?;
    let secure = headers
        .get("x-forwarded-proto")
        .is_some_and(|v| v.as_bytes() == b"https");
    Ok((
        [(header::SET_COOKIE, auth::session_cookie(&token, secure))],
        Json(json!({ "user": account })),
    )
        .into_response())
}

async fn logout(State(state): State<AppState>, viewer: Viewer) -> Result<Response, ApiError> {
    if let Some(hash) = &viewer.token_hash {
        state.store.delete_session(hash).await?;
    }
    if viewer.account.is_some() {
        state
            .store
            .audit(viewer.audit_entry("logout", None))
            .await?;
    }
    Ok((
        StatusCode::NO_CONTENT,
        [(header::SET_COOKIE, auth::expired_session_cookie())],
    )
        .into_response())
}

async fn me(viewer: Viewer) -> Result<Json<serde_json::Value>, ApiError> {
    let account: &Account = viewer.require()?;
    Ok(Json(json!({ "user": account })))
}

#[derive(Deserialize)]
struct PasswordChange {
    current_password: String,
    new_password: String,
}

async fn change_password(
    State(state): State<AppState>,
    viewer: Viewer,
    body: Result<Json<PasswordChange>, axum::extract::rejection::JsonRejection>,
) -> Result<StatusCode, ApiError> {
    let account = viewer.require()?.clone();
    let Json(change) = body.map_err(bad_body)?;
    if change.new_password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(ApiError::BadQuery {
            zh: format!("新密码至少需要 {MIN_PASSWORD_CHARS} 个字符。"),
            en: format!("The new password needs at least {MIN_PASSWORD_CHARS} characters."),
        });
    }
    let user = state
        .store
        .user_by_id(account.id)
        .await?
        .ok_or(ApiError::Unauthorized)?;
    let (current, hash) = (change.current_password, user.password_hash);
    let ok = tokio::task::spawn_blocking(move || auth::verify_password(&current, &hash))
        .await
        .map_err(|_| ApiError::Internal)?;
    if !ok {
        return Err(ApiError::BadCredentials);
    }
    let new = change.new_password;
    let new_hash = tokio::task::spawn_blocking(move || auth::hash_password(&new))
        .await
        .map_err(|_| ApiError::Internal)?
        .map_err(|_| ApiError::Internal)?;
    state
        .store
        .set_password(account.id, &new_hash, viewer.token_hash.as_deref())
        .await?;
    state
        .store
        .audit(viewer.audit_entry("password_changed", None))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
