//! The token vector harness. It checks every row of every data file under the vectors folder (sts/*.json,
//! openpaygo/*.jsonl; dlt645/ belongs to the DL/T 645 crate's harness) against the schema in
//! `docs/vectors.md`. A row's kind comes from what the row *is*: an STS token's class from its 20 digits (the
//! class travels in the token number) and its subclass from the top nibble of its data block, cross-checked by
//! the block's CRC (which covers the class); an OpenPAYGO row's from its `token_type`; a block-cipher known
//! answer from its key/plaintext/ciphertext. Which other keys a row carries does not decide its kind, so a
//! credit token that also carries a key change's fields is still a credit token. A row it cannot classify
//! fails. Counts are printed, not compared with today's files: `$VOLTVEND_VECTORS` may point at another suite.

use std::collections::BTreeMap;
use std::path::Path;

use jiff::Timestamp;
use serde_json::Value;
use voltvend_sts::crc::token_crc;
use voltvend_sts::keys::{DecoderKey, KeyParams, KeyType, VendingKey};
use voltvend_sts::misty1::Misty1;
use voltvend_sts::openpaygo::{OpgDecoder, OpgDevice, OpgFormat, OpgKind};
use voltvend_sts::{BaseDate, Ea, Pan, RegisterKind, Tid, Token, TokenNumber, TransferKind, amount};

type Check<T> = Result<T, String>;

fn s<'a>(v: &'a Value, k: &str) -> Option<&'a str> {
    v.get(k).and_then(Value::as_str)
}

fn n(v: &Value, k: &str) -> Option<u64> {
    v.get(k).and_then(Value::as_u64)
}

/// A field the row's kind needs.
fn need<'a>(v: &'a Value, k: &str) -> Check<&'a str> {
    s(v, k).ok_or(format!("the row needs \"{k}\" (a string)"))
}

fn need_n(v: &Value, k: &str) -> Check<u64> {
    n(v, k).ok_or(format!("the row needs \"{k}\" (a number)"))
}

fn e<E: std::fmt::Display>(what: &'static str) -> impl Fn(E) -> String {
    move |err| format!("{what}: {err}")
}

fn time(v: &Value) -> Check<Timestamp> {
    let t = need(v, "time")?;
    format!("{}:00Z", t.replace(' ', "T")).parse().map_err(e("time"))
}

fn hex_u64(h: &str) -> Check<u64> {
    u64::from_str_radix(h, 16).map_err(|err| format!("{h:?} is not a 64-bit hex block: {err}"))
}

/// Derives a key from the row's vending key and parameters, or `None` when the row does not carry them.
fn derive(v: &Value, ti: Option<&str>, krn: Option<u64>, base: Option<&str>) -> Check<Option<DecoderKey>> {
    let (Some(vk), Some(pan), Some(kt), Some(sgc), Some(ti), Some(krn), Some(ea)) =
        (s(v, "vk"), s(v, "pan"), n(v, "kt"), s(v, "sgc"), ti, krn, s(v, "ea"))
    else {
        return Ok(None);
    };
    let params = KeyParams {
        kt: KeyType::new(kt as u8).map_err(e("kt"))?,
        sgc: sgc.parse().map_err(e("sgc"))?,
        ti: ti.parse().map_err(e("ti"))?,
        krn: krn as u8,
        ken: n(v, "ken").unwrap_or(255) as u8,
        base: BaseDate::from_code(base.unwrap_or("93")).map_err(e("base"))?,
        ea: Ea::from_code(ea).map_err(e("ea"))?,
    };
    let vk = VendingKey::from_hex(vk).map_err(e("vk"))?;
    let pan = Pan::parse(pan).map_err(e("pan"))?;
    Ok(Some(vk.derive(&pan, &params).map_err(e("derive"))?))
}

/// What a token row is, decided from its token number and data block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TokenKind {
    Transfer(TransferKind),
    Test { subclass: u8 },
    Register(RegisterKind),
    KeyChange { subclass: u8 },
}

