//! The pages: each reads through the API as the operator and renders a template of `templates/`.

use askama::Template;
use axum::Router;
use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use jiff::{SignedDuration, Timestamp};
use serde_json::{Value, json};
use tower::ServiceExt;
use uuid::Uuid;

use super::chart::{self, Point};
use super::i18n::Lang;
use super::{ApiService, Form, J, LANG_COOKIE, Ui, UiError, group_token, percent, requested_lang, safe_next};
use crate::http::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/ui", get(|| async { Redirect::permanent("/ui/") }))
        .route("/ui/", get(dashboard))
        .route("/ui/login", get(login_page).post(login))
        .route("/ui/logout", post(logout))
        .route("/ui/language", post(language))
        .route("/ui/static/{file}", get(asset))
        .route("/ui/counter", get(counter))
        .route("/ui/counter/results", get(counter_results))
        .route("/ui/customers/{id}", get(customer))
        .route("/ui/accounts/{id}", get(account))
        .route("/ui/accounts/{id}/quote", post(quote))
        .route("/ui/sales", post(sell))
        .route("/ui/sales/{id}", get(sale))
        .route("/ui/sales/{id}/receipt", get(receipt))
        .route("/ui/sales/{id}/reprint", post(reprint))
        .route("/ui/sales/{id}/escpos", post(print_on_printer))
        .route("/ui/shift", get(shift))
        .route("/ui/shift/open", post(open_shift))
        .route("/ui/shift/close", post(close_shift))
        .route("/ui/shift/correct", post(correct_shift))
        .route("/ui/meters/{id}", get(meter))
        .route("/ui/meters/{id}/command", post(meter_command))
        .route("/ui/meters/{id}/review", post(review_reading))
        .route("/ui/approvals", get(approvals))
        .route("/ui/corrections", post(request_correction))
        .route("/ui/corrections/{id}/{decision}", post(decide))
        .route("/ui/reports", get(reports))
        .route("/ui/audit", get(audit))
        .merge(super::office::routes())
        .merge(super::cards::routes())
        .merge(super::apportion::routes())
        .merge(super::energy::routes())
        .merge(super::fees::routes())
}

// ---------------------------------------------------------------------------------------------------------------
// What every page shows: the operator, the navigation, the language switch.

/// A navigation entry: where, its label key, the permission it needs.
const NAV: &[(&str, &str, &str)] = &[
    ("/ui/", "nav.dashboard", ""),
    ("/ui/counter", "nav.counter", "sales.create"),
    ("/ui/shift", "nav.shift", "shifts.operate"),
    ("/ui/card", "nav.card", "meters.returns"),
    ("/ui/premises", "nav.premises", "premises.read"),
    ("/ui/approvals", "nav.approvals", "corrections.read"),
    ("/ui/refunds", "nav.refunds", "refused_payments.read"),
    ("/ui/payments", "nav.payments", "payments.read"),
    ("/ui/reports", "nav.reports", "reports.read"),
    ("/ui/apportionment", "nav.apportionment", "reports.read"),
    ("/ui/fees", "nav.fees", "reports.read"),
    ("/ui/energy", "nav.energy", "reports.read"),
    ("/ui/books", "nav.books", "reports.read"),
    ("/ui/tariffs", "nav.tariffs", "tariffs.read"),
    ("/ui/stock", "nav.stock", "meters.manage"),
    ("/ui/operators", "nav.operators", "operators.read"),
    ("/ui/campaigns", "nav.campaigns", "keys.manage"),
    ("/ui/audit", "nav.audit", "audit.read"),
    ("/ui/admin", "nav.admin", ""),
];

#[derive(Debug, Clone)]
pub struct NavItem {
    pub href: &'static str,
    pub label: String,
    pub active: bool,
}

/// The frame of a page.
#[derive(Debug, Clone)]
pub struct PageCtx {
    pub lang: Lang,
    pub csrf: String,
    pub operator: String,
    pub role: String,
    pub here: String,
    pub nav: Vec<NavItem>,
    pub perms: Vec<String>,
    pub title: String,
    pub tz: jiff::tz::TimeZone,
}

impl PageCtx {
    pub(super) fn new(ui: &Ui, title_key: &str) -> Self {
        let cat = ui.lang.catalogue();
        let perms: Vec<String> = ui.principal.permissions.iter().map(|p| p.as_str().to_string()).collect();
        let path = ui.here.split('?').next().unwrap_or_default().to_string();
        let nav = NAV
            .iter()
            .filter(|(_, _, perm)| perm.is_empty() || perms.iter().any(|p| p == perm))
            .map(|(href, key, _)| NavItem {
                href,
                label: cat.t(key).to_string(),
                active: if *href == "/ui/" { path == "/ui/" } else { path.starts_with(href) },
            })
            .collect();
        Self {
            lang: ui.lang,
            csrf: ui.csrf().to_string(),
            operator: ui.principal.operator.display_name.clone(),
            role: ui.principal.operator.role.clone(),
            here: ui.here.clone(),
            nav,
            perms,
            title: cat.t(title_key).to_string(),
            tz: ui.tz.clone(),
        }
    }

    /// The frame of a page nobody is logged in to.
    fn anonymous(lang: Lang, title_key: &str) -> Self {
        Self {
            lang,
            csrf: String::new(),
            operator: String::new(),
            role: String::new(),
            here: "/ui/".into(),
            nav: Vec::new(),
            perms: Vec::new(),
            title: lang.catalogue().t(title_key).to_string(),
            tz: jiff::tz::TimeZone::UTC,
        }
    }

    pub fn t<'a>(&self, key: &'a str) -> &'a str {
        // The catalogues live for the whole process.
        let cat: &'static super::i18n::Catalogue = self.lang.catalogue();
        cat.t(key)
    }

    /// The message of `group.value`, or the value itself where the catalogue has none (a code it does not know).
    fn named(&self, group: &str, value: &str) -> String {
        let key = format!("{group}.{value}");
        match self.lang.catalogue().messages.get(&key) {
            Some(m) => m.clone(),
            None => value.to_string(),
        }
    }

    /// A time field of `j` in the operator's time zone, to the minute.
    pub fn when<B: super::AsJ>(&self, j: B, key: &str) -> String {
        j.as_j().when_in(key, &self.tz)
    }

    pub fn tag(&self) -> &'static str {
        self.lang.tag()
    }

    pub fn can(&self, perm: &str) -> bool {
        self.perms.iter().any(|p| p == perm)
    }

    /// The other language, for the switch.
    /// A value as one URL path segment.
    pub fn seg(&self, text: &str) -> String {
        super::segment(text)
    }

    pub fn other_lang(&self) -> &'static str {
        match self.lang {
            Lang::ZhCn => "en",
            Lang::En => "zh-CN",
        }
    }

    /// A refusal in the operator's language.
    pub fn error_text(&self, e: &UiError) -> String {
        self.lang.catalogue().error(&e.code)
    }

    /// The message of a refusal code.
    pub fn code_text(&self, code: &str) -> String {
        self.lang.catalogue().error(code)
    }

    /// The refusal to show next to `field`, if it is about that field.
    pub fn field_error(&self, e: &Option<UiError>, field: &str) -> String {
        match e {
            Some(e) if e.field == field => self.error_text(e),
            _ => String::new(),
        }
    }

    /// The refusal to show above the form: one about none of `fields`.
    pub fn form_error(&self, e: &Option<UiError>, fields: &str) -> String {
        match e {
            Some(e) if e.field.is_empty() || !fields.split(',').any(|f| f == e.field) => self.error_text(e),
            _ => String::new(),
        }
    }

    /// A relay or valve state (closed: supplied) in the operator's language.
    pub fn relay(&self, value: &str) -> String {
        self.named("relay", value)
    }

    /// A status word (account, meter, command, approval) in the operator's language.
    pub fn word(&self, value: &str) -> String {
        self.named("word", value)
    }

    /// What a reconciliation difference (`not_in_ledger`, `refund_unknown`…) means, in the operator's language.
    pub fn difference(&self, kind: &str) -> String {
        self.named("difference", kind)
    }
}

