//! The premises tree, tariffs and vending points.

use axum::Extension;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use voltvend_domain::{BooksId, Currency, Premises, PremisesId, PremisesLevel, VendingPointId};
use voltvend_ops::{Command, ImportTariff, OpenBooks, OpenVendingPoint, Outcome, SettleVendingPoint};
use voltvend_store::{ListQuery, PremisesFilter};

use crate::api::auth::Principal;
use crate::api::error::{ApiError, ApiResult};
use crate::api::extract::{ApiJson, ApiPath, ApiQuery, ClientAddr, IdempotencyKey};
use crate::api::views::*;
use crate::api::write::{self, Reply};
use crate::http::AppState;

pub async fn list_premises(
    State(app): State<AppState>,
    Extension(p): Extension<Principal>,
    ApiQuery(q): ApiQuery<PremisesQuery>,
) -> ApiResult<axum::Json<Page<PremisesView>>> {
    let limit = page_limit(q.limit)?;
    let filter = PremisesFilter { parent: q.parent_id.map(Into::into), level: q.level, q: q.q };
    let list = app.store.list_premises(&ListQuery { scope: Some(p.scope()), after: q.after, limit }, &filter).await?;
    Ok(axum::Json(Page::of(list.iter().map(PremisesView::from).collect(), limit, |x| x.id.to_string())))
}

pub async fn get_premises(
    State(app): State<AppState>,
    Extension(p): Extension<Principal>,
    ApiPath(id): ApiPath<uuid::Uuid>,
) -> ApiResult<axum::Json<PremisesView>> {
    app.visible(&p, id.into(), "premises").await?;
    Ok(axum::Json(PremisesView::from(&app.premises(id.into()).await?)))
}

pub async fn create_premises(
    State(app): State<AppState>,
    Extension(p): Extension<Principal>,
    key: IdempotencyKey,
    ClientAddr(source): ClientAddr,
    ApiJson(body): ApiJson<CreatePremisesRequest>,
) -> ApiResult<Response> {
    let level: PremisesLevel = body
        .level
        .parse()
        .map_err(|_| ApiError::field("level", "bad_value", "group, property, building, floor or unit"))?;
    let id: PremisesId = write::derived_id(write::operation_id(p.id(), &key.0), "premises");
    let node = match body.parent_id {
        Some(parent) => {
            app.visible(&p, parent.into(), "premises").await?;
            let parent = app.premises(parent.into()).await?;
            parent.new_child(id, level, &body.name).map_err(|e| ApiError::from(voltvend_ops::OpError::from(e)))?
        }
        None => {
            let tz = body.time_zone.as_deref().unwrap_or("UTC");
            Premises::new_root(id, &body.name, tz).map_err(|e| ApiError::from(voltvend_ops::OpError::from(e)))?
        }
    };
    let view = PremisesView::from(&node);
    write::submit(&app, &p, &key, &source, Command::CreatePremises(node), move |_| {
        Reply::json(StatusCode::CREATED, &view)
    })
    .await
}

pub async fn open_books(
    State(app): State<AppState>,
    Extension(p): Extension<Principal>,
    key: IdempotencyKey,
    ClientAddr(source): ClientAddr,
    ApiJson(body): ApiJson<OpenBooksRequest>,
) -> ApiResult<Response> {
    let currency = currency("currency", &body.currency)?;
    app.visible(&p, body.premises_id.into(), "premises").await?;
    let id: BooksId = write::derived_id(write::operation_id(p.id(), &key.0), "books");
    let view = BooksView { id: id.as_uuid(), premises_id: body.premises_id, currency: currency.code().to_string() };
    let command = Command::OpenBooks(OpenBooks { id, premises_id: body.premises_id.into(), currency });
    write::submit(&app, &p, &key, &source, command, move |_| Reply::json(StatusCode::CREATED, &view)).await
}

