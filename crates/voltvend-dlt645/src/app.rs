//! Typed application messages over [`Frame`]s (PROTOCOLS.md §3.2–3.3).
//!
//! Requests a master station sends — read (0x11), read address (0x13), write (0x14), broadcast time (0x08),
//! relay/alarm/keep-power control (0x1C) — and the replies a meter gives, including the abnormal reply
//! (`C | 0xC0` with one error byte). Layouts of write, control and abnormal replies are from the standard's
//! text with no public frame vector ([unverified] in PROTOCOLS.md); the relay control block here is the
//! plain (not ESAM-encrypted) 16-byte form.

use jiff::civil::DateTime;
use thiserror::Error;

use crate::data::{di_from_wire, di_to_wire};
use crate::frame::{Address, Frame};

pub const F_BROADCAST_TIME: u8 = 0x08;
pub const F_READ: u8 = 0x11;
pub const F_READ_FOLLOW_UP: u8 = 0x12;
pub const F_READ_ADDRESS: u8 = 0x13;
pub const F_WRITE: u8 = 0x14;
pub const F_WRITE_ADDRESS: u8 = 0x15;
pub const F_FREEZE: u8 = 0x16;
pub const F_CONTROL: u8 = 0x1C;

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum AppError {
    #[error("function {0:#04x} is not supported")]
    UnsupportedFunction(u8),
    #[error("malformed {what}: {why}")]
    Malformed { what: &'static str, why: &'static str },
}

fn malformed(what: &'static str, why: &'static str) -> AppError {
    AppError::Malformed { what, why }
}

/// Relay, alarm and keep-power commands (N1 of the 0x1C block).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RelayAction {
    Trip = 0x1A,
    ClosePermitted = 0x1B,
    DirectClose = 0x1C,
    Alarm = 0x2A,
    AlarmRelease = 0x2B,
    KeepPower = 0x3A,
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

    fn from_byte(b: u8) -> Option<Self> {
        Self::ALL.into_iter().find(|a| *a as u8 == b)
    }
}

/// Error bits of an abnormal reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ErrorBits(pub u8);

impl ErrorBits {
    pub const OTHER: ErrorBits = ErrorBits(0x01);
    pub const NO_DATA: ErrorBits = ErrorBits(0x02);
    pub const UNAUTHORISED: ErrorBits = ErrorBits(0x04);
    pub const BAUD_RATE: ErrorBits = ErrorBits(0x08);
    pub const YEAR_ZONES: ErrorBits = ErrorBits(0x10);
    pub const DAY_PERIODS: ErrorBits = ErrorBits(0x20);
    pub const TARIFFS: ErrorBits = ErrorBits(0x40);
}

fn bcd(v: i8) -> u8 {
    let v = v.unsigned_abs() % 100;
    ((v / 10) << 4) | (v % 10)
}

fn from_bcd(b: u8) -> Option<i8> {
    let (h, l) = (b >> 4, b & 0x0F);
    (h <= 9 && l <= 9).then_some((h * 10 + l) as i8)
}

/// ss mm hh DD MM YY, least significant first.
fn datetime_to_wire(dt: DateTime) -> [u8; 6] {
    [bcd(dt.second()), bcd(dt.minute()), bcd(dt.hour()), bcd(dt.day()), bcd(dt.month()), bcd((dt.year() % 100) as i8)]
}

fn datetime_from_wire(b: &[u8]) -> Option<DateTime> {
    let v: Vec<i8> = b.iter().take(6).map(|x| from_bcd(*x)).collect::<Option<_>>()?;
    let [ss, mm, hh, dd, mo, yy] = v.as_slice() else { return None };
    DateTime::new(2000 + i16::from(*yy), *mo, *dd, *hh, *mm, *ss, 0).ok()
}

/// A request from the master station.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    Read { di: u32 },
    ReadFollowUp { di: u32, seq: u8 },
    ReadAddress,
    Write { di: u32, password: [u8; 4], operator: [u8; 4], value: Vec<u8> },
    WriteAddress { new: Address },
    BroadcastTime { at: DateTime },
    Freeze { pattern: [u8; 4] },
    Control { password: [u8; 4], operator: [u8; 4], action: RelayAction, valid_until: DateTime },
}

