//! The DL/T 645 vector harness. It reads every `*.json` file under `<vectors>/dlt645/` and checks every row
//! of the schema in `docs/vectors.md`; a row's kind comes from what the frame is — the direction bit, the
//! abnormal bit and the function of its control code — never from which keys the row happens to carry or from
//! which file it is in. A row it cannot classify fails, and so does a file with no rows. The counts are
//! printed, not compared with today's files, so another suite's file of the same schema is checked as well.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::Value;
use voltvend_dlt645::app::Function;
use voltvend_dlt645::data;
use voltvend_dlt645::frame::{Frame, Parsed};
use voltvend_dlt645::{Reply, Request};

use crate::hex;

/// What the harness found, by kind of row.
#[derive(Debug, Default)]
pub struct Counts {
    pub files: usize,
    pub rows: usize,
    pub kinds: BTreeMap<String, usize>,
    pub values_decoded: usize,
    pub refused_frames: usize,
}

/// Checks every DL/T 645 vector file under `dir` (the root of a vectors folder). `Err` lists every failing
/// row with its file and index.
pub fn check_folder(dir: &Path) -> Result<Counts, Vec<String>> {
    let sub = dir.join("dlt645");
    let files = voltvend_testkit::files_under(&sub).map_err(|e| vec![format!("{}: {e}", sub.display())])?;
    let mut counts = Counts::default();
    let mut failures = Vec::new();
    for (name, path) in files.into_iter().filter(|(n, _)| n.ends_with(".json")) {
        counts.files += 1;
        let rows = match read_rows(&path) {
            Ok(rows) => rows,
            Err(e) => {
                failures.push(format!("dlt645/{name}: {e}"));
                continue;
            }
        };
        for (i, row) in rows.iter().enumerate() {
            match check_row(row, &mut counts) {
                Ok(kind) => {
                    *counts.kinds.entry(kind).or_default() += 1;
                    counts.rows += 1;
                }
                Err(e) => failures.push(format!("dlt645/{name} #{i}: {e} — {row}")),
            }
        }
    }
    if counts.files == 0 {
        failures.push(format!("no DL/T 645 vector file (*.json) in {}", sub.display()));
    }
    if failures.is_empty() { Ok(counts) } else { Err(failures) }
}

fn read_rows(path: &Path) -> Result<Vec<Value>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| e.to_string())?;
    let doc: Value = serde_json::from_str(&text).map_err(|e| format!("not JSON: {e}"))?;
    let rows = doc.get("frames").and_then(Value::as_array).ok_or("no \"frames\" array")?;
    if rows.is_empty() {
        return Err("the \"frames\" array is empty".into());
    }
    Ok(rows.clone())
}

fn text<'a>(row: &'a Value, key: &str) -> Result<Option<&'a str>, String> {
    match row.get(key) {
        None => Ok(None),
        Some(v) => v.as_str().map(Some).ok_or(format!("{key} is not a string")),
    }
}

/// Whether six BCD bytes ss mm hh DD MM YY name a calendar time — worked out here, apart from the codec, so
/// that a frame whose time is not a time is told from a codec that refuses a good one.
fn is_calendar_time(b: &[u8]) -> bool {
    let digits: Option<Vec<i16>> =
        b.iter().map(|x| ((x >> 4) <= 9 && (x & 0x0F) <= 9).then_some(i16::from((x >> 4) * 10 + (x & 0x0F)))).collect();
    match digits.as_deref() {
        Some(&[ss, mm, hh, dd, mo, yy]) => {
            jiff::civil::DateTime::new(2000 + yy, mo as i8, dd as i8, hh as i8, mm as i8, ss as i8, 0).is_ok()
        }
        _ => false,
    }
}

/// The time field of a request that carries one.
fn time_field(frame: &Frame) -> Option<&[u8]> {
    match Function::from_code(frame.control)? {
        Function::BroadcastTime => frame.data.get(..6),
        Function::Control => frame.data.get(10..16),
        _ => None,
    }
}

