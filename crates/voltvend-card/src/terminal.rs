//! The terminal side: what a sales-system card writer or a meter's card reader does with a card.
//!
//! Every operation that touches the application starts with **three-pass mutual authentication** (the steps
//! are also in `docs/cards.md`):
//! 1. `SELECT` the MF, `READ BINARY` the factory EF (SFI 5) for the serial; derive the card's keys from the
//!    [`RootKey`] ([`crate::crypto`]).
//! 2. `SELECT` the application by name.
//! 3. `GET CHALLENGE` (8 bytes): the card's random `Rc`.
//! 4. `INTERNAL AUTHENTICATE` (key 02) with the terminal's random `Rt`: the card answers `E_Ki(Rt ‖ 0…)` and
//!    the terminal compares — the card has proven its key before the terminal reveals anything, so a foreign
//!    card never costs a try of its own counter.
//! 5. `EXTERNAL AUTHENTICATE` (key 01) with `E_Ke(Rc ‖ 0…)`: the terminal proves its key.
//! 6. For each write: `GET CHALLENGE` (8 bytes) → `R`, then `UPDATE BINARY` with CLA `04`, the record, and a
//!    4-byte MAC under the line key with IV = `R` over `04 D6 P1 P2 Lc ‖ record` (Lc counts the MAC).
//!
//! [`Transport`] is the only I/O: [`VirtualCard`] implements it in-process; a PC/SC reader or the vpcd socket
//! implement it elsewhere.

use rand::RngCore;
use thiserror::Error;

use crate::apdu::{ApduError, Command, Response, sw};
use crate::card::{
    APP_FID, APP_NAME, Access, CREATE_BINARY_EF, CREATE_DF, FACTORY_SFI, KeyType, VirtualCard, ins, kid,
};
use crate::crypto::{CardKeys, Key, RootKey};
use crate::layout::{CardSerial, Header, LayoutError, Parameters, Purchase, ReturnData};

/// Why a card operation failed. [`code`](Self::code) gives the stable machine-readable code.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum CardError {
    #[error("no card, or the card stopped answering: {0}")]
    NoCard(String),
    #[error("the card is blank")]
    Blank,
    #[error("the card is already issued")]
    AlreadyIssued,
    #[error("the card does not hold our keys")]
    NotOurs,
    #[error("the card's key is locked after too many failed authentications")]
    KeyLocked,
    #[error("the card's data is damaged: {0}")]
    Damaged(LayoutError),
    #[error("the data to write is invalid: {0}")]
    InvalidData(LayoutError),
    #[error("the card answered {sw:04X} to instruction {ins:02X}")]
    Status { ins: u8, sw: u16 },
    #[error("malformed APDU: {0}")]
    BadApdu(ApduError),
}

impl CardError {
    pub fn code(&self) -> &'static str {
        match self {
            Self::NoCard(_) => "no_card",
            Self::Blank => "card_blank",
            Self::AlreadyIssued => "card_already_issued",
            Self::NotOurs => "card_not_ours",
            Self::KeyLocked => "card_key_locked",
            Self::Damaged(_) => "card_damaged",
            Self::InvalidData(_) => "card_data_invalid",
            Self::Status { .. } => "card_status",
            Self::BadApdu(_) => "bad_apdu",
        }
    }
}

/// Sends one command APDU to a card and returns its response APDU.
pub trait Transport {
    fn transmit(&mut self, command: &[u8]) -> Result<Vec<u8>, CardError>;
}

impl Transport for VirtualCard {
    fn transmit(&mut self, command: &[u8]) -> Result<Vec<u8>, CardError> {
        let response = self.process(command);
        if response.is_empty() {
            return Err(CardError::NoCard("the card did not answer (power lost)".into()));
        }
        Ok(response)
    }
}

/// Everything on an application, MACs verified; `None` where a file is blank (all `None` on a blank card) and
/// for a damaged return record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CardImage {
    pub serial: CardSerial,
    pub header: Option<Header>,
    pub purchase: Option<Purchase>,
    pub parameters: Option<Parameters>,
    pub returned: Option<ReturnData>,
}

/// The application's EFs: (FID, SFI, size).
pub const HEADER_EF: (u16, u8, usize) = (0x0001, 1, Header::LEN);
pub const PURCHASE_EF: (u16, u8, usize) = (0x0002, 2, Purchase::LEN);
pub const PARAMETERS_EF: (u16, u8, usize) = (0x0003, 3, Parameters::LEN);
pub const RETURN_EF: (u16, u8, usize) = (0x0004, 4, ReturnData::LEN);
/// Tries of the external-authentication key before it locks; other keys allow 15.
pub const AUTH_TRIES: u8 = 5;

