//! 催缴 and 欠费停电 by each schedule's own rules, without an operator (issue 18, part 1; docs/bills.md).
//!
//! Every `fees.dun_every_minutes` the server looks at each fee schedule's issued months: a month past its due
//! date in its site's time zone and not yet dunned is dunned (each overdue charge reminded through the
//! notification outbox and charged the schedule's late fee, once); a postpaid cycle's month whose notice — the
//! cycle's `disconnect_after_days` after dunning — has run and whose bills were not yet disconnected has the
//! supplies of its bills still unpaid tripped. Each is the operation the operator's button makes (`DunFees`,
//! `DisconnectOverdue`), by the system, with an id derived from the schedule and month: a second server or a
//! restart replays it rather than doing it twice, and a month an operator already did is refused and left alone.

use jiff::Timestamp;
use voltvend_domain::{FeeScheduleId, OperationId};
use voltvend_ops::{Actor, Command, FeeRun, FeeSchedule, IssueFees, Operation};
use voltvend_store::{ListQuery, Store, StoreError};

use crate::api::write::derived_id;

/// What one sweep did: the months dunned and the months whose unpaid bills were disconnected.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Swept {
    pub dunned: Vec<(FeeScheduleId, i32)>,
    pub disconnected: Vec<(FeeScheduleId, i32)>,
    /// Months the sweep tried and the writer refused (a race with an operator, a schedule's site gone): logged.
    pub refused: Vec<(FeeScheduleId, i32, String)>,
}

/// What is due for a schedule's month today: dunning, disconnection, or nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Due {
    Dun,
    Disconnect,
}

/// Days a month issued late (after, or just before, its due date) is left before it is dunned by itself: the
/// customer is told of a bill before being charged for paying it late.
pub const DAYS_AFTER_ISSUE_MIN: i64 = 7;

/// The oldest a rule may have fallen due and still be acted on by itself: a month due longer ago (a database
/// from before the sweep, a month an operator chose to leave) is left to an operator.
pub const DAYS_LATE_MAX: i64 = 60;

/// Looks at every fee schedule once, as of `now`, and submits what its months' rules make due.
pub async fn sweep(store: &dyn Store, now: Timestamp) -> Result<Swept, StoreError> {
    let mut swept = Swept::default();
    let mut after = None;
    loop {
        let page = ListQuery { scope: None, after: after.take(), limit: ListQuery::LIMIT_MAX };
        let schedules = store.list_fee_schedules(&page).await?;
        for schedule in &schedules {
            // One schedule that cannot be read is logged and passed over; the others are still swept.
            let (tz, runs) = match schedule_state(store, schedule).await {
                Ok(state) => state,
                Err(e @ (StoreError::Unavailable(_) | StoreError::WriterStopped)) => return Err(e),
                Err(e) => {
                    tracing::warn!(schedule = %schedule.id, "fee schedule not swept: {e}");
                    continue;
                }
            };
            let today = now.to_zoned(tz.clone()).date();
            for run in runs {
                let Some(due) = due(schedule, &run, &tz, today) else { continue };
                let (command, what) = match due {
                    Due::Dun => (Command::DunFees(month(schedule.id, run.period)), "dun"),
                    Due::Disconnect => (Command::DisconnectOverdue(month(schedule.id, run.period)), "disconnect"),
                };
                let id: OperationId =
                    derived_id(OperationId::from_uuid(schedule.id.as_uuid()), &format!("fees-{what}-{}", run.period));
                match store.submit(Operation::new(id, Actor::system("billing"), command)).await {
                    Ok(_) => {
                        tracing::info!(schedule = %schedule.id, period = run.period, what, "fee month swept");
                        match due {
                            Due::Dun => swept.dunned.push((schedule.id, run.period)),
                            Due::Disconnect => swept.disconnected.push((schedule.id, run.period)),
                        }
                    }
                    Err(StoreError::Refused(e)) => {
                        tracing::info!(schedule = %schedule.id, period = run.period, what, code = e.code(), "not swept: {e}");
                        swept.refused.push((schedule.id, run.period, e.code().to_string()));
                    }
                    Err(e) => return Err(e),
                }
            }
        }
        match schedules.last() {
            Some(last) if schedules.len() == ListQuery::LIMIT_MAX as usize => after = Some(last.id.to_string()),
            _ => break,
        }
    }
    Ok(swept)
}

/// A schedule's site's time zone and its issued months.
async fn schedule_state(
    store: &dyn Store,
    schedule: &FeeSchedule,
) -> Result<(jiff::tz::TimeZone, Vec<FeeRun>), StoreError> {
    let site = store.premises(schedule.premises_id).await?;
    let tz = jiff::tz::TimeZone::get(&site.time_zone)
        .map_err(|e| StoreError::Corrupt(format!("time zone {} of {}: {e}", site.time_zone, site.id)))?;
    Ok((tz, store.fee_runs(schedule.id).await?))
}

/// The rule for one month, on the site's calendar: dunned once the day after it falls due has come
/// ([`FeeRun::dunnable_from`], the date `DunFees` checks) and [`DAYS_AFTER_ISSUE_MIN`] days have passed since it
/// was issued; disconnected (a cycle that disconnects) once the notice dunning gave has run
/// ([`FeeRun::notice_ends`], the date `DisconnectOverdue` checks). Neither more than [`DAYS_LATE_MAX`] days after
/// it became due.
fn due(schedule: &FeeSchedule, run: &FeeRun, tz: &jiff::tz::TimeZone, today: jiff::civil::Date) -> Option<Due> {
    let days = |n: i64| jiff::Span::new().days(n);
    let recent = |from: jiff::civil::Date| from.checked_add(days(DAYS_LATE_MAX)).is_ok_and(|last| today <= last);
    match run.dunned_at {
        None => {
            let issued = run.at.to_zoned(tz.clone()).date().checked_add(days(DAYS_AFTER_ISSUE_MIN)).ok()?;
            let from = run.dunnable_from()?.max(issued);
            (today >= from && recent(from)).then_some(Due::Dun)
        }
        Some(_) if schedule.disconnect_after_days > 0 && run.disconnected_at.is_none() => {
            let notice_ends = run.notice_ends(schedule.disconnect_after_days, tz)?;
            (today >= notice_ends && recent(notice_ends)).then_some(Due::Disconnect)
        }
        Some(_) => None,
    }
}

fn month(schedule_id: FeeScheduleId, period: i32) -> IssueFees {
    IssueFees { schedule_id, period }
}
