//! 纠错 with maker-checker approval (a request by one operator, a decision by another), write-offs, shift
//! corrections and historical arrears (追缴陈欠).

use axum::Extension;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use voltvend_domain::{ApprovalId, Currency, OperationId};
use voltvend_ops::{
    ApprovalRecord, ApprovalStatus, ArrearsLine, Command, Correction, CorrectionKind, DecideCorrection, EnterArrears,
    Outcome, RequestCorrection,
};
use voltvend_store::{ApprovalFilter, ListQuery};

use super::apportion::period_of;
use super::customers::{visible_account, visible_meter};
use crate::api::auth::Principal;
use crate::api::error::{ApiError, ApiResult};
use crate::api::extract::{ApiJson, ApiPath, ApiQuery, ClientAddr, IdempotencyKey};
use crate::api::views::*;
use crate::api::write::{self, Reply};
use crate::http::AppState;

/// The kinds of correction, as a refusal lists them.
const KINDS: &str =
    "reverse_sale, reallocate_sale, adjust, write_off, correct_shift, reverse_fee_payment or adjust_charge";

/// A signed decimal amount ("-12.50") in minor units of `currency`.
fn parse_signed(field: &str, text: &str, currency: Currency) -> ApiResult<i64> {
    let t = text.trim();
    match t.strip_prefix('-') {
        Some(rest) => parse_money(field, rest, currency).map(|v| -v),
        None => parse_money(field, t.strip_prefix('+').unwrap_or(t), currency),
    }
}

/// The currency of what a correction acts on, after checking the caller may see it (404 otherwise).
async fn subject_currency(app: &AppState, p: &Principal, c: &Correction) -> ApiResult<Currency> {
    if let Some(payment) = c.fee_payment {
        let f = app.store.fee_payment(payment).await?.ok_or_else(|| ApiError::not_found("fee payment"))?;
        let a = visible_account(app, p, f.account_id).await.map_err(|_| ApiError::not_found("fee payment"))?;
        return Ok(a.account.currency);
    }
    if let Some(sale) = c.sale {
        let s = app.store.sale(sale).await?.ok_or_else(|| ApiError::not_found("sale"))?;
        let a = visible_account(app, p, s.account_id).await.map_err(|_| ApiError::not_found("sale"))?;
        if let Some(m) = c.meter_id {
            visible_meter(app, p, m).await?;
        }
        if let Some(to) = c.account_id {
            visible_account(app, p, to).await?;
        }
        return Ok(a.account.currency);
    }
    if let Some(id) = c.account_id {
        return Ok(visible_account(app, p, id).await?.account.currency);
    }
    if let Some(id) = c.shift_id {
        let shift = app.store.shift(id).await.map_err(|_| ApiError::not_found("shift"))?;
        let point = app.store.vending_point(shift.vending_point_id).await?;
        app.visible(p, point.premises_id, "shift").await?;
        return Ok(point.currency);
    }
    Err(ApiError::new("correction_incomplete", "name the sale, account or shift to correct"))
}

/// The currency an approval's amounts are in (looked up from its subject, which the caller may see).
async fn approval_currency(app: &AppState, a: &ApprovalRecord) -> ApiResult<Currency> {
    let account = match (a.correction.sale, a.correction.account_id, a.correction.shift_id) {
        (Some(sale), ..) => app.store.sale(sale).await?.map(|s| s.account_id),
        (None, None, None) => match a.correction.fee_payment {
            Some(payment) => app.store.fee_payment(payment).await?.map(|f| f.account_id),
            None => None,
        },
        (None, Some(id), _) => Some(id),
        (None, None, Some(shift)) => {
            let s = app.store.shift(shift).await?;
            return Ok(app.store.vending_point(s.vending_point_id).await?.currency);
        }
    };
    match account {
        Some(id) => Ok(app.store.account(id).await?.account.currency),
        None => Err(ApiError::internal("a correction without a subject")),
    }
}

