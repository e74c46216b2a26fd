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

/// The IN lists that ask for `keys`: as few as the parameter limit allows, each padded to a power of two
/// by repeating its last key (IN ignores the repeats), so that any number of keys takes one round trip per
/// [`INSERT_CHUNK_ROWS`] while every statement text is still one of a few.
fn in_lists<K: Clone>(keys: &[K]) -> impl Iterator<Item = Vec<K>> + '_ {
    keys.chunks(INSERT_CHUNK_ROWS).map(|chunk| {
        let mut list = chunk.to_vec();
        if let Some(last) = chunk.last() {
            list.resize(chunk.len().next_power_of_two(), last.clone());
        }
        list
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
    for chunk in in_lists(keys) {
        let mut q = QueryBuilder::<Db>::new(select);
        q.push(" IN (");
        let mut list = q.separated(", ");
        for k in chunk {
            list.push_bind(k);
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

/// Reads the common meters and units of rules read by [`apportionment_rule_from_row`].
async fn complete_rules(conn: &mut Conn, rules: &mut [voltvend_ops::ApportionmentRule]) -> Result<(), StoreError> {
    let keys: Vec<Uuid> = rules.iter().map(|r| r.id.as_uuid()).collect();
    let meters = select_in(conn, "SELECT rule_id, idx, meter_id FROM apportionment_rule_meters WHERE rule_id", &keys, |r| {
        Ok((uuid_of::<voltvend_domain::ApportionmentRuleId>(r, "rule_id")?, r.try_get::<i64, _>("idx")?, uuid_of::<MeterId>(r, "meter_id")?))
    })
    .await?;
    let units = select_in(conn, "SELECT * FROM apportionment_rule_units WHERE rule_id", &keys, |r| {
        Ok((
            uuid_of::<voltvend_domain::ApportionmentRuleId>(r, "rule_id")?,
            r.try_get::<i64, _>("idx")?,
            voltvend_ops::ApportionedUnit { premises_id: uuid_of(r, "premises_id")?, floor_area_dm2: r.try_get("floor_area_dm2")? },
        ))
    })
    .await?;
    for rule in rules.iter_mut() {
        let mut m: Vec<_> = meters.iter().filter(|(id, _, _)| *id == rule.id).map(|(_, i, m)| (*i, *m)).collect();
        m.sort_by_key(|(i, _)| *i);
        rule.common_meters = m.into_iter().map(|(_, m)| m).collect();
        let mut u: Vec<_> = units.iter().filter(|(id, _, _)| *id == rule.id).map(|(_, i, u)| (*i, *u)).collect();
        u.sort_by_key(|(i, _)| *i);
        rule.units = u.into_iter().map(|(_, u)| u).collect();
    }
    Ok(())
}

/// Reads the shares of runs read by [`apportionment_run_from_row`], in the rule's order.
async fn complete_runs(conn: &mut Conn, runs: &mut [voltvend_ops::ApportionmentRun]) -> Result<(), StoreError> {
    let keys: Vec<Uuid> = runs.iter().map(|r| r.operation_id.as_uuid()).collect();
    let shares = select_in(conn, "SELECT * FROM apportionment_shares WHERE run_id", &keys, |r| {
        Ok((
            uuid_of::<OperationId>(r, "run_id")?,
            r.try_get::<i64, _>("idx")?,
            voltvend_ops::UnitShare {
                premises_id: uuid_of(r, "premises_id")?,
                account_id: opt_uuid_of(r, "account_id")?,
                weight: r.try_get("weight")?,
                consumption_milli: r.try_get("consumption_milli")?,
                share_milli: r.try_get("share_milli")?,
                amount_minor: r.try_get("amount_minor")?,
                transfer_id: opt_uuid_of(r, "transfer_id")?,
            },
        ))
    })
    .await?;
    for run in runs.iter_mut() {
        let mut s: Vec<_> =
            shares.iter().filter(|(id, _, _)| *id == run.operation_id).map(|(_, i, s)| (*i, s.clone())).collect();
        s.sort_by_key(|(i, _)| *i);
        run.shares = s.into_iter().map(|(_, s)| s).collect();
    }
    Ok(())
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

    async fn meter_categories(&mut self, meters: &[MeterId]) -> Result<Vec<voltvend_ops::MeterCategory>, StoreError> {
        let keys = uuids(meters, |x| x.as_uuid());
        select_in(self.conn, "SELECT * FROM meter_categories WHERE meter_id", &keys, |r| {
            Ok(voltvend_ops::MeterCategory {
                meter_id: uuid_of(r, "meter_id")?,
                category: parsed(r, "category")?,
                sub_item: r.try_get("sub_item")?,
            })
        })
        .await
    }

    async fn apportionment_rules(
        &mut self,
        ids: &[voltvend_domain::ApportionmentRuleId],
    ) -> Result<Vec<voltvend_ops::ApportionmentRule>, StoreError> {
        let keys = uuids(ids, |x| x.as_uuid());
        let mut rules =
            select_in(self.conn, "SELECT * FROM apportionment_rules WHERE id", &keys, apportionment_rule_from_row).await?;
        complete_rules(self.conn, &mut rules).await?;
        Ok(rules)
    }

    async fn apportionment_runs(
        &mut self,
        keys: &[(voltvend_domain::ApportionmentRuleId, i32)],
    ) -> Result<Vec<voltvend_ops::ApportionmentRun>, StoreError> {
        // By rule, then the months asked for (a batch asks for a few).
        let rules: Vec<Uuid> = keys.iter().map(|(r, _)| r.as_uuid()).collect();
        let mut runs =
            select_in(self.conn, "SELECT * FROM apportionment_runs WHERE rule_id", &rules, apportionment_run_from_row)
                .await?;
        runs.retain(|r| keys.contains(&(r.rule_id, r.period)));
        complete_runs(self.conn, &mut runs).await?;
        Ok(runs)
    }

    async fn meters_at(&mut self, premises: &[PremisesId]) -> Result<Vec<MeterRecord>, StoreError> {
        let keys = uuids(premises, |x| x.as_uuid());
        select_in(self.conn, "SELECT * FROM meters WHERE premises_id", &keys, meter_from_row).await
    }

    async fn consumption(
        &mut self,
        spans: &[(MeterId, Timestamp, Timestamp)],
    ) -> Result<Vec<voltvend_ops::SpanConsumption>, StoreError> {
        let mut out = Vec::with_capacity(spans.len());
        // One query per span (the index on (meter_id, at_us) answers each); a month to post asks for its rule's
        // meters, rarely more than a few hundred.
        for (meter_id, from, to) in spans {
            let row = sqlx::query(
                "SELECT COUNT(*) AS n, \
                 CAST(COALESCE(SUM(CASE WHEN status = 'flagged' THEN 0 ELSE consumption_milli END), 0) AS BIGINT) AS used, \
                 CAST(COALESCE(SUM(CASE WHEN status = 'flagged' THEN 1 ELSE 0 END), 0) AS BIGINT) AS flagged \
                 FROM readings WHERE meter_id = $1 AND at_us >= $2 AND at_us < $3",
            )
            .bind(meter_id.as_uuid())
            .bind(timestamp_us(*from))
            .bind(timestamp_us(*to))
            .fetch_one(&mut *self.conn)
            .await?;
            out.push(voltvend_ops::SpanConsumption {
                meter_id: *meter_id,
                from: *from,
                to: *to,
                consumption_milli: row.try_get("used")?,
                readings: row.try_get("n")?,
                flagged: row.try_get("flagged")?,
            });
        }
        Ok(out)
    }

    async fn floor_areas(&mut self, premises: &[PremisesId]) -> Result<Vec<voltvend_ops::FloorArea>, StoreError> {
        let keys = uuids(premises, |x| x.as_uuid());
        select_in(self.conn, "SELECT * FROM floor_areas WHERE premises_id", &keys, |r| {
            Ok(voltvend_ops::FloorArea { premises_id: uuid_of(r, "premises_id")?, floor_area_dm2: r.try_get("floor_area_dm2")? })
        })
        .await
    }

    async fn fee_policies(&mut self, premises: &[PremisesId]) -> Result<Vec<voltvend_ops::FeePolicy>, StoreError> {
        let keys = uuids(premises, |x| x.as_uuid());
        select_in(self.conn, "SELECT * FROM fee_policies WHERE premises_id", &keys, fee_policy_from_row).await
    }

    async fn fee_schedules(
        &mut self,
        ids: &[voltvend_domain::FeeScheduleId],
    ) -> Result<Vec<voltvend_ops::FeeSchedule>, StoreError> {
        let keys = uuids(ids, |x| x.as_uuid());
        select_in(self.conn, "SELECT * FROM fee_schedules WHERE id", &keys, fee_schedule_from_row).await
    }

    async fn books_at(&mut self, premises: &[PremisesId]) -> Result<Vec<Books>, StoreError> {
        let keys = uuids(premises, |x| x.as_uuid());
        select_in(self.conn, "SELECT * FROM books WHERE premises_id", &keys, books_from_row).await
    }

    async fn postpaid_schedules(&mut self) -> Result<Vec<voltvend_ops::FeeSchedule>, StoreError> {
        let rows = sqlx::query("SELECT * FROM fee_schedules WHERE basis = 'postpaid'").fetch_all(&mut *self.conn).await?;
        rows.iter().map(fee_schedule_from_row).collect()
    }

    async fn fee_runs(
        &mut self,
        keys: &[(voltvend_domain::FeeScheduleId, i32)],
    ) -> Result<Vec<voltvend_ops::FeeRun>, StoreError> {
        let schedules: Vec<Uuid> = keys.iter().map(|(s, _)| s.as_uuid()).collect();
        let mut runs = select_in(self.conn, "SELECT * FROM fee_runs WHERE schedule_id", &schedules, fee_run_from_row).await?;
        runs.retain(|r| keys.contains(&(r.schedule_id, r.period)));
        Ok(runs)
    }

    async fn fee_payments(&mut self, ids: &[OperationId]) -> Result<Vec<voltvend_ops::FeePayment>, StoreError> {
        let keys = uuids(ids, |x| x.as_uuid());
        let mut payments = select_in(self.conn, "SELECT * FROM fee_payments WHERE operation_id", &keys, fee_payment_from_row).await?;
        let lines = select_in(self.conn, "SELECT * FROM fee_allocations WHERE operation_id", &keys, fee_allocation_from_row).await?;
        for p in &mut payments {
            p.lines = lines.iter().filter(|l| l.operation_id == p.operation_id).cloned().collect();
            p.lines.sort_by_key(|l| l.idx);
        }
        Ok(payments)
    }

    async fn fee_charges(
        &mut self,
        keys: &[(voltvend_domain::FeeScheduleId, i32, AccountId)],
    ) -> Result<Vec<voltvend_ops::FeeCharge>, StoreError> {
        let accounts: Vec<Uuid> = keys.iter().map(|(_, _, a)| a.as_uuid()).collect();
        let mut charges = select_in(self.conn, "SELECT * FROM fee_charges WHERE account_id", &accounts, fee_charge_from_row).await?;
        charges.retain(|c| keys.contains(&(c.schedule_id, c.period, c.account_id)));
        Ok(charges)
    }

    async fn unpaid_fee_charges(&mut self, accounts: &[AccountId]) -> Result<Vec<voltvend_ops::FeeCharge>, StoreError> {
        let keys = uuids(accounts, |x| x.as_uuid());
        // The partial index fee_charges_unpaid answers this with the few charges still owed.
        let mut charges =
            select_in(self.conn, "SELECT * FROM fee_charges WHERE paid_minor < amount_minor AND account_id", &keys, fee_charge_from_row)
                .await?;
        charges.retain(|c| c.outstanding_minor() > 0);
        Ok(charges)
    }

    async fn units_within(&mut self, sites: &[PremisesId]) -> Result<Vec<(PremisesId, PremisesId)>, StoreError> {
        let mut out = Vec::new();
        for site in sites {
            let Some(path) = sqlx::query_scalar::<_, String>("SELECT path FROM premises WHERE id = $1")
                .bind(site.as_uuid())
                .fetch_optional(&mut *self.conn)
                .await?
            else {
                continue;
            };
            let rows = sqlx::query("SELECT id FROM premises WHERE level = 'unit' AND (path = $1 OR path LIKE $2)")
                .bind(path.clone())
                .bind(format!("{path}/%"))
                .fetch_all(&mut *self.conn)
                .await?;
            for r in rows {
                out.push((*site, uuid_of(&r, "id")?));
            }
        }
        Ok(out)
    }

    async fn accounts_at(&mut self, premises: &[PremisesId]) -> Result<Vec<AccountRecord>, StoreError> {
        let keys = uuids(premises, |x| x.as_uuid());
        select_in(self.conn, "SELECT * FROM accounts WHERE premises_id", &keys, account_from_row).await
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