impl TokenKind {
    fn name(&self) -> String {
        match self {
            Self::Transfer(k) => format!("STS class 0 {k:?}"),
            Self::Test { subclass } => format!("STS class 1 test/display {}", subclass + 1),
            Self::Register(k) => format!("STS class 2 {k:?}"),
            Self::KeyChange { subclass } => format!("STS class 2 key change section (subclass {subclass})"),
        }
    }
}

/// The class carried by a token number (PROTOCOLS.md §1.1: bits 28 and 27 of the 66-bit number), worked out
/// here from the digits rather than by the engine.
fn class_of_digits(digits: &str) -> Check<u8> {
    if digits.len() != 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("token {digits:?} is not 20 digits"));
    }
    let t: u128 = digits.parse().map_err(e("token"))?;
    if t >> 66 != 0 {
        return Err(format!("token {digits} is beyond 66 bits"));
    }
    Ok((((t >> 28) & 1) << 1 | ((t >> 27) & 1)) as u8)
}

/// Classifies a token row from its token's class and its block's subclass; the block's CRC must hold for
/// that class, and any `cls`/`sub` the row states must agree.
fn classify(v: &Value, block: u64) -> Check<TokenKind> {
    let class = class_of_digits(need(v, "token")?)?;
    let subclass = (block >> 60) as u8;
    if token_crc(class, block) != block as u16 {
        return Err(format!("the block's CRC does not hold for class {class} (the class of its token)"));
    }
    if let Some(cls) = n(v, "cls").filter(|c| *c != u64::from(class)) {
        return Err(format!("the row says class {cls}, its token is class {class}"));
    }
    if let Some(sub) = n(v, "sub").filter(|s| *s != u64::from(subclass)) {
        return Err(format!("the row says subclass {sub}, its block says {subclass}"));
    }
    let unknown = || format!("cannot classify: class {class} subclass {subclass} is not a token this engine knows");
    match class {
        0 => TransferKind::ALL.get(usize::from(subclass)).map(|k| TokenKind::Transfer(*k)).ok_or_else(unknown),
        1 if subclass <= 1 => Ok(TokenKind::Test { subclass }),
        2 if matches!(subclass, 3 | 4 | 8 | 9) => Ok(TokenKind::KeyChange { subclass }),
        2 => RegisterKind::ALL.into_iter().find(|k| *k as u8 == subclass).map(TokenKind::Register).ok_or_else(unknown),
        _ => Err(unknown()),
    }
}

#[derive(Default, Debug)]
pub struct Tally {
    pub files: usize,
    pub kinds: BTreeMap<String, usize>,
    pub keys_derived: usize,
    pub keys_given: usize,
    pub tid_plus_one: usize,
}

impl Tally {
    pub fn rows(&self) -> usize {
        self.kinds.values().sum()
    }

    fn count(&mut self, kind: String) {
        *self.kinds.entry(kind).or_default() += 1;
    }
}

/// Builds the token a row describes from its inputs (never from its expected block).
/// `tid_shift` adds minutes to the row's TID (the `match_with_tid_plus_1` rule).
fn token_of(v: &Value, kind: TokenKind, tid_shift: u32) -> Check<Token> {
    let rnd = n(v, "rnd").unwrap_or(5) as u8;
    let tid = || -> Check<Tid> {
        let base = BaseDate::from_code(s(v, "base").unwrap_or("93")).map_err(e("base"))?;
        let at = Tid::at(base, time(v)?).map_err(e("tid"))?;
        Tid::new(at.minutes() + tid_shift).map_err(e("tid"))
    };
    Ok(match kind {
        TokenKind::Transfer(kind) => {
            let tenths = amount::tenths_from_decimal(need(v, "amount")?).map_err(e("amount"))?;
            Token::Transfer { kind, rnd, tid: tid()?, amount: amount::encode(tenths).map_err(e("amount"))? }
        }
        TokenKind::Test { subclass } => {
            let control = need_n(v, "control")?;
            let mfr = need_n(v, "mfr")?;
            if subclass == 0 {
                Token::Test1 { control, manufacturer: mfr as u8 }
            } else {
                Token::Test2 { control: control as u32, manufacturer: mfr as u16 }
            }
        }
        TokenKind::Register(kind) => {
            let register = n(v, "register").or_else(|| n(v, "register_raw")).ok_or("the row needs \"register\"")?;
            let value = match kind {
                // Power limits are amount-encoded watts; the others are raw 16-bit fields.
                RegisterKind::MaxPowerLimit | RegisterKind::MaxPhasePowerUnbalance => {
                    amount::encode(register).map_err(e("register"))?
                }
                _ => u16::try_from(register).map_err(e("register_raw"))?,
            };
            Token::Register { kind, rnd, tid: tid()?, value }
        }
        TokenKind::KeyChange { subclass } => key_change_token(v, subclass)?,
    })
}

