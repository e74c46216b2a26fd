use jiff::SignedDuration;
use voltvend_sts::keys::{KeyParams, KeyType, VendingKey};
use voltvend_sts::vend::{Issuer, MeterKeyRecord};
use voltvend_sts::{BaseDate, Ea, Pan, TransferKind};

use super::*;

fn t(s: &str) -> Timestamp {
    s.parse().unwrap()
}

fn cfg(unit: CreditUnit) -> ControllerConfig {
    ControllerConfig {
        mode: Mode::Local,
        credit_unit: unit,
        alarm1: 10_000,
        alarm2: 3_000,
        overdraft_limit: 1_000,
        hoarding_limit: Some(500_000),
        power_limit_w: Some(6_000),
        overpower_trip_s: 300,
        warning_trip_s: 60,
        friendly: FriendlyHours { night: Some((20 * 60, 8 * 60)), weekends: false, holidays: vec![] },
        time_zone: TimeZone::get("Asia/Shanghai").unwrap(),
    }
}

// 2026-11-23 is a Monday; 10:00 local is 02:00 UTC (outside friendly hours).
const DAY: &str = "2026-11-23T02:00:00Z";

#[test]
fn alarms_warning_trip_exhaustion_and_reclose_on_purchase() {
    let mut c = Controller::new(cfg(CreditUnit::Energy), 12_000, None);
    let now = t(DAY);
    assert_eq!(c.consume(2_500, 1_000, now), vec![Event::Alarm(Alarm::Level1)]);
    // Crossing alarm 2 trips briefly.
    let e = c.consume(7_000, 1_000, now);
    assert!(
        e.contains(&Event::Alarm(Alarm::Level2)) && matches!(c.relay(), Relay::Open(TripReason::WarningTrip { .. })),
        "{e:?}"
    );
    assert_eq!(c.tick(now + SignedDuration::from_secs(59)), vec![]);
    assert_eq!(c.tick(now + SignedDuration::from_secs(60)), vec![Event::RelayClosed]);
    // Down to minus the overdraft limit: trip, Err-08.
    let later = now + SignedDuration::from_secs(120);
    let e = c.consume(3_500, 1_000, later);
    assert_eq!(c.credit(), -1_000);
    assert!(e.contains(&Event::RelayOpened(TripReason::CreditExhausted)), "{e:?}");
    assert_eq!(c.display(), Some(ErrorCode::CreditExhausted));
    // A purchase closes it again at once.
    let e = c.add_credit(20_000, later).unwrap();
    assert!(e.contains(&Event::RelayClosed) && c.relay_closed());
    assert_eq!((c.purchase_count(), c.display()), (1, None));
}

#[test]
fn friendly_hours_defer_the_trip_and_keep_power_overrides() {
    let mut c = Controller::new(cfg(CreditUnit::Energy), 0, None);
    // 21:00 local: friendly night.
    let night = t("2026-11-23T13:00:00Z");
    c.consume(5_000, 500, night);
    assert!(c.relay_closed(), "no trip during friendly hours");
    // Friendly hours end at 08:00: the next tick trips.
    let morning = t("2026-11-24T00:00:00Z");
    assert!(c.tick(morning).contains(&Event::RelayOpened(TripReason::CreditExhausted)));
    // Keep-power from the master station closes it and keeps it closed.
    assert!(c.remote(RemoteCommand::KeepPower(true), morning).contains(&Event::RelayClosed));
    c.consume(10_000, 500, morning);
    assert!(c.relay_closed());
    c.remote(RemoteCommand::KeepPower(false), morning);
    assert!(!c.relay_closed());
}

#[test]
fn hoarding_limit_and_power_limit() {
    let mut c = Controller::new(cfg(CreditUnit::Energy), 400_000, None);
    let now = t(DAY);
    assert_eq!(c.add_credit(100_001, now), Err(ErrorCode::HoardingLimit));
    assert_eq!((c.credit(), c.purchase_count()), (400_000, 0), "a refused purchase changes nothing");
    let e = c.consume(100, 7_000, now);
    assert!(matches!(c.relay(), Relay::Open(TripReason::Overpower { .. })), "{e:?}");
    assert_eq!(c.display(), Some(ErrorCode::Overpower));
    assert!(c.tick(now + SignedDuration::from_secs(300)).contains(&Event::RelayClosed));
}

