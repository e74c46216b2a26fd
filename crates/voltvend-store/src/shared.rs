// The SQL body shared by both backends. It is `include!`d into `sqlite.rs` and `postgres.rs`, each of which
// defines `Db`, `DbRow`, `BACKEND`, `BEGIN_WRITE`, `LOCK_ROWS`, `MIGRATOR`, `connect`, `lock_instance_impl`
// and `backup_impl`. Queries use `$n` placeholders in order of appearance, which both engines accept.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use jiff::Timestamp;
use sqlx::{Pool, QueryBuilder, Row};
use uuid::Uuid;
use voltvend_domain::clock::{timestamp_from_us, timestamp_us};
use voltvend_domain::ledger::Balance;
use voltvend_domain::tariff::pricing::PricingState;
use voltvend_domain::{
    Account, AccountId, Clock, CtVtRatio, Currency, Customer, CustomerId, LedgerAccount, LedgerAccountId,
    LedgerAccountKind, LedgerBook, LedgerError, Meter, MeterId, Operator, OperatorId, Owner, PostOutcome, Posting,
    Premises, PremisesId, Side, Transfer, TransferId, TransferRequest,
};

use crate::writer::{BatchSink, LedgerWriter, WriterStats};
use crate::{Backend, Counts, InstanceLock, LedgerReport, OpenOptions, StatementLine, Store, StoreError, TariffDocument};

/// Rows per multi-row INSERT: keeps every statement under both engines' bound-parameter limits.
const INSERT_CHUNK_ROWS: usize = 500;

#[derive(Debug)]
pub(crate) struct SqlStore {
    pool: Pool<Db>,
    writer: LedgerWriter,
    url: String,
    clock: Arc<dyn Clock>,
}

impl SqlStore {
    pub(crate) async fn open(options: &OpenOptions, clock: Arc<dyn Clock>) -> Result<Self, StoreError> {
        let pool = connect(options).await?;
        let writer = LedgerWriter::spawn(Sink { pool: pool.clone() }, clock.clone(), options.writer);
        Ok(Self { pool, writer, url: options.url.clone(), clock })
    }

    /// Creation stamp for reference rows.
    fn now_us(&self) -> i64 {
        timestamp_us(self.clock.now())
    }
}

fn corrupt(what: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("{what}: {e}"))
}

fn path_key(path: &[PremisesId]) -> String {
    path.iter().map(|id| id.to_string()).collect::<Vec<_>>().join("/")
}

fn premises_from_row(row: &DbRow) -> Result<Premises, StoreError> {
    let path: String = row.try_get("path")?;
    let path = path
        .split('/')
        .map(|s| s.parse::<PremisesId>().map_err(|e| corrupt("premises path", e)))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Premises {
        id: PremisesId::from_uuid(row.try_get("id")?),
        parent: row.try_get::<Option<Uuid>, _>("parent_id")?.map(PremisesId::from_uuid),
        level: row.try_get::<String, _>("level")?.parse().map_err(|e| corrupt("premises level", e))?,
        name: row.try_get("name")?,
        time_zone: row.try_get("time_zone")?,
        path,
    })
}

fn customer_from_row(row: &DbRow) -> Result<Customer, StoreError> {
    Ok(Customer {
        id: CustomerId::from_uuid(row.try_get("id")?),
        premises_id: PremisesId::from_uuid(row.try_get("premises_id")?),
        name: row.try_get("name")?,
        phone: row.try_get("phone")?,
    })
}

fn account_from_row(row: &DbRow) -> Result<Account, StoreError> {
    Ok(Account {
        id: AccountId::from_uuid(row.try_get("id")?),
        customer_id: CustomerId::from_uuid(row.try_get("customer_id")?),
        premises_id: PremisesId::from_uuid(row.try_get("premises_id")?),
        billing_mode: row.try_get::<String, _>("billing_mode")?.parse().map_err(|e| corrupt("billing mode", e))?,
        status: row.try_get::<String, _>("status")?.parse().map_err(|e| corrupt("account status", e))?,
        currency: currency_from(row.try_get("currency")?)?,
    })
}

fn currency_from(code: String) -> Result<Currency, StoreError> {
    Currency::from_code(&code).map_err(|e| corrupt("currency", e))
}

