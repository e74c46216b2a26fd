//! `voltvend token`: issue and decode STS and OpenPAYGO tokens from the command line.
//!
//! Vending keys are read from a file (`--vk-file`) or the `VOLTVEND_VENDING_KEY` environment variable, never
//! from a flag (flags end up in shell history and process lists), and are never printed. Decoder keys are
//! printed only by `keygen` or when `--show-decoder-key` is given.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use jiff::Timestamp;
use serde::Deserialize;
use serde_json::{Value, json};
use voltvend_sts::keys::{KeyParams, KeyType, VendingKey};
use voltvend_sts::meter::{Accepted, StsMeter};
use voltvend_sts::openpaygo::{OpgDecoder, OpgDevice, OpgFormat, OpgKind};
use voltvend_sts::vend::{Issuer, KeyChange, MeterKeyRecord, test_token_for};
use voltvend_sts::{BaseDate, DecoderKey, Ea, Pan, StsError, Tid, TokenNumber, TransferKind, amount};

use crate::clock::IdGenerator;

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Derive a meter's decoder key from the vending key.
    Keygen {
        #[command(flatten)]
        meter: MeterArgs,
        #[command(flatten)]
        vk: VendingKeyArgs,
        #[arg(long)]
        json: bool,
    },
    /// Issue an STS token (credit, management, test or a key change set).
    Issue(Box<IssueArgs>),
    /// Decode an STS token as the meter would, given its decoder key.
    Decode {
        /// The 20 digits (spaces and dashes allowed).
        token: String,
        /// The meter's decoder key in hex (16 digits for EA07, 32 for EA11).
        #[arg(long)]
        decoder_key: String,
        /// The meter's base date (93, 14 or 35), to show when the TID was issued.
        #[arg(long, default_value = DEFAULT_BASE)]
        base: String,
        /// The meter's key expiry number.
        #[arg(long, default_value_t = 255)]
        ken: u8,
        #[arg(long)]
        json: bool,
    },
    /// OpenPAYGO tokens for pay-as-you-go devices.
    #[command(subcommand)]
    Openpaygo(OpenPaygoCommand),
}

/// The meter's key record: from `--meter FILE.toml` or flags (flags override the file).
#[derive(Debug, Args)]
pub struct MeterArgs {
    /// A TOML meter key record with pan, ea, kt, sgc, ti, krn, ken and base.
    #[arg(long, value_name = "FILE")]
    meter: Option<PathBuf>,
    /// 18-digit PAN (IIN + DRN + check digit).
    #[arg(long)]
    pan: Option<String>,
    /// Encryption algorithm: 07 (STA) or 11 (MISTY1).
    #[arg(long)]
    ea: Option<String>,
    /// Key type 0–3.
    #[arg(long)]
    kt: Option<u8>,
    /// Supply group code (6 digits).
    #[arg(long)]
    sgc: Option<u32>,
    /// Tariff index 0–99.
    #[arg(long)]
    ti: Option<u8>,
    /// Key revision number.
    #[arg(long)]
    krn: Option<u8>,
    /// Key expiry number (255 = never).
    #[arg(long)]
    ken: Option<u8>,
    /// Base date: 93, 14 or 35 (default 14: base 1993 ran out of TIDs on 2024-11-24).
    #[arg(long)]
    base: Option<String>,
}

/// The base date of a meter record that does not name one: the current one. Base 1993 ran out of TIDs on
/// 2024-11-24 and can issue nothing; meters still on it need a rollover key change first.
const DEFAULT_BASE: &str = "14";

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct MeterFile {
    pan: Option<String>,
    ea: Option<String>,
    kt: Option<u8>,
    sgc: Option<u32>,
    ti: Option<u8>,
    krn: Option<u8>,
    ken: Option<u8>,
    base: Option<String>,
}

