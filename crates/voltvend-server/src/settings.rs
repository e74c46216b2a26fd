//! Configuration: defaults in code, then a TOML file (`--config`), then `VOLTVEND__SECTION__KEY` environment
//! variables, then command-line flags. Unknown keys and bad values stop start-up with one line saying which.

use std::net::SocketAddr;
use std::path::Path;

use anyhow::{Context, bail};
use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};
use voltvend_store::{OpenOptions, WriterConfig};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct Settings {
    pub database: DatabaseSettings,
    pub ledger: LedgerSettings,
    pub server: ServerSettings,
    pub keys: KeySettings,
    pub receipts: ReceiptSettings,
    pub cards: CardSettings,
    pub headend: HeadEndSettings,
    pub backup: BackupSettings,
    pub payments: PaymentSettings,
    pub fees: FeeSettings,
    pub log: LogSettings,
}

/// Rent, fees and postpaid bills (docs/fees.md, docs/bills.md).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FeeSettings {
    /// Minutes between looks at every fee schedule's months: a month past its due date is dunned, and a
    /// disconnecting cycle's bills still unpaid after its notice are disconnected; 0: only by an operator.
    pub dun_every_minutes: u64,
}

impl Default for FeeSettings {
    fn default() -> Self {
        Self { dun_every_minutes: 60 }
    }
}

/// Online payments (docs/payments.md).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PaymentSettings {
    /// The directory of the channels' credentials files, one `<channel id>.toml` each; empty: online payments
    /// are not taken.
    pub credentials_dir: String,
    /// Seconds between rounds of status queries for open intents (a notification that never came); 0: none.
    pub query_every_seconds: u64,
    /// How long a provider's API may take to answer.
    pub query_timeout_ms: u64,
}

impl Default for PaymentSettings {
    fn default() -> Self {
        Self { credentials_dir: String::new(), query_every_seconds: 60, query_timeout_ms: 10_000 }
    }
}

impl PaymentSettings {
    /// The payments' configuration, with the server's public address (notification URLs start with it).
    pub fn config(&self, public_url: &str) -> crate::payments::PaymentConfig {
        let dir = self.credentials_dir.trim();
        crate::payments::PaymentConfig::new(
            (!dir.is_empty()).then(|| dir.into()),
            public_url.to_string(),
            std::time::Duration::from_millis(self.query_timeout_ms.max(1)),
        )
    }
}

/// Scheduled backups to a second location (see docs/operators/backup-restore.md).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BackupSettings {
    /// The directory backups are written to (another disk); empty: no scheduled backups.
    pub dir: String,
    /// Hours between backups.
    pub every_hours: u32,
    /// The newest backup of each of this many days is kept…
    pub keep_daily: u32,
    /// …and the newest of each of this many weeks.
    pub keep_weekly: u32,
}

impl Default for BackupSettings {
    fn default() -> Self {
        Self { dir: String::new(), every_hours: 24, keep_daily: 7, keep_weekly: 4 }
    }
}

