//! The vsmartcard `vpcd` socket protocol, sans-IO (PROTOCOLS.md §9).
//!
//! vpcd is a PC/SC reader driver that forwards to a card emulator over TCP (the card side connects to
//! 127.0.0.1:35963). Every message, in both directions, is a 2-byte big-endian length followed by that many
//! payload bytes. From vpcd, a 1-byte payload is a control command (`00` power off, `01` power on, `02` reset,
//! `04` get ATR — answered with the ATR bytes); a longer payload is a command APDU (ISO/IEC 7816-4), answered
//! with the response APDU. Power and reset commands get no answer.
//!
//! [`VpcdDecoder`] takes bytes as they arrive and yields whole messages; [`encode`] frames an answer. The
//! caller owns the socket (`voltvend-server` wraps this in a tokio loop).

use std::collections::VecDeque;

use thiserror::Error;

/// A message from vpcd.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VpcdMessage {
    PowerOff,
    PowerOn,
    Reset,
    GetAtr,
    Apdu(Vec<u8>),
}

/// A frame that is not a valid vpcd message (the frame is consumed; the stream stays in step).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum VpcdError {
    #[error("empty vpcd message")]
    Empty,
    #[error("unknown vpcd control byte {0:#04x}")]
    UnknownControl(u8),
    #[error("a vpcd payload is at most 65535 bytes, got {0}")]
    TooLong(usize),
}

/// Incremental decoder: [`push`](Self::push) bytes, then iterate for messages.
#[derive(Debug, Clone, Default)]
pub struct VpcdDecoder {
    buf: VecDeque<u8>,
}

impl VpcdDecoder {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn push(&mut self, bytes: &[u8]) {
        self.buf.extend(bytes);
    }

    /// Bytes received but not yet part of a whole message.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }
}

impl Iterator for VpcdDecoder {
    type Item = Result<VpcdMessage, VpcdError>;

    /// The next whole message, or `None` until more bytes arrive.
    fn next(&mut self) -> Option<Self::Item> {
        let (&hi, &lo) = (self.buf.front()?, self.buf.get(1)?);
        let len = usize::from(u16::from_be_bytes([hi, lo]));
        if self.buf.len() < 2 + len {
            return None;
        }
        self.buf.drain(..2);
        let payload: Vec<u8> = self.buf.drain(..len).collect();
        Some(match payload.as_slice() {
            [] => Err(VpcdError::Empty),
            [0x00] => Ok(VpcdMessage::PowerOff),
            [0x01] => Ok(VpcdMessage::PowerOn),
            [0x02] => Ok(VpcdMessage::Reset),
            [0x04] => Ok(VpcdMessage::GetAtr),
            [other] => Err(VpcdError::UnknownControl(*other)),
            _ => Ok(VpcdMessage::Apdu(payload)),
        })
    }
}

/// Frames one payload (an ATR or a response APDU) for the socket.
pub fn encode(payload: &[u8]) -> Result<Vec<u8>, VpcdError> {
    let len = u16::try_from(payload.len()).map_err(|_| VpcdError::TooLong(payload.len()))?;
    let mut out = len.to_be_bytes().to_vec();
    out.extend_from_slice(payload);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_split_anywhere() {
        let stream = [0, 1, 4, 0, 1, 1, 0, 5, 0, 0x84, 0, 0, 8, 0, 1, 3, 0, 0, 0, 1, 2];
        let mut d = VpcdDecoder::new();
        let mut got = Vec::new();
        for b in stream {
            d.push(&[b]);
            got.extend(d.by_ref());
        }
        assert_eq!(
            got,
            vec![
                Ok(VpcdMessage::GetAtr),
                Ok(VpcdMessage::PowerOn),
                Ok(VpcdMessage::Apdu(vec![0, 0x84, 0, 0, 8])),
                Err(VpcdError::UnknownControl(3)),
                Err(VpcdError::Empty),
                Ok(VpcdMessage::Reset),
            ]
        );
        assert_eq!(d.buffered(), 0);
        assert_eq!(encode(&[0x90, 0]).unwrap(), vec![0, 2, 0x90, 0]);
        assert_eq!(encode(&vec![0; 70_000]), Err(VpcdError::TooLong(70_000)));
    }
}
