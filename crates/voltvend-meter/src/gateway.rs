//! DL/T 645-2007 over TCP, as an RS-485-to-Ethernet gateway presents it: one listener, many meter addresses.
//!
//! Each connection reads into a bounded buffer, takes complete frames out of it ([`Frame::parse`]), and
//! answers each request from the fleet. Wake-up bytes are written before every reply, as meters expect.
//! Garbage is skipped byte by byte until a frame starts; a connection whose buffer fills without a frame, or
//! that stays silent past the idle limit, is closed. Nothing a peer sends can panic or stall the gateway.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use voltvend_dlt645::frame::{Frame, Parsed};

use crate::fleet::Fleet;

/// Bytes buffered per connection before it is closed as garbage (a full frame is at most 16 + 267 bytes).
pub const CONNECTION_BUFFER_MAX: usize = 4_096;
/// A connection that sends nothing for this long is closed.
pub const IDLE_LIMIT: Duration = Duration::from_secs(120);
/// Wake-up bytes before each reply.
const REPLY_PREAMBLE: usize = 4;

pub type SharedFleet = Arc<Mutex<Fleet>>;

/// Serves connections until the listener fails or the task is dropped.
pub async fn serve(listener: TcpListener, fleet: SharedFleet) {
    loop {
        match listener.accept().await {
            Ok((stream, peer)) => {
                let fleet = fleet.clone();
                tokio::spawn(async move {
                    if let Err(e) = connection(stream, fleet).await {
                        tracing::debug!(%peer, error = %e, "DL/T 645 connection closed");
                    }
                });
            }
            Err(e) => {
                tracing::warn!(error = %e, "accept failed");
                tokio::task::yield_now().await;
            }
        }
    }
}

async fn connection(mut stream: TcpStream, fleet: SharedFleet) -> std::io::Result<()> {
    let mut buf: Vec<u8> = Vec::with_capacity(512);
    let mut chunk = [0_u8; 1_024];
    loop {
        let n = match tokio::time::timeout(IDLE_LIMIT, stream.read(&mut chunk)).await {
            Ok(r) => r?,
            Err(_) => return Ok(()),
        };
        if n == 0 {
            return Ok(());
        }
        buf.extend_from_slice(chunk.get(..n).unwrap_or(&[]));
        let mut replies = Vec::new();
        loop {
            match Frame::parse(&buf) {
                Parsed::Frame { frame, consumed } => {
                    buf.drain(..consumed);
                    let reply = {
                        let mut f = fleet.lock().unwrap_or_else(|p| p.into_inner());
                        f.handle(&frame)
                    };
                    if let Some(reply) = reply {
                        replies.extend(reply.encode(REPLY_PREAMBLE));
                    }
                }
                Parsed::Invalid { skip, .. } => {
                    buf.drain(..skip.min(buf.len()));
                }
                Parsed::Incomplete => break,
            }
        }
        if !replies.is_empty() {
            stream.write_all(&replies).await?;
        }
        if buf.len() > CONNECTION_BUFFER_MAX {
            return Ok(());
        }
    }
}
