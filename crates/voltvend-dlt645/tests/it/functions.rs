//! One request and one reply (normal and abnormal) for every DL/T 645-2007 function, as wire bytes worked out
//! from the standard's layouts apart from the encoder: data bytes +0x33, then CS = the byte sum from the first
//! 0x68 through the last data byte, mod 256. The header sum 68 + A0…A5 + 68 is 32 for meter 000000000161,
//! 33 for …162, 66 for the broadcast address 99…99 and CC for the wildcard AA…AA; each comment adds C, L and
//! the scrambled data to it. Each frame must be what the encoder writes and parse back to the same message.

use jiff::civil::DateTime;
use voltvend_dlt645::app::{ALL_EVENTS, ErrorBits, FreezeAt, Function, OutputSignal, Password, RateWord, RelayAction};
use voltvend_dlt645::frame::{Frame, Parsed};
use voltvend_dlt645::{Address, Reply, Request};

use crate::hex;

fn meter() -> Address {
    Address::from_meter_no("000000000161").unwrap()
}

fn at(s: &str) -> DateTime {
    s.parse().unwrap()
}

const LEVEL_2_DEFAULT: Password = Password([0x02, 0x00, 0x00, 0x00]);
const NO_OPERATOR: [u8; 4] = [0; 4];

fn check(address: Address, wire: &str, encoded: Frame, parsed: impl Fn(&Frame) -> String, want: String) {
    let bytes = hex(wire).unwrap();
    assert_eq!(encoded.address, address);
    assert_eq!(encoded.encode(0), bytes, "encoding {want}");
    let Parsed::Frame { frame, consumed } = Frame::parse(&bytes) else { panic!("{wire} does not parse") };
    assert_eq!(consumed, bytes.len());
    assert_eq!(parsed(&frame), want, "{wire}");
}

fn request(address: Address, message: Request, wire: &str) {
    let want = format!("{message:?}");
    check(address, wire, message.to_frame(address), |f| format!("{:?}", Request::from_frame(f).unwrap()), want);
}

fn reply(address: Address, message: Reply, wire: &str) {
    let want = format!("{message:?}");
    check(address, wire, message.to_frame(address), |f| format!("{:?}", Reply::from_frame(f).unwrap()), want);
}

