//! The office pages: customer files and account actions, operators, the premises tree, key campaigns.
//! Like every page, each reads and writes only through the API as the operator (ADR 0004).

use askama::Template;
use axum::Router;
use axum::extract::{Path, Request, State};
use axum::http::Method;
use axum::response::Response;
use axum::routing::{get, post};
use serde_json::{Value, json};
use uuid::Uuid;

use super::pages::{PageCtx, csrf_refused, error_page, html_with, new_key, read_form, see_other, uuid_ok};
use super::{Form, J, Ui, UiError, percent};
use crate::http::AppState;
use voltvend_domain::Permission;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/ui/customers/{id}/file", get(customer_file).post(update_customer))
        .route("/ui/accounts/{id}/status", post(account_status))
        .route("/ui/accounts/{id}/correction", post(account_correction))
        .route("/ui/accounts/{id}/fee-payments/{payment}/reverse", post(fee_payment_reverse))
        .route("/ui/accounts/{id}/history", get(account_history))
        .route("/ui/operators", get(operators).post(create_operator))
        .route("/ui/operators/{id}", get(operator).post(update_operator))
        .route("/ui/operators/{id}/password", post(reset_password))
        .route("/ui/operators/{id}/unlock", post(unlock_operator))
        .route("/ui/premises", get(premises))
        .route("/ui/campaigns", get(campaigns).post(plan_campaign))
        .route("/ui/tariffs", get(tariffs))
        .route("/ui/open", get(open_account_form).post(open_account))
        .route("/ui/refunds", get(refunds))
        .route("/ui/payments", get(payments))
        .route("/ui/payments/{id}/query", post(query_payment))
        .route(
            "/ui/payments/statements",
            get(statements)
                .post(import_statement)
                .layer(axum::extract::DefaultBodyLimit::max(STATEMENT_UPLOAD_MAX_BYTES)),
        )
        .route("/ui/refunds/{id}", post(refund))
        .route("/ui/refunds/{id}/credit", post(credit_refused))
        .route("/ui/accounts/{id}/arrears", post(enter_arrears))
        .route("/ui/meters/{id}/returns", post(record_return))
        .route("/ui/roles", post(create_role))
        .route("/ui/accounts/{id}/close", post(close_account))
        .route("/ui/accounts/{id}/billing-mode", post(billing_mode))
        .route("/ui/meters/{id}/replace", post(replace_meter))
        .route("/ui/accounts/{id}/transfer", post(transfer_account))
        .route("/ui/meters/{id}/sts-tokens", post(sts_tokens))
        .route("/ui/meters/{id}/openpaygo-tokens", post(openpaygo_token))
        .route("/ui/stock", get(stock).post(receive_meter))
        .route("/ui/admin", get(admin))
        .route("/ui/admin/{action}", post(admin_action))
        .route("/ui/tariffs/{code}", get(tariff).post(tariff_action))
}

/// The id in the path and the form posted about it, its CSRF token checked; `Err` is the answer to give (an id
/// that names nothing is not found, whatever the form says).
async fn posted_to(ui: &Ui, id: &str, request: Request, back: &str) -> Result<(Uuid, Form), Response> {
    let Some(id) = uuid_ok(id) else { return Err(error_page(ui, UiError::new("not_found", ""), back)) };
    Ok((id, checked_form(ui, request).await?))
}

/// Reads a form and checks its CSRF token; `Err` is the refusal to answer with.
async fn checked_form(ui: &Ui, request: Request) -> Result<Form, Response> {
    let f = read_form(request).await;
    if f.csrf_ok(ui) { Ok(f) } else { Err(csrf_refused(ui)) }
}

// ---------------------------------------------------------------------------------------------------------------
// The customer file (修改资料) and its history.

#[derive(Template)]
#[template(path = "customer_file.html")]
struct CustomerFilePage {
    page: PageCtx,
    customer: J,
    accounts: Vec<J>,
    /// The file's history (audit records).
    items: Vec<J>,
    /// The form as typed, after a refusal.
    form: Option<CustomerForm>,
    key: String,
    error: Option<UiError>,
}

/// The customer form's fields.
#[derive(Debug, Clone, Default)]
pub struct CustomerForm {
    pub kind: String,
    pub name: String,
    pub id_kind: String,
    pub id_number: String,
    pub phones: String,
    pub email: String,
}

impl CustomerForm {
    fn of(c: &J) -> Self {
        let doc = c.at("id_document");
        Self {
            kind: c.s("kind"),
            name: c.s("name"),
            id_kind: doc.s("kind"),
            id_number: doc.s("number"),
            phones: c.list("phones").iter().map(J::text).collect::<Vec<_>>().join(" "),
            email: c.s("email"),
        }
    }

    fn from_form(f: &Form) -> Self {
        Self {
            kind: f.get("kind").into(),
            name: f.get("name").into(),
            id_kind: f.get("id_kind").into(),
            id_number: f.get("id_number").into(),
            phones: f.get("phones").into(),
            email: f.get("email").into(),
        }
    }

    /// The API's `CustomerInput`: phones separated by spaces, commas or semicolons.
    fn input(&self) -> Value {
        let phones: Vec<&str> =
            self.phones.split([' ', ',', ';', '，', '；']).map(str::trim).filter(|p| !p.is_empty()).collect();
        let mut c = serde_json::Map::new();
        c.insert("kind".into(), json!(if self.kind.is_empty() { "person" } else { self.kind.as_str() }));
        c.insert("name".into(), json!(self.name));
        c.insert("phones".into(), json!(phones));
        if !self.email.is_empty() {
            c.insert("email".into(), json!(self.email));
        }
        if !self.id_number.is_empty() {
            c.insert("id_document".into(), json!({"kind": self.id_kind, "number": self.id_number}));
        }
        Value::Object(c)
    }

    pub fn kind_is(&self, k: &str) -> bool {
        self.kind == k
    }

    pub fn id_kind_is(&self, k: &str) -> bool {
        self.id_kind == k
    }
}

async fn customer_file_page(
    app: &AppState,
    ui: &Ui,
    id: Uuid,
    form: Option<CustomerForm>,
    error: Option<UiError>,
) -> Response {
    let a = ui.get(&format!("/api/v1/customers/{id}")).await;
    if !a.ok() {
        return error_page(ui, a.error(), "/ui/counter");
    }
    let customer = a.json();
    let accounts = ui.get(&format!("/api/v1/accounts?customer_id={id}&limit=50")).await.json().list("items");
    let history = ui.get(&format!("/api/v1/customers/{id}/history?limit=20")).await.json().list("items");
    let form = form.or_else(|| Some(CustomerForm::of(&customer)));
    let page = CustomerFilePage {
        page: PageCtx::new(ui, "customer.title"),
        customer,
        accounts,
        items: history,
        form,
        key: new_key(app),
        error: error.clone(),
    };
    html_with(&page, &error)
}

async fn customer_file(State(app): State<AppState>, ui: Ui, Path(id): Path<String>) -> Response {
    let Some(id) = uuid_ok(&id) else { return error_page(&ui, UiError::new("not_found", ""), "/ui/counter") };
    customer_file_page(&app, &ui, id, None, None).await
}

async fn update_customer(State(app): State<AppState>, ui: Ui, Path(id): Path<String>, request: Request) -> Response {
    let (id, f) = match posted_to(&ui, &id, request, "/ui/counter").await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let form = CustomerForm::from_form(&f);
    if f.get("reason").is_empty() {
        return customer_file_page(&app, &ui, id, Some(form), Some(UiError::new("required", "reason"))).await;
    }
    let body = json!({"customer": form.input(), "reason": f.get("reason")});
    let a = ui.call(Method::PUT, &format!("/api/v1/customers/{id}"), Some(&body), Some(f.get("key"))).await;
    if !a.ok() {
        let mut e = a.error();
        // The API names the fields of the file as `customer.<field>`.
        e.field = e.field.trim_start_matches("customer.").to_string();
        return customer_file_page(&app, &ui, id, Some(form), Some(e)).await;
    }
    see_other(&format!("/ui/customers/{id}/file"))
}

// ---------------------------------------------------------------------------------------------------------------
// Account actions: 报停/复电, wallet adjustments and write-offs (maker-checker), the account's history.