fn meter_from_row(row: &DbRow) -> Result<Meter, StoreError> {
    let ratio = |col: &str| -> Result<u32, StoreError> {
        u32::try_from(row.try_get::<i64, _>(col)?).map_err(|e| corrupt("ratio", e))
    };
    Ok(Meter {
        id: MeterId::from_uuid(row.try_get("id")?),
        serial: row.try_get("serial")?,
        utility: row.try_get::<String, _>("utility")?.parse().map_err(|e| corrupt("utility", e))?,
        control_mode: row.try_get::<String, _>("control_mode")?.parse().map_err(|e| corrupt("control mode", e))?,
        protocol: row.try_get::<String, _>("protocol")?.parse().map_err(|e| corrupt("protocol", e))?,
        address: row.try_get("address")?,
        ratio: CtVtRatio::new(ratio("ct_ratio")?, ratio("vt_ratio")?).map_err(|e| corrupt("ratio", e))?,
        state: row.try_get::<String, _>("state")?.parse().map_err(|e| corrupt("meter state", e))?,
        premises_id: row.try_get::<Option<Uuid>, _>("premises_id")?.map(PremisesId::from_uuid),
        account_id: row.try_get::<Option<Uuid>, _>("account_id")?.map(AccountId::from_uuid),
    })
}

fn operator_from_row(row: &DbRow) -> Result<Operator, StoreError> {
    Ok(Operator {
        id: OperatorId::from_uuid(row.try_get("id")?),
        username: row.try_get("username")?,
        display_name: row.try_get("display_name")?,
        role: row.try_get::<String, _>("role")?.parse().map_err(|e| corrupt("role", e))?,
        scope: PremisesId::from_uuid(row.try_get("scope_id")?),
        password_hash: row.try_get("password_hash")?,
        active: row.try_get("active")?,
    })
}

const LEDGER_ACCOUNT_COLUMNS: &str =
    "id, kind, owner, premises_id, currency, overdraft_limit_minor, debits_posted_minor, credits_posted_minor";

fn ledger_account_from_row(row: &DbRow) -> Result<(LedgerAccount, Balance), StoreError> {
    let account = LedgerAccount {
        id: LedgerAccountId::from_uuid(row.try_get("id")?),
        kind: row.try_get::<String, _>("kind")?.parse().map_err(|e| corrupt("ledger kind", e))?,
        owner: row.try_get::<String, _>("owner")?.parse().map_err(|e| corrupt("ledger owner", e))?,
        premises_id: PremisesId::from_uuid(row.try_get("premises_id")?),
        currency: currency_from(row.try_get("currency")?)?,
        overdraft_limit_minor: row.try_get("overdraft_limit_minor")?,
    };
    let balance =
        Balance { debits_minor: row.try_get("debits_posted_minor")?, credits_minor: row.try_get("credits_posted_minor")? };
    Ok((account, balance))
}

/// Loads transfers (with their postings) whose ids are in `ids`.
async fn load_transfers(
    conn: &mut <Db as sqlx::Database>::Connection,
    ids: &[TransferId],
) -> Result<Vec<Transfer>, StoreError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let mut transfers = Vec::new();
    for chunk in ids.chunks(INSERT_CHUNK_ROWS) {
        let mut q = QueryBuilder::<Db>::new(
            "SELECT seq, id, kind, currency, corrects_id, memo, posted_at_us FROM transfers WHERE id IN (",
        );
        let mut list = q.separated(", ");
        for id in chunk {
            list.push_bind(id.as_uuid());
        }
        q.push(")");
        for row in q.build().fetch_all(&mut *conn).await? {
            transfers.push(Transfer {
                request: TransferRequest {
                    id: TransferId::from_uuid(row.try_get("id")?),
                    kind: row.try_get::<String, _>("kind")?.parse().map_err(|e| corrupt("transfer kind", e))?,
                    currency: currency_from(row.try_get("currency")?)?,
                    postings: Vec::new(),
                    corrects: row.try_get::<Option<Uuid>, _>("corrects_id")?.map(TransferId::from_uuid),
                    memo: row.try_get("memo")?,
                },
                seq: row.try_get("seq")?,
                posted_at: timestamp_from_us(row.try_get("posted_at_us")?),
            });
        }
    }
    for chunk in transfers.chunks_mut(INSERT_CHUNK_ROWS) {
        let mut q = QueryBuilder::<Db>::new(
            "SELECT transfer_seq, idx, account_id, amount_minor FROM entries WHERE transfer_seq IN (",
        );
        let mut list = q.separated(", ");
        for t in chunk.iter() {
            list.push_bind(t.seq);
        }
        q.push(") ORDER BY transfer_seq, idx");
        let rows = q.build().fetch_all(&mut *conn).await?;
        let by_seq: std::collections::HashMap<i64, usize> = chunk.iter().enumerate().map(|(i, t)| (t.seq, i)).collect();
        for row in rows {
            let seq: i64 = row.try_get("transfer_seq")?;
            let amount: i64 = row.try_get("amount_minor")?;
            let posting = Posting {
                account: LedgerAccountId::from_uuid(row.try_get("account_id")?),
                side: if amount > 0 { Side::Debit } else { Side::Credit },
                amount_minor: amount.checked_abs().ok_or_else(|| corrupt("entry", "amount out of range"))?,
            };
            if let Some(t) = by_seq.get(&seq).and_then(|i| chunk.get_mut(*i)) {
                t.request.postings.push(posting);
            }
        }
    }
    Ok(transfers)
}

