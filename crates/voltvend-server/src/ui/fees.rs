//! 房租 / 物业费 pages: the schedules of one's sites with the forms that make a schedule, set a unit's floor area
//! and a premises' overdue policy; a schedule's month (issued or previewed) with the button that issues it; the
//! counter's payment of an account's fees and its receipt. Every read and write is an API call as the operator
//! (ADR 0004).

use askama::Template;
use axum::Router;
use axum::extract::{Path, Query, Request, State};
use axum::response::Response;
use axum::routing::{get, post};
use serde_json::json;
use voltvend_domain::Permission;

use super::pages::{PageCtx, csrf_refused, error_page, html_with, new_key, read_form, see_other, uuid_ok};
use super::{J, PeriodQuery, Ui, UiError, month_at, percent, segment};
use crate::http::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/ui/fees", get(schedules).post(fees_form))
        .route("/ui/fees/{id}", get(schedule))
        .route("/ui/fees/{id}/issue", post(issue))
        .route("/ui/fees/{id}/dun", post(dun))
        .route("/ui/fees/{id}/disconnect", post(disconnect))
        .route("/ui/accounts/{id}/fees", post(pay))
        .route("/ui/fee-receipts/{id}", get(receipt))
}

#[derive(Template)]
#[template(path = "fees.html")]
struct SchedulesPage {
    page: PageCtx,
    schedules: Vec<J>,
    policies: Vec<J>,
    /// Sites a schedule or a policy may be set on: every premises in scope but units.
    sites: Vec<J>,
    units: Vec<J>,
    key: String,
    error: Option<UiError>,
    /// Which form was sent ("schedule", "policy", "area") and what it held, to fill it again after a refusal.
    form: J,
}

async fn schedules_page(app: &AppState, ui: &Ui, form: J, error: Option<UiError>) -> Response {
    let a = ui.get("/api/v1/fee-schedules?limit=200").await;
    if !a.ok() {
        return error_page(ui, a.error(), "/ui/");
    }
    let policies = ui.get("/api/v1/fee-policies").await;
    let policies = if policies.ok() { policies.json().0.as_array().cloned().unwrap_or_default() } else { Vec::new() };
    let premises = ui.get("/api/v1/premises?limit=500").await;
    let premises = if premises.ok() { premises.json().list("items") } else { Vec::new() };
    let (units, sites): (Vec<J>, Vec<J>) = premises.into_iter().partition(|p| p.is("level", "unit"));
    let page = SchedulesPage {
        page: PageCtx::new(ui, "fees.title"),
        schedules: a.json().list("items"),
        policies: policies.into_iter().map(J).collect(),
        sites,
        units,
        key: new_key(app),
        error: error.clone(),
        form,
    };
    html_with(&page, &error)
}

async fn schedules(State(app): State<AppState>, ui: Ui) -> Response {
    schedules_page(&app, &ui, J(json!({})), None).await
}

/// The page's three forms: a new schedule, a floor area, an overdue policy.
async fn fees_form(State(app): State<AppState>, ui: Ui, request: Request) -> Response {
    let f = read_form(request).await;
    if !f.csrf_ok(&ui) {
        return csrf_refused(&ui);
    }
    if !ui.principal.can(Permission::FeesManage) {
        return error_page(&ui, UiError::new("forbidden", ""), "/ui/fees");
    }
    let which = f.get("form").to_string();
    let form = J(json!({
        "form": which, "name": f.get("name"), "site": f.get("site"), "basis": f.get("basis"), "rate": f.get("rate"),
        "currency": f.get("currency"), "due_day": f.get("due_day"), "unit": f.get("unit"), "area": f.get("area"),
        "policy": f.get("policy"), "share": f.get("share"), "late_fee": f.get("late_fee"),
        "disconnect_after_days": f.get("disconnect_after_days"),
    }));
    let (path, body) = match which.as_str() {
        "schedule" => {
            let Ok(due_day) = f.get("due_day").trim().parse::<i64>() else {
                return schedules_page(&app, &ui, form, Some(UiError::new("fee_due_day", "due_day"))).await;
            };
            let notice = match f.get("disconnect_after_days").trim() {
                "" => 0,
                t => match t.parse::<i64>() {
                    Ok(days) => days,
                    Err(_) => {
                        let e = UiError::new("disconnect_notice", "disconnect_after_days");
                        return schedules_page(&app, &ui, form, Some(e)).await;
                    }
                },
            };
            let body = json!({
                "premises_id": f.get("site"), "name": f.get("name"), "basis": f.get("basis"), "rate": f.get("rate"),
                "currency": f.get("currency"), "due_day": due_day,
                "late_fee_percent": Some(f.get("late_fee").trim()).filter(|t| !t.is_empty()),
                "disconnect_after_days": notice,
            });
            ("/api/v1/fee-schedules".to_string(), body)
        }
        "area" => match uuid_ok(f.get("unit")) {
            Some(unit) => (format!("/api/v1/premises/{unit}/floor-area"), json!({"floor_area_m2": f.get("area")})),
            None => return schedules_page(&app, &ui, form, Some(UiError::new("not_found", "unit"))).await,
        },
        "policy" => match uuid_ok(f.get("site")) {
            Some(site) => {
                let share = Some(f.get("share").trim()).filter(|s| !s.is_empty());
                (
                    format!("/api/v1/premises/{site}/fee-policy"),
                    json!({"policy": f.get("policy"), "share_percent": share}),
                )
            }
            None => return schedules_page(&app, &ui, form, Some(UiError::new("not_found", "site"))).await,
        },
        _ => return schedules_page(&app, &ui, form, Some(UiError::new("bad_request", ""))).await,
    };
    let a = ui.post(&path, &body, f.get("key")).await;
    if !a.ok() {
        return schedules_page(&app, &ui, form, Some(a.error())).await;
    }
    match which.as_str() {
        "schedule" => see_other(&format!("/ui/fees/{}", segment(&a.json().s("id")))),
        _ => see_other("/ui/fees"),
    }
}

