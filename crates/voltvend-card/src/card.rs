//! A virtual CPU card: what a blank FM1208-class card running an FMCOS-style operating system does with the
//! interindustry commands of ISO/IEC 7816-4 clause 11 (SELECT, READ BINARY, UPDATE BINARY with secure
//! messaging per clause 10, GET CHALLENGE, EXTERNAL AUTHENTICATE, INTERNAL AUTHENTICATE) plus the FMCOS
//! proprietary personalisation commands CREATE FILE (`80 E0`), WRITE KEY (`80 D4`) and ERASE DF (`80 0E`).
//!
//! File system: the MF (`3F00`) holds a key file and the factory EF `0005` (SFI 5, the 8-byte serial, readable
//! by anyone, writable by no one); personalisation creates application DFs under it (ours: FID `3F01`, name
//! [`APP_NAME`]) with their own key files and binary EFs. Keys, access conditions and the command formats are
//! documented in `docs/cards.md`. Differences from a real FMCOS card, on purpose: the proprietary data formats
//! of CREATE FILE and WRITE KEY are ours and simpler, and WRITE KEY carries the key in plain text (a real card
//! wants it enciphered under the DF master key) — the emulator is for tests and the simulator, never for keys
//! that matter.
//!
//! Security state (which keys have been proven) belongs to the current DF and is lost on selecting another DF,
//! on reset and on power loss. A challenge from GET CHALLENGE is good for one EXTERNAL AUTHENTICATE or one
//! secure-messaging command, whatever its outcome, so a recorded cryptogram or MAC can never be replayed.
//! The card's random numbers come from its own deterministic generator (the block cipher over a counter under a
//! per-card secret drawn at manufacture), persisted with the card, so the crate itself never needs entropy.
//!
//! [`VirtualCard::process`] never panics: every malformed or unexpected command gets a status word.

use rand::RngCore;
use thiserror::Error;

use crate::apdu::{Command, Response, sw};
use crate::crypto::{Algorithm, Key};
use crate::layout::CardSerial;

/// The MF's file identifier.
pub const MF_FID: u16 = 0x3F00;
/// Our application DF's file identifier.
pub const APP_FID: u16 = 0x3F01;
/// Our application DF's name (SELECT by name).
pub const APP_NAME: &[u8] = b"VOLTVEND.PREPAY";
/// The factory EF in the MF holding the 8-byte card serial.
pub const FACTORY_FID: u16 = 0x0005;
pub const FACTORY_SFI: u8 = 5;

/// Key identifiers in a key file (ours, see `docs/cards.md`).
pub mod kid {
    /// The DF's (or MF's) master key: personalisation and erasure.
    pub const MASTER: u8 = 0x00;
    pub const EXTERNAL_AUTH: u8 = 0x01;
    pub const INTERNAL_AUTH: u8 = 0x02;
    pub const LINE: u8 = 0x03;
}

/// Instruction bytes.
pub mod ins {
    pub const SELECT: u8 = 0xA4;
    pub const READ_BINARY: u8 = 0xB0;
    pub const UPDATE_BINARY: u8 = 0xD6;
    pub const GET_CHALLENGE: u8 = 0x84;
    pub const EXTERNAL_AUTHENTICATE: u8 = 0x82;
    pub const INTERNAL_AUTHENTICATE: u8 = 0x88;
    pub const CREATE_FILE: u8 = 0xE0;
    pub const WRITE_KEY: u8 = 0xD4;
    pub const ERASE_DF: u8 = 0x0E;
}

/// The file-type byte of CREATE FILE.
pub const CREATE_DF: u8 = 0x38;
pub const CREATE_BINARY_EF: u8 = 0x28;
/// The largest binary EF the emulator creates (an FM1208 has 8 KiB of EEPROM in all).
pub const EF_SIZE_MAX: usize = 1024;
/// "File already exists" (ISO/IEC 7816-4 table 6).
pub const SW_FILE_EXISTS: u16 = 0x6A89;

/// The answer to reset (ISO/IEC 7816-3 clause 8): `3B` direct convention; `T0 = 88` (TD1 follows, 8 historical
/// bytes); `TD1 = 80` (TD2 follows, T=0 offered); `TD2 = 01` (T=1); historical bytes "VOLTVEND"; `TCK` so
/// that `T0` to `TCK` XOR to zero (required once T=1 is offered).
pub const ATR: [u8; 13] = [0x3B, 0x88, 0x80, 0x01, 0x56, 0x4F, 0x4C, 0x54, 0x56, 0x45, 0x4E, 0x44, 0x11];

