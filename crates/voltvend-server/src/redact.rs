//! Secrets kept out of what the command line prints: `config show` hides them, and every error line is
//! scrubbed of the secrets this process was given (database passwords, keys, integration passwords), so that
//! an error quoting a value from a driver or a library cannot leak one.

use std::sync::Mutex;

use crate::settings::Settings;

/// What a hidden value is printed as.
pub const HIDDEN: &str = "***";

/// Secrets shorter than this are not scrubbed from text (they would hide ordinary words and numbers).
const SECRET_LEN_MIN: usize = 4;

static SECRETS: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// Remembers a secret so that [`scrub`] hides it.
pub fn register(secret: &str) {
    let secret = secret.trim();
    if secret.len() < SECRET_LEN_MIN {
        return;
    }
    if let Ok(mut all) = SECRETS.lock()
        && !all.iter().any(|s| s == secret)
    {
        all.push(secret.to_string());
        // Longest first, so that a secret containing another is hidden whole.
        all.sort_by_key(|s| std::cmp::Reverse(s.len()));
    }
}

/// Whether an environment variable of ours holds a secret by its name (`VOLTVEND_VENDING_KEY`,
/// `VOLTVEND_MASTER_KEY`, `VOLTVEND_OPENPAYGO_KEY`, a password or token), as opposed to a file name.
fn secret_variable(name: &str) -> bool {
    let name = name.to_ascii_uppercase();
    name.starts_with("VOLTVEND")
        && !name.ends_with("_FILE")
        && !name.ends_with("_FILES")
        && ["KEY", "PASSWORD", "TOKEN", "SECRET"].iter().any(|w| name.contains(w))
}

/// Registers the secrets in this process's environment: keys and passwords by name, and the passwords in
/// any database URL.
pub fn register_environment() {
    for (name, value) in std::env::vars_os() {
        let (Some(name), Some(value)) = (name.to_str(), value.to_str()) else { continue };
        if !name.starts_with("VOLTVEND") {
            continue;
        }
        if secret_variable(name) {
            register(value);
        }
        for s in voltvend_store::url_secrets(value) {
            register(&s);
        }
    }
}

/// Registers the secrets of the effective configuration.
pub fn register_settings(settings: &Settings) {
    for s in voltvend_store::url_secrets(&settings.database.url) {
        register(&s);
    }
    register(&settings.headend.dlt645_password);
}

/// `text` with every registered secret replaced by [`HIDDEN`].
pub fn scrub(text: &str) -> String {
    let mut out = text.to_string();
    if let Ok(all) = SECRETS.lock() {
        for s in all.iter() {
            out = out.replace(s.as_str(), HIDDEN);
        }
    }
    out
}

/// The configuration as `config show` prints it: every secret hidden.
pub fn shown_settings(settings: &Settings) -> Settings {
    let mut shown = settings.clone();
    shown.database.url = voltvend_store::redact_url(&settings.database.url);
    shown.headend.dlt645_password = HIDDEN.to_string();
    shown
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_found_by_name_and_hidden() {
        assert!(secret_variable("VOLTVEND_VENDING_KEY"));
        assert!(secret_variable("VOLTVEND_MASTER_KEY"));
        assert!(secret_variable("VOLTVEND__HEADEND__DLT645_PASSWORD"));
        assert!(!secret_variable("VOLTVEND__KEYS__MASTER_KEY_FILE"));
        assert!(!secret_variable("VOLTVEND__LOG__LEVEL"));
        register("hunter2hunter2");
        register("ab");
        assert_eq!(scrub("cannot use hunter2hunter2 or ab"), "cannot use *** or ab");
        let mut s = Settings::default();
        s.database.url = "postgres://u:pw1@h/db?password=pw2".into();
        let shown = shown_settings(&s);
        assert_eq!(shown.database.url, "postgres://u:***@h/db?password=***");
        assert_eq!(shown.headend.dlt645_password, HIDDEN);
    }
}
