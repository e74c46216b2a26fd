//! How the head end reaches a meter (DESIGN.md §2.5): its channel.
//!
//! A channel is written as a URL-like text, so that it can be typed in a form, a CSV import or a
//! configuration file and read back unchanged:
//!
//! | channel | meaning |
//! |---|---|
//! | `dlt645+tcp://HOST:PORT` | DL/T 645-2007 through an RS-485-to-Ethernet gateway; many meters share it |
//! | `dlt645+dial-in` | a 4G meter that connects to the head end itself and is known by its address |
//! | `modbus+tcp://HOST:PORT/UNIT?map=NAME` | Modbus TCP (a gateway or the meter), unit id 1–247, register map NAME |
//! | `mqtt:PREFIX` | telemetry a gateway publishes on `PREFIX/METER_NO/reading` |
//!
//! Hosts are names or addresses of at most 253 characters from the DNS alphabet (or an IPv6 literal in
//! brackets); nothing here resolves them.

use std::fmt;
use std::str::FromStr;

use crate::meter::MeterProtocol;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Channel {
    Dlt645Gateway { host: String, port: u16 },
    Dlt645DialIn,
    ModbusTcp { host: String, port: u16, unit: u8, map: String },
    Mqtt { prefix: String },
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("channel {text:?}: {why}")]
pub struct ChannelError {
    pub text: String,
    pub why: &'static str,
}

impl Channel {
    /// Longest channel text accepted.
    pub const LEN_MAX: usize = 300;
    /// Longest register-map name and MQTT topic prefix.
    pub const NAME_LEN_MAX: usize = 64;

    /// The protocol the head end speaks on this channel.
    pub const fn protocol(&self) -> MeterProtocol {
        match self {
            Self::Dlt645Gateway { .. } | Self::Dlt645DialIn => MeterProtocol::Dlt645,
            Self::ModbusTcp { .. } => MeterProtocol::ModbusTcp,
            Self::Mqtt { .. } => MeterProtocol::Mqtt,
        }
    }

    /// Whether a meter speaking `protocol` can be reached on this channel. An MQTT gateway reads its meters
    /// itself (over DL/T 645 or Modbus on its RS-485 side) and publishes their telemetry, so it carries any
    /// meter with a communication link; meters without one (keypad, card) are reached on no channel.
    pub const fn carries(&self, protocol: MeterProtocol) -> bool {
        match self {
            Self::Mqtt { .. } => {
                matches!(protocol, MeterProtocol::Dlt645 | MeterProtocol::ModbusTcp | MeterProtocol::Mqtt)
            }
            Self::Dlt645Gateway { .. } | Self::Dlt645DialIn => matches!(protocol, MeterProtocol::Dlt645),
            Self::ModbusTcp { .. } => matches!(protocol, MeterProtocol::ModbusTcp),
        }
    }

    /// The transport's name, for metrics and health: `dlt645_tcp`, `dlt645_dial_in`, `modbus_tcp`, `mqtt`.
    pub const fn transport(&self) -> &'static str {
        match self {
            Self::Dlt645Gateway { .. } => "dlt645_tcp",
            Self::Dlt645DialIn => "dlt645_dial_in",
            Self::ModbusTcp { .. } => "modbus_tcp",
            Self::Mqtt { .. } => "mqtt",
        }
    }
}

impl fmt::Display for Channel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Dlt645Gateway { host, port } => write!(f, "dlt645+tcp://{host}:{port}"),
            Self::Dlt645DialIn => f.write_str("dlt645+dial-in"),
            Self::ModbusTcp { host, port, unit, map } => write!(f, "modbus+tcp://{host}:{port}/{unit}?map={map}"),
            Self::Mqtt { prefix } => write!(f, "mqtt:{prefix}"),
        }
    }
}

fn host_port(text: &str, rest: &str) -> Result<(String, u16), ChannelError> {
    let bad = |why| ChannelError { text: text.to_string(), why };
    let (host, port) = rest.rsplit_once(':').ok_or_else(|| bad("the gateway needs HOST:PORT"))?;
    let port: u16 = port.parse().map_err(|_| bad("the port is a number from 1 to 65535"))?;
    if port == 0 {
        return Err(bad("the port is a number from 1 to 65535"));
    }
    let ok_host = if let Some(inner) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        !inner.is_empty() && inner.bytes().all(|b| b.is_ascii_hexdigit() || b == b':' || b == b'.')
    } else {
        !host.is_empty()
            && host.len() <= 253
            && host.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
            && !host.starts_with(['-', '.'])
    };
    if !ok_host {
        return Err(bad("the host is a name or an address"));
    }
    Ok((host.to_ascii_lowercase(), port))
}

