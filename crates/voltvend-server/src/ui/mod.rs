//! The operator web UI, `/ui/…`: server-rendered pages (askama templates in `templates/`), every string from
//! the message catalogues of [`i18n`], every asset served by this binary, no inline script (the strict CSP of
//! [`crate::http`] holds for the UI too).
//!
//! The UI is a client of the JSON API that runs in the same process (docs/adr/0004): every page reads what it
//! shows, and every form does what it does, by calling an `/api/v1` endpoint with the operator's own session
//! cookie, CSRF token and an `Idempotency-Key` made when the form was drawn. So a page can show or do nothing
//! the API would refuse the operator — the same permission, the same premises scope, the same validation, the
//! same refusal codes — and a double click replays the first answer instead of selling twice.

use std::net::SocketAddr;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde_json::Value;
use tower::ServiceExt;

use crate::api::auth::{self, Principal, Via};
use crate::http::AppState;

mod apportion;
mod cards;
pub mod chart;
mod energy;
mod fees;
pub mod i18n;
mod office;
mod pages;
pub mod pay;

pub use i18n::Lang;

/// The cookie that remembers the operator's language on this browser until they log in (after that the
/// operator's own choice, kept with the operator, wins).
pub const LANG_COOKIE: &str = "vv_lang";

/// The JSON API as a service the UI calls in-process.
#[derive(Clone)]
pub struct ApiService(pub Router);

impl std::fmt::Debug for ApiService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ApiService")
    }
}

/// The UI's routes. `api` is the JSON API router with its state, called in-process.
pub fn router(api: Router) -> Router<AppState> {
    pages::routes().merge(pay::routes()).layer(axum::Extension(ApiService(api)))
}

/// What an API call answered.
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub content_type: String,
    pub body: Bytes,
}

impl Answer {
    pub fn ok(&self) -> bool {
        self.status.is_success()
    }

    pub fn json(&self) -> J {
        J(serde_json::from_slice(&self.body).unwrap_or(Value::Null))
    }

    /// The API's error: its code and the field it names, if any.
    pub fn error(&self) -> UiError {
        let j = self.json();
        let code = j.s("code");
        UiError {
            code: if code.is_empty() { format!("http_{}", self.status.as_u16()) } else { code },
            field: j.at("details").s("field"),
            message: j.s("message"),
        }
    }
}

/// A refusal to show the operator: a code the catalogue explains, and the form field it belongs next to.
#[derive(Debug, Clone, Default)]
pub struct UiError {
    pub code: String,
    pub field: String,
    /// The API's own (English) message, shown as a detail under the translated one.
    pub message: String,
}

impl UiError {
    pub fn new(code: &str, field: &str) -> Self {
        Self { code: code.into(), field: field.into(), message: String::new() }
    }
}

/// An operator's request to the UI: who, in which language, and how to reach the API as them.
#[derive(Debug, Clone)]
pub struct Ui {
    pub principal: Principal,
    pub lang: Lang,
    /// The request's path and query (where to come back after a login).
    pub here: String,
    /// The time zone of the operator's premises: times are shown in it.
    pub tz: jiff::tz::TimeZone,
    cookie: HeaderValue,
    peer: Option<ConnectInfo<SocketAddr>>,
    api: ApiService,
}

impl Ui {
    pub fn csrf(&self) -> &str {
        match &self.principal.via {
            Via::Session { csrf, .. } => csrf,
            Via::Token { .. } => "",
        }
    }

    /// Calls the API as this operator. `key` is the form's idempotency key for writes.
    pub async fn call(&self, method: Method, path: &str, body: Option<&Value>, key: Option<&str>) -> Answer {
        let mut builder = Request::builder().method(method).uri(path).header(header::COOKIE, self.cookie.clone());
        builder = builder.header(auth::CSRF_HEADER, self.csrf());
        if let Some(k) = key {
            builder = builder.header("idempotency-key", k);
        }
        let body = match body {
            Some(v) => {
                builder = builder.header(header::CONTENT_TYPE, "application/json");
                Body::from(serde_json::to_vec(v).unwrap_or_default())
            }
            None => Body::empty(),
        };
        let mut request = match builder.body(body) {
            Ok(r) => r,
            Err(e) => return internal_answer(&e.to_string()),
        };
        if let Some(peer) = self.peer {
            request.extensions_mut().insert(peer);
        }
        let response = match self.api.0.clone().oneshot(request).await {
            Ok(r) => r,
            Err(e) => match e {},
        };
        let status = response.status();
        let content_type =
            response.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
        match axum::body::to_bytes(response.into_body(), usize::MAX).await {
            Ok(body) => Answer { status, content_type, body },
            Err(e) => internal_answer(&e.to_string()),
        }
    }

