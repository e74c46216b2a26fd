//! The simulated meter answers every DL/T 645-2007 function as a meter would, or refuses with the standard's
//! abnormal reply. Requests go through the wire form (encoded, parsed) and `Fleet::handle`, no sockets: the
//! TCP path is covered in `main.rs`.

use jiff::SignedDuration;
use jiff::civil::DateTime;
use voltvend_dlt645::app::{ALL_EVENTS, ErrorBits, FreezeAt, Function, OutputSignal, Password, RateWord, RelayAction};
use voltvend_dlt645::data;
use voltvend_dlt645::frame::{Frame, Parsed};
use voltvend_dlt645::{Address, Reply, Request};
use voltvend_meter::fleet::{
    DEMAND_CLEAR_COUNT, EVENT_CLEAR_COUNT, Fleet, METER_CLEAR_COUNT, PROGRAMMING_COUNT, TIME_SET_COUNT,
};

use super::{cfg, start};

const LEVEL_0: Password = Password([0x00, 0, 0, 0]);
const LEVEL_2: Password = Password([0x02, 0, 0, 0]);
const LEVEL_4: Password = Password([0x04, 0, 0, 0]);
const WRONG: Password = Password([0x02, 0x99, 0, 0]);
const NO_OP: [u8; 4] = [0; 4];

fn addr(no: &str) -> Address {
    Address::from_meter_no(no).unwrap()
}

/// Sends `frame` over the wire form and returns the typed reply, if any.
fn send(fleet: &mut Fleet, frame: Frame) -> Option<(Address, Reply)> {
    let wire = frame.encode(4);
    let Parsed::Frame { frame, .. } = Frame::parse(&wire) else { panic!("unparsable request") };
    let reply = fleet.handle(&frame)?;
    let wire = reply.encode(4);
    let Parsed::Frame { frame, .. } = Frame::parse(&wire) else { panic!("unparsable reply") };
    Some((frame.address, Reply::from_frame(&frame).unwrap()))
}

fn ask(fleet: &mut Fleet, to: &str, request: Request) -> Reply {
    send(fleet, request.to_frame(addr(to))).map(|(_, r)| r).expect("an answer")
}

fn refused(function: Function, error: ErrorBits) -> Reply {
    Reply::Abnormal { function, error }
}

fn read(fleet: &mut Fleet, to: &str, di: u32) -> Vec<u8> {
    match ask(fleet, to, Request::Read { di }) {
        Reply::Data { di: got, value, .. } if got == di => value,
        other => panic!("{other:?}"),
    }
}

fn count(fleet: &mut Fleet, to: &str, counter: u32) -> String {
    let value = read(fleet, to, counter);
    data::decode(data::lookup(counter).unwrap().format, &value).unwrap().to_string_value()
}

fn control(password: Password, action: RelayAction) -> Request {
    let valid_until: DateTime = "2030-01-01T00:00:00".parse().unwrap();
    Request::Control { password, operator: NO_OP, action, valid_until }
}

fn fleet(n: usize) -> Fleet {
    Fleet::new(n, 3, start(), &cfg(), 1_000_000)
}

#[test]
fn read_and_write_address() {
    let mut f = fleet(3);
    // The wildcard answers only when it matches one meter.
    assert!(send(&mut f, Request::ReadAddress.to_frame(Address::WILDCARD)).is_none(), "three meters match");
    let (from, reply) = send(&mut f, Request::ReadAddress.to_frame(addr("AAAAAAAAAA02"))).unwrap();
    assert_eq!((from, reply), (addr("000000000002"), Reply::Address { address: addr("000000000002") }));
    // Write address: the answer comes from the new address, which then answers reads; the old one is gone.
    let new = addr("000000000099");
    let (from, reply) = send(&mut f, Request::WriteAddress { new }.to_frame(addr("000000000002"))).unwrap();
    assert_eq!((from, reply), (new, Reply::Ok { function: Function::WriteAddress }));
    assert_eq!(read(&mut f, "000000000099", 0x0400_0401), new.0.to_vec());
    assert!(send(&mut f, Request::Read { di: 0x0001_0000 }.to_frame(addr("000000000002"))).is_none());
    // Another meter's address, or the broadcast address, is refused.
    let taken = Request::WriteAddress { new: addr("000000000001") };
    assert_eq!(ask(&mut f, "000000000003", taken), refused(Function::WriteAddress, ErrorBits::OTHER));
    let broadcast = Request::WriteAddress { new: Address::BROADCAST };
    assert_eq!(ask(&mut f, "000000000003", broadcast), refused(Function::WriteAddress, ErrorBits::OTHER));
}

