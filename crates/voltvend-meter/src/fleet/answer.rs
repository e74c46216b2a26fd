//! How a simulated meter answers each DL/T 645-2007 function (§7 of the standard; the codec's table in
//! `voltvend_dlt645::app`), or refuses it with the standard's abnormal reply (`C | 0xC0`, one error byte).
//!
//! * Protected functions check the password: its level (PA, 00 the highest authority) must be one the
//!   function allows and its three bytes must be that level's password, else error bit 2 (unauthorised).
//!   The standard leaves which level each function needs to the meter's configuration; the `LEVEL_MAX_*`
//!   constants are this simulator's, after common factory settings.
//! * A rate feature word that is not exactly one standard rate gets error bit 3 (rate cannot change).
//! * Keep-power (保电) refuses trip commands (error bit 0) until it is released, and the controller defers
//!   credit trips under it; an expired control command is refused the same way.
//! * Broadcasts (address 99…99: time, freeze) are obeyed by every meter and never answered.
//!
//! Not modelled: the programming key that real meters want pressed before an address write, the standard's
//! broadcast-time limits (±5 minutes, once a day), load records and timed freezes taking place (the freeze
//! pattern is kept, only the instant freeze records data), and ESAM-encrypted control.

use std::collections::BTreeMap;

use jiff::Timestamp;
use jiff::civil::DateTime;
use voltvend_dlt645::app::{
    ALL_EVENTS, ErrorBits, FreezeAt, Function, OutputSignal, PASSWORD_LEVEL_MAX, Password, RateWord, RelayAction,
};
use voltvend_dlt645::data::{self, Value};
use voltvend_dlt645::{Address, Frame, Reply, Request};

use super::{Fleet, SimMeter};
use crate::controller::RemoteCommand;

/// The highest level number (lowest authority) that may write ordinary parameters (clock, thresholds).
pub const LEVEL_MAX_WRITE_PARAMETER: u8 = 4;
/// … that may write prepayment data (remaining energy).
pub const LEVEL_MAX_WRITE_PREPAYMENT: u8 = 2;
/// … that may clear the maximum demand.
pub const LEVEL_MAX_CLEAR_DEMAND: u8 = 4;
/// … that may clear the meter (energy, demand, freezes, events).
pub const LEVEL_MAX_CLEAR_METER: u8 = 2;
/// … that may clear event records.
pub const LEVEL_MAX_CLEAR_EVENTS: u8 = 2;
/// … that may command the relay, the alarm and keep-power.
pub const LEVEL_MAX_CONTROL: u8 = 2;
/// The levels a new meter has a password for (each 000000, as meters leave the factory); the others have none
/// until one is set with a change-password request from a higher level.
pub const DEFAULT_PASSWORD_LEVELS: [u8; 3] = [0, 2, 4];

/// Event counters (DL/T 645-2007 appendix A, 0330xx00: total counts, 3-byte BCD).
pub const PROGRAMMING_COUNT: u32 = 0x0330_0000;
pub const METER_CLEAR_COUNT: u32 = 0x0330_0100;
pub const DEMAND_CLEAR_COUNT: u32 = 0x0330_0200;
pub const EVENT_CLEAR_COUNT: u32 = 0x0330_0300;
pub const TIME_SET_COUNT: u32 = 0x0330_0400;
const EVENT_COUNTERS: [u32; 5] =
    [PROGRAMMING_COUNT, METER_CLEAR_COUNT, DEMAND_CLEAR_COUNT, EVENT_CLEAR_COUNT, TIME_SET_COUNT];

const DI_REMAINING_ENERGY: u32 = 0x0090_0100;
const DI_REMAINING_MONEY: u32 = 0x0090_0200;
const DI_DATE: u32 = 0x0400_0101;
const DI_TIME: u32 = 0x0400_0102;
const DI_RATE_WORD: u32 = 0x0400_0703;
const DI_MAX_DEMAND: u32 = 0x0101_0000;
const DI_FREEZE_TIME: u32 = 0x0501_0001;
const DI_FREEZE_ENERGY: u32 = 0x0501_0101;

