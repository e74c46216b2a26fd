//! The head end's benchmarks run end to end at a small size: `voltvend bench poll` (a full poll cycle of a
//! simulated fleet over TCP gateways, every meter read and billed) and `voltvend bench relay` (every meter
//! tripped by a reading and closed by a sale), each printing its baseline beside it and running again on its own
//! database. No timing is asserted.

use crate::support::{bench_json, sqlite_url, voltvend};

/// Runs `voltvend bench ARGS…` twice on one new database (a bench runs again on its own database) and
/// checks each run's output holds every one of `expect`; returns the database URL.
fn twice(dir: &std::path::Path, args: &[&str], expect: &[&str]) -> String {
    let url = sqlite_url(dir);
    let migrate = voltvend().args(["--database-url", &url, "migrate"]).output().unwrap();
    assert!(migrate.status.success(), "{}", String::from_utf8_lossy(&migrate.stderr));
    for _ in 0..2 {
        let out = voltvend().args(["--database-url", &url, "bench"]).args(args).output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{text}{}", String::from_utf8_lossy(&out.stderr));
        for e in expect {
            assert!(text.contains(e), "{e}: {text}");
        }
    }
    url
}

#[test]
fn bench_poll_reads_and_bills_every_meter_beside_a_read_only_baseline() {
    let dir = tempfile::tempdir().unwrap();
    let url = twice(
        dir.path(),
        &["poll", "--meters", "40", "--per-gateway", "16", "--json", dir.path().join("poll.json").to_str().unwrap()],
        &[
            "40 meters behind 3 gateways of 16",
            "poll cycle, read + priced + debited: 40 meters in",
            "baseline, the same reads with nothing stored",
            "resident per simulated meter (goal ≤ 1 KiB)",
        ],
    );
    let report = bench_json(&dir.path().join("poll.json"), "poll");
    assert!(report["figures"]["meters_per_s"].as_f64().unwrap() > 0.0, "{report}");
    assert!(report["ratios"]["cycle_per_bare_reads"].as_f64().unwrap() > 0.0, "{report}");
    let refused = voltvend().args(["--database-url", &url, "bench", "poll", "--per-gateway", "0"]).output().unwrap();
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("at least 1"));
}

#[test]
fn bench_relay_trips_and_closes_every_meter_beside_a_bare_control_baseline() {
    let dir = tempfile::tempdir().unwrap();
    twice(
        dir.path(),
        &["relay", "--meters", "12", "--concurrency", "4", "--json", dir.path().join("relay.json").to_str().unwrap()],
        &[
            "12 meters, 4 at a time",
            "reading that uses up the credit → relay open at the meter: p50",
            "sale that restores the credit → relay closed at the meter: p50",
            "baseline, a bare control request",
        ],
    );
    let report = bench_json(&dir.path().join("relay.json"), "relay");
    assert!(report["figures"]["reading_to_trip"]["p99_ms"].as_f64().is_some(), "{report}");
    assert!(report["baseline"]["bare_control_and_status"]["p50_ms"].as_f64().is_some(), "{report}");
}
