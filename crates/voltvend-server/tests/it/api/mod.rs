//! The JSON API, end to end through the router (authentication, permission and scope checks, handlers,
//! operations, the store), with an operator of every built-in role in each of two buildings.

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode};
use serde_json::Value;
use tempfile::TempDir;
use tower::ServiceExt;
use voltvend_domain::{ApiTokenId, BuiltinRole, ManualClock, Operator, OperatorId};
use voltvend_ops::{ApiTokenRecord, Command, OpenShift, Operation};
use voltvend_server::api::ApiState;
use voltvend_server::api::auth::{AuthState, sha256, token_text};
use voltvend_server::clock::IdGenerator;
use voltvend_server::http::{AppState, Metrics};
use voltvend_store::{OpenOptions, Store};
use voltvend_testkit::estate::{Estate, PASSWORD_HASH};

mod apportion;
mod auth;
mod backups;
mod campaigns;
mod cards;
mod corrections;
mod counter;
mod fees;
mod lifecycle;
mod matrix;
mod operators;
mod payments;
mod pcsc;
mod reports;
mod returns;
mod supply;
mod ui;

/// A server (its router, without a socket) on a fresh SQLite database holding the test estate, with an
/// operator of every built-in role scoped to each of buildings A and B, and an administrator of the whole
/// group ('g'), each with an API token.
pub struct Api {
    pub state: AppState,
    pub store: Arc<dyn Store>,
    pub clock: Arc<ManualClock>,
    pub estate: Estate,
    /// Bearer tokens by (role, building 'a' or 'b', or 'g' for the group's administrator).
    pub tokens: HashMap<(String, char), String>,
    /// Operator ids by (role, building).
    pub operators: HashMap<(String, char), OperatorId>,
    pub dir: TempDir,
}

pub fn start() -> jiff::Timestamp {
    "2026-11-23T08:00:00Z".parse().unwrap()
}

/// A well-formed argon2id hash of a password no test knows (operators who only use API tokens).
const NO_PASSWORD: &str = PASSWORD_HASH;

impl Api {
    pub async fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("api.sqlite").display());
        let clock = Arc::new(ManualClock::new(start()));
        let mut options = OpenOptions::new(&url).creating();
        options.context = Arc::new(Estate::context());
        let store = voltvend_store::open(&options, clock.clone()).await.unwrap();
        store.migrate().await.unwrap();
        let mut estate = Estate::new(7);
        for op in estate.setup.clone() {
            let kind = op.command.kind();
            store.submit(op).await.unwrap_or_else(|e| panic!("{kind}: {e}"));
        }
        let ids = IdGenerator::seeded(clock.clone(), 7);
        let mut tokens = HashMap::new();
        let mut operators = HashMap::new();
        // 'g': an administrator of the whole group, who alone may change what every property shares.
        for (building, scope) in [('a', estate.building_a.id), ('b', estate.building_b.id), ('g', estate.group.id)] {
            for role in BuiltinRole::ALL {
                if building == 'g' && role != BuiltinRole::Administrator {
                    continue;
                }
                let id = OperatorId::from_uuid(ids.uuid());
                let username = format!("{}.{building}", role.as_str().replace('_', "-"));
                let op = Operator::new(id, &username, &username, role.as_str(), scope, NO_PASSWORD);
                store.submit(estate.system(Command::AddOperator(op))).await.unwrap();
                let secret = sha256(format!("secret {username}").as_bytes());
                let token = ApiTokenRecord {
                    id: ApiTokenId::from_uuid(ids.uuid()),
                    operator_id: id,
                    name: format!("token of {username}"),
                    secret_hash: sha256(&secret),
                    created_at: start(),
                    expires_at: None,
                    revoked_at: None,
                    created_by: None,
                };
                let token_id = token.id;
                store.submit(estate.system(Command::CreateApiToken(token))).await.unwrap();
                tokens.insert((role.as_str().to_string(), building), token_text(token_id, &secret));
                operators.insert((role.as_str().to_string(), building), id);
                // Cashiers work through an open shift at their building's counter.
                if role == BuiltinRole::Cashier {
                    let point = if building == 'a' { estate.point_a } else { estate.point_b };
                    let open = OpenShift {
                        shift_id: voltvend_domain::ShiftId::from_uuid(ids.uuid()),
                        vending_point_id: point,
                        operator_id: id,
                        opening_float_minor: 10_000,
                    };
                    let op = Operation::new(
                        estate.next_op(),
                        voltvend_ops::Actor::operator(id, scope, "test"),
                        Command::OpenShift(open),
                    );
                    store.submit(op).await.unwrap();
                }
            }
        }
        let api = ApiState::new(
            IdGenerator::seeded(clock.clone(), 8),
            AuthState::new(
                jiff::SignedDuration::from_mins(30),
                jiff::SignedDuration::from_hours(12),
                false,
                NO_PASSWORD.to_string(),
            ),
            Estate::master_keys(),
            voltvend_receipt::fonts::find_cjk_font(),
        );
        let state = AppState {
            metrics: Arc::new(Metrics::new(store.writer_stats())),
            started_at: start(),
            store: store.clone(),
            clock: clock.clone(),
            api: Arc::new(api),
            escpos_ascii: false,
            printers: Arc::default(),
            // Every counter has a virtual card reader: tests put cards into it.
            cards: Arc::new(voltvend_server::cards::CardReaders::new(
                &[("default".to_string(), "virtual".to_string())].into_iter().collect(),
                1,
            )),
            body_max_bytes: 64 * 1024,
            headend: None,
            // Scheduled backups into the test's own directory, with no senders (tests add their own).
            backups: Some(Arc::new(voltvend_server::backups::Scheduler {
                store: store.clone(),
                source_url: url.clone(),
                policy: voltvend_server::backups::BackupPolicy {
                    dir: dir.path().join("backups"),
                    every: jiff::SignedDuration::from_hours(24),
                    keep_daily: 7,
                    keep_weekly: 4,
                },
                clock: clock.clone(),
                senders: Vec::new(),
                running: tokio::sync::Mutex::new(()),
                alarms: std::sync::atomic::AtomicU64::new(0),
            })),
            // A provider that does not answer is given up on quickly (the test waits for that, not a clock).
            payments: Arc::new(voltvend_server::payments::PaymentConfig::new(
                Some(dir.path().join("payments")),
                "https://vend.example.com".to_string(),
                std::time::Duration::from_millis(500),
            )),
        };
        Self { state, store, clock, estate, tokens, operators, dir }
    }

    pub fn token(&self, role: BuiltinRole, building: char) -> &str {
        &self.tokens[&(role.as_str().to_string(), building)]
    }

    /// One request through the whole stack.
    pub async fn send(&self, req: Req) -> Resp {
        let router = voltvend_server::http::router(self.state.clone(), 64 * 1024);
        let mut builder = Request::builder().method(req.method.clone()).uri(&req.path);
        for (k, v) in &req.headers {
            builder = builder.header(k.as_str(), v.as_str());
        }
        let body = match (&req.body, &req.raw) {
            (Some(v), _) => {
                builder = builder.header("content-type", "application/json");
                Body::from(serde_json::to_vec(v).unwrap())
            }
            (None, Some(raw)) => Body::from(raw.clone()),
            (None, None) => Body::empty(),
        };
        let response = router.oneshot(builder.body(body).unwrap()).await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = axum::body::to_bytes(response.into_body(), 16 << 20).await.unwrap().to_vec();
        Resp { status, headers, bytes }
    }

    /// A request as `role` of `building`.
    pub fn as_(&self, role: BuiltinRole, building: char, method: Method, path: &str) -> Req {
        Req::new(method, path).bearer(self.token(role, building))
    }
}

