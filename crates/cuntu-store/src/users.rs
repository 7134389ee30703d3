//! Users, their role assignments, sessions and API tokens.
//!
//! Tokens are stored as SHA-256 hashes; the plain token exists only in the client's cookie
//! or script. Passwords arrive here already hashed (argon2, by the server crate).

use cuntu_core::auth::{Assignment, Grant, Role};
use serde::Serialize;
use sqlx::FromRow;

use crate::{Store, StoreError};

#[derive(Debug, Clone, FromRow)]
pub struct UserRow {
    pub id: i64,
    pub username: String,
    pub display_name: String,
    pub password_hash: String,
    pub disabled: bool,
    pub failed_logins: i32,
    /// Seconds until the lock-out ends; `None` or ≤ 0 when not locked.
    pub locked_for_seconds: Option<f64>,
}

/// A role assignment with the name of its area, for display.
#[derive(Debug, Clone, Serialize)]
pub struct RoleView {
    pub role: Role,
    pub area_id: i64,
    pub area_name: String,
    pub area_code: String,
    pub area_kind: String,
    pub grants: Vec<Grant>,
}

impl RoleView {
    pub fn assignment(&self) -> Assignment {
        Assignment {
            role: self.role,
            area_id: self.area_id,
            grants: self.grants.clone(),
        }
    }
}

/// Who is asking: a user and their roles.
#[derive(Debug, Clone, Serialize)]
pub struct Account {
    pub id: i64,
    pub username: String,
    pub display_name: String,
    pub roles: Vec<RoleView>,
}

impl Account {
    pub fn assignments(&self) -> Vec<Assignment> {
        self.roles.iter().map(RoleView::assignment).collect()
    }
}

/// After this many wrong passwords in a row, an account is locked for `LOCK_MINUTES`.
pub const MAX_FAILED_LOGINS: i32 = 5;
pub const LOCK_MINUTES: i32 = 15;

const SELECT_USER: &str =
    "SELECT id, username, display_name, password_hash, disabled, failed_logins, \
     EXTRACT(EPOCH FROM (locked_until - now()))::float8 AS locked_for_seconds FROM users";

impl Store {
    pub async fn create_user(
        &self,
        username: &str,
        display_name: &str,
        password_hash: &str,
    ) -> Result<i64, StoreError> {
        Ok(sqlx::query_scalar(
            "INSERT INTO users (username, display_name, password_hash) VALUES ($1, $2, $3) RETURNING id",
        )
        .bind(username)
        .bind(display_name)
        .bind(password_hash)
        .fetch_one(self.pool())
        .await?)
    }

    pub async fn user_by_name(&self, username: &str) -> Result<Option<UserRow>, StoreError> {
        Ok(
            sqlx::query_as(&format!("{SELECT_USER} WHERE username = $1"))
                .bind(username)
                .fetch_optional(self.pool())
                .await?,
        )
    }

    pub async fn user_by_id(&self, id: i64) -> Result<Option<UserRow>, StoreError> {
        Ok(sqlx::query_as(&format!("{SELECT_USER} WHERE id = $1"))
            .bind(id)
            .fetch_optional(self.pool())
            .await?)
    }