    pub async fn get(&self, path: &str) -> Answer {
        self.call(Method::GET, path, None, None).await
    }

    pub async fn post(&self, path: &str, body: &Value, key: &str) -> Answer {
        self.call(Method::POST, path, Some(body), Some(key)).await
    }
}

fn internal_answer(message: &str) -> Answer {
    tracing::error!(error = message, "the UI could not call the API");
    let body = serde_json::json!({"code": "internal", "message": message, "details": {}});
    Answer {
        status: StatusCode::INTERNAL_SERVER_ERROR,
        content_type: "application/json".into(),
        body: Bytes::from(serde_json::to_vec(&body).unwrap_or_default()),
    }
}

/// The language a request asks for before anyone is logged in: the cookie, else the browser's first choice
/// of the two, else Chinese (the source system's users).
pub fn requested_lang(headers: &HeaderMap) -> Lang {
    if let Some(l) = cookie(headers, LANG_COOKIE).and_then(|v| Lang::parse(&v)) {
        return l;
    }
    let accept = headers.get(header::ACCEPT_LANGUAGE).and_then(|v| v.to_str().ok()).unwrap_or_default();
    for part in accept.split(',') {
        let tag = part.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
        if tag.starts_with("zh") {
            return Lang::ZhCn;
        }
        if tag.starts_with("en") {
            return Lang::En;
        }
    }
    Lang::ZhCn
}

fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|text| text.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(n, _)| n.trim() == name)
        .map(|(_, v)| v.trim().to_string())
}

/// Where the login page sends the operator back to: only a path of this UI (never another site).
pub fn safe_next(next: &str) -> String {
    let path = next.split(['?', '#']).next().unwrap_or_default().to_ascii_lowercase();
    let ok = next.starts_with("/ui/")
        && !next.starts_with("//")
        && !next.contains('\\')
        && !path.split('/').any(|seg| seg == "." || seg == "..")
        && !path.contains("%2e")
        && !path.contains("%2f")
        && next.bytes().all(|b| (0x21..=0x7E).contains(&b));
    if ok { next.to_string() } else { "/ui/".to_string() }
}

/// Not logged in (or the session ended): to the login page, and back here after it.
#[derive(Debug)]
pub struct LoginFirst(String);

impl IntoResponse for LoginFirst {
    fn into_response(self) -> Response {
        let target = format!("/ui/login?next={}", percent(&self.0));
        Redirect::to(&target).into_response()
    }
}

/// `?period=YYYY-MM` of a page showing one month.
#[derive(serde::Deserialize)]
pub(crate) struct PeriodQuery {
    pub period: Option<String>,
}

/// A month as the API shows it at `path`, or why it cannot be shown.
pub(crate) async fn month_at(ui: &Ui, path: &str) -> (Option<J>, Option<UiError>) {
    let m = ui.get(path).await;
    if m.ok() { (Some(m.json()), None) } else { (None, Some(m.error())) }
}

/// Percent-encodes one path segment (RFC 3986: everything but the unreserved characters).
pub fn segment(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => char::from(b).to_string(),
            other => format!("%{other:02X}"),
        })
        .collect()
}

/// Percent-encodes a query value.
pub fn percent(text: &str) -> String {
    form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

impl FromRequestParts<AppState> for Ui {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let here = parts.uri.path_and_query().map_or_else(|| "/ui/".to_string(), |p| p.as_str().to_string());
        // After a login the page asked for is shown again; a form that was posted is not (its page is).
        let back = if parts.method == Method::GET { here.clone() } else { referer_path(&parts.headers) };
        let api = parts
            .extensions
            .get::<ApiService>()
            .cloned()
            .ok_or_else(|| StatusCode::INTERNAL_SERVER_ERROR.into_response())?;
        // The UI knows only the session cookie: a bearer token is for programs, not for pages.
        let Some(token) = auth::session_cookie(&parts.headers) else { return Err(LoginFirst(back).into_response()) };
        let cookie = HeaderValue::from_str(&format!("{}={token}", auth::SESSION_COOKIE))
            .map_err(|_| LoginFirst(back.clone()).into_response())?;
        let mut headers = HeaderMap::new();
        headers.insert(header::COOKIE, cookie.clone());
        let principal = match state.api.auth.authenticate(state.store.as_ref(), &headers, state.now()).await {
            Ok(Some(p)) => p,
            _ => return Err(LoginFirst(back).into_response()),
        };
        if parts.method != Method::GET && !same_origin(&parts.headers) {
            return Err(StatusCode::FORBIDDEN.into_response());
        }
        let lang = principal_lang(&principal, &parts.headers);
        // A page drawn in answer to a form is "here" as the page the form was on (a GET can show it again).
        let here = if parts.method == Method::GET { here } else { back };
        let peer = parts.extensions.get::<ConnectInfo<SocketAddr>>().copied();
        let tz = match state.premises(principal.scope()).await {
            Ok(p) => jiff::tz::TimeZone::get(&p.time_zone).unwrap_or(jiff::tz::TimeZone::UTC),
            Err(_) => jiff::tz::TimeZone::UTC,
        };
        Ok(Ui { principal, lang, here, tz, cookie, peer, api })
    }
}

