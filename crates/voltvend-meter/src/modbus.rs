//! Modbus TCP for the simulated fleet: register maps are data files per meter model (register, type, scale,
//! word order, access), served with tokio-modbus. The unit id selects the meter (1 = 000000000001 …), so one
//! listener serves up to 247 meters, as a Modbus gateway does.

use std::future::{Ready, ready};
use std::sync::Arc;

use serde::Deserialize;
use thiserror::Error;
use tokio::net::TcpListener;
use tokio_modbus::server::tcp::{Server, accept_tcp_connection};
use tokio_modbus::{ExceptionCode, Request, Response, SlaveRequest};
use voltvend_dlt645::Address;

use crate::controller::RemoteCommand;
use crate::fleet::SimMeter;
use crate::gateway::SharedFleet;

pub const ACREL_DDSY1352: &str = include_str!("../maps/acrel-ddsy1352.toml");
pub const GENERIC_PREPAID: &str = include_str!("../maps/generic-prepaid.toml");

#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("register map: {0}")]
pub struct MapError(String);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    U16,
    I16,
    U32,
    I32,
}

impl Kind {
    fn words(&self) -> u16 {
        match self {
            Self::U16 | Self::I16 => 1,
            Self::U32 | Self::I32 => 2,
        }
    }
}

/// What a register shows, with three implied decimals.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Quantity {
    Energy(usize),
    Voltage,
    Current,
    PowerKw,
    ApparentKva,
    PowerFactor,
    RemainingKwh,
    PurchaseCount,
    RelayOpen,
    Code,
}

#[derive(Debug, Clone)]
struct Entry {
    address: u16,
    quantity: Quantity,
    kind: Kind,
    /// Units per count, in thousandths (0.01 → 10).
    scale_milli: i64,
    writable: bool,
}

