//! The simulated fleet behind a real TCP socket, driven with the DL/T 645 codec as a master station would.

// Tests may panic: a failed expectation is the point.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

mod functions;

use std::sync::{Arc, Mutex};

use jiff::civil::DateTime;
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use voltvend_dlt645::app::{ErrorBits, Function, Password, RelayAction};
use voltvend_dlt645::data;
use voltvend_dlt645::frame::{Frame, Parsed};
use voltvend_dlt645::{Address, Reply, Request};
use voltvend_meter::controller::{ControllerConfig, CreditUnit, FriendlyHours, Mode};
use voltvend_meter::fleet::Fleet;
use voltvend_meter::gateway::{self, SharedFleet};

fn cfg() -> ControllerConfig {
    ControllerConfig {
        mode: Mode::Local,
        credit_unit: CreditUnit::Energy,
        alarm1: 2_000,
        alarm2: 1_000,
        overdraft_limit: 0,
        hoarding_limit: None,
        power_limit_w: None,
        overpower_trip_s: 60,
        warning_trip_s: 0,
        friendly: FriendlyHours::default(),
        time_zone: TimeZone::get("Asia/Shanghai").unwrap(),
    }
}

fn start() -> Timestamp {
    "2026-11-23T10:00:00+08:00".parse().unwrap()
}

struct Master {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl Master {
    async fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).await.unwrap();
    }

    /// Waits for the next complete frame from the gateway.
    async fn next_frame(&mut self) -> Frame {
        loop {
            if let Parsed::Frame { frame, consumed } = Frame::parse(&self.buf) {
                self.buf.drain(..consumed);
                return frame;
            }
            let mut chunk = [0_u8; 512];
            let n = self.stream.read(&mut chunk).await.unwrap();
            assert!(n > 0, "gateway closed the connection");
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }

    async fn ask(&mut self, address: &str, request: Request) -> Reply {
        let frame = request.to_frame(Address::from_meter_no(address).unwrap());
        self.send(&frame.encode(4)).await;
        let reply = self.next_frame().await;
        Reply::from_frame(&reply).unwrap()
    }

    async fn read_kwh(&mut self, address: &str, di: u32) -> String {
        match self.ask(address, Request::Read { di }).await {
            Reply::Data { value, .. } => {
                data::decode(data::lookup(di).unwrap().format, &value).unwrap().to_string_value()
            }
            other => panic!("{other:?}"),
        }
    }
}

async fn setup(meters: usize, credit_wh: i64) -> (SharedFleet, Master) {
    let fleet = Arc::new(Mutex::new(Fleet::new(meters, 42, start(), &cfg(), credit_wh)));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(gateway::serve(listener, fleet.clone()));
    let stream = TcpStream::connect(addr).await.unwrap();
    (fleet, Master { stream, buf: Vec::new() })
}

fn step(fleet: &SharedFleet, hours: i64) {
    fleet.lock().unwrap().step(SignedDuration::from_hours(hours));
}

fn control(action: RelayAction) -> Request {
    let valid_until: DateTime = "2030-01-01T00:00:00".parse().unwrap();
    Request::Control { password: Password([0x02, 0, 0, 0]), operator: [0; 4], action, valid_until }
}

