//! Bytes read back from a printer job (or any bytes): the ESC/POS reader must refuse or decode without
//! panicking, in both encodings, and never report a line it did not decode.
#![no_main]

use libfuzzer_sys::fuzz_target;
use voltvend_receipt::{EscPosEncoding, escpos_lines, escpos_text};

fuzz_target!(|bytes: &[u8]| {
    for encoding in [EscPosEncoding::Gb18030, EscPosEncoding::Ascii] {
        if let Ok(lines) = escpos_lines(bytes, encoding) {
            for line in &lines {
                let _ = line.columns();
            }
        }
        let _ = escpos_text(bytes, encoding);
    }
});
