// The store: the writer's batch sink and the reads. Part of the SQL body both backends include.

#[derive(Debug)]
pub(crate) struct SqlStore {
    pool: Pool<Db>,
    writer: Writer,
    url: String,
    context: Arc<Context>,
    clock: Arc<dyn Clock>,
}

impl SqlStore {
    pub(crate) async fn open(options: &OpenOptions, clock: Arc<dyn Clock>) -> Result<Self, StoreError> {
        let pool = connect(options).await?;
        let writer = if options.read_only {
            Writer::stopped()
        } else {
            let sink = Sink {
                pool: pool.clone(),
                context: options.context.clone(),
                state: Default::default(),
                checkpoints: Default::default(),
            };
            Writer::spawn(sink, clock.clone(), options.writer)
        };
        Ok(Self { pool, writer, url: options.url.clone(), context: options.context.clone(), clock })
    }
}

/// A statement the database refused because of what was in it (a constraint, a value it cannot store, a
/// trigger), as opposed to the connection or the server failing.
fn refused_by_database(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(_))
}

/// Applies one batch of operations inside one write transaction.
#[derive(Debug)]
struct Sink {
    pool: Pool<Db>,
    context: Arc<Context>,
    /// Only the writer task uses it; the lock is there to make the sink `Sync`.
    state: tokio::sync::Mutex<WriterState>,
    checkpoints: Arc<Checkpoints>,
}

/// What the writer keeps between batches.
#[derive(Debug, Default)]
struct WriterState {
    /// The writer's own connection, kept so that its page cache stays warm (a pooled connection's cache is
    /// invalidated whenever another connection writes); dropped after an error and taken again.
    conn: Option<WriterConn>,
    cache: crate::cache::Cache,
}

/// Reads the writers' generation (inside the write transaction, so it is current).
async fn read_generation(tx: &mut sqlx::Transaction<'_, Db>) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("SELECT generation FROM writer_state WHERE id = 1").fetch_one(&mut **tx).await
}

/// Records that this transaction is the writers' next generation.
async fn bump_generation(tx: &mut sqlx::Transaction<'_, Db>, next: i64) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE writer_state SET generation = $1 WHERE id = 1").bind(next).execute(&mut **tx).await?;
    Ok(())
}

impl SqlStore {
    /// The row `select` (one `$1` placeholder) finds for `key`, mapped, if there is one.
    async fn one<K, T>(&self, select: &str, key: K, map: fn(&DbRow) -> Result<T, StoreError>) -> Result<Option<T>, StoreError>
    where
        K: Send + for<'q> sqlx::Encode<'q, Db> + sqlx::Type<Db> + 'static,
    {
        let row = sqlx::query(select).bind(key).fetch_optional(&self.pool).await?;
        row.as_ref().map(map).transpose()
    }
}

impl BatchSink for Sink {
    async fn apply(
        &self,
        batch: &[Job],
        at: Timestamp,
        stats: &WriterStats,
    ) -> Result<Vec<Result<Applied, OpError>>, StoreError> {
        let mut state = self.state.lock().await;
        let WriterState { conn, cache } = &mut *state;
        if conn.is_none() {
            *conn = Some(WriterConn::new(self.pool.acquire().await?));
        }
        let Some(WriterConn { conn: connection, prepared }) = conn.as_mut() else {
            return Err(StoreError::WriterStopped);
        };
        before_batch(connection, &self.checkpoints).await;
        let outcome = self.fast_path(connection, prepared, cache, batch, at, stats).await;
        match outcome {
            Ok(Ok(results)) => Ok(results),
            Ok(Err(refusal)) => {
                // What was loaded is still what the database holds, but keep the slow path simple.
                cache.clear();
                stats.retried_batches.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                tracing::warn!(error = %refusal, operations = batch.len(), "the database refused part of a batch; applying it again one operation at a time");
                let retried = self.apply_one_by_one(connection, prepared, batch, at).await;
                if retried.is_err() {
                    *conn = None;
                }
                retried
            }
            Err(e) => {
                cache.clear();
                *conn = None;
                Err(e)
            }
        }
    }
}

impl Sink {
    /// The batch in one transaction. `Ok(Err(e))`: the database refused what the batch wrote (nothing
    /// committed), so the batch must go again operation by operation.
    async fn fast_path(
        &self,
        conn: &mut <Db as sqlx::Database>::Connection,
        prepared: &mut Prepared,
        cache: &mut crate::cache::Cache,
        batch: &[Job],
        at: Timestamp,
        stats: &WriterStats,
    ) -> Result<Result<Vec<Result<Applied, OpError>>, sqlx::Error>, StoreError> {
        use sqlx::Connection;
        let started = std::time::Instant::now();
        let mut tx = conn.begin_with(BEGIN_WRITE).await?;
        serialize_writers(&mut tx).await?;
        let generation = read_generation(&mut tx).await?;
        cache.validate(generation);
        let mut source = crate::cache::CachedSource { inner: TxSource { conn: &mut tx }, cache: &mut *cache };
        let mut ws = voltvend_ops::load(&mut source, batch.iter().map(|j| &j.op)).await?;
        let loaded = std::time::Instant::now();
        let results: Vec<_> = batch
            .iter()
            .map(|j| voltvend_ops::execute(&mut ws, &j.op, j.render.as_deref(), &self.context, at))
            .collect();
        let changes = ws.pending();
        let applied = std::time::Instant::now();
        let written = async {
            run_writes(&mut tx, prepared, &writes_of(&changes, timestamp_us(at))).await?;
            bump_generation(&mut tx, generation + 1).await
        }
        .await;
        match written {
            Ok(()) => {
                let wrote = std::time::Instant::now();
                tx.commit().await?;
                stats.time_steps([loaded - started, applied - loaded, wrote - applied, wrote.elapsed()]);
                cache.committed(&changes, generation + 1);
                after_commit(&self.pool, &self.checkpoints);
                Ok(Ok(results))
            }
            Err(e) if refused_by_database(&e) => Ok(Err(e)),
            Err(e) => Err(e.into()),
        }
    }

    /// The batch again, each operation's writes behind its own savepoint: what the database refuses fails
    /// that operation alone, and the operations after it see the state without it.
    async fn apply_one_by_one(
        &self,
        conn: &mut <Db as sqlx::Database>::Connection,
        prepared: &mut Prepared,
        batch: &[Job],
        at: Timestamp,
    ) -> Result<Vec<Result<Applied, OpError>>, StoreError> {
        use sqlx::Connection;
        let mut tx = conn.begin_with(BEGIN_WRITE).await?;
        serialize_writers(&mut tx).await?;
        let generation = read_generation(&mut tx).await?;
        let mut ws = voltvend_ops::load(&mut TxSource { conn: &mut tx }, batch.iter().map(|j| &j.op)).await?;
        let mut results = Vec::with_capacity(batch.len());
        for j in batch {
            let sp = ws.savepoint();
            let result = voltvend_ops::execute(&mut ws, &j.op, j.render.as_deref(), &self.context, at);
            if result.is_err() {
                results.push(result);
                continue;
            }
            sqlx::query("SAVEPOINT operation").execute(&mut *tx).await?;
            match run_writes(&mut tx, prepared, &writes_of(&ws.pending(), timestamp_us(at))).await {
                Ok(()) => {
                    sqlx::query("RELEASE SAVEPOINT operation").execute(&mut *tx).await?;
                    ws.mark_written();
                    results.push(result);
                }
                Err(e) if refused_by_database(&e) => {
                    sqlx::query("ROLLBACK TO SAVEPOINT operation").execute(&mut *tx).await?;
                    sqlx::query("RELEASE SAVEPOINT operation").execute(&mut *tx).await?;
                    ws.rollback(sp);
                    tracing::warn!(operation = %j.op.id, error = %e, "the database refused an operation");
                    results.push(Err(OpError::Database(e.to_string())));
                }
                Err(e) => return Err(e.into()),
            }
        }
        bump_generation(&mut tx, generation + 1).await?;
        tx.commit().await?;
        Ok(results)
    }
}

