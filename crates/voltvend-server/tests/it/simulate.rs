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
        let mut buf = Vec::new();
        let frame = loop {
            if let Parsed::Frame { frame, .. } = Frame::parse(&buf) {
                break frame;
            }
            let mut chunk = [0_u8; 256];
            let n = s.read(&mut chunk).unwrap();
            assert!(n > 0, "gateway closed the connection");
            buf.extend_from_slice(&chunk[..n]);
        };
        assert_eq!(frame.address.meter_no(), no);
        assert!(matches!(Reply::from_frame(&frame).unwrap(), Reply::Data { di: 0x0201_0100, .. }));
    }
    child.kill().unwrap();
    child.wait().unwrap();
}
