//! Application protocol data units, ISO/IEC 7816-4:2020 clause 5.1 (command-response pairs).
//!
//! A command APDU is a 4-byte header `CLA INS P1 P2` followed by an optional body. Only *short* length fields
//! are supported, which is what FMCOS-class prepaid cards speak:
//!
//! | case | body                | meaning                               |
//! |------|---------------------|---------------------------------------|
//! | 1    | (none)              | no data, no response data             |
//! | 2    | `Le`                | response data expected (`00` = 256)   |
//! | 3    | `Lc data`           | command data (`Lc` = 1..=255)         |
//! | 4    | `Lc data Le`        | both                                  |
//!
//! An extended-length body (a first body byte `00` followed by more bytes, clause 5.1 "extended length fields")
//! is refused with [`ApduError::ExtendedLength`] rather than misread as a short one.
//!
//! A response APDU is the response data followed by the status word `SW1 SW2` (clause 5.1.3); [`sw`] names
//! the status words this crate uses, with the meanings of ISO/IEC 7816-4 clause 5.6 (tables 5 and 6).

use thiserror::Error;

/// Why bytes are not a short command or response APDU.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum ApduError {
    #[error("an APDU needs at least {min} bytes, got {got}")]
    TooShort { min: usize, got: usize },
    #[error("extended-length APDUs are not supported")]
    ExtendedLength,
    #[error("Lc = {lc} does not match the {got} bytes that follow the header")]
    LengthMismatch { lc: usize, got: usize },
    #[error("command data of {0} bytes does not fit a short APDU (at most 255)")]
    DataTooLong(usize),
    #[error("Le = {0} does not fit a short APDU (1 to 256)")]
    BadLe(usize),
}

/// A command APDU (ISO/IEC 7816-4 clause 5.1.2), short length fields only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Command {
    pub cla: u8,
    pub ins: u8,
    pub p1: u8,
    pub p2: u8,
    /// Command data (`Lc` is its length); empty for cases 1 and 2.
    pub data: Vec<u8>,
    /// Expected response length, 1..=256 (`Le = 00` encodes 256); `None` for cases 1 and 3.
    pub le: Option<usize>,
}

impl Command {
    /// A command with no data and no `Le` (case 1); add them with struct update syntax.
    pub fn new(cla: u8, ins: u8, p1: u8, p2: u8) -> Self {
        Self { cla, ins, p1, p2, data: Vec::new(), le: None }
    }

    /// Parses a short command APDU of any case; every malformed input is an error.
    pub fn parse(bytes: &[u8]) -> Result<Self, ApduError> {
        let [cla, ins, p1, p2, body @ ..] = bytes else {
            return Err(ApduError::TooShort { min: 4, got: bytes.len() });
        };
        let mut command = Self::new(*cla, *ins, *p1, *p2);
        match body {
            [] => {}
            [le] => command.le = Some(short_le(*le)),
            [0, ..] => return Err(ApduError::ExtendedLength),
            [lc, rest @ ..] => {
                let lc = usize::from(*lc);
                match rest.len().checked_sub(lc) {
                    Some(0) => command.data = rest.to_vec(),
                    Some(1) => {
                        let (data, le) = rest.split_at(lc);
                        command.data = data.to_vec();
                        command.le = le.first().map(|b| short_le(*b));
                    }
                    _ => return Err(ApduError::LengthMismatch { lc, got: rest.len() }),
                }
            }
        }
        Ok(command)
    }

    /// Encodes the command with short length fields.
    pub fn to_bytes(&self) -> Result<Vec<u8>, ApduError> {
        let mut out = vec![self.cla, self.ins, self.p1, self.p2];
        if !self.data.is_empty() {
            let lc = u8::try_from(self.data.len()).map_err(|_| ApduError::DataTooLong(self.data.len()))?;
            out.push(lc);
            out.extend_from_slice(&self.data);
        }
        if let Some(le) = self.le {
            match le {
                256 => out.push(0),
                1..=255 => out.push(u8::try_from(le).map_err(|_| ApduError::BadLe(le))?),
                _ => return Err(ApduError::BadLe(le)),
            }
        }
        Ok(out)
    }
}

fn short_le(b: u8) -> usize {
    if b == 0 { 256 } else { usize::from(b) }
}

/// A response APDU (ISO/IEC 7816-4 clause 5.1.3): data and status word.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub data: Vec<u8>,
    pub sw: u16,
}

impl Response {
    pub fn new(data: Vec<u8>, sw: u16) -> Self {
        Self { data, sw }
    }

    /// A response with no data.
    pub fn status(sw: u16) -> Self {
        Self { data: Vec::new(), sw }
    }

    pub fn parse(bytes: &[u8]) -> Result<Self, ApduError> {
        let [data @ .., sw1, sw2] = bytes else {
            return Err(ApduError::TooShort { min: 2, got: bytes.len() });
        };
        Ok(Self { data: data.to_vec(), sw: u16::from_be_bytes([*sw1, *sw2]) })
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.data.len() + 2);
        out.extend_from_slice(&self.data);
        out.extend_from_slice(&self.sw.to_be_bytes());
        out
    }

    pub fn is_ok(&self) -> bool {
        self.sw == sw::OK
    }
}