fn name(text: &str, value: &str, what: &'static str) -> Result<String, ChannelError> {
    let ok = !value.is_empty()
        && value.len() <= Channel::NAME_LEN_MAX
        && value.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'/' | b'.'))
        && !value.starts_with('/')
        && !value.ends_with('/')
        && !value.contains("//");
    if ok { Ok(value.to_string()) } else { Err(ChannelError { text: text.to_string(), why: what }) }
}

impl FromStr for Channel {
    type Err = ChannelError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let bad = |why| ChannelError { text: text.to_string(), why };
        if text.len() > Self::LEN_MAX {
            return Err(bad("too long"));
        }
        if text == "dlt645+dial-in" {
            return Ok(Self::Dlt645DialIn);
        }
        if let Some(rest) = text.strip_prefix("dlt645+tcp://") {
            let (host, port) = host_port(text, rest)?;
            return Ok(Self::Dlt645Gateway { host, port });
        }
        if let Some(rest) = text.strip_prefix("modbus+tcp://") {
            let (path, query) = rest.split_once('?').ok_or_else(|| bad("a Modbus channel names its register map"))?;
            let (endpoint, unit) = path.rsplit_once('/').ok_or_else(|| bad("a Modbus channel names its unit id"))?;
            let (host, port) = host_port(text, endpoint)?;
            let unit: u8 = unit.parse().map_err(|_| bad("the unit id is a number from 1 to 247"))?;
            if !(1..=247).contains(&unit) {
                return Err(bad("the unit id is a number from 1 to 247"));
            }
            let map = query.strip_prefix("map=").ok_or_else(|| bad("the query is map=NAME"))?;
            let map = name(text, map, "the register map's name is letters, digits, '-' and '_'")?;
            if map.contains(['/', '.']) {
                return Err(bad("the register map's name is letters, digits, '-' and '_'"));
            }
            return Ok(Self::ModbusTcp { host, port, unit, map });
        }
        if let Some(prefix) = text.strip_prefix("mqtt:") {
            let prefix = name(text, prefix, "the topic prefix is letters, digits, '-', '_', '.' and '/' between them")?;
            return Ok(Self::Mqtt { prefix });
        }
        Err(bad("unknown kind: dlt645+tcp://, dlt645+dial-in, modbus+tcp:// or mqtt:"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channels_read_back_as_written() {
        for text in [
            "dlt645+tcp://10.0.0.7:8001",
            "dlt645+tcp://gw-3.park.example:502",
            "dlt645+tcp://[fd00::7]:8001",
            "dlt645+dial-in",
            "modbus+tcp://10.0.0.9:502/17?map=acrel-ddsy1352",
            "mqtt:park/water",
        ] {
            let c: Channel = text.parse().unwrap();
            assert_eq!(c.to_string(), text);
        }
        assert_eq!("dlt645+tcp://GW.Example:1".parse::<Channel>().unwrap().to_string(), "dlt645+tcp://gw.example:1");
        assert_eq!("modbus+tcp://h:502/3?map=m".parse::<Channel>().unwrap().protocol(), MeterProtocol::ModbusTcp);
        let mqtt: Channel = "mqtt:park/water".parse().unwrap();
        assert!(mqtt.carries(MeterProtocol::Dlt645) && mqtt.carries(MeterProtocol::Mqtt));
        assert!(!mqtt.carries(MeterProtocol::StsKeypad) && !mqtt.carries(MeterProtocol::IcCard));
        let gateway: Channel = "dlt645+tcp://gw:1".parse().unwrap();
        assert!(gateway.carries(MeterProtocol::Dlt645) && !gateway.carries(MeterProtocol::ModbusTcp));
    }

    #[test]
    fn bad_channels_say_why() {
        for (text, why) in [
            ("tcp://10.0.0.7:8001", "unknown kind"),
            ("dlt645+tcp://10.0.0.7", "HOST:PORT"),
            ("dlt645+tcp://10.0.0.7:0", "port"),
            ("dlt645+tcp://10.0.0.7:70000", "port"),
            ("dlt645+tcp://bad host:1", "host"),
            ("dlt645+tcp://:1", "host"),
            ("modbus+tcp://h:502/0?map=m", "unit id"),
            ("modbus+tcp://h:502/248?map=m", "unit id"),
            ("modbus+tcp://h:502/3", "register map"),
            ("modbus+tcp://h:502/3?map=../x", "register map"),
            ("mqtt:", "topic prefix"),
            ("mqtt:a//b", "topic prefix"),
            ("mqtt:a/#", "topic prefix"),
        ] {
            let e = text.parse::<Channel>().unwrap_err();
            assert!(e.why.contains(why), "{text}: {e}");
        }
        assert!(format!("dlt645+tcp://{}:1", "a".repeat(400)).parse::<Channel>().is_err());
    }
}
