//! Anything typed on a keypad: parse, decode under STA and MISTY1 keys, and enter into meters. Must never
//! panic, and anything accepted must re-encode to the same number.
#![no_main]

use libfuzzer_sys::fuzz_target;
use voltvend_sts::keys::{KeyParams, KeyType};
use voltvend_sts::{BaseDate, DecoderKey, Ea, StsMeter, Token, TokenNumber};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    for key in [DecoderKey::Sta(0xE653_341F_9D5B_F36F), DecoderKey::Misty1(*b"0123456789abcdef")] {
        let params = KeyParams {
            kt: KeyType::UNIQUE,
            sgc: 123_457,
            ti: 1,
            krn: 1,
            ken: 255,
            base: BaseDate::Y1993,
            ea: key.ea(),
        };
        let mut meter = StsMeter::new(key, params, 8);
        let _ = meter.enter(text);
        let _ = meter.enter(text);
        if let Ok(number) = TokenNumber::parse(text) {
            let cipher = key.cipher();
            if let Ok(token) = Token::decode(number, &cipher) {
                let again = token.encode(&cipher).expect("a decoded token re-encodes");
                assert_eq!(again, number, "decode/encode round trip");
            }
        }
        let _ = Ea::from_code(text);
    }
});
