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
/// Page cache per connection, in KiB.
const SQLITE_CACHE_KIB: u32 = 64 * 1024;

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
            .busy_timeout(Duration::from_millis(BUSY_TIMEOUT_MS))
            // The writer's batches touch index pages all over the hot tables (accounts, ledger accounts,
            // entries by account); SQLite's default 2 MiB page cache would re-read them from the OS each batch.
            .pragma("cache_size", format!("-{}", SQLITE_CACHE_KIB))
            // Checkpoints run beside the writer (see `after_commit`), not inside its commits.
            .pragma("wal_autocheckpoint", "0")
            // Statement journals (for statement-level rollback inside a batch) in memory, not temp files.
            .pragma("temp_store", "memory")
    };
    let pool = SqlitePoolOptions::new()
        .max_connections(options.max_connections.max(1))
        .acquire_timeout(Duration::from_millis(options.connect_timeout_ms))
        .connect_with(connect)
        .await
        .map_err(|e| StoreError::Unavailable(format!("cannot open SQLite database {}: {e}", path.display())))?;
    Ok(pool)
}

/// Background WAL checkpoints: batches committed, whether one is running, and whether the log has grown past
/// [`WAL_FRAMES_MAX`] so that the writer should truncate it before its next batch.
#[derive(Debug, Default)]
struct Checkpoints {
    batches: std::sync::atomic::AtomicU64,
    running: std::sync::atomic::AtomicBool,
    truncate_due: std::sync::atomic::AtomicBool,
    /// After a truncation readers kept from finishing, none is asked for until this many batches are
    /// committed: each attempt holds the writer up to [`WAL_TRUNCATE_WAIT_MS`], and a backup's long read
    /// would otherwise cost it that every few batches.
    quiet_until_batch: std::sync::atomic::AtomicU64,
}

/// Batches between a truncation that readers kept from finishing and the next attempt.
const TRUNCATE_RETRY_BATCHES: u64 = 8 * CHECKPOINT_EVERY_BATCHES;

/// Batches between two checkpoints of the write-ahead log.
const CHECKPOINT_EVERY_BATCHES: u64 = 8;

/// With automatic checkpoints off, the WAL is copied into the database by a passive checkpoint on another
/// connection every few batches: the writer's commit then costs one WAL append and fsync, and the copying
/// (and its fsync of the database file) happens beside it. A passive checkpoint never blocks the writer.
fn after_commit(pool: &Pool<Db>, checkpoints: &Arc<Checkpoints>) {
    use std::sync::atomic::Ordering;
    let n = checkpoints.batches.fetch_add(1, Ordering::Relaxed) + 1;
    if !n.is_multiple_of(CHECKPOINT_EVERY_BATCHES) || checkpoints.running.swap(true, Ordering::AcqRel) {
        return;
    }
    let (pool, checkpoints) = (pool.clone(), checkpoints.clone());
    tokio::spawn(async move {
        match sqlx::query_as::<_, (i64, i64, i64)>("PRAGMA wal_checkpoint(PASSIVE)").fetch_one(&pool).await {
            // Under a steady stream of commits a passive checkpoint never catches up with the end of the log, so
            // SQLite never starts the log over and the file grows without end (35 GB over a million sales).
            // Past a bound the writer truncates it before its next batch (`before_batch`).
            Ok((_, frames, _))
                if frames > WAL_FRAMES_MAX && n >= checkpoints.quiet_until_batch.load(Ordering::Acquire) =>
            {
                checkpoints.truncate_due.store(true, Ordering::Release)
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "WAL checkpoint failed; the next one will try again"),
        }
        checkpoints.running.store(false, Ordering::Release);
    });
}

/// How long a connection waits for a lock another holds.
const BUSY_TIMEOUT_MS: u64 = 30_000;

/// Frames of the write-ahead log past which it is truncated (≈ 64 MiB with 4 KiB pages).
const WAL_FRAMES_MAX: i64 = 16_384;

/// How long a truncation waits for readers of an older snapshot (a backup's `VACUUM INTO` reads for minutes):
/// the writer waits as long, so briefly; a truncation that cannot finish is tried again at the next checkpoint.
const WAL_TRUNCATE_WAIT_MS: u64 = 200;