/// The operator's language: their saved choice, else what the browser asked for.
fn principal_lang(p: &Principal, headers: &HeaderMap) -> Lang {
    p.operator.language.as_deref().and_then(Lang::parse).unwrap_or_else(|| requested_lang(headers))
}

/// The path of the page a form was posted from (same site only), to return to after a login.
fn referer_path(headers: &HeaderMap) -> String {
    let referer = headers.get(header::REFERER).and_then(|v| v.to_str().ok()).unwrap_or_default();
    let path = referer.find("/ui/").and_then(|i| referer.get(i..)).unwrap_or("/ui/");
    safe_next(path)
}

/// A form posted from another site is refused even before its CSRF token is checked: browsers say where a
/// request comes from (`Sec-Fetch-Site`, `Origin`), and a page of this server says it is its own.
pub fn same_origin(headers: &HeaderMap) -> bool {
    if let Some(site) = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()) {
        return matches!(site, "same-origin" | "none");
    }
    match (headers.get(header::ORIGIN), headers.get(header::HOST)) {
        (Some(origin), Some(host)) => {
            let origin = origin.to_str().unwrap_or_default();
            let host = host.to_str().unwrap_or_default();
            origin.split_once("://").is_some_and(|(_, rest)| rest == host)
        }
        // Programs without an Origin header (tests, curl) still need the CSRF token of the session.
        _ => true,
    }
}

/// A posted form: its fields (the last value of a repeated name wins).
#[derive(Debug, Default)]
pub struct Form(Vec<(String, String)>);

impl Form {
    pub fn parse(bytes: &[u8]) -> Self {
        Self(form_urlencoded::parse(bytes).map(|(k, v)| (k.into_owned(), v.into_owned())).collect())
    }

    /// A field as sent (a password is not trimmed); the last of a repeated name.
    pub fn raw(&self, name: &str) -> &str {
        self.0.iter().rev().find(|(k, _)| k == name).map_or("", |(_, v)| v.as_str())
    }

    /// A field, trimmed.
    pub fn get(&self, name: &str) -> &str {
        self.raw(name).trim()
    }

    /// Every field, in the order sent.
    pub fn fields(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// Every value of a repeated field (ticked boxes), in the order sent.
    pub fn all(&self, name: &str) -> Vec<String> {
        self.0.iter().filter(|(k, _)| k == name).map(|(_, v)| v.clone()).collect()
    }

    /// The field, or `None` when empty.
    pub fn opt(&self, name: &str) -> Option<&str> {
        Some(self.get(name)).filter(|v| !v.is_empty())
    }

    /// Whether the form carries the session's CSRF token.
    pub fn csrf_ok(&self, ui: &Ui) -> bool {
        let given = self.get("csrf");
        !ui.csrf().is_empty() && auth::same(given.as_bytes(), ui.csrf().as_bytes())
    }
}

/// A JSON value as templates read it: every lookup is total (missing is empty), so a page never fails on
/// an answer's shape.
#[derive(Debug, Clone, Default)]
pub struct J(pub Value);

impl J {
    pub fn at(&self, key: &str) -> J {
        J(self.0.get(key).cloned().unwrap_or(Value::Null))
    }

    /// A field as text: strings as they are, numbers and booleans printed, null and missing empty.
    pub fn s(&self, key: &str) -> String {
        text(self.0.get(key).unwrap_or(&Value::Null))
    }

    pub fn text(&self) -> String {
        text(&self.0)
    }