/// A bearer token of a new operator of `role` scoped to `scope`, for a test that needs a scope the fixture
/// lacks (a property's); its ids derive from the username, which must be new.
pub async fn token_at(api: &Api, role: BuiltinRole, scope: voltvend_domain::PremisesId, username: &str) -> String {
    let derive = |what: &str| {
        uuid::Uuid::from_u128(u128::from_be_bytes(
            sha256(format!("{what} {username}").as_bytes())[..16].try_into().unwrap(),
        ))
    };
    let id = OperatorId::from_uuid(derive("operator"));
    let op = Operator::new(id, username, username, role.as_str(), scope, NO_PASSWORD);
    let system = |n: &str, c| {
        Operation::new(voltvend_domain::OperationId::from_uuid(derive(n)), voltvend_ops::Actor::system("test"), c)
    };
    api.store.submit(system("add", Command::AddOperator(op))).await.unwrap();
    let secret = sha256(format!("secret {username}").as_bytes());
    let token = ApiTokenRecord {
        id: ApiTokenId::from_uuid(derive("token")),
        operator_id: id,
        name: format!("token of {username}"),
        secret_hash: sha256(&secret),
        created_at: start(),
        expires_at: None,
        revoked_at: None,
        created_by: None,
    };
    let token_id = token.id;
    api.store.submit(system("token", Command::CreateApiToken(token))).await.unwrap();
    token_text(token_id, &secret)
}

/// The bytes of the database and of its write-ahead log (where recent commits are until a checkpoint).
pub fn database_files(api: &Api) -> Vec<Vec<u8>> {
    let files: Vec<Vec<u8>> = ["api.sqlite", "api.sqlite-wal"]
        .iter()
        .filter_map(|name| std::fs::read(api.dir.path().join(name)).ok())
        .collect();
    assert!(!files.is_empty(), "no database file");
    files
}

#[derive(Debug, Clone)]
pub struct Req {
    pub method: Method,
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Option<Value>,
    /// A body sent as it is (with the content type set by a header).
    pub raw: Option<Vec<u8>>,
}

impl Req {
    pub fn new(method: Method, path: &str) -> Self {
        Self { method, path: path.to_string(), headers: Vec::new(), body: None, raw: None }
    }

    pub fn header(mut self, k: &str, v: &str) -> Self {
        self.headers.push((k.to_string(), v.to_string()));
        self
    }

    pub fn bearer(self, token: &str) -> Self {
        self.header("authorization", &format!("Bearer {token}"))
    }

    pub fn key(self, key: &str) -> Self {
        self.header("idempotency-key", key)
    }

    /// A fresh idempotency key.
    pub fn fresh_key(self) -> Self {
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.key(&format!("test-key-{n}"))
    }

    pub fn json(mut self, v: Value) -> Self {
        self.body = Some(v);
        self
    }

    pub fn body_raw(mut self, body: &str) -> Self {
        self.raw = Some(body.as_bytes().to_vec());
        self
    }

    pub fn body_bytes(mut self, body: Vec<u8>) -> Self {
        self.raw = Some(body);
        self
    }
}

#[derive(Debug, Clone)]
pub struct Resp {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub bytes: Vec<u8>,
}

impl Resp {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.bytes).unwrap_or(Value::Null)
    }

    pub fn code(&self) -> String {
        self.json()["code"].as_str().unwrap_or("").to_string()
    }

    #[track_caller]
    pub fn ok(&self) -> Value {
        assert!(self.status.is_success(), "{} {}", self.status, String::from_utf8_lossy(&self.bytes));
        self.json()
    }
}
