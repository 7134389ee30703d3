//! Who is asking: sessions (HttpOnly, SameSite=Strict cookies), API tokens (bearer), and
//! passwords (argon2id). The `Viewer` extractor resolves the caller on every request.

use std::net::SocketAddr;
use std::sync::OnceLock;

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::header::{AUTHORIZATION, COOKIE};
use axum::http::request::Parts;
use base64::Engine;
use cuntu_core::auth::{household_scope_roots, Assignment};
use cuntu_store::audit::AuditEntry;
use cuntu_store::users::Account;
use rand::RngCore;
use sha2::{Digest, Sha256};

use crate::error::ApiError;
use crate::AppState;

pub const SESSION_COOKIE: &str = "cuntu_session";
pub const SESSION_HOURS: i32 = 12;
pub const MIN_PASSWORD_CHARS: usize = 8;

/// Hashes a password with argon2id and a fresh salt (PHC string format).
pub fn hash_password(password: &str) -> Result<String, String> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| e.to_string())
}

pub fn verify_password(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash)
        .map(|parsed| {
            Argon2::default()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok()
        })
        .unwrap_or(false)
}

/// Spends the same time as checking a real password, so that an unknown username cannot be
/// told from a wrong password by the time the answer takes.
pub fn verify_against_nobody(password: &str) {
    static DUMMY: OnceLock<String> = OnceLock::new();
    let hash = DUMMY.get_or_init(|| hash_password("not a password of anyone").unwrap_or_default());
    let _ = verify_password(password, hash);
}

/// A new random token (256 bits, URL-safe) and the hash under which it is stored.
pub fn new_token() -> (String, Vec<u8>) {
    let mut bytes = [0u8; 32];
    OsRng.fill_bytes(&mut bytes);
    let token = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    let hash = token_hash(&token);
    (token, hash)
}

pub fn token_hash(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

pub fn session_cookie(token: &str, secure: bool) -> String {
    format!(
        "{SESSION_COOKIE}={token}; HttpOnly; SameSite=Strict; Path=/; Max-Age={}{}",
        SESSION_HOURS * 3600,
        if secure { "; Secure" } else { "" }
    )
}

pub fn expired_session_cookie() -> String {
    format!("{SESSION_COOKIE}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0")
}

pub(crate) fn presented_token(parts: &Parts) -> Option<String> {
    if let Some(bearer) = parts
        .headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
    {
        return Some(bearer.trim().to_string());
    }
    parts
        .headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == SESSION_COOKIE)
        .map(|(_, value)| value.to_string())
        .filter(|v| !v.is_empty())
}

/// The caller of a request: an account when a live session or token came with it.
#[derive(Debug, Clone)]
pub struct Viewer {
    pub account: Option<Account>,
    pub token_hash: Option<Vec<u8>>,
    pub remote_addr: Option<String>,
}

impl Viewer {
    pub fn assignments(&self) -> Vec<Assignment> {
        self.account
            .as_ref()
            .map(Account::assignments)
            .unwrap_or_default()
    }

    /// The areas below which this viewer reads households (empty for anonymous).
    pub fn household_roots(&self) -> Vec<i64> {
        household_scope_roots(&self.assignments())
    }

    /// An audit entry of this viewer doing `action` (on `target`), from their address.
    pub fn audit_entry<'a>(&'a self, action: &'a str, target: Option<String>) -> AuditEntry<'a> {
        AuditEntry {
            user_id: self.account.as_ref().map(|a| a.id),
            username: self.account.as_ref().map(|a| a.username.as_str()),
            action,
            target,
            detail: serde_json::Value::Null,
            remote_addr: self.remote_addr.clone(),
        }
    }

    /// The account, or 401 for an anonymous caller.
    pub fn require(&self) -> Result<&Account, ApiError> {
        self.account.as_ref().ok_or(ApiError::Unauthorized)
    }
}

impl FromRequestParts<AppState> for Viewer {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let remote_addr = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip().to_string());
        let Some(token) = presented_token(parts) else {
            return Ok(Viewer {
                account: None,
                token_hash: None,
                remote_addr,
            });
        };
        let hash = token_hash(&token);
        let account = match state.store.user_by_token(&hash).await? {
            Some(user) => Some(state.store.account(&user).await?),
            None => None,
        };
        Ok(Viewer {
            account,
            token_hash: Some(hash),
            remote_addr,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_verify_only_themselves() {
        let h = hash_password("correct horse").unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify_password("correct horse", &h));
        assert!(!verify_password("correct horsf", &h));
        assert!(!verify_password("x", "not a hash"));
    }

    #[test]
    fn tokens_are_fresh_and_hashed() {
        let (a, ha) = new_token();
        let (b, _) = new_token();
        assert_ne!(a, b);
        assert_eq!(a.len(), 43);
        assert_eq!(ha, token_hash(&a));
        assert!(session_cookie(&a, false).contains("HttpOnly; SameSite=Strict"));
    }
}