impl BackupSettings {
    /// The policy, when scheduled backups are configured.
    pub fn policy(&self) -> anyhow::Result<Option<crate::backups::BackupPolicy>> {
        if self.dir.trim().is_empty() {
            return Ok(None);
        }
        if !(1..=24 * 31).contains(&self.every_hours) || self.keep_daily + self.keep_weekly == 0 {
            bail!("bad configuration: backup.every_hours must be 1–744 and backup.keep_daily + keep_weekly at least 1");
        }
        Ok(Some(crate::backups::BackupPolicy {
            dir: self.dir.clone().into(),
            every: jiff::SignedDuration::from_hours(i64::from(self.every_hours)),
            keep_daily: self.keep_daily as usize,
            keep_weekly: self.keep_weekly as usize,
        }))
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseSettings {
    pub url: String,
    pub max_connections: u32,
    pub connect_timeout_ms: u64,
    pub auto_migrate: bool,
}

impl Default for DatabaseSettings {
    fn default() -> Self {
        Self {
            url: "sqlite://voltvend-data/voltvend.sqlite".into(),
            max_connections: 8,
            connect_timeout_ms: 5_000,
            auto_migrate: true,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LedgerSettings {
    pub queue_max: usize,
    pub batch_max: usize,
}

impl Default for LedgerSettings {
    fn default() -> Self {
        let w = WriterConfig::default();
        Self { queue_max: w.queue_max, batch_max: w.batch_max }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerSettings {
    pub listen: String,
    pub request_body_max_bytes: usize,
    /// The address people use, e.g. `https://vend.example.com` behind a TLS proxy: session cookies are marked
    /// `Secure` when it is https. Empty: the listen address over plain HTTP.
    pub public_url: String,
    /// A session ends after this long without a request.
    pub session_idle_minutes: u32,
    /// A session ends this long after its login, however active.
    pub session_hours: u32,
}

impl Default for ServerSettings {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8080".into(),
            request_body_max_bytes: 64 * 1024,
            public_url: String::new(),
            session_idle_minutes: 30,
            session_hours: 12,
        }
    }
}

/// Where the master key comes from: a file, or the `VOLTVEND_MASTER_KEY` environment variable — never the
/// database. Earlier master keys are listed while their secrets are re-sealed (`POST /api/v1/keys/rotate`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct KeySettings {
    pub master_key_file: String,
    pub previous_master_key_files: Vec<String>,
}

/// Receipts: the CJK font PDF receipts embed (empty: look in the usual system places).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReceiptSettings {
    pub font_file: String,
    /// The face in a font collection (.ttc); empty: the Simplified Chinese face, found by its name.
    pub font_index: Option<u32>,
    /// ESC/POS receipts: `gb18030` (Chinese printers) or `ascii` (anything else; other characters print `?`).
    pub escpos_encoding: String,
    /// Network thermal printers (raw TCP, usually port 9100) by vending point id, or `default` for every
    /// vending point without its own: the web UI sends a sale's ESC/POS receipt there.
    pub printers: std::collections::BTreeMap<String, String>,
}

impl Default for ReceiptSettings {
    fn default() -> Self {
        Self {
            font_file: String::new(),
            font_index: None,
            escpos_encoding: "gb18030".into(),
            printers: std::collections::BTreeMap::new(),
        }
    }
}

/// IC cards (see docs/cards.md): the card reader at each counter, and the card key set new cards are
/// personalised under.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CardSettings {
    /// Card readers by vending point id, or `default` for every vending point without its own: `pcsc` (the
    /// first PC/SC reader), `pcsc:NAME` (the PC/SC reader of that name, e.g. `pcsc:Virtual PCD 00 00`), or
    /// `virtual` (a card emulated in the server process, for demos and trials: no reader needed).
    pub readers: std::collections::BTreeMap<String, String>,
    /// The card key set (`POST /api/v1/card-keys`) new cards are personalised under.
    pub key_no: u32,
}

impl Default for CardSettings {
    fn default() -> Self {
        Self { readers: std::collections::BTreeMap::new(), key_no: 1 }
    }
}

/// `HOST:PORT` (a name, an IPv4 address or a bracketed IPv6 one, and a port above 0).
pub fn host_port(text: &str) -> Option<(String, u16)> {
    let (host, port) = text.rsplit_once(':')?;
    let port: u16 = port.parse().ok().filter(|p| *p > 0)?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let bad = host.is_empty() || host.chars().any(|c| c.is_whitespace() || c.is_control() || c == '/');
    if bad { None } else { Some((host.to_string(), port)) }
}

/// `headend.mqtt_broker` as host and port; `None` when empty.
pub fn broker(text: &str) -> anyhow::Result<Option<(String, u16)>> {
    if text.is_empty() {
        return Ok(None);
    }
    host_port(text).map(Some).ok_or_else(|| {
        anyhow::anyhow!("bad configuration: headend.mqtt_broker {text:?} is not HOST:PORT, such as 127.0.0.1:1883")
    })
}

/// The head end (master station): how it reads meters and carries out their commands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HeadEndSettings {
    /// Read meters and carry out their commands (meters without a channel are left alone either way).
    pub enabled: bool,
    pub poll_interval_s: u64,
    pub request_timeout_ms: u64,
    /// Meters read at once over all links.
    pub reads_max: usize,
    /// Where 4G meters dial in (`0.0.0.0:9645`); empty: no dial-in listener.
    pub dial_in_listen: String,
    /// DL/T 645 password for relay control (PA P0 P1 P2 as 8 hex digits, PA the level) and operator code.
    pub dlt645_password: String,
    pub dlt645_operator_code: String,
    /// The most a supply carries, in kW: more consumption between two readings is flagged, not billed. 0: no
    /// limit.
    pub max_power_kw: u64,
    /// Read DL/T 645 meters' maximum-demand registers with their energy (one request more per meter and poll).
    pub read_max_demand: bool,
    /// The MQTT broker (`HOST:PORT`) meters on `mqtt:` channels publish their telemetry to; empty: none.
    pub mqtt_broker: String,
    /// Notifications (low-balance alarms, trips, restorations) to the log.
    pub notify_log: bool,
    /// Notifications posted, signed, to this `http://` URL; empty: none.
    pub notify_webhook_url: String,
    /// The file holding the webhook's shared secret (at least 16 bytes); never printed.
    pub notify_webhook_secret_file: String,
    /// Poll groups read on their own schedule; a meter belongs to the first that selects it.
    pub poll_groups: Vec<PollGroupSettings>,
}

/// The longest poll interval: 31 days.
const POLL_INTERVAL_MAX_S: u64 = 31 * 86_400;

/// One poll group: a name, its interval, and one selector — a utility, a premises subtree or a channel prefix.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PollGroupSettings {
    pub name: String,
    pub interval_s: u64,
    /// "electricity" or "water".
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub utility: String,
    /// A premises id: the meters of that premises and everything under it.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub premises: String,
    /// The start of the meters' channel, e.g. "dlt645+tcp://10.0.0.5:8899".
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub channel: String,
}

