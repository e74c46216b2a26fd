//! The master keys: read from files or the environment at start-up (never from the database), and made.
//!
//! A key file holds 64 hex digits. On Unix a key file that others may read is refused, as ssh refuses a
//! private key: the key opens every vending key in the database.

use std::path::Path;

use anyhow::{Context, bail};
use voltvend_ops::{MasterKey, MasterKeys};

use crate::clock::IdGenerator;
use crate::settings::Settings;

/// The environment variable that may hold the master key instead of a file.
pub const MASTER_KEY_ENV: &str = "VOLTVEND_MASTER_KEY";

/// The master keys the configuration names: the current one (file or environment), and earlier ones.
/// `MasterKeys::none()` when none is configured.
pub fn load(settings: &Settings) -> anyhow::Result<MasterKeys> {
    let from_env = std::env::var(MASTER_KEY_ENV).ok().filter(|v| !v.trim().is_empty());
    let file = settings.keys.master_key_file.trim();
    let current = match (from_env, file.is_empty()) {
        (Some(_), false) => {
            bail!("the master key is given twice: both {MASTER_KEY_ENV} and keys.master_key_file are set")
        }
        (Some(hex), true) => {
            Some(MasterKey::from_hex(&hex).map_err(|_| anyhow::anyhow!("{MASTER_KEY_ENV} is not 64 hex digits"))?)
        }
        (None, false) => Some(read_file(Path::new(file)).context("keys.master_key_file")?),
        (None, true) => None,
    };
    let mut earlier = Vec::new();
    for f in &settings.keys.previous_master_key_files {
        earlier.push(read_file(Path::new(f)).context("keys.previous_master_key_files")?);
    }
    match current {
        Some(current) => Ok(MasterKeys::new(current, earlier)),
        None if earlier.is_empty() => Ok(MasterKeys::none()),
        None => bail!("keys.previous_master_key_files is set but there is no current master key"),
    }
}

fn read_file(path: &Path) -> anyhow::Result<MasterKey> {
    let meta = std::fs::metadata(path).with_context(|| format!("cannot read {}", path.display()))?;
    if !meta.is_file() {
        bail!("{} is not a file", path.display());
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if meta.permissions().mode() & 0o077 != 0 {
            bail!("{} may be read by others; make it readable by its owner only (chmod 600)", path.display());
        }
    }
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    MasterKey::from_hex(&text).map_err(|_| anyhow::anyhow!("{} does not hold 64 hex digits", path.display()))
}

/// A new random master key, as 64 hex digits.
pub fn generate(ids: &IdGenerator) -> String {
    let mut key = zeroize::Zeroizing::new([0_u8; 32]);
    ids.fill(key.as_mut());
    key.iter().map(|b| format!("{b:02x}")).collect()
}

/// Writes a new master key to `path`, readable by its owner only; refuses to overwrite.
pub fn generate_file(path: &Path, ids: &IdGenerator) -> anyhow::Result<String> {
    let key = zeroize::Zeroizing::new(generate(ids));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file =
        options.open(path).with_context(|| format!("cannot create {} (it must not exist)", path.display()))?;
    std::io::Write::write_all(&mut file, format!("{}\n", key.as_str()).as_bytes())?;
    file.sync_all()?;
    Ok(MasterKey::from_hex(&key).map(|k| k.id_hex()).unwrap_or_default())
}
