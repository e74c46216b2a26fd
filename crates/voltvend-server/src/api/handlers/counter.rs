//! The counter: shifts, quotes and sales, receipts and reprints, refused payments, management tokens.

use axum::Extension;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use voltvend_domain::{Currency, MeterProtocol, Permission, ShiftId, ShiftStatus};
use voltvend_ops::{
    CloseShift, Command, CreditRefusedPayment, IssueOpgToken, IssueStsTokens, OpenShift, Operation, OpgManagement,
    Outcome, RefundRefusedPayment, ReprintReceipt, Sale, SaleRecord, StsManagement,
};
use voltvend_store::{ListQuery, RefusedFilter, SaleFilter, SalesGrouping, ShiftFilter};
use voltvend_sts::KeyChange;

use super::customers::{method, sale_amount, shift_of, visible_account, visible_meter};
use crate::api::auth::Principal;
use crate::api::error::{ApiError, ApiResult};
use crate::api::extract::{ApiJson, ApiPath, ApiQuery, ClientAddr, IdempotencyKey};
use crate::api::printed;
use crate::api::receipts::{self, Format};
use crate::api::views::*;
use crate::api::write::{self, Reply};
use crate::http::AppState;

pub(crate) fn time_filter(from: &Option<String>, to: &Option<String>) -> ApiResult<(Option<i64>, Option<i64>)> {
    let us = voltvend_domain::clock::timestamp_us;
    Ok((
        from.as_deref().map(|t| parse_instant("from", t)).transpose()?.map(us),
        to.as_deref().map(|t| parse_instant("to", t)).transpose()?.map(us),
    ))
}

async fn shift_currency(app: &AppState, s: &voltvend_domain::Shift) -> ApiResult<Currency> {
    Ok(app.store.vending_point(s.vending_point_id).await?.currency)
}

pub async fn list_shifts(
    State(app): State<AppState>,
    Extension(p): Extension<Principal>,
    ApiQuery(q): ApiQuery<ShiftQuery>,
) -> ApiResult<axum::Json<Page<ShiftView>>> {
    let limit = page_limit(q.limit)?;
    let filter = ShiftFilter {
        operator: q.operator_id.map(Into::into),
        vending_point: q.vending_point_id.map(Into::into),
        status: q.status,
    };
    let list = app.store.list_shifts(&ListQuery { scope: Some(p.scope()), after: q.after, limit }, &filter).await?;
    let mut items = Vec::with_capacity(list.len());
    for s in &list {
        items.push(ShiftView::of(s, shift_currency(&app, s).await?));
    }
    Ok(axum::Json(Page::of(items, limit, |s| s.id.to_string())))
}

pub async fn current_shift(
    State(app): State<AppState>,
    Extension(p): Extension<Principal>,
) -> ApiResult<axum::Json<ShiftView>> {
    let s = app.store.open_shift_of(p.id()).await?.ok_or_else(|| ApiError::not_found("open shift"))?;
    Ok(axum::Json(ShiftView::of(&s, shift_currency(&app, &s).await?)))
}

pub async fn open_shift(
    State(app): State<AppState>,
    Extension(p): Extension<Principal>,
    key: IdempotencyKey,
    ClientAddr(source): ClientAddr,
    ApiJson(body): ApiJson<OpenShiftRequest>,
) -> ApiResult<Response> {
    let point = app
        .store
        .vending_point(body.vending_point_id.into())
        .await
        .map_err(|_| ApiError::not_found("vending point"))?;
    app.visible(&p, point.premises_id, "vending point").await?;
    let float = parse_money("opening_float", &body.opening_float, point.currency)?;
    let op_id = write::operation_id(p.id(), &key.0);
    let shift_id: ShiftId = write::derived_id(op_id, "shift");
    let command = Command::OpenShift(OpenShift {
        shift_id,
        vending_point_id: point.id,
        operator_id: p.id(),
        opening_float_minor: float,
    });
    let currency = point.currency;
    let (operator, at) = (p.id(), app.now());
    write::submit(&app, &p, &key, &source, command, move |o| match o {
        Outcome::ShiftOpened { shift_id, drawer } => {
            let shift = voltvend_domain::Shift {
                id: *shift_id,
                vending_point_id: point.id,
                operator_id: operator,
                drawer: *drawer,
                opened_at: at,
                opening_float_minor: float,
                status: ShiftStatus::Open,
                closed_at: None,
                expected_minor: None,
                counted_minor: None,
                denominations: Vec::new(),
            };
            Reply::json(StatusCode::CREATED, &ShiftView::of(&shift, currency))
        }
        _ => Reply::error(&ApiError::internal("unexpected outcome")),
    })
    .await
}

