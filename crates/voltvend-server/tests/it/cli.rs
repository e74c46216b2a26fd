use voltvend_store::OpenOptions;

use crate::support::{Server, assert_one_line_error, clock, migrated_sqlite, run, sqlite_url, stdout};

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
    let url = migrated_sqlite(dir.path());
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
    let options = OpenOptions::new(&sqlite_url(dir.path())).creating();
    let store = voltvend_store::open(&options, clock.clone()).await.unwrap();
    store.migrate().await.unwrap();
    let logins = voltvend_server::demo::seed(
        store.as_ref(),
        &IdGenerator::seeded(clock.clone(), 1),
        &IdGenerator::seeded(Arc::clone(&clock) as _, 2),
        "2026-11-23T08:00:00Z".parse().unwrap(),
    )
    .await
    .unwrap();
    let counts = store.counts().await.unwrap();
    assert_eq!((counts.customers, counts.accounts, counts.meters, counts.sales), (24, 24, 30, 24));
    // 24 opening sales and 24 days of consumption billed from the registers.
    assert_eq!(counts.transfers, 48);
    let report = store.check(voltvend_store::CheckScope::Full).await.unwrap();
    assert!(report.is_ok(), "{:?}", report.problems);
    assert_eq!(report.audit_records, counts.audit_records);
    for (username, _, password) in logins.logins {
        let op = store.operator_by_username(&username).await.unwrap().unwrap();
        assert!(voltvend_server::passwords::verify(&password, &op.password_hash));
    }
    store.close().await;
}

/// Only `migrate`, `serve` and `demo` may create a database: every other command refuses a missing one, and
/// a backup of a database that is not there, or holds no Voltvend schema, fails instead of writing an empty
/// "backup".
#[test]
fn commands_refuse_a_database_that_is_not_there() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("mistyped.sqlite");
    let url = format!("sqlite://{}", missing.display());
    let backups = dir.path().join("backups");
    let to = backups.to_str().unwrap();
    for args in [
        vec!["backup", "--to", to],
        vec!["check"],
        vec!["audit", "verify"],
        vec!["tariff", "list"],
        vec!["bench", "ledger", "--operations", "1"],
        vec!["user", "add", "--username", "admin", "--password-stdin"],
    ] {
        let mut full = vec!["--database-url", url.as_str()];
        full.extend(args.iter().copied());
        assert_one_line_error(&run(&full, "correct horse battery\n"), "no database at");
        assert!(!missing.exists(), "{args:?} created the database");
        assert!(!backups.exists(), "{args:?} wrote a backup");
    }
    // An existing file that is not a Voltvend database is not backed up either.
    std::fs::write(&missing, b"").unwrap();
    assert_one_line_error(&run(&["--database-url", &url, "backup", "--to", to], ""), "holds no Voltvend database");
    assert!(!backups.exists() || std::fs::read_dir(&backups).unwrap().next().is_none());
}

#[tokio::test]
async fn check_and_audit_verify_find_tampering() {
    let dir = tempfile::tempdir().unwrap();
    let url = migrated_sqlite(dir.path());
    let o =
        run(&["--database-url", &url, "bench", "ops", "--operations", "200", "--baseline", "0", "--accounts", "8"], "");
    assert!(o.status.success(), "{o:?}");
    let ok = run(&["--database-url", &url, "check"], "");
    assert!(ok.status.success() && stdout(&ok).contains("every invariant holds"), "{ok:?}");
    let verified = run(&["--database-url", &url, "audit", "verify"], "");
    assert!(verified.status.success(), "{verified:?}");
    let head = stdout(&verified).rsplit_once("head ").unwrap().1.trim().to_string();

    // An intruder with the database file rewrites a sale's audit record and the chain after it.
    let db = dir.path().join("voltvend.sqlite");
    let sql = |statement: &str| {
        let o = std::process::Command::new("python3")
            .args([
                "-c",
                "import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); c.executescript(sys.argv[2]); c.commit()",
            ])
            .arg(&db)
            .arg(statement)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    };
    let seq: i64 = head.split(':').next().unwrap().parse().unwrap();

    // Records cut off the end with the head rewritten to match: the chain is consistent again, and only a
    // head recorded outside the database (the server's log, an earlier `audit verify`) shows the loss.
    sql(&format!(
        "DROP TRIGGER audit_append_only_d; DELETE FROM audit_log WHERE seq > {cut}; \
         UPDATE audit_head SET seq = {cut}, hash = (SELECT hash FROM audit_log WHERE seq = {cut});",
        cut = seq - 5
    ));
    assert!(run(&["--database-url", &url, "audit", "verify"], "").status.success(), "a consistent forgery");
    let expect = run(&["--database-url", &url, "audit", "verify", "--expect-head", &head], "");
    assert!(!expect.status.success());
    assert!(
        stdout(&expect).contains(&format!("audit record {seq}, recorded earlier, is no longer in the chain")),
        "{expect:?}"
    );

    // An edited record breaks the chain: `audit verify`, `check` and the server's start-up check all see it.
    sql("DROP TRIGGER audit_append_only_u; UPDATE audit_log SET after_text = 'paid=1' WHERE seq = 100;");
    let broken = run(&["--database-url", &url, "audit", "verify"], "");
    assert!(!broken.status.success());
    assert!(stdout(&broken).contains("problem: audit record 100 was altered"), "{broken:?}");
    let check = run(&["--database-url", &url, "check"], "");
    assert!(!check.status.success() && stdout(&check).lines().any(|l| l.starts_with("problem: ")), "{check:?}");
    let serve = run(&["--database-url", &url, "serve", "--listen", "127.0.0.1:0"], "");
    assert_one_line_error(&serve, "start-up check");

    // A cached balance edited behind the ledger's back.
    sql("UPDATE ledger_accounts SET credits_posted_minor = credits_posted_minor + 1 WHERE kind = 'customer_wallet';");
    let check = stdout(&run(&["--database-url", &url, "check"], ""));
    assert!(check.contains("caches"), "{check}");
}

