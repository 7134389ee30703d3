use thiserror::Error;

/// What can go wrong in the store, sorted by what the caller should do about it.
#[derive(Debug, Error)]
pub enum StoreError {
    /// The database cannot be reached now; retrying later may work (HTTP 503).
    #[error("database unavailable: {0}")]
    Unavailable(#[source] sqlx::Error),
    /// The data broke a rule the database enforces; the message says which (HTTP 422). Our
    /// own rules raise their message in Chinese with the English in `detail`.
    #[error("{message}")]
    Rule {
        constraint: String,
        message: String,
        detail: Option<String>,
    },
    #[error("not found")]
    NotFound,
    /// The row changed since the caller read it (HTTP 409).
    #[error("version {expected} is stale: the current version is {current}")]
    Conflict { expected: i32, current: i32 },
    /// The request cannot be carried out as asked; the message says why, in both languages
    /// (HTTP 422).
    #[error("{en}")]
    Invalid { zh: String, en: String },
    #[error("configuration: {0}")]
    Config(String),
    #[error("migration failed: {0}")]
    Migrate(String),
    #[error("local PostgreSQL cluster: {0}")]
    Cluster(String),
    #[error("geometry from the database could not be decoded: {0}")]
    Geometry(String),
    #[error("database error: {0}")]
    Database(#[source] sqlx::Error),
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        match &e {
            sqlx::Error::RowNotFound => StoreError::NotFound,
            sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::WorkerCrashed => StoreError::Unavailable(e),
            sqlx::Error::Database(db) => {
                let code = db.code().map(|c| c.to_string()).unwrap_or_default();
                // Class 08: connection exception; 57P01-57P03: the server is shutting down or
                // starting; 53300: too many connections.
                if code.starts_with("08") || code.starts_with("57P") || code == "53300" {
                    return StoreError::Unavailable(e);
                }
                if let (Some(constraint), true) = (db.constraint(), code.starts_with("23")) {
                    let detail = db
                        .try_downcast_ref::<sqlx::postgres::PgDatabaseError>()
                        .and_then(|pg| pg.detail())
                        .map(str::to_string);
                    return StoreError::Rule {
                        constraint: constraint.to_string(),
                        message: db.message().to_string(),
                        detail,
                    };
                }
                StoreError::Database(e)
            }
            _ => StoreError::Database(e),
        }
    }
}

impl StoreError {
    pub fn invalid(zh: impl Into<String>, en: impl Into<String>) -> Self {
        StoreError::Invalid {
            zh: zh.into(),
            en: en.into(),
        }
    }

    pub fn is_unavailable(&self) -> bool {
        matches!(self, StoreError::Unavailable(_))
    }
}
