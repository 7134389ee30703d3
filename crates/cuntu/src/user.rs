//! `cuntu user add|list|grant|revoke|passwd|token`: accounts from the command line.

use std::io::{BufRead, IsTerminal};

use anyhow::{anyhow, bail, Context, Result};
use clap::Subcommand;
use cuntu_core::auth::{Grant, Role};
use cuntu_store::audit::AuditEntry;
use cuntu_store::Store;

#[derive(Subcommand)]
pub enum UserCommand {
    /// Create a user. The password is read from standard input (one line) or, when none is
    /// piped in, generated and printed once.
    Add {
        username: String,
        /// Name shown in the page and the audit log, e.g. "网格员 王建国".
        #[arg(long)]
        name: String,
    },
    /// List users and their roles.
    List,
    /// Give a role on an area (by its code), e.g. `grant wang grid_worker 130111103201-01`.
    Grant {
        username: String,
        role: Role,
        area_code: String,
        /// Extra rights: personal (names for a leader), full_view (unmasked phones and IDs).
        #[arg(long, value_delimiter = ',')]
        grants: Vec<Grant>,
    },
    /// Take a role away.
    Revoke {
        username: String,
        role: Role,
        area_code: String,
    },
    /// Set a new password (from standard input, or generated and printed) and end the
    /// user's sessions.
    Passwd { username: String },
    /// Create an API token for scripts (sent as `Authorization: Bearer TOKEN`); printed once.
    Token {
        username: String,
        #[arg(long, default_value = "script")]
        name: String,
    },
}

fn password_from_stdin_or_new() -> Result<(String, bool)> {
    let stdin = std::io::stdin();
    if !stdin.is_terminal() {
        let mut line = String::new();
        stdin.lock().read_line(&mut line)?;
        let line = line.trim_end_matches(['\r', '\n']).to_string();
        if !line.is_empty() {
            if line.chars().count() < cuntu_server::auth::MIN_PASSWORD_CHARS {
                bail!(
                    "the password needs at least {} characters",
                    cuntu_server::auth::MIN_PASSWORD_CHARS
                );
            }
            return Ok((line, false));
        }
    }
    let (token, _) = cuntu_server::auth::new_token();
    Ok((token[..16].to_string(), true))
}

async fn user_id(store: &Store, username: &str) -> Result<i64> {
    Ok(store
        .user_by_name(username)
        .await?
        .ok_or_else(|| anyhow!("no user '{username}' (see `cuntu user list`)"))?
        .id)
}

async fn area_id(store: &Store, code: &str) -> Result<i64> {
    store
        .area_id_by_code(code)
        .await?
        .ok_or_else(|| anyhow!("no area with code '{code}'"))
}

async fn audit(store: &Store, action: &str, target: String) -> Result<()> {
    store
        .audit(AuditEntry {
            username: Some("cli"),
            action,
            target: Some(target),
            ..Default::default()
        })
        .await?;
    Ok(())
}

pub async fn run(store: &Store, command: &UserCommand) -> Result<()> {
    match command {
        UserCommand::Add { username, name } => {
            let (password, generated) = password_from_stdin_or_new()?;
            let hash = cuntu_server::auth::hash_password(&password).map_err(|e| anyhow!(e))?;
            store
                .create_user(username, name, &hash)
                .await
                .with_context(|| {
                    format!("creating '{username}' (lowercase letters, digits, . _ -; unique)")
                })?;
            audit(store, "user_added", format!("user:{username}")).await?;
            println!("user {username} created");
            if generated {
                println!("password: {password}");
            }
        }
        UserCommand::List => {
            for (account, disabled) in store.list_accounts().await? {
                let roles: Vec<String> = account
                    .roles
                    .iter()
                    .map(|r| {
                        let grants: Vec<&str> = r.grants.iter().map(|g| g.as_str()).collect();
                        let grants = if grants.is_empty() {
                            String::new()
                        } else {
                            format!(" [{}]", grants.join(","))
                        };
                        format!("{}@{} {}{grants}", r.role, r.area_code, r.area_name)
                    })
                    .collect();
                println!(
                    "{:<12} {:<20} {}{}",
                    account.username,
                    account.display_name,
                    roles.join("; "),
                    if disabled { " (disabled)" } else { "" }
                );
            }
        }
        UserCommand::Grant {
            username,
            role,
            area_code,
            grants,
        } => {
            let (user, area) = (
                user_id(store, username).await?,
                area_id(store, area_code).await?,
            );
            store.grant_role(user, *role, area, grants).await?;
            audit(
                store,
                "role_granted",
                format!("user:{username} {role}@{area_code}"),
            )
            .await?;
            println!("{username}: {role} on {area_code}");
        }
        UserCommand::Revoke {
            username,
            role,
            area_code,
        } => {
            let (user, area) = (
                user_id(store, username).await?,
                area_id(store, area_code).await?,
            );
            if !store.revoke_role(user, *role, area).await? {
                bail!("{username} has no role {role} on {area_code}");
            }
            audit(
                store,
                "role_revoked",
                format!("user:{username} {role}@{area_code}"),
            )
            .await?;
            println!("{username}: {role} on {area_code} revoked");
        }
        UserCommand::Passwd { username } => {
            let user = user_id(store, username).await?;
            let (password, generated) = password_from_stdin_or_new()?;
            let hash = cuntu_server::auth::hash_password(&password).map_err(|e| anyhow!(e))?;
            store.set_password(user, &hash, None).await?;
            audit(store, "password_set", format!("user:{username}")).await?;
            println!("password of {username} changed; their sessions are ended");
            if generated {
                println!("password: {password}");
            }
        }
        UserCommand::Token { username, name } => {
            let user = user_id(store, username).await?;
            let (token, hash) = cuntu_server::auth::new_token();
            store.create_api_token(&hash, user, name).await?;
            audit(store, "token_created", format!("user:{username} {name}")).await?;
            println!("{token}");
        }
    }
    Ok(())
}
