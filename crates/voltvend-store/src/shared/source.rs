// Batched reads for the operations loader, inside the batch's write transaction. Part of the SQL body both
// backends include (see `shared/mod.rs`).

type Conn = <Db as sqlx::Database>::Connection;

/// Rows per multi-row INSERT or IN list: keeps every statement under both engines' bound-parameter limits.
const INSERT_CHUNK_ROWS: usize = 256;

/// Splits `rows` into chunks whose lengths are powers of two (at most [`INSERT_CHUNK_ROWS`]), so that a batch
/// of any size uses one of a few statement texts: prepared statements are cached by text, and preparing one
/// with hundreds of parameters costs more than running it.
fn chunks<T>(rows: &[T]) -> impl Iterator<Item = &[T]> {
    let mut rest = rows;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let n = INSERT_CHUNK_ROWS.min(1 << rest.len().ilog2());
        let (head, tail) = rest.split_at(n);
        rest = tail;
        Some(head)
    })
}

/// `SELECT … WHERE <column> IN (keys)`, in chunks; `select` ends just before the IN list.
async fn select_in<K, T>(
    conn: &mut Conn,
    select: &str,
    keys: &[K],
    map: fn(&DbRow) -> Result<T, StoreError>,
) -> Result<Vec<T>, StoreError>
where
    K: Clone + Send + for<'q> sqlx::Encode<'q, Db> + sqlx::Type<Db> + 'static,
{
    let mut out = Vec::new();
    for chunk in chunks(keys) {
        let mut q = QueryBuilder::<Db>::new(select);
        q.push(" IN (");
        let mut list = q.separated(", ");
        for k in chunk {
            list.push_bind(k.clone());
        }
        q.push(")");
        for row in q.build().fetch_all(&mut *conn).await? {
            out.push(map(&row)?);
        }
    }
    Ok(out)
}

fn uuids<T: Copy>(ids: &[T], f: fn(&T) -> Uuid) -> Vec<Uuid> {
    ids.iter().map(f).collect()
}

/// Loads transfers (with their postings) whose ids are in `ids`, or that correct one of `targets`.
async fn load_transfers(conn: &mut Conn, column: &str, ids: &[Uuid]) -> Result<Vec<Transfer>, StoreError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let select = format!("SELECT seq, id, kind, currency, corrects_id, memo, posted_at_us FROM transfers WHERE {column}");
    let mut transfers = select_in(conn, &select, ids, |row| {
        Ok(Transfer {
            request: TransferRequest {
                id: uuid_of(row, "id")?,
                kind: parsed(row, "kind")?,
                currency: currency_from(row.try_get("currency")?)?,
                postings: Vec::new(),
                corrects: opt_uuid_of(row, "corrects_id")?,
                memo: row.try_get("memo")?,
            },
            seq: row.try_get("seq")?,
            posted_at: at_of(row, "posted_at_us")?,
        })
    })
    .await?;
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
                account: uuid_of(&row, "account_id")?,
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

/// The operations loader's view of a connection.
struct TxSource<'c> {
    conn: &'c mut Conn,
}