/// An instant freeze: when (the meter's clock) and the energy registers then, in Wh.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Frozen {
    pub at: Timestamp,
    pub registers_wh: [i64; 5],
}

/// What a meter keeps for DL/T 645 beyond its registers and controller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProtocolState {
    /// The password of each level 0–9 (P0 P1 P2), if it has one.
    passwords: [Option<[u8; 3]>; 10],
    /// The RS-485 rate; it changes after the reply that accepts a new one.
    pub rate: RateWord,
    /// The highest power drawn since the last demand clear, and when.
    pub max_demand: Option<(u32, Timestamp)>,
    pub instant_freeze: Option<Frozen>,
    /// The timed freeze pattern last set.
    pub freeze_schedule: Option<FreezeAt>,
    /// Event counts by counter identifier.
    pub events: BTreeMap<u32, u32>,
    pub output: OutputSignal,
    /// What the master station last wrote for the display: the balance (remaining money, hundredths) and the
    /// first set of rate prices, tariffs 1–4 (ten-thousandths per kWh).
    pub shown_money: Option<u32>,
    pub rate_prices: [u32; 4],
}

impl Default for ProtocolState {
    fn default() -> Self {
        let mut passwords = [None; 10];
        for level in DEFAULT_PASSWORD_LEVELS {
            if let Some(p) = passwords.get_mut(usize::from(level)) {
                *p = Some([0; 3]);
            }
        }
        Self {
            passwords,
            rate: RateWord(0x08), // 2400 bit/s, the usual RS-485 default
            max_demand: None,
            instant_freeze: None,
            freeze_schedule: None,
            events: BTreeMap::new(),
            output: OutputSignal::ClockPulse,
            shown_money: None,
            rate_prices: [0; 4],
        }
    }
}

impl ProtocolState {
    /// Whether `password` is valid and its level may do what needs at most `level_max`.
    pub fn authorises(&self, password: Password, level_max: u8) -> bool {
        let level = password.level();
        level <= level_max
            && self.passwords.get(usize::from(level)).copied().flatten().is_some_and(|p| p == password.code())
    }

    pub fn event_count(&self, counter: u32) -> u32 {
        self.events.get(&counter).copied().unwrap_or(0)
    }

    fn count(&mut self, counter: u32) {
        *self.events.entry(counter).or_default() += 1;
    }

    pub(super) fn record_demand(&mut self, power_w: u32, at: Timestamp) {
        if self.max_demand.is_none_or(|(max, _)| power_w > max) && power_w > 0 {
            self.max_demand = Some((power_w, at));
        }
    }
}

fn bcd(v: i64) -> u8 {
    let v = v.rem_euclid(100) as u8;
    ((v / 10) << 4) | (v % 10)
}

fn from_bcd(b: u8) -> Option<i8> {
    let (h, l) = (b >> 4, b & 0x0F);
    (h <= 9 && l <= 9).then_some((h * 10 + l) as i8)
}

type Answer = Result<Reply, ErrorBits>;

impl Fleet {
    fn local(&self, t: Timestamp) -> DateTime {
        t.to_zoned(self.time_zone.clone()).datetime()
    }

    /// mm hh DD MM YY of a time, least significant first (the standard's YYMMDDhhmm).
    fn minutes_bcd(&self, t: Timestamp) -> [u8; 5] {
        let d = self.local(t);
        let b = |x: i8| bcd(i64::from(x));
        [b(d.minute()), b(d.hour()), b(d.day()), b(d.month()), bcd(i64::from(d.year()))]
    }

