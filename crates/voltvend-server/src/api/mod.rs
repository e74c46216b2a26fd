//! The JSON API, `/api/v1/…`: one table of endpoints ([`endpoints`]) from which the router, the permission
//! checks and the OpenAPI document are all built, so that none of them can miss an endpoint.
//!
//! Every request is authenticated (session cookie or API token) before its handler runs, and must hold the
//! endpoint's permission (403 `forbidden` otherwise). What lies outside the operator's premises scope is
//! answered as if it did not exist (404 `not_found`). Every state-changing request carries an
//! `Idempotency-Key`; the operation it becomes is committed once, and a retry is answered with the saved
//! response byte for byte (see [`write`]).

use std::collections::HashMap;
use std::sync::Mutex;

use axum::Router;
use axum::extract::{Request, State};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, delete, get, post, put};
use jiff::Timestamp;
use schemars::SchemaGenerator;
use voltvend_domain::{Permission, Premises, PremisesId};
use voltvend_ops::MasterKeys;

use crate::clock::IdGenerator;
use crate::http::AppState;

pub mod auth;
pub mod error;
pub mod extract;
pub(crate) mod handlers;
pub mod openapi;
pub mod printed;
pub mod receipts;
pub mod views;
pub mod write;

use auth::{AuthState, Principal};
use error::{ApiError, ApiResult};

/// State the API adds to the server's.
#[derive(Debug)]
pub struct ApiState {
    pub ids: IdGenerator,
    pub auth: AuthState,
    /// The master keys, to seal what operators import (vending keys, device secrets).
    pub secrets: MasterKeys,
    /// The CJK font PDF receipts embed, if one was found.
    pub font: Option<voltvend_receipt::FontData>,
    /// Premises by id (the tree only grows and a node never moves, so entries never go stale).
    premises: Mutex<HashMap<PremisesId, Premises>>,
    /// Bounds concurrent password hashing (argon2id is deliberately expensive).
    pub hashing: tokio::sync::Semaphore,
}

impl ApiState {
    pub fn new(
        ids: IdGenerator,
        auth: AuthState,
        secrets: MasterKeys,
        font: Option<voltvend_receipt::FontData>,
    ) -> Self {
        Self { ids, auth, secrets, font, premises: Mutex::default(), hashing: tokio::sync::Semaphore::new(2) }
    }
}

/// Premises cached in memory at most; past it the cache starts again.
const PREMISES_CACHE_MAX: usize = 100_000;

impl AppState {
    pub fn now(&self) -> Timestamp {
        self.clock.now()
    }

    /// A premises by id, from the cache or the store.
    pub async fn premises(&self, id: PremisesId) -> ApiResult<Premises> {
        if let Some(p) = self.api.premises.lock().unwrap_or_else(|e| e.into_inner()).get(&id).cloned() {
            return Ok(p);
        }
        let p = self.store.premises(id).await?;
        let mut cache = self.api.premises.lock().unwrap_or_else(|e| e.into_inner());
        if cache.len() >= PREMISES_CACHE_MAX {
            cache.clear();
        }
        cache.insert(id, p.clone());
        Ok(p)
    }

    /// Whether `premises` lies within the operator's scope; if not, `what` is answered as not found.
    /// Refuses unless the operator's scope is a whole group (a root of the premises tree). What is shared by
    /// every property — tariffs, vending keys, custom roles, the master key's rotation — is changed only there.
    pub async fn require_root(&self, p: &Principal, what: &str) -> ApiResult<()> {
        if self.premises(p.scope()).await?.parent.is_none() {
            return Ok(());
        }
        Err(ApiError::new(
            "scope_too_narrow",
            format!("{what} is shared by every property: only an operator scoped to the whole group may change it"),
        ))
    }

    pub async fn visible(&self, p: &Principal, premises: PremisesId, what: &str) -> ApiResult<()> {
        let node = self.premises(premises).await.map_err(|_| ApiError::not_found(what))?;
        if node.path.contains(&p.scope()) { Ok(()) } else { Err(ApiError::not_found(what)) }
    }
}

/// Who may call an endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone (logging in, the OpenAPI document).
    Public,
    /// Any operator who is logged in (their own session, password and tokens).
    LoggedIn,
    /// Operators whose role grants the permission.
    Needs(Permission),
}

/// What an endpoint answers on success.
#[derive(Debug, Clone, Copy)]
pub enum Ok200 {
    Json(fn(&mut SchemaGenerator) -> schemars::Schema),
    /// No body (204).
    Empty,
    /// A receipt: HTML, ESC/POS bytes or PDF.
    Document,
}

/// One endpoint: everything the router, the authorization layer, the OpenAPI document and the permission
/// test need to know.
#[derive(Debug, Clone)]
pub struct Endpoint {
    pub method: &'static str,
    pub path: &'static str,
    pub access: Access,
    pub summary: &'static str,
    /// A state change: needs an `Idempotency-Key` (login, logout and password changes excepted).
    pub keyed: bool,
    pub query: Option<fn(&mut SchemaGenerator) -> schemars::Schema>,
    pub body: Option<fn(&mut SchemaGenerator) -> schemars::Schema>,
    pub ok_status: u16,
    pub ok: Ok200,
    /// The error statuses it may answer besides the ones every endpoint may (400, 401, 403, 413, 415, 500, 503).
    pub errors: &'static [u16],
}

fn schema<T: schemars::JsonSchema>(g: &mut SchemaGenerator) -> schemars::Schema {
    g.subschema_for::<T>()
}

macro_rules! endpoints {
    ($( $method:ident $path:literal => $handler:path {
        access: $access:expr, summary: $summary:literal, keyed: $keyed:literal, $(large_body: $large:literal,)?
        query: $query:tt, body: $body:tt, ok: $status:literal $ok:tt, errors: [$($e:literal),*] $(,)?
    } )*) => {
        /// Every endpoint of the API.
        pub fn endpoints() -> Vec<Endpoint> {
            vec![$(Endpoint {
                method: stringify!($method),
                path: $path,
                access: $access,
                summary: $summary,
                keyed: $keyed,
                query: endpoints!(@schema $query),
                body: endpoints!(@schema $body),
                ok_status: $status,
                ok: endpoints!(@ok $ok),
                errors: &[$($e),*],
            }),*]
        }

        fn routes(state: &AppState) -> Router<AppState> {
            let mut router = Router::new();
            $(
                let large = endpoints!(@large $($large)?);
                let limit = if large { LARGE_BODY_MAX_BYTES.max(state.body_max_bytes) } else { state.body_max_bytes };
                let layer = middleware::from_fn_with_state((state.clone(), $access, $keyed, limit), authorize);
                let route = endpoints!(@route $method $handler).route_layer(layer);
                // The route's own limit for its extractors, over the router's (which applies to every other route).
                let route = if large { route.layer(axum::extract::DefaultBodyLimit::max(limit)) } else { route };
                router = router.route($path, route);
            )*
            router
        }
    };
    (@large) => { false };
    (@large $large:literal) => { $large };
    (@schema -) => { None };
    (@schema [$t:ty]) => { Some(schema::<$t>) };
    (@ok -) => { Ok200::Empty };
    (@ok document) => { Ok200::Document };
    (@ok [$t:ty]) => { Ok200::Json(schema::<$t>) };
    (@route GET $h:path) => { get($h) as MethodRouter<AppState> };
    (@route POST $h:path) => { post($h) as MethodRouter<AppState> };
    (@route DELETE $h:path) => { delete($h) as MethodRouter<AppState> };
    (@route PUT $h:path) => { put($h) as MethodRouter<AppState> };
}

