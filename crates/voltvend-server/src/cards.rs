//! The counter's IC card readers (docs/cards.md).
//!
//! A counter reads and writes customers' CPU cards through a reader: a PC/SC reader managed by `pcscd`
//! (ISO/IEC 7816-4 APDUs through the `pcsc` crate — a USB reader, or `vsmartcard-vpcd`'s virtual reader that a
//! card emulator connects to, see `voltvend card vpcd`), or, for demos and trials, a card emulated inside the
//! server (`virtual`). Which reader a counter uses is configuration (`cards.readers`, by vending point).
//!
//! Card I/O blocks (PC/SC calls wait on the reader), so each card session runs on a blocking thread: one
//! session per reader at a time, since a reader holds one card and the card's security state is per session.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use voltvend_card::VirtualCard;
use voltvend_card::{CardError, RootKey, Transport};
use voltvend_domain::VendingPointId;

/// Where a counter's reader is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReaderSpec {
    /// A card emulated in the server process.
    Virtual,
    /// A PC/SC reader: the first one, or the one of this name.
    Pcsc(Option<String>),
}

impl ReaderSpec {
    pub fn parse(text: &str) -> Option<Self> {
        match text.trim() {
            "virtual" => Some(Self::Virtual),
            "pcsc" => Some(Self::Pcsc(None)),
            other => {
                let name = other.strip_prefix("pcsc:")?.trim();
                (!name.is_empty()).then(|| Self::Pcsc(Some(name.to_string())))
            }
        }
    }
}

/// Why a card session could not run, as the API reports it (docs/errors.md, "IC cards").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReaderError {
    pub code: &'static str,
    pub message: String,
}

impl ReaderError {
    fn new(code: &'static str, message: impl Into<String>) -> Self {
        Self { code, message: message.into() }
    }

    /// A card's own refusal, in the API's words (docs/errors.md).
    pub fn of_card(e: &CardError) -> Self {
        let code = match e {
            CardError::NoCard(_) => "card_absent",
            CardError::Blank => "card_blank",
            CardError::AlreadyIssued => "card_not_blank",
            CardError::NotOurs => "card_not_ours",
            CardError::KeyLocked => "card_key_locked",
            CardError::Damaged(_) => "card_damaged",
            CardError::InvalidData(_) | CardError::Status { .. } | CardError::BadApdu(_) => "card_io",
        };
        Self::new(code, e.to_string())
    }
}

/// The readers of every counter, and the cards in the virtual ones.
#[derive(Debug)]
pub struct CardReaders {
    specs: BTreeMap<String, ReaderSpec>,
    /// The card in each virtual reader (by the reader's key: a vending point id or `default`).
    slots: Mutex<HashMap<String, VirtualCard>>,
    /// Virtual cards out of the readers, by serial: the demo's cards "on the desk".
    desk: Mutex<BTreeMap<String, VirtualCard>>,
    /// The demo's IC-card meters' controllers, by card meter number: where virtual cards are "inserted".
    cabinet: Mutex<HashMap<String, voltvend_meter::controller::Controller>>,
    /// The card key set new cards are personalised under.
    pub key_no: u32,
}

impl CardReaders {
    /// From `cards.readers` (validated at start-up: entries that do not parse are left out).
    pub fn new(readers: &BTreeMap<String, String>, key_no: u32) -> Self {
        let specs = readers.iter().filter_map(|(k, v)| Some((k.clone(), ReaderSpec::parse(v)?))).collect();
        Self {
            specs,
            slots: Mutex::new(HashMap::new()),
            desk: Mutex::new(BTreeMap::new()),
            cabinet: Mutex::new(HashMap::new()),
            key_no,
        }
    }

    /// The reader a vending point uses (its own, else `default`), with the key it is known by.
    pub fn reader_of(&self, point: Option<VendingPointId>) -> Option<(String, ReaderSpec)> {
        let own = point.map(|p| p.to_string()).and_then(|k| self.specs.get(&k).map(|s| (k, s.clone())));
        own.or_else(|| self.specs.get("default").map(|s| ("default".to_string(), s.clone())))
    }

