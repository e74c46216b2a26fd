//! MQTT ingestion: meters whose gateway publishes telemetry to a broker instead of being polled.
//!
//! A meter on channel `mqtt:PREFIX` is read from the topic `PREFIX/METER_NO/reading`, whose payload is one JSON
//! object (the format `voltvend simulate --mqtt-broker` publishes, documented in docs/meters.md):
//!
//! * `meter` — the 12-digit meter number, the same as in the topic;
//! * `at` — when the registers were read, an RFC 3339 instant;
//! * electricity: `energy_total_kwh` and optionally all four of `energy_sharp_kwh`, `energy_peak_kwh`,
//!   `energy_flat_kwh`, `energy_valley_kwh`; `relay`: `"closed"` (supply on) or `"open"`;
//! * water (`"utility": "water"`): `volume_m3`; `valve`: `"open"` (supply on) or `"closed"`.
//!
//! Register values are decimals with at most three decimal places, as a JSON string (`"1234.567"`) or a
//! JSON number, read from their text and never through a float. Other fields are ignored. A payload that
//! breaks these rules is refused whole and counted; nothing of it is billed.
//!
//! Registers are cumulative, so a message that never arrives loses nothing: the next one bills the
//! consumption of both intervals. A message delivered twice (retained messages are sent again on every
//! subscription) is one operation, because the operation's id derives from the meter and the reading's time.

use jiff::Timestamp;
use serde_json::value::RawValue;
use voltvend_ops::Relay;

/// The largest payload looked at.
pub const PAYLOAD_MAX: usize = 4_096;

/// One meter's telemetry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Telemetry {
    pub meter_no: String,
    pub at: Timestamp,
    /// Energy in Wh, or water in L.
    pub total: i64,
    /// Tariffs 1–4 (sharp, peak, flat, valley) in Wh, when all four were sent.
    pub tariffs: Option<[i64; 4]>,
    /// Where the supply switch (relay or valve) is.
    pub supply: Option<Relay>,
    pub water: bool,
}

/// The topic's prefix and meter number, for a topic `PREFIX/METER_NO/reading`.
pub fn split_topic(topic: &str) -> Option<(&str, &str)> {
    let rest = topic.strip_suffix("/reading")?;
    let (prefix, meter_no) = rest.rsplit_once('/')?;
    (!prefix.is_empty() && meter_no.len() == 12 && meter_no.bytes().all(|b| b.is_ascii_digit()))
        .then_some((prefix, meter_no))
}

/// A decimal register value with at most three decimals, in thousandths (Wh of kWh, L of m³), read exactly by
/// the domain's decimal parser from the JSON text (a string or a number, never through a float).
fn thousandths(field: &str, raw: &RawValue) -> Result<i64, String> {
    let text = raw.get();
    let text = text.strip_prefix('"').and_then(|t| t.strip_suffix('"')).unwrap_or(text);
    match voltvend_domain::decimal::parse_scaled(text, 3) {
        Ok(v) if v >= 0 => Ok(v),
        _ => Err(format!("{field} is not a decimal such as \"1234.567\" with at most three decimals: {text:.40}")),
    }
}

