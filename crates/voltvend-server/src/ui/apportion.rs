//! 公摊 pages: the rules of one's sites, a rule's month (line loss, pool, each unit's share; posted or previewed)
//! with the button that posts it, and a unit's printable statement. Every read and write is an API call as the
//! operator (ADR 0004).

use askama::Template;
use axum::Router;
use axum::extract::{Path, Query, Request, State};
use axum::response::Response;
use axum::routing::{get, post};
use serde_json::json;

use super::pages::{PageCtx, csrf_refused, error_page, html_with, new_key, read_form, see_other, uuid_ok};
use super::{J, PeriodQuery, Ui, UiError, month_at, percent, segment};
use crate::http::AppState;
use voltvend_domain::Permission;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/ui/apportionment", get(rules).post(create_rule))
        .route("/ui/apportionment/{id}", get(rule))
        .route("/ui/apportionment/{id}/post", post(post_month))
        .route("/ui/apportionment/{id}/{period}/{unit}", get(statement))
}

#[derive(Template)]
#[template(path = "apportionment.html")]
struct RulesPage {
    page: PageCtx,
    rules: Vec<J>,
    /// Sites a rule may be made for: every premises in scope but units.
    sites: Vec<J>,
    key: String,
    error: Option<UiError>,
    /// The form as sent, to fill it again after a refusal.
    form: J,
}

async fn rules_page(app: &AppState, ui: &Ui, form: J, error: Option<UiError>) -> Response {
    let a = ui.get("/api/v1/apportionment-rules?limit=200").await;
    if !a.ok() {
        return error_page(ui, a.error(), "/ui/");
    }
    let sites = ui.get("/api/v1/premises?limit=500").await;
    let sites = if sites.ok() { sites.json().list("items") } else { Vec::new() };
    let page = RulesPage {
        page: PageCtx::new(ui, "apportionment.title"),
        rules: a.json().list("items"),
        sites: sites.into_iter().filter(|p| !p.is("level", "unit")).collect(),
        key: new_key(app),
        error: error.clone(),
        form,
    };
    html_with(&page, &error)
}

async fn rules(State(app): State<AppState>, ui: Ui) -> Response {
    rules_page(&app, &ui, J(json!({})), None).await
}

/// The meter whose serial is exactly `serial`, among those the operator sees.
async fn meter_by_serial(ui: &Ui, serial: &str) -> Option<String> {
    let a = ui.get(&format!("/api/v1/meters?q={}&limit=50", percent(serial))).await;
    a.json().list("items").into_iter().find(|m| m.s("serial") == serial).map(|m| m.s("id"))
}

/// The unit named `name` within `site`.
async fn unit_by_name(ui: &Ui, site: &str, name: &str) -> Option<String> {
    let a = ui.get(&format!("/api/v1/premises?q={}&level=unit&limit=100", percent(name))).await;
    a.json()
        .list("items")
        .into_iter()
        .find(|p| {
            p.s("name") == name
                && p.0.get("path").and_then(|v| v.as_array()).is_some_and(|path| path.iter().any(|x| x == site))
        })
        .map(|p| p.s("id"))
}

/// A new rule from the form: meters by serial, units one per line as "name, floor area".
async fn create_rule(State(app): State<AppState>, ui: Ui, request: Request) -> Response {
    let f = read_form(request).await;
    if !f.csrf_ok(&ui) {
        return csrf_refused(&ui);
    }
    if !ui.principal.can(Permission::ApportionmentManage) {
        return error_page(&ui, UiError::new("forbidden", ""), "/ui/apportionment");
    }
    let form = J(json!({
        "name": f.get("name"), "site": f.get("site"), "utility": f.get("utility"), "basis": f.get("basis"),
        "pool": f.get("pool"), "price": f.get("price"), "currency": f.get("currency"), "parent": f.get("parent"),
        "common": f.get("common"), "units": f.raw("units"),
    }));
    let refuse = |code: &str, field: &str| Some(UiError::new(code, field));
    let site = f.get("site").to_string();
    let parent = match f.get("parent").trim() {
        "" => None,
        serial => match meter_by_serial(&ui, serial).await {
            Some(id) => Some(id),
            None => return rules_page(&app, &ui, form, refuse("not_found", "parent")).await,
        },
    };
    let mut common = Vec::new();
    for serial in f.get("common").split([',', ' ', '\n']).map(str::trim).filter(|s| !s.is_empty()) {
        match meter_by_serial(&ui, serial).await {
            Some(id) => common.push(id),
            None => return rules_page(&app, &ui, form, refuse("not_found", "common")).await,
        }
    }
    let mut units = Vec::new();
    for line in f.raw("units").lines().map(str::trim).filter(|l| !l.is_empty()) {
        // "A-101, 85.50" (a comma or a tab before the area: a name may hold spaces and digits) or "A-101".
        let (name, area) = match line.rsplit_once([',', '，', '\t']) {
            Some((n, a)) => (n.trim(), Some(a.trim())),
            None => (line, None),
        };
        match unit_by_name(&ui, &site, name).await {
            Some(id) => units.push(json!({"premises_id": id, "floor_area_m2": area})),
            None => return rules_page(&app, &ui, form, refuse("not_found", "units")).await,
        }
    }
    let body = json!({
        "name": f.get("name"), "premises_id": site, "utility": f.get("utility"), "basis": f.get("basis"),
        "pool": f.get("pool"), "price": f.get("price"), "currency": f.get("currency"), "parent_meter_id": parent,
        "common_meter_ids": common, "units": units,
    });
    let a = ui.post("/api/v1/apportionment-rules", &body, f.get("key")).await;
    if !a.ok() {
        return rules_page(&app, &ui, form, Some(a.error())).await;
    }
    see_other(&format!("/ui/apportionment/{}", segment(&a.json().s("id"))))
}

