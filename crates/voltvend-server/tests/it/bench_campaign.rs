//! `voltvend bench campaign` runs: it plans a campaign over every meter it inserted (across several chunks),
//! prints its baseline beside it, leaves a database whose invariants hold, and runs again on its own database.
//! No timing is asserted.

use crate::support::{bench_json, sqlite_url, voltvend};

#[test]
fn bench_campaign_plans_every_meter_beside_a_raw_insert_baseline() {
    let dir = tempfile::tempdir().unwrap();
    let url = sqlite_url(dir.path());
    for _ in 0..2 {
        let json = dir.path().join("campaign.json");
        let out = voltvend()
            .args(["--database-url", &url, "bench", "campaign", "--meters", "12000", "--json"])
            .arg(&json)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{text}{}", String::from_utf8_lossy(&out.stderr));
        assert!(text.contains("12000 meters and key records inserted raw"), "{text}");
        assert!(text.contains("12000 key change sets generated and recorded"), "{text}");
        assert!(text.contains("every invariant holds"), "{text}");
        let report = bench_json(&json, "campaign");
        assert_eq!(report["scenario"]["meters"], 12000);
        assert!(report["ratios"]["per_raw_insert"].as_f64().unwrap() > 0.0, "{report}");
    }
    let refused = voltvend().args(["--database-url", &url, "bench", "campaign", "--meters", "0"]).output().unwrap();
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("--meters"));
}
