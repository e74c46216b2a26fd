// Rows to records and back. Part of the SQL body both backends include (see `shared/mod.rs`).

fn corrupt(what: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("{what}: {e}"))
}

fn path_key(path: &[PremisesId]) -> String {
    path.iter().map(|id| id.to_string()).collect::<Vec<_>>().join("/")
}

fn parsed<T: std::str::FromStr>(row: &DbRow, col: &str) -> Result<T, StoreError>
where
    T::Err: std::fmt::Display,
{
    row.try_get::<String, _>(col)?.parse::<T>().map_err(|e| corrupt(col, e))
}

fn uuid_of<T: From<Uuid>>(row: &DbRow, col: &str) -> Result<T, StoreError> {
    Ok(T::from(row.try_get::<Uuid, _>(col)?))
}

fn opt_uuid_of<T: From<Uuid>>(row: &DbRow, col: &str) -> Result<Option<T>, StoreError> {
    Ok(row.try_get::<Option<Uuid>, _>(col)?.map(T::from))
}

fn at_of(row: &DbRow, col: &str) -> Result<Timestamp, StoreError> {
    Ok(timestamp_from_us(row.try_get(col)?))
}

fn hash_of(row: &DbRow, col: &str) -> Result<[u8; 32], StoreError> {
    let bytes: Vec<u8> = row.try_get(col)?;
    <[u8; 32]>::try_from(bytes.as_slice()).map_err(|_| corrupt(col, "not 32 bytes"))
}

fn currency_from(code: String) -> Result<Currency, StoreError> {
    Currency::from_code(&code).map_err(|e| corrupt("currency", e))
}

fn premises_from_row(row: &DbRow) -> Result<Premises, StoreError> {
    let path: String = row.try_get("path")?;
    let path = path
        .split('/')
        .map(|s| s.parse::<PremisesId>().map_err(|e| corrupt("premises path", e)))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Premises {
        id: uuid_of(row, "id")?,
        parent: opt_uuid_of(row, "parent_id")?,
        level: parsed(row, "level")?,
        name: row.try_get("name")?,
        time_zone: row.try_get("time_zone")?,
        path,
    })
}

fn opt_at_of(row: &DbRow, col: &str) -> Result<Option<Timestamp>, StoreError> {
    Ok(row.try_get::<Option<i64>, _>(col)?.map(timestamp_from_us))
}

/// Phones as stored: separated by `;` (a phone number cannot hold one).
fn phones_text(phones: &[String]) -> String {
    phones.join(";")
}

fn customer_from_row(row: &DbRow) -> Result<Customer, StoreError> {
    let phones: String = row.try_get("phones")?;
    let id_document = match (row.try_get::<Option<String>, _>("id_doc_kind")?, row.try_get::<Option<String>, _>("id_doc_number")?) {
        (Some(kind), Some(number)) => {
            Some(IdDocument { kind: kind.parse().map_err(|e| corrupt("id_doc_kind", e))?, number })
        }
        _ => None,
    };
    Ok(Customer {
        id: uuid_of(row, "id")?,
        premises_id: uuid_of(row, "premises_id")?,
        kind: parsed(row, "kind")?,
        name: row.try_get("name")?,
        id_document,
        phones: phones.split(';').filter(|p| !p.is_empty()).map(str::to_string).collect(),
        email: row.try_get("email")?,
    })
}

fn recovery_text(r: ArrearsRecovery) -> String {
    match r {
        ArrearsRecovery::None => "none".into(),
        ArrearsRecovery::Share(ppm) => format!("share:{ppm}"),
        ArrearsRecovery::Fixed(minor) => format!("fixed:{minor}"),
    }
}

fn recovery_from(s: &str) -> Result<ArrearsRecovery, StoreError> {
    let bad = || corrupt("arrears recovery", s);
    match s.split_once(':') {
        None if s == "none" => Ok(ArrearsRecovery::None),
        Some(("share", v)) => Ok(ArrearsRecovery::Share(v.parse().map_err(|_| bad())?)),
        Some(("fixed", v)) => Ok(ArrearsRecovery::Fixed(v.parse().map_err(|_| bad())?)),
        _ => Err(bad()),
    }
}

fn account_from_row(row: &DbRow) -> Result<AccountRecord, StoreError> {
    let account = Account {
        id: uuid_of(row, "id")?,
        customer_id: uuid_of(row, "customer_id")?,
        premises_id: uuid_of(row, "premises_id")?,
        billing_mode: parsed(row, "billing_mode")?,
        status: parsed(row, "status")?,
        currency: currency_from(row.try_get("currency")?)?,
    };
    let link = |col: &str| -> Result<Uuid, StoreError> {
        row.try_get::<Option<Uuid>, _>(col)?.ok_or_else(|| corrupt(col, format!("account {} has none", account.id)))
    };
    Ok(AccountRecord {
        wallet: LedgerAccountId::from_uuid(link("wallet_id")?),
        arrears: LedgerAccountId::from_uuid(link("arrears_id")?),
        books: BooksId::from_uuid(link("books_id")?),
        recovery: recovery_from(&row.try_get::<String, _>("recovery")?)?,
        min_purchase_minor: row.try_get("min_purchase_minor")?,
        max_balance_minor: row.try_get("max_balance_minor")?,
        account,
    })
}

