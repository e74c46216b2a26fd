use crate::support::{Server, assert_one_line_error, run, sqlite_url, stdout};

#[test]
fn serve_health_metrics_backup_and_restore() {
    let dir = tempfile::tempdir().unwrap();
    let url = sqlite_url(dir.path());
    let server = Server::start(&url);

    let (status, body) = server.get("/healthz");
    assert_eq!(status, 200);
    let health: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(health["status"], "ok");
    assert_eq!(health["database"], "sqlite");
    let (status, page) = server.get("/");
    assert_eq!(status, 200);
    assert!(page.contains("Voltvend"));
    assert_eq!(server.get("/no-such-page").0, 404);
    let (status, metrics) = server.get("/metrics");
    assert_eq!(status, 200);
    assert!(
        metrics.contains("voltvend_http_requests_total{method=\"GET\",route=\"/healthz\",status=\"200\"} 1"),
        "{metrics}"
    );
    assert!(metrics.contains("voltvend_ledger_batches_total"), "{metrics}");
    assert!(metrics.contains("route=\"unmatched\",status=\"404\""), "{metrics}");

    // A second server on the same database is refused.
    let second = run(&["--database-url", &url, "serve", "--listen", "127.0.0.1:0"], "");
    assert_one_line_error(&second, "in use by a running Voltvend server");
    assert!(stdout(&second).is_empty(), "the second server said it was listening: {second:?}");
    let err = crate::support::stderr(&second);
    assert_eq!(err.matches("stop the server first").count(), 1, "the advice is given once: {err}");

    // Online backup while the server runs.
    let backups = dir.path().join("backups");
    let o = run(&["--database-url", &url, "backup", "--to", backups.to_str().unwrap()], "");
    assert!(o.status.success(), "{o:?}");
    let file = stdout(&o).trim().strip_prefix("backup written to ").unwrap().to_string();

    // Restoring over the live database is refused, with or without --force.
    assert_one_line_error(
        &run(&["--database-url", &url, "restore", "--from", &file], ""),
        "in use by a running Voltvend server",
    );
    assert_one_line_error(
        &run(&["--database-url", &url, "restore", "--from", &file, "--force"], ""),
        "in use by a running Voltvend server",
    );

    assert!(server.stop().success(), "graceful stop on SIGTERM");

    // Stopped: without --force it still refuses to overwrite; with --force it restores and verifies.
    assert_one_line_error(&run(&["--database-url", &url, "restore", "--from", &file], ""), "--force");
    let o = run(&["--database-url", &url, "restore", "--from", &file, "--force"], "");
    assert!(o.status.success(), "{o:?}");
    assert!(stdout(&o).contains("every invariant holds"), "{o:?}");

    // A corrupt or missing backup is refused with one line and the database is untouched.
    let corrupt = dir.path().join("corrupt.sqlite");
    std::fs::write(&corrupt, b"SQLite format 3\0 but then garbage").unwrap();
    assert_one_line_error(
        &run(&["--database-url", &url, "restore", "--from", corrupt.to_str().unwrap(), "--force"], ""),
        "restore failed",
    );
    assert_one_line_error(
        &run(&["--database-url", &url, "restore", "--from", "/nonexistent.sqlite", "--force"], ""),
        "not a file",
    );
    let server = Server::start(&url);
    assert_eq!(server.get("/healthz").0, 200);
    assert!(server.stop().success());
}
