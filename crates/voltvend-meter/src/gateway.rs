//! DL/T 645-2007 over TCP, as an RS-485-to-Ethernet gateway presents it: one listener, many meter addresses.
//!
//! Each connection is framed with [`Dlt645Codec`] (bounded buffer, noise skipped) and each request is
//! answered from the fleet. Wake-up bytes are written before every reply, as meters expect.
//! Garbage is skipped byte by byte until a frame starts; a connection whose buffer fills without a frame, or
//! that stays silent past the idle limit, is closed. Nothing a peer sends can panic or stall the gateway.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use std::collections::HashSet;

use futures_util::{SinkExt, StreamExt};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio_util::codec::Framed;
use voltvend_dlt645::{Address, Reply};

use crate::codec::Dlt645Codec;
use crate::fleet::Fleet;
/// A connection that sends nothing for this long is closed.
pub const IDLE_LIMIT: Duration = Duration::from_secs(120);
/// Wake-up bytes before each reply.
const REPLY_PREAMBLE: usize = 4;

pub type SharedFleet = Arc<Mutex<Fleet>>;

/// Faults injected on demand: change them while the gateway runs (they are read per request).
#[derive(Debug, Clone, Default)]
pub struct Faults {
    /// Meters that have stopped answering.
    pub silent: HashSet<Address>,
    /// Every Nth reply goes out with a corrupted checksum (0: never).
    pub corrupt_every: u64,
    /// Every Nth request gets the connection closed instead of an answer (0: never).
    pub drop_every: u64,
    /// Delay before each reply.
    pub delay: Duration,
    /// Write-data requests (DL/T 645 function 14) are acknowledged and not carried out: a meter whose display
    /// or parameter memory has failed, so only a read-back shows it.
    pub forget_writes: bool,
}

pub type SharedFaults = Arc<Mutex<Faults>>;

/// Serves connections until the listener fails or the task is dropped.
pub async fn serve(listener: TcpListener, fleet: SharedFleet) {
    serve_with_faults(listener, fleet, SharedFaults::default()).await
}

pub async fn serve_with_faults(listener: TcpListener, fleet: SharedFleet, faults: SharedFaults) {
    loop {
        match listener.accept().await {
            Ok((stream, peer)) => {
                let (fleet, faults) = (fleet.clone(), faults.clone());
                tokio::spawn(async move {
                    if let Err(e) = connection(stream, fleet, faults, None).await {
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

/// Answers requests on one connection. With `only`, the connection belongs to one dialled-in meter.
async fn connection(
    stream: TcpStream,
    fleet: SharedFleet,
    faults: SharedFaults,
    only: Option<Address>,
) -> std::io::Result<()> {
    let mut framed = Framed::new(stream, Dlt645Codec { preamble: REPLY_PREAMBLE });
    // Requests on this connection, for the every-Nth faults (per connection, so they are deterministic).
    let mut n = 0_u64;
    if let Some(address) = only {
        // A dialling meter announces itself with its address (an unsolicited read-address reply).
        framed.send(Reply::Address { address }.to_frame(address)).await?;
    }
    loop {
        let frame = match tokio::time::timeout(IDLE_LIMIT, framed.next()).await {
            Ok(Some(frame)) => frame?,
            Ok(None) | Err(_) => return Ok(()),
        };
        if only.is_some_and(|a| !frame.address.addresses(&a)) {
            continue;
        }
        n += 1;
        // Decide this request's faults under the lock, without copying the fault set.
        let (drop_link, silent, delay, corrupt, forget) = {
            let f = faults.lock().unwrap_or_else(|p| p.into_inner());
            (
                f.drop_every > 0 && n.is_multiple_of(f.drop_every),
                f.silent.contains(&frame.address),
                f.delay,
                f.corrupt_every > 0 && n.is_multiple_of(f.corrupt_every),
                f.forget_writes && frame.function() == voltvend_dlt645::app::F_WRITE,
            )
        };
        if drop_link {
            return Ok(());
        }
        if silent {
            continue;
        }
        let reply = if forget {
            Some(Reply::Ok { function: voltvend_dlt645::app::Function::Write }.to_frame(frame.address))
        } else {
            let mut fl = fleet.lock().unwrap_or_else(|p| p.into_inner());
            fl.handle(&frame)
        };
        let Some(reply) = reply else { continue };
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        if corrupt {
            let mut bytes = reply.encode(REPLY_PREAMBLE);
            if let Some(cs) = bytes.len().checked_sub(2).and_then(|i| bytes.get_mut(i)) {
                *cs = cs.wrapping_add(1);
            }
            framed.get_mut().write_all(&bytes).await?;
        } else {
            framed.send(reply).await?;
        }
    }
}

/// A 4G meter's link: dials the head end, announces itself, answers its requests, and dials again after a
/// pause when the link drops. Runs until the task is dropped.
pub async fn dial_in(head_end: String, address: Address, fleet: SharedFleet, faults: SharedFaults, redial: Duration) {
    loop {
        match TcpStream::connect(&head_end).await {
            Ok(stream) => {
                if let Err(e) = connection(stream, fleet.clone(), faults.clone(), Some(address)).await {
                    tracing::debug!(%address, error = %e, "dial-in link dropped");
                }
            }
            Err(e) => tracing::debug!(%address, error = %e, "cannot reach the head end"),
        }
        tokio::time::sleep(redial).await;
    }
}
