//! Modbus TCP to gateways and meters (Modbus Application Protocol v1.1b3; Modbus Messaging on TCP/IP
//! Implementation Guide v1.0b): holding registers read with function 03 and the relay register written with
//! function 06, laid out by the meter model's register map (`voltvend_meter::modbus::RegisterMap`).
//!
//! A Modbus TCP gateway in front of an RS-485 bus carries one request at a time, like a DL/T 645 gateway, so a
//! [`ModbusLink`] holds its one connection behind a lock: requests to the meters behind it (the unit id picks
//! the meter) go in turn. A request unanswered within the timeout fails alone and the connection is dropped
//! (a late answer would otherwise be taken for the next request); a broken connection is dialled again on the
//! next request, after a backoff with jitter that doubles with each failure in a row.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Mutex;
use tokio_modbus::client::{Context, Reader, Writer};
use tokio_modbus::prelude::{SlaveContext, tcp};
use tokio_modbus::{ExceptionCode, Slave};

use crate::health::LinkHealth;
use crate::jitter::Jitter;
use crate::link::{LinkError, Reconnect, backoff};

struct State {
    context: Option<Context>,
    failures: u32,
    /// While down after a failure: not dialled again before this instant.
    retry_at: Option<tokio::time::Instant>,
    last_error: String,
    jitter: Jitter,
}

/// One Modbus TCP endpoint (a gateway or a meter with its own Ethernet port).
pub struct ModbusLink {
    endpoint: String,
    reconnect: Reconnect,
    pub(crate) health: Arc<LinkHealth>,
    state: Mutex<State>,
}

impl std::fmt::Debug for ModbusLink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ModbusLink").field("endpoint", &self.endpoint).finish_non_exhaustive()
    }
}

/// What an exception reply means (Modbus Application Protocol §7).
fn exception_meaning(e: ExceptionCode) -> String {
    match e {
        ExceptionCode::IllegalFunction => "illegal function".into(),
        ExceptionCode::IllegalDataAddress => "illegal data address (the map does not fit this meter)".into(),
        ExceptionCode::IllegalDataValue => "illegal data value".into(),
        ExceptionCode::ServerDeviceFailure => "server device failure".into(),
        ExceptionCode::ServerDeviceBusy => "server device busy".into(),
        ExceptionCode::GatewayPathUnavailable => "gateway path unavailable".into(),
        ExceptionCode::GatewayTargetDevice => "gateway target device failed to respond".into(),
        other => format!("{other:?}"),
    }
}

impl ModbusLink {
    pub fn new(endpoint: String, reconnect: Reconnect, jitter: Jitter) -> Self {
        Self {
            endpoint,
            reconnect,
            health: Arc::new(LinkHealth::default()),
            state: Mutex::new(State { context: None, failures: 0, retry_at: None, last_error: String::new(), jitter }),
        }
    }

    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    fn down(&self, why: impl Into<String>) -> LinkError {
        LinkError::Down { link: format!("modbus+tcp://{}", self.endpoint), why: why.into() }
    }

    /// Marks the connection broken: dropped, and not dialled again before the backoff has passed.
    fn broke(&self, state: &mut State, why: &str) {
        state.context = None;
        state.failures = state.failures.saturating_add(1);
        let wait = backoff(self.reconnect, state.failures);
        state.retry_at = Some(tokio::time::Instant::now() + state.jitter.spread(wait));
        state.last_error = why.to_string();
        self.health.down(why);
    }

    async fn connected<'a>(&self, state: &'a mut State) -> Result<&'a mut Context, LinkError> {
        if state.context.is_none() {
            if let Some(at) = state.retry_at
                && tokio::time::Instant::now() < at
            {
                // Callers are answered at once while the link is down, rather than each waiting to time out.
                return Err(self.down(state.last_error.clone()));
            }
            let addr: SocketAddr = match tokio::net::lookup_host(self.endpoint.as_str()).await {
                Ok(mut found) => found.next().ok_or_else(|| self.down("the host name has no address"))?,
                Err(e) => {
                    let why = e.to_string();
                    self.broke(state, &why);
                    return Err(self.down(why));
                }
            };
            match tokio::time::timeout(self.reconnect.connect_timeout, tcp::connect(addr)).await {
                Ok(Ok(context)) => {
                    state.failures = 0;
                    state.retry_at = None;
                    self.health.connected();
                    state.context = Some(context);
                }
                Ok(Err(e)) => {
                    let why = e.to_string();
                    self.broke(state, &why);
                    return Err(self.down(why));
                }
                Err(_) => {
                    let why = format!("no connection within {} ms", self.reconnect.connect_timeout.as_millis());
                    self.broke(state, &why);
                    return Err(self.down(why));
                }
            }
        }
        state.context.as_mut().ok_or_else(|| self.down("not connected"))
    }

    /// Runs one request on the connection; the unit id picks the meter behind a gateway.
    async fn call<T, F>(&self, unit: u8, timeout: Duration, what: &str, f: F) -> Result<T, LinkError>
    where
        F: for<'c> FnOnce(&'c mut Context) -> futures_util::future::BoxFuture<'c, tokio_modbus::Result<T>>,
    {
        let mut state = self.state.lock().await;
        let context = self.connected(&mut state).await?;
        context.set_slave(Slave(unit));
        let address = format!("{}/{unit}", self.endpoint);
        match tokio::time::timeout(timeout, f(context)).await {
            Ok(Ok(Ok(value))) => {
                self.health.answered();
                Ok(value)
            }
            Ok(Ok(Err(exception))) => {
                self.health.answered();
                Err(LinkError::Refused {
                    address,
                    bits: u8::from(exception),
                    meaning: format!("{what}: {}", exception_meaning(exception)),
                })
            }
            Ok(Err(tokio_modbus::Error::Protocol(e))) => {
                // A reply that does not match the request: the stream may be out of step, start afresh.
                let why = e.to_string();
                self.broke(&mut state, &why);
                Err(LinkError::Malformed { address, why })
            }
            Ok(Err(tokio_modbus::Error::Transport(e))) => {
                let why = e.to_string();
                self.broke(&mut state, &why);
                Err(self.down(why))
            }
            Err(_) => {
                // A late answer would be taken for the next request on this connection: drop it.
                self.health.timed_out();
                state.context = None;
                Err(LinkError::Timeout { address, timeout_ms: timeout.as_millis() })
            }
        }
    }

    /// Reads `count` holding registers from `start` (function 03).
    pub async fn read_holding(
        &self,
        unit: u8,
        start: u16,
        count: u16,
        timeout: Duration,
    ) -> Result<Vec<u16>, LinkError> {
        let words = self.call(unit, timeout, "read", move |c| Box::pin(c.read_holding_registers(start, count))).await?;
        if words.len() != usize::from(count) {
            return Err(LinkError::Malformed {
                address: format!("{}/{unit}", self.endpoint),
                why: format!("asked for {count} registers, got {}", words.len()),
            });
        }
        Ok(words)
    }

    /// Writes one holding register (function 06).
    pub async fn write_register(
        &self,
        unit: u8,
        register: u16,
        value: u16,
        timeout: Duration,
    ) -> Result<(), LinkError> {
        self.call(unit, timeout, "write", move |c| Box::pin(c.write_single_register(register, value))).await
    }
}