async fn account_status(State(app): State<AppState>, ui: Ui, Path(id): Path<String>, request: Request) -> Response {
    let (id, f) = match posted_to(&ui, &id, request, "/ui/counter").await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let action = f.get("action");
    if action != "suspend" && action != "resume" {
        return error_page(&ui, UiError::new("bad_value", "action"), &format!("/ui/accounts/{id}"));
    }
    if f.get("reason").is_empty() {
        return super::pages::account_with_error(&app, &ui, id, UiError::new("required", "status_reason")).await;
    }
    let a =
        ui.post(&format!("/api/v1/accounts/{id}/{action}"), &json!({"reason": f.get("reason")}), f.get("key")).await;
    if !a.ok() {
        let mut e = a.error();
        if e.field == "reason" {
            e.field = "status_reason".into();
        }
        return super::pages::account_with_error(&app, &ui, id, e).await;
    }
    see_other(&format!("/ui/accounts/{id}"))
}

async fn account_correction(State(app): State<AppState>, ui: Ui, Path(id): Path<String>, request: Request) -> Response {
    let (id, f) = match posted_to(&ui, &id, request, "/ui/counter").await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let kind = f.get("kind");
    if !["adjust", "write_off", "adjust_charge"].contains(&kind) {
        return error_page(&ui, UiError::new("bad_value", "kind"), &format!("/ui/accounts/{id}"));
    }
    let mut fields = vec!["correction_amount", "correction_reason"];
    if kind == "adjust_charge" {
        fields.push("correction_charge");
    }
    for field in fields {
        if f.get(field).is_empty() {
            return super::pages::account_with_error(&app, &ui, id, UiError::new("required", field)).await;
        }
    }
    // A charge as the page lists it: "<schedule>/<YYYY-MM>".
    let charge = match (kind, f.get("correction_charge").split_once('/')) {
        ("adjust_charge", None) => {
            return super::pages::account_with_error(&app, &ui, id, UiError::new("bad_value", "correction_charge"))
                .await;
        }
        ("adjust_charge", Some((schedule, period))) => Some((schedule, period)),
        _ => None,
    };
    let body = json!({
        "kind": kind,
        "account_id": id,
        "amount": f.get("correction_amount"),
        "reason": f.get("correction_reason"),
        "schedule_id": charge.map(|(s, _)| s),
        "period": charge.map(|(_, p)| p),
    });
    let a = ui.post("/api/v1/corrections", &body, f.get("key")).await;
    if !a.ok() {
        let mut e = a.error();
        if e.field == "amount" || e.field == "reason" {
            e.field = format!("correction_{}", e.field);
        } else if e.field == "schedule_id" || e.field == "period" {
            e.field = "correction_charge".into();
        }
        return super::pages::account_with_error(&app, &ui, id, e).await;
    }
    see_other("/ui/approvals")
}

/// 收费纠错: ask for a payment of rent, fees or bills to be taken back (another operator approves).
async fn fee_payment_reverse(
    State(app): State<AppState>,
    ui: Ui,
    Path((id, payment)): Path<(String, String)>,
    request: Request,
) -> Response {
    let (id, f) = match posted_to(&ui, &id, request, "/ui/counter").await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let Some(payment) = uuid_ok(&payment) else {
        return error_page(&ui, UiError::new("not_found", ""), &format!("/ui/accounts/{id}"));
    };
    if f.get("fee_reverse_reason").is_empty() {
        return super::pages::account_with_error(&app, &ui, id, UiError::new("required", "fee_reverse_reason")).await;
    }
    let body = json!({"kind": "reverse_fee_payment", "fee_payment_id": payment, "reason": f.get("fee_reverse_reason")});
    let a = ui.post("/api/v1/corrections", &body, f.get("key")).await;
    if !a.ok() {
        let mut e = a.error();
        if e.field == "reason" {
            e.field = "fee_reverse_reason".into();
        }
        return super::pages::account_with_error(&app, &ui, id, e).await;
    }
    see_other("/ui/approvals")
}

#[derive(Template)]
#[template(path = "history.html")]
struct HistoryPage {
    page: PageCtx,
    back: String,
    items: Vec<J>,
}

async fn account_history(ui: Ui, Path(id): Path<String>) -> Response {
    let Some(id) = uuid_ok(&id) else { return error_page(&ui, UiError::new("not_found", ""), "/ui/counter") };
    let a = ui.get(&format!("/api/v1/accounts/{id}/history?limit=100")).await;
    if !a.ok() {
        return error_page(&ui, a.error(), "/ui/counter");
    }
    let page = HistoryPage {
        page: PageCtx::new(&ui, "history.title"),
        back: format!("/ui/accounts/{id}"),
        items: a.json().list("items"),
    };
    html_with(&page, &None)
}

// ---------------------------------------------------------------------------------------------------------------
// Operators, roles and scopes.

#[derive(Template)]
#[template(path = "operators.html")]
struct OperatorsPage {
    page: PageCtx,
    operators: Vec<J>,
    roles: Vec<J>,
    scopes: Vec<J>,
    next: String,
    form: OperatorForm,
    key: String,
    error: Option<UiError>,
}

#[derive(Debug, Clone, Default)]
pub struct OperatorForm {
    pub username: String,
    pub display_name: String,
    pub role: String,
    pub scope_id: String,
}

impl OperatorsPage {
    /// Every permission there is, for a custom role's boxes.
    pub fn all_permissions(&self) -> Vec<&'static str> {
        Permission::ALL.iter().map(|p| p.as_str()).collect()
    }
}

impl OperatorForm {
    pub fn role_is(&self, r: &str) -> bool {
        self.role == r
    }

    pub fn scope_is(&self, s: &str) -> bool {
        self.scope_id == s
    }
}

/// The premises an operator may be scoped to: one's own scope and the nodes above the units within it.
async fn scopes(ui: &Ui) -> Vec<J> {
    let mut out = Vec::new();
    for level in ["group", "property", "building"] {
        out.extend(ui.get(&format!("/api/v1/premises?level={level}&limit=200")).await.json().list("items"));
    }
    out
}

async fn operators_page(app: &AppState, ui: &Ui, after: &str, form: OperatorForm, error: Option<UiError>) -> Response {
    let mut path = "/api/v1/operators?limit=100".to_string();
    if !after.is_empty() {
        path.push_str(&format!("&after={}", percent(after)));
    }
    let a = ui.get(&path).await;
    if !a.ok() {
        return error_page(ui, a.error(), "/ui/");
    }
    let list = a.json();
    let roles = ui.get("/api/v1/roles?limit=100").await.json().list("items");
    let page = OperatorsPage {
        page: PageCtx::new(ui, "operators.title"),
        operators: list.list("items"),
        roles,
        scopes: scopes(ui).await,
        next: list.s("next"),
        form,
        key: new_key(app),
        error: error.clone(),
    };
    html_with(&page, &error)
}

#[derive(serde::Deserialize)]
struct AfterQuery {
    after: Option<String>,
}

async fn operators(State(app): State<AppState>, ui: Ui, q: axum::extract::Query<AfterQuery>) -> Response {
    operators_page(&app, &ui, q.0.after.as_deref().unwrap_or_default(), OperatorForm::default(), None).await
}

async fn create_operator(State(app): State<AppState>, ui: Ui, request: Request) -> Response {
    let f = match checked_form(&ui, request).await {
        Ok(f) => f,
        Err(r) => return r,
    };
    let form = OperatorForm {
        username: f.get("username").into(),
        display_name: f.get("display_name").into(),
        role: f.get("role").into(),
        scope_id: f.get("scope_id").into(),
    };
    for field in ["username", "display_name", "password"] {
        if f.get(field).is_empty() {
            return operators_page(&app, &ui, "", form, Some(UiError::new("required", field))).await;
        }
    }
    let body = json!({
        "username": form.username,
        "display_name": form.display_name,
        "role": form.role,
        "scope_id": form.scope_id,
        "password": f.raw("password").to_string(),
    });
    let a = ui.post("/api/v1/operators", &body, f.get("key")).await;
    if !a.ok() {
        return operators_page(&app, &ui, "", form, Some(a.error())).await;
    }
    see_other(&format!("/ui/operators/{}", a.json().s("id")))
}

#[derive(Template)]
#[template(path = "operator.html")]
struct OperatorPage {
    page: PageCtx,
    operator: J,
    roles: Vec<J>,
    scopes: Vec<J>,
    key: String,
    error: Option<UiError>,
}

