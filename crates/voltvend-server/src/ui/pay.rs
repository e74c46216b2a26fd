//! 自助缴费: the customer's page (`/pay`), for a phone, in zh-CN or English, with no login and nothing from the
//! internet. A customer enters a meter number and an amount, sees the account holder's name masked and what the
//! amount buys, picks a provider, scans (or opens) the provider's QR code — or, for M-Pesa, gives a phone number
//! and answers the prompt pushed to it — and sees the payment arrive, with the token for a keypad meter.
//!
//! Unlike the operator UI (ADR 0004), these pages have no operator to call the API as: they act as the system,
//! for this one purpose only — find one meter by its exact number, quote (a dry run of the sale, nothing
//! committed), make an intent and the provider's order, and show an intent's outcome to whoever holds its
//! unguessable id. Every request counts against its client address's allowance (`429` past it).

use std::collections::HashMap;
use std::sync::Mutex;

use askama::Template;
use axum::Router;
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use voltvend_domain::MeterProtocol;
use voltvend_ops::{
    Actor, Applied, Command, IntentPurpose, IntentStatus, Operation, Outcome, PaymentChannel, PaymentMethod, Sale,
};

use super::i18n::Lang;
use super::pages::read_form;
use crate::api::extract::ClientAddr;
use crate::api::views::{parse_money, unit_of};
use crate::http::AppState;
use crate::payments::ProviderOrder;

/// Providers' orders kept in memory for the customer page at most.
const ORDERS_KEPT_MAX: usize = 10_000;

/// Requests one client address may make in a minute.
pub const REQUESTS_PER_MINUTE: u32 = 30;

/// Per-address request counts in the current minute.
#[derive(Debug, Default)]
pub struct Limiter {
    counts: Mutex<(i64, HashMap<String, u32>)>,
}

impl Limiter {
    /// Whether `client` may make another request in the minute `now` falls in.
    pub fn allow(&self, client: &str, now: jiff::Timestamp) -> bool {
        let minute = now.as_second().div_euclid(60);
        let mut guard = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        if guard.0 != minute {
            *guard = (minute, HashMap::new());
        }
        let n = guard.1.entry(client.to_string()).or_insert(0);
        *n += 1;
        *n <= REQUESTS_PER_MINUTE
    }
}

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/pay", get(start))
        .route("/pay/confirm", post(confirm))
        .route("/pay/order", post(order))
        .route("/pay/status/{id}", get(status).post(back_from_provider))
}

#[derive(serde::Deserialize)]
struct LangQuery {
    lang: Option<String>,
}

fn lang_of(q: Option<&str>, headers: &HeaderMap) -> Lang {
    q.and_then(Lang::parse).unwrap_or_else(|| super::requested_lang(headers))
}

/// What every customer page shows around its content.
struct Frame {
    lang: Lang,
}

impl Frame {
    pub fn t<'a>(&self, key: &'a str) -> &'a str {
        // The catalogues live for the whole process.
        let cat: &'static super::i18n::Catalogue = self.lang.catalogue();
        cat.t(key)
    }

    pub fn tag(&self) -> &'static str {
        self.lang.tag()
    }

    pub fn other(&self) -> &'static str {
        match self.lang {
            Lang::ZhCn => "en",
            Lang::En => "zh-CN",
        }
    }
}

#[derive(Template)]
#[template(path = "pay.html")]
struct StartPage {
    f: Frame,
    meter: String,
    amount: String,
    /// `energy` or `fees`, as chosen.
    purpose: String,
    error: String,
}

/// A hidden field of a form posted to a provider.
struct Field {
    name: String,
    value: String,
}

/// A provider the customer may pay with.
struct Choice {
    id: String,
    name: String,
}

/// A bill or charge still owed, as the customer page lists it.
struct OwedCharge {
    name: String,
    period: String,
    due_on: String,
    outstanding: String,
    overdue: bool,
}

/// Whether paying through `channel` needs the payer's phone number (M-Pesa pushes its prompt to it).
fn needs_phone(channel: &PaymentChannel) -> bool {
    channel.provider == voltvend_ops::Provider::Mpesa
}