impl MeterArgs {
    fn record(&self) -> anyhow::Result<MeterKeyRecord> {
        let file: MeterFile = match &self.meter {
            Some(path) => {
                let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
                toml::from_str(&text).map_err(|e| anyhow::anyhow!("{}: {}", path.display(), e.message()))?
            }
            None => MeterFile::default(),
        };
        let need =
            |v: Option<String>, name: &str| v.with_context(|| format!("--{name} is required (or a --meter file)"));
        let pan = Pan::parse(&need(self.pan.clone().or(file.pan), "pan")?)?;
        let params = KeyParams {
            kt: KeyType::new(self.kt.or(file.kt).unwrap_or(2))?,
            sgc: self.sgc.or(file.sgc).context("--sgc is required (or a --meter file)")?,
            ti: self.ti.or(file.ti).context("--ti is required (or a --meter file)")?,
            krn: self.krn.or(file.krn).unwrap_or(1),
            ken: self.ken.or(file.ken).unwrap_or(255),
            base: BaseDate::from_code(&self.base.clone().or(file.base).unwrap_or_else(|| DEFAULT_BASE.into()))?,
            ea: Ea::from_code(&self.ea.clone().or(file.ea).unwrap_or_else(|| "07".into()))?,
        };
        params.validate()?;
        Ok(MeterKeyRecord { pan, params })
    }
}

#[derive(Debug, Args)]
pub struct VendingKeyArgs {
    /// File holding the vending key in hex (16 digits for DKGA02, 40 for DKGA04). Defaults to the
    /// VOLTVEND_VENDING_KEY environment variable.
    #[arg(long, value_name = "FILE")]
    vk_file: Option<PathBuf>,
}

impl VendingKeyArgs {
    fn load(&self) -> anyhow::Result<VendingKey> {
        let hex = match &self.vk_file {
            Some(path) => read_secret(path)?,
            None => std::env::var("VOLTVEND_VENDING_KEY")
                .context("no vending key: pass --vk-file FILE or set VOLTVEND_VENDING_KEY")?,
        };
        Ok(VendingKey::from_hex(&hex)?)
    }
}

fn read_secret(path: &Path) -> anyhow::Result<String> {
    Ok(std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?.trim().to_string())
}

#[derive(Debug, Args)]
pub struct IssueArgs {
    #[command(flatten)]
    meter: MeterArgs,
    #[command(flatten)]
    vk: VendingKeyArgs,
    /// Use this decoder key (hex) instead of deriving it from a vending key.
    #[arg(long)]
    decoder_key: Option<String>,
    /// Credit of electricity in kWh (rounded to 0.1 kWh: amounts below 1 up, others down).
    #[arg(long, group = "what")]
    electricity_kwh: Option<String>,
    /// Credit of water in m³ (0.1 m³ steps).
    #[arg(long, group = "what")]
    water_m3: Option<String>,
    /// Credit of gas in the meter's unit (0.1 steps).
    #[arg(long, group = "what")]
    gas: Option<String>,
    /// Set the maximum power limit, in W.
    #[arg(long, group = "what")]
    max_power_w: Option<u64>,
    /// Set the maximum phase power unbalance limit, in W.
    #[arg(long, group = "what")]
    phase_unbalance_w: Option<u64>,
    /// Clear a credit register (65535 = all).
    #[arg(long, group = "what")]
    clear_credit: Option<u16>,
    /// Clear the tamper condition.
    #[arg(long, group = "what")]
    clear_tamper: bool,
    /// A test/display token (class 1); with --control and --manufacturer.
    #[arg(long, group = "what")]
    test: bool,
    /// Test control bits (with --test; default: all tests).
    #[arg(long)]
    control: Option<u64>,
    /// Manufacturer code for the test token (with --test; 8 bits, above 255 selects test token 2; default 0).
    #[arg(long)]
    manufacturer: Option<u16>,
    /// A key change set to the parameters given with --new-*.
    #[arg(long, group = "what")]
    key_change: bool,
    /// The new tariff index (with --key-change).
    #[arg(long)]
    new_ti: Option<u8>,
    /// The new key revision number (with --key-change).
    #[arg(long)]
    new_krn: Option<u8>,
    /// The new key expiry number (with --key-change).
    #[arg(long)]
    new_ken: Option<u8>,
    /// The new key type (with --key-change).
    #[arg(long)]
    new_kt: Option<u8>,
    /// The new supply group code (with --key-change).
    #[arg(long)]
    new_sgc: Option<u32>,
    /// Move to the next base date (RO=1), e.g. the 1993→2014 TID rollover migration (with --key-change).
    #[arg(long)]
    rollover: bool,
    /// Issue as of this instant (RFC 3339) instead of now.
    #[arg(long)]
    at: Option<Timestamp>,
    /// The TID of the meter's previous token, so that a second token in one minute gets the next TID.
    #[arg(long)]
    last_tid: Option<u32>,
    /// The 4-bit random number (default: random).
    #[arg(long)]
    rnd: Option<u8>,
    /// Also print the decoder key.
    #[arg(long)]
    show_decoder_key: bool,
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Subcommand)]
pub enum OpenPaygoCommand {
    /// Generate a token.
    Issue {
        #[command(flatten)]
        device: OpgDeviceArgs,
        /// The device's last count.
        #[arg(long)]
        count: u32,
        /// Add this many days (× divider).
        #[arg(long, group = "what")]
        add: Option<u32>,
        /// Set the remaining time to this many days (× divider).
        #[arg(long, group = "what")]
        set: Option<u32>,
        /// Unlock the device permanently.
        #[arg(long, group = "what")]
        disable_payg: bool,
        /// Resynchronise the device's count.
        #[arg(long, group = "what")]
        counter_sync: bool,
        #[arg(long)]
        extended: bool,
        #[arg(long)]
        restricted: bool,
        #[arg(long)]
        json: bool,
    },
    /// Decode a token as the device would.
    Decode {
        token: String,
        #[command(flatten)]
        device: OpgDeviceArgs,
        /// The device's last count.
        #[arg(long)]
        count: u32,
        #[arg(long)]
        restricted: bool,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Args)]
