//! Schemathesis (PyPI), a property-based API tester no one here wrote, runs against the demo's API with its
//! own OpenAPI document: thousands of generated requests, valid and not, must get no 5xx and no answer that
//! breaks the document (status, content type, headers, body schema).

use std::process::Command;

use serde_json::json;

use crate::installation::http;
use crate::support::Demo;

#[test]
fn schemathesis_finds_no_server_error_and_no_answer_outside_the_document() {
    let available = Command::new("st").arg("--version").output().is_ok_and(|o| o.status.success());
    if !voltvend_testkit::peer_available(available, "schemathesis (pip install schemathesis)") {
        return;
    }
    let demo = Demo::start();
    let (addr, password) = (demo.addr.clone(), demo.logins["admin"].clone());
    // An API token for the administrator: schemathesis authenticates with it.
    let (status, headers, body) =
        http(&addr, "POST", "/api/v1/session", &[], Some(&json!({"username": "admin", "password": password})));
    assert_eq!(status, 200, "{body}");
    let cookie = headers["set-cookie"].split(';').next().unwrap().to_string();
    let csrf = serde_json::from_str::<serde_json::Value>(&body).unwrap()["csrf_token"].as_str().unwrap().to_string();
    let (status, _, body) = http(
        &addr,
        "POST",
        "/api/v1/api-tokens",
        &[("Cookie", &cookie), ("X-CSRF-Token", &csrf), ("Idempotency-Key", "schemathesis")],
        Some(&json!({"name": "schemathesis"})),
    );
    assert_eq!(status, 201, "{body}");
    let token = serde_json::from_str::<serde_json::Value>(&body).unwrap()["secret"].as_str().unwrap().to_string();
    let report = tempfile::tempdir().unwrap();
    // An on-demand read answers 502 meter_unreachable when the meter does not answer: the document says so, and
    // schemathesis sets channels to addresses where nothing listens. Every other 5xx still fails, there too.
    std::fs::write(
        report.path().join("schemathesis.toml"),
        "[[operations]]\ninclude-operation-id = \"post_api_v1_meters__id__read\"\n\
         checks.not_a_server_error.expected-statuses = [\"2xx\", \"3xx\", \"4xx\", 502]\n",
    )
    .unwrap();
    let result = Command::new("st")
        .current_dir(report.path())
        .args(["run", &format!("http://{addr}/api/v1/openapi.json")])
        .args(["-H", &format!("Authorization: Bearer {token}")])
        // Its own token must survive the run.
        .args(["--exclude-operation-id", "delete_api_v1_api_tokens__id_"])
        .args([
            "--checks",
            "not_a_server_error,status_code_conformance,content_type_conformance,response_headers_conformance,response_schema_conformance",
        ])
        // One worker: with two, hypothesis parses lambda sources from two threads at once and CPython 3.11's
        // parser can trip over itself ("AST constructor recursion depth mismatch"), a tool error, not ours.
        .args(["--max-examples", "25", "--workers", "1", "--seed", "20261203"])
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    assert!(demo.stop(), "the demo stopped cleanly");
    let text = String::from_utf8_lossy(&result.stdout);
    assert!(
        result.status.success(),
        "schemathesis found problems:\n{text}\n{}",
        String::from_utf8_lossy(&result.stderr)
    );
    assert!(text.contains("passed"), "{text}");
}
