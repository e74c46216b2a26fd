//! 房租 / 物业费: units' floor areas, fee schedules and the months issued under them (or previewed by issuing
//! thrown away), the overdue-fee policy per premises, an account's charges, and payment at the counter with
//! its receipt.

use std::collections::HashMap;

use axum::Extension;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use uuid::Uuid;
use voltvend_domain::decimal::{format_scaled, parse_scaled};
use voltvend_domain::fees::{FeeBasis, OverduePolicy};
use voltvend_domain::{Currency, FeeScheduleId, PremisesId, ShiftStatus};
use voltvend_ops::{
    Applied, Command, CreateFeeSchedule, FeeCharge, FeePayment, FeePolicy, FeeSchedule, FloorArea, IssueFees,
    Operation, Outcome, PayFees,
};
use voltvend_store::ListQuery;

use super::apportion::{period_of, period_text};
use super::customers::{method, shift_of, visible_account};
use super::places::currency;
use crate::api::auth::Principal;
use crate::api::error::{ApiError, ApiResult};
use crate::api::extract::{ApiJson, ApiPath, ApiQuery, ClientAddr, IdempotencyKey};
use crate::api::receipts::{self, Format};
use crate::api::views::*;
use crate::api::write::{self, Reply};
use crate::http::AppState;

pub async fn visible_schedule(app: &AppState, p: &Principal, id: Uuid) -> ApiResult<FeeSchedule> {
    let s = app.store.fee_schedule(id.into()).await?.ok_or_else(|| ApiError::not_found("fee schedule"))?;
    app.visible(p, s.premises_id, "fee schedule").await?;
    Ok(s)
}

/// Today in a premises' time zone.
async fn today_at(app: &AppState, premises: PremisesId) -> ApiResult<jiff::civil::Date> {
    let tz = jiff::tz::TimeZone::get(&app.premises(premises).await?.time_zone).map_err(ApiError::internal)?;
    Ok(app.now().to_zoned(tz).date())
}

pub async fn schedule_view(app: &AppState, s: &FeeSchedule) -> ApiResult<FeeScheduleView> {
    let issued = app.store.fee_runs(s.id).await?.iter().map(|r| period_text(r.period)).collect();
    Ok(FeeScheduleView {
        id: s.id.as_uuid(),
        premises_id: s.premises_id.as_uuid(),
        premises_name: app.premises(s.premises_id).await?.name,
        name: s.name.clone(),
        basis: s.basis.as_str().to_string(),
        rate: money(s.rate_minor, s.currency),
        due_day: i64::from(s.due_day),
        receivable_id: s.receivable.as_uuid(),
        revenue_id: s.revenue.as_uuid(),
        created_at: instant(s.created_at),
        issued,
    })
}

pub fn charge_view(
    c: &FeeCharge,
    schedule_name: &str,
    unit: String,
    currency: Currency,
    today: jiff::civil::Date,
) -> FeeChargeView {
    FeeChargeView {
        schedule_id: c.schedule_id.as_uuid(),
        schedule_name: schedule_name.to_string(),
        period: period_text(c.period),
        premises_id: c.premises_id.as_uuid(),
        unit,
        account_id: c.account_id.as_uuid(),
        amount: money(c.amount_minor, currency),
        paid: money(c.paid_minor, currency),
        outstanding: money(c.outstanding_minor(), currency),
        due_on: c.due_on.to_string(),
        overdue: c.overdue_on(today),
    }
}

fn share_percent(policy: &OverduePolicy) -> String {
    format_scaled(policy.share_bp(), 2)
}

pub async fn set_floor_area(
    State(app): State<AppState>,
    Extension(p): Extension<Principal>,
    key: IdempotencyKey,
    ClientAddr(source): ClientAddr,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<FloorAreaRequest>,
) -> ApiResult<Response> {
    let floor_area_dm2 = parse_scaled(body.floor_area_m2.trim(), 2).map_err(|_| {
        ApiError::field("floor_area_m2", "bad_request", "floor_area_m2 must be a decimal of at most two decimals")
    })?;
    app.visible(&p, id.into(), "premises").await?;
    let area = FloorArea { premises_id: id.into(), floor_area_dm2 };
    let view = FloorAreaView { premises_id: id, floor_area_m2: format_scaled(floor_area_dm2, 2) };
    write::submit_update(&app, &p, &key, &source, Command::SetFloorArea(area), view).await
}