pub async fn close_shift(
    State(app): State<AppState>,
    Extension(p): Extension<Principal>,
    key: IdempotencyKey,
    ClientAddr(source): ClientAddr,
    ApiPath(id): ApiPath<uuid::Uuid>,
    ApiJson(body): ApiJson<CloseShiftRequest>,
) -> ApiResult<Response> {
    let shift = app.store.shift(id.into()).await.map_err(|_| ApiError::not_found("shift"))?;
    let point = app.store.vending_point(shift.vending_point_id).await?;
    app.visible(&p, point.premises_id, "shift").await?;
    if shift.operator_id != p.id() {
        return Err(ApiError::new("shift_not_yours", "a cashier closes their own shift"));
    }
    let mut denominations = Vec::with_capacity(body.denominations.len());
    for (i, d) in body.denominations.iter().enumerate() {
        let value = parse_money(&format!("denominations[{i}].value"), &d.value, point.currency)?;
        denominations.push((value, i64::from(d.count)));
    }
    let counted = match &body.counted {
        Some(c) => parse_money("counted", c, point.currency)?,
        None if !denominations.is_empty() => denominations
            .iter()
            .try_fold(0_i64, |sum, (v, n)| v.checked_mul(*n).and_then(|x| sum.checked_add(x)))
            .ok_or_else(|| ApiError::field("denominations", "bad_denominations", "too large"))?,
        None => return Err(ApiError::field("counted", "bad_request", "give counted, or the count by denominations")),
    };
    let mut denominations_closed = denominations.clone();
    denominations_closed.sort_unstable_by(|a, b| b.cmp(a));
    let command = Command::CloseShift(CloseShift { shift_id: shift.id, counted_minor: counted, denominations });
    let (currency, at) = (point.currency, app.now());
    write::submit(&app, &p, &key, &source, command, move |o| match o {
        Outcome::ShiftClosed { expected_minor, counted_minor, .. } => {
            let mut closed = shift.clone();
            closed.status = ShiftStatus::Closed;
            closed.closed_at = Some(at);
            closed.expected_minor = Some(*expected_minor);
            closed.counted_minor = Some(*counted_minor);
            closed.denominations = denominations_closed.clone();
            Reply::json(StatusCode::OK, &ShiftView::of(&closed, currency))
        }
        _ => Reply::error(&ApiError::internal("unexpected outcome")),
    })
    .await
}

/// The sale a request asks for, with the account's currency, the unit sold and the meter sold to.
async fn sale_of(
    app: &AppState,
    p: &Principal,
    body: &SaleRequest,
) -> ApiResult<(Sale, Currency, String, voltvend_ops::MeterRecord)> {
    let account = visible_account(app, p, body.account_id.into()).await?;
    let c = account.account.currency;
    let meter = super::customers::visible_meter(app, p, body.meter_id.into()).await?;
    let opg_unit = match meter.meter.protocol {
        MeterProtocol::OpenPaygo => app.store.opg_state(meter.meter.id).await?.map(|o| o.unit.as_str().to_string()),
        _ => None,
    };
    let unit = unit_of(meter.meter.utility, meter.meter.protocol, opg_unit.as_deref());
    let money_of = |field: &str, v: &Option<String>| v.as_deref().map(|t| parse_money(field, t, c)).transpose();
    let sale = Sale {
        account_id: account.account.id,
        meter_id: meter.meter.id,
        shift_id: shift_of(app, p, body.shift_id).await?,
        method: method(&body.method)?,
        amount: sale_amount(body.amount.as_deref(), body.quantity.as_deref(), c)?,
        fees_minor: money_of("fees", &body.fees)?.unwrap_or(0),
        reference: body.reference.clone(),
        expected_paid_minor: money_of("expected_paid", &body.expected_paid)?,
    };
    Ok((sale, c, unit, meter))
}