    /// The value bytes of `di` for a meter, or `None` if the meter has no such data.
    pub(super) fn read(&self, m: &SimMeter, di: u32) -> Option<Vec<u8>> {
        let id = data::lookup(di)?;
        let dec = |raw: i64, decimals: u8| data::encode(id.format, &Value::Decimal { raw, decimals }).ok();
        // XXXXXX.XX: registers roll over from 999999.99 kWh to zero, as real meters' displays and registers do.
        let hundredths = |wh: i64| (wh / 10) % 100_000_000;
        let kwh_hundredths = |wh: i64| dec(hundredths(wh), 2);
        // Only the date and time identifiers need the meter's local clock.
        let local = || m.clock(self.now).to_zoned(self.time_zone.clone());
        match di {
            0x0000_0000 | 0x0001_0000 => kwh_hundredths(m.shown_wh(0)),
            0x0001_0100 => kwh_hundredths(m.shown_wh(1)),
            0x0001_0200 => kwh_hundredths(m.shown_wh(2)),
            0x0001_0300 => kwh_hundredths(m.shown_wh(3)),
            0x0001_0400 => kwh_hundredths(m.shown_wh(4)),
            0x0002_0000 | 0x0003_0000 | 0x0004_0000 => kwh_hundredths(0),
            0x0201_0100 => dec(i64::from(m.voltage_dv), 1),
            0x0202_0100 => dec(i64::from(m.power_w) * 1_000 / (i64::from(m.voltage_dv) / 10).max(1), 3),
            0x0203_0000 | 0x0203_0100 => dec(i64::from(m.power_w) * 10, 4),
            0x0206_0000 => dec(if m.power_w > 0 { 980 } else { 1_000 }, 3),
            0x0280_0002 => dec(5_000, 2),
            0x0400_0401 => Some(m.address.0.to_vec()),
            // YYMMDDWW and hhmmss, least significant byte first.
            DI_DATE => {
                let d = local();
                Some(vec![
                    bcd(i64::from(d.weekday().to_sunday_zero_offset())),
                    bcd(i64::from(d.day())),
                    bcd(i64::from(d.month())),
                    bcd(i64::from(d.year())),
                ])
            }
            DI_TIME => {
                let t = local();
                Some(vec![bcd(i64::from(t.second())), bcd(i64::from(t.minute())), bcd(i64::from(t.hour()))])
            }
            0x0400_0503 => Some(m.status_word_3().to_le_bytes().to_vec()),
            DI_RATE_WORD => Some(vec![m.protocol.rate.0]),
            // XX.XXXX kW then YYMMDDhhmm; all zero after a clear.
            DI_MAX_DEMAND => {
                let (power, at) = match m.protocol.max_demand {
                    Some((w, at)) => (data::u64_to_bcd(u64::from(w) * 10, 3).ok()?, self.minutes_bcd(m.clock(at))),
                    None => (vec![0; 3], [0; 5]),
                };
                Some([power.as_slice(), &at].concat())
            }
            DI_FREEZE_TIME => m.protocol.instant_freeze.map(|f| self.minutes_bcd(f.at).to_vec()),
            DI_FREEZE_ENERGY => {
                let f = m.protocol.instant_freeze?;
                let mut out = Vec::with_capacity(20);
                for wh in f.registers_wh {
                    out.extend(data::u64_to_bcd(hundredths(wh / 1_000).unsigned_abs(), 4).ok()?);
                }
                Some(out)
            }
            PROGRAMMING_COUNT | METER_CLEAR_COUNT | DEMAND_CLEAR_COUNT | EVENT_CLEAR_COUNT | TIME_SET_COUNT => {
                dec(i64::from(m.protocol.event_count(di) % 1_000_000), 0)
            }
            DI_REMAINING_ENERGY => dec(m.controller.credit().max(0) / 10, 2),
            0x0090_0101 => dec((-m.controller.credit()).max(0) / 10, 2),
            DI_REMAINING_MONEY => dec(i64::from(m.protocol.shown_money?), 2),
            0x0405_0101..=0x0405_0104 => {
                let slot = usize::try_from(di - 0x0405_0101).ok()?;
                dec(i64::from(*m.protocol.rate_prices.get(slot)?), 4)
            }
            0x0333_0201 => dec(i64::from(m.controller.purchase_count() % 10_000), 0),
            0x0332_0601 => dec(m.controller.purchased_total() / 10, 2),
            _ => None,
        }
    }

