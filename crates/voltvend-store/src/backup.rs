//! Verifying and restoring backups. A backup is restored only after it proves to be a Voltvend database whose
//! invariants hold (`voltvend check`), never over a database a running server holds, and verifying a backup
//! never writes to it.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use voltvend_domain::Clock;

use crate::{Backend, CheckReport, CheckScope, OpenOptions, StoreError};

/// What restoring found.
#[derive(Debug, Clone)]
pub struct RestoreReport {
    pub check: CheckReport,
    pub restored_to: String,
}

fn restore_err(e: impl std::fmt::Display) -> StoreError {
    StoreError::Restore(e.to_string())
}

/// Checks that a SQLite file is an intact Voltvend database whose invariants hold. Opens it immutable: not a
/// byte of the file is written, and no journal appears beside it.
pub async fn verify_sqlite_file(path: &Path, clock: Arc<dyn Clock>) -> Result<CheckReport, StoreError> {
    use sqlx::Connection;
    use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection};

    if !path.is_file() {
        return Err(StoreError::Backup(format!("{} is not a file", path.display())));
    }
    if std::fs::metadata(path).map(|m| m.len()).unwrap_or(0) == 0 {
        return Err(StoreError::Backup(format!("{} is empty, not a database", path.display())));
    }
    let not_sqlite = |e: sqlx::Error| StoreError::Backup(format!("{} is not a SQLite database: {e}", path.display()));
    let mut conn =
        SqliteConnection::connect_with(&SqliteConnectOptions::new().filename(path).read_only(true).immutable(true))
            .await
            .map_err(not_sqlite)?;
    let integrity: Vec<String> =
        sqlx::query_scalar("PRAGMA integrity_check").fetch_all(&mut conn).await.map_err(not_sqlite)?;
    conn.close().await.ok();
    if integrity != ["ok"] {
        return Err(StoreError::Backup(format!(
            "{} failed its integrity check: {}",
            path.display(),
            integrity.join("; ")
        )));
    }
    let mut options = OpenOptions::new(&format!("sqlite://{}", path.display()));
    options.max_connections = 1;
    options.read_only = true;
    let store = crate::open(&options, clock).await?;
    let result = async {
        if !store.is_migrated().await? {
            return Err(StoreError::Backup(format!(
                "{} is not a Voltvend database of this version (no current schema)",
                path.display()
            )));
        }
        store.check(CheckScope::Full).await
    }
    .await;
    store.close().await;
    let report = result?;
    if !report.is_ok() {
        return Err(StoreError::Backup(format!("invariants fail in the backup: {}", report.problems.join("; "))));
    }
    Ok(report)
}

/// Verifies a backup of the database `source_url` names without touching that database: a SQLite file is
/// checked immutable in place; a PostgreSQL dump is restored into a scratch database beside the source (the
/// role needs `CREATEDB`), checked, and dropped.
pub async fn verify_backup(from: &Path, source_url: &str, clock: Arc<dyn Clock>) -> Result<CheckReport, StoreError> {
    match crate::backend_of(source_url)? {
        Backend::Sqlite => verify_sqlite_file(from, clock).await,
        Backend::Postgres => {
            if !from.is_file() {
                return Err(StoreError::Backup(format!("{} is not a file", from.display())));
            }
            let scratch = ScratchDatabase::create(source_url).await?;
            let verified = async {
                pg_restore(from, &scratch.url).await?;
                check_url(&scratch.url, clock).await
            }
            .await;
            scratch.drop_it().await;
            verified.map_err(|e| match e {
                StoreError::Restore(m) => StoreError::Backup(m),
                other => other,
            })
        }
    }
}

/// Restores `from` into the database `target_url` names.
///
/// Refuses while a server holds the database, and refuses to replace a database that has a schema unless
/// `force` is set. The backup is verified before anything is touched, and the result afterwards.
pub async fn restore(
    from: &Path,
    target_url: &str,
    force: bool,
    clock: Arc<dyn Clock>,
) -> Result<RestoreReport, StoreError> {
    let result = match crate::backend_of(target_url)? {
        Backend::Sqlite => restore_sqlite(from, target_url, force, clock).await,
        Backend::Postgres => restore_postgres(from, target_url, force, clock).await,
    };
    // Whatever went wrong, the message says it was the restore.
    result.map_err(|e| match e {
        StoreError::Restore(_) | StoreError::Locked(_) => e,
        StoreError::Backup(m) => StoreError::Restore(m),
        other => StoreError::Restore(other.to_string()),
    })
}

async fn restore_sqlite(
    from: &Path,
    target_url: &str,
    force: bool,
    clock: Arc<dyn Clock>,
) -> Result<RestoreReport, StoreError> {
    verify_sqlite_file(from, clock.clone()).await?;
    let target = crate::sqlite_path(target_url)?;
    let _live = hold_lock(&target)?;
    if target.exists() && !force {
        return Err(restore_err(format!(
            "{} already exists; pass --force to replace it (its current contents will be lost)",
            target.display()
        )));
    }
    // Copy beside the target, sync, then rename over it: the target is either the old or the new database.
    let staging = with_suffix(&target, ".restoring");
    std::fs::copy(from, &staging).map_err(|e| restore_err(format!("copy failed: {e}")))?;
    std::fs::File::open(&staging).and_then(|f| f.sync_all()).map_err(restore_err)?;
    for stale in [with_suffix(&target, "-wal"), with_suffix(&target, "-shm")] {
        match std::fs::remove_file(&stale) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(restore_err(format!("cannot remove {}: {e}", stale.display()))),
        }
    }
    std::fs::rename(&staging, &target).map_err(|e| restore_err(format!("cannot replace the target: {e}")))?;
    let check = verify_sqlite_file(&target, clock).await?;
    Ok(RestoreReport { check, restored_to: target.display().to_string() })
}