#[derive(Template)]
#[template(path = "pay_confirm.html")]
struct ConfirmPage {
    f: Frame,
    meter: String,
    amount: String,
    /// `energy` or `fees`.
    purpose: String,
    holder: String,
    paid: String,
    /// For rent and fees: what the account owes in all, and each bill and charge still owed (账单), oldest due
    /// first, so that the customer sees what is paid before paying.
    owed: String,
    charges: Vec<OwedCharge>,
    credit: String,
    quantity: String,
    /// What the payment pays first, before anything is credited (empty when nothing): bills, rent and fees
    /// (a postpaid customer's bills are paid first, oldest first), and arrears.
    bills: String,
    arrears: String,
    channels: Vec<Choice>,
    /// Whether a channel needs the payer's phone (M-Pesa): the form asks for it.
    phone: bool,
}

#[derive(Template)]
#[template(path = "pay_status.html")]
struct StatusPage {
    f: Frame,
    id: String,
    status: String,
    amount: String,
    meter: String,
    pay_url: String,
    qr_svg: String,
    /// A prompt was pushed to the customer's phone (M-Pesa).
    prompted: bool,
    /// A form to post to the provider's page (UnionPay), and where.
    form_action: String,
    form_fields: Vec<Field>,
    receipt: String,
    tokens: Vec<String>,
}

/// `12.50 CNY`, or empty for nothing.
fn money_if(minor: i64, c: voltvend_domain::Currency) -> String {
    if minor > 0 {
        format!("{} {}", voltvend_domain::Money::from_minor(minor, c).to_decimal_string(), c.code())
    } else {
        String::new()
    }
}