pub(super) fn html(t: &impl Template) -> Response {
    match t.render() {
        Ok(body) => {
            let mut r = axum::response::Html(body).into_response();
            r.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            r
        }
        Err(e) => {
            tracing::error!(error = %e, "a UI template failed");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

/// A page drawn after a refusal answers with the refusal's status.
pub(super) fn html_with(t: &impl Template, error: &Option<UiError>) -> Response {
    let mut r = html(t);
    if let Some(e) = error {
        *r.status_mut() = ui_status(&e.code);
    }
    r
}

/// The status of a refusal: the API's for its codes, the UI's own for its two.
fn ui_status(code: &str) -> StatusCode {
    match code {
        "csrf_expired" => StatusCode::FORBIDDEN,
        "required" => StatusCode::UNPROCESSABLE_ENTITY,
        "printer_not_configured" => StatusCode::CONFLICT,
        "printer_unreachable" => StatusCode::BAD_GATEWAY,
        other => crate::api::error::status_of(other),
    }
}

pub(super) fn see_other(to: &str) -> Response {
    (StatusCode::SEE_OTHER, [(header::LOCATION, to.to_string())]).into_response()
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage {
    page: PageCtx,
    error: UiError,
    back: String,
}

/// A page that could not be shown: not found (also what lies outside one's scope), forbidden, refused.
pub(super) fn error_page(ui: &Ui, answer_error: UiError, back: &str) -> Response {
    let status = ui_status(&answer_error.code);
    let status = if status == StatusCode::INTERNAL_SERVER_ERROR && answer_error.code.starts_with("http_") {
        answer_error.code.trim_start_matches("http_").parse().ok().and_then(|s| StatusCode::from_u16(s).ok())
    } else {
        Some(status)
    }
    .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let page = ErrorPage { page: PageCtx::new(ui, "error.title"), error: answer_error, back: back.into() };
    let mut r = html(&page);
    *r.status_mut() = status;
    r
}

/// A form without the session's CSRF token: refused, nothing done.
pub(super) fn csrf_refused(ui: &Ui) -> Response {
    error_page(ui, UiError::new("csrf_expired", ""), &ui.here)
}

/// Reads a posted form (the body limit of the router applies).
pub(super) async fn read_form(request: Request) -> Form {
    match axum::body::to_bytes(request.into_body(), 1 << 20).await {
        Ok(b) => Form::parse(&b),
        Err(_) => Form::default(),
    }
}

pub(super) fn new_key(app: &AppState) -> String {
    app.api.ids.uuid().to_string()
}

pub(super) fn uuid_ok(id: &str) -> Option<Uuid> {
    Uuid::parse_str(id).ok()
}

// ---------------------------------------------------------------------------------------------------------------
// Assets.

const APP_CSS: &str = include_str!("../../ui/static/app.css");
const APP_JS: &str = include_str!("../../ui/static/app.js");
const PRINT_JS: &str = include_str!("../../ui/static/print.js");
const ICON_SVG: &str = include_str!("../../ui/static/icon.svg");

async fn asset(Path(file): Path<String>) -> Response {
    let (body, kind) = match file.as_str() {
        "app.css" => (APP_CSS, "text/css; charset=utf-8"),
        "app.js" => (APP_JS, "text/javascript; charset=utf-8"),
        "print.js" => (PRINT_JS, "text/javascript; charset=utf-8"),
        "icon.svg" => (ICON_SVG, "image/svg+xml"),
        _ => return (StatusCode::NOT_FOUND, "no such asset").into_response(),
    };
    ([(header::CONTENT_TYPE, kind), (header::CACHE_CONTROL, "public, max-age=3600")], body).into_response()
}

// ---------------------------------------------------------------------------------------------------------------
// Logging in and out, the language.

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    page: PageCtx,
    next: String,
    username: String,
    error: Option<UiError>,
}

#[derive(serde::Deserialize)]
struct NextQuery {
    next: Option<String>,
}

async fn login_page(headers: HeaderMap, q: axum::extract::Query<NextQuery>) -> Response {
    let lang = requested_lang(&headers);
    let next = safe_next(q.next.as_deref().unwrap_or("/ui/"));
    html(&LoginPage { page: PageCtx::anonymous(lang, "login.title"), next, username: String::new(), error: None })
}

async fn login(
    State(_app): State<AppState>,
    axum::Extension(api): axum::Extension<ApiService>,
    request: Request,
) -> Response {
    let headers = request.headers().clone();
    let lang = requested_lang(&headers);
    let peer = request.extensions().get::<axum::extract::ConnectInfo<std::net::SocketAddr>>().copied();
    let form = read_form(request).await;
    let next = safe_next(form.get("next"));
    let username = form.get("username").to_string();
    let again = |code: &str, field: &str| {
        let error = Some(UiError::new(code, field));
        let page = LoginPage {
            page: PageCtx::anonymous(lang, "login.title"),
            next: next.clone(),
            username: username.clone(),
            error: error.clone(),
        };
        html_with(&page, &error)
    };
    // A login form posted from another site would log the browser into someone else's account.
    if !super::same_origin(&headers) {
        return again("csrf_expired", "");
    }
    if username.is_empty() {
        return again("required", "username");
    }
    let body = json!({"username": username, "password": form.raw("password").to_string()});
    let mut call = match Request::builder()
        .method(Method::POST)
        .uri("/api/v1/session")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body.to_string()))
    {
        Ok(r) => r,
        Err(_) => return StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    };
    if let Some(peer) = peer {
        call.extensions_mut().insert(peer);
    }
    let Ok(response) = api.0.oneshot(call).await;
    let status = response.status();
    let cookie = response.headers().get(header::SET_COOKIE).cloned();
    let retry_after = response.headers().get(header::RETRY_AFTER).cloned();
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20).await.unwrap_or_default();
    match (status.is_success(), cookie) {
        (true, Some(cookie)) => {
            let mut r = see_other(&next);
            r.headers_mut().insert(header::SET_COOKIE, cookie);
            r
        }
        _ => {
            let j = J(serde_json::from_slice(&bytes).unwrap_or(Value::Null));
            let code = j.s("code");
            let mut r = again(if code.is_empty() { "login_failed" } else { &code }, "");
            *r.status_mut() = if status.is_success() { StatusCode::INTERNAL_SERVER_ERROR } else { status };
            if let Some(wait) = retry_after {
                r.headers_mut().insert(header::RETRY_AFTER, wait);
            }
            r
        }
    }
}

async fn logout(State(app): State<AppState>, ui: Ui, request: Request) -> Response {
    let form = read_form(request).await;
    if !form.csrf_ok(&ui) {
        return csrf_refused(&ui);
    }
    let _ = ui.call(Method::DELETE, "/api/v1/session", None, None).await;
    let mut r = see_other("/ui/login");
    let ended = crate::api::auth::set_cookie("", 0, app.api.auth.secure);
    if let Ok(v) = HeaderValue::from_str(&ended) {
        r.headers_mut().insert(header::SET_COOKIE, v);
    }
    r
}

