//! A new installation, set up the way an administrator would: `voltvend migrate`, `voltvend user add`,
//! `voltvend keys generate`, then everything else through the JSON API of a running `voltvend serve` —
//! premises, books, a tariff, a counter, the vending key, a cashier, an account with an STS meter and its first
//! sale. Then: no key is in any log line (at debug level), response or database page; and a `kill -9` in the
//! middle of HTTP sales loses none that was acknowledged.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Stdio};

use serde_json::{Value, json};

use crate::support::{migrated_sqlite, run, voltvend};

const VENDING_KEY: &str = "C0FFEE00C0FFEE11";
const ADMIN_PASSWORD: &str = "a long admin passphrase";
const CASHIER_PASSWORD: &str = "a long cashier passphrase";

/// A minimal HTTP/1.1 exchange on a fresh connection.
pub fn http(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&Value>,
) -> (u16, HashMap<String, String>, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    let payload = body.map(|b| b.to_string()).unwrap_or_default();
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        payload.len()
    );
    if body.is_some() {
        req.push_str("Content-Type: application/json\r\n");
    }
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    req.push_str(&payload);
    s.write_all(req.as_bytes()).unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let raw = String::from_utf8_lossy(&raw).to_string();
    let (head, body) = raw.split_once("\r\n\r\n").unwrap_or((&raw, ""));
    let mut lines = head.lines();
    let status = lines.next().unwrap().split_whitespace().nth(1).unwrap().parse().unwrap();
    let headers =
        lines.filter_map(|l| l.split_once(':')).map(|(k, v)| (k.trim().to_lowercase(), v.trim().to_string())).collect();
    (status, headers, body.to_string())
}

/// A logged-in operator: the cookie and the CSRF token.
struct Login {
    cookie: String,
    csrf: String,
}

fn login(addr: &str, username: &str, password: &str) -> Login {
    let (status, headers, body) =
        http(addr, "POST", "/api/v1/session", &[], Some(&json!({"username": username, "password": password})));
    assert_eq!(status, 200, "{body}");
    let cookie = headers["set-cookie"].split(';').next().unwrap().to_string();
    let csrf = serde_json::from_str::<Value>(&body).unwrap()["csrf_token"].as_str().unwrap().to_string();
    Login { cookie, csrf }
}