impl PollGroupSettings {
    /// The head end's poll group, or what is wrong with this one (`i` its place in the list).
    pub fn to_group(&self, i: usize) -> anyhow::Result<voltvend_headend::PollGroup> {
        let at = format!("headend.poll_groups[{i}]");
        if self.name.trim().is_empty() || !(10..=POLL_INTERVAL_MAX_S).contains(&self.interval_s) {
            bail!("bad configuration: {at} needs a name and interval_s of 10–2678400 (31 days)");
        }
        let select = match (self.utility.as_str(), self.premises.as_str(), self.channel.as_str()) {
            (u, "", "") if !u.is_empty() => voltvend_headend::GroupSelect::Utility(
                u.parse()
                    .map_err(|_| anyhow::anyhow!("bad configuration: {at}.utility must be electricity or water"))?,
            ),
            ("", p, "") if !p.is_empty() => voltvend_headend::GroupSelect::Premises(
                p.parse()
                    .map_err(|_| anyhow::anyhow!("bad configuration: {at}.premises {p:?} is not a premises id"))?,
            ),
            ("", "", c) if !c.is_empty() => voltvend_headend::GroupSelect::Channel(c.to_string()),
            _ => bail!("bad configuration: {at} needs exactly one of utility, premises or channel"),
        };
        Ok(voltvend_headend::PollGroup {
            name: self.name.clone(),
            interval: std::time::Duration::from_secs(self.interval_s),
            select,
        })
    }
}

impl Default for HeadEndSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            poll_interval_s: 900,
            request_timeout_ms: 2_000,
            reads_max: 256,
            dial_in_listen: String::new(),
            dlt645_password: "02000000".into(),
            dlt645_operator_code: "00000000".into(),
            max_power_kw: 250,
            read_max_demand: true,
            mqtt_broker: String::new(),
            notify_log: true,
            notify_webhook_url: String::new(),
            notify_webhook_secret_file: String::new(),
            poll_groups: Vec::new(),
        }
    }
}

