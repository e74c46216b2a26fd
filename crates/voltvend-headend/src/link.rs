//! DL/T 645-2007 over TCP: one request in flight per bus, replies matched to their request.
//!
//! An RS-485 bus is half-duplex: the gateway in front of it can carry one request at a time, so a [`Bus`] owns
//! its connection and works through a bounded queue of exchanges in order. A reply is taken for the request
//! only if it comes from the addressed meter, for the same function (and, for a read, the same data
//! identifier); anything else on the line — a late reply to an earlier request, another meter's chatter,
//! noise — is skipped. A request unanswered within the timeout fails alone; a broken connection fails the
//! request on it and is dialled again with exponential backoff and jitter (gateway buses), or ends (a 4G
//! meter's own link, which the meter dials again).

use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};
use tokio_util::codec::Framed;
use voltvend_dlt645::app::ErrorBits;
use voltvend_dlt645::{Address, Frame, Reply, Request};
use voltvend_meter::codec::Dlt645Codec;

use crate::health::LinkHealth;
use crate::jitter::Jitter;

/// Wake-up bytes before each request (meters on RS-485 expect a few 0xFE).
const REQUEST_PREAMBLE: usize = 4;

/// Requests waiting for one bus; past this, callers are told the bus is busy rather than queued without end.
pub const BUS_QUEUE_MAX: usize = 1_024;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LinkError {
    #[error("no answer from {address} within {timeout_ms} ms")]
    Timeout { address: String, timeout_ms: u128 },
    #[error("the link {link} is down: {why}")]
    Down { link: String, why: String },
    #[error("{address} refused the request (error bits {bits:#04x}: {meaning})")]
    Refused { address: String, bits: u8, meaning: String },
    #[error("{address} answered with a reply that does not fit: {why}")]
    Malformed { address: String, why: String },
    #[error("the bus {link} has {max} requests waiting already")]
    Busy { link: String, max: usize },
    #[error("meter {address} is not connected (it has not dialled in)")]
    NotConnected { address: String },
}

impl LinkError {
    /// Whether the meter itself answered (a refusal or a reply that does not fit), rather than the link failing.
    pub fn meter_answered(&self) -> bool {
        matches!(self, Self::Refused { .. } | Self::Malformed { .. })
    }
}

/// What the error bits of an abnormal reply mean (DL/T 645-2007 table of error information word).
pub fn error_meaning(bits: ErrorBits) -> String {
    let found = bits.meanings();
    if found.is_empty() { "unspecified".to_string() } else { found.join(", ") }
}

/// One request and where its answer goes. `None` as the answer: the request takes no reply (a broadcast).
#[derive(Debug)]
pub struct Exchange {
    pub address: Address,
    pub request: Request,
    pub timeout: Duration,
    pub answer: oneshot::Sender<Result<Option<Reply>, LinkError>>,
}

/// Whether `frame` answers `request` sent to `address`.
fn answers(frame: &Frame, address: &Address, request: &Request, function: u8) -> bool {
    if !frame.is_reply() || frame.function() != function {
        return false;
    }
    // A read-address request goes to the wildcard address; the answer carries the meter's own.
    if !matches!(request, Request::ReadAddress) && frame.address != *address {
        return false;
    }
    match (request, Reply::from_frame(frame)) {
        (Request::Read { di }, Ok(Reply::Data { di: got, .. })) => *di == got,
        _ => true,
    }
}