#[test]
fn write_data_checks_the_password_and_its_level() {
    let mut f = fleet(2);
    let top_up = |password| Request::Write {
        di: 0x0090_0100,
        password,
        operator: NO_OP,
        value: data::u64_to_bcd(5_000, 4).unwrap(), // 50.00 kWh
    };
    assert_eq!(ask(&mut f, "000000000001", top_up(WRONG)), refused(Function::Write, ErrorBits::UNAUTHORISED));
    // Level 4 may write parameters but not prepayment data.
    assert_eq!(ask(&mut f, "000000000001", top_up(LEVEL_4)), refused(Function::Write, ErrorBits::UNAUTHORISED));
    assert_eq!(count(&mut f, "000000000001", PROGRAMMING_COUNT), "0", "refusals change nothing");
    assert_eq!(ask(&mut f, "000000000001", top_up(LEVEL_2)), Reply::Ok { function: Function::Write });
    assert_eq!(read(&mut f, "000000000001", 0x0090_0100), data::u64_to_bcd(5_000, 4).unwrap());
    assert_eq!(count(&mut f, "000000000001", PROGRAMMING_COUNT), "1");
    // The clock is a parameter: level 4 sets the time (hhmmss, ss first).
    let set_time =
        Request::Write { di: 0x0400_0102, password: LEVEL_4, operator: NO_OP, value: vec![0x56, 0x34, 0x12] };
    assert_eq!(ask(&mut f, "000000000001", set_time), Reply::Ok { function: Function::Write });
    assert_eq!(read(&mut f, "000000000001", 0x0400_0102), vec![0x56, 0x34, 0x12]);
    assert_eq!(read(&mut f, "000000000002", 0x0400_0102), vec![0x00, 0x00, 0x10], "the other meter keeps 10:00");
    assert_eq!(count(&mut f, "000000000001", TIME_SET_COUNT), "1");
    // 25 o'clock, a measured register, an unknown DI, a value of the wrong length.
    let bad = |di, value| Request::Write { di, password: LEVEL_2, operator: NO_OP, value };
    let f1 = &mut f;
    assert_eq!(ask(f1, "000000000001", bad(0x0400_0102, vec![0, 0, 0x25])), refused(Function::Write, ErrorBits::OTHER));
    assert_eq!(
        ask(f1, "000000000001", bad(0x0001_0000, vec![0; 4])),
        refused(Function::Write, ErrorBits::UNAUTHORISED)
    );
    assert_eq!(ask(f1, "000000000001", bad(0x1234_5678, vec![0; 4])), refused(Function::Write, ErrorBits::NO_DATA));
    assert_eq!(ask(f1, "000000000001", bad(0x0090_0100, vec![0; 3])), refused(Function::Write, ErrorBits::OTHER));
}