/// Four bytes from 8 hex digits.
pub fn hex4(field: &str, text: &str) -> anyhow::Result<[u8; 4]> {
    let bad = || anyhow::anyhow!("bad configuration: {field} must be 8 hexadecimal digits");
    if text.len() != 8 {
        return Err(bad());
    }
    let mut out = [0_u8; 4];
    for (i, slot) in out.iter_mut().enumerate() {
        let pair = text.get(i * 2..i * 2 + 2).ok_or_else(bad)?;
        *slot = u8::from_str_radix(pair, 16).map_err(|_| bad())?;
    }
    Ok(out)
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogSettings {
    /// A `tracing` filter such as `info` or `voltvend_store=debug,info`.
    pub level: String,
    /// `text` or `json`.
    pub format: String,
}

impl Default for LogSettings {
    fn default() -> Self {
        Self { level: "info".into(), format: "text".into() }
    }
}

/// Values given as command-line flags, which override everything else.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    pub database_url: Option<String>,
    pub listen: Option<String>,
}

impl Settings {
    /// Loads and validates the layered configuration.
    pub fn load(file: Option<&Path>, overrides: &Overrides) -> anyhow::Result<Self> {
        let mut figment = Figment::from(Serialized::defaults(Settings::default()));
        if let Some(path) = file {
            if path.as_os_str().is_empty() {
                bail!("the config file name is empty (--config or VOLTVEND_CONFIG)");
            }
            if path.is_dir() {
                bail!("config file {} is a directory; name the TOML file in it", path.display());
            }
            if !path.is_file() {
                bail!("config file {} not found", path.display());
            }
            figment = figment.merge(Toml::file_exact(path));
        }
        figment = figment.merge(Env::prefixed("VOLTVEND__").split("__"));
        if let Some(url) = &overrides.database_url {
            figment = figment.merge(Serialized::default("database.url", url));
        }
        if let Some(listen) = &overrides.listen {
            figment = figment.merge(Serialized::default("server.listen", listen));
        }
        let settings: Settings =
            figment.extract().map_err(|e| anyhow::anyhow!("bad configuration: {}", one_line(&e.to_string())))?;
        // Before validation, whose errors may quote a value.
        crate::redact::register_settings(&settings);
        settings.validate()?;
        Ok(settings)
    }

    pub fn validate(&self) -> anyhow::Result<()> {
        self.backup.policy()?;
        voltvend_store::backend_of(&self.database.url).context("bad configuration: database.url")?;
        self.listen_addr()?;
        if !(1..=65_536).contains(&self.ledger.batch_max) {
            bail!("bad configuration: ledger.batch_max must be 1–65536");
        }
        if self.ledger.queue_max < self.ledger.batch_max {
            bail!("bad configuration: ledger.queue_max must be at least ledger.batch_max");
        }
        if self.database.max_connections == 0 {
            bail!("bad configuration: database.max_connections must be at least 1");
        }
        let url = &self.server.public_url;
        if !(url.is_empty() || url.starts_with("https://") || url.starts_with("http://")) {
            bail!("bad configuration: server.public_url must start with https:// or http://");
        }
        if self.server.session_idle_minutes == 0 || self.server.session_hours == 0 {
            bail!("bad configuration: server.session_idle_minutes and server.session_hours must be at least 1");
        }
        if !matches!(self.receipts.escpos_encoding.as_str(), "gb18030" | "ascii") {
            bail!("bad configuration: receipts.escpos_encoding must be \"gb18030\" or \"ascii\"");
        }
        for (point, address) in &self.receipts.printers {
            if point != "default" && uuid::Uuid::parse_str(point).is_err() {
                bail!("bad configuration: receipts.printers keys are vending point ids or \"default\", not {point:?}");
            }
            if host_port(address).is_none() {
                bail!(
                    "bad configuration: receipts.printers.{point} {address:?} is not HOST:PORT, such as 10.0.0.21:9100"
                );
            }
        }
        for (point, reader) in &self.cards.readers {
            if point != "default" && uuid::Uuid::parse_str(point).is_err() {
                bail!("bad configuration: cards.readers keys are vending point ids or \"default\", not {point:?}");
            }
            if crate::cards::ReaderSpec::parse(reader).is_none() {
                bail!(
                    "bad configuration: cards.readers.{point} {reader:?} is not \"pcsc\", \"pcsc:READER NAME\" or \"virtual\""
                );
            }
        }
        if !(1..=255).contains(&self.cards.key_no) {
            bail!("bad configuration: cards.key_no must be 1–255");
        }
        let h = &self.headend;
        if !(10..=POLL_INTERVAL_MAX_S).contains(&h.poll_interval_s)
            || h.request_timeout_ms < 50
            || h.request_timeout_ms > 60_000
            || h.reads_max == 0
        {
            bail!(
                "bad configuration: headend.poll_interval_s must be 10–2678400 (31 days), headend.request_timeout_ms \
                 50–60000 and headend.reads_max at least 1"
            );
        }
        if !h.dial_in_listen.is_empty() && h.dial_in_listen.parse::<SocketAddr>().is_err() {
            bail!(
                "bad configuration: headend.dial_in_listen {:?} is not an address such as 0.0.0.0:9645",
                h.dial_in_listen
            );
        }
        if h.max_power_kw > 1_000_000 {
            bail!("bad configuration: headend.max_power_kw is at most 1000000 (1 GW); 0 checks no limit");
        }
        broker(&h.mqtt_broker)?;
        for (i, g) in h.poll_groups.iter().enumerate() {
            g.to_group(i)?;
        }
        if !h.notify_webhook_url.is_empty() {
            if !h.notify_webhook_url.starts_with("http://") {
                bail!(
                    "bad configuration: headend.notify_webhook_url must be http://HOST[:PORT]/PATH (a TLS proxy in \
                     front of it for the internet)"
                );
            }
            if h.notify_webhook_secret_file.is_empty() {
                bail!("bad configuration: headend.notify_webhook_url needs headend.notify_webhook_secret_file");
            }
        }
        hex4("headend.dlt645_password", &h.dlt645_password)?;
        hex4("headend.dlt645_operator_code", &h.dlt645_operator_code)?;
        if !matches!(self.log.format.as_str(), "text" | "json") {
            bail!("bad configuration: log.format must be \"text\" or \"json\", not {:?}", self.log.format);
        }
        validate_log_level(&self.log.level)?;
        Ok(())
    }