    /// Answers one request frame as the addressed meter would; `None` when no reply is due (broadcasts, frames
    /// for meters not on this gateway, ambiguous wildcards).
    pub fn handle(&mut self, frame: &Frame) -> Option<Frame> {
        if frame.is_reply() {
            return None;
        }
        if frame.address.is_broadcast() {
            self.broadcast(frame);
            return None;
        }
        let targets: Vec<usize> = if frame.address.0.contains(&0xAA) {
            self.meters
                .iter()
                .enumerate()
                .filter(|(_, m)| frame.address.addresses(&m.address))
                .map(|(i, _)| i)
                .collect()
        } else {
            self.index.get(&frame.address).map(|i| vec![*i]).unwrap_or_default()
        };
        let [i] = targets.as_slice() else { return None };
        let i = *i;
        let address = self.meters.get(i)?.address;
        let Some(function) = Function::from_code(frame.control) else {
            // A function the standard does not define: refused as "other error" under the code it came with.
            return Some(Frame { address, control: 0xC0 | frame.function(), data: vec![ErrorBits::OTHER.0] });
        };
        let request = match Request::from_frame(frame) {
            Ok(r) => r,
            Err(_) if function == Function::BroadcastTime => return None,
            Err(_) => return Some(Reply::Abnormal { function, error: ErrorBits::OTHER }.to_frame(address)),
        };
        // A new address answers from the new address.
        let answer = match request {
            Request::BroadcastTime { at } => {
                self.set_clock(i, at);
                return None;
            }
            Request::WriteAddress { new } => self.write_address(i, new),
            other => self.answer(i, other),
        };
        let from = self.meters.get(i).map_or(address, |m| m.address);
        Some(match answer {
            Ok(reply) => reply.to_frame(from),
            Err(error) => Reply::Abnormal { function, error }.to_frame(from),
        })
    }

    /// A broadcast (address 99…99): time and freeze reach every meter; nothing else is a broadcast function.
    fn broadcast(&mut self, frame: &Frame) {
        match Request::from_frame(frame) {
            Ok(Request::BroadcastTime { at }) => {
                for i in 0..self.meters.len() {
                    self.set_clock(i, at);
                }
            }
            Ok(Request::Freeze { at }) => {
                for i in 0..self.meters.len() {
                    self.freeze(i, at);
                }
            }
            _ => {}
        }
    }

    /// Sets meter `i`'s clock to the local time `at` (a time that does not exist in the zone is ignored).
    fn set_clock(&mut self, i: usize, at: DateTime) {
        let now = self.now;
        let Ok(t) = self.time_zone.to_ambiguous_timestamp(at).compatible() else { return };
        if let Some(m) = self.meters.get_mut(i) {
            m.clock_offset_us = t.as_microsecond() - now.as_microsecond();
            m.protocol.count(TIME_SET_COUNT);
        }
    }

    fn freeze(&mut self, i: usize, at: FreezeAt) {
        let now = self.now;
        let Some(m) = self.meters.get_mut(i) else { return };
        if at == FreezeAt::Now {
            let registers_wh = m.registers_mwh;
            m.protocol.instant_freeze = Some(Frozen { at: m.clock(now), registers_wh });
        } else {
            m.protocol.freeze_schedule = Some(at);
        }
    }

    fn write_address(&mut self, i: usize, new: Address) -> Answer {
        let taken = self.index.get(&new).is_some_and(|j| *j != i);
        if new.is_broadcast() || taken {
            return Err(ErrorBits::OTHER);
        }
        let m = self.meters.get_mut(i).ok_or(ErrorBits::OTHER)?;
        let old = std::mem::replace(&mut m.address, new);
        self.index.remove(&old);
        self.index.insert(new, i);
        Ok(Reply::Ok { function: Function::WriteAddress })
    }

