//! Typed application messages over [`Frame`]s: every function of DL/T 645-2007 §7 (the application layer)
//! with its normal and abnormal replies (PROTOCOLS.md §3.2–3.3).
//!
//! | C (request) | function (§ of DL/T 645-2007 as usually cited) | request data | normal reply |
//! |---|---|---|---|
//! | 08 | broadcast time (§7.6) | ss mm hh DD MM YY | none (broadcast) |
//! | 11 | read data (§7.1) | DI [+ N [+ mm hh DD MM YY]] | 91 / B1: DI + value |
//! | 12 | read follow-up data (§7.2) | DI + SEQ | 92 / B2: DI + value + SEQ |
//! | 13 | read communication address (§7.4) | — (address AA…AA) | 93: A0…A5 |
//! | 14 | write data (§7.3) | DI + PA P0 P1 P2 + C0…C3 + value | 94 |
//! | 15 | write communication address (§7.5) | A0…A5 | 95 |
//! | 16 | freeze (§7.7) | mm hh DD MM (99 = every) | 96 |
//! | 17 | change communication rate (§7.8) | rate feature word Z | 97: Z |
//! | 18 | change password (§7.9) | DI 04000C01+level + old PA P0 P1 P2 + new PA P0 P1 P2 | 98: new PA P0 P1 P2 |
//! | 19 | clear maximum demand (§7.10) | PA P0 P1 P2 + C0…C3 | 99 |
//! | 1A | clear meter (§7.11) | PA P0 P1 P2 + C0…C3 | 9A |
//! | 1B | clear events (§7.12) | PA P0 P1 P2 + C0…C3 + event DI (FFFFFFFF all) | 9B |
//! | 1C | trip / close / alarm / keep-power control | PA P0 P1 P2 + C0…C3 + N1 N2 + ss mm hh DD MM YY | 9C |
//! | 1D | multi-function terminal output | N (0 clock pulse, 1 demand period, 2 tariff switch) | 9D: N |
//!
//! Every function but broadcast time may be refused with an abnormal reply: `C | 0xC0` and one error byte
//! ([`ErrorBits`]). Bit 5 of C marks a reply that has follow-up frames (reads only); requests carry neither
//! bit 5 nor bit 6. Multi-byte fields travel least significant byte first.
//!
//! What is checked against what: read, read address, write address and broadcast time frames against the
//! public frames in `testdata/vectors/dlt645`; the other layouts are from the standard's text with no public
//! frame vector ([unverified] in PROTOCOLS.md §8). The 0x1C block is the plain (not ESAM-encrypted) form;
//! N1 = 0x1C (direct close) is the State Grid extension. The clause numbers above are those the standard's
//! readers cite; the text itself was not at hand.
//!
//! Parsing is total: any frame gives a typed message or an [`AppError`] saying what is wrong, never a panic.

use jiff::civil::DateTime;
use thiserror::Error;

use crate::data::{di_from_wire, di_to_wire};
use crate::frame::{Address, Frame};

pub const F_BROADCAST_TIME: u8 = Function::BroadcastTime as u8;
pub const F_READ: u8 = Function::Read as u8;
pub const F_READ_FOLLOW_UP: u8 = Function::ReadFollowUp as u8;
pub const F_READ_ADDRESS: u8 = Function::ReadAddress as u8;
pub const F_WRITE: u8 = Function::Write as u8;
pub const F_WRITE_ADDRESS: u8 = Function::WriteAddress as u8;
pub const F_FREEZE: u8 = Function::Freeze as u8;
pub const F_CHANGE_RATE: u8 = Function::ChangeRate as u8;
pub const F_CHANGE_PASSWORD: u8 = Function::ChangePassword as u8;
pub const F_CLEAR_DEMAND: u8 = Function::ClearDemand as u8;
pub const F_CLEAR_METER: u8 = Function::ClearMeter as u8;
pub const F_CLEAR_EVENTS: u8 = Function::ClearEvents as u8;
pub const F_CONTROL: u8 = Function::Control as u8;
pub const F_MULTI_FUNCTION_OUTPUT: u8 = Function::MultiFunctionOutput as u8;

/// Control-code bits (DL/T 645-2007 §4 control code C).
pub const C_REPLY: u8 = 0x80;
pub const C_ABNORMAL: u8 = 0x40;
pub const C_FOLLOW_UP: u8 = 0x20;
const C_FUNCTION: u8 = 0x1F;

/// The data identifier of the level-0 password; level n is `PASSWORD_DI_LEVEL_0 + n` (up to 04000C0A).
pub const PASSWORD_DI_LEVEL_0: u32 = 0x0400_0C01;
/// The highest password level (the lowest authority).
pub const PASSWORD_LEVEL_MAX: u8 = 9;
/// The event identifier that clears every event record.
pub const ALL_EVENTS: u32 = 0xFFFF_FFFF;
/// Write data: the data field holds DI (4), password (4) and operator code (4) before the value.
const WRITE_HEADER: usize = 12;
/// The largest value a write can carry in one frame (L is one byte).
pub const WRITE_VALUE_MAX: usize = crate::frame::DATA_LEN_MAX - WRITE_HEADER;

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum AppError {
    #[error("function {0:#04x} is not a DL/T 645-2007 function")]
    UnsupportedFunction(u8),
    #[error("malformed {what}: {why}")]
    Malformed { what: &'static str, why: &'static str },
}

fn malformed(what: &'static str, why: &'static str) -> AppError {
    AppError::Malformed { what, why }
}

/// The function of a control code (its bits 4..0).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Function {
    BroadcastTime = 0x08,
    Read = 0x11,
    ReadFollowUp = 0x12,
    ReadAddress = 0x13,
    Write = 0x14,
    WriteAddress = 0x15,
    Freeze = 0x16,
    ChangeRate = 0x17,
    ChangePassword = 0x18,
    ClearDemand = 0x19,
    ClearMeter = 0x1A,
    ClearEvents = 0x1B,
    Control = 0x1C,
    MultiFunctionOutput = 0x1D,
}

