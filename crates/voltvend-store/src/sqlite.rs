//! The SQLite backend: one file, WAL journal, `synchronous=FULL` so that a committed transaction survives
//! power loss (in WAL mode, NORMAL would only survive a process crash), foreign keys on.

use std::fs::File;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};

type Db = sqlx::Sqlite;
type DbRow = sqlx::sqlite::SqliteRow;

const BACKEND: Backend = Backend::Sqlite;
/// Take the write lock up front so a batch never fails half-way with SQLITE_BUSY on lock upgrade. It also
/// serializes writers of different processes: a second writer waits (busy timeout) for the first's commit.
const BEGIN_WRITE: &str = "BEGIN IMMEDIATE";
static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

/// `BEGIN IMMEDIATE` already holds the database's write lock.
async fn serialize_writers(_tx: &mut sqlx::Transaction<'_, Db>) -> Result<(), StoreError> {
    Ok(())
}

async fn connect(options: &OpenOptions) -> Result<Pool<Db>, StoreError> {
    let path = crate::sqlite_path(&options.url)?;
    if !path.is_file() {
        if !options.create_if_missing || options.read_only {
            return Err(StoreError::NoDatabase(format!(
                "no database at {} (`voltvend migrate` creates one; check the URL)",
                path.display()
            )));
        }
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)
                .map_err(|e| StoreError::Unavailable(format!("cannot create {}: {e}", parent.display())))?;
        }
    }
    let connect = if options.read_only {
        // Immutable: SQLite writes nothing at all (no journal, no -wal/-shm), so verifying a backup cannot
        // change it. Only for files nothing else writes to.
        SqliteConnectOptions::new().filename(&path).read_only(true).immutable(true)
    } else {
        SqliteConnectOptions::new()
            .filename(&path)
            .create_if_missing(options.create_if_missing)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(30))
    };
    let pool = SqlitePoolOptions::new()
        .max_connections(options.max_connections.max(1))
        .acquire_timeout(Duration::from_millis(options.connect_timeout_ms))
        .connect_with(connect)
        .await
        .map_err(|e| StoreError::Unavailable(format!("cannot open SQLite database {}: {e}", path.display())))?;
    Ok(pool)
}

/// What the live connection runs with: `journal_mode` and `synchronous` (2 = FULL).
async fn durability_impl(conn: &mut <Db as sqlx::Database>::Connection) -> Result<Durability, StoreError> {
    let journal_mode: String = sqlx::query_scalar("PRAGMA journal_mode").fetch_one(&mut *conn).await?;
    let synchronous: i64 = sqlx::query_scalar("PRAGMA synchronous").fetch_one(&mut *conn).await?;
    Ok(Durability { journal_mode, synchronous: synchronous.to_string() })
}

/// A `<database>.lock` file held with an exclusive OS lock for as long as the server runs.
async fn lock_instance_impl(_pool: &Pool<Db>, url: &str) -> Result<InstanceLock, StoreError> {
    let file = lock_database_file(&crate::sqlite_path(url)?)?;
    Ok(InstanceLock { inner: crate::LockInner::File(file) })
}

/// Takes the exclusive lock of a database file's `.lock` companion, creating it if needed. Both the server
/// and `restore` use it, so a restore can never replace a database a server holds.
pub(crate) fn lock_database_file(db: &Path) -> Result<File, StoreError> {
    let lock_path = lock_path_of(db);
    let file = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(|e| StoreError::Unavailable(format!("cannot open {}: {e}", lock_path.display())))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => {
            Err(StoreError::Locked(format!("{}; stop the server first", db.display())))
        }
        Err(std::fs::TryLockError::Error(e)) => {
            Err(StoreError::Unavailable(format!("cannot lock {}: {e}", lock_path.display())))
        }
    }
}

/// The lock file of a database file.
fn lock_path_of(db: &Path) -> PathBuf {
    let mut name = db.as_os_str().to_owned();
    name.push(".lock");
    PathBuf::from(name)
}

/// `VACUUM INTO` writes a consistent, compacted copy from one read transaction while writers go on.
async fn backup_impl(pool: &Pool<Db>, _url: &str, dir: &Path, stamp: &str) -> Result<PathBuf, StoreError> {
    std::fs::create_dir_all(dir).map_err(|e| StoreError::Backup(format!("cannot create {}: {e}", dir.display())))?;
    let target = dir.join(format!("voltvend-{stamp}.sqlite"));
    if target.exists() {
        return Err(StoreError::Backup(format!("{} already exists", target.display())));
    }
    let target_str =
        target.to_str().ok_or_else(|| StoreError::Backup(format!("path is not UTF-8: {}", target.display())))?;
    sqlx::query("VACUUM INTO $1")
        .bind(target_str)
        .execute(pool)
        .await
        .map_err(|e| StoreError::Backup(e.to_string()))?;
    // VACUUM INTO does not fsync its output; do it so the backup itself is durable.
    File::open(&target).and_then(|f| f.sync_all()).map_err(|e| StoreError::Backup(e.to_string()))?;
    Ok(target)
}

include!("shared/mod.rs");
