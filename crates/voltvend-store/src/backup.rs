//! Verifying and restoring backups. A backup is restored only after it proves to be a Voltvend database
//! whose ledger invariants hold, and never over a database a running server holds.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use voltvend_domain::Clock;

use crate::{Backend, LedgerReport, OpenOptions, StoreError};

/// What restoring found.
#[derive(Debug, Clone)]
pub struct RestoreReport {
    pub ledger: LedgerReport,
    pub restored_to: String,
}

/// Checks that a SQLite file is an intact Voltvend database with a consistent ledger.
pub async fn verify_sqlite_file(path: &Path, clock: Arc<dyn Clock>) -> Result<LedgerReport, StoreError> {
    use sqlx::Connection;
    use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection};

    if !path.is_file() {
        return Err(StoreError::Backup(format!("{} is not a file", path.display())));
    }
    // Open read-only and check integrity before anything else looks at it.
    let mut conn = SqliteConnection::connect_with(&SqliteConnectOptions::new().filename(path).read_only(true))
        .await
        .map_err(|e| StoreError::Backup(format!("{} is not a SQLite database: {e}", path.display())))?;
    let integrity: Vec<String> = sqlx::query_scalar("PRAGMA integrity_check")
        .fetch_all(&mut conn)
        .await
        .map_err(|e| StoreError::Backup(format!("{} is not a SQLite database: {e}", path.display())))?;
    conn.close().await.ok();
    if integrity != ["ok"] {
        return Err(StoreError::Backup(format!(
            "{} failed its integrity check: {}",
            path.display(),
            integrity.join("; ")
        )));
    }
    let url = format!("sqlite://{}", path.display());
    let mut options = OpenOptions::new(&url);
    options.max_connections = 1;
    let store = crate::open(&options, clock).await?;
    let result = async {
        if !store.is_migrated().await? {
            return Err(StoreError::Backup(format!(
                "{} is not a Voltvend database (no current schema)",
                path.display()
            )));
        }
        store.check_ledger().await
    }
    .await;
    store.close().await;
    let report = result?;
    if !report.is_ok() {
        return Err(StoreError::Backup(format!(
            "ledger invariants fail in the backup: {}",
            report.problems.join("; ")
        )));
    }
    Ok(report)
}

/// Restores `from` into the database `target_url` names.
///
/// Refuses while a server holds the database, and refuses to replace a database that has a schema unless
/// `force` is set. Verifies the result afterwards.
pub async fn restore(
    from: &Path,
    target_url: &str,
    force: bool,
    clock: Arc<dyn Clock>,
) -> Result<RestoreReport, StoreError> {
    match crate::backend_of(target_url)? {
        Backend::Sqlite => restore_sqlite(from, target_url, force, clock).await,
        Backend::Postgres => restore_postgres(from, target_url, force, clock).await,
    }
}

async fn restore_sqlite(
    from: &Path,
    target_url: &str,
    force: bool,
    clock: Arc<dyn Clock>,
) -> Result<RestoreReport, StoreError> {
    verify_sqlite_file(from, clock.clone()).await?;
    let target = crate::sqlite_path(target_url)?;
    let _live = hold_lock(target_url).await?;
    if target.exists() && !force {
        return Err(StoreError::Backup(format!(
            "{} already exists; pass --force to replace it (its current contents will be lost)",
            target.display()
        )));
    }
    // Copy beside the target, sync, then rename over it: the target is either the old or the new database.
    let staging = with_suffix(&target, ".restoring");
    std::fs::copy(from, &staging).map_err(|e| StoreError::Backup(format!("copy failed: {e}")))?;
    std::fs::File::open(&staging).and_then(|f| f.sync_all()).map_err(|e| StoreError::Backup(e.to_string()))?;
    for stale in [with_suffix(&target, "-wal"), with_suffix(&target, "-shm")] {
        match std::fs::remove_file(&stale) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(StoreError::Backup(format!("cannot remove {}: {e}", stale.display()))),
        }
    }
    std::fs::rename(&staging, &target).map_err(|e| StoreError::Backup(format!("cannot replace target: {e}")))?;
    let ledger = verify_sqlite_file(&target, clock).await?;
    Ok(RestoreReport { ledger, restored_to: target.display().to_string() })
}

async fn restore_postgres(
    from: &Path,
    target_url: &str,
    force: bool,
    clock: Arc<dyn Clock>,
) -> Result<RestoreReport, StoreError> {
    if !from.is_file() {
        return Err(StoreError::Backup(format!("{} is not a file", from.display())));
    }
    let store = crate::open(&OpenOptions::new(target_url), clock).await?;
    let result = async {
        let _live = store.lock_instance().await?;
        if store.is_migrated().await? && !force {
            return Err(StoreError::Backup(format!(
                "{} already holds a Voltvend database; pass --force to replace it",
                crate::redact_url(target_url)
            )));
        }
        let output = tokio::process::Command::new("pg_restore")
            .args(["--clean", "--if-exists", "--no-owner", "--exit-on-error", "--single-transaction"])
            .arg(format!("--dbname={target_url}"))
            .arg(from)
            .stdin(std::process::Stdio::null())
            .output()
            .await
            .map_err(|e| StoreError::Backup(format!("cannot run pg_restore: {e}")))?;
        if !output.status.success() {
            return Err(StoreError::Backup(format!(
                "pg_restore failed: {}",
                String::from_utf8_lossy(&output.stderr).trim()
            )));
        }
        let ledger = store.check_ledger().await?;
        if !ledger.is_ok() {
            return Err(StoreError::Backup(format!(
                "ledger invariants fail after restore: {}",
                ledger.problems.join("; ")
            )));
        }
        Ok(RestoreReport { ledger, restored_to: crate::redact_url(target_url) })
    }
    .await;
    store.close().await;
    result
}

/// Takes the target's instance lock (a running server holds it) without opening the database.
async fn hold_lock(target_url: &str) -> Result<std::fs::File, StoreError> {
    let target = crate::sqlite_path(target_url)?;
    if let Some(parent) = target.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(|e| StoreError::Backup(e.to_string()))?;
    }
    crate::sqlite::lock_database_file(&target)
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}
