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

/// IC-card acceptance: the controller as the card terminal (`voltvend-card`).
mod cards {
    use rand::SeedableRng;
    use rand::rngs::StdRng;
    use voltvend_card::{
        Algorithm, CardError, CardKind, CardSerial, Header, Parameters, Purchase, QuantityUnit, RootKey, Terminal,
        VirtualCard,
    };

    use super::*;
    use crate::controller::{CardInserted, CardOutcome};

    const METER: &str = "MTR-0042";

    fn esam() -> RootKey {
        RootKey::from_hex(Algorithm::Sm4, "8A7E0C52D1B34F6A9E21C0D4F5A6B708").unwrap()
    }

    fn meter() -> Controller {
        Controller::new(cfg(CreditUnit::Energy), 0, None).with_meter_no(METER)
    }

    fn params() -> Parameters {
        Parameters {
            unit: QuantityUnit::EnergyWh,
            alarm1: 20_000,
            alarm2: 5_000,
            overdraft_limit: 2_000,
            hoarding_limit: Some(300_000),
            power_limit_w: Some(8_000),
            price_micro_per_kwh: 0,
            friendly_night_min: None,
        }
    }

    struct Office {
        root: RootKey,
        rng: StdRng,
    }

    impl Office {
        fn new() -> Self {
            Self { root: esam(), rng: StdRng::seed_from_u64(42) }
        }

        fn card(
            &mut self,
            n: u8,
            kind: CardKind,
            meter_no: &str,
            generation: u8,
            replaces: Option<CardSerial>,
        ) -> VirtualCard {
            let mut card = VirtualCard::new(CardSerial([0x86, 0, 0, 0, 0, 0, 0, n]), Algorithm::Sm4, &mut self.rng);
            let header = Header {
                kind,
                serial: CardSerial::default(),
                utility_code: 4401,
                customer_no: "C-000123".into(),
                meter_no: meter_no.into(),
                generation,
                replaces,
            };
            let p = params();
            let parameters = (kind == CardKind::Parameter).then_some(&p);
            Terminal::new(&mut card, &self.root, &mut self.rng).issue(&header, parameters).unwrap();
            card
        }

        fn sell(&mut self, card: &mut VirtualCard, count: u32, quantity_wh: u64) {
            let p = Purchase { count, unit: QuantityUnit::EnergyWh, quantity: quantity_wh, at_unix_s: 1_795_000_000 };
            Terminal::new(card, &self.root, &mut self.rng).write_purchase(&p).unwrap();
        }

        fn read(&mut self, card: &mut VirtualCard) -> voltvend_card::CardImage {
            Terminal::new(card, &self.root, &mut self.rng).read().unwrap()
        }
    }

    fn insert(c: &mut Controller, card: &mut VirtualCard) -> Result<CardInserted, ErrorCode> {
        c.insert_card(card, &esam(), t(DAY), &mut StdRng::seed_from_u64(7))
    }

    /// A meter with an open account and user card 1 (generation 0) bound, having loaded purchase 1.
    fn opened(office: &mut Office) -> (Controller, VirtualCard) {
        let mut c = meter();
        let mut param = office.card(100, CardKind::Parameter, METER, 0, None);
        assert_eq!(insert(&mut c, &mut param).unwrap().outcome, CardOutcome::AccountOpened);
        let mut user = office.card(1, CardKind::User, METER, 0, None);
        office.sell(&mut user, 1, 50_000);
        assert_eq!(insert(&mut c, &mut user).unwrap().outcome, CardOutcome::Loaded { amount: 50_000, count: 1 });
        (c, user)
    }

    #[test]
    fn open_account_sell_load_consume_reinsert_and_check() {
        let mut office = Office::new();
        let mut c = meter();
        c.add_credit(1_000, t(DAY)).unwrap();
        let mut param = office.card(100, CardKind::Parameter, METER, 0, None);
        let done = insert(&mut c, &mut param).unwrap();
        assert_eq!(
            (done.kind, done.outcome, done.return_written),
            (CardKind::Parameter, CardOutcome::AccountOpened, true)
        );
        assert_eq!(
            (c.config().alarm1, c.config().hoarding_limit, c.config().power_limit_w),
            (20_000, Some(300_000), Some(8_000))
        );
        assert_eq!((c.bound_card(), c.card_purchase_count(), c.meter_no()), (None, 0, METER));

        let mut user = office.card(1, CardKind::User, METER, 0, None);
        office.sell(&mut user, 1, 50_000);
        let done = insert(&mut c, &mut user).unwrap();
        assert_eq!(done.outcome, CardOutcome::Loaded { amount: 50_000, count: 1 });
        assert!(done.events.contains(&Event::CreditAdded { amount: 50_000 }) && done.return_written);
        assert_eq!((c.credit(), c.card_purchase_count()), (51_000, 1));
        assert_eq!(c.bound_card(), Some((user.serial(), 0)));

        c.consume(10_000, 1_000, t(DAY));
        // Inserting the same card again adds nothing, but brings the card's return record up to date.
        assert_eq!(insert(&mut c, &mut user).unwrap().outcome, CardOutcome::AlreadyLoaded { count: 1 });
        assert_eq!(c.credit(), 41_000);
        let back = office.read(&mut user).returned.unwrap();
        assert_eq!(
            (back.meter_no.as_str(), back.last_count, back.remaining, back.total_used_wh),
            (METER, 1, 41_000, 10_000)
        );
        assert!(!back.relay_open && !back.tamper);

        // A check card collects the same data and changes nothing.
        let mut check = office.card(200, CardKind::Check, "", 0, None);
        assert_eq!(insert(&mut c, &mut check).unwrap().outcome, CardOutcome::Checked);
        let back = office.read(&mut check).returned.unwrap();
        assert_eq!((back.remaining, back.last_count, back.unit), (41_000, 1, QuantityUnit::EnergyWh));
        assert_eq!(c.credit(), 41_000);

        office.sell(&mut user, 2, 20_000);
        assert_eq!(insert(&mut c, &mut user).unwrap().outcome, CardOutcome::Loaded { amount: 20_000, count: 2 });
        assert_eq!(c.credit(), 61_000);
    }

