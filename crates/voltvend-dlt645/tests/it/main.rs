//! The codec against data it did not write: the frames of the vector folder (`vectors`, schema-driven, any
//! folder of the same schema), and one hand-computed frame per request and reply of every DL/T 645-2007
//! function (`functions`).

// Tests may panic: a failed expectation is the point.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

mod functions;
mod vectors;

/// Bytes from hex with any spacing (`"68 61 01"`).
pub fn hex(s: &str) -> Result<Vec<u8>, String> {
    let digits: String = s.chars().filter(|c| !c.is_whitespace()).collect();
    if !digits.len().is_multiple_of(2) {
        return Err(format!("odd number of hex digits in {s:?}"));
    }
    (0..digits.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&digits[i..i + 2], 16).map_err(|e| format!("{s:?}: {e}")))
        .collect()
}