use Permission as P;
use handlers::{
    admin, apportion, campaigns, cards, corrections, counter, customers, fees, lifecycle, payments, places, reports,
    session, supply,
};
use views::*;

endpoints! {
    POST "/api/v1/session" => session::login {
        access: Access::Public, summary: "Log in: a session cookie and the CSRF token for writes", keyed: false,
        query: -, body: [LoginRequest], ok: 200 [SessionView], errors: [429],
    }
    GET "/api/v1/session" => session::current {
        access: Access::LoggedIn, summary: "Who is logged in, with their permissions", keyed: false,
        query: -, body: -, ok: 200 [SessionView], errors: [],
    }
    DELETE "/api/v1/session" => session::logout {
        access: Access::LoggedIn, summary: "Log out (this session)", keyed: false,
        query: -, body: -, ok: 204 -, errors: [],
    }
    POST "/api/v1/session/logout-everywhere" => session::logout_everywhere {
        access: Access::LoggedIn, summary: "End every session of the operator", keyed: false,
        query: -, body: -, ok: 204 -, errors: [],
    }
    POST "/api/v1/session/password" => session::change_password {
        access: Access::LoggedIn, summary: "Change one's password (every session ends)", keyed: false,
        query: -, body: [ChangePasswordRequest], ok: 204 -, errors: [422, 429],
    }
    PUT "/api/v1/session/language" => session::set_language {
        access: Access::LoggedIn, summary: "Choose the language of one's pages in the web UI (zh-CN or en)", keyed: false,
        query: -, body: [LanguageRequest], ok: 204 -, errors: [422],
    }
    GET "/api/v1/api-tokens" => session::list_tokens {
        access: Access::LoggedIn, summary: "API tokens: one's own, or with operators.read those of operators in scope", keyed: false,
        query: [ApiTokenQuery], body: -, ok: 200 [Page<ApiTokenView>], errors: [404],
    }
    POST "/api/v1/api-tokens" => session::create_token {
        access: Access::Needs(P::ApiTokensManage), summary: "Create an API token (its secret is shown once)", keyed: true,
        query: -, body: [CreateApiTokenRequest], ok: 201 [CreatedApiToken], errors: [404, 409, 422],
    }
    DELETE "/api/v1/api-tokens/{id}" => session::revoke_token {
        access: Access::LoggedIn, summary: "Revoke an API token (one's own, or with api_tokens.manage one in scope)", keyed: true,
        query: -, body: -, ok: 204 -, errors: [404, 409],
    }
    GET "/api/v1/operators" => admin::list_operators {
        access: Access::Needs(P::OperatorsRead), summary: "Operators whose scope lies within one's own", keyed: false,
        query: [PageQuery], body: -, ok: 200 [Page<OperatorView>], errors: [],
    }
    POST "/api/v1/operators" => admin::create_operator {
        access: Access::Needs(P::OperatorsManage), summary: "Add an operator (a role one holds the permissions of, a scope within one's own)", keyed: true,
        query: -, body: [CreateOperatorRequest], ok: 201 [OperatorView], errors: [404, 409, 422],
    }
    GET "/api/v1/operators/{id}" => admin::get_operator {
        access: Access::Needs(P::OperatorsRead), summary: "One operator", keyed: false,
        query: -, body: -, ok: 200 [OperatorView], errors: [404],
    }
    PUT "/api/v1/operators/{id}" => admin::update_operator {
        access: Access::Needs(P::OperatorsManage), summary: "Change an operator's display name, role or scope, or disable or enable them (sessions end)", keyed: true,
        query: -, body: [UpdateOperatorRequest], ok: 200 [OperatorView], errors: [403, 404, 409, 422],
    }
    POST "/api/v1/operators/{id}/password" => admin::reset_password {
        access: Access::Needs(P::OperatorsManage), summary: "Reset another operator's password (their sessions end)", keyed: true,
        query: -, body: [ResetPasswordRequest], ok: 200 [OperatorView], errors: [403, 404, 422],
    }
    POST "/api/v1/operators/{id}/unlock" => admin::unlock_operator {
        access: Access::Needs(P::OperatorsManage), summary: "Lift the lockout after failed logins", keyed: true,
        query: -, body: -, ok: 200 [OperatorView], errors: [404, 409],
    }
    GET "/api/v1/roles" => admin::list_roles {
        access: Access::Needs(P::OperatorsRead), summary: "Built-in and custom roles with their permissions", keyed: false,
        query: [PageQuery], body: -, ok: 200 [Page<RoleView>], errors: [],
    }
    POST "/api/v1/roles" => admin::create_role {
        access: Access::Needs(P::RolesManage), summary: "Define a custom role", keyed: true,
        query: -, body: [CreateRoleRequest], ok: 201 [RoleView], errors: [409, 422],
    }
    GET "/api/v1/premises" => places::list_premises {
        access: Access::Needs(P::PremisesRead), summary: "The premises tree within one's scope", keyed: false,
        query: [PremisesQuery], body: -, ok: 200 [Page<PremisesView>], errors: [],
    }
    GET "/api/v1/premises/{id}" => places::get_premises {
        access: Access::Needs(P::PremisesRead), summary: "One node of the premises tree", keyed: false,
        query: -, body: -, ok: 200 [PremisesView], errors: [404],
    }
    POST "/api/v1/premises" => places::create_premises {
        access: Access::Needs(P::PremisesManage), summary: "Add a node to the premises tree", keyed: true,
        query: -, body: [CreatePremisesRequest], ok: 201 [PremisesView], errors: [404, 409, 422],
    }
    POST "/api/v1/books" => places::open_books {
        access: Access::Needs(P::PremisesManage), summary: "Open the books a property keeps in a currency", keyed: true,
        query: -, body: [OpenBooksRequest], ok: 201 [BooksView], errors: [404, 409, 422],
    }
    GET "/api/v1/tariffs" => places::list_tariffs {
        access: Access::Needs(P::TariffsRead), summary: "Every tariff's latest revision", keyed: false,
        query: [PageQuery], body: -, ok: 200 [Page<TariffView>], errors: [],
    }
    GET "/api/v1/tariffs/{code}" => places::get_tariff {
        access: Access::Needs(P::TariffsRead), summary: "A tariff's latest revision with its document", keyed: false,
        query: -, body: -, ok: 200 [TariffView], errors: [404],
    }
    POST "/api/v1/tariffs/preview" => places::preview_tariff {
        access: Access::Needs(P::TariffsRead), summary: "按实抄试算: a stored or draft tariff applied to a meter's billed readings over a period, itemised (nothing stored)", keyed: false,
        query: -, body: [TariffPreviewRequest], ok: 200 [TariffPreviewView], errors: [404, 422],
    }
    POST "/api/v1/tariffs" => places::import_tariff {
        access: Access::Needs(P::TariffsManage), summary: "Import a tariff, or the next revision of one", keyed: true,
        query: -, body: [ImportTariffRequest], ok: 201 [TariffView], errors: [409, 422],
    }
    GET "/api/v1/vending-points" => places::list_vending_points {
        access: Access::Needs(P::VendingPointsRead), summary: "Counters and agents within one's scope", keyed: false,
        query: [PageQuery], body: -, ok: 200 [Page<VendingPointView>], errors: [],
    }
    POST "/api/v1/vending-points" => places::create_vending_point {
        access: Access::Needs(P::VendingPointsManage), summary: "Open a counter or agent, with its receipt series and credit limit", keyed: true,
        query: -, body: [CreateVendingPointRequest], ok: 201 [VendingPointView], errors: [404, 409, 422],
    }
    POST "/api/v1/vending-points/{id}/settlements" => places::settle_vending_point {
        access: Access::Needs(P::VendingPointsSettle), summary: "Record what a vending point remitted", keyed: true,
        query: -, body: [SettlementRequest], ok: 200 [VendingPointView], errors: [404, 409, 422],
    }
    GET "/api/v1/customers" => customers::list_customers {
        access: Access::Needs(P::CustomersRead), summary: "Find customers by name, phone, unit, meter serial or meter number", keyed: false,
        query: [CustomerQuery], body: -, ok: 200 [Page<CustomerView>], errors: [],
    }
    GET "/api/v1/customers/{id}" => customers::get_customer {
        access: Access::Needs(P::CustomersRead), summary: "A customer file", keyed: false,
        query: -, body: -, ok: 200 [CustomerView], errors: [404],
    }
    GET "/api/v1/accounts" => customers::list_accounts {
        access: Access::Needs(P::AccountsRead), summary: "Accounts within one's scope", keyed: false,
        query: [AccountQuery], body: -, ok: 200 [Page<AccountView>], errors: [],
    }
    GET "/api/v1/accounts/{id}" => customers::get_account {
        access: Access::Needs(P::AccountsRead), summary: "An account with its balance, arrears, limits and meters", keyed: false,
        query: -, body: -, ok: 200 [AccountView], errors: [404],
    }
    POST "/api/v1/accounts" => customers::open_account {
        access: Access::Needs(P::AccountsOpen), summary: "开户: customer file, account, meters and the first sale in one operation", keyed: true,
        query: -, body: [OpenAccountRequest], ok: 201 [OpenedAccount], errors: [404, 409, 422, 503],
    }
    PUT "/api/v1/customers/{id}" => lifecycle::update_customer {
        access: Access::Needs(P::CustomersManage), summary: "修改资料: change a customer file (kept in its history)", keyed: true,
        query: -, body: [UpdateCustomerRequest], ok: 200 [CustomerView], errors: [404, 409, 422],
    }
    GET "/api/v1/customers/{id}/history" => lifecycle::customer_history {
        access: Access::Needs(P::CustomersRead), summary: "A customer file's history: every change, newest first", keyed: false,
        query: [HistoryQuery], body: -, ok: 200 [Page<AuditView>], errors: [404],
    }
    GET "/api/v1/accounts/{id}/history" => lifecycle::account_history {
        access: Access::Needs(P::AccountsRead), summary: "An account's history: opening, suspensions, closure, transfer", keyed: false,
        query: [HistoryQuery], body: -, ok: 200 [Page<AuditView>], errors: [404],
    }
    POST "/api/v1/accounts/{id}/suspend" => lifecycle::suspend {
        access: Access::Needs(P::AccountsManage), summary: "报停: suspend an account; its remote meters are tripped and held", keyed: true,
        query: -, body: [ReasonRequest], ok: 200 [AccountStatusView], errors: [404, 409, 422],
    }
    POST "/api/v1/accounts/{id}/resume" => lifecycle::resume {
        access: Access::Needs(P::AccountsManage), summary: "复电: resume a suspended account; supplies with credit close", keyed: true,
        query: -, body: [ReasonRequest], ok: 200 [AccountStatusView], errors: [404, 409, 422],
    }
    POST "/api/v1/accounts/{id}/close" => lifecycle::close {
        access: Access::Needs(P::AccountsManage), summary: "销户: settle and close an account (arrears from credit, the rest refunded, a negative wallet to arrears)", keyed: true,
        query: -, body: [CloseAccountRequest], ok: 200 [SettlementView], errors: [404, 409, 422],
    }
    POST "/api/v1/accounts/{id}/billing-mode" => lifecycle::switch_billing_mode {
        access: Access::Needs(P::BillingModeManage), summary: "Switch an account between prepaid and postpaid at a clean cut-over reading", keyed: true,
        query: -, body: [BillingModeRequest], ok: 200 [BillingModeView], errors: [404, 409, 422],
    }
    POST "/api/v1/accounts/{id}/transfer" => lifecycle::transfer {
        access: Access::Needs(P::AccountsManage), summary: "过户: settle and close an account and open the new owner's on the same meters", keyed: true,
        query: -, body: [TransferOwnershipRequest], ok: 200 [SettlementView], errors: [404, 409, 422],
    }
    GET "/api/v1/meters" => customers::list_meters {
        access: Access::Needs(P::MetersRead), summary: "Meters within one's scope", keyed: false,
        query: [MeterQuery], body: -, ok: 200 [Page<MeterView>], errors: [422],
    }
    GET "/api/v1/meters/{id}" => customers::get_meter {
        access: Access::Needs(P::MetersRead), summary: "A meter with its token state (never its keys)", keyed: false,
        query: -, body: -, ok: 200 [MeterView], errors: [404],
    }
    POST "/api/v1/meters" => customers::receive_meter {
        access: Access::Needs(P::MetersManage), summary: "Receive a meter into stock", keyed: true,
        query: -, body: [ReceiveMeterRequest], ok: 201 [MeterView], errors: [404, 409, 422],
    }
    POST "/api/v1/meters/{id}/replace" => lifecycle::replace_meter {
        access: Access::Needs(P::MetersReplace), summary: "换表: replace a meter on its account (final and first readings, credit on the old meter)", keyed: true,
        query: -, body: [ReplaceMeterRequest], ok: 200 [MeterReplacedView], errors: [404, 409, 422],
    }
    POST "/api/v1/meters/{id}/returns" => lifecycle::record_return {
        access: Access::Needs(P::MetersReturns), summary: "回抄: a local meter's return data (card, check card, display, remote): its accumulated balance (累计结余)", keyed: true,
        query: -, body: [MeterReturnRequest], ok: 200 [MeterReturnRecordedView], errors: [404, 409, 422],
    }
    GET "/api/v1/meters/{id}/card" => cards::get_meter_card {
        access: Access::Needs(P::MetersRead), summary: "An IC-card meter's user card: its serial, status, the cards it replaced and its purchase sequence", keyed: false,
        query: -, body: -, ok: 200 [MeterCardView], errors: [404, 422],
    }
    POST "/api/v1/meters/{id}/card" => cards::issue_card {
        access: Access::Needs(P::CardsIssue), summary: "发卡 / 补卡: the blank card in the counter's reader issued to the meter (a reissue replaces its card and carries an unloaded purchase over)", keyed: true,
        query: -, body: [IssueCardRequest], ok: 201 [CardIssuedView], errors: [404, 409, 422, 502, 503],
    }
    POST "/api/v1/meters/{id}/card/lost" => cards::card_lost {
        access: Access::Needs(P::CardsIssue), summary: "挂失: the meter's card reported lost (nothing is sold onto it until a card is reissued)", keyed: true,
        query: -, body: [CardLostRequest], ok: 200 [MeterCardView], errors: [404, 409, 422],
    }
    POST "/api/v1/meters/{id}/card/return" => cards::return_card {
        access: Access::Needs(P::CardsIssue), summary: "退卡: the meter's card, in the counter's reader, read back, taken back and blanked", keyed: true,
        query: -, body: [CardReturnRequest], ok: 200 [MeterCardView], errors: [404, 409, 422, 502, 503],
    }
    POST "/api/v1/card-reader/read" => cards::read_card {
        access: Access::Needs(P::MetersReturns), summary: "The card in the counter's reader read (MACs checked); a user card's return data recorded as its meter's (回抄)", keyed: true,
        query: -, body: [CardReaderRequest], ok: 200 [CardReadView], errors: [404, 409, 422, 502, 503],
    }
    POST "/api/v1/meters/{id}/field-cards" => cards::issue_field_card {
        access: Access::Needs(P::CardsField), summary: "A field engineer's card (check, reset, clear, parameter, test) written for the meter on the blank card in the reader", keyed: true,
        query: -, body: [FieldCardRequest], ok: 201 [FieldCardView], errors: [404, 409, 422, 502, 503],
    }
    POST "/api/v1/card-reader/blank" => cards::blank_field_card {
        access: Access::Needs(P::CardsField), summary: "A field engineer's card in the reader blanked for reuse (customers' cards only by 退卡)", keyed: false,
        query: -, body: [CardReaderRequest], ok: 200 [CardReadView], errors: [404, 409, 502, 503],
    }
    GET "/api/v1/card-reader/virtual" => cards::get_virtual_reader {
        access: Access::Needs(P::MetersReturns), summary: "A virtual card reader (demos, trials): the card in it and the cards beside it", keyed: false,
        query: [cards::VirtualReaderQuery], body: -, ok: 200 [VirtualReaderView], errors: [404, 409],
    }
    POST "/api/v1/card-reader/virtual" => cards::use_virtual_reader {
        access: Access::Needs(P::MetersReturns), summary: "A virtual card reader's cards: a new blank card, one from the desk, the card out, or the card taken to its simulated meter", keyed: false,
        query: -, body: [VirtualReaderRequest], ok: 200 [VirtualReaderView], errors: [404, 409, 422, 503],
    }
    POST "/api/v1/sales/{id}/card" => cards::write_sale_card {
        access: Access::Needs(P::SalesCreate), summary: "A sale's purchase written (again) onto its meter's card in the reader, read back and checked", keyed: false,
        query: -, body: [CardReaderRequest], ok: 200 [CardWriteView], errors: [404, 409],
    }
    GET "/api/v1/card-keys" => cards::list_card_keys {
        access: Access::Needs(P::KeysManage), summary: "Which IC card key sets are held (never the keys)", keyed: false,
        query: [PageQuery], body: -, ok: 200 [Page<CardKeyView>], errors: [],
    }
    POST "/api/v1/card-keys" => cards::import_card_key {
        access: Access::Needs(P::KeysManage), summary: "Import an IC card key set's root key (stored sealed under the master key)", keyed: true,
        query: -, body: [ImportCardKeyRequest], ok: 201 [CardKeyView], errors: [409, 422, 503],
    }
    GET "/api/v1/meters/{id}/tokens" => counter::meter_tokens {
        access: Access::Needs(P::MetersRead), summary: "Management tokens issued to a meter", keyed: false,
        query: [PageQuery], body: -, ok: 200 [Page<MeterTokenView>], errors: [404],
    }
    POST "/api/v1/meters/{id}/sts-tokens" => counter::sts_tokens {
        access: Access::Needs(P::StsManagementTokens), summary: "STS management tokens: clear credit or tamper, power limits, key change", keyed: true,
        query: -, body: [StsTokensRequest], ok: 201 [MeterTokenView], errors: [404, 409, 422, 503],
    }
    POST "/api/v1/meters/{id}/openpaygo-tokens" => counter::openpaygo_token {
        access: Access::Needs(P::OpenPaygoManagementTokens), summary: "OpenPAYGO set-time, disable-PAYG or counter-sync token", keyed: true,
        query: -, body: [OpenPaygoTokenRequest], ok: 201 [MeterTokenView], errors: [404, 409, 422, 503],
    }
    GET "/api/v1/meters/{id}/supply" => supply::get_supply {
        access: Access::Needs(P::MetersRead), summary: "A meter's supply: channel, wanted and reported relay, keep-power, pending commands, last read", keyed: false,
        query: -, body: -, ok: 200 [SupplyView], errors: [404],
    }
    PUT "/api/v1/meters/{id}/channel" => supply::set_channel {
        access: Access::Needs(P::MetersManage), summary: "How the head end reaches a meter (null: not at all)", keyed: true,
        query: -, body: [SetChannelRequest], ok: 204 -, errors: [404, 409, 422],
    }
    POST "/api/v1/meters/{id}/commands" => supply::issue_command {
        access: Access::Needs(P::MetersControl), summary: "Trip or close the supply, keep-power on or off, set the clock, write the balance or prices to a meter that shows them", keyed: true,
        query: -, body: [MeterCommandRequest], ok: 201 [Vec<MeterCommandView>], errors: [404, 409, 422],
    }
    GET "/api/v1/meters/{id}/commands" => supply::list_commands {
        access: Access::Needs(P::MetersRead), summary: "A meter's commands, newest first, with their attempts", keyed: false,
        query: [PageQuery], body: -, ok: 200 [Page<MeterCommandView>], errors: [404],
    }
    POST "/api/v1/meters/{id}/read" => supply::read_now {
        access: Access::Needs(P::MetersControl), summary: "Read a meter now and bill what it used", keyed: false,
        query: -, body: -, ok: 200 [ReadView], errors: [404, 409, 422, 502],
    }
    POST "/api/v1/meters/{id}/readings/rebase" => supply::rebase_readings {
        access: Access::Needs(P::MetersControl), summary: "Review a flagged reading: go on billing from it (a meter reset or replaced in place; the interval before it not billed) or, with bill, bill the jump found real", keyed: true,
        query: -, body: [RebaseReadingsRequest], ok: 204 -, errors: [404, 409, 422],
    }
    GET "/api/v1/readings" => supply::list_readings {
        access: Access::Needs(P::MetersRead), summary: "Stored readings in time order: by meter or premises subtree, over a period", keyed: false,
        query: [ReadingQuery], body: -, ok: 200 [Page<ReadingView>], errors: [400, 404],
    }
    GET "/api/v1/alarms" => supply::list_alarms {
        access: Access::Needs(P::MetersRead), summary: "Notifications and alarms, newest first: supply tripped or restored, low balance, emergency credit, and the system's own (group scope)", keyed: false,
        query: [AlarmQuery], body: -, ok: 200 [Page<AlarmView>], errors: [],
    }
    GET "/api/v1/head-end/links" => supply::list_links {
        access: Access::Needs(P::MetersControl), summary: "The head end's links (gateways, dialled-in meters) and their health", keyed: false,
        query: [PageQuery], body: -, ok: 200 [Page<LinkView>], errors: [409],
    }
    GET "/api/v1/shifts" => counter::list_shifts {
        access: Access::Needs(P::ShiftsRead), summary: "Shifts at vending points within one's scope", keyed: false,
        query: [ShiftQuery], body: -, ok: 200 [Page<ShiftView>], errors: [],
    }
    GET "/api/v1/shifts/{id}/settlement" => counter::shift_settlement {
        access: Access::Needs(P::ShiftsRead), summary: "交班结算: a shift's settlement — its sales by payment method, what the drawer should hold, the count by denomination, the variance (json, or pdf to print)", keyed: false,
        query: [SettlementQuery], body: -, ok: 200 [ShiftSettlementView], errors: [404, 422, 503],
    }
    GET "/api/v1/shifts/current" => counter::current_shift {
        access: Access::Needs(P::ShiftsOperate), summary: "One's own open shift", keyed: false,
        query: -, body: -, ok: 200 [ShiftView], errors: [404],
    }
    POST "/api/v1/shifts" => counter::open_shift {
        access: Access::Needs(P::ShiftsOperate), summary: "Open one's shift at a vending point with a float", keyed: true,
        query: -, body: [OpenShiftRequest], ok: 201 [ShiftView], errors: [404, 409, 422],
    }
    POST "/api/v1/shifts/{id}/close" => counter::close_shift {
        access: Access::Needs(P::ShiftsOperate), summary: "交班结算: close one's shift with the cash counted", keyed: true,
        query: -, body: [CloseShiftRequest], ok: 200 [ShiftView], errors: [404, 409, 422],
    }
    POST "/api/v1/sales/quote" => counter::quote {
        access: Access::Needs(P::SalesCreate), summary: "What a sale would do: the split, the units, the balance (no token)", keyed: false,
        query: -, body: [SaleRequest], ok: 200 [QuoteView], errors: [404, 409, 422, 503],
    }
    POST "/api/v1/sales" => counter::sell {
        access: Access::Needs(P::SalesCreate), summary: "售电: a sale through one's open shift (the money has been taken)", keyed: true,
        query: -, body: [SaleRequest], ok: 201 [SaleView], errors: [404, 409, 422, 503],
    }
    GET "/api/v1/sales" => counter::list_sales {
        access: Access::Needs(P::SalesRead), summary: "Sales within one's scope, newest first", keyed: false,
        query: [SaleQuery], body: -, ok: 200 [Page<SaleView>], errors: [],
    }
    GET "/api/v1/sales/{id}" => counter::get_sale {
        access: Access::Needs(P::SalesRead), summary: "A sale", keyed: false,
        query: -, body: -, ok: 200 [SaleView], errors: [404],
    }
    GET "/api/v1/sales/{id}/receipt" => counter::receipt {
        access: Access::Needs(P::SalesCreate), summary: "The original receipt, for the cashier who sold while the shift is open", keyed: false,
        query: [ReceiptQuery], body: -, ok: 200 document, errors: [404, 503],
    }
    POST "/api/v1/sales/{id}/reprint" => counter::reprint {
        access: Access::Needs(P::ReceiptsReprint), summary: "补收据: the receipt again, marked COPY, recorded", keyed: true,
        query: -, body: [ReprintRequest], ok: 200 document, errors: [404, 422, 503],
    }
    GET "/api/v1/refused-payments" => counter::list_refused {
        access: Access::Needs(P::RefusedPaymentsRead), summary: "Payments taken for sales that were refused", keyed: false,
        query: [RefusedQuery], body: -, ok: 200 [Page<RefusedPaymentView>], errors: [],
    }
    POST "/api/v1/refused-payments/{id}/refund" => counter::refund {
        access: Access::Needs(P::RefusedPaymentsRefund), summary: "Hand back a refused payment", keyed: true,
        query: -, body: [RefundRequest], ok: 200 [RefusedPaymentView], errors: [404, 409, 422],
    }
    POST "/api/v1/refused-payments/{id}/credit" => counter::credit {
        access: Access::Needs(P::PaymentsManage), summary: "复核入账: credit a refused payment to its account after review instead of handing it back (one sale, out of the refunds owed; for a payment of rent and fees, a fee payment, answered as FeePaymentView)", keyed: true,
        query: -, body: -, ok: 201 [SaleView], errors: [404, 409, 422],
    }
    GET "/api/v1/payment-channels" => payments::list_channels {
        access: Access::Needs(P::PaymentsRead), summary: "Online payment channels (merchant accounts at WeChat Pay, Alipay…) within one's scope", keyed: false,
        query: [PageQuery], body: -, ok: 200 [Page<PaymentChannelView>], errors: [],
    }
    POST "/api/v1/payment-channels" => payments::create_channel {
        access: Access::Needs(P::PaymentsManage), summary: "Open an online payment channel for a property's books: its receipt series, clearing account and standing shift", keyed: true,
        query: -, body: [CreatePaymentChannelRequest], ok: 201 [PaymentChannelView], errors: [404, 409, 422],
    }
    POST "/api/v1/payment-channels/{id}/active" => payments::set_channel_active {
        access: Access::Needs(P::PaymentsManage), summary: "Close a channel to new payment intents, or open it again", keyed: true,
        query: -, body: [ChannelActiveRequest], ok: 200 [PaymentChannelView], errors: [404, 409, 422],
    }
    POST "/api/v1/payment-channels/{id}/reconciliation" => payments::reconcile {
        access: Access::Needs(P::PaymentsRead), summary: "对账: a provider's daily statement against what the ledger recorded through the channel that day (read-only)", keyed: false,
        query: -, body: [StatementReconciliationRequest], ok: 200 [StatementReconciliationView], errors: [404, 409, 422],
    }
    POST "/api/v1/payment-channels/{id}/statements" => payments::import_statement {
        access: Access::Needs(P::PaymentsManage), summary: "对账单导入: keep a provider's statement of one day for reconciliation (the latest import of a day is its statement)", keyed: true, large_body: true,
        query: -, body: [StatementReconciliationRequest], ok: 201 [StatementView], errors: [404, 409, 422],
    }
    GET "/api/v1/payment-channels/{id}/statements/{date}" => payments::statement_reconciliation {
        access: Access::Needs(P::PaymentsRead), summary: "对账: the kept statement of a day against the ledger as it is now — payments, refunds, and every difference", keyed: false,
        query: -, body: -, ok: 200 [StatementReconciliationView], errors: [404],
    }
    POST "/api/v1/meters/{id}/install" => apportion::install_meter {
        access: Access::Needs(P::MetersManage), summary: "装表: install a meter from stock with no account — a site's parent meter, a common area's meter, a vacant unit's — to be read and measured, billed to nobody", keyed: true,
        query: -, body: [InstallMeterRequest], ok: 200 [InstalledMeterView], errors: [404, 409, 422],
    }
    POST "/api/v1/meters/{id}/category" => apportion::set_category {
        access: Access::Needs(P::MetersManage), summary: "分类分项: the category of use (lighting_sockets, hvac, power, special) and sub-item a meter measures, for energy analysis", keyed: true,
        query: -, body: [MeterCategoryRequest], ok: 200 [MeterCategoryView], errors: [404, 409, 422],
    }
    GET "/api/v1/reports/load-curve" => reports::load_curve {
        access: Access::Needs(P::ReportsRead), summary: "负荷曲线: what meters used per local hour or day within one's scope (a premises subtree or one meter), each bucket's average demand and the peak", keyed: false,
        query: [LoadCurveQuery], body: -, ok: 200 [LoadCurveView], errors: [404, 422, 503],
    }
    GET "/api/v1/reports/books" => reports::books {
        access: Access::Needs(P::ReportsRead), summary: "集团财务: each property's books (every ledger account of its premises, by kind) balancing on their own, and the group's as their sum; for a property's or the group's operators", keyed: false,
        query: [BooksQuery], body: -, ok: 200 [PropertyBooksReportView], errors: [403, 422, 503],
    }
    GET "/api/v1/apportionment-rules" => apportion::list_rules {
        access: Access::Needs(P::ReportsRead), summary: "公摊: common-area apportionment rules whose site is within one's scope", keyed: false,
        query: [PageQuery], body: -, ok: 200 [Page<ApportionmentRuleView>], errors: [422],
    }
    POST "/api/v1/apportionment-rules" => apportion::create_rule {
        access: Access::Needs(P::ApportionmentManage), summary: "公摊规则: a site's parent and common-area meters, its units with their floor areas, and how a month's pool is shared and priced", keyed: true,
        query: -, body: [CreateApportionmentRuleRequest], ok: 201 [ApportionmentRuleView], errors: [404, 409, 422],
    }
    GET "/api/v1/apportionment-rules/{id}" => apportion::get_rule {
        access: Access::Needs(P::ReportsRead), summary: "An apportionment rule and the months posted under it", keyed: false,
        query: -, body: -, ok: 200 [ApportionmentRuleView], errors: [404],
    }
    GET "/api/v1/apportionment-rules/{id}/periods/{period}" => apportion::get_period {
        access: Access::Needs(P::ReportsRead), summary: "线损与公摊: a month's line loss, pool and each unit's share — as posted, or as posting it would be now", keyed: false,
        query: -, body: -, ok: 200 [ApportionmentPeriodView], errors: [404, 409, 422],
    }
    POST "/api/v1/apportionment-rules/{id}/periods/{period}" => apportion::post_period {
        access: Access::Needs(P::ApportionmentManage), summary: "公摊入账: post a month — each unit's share charged to its account, once", keyed: true,
        query: -, body: -, ok: 201 [ApportionmentPeriodView], errors: [404, 409, 422],
    }
    GET "/api/v1/apportionment-rules/{id}/periods/{period}/units/{unit}" => apportion::unit_statement {
        access: Access::Needs(P::ReportsRead), summary: "公摊明细: one unit's statement of a month — the figures and how its share was computed", keyed: false,
        query: -, body: -, ok: 200 [UnitStatementView], errors: [404, 409, 422],
    }
    POST "/api/v1/premises/{id}/floor-area" => fees::set_floor_area {
        access: Access::Needs(P::FeesManage), summary: "建筑面积: a unit's floor area, for rent and fees charged per m²", keyed: true,
        query: -, body: [FloorAreaRequest], ok: 200 [FloorAreaView], errors: [404, 409, 422],
    }
    POST "/api/v1/premises/{id}/fee-policy" => fees::set_policy {
        access: Access::Needs(P::FeesManage), summary: "欠费策略: what overdue rent and fees do to energy sales within a premises — nothing, block sales until paid, or take a share of each purchase (never a cut of supply)", keyed: true,
        query: -, body: [FeePolicyRequest], ok: 200 [FeePolicyView], errors: [404, 409, 422],
    }
    GET "/api/v1/fee-policies" => fees::list_policies {
        access: Access::Needs(P::ReportsRead), summary: "The overdue-fee policies set on premises within one's scope", keyed: false,
        query: -, body: -, ok: 200 [Vec<FeePolicyView>], errors: [],
    }
    GET "/api/v1/fee-schedules" => fees::list_schedules {
        access: Access::Needs(P::ReportsRead), summary: "房租 / 物业费: fee schedules whose site is within one's scope", keyed: false,
        query: [PageQuery], body: -, ok: 200 [Page<FeeScheduleView>], errors: [422],
    }
    POST "/api/v1/fee-schedules" => fees::create_schedule {
        access: Access::Needs(P::FeesManage), summary: "收费项目: a monthly rent or property fee on a site's occupied units, per unit or per m², with its due day", keyed: true,
        query: -, body: [CreateFeeScheduleRequest], ok: 201 [FeeScheduleView], errors: [404, 409, 422],
    }
    GET "/api/v1/fee-schedules/{id}" => fees::get_schedule {
        access: Access::Needs(P::ReportsRead), summary: "A fee schedule and the months issued under it", keyed: false,
        query: -, body: -, ok: 200 [FeeScheduleView], errors: [404],
    }
    GET "/api/v1/fee-schedules/{id}/periods/{period}" => fees::get_period {
        access: Access::Needs(P::ReportsRead), summary: "A month of a fee schedule: each unit's charge and what is paid — as issued, or as issuing it would be now", keyed: false,
        query: -, body: -, ok: 200 [FeePeriodView], errors: [404, 409, 422],
    }
    POST "/api/v1/fee-schedules/{id}/periods/{period}" => fees::issue_period {
        access: Access::Needs(P::FeesManage), summary: "出账: issue a month — each occupied unit charged once, due on the schedule's day", keyed: true,
        query: -, body: -, ok: 201 [FeePeriodView], errors: [404, 409, 422],
    }
    POST "/api/v1/fee-schedules/{id}/periods/{period}/dunning" => fees::dun_period {
        access: Access::Needs(P::FeesManage), summary: "催缴: dun a month after its due date — every overdue charge reminded through the notification outbox and charged the schedule's late fee, once", keyed: true,
        query: -, body: -, ok: 200 [FeePeriodView], errors: [404, 409, 422],
    }
    POST "/api/v1/fee-schedules/{id}/periods/{period}/disconnection" => fees::disconnect_period {
        access: Access::Needs(P::FeesManage), summary: "欠费停电: a postpaid cycle that enables it disconnects, once, the supplies of a month's bills still unpaid when the notice given at dunning has run out (reconnected when paid)", keyed: true,
        query: -, body: -, ok: 200 [FeePeriodView], errors: [404, 409, 422],
    }
    GET "/api/v1/fee-schedules/{id}/periods/{period}/bills/{unit}" => fees::get_bill {
        access: Access::Needs(P::AccountsRead), summary: "账单: a postpaid bill — usage since the previous bill with each meter's and TOU period's consumption, standing charge, credit applied, late fee, what is paid and owed (json, or pdf in zh-CN or en)", keyed: false,
        query: [BillQuery], body: -, ok: 200 document, errors: [404, 422, 503],
    }
    GET "/api/v1/reports/bills" => reports::bills {
        access: Access::Needs(P::ReportsRead), summary: "账单明细: a month's bills or fee charges, one row per unit — carried, usage, standing charge, credit, late fee, amount, paid, owed (json, csv, xlsx or pdf)", keyed: false,
        query: [BillsQuery], body: -, ok: 200 [FeePeriodView], errors: [404, 409, 422, 503],
    }
    GET "/api/v1/accounts/{id}/fees" => fees::get_account_fees {
        access: Access::Needs(P::AccountsRead), summary: "An account's rent and fees: owed, overdue, the policy that applies, its charges and payments", keyed: false,
        query: -, body: -, ok: 200 [AccountFeesView], errors: [404],
    }
    POST "/api/v1/accounts/{id}/fee-payments" => fees::pay {
        access: Access::Needs(P::SalesCreate), summary: "收费: rent and fees paid at the counter through the cashier's shift, oldest due first, with a receipt of the vending point's numbering", keyed: true,
        query: -, body: [FeePaymentRequest], ok: 201 [FeePaymentView], errors: [404, 409, 422],
    }
    GET "/api/v1/fee-payments/{id}/receipt" => fees::receipt {
        access: Access::Needs(P::SalesRead), summary: "A fee payment's receipt (html, escpos or pdf; zh-CN or en): the original for its cashier while the shift is open, else marked COPY", keyed: false,
        query: [ReceiptQuery], body: -, ok: 200 document, errors: [404, 422, 503],
    }
    GET "/api/v1/payment-position" => payments::position {
        access: Access::Needs(P::PaymentsRead), summary: "头寸: a day's position of every online payment channel in scope and of each provider: sold, held, kept (owed back), refunded, and what the provider owes by the ledger", keyed: false,
        query: [PositionQuery], body: -, ok: 200 [PaymentPositionView], errors: [],
    }
    GET "/api/v1/payment-intents" => payments::list_intents {
        access: Access::Needs(P::PaymentsRead), summary: "Customers' online payment intents and what became of them", keyed: false,
        query: [IntentQuery], body: -, ok: 200 [Page<PaymentIntentView>], errors: [422],
    }
    GET "/api/v1/payment-intents/{id}" => payments::get_intent {
        access: Access::Needs(P::PaymentsRead), summary: "A payment intent", keyed: false,
        query: -, body: -, ok: 200 [PaymentIntentView], errors: [404],
    }
    POST "/api/v1/payment-intents/{id}/query" => payments::query_intent {
        access: Access::Needs(P::SalesCreate), summary: "Ask the provider now whether the intent was paid (and settle or expire it as the answer says)", keyed: false,
        query: -, body: -, ok: 200 [PaymentIntentView], errors: [404, 409, 422, 502],
    }
    POST "/api/v1/payment-intents/{id}/order" => payments::order_intent {
        access: Access::Needs(P::SalesCreate), summary: "Make the provider's order for an open intent (WeChat Pay Native, Alipay precreate: what the customer's QR code holds; M-Pesa: a prompt pushed to the payer's phone)", keyed: false,
        query: -, body: [PaymentOrderRequest], ok: 200 [PaymentOrderView], errors: [404, 409, 422, 502],
    }
    POST "/api/v1/payment-intents" => payments::create_intent {
        access: Access::Needs(P::SalesCreate), summary: "An intent to pay online for a meter: the order a provider is asked to collect", keyed: true,
        query: -, body: [CreatePaymentIntentRequest], ok: 201 [PaymentIntentView], errors: [404, 409, 422],
    }
    POST "/api/v1/corrections" => corrections::request {
        access: Access::Needs(P::CorrectionsRequest), summary: "纠错: ask for a correction (reverse or re-allocate a sale, adjust a wallet, write off arrears, correct a closed shift); another operator decides", keyed: true,
        query: -, body: [CorrectionRequest], ok: 201 [ApprovalView], errors: [403, 404, 409, 422],
    }
    GET "/api/v1/corrections" => corrections::list {
        access: Access::Needs(P::CorrectionsRead), summary: "Corrections asked for, newest first, by status (pending, approved, rejected, expired) and kind", keyed: false,
        query: [CorrectionsQuery], body: -, ok: 200 [Page<ApprovalView>], errors: [422],
    }
    GET "/api/v1/corrections/{id}" => corrections::get {
        access: Access::Needs(P::CorrectionsRead), summary: "One correction and where it stands", keyed: false,
        query: -, body: -, ok: 200 [ApprovalView], errors: [404],
    }
    POST "/api/v1/corrections/{id}/approve" => corrections::approve {
        access: Access::Needs(P::CorrectionsApprove), summary: "Approve someone else's correction: it is applied in the same commit", keyed: true,
        query: -, body: [DecisionRequest], ok: 200 [ApprovalView], errors: [403, 404, 409, 422],
    }
    POST "/api/v1/corrections/{id}/reject" => corrections::reject {
        access: Access::Needs(P::CorrectionsApprove), summary: "Reject someone else's correction, with a note", keyed: true,
        query: -, body: [DecisionRequest], ok: 200 [ApprovalView], errors: [403, 404, 409, 422],
    }
    POST "/api/v1/accounts/{id}/arrears" => corrections::enter_arrears {
        access: Access::Needs(P::ArrearsManage), summary: "追缴陈欠: enter an account's historical arrears, recovered from its later sales", keyed: true,
        query: -, body: [ArrearsRequest], ok: 201 [ArrearsEnteredView], errors: [404, 409, 422],
    }
    POST "/api/v1/arrears/import" => corrections::import_arrears {
        access: Access::Needs(P::ArrearsManage), summary: "追缴陈欠: import historical arrears for many accounts, all lines or none", keyed: true,
        query: -, body: [ArrearsImportRequest], ok: 201 [ArrearsEnteredView], errors: [404, 409, 422],
    }
    GET "/api/v1/reports/sales" => reports::sales_summary {
        access: Access::Needs(P::ReportsRead), summary: "Sales by operator, vending point, channel, tariff, day or month within a premises subtree (json, csv, xlsx)", keyed: false,
        query: [SalesReportQuery], body: -, ok: 200 [SalesReportView], errors: [400, 404, 422, 503],
    }
    GET "/api/v1/reports/sales-ledger" => reports::sales_ledger {
        access: Access::Needs(P::ReportsRead), summary: "Every sale of a period, streamed (csv, xlsx)", keyed: false,
        query: [SalesLedgerQuery], body: -, ok: 200 document, errors: [400, 404, 422],
    }
    GET "/api/v1/reports/balances" => reports::balances {
        access: Access::Needs(P::ReportsRead), summary: "Arrears, low-balance and zero-balance lists (json page, csv, xlsx)", keyed: false,
        query: [BalanceReportQuery], body: -, ok: 200 [Page<BalanceLineView>], errors: [400, 404, 422, 503],
    }
    GET "/api/v1/reports/refused-payments" => reports::refused_payments {
        access: Access::Needs(P::ReportsRead), summary: "Refused payments of a period, owed back until refunded (csv, xlsx, pdf)", keyed: false,
        query: [RefusedReportQuery], body: -, ok: 200 document, errors: [400, 404, 422, 503],
    }
    GET "/api/v1/reports/consumption" => reports::consumption {
        access: Access::Needs(P::ReportsRead), summary: "Consumption by premises and building, and energy analysis (分类分项): what the meters of a premises subtree used, by building, premises, meter, category or sub-item, beside the span before or a year earlier (json, csv, xlsx, pdf)", keyed: false,
        query: [ConsumptionReportQuery], body: -, ok: 200 [ConsumptionReportView], errors: [400, 404, 422, 503],
    }
    GET "/api/v1/reports/accumulated-balances" => reports::accumulated_balances {
        access: Access::Needs(P::ReportsRead), summary: "累计结余: credit sold onto local meters and what they last reported unused, valued (json page, csv, xlsx)", keyed: false,
        query: [AccumulatedBalanceQuery], body: -, ok: 200 [Page<AccumulatedBalanceLineView>], errors: [400, 404, 422, 503],
    }
    GET "/api/v1/reports/reconciliation" => reports::reconciliation {
        access: Access::Needs(P::ReportsRead), summary: "The sales ledger of a period against the ledger's vend transfers, to the minor unit, per currency and per property (group or property scope)", keyed: false,
        query: [ReconciliationQuery], body: -, ok: 200 [ReconciliationView], errors: [400, 403],
    }
    GET "/api/v1/backups" => admin::list_backups {
        access: Access::Needs(P::BackupsManage), summary: "Scheduled backups, newest first, with their verification (group scope)", keyed: false,
        query: -, body: -, ok: 200 [Vec<BackupView>], errors: [403, 409],
    }
    POST "/api/v1/backups" => admin::take_backup {
        access: Access::Needs(P::BackupsManage), summary: "Take a backup now: written, verified, the retention applied (group scope)", keyed: false,
        query: -, body: -, ok: 201 [BackupView], errors: [403, 409, 500],
    }
    POST "/api/v1/key-campaigns" => campaigns::plan {
        access: Access::Needs(P::KeysManage), summary: "Plan an STS key change campaign (TID rollover, new supply group key): every selected meter's key change set generated, to go out with its next sale", keyed: true,
        query: -, body: [CampaignRequest], ok: 201 [CampaignView], errors: [403, 409, 422, 503],
    }
    GET "/api/v1/key-campaigns" => campaigns::list {
        access: Access::Needs(P::KeysManage), summary: "STS key change campaigns with their progress", keyed: false,
        query: -, body: -, ok: 200 [Vec<CampaignView>], errors: [403],
    }
    GET "/api/v1/key-campaigns/{id}" => campaigns::get {
        access: Access::Needs(P::KeysManage), summary: "One campaign: planned, done, pending, dormant meters", keyed: false,
        query: -, body: -, ok: 200 [CampaignView], errors: [403, 404],
    }
    GET "/api/v1/vending-keys" => admin::list_vending_keys {
        access: Access::Needs(P::KeysManage), summary: "Which vending keys are held (never the keys)", keyed: false,
        query: [PageQuery], body: -, ok: 200 [Page<VendingKeyView>], errors: [],
    }
    POST "/api/v1/vending-keys" => admin::import_vending_key {
        access: Access::Needs(P::KeysManage), summary: "Import an STS vending key (stored sealed under the master key)", keyed: true,
        query: -, body: [ImportVendingKeyRequest], ok: 201 [VendingKeyView], errors: [409, 422, 503],
    }
    POST "/api/v1/keys/rotate" => admin::rotate_keys {
        access: Access::Needs(P::KeysManage), summary: "Seal every secret again under the current master key", keyed: true,
        query: -, body: -, ok: 200 [RotationView], errors: [409, 503],
    }
    GET "/api/v1/audit" => admin::list_audit {
        access: Access::Needs(P::AuditRead), summary: "The audit trail (records by operators within one's scope), newest first", keyed: false,
        query: [AuditQuery], body: -, ok: 200 [Page<AuditView>], errors: [],
    }
    GET "/api/v1/openapi.json" => openapi::document {
        access: Access::Public, summary: "This API's OpenAPI 3.1 document", keyed: false,
        query: -, body: -, ok: 200 [serde_json::Value], errors: [],
    }
}