fn meter_from_row(row: &DbRow) -> Result<MeterRecord, StoreError> {
    let ratio = |col: &str| -> Result<u32, StoreError> {
        u32::try_from(row.try_get::<i64, _>(col)?).map_err(|e| corrupt("ratio", e))
    };
    let meter = Meter {
        id: uuid_of(row, "id")?,
        serial: row.try_get("serial")?,
        utility: parsed(row, "utility")?,
        control_mode: parsed(row, "control_mode")?,
        protocol: parsed(row, "protocol")?,
        address: row.try_get("address")?,
        ratio: CtVtRatio::new(ratio("ct_ratio")?, ratio("vt_ratio")?).map_err(|e| corrupt("ratio", e))?,
        state: parsed(row, "state")?,
        premises_id: opt_uuid_of(row, "premises_id")?,
        account_id: opt_uuid_of(row, "account_id")?,
    };
    let relay: String = row.try_get("relay")?;
    Ok(MeterRecord {
        meter,
        tariff_code: row.try_get("tariff_code")?,
        relay: Relay::parse(&relay).ok_or_else(|| corrupt("relay", relay))?,
        max_credit_minor: row.try_get("max_credit_minor")?,
        local: local_credit_from_row(row)?,
    })
}

fn local_credit_from_row(row: &DbRow) -> Result<LocalCredit, StoreError> {
    let last_return = match opt_at_of(row, "return_at_us")? {
        Some(at) => {
            let source: String = row.try_get("return_source")?;
            Some(MeterReturn {
                at,
                source: ReturnSource::parse(&source).ok_or_else(|| corrupt("return source", source))?,
                remaining_milli: row.try_get("return_remaining_milli")?,
            })
        }
        None => None,
    };
    Ok(LocalCredit {
        sold_milli: row.try_get("sold_milli")?,
        sold_value_minor: row.try_get("sold_value_minor")?,
        sold_tax_minor: row.try_get("sold_tax_minor")?,
        last_sale_at: opt_at_of(row, "last_sale_at_us")?,
        last_return,
    })
}

fn operator_from_row(row: &DbRow) -> Result<Operator, StoreError> {
    Ok(Operator {
        id: uuid_of(row, "id")?,
        username: row.try_get("username")?,
        display_name: row.try_get("display_name")?,
        role: row.try_get("role")?,
        scope: uuid_of(row, "scope_id")?,
        password_hash: row.try_get("password_hash")?,
        active: row.try_get("active")?,
        failed_logins: small(row, "failed_logins")?,
        locked_until: opt_at_of(row, "locked_until_us")?,
        sessions_not_before: opt_at_of(row, "sessions_not_before_us")?,
        language: row.try_get("language")?,
    })
}

fn role_from_row(row: &DbRow) -> Result<Role, StoreError> {
    Ok(Role {
        name: row.try_get("name")?,
        description: row.try_get("description")?,
        permissions: Role::parse_permissions(&row.try_get::<String, _>("permissions")?)
            .map_err(|e| corrupt("role permissions", e))?,
    })
}

fn session_from_row(row: &DbRow) -> Result<SessionRecord, StoreError> {
    Ok(SessionRecord {
        id_hash: hash_of(row, "id_hash")?,
        operator_id: uuid_of(row, "operator_id")?,
        created_at: at_of(row, "created_at_us")?,
        expires_at: at_of(row, "expires_at_us")?,
        revoked_at: opt_at_of(row, "revoked_at_us")?,
        source: row.try_get("source")?,
    })
}

fn api_token_from_row(row: &DbRow) -> Result<ApiTokenRecord, StoreError> {
    Ok(ApiTokenRecord {
        id: uuid_of(row, "id")?,
        operator_id: uuid_of(row, "operator_id")?,
        name: row.try_get("name")?,
        secret_hash: hash_of(row, "secret_hash")?,
        created_at: at_of(row, "created_at_us")?,
        expires_at: opt_at_of(row, "expires_at_us")?,
        revoked_at: opt_at_of(row, "revoked_at_us")?,
        created_by: opt_uuid_of(row, "created_by")?,
    })
}

fn opg_from_row(row: &DbRow) -> Result<OpgState, StoreError> {
    let unit: String = row.try_get("unit")?;
    Ok(OpgState {
        meter_id: uuid_of(row, "meter_id")?,
        secret_sealed: row.try_get("secret_sealed")?,
        starting_code: small(row, "starting_code")?,
        last_count: small(row, "last_count")?,
        extended: row.try_get("extended")?,
        restricted: row.try_get("restricted")?,
        unit: OpgUnit::parse(&unit).ok_or_else(|| corrupt("OpenPAYGO unit", unit))?,
        price_minor_per_unit: row.try_get("price_minor_per_unit")?,
    })
}

fn vending_key_from_row(row: &DbRow) -> Result<VendingKeyRecord, StoreError> {
    Ok(VendingKeyRecord { sgc: small(row, "sgc")?, krn: small(row, "krn")?, sealed: row.try_get("sealed")? })
}

fn card_key_from_row(row: &DbRow) -> Result<CardKeyRecord, StoreError> {
    let algorithm: String = row.try_get("algorithm")?;
    Ok(CardKeyRecord {
        key_no: small(row, "key_no")?,
        algorithm: CardAlgorithm::parse(&algorithm).ok_or_else(|| corrupt("card key algorithm", algorithm))?,
        sealed: row.try_get("sealed")?,
    })
}