    /// Puts a card into a virtual reader (a demo's blank card, a test's card), giving back the one it held.
    pub fn insert_virtual(&self, reader: &str, card: VirtualCard) -> Option<VirtualCard> {
        self.slots.lock().ok()?.insert(reader.to_string(), card)
    }

    /// Takes the card out of a virtual reader.
    pub fn take_virtual(&self, reader: &str) -> Option<VirtualCard> {
        self.slots.lock().ok()?.remove(reader)
    }

    /// A virtual reader's desk: the serial of the card in the reader, and those of the cards beside it.
    pub fn desk(&self, reader: &str) -> (Option<String>, Vec<String>) {
        let in_reader = self.slots.lock().ok().and_then(|s| s.get(reader).map(|c| c.serial().to_string()));
        let desk = self.desk.lock().map(|d| d.keys().cloned().collect()).unwrap_or_default();
        (in_reader, desk)
    }

    /// Virtual readers: puts `card` into the reader, the card it held going onto the desk.
    pub fn swap_in(&self, reader: &str, card: VirtualCard) {
        if let Some(old) = self.insert_virtual(reader, card)
            && let Ok(mut desk) = self.desk.lock()
        {
            desk.insert(old.serial().to_string(), old);
        }
    }

    /// Virtual readers: the card of this serial from the desk into the reader; `false` if there is none.
    pub fn insert_from_desk(&self, reader: &str, serial: &str) -> bool {
        let card = self.desk.lock().ok().and_then(|mut d| d.remove(serial));
        match card {
            Some(card) => {
                self.swap_in(reader, card);
                true
            }
            None => false,
        }
    }

    /// Virtual readers: the card in the reader onto the desk.
    pub fn eject(&self, reader: &str) -> bool {
        match self.take_virtual(reader) {
            Some(card) => {
                if let Ok(mut desk) = self.desk.lock() {
                    desk.insert(card.serial().to_string(), card);
                }
                true
            }
            None => false,
        }
    }

    /// The demo's meter cabinet: the card in a virtual reader inserted into the controller of the meter its
    /// header names (made, not yet opened, the first time), then put back into the reader. What the controller
    /// did, and the credit it holds.
    pub fn at_the_meter(
        &self,
        reader: &str,
        root: &RootKey,
        now: jiff::Timestamp,
    ) -> Result<(String, Result<voltvend_meter::controller::CardInserted, String>, i64), ReaderError> {
        let mut card =
            self.take_virtual(reader).ok_or_else(|| ReaderError::new("card_absent", "no card in the reader"))?;
        let mut rng = rand::rng();
        let image = voltvend_card::Terminal::new(&mut card, root, &mut rng).read();
        let meter_no = match image {
            Ok(i) => i.header.map(|h| h.meter_no),
            Err(_) => None,
        };
        let Some(meter_no) = meter_no else {
            self.insert_virtual(reader, card);
            return Err(ReaderError::new("card_blank", "the card names no meter: it is blank or not ours"));
        };
        let mut cabinet =
            self.cabinet.lock().map_err(|_| ReaderError::new("card_reader_unavailable", "the cabinet failed"))?;
        let controller = cabinet.entry(meter_no.clone()).or_insert_with(|| {
            let cfg = voltvend_meter::controller::ControllerConfig {
                mode: voltvend_meter::controller::Mode::Local,
                credit_unit: voltvend_meter::controller::CreditUnit::Energy,
                ..voltvend_meter::controller::ControllerConfig::remote(jiff::tz::TimeZone::UTC)
            };
            voltvend_meter::controller::Controller::new(cfg, 0, None).with_meter_no(meter_no.clone())
        });
        card.reset();
        let done = controller.insert_card(&mut card, root, now, &mut rng).map_err(|e| e.display());
        let credit = controller.credit();
        drop(cabinet);
        self.insert_virtual(reader, card);
        Ok((meter_no, done, credit))
    }