impl voltvend_ops::Source for TxSource<'_> {
    type Error = StoreError;

    async fn idempotency(&mut self, ids: &[OperationId]) -> Result<Vec<IdempotencyRecord>, StoreError> {
        let keys = uuids(ids, |x| x.as_uuid());
        select_in(self.conn, "SELECT * FROM idempotency WHERE operation_id", &keys, idempotency_from_row).await
    }

    async fn premises(&mut self, ids: &[PremisesId]) -> Result<Vec<Premises>, StoreError> {
        let keys = uuids(ids, |x| x.as_uuid());
        select_in(self.conn, "SELECT * FROM premises WHERE id", &keys, premises_from_row).await
    }

    async fn operators(&mut self, ids: &[OperatorId]) -> Result<Vec<Operator>, StoreError> {
        let keys = uuids(ids, |x| x.as_uuid());
        select_in(self.conn, "SELECT * FROM operators WHERE id", &keys, operator_from_row).await
    }

    async fn operators_by_username(&mut self, names: &[String]) -> Result<Vec<Operator>, StoreError> {
        select_in(self.conn, "SELECT * FROM operators WHERE username", names, operator_from_row).await
    }

    async fn customers(&mut self, ids: &[CustomerId]) -> Result<Vec<Customer>, StoreError> {
        let keys = uuids(ids, |x| x.as_uuid());
        select_in(self.conn, "SELECT * FROM customers WHERE id", &keys, customer_from_row).await
    }

    async fn accounts(&mut self, ids: &[AccountId]) -> Result<Vec<AccountRecord>, StoreError> {
        let keys = uuids(ids, |x| x.as_uuid());
        select_in(self.conn, "SELECT * FROM accounts WHERE id", &keys, account_from_row).await
    }

    async fn meters(&mut self, ids: &[MeterId]) -> Result<Vec<MeterRecord>, StoreError> {
        let keys = uuids(ids, |x| x.as_uuid());
        select_in(self.conn, "SELECT * FROM meters WHERE id", &keys, meter_from_row).await
    }

    async fn meters_by_serial(&mut self, serials: &[String]) -> Result<Vec<MeterRecord>, StoreError> {
        select_in(self.conn, "SELECT * FROM meters WHERE serial", serials, meter_from_row).await
    }

    async fn meters_of_accounts(&mut self, accounts: &[AccountId]) -> Result<Vec<MeterRecord>, StoreError> {
        let keys = uuids(accounts, |x| x.as_uuid());
        select_in(self.conn, "SELECT * FROM meters WHERE account_id", &keys, meter_from_row).await
    }

    async fn vending_points(&mut self, ids: &[VendingPointId]) -> Result<Vec<VendingPoint>, StoreError> {
        let keys = uuids(ids, |x| x.as_uuid());
        select_in(self.conn, "SELECT * FROM vending_points WHERE id", &keys, vending_point_from_row).await
    }

    async fn shifts(&mut self, ids: &[ShiftId]) -> Result<Vec<Shift>, StoreError> {
        let keys = uuids(ids, |x| x.as_uuid());
        select_in(self.conn, "SELECT * FROM shifts WHERE id", &keys, shift_from_row).await
    }

    async fn books(&mut self, ids: &[BooksId]) -> Result<Vec<Books>, StoreError> {
        let keys = uuids(ids, |x| x.as_uuid());
        select_in(self.conn, "SELECT * FROM books WHERE id", &keys, books_from_row).await
    }

    async fn ledger_accounts(&mut self, ids: &[LedgerAccountId]) -> Result<Vec<(LedgerAccount, Balance)>, StoreError> {
        let keys = uuids(ids, |x| x.as_uuid());
        let select = format!("SELECT {LEDGER_ACCOUNT_COLUMNS} FROM ledger_accounts WHERE id");
        select_in(self.conn, &select, &keys, ledger_account_from_row).await
    }

    async fn transfers(&mut self, ids: &[TransferId]) -> Result<Vec<Transfer>, StoreError> {
        load_transfers(self.conn, "id", &uuids(ids, |x| x.as_uuid())).await
    }

    async fn corrections_of(&mut self, targets: &[TransferId]) -> Result<Vec<Transfer>, StoreError> {
        load_transfers(self.conn, "corrects_id", &uuids(targets, |x| x.as_uuid())).await
    }

    async fn sts_states(&mut self, meters: &[MeterId]) -> Result<Vec<StsState>, StoreError> {
        let keys = uuids(meters, |x| x.as_uuid());
        select_in(self.conn, "SELECT * FROM sts_meters WHERE meter_id", &keys, sts_from_row).await
    }

    async fn pricing_states(
        &mut self,
        keys: &[(AccountId, String)],
    ) -> Result<Vec<(AccountId, String, PricingState)>, StoreError> {
        let mut accounts: Vec<Uuid> = keys.iter().map(|k| k.0.as_uuid()).collect();
        accounts.sort_unstable();
        accounts.dedup();
        let rows = select_in(self.conn, "SELECT * FROM pricing_states WHERE account_id", &accounts, |r| {
            Ok((uuid_of::<AccountId>(r, "account_id")?, r.try_get::<String, _>("tariff_code")?, pricing_from_row(r)?))
        })
        .await?;
        Ok(rows.into_iter().filter(|(a, code, _)| keys.iter().any(|k| k.0 == *a && k.1 == *code)).collect())
    }

    async fn reading_states(&mut self, meters: &[MeterId]) -> Result<Vec<ReadingState>, StoreError> {
        let keys = uuids(meters, |x| x.as_uuid());
        select_in(self.conn, "SELECT * FROM reading_states WHERE meter_id", &keys, reading_state_from_row).await
    }

    async fn meter_controls(&mut self, meters: &[MeterId]) -> Result<Vec<MeterControl>, StoreError> {
        let keys = uuids(meters, |x| x.as_uuid());
        select_in(self.conn, "SELECT * FROM meter_controls WHERE meter_id", &keys, control_from_row).await
    }

    async fn meter_commands(&mut self, ids: &[CommandId]) -> Result<Vec<MeterCommand>, StoreError> {
        let keys = uuids(ids, |x| x.as_uuid());
        select_in(self.conn, "SELECT * FROM meter_commands WHERE id", &keys, command_from_row).await
    }

    async fn tariffs(&mut self, codes: &[String]) -> Result<Vec<TariffDoc>, StoreError> {
        let latest = "SELECT code, revision, name, document FROM tariff_documents d \
                      WHERE d.revision = (SELECT MAX(x.revision) FROM tariff_documents x WHERE x.code = d.code) AND d.code";
        select_in(self.conn, latest, codes, tariff_from_row).await
    }

    async fn roles(&mut self, names: &[String]) -> Result<Vec<Role>, StoreError> {
        select_in(self.conn, "SELECT * FROM roles WHERE name", names, role_from_row).await
    }

    async fn sessions(&mut self, hashes: &[[u8; 32]]) -> Result<Vec<SessionRecord>, StoreError> {
        let keys: Vec<Vec<u8>> = hashes.iter().map(|h| h.to_vec()).collect();
        select_in(self.conn, "SELECT * FROM sessions WHERE id_hash", &keys, session_from_row).await
    }

    async fn api_tokens(&mut self, ids: &[ApiTokenId]) -> Result<Vec<ApiTokenRecord>, StoreError> {
        let keys = uuids(ids, |x| x.as_uuid());
        select_in(self.conn, "SELECT * FROM api_tokens WHERE id", &keys, api_token_from_row).await
    }

    async fn opg_states(&mut self, meters: &[MeterId]) -> Result<Vec<OpgState>, StoreError> {
        let keys = uuids(meters, |x| x.as_uuid());
        select_in(self.conn, "SELECT * FROM opg_devices WHERE meter_id", &keys, opg_from_row).await
    }

    async fn vending_keys(&mut self, keys: &[(u32, u8)]) -> Result<Vec<VendingKeyRecord>, StoreError> {
        let mut groups: Vec<i64> = keys.iter().map(|k| i64::from(k.0)).collect();
        groups.sort_unstable();
        groups.dedup();
        let rows = select_in(self.conn, "SELECT * FROM vending_keys WHERE sgc", &groups, vending_key_from_row).await?;
        Ok(rows.into_iter().filter(|r| keys.contains(&(r.sgc, r.krn))).collect())
    }

    async fn card_keys(&mut self, keys: &[u32]) -> Result<Vec<CardKeyRecord>, StoreError> {
        let keys: Vec<i64> = keys.iter().map(|k| i64::from(*k)).collect();
        select_in(self.conn, "SELECT * FROM card_keys WHERE key_no", &keys, card_key_from_row).await
    }

    async fn meter_cards(&mut self, meters: &[MeterId]) -> Result<Vec<MeterCard>, StoreError> {
        let keys = uuids(meters, |x| x.as_uuid());
        select_in(self.conn, "SELECT * FROM meter_cards WHERE meter_id", &keys, meter_card_from_row).await
    }

    async fn meter_cards_by_serial(&mut self, serials: &[String]) -> Result<Vec<MeterCard>, StoreError> {
        select_in(
            self.conn,
            "SELECT * FROM meter_cards WHERE status <> 'returned' AND serial",
            serials,
            meter_card_from_row,
        )
        .await
    }

    async fn payment_channels(
        &mut self,
        ids: &[voltvend_domain::PaymentChannelId],
    ) -> Result<Vec<PaymentChannel>, StoreError> {
        let keys = uuids(ids, |x| x.as_uuid());
        select_in(self.conn, "SELECT * FROM payment_channels WHERE id", &keys, payment_channel_from_row).await
    }

    async fn payment_intents(
        &mut self,
        ids: &[voltvend_domain::PaymentIntentId],
    ) -> Result<Vec<PaymentIntent>, StoreError> {
        let keys = uuids(ids, |x| x.as_uuid());
        select_in(self.conn, "SELECT * FROM payment_intents WHERE id", &keys, payment_intent_from_row).await
    }

    async fn refused_payments(&mut self, ids: &[OperationId]) -> Result<Vec<RefusedPayment>, StoreError> {
        let keys = uuids(ids, |x| x.as_uuid());
        select_in(self.conn, "SELECT * FROM refused_payments WHERE operation_id", &keys, refused_payment_from_row).await
    }

    async fn campaigns(&mut self, ids: &[CampaignId]) -> Result<Vec<voltvend_ops::KeyCampaign>, StoreError> {
        let keys = uuids(ids, |x| x.as_uuid());
        select_in(self.conn, "SELECT * FROM key_campaigns WHERE id", &keys, campaign_from_row).await
    }

    async fn approvals(&mut self, ids: &[ApprovalId]) -> Result<Vec<ApprovalRecord>, StoreError> {
        let keys = uuids(ids, |x| x.as_uuid());
        select_in(self.conn, "SELECT * FROM approvals WHERE id", &keys, approval_from_row).await
    }

    async fn sales(&mut self, ids: &[OperationId]) -> Result<Vec<SaleRecord>, StoreError> {
        let keys = uuids(ids, |x| x.as_uuid());
        select_in(self.conn, "SELECT * FROM sales WHERE operation_id", &keys, sale_from_row).await
    }

    async fn open_shifts(&mut self, operators: &[OperatorId]) -> Result<Vec<Shift>, StoreError> {
        let keys = uuids(operators, |x| x.as_uuid());
        select_in(self.conn, "SELECT * FROM shifts WHERE status = 'open' AND operator_id", &keys, shift_from_row).await
    }

    async fn heads(&mut self) -> Result<(i64, AuditHead), StoreError> {
        let last_seq: i64 =
            sqlx::query_scalar("SELECT COALESCE(MAX(seq), 0) FROM transfers").fetch_one(&mut *self.conn).await?;
        let head = sqlx::query("SELECT seq, hash FROM audit_head WHERE id = 1").fetch_optional(&mut *self.conn).await?;
        let head = match head {
            Some(r) => AuditHead { seq: r.try_get("seq")?, hash: hash_of(&r, "hash")? },
            None => AuditHead::default(),
        };
        Ok((last_seq, head))
    }
}