fn meter_card_from_row(row: &DbRow) -> Result<MeterCard, StoreError> {
    let status: String = row.try_get("status")?;
    let replaced: String = row.try_get("replaced")?;
    Ok(MeterCard {
        meter_id: uuid_of(row, "meter_id")?,
        serial: row.try_get("serial")?,
        status: CardStatus::parse(&status).ok_or_else(|| corrupt("card status", status))?,
        generation: small(row, "generation")?,
        key_no: small(row, "key_no")?,
        replaced: replaced.split_whitespace().map(str::to_string).collect(),
        sold_count: small(row, "sold_count")?,
        loaded_count: small(row, "loaded_count")?,
        last_purchase_sale: opt_uuid_of(row, "last_purchase_sale")?,
        last_purchase_milli: row.try_get("last_purchase_milli")?,
        last_purchase_at: opt_at_of(row, "last_purchase_at_us")?,
        issued_at: at_of(row, "issued_at_us")?,
    })
}

fn refused_payment_from_row(r: &DbRow) -> Result<RefusedPayment, StoreError> {
    let method: String = r.try_get("method")?;
    Ok(RefusedPayment {
        operation_id: uuid_of(r, "operation_id")?,
        at: at_of(r, "at_us")?,
        vending_point_id: uuid_of(r, "vending_point_id")?,
        shift_id: uuid_of(r, "shift_id")?,
        operator_id: uuid_of(r, "operator_id")?,
        account_id: uuid_of(r, "account_id")?,
        meter_id: uuid_of(r, "meter_id")?,
        method: PaymentMethod::parse(&method).ok_or_else(|| corrupt("payment method", method))?,
        reference: r.try_get("reference")?,
        paid_minor: r.try_get("paid_minor")?,
        reason_code: r.try_get("reason_code")?,
        reason: r.try_get("reason")?,
        transfer_id: uuid_of(r, "transfer_id")?,
        refunded_by: opt_uuid_of(r, "refunded_by")?,
        refunded_at: opt_at_of(r, "refunded_at_us")?,
        credited: r.try_get("credited")?,
        purpose: {
            let purpose: String = r.try_get("purpose")?;
            voltvend_ops::IntentPurpose::parse(&purpose).ok_or_else(|| corrupt("refused payment purpose", purpose))?
        },
    })
}

fn payment_channel_from_row(r: &DbRow) -> Result<PaymentChannel, StoreError> {
    let provider: String = r.try_get("provider")?;
    Ok(PaymentChannel {
        id: uuid_of(r, "id")?,
        provider: Provider::parse(&provider).ok_or_else(|| corrupt("payment provider", provider))?,
        name: r.try_get("name")?,
        premises_id: uuid_of(r, "premises_id")?,
        books_id: uuid_of(r, "books_id")?,
        currency: currency_from(r.try_get("currency")?)?,
        vending_point_id: uuid_of(r, "vending_point_id")?,
        shift_id: uuid_of(r, "shift_id")?,
        operator_id: uuid_of(r, "operator_id")?,
        clearing: uuid_of(r, "clearing")?,
        active: r.try_get("active")?,
        created_at: at_of(r, "created_at_us")?,
    })
}

fn payment_intent_from_row(r: &DbRow) -> Result<PaymentIntent, StoreError> {
    let status: String = r.try_get("status")?;
    Ok(PaymentIntent {
        id: uuid_of(r, "id")?,
        channel_id: uuid_of(r, "channel_id")?,
        account_id: uuid_of(r, "account_id")?,
        meter_id: uuid_of(r, "meter_id")?,
        amount_minor: r.try_get("amount_minor")?,
        currency: currency_from(r.try_get("currency")?)?,
        purpose: {
            let purpose: String = r.try_get("purpose")?;
            voltvend_ops::IntentPurpose::parse(&purpose).ok_or_else(|| corrupt("payment intent purpose", purpose))?
        },
        created_at: at_of(r, "created_at_us")?,
        expires_at: at_of(r, "expires_at_us")?,
        status: IntentStatus::parse(&status).ok_or_else(|| corrupt("payment intent status", status))?,
        provider_ref: r.try_get("provider_ref")?,
        provider_txn: r.try_get("provider_txn")?,
        paid_minor: r.try_get("paid_minor")?,
        paid_currency: r.try_get("paid_currency")?,
        paid_at: opt_at_of(r, "paid_at_us")?,
        settled_by: opt_uuid_of(r, "settled_by")?,
        reason_code: r.try_get("reason_code")?,
    })
}

/// A statement's head (its lines are read apart).
fn payment_statement_from_row(r: &DbRow) -> Result<PaymentStatement, StoreError> {
    Ok(PaymentStatement {
        id: uuid_of(r, "id")?,
        channel_id: uuid_of(r, "channel_id")?,
        day: parsed(r, "day")?,
        digest: hash_of(r, "digest")?,
        imported_at: at_of(r, "imported_at_us")?,
        imported_by: opt_uuid_of(r, "imported_by")?,
        lines: Vec::new(),
    })
}

fn statement_entry_from_row(r: &DbRow) -> Result<StatementEntry, StoreError> {
    let kind: String = r.try_get("kind")?;
    Ok(StatementEntry {
        kind: StatementEntryKind::parse(&kind).ok_or_else(|| corrupt("statement line kind", kind))?,
        transaction_id: r.try_get("transaction_id")?,
        order_no: r.try_get("order_no")?,
        amount_minor: r.try_get("amount_minor")?,
        currency: r.try_get("currency")?,
        at: at_of(r, "at_us")?,
    })
}