    /// The demo's meter cabinet: `wh` used on the meter of this card meter number (its controller debits it).
    pub fn use_at_the_meter(&self, meter_no: &str, wh: i64, now: jiff::Timestamp) -> Option<i64> {
        let mut cabinet = self.cabinet.lock().ok()?;
        let c = cabinet.get_mut(meter_no)?;
        c.consume(wh, 1_000, now);
        Some(c.credit())
    }

    /// Runs one card session with `f` against the card in `point`'s reader, on a blocking thread.
    pub async fn session<R, F>(self: &Arc<Self>, point: Option<VendingPointId>, f: F) -> Result<R, ReaderError>
    where
        R: Send + 'static,
        F: FnOnce(&mut dyn Transport) -> Result<R, CardError> + Send + 'static,
    {
        let (key, spec) = self.reader_of(point).ok_or_else(|| {
            ReaderError::new(
                "card_reader_not_configured",
                "no card reader is configured for this counter (cards.readers)",
            )
        })?;
        let readers = Arc::clone(self);
        let joined = tokio::task::spawn_blocking(move || match spec {
            ReaderSpec::Virtual => {
                let mut slots = readers
                    .slots
                    .lock()
                    .map_err(|_| ReaderError::new("card_reader_unavailable", "the virtual reader failed earlier"))?;
                let card =
                    slots.get_mut(&key).ok_or_else(|| ReaderError::new("card_absent", "no card in the reader"))?;
                // A session starts at a reset, as when a card is pushed into a reader: no state survives the last.
                card.reset();
                f(card).map_err(|e| ReaderError::of_card(&e))
            }
            ReaderSpec::Pcsc(name) => pcsc_session(name.as_deref(), f),
        })
        .await;
        joined.map_err(|e| ReaderError::new("card_reader_unavailable", format!("the card session failed: {e}")))?
    }
}

/// A card session on a PC/SC reader.
#[cfg(feature = "pcsc")]
fn pcsc_session<R, F>(name: Option<&str>, f: F) -> Result<R, ReaderError>
where
    F: FnOnce(&mut dyn Transport) -> Result<R, CardError>,
{
    let unavailable = |what: &str, e: pcsc::Error| ReaderError::new("card_reader_unavailable", format!("{what}: {e}"));
    let ctx = pcsc::Context::establish(pcsc::Scope::User).map_err(|e| unavailable("PC/SC (is pcscd running?)", e))?;
    let mut buf = [0_u8; 2048];
    let readers: Vec<std::ffi::CString> = match ctx.list_readers(&mut buf) {
        Ok(list) => list.map(std::ffi::CStr::to_owned).collect(),
        Err(pcsc::Error::NoReadersAvailable) => Vec::new(),
        Err(e) => return Err(unavailable("listing the readers", e)),
    };
    let reader = readers.iter().find(|r| name.is_none_or(|n| r.to_str().is_ok_and(|s| s == n))).ok_or_else(|| {
        ReaderError::new(
            "card_reader_unavailable",
            match name {
                Some(n) => format!("no PC/SC reader is called {n:?}"),
                None => "no PC/SC reader is connected".to_string(),
            },
        )
    })?;
    let card = match ctx.connect(reader, pcsc::ShareMode::Exclusive, pcsc::Protocols::ANY) {
        Ok(card) => card,
        Err(pcsc::Error::NoSmartcard | pcsc::Error::RemovedCard | pcsc::Error::UnpoweredCard) => {
            return Err(ReaderError::new("card_absent", "no card in the reader"));
        }
        Err(e) => return Err(unavailable("connecting to the card", e)),
    };
    let mut transport = PcscTransport { card };
    let result = f(&mut transport).map_err(|e| ReaderError::of_card(&e));
    // Reset the card at the end of the session, so that no authentication outlives it.
    let _ = transport.card.disconnect(pcsc::Disposition::ResetCard);
    result
}

