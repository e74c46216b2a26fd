//! Our verdicts on payment notifications against the providers' own SDKs: `tests/peers/notifications.py` plays
//! WeChat Pay and Alipay with keys it makes on each run, builds good and bad notifications, and records whether
//! `wechatpayv3` and `python-alipay-sdk` (PyPI) accept each; ours must accept exactly those, read the same
//! payment out of them, and refuse the rest for the reason the case names.
//! Requires `python3` with `wechatpayv3` and `python-alipay-sdk` (CI installs them); elsewhere it skips.

// Tests may panic: a failed expectation is the point.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use std::process::Command;

use serde_json::Value;
use voltvend_payments::{PaymentState, alipay, keys, wechat};

fn peer_path() -> String {
    format!("{}/tests/peers/notifications.py", env!("CARGO_MANIFEST_DIR"))
}

fn peer_available() -> bool {
    voltvend_testkit::payment_sdks_available()
}

fn cases() -> Value {
    let out = Command::new("python3").arg(peer_path()).output().unwrap();
    assert!(out.status.success(), "peer failed: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

fn s(v: &Value) -> &str {
    v.as_str().unwrap_or_default()
}

#[test]
fn notifications_are_judged_as_the_providers_sdks_judge_them() {
    if !peer_available() {
        return;
    }
    let all = cases();

    let w = &all["wechat"];
    let platform = w["platform"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (s(&p["serial"]).to_string(), keys::public_key(s(&p["public_pem"])).unwrap()))
        .collect();
    let merchant = wechat::MerchantKeys::new(s(&w["mchid"]), s(&w["apiv3_key"]), platform).unwrap();
    let now = jiff::Timestamp::from_second(w["now"].as_i64().unwrap()).unwrap();
    let wechat_cases = w["cases"].as_array().unwrap();
    judged_both_ways(wechat_cases);
    for c in wechat_cases {
        let h = &c["headers"];
        let headers = wechat::Headers {
            timestamp: s(&h["Wechatpay-Timestamp"]),
            nonce: s(&h["Wechatpay-Nonce"]),
            signature: s(&h["Wechatpay-Signature"]),
            serial: s(&h["Wechatpay-Serial"]),
            signature_type: h["Wechatpay-Signature-Type"].as_str(),
        };
        let got = wechat::verify(&merchant, headers, s(&c["body"]).as_bytes(), now);
        check(c, got);
    }

    let a = &all["alipay"];
    let key = keys::public_key(s(&a["alipay_public_key"])).unwrap();
    judged_both_ways(a["cases"].as_array().unwrap());
    for c in a["cases"].as_array().unwrap() {
        let params: Vec<(String, String)> =
            c["params"].as_array().unwrap().iter().map(|p| (s(&p[0]).to_string(), s(&p[1]).to_string())).collect();
        check(c, alipay::verify(&key, s(&a["app_id"]), &params));
        // The same parameters in another order verify the same: the signature is over them sorted.
        let mut reversed = params.clone();
        reversed.reverse();
        assert_eq!(
            alipay::verify(&key, s(&a["app_id"]), &reversed).map_err(|e| e.code()),
            alipay::verify(&key, s(&a["app_id"]), &params).map_err(|e| e.code()),
        );
    }
    // For another app, a good notification is refused.
    let good = a["cases"].as_array().unwrap().iter().find(|c| s(&c["expect"]) == "ok").unwrap();
    let params: Vec<(String, String)> =
        good["params"].as_array().unwrap().iter().map(|p| (s(&p[0]).to_string(), s(&p[1]).to_string())).collect();
    assert_eq!(alipay::verify(&key, "2021000000000000", &params).map_err(|e| e.code()), Err("payment_other_merchant"));
}

/// The peer gave cases to accept and cases to refuse: a run that only accepts (or only refuses) proves little.
fn judged_both_ways(cases: &[Value]) {
    assert!(cases.iter().any(|c| s(&c["expect"]) == "ok"), "no case to accept");
    assert!(cases.iter().any(|c| s(&c["expect"]) != "ok"), "no case to refuse");
}

/// One case's verdict: what the SDK accepted we accept, reading the same payment; the rest we refuse for the
/// case's reason.
fn check(c: &Value, got: Result<voltvend_payments::Notification, voltvend_payments::PaymentError>) {
    let name = s(&c["name"]);
    if let Some(sdk) = c["sdk_accepts"].as_bool() {
        assert_eq!(got.is_ok(), sdk, "{name}: the SDK {} it", if sdk { "accepts" } else { "refuses" });
    }
    match (s(&c["expect"]), got) {
        ("ok", Ok(n)) => {
            assert_eq!(n.amount_minor, c["amount"].as_i64().unwrap(), "{name}");
            assert_eq!(n.state == PaymentState::Paid, c["paid"].as_bool().unwrap(), "{name}: {:?}", n.state);
            assert_eq!(
                (n.out_trade_no.as_str(), n.transaction_id.as_str(), n.currency.as_str()),
                (s(&c["out_trade_no"]), s(&c["transaction_id"]), s(&c["currency"])),
                "{name}"
            );
            assert!(n.paid_at.is_some(), "{name}: {n:?}");
        }
        (want, Ok(n)) => panic!("{name}: accepted {n:?}, expected {want}"),
        (want, Err(e)) => assert_eq!(e.code(), want, "{name}: {e}"),
    }
}

/// Requests signed as the merchant: the same message and key give the same bytes as the SDKs give.
#[test]
fn requests_are_signed_to_the_same_bytes_as_the_providers_sdks_sign_them() {
    if !peer_available() {
        return;
    }
    let all = cases();
    let w = &all["wechat"];
    let key = keys::SigningKey::from_text(s(&w["merchant_private_pem"])).unwrap();
    assert_eq!(format!("{key:?}"), "SigningKey(***)", "no key material in Debug");
    let requests = w["requests"].as_array().unwrap();
    assert!(!requests.is_empty(), "the peer signed requests");
    for r in requests {
        let request = wechat::Request {
            mchid: s(&w["mchid"]),
            serial_no: s(&r["serial_no"]),
            method: s(&r["method"]),
            path: s(&r["path"]),
            timestamp: r["timestamp"].as_i64().unwrap(),
            nonce: s(&r["nonce"]),
            body: s(&r["body"]),
        };
        assert_eq!(
            wechat::authorization(&request, &key),
            s(&r["authorization"]),
            "{} {}",
            request.method,
            request.path
        );
    }
    let a = &all["alipay"];
    let key = keys::SigningKey::from_text(s(&a["merchant_private_key"])).unwrap();
    let params: Vec<(String, String)> = a["request"]["params"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (s(&p[0]).to_string(), s(&p[1]).to_string()))
        .collect();
    assert_eq!(alipay::sign_request(&params, &key).unwrap(), s(&a["request"]["sign"]));
    let mut twice = params.clone();
    twice.push(("app_id".into(), "other".into()));
    assert_eq!(alipay::sign_request(&twice, &key).map_err(|e| e.code()), Err("payment_malformed"));
}
