//! The head end's side of a meter's supply against the in-memory model: commands queued by credit running out
//! and by payments, supersession, retries with backoff, expiry, done only when a read-back agrees, keep-power,
//! manual disconnection, reconciling what the meter reports, channels.

use jiff::{SignedDuration, Timestamp};
use voltvend_domain::{Channel, CommandId, MeterId};
use voltvend_ops::memory::MemoryDb;
use voltvend_ops::{
    Actor, Applied, AttemptResult, Command, CommandKind, CommandStatus, Context, IssueMeterCommand, MeterCommand,
    MeterReport, OpError, Operation, Outcome, RecordCommandAttempt, Relay, SetMeterChannel,
};
use voltvend_testkit::estate::Estate;

fn at() -> Timestamp {
    "2026-11-23T08:00:00Z".parse().unwrap()
}

fn setup() -> (Estate, MemoryDb, Context) {
    let estate = Estate::new(5);
    let mut db = MemoryDb::new();
    let ctx = Estate::context();
    for op in &estate.setup {
        db.run(op, None, &ctx, at()).unwrap_or_else(|e| panic!("{}: {e}", op.command.kind()));
    }
    (estate, db, ctx)
}

fn outcome(r: Result<Applied, OpError>) -> Outcome {
    match r {
        Ok(Applied::Committed { outcome, .. }) => outcome,
        other => panic!("not committed: {other:?}"),
    }
}

fn code(r: Result<Applied, OpError>) -> &'static str {
    match r {
        Err(e) => e.code(),
        Ok(other) => panic!("not refused: {other:?}"),
    }
}

/// The meter's pending commands, as (kind, status).
fn pending(db: &MemoryDb, meter: MeterId) -> Vec<(CommandKind, CommandStatus)> {
    db.controls
        .get(&meter)
        .map(|c| c.pending.iter().map(|id| (db.commands[id].kind, db.commands[id].status)).collect())
        .unwrap_or_default()
}

fn only_pending(db: &MemoryDb, meter: MeterId) -> MeterCommand {
    let ids = &db.controls[&meter].pending;
    assert_eq!(ids.len(), 1, "{ids:?}");
    db.commands[&ids[0]].clone()
}

fn attempt(estate: &mut Estate, command: &MeterCommand, result: AttemptResult) -> Operation {
    estate.system(Command::RecordCommandAttempt(RecordCommandAttempt {
        command_id: command.id,
        meter_id: command.meter_id,
        result,
    }))
}

fn report(at: Timestamp, relay: Relay) -> MeterReport {
    MeterReport { at, relay: Some(relay), keep_power: Some(false) }
}

fn admin(estate: &Estate) -> Actor {
    Actor::operator(estate.admin, estate.group.id, "10.0.0.9")
}

fn issue(estate: &mut Estate, kind: CommandKind, reason: &str) -> Operation {
    let command =
        Command::IssueMeterCommand(IssueMeterCommand { meter_id: estate.remote_meter, kind, reason: reason.into() });
    Operation::new(estate.next_op(), admin(estate), command)
}

/// Runs the remote meter's wallet dry: 20.00 of credit and 50 kWh at 0.60.
fn run_dry(estate: &mut Estate, db: &mut MemoryDb, ctx: &Context) {
    outcome(db.run(&estate.remote_sale(2_000), None, ctx, at()));
    let r = estate.readings(&[("2026-11-23T00:00:00Z", 1_000_000), ("2026-11-23T06:00:00Z", 1_050_000)]);
    outcome(db.run(&r, None, ctx, at()));
}

