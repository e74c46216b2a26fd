use proptest::prelude::*;
use rand::SeedableRng;
use rand::rngs::StdRng;

use super::*;
use crate::crypto::RootKey;
use crate::layout::{CardKind, Header, LayoutError, Parameters, Purchase, QuantityUnit, ReturnData};
use crate::terminal::{CardError, PURCHASE_EF, Terminal};
use crate::vpcd::{VpcdDecoder, VpcdMessage};

const SERIAL: CardSerial = CardSerial([0x86, 0x01, 0x20, 0x26, 0, 0, 0, 0x42]);

fn root(alg: Algorithm) -> RootKey {
    RootKey::from_hex(alg, "0123456789ABCDEFFEDCBA9876543210").unwrap()
}

fn header() -> Header {
    Header {
        kind: CardKind::User,
        serial: CardSerial::default(),
        utility_code: 4401,
        customer_no: "C-000123".into(),
        meter_no: "MTR-0042".into(),
        generation: 0,
        replaces: None,
    }
}

fn params() -> Parameters {
    Parameters {
        unit: QuantityUnit::EnergyWh,
        alarm1: 10_000,
        alarm2: 3_000,
        overdraft_limit: 1_000,
        hoarding_limit: Some(500_000),
        power_limit_w: Some(6_000),
        price_micro_per_kwh: 0,
        friendly_night_min: Some((1200, 480)),
    }
}

fn purchase(count: u32) -> Purchase {
    Purchase { count, unit: QuantityUnit::EnergyWh, quantity: 50_000, at_unix_s: 1_795_000_000 }
}

fn issued(alg: Algorithm, rng: &mut StdRng) -> VirtualCard {
    let mut card = VirtualCard::new(SERIAL, alg, rng);
    Terminal::new(&mut card, &root(alg), rng).issue(&header(), Some(&params())).unwrap();
    card
}

/// Sends an APDU, returning data and status word.
fn apdu(card: &mut VirtualCard, bytes: &[u8]) -> (Vec<u8>, u16) {
    let r = Response::parse(&card.process(bytes)).unwrap();
    (r.data, r.sw)
}

fn select_app(card: &mut VirtualCard) {
    let mut cmd = vec![0, 0xA4, 4, 0x0C, APP_NAME.len() as u8];
    cmd.extend_from_slice(APP_NAME);
    assert_eq!(apdu(card, &cmd).1, sw::OK);
}

fn challenge(card: &mut VirtualCard) -> Vec<u8> {
    let (rc, code) = apdu(card, &[0, 0x84, 0, 0, 8]);
    assert_eq!(code, sw::OK);
    rc
}

fn external(card: &mut VirtualCard, kid: u8, cryptogram: &[u8]) -> u16 {
    let mut cmd = vec![0, 0x82, 0, kid, cryptogram.len() as u8];
    cmd.extend_from_slice(cryptogram);
    apdu(card, &cmd).1
}

#[test]
fn issue_read_purchase_round_trip_for_both_algorithms() {
    for alg in [Algorithm::Tdes, Algorithm::Sm4] {
        let mut rng = StdRng::seed_from_u64(7);
        let mut card = issued(alg, &mut rng);
        let root = root(alg);
        let mut t = Terminal::new(&mut card, &root, &mut rng);
        assert_eq!(t.serial().unwrap(), SERIAL);
        let image = t.read().unwrap();
        assert_eq!(image.header, Some(Header { serial: SERIAL, ..header() }), "{alg:?}");
        assert_eq!((image.purchase, image.parameters, image.returned.clone()), (None, Some(params()), None));
        t.write_purchase(&purchase(1)).unwrap();
        let back = ReturnData {
            meter_no: "MTR-0042".into(),
            last_count: 1,
            unit: QuantityUnit::EnergyWh,
            remaining: 49_000,
            total_used_wh: 1_000,
            relay_open: false,
            tamper: false,
            events: vec![5],
            at_unix_s: 1_795_000_100,
        };
        t.write_return(&back).unwrap();
        let image = t.read().unwrap();
        assert_eq!((image.purchase, image.returned), (Some(purchase(1)), Some(back)), "{alg:?}");
        assert_eq!(t.issue(&header(), None), Err(CardError::AlreadyIssued));
    }
}

