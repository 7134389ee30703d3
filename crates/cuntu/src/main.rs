//! `cuntu`: the one binary. It wires the crates together and does nothing else.

// A tile server makes and frees many small buffers per request; mimalloc's thread-local free
// lists do that at a fraction of glibc malloc's cost (measured by `cuntu bench tiles`).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod backup;
mod bench;
mod bench_exposure;
mod bench_import;
mod bench_tiles;
mod demo;
mod gen;
mod grid;
mod import;
mod user;

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use cuntu_store::cluster::LocalCluster;
use cuntu_store::Store;

#[derive(Parser)]
#[command(
    name = "cuntu",
    version,
    about = "村图 cuntu: one village, one map (一村一图)"
)]
struct Cli {
    /// PostGIS to use. Without it, a private cluster under CUNTU_HOME/pg is started.
    #[arg(long, env = "DATABASE_URL", global = true, hide_env_values = true)]
    database_url: Option<String>,
    /// Folder of the private cluster and other local state.
    #[arg(long, env = "CUNTU_HOME", default_value = ".cuntu", global = true)]
    home: PathBuf,
    /// Port of the private cluster (loopback only).
    #[arg(long, env = "CUNTU_PG_PORT", default_value_t = 54329, global = true)]
    pg_port: u16,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Migrate the database and serve the map, API and tiles.
    Serve {
        #[arg(long, env = "CUNTU_ADDR", default_value = "127.0.0.1:8080")]
        addr: SocketAddr,
        /// The built web front end (web/dist).
        #[arg(long, env = "CUNTU_WEB_DIR", default_value = "web/dist")]
        web_dir: PathBuf,
    },
    /// The database: the private cluster and migrations.
    Db {
        #[command(subcommand)]
        command: DbCommand,
    },
    /// Users, roles and API tokens.
    User {
        #[command(subcommand)]
        command: user::UserCommand,
    },
    /// Benchmarks against the anchors the issues name; they print figures.
    Bench {
        #[command(subcommand)]
        command: bench::BenchCommand,
        /// Only the generated data: no database needed.
        #[arg(long)]
        without_database: bool,
    },
    /// Grids: proposals for a village.
    Grid {
        #[command(subcommand)]
        command: grid::GridCommand,
    },
    /// Generated data for the benchmarks (a county from the demo).
    Gen {
        #[command(subcommand)]
        command: gen::GenCommand,
    },
    /// Import a file (GeoJSON, GeoPackage, Shapefile, KML, GPX, CSV) into a layer.
    Import(import::ImportArgs),
    /// Export a layer to a file (households within --user's scope, masked per role).
    Export(import::ExportArgs),
    /// The demo township.
    Demo {
        #[command(subcommand)]
        command: DemoCommand,
    },
}

#[derive(Subcommand)]
enum DbCommand {
    /// Create and start the private cluster if needed; print its URL.
    Up,
    /// Stop the private cluster (its data stays).
    Down,
    /// Stop the private cluster and delete all its data.
    Reset,
    /// Create the database `DATABASE_URL` names on its server, if it is not there yet.
    Create,
    /// Apply pending migrations.
    Migrate,
    /// Print the database URL in use.
    Url,
    /// Write a backup: a tar of a manifest and a pg_dump of schema and data (README: Backups).
    Backup { file: PathBuf },
    /// Restore a backup into an empty database, after checking its manifest.
    Restore {
        file: PathBuf,
        /// Replace everything in a database that is not empty.
        #[arg(long)]
        force: bool,
    },
}

#[derive(Subcommand)]
enum DemoCommand {
    /// Load the demo township from the data folder, unless it is loaded already.
    Load {
        #[arg(long, default_value = "data")]
        data: PathBuf,
    },
    /// Print the demo users and their passwords.
    Users,
}

impl Cli {
    fn local_cluster(&self) -> LocalCluster {
        LocalCluster::new(self.home.join("pg"), self.pg_port)
    }

    /// The URL of the database to use, starting the private cluster when none is given.
    fn database_url(&self) -> Result<String> {
        match self
            .database_url
            .as_deref()
            .filter(|u| !u.trim().is_empty())
        {
            Some(url) => Ok(url.to_string()),
            None => self
                .local_cluster()
                .ensure_running()
                .context("starting the private PostgreSQL cluster"),
        }
    }

    async fn migrated_store(&self) -> Result<Store> {
        let url = self.database_url()?;
        let store = Store::connect(&url)
            .await
            .with_context(|| format!("connecting to {}", redact(&url)))?;
        store.migrate().await.context("migrating the database")?;
        Ok(store)
    }
}