#[test]
fn credit_running_out_queues_a_trip_that_a_payment_supersedes_with_a_close() {
    let (mut estate, mut db, ctx) = setup();
    let meter = estate.remote_meter;
    run_dry(&mut estate, &mut db, &ctx);
    assert_eq!(db.meters[&meter].relay, Relay::Open);
    let trip = only_pending(&db, meter);
    assert_eq!((trip.kind, trip.status, trip.attempts), (CommandKind::RelayTrip, CommandStatus::Pending, 0));
    assert_eq!((trip.next_attempt_at, trip.expires_at), (at(), at() + SignedDuration::from_hours(24)));
    assert_eq!(trip.reason, "credit used up");
    // A payment before the head end got to it: the trip is superseded, a close takes its place.
    outcome(db.run(&estate.remote_sale(5_000), None, &ctx, at()));
    assert_eq!(db.commands[&trip.id].status, CommandStatus::Superseded);
    assert_eq!(db.commands[&trip.id].finished_at, Some(at()));
    assert_eq!(pending(&db, meter), [(CommandKind::RelayClose, CommandStatus::Pending)]);
    assert_eq!(db.meters[&meter].relay, Relay::Closed);
    // The head end's late word on the superseded trip changes no command, but what the meter said is kept.
    let late = attempt(
        &mut estate,
        &trip,
        AttemptResult::Confirmed { report: report(at(), Relay::Open), readback: String::new() },
    );
    let Outcome::CommandAttempt(c) = outcome(db.run(&late, None, &ctx, at())) else { panic!() };
    assert_eq!((c.status, c.attempts), (CommandStatus::Superseded, 0));
    assert_eq!(db.controls[&meter].reported.unwrap().relay, Some(Relay::Open));
    assert_eq!(pending(&db, meter), [(CommandKind::RelayClose, CommandStatus::Pending)]);
    assert_eq!(db.check(), Vec::<String>::new());
}

#[test]
fn a_command_is_retried_with_backoff_done_only_when_the_read_back_agrees_and_expires_otherwise() {
    let (mut estate, mut db, ctx) = setup();
    let meter = estate.remote_meter;
    run_dry(&mut estate, &mut db, &ctx);
    let trip = only_pending(&db, meter);
    let fail = |estate: &mut Estate| {
        attempt(estate, &trip, AttemptResult::Failed { error: "no answer from 000000000001 within 2 s".into() })
    };
    let mut now = at();
    for (n, wait_s) in [(1, 30), (2, 60), (3, 120)] {
        let Outcome::CommandAttempt(c) = outcome(db.run(&fail(&mut estate), None, &ctx, now)) else { panic!() };
        assert_eq!((c.status, c.attempts), (CommandStatus::Pending, n));
        assert_eq!(c.next_attempt_at, now + SignedDuration::from_secs(wait_s));
        assert_eq!(c.last_error, "no answer from 000000000001 within 2 s");
        now = c.next_attempt_at;
    }
    // Acknowledged, but the meter still reports its relay closed: not done.
    let disagrees = attempt(
        &mut estate,
        &trip,
        AttemptResult::Confirmed { report: report(now, Relay::Closed), readback: String::new() },
    );
    let Outcome::CommandAttempt(c) = outcome(db.run(&disagrees, None, &ctx, now)) else { panic!() };
    assert_eq!((c.status, c.attempts), (CommandStatus::Pending, 4));
    assert!(c.last_error.contains("reports relay closed"), "{}", c.last_error);
    // Acknowledged and read back open: done, and no longer pending.
    now = c.next_attempt_at;
    let agrees = attempt(
        &mut estate,
        &trip,
        AttemptResult::Confirmed { report: report(now, Relay::Open), readback: String::new() },
    );
    let Outcome::CommandAttempt(c) = outcome(db.run(&agrees, None, &ctx, now)) else { panic!() };
    assert_eq!((c.status, c.attempts, c.finished_at, c.last_error.as_str()), (CommandStatus::Done, 5, Some(now), ""));
    assert!(db.controls[&meter].pending.is_empty());
    assert_eq!(db.controls[&meter].reported, Some(report(now, Relay::Open)));

    // A close that never gets through expires at the end of its day.
    outcome(db.run(&estate.remote_sale(5_000), None, &ctx, now));
    let close = only_pending(&db, meter);
    assert_eq!(close.kind, CommandKind::RelayClose);
    let late = close.expires_at;
    let fail = attempt(&mut estate, &close, AttemptResult::Failed { error: "connection refused".into() });
    let Outcome::CommandAttempt(c) = outcome(db.run(&fail, None, &ctx, late)) else { panic!() };
    assert_eq!((c.status, c.finished_at), (CommandStatus::Expired, Some(late)));
    assert!(db.controls[&meter].pending.is_empty());
    // The next read sees the relay open while it should be closed, with nothing on its way: a new close.
    let mut read = estate.readings(&[("2026-11-24T09:00:00Z", 1_050_000)]);
    if let Command::ApplyReadings(r) = &mut read.command {
        r.report = Some(report(late, Relay::Open));
    }
    outcome(db.run(&read, None, &ctx, late));
    let again = only_pending(&db, meter);
    assert_eq!(again.kind, CommandKind::RelayClose);
    assert!(again.reason.contains("reports its supply open"), "{}", again.reason);
    assert_eq!(db.check(), Vec::<String>::new());
}