#[test]
fn freeze_now_addressed_and_broadcast() {
    let mut f = fleet(2);
    f.step(SignedDuration::from_hours(3));
    assert_eq!(
        ask(&mut f, "000000000001", Request::Read { di: 0x0501_0101 }),
        refused(Function::Read, ErrorBits::NO_DATA),
        "nothing frozen yet"
    );
    assert_eq!(
        ask(&mut f, "000000000001", Request::Freeze { at: FreezeAt::Now }),
        Reply::Ok { function: Function::Freeze }
    );
    let frozen = read(&mut f, "000000000001", 0x0501_0101);
    assert_eq!(frozen[..4], read(&mut f, "000000000001", 0x0001_0000)[..], "the frozen total is the total then");
    assert_eq!(read(&mut f, "000000000001", 0x0501_0001), vec![0x00, 0x13, 0x23, 0x11, 0x26], "13:00 on 2026-11-23");
    f.step(SignedDuration::from_hours(1));
    assert_eq!(read(&mut f, "000000000001", 0x0501_0101), frozen, "a freeze keeps its values");
    assert_ne!(read(&mut f, "000000000001", 0x0001_0000)[..], frozen[..4]);
    // A broadcast freeze reaches every meter and is not answered.
    let broadcast = Request::Freeze { at: FreezeAt::Now }.to_frame(Address::BROADCAST);
    assert!(send(&mut f, broadcast).is_none());
    assert_eq!(read(&mut f, "000000000002", 0x0501_0001), vec![0x00, 0x14, 0x23, 0x11, 0x26]);
    // A timed freeze pattern is accepted and kept.
    let daily = FreezeAt::Daily { hour: 0, minute: 0 };
    assert_eq!(ask(&mut f, "000000000002", Request::Freeze { at: daily }), Reply::Ok { function: Function::Freeze });
    assert_eq!(f.meter(&addr("000000000002")).unwrap().protocol.freeze_schedule, Some(daily));
}

#[test]
fn change_rate_accepts_standard_rates_only() {
    let mut f = fleet(1);
    assert_eq!(read(&mut f, "000000000001", 0x0400_0703), vec![0x08], "2400 bit/s from the factory");
    let r9600 = RateWord::from_baud(9_600).unwrap();
    assert_eq!(ask(&mut f, "000000000001", Request::ChangeRate { rate: r9600 }), Reply::RateChanged { rate: r9600 });
    assert_eq!(read(&mut f, "000000000001", 0x0400_0703), vec![0x20]);
    for word in [0x00, 0x01, 0x0C, 0x80] {
        assert_eq!(
            ask(&mut f, "000000000001", Request::ChangeRate { rate: RateWord(word) }),
            refused(Function::ChangeRate, ErrorBits::BAUD_RATE),
            "{word:#04x}"
        );
    }
    assert_eq!(read(&mut f, "000000000001", 0x0400_0703), vec![0x20], "a refused word changes nothing");
}

#[test]
fn change_password_then_only_the_new_one_works() {
    let mut f = fleet(1);
    let new = Password::new(0x02, [0x12, 0x34, 0x56]);
    let change = |old, new| Request::ChangePassword { old, new };
    assert_eq!(
        ask(&mut f, "000000000001", change(WRONG, new)),
        refused(Function::ChangePassword, ErrorBits::UNAUTHORISED)
    );
    // A level-2 password cannot set a level-0 one.
    let level0 = Password::new(0x00, [9, 9, 9]);
    assert_eq!(
        ask(&mut f, "000000000001", change(LEVEL_2, level0)),
        refused(Function::ChangePassword, ErrorBits::UNAUTHORISED)
    );
    assert_eq!(ask(&mut f, "000000000001", change(LEVEL_2, new)), Reply::PasswordChanged { new });
    assert_eq!(
        ask(&mut f, "000000000001", control(LEVEL_2, RelayAction::Trip)),
        refused(Function::Control, ErrorBits::UNAUTHORISED)
    );
    assert_eq!(ask(&mut f, "000000000001", control(new, RelayAction::Trip)), Reply::Ok { function: Function::Control });
    // Level 0 may set a level that had no password (level 5), which then works for what level 5 may do: nothing
    // that needs level 4 or better.
    let level5 = Password::new(0x05, [1, 1, 1]);
    assert_eq!(ask(&mut f, "000000000001", change(LEVEL_0, level5)), Reply::PasswordChanged { new: level5 });
    let clear = Request::ClearDemand { password: level5, operator: NO_OP };
    assert_eq!(ask(&mut f, "000000000001", clear), refused(Function::ClearDemand, ErrorBits::UNAUTHORISED));
    assert_eq!(count(&mut f, "000000000001", PROGRAMMING_COUNT), "2");
}

