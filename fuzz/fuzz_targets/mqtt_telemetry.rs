//! A message from an MQTT broker: any topic and payload is refused or read without panicking, and what is read
//! is the meter the topic names, with registers that are not negative.
#![no_main]

use libfuzzer_sys::fuzz_target;
use voltvend_headend::mqtt;

fuzz_target!(|input: (&str, &[u8])| {
    let (topic, payload) = input;
    if let Some((_, meter_no)) = mqtt::split_topic(topic) {
        if let Ok(t) = mqtt::parse(meter_no, payload) {
            assert_eq!(t.meter_no, meter_no);
            assert!(t.total >= 0 && t.tariffs.is_none_or(|r| r.iter().all(|v| *v >= 0)));
        }
    }
});
