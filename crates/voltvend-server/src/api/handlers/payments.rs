//! 在线缴费: payment channels and customers' payment intents (ADR 0005). Notifications from the providers are
//! taken outside the JSON API, by `crate::payments`.

use axum::Extension;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use jiff::SignedDuration;
use voltvend_domain::{PaymentChannelId, PaymentIntentId};
use voltvend_ops::{
    Command, CreatePaymentIntent, IntentStatus, OpenPaymentChannel, Outcome, Provider, SetPaymentChannelActive,
};
use voltvend_store::{IntentFilter, ListQuery};

use super::customers::{visible_account, visible_meter};
use super::places::{books_for, currency};
use crate::api::auth::Principal;
use crate::api::error::{ApiError, ApiResult};
use crate::api::extract::{ApiJson, ApiPath, ApiQuery, ClientAddr, IdempotencyKey};
use crate::api::views::*;
use crate::api::write::{self, Reply};
use crate::http::AppState;

/// How long a customer has to pay when the request does not say.
const INTENT_MINUTES_DEFAULT: u32 = 15;

fn channel_reply(o: &Outcome, status: StatusCode) -> Reply {
    match o {
        Outcome::PaymentChannel(c) => Reply::json(status, &PaymentChannelView::from(c)),
        _ => Reply::error(&ApiError::internal("unexpected outcome")),
    }
}

async fn visible_channel(
    app: &AppState,
    p: &Principal,
    id: PaymentChannelId,
) -> ApiResult<voltvend_ops::PaymentChannel> {
    let c = app.store.payment_channel(id).await?.ok_or_else(|| ApiError::not_found("payment channel"))?;
    app.visible(p, c.premises_id, "payment channel").await?;
    Ok(c)
}

/// An intent whose account the operator may see (others are not found).
async fn visible_intent(app: &AppState, p: &Principal, id: PaymentIntentId) -> ApiResult<voltvend_ops::PaymentIntent> {
    let i = app.store.payment_intent(id).await?.ok_or_else(|| ApiError::not_found("payment intent"))?;
    visible_account(app, p, i.account_id).await.map_err(|_| ApiError::not_found("payment intent"))?;
    Ok(i)
}