pub struct OpgDeviceArgs {
    /// File holding the device's 32-hex-digit secret key (default: VOLTVEND_OPENPAYGO_KEY).
    #[arg(long, value_name = "FILE")]
    key_file: Option<PathBuf>,
    /// The device's starting code (default: derived from the key).
    #[arg(long)]
    starting_code: Option<u64>,
}

impl OpgDeviceArgs {
    fn load(&self) -> anyhow::Result<OpgDevice> {
        let hex = match &self.key_file {
            Some(p) => read_secret(p)?,
            None => std::env::var("VOLTVEND_OPENPAYGO_KEY")
                .context("no device key: pass --key-file FILE or set VOLTVEND_OPENPAYGO_KEY")?,
        };
        Ok(OpgDevice::from_hex(&hex, self.starting_code)?)
    }
}

fn emit(json_out: bool, value: &Value, text: &str) {
    if json_out {
        println!("{value}");
    } else {
        println!("{text}");
    }
}

pub fn run(command: TokenCommand, now: Timestamp, ids: &IdGenerator) -> anyhow::Result<()> {
    match command {
        TokenCommand::Keygen { meter, vk, json } => {
            let record = meter.record()?;
            let key = vk.load()?.derive(&record.pan, &record.params)?;
            emit(
                json,
                &json!({"pan": record.pan.to_string(), "ea": record.params.ea.code(), "decoder_key": key.to_hex()}),
                &format!("decoder key {} (EA{}, PAN {})", key.to_hex(), record.params.ea.code(), record.pan),
            );
            Ok(())
        }
        TokenCommand::Issue(args) => issue(*args, now, ids),
        TokenCommand::Decode { token, decoder_key, base, ken, json } => {
            let key = decoder_key_from(&decoder_key)?;
            let base = BaseDate::from_code(&base)?;
            // A fresh meter: no TID memory, so the decode shows what the token says.
            let params = KeyParams { kt: KeyType::UNIQUE, sgc: 0, ti: 0, krn: 1, ken, base, ea: key.ea() };
            let mut meter = StsMeter::new(key, params, 1);
            let accepted = meter.enter(&token).map_err(|r| anyhow::anyhow!("token refused: {r}"))?;
            let (value, text) = describe(&accepted, base);
            emit(json, &value, &text);
            Ok(())
        }
        TokenCommand::Openpaygo(command) => openpaygo(command),
    }
}