async fn operator_page(app: &AppState, ui: &Ui, id: Uuid, error: Option<UiError>) -> Response {
    let a = ui.get(&format!("/api/v1/operators/{id}")).await;
    if !a.ok() {
        return error_page(ui, a.error(), "/ui/operators");
    }
    let operator = a.json();
    // The operator's own scope is always offered (a floor or a unit is not among the usual levels).
    let mut scopes = scopes(ui).await;
    let current = operator.s("scope_id");
    if !scopes.iter().any(|p| p.s("id") == current) {
        let own = ui.get(&format!("/api/v1/premises/{}", super::segment(&current))).await;
        if own.ok() {
            scopes.insert(0, own.json());
        }
    }
    let mut roles = ui.get("/api/v1/roles?limit=100").await.json().list("items");
    if !roles.iter().any(|r| r.s("name") == operator.s("role")) {
        roles.insert(0, J(json!({"name": operator.s("role")})));
    }
    let page = OperatorPage {
        page: PageCtx::new(ui, "operators.one"),
        operator,
        roles,
        scopes,
        key: new_key(app),
        error: error.clone(),
    };
    html_with(&page, &error)
}

async fn operator(State(app): State<AppState>, ui: Ui, Path(id): Path<String>) -> Response {
    let Some(id) = uuid_ok(&id) else { return error_page(&ui, UiError::new("not_found", ""), "/ui/operators") };
    operator_page(&app, &ui, id, None).await
}

async fn update_operator(State(app): State<AppState>, ui: Ui, Path(id): Path<String>, request: Request) -> Response {
    let (id, f) = match posted_to(&ui, &id, request, "/ui/operators").await {
        Ok(x) => x,
        Err(r) => return r,
    };
    if f.get("reason").is_empty() {
        return operator_page(&app, &ui, id, Some(UiError::new("required", "reason"))).await;
    }
    // Only what the form changes: a field left as it was (a scope the list does not offer, a role beyond the page
    // of roles) is not sent, so saving never moves the operator by accident.
    let current = ui.get(&format!("/api/v1/operators/{id}")).await;
    if !current.ok() {
        return error_page(&ui, current.error(), "/ui/operators");
    }
    let current = current.json();
    let mut body = serde_json::Map::new();
    for field in ["display_name", "role", "scope_id"] {
        if let Some(v) = f.opt(field)
            && v != current.s(field)
        {
            body.insert(field.into(), json!(v));
        }
    }
    body.insert("active".into(), json!(f.get("active") == "true"));
    body.insert("reason".into(), json!(f.get("reason")));
    let a =
        ui.call(Method::PUT, &format!("/api/v1/operators/{id}"), Some(&Value::Object(body)), Some(f.get("key"))).await;
    if !a.ok() {
        return operator_page(&app, &ui, id, Some(a.error())).await;
    }
    see_other(&format!("/ui/operators/{id}"))
}

async fn reset_password(State(app): State<AppState>, ui: Ui, Path(id): Path<String>, request: Request) -> Response {
    let (id, f) = match posted_to(&ui, &id, request, "/ui/operators").await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let password = f.raw("new_password").to_string();
    if password.is_empty() {
        return operator_page(&app, &ui, id, Some(UiError::new("required", "new_password"))).await;
    }
    let a =
        ui.post(&format!("/api/v1/operators/{id}/password"), &json!({"new_password": password}), f.get("key")).await;
    if !a.ok() {
        return operator_page(&app, &ui, id, Some(a.error())).await;
    }
    see_other(&format!("/ui/operators/{id}"))
}

async fn unlock_operator(State(app): State<AppState>, ui: Ui, Path(id): Path<String>, request: Request) -> Response {
    let (id, f) = match posted_to(&ui, &id, request, "/ui/operators").await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let a = ui.call(Method::POST, &format!("/api/v1/operators/{id}/unlock"), None, Some(f.get("key"))).await;
    if !a.ok() {
        return operator_page(&app, &ui, id, Some(a.error())).await;
    }
    see_other(&format!("/ui/operators/{id}"))
}

// ---------------------------------------------------------------------------------------------------------------
// The premises tree.

#[derive(Template)]
#[template(path = "premises.html")]
struct PremisesPage {
    page: PageCtx,
    node: Option<J>,
    trail: Vec<J>,
    children: Vec<J>,
    customers: Vec<J>,
    consumption: Option<J>,
}

#[derive(serde::Deserialize)]
struct NodeQuery {
    id: Option<String>,
}

async fn premises(State(app): State<AppState>, ui: Ui, q: axum::extract::Query<NodeQuery>) -> Response {
    // Without a node: the operator's own scope.
    let id = match q.0.id.as_deref() {
        Some(text) => match uuid_ok(text) {
            Some(id) => id,
            None => return error_page(&ui, UiError::new("not_found", ""), "/ui/premises"),
        },
        None => ui.principal.scope().as_uuid(),
    };
    let a = ui.get(&format!("/api/v1/premises/{id}")).await;
    if !a.ok() {
        return error_page(&ui, a.error(), "/ui/premises");
    }
    let node = a.json();
    // The way down from the operator's scope (nodes above it are not theirs to see).
    let mut trail = Vec::new();
    for step in node.list("path") {
        let step_id = step.text();
        if step_id == node.s("id") {
            break;
        }
        let s = ui.get(&format!("/api/v1/premises/{step_id}")).await;
        if s.ok() {
            trail.push(s.json());
        }
    }
    let mut children = ui.get(&format!("/api/v1/premises?parent_id={id}&limit=200")).await.json().list("items");
    children.sort_by_key(|c| c.s("name"));
    let customers = if node.is("level", "unit") {
        ui.get(&format!("/api/v1/customers?premises_id={id}&limit=50")).await.json().list("items")
    } else {
        Vec::new()
    };
    let consumption = if ui.principal.can(voltvend_domain::Permission::ReportsRead) && !node.is("level", "unit") {
        let to = app.now();
        let from = to - jiff::SignedDuration::from_hours(24 * 30);
        let path = format!(
            "/api/v1/reports/consumption?premises_id={id}&from={}&to={}",
            percent(&from.to_string()),
            percent(&to.to_string())
        );
        let c = ui.get(&path).await;
        c.ok().then(|| c.json())
    } else {
        None
    };
    let page = PremisesPage {
        page: PageCtx::new(&ui, "premises.title"),
        node: Some(node),
        trail,
        children,
        customers,
        consumption,
    };
    html_with(&page, &None)
}

// ---------------------------------------------------------------------------------------------------------------
// STS key change campaigns.

#[derive(Template)]
#[template(path = "campaigns.html")]
struct CampaignsPage {
    page: PageCtx,
    campaigns: Vec<J>,
    key: String,
    error: Option<UiError>,
}

async fn campaigns_page(app: &AppState, ui: &Ui, error: Option<UiError>) -> Response {
    let a = ui.get("/api/v1/key-campaigns").await;
    if !a.ok() {
        return error_page(ui, a.error(), "/ui/");
    }
    let list = match a.json().0 {
        Value::Array(items) => items.into_iter().map(J).collect(),
        _ => Vec::new(),
    };
    let page = CampaignsPage {
        page: PageCtx::new(ui, "campaigns.title"),
        campaigns: list,
        key: new_key(app),
        error: error.clone(),
    };
    html_with(&page, &error)
}

async fn campaigns(State(app): State<AppState>, ui: Ui) -> Response {
    campaigns_page(&app, &ui, None).await
}

/// A whole number field of the campaign form: absent when empty, refused (next to it) when not a number.
fn number_field<T: std::str::FromStr + serde::Serialize>(f: &Form, name: &str) -> Result<Option<Value>, UiError> {
    match f.opt(name) {
        None => Ok(None),
        Some(text) => text.parse::<T>().map(|n| Some(json!(n))).map_err(|_| UiError::new("bad_value", name)),
    }
}

/// Plans a key change campaign: which meters (by base date, supply group, key revision) and what changes.
async fn plan_campaign(State(app): State<AppState>, ui: Ui, request: Request) -> Response {
    let f = match checked_form(&ui, request).await {
        Ok(f) => f,
        Err(r) => return r,
    };
    if f.get("name").is_empty() {
        return campaigns_page(&app, &ui, Some(UiError::new("required", "name"))).await;
    }
    let mut select = serde_json::Map::new();
    let mut change = serde_json::Map::new();
    if let Some(b) = f.opt("select_base_date") {
        select.insert("base_date".into(), json!(b));
    }
    for (field, name, wide) in [
        ("select_supply_group", "supply_group", true),
        ("new_supply_group", "supply_group", true),
        ("select_key_revision", "key_revision", false),
        ("new_key_revision", "key_revision", false),
        ("new_tariff_index", "tariff_index", false),
        ("new_key_expiry", "key_expiry", false),
    ] {
        let value = if wide { number_field::<u32>(&f, field) } else { number_field::<u8>(&f, field) };
        match value {
            Ok(Some(v)) => {
                let target = if field.starts_with("select_") { &mut select } else { &mut change };
                target.insert(name.into(), v);
            }
            Ok(None) => {}
            Err(e) => return campaigns_page(&app, &ui, Some(e)).await,
        }
    }
    change.insert("rollover".into(), json!(f.get("rollover") == "true"));
    let body = json!({"name": f.get("name"), "select": Value::Object(select), "change": Value::Object(change)});
    let a = ui.post("/api/v1/key-campaigns", &body, f.get("key")).await;
    if !a.ok() {
        return campaigns_page(&app, &ui, Some(a.error())).await;
    }
    see_other("/ui/campaigns")
}