/// Applies one batch of transfer requests inside one write transaction.
#[derive(Debug)]
struct Sink {
    pool: Pool<Db>,
}

impl BatchSink for Sink {
    async fn apply(
        &self,
        batch: Vec<TransferRequest>,
        at: Timestamp,
    ) -> Result<Vec<Result<PostOutcome, LedgerError>>, StoreError> {
        let mut tx = self.pool.begin_with(BEGIN_WRITE).await?;

        // 1. Load the state the batch touches into a book: accounts (locked where the engine supports it),
        //    transfers whose ids are reused or corrected, and the last sequence number.
        let mut account_ids: Vec<Uuid> =
            batch.iter().flat_map(|r| r.postings.iter().map(|p| p.account.as_uuid())).collect();
        account_ids.sort_unstable();
        account_ids.dedup();
        let mut transfer_ids: Vec<TransferId> = batch.iter().flat_map(|r| [Some(r.id), r.corrects]).flatten().collect();
        transfer_ids.sort_unstable();
        transfer_ids.dedup();

        let last_seq: i64 = sqlx::query_scalar("SELECT COALESCE(MAX(seq), 0) FROM transfers").fetch_one(&mut *tx).await?;
        let mut book = LedgerBook::after_seq(last_seq);
        for chunk in account_ids.chunks(INSERT_CHUNK_ROWS) {
            let mut q = QueryBuilder::<Db>::new(format!("SELECT {LEDGER_ACCOUNT_COLUMNS} FROM ledger_accounts WHERE id IN ("));
            let mut list = q.separated(", ");
            for id in chunk {
                list.push_bind(*id);
            }
            q.push(")");
            q.push(LOCK_ROWS);
            for row in q.build().fetch_all(&mut *tx).await? {
                let (account, balance) = ledger_account_from_row(&row)?;
                book.load_account(account, balance);
            }
        }
        for transfer in load_transfers(&mut tx, &transfer_ids).await? {
            book.load_transfer(transfer);
        }

        // 2. Post every request through the domain's rules.
        let results: Vec<_> = batch.into_iter().map(|request| book.post(request, at)).collect();
        let (transfers, balances) = book.drain_changes();

        // 3. Write what was committed, then commit once.
        for chunk in transfers.chunks(INSERT_CHUNK_ROWS) {
            let mut q = QueryBuilder::<Db>::new(
                "INSERT INTO transfers (seq, id, kind, currency, corrects_id, memo, posted_at_us) ",
            );
            q.push_values(chunk, |mut row, t| {
                row.push_bind(t.seq)
                    .push_bind(t.request.id.as_uuid())
                    .push_bind(t.request.kind.as_str())
                    .push_bind(t.request.currency.code().to_string())
                    .push_bind(t.request.corrects.map(|c| c.as_uuid()))
                    .push_bind(t.request.memo.clone())
                    .push_bind(timestamp_us(t.posted_at));
            });
            q.build().execute(&mut *tx).await?;
        }
        let entries: Vec<(i64, i64, Uuid, i64)> = transfers
            .iter()
            .flat_map(|t| {
                t.request.postings.iter().enumerate().map(move |(idx, p)| {
                    let signed = match p.side {
                        Side::Debit => p.amount_minor,
                        Side::Credit => -p.amount_minor,
                    };
                    (t.seq, idx as i64, p.account.as_uuid(), signed)
                })
            })
            .collect();
        for chunk in entries.chunks(INSERT_CHUNK_ROWS) {
            let mut q = QueryBuilder::<Db>::new("INSERT INTO entries (transfer_seq, idx, account_id, amount_minor) ");
            q.push_values(chunk, |mut row, (seq, idx, account, amount)| {
                row.push_bind(*seq).push_bind(*idx).push_bind(*account).push_bind(*amount);
            });
            q.build().execute(&mut *tx).await?;
        }
        for (id, balance) in balances {
            sqlx::query("UPDATE ledger_accounts SET debits_posted_minor = $1, credits_posted_minor = $2 WHERE id = $3")
                .bind(balance.debits_minor)
                .bind(balance.credits_minor)
                .bind(id.as_uuid())
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(results)
    }
}

#[async_trait]
impl Store for SqlStore {
    fn backend(&self) -> Backend {
        BACKEND
    }