/// The section tokens of a key change row, from the new key and parameters.
fn key_change_token(v: &Value, subclass: u8) -> Check<Token> {
    let new_dk = DecoderKey::from_hex(need(v, "new_dk")?).map_err(e("new_dk"))?;
    let ken = n(v, "ken").unwrap_or(255) as u8;
    let (hi, mo2, mo1, lo) = match new_dk {
        DecoderKey::Sta(k) => ((k >> 32) as u32, 0, 0, k as u32),
        DecoderKey::Misty1(k) => {
            let w = |i: usize| u32::from_be_bytes([k[i], k[i + 1], k[i + 2], k[i + 3]]);
            (w(0), w(4), w(8), w(12))
        }
    };
    let either = |a: &str, b: &str| n(v, a).or_else(|| n(v, b)).ok_or(format!("the row needs \"{a}\" or \"{b}\""));
    let either_s = |a: &str, b: &str| s(v, a).or_else(|| s(v, b)).ok_or(format!("the row needs \"{a}\" or \"{b}\""));
    Ok(match subclass {
        3 => Token::KeyChange1 {
            ken_high: ken >> 4,
            krn: either("new_krn", "krn")? as u8,
            rollover: need_n(v, "ro")? == 1,
            kt: either("new_kt", "kt")? as u8,
            nkho: hi,
        },
        4 => {
            Token::KeyChange2 { ken_low: ken & 0xF, ti: either_s("new_ti", "ti")?.parse().map_err(e("ti"))?, nklo: lo }
        }
        8 | 9 => {
            let sgc: u32 = either_s("new_sgc", "sgc")?.parse().map_err(e("sgc"))?;
            if subclass == 8 {
                Token::KeyChange3 { sgc_low: (sgc & 0xFFF) as u16, nkmo2: mo2 }
            } else {
                Token::KeyChange4 { sgc_high: (sgc >> 12) as u16, nkmo1: mo1 }
            }
        }
        other => return Err(format!("not a key change subclass: {other}")),
    })
}