#[test]
fn keep_power_holds_the_supply_on_and_a_manual_disconnection_outlasts_payments() {
    let (mut estate, mut db, ctx) = setup();
    let meter = estate.remote_meter;
    let Outcome::CommandsQueued(q) =
        outcome(db.run(&issue(&mut estate, CommandKind::KeepPowerOn, "hospital ward"), None, &ctx, at()))
    else {
        panic!()
    };
    assert_eq!(q.iter().map(|c| c.kind).collect::<Vec<_>>(), [CommandKind::KeepPowerOn]);
    assert!(db.controls[&meter].keep_power);
    // The wallet runs dry: no trip under keep-power.
    run_dry(&mut estate, &mut db, &ctx);
    assert_eq!(db.meters[&meter].relay, Relay::Closed);
    assert_eq!(pending(&db, meter), [(CommandKind::KeepPowerOn, CommandStatus::Pending)]);
    // Keep-power off: the next reading trips (nothing left to spend).
    outcome(db.run(&issue(&mut estate, CommandKind::KeepPowerOff, "ward moved"), None, &ctx, at()));
    assert_eq!(pending(&db, meter), [(CommandKind::KeepPowerOff, CommandStatus::Pending)], "off supersedes on");
    let r = estate.readings(&[("2026-11-23T07:00:00Z", 1_050_100)]);
    outcome(db.run(&r, None, &ctx, at()));
    assert_eq!(db.meters[&meter].relay, Relay::Open);
    // Keep-power on again closes a meter tripped for want of credit.
    outcome(db.run(&issue(&mut estate, CommandKind::KeepPowerOn, "storm"), None, &ctx, at()));
    assert_eq!(db.meters[&meter].relay, Relay::Closed);
    assert_eq!(
        pending(&db, meter),
        [(CommandKind::KeepPowerOn, CommandStatus::Pending), (CommandKind::RelayClose, CommandStatus::Pending)]
    );
    outcome(db.run(&issue(&mut estate, CommandKind::KeepPowerOff, "storm over"), None, &ctx, at()));

    // An operator disconnects the meter; a payment does not reconnect it; the operator's close does.
    outcome(db.run(&issue(&mut estate, CommandKind::RelayTrip, "unsafe wiring reported"), None, &ctx, at()));
    assert!(db.controls[&meter].held_open);
    outcome(db.run(&estate.remote_sale(10_000), None, &ctx, at()));
    assert_eq!(db.meters[&meter].relay, Relay::Open, "a payment does not undo an operator's disconnection");
    outcome(db.run(&issue(&mut estate, CommandKind::RelayClose, "wiring fixed"), None, &ctx, at()));
    assert_eq!(db.meters[&meter].relay, Relay::Closed);
    assert!(!db.controls[&meter].held_open);
    let audit = db.audit.iter().filter(|a| a.action == "meter_command").count();
    assert_eq!(audit, 6, "every operator's command is in the audit trail");
    assert_eq!(db.check(), Vec::<String>::new());
}

