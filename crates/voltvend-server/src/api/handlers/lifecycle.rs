//! The back office's account lifecycle: 修改资料 with its history, 报停/复电, 销户, 过户 and 换表.

use axum::Extension;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use voltvend_domain::tariff::pricing::{Reading, Registers};
use voltvend_domain::{AccountId, AccountStatus, CustomerId, MeterId};
use voltvend_ops::{
    AccountClosed, CloseAccount, Command, Outcome, Refund, ReplaceMeter, SetAccountStatus, TransferOwnership,
    UpdateCustomer,
};
use voltvend_store::{AuditFilter, ListQuery};

use super::customers::{customer_file, customer_ref, new_meter, shift_of, sts_record, visible_account, visible_meter};
use crate::api::auth::Principal;
use crate::api::error::{ApiError, ApiResult};
use crate::api::extract::{ApiJson, ApiPath, ApiQuery, ClientAddr, IdempotencyKey};
use crate::api::views::*;
use crate::api::write::{self, Reply};
use crate::http::AppState;

pub async fn update_customer(
    State(app): State<AppState>,
    Extension(p): Extension<Principal>,
    key: IdempotencyKey,
    ClientAddr(source): ClientAddr,
    ApiPath(id): ApiPath<uuid::Uuid>,
    ApiJson(body): ApiJson<UpdateCustomerRequest>,
) -> ApiResult<Response> {
    let existing = app.store.customer(id.into()).await.map_err(|_| ApiError::not_found("customer"))?;
    app.visible(&p, existing.premises_id, "customer").await?;
    let customer = customer_file(&body.customer, existing.id, existing.premises_id)?;
    let command = Command::UpdateCustomer(UpdateCustomer { customer: customer.clone(), reason: body.reason });
    write::submit(&app, &p, &key, &source, command, move |_| {
        Reply::json(StatusCode::OK, &CustomerView::from(&customer))
    })
    .await
}

/// The audit trail of one record, newest first.
async fn history(app: &AppState, subject: String, q: HistoryQuery) -> ApiResult<axum::Json<Page<AuditView>>> {
    let limit = page_limit(q.limit)?;
    let filter = AuditFilter { subject: Some(subject), ..AuditFilter::default() };
    // The record is visible to the caller, so all of its history is, whoever made it.
    let records = app.store.list_audit(&ListQuery { scope: None, after: q.after, limit }, &filter).await?;
    Ok(axum::Json(Page::of(records.iter().map(AuditView::from).collect(), limit, |r| r.seq.to_string())))
}

pub async fn customer_history(
    State(app): State<AppState>,
    Extension(p): Extension<Principal>,
    ApiPath(id): ApiPath<uuid::Uuid>,
    ApiQuery(q): ApiQuery<HistoryQuery>,
) -> ApiResult<axum::Json<Page<AuditView>>> {
    let c = app.store.customer(id.into()).await.map_err(|_| ApiError::not_found("customer"))?;
    app.visible(&p, c.premises_id, "customer").await?;
    history(&app, format!("customer:{}", c.id), q).await
}

pub async fn account_history(
    State(app): State<AppState>,
    Extension(p): Extension<Principal>,
    ApiPath(id): ApiPath<uuid::Uuid>,
    ApiQuery(q): ApiQuery<HistoryQuery>,
) -> ApiResult<axum::Json<Page<AuditView>>> {
    let a = visible_account(&app, &p, id.into()).await?;
    history(&app, format!("account:{}", a.account.id), q).await
}

async fn set_status(
    app: AppState,
    p: Principal,
    key: IdempotencyKey,
    source: String,
    id: uuid::Uuid,
    status: AccountStatus,
    reason: String,
) -> ApiResult<Response> {
    let a = visible_account(&app, &p, id.into()).await?;
    let command = Command::SetAccountStatus(SetAccountStatus { account_id: a.account.id, status, reason });
    write::submit(&app, &p, &key, &source, command, |o| match o {
        Outcome::AccountStatus { account_id, status, supplies } => Reply::json(
            StatusCode::OK,
            &AccountStatusView {
                account_id: account_id.as_uuid(),
                status: status.as_str().to_string(),
                supplies: supplies
                    .iter()
                    .map(|(m, relay)| SupplyStateView { meter_id: m.as_uuid(), relay: relay.as_str().to_string() })
                    .collect(),
            },
        ),
        _ => Reply::error(&ApiError::internal("unexpected outcome")),
    })
    .await
}

