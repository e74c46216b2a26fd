//! What operations need besides stored state: parsed tariffs (cached by revision) and the vending keys,
//! which never live in the database.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};

use voltvend_domain::tariff::Tariff;
use voltvend_sts::{Issuer, MeterKeyRecord, VendingKey};

use crate::error::OpError;
use crate::records::TariffDoc;

/// Parsed tariffs by (code, revision). A revision never changes, so an entry never goes stale.
#[derive(Debug, Default)]
pub struct TariffCache {
    parsed: Mutex<HashMap<(String, i64), Arc<Tariff>>>,
}

impl TariffCache {
    /// Most parsed tariffs kept; past it the cache starts again (parsing is cheap, just not free).
    pub const ENTRIES_MAX: usize = 1_024;

    /// The tariff of a stored document.
    pub fn get(&self, doc: &TariffDoc) -> Result<Arc<Tariff>, OpError> {
        let key = (doc.code.clone(), doc.revision);
        let mut parsed = self.parsed.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(t) = parsed.get(&key) {
            return Ok(t.clone());
        }
        let (_, tariff) = parse(&doc.document)?;
        let tariff = Arc::new(tariff);
        if parsed.len() >= Self::ENTRIES_MAX {
            parsed.clear();
        }
        parsed.insert(key, tariff.clone());
        Ok(tariff)
    }
}

/// Parses a tariff document; returns its code and name with the tariff.
pub fn parse(document: &str) -> Result<((String, String), Tariff), OpError> {
    let (file, tariff) = voltvend_tariff_file::parse(document)
        .map_err(|e| OpError::refused("tariff_invalid", format!("tariff document: {e}")))?;
    Ok(((file.code, file.name), tariff))
}

/// The vending keys of the supply groups this installation serves, by supply group code.
#[derive(Default)]
pub struct KeyRing {
    by_sgc: HashMap<u32, VendingKey>,
}

impl fmt::Debug for KeyRing {
    /// Lists the supply groups, never the keys.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut sgcs: Vec<_> = self.by_sgc.keys().collect();
        sgcs.sort();
        f.debug_struct("KeyRing").field("supply_groups", &sgcs).finish()
    }
}

impl KeyRing {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn insert(&mut self, sgc: u32, key: VendingKey) {
        self.by_sgc.insert(sgc, key);
    }

    pub fn is_empty(&self) -> bool {
        self.by_sgc.is_empty()
    }

    /// An issuer for a meter, with its decoder key derived from its supply group's vending key.
    pub fn issuer(&self, record: &MeterKeyRecord) -> Result<Issuer, OpError> {
        let key = self.by_sgc.get(&record.params.sgc).ok_or_else(|| {
            OpError::refused(
                "sts_no_vending_key",
                format!("no vending key is configured for supply group {:06}", record.params.sgc),
            )
        })?;
        Ok(Issuer::new(key, record.clone())?)
    }
}

/// Everything an operation may use that is not stored state.
#[derive(Debug, Default)]
pub struct Context {
    pub tariffs: TariffCache,
    pub keys: KeyRing,
}

impl Context {
    pub fn new(keys: KeyRing) -> Self {
        Self { tariffs: TariffCache::default(), keys }
    }
}
