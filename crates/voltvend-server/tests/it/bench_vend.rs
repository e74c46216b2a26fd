//! `voltvend bench vend`, small: it sets up its estate, serves, drives the API, prints its table, and every
//! sale was answered 201 and written once. No figure is asserted: timing belongs to benchmarks, not tests.

use std::process::{Output, Stdio};

use serde_json::Value;

use crate::support::{sqlite_url, stdout, voltvend};

fn bench_vend(url: &str, json: &std::path::Path) -> Output {
    voltvend()
        // pgbench is a baseline of its own; the smoke test does not wait for it.
        .env_remove("VOLTVEND_BENCH_PGBENCH_URL")
        .args(["--database-url", url, "bench", "vend", "--accounts", "20", "--clients", "4", "--rate", "50"])
        .args(["--duration-s", "1", "--json", json.to_str().unwrap()])
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

#[test]
fn bench_vend_small_every_sale_answered_201_and_written_once() {
    let dir = tempfile::tempdir().unwrap();
    // No `migrate` first: the bench makes its own database.
    let url = sqlite_url(dir.path());
    let json = dir.path().join("vend.json");
    // The second run is on the database the first one left: a bench database is reused, with a new estate.
    for run in 1..=2 {
        let o = bench_vend(&url, &json);
        let out = stdout(&o);
        assert!(o.status.success(), "run {run}: {o:?}");
        for needle in [
            "figure",
            "(a) sales/s, closed loop, 4 conn.",
            "(c) GET /healthz",
            "(b) p99 at 50/s offered (ms)",
            "(b) p99.9 at 50/s offered (ms)",
            "(d) pgbench TPC-B: skipped",
            "sales answered 201",
            "sales written, equal to the",
            "every invariant holds",
            "writer per commit: load ",
        ] {
            assert!(out.contains(needle), "run {run}: {needle:?} missing from:\n{out}");
        }
        let v: Value = crate::support::bench_json(&json, "vend");
        let checks = &v["checks"];
        let created = checks["sales_answered_201"].as_u64().unwrap();
        assert!(created > 0, "{checks}");
        assert_eq!(checks["sales_sent"].as_u64(), Some(created), "every sale answered 201: {checks}");
        assert_eq!(checks["sales_other_answers"], serde_json::json!({}));
        assert_eq!(checks["sales_written"].as_u64(), Some(created), "{checks}");
        assert_eq!(checks["sts_sales_with_token"], checks["sts_sales_201"]);
        assert!(checks["sts_sales_201"].as_u64().unwrap() > 0, "STS sales were made: {checks}");
        assert_eq!(v["backend"], "sqlite");
        assert_eq!(v["scenario"]["accounts"], 20);
        assert!(v["baseline"]["healthz_per_s_closed_loop"].as_f64().unwrap() > 0.0);
        assert!(v["baseline"]["pgbench_skipped"].is_string());
        let steps = &v["figures"]["writer_ms_per_commit"];
        for step in ["load", "apply", "write", "commit"] {
            assert!(steps[step].as_f64().is_some_and(|ms| ms >= 0.0), "{step}: {v}");
        }
    }
}
