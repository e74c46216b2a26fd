//! The prepaid controller (售电装置的预付费控制器): what sits between the meter and the load switch.
//!
//! * Credit is held in money (minor units, with an internal price table by time of day) or in energy (Wh).
//! * Alarm 1 warns; crossing alarm 2 also opens the relay briefly (the warning trip real meters do) so the
//!   customer notices; at exhaustion (credit at minus the overdraft limit) the relay trips and stays open
//!   until credit comes back — except during friendly hours (nights, weekends, holidays where configured) and
//!   under keep-power (保电), when tripping is deferred.
//! * A purchase beyond the hoarding limit (囤积) is refused; every accepted purchase counts.
//! * Drawing more than the power limit trips the relay for a while.
//! * STS keypad tokens go through the token engine's meter side; each refusal shows an error code.
//! * IC cards (ISO/IEC 7816-4 CPU cards, `voltvend-card`) are accepted after three-pass mutual authentication
//!   with the meter's ESAM key; the rules per card type are in [`card`] and `docs/cards.md`.
//! * In remote mode the master station holds the balance: the controller only obeys relay commands.

use std::collections::VecDeque;

use jiff::Timestamp;
use jiff::civil::{Date, Weekday};
use jiff::tz::TimeZone;
use voltvend_card::CardSerial;
use voltvend_sts::meter::{Accepted, Rejection, StsMeter};
use voltvend_sts::token::RegisterKind;

pub mod card;
pub use card::{CardInserted, CardOutcome};

/// Codes shown on the meter's display.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    /// Err-01: token not accepted (wrong key, mistyped).
    InvalidToken = 1,
    /// Err-02: token already used.
    UsedToken = 2,
    /// Err-03: token too old.
    OldToken = 3,
    /// Err-04: the meter's key has expired.
    KeyExpired = 4,
    /// Err-05: purchase refused by the hoarding limit.
    HoardingLimit = 5,
    /// Err-06: tamper detected.
    Tamper = 6,
    /// Err-07: key change sections out of order.
    KeyChangeOrder = 7,
    /// Err-08: credit exhausted, relay open.
    CreditExhausted = 8,
    /// Err-09: power limit exceeded, relay open.
    Overpower = 9,
    /// Err-10: token type not supported by this meter.
    Unsupported = 10,
    /// Err-11: the card belongs to another meter (or the meter has no open account).
    CardWrongMeter = 11,
    /// Err-12: a replaced card (an older generation than the card bound to this meter).
    CardReplaced = 12,
    /// Err-13: the card's data is damaged (a torn or tampered record: its MAC does not verify).
    CardDamaged = 13,
    /// Err-14: the card's purchase count is out of sequence (neither the last one loaded nor the next).
    CardSequence = 14,
    /// Err-15: the card is not ours (blank, another utility's keys, a locked key, an unknown card type).
    CardRejected = 15,
    /// Err-16: the card could not be read or written (removed too early, a reader fault).
    CardRead = 16,
    /// Err-17: a test card was inserted (the relay test ran; nothing else changed).
    CardTest = 17,
}