#[test]
fn every_function_request_by_hand() {
    let m = meter();
    // 08 broadcast time 2026-11-23 18:30:00 as ss mm hh DD MM YY. CS = 66 + 08 + 06 + 1D4 = 248 → 48
    request(
        Address::BROADCAST,
        Request::BroadcastTime { at: at("2026-11-23T18:30:00") },
        "68 99 99 99 99 99 99 68 08 06 33 63 4B 56 44 59 48 16",
    );
    // 11 read DI 00010000. CS = 32 + 11 + 04 + CD = 114 → 14 (the public vector's frame)
    request(m, Request::Read { di: 0x0001_0000 }, "68 61 01 00 00 00 00 68 11 04 33 33 34 33 14 16");
    // 11 read one load-record block of DI 06000001. CS = 32 + 11 + 05 + 107 = 14F → 4F
    request(
        m,
        Request::ReadRecords { di: 0x0600_0001, blocks: 1, since: None },
        "68 61 01 00 00 00 00 68 11 05 34 33 33 39 34 4F 16",
    );
    // … from 2026-11-23 00:00 (mm hh DD MM YY). CS = 32 + 11 + 0A + 260 = 2AD → AD
    request(
        m,
        Request::ReadRecords { di: 0x0600_0001, blocks: 1, since: Some(at("2026-11-23T00:00:00")) },
        "68 61 01 00 00 00 00 68 11 0A 34 33 33 39 34 33 33 56 44 59 AD 16",
    );
    // 12 read follow-up frame 1 of DI 00010000. CS = 32 + 12 + 05 + 101 = 14A → 4A
    request(m, Request::ReadFollowUp { di: 0x0001_0000, seq: 1 }, "68 61 01 00 00 00 00 68 12 05 33 33 34 33 34 4A 16");
    // 13 read address, to the wildcard. CS = CC + 13 + 00 = DF (the public vector's frame)
    request(Address::WILDCARD, Request::ReadAddress, "68 AA AA AA AA AA AA 68 13 00 DF 16");
    // 14 write alarm energy 1 (04000F01) = 20.00 kWh with level-2 password 000000, operator 00000000.
    // CS = 32 + 14 + 10 + 366 = 3BC → BC
    request(
        m,
        Request::Write {
            di: 0x0400_0F01,
            password: LEVEL_2_DEFAULT,
            operator: NO_OPERATOR,
            value: vec![0x00, 0x20, 0x00, 0x00],
        },
        "68 61 01 00 00 00 00 68 14 10 34 42 33 37 35 33 33 33 33 33 33 33 33 53 33 33 BC 16",
    );
    // 15 write address 000000000162, to the wildcard. CS = CC + 15 + 06 + 195 = 27C → 7C
    request(
        Address::WILDCARD,
        Request::WriteAddress { new: Address::from_meter_no("000000000162").unwrap() },
        "68 AA AA AA AA AA AA 68 15 06 95 34 33 33 33 33 7C 16",
    );
    // 16 freeze now (99999999). CS = 32 + 16 + 04 + 330 = 37C → 7C
    request(m, Request::Freeze { at: FreezeAt::Now }, "68 61 01 00 00 00 00 68 16 04 CC CC CC CC 7C 16");
    // 16 freeze daily at 12:00 (9999hhmm, sent mm hh 99 99). CS = 32 + 16 + 04 + 210 = 25C → 5C
    request(
        m,
        Request::Freeze { at: FreezeAt::Daily { hour: 12, minute: 0 } },
        "68 61 01 00 00 00 00 68 16 04 33 45 CC CC 5C 16",
    );
    // 17 change rate to 9600 bit/s: feature word bit 5 = 20. CS = 32 + 17 + 01 + 53 = 9D → 9D
    request(m, Request::ChangeRate { rate: RateWord(0x20) }, "68 61 01 00 00 00 00 68 17 01 53 9D 16");
    assert_eq!(RateWord::from_baud(9_600), Some(RateWord(0x20)));
    // 18 level-2 password 000000 → 123456: DI 04000C03 (04000C01 + level 2), old, new.
    // CS = 32 + 18 + 0C + 317 = 36D → 6D
    request(
        m,
        Request::ChangePassword { old: LEVEL_2_DEFAULT, new: Password::new(0x02, [0x12, 0x34, 0x56]) },
        "68 61 01 00 00 00 00 68 18 0C 36 3F 33 37 35 33 33 33 35 45 67 89 6D 16",
    );
    // 19 clear maximum demand. CS = 32 + 19 + 08 + 19A = 1ED → ED
    request(
        m,
        Request::ClearDemand { password: LEVEL_2_DEFAULT, operator: NO_OPERATOR },
        "68 61 01 00 00 00 00 68 19 08 35 33 33 33 33 33 33 33 ED 16",
    );
    // 1A clear meter. CS = 32 + 1A + 08 + 19A = 1EE → EE
    request(
        m,
        Request::ClearMeter { password: LEVEL_2_DEFAULT, operator: NO_OPERATOR },
        "68 61 01 00 00 00 00 68 1A 08 35 33 33 33 33 33 33 33 EE 16",
    );
    // 1B clear every event (DI FFFFFFFF). CS = 32 + 1B + 0C + 262 = 2BB → BB
    request(
        m,
        Request::ClearEvents { password: LEVEL_2_DEFAULT, operator: NO_OPERATOR, event: ALL_EVENTS },
        "68 61 01 00 00 00 00 68 1B 0C 35 33 33 33 33 33 33 33 32 32 32 32 BB 16",
    );
    // 1C keep power (N1 3A), N2 00, valid until 2030-01-01 00:00:00. CS = 32 + 1C + 10 + 39E = 3FC → FC
    request(
        m,
        Request::Control {
            password: LEVEL_2_DEFAULT,
            operator: NO_OPERATOR,
            action: RelayAction::KeepPower,
            valid_until: at("2030-01-01T00:00:00"),
        },
        "68 61 01 00 00 00 00 68 1C 10 35 33 33 33 33 33 33 33 6D 33 33 33 33 34 34 63 FC 16",
    );
    // 1C trip (N1 1A). CS = 32 + 1C + 10 + 37E = 3DC → DC
    request(
        m,
        Request::Control {
            password: LEVEL_2_DEFAULT,
            operator: NO_OPERATOR,
            action: RelayAction::Trip,
            valid_until: at("2030-01-01T00:00:00"),
        },
        "68 61 01 00 00 00 00 68 1C 10 35 33 33 33 33 33 33 33 4D 33 33 33 33 34 34 63 DC 16",
    );
    // 1D multi-function terminal: tariff switch (02). CS = 32 + 1D + 01 + 35 = 85 → 85
    request(
        m,
        Request::MultiFunctionOutput { signal: OutputSignal::TariffSwitch },
        "68 61 01 00 00 00 00 68 1D 01 35 85 16",
    );
}