pub async fn quote(
    State(app): State<AppState>,
    Extension(p): Extension<Principal>,
    ClientAddr(source): ClientAddr,
    ApiJson(body): ApiJson<SaleRequest>,
) -> ApiResult<axum::Json<QuoteView>> {
    let (sale, c, unit, _) = sale_of(&app, &p, &body).await?;
    // The quote is the sale itself, applied to the current state and thrown away: it cannot differ from what
    // the sale will do on the same state. Its tokens are never shown.
    let op = Operation::new(app.api.ids.id(), p.actor(&source), Command::Sale(sale));
    match app.store.dry_run(op).await?? {
        voltvend_ops::Applied::Committed { outcome: Outcome::Sale(s), .. } => Ok(axum::Json(QuoteView {
            paid: money(s.paid_minor, c),
            arrears: money(s.arrears_minor, c),
            fees: money(s.fees_minor, c),
            property_fees: money(s.property_fees_minor, c),
            tax: money(s.tax_minor, c),
            energy: money(s.energy_minor, c),
            credit: money(s.credit_minor, c),
            quantity: (s.quantity_milli > 0).then(|| quantity(s.quantity_milli, &unit)),
            balance_after: money(s.balance_after_minor, c),
            tokens: s.tokens.len(),
        })),
        voltvend_ops::Applied::Committed { outcome: Outcome::PaymentRefused { code, message, .. }, .. } => {
            Err(ApiError::new(code, message))
        }
        _ => Err(ApiError::internal("a quote answered something else than a sale")),
    }
}

pub async fn sell(
    State(app): State<AppState>,
    Extension(p): Extension<Principal>,
    key: IdempotencyKey,
    ClientAddr(source): ClientAddr,
    ApiJson(body): ApiJson<SaleRequest>,
) -> ApiResult<Response> {
    let (sale, c, unit, card_meter) = sale_of(&app, &p, &body).await?;
    // An IC-card meter's purchase goes onto the customer's card in this counter's reader: read it first (its
    // return data may show the last purchase loaded), write the new one after the commit.
    let card_point = match card_meter.meter.protocol {
        MeterProtocol::IcCard => {
            let point = app.store.shift(sale.shift_id).await.ok().map(|s| s.vending_point_id);
            super::cards::before_card_sale(&app, &p, &key, &source, sale.meter_id, point).await?;
            Some(point)
        }
        _ => None,
    };
    let (reply, replayed) = write::submit_reply(&app, &p, &key, &source, Command::Sale(sale), move |o| match o {
        Outcome::Sale(s) => Reply::json(StatusCode::CREATED, &SaleView::of(s, c, &unit)),
        Outcome::PaymentRefused { payment, code, message } => write::refused_payment(payment, code, message),
        _ => Reply::error(&ApiError::internal("unexpected outcome")),
    })
    .await?;
    let reply = match card_point {
        Some(point) if reply.status == StatusCode::CREATED => with_card_write(&app, reply, &card_meter, point).await?,
        _ => reply,
    };
    let response = reply.into_response(replayed);
    // A sale to a tripped remote meter queued its close: the head end carries it out now, not at its next turn.
    if let Some(h) = &app.headend {
        h.wake();
    }
    Ok(response)
}

/// The answer to a sale to an IC-card meter, with what came of writing its purchase onto the card (`card`).
async fn with_card_write(
    app: &AppState,
    reply: Reply,
    meter: &voltvend_ops::MeterRecord,
    point: Option<voltvend_domain::VendingPointId>,
) -> ApiResult<Reply> {
    let mut body: serde_json::Value = serde_json::from_slice(&reply.body).map_err(ApiError::internal)?;
    let id = body.get("id").and_then(|v| v.as_str()).and_then(|s| s.parse::<uuid::Uuid>().ok());
    let Some(id) = id else { return Ok(reply) };
    let write = super::cards::after_card_sale(app, id.into(), meter, point).await?;
    if let (Some(write), Some(obj)) = (write, body.as_object_mut()) {
        obj.insert("card".into(), serde_json::to_value(write).map_err(ApiError::internal)?);
    }
    Ok(Reply::json(reply.status, &body))
}