#[tokio::test]
async fn read_trip_and_close_over_tcp() {
    let (fleet, mut m) = setup(50, 1_000_000).await;
    assert_eq!(m.read_kwh("000000000007", 0x0001_0000).await, "0.00");
    step(&fleet, 1);
    let e7 = m.read_kwh("000000000007", 0x0001_0000).await;
    let expect = fleet.lock().unwrap().meter(&Address::from_meter_no("000000000007").unwrap()).unwrap().register_wh(0);
    assert_eq!(e7, format!("{}.{:02}", expect / 1_000, expect % 1_000 / 10));
    assert!(expect > 0);

    // Trip meter 7 (0x1C): it stops drawing; meter 8 goes on.
    assert_eq!(m.ask("000000000007", control(RelayAction::Trip)).await, Reply::Ok { function: Function::Control });
    let status = match m.ask("000000000007", Request::Read { di: 0x0400_0503 }).await {
        Reply::Data { value, .. } => u16::from_le_bytes([value[0], value[1]]),
        other => panic!("{other:?}"),
    };
    assert_eq!(status & (1 << 4), 1 << 4, "status word 3 shows the relay open");
    let e8 = m.read_kwh("000000000008", 0x0001_0000).await;
    step(&fleet, 2);
    assert_eq!(m.read_kwh("000000000007", 0x0001_0000).await, e7, "no consumption through an open relay");
    assert_ne!(m.read_kwh("000000000008", 0x0001_0000).await, e8);
    assert_eq!(
        m.ask("000000000007", control(RelayAction::ClosePermitted)).await,
        Reply::Ok { function: Function::Control }
    );
    step(&fleet, 1);
    assert_ne!(m.read_kwh("000000000007", 0x0001_0000).await, e7, "closed again");

    // Unknown DI and an expired command get abnormal replies.
    assert_eq!(
        m.ask("000000000007", Request::Read { di: 0x1234_5678 }).await,
        Reply::Abnormal { function: Function::Read, error: ErrorBits::NO_DATA }
    );
    let stale = Request::Control {
        password: Password([0; 4]),
        operator: [0; 4],
        action: RelayAction::Trip,
        valid_until: "2020-01-01T00:00:00".parse().unwrap(),
    };
    assert_eq!(
        m.ask("000000000007", stale).await,
        Reply::Abnormal { function: Function::Control, error: ErrorBits::OTHER }
    );
}

#[tokio::test]
async fn exhaustion_trips_and_a_remote_top_up_closes() {
    let (fleet, mut m) = setup(10, 3_000).await;
    for _ in 0..48 {
        step(&fleet, 1);
    }
    let no = "000000000003";
    let before = m.read_kwh(no, 0x0001_0000).await;
    assert_eq!(m.read_kwh(no, 0x0090_0100).await, "0.00", "remaining energy used up");
    step(&fleet, 5);
    assert_eq!(m.read_kwh(no, 0x0001_0000).await, before, "tripped at exhaustion: no more consumption");
    // A remote top-up of 20 kWh through a write of the remaining-energy DI closes the relay.
    let value =
        data::encode(data::lookup(0x0090_0100).unwrap().format, &data::Value::Decimal { raw: 2_000, decimals: 2 })
            .unwrap();
    let write = Request::Write { di: 0x0090_0100, password: Password([0x02, 0, 0, 0]), operator: [0; 4], value };
    assert_eq!(m.ask(no, write).await, Reply::Ok { function: Function::Write });
    step(&fleet, 1);
    assert_ne!(m.read_kwh(no, 0x0001_0000).await, before);
}

#[tokio::test]
async fn bad_input_is_skipped_or_closes_the_connection() {
    let (_fleet, mut m) = setup(50, 1_000).await;
    // Garbage, a frame with a bad checksum, a frame for a meter not here, then a valid request: only the last
    // one is answered.
    let mut bytes = vec![0x00, 0x12, 0x68, 0x99, 0xFE];
    let mut bad = Request::Read { di: 0x0001_0000 }.to_frame(Address::from_meter_no("000000000001").unwrap()).encode(0);
    let n = bad.len();
    bad[n - 2] ^= 0xFF;
    bytes.extend(bad);
    bytes.extend(Request::Read { di: 0x0001_0000 }.to_frame(Address::from_meter_no("000000009999").unwrap()).encode(4));
    bytes.extend(Request::Read { di: 0x0201_0100 }.to_frame(Address::from_meter_no("000000000002").unwrap()).encode(4));
    m.send(&bytes).await;
    let reply = m.next_frame().await;
    assert_eq!(reply.address.meter_no(), "000000000002");
    assert!(matches!(Reply::from_frame(&reply).unwrap(), Reply::Data { di: 0x0201_0100, .. }));
    // A wildcard that matches exactly one meter is answered with its address.
    assert_eq!(
        m.ask("AAAAAAAAAA07", Request::ReadAddress).await,
        Reply::Address { address: Address::from_meter_no("000000000007").unwrap() }
    );
    // A flood of start bytes and noise (a header claiming a long frame, then garbage) is skipped, and the
    // gateway answers the next valid request on the same connection.
    let mut flood = vec![0x68_u8; 10];
    flood.extend(std::iter::repeat_n(0x00_u8, 20_000));
    flood.extend(Request::Read { di: 0x0001_0000 }.to_frame(Address::from_meter_no("000000000005").unwrap()).encode(4));
    m.send(&flood).await;
    let reply = m.next_frame().await;
    assert_eq!(reply.address.meter_no(), "000000000005");
}