/// The API's routes, each behind its authorization layer.
pub fn router(state: &AppState) -> Router<AppState> {
    routes(state).fallback(unknown_route)
}

async fn unknown_route() -> Response {
    ApiError::not_found("no such endpoint").into_response()
}

/// The body a route marked `large_body` may take (a provider's statement of a busy day, in base64), whatever
/// `server.request_body_max_bytes` says for the rest: only to an operator whose role grants the route.
pub const LARGE_BODY_MAX_BYTES: usize = 64 << 20;

/// Authenticates the request, checks the endpoint's access and the CSRF token, and hands the principal to the
/// handler. For a keyed write it also answers a retry: the request's hash (method, path, body) is compared with
/// the one saved with the key's operation, and the saved answer is returned without running the handler again
/// (another request with the same key is a conflict), whatever has changed since.
async fn authorize(
    State((state, access, keyed, body_max_bytes)): State<(AppState, Access, bool, usize)>,
    mut request: Request,
    next: Next,
) -> Response {
    let now = state.now();
    let principal = match state.api.auth.authenticate(state.store.as_ref(), request.headers(), now).await {
        Ok(p) => p,
        // A stale cookie or token must not keep anyone from logging in again or reading the document.
        Err(_) if access == Access::Public => None,
        Err(e) => return e.into_response(),
    };
    let principal = match (access, principal) {
        (Access::Public, p) => p,
        (_, None) => return ApiError::new("unauthenticated", "log in first").into_response(),
        (Access::LoggedIn, Some(p)) => Some(p),
        (Access::Needs(permission), Some(p)) => {
            if !p.can(permission) {
                return ApiError::new("forbidden", format!("your role does not grant {permission}"))
                    .with("permission", permission.as_str())
                    .into_response();
            }
            Some(p)
        }
    };
    let Some(p) = principal else { return next.run(request).await };
    if let Err(e) = auth::check_csrf(&p, request.method(), request.headers()) {
        return e.into_response();
    }
    let key = keyed.then(|| extract::idempotency_key(request.headers()).ok()).flatten();
    request.extensions_mut().insert(p.clone());
    let Some(key) = key else { return next.run(request).await };
    let (parts, body) = request.into_parts();
    let bytes = match axum::body::to_bytes(body, body_max_bytes).await {
        Ok(b) => b,
        Err(_) => return ApiError::new("payload_too_large", "the request body is too large").into_response(),
    };
    let hash: [u8; 32] = {
        use sha2::Digest;
        let mut h = sha2::Sha256::new();
        h.update(parts.method.as_str().as_bytes());
        h.update(b" ");
        h.update(parts.uri.to_string().as_bytes());
        h.update(b"\n");
        h.update(&bytes);
        h.finalize().into()
    };
    match write::replay(&state, write::operation_id(p.id(), &key), hash).await {
        Ok(Some(saved)) => return saved,
        Ok(None) => {}
        Err(e) => return e.into_response(),
    }
    let request = Request::from_parts(parts, axum::body::Body::from(bytes));
    write::REQUEST_HASH.scope(hash, next.run(request)).await
}
