//! `voltvend bench ingest` runs, bills every reading it sends, prints its baseline beside it, and leaves a
//! database whose invariants hold; a second run on its own database works again. No timing is asserted.

use crate::support::{bench_json, sqlite_url, voltvend};

#[test]
fn bench_ingest_bills_every_reading_beside_a_raw_insert_baseline() {
    let dir = tempfile::tempdir().unwrap();
    let url = sqlite_url(dir.path());
    let migrate = voltvend().args(["--database-url", &url, "migrate"]).output().unwrap();
    assert!(migrate.status.success(), "{}", String::from_utf8_lossy(&migrate.stderr));
    for _ in 0..2 {
        let out = voltvend()
            .args(["--database-url", &url, "bench", "ingest", "--readings", "1000", "--meters", "8"])
            .args(["--concurrency", "4", "--per-operation", "24", "--json"])
            .arg(dir.path().join("ingest.json"))
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{text}{}", String::from_utf8_lossy(&out.stderr));
        // 1000 readings in operations of 24: 42 operations, 1008 readings, all billed (the run checks that).
        assert!(text.contains("1008 readings priced and debited"), "{text}");
        assert!(text.contains("1008 rows inserted raw"), "{text}");
        assert!(text.contains("every invariant holds"), "{text}");
        let report = bench_json(&dir.path().join("ingest.json"), "ingest");
        assert_eq!((report["backend"].as_str(), report["scenario"]["readings"].as_u64()), (Some("sqlite"), Some(1008)));
        assert!(report["figures"]["readings_per_s"].as_f64().unwrap() > 0.0, "{report}");
        assert!(report["ratios"]["readings_per_raw_row"].as_f64().unwrap() > 0.0, "{report}");
        // Where the writer's time went: each of its four steps, per commit.
        assert!(text.contains("writer per commit: load "), "{text}");
        let steps = &report["figures"]["writer_ms_per_commit"];
        for step in ["load", "apply", "write", "commit"] {
            assert!(steps[step].as_f64().is_some_and(|ms| ms >= 0.0), "{step}: {report}");
        }
    }
    let refused =
        voltvend().args(["--database-url", &url, "bench", "ingest", "--per-operation", "0"]).output().unwrap();
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("at least 1"));
}