fn check_token_row(v: &Value, tally: &mut Tally) -> Check<String> {
    let expected_block = hex_u64(need(v, "data_block_hex")?)?;
    let kind = classify(v, expected_block)?;
    let is_kct = matches!(kind, TokenKind::KeyChange { .. });

    // 1. The key that encrypts: derived from the row's inputs where it carries them, compared with what the
    //    row gives. A key change row is encrypted under the old key (`old_*` parameters, `old_dk`); the new key
    //    it carries is derived and compared too. On other rows, key-change fields are context and not read.
    let given = match (s(v, "decoder_key_hex"), s(v, "old_dk").filter(|_| is_kct)) {
        (Some(a), Some(b)) if !a.eq_ignore_ascii_case(b) => {
            return Err(format!("decoder_key_hex {a} and old_dk {b} disagree"));
        }
        (a, b) => a.or(b).map(DecoderKey::from_hex).transpose().map_err(e("decoder key"))?,
    };
    let derived = if is_kct {
        let old = derive(
            v,
            s(v, "old_ti").or_else(|| s(v, "ti")),
            n(v, "old_krn").or_else(|| n(v, "krn")),
            s(v, "old_base").or_else(|| s(v, "base")),
        )?;
        let new = derive(
            v,
            s(v, "new_ti").or_else(|| s(v, "ti")),
            n(v, "new_krn").or_else(|| n(v, "krn")),
            s(v, "new_base").or_else(|| s(v, "base")),
        )?;
        if let Some(new) = new {
            let want = DecoderKey::from_hex(need(v, "new_dk")?).map_err(e("new_dk"))?;
            if new != want {
                return Err(format!("derived new key {} ≠ new_dk {}", new.to_hex(), want.to_hex()));
            }
        }
        old
    } else {
        derive(v, s(v, "ti"), n(v, "krn"), s(v, "base"))?
    };
    let key = match (derived, given) {
        (Some(d), Some(g)) if d != g => return Err(format!("derived key {} ≠ given {}", d.to_hex(), g.to_hex())),
        (Some(d), _) => {
            tally.keys_derived += 1;
            Some(d)
        }
        (None, Some(g)) => {
            tally.keys_given += 1;
            Some(g)
        }
        // Class 1 tokens are not encrypted.
        (None, None) if matches!(kind, TokenKind::Test { .. }) => None,
        (None, None) => return Err("no key for an encrypted token (decoder_key_hex, or vk + pan + parameters)".into()),
    };
    if let Some(want) = s(v, "expected_dk_nectar_order") {
        // NectarAPI prints STA keys byte-reversed.
        let Some(DecoderKey::Sta(k)) = key else { return Err("nectar-order key on a non-STA row".into()) };
        let reversed = format!("{:016x}", k.swap_bytes());
        if reversed != want {
            return Err(format!("nectar-order key {reversed} ≠ {want}"));
        }
    }

    // 2. The data block, built from the row's meaning.
    let token = token_of(v, kind, 0)?;
    let block = token.to_block().map_err(|err| err.to_string())?;
    if block != expected_block {
        return Err(format!("block {block:016X} ≠ expected {expected_block:016X}"));
    }
    // Rows flagged `match_with_tid_plus_1` give the block at the stated minute, but their expected token is
    // defined one minute later (PROTOCOLS.md §1.6): the token is checked under that rule.
    let token = if v.get("match_with_tid_plus_1") == Some(&Value::Bool(true)) {
        tally.tid_plus_one += 1;
        token_of(v, kind, 1)?
    } else {
        token
    };

    // 3. The token number, and back through the meter-side decoder.
    let cipher = key.unwrap_or(DecoderKey::Sta(0)).cipher();
    let number = token.encode(&cipher).map_err(|err| err.to_string())?;
    let want = need(v, "token")?;
    if number.digits() != want {
        return Err(format!("token {} ≠ expected {want}", number.digits()));
    }
    let decoded =
        Token::decode(TokenNumber::parse(want).map_err(e("token"))?, &cipher).map_err(|err| err.to_string())?;
    if decoded != token {
        return Err(format!("meter-side decode gave {decoded:?}"));
    }
    Ok(kind.name())
}

/// A block-cipher known answer: `key`, `plaintext`, `ciphertext` (MISTY1, the only 128-bit-key cipher here).
fn check_misty1_row(v: &Value) -> Check<String> {
    let key_hex = need(v, "key")?;
    let key: [u8; 16] = (0..key_hex.len())
        .step_by(2)
        .map(|i| key_hex.get(i..i + 2).and_then(|h| u8::from_str_radix(h, 16).ok()))
        .collect::<Option<Vec<u8>>>()
        .and_then(|k| k.try_into().ok())
        .ok_or("key is not 16 bytes of hex")?;
    let cipher = Misty1::new(&key);
    let (p, c) = (hex_u64(need(v, "plaintext")?)?, hex_u64(need(v, "ciphertext")?)?);
    if cipher.encrypt(p) != c || cipher.decrypt(c) != p {
        return Err(format!("MISTY1 gives {:016x}", cipher.encrypt(p)));
    }
    Ok("MISTY1 known answer".into())
}

