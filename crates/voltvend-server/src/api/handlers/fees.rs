//! 房租 / 物业费: units' floor areas, fee schedules and the months issued under them (or previewed by issuing
//! thrown away), the overdue-fee policy per premises, an account's charges, and payment at the counter with
//! its receipt.

use std::collections::HashMap;

use axum::Extension;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use uuid::Uuid;
use voltvend_domain::decimal::{format_scaled, parse_scaled};
use voltvend_domain::fees::{FeeBasis, OverduePolicy};
use voltvend_domain::{Currency, FeeScheduleId, PremisesId, ShiftStatus};
use voltvend_ops::{
    Applied, Command, CreateFeeSchedule, FeeCharge, FeePayment, FeePolicy, FeeSchedule, FloorArea, IssueFees,
    Operation, Outcome, PayFees,
};
use voltvend_store::{ConsumptionGrouping, ListQuery};

use super::apportion::{period_of, period_text};
use super::customers::{method, shift_of, visible_account};
use super::places::currency;
use crate::api::auth::Principal;
use crate::api::error::{ApiError, ApiResult};
use crate::api::extract::{ApiJson, ApiPath, ApiQuery, ClientAddr, IdempotencyKey};
use crate::api::printed;
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
        late_fee_percent: format_scaled(s.late_fee_bp, 2),
        disconnect_after_days: s.disconnect_after_days,
        receivable_id: s.receivable.as_uuid(),
        revenue_id: s.revenue.as_uuid(),
        created_at: instant(s.created_at),
        issued,
    })
}