impl Function {
    pub const ALL: [Function; 14] = [
        Self::BroadcastTime,
        Self::Read,
        Self::ReadFollowUp,
        Self::ReadAddress,
        Self::Write,
        Self::WriteAddress,
        Self::Freeze,
        Self::ChangeRate,
        Self::ChangePassword,
        Self::ClearDemand,
        Self::ClearMeter,
        Self::ClearEvents,
        Self::Control,
        Self::MultiFunctionOutput,
    ];

    /// The function of bits 4..0 of `code`, if the standard defines one.
    pub fn from_code(code: u8) -> Option<Self> {
        Self::ALL.into_iter().find(|f| *f as u8 == code & C_FUNCTION)
    }

    pub fn code(self) -> u8 {
        self as u8
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::BroadcastTime => "broadcast time",
            Self::Read => "read data",
            Self::ReadFollowUp => "read follow-up data",
            Self::ReadAddress => "read address",
            Self::Write => "write data",
            Self::WriteAddress => "write address",
            Self::Freeze => "freeze",
            Self::ChangeRate => "change communication rate",
            Self::ChangePassword => "change password",
            Self::ClearDemand => "clear maximum demand",
            Self::ClearMeter => "clear meter",
            Self::ClearEvents => "clear events",
            Self::Control => "relay, alarm and keep-power control",
            Self::MultiFunctionOutput => "multi-function terminal output",
        }
    }

    /// Whether the meter's normal reply to this function has no data (an acknowledgement).
    pub fn acknowledged_without_data(self) -> bool {
        matches!(
            self,
            Self::Write
                | Self::WriteAddress
                | Self::Freeze
                | Self::ClearDemand
                | Self::ClearMeter
                | Self::ClearEvents
                | Self::Control
        )
    }
}

/// A password as sent: PA, the authority level (00 is the highest, 09 the lowest), then P0 P1 P2.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Password(pub [u8; 4]);

impl Password {
    pub fn new(level: u8, code: [u8; 3]) -> Self {
        let [p0, p1, p2] = code;
        Self([level, p0, p1, p2])
    }

    pub fn level(&self) -> u8 {
        self.0[0]
    }

    pub fn code(&self) -> [u8; 3] {
        let [_, p0, p1, p2] = self.0;
        [p0, p1, p2]
    }
}

impl std::fmt::Debug for Password {
    // The password bytes are a secret: only the level is shown.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Password(level {:02x}, ***)", self.level())
    }
}

/// The communication rate feature word Z (DL/T 645-2007 appendix, 通信速率特征字): one bit per rate,
/// bit 1 = 600 bit/s … bit 6 = 19200 bit/s; bits 0 and 7 reserved. A valid word has exactly one rate bit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RateWord(pub u8);

impl RateWord {
    /// The rates in bit order 1..=6.
    pub const RATES: [u32; 6] = [600, 1_200, 2_400, 4_800, 9_600, 19_200];

    pub fn from_baud(baud: u32) -> Option<Self> {
        let i = Self::RATES.iter().position(|r| *r == baud)?;
        Some(Self(1 << (i + 1)))
    }

    /// The rate this word asks for, or `None` when it is not exactly one defined rate bit.
    pub fn baud(&self) -> Option<u32> {
        if self.0.count_ones() != 1 {
            return None;
        }
        let bit = self.0.trailing_zeros() as usize;
        bit.checked_sub(1).and_then(|i| Self::RATES.get(i)).copied()
    }
}

/// When a freeze (冻结) happens: the data field mm hh DD MM, where 99 in the leading fields means "every".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FreezeAt {
    /// 99999999: freeze now (瞬时冻结).
    Now,
    /// 999999mm: every hour at this minute.
    Hourly { minute: u8 },
    /// 9999hhmm: every day at this time.
    Daily { hour: u8, minute: u8 },
    /// 99DDhhmm: every month on this day at this time.
    Monthly { day: u8, hour: u8, minute: u8 },
    /// MMDDhhmm: once, at this date and time.
    Once { month: u8, day: u8, hour: u8, minute: u8 },
}

const EVERY: u8 = 99;

impl FreezeAt {
    /// mm hh DD MM as decimal numbers (99 = every).
    fn fields(&self) -> [u8; 4] {
        match *self {
            Self::Now => [EVERY; 4],
            Self::Hourly { minute } => [minute, EVERY, EVERY, EVERY],
            Self::Daily { hour, minute } => [minute, hour, EVERY, EVERY],
            Self::Monthly { day, hour, minute } => [minute, hour, day, EVERY],
            Self::Once { month, day, hour, minute } => [minute, hour, day, month],
        }
    }

    fn from_fields([mm, hh, dd, mo]: [u8; 4]) -> Option<Self> {
        let minute_ok = mm < 60;
        let hour_ok = hh < 24;
        let day_ok = (1..=31).contains(&dd);
        let month_ok = (1..=12).contains(&mo);
        // 99 may stand only in a leading run of fields: month, then day, then hour, then minute.
        match (mo == EVERY, dd == EVERY, hh == EVERY, mm == EVERY) {
            (true, true, true, true) => Some(Self::Now),
            (true, true, true, false) if minute_ok => Some(Self::Hourly { minute: mm }),
            (true, true, false, false) if hour_ok && minute_ok => Some(Self::Daily { hour: hh, minute: mm }),
            (true, false, false, false) if day_ok && hour_ok && minute_ok => {
                Some(Self::Monthly { day: dd, hour: hh, minute: mm })
            }
            (false, false, false, false) if month_ok && day_ok && hour_ok && minute_ok => {
                Some(Self::Once { month: mo, day: dd, hour: hh, minute: mm })
            }
            _ => None,
        }
    }
}