fn correction_of(body: &CorrectionRequest) -> ApiResult<Correction> {
    let kind = CorrectionKind::parse(&body.kind).ok_or_else(|| ApiError::field("kind", "bad_value", KINDS))?;
    Ok(Correction {
        kind,
        sale: body.sale_id.map(OperationId::from_uuid),
        account_id: body.account_id.map(Into::into),
        meter_id: body.meter_id.map(Into::into),
        shift_id: body.shift_id.map(Into::into),
        amount_minor: 0,
        fee_payment: body.fee_payment_id.map(OperationId::from_uuid),
        charge: match (body.schedule_id, body.period.as_deref()) {
            (Some(schedule), Some(period)) => Some((schedule.into(), period_of(period)?)),
            (None, None) => None,
            (Some(_), None) => {
                return Err(ApiError::field("period", "correction_incomplete", "the charge's month, YYYY-MM"));
            }
            (None, Some(_)) => {
                return Err(ApiError::field("schedule_id", "correction_incomplete", "the charge's fee schedule"));
            }
        },
    })
}

pub async fn request(
    State(app): State<AppState>,
    Extension(p): Extension<Principal>,
    key: IdempotencyKey,
    ClientAddr(source): ClientAddr,
    ApiJson(body): ApiJson<CorrectionRequest>,
) -> ApiResult<Response> {
    let mut correction = correction_of(&body)?;
    let currency = subject_currency(&app, &p, &correction).await?;
    if let Some(amount) = &body.amount {
        correction.amount_minor = parse_signed("amount", amount, currency)?;
    }
    let expires_in = match body.expires_in_hours {
        Some(h) => jiff::SignedDuration::from_hours(i64::from(h)),
        None => RequestCorrection::EXPIRES_IN_DEFAULT,
    };
    let approval_id: ApprovalId = write::derived_id(write::operation_id(p.id(), &key.0), "approval");
    let command =
        Command::RequestCorrection(RequestCorrection { approval_id, correction, reason: body.reason, expires_in });
    let now = app.now();
    write::submit(&app, &p, &key, &source, command, move |o| match o {
        Outcome::Approval(a) => Reply::json(StatusCode::CREATED, &ApprovalView::of(a, currency, now)),
        _ => Reply::error(&ApiError::internal("unexpected outcome")),
    })
    .await
}

async fn visible_approval(app: &AppState, p: &Principal, id: uuid::Uuid) -> ApiResult<ApprovalRecord> {
    let a = app.store.approval(id.into()).await?.ok_or_else(|| ApiError::not_found("correction"))?;
    app.visible(p, a.premises_id, "correction").await?;
    Ok(a)
}

pub async fn get(
    State(app): State<AppState>,
    Extension(p): Extension<Principal>,
    ApiPath(id): ApiPath<uuid::Uuid>,
) -> ApiResult<axum::Json<ApprovalView>> {
    let a = visible_approval(&app, &p, id).await?;
    let c = approval_currency(&app, &a).await?;
    Ok(axum::Json(ApprovalView::of(&a, c, app.now())))
}

pub async fn list(
    State(app): State<AppState>,
    Extension(p): Extension<Principal>,
    ApiQuery(q): ApiQuery<CorrectionsQuery>,
) -> ApiResult<axum::Json<Page<ApprovalView>>> {
    let limit = page_limit(q.limit)?;
    let status = match q.status.as_deref() {
        Some(s) => Some(
            ApprovalStatus::parse(s)
                .ok_or_else(|| ApiError::field("status", "bad_value", "pending, approved, rejected or expired"))?,
        ),
        None => None,
    };
    let kind = match q.kind.as_deref() {
        Some(k) => Some(CorrectionKind::parse(k).ok_or_else(|| ApiError::field("kind", "bad_value", KINDS))?),
        None => None,
    };
    let now = app.now();
    let filter = ApprovalFilter {
        status,
        kind,
        requested_by: q.requested_by.map(Into::into),
        now_us: voltvend_domain::clock::timestamp_us(now),
    };
    let list = app.store.list_approvals(&ListQuery { scope: Some(p.scope()), after: q.after, limit }, &filter).await?;
    let mut items = Vec::with_capacity(list.len());
    for a in &list {
        items.push(ApprovalView::of(a, approval_currency(&app, a).await?, now));
    }
    Ok(axum::Json(Page::of(items, limit, |a| a.id.to_string())))
}

