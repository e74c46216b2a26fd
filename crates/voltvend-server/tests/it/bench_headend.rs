//! The head end's benchmarks run end to end at a small size: `voltvend bench poll` (a full poll cycle of a
//! simulated fleet over TCP gateways, every meter read and billed) and `voltvend bench relay` (every meter
//! tripped by a reading and closed by a sale), each printing its baseline beside it and running again on its own
//! database. No timing is asserted.

use crate::support::{sqlite_url, voltvend};

#[test]
fn bench_poll_reads_and_bills_every_meter_beside_a_read_only_baseline() {
    let dir = tempfile::tempdir().unwrap();
    let url = sqlite_url(dir.path());
    let migrate = voltvend().args(["--database-url", &url, "migrate"]).output().unwrap();
    assert!(migrate.status.success(), "{}", String::from_utf8_lossy(&migrate.stderr));
    for _ in 0..2 {
        let out = voltvend()
            .args(["--database-url", &url, "bench", "poll", "--meters", "40", "--per-gateway", "16"])
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{text}{}", String::from_utf8_lossy(&out.stderr));
        assert!(text.contains("40 meters behind 3 gateways of 16"), "{text}");
        assert!(text.contains("poll cycle, read + priced + debited: 40 meters in"), "{text}");
        assert!(text.contains("baseline, the same reads with nothing stored"), "{text}");
    }
    let refused = voltvend().args(["--database-url", &url, "bench", "poll", "--per-gateway", "0"]).output().unwrap();
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("at least 1"));
}

#[test]
fn bench_relay_trips_and_closes_every_meter_beside_a_bare_control_baseline() {
    let dir = tempfile::tempdir().unwrap();
    let url = sqlite_url(dir.path());
    let migrate = voltvend().args(["--database-url", &url, "migrate"]).output().unwrap();
    assert!(migrate.status.success(), "{}", String::from_utf8_lossy(&migrate.stderr));
    for _ in 0..2 {
        let out = voltvend()
            .args(["--database-url", &url, "bench", "relay", "--meters", "12", "--concurrency", "4"])
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{text}{}", String::from_utf8_lossy(&out.stderr));
        assert!(text.contains("12 meters, 4 at a time"), "{text}");
        assert!(text.contains("reading that uses up the credit → relay open at the meter: p50"), "{text}");
        assert!(text.contains("sale that restores the credit → relay closed at the meter: p50"), "{text}");
        assert!(text.contains("baseline, a bare control request"), "{text}");
    }
}