fn approval_from_row(r: &DbRow) -> Result<ApprovalRecord, StoreError> {
    let kind: String = r.try_get("kind")?;
    let tokens: String = r.try_get("void_tokens")?;
    let decision = match (opt_uuid_of(r, "decided_by")?, opt_at_of(r, "decided_at_us")?) {
        (Some(by), Some(at)) => Some(Decision {
            by,
            at,
            approved: r.try_get::<Option<bool>, _>("approved")?.unwrap_or(false),
            note: r.try_get::<Option<String>, _>("note")?.unwrap_or_default(),
            operation_id: opt_uuid_of(r, "decision_operation")?.ok_or_else(|| corrupt("approval decision", "no operation"))?,
        }),
        _ => None,
    };
    Ok(ApprovalRecord {
        id: uuid_of(r, "id")?,
        correction: Correction {
            kind: CorrectionKind::parse(&kind).ok_or_else(|| corrupt("correction kind", kind))?,
            sale: opt_uuid_of(r, "sale_id")?,
            account_id: opt_uuid_of(r, "account_id")?,
            meter_id: opt_uuid_of(r, "meter_id")?,
            shift_id: opt_uuid_of(r, "shift_id")?,
            amount_minor: r.try_get("amount_minor")?,
            fee_payment: opt_uuid_of(r, "fee_payment_id")?,
            charge: match (opt_uuid_of(r, "schedule_id")?, r.try_get::<Option<i64>, _>("period")?) {
                (Some(schedule), Some(period)) => {
                    Some((schedule, i32::try_from(period).map_err(|_| corrupt("correction period", period))?))
                }
                (None, None) => None,
                _ => return Err(corrupt("correction charge", "a schedule without a month or a month without one")),
            },
        },
        premises_id: uuid_of(r, "premises_id")?,
        reason: r.try_get("reason")?,
        requested_by: uuid_of(r, "requested_by")?,
        requested_at: at_of(r, "requested_at_us")?,
        expires_at: at_of(r, "expires_at_us")?,
        decision,
        transfer_id: opt_uuid_of(r, "transfer_id")?,
        result: opt_uuid_of(r, "result_operation")?,
        void_tokens: tokens.split(' ').filter(|t| !t.is_empty()).map(str::to_string).collect(),
    })
}

fn meter_token_from_row(r: &DbRow) -> Result<MeterTokenRecord, StoreError> {
    let tokens: String = r.try_get("tokens")?;
    Ok(MeterTokenRecord {
        operation_id: uuid_of(r, "operation_id")?,
        meter_id: uuid_of(r, "meter_id")?,
        at: at_of(r, "at_us")?,
        operator_id: opt_uuid_of(r, "operator_id")?,
        kind: r.try_get("kind")?,
        detail: r.try_get("detail")?,
        tokens: tokens.split(' ').filter(|t| !t.is_empty()).map(str::to_string).collect(),
    })
}

const LEDGER_ACCOUNT_COLUMNS: &str =
    "id, kind, owner, premises_id, currency, overdraft_limit_minor, debits_posted_minor, credits_posted_minor";

fn ledger_account_from_row(row: &DbRow) -> Result<(LedgerAccount, Balance), StoreError> {
    let account = LedgerAccount {
        id: uuid_of(row, "id")?,
        kind: parsed(row, "kind")?,
        owner: row.try_get::<String, _>("owner")?.parse().map_err(|e| corrupt("ledger owner", e))?,
        premises_id: uuid_of(row, "premises_id")?,
        currency: currency_from(row.try_get("currency")?)?,
        overdraft_limit_minor: row.try_get("overdraft_limit_minor")?,
    };
    let balance =
        Balance { debits_minor: row.try_get("debits_posted_minor")?, credits_minor: row.try_get("credits_posted_minor")? };
    Ok((account, balance))
}

fn books_from_row(row: &DbRow) -> Result<Books, StoreError> {
    Ok(Books {
        id: uuid_of(row, "id")?,
        premises_id: uuid_of(row, "premises_id")?,
        currency: currency_from(row.try_get("currency")?)?,
        energy_revenue: uuid_of(row, "energy_revenue_id")?,
        fixed_charge_revenue: uuid_of(row, "fixed_charge_revenue_id")?,
        tax: uuid_of(row, "tax_id")?,
        refunds: uuid_of(row, "refunds_id")?,
        write_off: uuid_of(row, "write_off_id")?,
        cash_variance: uuid_of(row, "cash_variance_id")?,
        card_clearing: uuid_of(row, "card_clearing_id")?,
        transfer_clearing: uuid_of(row, "transfer_clearing_id")?,
    })
}

fn vending_point_from_row(row: &DbRow) -> Result<VendingPoint, StoreError> {
    Ok(VendingPoint {
        id: uuid_of(row, "id")?,
        premises_id: uuid_of(row, "premises_id")?,
        name: row.try_get("name")?,
        currency: currency_from(row.try_get("currency")?)?,
        books_id: uuid_of(row, "books_id")?,
        active: row.try_get("active")?,
        last_receipt_no: row.try_get("last_receipt_no")?,
        credit_limit_minor: row.try_get("credit_limit_minor")?,
        outstanding_minor: row.try_get("outstanding_minor")?,
    })
}

fn shift_from_row(row: &DbRow) -> Result<Shift, StoreError> {
    Ok(Shift {
        id: uuid_of(row, "id")?,
        vending_point_id: uuid_of(row, "vending_point_id")?,
        operator_id: uuid_of(row, "operator_id")?,
        drawer: uuid_of(row, "drawer_id")?,
        opened_at: at_of(row, "opened_at_us")?,
        opening_float_minor: row.try_get("opening_float_minor")?,
        status: parsed(row, "status")?,
        closed_at: row.try_get::<Option<i64>, _>("closed_at_us")?.map(timestamp_from_us),
        expected_minor: row.try_get("expected_minor")?,
        counted_minor: row.try_get("counted_minor")?,
        denominations: denominations_of(&row.try_get::<String, _>("denominations")?)?,
    })
}