fn render(t: &impl Template, status: StatusCode) -> Response {
    match t.render() {
        Ok(body) => {
            let mut r = (status, axum::response::Html(body)).into_response();
            r.headers_mut().insert(header::CACHE_CONTROL, header::HeaderValue::from_static("no-store"));
            r
        }
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}

fn too_many(lang: Lang) -> Response {
    let page = StartPage {
        f: Frame { lang },
        meter: String::new(),
        amount: String::new(),
        purpose: String::new(),
        error: "pay.err.busy".into(),
    };
    let mut r = render(&page, StatusCode::TOO_MANY_REQUESTS);
    r.headers_mut().insert(header::RETRY_AFTER, header::HeaderValue::from_static("60"));
    r
}

async fn start(
    State(app): State<AppState>,
    ClientAddr(client): ClientAddr,
    headers: HeaderMap,
    Query(q): Query<LangQuery>,
) -> Response {
    let lang = lang_of(q.lang.as_deref(), &headers);
    if !app.payments.limiter.allow(&client, app.now()) {
        return too_many(lang);
    }
    render(
        &StartPage {
            f: Frame { lang },
            meter: String::new(),
            amount: String::new(),
            purpose: String::new(),
            error: String::new(),
        },
        StatusCode::OK,
    )
}

/// The account holder's name as a stranger may see it: each word's first letter, the rest starred
/// ("张三" → "张*", "John Smith" → "J*** S****").
pub fn masked(name: &str) -> String {
    name.split_whitespace()
        .map(|w| {
            let mut chars = w.chars();
            let first = chars.next().map(String::from).unwrap_or_default();
            first + &"*".repeat(chars.count().max(1))
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// What the customer asked for, checked: the meter (by its exact number), its account, the amount, and the
/// channels that sell for it.
struct Asked {
    meter: voltvend_ops::MeterRecord,
    account: voltvend_ops::AccountRecord,
    amount_minor: i64,
    channels: Vec<PaymentChannel>,
}

async fn asked(app: &AppState, meter_no: &str, amount: &str) -> Result<Asked, &'static str> {
    let meter_no = meter_no.trim();
    if meter_no.is_empty() || meter_no.len() > 64 {
        return Err("pay.err.meter");
    }
    let filter = voltvend_store::MeterFilter { q: Some(meter_no.to_string()), ..Default::default() };
    // The search is by part of a serial or address: take every match, then only the exact one.
    let query = voltvend_store::ListQuery { scope: None, after: None, limit: voltvend_store::ListQuery::LIMIT_MAX };
    let meters = app.store.list_meters(&query, &filter).await.map_err(|_| "pay.err.unavailable")?;
    // Only the exact number: a part of one must not list strangers' meters.
    let meter = meters
        .into_iter()
        .find(|m| {
            m.meter.serial == meter_no || (m.meter.protocol == MeterProtocol::StsKeypad && m.meter.address == meter_no)
        })
        .ok_or("pay.err.meter")?;
    let account_id = meter.meter.account_id.ok_or("pay.err.meter")?;
    let account = app.store.account(account_id).await.map_err(|_| "pay.err.meter")?;
    let amount_minor = parse_money("amount", amount, account.account.currency).map_err(|_| "pay.err.amount")?;
    if amount_minor <= 0 {
        return Err("pay.err.amount");
    }
    let query = voltvend_store::ListQuery { scope: None, after: None, limit: 100 };
    let premises = app.premises(account.account.premises_id).await.map_err(|_| "pay.err.unavailable")?;
    let channels: Vec<PaymentChannel> = app
        .store
        .list_payment_channels(&query)
        .await
        .map_err(|_| "pay.err.unavailable")?
        .into_iter()
        .filter(|c| c.active && c.books_id == account.books && premises.path.contains(&c.premises_id))
        .collect();
    if channels.is_empty() {
        return Err("pay.err.no_channel");
    }
    Ok(Asked { meter, account, amount_minor, channels })
}

/// A posted customer form: its language, what it asks for (checked), and how to show it again with an error.
struct Posted {
    lang: Lang,
    form: super::Form,
    asked: Asked,
    purpose: IntentPurpose,
}

impl Posted {
    /// The start page again, with the meter and amount as entered and `error`.
    fn again(lang: Lang, form: &super::Form, error: &str, status: StatusCode) -> Response {
        let page = StartPage {
            f: Frame { lang },
            meter: form.get("meter").to_string(),
            amount: form.get("amount").to_string(),
            purpose: form.get("purpose").to_string(),
            error: error.into(),
        };
        render(&page, status)
    }

    /// Reads a form posted from one of our pages: counted against the client's allowance, refused from another
    /// site, and its meter and amount checked.
    async fn read(app: &AppState, client: &str, request: Request) -> Result<Self, Response> {
        let headers = request.headers().clone();
        let form = read_form(request).await;
        let lang = lang_of(Some(form.get("lang")), &headers);
        if !app.payments.limiter.allow(client, app.now()) {
            return Err(too_many(lang));
        }
        if !super::same_origin(&headers) {
            return Err(Self::again(lang, &form, "pay.err.other_site", StatusCode::FORBIDDEN));
        }
        // Credit for the meter unless rent and fees are chosen (a form from before the choice asks for credit).
        let purpose = match form.get("purpose") {
            "" | "energy" => IntentPurpose::Energy,
            "fees" => IntentPurpose::Fees,
            _ => return Err(Self::again(lang, &form, "pay.err.purpose", StatusCode::UNPROCESSABLE_ENTITY)),
        };
        match asked(app, form.get("meter"), form.get("amount")).await {
            Ok(asked) => Ok(Self { lang, form, asked, purpose }),
            Err(e) => Err(Self::again(lang, &form, e, StatusCode::UNPROCESSABLE_ENTITY)),
        }
    }
}

async fn confirm(State(app): State<AppState>, ClientAddr(client): ClientAddr, request: Request) -> Response {
    let Posted { lang, form, asked: a, purpose } = match Posted::read(&app, &client, request).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    let again = |error: &str, status| Posted::again(lang, &form, error, status);
    if purpose == IntentPurpose::Fees {
        let confirmed = confirm_fees(&app, &client, lang, &a).await;
        return confirmed.unwrap_or_else(|e| again(e, StatusCode::UNPROCESSABLE_ENTITY));
    }
    // The quote is the sale itself through the first channel's shift, applied and thrown away.
    let Some(first) = a.channels.first() else { return again("pay.err.no_channel", StatusCode::UNPROCESSABLE_ENTITY) };
    let sale =
        Sale::paid(a.account.account.id, a.meter.meter.id, first.shift_id, PaymentMethod::Online, a.amount_minor);
    let op = Operation::new(app.api.ids.id(), Actor::system(&format!("customer:{client}")), Command::Sale(sale));
    let quote = match app.store.dry_run(op).await {
        Ok(Ok(Applied::Committed { outcome: Outcome::Sale(s), .. })) => s,
        // Refused (a suspended account, below the minimum purchase…), or the store is unavailable.
        _ => return again("pay.err.refused", StatusCode::UNPROCESSABLE_ENTITY),
    };
    let c = a.account.account.currency;
    let unit = unit_of(a.meter.meter.utility, a.meter.meter.protocol, None);
    let holder = app.store.customer(a.account.account.customer_id).await.map(|c| masked(&c.name)).unwrap_or_default();
    let page = ConfirmPage {
        f: Frame { lang },
        meter: a.meter.meter.serial.clone(),
        amount: voltvend_domain::Money::from_minor(a.amount_minor, c).to_decimal_string(),
        purpose: IntentPurpose::Energy.as_str().to_string(),
        holder,
        paid: format!("{} {}", voltvend_domain::Money::from_minor(quote.paid_minor, c).to_decimal_string(), c.code()),
        owed: String::new(),
        charges: Vec::new(),
        credit: format!(
            "{} {}",
            voltvend_domain::Money::from_minor(quote.credit_minor, c).to_decimal_string(),
            c.code()
        ),
        bills: money_if(quote.property_fees_minor, c),
        arrears: money_if(quote.arrears_minor, c),
        quantity: if quote.quantity_milli > 0 {
            format!("{} {unit}", crate::api::views::quantity(quote.quantity_milli, &unit).amount)
        } else {
            String::new()
        },
        channels: a.channels.iter().map(|c| Choice { id: c.id.to_string(), name: c.name.clone() }).collect(),
        phone: a.channels.iter().any(needs_phone),
    };
    render(&page, StatusCode::OK)
}

/// The confirmation of rent and fees paid online: what the account owes (as the counter's fee payment sees it),
/// what the payment pays of it and, for a postpaid account, the credit left. The same rules as the payment's
/// own: nothing owed, or a prepaid account paying more than it owes, is refused here, before the customer pays.
async fn confirm_fees(app: &AppState, client: &str, lang: Lang, a: &Asked) -> Result<Response, &'static str> {
    let c = a.account.account.currency;
    // What may be paid is the intent's own rule: the intent through the first channel, applied and thrown away.
    let first = a.channels.first().ok_or("pay.err.no_channel")?;
    match app.store.dry_run(intent_operation(app, client, a, first, IntentPurpose::Fees)).await {
        Ok(Ok(_)) => {}
        Ok(Err(e)) => {
            return Err(match e.code() {
                "no_fees_due" => "pay.err.no_fees",
                "fees_overpaid" => "pay.err.fees_over",
                _ => "pay.err.refused",
            });
        }
        Err(_) => return Err("pay.err.unavailable"),
    }
    let fees = crate::api::handlers::fees::account_fees(app, &a.account).await.map_err(|_| "pay.err.unavailable")?;
    let owed = fees.owed.minor.parse::<i64>().map_err(|_| "pay.err.unavailable")?;
    let money = |minor| format!("{} {}", voltvend_domain::Money::from_minor(minor, c).to_decimal_string(), c.code());
    let holder = app.store.customer(a.account.account.customer_id).await.map(|c| masked(&c.name)).unwrap_or_default();
    let to_fees = a.amount_minor.min(owed);
    let page = ConfirmPage {
        f: Frame { lang },
        meter: a.meter.meter.serial.clone(),
        amount: voltvend_domain::Money::from_minor(a.amount_minor, c).to_decimal_string(),
        purpose: IntentPurpose::Fees.as_str().to_string(),
        holder,
        paid: money(a.amount_minor),
        owed: money(owed),
        charges: fees
            .charges
            .iter()
            .filter(|ch| ch.outstanding.minor != "0")
            .map(|ch| OwedCharge {
                name: ch.schedule_name.clone(),
                period: ch.period.clone(),
                due_on: ch.due_on.clone(),
                outstanding: format!("{} {}", ch.outstanding.amount, ch.outstanding.currency),
                overdue: ch.overdue,
            })
            .collect(),
        credit: money(a.amount_minor - to_fees),
        bills: money_if(to_fees, c),
        arrears: String::new(),
        quantity: String::new(),
        channels: a.channels.iter().map(|c| Choice { id: c.id.to_string(), name: c.name.clone() }).collect(),
        phone: a.channels.iter().any(needs_phone),
    };
    Ok(render(&page, StatusCode::OK))
}

async fn order(State(app): State<AppState>, ClientAddr(client): ClientAddr, request: Request) -> Response {
    let Posted { lang, form, asked: a, purpose } = match Posted::read(&app, &client, request).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    let again = |error: &str, status| Posted::again(lang, &form, error, status);
    let Some(channel) = a.channels.iter().find(|c| c.id.to_string() == form.get("channel")) else {
        return again("pay.err.no_channel", StatusCode::UNPROCESSABLE_ENTITY);
    };
    // Checked before an intent is made for nothing.
    let phone = needs_phone(channel).then(|| form.get("phone").to_string());
    if phone.as_deref().is_some_and(|p| voltvend_payments::mpesa::phone(p).is_none()) {
        return again("pay.err.phone", StatusCode::UNPROCESSABLE_ENTITY);
    }
    let intent = match app.store.submit(intent_operation(&app, &client, &a, channel, purpose)).await {
        Ok(Applied::Committed { outcome: Outcome::PaymentIntent(i), .. }) => i,
        _ => return again("pay.err.refused", StatusCode::UNPROCESSABLE_ENTITY),
    };
    if let Err(e) = provider_order(&app, &intent, phone.as_deref()).await {
        tracing::warn!(intent = %intent.id, code = e.code, "customer page: the provider's order failed: {}", e.message);
        let error = if e.code == "payment_amount_unpayable" { "pay.err.whole" } else { "pay.err.provider" };
        return again(error, StatusCode::BAD_GATEWAY);
    }
    Redirect::to(&format!("/pay/status/{}?lang={}", intent.id, lang.tag())).into_response()
}

/// The customer's intent for what was asked, through `channel`, open for 15 minutes: the operation, as the system
/// acting for the client.
fn intent_operation(
    app: &AppState,
    client: &str,
    a: &Asked,
    channel: &PaymentChannel,
    purpose: IntentPurpose,
) -> Operation {
    let create = Command::CreatePaymentIntent(voltvend_ops::CreatePaymentIntent {
        intent_id: app.api.ids.uuid().into(),
        channel_id: channel.id,
        account_id: a.account.account.id,
        meter_id: a.meter.meter.id,
        amount_minor: a.amount_minor,
        expires_at: app.now() + jiff::SignedDuration::from_mins(15),
        purpose,
    });
    Operation::new(app.api.ids.id(), Actor::system(&format!("customer:{client}")), create)
}

/// The provider's order for an intent: made once, then kept while the server runs (asked again after a
/// restart: the provider keys it by the order number and gives the same one). An M-Pesa prompt is pushed once,
/// to `payer`, and its intent records it: it is never pushed again from here.
async fn provider_order(
    app: &AppState,
    intent: &voltvend_ops::PaymentIntent,
    payer: Option<&str>,
) -> Result<ProviderOrder, crate::payments::QueryFailed> {
    if let Some(order) = app.payments.orders.lock().unwrap_or_else(|e| e.into_inner()).get(&intent.id) {
        return Ok(order.clone());
    }
    if let Some(reference) = &intent.provider_ref {
        return Ok(ProviderOrder::Prompt { reference: reference.clone() });
    }
    let url = crate::payments::order(app, intent, payer).await?;
    let mut orders = app.payments.orders.lock().unwrap_or_else(|e| e.into_inner());
    // A cache, not a record: past its bound it starts again (an order asked again is the same order).
    if orders.len() >= ORDERS_KEPT_MAX {
        orders.clear();
    }
    orders.insert(intent.id, url.clone());
    Ok(url)
}

/// A provider's page sends the customer back by posting its result here (UnionPay's `frontUrl`): nothing in it
/// is believed — the intent's page shows what the provider's verified word made of it.
async fn back_from_provider(Path(id): Path<String>) -> Response {
    match id.parse::<uuid::Uuid>() {
        Ok(id) => Redirect::to(&format!("/pay/status/{id}")).into_response(),
        Err(_) => StatusCode::NOT_FOUND.into_response(),
    }
}

async fn status(
    State(app): State<AppState>,
    ClientAddr(client): ClientAddr,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(q): Query<LangQuery>,
) -> Response {
    let lang = lang_of(q.lang.as_deref(), &headers);
    if !app.payments.limiter.allow(&client, app.now()) {
        return too_many(lang);
    }
    let not_found = || {
        let page = StartPage {
            f: Frame { lang },
            meter: String::new(),
            amount: String::new(),
            purpose: String::new(),
            error: "pay.err.unknown".into(),
        };
        render(&page, StatusCode::NOT_FOUND)
    };
    let Ok(id) = id.parse::<uuid::Uuid>() else { return not_found() };
    let Ok(Some(mut intent)) = app.store.payment_intent(id.into()).await else { return not_found() };
    // Still open: ask the provider (its notification may be late or lost).
    if intent.status == IntentStatus::Open {
        if let Err(e) = crate::payments::query(&app, &intent).await {
            tracing::info!(intent = %intent.id, code = e.code, "customer page: query failed: {}", e.message);
        }
        if let Ok(Some(now)) = app.store.payment_intent(intent.id).await {
            intent = now;
        }
    }
    let meter = app.store.meter(intent.meter_id).await.map(|m| m.meter.serial).unwrap_or_default();
    let (mut pay_url_text, mut qr_svg, mut prompted, mut receipt, mut tokens) =
        (String::new(), String::new(), false, String::new(), Vec::new());
    let (mut form_action, mut form_fields) = (String::new(), Vec::new());
    if intent.status != IntentStatus::Open {
        app.payments.orders.lock().unwrap_or_else(|e| e.into_inner()).remove(&intent.id);
    } else {
        match provider_order(&app, &intent, None).await {
            Ok(ProviderOrder::Link(url)) => {
                qr_svg = qr(&url);
                pay_url_text = url;
            }
            Ok(ProviderOrder::Prompt { .. }) => prompted = true,
            Ok(ProviderOrder::Form { action, fields }) => {
                form_action = action;
                form_fields = fields.into_iter().map(|(name, value)| Field { name, value }).collect();
            }
            Err(_) => {}
        }
    }
    if intent.status == IntentStatus::Paid
        && let Some(settled_by) = intent.settled_by
    {
        match intent.purpose {
            IntentPurpose::Energy => {
                if let Ok(Some(sale)) = app.store.sale(settled_by).await {
                    receipt = sale.receipt_no.to_string();
                    tokens = sale.tokens.iter().map(|t| super::group_token(t)).collect();
                }
            }
            IntentPurpose::Fees => {
                if let Ok(Some(paid)) = app.store.fee_payment(settled_by).await {
                    receipt = paid.receipt_no.to_string();
                }
            }
        }
    }
    let page = StatusPage {
        f: Frame { lang },
        id: intent.id.to_string(),
        status: intent.status.as_str().to_string(),
        amount: format!(
            "{} {}",
            voltvend_domain::Money::from_minor(intent.amount_minor, intent.currency).to_decimal_string(),
            intent.currency.code()
        ),
        meter,
        pay_url: pay_url_text,
        qr_svg,
        prompted,
        form_action: form_action.clone(),
        form_fields,
        receipt,
        tokens,
    };
    let mut response = render(&page, StatusCode::OK);
    // The page's form goes to the provider's own page: the one origin, besides ours, it may post to.
    if let Some(csp) = crate::http::csp_posting_to(&form_action) {
        response.headers_mut().insert(header::CONTENT_SECURITY_POLICY, csp);
    }
    response
}

/// A QR code of `text` as an SVG element (drawn here: nothing is fetched from the internet).
pub fn qr(text: &str) -> String {
    match qrcode::QrCode::new(text.as_bytes()) {
        Ok(code) => code
            .render::<qrcode::render::svg::Color<'_>>()
            .min_dimensions(220, 220)
            .quiet_zone(true)
            .build()
            .split_once("<svg")
            .map(|(_, rest)| format!("<svg role=\"img\"{rest}"))
            .unwrap_or_default(),
        Err(_) => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_masked() {
        assert_eq!(masked("张三"), "张*");
        assert_eq!(masked("欧阳娜娜"), "欧***");
        assert_eq!(masked("John  Smith"), "J*** S****");
        assert_eq!(masked("X"), "X*");
        assert_eq!(masked(""), "");
    }

    #[test]
    fn the_limiter_counts_per_client_per_minute() {
        let l = Limiter::default();
        let t: jiff::Timestamp = "2026-12-06T10:00:05Z".parse().unwrap();
        for _ in 0..REQUESTS_PER_MINUTE {
            assert!(l.allow("a", t));
        }
        assert!(!l.allow("a", t));
        assert!(l.allow("b", t), "another client has its own allowance");
        assert!(l.allow("a", t + jiff::SignedDuration::from_secs(60)), "a new minute");
    }

    #[test]
    fn a_qr_code_is_an_svg_without_a_prolog() {
        let svg = qr("weixin://wxpay/bizpayurl?pr=abc");
        assert!(svg.starts_with("<svg role=\"img\"") && svg.ends_with("</svg>"), "{svg}");
    }
}