pub async fn list_channels(
    State(app): State<AppState>,
    Extension(p): Extension<Principal>,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> ApiResult<axum::Json<Page<PaymentChannelView>>> {
    let limit = page_limit(q.limit)?;
    let list = app.store.list_payment_channels(&ListQuery { scope: Some(p.scope()), after: q.after, limit }).await?;
    Ok(axum::Json(Page::of(list.iter().map(PaymentChannelView::from).collect(), limit, |c| c.id.to_string())))
}

pub async fn create_channel(
    State(app): State<AppState>,
    Extension(p): Extension<Principal>,
    key: IdempotencyKey,
    ClientAddr(source): ClientAddr,
    ApiJson(body): ApiJson<CreatePaymentChannelRequest>,
) -> ApiResult<Response> {
    let provider = Provider::parse(&body.provider)
        .ok_or_else(|| ApiError::field("provider", "bad_value", "one of wechat_pay, alipay, unionpay, mpesa"))?;
    let currency = currency("currency", &body.currency)?;
    app.visible(&p, body.premises_id.into(), "premises").await?;
    let books_id = books_for(&app, body.premises_id.into(), currency).await?;
    let channel_id: PaymentChannelId = write::derived_id(write::operation_id(p.id(), &key.0), "payment-channel");
    let command = Command::OpenPaymentChannel(OpenPaymentChannel {
        channel_id,
        provider,
        name: body.name.clone(),
        premises_id: body.premises_id.into(),
        books_id,
    });
    write::submit(&app, &p, &key, &source, command, |o| channel_reply(o, StatusCode::CREATED)).await
}

pub async fn set_channel_active(
    State(app): State<AppState>,
    Extension(p): Extension<Principal>,
    key: IdempotencyKey,
    ClientAddr(source): ClientAddr,
    ApiPath(id): ApiPath<uuid::Uuid>,
    ApiJson(body): ApiJson<ChannelActiveRequest>,
) -> ApiResult<Response> {
    let c = visible_channel(&app, &p, id.into()).await?;
    let command = Command::SetPaymentChannelActive(SetPaymentChannelActive { channel_id: c.id, active: body.active });
    write::submit(&app, &p, &key, &source, command, |o| channel_reply(o, StatusCode::OK)).await
}

pub async fn list_intents(
    State(app): State<AppState>,
    Extension(p): Extension<Principal>,
    ApiQuery(q): ApiQuery<IntentQuery>,
) -> ApiResult<axum::Json<Page<PaymentIntentView>>> {
    let limit = page_limit(q.limit)?;
    let status = q
        .status
        .as_deref()
        .map(|s| {
            IntentStatus::parse(s)
                .ok_or_else(|| ApiError::field("status", "bad_value", "one of open, paid, refused, held, expired"))
        })
        .transpose()?;
    let filter = IntentFilter {
        channel: q.channel_id.map(Into::into),
        account: q.account_id.map(Into::into),
        status,
        ..Default::default()
    };
    let list =
        app.store.list_payment_intents(&ListQuery { scope: Some(p.scope()), after: q.after, limit }, &filter).await?;
    Ok(axum::Json(Page::of(list.iter().map(PaymentIntentView::from).collect(), limit, |i| i.id.to_string())))
}

pub async fn get_intent(
    State(app): State<AppState>,
    Extension(p): Extension<Principal>,
    ApiPath(id): ApiPath<uuid::Uuid>,
) -> ApiResult<axum::Json<PaymentIntentView>> {
    let i = visible_intent(&app, &p, id.into()).await?;
    Ok(axum::Json(PaymentIntentView::from(&i)))
}

pub async fn create_intent(
    State(app): State<AppState>,
    Extension(p): Extension<Principal>,
    key: IdempotencyKey,
    ClientAddr(source): ClientAddr,
    ApiJson(body): ApiJson<CreatePaymentIntentRequest>,
) -> ApiResult<Response> {
    let account = visible_account(&app, &p, body.account_id.into()).await?;
    visible_meter(&app, &p, body.meter_id.into()).await?;
    // The channel sells for a property's books, above a counter's scope: the account's scope is what matters,
    // and the operation refuses a channel of other books.
    let channel = app
        .store
        .payment_channel(body.channel_id.into())
        .await?
        .ok_or_else(|| ApiError::field("channel_id", "not_found", "no such payment channel"))?;
    let amount_minor = parse_money("amount", &body.amount, account.account.currency)?;
    let minutes = body.expires_in_minutes.unwrap_or(INTENT_MINUTES_DEFAULT);
    if !(1..=24 * 60).contains(&minutes) {
        return Err(ApiError::field("expires_in_minutes", "bad_value", "1 to 1440 minutes"));
    }
    let purpose = match body.purpose.as_deref() {
        None => voltvend_ops::IntentPurpose::Energy,
        Some(text) => voltvend_ops::IntentPurpose::parse(text)
            .ok_or_else(|| ApiError::field("purpose", "bad_value", "energy or fees"))?,
    };
    let intent_id: PaymentIntentId = write::derived_id(write::operation_id(p.id(), &key.0), "payment-intent");
    let command = Command::CreatePaymentIntent(CreatePaymentIntent {
        intent_id,
        channel_id: channel.id,
        account_id: account.account.id,
        meter_id: body.meter_id.into(),
        amount_minor,
        expires_at: app.now() + SignedDuration::from_mins(i64::from(minutes)),
        purpose,
    });
    write::submit(&app, &p, &key, &source, command, |o| match o {
        Outcome::PaymentIntent(i) => Reply::json(StatusCode::CREATED, &PaymentIntentView::from(i)),
        _ => Reply::error(&ApiError::internal("unexpected outcome")),
    })
    .await
}

pub async fn query_intent(
    State(app): State<AppState>,
    Extension(p): Extension<Principal>,
    ApiPath(id): ApiPath<uuid::Uuid>,
) -> ApiResult<axum::Json<PaymentIntentView>> {
    let i = visible_intent(&app, &p, id.into()).await?;
    crate::payments::query(&app, &i).await.map_err(|e| ApiError::new(e.code, e.message))?;
    let now = app.store.payment_intent(i.id).await?.ok_or_else(|| ApiError::not_found("payment intent"))?;
    Ok(axum::Json(PaymentIntentView::from(&now)))
}

pub async fn order_intent(
    State(app): State<AppState>,
    Extension(p): Extension<Principal>,
    ApiPath(id): ApiPath<uuid::Uuid>,
    ApiJson(body): ApiJson<PaymentOrderRequest>,
) -> ApiResult<axum::Json<PaymentOrderView>> {
    let i = visible_intent(&app, &p, id.into()).await?;
    let order =
        crate::payments::order(&app, &i, body.phone.as_deref()).await.map_err(|e| ApiError::new(e.code, e.message))?;
    // As it stands now (an M-Pesa prompt's reference is recorded on it).
    let i = app.store.payment_intent(i.id).await?.unwrap_or(i);
    let mut view =
        PaymentOrderView { intent: PaymentIntentView::from(&i), pay_url: None, prompt_reference: None, form: None };
    match order {
        crate::payments::ProviderOrder::Link(url) => view.pay_url = Some(url),
        crate::payments::ProviderOrder::Prompt { reference } => view.prompt_reference = Some(reference),
        crate::payments::ProviderOrder::Form { action, fields } => {
            view.form = Some(PaymentFormView { action, fields: fields.into_iter().collect() });
        }
    }
    Ok(axum::Json(view))
}

/// 对账 (a check, nothing kept): a provider's statement for one day against what the channel recorded.
pub async fn reconcile(
    State(app): State<AppState>,
    Extension(p): Extension<Principal>,
    ApiPath(id): ApiPath<uuid::Uuid>,
    ApiJson(body): ApiJson<StatementReconciliationRequest>,
) -> ApiResult<axum::Json<StatementReconciliationView>> {
    let channel = visible_channel(&app, &p, id.into()).await?;
    let day: jiff::civil::Date = body.date.parse().map_err(|_| date_error())?;
    statement_day(channel.provider, day)?;
    let lines = read_statement(channel.provider, &body.file()?, day)?;
    Ok(axum::Json(compare(&app, &channel, day, &lines, None).await?))
}

/// 对账单导入: reads a provider's statement of one day and keeps it (one operation, audited); its reconciliation
/// is then `GET …/statements/{date}`, as often as wanted.
pub async fn import_statement(
    State(app): State<AppState>,
    Extension(p): Extension<Principal>,
    key: IdempotencyKey,
    ClientAddr(source): ClientAddr,
    ApiPath(id): ApiPath<uuid::Uuid>,
    ApiJson(body): ApiJson<StatementReconciliationRequest>,
) -> ApiResult<Response> {
    let channel = visible_channel(&app, &p, id.into()).await?;
    let day: jiff::civil::Date = body.date.parse().map_err(|_| date_error())?;
    let command = statement_command(&channel, day, &body.file()?)?;
    let c = channel.currency;
    write::submit(&app, &p, &key, &source, command, move |o| match o {
        Outcome::StatementImported(s) => Reply::json(StatusCode::CREATED, &StatementView::of(s, c)),
        _ => Reply::error(&ApiError::internal("unexpected outcome")),
    })
    .await
}

/// The operation that keeps `file` as the channel's statement of `day`.
pub(crate) fn statement_command(
    channel: &voltvend_ops::PaymentChannel,
    day: jiff::civil::Date,
    file: &[u8],
) -> ApiResult<Command> {
    use sha2::Digest;
    statement_day(channel.provider, day)?;
    let lines = read_statement(channel.provider, file, day)?;
    Ok(Command::ImportPaymentStatement(voltvend_ops::ImportPaymentStatement {
        channel_id: channel.id,
        day,
        digest: sha2::Sha256::digest(file).into(),
        lines,
    }))
}

/// The reconciliation of the statement kept for a channel's day (the latest import), against the ledger as it is
/// now: a lost notification settled by a status query since, or a refund recorded since, no longer differs.
pub async fn statement_reconciliation(
    State(app): State<AppState>,
    Extension(p): Extension<Principal>,
    ApiPath((id, date)): ApiPath<(uuid::Uuid, String)>,
) -> ApiResult<axum::Json<StatementReconciliationView>> {
    let channel = visible_channel(&app, &p, id.into()).await?;
    let day: jiff::civil::Date = date.parse().map_err(|_| date_error())?;
    Ok(axum::Json(kept_reconciliation(&app, &channel, day).await?))
}

pub(crate) async fn kept_reconciliation(
    app: &AppState,
    channel: &voltvend_ops::PaymentChannel,
    day: jiff::civil::Date,
) -> ApiResult<StatementReconciliationView> {
    let statement =
        app.store.payment_statement(channel.id, day).await?.ok_or_else(|| ApiError::not_found("statement"))?;
    let head = StatementView::of(&statement, channel.currency);
    compare(app, channel, day, &statement.lines, Some(head)).await
}

/// A statement file of `provider` in our terms: as downloaded — UTF-8 or GBK, plain, gzip or the provider's zip.
fn read_statement(
    provider: Provider,
    file: &[u8],
    day: jiff::civil::Date,
) -> ApiResult<Vec<voltvend_ops::StatementEntry>> {
    use voltvend_payments::statement::{self, LineKind};
    let bad = |e: voltvend_payments::PaymentError| ApiError::field("statement", "bad_request", e.to_string());
    // Which file of a zip is the statement: Alipay's detail file (not its summary), UnionPay's ZM file (not its
    // errors file, ZME); WeChat Pay and M-Pesa give one file.
    let wanted = |name: &str| match provider {
        Provider::Alipay => name.contains("业务明细") && !name.contains("汇总"),
        Provider::UnionPay => name.contains("ZM_"),
        Provider::WechatPay | Provider::Mpesa => true,
    };
    let text = statement::decode(&statement::unpack(file, wanted).map_err(bad)?);
    let lines = match provider {
        Provider::WechatPay => statement::wechat_trade_bill(&text),
        Provider::Alipay => statement::alipay_trade_bill(&text),
        Provider::UnionPay => statement::unionpay_zm(&text, day),
        Provider::Mpesa => statement::mpesa_statement(&text),
    }
    .map_err(bad)?;
    // What the import would refuse is refused here too, for a check that keeps nothing.
    if lines.len() > voltvend_ops::PaymentStatement::LINES_MAX {
        return Err(ApiError::new("statement_too_long", "a statement holds at most 200 000 lines"));
    }
    if let Some(n) = lines.iter().position(|l| l.amount_minor > voltvend_ops::StatementEntry::AMOUNT_MAX_MINOR) {
        return Err(ApiError::new("bad_statement_line", format!("statement line {}: the amount is too large", n + 1)));
    }
    Ok(lines
        .into_iter()
        .map(|l| voltvend_ops::StatementEntry {
            kind: match l.kind {
                LineKind::Payment => voltvend_ops::StatementEntryKind::Payment,
                LineKind::Refund => voltvend_ops::StatementEntryKind::Refund,
            },
            transaction_id: l.transaction_id,
            order_no: l.out_trade_no,
            amount_minor: l.amount_minor,
            currency: l.currency,
            at: l.at,
        })
        .collect())
}

/// The instants a provider's statement day runs over: Beijing's day for the Chinese providers, Nairobi's for
/// M-Pesa.
fn statement_day(provider: Provider, day: jiff::civil::Date) -> ApiResult<(jiff::Timestamp, jiff::Timestamp)> {
    let zone = match provider {
        Provider::Mpesa => voltvend_payments::mpesa::KENYA,
        _ => voltvend_payments::BEIJING,
    };
    voltvend_payments::day_in(zone, day).ok_or_else(date_error)
}

/// One payment on the ledger's side of a day: an intent paid (sold, held or refused), or a payment kept as refused
/// without an intent of its own (a second payment for an intent already settled).
struct LedgerPayment {
    /// The provider's transaction number (M-Pesa's `CheckoutRequestID`).
    txn: String,
    order_no: String,
    paid_minor: i64,
    paid_at: jiff::Timestamp,
    /// What became of its intent, when it has one.
    status: Option<String>,
}

/// How long after the day's end M-Pesa payments confirmed then may belong to the day: a payment is recorded when
/// Daraja confirms it, which may be minutes after the customer paid (the statement's time).
const MPESA_CONFIRMATION_SLACK: jiff::SignedDuration = jiff::SignedDuration::from_mins(15);

/// A statement's lines against the ledger. Payments are matched by the provider's transaction number to what the
/// channel recorded as paid that day (by the provider's time of payment) — intents paid, and payments kept as
/// refused without an intent of their own. M-Pesa's statement names a payment by its receipt, which only the
/// unsigned callback tells, so there a payment is matched by the account reference and the amount, to the
/// payment recorded nearest after the statement's time. Refunds are matched to the refused payments they hand
/// back. Lines of another day are listed, not matched (a WeChat Pay, Alipay or M-Pesa statement is a calendar
/// day); a UnionPay file is its settlement day, whose cut-over is not midnight, so all its lines are the day's
/// and the ledger's day is widened to cover them.
async fn compare(
    app: &AppState,
    channel: &voltvend_ops::PaymentChannel,
    day: jiff::civil::Date,
    lines: &[voltvend_ops::StatementEntry],
    head: Option<StatementView>,
) -> ApiResult<StatementReconciliationView> {
    use std::collections::{BTreeMap, BTreeSet, HashMap};
    use voltvend_ops::StatementEntryKind;

    let (mut from, mut to) = statement_day(channel.provider, day)?;
    let calendar_day = channel.provider != Provider::UnionPay;
    if !calendar_day {
        from = lines.iter().map(|l| l.at).min().map_or(from, |at| at.min(from));
        to = lines
            .iter()
            .map(|l| l.at)
            .max()
            .and_then(|at| at.checked_add(jiff::SignedDuration::from_micros(1)).ok())
            .map_or(to, |at| at.max(to));
    }
    let c = channel.currency;
    let by_account = channel.provider == Provider::Mpesa;
    let ledger_to = if by_account { to.checked_add(MPESA_CONFIRMATION_SLACK).unwrap_or(to) } else { to };
    // The ledger's payments, by the key the statement names them by.
    let mut serials: HashMap<voltvend_domain::MeterId, String> = HashMap::new();
    let mut key_of = async |meter: voltvend_domain::MeterId, txn: &str, paid_minor: i64| -> ApiResult<String> {
        if !by_account {
            return Ok(txn.to_string());
        }
        let serial = match serials.entry(meter) {
            std::collections::hash_map::Entry::Occupied(known) => known.into_mut(),
            std::collections::hash_map::Entry::Vacant(new) => new.insert(app.store.meter(meter).await?.meter.serial),
        };
        Ok(format!("{}/{paid_minor}", voltvend_payments::mpesa::account_reference(serial)))
    };
    let mut ledger: BTreeMap<String, Vec<LedgerPayment>> = BTreeMap::new();
    let mut intents_txns = BTreeSet::new();
    for i in paid_in(app, channel, from, ledger_to).await? {
        let (Some(txn), Some(paid_minor), Some(paid_at)) = (i.provider_txn.clone(), i.paid_minor, i.paid_at) else {
            continue;
        };
        intents_txns.insert(txn.clone());
        let key = key_of(i.meter_id, &txn, paid_minor).await?;
        let status = Some(i.status.as_str().to_string());
        ledger.entry(key).or_default().push(LedgerPayment { txn, order_no: i.order_no(), paid_minor, paid_at, status });
    }
    let kept = voltvend_store::RefusedFilter {
        shift: Some(channel.shift_id),
        from_us: Some(from.as_microsecond()),
        to_us: Some(ledger_to.as_microsecond()),
        ..Default::default()
    };
    for r in refused_through(app, &kept).await? {
        if intents_txns.contains(&r.reference) {
            continue;
        }
        let key = key_of(r.meter_id, &r.reference, r.paid_minor).await?;
        let payment = LedgerPayment {
            txn: r.reference,
            order_no: String::new(),
            paid_minor: r.paid_minor,
            paid_at: r.at,
            status: None,
        };
        ledger.entry(key).or_default().push(payment);
    }
    // The ledger's side: what the statement's lines found, and the day's payments they did not.
    let (mut ledger_payments, mut ledger_total) = (0_u32, 0_i64);

    let mut differences = Vec::new();
    let mut refunds = Vec::new();
    let (mut statement_payments, mut statement_total, mut matched, mut refunds_matched) = (0_u32, 0_i64, 0_u32, 0_u32);
    let mut refunds_seen = BTreeSet::new();
    let difference =
        |kind: &str, line: &voltvend_ops::StatementEntry, ledger: Option<i64>, status: Option<String>| DifferenceView {
            kind: kind.into(),
            order_no: line.order_no.clone(),
            transaction_id: line.transaction_id.clone(),
            statement: Some(money(line.amount_minor, c)),
            ledger: ledger.map(|m| money(m, c)),
            intent_status: status,
        };
    for line in lines {
        if calendar_day && !(from..to).contains(&line.at) {
            differences.push(difference("other_day", line, None, None));
            continue;
        }
        if line.currency != c.code() {
            differences.push(difference("currency", line, None, None));
            continue;
        }
        if line.kind == StatementEntryKind::Refund {
            refunds.push(StatementRefundView {
                order_no: line.order_no.clone(),
                transaction_id: line.transaction_id.clone(),
                amount: money(line.amount_minor, c),
            });
            let kept = refused_by_reference(app, channel, &line.transaction_id).await?;
            let ours =
                kept.iter().find(|r| r.refunded_by.is_some() && !r.credited && !refunds_seen.contains(&r.operation_id));
            let kind = match ours {
                Some(r) if r.paid_minor == line.amount_minor => {
                    refunds_seen.insert(r.operation_id);
                    refunds_matched += 1;
                    continue;
                }
                Some(r) => {
                    refunds_seen.insert(r.operation_id);
                    "refund_amount"
                }
                None if kept.iter().any(|r| r.credited) => "refund_of_credited",
                // Handed back again (a second, partial refund): more than we recorded.
                None if kept.iter().any(|r| refunds_seen.contains(&r.operation_id)) => "refund_amount",
                None if kept.is_empty() => "refund_unknown",
                None => "refund_not_recorded",
            };
            differences.push(difference(kind, line, ours.map(|r| r.paid_minor), None));
            continue;
        }
        statement_payments += 1;
        statement_total += line.amount_minor;
        let key =
            if by_account { format!("{}/{}", line.order_no, line.amount_minor) } else { line.transaction_id.clone() };
        let ours = ledger.get_mut(&key).and_then(|candidates| {
            // The one recorded nearest after the statement's time (M-Pesa: confirmed after it was paid).
            let best = (0..candidates.len()).min_by_key(|&n| {
                candidates.get(n).map(|p| (p.paid_at < line.at, p.paid_at.duration_since(line.at).abs()))
            })?;
            Some(candidates.swap_remove(best))
        });
        if let Some(p) = &ours {
            ledger_payments += 1;
            ledger_total += p.paid_minor;
        }
        match ours {
            Some(p) if p.paid_minor == line.amount_minor => matched += 1,
            Some(p) => differences.push(difference("amount", line, Some(p.paid_minor), p.status)),
            None => {
                // Not in the ledger: perhaps an intent we never heard was paid — its status says.
                let intent = match crate::payments::intent_of(&line.order_no) {
                    Some(id) => app.store.payment_intent(id).await?.filter(|i| i.channel_id == channel.id),
                    None => None,
                };
                differences.push(difference(
                    "not_in_ledger",
                    line,
                    None,
                    intent.map(|i| i.status.as_str().to_string()),
                ));
            }
        }
    }
    for p in ledger.into_values().flatten() {
        // Confirmed after the day's end: the next day's statement has it.
        if p.paid_at >= to {
            continue;
        }
        ledger_payments += 1;
        ledger_total += p.paid_minor;
        differences.push(DifferenceView {
            kind: "not_in_statement".into(),
            order_no: p.order_no,
            transaction_id: p.txn,
            statement: None,
            ledger: Some(money(p.paid_minor, c)),
            intent_status: p.status,
        });
    }
    // Refunds recorded that day that the statement does not show (M-Pesa's statement's withdrawals are not read).
    let refunded = voltvend_store::RefusedFilter {
        shift: Some(channel.shift_id),
        refunded_between_us: Some((from.as_microsecond(), to.as_microsecond())),
        ..Default::default()
    };
    for r in if by_account { Vec::new() } else { refused_through(app, &refunded).await? } {
        if r.credited || refunds_seen.contains(&r.operation_id) {
            continue;
        }
        differences.push(DifferenceView {
            kind: "refund_not_in_statement".into(),
            order_no: String::new(),
            transaction_id: r.reference.clone(),
            statement: None,
            ledger: Some(money(r.paid_minor, c)),
            intent_status: None,
        });
    }
    let (_, clearing) = app.store.ledger_account(channel.clearing).await?;
    Ok(StatementReconciliationView {
        channel_id: channel.id.as_uuid(),
        date: day.to_string(),
        statement: head,
        statement_payments,
        statement_total: money(statement_total, c),
        ledger_payments,
        ledger_total: money(ledger_total, c),
        matched,
        differences,
        statement_refunds: refunds,
        refunds_matched,
        clearing_balance: money(clearing.normal(voltvend_domain::Side::Debit), c),
    })
}

/// The refused payments a channel kept under the provider's transaction `txn`.
async fn refused_by_reference(
    app: &AppState,
    channel: &voltvend_ops::PaymentChannel,
    txn: &str,
) -> ApiResult<Vec<voltvend_ops::RefusedPayment>> {
    let filter = voltvend_store::RefusedFilter {
        shift: Some(channel.shift_id),
        reference: Some(txn.to_string()),
        ..Default::default()
    };
    refused_through(app, &filter).await
}

/// The ledger's side of a channel's day: every intent the provider's money came in for in `[from, to)` (by the
/// provider's time of payment), in the channel's currency — paid, held for another amount, or kept as refused:
/// what the clearing account was debited with. (A payment held in another currency was not booked.)
async fn paid_in(
    app: &AppState,
    channel: &voltvend_ops::PaymentChannel,
    from: jiff::Timestamp,
    to: jiff::Timestamp,
) -> ApiResult<Vec<voltvend_ops::PaymentIntent>> {
    let filter = IntentFilter {
        channel: Some(channel.id),
        paid_between_us: Some((from.as_microsecond(), to.as_microsecond())),
        ..Default::default()
    };
    let mut all = Vec::new();
    let mut after = None;
    loop {
        let page = ListQuery { scope: None, after: after.take(), limit: ListQuery::LIMIT_MAX };
        let list = app.store.list_payment_intents(&page, &filter).await?;
        after = list.last().map(|i| i.id.to_string());
        let done = list.len() < ListQuery::LIMIT_MAX as usize;
        all.extend(list.into_iter().filter(|i| i.paid_currency.as_deref() == Some(channel.currency.code())));
        if done {
            return Ok(all);
        }
    }
}

/// The day's position of every channel in the caller's scope, and of each provider (per currency): what came
/// in — sold, held for review, kept as refused (owed back) — what was refunded out of the clearing account that
/// day, and what the provider owes by the ledger now. Each channel's day is its property's calendar day.
pub async fn position(
    State(app): State<AppState>,
    Extension(p): Extension<Principal>,
    ApiQuery(q): ApiQuery<PositionQuery>,
) -> ApiResult<axum::Json<PaymentPositionView>> {
    use std::collections::BTreeMap;
    let day: jiff::civil::Date = q.date.parse().map_err(|_| date_error())?;
    let mut channels = Vec::new();
    let mut after = None;
    loop {
        let page = ListQuery { scope: Some(p.scope()), after: after.take(), limit: ListQuery::LIMIT_MAX };
        let list = app.store.list_payment_channels(&page).await?;
        after = list.last().map(|c| c.id.to_string());
        let done = list.len() < ListQuery::LIMIT_MAX as usize;
        channels.extend(list);
        if done {
            break;
        }
    }
    let mut rows = Vec::with_capacity(channels.len());
    let mut totals: BTreeMap<(&str, &str), Position> = BTreeMap::new();
    for channel in &channels {
        let zone = app.premises(channel.premises_id).await?.time_zone;
        let tz = jiff::tz::TimeZone::get(&zone)
            .map_err(|e| ApiError::internal(format!("the property's time zone {zone:?}: {e}")))?;
        let bounds = |d: jiff::civil::Date| d.to_zoned(tz.clone()).map(|z| z.timestamp()).map_err(|_| date_error());
        let (from, to) = (bounds(day)?, bounds(day.tomorrow().map_err(|_| date_error())?)?);
        let mut here = Position::default();
        // Sold: the intents paid that day that became sales.
        for i in paid_in(&app, channel, from, to).await? {
            if i.status == IntentStatus::Paid {
                here.paid.add(i.paid_minor.unwrap_or(0));
            }
        }
        // Held and kept: every payment the channel took that day and kept as owed back — whether or not its
        // intent shows it (a second payment for a paid intent leaves the intent as it was).
        let (from_us, to_us) = (from.as_microsecond(), to.as_microsecond());
        let taken = voltvend_store::RefusedFilter {
            shift: Some(channel.shift_id),
            from_us: Some(from_us),
            to_us: Some(to_us),
            ..Default::default()
        };
        for r in refused_through(&app, &taken).await? {
            if r.reason_code == "payment_amount_mismatch" {
                here.held.add(r.paid_minor)
            } else {
                here.kept.add(r.paid_minor)
            }
        }
        // Refunded: handed back that day (one credited after review became a sale; its money stays with us).
        let refunded = voltvend_store::RefusedFilter {
            shift: Some(channel.shift_id),
            refunded_between_us: Some((from_us, to_us)),
            ..Default::default()
        };
        for r in refused_through(&app, &refunded).await?.iter().filter(|r| !r.credited) {
            here.refunded.add(r.paid_minor);
        }
        here.clearing_minor = app.store.ledger_account(channel.clearing).await?.1.normal(voltvend_domain::Side::Debit);
        totals.entry((channel.provider.as_str(), channel.currency.code())).or_default().merge(&here);
        rows.push(ChannelPositionView {
            channel_id: channel.id.as_uuid(),
            name: channel.name.clone(),
            provider: channel.provider.as_str().to_string(),
            figures: here.view(channel.currency),
        });
    }
    let providers = totals
        .iter()
        .map(|((provider, code), t)| {
            let c = currency("currency", code)?;
            Ok(ProviderPositionView {
                provider: provider.to_string(),
                currency: c.code().to_string(),
                figures: t.view(c),
            })
        })
        .collect::<ApiResult<Vec<_>>>()?;
    Ok(axum::Json(PaymentPositionView { date: day.to_string(), channels: rows, providers }))
}

/// Every refused payment `filter` selects.
async fn refused_through(
    app: &AppState,
    filter: &voltvend_store::RefusedFilter,
) -> ApiResult<Vec<voltvend_ops::RefusedPayment>> {
    let mut all = Vec::new();
    let mut after = None;
    loop {
        let page = ListQuery { scope: None, after: after.take(), limit: ListQuery::LIMIT_MAX };
        let list = app.store.list_refused_payments(&page, filter).await?;
        after = list.last().map(|r| r.operation_id.to_string());
        let done = list.len() < ListQuery::LIMIT_MAX as usize;
        all.extend(list);
        if done {
            return Ok(all);
        }
    }
}

/// A count and its total.
#[derive(Debug, Default, Clone, Copy)]
struct Tally {
    count: u32,
    total_minor: i64,
}

impl Tally {
    fn add(&mut self, minor: i64) {
        self.count += 1;
        self.total_minor += minor;
    }

    fn merge(&mut self, other: Tally) {
        self.count += other.count;
        self.total_minor += other.total_minor;
    }

    fn view(&self, c: voltvend_domain::Currency) -> TallyView {
        TallyView { count: self.count, total: money(self.total_minor, c) }
    }
}

/// One channel's (or provider's) day.
#[derive(Debug, Default)]
struct Position {
    paid: Tally,
    held: Tally,
    kept: Tally,
    refunded: Tally,
    clearing_minor: i64,
}

impl Position {
    fn merge(&mut self, other: &Position) {
        self.paid.merge(other.paid);
        self.held.merge(other.held);
        self.kept.merge(other.kept);
        self.refunded.merge(other.refunded);
        self.clearing_minor += other.clearing_minor;
    }

    fn view(&self, c: voltvend_domain::Currency) -> PositionFiguresView {
        let collected = self.paid.total_minor + self.held.total_minor + self.kept.total_minor;
        PositionFiguresView {
            sold: self.paid.view(c),
            held: self.held.view(c),
            kept: self.kept.view(c),
            collected: money(collected, c),
            refunded: self.refunded.view(c),
            clearing_balance: money(self.clearing_minor, c),
        }
    }
}

fn date_error() -> ApiError {
    ApiError::field("date", "bad_request", "a date such as 2026-11-23")
}
