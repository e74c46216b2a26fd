//! `voltvend bench report` runs: it makes the sales, pages them raw as its baseline, prints the month's report
//! and both exports with every row in them (the CSV's rows are counted), and runs again on its own database.
//! No timing or memory figure is asserted.

use crate::support::{bench_json, sqlite_url, voltvend};

#[test]
fn bench_report_exports_every_sale_beside_a_raw_paging_baseline() {
    let dir = tempfile::tempdir().unwrap();
    let url = sqlite_url(dir.path());
    for _ in 0..2 {
        let out = voltvend()
            .args(["--database-url", &url, "bench", "report", "--sales", "2500", "--accounts", "16", "--json"])
            .arg(dir.path().join("report.json"))
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{text}{}", String::from_utf8_lossy(&out.stderr));
        assert!(text.contains("2500 sales paged raw out of the store"), "{text}");
        assert!(text.contains("the month's sales report by day"), "{text}");
        assert!(text.contains("2500 rows exported as csv") && text.contains("2500 rows exported as xlsx"), "{text}");
        let report = bench_json(&dir.path().join("report.json"), "report");
        assert!(report["figures"]["csv_export"]["rows_per_s"].as_f64().unwrap() > 0.0, "{report}");
        assert!(report["figures"]["xlsx_export"]["bytes"].as_u64().unwrap() > 0, "{report}");
        assert!(report["figures"]["sales_report_by_day_s"].as_f64().is_some(), "{report}");
    }
    let refused = voltvend().args(["--database-url", &url, "bench", "report", "--sales", "0"]).output().unwrap();
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("--sales"));
}
