//! OpenPAYGO tokens as typed, on normal and restricted keypads: never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use voltvend_sts::openpaygo::{OpgDecoder, OpgDevice};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let device = OpgDevice::new(*b"fuzzing-key-0001", 516_959_010);
    for restricted in [false, true] {
        let mut decoder = OpgDecoder::new(device.clone(), u32::from(data.first().copied().unwrap_or(0)), restricted);
        let _ = decoder.enter(text);
    }
});