/// Switches the language: kept with the operator when logged in, and in a cookie for the login page.
async fn language(ui: Result<Ui, Response>, request: Request) -> Response {
    // A refusal of the extractor other than "log in first" (a cross-site post) stands; without a session, a
    // cross-site post is refused here.
    if let Err(r) = &ui
        && r.status() != StatusCode::SEE_OTHER
    {
        return StatusCode::FORBIDDEN.into_response();
    }
    if ui.is_err() && !super::same_origin(request.headers()) {
        return StatusCode::FORBIDDEN.into_response();
    }
    let form = read_form(request).await;
    let Some(lang) = Lang::parse(form.get("lang")) else {
        return StatusCode::UNPROCESSABLE_ENTITY.into_response();
    };
    let next = safe_next(form.get("next"));
    if let Ok(ui) = &ui {
        if !form.csrf_ok(ui) {
            return csrf_refused(ui);
        }
        let answer =
            ui.call(Method::PUT, "/api/v1/session/language", Some(&json!({"language": lang.tag()})), None).await;
        if !answer.ok() {
            return error_page(ui, answer.error(), &next);
        }
    }
    let mut r = see_other(&next);
    let cookie = format!("{LANG_COOKIE}={}; Path=/; SameSite=Strict; Max-Age=31536000", lang.tag());
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        r.headers_mut().insert(header::SET_COOKIE, v);
    }
    r
}

// ---------------------------------------------------------------------------------------------------------------
// The dashboard.

#[derive(Template)]
#[template(path = "dashboard.html")]
struct DashboardPage {
    page: PageCtx,
    today: Option<J>,
    trend_svg: String,
    low: Vec<J>,
    tripped: Vec<J>,
    alarms: Vec<J>,
    buildings_svg: String,
    links: Vec<J>,
    pending: Vec<J>,
    shift: Option<J>,
}

async fn dashboard(State(app): State<AppState>, ui: Ui) -> Response {
    let page = PageCtx::new(&ui, "dashboard.title");
    let now = app.now();
    let mut today = None;
    let mut trend_svg = String::new();
    let mut low = Vec::new();
    let mut buildings_svg = String::new();
    if page.can("reports.read") {
        let from = now - SignedDuration::from_hours(24 * 14);
        let to = now + SignedDuration::from_mins(1);
        let path = format!(
            "/api/v1/reports/sales?group_by=day&from={}&to={}",
            percent(&from.to_string()),
            percent(&to.to_string())
        );
        let a = ui.get(&path).await;
        if a.ok() {
            let rows = a.json().list("rows");
            let points: Vec<Point> = rows
                .iter()
                .map(|r| Point {
                    label: r.s("key").get(5..).unwrap_or_default().to_string(),
                    value: r.at("paid").s("minor").parse().unwrap_or(0),
                })
                .collect();
            trend_svg = chart::bars(&points, 100, page.t("dashboard.trend"));
            let date = now.to_zoned(ui.tz.clone()).date().to_string();
            today = rows.iter().find(|r| r.s("key") == date).cloned();
        }
        let a = ui.get("/api/v1/reports/balances?kind=low_balance&below=20.00&limit=8").await;
        if a.ok() {
            low = a.json().list("items");
        }
        let week = now - SignedDuration::from_hours(24 * 7);
        let path =
            format!("/api/v1/reports/consumption?from={}&to={}", percent(&week.to_string()), percent(&now.to_string()));
        let a = ui.get(&path).await;
        if a.ok() {
            let points: Vec<Point> = a
                .json()
                .list("rows")
                .iter()
                .filter(|r| r.is("utility", "electricity"))
                .map(|r| Point { label: r.s("label"), value: r.at("consumption").s("milli").parse().unwrap_or(0) })
                .collect();
            if !points.is_empty() {
                buildings_svg = chart::bars(&points, 1000, page.t("dashboard.by_building"));
            }
        }
    }
    let (tripped, alarms) = if page.can("meters.read") {
        let a = ui.get("/api/v1/meters?relay=open&limit=10").await;
        let b = ui.get("/api/v1/alarms?limit=10").await;
        (
            if a.ok() { a.json().list("items") } else { Vec::new() },
            if b.ok() { b.json().list("items") } else { Vec::new() },
        )
    } else {
        (Vec::new(), Vec::new())
    };
    let links = if page.can("meters.control") {
        let a = ui.get("/api/v1/head-end/links?limit=20").await;
        if a.ok() { a.json().list("items") } else { Vec::new() }
    } else {
        Vec::new()
    };
    let pending = if page.can("corrections.read") {
        let a = ui.get("/api/v1/corrections?status=pending&limit=10").await;
        if a.ok() { a.json().list("items") } else { Vec::new() }
    } else {
        Vec::new()
    };
    let shift = if page.can("shifts.operate") {
        let a = ui.get("/api/v1/shifts/current").await;
        a.ok().then(|| a.json())
    } else {
        None
    };
    html(&DashboardPage { page, today, trend_svg, low, tripped, alarms, buildings_svg, links, pending, shift })
}

// ---------------------------------------------------------------------------------------------------------------
// The counter: find, sell, print.

#[derive(Template)]
#[template(path = "counter.html")]
struct CounterPage {
    page: PageCtx,
    q: String,
    results: Vec<J>,
    searched: bool,
    shift: Option<J>,
}

#[derive(Template)]
#[template(path = "counter_results.html")]
struct CounterResults {
    page: PageCtx,
    results: Vec<J>,
    searched: bool,
}

#[derive(serde::Deserialize)]
struct SearchQuery {
    q: Option<String>,
}

async fn search(ui: &Ui, q: &str) -> (Vec<J>, bool) {
    let q = q.trim();
    if q.is_empty() {
        return (Vec::new(), false);
    }
    let a = ui.get(&format!("/api/v1/customers?limit=20&q={}", percent(q))).await;
    (if a.ok() { a.json().list("items") } else { Vec::new() }, true)
}

async fn counter(ui: Ui, q: axum::extract::Query<SearchQuery>) -> Response {
    let page = PageCtx::new(&ui, "counter.title");
    let q = q.0.q.unwrap_or_default();
    let (results, searched) = search(&ui, &q).await;
    let shift = {
        let a = ui.get("/api/v1/shifts/current").await;
        a.ok().then(|| a.json())
    };
    html(&CounterPage { page, q, results, searched, shift })
}

/// The results alone, for the search box to replace as the cashier types.
async fn counter_results(ui: Ui, q: axum::extract::Query<SearchQuery>) -> Response {
    let page = PageCtx::new(&ui, "counter.title");
    let q = q.0.q.unwrap_or_default();
    let (results, searched) = search(&ui, &q).await;
    html(&CounterResults { page, results, searched })
}

#[derive(Template)]
#[template(path = "customer.html")]
struct CustomerPage {
    page: PageCtx,
    customer: J,
    accounts: Vec<J>,
}