/// "10000x3 500x2" as (face value, count) pairs.
fn denominations_of(text: &str) -> Result<Vec<(i64, i64)>, StoreError> {
    text.split(' ')
        .filter(|t| !t.is_empty())
        .map(|t| {
            let (value, count) = t.split_once('x').ok_or_else(|| corrupt("denomination", t))?;
            Ok((value.parse().map_err(|e| corrupt("denomination", e))?, count.parse().map_err(|e| corrupt("denomination", e))?))
        })
        .collect()
}

fn small<T: TryFrom<i64>>(row: &DbRow, col: &str) -> Result<T, StoreError> {
    T::try_from(row.try_get::<i64, _>(col)?).map_err(|_| corrupt(col, "out of range"))
}

fn sts_from_row(row: &DbRow) -> Result<StsState, StoreError> {
    let sts = |e: voltvend_sts::StsError| corrupt("STS key record", e);
    let params = KeyParams {
        kt: KeyType::new(small(row, "kt")?).map_err(sts)?,
        sgc: small(row, "sgc")?,
        ti: small(row, "ti")?,
        krn: small(row, "krn")?,
        ken: small(row, "ken")?,
        base: BaseDate::from_code(&row.try_get::<String, _>("base")?).map_err(sts)?,
        ea: Ea::from_code(&row.try_get::<String, _>("ea")?).map_err(sts)?,
    };
    Ok(StsState {
        meter_id: uuid_of(row, "meter_id")?,
        record: MeterKeyRecord { pan: Pan::parse(&row.try_get::<String, _>("pan")?).map_err(sts)?, params },
        last_tid: row
            .try_get::<Option<i64>, _>("last_tid")?
            .map(|t| u32::try_from(t).map_err(|_| corrupt("last_tid", t)).and_then(|t| Tid::new(t).map_err(sts)))
            .transpose()?,
        pending: match opt_uuid_of(row, "pending_campaign")? {
            Some(campaign_id) => Some(voltvend_ops::PendingKeyChange {
                campaign_id,
                change: key_change_from(&row.try_get::<Option<String>, _>("pending_change")?.unwrap_or_default())?,
                tokens: row
                    .try_get::<Option<String>, _>("pending_tokens")?
                    .unwrap_or_default()
                    .split(' ')
                    .filter(|t| !t.is_empty())
                    .map(str::to_string)
                    .collect(),
            }),
            None => None,
        },
    })
}

/// A key change as stored: `kt=2;sgc=-;ti=-;krn=-;ken=-;rollover=1` (`-`: the meter's value is kept).
fn key_change_text(k: &voltvend_sts::KeyChange) -> String {
    let f = |v: Option<u32>| v.map_or("-".to_string(), |v| v.to_string());
    format!(
        "kt={};sgc={};ti={};krn={};ken={};rollover={}",
        f(k.kt.map(u32::from)),
        f(k.sgc),
        f(k.ti.map(u32::from)),
        f(k.krn.map(u32::from)),
        f(k.ken.map(u32::from)),
        u8::from(k.rollover)
    )
}

fn key_change_from(text: &str) -> Result<voltvend_sts::KeyChange, StoreError> {
    let bad = || corrupt("key change", text);
    let mut k = voltvend_sts::KeyChange::default();
    for part in text.split(';') {
        let (name, value) = part.split_once('=').ok_or_else(bad)?;
        let num = |v: &str| -> Result<Option<u32>, StoreError> {
            if v == "-" { Ok(None) } else { v.parse().map(Some).map_err(|_| bad()) }
        };
        let small = |v: &str| -> Result<Option<u8>, StoreError> {
            num(v)?.map(|n| u8::try_from(n).map_err(|_| bad())).transpose()
        };
        match name {
            "kt" => k.kt = small(value)?,
            "sgc" => k.sgc = num(value)?,
            "ti" => k.ti = small(value)?,
            "krn" => k.krn = small(value)?,
            "ken" => k.ken = small(value)?,
            "rollover" => k.rollover = value == "1",
            _ => return Err(bad()),
        }
    }
    Ok(k)
}

fn campaign_from_row(r: &DbRow) -> Result<voltvend_ops::KeyCampaign, StoreError> {
    Ok(voltvend_ops::KeyCampaign {
        id: uuid_of(r, "id")?,
        name: r.try_get("name")?,
        change: key_change_from(&r.try_get::<String, _>("change")?)?,
        created_at: at_of(r, "created_at_us")?,
        created_by: opt_uuid_of(r, "created_by")?,
        planned: r.try_get("planned")?,
        done: r.try_get("done")?,
    })
}

/// Register values as stored: `total:<milli>` for a total register, else `<period>=<milli>;…`.
fn registers_text(r: &Registers) -> String {
    match r {
        Registers::Total(v) => format!("total:{v}"),
        Registers::PerPeriod(values) => values.iter().map(|(p, v)| format!("{p}={v}")).collect::<Vec<_>>().join(";"),
    }
}

