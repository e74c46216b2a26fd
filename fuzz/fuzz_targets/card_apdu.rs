//! Arbitrary bytes to an ISO/IEC 7816-4 card: the APDU parser must refuse or accept without panicking, what it
//! accepts must re-encode to the same bytes, and a personalised virtual card must answer every command with at
//! least a status word and stay readable by our terminal afterwards. The bytes are also fed to the vpcd framing
//! decoder and to the card-image loader.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rand::SeedableRng;
use rand::rngs::StdRng;
use voltvend_card::apdu::{Command, Response};
use voltvend_card::vpcd::VpcdDecoder;
use voltvend_card::{Algorithm, CardKind, CardSerial, Header, RootKey, Terminal, VirtualCard};

fuzz_target!(|bytes: &[u8]| {
    if let Ok(command) = Command::parse(bytes) {
        assert_eq!(command.to_bytes().ok().as_deref(), Some(bytes));
    }
    if let Ok(response) = Response::parse(bytes) {
        assert_eq!(response.to_bytes(), bytes);
    }
    let _ = VirtualCard::from_bytes(bytes);

    let mut rng = StdRng::seed_from_u64(1);
    let root = RootKey::new(Algorithm::Tdes, [0x24; 16]);
    let mut card = VirtualCard::new(CardSerial([1, 2, 3, 4, 5, 6, 7, 8]), Algorithm::Tdes, &mut rng);
    let header = Header {
        kind: CardKind::User,
        serial: CardSerial::default(),
        utility_code: 1,
        customer_no: "C1".into(),
        meter_no: "M1".into(),
        generation: 0,
        replaces: None,
    };
    if Terminal::new(&mut card, &root, &mut rng).issue(&header, None).is_err() {
        return;
    }
    // The input as a sequence of APDUs, each prefixed by its length byte.
    let mut rest = bytes;
    while let Some((&len, tail)) = rest.split_first() {
        let n = usize::from(len).min(tail.len());
        let (apdu, next) = tail.split_at(n);
        assert!(card.process(apdu).len() >= 2, "every command gets a status word");
        rest = next;
    }
    let mut decoder = VpcdDecoder::new();
    decoder.push(bytes);
    for message in decoder.by_ref().flatten() {
        let _ = card.handle_vpcd(&message);
    }
    card.reset();
    let _ = Terminal::new(&mut card, &root, &mut rng).read();
});