async fn customer(ui: Ui, Path(id): Path<String>) -> Response {
    let Some(id) = uuid_ok(&id) else { return error_page(&ui, UiError::new("not_found", ""), "/ui/counter") };
    let a = ui.get(&format!("/api/v1/customers/{id}")).await;
    if !a.ok() {
        return error_page(&ui, a.error(), "/ui/counter");
    }
    let customer = a.json();
    let accounts = {
        let a = ui.get(&format!("/api/v1/accounts?customer_id={id}&limit=50")).await;
        if a.ok() { a.json().list("items") } else { Vec::new() }
    };
    // One account: straight to it (the counter's usual case).
    if let [only] = accounts.as_slice() {
        return see_other(&format!("/ui/accounts/{}", only.s("id")));
    }
    html(&CustomerPage { page: PageCtx::new(&ui, "customer.title"), customer, accounts })
}

/// The sale form's fields, kept across a refusal.
#[derive(Debug, Clone, Default)]
pub struct SaleForm {
    pub meter_id: String,
    pub method: String,
    pub amount: String,
    pub quantity: String,
    pub reference: String,
}

impl SaleForm {
    fn from_form(f: &Form) -> Self {
        Self {
            meter_id: f.get("meter_id").into(),
            method: f.get("method").into(),
            amount: f.get("amount").into(),
            quantity: f.get("quantity").into(),
            reference: f.get("reference").into(),
        }
    }

    fn request(&self, account_id: &str) -> Value {
        let mut body = serde_json::Map::new();
        body.insert("account_id".into(), json!(account_id));
        body.insert("meter_id".into(), json!(self.meter_id));
        body.insert("method".into(), json!(if self.method.is_empty() { "cash" } else { self.method.as_str() }));
        body.insert("reference".into(), json!(self.reference));
        if !self.amount.is_empty() {
            body.insert("amount".into(), json!(self.amount));
        }
        if !self.quantity.is_empty() {
            body.insert("quantity".into(), json!(self.quantity));
        }
        Value::Object(body)
    }

    pub fn method_is(&self, m: &str) -> bool {
        self.method == m || (self.method.is_empty() && m == "cash")
    }
}

#[derive(Template)]
#[template(path = "account.html")]
struct AccountPage {
    page: PageCtx,
    account: J,
    customer: J,
    sales: Vec<J>,
    /// The account's rent and fees (none when it has never been charged any).
    fees: Option<J>,
    form: SaleForm,
    status_key: String,
    correction_key: String,
    fee_key: String,
    error: Option<UiError>,
}

/// The account page with a refusal of one of its forms.
pub(super) async fn account_with_error(app: &AppState, ui: &Ui, id: Uuid, error: UiError) -> Response {
    account_page(app, ui, id, SaleForm::default(), Some(error)).await
}

async fn account_page(app: &AppState, ui: &Ui, id: Uuid, form: SaleForm, error: Option<UiError>) -> Response {
    let a = ui.get(&format!("/api/v1/accounts/{id}")).await;
    if !a.ok() {
        return error_page(ui, a.error(), "/ui/counter");
    }
    let account = a.json();
    let customer = {
        let c = ui.get(&format!("/api/v1/customers/{}", account.s("customer_id"))).await;
        c.json()
    };
    let sales = if ui.principal.can(voltvend_domain::Permission::SalesRead) {
        let s = ui.get(&format!("/api/v1/sales?account_id={id}&limit=10")).await;
        if s.ok() { s.json().list("items") } else { Vec::new() }
    } else {
        Vec::new()
    };
    let fees = ui.get(&format!("/api/v1/accounts/{id}/fees")).await;
    let fees = Some(fees).filter(|f| f.ok()).map(|f| f.json()).filter(|f| !f.list("charges").is_empty());
    let mut form = form;
    if form.meter_id.is_empty()
        && let Some(m) = account.list("meters").first()
    {
        form.meter_id = m.s("id");
    }
    html_with(
        &AccountPage {
            page: PageCtx::new(ui, "account.title"),
            account,
            customer,
            sales,
            fees,
            form,
            status_key: new_key(app),
            correction_key: new_key(app),
            fee_key: new_key(app),
            error: error.clone(),
        },
        &error,
    )
}

async fn account(State(app): State<AppState>, ui: Ui, Path(id): Path<String>) -> Response {
    let Some(id) = uuid_ok(&id) else { return error_page(&ui, UiError::new("not_found", ""), "/ui/counter") };
    account_page(&app, &ui, id, SaleForm::default(), None).await
}

#[derive(Template)]
#[template(path = "confirm.html")]
struct ConfirmPage {
    page: PageCtx,
    account_id: String,
    form: SaleForm,
    quote: J,
    meter: J,
    key: String,
}

async fn quote(State(app): State<AppState>, ui: Ui, Path(id): Path<String>, request: Request) -> Response {
    let Some(id) = uuid_ok(&id) else { return error_page(&ui, UiError::new("not_found", ""), "/ui/counter") };
    let f = read_form(request).await;
    if !f.csrf_ok(&ui) {
        return csrf_refused(&ui);
    }
    let form = SaleForm::from_form(&f);
    if form.amount.is_empty() && form.quantity.is_empty() {
        return account_page(&app, &ui, id, form, Some(UiError::new("required", "amount"))).await;
    }
    let a = ui.call(Method::POST, "/api/v1/sales/quote", Some(&form.request(&id.to_string())), None).await;
    if !a.ok() {
        return account_page(&app, &ui, id, form, Some(a.error())).await;
    }
    let meter = match uuid_ok(&form.meter_id) {
        Some(m) => ui.get(&format!("/api/v1/meters/{m}")).await.json(),
        None => J::default(),
    };
    html(&ConfirmPage {
        page: PageCtx::new(&ui, "confirm.title"),
        account_id: id.to_string(),
        form,
        quote: a.json(),
        meter,
        key: new_key(&app),
    })
}

async fn sell(State(app): State<AppState>, ui: Ui, request: Request) -> Response {
    let f = read_form(request).await;
    if !f.csrf_ok(&ui) {
        return csrf_refused(&ui);
    }
    let Some(account_id) = uuid_ok(f.get("account_id")) else {
        return error_page(&ui, UiError::new("not_found", ""), "/ui/counter");
    };
    let key = f.get("key");
    if key.is_empty() {
        let e = UiError::new("idempotency_key_required", "");
        return account_page(&app, &ui, account_id, SaleForm::from_form(&f), Some(e)).await;
    }
    let form = SaleForm::from_form(&f);
    let mut body = form.request(&account_id.to_string());
    // A purchase by quantity is sold at the price the customer was quoted, or refused.
    if let (Some(paid), Some(fields)) = (f.opt("expected_paid"), body.as_object_mut()) {
        fields.insert("expected_paid".into(), json!(paid));
    }
    let a = ui.post("/api/v1/sales", &body, key).await;
    if !a.ok() {
        return account_page(&app, &ui, account_id, form, Some(a.error())).await;
    }
    let sold = a.json();
    // An IC-card meter's purchase was written onto the card in the reader, or not (and why): said on the page.
    let card = sold.at("card");
    let result = match (card.has("serial"), card.is("written", "true")) {
        (false, _) => String::new(),
        (true, true) => "?card=written".to_string(),
        (true, false) => format!("?card={}", percent(&card.at("error").s("code"))),
    };
    see_other(&format!("/ui/sales/{}{result}", sold.s("id")))
}

#[derive(Template)]
#[template(path = "sale.html")]
struct SalePage {
    page: PageCtx,
    sale: J,
    tokens: Vec<String>,
    meter: J,
    key: String,
    correction_key: String,
    /// A network receipt printer serves this sale's counter.
    printer: bool,
    /// Said after the receipt went to the printer.
    printed: bool,
    /// An IC-card meter's card (its purchase sequence), when the sale was onto one.
    card: Option<J>,
    /// What came of writing the purchase onto the card just now: `written` or a refusal code.
    card_result: Option<String>,
    error: Option<UiError>,
}