#[test]
fn clear_demand_meter_and_events_by_level() {
    let mut f = fleet(1);
    f.step(SignedDuration::from_hours(2));
    let demand = read(&mut f, "000000000001", 0x0101_0000);
    assert_ne!(demand[..3], [0, 0, 0], "some demand recorded");
    let p = f.meter(&addr("000000000001")).unwrap().power_w();
    assert!(u64::from(p) * 10 <= data::bcd_to_u64(&demand[..3]).unwrap(), "the maximum is at least the last power");

    assert_eq!(
        ask(&mut f, "000000000001", Request::ClearDemand { password: WRONG, operator: NO_OP }),
        refused(Function::ClearDemand, ErrorBits::UNAUTHORISED)
    );
    assert_eq!(
        ask(&mut f, "000000000001", Request::ClearDemand { password: LEVEL_4, operator: NO_OP }),
        Reply::Ok { function: Function::ClearDemand }
    );
    assert_eq!(read(&mut f, "000000000001", 0x0101_0000), vec![0; 8]);
    assert_eq!(count(&mut f, "000000000001", DEMAND_CLEAR_COUNT), "1");

    // Clearing the meter needs level 2; it zeroes the energy and every record but its own.
    assert_eq!(
        ask(&mut f, "000000000001", Request::ClearMeter { password: LEVEL_4, operator: NO_OP }),
        refused(Function::ClearMeter, ErrorBits::UNAUTHORISED)
    );
    assert_ne!(read(&mut f, "000000000001", 0x0001_0000), vec![0; 4]);
    assert_eq!(
        ask(&mut f, "000000000001", Request::ClearMeter { password: LEVEL_2, operator: NO_OP }),
        Reply::Ok { function: Function::ClearMeter }
    );
    assert_eq!(read(&mut f, "000000000001", 0x0001_0000), vec![0; 4]);
    assert_eq!(count(&mut f, "000000000001", DEMAND_CLEAR_COUNT), "0");
    assert_eq!(count(&mut f, "000000000001", METER_CLEAR_COUNT), "1");

    // Events: one kind (DI0 = FF), then all; the event-clear record itself stays and counts.
    let clear = |password, event| Request::ClearEvents { password, operator: NO_OP, event };
    assert_eq!(
        ask(&mut f, "000000000001", clear(LEVEL_4, ALL_EVENTS)),
        refused(Function::ClearEvents, ErrorBits::UNAUTHORISED)
    );
    assert_eq!(ask(&mut f, "000000000001", clear(LEVEL_2, 0x0330_01FF)), Reply::Ok { function: Function::ClearEvents });
    assert_eq!(count(&mut f, "000000000001", METER_CLEAR_COUNT), "0");
    assert_eq!(
        ask(&mut f, "000000000001", clear(LEVEL_2, 0x1234_56FF)),
        refused(Function::ClearEvents, ErrorBits::NO_DATA)
    );
    assert_eq!(ask(&mut f, "000000000001", clear(LEVEL_2, ALL_EVENTS)), Reply::Ok { function: Function::ClearEvents });
    assert_eq!(count(&mut f, "000000000001", EVENT_CLEAR_COUNT), "2");
}