impl ErrorCode {
    pub fn display(&self) -> String {
        format!("Err-{:02}", *self as u8)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Mode {
    /// The meter holds the credit (IC card, STS keypad).
    Local,
    /// The master station holds the balance; the meter measures and obeys relay commands.
    Remote,
}

/// How credit is counted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CreditUnit {
    /// Watt-hours.
    Energy,
    /// Minor money units, priced by a day schedule of `(minute of day, micro-units per kWh)` in local time.
    Money { schedule: Vec<(u16, i64)>, minor_per_major: i64 },
}

/// Friendly hours: times when the relay is not tripped for lack of credit.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FriendlyHours {
    /// Local `[start, end)` minutes of day; may wrap midnight (e.g. 20:00–08:00).
    pub night: Option<(u16, u16)>,
    pub weekends: bool,
    pub holidays: Vec<Date>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ControllerConfig {
    pub mode: Mode,
    pub credit_unit: CreditUnit,
    /// Thresholds in credit units (Wh or minor money).
    pub alarm1: i64,
    pub alarm2: i64,
    pub overdraft_limit: i64,
    pub hoarding_limit: Option<i64>,
    pub power_limit_w: Option<u32>,
    /// How long an overpower trip lasts before the relay closes again.
    pub overpower_trip_s: i64,
    /// How long the warning trip at alarm 2 lasts.
    pub warning_trip_s: i64,
    pub friendly: FriendlyHours,
    pub time_zone: TimeZone,
}

impl ControllerConfig {
    /// A meter the master station controls alone (费控在主站): energy credit, and no alarms, overdraft, hoarding
    /// or power limits or friendly hours of its own — the master station keeps those — in `time_zone`.
    pub fn remote(time_zone: TimeZone) -> Self {
        Self {
            mode: Mode::Remote,
            credit_unit: CreditUnit::Energy,
            alarm1: 0,
            alarm2: 0,
            overdraft_limit: 0,
            hoarding_limit: None,
            power_limit_w: None,
            overpower_trip_s: 300,
            warning_trip_s: 60,
            friendly: FriendlyHours::default(),
            time_zone,
        }
    }
}

/// Why the relay is open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TripReason {
    CreditExhausted,
    WarningTrip { until: Timestamp },
    Overpower { until: Timestamp },
    Remote,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Relay {
    Closed,
    Open(TripReason),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Alarm {
    None,
    Level1,
    Level2,
}

/// Something the controller did, for logs, displays and the head end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    Alarm(Alarm),
    RelayOpened(TripReason),
    RelayClosed,
    CreditAdded { amount: i64 },
    RegisterSet { kind: RegisterKind, value: u64 },
    KeyChanged,
    Display(ErrorCode),
}

/// Commands from the master station (DL/T 645 0x1C, writes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RemoteCommand {
    Trip,
    ClosePermitted,
    KeepPower(bool),
    /// Sounds (or silences) the alarm on the master station's order (DL/T 645 0x1C N1 2A / 2B), whatever the
    /// credit.
    Alarm(bool),
    /// Sets the balance (remote top-up or correction), in credit units.
    WriteBalance(i64),
    /// Sets a flat price, micro-units per kWh (money mode).
    WritePrice(i64),
}

#[derive(Debug, Clone)]
pub struct Controller {
    cfg: ControllerConfig,
    credit: i64,
    /// Sub-minor remainder of money-mode consumption, in 10⁻⁹ major units.
    carry_nano: i64,
    relay: Relay,
    alarm: Alarm,
    keep_power: bool,
    remote_trip: bool,
    remote_alarm: bool,
    tamper: bool,
    purchase_count: u32,
    purchased_total: i64,
    display: Option<ErrorCode>,
    sts: Option<StsMeter>,
    /// The meter number the open-account card bound (empty until then).
    meter_no: String,
    /// The user card bound to this meter and its generation (`None` until the first user card).
    card_bound: Option<(CardSerial, u8)>,
    /// The last card purchase count loaded.
    card_count: u32,
    /// Energy measured through the relay, for the card's return record.
    used_total_wh: u64,
    /// The most recent display codes, oldest first, at most [`RECENT_CODES_MAX`].
    recent: VecDeque<ErrorCode>,
}

/// How many recent display codes the controller keeps for the card's return record.
pub const RECENT_CODES_MAX: usize = 8;

impl Controller {
    pub fn new(cfg: ControllerConfig, opening_credit: i64, sts: Option<StsMeter>) -> Self {
        let mut c = Self {
            cfg,
            credit: opening_credit,
            carry_nano: 0,
            relay: Relay::Closed,
            alarm: Alarm::None,
            keep_power: false,
            remote_trip: false,
            remote_alarm: false,
            tamper: false,
            purchase_count: 0,
            purchased_total: 0,
            display: None,
            sts,
            meter_no: String::new(),
            card_bound: None,
            card_count: 0,
            used_total_wh: 0,
            recent: VecDeque::new(),
        };
        c.alarm = c.alarm_level();
        c
    }