    pub fn listen_addr(&self) -> anyhow::Result<SocketAddr> {
        self.server.listen.parse().map_err(|_| {
            anyhow::anyhow!(
                "bad configuration: server.listen {:?} is not an address such as 127.0.0.1:8080",
                self.server.listen
            )
        })
    }

    pub fn open_options(&self) -> OpenOptions {
        let mut o = OpenOptions::new(&self.database.url);
        o.max_connections = self.database.max_connections;
        o.connect_timeout_ms = self.database.connect_timeout_ms;
        o.writer = WriterConfig { queue_max: self.ledger.queue_max, batch_max: self.ledger.batch_max };
        o
    }
}

/// The level names a `log.level` directive may use.
const LOG_LEVELS: [&str; 6] = ["off", "error", "warn", "info", "debug", "trace"];

/// A `log.level` is a list of directives, each a level (`info`) or a target and a level
/// (`voltvend_store=debug`). tracing would also take a bare word as a target to log at every level, which
/// turns a misspelt level (`infoo`) into silence; that is refused.
fn validate_log_level(level: &str) -> anyhow::Result<()> {
    let bad = |why: String| anyhow::anyhow!("bad configuration: log.level {level:?}: {why}");
    if level.trim().is_empty() {
        return Err(bad(format!("empty; use one of {}", LOG_LEVELS.join(", "))));
    }
    for directive in level.split(',').map(str::trim) {
        let named = match directive.rsplit_once('=') {
            Some((target, named)) if !target.is_empty() => named,
            Some(_) => return Err(bad(format!("{directive:?} names no target before '='"))),
            None => directive,
        };
        if !LOG_LEVELS.contains(&named.to_ascii_lowercase().as_str()) {
            return Err(bad(format!(
                "{named:?} is not a level; use one of {}, or TARGET=LEVEL",
                LOG_LEVELS.join(", ")
            )));
        }
    }
    tracing_subscriber::EnvFilter::try_new(level).map_err(|e| bad(e.to_string()))?;
    Ok(())
}

