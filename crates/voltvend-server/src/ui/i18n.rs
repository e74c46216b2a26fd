//! Message catalogues of the web UI: `ui/messages/zh-CN.toml` and `ui/messages/en.toml`, compiled in.
//!
//! Keys are dotted (`counter.search`); a template asks for `page.t("counter.search")`. Both catalogues must
//! hold the same keys, and every key a template or page uses must be in both: the tests read the templates and
//! fail on a string missing in either language. Refusals are shown by their API code (`err.<code>`); a code
//! without its own message falls back to `err.other`, which names the code.

use std::collections::BTreeMap;
use std::sync::OnceLock;

const ZH_CN: &str = include_str!("../../ui/messages/zh-CN.toml");
const EN: &str = include_str!("../../ui/messages/en.toml");

/// A language of the UI.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    ZhCn,
    En,
}

impl Lang {
    pub const ALL: [Lang; 2] = [Lang::ZhCn, Lang::En];

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "zh-CN" | "zh" => Some(Self::ZhCn),
            "en" => Some(Self::En),
            _ => None,
        }
    }

    /// The BCP 47 tag (`lang` attribute, API `lang=` parameters).
    pub fn tag(self) -> &'static str {
        match self {
            Self::ZhCn => "zh-CN",
            Self::En => "en",
        }
    }

    pub fn catalogue(self) -> &'static Catalogue {
        static ZH: OnceLock<Catalogue> = OnceLock::new();
        static EN_: OnceLock<Catalogue> = OnceLock::new();
        match self {
            Self::ZhCn => ZH.get_or_init(|| Catalogue::parse(ZH_CN)),
            Self::En => EN_.get_or_init(|| Catalogue::parse(EN)),
        }
    }
}

/// One language's messages by key.
#[derive(Debug, Default)]
pub struct Catalogue {
    pub messages: BTreeMap<String, String>,
}

impl Catalogue {
    /// Reads a catalogue; nested tables give dotted keys. A catalogue that does not parse is empty (and the
    /// tests fail on it).
    pub fn parse(text: &str) -> Self {
        let mut messages = BTreeMap::new();
        match text.parse::<toml::Table>() {
            Ok(table) => flatten("", &table, &mut messages),
            Err(e) => tracing::error!(error = %e, "a UI message catalogue does not parse"),
        }
        Self { messages }
    }

    /// The message of `key`; the key itself if it is missing (the tests make sure none is).
    pub fn t<'a>(&'a self, key: &'a str) -> &'a str {
        self.messages.get(key).map_or(key, String::as_str)
    }

    /// The message of a refusal code.
    pub fn error(&self, code: &str) -> String {
        match self.messages.get(&format!("err.{code}")) {
            Some(m) => m.clone(),
            None => self.t("err.other").replace("{code}", code),
        }
    }
}

fn flatten(prefix: &str, table: &toml::Table, out: &mut BTreeMap<String, String>) {
    for (k, v) in table {
        let key = if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") };
        match v {
            toml::Value::Table(t) => flatten(&key, t, out),
            toml::Value::String(s) => {
                out.insert(key, s.clone());
            }
            other => {
                out.insert(key, other.to_string());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;
    use std::path::Path;

    use super::*;

    /// Every `t("…")` key in the templates and the UI's Rust sources.
    fn used_keys() -> BTreeSet<String> {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut files = Vec::new();
        for dir in ["templates", "src/ui"] {
            for entry in std::fs::read_dir(root.join(dir)).expect("read dir") {
                files.push(entry.expect("entry").path());
            }
        }
        let mut keys = BTreeSet::new();
        for f in files {
            let text = std::fs::read_to_string(&f).unwrap_or_default();
            // Page titles (`PageCtx::new(ui, "x.title")`) and the navigation's labels (`"nav.…"`), in the UI's
            // code (this file only talks about them).
            let extra = !f.ends_with("i18n.rs");
            for call in ["PageCtx::new(", "PageCtx::anonymous("].into_iter().filter(|_| extra) {
                for (i, _) in text.match_indices(call) {
                    let args = text.get(i..).and_then(|s| s.split(')').next()).unwrap_or_default();
                    if let Some(key) = args.split('"').nth(1) {
                        keys.insert(key.to_string());
                    }
                }
            }
            for (i, _) in text.match_indices("\"nav.").filter(|_| extra) {
                let rest = text.get(i + 1..).unwrap_or_default();
                if let Some(end) = rest.find('"') {
                    keys.insert(rest.get(..end).unwrap_or_default().to_string());
                }
            }
            for (i, _) in text.match_indices("t(\"") {
                // Only calls: `t("` preceded by `.` (page.t) or the start of a word boundary `(` / space.
                let before = text.get(..i).and_then(|s| s.chars().last()).unwrap_or(' ');
                if before != '.' {
                    continue;
                }
                let rest = text.get(i + 3..).unwrap_or_default();
                if let Some(end) = rest.find('"') {
                    keys.insert(rest.get(..end).unwrap_or_default().to_string());
                }
            }
        }
        keys
    }

    #[test]
    fn both_catalogues_hold_the_same_keys_and_every_used_one() {
        let zh = Lang::ZhCn.catalogue();
        let en = Lang::En.catalogue();
        assert!(zh.messages.len() > 100, "zh-CN catalogue parsed: {}", zh.messages.len());
        let zk: BTreeSet<_> = zh.messages.keys().collect();
        let ek: BTreeSet<_> = en.messages.keys().collect();
        assert_eq!(zk.difference(&ek).collect::<Vec<_>>(), Vec::<&&String>::new(), "in zh-CN, not in en");
        assert_eq!(ek.difference(&zk).collect::<Vec<_>>(), Vec::<&&String>::new(), "in en, not in zh-CN");
        let used = used_keys();
        assert!(used.len() > 80, "keys found in templates: {}", used.len());
        let missing: Vec<_> = used.iter().filter(|k| !zh.messages.contains_key(*k)).collect();
        assert!(missing.is_empty(), "used but in neither catalogue: {missing:?}");
        for (k, v) in &zh.messages {
            assert!(!v.trim().is_empty(), "zh-CN {k} is empty");
        }
        for (k, v) in &en.messages {
            assert!(!v.trim().is_empty(), "en {k} is empty");
        }
    }

    #[test]
    fn refusals_have_a_message_in_both_languages() {
        for lang in Lang::ALL {
            let c = lang.catalogue();
            assert!(c.error("no_open_shift") != c.error("some_code_nobody_knows"));
            assert!(c.error("some_code_nobody_knows").contains("some_code_nobody_knows"));
        }
        // Every err.* key is a documented API code (or the UI's own).
        let documented = crate::api::error::documented();
        for k in Lang::En.catalogue().messages.keys() {
            if let Some(code) = k.strip_prefix("err.") {
                assert!(
                    documented.contains_key(code)
                        || ["other", "csrf_expired", "required", "printer_not_configured", "printer_unreachable"]
                            .contains(&code),
                    "err.{code} is not a documented code"
                );
            }
        }
    }
}