/// An access condition on a file or key (our codes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// `00`: always.
    Free,
    /// `01`: after EXTERNAL AUTHENTICATE in this DF.
    Auth,
    /// `02`: after EXTERNAL AUTHENTICATE and only with a secure-messaging MAC (CLA `04`).
    AuthSm,
    /// `FF`: never.
    Never,
}

impl Access {
    pub fn code(self) -> u8 {
        match self {
            Self::Free => 0x00,
            Self::Auth => 0x01,
            Self::AuthSm => 0x02,
            Self::Never => 0xFF,
        }
    }

    pub fn from_code(code: u8) -> Option<Self> {
        Some(match code {
            0x00 => Self::Free,
            0x01 => Self::Auth,
            0x02 => Self::AuthSm,
            0xFF => Self::Never,
            _ => return None,
        })
    }
}

/// The kind of a key-file entry (FMCOS-like type bytes; ours where the manual is not public).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyType {
    /// `30`: master key; proving it grants personalisation rights in its DF.
    Master,
    /// `39`: external authentication key; proving it opens `Auth` and `AuthSm` files.
    ExternalAuth,
    /// `34`: internal authentication key; the card proves it.
    InternalAuth,
    /// `36`: line protection key for secure-messaging MACs.
    Line,
}

impl KeyType {
    pub fn code(self) -> u8 {
        match self {
            Self::Master => 0x30,
            Self::ExternalAuth => 0x39,
            Self::InternalAuth => 0x34,
            Self::Line => 0x36,
        }
    }

    pub fn from_code(code: u8) -> Option<Self> {
        Some(match code {
            0x30 => Self::Master,
            0x39 => Self::ExternalAuth,
            0x34 => Self::InternalAuth,
            0x36 => Self::Line,
            _ => return None,
        })
    }
}

/// One key-file entry.
#[derive(Debug, Clone, PartialEq, Eq)]
struct KeyEntry {
    kid: u8,
    key_type: KeyType,
    /// The condition under which the key may be used at all.
    usage: Access,
    tries_max: u8,
    tries_left: u8,
    key: Key,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Ef {
    fid: u16,
    sfi: u8,
    read: Access,
    write: Access,
    data: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Df {
    fid: u16,
    name: Vec<u8>,
    keys: Vec<KeyEntry>,
    efs: Vec<Ef>,
}

impl Df {
    /// A DF without a master key accepts CREATE FILE and WRITE KEY from anyone (FMCOS "creation" state);
    /// writing the master key ends that.
    fn installing(&self) -> bool {
        !self.keys.iter().any(|k| k.key_type == KeyType::Master)
    }

    fn key(&self, kid: u8) -> Option<&KeyEntry> {
        self.keys.iter().find(|k| k.kid == kid)
    }
}

/// What the current DF's security state holds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Security {
    master: bool,
    user: bool,
}

/// Why a saved card image cannot be loaded.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ImageError {
    #[error("not a Voltvend card image")]
    NotAnImage,
    #[error("card image version {0} is not supported")]
    Version(u8),
    #[error("the card image is malformed at {0}")]
    Malformed(&'static str),
}

/// A virtual FMCOS-style CPU card.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VirtualCard {
    serial: CardSerial,
    alg: Algorithm,
    mf: Df,
    apps: Vec<Df>,
    /// The chip's secret for its challenge generator, and how many blocks it has produced.
    rng_key: Key,
    rng_counter: u64,
    // Volatile state, lost on reset and power loss.
    current_df: Option<u16>,
    current_ef: Option<u16>,
    security: Security,
    challenge: Option<Vec<u8>>,
    tear_after: Option<usize>,
}