fn check_sts_row(v: &Value, tally: &mut Tally) -> Check<String> {
    match (v.get("token"), v.get("plaintext")) {
        (Some(_), _) => check_token_row(v, tally),
        (None, Some(_)) => check_misty1_row(v),
        (None, None) => Err("cannot classify: neither a token (token) nor a cipher known answer (plaintext)".into()),
    }
}

fn check_openpaygo_row(v: &Value) -> Check<String> {
    let device = OpgDevice::from_hex(need(v, "key")?, n(v, "starting_code")).map_err(e("key"))?;
    let value = || n(v, "value_raw").map(|x| x as u32).ok_or("the row needs \"value_raw\"");
    let token_type = need(v, "token_type")?;
    let kind = match token_type {
        "ADD_TIME" => OpgKind::AddTime(value()?),
        "SET_TIME" => OpgKind::SetTime(value()?),
        "DISABLE_PAYG" => OpgKind::DisablePayg,
        "COUNTER_SYNC" => OpgKind::CounterSync,
        other => return Err(format!("cannot classify OpenPAYGO token type {other:?}")),
    };
    let format = OpgFormat {
        extended: v.get("extended_token") == Some(&Value::Bool(true)),
        restricted: v.get("restricted_digit_set") == Some(&Value::Bool(true)),
    };
    let count = need_n(v, "count")? as u32;
    let (new_count, token) = device.encode(kind, count, format).map_err(e("encode"))?;
    let want = (need_n(v, "new_count")?, need(v, "token")?);
    if (u64::from(new_count), token.as_str()) != want {
        return Err(format!("gave count {new_count} token {token}"));
    }
    // The device side accepts it, with the same meaning, exactly once.
    let mut decoder = OpgDecoder::new(device, count, format.restricted);
    let accepted = decoder.enter(&token).map_err(e("the device refused it"))?;
    if accepted.count != new_count || (!format.extended && accepted.kind != kind) {
        return Err(format!("the device read it as {accepted:?}"));
    }
    // Reuse is refused — except COUNTER_SYNC, which the reference accepts within its window (it adds nothing).
    if kind != OpgKind::CounterSync && decoder.enter(&token).is_ok() {
        return Err("the device accepted it twice".into());
    }
    let ext = if format.extended { " extended" } else { "" };
    let restricted = if format.restricted { " restricted-digit" } else { "" };
    Ok(format!("OpenPAYGO {token_type}{ext}{restricted}"))
}

/// The rows of a file: `{"vectors": [...]}` (JSON) or one object per line (JSON lines).
fn rows_of(name: &str, path: &Path) -> Check<Vec<Value>> {
    let text = std::fs::read_to_string(path).map_err(|err| err.to_string())?;
    let rows = if name.ends_with(".jsonl") {
        text.lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| serde_json::from_str(l).map_err(e("a line is not JSON")))
            .collect::<Check<Vec<Value>>>()?
    } else {
        let doc: Value = serde_json::from_str(&text).map_err(e("not JSON"))?;
        doc.get("vectors").and_then(Value::as_array).cloned().ok_or("no \"vectors\" array")?
    };
    if rows.is_empty() {
        return Err("no rows".into());
    }
    Ok(rows)
}

