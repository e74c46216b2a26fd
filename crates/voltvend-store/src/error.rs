use thiserror::Error;
use voltvend_domain::LedgerError;

/// Storage errors. Cloneable so that one failed group commit can answer every caller in its batch.
#[derive(Debug, Clone, Error)]
pub enum StoreError {
    #[error("{what} {id} not found")]
    NotFound { what: &'static str, id: String },
    #[error("{what} {key:?} already exists")]
    Duplicate { what: &'static str, key: String },
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    #[error("{0}")]
    Config(String),
    #[error("database unavailable: {0}")]
    Unavailable(String),
    #[error("database is in use by a running Voltvend server ({0})")]
    Locked(String),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    #[error("database error: {0}")]
    Database(String),
    #[error("the ledger writer has stopped")]
    WriterStopped,
    #[error("backup failed: {0}")]
    Backup(String),
}

impl StoreError {
    /// Maps a driver error, recognising unique-key violations as duplicates of `what`.
    pub(crate) fn db(what: &'static str, key: impl ToString) -> impl FnOnce(sqlx::Error) -> StoreError {
        move |e| match &e {
            sqlx::Error::Database(d) if d.is_unique_violation() => StoreError::Duplicate { what, key: key.to_string() },
            _ => StoreError::from(e),
        }
    }
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        match e {
            sqlx::Error::PoolTimedOut | sqlx::Error::Io(_) | sqlx::Error::PoolClosed => {
                StoreError::Unavailable(e.to_string())
            }
            sqlx::Error::ColumnDecode { .. } | sqlx::Error::Decode(_) => StoreError::Corrupt(e.to_string()),
            other => StoreError::Database(other.to_string()),
        }
    }
}