fn describe(accepted: &Accepted, base: BaseDate) -> (Value, String) {
    let issued = |tid: &Tid| tid.instant(base).to_string();
    match accepted {
        Accepted::Credit { kind, tenths, tid } => (
            json!({"class": 0, "kind": format!("{kind:?}"), "tenths": tenths, "tid": tid.minutes(), "issued_at": issued(tid)}),
            format!(
                "credit {kind:?} {}.{} units, TID {} (issued {})",
                tenths / 10,
                tenths % 10,
                tid.minutes(),
                issued(tid)
            ),
        ),
        Accepted::Register { kind, value, tid } => (
            json!({"class": 2, "kind": format!("{kind:?}"), "value": value, "tid": tid.minutes(), "issued_at": issued(tid)}),
            format!("management {kind:?} value {value}, TID {} (issued {})", tid.minutes(), issued(tid)),
        ),
        Accepted::Test1 { control, manufacturer } => (
            json!({"class": 1, "kind": "Test1", "control": control, "manufacturer": manufacturer}),
            format!("test/display 1: control {control:#x}, manufacturer {manufacturer}"),
        ),
        Accepted::Test2 { control, manufacturer } => (
            json!({"class": 1, "kind": "Test2", "control": control, "manufacturer": manufacturer}),
            format!("test/display 2: control {control:#x}, manufacturer {manufacturer}"),
        ),
        Accepted::KeyChangeSection { section, of } => (
            json!({"class": 2, "kind": "KeyChange", "section": section, "of": of}),
            format!("key change section {section} of {of}"),
        ),
        Accepted::KeyChanged { krn, ti, ken, rollover, base } => (
            json!({"class": 2, "kind": "KeyChanged", "krn": krn, "ti": ti, "ken": ken, "rollover": rollover, "base": base.code()}),
            format!("key changed: KRN {krn}, TI {ti}, KEN {ken}, rollover {rollover}, base {base}"),
        ),
    }
}

/// A decoder key from hex; the error says how many digits were given (never the digits).
fn decoder_key_from(hex: &str) -> anyhow::Result<DecoderKey> {
    DecoderKey::from_hex(hex).map_err(|e| {
        let digits = hex.trim().chars().filter(|c| !c.is_whitespace()).count();
        anyhow::anyhow!("--decoder-key: {e}; {digits} digits were given")
    })
}

/// A limit in watts a management token cannot carry, said in watts (the engine speaks of amounts).
fn watts_error(flag: &str, watts: u64, e: StsError) -> anyhow::Error {
    match e {
        StsError::AmountTooLarge { max, .. } => {
            anyhow::anyhow!("{flag} {watts}: out of range; a management token carries 0 to {max} W")
        }
        other => other.into(),
    }
}

/// The control bits of a test token that runs every test.
const TEST_CONTROL_ALL: u64 = 0xF_FFFF_FFFF;