pub async fn suspend(
    State(app): State<AppState>,
    Extension(p): Extension<Principal>,
    key: IdempotencyKey,
    ClientAddr(source): ClientAddr,
    ApiPath(id): ApiPath<uuid::Uuid>,
    ApiJson(body): ApiJson<ReasonRequest>,
) -> ApiResult<Response> {
    set_status(app, p, key, source, id, AccountStatus::Suspended, body.reason).await
}

pub async fn resume(
    State(app): State<AppState>,
    Extension(p): Extension<Principal>,
    key: IdempotencyKey,
    ClientAddr(source): ClientAddr,
    ApiPath(id): ApiPath<uuid::Uuid>,
    ApiJson(body): ApiJson<ReasonRequest>,
) -> ApiResult<Response> {
    set_status(app, p, key, source, id, AccountStatus::Active, body.reason).await
}

async fn refund(app: &AppState, p: &Principal, r: Option<&RefundInput>) -> ApiResult<Option<Refund>> {
    let Some(r) = r else { return Ok(None) };
    match (r.to.as_str(), r.account_id) {
        ("cash", None) => Ok(Some(Refund::Cash { shift_id: shift_of(app, p, None).await? })),
        ("account", Some(id)) => {
            let to = visible_account(app, p, id.into()).await?;
            Ok(Some(Refund::ToAccount { account_id: to.account.id }))
        }
        _ => Err(ApiError::field("refund", "bad_value", "{to: cash} or {to: account, account_id}")),
    }
}

/// Each meter's last billed reading, in its unit.
fn reading_views(meters: &[(MeterId, Option<Reading>)], units: &[(MeterId, String)]) -> Vec<FinalReadingView> {
    meters
        .iter()
        .map(|(m, r)| {
            let unit = units.iter().find(|(id, _)| id == m).map_or("kWh", |(_, u)| u.as_str());
            FinalReadingView {
                meter_id: m.as_uuid(),
                at: r.as_ref().map(|r| instant(r.at)),
                registers: r.as_ref().map(|r| registers_view(&r.registers, unit)).unwrap_or_default(),
            }
        })
        .collect()
}

fn settlement_view(
    s: &AccountClosed,
    c: voltvend_domain::Currency,
    units: &[(MeterId, String)],
    new_customer: Option<CustomerId>,
) -> SettlementView {
    SettlementView {
        account_id: s.account_id.as_uuid(),
        status: "closed".into(),
        arrears_paid: money(s.arrears_paid_minor, c),
        refunded: money(s.refunded_minor, c),
        refund_to: s.refund_to.map(|r| match r {
            Refund::Cash { .. } => "cash".to_string(),
            Refund::ToAccount { account_id } => format!("account:{account_id}"),
        }),
        to_arrears: money(s.to_arrears_minor, c),
        arrears_left: money(s.arrears_left_minor, c),
        remainder_femto: s.carry_femto.to_string(),
        final_readings: reading_views(&s.meters, units),
        meter_credit: s
            .meter_credit
            .iter()
            .map(|(m, v)| {
                let unit = units.iter().find(|(id, _)| id == m).map_or("kWh", |(_, u)| u.as_str());
                MeterCreditBoughtView {
                    meter_id: m.as_uuid(),
                    valued: quantity(v.valued_milli, unit),
                    unvalued: quantity(v.unvalued_milli, unit),
                    value: money(v.value_minor, c),
                    tax: money(v.tax_minor, c),
                }
            })
            .collect(),
        new_account_id: s.new_account_id.map(|a| a.as_uuid()),
        new_customer_id: new_customer.map(|c| c.as_uuid()),
    }
}

/// The unit of each meter of an account, for showing its final readings.
async fn meter_units(app: &AppState, account: AccountId) -> ApiResult<Vec<(MeterId, String)>> {
    let q = ListQuery { scope: None, after: None, limit: ListQuery::LIMIT_MAX };
    let f = voltvend_store::MeterFilter { account: Some(account), ..Default::default() };
    Ok(app
        .store
        .list_meters(&q, &f)
        .await?
        .iter()
        .map(|m| (m.meter.id, unit_of(m.meter.utility, m.meter.protocol, None)))
        .collect())
}

pub async fn close(
    State(app): State<AppState>,
    Extension(p): Extension<Principal>,
    key: IdempotencyKey,
    ClientAddr(source): ClientAddr,
    ApiPath(id): ApiPath<uuid::Uuid>,
    ApiJson(body): ApiJson<CloseAccountRequest>,
) -> ApiResult<Response> {
    let a = visible_account(&app, &p, id.into()).await?;
    let refund = refund(&app, &p, body.refund.as_ref()).await?;
    let units = meter_units(&app, a.account.id).await?;
    let c = a.account.currency;
    let command = Command::CloseAccount(CloseAccount {
        account_id: a.account.id,
        refund,
        buy_back_meter_credit: body.buy_back_meter_credit,
        reason: body.reason,
    });
    write::submit(&app, &p, &key, &source, command, move |o| match o {
        Outcome::AccountClosed(s) => Reply::json(StatusCode::OK, &settlement_view(s, c, &units, None)),
        _ => Reply::error(&ApiError::internal("unexpected outcome")),
    })
    .await
}