    #[test]
    fn reissue_rebinds_and_the_old_card_is_refused() {
        let mut office = Office::new();
        let (mut c, mut old) = opened(&mut office);
        // Purchase 2 is sold onto the old card, which is then lost before reaching the meter; the reissued card
        // (generation 1) carries purchase 2 over.
        office.sell(&mut old, 2, 30_000);
        let mut new = office.card(2, CardKind::User, METER, 1, Some(old.serial()));
        office.sell(&mut new, 2, 30_000);
        assert_eq!(insert(&mut c, &mut new).unwrap().outcome, CardOutcome::Loaded { amount: 30_000, count: 2 });
        assert_eq!(c.bound_card(), Some((new.serial(), 1)));
        assert_eq!(insert(&mut c, &mut new).unwrap().outcome, CardOutcome::AlreadyLoaded { count: 2 });
        // The old card turns up again: refused, and its purchase 2 is not loaded a second time.
        assert_eq!(insert(&mut c, &mut old), Err(ErrorCode::CardReplaced));
        assert_eq!((c.credit(), c.display().map(|d| d.display())), (80_000, Some("Err-12".to_string())));
        assert_eq!(c.card_purchase_count(), 2);

        // A reissue whose carried-over purchase had already been loaded loads nothing.
        let mut third = office.card(3, CardKind::User, METER, 2, Some(new.serial()));
        office.sell(&mut third, 2, 30_000);
        assert_eq!(insert(&mut c, &mut third).unwrap().outcome, CardOutcome::AlreadyLoaded { count: 2 });
        assert_eq!(c.credit(), 80_000);
        assert_eq!(insert(&mut c, &mut new), Err(ErrorCode::CardReplaced));
    }

    #[test]
    fn foreign_cards_are_refused() {
        let mut office = Office::new();
        let (mut c, _) = opened(&mut office);
        // A card for another meter.
        let mut other = office.card(9, CardKind::User, "MTR-0099", 0, None);
        office.sell(&mut other, 2, 10_000);
        assert_eq!(insert(&mut c, &mut other), Err(ErrorCode::CardWrongMeter));
        assert_eq!(ErrorCode::CardWrongMeter.display(), "Err-11");
        assert_eq!(office.read(&mut other).returned, None, "nothing is written onto another meter's card");
        // A card from a utility with other keys (the meter's ESAM does not match).
        let mut alien_office = Office { root: RootKey::new(Algorithm::Sm4, [0x33; 16]), rng: StdRng::seed_from_u64(5) };
        let mut alien = alien_office.card(1, CardKind::User, METER, 0, None);
        alien_office.sell(&mut alien, 2, 10_000);
        assert_eq!(insert(&mut c, &mut alien), Err(ErrorCode::CardRejected));
        // A blank card.
        let mut blank = VirtualCard::new(CardSerial([1; 8]), Algorithm::Sm4, &mut StdRng::seed_from_u64(1));
        assert_eq!(insert(&mut c, &mut blank), Err(ErrorCode::CardRejected));
        assert_eq!(c.credit(), 50_000);
        // The meter's attempts cost the alien card nothing (internal authentication fails first).
        for _ in 0..6 {
            assert_eq!(insert(&mut c, &mut alien), Err(ErrorCode::CardRejected));
        }
        assert!(alien_office.read(&mut alien).header.is_some());
    }

