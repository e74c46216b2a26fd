//! The PostgreSQL backend, for deployments larger than one site. Every write transaction first takes a
//! transaction-level advisory lock, so writers — even of two processes on one database, which the instance
//! lock normally prevents — run one after the other and never read the same "next" sequence number.
//! Connections set `synchronous_commit = on` themselves: a server configured otherwise cannot make an
//! acknowledged commit less durable.

use std::process::Stdio;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

type Db = sqlx::Postgres;
type DbRow = sqlx::postgres::PgRow;

const BACKEND: Backend = Backend::Postgres;
const BEGIN_WRITE: &str = "BEGIN";
static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");
/// Advisory-lock key of the live server ("VoltVend" in ASCII).
const INSTANCE_LOCK_KEY: i64 = 0x566F_6C74_5665_6E64;
/// Advisory-lock key that serializes write transactions ("VVwriter").
const WRITER_LOCK_KEY: i64 = 0x5656_7772_6974_6572;

/// Holds the writers' lock until the transaction ends, before anything is read.
async fn serialize_writers(tx: &mut sqlx::Transaction<'_, Db>) -> Result<(), StoreError> {
    sqlx::query("SELECT pg_advisory_xact_lock($1)").bind(WRITER_LOCK_KEY).execute(&mut **tx).await?;
    Ok(())
}

/// The writer's own connection (sqlx keeps its prepared statements).
#[derive(Debug)]
struct WriterConn {
    conn: sqlx::pool::PoolConnection<Db>,
    prepared: Prepared,
}

impl WriterConn {
    fn new(conn: sqlx::pool::PoolConnection<Db>) -> Self {
        Self { conn, prepared: Prepared }
    }
}

/// Nothing beyond sqlx's own statement cache.
#[derive(Debug)]
struct Prepared;

/// A batch's writes as multi-row statements: each is a round trip to the server, so fewer, larger ones.
async fn run_writes(conn: &mut Conn, _prepared: &mut Prepared, writes: &Writes) -> Result<(), sqlx::Error> {
    run_multi_row(conn, writes).await
}

async fn connect(options: &OpenOptions) -> Result<Pool<Db>, StoreError> {
    let connect: PgConnectOptions = options
        .url
        .parse()
        .map_err(|e| StoreError::Config(format!("bad database URL {}: {e}", crate::redact_url(&options.url))))?;
    let connect = connect.options([("synchronous_commit", "on")]);
    let connect = if options.read_only { connect.options([("default_transaction_read_only", "on")]) } else { connect };
    // One connection first: the pool retries a refused connection until its timeout and then says only that
    // it timed out, while the first attempt's error says what is wrong (connection refused, bad password).
    let timeout = Duration::from_millis(options.connect_timeout_ms);
    let unavailable =
        |why: String| StoreError::Unavailable(format!("cannot reach {}: {why}", crate::redact_url(&options.url)));
    match tokio::time::timeout(timeout, sqlx::ConnectOptions::connect(&connect)).await {
        Ok(Ok(conn)) => {
            let _ = sqlx::Connection::close(conn).await;
        }
        Ok(Err(e)) => return Err(unavailable(e.to_string())),
        Err(_) => return Err(unavailable(format!("no answer within {} ms", options.connect_timeout_ms))),
    }
    PgPoolOptions::new()
        .max_connections(options.max_connections.max(1))
        .acquire_timeout(Duration::from_millis(options.connect_timeout_ms))
        .connect_with(connect)
        .await
        .map_err(|e| StoreError::Unavailable(format!("cannot reach {}: {e}", crate::redact_url(&options.url))))
}

/// PostgreSQL checkpoints on its own: nothing to track.
#[derive(Debug, Default)]
struct Checkpoints;

/// PostgreSQL checkpoints on its own.
fn after_commit(_pool: &Pool<Db>, _checkpoints: &Arc<Checkpoints>) {}

/// Nothing to do between batches: PostgreSQL recycles its write-ahead log itself.
async fn before_batch(_conn: &mut Conn, _checkpoints: &Checkpoints) {}

/// What the live connection runs with.
async fn durability_impl(conn: &mut <Db as sqlx::Database>::Connection) -> Result<Durability, StoreError> {
    let synchronous: String = sqlx::query_scalar("SHOW synchronous_commit").fetch_one(&mut *conn).await?;
    let fsync: String = sqlx::query_scalar("SHOW fsync").fetch_one(&mut *conn).await?;
    Ok(Durability { journal_mode: format!("wal (fsync {fsync})"), synchronous })
}

/// A session-level advisory lock held on a connection taken out of the pool for the server's lifetime.
async fn lock_instance_impl(pool: &Pool<Db>, url: &str) -> Result<InstanceLock, StoreError> {
    let mut conn = pool.acquire().await?.detach();
    let got: bool =
        sqlx::query_scalar("SELECT pg_try_advisory_lock($1)").bind(INSTANCE_LOCK_KEY).fetch_one(&mut conn).await?;
    if !got {
        return Err(StoreError::Locked(crate::redact_url(url)));
    }
    Ok(InstanceLock { inner: crate::LockInner::Postgres(conn) })
}

/// `pg_dump --format=custom` gives a consistent snapshot while the server runs.
async fn backup_impl(_pool: &Pool<Db>, url: &str, dir: &Path, stamp: &str) -> Result<PathBuf, StoreError> {
    std::fs::create_dir_all(dir).map_err(|e| StoreError::Backup(format!("cannot create {}: {e}", dir.display())))?;
    let target = dir.join(format!("voltvend-{stamp}.pgdump"));
    if target.exists() {
        return Err(StoreError::Backup(format!("{} already exists", target.display())));
    }
    let output = tokio::process::Command::new("pg_dump")
        .arg("--format=custom")
        .arg("--no-owner")
        .arg(format!("--file={}", target.display()))
        .arg(format!("--dbname={url}"))
        .stdin(Stdio::null())
        .output()
        .await
        .map_err(|e| StoreError::Backup(format!("cannot run pg_dump (install the PostgreSQL client tools): {e}")))?;
    if !output.status.success() {
        let _ = std::fs::remove_file(&target);
        return Err(StoreError::Backup(format!("pg_dump failed: {}", String::from_utf8_lossy(&output.stderr).trim())));
    }
    Ok(target)
}

include!("shared/mod.rs");
