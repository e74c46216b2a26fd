//! Arbitrary bytes as a payment notification (and a status query's answer, and a daily statement): WeChat Pay's body opened (parsed, the resource decrypted) and
//! Alipay's form parameters read must refuse or accept without panicking; the amount parser must agree with
//! itself on what it accepts.
#![no_main]

use libfuzzer_sys::fuzz_target;
use voltvend_payments::{alipay, wechat};

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
    let pairs: Vec<(&str, &str)> = text.split('&').filter_map(|p| p.split_once('=')).collect();
    let _ = alipay::open("2021000122600001", &pairs);
    if let Ok(fen) = alipay::yuan_to_fen(&text) {
        assert!(fen >= 0);
        assert_eq!(alipay::yuan_to_fen(&format!("{}.{:02}", fen / 100, fen % 100)), Ok(fen));
    }
});