    #[test]
    fn torn_and_replayed_purchases_load_nothing() {
        let mut office = Office::new();
        let (mut c, mut user) = opened(&mut office);
        // The card is pulled from the office writer halfway through writing purchase 2.
        user.tear_next_update(9);
        let p = Purchase { count: 2, unit: QuantityUnit::EnergyWh, quantity: 40_000, at_unix_s: 1 };
        let e = Terminal::new(&mut user, &office.root, &mut office.rng).write_purchase(&p).unwrap_err();
        assert!(matches!(e, CardError::NoCard(_)));
        assert_eq!(insert(&mut c, &mut user), Err(ErrorCode::CardDamaged));
        assert_eq!((c.credit(), c.card_purchase_count(), c.display()), (50_000, 1, Some(ErrorCode::CardDamaged)));
        // The office rewrites it; it loads once.
        office.sell(&mut user, 2, 40_000);
        let before = user.to_bytes();
        assert_eq!(insert(&mut c, &mut user).unwrap().outcome, CardOutcome::Loaded { amount: 40_000, count: 2 });
        assert_eq!(c.display(), None, "a good card clears the card error");
        // A copy of the card as it was before loading (a saved image played back) loads nothing.
        let mut replay = VirtualCard::from_bytes(&before).unwrap();
        assert_eq!(insert(&mut c, &mut replay).unwrap().outcome, CardOutcome::AlreadyLoaded { count: 2 });
        // An old purchase written back (a replayed sale) is out of sequence, as is a skipped one.
        office.sell(&mut user, 1, 50_000);
        assert_eq!(insert(&mut c, &mut user), Err(ErrorCode::CardSequence));
        office.sell(&mut user, 4, 50_000);
        assert_eq!(insert(&mut c, &mut user), Err(ErrorCode::CardSequence));
        assert_eq!((c.credit(), c.card_purchase_count()), (90_000, 2));
        let back = office.read(&mut user).returned.unwrap();
        assert_eq!(back.events.last(), Some(&(ErrorCode::CardSequence as u8)), "the refusal is reported back");
        // Beyond the hoarding limit (300 kWh from the parameter card): refused, count unchanged.
        office.sell(&mut user, 3, 250_000);
        assert_eq!(insert(&mut c, &mut user), Err(ErrorCode::HoardingLimit));
        assert_eq!((c.credit(), c.card_purchase_count()), (90_000, 2));
    }

    #[test]
    fn service_cards_reset_clear_and_test() {
        let mut office = Office::new();
        let (mut c, mut user) = opened(&mut office);
        c.set_tamper();
        office.sell(&mut user, 2, 1_000);
        assert_eq!(insert(&mut c, &mut user), Err(ErrorCode::Tamper));
        assert!(office.read(&mut user).returned.unwrap().tamper, "the utility learns of the tamper");
        let mut reset = office.card(101, CardKind::Reset, "", 0, None);
        assert_eq!(insert(&mut c, &mut reset).unwrap().outcome, CardOutcome::Reset);
        assert!(!c.tamper() && c.display().is_none() && c.recent_codes().next().is_none());
        assert_eq!(insert(&mut c, &mut user).unwrap().outcome, CardOutcome::Loaded { amount: 1_000, count: 2 });

        let mut test = office.card(103, CardKind::Test, "", 0, None);
        let done = insert(&mut c, &mut test).unwrap();
        assert_eq!((done.outcome, c.display()), (CardOutcome::Tested, Some(ErrorCode::CardTest)));
        assert_eq!(c.credit(), 51_000);

        let mut clear = office.card(102, CardKind::Clear, METER, 0, None);
        assert_eq!(insert(&mut c, &mut clear).unwrap().outcome, CardOutcome::Cleared);
        // The credit and totals are zeroed; the purchase sequence is the vending system's and is kept, so that
        // the user card's purchase 2 does not load again.
        assert_eq!((c.credit(), c.card_purchase_count(), c.purchase_count(), c.used_total_wh()), (0, 2, 0, 0));
        assert_eq!(insert(&mut c, &mut user).unwrap().outcome, CardOutcome::AlreadyLoaded { count: 2 });
        assert_eq!(c.credit(), 0);
        // A parameter card inserted again changes the parameters only: the binding and the sequence stay.
        let mut param_again = office.card(106, CardKind::Parameter, METER, 0, None);
        assert_eq!(insert(&mut c, &mut param_again).unwrap().outcome, CardOutcome::AccountOpened);
        assert_eq!(c.card_purchase_count(), 2);
        assert_eq!(insert(&mut c, &mut user).unwrap().outcome, CardOutcome::AlreadyLoaded { count: 2 });
        assert_eq!(c.credit(), 0, "nothing loads twice");
        // A service card for another meter is refused.
        let mut elsewhere = office.card(104, CardKind::Check, "MTR-0099", 0, None);
        assert_eq!(insert(&mut c, &mut elsewhere), Err(ErrorCode::CardWrongMeter));
        // An open-account card for another meter is refused too.
        let mut param = office.card(105, CardKind::Parameter, "MTR-0099", 0, None);
        assert_eq!(insert(&mut c, &mut param), Err(ErrorCode::CardWrongMeter));
    }
}