impl CampaignsPage {
    /// How far a campaign is, in percent of its planned meters.
    pub fn percent_done(&self, c: &J) -> i64 {
        let planned: i64 = c.s("planned").parse().unwrap_or(0);
        let done: i64 = c.s("done").parse().unwrap_or(0);
        if planned == 0 { 100 } else { done * 100 / planned }
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Tariffs: the list, one tariff's document, a draft or the stored tariff priced against a meter's readings
// (按实抄试算), and the next revision imported.

#[derive(Template)]
#[template(path = "tariffs.html")]
struct TariffsPage {
    page: PageCtx,
    tariffs: Vec<J>,
}

async fn tariffs(ui: Ui) -> Response {
    let a = ui.get("/api/v1/tariffs?limit=200").await;
    if !a.ok() {
        return error_page(&ui, a.error(), "/ui/");
    }
    html_with(&TariffsPage { page: PageCtx::new(&ui, "tariffs.title"), tariffs: a.json().list("items") }, &None)
}

/// The tariff form's fields, kept across a preview or a refusal.
#[derive(Debug, Clone, Default)]
pub struct TariffForm {
    pub document: String,
    pub meter: String,
    pub from: String,
    pub to: String,
}

#[derive(Template)]
#[template(path = "tariff.html")]
struct TariffPage {
    page: PageCtx,
    tariff: J,
    form: TariffForm,
    preview: Option<J>,
    key: String,
    error: Option<UiError>,
}

async fn tariff_page(
    app: &AppState,
    ui: &Ui,
    code: &str,
    form: Option<TariffForm>,
    preview: Option<J>,
    error: Option<UiError>,
) -> Response {
    let a = ui.get(&format!("/api/v1/tariffs/{}", super::segment(code))).await;
    if !a.ok() {
        return error_page(ui, a.error(), "/ui/tariffs");
    }
    let tariff = a.json();
    let form = form.unwrap_or_else(|| {
        let today = app.now().to_zoned(ui.tz.clone()).date();
        TariffForm {
            document: tariff.s("document"),
            meter: String::new(),
            from: today.first_of_month().to_string(),
            to: today.tomorrow().map(|d| d.to_string()).unwrap_or_default(),
        }
    });
    let page = TariffPage {
        page: PageCtx::new(ui, "tariffs.one"),
        tariff,
        form,
        preview,
        key: new_key(app),
        error: error.clone(),
    };
    html_with(&page, &error)
}

async fn tariff(State(app): State<AppState>, ui: Ui, Path(code): Path<String>) -> Response {
    tariff_page(&app, &ui, &code, None, None, None).await
}

/// A date of the form as the start of that day in the operator's time zone.
fn local_day(ui: &Ui, date: &str) -> Option<String> {
    let d: jiff::civil::Date = date.parse().ok()?;
    d.to_zoned(ui.tz.clone()).ok().map(|z| z.timestamp().to_string())
}

async fn tariff_action(State(app): State<AppState>, ui: Ui, Path(code): Path<String>, request: Request) -> Response {
    let f = match checked_form(&ui, request).await {
        Ok(f) => f,
        Err(r) => return r,
    };
    let form = TariffForm {
        document: f.raw("document").to_string(),
        meter: f.get("meter").into(),
        from: f.get("from").into(),
        to: f.get("to").into(),
    };
    let again = |error: UiError, form: TariffForm| tariff_page(&app, &ui, &code, Some(form), None, Some(error));
    if f.get("action") == "import" {
        let a = ui.post("/api/v1/tariffs", &json!({"document": form.document}), f.get("key")).await;
        if !a.ok() {
            return again(a.error(), form).await;
        }
        return see_other(&format!("/ui/tariffs/{}", super::segment(&a.json().s("code"))));
    }
    // A preview: the meter by its serial, the period in whole local days.
    if form.meter.is_empty() {
        return again(UiError::new("required", "meter"), form).await;
    }
    let found = ui.get(&format!("/api/v1/meters?q={}&limit=20", percent(&form.meter))).await.json().list("items");
    let Some(meter) = found.iter().find(|m| m.s("serial").eq_ignore_ascii_case(&form.meter)) else {
        return again(UiError::new("not_found", "meter"), form).await;
    };
    let (Some(from), Some(to)) = (local_day(&ui, &form.from), local_day(&ui, &form.to)) else {
        return again(
            UiError::new("bad_request", if local_day(&ui, &form.from).is_none() { "from" } else { "to" }),
            form,
        )
        .await;
    };
    let body = json!({"document": form.document, "meter_id": meter.s("id"), "from": from, "to": to});
    let a = ui.call(Method::POST, "/api/v1/tariffs/preview", Some(&body), None).await;
    if !a.ok() {
        return again(a.error(), form).await;
    }
    tariff_page(&app, &ui, &code, Some(form), Some(a.json()), None).await
}

// ---------------------------------------------------------------------------------------------------------------
// 开户: a new customer, their unit, a meter (from stock or received here), its tariff and the first sale, in
// one operation (POST /api/v1/accounts).

/// The opening form's fields, kept across a refusal.
#[derive(Debug, Clone, Default)]
pub struct OpenForm {
    pub customer: CustomerForm,
    pub unit: String,
    pub serial: String,
    pub utility: String,
    pub protocol: String,
    pub address: String,
    pub tariff: String,
    pub sts_key: String,
    pub sts_ea: String,
    pub sts_ti: String,
    pub sts_base: String,
    pub sts_iin: String,
    pub amount: String,
    pub method: String,
}

impl OpenForm {
    fn from_form(f: &Form) -> Self {
        Self {
            customer: CustomerForm::from_form(f),
            unit: f.get("unit").into(),
            serial: f.get("serial").into(),
            utility: f.get("utility").into(),
            protocol: f.get("protocol").into(),
            address: f.get("address").into(),
            tariff: f.get("tariff").into(),
            sts_key: f.get("sts_key").into(),
            sts_ea: f.get("sts_ea").into(),
            sts_ti: f.get("sts_ti").into(),
            sts_base: f.get("sts_base").into(),
            sts_iin: f.get("sts_iin").into(),
            amount: f.get("amount").into(),
            method: f.get("method").into(),
        }
    }

    fn blank() -> Self {
        Self {
            customer: CustomerForm { kind: "person".into(), id_kind: "national_id".into(), ..CustomerForm::default() },
            utility: "electricity".into(),
            protocol: "dlt645".into(),
            sts_ea: "07".into(),
            sts_ti: "1".into(),
            sts_base: "14".into(),
            sts_iin: "600727".into(),
            method: "cash".into(),
            ..Self::default()
        }
    }

    pub fn is(&self, field: &str, value: &str) -> bool {
        let v = match field {
            "utility" => &self.utility,
            "protocol" => &self.protocol,
            "tariff" => &self.tariff,
            "sts_key" => &self.sts_key,
            "sts_ea" => &self.sts_ea,
            "sts_base" => &self.sts_base,
            "method" => &self.method,
            _ => return false,
        };
        v == value
    }
}

#[derive(Template)]
#[template(path = "open_account.html")]
struct OpenAccountPage {
    page: PageCtx,
    form: OpenForm,
    tariffs: Vec<J>,
    keys: Vec<J>,
    key: String,
    error: Option<UiError>,
}

async fn open_account_page(app: &AppState, ui: &Ui, form: OpenForm, error: Option<UiError>) -> Response {
    let tariffs = ui.get("/api/v1/tariffs?limit=200").await.json().list("items");
    let keys = ui.get("/api/v1/vending-keys?limit=100").await.json().list("items");
    let page = OpenAccountPage {
        page: PageCtx::new(ui, "open.title"),
        form,
        tariffs,
        keys,
        key: new_key(app),
        error: error.clone(),
    };
    html_with(&page, &error)
}

async fn open_account_form(State(app): State<AppState>, ui: Ui) -> Response {
    if !ui.principal.can(voltvend_domain::Permission::AccountsOpen) {
        return error_page(&ui, UiError::new("forbidden", ""), "/ui/counter");
    }
    open_account_page(&app, &ui, OpenForm::blank(), None).await
}

/// The one item of `list` whose `field` is `text` (ignoring case), if exactly one is.
fn exactly_one(list: &[J], field: &str, text: &str) -> Option<J> {
    let mut found = list.iter().filter(|j| j.s(field).eq_ignore_ascii_case(text));
    match (found.next(), found.next()) {
        (Some(one), None) => Some(one.clone()),
        _ => None,
    }
}

async fn open_account(State(app): State<AppState>, ui: Ui, request: Request) -> Response {
    let f = match checked_form(&ui, request).await {
        Ok(f) => f,
        Err(r) => return r,
    };
    let form = OpenForm::from_form(&f);
    let (app, ui) = (&app, &ui);
    let refuse = |code: &str, field: &str, form: OpenForm| {
        let e = UiError::new(code, field);
        async move { open_account_page(app, ui, form, Some(e)).await }
    };
    for field in ["name", "unit", "serial", "tariff"] {
        if f.get(field).is_empty() {
            return refuse("required", field, form).await;
        }
    }
    // The unit by its name (A-0101), within one's scope.
    let units =
        ui.get(&format!("/api/v1/premises?level=unit&q={}&limit=50", percent(&form.unit))).await.json().list("items");
    let Some(unit) = exactly_one(&units, "name", &form.unit) else {
        return refuse("not_found", "unit", form).await;
    };
    // The meter: from stock by its serial, else received here with what the form says of it.
    let stock = ui
        .get(&format!("/api/v1/meters?state=in_stock&q={}&limit=20", percent(&form.serial)))
        .await
        .json()
        .list("items");
    let mut binding = serde_json::Map::new();
    let protocol = match exactly_one(&stock, "serial", &form.serial) {
        Some(m) => {
            binding.insert("meter_id".into(), json!(m.s("id")));
            m.s("protocol")
        }
        None => {
            if form.address.is_empty() {
                return refuse("required", "address", form).await;
            }
            binding.insert(
                "new".into(),
                json!({"serial": form.serial, "utility": form.utility, "protocol": form.protocol, "address": form.address}),
            );
            form.protocol.clone()
        }
    };
    binding.insert("tariff_code".into(), json!(form.tariff));
    if protocol == "sts_keypad" {
        let Some((sgc, krn)) = form.sts_key.split_once('/') else {
            return refuse("required", "sts_key", form).await;
        };
        let (Ok(sgc), Ok(krn), Ok(ti)) = (sgc.parse::<u32>(), krn.parse::<u8>(), form.sts_ti.parse::<u8>()) else {
            return refuse("bad_value", "sts_ti", form).await;
        };
        binding.insert(
            "sts".into(),
            json!({"iin": form.sts_iin, "ea": form.sts_ea, "key_type": 2, "supply_group": sgc, "tariff_index": ti,
                   "key_revision": krn, "base_date": form.sts_base}),
        );
    }
    // The currency of the counter the operator sells at: their open shift's, else the first they may use.
    let shift = ui.get("/api/v1/shifts/current").await;
    let points = ui.get("/api/v1/vending-points?limit=100").await.json().list("items");
    let currency = if shift.ok() {
        Some(shift.json().at("opening_float").s("currency"))
    } else {
        points.iter().find(|p| p.is("active", "true")).map(|p| p.s("currency"))
    };
    let Some(currency) = currency else {
        return refuse("vending_point_disabled", "", form).await;
    };
    let mut body = json!({
        "customer": form.customer.input(),
        "premises_id": unit.s("id"),
        "currency": currency,
        "meters": [Value::Object(binding)],
    });
    if !form.amount.is_empty()
        && let Some(b) = body.as_object_mut()
    {
        b.insert("first_sale".into(), json!({"meter_index": 0, "method": form.method, "amount": form.amount}));
    }
    let a = ui.post("/api/v1/accounts", &body, f.get("key")).await;
    if !a.ok() {
        let mut e = a.error();
        // The API names nested fields (`customer.name`, `meters[0].new.address`, `first_sale.amount`).
        let leaf = e.field.rsplit(['.', ']']).next().unwrap_or_default().to_string();
        e.field = match leaf.as_str() {
            "name" | "phones" | "email" | "number" => {
                if leaf == "number" {
                    "id_number".into()
                } else {
                    leaf
                }
            }
            "serial" | "address" | "amount" | "tariff_code" => {
                if leaf == "tariff_code" {
                    "tariff".into()
                } else {
                    leaf
                }
            }
            _ => e.field,
        };
        return open_account_page(app, ui, form, Some(e)).await;
    }
    let opened = a.json();
    match opened.at("first_sale").s("id") {
        sale if !sale.is_empty() => see_other(&format!("/ui/sales/{sale}")),
        _ => see_other(&format!("/ui/accounts/{}", opened.s("account_id"))),
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Refused payments: money taken for a sale the rules then refused, owed back until it is handed back.

#[derive(Template)]
#[template(path = "refunds.html")]
struct RefundsPage {
    page: PageCtx,
    owed: Vec<J>,
    key: String,
    error: Option<UiError>,
}

async fn refunds_page(app: &AppState, ui: &Ui, error: Option<UiError>) -> Response {
    let a = ui.get("/api/v1/refused-payments?refunded=false&limit=100").await;
    if !a.ok() {
        return error_page(ui, a.error(), "/ui/");
    }
    let page = RefundsPage {
        page: PageCtx::new(ui, "refunds.title"),
        owed: a.json().list("items"),
        key: new_key(app),
        error: error.clone(),
    };
    html_with(&page, &error)
}

async fn refunds(State(app): State<AppState>, ui: Ui) -> Response {
    refunds_page(&app, &ui, None).await
}

async fn refund(State(app): State<AppState>, ui: Ui, Path(id): Path<String>, request: Request) -> Response {
    let (id, f) = match posted_to(&ui, &id, request, "/ui/refunds").await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let a = ui.post(&format!("/api/v1/refused-payments/{id}/refund"), &json!({}), f.get("key")).await;
    if !a.ok() {
        return refunds_page(&app, &ui, Some(a.error())).await;
    }
    see_other("/ui/refunds")
}

/// 复核入账: the payment credited to its account after review, instead of handed back.
async fn credit_refused(State(app): State<AppState>, ui: Ui, Path(id): Path<String>, request: Request) -> Response {
    let (id, f) = match posted_to(&ui, &id, request, "/ui/refunds").await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let a = ui.post(&format!("/api/v1/refused-payments/{id}/credit"), &json!({}), f.get("key")).await;
    if !a.ok() {
        return refunds_page(&app, &ui, Some(a.error())).await;
    }
    see_other("/ui/refunds")
}

// ---------------------------------------------------------------------------------------------------------------
// 在线缴费: online payment channels and customers' payment intents (ADR 0005).

#[derive(Template)]
#[template(path = "payments.html")]
struct PaymentsPage {
    page: PageCtx,
    /// Today's position per provider (头寸), in the operator's calendar.
    today: String,
    position: Vec<J>,
    channels: Vec<J>,
    intents: Vec<J>,
    status: String,
    error: Option<UiError>,
}

#[derive(serde::Deserialize)]
struct PaymentsQuery {
    status: Option<String>,
}

const INTENT_STATUSES: [&str; 5] = ["open", "paid", "held", "refused", "expired"];

async fn payments_page(app: &AppState, ui: &Ui, status: &str, error: Option<UiError>) -> Response {
    let status = if INTENT_STATUSES.contains(&status) { status } else { "" };
    let filter = if status.is_empty() { String::new() } else { format!("&status={status}") };
    let intents = ui.get(&format!("/api/v1/payment-intents?limit=100{filter}")).await;
    if !intents.ok() {
        return error_page(ui, intents.error(), "/ui/");
    }
    let channels = ui.get("/api/v1/payment-channels?limit=100").await;
    let today = app.now().to_zoned(ui.tz.clone()).date().to_string();
    let position = ui.get(&format!("/api/v1/payment-position?date={today}")).await;
    let page = PaymentsPage {
        page: PageCtx::new(ui, "payments.title"),
        today,
        position: if position.ok() { position.json().list("providers") } else { Vec::new() },
        channels: if channels.ok() { channels.json().list("items") } else { Vec::new() },
        intents: intents.json().list("items"),
        status: status.to_string(),
        error: error.clone(),
    };
    html_with(&page, &error)
}

async fn payments(
    State(app): State<AppState>,
    ui: Ui,
    axum::extract::Query(q): axum::extract::Query<PaymentsQuery>,
) -> Response {
    payments_page(&app, &ui, q.status.as_deref().unwrap_or(""), None).await
}

/// Asks the provider now what became of an open intent.
async fn query_payment(State(app): State<AppState>, ui: Ui, Path(id): Path<String>, request: Request) -> Response {
    let (id, _) = match posted_to(&ui, &id, request, "/ui/payments").await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let path = format!("/api/v1/payment-intents/{id}/query");
    let a = ui.call(axum::http::Method::POST, &path, Some(&json!({})), None).await;
    if !a.ok() {
        return payments_page(&app, &ui, "open", Some(a.error())).await;
    }
    see_other("/ui/payments?status=open")
}

// ---------------------------------------------------------------------------------------------------------------
// 对账: providers' statements, imported and kept, and each day's reconciliation against the ledger.

/// The largest statement file the page takes: what fits the import's body once in base64.
const STATEMENT_UPLOAD_MAX_BYTES: usize = crate::api::LARGE_BODY_MAX_BYTES / 4 * 3 - (64 << 10);

#[derive(Template)]
#[template(path = "statements.html")]
struct StatementsPage {
    page: PageCtx,
    channels: Vec<J>,
    /// The channel and day asked about (the form's values).
    channel: String,
    date: String,
    /// The kept statement's reconciliation, when one was asked for and found.
    reconciliation: Option<J>,
    /// Asked for a day no statement was kept for.
    missing: bool,
    key: String,
    error: Option<UiError>,
}

#[derive(serde::Deserialize)]
struct StatementsQuery {
    channel: Option<String>,
    date: Option<String>,
}

async fn statements_page(app: &AppState, ui: &Ui, channel: &str, date: &str, error: Option<UiError>) -> Response {
    let channels = ui.get("/api/v1/payment-channels?limit=100").await;
    if !channels.ok() {
        return error_page(ui, channels.error(), "/ui/payments");
    }
    let channels = channels.json().list("items");
    // The day before today by default: a provider's statement of a day is ready the next morning.
    let date = match date {
        "" => app.now().to_zoned(ui.tz.clone()).date().yesterday().map(|d| d.to_string()).unwrap_or_default(),
        d => d.to_string(),
    };
    let channel = match channel {
        "" => channels.first().map(|c| c.s("id")).unwrap_or_default(),
        c => c.to_string(),
    };
    let (mut reconciliation, mut missing) = (None, false);
    if uuid_ok(&channel).is_some() && date.parse::<jiff::civil::Date>().is_ok() {
        let a = ui.get(&format!("/api/v1/payment-channels/{channel}/statements/{date}")).await;
        match a.status.as_u16() {
            200 => reconciliation = Some(a.json()),
            404 => missing = true,
            _ => return error_page(ui, a.error(), "/ui/payments"),
        }
    }
    let page = StatementsPage {
        page: PageCtx::new(ui, "statements.title"),
        channels,
        channel,
        date,
        reconciliation,
        missing,
        key: new_key(app),
        error: error.clone(),
    };
    html_with(&page, &error)
}

async fn statements(
    State(app): State<AppState>,
    ui: Ui,
    axum::extract::Query(q): axum::extract::Query<StatementsQuery>,
) -> Response {
    statements_page(&app, &ui, q.channel.as_deref().unwrap_or(""), q.date.as_deref().unwrap_or(""), None).await
}

/// 对账单导入: the file as downloaded from the provider (UTF-8 or GBK), kept for the channel's day; then that
/// day's reconciliation.
async fn import_statement(State(app): State<AppState>, ui: Ui, request: Request) -> Response {
    use axum::extract::FromRequest;
    if !ui.principal.can(Permission::PaymentsManage) {
        return error_page(&ui, UiError::new("forbidden", ""), "/ui/payments/statements");
    }
    let mut form = Vec::new();
    let mut file = Vec::new();
    let read = async {
        let mut parts = axum::extract::Multipart::from_request(request, &()).await.ok()?;
        while let Some(part) = parts.next_field().await.ok()? {
            let name = part.name().unwrap_or_default().to_string();
            let bytes = part.bytes().await.ok()?;
            if name == "file" {
                file = bytes.to_vec();
            } else {
                form.push((name, String::from_utf8_lossy(&bytes).into_owned()));
            }
        }
        Some(())
    };
    let complete = read.await.is_some();
    let f = Form(form);
    if !f.csrf_ok(&ui) {
        return csrf_refused(&ui);
    }
    let (channel, date) = (f.get("channel").to_string(), f.get("date").to_string());
    if !complete || file.is_empty() {
        return statements_page(&app, &ui, &channel, &date, Some(UiError::new("bad_request", "statement"))).await;
    }
    let Some(id) = uuid_ok(&channel) else {
        return statements_page(&app, &ui, "", &date, Some(UiError::new("not_found", "channel"))).await;
    };
    use base64::Engine;
    let body = json!({"date": date, "statement_base64": base64::engine::general_purpose::STANDARD.encode(&file)});
    let a = ui.post(&format!("/api/v1/payment-channels/{id}/statements"), &body, f.get("key")).await;
    if !a.ok() {
        return statements_page(&app, &ui, &channel, &date, Some(a.error())).await;
    }
    see_other(&format!("/ui/payments/statements?channel={id}&date={}", percent(&date)))
}

// ---------------------------------------------------------------------------------------------------------------
// 追缴陈欠 (historical arrears) on an account, and 回抄 (a local meter's return data).

async fn enter_arrears(State(app): State<AppState>, ui: Ui, Path(id): Path<String>, request: Request) -> Response {
    let (id, f) = match posted_to(&ui, &id, request, "/ui/counter").await {
        Ok(x) => x,
        Err(r) => return r,
    };
    if f.get("arrears_amount").is_empty() {
        return super::pages::account_with_error(&app, &ui, id, UiError::new("required", "arrears_amount")).await;
    }
    let body = json!({"amount": f.get("arrears_amount"), "reference": f.get("arrears_reference")});
    let a = ui.post(&format!("/api/v1/accounts/{id}/arrears"), &body, f.get("key")).await;
    if !a.ok() {
        let mut e = a.error();
        if e.field == "amount" || e.field == "reference" {
            e.field = format!("arrears_{}", e.field);
        }
        return super::pages::account_with_error(&app, &ui, id, e).await;
    }
    see_other(&format!("/ui/accounts/{id}"))
}

async fn record_return(State(app): State<AppState>, ui: Ui, Path(id): Path<String>, request: Request) -> Response {
    let (id, f) = match posted_to(&ui, &id, request, "/ui/counter").await {
        Ok(x) => x,
        Err(r) => return r,
    };
    if f.get("remaining").is_empty() {
        return super::pages::meter_with_error(&app, &ui, id, UiError::new("required", "remaining")).await;
    }
    // When: now, unless the form says when the meter was read (a local date and time).
    let at = match f.opt("at") {
        None => app.now().to_string(),
        Some(text) => match text.parse::<jiff::civil::DateTime>().ok().and_then(|d| d.to_zoned(ui.tz.clone()).ok()) {
            Some(z) => z.timestamp().to_string(),
            None => return super::pages::meter_with_error(&app, &ui, id, UiError::new("bad_request", "at")).await,
        },
    };
    let body = json!({"at": at, "source": f.get("source"), "remaining": f.get("remaining")});
    let a = ui.post(&format!("/api/v1/meters/{id}/returns"), &body, f.get("key")).await;
    if !a.ok() {
        return super::pages::meter_with_error(&app, &ui, id, a.error()).await;
    }
    see_other(&format!("/ui/meters/{id}"))
}

// ---------------------------------------------------------------------------------------------------------------
// Custom roles.

async fn create_role(State(app): State<AppState>, ui: Ui, request: Request) -> Response {
    let f = read_form(request).await;
    if !f.csrf_ok(&ui) {
        return csrf_refused(&ui);
    }
    // Every ticked permission (`perm=<name>`, repeated).
    let permissions: Vec<String> = f.all("perm");
    if f.get("role_name").is_empty() {
        return operators_page(&app, &ui, "", OperatorForm::default(), Some(UiError::new("required", "role_name")))
            .await;
    }
    let body =
        json!({"name": f.get("role_name"), "description": f.get("role_description"), "permissions": permissions});
    let a = ui.post("/api/v1/roles", &body, f.get("key")).await;
    if !a.ok() {
        let mut e = a.error();
        if e.field == "name" || e.field == "description" || e.field == "permissions" {
            e.field = format!("role_{}", e.field);
        }
        return operators_page(&app, &ui, "", OperatorForm::default(), Some(e)).await;
    }
    see_other("/ui/operators")
}

// ---------------------------------------------------------------------------------------------------------------
// 销户 (closure), the prepaid ⇄ postpaid switch, and 换表 (meter replacement).

#[derive(Template)]
#[template(path = "settled.html")]
struct SettledPage {
    page: PageCtx,
    /// What the operation answered (a settlement, or a replacement).
    result: J,
    back: String,
}

async fn close_account(State(app): State<AppState>, ui: Ui, Path(id): Path<String>, request: Request) -> Response {
    let (id, f) = match posted_to(&ui, &id, request, "/ui/counter").await {
        Ok(x) => x,
        Err(r) => return r,
    };
    if f.get("close_reason").is_empty() {
        return super::pages::account_with_error(&app, &ui, id, UiError::new("required", "close_reason")).await;
    }
    let mut body = json!({"reason": f.get("close_reason"), "buy_back_meter_credit": f.get("buy_back") == "true"});
    if f.get("refund") == "cash"
        && let Some(b) = body.as_object_mut()
    {
        b.insert("refund".into(), json!({"to": "cash"}));
    }
    let a = ui.post(&format!("/api/v1/accounts/{id}/close"), &body, f.get("key")).await;
    if !a.ok() {
        let mut e = a.error();
        if e.field == "reason" {
            e.field = "close_reason".into();
        }
        return super::pages::account_with_error(&app, &ui, id, e).await;
    }
    let page =
        SettledPage { page: PageCtx::new(&ui, "close.done"), result: a.json(), back: format!("/ui/accounts/{id}") };
    html_with(&page, &None)
}

async fn billing_mode(State(app): State<AppState>, ui: Ui, Path(id): Path<String>, request: Request) -> Response {
    let (id, f) = match posted_to(&ui, &id, request, "/ui/counter").await {
        Ok(x) => x,
        Err(r) => return r,
    };
    if f.get("mode_reason").is_empty() {
        return super::pages::account_with_error(&app, &ui, id, UiError::new("required", "mode_reason")).await;
    }
    let body = json!({"mode": f.get("mode"), "reason": f.get("mode_reason")});
    let a = ui.post(&format!("/api/v1/accounts/{id}/billing-mode"), &body, f.get("key")).await;
    if !a.ok() {
        let mut e = a.error();
        if e.field == "reason" || e.field == "mode" {
            e.field = "mode_reason".into();
        }
        return super::pages::account_with_error(&app, &ui, id, e).await;
    }
    see_other(&format!("/ui/accounts/{id}"))
}

/// A total register reading of the form (kWh or m³) at now, as the API takes it; `None` when empty.
fn total_reading(app: &AppState, f: &Form, field: &str) -> Option<Value> {
    f.opt(field).map(|v| json!({"at": app.now().to_string(), "registers": [{"register": "total", "value": v}]}))
}

async fn replace_meter(State(app): State<AppState>, ui: Ui, Path(id): Path<String>, request: Request) -> Response {
    let (id, f) = match posted_to(&ui, &id, request, "/ui/counter").await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let refuse = |e: UiError| super::pages::meter_with_error(&app, &ui, id, e);
    for field in ["replace_reason", "new_serial"] {
        if f.get(field).is_empty() {
            return refuse(UiError::new("required", field)).await;
        }
    }
    let old = ui.get(&format!("/api/v1/meters/{id}")).await.json();
    let mut body = serde_json::Map::new();
    body.insert("reason".into(), json!(f.get("replace_reason")));
    let serial = f.get("new_serial");
    let stock =
        ui.get(&format!("/api/v1/meters?state=in_stock&q={}&limit=20", percent(serial))).await.json().list("items");
    let protocol = match exactly_one(&stock, "serial", serial) {
        Some(m) => {
            body.insert("new_meter_id".into(), json!(m.s("id")));
            m.s("protocol")
        }
        None => {
            if f.get("new_address").is_empty() {
                return refuse(UiError::new("required", "new_address")).await;
            }
            // The successor measures what the old one did.
            body.insert(
                "new".into(),
                json!({"serial": serial, "utility": old.s("utility"), "protocol": f.get("new_protocol"), "address": f.get("new_address")}),
            );
            f.get("new_protocol").to_string()
        }
    };
    if protocol == "sts_keypad" {
        // The old meter's STS record, when it had one, tells the successor's supply group and key.
        let sts = old.at("sts");
        if sts.0.is_null() {
            return refuse(UiError::new("sts_required", "new_serial")).await;
        }
        body.insert(
            "sts".into(),
            json!({"iin": sts.s("pan").get(..6).unwrap_or("600727"), "ea": sts.s("ea"), "key_type": sts.at("key_type").0,
                   "supply_group": sts.s("supply_group").parse::<u32>().unwrap_or(0), "tariff_index": sts.at("tariff_index").0,
                   "key_revision": sts.at("key_revision").0, "key_expiry": sts.at("key_expiry").0, "base_date": sts.s("base_date")}),
        );
    }
    if let Some(r) = total_reading(&app, &f, "old_final") {
        body.insert("old_final".into(), r);
    }
    if let Some(r) = total_reading(&app, &f, "first_reading") {
        body.insert("first_reading".into(), r);
    }
    if let Some(c) = f.opt("old_credit") {
        body.insert("old_credit".into(), json!(c));
    }
    let a = ui.post(&format!("/api/v1/meters/{id}/replace"), &Value::Object(body), f.get("key")).await;
    if !a.ok() {
        let mut e = a.error();
        e.field = match e.field.as_str() {
            "reason" => "replace_reason".into(),
            f if f.starts_with("old_final") => "old_final".into(),
            f if f.starts_with("first_reading") => "first_reading".into(),
            f if f.starts_with("new.") => "new_address".into(),
            other => other.to_string(),
        };
        return refuse(e).await;
    }
    let result = a.json();
    let page = SettledPage {
        page: PageCtx::new(&ui, "replace.done"),
        back: format!("/ui/meters/{}", result.s("new_meter_id")),
        result,
    };
    html_with(&page, &None)
}

// ---------------------------------------------------------------------------------------------------------------
// 过户 (ownership transfer), STS management tokens, meters received into stock.

async fn transfer_account(State(app): State<AppState>, ui: Ui, Path(id): Path<String>, request: Request) -> Response {
    let (id, f) = match posted_to(&ui, &id, request, "/ui/counter").await {
        Ok(x) => x,
        Err(r) => return r,
    };
    for field in ["transfer_name", "transfer_reason"] {
        if f.get(field).is_empty() {
            return super::pages::account_with_error(&app, &ui, id, UiError::new("required", field)).await;
        }
    }
    let new_owner = CustomerForm {
        kind: "person".into(),
        name: f.get("transfer_name").into(),
        phones: f.get("transfer_phones").into(),
        ..CustomerForm::default()
    };
    let mut body = json!({"reason": f.get("transfer_reason"), "customer": new_owner.input()});
    if f.get("refund") == "cash"
        && let Some(b) = body.as_object_mut()
    {
        b.insert("refund".into(), json!({"to": "cash"}));
    }
    let a = ui.post(&format!("/api/v1/accounts/{id}/transfer"), &body, f.get("key")).await;
    if !a.ok() {
        let mut e = a.error();
        e.field = match e.field.as_str() {
            "reason" => "transfer_reason".into(),
            f if f.starts_with("customer.") => "transfer_name".into(),
            other => other.to_string(),
        };
        return super::pages::account_with_error(&app, &ui, id, e).await;
    }
    let result = a.json();
    let back = format!("/ui/accounts/{}", result.s("new_account_id"));
    html_with(&SettledPage { page: PageCtx::new(&ui, "transfer.done"), result, back }, &None)
}

#[derive(Template)]
#[template(path = "meter_tokens.html")]
struct MeterTokensPage {
    page: PageCtx,
    meter: J,
    issued: J,
}

async fn sts_tokens(State(app): State<AppState>, ui: Ui, Path(id): Path<String>, request: Request) -> Response {
    let (id, f) = match posted_to(&ui, &id, request, "/ui/counter").await {
        Ok(x) => x,
        Err(r) => return r,
    };
    if f.get("token_reason").is_empty() {
        return super::pages::meter_with_error(&app, &ui, id, UiError::new("required", "token_reason")).await;
    }
    let kind = f.get("token_kind");
    let mut body = json!({"kind": kind, "reason": f.get("token_reason")});
    if let Some(b) = body.as_object_mut() {
        match kind {
            "clear_credit" => {
                b.insert("register".into(), json!(65_535));
            }
            "max_power_limit" | "max_phase_unbalance" => match f.get("watts").parse::<u64>() {
                Ok(w) => {
                    b.insert("watts".into(), json!(w));
                }
                Err(_) => {
                    return super::pages::meter_with_error(&app, &ui, id, UiError::new("bad_value", "watts")).await;
                }
            },
            _ => {}
        }
    }
    let a = ui.post(&format!("/api/v1/meters/{id}/sts-tokens"), &body, f.get("key")).await;
    if !a.ok() {
        let mut e = a.error();
        if e.field == "reason" {
            e.field = "token_reason".into();
        }
        return super::pages::meter_with_error(&app, &ui, id, e).await;
    }
    let meter = ui.get(&format!("/api/v1/meters/{id}")).await.json();
    html_with(&MeterTokensPage { page: PageCtx::new(&ui, "tokens.title"), meter, issued: a.json() }, &None)
}

impl MeterTokensPage {
    pub fn grouped(&self) -> Vec<String> {
        self.issued.list("tokens").iter().map(|t| super::group_token(&t.text())).collect()
    }
}

#[derive(Template)]
#[template(path = "stock.html")]
struct StockPage {
    page: PageCtx,
    meters: Vec<J>,
    form: OpenForm,
    key: String,
    error: Option<UiError>,
}

async fn stock_page(app: &AppState, ui: &Ui, form: OpenForm, error: Option<UiError>) -> Response {
    let a = ui.get("/api/v1/meters?state=in_stock&limit=200").await;
    if !a.ok() {
        return error_page(ui, a.error(), "/ui/");
    }
    let page = StockPage {
        page: PageCtx::new(ui, "stock.title"),
        meters: a.json().list("items"),
        form,
        key: new_key(app),
        error: error.clone(),
    };
    html_with(&page, &error)
}

async fn stock(State(app): State<AppState>, ui: Ui) -> Response {
    stock_page(&app, &ui, OpenForm::blank(), None).await
}

async fn receive_meter(State(app): State<AppState>, ui: Ui, request: Request) -> Response {
    let f = match checked_form(&ui, request).await {
        Ok(f) => f,
        Err(r) => return r,
    };
    let form = OpenForm::from_form(&f);
    for field in ["serial", "address"] {
        if f.get(field).is_empty() {
            return stock_page(&app, &ui, form, Some(UiError::new("required", field))).await;
        }
    }
    let body = json!({
        "serial": form.serial, "utility": form.utility, "protocol": form.protocol, "address": form.address,
        "premises_id": ui.principal.scope().as_uuid(),
    });
    let a = ui.post("/api/v1/meters", &body, f.get("key")).await;
    if !a.ok() {
        return stock_page(&app, &ui, form, Some(a.error())).await;
    }
    see_other("/ui/stock")
}

// ---------------------------------------------------------------------------------------------------------------
// Administration: counters and agents (vending points), one's API tokens, backups.

#[derive(Template)]
#[template(path = "admin.html")]
struct AdminPage {
    page: PageCtx,
    points: Vec<J>,
    scopes: Vec<J>,
    tokens: Vec<J>,
    backups: Option<Vec<J>>,
    /// A token's secret, shown once right after it was made.
    secret: String,
    key: String,
    error: Option<UiError>,
}

async fn admin_page(app: &AppState, ui: &Ui, secret: String, error: Option<UiError>) -> Response {
    let can = |p| ui.principal.can(p);
    let points = if can(Permission::VendingPointsRead) {
        ui.get("/api/v1/vending-points?limit=200").await.json().list("items")
    } else {
        Vec::new()
    };
    let tokens = ui.get("/api/v1/api-tokens?limit=100").await.json().list("items");
    let backups = if can(Permission::BackupsManage) {
        let a = ui.get("/api/v1/backups").await;
        match a.json().0 {
            Value::Array(items) if a.ok() => Some(items.into_iter().map(J).collect()),
            _ => None,
        }
    } else {
        None
    };
    let page = AdminPage {
        page: PageCtx::new(ui, "admin.title"),
        points,
        scopes: scopes(ui).await,
        tokens,
        backups,
        secret,
        key: new_key(app),
        error: error.clone(),
    };
    html_with(&page, &error)
}

async fn admin(State(app): State<AppState>, ui: Ui) -> Response {
    admin_page(&app, &ui, String::new(), None).await
}

/// One administration form: its API call, answered with the page (and a refusal next to its form).
async fn admin_action(State(app): State<AppState>, ui: Ui, Path(action): Path<String>, request: Request) -> Response {
    let f = match checked_form(&ui, request).await {
        Ok(f) => f,
        Err(r) => return r,
    };
    let key = f.get("key");
    let answer = match action.as_str() {
        "vending-point" => {
            if f.get("point_name").is_empty() {
                return admin_page(&app, &ui, String::new(), Some(UiError::new("required", "point_name"))).await;
            }
            let mut body = json!({"premises_id": f.get("point_premises"), "name": f.get("point_name"), "currency": f.get("point_currency")});
            if let (Some(limit), Some(b)) = (f.opt("point_credit_limit"), body.as_object_mut()) {
                b.insert("credit_limit".into(), json!(limit));
            }
            ui.post("/api/v1/vending-points", &body, key).await
        }
        "settle" => {
            let Some(point) = uuid_ok(f.get("point_id")) else {
                return admin_page(&app, &ui, String::new(), Some(UiError::new("not_found", "settle_amount"))).await;
            };
            let body = json!({"amount": f.get("settle_amount"), "reference": f.get("settle_reference")});
            ui.post(&format!("/api/v1/vending-points/{point}/settlements"), &body, key).await
        }
        "token" => {
            if f.get("token_name").is_empty() {
                return admin_page(&app, &ui, String::new(), Some(UiError::new("required", "token_name"))).await;
            }
            ui.post("/api/v1/api-tokens", &json!({"name": f.get("token_name")}), key).await
        }
        "revoke" => {
            let Some(token) = uuid_ok(f.get("token_id")) else {
                return admin_page(&app, &ui, String::new(), Some(UiError::new("not_found", ""))).await;
            };
            ui.call(Method::DELETE, &format!("/api/v1/api-tokens/{token}"), None, Some(key)).await
        }
        "backup" => ui.call(Method::POST, "/api/v1/backups", None, None).await,
        _ => return error_page(&ui, UiError::new("not_found", ""), "/ui/admin"),
    };
    if !answer.ok() {
        let mut e = answer.error();
        // Each form's fields carry its prefix on the page.
        let prefix = match action.as_str() {
            "vending-point" => "point_",
            "settle" => "settle_",
            "token" => "token_",
            _ => "",
        };
        if !e.field.is_empty() && !prefix.is_empty() {
            e.field = format!("{prefix}{}", e.field.replace("premises_id", "premises"));
        }
        return admin_page(&app, &ui, String::new(), Some(e)).await;
    }
    // A new token's secret is shown this once (a retry of the same form gets the token without it); every other
    // form goes back to the page, so that reloading it repeats nothing.
    if action == "token" {
        return admin_page(&app, &ui, answer.json().s("secret"), None).await;
    }
    see_other("/ui/admin")
}

/// OpenPAYGO management tokens (set time, disable PAYG, counter sync) for a device, shown like STS ones.
async fn openpaygo_token(State(app): State<AppState>, ui: Ui, Path(id): Path<String>, request: Request) -> Response {
    let (id, f) = match posted_to(&ui, &id, request, "/ui/counter").await {
        Ok(x) => x,
        Err(r) => return r,
    };
    if f.get("opg_reason").is_empty() {
        return super::pages::meter_with_error(&app, &ui, id, UiError::new("required", "opg_reason")).await;
    }
    let kind = f.get("opg_kind");
    let mut body = json!({"kind": kind, "reason": f.get("opg_reason")});
    if kind == "set_time"
        && let Some(b) = body.as_object_mut()
    {
        match f.get("opg_units").parse::<u32>() {
            Ok(units) => {
                b.insert("units".into(), json!(units));
            }
            Err(_) => {
                return super::pages::meter_with_error(&app, &ui, id, UiError::new("bad_value", "opg_units")).await;
            }
        }
    }
    let a = ui.post(&format!("/api/v1/meters/{id}/openpaygo-tokens"), &body, f.get("key")).await;
    if !a.ok() {
        let mut e = a.error();
        if e.field == "reason" || e.field == "units" {
            e.field = format!("opg_{}", e.field);
        }
        return super::pages::meter_with_error(&app, &ui, id, e).await;
    }
    let meter = ui.get(&format!("/api/v1/meters/{id}")).await.json();
    html_with(&MeterTokensPage { page: PageCtx::new(&ui, "tokens.title"), meter, issued: a.json() }, &None)
}
