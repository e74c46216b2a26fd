use thiserror::Error;
use voltvend_ops::OpError;

/// Storage errors. Cloneable so that one failed group commit can answer every caller in its batch.
#[derive(Debug, Clone, Error)]
pub enum StoreError {
    #[error("{what} {id} not found")]
    NotFound { what: &'static str, id: String },
    /// An operation was refused by a rule (or, alone in its batch, by the database); nothing changed.
    #[error(transparent)]
    Refused(#[from] OpError),
    #[error("{0}")]
    Config(String),
    #[error("database unavailable: {0}")]
    Unavailable(String),
    #[error("database is in use by a running Voltvend server ({0}); stop the server first")]
    Locked(String),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    #[error("database error: {0}")]
    Database(String),
    #[error("the writer has stopped (the server is shutting down)")]
    WriterStopped,
    #[error("backup failed: {0}")]
    Backup(String),
    #[error("restore failed: {0}")]
    Restore(String),
    /// The database does not exist, or holds no Voltvend schema, and this command may not create one.
    #[error("{0}")]
    NoDatabase(String),
    /// A list query the store cannot run: a malformed cursor, a filter value that is not one.
    #[error("{0}")]
    BadQuery(String),
}

impl StoreError {
    /// A stable code: the operation's for refusals, else one per kind of failure.
    pub fn code(&self) -> &'static str {
        match self {
            Self::NotFound { .. } => "not_found",
            Self::Refused(e) => e.code(),
            Self::Config(_) => "bad_configuration",
            Self::Unavailable(_) => "database_unavailable",
            Self::Locked(_) => "database_locked",
            Self::Corrupt(_) => "database_corrupt",
            Self::Database(_) => "database_error",
            Self::WriterStopped => "shutting_down",
            Self::Backup(_) => "backup_failed",
            Self::Restore(_) => "restore_failed",
            Self::NoDatabase(_) => "no_database",
            Self::BadQuery(_) => "bad_query",
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