pub async fn transfer(
    State(app): State<AppState>,
    Extension(p): Extension<Principal>,
    key: IdempotencyKey,
    ClientAddr(source): ClientAddr,
    ApiPath(id): ApiPath<uuid::Uuid>,
    ApiJson(body): ApiJson<TransferOwnershipRequest>,
) -> ApiResult<Response> {
    let a = visible_account(&app, &p, id.into()).await?;
    let op_id = write::operation_id(p.id(), &key.0);
    let (customer, customer_id) =
        customer_ref(&app, &p, body.customer.as_ref(), body.customer_id, op_id, a.account.premises_id).await?;
    let refund = refund(&app, &p, body.refund.as_ref()).await?;
    let units = meter_units(&app, a.account.id).await?;
    let c = a.account.currency;
    let command = Command::TransferOwnership(TransferOwnership {
        account_id: a.account.id,
        new_account_id: write::derived_id(op_id, "account"),
        customer,
        refund,
        reason: body.reason,
    });
    write::submit(&app, &p, &key, &source, command, move |o| match o {
        Outcome::AccountClosed(s) => Reply::json(StatusCode::OK, &settlement_view(s, c, &units, Some(customer_id))),
        _ => Reply::error(&ApiError::internal("unexpected outcome")),
    })
    .await
}

fn reading(r: &ReadingInput, field: &str) -> ApiResult<Reading> {
    let at = parse_instant(&format!("{field}.at"), &r.at)?;
    let mut values = Vec::with_capacity(r.registers.len());
    for (i, reg) in r.registers.iter().enumerate() {
        let v = parse_quantity(&format!("{field}.registers[{i}].value"), &reg.value)?;
        if v < 0 {
            return Err(ApiError::field(
                &format!("{field}.registers[{i}].value"),
                "bad_value",
                "a register is not negative",
            ));
        }
        values.push((reg.register.trim().to_string(), v));
    }
    let registers = match values.as_slice() {
        [(name, v)] if name == "total" => Registers::Total(*v),
        [] => return Err(ApiError::field(&format!("{field}.registers"), "bad_value", "at least one register")),
        _ if values.len() > 16 || values.iter().any(|(n, _)| n.is_empty() || n == "total" || n.len() > 32) => {
            return Err(ApiError::field(
                &format!("{field}.registers"),
                "bad_value",
                "one `total` register, or up to 16 registers named by tariff period",
            ));
        }
        _ => Registers::PerPeriod(values),
    };
    Ok(Reading { at, registers })
}

pub async fn replace_meter(
    State(app): State<AppState>,
    Extension(p): Extension<Principal>,
    key: IdempotencyKey,
    ClientAddr(source): ClientAddr,
    ApiPath(id): ApiPath<uuid::Uuid>,
    ApiJson(body): ApiJson<ReplaceMeterRequest>,
) -> ApiResult<Response> {
    let old = visible_meter(&app, &p, id.into()).await?;
    let account = match old.meter.account_id {
        Some(a) => app.store.account(a).await?,
        None => return Err(ApiError::new("meter_unbound", "the meter has no account")),
    };
    let premises = old.meter.premises_id.ok_or_else(|| ApiError::not_found("meter"))?;
    let op_id = write::operation_id(p.id(), &key.0);
    let (new_id, receive, address) = match (&body.new_meter_id, &body.new) {
        (Some(id), None) => {
            let m = visible_meter(&app, &p, (*id).into()).await?;
            (m.meter.id, None, m.meter.address)
        }
        (None, Some(new)) => {
            let id: MeterId = write::derived_id(op_id, "meter");
            let m = new_meter(id, new, premises, "new")?;
            let address = m.address.clone();
            (id, Some(m), address)
        }
        _ => return Err(ApiError::field("new", "bad_request", "give either new_meter_id or new")),
    };
    let sts = body.sts.as_ref().map(|s| sts_record(s, &address, "sts")).transpose()?;
    let unit = unit_of(old.meter.utility, old.meter.protocol, None);
    let old_credit = body.old_credit.as_deref().map(|t| parse_quantity("old_credit", t)).transpose()?;
    let command = Command::ReplaceMeter(ReplaceMeter {
        old_meter_id: old.meter.id,
        new_meter_id: new_id,
        receive,
        sts,
        old_final: body.old_final.as_ref().map(|r| reading(r, "old_final")).transpose()?,
        first_reading: body.first_reading.as_ref().map(|r| reading(r, "first_reading")).transpose()?,
        old_credit_milli: old_credit,
        reason: body.reason,
    });
    let c = account.account.currency;
    write::submit(&app, &p, &key, &source, command, move |o| match o {
        Outcome::MeterReplaced(r) => Reply::json(
            StatusCode::OK,
            &MeterReplacedView {
                old_meter_id: r.old_meter_id.as_uuid(),
                new_meter_id: r.new_meter_id.as_uuid(),
                account_id: r.account_id.as_uuid(),
                final_charged: r.final_billing.as_ref().map(|b| money(b.charged_minor, c)),
                old_credit: r.old_credit_milli.map(|m| quantity(m, &unit)),
                carried_token: r.carried.as_ref().map(|(t, _)| t.clone()),
                carried: r.carried.as_ref().map(|(_, m)| quantity(*m, &unit)),
            },
        ),
        _ => Reply::error(&ApiError::internal("unexpected outcome")),
    })
    .await
}

