//! Arbitrary bytes as a payment notification (and a status query's answer, and a daily statement): WeChat Pay's
//! body opened (parsed, the resource decrypted), Alipay's form parameters read, and M-Pesa's unsigned STK
//! callback and Daraja's answers, and UnionPay's parameters, read must refuse or accept without panicking; the amount parsers must agree
//! with themselves on what they accept.
#![no_main]

use libfuzzer_sys::fuzz_target;
use voltvend_payments::{alipay, mpesa, unionpay, wechat};

fuzz_target!(|bytes: &[u8]| {
    let keys = wechat::MerchantKeys::new("1900000109", "0123456789abcdef0123456789abcdef", Vec::new())
        .expect("a 32-character key");
    let _ = wechat::open(&keys, bytes);
    // A status query's answer: refused unsigned, whatever the body (the signature is checked first).
    let headers = wechat::Headers { timestamp: "0", nonce: "", signature: "", serial: "", signature_type: None };
    let epoch = jiff::Timestamp::UNIX_EPOCH;
    assert!(wechat::verify_query(&keys, headers, bytes, "0123456789abcdef0123456789abcdef", epoch).is_err());
    let text = String::from_utf8_lossy(bytes);
    // A statement file: read or refused, never a panic.
    let _ = voltvend_payments::statement::wechat_trade_bill(&text);
    let _ = voltvend_payments::statement::alipay_trade_bill(&text);
    let _ = voltvend_payments::statement::unionpay_zm(&text, jiff::civil::date(2027, 1, 1));
    let _ = voltvend_payments::statement::mpesa_statement(&text);
    let _ = voltvend_payments::statement::decode(bytes);
    let _ = voltvend_payments::statement::unpack(bytes, |name| name.contains("ZM_"));
    let pairs: Vec<(&str, &str)> = text.split('&').filter_map(|p| p.split_once('=')).collect();
    let _ = alipay::open("2021000122600001", &pairs);
    // UnionPay: verified parameters read, and the string its signature is over built, never a panic.
    let _ = unionpay::open("777290058110048", &pairs);
    let _ = unionpay::signed_string(&pairs);
    // M-Pesa: the callback (believed in nothing but its request id), Daraja's answers, a typed phone number.
    if let Ok(c) = mpesa::callback(bytes) {
        assert!(!c.checkout_request_id.is_empty() && c.checkout_request_id.len() <= 64);
    }
    let _ = mpesa::query_answer(bytes, "ws_CO_1");
    let _ = mpesa::push_answer(bytes);
    let _ = mpesa::token_answer(bytes);
    if let Some(phone) = mpesa::phone(&text) {
        assert_eq!(mpesa::phone(&phone), Some(phone.clone()));
    }
    if let Ok(cents) = mpesa::shillings_to_cents(&text) {
        assert_eq!(mpesa::shillings_to_cents(&format!("{}.{:02}", cents / 100, cents % 100)), Ok(cents));
    }
    if let Ok(fen) = alipay::yuan_to_fen(&text) {
        assert!(fen >= 0);
        assert_eq!(alipay::yuan_to_fen(&format!("{}.{:02}", fen / 100, fen % 100)), Ok(fen));
    }
});