/// Status words, ISO/IEC 7816-4 clause 5.6 tables 5 and 6.
pub mod sw {
    /// Normal processing.
    pub const OK: u16 = 0x9000;
    /// More response bytes are available (`61xx`; this card never chains, the constant is the family base).
    pub const MORE_DATA: u16 = 0x6100;
    /// Warning: part of the returned data may be corrupted.
    pub const DATA_MAY_BE_CORRUPTED: u16 = 0x6281;
    /// Wrong length (`Lc` or `Le`).
    pub const WRONG_LENGTH: u16 = 0x6700;
    /// Secure messaging not supported for this command.
    pub const SM_NOT_SUPPORTED: u16 = 0x6882;
    /// Security status not satisfied (the access condition needs an authentication not done).
    pub const SECURITY_NOT_SATISFIED: u16 = 0x6982;
    /// Authentication method blocked (the key's error counter has run out).
    pub const AUTH_BLOCKED: u16 = 0x6983;
    /// Reference data not usable (here: no challenge outstanding for the cryptogram or MAC).
    pub const REFERENCE_NOT_USABLE: u16 = 0x6984;
    /// Conditions of use not satisfied.
    pub const CONDITIONS_NOT_SATISFIED: u16 = 0x6985;
    /// Command not allowed (no current EF).
    pub const NO_CURRENT_EF: u16 = 0x6986;
    /// Incorrect secure messaging data objects (here: a wrong MAC).
    pub const SM_DATA_INCORRECT: u16 = 0x6988;
    /// Incorrect parameters in the command data field.
    pub const WRONG_DATA: u16 = 0x6A80;
    /// Function not supported.
    pub const FUNCTION_NOT_SUPPORTED: u16 = 0x6A81;
    /// File or application not found.
    pub const FILE_NOT_FOUND: u16 = 0x6A82;
    /// Incorrect parameters P1–P2.
    pub const WRONG_P1P2: u16 = 0x6A86;
    /// Referenced data (here: a key) not found.
    pub const REFERENCE_NOT_FOUND: u16 = 0x6A88;
    /// Wrong parameters P1–P2 (offset outside the EF).
    pub const WRONG_OFFSET: u16 = 0x6B00;
    /// Wrong `Le`; `6Cxx` gives the exact length available in `xx`.
    pub const WRONG_LE: u16 = 0x6C00;
    /// Instruction not supported.
    pub const INS_NOT_SUPPORTED: u16 = 0x6D00;
    /// Class not supported.
    pub const CLA_NOT_SUPPORTED: u16 = 0x6E00;
    /// Verification failed; `63Cx`: `x` further tries allowed.
    pub const VERIFY_FAILED: u16 = 0x63C0;

    /// `63Cx` with `x` tries left (saturating at 15).
    pub fn retries_left(tries: u8) -> u16 {
        VERIFY_FAILED | u16::from(tries.min(15))
    }

    /// The tries left in a `63Cx` status word, if it is one.
    pub fn tries_in(sw: u16) -> Option<u8> {
        (sw & 0xFFF0 == VERIFY_FAILED).then_some((sw & 0x0F) as u8)
    }

    /// `6Cxx`: the exact `Le` to ask for (`00` meaning 256).
    pub fn wrong_le(available: usize) -> u16 {
        WRONG_LE | (available & 0xFF) as u16
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(bytes: &[u8], expect: Result<Command, ApduError>) {
        let parsed = Command::parse(bytes);
        assert_eq!(parsed, expect, "{bytes:02X?}");
        if let Ok(c) = parsed {
            assert_eq!(c.to_bytes().unwrap(), bytes, "re-encodes");
        }
    }

    #[test]
    fn the_four_cases_and_errors() {
        let c = |data: &[u8], le| Command { data: data.to_vec(), le, ..Command::new(0, 0xA4, 4, 0) };
        check(&[0, 0xA4, 4, 0], Ok(c(&[], None)));
        check(&[0, 0xA4, 4, 0, 0x08], Ok(c(&[], Some(8))));
        check(&[0, 0xA4, 4, 0, 0x00], Ok(c(&[], Some(256))));
        check(&[0, 0xA4, 4, 0, 2, 0x3F, 0x00], Ok(c(&[0x3F, 0], None)));
        check(&[0, 0xA4, 4, 0, 2, 0x3F, 0x00, 0], Ok(c(&[0x3F, 0], Some(256))));
        check(&[0, 0xA4, 4], Err(ApduError::TooShort { min: 4, got: 3 }));
        check(&[0, 0xA4, 4, 0, 0, 0, 2, 1, 2], Err(ApduError::ExtendedLength));
        check(&[0, 0xA4, 4, 0, 3, 1], Err(ApduError::LengthMismatch { lc: 3, got: 1 }));
        check(&[0, 0xA4, 4, 0, 1, 1, 2, 3], Err(ApduError::LengthMismatch { lc: 1, got: 3 }));
        assert_eq!(c(&[0; 256], None).to_bytes(), Err(ApduError::DataTooLong(256)));
        assert_eq!(c(&[], Some(0)).to_bytes(), Err(ApduError::BadLe(0)));
    }

    #[test]
    fn responses_and_status_words() {
        assert_eq!(Response::parse(&[1, 2, 0x90, 0]), Ok(Response::new(vec![1, 2], sw::OK)));
        assert_eq!(Response::parse(&[0x90]), Err(ApduError::TooShort { min: 2, got: 1 }));
        assert_eq!(Response::new(vec![7], 0x6A82).to_bytes(), vec![7, 0x6A, 0x82]);
        assert_eq!(sw::retries_left(2), 0x63C2);
        assert_eq!(sw::tries_in(0x63C2), Some(2));
        assert_eq!(sw::tries_in(0x6983), None);
        assert_eq!(sw::wrong_le(18), 0x6C12);
    }
}
