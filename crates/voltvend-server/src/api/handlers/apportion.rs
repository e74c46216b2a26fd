//! 公摊: apportionment rules, a month's line loss and shares (posted, or previewed by the posting itself thrown
//! away), and meters installed with no account to be measured (the parent and common-area meters).

use std::collections::HashMap;
use std::sync::Arc;

use axum::Extension;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use uuid::Uuid;
use voltvend_domain::apportion::{Basis, Pool};
use voltvend_domain::decimal::{format_scaled, parse_scaled};
use voltvend_domain::{ApportionmentRuleId, PremisesId, UnitPrice, Utility};
use voltvend_ops::{
    Applied, ApportionPeriod, ApportionedUnit, ApportionmentRule, ApportionmentRun, Command, CreateApportionmentRule,
    InstallMeter, Operation, Outcome,
};
use voltvend_store::ListQuery;

use super::customers::visible_meter;
use super::places::currency;
use crate::api::auth::Principal;
use crate::api::error::{ApiError, ApiResult};
use crate::api::extract::{ApiJson, ApiPath, ApiQuery, ClientAddr, IdempotencyKey};
use crate::api::views::*;
use crate::api::write::{self, Reply};
use crate::http::AppState;

/// `YYYY-MM` as `year × 100 + month` (the operation checks the range).
pub fn period_of(text: &str) -> ApiResult<i32> {
    let bad = || ApiError::field("period", "bad_period", "a period is a month, YYYY-MM");
    let (y, m) = text.split_once('-').ok_or_else(bad)?;
    if y.len() != 4 || m.len() != 2 {
        return Err(bad());
    }
    let (y, m): (i32, i32) = (y.parse().map_err(|_| bad())?, m.parse().map_err(|_| bad())?);
    if !(2000..2200).contains(&y) || !(1..=12).contains(&m) {
        return Err(bad());
    }
    Ok(y * 100 + m)
}

pub fn period_text(period: i32) -> String {
    format!("{:04}-{:02}", period / 100, period % 100)
}

fn unit_name(utility: Utility) -> &'static str {
    match utility {
        Utility::Electricity => "kWh",
        Utility::Water => "m³",
    }
}

fn enum_field<T: std::str::FromStr>(field: &str, text: &str, allowed: &str) -> ApiResult<T> {
    text.parse().map_err(|_| ApiError::field(field, "bad_value", format!("{field} must be {allowed}")))
}

pub async fn visible_rule(app: &AppState, p: &Principal, id: Uuid) -> ApiResult<ApportionmentRule> {
    let rule =
        app.store.apportionment_rule(id.into()).await?.ok_or_else(|| ApiError::not_found("apportionment rule"))?;
    app.visible(p, rule.premises_id, "apportionment rule").await?;
    Ok(rule)
}

/// The names of a rule's units.
async fn unit_names(app: &AppState, rule: &ApportionmentRule) -> ApiResult<HashMap<PremisesId, String>> {
    let mut names = HashMap::with_capacity(rule.units.len());
    for u in &rule.units {
        names.insert(u.premises_id, app.premises(u.premises_id).await?.name);
    }
    Ok(names)
}

fn rule_view(
    rule: &ApportionmentRule,
    names: &HashMap<PremisesId, String>,
    posted: Vec<String>,
) -> ApportionmentRuleView {
    ApportionmentRuleView {
        id: rule.id.as_uuid(),
        name: rule.name.clone(),
        premises_id: rule.premises_id.as_uuid(),
        utility: rule.utility.as_str().to_string(),
        basis: rule.basis.as_str().to_string(),
        pool: rule.pool.as_str().to_string(),
        price: format_scaled(rule.price.micro_per_unit(), 6),
        currency: rule.price.currency().code().to_string(),
        unit: unit_name(rule.utility).to_string(),
        parent_meter_id: rule.parent_meter.map(|m| m.as_uuid()),
        common_meter_ids: rule.common_meters.iter().map(|m| m.as_uuid()).collect(),
        units: rule
            .units
            .iter()
            .map(|u| ApportionedUnitView {
                premises_id: u.premises_id.as_uuid(),
                name: names.get(&u.premises_id).cloned().unwrap_or_default(),
                floor_area_m2: format_scaled(u.floor_area_dm2, 2),
            })
            .collect(),
        created_at: instant(rule.created_at),
        posted,
    }
}