impl SalePage {
    /// Whether this sale is the card's last purchase, still to be loaded by the meter (so it may be written
    /// again).
    pub fn card_pending(&self) -> bool {
        self.card.as_ref().is_some_and(|c| {
            c.is("purchase_pending", "true") && c.at("last_purchase").s("sale_id") == self.sale.s("id")
        })
    }
}

/// The network printer of a vending point (its own, else the default), as HOST:PORT.
fn printer_of(app: &AppState, vending_point: &str) -> Option<String> {
    app.printers.get(vending_point).or_else(|| app.printers.get("default")).cloned()
}

async fn sale_page(app: &AppState, ui: &Ui, id: Uuid, error: Option<UiError>) -> Response {
    sale_page_with(app, ui, id, error, false, None).await
}

pub(super) async fn sale_page_with(
    app: &AppState,
    ui: &Ui,
    id: Uuid,
    error: Option<UiError>,
    printed: bool,
    card_result: Option<String>,
) -> Response {
    let a = ui.get(&format!("/api/v1/sales/{id}")).await;
    if !a.ok() {
        return error_page(ui, a.error(), "/ui/counter");
    }
    let sale = a.json();
    let sale_vp = sale.s("vending_point_id");
    let tokens = sale.list("tokens").iter().map(|t| group_token(&t.text())).collect();
    let meter = ui.get(&format!("/api/v1/meters/{}", sale.s("meter_id"))).await.json();
    let card = if meter.is("protocol", "ic_card") {
        let c = ui.get(&format!("/api/v1/meters/{}/card", sale.s("meter_id"))).await;
        c.ok().then(|| c.json())
    } else {
        None
    };
    html_with(
        &SalePage {
            card,
            card_result,
            page: PageCtx::new(ui, "sale.title"),
            sale,
            tokens,
            meter,
            key: new_key(app),
            correction_key: new_key(app),
            printer: printer_of(app, &sale_vp).is_some(),
            printed,
            error: error.clone(),
        },
        &error,
    )
}

#[derive(serde::Deserialize)]
struct SaleQuery {
    card: Option<String>,
}