/// Refuses flags the token asked for would not use: a flag that is accepted must do something.
fn refuse_unused(a: &IssueArgs) -> anyhow::Result<()> {
    let m = &a.meter;
    let meter_given = m.meter.is_some()
        || m.pan.is_some()
        || m.ea.is_some()
        || m.kt.is_some()
        || m.sgc.is_some()
        || m.ti.is_some()
        || m.krn.is_some()
        || m.ken.is_some()
        || m.base.is_some();
    let mut unused = Vec::new();
    if !a.key_change {
        // Checked here rather than with clap's `requires`, which takes a bool flag's default as given.
        for (given, flag) in [
            (a.new_ti.is_some(), "--new-ti"),
            (a.new_krn.is_some(), "--new-krn"),
            (a.new_ken.is_some(), "--new-ken"),
            (a.new_kt.is_some(), "--new-kt"),
            (a.new_sgc.is_some(), "--new-sgc"),
            (a.rollover, "--rollover"),
        ] {
            if given {
                bail!("{flag} belongs to a key change set: add --key-change, or leave {flag} out");
            }
        }
    }
    if !a.test {
        for (given, flag) in [(a.control.is_some(), "--control"), (a.manufacturer.is_some(), "--manufacturer")] {
            if given {
                bail!("{flag} belongs to a test token: add --test, or leave {flag} out");
            }
        }
    }
    if a.test {
        // A test token is not encrypted and carries no TID: it is the same for every meter.
        if meter_given {
            unused.push("the meter (--meter, --pan, --sgc, --ti, …)");
        }
        if a.vk.vk_file.is_some() || a.decoder_key.is_some() || a.show_decoder_key {
            unused.push("keys (--vk-file, --decoder-key, --show-decoder-key)");
        }
    }
    if a.test || a.key_change {
        // Neither carries a TID or a random number.
        for (given, flag) in
            [(a.at.is_some(), "--at"), (a.last_tid.is_some(), "--last-tid"), (a.rnd.is_some(), "--rnd")]
        {
            if given {
                unused.push(flag);
            }
        }
    }
    if unused.is_empty() {
        return Ok(());
    }
    let what = if a.test { "a test token (--test)" } else { "a key change set (--key-change)" };
    bail!("{} would be ignored by {what}; leave it out", unused.join(", "))
}

fn issue(a: IssueArgs, now: Timestamp, ids: &IdGenerator) -> anyhow::Result<()> {
    let at = a.at.unwrap_or(now);
    let rnd = match a.rnd {
        Some(r) if r < 16 => r,
        Some(r) => bail!("--rnd must be 0–15, not {r}"),
        None => {
            let mut b = [0_u8; 1];
            ids.fill(&mut b);
            u8::from_le_bytes(b) & 0xF
        }
    };
    refuse_unused(&a)?;
    if a.test {
        let number = test_token_for(a.control.unwrap_or(TEST_CONTROL_ALL), a.manufacturer.unwrap_or(0))?;
        emit(a.json, &json!({"tokens": [number.digits()], "class": 1}), &number.grouped());
        return Ok(());
    }
    let record = a.meter.record()?;
    let issuer = match &a.decoder_key {
        Some(hex) => {
            let key = decoder_key_from(hex)?;
            if key.ea() != record.params.ea {
                bail!(
                    "the decoder key is for EA{}, the meter record says EA{}",
                    key.ea().code(),
                    record.params.ea.code()
                );
            }
            Issuer::with_decoder_key(key, record.clone())
        }
        None => Issuer::new(&a.vk.load()?, record.clone())?,
    };
    let last = match a.last_tid {
        Some(n) => Some(Tid::new(n).map_err(|_| {
            anyhow::anyhow!("--last-tid {n} is beyond the largest TID, {} (24 bits)", voltvend_sts::tid::TID_LIMIT - 1)
        })?),
        None => None,
    };
    let (tokens, tid): (Vec<TokenNumber>, Option<Tid>) = if a.key_change {
        if a.decoder_key.is_some() {
            bail!("a key change derives the new key from the vending key: pass --vk-file, not --decoder-key");
        }
        let change = KeyChange {
            kt: a.new_kt,
            sgc: a.new_sgc,
            ti: a.new_ti,
            krn: a.new_krn,
            ken: a.new_ken,
            rollover: a.rollover,
        };
        (issuer.key_change_from(&a.vk.load()?, &change)?.0, None)
    } else {
        let base = record.params.base;
        let tid = issuer.tid(at, last).map_err(|e| match e {
            StsError::TidOverflow => match base.next() {
                Some(next) => anyhow::anyhow!(
                    "base date {} can issue no more tokens: its TIDs ran out on {}; move the meter to base {} \
                     with a key change set (`voltvend token issue --meter … --key-change --rollover --new-krn N`), \
                     then issue with --base {}",
                    base.code(),
                    base.rollover(),
                    next.code(),
                    next.code()
                ),
                None => anyhow::anyhow!(
                    "base date {} can issue no more tokens: its TIDs ran out on {}",
                    base.code(),
                    base.rollover()
                ),
            },
            StsError::BeforeBaseDate => anyhow::anyhow!(
                "{at} is before base date {} ({}): issue with the base the meter was given (--base)",
                base.code(),
                base.start()
            ),
            other => other.into(),
        })?;
        let credit = |kind, text: &str| -> anyhow::Result<TokenNumber> {
            let tenths = amount::tenths_from_decimal(text)?;
            if tenths == 0 {
                // A token that adds nothing still uses up a TID on the meter.
                bail!("a credit of {text:?} is nothing to issue; give an amount of at least 0.1");
            }
            Ok(issuer.credit(kind, tenths, tid, rnd)?)
        };
        let token = if let Some(kwh) = &a.electricity_kwh {
            credit(TransferKind::Electricity, kwh)?
        } else if let Some(m3) = &a.water_m3 {
            credit(TransferKind::Water, m3)?
        } else if let Some(units) = &a.gas {
            credit(TransferKind::Gas, units)?
        } else if let Some(w) = a.max_power_w {
            issuer.max_power_limit(w, tid, rnd).map_err(|e| watts_error("--max-power-w", w, e))?
        } else if let Some(w) = a.phase_unbalance_w {
            issuer.max_phase_unbalance(w, tid, rnd).map_err(|e| watts_error("--phase-unbalance-w", w, e))?
        } else if let Some(reg) = a.clear_credit {
            issuer.clear_credit(reg, tid, rnd)?
        } else if a.clear_tamper {
            issuer.clear_tamper(tid, rnd)?
        } else {
            bail!(
                "say what to issue: --electricity-kwh, --water-m3, --gas, --max-power-w, --phase-unbalance-w, --clear-credit, --clear-tamper, --test or --key-change"
            );
        };
        (vec![token], Some(tid))
    };
    let mut out = json!({
        "tokens": tokens.iter().map(TokenNumber::digits).collect::<Vec<_>>(),
        "pan": record.pan.to_string(),
        "tid": tid.map(|t| t.minutes()),
    });
    let mut text = tokens.iter().map(TokenNumber::grouped).collect::<Vec<_>>().join("\n");
    if let Some(t) = tid {
        text.push_str(&format!("\nTID {} ({})", t.minutes(), t.instant(record.params.base)));
    }
    if a.show_decoder_key {
        if let Some(map) = out.as_object_mut() {
            map.insert("decoder_key".into(), json!(issuer.decoder_key().to_hex()));
        }
        text.push_str(&format!("\ndecoder key {}", issuer.decoder_key().to_hex()));
    }
    emit(a.json, &out, &text);
    Ok(())
}