/// Reads one message of `meter_no`'s topic.
pub fn parse(meter_no: &str, payload: &[u8]) -> Result<Telemetry, String> {
    if payload.len() > PAYLOAD_MAX {
        return Err(format!("the payload is over {PAYLOAD_MAX} bytes"));
    }
    let fields: std::collections::HashMap<String, Box<RawValue>> =
        serde_json::from_slice(payload).map_err(|e| format!("the payload is not a JSON object: {e}"))?;
    let text = |name: &str| -> Result<Option<String>, String> {
        match fields.get(name) {
            None => Ok(None),
            Some(raw) => {
                serde_json::from_str::<String>(raw.get()).map(Some).map_err(|_| format!("{name} is not a string"))
            }
        }
    };
    let named = text("meter")?.ok_or("the payload has no meter")?;
    if named != meter_no {
        return Err(format!("the payload is of meter {named:.20}, the topic of {meter_no}"));
    }
    let at: Timestamp = text("at")?
        .ok_or("the payload has no at")?
        .parse()
        .map_err(|e| format!("at is not an RFC 3339 instant: {e}"))?;
    let water = match text("utility")?.as_deref() {
        None | Some("electricity") => false,
        Some("water") => true,
        Some(other) => return Err(format!("utility {other:.20} is neither electricity nor water")),
    };
    let value = |name: &str| fields.get(name).map(|raw| thousandths(name, raw)).transpose();
    let (total_field, switch_field) = if water { ("volume_m3", "valve") } else { ("energy_total_kwh", "relay") };
    let total = value(total_field)?.ok_or_else(|| format!("the payload has no {total_field}"))?;
    let tariffs = if water {
        None
    } else {
        let names = ["energy_sharp_kwh", "energy_peak_kwh", "energy_flat_kwh", "energy_valley_kwh"];
        let got: Vec<Option<i64>> = names.iter().map(|n| value(n)).collect::<Result<_, _>>()?;
        match got.as_slice() {
            [Some(a), Some(b), Some(c), Some(d)] => Some([*a, *b, *c, *d]),
            [None, None, None, None] => None,
            _ => return Err("the tariff registers come all four or not at all".into()),
        }
    };
    // A water valve that is open lets water through: supply on, as a closed relay is.
    let supply = match (water, text(switch_field)?.as_deref()) {
        (_, None) => None,
        (false, Some("closed")) | (true, Some("open")) => Some(Relay::Closed),
        (false, Some("open")) | (true, Some("closed")) => Some(Relay::Open),
        (_, Some(other)) => return Err(format!("{switch_field} {other:.20} is neither open nor closed")),
    };
    Ok(Telemetry { meter_no: meter_no.to_string(), at, total, tariffs, supply, water })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topics() {
        assert_eq!(split_topic("site/a/000000000001/reading"), Some(("site/a", "000000000001")));
        for bad in ["000000000001/reading", "site/00000000001/reading", "site/00000000000x/reading", "site/x"] {
            assert_eq!(split_topic(bad), None, "{bad}");
        }
    }

    #[test]
    fn electricity_and_water() {
        let t = parse(
            "000000000001",
            br#"{"meter":"000000000001","at":"2026-11-23T08:00:00Z","energy_total_kwh":"12.345",
                 "energy_sharp_kwh":1,"energy_peak_kwh":"2.5","energy_flat_kwh":"3.25","energy_valley_kwh":"5.595",
                 "relay":"open","power_w":1200}"#,
        )
        .unwrap();
        assert_eq!(
            (t.total, t.tariffs, t.supply, t.water),
            (12_345, Some([1_000, 2_500, 3_250, 5_595]), Some(Relay::Open), false)
        );
        let w = parse(
            "000000000002",
            br#"{"meter":"000000000002","at":"2026-11-23T08:00:00+08:00","utility":"water","volume_m3":"7.001","valve":"open"}"#,
        )
        .unwrap();
        assert_eq!((w.total, w.supply, w.water), (7_001, Some(Relay::Closed), true));
    }

    proptest::proptest! {
        #[test]
        fn any_payload_is_read_or_refused_never_a_panic(payload in proptest::collection::vec(proptest::num::u8::ANY, 0..300)) {
            let _ = parse("000000000001", &payload);
        }

        #[test]
        fn register_values_are_read_exactly(whole in 0_i64..1_000_000_000, frac in 0_i64..1_000, quoted: bool) {
            let text = format!("{whole}.{frac:03}");
            let value = if quoted { format!("\"{text}\"") } else { text };
            let payload = format!(
                r#"{{"meter":"000000000001","at":"2026-11-23T08:00:00Z","energy_total_kwh":{value}}}"#
            );
            let t = parse("000000000001", payload.as_bytes()).unwrap();
            proptest::prop_assert_eq!(t.total, whole * 1_000 + frac);
        }
    }

    #[test]
    fn refusals_say_why() {
        let cases: [(&[u8], &str); 10] = [
            (b"[1]", "not a JSON object"),
            (br#"{"meter":"000000000009","at":"2026-11-23T08:00:00Z","energy_total_kwh":"1"}"#, "the topic of"),
            (br#"{"meter":"000000000001","energy_total_kwh":"1"}"#, "no at"),
            (br#"{"meter":"000000000001","at":"yesterday","energy_total_kwh":"1"}"#, "RFC 3339"),
            (br#"{"meter":"000000000001","at":"2026-11-23T08:00:00Z"}"#, "no energy_total_kwh"),
            (br#"{"meter":"000000000001","at":"2026-11-23T08:00:00Z","energy_total_kwh":"1.2345"}"#, "three decimals"),
            (br#"{"meter":"000000000001","at":"2026-11-23T08:00:00Z","energy_total_kwh":-1}"#, "three decimals"),
            (br#"{"meter":"000000000001","at":"2026-11-23T08:00:00Z","energy_total_kwh":1e3}"#, "three decimals"),
            (
                br#"{"meter":"000000000001","at":"2026-11-23T08:00:00Z","energy_total_kwh":"1","energy_peak_kwh":"1"}"#,
                "all four",
            ),
            (br#"{"meter":"000000000001","at":"2026-11-23T08:00:00Z","energy_total_kwh":"1","relay":"on"}"#, "neither"),
        ];
        for (payload, why) in cases {
            let e = parse("000000000001", payload).unwrap_err();
            assert!(e.contains(why), "{e} for {}", String::from_utf8_lossy(payload));
        }
        assert!(parse("000000000001", &vec![b' '; PAYLOAD_MAX + 1]).unwrap_err().contains("over"));
    }
}