#[derive(Template)]
#[template(path = "fee_schedule.html")]
struct SchedulePage {
    page: PageCtx,
    schedule: J,
    period: String,
    /// The month, issued or previewed; none when it cannot be shown (then `refusal` says why).
    month: Option<J>,
    refusal: Option<UiError>,
    key: String,
    error: Option<UiError>,
}

async fn schedule_page(app: &AppState, ui: &Ui, id: &str, period: &str, error: Option<UiError>) -> Response {
    let Some(id) = uuid_ok(id) else { return error_page(ui, UiError::new("not_found", ""), "/ui/fees") };
    let a = ui.get(&format!("/api/v1/fee-schedules/{id}")).await;
    if !a.ok() {
        return error_page(ui, a.error(), "/ui/fees");
    }
    // This month by default: fees are issued for the month they are for.
    let period = match period {
        "" => app.now().to_zoned(ui.tz.clone()).date().strftime("%Y-%m").to_string(),
        p => p.to_string(),
    };
    let (month, refusal) = month_at(ui, &format!("/api/v1/fee-schedules/{id}/periods/{}", segment(&period))).await;
    let page = SchedulePage {
        page: PageCtx::new(ui, "fees.title"),
        schedule: a.json(),
        period,
        month,
        refusal,
        key: new_key(app),
        error: error.clone(),
    };
    html_with(&page, &error)
}

async fn schedule(
    State(app): State<AppState>,
    ui: Ui,
    Path(id): Path<String>,
    Query(q): Query<PeriodQuery>,
) -> Response {
    schedule_page(&app, &ui, &id, q.period.as_deref().unwrap_or(""), None).await
}

/// 出账: the month issued as the preview showed it.
async fn issue(State(app): State<AppState>, ui: Ui, Path(id): Path<String>, request: Request) -> Response {
    let f = read_form(request).await;
    if !f.csrf_ok(&ui) {
        return csrf_refused(&ui);
    }
    let period = f.get("period").to_string();
    let Some(schedule) = uuid_ok(&id) else { return error_page(&ui, UiError::new("not_found", ""), "/ui/fees") };
    let a = ui
        .post(&format!("/api/v1/fee-schedules/{schedule}/periods/{}", segment(&period)), &json!(null), f.get("key"))
        .await;
    if !a.ok() {
        return schedule_page(&app, &ui, &id, &period, Some(a.error())).await;
    }
    see_other(&format!("/ui/fees/{schedule}?period={}", percent(&period)))
}

/// 催缴: the month's overdue charges reminded and charged the late fee.
async fn dun(State(app): State<AppState>, ui: Ui, Path(id): Path<String>, request: Request) -> Response {
    month_action(app, ui, id, request, "dunning").await
}

/// 欠费停电: the month's bills still unpaid after the notice disconnected.
async fn disconnect(State(app): State<AppState>, ui: Ui, Path(id): Path<String>, request: Request) -> Response {
    month_action(app, ui, id, request, "disconnection").await
}

/// A month's action (`/api/v1/fee-schedules/{id}/periods/{YYYY-MM}/{action}`), then the month's page.
async fn month_action(app: AppState, ui: Ui, id: String, request: Request, action: &str) -> Response {
    let f = read_form(request).await;
    if !f.csrf_ok(&ui) {
        return csrf_refused(&ui);
    }
    let period = f.get("period").to_string();
    let Some(schedule) = uuid_ok(&id) else { return error_page(&ui, UiError::new("not_found", ""), "/ui/fees") };
    let path = format!("/api/v1/fee-schedules/{schedule}/periods/{}/{action}", segment(&period));
    let a = ui.post(&path, &json!(null), f.get("key")).await;
    if !a.ok() {
        return schedule_page(&app, &ui, &id, &period, Some(a.error())).await;
    }
    see_other(&format!("/ui/fees/{schedule}?period={}", percent(&period)))
}

/// 收费: the account's fees paid at the counter; the receipt prints next.
async fn pay(State(app): State<AppState>, ui: Ui, Path(id): Path<String>, request: Request) -> Response {
    let Some(id) = uuid_ok(&id) else { return error_page(&ui, UiError::new("not_found", ""), "/ui/counter") };
    let f = read_form(request).await;
    if !f.csrf_ok(&ui) {
        return csrf_refused(&ui);
    }
    let body =
        json!({"amount": f.get("fee_amount"), "method": f.get("fee_method"), "reference": f.get("fee_reference")});
    let a = ui.post(&format!("/api/v1/accounts/{id}/fee-payments"), &body, f.get("key")).await;
    if !a.ok() {
        return super::pages::account_with_error(&app, &ui, id, a.error()).await;
    }
    see_other(&format!("/ui/fee-receipts/{}", segment(&a.json().s("id"))))
}

async fn receipt(ui: Ui, Path(id): Path<String>) -> Response {
    let Some(id) = uuid_ok(&id) else { return error_page(&ui, UiError::new("not_found", ""), "/ui/counter") };
    let a = ui.get(&format!("/api/v1/fee-payments/{id}/receipt?format=html&lang={}", ui.lang.tag())).await;
    super::pages::printable(&ui, a, "/ui/counter")
}