pub fn period_view(
    rule: &ApportionmentRule,
    run: &ApportionmentRun,
    posted: bool,
    names: &HashMap<PremisesId, String>,
) -> ApportionmentPeriodView {
    let unit = unit_name(rule.utility);
    let c = run.currency;
    let total_weight: i128 = run.shares.iter().map(|s| i128::from(s.weight)).sum();
    let weight_text = |w: i64| match rule.basis {
        Basis::FloorArea => format_scaled(w, 2),
        Basis::Consumption => format_scaled(w, 3),
        Basis::Equal => w.to_string(),
    };
    let percent = |part: i128, whole: i128| {
        (whole > 0).then(|| format_scaled(i64::try_from(part * 10_000 / whole).unwrap_or(0), 2))
    };
    let loss_percent = match (run.loss_milli, run.parent_milli) {
        (Some(loss), Some(parent)) => percent(i128::from(loss), i128::from(parent)),
        _ => None,
    };
    let charged = run.charged_minor();
    ApportionmentPeriodView {
        rule_id: rule.id.as_uuid(),
        rule_name: rule.name.clone(),
        period: period_text(run.period),
        status: if posted { "posted" } else { "preview" }.to_string(),
        from: instant(run.from),
        to: instant(run.to),
        basis: rule.basis.as_str().to_string(),
        pool_kind: rule.pool.as_str().to_string(),
        parent: run.parent_milli.map(|v| quantity(v, unit)),
        units: quantity(run.units_milli, unit),
        common: quantity(run.common_milli, unit),
        loss: run.loss_milli.map(|v| quantity(v, unit)),
        loss_percent,
        pool: quantity(run.pool_milli, unit),
        price: format_scaled(run.price_micro, 6),
        amount: money(run.amount_minor, c),
        charged: money(charged, c),
        borne_by_site: money(run.amount_minor - charged, c),
        shares: run
            .shares
            .iter()
            .map(|s| UnitShareView {
                premises_id: s.premises_id.as_uuid(),
                name: names.get(&s.premises_id).cloned().unwrap_or_default(),
                account_id: s.account_id.map(|a| a.as_uuid()),
                weight: weight_text(s.weight),
                weight_percent: percent(i128::from(s.weight), total_weight).unwrap_or_else(|| "0.00".into()),
                consumption: quantity(s.consumption_milli, unit),
                share: quantity(s.share_milli, unit),
                amount: money(s.amount_minor, c),
                transfer_id: s.transfer_id.map(|t| t.as_uuid()),
            })
            .collect(),
        operation_id: posted.then(|| run.operation_id.as_uuid()),
        posted_at: posted.then(|| instant(run.at)),
    }
}

pub async fn install_meter(
    State(app): State<AppState>,
    Extension(p): Extension<Principal>,
    key: IdempotencyKey,
    ClientAddr(source): ClientAddr,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<InstallMeterRequest>,
) -> ApiResult<Response> {
    let meter = visible_meter(&app, &p, id.into()).await?;
    app.visible(&p, body.premises_id.into(), "premises").await?;
    let command =
        Command::InstallMeter(InstallMeter { meter_id: meter.meter.id, premises_id: body.premises_id.into() });
    let view = InstalledMeterView { meter_id: id, premises_id: body.premises_id, state: "installed".into() };
    write::submit_update(&app, &p, &key, &source, command, view).await
}