/// A write as `who`, keyed by `key`; returns the status and the JSON body.
fn post(addr: &str, who: &Login, key: &str, path: &str, body: Value, seen: &mut Vec<String>) -> (u16, Value) {
    let headers = [("Cookie", who.cookie.as_str()), ("X-CSRF-Token", who.csrf.as_str()), ("Idempotency-Key", key)];
    let (status, _, text) = http(addr, "POST", path, &headers, Some(&body));
    seen.push(text.clone());
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

fn get(addr: &str, who: &Login, path: &str, seen: &mut Vec<String>) -> Value {
    let (status, _, text) = http(addr, "GET", path, &[("Cookie", who.cookie.as_str())], None);
    assert_eq!(status, 200, "{path}: {text}");
    seen.push(text.clone());
    serde_json::from_str(&text).unwrap()
}

struct Served {
    child: Child,
    addr: String,
}

/// `voltvend serve` with the master key file, logging at debug level into `log`.
fn serve(url: &str, key_file: &Path, log: &Path) -> Served {
    let log_file = std::fs::File::create(log).unwrap();
    let mut child = voltvend()
        .args(["--database-url", url, "serve", "--listen", "127.0.0.1:0"])
        .env("VOLTVEND__KEYS__MASTER_KEY_FILE", key_file)
        .env("VOLTVEND__LOG__LEVEL", "debug")
        .stdout(Stdio::piped())
        .stderr(log_file)
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    let addr = line.trim().strip_prefix("listening on http://").unwrap_or_else(|| panic!("{line:?}")).to_string();
    std::thread::spawn(move || for _ in out.lines() {});
    Served { child, addr }
}

/// Everything a new installation needs, through the API. Returns the cashier's login and the sale request.
fn set_up(addr: &str, seen: &mut Vec<String>) -> (Login, Value) {
    let admin = login(addr, "admin", ADMIN_PASSWORD);
    let me = get(addr, &admin, "/api/v1/session", seen);
    let root = me["operator"]["scope_id"].as_str().unwrap().to_string();
    let mut id_of = |key: &str, path: &str, body: Value| -> String {
        let (status, v) = post(addr, &admin, key, path, body, seen);
        assert_eq!(status, 201, "{path}: {v}");
        v["id"].as_str().map(str::to_string).unwrap_or_default()
    };
    let park = id_of(
        "k-park",
        "/api/v1/premises",
        json!({"parent_id": root, "level": "property", "name": "Lakeside Park 湖畔园区"}),
    );
    let building =
        id_of("k-bldg", "/api/v1/premises", json!({"parent_id": park, "level": "building", "name": "Block 1"}));
    let unit = id_of("k-unit", "/api/v1/premises", json!({"parent_id": building, "level": "unit", "name": "1-101"}));
    id_of("k-books", "/api/v1/books", json!({"premises_id": park, "currency": "CNY"}));
    let tariff = include_str!("../../../../tariffs/cn-zhejiang-residential.toml");
    id_of("k-tariff", "/api/v1/tariffs", json!({"document": tariff}));
    let counter = id_of(
        "k-counter",
        "/api/v1/vending-points",
        json!({"premises_id": building, "name": "Block 1 counter 一号楼营业厅", "currency": "CNY"}),
    );
    id_of("k-key", "/api/v1/vending-keys", json!({"supply_group": 600000, "key_revision": 1, "key": VENDING_KEY}));
    id_of(
        "k-cashier",
        "/api/v1/operators",
        json!({"username": "cashier.one", "display_name": "Cashier One", "role": "cashier", "scope_id": building, "password": CASHIER_PASSWORD}),
    );
    let cashier = login(addr, "cashier.one", CASHIER_PASSWORD);
    let (status, v) = post(
        addr,
        &cashier,
        "k-shift",
        "/api/v1/shifts",
        json!({"vending_point_id": counter, "opening_float": "200.00"}),
        seen,
    );
    assert_eq!(status, 201, "{v}");
    let (status, opened) = post(
        addr,
        &cashier,
        "k-open",
        "/api/v1/accounts",
        json!({
            "customer": {"kind": "person", "name": "Chen Min 陈敏", "phones": ["13600002222"]},
            "premises_id": unit,
            "currency": "CNY",
            "meters": [
                {"new": {"serial": "STS-INST-1", "utility": "electricity", "protocol": "sts_keypad", "address": "05050505050"},
                 "tariff_code": "cn-zhejiang-residential-tou",
                 "sts": {"iin": "600727", "ea": "07", "key_type": 2, "supply_group": 600000, "tariff_index": 1, "key_revision": 1, "base_date": "14"}},
                {"new": {"serial": "DDSY-INST-1", "utility": "electricity", "protocol": "dlt645", "address": "000000005001"},
                 "tariff_code": "cn-zhejiang-residential-tou"}
            ],
            "first_sale": {"method": "cash", "amount": "100.00"}
        }),
        seen,
    );
    assert_eq!(status, 201, "{opened}");
    let token = opened["first_sale"]["tokens"][0].as_str().unwrap();
    assert_eq!(token.len(), 20);
    let remote_sale = json!({
        "account_id": opened["account_id"], "meter_id": opened["meter_ids"][1], "method": "cash", "amount": "5.00"
    });
    (cashier, remote_sale)
}

fn install(dir: &Path) -> (String, std::path::PathBuf) {
    let url = migrated_sqlite(dir);
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
        &format!("{ADMIN_PASSWORD}\n"),
    );
    assert!(o.status.success(), "{o:?}");
    let key_file = dir.join("master.key");
    let o = run(&["keys", "generate", "--out", key_file.to_str().unwrap()], "");
    assert!(o.status.success(), "{o:?}");
    (url, key_file)
}