/// Sends one request on a connection and waits for its answer. `Err(Ok(e))`: the request failed, the
/// connection is fine; `Err(Err(e))`: the connection is broken.
async fn exchange(
    framed: &mut Framed<TcpStream, Dlt645Codec>,
    link: &str,
    ex: &Exchange,
) -> Result<Option<Reply>, Result<LinkError, LinkError>> {
    let frame = ex.request.to_frame(ex.address);
    let function = frame.function();
    let down = |why: String| Err(LinkError::Down { link: link.to_string(), why });
    if let Err(e) = framed.send(frame).await {
        return Err(down(e.to_string()));
    }
    if matches!(ex.request, Request::BroadcastTime { .. }) {
        return Ok(None);
    }
    let deadline = tokio::time::Instant::now() + ex.timeout;
    loop {
        let next = match tokio::time::timeout_at(deadline, framed.next()).await {
            Err(_) => {
                return Err(Ok(LinkError::Timeout {
                    address: ex.address.to_string(),
                    timeout_ms: ex.timeout.as_millis(),
                }));
            }
            Ok(None) => return Err(down("the peer closed the connection".into())),
            Ok(Some(Err(e))) => return Err(down(e.to_string())),
            Ok(Some(Ok(frame))) => frame,
        };
        if !answers(&next, &ex.address, &ex.request, function) {
            tracing::trace!(link, from = %next.address, function = next.function(), "skipping a frame that is not the answer");
            continue;
        }
        return match Reply::from_frame(&next) {
            Ok(Reply::Abnormal { error, .. }) => Err(Ok(LinkError::Refused {
                address: next.address.to_string(),
                bits: error.0,
                meaning: error_meaning(error),
            })),
            Ok(reply) => Ok(Some(reply)),
            Err(e) => Err(Ok(LinkError::Malformed { address: next.address.to_string(), why: e.to_string() })),
        };
    }
}

/// A queue of exchanges in front of one connection.
#[derive(Debug, Clone)]
pub struct Bus {
    pub name: Arc<str>,
    tx: mpsc::Sender<Exchange>,
}

impl Bus {
    /// Sends `request` to `address` and waits for the answer.
    pub async fn request(
        &self,
        address: Address,
        request: Request,
        timeout: Duration,
    ) -> Result<Option<Reply>, LinkError> {
        let (answer, rx) = oneshot::channel();
        let ex = Exchange { address, request, timeout, answer };
        self.tx.try_send(ex).map_err(|e| match e {
            mpsc::error::TrySendError::Full(_) => LinkError::Busy { link: self.name.to_string(), max: BUS_QUEUE_MAX },
            mpsc::error::TrySendError::Closed(_) => {
                LinkError::Down { link: self.name.to_string(), why: "the link has ended".into() }
            }
        })?;
        rx.await
            .unwrap_or_else(|_| Err(LinkError::Down { link: self.name.to_string(), why: "the link has ended".into() }))
    }

    pub fn is_closed(&self) -> bool {
        self.tx.is_closed()
    }
}

/// How a gateway bus reconnects.
#[derive(Debug, Clone, Copy)]
pub struct Reconnect {
    pub connect_timeout: Duration,
    pub backoff_first: Duration,
    pub backoff_max: Duration,
}

/// A bus to a gateway at `endpoint` (`host:port`), dialled now and again whenever it breaks. The task ends
/// when every [`Bus`] handle is dropped.
pub fn gateway(endpoint: String, reconnect: Reconnect, health: Arc<LinkHealth>, mut jitter: Jitter) -> Bus {
    let (tx, mut rx) = mpsc::channel::<Exchange>(BUS_QUEUE_MAX);
    let name: Arc<str> = Arc::from(endpoint.as_str());
    tokio::spawn(async move {
        let mut failures = 0_u32;
        loop {
            let connected =
                tokio::time::timeout(reconnect.connect_timeout, TcpStream::connect(endpoint.as_str())).await;
            let why = match connected {
                Ok(Ok(stream)) => {
                    let _ = stream.set_nodelay(true);
                    failures = 0;
                    health.connected();
                    let mut framed = Framed::new(stream, Dlt645Codec { preamble: REQUEST_PREAMBLE });
                    match serve(&mut framed, &endpoint, &mut rx, &health).await {
                        Ended::Dropped => return,
                        Ended::Broken(why) => why,
                    }
                }
                Ok(Err(e)) => e.to_string(),
                Err(_) => format!("no connection within {} ms", reconnect.connect_timeout.as_millis()),
            };
            health.down(&why);
            tracing::debug!(link = %endpoint, %why, "gateway link down");
            failures = failures.saturating_add(1);
            let wait = jitter.spread(backoff(reconnect, failures));
            // While down, callers are answered at once rather than left to time out.
            let pause = tokio::time::sleep(wait);
            tokio::pin!(pause);
            loop {
                tokio::select! {
                    () = &mut pause => break,
                    ex = rx.recv() => match ex {
                        Some(ex) => {
                            let _ = ex.answer.send(Err(LinkError::Down { link: endpoint.clone(), why: why.clone() }));
                        }
                        None => return,
                    },
                }
            }
        }
    });
    Bus { name, tx }
}