pub async fn list_tariffs(
    State(app): State<AppState>,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> ApiResult<axum::Json<Page<TariffView>>> {
    let limit = page_limit(q.limit)?;
    let docs = app.store.tariff_documents().await?;
    let items =
        docs.into_iter().map(|d| TariffView { code: d.code, revision: d.revision, name: d.name, document: None });
    Ok(axum::Json(Page::slice(items.collect(), q.after.as_deref(), limit, |t| t.code.clone())))
}

pub async fn get_tariff(
    State(app): State<AppState>,
    ApiPath(code): ApiPath<String>,
) -> ApiResult<axum::Json<TariffView>> {
    let d = app.store.tariff_document(&code).await?.ok_or_else(|| ApiError::not_found("tariff"))?;
    Ok(axum::Json(TariffView { code: d.code, revision: d.revision, name: d.name, document: Some(d.document) }))
}

/// Readings a preview prices at most (a finer period is asked for beyond it).
const PREVIEW_READINGS_MAX: usize = 5_000;

/// 按实抄试算: a tariff (stored or a draft) applied to a meter's billed readings over a period, from a fresh
/// pricing state, itemised as billing would charge it. Nothing is stored.
pub async fn preview_tariff(
    State(app): State<AppState>,
    Extension(p): Extension<Principal>,
    ApiJson(body): ApiJson<TariffPreviewRequest>,
) -> ApiResult<axum::Json<TariffPreviewView>> {
    let document = match (&body.code, &body.document) {
        (Some(code), None) => {
            app.store
                .tariff_document(code)
                .await?
                .ok_or_else(|| ApiError::field("code", "not_found", "no such tariff"))?
                .document
        }
        (None, Some(d)) => d.clone(),
        _ => return Err(ApiError::bad_request("give the code of a stored tariff or a document, not both")),
    };
    let (file, tariff) = voltvend_tariff_file::parse(&document)
        .map_err(|e| ApiError::field("document", "tariff_invalid", format!("tariff document: {e}")))?;
    let meter = crate::api::handlers::customers::visible_meter(&app, &p, body.meter_id.into()).await?;
    if meter.meter.utility != tariff.utility {
        return Err(ApiError::field(
            "meter_id",
            "utility_mismatch",
            "the tariff prices another utility than the meter's",
        ));
    }
    let (from_us, to_us) = super::counter::time_filter(&Some(body.from.clone()), &Some(body.to.clone()))?;
    if from_us >= to_us {
        return Err(ApiError::field("to", "bad_request", "the period ends after it starts"));
    }
    let filter = voltvend_store::ReadingFilter {
        meter: Some(meter.meter.id),
        premises: None,
        status: Some("billed".into()),
        from_us,
        to_us,
    };
    let mut readings = Vec::new();
    let mut after = None;
    loop {
        let query = ListQuery { scope: Some(p.scope()), after: after.clone(), limit: ListQuery::LIMIT_MAX };
        let page = app.store.list_readings(&query, &filter).await?;
        let last = page.last().map(|r| r.cursor.clone());
        let full = page.len() == ListQuery::LIMIT_MAX as usize;
        readings.extend(page.into_iter().map(|r| r.row.reading));
        if readings.len() > PREVIEW_READINGS_MAX {
            return Err(ApiError::field(
                "to",
                "report_too_large",
                format!("more than {PREVIEW_READINGS_MAX} readings: give a shorter period"),
            ));
        }
        if !full || last.is_none() {
            break;
        }
        after = last;
    }
    if readings.len() < 2 {
        return Err(ApiError::field(
            "from",
            "bad_request",
            "the period holds fewer than two billed readings of the meter",
        ));
    }
    let series = crate::tariff_cli::price_series(&tariff, &readings)
        .map_err(|e| ApiError::new("pricing_refused", format!("the tariff cannot price these readings: {e}")))?;
    let unit = if tariff.utility == voltvend_domain::Utility::Water { "m³" } else { "kWh" };
    Ok(axum::Json(TariffPreviewView {
        tariff: file.code,
        name: file.name,
        unit: unit.into(),
        readings: readings.len(),
        intervals: series
            .intervals
            .iter()
            .map(|iv| PricedIntervalView {
                from: instant(iv.from),
                to: instant(iv.to),
                consumption: crate::tariff_cli::quantity_text(iv.consumption_milli),
                charge: iv.charge.to_decimal_string(),
            })
            .collect(),
        lines: series
            .lines
            .iter()
            .map(|l| ChargeLineView {
                item: crate::tariff_cli::line_label(&tariff, &l.label),
                quantity: if l.quantity_milli == 0 {
                    String::new()
                } else {
                    crate::tariff_cli::quantity_text(l.quantity_milli)
                },
                price: l.unit_price_micro.map(crate::tariff_cli::price_text),
                amount: crate::tariff_cli::exact_text(l.amount_femto),
            })
            .collect(),
        total: money(series.total.amount_minor(), tariff.currency),
        carried_remainder: crate::tariff_cli::exact_text(series.state.carry_femto),
    }))
}

pub async fn import_tariff(
    State(app): State<AppState>,
    Extension(p): Extension<Principal>,
    key: IdempotencyKey,
    ClientAddr(source): ClientAddr,
    ApiJson(body): ApiJson<ImportTariffRequest>,
) -> ApiResult<Response> {
    app.require_root(&p, "a tariff").await?;
    let (file, _) = voltvend_tariff_file::parse(&body.document)
        .map_err(|e| ApiError::field("document", "tariff_invalid", format!("tariff document: {e}")))?;
    let command =
        Command::ImportTariff(ImportTariff { code: file.code, name: file.name.clone(), document: body.document });
    write::submit(&app, &p, &key, &source, command, move |o| match o {
        Outcome::TariffImported { code, revision } => Reply::json(
            StatusCode::CREATED,
            &TariffView { code: code.clone(), revision: *revision, name: file.name.clone(), document: None },
        ),
        _ => Reply::error(&ApiError::internal("unexpected outcome")),
    })
    .await
}

pub async fn list_vending_points(
    State(app): State<AppState>,
    Extension(p): Extension<Principal>,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> ApiResult<axum::Json<Page<VendingPointView>>> {
    let limit = page_limit(q.limit)?;
    let list = app.store.list_vending_points(&ListQuery { scope: Some(p.scope()), after: q.after, limit }).await?;
    Ok(axum::Json(Page::of(list.iter().map(VendingPointView::from).collect(), limit, |v| v.id.to_string())))
}

/// The books a premises' sales are booked in: those of the nearest premises on its path that keeps books in
/// `currency`.
pub async fn books_for(app: &AppState, premises: PremisesId, currency: Currency) -> ApiResult<BooksId> {
    let node = app.premises(premises).await?;
    for id in node.path.iter().rev() {
        if let Some(b) = app.store.books_of(*id, currency).await? {
            return Ok(b.id);
        }
    }
    Err(ApiError::field("premises_id", "not_found", format!("no books in {currency} above these premises")))
}

pub fn currency(field: &str, code: &str) -> ApiResult<Currency> {
    code.parse::<Currency>().map_err(|_| ApiError::field(field, "bad_value", format!("unknown currency {code:?}")))
}

pub async fn create_vending_point(
    State(app): State<AppState>,
    Extension(p): Extension<Principal>,
    key: IdempotencyKey,
    ClientAddr(source): ClientAddr,
    ApiJson(body): ApiJson<CreateVendingPointRequest>,
) -> ApiResult<Response> {
    let currency = currency("currency", &body.currency)?;
    app.visible(&p, body.premises_id.into(), "premises").await?;
    let books_id = books_for(&app, body.premises_id.into(), currency).await?;
    let credit_limit_minor =
        body.credit_limit.as_deref().map(|t| parse_money("credit_limit", t, currency)).transpose()?;
    let id: VendingPointId = write::derived_id(write::operation_id(p.id(), &key.0), "vending-point");
    let command = Command::OpenVendingPoint(OpenVendingPoint {
        id,
        premises_id: body.premises_id.into(),
        name: body.name.clone(),
        currency,
        books_id,
        credit_limit_minor,
    });
    let point = voltvend_domain::VendingPoint::new(id, body.premises_id.into(), &body.name, currency, books_id)
        .and_then(|v| v.with_credit_limit(credit_limit_minor))
        .map_err(|e| ApiError::from(voltvend_ops::OpError::from(e)))?;
    let view = VendingPointView::from(&point);
    write::submit(&app, &p, &key, &source, command, move |_| Reply::json(StatusCode::CREATED, &view)).await
}

pub async fn settle_vending_point(
    State(app): State<AppState>,
    Extension(p): Extension<Principal>,
    key: IdempotencyKey,
    ClientAddr(source): ClientAddr,
    ApiPath(id): ApiPath<uuid::Uuid>,
    ApiJson(body): ApiJson<SettlementRequest>,
) -> ApiResult<Response> {
    let point = app.store.vending_point(id.into()).await.map_err(|_| ApiError::not_found("vending point"))?;
    app.visible(&p, point.premises_id, "vending point").await?;
    let amount_minor = parse_money("amount", &body.amount, point.currency)?;
    let command = Command::SettleVendingPoint(SettleVendingPoint {
        vending_point_id: point.id,
        amount_minor,
        reference: body.reference,
    });
    // The answer is the point as the settlement left it (sales may have moved it since it was read here).
    write::submit(&app, &p, &key, &source, command, |o| match o {
        Outcome::Settled(point) => Reply::json(StatusCode::OK, &VendingPointView::from(point)),
        _ => Reply::error(&ApiError::internal("unexpected outcome")),
    })
    .await
}