    async fn migrate(&self) -> Result<(), StoreError> {
        MIGRATOR.run(&self.pool).await.map_err(|e| StoreError::Database(format!("migration failed: {e}")))
    }

    async fn is_migrated(&self) -> Result<bool, StoreError> {
        let applied: Vec<i64> = match sqlx::query_scalar("SELECT version FROM _sqlx_migrations WHERE success")
            .fetch_all(&self.pool)
            .await
        {
            Ok(v) => v,
            // No migrations table: an empty (or foreign) database.
            Err(sqlx::Error::Database(_)) => return Ok(false),
            Err(e) => return Err(e.into()),
        };
        Ok(MIGRATOR.iter().all(|m| applied.contains(&m.version)))
    }

    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    async fn counts(&self) -> Result<Counts, StoreError> {
        let row = sqlx::query(
            "SELECT (SELECT COUNT(*) FROM premises) AS premises, (SELECT COUNT(*) FROM customers) AS customers, \
             (SELECT COUNT(*) FROM accounts) AS accounts, (SELECT COUNT(*) FROM meters) AS meters, \
             (SELECT COUNT(*) FROM operators) AS operators, (SELECT COUNT(*) FROM ledger_accounts) AS ledger_accounts, \
             (SELECT COUNT(*) FROM transfers) AS transfers",
        )
        .fetch_one(&self.pool)
        .await?;
        Ok(Counts {
            premises: row.try_get("premises")?,
            customers: row.try_get("customers")?,
            accounts: row.try_get("accounts")?,
            meters: row.try_get("meters")?,
            operators: row.try_get("operators")?,
            ledger_accounts: row.try_get("ledger_accounts")?,
            transfers: row.try_get("transfers")?,
        })
    }

    async fn insert_premises(&self, p: &Premises) -> Result<(), StoreError> {
        if let Some(parent) = p.parent {
            // The parent must exist and the path must extend it: the tree cannot be corrupted through here.
            let parent = self.premises(parent).await?;
            if p.path.len() != parent.path.len() + 1 || !p.path.starts_with(&parent.path) || !parent.level.may_contain(p.level) {
                return Err(StoreError::Config(format!("premises {} does not fit under {}", p.id, parent.id)));
            }
        }
        sqlx::query(
            "INSERT INTO premises (id, parent_id, level, name, time_zone, path, created_at_us) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(p.id.as_uuid())
        .bind(p.parent.map(|id| id.as_uuid()))
        .bind(p.level.as_str())
        .bind(&p.name)
        .bind(&p.time_zone)
        .bind(path_key(&p.path))
        .bind(self.now_us())
        .execute(&self.pool)
        .await
        .map_err(StoreError::db("premises", p.id))?;
        Ok(())
    }

    async fn premises(&self, id: PremisesId) -> Result<Premises, StoreError> {
        let row = sqlx::query("SELECT * FROM premises WHERE id = $1").bind(id.as_uuid()).fetch_optional(&self.pool).await?;
        row.as_ref().map(premises_from_row).transpose()?.ok_or(StoreError::NotFound { what: "premises", id: id.to_string() })
    }

    async fn premises_subtree(&self, root: PremisesId) -> Result<Vec<Premises>, StoreError> {
        let root = self.premises(root).await?;
        let key = path_key(&root.path);
        let rows = sqlx::query("SELECT * FROM premises WHERE path = $1 OR path LIKE $2 ORDER BY length(path), name")
            .bind(&key)
            .bind(format!("{key}/%"))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(premises_from_row).collect()
    }

    async fn premises_roots(&self) -> Result<Vec<Premises>, StoreError> {
        let rows = sqlx::query("SELECT * FROM premises WHERE parent_id IS NULL ORDER BY name").fetch_all(&self.pool).await?;
        rows.iter().map(premises_from_row).collect()
    }

    async fn insert_customer(&self, c: &Customer) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO customers (id, premises_id, name, phone, created_at_us) VALUES ($1, $2, $3, $4, $5)")
            .bind(c.id.as_uuid())
            .bind(c.premises_id.as_uuid())
            .bind(&c.name)
            .bind(&c.phone)
            .bind(self.now_us())
            .execute(&self.pool)
            .await
            .map_err(StoreError::db("customer", c.id))?;
        Ok(())
    }