/// Checks one row; returns its kind.
fn check_row(row: &Value, counts: &mut Counts) -> Result<String, String> {
    let wire = hex(text(row, "frame")?.ok_or("the row has no \"frame\"")?)?;
    let checksum_ok = match row.get("checksum_ok") {
        None => true,
        Some(v) => v.as_bool().ok_or("checksum_ok is not a boolean")?,
    };
    let frame = match (Frame::parse(&wire), checksum_ok) {
        (Parsed::Frame { frame, consumed }, true) if consumed == wire.len() => frame,
        (Parsed::Frame { consumed, .. }, true) => {
            return Err(format!("the frame ends after {consumed} of {} bytes", wire.len()));
        }
        (Parsed::Invalid { reason: "checksum mismatch", .. }, false) => {
            counts.refused_frames += 1;
            return Ok("refused: bad checksum".into());
        }
        (other, true) => return Err(format!("the link layer refused a frame the row calls good: {other:?}")),
        (other, false) => return Err(format!("the row marks a bad checksum, the link layer gave {other:?}")),
    };

    // The row's claims about the link frame, each checked where the row makes it.
    if let Some(no) = text(row, "addr_meter_no")?
        && frame.address.meter_no() != no.to_lowercase()
    {
        return Err(format!("address {} ≠ {no}", frame.address.meter_no()));
    }
    if let Some(c) = text(row, "ctrl")? {
        let want = u8::from_str_radix(c, 16).map_err(|e| format!("ctrl {c:?}: {e}"))?;
        if frame.control != want {
            return Err(format!("control {:02X} ≠ {want:02X}", frame.control));
        }
    }
    if let Some(l) = row.get("L") {
        let want = l.as_u64().ok_or("L is not a number")?;
        if frame.data.len() as u64 != want {
            return Err(format!("L {} ≠ {want}", frame.data.len()));
        }
    }
    if let Some(d) = text(row, "data_minus_0x33")?
        && frame.data != hex(d)?
    {
        return Err("the data field (−0x33) differs".into());
    }
    let preamble = wire.iter().take_while(|b| **b == 0xFE).count();
    if frame.encode(preamble) != wire {
        return Err("re-encoding the frame gives other bytes".into());
    }

    // The kind: direction bit, abnormal bit and function of the control code.
    let function = Function::from_code(frame.control)
        .ok_or(format!("cannot classify control code {:02X}: no DL/T 645-2007 function", frame.control))?;
    let expected_value = text(row, "expected_value")?;
    if frame.is_reply() {
        let reply = Reply::from_frame(&frame).map_err(|e| format!("cannot classify this reply: {e}"))?;
        if reply.to_frame(frame.address) != frame {
            return Err(format!("the typed reply {reply:?} re-encodes to another frame"));
        }
        if let Some(want) = expected_value {
            let Reply::Data { di, value, .. } = &reply else {
                return Err(format!("expected_value on a row that is not a data reply ({reply:?})"));
            };
            let id = data::lookup(*di).ok_or(format!("expected_value for DI {di:08X}, which the table lacks"))?;
            let got = data::decode(id.format, value).map_err(|e| e.to_string())?.to_string_value();
            if got != want {
                return Err(format!("value {got} ≠ expected {want}"));
            }
            counts.values_decoded += 1;
        }
        let what = if frame.is_abnormal() { "abnormal reply" } else { "reply" };
        return Ok(format!("{what}: {}", function.name()));
    }
    if expected_value.is_some() {
        return Err("expected_value on a request".into());
    }
    match Request::from_frame(&frame) {
        Ok(request) if request.to_frame(frame.address) == frame => Ok(format!("request: {}", function.name())),
        Ok(request) => Err(format!("the typed request {request:?} re-encodes to another frame")),
        // A frame-level vector whose time field is not a calendar time (the public broadcast-time frame has
        // month 34): the codec must refuse it, and the harness sees for itself why.
        Err(e) if time_field(&frame).is_some_and(|t| !is_calendar_time(t)) => {
            Ok(format!("request, frame level only (its time is not a time, refused: {e}): {}", function.name()))
        }
        Err(e) => Err(format!("cannot classify this request: {e}")),
    }
}

fn report(what: &str, c: &Counts) {
    eprintln!(
        "{what}: {} DL/T 645 rows in {} files, {} values decoded, {} bad frames refused",
        c.rows, c.files, c.values_decoded, c.refused_frames
    );
    for (kind, n) in &c.kinds {
        eprintln!("  {n:>4}  {kind}");
    }
}

#[test]
fn every_frame_in_the_vector_folder() {
    let dir = voltvend_testkit::vectors_dir();
    let counts = check_folder(&dir).unwrap_or_else(|f| panic!("{} failures:\n{}", f.len(), f.join("\n")));
    report(&dir.display().to_string(), &counts);
    assert!(counts.rows >= 1 && counts.files >= 1);
}

/// Writes `rows` as a DL/T 645 vector file in a fresh folder laid out like the vectors folder.
fn folder_with(rows: Value) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("dlt645")).unwrap();
    std::fs::write(dir.path().join("dlt645/other_suite.json"), serde_json::json!({ "frames": rows }).to_string())
        .unwrap();
    std::fs::write(dir.path().join("README.md"), "documentation beside the files is left alone\n").unwrap();
    dir
}