/// A sale the principal may see, with its currency and unit.
async fn visible_sale(app: &AppState, p: &Principal, id: uuid::Uuid) -> ApiResult<(SaleRecord, Currency, String)> {
    let s = app.store.sale(id.into()).await?.ok_or_else(|| ApiError::not_found("sale"))?;
    let account = visible_account(app, p, s.account_id).await.map_err(|_| ApiError::not_found("sale"))?;
    let meter = app.store.meter(s.meter_id).await?;
    let opg_unit = match meter.meter.protocol {
        MeterProtocol::OpenPaygo => app.store.opg_state(meter.meter.id).await?.map(|o| o.unit.as_str().to_string()),
        _ => None,
    };
    let unit = unit_of(meter.meter.utility, meter.meter.protocol, opg_unit.as_deref());
    Ok((s, account.account.currency, unit))
}

pub async fn list_sales(
    State(app): State<AppState>,
    Extension(p): Extension<Principal>,
    ApiQuery(q): ApiQuery<SaleQuery>,
) -> ApiResult<axum::Json<Page<SaleView>>> {
    let limit = page_limit(q.limit)?;
    let (from_us, to_us) = time_filter(&q.from, &q.to)?;
    let filter = SaleFilter {
        account: q.account_id.map(Into::into),
        meter: q.meter_id.map(Into::into),
        vending_point: q.vending_point_id.map(Into::into),
        shift: q.shift_id.map(Into::into),
        operator: q.operator_id.map(Into::into),
        from_us,
        to_us,
        reversed: q.reversed,
        premises: None,
    };
    let list = app.store.list_sales(&ListQuery { scope: Some(p.scope()), after: q.after, limit }, &filter).await?;
    let mut items = Vec::with_capacity(list.len());
    // A page is mostly a few accounts and meters: read each once.
    let mut currencies = std::collections::HashMap::new();
    let mut units = std::collections::HashMap::new();
    for s in &list {
        let currency = match currencies.get(&s.account_id) {
            Some(c) => *c,
            None => {
                let c = app.store.account(s.account_id).await?.account.currency;
                currencies.insert(s.account_id, c);
                c
            }
        };
        let unit = match units.get(&s.meter_id) {
            Some(u) => String::clone(u),
            None => {
                let m = app.store.meter(s.meter_id).await?;
                let u = unit_of(m.meter.utility, m.meter.protocol, None);
                units.insert(s.meter_id, u.clone());
                u
            }
        };
        items.push(SaleView::of(s, currency, &unit));
    }
    Ok(axum::Json(Page::of(items, limit, |s| s.id.to_string())))
}

pub async fn get_sale(
    State(app): State<AppState>,
    Extension(p): Extension<Principal>,
    ApiPath(id): ApiPath<uuid::Uuid>,
) -> ApiResult<axum::Json<SaleView>> {
    let (s, c, unit) = visible_sale(&app, &p, id).await?;
    Ok(axum::Json(SaleView::of(&s, c, &unit)))
}

pub async fn receipt(
    State(app): State<AppState>,
    Extension(p): Extension<Principal>,
    ApiPath(id): ApiPath<uuid::Uuid>,
    ApiQuery(q): ApiQuery<ReceiptQuery>,
) -> ApiResult<Response> {
    let format = Format::parse(q.format.as_deref())?;
    let language = receipts::language(q.lang.as_deref())?;
    let (s, _, _) = visible_sale(&app, &p, id).await?;
    // The original is printed at the counter right after the sale; any later print is a reprint (补收据).
    let shift = app.store.shift(s.shift_id).await?;
    if s.operator_id != p.id() || shift.status != ShiftStatus::Open {
        return Err(ApiError::new(
            "receipt_not_original",
            "only the cashier who sold prints the original, while the shift is open; print a copy instead",
        ));
    }
    let data = receipts::gather(&app, &s, language, false).await?;
    Ok(receipts::render(&app, &data, format)?.into_response(false))
}

pub async fn reprint(
    State(app): State<AppState>,
    Extension(p): Extension<Principal>,
    key: IdempotencyKey,
    ClientAddr(source): ClientAddr,
    ApiPath(id): ApiPath<uuid::Uuid>,
    ApiJson(body): ApiJson<ReprintRequest>,
) -> ApiResult<Response> {
    let format = Format::parse(Some(&body.format))?;
    let language = receipts::language(body.lang.as_deref())?;
    let (s, _, _) = visible_sale(&app, &p, id).await?;
    let data = receipts::gather(&app, &s, language, true).await?;
    // The copy is rendered before the reprint is recorded (a receipt that cannot be printed is not recorded as
    // printed), and it is the saved answer: a retry gets the same bytes.
    let document = receipts::render(&app, &data, format)?;
    let command = Command::ReprintReceipt(ReprintReceipt { sale: s.operation_id, format: format.ops() });
    write::submit(&app, &p, &key, &source, command, move |o| match o {
        Outcome::Reprinted(_) => document.clone(),
        _ => Reply::error(&ApiError::internal("unexpected outcome")),
    })
    .await
}