    fn answer(&mut self, i: usize, request: Request) -> Answer {
        let now = self.now;
        let m = self.meters.get(i).ok_or(ErrorBits::OTHER)?;
        let authorise = |password: Password, level_max: u8| {
            if m.protocol.authorises(password, level_max) { Ok(()) } else { Err(ErrorBits::UNAUTHORISED) }
        };
        match request {
            Request::Read { di } => {
                let value = self.read(m, di).ok_or(ErrorBits::NO_DATA)?;
                Ok(Reply::Data { di, value, follow_up: false })
            }
            // No load records are kept, and no answer ever needs a follow-up frame.
            Request::ReadRecords { .. } | Request::ReadFollowUp { .. } => Err(ErrorBits::NO_DATA),
            Request::ReadAddress => Ok(Reply::Address { address: m.address }),
            Request::Write { di, password, value, .. } => {
                let level_max = if di == DI_REMAINING_ENERGY || di == DI_REMAINING_MONEY {
                    LEVEL_MAX_WRITE_PREPAYMENT
                } else {
                    LEVEL_MAX_WRITE_PARAMETER
                };
                authorise(password, level_max)?;
                self.write(i, di, &value)?;
                self.protocol_mut(i)?.count(PROGRAMMING_COUNT);
                Ok(Reply::Ok { function: Function::Write })
            }
            Request::Freeze { at } => {
                self.freeze(i, at);
                Ok(Reply::Ok { function: Function::Freeze })
            }
            Request::ChangeRate { rate } => {
                rate.baud().ok_or(ErrorBits::BAUD_RATE)?;
                self.protocol_mut(i)?.rate = rate;
                Ok(Reply::RateChanged { rate })
            }
            Request::ChangePassword { old, new } => {
                // The old password proves its own level; it may set a password of that level or a lower one.
                authorise(old, PASSWORD_LEVEL_MAX)?;
                if new.level() < old.level() {
                    return Err(ErrorBits::UNAUTHORISED);
                }
                let p = self.protocol_mut(i)?;
                let slot = p.passwords.get_mut(usize::from(new.level())).ok_or(ErrorBits::UNAUTHORISED)?;
                *slot = Some(new.code());
                p.count(PROGRAMMING_COUNT);
                Ok(Reply::PasswordChanged { new })
            }
            Request::ClearDemand { password, .. } => {
                authorise(password, LEVEL_MAX_CLEAR_DEMAND)?;
                let p = self.protocol_mut(i)?;
                p.max_demand = None;
                p.count(DEMAND_CLEAR_COUNT);
                Ok(Reply::Ok { function: Function::ClearDemand })
            }
            Request::ClearMeter { password, .. } => {
                authorise(password, LEVEL_MAX_CLEAR_METER)?;
                let m = self.meters.get_mut(i).ok_or(ErrorBits::OTHER)?;
                m.registers_mwh = [0; 5];
                let p = &mut m.protocol;
                p.max_demand = None;
                p.instant_freeze = None;
                // Everything recorded goes, except the record of this clear itself.
                let clears = p.event_count(METER_CLEAR_COUNT);
                p.events.clear();
                p.events.insert(METER_CLEAR_COUNT, clears + 1);
                Ok(Reply::Ok { function: Function::ClearMeter })
            }
            Request::ClearEvents { password, event, .. } => {
                authorise(password, LEVEL_MAX_CLEAR_EVENTS)?;
                let p = self.protocol_mut(i)?;
                if event == ALL_EVENTS {
                    p.events.retain(|di, _| *di == EVENT_CLEAR_COUNT);
                } else {
                    // DI0 = FF names every record of one kind: the counter with the same DI3 DI2 DI1.
                    let kind = event & 0xFFFF_FF00;
                    let counter = EVENT_COUNTERS
                        .into_iter()
                        .find(|c| event & 0xFF == 0xFF && c & 0xFFFF_FF00 == kind)
                        .ok_or(ErrorBits::NO_DATA)?;
                    p.events.remove(&counter);
                }
                p.count(EVENT_CLEAR_COUNT);
                Ok(Reply::Ok { function: Function::ClearEvents })
            }
            Request::Control { password, action, valid_until, .. } => {
                authorise(password, LEVEL_MAX_CONTROL)?;
                let expired = self.time_zone.to_ambiguous_timestamp(valid_until).compatible().map_or(true, |t| t < now);
                let m = self.meters.get_mut(i).ok_or(ErrorBits::OTHER)?;
                if expired || (action == RelayAction::Trip && m.controller.keep_power()) {
                    return Err(ErrorBits::OTHER);
                }
                let command = match action {
                    RelayAction::Trip => RemoteCommand::Trip,
                    RelayAction::ClosePermitted | RelayAction::DirectClose => RemoteCommand::ClosePermitted,
                    RelayAction::Alarm => RemoteCommand::Alarm(true),
                    RelayAction::AlarmRelease => RemoteCommand::Alarm(false),
                    RelayAction::KeepPower => RemoteCommand::KeepPower(true),
                    RelayAction::KeepPowerRelease => RemoteCommand::KeepPower(false),
                };
                m.controller.remote(command, now);
                Ok(Reply::Ok { function: Function::Control })
            }
            Request::MultiFunctionOutput { signal } => {
                self.protocol_mut(i)?.output = signal;
                Ok(Reply::OutputSet { signal })
            }
            // Handled by the caller: they change the meter's clock or address, or are never answered.
            Request::BroadcastTime { .. } | Request::WriteAddress { .. } => Err(ErrorBits::OTHER),
        }
    }