#[derive(Template)]
#[template(path = "apportionment_rule.html")]
struct RulePage {
    page: PageCtx,
    rule: J,
    period: String,
    /// The month, posted or previewed; none when it cannot be shown (then `refusal` says why).
    month: Option<J>,
    refusal: Option<UiError>,
    key: String,
    error: Option<UiError>,
}

async fn rule_page(app: &AppState, ui: &Ui, id: &str, period: &str, error: Option<UiError>) -> Response {
    let Some(id) = uuid_ok(id) else { return error_page(ui, UiError::new("not_found", ""), "/ui/apportionment") };
    let a = ui.get(&format!("/api/v1/apportionment-rules/{id}")).await;
    if !a.ok() {
        return error_page(ui, a.error(), "/ui/apportionment");
    }
    // The month before this one by default: the latest that can be over.
    let period = match period {
        "" => app
            .now()
            .to_zoned(ui.tz.clone())
            .date()
            .first_of_month()
            .yesterday()
            .map(|d| d.strftime("%Y-%m").to_string())
            .unwrap_or_default(),
        p => p.to_string(),
    };
    let (month, refusal) =
        month_at(ui, &format!("/api/v1/apportionment-rules/{id}/periods/{}", segment(&period))).await;
    let page = RulePage {
        page: PageCtx::new(ui, "apportionment.title"),
        rule: a.json(),
        period,
        month,
        refusal,
        key: new_key(app),
        error: error.clone(),
    };
    html_with(&page, &error)
}

async fn rule(State(app): State<AppState>, ui: Ui, Path(id): Path<String>, Query(q): Query<PeriodQuery>) -> Response {
    rule_page(&app, &ui, &id, q.period.as_deref().unwrap_or(""), None).await
}

/// 公摊入账: the month posted as the preview showed it.
async fn post_month(State(app): State<AppState>, ui: Ui, Path(id): Path<String>, request: Request) -> Response {
    let f = read_form(request).await;
    if !f.csrf_ok(&ui) {
        return csrf_refused(&ui);
    }
    let period = f.get("period").to_string();
    let Some(rule) = uuid_ok(&id) else { return error_page(&ui, UiError::new("not_found", ""), "/ui/apportionment") };
    let a = ui
        .post(&format!("/api/v1/apportionment-rules/{rule}/periods/{}", segment(&period)), &json!(null), f.get("key"))
        .await;
    if !a.ok() {
        return rule_page(&app, &ui, &id, &period, Some(a.error())).await;
    }
    see_other(&format!("/ui/apportionment/{rule}?period={}", percent(&period)))
}

#[derive(Template)]
#[template(path = "apportionment_statement.html")]
struct StatementPage {
    page: PageCtx,
    rule: J,
    statement: J,
    month: J,
    share: J,
}

/// A unit's statement of a month, to print and hand to the tenant.
async fn statement(
    State(_app): State<AppState>,
    ui: Ui,
    Path((id, period, unit)): Path<(String, String, String)>,
) -> Response {
    let (Some(id), Some(unit)) = (uuid_ok(&id), uuid_ok(&unit)) else {
        return error_page(&ui, UiError::new("not_found", ""), "/ui/apportionment");
    };
    let rule = ui.get(&format!("/api/v1/apportionment-rules/{id}")).await;
    if !rule.ok() {
        return error_page(&ui, rule.error(), "/ui/apportionment");
    }
    let back = format!("/ui/apportionment/{id}?period={}", percent(&period));
    let a = ui.get(&format!("/api/v1/apportionment-rules/{id}/periods/{}/units/{unit}", segment(&period))).await;
    if !a.ok() {
        return error_page(&ui, a.error(), &back);
    }
    let statement = a.json();
    let month = statement.at("period");
    let share = month.list("shares").into_iter().next().unwrap_or_else(|| J(json!({})));
    let page = StatementPage {
        page: PageCtx::new(&ui, "apportionment.statement"),
        rule: rule.json(),
        statement,
        month,
        share,
    };
    html_with(&page, &None)
}