async fn decide(
    app: AppState,
    p: Principal,
    key: IdempotencyKey,
    source: String,
    id: uuid::Uuid,
    approve: bool,
    note: String,
) -> ApiResult<Response> {
    let a = visible_approval(&app, &p, id).await?;
    let currency = approval_currency(&app, &a).await?;
    let command = Command::DecideCorrection(DecideCorrection { approval_id: a.id, approve, note });
    let now = app.now();
    write::submit(&app, &p, &key, &source, command, move |o| match o {
        Outcome::Approval(a) => Reply::json(StatusCode::OK, &ApprovalView::of(a, currency, now)),
        _ => Reply::error(&ApiError::internal("unexpected outcome")),
    })
    .await
}

pub async fn approve(
    State(app): State<AppState>,
    Extension(p): Extension<Principal>,
    key: IdempotencyKey,
    ClientAddr(source): ClientAddr,
    ApiPath(id): ApiPath<uuid::Uuid>,
    ApiJson(body): ApiJson<DecisionRequest>,
) -> ApiResult<Response> {
    decide(app, p, key, source, id, true, body.note).await
}

pub async fn reject(
    State(app): State<AppState>,
    Extension(p): Extension<Principal>,
    key: IdempotencyKey,
    ClientAddr(source): ClientAddr,
    ApiPath(id): ApiPath<uuid::Uuid>,
    ApiJson(body): ApiJson<DecisionRequest>,
) -> ApiResult<Response> {
    decide(app, p, key, source, id, false, body.note).await
}

async fn enter(
    app: &AppState,
    p: &Principal,
    key: &IdempotencyKey,
    source: &str,
    lines: &[ArrearsLineRequest],
) -> ApiResult<Response> {
    if lines.is_empty() || lines.len() > EnterArrears::LINES_MAX {
        return Err(ApiError::field(
            "lines",
            "bad_lines",
            format!("give between 1 and {} lines of arrears", EnterArrears::LINES_MAX),
        ));
    }
    let mut parsed = Vec::with_capacity(lines.len());
    let mut currency = None;
    for (i, line) in lines.iter().enumerate() {
        let a = visible_account(app, p, line.account_id.into())
            .await
            .map_err(|_| ApiError::not_found("account").with("field", format!("lines[{i}].account_id")))?;
        let amount_minor = parse_money(&format!("lines[{i}].amount"), &line.amount, a.account.currency)?;
        if currency.is_some_and(|c| c != a.account.currency) {
            return Err(ApiError::field(
                &format!("lines[{i}].account_id"),
                "currency_mismatch",
                "one import carries arrears in one currency",
            ));
        }
        currency = Some(a.account.currency);
        parsed.push(ArrearsLine { account_id: a.account.id, amount_minor, reference: line.reference.clone() });
    }
    let currency = currency.ok_or_else(|| ApiError::internal("no lines"))?;
    let command = Command::EnterArrears(EnterArrears { lines: parsed });
    write::submit(app, p, key, source, command, move |o| match o {
        Outcome::ArrearsEntered { lines, total_minor, transfers } => Reply::json(
            StatusCode::CREATED,
            &ArrearsEnteredView {
                lines: *lines,
                total: money(*total_minor, currency),
                transfer_ids: transfers.iter().map(|t| t.as_uuid()).collect(),
            },
        ),
        _ => Reply::error(&ApiError::internal("unexpected outcome")),
    })
    .await
}

pub async fn enter_arrears(
    State(app): State<AppState>,
    Extension(p): Extension<Principal>,
    key: IdempotencyKey,
    ClientAddr(source): ClientAddr,
    ApiPath(id): ApiPath<uuid::Uuid>,
    ApiJson(body): ApiJson<ArrearsRequest>,
) -> ApiResult<Response> {
    let line = ArrearsLineRequest { account_id: id, amount: body.amount, reference: body.reference };
    enter(&app, &p, &key, &source, std::slice::from_ref(&line)).await
}

pub async fn import_arrears(
    State(app): State<AppState>,
    Extension(p): Extension<Principal>,
    key: IdempotencyKey,
    ClientAddr(source): ClientAddr,
    ApiJson(body): ApiJson<ArrearsImportRequest>,
) -> ApiResult<Response> {
    enter(&app, &p, &key, &source, &body.lines).await
}
