//! Issue 10: every flag does something or is refused. Each row is a command a person might type with a flag
//! that used to be accepted and ignored (or a value that used to be taken); it must fail, say which flag is
//! wrong, print nothing on stdout and change nothing.

use std::process::Output;

use crate::support::{migrated_sqlite, run, stderr, stdout, voltvend};

const VK: &str = "ABABABABABABABAB";
const METER: &[&str] = &["--pan", "600727000000000009", "--sgc", "123456", "--ti", "1"];

fn with_vk(args: &[&str]) -> Output {
    voltvend().env("VOLTVEND_VENDING_KEY", VK).args(args).output().unwrap()
}

fn assert_refused(args: &[&str], o: &Output, needles: &[&str]) {
    assert!(!o.status.success(), "`voltvend {}` was accepted: {o:?}", args.join(" "));
    assert!(stdout(o).is_empty(), "`voltvend {}` printed {:?}", args.join(" "), stdout(o));
    let err = stderr(o);
    for needle in needles {
        assert!(err.contains(needle), "`voltvend {}`: {err:?} lacks {needle:?}", args.join(" "));
    }
}

#[test]
fn flags_that_would_be_ignored_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("r.csv");
    std::fs::write(&csv, "time,total_kwh\n2026-05-01T00:00:00+02:00,0\n2026-05-02T00:00:00+02:00,10\n").unwrap();
    let csv = csv.to_str().unwrap();
    let tariff = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tariffs/za-municipal-ibt-fbe.toml");
    let tariff = tariff.to_str().unwrap();
    let missing_db = format!("sqlite://{}", dir.path().join("none.sqlite").display());
    fn credit<'a>(extra: &[&'a str]) -> Vec<&'a str> {
        [&["token", "issue"][..], METER, &["--electricity-kwh", "5"], extra].concat()
    }
    fn quote<'a>(tariff: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
        [&["tariff", "quote", "--tariff", tariff][..], extra].concat()
    }
    let rows: Vec<(Vec<&str>, Vec<&str>)> = vec![
        (credit(&["--rollover"]), vec!["--key-change"]),
        (credit(&["--new-krn", "2"]), vec!["--new-krn", "--key-change"]),
        (credit(&["--new-sgc", "654321"]), vec!["--new-sgc", "--key-change"]),
        (credit(&["--control", "1"]), vec!["--control", "--test"]),
        (credit(&["--manufacturer", "7"]), vec!["--manufacturer", "--test"]),
        ([&["token", "issue", "--test"][..], METER].concat(), vec!["the meter", "ignored"]),
        ([&["token", "issue"][..], METER, &["--key-change", "--new-krn", "2", "--rnd", "3"]].concat(), vec!["--rnd"]),
        ([&["token", "issue"][..], METER, &["--electricity-kwh", "0"]].concat(), vec!["nothing to issue"]),
        ([&["token", "issue"][..], METER, &["--water-m3", "0.0"]].concat(), vec!["nothing to issue"]),
        (quote(tariff, &["--pay", "500", "--readings", csv]), vec!["--readings", "--pay"]),
        (quote(tariff, &["--readings", csv, "--block-position", "40"]), vec!["--pay"]),
        (quote(tariff, &["--readings", csv, "--arrears", "10"]), vec!["--pay"]),
        (quote(tariff, &["--readings", csv, "--at", "2026-05-01T10:00:00+02:00"]), vec!["--pay"]),
        (quote(tariff, &["--pay", "500", "--recovery-percent", "101"]), vec!["--recovery-percent", "0 to 100"]),
        (quote(tariff, &["--pay", "500", "--recovery-percent=-5"]), vec!["--recovery-percent", "0 to 100"]),
        (quote(tariff, &["--pay=-5"]), vec!["--pay", "negative"]),
        (quote(tariff, &["--pay", "5", "--arrears=-1"]), vec!["--arrears", "negative"]),
        (quote(tariff, &["--pay", "5", "--block-position=-1"]), vec!["--block-position"]),
        (vec!["simulate", "--meters", "2", "--water-meters", "3"], vec!["--water-meters", "--meters"]),
        (
            vec!["simulate", "--meters", "2", "--dial-in", "127.0.0.1:1", "--dial-in-meters", "3"],
            vec!["--dial-in-meters", "--meters"],
        ),
        (vec!["simulate", "--meters", "2", "--dial-in-meters", "1"], vec!["--dial-in"]),
        (vec!["simulate", "--meters", "2", "--fault-silent", "3"], vec!["--fault-silent"]),
        (vec!["simulate", "--mqtt-interval-s", "5"], vec!["--mqtt-broker"]),
        (vec!["--database-url", &missing_db, "bench", "ledger", "--concurrency", "0"], vec!["--concurrency"]),
        (vec!["--database-url", &missing_db, "bench", "ops", "--accounts", "0"], vec!["--accounts"]),
    ];
    for (args, needles) in &rows {
        assert_refused(args, &with_vk(args), needles);
    }
    assert!(!dir.path().join("none.sqlite").exists(), "no database was created");

    // An unknown log level would silence every log line: refused, naming the key.
    let o = voltvend().env("VOLTVEND__LOG__LEVEL", "infoo").args(["config", "show"]).output().unwrap();
    assert_refused(&["config", "show"], &o, &["log.level", "infoo"]);

    // The same flags where they belong are taken.
    for args in [
        vec!["token", "issue", "--test", "--control", "1", "--manufacturer", "7"],
        [&["token", "issue"][..], METER, &["--key-change", "--new-krn", "2", "--base", "93", "--rollover"]].concat(),
        quote(tariff, &["--pay", "500", "--recovery-percent", "100", "--arrears", "10", "--block-position", "40"]),
        quote(tariff, &["--readings", csv]),
    ] {
        let o = with_vk(&args);
        assert!(o.status.success(), "`voltvend {}`: {o:?}", args.join(" "));
    }
}

#[test]
fn user_add_refuses_root_group_flags_once_a_root_exists() {
    let dir = tempfile::tempdir().unwrap();
    let url = migrated_sqlite(dir.path());
    let first = ["--database-url", &url, "user", "add", "--username", "admin", "--password-stdin"];
    let o = run(
        &[&first[..], &["--organisation", "Riverside", "--time-zone", "Africa/Johannesburg"]].concat(),
        "correct horse battery staple\n",
    );
    assert!(o.status.success() && stdout(&o).contains("Riverside"), "{o:?}");
    for extra in [&["--time-zone", "Asia/Shanghai"][..], &["--organisation", "Elsewhere"][..]] {
        let args =
            [&["--database-url", &url, "user", "add", "--username", "cashier", "--password-stdin"][..], extra].concat();
        let o = run(&args, "another long passphrase here\n");
        assert_refused(&args, &o, &["exists already", "Riverside"]);
    }
    // Nothing was added: the same operator is added once the flags are left out.
    let o = run(
        &["--database-url", &url, "user", "add", "--username", "cashier", "--password-stdin"],
        "another long passphrase here\n",
    );
    assert!(o.status.success(), "{o:?}");
}