/// Checks every token vector file under `dir`. `Err` lists every failing row (file, index, why).
pub fn check_folder(dir: &Path) -> Result<Tally, Vec<String>> {
    let files = voltvend_testkit::files_under(dir).map_err(|err| vec![format!("{}: {err}", dir.display())])?;
    let mut tally = Tally::default();
    let mut failures = Vec::new();
    for (name, path) in files.into_iter().filter(|(name, _)| voltvend_testkit::is_vector_data(name)) {
        let check: fn(&Value, &mut Tally) -> Check<String> = match name.split('/').next() {
            Some("sts") => check_sts_row,
            Some("openpaygo") => |v, _| check_openpaygo_row(v),
            // DL/T 645 frames are checked by the meter protocol crate's harness.
            Some("dlt645") => continue,
            _ => {
                failures.push(format!("{name}: no harness checks this folder"));
                continue;
            }
        };
        tally.files += 1;
        let rows = match rows_of(&name, &path) {
            Ok(rows) => rows,
            Err(why) => {
                failures.push(format!("{name}: {why}"));
                continue;
            }
        };
        for (i, v) in rows.iter().enumerate() {
            match check(v, &mut tally) {
                Ok(kind) => tally.count(kind),
                Err(why) => failures.push(format!(
                    "{name} #{i} {} {}: {why}",
                    s(v, "suite").unwrap_or(""),
                    s(v, "step").unwrap_or("")
                )),
            }
        }
    }
    if tally.files == 0 {
        failures.push(format!("no token vector file under {}", dir.display()));
    }
    if failures.is_empty() { Ok(tally) } else { Err(failures) }
}

fn report(what: &str, t: &Tally) {
    eprintln!(
        "{what}: {} token vector rows in {} files ({} keys derived and compared, {} keys as given, {} under the TID+1 rule)",
        t.rows(),
        t.files,
        t.keys_derived,
        t.keys_given,
        t.tid_plus_one
    );
    for (kind, count) in &t.kinds {
        eprintln!("  {count:>4}  {kind}");
    }
}

#[test]
fn every_vector_in_every_file() {
    let dir = voltvend_testkit::vectors_dir();
    let tally = check_folder(&dir).unwrap_or_else(|f| panic!("{} failures:\n{}", f.len(), f.join("\n")));
    report(&dir.display().to_string(), &tally);
    // Another suite's folder may hold any of the families; it must hold a row. The shipped folder holds all four,
    // and every one of them is checked.
    assert!(!tally.kinds.is_empty(), "no row checked in {}", dir.display());
    if dir == voltvend_testkit::default_vectors_dir() {
        for family in ["STS class 0", "STS class 2", "MISTY1", "OpenPAYGO"] {
            assert!(tally.kinds.keys().any(|k| k.starts_with(family)), "no {family} row checked");
        }
    }
}

fn rows_of_file(rel: &str) -> Vec<Value> {
    rows_of(rel, &voltvend_testkit::default_vectors_dir().join(rel)).unwrap()
}

