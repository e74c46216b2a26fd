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

/// The writer's own connection, and the statements it keeps prepared on that connection's handle.
#[derive(Debug)]
struct WriterConn {
    // Before `conn`, so that even dropped as a field it would go before the connection.
    prepared: Prepared,
    conn: sqlx::pool::PoolConnection<Db>,
}

impl WriterConn {
    fn new(conn: sqlx::pool::PoolConnection<Db>) -> Self {
        Self { prepared: Prepared(None), conn }
    }
}

/// The writer's statements, prepared on its connection's handle (see [`run_writes`]); `None` until the first
/// batch. Used only while sqlx's lock on the handle is held.
struct Prepared(Option<rusqlite::Connection>);

impl std::fmt::Debug for Prepared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Prepared").field(&self.0.is_some()).finish()
    }
}

impl Drop for WriterConn {
    /// Finalizes the prepared statements before the connection goes back to the pool: sqlx cannot close a
    /// handle that still has statements (it panics), and only the lock makes it safe to touch them. The wait
    /// is one round trip to the connection's own thread, which needs no async runtime; it only happens when
    /// the writer drops its connection (after an error, or when it stops).
    fn drop(&mut self) {
        if let Some(statements) = self.prepared.0.take() {
            // If the connection's thread is gone, nothing else can use the handle any more either.
            let locked = futures_executor::block_on(self.conn.lock_handle());
            drop(statements);
            drop(locked);
        }
    }
}

/// A batch's writes, run on the writer connection's own SQLite handle in one go, a row at a time.
///
/// Through sqlx every statement is a round trip to the thread that owns the connection (a channel send and
/// a wake-up each way); a sale's batch runs dozens of statements, and those round trips were most of the
/// writer's time in `write` (docs/performance.md). sqlx lends its handle for direct calls (`lock_handle`):
/// its thread waits until the lock is dropped. Here one lock covers the whole batch, and each statement is
/// prepared once per connection and then stepped once per row.
async fn run_writes(conn: &mut Conn, prepared: &mut Prepared, writes: &Writes) -> Result<(), sqlx::Error> {
    let mut locked = conn.lock_handle().await?;
    let handle = locked.as_raw_handle();
    // Milliseconds usually, more for a large batch: tell a multi-threaded runtime so that it moves its other
    // tasks off this thread meanwhile. (Tests run on a current-thread runtime.)
    if tokio::runtime::Handle::current().runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread {
        tokio::task::block_in_place(|| raw_writes::run(handle, prepared, writes))
    } else {
        raw_writes::run(handle, prepared, writes)
    }
}

mod raw_writes {
    use std::fmt::Write as _;
    use std::ptr::NonNull;

    use rusqlite::types::{ToSqlOutput, ValueRef};

    use super::{Prepared, Value, Writes};

    /// Statements kept prepared on the writer's connection: more than the writer ever writes to.
    const STATEMENTS_KEPT: usize = 256;

    /// Runs every statement of `writes`, in order, on `handle`.
    ///
    /// The caller holds sqlx's lock on `handle` for as long as this runs, so nothing else uses the connection.
    #[allow(unsafe_code)]
    pub(super) fn run(
        handle: NonNull<rusqlite::ffi::sqlite3>,
        prepared: &mut Prepared,
        writes: &Writes,
    ) -> Result<(), sqlx::Error> {
        let db = match &mut prepared.0 {
            Some(db) => {
                // SAFETY: only reads the pointer the wrapper was made from.
                debug_assert_eq!(unsafe { db.handle() }, handle.as_ptr(), "statements of another connection");
                db
            }
            slot @ None => {
                // SAFETY: the handle is open (the writer's connection owns it and outlives `prepared`, which
                // `WriterConn` drops first, under the lock) and it is used only while sqlx's lock on it is
                // held, so by one thread at a time. `from_handle` does not take ownership: dropping the
                // `rusqlite::Connection` finalizes its statements and leaves the handle open.
                let db = unsafe { rusqlite::Connection::from_handle(handle.as_ptr()) }.map_err(refused)?;
                db.set_prepared_statement_cache_capacity(STATEMENTS_KEPT);
                slot.insert(db)
            }
        };
        let mut sql = String::new();
        for s in &writes.0 {
            let width = s.rows.first().map_or(0, |r| r.0.len());
            sql.clear();
            let _ = write!(sql, "{} VALUES (", s.head);
            for i in 1..=width {
                let _ = write!(sql, "{}?{i}", if i > 1 { ", " } else { "" });
            }
            let _ = write!(sql, "){}", s.tail);
            let mut statement = db.prepare_cached(&sql).map_err(refused)?;
            for row in &s.rows {
                for (i, v) in row.0.iter().enumerate() {
                    statement.raw_bind_parameter(i + 1, sql_value(v)).map_err(refused)?;
                }
                statement.raw_execute().map_err(refused)?;
            }
        }
        Ok(())
    }