#[test]
fn a_card_of_another_utility_is_not_ours_and_keeps_its_tries() {
    let mut rng = StdRng::seed_from_u64(1);
    let mut card = issued(Algorithm::Tdes, &mut rng);
    let other = RootKey::new(Algorithm::Tdes, [0x55; 16]);
    for _ in 0..10 {
        assert_eq!(Terminal::new(&mut card, &other, &mut rng).read().map(drop), Err(CardError::NotOurs));
    }
    // Internal authentication failed first every time, so the card's external key was never tried.
    assert!(Terminal::new(&mut card, &root(Algorithm::Tdes), &mut rng).read().is_ok());
    // An SM4 terminal meets a 3DES card: also not ours.
    let sm4 = root(Algorithm::Sm4);
    assert_eq!(Terminal::new(&mut card, &sm4, &mut rng).write_purchase(&purchase(1)), Err(CardError::NotOurs));
}

#[test]
fn wrong_external_key_counts_down_then_locks() {
    let mut rng = StdRng::seed_from_u64(2);
    let mut card = issued(Algorithm::Sm4, &mut rng);
    let keys = root(Algorithm::Sm4).card_keys(&SERIAL);
    let wrong = Key::new(Algorithm::Sm4, [9; 16]);
    select_app(&mut card);
    // One failure, then success restores the counter.
    let rc = challenge(&mut card);
    assert_eq!(external(&mut card, kid::EXTERNAL_AUTH, &wrong.cryptogram(&rc)), 0x63C4);
    let rc = challenge(&mut card);
    assert_eq!(external(&mut card, kid::EXTERNAL_AUTH, &keys.external_auth.cryptogram(&rc)), sw::OK);
    for left in (0..5).rev() {
        let rc = challenge(&mut card);
        assert_eq!(external(&mut card, kid::EXTERNAL_AUTH, &wrong.cryptogram(&rc)), sw::retries_left(left));
    }
    let rc = challenge(&mut card);
    assert_eq!(external(&mut card, kid::EXTERNAL_AUTH, &keys.external_auth.cryptogram(&rc)), sw::AUTH_BLOCKED);
    // Everything needing that key is refused, even with the right keys, and the lock survives a reset.
    card.reset();
    let root = root(Algorithm::Sm4);
    assert_eq!(Terminal::new(&mut card, &root, &mut rng).write_purchase(&purchase(1)), Err(CardError::KeyLocked));
    assert_eq!(Terminal::new(&mut card, &root, &mut rng).read().map(drop), Err(CardError::KeyLocked));
    let saved = VirtualCard::from_bytes(&card.to_bytes()).unwrap();
    let mut saved = saved;
    assert_eq!(Terminal::new(&mut saved, &root, &mut rng).read().map(drop), Err(CardError::KeyLocked));
    assert_eq!(CardError::KeyLocked.code(), "card_key_locked");
}

#[test]
fn replayed_cryptogram_and_missing_challenge_are_refused() {
    let mut rng = StdRng::seed_from_u64(3);
    let mut card = issued(Algorithm::Tdes, &mut rng);
    let keys = root(Algorithm::Tdes).card_keys(&SERIAL);
    select_app(&mut card);
    let rc = challenge(&mut card);
    let good = keys.external_auth.cryptogram(&rc);
    assert_eq!(external(&mut card, kid::EXTERNAL_AUTH, &good), sw::OK);
    // The challenge was used up: the same cryptogram again has nothing to answer.
    assert_eq!(external(&mut card, kid::EXTERNAL_AUTH, &good), sw::REFERENCE_NOT_USABLE);
    // A new session: the recorded cryptogram answers an old challenge.
    card.reset();
    select_app(&mut card);
    let fresh = challenge(&mut card);
    assert_ne!(fresh, rc, "challenges never repeat");
    assert_eq!(external(&mut card, kid::EXTERNAL_AUTH, &good), 0x63C4);
    // Reflection: the card will not compute its own external cryptogram through INTERNAL AUTHENTICATE.
    let rc = challenge(&mut card);
    let mut cmd = vec![0, 0x88, 0, kid::INTERNAL_AUTH, 8];
    cmd.extend_from_slice(&rc);
    cmd.push(0);
    let (reflected, code) = apdu(&mut card, &cmd);
    assert_eq!(code, sw::OK);
    assert_eq!(external(&mut card, kid::EXTERNAL_AUTH, &reflected), 0x63C3);
    // The external key is no internal key.
    let mut cmd = vec![0, 0x88, 0, kid::EXTERNAL_AUTH, 8];
    cmd.extend_from_slice(&rc);
    assert_eq!(apdu(&mut card, &cmd).1, sw::CONDITIONS_NOT_SATISFIED);
}