fn same(a: &[u8], b: &[u8]) -> bool {
    // Compares without an early exit, so timing does not tell how much of a cryptogram was right.
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn status(sw: u16) -> Option<Response> {
    Some(Response::status(sw))
}

impl VirtualCard {
    /// A card straight from the factory: the MF with the transport key ([`Key::transport`]) of the chip's
    /// algorithm as its master key, and the factory EF with `serial`. `rng` seeds the chip's challenge
    /// generator.
    pub fn new(serial: CardSerial, alg: Algorithm, rng: &mut dyn RngCore) -> Self {
        let mut secret = [0u8; 16];
        rng.fill_bytes(&mut secret);
        let rng_key = Key::new(alg, secret);
        zeroize::Zeroize::zeroize(&mut secret);
        Self {
            serial,
            alg,
            mf: Self::factory_mf(serial, alg),
            apps: Vec::new(),
            rng_key,
            rng_counter: 0,
            current_df: None,
            current_ef: None,
            security: Security::default(),
            challenge: None,
            tear_after: None,
        }
    }

    fn factory_mf(serial: CardSerial, alg: Algorithm) -> Df {
        Df {
            fid: MF_FID,
            name: Vec::new(),
            keys: vec![KeyEntry {
                kid: kid::MASTER,
                key_type: KeyType::Master,
                usage: Access::Free,
                tries_max: 15,
                tries_left: 15,
                key: Key::transport(alg),
            }],
            efs: vec![Self::factory_ef(serial)],
        }
    }

    fn factory_ef(serial: CardSerial) -> Ef {
        Ef { fid: FACTORY_FID, sfi: FACTORY_SFI, read: Access::Free, write: Access::Never, data: serial.0.to_vec() }
    }

    pub fn serial(&self) -> CardSerial {
        self.serial
    }

    /// The algorithm of the chip's factory transport key.
    pub fn alg(&self) -> Algorithm {
        self.alg
    }

    pub fn atr(&self) -> &'static [u8] {
        &ATR
    }

    /// Warm reset (or power on): the MF is selected and all security state and challenges are forgotten.
    pub fn reset(&mut self) -> Vec<u8> {
        self.power_off();
        ATR.to_vec()
    }

    /// Power off: volatile state is lost.
    pub fn power_off(&mut self) {
        self.current_df = None;
        self.current_ef = None;
        self.security = Security::default();
        self.challenge = None;
    }

    /// Test hook: the next UPDATE BINARY writes only its first `after_bytes` data bytes and then the card loses
    /// power (no response; the next command finds a freshly reset card).
    pub fn tear_next_update(&mut self, after_bytes: usize) {
        self.tear_after = Some(after_bytes);
    }

    /// The stored contents of an EF, looked up in the application DFs and then the MF (for inspection).
    pub fn ef_contents(&self, fid: u16) -> Option<&[u8]> {
        self.apps
            .iter()
            .chain(std::iter::once(&self.mf))
            .flat_map(|d| &d.efs)
            .find(|e| e.fid == fid)
            .map(|e| e.data.as_slice())
    }

    fn df(&self) -> &Df {
        match self.current_df {
            Some(fid) => self.apps.iter().find(|d| d.fid == fid).unwrap_or(&self.mf),
            None => &self.mf,
        }
    }

    fn df_mut(&mut self) -> &mut Df {
        match self.current_df {
            Some(fid) => match self.apps.iter_mut().find(|d| d.fid == fid) {
                Some(d) => d,
                None => &mut self.mf,
            },
            None => &mut self.mf,
        }
    }

    fn select_df(&mut self, fid: Option<u16>) {
        if self.current_df != fid {
            self.security = Security::default();
            self.challenge = None;
        }
        self.current_df = fid;
        self.current_ef = None;
    }

    fn allowed(&self, access: Access, sm: bool) -> bool {
        let authed = self.security.user || self.security.master;
        match access {
            Access::Free => true,
            Access::Auth => authed,
            Access::AuthSm => authed && sm,
            Access::Never => false,
        }
    }

    fn personalising(&self) -> bool {
        self.security.master || self.df().installing()
    }

    /// Bytes from the chip's deterministic generator.
    fn random(&mut self, n: usize) -> Vec<u8> {
        let block = self.alg.block_len();
        let mut out = Vec::with_capacity(n + block);
        while out.len() < n {
            self.rng_counter = self.rng_counter.wrapping_add(1);
            let mut input = self.rng_counter.to_be_bytes().to_vec();
            input.resize(block, 0);
            out.extend(self.rng_key.encrypt_ecb(&input).unwrap_or_default());
            if block == 0 {
                break;
            }
        }
        out.truncate(n);
        out
    }

    /// Handles one command APDU and returns the response APDU (data ‖ SW1 SW2), or nothing when the card "lost
    /// power" (a torn write).
    pub fn process(&mut self, apdu: &[u8]) -> Vec<u8> {
        match self.execute(apdu) {
            Some(response) => response.to_bytes(),
            None => Vec::new(),
        }
    }

    fn execute(&mut self, apdu: &[u8]) -> Option<Response> {
        let Ok(cmd) = Command::parse(apdu) else { return status(sw::WRONG_LENGTH) };
        let proprietary = cmd.cla & 0x80 != 0;
        let sm = match cmd.cla {
            0x00 | 0x80 => false,
            0x04 | 0x84 => true,
            _ => return status(sw::CLA_NOT_SUPPORTED),
        };
        if sm && (cmd.ins != ins::UPDATE_BINARY || proprietary) {
            return status(sw::SM_NOT_SUPPORTED);
        }
        match (proprietary, cmd.ins) {
            (false, ins::SELECT) => self.select(&cmd),
            (false, ins::READ_BINARY) => self.read_binary(&cmd),
            (false, ins::UPDATE_BINARY) => self.update_binary(&cmd, sm),
            (false, ins::GET_CHALLENGE) => self.get_challenge(&cmd),
            (false, ins::EXTERNAL_AUTHENTICATE) => self.external_authenticate(&cmd),
            (false, ins::INTERNAL_AUTHENTICATE) => self.internal_authenticate(&cmd),
            (true, ins::CREATE_FILE) => self.create_file(&cmd),
            (true, ins::WRITE_KEY) => self.write_key(&cmd),
            (true, ins::ERASE_DF) => self.erase_df(&cmd),
            (false, ins::CREATE_FILE | ins::WRITE_KEY | ins::ERASE_DF) => status(sw::CLA_NOT_SUPPORTED),
            _ => status(sw::INS_NOT_SUPPORTED),
        }
    }

    fn fci(fid: u16, name: &[u8]) -> Vec<u8> {
        let mut inner = vec![0x83, 2];
        inner.extend_from_slice(&fid.to_be_bytes());
        if !name.is_empty() {
            inner.push(0x84);
            inner.push(name.len() as u8);
            inner.extend_from_slice(name);
        }
        let mut out = vec![0x6F, inner.len() as u8];
        out.extend(inner);
        out
    }

    fn select(&mut self, cmd: &Command) -> Option<Response> {
        let want_fci = cmd.p2 != 0x0C;
        if cmd.p2 != 0x00 && cmd.p2 != 0x0C {
            return status(sw::WRONG_P1P2);
        }
        match cmd.p1 {
            0x00 => {
                let [hi, lo] = *cmd.data.as_slice() else { return status(sw::WRONG_LENGTH) };
                let fid = u16::from_be_bytes([hi, lo]);
                if fid == MF_FID {
                    self.select_df(None);
                    return Some(Response::new(if want_fci { Self::fci(MF_FID, &[]) } else { vec![] }, sw::OK));
                }
                if let Some(name) = self.apps.iter().find(|d| d.fid == fid).map(|d| d.name.clone()) {
                    self.select_df(Some(fid));
                    return Some(Response::new(if want_fci { Self::fci(fid, &name) } else { vec![] }, sw::OK));
                }
                if self.df().efs.iter().any(|e| e.fid == fid) {
                    self.current_ef = Some(fid);
                    return status(sw::OK);
                }
                status(sw::FILE_NOT_FOUND)
            }
            0x04 => {
                if cmd.data.is_empty() || cmd.data.len() > 16 {
                    return status(sw::WRONG_LENGTH);
                }
                match self.apps.iter().find(|d| d.name == cmd.data).map(|d| d.fid) {
                    Some(fid) => {
                        self.select_df(Some(fid));
                        Some(Response::new(if want_fci { Self::fci(fid, &cmd.data) } else { vec![] }, sw::OK))
                    }
                    None => status(sw::FILE_NOT_FOUND),
                }
            }
            _ => status(sw::WRONG_P1P2),
        }
    }

    /// Resolves the EF and offset of READ/UPDATE BINARY (P1 bit 8 set: SFI in bits 5–1 and offset in P2).
    fn address(&mut self, cmd: &Command) -> Result<(u16, usize), u16> {
        if cmd.p1 & 0x80 != 0 {
            if cmd.p1 & 0x60 != 0 {
                return Err(sw::WRONG_P1P2);
            }
            let sfi = cmd.p1 & 0x1F;
            let fid = self.df().efs.iter().find(|e| e.sfi == sfi).map(|e| e.fid).ok_or(sw::FILE_NOT_FOUND)?;
            self.current_ef = Some(fid);
            Ok((fid, usize::from(cmd.p2)))
        } else {
            let fid = self.current_ef.ok_or(sw::NO_CURRENT_EF)?;
            Ok((fid, usize::from(u16::from_be_bytes([cmd.p1, cmd.p2]))))
        }
    }

    fn read_binary(&mut self, cmd: &Command) -> Option<Response> {
        let (fid, offset) = match self.address(cmd) {
            Ok(a) => a,
            Err(code) => return status(code),
        };
        let Some(le) = cmd.le else { return status(sw::WRONG_LENGTH) };
        if !cmd.data.is_empty() {
            return status(sw::WRONG_LENGTH);
        }
        let Some(ef) = self.df().efs.iter().find(|e| e.fid == fid) else { return status(sw::NO_CURRENT_EF) };
        if ef.read == Access::Never {
            return status(sw::CONDITIONS_NOT_SATISFIED);
        }
        if !self.allowed(ef.read, false) {
            return status(sw::SECURITY_NOT_SATISFIED);
        }
        let Some(rest) = ef.data.get(offset..).filter(|r| !r.is_empty()) else { return status(sw::WRONG_OFFSET) };
        let n = if le == 256 { rest.len().min(256) } else { le };
        match rest.get(..n) {
            Some(bytes) => Some(Response::new(bytes.to_vec(), sw::OK)),
            None => status(sw::wrong_le(rest.len())),
        }
    }

    fn update_binary(&mut self, cmd: &Command, sm: bool) -> Option<Response> {
        let challenge = if sm { self.challenge.take() } else { None };
        let (fid, offset) = match self.address(cmd) {
            Ok(a) => a,
            Err(code) => return status(code),
        };
        let payload = if sm {
            let Some((payload, mac)) = cmd.data.split_last_chunk::<4>().filter(|(p, _)| !p.is_empty()) else {
                return status(sw::WRONG_LENGTH);
            };
            let Some(iv) = challenge else { return status(sw::REFERENCE_NOT_USABLE) };
            let Some(line) = self.df().keys.iter().find(|k| k.key_type == KeyType::Line) else {
                return status(sw::REFERENCE_NOT_FOUND);
            };
            let mut input = vec![cmd.cla, cmd.ins, cmd.p1, cmd.p2, cmd.data.len() as u8];
            input.extend_from_slice(payload);
            if !same(&line.key.mac(&iv, &input), mac) {
                return status(sw::SM_DATA_INCORRECT);
            }
            payload
        } else {
            cmd.data.as_slice()
        };
        if payload.is_empty() {
            return status(sw::WRONG_LENGTH);
        }
        let Some(ef) = self.df().efs.iter().find(|e| e.fid == fid) else { return status(sw::NO_CURRENT_EF) };
        if ef.write == Access::Never {
            return status(sw::CONDITIONS_NOT_SATISFIED);
        }
        if !self.allowed(ef.write, sm) {
            return status(sw::SECURITY_NOT_SATISFIED);
        }
        if offset > ef.data.len() {
            return status(sw::WRONG_OFFSET);
        }
        let tear = self.tear_after.take();
        let payload = payload.to_vec();
        let Some(ef) = self.df_mut().efs.iter_mut().find(|e| e.fid == fid) else { return status(sw::NO_CURRENT_EF) };
        let Some(target) = ef.data.get_mut(offset..offset + payload.len()) else { return status(sw::WRONG_LENGTH) };
        match tear {
            Some(n) => {
                target.iter_mut().zip(payload.iter().take(n)).for_each(|(t, p)| *t = *p);
                self.power_off();
                None
            }
            None => {
                target.copy_from_slice(&payload);
                status(sw::OK)
            }
        }
    }

    fn get_challenge(&mut self, cmd: &Command) -> Option<Response> {
        if cmd.p1 != 0 || cmd.p2 != 0 {
            return status(sw::WRONG_P1P2);
        }
        match cmd.le {
            Some(n @ (4 | 8 | 16)) if cmd.data.is_empty() => {
                let r = self.random(n);
                self.challenge = Some(r.clone());
                Some(Response::new(r, sw::OK))
            }
            _ => status(sw::WRONG_LENGTH),
        }
    }

    fn external_authenticate(&mut self, cmd: &Command) -> Option<Response> {
        // Taken first: a challenge is good for one attempt, whatever happens to it.
        let challenge = self.challenge.take();
        if cmd.p1 != 0 {
            return status(sw::WRONG_P1P2);
        }
        let usable = self.allowed_key(cmd.p2, &[KeyType::Master, KeyType::ExternalAuth]);
        let entry = match usable {
            Ok(e) => e,
            Err(code) => return status(code),
        };
        let Some(challenge) = challenge else { return status(sw::REFERENCE_NOT_USABLE) };
        if cmd.data.len() != entry.key.alg().block_len() {
            return status(sw::WRONG_LENGTH);
        }
        let good = same(&entry.key.cryptogram(&challenge), &cmd.data);
        let master = entry.key_type == KeyType::Master;
        let kid = cmd.p2;
        let Some(entry) = self.df_mut().keys.iter_mut().find(|k| k.kid == kid) else {
            return status(sw::REFERENCE_NOT_FOUND);
        };
        if good {
            entry.tries_left = entry.tries_max;
            if master {
                self.security.master = true;
            } else {
                self.security.user = true;
            }
            status(sw::OK)
        } else {
            entry.tries_left = entry.tries_left.saturating_sub(1);
            status(sw::retries_left(entry.tries_left))
        }
    }

    /// The key `kid` of the current DF if it is one of `types`, usable now and not blocked.
    fn allowed_key(&self, kid: u8, types: &[KeyType]) -> Result<KeyEntry, u16> {
        let entry = self.df().key(kid).ok_or(sw::REFERENCE_NOT_FOUND)?;
        if !types.contains(&entry.key_type) || !self.allowed(entry.usage, false) {
            return Err(sw::CONDITIONS_NOT_SATISFIED);
        }
        if entry.tries_left == 0 {
            return Err(sw::AUTH_BLOCKED);
        }
        Ok(entry.clone())
    }

    fn internal_authenticate(&mut self, cmd: &Command) -> Option<Response> {
        if cmd.p1 != 0 {
            return status(sw::WRONG_P1P2);
        }
        let entry = match self.allowed_key(cmd.p2, &[KeyType::InternalAuth]) {
            Ok(e) => e,
            Err(code) => return status(code),
        };
        if cmd.data.is_empty() || cmd.data.len() > entry.key.alg().block_len() {
            return status(sw::WRONG_LENGTH);
        }
        Some(Response::new(entry.key.cryptogram(&cmd.data), sw::OK))
    }

    fn create_file(&mut self, cmd: &Command) -> Option<Response> {
        if !self.personalising() {
            return status(sw::SECURITY_NOT_SATISFIED);
        }
        let fid = u16::from_be_bytes([cmd.p1, cmd.p2]);
        if fid == MF_FID
            || fid == 0xFFFF
            || self.apps.iter().any(|d| d.fid == fid)
            || self.df().efs.iter().any(|e| e.fid == fid)
        {
            return status(SW_FILE_EXISTS);
        }
        match cmd.data.as_slice() {
            [CREATE_DF, len, name @ ..] => {
                if self.current_df.is_some() {
                    // One level of DFs, like our layout needs.
                    return status(sw::CONDITIONS_NOT_SATISFIED);
                }
                if usize::from(*len) != name.len() || name.is_empty() || name.len() > 16 {
                    return status(sw::WRONG_DATA);
                }
                if self.apps.iter().any(|d| d.name == name) {
                    return status(SW_FILE_EXISTS);
                }
                if self.apps.len() >= 4 {
                    return status(sw::CONDITIONS_NOT_SATISFIED);
                }
                self.apps.push(Df { fid, name: name.to_vec(), keys: Vec::new(), efs: Vec::new() });
                status(sw::OK)
            }
            [CREATE_BINARY_EF, s1, s2, sfi, read, write] => {
                let size = usize::from(u16::from_be_bytes([*s1, *s2]));
                let (Some(read), Some(write)) = (Access::from_code(*read), Access::from_code(*write)) else {
                    return status(sw::WRONG_DATA);
                };
                if size == 0 || size > EF_SIZE_MAX || !(1..=30).contains(sfi) {
                    return status(sw::WRONG_DATA);
                }
                if self.df().efs.iter().any(|e| e.sfi == *sfi) || self.df().efs.len() >= 16 {
                    return status(SW_FILE_EXISTS);
                }
                self.df_mut().efs.push(Ef { fid, sfi: *sfi, read, write, data: vec![0; size] });
                status(sw::OK)
            }
            _ => status(sw::WRONG_DATA),
        }
    }

    fn write_key(&mut self, cmd: &Command) -> Option<Response> {
        if cmd.p1 > 1 {
            return status(sw::WRONG_P1P2);
        }
        if !self.personalising() {
            return status(sw::SECURITY_NOT_SATISFIED);
        }
        let Some(([key_type, alg, usage, tries], key)) = cmd.data.split_first_chunk::<4>() else {
            return status(sw::WRONG_LENGTH);
        };
        let Ok(bytes) = <[u8; 16]>::try_from(key) else { return status(sw::WRONG_LENGTH) };
        let (Some(key_type), Some(alg), Some(usage)) =
            (KeyType::from_code(*key_type), Algorithm::from_code(*alg), Access::from_code(*usage))
        else {
            return status(sw::WRONG_DATA);
        };
        if !(1..=15).contains(tries) {
            return status(sw::WRONG_DATA);
        }
        let entry =
            KeyEntry { kid: cmd.p2, key_type, usage, tries_max: *tries, tries_left: *tries, key: Key::new(alg, bytes) };
        let keys = &mut self.df_mut().keys;
        if let Some(old) = keys.iter_mut().find(|k| k.kid == entry.kid) {
            *old = entry;
        } else if keys.len() < 16 {
            keys.push(entry);
        } else {
            return status(sw::CONDITIONS_NOT_SATISFIED);
        }
        status(sw::OK)
    }

    fn erase_df(&mut self, cmd: &Command) -> Option<Response> {
        if cmd.p1 != 0 || cmd.p2 != 0 || !cmd.data.is_empty() {
            return status(sw::WRONG_P1P2);
        }
        if !self.personalising() {
            return status(sw::SECURITY_NOT_SATISFIED);
        }
        if self.current_df.is_none() {
            // The factory EF is outside the erasable area: the serial survives, as on a real chip.
            self.apps.clear();
            self.mf = Df { keys: Vec::new(), efs: vec![Self::factory_ef(self.serial)], ..self.mf.clone() };
        } else {
            let df = self.df_mut();
            df.keys.clear();
            df.efs.clear();
        }
        self.current_ef = None;
        self.security = Security::default();
        status(sw::OK)
    }

    /// Handles one vpcd message (see [`crate::vpcd`]): the ATR for `GetAtr`, the response APDU for an APDU,
    /// nothing for power and reset control (or for an APDU that tore the card).
    pub fn handle_vpcd(&mut self, msg: &crate::vpcd::VpcdMessage) -> Option<Vec<u8>> {
        use crate::vpcd::VpcdMessage;
        match msg {
            VpcdMessage::PowerOff => {
                self.power_off();
                None
            }
            VpcdMessage::PowerOn | VpcdMessage::Reset => {
                self.reset();
                None
            }
            VpcdMessage::GetAtr => Some(ATR.to_vec()),
            VpcdMessage::Apdu(apdu) => Some(self.process(apdu)).filter(|r| !r.is_empty()),
        }
    }

    /// The persistent card image, format version 1 (documented in `docs/cards.md`): the magic `VVCD`, the
    /// version, the serial, the chip algorithm, the generator secret and counter, then the MF and each
    /// application DF. Volatile state (selection, security state, challenge) is not saved. The image holds key
    /// bytes: store it like a key file.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = b"VVCD".to_vec();
        out.push(IMAGE_VERSION);
        out.extend_from_slice(&self.serial.0);
        out.push(self.alg.code());
        out.push(self.rng_key.alg().code());
        out.extend_from_slice(self.rng_key.expose_bytes());
        out.extend_from_slice(&self.rng_counter.to_be_bytes());
        write_df(&mut out, &self.mf);
        out.push(self.apps.len() as u8);
        self.apps.iter().for_each(|d| write_df(&mut out, d));
        out
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<Self, ImageError> {
        let mut r = ImageReader { rest: bytes };
        if r.take::<4>("magic")? != *b"VVCD" {
            return Err(ImageError::NotAnImage);
        }
        let version = r.u8("version")?;
        if version != IMAGE_VERSION {
            return Err(ImageError::Version(version));
        }
        let serial = CardSerial(r.take("serial")?);
        let alg = Algorithm::from_code(r.u8("alg")?).ok_or(ImageError::Malformed("alg"))?;
        let rng_alg = Algorithm::from_code(r.u8("rng")?).ok_or(ImageError::Malformed("rng"))?;
        let rng_key = Key::new(rng_alg, r.take("rng")?);
        let rng_counter = u64::from_be_bytes(r.take("rng counter")?);
        let mf = read_df(&mut r)?;
        let n = r.u8("apps")?;
        let apps = (0..n).map(|_| read_df(&mut r)).collect::<Result<Vec<_>, _>>()?;
        if !r.rest.is_empty() {
            return Err(ImageError::Malformed("trailing bytes"));
        }
        if mf.fid != MF_FID || !mf.efs.iter().any(|e| e.fid == FACTORY_FID && e.data == serial.0) {
            return Err(ImageError::Malformed("factory file"));
        }
        Ok(Self {
            serial,
            alg,
            mf,
            apps,
            rng_key,
            rng_counter,
            current_df: None,
            current_ef: None,
            security: Security::default(),
            challenge: None,
            tear_after: None,
        })
    }
}

