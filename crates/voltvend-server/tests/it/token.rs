//! `voltvend token` end to end: the numbers a cashier or an engineer would type and read.

use crate::support::{assert_one_line_error, stdout, voltvend};

const VK: &str = "ABABABABABABABAB";
const METER: &[&str] = &["--pan", "600727000000000009", "--sgc", "123456", "--ti", "1", "--krn", "1", "--base", "93"];

fn token(args: &[&str]) -> std::process::Output {
    voltvend().env("VOLTVEND_VENDING_KEY", VK).arg("token").args(args).output().unwrap()
}

#[test]
fn issue_reproduces_the_compliance_vectors() {
    let mut args = vec!["issue"];
    args.extend_from_slice(METER);
    args.extend_from_slice(&["--electricity-kwh", "0.1", "--at", "2004-03-01T13:55:00Z", "--rnd", "5", "--json"]);
    let o = token(&args);
    assert!(o.status.success(), "{o:?}");
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["tokens"][0], "23716100501183194197", "STS 531-1-0-02 CTSA01 step 1");
    assert_eq!(v["tid"], 0x59_9863);
    assert!(v.get("decoder_key").is_none(), "keys are shown only when asked for");

    // Key change set of CTSA05 step 1 (TI 01 → 02).
    let mut args = vec!["issue"];
    args.extend_from_slice(METER);
    args.extend_from_slice(&["--key-change", "--new-ti", "2", "--json"]);
    let v: serde_json::Value = serde_json::from_str(&stdout(&token(&args))).unwrap();
    assert_eq!(v["tokens"], serde_json::json!(["51638423060042734509", "15361891762113502242"]));

    // Two tokens in the same minute: the caller passes the last TID and gets the next one.
    let mut args = vec!["issue"];
    args.extend_from_slice(METER);
    args.extend_from_slice(&["--water-m3", "2.5", "--at", "2004-03-01T13:55:00Z", "--last-tid", "5871715", "--json"]);
    let v: serde_json::Value = serde_json::from_str(&stdout(&token(&args))).unwrap();
    assert_eq!(v["tid"], 5_871_716);
}

#[test]
fn keygen_decode_and_secrecy() {
    let mut args = vec!["keygen"];
    args.extend_from_slice(METER);
    let o = token(&args);
    assert!(stdout(&o).contains("E653341F9D5BF36F"));
    let all = |o: &std::process::Output| format!("{}{}", stdout(o), String::from_utf8_lossy(&o.stderr));
    assert!(!all(&o).contains(VK), "the vending key is never printed");

    // The vector meter is on base 1993 (METER), so its token is decoded on that base.
    let o =
        token(&["decode", "2371 6100 5011 8319 4197", "--decoder-key", "E653341F9D5BF36F", "--base", "93", "--json"]);
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(
        (v["class"].as_u64(), v["tenths"].as_u64(), v["issued_at"].as_str()),
        (Some(0), Some(1), Some("2004-03-01T13:55:00Z"))
    );

    assert_one_line_error(
        &token(&["decode", "23716100501183194198", "--decoder-key", "E653341F9D5BF36F"]),
        "wrong key or mistyped",
    );
    assert_one_line_error(&token(&["decode", "2371610050118319419", "--decoder-key", "E653341F9D5BF36F"]), "20 digits");
    let mut bad_pan = vec!["issue", "--pan", "600727000000000008", "--sgc", "1", "--ti", "1", "--electricity-kwh", "1"];
    assert_one_line_error(&token(&bad_pan), "check digit");
    bad_pan[2] = "600727000000000009";
    bad_pan.extend_from_slice(&["--ea", "09"]);
    assert_one_line_error(&token(&bad_pan), "EA09");
    let mut expired = vec!["issue"];
    expired.extend_from_slice(METER);
    expired.extend_from_slice(&["--electricity-kwh", "1", "--at", "2024-11-24T20:16:00Z"]);
    // Issue 10: an exhausted base says so, when it ran out, and which key change moves the meter on.
    let o = token(&expired);
    assert_one_line_error(&o, "base date 93 can issue no more tokens");
    for needle in ["2024-11-24", "--key-change --rollover", "base 14"] {
        assert!(crate::support::stderr(&o).contains(needle), "{o:?} lacks {needle}");
    }
    let o = voltvend().env_remove("VOLTVEND_VENDING_KEY").args(["token", "keygen"]).args(METER).output().unwrap();
    assert_one_line_error(&o, "no vending key");
}

#[test]
fn openpaygo_issue_and_decode() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("device.key");
    std::fs::write(&key, "bc41ec9530f6dac86b1a29ab82edc5fb\n").unwrap();
    let key = key.to_str().unwrap();
    let o = token(&[
        "openpaygo",
        "issue",
        "--key-file",
        key,
        "--starting-code",
        "516959010",
        "--count",
        "1",
        "--add",
        "1",
        "--json",
    ]);
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!((v["token"].as_str(), v["count"].as_u64()), (Some("588224011"), Some(2)), "first OpenPAYGO vector");
    let o =
        token(&["openpaygo", "decode", "588224011", "--key-file", key, "--starting-code", "516959010", "--count", "1"]);
    assert_eq!(stdout(&o).trim(), "AddTime(1) at count 2");
    // A device whose count is past the window of older unused tokens refuses it as used.
    let o = token(&[
        "openpaygo",
        "decode",
        "588224011",
        "--key-file",
        key,
        "--starting-code",
        "516959010",
        "--count",
        "40",
    ]);
    assert_one_line_error(&o, "already used");
}

/// Issue 10: a meter record that names no base date is on one that can still issue tokens (the README's
/// example), and the decoder shows the same base.
#[test]
fn the_default_base_date_can_issue_tokens() {
    let o = token(&[
        "issue",
        "--pan",
        "600727000000000009",
        "--sgc",
        "123456",
        "--ti",
        "1",
        "--electricity-kwh",
        "25",
        "--at",
        "2026-12-03T10:00:00Z",
        "--json",
    ]);
    assert!(o.status.success(), "{o:?}");
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    let digits = v["tokens"][0].as_str().unwrap().to_string();
    let key = token(&["keygen", "--pan", "600727000000000009", "--sgc", "123456", "--ti", "1", "--json"]);
    let key: serde_json::Value = serde_json::from_str(&stdout(&key)).unwrap();
    let o = token(&["decode", &digits, "--decoder-key", key["decoder_key"].as_str().unwrap(), "--json"]);
    let d: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!((d["tenths"].as_u64(), d["issued_at"].as_str()), (Some(250), Some("2026-12-03T10:00:00Z")), "{d}");
}