#[test]
fn secure_messaging_is_required_and_checked() {
    let mut rng = StdRng::seed_from_u64(4);
    let mut card = issued(Algorithm::Tdes, &mut rng);
    let root = root(Algorithm::Tdes);
    Terminal::new(&mut card, &root, &mut rng).write_purchase(&purchase(1)).unwrap();
    let before = card.ef_contents(PURCHASE_EF.0).unwrap().to_vec();
    let keys = root.card_keys(&SERIAL);
    select_app(&mut card);
    // Without authentication nothing can be written, plain or not.
    let mut plain = vec![0, 0xD6, 0x82, 0, 4, 1, 2, 3, 4];
    assert_eq!(apdu(&mut card, &plain).1, sw::SECURITY_NOT_SATISFIED);
    let rc = challenge(&mut card);
    assert_eq!(external(&mut card, kid::EXTERNAL_AUTH, &keys.external_auth.cryptogram(&rc)), sw::OK);
    // Authenticated, but a plain write of an SM file is still refused.
    assert_eq!(apdu(&mut card, &plain).1, sw::SECURITY_NOT_SATISFIED);
    // A MAC'd write with a wrong MAC (here: the MAC of other data) is refused and changes nothing.
    let iv = challenge(&mut card);
    let header = [0x04, 0xD6, 0x82, 0, 8];
    let mut input = header.to_vec();
    input.extend_from_slice(&[9, 9, 9, 9]);
    let mut cmd = header.to_vec();
    cmd.extend_from_slice(&[1, 2, 3, 4]);
    cmd.extend_from_slice(&keys.line.mac(&iv, &input));
    assert_eq!(apdu(&mut card, &cmd).1, sw::SM_DATA_INCORRECT);
    assert_eq!(card.ef_contents(PURCHASE_EF.0).unwrap(), &before[..]);
    // Replaying a correct MAC'd command after its challenge is gone is refused too.
    let iv = challenge(&mut card);
    let mut input = header.to_vec();
    input.extend_from_slice(&[1, 2, 3, 4]);
    cmd.truncate(9);
    cmd.extend_from_slice(&keys.line.mac(&iv, &input));
    assert_eq!(apdu(&mut card, &cmd).1, sw::OK);
    assert_eq!(apdu(&mut card, &cmd).1, sw::REFERENCE_NOT_USABLE);
    assert_eq!(card.ef_contents(PURCHASE_EF.0).unwrap().get(..4), Some(&[1, 2, 3, 4][..]));
    // The factory EF is never writable, and SM is refused where it makes no sense.
    plain = vec![0, 0xA4, 0, 0x0C, 2, 0x3F, 0x00];
    assert_eq!(apdu(&mut card, &plain).1, sw::OK);
    assert_eq!(apdu(&mut card, &[0, 0xD6, 0x85, 0, 1, 0]).1, sw::CONDITIONS_NOT_SATISFIED);
    assert_eq!(apdu(&mut card, &[0x04, 0xB0, 0x85, 0, 8]).1, sw::SM_NOT_SUPPORTED);
    assert_eq!(apdu(&mut card, &[0, 0xB0, 0x85, 0, 8]).0, SERIAL.0.to_vec());
    assert_eq!(apdu(&mut card, &[0, 0xB0, 0x85, 0, 9]).1, 0x6C08);
    assert_eq!(apdu(&mut card, &[0, 0xB0, 0x85, 8, 1]).1, sw::WRONG_OFFSET);
    assert_eq!(apdu(&mut card, &[0x80, 0x0E, 0, 0]).1, sw::SECURITY_NOT_SATISFIED, "erase needs the issuer key");
}

#[test]
fn a_torn_purchase_write_reads_as_damaged() {
    let mut rng = StdRng::seed_from_u64(5);
    let mut card = issued(Algorithm::Sm4, &mut rng);
    let root = root(Algorithm::Sm4);
    Terminal::new(&mut card, &root, &mut rng).write_purchase(&purchase(1)).unwrap();
    card.tear_next_update(10);
    let e = Terminal::new(&mut card, &root, &mut rng).write_purchase(&purchase(2)).unwrap_err();
    assert_eq!(e.code(), "no_card");
    assert_eq!(Terminal::new(&mut card, &root, &mut rng).read(), Err(CardError::Damaged(LayoutError::BadMac)));
    // A rewrite repairs it.
    Terminal::new(&mut card, &root, &mut rng).write_purchase(&purchase(2)).unwrap();
    assert_eq!(Terminal::new(&mut card, &root, &mut rng).read().unwrap().purchase, Some(purchase(2)));
}

