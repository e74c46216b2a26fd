// Writing what a batch of operations changed, in an order that respects foreign keys. Part of the SQL body both
// backends include (see `shared/mod.rs`). Rows that change later (accounts, meters, shifts…) are upserted;
// append-only rows are inserted.
//
// What a batch writes is first gathered as statements and their rows (`Writes`), without touching the database;
// each backend then runs them its own way (`run_writes`): PostgreSQL as multi-row statements, SQLite on its
// connection's own handle, a row at a time (see `sqlite.rs`).

/// A value of a row to be written. NULLs keep their type: PostgreSQL types a parameter by what is bound to it.
#[derive(Debug, Clone, PartialEq)]
enum Value {
    Int(Option<i64>),
    Bool(Option<bool>),
    Text(Option<String>),
    Blob(Option<Vec<u8>>),
    Uuid(Option<Uuid>),
}

macro_rules! value_from {
    ($($t:ty => $variant:ident),* $(,)?) => {$(
        impl From<$t> for Value {
            fn from(v: $t) -> Self {
                Value::$variant(Some(v.into()))
            }
        }
        impl From<Option<$t>> for Value {
            fn from(v: Option<$t>) -> Self {
                Value::$variant(v.map(Into::into))
            }
        }
    )*};
}

value_from!(i64 => Int, i32 => Int, u32 => Int, i16 => Int, u8 => Int, bool => Bool, String => Text,
    &str => Text, Vec<u8> => Blob, Uuid => Uuid);

/// One row's values, in the order of its statement's columns.
#[derive(Debug, Default)]
struct RowValues(Vec<Value>);

impl RowValues {
    fn push_bind(&mut self, v: impl Into<Value>) -> &mut Self {
        self.0.push(v.into());
        self
    }
}

/// One statement, `head VALUES (row), (row)… tail`, and the rows it writes.
#[derive(Debug)]
struct WriteStatement {
    head: &'static str,
    tail: &'static str,
    rows: Vec<RowValues>,
}

/// What a batch writes, statement by statement, in the order they must run.
#[derive(Debug, Default)]
struct Writes(Vec<WriteStatement>);

impl Writes {
    /// Writes `rows` through `head VALUES (…) tail`; nothing when there are none.
    fn insert<T>(&mut self, head: &'static str, tail: &'static str, rows: &[T], bind: impl Fn(&mut RowValues, &T)) {
        if rows.is_empty() {
            return;
        }
        let rows = rows
            .iter()
            .map(|r| {
                let mut values = RowValues::default();
                bind(&mut values, r);
                values
            })
            .collect();
        self.0.push(WriteStatement { head, tail, rows });
    }
}

/// What `c` changed, as statements.
fn writes_of(c: &Changes, at_us: i64) -> Writes {
    let mut w = Writes::default();
    write_changes(&mut w, c, at_us);
    w
}

/// Runs `writes` through sqlx as multi-row statements, in chunks (PostgreSQL's way; SQLite's is in `sqlite.rs`).
#[cfg_attr(not(test), allow(dead_code, reason = "SQLite's writer runs its statements its own way; its tests use this"))]
async fn run_multi_row(conn: &mut Conn, writes: &Writes) -> Result<(), sqlx::Error> {
    for s in &writes.0 {
        for chunk in chunks(&s.rows) {
            let mut q = QueryBuilder::<Db>::new(s.head);
            q.push(" ");
            q.push_values(chunk, |mut b, row| {
                for v in &row.0 {
                    match v {
                        Value::Int(x) => b.push_bind(*x),
                        Value::Bool(x) => b.push_bind(*x),
                        Value::Text(x) => b.push_bind(x.clone()),
                        Value::Blob(x) => b.push_bind(x.clone()),
                        Value::Uuid(x) => b.push_bind(*x),
                    };
                }
            });
            q.push(s.tail);
            q.build().execute(&mut *conn).await?;
        }
    }
    Ok(())
}