/// Relay, alarm and keep-power commands (N1 of the 0x1C block).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RelayAction {
    /// 拉闸: open the relay.
    Trip = 0x1A,
    /// 合闸允许: the relay may close (the customer closes it, or the meter does).
    ClosePermitted = 0x1B,
    /// 直接合闸: close now (State Grid extension).
    DirectClose = 0x1C,
    /// 报警: sound the alarm.
    Alarm = 0x2A,
    /// 报警解除.
    AlarmRelease = 0x2B,
    /// 保电: never trip until released.
    KeepPower = 0x3A,
    /// 保电解除.
    KeepPowerRelease = 0x3B,
}

impl RelayAction {
    pub const ALL: [RelayAction; 7] = [
        Self::Trip,
        Self::ClosePermitted,
        Self::DirectClose,
        Self::Alarm,
        Self::AlarmRelease,
        Self::KeepPower,
        Self::KeepPowerRelease,
    ];

    pub fn from_byte(b: u8) -> Option<Self> {
        Self::ALL.into_iter().find(|a| *a as u8 == b)
    }
}

/// What a multi-function terminal outputs (N of 0x1D).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OutputSignal {
    /// 时钟秒脉冲.
    ClockPulse = 0x00,
    /// 需量周期.
    DemandPeriod = 0x01,
    /// 时段投切.
    TariffSwitch = 0x02,
}

impl OutputSignal {
    pub const ALL: [OutputSignal; 3] = [Self::ClockPulse, Self::DemandPeriod, Self::TariffSwitch];

    pub fn from_byte(b: u8) -> Option<Self> {
        Self::ALL.into_iter().find(|s| *s as u8 == b)
    }
}

/// The error information word of an abnormal reply (DL/T 645-2007, 错误信息字 ERR).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ErrorBits(pub u8);

impl ErrorBits {
    /// Bit 0: other error.
    pub const OTHER: ErrorBits = ErrorBits(0x01);
    /// Bit 1: no requested data.
    pub const NO_DATA: ErrorBits = ErrorBits(0x02);
    /// Bit 2: wrong password or not authorised.
    pub const UNAUTHORISED: ErrorBits = ErrorBits(0x04);
    /// Bit 3: the communication rate cannot be changed.
    pub const BAUD_RATE: ErrorBits = ErrorBits(0x08);
    /// Bit 4: too many annual time zones.
    pub const YEAR_ZONES: ErrorBits = ErrorBits(0x10);
    /// Bit 5: too many daily periods.
    pub const DAY_PERIODS: ErrorBits = ErrorBits(0x20);
    /// Bit 6: too many tariffs.
    pub const TARIFFS: ErrorBits = ErrorBits(0x40);

    const MEANINGS: [(u8, &'static str); 7] = [
        (0x01, "other error"),
        (0x02, "no such data"),
        (0x04, "wrong password or not authorised"),
        (0x08, "baud rate cannot change"),
        (0x10, "too many annual time zones"),
        (0x20, "too many daily periods"),
        (0x40, "too many tariffs"),
    ];

    /// What each set bit means, in bit order (bit 7 is reserved and has no meaning).
    pub fn meanings(&self) -> Vec<&'static str> {
        Self::MEANINGS.iter().filter(|(b, _)| self.0 & b != 0).map(|(_, m)| *m).collect()
    }
}

fn bcd(v: u8) -> u8 {
    let v = v % 100;
    ((v / 10) << 4) | (v % 10)
}

fn from_bcd(b: u8) -> Option<u8> {
    let (h, l) = (b >> 4, b & 0x0F);
    (h <= 9 && l <= 9).then_some(h * 10 + l)
}

fn bcd_i8(v: i8) -> u8 {
    bcd(v.unsigned_abs())
}

/// ss mm hh DD MM YY, least significant first.
fn datetime_to_wire(dt: DateTime) -> [u8; 6] {
    [
        bcd_i8(dt.second()),
        bcd_i8(dt.minute()),
        bcd_i8(dt.hour()),
        bcd_i8(dt.day()),
        bcd_i8(dt.month()),
        bcd((dt.year() % 100).unsigned_abs() as u8),
    ]
}

/// ss mm hh DD MM YY in BCD to a civil time in 2000–2099; `None` if it is not BCD or not a calendar time.
pub fn datetime_from_wire(b: &[u8]) -> Option<DateTime> {
    let [ss, mm, hh, dd, mo, yy] = <[u8; 6]>::try_from(b.get(..6)?).ok()?.map(from_bcd);
    let n = |x: Option<u8>| x.map(|v| v as i8);
    DateTime::new(2000 + i16::from(yy?), n(mo)?, n(dd)?, n(hh)?, n(mm)?, n(ss)?, 0).ok()
}

/// mm hh DD MM YY (the read-records start time): seconds are zero.
fn minutes_to_wire(dt: DateTime) -> [u8; 5] {
    let [_, mm, hh, dd, mo, yy] = datetime_to_wire(dt);
    [mm, hh, dd, mo, yy]
}

fn minutes_from_wire(b: &[u8]) -> Option<DateTime> {
    let five: [u8; 5] = b.try_into().ok()?;
    let [mm, hh, dd, mo, yy] = five;
    datetime_from_wire(&[0, mm, hh, dd, mo, yy])
}

/// A request from the master station.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    BroadcastTime {
        at: DateTime,
    },
    Read {
        di: u32,
    },
    /// Read with a block count N (load records), optionally from a given time (mm hh DD MM YY).
    ReadRecords {
        di: u32,
        blocks: u8,
        since: Option<DateTime>,
    },
    ReadFollowUp {
        di: u32,
        seq: u8,
    },
    ReadAddress,
    Write {
        di: u32,
        password: Password,
        operator: [u8; 4],
        value: Vec<u8>,
    },
    WriteAddress {
        new: Address,
    },
    Freeze {
        at: FreezeAt,
    },
    /// The word as sent: a meter refuses one that is not exactly one standard rate with an abnormal reply.
    ChangeRate {
        rate: RateWord,
    },
    /// Sets the password of `new`'s level, proved with `old` (DI 04000C01 + the new level).
    ChangePassword {
        old: Password,
        new: Password,
    },
    ClearDemand {
        password: Password,
        operator: [u8; 4],
    },
    ClearMeter {
        password: Password,
        operator: [u8; 4],
    },
    /// `event` is an event record identifier (DI0 = FF for every record of that kind) or [`ALL_EVENTS`].
    ClearEvents {
        password: Password,
        operator: [u8; 4],
        event: u32,
    },
    Control {
        password: Password,
        operator: [u8; 4],
        action: RelayAction,
        valid_until: DateTime,
    },
    MultiFunctionOutput {
        signal: OutputSignal,
    },
}