fn one_line(s: &str) -> String {
    s.lines().map(str::trim).filter(|l| !l.is_empty()).collect::<Vec<_>>().join("; ")
}

/// The documented configuration file with every default, as `voltvend config print-default` prints it.
pub fn default_toml() -> String {
    let d = Settings::default();
    format!(
        r#"# Voltvend configuration. Every key is optional; the values shown are the defaults.
# Precedence (later wins): built-in defaults, this file (voltvend --config FILE), environment variables
# named VOLTVEND__SECTION__KEY (e.g. VOLTVEND__DATABASE__URL), then command-line flags.

[database]
# sqlite://PATH (embedded, zero set-up, the default) or postgres://USER@HOST:PORT/DB for larger deployments.
url = "{url}"
# Connections in the pool.
max_connections = {max_connections}
# How long to wait for a connection before failing (also bounds connecting to an unreachable server).
connect_timeout_ms = {connect_timeout_ms}
# Apply pending schema migrations when the server starts. If false, run `voltvend migrate` first.
auto_migrate = {auto_migrate}

[ledger]
# Ledger writes wait in this queue for the single writer; callers beyond it wait for room.
queue_max = {queue_max}
# Most transfers committed together in one durable transaction (group commit).
batch_max = {batch_max}

[server]
# Address the HTTP server listens on. Use 0.0.0.0:8080 to accept connections from other machines.
listen = "{listen}"
# Largest request body accepted, in bytes.
request_body_max_bytes = {body}
# The address people open, e.g. "https://vend.example.com" behind a TLS proxy: session cookies are then marked
# Secure. Empty: plain HTTP on the listen address (cookies are still HttpOnly and SameSite=Strict).
public_url = ""
# A login session ends after this many minutes without a request, and this many hours after the login.
session_idle_minutes = {idle}
session_hours = {hours}

[keys]
# The master key that seals vending keys and device secrets in the database: a file holding 64 hex digits
# (`voltvend keys generate --out FILE` makes one, readable by its owner only). Instead of a file, the key may
# come from the environment variable VOLTVEND_MASTER_KEY. It never goes into the database or a backup: keep a
# copy apart from the backups. Without it, STS and OpenPAYGO sales are refused.
master_key_file = ""
# While rotating to a new master key: files of the earlier keys, which still open what they sealed until
# POST /api/v1/keys/rotate has sealed everything again under the current one.
previous_master_key_files = []

[receipts]
# The CJK font embedded (as a subset) in PDF receipts. Empty: look for Noto Sans CJK (Debian fonts-noto-cjk),
# WenQuanYi or Droid Sans Fallback in the usual places.
font_file = ""
# font_index = 2   # the face inside a .ttc collection; by default the Simplified Chinese one
# ESC/POS receipts for a network thermal printer: "gb18030" (Chinese printers) or "ascii".
escpos_encoding = "{escpos}"
# Network thermal printers (raw TCP, port 9100) the web UI prints receipts on: by vending point id, or "default".
# [receipts.printers]
# default = "10.0.0.21:9100"
# "0193a0c4-…" = "10.0.0.22:9100"

[cards]
# The card key set new IC cards are personalised under (imported with POST /api/v1/card-keys).
key_no = {card_key_no}
# IC card readers the counter writes and reads cards with: by vending point id, or "default". "pcsc" is the
# first PC/SC reader (pcscd), "pcsc:NAME" the reader of that name, "virtual" a card emulated in the server (demos).
# [cards.readers]
# default = "pcsc"

[headend]
# The head end (master station) reads every remote meter that has a channel and carries out relay commands.
enabled = {he_enabled}
# How often every meter is read, and how long one request waits for a meter's answer.
poll_interval_s = {he_poll}
request_timeout_ms = {he_timeout}
# Meters read at once over all links (each RS-485 bus still carries one request at a time).
reads_max = {he_reads}
# Where 4G meters dial in, e.g. "0.0.0.0:9645". Empty: no dial-in listener.
dial_in_listen = ""
# DL/T 645 relay control: the password (PA P0 P1 P2, 8 hex digits) and operator code the meters expect.
dlt645_password = "{he_password}"
dlt645_operator_code = "{he_operator}"
# The most any supply carries, in kW (a 400 A three-phase supply is about 250 kW). More consumption than this
# between two readings cannot be real: the reading is flagged for review and not billed. 0: no limit.
max_power_kw = {he_max_power}
# Read each DL/T 645 meter's maximum-demand register (最大需量, 0101xxxx) with its energy: one request more per
# meter and poll; each maximum is kept once for the peak-demand report.
read_max_demand = {he_demand}
# The MQTT broker, as HOST:PORT, that gateways publish meter telemetry to (topic PREFIX/METER_NO/reading for
# meters on channel mqtt:PREFIX; the payload is in docs/meters.md). Empty: no MQTT.
mqtt_broker = ""
# Notifications to customers' systems — low-balance alarms (a tariff's [alarms] levels), supply tripped, supply
# restored — go to the log and, if set, to a webhook: an HTTP POST of JSON signed with HMAC-SHA256 (header
# Voltvend-Signature: t=UNIX_SECONDS,v1=HEX over "t.body"; see docs/meters.md). The secret is read from a file.
notify_log = {he_notify_log}
notify_webhook_url = ""
notify_webhook_secret_file = ""
# Poll groups read on their own schedule instead of poll_interval_s; a meter belongs to the first group that
# selects it, by one of utility ("electricity" or "water"), premises (an id: that subtree) or channel (a prefix).
# [[headend.poll_groups]]
# name = "water hourly"
# interval_s = 3600
# utility = "water"

[payments]
# Online payment channels' credentials: one TOML file per channel, named <channel id>.toml, with secrets given as
# env:NAME, file:NAME or literally (docs/payments.md). Empty: online payments are not taken.
credentials_dir = ""
# How often open payment intents whose notification has not come are queried at the provider (0: never), and
# how long a provider's API may take to answer.
query_every_seconds = {pay_every}
query_timeout_ms = {pay_timeout}

[fees]
# How often (minutes) every fee schedule's months are looked at: a month past its due date is dunned (reminders and
# the late fee, once), and a billing cycle that disconnects trips the supplies of its bills still unpaid once the
# notice given when dunned has run (docs/bills.md). 0: only when an operator does it.
dun_every_minutes = {dun_every}

[log]
# A tracing filter: error, warn, info, debug, trace, or per crate such as "voltvend_store=debug,info".
level = "{level}"
# "text" for people, "json" for log collectors.
format = "{format}"
"#,
        pay_every = d.payments.query_every_seconds,
        dun_every = d.fees.dun_every_minutes,
        pay_timeout = d.payments.query_timeout_ms,
        url = d.database.url,
        max_connections = d.database.max_connections,
        connect_timeout_ms = d.database.connect_timeout_ms,
        auto_migrate = d.database.auto_migrate,
        queue_max = d.ledger.queue_max,
        batch_max = d.ledger.batch_max,
        listen = d.server.listen,
        body = d.server.request_body_max_bytes,
        idle = d.server.session_idle_minutes,
        escpos = d.receipts.escpos_encoding,
        card_key_no = d.cards.key_no,
        hours = d.server.session_hours,
        he_enabled = d.headend.enabled,
        he_poll = d.headend.poll_interval_s,
        he_timeout = d.headend.request_timeout_ms,
        he_reads = d.headend.reads_max,
        he_password = d.headend.dlt645_password,
        he_operator = d.headend.dlt645_operator_code,
        he_max_power = d.headend.max_power_kw,
        he_demand = d.headend.read_max_demand,
        he_notify_log = d.headend.notify_log,
        level = d.log.level,
        format = d.log.format,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn printed_default_parses_back_to_the_defaults() {
        let parsed: Settings = toml::from_str(&default_toml()).unwrap();
        assert_eq!(parsed, Settings::default());
        parsed.validate().unwrap();
    }

    #[test]
    fn poll_groups_are_read_and_refused_by_place() {
        let with = |groups: &str| -> anyhow::Result<Vec<voltvend_headend::PollGroup>> {
            let s: Settings = toml::from_str(&format!("[headend]\n{groups}"))?;
            s.validate()?;
            s.headend.poll_groups.iter().enumerate().map(|(i, g)| g.to_group(i)).collect()
        };
        let ok = with(
            "[[headend.poll_groups]]\nname = \"water\"\ninterval_s = 3600\nutility = \"water\"\n\
             [[headend.poll_groups]]\nname = \"gw\"\ninterval_s = 300\nchannel = \"dlt645+tcp://10.0.0.5:8899\"\n",
        )
        .unwrap();
        assert_eq!(ok[0].select, voltvend_headend::GroupSelect::Utility(voltvend_domain::Utility::Water));
        assert_eq!(ok[1].interval, std::time::Duration::from_secs(300));
        for (bad, says) in [
            ("name = \"x\"\ninterval_s = 5\nutility = \"water\"\n", "poll_groups[0] needs a name and interval_s"),
            ("name = \"x\"\ninterval_s = 60\n", "exactly one of utility, premises or channel"),
            ("name = \"x\"\ninterval_s = 60\nutility = \"gas\"\n", "poll_groups[0].utility"),
            ("name = \"x\"\ninterval_s = 60\npremises = \"block A\"\n", "poll_groups[0].premises"),
            ("name = \"x\"\ninterval_s = 60\nutility = \"water\"\nchannel = \"mqtt:x\"\n", "exactly one"),
        ] {
            let e = with(&format!("[[headend.poll_groups]]\n{bad}")).unwrap_err().to_string();
            assert!(e.contains(says), "{bad}: {e}");
        }
    }

    #[test]
    #[allow(clippy::result_large_err)] // figment's Jail API returns its own large error type.
    fn layering_and_errors() {
        figment::Jail::expect_with(|jail| {
            jail.create_file("v.toml", "[server]\nlisten = \"127.0.0.1:9000\"\n[database]\nurl = \"sqlite://a.db\"")?;
            jail.set_env("VOLTVEND__DATABASE__URL", "sqlite://b.db");
            let s = Settings::load(Some(Path::new("v.toml")), &Overrides::default()).unwrap();
            assert_eq!(s.server.listen, "127.0.0.1:9000", "file over defaults");
            assert_eq!(s.database.url, "sqlite://b.db", "env over file");
            let flags = Overrides { database_url: Some("sqlite://c.db".into()), listen: None };
            assert_eq!(Settings::load(Some(Path::new("v.toml")), &flags).unwrap().database.url, "sqlite://c.db");
            jail.clear_env();

            jail.create_file("typo.toml", "[server]\nlisen = \"x\"")?;
            let e = Settings::load(Some(Path::new("typo.toml")), &Overrides::default()).unwrap_err().to_string();
            assert!(e.contains("lisen"), "{e}");
            jail.create_file("garbage.toml", "\u{0}\u{1}not toml [[[")?;
            let e = Settings::load(Some(Path::new("garbage.toml")), &Overrides::default()).unwrap_err().to_string();
            assert!(e.starts_with("bad configuration") && !e.contains('\n'), "{e}");
            jail.create_file("addr.toml", "[server]\nlisten = \"localhost\"")?;
            assert!(Settings::load(Some(Path::new("addr.toml")), &Overrides::default()).is_err());
            jail.create_file("db.toml", "[database]\nurl = \"mysql://x\"")?;
            assert!(Settings::load(Some(Path::new("db.toml")), &Overrides::default()).is_err());
            assert!(Settings::load(Some(Path::new("missing.toml")), &Overrides::default()).is_err());
            for (level, ok) in [
                ("info", true),
                ("voltvend_store=debug,info", true),
                ("WARN", true),
                ("infoo", false),
                ("voltvend_store", false),
                ("voltvend_store=loud", false),
                ("", false),
            ] {
                jail.set_env("VOLTVEND__LOG__LEVEL", level);
                let r = Settings::load(None, &Overrides::default());
                assert_eq!(r.is_ok(), ok, "{level:?}: {r:?}");
                if let Err(e) = r {
                    assert!(e.to_string().contains("log.level"), "{e}");
                }
            }
            jail.clear_env();
            Ok(())
        });
    }
}