/// Runs `pg_restore` of `from` into `url`.
async fn pg_restore(from: &Path, url: &str) -> Result<(), StoreError> {
    let output = tokio::process::Command::new("pg_restore")
        .args(["--clean", "--if-exists", "--no-owner", "--exit-on-error", "--single-transaction"])
        .arg(format!("--dbname={url}"))
        .arg(from)
        .stdin(std::process::Stdio::null())
        .output()
        .await
        .map_err(|e| restore_err(format!("cannot run pg_restore (install the PostgreSQL client tools): {e}")))?;
    if !output.status.success() {
        return Err(restore_err(format!("pg_restore failed: {}", String::from_utf8_lossy(&output.stderr).trim())));
    }
    Ok(())
}

/// The full check of the database at `url`, which must hold a current Voltvend schema.
async fn check_url(url: &str, clock: Arc<dyn Clock>) -> Result<CheckReport, StoreError> {
    let store = crate::open(&OpenOptions::new(url), clock).await?;
    let result = async {
        if !store.is_migrated().await? {
            return Err(restore_err("the backup holds no current Voltvend schema"));
        }
        store.check(CheckScope::Full).await
    }
    .await;
    store.close().await;
    let report = result?;
    if !report.is_ok() {
        return Err(restore_err(format!("invariants fail in the restored data: {}", report.problems.join("; "))));
    }
    Ok(report)
}

async fn restore_postgres(
    from: &Path,
    target_url: &str,
    force: bool,
    clock: Arc<dyn Clock>,
) -> Result<RestoreReport, StoreError> {
    if !from.is_file() {
        return Err(restore_err(format!("{} is not a file", from.display())));
    }
    let store = crate::open(&OpenOptions::new(target_url), clock.clone()).await?;
    let result = async {
        let live = store.lock_instance().await?;
        let outcome = async {
            if store.is_migrated().await? && !force {
                return Err(restore_err(format!(
                    "{} already holds a Voltvend database; pass --force to replace it",
                    crate::redact_url(target_url)
                )));
            }
            // First into a scratch database beside the target: a damaged backup never touches the target.
            let scratch = ScratchDatabase::create(target_url).await?;
            let verified = async {
                pg_restore(from, &scratch.url).await?;
                check_url(&scratch.url, clock.clone()).await
            }
            .await;
            scratch.drop_it().await;
            verified?;
            pg_restore(from, target_url).await?;
            let check = check_url(target_url, clock.clone()).await?;
            Ok(RestoreReport { check, restored_to: crate::redact_url(target_url) })
        }
        .await;
        live.release().await;
        outcome
    }
    .await;
    store.close().await;
    result
}

/// A PostgreSQL database created beside another on the same server (to verify a restore, to run pgbench),
/// dropped with [`ScratchDatabase::drop_it`].
#[derive(Debug)]
pub struct ScratchDatabase {
    admin_url: String,
    name: String,
    /// The scratch database's URL.
    pub url: String,
}

impl ScratchDatabase {
    /// Creates an empty database on the server `target_url` points at, named after its database.
    pub async fn create(target_url: &str) -> Result<Self, StoreError> {
        use sqlx::Connection;
        let base = target_url.split('?').next().unwrap_or(target_url);
        let (server, db) = base
            .rsplit_once('/')
            .filter(|(s, _)| s.contains("://"))
            .ok_or_else(|| restore_err("the database URL names no database"))?;
        let name = format!(
            "{}_scratch_{}",
            db.chars().filter(char::is_ascii_alphanumeric).collect::<String>(),
            std::process::id()
        );
        let mut admin =
            sqlx::PgConnection::connect(target_url).await.map_err(|e| restore_err(format!("cannot connect: {e}")))?;
        sqlx::query(&format!("DROP DATABASE IF EXISTS {name}")).execute(&mut admin).await.map_err(restore_err)?;
        sqlx::query(&format!("CREATE DATABASE {name}")).execute(&mut admin).await.map_err(|e| {
            restore_err(format!("a restore is verified in a scratch database first, and creating one failed: {e}"))
        })?;
        admin.close().await.ok();
        Ok(Self { admin_url: target_url.to_string(), url: format!("{server}/{name}"), name })
    }

    pub async fn drop_it(self) {
        use sqlx::Connection;
        if let Ok(mut admin) = sqlx::PgConnection::connect(&self.admin_url).await {
            if let Err(e) =
                sqlx::query(&format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name)).execute(&mut admin).await
            {
                tracing::warn!(error = %e, database = %self.name, "could not drop the scratch database");
            }
            admin.close().await.ok();
        }
    }
}

/// Takes the target's instance lock (a running server holds it) without opening the database.
fn hold_lock(target: &Path) -> Result<std::fs::File, StoreError> {
    if let Some(parent) = target.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(restore_err)?;
    }
    crate::sqlite::lock_database_file(target)
}

pub(crate) fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}
