//! Readings published over MQTT, as a gateway's telemetry would publish them: every meter's registers as a
//! retained JSON message on `PREFIX/METER_NO/reading` (QoS 1), every interval. The payload format is
//! documented in docs/meters.md; the head end's MQTT ingestion reads the same format.

use std::time::Duration;

use rumqttc::{AsyncClient, MqttOptions, QoS};

use crate::fleet::SimMeter;
use crate::gateway::SharedFleet;

/// One meter's reading as published over MQTT.
pub fn reading_json(m: &SimMeter, at: jiff::Timestamp) -> String {
    let kwh = |wh: i64| format!("{}.{:03}", wh / 1_000, wh % 1_000);
    if m.is_water() {
        return serde_json::json!({
            "meter": m.address.meter_no(),
            "at": at.to_string(),
            "utility": "water",
            "volume_m3": kwh(m.register_wh(0)),
            "flow_l_per_h": m.power_w(),
            "valve": if m.controller.relay_closed() { "open" } else { "closed" },
        })
        .to_string();
    }
    serde_json::json!({
        "meter": m.address.meter_no(),
        "at": at.to_string(),
        "energy_total_kwh": kwh(m.register_wh(0)),
        "energy_sharp_kwh": kwh(m.register_wh(1)),
        "energy_peak_kwh": kwh(m.register_wh(2)),
        "energy_flat_kwh": kwh(m.register_wh(3)),
        "energy_valley_kwh": kwh(m.register_wh(4)),
        "power_w": m.power_w(),
        "relay": if m.controller.relay_closed() { "closed" } else { "open" },
        "credit_kwh": kwh(m.controller.credit()),
    })
    .to_string()
}

/// Publishes every meter's reading to the broker at `host:port` every `interval` (QoS 1, retained), with
/// `client_id`, reconnecting after connection errors. Runs on the current Tokio runtime until it stops.
pub fn start_publisher(host: &str, port: u16, client_id: &str, prefix: &str, interval: Duration, fleet: SharedFleet) {
    let mut options = MqttOptions::new(client_id, host, port);
    options.set_keep_alive(Duration::from_secs(30));
    // The request queue bounds memory if the broker is slow: publishing waits for room.
    let (client, mut eventloop) = AsyncClient::new(options, 1_024);
    tokio::spawn(async move {
        loop {
            if let Err(e) = eventloop.poll().await {
                tracing::warn!(error = %e, "MQTT connection error; reconnecting");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    });
    let prefix = prefix.trim_end_matches('/').to_string();
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(interval);
        loop {
            ticks.tick().await;
            let batch: Vec<(String, String)> = {
                let f = fleet.lock().unwrap_or_else(|p| p.into_inner());
                f.meters()
                    .iter()
                    .map(|m| (format!("{prefix}/{}/reading", m.address.meter_no()), reading_json(m, f.now())))
                    .collect()
            };
            for (topic, payload) in batch {
                if let Err(e) = client.publish(topic, QoS::AtLeastOnce, true, payload).await {
                    tracing::warn!(error = %e, "MQTT publish failed");
                }
            }
        }
    });
}