#[test]
fn money_credit_uses_the_price_table_exactly() {
    // Valley 0.288 before 08:00 and after 22:00, peak 0.568 between.
    let unit =
        CreditUnit::Money { schedule: vec![(0, 288_000), (480, 568_000), (1_320, 288_000)], minor_per_major: 100 };
    let mut c = Controller::new(ControllerConfig { warning_trip_s: 0, ..cfg(unit) }, 10_000, None);
    c.consume(1_000, 500, t(DAY)); // 1 kWh at peak: 56.8 fen → 56, 0.8 carried
    c.consume(1_000, 500, t("2026-11-23T15:00:00Z")); // 23:00 local, valley: 28.8 + 0.8 = 29.6 → 29
    assert_eq!(c.credit(), 10_000 - 56 - 29);
    c.remote(RemoteCommand::WritePrice(1_000_000), t(DAY));
    c.consume(1_000, 500, t(DAY));
    assert_eq!(c.credit(), 10_000 - 56 - 29 - 100, "0.6 fen carried, 100.6 → 100");
}

#[test]
fn remote_mode_only_obeys_commands() {
    let mut c = Controller::new(ControllerConfig { mode: Mode::Remote, ..cfg(CreditUnit::Energy) }, 0, None);
    let now = t(DAY);
    c.consume(1_000_000, 500, now);
    assert!(c.relay_closed(), "the master station decides");
    assert!(c.remote(RemoteCommand::Trip, now).contains(&Event::RelayOpened(TripReason::Remote)));
    assert!(c.remote(RemoteCommand::ClosePermitted, now).contains(&Event::RelayClosed));
}

#[test]
fn sts_keypad_tokens() {
    let params =
        KeyParams { kt: KeyType::UNIQUE, sgc: 123_457, ti: 1, krn: 1, ken: 255, base: BaseDate::Y2014, ea: Ea::Sta };
    let record = MeterKeyRecord { pan: Pan::parse("600727000000000009").unwrap(), params: params.clone() };
    let vend = Issuer::new(&VendingKey::from_hex("abababababababab949494949494949401234567").unwrap(), record).unwrap();
    let sts = StsMeter::new(vend.decoder_key(), params, 50);
    let mut c = Controller::new(cfg(CreditUnit::Energy), -1_000, Some(sts));
    let now = t(DAY);
    c.tick(now);
    assert!(!c.relay_closed());
    let tid = vend.tid(now, None).unwrap();
    let token = vend.credit(TransferKind::Electricity, 125, tid, 3).unwrap();
    let e = c.enter_token(&token.digits(), now).unwrap();
    assert!(e.contains(&Event::CreditAdded { amount: 12_500 }) && c.relay_closed(), "{e:?}");
    assert_eq!(c.enter_token(&token.digits(), now), Err(ErrorCode::UsedToken));
    assert_eq!(c.display().map(|d| d.display()), Some("Err-02".to_string()));
    assert_eq!(c.enter_token("12345678901234567890", now), Err(ErrorCode::InvalidToken));
    // Tamper: only a clear-tamper token is accepted.
    c.set_tamper();
    let t2 = vend.tid(now, Some(tid)).unwrap();
    assert_eq!(
        c.enter_token(&vend.credit(TransferKind::Electricity, 10, t2, 3).unwrap().digits(), now),
        Err(ErrorCode::Tamper)
    );
    let t3 = vend.tid(now, Some(t2)).unwrap();
    c.enter_token(&vend.clear_tamper(t3, 3).unwrap().digits(), now).unwrap();
    assert!(!c.tamper());
    let t4 = vend.tid(now, Some(t3)).unwrap();
    c.enter_token(&vend.max_power_limit(3_000, t4, 3).unwrap().digits(), now).unwrap();
    c.consume(10, 3_500, now);
    assert!(matches!(c.relay(), Relay::Open(TripReason::Overpower { .. })), "the new power limit applies");
}