/// A meter model's register layout.
#[derive(Debug, Clone)]
pub struct RegisterMap {
    pub model: String,
    high_word_first: bool,
    entries: Vec<Entry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MapFile {
    model: String,
    word_order: String,
    registers: Vec<EntryFile>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EntryFile {
    address: u16,
    quantity: String,
    #[serde(rename = "type")]
    kind: String,
    scale: String,
    #[serde(default)]
    access: Option<String>,
}

impl RegisterMap {
    pub fn parse(text: &str) -> Result<Self, MapError> {
        let f: MapFile = toml::from_str(text).map_err(|e| MapError(e.to_string()))?;
        let high_word_first = match f.word_order.as_str() {
            "big" => true,
            "little" => false,
            other => return Err(MapError(format!("word_order {other:?}: expected \"big\" or \"little\""))),
        };
        let mut entries: Vec<Entry> = Vec::new();
        for (i, e) in f.registers.iter().enumerate() {
            let at = |m: &str| MapError(format!("registers[{i}]: {m}"));
            let quantity = match e.quantity.as_str() {
                "energy_total_kwh" => Quantity::Energy(0),
                "energy_sharp_kwh" => Quantity::Energy(1),
                "energy_peak_kwh" => Quantity::Energy(2),
                "energy_flat_kwh" => Quantity::Energy(3),
                "energy_valley_kwh" => Quantity::Energy(4),
                "voltage_v" => Quantity::Voltage,
                "current_a" => Quantity::Current,
                "power_kw" => Quantity::PowerKw,
                "apparent_kva" => Quantity::ApparentKva,
                "power_factor" => Quantity::PowerFactor,
                "remaining_kwh" => Quantity::RemainingKwh,
                "purchase_count" => Quantity::PurchaseCount,
                "relay_open" => Quantity::RelayOpen,
                "code" => Quantity::Code,
                other => return Err(at(&format!("unknown quantity {other:?}"))),
            };
            let kind = match e.kind.as_str() {
                "u16" => Kind::U16,
                "i16" => Kind::I16,
                "u32" => Kind::U32,
                "i32" => Kind::I32,
                other => return Err(at(&format!("unknown type {other:?} (u16, i16, u32, i32)"))),
            };
            let scale_milli = match e.scale.as_str() {
                "0.001" => 1,
                "0.01" => 10,
                "0.1" => 100,
                "1" => 1_000,
                other => return Err(at(&format!("scale {other:?}: expected 0.001, 0.01, 0.1 or 1"))),
            };
            let writable = match e.access.as_deref() {
                None | Some("r") => false,
                Some("rw") => true,
                Some(other) => return Err(at(&format!("access {other:?}: expected \"r\" or \"rw\""))),
            };
            let end = u32::from(e.address) + u32::from(kind.words());
            if entries.iter().any(|x| {
                u32::from(x.address) < end && u32::from(e.address) < u32::from(x.address) + u32::from(x.kind.words())
            }) {
                return Err(at("overlaps another register"));
            }
            entries.push(Entry { address: e.address, quantity, kind, scale_milli, writable });
        }
        Ok(Self { model: f.model, high_word_first, entries })
    }

    fn value_milli(m: &SimMeter, q: Quantity, code: u16) -> i64 {
        match q {
            Quantity::Energy(i) => m.register_wh(i),
            Quantity::Voltage => 220_000,
            Quantity::Current => i64::from(m.power_w()) * 1_000 / 220,
            Quantity::PowerKw | Quantity::ApparentKva => i64::from(m.power_w()),
            Quantity::PowerFactor => {
                if m.power_w() > 0 {
                    980
                } else {
                    1_000
                }
            }
            Quantity::RemainingKwh => m.controller.credit(),
            Quantity::PurchaseCount => i64::from(m.controller.purchase_count()) * 1_000,
            Quantity::RelayOpen => i64::from(!m.controller.relay_closed()) * 1_000,
            Quantity::Code => i64::from(code) * 1_000,
        }
    }

    /// The words of `count` registers from `start`, or the exception a meter gives.
    fn read(&self, m: &SimMeter, start: u16, count: u16, code: u16) -> Result<Vec<u16>, ExceptionCode> {
        if count == 0 || count > 125 {
            return Err(ExceptionCode::IllegalDataValue);
        }
        let mut out = Vec::with_capacity(usize::from(count));
        let mut addr = u32::from(start);
        let end = u32::from(start) + u32::from(count);
        let top = self.entries.iter().map(|e| u32::from(e.address) + u32::from(e.kind.words())).max().unwrap_or(0);
        if end > top {
            return Err(ExceptionCode::IllegalDataAddress);
        }
        while addr < end {
            let Some(e) = self.entries.iter().find(|e| u32::from(e.address) == addr) else {
                let inside =
                    |e: &Entry| u32::from(e.address) < addr && addr < u32::from(e.address) + u32::from(e.kind.words());
                if self.entries.iter().any(inside) {
                    return Err(ExceptionCode::IllegalDataAddress); // the second half of a 32-bit value
                }
                // A reserved register inside the documented block reads as zero, as on real meters.
                out.push(0);
                addr += 1;
                continue;
            };
            if u32::from(e.address) + u32::from(e.kind.words()) > end {
                return Err(ExceptionCode::IllegalDataAddress); // a 32-bit value read by halves
            }
            let count = Self::value_milli(m, e.quantity, code) / e.scale_milli;
            let bits = match e.kind {
                Kind::U16 => u32::from(count.clamp(0, 0xFFFF) as u16),
                Kind::I16 => u32::from(count.clamp(-32_768, 32_767) as i16 as u16),
                Kind::U32 => count.clamp(0, 0xFFFF_FFFF) as u32,
                Kind::I32 => count.clamp(i64::from(i32::MIN), i64::from(i32::MAX)) as i32 as u32,
            };
            if e.kind.words() == 1 {
                out.push(bits as u16);
            } else if self.high_word_first {
                out.extend([(bits >> 16) as u16, bits as u16]);
            } else {
                out.extend([bits as u16, (bits >> 16) as u16]);
            }
            addr += u32::from(e.kind.words());
        }
        Ok(out)
    }

    fn writable(&self, address: u16) -> Option<Quantity> {
        self.entries.iter().find(|e| e.address == address && e.writable && e.kind.words() == 1).map(|e| e.quantity)
    }
}

/// What one read of a meter's registers says, in the head end's units.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MapRead {
    /// The total forward active energy register, Wh.
    pub total_wh: Option<i64>,
    /// Tariffs 1–4 (sharp, peak, flat, valley), Wh, when the map has all four.
    pub tariffs_wh: Option<[i64; 4]>,
    /// Whether the supply switch is open, when the map shows it.
    pub relay_open: Option<bool>,
}

impl RegisterMap {
    /// A map shipped with Voltvend, by the name a channel gives it (`map=generic-prepaid`).
    pub fn builtin(name: &str) -> Option<Result<Self, MapError>> {
        match name {
            "acrel-ddsy1352" => Some(Self::parse(ACREL_DDSY1352)),
            "generic-prepaid" => Some(Self::parse(GENERIC_PREPAID)),
            _ => None,
        }
    }