impl Request {
    pub fn function(&self) -> Function {
        match self {
            Self::BroadcastTime { .. } => Function::BroadcastTime,
            Self::Read { .. } | Self::ReadRecords { .. } => Function::Read,
            Self::ReadFollowUp { .. } => Function::ReadFollowUp,
            Self::ReadAddress => Function::ReadAddress,
            Self::Write { .. } => Function::Write,
            Self::WriteAddress { .. } => Function::WriteAddress,
            Self::Freeze { .. } => Function::Freeze,
            Self::ChangeRate { .. } => Function::ChangeRate,
            Self::ChangePassword { .. } => Function::ChangePassword,
            Self::ClearDemand { .. } => Function::ClearDemand,
            Self::ClearMeter { .. } => Function::ClearMeter,
            Self::ClearEvents { .. } => Function::ClearEvents,
            Self::Control { .. } => Function::Control,
            Self::MultiFunctionOutput { .. } => Function::MultiFunctionOutput,
        }
    }

    /// The frame for `address`. A write value longer than [`WRITE_VALUE_MAX`] does not fit one frame and is
    /// cut there; [`Request::from_frame`] of the result then differs from `self`.
    pub fn to_frame(&self, address: Address) -> Frame {
        let mut d = Vec::new();
        match self {
            Self::BroadcastTime { at } => d.extend_from_slice(&datetime_to_wire(*at)),
            Self::Read { di } => d.extend_from_slice(&di_to_wire(*di)),
            Self::ReadRecords { di, blocks, since } => {
                d.extend_from_slice(&di_to_wire(*di));
                d.push(*blocks);
                if let Some(t) = since {
                    d.extend_from_slice(&minutes_to_wire(*t));
                }
            }
            Self::ReadFollowUp { di, seq } => {
                d.extend_from_slice(&di_to_wire(*di));
                d.push(*seq);
            }
            Self::ReadAddress => {}
            Self::Write { di, password, operator, value } => {
                d.extend_from_slice(&di_to_wire(*di));
                d.extend_from_slice(&password.0);
                d.extend_from_slice(operator);
                d.extend(value.iter().take(WRITE_VALUE_MAX));
            }
            Self::WriteAddress { new } => d.extend_from_slice(&new.0),
            Self::Freeze { at } => d.extend(at.fields().map(bcd)),
            Self::ChangeRate { rate } => d.push(rate.0),
            Self::ChangePassword { old, new } => {
                d.extend_from_slice(&di_to_wire(PASSWORD_DI_LEVEL_0.wrapping_add(u32::from(new.level()))));
                d.extend_from_slice(&old.0);
                d.extend_from_slice(&new.0);
            }
            Self::ClearDemand { password, operator } | Self::ClearMeter { password, operator } => {
                d.extend_from_slice(&password.0);
                d.extend_from_slice(operator);
            }
            Self::ClearEvents { password, operator, event } => {
                d.extend_from_slice(&password.0);
                d.extend_from_slice(operator);
                d.extend_from_slice(&di_to_wire(*event));
            }
            Self::Control { password, operator, action, valid_until } => {
                d.extend_from_slice(&password.0);
                d.extend_from_slice(operator);
                d.push(*action as u8);
                d.push(0); // N2: reserved.
                d.extend_from_slice(&datetime_to_wire(*valid_until));
            }
            Self::MultiFunctionOutput { signal } => d.push(*signal as u8),
        }
        Frame { address, control: self.function().code(), data: d }
    }