#[test]
fn every_function_reply_by_hand() {
    let m = meter();
    // 91 DI 00010000 = 0.26 kWh. CS = 32 + 91 + 08 + 1BF = 28A → 8A (the public vector's frame)
    reply(
        m,
        Reply::Data { di: 0x0001_0000, value: vec![0x26, 0, 0, 0], follow_up: false },
        "68 61 01 00 00 00 00 68 91 08 33 33 34 33 59 33 33 33 8A 16",
    );
    // B1: the same with follow-up frames (bit 5). CS = 32 + B1 + 08 + 1BF = 2AA → AA
    reply(
        m,
        Reply::Data { di: 0x0001_0000, value: vec![0x26, 0, 0, 0], follow_up: true },
        "68 61 01 00 00 00 00 68 B1 08 33 33 34 33 59 33 33 33 AA 16",
    );
    // 92 follow-up frame 1: DI, value, SEQ. CS = 32 + 92 + 09 + 1F3 = 2C0 → C0
    reply(
        m,
        Reply::FollowUpData { di: 0x0001_0000, value: vec![0x26, 0, 0, 0], seq: 1, follow_up: false },
        "68 61 01 00 00 00 00 68 92 09 33 33 34 33 59 33 33 33 34 C0 16",
    );
    // 93 the address. CS = 32 + 93 + 06 + 194 = 25F → 5F
    reply(m, Reply::Address { address: m }, "68 61 01 00 00 00 00 68 93 06 94 34 33 33 33 33 5F 16");
    // Acknowledgements without data: CS = 32 + C + 00.
    reply(m, Reply::Ok { function: Function::Write }, "68 61 01 00 00 00 00 68 94 00 C6 16");
    // 95 comes from the new address 000000000162: CS = 33 + 95 + 00 = C8
    let new = Address::from_meter_no("000000000162").unwrap();
    reply(new, Reply::Ok { function: Function::WriteAddress }, "68 62 01 00 00 00 00 68 95 00 C8 16");
    reply(m, Reply::Ok { function: Function::Freeze }, "68 61 01 00 00 00 00 68 96 00 C8 16");
    reply(m, Reply::Ok { function: Function::ClearDemand }, "68 61 01 00 00 00 00 68 99 00 CB 16");
    reply(m, Reply::Ok { function: Function::ClearMeter }, "68 61 01 00 00 00 00 68 9A 00 CC 16");
    reply(m, Reply::Ok { function: Function::ClearEvents }, "68 61 01 00 00 00 00 68 9B 00 CD 16");
    reply(m, Reply::Ok { function: Function::Control }, "68 61 01 00 00 00 00 68 9C 00 CE 16");
    // 97 the new rate word (9600). CS = 32 + 97 + 01 + 53 = 11D → 1D
    reply(m, Reply::RateChanged { rate: RateWord(0x20) }, "68 61 01 00 00 00 00 68 97 01 53 1D 16");
    // 98 the new password. CS = 32 + 98 + 04 + 16A = 238 → 38
    reply(
        m,
        Reply::PasswordChanged { new: Password::new(0x02, [0x12, 0x34, 0x56]) },
        "68 61 01 00 00 00 00 68 98 04 35 45 67 89 38 16",
    );
    // 9D the output now set. CS = 32 + 9D + 01 + 35 = 105 → 05
    reply(m, Reply::OutputSet { signal: OutputSignal::TariffSwitch }, "68 61 01 00 00 00 00 68 9D 01 35 05 16");
}