/// Rows another suite would have that today's file lacks: each is a valid DL/T 645-2007 frame, computed by
/// hand (checksums in `functions.rs`), and the harness must accept every one through the override folder.
#[test]
fn other_rows_of_the_same_schema_are_checked() {
    let rows = serde_json::json!([
        { "frame": "FE FE FE FE 68 AA AA AA AA AA AA 68 13 00 DF 16", "meaning": "read address" },
        { "frame": "68 61 01 00 00 00 00 68 93 06 94 34 33 33 33 33 5F 16", "meaning": "read-address reply",
          "addr_meter_no": "000000000161", "ctrl": "93", "L": 6, "data_minus_0x33": "610100000000" },
        { "frame": "68 61 01 00 00 00 00 68 D1 01 35 39 16", "meaning": "abnormal reply to a read: no such data" },
        { "frame": "68 61 01 00 00 00 00 68 DC 01 37 46 16", "meaning": "abnormal reply to relay control: password" },
        { "frame": "68 61 01 00 00 00 00 68 94 00 C6 16", "meaning": "write acknowledged" },
        { "frame": "68 61 01 00 00 00 00 68 94 00 C7 16", "checksum_ok": false, "meaning": "bad checksum" },
        { "frame": "68 61 01 00 00 00 00 68 14 10 34 42 33 37 35 33 33 33 33 33 33 33 33 53 33 33 BC 16",
          "meaning": "write alarm energy 1 = 20.00 kWh" },
        { "frame": "68 61 01 00 00 00 00 68 1C 10 35 33 33 33 33 33 33 33 4D 33 33 33 33 34 34 63 DC 16",
          "meaning": "trip, valid until 2030-01-01" },
        { "frame": "68 61 01 00 00 00 00 68 B1 08 33 33 34 33 59 33 33 33 AA 16", "expected_value": "0.26",
          "meaning": "read reply with follow-up frames" },
        { "frame": "68 61 01 00 00 00 00 68 91 06 33 34 34 35 33 55 21 16", "expected_value": "220.0" },
        { "frame": "68 61 01 00 00 00 00 68 97 01 3B 05 16", "meaning": "rate changed to 2400 bit/s" },
    ]);
    let dir = folder_with(rows);
    let overridden = voltvend_testkit::vectors_dir_from(Some(dir.path().to_path_buf())).unwrap();
    let counts = check_folder(&overridden).unwrap_or_else(|f| panic!("{}", f.join("\n")));
    report("another suite", &counts);
    assert_eq!((counts.rows, counts.values_decoded, counts.refused_frames), (11, 2, 1));
    for kind in [
        "request: read address",
        "reply: read address",
        "abnormal reply: read data",
        "abnormal reply: relay, alarm and keep-power control",
        "reply: write data",
        "request: write data",
        "request: relay, alarm and keep-power control",
        "reply: change communication rate",
    ] {
        assert!(counts.kinds.contains_key(kind), "{kind} not seen in {:?}", counts.kinds);
    }
}

#[test]
fn a_row_it_cannot_classify_fails() {
    let unknown_function = serde_json::json!([{ "frame": "68 61 01 00 00 00 00 68 1F 00 51 16" }]);
    let failures = check_folder(folder_with(unknown_function).path()).unwrap_err();
    assert!(failures[0].contains("cannot classify control code 1F"), "{failures:?}");

    let broadcast_reply = serde_json::json!([{ "frame": "68 61 01 00 00 00 00 68 88 00 BA 16" }]);
    let failures = check_folder(folder_with(broadcast_reply).path()).unwrap_err();
    assert!(failures[0].contains("cannot classify this reply"), "{failures:?}");

    // A good frame whose row claims another value, and a row with no frame at all.
    let wrong_claims = serde_json::json!([
        { "frame": "68 61 01 00 00 00 00 68 91 06 33 34 34 35 33 55 21 16", "expected_value": "220.1" },
        { "meaning": "no frame" },
    ]);
    let failures = check_folder(folder_with(wrong_claims).path()).unwrap_err();
    assert_eq!(failures.len(), 2, "{failures:?}");

    let empty = tempfile::tempdir().unwrap();
    std::fs::create_dir(empty.path().join("dlt645")).unwrap();
    assert!(check_folder(empty.path()).unwrap_err()[0].contains("no DL/T 645 vector file"));
}
