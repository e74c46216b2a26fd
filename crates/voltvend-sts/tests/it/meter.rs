//! The meter side, as a customer at a keypad meets it: each refusal is distinct, and a key change set
//! issued by the vending side moves the meter to its new key.

use jiff::Timestamp;
use voltvend_sts::keys::{KeyParams, KeyType, VendingKey};
use voltvend_sts::meter::{Accepted, Rejection, StsMeter};
use voltvend_sts::token::{RegisterKind, Token};
use voltvend_sts::vend::{Issuer, MeterKeyRecord, test_token};
use voltvend_sts::{BaseDate, Ea, Pan, StsError, Tid, TokenNumber, TransferKind};

const VK_DES: &str = "ABABABABABABABAB";
const VK_KDF: &str = "abababababababab949494949494949401234567";

fn params(ea: Ea, base: BaseDate, krn: u8, ken: u8) -> KeyParams {
    KeyParams { kt: KeyType::UNIQUE, sgc: 123_457, ti: 1, krn, ken, base, ea }
}

fn issuer(vk: &str, p: KeyParams) -> Issuer {
    let record = MeterKeyRecord { pan: Pan::parse("600727000000000009").unwrap(), params: p };
    Issuer::new(&VendingKey::from_hex(vk).unwrap(), record).unwrap()
}

fn meter_for(i: &Issuer, tid_memory: usize) -> StsMeter {
    StsMeter::new(i.decoder_key(), i.record().params.clone(), tid_memory)
}

fn at(s: &str) -> Timestamp {
    s.parse().unwrap()
}

#[test]
fn credit_then_every_refusal_is_distinct() {
    let vend = issuer(VK_KDF, params(Ea::Sta, BaseDate::Y2014, 1, 255));
    let mut meter = meter_for(&vend, 4);
    let now = at("2026-11-23T08:00:00Z");
    let t1 = vend.tid(now, None).unwrap();
    let token = vend.credit(TransferKind::Electricity, 1_255, t1, 7).unwrap();
    assert_eq!(
        meter.enter(&token.grouped()),
        Ok(Accepted::Credit { kind: TransferKind::Electricity, tenths: 1_255, tid: t1 })
    );
    assert_eq!(meter.enter(&token.digits()), Err(Rejection::Used(t1.minutes())));

    // A second token in the same minute gets the next TID and is accepted.
    let t2 = vend.tid(now, Some(t1)).unwrap();
    assert_eq!(t2.minutes(), t1.minutes() + 1);
    assert!(meter.enter(&vend.credit(TransferKind::Water, 10, t2, 7).unwrap().digits()).is_ok());

    // A token for another meter (another key) is invalid.
    let other = issuer(VK_KDF, KeyParams { sgc: 654_321, ..params(Ea::Sta, BaseDate::Y2014, 1, 255) });
    let foreign = other.credit(TransferKind::Electricity, 10, t2, 1).unwrap();
    assert_eq!(meter.enter(&foreign.digits()), Err(Rejection::InvalidToken));

    // Malformed input and the reserved class.
    assert!(matches!(meter.enter("1234"), Err(Rejection::Format(_))));
    assert!(matches!(meter.enter("abcd efgh ijkl mnop qrst"), Err(Rejection::Format(_))));
    let class3 = TokenNumber::from_class_block(3, 0x0123_4567_89AB_CDEF);
    assert_eq!(meter.enter(&class3.digits()), Err(Rejection::ReservedClass));

    // A mistyped test token fails its CRC; a correct one is accepted without a TID.
    let test = test_token(Token::Test1 { control: 1, manufacturer: 0 }).unwrap();
    assert_eq!(test.digits(), "00000000000150997584", "CTSA11 step 1");
    assert_eq!(meter.enter(&test.digits()), Ok(Accepted::Test1 { control: 1, manufacturer: 0 }));
    let mut typo = test.digits().into_bytes();
    typo[19] = if typo[19] == b'4' { b'5' } else { b'4' };
    assert_eq!(meter.enter(std::str::from_utf8(&typo).unwrap()), Err(Rejection::BadCrc));

    // With a 4-entry memory full, a token older than all of them is too old.
    let later = at("2026-11-23T09:00:00Z");
    let mut last = Some(t2);
    for _ in 0..3 {
        let t = vend.tid(later, last).unwrap();
        meter.enter(&vend.credit(TransferKind::Electricity, 1, t, 0).unwrap().digits()).unwrap();
        last = Some(t);
    }
    let stale = Tid::new(t1.minutes() - 10).unwrap();
    let old_token = vend.credit(TransferKind::Electricity, 1, stale, 0).unwrap();
    assert_eq!(meter.enter(&old_token.digits()), Err(Rejection::TooOld(stale.minutes())));

    // Management tokens go through the same TID rules.
    let t = vend.tid(later, last).unwrap();
    let mpl = vend.max_power_limit(5_500, t, 3).unwrap();
    assert_eq!(
        meter.enter(&mpl.digits()),
        Ok(Accepted::Register { kind: RegisterKind::MaxPowerLimit, value: 5_500, tid: t })
    );
}