pub async fn list_refused(
    State(app): State<AppState>,
    Extension(p): Extension<Principal>,
    ApiQuery(q): ApiQuery<RefusedQuery>,
) -> ApiResult<axum::Json<Page<RefusedPaymentView>>> {
    let limit = page_limit(q.limit)?;
    let (from_us, to_us) = time_filter(&q.from, &q.to)?;
    let filter = RefusedFilter {
        account: q.account_id.map(Into::into),
        refunded: q.refunded,
        from_us,
        to_us,
        ..Default::default()
    };
    let list =
        app.store.list_refused_payments(&ListQuery { scope: Some(p.scope()), after: q.after, limit }, &filter).await?;
    let mut items = Vec::with_capacity(list.len());
    for r in &list {
        let c = app.store.account(r.account_id).await?.account.currency;
        items.push(RefusedPaymentView::of(r, c));
    }
    Ok(axum::Json(Page::of(items, limit, |r| r.id.to_string())))
}

pub async fn refund(
    State(app): State<AppState>,
    Extension(p): Extension<Principal>,
    key: IdempotencyKey,
    ClientAddr(source): ClientAddr,
    ApiPath(id): ApiPath<uuid::Uuid>,
    ApiJson(body): ApiJson<RefundRequest>,
) -> ApiResult<Response> {
    let (payment, account) = visible_refused(&app, &p, id).await?;
    let shift_id = match (body.shift_id, payment.method) {
        (Some(s), _) => Some(s.into()),
        (None, voltvend_ops::PaymentMethod::Cash) => app.store.open_shift_of(p.id()).await?.map(|s| s.id),
        (None, _) => None,
    };
    let c = account.account.currency;
    let command = Command::RefundRefusedPayment(RefundRefusedPayment { payment: payment.operation_id, shift_id });
    write::submit(&app, &p, &key, &source, command, move |o| match o {
        Outcome::Refunded(r) => Reply::json(StatusCode::OK, &RefusedPaymentView::of(r, c)),
        _ => Reply::error(&ApiError::internal("unexpected outcome")),
    })
    .await
}

/// A refused payment and its account, if the account is within the caller's scope (otherwise not found).
async fn visible_refused(
    app: &AppState,
    p: &Principal,
    id: uuid::Uuid,
) -> ApiResult<(voltvend_ops::RefusedPayment, voltvend_ops::AccountRecord)> {
    let payment = app.store.refused_payment(id.into()).await?.ok_or_else(|| ApiError::not_found("refused payment"))?;
    let account =
        visible_account(app, p, payment.account_id).await.map_err(|_| ApiError::not_found("refused payment"))?;
    Ok((payment, account))
}

/// 复核入账: credits a refused payment to its account after review instead of handing it back: one sale through
/// the payment's own shift, out of the refunds owed.
pub async fn credit(
    State(app): State<AppState>,
    Extension(p): Extension<Principal>,
    key: IdempotencyKey,
    ClientAddr(source): ClientAddr,
    ApiPath(id): ApiPath<uuid::Uuid>,
) -> ApiResult<Response> {
    let (payment, account) = visible_refused(&app, &p, id).await?;
    let meter = app.store.meter(payment.meter_id).await?;
    let c = account.account.currency;
    let unit = unit_of(meter.meter.utility, meter.meter.protocol, None);
    let command = Command::CreditRefusedPayment(CreditRefusedPayment { payment: payment.operation_id });
    if payment.purpose == voltvend_ops::IntentPurpose::Fees {
        // Paid for rent and fees: credited as a fee payment, answered as the account's fees list it.
        return super::fees::submit_payment(&app, &p, &key, &source, command, c).await;
    }
    write::submit(&app, &p, &key, &source, command, move |o| match o {
        Outcome::Sale(s) => Reply::json(StatusCode::CREATED, &SaleView::of(s, c, &unit)),
        _ => Reply::error(&ApiError::internal("unexpected outcome")),
    })
    .await
}