pub fn charge_view(
    c: &FeeCharge,
    (schedule_name, basis): (&str, FeeBasis),
    unit: String,
    currency: Currency,
    today: jiff::civil::Date,
) -> FeeChargeView {
    let bill = (basis == FeeBasis::Postpaid).then(|| {
        format!("/api/v1/fee-schedules/{}/periods/{}/bills/{}", c.schedule_id, period_text(c.period), c.premises_id)
    });
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
        usage: money(c.usage_minor, currency),
        credit_applied: money(c.credit_minor, currency),
        carried: money(c.carried_minor, currency),
        late_fee: money(c.late_fee_minor, currency),
        adjusted: money(c.adjusted_minor, currency),
        bill,
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
        .map_err(|_| ApiError::field("basis", "bad_value", "basis must be per_unit, per_m2 or postpaid"))?;
    let c = currency("currency", &body.currency)?;
    let rate_minor = parse_money("rate", &body.rate, c)?;
    let late_fee_bp = match body.late_fee_percent.as_deref().map(str::trim).filter(|t| !t.is_empty()) {
        None => 0,
        Some(t) => {
            parse_scaled(t, 2).ok().filter(|bp| (0..=OverduePolicy::SHARE_BP_MAX).contains(bp)).ok_or_else(|| {
                ApiError::field("late_fee_percent", "late_fee", "a late fee is 0 % to 100 %, with two decimals at most")
            })?
        }
    };
    // Checked here too (the operation checks again), so that the refusal names its field.
    let due_day =
        i8::try_from(body.due_day).ok().filter(|d| (1..=FeeSchedule::DUE_DAY_MAX).contains(d)).ok_or_else(|| {
            ApiError::field("due_day", "fee_due_day", "a fee falls due on a day from 1 to 28 of its month")
        })?;
    let disconnect_after_days = body.disconnect_after_days.unwrap_or(0);
    if !(0..=FeeSchedule::NOTICE_DAYS_MAX).contains(&disconnect_after_days) {
        return Err(ApiError::field(
            "disconnect_after_days",
            "disconnect_notice",
            "a notice before disconnection is 0 to 365 days",
        ));
    }
    if !(basis.rate_minor_min()..=FeeSchedule::RATE_MINOR_MAX).contains(&rate_minor) {
        return Err(ApiError::field(
            "rate",
            "fee_rate",
            "a fee's rate is more than 0 (a postpaid standing charge may be 0) and at most 10 000 000.00",
        ));
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
        late_fee_bp,
        disconnect_after_days,
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
pub async fn period_view(
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
        views.push(charge_view(c, (&s.name, s.basis), unit, s.currency, today));
    }
    Ok(FeePeriodView {
        schedule_id: s.id.as_uuid(),
        schedule_name: s.name.clone(),
        period: period_text(run.period),
        status: if issued { "issued" } else { "preview" }.to_string(),
        due_on: run.due_on.to_string(),
        charged: run.charged,
        vacant: run.vacant,
        not_postpaid: run.not_postpaid,
        total: money(run.total_minor, s.currency),
        charges: views,
        operation_id: issued.then(|| run.operation_id.as_uuid()),
        issued_at: issued.then(|| instant(run.at)),
        dunned_at: run.dunned_at.map(instant),
        dunned: run.dunned,
        late_fees: money(run.late_fees_minor, s.currency),
        disconnected_at: run.disconnected_at.map(instant),
        disconnected: run.disconnected,
    })
}

/// A month of a schedule: issued, or — not yet — issuing it applied to the current state and thrown away, so
/// that the preview cannot differ from what issuing would do now (and says why it cannot, if so).
pub async fn period(app: &AppState, p: &Principal, source: &str, id: Uuid, period: &str) -> ApiResult<FeePeriodView> {
    let m = month(app, p, source, id, period).await?;
    period_view(app, &m.schedule, &m.run, &m.charges, m.issued).await
}

/// A month of a schedule, as stored or previewed (see [`period`]).
pub struct Month {
    pub schedule: FeeSchedule,
    pub run: voltvend_ops::FeeRun,
    pub charges: Vec<FeeCharge>,
    pub issued: bool,
}

pub async fn month(app: &AppState, p: &Principal, source: &str, id: Uuid, period: &str) -> ApiResult<Month> {
    let schedule = visible_schedule(app, p, id).await?;
    let period = period_of(period)?;
    if let Some(run) = app.store.fee_runs(schedule.id).await?.into_iter().find(|r| r.period == period) {
        let charges = app.store.fee_charges_of_period(schedule.id, period).await?;
        return Ok(Month { schedule, run, charges, issued: true });
    }
    let command = Command::IssueFees(IssueFees { schedule_id: schedule.id, period });
    let op = Operation::new(app.api.ids.id(), p.actor(source), command);
    match app.store.dry_run(op).await?? {
        Applied::Committed { outcome: Outcome::FeesIssued { run, charges }, .. } => {
            Ok(Month { schedule, run, charges, issued: false })
        }
        _ => Err(ApiError::internal("a preview answered something else than a month of fees")),
    }
}

/// The standing charge (or the schedule's own amount) in a charge: what is left of its amount without its
/// usage, credit, late fee and corrections.
pub fn standing_minor(c: &FeeCharge) -> i64 {
    c.amount_minor - c.usage_minor + c.credit_minor - c.late_fee_minor - c.adjusted_minor
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
    let done = |o: &Outcome| matches!(o, Outcome::FeesIssued { .. });
    month_command(&app, &p, &key, &source, (id, &period_path), Command::IssueFees, done, StatusCode::CREATED).await
}

/// A command on a month of a schedule (issue, dun, disconnect), answered with the month as stored (a replay
/// answers with the month as it is now).
#[allow(clippy::too_many_arguments)]
async fn month_command(
    app: &AppState,
    p: &Principal,
    key: &IdempotencyKey,
    source: &str,
    (id, period_path): (Uuid, &str),
    command: fn(IssueFees) -> Command,
    done: fn(&Outcome) -> bool,
    status: StatusCode,
) -> ApiResult<Response> {
    let s = visible_schedule(app, p, id).await?;
    let month = period_of(period_path)?;
    let command = command(IssueFees { schedule_id: s.id, period: month });
    let replayed = match write::committed_or_answer(app, p, key, source, command, done).await? {
        Ok(replayed) => replayed,
        Err(refused) => return Ok(refused),
    };
    let view = period(app, p, source, id, period_path).await?;
    Ok(Reply::json(status, &view).into_response(replayed))
}

/// 催缴: a month's overdue charges reminded and charged the schedule's late fee, once, after the due date.
pub async fn dun_period(
    State(app): State<AppState>,
    Extension(p): Extension<Principal>,
    key: IdempotencyKey,
    ClientAddr(source): ClientAddr,
    ApiPath((id, period_path)): ApiPath<(Uuid, String)>,
) -> ApiResult<Response> {
    let done = |o: &Outcome| matches!(o, Outcome::FeesDunned { .. });
    month_command(&app, &p, &key, &source, (id, &period_path), Command::DunFees, done, StatusCode::OK).await
}

/// 欠费停电: a postpaid cycle's month whose notice after dunning has run out: the supplies of its bills still
/// unpaid disconnected through the head end, once.
pub async fn disconnect_period(
    State(app): State<AppState>,
    Extension(p): Extension<Principal>,
    key: IdempotencyKey,
    ClientAddr(source): ClientAddr,
    ApiPath((id, period_path)): ApiPath<(Uuid, String)>,
) -> ApiResult<Response> {
    let done = |o: &Outcome| matches!(o, Outcome::FeesDisconnected { .. });
    month_command(&app, &p, &key, &source, (id, &period_path), Command::DisconnectOverdue, done, StatusCode::OK).await
}

/// A postpaid bill: its charge, the readings it covers and what they used.
pub async fn bill(app: &AppState, p: &Principal, id: Uuid, period_path: &str, unit: Uuid) -> ApiResult<BillView> {
    let s = visible_schedule(app, p, id).await?;
    let month = period_of(period_path)?;
    if s.basis != FeeBasis::Postpaid {
        return Err(ApiError::not_found("bill (the schedule is not a postpaid billing cycle)"));
    }
    let charges = app.store.fee_charges_of_period(s.id, month).await?;
    let c = charges.iter().find(|c| c.premises_id.as_uuid() == unit).ok_or_else(|| ApiError::not_found("bill"))?;
    let account = visible_account(app, p, c.account_id).await?;
    // The readings since the cycle's previous bill to the account; for its first bill, since the start of the
    // month billed (its usage is all the account owed then, which may go back further: docs/bills.md).
    let tz = jiff::tz::TimeZone::get(&app.premises(s.premises_id).await?.time_zone).map_err(ApiError::internal)?;
    let month_start = jiff::civil::Date::new(
        i16::try_from(month / 100).map_err(ApiError::internal)?,
        i8::try_from(month % 100).map_err(ApiError::internal)?,
        1,
    )
    .map_err(ApiError::internal)?
    .to_zoned(tz)
    .map_err(ApiError::internal)?
    .timestamp();
    let previous = app.store.previous_fee_charge(account.account.id, c.premises_id, month).await?;
    let from = previous.as_ref().map_or(month_start, |e| e.issued_at);
    let (from_us, to_us) = (from.as_microsecond(), c.issued_at.as_microsecond());
    // The bills' own transfers bound the money between them exactly (readings applied in the same batch as a
    // bill share its time).
    let run_transfer = async |schedule, period| -> ApiResult<Option<voltvend_domain::TransferId>> {
        let runs = app.store.fee_runs(schedule).await?;
        Ok(runs.into_iter().find(|r| r.period == period).and_then(|r| r.transfer_id))
    };
    let after = match &previous {
        Some(p) => run_transfer(p.schedule_id, p.period).await?,
        None => None,
    };
    let upto = run_transfer(s.id, month).await?;
    let unit_id = Some(c.premises_id);
    let mut consumption = Vec::new();
    for (grouping, out) in [(ConsumptionGrouping::Meter, 0), (ConsumptionGrouping::TouPeriod, 1)] {
        let rows = app.store.consumption_summary(None, unit_id, from_us, to_us, grouping).await?;
        consumption.push((
            out,
            rows.into_iter()
                .map(|g| BillConsumptionView {
                    label: g.label,
                    utility: g.utility,
                    readings: g.readings,
                    consumption: format_scaled(g.consumption_milli, 3),
                })
                .collect::<Vec<_>>(),
        ));
    }
    let by_tou = consumption.pop().map(|(_, v)| v).unwrap_or_default();
    let by_meter = consumption.pop().map(|(_, v)| v).unwrap_or_default();
    let charged =
        app.store.consumption_charged([account.wallet, account.arrears], (from_us, after), (to_us, upto)).await?;
    let earlier = c.usage_minor - charged.energy_minor - charged.shares_minor;
    let today = today_at(app, s.premises_id).await?;
    let cur = s.currency;
    let standing = standing_minor(c);
    Ok(BillView {
        schedule_id: s.id.as_uuid(),
        schedule_name: s.name.clone(),
        period: period_text(month),
        premises_id: unit,
        unit: app.premises(c.premises_id).await?.name,
        account_id: account.account.id.as_uuid(),
        customer_name: app.store.customer(account.account.customer_id).await?.name,
        issued_at: instant(c.issued_at),
        due_on: c.due_on.to_string(),
        readings_from: instant(from),
        readings_to: instant(c.issued_at),
        consumption: by_meter,
        consumption_by_tou: by_tou,
        energy_charges: money(charged.energy_minor - charged.tax_minor, cur),
        tax: money(charged.tax_minor, cur),
        common_area: money(charged.shares_minor, cur),
        earlier_balance: money(earlier, cur),
        usage: money(c.usage_minor, cur),
        standing_charge: money(standing, cur),
        credit_applied: money(c.credit_minor, cur),
        late_fee: money(c.late_fee_minor, cur),
        adjusted: money(c.adjusted_minor, cur),
        amount: money(c.amount_minor, cur),
        paid: money(c.paid_minor, cur),
        outstanding: money(c.outstanding_minor(), cur),
        carried: money(c.carried_minor, cur),
        overdue: c.overdue_on(today),
    })
}

/// A postpaid bill as JSON, or printed (A4 PDF, zh-CN or English).
pub async fn get_bill(
    State(app): State<AppState>,
    Extension(p): Extension<Principal>,
    ApiPath((id, period_path, unit)): ApiPath<(Uuid, String, Uuid)>,
    ApiQuery(q): ApiQuery<BillQuery>,
) -> ApiResult<Response> {
    let format = q.format.as_deref().unwrap_or("json");
    if !matches!(format, "json" | "pdf") {
        return Err(ApiError::field("format", "bad_value", "json or pdf"));
    }
    let language = receipts::language(q.lang.as_deref())?;
    let b = bill(&app, &p, id, &period_path, unit).await?;
    if format == "json" {
        return Ok(axum::Json(b).into_response());
    }
    let s = visible_schedule(&app, &p, id).await?;
    let tz = jiff::tz::TimeZone::get(&app.premises(s.premises_id).await?.time_zone).map_err(ApiError::internal)?;
    let doc = bill_document(&app, &p, &b, &tz, language).await?;
    printed::pdf(&app, &doc, &format!("bill-{}-{}", b.period, b.unit))
}

/// The printed bill: who and what it is for, its lines, and the meters' consumption.
async fn bill_document(
    app: &AppState,
    p: &Principal,
    b: &BillView,
    tz: &jiff::tz::TimeZone,
    language: voltvend_receipt::Language,
) -> ApiResult<voltvend_receipt::ReportDocument> {
    // The readings' span in the site's time zone, to the minute: read by people.
    let local = |t: &str| -> String {
        t.parse::<jiff::Timestamp>()
            .map(|t| t.to_zoned(tz.clone()).strftime("%Y-%m-%d %H:%M %:z").to_string())
            .unwrap_or_else(|_| t.to_string())
    };
    use voltvend_receipt::ReportBlock;
    let zh = language == voltvend_receipt::Language::ZhCn;
    let t = |zh_text: &str, en: &str| if zh { zh_text.to_string() } else { en.to_string() };
    let amount = |m: &MoneyView| format!("{} {}", m.amount, m.currency);
    let title = format!("{} {}", t("账单", "Bill"), b.period);
    let lines = vec![
        format!("{}: {}", t("收费项目", "Billing cycle"), b.schedule_name),
        format!("{}: {} · {}", t("客户", "Customer"), b.customer_name, b.unit),
        format!("{}: {}", t("账户", "Account"), b.account_id),
        format!("{}: {} — {}", t("抄表区间", "Readings"), local(&b.readings_from), local(&b.readings_to)),
        format!("{}: {}", t("缴费截止日", "Due on"), b.due_on),
    ];
    let pairs = vec![
        (t("本期电费（不含税）", "Energy charges (before tax)"), amount(&b.energy_charges), true),
        (t("税额", "Tax"), amount(&b.tax), true),
        (t("公摊费用", "Common-area share"), amount(&b.common_area), true),
        (t("上期结转及预存抵扣", "Earlier balance, less credit used"), amount(&b.earlier_balance), true),
        (t("用电费用", "Usage"), amount(&b.usage), true),
        (t("固定费", "Standing charge"), amount(&b.standing_charge), true),
        (t("预存抵扣", "Credit applied"), amount(&b.credit_applied), true),
        (t("滞纳金", "Late fee"), amount(&b.late_fee), true),
        (t("减免及更正", "Adjustments"), amount(&b.adjusted), true),
        (t("本期应付", "Amount of this bill"), amount(&b.amount), true),
        (t("已付", "Paid"), amount(&b.paid), true),
        (t("本期未付", "Still owed"), amount(&b.outstanding), true),
        (t("往期未付（出账时）", "Earlier bills unpaid (when issued)"), amount(&b.carried), true),
    ];
    let table = |first: String, rows: &[BillConsumptionView]| ReportBlock::Table {
        header: vec![first, t("类别", "Utility"), t("读数", "Readings"), t("用量", "Consumption")],
        rows: rows
            .iter()
            .map(|r| vec![r.label.clone(), r.utility.clone(), r.readings.to_string(), r.consumption.clone()])
            .collect(),
        right: vec![false, false, true, true],
    };
    let blocks = vec![
        ReportBlock::Pairs(pairs),
        table(t("表号", "Meter"), &b.consumption),
        table(t("时段", "TOU period"), &b.consumption_by_tou),
    ];
    printed::document(app, p, language, title, lines, blocks).await
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
        credit: money(f.credit_minor, currency),
        transfer_id: f.transfer_id.as_uuid(),
        receipt: ReceiptLinks {
            html: format!("/api/v1/fee-payments/{id}/receipt?format=html"),
            escpos: format!("/api/v1/fee-payments/{id}/receipt?format=escpos"),
            pdf: format!("/api/v1/fee-payments/{id}/receipt?format=pdf"),
        },
        reversed: f.reversed,
    })
}