#[test]
fn commands_and_channels_are_refused_where_they_cannot_apply() {
    let (mut estate, mut db, ctx) = setup();
    let before = db.clone();
    // Another building's cashier cannot reach this meter; a keypad meter takes no head-end commands.
    let command = Command::IssueMeterCommand(IssueMeterCommand {
        meter_id: estate.remote_meter,
        kind: CommandKind::RelayTrip,
        reason: "x".into(),
    });
    let op = Operation::new(estate.next_op(), estate.cashier_b(), command);
    assert_eq!(code(db.run(&op, None, &ctx, at())), "not_found", "out of scope is as if it did not exist");
    let command = Command::IssueMeterCommand(IssueMeterCommand {
        meter_id: estate.sts_meter,
        kind: CommandKind::RelayTrip,
        reason: "x".into(),
    });
    let op = Operation::new(estate.next_op(), admin(&estate), command);
    assert_eq!(code(db.run(&op, None, &ctx, at())), "meter_not_commandable");
    assert_eq!(code(db.run(&issue(&mut estate, CommandKind::RelayTrip, "  "), None, &ctx, at())), "text_empty");
    // A channel must suit the meter's protocol.
    let (remote, sts) = (estate.remote_meter, estate.sts_meter);
    let set = |estate: &mut Estate, meter, channel: &str| {
        let command = Command::SetMeterChannel(SetMeterChannel {
            meter_id: meter,
            channel: Some(channel.parse::<Channel>().unwrap()),
            shows_credit: false,
        });
        Operation::new(estate.next_op(), admin(estate), command)
    };
    let op = set(&mut estate, remote, "modbus+tcp://10.0.0.5:502/3?map=acrel-ddsy1352");
    assert_eq!(code(db.run(&op, None, &ctx, at())), "channel_protocol");
    let op = set(&mut estate, sts, "dlt645+dial-in");
    assert_eq!(code(db.run(&op, None, &ctx, at())), "channel_protocol");
    // A command id that is not this meter's is not found.
    let forged = Command::RecordCommandAttempt(RecordCommandAttempt {
        command_id: CommandId::from_uuid(uuid::Uuid::from_u128(7)),
        meter_id: estate.remote_meter,
        result: AttemptResult::Failed { error: "x".into() },
    });
    let op = estate.system(forged);
    assert_eq!(code(db.run(&op, None, &ctx, at())), "not_found");
    assert_eq!(db, before, "refusals change nothing");
    let op = set(&mut estate, remote, "dlt645+tcp://10.0.0.5:8001");
    outcome(db.run(&op, None, &ctx, at()));
    assert_eq!(db.controls[&estate.remote_meter].channel.as_ref().unwrap().to_string(), "dlt645+tcp://10.0.0.5:8001");
    let entry = db.audit.last().unwrap();
    assert_eq!((entry.before.as_str(), entry.after.as_str()), ("none", "dlt645+tcp://10.0.0.5:8001"));
}

#[test]
fn backoff_doubles_from_thirty_seconds_to_fifteen_minutes() {
    let waits: Vec<i64> = (1..=8).map(|n| MeterCommand::backoff(n).as_secs()).collect();
    assert_eq!(waits, [30, 60, 120, 240, 480, 900, 900, 900]);
    assert_eq!(MeterCommand::backoff(i32::MAX).as_secs(), 900);
}

/// Writes to a meter's display: refused for a meter not set to show them, and the setting refused for a meter
/// with no channel to write over; once set, a sale queues the new balance, a later write supersedes an
/// earlier one, and a write is done only when the read-back is the value written.
#[test]
fn balance_and_price_writes_need_a_meter_that_shows_them_and_a_matching_read_back() {
    let (mut estate, mut db, ctx) = setup();
    let before = db.clone();
    assert_eq!(
        code(db.run(&issue(&mut estate, CommandKind::WriteBalance, "show it"), None, &ctx, at())),
        "meter_shows_no_credit"
    );
    assert_eq!(
        code(db.run(&issue(&mut estate, CommandKind::WritePrices, "show it"), None, &ctx, at())),
        "meter_shows_no_credit"
    );
    let set = |estate: &mut Estate, meter, channel: Option<&str>| {
        let channel = channel.map(|c| c.parse::<Channel>().unwrap());
        let command = Command::SetMeterChannel(SetMeterChannel { meter_id: meter, channel, shows_credit: true });
        Operation::new(estate.next_op(), admin(estate), command)
    };
    let remote = estate.remote_meter;
    assert_eq!(code(db.run(&set(&mut estate, remote, None), None, &ctx, at())), "channel_protocol");
    assert_eq!(db, before, "refusals change nothing");
    outcome(db.run(&set(&mut estate, remote, Some("dlt645+tcp://10.0.0.5:8001")), None, &ctx, at()));
    assert!(db.controls[&remote].shows_credit);
    outcome(db.run(&estate.remote_sale(2_000), None, &ctx, at()));
    let first = only_pending(&db, remote);
    assert_eq!((first.kind, first.value.as_str()), (CommandKind::WriteBalance, "2000"));
    // A second sale's balance supersedes the first's.
    outcome(db.run(&estate.remote_sale(1_000), None, &ctx, at()));
    let second = only_pending(&db, remote);
    assert_eq!((second.value.as_str(), db.commands[&first.id].status), ("3000", CommandStatus::Superseded));
    // The meter took it but reads back something else: a failed attempt, retried.
    let report = MeterReport { at: at(), relay: Some(Relay::Closed), keep_power: Some(false) };
    let wrong = AttemptResult::Confirmed { report, readback: "2000".into() };
    outcome(db.run(&attempt(&mut estate, &second, wrong), None, &ctx, at()));
    let retried = only_pending(&db, remote);
    assert!(retried.last_error.contains("reads back \"2000\""), "{retried:?}");
    let right = AttemptResult::Confirmed { report, readback: "3000".into() };
    outcome(db.run(&attempt(&mut estate, &second, right), None, &ctx, at()));
    assert_eq!(db.commands[&second.id].status, CommandStatus::Done);
    // Prices from the meter's tariff (0.60 flat).
    let q = outcome(db.run(&issue(&mut estate, CommandKind::WritePrices, "tariff shown"), None, &ctx, at()));
    let Outcome::CommandsQueued(list) = q else { panic!("{q:?}") };
    assert_eq!(list[0].value, "6000 6000 6000 6000");
    // A meter set to show nothing more is written nothing more: the pending write is superseded.
    let off = Command::SetMeterChannel(SetMeterChannel {
        meter_id: remote,
        channel: Some("dlt645+tcp://10.0.0.5:8001".parse::<Channel>().unwrap()),
        shows_credit: false,
    });
    outcome(db.run(&Operation::new(estate.next_op(), admin(&estate), off), None, &ctx, at()));
    assert_eq!(db.commands[&list[0].id].status, CommandStatus::Superseded);
    assert!(pending(&db, remote).is_empty());
}