#[test]
fn relay_alarm_and_keep_power() {
    let mut f = fleet(1);
    let status = |f: &mut Fleet| u16::from_le_bytes(read(f, "000000000001", 0x0400_0503).try_into().unwrap());
    let ok = Reply::Ok { function: Function::Control };
    assert_eq!(
        ask(&mut f, "000000000001", control(WRONG, RelayAction::Trip)),
        refused(Function::Control, ErrorBits::UNAUTHORISED)
    );
    assert_eq!(
        ask(&mut f, "000000000001", control(LEVEL_4, RelayAction::Trip)),
        refused(Function::Control, ErrorBits::UNAUTHORISED)
    );
    // The alarm on command, whatever the credit (status word 3 bit 7).
    assert_eq!(status(&mut f) & 1 << 7, 0);
    assert_eq!(ask(&mut f, "000000000001", control(LEVEL_2, RelayAction::Alarm)), ok);
    assert_eq!(status(&mut f) & 1 << 7, 1 << 7);
    assert_eq!(ask(&mut f, "000000000001", control(LEVEL_2, RelayAction::AlarmRelease)), ok);
    assert_eq!(status(&mut f) & 1 << 7, 0);
    // Keep-power blocks trips until released.
    assert_eq!(ask(&mut f, "000000000001", control(LEVEL_2, RelayAction::KeepPower)), ok);
    assert_eq!(status(&mut f) & 1 << 8, 1 << 8);
    assert_eq!(
        ask(&mut f, "000000000001", control(LEVEL_2, RelayAction::Trip)),
        refused(Function::Control, ErrorBits::OTHER)
    );
    assert_eq!(status(&mut f) & 1 << 4, 0, "the relay stays closed");
    assert_eq!(ask(&mut f, "000000000001", control(LEVEL_2, RelayAction::KeepPowerRelease)), ok);
    assert_eq!(ask(&mut f, "000000000001", control(LEVEL_2, RelayAction::Trip)), ok);
    assert_eq!(status(&mut f) & (1 << 4 | 1 << 6), 1 << 4 | 1 << 6, "open, by command");
    assert_eq!(ask(&mut f, "000000000001", control(LEVEL_2, RelayAction::DirectClose)), ok);
    assert_eq!(status(&mut f) & 1 << 4, 0);
}

#[test]
fn broadcast_time_output_and_what_is_refused() {
    let mut f = fleet(2);
    let at: DateTime = "2026-11-23T09:59:00".parse().unwrap();
    assert!(send(&mut f, Request::BroadcastTime { at }.to_frame(Address::BROADCAST)).is_none(), "never answered");
    assert_eq!(read(&mut f, "000000000002", 0x0400_0102), vec![0x00, 0x59, 0x09]);
    assert_eq!(count(&mut f, "000000000002", TIME_SET_COUNT), "1");
    let out = Request::MultiFunctionOutput { signal: OutputSignal::DemandPeriod };
    assert_eq!(ask(&mut f, "000000000001", out), Reply::OutputSet { signal: OutputSignal::DemandPeriod });
    // No follow-up frames or load records are kept.
    let follow = Request::ReadFollowUp { di: 0x0001_0000, seq: 1 };
    assert_eq!(ask(&mut f, "000000000001", follow), refused(Function::ReadFollowUp, ErrorBits::NO_DATA));
    let records = Request::ReadRecords { di: 0x0600_0001, blocks: 1, since: None };
    assert_eq!(ask(&mut f, "000000000001", records), refused(Function::Read, ErrorBits::NO_DATA));
    // A malformed request of a known function gets "other error"; an undefined function code too.
    let short = Frame { address: addr("000000000001"), control: 0x19, data: vec![0; 3] };
    assert_eq!(send(&mut f, short).unwrap().1, refused(Function::ClearDemand, ErrorBits::OTHER));
    let undefined = Frame { address: addr("000000000001"), control: 0x1E, data: vec![] };
    let reply = f.handle(&undefined).unwrap();
    assert_eq!((reply.control, reply.data), (0xDE, vec![0x01]));
    // A reply sent to the meter is not answered.
    assert!(f.handle(&Reply::Ok { function: Function::Write }.to_frame(addr("000000000001"))).is_none());
}