mod faults {
    use std::collections::HashSet;
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    use jiff::SignedDuration;
    use jiff::civil::DateTime;
    use tokio::io::AsyncReadExt;
    use tokio::net::{TcpListener, TcpStream};
    use voltvend_dlt645::frame::{Frame, Parsed};
    use voltvend_dlt645::{Address, Reply, Request};
    use voltvend_meter::fleet::Fleet;
    use voltvend_meter::gateway::{self, Faults, SharedFaults};

    use super::{Master, cfg, start};

    async fn setup(faults: Faults) -> (gateway::SharedFleet, SharedFaults, Master) {
        let fleet = Arc::new(Mutex::new(Fleet::new(10, 7, start(), &cfg(), 1_000_000)));
        let faults = Arc::new(Mutex::new(faults));
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(gateway::serve_with_faults(listener, fleet.clone(), faults.clone()));
        (fleet, faults, Master { stream: TcpStream::connect(addr).await.unwrap(), buf: Vec::new() })
    }

    fn read(no: &str) -> Vec<u8> {
        Request::Read { di: 0x0001_0000 }.to_frame(Address::from_meter_no(no).unwrap()).encode(4)
    }

    #[tokio::test]
    async fn silent_meters_corrupt_checksums_and_dropped_links() {
        let silent: HashSet<Address> = [Address::from_meter_no("000000000002").unwrap()].into();
        let (_fleet, faults, mut m) = setup(Faults { silent, ..Faults::default() }).await;
        m.send(&[read("000000000002"), read("000000000003")].concat()).await;
        assert_eq!(m.next_frame().await.address.meter_no(), "000000000003", "meter 2 stopped answering");

        faults.lock().unwrap().corrupt_every = 1;
        m.send(&read("000000000004")).await;
        let mut raw = vec![0_u8; 4 + 12 + 8];
        m.stream.read_exact(&mut raw).await.unwrap();
        assert!(matches!(Frame::parse(&raw), Parsed::Invalid { reason: "checksum mismatch", .. }), "{raw:02X?}");

        *faults.lock().unwrap() = Faults { drop_every: 1, ..Faults::default() };
        m.send(&read("000000000004")).await;
        let mut rest = Vec::new();
        assert_eq!(m.stream.read_to_end(&mut rest).await.unwrap(), 0, "the gateway dropped the link");
    }

    #[tokio::test]
    async fn registers_roll_over_and_clocks_drift_until_synchronised() {
        let (fleet, _faults, mut m) = setup(Faults::default()).await;
        {
            let mut f = fleet.lock().unwrap();
            let meter = f.meter_mut(&Address::from_meter_no("000000000001").unwrap()).unwrap();
            meter.set_registers_wh(999_999_990);
            meter.controller.remote(voltvend_meter::controller::RemoteCommand::KeepPower(true), start());
            for meter in f.meters_mut() {
                meter.clock_drift_ppm = 100_000; // 10 % fast: an hour gained every ten
            }
        }
        assert_eq!(m.read_kwh("000000000001", 0x0001_0000).await, "999999.99");
        fleet.lock().unwrap().step(SignedDuration::from_hours(10));
        let after: f64 = m.read_kwh("000000000001", 0x0001_0000).await.parse().unwrap();
        assert!(after < 1_000.0, "the register rolled over to {after}");
        let time = |v: Vec<u8>| format!("{:02x}:{:02x}:{:02x}", v[2], v[1], v[0]);
        let Reply::Data { value, .. } = m.ask("000000000001", Request::Read { di: 0x0400_0102 }).await else {
            panic!()
        };
        assert_eq!(time(value), "21:00:00", "10:00 + 10 h + 1 h of drift");
        // A broadcast time sync sets every meter's clock (and is never answered).
        let at: DateTime = "2026-11-23T20:00:00".parse().unwrap();
        m.send(&Request::BroadcastTime { at }.to_frame(Address::BROADCAST).encode(4)).await;
        let Reply::Data { value, .. } = m.ask("000000000001", Request::Read { di: 0x0400_0102 }).await else {
            panic!()
        };
        assert_eq!(time(value), "20:00:00");
    }