/// Card operations over a [`Transport`], with the utility's root key and a random source for `Rt`.
pub struct Terminal<'a, T: Transport + ?Sized> {
    card: &'a mut T,
    root: &'a RootKey,
    rng: &'a mut dyn RngCore,
}

impl<T: Transport + ?Sized> std::fmt::Debug for Terminal<'_, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Terminal").field("root", self.root).finish_non_exhaustive()
    }
}

fn damaged(e: LayoutError) -> CardError {
    CardError::Damaged(e)
}

/// Decodes a record, a blank file being `None`.
fn optional<R>(decoded: Result<R, LayoutError>) -> Result<Option<R>, CardError> {
    match decoded {
        Ok(r) => Ok(Some(r)),
        Err(LayoutError::Blank) => Ok(None),
        Err(e) => Err(damaged(e)),
    }
}

impl<'a, T: Transport + ?Sized> Terminal<'a, T> {
    pub fn new(card: &'a mut T, root: &'a RootKey, rng: &'a mut dyn RngCore) -> Self {
        Self { card, root, rng }
    }

    fn send(&mut self, cmd: &Command) -> Result<Response, CardError> {
        let bytes = cmd.to_bytes().map_err(CardError::BadApdu)?;
        Response::parse(&self.card.transmit(&bytes)?).map_err(CardError::BadApdu)
    }

    fn ok(&mut self, cmd: &Command) -> Result<Vec<u8>, CardError> {
        let r = self.send(cmd)?;
        match r.sw {
            sw::OK => Ok(r.data),
            sw::AUTH_BLOCKED => Err(CardError::KeyLocked),
            code => Err(CardError::Status { ins: cmd.ins, sw: code }),
        }
    }

    fn select_mf(&mut self) -> Result<(), CardError> {
        self.ok(&Command { data: vec![0x3F, 0x00], ..Command::new(0, ins::SELECT, 0, 0x0C) }).map(drop)
    }

    /// Selects our application; `Ok(false)` if the card has none.
    fn select_app(&mut self) -> Result<bool, CardError> {
        let r = self.send(&Command { data: APP_NAME.to_vec(), ..Command::new(0, ins::SELECT, 4, 0x0C) })?;
        match r.sw {
            sw::OK => Ok(true),
            sw::FILE_NOT_FOUND => Ok(false),
            code => Err(CardError::Status { ins: ins::SELECT, sw: code }),
        }
    }

    fn read_sfi(&mut self, sfi: u8, len: usize) -> Result<Vec<u8>, CardError> {
        self.ok(&Command { le: Some(len), ..Command::new(0, ins::READ_BINARY, 0x80 | sfi, 0) })
    }

    fn challenge(&mut self) -> Result<Vec<u8>, CardError> {
        self.ok(&Command { le: Some(8), ..Command::new(0, ins::GET_CHALLENGE, 0, 0) })
    }

    /// EXTERNAL AUTHENTICATE on a fresh challenge; a wrong key is [`CardError::NotOurs`].
    fn external(&mut self, key_id: u8, key: &Key) -> Result<(), CardError> {
        let rc = self.challenge()?;
        self.external_with(key_id, key.cryptogram(&rc))
    }

    /// EXTERNAL AUTHENTICATE with `cryptogram`: a wrong one is [`CardError::NotOurs`], a locked key
    /// [`CardError::KeyLocked`].
    fn external_with(&mut self, key_id: u8, cryptogram: Vec<u8>) -> Result<(), CardError> {
        let cmd = Command { data: cryptogram, ..Command::new(0, ins::EXTERNAL_AUTHENTICATE, 0, key_id) };
        let r = self.send(&cmd)?;
        match r.sw {
            sw::OK => Ok(()),
            sw::AUTH_BLOCKED => Err(CardError::KeyLocked),
            code if sw::tries_in(code).is_some() => Err(CardError::NotOurs),
            code => Err(CardError::Status { ins: cmd.ins, sw: code }),
        }
    }

    /// The card's serial from the factory EF (selects the MF).
    pub fn serial(&mut self) -> Result<CardSerial, CardError> {
        self.select_mf()?;
        let bytes = self.read_sfi(FACTORY_SFI, 8)?;
        let serial: [u8; 8] = bytes.try_into().map_err(|_| damaged(LayoutError::BadField("serial")))?;
        Ok(CardSerial(serial))
    }