    /// Interprets a request frame (as a meter does).
    pub fn from_frame(f: &Frame) -> Result<Self, AppError> {
        if f.is_reply() {
            return Err(malformed("request", "the direction bit says reply"));
        }
        if f.control & (C_ABNORMAL | C_FOLLOW_UP) != 0 {
            return Err(malformed("request", "a request carries no abnormal or follow-up bit"));
        }
        let function = Function::from_code(f.control).ok_or(AppError::UnsupportedFunction(f.control))?;
        let d = f.data.as_slice();
        let four = |at: usize| -> Option<[u8; 4]> { d.get(at..at.checked_add(4)?)?.try_into().ok() };
        let password = |at: usize| four(at).map(Password);
        match function {
            Function::BroadcastTime => match (d.len(), datetime_from_wire(d)) {
                (6, Some(at)) => Ok(Self::BroadcastTime { at }),
                _ => Err(malformed("broadcast time", "expected ss mm hh DD MM YY, a calendar time in BCD")),
            },
            Function::Read => {
                let di = di_from_wire(d).ok_or(malformed("read", "expected a 4-byte DI"))?;
                match d.get(4..).unwrap_or(&[]) {
                    [] => Ok(Self::Read { di }),
                    [blocks] => Ok(Self::ReadRecords { di, blocks: *blocks, since: None }),
                    [blocks, time @ ..] if time.len() == 5 => match minutes_from_wire(time) {
                        Some(since) => Ok(Self::ReadRecords { di, blocks: *blocks, since: Some(since) }),
                        None => Err(malformed("read", "the records' start time is not mm hh DD MM YY in BCD")),
                    },
                    _ => Err(malformed("read", "expected DI, DI + block count, or DI + count + start time")),
                }
            }
            Function::ReadFollowUp => match (di_from_wire(d), d.get(4)) {
                (Some(di), Some(seq)) if d.len() == 5 => Ok(Self::ReadFollowUp { di, seq: *seq }),
                _ => Err(malformed("read follow-up", "expected DI and sequence number (5 bytes)")),
            },
            Function::ReadAddress if d.is_empty() => Ok(Self::ReadAddress),
            Function::ReadAddress => Err(malformed("read address", "expected no data")),
            Function::Write => match (di_from_wire(d), password(4), four(8)) {
                (Some(di), Some(password), Some(operator)) => {
                    Ok(Self::Write { di, password, operator, value: d.get(WRITE_HEADER..).unwrap_or(&[]).to_vec() })
                }
                _ => Err(malformed("write", "expected DI, password and operator code (12 bytes) before the value")),
            },
            Function::WriteAddress => match <[u8; 6]>::try_from(d) {
                Ok(a) if a.iter().all(|b| from_bcd(*b).is_some()) => Ok(Self::WriteAddress { new: Address(a) }),
                Ok(_) => Err(malformed("write address", "the new address is not 12 BCD digits")),
                Err(_) => Err(malformed("write address", "expected 6 address bytes")),
            },
            Function::Freeze => {
                let fields = <[u8; 4]>::try_from(d)
                    .map_err(|_| malformed("freeze", "expected mm hh DD MM (4 bytes)"))?
                    .map(from_bcd);
                let [Some(mm), Some(hh), Some(dd), Some(mo)] = fields else {
                    return Err(malformed("freeze", "the freeze time is not BCD"));
                };
                FreezeAt::from_fields([mm, hh, dd, mo]).map(|at| Self::Freeze { at }).ok_or(malformed(
                    "freeze",
                    "not a freeze time (MMDDhhmm, 99DDhhmm, 9999hhmm, 999999mm or 99999999)",
                ))
            }
            Function::ChangeRate => match d {
                [z] => Ok(Self::ChangeRate { rate: RateWord(*z) }),
                _ => Err(malformed("change rate", "expected one feature word byte")),
            },
            Function::ChangePassword => {
                let (Some(di), Some(old), Some(new)) = (di_from_wire(d), password(4), password(8)) else {
                    return Err(malformed("change password", "expected DI, old and new password (12 bytes)"));
                };
                if d.len() != 12 {
                    return Err(malformed("change password", "expected DI, old and new password (12 bytes)"));
                }
                if new.level() > PASSWORD_LEVEL_MAX || di != PASSWORD_DI_LEVEL_0 + u32::from(new.level()) {
                    return Err(malformed("change password", "the DI is not 04000C01 + the new password's level"));
                }
                Ok(Self::ChangePassword { old, new })
            }
            Function::ClearDemand | Function::ClearMeter => match (password(0), four(4)) {
                (Some(password), Some(operator)) if d.len() == 8 => Ok(if function == Function::ClearDemand {
                    Self::ClearDemand { password, operator }
                } else {
                    Self::ClearMeter { password, operator }
                }),
                _ => Err(malformed(function.name(), "expected password and operator code (8 bytes)")),
            },
            Function::ClearEvents => match (password(0), four(4), four(8).map(u32::from_le_bytes)) {
                (Some(password), Some(operator), Some(event)) if d.len() == 12 => {
                    Ok(Self::ClearEvents { password, operator, event })
                }
                _ => Err(malformed("clear events", "expected password, operator code and event DI (12 bytes)")),
            },
            Function::Control => {
                if d.len() != 16 {
                    return Err(malformed("relay control", "expected 16 data bytes"));
                }
                let (Some(password), Some(operator)) = (password(0), four(4)) else {
                    return Err(malformed("relay control", "expected 16 data bytes"));
                };
                let action = d
                    .get(8)
                    .and_then(|b| RelayAction::from_byte(*b))
                    .ok_or(malformed("relay control", "unknown command N1"))?;
                if d.get(9) != Some(&0) {
                    return Err(malformed("relay control", "N2 is reserved and must be 00"));
                }
                let valid_until = d
                    .get(10..16)
                    .and_then(datetime_from_wire)
                    .ok_or(malformed("relay control", "the validity time is not a calendar time in BCD"))?;
                Ok(Self::Control { password, operator, action, valid_until })
            }
            Function::MultiFunctionOutput => match d {
                [n] => OutputSignal::from_byte(*n)
                    .map(|signal| Self::MultiFunctionOutput { signal })
                    .ok_or(malformed("multi-function output", "N is not 00, 01 or 02")),
                _ => Err(malformed("multi-function output", "expected one byte")),
            },
        }
    }
}

/// A meter's reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// Read data (91, or B1 when `follow_up`: more frames follow): the DI and the value bytes.
    Data { di: u32, value: Vec<u8>, follow_up: bool },
    /// Follow-up data (92 / B2): the DI, the value bytes and the frame's sequence number.
    FollowUpData { di: u32, value: Vec<u8>, seq: u8, follow_up: bool },
    /// The meter's address, the answer to read address (93). It is also the frame's address.
    Address { address: Address },
    /// The rate the meter changes to after this reply (97).
    RateChanged { rate: RateWord },
    /// The password now set (98).
    PasswordChanged { new: Password },
    /// The signal the terminal now outputs (9D).
    OutputSet { signal: OutputSignal },
    /// A function whose normal reply has no data succeeded: write, write address, freeze, clears, control.
    Ok { function: Function },
    /// Abnormal reply (C | 0xC0) with error bits.
    Abnormal { function: Function, error: ErrorBits },
}

impl Reply {
    pub fn function(&self) -> Function {
        match self {
            Self::Data { .. } => Function::Read,
            Self::FollowUpData { .. } => Function::ReadFollowUp,
            Self::Address { .. } => Function::ReadAddress,
            Self::RateChanged { .. } => Function::ChangeRate,
            Self::PasswordChanged { .. } => Function::ChangePassword,
            Self::OutputSet { .. } => Function::MultiFunctionOutput,
            Self::Ok { function } | Self::Abnormal { function, .. } => *function,
        }
    }