    #[tokio::test]
    async fn four_g_meters_dial_in_announce_and_redial() {
        let fleet = Arc::new(Mutex::new(Fleet::new(10, 7, start(), &cfg(), 1_000_000)));
        let head_end = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = head_end.local_addr().unwrap().to_string();
        let meter = Address::from_meter_no("000000000005").unwrap();
        tokio::spawn(gateway::dial_in(addr, meter, fleet, SharedFaults::default(), Duration::ZERO));
        for _ in 0..2 {
            let (stream, _) = head_end.accept().await.unwrap();
            let mut m = Master { stream, buf: Vec::new() };
            let hello = m.next_frame().await;
            assert_eq!(
                (hello.address, Reply::from_frame(&hello).unwrap()),
                (meter, Reply::Address { address: meter }),
                "the meter announces itself"
            );
            let reply = m.ask("000000000005", Request::Read { di: 0x0201_0100 }).await;
            assert!(matches!(reply, Reply::Data { di: 0x0201_0100, .. }));
            // Dropping the link: the meter dials again (the loop's second accept).
        }
    }
}

#[test]
fn water_meters_count_litres_in_bursts() {
    let mut fleet = Fleet::with_water(10, 3, 5, start(), &cfg(), 1_000_000);
    for _ in 0..(24 * 4) {
        fleet.step(SignedDuration::from_mins(15));
    }
    let water: Vec<_> = fleet.meters().iter().filter(|m| m.is_water()).collect();
    assert_eq!(water.len(), 3);
    for m in water {
        // A day of household water: a trickle and a few bursts, between 0.1 and 2 m³.
        let litres = m.register_wh(0);
        assert!((100..2_000).contains(&litres), "{} litres", litres);
    }
}

/// The Modbus gateway read with tokio-modbus's own client (the head end's future reader).
#[tokio::test]
async fn tokio_modbus_client_reads_the_acrel_map() {
    use tokio_modbus::client::{Reader, Writer};
    use voltvend_meter::modbus::{self, RegisterMap};

    let fleet = Arc::new(Mutex::new(Fleet::new(5, 9, start(), &cfg(), 1_000_000)));
    fleet.lock().unwrap().step(SignedDuration::from_hours(6));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(modbus::serve(listener, fleet.clone(), RegisterMap::parse(modbus::ACREL_DDSY1352).unwrap()));
    let mut ctx = tokio_modbus::client::tcp::connect_slave(addr, tokio_modbus::Slave(3)).await.unwrap();
    let words = ctx.read_holding_registers(0x0000, 17).await.unwrap().unwrap();
    let meter = fleet.lock().unwrap().meter(&Address::from_meter_no("000000000003").unwrap()).unwrap().clone();
    let total = (u32::from(words[0]) << 16) | u32::from(words[1]);
    assert_eq!(i64::from(total), meter.register_wh(0) / 10, "0.01 kWh per count, high word first");
    let tou: u32 = (1..=4).map(|k| (u32::from(words[2 * k]) << 16) | u32::from(words[2 * k + 1])).sum();
    assert!(tou <= total && total - tou <= 4, "the TOU registers add up to the total (rounding per register)");
    assert_eq!(words[0x0B], 2_200, "220.0 V");
    // The writable "code" register keeps what is written; a read-only register refuses writes.
    ctx.write_single_register(0x000A, 1234).await.unwrap().unwrap();
    assert_eq!(ctx.read_holding_registers(0x000A, 1).await.unwrap().unwrap(), vec![1234]);
    assert!(ctx.write_single_register(0x000B, 1).await.unwrap().is_err(), "exception: not writable");
    assert!(ctx.read_holding_registers(0x0001, 1).await.unwrap().is_err(), "exception: half of a 32-bit value");
}