const IMAGE_VERSION: u8 = 1;

fn write_df(out: &mut Vec<u8>, df: &Df) {
    out.extend_from_slice(&df.fid.to_be_bytes());
    out.push(df.name.len() as u8);
    out.extend_from_slice(&df.name);
    out.push(df.keys.len() as u8);
    for k in &df.keys {
        out.extend_from_slice(&[
            k.kid,
            k.key_type.code(),
            k.key.alg().code(),
            k.usage.code(),
            k.tries_max,
            k.tries_left,
        ]);
        out.extend_from_slice(k.key.expose_bytes());
    }
    out.push(df.efs.len() as u8);
    for e in &df.efs {
        out.extend_from_slice(&e.fid.to_be_bytes());
        out.extend_from_slice(&[e.sfi, e.read.code(), e.write.code()]);
        out.extend_from_slice(&(e.data.len() as u16).to_be_bytes());
        out.extend_from_slice(&e.data);
    }
}

struct ImageReader<'a> {
    rest: &'a [u8],
}

impl ImageReader<'_> {
    fn take<const N: usize>(&mut self, what: &'static str) -> Result<[u8; N], ImageError> {
        let (head, tail) = self.rest.split_first_chunk::<N>().ok_or(ImageError::Malformed(what))?;
        self.rest = tail;
        Ok(*head)
    }

    fn u8(&mut self, what: &'static str) -> Result<u8, ImageError> {
        let [b] = self.take::<1>(what)?;
        Ok(b)
    }

    fn u16(&mut self, what: &'static str) -> Result<u16, ImageError> {
        Ok(u16::from_be_bytes(self.take(what)?))
    }

    fn bytes(&mut self, n: usize, what: &'static str) -> Result<Vec<u8>, ImageError> {
        if n > self.rest.len() {
            return Err(ImageError::Malformed(what));
        }
        let (head, tail) = self.rest.split_at(n);
        self.rest = tail;
        Ok(head.to_vec())
    }
}