fn not_found(what: &'static str, id: impl ToString) -> StoreError {
    StoreError::NotFound { what, id: id.to_string() }
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
        is_migrated(&self.pool).await
    }

    async fn pending_migrations(&self) -> Result<Vec<String>, StoreError> {
        let applied = applied_migrations(&self.pool).await?;
        Ok(MIGRATOR
            .iter()
            .filter(|m| !applied.contains(&m.version))
            .map(|m| format!("{:04} {}", m.version, m.description))
            .collect())
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
             (SELECT COUNT(*) FROM transfers) AS transfers, (SELECT COUNT(*) FROM sales) AS sales, \
             (SELECT COUNT(*) FROM audit_log) AS audit_records",
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
            sales: row.try_get("sales")?,
            audit_records: row.try_get("audit_records")?,
        })
    }

    async fn durability(&self) -> Result<Durability, StoreError> {
        let mut conn = self.pool.acquire().await?;
        durability_impl(&mut conn).await
    }

    async fn submit_with(&self, op: Operation, render: Option<Arc<Renderer>>) -> Submitted {
        self.writer.submit(op, render).await
    }

    async fn shutdown(&self) {
        self.writer.shutdown().await;
    }

    fn writer_stats(&self) -> Arc<WriterStats> {
        self.writer.stats()
    }

    async fn premises(&self, id: PremisesId) -> Result<Premises, StoreError> {
        self.one("SELECT * FROM premises WHERE id = $1", id.as_uuid(), premises_from_row).await?.ok_or_else(|| not_found("premises", id))
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

    async fn customer(&self, id: CustomerId) -> Result<Customer, StoreError> {
        self.one("SELECT * FROM customers WHERE id = $1", id.as_uuid(), customer_from_row).await?.ok_or_else(|| not_found("customer", id))
    }

    async fn account(&self, id: AccountId) -> Result<AccountRecord, StoreError> {
        self.one("SELECT * FROM accounts WHERE id = $1", id.as_uuid(), account_from_row).await?.ok_or_else(|| not_found("account", id))
    }

    async fn meter(&self, id: MeterId) -> Result<MeterRecord, StoreError> {
        self.one("SELECT * FROM meters WHERE id = $1", id.as_uuid(), meter_from_row).await?.ok_or_else(|| not_found("meter", id))
    }

    async fn sts_state(&self, meter: MeterId) -> Result<Option<StsState>, StoreError> {
        self.one("SELECT * FROM sts_meters WHERE meter_id = $1", meter.as_uuid(), sts_from_row).await
    }

    async fn operator_by_username(&self, username: &str) -> Result<Option<Operator>, StoreError> {
        self.one("SELECT * FROM operators WHERE username = $1", username.to_string(), operator_from_row).await
    }

    async fn books(&self, id: BooksId) -> Result<Books, StoreError> {
        self.one("SELECT * FROM books WHERE id = $1", id.as_uuid(), books_from_row).await?.ok_or_else(|| not_found("books", id))
    }

    async fn vending_point(&self, id: VendingPointId) -> Result<VendingPoint, StoreError> {
        self.one("SELECT * FROM vending_points WHERE id = $1", id.as_uuid(), vending_point_from_row).await?.ok_or_else(|| not_found("vending point", id))
    }

    async fn shift(&self, id: ShiftId) -> Result<Shift, StoreError> {
        self.one("SELECT * FROM shifts WHERE id = $1", id.as_uuid(), shift_from_row).await?.ok_or_else(|| not_found("shift", id))
    }

    async fn ledger_account(&self, id: LedgerAccountId) -> Result<(LedgerAccount, Balance), StoreError> {
        let row = sqlx::query(&format!("SELECT {LEDGER_ACCOUNT_COLUMNS} FROM ledger_accounts WHERE id = $1"))
            .bind(id.as_uuid())
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(ledger_account_from_row).transpose()?.ok_or_else(|| not_found("ledger account", id))
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
                    transfer_id: uuid_of(row, "transfer_id")?,
                    seq: row.try_get("transfer_seq")?,
                    amount_minor: row.try_get("amount_minor")?,
                })
            })
            .collect()
    }

    async fn transfer(&self, id: TransferId) -> Result<Option<Transfer>, StoreError> {
        let mut conn = self.pool.acquire().await?;
        Ok(load_transfers(&mut conn, "id", &[id.as_uuid()]).await?.into_iter().next())
    }

    async fn sale(&self, operation: OperationId) -> Result<Option<SaleRecord>, StoreError> {
        self.one("SELECT * FROM sales WHERE operation_id = $1", operation.as_uuid(), sale_from_row).await
    }

    async fn sales_of(&self, point: VendingPointId, after_receipt: i64, limit: u32) -> Result<Vec<SaleRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT * FROM sales WHERE vending_point_id = $1 AND receipt_no > $2 ORDER BY receipt_no LIMIT $3",
        )
        .bind(point.as_uuid())
        .bind(after_receipt)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(sale_from_row).collect()
    }

    async fn outbox(&self, after: i64, limit: u32) -> Result<Vec<(i64, OutboxRow)>, StoreError> {
        let rows = sqlx::query("SELECT * FROM outbox WHERE seq > $1 ORDER BY seq LIMIT $2")
            .bind(after)
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(outbox_from_row).collect()
    }

    async fn recent_alarms(
        &self,
        scope: PremisesId,
        before: Option<i64>,
        limit: u32,
    ) -> Result<Vec<(i64, OutboxRow)>, StoreError> {
        let premises = self.premises(scope).await?;
        let key = path_key(&premises.path);
        let mut b = QueryBuilder::<Db>::new("SELECT o.* FROM outbox o LEFT JOIN meters m ON m.id = o.meter_id WHERE (");
        if premises.parent.is_none() {
            b.push("o.meter_id IS NULL OR ");
        }
        b.push("(1 = 1");
        push_scope(&mut b, "m.premises_id", &key);
        b.push("))");
        if let Some(seq) = before {
            b.push(" AND o.seq < ").push_bind(seq);
        }
        b.push(" ORDER BY o.seq DESC LIMIT ").push_bind(i64::from(limit));
        let rows = b.build().fetch_all(&self.pool).await?;
        rows.iter().map(outbox_from_row).collect()
    }

    async fn insert_baseline(&self, rows: usize, per_commit: usize) -> Result<(), StoreError> {
        use sqlx::Connection;
        // Multi-row INSERTs of this many rows (5 values each) stay under SQLite's and PostgreSQL's bind limits.
        const ROWS_PER_STATEMENT: usize = 500;
        let mut conn = self.pool.acquire().await?;
        sqlx::query("DROP TABLE IF EXISTS bench_baseline").execute(&mut *conn).await?;
        sqlx::query(
            "CREATE TABLE bench_baseline (seq BIGINT PRIMARY KEY, meter_id BIGINT NOT NULL, at_us BIGINT NOT NULL, \
             registers TEXT NOT NULL, note TEXT NOT NULL)",
        )
        .execute(&mut *conn)
        .await?;
        let mut done = 0;
        while done < rows {
            let commit_end = (done + per_commit.max(1)).min(rows);
            let mut tx = conn.begin().await?;
            while done < commit_end {
                let end = (done + ROWS_PER_STATEMENT).min(commit_end);
                let mut b = QueryBuilder::<Db>::new("INSERT INTO bench_baseline (seq, meter_id, at_us, registers, note) ");
                b.push_values(done..end, |mut row, i| {
                    let i = i64::try_from(i).unwrap_or(i64::MAX);
                    row.push_bind(i)
                        .push_bind(i % 1_024)
                        .push_bind(i * 900_000_000)
                        .push_bind(format!("sharp:{i},peak:{i},flat:{i},valley:{i}"))
                        .push_bind("");
                });
                b.build().execute(&mut *tx).await?;
                done = end;
            }
            tx.commit().await?;
        }
        sqlx::query("DROP TABLE bench_baseline").execute(&mut *conn).await?;
        Ok(())
    }

    async fn seed_sts_meters(
        &self,
        premises: PremisesId,
        params: &KeyParams,
        first: u128,
        count: usize,
        per_commit: usize,
    ) -> Result<(), StoreError> {
        use sqlx::Connection;
        // Under the bind limits of both engines (12 and 11 values a row).
        const ROWS_PER_STATEMENT: usize = 2_000;
        let mut conn = self.pool.acquire().await?;
        let mut done = 0;
        while done < count {
            let commit_end = (done + per_commit.max(1)).min(count);
            let mut tx = conn.begin().await?;
            while done < commit_end {
                let end = (done + ROWS_PER_STATEMENT).min(commit_end);
                let ids: Vec<(Uuid, String)> = (done..end)
                    .map(|i| (Uuid::from_u128(first + i as u128), format!("{:011}", (first + i as u128) % 100_000_000_000)))
                    .collect();
                let mut b = QueryBuilder::<Db>::new(
                    "INSERT INTO meters (id, serial, utility, control_mode, protocol, address, ct_ratio, vt_ratio, \
                     state, premises_id, account_id, created_at_us) ",
                );
                b.push_values(&ids, |mut row, (id, drn)| {
                    row.push_bind(*id)
                        .push_bind(format!("BENCH-STS-{drn}"))
                        .push_bind("electricity")
                        .push_bind("local")
                        .push_bind("sts_keypad")
                        .push_bind(drn.clone())
                        .push_bind(1_i64)
                        .push_bind(1_i64)
                        .push_bind("installed")
                        .push_bind(premises.as_uuid())
                        .push_bind(None::<Uuid>)
                        .push_bind(0_i64);
                });
                b.build().execute(&mut *tx).await?;
                let mut pans = Vec::with_capacity(ids.len());
                for (id, drn) in &ids {
                    let pan = Pan::from_parts("600727", drn).map_err(|e| StoreError::Corrupt(e.to_string()))?;
                    pans.push((*id, pan.to_string()));
                }
                let mut b = QueryBuilder::<Db>::new("INSERT INTO sts_meters (meter_id, pan, ea, kt, sgc, ti, krn, ken, base, last_tid) ");
                b.push_values(&pans, |mut row, (id, pan)| {
                    row.push_bind(*id)
                        .push_bind(pan.clone())
                        .push_bind(params.ea.code())
                        .push_bind(i64::from(params.kt.value()))
                        .push_bind(i64::from(params.sgc))
                        .push_bind(i64::from(params.ti))
                        .push_bind(i64::from(params.krn))
                        .push_bind(i64::from(params.ken))
                        .push_bind(params.base.code())
                        .push_bind(None::<i64>);
                });
                b.build().execute(&mut *tx).await?;
                done = end;
            }
            tx.commit().await?;
        }
        Ok(())
    }

    async fn readings(&self, meter: MeterId, limit: u32) -> Result<Vec<ReadingRow>, StoreError> {
        let rows = sqlx::query("SELECT * FROM readings WHERE meter_id = $1 ORDER BY at_us DESC, seq DESC LIMIT $2")
            .bind(meter.as_uuid())
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(reading_from_row).collect()
    }

    async fn list_readings(&self, q: &ListQuery, f: &ReadingFilter) -> Result<Vec<ListedReading>, StoreError> {
        self.list_readings_impl(q, f).await
    }

    async fn dry_run(&self, op: Operation) -> Result<Result<Applied, OpError>, StoreError> {
        use sqlx::Connection;
        let mut conn = self.pool.acquire().await?;
        let mut tx = conn.begin().await?;
        let mut ws = voltvend_ops::load(&mut TxSource { conn: &mut tx }, std::iter::once(&op)).await?;
        let result = voltvend_ops::execute(&mut ws, &op, None, &self.context, self.clock.now());
        tx.rollback().await?;
        Ok(result)
    }

    async fn idempotency_record(&self, id: OperationId) -> Result<Option<IdempotencyRecord>, StoreError> {
        self.one("SELECT * FROM idempotency WHERE operation_id = $1", id.as_uuid(), idempotency_from_row).await
    }

    async fn books_of(&self, premises: PremisesId, currency: Currency) -> Result<Option<Books>, StoreError> {
        let row = sqlx::query("SELECT * FROM books WHERE premises_id = $1 AND currency = $2")
            .bind(premises.as_uuid())
            .bind(currency.code().to_string())
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(books_from_row).transpose()
    }

    async fn list_premises(&self, q: &ListQuery, f: &PremisesFilter) -> Result<Vec<Premises>, StoreError> {
        self.list_premises_impl(q, f).await
    }

    async fn list_customers(&self, q: &ListQuery, f: &CustomerFilter) -> Result<Vec<Customer>, StoreError> {
        self.list_customers_impl(q, f).await
    }

    async fn list_accounts(&self, q: &ListQuery, f: &AccountFilter) -> Result<Vec<AccountRecord>, StoreError> {
        self.list_accounts_impl(q, f).await
    }

    async fn list_meters(&self, q: &ListQuery, f: &MeterFilter) -> Result<Vec<MeterRecord>, StoreError> {
        self.list_meters_impl(q, f).await
    }

    async fn list_sales(&self, q: &ListQuery, f: &SaleFilter) -> Result<Vec<SaleRecord>, StoreError> {
        self.list_sales_impl(q, f).await
    }

    async fn sales_ledger_page(
        &self,
        scope: Option<PremisesId>,
        f: &SaleFilter,
        after: Option<(Timestamp, OperationId)>,
        limit: u32,
    ) -> Result<Vec<SaleRecord>, StoreError> {
        self.sales_ledger_page_impl(scope, f, after, limit).await
    }

    async fn list_refused_payments(&self, q: &ListQuery, f: &RefusedFilter) -> Result<Vec<RefusedPayment>, StoreError> {
        self.list_refused_impl(q, f).await
    }

    async fn list_shifts(&self, q: &ListQuery, f: &ShiftFilter) -> Result<Vec<Shift>, StoreError> {
        self.list_shifts_impl(q, f).await
    }

    async fn list_vending_points(&self, q: &ListQuery) -> Result<Vec<VendingPoint>, StoreError> {
        self.list_vending_points_impl(q).await
    }

    async fn list_operators(&self, q: &ListQuery) -> Result<Vec<Operator>, StoreError> {
        self.list_operators_impl(q).await
    }

    async fn operator(&self, id: OperatorId) -> Result<Option<Operator>, StoreError> {
        self.one("SELECT * FROM operators WHERE id = $1", id.as_uuid(), operator_from_row).await
    }

    async fn list_roles(&self) -> Result<Vec<Role>, StoreError> {
        let rows = sqlx::query("SELECT * FROM roles ORDER BY name").fetch_all(&self.pool).await?;
        rows.iter().map(role_from_row).collect()
    }

    async fn role(&self, name: &str) -> Result<Option<Role>, StoreError> {
        self.one("SELECT * FROM roles WHERE name = $1", name.to_string(), role_from_row).await
    }

    async fn session(&self, id_hash: [u8; 32]) -> Result<Option<SessionRecord>, StoreError> {
        self.one("SELECT * FROM sessions WHERE id_hash = $1", id_hash.to_vec(), session_from_row).await
    }

    async fn api_token(&self, id: ApiTokenId) -> Result<Option<ApiTokenRecord>, StoreError> {
        self.one("SELECT * FROM api_tokens WHERE id = $1", id.as_uuid(), api_token_from_row).await
    }

    async fn list_api_tokens(&self, q: &ListQuery, operator: Option<OperatorId>) -> Result<Vec<ApiTokenRecord>, StoreError> {
        self.list_api_tokens_impl(q, operator).await
    }

    async fn refused_payment(&self, id: OperationId) -> Result<Option<RefusedPayment>, StoreError> {
        self.one("SELECT * FROM refused_payments WHERE operation_id = $1", id.as_uuid(), refused_payment_from_row).await
    }

    async fn list_payment_channels(&self, q: &ListQuery) -> Result<Vec<PaymentChannel>, StoreError> {
        self.list_payment_channels_impl(q).await
    }

    async fn payment_channel(&self, id: voltvend_domain::PaymentChannelId) -> Result<Option<PaymentChannel>, StoreError> {
        self.one("SELECT * FROM payment_channels WHERE id = $1", id.as_uuid(), payment_channel_from_row).await
    }

    async fn list_payment_intents(&self, q: &ListQuery, f: &IntentFilter) -> Result<Vec<PaymentIntent>, StoreError> {
        self.list_payment_intents_impl(q, f).await
    }

    async fn books_summary(
        &self,
        scope: Option<PremisesId>,
    ) -> Result<(Vec<crate::BooksLine>, Vec<(String, i64, i64)>), StoreError> {
        let scope_key = self.scope_key(scope).await?;
        // One snapshot for both sums, so that a transfer committed between them cannot tell them apart.
        let mut tx = self.pool.begin().await?;
        // A path is its nodes' ids (36 characters each) joined by '/': the first 73 characters name the
        // property under the group (a group's own path is shorter, and names the group), the first 36 the group.
        // A property that keeps no books in a currency is part of the group's books in it (ADR 0007).
        let mut b = QueryBuilder::<Db>::new(
            "SELECT x.prop AS prop, x.kind AS kind, x.currency AS currency, COUNT(*) AS n, \
             CAST(SUM(x.d) AS BIGINT) AS d, CAST(SUM(x.c) AS BIGINT) AS c \
             FROM (SELECT CASE WHEN EXISTS (SELECT 1 FROM books b JOIN premises bp ON bp.id = b.premises_id \
                                            WHERE SUBSTR(bp.path, 1, 73) = SUBSTR(p.path, 1, 73) \
                                            AND b.currency = la.currency) \
                               THEN SUBSTR(p.path, 1, 73) ELSE SUBSTR(p.path, 1, 36) END AS prop, \
                          la.kind AS kind, la.currency AS currency, la.debits_posted_minor AS d, \
                          la.credits_posted_minor AS c \
                   FROM ledger_accounts la JOIN premises p ON p.id = la.premises_id WHERE 1 = 1",
        );
        if let Some(key) = &scope_key {
            push_scope(&mut b, "la.premises_id", key);
        }
        b.push(") x GROUP BY x.prop, x.kind, x.currency ORDER BY 1, 2, 3");
        let rows = b.build().fetch_all(&mut *tx).await?;
        let mut lines = Vec::with_capacity(rows.len());
        for r in &rows {
            let property = property_of_path(&r.try_get::<String, _>("prop")?)?;
            lines.push(crate::BooksLine {
                property,
                kind: r.try_get("kind")?,
                currency: r.try_get("currency")?,
                accounts: r.try_get("n")?,
                debits_minor: r.try_get::<Option<i64>, _>("d")?.unwrap_or(0),
                credits_minor: r.try_get::<Option<i64>, _>("c")?.unwrap_or(0),
            });
        }
        let mut b = QueryBuilder::<Db>::new(
            "SELECT la.currency AS currency, CAST(SUM(la.debits_posted_minor) AS BIGINT) AS d, \
             CAST(SUM(la.credits_posted_minor) AS BIGINT) AS c FROM ledger_accounts la WHERE 1 = 1",
        );
        if let Some(key) = &scope_key {
            push_scope(&mut b, "la.premises_id", key);
        }
        b.push(" GROUP BY la.currency ORDER BY la.currency");
        let whole = b
            .build()
            .fetch_all(&mut *tx)
            .await?
            .iter()
            .map(|r| {
                Ok((
                    r.try_get("currency")?,
                    r.try_get::<Option<i64>, _>("d")?.unwrap_or(0),
                    r.try_get::<Option<i64>, _>("c")?.unwrap_or(0),
                ))
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        tx.commit().await?;
        Ok((lines, whole))
    }

    async fn list_apportionment_rules(&self, q: &ListQuery) -> Result<Vec<voltvend_ops::ApportionmentRule>, StoreError> {
        let scope = self.scope_key(q.scope).await?;
        let mut b = QueryBuilder::<Db>::new("SELECT r.* FROM apportionment_rules r WHERE 1 = 1");
        if let Some(key) = &scope {
            push_scope(&mut b, "r.premises_id", key);
        }
        if let Some(after) = uuid_cursor(&q.after)? {
            b.push(" AND r.id < ").push_bind(after);
        }
        b.push(" ORDER BY r.id DESC LIMIT ").push_bind(limit_of(q));
        let mut rules = self.fetch(b, apportionment_rule_from_row).await?;
        let mut conn = self.pool.acquire().await?;
        complete_rules(&mut conn, &mut rules).await?;
        Ok(rules)
    }

    async fn apportionment_rule(
        &self,
        id: voltvend_domain::ApportionmentRuleId,
    ) -> Result<Option<voltvend_ops::ApportionmentRule>, StoreError> {
        let Some(rule) =
            self.one("SELECT * FROM apportionment_rules WHERE id = $1", id.as_uuid(), apportionment_rule_from_row).await?
        else {
            return Ok(None);
        };
        let mut rules = [rule];
        let mut conn = self.pool.acquire().await?;
        complete_rules(&mut conn, &mut rules).await?;
        let [rule] = rules;
        Ok(Some(rule))
    }

    async fn apportionment_runs(
        &self,
        rule: voltvend_domain::ApportionmentRuleId,
    ) -> Result<Vec<voltvend_ops::ApportionmentRun>, StoreError> {
        let mut b = QueryBuilder::<Db>::new("SELECT * FROM apportionment_runs WHERE rule_id = ");
        b.push_bind(rule.as_uuid()).push(" ORDER BY period DESC");
        let mut runs = self.fetch(b, apportionment_run_from_row).await?;
        let mut conn = self.pool.acquire().await?;
        complete_runs(&mut conn, &mut runs).await?;
        Ok(runs)
    }

    async fn list_fee_schedules(&self, q: &ListQuery) -> Result<Vec<voltvend_ops::FeeSchedule>, StoreError> {
        let scope = self.scope_key(q.scope).await?;
        let mut b = QueryBuilder::<Db>::new("SELECT f.* FROM fee_schedules f WHERE 1 = 1");
        if let Some(key) = &scope {
            push_scope(&mut b, "f.premises_id", key);
        }
        if let Some(after) = uuid_cursor(&q.after)? {
            b.push(" AND f.id < ").push_bind(after);
        }
        b.push(" ORDER BY f.id DESC LIMIT ").push_bind(limit_of(q));
        self.fetch(b, fee_schedule_from_row).await
    }

    async fn fee_schedule(
        &self,
        id: voltvend_domain::FeeScheduleId,
    ) -> Result<Option<voltvend_ops::FeeSchedule>, StoreError> {
        self.one("SELECT * FROM fee_schedules WHERE id = $1", id.as_uuid(), fee_schedule_from_row).await
    }

    async fn fee_runs(&self, schedule: voltvend_domain::FeeScheduleId) -> Result<Vec<voltvend_ops::FeeRun>, StoreError> {
        let mut b = QueryBuilder::<Db>::new("SELECT * FROM fee_runs WHERE schedule_id = ");
        b.push_bind(schedule.as_uuid()).push(" ORDER BY period DESC");
        self.fetch(b, fee_run_from_row).await
    }

    async fn previous_fee_charge(
        &self,
        account: AccountId,
        premises: PremisesId,
        period: i32,
    ) -> Result<Option<voltvend_ops::FeeCharge>, StoreError> {
        let mut b = QueryBuilder::<Db>::new(
            "SELECT c.* FROM fee_charges c JOIN fee_schedules s ON s.id = c.schedule_id \
             WHERE s.basis = 'postpaid' AND c.account_id = ",
        );
        b.push_bind(account.as_uuid());
        b.push(" AND c.premises_id = ").push_bind(premises.as_uuid());
        b.push(" AND c.period < ").push_bind(i64::from(period)).push(" ORDER BY c.period DESC LIMIT 1");
        Ok(self.fetch(b, fee_charge_from_row).await?.into_iter().next())
    }

    async fn fee_charges_of_period(
        &self,
        schedule: voltvend_domain::FeeScheduleId,
        period: i32,
    ) -> Result<Vec<voltvend_ops::FeeCharge>, StoreError> {
        let mut b = QueryBuilder::<Db>::new(
            "SELECT c.* FROM fee_charges c JOIN premises p ON p.id = c.premises_id WHERE c.schedule_id = ",
        );
        b.push_bind(schedule.as_uuid()).push(" AND c.period = ").push_bind(i64::from(period));
        b.push(" ORDER BY p.name, p.id");
        self.fetch(b, fee_charge_from_row).await
    }

    async fn account_fee_charges(&self, account: AccountId) -> Result<Vec<voltvend_ops::FeeCharge>, StoreError> {
        let mut b = QueryBuilder::<Db>::new("SELECT * FROM fee_charges WHERE account_id = ");
        b.push_bind(account.as_uuid());
        b.push(" ORDER BY CASE WHEN paid_minor < amount_minor THEN 0 ELSE 1 END, due_on, period LIMIT ");
        b.push_bind(i64::from(ListQuery::LIMIT_MAX));
        self.fetch(b, fee_charge_from_row).await
    }

    async fn consumption_charged(
        &self,
        accounts: [LedgerAccountId; 2],
        from: (i64, Option<voltvend_domain::TransferId>),
        to: (i64, Option<voltvend_domain::TransferId>),
    ) -> Result<crate::ConsumptionCharged, StoreError> {
        // The account's consumption transfers in the span (after one bill's issue, up to and with the next's:
        // what the next one's usage took in), each marked whether it is a common-area share (a
        // share's transfer is recorded against it); then their lines on the account and on the tax account.
        let row = sqlx::query(
            "WITH t AS (SELECT tr.seq, EXISTS (SELECT 1 FROM apportionment_shares s WHERE s.transfer_id = tr.id) \
             AS share FROM transfers tr WHERE tr.kind = 'consumption' \
             AND (CASE WHEN $5 IS NULL THEN tr.posted_at_us > $3 \
             ELSE tr.seq > (SELECT b.seq FROM transfers b WHERE b.id = $5) END) \
             AND (CASE WHEN $6 IS NULL THEN tr.posted_at_us <= $4 \
             ELSE tr.seq < (SELECT b.seq FROM transfers b WHERE b.id = $6) END) AND tr.seq IN \
             (SELECT transfer_seq FROM entries WHERE account_id = $1 OR account_id = $2)) \
             SELECT CAST(COALESCE(SUM(CASE WHEN NOT t.share AND e.account_id IN ($1, $2) THEN e.amount_minor \
             ELSE 0 END), 0) AS BIGINT) AS energy, \
             CAST(COALESCE(SUM(CASE WHEN NOT t.share AND a.kind = 'tax' THEN -e.amount_minor ELSE 0 END), 0) \
             AS BIGINT) AS tax, \
             CAST(COALESCE(SUM(CASE WHEN t.share AND e.account_id IN ($1, $2) THEN e.amount_minor ELSE 0 END), 0) \
             AS BIGINT) AS shares \
             FROM t JOIN entries e ON e.transfer_seq = t.seq JOIN ledger_accounts a ON a.id = e.account_id",
        )
        .bind(accounts[0].as_uuid())
        .bind(accounts[1].as_uuid())
        .bind(from.0)
        .bind(to.0)
        .bind(from.1.map(|t| t.as_uuid()))
        .bind(to.1.map(|t| t.as_uuid()))
        .fetch_one(&self.pool)
        .await?;
        Ok(crate::ConsumptionCharged {
            energy_minor: row.try_get("energy")?,
            tax_minor: row.try_get("tax")?,
            shares_minor: row.try_get("shares")?,
        })
    }

    async fn account_fees_owed(&self, account: AccountId, today: jiff::civil::Date) -> Result<(i64, i64), StoreError> {
        // Dates are stored as YYYY-MM-DD, which compare as text in date order.
        let row = sqlx::query(
            "SELECT CAST(COALESCE(SUM(amount_minor - paid_minor), 0) AS BIGINT) AS owed, \
             CAST(COALESCE(SUM(CASE WHEN due_on < $2 THEN amount_minor - paid_minor ELSE 0 END), 0) AS BIGINT) AS overdue \
             FROM fee_charges WHERE account_id = $1 AND paid_minor < amount_minor",
        )
        .bind(account.as_uuid())
        .bind(today.to_string())
        .fetch_one(&self.pool)
        .await?;
        Ok((row.try_get("owed")?, row.try_get("overdue")?))
    }

    async fn fee_payment(&self, operation: OperationId) -> Result<Option<voltvend_ops::FeePayment>, StoreError> {
        let Some(payment) =
            self.one("SELECT * FROM fee_payments WHERE operation_id = $1", operation.as_uuid(), fee_payment_from_row).await?
        else {
            return Ok(None);
        };
        let mut payments = [payment];
        self.complete_fee_payments(&mut payments).await?;
        let [payment] = payments;
        Ok(Some(payment))
    }

    async fn account_fee_payments(&self, account: AccountId) -> Result<Vec<voltvend_ops::FeePayment>, StoreError> {
        let mut b = QueryBuilder::<Db>::new("SELECT * FROM fee_payments WHERE account_id = ");
        b.push_bind(account.as_uuid()).push(" ORDER BY at_us DESC LIMIT 50");
        let mut payments = self.fetch(b, fee_payment_from_row).await?;
        self.complete_fee_payments(&mut payments).await?;
        Ok(payments)
    }

    async fn fee_payment_totals(&self, shift: ShiftId) -> Result<Vec<FeePaymentTotal>, StoreError> {
        let rows = sqlx::query(
            // A payment reversed since took nothing (its money is owed back, and counted when handed back), as
            // for sales.
            "SELECT method, COUNT(*) AS n, CAST(SUM(paid_minor) AS BIGINT) AS paid FROM fee_payments \
             WHERE shift_id = $1 AND NOT EXISTS (SELECT 1 FROM transfers t WHERE t.corrects_id = fee_payments.transfer_id) \
             GROUP BY method ORDER BY method",
        )
        .bind(shift.as_uuid())
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(FeePaymentTotal {
                    method: r.try_get("method")?,
                    payments: r.try_get("n")?,
                    paid_minor: r.try_get("paid")?,
                })
            })
            .collect()
    }

    async fn floor_area(&self, premises: PremisesId) -> Result<Option<i64>, StoreError> {
        Ok(sqlx::query_scalar("SELECT floor_area_dm2 FROM floor_areas WHERE premises_id = $1")
            .bind(premises.as_uuid())
            .fetch_optional(&self.pool)
            .await?)
    }

    async fn fee_policies(&self, scope: Option<PremisesId>) -> Result<Vec<voltvend_ops::FeePolicy>, StoreError> {
        let scope = self.scope_key(scope).await?;
        let mut b = QueryBuilder::<Db>::new(
            "SELECT f.* FROM fee_policies f JOIN premises p ON p.id = f.premises_id WHERE 1 = 1",
        );
        if let Some(key) = &scope {
            push_scope(&mut b, "f.premises_id", key);
        }
        b.push(" ORDER BY p.path");
        self.fetch(b, fee_policy_from_row).await
    }

    async fn payment_statement(
        &self,
        channel: voltvend_domain::PaymentChannelId,
        day: jiff::civil::Date,
    ) -> Result<Option<PaymentStatement>, StoreError> {
        self.payment_statement_impl(channel, day).await
    }

    async fn payment_intent(&self, id: voltvend_domain::PaymentIntentId) -> Result<Option<PaymentIntent>, StoreError> {
        self.one("SELECT * FROM payment_intents WHERE id = $1", id.as_uuid(), payment_intent_from_row).await
    }

    async fn sales_summary(
        &self,
        scope: Option<PremisesId>,
        f: &SaleFilter,
        grouping: SalesGrouping,
    ) -> Result<Vec<SalesGroup>, StoreError> {
        self.sales_summary_impl(scope, f, grouping).await
    }

    async fn consumption_summary(
        &self,
        scope: Option<PremisesId>,
        premises: Option<PremisesId>,
        from_us: i64,
        to_us: i64,
        grouping: ConsumptionGrouping,
    ) -> Result<Vec<ConsumptionGroup>, StoreError> {
        self.consumption_summary_impl(scope, premises, from_us, to_us, grouping).await
    }

    async fn consumption_curve(
        &self,
        scope: Option<PremisesId>,
        premises: Option<PremisesId>,
        meter: Option<MeterId>,
        utility: &str,
        from_us: i64,
        to_us: i64,
    ) -> Result<Vec<(i64, i64, i64)>, StoreError> {
        let scope_key = self.scope_key(scope).await?;
        let within = self.scope_key(premises).await?;
        let mut b = QueryBuilder::<Db>::new(
            "SELECT r.at_us / 900000000 AS q, CAST(SUM(r.consumption_milli) AS BIGINT) AS used, COUNT(*) AS n \
             FROM readings r JOIN meters m ON m.id = r.meter_id \
             WHERE r.status <> 'flagged' AND m.id NOT IN \
             (SELECT parent_meter_id FROM apportionment_rules WHERE parent_meter_id IS NOT NULL) AND m.utility = ",
        );
        b.push_bind(utility.to_string());
        b.push(" AND r.at_us >= ").push_bind(from_us).push(" AND r.at_us < ").push_bind(to_us);
        if let Some(m) = meter {
            b.push(" AND m.id = ").push_bind(m.as_uuid());
        }
        for k in [&scope_key, &within].into_iter().flatten() {
            push_scope(&mut b, "m.premises_id", k);
        }
        b.push(" GROUP BY r.at_us / 900000000 ORDER BY 1");
        let rows = b.build().fetch_all(&self.pool).await?;
        rows.iter().map(|r| Ok((r.try_get("q")?, r.try_get("used")?, r.try_get("n")?))).collect()
    }

    async fn peak_demands(
        &self,
        scope: Option<PremisesId>,
        premises: Option<PremisesId>,
        meter: Option<MeterId>,
        from_us: i64,
        to_us: i64,
    ) -> Result<Vec<crate::PeakDemand>, StoreError> {
        let scope_key = self.scope_key(scope).await?;
        let within = self.scope_key(premises).await?;
        let mut b = QueryBuilder::<Db>::new(
            "SELECT g.meter_id, g.serial, g.w, (SELECT MIN(x.demand_at_us) FROM meter_demands x \
             WHERE x.meter_id = g.meter_id AND x.demand_w = g.w AND x.demand_at_us >= ",
        );
        b.push_bind(from_us).push(" AND x.demand_at_us < ").push_bind(to_us);
        b.push(
            ") AS at_us FROM (SELECT d.meter_id AS meter_id, MIN(m.serial) AS serial, MAX(d.demand_w) AS w \
             FROM meter_demands d JOIN meters m ON m.id = d.meter_id WHERE m.utility = 'electricity' \
             AND d.demand_at_us >= ",
        );
        b.push_bind(from_us).push(" AND d.demand_at_us < ").push_bind(to_us);
        if let Some(m) = meter {
            b.push(" AND m.id = ").push_bind(m.as_uuid());
        }
        for k in [&scope_key, &within].into_iter().flatten() {
            push_scope(&mut b, "m.premises_id", k);
        }
        b.push(" GROUP BY d.meter_id) g ORDER BY g.w DESC, g.serial LIMIT ").push_bind(crate::PEAK_DEMANDS_MAX);
        let rows = b.build().fetch_all(&self.pool).await?;
        rows.iter()
            .map(|r| {
                Ok(crate::PeakDemand {
                    meter_id: uuid_of(r, "meter_id")?,
                    serial: r.try_get("serial")?,
                    demand_w: r.try_get("w")?,
                    at_us: r.try_get("at_us")?,
                })
            })
            .collect()
    }

    async fn property_imbalances(&self) -> Result<Vec<crate::PropertyImbalance>, StoreError> {
        property_imbalances(&self.pool).await
    }

    async fn vend_totals(&self, from_us: i64, to_us: i64) -> Result<Vec<LedgerTotal>, StoreError> {
        self.vend_totals_impl(from_us, to_us).await
    }

    async fn vend_totals_by_property(&self, from_us: i64, to_us: i64) -> Result<Vec<(PremisesId, LedgerTotal)>, StoreError> {
        self.vend_totals_by_property_impl(from_us, to_us).await
    }

    async fn balance_report(
        &self,
        q: &ListQuery,
        premises: Option<PremisesId>,
        report: BalanceReport,
    ) -> Result<Vec<BalanceLine>, StoreError> {
        const BALANCE: &str = "(w.credits_posted_minor - w.debits_posted_minor)";
        const ARREARS: &str = "(r.debits_posted_minor - r.credits_posted_minor)";
        let mut b = QueryBuilder::<Db>::new(format!(
            "SELECT a.id AS id, c.name AS customer, a.premises_id AS premises_id, p.name AS premises, \
             a.status AS status, a.currency AS currency, {BALANCE} AS balance, {ARREARS} AS arrears \
             FROM accounts a JOIN customers c ON c.id = a.customer_id JOIN premises p ON p.id = a.premises_id \
             JOIN ledger_accounts w ON w.id = a.wallet_id JOIN ledger_accounts r ON r.id = a.arrears_id WHERE 1 = 1"
        ));
        for subtree in [q.scope, premises].into_iter().flatten() {
            let key = path_key(&self.premises(subtree).await?.path);
            push_scope(&mut b, "a.premises_id", &key);
        }
        match report {
            BalanceReport::Arrears => {
                b.push(format!(" AND {ARREARS} > 0"));
            }
            BalanceReport::AtMost(limit) => {
                b.push(" AND a.status <> 'closed' AND ");
                b.push(BALANCE).push(" <= ").push_bind(limit);
            }
        }
        if let Some(after) = uuid_cursor(&q.after)? {
            b.push(" AND a.id > ").push_bind(after);
        }
        b.push(" ORDER BY a.id LIMIT ").push_bind(limit_of(q));
        let rows = b.build().fetch_all(&self.pool).await?;
        rows.iter()
            .map(|r| {
                Ok(BalanceLine {
                    account_id: uuid_of(r, "id")?,
                    customer: r.try_get("customer")?,
                    premises_id: uuid_of(r, "premises_id")?,
                    premises: r.try_get("premises")?,
                    status: r.try_get("status")?,
                    currency: r.try_get("currency")?,
                    balance_minor: r.try_get("balance")?,
                    arrears_minor: r.try_get("arrears")?,
                })
            })
            .collect()
    }

    async fn campaign_candidates(
        &self,
        selection: &CampaignSelection,
        after: Option<MeterId>,
        limit: u32,
    ) -> Result<Vec<MeterId>, StoreError> {
        // Walked in meter order (the primary key) with the selection as a filter: a campaign's meters are most of
        // the fleet, and no index on the parameters is kept up to date at every sale for it.
        let mut b = QueryBuilder::<Db>::new("SELECT s.meter_id FROM sts_meters s WHERE s.pending_campaign IS NULL");
        if let Some(scope) = selection.scope {
            let key = path_key(&self.premises(scope).await?.path);
            b.push(" AND s.meter_id IN (SELECT m.id FROM meters m WHERE 1 = 1");
            push_scope(&mut b, "m.premises_id", &key);
            b.push(")");
        }
        if let Some(base) = &selection.base {
            b.push(" AND s.base = ").push_bind(base.clone());
        }
        if let Some(sgc) = selection.sgc {
            b.push(" AND s.sgc = ").push_bind(i64::from(sgc));
        }
        if let Some(krn) = selection.krn {
            b.push(" AND s.krn = ").push_bind(i64::from(krn));
        }
        if let Some(after) = after {
            b.push(" AND s.meter_id > ").push_bind(after.as_uuid());
        }
        b.push(" ORDER BY s.meter_id LIMIT ").push_bind(i64::from(limit.max(1)));
        let rows = b.build().fetch_all(&self.pool).await?;
        rows.iter().map(|r| uuid_of(r, "meter_id")).collect()
    }

    async fn list_campaigns(&self) -> Result<Vec<voltvend_ops::KeyCampaign>, StoreError> {
        let rows = sqlx::query("SELECT * FROM key_campaigns ORDER BY created_at_us DESC, id").fetch_all(&self.pool).await?;
        rows.iter().map(campaign_from_row).collect()
    }

    async fn campaign(&self, id: CampaignId) -> Result<Option<voltvend_ops::KeyCampaign>, StoreError> {
        self.one("SELECT * FROM key_campaigns WHERE id = $1", id.as_uuid(), campaign_from_row).await
    }

    async fn campaign_dormant(&self, id: CampaignId, since_us: i64) -> Result<i64, StoreError> {
        let n: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM sts_meters s WHERE s.pending_campaign = $1 \
             AND NOT EXISTS (SELECT 1 FROM sales x WHERE x.meter_id = s.meter_id AND x.at_us >= $2)",
        )
        .bind(id.as_uuid())
        .bind(since_us)
        .fetch_one(&self.pool)
        .await?;
        Ok(n)
    }

    async fn list_approvals(&self, q: &ListQuery, f: &ApprovalFilter) -> Result<Vec<ApprovalRecord>, StoreError> {
        self.list_approvals_impl(q, f).await
    }

    async fn approval(&self, id: ApprovalId) -> Result<Option<ApprovalRecord>, StoreError> {
        self.one("SELECT * FROM approvals WHERE id = $1", id.as_uuid(), approval_from_row).await
    }

    async fn open_shift_of(&self, operator: OperatorId) -> Result<Option<Shift>, StoreError> {
        self.one("SELECT * FROM shifts WHERE operator_id = $1 AND status = 'open'", operator.as_uuid(), shift_from_row).await
    }

    async fn opg_state(&self, meter: MeterId) -> Result<Option<OpgState>, StoreError> {
        self.one("SELECT * FROM opg_devices WHERE meter_id = $1", meter.as_uuid(), opg_from_row).await
    }

    async fn opg_states_after(&self, after: Option<MeterId>, limit: u32) -> Result<Vec<OpgState>, StoreError> {
        let rows = sqlx::query("SELECT * FROM opg_devices WHERE meter_id > $1 ORDER BY meter_id LIMIT $2")
            .bind(after.map_or(Uuid::nil(), |m| m.as_uuid()))
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(opg_from_row).collect()
    }

    async fn vending_keys(&self) -> Result<Vec<VendingKeyRecord>, StoreError> {
        let rows = sqlx::query("SELECT * FROM vending_keys ORDER BY sgc, krn").fetch_all(&self.pool).await?;
        rows.iter().map(vending_key_from_row).collect()
    }

    async fn card_keys(&self) -> Result<Vec<CardKeyRecord>, StoreError> {
        let rows = sqlx::query("SELECT * FROM card_keys ORDER BY key_no").fetch_all(&self.pool).await?;
        rows.iter().map(card_key_from_row).collect()
    }

    async fn meter_card(&self, meter: MeterId) -> Result<Option<MeterCard>, StoreError> {
        self.one("SELECT * FROM meter_cards WHERE meter_id = $1", meter.as_uuid(), meter_card_from_row).await
    }

    async fn meter_card_by_serial(&self, serial: &str) -> Result<Option<MeterCard>, StoreError> {
        let current = self
            .one(
                "SELECT * FROM meter_cards WHERE serial = $1 AND status <> 'returned'",
                serial.to_string(),
                meter_card_from_row,
            )
            .await?;
        if current.is_some() {
            return Ok(current);
        }
        // A replaced serial: a space-separated word of `replaced` (serials are hex digits, so no LIKE wildcard
        // can hide in one).
        let rows = sqlx::query("SELECT * FROM meter_cards WHERE replaced LIKE $1")
            .bind(format!("%{serial}%"))
            .fetch_all(&self.pool)
            .await?;
        for row in &rows {
            let card = meter_card_from_row(row)?;
            if card.replaced.iter().any(|s| s == serial) {
                return Ok(Some(card));
            }
        }
        Ok(None)
    }

    async fn meter_control(&self, meter: MeterId) -> Result<Option<MeterControl>, StoreError> {
        self.one("SELECT * FROM meter_controls WHERE meter_id = $1", meter.as_uuid(), control_from_row).await
    }

    async fn channel_meters(
        &self,
        after: Option<MeterId>,
        limit: u32,
    ) -> Result<Vec<(MeterRecord, MeterControl)>, StoreError> {
        let mut b = QueryBuilder::<Db>::new(
            "SELECT m.*, c.meter_id, c.channel, c.keep_power, c.held_open, c.reported_at_us, c.reported_relay, \
             c.reported_keep_power, c.pending, c.shows_credit FROM meter_controls c JOIN meters m ON m.id = c.meter_id \
             WHERE c.channel IS NOT NULL",
        );
        if let Some(after) = after {
            b.push(" AND c.meter_id > ").push_bind(after.as_uuid());
        }
        b.push(" ORDER BY c.meter_id LIMIT ").push_bind(i64::from(limit.clamp(1, ListQuery::LIMIT_MAX)));
        let rows = b.build().fetch_all(&self.pool).await?;
        rows.iter().map(|r| Ok((meter_from_row(r)?, control_from_row(r)?))).collect()
    }

    async fn due_commands(&self, now: Timestamp, limit: u32) -> Result<Vec<MeterCommand>, StoreError> {
        let rows = sqlx::query(
            "SELECT * FROM meter_commands WHERE status = 'pending' AND next_attempt_us <= $1 \
             ORDER BY next_attempt_us, created_at_us, id LIMIT $2",
        )
        .bind(timestamp_us(now))
        .bind(i64::from(limit.clamp(1, ListQuery::LIMIT_MAX)))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(command_from_row).collect()
    }

    async fn meter_command(&self, id: CommandId) -> Result<Option<MeterCommand>, StoreError> {
        self.one("SELECT * FROM meter_commands WHERE id = $1", id.as_uuid(), command_from_row).await
    }

    async fn meter_commands_of(
        &self,
        meter: MeterId,
        before: Option<(i64, Uuid)>,
        limit: u32,
    ) -> Result<Vec<MeterCommand>, StoreError> {
        let mut b = QueryBuilder::<Db>::new("SELECT * FROM meter_commands WHERE meter_id = ");
        b.push_bind(meter.as_uuid());
        if let Some((at, id)) = before {
            b.push(" AND (created_at_us < ").push_bind(at);
            b.push(" OR (created_at_us = ").push_bind(at).push(" AND id < ").push_bind(id).push("))");
        }
        b.push(" ORDER BY created_at_us DESC, id DESC LIMIT ").push_bind(i64::from(limit.clamp(1, ListQuery::LIMIT_MAX)));
        let rows = b.build().fetch_all(&self.pool).await?;
        rows.iter().map(command_from_row).collect()
    }

    async fn meter_tokens(
        &self,
        meter: MeterId,
        before: Option<i64>,
        limit: u32,
    ) -> Result<Vec<(i64, MeterTokenRecord)>, StoreError> {
        let rows = sqlx::query(
            "SELECT * FROM meter_tokens WHERE meter_id = $1 AND seq < $2 ORDER BY seq DESC LIMIT $3",
        )
        .bind(meter.as_uuid())
        .bind(before.unwrap_or(i64::MAX))
        .bind(i64::from(limit.clamp(1, ListQuery::LIMIT_MAX)))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(|r| Ok((r.try_get("seq")?, meter_token_from_row(r)?))).collect()
    }

    async fn list_audit(&self, q: &ListQuery, f: &AuditFilter) -> Result<Vec<AuditRecord>, StoreError> {
        self.list_audit_impl(q, f).await
    }

    async fn tariff_document(&self, code: &str) -> Result<Option<TariffDocument>, StoreError> {
        let row = sqlx::query(
            "SELECT code, revision, name, document FROM tariff_documents WHERE code = $1 ORDER BY revision DESC LIMIT 1",
        )
        .bind(code)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| {
            let t = tariff_from_row(&r)?;
            Ok(TariffDocument { code: t.code, revision: t.revision, name: t.name, document: t.document })
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
        row.as_ref().map(pricing_from_row).transpose()
    }

    async fn audit_records(&self, after_seq: i64, limit: u32) -> Result<Vec<AuditRecord>, StoreError> {
        let rows = sqlx::query("SELECT * FROM audit_log WHERE seq > $1 ORDER BY seq LIMIT $2")
            .bind(after_seq)
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(audit_from_row).collect()
    }

    async fn audit_head(&self) -> Result<AuditHead, StoreError> {
        stored_audit_head(&self.pool).await
    }

    async fn verify_audit(&self, expect: Option<AuditHead>) -> Result<(Vec<String>, AuditHead), StoreError> {
        verify_audit_chain(&self.pool, expect).await
    }

    async fn check(&self, scope: CheckScope) -> Result<CheckReport, StoreError> {
        check_database(&self.pool, scope).await
    }

    async fn meta(&self, key: &str) -> Result<Option<String>, StoreError> {
        Ok(sqlx::query_scalar("SELECT value FROM meta WHERE key = $1").bind(key).fetch_optional(&self.pool).await?)
    }

    async fn set_meta(&self, key: &str, value: &str) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = excluded.value")
            .bind(key)
            .bind(value)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn lock_instance(&self) -> Result<InstanceLock, StoreError> {
        lock_instance_impl(&self.pool, &self.url).await
    }

    async fn backup_to(&self, dir: &Path, stamp: &str) -> Result<PathBuf, StoreError> {
        if !is_migrated(&self.pool).await? {
            return Err(StoreError::NoDatabase(format!(
                "{} holds no Voltvend database: nothing to back up",
                crate::redact_url(&self.url)
            )));
        }
        backup_impl(&self.pool, &self.url, dir, stamp).await
    }

    async fn close(&self) {
        self.writer.shutdown().await;
        self.pool.close().await;
    }
}

/// Whether every migration of this build has been applied.
/// The versions of the migrations applied; none on an empty (or foreign) database.
async fn applied_migrations(pool: &Pool<Db>) -> Result<Vec<i64>, StoreError> {
    match sqlx::query_scalar("SELECT version FROM _sqlx_migrations WHERE success").fetch_all(pool).await {
        Ok(v) => Ok(v),
        // No migrations table: an empty (or foreign) database.
        Err(sqlx::Error::Database(_)) => Ok(Vec::new()),
        Err(e) => Err(e.into()),
    }
}

async fn is_migrated(pool: &Pool<Db>) -> Result<bool, StoreError> {
    let applied = applied_migrations(pool).await?;
    Ok(!applied.is_empty() && MIGRATOR.iter().all(|m| applied.contains(&m.version)))
}