fn registers_from(s: &str) -> Result<Registers, StoreError> {
    let bad = || corrupt("registers", s);
    if let Some(v) = s.strip_prefix("total:") {
        return Ok(Registers::Total(v.parse().map_err(|_| bad())?));
    }
    s.split(';')
        .filter(|x| !x.is_empty())
        .map(|pair| {
            let (p, v) = pair.rsplit_once('=').ok_or_else(bad)?;
            Ok((p.to_string(), v.parse().map_err(|_| bad())?))
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Registers::PerPeriod)
}

fn control_from_row(row: &DbRow) -> Result<MeterControl, StoreError> {
    let channel: Option<String> = row.try_get("channel")?;
    let channel = channel.map(|c| c.parse::<voltvend_domain::Channel>().map_err(|e| corrupt("channel", e))).transpose()?;
    let reported = match opt_at_of(row, "reported_at_us")? {
        None => None,
        Some(at) => {
            let relay: Option<String> = row.try_get("reported_relay")?;
            let relay = relay.map(|r| Relay::parse(&r).ok_or_else(|| corrupt("reported relay", r))).transpose()?;
            Some(MeterReport { at, relay, keep_power: row.try_get("reported_keep_power")? })
        }
    };
    let pending: String = row.try_get("pending")?;
    let pending = pending
        .split_whitespace()
        .map(|id| id.parse::<Uuid>().map(CommandId::from).map_err(|e| corrupt("pending command", e)))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(MeterControl {
        meter_id: uuid_of(row, "meter_id")?,
        channel,
        keep_power: row.try_get("keep_power")?,
        held_open: row.try_get("held_open")?,
        shows_credit: row.try_get("shows_credit")?,
        reported,
        pending,
    })
}

fn pending_text(pending: &[CommandId]) -> String {
    pending.iter().map(|id| id.as_uuid().to_string()).collect::<Vec<_>>().join(" ")
}

fn command_from_row(row: &DbRow) -> Result<MeterCommand, StoreError> {
    let kind: String = row.try_get("kind")?;
    let status: String = row.try_get("status")?;
    Ok(MeterCommand {
        id: uuid_of(row, "id")?,
        meter_id: uuid_of(row, "meter_id")?,
        kind: CommandKind::parse(&kind).ok_or_else(|| corrupt("command kind", kind))?,
        reason: row.try_get("reason")?,
        value: row.try_get("value")?,
        operation_id: uuid_of(row, "operation_id")?,
        created_at: at_of(row, "created_at_us")?,
        status: CommandStatus::parse(&status).ok_or_else(|| corrupt("command status", status))?,
        attempts: i32::try_from(row.try_get::<i64, _>("attempts")?).map_err(|e| corrupt("attempts", e))?,
        next_attempt_at: at_of(row, "next_attempt_us")?,
        expires_at: at_of(row, "expires_at_us")?,
        last_error: row.try_get("last_error")?,
        finished_at: opt_at_of(row, "finished_at_us")?,
    })
}

fn reading_state_from_row(row: &DbRow) -> Result<ReadingState, StoreError> {
    Ok(ReadingState {
        meter_id: uuid_of(row, "meter_id")?,
        last: Reading { at: at_of(row, "at_us")?, registers: registers_from(&row.try_get::<String, _>("registers")?)? },
    })
}

fn reading_from_row(row: &DbRow) -> Result<ReadingRow, StoreError> {
    let status: String = row.try_get("status")?;
    Ok(ReadingRow {
        meter_id: uuid_of(row, "meter_id")?,
        reading: Reading { at: at_of(row, "at_us")?, registers: registers_from(&row.try_get::<String, _>("registers")?)? },
        status: ReadingStatus::parse(&status).ok_or_else(|| corrupt("reading status", status))?,
        operation_id: uuid_of(row, "operation_id")?,
        note: row.try_get("note")?,
        consumption_milli: row.try_get("consumption_milli")?,
    })
}

fn pricing_from_row(r: &DbRow) -> Result<PricingState, StoreError> {
    let key = |col: &str| -> Result<Option<i32>, StoreError> {
        r.try_get::<Option<i64>, _>(col)?.map(|k| i32::try_from(k).map_err(|e| corrupt(col, e))).transpose()
    };
    let wide = |col: &str| -> Result<i128, StoreError> {
        r.try_get::<String, _>(col)?.parse::<i128>().map_err(|e| corrupt(col, e))
    };
    Ok(PricingState {
        block_key: key("block_key")?,
        block_position_milli: r.try_get("block_position_milli")?,
        free_key: key("free_key")?,
        free_used_milli: r.try_get("free_used_milli")?,
        month_key: key("month_key")?,
        month_energy_femto: wide("month_energy_femto")?,
        carry_femto: wide("carry_femto")?,
    })
}

fn tariff_from_row(r: &DbRow) -> Result<TariffDoc, StoreError> {
    Ok(TariffDoc {
        code: r.try_get("code")?,
        revision: r.try_get("revision")?,
        name: r.try_get("name")?,
        document: r.try_get("document")?,
    })
}

fn idempotency_from_row(r: &DbRow) -> Result<IdempotencyRecord, StoreError> {
    Ok(IdempotencyRecord {
        operation_id: uuid_of(r, "operation_id")?,
        fingerprint: hash_of(r, "fingerprint")?,
        kind: r.try_get("kind")?,
        at: at_of(r, "at_us")?,
        response: r.try_get("response")?,
    })
}

fn audit_from_row(r: &DbRow) -> Result<AuditRecord, StoreError> {
    Ok(AuditRecord {
        seq: r.try_get("seq")?,
        at: at_of(r, "at_us")?,
        operation_id: uuid_of(r, "operation_id")?,
        operator_id: opt_uuid_of(r, "operator_id")?,
        source: r.try_get("source")?,
        action: r.try_get("action")?,
        subject: r.try_get("subject")?,
        before: r.try_get("before_text")?,
        after: r.try_get("after_text")?,
        prev_hash: hash_of(r, "prev_hash")?,
        hash: hash_of(r, "hash")?,
    })
}

fn sale_from_row(r: &DbRow) -> Result<SaleRecord, StoreError> {
    let method: String = r.try_get("method")?;
    let tokens: String = r.try_get("tokens")?;
    Ok(SaleRecord {
        operation_id: uuid_of(r, "operation_id")?,
        vending_point_id: uuid_of(r, "vending_point_id")?,
        receipt_no: r.try_get("receipt_no")?,
        shift_id: uuid_of(r, "shift_id")?,
        operator_id: uuid_of(r, "operator_id")?,
        account_id: uuid_of(r, "account_id")?,
        meter_id: uuid_of(r, "meter_id")?,
        at: at_of(r, "at_us")?,
        method: PaymentMethod::parse(&method).ok_or_else(|| corrupt("payment method", method))?,
        reference: r.try_get("reference")?,
        paid_minor: r.try_get("paid_minor")?,
        arrears_minor: r.try_get("arrears_minor")?,
        fees_minor: r.try_get("fees_minor")?,
        tax_minor: r.try_get("tax_minor")?,
        energy_minor: r.try_get("energy_minor")?,
        credit_minor: r.try_get("credit_minor")?,
        quantity_milli: r.try_get("quantity_milli")?,
        tokens: tokens.split(' ').filter(|t| !t.is_empty()).map(str::to_string).collect(),
        transfer_id: uuid_of(r, "transfer_id")?,
        balance_after_minor: r.try_get("balance_after_minor")?,
        reallocated_from: opt_uuid_of(r, "reallocated_from")?,
        property_fees_minor: r.try_get("property_fees_minor")?,
    })
}

fn outbox_from_row(r: &DbRow) -> Result<(i64, OutboxRow), StoreError> {
    let kind: String = r.try_get("kind")?;
    Ok((
        r.try_get("seq")?,
        OutboxRow {
            operation_id: uuid_of(r, "operation_id")?,
            idx: r.try_get("idx")?,
            meter_id: opt_uuid_of(r, "meter_id")?,
            kind: OutboxKind::parse(&kind).ok_or_else(|| corrupt("outbox kind", kind))?,
            at: at_of(r, "at_us")?,
            detail: r.try_get("detail")?,
        },
    ))
}

/// A rule's head (its common meters and units are read apart: [`complete_rules`]).
fn apportionment_rule_from_row(r: &DbRow) -> Result<voltvend_ops::ApportionmentRule, StoreError> {
    let currency = currency_from(r.try_get("currency")?)?;
    Ok(voltvend_ops::ApportionmentRule {
        id: uuid_of(r, "id")?,
        premises_id: uuid_of(r, "premises_id")?,
        name: r.try_get("name")?,
        utility: parsed(r, "utility")?,
        basis: parsed(r, "basis")?,
        pool: parsed(r, "pool")?,
        price: voltvend_domain::UnitPrice::new(r.try_get("price_micro")?, currency).map_err(|e| corrupt("price", e))?,
        parent_meter: opt_uuid_of(r, "parent_meter_id")?,
        common_meters: Vec::new(),
        units: Vec::new(),
        created_at: at_of(r, "created_at_us")?,
    })
}

/// A run's head (its shares are read apart: [`complete_runs`]).
fn apportionment_run_from_row(r: &DbRow) -> Result<voltvend_ops::ApportionmentRun, StoreError> {
    let period: i64 = r.try_get("period")?;
    Ok(voltvend_ops::ApportionmentRun {
        operation_id: uuid_of(r, "operation_id")?,
        rule_id: uuid_of(r, "rule_id")?,
        period: i32::try_from(period).map_err(|e| corrupt("period", e))?,
        from: at_of(r, "from_us")?,
        to: at_of(r, "to_us")?,
        parent_milli: r.try_get("parent_milli")?,
        units_milli: r.try_get("units_milli")?,
        common_milli: r.try_get("common_milli")?,
        loss_milli: r.try_get("loss_milli")?,
        pool_milli: r.try_get("pool_milli")?,
        price_micro: r.try_get("price_micro")?,
        currency: currency_from(r.try_get("currency")?)?,
        amount_minor: r.try_get("amount_minor")?,
        at: at_of(r, "at_us")?,
        shares: Vec::new(),
    })
}

fn period_of(r: &DbRow) -> Result<i32, StoreError> {
    let period: i64 = r.try_get("period")?;
    i32::try_from(period).map_err(|e| corrupt("period", e))
}

fn date_of(r: &DbRow, col: &str) -> Result<jiff::civil::Date, StoreError> {
    parsed(r, col)
}

fn fee_schedule_from_row(r: &DbRow) -> Result<voltvend_ops::FeeSchedule, StoreError> {
    let due_day: i64 = r.try_get("due_day")?;
    Ok(voltvend_ops::FeeSchedule {
        id: uuid_of(r, "id")?,
        premises_id: uuid_of(r, "premises_id")?,
        name: r.try_get("name")?,
        basis: parsed(r, "basis")?,
        rate_minor: r.try_get("rate_minor")?,
        currency: currency_from(r.try_get("currency")?)?,
        due_day: i8::try_from(due_day).map_err(|e| corrupt("due_day", e))?,
        receivable: uuid_of(r, "receivable_id")?,
        revenue: uuid_of(r, "revenue_id")?,
        created_at: at_of(r, "created_at_us")?,
        late_fee_bp: r.try_get("late_fee_bp")?,
        disconnect_after_days: r.try_get("disconnect_after_days")?,
    })
}

fn fee_run_from_row(r: &DbRow) -> Result<voltvend_ops::FeeRun, StoreError> {
    Ok(voltvend_ops::FeeRun {
        operation_id: uuid_of(r, "operation_id")?,
        schedule_id: uuid_of(r, "schedule_id")?,
        period: period_of(r)?,
        due_on: date_of(r, "due_on")?,
        charged: r.try_get("charged")?,
        total_minor: r.try_get("total_minor")?,
        vacant: r.try_get("vacant")?,
        transfer_id: opt_uuid_of(r, "transfer_id")?,
        at: at_of(r, "at_us")?,
        not_postpaid: r.try_get("not_postpaid")?,
        dunned_at: opt_at_of(r, "dunned_at_us")?,
        dunned: r.try_get("dunned")?,
        late_fees_minor: r.try_get("late_fees_minor")?,
        disconnected_at: opt_at_of(r, "disconnected_at_us")?,
        disconnected: r.try_get("disconnected")?,
    })
}

fn fee_charge_from_row(r: &DbRow) -> Result<voltvend_ops::FeeCharge, StoreError> {
    Ok(voltvend_ops::FeeCharge {
        schedule_id: uuid_of(r, "schedule_id")?,
        period: period_of(r)?,
        premises_id: uuid_of(r, "premises_id")?,
        account_id: uuid_of(r, "account_id")?,
        amount_minor: r.try_get("amount_minor")?,
        paid_minor: r.try_get("paid_minor")?,
        due_on: date_of(r, "due_on")?,
        issued_at: at_of(r, "issued_at_us")?,
        usage_minor: r.try_get("usage_minor")?,
        credit_minor: r.try_get("credit_minor")?,
        carried_minor: r.try_get("carried_minor")?,
        late_fee_minor: r.try_get("late_fee_minor")?,
        adjusted_minor: r.try_get("adjusted_minor")?,
    })
}

fn fee_allocation_from_row(r: &DbRow) -> Result<voltvend_ops::FeeAllocation, StoreError> {
    Ok(voltvend_ops::FeeAllocation {
        operation_id: uuid_of(r, "operation_id")?,
        idx: r.try_get("idx")?,
        schedule_id: uuid_of(r, "schedule_id")?,
        period: period_of(r)?,
        premises_id: uuid_of(r, "premises_id")?,
        amount_minor: r.try_get("amount_minor")?,
        at: at_of(r, "at_us")?,
    })
}

/// A fee payment's head (its lines are read apart, from the allocations).
fn fee_payment_from_row(r: &DbRow) -> Result<voltvend_ops::FeePayment, StoreError> {
    let method: String = r.try_get("method")?;
    Ok(voltvend_ops::FeePayment {
        operation_id: uuid_of(r, "operation_id")?,
        vending_point_id: uuid_of(r, "vending_point_id")?,
        receipt_no: r.try_get("receipt_no")?,
        shift_id: uuid_of(r, "shift_id")?,
        operator_id: uuid_of(r, "operator_id")?,
        account_id: uuid_of(r, "account_id")?,
        at: at_of(r, "at_us")?,
        method: PaymentMethod::parse(&method).ok_or_else(|| corrupt("payment method", method))?,
        reference: r.try_get("reference")?,
        paid_minor: r.try_get("paid_minor")?,
        transfer_id: uuid_of(r, "transfer_id")?,
        lines: Vec::new(),
        credit_minor: r.try_get("credit_minor")?,
        reversed: false,
    })
}

fn fee_policy_from_row(r: &DbRow) -> Result<voltvend_ops::FeePolicy, StoreError> {
    let name: String = r.try_get("policy")?;
    let share: i64 = r.try_get("share_bp")?;
    Ok(voltvend_ops::FeePolicy {
        premises_id: uuid_of(r, "premises_id")?,
        policy: voltvend_domain::fees::OverduePolicy::from_parts(&name, share)
            .ok_or_else(|| corrupt("fee policy", format!("{name} {share}")))?,
    })
}

/// A reading's billed consumption by TOU period: split in proportion to each period register's advance since
/// `before` (largest remainder, so the parts add up to `used`), or all of it under the empty period when the
/// registers cannot say (no TOU registers, no reading before, other periods, a register going back, or no
/// advance while something was billed).
fn tou_split(before: Option<&Registers>, now: &Registers, used: i64) -> Vec<(String, i64)> {
    // A reading that counted nothing (a meter's first) is in no period.
    if used == 0 {
        return Vec::new();
    }
    let whole = || vec![(String::new(), used)];
    let (Some(Registers::PerPeriod(before)), Registers::PerPeriod(now)) = (before, now) else { return whole() };
    let mut advances = Vec::with_capacity(now.len());
    for (period, value) in now {
        let Some((_, was)) = before.iter().find(|(p, _)| p == period) else { return whole() };
        match value.checked_sub(*was) {
            Some(d) if d >= 0 => advances.push((period.clone(), d)),
            _ => return whole(),
        }
    }
    let weights: Vec<i64> = advances.iter().map(|(_, d)| *d).collect();
    match voltvend_domain::apportion::split(used, &weights) {
        Ok(parts) => advances.into_iter().zip(parts).map(|((p, _), part)| (p, part)).collect(),
        Err(_) => whole(),
    }
}