fn read_df(r: &mut ImageReader<'_>) -> Result<Df, ImageError> {
    let fid = r.u16("df fid")?;
    let name_len = usize::from(r.u8("df name")?);
    let name = r.bytes(name_len, "df name")?;
    let nkeys = r.u8("keys")?;
    let mut keys = Vec::new();
    for _ in 0..nkeys {
        let [kid, ty, alg, usage, tries_max, tries_left] = r.take("key")?;
        let key_type = KeyType::from_code(ty).ok_or(ImageError::Malformed("key type"))?;
        let alg = Algorithm::from_code(alg).ok_or(ImageError::Malformed("key alg"))?;
        let usage = Access::from_code(usage).ok_or(ImageError::Malformed("key usage"))?;
        if tries_left > tries_max {
            return Err(ImageError::Malformed("key tries"));
        }
        keys.push(KeyEntry { kid, key_type, usage, tries_max, tries_left, key: Key::new(alg, r.take("key bytes")?) });
    }
    let nefs = r.u8("efs")?;
    let mut efs = Vec::new();
    for _ in 0..nefs {
        let fid = r.u16("ef fid")?;
        let [sfi, read, write] = r.take("ef")?;
        let read = Access::from_code(read).ok_or(ImageError::Malformed("ef read"))?;
        let write = Access::from_code(write).ok_or(ImageError::Malformed("ef write"))?;
        let len = usize::from(r.u16("ef size")?);
        if len > EF_SIZE_MAX {
            return Err(ImageError::Malformed("ef size"));
        }
        efs.push(Ef { fid, sfi, read, write, data: r.bytes(len, "ef data")? });
    }
    Ok(Df { fid, name, keys, efs })
}

#[cfg(test)]
mod tests;
