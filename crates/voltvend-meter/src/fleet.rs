//! The simulated fleet: meters with seeded load profiles, registers accumulating as real meters do, each with a
//! prepaid controller, answering DL/T 645 requests. Pure and deterministic: time advances only by [`Fleet::step`]
//! and every random draw derives from the seed, the meter and the time slot.

use std::collections::HashMap;

use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};
use voltvend_dlt645::Address;

use crate::controller::{Alarm, Controller, ControllerConfig, Relay, TripReason};

mod answer;

pub use answer::{
    DEFAULT_PASSWORD_LEVELS, DEMAND_CLEAR_COUNT, EVENT_CLEAR_COUNT, LEVEL_MAX_CLEAR_DEMAND, LEVEL_MAX_CLEAR_EVENTS,
    LEVEL_MAX_CLEAR_METER, LEVEL_MAX_CONTROL, LEVEL_MAX_WRITE_PARAMETER, LEVEL_MAX_WRITE_PREPAYMENT, METER_CLEAR_COUNT,
    PROGRAMMING_COUNT, ProtocolState, TIME_SET_COUNT,
};

/// How a meter's load varies over the day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Profile {
    /// A household: a low base load, a morning bump and an evening peak.
    Residential,
    /// A shop or office: busy on weekday working hours, quiet otherwise.
    Commercial,
    /// A constant load (pumps, servers, street lights on a timer aside).
    Constant { watts: u32 },
    /// A household water meter: flow in litres per hour, in bursts (showers, washing) mornings and evenings;
    /// its registers count litres instead of Wh (and its valve is the "relay").
    WaterFlow,
}

/// The meter's TOU register schedule: (minute of day, register 1–4 = sharp, peak, flat, valley).
const TOU: [(u16, usize); 6] = [(0, 4), (480, 3), (600, 2), (690, 1), (780, 3), (1_320, 4)];

#[derive(Debug, Clone)]
pub struct SimMeter {
    pub address: Address,
    pub profile: Profile,
    pub controller: Controller,
    /// Forward active energy in milli-Wh: total, then tariffs 1–4.
    registers_mwh: [i64; 5],
    power_w: u32,
    voltage_dv: u32,
    /// The Modbus "code" register (password/address setting) some maps expose read-write.
    pub modbus_code: u16,
    /// How far the meter's own clock is off, in microseconds, and how fast it drifts (ppm).
    pub clock_offset_us: i64,
    pub clock_drift_ppm: i64,
    /// What the meter keeps for DL/T 645 beyond its registers: passwords, rate, demand, freezes, events.
    pub protocol: ProtocolState,
}

impl SimMeter {
    /// Register `i` (0 = total) in Wh.
    pub fn register_wh(&self, i: usize) -> i64 {
        self.registers_mwh.get(i).copied().unwrap_or(0) / 1_000
    }

    /// Register `i` as the meter shows it over DL/T 645 (XXXXXX.XX kWh: whole 10 Wh, rounded down) — what a
    /// master station reading it sees.
    pub fn shown_wh(&self, i: usize) -> i64 {
        self.register_wh(i) / 10 * 10
    }

    pub fn power_w(&self) -> u32 {
        self.power_w
    }

    /// Whether this meter measures water (registers in litres, "power" in litres per hour).
    pub fn is_water(&self) -> bool {
        self.profile == Profile::WaterFlow
    }

    /// Presets the energy registers (a replaced or long-running meter), in Wh.
    pub fn set_registers_wh(&mut self, total_wh: i64) {
        self.registers_mwh = [total_wh * 1_000, 0, 0, total_wh * 1_000, 0];
    }

    /// The meter's own idea of the time.
    pub fn clock(&self, fleet_now: Timestamp) -> Timestamp {
        fleet_now.checked_add(SignedDuration::from_micros(self.clock_offset_us)).unwrap_or(fleet_now)
    }

    /// Status word 3 (DL/T 645-2007 A.4): bit 4 relay open, bit 6 trip commanded, bit 7 pre-trip alarm (by
    /// credit or by the master station's order), bit 8 keep-power. Bit meanings after the standard's table; [unverified] against a real meter.
    pub fn status_word_3(&self) -> u16 {
        let mut w = 0_u16;
        if !self.controller.relay_closed() {
            w |= 1 << 4;
        }
        if self.controller.relay() == Relay::Open(TripReason::Remote) {
            w |= 1 << 6;
        }
        if self.controller.alarm() != Alarm::None || self.controller.remote_alarm() {
            w |= 1 << 7;
        }
        if self.controller.keep_power() {
            w |= 1 << 8;
        }
        w
    }
}

/// The local hour, day kind and quarter-hour slot a step draws demand for.
struct LocalSlot {
    hour: u32,
    weekend: bool,
    slot: u64,
}

/// A deterministic 64-bit mix (SplitMix64).
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[derive(Debug)]
pub struct Fleet {
    meters: Vec<SimMeter>,
    index: HashMap<Address, usize>,
    now: Timestamp,
    seed: u64,
    time_zone: TimeZone,
}

impl Fleet {
    /// `n` meters with addresses 000000000001…, profiles drawn from the seed, each controller built from `cfg`
    /// with `opening_credit`.
    pub fn new(n: usize, seed: u64, start: Timestamp, cfg: &ControllerConfig, opening_credit: i64) -> Self {
        Self::with_water(n, 0, seed, start, cfg, opening_credit)
    }