/// Prepaid ⇄ postpaid at a clean cut-over.
pub async fn switch_billing_mode(
    State(app): State<AppState>,
    Extension(p): Extension<Principal>,
    key: IdempotencyKey,
    ClientAddr(source): ClientAddr,
    ApiPath(id): ApiPath<uuid::Uuid>,
    ApiJson(body): ApiJson<BillingModeRequest>,
) -> ApiResult<Response> {
    let a = visible_account(&app, &p, id.into()).await?;
    let mode: voltvend_domain::BillingMode =
        body.mode.parse().map_err(|_| ApiError::field("mode", "bad_value", "prepaid or postpaid"))?;
    let units = meter_units(&app, a.account.id).await?;
    let c = a.account.currency;
    let command = Command::SwitchBillingMode(voltvend_ops::SwitchBillingMode {
        account_id: a.account.id,
        mode,
        reason: body.reason,
    });
    write::submit(&app, &p, &key, &source, command, move |o| match o {
        Outcome::BillingModeSwitched { account_id, mode, cutover, to_arrears_minor } => Reply::json(
            StatusCode::OK,
            &BillingModeView {
                account_id: account_id.as_uuid(),
                billing_mode: mode.as_str().to_string(),
                cutover_readings: reading_views(cutover, &units),
                to_arrears: money(*to_arrears_minor, c),
            },
        ),
        _ => Reply::error(&ApiError::internal("unexpected outcome")),
    })
    .await
}

/// 回抄: a local meter's return data recorded (the newest one is its accumulated balance, 累计结余).
pub async fn record_return(
    State(app): State<AppState>,
    Extension(p): Extension<Principal>,
    key: IdempotencyKey,
    ClientAddr(source): ClientAddr,
    ApiPath(id): ApiPath<uuid::Uuid>,
    ApiJson(body): ApiJson<MeterReturnRequest>,
) -> ApiResult<Response> {
    let m = visible_meter(&app, &p, id.into()).await?;
    // Stored to the microsecond, as every instant is: the same request fingerprints alike after a restart.
    let at = parse_instant("at", &body.at)?;
    let at = jiff::Timestamp::from_microsecond(at.as_microsecond())
        .map_err(|_| ApiError::field("at", "bad_request", "an instant"))?;
    let from = voltvend_ops::ReturnSource::parse(body.source.trim())
        .ok_or_else(|| ApiError::field("source", "bad_value", "card, check_card, display or remote"))?;
    let remaining_milli = parse_quantity("remaining", &body.remaining)?;
    let currency = match m.meter.account_id {
        Some(a) => Some(app.store.account(a).await?.account.currency),
        None => None,
    };
    let unit = unit_of(m.meter.utility, m.meter.protocol, None);
    let command = Command::RecordMeterReturn(voltvend_ops::RecordMeterReturn {
        meter_id: m.meter.id,
        at,
        source: from,
        remaining_milli,
    });
    write::submit(&app, &p, &key, &source, command, move |o| match o {
        Outcome::MeterReturnRecorded { meter_id, local, current } => Reply::json(
            StatusCode::OK,
            &MeterReturnRecordedView {
                meter_id: meter_id.as_uuid(),
                kept_as_last: *current,
                local_credit: LocalCreditView::of(local, &unit, currency),
            },
        ),
        _ => Reply::error(&ApiError::internal("unexpected outcome")),
    })
    .await
}