    async fn customer(&self, id: CustomerId) -> Result<Customer, StoreError> {
        let row = sqlx::query("SELECT * FROM customers WHERE id = $1").bind(id.as_uuid()).fetch_optional(&self.pool).await?;
        row.as_ref().map(customer_from_row).transpose()?.ok_or(StoreError::NotFound { what: "customer", id: id.to_string() })
    }

    async fn insert_account(&self, a: &Account) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO accounts (id, customer_id, premises_id, billing_mode, status, currency, created_at_us) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(a.id.as_uuid())
        .bind(a.customer_id.as_uuid())
        .bind(a.premises_id.as_uuid())
        .bind(a.billing_mode.as_str())
        .bind(a.status.as_str())
        .bind(a.currency.code().to_string())
        .bind(self.now_us())
        .execute(&self.pool)
        .await
        .map_err(StoreError::db("account", a.id))?;
        Ok(())
    }

    async fn account(&self, id: AccountId) -> Result<Account, StoreError> {
        let row = sqlx::query("SELECT * FROM accounts WHERE id = $1").bind(id.as_uuid()).fetch_optional(&self.pool).await?;
        row.as_ref().map(account_from_row).transpose()?.ok_or(StoreError::NotFound { what: "account", id: id.to_string() })
    }

    async fn update_account(&self, a: &Account) -> Result<(), StoreError> {
        let done = sqlx::query("UPDATE accounts SET billing_mode = $1, status = $2 WHERE id = $3")
            .bind(a.billing_mode.as_str())
            .bind(a.status.as_str())
            .bind(a.id.as_uuid())
            .execute(&self.pool)
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound { what: "account", id: a.id.to_string() });
        }
        Ok(())
    }

    async fn insert_meter(&self, m: &Meter) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO meters (id, serial, utility, control_mode, protocol, address, ct_ratio, vt_ratio, state, \
             premises_id, account_id, created_at_us) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
        )
        .bind(m.id.as_uuid())
        .bind(&m.serial)
        .bind(m.utility.as_str())
        .bind(m.control_mode.as_str())
        .bind(m.protocol.as_str())
        .bind(&m.address)
        .bind(i64::from(m.ratio.ct()))
        .bind(i64::from(m.ratio.vt()))
        .bind(m.state.as_str())
        .bind(m.premises_id.map(|id| id.as_uuid()))
        .bind(m.account_id.map(|id| id.as_uuid()))
        .bind(self.now_us())
        .execute(&self.pool)
        .await
        .map_err(StoreError::db("meter serial", &m.serial))?;
        Ok(())
    }

    async fn meter(&self, id: MeterId) -> Result<Meter, StoreError> {
        let row = sqlx::query("SELECT * FROM meters WHERE id = $1").bind(id.as_uuid()).fetch_optional(&self.pool).await?;
        row.as_ref().map(meter_from_row).transpose()?.ok_or(StoreError::NotFound { what: "meter", id: id.to_string() })
    }

    async fn update_meter(&self, m: &Meter) -> Result<(), StoreError> {
        let done = sqlx::query(
            "UPDATE meters SET control_mode = $1, protocol = $2, address = $3, ct_ratio = $4, vt_ratio = $5, \
             state = $6, premises_id = $7, account_id = $8 WHERE id = $9",
        )
        .bind(m.control_mode.as_str())
        .bind(m.protocol.as_str())
        .bind(&m.address)
        .bind(i64::from(m.ratio.ct()))
        .bind(i64::from(m.ratio.vt()))
        .bind(m.state.as_str())
        .bind(m.premises_id.map(|id| id.as_uuid()))
        .bind(m.account_id.map(|id| id.as_uuid()))
        .bind(m.id.as_uuid())
        .execute(&self.pool)
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound { what: "meter", id: m.id.to_string() });
        }
        Ok(())
    }

    async fn insert_operator(&self, op: &Operator) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO operators (id, username, display_name, role, scope_id, password_hash, active, created_at_us) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(op.id.as_uuid())
        .bind(&op.username)
        .bind(&op.display_name)
        .bind(op.role.as_str())
        .bind(op.scope.as_uuid())
        .bind(&op.password_hash)
        .bind(op.active)
        .bind(self.now_us())
        .execute(&self.pool)
        .await
        .map_err(StoreError::db("operator", &op.username))?;
        Ok(())
    }

    async fn operator_by_username(&self, username: &str) -> Result<Option<Operator>, StoreError> {
        let row = sqlx::query("SELECT * FROM operators WHERE username = $1").bind(username).fetch_optional(&self.pool).await?;
        row.as_ref().map(operator_from_row).transpose()
    }

    async fn insert_ledger_account(&self, a: &LedgerAccount) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO ledger_accounts (id, kind, owner, premises_id, currency, overdraft_limit_minor, created_at_us) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(a.id.as_uuid())
        .bind(a.kind.as_str())
        .bind(a.owner.to_string())
        .bind(a.premises_id.as_uuid())
        .bind(a.currency.code().to_string())
        .bind(a.overdraft_limit_minor)
        .bind(self.now_us())
        .execute(&self.pool)
        .await
        .map_err(StoreError::db("ledger account", format!("{} {} {}", a.kind, a.owner, a.currency)))?;
        Ok(())
    }

    async fn ledger_account(&self, id: LedgerAccountId) -> Result<(LedgerAccount, Balance), StoreError> {
        let row = sqlx::query(&format!("SELECT {LEDGER_ACCOUNT_COLUMNS} FROM ledger_accounts WHERE id = $1"))
            .bind(id.as_uuid())
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref()
            .map(ledger_account_from_row)
            .transpose()?
            .ok_or(StoreError::NotFound { what: "ledger account", id: id.to_string() })
    }

    async fn find_ledger_account(
        &self,
        kind: LedgerAccountKind,
        owner: &Owner,
        premises_id: PremisesId,
        currency: Currency,
    ) -> Result<Option<LedgerAccount>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {LEDGER_ACCOUNT_COLUMNS} FROM ledger_accounts \
             WHERE kind = $1 AND owner = $2 AND premises_id = $3 AND currency = $4"
        ))
        .bind(kind.as_str())
        .bind(owner.to_string())
        .bind(premises_id.as_uuid())
        .bind(currency.code().to_string())
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.as_ref().map(ledger_account_from_row).transpose()?.map(|(a, _)| a))
    }

    async fn statement(&self, id: LedgerAccountId, limit: u32) -> Result<Vec<StatementLine>, StoreError> {
        let rows = sqlx::query(
            "SELECT t.id AS transfer_id, e.transfer_seq, e.amount_minor FROM entries e \
             JOIN transfers t ON t.seq = e.transfer_seq WHERE e.account_id = $1 \
             ORDER BY e.transfer_seq DESC LIMIT $2",
        )
        .bind(id.as_uuid())
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(StatementLine {
                    transfer_id: TransferId::from_uuid(row.try_get("transfer_id")?),
                    seq: row.try_get("transfer_seq")?,
                    amount_minor: row.try_get("amount_minor")?,
                })
            })
            .collect()
    }

    async fn insert_tariff_document(&self, code: &str, name: &str, document: &str) -> Result<i64, StoreError> {
        let mut tx = self.pool.begin_with(BEGIN_WRITE).await?;
        let revision: i64 =
            sqlx::query_scalar("SELECT COALESCE(MAX(revision), 0) + 1 FROM tariff_documents WHERE code = $1")
                .bind(code)
                .fetch_one(&mut *tx)
                .await?;
        sqlx::query(
            "INSERT INTO tariff_documents (code, revision, name, document, imported_at_us) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(code)
        .bind(revision)
        .bind(name)
        .bind(document)
        .bind(self.now_us())
        .execute(&mut *tx)
        .await
        .map_err(StoreError::db("tariff revision", format!("{code} {revision}")))?;
        tx.commit().await?;
        Ok(revision)
    }

    async fn tariff_document(&self, code: &str) -> Result<Option<TariffDocument>, StoreError> {
        let row = sqlx::query(
            "SELECT code, revision, name, document FROM tariff_documents WHERE code = $1 ORDER BY revision DESC LIMIT 1",
        )
        .bind(code)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| {
            Ok(TariffDocument {
                code: r.try_get("code")?,
                revision: r.try_get("revision")?,
                name: r.try_get("name")?,
                document: r.try_get("document")?,
            })
        })
        .transpose()
    }

    async fn tariff_documents(&self) -> Result<Vec<TariffDocument>, StoreError> {
        let rows = sqlx::query(
            "SELECT d.code, d.revision, d.name FROM tariff_documents d \
             WHERE d.revision = (SELECT MAX(revision) FROM tariff_documents x WHERE x.code = d.code) ORDER BY d.code",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(TariffDocument {
                    code: r.try_get("code")?,
                    revision: r.try_get("revision")?,
                    name: r.try_get("name")?,
                    document: String::new(),
                })
            })
            .collect()
    }

    async fn pricing_state(&self, account: AccountId, tariff_code: &str) -> Result<Option<PricingState>, StoreError> {
        let row = sqlx::query("SELECT * FROM pricing_states WHERE account_id = $1 AND tariff_code = $2")
            .bind(account.as_uuid())
            .bind(tariff_code)
            .fetch_optional(&self.pool)
            .await?;
        let Some(r) = row else { return Ok(None) };
        let key = |col: &str| -> Result<Option<i32>, StoreError> {
            r.try_get::<Option<i64>, _>(col)?.map(|k| i32::try_from(k).map_err(|e| corrupt(col, e))).transpose()
        };
        let wide = |col: &str| -> Result<i128, StoreError> {
            r.try_get::<String, _>(col)?.parse::<i128>().map_err(|e| corrupt(col, e))
        };
        Ok(Some(PricingState {
            block_key: key("block_key")?,
            block_position_milli: r.try_get("block_position_milli")?,
            free_key: key("free_key")?,
            free_used_milli: r.try_get("free_used_milli")?,
            month_key: key("month_key")?,
            month_energy_femto: wide("month_energy_femto")?,
            carry_femto: wide("carry_femto")?,
        }))
    }

    async fn save_pricing_state(&self, account: AccountId, tariff_code: &str, s: &PricingState) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO pricing_states (account_id, tariff_code, block_key, block_position_milli, free_key, \
             free_used_milli, month_key, month_energy_femto, carry_femto, updated_at_us) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
             ON CONFLICT (account_id, tariff_code) DO UPDATE SET block_key = excluded.block_key, \
             block_position_milli = excluded.block_position_milli, free_key = excluded.free_key, \
             free_used_milli = excluded.free_used_milli, month_key = excluded.month_key, \
             month_energy_femto = excluded.month_energy_femto, carry_femto = excluded.carry_femto, \
             updated_at_us = excluded.updated_at_us",
        )
        .bind(account.as_uuid())
        .bind(tariff_code)
        .bind(s.block_key.map(i64::from))
        .bind(s.block_position_milli)
        .bind(s.free_key.map(i64::from))
        .bind(s.free_used_milli)
        .bind(s.month_key.map(i64::from))
        .bind(s.month_energy_femto.to_string())
        .bind(s.carry_femto.to_string())
        .bind(self.now_us())
        .execute(&self.pool)
        .await
        .map_err(StoreError::db("pricing state", format!("{account} {tariff_code}")))?;
        Ok(())
    }

    async fn post_transfer(&self, request: TransferRequest) -> Result<PostOutcome, StoreError> {
        self.writer.post(request).await
    }

    async fn transfer(&self, id: TransferId) -> Result<Option<Transfer>, StoreError> {
        let mut conn = self.pool.acquire().await?;
        Ok(load_transfers(&mut conn, &[id]).await?.into_iter().next())
    }

    async fn check_ledger(&self) -> Result<LedgerReport, StoreError> {
        let mut report = LedgerReport::default();
        let counts = sqlx::query(
            "SELECT (SELECT COUNT(*) FROM ledger_accounts) AS a, (SELECT COUNT(*) FROM transfers) AS t, \
             (SELECT COUNT(*) FROM entries) AS e, (SELECT COALESCE(MAX(seq), 0) FROM transfers) AS max_seq",
        )
        .fetch_one(&self.pool)
        .await?;
        report.accounts = counts.try_get("a")?;
        report.transfers = counts.try_get("t")?;
        report.entries = counts.try_get("e")?;
        let max_seq: i64 = counts.try_get("max_seq")?;
        if max_seq != report.transfers {
            report.problems.push(format!("transfer sequence has gaps: {} transfers, last seq {max_seq}", report.transfers));
        }
        let unbalanced: Vec<i64> = sqlx::query_scalar(
            "SELECT transfer_seq FROM entries GROUP BY transfer_seq \
             HAVING SUM(amount_minor) <> 0 OR COUNT(*) < 2 ORDER BY transfer_seq LIMIT 20",
        )
        .fetch_all(&self.pool)
        .await?;
        for seq in unbalanced {
            report.problems.push(format!("transfer #{seq} does not balance"));
        }
        let empty: Vec<i64> = sqlx::query_scalar(
            "SELECT seq FROM transfers t WHERE NOT EXISTS (SELECT 1 FROM entries e WHERE e.transfer_seq = t.seq) LIMIT 20",
        )
        .fetch_all(&self.pool)
        .await?;
        for seq in empty {
            report.problems.push(format!("transfer #{seq} has no entries"));
        }
        let drifted = sqlx::query(
            "SELECT a.id, a.debits_posted_minor, a.credits_posted_minor, \
                    CAST(COALESCE(s.d, 0) AS BIGINT) AS d, CAST(COALESCE(s.c, 0) AS BIGINT) AS c \
             FROM ledger_accounts a LEFT JOIN ( \
                 SELECT account_id, \
                        SUM(CASE WHEN amount_minor > 0 THEN amount_minor ELSE 0 END) AS d, \
                        SUM(CASE WHEN amount_minor < 0 THEN -amount_minor ELSE 0 END) AS c \
                 FROM entries GROUP BY account_id) s ON s.account_id = a.id \
             WHERE a.debits_posted_minor <> COALESCE(s.d, 0) OR a.credits_posted_minor <> COALESCE(s.c, 0) LIMIT 20",
        )
        .fetch_all(&self.pool)
        .await?;
        for row in drifted {
            let id: Uuid = row.try_get("id")?;
            let (cd, cc, d, c): (i64, i64, i64, i64) =
                (row.try_get(1)?, row.try_get(2)?, row.try_get("d")?, row.try_get("c")?);
            report.problems.push(format!(
                "ledger account {id} caches debits {cd} / credits {cc} but its entries sum to {d} / {c}"
            ));
        }
        let totals = sqlx::query(
            "SELECT CAST(COALESCE(SUM(debits_posted_minor), 0) AS BIGINT) AS d, \
                    CAST(COALESCE(SUM(credits_posted_minor), 0) AS BIGINT) AS c FROM ledger_accounts",
        )
        .fetch_one(&self.pool)
        .await?;
        let (d, c): (i64, i64) = (totals.try_get("d")?, totals.try_get("c")?);
        if d != c {
            report.problems.push(format!("ledger does not sum to zero: debits {d}, credits {c}"));
        }
        Ok(report)
    }

    fn writer_stats(&self) -> Arc<WriterStats> {
        self.writer.stats()
    }

    async fn lock_instance(&self) -> Result<InstanceLock, StoreError> {
        lock_instance_impl(&self.pool, &self.url).await
    }

    async fn backup_to(&self, dir: &Path, stamp: &str) -> Result<PathBuf, StoreError> {
        backup_impl(&self.pool, &self.url, dir, stamp).await
    }

    async fn close(&self) {
        self.pool.close().await;
    }
}
