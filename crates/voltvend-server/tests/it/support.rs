use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, ChildStdout, Command, Output, Stdio};
use std::sync::Arc;

use voltvend_domain::ManualClock;

pub fn voltvend() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_voltvend"));
    // Tests choose their own database; nothing from the developer's environment leaks in.
    c.env_remove("VOLTVEND_CONFIG").env("VOLTVEND__LOG__LEVEL", "warn");
    c
}

pub fn sqlite_url(dir: &Path) -> String {
    format!("sqlite://{}", dir.join("voltvend.sqlite").display())
}

/// A SQLite database in `dir` with the current schema (`voltvend migrate`).
pub fn migrated_sqlite(dir: &Path) -> String {
    let url = sqlite_url(dir);
    let o = run(&["--database-url", &url, "migrate"], "");
    assert!(o.status.success(), "{o:?}");
    url
}

/// A fresh PostgreSQL database beside `VOLTVEND_TEST_PG_URL`, or `None` (and a message) without one;
/// under `CI=true` its absence is a failure.
pub async fn scratch_pg() -> Option<voltvend_store::backup::ScratchDatabase> {
    let admin = std::env::var("VOLTVEND_TEST_PG_URL").ok().filter(|u| !u.is_empty());
    if !voltvend_testkit::peer_available(admin.is_some(), "PostgreSQL (VOLTVEND_TEST_PG_URL)") {
        return None;
    }
    Some(voltvend_store::backup::ScratchDatabase::create(&admin?).await.unwrap())
}

/// A bench's `--json` file: the document every bench writes (its name, the machine, the backend, the scenario,
/// the figures, the baseline, the ratios), returned for the bench's own figures to be checked.
pub fn bench_json(path: &Path, bench: &str) -> serde_json::Value {
    let report: serde_json::Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    assert_eq!(report["bench"], bench, "{report}");
    assert!(report["machine"]["cores"].as_u64().unwrap() >= 1, "{report}");
    for part in ["scenario", "figures", "baseline", "ratios"] {
        assert!(report[part].is_object() || report[part].is_array(), "{part}: {report}");
    }
    report
}

/// Runs to completion with the given stdin.
pub fn run(args: &[&str], stdin: &str) -> Output {
    let mut child =
        voltvend().args(args).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
    child.wait_with_output().unwrap()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).to_string()
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).to_string()
}

/// Asserts a command failed with exactly one line on stderr that contains `needle`.
pub fn assert_one_line_error(o: &Output, needle: &str) {
    assert!(!o.status.success(), "expected failure, got {o:?}");
    let err = stderr(o);
    let lines: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "expected one line on stderr, got:\n{err}");
    assert!(lines[0].starts_with("error: ") && lines[0].contains(needle), "{:?} lacks {needle:?}", lines[0]);
}

/// A running `voltvend serve`.
pub struct Server {
    pub child: Child,
    pub addr: String,
    _stdout: BufReader<ChildStdout>,
}

impl Server {
    /// Starts the server and waits for it to say where it listens.
    pub fn start(url: &str) -> Self {
        let mut child = voltvend()
            .args(["--database-url", url, "serve", "--listen", "127.0.0.1:0"])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        stdout.read_line(&mut line).unwrap();
        let addr = line.trim().strip_prefix("listening on http://").unwrap_or_else(|| panic!("{line:?}")).to_string();
        Self { child, addr, _stdout: stdout }
    }

    /// Asks for a graceful stop (SIGTERM) and waits for the exit status.
    pub fn stop(mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
        self.child.wait().unwrap()
    }

    pub fn get(&self, path: &str) -> (u16, String) {
        http_get(&self.addr, path)
    }
}

/// A minimal HTTP/1.1 GET, enough to test our own server without a client library.
pub fn http_get(addr: &str, path: &str) -> (u16, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    write!(s, "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").unwrap();
    let mut raw = String::new();
    s.read_to_string(&mut raw).unwrap();
    let (head, body) = raw.split_once("\r\n\r\n").unwrap();
    let status = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    (status, body.to_string())
}

/// A running `voltvend demo` on a free port, with the address and the logins it printed. Its later output is
/// drained so that it never blocks on a full pipe.
pub struct Demo {
    pub child: Child,
    pub addr: String,
    /// Passwords by username.
    pub logins: std::collections::BTreeMap<String, String>,
}

impl Demo {
    pub fn start() -> Self {
        let mut child = voltvend()
            .args(["demo", "--listen", "127.0.0.1:0"])
            .env_remove("VOLTVEND_MASTER_KEY")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut out = BufReader::new(child.stdout.take().unwrap());
        let (mut addr, mut logins) = (String::new(), std::collections::BTreeMap::new());
        let mut line = String::new();
        while out.read_line(&mut line).unwrap() > 0 {
            let text = line.trim().to_string();
            line.clear();
            if let Some(rest) = text.strip_prefix("Voltvend demo is running on http://") {
                addr = rest.trim_end_matches('/').to_string();
            }
            // "Log in as cashier.a / password  (cashier, Block A …)"
            if let Some(rest) = text.strip_prefix("Log in as ") {
                let mut words = rest.split_whitespace();
                if let (Some(user), Some("/"), Some(password)) = (words.next(), words.next(), words.next()) {
                    logins.insert(user.to_string(), password.to_string());
                }
            }
            if text.contains("Stop with Ctrl-C") {
                break;
            }
        }
        assert!(!addr.is_empty() && logins.contains_key("admin"), "the demo printed its address and logins");
        std::thread::spawn(move || for _ in out.lines() {});
        Self { child, addr, logins }
    }

    /// Stops the demo (SIGTERM) and returns whether it stopped cleanly.
    pub fn stop(mut self) -> bool {
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        self.child.wait().is_ok_and(|s| s.success())
    }
}

pub fn clock() -> Arc<ManualClock> {
    Arc::new(ManualClock::new("2026-11-23T08:00:00Z".parse().unwrap()))
}