/// An account's rent and fees as the API and the account page show them.
pub async fn account_fees(app: &AppState, account: &voltvend_ops::AccountRecord) -> ApiResult<AccountFeesView> {
    let c = account.account.currency;
    let today = today_at(app, account.account.premises_id).await?;
    let charges = app.store.account_fee_charges(account.account.id).await?;
    let mut schedules: HashMap<FeeScheduleId, (String, FeeBasis)> = HashMap::new();
    // Summed by the store: the charges listed are a page.
    let (owed, overdue) = app.store.account_fees_owed(account.account.id, today).await?;
    let mut views = Vec::with_capacity(charges.len());
    for ch in &charges {
        let (name, basis) = match schedules.get(&ch.schedule_id) {
            Some(n) => n.clone(),
            None => {
                let s = app.store.fee_schedule(ch.schedule_id).await?.ok_or_else(|| {
                    ApiError::internal(format!("the schedule of a charge, {}, is missing", ch.schedule_id))
                })?;
                schedules.insert(ch.schedule_id, (s.name.clone(), s.basis));
                (s.name, s.basis)
            }
        };
        let unit = app.premises(ch.premises_id).await?.name;
        views.push(charge_view(ch, (&name, basis), unit, c, today));
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
    submit_payment(&app, &p, &key, &source, command, c).await
}

/// Submits an operation that makes a fee payment (at the counter, or a refused payment credited after review)
/// and answers with the payment as stored, found by the operation the key names; a refusal as it came.
pub async fn submit_payment(
    app: &AppState,
    p: &Principal,
    key: &IdempotencyKey,
    source: &str,
    command: Command,
    currency: Currency,
) -> ApiResult<Response> {
    let replayed =
        match write::committed_or_answer(app, p, key, source, command, |o| matches!(o, Outcome::FeesPaid(_))).await? {
            Ok(replayed) => replayed,
            Err(refused) => return Ok(refused),
        };
    let op = write::operation_id(p.id(), &key.0);
    let f = app.store.fee_payment(op).await?.ok_or_else(|| ApiError::internal("the payment was not stored"))?;
    Ok(Reply::json(StatusCode::CREATED, &payment_view(app, &f, currency).await?).into_response(replayed))
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