    /// Counts a wrong password; the fifth in a row locks the account for a while.
    pub async fn record_failed_login(&self, user_id: i64) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE users SET failed_logins = failed_logins + 1, \
                 locked_until = CASE WHEN failed_logins + 1 >= $2 \
                                     THEN now() + make_interval(mins => $3) ELSE locked_until END \
             WHERE id = $1",
        )
        .bind(user_id)
        .bind(MAX_FAILED_LOGINS)
        .bind(LOCK_MINUTES)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    pub async fn record_successful_login(&self, user_id: i64) -> Result<(), StoreError> {
        sqlx::query("UPDATE users SET failed_logins = 0, locked_until = NULL WHERE id = $1")
            .bind(user_id)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Sets a new password hash and ends every session of the user but `keep_session`.
    pub async fn set_password(
        &self,
        user_id: i64,
        password_hash: &str,
        keep_session: Option<&[u8]>,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool().begin().await?;
        sqlx::query(
            "UPDATE users SET password_hash = $2, password_changed_at = now(), failed_logins = 0, \
             locked_until = NULL WHERE id = $1",
        )
        .bind(user_id)
        .bind(password_hash)
        .execute(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM sessions WHERE user_id = $1 AND token_hash IS DISTINCT FROM $2")
            .bind(user_id)
            .bind(keep_session)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn grant_role(
        &self,
        user_id: i64,
        role: Role,
        area_id: i64,
        grants: &[Grant],
    ) -> Result<(), StoreError> {
        let grants: Vec<&str> = grants.iter().map(|g| g.as_str()).collect();
        sqlx::query(
            "INSERT INTO role_assignments (user_id, role, area_id, grants) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (user_id, role, area_id) DO UPDATE SET grants = EXCLUDED.grants",
        )
        .bind(user_id)
        .bind(role.as_str())
        .bind(area_id)
        .bind(&grants)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Returns whether there was such an assignment.
    pub async fn revoke_role(
        &self,
        user_id: i64,
        role: Role,
        area_id: i64,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "DELETE FROM role_assignments WHERE user_id = $1 AND role = $2 AND area_id = $3",
        )
        .bind(user_id)
        .bind(role.as_str())
        .bind(area_id)
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() > 0)
    }

    pub async fn roles_of(&self, user_id: i64) -> Result<Vec<RoleView>, StoreError> {
        let rows: Vec<(String, i64, String, String, String, Vec<String>)> = sqlx::query_as(
            "SELECT r.role, r.area_id, a.name, a.code, a.kind, r.grants \
             FROM role_assignments r JOIN areas a ON a.id = r.area_id \
             WHERE r.user_id = $1 ORDER BY r.id",
        )
        .bind(user_id)
        .fetch_all(self.pool())
        .await?;
        Ok(rows
            .into_iter()
            .filter_map(|(role, area_id, area_name, area_code, area_kind, grants)| {
                Some(RoleView {
                    role: role.parse().ok()?,
                    area_id,
                    area_name,
                    area_code,
                    area_kind,
                    grants: grants.iter().filter_map(|g| g.parse().ok()).collect(),
                })
            })
            .collect())
    }

    pub async fn account(&self, user: &UserRow) -> Result<Account, StoreError> {
        Ok(Account {
            id: user.id,
            username: user.username.clone(),
            display_name: user.display_name.clone(),
            roles: self.roles_of(user.id).await?,
        })
    }

    pub async fn list_accounts(&self) -> Result<Vec<(Account, bool)>, StoreError> {
        let users: Vec<UserRow> = sqlx::query_as(&format!("{SELECT_USER} ORDER BY username"))
            .fetch_all(self.pool())
            .await?;
        let mut out = Vec::with_capacity(users.len());
        for u in &users {
            out.push((self.account(u).await?, u.disabled));
        }
        Ok(out)
    }

    pub async fn create_session(
        &self,
        token_hash: &[u8],
        user_id: i64,
        lifetime_hours: i32,
        remote_addr: Option<&str>,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO sessions (token_hash, user_id, expires_at, remote_addr) \
             VALUES ($1, $2, now() + make_interval(hours => $3), $4)",
        )
        .bind(token_hash)
        .bind(user_id)
        .bind(lifetime_hours)
        .bind(remote_addr)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// The user of a live session or API token; expired ones are not found.
    pub async fn user_by_token(&self, token_hash: &[u8]) -> Result<Option<UserRow>, StoreError> {
        Ok(sqlx::query_as(&format!(
            "{SELECT_USER} WHERE NOT disabled AND id = ( \
                 SELECT user_id FROM sessions WHERE token_hash = $1 AND expires_at > now() \
                 UNION ALL \
                 SELECT user_id FROM api_tokens WHERE token_hash = $1 AND (expires_at IS NULL OR expires_at > now()) \
                 LIMIT 1)"
        ))
        .bind(token_hash)
        .fetch_optional(self.pool())
        .await?)
    }

    pub async fn delete_session(&self, token_hash: &[u8]) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM sessions WHERE token_hash = $1")
            .bind(token_hash)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    pub async fn create_api_token(
        &self,
        token_hash: &[u8],
        user_id: i64,
        name: &str,
    ) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO api_tokens (token_hash, user_id, name) VALUES ($1, $2, $3)")
            .bind(token_hash)
            .bind(user_id)
            .bind(name)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// The id of the area with this statistics or grid code.
    pub async fn area_id_by_code(&self, code: &str) -> Result<Option<i64>, StoreError> {
        Ok(sqlx::query_scalar("SELECT id FROM areas WHERE code = $1")
            .bind(code)
            .fetch_optional(self.pool())
            .await?)
    }
}
