//! A `tokio_util` codec for DL/T 645 frames, for the code that owns sockets. Decoding skips noise (bytes that
//! cannot start a frame) and frames with bad checksums, and refuses a buffer that grows past a bound without
//! yielding a frame; encoding writes the wake-up preamble meters expect.

use bytes::{Buf, BytesMut};
use tokio_util::codec::{Decoder, Encoder};
use voltvend_dlt645::frame::{Frame, Parsed};

/// Bytes buffered without a complete frame before the stream is refused (a frame is at most 283 bytes).
pub const BUFFER_MAX: usize = 4_096;

#[derive(Debug, Clone, Copy)]
pub struct Dlt645Codec {
    /// Wake-up bytes written before each frame.
    pub preamble: usize,
}

impl Default for Dlt645Codec {
    fn default() -> Self {
        Self { preamble: 4 }
    }
}

impl Decoder for Dlt645Codec {
    type Item = Frame;
    type Error = std::io::Error;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Frame>, Self::Error> {
        loop {
            match Frame::parse(src) {
                Parsed::Frame { frame, consumed } => {
                    src.advance(consumed);
                    return Ok(Some(frame));
                }
                Parsed::Invalid { skip, reason } => {
                    tracing::trace!(skip, reason, "skipping bytes that are not a DL/T 645 frame");
                    src.advance(skip.min(src.len()));
                }
                Parsed::Incomplete if src.len() > BUFFER_MAX => {
                    return Err(std::io::Error::new(
                        std::io::ErrorKind::InvalidData,
                        "no DL/T 645 frame within the buffer bound",
                    ));
                }
                Parsed::Incomplete => return Ok(None),
            }
        }
    }
}

impl Encoder<Frame> for Dlt645Codec {
    type Error = std::io::Error;

    fn encode(&mut self, frame: Frame, dst: &mut BytesMut) -> Result<(), Self::Error> {
        dst.extend_from_slice(&frame.encode(self.preamble));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use voltvend_dlt645::{Address, Request};

    use super::*;

    #[test]
    fn decodes_across_noise_and_partial_reads() {
        let f = Request::Read { di: 0x0001_0000 }.to_frame(Address::from_meter_no("000000000161").unwrap());
        let mut codec = Dlt645Codec::default();
        let mut buf = BytesMut::new();
        buf.extend_from_slice(&[0x00, 0x42, 0x68, 0x68]);
        let wire = f.encode(4);
        buf.extend_from_slice(&wire[..5]);
        assert_eq!(codec.decode(&mut buf).unwrap(), None);
        buf.extend_from_slice(&wire[5..]);
        assert_eq!(codec.decode(&mut buf).unwrap(), Some(f));
        assert!(buf.is_empty());
    }
}
