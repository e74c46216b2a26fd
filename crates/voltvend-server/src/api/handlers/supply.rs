//! A meter's supply and the head end: how it is reached, what Voltvend wants of its relay and what the meter
//! reports, operators' commands (trip, close, keep-power, set time) and their history, on-demand reads, and
//! the health of the head end's links.

use axum::Extension;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use voltvend_domain::{Channel, MeterId};
use voltvend_ops::{Command, CommandKind, IssueMeterCommand, MeterControl, Outcome, SetMeterChannel};

use super::customers::visible_meter;
use crate::api::auth::Principal;
use crate::api::error::{ApiError, ApiResult};
use crate::api::extract::{ApiJson, ApiPath, ApiQuery, ClientAddr, IdempotencyKey};
use crate::api::views::*;
use crate::api::write::{self, Reply};
use crate::http::AppState;

fn no_head_end() -> ApiError {
    ApiError::new("head_end_disabled", "this server runs no head end (headend.enabled = false)")
}

pub async fn get_supply(
    State(app): State<AppState>,
    Extension(p): Extension<Principal>,
    ApiPath(id): ApiPath<uuid::Uuid>,
) -> ApiResult<axum::Json<SupplyView>> {
    let m = visible_meter(&app, &p, id.into()).await?;
    let control = app.store.meter_control(m.meter.id).await?.unwrap_or_else(|| MeterControl::new(m.meter.id));
    let mut pending = Vec::with_capacity(control.pending.len());
    for c in &control.pending {
        if let Some(c) = app.store.meter_command(*c).await? {
            pending.push(MeterCommandView::from(&c));
        }
    }
    let health = app.headend.as_ref().and_then(|h| h.meter_status(m.meter.id)).unwrap_or_default();
    Ok(axum::Json(SupplyView {
        meter_id: m.meter.id.as_uuid(),
        channel: control.channel.as_ref().map(ToString::to_string),
        relay: m.relay.as_str().to_string(),
        keep_power: control.keep_power,
        held_open: control.held_open,
        shows_credit: control.shows_credit,
        reported: control.reported.map(|r| ReportView {
            at: instant(r.at),
            relay: r.relay.map(|x| x.as_str().to_string()),
            keep_power: r.keep_power,
        }),
        pending,
        last_read_at: health.last_read_at.map(instant),
        last_attempt_at: health.last_attempt_at.map(instant),
        read_failures: health.failures,
        last_error: health.last_error,
    }))
}

pub async fn set_channel(
    State(app): State<AppState>,
    Extension(p): Extension<Principal>,
    key: IdempotencyKey,
    ClientAddr(source): ClientAddr,
    ApiPath(id): ApiPath<uuid::Uuid>,
    ApiJson(body): ApiJson<SetChannelRequest>,
) -> ApiResult<Response> {
    let m = visible_meter(&app, &p, id.into()).await?;
    let channel = match body.channel.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(text) => {
            Some(text.parse::<Channel>().map_err(|e| ApiError::field("channel", "bad_channel", e.to_string()))?)
        }
    };
    // Left out, whether the meter shows credit stays as it was (a gateway's new address does not turn it off).
    let shows_credit = match body.shows_credit {
        Some(s) => s,
        None => app.store.meter_control(m.meter.id).await?.is_some_and(|c| c.shows_credit) && channel.is_some(),
    };
    let command = Command::SetMeterChannel(SetMeterChannel { meter_id: m.meter.id, channel, shows_credit });
    write::submit(&app, &p, &key, &source, command, |_| Reply::empty()).await
}