async fn sale(
    State(app): State<AppState>,
    ui: Ui,
    Path(id): Path<String>,
    q: axum::extract::Query<SaleQuery>,
) -> Response {
    let Some(id) = uuid_ok(&id) else { return error_page(&ui, UiError::new("not_found", ""), "/ui/counter") };
    // Only a code-shaped word is shown back (it names a catalogue message, never free text).
    let card =
        q.0.card.filter(|c| !c.is_empty() && c.len() <= 40 && c.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'));
    sale_page_with(&app, &ui, id, None, false, card).await
}

/// A printed document from the API (the 80 mm receipt view), with the script that opens the print dialog.
pub(super) fn printable(ui: &Ui, answer: super::Answer, back: &str) -> Response {
    if !answer.ok() {
        return error_page(ui, answer.error(), back);
    }
    if !answer.content_type.starts_with("text/html") {
        return error_page(ui, UiError::new("internal", ""), back);
    }
    let text = String::from_utf8_lossy(&answer.body).into_owned();
    let script = "<script src=\"/ui/static/print.js\" defer></script>";
    let body = match text.rfind("</body>") {
        Some(i) => format!("{}{script}{}", text.get(..i).unwrap_or_default(), text.get(i..).unwrap_or_default()),
        None => format!("{text}{script}"),
    };
    let mut r = axum::response::Html(body).into_response();
    r.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

/// How long a network printer may take to accept a connection and a receipt.
const PRINTER_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// Sends the sale's ESC/POS receipt to its counter's network printer: the original when the operator may print
/// it (the cashier who sold, shift open), else a copy marked as such and recorded as a reprint.
async fn print_on_printer(State(app): State<AppState>, ui: Ui, Path(id): Path<String>, request: Request) -> Response {
    let Some(id) = uuid_ok(&id) else { return error_page(&ui, UiError::new("not_found", ""), "/ui/counter") };
    let f = read_form(request).await;
    if !f.csrf_ok(&ui) {
        return csrf_refused(&ui);
    }
    let sale = ui.get(&format!("/api/v1/sales/{id}")).await;
    if !sale.ok() {
        return error_page(&ui, sale.error(), "/ui/counter");
    }
    let Some(address) = printer_of(&app, &sale.json().s("vending_point_id")) else {
        return sale_page(&app, &ui, id, Some(UiError::new("printer_not_configured", ""))).await;
    };
    let lang = ui.lang.tag();
    let mut doc = ui.get(&format!("/api/v1/sales/{id}/receipt?format=escpos&lang={lang}")).await;
    if doc.error().code == "receipt_not_original" {
        doc = ui
            .post(&format!("/api/v1/sales/{id}/reprint"), &json!({"format": "escpos", "lang": lang}), f.get("key"))
            .await;
    }
    if !doc.ok() {
        return sale_page(&app, &ui, id, Some(doc.error())).await;
    }
    match send_to_printer(&address, &doc.body).await {
        Ok(()) => sale_page_with(&app, &ui, id, None, true, None).await,
        Err(e) => {
            tracing::warn!(printer = %address, error = %e, "the receipt printer did not take the receipt");
            sale_page(&app, &ui, id, Some(UiError::new("printer_unreachable", ""))).await
        }
    }
}

/// Raw TCP printing (port 9100, "JetDirect"): connect, write the bytes, close.
async fn send_to_printer(address: &str, bytes: &[u8]) -> std::io::Result<()> {
    use tokio::io::AsyncWriteExt;
    let timed_out = || std::io::Error::new(std::io::ErrorKind::TimedOut, "the printer did not answer in time");
    let mut stream = tokio::time::timeout(PRINTER_TIMEOUT, tokio::net::TcpStream::connect(address))
        .await
        .map_err(|_| timed_out())??;
    tokio::time::timeout(PRINTER_TIMEOUT, async {
        stream.write_all(bytes).await?;
        stream.shutdown().await
    })
    .await
    .map_err(|_| timed_out())?
}

async fn receipt(ui: Ui, Path(id): Path<String>) -> Response {
    let Some(id) = uuid_ok(&id) else { return error_page(&ui, UiError::new("not_found", ""), "/ui/counter") };
    let a = ui.get(&format!("/api/v1/sales/{id}/receipt?format=html&lang={}", ui.lang.tag())).await;
    printable(&ui, a, &format!("/ui/sales/{id}"))
}

async fn reprint(State(app): State<AppState>, ui: Ui, Path(id): Path<String>, request: Request) -> Response {
    let Some(id) = uuid_ok(&id) else { return error_page(&ui, UiError::new("not_found", ""), "/ui/counter") };
    let f = read_form(request).await;
    if !f.csrf_ok(&ui) {
        return csrf_refused(&ui);
    }
    let body = json!({"format": "html", "lang": ui.lang.tag()});
    let a = ui.post(&format!("/api/v1/sales/{id}/reprint"), &body, f.get("key")).await;
    if !a.ok() {
        return sale_page(&app, &ui, id, Some(a.error())).await;
    }
    printable(&ui, a, &format!("/ui/sales/{id}"))
}

// ---------------------------------------------------------------------------------------------------------------
// The shift.

#[derive(Template)]
#[template(path = "shift.html")]
struct ShiftPage {
    page: PageCtx,
    shift: Option<J>,
    /// The face values of the shift's currency, largest first, for the count.
    faces: Vec<&'static str>,
    points: Vec<J>,
    last: Option<J>,
    key: String,
    error: Option<UiError>,
}

async fn shift_page(app: &AppState, ui: &Ui, error: Option<UiError>) -> Response {
    let a = ui.get("/api/v1/shifts/current").await;
    let shift = a.ok().then(|| a.json());
    let faces = shift.as_ref().map(|s| face_values(&s.at("opening_float").s("currency"))).unwrap_or_default();
    let points = if shift.is_none() {
        let p = ui.get("/api/v1/vending-points?limit=100").await;
        if p.ok() { p.json().list("items") } else { Vec::new() }
    } else {
        Vec::new()
    };
    let last = if shift.is_none() {
        let s =
            ui.get(&format!("/api/v1/shifts?operator_id={}&status=closed&limit=1", ui.principal.id().as_uuid())).await;
        s.json().list("items").into_iter().next()
    } else {
        None
    };
    html_with(
        &ShiftPage {
            page: PageCtx::new(ui, "shift.title"),
            shift,
            faces,
            points,
            last,
            key: new_key(app),
            error: error.clone(),
        },
        &error,
    )
}

/// The notes and coins of a currency, largest first (for the count by denomination at the close). A currency
/// not listed is counted as a total.
fn face_values(currency: &str) -> Vec<&'static str> {
    let faces: &[&'static str] = match currency {
        "CNY" => &["100.00", "50.00", "20.00", "10.00", "5.00", "1.00", "0.50", "0.10"],
        "USD" => &["100.00", "50.00", "20.00", "10.00", "5.00", "2.00", "1.00", "0.25", "0.10", "0.05", "0.01"],
        "EUR" => {
            &["200.00", "100.00", "50.00", "20.00", "10.00", "5.00", "2.00", "1.00", "0.50", "0.20", "0.10", "0.05"]
        }
        "ZAR" => &["200.00", "100.00", "50.00", "20.00", "10.00", "5.00", "2.00", "1.00", "0.50", "0.20", "0.10"],
        "NGN" => &["1000.00", "500.00", "200.00", "100.00", "50.00", "20.00", "10.00", "5.00"],
        "KES" => &["1000.00", "500.00", "200.00", "100.00", "50.00", "20.00", "10.00", "5.00", "1.00"],
        _ => &[],
    };
    faces.to_vec()
}

async fn shift(State(app): State<AppState>, ui: Ui) -> Response {
    shift_page(&app, &ui, None).await
}

async fn open_shift(State(app): State<AppState>, ui: Ui, request: Request) -> Response {
    let f = read_form(request).await;
    if !f.csrf_ok(&ui) {
        return csrf_refused(&ui);
    }
    let body = json!({"vending_point_id": f.get("vending_point_id"), "opening_float": f.get("opening_float")});
    if f.get("opening_float").is_empty() {
        return shift_page(&app, &ui, Some(UiError::new("required", "opening_float"))).await;
    }
    let a = ui.post("/api/v1/shifts", &body, f.get("key")).await;
    if !a.ok() {
        return shift_page(&app, &ui, Some(a.error())).await;
    }
    see_other("/ui/shift")
}

async fn close_shift(State(app): State<AppState>, ui: Ui, request: Request) -> Response {
    let f = read_form(request).await;
    if !f.csrf_ok(&ui) {
        return csrf_refused(&ui);
    }
    // The count by denomination (`d_<face value>` = how many), and the total if the cashier typed one: the API
    // checks that they agree.
    let mut denominations = Vec::new();
    for (name, count) in f.fields() {
        let (Some(value), count) = (name.strip_prefix("d_"), count.trim()) else { continue };
        if count.is_empty() || count == "0" {
            continue;
        }
        let Ok(count) = count.parse::<u32>() else {
            return shift_page(&app, &ui, Some(UiError::new("bad_denominations", "denominations"))).await;
        };
        denominations.push(json!({"value": value, "count": count}));
    }
    if f.get("counted").is_empty() && denominations.is_empty() {
        return shift_page(&app, &ui, Some(UiError::new("required", "counted"))).await;
    }
    let Some(id) = uuid_ok(f.get("shift_id")) else {
        return shift_page(&app, &ui, Some(UiError::new("not_found", ""))).await;
    };
    let mut body = serde_json::Map::new();
    if let Some(counted) = f.opt("counted") {
        body.insert("counted".into(), json!(counted));
    }
    body.insert("denominations".into(), Value::Array(denominations));
    let a = ui.post(&format!("/api/v1/shifts/{id}/close"), &Value::Object(body), f.get("key")).await;
    if !a.ok() {
        return shift_page(&app, &ui, Some(a.error())).await;
    }
    see_other("/ui/shift")
}

/// Asks for a closed shift's count to be corrected (cash found or missing after the close): another operator
/// approves it.
async fn correct_shift(State(app): State<AppState>, ui: Ui, request: Request) -> Response {
    let f = read_form(request).await;
    if !f.csrf_ok(&ui) {
        return csrf_refused(&ui);
    }
    for field in ["shift_amount", "shift_reason"] {
        if f.get(field).is_empty() {
            return shift_page(&app, &ui, Some(UiError::new("required", field))).await;
        }
    }
    let Some(id) = uuid_ok(f.get("shift_id")) else {
        return shift_page(&app, &ui, Some(UiError::new("not_found", ""))).await;
    };
    let body = json!({"kind": "correct_shift", "shift_id": id, "amount": f.get("shift_amount"), "reason": f.get("shift_reason")});
    let a = ui.post("/api/v1/corrections", &body, f.get("key")).await;
    if !a.ok() {
        let mut e = a.error();
        if e.field == "amount" || e.field == "reason" {
            e.field = format!("shift_{}", e.field);
        }
        return shift_page(&app, &ui, Some(e)).await;
    }
    see_other("/ui/approvals")
}

// ---------------------------------------------------------------------------------------------------------------
// Meters.

#[derive(Template)]
#[template(path = "meter.html")]
struct MeterPage {
    page: PageCtx,
    meter: J,
    supply: J,
    commands: Vec<J>,
    /// The newest stored reading (of the week shown).
    last_reading: Option<J>,
    consumption_svg: String,
    key: String,
    /// An IC-card meter's user card, if one was issued.
    card: Option<J>,
    /// The counter's virtual card reader, when it has one (demos, trials).
    reader: Option<J>,
    /// What the card reader or the simulated meter just did.
    notice: Option<String>,
    /// The meter a check card read at this page is for, and where the virtual reader's forms come back to.
    reader_meter: String,
    reader_back: String,
    error: Option<UiError>,
}

async fn meter_page(app: &AppState, ui: &Ui, id: Uuid, error: Option<UiError>) -> Response {
    meter_page_noted(app, ui, id, error, None).await
}

/// The meter page with what its card reader just did.
pub(super) async fn meter_page_noted(
    app: &AppState,
    ui: &Ui,
    id: Uuid,
    error: Option<UiError>,
    notice: Option<String>,
) -> Response {
    let a = ui.get(&format!("/api/v1/meters/{id}")).await;
    if !a.ok() {
        return error_page(ui, a.error(), "/ui/counter");
    }
    let meter = a.json();
    let supply = ui.get(&format!("/api/v1/meters/{id}/supply")).await.json();
    let commands = ui.get(&format!("/api/v1/meters/{id}/commands?limit=10")).await.json().list("items");
    let from = app.now() - SignedDuration::from_hours(24 * 7);
    let readings = ui
        .get(&format!("/api/v1/readings?meter_id={id}&from={}&limit=200", percent(&from.to_string())))
        .await
        .json()
        .list("items");
    let page = PageCtx::new(ui, "meter.title");
    let daily = daily_use(&readings, &ui.tz);
    let last_reading = readings.last().cloned();
    let consumption_svg =
        if daily.is_empty() { String::new() } else { chart::bars(&daily, 1000, page.t("meter.consumption")) };
    let (card, reader) = if meter.is("protocol", "ic_card") {
        let c = ui.get(&format!("/api/v1/meters/{id}/card")).await;
        let r = ui.get("/api/v1/card-reader/virtual").await;
        (c.ok().then(|| c.json()), r.ok().then(|| r.json()))
    } else {
        (None, None)
    };
    let mut r = html(&MeterPage {
        page,
        meter,
        supply,
        commands,
        last_reading,
        consumption_svg,
        key: new_key(app),
        card,
        reader,
        notice,
        reader_meter: id.to_string(),
        reader_back: format!("/ui/meters/{id}"),
        error: error.clone(),
    });
    if let Some(e) = &error {
        *r.status_mut() = ui_status(&e.code);
    }
    r
}

/// What a meter used each day (the operator's dates), in thousandths of its unit: the rise of its registers' sum between
/// consecutive billed readings, counted on the day of the later one. Flagged readings are left out, as billing
/// leaves them out.
fn daily_use(readings: &[J], tz: &jiff::tz::TimeZone) -> Vec<Point> {
    let mut days: Vec<Point> = Vec::new();
    let mut last: Option<i64> = None;
    for r in readings.iter().filter(|r| r.is("status", "billed")) {
        let total: i64 = r.list("registers").iter().map(|g| g.at("value").s("milli").parse::<i64>().unwrap_or(0)).sum();
        if let Some(prev) = last {
            let used = (total - prev).max(0);
            let day = r.when_in("at", tz).get(5..10).unwrap_or_default().to_string();
            match days.last_mut() {
                Some(p) if p.label == day => p.value += used,
                _ => days.push(Point { label: day, value: used }),
            }
        }
        last = Some(total);
    }
    days
}

/// The meter page with a refusal of one of its forms.
pub(super) async fn meter_with_error(app: &AppState, ui: &Ui, id: Uuid, error: UiError) -> Response {
    meter_page(app, ui, id, Some(error)).await
}

async fn meter(State(app): State<AppState>, ui: Ui, Path(id): Path<String>) -> Response {
    let Some(id) = uuid_ok(&id) else { return error_page(&ui, UiError::new("not_found", ""), "/ui/counter") };
    meter_page(&app, &ui, id, None).await
}

async fn meter_command(State(app): State<AppState>, ui: Ui, Path(id): Path<String>, request: Request) -> Response {
    let Some(id) = uuid_ok(&id) else { return error_page(&ui, UiError::new("not_found", ""), "/ui/counter") };
    let f = read_form(request).await;
    if !f.csrf_ok(&ui) {
        return csrf_refused(&ui);
    }
    if f.get("reason").is_empty() {
        return meter_page(&app, &ui, id, Some(UiError::new("required", "reason"))).await;
    }
    let body = json!({"kind": f.get("kind"), "reason": f.get("reason")});
    let a = ui.post(&format!("/api/v1/meters/{id}/commands"), &body, f.get("key")).await;
    if !a.ok() {
        return meter_page(&app, &ui, id, Some(a.error())).await;
    }
    see_other(&format!("/ui/meters/{id}"))
}

/// An engineer's review of a flagged reading: billing goes on from it, or the jump is billed.
async fn review_reading(State(app): State<AppState>, ui: Ui, Path(id): Path<String>, request: Request) -> Response {
    let Some(id) = uuid_ok(&id) else { return error_page(&ui, UiError::new("not_found", ""), "/ui/counter") };
    let f = read_form(request).await;
    if !f.csrf_ok(&ui) {
        return csrf_refused(&ui);
    }
    if f.get("review_reason").is_empty() {
        return meter_page(&app, &ui, id, Some(UiError::new("required", "review_reason"))).await;
    }
    let body = json!({"at": f.get("at"), "reason": f.get("review_reason"), "bill": f.get("bill") == "true"});
    let a = ui.post(&format!("/api/v1/meters/{id}/readings/rebase"), &body, f.get("key")).await;
    if !a.ok() {
        return meter_page(&app, &ui, id, Some(a.error())).await;
    }
    see_other(&format!("/ui/meters/{id}"))
}

// ---------------------------------------------------------------------------------------------------------------
// Corrections (maker-checker).

#[derive(Template)]
#[template(path = "approvals.html")]
struct ApprovalsPage {
    page: PageCtx,
    status: String,
    items: Vec<J>,
    key: String,
    error: Option<UiError>,
}

#[derive(serde::Deserialize)]
struct StatusQuery {
    status: Option<String>,
}

impl ApprovalsPage {
    pub fn showing(&self, status: &str) -> bool {
        self.status == status
    }
}

async fn approvals_page(app: &AppState, ui: &Ui, status: &str, error: Option<UiError>) -> Response {
    let status = if ["pending", "approved", "rejected", "expired"].contains(&status) { status } else { "pending" };
    let a = ui.get(&format!("/api/v1/corrections?status={status}&limit=50")).await;
    if !a.ok() {
        return error_page(ui, a.error(), "/ui/");
    }
    html_with(
        &ApprovalsPage {
            page: PageCtx::new(ui, "approvals.title"),
            status: status.into(),
            items: a.json().list("items"),
            key: new_key(app),
            error: error.clone(),
        },
        &error,
    )
}

async fn approvals(State(app): State<AppState>, ui: Ui, q: axum::extract::Query<StatusQuery>) -> Response {
    approvals_page(&app, &ui, q.0.status.as_deref().unwrap_or("pending"), None).await
}

async fn request_correction(State(app): State<AppState>, ui: Ui, request: Request) -> Response {
    let f = read_form(request).await;
    if !f.csrf_ok(&ui) {
        return csrf_refused(&ui);
    }
    let Some(sale_id) = uuid_ok(f.get("sale_id")) else {
        return error_page(&ui, UiError::new("not_found", ""), "/ui/counter");
    };
    if f.get("reason").is_empty() {
        return sale_page(&app, &ui, sale_id, Some(UiError::new("required", "reason"))).await;
    }
    let mut body = json!({"kind": "reverse_sale", "sale_id": sale_id, "reason": f.get("reason")});
    // 售电改表: the sale went to the wrong meter; the right one is named by its serial, its account follows.
    if f.get("kind") == "reallocate_sale" {
        let serial = f.get("right_meter");
        if serial.is_empty() {
            return sale_page(&app, &ui, sale_id, Some(UiError::new("required", "right_meter"))).await;
        }
        let found = ui.get(&format!("/api/v1/meters?q={}&limit=20", percent(serial))).await.json().list("items");
        let Some(m) = found.iter().find(|m| m.s("serial").eq_ignore_ascii_case(serial) && m.has("account_id")) else {
            return sale_page(&app, &ui, sale_id, Some(UiError::new("not_found", "right_meter"))).await;
        };
        body = json!({
            "kind": "reallocate_sale",
            "sale_id": sale_id,
            "account_id": m.s("account_id"),
            "meter_id": m.s("id"),
            "reason": f.get("reason"),
        });
    }
    let a = ui.post("/api/v1/corrections", &body, f.get("key")).await;
    if !a.ok() {
        let mut e = a.error();
        if e.field == "meter_id" || e.field == "account_id" {
            e.field = "right_meter".into();
        }
        return sale_page(&app, &ui, sale_id, Some(e)).await;
    }
    see_other("/ui/approvals")
}

async fn decide(
    State(app): State<AppState>,
    ui: Ui,
    Path((id, decision)): Path<(String, String)>,
    request: Request,
) -> Response {
    let f = read_form(request).await;
    if !f.csrf_ok(&ui) {
        return csrf_refused(&ui);
    }
    let (Some(id), true) = (uuid_ok(&id), decision == "approve" || decision == "reject") else {
        return error_page(&ui, UiError::new("not_found", ""), "/ui/approvals");
    };
    let a =
        ui.post(&format!("/api/v1/corrections/{id}/{decision}"), &json!({"note": f.get("note")}), f.get("key")).await;
    if !a.ok() {
        let tab = f.opt("status").unwrap_or("pending");
        return approvals_page(&app, &ui, tab, Some(a.error())).await;
    }
    see_other("/ui/approvals")
}

// ---------------------------------------------------------------------------------------------------------------
// Reports and the audit trail.

#[derive(Template)]
#[template(path = "reports.html")]
struct ReportsPage {
    page: PageCtx,
    from: String,
    to: String,
    group_by: String,
    summary: Option<J>,
    error: Option<UiError>,
}

#[derive(serde::Deserialize)]
struct ReportForm {
    from: Option<String>,
    to: Option<String>,
    group_by: Option<String>,
}

/// A date field (`2026-12-01`) as the start of that day in UTC; the report's days are counted in the
/// premises' time zone by the API.
pub(super) fn day_start(tz: &jiff::tz::TimeZone, date: &str) -> Option<Timestamp> {
    let d: jiff::civil::Date = date.parse().ok()?;
    d.to_zoned(tz.clone()).ok().map(|z| z.timestamp())
}

async fn reports(State(app): State<AppState>, ui: Ui, q: axum::extract::Query<ReportForm>) -> Response {
    let page = PageCtx::new(&ui, "reports.title");
    let today = app.now().to_zoned(ui.tz.clone()).date();
    let from = q.0.from.clone().filter(|s| !s.is_empty()).unwrap_or_else(|| today.first_of_month().to_string());
    let to =
        q.0.to
            .clone()
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| today.tomorrow().map(|d| d.to_string()).unwrap_or_default());
    let group_by = q.0.group_by.clone().unwrap_or_else(|| "day".into());
    let (mut summary, mut error) = (None, None);
    match (day_start(&ui.tz, &from), day_start(&ui.tz, &to)) {
        (Some(f), Some(t)) => {
            let path = format!(
                "/api/v1/reports/sales?group_by={}&from={}&to={}",
                percent(&group_by),
                percent(&f.to_string()),
                percent(&t.to_string())
            );
            let a = ui.get(&path).await;
            if a.status == StatusCode::FORBIDDEN {
                return error_page(&ui, a.error(), "/ui/");
            }
            if a.ok() {
                summary = Some(a.json());
            } else {
                error = Some(a.error());
            }
        }
        (None, _) => error = Some(UiError::new("bad_request", "from")),
        (_, None) => error = Some(UiError::new("bad_request", "to")),
    }
    html_with(&ReportsPage { page, from, to, group_by, summary, error: error.clone() }, &error)
}

