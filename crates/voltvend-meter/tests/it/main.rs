//! The simulated fleet behind a real TCP socket, driven with the DL/T 645 codec as a master station would.

// Tests may panic: a failed expectation is the point.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use std::sync::{Arc, Mutex};

use jiff::civil::DateTime;
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use voltvend_dlt645::app::{ErrorBits, RelayAction};
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
    Request::Control { password: [0x02, 0, 0, 0], operator: [0; 4], action, valid_until }
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
    assert_eq!(m.ask("000000000007", control(RelayAction::Trip)).await, Reply::Ok { function: 0x1C });
    let status = match m.ask("000000000007", Request::Read { di: 0x0400_0503 }).await {
        Reply::Data { value, .. } => u16::from_le_bytes([value[0], value[1]]),
        other => panic!("{other:?}"),
    };
    assert_eq!(status & (1 << 4), 1 << 4, "status word 3 shows the relay open");
    let e8 = m.read_kwh("000000000008", 0x0001_0000).await;
    step(&fleet, 2);
    assert_eq!(m.read_kwh("000000000007", 0x0001_0000).await, e7, "no consumption through an open relay");
    assert_ne!(m.read_kwh("000000000008", 0x0001_0000).await, e8);
    assert_eq!(m.ask("000000000007", control(RelayAction::ClosePermitted)).await, Reply::Ok { function: 0x1C });
    step(&fleet, 1);
    assert_ne!(m.read_kwh("000000000007", 0x0001_0000).await, e7, "closed again");

    // Unknown DI and an expired command get abnormal replies.
    assert_eq!(
        m.ask("000000000007", Request::Read { di: 0x1234_5678 }).await,
        Reply::Abnormal { function: 0x11, error: ErrorBits::NO_DATA }
    );
    let stale = Request::Control {
        password: [0; 4],
        operator: [0; 4],
        action: RelayAction::Trip,
        valid_until: "2020-01-01T00:00:00".parse().unwrap(),
    };
    assert_eq!(m.ask("000000000007", stale).await, Reply::Abnormal { function: 0x1C, error: ErrorBits::OTHER });
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
    let write = Request::Write { di: 0x0090_0100, password: [0x02, 0, 0, 0], operator: [0; 4], value };
    assert_eq!(m.ask(no, write).await, Reply::Ok { function: 0x14 });
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
    assert_eq!(m.ask("AAAAAAAAAA07", Request::ReadAddress).await, Reply::Address);
    // A flood of start bytes and noise (a header claiming a long frame, then garbage) is skipped, and the
    // gateway answers the next valid request on the same connection.
    let mut flood = vec![0x68_u8; 10];
    flood.extend(std::iter::repeat_n(0x00_u8, 20_000));
    flood.extend(Request::Read { di: 0x0001_0000 }.to_frame(Address::from_meter_no("000000000005").unwrap()).encode(4));
    m.send(&flood).await;
    let reply = m.next_frame().await;
    assert_eq!(reply.address.meter_no(), "000000000005");
}