/// The policy a request names.
pub fn policy_of(name: &str, share: Option<&str>) -> ApiResult<OverduePolicy> {
    let share_bp = match (name, share.map(str::trim).filter(|s| !s.is_empty())) {
        ("share_of_purchase", Some(t)) => parse_scaled(t, 2).map_err(|_| {
            ApiError::field("share_percent", "bad_request", "share_percent is a percentage with at most two decimals")
        })?,
        ("share_of_purchase", None) => {
            return Err(ApiError::field(
                "share_percent",
                "bad_fee_policy",
                "a share of each purchase needs its percentage",
            ));
        }
        _ => 0,
    };
    OverduePolicy::from_parts(name, share_bp).ok_or_else(|| {
        ApiError::field(
            "policy",
            "bad_fee_policy",
            "policy is nothing, block_sales or share_of_purchase (with a share of 0.01–100 %)",
        )
    })
}

pub async fn set_policy(
    State(app): State<AppState>,
    Extension(p): Extension<Principal>,
    key: IdempotencyKey,
    ClientAddr(source): ClientAddr,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<FeePolicyRequest>,
) -> ApiResult<Response> {
    let policy = policy_of(body.policy.trim(), body.share_percent.as_deref())?;
    app.visible(&p, id.into(), "premises").await?;
    let view = FeePolicyView {
        premises_id: id,
        premises_name: app.premises(id.into()).await?.name,
        policy: policy.name().to_string(),
        share_percent: share_percent(&policy),
    };
    let command = Command::SetFeePolicy(FeePolicy { premises_id: id.into(), policy });
    write::submit_update(&app, &p, &key, &source, command, view).await
}

pub async fn list_policies(
    State(app): State<AppState>,
    Extension(p): Extension<Principal>,
) -> ApiResult<axum::Json<Vec<FeePolicyView>>> {
    let mut out = Vec::new();
    for f in app.store.fee_policies(Some(p.scope())).await? {
        out.push(FeePolicyView {
            premises_id: f.premises_id.as_uuid(),
            premises_name: app.premises(f.premises_id).await?.name,
            policy: f.policy.name().to_string(),
            share_percent: share_percent(&f.policy),
        });
    }
    Ok(axum::Json(out))
}

