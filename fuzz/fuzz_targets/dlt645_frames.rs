//! A byte stream from a meter or a master station: framing must never panic or loop, every parsed frame must
//! re-encode to what was parsed, and the application layer must refuse or accept without panicking.
#![no_main]

use libfuzzer_sys::fuzz_target;
use voltvend_dlt645::frame::{Frame, Parsed};
use voltvend_dlt645::{Reply, Request, data};

fuzz_target!(|bytes: &[u8]| {
    let mut rest = bytes;
    while !rest.is_empty() {
        match Frame::parse(rest) {
            Parsed::Frame { frame, consumed } => {
                assert!(consumed > 0 && consumed <= rest.len());
                let again = Frame::parse(&frame.encode(0));
                assert!(matches!(again, Parsed::Frame { frame: ref f, .. } if *f == frame));
                if let Ok(Reply::Data { di, value, .. }) = Reply::from_frame(&frame) {
                    if let Some(id) = data::lookup(di) {
                        let _ = data::decode(id.format, &value);
                    }
                }
                let _ = Request::from_frame(&frame);
                rest = &rest[consumed..];
            }
            Parsed::Invalid { skip, .. } => {
                assert!(skip > 0 && skip <= rest.len());
                rest = &rest[skip..];
            }
            Parsed::Incomplete => break,
        }
    }
});