impl Request {
    pub fn to_frame(&self, address: Address) -> Frame {
        let (control, data) = match self {
            Self::Read { di } => (F_READ, di_to_wire(*di).to_vec()),
            Self::ReadFollowUp { di, seq } => {
                let mut d = di_to_wire(*di).to_vec();
                d.push(*seq);
                (F_READ_FOLLOW_UP, d)
            }
            Self::ReadAddress => (F_READ_ADDRESS, vec![]),
            Self::Write { di, password, operator, value } => {
                let mut d = di_to_wire(*di).to_vec();
                d.extend_from_slice(password);
                d.extend_from_slice(operator);
                d.extend_from_slice(value);
                (F_WRITE, d)
            }
            Self::WriteAddress { new } => (F_WRITE_ADDRESS, new.0.to_vec()),
            Self::BroadcastTime { at } => (F_BROADCAST_TIME, datetime_to_wire(*at).to_vec()),
            Self::Freeze { pattern } => (F_FREEZE, pattern.to_vec()),
            Self::Control { password, operator, action, valid_until } => {
                let mut d = password.to_vec();
                d.extend_from_slice(operator);
                d.push(*action as u8);
                d.push(0);
                d.extend_from_slice(&datetime_to_wire(*valid_until));
                (F_CONTROL, d)
            }
        };
        Frame { address, control, data }
    }

    /// Interprets a request frame (as a meter does).
    pub fn from_frame(f: &Frame) -> Result<Self, AppError> {
        if f.is_reply() {
            return Err(malformed("request", "the direction bit says reply"));
        }
        let d = &f.data;
        let four = |at: usize| -> Option<[u8; 4]> { d.get(at..at + 4)?.try_into().ok() };
        match f.function() {
            F_READ => match d.len() {
                // Some masters append a block count or a time; the DI is what matters.
                4..=10 => Ok(Self::Read { di: di_from_wire(d).ok_or(malformed("read", "no DI"))? }),
                _ => Err(malformed("read", "expected 4 data bytes")),
            },
            F_READ_FOLLOW_UP => match (di_from_wire(d), d.get(4)) {
                (Some(di), Some(seq)) if d.len() == 5 => Ok(Self::ReadFollowUp { di, seq: *seq }),
                _ => Err(malformed("read follow-up", "expected DI and sequence")),
            },
            F_READ_ADDRESS if d.is_empty() => Ok(Self::ReadAddress),
            F_READ_ADDRESS => Err(malformed("read address", "expected no data")),
            F_WRITE => match (di_from_wire(d), four(4), four(8)) {
                (Some(di), Some(password), Some(operator)) => {
                    Ok(Self::Write { di, password, operator, value: d.get(12..).unwrap_or(&[]).to_vec() })
                }
                _ => Err(malformed("write", "expected DI, password and operator code")),
            },
            F_WRITE_ADDRESS => match d.as_slice().try_into() {
                Ok(a) => Ok(Self::WriteAddress { new: Address(a) }),
                Err(_) => Err(malformed("write address", "expected 6 address bytes")),
            },
            F_BROADCAST_TIME => match (d.len(), datetime_from_wire(d)) {
                (6, Some(at)) => Ok(Self::BroadcastTime { at }),
                _ => Err(malformed("broadcast time", "expected ss mm hh DD MM YY in BCD")),
            },
            F_FREEZE => four(0)
                .filter(|_| d.len() == 4)
                .map(|pattern| Self::Freeze { pattern })
                .ok_or(malformed("freeze", "expected 4 bytes")),
            F_CONTROL => {
                if d.len() != 16 {
                    return Err(malformed("relay control", "expected 16 data bytes"));
                }
                let (Some(password), Some(operator)) = (four(0), four(4)) else {
                    return Err(malformed("relay control", "short"));
                };
                let action = d
                    .get(8)
                    .and_then(|b| RelayAction::from_byte(*b))
                    .ok_or(malformed("relay control", "unknown command N1"))?;
                let valid_until = d
                    .get(10..16)
                    .and_then(datetime_from_wire)
                    .ok_or(malformed("relay control", "bad validity time"))?;
                Ok(Self::Control { password, operator, action, valid_until })
            }
            other => Err(AppError::UnsupportedFunction(other)),
        }
    }
}

/// A meter's reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// Read data: the DI and the value bytes; `follow_up` when more frames follow.
    Data { function: u8, di: u32, value: Vec<u8>, follow_up: bool },
    /// The meter's address (reply to read address).
    Address,
    /// A write, address write, freeze or control succeeded (no data).
    Ok { function: u8 },
    /// Abnormal reply with error bits.
    Abnormal { function: u8, error: ErrorBits },
}

impl Reply {
    pub fn to_frame(&self, address: Address) -> Frame {
        match self {
            Self::Data { function, di, value, follow_up } => {
                let mut d = di_to_wire(*di).to_vec();
                d.extend_from_slice(value);
                Frame { address, control: 0x80 | if *follow_up { 0x20 } else { 0 } | function, data: d }
            }
            Self::Address => Frame { address, control: 0x80 | F_READ_ADDRESS, data: address.0.to_vec() },
            Self::Ok { function } => Frame { address, control: 0x80 | function, data: vec![] },
            Self::Abnormal { function, error } => Frame { address, control: 0xC0 | function, data: vec![error.0] },
        }
    }