/// A bus over a connection a meter opened (a 4G meter dialling in): it ends with the connection.
pub fn dialled(name: String, mut framed: Framed<TcpStream, Dlt645Codec>, health: Arc<LinkHealth>) -> Bus {
    let (tx, mut rx) = mpsc::channel::<Exchange>(BUS_QUEUE_MAX);
    let bus = Bus { name: Arc::from(name.as_str()), tx };
    tokio::spawn(async move {
        health.connected();
        if let Ended::Broken(why) = serve(&mut framed, &name, &mut rx, &health).await {
            tracing::debug!(link = %name, %why, "dial-in link ended");
            health.down(&why);
        }
        // Whatever is still queued hears that the link is gone.
        rx.close();
        while let Ok(ex) = rx.try_recv() {
            let _ = ex.answer.send(Err(LinkError::Down { link: name.clone(), why: "the meter hung up".into() }));
        }
    });
    bus
}

enum Ended {
    Dropped,
    Broken(String),
}

async fn serve(
    framed: &mut Framed<TcpStream, Dlt645Codec>,
    link: &str,
    rx: &mut mpsc::Receiver<Exchange>,
    health: &LinkHealth,
) -> Ended {
    while let Some(ex) = rx.recv().await {
        match exchange(framed, link, &ex).await {
            Ok(reply) => {
                health.answered();
                let _ = ex.answer.send(Ok(reply));
            }
            Err(Ok(e)) => {
                if e.meter_answered() {
                    health.answered();
                } else {
                    health.timed_out();
                }
                let _ = ex.answer.send(Err(e));
            }
            Err(Err(e)) => {
                let why = e.to_string();
                let _ = ex.answer.send(Err(e));
                return Ended::Broken(why);
            }
        }
    }
    Ended::Dropped
}

/// The wait before dialling again after `failures` failures in a row: doubling from the first wait, capped.
pub fn backoff(r: Reconnect, failures: u32) -> Duration {
    let doublings = failures.saturating_sub(1).min(16);
    r.backoff_first.saturating_mul(1_u32 << doublings).min(r.backoff_max)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let r = Reconnect {
            connect_timeout: Duration::from_secs(1),
            backoff_first: Duration::from_millis(500),
            backoff_max: Duration::from_secs(30),
        };
        let waits: Vec<u128> = (1..=9).map(|n| backoff(r, n).as_millis()).collect();
        assert_eq!(waits, [500, 1_000, 2_000, 4_000, 8_000, 16_000, 30_000, 30_000, 30_000]);
        assert_eq!(backoff(r, u32::MAX), Duration::from_secs(30));
    }

    #[test]
    fn error_bits_are_named() {
        assert_eq!(error_meaning(ErrorBits(0x04)), "wrong password or not authorised");
        assert_eq!(error_meaning(ErrorBits(0x03)), "other error, no such data");
        assert_eq!(error_meaning(ErrorBits(0x80)), "unspecified");
    }

    #[test]
    fn only_the_addressed_meters_reply_to_the_same_request_is_taken() {
        let a = Address::from_meter_no("000000000001").unwrap();
        let b = Address::from_meter_no("000000000002").unwrap();
        let read = Request::Read { di: 0x0001_0000 };
        let f = read.to_frame(a).function();
        let reply = |addr, di| Reply::Data { di, value: vec![0; 4], follow_up: false }.to_frame(addr);
        assert!(answers(&reply(a, 0x0001_0000), &a, &read, f));
        assert!(!answers(&reply(b, 0x0001_0000), &a, &read, f), "another meter's reply");
        assert!(!answers(&reply(a, 0x0001_0100), &a, &read, f), "a late reply to another read");
        assert!(!answers(&read.to_frame(a), &a, &read, f), "the request echoed back");
        let who = Request::ReadAddress;
        let wildcard = Address([0xAA; 6]);
        assert!(answers(
            &Reply::Address { address: b }.to_frame(b),
            &wildcard,
            &who,
            who.to_frame(wildcard).function()
        ));
    }
}
