//! The web UI in headless Chromium (Debian's `chromium` and `chromium-driver`, driven by Selenium from PyPI):
//! tests/browser/ui_flow.py runs the counter, office and security flows of issue 14 against `voltvend demo`,
//! waiting on the page (never on a delay), and writes screenshots of the main pages in both languages to
//! `target/ui-screenshots/` (kept as CI artefacts).

use std::path::PathBuf;
use std::process::Command;

use crate::support::Demo;

fn selenium_available() -> bool {
    let python = Command::new("python3").args(["-c", "import selenium"]).output().is_ok_and(|o| o.status.success());
    python && voltvend_testkit::program_runs("chromium") && voltvend_testkit::program_runs("chromedriver")
}

#[test]
fn the_web_ui_works_in_a_real_browser() {
    if !voltvend_testkit::peer_available(
        selenium_available(),
        "chromium, chromedriver and selenium (pip install selenium)",
    ) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let demo = Demo::start();
    let addr = demo.addr.clone();
    let logins_file = dir.path().join("logins.json");
    std::fs::write(&logins_file, serde_json::to_vec(&demo.logins).unwrap()).unwrap();
    let shots = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("../ui-screenshots");
    // Screenshots of an earlier run must not stand in for this one's.
    let _ = std::fs::remove_dir_all(&shots);
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/browser/ui_flow.py");
    let run = Command::new("python3")
        .arg(&script)
        .args(["--base", &format!("http://{addr}")])
        .arg("--logins")
        .arg(&logins_file)
        .arg("--shots")
        .arg(&shots)
        .output()
        .unwrap();
    assert!(demo.stop(), "the demo stopped cleanly");
    let stdout = String::from_utf8_lossy(&run.stdout);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "the browser flow failed (screenshot in {}):\n{stdout}\n{stderr}", shots.display());
    for step in [
        "a double click sold once",
        "closed its relay",
        "sticks to the operator",
        "approved the reversal",
        "CSV, XLSX and PDF",
        "cannot reach block B",
    ] {
        assert!(stdout.contains(step), "step {step:?} not reported:\n{stdout}");
    }
    for page in [
        "login",
        "shift",
        "counter",
        "confirm",
        "sale",
        "meter",
        "approvals",
        "dashboard",
        "reports",
        "audit",
        "premises",
        "tariff",
        "operators",
        "card",
        "card-meter",
        "apportionment",
        "energy",
        "fees",
        "bills",
    ] {
        for lang in ["zh-CN", "en"] {
            assert!(shots.join(format!("{page}.{lang}.png")).exists(), "screenshot {page}.{lang}.png");
        }
    }
}
