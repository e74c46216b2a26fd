//! Issue 10: messages say what is wrong. Each row is a mistake a new user makes, and what the one line on
//! stderr must say about it.

use std::net::TcpListener;

use crate::support::{assert_one_line_error, migrated_sqlite, run, stderr, voltvend};

#[test]
fn mistakes_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let empty_dir = dir.path().join("conf.d");
    std::fs::create_dir(&empty_dir).unwrap();
    let url = migrated_sqlite(dir.path());
    let meter = ["--pan", "600727000000000009", "--sgc", "123456", "--ti", "1"];
    let rows: Vec<(Vec<&str>, Vec<&str>)> = vec![
        (
            vec!["token", "decode", "2371 6100 5011 8319 4197", "--decoder-key", "E653341F9D5BF3"],
            vec!["16 hex digits", "14 digits were given"],
        ),
        (
            [
                &["token", "issue"][..],
                &meter,
                &["--decoder-key", "E653341F9D5BF36F", "--last-tid", "16777216", "--electricity-kwh", "1"],
            ]
            .concat(),
            vec!["--last-tid 16777216", "largest TID, 16777215"],
        ),
        (
            [&["token", "issue"][..], &meter, &["--decoder-key", "E653341F9D5BF36F", "--max-power-w", "99999999"]]
                .concat(),
            vec!["--max-power-w 99999999", "W"],
        ),
        (
            vec!["--database-url", &url, "user", "add", "--username", "Admin", "--password-stdin"],
            vec!["lowercase", "\"admin\""],
        ),
        (
            vec!["--database-url", &url, "user", "add", "--username", "a b", "--password-stdin"],
            vec!["--username", "2–64"],
        ),
        (vec!["--config", empty_dir.to_str().unwrap(), "config", "show"], vec!["is a directory"]),
    ];
    for (args, needles) in &rows {
        let o = run(args, "correct horse battery staple\n");
        for needle in needles {
            assert_one_line_error(&o, needle);
        }
    }
    // An empty config path is a usage error (clap's, with its usage hint).
    let o = run(&["--config", "", "config", "show"], "");
    assert!(!o.status.success() && stderr(&o).contains("'--config <FILE>'"), "{o:?}");
    // A tax rate out of range is named by the key the tariff file uses.
    let t = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tariffs/za-municipal-ibt-fbe.toml");
    let bad = dir.path().join("bad.toml");
    std::fs::write(
        &bad,
        std::fs::read_to_string(t).unwrap().replace("rate_percent = \"15\"", "rate_percent = \"150\""),
    )
    .unwrap();
    assert_one_line_error(&run(&["tariff", "show", bad.to_str().unwrap()], ""), "versions[0].taxes[0].rate_percent");
}

/// A PostgreSQL server that refuses connections is reported as refusing them, at the first attempt: the
/// timeout is set far beyond what the test would wait for, so only the first attempt's error can answer.
#[test]
fn a_refused_postgres_connection_says_so() {
    let o = voltvend()
        .env("VOLTVEND__DATABASE__CONNECT_TIMEOUT_MS", "600000")
        .args(["--database-url", "postgres://voltvend@127.0.0.1:1/voltvend", "migrate"])
        .output()
        .unwrap();
    assert_one_line_error(&o, "refused");
    assert!(!stderr(&o).contains("timed out"), "{}", stderr(&o));
}

/// A port in use stops `serve` before it creates a database.
#[test]
fn a_port_in_use_fails_before_a_database_is_created() {
    let dir = tempfile::tempdir().unwrap();
    let busy = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = busy.local_addr().unwrap().to_string();
    let file = dir.path().join("new.sqlite");
    let url = format!("sqlite://{}", file.display());
    let o = run(&["--database-url", &url, "serve", "--listen", &port], "");
    assert!(!o.status.success(), "{o:?}");
    assert!(!file.exists(), "a database was created although the port was taken");
}

/// Logs written to a pipe carry no terminal colour codes.
#[test]
fn logs_to_a_pipe_have_no_colour_codes() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("v.sqlite").display());
    let o = voltvend().env("VOLTVEND__LOG__LEVEL", "debug").args(["--database-url", &url, "migrate"]).output().unwrap();
    assert!(o.status.success(), "{o:?}");
    assert!(!stderr(&o).is_empty(), "debug logging wrote something");
    assert!(!stderr(&o).contains('\u{1b}'), "{}", stderr(&o));
}

/// `migrate` says what it did: applied the schema, or found it up to date.
#[test]
fn migrate_says_what_it_applied() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("v.sqlite").display());
    let first = crate::support::stdout(&run(&["--database-url", &url, "migrate"], ""));
    assert!(first.contains("applied the schema migrations"), "{first}");
    // Each by its version and name, from the first to the last the binary carries.
    assert!(first.contains("0001 init") && first.contains("0005 headend"), "{first}");
    let again = crate::support::stdout(&run(&["--database-url", &url, "migrate"], ""));
    assert!(again.contains("nothing to apply"), "{again}");
}