    /// Like [`Fleet::new`], with the last `water` meters measuring water (litres) with flow profiles.
    pub fn with_water(
        n: usize,
        water: usize,
        seed: u64,
        start: Timestamp,
        cfg: &ControllerConfig,
        opening_credit: i64,
    ) -> Self {
        let mut meters = Vec::with_capacity(n);
        let mut index = HashMap::with_capacity(n);
        for i in 0..n {
            let no = format!("{:012}", i + 1);
            let address = Address::from_meter_no(&no).unwrap_or(Address([0; 6]));
            let profile = if i + water >= n {
                Profile::WaterFlow
            } else {
                match mix(seed ^ i as u64) % 10 {
                    0..=6 => Profile::Residential,
                    7 | 8 => Profile::Commercial,
                    _ => Profile::Constant { watts: 200 + (mix(seed.wrapping_add(i as u64)) % 800) as u32 },
                }
            };
            index.insert(address, i);
            meters.push(SimMeter {
                address,
                profile,
                controller: Controller::new(cfg.clone(), opening_credit, None),
                registers_mwh: [0; 5],
                power_w: 0,
                voltage_dv: 2_200,
                modbus_code: 0,
                clock_offset_us: 0,
                clock_drift_ppm: 0,
                protocol: ProtocolState::default(),
            });
        }
        Self { meters, index, now: start, seed, time_zone: cfg.time_zone.clone() }
    }

    pub fn now(&self) -> Timestamp {
        self.now
    }

    pub fn len(&self) -> usize {
        self.meters.len()
    }

    pub fn is_empty(&self) -> bool {
        self.meters.is_empty()
    }

    pub fn meter(&self, address: &Address) -> Option<&SimMeter> {
        self.index.get(address).and_then(|i| self.meters.get(*i))
    }

    pub fn meter_mut(&mut self, address: &Address) -> Option<&mut SimMeter> {
        self.index.get(address).and_then(|i| self.meters.get_mut(*i))
    }

    pub fn meters(&self) -> &[SimMeter] {
        &self.meters
    }

    pub fn meters_mut(&mut self) -> &mut [SimMeter] {
        &mut self.meters
    }

    /// Demand of meter `i` in the quarter hour `when` describes, with ±20 % noise per 15-minute slot.
    fn demand_w(&self, i: usize, profile: Profile, when: &LocalSlot) -> u32 {
        let (h, slot) = (when.hour, when.slot);
        let base = match profile {
            Profile::Residential => match h {
                0..=5 => 150,
                6..=8 => 900,
                9..=16 => 300,
                17..=21 => 1_800,
                _ => 500,
            },
            Profile::Commercial if !when.weekend && (8..18).contains(&h) => 5_000,
            Profile::Commercial => 300,
            Profile::Constant { watts } => return watts,
            Profile::WaterFlow => {
                // About 10 minutes of heavy use in a morning or evening quarter hour, a trickle otherwise.
                let burst = mix(self.seed ^ (i as u64) ^ slot.rotate_left(17)).is_multiple_of(4);
                return match (h, burst) {
                    (6..=8 | 18..=21, true) => 480,
                    (6..=22, _) => 12,
                    _ => 0,
                };
            }
        };
        let noise = mix(self.seed ^ (i as u64).wrapping_mul(0x100_0000_01B3) ^ slot) % 41; // 0..=40
        base * (80 + noise as u32) / 100
    }

    /// Advances simulated time by `dt`: meters with a closed relay draw their demand into their registers and
    /// controllers; open relays draw nothing.
    pub fn step(&mut self, dt: SignedDuration) {
        let secs = dt.as_secs().max(0);
        let at = self.now + dt;
        // Local time is the same for every meter: work it out once per step, not once per meter.
        let local = self.now.to_zoned(self.time_zone.clone());
        let minute = local.hour() as u16 * 60 + local.minute() as u16;
        let when = LocalSlot {
            hour: local.hour() as u32,
            weekend: local.weekday().to_monday_one_offset() >= 6,
            slot: (self.now.as_second() / 900) as u64,
        };
        let tariff = TOU.iter().rev().find(|(m, _)| *m <= minute).map_or(3, |(_, t)| *t);
        for i in 0..self.meters.len() {
            let Some(profile) = self.meters.get(i).map(|m| m.profile) else { continue };
            let demand = self.demand_w(i, profile, &when);
            let Some(m) = self.meters.get_mut(i) else { continue };
            m.clock_offset_us += secs * m.clock_drift_ppm;
            m.controller.tick(at);
            if m.controller.relay_closed() {
                m.power_w = demand;
                m.protocol.record_demand(demand, self.now);
                let mwh = i64::from(demand) * secs * 1_000 / 3_600;
                let before_wh = m.registers_mwh[0] / 1_000;
                m.registers_mwh[0] += mwh;
                if let Some(r) = m.registers_mwh.get_mut(tariff) {
                    *r += mwh;
                }
                let drawn_wh = m.registers_mwh[0] / 1_000 - before_wh;
                m.controller.consume(drawn_wh, demand, at);
            } else {
                m.power_w = 0;
            }
        }
        self.now = at;
    }
}