    /// The names [`RegisterMap::builtin`] knows.
    pub const BUILTIN: [&'static str; 2] = ["acrel-ddsy1352", "generic-prepaid"];

    fn span_of(&self, wanted: impl Fn(Quantity) -> bool) -> Option<(u16, u16)> {
        let picked = self.entries.iter().filter(|e| wanted(e.quantity));
        let start = picked.clone().map(|e| e.address).min()?;
        let end = picked.map(|e| u32::from(e.address) + u32::from(e.kind.words())).max()?;
        Some((start, u16::try_from(end - u32::from(start)).ok()?))
    }

    /// The one block of registers (start, count) that holds the energy registers and the relay state, read
    /// with one request; `None` if the map has no energy register or the block is longer than one Modbus read
    /// (125 registers).
    pub fn reading_span(&self) -> Option<(u16, u16)> {
        let (start, count) = self.span_of(|q| matches!(q, Quantity::Energy(_) | Quantity::RelayOpen))?;
        self.entries.iter().any(|e| matches!(e.quantity, Quantity::Energy(0))).then_some(())?;
        (count <= 125).then_some((start, count))
    }

    /// The register that holds the relay state, when the meter takes writes to it (1 trips, 0 permits closing).
    pub fn relay_register(&self) -> Option<u16> {
        self.entries.iter().find(|e| e.quantity == Quantity::RelayOpen && e.writable).map(|e| e.address)
    }

    /// The register that shows the relay state (read-back), writable or not.
    pub fn relay_span(&self) -> Option<(u16, u16)> {
        self.entries.iter().find(|e| e.quantity == Quantity::RelayOpen).map(|e| (e.address, e.kind.words()))
    }

    /// Where the total energy register wraps to zero, in Wh: its largest count plus one, times its scale.
    pub fn energy_wrap_wh(&self) -> Option<i64> {
        let e = self.entries.iter().find(|e| e.quantity == Quantity::Energy(0))?;
        let counts: i64 = match e.kind {
            Kind::U16 => 1 << 16,
            Kind::I16 => 1 << 15,
            Kind::U32 => 1 << 32,
            Kind::I32 => 1 << 31,
        };
        counts.checked_mul(e.scale_milli)
    }

    /// Decodes `words` read from `start` into the values the map names; a value partly outside the words is
    /// left out, a negative energy register is refused.
    pub fn decode(&self, start: u16, words: &[u16]) -> Result<MapRead, MapError> {
        let mut out = MapRead { total_wh: None, tariffs_wh: None, relay_open: None };
        let mut tariffs = [None; 4];
        for e in &self.entries {
            let Some(offset) = e.address.checked_sub(start).map(usize::from) else { continue };
            let Some(w) = words.get(offset..offset + usize::from(e.kind.words())) else { continue };
            let bits: u32 = match (w, self.high_word_first) {
                ([one], _) => u32::from(*one),
                ([hi, lo], true) | ([lo, hi], false) => (u32::from(*hi) << 16) | u32::from(*lo),
                _ => continue,
            };
            let count: i64 = match e.kind {
                Kind::U16 | Kind::U32 => i64::from(bits),
                Kind::I16 => i64::from(bits as u16 as i16),
                Kind::I32 => i64::from(bits as i32),
            };
            let milli = count * e.scale_milli;
            match e.quantity {
                Quantity::Energy(i) => {
                    if milli < 0 {
                        return Err(MapError(format!("register {} holds a negative energy {count}", e.address)));
                    }
                    if i == 0 {
                        out.total_wh = Some(milli);
                    } else if let Some(slot) = tariffs.get_mut(i - 1) {
                        *slot = Some(milli);
                    }
                }
                Quantity::RelayOpen => out.relay_open = Some(count != 0),
                _ => {}
            }
        }
        if let [Some(a), Some(b), Some(c), Some(d)] = tariffs {
            out.tariffs_wh = Some([a, b, c, d]);
        }
        Ok(out)
    }
}

/// One connection's service: the fleet, the map and the per-connection "code" register values.
struct FleetService {
    fleet: SharedFleet,
    map: Arc<RegisterMap>,
}

impl FleetService {
    fn handle(&self, req: SlaveRequest<'static>) -> Result<Option<Response>, ExceptionCode> {
        let Ok(no) = Address::from_meter_no(&format!("{:012}", req.slave)) else { return Ok(None) };
        let mut fleet = self.fleet.lock().unwrap_or_else(|p| p.into_inner());
        let now = fleet.now();
        // An unknown unit id gets no answer, as on a real bus.
        let Some(meter) = fleet.meter_mut(&no) else { return Ok(None) };
        let code = meter.modbus_code;
        match req.request {
            Request::ReadHoldingRegisters(start, count) => {
                Ok(Some(Response::ReadHoldingRegisters(self.map.read(meter, start, count, code)?)))
            }
            Request::ReadInputRegisters(start, count) => {
                Ok(Some(Response::ReadInputRegisters(self.map.read(meter, start, count, code)?)))
            }
            Request::WriteSingleRegister(address, value) => {
                match self.map.writable(address).ok_or(ExceptionCode::IllegalDataAddress)? {
                    Quantity::RelayOpen => {
                        let cmd = match value {
                            1 => RemoteCommand::Trip,
                            0 => RemoteCommand::ClosePermitted,
                            _ => return Err(ExceptionCode::IllegalDataValue),
                        };
                        meter.controller.remote(cmd, now);
                    }
                    Quantity::Code if value <= 9_999 => meter.modbus_code = value,
                    _ => return Err(ExceptionCode::IllegalDataValue),
                }
                Ok(Some(Response::WriteSingleRegister(address, value)))
            }
            _ => Err(ExceptionCode::IllegalFunction),
        }
    }
}

impl tokio_modbus::server::Service for FleetService {
    type Request = SlaveRequest<'static>;
    type Response = Option<Response>;
    type Exception = ExceptionCode;
    type Future = Ready<Result<Self::Response, Self::Exception>>;