    /// The frame from the meter at `address`.
    pub fn to_frame(&self, address: Address) -> Frame {
        let follow = |f: bool| if f { C_FOLLOW_UP } else { 0 };
        let mut control = C_REPLY | self.function().code();
        let mut data = Vec::new();
        match self {
            Self::Data { di, value, follow_up } => {
                control |= follow(*follow_up);
                data.extend_from_slice(&di_to_wire(*di));
                data.extend_from_slice(value);
            }
            Self::FollowUpData { di, value, seq, follow_up } => {
                control |= follow(*follow_up);
                data.extend_from_slice(&di_to_wire(*di));
                data.extend_from_slice(value);
                data.push(*seq);
            }
            Self::Address { address } => data.extend_from_slice(&address.0),
            Self::RateChanged { rate } => data.push(rate.0),
            Self::PasswordChanged { new } => data.extend_from_slice(&new.0),
            Self::OutputSet { signal } => data.push(*signal as u8),
            Self::Ok { .. } => {}
            Self::Abnormal { error, .. } => {
                control |= C_ABNORMAL;
                data.push(error.0);
            }
        }
        Frame { address, control, data }
    }

    /// Interprets a reply frame (as a master station does).
    pub fn from_frame(f: &Frame) -> Result<Self, AppError> {
        if !f.is_reply() {
            return Err(malformed("reply", "the direction bit says request"));
        }
        let function = Function::from_code(f.control).ok_or(AppError::UnsupportedFunction(f.control & C_FUNCTION))?;
        if function == Function::BroadcastTime {
            return Err(malformed("reply", "broadcast time is never answered"));
        }
        let follow_up = f.has_follow_up();
        if follow_up && (f.is_abnormal() || !matches!(function, Function::Read | Function::ReadFollowUp)) {
            return Err(malformed("reply", "only a normal read reply has follow-up frames"));
        }
        let d = f.data.as_slice();
        if f.is_abnormal() {
            return match d {
                [e] => Ok(Self::Abnormal { function, error: ErrorBits(*e) }),
                _ => Err(malformed("abnormal reply", "expected one error byte")),
            };
        }
        match function {
            Function::Read => {
                let di = di_from_wire(d).ok_or(malformed("read reply", "expected a DI"))?;
                Ok(Self::Data { di, value: d.get(4..).unwrap_or(&[]).to_vec(), follow_up })
            }
            Function::ReadFollowUp => match (di_from_wire(d), d.split_last()) {
                (Some(di), Some((seq, rest))) if d.len() >= 5 => {
                    Ok(Self::FollowUpData { di, value: rest.get(4..).unwrap_or(&[]).to_vec(), seq: *seq, follow_up })
                }
                _ => Err(malformed("follow-up reply", "expected DI, value and sequence number")),
            },
            Function::ReadAddress => match <[u8; 6]>::try_from(d) {
                Ok(a) => Ok(Self::Address { address: Address(a) }),
                Err(_) => Err(malformed("address reply", "expected 6 address bytes")),
            },
            Function::ChangeRate => match d {
                [z] => Ok(Self::RateChanged { rate: RateWord(*z) }),
                _ => Err(malformed("change rate reply", "expected the feature word")),
            },
            Function::ChangePassword => match <[u8; 4]>::try_from(d) {
                Ok(p) => Ok(Self::PasswordChanged { new: Password(p) }),
                Err(_) => Err(malformed("change password reply", "expected the new password (4 bytes)")),
            },
            Function::MultiFunctionOutput => match d {
                [n] => OutputSignal::from_byte(*n)
                    .map(|signal| Self::OutputSet { signal })
                    .ok_or(malformed("multi-function output reply", "N is not 00, 01 or 02")),
                _ => Err(malformed("multi-function output reply", "expected one byte")),
            },
            _ if d.is_empty() => Ok(Self::Ok { function }),
            _ => Err(malformed("reply", "this function's normal reply has no data")),
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn addr() -> Address {
        Address::from_meter_no("000000000161").unwrap()
    }

    fn f(control: u8, data: Vec<u8>) -> Frame {
        Frame { address: addr(), control, data }
    }

    #[test]
    fn relay_control_round_trip() {
        let at: DateTime = "2026-11-23T18:30:00".parse().unwrap();
        let req = Request::Control {
            password: Password::new(0x02, [0, 0, 0]),
            operator: [1, 2, 3, 4],
            action: RelayAction::Trip,
            valid_until: at,
        };
        let frame = req.to_frame(addr());
        assert_eq!(frame.data.len(), 16);
        assert_eq!(Request::from_frame(&frame).unwrap(), req);
        let ok = Reply::Ok { function: Function::Control }.to_frame(addr());
        assert_eq!(ok.control, 0x9C);
        let bad = Reply::Abnormal { function: Function::Control, error: ErrorBits::UNAUTHORISED }.to_frame(addr());
        assert_eq!((bad.control, bad.data.as_slice()), (0xDC, &[0x04][..]));
        assert_eq!(
            Reply::from_frame(&bad).unwrap(),
            Reply::Abnormal { function: Function::Control, error: ErrorBits::UNAUTHORISED }
        );
    }

    #[test]
    fn rate_words() {
        assert_eq!(RateWord::from_baud(2_400), Some(RateWord(0x08)));
        assert_eq!(RateWord::from_baud(19_200), Some(RateWord(0x40)));
        assert_eq!(RateWord(0x20).baud(), Some(9_600));
        assert_eq!(RateWord(0x02).baud(), Some(600));
        for not_a_rate in [0x00, 0x01, 0x80, 0x0C, 0xFF] {
            assert_eq!(RateWord(not_a_rate).baud(), None, "{not_a_rate:#04x}");
        }
        assert_eq!(RateWord::from_baud(115_200), None);
    }

    #[test]
    fn freeze_times() {
        let check = |fields: [u8; 4], expect: Option<FreezeAt>| {
            assert_eq!(FreezeAt::from_fields(fields), expect, "{fields:?}");
            if let Some(at) = expect {
                assert_eq!(at.fields(), fields);
            }
        };
        check([99, 99, 99, 99], Some(FreezeAt::Now));
        check([30, 99, 99, 99], Some(FreezeAt::Hourly { minute: 30 }));
        check([0, 12, 99, 99], Some(FreezeAt::Daily { hour: 12, minute: 0 }));
        check([0, 0, 1, 99], Some(FreezeAt::Monthly { day: 1, hour: 0, minute: 0 }));
        check([15, 8, 28, 2], Some(FreezeAt::Once { month: 2, day: 28, hour: 8, minute: 15 }));
        check([99, 12, 99, 99], None); // "every minute of 12 o'clock" is not a freeze pattern
        check([60, 99, 99, 99], None);
        check([0, 24, 99, 99], None);
        check([0, 0, 0, 99], None);
        check([0, 0, 1, 13], None);
    }

    #[test]
    fn error_bits_meanings() {
        assert_eq!(ErrorBits(0x05).meanings(), ["other error", "wrong password or not authorised"]);
        assert!(ErrorBits(0x80).meanings().is_empty());
    }

    #[test]
    fn malformed_requests() {
        let date = [0x00, 0x30, 0x18, 0x23, 0x11, 0x26];
        let bad = |control, data: Vec<u8>| Request::from_frame(&f(control, data)).unwrap_err();
        assert!(matches!(bad(0x11, vec![1, 2]), AppError::Malformed { .. }));
        assert!(matches!(bad(0x11, vec![0; 7]), AppError::Malformed { .. }), "DI + 3 bytes is no layout");
        assert!(matches!(bad(0x1C, vec![0; 15]), AppError::Malformed { .. }));
        assert!(matches!(bad(0x1C, [vec![0; 8], vec![0x99, 0], date.to_vec()].concat()), AppError::Malformed { .. }));
        assert!(matches!(bad(0x1C, [vec![0; 8], vec![0x1A, 1], date.to_vec()].concat()), AppError::Malformed { .. }));
        assert!(matches!(bad(0x1F, vec![]), AppError::UnsupportedFunction(0x1F)));
        assert!(matches!(bad(0x01, vec![]), AppError::UnsupportedFunction(0x01)));
        assert!(matches!(bad(0x91, vec![0; 4]), AppError::Malformed { .. }), "a reply is not a request");
        assert!(matches!(bad(0x31, vec![0; 4]), AppError::Malformed { .. }), "follow-up bit on a request");
        assert!(matches!(bad(0x13, vec![0]), AppError::Malformed { .. }));
        assert!(matches!(bad(0x15, vec![0x1A, 0, 0, 0, 0, 0]), AppError::Malformed { .. }), "not BCD");
        assert!(matches!(bad(0x16, vec![0x99, 0x12, 0x99, 0x99]), AppError::Malformed { .. }));
        assert!(matches!(bad(0x17, vec![]), AppError::Malformed { .. }));
        // Change password: the DI must name the new password's level.
        let pw =
            |di: u32, new_level: u8| [di.to_le_bytes().to_vec(), vec![2, 0, 0, 0], vec![new_level, 1, 2, 3]].concat();
        assert!(Request::from_frame(&f(0x18, pw(0x0400_0C03, 2))).is_ok());
        assert!(matches!(bad(0x18, pw(0x0400_0C02, 2)), AppError::Malformed { .. }));
        assert!(matches!(bad(0x18, pw(0x0400_0C0B, 10)), AppError::Malformed { .. }));
        assert!(matches!(bad(0x19, vec![0; 12]), AppError::Malformed { .. }));
        assert!(matches!(bad(0x1A, vec![0; 7]), AppError::Malformed { .. }));
        assert!(matches!(bad(0x1B, vec![0; 8]), AppError::Malformed { .. }));
        assert!(matches!(bad(0x1D, vec![3]), AppError::Malformed { .. }));
        assert!(matches!(bad(0x08, vec![0x00, 0x00, 0x00, 0x31, 0x02, 0x26]), AppError::Malformed { .. }), "31 Feb");
    }

    #[test]
    fn malformed_replies() {
        let bad = |control, data: Vec<u8>| Reply::from_frame(&f(control, data)).unwrap_err();
        assert!(matches!(bad(0x11, vec![0; 4]), AppError::Malformed { .. }), "a request is not a reply");
        assert!(matches!(bad(0x88, vec![]), AppError::Malformed { .. }), "broadcast time has no reply");
        assert!(matches!(bad(0x9F, vec![]), AppError::UnsupportedFunction(0x1F)));
        assert!(matches!(bad(0xD1, vec![]), AppError::Malformed { .. }));
        assert!(matches!(bad(0xD1, vec![1, 2]), AppError::Malformed { .. }));
        assert!(matches!(bad(0xF1, vec![1]), AppError::Malformed { .. }), "abnormal with follow-up");
        assert!(matches!(bad(0xB4, vec![]), AppError::Malformed { .. }), "follow-up on a write ack");
        assert!(matches!(bad(0x94, vec![0]), AppError::Malformed { .. }));
        assert!(matches!(bad(0x91, vec![0; 3]), AppError::Malformed { .. }));
        assert!(matches!(bad(0x92, vec![0; 4]), AppError::Malformed { .. }));
        assert!(matches!(bad(0x93, vec![0; 5]), AppError::Malformed { .. }));
        assert!(matches!(bad(0x97, vec![]), AppError::Malformed { .. }));
        assert!(matches!(bad(0x98, vec![0; 3]), AppError::Malformed { .. }));
        assert!(matches!(bad(0x9D, vec![7]), AppError::Malformed { .. }));
    }

    fn any_datetime() -> impl Strategy<Value = DateTime> {
        (0_i16..99, 1_i8..13, 1_i8..29, 0_i8..24, 0_i8..60, 0_i8..60)
            .prop_map(|(y, mo, d, h, mi, s)| DateTime::new(2000 + y, mo, d, h, mi, s, 0).unwrap())
    }

    fn any_password() -> impl Strategy<Value = Password> {
        any::<[u8; 4]>().prop_map(Password)
    }

    fn any_freeze() -> impl Strategy<Value = FreezeAt> {
        prop_oneof![
            Just(FreezeAt::Now),
            (0_u8..60).prop_map(|minute| FreezeAt::Hourly { minute }),
            (0_u8..24, 0_u8..60).prop_map(|(hour, minute)| FreezeAt::Daily { hour, minute }),
            (1_u8..32, 0_u8..24, 0_u8..60).prop_map(|(day, hour, minute)| FreezeAt::Monthly { day, hour, minute }),
            (1_u8..13, 1_u8..32, 0_u8..24, 0_u8..60).prop_map(|(month, day, hour, minute)| FreezeAt::Once {
                month,
                day,
                hour,
                minute
            }),
        ]
    }

    fn bcd_address() -> impl Strategy<Value = Address> {
        proptest::array::uniform6(0_u8..100).prop_map(|a| Address(a.map(bcd)))
    }

    pub(super) fn any_request() -> impl Strategy<Value = Request> {
        let (dt, pw) = (any_datetime, any_password);
        prop_oneof![
            dt().prop_map(|at| Request::BroadcastTime { at }),
            any::<u32>().prop_map(|di| Request::Read { di }),
            (any::<u32>(), any::<u8>(), proptest::option::of(dt().prop_map(|t| t.with().second(0).build().unwrap())))
                .prop_map(|(di, blocks, since)| Request::ReadRecords { di, blocks, since }),
            (any::<u32>(), any::<u8>()).prop_map(|(di, seq)| Request::ReadFollowUp { di, seq }),
            Just(Request::ReadAddress),
            (any::<u32>(), pw(), any::<[u8; 4]>(), proptest::collection::vec(any::<u8>(), 0..=WRITE_VALUE_MAX))
                .prop_map(|(di, password, operator, value)| Request::Write { di, password, operator, value }),
            bcd_address().prop_map(|new| Request::WriteAddress { new }),
            any_freeze().prop_map(|at| Request::Freeze { at }),
            any::<u8>().prop_map(|z| Request::ChangeRate { rate: RateWord(z) }),
            (pw(), 0_u8..=PASSWORD_LEVEL_MAX, any::<[u8; 3]>())
                .prop_map(|(old, level, code)| Request::ChangePassword { old, new: Password::new(level, code) }),
            (pw(), any::<[u8; 4]>()).prop_map(|(password, operator)| Request::ClearDemand { password, operator }),
            (pw(), any::<[u8; 4]>()).prop_map(|(password, operator)| Request::ClearMeter { password, operator }),
            (pw(), any::<[u8; 4]>(), any::<u32>()).prop_map(|(password, operator, event)| Request::ClearEvents {
                password,
                operator,
                event
            }),
            (pw(), any::<[u8; 4]>(), 0_usize..7, dt()).prop_map(|(password, operator, a, valid_until)| {
                Request::Control { password, operator, action: RelayAction::ALL[a], valid_until }
            }),
            (0_usize..3).prop_map(|i| Request::MultiFunctionOutput { signal: OutputSignal::ALL[i] }),
        ]
    }

    fn any_reply() -> impl Strategy<Value = Reply> {
        let answered: Vec<Function> = Function::ALL.into_iter().filter(|f| *f != Function::BroadcastTime).collect();
        let acked: Vec<Function> = Function::ALL.into_iter().filter(|f| f.acknowledged_without_data()).collect();
        let value = proptest::collection::vec(any::<u8>(), 0..200);
        prop_oneof![
            (any::<u32>(), proptest::collection::vec(any::<u8>(), 0..200), any::<bool>())
                .prop_map(|(di, value, follow_up)| Reply::Data { di, value, follow_up }),
            (any::<u32>(), value, any::<u8>(), any::<bool>())
                .prop_map(|(di, value, seq, follow_up)| Reply::FollowUpData { di, value, seq, follow_up }),
            any::<[u8; 6]>().prop_map(|a| Reply::Address { address: Address(a) }),
            any::<u8>().prop_map(|z| Reply::RateChanged { rate: RateWord(z) }),
            any_password().prop_map(|new| Reply::PasswordChanged { new }),
            (0_usize..3).prop_map(|i| Reply::OutputSet { signal: OutputSignal::ALL[i] }),
            proptest::sample::select(acked).prop_map(|function| Reply::Ok { function }),
            (proptest::sample::select(answered), any::<u8>())
                .prop_map(|(function, e)| Reply::Abnormal { function, error: ErrorBits(e) }),
        ]
    }

    proptest! {
        #[test]
        fn requests_round_trip_through_the_wire(req in any_request(), a: [u8; 6]) {
            let wire = req.to_frame(Address(a)).encode(4);
            let crate::frame::Parsed::Frame { frame, .. } = Frame::parse(&wire) else { panic!("unparsable") };
            prop_assert_eq!(frame.control, req.function().code());
            prop_assert_eq!(Request::from_frame(&frame).unwrap(), req);
        }

        #[test]
        fn replies_round_trip_through_the_wire(reply in any_reply(), a: [u8; 6]) {
            let wire = reply.to_frame(Address(a)).encode(0);
            let crate::frame::Parsed::Frame { frame, .. } = Frame::parse(&wire) else { panic!("unparsable") };
            prop_assert_eq!(frame.control & 0x1F, reply.function().code());
            prop_assert!(frame.is_reply());
            prop_assert_eq!(Reply::from_frame(&frame).unwrap(), reply);
        }

        /// Any control byte and data: a typed message that re-encodes to the same frame, or an error.
        #[test]
        fn any_frame_parses_or_is_refused(control: u8, data in proptest::collection::vec(any::<u8>(), 0..40)) {
            let frame = f(control, data);
            if let Ok(req) = Request::from_frame(&frame) {
                prop_assert_eq!(req.to_frame(frame.address), frame.clone());
            }
            if let Ok(reply) = Reply::from_frame(&frame) {
                prop_assert_eq!(reply.to_frame(frame.address), frame);
            }
        }
    }
}