    /// Interprets a reply frame (as a master station does).
    pub fn from_frame(f: &Frame) -> Result<Self, AppError> {
        if !f.is_reply() {
            return Err(malformed("reply", "the direction bit says request"));
        }
        let function = f.function();
        if f.is_abnormal() {
            return match f.data.as_slice() {
                [e] => Ok(Self::Abnormal { function, error: ErrorBits(*e) }),
                _ => Err(malformed("abnormal reply", "expected one error byte")),
            };
        }
        match function {
            F_READ | F_READ_FOLLOW_UP => {
                let di = di_from_wire(&f.data).ok_or(malformed("read reply", "no DI"))?;
                let value = f.data.get(4..).unwrap_or(&[]).to_vec();
                Ok(Self::Data { function, di, value, follow_up: f.has_follow_up() })
            }
            F_READ_ADDRESS if f.data.len() == 6 => Ok(Self::Address),
            F_READ_ADDRESS => Err(malformed("address reply", "expected 6 bytes")),
            _ if f.data.is_empty() => Ok(Self::Ok { function }),
            _ => Err(malformed("reply", "unexpected data")),
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

    #[test]
    fn relay_control_round_trip() {
        let at: DateTime = "2026-11-23T18:30:00".parse().unwrap();
        let req = Request::Control {
            password: [0x02, 0, 0, 0],
            operator: [1, 2, 3, 4],
            action: RelayAction::Trip,
            valid_until: at,
        };
        let f = req.to_frame(addr());
        assert_eq!(f.data.len(), 16);
        assert_eq!(Request::from_frame(&f).unwrap(), req);
        let ok = Reply::Ok { function: F_CONTROL }.to_frame(addr());
        assert_eq!(ok.control, 0x9C);
        let bad = Reply::Abnormal { function: F_CONTROL, error: ErrorBits::UNAUTHORISED }.to_frame(addr());
        assert_eq!((bad.control, bad.data.as_slice()), (0xDC, &[0x04][..]));
        assert_eq!(
            Reply::from_frame(&bad).unwrap(),
            Reply::Abnormal { function: F_CONTROL, error: ErrorBits::UNAUTHORISED }
        );
    }

    #[test]
    fn malformed_requests() {
        let f = |control, data: Vec<u8>| Frame { address: addr(), control, data };
        assert!(Request::from_frame(&f(0x11, vec![1, 2])).is_err());
        assert!(Request::from_frame(&f(0x1C, vec![0; 15])).is_err());
        assert!(Request::from_frame(&f(0x1C, [vec![0; 8], vec![0x99, 0], vec![0; 6]].concat())).is_err(), "unknown N1");
        assert!(matches!(Request::from_frame(&f(0x1F, vec![])), Err(AppError::UnsupportedFunction(0x1F))));
        assert!(Request::from_frame(&f(0x91, vec![0; 4])).is_err(), "a reply is not a request");
    }

    fn any_request() -> impl Strategy<Value = Request> {
        let dt = (0_i16..99, 1_i8..13, 1_i8..29, 0_i8..24, 0_i8..60, 0_i8..60)
            .prop_map(|(y, mo, d, h, mi, s)| DateTime::new(2000 + y, mo, d, h, mi, s, 0).unwrap());
        prop_oneof![
            any::<u32>().prop_map(|di| Request::Read { di }),
            (any::<u32>(), any::<u8>()).prop_map(|(di, seq)| Request::ReadFollowUp { di, seq }),
            Just(Request::ReadAddress),
            (any::<u32>(), any::<[u8; 4]>(), any::<[u8; 4]>(), proptest::collection::vec(any::<u8>(), 0..40))
                .prop_map(|(di, password, operator, value)| Request::Write { di, password, operator, value }),
            any::<[u8; 6]>().prop_map(|a| Request::WriteAddress { new: Address(a) }),
            dt.clone().prop_map(|at| Request::BroadcastTime { at }),
            any::<[u8; 4]>().prop_map(|pattern| Request::Freeze { pattern }),
            (any::<[u8; 4]>(), any::<[u8; 4]>(), 0_usize..7, dt).prop_map(|(password, operator, a, valid_until)| {
                Request::Control { password, operator, action: RelayAction::ALL[a], valid_until }
            }),
        ]
    }

    proptest! {
        #[test]
        fn requests_round_trip_through_the_wire(req in any_request(), a: [u8; 6]) {
            let wire = req.to_frame(Address(a)).encode(4);
            let crate::frame::Parsed::Frame { frame, .. } = Frame::parse(&wire) else { panic!("unparsable") };
            prop_assert_eq!(Request::from_frame(&frame).unwrap(), req);
        }
    }
}