    fn protocol_mut(&mut self, i: usize) -> Result<&mut ProtocolState, ErrorBits> {
        self.meters.get_mut(i).map(|m| &mut m.protocol).ok_or(ErrorBits::OTHER)
    }

    /// Writes one data item (the password is already checked).
    fn write(&mut self, i: usize, di: u32, value: &[u8]) -> Result<(), ErrorBits> {
        let now = self.now;
        let id = data::lookup(di).ok_or(ErrorBits::NO_DATA)?;
        if value.len() != id.format.len() {
            return Err(ErrorBits::OTHER);
        }
        match di {
            // Remaining energy (these simulated controllers count Wh): a remote top-up or correction.
            DI_REMAINING_ENERGY => match data::decode(id.format, value) {
                Ok(Value::Decimal { raw, .. }) => {
                    let m = self.meters.get_mut(i).ok_or(ErrorBits::OTHER)?;
                    m.controller.remote(RemoteCommand::WriteBalance(raw * 10), now);
                    Ok(())
                }
                _ => Err(ErrorBits::OTHER),
            },
            // The master station's balance and prices, for the display of a meter it controls (远程费控): the
            // meter keeps and shows them; its own credit is not touched.
            DI_REMAINING_MONEY | 0x0405_0101..=0x0405_0104 => match data::decode(id.format, value) {
                Ok(Value::Decimal { raw, .. }) => {
                    let raw = u32::try_from(raw).map_err(|_| ErrorBits::OTHER)?;
                    let p = self.protocol_mut(i)?;
                    match di.checked_sub(0x0405_0101).and_then(|s| p.rate_prices.get_mut(s as usize)) {
                        Some(slot) => *slot = raw,
                        None => p.shown_money = Some(raw),
                    }
                    Ok(())
                }
                _ => Err(ErrorBits::OTHER),
            },
            // The clock, addressed and password-protected: the date (YYMMDDWW) or the time (hhmmss).
            DI_DATE | DI_TIME => {
                let m = self.meters.get(i).ok_or(ErrorBits::OTHER)?;
                let current = self.local(m.clock(now));
                let b: Vec<i8> = value.iter().map(|x| from_bcd(*x)).collect::<Option<_>>().ok_or(ErrorBits::OTHER)?;
                let set = match (di, b.as_slice()) {
                    (DI_DATE, [_weekday, dd, mo, yy]) => {
                        current.with().year(2000 + i16::from(*yy)).month(*mo).day(*dd).build()
                    }
                    (_, [ss, mm, hh]) => current.with().hour(*hh).minute(*mm).second(*ss).subsec_nanosecond(0).build(),
                    _ => return Err(ErrorBits::OTHER),
                };
                let set = set.map_err(|_| ErrorBits::OTHER)?;
                self.set_clock(i, set);
                Ok(())
            }
            // Everything else in the table is measured or derived: no password writes it.
            _ => Err(ErrorBits::UNAUTHORISED),
        }
    }
}
