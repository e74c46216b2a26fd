//! `voltvend bench tokens` runs at a tiny size: every kind of token is made on one core and on every core, the
//! `openpaygo` package makes the same OpenPAYGO token beside it (and it must be ours), and the JSON file holds
//! the same figures. No timing is asserted.

use crate::support::{bench_json, voltvend};

#[test]
fn bench_tokens_makes_every_kind_beside_the_openpaygo_package() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("tokens.json");
    let out = voltvend()
        .args(["bench", "tokens", "--seconds", "0.05", "--threads", "2", "--json", json.to_str().unwrap()])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}{}", String::from_utf8_lossy(&out.stderr));
    for kind in [
        "STS EA07 (STA)",
        "STS EA07, decoder key derived",
        "STS EA11 (MISTY1)",
        "STS EA11, decoder key derived",
        "OpenPAYGO",
    ] {
        assert!(text.lines().any(|l| l.starts_with("measured") && l.contains(kind)), "{kind}: {text}");
    }
    let report = bench_json(&json, "tokens");
    let figures = report["figures"].as_array().unwrap();
    assert_eq!(figures.len(), 5, "{report}");
    assert!(
        figures
            .iter()
            .all(|f| f["per_s_one_core"].as_f64().unwrap() > 0.0 && f["per_s_all_threads"].as_f64().unwrap() > 0.0)
    );
    let peer = voltvend_testkit::python_imports("openpaygo");
    if voltvend_testkit::peer_available(peer, "python3 with the openpaygo package (pip install openpaygo)") {
        assert!(text.contains("the same token, digit for digit"), "{text}");
        assert_eq!(report["baseline"]["same_token"], true, "{report}");
        assert!(report["ratios"]["openpaygo_per_python_one_core"].as_f64().unwrap() > 0.0);
    }
    let refused = voltvend().args(["bench", "tokens", "--seconds", "0"]).output().unwrap();
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("--seconds"));
}

#[test]
fn bench_plot_draws_one_bar_per_run_in_order_of_x() {
    let dir = tempfile::tempdir().unwrap();
    let mut files = Vec::new();
    for (clients, rate) in [(64, 2_400.5), (1, 310.0), (16, 1_900.25)] {
        let path = dir.path().join(format!("vend-{clients}.json"));
        let doc = serde_json::json!({ "bench": "vend", "scenario": { "clients": clients },
                                      "figures": [{ "per_s": rate }] });
        std::fs::write(&path, doc.to_string()).unwrap();
        files.push(path);
    }
    let svg = dir.path().join("curve.svg");
    // `bench plot --x X --y Y --decimals D` over `files`, drawn to `svg`.
    let plot = |x: &str, y: &str, decimals: &str, files: &[std::path::PathBuf]| {
        voltvend()
            .args(["bench", "plot", "--x", x, "--y", y, "--decimals", decimals, "--title", "Sales per second"])
            .arg("--out")
            .arg(&svg)
            .args(files)
            .output()
            .unwrap()
    };
    let out = plot("scenario.clients", "figures.0.per_s", "1", &files);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let drawn = std::fs::read_to_string(&svg).unwrap();
    assert!(drawn.starts_with("<svg") && drawn.contains("<style>"), "{drawn}");
    let bars: Vec<&str> = drawn.split("<rect class=\"bar\"").skip(1).collect();
    assert_eq!(bars.len(), 3, "{drawn}");
    // In order of x, each with its value (rounded to the decimals asked for).
    for (bar, want) in bars.iter().zip(["1: 310.0", "16: 1900.3", "64: 2400.5"]) {
        assert!(bar.contains(&format!("<title>{want}</title>")), "{want}: {bar}");
    }
    // Figures under one unit keep their decimals on the axis too; one too large to draw is refused.
    let small = dir.path().join("small.json");
    for (cycle_s, drawable) in [(0.48, true), (1e15, false)] {
        let doc = serde_json::json!({ "scenario": { "meters": 1000 }, "figures": { "cycle_s": cycle_s } });
        std::fs::write(&small, doc.to_string()).unwrap();
        let out = plot("scenario.meters", "figures.cycle_s", "2", std::slice::from_ref(&small));
        assert_eq!(out.status.success(), drawable, "{}", String::from_utf8_lossy(&out.stderr));
    }
    // The refused one wrote nothing: the drawing is the first's, whose axis labels (wherever its grid falls) are
    // all figures with two decimals, not whole units rounded down to 0.
    let drawn = std::fs::read_to_string(&svg).unwrap();
    assert!(drawn.contains("<title>1000: 0.48</title>"), "{drawn}");
    let axis: Vec<&str> = drawn
        .split("<text class=\"axis\"")
        .skip(1)
        .filter_map(|t| t.split_once('>').and_then(|(_, rest)| rest.split_once("</text>")).map(|(label, _)| label))
        .filter(|label| *label != "1000")
        .collect();
    assert!(axis.len() >= 2, "{drawn}");
    for label in &axis {
        let decimals = label.split_once('.').map(|(whole, frac)| (whole.parse::<u32>().is_ok(), frac.len()));
        assert_eq!(decimals, Some((true, 2)), "axis label {label:?} in {drawn}");
    }
    assert!(axis.iter().any(|l| l.starts_with("0.") && *l != "0.00"), "a grid line under one unit: {axis:?}");
    // A path that is not in a file names both.
    let missing = plot("scenario.threads", "figures.0.per_s", "0", &files[..1]);
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("scenario.threads"));
}
