//! Raw 66-bit values (and beyond): construction must refuse out-of-range numbers, and decoding any in-range
//! value must not panic and must round-trip when it succeeds.
#![no_main]

use libfuzzer_sys::fuzz_target;
use voltvend_sts::{DecoderKey, Token, TokenNumber};

fuzz_target!(|data: [u8; 17]| {
    let value = u128::from_le_bytes(data[..16].try_into().unwrap_or([0; 16]));
    let Ok(number) = TokenNumber::new(value >> (data[16] % 64)) else { return };
    assert_eq!(TokenNumber::parse(&number.digits()).ok(), Some(number));
    for key in [
        DecoderKey::Sta(u64::from_le_bytes(data[..8].try_into().unwrap_or([0; 8]))),
        DecoderKey::Misty1([data[16]; 16]),
    ] {
        let cipher = key.cipher();
        if let Ok(token) = Token::decode(number, &cipher) {
            assert_eq!(token.encode(&cipher).ok(), Some(number));
        }
    }
});