#[test]
fn an_installation_set_up_through_the_api_never_shows_a_key() {
    let dir = tempfile::tempdir().unwrap();
    let (url, key_file) = install(dir.path());
    let log = dir.path().join("serve.log");
    let server = serve(&url, &key_file, &log);
    let mut seen = Vec::new();
    set_up(&server.addr, &mut seen);
    let pid = server.child.id().to_string();
    assert!(std::process::Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    let mut child = server.child;
    assert!(child.wait().unwrap().success());
    let master = std::fs::read_to_string(&key_file).unwrap().trim().to_lowercase();
    let logs = std::fs::read_to_string(&log).unwrap();
    assert!(logs.contains("DEBUG") || logs.contains("debug"), "the log ran at debug level");
    let db = std::fs::read(dir.path().join("voltvend.sqlite")).unwrap();
    let wal = std::fs::read(dir.path().join("voltvend.sqlite-wal")).unwrap_or_default();
    for secret in [VENDING_KEY.to_string(), master.clone()] {
        for text in seen.iter().chain(std::iter::once(&logs)) {
            assert!(
                !text.to_lowercase().contains(&secret.to_lowercase()),
                "a key appeared in: {}",
                &text[..text.len().min(200)]
            );
        }
        for bytes in [&db, &wal] {
            let upper = secret.to_uppercase();
            assert!(
                !bytes.windows(secret.len()).any(|w| w == secret.as_bytes() || w == upper.as_bytes()),
                "a key is stored in the clear"
            );
        }
    }
}

#[test]
fn kill_9_during_http_sales_loses_no_acknowledged_sale() {
    let dir = tempfile::tempdir().unwrap();
    let (url, key_file) = install(dir.path());
    let log = dir.path().join("serve.log");
    let server = serve(&url, &key_file, &log);
    let mut seen = Vec::new();
    let (cashier, sale) = set_up(&server.addr, &mut seen);
    // Four clients sell until the server dies; every 201 is an acknowledgement.
    let addr = server.addr.clone();
    let (cookie, csrf) = (cashier.cookie.clone(), cashier.csrf.clone());
    let acked = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    let workers: Vec<_> = (0..4)
        .map(|w| {
            let (addr, cookie, csrf, sale, acked, tx) = (addr.clone(), cookie.clone(), csrf.clone(), sale.clone(), acked.clone(), tx.clone());
            std::thread::spawn(move || {
                for i in 0.. {
                    let key = format!("kill-{w}-{i}");
                    let headers = [("Cookie", cookie.as_str()), ("X-CSRF-Token", csrf.as_str()), ("Idempotency-Key", key.as_str())];
                    let Ok(mut s) = TcpStream::connect(&addr) else { break };
                    let body = sale.to_string();
                    let mut req = format!("POST /api/v1/sales HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n", body.len());
                    for (k, v) in headers {
                        req.push_str(&format!("{k}: {v}\r\n"));
                    }
                    req.push_str("\r\n");
                    req.push_str(&body);
                    if s.write_all(req.as_bytes()).is_err() {
                        break;
                    }
                    let mut raw = String::new();
                    if s.read_to_string(&mut raw).is_err() {
                        break;
                    }
                    if raw.starts_with("HTTP/1.1 201") {
                        let body = raw.split_once("\r\n\r\n").map(|x| x.1).unwrap_or_default();
                        let v: Value = serde_json::from_str(body).unwrap();
                        let mut a = acked.lock().unwrap();
                        a.push(v["id"].as_str().unwrap().to_string());
                        if a.len() == 200 {
                            let _ = tx.send(());
                        }
                    } else if !raw.is_empty() {
                        panic!("a sale was refused: {raw}");
                    }
                }
            })
        })
        .collect();
    rx.recv().unwrap();
    let pid = server.child.id().to_string();
    assert!(std::process::Command::new("kill").args(["-9", &pid]).status().unwrap().success());
    let mut child = server.child;
    let _ = child.wait();
    for w in workers {
        w.join().unwrap();
    }
    let acked = acked.lock().unwrap().clone();
    assert!(acked.len() >= 200);
    // Restarted, the server has every acknowledged sale, once, and every invariant holds.
    let again = serve(&url, &key_file, &dir.path().join("serve2.log"));
    let cashier = login(&again.addr, "cashier.one", CASHIER_PASSWORD);
    let mut ignore = Vec::new();
    for id in &acked {
        let v = get(&again.addr, &cashier, &format!("/api/v1/sales/{id}"), &mut ignore);
        assert_eq!(v["id"].as_str(), Some(id.as_str()));
    }
    let pid = again.child.id().to_string();
    assert!(std::process::Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    let mut child = again.child;
    assert!(child.wait().unwrap().success());
    let o = run(&["--database-url", &url, "check"], "");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stdout));
}
