//! A byte stream from a meter or a master station: framing must never panic or loop, every parsed frame must
//! re-encode to what was parsed, and the application layer must refuse or accept without panicking — for every
//! DL/T 645-2007 function (08, 11–1D), both directions, normal and abnormal replies. What it accepts must
//! re-encode to the same frame, so no field is silently dropped or invented.
#![no_main]

use libfuzzer_sys::fuzz_target;
use voltvend_dlt645::frame::{Address, Frame, Parsed};
use voltvend_dlt645::{Reply, Request, data};

/// The application layer over one frame: typed messages round-trip to the frame they came from.
fn application(frame: &Frame) {
    if let Ok(request) = Request::from_frame(frame) {
        assert_eq!(request.to_frame(frame.address), *frame, "{request:?}");
        assert_eq!(request.function().code(), frame.control);
    }
    match Reply::from_frame(frame) {
        Ok(reply) => {
            assert_eq!(reply.to_frame(frame.address), *frame, "{reply:?}");
            // What the head end makes of a maximum-demand register: a value or an error, never a panic.
            if let Reply::Data { di: voltvend_headend::read::DI_MAX_DEMAND, value, .. } = &reply {
                let _ = voltvend_headend::read::max_demand_of(value);
            }
            if let Reply::Data { di, value, .. } | Reply::FollowUpData { di, value, .. } = &reply
                && let Some(id) = data::lookup(*di)
                && let Ok(v) = data::decode(id.format, value)
            {
                assert_eq!(data::encode(id.format, &v).ok().as_deref(), Some(value.as_slice()));
            }
        }
        Err(_) => {}
    }
}

fuzz_target!(|bytes: &[u8]| {
    // 1. The bytes as a stream of frames.
    let mut rest = bytes;
    while !rest.is_empty() {
        match Frame::parse(rest) {
            Parsed::Frame { frame, consumed } => {
                assert!(consumed > 0 && consumed <= rest.len());
                let again = Frame::parse(&frame.encode(0));
                assert!(matches!(again, Parsed::Frame { frame: ref f, .. } if *f == frame));
                application(&frame);
                rest = &rest[consumed..];
            }
            Parsed::Invalid { skip, .. } => {
                assert!(skip > 0 && skip <= rest.len());
                rest = &rest[skip..];
            }
            Parsed::Incomplete => break,
        }
    }
    // 2. The bytes as one frame's control code and data, so every function and direction is reached directly
    //    (a random stream rarely carries a valid checksum).
    if let Some((control, data)) = bytes.split_first()
        && let Ok(frame) = Frame::new(Address([0x61, 0x01, 0, 0, 0, 0]), *control, data.to_vec())
    {
        application(&frame);
    }
});
