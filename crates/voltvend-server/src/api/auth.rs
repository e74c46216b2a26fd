//! Who is asking: sessions (a cookie holding a random token; HttpOnly, SameSite=Strict, Secure behind https),
//! API tokens (`Authorization: Bearer vvt_…`), CSRF protection for cookie-authenticated writes, the slow-down
//! of failed logins, and the password policy.
//!
//! Only hashes of session tokens and API-token secrets are stored. The CSRF token of a session is derived from
//! its token (SHA-256 with a label), so a page that knows it cannot learn the session token, and a site that
//! cannot read the cookie cannot make it. Sessions and operators are cached in memory; every operation that
//! changes who may log in empties the cache (this process is the database's only server: the instance lock).

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use axum::http::{HeaderMap, Method, header};
use jiff::{SignedDuration, Timestamp};
use sha2::{Digest, Sha256};
use voltvend_domain::{ApiTokenId, BuiltinRole, Operator, OperatorId, Permission, PremisesId};
use voltvend_ops::Actor;
use voltvend_store::Store;

use super::error::ApiError;

pub const SESSION_COOKIE: &str = "vv_session";
pub const CSRF_HEADER: &str = "x-csrf-token";
const TOKEN_PREFIX: &str = "vvt_";

/// How a request was authenticated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Via {
    Session { id_hash: [u8; 32], csrf: String },
    Token { id: ApiTokenId },
}

/// The operator a request acts for, with what they may do.
#[derive(Debug, Clone)]
pub struct Principal {
    pub operator: Operator,
    pub permissions: Arc<BTreeSet<Permission>>,
    pub via: Via,
}

impl Principal {
    pub fn can(&self, p: Permission) -> bool {
        self.permissions.contains(&p)
    }

    pub fn id(&self) -> OperatorId {
        self.operator.id
    }

    pub fn scope(&self) -> PremisesId {
        self.operator.scope
    }

    pub fn actor(&self, source: &str) -> Actor {
        Actor::operator(self.operator.id, self.operator.scope, source)
    }
}

/// Hex of bytes.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len()).step_by(2).map(|i| text.get(i..i + 2).and_then(|p| u8::from_str_radix(p, 16).ok())).collect()
}