    /// A value as sqlx would store it in SQLite: a UUID as its 16 bytes, a boolean as 0 or 1.
    fn sql_value(v: &Value) -> ToSqlOutput<'_> {
        let value = match v {
            Value::Int(Some(x)) => ValueRef::Integer(*x),
            Value::Bool(Some(x)) => ValueRef::Integer(i64::from(*x)),
            Value::Text(Some(x)) => ValueRef::Text(x.as_bytes()),
            Value::Blob(Some(x)) => ValueRef::Blob(x),
            Value::Uuid(Some(x)) => ValueRef::Blob(x.as_bytes()),
            Value::Int(None) | Value::Bool(None) | Value::Text(None) | Value::Blob(None) | Value::Uuid(None) => {
                ValueRef::Null
            }
        };
        ToSqlOutput::Borrowed(value)
    }

    /// SQLite's refusal as sqlx reports one: a database error, so that the writer retries the batch an
    /// operation at a time and refuses only the operation at fault.
    fn refused(e: rusqlite::Error) -> sqlx::Error {
        let code = match &e {
            rusqlite::Error::SqliteFailure(f, _) => Some(f.extended_code),
            _ => None,
        };
        sqlx::Error::Database(Box::new(RawError { code, message: e.to_string() }))
    }

    #[derive(Debug)]
    struct RawError {
        code: Option<i32>,
        message: String,
    }

    impl std::fmt::Display for RawError {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str(&self.message)
        }
    }

    impl std::error::Error for RawError {}

    impl sqlx::error::DatabaseError for RawError {
        fn message(&self) -> &str {
            &self.message
        }

        fn code(&self) -> Option<std::borrow::Cow<'_, str>> {
            self.code.map(|c| c.to_string().into())
        }

        fn as_error(&self) -> &(dyn std::error::Error + Send + Sync + 'static) {
            self
        }

        fn as_error_mut(&mut self) -> &mut (dyn std::error::Error + Send + Sync + 'static) {
            self
        }

        fn into_error(self: Box<Self>) -> Box<dyn std::error::Error + Send + Sync + 'static> {
            self
        }

        fn kind(&self) -> sqlx::error::ErrorKind {
            use rusqlite::ffi;
            match self.code {
                Some(ffi::SQLITE_CONSTRAINT_UNIQUE | ffi::SQLITE_CONSTRAINT_PRIMARYKEY) => {
                    sqlx::error::ErrorKind::UniqueViolation
                }
                Some(ffi::SQLITE_CONSTRAINT_FOREIGNKEY) => sqlx::error::ErrorKind::ForeignKeyViolation,
                Some(ffi::SQLITE_CONSTRAINT_NOTNULL) => sqlx::error::ErrorKind::NotNullViolation,
                Some(ffi::SQLITE_CONSTRAINT_CHECK) => sqlx::error::ErrorKind::CheckViolation,
                _ => sqlx::error::ErrorKind::Other,
            }
        }
    }
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

    const KINDS: &str =
        "CREATE TABLE kinds (id BLOB PRIMARY KEY, n INTEGER, flag INTEGER, label TEXT, raw BLOB, other BLOB)";

    /// Rows of every kind of value, NULLs among them, then an upsert of one of them and an UPDATE … FROM
    /// (VALUES …) as the writer's balances use.
    fn kinds_writes(ids: &[Uuid]) -> Writes {
        let mut w = Writes::default();
        let rows: Vec<KindsRow> = vec![
            (ids[0], Some(-7), true, Some("电费 ok".into()), vec![0, 1, 2], Some(ids[1])),
            (ids[1], None, false, None, vec![], None),
            (ids[2], Some(i64::MAX), true, Some(String::new()), vec![255; 40], Some(ids[0])),
        ];
        w.insert("INSERT INTO kinds (id, n, flag, label, raw, other)", "", &rows, |b, r| {
            b.push_bind(r.0).push_bind(r.1).push_bind(r.2).push_bind(r.3.clone()).push_bind(r.4.clone()).push_bind(r.5);
        });
        w.insert(
            "INSERT INTO kinds (id, n, flag, label, raw, other)",
            " ON CONFLICT (id) DO UPDATE SET n = excluded.n, label = excluded.label",
            &[(ids[1], 42_i64)],
            |b, r| {
                b.push_bind(r.0)
                    .push_bind(r.1)
                    .push_bind(false)
                    .push_bind("upserted")
                    .push_bind(Vec::new())
                    .push_bind(None::<Uuid>);
            },
        );
        w.insert(
            "UPDATE kinds SET n = v.column2 FROM (",
            ") AS v WHERE kinds.id = v.column1",
            &[(ids[2], 5_i64)],
            |b, r| {
                b.push_bind(r.0).push_bind(r.1);
            },
        );
        w
    }

    type KindsRow = (Uuid, Option<i64>, bool, Option<String>, Vec<u8>, Option<Uuid>);

    async fn kinds(conn: &mut Conn) -> Vec<KindsRow> {
        sqlx::query_as("SELECT id, n, flag, label, raw, other FROM kinds ORDER BY id")
            .fetch_all(&mut *conn)
            .await
            .unwrap()
    }

    /// The writer's own way of writing (statements on the connection's handle, a row at a time) stores exactly
    /// what sqlx's multi-row statements store, in the encodings sqlx reads back: the same rows, read the same.
    #[tokio::test]
    async fn the_writers_statements_store_what_sqlx_would() {
        let dir = tempfile::tempdir().unwrap();
        let open = async |name: &str| {
            let mut options = OpenOptions::new(&format!("sqlite://{}", dir.path().join(name).display())).creating();
            options.max_connections = 1;
            let pool = connect(&options).await.unwrap();
            let mut conn = pool.acquire().await.unwrap();
            sqlx::query(KINDS).execute(&mut *conn).await.unwrap();
            (pool, conn)
        };
        let ids: Vec<Uuid> = (1..=3_u128).map(Uuid::from_u128).collect();
        let writes = kinds_writes(&ids);

        let (_by_sqlx_pool, mut by_sqlx) = open("sqlx.sqlite").await;
        run_multi_row(&mut by_sqlx, &writes).await.unwrap();
        let (pool, conn) = open("writer.sqlite").await;
        let mut writer = WriterConn::new(conn);
        run_writes(&mut writer.conn, &mut writer.prepared, &writes).await.unwrap();

        let expected = kinds(&mut by_sqlx).await;
        assert_eq!(expected.len(), 3);
        assert_eq!(expected[1].1, Some(42), "upserted");
        assert_eq!(expected[2].1, Some(5), "updated from the VALUES list");
        assert_eq!(kinds(&mut writer.conn).await, expected);
        // Stored as the same SQLite types, not only read back alike (a BLOB column reads TEXT too).
        assert_eq!(storage_types(&mut writer.conn).await, storage_types(&mut by_sqlx).await);

        // A refusal is a database error (the writer's cue to retry operation by operation), with what SQLite
        // said; the connection and its statements go on working after it.
        let Err(sqlx::Error::Database(e)) = run_writes(&mut writer.conn, &mut writer.prepared, &writes).await else {
            panic!("a duplicate key is refused");
        };
        assert_eq!(e.kind(), sqlx::error::ErrorKind::UniqueViolation, "{e}");
        assert!(e.message().contains("UNIQUE constraint failed: kinds.id"), "{e}");
        let more: Vec<Uuid> = (4..=6_u128).map(Uuid::from_u128).collect();
        run_writes(&mut writer.conn, &mut writer.prepared, &kinds_writes(&more)).await.unwrap();
        assert_eq!(kinds(&mut writer.conn).await.len(), 6);

        // Its statements are finalized when the writer lets the connection go: the pool's one connection then
        // closes cleanly (sqlx's thread panics closing a handle with statements left, and the close fails).
        drop(writer);
        use sqlx::Connection as _;
        let conn = pool.acquire().await.unwrap().detach();
        conn.close().await.expect("closed with no statement left");
        pool.close().await;
    }

    async fn storage_types(conn: &mut Conn) -> Vec<(String, String, String, String, String, String)> {
        sqlx::query_as(
            "SELECT typeof(id), typeof(n), typeof(flag), typeof(label), typeof(raw), typeof(other) FROM kinds \
             ORDER BY id",
        )
        .fetch_all(&mut *conn)
        .await
        .unwrap()
    }

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