/// Truncates the write-ahead log when the last checkpoint found it past [`WAL_FRAMES_MAX`], on the writer's own
/// connection between two batches. A truncating checkpoint needs the write lock: taken from beside the writer
/// (as it was), it raced the writer for that lock under load and, when it won, left the writer in SQLite's
/// sleeping busy handler for tens of milliseconds after it was done — 12 % of the writer's time in
/// `bench vend`. Between batches the writer holds no lock, waits only for the readers of an older snapshot,
/// and goes on the moment the log is truncated.
async fn before_batch(conn: &mut Conn, checkpoints: &Checkpoints) {
    use std::sync::atomic::Ordering;
    if !checkpoints.truncate_due.swap(false, Ordering::AcqRel) {
        return;
    }
    let attempt = async {
        sqlx::query(&format!("PRAGMA busy_timeout = {WAL_TRUNCATE_WAIT_MS}")).execute(&mut *conn).await?;
        let done = sqlx::query_as::<_, (i64, i64, i64)>("PRAGMA wal_checkpoint(TRUNCATE)").fetch_one(&mut *conn).await;
        // Back to the connection's own patience for the batches.
        sqlx::query(&format!("PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")).execute(&mut *conn).await?;
        done
    };
    match attempt.await {
        Ok((0, _, _)) => tracing::debug!("write-ahead log truncated"),
        Ok((_, frames, _)) => {
            let batches = checkpoints.batches.load(Ordering::Relaxed);
            checkpoints.quiet_until_batch.store(batches + TRUNCATE_RETRY_BATCHES, Ordering::Release);
            tracing::info!(frames, "write-ahead log not truncated: a reader holds an older snapshot; later")
        }
        Err(e) => tracing::warn!(error = %e, "WAL truncation failed; the next checkpoint will try again"),
    }
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
        Err(std::fs::TryLockError::WouldBlock) => Err(StoreError::Locked(db.display().to_string())),
        Err(std::fs::TryLockError::Error(e)) => {
            Err(StoreError::Unavailable(format!("cannot lock {}: {e}", lock_path.display())))
        }
    }
}

/// The lock file of a database file.
fn lock_path_of(db: &Path) -> PathBuf {
    crate::backup::with_suffix(db, ".lock")
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

#[cfg(test)]
mod tests {
    use std::sync::atomic::Ordering;

    use super::*;

    fn wal_bytes(db: &Path) -> u64 {
        std::fs::metadata(crate::backup::with_suffix(db, "-wal")).map(|m| m.len()).unwrap_or(0)
    }

    /// The writer truncates the log between batches when, and only when, a checkpoint found it too long; a
    /// reader of an older snapshot makes it wait briefly and give up, and the next request succeeds.
    #[tokio::test]
    async fn the_writer_truncates_the_log_when_a_checkpoint_asks() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("wal.sqlite");
        let pool = connect(&OpenOptions::new(&format!("sqlite://{}", db.display())).creating()).await.unwrap();
        let mut writer = pool.acquire().await.unwrap();
        sqlx::query("CREATE TABLE t (x BLOB NOT NULL)").execute(&mut *writer).await.unwrap();
        let fill = async |conn: &mut Conn| {
            for _ in 0..20 {
                sqlx::query("INSERT INTO t VALUES (randomblob(4000))").execute(&mut *conn).await.unwrap();
            }
        };
        fill(&mut writer).await;
        let checkpoints = Checkpoints::default();
        before_batch(&mut writer, &checkpoints).await;
        assert!(wal_bytes(&db) > 20 * 4_000, "not asked: the log is left as it is");

        // A reader inside a transaction on the log's current snapshot, then more frames after it.
        let mut reader = pool.acquire().await.unwrap();
        sqlx::query("BEGIN").execute(&mut *reader).await.unwrap();
        let rows: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM t").fetch_one(&mut *reader).await.unwrap();
        assert_eq!(rows, 20);
        fill(&mut writer).await;
        checkpoints.truncate_due.store(true, Ordering::Release);
        before_batch(&mut writer, &checkpoints).await;
        assert!(wal_bytes(&db) > 0, "the reader's snapshot is still in the log");
        assert!(!checkpoints.truncate_due.load(Ordering::Acquire), "asked again by a later checkpoint, not looped");
        assert_eq!(
            checkpoints.quiet_until_batch.load(Ordering::Acquire),
            TRUNCATE_RETRY_BATCHES,
            "and not before the writer has committed more batches"
        );
        let busy: i64 = sqlx::query_scalar("PRAGMA busy_timeout").fetch_one(&mut *writer).await.unwrap();
        assert_eq!(busy, i64::try_from(BUSY_TIMEOUT_MS).unwrap(), "the writer's patience is restored");

        sqlx::query("COMMIT").execute(&mut *reader).await.unwrap();
        checkpoints.truncate_due.store(true, Ordering::Release);
        before_batch(&mut writer, &checkpoints).await;
        assert_eq!(wal_bytes(&db), 0, "truncated once no reader needs it");
        let rows: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM t").fetch_one(&mut *writer).await.unwrap();
        assert_eq!(rows, 40, "everything is in the database file");
    }
}