fn write_folder(files: &[(&str, String)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (rel, text) in files {
        let path = dir.path().join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
    dir
}

fn find(rows: &[Value], f: impl Fn(&Value) -> bool) -> Value {
    rows.iter().find(|v| f(v)).cloned().unwrap()
}

/// Rows shaped differently from today's files but valid under the schema, taken from the shipped compliance
/// rows and reshaped the way another suite's file might be: the harness run on that folder (through the
/// override) must check every one.
#[test]
fn other_rows_of_the_same_schema_are_checked() {
    let sta = rows_of_file("sts/sts531_1_0_02_ea07_sta.json");
    let misty = rows_of_file("sts/sts531_1_0_04_ea11_misty1.json");
    let kct = find(&misty, |v| v.get("new_dk").is_some());
    // A credit token row that also carries the key change's fields (new key, rollover, new parameters) and no
    // class or subclass: still a credit token, checked under its own key.
    let mut credit = find(&misty, |v| s(v, "suite") == Some("0_04/CTSA19") && v.get("amount").is_some());
    for field in ["new_dk", "old_dk", "ro", "new_krn", "new_kt", "new_sgc", "new_ti"] {
        if let Some(x) = kct.get(field) {
            credit[field] = x.clone();
        }
    }
    // A key change row that states its class but no kind; a test token row with no class (the token says it).
    let mut kct_with_class = kct.clone();
    kct_with_class.as_object_mut().unwrap().remove("kind");
    kct_with_class["cls"] = 2.into();
    let mut test_token = find(&sta, |v| n(v, "cls") == Some(1));
    test_token.as_object_mut().unwrap().remove("cls");
    // A MISTY1 known answer in the same file as tokens.
    let known_answer = rows_of_file("sts/misty1_rfc2994.json").remove(0);
    let sts = serde_json::json!({ "vectors": [credit, kct_with_class, test_token, known_answer] }).to_string();
    // OpenPAYGO rows that leave out the false format flags.
    let opg: Vec<String> = rows_of_file("openpaygo/test_tokens.jsonl")
        .into_iter()
        .filter(|v| v["extended_token"] == false && v["restricted_digit_set"] == false)
        .take(3)
        .map(|mut v| {
            let o = v.as_object_mut().unwrap();
            o.remove("extended_token");
            o.remove("restricted_digit_set");
            v.to_string()
        })
        .collect();
    let dir = write_folder(&[
        ("sts/other_suite.json", sts),
        ("openpaygo/other.jsonl", opg.join("\n")),
        ("README.md", "notes beside the files are not rows\n".into()),
    ]);
    let overridden = voltvend_testkit::vectors_dir_from(Some(dir.path().to_path_buf())).unwrap();
    let tally = check_folder(&overridden).unwrap_or_else(|f| panic!("{}", f.join("\n")));
    report("another suite", &tally);
    assert_eq!((tally.files, tally.rows()), (2, 7));
    assert_eq!(tally.kinds.get("STS class 0 Electricity"), Some(&1), "{:?}", tally.kinds);
    assert!(tally.kinds.keys().any(|k| k.starts_with("STS class 2 key change")));
    assert!(tally.kinds.keys().any(|k| k.starts_with("STS class 1")));
}

#[test]
fn a_row_it_cannot_classify_fails() {
    let sta = rows_of_file("sts/sts531_1_0_02_ea07_sta.json");
    let credit = find(&sta, |v| n(v, "cls") == Some(0));
    // The same token with class 3 (reserved) in its number: bits 28 and 27 of the 66-bit value set.
    let t: u128 = s(&credit, "token").unwrap().parse().unwrap();
    let mut class3 = credit.clone();
    class3["token"] = format!("{:020}", t | (1 << 28) | (1 << 27)).into();
    class3.as_object_mut().unwrap().remove("cls");
    // A row that says class 2 while its token is class 0.
    let mut contradicts = credit.clone();
    contradicts["cls"] = 2.into();
    let neither = serde_json::json!({ "meaning": "no token, no known answer" });
    let dir = write_folder(&[
        ("sts/bad.json", serde_json::json!({ "vectors": [class3, contradicts, neither] }).to_string()),
        ("openpaygo/bad.jsonl", r#"{"key": "bc41ec9530f6dac86b1a29ab82edc5fb", "token_type": "REFUND"}"#.into()),
        ("modbus/unknown.json", "{}".into()),
    ]);
    let failures = check_folder(dir.path()).unwrap_err();
    assert_eq!(failures.len(), 5, "{failures:#?}");
    assert!(failures[0].starts_with("modbus/unknown.json: no harness"), "{failures:#?}");
    assert!(failures[1].contains("cannot classify OpenPAYGO token type \"REFUND\""), "{failures:#?}");
    // The CRC covers the class, so a class-3 token's block no longer holds: it is refused before its kind.
    assert!(failures[2].contains("CRC does not hold for class 3"), "{failures:#?}");
    assert!(failures[3].contains("says class 2, its token is class 0"), "{failures:#?}");
    assert!(failures[4].contains("cannot classify: neither a token"), "{failures:#?}");
}

#[test]
fn the_class_comes_from_the_token_digits() {
    // CTSA01 step 1 is class 0, a class-1 test token is class 1 (PROTOCOLS.md §1.1), read from the digits.
    let sta = rows_of_file("sts/sts531_1_0_02_ea07_sta.json");
    for cls in [0, 1, 2] {
        let v = find(&sta, |v| n(v, "cls") == Some(cls));
        assert_eq!(u64::from(class_of_digits(s(&v, "token").unwrap()).unwrap()), cls, "{v}");
    }
    assert!(class_of_digits("7378697629483820646").is_err(), "19 digits");
    assert!(class_of_digits("99999999999999999999").is_err(), "beyond 66 bits");
}