#[test]
fn expired_keys_are_refused_on_both_sides() {
    // KEN 85 admits TIDs up to 85·65536 minutes after 1993: around August 2003.
    let vend = issuer(VK_DES, params(Ea::Sta, BaseDate::Y1993, 1, 85));
    assert!(vend.tid(at("2002-04-01T10:05:00Z"), None).is_ok());
    assert_eq!(vend.tid(at("2004-03-01T00:00:00Z"), None), Err(StsError::KeyExpired { ken: 85 }));
    let mut meter = meter_for(&vend, 50);
    let late = Tid::at(BaseDate::Y1993, at("2004-03-01T00:00:00Z")).unwrap();
    let token = vend.credit(TransferKind::Electricity, 10, late, 0).unwrap();
    assert_eq!(meter.enter(&token.digits()), Err(Rejection::KeyExpired { ken: 85 }));
}

#[test]
fn base_1993_meters_stop_at_the_rollover() {
    let vend = issuer(VK_KDF, params(Ea::Sta, BaseDate::Y1993, 1, 255));
    assert!(vend.tid(at("2024-11-24T20:15:00Z"), None).is_ok());
    assert_eq!(vend.tid(at("2024-11-24T20:16:00Z"), None), Err(StsError::TidOverflow));
}

/// The 2024 migration: a key change with RO=1 moves a base-1993 meter to base 2014 (KRN 1 → 2), after
/// which tokens with 2014-based TIDs are accepted.
fn rollover_key_change(ea: Ea) {
    let vk = VendingKey::from_hex(VK_KDF).unwrap();
    let old = issuer(VK_KDF, params(ea, BaseDate::Y1993, 1, 255));
    let mut meter = meter_for(&old, 50);
    let t = old.tid(at("2024-11-01T00:00:00Z"), None).unwrap();
    meter.enter(&old.credit(TransferKind::Electricity, 50, t, 1).unwrap().digits()).unwrap();

    let new_params = params(ea, BaseDate::Y2014, 2, 255);
    let new_record = MeterKeyRecord { pan: old.record().pan.clone(), params: new_params.clone() };
    let new_key = vk.derive(&new_record.pan, &new_params).unwrap();
    let set = old.key_change(&new_key, &new_params, true).unwrap();
    let sections = if ea == Ea::Sta { 2 } else { 4 };
    assert_eq!(set.len(), sections);

    // Out of order: the second section first.
    assert_eq!(meter.enter(&set[1].digits()), Err(Rejection::KeyChangeOutOfOrder { expected: 1, got: 2 }));
    for (i, token) in set.iter().enumerate() {
        let got = meter.enter(&token.digits()).unwrap();
        if i + 1 < sections {
            assert_eq!(got, Accepted::KeyChangeSection { section: i as u8 + 1, of: sections as u8 });
        } else {
            assert_eq!(got, Accepted::KeyChanged { krn: 2, ti: 1, ken: 255, rollover: true, base: BaseDate::Y2014 });
        }
    }
    assert_eq!(meter.key(), new_key);
    assert_eq!(meter.params(), &new_params);

    // After the rollover: new tokens work; tokens for the old key are recognised as such.
    let new = Issuer::with_decoder_key(new_key, new_record);
    let t = new.tid(at("2026-11-23T08:00:00Z"), None).unwrap();
    assert!(matches!(
        meter.enter(&new.credit(TransferKind::Electricity, 10, t, 1).unwrap().digits()),
        Ok(Accepted::Credit { .. })
    ));
    let stale = old.credit(TransferKind::Electricity, 10, Tid::new(t.minutes() + 1).unwrap(), 1).unwrap();
    assert_eq!(meter.enter(&stale.digits()), Err(Rejection::OldKey));
}

