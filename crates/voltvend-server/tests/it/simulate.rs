//! `voltvend simulate` as a master station sees it: a DL/T 645 gateway on a real socket.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::Stdio;

use voltvend_dlt645::frame::{Frame, Parsed};
use voltvend_dlt645::{Address, Reply, Request};

use crate::support::voltvend;

#[test]
fn simulated_meters_answer_dlt645_over_tcp() {
    let mut child = voltvend()
        .args(["simulate", "--meters", "500", "--dlt645-listen", "127.0.0.1:0", "--acceleration", "3600"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let addr = line.split("gateway on ").nth(1).and_then(|r| r.split(';').next()).unwrap().to_string();
    let mut s = TcpStream::connect(&addr).unwrap();
    for no in ["000000000001", "000000000250", "000000000500"] {
        let request = Request::Read { di: 0x0201_0100 }.to_frame(Address::from_meter_no(no).unwrap()).encode(4);
        s.write_all(&request).unwrap();
        let frame = next_frame(&mut s);
        assert_eq!(frame.address.meter_no(), no);
        assert!(matches!(Reply::from_frame(&frame).unwrap(), Reply::Data { di: 0x0201_0100, .. }));
    }
    child.kill().unwrap();
    child.wait().unwrap();
}

const PYMODBUS: &str = r#"
import json, sys
from pymodbus.client import ModbusTcpClient
host, port = sys.argv[1], int(sys.argv[2])
c = ModbusTcpClient(host, port=port, timeout=5)
assert c.connect()
def call(fn, *a, unit, **kw):
    try:
        return fn(*a, device_id=unit, **kw)
    except TypeError:
        return fn(*a, slave=unit, **kw)
out = {}
for unit in (1, 2, 3, 4, 5):
    rr = call(c.read_holding_registers, 0, count=10, unit=unit)
    out[str(unit)] = rr.registers
wr = call(c.write_register, 9, 1, unit=3)
out["write_error"] = wr.isError()
out["relay_after"] = call(c.read_holding_registers, 9, count=1, unit=3).registers
out["bad_address_is_error"] = call(c.read_holding_registers, 100, count=2, unit=1).isError()
print(json.dumps(out))
"#;

fn pymodbus_available() -> bool {
    let ok = std::process::Command::new("python3")
        .args(["-c", "import pymodbus"])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    voltvend_testkit::peer_available(ok, "python3 with pymodbus (pip install pymodbus)")
}

fn dlt645_read(s: &mut TcpStream, no: &str, di: u32) -> Vec<u8> {
    s.write_all(&Request::Read { di }.to_frame(Address::from_meter_no(no).unwrap()).encode(4)).unwrap();
    let Reply::Data { value, .. } = Reply::from_frame(&next_frame(s)).unwrap() else { panic!("no data") };
    value
}

/// Reads from the gateway until one whole frame has arrived.
fn next_frame(s: &mut TcpStream) -> Frame {
    let mut buf = Vec::new();
    loop {
        if let Parsed::Frame { frame, .. } = Frame::parse(&buf) {
            return frame;
        }
        let mut chunk = [0_u8; 256];
        let n = s.read(&mut chunk).unwrap();
        assert!(n > 0, "gateway closed the connection");
        buf.extend_from_slice(&chunk[..n]);
    }
}

#[test]
fn pymodbus_reads_what_dlt645_reads() {
    if !pymodbus_available() {
        return;
    }
    let mut child = voltvend()
        .args(["simulate", "--meters", "20", "--dlt645-listen", "127.0.0.1:0", "--modbus-listen", "127.0.0.1:0"])
        .args(["--modbus-map", "generic-prepaid", "--acceleration", "0", "--warm-up-hours", "30"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let dlt = line.split("DL/T 645 gateway on ").nth(1).and_then(|r| r.split(';').next()).unwrap().to_string();
    let modbus = line.split("Modbus TCP gateway on ").nth(1).and_then(|r| r.split(' ').next()).unwrap().to_string();
    let (host, port) = modbus.rsplit_once(':').unwrap();
    let out = std::process::Command::new("python3").args(["-c", PYMODBUS, host, port]).output().unwrap();
    assert!(out.status.success(), "pymodbus failed: {}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_str(String::from_utf8_lossy(&out.stdout).trim()).unwrap();

    let mut s = TcpStream::connect(&dlt).unwrap();
    for unit in 1..=5_u32 {
        let regs: Vec<u32> =
            v[unit.to_string()].as_array().unwrap().iter().map(|x| x.as_u64().unwrap() as u32).collect();
        let modbus_hundredths = (regs[0] << 16) | regs[1];
        let bcd = dlt645_read(&mut s, &format!("{unit:012}"), 0x0001_0000);
        let dlt_hundredths = voltvend_dlt645::data::bcd_to_u64(&bcd).unwrap() as u32;
        assert_eq!(modbus_hundredths, dlt_hundredths, "meter {unit}: both protocols report the same register");
        assert!(dlt_hundredths > 0, "30 hours of history");
        assert_eq!(regs[2], 2_200, "220.0 V at 0.1 V per count");
    }
    assert_eq!(v["write_error"], false);
    assert_eq!(v["relay_after"], serde_json::json!([1]));
    assert_eq!(v["bad_address_is_error"], true);
    let status = dlt645_read(&mut s, "000000000003", 0x0400_0503);
    assert_eq!(
        u16::from_le_bytes([status[0], status[1]]) & (1 << 4),
        1 << 4,
        "the Modbus trip shows in DL/T 645 status word 3"
    );
    child.kill().unwrap();
    child.wait().unwrap();
}

fn mosquitto_available() -> bool {
    let ok = std::process::Command::new("mosquitto_sub")
        .arg("--help")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok()
        && std::net::TcpStream::connect("127.0.0.1:1883").is_ok();
    voltvend_testkit::peer_available(ok, "mosquitto_sub and a broker on 127.0.0.1:1883 (mosquitto-clients)")
}

#[test]
fn mosquitto_sub_receives_the_readings() {
    if !mosquitto_available() {
        return;
    }
    let prefix = format!("voltvend-test/{}", std::process::id());
    let mut child = voltvend()
        .args([
            "simulate",
            "--meters",
            "4",
            "--dlt645-listen",
            "127.0.0.1:0",
            "--acceleration",
            "0",
            "--warm-up-hours",
            "10",
        ])
        .args(["--mqtt-broker", "127.0.0.1:1883", "--mqtt-prefix", &prefix, "--mqtt-interval-s", "1"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let dlt = line.split("DL/T 645 gateway on ").nth(1).and_then(|r| r.split(';').next()).unwrap().to_string();
    // Wait (bounded) for four messages: retained ones arrive at once, live ones within a publishing round.
    let out = std::process::Command::new("mosquitto_sub")
        .args(["-h", "127.0.0.1", "-t", &format!("{prefix}/+/reading"), "-C", "4", "-W", "30", "-v"])
        .output()
        .unwrap();
    assert!(out.status.success(), "mosquitto_sub: {}", String::from_utf8_lossy(&out.stderr));
    let mut s = TcpStream::connect(&dlt).unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    let mut seen = std::collections::BTreeSet::new();
    for l in text.lines() {
        let (topic, payload) = l.split_once(' ').unwrap();
        let v: serde_json::Value = serde_json::from_str(payload).unwrap();
        let no = v["meter"].as_str().unwrap().to_string();
        assert_eq!(topic, format!("{prefix}/{no}/reading"));
        // The paused clock makes MQTT and DL/T 645 report the same register (MQTT in Wh, DL/T 645 in 0.01 kWh).
        let bcd = dlt645_read(&mut s, &no, 0x0001_0000);
        let hundredths = voltvend_dlt645::data::bcd_to_u64(&bcd).unwrap();
        let kwh = v["energy_total_kwh"].as_str().unwrap();
        let (whole, frac) = kwh.split_once('.').unwrap();
        assert_eq!(whole.parse::<u64>().unwrap() * 100 + frac[..2].parse::<u64>().unwrap(), hundredths, "{l}");
        seen.insert(no);
    }
    child.kill().unwrap();
    child.wait().unwrap();
    // Clear the retained messages this test left on the shared broker.
    for no in &seen {
        let _ = std::process::Command::new("mosquitto_pub")
            .args(["-h", "127.0.0.1", "-r", "-n", "-t", &format!("{prefix}/{no}/reading")])
            .status();
    }
    assert_eq!(seen.len(), 4, "one reading per meter: {text}");
}