#[test]
fn every_abnormal_reply_by_hand() {
    let m = meter();
    // C | 0xC0 and one error byte: CS = 32 + C + 01 + (ERR + 33).
    let cases = [
        (Function::Read, ErrorBits::NO_DATA, "68 61 01 00 00 00 00 68 D1 01 35 39 16"), // 32+D1+01+35 = 139
        (Function::ReadFollowUp, ErrorBits::NO_DATA, "68 61 01 00 00 00 00 68 D2 01 35 3A 16"), // 13A
        (Function::ReadAddress, ErrorBits::OTHER, "68 61 01 00 00 00 00 68 D3 01 34 3A 16"), // 13A
        (Function::Write, ErrorBits::UNAUTHORISED, "68 61 01 00 00 00 00 68 D4 01 37 3E 16"), // 13E
        (Function::WriteAddress, ErrorBits::OTHER, "68 61 01 00 00 00 00 68 D5 01 34 3C 16"), // 13C
        (Function::Freeze, ErrorBits::OTHER, "68 61 01 00 00 00 00 68 D6 01 34 3D 16"), // 13D
        (Function::ChangeRate, ErrorBits::BAUD_RATE, "68 61 01 00 00 00 00 68 D7 01 3B 45 16"), // 145
        (Function::ChangePassword, ErrorBits::UNAUTHORISED, "68 61 01 00 00 00 00 68 D8 01 37 42 16"), // 142
        (Function::ClearDemand, ErrorBits::UNAUTHORISED, "68 61 01 00 00 00 00 68 D9 01 37 43 16"), // 143
        (Function::ClearMeter, ErrorBits::UNAUTHORISED, "68 61 01 00 00 00 00 68 DA 01 37 44 16"), // 144
        (Function::ClearEvents, ErrorBits::UNAUTHORISED, "68 61 01 00 00 00 00 68 DB 01 37 45 16"), // 145
        (Function::Control, ErrorBits::UNAUTHORISED, "68 61 01 00 00 00 00 68 DC 01 37 46 16"), // 146
        (Function::MultiFunctionOutput, ErrorBits::OTHER, "68 61 01 00 00 00 00 68 DD 01 34 44 16"), // 144
    ];
    for (function, error, wire) in cases {
        reply(m, Reply::Abnormal { function, error }, wire);
    }
    // Every function the meter answers has its abnormal reply above; broadcast time is never answered.
    let covered: Vec<Function> = cases.iter().map(|(f, ..)| *f).collect();
    for f in Function::ALL {
        assert_eq!(covered.contains(&f), f != Function::BroadcastTime, "{f:?}");
    }
    // The error bits and what they mean.
    let meanings = ErrorBits(0x7F).meanings();
    assert_eq!(meanings.len(), 7);
    assert_eq!(ErrorBits::TARIFFS.meanings(), ["too many tariffs"]);
}