#[test]
fn sta_rollover_key_change() {
    rollover_key_change(Ea::Sta);
}

#[test]
fn misty1_rollover_key_change() {
    rollover_key_change(Ea::Misty1);
}

#[test]
fn issuer_refuses_inconsistent_key_changes() {
    let vend = issuer(VK_KDF, params(Ea::Sta, BaseDate::Y2014, 1, 255));
    let k = VendingKey::from_hex(VK_KDF).unwrap();
    let pan = vend.record().pan.clone();
    // RO=1 must move to the next base date.
    let same_base = params(Ea::Sta, BaseDate::Y2014, 2, 255);
    let key = k.derive(&pan, &same_base).unwrap();
    assert!(vend.key_change(&key, &same_base, true).is_err());
    // The new key must be for the new parameters' algorithm.
    let misty = params(Ea::Misty1, BaseDate::Y2014, 2, 255);
    assert!(vend.key_change(&key, &misty, false).is_err());
    // A test token is class 1 only.
    assert!(
        test_token(Token::Transfer { kind: TransferKind::Gas, rnd: 0, tid: Tid::new(1).unwrap(), amount: 1 }).is_err()
    );
}

mod robustness {
    use proptest::prelude::*;
    use voltvend_sts::keys::{KeyParams, KeyType};
    use voltvend_sts::openpaygo::{OpgDecoder, OpgDevice};
    use voltvend_sts::{BaseDate, DecoderKey, StsMeter, Token, TokenNumber};

    fn meters() -> Vec<StsMeter> {
        [DecoderKey::Sta(0xE653_341F_9D5B_F36F), DecoderKey::Misty1([7; 16])]
            .into_iter()
            .map(|key| {
                let p = KeyParams {
                    kt: KeyType::UNIQUE,
                    sgc: 1,
                    ti: 1,
                    krn: 1,
                    ken: 255,
                    base: BaseDate::Y1993,
                    ea: key.ea(),
                };
                StsMeter::new(key, p, 8)
            })
            .collect()
    }

    proptest! {
        /// The stable-toolchain companion of the fuzz targets (which need nightly): arbitrary typing and
        /// arbitrary 66-bit numbers never panic a meter, and whatever decodes re-encodes to itself.
        #[test]
        fn arbitrary_input_never_panics(text in "\\PC{0,40}", digits in "[0-9 -]{0,30}", raw in 0_u128..(1 << 66)) {
            for mut meter in meters() {
                let _ = meter.enter(&text);
                let _ = meter.enter(&digits);
                let number = TokenNumber::new(raw).unwrap();
                if let Ok(token) = Token::decode(number, &meter.key().cipher()) {
                    prop_assert_eq!(token.encode(&meter.key().cipher()).unwrap(), number);
                }
                let _ = meter.enter(&number.digits());
            }
            let mut opg = OpgDecoder::new(OpgDevice::new([1; 16], 123_456_789), 5, false);
            let _ = opg.enter(&digits);
            let mut opg = OpgDecoder::new(OpgDevice::new([1; 16], 123_456_789), 5, true);
            let _ = opg.enter(&text);
        }
    }
}
