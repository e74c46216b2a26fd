//! What operations need besides stored state: parsed tariffs (cached by revision) and the master keys, which
//! never live in the database.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use voltvend_domain::tariff::Tariff;

use crate::error::OpError;
use crate::records::TariffDoc;
use crate::secrets::MasterKeys;

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

/// Everything an operation may use that is not stored state.
#[derive(Debug, Default)]
pub struct Context {
    pub tariffs: TariffCache,
    /// The master keys that open sealed vending keys and device secrets.
    pub secrets: MasterKeys,
}

impl Context {
    pub fn new(secrets: MasterKeys) -> Self {
        Self { tariffs: TariffCache::default(), secrets }
    }
}