impl ReportsPage {
    pub fn grouped_by(&self, g: &str) -> bool {
        self.group_by == g
    }

    /// An export link of the sales report in `format`, for the period shown.
    pub fn export(&self, report: &str, format: &str) -> String {
        let f = day_start(&self.page.tz, &self.from).map(|t| t.to_string()).unwrap_or_default();
        let t = day_start(&self.page.tz, &self.to).map(|t| t.to_string()).unwrap_or_default();
        let mut link = format!("/api/v1/reports/{report}?format={format}&from={}&to={}", percent(&f), percent(&t));
        if report == "sales" {
            link.push_str(&format!("&group_by={}", percent(&self.group_by)));
        }
        if format == "pdf" {
            link.push_str(&format!("&lang={}", self.page.tag()));
        }
        link
    }

    /// An export of a report that takes no period.
    pub fn plain_export(&self, report: &str, format: &str) -> String {
        let mut link = format!("/api/v1/reports/{report}?format={format}");
        if format == "pdf" {
            link.push_str(&format!("&lang={}", self.page.tag()));
        }
        link
    }

    pub fn balances_export(&self, format: &str) -> String {
        let mut link = format!("/api/v1/reports/balances?kind=arrears&format={format}");
        if format == "pdf" {
            link.push_str(&format!("&lang={}", self.page.tag()));
        }
        link
    }
}