pub async fn list_schedules(
    State(app): State<AppState>,
    Extension(p): Extension<Principal>,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> ApiResult<axum::Json<Page<FeeScheduleView>>> {
    let limit = page_limit(q.limit)?;
    let list = app.store.list_fee_schedules(&ListQuery { scope: Some(p.scope()), after: q.after, limit }).await?;
    let mut items = Vec::with_capacity(list.len());
    for s in &list {
        items.push(schedule_view(&app, s).await?);
    }
    Ok(axum::Json(Page::of(items, limit, |s| s.id.to_string())))
}

pub async fn create_schedule(
    State(app): State<AppState>,
    Extension(p): Extension<Principal>,
    key: IdempotencyKey,
    ClientAddr(source): ClientAddr,
    ApiJson(body): ApiJson<CreateFeeScheduleRequest>,
) -> ApiResult<Response> {
    let basis: FeeBasis = body
        .basis
        .trim()
        .parse()
        .map_err(|_| ApiError::field("basis", "bad_value", "basis must be per_unit or per_m2"))?;
    let c = currency("currency", &body.currency)?;
    let rate_minor = parse_money("rate", &body.rate, c)?;
    // Checked here too (the operation checks again), so that the refusal names its field.
    let due_day =
        i8::try_from(body.due_day).ok().filter(|d| (1..=FeeSchedule::DUE_DAY_MAX).contains(d)).ok_or_else(|| {
            ApiError::field("due_day", "fee_due_day", "a fee falls due on a day from 1 to 28 of its month")
        })?;
    if !(1..=FeeSchedule::RATE_MINOR_MAX).contains(&rate_minor) {
        return Err(ApiError::field("rate", "fee_rate", "a fee's rate is more than 0 and at most 10 000 000.00"));
    }
    app.visible(&p, body.premises_id.into(), "premises").await?;
    let schedule_id: FeeScheduleId = write::derived_id(write::operation_id(p.id(), &key.0), "fee-schedule");
    let command = Command::CreateFeeSchedule(CreateFeeSchedule {
        schedule_id,
        premises_id: body.premises_id.into(),
        name: body.name.clone(),
        basis,
        rate_minor,
        currency: c,
        due_day,
    });
    let replayed =
        match write::committed_or_answer(&app, &p, &key, &source, command, |o| matches!(o, Outcome::Created { .. }))
            .await?
        {
            Ok(replayed) => replayed,
            Err(refused) => return Ok(refused),
        };
    let schedule = visible_schedule(&app, &p, schedule_id.as_uuid()).await?;
    Ok(Reply::json(StatusCode::CREATED, &schedule_view(&app, &schedule).await?).into_response(replayed))
}

pub async fn get_schedule(
    State(app): State<AppState>,
    Extension(p): Extension<Principal>,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<axum::Json<FeeScheduleView>> {
    let s = visible_schedule(&app, &p, id).await?;
    Ok(axum::Json(schedule_view(&app, &s).await?))
}

/// The view of a month: its run and charges, with the units' names.
async fn period_view(
    app: &AppState,
    s: &FeeSchedule,
    run: &voltvend_ops::FeeRun,
    charges: &[FeeCharge],
    issued: bool,
) -> ApiResult<FeePeriodView> {
    let today = today_at(app, s.premises_id).await?;
    let mut views = Vec::with_capacity(charges.len());
    for c in charges {
        let unit = app.premises(c.premises_id).await?.name;
        views.push(charge_view(c, &s.name, unit, s.currency, today));
    }
    Ok(FeePeriodView {
        schedule_id: s.id.as_uuid(),
        schedule_name: s.name.clone(),
        period: period_text(run.period),
        status: if issued { "issued" } else { "preview" }.to_string(),
        due_on: run.due_on.to_string(),
        charged: run.charged,
        vacant: run.vacant,
        total: money(run.total_minor, s.currency),
        charges: views,
        operation_id: issued.then(|| run.operation_id.as_uuid()),
        issued_at: issued.then(|| instant(run.at)),
    })
}

/// A month of a schedule: issued, or — not yet — issuing it applied to the current state and thrown away, so
/// that the preview cannot differ from what issuing would do now (and says why it cannot, if so).
pub async fn period(app: &AppState, p: &Principal, source: &str, id: Uuid, period: &str) -> ApiResult<FeePeriodView> {
    let s = visible_schedule(app, p, id).await?;
    let period = period_of(period)?;
    if let Some(run) = app.store.fee_runs(s.id).await?.into_iter().find(|r| r.period == period) {
        let charges = app.store.fee_charges_of_period(s.id, period).await?;
        return period_view(app, &s, &run, &charges, true).await;
    }
    let command = Command::IssueFees(IssueFees { schedule_id: s.id, period });
    let op = Operation::new(app.api.ids.id(), p.actor(source), command);
    match app.store.dry_run(op).await?? {
        Applied::Committed { outcome: Outcome::FeesIssued { run, charges }, .. } => {
            period_view(app, &s, &run, &charges, false).await
        }
        _ => Err(ApiError::internal("a preview answered something else than a month of fees")),
    }
}

pub async fn get_period(
    State(app): State<AppState>,
    Extension(p): Extension<Principal>,
    ClientAddr(source): ClientAddr,
    ApiPath((id, period_path)): ApiPath<(Uuid, String)>,
) -> ApiResult<axum::Json<FeePeriodView>> {
    Ok(axum::Json(period(&app, &p, &source, id, &period_path).await?))
}

pub async fn issue_period(
    State(app): State<AppState>,
    Extension(p): Extension<Principal>,
    key: IdempotencyKey,
    ClientAddr(source): ClientAddr,
    ApiPath((id, period_path)): ApiPath<(Uuid, String)>,
) -> ApiResult<Response> {
    let s = visible_schedule(&app, &p, id).await?;
    let month = period_of(&period_path)?;
    let command = Command::IssueFees(IssueFees { schedule_id: s.id, period: month });
    let replayed =
        match write::committed_or_answer(&app, &p, &key, &source, command, |o| matches!(o, Outcome::FeesIssued { .. }))
            .await?
        {
            Ok(replayed) => replayed,
            Err(refused) => return Ok(refused),
        };
    // The month as stored (a replay answers with the month as it is now).
    let view = period(&app, &p, &source, id, &period_path).await?;
    Ok(Reply::json(StatusCode::CREATED, &view).into_response(replayed))
}

/// A payment as the API shows it, with its schedules' names.
pub async fn payment_view(app: &AppState, f: &FeePayment, currency: Currency) -> ApiResult<FeePaymentView> {
    let id = f.operation_id.as_uuid();
    let mut lines = Vec::with_capacity(f.lines.len());
    for l in &f.lines {
        let name = app.store.fee_schedule(l.schedule_id).await?.map(|s| s.name).unwrap_or_default();
        lines.push(FeeLineView {
            schedule_id: l.schedule_id.as_uuid(),
            schedule_name: name,
            period: period_text(l.period),
            premises_id: l.premises_id.as_uuid(),
            amount: money(l.amount_minor, currency),
        });
    }
    Ok(FeePaymentView {
        id,
        receipt_no: f.receipt_no,
        vending_point_id: f.vending_point_id.as_uuid(),
        shift_id: f.shift_id.as_uuid(),
        operator_id: f.operator_id.as_uuid(),
        account_id: f.account_id.as_uuid(),
        at: instant(f.at),
        method: f.method.as_str().to_string(),
        reference: f.reference.clone(),
        paid: money(f.paid_minor, currency),
        lines,
        transfer_id: f.transfer_id.as_uuid(),
        receipt: ReceiptLinks {
            html: format!("/api/v1/fee-payments/{id}/receipt?format=html"),
            escpos: format!("/api/v1/fee-payments/{id}/receipt?format=escpos"),
            pdf: format!("/api/v1/fee-payments/{id}/receipt?format=pdf"),
        },
    })
}

/// An account's rent and fees as the API and the account page show them.
pub async fn account_fees(app: &AppState, account: &voltvend_ops::AccountRecord) -> ApiResult<AccountFeesView> {
    let c = account.account.currency;
    let today = today_at(app, account.account.premises_id).await?;
    let charges = app.store.account_fee_charges(account.account.id).await?;
    let mut schedules: HashMap<FeeScheduleId, String> = HashMap::new();
    // Summed by the store: the charges listed are a page.
    let (owed, overdue) = app.store.account_fees_owed(account.account.id, today).await?;
    let mut views = Vec::with_capacity(charges.len());
    for ch in &charges {
        let schedule = match schedules.get(&ch.schedule_id) {
            Some(n) => n.clone(),
            None => {
                let n = app.store.fee_schedule(ch.schedule_id).await?.map(|s| s.name).unwrap_or_default();
                schedules.insert(ch.schedule_id, n.clone());
                n
            }
        };
        let unit = app.premises(ch.premises_id).await?.name;
        views.push(charge_view(ch, &schedule, unit, c, today));
    }
    // The policy of the nearest premises on the account's path that has one.
    let path = app.premises(account.account.premises_id).await?.path;
    let policies = app.store.fee_policies(path.first().copied()).await?;
    let policy = path
        .iter()
        .rev()
        .find_map(|p| policies.iter().find(|f| f.premises_id == *p))
        .map_or(OverduePolicy::Nothing, |f| f.policy);
    let mut payments = Vec::new();
    for f in app.store.account_fee_payments(account.account.id).await? {
        payments.push(payment_view(app, &f, c).await?);
    }
    Ok(AccountFeesView {
        account_id: account.account.id.as_uuid(),
        owed: money(owed, c),
        overdue: money(overdue, c),
        policy: policy.name().to_string(),
        share_percent: share_percent(&policy),
        charges: views,
        payments,
    })
}

pub async fn get_account_fees(
    State(app): State<AppState>,
    Extension(p): Extension<Principal>,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<axum::Json<AccountFeesView>> {
    let account = visible_account(&app, &p, id.into()).await?;
    Ok(axum::Json(account_fees(&app, &account).await?))
}

pub async fn pay(
    State(app): State<AppState>,
    Extension(p): Extension<Principal>,
    key: IdempotencyKey,
    ClientAddr(source): ClientAddr,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<FeePaymentRequest>,
) -> ApiResult<Response> {
    let account = visible_account(&app, &p, id.into()).await?;
    let c = account.account.currency;
    let command = Command::PayFees(PayFees {
        account_id: account.account.id,
        shift_id: shift_of(&app, &p, body.shift_id).await?,
        method: method(&body.method)?,
        reference: body.reference.clone(),
        paid_minor: parse_money("amount", &body.amount, c)?,
    });
    let replayed =
        match write::committed_or_answer(&app, &p, &key, &source, command, |o| matches!(o, Outcome::FeesPaid(_)))
            .await?
        {
            Ok(replayed) => replayed,
            Err(refused) => return Ok(refused),
        };
    // The payment as stored, found by the operation the key names.
    let op = write::operation_id(p.id(), &key.0);
    let f = app.store.fee_payment(op).await?.ok_or_else(|| ApiError::internal("the payment was not stored"))?;
    Ok(Reply::json(StatusCode::CREATED, &payment_view(&app, &f, c).await?).into_response(replayed))
}

/// The lines of a fee receipt: each charge paid, as "<schedule> <YYYY-MM> <unit>".
async fn receipt_lines(app: &AppState, f: &FeePayment) -> ApiResult<Vec<voltvend_receipt::FeeLine>> {
    let mut out = Vec::with_capacity(f.lines.len());
    for l in &f.lines {
        let schedule = app.store.fee_schedule(l.schedule_id).await?.map(|s| s.name).unwrap_or_default();
        let unit = app.premises(l.premises_id).await?.name;
        out.push(voltvend_receipt::FeeLine {
            description: format!("{schedule} {} {unit}", period_text(l.period)),
            amount_minor: l.amount_minor,
        });
    }
    Ok(out)
}

pub async fn visible_payment(app: &AppState, p: &Principal, id: Uuid) -> ApiResult<FeePayment> {
    let f = app.store.fee_payment(id.into()).await?.ok_or_else(|| ApiError::not_found("fee payment"))?;
    visible_account(app, p, f.account_id).await?;
    Ok(f)
}

/// A fee payment's receipt. The cashier who took it prints the original while the shift is open; any other
/// print says 副本 / COPY.
pub async fn receipt(
    State(app): State<AppState>,
    Extension(p): Extension<Principal>,
    ApiPath(id): ApiPath<Uuid>,
    ApiQuery(q): ApiQuery<ReceiptQuery>,
) -> ApiResult<Response> {
    let format = Format::parse(q.format.as_deref())?;
    let language = receipts::language(q.lang.as_deref())?;
    let data = receipt_data(&app, &p, id, language).await?;
    Ok(receipts::render(&app, &data, format)?.into_response(false))
}

/// What a fee payment's receipt shows (the API and the web UI render the same).
pub async fn receipt_data(
    app: &AppState,
    p: &Principal,
    id: Uuid,
    language: voltvend_receipt::Language,
) -> ApiResult<voltvend_receipt::ReceiptData> {
    let f = visible_payment(app, p, id).await?;
    let shift = app.store.shift(f.shift_id).await?;
    let copy = f.operator_id != p.id() || shift.status != ShiftStatus::Open;
    let lines = receipt_lines(app, &f).await?;
    receipts::gather_fees(app, &f, lines, language, copy).await
}