/// A URL fit for a log line: no password.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let credentials = &url[scheme + 3..at];
            match credentials.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme + 3], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

/// Creates the database at the end of `url` through the server's `postgres` database.
async fn create_database(url: &str) -> Result<()> {
    use sqlx::Connection;
    let (server, name) = url
        .rsplit_once('/')
        .context("DATABASE_URL has no database name")?;
    let name = name.split('?').next().unwrap_or(name);
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        anyhow::bail!("database name '{name}': use letters, digits and _ only");
    }
    let mut admin = sqlx::PgConnection::connect(&format!("{server}/postgres"))
        .await
        .with_context(|| format!("connecting to {}", redact(server)))?;
    let exists: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
            .bind(name)
            .fetch_one(&mut admin)
            .await?;
    if !exists {
        // The name is checked above: an identifier cannot be a bound parameter.
        sqlx::query(&format!("CREATE DATABASE \"{name}\""))
            .execute(&mut admin)
            .await?;
    }
    Ok(())
}

#[tokio::main]
async fn main() -> Result<()> {
    // One line per request (its id, method, path, status, time); CUNTU_LOG_FORMAT=json for
    // one JSON object per line.
    let logs = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,sqlx=warn,tower_http=warn".into()),
        )
        .with_target(false);
    if std::env::var("CUNTU_LOG_FORMAT").is_ok_and(|f| f == "json") {
        logs.json().init();
    } else {
        logs.init();
    }
    let cli = Cli::parse();
    match &cli.command {
        Command::Serve { addr, web_dir } => {
            let store = cli.migrated_store().await?;
            cuntu_server::serve(
                store,
                cuntu_server::ServerConfig {
                    addr: *addr,
                    web_dir: web_dir.clone(),
                },
            )
            .await
            .with_context(|| format!("serving on {addr}"))?;
        }
        Command::Db { command } => match command {
            DbCommand::Up => {
                let url = cli.local_cluster().ensure_running()?;
                println!("{url}");
            }
            DbCommand::Down => cli.local_cluster().stop()?,
            DbCommand::Reset => {
                cli.local_cluster().destroy()?;
                println!("removed {}", cli.local_cluster().dir.display());
            }
            DbCommand::Create => {
                let url = cli.database_url()?;
                create_database(&url).await?;
                println!("{}", redact(&url));
            }
            DbCommand::Migrate => {
                cli.migrated_store().await?;
                println!("migrations applied");
            }
            DbCommand::Url => println!("{}", redact(&cli.database_url()?)),
            DbCommand::Backup { file } => {
                let url = cli.database_url()?;
                let store = Store::connect(&url)
                    .await
                    .with_context(|| format!("connecting to {}", redact(&url)))?;
                backup::backup(&store, &url, file).await?;
            }
            DbCommand::Restore { file, force } => {
                backup::restore(&cli.database_url()?, file, *force).await?;
            }
        },
        Command::User { command } => {
            let store = cli.migrated_store().await?;
            user::run(&store, command).await?;
        }
        Command::Bench {
            command,
            without_database,
        } => {
            let store = if *without_database {
                None
            } else {
                Some(cli.migrated_store().await?)
            };
            bench::run(store.as_ref(), command).await?;
        }
        Command::Grid { command } => {
            let store = cli.migrated_store().await?;
            grid::run(&store, command).await?;
        }
        Command::Gen { command } => {
            let store = cli.migrated_store().await?;
            gen::run(&store, command).await?;
        }
        Command::Import(args) => {
            // A dry run reads the file only: no database needed to check it (areas excepted:
            // their dry run finds each polygon's container and rolls the edit back).
            let store = if args.dry_run() && !args.needs_database() {
                None
            } else {
                Some(cli.migrated_store().await?)
            };
            import::import(store.as_ref(), args).await?;
        }
        Command::Export(args) => {
            let store = cli.migrated_store().await?;
            import::export(&store, args).await?;
        }
        Command::Demo { command } => match command {
            DemoCommand::Load { data } => {
                let store = cli.migrated_store().await?;
                demo::load(&store, data).await?;
            }
            DemoCommand::Users => demo::print_demo_users(),
        },
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_never_reach_the_log() {
        assert_eq!(
            redact("postgres://u:secret@h:5432/db"),
            "postgres://u:***@h:5432/db"
        );
        assert_eq!(redact("postgres://u@h/db"), "postgres://u@h/db");
    }
}