fn write_changes(w: &mut Writes, c: &Changes, at_us: i64) {
    w.insert(
        "INSERT INTO premises (id, parent_id, level, name, time_zone, path, created_at_us)",
        "",
        &c.premises,
        |b, p| {
            b.push_bind(p.id.as_uuid())
                .push_bind(p.parent.map(|x| x.as_uuid()))
                .push_bind(p.level.as_str())
                .push_bind(p.name.clone())
                .push_bind(p.time_zone.clone())
                .push_bind(path_key(&p.path))
                .push_bind(at_us);
        },
    );
    w.insert(
        "INSERT INTO roles (name, description, permissions, created_at_us)",
        " ON CONFLICT (name) DO UPDATE SET description = excluded.description, permissions = excluded.permissions",
        &c.roles,
        |b, r| {
            b.push_bind(r.name.clone()).push_bind(r.description.clone()).push_bind(r.permissions_text()).push_bind(at_us);
        },
    );
    w.insert(
        "INSERT INTO operators (id, username, display_name, role, scope_id, password_hash, active, created_at_us, \
         failed_logins, locked_until_us, sessions_not_before_us, language)",
        " ON CONFLICT (id) DO UPDATE SET display_name = excluded.display_name, role = excluded.role, \
         scope_id = excluded.scope_id, password_hash = excluded.password_hash, active = excluded.active, \
         failed_logins = excluded.failed_logins, locked_until_us = excluded.locked_until_us, \
         sessions_not_before_us = excluded.sessions_not_before_us, language = excluded.language",
        &c.operators,
        |b, o| {
            b.push_bind(o.id.as_uuid())
                .push_bind(o.username.clone())
                .push_bind(o.display_name.clone())
                .push_bind(o.role.clone())
                .push_bind(o.scope.as_uuid())
                .push_bind(o.password_hash.clone())
                .push_bind(o.active)
                .push_bind(at_us)
                .push_bind(i64::from(o.failed_logins))
                .push_bind(o.locked_until.map(timestamp_us))
                .push_bind(o.sessions_not_before.map(timestamp_us))
                .push_bind(o.language.clone());
        },
    );
    w.insert(
        "INSERT INTO customers (id, premises_id, name, created_at_us, kind, id_doc_kind, id_doc_number, phones, email)",
        " ON CONFLICT (id) DO UPDATE SET name = excluded.name, kind = excluded.kind, \
         id_doc_kind = excluded.id_doc_kind, id_doc_number = excluded.id_doc_number, phones = excluded.phones, \
         email = excluded.email",
        &c.customers,
        |b, x| {
            b.push_bind(x.id.as_uuid())
                .push_bind(x.premises_id.as_uuid())
                .push_bind(x.name.clone())
                .push_bind(at_us)
                .push_bind(x.kind.as_str())
                .push_bind(x.id_document.as_ref().map(|d| d.kind.as_str()))
                .push_bind(x.id_document.as_ref().map(|d| d.number.clone()))
                .push_bind(phones_text(&x.phones))
                .push_bind(x.email.clone());
        },
    );
    w.insert(
        "INSERT INTO ledger_accounts (id, kind, owner, premises_id, currency, overdraft_limit_minor, created_at_us)",
        "",
        &c.ledger.accounts,
        |b, a| {
            b.push_bind(a.id.as_uuid())
                .push_bind(a.kind.as_str())
                .push_bind(a.owner.to_string())
                .push_bind(a.premises_id.as_uuid())
                .push_bind(a.currency.code().to_string())
                .push_bind(a.overdraft_limit_minor)
                .push_bind(at_us);
        },
    );
    w.insert(
        "INSERT INTO books (id, premises_id, currency, energy_revenue_id, fixed_charge_revenue_id, tax_id, refunds_id, \
         write_off_id, cash_variance_id, card_clearing_id, transfer_clearing_id, created_at_us)",
        "",
        &c.books,
        |b, x| {
            b.push_bind(x.id.as_uuid())
                .push_bind(x.premises_id.as_uuid())
                .push_bind(x.currency.code().to_string());
            for id in x.ledger_accounts() {
                b.push_bind(id.as_uuid());
            }
            b.push_bind(at_us);
        },
    );
    w.insert(
        "INSERT INTO vending_points (id, premises_id, name, currency, books_id, active, last_receipt_no, created_at_us, \
         credit_limit_minor, outstanding_minor)",
        " ON CONFLICT (id) DO UPDATE SET name = excluded.name, active = excluded.active, \
         last_receipt_no = excluded.last_receipt_no, credit_limit_minor = excluded.credit_limit_minor, \
         outstanding_minor = excluded.outstanding_minor",
        &c.vending_points,
        |b, v| {
            b.push_bind(v.id.as_uuid())
                .push_bind(v.premises_id.as_uuid())
                .push_bind(v.name.clone())
                .push_bind(v.currency.code().to_string())
                .push_bind(v.books_id.as_uuid())
                .push_bind(v.active)
                .push_bind(v.last_receipt_no)
                .push_bind(at_us)
                .push_bind(v.credit_limit_minor)
                .push_bind(v.outstanding_minor);
        },
    );
    w.insert(
        "INSERT INTO accounts (id, customer_id, premises_id, billing_mode, status, currency, created_at_us, wallet_id, \
         arrears_id, books_id, recovery, min_purchase_minor, max_balance_minor)",
        " ON CONFLICT (id) DO UPDATE SET billing_mode = excluded.billing_mode, status = excluded.status, \
         recovery = excluded.recovery, min_purchase_minor = excluded.min_purchase_minor, \
         max_balance_minor = excluded.max_balance_minor",
        &c.accounts,
        |b, r| {
            let a = &r.account;
            b.push_bind(a.id.as_uuid())
                .push_bind(a.customer_id.as_uuid())
                .push_bind(a.premises_id.as_uuid())
                .push_bind(a.billing_mode.as_str())
                .push_bind(a.status.as_str())
                .push_bind(a.currency.code().to_string())
                .push_bind(at_us)
                .push_bind(r.wallet.as_uuid())
                .push_bind(r.arrears.as_uuid())
                .push_bind(r.books.as_uuid())
                .push_bind(recovery_text(r.recovery))
                .push_bind(r.min_purchase_minor)
                .push_bind(r.max_balance_minor);
        },
    );
    w.insert(
        "INSERT INTO meters (id, serial, utility, control_mode, protocol, address, ct_ratio, vt_ratio, state, \
         premises_id, account_id, created_at_us, tariff_code, relay, max_credit_minor, sold_milli, sold_value_minor, \
         sold_tax_minor, last_sale_at_us, return_at_us, return_source, return_remaining_milli)",
        " ON CONFLICT (id) DO UPDATE SET control_mode = excluded.control_mode, protocol = excluded.protocol, \
         address = excluded.address, ct_ratio = excluded.ct_ratio, vt_ratio = excluded.vt_ratio, state = excluded.state, \
         premises_id = excluded.premises_id, account_id = excluded.account_id, tariff_code = excluded.tariff_code, \
         relay = excluded.relay, max_credit_minor = excluded.max_credit_minor, sold_milli = excluded.sold_milli, \
         sold_value_minor = excluded.sold_value_minor, sold_tax_minor = excluded.sold_tax_minor, \
         last_sale_at_us = excluded.last_sale_at_us, return_at_us = excluded.return_at_us, \
         return_source = excluded.return_source, return_remaining_milli = excluded.return_remaining_milli",
        &c.meters,
        |b, r| {
            let m = &r.meter;
            b.push_bind(m.id.as_uuid())
                .push_bind(m.serial.clone())
                .push_bind(m.utility.as_str())
                .push_bind(m.control_mode.as_str())
                .push_bind(m.protocol.as_str())
                .push_bind(m.address.clone())
                .push_bind(i64::from(m.ratio.ct()))
                .push_bind(i64::from(m.ratio.vt()))
                .push_bind(m.state.as_str())
                .push_bind(m.premises_id.map(|x| x.as_uuid()))
                .push_bind(m.account_id.map(|x| x.as_uuid()))
                .push_bind(at_us)
                .push_bind(r.tariff_code.clone())
                .push_bind(r.relay.as_str())
                .push_bind(r.max_credit_minor)
                .push_bind(r.local.sold_milli)
                .push_bind(r.local.sold_value_minor)
                .push_bind(r.local.sold_tax_minor)
                .push_bind(r.local.last_sale_at.map(timestamp_us))
                .push_bind(r.local.last_return.as_ref().map(|x| timestamp_us(x.at)))
                .push_bind(r.local.last_return.as_ref().map(|x| x.source.as_str()))
                .push_bind(r.local.last_return.as_ref().map(|x| x.remaining_milli));
        },
    );
    w.insert(
        "INSERT INTO shifts (id, vending_point_id, operator_id, drawer_id, opened_at_us, opening_float_minor, status, \
         closed_at_us, expected_minor, counted_minor, denominations)",
        " ON CONFLICT (id) DO UPDATE SET status = excluded.status, closed_at_us = excluded.closed_at_us, \
         expected_minor = excluded.expected_minor, counted_minor = excluded.counted_minor, \
         denominations = excluded.denominations",
        &c.shifts,
        |b, s| {
            b.push_bind(s.id.as_uuid())
                .push_bind(s.vending_point_id.as_uuid())
                .push_bind(s.operator_id.as_uuid())
                .push_bind(s.drawer.as_uuid())
                .push_bind(timestamp_us(s.opened_at))
                .push_bind(s.opening_float_minor)
                .push_bind(s.status.as_str())
                .push_bind(s.closed_at.map(timestamp_us))
                .push_bind(s.expected_minor)
                .push_bind(s.counted_minor)
                .push_bind(s.denominations.iter().map(|(v, n)| format!("{v}x{n}")).collect::<Vec<_>>().join(" "));
        },
    );
    w.insert(
        "INSERT INTO key_campaigns (id, name, change, created_at_us, created_by, planned, done)",
        " ON CONFLICT (id) DO UPDATE SET planned = excluded.planned, done = excluded.done",
        &c.campaigns,
        |b, k| {
            b.push_bind(k.id.as_uuid())
                .push_bind(k.name.clone())
                .push_bind(key_change_text(&k.change))
                .push_bind(timestamp_us(k.created_at))
                .push_bind(k.created_by.map(|x| x.as_uuid()))
                .push_bind(k.planned)
                .push_bind(k.done);
        },
    );
    w.insert(
        "INSERT INTO sts_meters (meter_id, pan, ea, kt, sgc, ti, krn, ken, base, last_tid, pending_campaign, \
         pending_change, pending_tokens)",
        " ON CONFLICT (meter_id) DO UPDATE SET pan = excluded.pan, ea = excluded.ea, kt = excluded.kt, \
         sgc = excluded.sgc, ti = excluded.ti, krn = excluded.krn, ken = excluded.ken, base = excluded.base, \
         last_tid = excluded.last_tid, pending_campaign = excluded.pending_campaign, \
         pending_change = excluded.pending_change, pending_tokens = excluded.pending_tokens",
        &c.sts,
        |b, s| {
            let p = &s.record.params;
            b.push_bind(s.meter_id.as_uuid())
                .push_bind(s.record.pan.to_string())
                .push_bind(p.ea.code())
                .push_bind(i64::from(p.kt.value()))
                .push_bind(i64::from(p.sgc))
                .push_bind(i64::from(p.ti))
                .push_bind(i64::from(p.krn))
                .push_bind(i64::from(p.ken))
                .push_bind(p.base.code())
                .push_bind(s.last_tid.map(|t| i64::from(t.minutes())))
                .push_bind(s.pending.as_ref().map(|x| x.campaign_id.as_uuid()))
                .push_bind(s.pending.as_ref().map(|x| key_change_text(&x.change)))
                .push_bind(s.pending.as_ref().map(|x| x.tokens.join(" ")));
        },
    );
    w.insert(
        "INSERT INTO opg_devices (meter_id, secret_sealed, starting_code, last_count, extended, restricted, unit, \
         price_minor_per_unit)",
        " ON CONFLICT (meter_id) DO UPDATE SET secret_sealed = excluded.secret_sealed, last_count = excluded.last_count, \
         extended = excluded.extended, restricted = excluded.restricted, unit = excluded.unit, \
         price_minor_per_unit = excluded.price_minor_per_unit",
        &c.opg,
        |b, o| {
            b.push_bind(o.meter_id.as_uuid())
                .push_bind(o.secret_sealed.clone())
                .push_bind(i64::try_from(o.starting_code).unwrap_or(i64::MAX))
                .push_bind(i64::from(o.last_count))
                .push_bind(o.extended)
                .push_bind(o.restricted)
                .push_bind(o.unit.as_str())
                .push_bind(o.price_minor_per_unit);
        },
    );
    w.insert(
        "INSERT INTO vending_keys (sgc, krn, sealed, created_at_us)",
        " ON CONFLICT (sgc, krn) DO UPDATE SET sealed = excluded.sealed",
        &c.vending_keys,
        |b, k| {
            b.push_bind(i64::from(k.sgc)).push_bind(i64::from(k.krn)).push_bind(k.sealed.clone()).push_bind(at_us);
        },
    );
    w.insert(
        "INSERT INTO card_keys (key_no, algorithm, sealed, created_at_us)",
        " ON CONFLICT (key_no) DO UPDATE SET sealed = excluded.sealed",
        &c.card_keys,
        |b, k| {
            b.push_bind(i64::from(k.key_no)).push_bind(k.algorithm.as_str()).push_bind(k.sealed.clone()).push_bind(at_us);
        },
    );
    w.insert(
        "INSERT INTO meter_cards (meter_id, serial, status, generation, key_no, replaced, sold_count, loaded_count, \
         last_purchase_sale, last_purchase_milli, last_purchase_at_us, issued_at_us)",
        " ON CONFLICT (meter_id) DO UPDATE SET serial = excluded.serial, status = excluded.status, \
         generation = excluded.generation, key_no = excluded.key_no, replaced = excluded.replaced, \
         sold_count = excluded.sold_count, loaded_count = excluded.loaded_count, \
         last_purchase_sale = excluded.last_purchase_sale, last_purchase_milli = excluded.last_purchase_milli, \
         last_purchase_at_us = excluded.last_purchase_at_us, issued_at_us = excluded.issued_at_us",
        &c.meter_cards,
        |b, m| {
            b.push_bind(m.meter_id.as_uuid())
                .push_bind(m.serial.clone())
                .push_bind(m.status.as_str())
                .push_bind(i64::from(m.generation))
                .push_bind(i64::from(m.key_no))
                .push_bind(m.replaced.join(" "))
                .push_bind(i64::from(m.sold_count))
                .push_bind(i64::from(m.loaded_count))
                .push_bind(m.last_purchase_sale.map(|x| x.as_uuid()))
                .push_bind(m.last_purchase_milli)
                .push_bind(m.last_purchase_at.map(timestamp_us))
                .push_bind(timestamp_us(m.issued_at));
        },
    );
    w.insert(
        "INSERT INTO sessions (id_hash, operator_id, created_at_us, expires_at_us, revoked_at_us, source)",
        " ON CONFLICT (id_hash) DO UPDATE SET revoked_at_us = excluded.revoked_at_us",
        &c.sessions,
        |b, s| {
            b.push_bind(s.id_hash.to_vec())
                .push_bind(s.operator_id.as_uuid())
                .push_bind(timestamp_us(s.created_at))
                .push_bind(timestamp_us(s.expires_at))
                .push_bind(s.revoked_at.map(timestamp_us))
                .push_bind(s.source.clone());
        },
    );
    w.insert(
        "INSERT INTO api_tokens (id, operator_id, name, secret_hash, created_at_us, expires_at_us, revoked_at_us, \
         created_by)",
        " ON CONFLICT (id) DO UPDATE SET revoked_at_us = excluded.revoked_at_us",
        &c.api_tokens,
        |b, t| {
            b.push_bind(t.id.as_uuid())
                .push_bind(t.operator_id.as_uuid())
                .push_bind(t.name.clone())
                .push_bind(t.secret_hash.to_vec())
                .push_bind(timestamp_us(t.created_at))
                .push_bind(t.expires_at.map(timestamp_us))
                .push_bind(t.revoked_at.map(timestamp_us))
                .push_bind(t.created_by.map(|x| x.as_uuid()));
        },
    );
    w.insert(
        "INSERT INTO pricing_states (account_id, tariff_code, block_key, block_position_milli, free_key, \
         free_used_milli, month_key, month_energy_femto, carry_femto, updated_at_us)",
        " ON CONFLICT (account_id, tariff_code) DO UPDATE SET block_key = excluded.block_key, \
         block_position_milli = excluded.block_position_milli, free_key = excluded.free_key, \
         free_used_milli = excluded.free_used_milli, month_key = excluded.month_key, \
         month_energy_femto = excluded.month_energy_femto, carry_femto = excluded.carry_femto, \
         updated_at_us = excluded.updated_at_us",
        &c.pricing,
        |b, (account, code, s)| {
            b.push_bind(account.as_uuid())
                .push_bind(code.clone())
                .push_bind(s.block_key.map(i64::from))
                .push_bind(s.block_position_milli)
                .push_bind(s.free_key.map(i64::from))
                .push_bind(s.free_used_milli)
                .push_bind(s.month_key.map(i64::from))
                .push_bind(s.month_energy_femto.to_string())
                .push_bind(s.carry_femto.to_string())
                .push_bind(at_us);
        },
    );
    w.insert(
        "INSERT INTO reading_states (meter_id, at_us, registers)",
        " ON CONFLICT (meter_id) DO UPDATE SET at_us = excluded.at_us, registers = excluded.registers",
        &c.reading_states,
        |b, r| {
            b.push_bind(r.meter_id.as_uuid()).push_bind(timestamp_us(r.last.at)).push_bind(registers_text(&r.last.registers));
        },
    );
    w.insert(
        "INSERT INTO meter_controls (meter_id, channel, keep_power, held_open, reported_at_us, reported_relay, \
         reported_keep_power, pending, shows_credit)",
        " ON CONFLICT (meter_id) DO UPDATE SET channel = excluded.channel, keep_power = excluded.keep_power, \
         held_open = excluded.held_open, reported_at_us = excluded.reported_at_us, \
         reported_relay = excluded.reported_relay, reported_keep_power = excluded.reported_keep_power, \
         pending = excluded.pending, shows_credit = excluded.shows_credit",
        &c.controls,
        |b, x| {
            b.push_bind(x.meter_id.as_uuid())
                .push_bind(x.channel.as_ref().map(ToString::to_string))
                .push_bind(x.keep_power)
                .push_bind(x.held_open)
                .push_bind(x.reported.map(|r| timestamp_us(r.at)))
                .push_bind(x.reported.and_then(|r| r.relay).map(|r| r.as_str()))
                .push_bind(x.reported.and_then(|r| r.keep_power))
                .push_bind(pending_text(&x.pending))
                .push_bind(x.shows_credit);
        },
    );
    w.insert(
        "INSERT INTO meter_commands (id, meter_id, kind, reason, operation_id, created_at_us, status, attempts, \
         next_attempt_us, expires_at_us, last_error, finished_at_us, value)",
        " ON CONFLICT (id) DO UPDATE SET status = excluded.status, attempts = excluded.attempts, \
         next_attempt_us = excluded.next_attempt_us, last_error = excluded.last_error, \
         finished_at_us = excluded.finished_at_us",
        &c.commands,
        |b, x| {
            b.push_bind(x.id.as_uuid())
                .push_bind(x.meter_id.as_uuid())
                .push_bind(x.kind.as_str())
                .push_bind(x.reason.clone())
                .push_bind(x.operation_id.as_uuid())
                .push_bind(timestamp_us(x.created_at))
                .push_bind(x.status.as_str())
                .push_bind(i64::from(x.attempts))
                .push_bind(timestamp_us(x.next_attempt_at))
                .push_bind(timestamp_us(x.expires_at))
                .push_bind(x.last_error.clone())
                .push_bind(x.finished_at.map(timestamp_us))
                .push_bind(x.value.clone());
        },
    );
    w.insert(
        "INSERT INTO tariff_documents (code, revision, name, document, imported_at_us)",
        "",
        &c.tariffs,
        |b, t| {
            b.push_bind(t.code.clone())
                .push_bind(t.revision)
                .push_bind(t.name.clone())
                .push_bind(t.document.clone())
                .push_bind(at_us);
        },
    );
    w.insert(
        "INSERT INTO transfers (seq, id, kind, currency, corrects_id, memo, posted_at_us)",
        "",
        &c.ledger.transfers,
        |b, t| {
            b.push_bind(t.seq)
                .push_bind(t.request.id.as_uuid())
                .push_bind(t.request.kind.as_str())
                .push_bind(t.request.currency.code().to_string())
                .push_bind(t.request.corrects.map(|x| x.as_uuid()))
                .push_bind(t.request.memo.clone())
                .push_bind(timestamp_us(t.posted_at));
        },
    );
    let entries: Vec<(i64, i64, Uuid, i64)> = c
        .ledger
        .transfers
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
    w.insert("INSERT INTO entries (transfer_seq, idx, account_id, amount_minor)", "", &entries, |b, e| {
        b.push_bind(e.0).push_bind(e.1).push_bind(e.2).push_bind(e.3);
    });
    write_balances(w, &c.ledger.balances);
    w.insert(
        "INSERT INTO readings (meter_id, at_us, registers, status, operation_id, note, consumption_milli)",
        "",
        &c.readings,
        |b, r| {
            b.push_bind(r.meter_id.as_uuid())
                .push_bind(timestamp_us(r.reading.at))
                .push_bind(registers_text(&r.reading.registers))
                .push_bind(r.status.as_str())
                .push_bind(r.operation_id.as_uuid())
                .push_bind(r.note.clone())
                .push_bind(r.consumption_milli);
        },
    );
    // The same maximum read again (every poll until the register changes) is the row already kept.
    w.insert(
        "INSERT INTO meter_demands (meter_id, demand_at_us, demand_w, read_at_us)",
        " ON CONFLICT (meter_id, demand_at_us) DO NOTHING",
        &c.demands,
        |b, d| {
            b.push_bind(d.meter_id.as_uuid())
                .push_bind(timestamp_us(d.demand.at))
                .push_bind(d.demand.demand_w)
                .push_bind(timestamp_us(d.read_at));
        },
    );
    w.insert(
        "INSERT INTO sales (operation_id, vending_point_id, receipt_no, shift_id, operator_id, account_id, meter_id, \
         at_us, method, reference, paid_minor, arrears_minor, fees_minor, tax_minor, energy_minor, credit_minor, \
         quantity_milli, tokens, transfer_id, balance_after_minor, reallocated_from, property_fees_minor)",
        "",
        &c.sales,
        |b, s| {
            b.push_bind(s.operation_id.as_uuid())
                .push_bind(s.vending_point_id.as_uuid())
                .push_bind(s.receipt_no)
                .push_bind(s.shift_id.as_uuid())
                .push_bind(s.operator_id.as_uuid())
                .push_bind(s.account_id.as_uuid())
                .push_bind(s.meter_id.as_uuid())
                .push_bind(timestamp_us(s.at))
                .push_bind(s.method.as_str())
                .push_bind(s.reference.clone())
                .push_bind(s.paid_minor)
                .push_bind(s.arrears_minor)
                .push_bind(s.fees_minor)
                .push_bind(s.tax_minor)
                .push_bind(s.energy_minor)
                .push_bind(s.credit_minor)
                .push_bind(s.quantity_milli)
                .push_bind(s.tokens.join(" "))
                .push_bind(s.transfer_id.as_uuid())
                .push_bind(s.balance_after_minor)
                .push_bind(s.reallocated_from.map(|x| x.as_uuid()))
                .push_bind(s.property_fees_minor);
        },
    );
    w.insert(
        "INSERT INTO refused_payments (operation_id, at_us, vending_point_id, shift_id, operator_id, account_id, \
         meter_id, method, reference, paid_minor, reason_code, reason, transfer_id, refunded_by, refunded_at_us, \
         credited, purpose)",
        " ON CONFLICT (operation_id) DO UPDATE SET refunded_by = excluded.refunded_by, \
         refunded_at_us = excluded.refunded_at_us, credited = excluded.credited",
        &c.refused_payments,
        |b, r| {
            b.push_bind(r.operation_id.as_uuid())
                .push_bind(timestamp_us(r.at))
                .push_bind(r.vending_point_id.as_uuid())
                .push_bind(r.shift_id.as_uuid())
                .push_bind(r.operator_id.as_uuid())
                .push_bind(r.account_id.as_uuid())
                .push_bind(r.meter_id.as_uuid())
                .push_bind(r.method.as_str())
                .push_bind(r.reference.clone())
                .push_bind(r.paid_minor)
                .push_bind(r.reason_code.clone())
                .push_bind(r.reason.clone())
                .push_bind(r.transfer_id.as_uuid())
                .push_bind(r.refunded_by.map(|x| x.as_uuid()))
                .push_bind(r.refunded_at.map(timestamp_us))
                .push_bind(r.credited)
                .push_bind(r.purpose.as_str());
        },
    );
    w.insert(
        "INSERT INTO payment_channels (id, provider, name, premises_id, books_id, currency, vending_point_id, shift_id, \
         operator_id, clearing, active, created_at_us)",
        " ON CONFLICT (id) DO UPDATE SET active = excluded.active",
        &c.payment_channels,
        |b, ch| {
            b.push_bind(ch.id.as_uuid())
                .push_bind(ch.provider.as_str())
                .push_bind(ch.name.clone())
                .push_bind(ch.premises_id.as_uuid())
                .push_bind(ch.books_id.as_uuid())
                .push_bind(ch.currency.code().to_string())
                .push_bind(ch.vending_point_id.as_uuid())
                .push_bind(ch.shift_id.as_uuid())
                .push_bind(ch.operator_id.as_uuid())
                .push_bind(ch.clearing.as_uuid())
                .push_bind(ch.active)
                .push_bind(timestamp_us(ch.created_at));
        },
    );
    w.insert(
        "INSERT INTO payment_intents (id, channel_id, account_id, meter_id, amount_minor, currency, created_at_us, \
         expires_at_us, status, provider_ref, provider_txn, paid_minor, paid_currency, paid_at_us, settled_by, \
         reason_code, purpose)",
        " ON CONFLICT (id) DO UPDATE SET status = excluded.status, provider_ref = excluded.provider_ref, \
         provider_txn = excluded.provider_txn, \
         paid_minor = excluded.paid_minor, paid_currency = excluded.paid_currency, paid_at_us = excluded.paid_at_us, \
         settled_by = excluded.settled_by, reason_code = excluded.reason_code",
        &c.payment_intents,
        |b, i| {
            b.push_bind(i.id.as_uuid())
                .push_bind(i.channel_id.as_uuid())
                .push_bind(i.account_id.as_uuid())
                .push_bind(i.meter_id.as_uuid())
                .push_bind(i.amount_minor)
                .push_bind(i.currency.code().to_string())
                .push_bind(timestamp_us(i.created_at))
                .push_bind(timestamp_us(i.expires_at))
                .push_bind(i.status.as_str())
                .push_bind(i.provider_ref.clone())
                .push_bind(i.provider_txn.clone())
                .push_bind(i.paid_minor)
                .push_bind(i.paid_currency.clone())
                .push_bind(i.paid_at.map(timestamp_us))
                .push_bind(i.settled_by.map(|x| x.as_uuid()))
                .push_bind(i.reason_code.clone())
                .push_bind(i.purpose.as_str());
        },
    );
    w.insert(
        "INSERT INTO approvals (id, kind, sale_id, account_id, meter_id, shift_id, amount_minor, premises_id, reason, \
         requested_by, requested_at_us, expires_at_us, decided_by, decided_at_us, approved, note, decision_operation, \
         transfer_id, result_operation, void_tokens, fee_payment_id, schedule_id, period)",
        " ON CONFLICT (id) DO UPDATE SET decided_by = excluded.decided_by, decided_at_us = excluded.decided_at_us, \
         approved = excluded.approved, note = excluded.note, decision_operation = excluded.decision_operation, \
         transfer_id = excluded.transfer_id, result_operation = excluded.result_operation, \
         void_tokens = excluded.void_tokens",
        &c.approvals,
        |b, a| {
            let d = a.decision.as_ref();
            b.push_bind(a.id.as_uuid())
                .push_bind(a.correction.kind.as_str())
                .push_bind(a.correction.sale.map(|x| x.as_uuid()))
                .push_bind(a.correction.account_id.map(|x| x.as_uuid()))
                .push_bind(a.correction.meter_id.map(|x| x.as_uuid()))
                .push_bind(a.correction.shift_id.map(|x| x.as_uuid()))
                .push_bind(a.correction.amount_minor)
                .push_bind(a.premises_id.as_uuid())
                .push_bind(a.reason.clone())
                .push_bind(a.requested_by.as_uuid())
                .push_bind(timestamp_us(a.requested_at))
                .push_bind(timestamp_us(a.expires_at))
                .push_bind(d.map(|d| d.by.as_uuid()))
                .push_bind(d.map(|d| timestamp_us(d.at)))
                .push_bind(d.map(|d| d.approved))
                .push_bind(d.map(|d| d.note.clone()))
                .push_bind(d.map(|d| d.operation_id.as_uuid()))
                .push_bind(a.transfer_id.map(|x| x.as_uuid()))
                .push_bind(a.result.map(|x| x.as_uuid()))
                .push_bind(a.void_tokens.join(" "))
                .push_bind(a.correction.fee_payment.map(|x| x.as_uuid()))
                .push_bind(a.correction.charge.map(|(s, _)| s.as_uuid()))
                .push_bind(a.correction.charge.map(|(_, p)| i64::from(p)));
        },
    );
    w.insert(
        "INSERT INTO meter_tokens (operation_id, meter_id, at_us, operator_id, kind, detail, tokens)",
        "",
        &c.meter_tokens,
        |b, t| {
            b.push_bind(t.operation_id.as_uuid())
                .push_bind(t.meter_id.as_uuid())
                .push_bind(timestamp_us(t.at))
                .push_bind(t.operator_id.map(|x| x.as_uuid()))
                .push_bind(t.kind.clone())
                .push_bind(t.detail.clone())
                .push_bind(t.tokens.join(" "));
        },
    );
    w.insert(
        "INSERT INTO payment_statements (id, channel_id, day, digest, imported_at_us, imported_by, line_count)",
        "",
        &c.payment_statements,
        |b, st| {
            b.push_bind(st.id.as_uuid())
                .push_bind(st.channel_id.as_uuid())
                .push_bind(st.day.to_string())
                .push_bind(st.digest.to_vec())
                .push_bind(timestamp_us(st.imported_at))
                .push_bind(st.imported_by.map(|x| x.as_uuid()))
                .push_bind(st.lines.len() as i64);
        },
    );
    let lines: Vec<_> = c
        .payment_statements
        .iter()
        .flat_map(|st| st.lines.iter().enumerate().map(move |(n, l)| (st.id, n as i64, l)))
        .collect();
    w.insert(
        "INSERT INTO payment_statement_lines (statement_id, line_no, kind, transaction_id, order_no, amount_minor, \
         currency, at_us)",
        "",
        &lines,
        |b, (id, n, l)| {
            b.push_bind(id.as_uuid())
                .push_bind(*n)
                .push_bind(l.kind.as_str())
                .push_bind(l.transaction_id.clone())
                .push_bind(l.order_no.clone())
                .push_bind(l.amount_minor)
                .push_bind(l.currency.clone())
                .push_bind(timestamp_us(l.at));
        },
    );
    w.insert(
        "INSERT INTO meter_categories (meter_id, category, sub_item)",
        " ON CONFLICT (meter_id) DO UPDATE SET category = excluded.category, sub_item = excluded.sub_item",
        &c.meter_categories,
        |b, m| {
            b.push_bind(m.meter_id.as_uuid()).push_bind(m.category.as_str()).push_bind(m.sub_item.clone());
        },
    );
    w.insert(
        "INSERT INTO apportionment_rules (id, premises_id, name, utility, basis, pool, price_micro, currency, \
         parent_meter_id, created_at_us)",
        "",
        &c.apportionment_rules,
        |b, r| {
            b.push_bind(r.id.as_uuid())
                .push_bind(r.premises_id.as_uuid())
                .push_bind(r.name.clone())
                .push_bind(r.utility.as_str())
                .push_bind(r.basis.as_str())
                .push_bind(r.pool.as_str())
                .push_bind(r.price.micro_per_unit())
                .push_bind(r.price.currency().code().to_string())
                .push_bind(r.parent_meter.map(|m| m.as_uuid()))
                .push_bind(timestamp_us(r.created_at));
        },
    );
    let rule_meters: Vec<_> = c
        .apportionment_rules
        .iter()
        .flat_map(|r| r.common_meters.iter().enumerate().map(move |(n, m)| (r.id, n as i64, *m)))
        .collect();
    w.insert("INSERT INTO apportionment_rule_meters (rule_id, idx, meter_id)", "", &rule_meters, |b, (r, n, m)| {
        b.push_bind(r.as_uuid()).push_bind(*n).push_bind(m.as_uuid());
    });
    let rule_units: Vec<_> = c
        .apportionment_rules
        .iter()
        .flat_map(|r| r.units.iter().enumerate().map(move |(n, u)| (r.id, n as i64, *u)))
        .collect();
    w.insert(
        "INSERT INTO apportionment_rule_units (rule_id, idx, premises_id, floor_area_dm2)",
        "",
        &rule_units,
        |b, (r, n, u)| {
            b.push_bind(r.as_uuid()).push_bind(*n).push_bind(u.premises_id.as_uuid()).push_bind(u.floor_area_dm2);
        },
    );
    w.insert(
        "INSERT INTO apportionment_runs (operation_id, rule_id, period, from_us, to_us, parent_milli, units_milli, \
         common_milli, loss_milli, pool_milli, price_micro, currency, amount_minor, at_us)",
        "",
        &c.apportionment_runs,
        |b, r| {
            b.push_bind(r.operation_id.as_uuid())
                .push_bind(r.rule_id.as_uuid())
                .push_bind(i64::from(r.period))
                .push_bind(timestamp_us(r.from))
                .push_bind(timestamp_us(r.to))
                .push_bind(r.parent_milli)
                .push_bind(r.units_milli)
                .push_bind(r.common_milli)
                .push_bind(r.loss_milli)
                .push_bind(r.pool_milli)
                .push_bind(r.price_micro)
                .push_bind(r.currency.code().to_string())
                .push_bind(r.amount_minor)
                .push_bind(timestamp_us(r.at));
        },
    );
    let shares: Vec<_> = c
        .apportionment_runs
        .iter()
        .flat_map(|r| r.shares.iter().enumerate().map(move |(n, s)| (r.operation_id, n as i64, s)))
        .collect();
    w.insert(
        "INSERT INTO apportionment_shares (run_id, idx, premises_id, account_id, weight, consumption_milli, \
         share_milli, amount_minor, transfer_id)",
        "",
        &shares,
        |b, (run, n, s)| {
            b.push_bind(run.as_uuid())
                .push_bind(*n)
                .push_bind(s.premises_id.as_uuid())
                .push_bind(s.account_id.map(|a| a.as_uuid()))
                .push_bind(s.weight)
                .push_bind(s.consumption_milli)
                .push_bind(s.share_milli)
                .push_bind(s.amount_minor)
                .push_bind(s.transfer_id.map(|t| t.as_uuid()));
        },
    );
    write_fees(w, c);
    w.insert("INSERT INTO outbox (operation_id, idx, meter_id, kind, at_us, detail)", "", &c.outbox, |b, o| {
        b.push_bind(o.operation_id.as_uuid())
            .push_bind(o.idx)
            .push_bind(o.meter_id.map(|m| m.as_uuid()))
            .push_bind(o.kind.as_str())
            .push_bind(timestamp_us(o.at))
            .push_bind(o.detail.clone());
    });
    w.insert(
        "INSERT INTO idempotency (operation_id, fingerprint, kind, at_us, response)",
        "",
        &c.idempotency,
        |b, i| {
            b.push_bind(i.operation_id.as_uuid())
                .push_bind(i.fingerprint.to_vec())
                .push_bind(i.kind.clone())
                .push_bind(timestamp_us(i.at))
                .push_bind(i.response.clone());
        },
    );
    w.insert(
        "INSERT INTO audit_log (seq, at_us, operation_id, operator_id, source, action, subject, before_text, \
         after_text, prev_hash, hash)",
        "",
        &c.audit,
        |b, r| {
            b.push_bind(r.seq)
                .push_bind(timestamp_us(r.at))
                .push_bind(r.operation_id.as_uuid())
                .push_bind(r.operator_id.map(|x| x.as_uuid()))
                .push_bind(r.source.clone())
                .push_bind(r.action.clone())
                .push_bind(r.subject.clone())
                .push_bind(r.before.clone())
                .push_bind(r.after.clone())
                .push_bind(r.prev_hash.to_vec())
                .push_bind(r.hash.to_vec());
        },
    );
    if let Some(head) = c.audit_head {
        w.insert(
            "INSERT INTO audit_head (id, seq, hash)",
            " ON CONFLICT (id) DO UPDATE SET seq = excluded.seq, hash = excluded.hash",
            &[head],
            |b, h| {
                b.push_bind(1_i64).push_bind(h.seq).push_bind(h.hash.to_vec());
            },
        );
    }
}