#[derive(Template)]
#[template(path = "audit.html")]
struct AuditPage {
    page: PageCtx,
    action: String,
    subject: String,
    from: String,
    to: String,
    items: Vec<J>,
    next: String,
    error: Option<UiError>,
}

#[derive(serde::Deserialize)]
struct AuditForm {
    action: Option<String>,
    subject: Option<String>,
    from: Option<String>,
    to: Option<String>,
    after: Option<String>,
}

async fn audit(ui: Ui, q: axum::extract::Query<AuditForm>) -> Response {
    let page = PageCtx::new(&ui, "audit.title");
    let action = q.0.action.clone().unwrap_or_default();
    let subject = q.0.subject.clone().unwrap_or_default();
    let (from, to) = (q.0.from.clone().unwrap_or_default(), q.0.to.clone().unwrap_or_default());
    let mut path = "/api/v1/audit?limit=50".to_string();
    // Dates are whole days in the operator's time zone.
    let day = |d: &str| {
        d.parse::<jiff::civil::Date>()
            .ok()
            .and_then(|d| d.to_zoned(ui.tz.clone()).ok())
            .map(|z| z.timestamp().to_string())
    };
    for (k, v) in [("from", from.clone()), ("to", to.clone())] {
        if v.is_empty() {
            continue;
        }
        match day(&v) {
            Some(t) => path.push_str(&format!("&{k}={}", percent(&t))),
            None => {
                let error = Some(UiError::new("bad_request", k));
                let next = String::new();
                return html_with(
                    &AuditPage { page, action, subject, from, to, items: Vec::new(), next, error: error.clone() },
                    &error,
                );
            }
        }
    }
    for (k, v) in [("action", &action), ("subject", &subject), ("after", &q.0.after.clone().unwrap_or_default())] {
        if !v.trim().is_empty() {
            path.push_str(&format!("&{k}={}", percent(v.trim())));
        }
    }
    let a = ui.get(&path).await;
    if a.status == StatusCode::FORBIDDEN {
        return error_page(&ui, a.error(), "/ui/");
    }
    let (items, next, error) = if a.ok() {
        let j = a.json();
        (j.list("items"), j.s("next"), None)
    } else {
        (Vec::new(), String::new(), Some(a.error()))
    };
    html_with(&AuditPage { page, action, subject, from, to, items, next, error: error.clone() }, &error)
}

impl AuditPage {
    pub fn next_link(&self) -> String {
        format!(
            "/ui/audit?action={}&subject={}&from={}&to={}&after={}",
            percent(&self.action),
            percent(&self.subject),
            percent(&self.from),
            percent(&self.to),
            percent(&self.next)
        )
    }
}