    /// Steps 1–5 of the module documentation: the application selected and both sides proven.
    fn open(&mut self) -> Result<(CardSerial, CardKeys), CardError> {
        let serial = self.serial()?;
        let keys = self.root.card_keys(&serial);
        if !self.select_app()? {
            return Err(CardError::Blank);
        }
        self.mutual_auth(&keys)?;
        Ok((serial, keys))
    }

    fn mutual_auth(&mut self, keys: &CardKeys) -> Result<(), CardError> {
        let rc = self.challenge()?;
        let mut rt = [0u8; 8];
        self.rng.fill_bytes(&mut rt);
        let internal = Command {
            data: rt.to_vec(),
            le: Some(256),
            ..Command::new(0, ins::INTERNAL_AUTHENTICATE, 0, kid::INTERNAL_AUTH)
        };
        let answer = self.ok(&internal)?;
        if answer != keys.internal_auth.cryptogram(&rt) {
            return Err(CardError::NotOurs);
        }
        self.external_with(kid::EXTERNAL_AUTH, keys.external_auth.cryptogram(&rc))
    }

    /// Step 6: a secure-messaging UPDATE BINARY of a whole EF.
    fn update_sm(&mut self, keys: &CardKeys, sfi: u8, record: &[u8]) -> Result<(), CardError> {
        let iv = self.challenge()?;
        let mut cmd = Command::new(0x04, ins::UPDATE_BINARY, 0x80 | sfi, 0);
        let lc =
            u8::try_from(record.len() + 4).map_err(|_| CardError::BadApdu(ApduError::DataTooLong(record.len() + 4)))?;
        let mut input = vec![cmd.cla, cmd.ins, cmd.p1, cmd.p2, lc];
        input.extend_from_slice(record);
        cmd.data = record.to_vec();
        cmd.data.extend_from_slice(&keys.line.mac(&iv, &input));
        self.ok(&cmd).map(drop)
    }

    /// Reads and verifies everything (after mutual authentication, so a foreign card is
    /// [`CardError::NotOurs`]). A blank card reads as all `None`.
    pub fn read(&mut self) -> Result<CardImage, CardError> {
        let serial = self.serial()?;
        if !self.select_app()? {
            return Ok(CardImage { serial, header: None, purchase: None, parameters: None, returned: None });
        }
        let keys = self.root.card_keys(&serial);
        self.mutual_auth(&keys)?;
        let header = optional(Header::decode(&self.read_sfi(HEADER_EF.1, HEADER_EF.2)?, &keys.purchase))?;
        if let Some(h) = &header
            && h.serial != serial
        {
            return Err(damaged(LayoutError::BadField("serial")));
        }
        let purchase = optional(Purchase::decode(&self.read_sfi(PURCHASE_EF.1, PURCHASE_EF.2)?, &keys.purchase))?;
        let parameters =
            optional(Parameters::decode(&self.read_sfi(PARAMETERS_EF.1, PARAMETERS_EF.2)?, &keys.purchase))?;
        // The return record is advisory and rewritten on every meter visit; a torn one (the customer pulled the
        // card while the meter wrote it) must not make the card unusable, so damage reads as "nothing returned".
        let returned = ReturnData::decode(&self.read_sfi(RETURN_EF.1, RETURN_EF.2)?, &keys.ret).ok();
        Ok(CardImage { serial, header, purchase, parameters, returned })
    }

    fn write_key(&mut self, key_id: u8, key_type: KeyType, tries: u8, key: &Key) -> Result<(), CardError> {
        let mut data = vec![key_type.code(), key.alg().code(), Access::Free.code(), tries];
        data.extend_from_slice(key.expose_bytes());
        let r = self.ok(&Command { data: data.clone(), ..Command::new(0x80, ins::WRITE_KEY, 1, key_id) });
        zeroize::Zeroize::zeroize(&mut data);
        r.map(drop)
    }

    fn create(&mut self, fid: u16, data: Vec<u8>) -> Result<(), CardError> {
        let [p1, p2] = fid.to_be_bytes();
        self.ok(&Command { data, ..Command::new(0x80, ins::CREATE_FILE, p1, p2) }).map(drop)
    }