#[cfg(not(feature = "pcsc"))]
fn pcsc_session<R, F>(_name: Option<&str>, _f: F) -> Result<R, ReaderError>
where
    F: FnOnce(&mut dyn Transport) -> Result<R, CardError>,
{
    Err(ReaderError::new(
        "card_reader_unavailable",
        "this server was built without PC/SC support (cargo feature `pcsc`); use a virtual reader or rebuild",
    ))
}

/// APDUs through a connected PC/SC card.
#[cfg(feature = "pcsc")]
struct PcscTransport {
    card: pcsc::Card,
}

#[cfg(feature = "pcsc")]
impl std::fmt::Debug for PcscTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PcscTransport")
    }
}

#[cfg(feature = "pcsc")]
impl Transport for PcscTransport {
    fn transmit(&mut self, command: &[u8]) -> Result<Vec<u8>, CardError> {
        let mut answer = [0_u8; pcsc::MAX_BUFFER_SIZE];
        match self.card.transmit(command, &mut answer) {
            Ok(response) => Ok(response.to_vec()),
            Err(pcsc::Error::RemovedCard | pcsc::Error::ResetCard) => {
                Err(CardError::NoCard("the card was taken out".into()))
            }
            Err(e) => Err(CardError::NoCard(e.to_string())),
        }
    }
}

/// The root key of card key set `key_no`, opened.
pub async fn root_key(
    store: &dyn voltvend_store::Store,
    secrets: &voltvend_ops::MasterKeys,
    key_no: u32,
) -> Result<RootKey, ReaderError> {
    let keys = store.card_keys().await.map_err(|e| ReaderError::new("card_reader_unavailable", e.to_string()))?;
    let record = keys
        .into_iter()
        .find(|k| k.key_no == key_no)
        .ok_or_else(|| ReaderError::new("card_key_missing", format!("card key set {key_no} is not configured")))?;
    let hex = secrets
        .open_text(&voltvend_ops::card_key_aad(key_no), &record.sealed)
        .map_err(|e| ReaderError::new(e.code(), e.to_string()))?;
    let alg = match record.algorithm {
        voltvend_ops::CardAlgorithm::Tdes => voltvend_card::Algorithm::Tdes,
        voltvend_ops::CardAlgorithm::Sm4 => voltvend_card::Algorithm::Sm4,
    };
    RootKey::from_hex(alg, &hex).map_err(|_| ReaderError::new("bad_card_key", "a stored card key is not a key"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reader_specs_parse_and_refuse() {
        assert_eq!(ReaderSpec::parse("virtual"), Some(ReaderSpec::Virtual));
        assert_eq!(ReaderSpec::parse("pcsc"), Some(ReaderSpec::Pcsc(None)));
        assert_eq!(
            ReaderSpec::parse("pcsc:Virtual PCD 00 00"),
            Some(ReaderSpec::Pcsc(Some("Virtual PCD 00 00".into())))
        );
        for bad in ["", "pcsc:", "usb", "pcsc :x", "virtual2"] {
            assert_eq!(ReaderSpec::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn a_point_without_its_own_reader_uses_the_default() {
        let point = VendingPointId::from_uuid(uuid::Uuid::from_u128(7));
        let mut map = BTreeMap::new();
        map.insert("default".to_string(), "virtual".to_string());
        let readers = CardReaders::new(&map, 1);
        assert_eq!(readers.reader_of(Some(point)), Some(("default".into(), ReaderSpec::Virtual)));
        map.insert(point.to_string(), "pcsc".into());
        let readers = CardReaders::new(&map, 1);
        assert_eq!(readers.reader_of(Some(point)), Some((point.to_string(), ReaderSpec::Pcsc(None))));
        assert_eq!(CardReaders::new(&BTreeMap::new(), 1).reader_of(Some(point)), None);
    }
}