    pub fn credit(&self) -> i64 {
        self.credit
    }

    pub fn relay(&self) -> Relay {
        self.relay
    }

    pub fn relay_closed(&self) -> bool {
        self.relay == Relay::Closed
    }

    pub fn alarm(&self) -> Alarm {
        self.alarm
    }

    pub fn keep_power(&self) -> bool {
        self.keep_power
    }

    /// Whether the master station has ordered the alarm on.
    pub fn remote_alarm(&self) -> bool {
        self.remote_alarm
    }

    pub fn tamper(&self) -> bool {
        self.tamper
    }

    pub fn purchase_count(&self) -> u32 {
        self.purchase_count
    }

    pub fn purchased_total(&self) -> i64 {
        self.purchased_total
    }

    pub fn display(&self) -> Option<ErrorCode> {
        self.display
    }

    pub fn config(&self) -> &ControllerConfig {
        &self.cfg
    }

    /// Shows a code on the display and remembers it for the card's return record.
    fn show(&mut self, code: ErrorCode) {
        self.display = Some(code);
        self.recent.push_back(code);
        while self.recent.len() > RECENT_CODES_MAX {
            self.recent.pop_front();
        }
    }

    /// The recent display codes, oldest first.
    pub fn recent_codes(&self) -> impl Iterator<Item = ErrorCode> + '_ {
        self.recent.iter().copied()
    }

    /// Energy measured through the relay since commissioning (or the last clear card).
    pub fn used_total_wh(&self) -> u64 {
        self.used_total_wh
    }

    fn alarm_level(&self) -> Alarm {
        if self.cfg.mode == Mode::Remote {
            Alarm::None
        } else if self.credit <= self.cfg.alarm2 {
            Alarm::Level2
        } else if self.credit <= self.cfg.alarm1 {
            Alarm::Level1
        } else {
            Alarm::None
        }
    }

    fn exhausted(&self) -> bool {
        self.cfg.mode == Mode::Local && self.credit <= -self.cfg.overdraft_limit
    }

    fn friendly(&self, at: Timestamp) -> bool {
        let local = at.to_zoned(self.cfg.time_zone.clone());
        let f = &self.cfg.friendly;
        if f.weekends && matches!(local.weekday(), Weekday::Saturday | Weekday::Sunday) {
            return true;
        }
        if f.holidays.contains(&local.date()) {
            return true;
        }
        let minute = local.hour() as u16 * 60 + local.minute() as u16;
        match f.night {
            Some((start, end)) if start <= end => (start..end).contains(&minute),
            Some((start, end)) => minute >= start || minute < end,
            None => false,
        }
    }

    fn price_at(&self, at: Timestamp) -> i64 {
        let CreditUnit::Money { schedule, .. } = &self.cfg.credit_unit else { return 0 };
        let local = at.to_zoned(self.cfg.time_zone.clone());
        let minute = local.hour() as u16 * 60 + local.minute() as u16;
        schedule.iter().rev().find(|(start, _)| *start <= minute).or(schedule.first()).map_or(0, |(_, p)| *p)
    }

    /// Re-decides the relay after any change, returning what changed.
    fn settle(&mut self, at: Timestamp, events: &mut Vec<Event>) {
        let level = self.alarm_level();
        if level != self.alarm {
            if level > self.alarm {
                events.push(Event::Alarm(level));
                if level == Alarm::Level2
                    && self.cfg.warning_trip_s > 0
                    && !self.keep_power
                    && self.relay == Relay::Closed
                {
                    let until = at + jiff::SignedDuration::from_secs(self.cfg.warning_trip_s);
                    self.open(TripReason::WarningTrip { until }, events);
                }
            }
            self.alarm = level;
        }
        let want = match self.relay {
            Relay::Open(TripReason::Overpower { until }) if at < until => Some(TripReason::Overpower { until }),
            Relay::Open(TripReason::WarningTrip { until }) if at < until && !self.exhausted() => {
                Some(TripReason::WarningTrip { until })
            }
            _ if self.remote_trip && !self.keep_power => Some(TripReason::Remote),
            _ if self.exhausted() && !self.keep_power => {
                // Friendly hours defer a trip, but do not close a relay already open for lack of credit.
                if self.relay == Relay::Closed && self.friendly(at) { None } else { Some(TripReason::CreditExhausted) }
            }
            _ => None,
        };
        match want {
            Some(reason) if self.relay != Relay::Open(reason) => self.open(reason, events),
            None if self.relay != Relay::Closed => {
                self.relay = Relay::Closed;
                if self.display == Some(ErrorCode::CreditExhausted) || self.display == Some(ErrorCode::Overpower) {
                    self.display = None;
                }
                events.push(Event::RelayClosed);
            }
            _ => {}
        }
    }

    fn open(&mut self, reason: TripReason, events: &mut Vec<Event>) {
        self.relay = Relay::Open(reason);
        events.push(Event::RelayOpened(reason));
        let code = match reason {
            TripReason::CreditExhausted => Some(ErrorCode::CreditExhausted),
            TripReason::Overpower { .. } => Some(ErrorCode::Overpower),
            _ => None,
        };
        if let Some(code) = code {
            self.show(code);
            events.push(Event::Display(code));
        }
    }

    /// Energy drawn through the closed relay since the last call, at an average power. The simulator calls this
    /// only while the relay is closed (an open relay passes no energy).
    pub fn consume(&mut self, energy_wh: i64, power_w: u32, at: Timestamp) -> Vec<Event> {
        let mut events = Vec::new();
        self.used_total_wh = self.used_total_wh.saturating_add(u64::try_from(energy_wh).unwrap_or(0));
        if energy_wh > 0 && self.cfg.mode == Mode::Local {
            match &self.cfg.credit_unit {
                CreditUnit::Energy => self.credit = self.credit.saturating_sub(energy_wh),
                CreditUnit::Money { minor_per_major, .. } => {
                    // micro per kWh × Wh = 10⁻⁹ major; carry what does not make a whole minor unit.
                    let nano_per_minor = 1_000_000_000 / minor_per_major.max(&1);
                    let nano = self.price_at(at).saturating_mul(energy_wh).saturating_add(self.carry_nano);
                    self.credit = self.credit.saturating_sub(nano / nano_per_minor);
                    self.carry_nano = nano % nano_per_minor;
                }
            }
        }
        if let Some(limit) = self.cfg.power_limit_w
            && power_w > limit
            && !self.keep_power
        {
            let until = at + jiff::SignedDuration::from_secs(self.cfg.overpower_trip_s);
            self.open(TripReason::Overpower { until }, &mut events);
        }
        self.settle(at, &mut events);
        events
    }

    /// Time passing without consumption (ends of timed trips, friendly hours ending).
    pub fn tick(&mut self, at: Timestamp) -> Vec<Event> {
        let mut events = Vec::new();
        self.settle(at, &mut events);
        events
    }

    /// A purchase loaded by card or remote top-up, in credit units.
    pub fn add_credit(&mut self, amount: i64, at: Timestamp) -> Result<Vec<Event>, ErrorCode> {
        if amount <= 0 {
            return Err(ErrorCode::Unsupported);
        }
        if let Some(limit) = self.cfg.hoarding_limit
            && self.credit.saturating_add(amount) > limit
        {
            self.show(ErrorCode::HoardingLimit);
            return Err(ErrorCode::HoardingLimit);
        }
        // A purchase that would overflow the meter's registers is refused like one beyond the hoarding limit.
        let (Some(credit), Some(total)) = (self.credit.checked_add(amount), self.purchased_total.checked_add(amount))
        else {
            self.show(ErrorCode::HoardingLimit);
            return Err(ErrorCode::HoardingLimit);
        };
        self.credit = credit;
        self.purchase_count += 1;
        self.purchased_total = total;
        let mut events = vec![Event::CreditAdded { amount }];
        self.settle(at, &mut events);
        Ok(events)
    }

    /// A token typed on the keypad.
    pub fn enter_token(&mut self, typed: &str, at: Timestamp) -> Result<Vec<Event>, ErrorCode> {
        let Some(sts) = self.sts.as_mut() else { return Err(ErrorCode::Unsupported) };
        let result = sts.enter(typed);
        let accepted = match result {
            Ok(a) => a,
            Err(r) => {
                let code = match r {
                    Rejection::Used(_) => ErrorCode::UsedToken,
                    Rejection::TooOld(_) => ErrorCode::OldToken,
                    Rejection::KeyExpired { .. } => ErrorCode::KeyExpired,
                    Rejection::KeyChangeOutOfOrder { .. } | Rejection::KeyChangeMismatch(_) => {
                        ErrorCode::KeyChangeOrder
                    }
                    _ => ErrorCode::InvalidToken,
                };
                self.show(code);
                return Err(code);
            }
        };
        // A tampered meter accepts only a clear-tamper token.
        if self.tamper && !matches!(accepted, Accepted::Register { kind: RegisterKind::ClearTamper, .. }) {
            self.show(ErrorCode::Tamper);
            return Err(ErrorCode::Tamper);
        }
        let mut events = Vec::new();
        match accepted {
            Accepted::Credit { tenths, .. } => {
                if self.cfg.credit_unit != CreditUnit::Energy {
                    self.show(ErrorCode::Unsupported);
                    return Err(ErrorCode::Unsupported);
                }
                // STS transfers 0.1 kWh = 100 Wh.
                let wh = i64::try_from(tenths).unwrap_or(i64::MAX).saturating_mul(100);
                events.extend(self.add_credit(wh, at)?);
            }
            Accepted::Register { kind, value, .. } => {
                match kind {
                    RegisterKind::MaxPowerLimit => self.cfg.power_limit_w = u32::try_from(value).ok(),
                    RegisterKind::ClearCredit => {
                        self.credit = 0;
                        self.carry_nano = 0;
                    }
                    RegisterKind::ClearTamper => self.tamper = false,
                    _ => {}
                }
                events.push(Event::RegisterSet { kind, value });
                self.settle(at, &mut events);
            }
            Accepted::KeyChanged { .. } => events.push(Event::KeyChanged),
            Accepted::Test1 { .. } | Accepted::Test2 { .. } | Accepted::KeyChangeSection { .. } => {}
        }
        self.display = None;
        Ok(events)
    }

    /// A remote command from the master station.
    pub fn remote(&mut self, command: RemoteCommand, at: Timestamp) -> Vec<Event> {
        let mut events = Vec::new();
        match command {
            RemoteCommand::Trip => self.remote_trip = true,
            RemoteCommand::ClosePermitted => self.remote_trip = false,
            RemoteCommand::KeepPower(on) => self.keep_power = on,
            RemoteCommand::Alarm(on) => self.remote_alarm = on,
            RemoteCommand::WriteBalance(v) => self.credit = v,
            RemoteCommand::WritePrice(p) => {
                if let CreditUnit::Money { schedule, .. } = &mut self.cfg.credit_unit {
                    *schedule = vec![(0, p)];
                }
            }
        }
        self.settle(at, &mut events);
        events
    }

    /// The tamper switch (cover opened, magnet).
    pub fn set_tamper(&mut self) {
        self.tamper = true;
        self.show(ErrorCode::Tamper);
    }
}

#[cfg(test)]
mod tests;