    pub fn list(&self, key: &str) -> Vec<J> {
        self.0.get(key).and_then(Value::as_array).map(|a| a.iter().cloned().map(J).collect()).unwrap_or_default()
    }

    pub fn has(&self, key: &str) -> bool {
        self.0.get(key).is_some_and(|v| !v.is_null())
    }

    pub fn is(&self, key: &str, value: &str) -> bool {
        self.s(key) == value
    }

    /// A money field (`{amount, currency}`) as "50.00 CNY".
    pub fn money(&self, key: &str) -> String {
        let m = self.at(key);
        if m.0.is_null() { String::new() } else { format!("{} {}", m.s("amount"), m.s("currency")) }
    }

    /// A quantity field (`{amount, unit}`) as "12.500 kWh".
    pub fn qty(&self, key: &str) -> String {
        let q = self.at(key);
        if q.0.is_null() { String::new() } else { format!("{} {}", q.s("amount"), q.s("unit")) }
    }

    /// A timestamp field shown to the minute in `tz` ("2026-12-04 17:30"); as given if it is not one.
    pub fn when_in(&self, key: &str, tz: &jiff::tz::TimeZone) -> String {
        let t = self.s(key);
        match t.parse::<jiff::Timestamp>() {
            Ok(at) => at.to_zoned(tz.clone()).strftime("%Y-%m-%d %H:%M").to_string(),
            Err(_) => t,
        }
    }
}

/// A `J` however the template holds it (a value of a `let`, a reference of a loop).
pub trait AsJ {
    fn as_j(&self) -> &J;
}

impl AsJ for J {
    fn as_j(&self) -> &J {
        self
    }
}

impl<T: AsJ + ?Sized> AsJ for &T {
    fn as_j(&self) -> &J {
        (**self).as_j()
    }
}

fn text(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// A 20-digit token grouped 4-4-4-4-4 for reading aloud and typing; other tokens as they are.
pub fn group_token(token: &str) -> String {
    if token.len() == 20 && token.bytes().all(|b| b.is_ascii_digit()) {
        let chunks: Vec<&str> = (0..5).filter_map(|i| token.get(i * 4..i * 4 + 4)).collect();
        chunks.join(" ")
    } else {
        token.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_never_leaves_the_ui() {
        assert_eq!(safe_next("/ui/accounts/1?x=2"), "/ui/accounts/1?x=2");
        for bad in [
            "https://evil.example/ui/",
            "//evil.example/ui/",
            "/ui/\\evil",
            "/api/v1/sales",
            "",
            "/ui/ x",
            "/ui/../api/v1/sales",
            "/ui/%2e%2e/api",
            "/ui/./x/../../api",
        ] {
            assert_eq!(safe_next(bad), "/ui/", "{bad}");
        }
    }

    #[test]
    fn path_segments_are_encoded_whole() {
        assert_eq!(segment("cn-zh_1.0~"), "cn-zh_1.0~");
        assert_eq!(segment("a b/c?d#e%+"), "a%20b%2Fc%3Fd%23e%25%2B");
        assert_eq!(segment("电"), "%E7%94%B5");
    }

    #[test]
    fn tokens_group_in_fours() {
        assert_eq!(group_token("12345678901234567890"), "1234 5678 9012 3456 7890");
        assert_eq!(group_token("123456789"), "123456789");
    }

    #[test]
    fn cross_site_posts_are_recognised() {
        let mut h = HeaderMap::new();
        h.insert("sec-fetch-site", HeaderValue::from_static("cross-site"));
        assert!(!same_origin(&h));
        let mut h = HeaderMap::new();
        h.insert(header::ORIGIN, HeaderValue::from_static("http://evil.example"));
        h.insert(header::HOST, HeaderValue::from_static("127.0.0.1:8080"));
        assert!(!same_origin(&h));
        h.insert(header::ORIGIN, HeaderValue::from_static("http://127.0.0.1:8080"));
        assert!(same_origin(&h));
    }

    #[test]
    fn languages_from_the_browser() {
        let mut h = HeaderMap::new();
        h.insert(header::ACCEPT_LANGUAGE, HeaderValue::from_static("en-GB,en;q=0.9,zh;q=0.8"));
        assert_eq!(requested_lang(&h), Lang::En);
        h.insert(header::COOKIE, HeaderValue::from_static("vv_lang=zh-CN"));
        assert_eq!(requested_lang(&h), Lang::ZhCn);
    }
}
