//! 能耗分析 (分类分项): consumption by category, sub-item, building or meter over a month, beside the month
//! before (环比) or the same month a year earlier (同比), with the largest consumers and a bar chart; meters
//! tagged with what they measure. Every read and write is an API call as the operator (ADR 0004).

use askama::Template;
use axum::Router;
use axum::extract::{Query, Request, State};
use axum::response::Response;
use axum::routing::get;
use serde_json::json;

use super::chart::{self, Point};
use super::pages::{PageCtx, csrf_refused, error_page, html_with, new_key, read_form, see_other};
use super::{J, Ui, UiError, percent};
use crate::http::AppState;
use voltvend_domain::Permission;

pub fn routes() -> Router<AppState> {
    Router::new().route("/ui/energy", get(energy).post(tag_meter)).route("/ui/books", get(books))
}

/// 集团财务: each property's books and the group's as their sum.
#[derive(Template)]
#[template(path = "books.html")]
struct BooksPage {
    page: PageCtx,
    books: Option<J>,
    /// The month reconciled, and the sales ledger against the ledger in it, per property.
    month: String,
    reconciliation: Option<J>,
    error: Option<UiError>,
}

#[derive(serde::Deserialize, Default)]
struct BooksQuery {
    /// The month reconciled (`YYYY-MM`, the operator's time zone); this month by default.
    month: Option<String>,
}

async fn books(State(app): State<AppState>, ui: Ui, Query(q): Query<BooksQuery>) -> Response {
    let a = ui.get("/api/v1/reports/books").await;
    let (books, mut error) = if a.ok() { (Some(a.json()), None) } else { (None, Some(a.error())) };
    let month = match q.month.as_deref().filter(|m| !m.is_empty()) {
        Some(m) => m.to_string(),
        None => app.now().to_zoned(ui.tz.clone()).date().strftime("%Y-%m").to_string(),
    };
    let mut reconciliation = None;
    match month_bounds(&ui, &month) {
        Some((from, to)) => {
            let path = format!(
                "/api/v1/reports/reconciliation?from={}&to={}",
                percent(&from.to_string()),
                percent(&to.to_string())
            );
            let r = ui.get(&path).await;
            if r.ok() {
                reconciliation = Some(r.json());
            } else if error.is_none() {
                error = Some(r.error());
            }
        }
        None => error = Some(UiError::new("bad_period", "month")),
    }
    let page = BooksPage { page: PageCtx::new(&ui, "books.title"), books, month, reconciliation, error: error.clone() };
    html_with(&page, &error)
}

/// A month (`YYYY-MM`) from its first midnight to the next month's, in the operator's time zone.
fn month_bounds(ui: &Ui, month: &str) -> Option<(jiff::Timestamp, jiff::Timestamp)> {
    let first = jiff::civil::Date::strptime("%Y-%m-%d", format!("{month}-01")).ok()?;
    let next = first.checked_add(jiff::Span::new().months(1)).ok()?;
    let at = |d: jiff::civil::Date| d.to_zoned(ui.tz.clone()).ok().map(|z| z.timestamp());
    Some((at(first)?, at(next)?))
}

#[derive(Template)]
#[template(path = "energy.html")]
struct EnergyPage {
    page: PageCtx,
    places: Vec<J>,
    q: EnergyQuery,
    report: Option<J>,
    chart_svg: String,
    /// 负荷曲线: the month day by day, and its peak day's average demand.
    curve: Option<J>,
    curve_svg: String,
    /// The report's query string, for its exports.
    export: String,
    key: String,
    error: Option<UiError>,
}

#[derive(serde::Deserialize, Default, Clone)]
struct EnergyQuery {
    premises: Option<String>,
    month: Option<String>,
    group_by: Option<String>,
    compare: Option<String>,
    top: Option<String>,
}

impl EnergyQuery {
    fn get<'a>(v: &'a Option<String>, default: &'a str) -> &'a str {
        v.as_deref().filter(|s| !s.is_empty()).unwrap_or(default)
    }
}