pub fn sha256(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

/// Equal in constant time (for secrets of equal, public length).
pub fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0_u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The CSRF token of a session token.
pub fn csrf_of(session_token: &str) -> String {
    let mut h = Sha256::new();
    h.update(b"voltvend csrf\0");
    h.update(session_token.as_bytes());
    hex(&h.finalize())
}

/// An API token's text: its id and its secret.
pub fn token_text(id: ApiTokenId, secret: &[u8; 32]) -> String {
    format!("{TOKEN_PREFIX}{}_{}", id.as_uuid().simple(), hex(secret))
}

fn parse_token(text: &str) -> Option<(ApiTokenId, [u8; 32])> {
    let rest = text.strip_prefix(TOKEN_PREFIX)?;
    let (id, secret) = rest.split_once('_')?;
    let id = uuid::Uuid::parse_str(id).ok()?;
    let secret: [u8; 32] = unhex(secret)?.try_into().ok()?;
    Some((ApiTokenId::from_uuid(id), secret))
}

/// The session cookie's value, if the request carries one.
pub fn session_cookie(headers: &HeaderMap) -> Option<String> {
    for value in headers.get_all(header::COOKIE) {
        let Ok(text) = value.to_str() else { continue };
        for pair in text.split(';') {
            if let Some((name, v)) = pair.trim().split_once('=')
                && name.trim() == SESSION_COOKIE
            {
                return Some(v.trim().to_string());
            }
        }
    }
    None
}

/// The `Set-Cookie` value of a new session (or, with `max_age_s` 0, of its end).
pub fn set_cookie(token: &str, max_age_s: i64, secure: bool) -> String {
    format!(
        "{SESSION_COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age_s}{}",
        if secure { "; Secure" } else { "" }
    )
}

#[derive(Debug, Clone)]
struct CachedSession {
    operator_id: OperatorId,
    created_at: Timestamp,
    expires_at: Timestamp,
    last_seen: Timestamp,
}

#[derive(Debug, Clone)]
struct CachedOperator {
    operator: Operator,
    permissions: Arc<BTreeSet<Permission>>,
}

/// Entries the caches and the login throttle hold at most; past that they start again.
const CACHE_ENTRIES_MAX: usize = 100_000;

/// Failed logins by address and by username: after [`THROTTLE_FREE_FAILURES`], each attempt must wait twice as
/// long as the one before (up to [`THROTTLE_WAIT_MAX_S`]). The lockout of the operator itself (five failures in
/// a row) is a database record; this is the in-memory slow-down in front of it.
pub const THROTTLE_FREE_FAILURES: u32 = 2;
pub const THROTTLE_WAIT_MAX_S: i64 = 60;

#[derive(Debug, Default)]
struct Throttle {
    entries: HashMap<String, (u32, Timestamp)>,
}

impl Throttle {
    /// Seconds to wait before `keys` may try again, if any.
    fn wait(&self, keys: &[String], now: Timestamp) -> Option<u64> {
        keys.iter()
            .filter_map(|k| self.entries.get(k))
            .filter(|(_, next)| *next > now)
            .map(|(_, next)| u64::try_from((*next - now).get_seconds().max(1)).unwrap_or(1))
            .max()
    }

    fn failed(&mut self, keys: &[String], now: Timestamp) {
        if self.entries.len() >= CACHE_ENTRIES_MAX {
            self.entries.retain(|_, (_, next)| *next > now);
            if self.entries.len() >= CACHE_ENTRIES_MAX {
                self.entries.clear();
            }
        }
        for k in keys {
            let e = self.entries.entry(k.clone()).or_insert((0, now));
            e.0 = e.0.saturating_add(1);
            if e.0 > THROTTLE_FREE_FAILURES {
                let exponent = (e.0 - THROTTLE_FREE_FAILURES - 1).min(6);
                let wait = (1_i64 << exponent).min(THROTTLE_WAIT_MAX_S);
                e.1 = now + SignedDuration::from_secs(wait);
            }
        }
    }

    fn succeeded(&mut self, keys: &[String]) {
        for k in keys {
            self.entries.remove(k);
        }
    }
}

/// Authentication state shared by the handlers.
#[derive(Debug)]
pub struct AuthState {
    sessions: Mutex<HashMap<[u8; 32], CachedSession>>,
    operators: Mutex<HashMap<OperatorId, CachedOperator>>,
    tokens: Mutex<HashMap<ApiTokenId, voltvend_ops::ApiTokenRecord>>,
    throttle: Mutex<Throttle>,
    /// Bumped whenever cached access is forgotten: an entry read from the store before a bump is not cached
    /// after it (it may be the state the bump was about).
    generation: AtomicU64,
    pub idle: SignedDuration,
    pub lifetime: SignedDuration,
    /// Mark cookies `Secure` (the server is reached over https).
    pub secure: bool,
    /// The hash a login of an unknown username is checked against, so it costs what a known one does.
    pub dummy_hash: String,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl AuthState {
    pub fn new(idle: SignedDuration, lifetime: SignedDuration, secure: bool, dummy_hash: String) -> Self {
        Self {
            sessions: Mutex::default(),
            operators: Mutex::default(),
            tokens: Mutex::default(),
            throttle: Mutex::default(),
            generation: AtomicU64::new(0),
            idle,
            lifetime,
            secure,
            dummy_hash,
        }
    }

    /// Forgets every cached operator and token (after an operation that changes any of them). Sessions stay:
    /// what ends them (logging out everywhere, a new password, deactivation) is on the operator, and a session
    /// keeps its last-seen time, which starts its idle timeout.
    pub fn forget(&self) {
        self.generation.fetch_add(1, Ordering::SeqCst);
        lock(&self.operators).clear();
        lock(&self.tokens).clear();
    }

    /// Forgets one session (it was logged out).
    pub fn forget_session(&self, id_hash: &[u8; 32]) {
        self.generation.fetch_add(1, Ordering::SeqCst);
        lock(&self.sessions).remove(id_hash);
    }

    fn generation(&self) -> u64 {
        self.generation.load(Ordering::SeqCst)
    }

    pub fn login_wait(&self, keys: &[String], now: Timestamp) -> Option<u64> {
        lock(&self.throttle).wait(keys, now)
    }

    pub fn login_failed(&self, keys: &[String], now: Timestamp) {
        lock(&self.throttle).failed(keys, now);
    }

    pub fn login_succeeded(&self, keys: &[String]) {
        lock(&self.throttle).succeeded(keys);
    }

    /// The operator with their permissions, from the cache or the store; `None` if unknown.
    async fn operator(&self, store: &dyn Store, id: OperatorId) -> Result<Option<CachedOperator>, ApiError> {
        if let Some(o) = lock(&self.operators).get(&id).cloned() {
            return Ok(Some(o));
        }
        let generation = self.generation();
        let Some(operator) = store.operator(id).await? else { return Ok(None) };
        let permissions = match operator.role.parse::<BuiltinRole>() {
            Ok(builtin) => builtin.permissions(),
            // A custom role that was never created (or a damaged row) grants nothing.
            Err(_) => store.role(&operator.role).await?.map(|r| r.permissions).unwrap_or_default(),
        };
        let entry = CachedOperator { operator, permissions: Arc::new(permissions) };
        let mut cache = lock(&self.operators);
        if self.generation() == generation {
            if cache.len() >= CACHE_ENTRIES_MAX {
                cache.clear();
            }
            cache.insert(id, entry.clone());
        }
        Ok(Some(entry))
    }

    /// Who the request is from: an API token, a session cookie, or nobody (`Ok(None)`). A credential that is
    /// present but not valid is `unauthenticated`.
    pub async fn authenticate(
        &self,
        store: &dyn Store,
        headers: &HeaderMap,
        now: Timestamp,
    ) -> Result<Option<Principal>, ApiError> {
        let unauthenticated = || ApiError::new("unauthenticated", "log in again: the session or token is not valid");
        if let Some(value) = headers.get(header::AUTHORIZATION) {
            let text = value.to_str().unwrap_or_default();
            let bearer = text.strip_prefix("Bearer ").ok_or_else(unauthenticated)?;
            let (id, secret) = parse_token(bearer.trim()).ok_or_else(unauthenticated)?;
            let cached = lock(&self.tokens).get(&id).cloned();
            let token = match cached {
                Some(t) => t,
                None => {
                    let generation = self.generation();
                    let t = store.api_token(id).await?.ok_or_else(unauthenticated)?;
                    let mut tokens = lock(&self.tokens);
                    if self.generation() == generation {
                        if tokens.len() >= CACHE_ENTRIES_MAX {
                            tokens.clear();
                        }
                        tokens.insert(id, t.clone());
                    }
                    t
                }
            };
            let live = token.revoked_at.is_none() && token.expires_at.is_none_or(|e| e > now);
            if !live || !same(&sha256(&secret), &token.secret_hash) {
                return Err(unauthenticated());
            }
            let o = self.operator(store, token.operator_id).await?.ok_or_else(unauthenticated)?;
            if !o.operator.active {
                return Err(unauthenticated());
            }
            return Ok(Some(Principal { operator: o.operator, permissions: o.permissions, via: Via::Token { id } }));
        }
        let Some(token) = session_cookie(headers) else { return Ok(None) };
        let id_hash = sha256(token.as_bytes());
        let generation = self.generation();
        let cached = lock(&self.sessions).get(&id_hash).cloned();
        let from_cache = cached.is_some();
        let mut session = match cached {
            Some(s) => s,
            None => {
                let s = store.session(id_hash).await?.ok_or_else(unauthenticated)?;
                if s.revoked_at.is_some() {
                    return Err(unauthenticated());
                }
                CachedSession {
                    operator_id: s.operator_id,
                    created_at: s.created_at,
                    expires_at: s.expires_at,
                    last_seen: now,
                }
            }
        };
        let o = self.operator(store, session.operator_id).await?.ok_or_else(unauthenticated)?;
        let idle = now.duration_since(session.last_seen) > self.idle;
        // Sessions that existed when the operator logged out everywhere (or changed password) have ended.
        let ended = o.operator.sessions_not_before.is_some_and(|t| session.created_at <= t);
        if session.expires_at <= now || idle || ended || !o.operator.active {
            lock(&self.sessions).remove(&id_hash);
            return Err(unauthenticated());
        }
        session.last_seen = now;
        {
            // A cached session is touched only if it is still cached (a logout may have removed it meanwhile);
            // one read from the store is cached only if nothing was forgotten since the read.
            let mut sessions = lock(&self.sessions);
            if from_cache {
                if let Some(s) = sessions.get_mut(&id_hash) {
                    s.last_seen = s.last_seen.max(now);
                }
            } else if self.generation() == generation {
                if sessions.len() >= CACHE_ENTRIES_MAX {
                    sessions.clear();
                }
                sessions.insert(id_hash, session);
            }
        }
        Ok(Some(Principal {
            operator: o.operator,
            permissions: o.permissions,
            via: Via::Session { id_hash, csrf: csrf_of(&token) },
        }))
    }
}

/// Writes with a session cookie must carry the session's CSRF token (a form on another site cannot read it).
pub fn check_csrf(principal: &Principal, method: &Method, headers: &HeaderMap) -> Result<(), ApiError> {
    let safe = matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS);
    match &principal.via {
        Via::Session { csrf, .. } if !safe => {
            let given = headers.get(CSRF_HEADER).and_then(|v| v.to_str().ok()).unwrap_or_default();
            if same(given.as_bytes(), csrf.as_bytes()) {
                Ok(())
            } else {
                Err(ApiError::new("csrf_failed", "this write needs the session's X-CSRF-Token header"))
            }
        }
        _ => Ok(()),
    }
}

/// Passwords people choose first; refused whatever their length (NIST SP 800-63B §5.1.1.2: compare against
/// known-compromised values). Compared in lower case.
const COMMON: &[&str] = &[
    "1234567890",
    "12345678910",
    "123456789a",
    "1234567890a",
    "0123456789",
    "1111111111",
    "0000000000",
    "1q2w3e4r5t",
    "1q2w3e4r5t6y",
    "qwertyuiop",
    "qwertyuiop123",
    "qwerty12345",
    "qwerty123456",
    "asdfghjkl1",
    "password12",
    "password123",
    "password1234",
    "passw0rd123",
    "p@ssw0rd123",
    "p@ssword123",
    "iloveyou12",
    "letmein123",
    "welcome123",
    "welcome1234",
    "admin12345",
    "admin123456",
    "administrator",
    "administrator1",
    "changeme123",
    "abc1234567",
    "abcdefghij",
    "abcd123456",
    "a123456789",
    "aa12345678",
    "woaini1314",
    "woaini520",
    "5201314520",
    "1314520520",
    "zxcvbnm123",
    "zxcvbnmasd",
    "qazwsxedc123",
    "1qaz2wsx3edc",
    "voltvend123",
    "voltvend2026",
    "cashier123",
    "cashier1234",
    "manager123",
    "manager1234",
    "football123",
    "baseball123",
    "sunshine123",
    "princess123",
    "dragon12345",
    "monkey12345",
    "shadow12345",
    "master12345",
    "superman123",
    "trustno1234",
    "starwars123",
    "computer123",
    "internet123",
    "whatever123",
    "1234qwer!@#$",
];

/// Checks a new password: 10–256 characters, not the username in it, not one character repeated, not a common
/// password.
pub fn check_password(password: &str, username: &str) -> Result<(), ApiError> {
    let field = |m: &str| ApiError::field("password", "password_policy", m);
    let n = password.chars().count();
    if !(crate::passwords::PASSWORD_LEN_MIN..=crate::passwords::PASSWORD_LEN_MAX).contains(&n) {
        return Err(field("a password has 10–256 characters"));
    }
    let lower = password.to_lowercase();
    if !username.is_empty() && lower.contains(&username.to_lowercase()) {
        return Err(field("a password must not contain the username"));
    }
    let mut chars = password.chars();
    let first = chars.next();
    if chars.all(|c| Some(c) == first) {
        return Err(field("a password must not be one character repeated"));
    }
    if COMMON.contains(&lower.as_str()) {
        return Err(field("that password is too common"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_cookies_and_csrf() {
        let id = ApiTokenId::from_uuid(uuid::Uuid::from_u128(7));
        let text = token_text(id, &[0xAB; 32]);
        assert_eq!(parse_token(&text), Some((id, [0xAB; 32])));
        assert_eq!(parse_token("vvt_nonsense"), None);
        assert_eq!(parse_token(&text.replace("vvt_", "xxx_")), None);
        let mut headers = HeaderMap::new();
        headers.insert(header::COOKIE, "a=1; vv_session=abc ; b=2".parse().unwrap());
        assert_eq!(session_cookie(&headers).as_deref(), Some("abc"));
        assert_ne!(csrf_of("abc"), csrf_of("abd"));
        assert!(!csrf_of("abc").contains("abc"));
        let cookie = set_cookie("t", 60, true);
        assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict") && cookie.ends_with("Secure"));
        assert!(!set_cookie("t", 60, false).contains("Secure"));
    }

    #[test]
    fn the_throttle_doubles_and_forgets_on_success() {
        let t0: Timestamp = "2026-12-01T00:00:00Z".parse().unwrap();
        let mut t = Throttle::default();
        let keys = vec!["user:x".to_string()];
        for _ in 0..THROTTLE_FREE_FAILURES {
            t.failed(&keys, t0);
            assert_eq!(t.wait(&keys, t0), None, "the first failures are free");
        }
        t.failed(&keys, t0);
        assert_eq!(t.wait(&keys, t0), Some(1));
        t.failed(&keys, t0);
        assert_eq!(t.wait(&keys, t0), Some(2));
        for _ in 0..20 {
            t.failed(&keys, t0);
        }
        assert_eq!(t.wait(&keys, t0), Some(60), "capped");
        assert_eq!(t.wait(&keys, t0 + SignedDuration::from_secs(61)), None);
        t.succeeded(&keys);
        t.failed(&keys, t0);
        assert_eq!(t.wait(&keys, t0), None);
    }

    #[test]
    fn password_policy() {
        assert!(check_password("correct horse battery", "cashier1").is_ok());
        for bad in ["short", "aaaaaaaaaaaa", "Password123", "my-cashier1-pass"] {
            assert!(check_password(bad, "cashier1").is_err(), "{bad}");
        }
    }
}