/// An operator's review of a flagged reading: billing goes on from it, the interval before it left unbilled or,
/// when the jump was real, billed.
pub async fn rebase_readings(
    State(app): State<AppState>,
    Extension(p): Extension<Principal>,
    key: IdempotencyKey,
    ClientAddr(source): ClientAddr,
    ApiPath(id): ApiPath<uuid::Uuid>,
    ApiJson(body): ApiJson<RebaseReadingsRequest>,
) -> ApiResult<Response> {
    // Billing charges the customer for consumption a limit flagged: a money decision beyond the meter's
    // engineering, so it also needs the permission that approves corrections.
    if body.bill && !p.can(voltvend_domain::Permission::CorrectionsApprove) {
        return Err(ApiError::new("forbidden", "billing a flagged reading also needs corrections.approve"));
    }
    let m = visible_meter(&app, &p, id.into()).await?;
    let at: jiff::Timestamp =
        body.at.parse().map_err(|_| ApiError::field("at", "bad_request", "an RFC 3339 instant with an offset"))?;
    let us = at.as_microsecond();
    let filter = voltvend_store::ReadingFilter {
        meter: Some(m.meter.id),
        premises: None,
        status: Some(voltvend_ops::ReadingStatus::Flagged.as_str().to_string()),
        from_us: Some(us),
        to_us: Some(us.saturating_add(1)),
    };
    let query = voltvend_store::ListQuery { scope: Some(p.scope()), after: None, limit: 1 };
    let flagged = app.store.list_readings(&query, &filter).await?.into_iter().next().ok_or_else(|| {
        ApiError::field("at", "no_flagged_reading", "this meter has no flagged reading at that instant")
    })?;
    let command = Command::RebaseReadings(voltvend_ops::RebaseReadings {
        meter_id: m.meter.id,
        reading: flagged.row.reading,
        reason: body.reason,
        bill: body.bill,
    });
    write::submit(&app, &p, &key, &source, command, |_| Reply::empty()).await
}

pub async fn issue_command(
    State(app): State<AppState>,
    Extension(p): Extension<Principal>,
    key: IdempotencyKey,
    ClientAddr(source): ClientAddr,
    ApiPath(id): ApiPath<uuid::Uuid>,
    ApiJson(body): ApiJson<MeterCommandRequest>,
) -> ApiResult<Response> {
    let m = visible_meter(&app, &p, id.into()).await?;
    let kind = CommandKind::parse(&body.kind).ok_or_else(|| {
        ApiError::field(
            "kind",
            "bad_value",
            "relay_trip, relay_close, keep_power_on, keep_power_off, set_time, write_balance or write_prices",
        )
    })?;
    let command = Command::IssueMeterCommand(IssueMeterCommand { meter_id: m.meter.id, kind, reason: body.reason });
    let response = write::submit(&app, &p, &key, &source, command, |o| match o {
        Outcome::CommandsQueued(list) => {
            Reply::json(StatusCode::CREATED, &list.iter().map(MeterCommandView::from).collect::<Vec<_>>())
        }
        _ => Reply::error(&ApiError::internal("unexpected outcome")),
    })
    .await?;
    // The command loop looks at the outbox now rather than at its next turn.
    if let Some(h) = &app.headend {
        h.wake();
    }
    Ok(response)
}

/// `created-microseconds:uuid` of the last command of a page.
fn command_cursor(c: &MeterCommandView) -> String {
    let at = c.created_at.parse::<jiff::Timestamp>().map(|t| t.as_microsecond()).unwrap_or(0);
    format!("{at}:{}", c.id)
}