#[test]
fn blank_and_persistence() {
    let mut rng = StdRng::seed_from_u64(6);
    let fresh = VirtualCard::new(SERIAL, Algorithm::Tdes, &mut StdRng::seed_from_u64(6));
    let mut card = issued(Algorithm::Tdes, &mut rng);
    let root = root(Algorithm::Tdes);
    Terminal::new(&mut card, &root, &mut rng).write_purchase(&purchase(3)).unwrap();
    let saved = card.to_bytes();
    let mut loaded = VirtualCard::from_bytes(&saved).unwrap();
    assert_eq!(loaded.to_bytes(), saved);
    assert_eq!(Terminal::new(&mut loaded, &root, &mut rng).read().unwrap().purchase, Some(purchase(3)));
    for cut in 0..saved.len() {
        assert!(VirtualCard::from_bytes(&saved[..cut]).is_err(), "prefix of {cut} bytes");
    }
    let mut v2 = saved.clone();
    v2[4] = 2;
    assert_eq!(VirtualCard::from_bytes(&v2), Err(ImageError::Version(2)));
    assert_eq!(VirtualCard::from_bytes(b"nope"), Err(ImageError::NotAnImage));

    assert_eq!(Terminal::new(&mut card, &root, &mut rng).blank(), Ok(SERIAL));
    let image = Terminal::new(&mut card, &root, &mut rng).read().unwrap();
    assert_eq!((image.serial, image.header, image.purchase), (SERIAL, None, None));
    assert_eq!(Terminal::new(&mut card, &root, &mut rng).write_purchase(&purchase(1)), Err(CardError::Blank));
    assert_eq!(card.mf, fresh.mf, "back to the factory file system");
    assert!(card.apps.is_empty());
    // Blanking a blank card is harmless; the card can be issued again.
    assert_eq!(Terminal::new(&mut card, &root, &mut rng).blank(), Ok(SERIAL));
    assert_eq!(card.mf, fresh.mf);
    Terminal::new(&mut card, &root, &mut rng).issue(&header(), None).unwrap();
    assert!(Terminal::new(&mut card, &root, &mut rng).read().unwrap().header.is_some());
    // Another utility can neither blank nor issue it.
    let other = RootKey::new(Algorithm::Tdes, [1; 16]);
    assert_eq!(Terminal::new(&mut card, &other, &mut rng).blank(), Err(CardError::NotOurs));
}

#[test]
fn vpcd_messages() {
    let mut rng = StdRng::seed_from_u64(8);
    let mut card = issued(Algorithm::Tdes, &mut rng);
    assert_eq!(card.handle_vpcd(&VpcdMessage::GetAtr), Some(ATR.to_vec()));
    assert_eq!(card.handle_vpcd(&VpcdMessage::PowerOn), None);
    let r = card.handle_vpcd(&VpcdMessage::Apdu(vec![0, 0x84, 0, 0, 8])).unwrap();
    assert_eq!((r.len(), r.get(8..)), (10, Some(&[0x90, 0][..])));
    assert_eq!(card.handle_vpcd(&VpcdMessage::Reset), None);
    assert_eq!(ATR.iter().skip(1).fold(0, |a, b| a ^ b), 0, "TCK makes T0..TCK XOR to zero");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    /// CI-sized fuzzing: nothing here panics on any bytes, and the card stays usable.
    #[test]
    fn nothing_panics_on_arbitrary_bytes(
        apdus in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..40), 0..12),
        headers in proptest::collection::vec((0u8..0x90, prop::sample::select(vec![0xA4u8, 0xB0, 0xD6, 0x84, 0x82, 0x88, 0xE0, 0xD4, 0x0E]), any::<u8>(), any::<u8>(), proptest::collection::vec(any::<u8>(), 0..24)), 0..12),
    ) {
        let mut rng = StdRng::seed_from_u64(9);
        let mut card = issued(Algorithm::Tdes, &mut rng);
        let mut decoder = VpcdDecoder::new();
        for bytes in &apdus {
            let _ = Command::parse(bytes);
            let _ = Response::parse(bytes);
            let r = card.process(bytes);
            prop_assert!(r.len() >= 2);
            decoder.push(bytes);
            for m in decoder.by_ref().flatten() {
                let _ = card.handle_vpcd(&m);
            }
        }
        for (cla, ins, p1, p2, data) in &headers {
            let mut bytes = vec![*cla, *ins, *p1, *p2];
            if !data.is_empty() {
                bytes.push(data.len() as u8);
                bytes.extend_from_slice(data);
            }
            prop_assert!(card.process(&bytes).len() >= 2);
            let _ = VirtualCard::from_bytes(&bytes);
        }
        card.reset();
        // Whatever happened, our terminal can still read the card or gets a clean error.
        let _ = Terminal::new(&mut card, &root(Algorithm::Tdes), &mut rng).read();
    }
}
