//! Issue 10: no secret is ever printed. Secrets are planted where an operator puts them — the database URL
//! in both password forms, the head end's DL/T 645 password, the vending, master and OpenPAYGO keys in the
//! environment — and the output of every command, successful or not, is searched for them.

use std::process::Output;

use crate::support::{stderr, stdout, voltvend};

const DB_PASSWORD: &str = "PlantedDbPw1x";
const DB_QUERY_PASSWORD: &str = "PlantedDbPw2y";
const DLT645_PASSWORD: &str = "9F3A7C1D";
const VENDING_KEY: &str = "3C5E7A9B1D2F4860";
const MASTER_KEY: &str = "5eed5eed0badc0de5eed5eed0badc0de5eed5eed0badc0de5eed5eed0badc0de";
const OPENPAYGO_KEY: &str = "a1b2c3d4e5f60718293a4b5c6d7e8f90";

fn planted() -> [&'static str; 6] {
    [DB_PASSWORD, DB_QUERY_PASSWORD, DLT645_PASSWORD, VENDING_KEY, MASTER_KEY, OPENPAYGO_KEY]
}

fn run_planted(config: &std::path::Path, args: &[&str]) -> Output {
    let mut c = voltvend();
    c.env("VOLTVEND_VENDING_KEY", VENDING_KEY)
        .env("VOLTVEND_MASTER_KEY", MASTER_KEY)
        .env("VOLTVEND_OPENPAYGO_KEY", OPENPAYGO_KEY)
        .arg("--config")
        .arg(config)
        .args(args)
        .stdin(std::process::Stdio::null());
    c.output().unwrap()
}

fn assert_clean(args: &[&str], o: &Output) {
    let all = format!("{}{}", stdout(o), stderr(o));
    for secret in planted() {
        assert!(!all.contains(secret), "`voltvend {}` printed a secret:\n{all}", args.join(" "));
        assert!(
            !all.to_ascii_lowercase().contains(&secret.to_ascii_lowercase()),
            "`voltvend {}` printed a secret in another case:\n{all}",
            args.join(" ")
        );
    }
}

#[test]
fn no_command_prints_a_planted_secret() {
    let dir = tempfile::tempdir().unwrap();
    // Nothing listens on port 1: every command that needs the database fails at once, saying so.
    let url =
        format!("postgres://voltvend:{DB_PASSWORD}@127.0.0.1:1/voltvend?sslmode=disable&password={DB_QUERY_PASSWORD}");
    let config = dir.path().join("voltvend.toml");
    std::fs::write(
        &config,
        format!(
            "[database]\nurl = \"{url}\"\nconnect_timeout_ms = 500\n[headend]\ndlt645_password = \"{DLT645_PASSWORD}\"\n"
        ),
    )
    .unwrap();
    let tariff = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tariffs/za-municipal-ibt-fbe.toml");
    let tariff = tariff.to_str().unwrap();
    let backups = dir.path().join("backups");
    let backups = backups.to_str().unwrap();
    let key_out = dir.path().join("master.key");
    let key_out = key_out.to_str().unwrap();
    let restore_from = dir.path().join("nothing.sqlite");
    std::fs::write(&restore_from, b"").unwrap();
    let restore_from = restore_from.to_str().unwrap();
    let bad_port = format!("postgres://voltvend:{DB_PASSWORD}@127.0.0.1:notaport/db?password={DB_QUERY_PASSWORD}");
    let meter = ["--pan", "600727000000000009", "--sgc", "123456", "--ti", "1"];
    let commands: Vec<Vec<&str>> = vec![
        vec!["config", "show"],
        vec!["config", "print-default"],
        vec!["migrate"],
        vec!["--database-url", &bad_port, "migrate"],
        vec!["--database-url", &url, "demo", "--listen", "127.0.0.1:0"],
        vec!["serve", "--listen", "127.0.0.1:0"],
        vec!["user", "add", "--username", "admin", "--password-stdin"],
        vec!["backup", "--to", backups],
        vec!["restore", "--from", restore_from, "--force"],
        vec!["check"],
        vec!["check", "--bounded"],
        vec!["audit", "verify"],
        vec!["bench", "ops", "--operations", "1"],
        vec!["bench", "ledger", "--operations", "1"],
        vec!["bench", "vend"],
        vec!["tariff", "list"],
        vec!["tariff", "import", tariff],
        vec!["tariff", "export", "za-municipal-ibt-fbe"],
        vec!["tariff", "show", "za-municipal-ibt-fbe"],
        vec!["tariff", "show", tariff],
        vec!["tariff", "quote", "--tariff", tariff, "--pay", "100"],
        vec!["keys", "generate", "--out", key_out],
        [&["token", "keygen"][..], &meter[..]].concat(),
        [&["token", "issue"][..], &meter[..], &["--electricity-kwh", "10"]].concat(),
        [&["token", "issue"][..], &meter[..], &["--vk-file", "/nonexistent/vk"]].concat(),
        vec!["token", "decode", "1234 5678 9012 3456 7890", "--decoder-key", "0123"],
        vec!["token", "openpaygo", "issue", "--count", "1", "--add", "7"],
        vec!["token", "openpaygo", "decode", "123456789", "--count", "1"],
        vec!["simulate", "--dlt645-listen", "not-an-address"],
    ];
    for args in &commands {
        let o = run_planted(&config, args);
        assert_clean(args, &o);
    }
    // What is shown instead: the configuration with its secrets hidden, still saying where the database is.
    let shown = stdout(&run_planted(&config, &["config", "show"]));
    assert!(shown.contains("postgres://voltvend:***@127.0.0.1:1/voltvend?sslmode=disable&password=***"), "{shown}");
    assert!(shown.contains("dlt645_password = \"***\""), "{shown}");
}