pub async fn set_category(
    State(app): State<AppState>,
    Extension(p): Extension<Principal>,
    key: IdempotencyKey,
    ClientAddr(source): ClientAddr,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<MeterCategoryRequest>,
) -> ApiResult<Response> {
    let meter = visible_meter(&app, &p, id.into()).await?;
    let category: voltvend_domain::EnergyCategory =
        enum_field("category", &body.category, "lighting_sockets, hvac, power or special")?;
    let record =
        voltvend_ops::MeterCategory { meter_id: meter.meter.id, category, sub_item: body.sub_item.trim().to_string() };
    let view =
        MeterCategoryView { meter_id: id, category: category.as_str().to_string(), sub_item: record.sub_item.clone() };
    write::submit_update(&app, &p, &key, &source, Command::SetMeterCategory(record), view).await
}

pub async fn list_rules(
    State(app): State<AppState>,
    Extension(p): Extension<Principal>,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> ApiResult<axum::Json<Page<ApportionmentRuleView>>> {
    let limit = page_limit(q.limit)?;
    let rules =
        app.store.list_apportionment_rules(&ListQuery { scope: Some(p.scope()), after: q.after, limit }).await?;
    let mut items = Vec::with_capacity(rules.len());
    for rule in &rules {
        let names = unit_names(&app, rule).await?;
        let posted = app.store.apportionment_runs(rule.id).await?.iter().map(|r| period_text(r.period)).collect();
        items.push(rule_view(rule, &names, posted));
    }
    Ok(axum::Json(Page::of(items, limit, |r| r.id.to_string())))
}

pub async fn create_rule(
    State(app): State<AppState>,
    Extension(p): Extension<Principal>,
    key: IdempotencyKey,
    ClientAddr(source): ClientAddr,
    ApiJson(body): ApiJson<CreateApportionmentRuleRequest>,
) -> ApiResult<Response> {
    let utility: Utility = enum_field("utility", &body.utility, "electricity or water")?;
    let basis: Basis = enum_field("basis", &body.basis, "floor_area, consumption or equal")?;
    let pool: Pool = enum_field("pool", &body.pool, "common or common_and_loss")?;
    let c = currency("currency", &body.currency)?;
    let price = UnitPrice::parse(body.price.trim(), c).map_err(|_| {
        ApiError::field("price", "bad_request", "price must be a decimal of at most six decimals, not negative")
    })?;
    let mut units = Vec::with_capacity(body.units.len());
    for (n, u) in body.units.iter().enumerate() {
        let field = format!("units[{n}].floor_area_m2");
        let floor_area_dm2 = match &u.floor_area_m2 {
            Some(t) => parse_scaled(t.trim(), 2).map_err(|_| {
                ApiError::field(&field, "bad_request", format!("{field} must be a decimal of at most two decimals"))
            })?,
            None => 0,
        };
        units.push(ApportionedUnit { premises_id: u.premises_id.into(), floor_area_dm2 });
    }
    app.visible(&p, body.premises_id.into(), "premises").await?;
    let rule_id: ApportionmentRuleId = write::derived_id(write::operation_id(p.id(), &key.0), "apportionment-rule");
    let command = Command::CreateApportionmentRule(CreateApportionmentRule {
        rule_id,
        premises_id: body.premises_id.into(),
        name: body.name.clone(),
        utility,
        basis,
        pool,
        price,
        parent_meter: body.parent_meter_id.map(Into::into),
        common_meters: body.common_meter_ids.iter().map(|m| (*m).into()).collect(),
        units,
    });
    let replayed =
        match write::committed_or_answer(&app, &p, &key, &source, command, |o| matches!(o, Outcome::Created { .. }))
            .await?
        {
            Ok(replayed) => replayed,
            Err(refused) => return Ok(refused),
        };
    // The rule as stored (a replay answers with the rule as it is).
    let rule = visible_rule(&app, &p, rule_id.as_uuid()).await?;
    let names = unit_names(&app, &rule).await?;
    let posted = app.store.apportionment_runs(rule.id).await?.iter().map(|r| period_text(r.period)).collect();
    Ok(Reply::json(StatusCode::CREATED, &rule_view(&rule, &names, posted)).into_response(replayed))
}

pub async fn get_rule(
    State(app): State<AppState>,
    Extension(p): Extension<Principal>,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<axum::Json<ApportionmentRuleView>> {
    let rule = visible_rule(&app, &p, id).await?;
    let names = unit_names(&app, &rule).await?;
    let posted = app.store.apportionment_runs(rule.id).await?.iter().map(|r| period_text(r.period)).collect();
    Ok(axum::Json(rule_view(&rule, &names, posted)))
}

/// A month of a rule: the posted run, or — not yet posted — posting it applied to the current state and thrown
/// away, so that the preview cannot differ from what posting would do now (and says why it cannot, if so).
pub async fn period(
    app: &AppState,
    p: &Principal,
    source: &str,
    id: Uuid,
    period: &str,
) -> ApiResult<(ApportionmentRule, ApportionmentRun, bool, HashMap<PremisesId, String>)> {
    let rule = visible_rule(app, p, id).await?;
    let period = period_of(period)?;
    let names = unit_names(app, &rule).await?;
    if let Some(run) = app.store.apportionment_runs(rule.id).await?.into_iter().find(|r| r.period == period) {
        return Ok((rule, run, true, names));
    }
    let command = Command::ApportionPeriod(ApportionPeriod { rule_id: rule.id, period });
    let op = Operation::new(app.api.ids.id(), p.actor(source), command);
    match app.store.dry_run(op).await?? {
        Applied::Committed { outcome: Outcome::Apportioned(run), .. } => Ok((rule, run, false, names)),
        _ => Err(ApiError::internal("a preview answered something else than a month")),
    }
}

pub async fn get_period(
    State(app): State<AppState>,
    Extension(p): Extension<Principal>,
    ClientAddr(source): ClientAddr,
    ApiPath((id, period_path)): ApiPath<(Uuid, String)>,
) -> ApiResult<axum::Json<ApportionmentPeriodView>> {
    let (rule, run, posted, names) = period(&app, &p, &source, id, &period_path).await?;
    Ok(axum::Json(period_view(&rule, &run, posted, &names)))
}

pub async fn post_period(
    State(app): State<AppState>,
    Extension(p): Extension<Principal>,
    key: IdempotencyKey,
    ClientAddr(source): ClientAddr,
    ApiPath((id, period_path)): ApiPath<(Uuid, String)>,
) -> ApiResult<Response> {
    let rule = visible_rule(&app, &p, id).await?;
    let period = period_of(&period_path)?;
    let names = Arc::new(unit_names(&app, &rule).await?);
    let command = Command::ApportionPeriod(ApportionPeriod { rule_id: rule.id, period });
    let rule = Arc::new(rule);
    write::submit(&app, &p, &key, &source, command, move |o| match o {
        Outcome::Apportioned(run) => Reply::json(StatusCode::CREATED, &period_view(&rule, run, true, &names)),
        _ => Reply::error(&ApiError::internal("unexpected outcome")),
    })
    .await
}

/// One unit's statement: the month's figures and the unit's own line, with the sum of the weights it was
/// divided by.
pub async fn unit_statement(
    State(app): State<AppState>,
    Extension(p): Extension<Principal>,
    ClientAddr(source): ClientAddr,
    ApiPath((id, period_path, unit)): ApiPath<(Uuid, String, Uuid)>,
) -> ApiResult<axum::Json<UnitStatementView>> {
    let (rule, run, posted, names) = period(&app, &p, &source, id, &period_path).await?;
    let total_weight: i64 = run.shares.iter().map(|s| s.weight).sum();
    let mut view = period_view(&rule, &run, posted, &names);
    view.shares.retain(|s| s.premises_id == unit);
    if view.shares.is_empty() {
        return Err(ApiError::not_found("unit of the rule"));
    }
    let total_weight = match rule.basis {
        Basis::FloorArea => format_scaled(total_weight, 2),
        Basis::Consumption => format_scaled(total_weight, 3),
        Basis::Equal => total_weight.to_string(),
    };
    Ok(axum::Json(UnitStatementView { period: view, total_weight }))
}
