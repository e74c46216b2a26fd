//! Every frame in ../shared/vectors/dlt645 decodes to what the file says it is.

// Tests may panic: a failed expectation is the point.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use serde_json::Value;
use voltvend_dlt645::app::{Reply, Request};
use voltvend_dlt645::data;
use voltvend_dlt645::frame::{Frame, Parsed};

fn hex(s: &str) -> Vec<u8> {
    s.split_whitespace()
        .flat_map(|w| (0..w.len()).step_by(2).map(move |i| u8::from_str_radix(&w[i..i + 2], 16).unwrap()))
        .collect()
}

#[test]
fn every_frame_in_the_vector_file() {
    let Some(dir) = voltvend_testkit::vectors_dir() else { return };
    let path = dir.join("dlt645/dlt645_frames.json");
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let frames = doc["frames"].as_array().unwrap();
    let (mut checked, mut values) = (0, 0);
    for v in frames {
        let wire = hex(v["frame"].as_str().unwrap());
        let Parsed::Frame { frame, consumed } = Frame::parse(&wire) else { panic!("does not parse: {v}") };
        assert_eq!(consumed, wire.len(), "{v}");
        assert!(v["checksum_ok"].as_bool().unwrap(), "the file marks a bad checksum we accepted: {v}");
        assert_eq!(frame.address.meter_no().to_lowercase(), v["addr_meter_no"].as_str().unwrap().to_lowercase(), "{v}");
        assert_eq!(format!("{:02X}", frame.control), v["ctrl"].as_str().unwrap().to_uppercase(), "{v}");
        assert_eq!(frame.data.len() as u64, v["L"].as_u64().unwrap(), "{v}");
        assert_eq!(frame.data, hex(v["data_minus_0x33"].as_str().unwrap()), "{v}");
        // Re-encoding gives the same bytes (wake-up bytes as in the file).
        let preamble = wire.iter().take_while(|b| **b == 0xFE).count();
        assert_eq!(frame.encode(preamble), wire, "{v}");
        if frame.is_reply() {
            let Reply::Data { di, value, .. } = Reply::from_frame(&frame).unwrap() else {
                panic!("not a data reply: {v}")
            };
            if let Some(expected) = v["expected_value"].as_str() {
                let id = data::lookup(di).unwrap_or_else(|| panic!("unknown DI {di:08X}"));
                assert_eq!(data::decode(id.format, &value).unwrap().to_string_value(), expected, "{v}");
                values += 1;
            }
        } else if frame.function() != voltvend_dlt645::app::F_BROADCAST_TIME {
            // The broadcast-time vector carries a synthetic payload (month 34): frame-level only, per the file.
            Request::from_frame(&frame).unwrap_or_else(|e| panic!("{e}: {v}"));
        }
        checked += 1;
    }
    assert_eq!((checked, values), (14, 5));
    eprintln!("checked {checked} DL/T 645 frames, {values} decoded values");
}