#[test]
fn bench_refuses_a_database_that_is_not_its_own() {
    let dir = tempfile::tempdir().unwrap();
    let url = migrated_sqlite(dir.path());
    let o = run(
        &["--database-url", &url, "user", "add", "--username", "admin", "--password-stdin"],
        "correct horse battery\n",
    );
    assert!(o.status.success(), "{o:?}");
    assert_one_line_error(
        &run(&["--database-url", &url, "bench", "ledger", "--operations", "10"], ""),
        "not a benchmark's",
    );
    let listed = run(&["--database-url", &url, "check"], "");
    assert!(stdout(&listed).contains("0 transfers"), "nothing was written: {listed:?}");
    // Writing commands take the instance lock: not while a server runs on the database.
    let server = Server::start(&url);
    let tariff = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tariffs/cn-zhejiang-residential.toml");
    assert_one_line_error(
        &run(&["--database-url", &url, "tariff", "import", tariff.to_str().unwrap()], ""),
        "in use by a running Voltvend server",
    );
    assert_one_line_error(
        &run(
            &["--database-url", &url, "user", "add", "--username", "other", "--password-stdin"],
            "correct horse battery\n",
        ),
        "in use by a running Voltvend server",
    );
    assert!(server.stop().success());
}

/// Runs `demo` until it says how to stop it, then stops it with SIGTERM; returns what it printed.
fn demo_once(url: &str) -> String {
    use std::io::{BufRead, BufReader};
    let mut child = crate::support::voltvend()
        .args(["--database-url", url, "demo", "--listen", "127.0.0.1:0"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::inherit())
        .spawn()
        .unwrap();
    let mut printed = String::new();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    for line in lines.by_ref() {
        let line = line.unwrap();
        printed.push_str(&line);
        printed.push('\n');
        if line.contains("Stop with Ctrl-C") {
            break;
        }
    }
    let pid = child.id().to_string();
    assert!(std::process::Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    // Read to the end: the demo still prints as it stops.
    printed.extend(lines.map_while(Result::ok).map(|l| l + "\n"));
    assert!(child.wait().unwrap().success(), "{printed}");
    printed
}

#[tokio::test]
async fn demo_honours_the_database_url() {
    let dir = tempfile::tempdir().unwrap();
    let url = sqlite_url(dir.path());
    let first = demo_once(&url);
    assert!(first.contains("Log in as admin / "), "{first}");
    assert!(first.contains(&format!("Database: {url}")), "{first}");
    let store = voltvend_store::open(&OpenOptions::new(&url), clock()).await.unwrap();
    let counts = store.counts().await.unwrap();
    assert_eq!((counts.customers, counts.sales), (24, 24), "the demo's data is in the database it was given");
    store.close().await;
    // Run again on it: served as it is, not seeded twice.
    let second = demo_once(&url);
    assert!(second.contains("seeded earlier"), "{second}");
    let store = voltvend_store::open(&OpenOptions::new(&url), clock()).await.unwrap();
    assert_eq!(store.counts().await.unwrap(), counts);
    store.close().await;
    // A database with other data is refused.
    let other = tempfile::tempdir().unwrap();
    let other_url = migrated_sqlite(other.path());
    let o = run(
        &["--database-url", &other_url, "user", "add", "--username", "admin", "--password-stdin"],
        "correct horse battery\n",
    );
    assert!(o.status.success());
    assert_one_line_error(
        &run(&["--database-url", &other_url, "demo", "--listen", "127.0.0.1:0"], ""),
        "already holds data",
    );
}