    /// Personalises a factory-fresh card: proves the transport key, replaces it with the card's issuer key,
    /// creates the application with its keys and EFs, and writes the header (its `serial` is set to the
    /// card's) and the parameters. Returns the header written.
    pub fn issue(&mut self, header: &Header, parameters: Option<&Parameters>) -> Result<Header, CardError> {
        let serial = self.serial()?;
        let keys = self.root.card_keys(&serial);
        let header = Header { serial, ..header.clone() };
        let header_bytes = header.encode(&keys.purchase).map_err(CardError::InvalidData)?;
        let parameter_bytes =
            parameters.map(|p| p.encode(&keys.purchase)).transpose().map_err(CardError::InvalidData)?;
        if self.select_app()? {
            return Err(CardError::AlreadyIssued);
        }
        self.select_mf()?;
        self.external(kid::MASTER, &Key::transport(self.root.alg()))?;
        // From here on only our key store can erase or re-personalise the card.
        self.write_key(kid::MASTER, KeyType::Master, 15, &keys.issuer)?;
        let mut df = vec![CREATE_DF, APP_NAME.len() as u8];
        df.extend_from_slice(APP_NAME);
        self.create(APP_FID, df)?;
        self.select_app()?.then_some(()).ok_or(CardError::Status { ins: ins::SELECT, sw: sw::FILE_NOT_FOUND })?;
        self.write_key(kid::EXTERNAL_AUTH, KeyType::ExternalAuth, AUTH_TRIES, &keys.external_auth)?;
        self.write_key(kid::INTERNAL_AUTH, KeyType::InternalAuth, 15, &keys.internal_auth)?;
        self.write_key(kid::LINE, KeyType::Line, 15, &keys.line)?;
        for (fid, sfi, size) in [HEADER_EF, PURCHASE_EF, PARAMETERS_EF, RETURN_EF] {
            let [s1, s2] = (size as u16).to_be_bytes();
            self.create(fid, vec![CREATE_BINARY_EF, s1, s2, sfi, Access::Free.code(), Access::AuthSm.code()])?;
        }
        // Writing the DF master key ends the DF's creation state.
        self.write_key(kid::MASTER, KeyType::Master, 15, &keys.issuer)?;
        let (_, keys) = self.open()?;
        self.update_sm(&keys, HEADER_EF.1, &header_bytes)?;
        if let Some(bytes) = parameter_bytes {
            self.update_sm(&keys, PARAMETERS_EF.1, &bytes)?;
        }
        Ok(header)
    }

    /// Rewrites the header (for example a new customer number).
    pub fn write_header(&mut self, header: &Header) -> Result<(), CardError> {
        let (serial, keys) = self.open()?;
        let header = Header { serial, ..header.clone() };
        let bytes = header.encode(&keys.purchase).map_err(CardError::InvalidData)?;
        self.update_sm(&keys, HEADER_EF.1, &bytes)
    }

    /// Writes a sale (what the sales system does).
    pub fn write_purchase(&mut self, purchase: &Purchase) -> Result<(), CardError> {
        let (_, keys) = self.open()?;
        self.update_sm(&keys, PURCHASE_EF.1, &purchase.encode(&keys.purchase))
    }

    pub fn write_parameters(&mut self, parameters: &Parameters) -> Result<(), CardError> {
        let (_, keys) = self.open()?;
        let bytes = parameters.encode(&keys.purchase).map_err(CardError::InvalidData)?;
        self.update_sm(&keys, PARAMETERS_EF.1, &bytes)
    }

    /// Writes the return record (what a meter does).
    pub fn write_return(&mut self, returned: &ReturnData) -> Result<(), CardError> {
        let (_, keys) = self.open()?;
        let bytes = returned.encode(&keys.ret).map_err(CardError::InvalidData)?;
        self.update_sm(&keys, RETURN_EF.1, &bytes)
    }

    /// Erases the card back to its factory state (transport key, serial kept). A card that is already blank
    /// is left as it is.
    pub fn blank(&mut self) -> Result<CardSerial, CardError> {
        let serial = self.serial()?;
        let keys = self.root.card_keys(&serial);
        match self.external(kid::MASTER, &keys.issuer) {
            Ok(()) => {}
            // Perhaps still factory-fresh: the transport key answers (and its success restores the counter).
            Err(CardError::NotOurs) => {
                return self.external(kid::MASTER, &Key::transport(self.root.alg())).map(|()| serial);
            }
            Err(e) => return Err(e),
        }
        self.ok(&Command::new(0x80, ins::ERASE_DF, 0, 0))?;
        self.write_key(kid::MASTER, KeyType::Master, 15, &Key::transport(self.root.alg()))?;
        Ok(serial)
    }
}