pub async fn meter_tokens(
    State(app): State<AppState>,
    Extension(p): Extension<Principal>,
    ApiPath(id): ApiPath<uuid::Uuid>,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> ApiResult<axum::Json<Page<MeterTokenView>>> {
    let limit = page_limit(q.limit)?;
    let before = match q.after.as_deref() {
        Some(a) => {
            Some(a.parse::<i64>().map_err(|_| ApiError::field("after", "bad_request", "not a cursor this list gave"))?)
        }
        None => None,
    };
    let m = visible_meter(&app, &p, id.into()).await?;
    // Management tokens can be typed in by whoever reads them: only those who may issue them see them.
    let may_see = p.can(Permission::StsManagementTokens) || p.can(Permission::OpenPaygoManagementTokens);
    let tokens = app.store.meter_tokens(m.meter.id, before, limit).await?;
    let next = (tokens.len() as u32 >= limit).then(|| tokens.last().map(|(seq, _)| seq.to_string())).flatten();
    let items = tokens
        .iter()
        .map(|(_, t)| {
            let mut v = MeterTokenView::from(t);
            if !may_see {
                v.tokens = v.tokens.iter().map(|_| "(hidden)".to_string()).collect();
            }
            v
        })
        .collect();
    Ok(axum::Json(Page { items, next }))
}

pub async fn sts_tokens(
    State(app): State<AppState>,
    Extension(p): Extension<Principal>,
    key: IdempotencyKey,
    ClientAddr(source): ClientAddr,
    ApiPath(id): ApiPath<uuid::Uuid>,
    ApiJson(body): ApiJson<StsTokensRequest>,
) -> ApiResult<Response> {
    let m = visible_meter(&app, &p, id.into()).await?;
    let field = |f: &str, m: &str| ApiError::field(f, "bad_request", m);
    let request = match body.kind.as_str() {
        "clear_credit" => StsManagement::ClearCredit {
            register: body.register.ok_or_else(|| field("register", "which register to clear (65535: all)"))?,
        },
        "clear_tamper" => StsManagement::ClearTamper,
        "max_power_limit" => {
            StsManagement::MaxPowerLimit { watts: body.watts.ok_or_else(|| field("watts", "the limit in watts"))? }
        }
        "max_phase_unbalance" => {
            StsManagement::MaxPhaseUnbalance { watts: body.watts.ok_or_else(|| field("watts", "the limit in watts"))? }
        }
        "key_change" => {
            let k = body.key_change.as_ref().ok_or_else(|| field("key_change", "what the key change sets"))?;
            StsManagement::KeyChange(KeyChange::from(k))
        }
        _ => {
            return Err(ApiError::field(
                "kind",
                "bad_value",
                "clear_credit, clear_tamper, max_power_limit, max_phase_unbalance or key_change",
            ));
        }
    };
    let command = Command::IssueStsTokens(IssueStsTokens { meter_id: m.meter.id, request, reason: body.reason });
    write::submit(&app, &p, &key, &source, command, |o| match o {
        Outcome::Tokens(t) => Reply::json(StatusCode::CREATED, &MeterTokenView::from(t)),
        _ => Reply::error(&ApiError::internal("unexpected outcome")),
    })
    .await
}

pub async fn openpaygo_token(
    State(app): State<AppState>,
    Extension(p): Extension<Principal>,
    key: IdempotencyKey,
    ClientAddr(source): ClientAddr,
    ApiPath(id): ApiPath<uuid::Uuid>,
    ApiJson(body): ApiJson<OpenPaygoTokenRequest>,
) -> ApiResult<Response> {
    let m = visible_meter(&app, &p, id.into()).await?;
    let request = match body.kind.as_str() {
        "set_time" => OpgManagement::SetTime {
            units: body.units.ok_or_else(|| ApiError::field("units", "bad_request", "the units of time to set"))?,
        },
        "disable_payg" => OpgManagement::DisablePayg,
        "counter_sync" => OpgManagement::CounterSync,
        _ => return Err(ApiError::field("kind", "bad_value", "set_time, disable_payg or counter_sync")),
    };
    let command = Command::IssueOpgToken(IssueOpgToken { meter_id: m.meter.id, request, reason: body.reason });
    write::submit(&app, &p, &key, &source, command, |o| match o {
        Outcome::Tokens(t) => Reply::json(StatusCode::CREATED, &MeterTokenView::from(t)),
        _ => Reply::error(&ApiError::internal("unexpected outcome")),
    })
    .await
}

/// 交班结算: what a shift sold, by payment method, beside what its drawer should hold and what was counted.
pub async fn shift_settlement(
    State(app): State<AppState>,
    Extension(p): Extension<Principal>,
    ApiPath(id): ApiPath<uuid::Uuid>,
    ApiQuery(q): ApiQuery<SettlementQuery>,
) -> ApiResult<Response> {
    let language = match q.format.as_deref().unwrap_or("json") {
        "json" => None,
        "pdf" => Some(crate::api::receipts::language(q.lang.as_deref())?),
        _ => return Err(ApiError::field("format", "bad_value", "json or pdf")),
    };
    let shift = app.store.shift(id.into()).await.map_err(|_| ApiError::not_found("shift"))?;
    let point = app.store.vending_point(shift.vending_point_id).await?;
    app.visible(&p, point.premises_id, "shift").await?;
    let c = point.currency;
    // Sales standing: one reversed or re-allocated since took nothing (its correction gave the money back or
    // moved it to the new sale, which is counted). Summed by the store, per payment method.
    let of_shift = |reversed| SaleFilter { shift: Some(shift.id), reversed: Some(reversed), ..SaleFilter::default() };
    let standing = app.store.sales_summary(Some(p.scope()), &of_shift(false), SalesGrouping::Method).await?;
    let reversed = app.store.sales_summary(Some(p.scope()), &of_shift(true), SalesGrouping::Method).await?;
    let total = |f: fn(&voltvend_store::SalesGroup) -> i64| standing.iter().map(f).fold(0_i64, i64::saturating_add);
    let fee_totals = app.store.fee_payment_totals(shift.id).await?;
    let view = ShiftSettlementView {
        shift: ShiftView::of(&shift, c),
        sales: u64::try_from(total(|g| g.sales)).unwrap_or(0),
        paid: money(total(|g| g.paid_minor), c),
        by_method: standing
            .iter()
            .map(|g| MethodTotalView {
                method: g.key.clone(),
                sales: u64::try_from(g.sales).unwrap_or(0),
                paid: money(g.paid_minor, c),
            })
            .collect(),
        arrears: money(total(|g| g.arrears_minor), c),
        fees: money(total(|g| g.fees_minor), c),
        energy: money(total(|g| g.energy_minor), c),
        credit: money(total(|g| g.credit_minor), c),
        property_fees: money(total(|g| g.property_fees_minor), c),
        reversed: u64::try_from(reversed.iter().map(|g| g.sales).sum::<i64>()).unwrap_or(0),
        fee_payments: u64::try_from(fee_totals.iter().map(|f| f.payments).sum::<i64>()).unwrap_or(0),
        fees_paid: money(fee_totals.iter().map(|f| f.paid_minor).fold(0_i64, i64::saturating_add), c),
        fees_by_method: fee_totals
            .iter()
            .map(|f| MethodTotalView {
                method: f.method.clone(),
                sales: u64::try_from(f.payments).unwrap_or(0),
                paid: money(f.paid_minor, c),
            })
            .collect(),
    };
    let Some(language) = language else { return Ok(axum::Json(view).into_response()) };
    let cashier =
        app.store.operator(shift.operator_id).await?.map_or_else(|| shift.operator_id.to_string(), |o| o.display_name);
    let doc = settlement_document(&app, &p, language, &view, &point.name, &cashier).await?;
    printed::pdf(&app, &doc, &format!("shift-settlement-{}", shift.id))
}

/// 交班结算单: the settlement as printed and signed at the end of a shift.
async fn settlement_document(
    app: &AppState,
    p: &Principal,
    language: voltvend_receipt::Language,
    v: &ShiftSettlementView,
    point: &str,
    cashier: &str,
) -> ApiResult<voltvend_receipt::ReportDocument> {
    use voltvend_receipt::{Language, ReportBlock};
    let zh = language == Language::ZhCn;
    let t = |en: &'static str, cn: &'static str| if zh { cn } else { en }.to_string();
    let amount = |m: &MoneyView| format!("{} {}", m.currency, m.amount);
    let maybe = |m: &Option<MoneyView>| m.as_ref().map_or_else(|| "-".to_string(), amount);
    let shift = &v.shift;
    let status = match shift.status.as_str() {
        "closed" => t("closed", "已交班"),
        _ => t("open", "未交班"),
    };
    let lines = vec![format!("{} {point} · {} {cashier}", t("Vending point", "售电点"), t("Cashier", "收银员"))];
    let about = ReportBlock::Pairs(vec![
        (t("Opened", "开班时间"), shift.opened_at.clone(), false),
        (t("Closed", "交班时间"), shift.closed_at.clone().unwrap_or_else(|| "-".into()), false),
        (t("Status", "状态"), status, false),
        (t("Opening float", "备用金"), amount(&shift.opening_float), true),
    ]);
    let method = |m: &str| match m {
        "cash" => t("Cash", "现金"),
        "bank_card" => t("Bank card", "银行卡"),
        "bank_transfer" => t("Bank transfer", "转账"),
        other => other.to_string(),
    };
    let by_method = ReportBlock::Table {
        header: vec![t("Payment method", "支付方式"), t("Sales", "笔数"), t("Paid", "实收")],
        rows: v.by_method.iter().map(|m| vec![method(&m.method), m.sales.to_string(), amount(&m.paid)]).collect(),
        right: vec![false, true, true],
    };
    let totals = ReportBlock::Pairs(vec![
        (t("Sales", "售电笔数"), v.sales.to_string(), true),
        (t("Paid", "实收合计"), amount(&v.paid), true),
        (t("Arrears recovered", "追缴欠费"), amount(&v.arrears), true),
        (t("Fees", "费用"), amount(&v.fees), true),
        (t("Energy on tokens", "电量（含税）"), amount(&v.energy), true),
        (t("Wallet credit", "账户充值"), amount(&v.credit), true),
        (t("Rent and fees recovered", "补缴房租物业费"), amount(&v.property_fees), true),
        (t("Reversed since (not counted)", "已冲正（不计入）"), v.reversed.to_string(), true),
    ]);
    let fees = ReportBlock::Table {
        header: vec![t("Rent and fees paid", "收取房租物业费"), t("Payments", "笔数"), t("Paid", "实收")],
        rows: v.fees_by_method.iter().map(|m| vec![method(&m.method), m.sales.to_string(), amount(&m.paid)]).collect(),
        right: vec![false, true, true],
    };
    let cash = ReportBlock::Pairs(vec![
        (t("Expected in the drawer", "应有现金"), maybe(&shift.expected), true),
        (t("Counted", "实点现金"), maybe(&shift.counted), true),
        (t("Over (+) / short (-)", "长款(+)/短款(-)"), maybe(&shift.variance), true),
    ]);
    let mut blocks = vec![about, by_method, totals];
    if !v.fees_by_method.is_empty() {
        blocks.push(fees);
    }
    blocks.push(cash);
    if !shift.denominations.is_empty() {
        let currency = shift.opening_float.currency.clone();
        blocks.push(ReportBlock::Table {
            header: vec![t("Denomination", "面额"), t("Count", "张数"), t("Amount", "金额")],
            rows: shift
                .denominations
                .iter()
                .map(|d| {
                    let minor = voltvend_domain::Money::parse(&d.value, c_of(&currency))
                        .map(|m| m.amount_minor() * i64::from(d.count))
                        .unwrap_or(0);
                    let total = voltvend_domain::Money::from_minor(minor, c_of(&currency)).to_decimal_string();
                    vec![format!("{currency} {}", d.value), d.count.to_string(), format!("{currency} {total}")]
                })
                .collect(),
            right: vec![true, true, true],
        });
    }
    blocks.push(ReportBlock::Pairs(vec![
        (t("Cashier's signature", "收银员签字"), String::new(), false),
        (t("Checked by", "复核人签字"), String::new(), false),
    ]));
    printed::document(app, p, language, printed::title("shift-settlement", language), lines, blocks).await
}

fn c_of(code: &str) -> voltvend_domain::Currency {
    code.parse().unwrap_or(voltvend_domain::Currency::CNY)
}