fn openpaygo(command: OpenPaygoCommand) -> anyhow::Result<()> {
    match command {
        OpenPaygoCommand::Issue { device, count, add, set, disable_payg, counter_sync, extended, restricted, json } => {
            let kind = match (add, set, disable_payg, counter_sync) {
                (Some(v), None, false, false) => OpgKind::AddTime(v),
                (None, Some(v), false, false) => OpgKind::SetTime(v),
                (None, None, true, false) => OpgKind::DisablePayg,
                (None, None, false, true) => OpgKind::CounterSync,
                _ => bail!("say what to issue: --add DAYS, --set DAYS, --disable-payg or --counter-sync"),
            };
            let (new_count, token) = device.load()?.encode(kind, count, OpgFormat { extended, restricted })?;
            emit(json, &json!({"token": token, "count": new_count}), &format!("{token}\n(new count {new_count})"));
            Ok(())
        }
        OpenPaygoCommand::Decode { token, device, count, restricted, json } => {
            let mut decoder = OpgDecoder::new(device.load()?, count, restricted);
            let accepted = decoder.enter(&token).map_err(|e| anyhow::anyhow!("token refused: {e}"))?;
            emit(
                json,
                &json!({"kind": format!("{:?}", accepted.kind), "count": accepted.count}),
                &format!("{:?} at count {}", accepted.kind, accepted.count),
            );
            Ok(())
        }
    }
}