    fn call(&self, req: Self::Request) -> Self::Future {
        ready(self.handle(req))
    }
}

/// Serves the fleet over Modbus TCP until the listener fails.
pub async fn serve(listener: TcpListener, fleet: SharedFleet, map: RegisterMap) -> std::io::Result<()> {
    let map = Arc::new(map);
    let server = Server::new(listener);
    let on_connected = |stream, socket_addr| {
        let (fleet, map) = (fleet.clone(), map.clone());
        async move {
            accept_tcp_connection(stream, socket_addr, move |_| {
                Ok(Some(FleetService { fleet: fleet.clone(), map: map.clone() }))
            })
        }
    };
    server.serve(&on_connected, |e| tracing::debug!(error = %e, "Modbus connection ended")).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_maps_parse_and_bad_maps_are_refused() {
        assert_eq!(RegisterMap::parse(ACREL_DDSY1352).unwrap().entries.len(), 11);
        assert_eq!(RegisterMap::parse(GENERIC_PREPAID).unwrap().entries.len(), 7);
        let overlap = GENERIC_PREPAID.replace("address = 2\n", "address = 1\n");
        assert!(RegisterMap::parse(&overlap).unwrap_err().to_string().contains("overlaps"));
        assert!(RegisterMap::parse(&GENERIC_PREPAID.replace("\"u16\"", "\"f64\"")).is_err());
    }

    #[test]
    fn what_a_meter_serves_the_head_end_reads_back() {
        // The server side encodes a simulated meter's registers; the client side decodes the same words.
        let start: jiff::Timestamp = "2026-05-01T00:00:00Z".parse().unwrap();
        let cfg = crate::controller::ControllerConfig::remote(jiff::tz::TimeZone::UTC);
        let mut fleet = crate::fleet::Fleet::new(1, 1, start, &cfg, 0);
        let no = Address::from_meter_no("000000000001").unwrap();
        let meter = fleet.meter_mut(&no).unwrap();
        meter.set_registers_wh(123_456_780);
        for name in RegisterMap::BUILTIN {
            let map = RegisterMap::builtin(name).unwrap().unwrap();
            let (from, count) = map.reading_span().unwrap();
            let words = map.read(meter, from, count, 0).unwrap();
            let got = map.decode(from, &words).unwrap();
            // Scale 0.01 kWh: the register shows whole tens of Wh.
            assert_eq!(got.total_wh, Some(123_456_780), "{name}");
        }
        // The Acrel map has the four tariff registers: what the meter shows, to its 10 Wh resolution.
        let acrel = RegisterMap::builtin("acrel-ddsy1352").unwrap().unwrap();
        let (from, count) = acrel.reading_span().unwrap();
        let got = acrel.decode(from, &acrel.read(meter, from, count, 0).unwrap()).unwrap();
        let expect: [i64; 4] = std::array::from_fn(|i| meter.register_wh(i + 1) / 10 * 10);
        assert_eq!(got.tariffs_wh, Some(expect));
        // Little-endian word order: the low word first.
        let little =
            RegisterMap::parse(&GENERIC_PREPAID.replace("word_order = \"big\"", "word_order = \"little\"")).unwrap();
        assert_eq!(little.decode(0, &[0x0002, 0x0001]).unwrap().total_wh, Some(((1 << 16) + 2) * 10));
        assert_eq!(generic_decode_big(), Some(((2 << 16) + 1) * 10));
        fn generic_decode_big() -> Option<i64> {
            RegisterMap::builtin("generic-prepaid").unwrap().unwrap().decode(0, &[0x0002, 0x0001]).unwrap().total_wh
        }
        let generic = RegisterMap::builtin("generic-prepaid").unwrap().unwrap();
        assert_eq!((generic.relay_register(), generic.energy_wrap_wh()), (Some(9), Some((1_i64 << 32) * 10)));
        let (from, count) = generic.reading_span().unwrap();
        assert_eq!((from, count), (0, 10));
        assert_eq!(generic.decode(0, &[0, 0, 0, 0, 0, 0, 0, 0, 0, 1]).unwrap().relay_open, Some(true));
        let acrel = RegisterMap::builtin("acrel-ddsy1352").unwrap().unwrap();
        assert!(acrel.relay_register().is_none(), "the Acrel map has no relay register modelled");
        assert!(acrel.decode(0, &[0xFFFF, 0xFFFF]).unwrap().total_wh.is_some_and(|w| w > 0), "u32 is unsigned");
        assert!(RegisterMap::builtin("no-such-map").is_none());
    }
}