/// `UPDATE … FROM (VALUES …)`: both engines name a VALUES list's columns column1, column2…
const BALANCES_UPDATE_HEAD: &str = "UPDATE ledger_accounts SET debits_posted_minor = v.column2, \
     credits_posted_minor = v.column3 FROM (";
const BALANCES_UPDATE_TAIL: &str = ") AS v WHERE ledger_accounts.id = v.column1";

/// New cached totals of ledger accounts, in one `UPDATE … FROM (VALUES …)` statement for all of them (run a row
/// at a time on SQLite, multi-row on PostgreSQL).
fn write_balances(w: &mut Writes, balances: &[(LedgerAccountId, Balance)]) {
    w.insert(BALANCES_UPDATE_HEAD, BALANCES_UPDATE_TAIL, balances, |b, (id, balance)| {
        b.push_bind(id.as_uuid()).push_bind(balance.debits_minor).push_bind(balance.credits_minor);
    });
}

/// 房租 / 物业费: floor areas and policies (replaced when set again), schedules and months issued, charges
/// (written whole: a charge's paid amount grows), counter payments and what each payment or sale paid.
fn write_fees(w: &mut Writes, c: &Changes) {
    w.insert(
        "INSERT INTO floor_areas (premises_id, floor_area_dm2)",
        " ON CONFLICT (premises_id) DO UPDATE SET floor_area_dm2 = excluded.floor_area_dm2",
        &c.floor_areas,
        |b, f| {
            b.push_bind(f.premises_id.as_uuid()).push_bind(f.floor_area_dm2);
        },
    );
    w.insert(
        "INSERT INTO fee_policies (premises_id, policy, share_bp)",
        " ON CONFLICT (premises_id) DO UPDATE SET policy = excluded.policy, share_bp = excluded.share_bp",
        &c.fee_policies,
        |b, f| {
            b.push_bind(f.premises_id.as_uuid()).push_bind(f.policy.name()).push_bind(f.policy.share_bp());
        },
    );
    w.insert(
        "INSERT INTO fee_schedules (id, premises_id, name, basis, rate_minor, currency, due_day, receivable_id, \
         revenue_id, created_at_us, late_fee_bp, disconnect_after_days)",
        "",
        &c.fee_schedules,
        |b, f| {
            b.push_bind(f.id.as_uuid())
                .push_bind(f.premises_id.as_uuid())
                .push_bind(f.name.clone())
                .push_bind(f.basis.as_str())
                .push_bind(f.rate_minor)
                .push_bind(f.currency.code().to_string())
                .push_bind(i64::from(f.due_day))
                .push_bind(f.receivable.as_uuid())
                .push_bind(f.revenue.as_uuid())
                .push_bind(timestamp_us(f.created_at))
                .push_bind(f.late_fee_bp)
                .push_bind(f.disconnect_after_days);
        },
    );
    w.insert(
        "INSERT INTO fee_runs (operation_id, schedule_id, period, due_on, charged, total_minor, vacant, transfer_id, \
         at_us, not_postpaid, dunned_at_us, dunned, late_fees_minor, disconnected_at_us, disconnected)",
        // A month dunned, or its unpaid bills disconnected, changes its run.
        " ON CONFLICT (schedule_id, period) DO UPDATE SET dunned_at_us = excluded.dunned_at_us, \
         dunned = excluded.dunned, late_fees_minor = excluded.late_fees_minor, \
         disconnected_at_us = excluded.disconnected_at_us, disconnected = excluded.disconnected",
        &c.fee_runs,
        |b, r| {
            b.push_bind(r.operation_id.as_uuid())
                .push_bind(r.schedule_id.as_uuid())
                .push_bind(i64::from(r.period))
                .push_bind(r.due_on.to_string())
                .push_bind(r.charged)
                .push_bind(r.total_minor)
                .push_bind(r.vacant)
                .push_bind(r.transfer_id.map(|t| t.as_uuid()))
                .push_bind(timestamp_us(r.at))
                .push_bind(r.not_postpaid)
                .push_bind(r.dunned_at.map(timestamp_us))
                .push_bind(r.dunned)
                .push_bind(r.late_fees_minor)
                .push_bind(r.disconnected_at.map(timestamp_us))
                .push_bind(r.disconnected);
        },
    );
    w.insert(
        "INSERT INTO fee_charges (schedule_id, period, premises_id, account_id, amount_minor, paid_minor, due_on, \
         issued_at_us, usage_minor, credit_minor, carried_minor, late_fee_minor, adjusted_minor)",
        // Paying a charge (or reversing a payment) changes what is paid; dunning it adds its late fee to its
        // amount; a correction adjusts it.
        " ON CONFLICT (schedule_id, period, premises_id) DO UPDATE SET paid_minor = excluded.paid_minor, \
         amount_minor = excluded.amount_minor, late_fee_minor = excluded.late_fee_minor, \
         adjusted_minor = excluded.adjusted_minor",
        &c.fee_charges,
        |b, f| {
            b.push_bind(f.schedule_id.as_uuid())
                .push_bind(i64::from(f.period))
                .push_bind(f.premises_id.as_uuid())
                .push_bind(f.account_id.as_uuid())
                .push_bind(f.amount_minor)
                .push_bind(f.paid_minor)
                .push_bind(f.due_on.to_string())
                .push_bind(timestamp_us(f.issued_at))
                .push_bind(f.usage_minor)
                .push_bind(f.credit_minor)
                .push_bind(f.carried_minor)
                .push_bind(f.late_fee_minor)
                .push_bind(f.adjusted_minor);
        },
    );
    w.insert(
        "INSERT INTO fee_payments (operation_id, vending_point_id, receipt_no, shift_id, operator_id, account_id, \
         at_us, method, reference, paid_minor, transfer_id, credit_minor)",
        "",
        &c.fee_payments,
        |b, f| {
            b.push_bind(f.operation_id.as_uuid())
                .push_bind(f.vending_point_id.as_uuid())
                .push_bind(f.receipt_no)
                .push_bind(f.shift_id.as_uuid())
                .push_bind(f.operator_id.as_uuid())
                .push_bind(f.account_id.as_uuid())
                .push_bind(timestamp_us(f.at))
                .push_bind(f.method.as_str())
                .push_bind(f.reference.clone())
                .push_bind(f.paid_minor)
                .push_bind(f.transfer_id.as_uuid())
                .push_bind(f.credit_minor);
        },
    );
    w.insert(
        "INSERT INTO fee_allocations (operation_id, idx, schedule_id, period, premises_id, amount_minor, at_us)",
        "",
        &c.fee_allocations,
        |b, a| {
            b.push_bind(a.operation_id.as_uuid())
                .push_bind(a.idx)
                .push_bind(a.schedule_id.as_uuid())
                .push_bind(i64::from(a.period))
                .push_bind(a.premises_id.as_uuid())
                .push_bind(a.amount_minor)
                .push_bind(timestamp_us(a.at));
        },
    );
}