/// 最大需量 in the model: what the register said comes with the readings and is kept once per meter and time,
/// whatever else the readings do; a cleared register (0), more than 1 GW, or a time after the readings (a
/// meter's clock wrong) is dropped and the readings are still billed. A demand changes the operation's
/// fingerprint, one without it keeps the old one.
#[test]
fn a_maximum_demand_is_kept_once_and_a_nonsense_one_dropped() {
    use voltvend_ops::MaxDemand;
    let (mut estate, mut db, ctx) = setup();
    let with = |estate: &mut Estate, points: &[(&str, i64)], demand: Option<MaxDemand>| {
        let mut op = estate.readings(points);
        if let Command::ApplyReadings(r) = &mut op.command {
            r.demand = demand;
        }
        op
    };
    let max = |w: i64, at: &str| Some(MaxDemand { demand_w: w, at: at.parse().unwrap() });
    let points = [
        ("2026-11-23T07:00:00Z", 1_000_000, max(9_000, "2026-11-23T06:45:00Z")),
        ("2026-11-23T07:15:00Z", 1_002_000, max(9_000, "2026-11-23T06:45:00Z")),
        ("2026-11-23T07:30:00Z", 1_004_000, max(0, "2026-11-23T07:00:00Z")),
        ("2026-11-23T07:45:00Z", 1_006_000, max(1_000_000_001, "2026-11-23T07:00:00Z")),
        ("2026-11-23T08:00:00Z", 1_008_000, max(9_500, "2026-11-23T09:30:00Z")),
    ];
    for (t, wh, demand) in points {
        let op = with(&mut estate, &[(t, wh)], demand);
        outcome(db.run(&op, None, &ctx, at()));
    }
    let kept: Vec<(i64, Timestamp)> = db.demands.values().map(|d| (d.demand.demand_w, d.demand.at)).collect();
    assert_eq!(kept, vec![(9_000, "2026-11-23T06:45:00Z".parse().unwrap())]);
    assert_eq!(db.readings.len(), 5, "every reading taken");
    let plain = estate.readings(&[("2026-11-23T08:15:00Z", 1_010_000)]);
    let mut with_demand = plain.clone();
    if let Command::ApplyReadings(r) = &mut with_demand.command {
        r.demand = max(9_000, "2026-11-23T06:45:00Z");
    }
    assert_ne!(plain.fingerprint(), with_demand.fingerprint());
    // Behind a 200/5 CT the register measures the secondary: 6.000 kW is 240 kW at the supply, as its energy is
    // counted.
    db.meters.get_mut(&estate.remote_meter).unwrap().meter.ratio = voltvend_domain::CtVtRatio::new(40, 1).unwrap();
    let op = with(&mut estate, &[("2026-11-23T08:30:00Z", 1_010_000)], max(6_000, "2026-11-23T08:10:00Z"));
    outcome(db.run(&op, None, &ctx, at()));
    let latest = db.demands.values().max_by_key(|d| d.demand.at).unwrap();
    assert_eq!(latest.demand.demand_w, 240_000);
}