pub async fn list_commands(
    State(app): State<AppState>,
    Extension(p): Extension<Principal>,
    ApiPath(id): ApiPath<uuid::Uuid>,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> ApiResult<axum::Json<Page<MeterCommandView>>> {
    let limit = page_limit(q.limit)?;
    let before = match q.after.as_deref() {
        None => None,
        Some(a) => {
            let bad = || ApiError::field("after", "bad_request", "not a cursor this list gave");
            let (at, id) = a.split_once(':').ok_or_else(bad)?;
            Some((at.parse::<i64>().map_err(|_| bad())?, id.parse::<uuid::Uuid>().map_err(|_| bad())?))
        }
    };
    let m = visible_meter(&app, &p, id.into()).await?;
    let list = app.store.meter_commands_of(m.meter.id, before, limit).await?;
    let items = list.iter().map(MeterCommandView::from).collect();
    Ok(axum::Json(Page::of(items, limit, command_cursor)))
}

pub async fn read_now(
    State(app): State<AppState>,
    Extension(p): Extension<Principal>,
    ApiPath(id): ApiPath<uuid::Uuid>,
) -> ApiResult<axum::Json<ReadView>> {
    let m = visible_meter(&app, &p, id.into()).await?;
    let headend = app.headend.clone().ok_or_else(no_head_end)?;
    let meter: MeterId = m.meter.id;
    let polled = headend.poll_meter(meter).await.map_err(|e| match e {
        voltvend_headend::HeadEndError::Store(e) => ApiError::from(e),
        other => ApiError::new("meter_unreachable", other.to_string()),
    })?;
    Ok(axum::Json(ReadView {
        meter_id: meter.as_uuid(),
        at: instant(polled.at),
        billed: polled.billed,
        skipped: polled.skipped,
        flagged: polled.flagged,
        charged_minor: polled.charged_minor.to_string(),
        balance_after_minor: polled.balance_after_minor.to_string(),
    }))
}

pub async fn list_links(
    State(app): State<AppState>,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> ApiResult<axum::Json<Page<LinkView>>> {
    let limit = page_limit(q.limit)?;
    let headend = app.headend.clone().ok_or_else(no_head_end)?;
    let links = headend
        .links()
        .into_iter()
        .map(|l| LinkView {
            name: l.name,
            transport: l.transport.to_string(),
            up: l.up,
            connects: l.connects,
            downs: l.downs,
            answered: l.answered,
            timeouts: l.timeouts,
            last_error: l.last_error,
        })
        .collect();
    Ok(axum::Json(Page::slice(links, q.after.as_deref(), limit, |l| l.name.clone())))
}

/// Stored readings in time order: one meter's, or every meter's in a premises subtree, over a period.
/// Notifications and alarms, newest first: meters within one's scope, and the system's for the whole group.
pub async fn list_alarms(
    State(app): State<AppState>,
    Extension(p): Extension<Principal>,
    ApiQuery(q): ApiQuery<AlarmQuery>,
) -> ApiResult<axum::Json<Page<AlarmView>>> {
    let limit = page_limit(q.limit)?;
    let before = match q.after.as_deref() {
        None => None,
        Some(text) => Some(
            text.parse::<i64>().map_err(|_| ApiError::field("after", "bad_request", "after: the next of a page"))?,
        ),
    };
    let rows = app.store.recent_alarms(p.scope(), before, limit).await?;
    let mut items = Vec::with_capacity(rows.len());
    for (seq, row) in rows {
        let serial = match row.meter_id {
            Some(m) => app.store.meter(m).await.ok().map(|r| r.meter.serial),
            None => None,
        };
        items.push(AlarmView {
            seq,
            at: instant(row.at),
            kind: row.kind.as_str().to_string(),
            meter_id: row.meter_id.map(|m| m.as_uuid()),
            serial,
            detail: row.detail,
        });
    }
    Ok(axum::Json(Page::of(items, limit, |a| a.seq.to_string())))
}

pub async fn list_readings(
    State(app): State<AppState>,
    Extension(p): Extension<Principal>,
    ApiQuery(q): ApiQuery<ReadingQuery>,
) -> ApiResult<axum::Json<Page<ReadingView>>> {
    let limit = page_limit(q.limit)?;
    let (from_us, to_us) = super::counter::time_filter(&q.from, &q.to)?;
    if let Some(status) = q.status.as_deref()
        && voltvend_ops::ReadingStatus::parse(status).is_none()
    {
        return Err(ApiError::field("status", "bad_request", "status must be billed or flagged"));
    }
    // What the caller may not see is not there (404), whether named by a meter or by premises.
    if let Some(m) = q.meter_id {
        visible_meter(&app, &p, m.into()).await?;
    }
    if let Some(premises) = q.premises_id {
        app.visible(&p, premises.into(), "premises").await?;
    }
    let filter = voltvend_store::ReadingFilter {
        meter: q.meter_id.map(Into::into),
        premises: q.premises_id.map(Into::into),
        status: q.status,
        from_us,
        to_us,
    };
    let query = voltvend_store::ListQuery { scope: Some(p.scope()), after: q.after, limit };
    let list = app.store.list_readings(&query, &filter).await?;
    let items = list
        .into_iter()
        .map(|r| {
            let unit = if r.utility == "water" { "m³" } else { "kWh" };
            let registers = registers_view(&r.row.reading.registers, unit);
            ReadingView {
                meter_id: r.row.meter_id.as_uuid(),
                at: instant(r.row.reading.at),
                registers,
                status: r.row.status.as_str().to_string(),
                note: r.row.note,
                operation_id: r.row.operation_id.as_uuid(),
                cursor: r.cursor,
            }
        })
        .collect();
    Ok(axum::Json(Page::of(items, limit, |r| r.cursor.clone())))
}
