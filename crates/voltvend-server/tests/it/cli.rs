use voltvend_store::OpenOptions;

use crate::support::{assert_one_line_error, clock, run, sqlite_url, stdout};

#[test]
fn bad_configuration_fails_fast_with_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let garbage = dir.path().join("garbage.toml");
    std::fs::write(&garbage, "\u{0}\u{7}[[[ not toml").unwrap();
    let o = run(&["--config", garbage.to_str().unwrap(), "migrate"], "");
    assert_one_line_error(&o, "bad configuration");

    let typo = dir.path().join("typo.toml");
    std::fs::write(&typo, "[server]\nlisten_adress = \"127.0.0.1:1\"\n").unwrap();
    assert_one_line_error(&run(&["--config", typo.to_str().unwrap(), "migrate"], ""), "listen_adress");

    assert_one_line_error(&run(&["--config", "/nonexistent/voltvend.toml", "migrate"], ""), "not found");
    assert_one_line_error(&run(&["--database-url", "mysql://db/x", "migrate"], ""), "sqlite:// or postgres://");
}

#[test]
fn unreachable_database_is_one_clear_line() {
    let mut cmd = crate::support::voltvend();
    cmd.env("VOLTVEND__DATABASE__CONNECT_TIMEOUT_MS", "500");
    let o = cmd.args(["--database-url", "postgres://voltvend:secret@127.0.0.1:9/none", "migrate"]).output().unwrap();
    assert_one_line_error(&o, "database unavailable");
    assert!(!crate::support::stderr(&o).contains("secret"), "passwords are never printed");

    let dir = tempfile::tempdir().unwrap();
    let blocker = dir.path().join("file");
    std::fs::write(&blocker, "x").unwrap();
    let url = format!("sqlite://{}/sub/v.sqlite", blocker.display());
    assert_one_line_error(&run(&["--database-url", &url, "migrate"], ""), "database unavailable");
}

#[test]
fn printed_default_config_is_loadable() {
    let dir = tempfile::tempdir().unwrap();
    let o = run(&["config", "print-default"], "");
    assert!(o.status.success());
    let file = dir.path().join("voltvend.toml");
    std::fs::write(&file, stdout(&o)).unwrap();
    let shown = run(&["--config", file.to_str().unwrap(), "--database-url", "sqlite://x.sqlite", "config", "show"], "");
    assert!(shown.status.success(), "{shown:?}");
    assert!(stdout(&shown).contains("url = \"sqlite://x.sqlite\""), "flags override the file");
}

#[tokio::test]
async fn first_administrator_gets_an_argon2id_hash() {
    let dir = tempfile::tempdir().unwrap();
    let url = sqlite_url(dir.path());
    let o = run(
        &[
            "--database-url",
            &url,
            "user",
            "add",
            "--username",
            "admin",
            "--password-stdin",
            "--time-zone",
            "Asia/Shanghai",
        ],
        "correct horse battery\n",
    );
    assert!(o.status.success(), "{o:?}");
    assert!(stdout(&o).contains("created root group"));
    // Without a terminal or --password-stdin a password is generated and shown once.
    let o = run(&["--database-url", &url, "user", "add", "--username", "cashier1", "--role", "cashier"], "");
    let generated = stdout(&o)
        .lines()
        .find_map(|l| l.strip_prefix("generated password (shown once): ").map(str::to_string))
        .unwrap();
    assert_one_line_error(
        &run(&["--database-url", &url, "user", "add", "--username", "admin", "--password-stdin"], "x\n"),
        "already exists",
    );
    assert_one_line_error(
        &run(&["--database-url", &url, "user", "add", "--username", "Bad Name", "--password-stdin"], "x\n"),
        "username",
    );
    assert_one_line_error(
        &run(&["--database-url", &url, "user", "add", "--username", "short", "--password-stdin"], "abc\n"),
        "10",
    );
    assert_one_line_error(
        &run(
            &["--database-url", &url, "user", "add", "--username", "boss", "--role", "king", "--password-stdin"],
            "correct horse battery\n",
        ),
        "role",
    );

    let store = voltvend_store::open(&OpenOptions::new(&url), clock()).await.unwrap();
    let admin = store.operator_by_username("admin").await.unwrap().unwrap();
    assert!(admin.password_hash.starts_with("$argon2id$"));
    assert!(voltvend_server::passwords::verify("correct horse battery", &admin.password_hash));
    assert!(!voltvend_server::passwords::verify("correct horse batter", &admin.password_hash));
    let cashier = store.operator_by_username("cashier1").await.unwrap().unwrap();
    assert!(voltvend_server::passwords::verify(&generated, &cashier.password_hash));
    assert_eq!(store.premises(admin.scope).await.unwrap().time_zone, "Asia/Shanghai");
    assert!(store.operator_by_username("short").await.unwrap().is_none(), "a refused command changes nothing");
    store.close().await;
}

#[tokio::test]
async fn demo_seed_is_consistent() {
    use std::sync::Arc;

    use voltvend_server::clock::IdGenerator;
    let dir = tempfile::tempdir().unwrap();
    let clock = clock();
    let store = voltvend_store::open(&OpenOptions::new(&sqlite_url(dir.path())), clock.clone()).await.unwrap();
    store.migrate().await.unwrap();
    let logins = voltvend_server::demo::seed(
        store.as_ref(),
        &IdGenerator::seeded(clock.clone(), 1),
        &IdGenerator::seeded(Arc::clone(&clock) as _, 2),
    )
    .await
    .unwrap();
    let counts = store.counts().await.unwrap();
    assert_eq!((counts.customers, counts.accounts, counts.meters, counts.transfers), (24, 24, 30, 48));
    assert!(store.check_ledger().await.unwrap().is_ok());
    for (username, _, password) in logins.logins {
        let op = store.operator_by_username(&username).await.unwrap().unwrap();
        assert!(voltvend_server::passwords::verify(&password, &op.password_hash));
    }
    store.close().await;
}