async fn energy_page(app: &AppState, ui: &Ui, mut q: EnergyQuery, error: Option<UiError>) -> Response {
    let places = ui.get("/api/v1/premises?limit=500").await;
    if !places.ok() {
        return error_page(ui, places.error(), "/ui/");
    }
    let places: Vec<J> = places.json().list("items").into_iter().filter(|p| !p.is("level", "unit")).collect();
    // Last month by default: the latest that is over.
    let today = app.now().to_zoned(ui.tz.clone()).date();
    let month = match q.month.as_deref().filter(|m| !m.is_empty()) {
        Some(m) => m.to_string(),
        None => today.first_of_month().yesterday().map(|d| d.strftime("%Y-%m").to_string()).unwrap_or_default(),
    };
    q.month = Some(month.clone());
    let Some((from, to)) = month_bounds(ui, &month) else {
        return error_page(ui, UiError::new("bad_period", "month"), "/ui/energy");
    };
    let group_by = EnergyQuery::get(&q.group_by, "category").to_string();
    let mut query =
        format!("from={}&to={}&group_by={}", percent(&from.to_string()), percent(&to.to_string()), percent(&group_by));
    if let Some(p) = q.premises.as_deref().filter(|p| !p.is_empty()) {
        query.push_str(&format!("&premises_id={}", percent(p)));
    }
    if let Some(c) = q.compare.as_deref().filter(|c| !c.is_empty()) {
        query.push_str(&format!("&compare={}", percent(c)));
    }
    if let Some(t) = q.top.as_deref().filter(|t| !t.is_empty()) {
        query.push_str(&format!("&top={}", percent(t)));
    }
    let a = ui.get(&format!("/api/v1/reports/consumption?{query}")).await;
    let (report, error) = if a.ok() { (Some(a.json()), error) } else { (None, error.or(Some(a.error()))) };
    let page = PageCtx::new(ui, "energy.title");
    let chart_svg = match &report {
        Some(r) => {
            let points: Vec<Point> = r
                .list("rows")
                .iter()
                .filter(|row| row.is("utility", "electricity"))
                .map(|row| Point {
                    label: match row.s("label") {
                        l if l.is_empty() && group_by == "tou_period" => page.t("energy.untimed").to_string(),
                        l if l.is_empty() => page.t("energy.uncategorised").to_string(),
                        l if group_by == "category" || group_by == "tou_period" => page.word(&l),
                        l => l,
                    },
                    value: row.at("consumption").s("milli").parse().unwrap_or(0),
                })
                .collect();
            if points.is_empty() { String::new() } else { chart::bars(&points, 1000, "kWh") }
        }
        None => String::new(),
    };
    let mut curve_query = format!("from={}&to={}&interval=day", percent(&from.to_string()), percent(&to.to_string()));
    if let Some(p) = q.premises.as_deref().filter(|p| !p.is_empty()) {
        curve_query.push_str(&format!("&premises_id={}", percent(p)));
    }
    let c = ui.get(&format!("/api/v1/reports/load-curve?{curve_query}")).await;
    let curve = c.ok().then(|| c.json());
    let curve_svg = match &curve {
        Some(c) => {
            let points: Vec<Point> = c
                .list("buckets")
                .iter()
                .map(|b| Point {
                    // The day of the month: "2026-11-05T00:00:00+08:00" → "05".
                    label: b.s("start").get(8..10).unwrap_or_default().to_string(),
                    value: b.at("consumption").s("milli").parse().unwrap_or(0),
                })
                .collect();
            if points.iter().all(|p| p.value == 0) { String::new() } else { chart::bars(&points, 1000, "kWh") }
        }
        None => String::new(),
    };
    let page = EnergyPage {
        page,
        places,
        q,
        report,
        chart_svg,
        curve,
        curve_svg,
        export: query,
        key: new_key(app),
        error: error.clone(),
    };
    html_with(&page, &error)
}

async fn energy(State(app): State<AppState>, ui: Ui, Query(q): Query<EnergyQuery>) -> Response {
    energy_page(&app, &ui, q, None).await
}

/// 分类分项: a meter, by its serial, tagged with what it measures.
async fn tag_meter(State(app): State<AppState>, ui: Ui, request: Request) -> Response {
    let f = read_form(request).await;
    if !f.csrf_ok(&ui) {
        return csrf_refused(&ui);
    }
    if !ui.principal.can(Permission::MetersManage) {
        return error_page(&ui, UiError::new("forbidden", ""), "/ui/energy");
    }
    let serial = f.get("serial").trim().to_string();
    let found = ui.get(&format!("/api/v1/meters?q={}&limit=50", percent(&serial))).await;
    let meter = found.json().list("items").into_iter().find(|m| m.s("serial") == serial).map(|m| m.s("id"));
    let q = EnergyQuery { group_by: Some("sub_item".into()), ..EnergyQuery::default() };
    let Some(id) = meter.filter(|_| !serial.is_empty()) else {
        return energy_page(&app, &ui, q, Some(UiError::new("not_found", "serial"))).await;
    };
    let body = json!({"category": f.get("category"), "sub_item": f.get("sub_item")});
    let a = ui.post(&format!("/api/v1/meters/{id}/category"), &body, f.get("key")).await;
    if !a.ok() {
        return energy_page(&app, &ui, q, Some(a.error())).await;
    }
    see_other("/ui/energy?group_by=sub_item")
}

impl EnergyPage {
    /// The catalogue key of a grouping's name.
    pub fn group_key(&self, g: &str) -> &'static str {
        match g {
            "sub_item" => "energy.by_sub_item",
            "child" => "energy.by_child",
            "premises" => "energy.by_premises",
            "meter" => "energy.by_meter",
            "tou_period" => "energy.by_tou_period",
            _ => "energy.by_category",
        }
    }

    /// The catalogue key of a comparison's name.
    pub fn compare_key(&self, c: &str) -> &'static str {
        if c == "year" { "energy.year" } else { "energy.previous_month" }
    }
}
