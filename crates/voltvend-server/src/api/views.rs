//! The API's wire types: request bodies and queries (every one refuses unknown fields) and response views.
//! Domain types are not the wire format; these are. Money is an object of strings (`amount` in major units,
//! `minor` in minor units, and the currency) and quantities likewise — never a float. Instants are RFC 3339 in
//! UTC.

use jiff::Timestamp;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;
use voltvend_domain::decimal::{format_scaled, parse_scaled};
use voltvend_domain::tariff::pricing::Registers;
use voltvend_domain::{Currency, Money, Operator, Permission, Premises, Utility};
use voltvend_ops::{
    ApiTokenRecord, ApprovalRecord, AuditRecord, MeterRecord, MeterTokenRecord, OpgState, RefusedPayment, SaleRecord,
    StsState,
};

use super::error::{ApiError, ErrorBody};

// ---------------------------------------------------------------------------------------------------------
// Values

/// An amount of money, exact.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct MoneyView {
    /// ISO 4217 code.
    pub currency: String,
    /// In major units, with the currency's decimals: "50.00".
    pub amount: String,
    /// In minor units: "5000".
    pub minor: String,
}

pub fn money(minor: i64, currency: Currency) -> MoneyView {
    MoneyView {
        currency: currency.code().to_string(),
        amount: Money::from_minor(minor, currency).to_decimal_string(),
        minor: minor.to_string(),
    }
}

/// Parses a decimal amount of `field` in `currency` (never more decimals than it has).
pub fn parse_money(field: &str, text: &str, currency: Currency) -> Result<i64, ApiError> {
    Money::parse(text.trim(), currency).map(|m| m.amount_minor()).map_err(|_| {
        ApiError::field(
            field,
            "bad_request",
            format!("{field} must be a decimal amount in {currency} with at most {} decimals", currency.exponent()),
        )
    })
}

/// A quantity of what is sold.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct QuantityView {
    /// `kWh`, `m³`, `day` or `hour`.
    pub unit: String,
    /// In units, with three decimals: "12.500".
    pub amount: String,
    /// In thousandths of a unit (Wh, litres): "12500".
    pub milli: String,
}

pub fn quantity(milli: i64, unit: &str) -> QuantityView {
    QuantityView { unit: unit.to_string(), amount: format_scaled(milli, 3), milli: milli.to_string() }
}

/// Parses a quantity in units with up to three decimals into milli-units.
pub fn parse_quantity(field: &str, text: &str) -> Result<i64, ApiError> {
    parse_scaled(text.trim(), 3).map_err(|_| {
        ApiError::field(field, "bad_request", format!("{field} must be a decimal with at most 3 decimals"))
    })
}

pub fn unit_of(utility: Utility, protocol: voltvend_domain::MeterProtocol, opg_unit: Option<&str>) -> String {
    if protocol == voltvend_domain::MeterProtocol::OpenPaygo {
        return opg_unit.unwrap_or("day").to_string();
    }
    match utility {
        Utility::Electricity => "kWh".into(),
        Utility::Water => "m³".into(),
    }
}

pub fn instant(t: Timestamp) -> String {
    t.to_string()
}

pub fn parse_instant(field: &str, text: &str) -> Result<Timestamp, ApiError> {
    text.parse::<Timestamp>()
        .map_err(|_| ApiError::field(field, "bad_request", format!("{field} must be an RFC 3339 instant")))
}

/// A page of a list: the items and the cursor of the next page (absent on the last).
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// Pass as `after` to get the next page.
    pub next: Option<String>,
}

impl<T> Page<T> {
    /// `items` fetched with `limit`: a full page has a next cursor.
    pub fn of(items: Vec<T>, limit: u32, cursor: impl Fn(&T) -> String) -> Self {
        let next = (items.len() as u32 >= limit).then(|| items.last().map(&cursor)).flatten();
        Self { items, next }
    }

    /// A page of a short list read whole (tariffs, roles, vending keys), in the order of `cursor`: the items
    /// after `after`.
    pub fn slice(mut items: Vec<T>, after: Option<&str>, limit: u32, cursor: impl Fn(&T) -> String) -> Self {
        items.sort_by_cached_key(&cursor);
        items.retain(|t| after.is_none_or(|a| cursor(t).as_str() > a));
        items.truncate(limit as usize);
        Self::of(items, limit, cursor)
    }
}

/// Default and largest page sizes.
pub const PAGE_DEFAULT: u32 = 50;

pub fn page_limit(limit: Option<u32>) -> Result<u32, ApiError> {
    match limit {
        None => Ok(PAGE_DEFAULT),
        Some(l) if (1..=voltvend_store::ListQuery::LIMIT_MAX).contains(&l) => Ok(l),
        Some(_) => Err(ApiError::field("limit", "bad_request", "limit must be 1–500")),
    }
}

// ---------------------------------------------------------------------------------------------------------
// Session, operators, roles, tokens

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    pub username: String,
    pub password: String,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LanguageRequest {
    /// zh-CN or en: the language of one's pages in the web UI.
    pub language: String,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangePasswordRequest {
    pub current_password: String,
    pub new_password: String,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct OperatorView {
    pub id: Uuid,
    pub username: String,
    pub display_name: String,
    pub role: String,
    pub scope_id: Uuid,
    pub active: bool,
    pub failed_logins: i32,
    pub locked_until: Option<String>,
}

impl From<&Operator> for OperatorView {
    fn from(o: &Operator) -> Self {
        Self {
            id: o.id.as_uuid(),
            username: o.username.clone(),
            display_name: o.display_name.clone(),
            role: o.role.clone(),
            scope_id: o.scope.as_uuid(),
            active: o.active,
            failed_logins: o.failed_logins,
            locked_until: o.locked_until.map(instant),
        }
    }
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct SessionView {
    pub operator: OperatorView,
    pub permissions: Vec<String>,
    /// `session` (a cookie) or `token` (an API token).
    pub via: String,
    /// Send it as `X-CSRF-Token` with every write made with the session cookie.
    pub csrf_token: Option<String>,
    pub expires_at: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateOperatorRequest {
    pub username: String,
    pub display_name: String,
    pub role: String,
    pub scope_id: Uuid,
    pub password: String,
}

/// Changes to an operator; what is left out stays as it is.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateOperatorRequest {
    pub display_name: Option<String>,
    pub role: Option<String>,
    pub scope_id: Option<Uuid>,
    /// `false` disables the operator (every session and API token stops working); `true` enables them again.
    pub active: Option<bool>,
    pub reason: String,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ResetPasswordRequest {
    pub new_password: String,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct RoleView {
    pub name: String,
    pub description: String,
    pub built_in: bool,
    pub permissions: Vec<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateRoleRequest {
    pub name: String,
    #[serde(default)]
    pub description: String,
    pub permissions: Vec<String>,
}

pub fn permission_names<'a>(p: impl IntoIterator<Item = &'a Permission>) -> Vec<String> {
    p.into_iter().map(|p| p.as_str().to_string()).collect()
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct ApiTokenView {
    pub id: Uuid,
    pub operator_id: Uuid,
    pub name: String,
    pub created_at: String,
    pub expires_at: Option<String>,
    pub revoked_at: Option<String>,
    pub created_by: Option<Uuid>,
}

impl From<&ApiTokenRecord> for ApiTokenView {
    fn from(t: &ApiTokenRecord) -> Self {
        Self {
            id: t.id.as_uuid(),
            operator_id: t.operator_id.as_uuid(),
            name: t.name.clone(),
            created_at: instant(t.created_at),
            expires_at: t.expires_at.map(instant),
            revoked_at: t.revoked_at.map(instant),
            created_by: t.created_by.map(|x| x.as_uuid()),
        }
    }
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateApiTokenRequest {
    pub name: String,
    /// The operator the token acts as (default: oneself).
    pub operator_id: Option<Uuid>,
    /// RFC 3339; default: never.
    pub expires_at: Option<String>,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct CreatedApiToken {
    pub token: ApiTokenView,
    /// `Authorization: Bearer <secret>`. Shown once: a retry of the request returns the token without it.
    pub secret: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ApiTokenQuery {
    pub operator_id: Option<Uuid>,
    pub limit: Option<u32>,
    pub after: Option<String>,
}

// ---------------------------------------------------------------------------------------------------------
// Premises, tariffs, vending points

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct PremisesView {
    pub id: Uuid,
    pub parent_id: Option<Uuid>,
    /// group, property, building, floor or unit.
    pub level: String,
    pub name: String,
    pub time_zone: String,
    /// Ids from the root down to this node.
    pub path: Vec<Uuid>,
}

impl From<&Premises> for PremisesView {
    fn from(p: &Premises) -> Self {
        Self {
            id: p.id.as_uuid(),
            parent_id: p.parent.map(|x| x.as_uuid()),
            level: p.level.as_str().to_string(),
            name: p.name.clone(),
            time_zone: p.time_zone.clone(),
            path: p.path.iter().map(|x| x.as_uuid()).collect(),
        }
    }
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PremisesQuery {
    pub parent_id: Option<Uuid>,
    pub level: Option<String>,
    pub q: Option<String>,
    pub limit: Option<u32>,
    pub after: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CreatePremisesRequest {
    /// The parent node; none for a new root group (unscoped administrators only).
    pub parent_id: Option<Uuid>,
    pub level: String,
    pub name: String,
    /// IANA time zone of a new root group (children inherit their parent's).
    pub time_zone: Option<String>,
}

/// The books (ledger accounts for revenue, tax, refunds, clearing…) a property keeps in one currency.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct BooksView {
    pub id: Uuid,
    pub premises_id: Uuid,
    pub currency: String,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OpenBooksRequest {
    /// The property (or group) that keeps them.
    pub premises_id: Uuid,
    pub currency: String,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct TariffView {
    pub code: String,
    pub revision: i64,
    pub name: String,
    /// The document as imported (TOML or JSON), in the detail view only.
    pub document: Option<String>,
}

/// A notification or alarm of the outbox: what happened to a meter's supply or credit, or to the system.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct AlarmView {
    /// Its place in the outbox (newer is larger).
    pub seq: i64,
    pub at: String,
    /// relay_trip, relay_close, low_balance_1, low_balance_2, emergency_credit, backup_failed…
    pub kind: String,
    pub meter_id: Option<Uuid>,
    pub serial: Option<String>,
    /// What went wrong, for a system alarm.
    pub detail: String,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AlarmQuery {
    pub limit: Option<u32>,
    /// The `next` of the previous page: older alarms.
    pub after: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TariffPreviewRequest {
    /// A stored tariff's code; or give `document`.
    pub code: Option<String>,
    /// A tariff file (TOML or JSON) not yet imported: a draft or the next revision, priced before it is stored.
    pub document: Option<String>,
    /// The meter whose billed readings are priced.
    pub meter_id: Uuid,
    /// RFC 3339, inclusive.
    pub from: String,
    /// RFC 3339, exclusive.
    pub to: String,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct PricedIntervalView {
    pub from: String,
    pub to: String,
    /// In the tariff's unit, three decimals.
    pub consumption: String,
    /// In major units.
    pub charge: String,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct ChargeLineView {
    pub item: String,
    /// In the tariff's unit, three decimals (empty for a line that is not per unit).
    pub quantity: String,
    /// Per unit, six decimals.
    pub price: Option<String>,
    /// Exact, in major units with fifteen decimals.
    pub amount: String,
}

/// A tariff applied to a meter's stored readings: what billing by it would have charged.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct TariffPreviewView {
    pub tariff: String,
    pub name: String,
    /// kWh or m³.
    pub unit: String,
    /// Billed readings priced (flagged ones are left out, as billing leaves them out).
    pub readings: usize,
    pub intervals: Vec<PricedIntervalView>,
    pub lines: Vec<ChargeLineView>,
    pub total: MoneyView,
    /// The remainder below the minor unit carried to the next reading, exact.
    pub carried_remainder: String,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ImportTariffRequest {
    /// A tariff file (TOML or JSON, see docs/tariffs.md); a document with a code that exists is its next revision.
    pub document: String,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct VendingPointView {
    pub id: Uuid,
    pub premises_id: Uuid,
    pub name: String,
    pub currency: String,
    pub active: bool,
    pub last_receipt_no: i64,
    pub credit_limit: Option<MoneyView>,
    pub outstanding: MoneyView,
}

impl From<&voltvend_domain::VendingPoint> for VendingPointView {
    fn from(v: &voltvend_domain::VendingPoint) -> Self {
        Self {
            id: v.id.as_uuid(),
            premises_id: v.premises_id.as_uuid(),
            name: v.name.clone(),
            currency: v.currency.code().to_string(),
            active: v.active,
            last_receipt_no: v.last_receipt_no,
            credit_limit: v.credit_limit_minor.map(|m| money(m, v.currency)),
            outstanding: money(v.outstanding_minor, v.currency),
        }
    }
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateVendingPointRequest {
    pub premises_id: Uuid,
    pub name: String,
    pub currency: String,
    /// The most it may sell before it settles (a sales agent), in major units; none: no limit.
    #[schemars(regex(pattern = r"^[0-9]{1,15}(\.[0-9]{1,3})?$"))]
    pub credit_limit: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SettlementRequest {
    #[schemars(regex(pattern = r"^[0-9]{1,15}(\.[0-9]{1,3})?$"))]
    pub amount: String,
    pub reference: String,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PageQuery {
    pub limit: Option<u32>,
    pub after: Option<String>,
}

// ---------------------------------------------------------------------------------------------------------
// Customers, accounts, meters

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct IdDocumentView {
    /// national_id, passport, business_licence or other.
    pub kind: String,
    pub number: String,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct CustomerView {
    pub id: Uuid,
    pub premises_id: Uuid,
    /// person or company.
    pub kind: String,
    pub name: String,
    pub id_document: Option<IdDocumentView>,
    pub phones: Vec<String>,
    pub email: Option<String>,
}

impl From<&voltvend_domain::Customer> for CustomerView {
    fn from(c: &voltvend_domain::Customer) -> Self {
        Self {
            id: c.id.as_uuid(),
            premises_id: c.premises_id.as_uuid(),
            kind: c.kind.as_str().to_string(),
            name: c.name.clone(),
            id_document: c
                .id_document
                .as_ref()
                .map(|d| IdDocumentView { kind: d.kind.as_str().to_string(), number: d.number.clone() }),
            phones: c.phones.clone(),
            email: c.email.clone(),
        }
    }
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CustomerQuery {
    /// Part of a name, phone, unit, meter serial or meter number (STS meter numbers included).
    pub q: Option<String>,
    pub premises_id: Option<Uuid>,
    pub limit: Option<u32>,
    pub after: Option<String>,
}

/// How arrears are recovered from each payment.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RecoveryView {
    /// none, share (a percentage of each payment) or fixed (an amount per payment).
    pub kind: String,
    /// For `share`: percent with up to 4 decimals, "20" or "12.5".
    #[schemars(regex(pattern = r"^[0-9]{1,3}(\.[0-9]{1,4})?$"))]
    pub percent: Option<String>,
    /// For `fixed`: an amount in major units.
    #[schemars(regex(pattern = r"^[0-9]{1,15}(\.[0-9]{1,3})?$"))]
    pub amount: Option<String>,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct AccountView {
    pub id: Uuid,
    pub customer_id: Uuid,
    pub premises_id: Uuid,
    pub status: String,
    pub billing_mode: String,
    pub currency: String,
    /// The wallet's balance.
    pub balance: MoneyView,
    /// Balance plus overdraft: what may still be spent.
    pub available: MoneyView,
    /// What is owed from the past (追缴陈欠).
    pub arrears: MoneyView,
    pub overdraft_limit: MoneyView,
    pub recovery: RecoveryView,
    pub min_purchase: MoneyView,
    pub max_balance: Option<MoneyView>,
    /// The account's meters (in the detail view).
    pub meters: Vec<MeterView>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AccountQuery {
    pub customer_id: Option<Uuid>,
    /// active, suspended or closed.
    pub status: Option<String>,
    pub limit: Option<u32>,
    pub after: Option<String>,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct StsView {
    pub pan: String,
    /// The encryption algorithm: 07 (STA) or 11 (MISTY1).
    pub ea: String,
    pub key_type: u8,
    pub supply_group: String,
    pub tariff_index: u8,
    pub key_revision: u8,
    pub key_expiry: u8,
    /// 93, 14 or 35.
    pub base_date: String,
    pub last_tid: Option<u32>,
}

impl From<&StsState> for StsView {
    fn from(s: &StsState) -> Self {
        let p = &s.record.params;
        Self {
            pan: s.record.pan.to_string(),
            ea: p.ea.code().to_string(),
            key_type: p.kt.value(),
            supply_group: format!("{:06}", p.sgc),
            tariff_index: p.ti,
            key_revision: p.krn,
            key_expiry: p.ken,
            base_date: p.base.code().to_string(),
            last_tid: s.last_tid.map(|t| t.minutes()),
        }
    }
}

/// An OpenPAYGO device as the counter sees it (its secrets never leave the server).
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct OpenPaygoView {
    pub last_count: u32,
    pub extended: bool,
    pub restricted: bool,
    /// day or hour.
    pub unit: String,
    pub price_per_unit: String,
}

impl OpenPaygoView {
    pub fn of(o: &OpgState, currency: Option<Currency>) -> Self {
        Self {
            last_count: o.last_count,
            extended: o.extended,
            restricted: o.restricted,
            unit: o.unit.as_str().to_string(),
            price_per_unit: currency.map_or_else(
                || o.price_minor_per_unit.to_string(),
                |c| Money::from_minor(o.price_minor_per_unit, c).to_decimal_string(),
            ),
        }
    }
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct MeterView {
    pub id: Uuid,
    pub serial: String,
    pub utility: String,
    /// local (the meter holds the credit) or remote (the master station does).
    pub control_mode: String,
    pub protocol: String,
    pub address: String,
    pub ct_ratio: u32,
    pub vt_ratio: u32,
    pub state: String,
    pub premises_id: Option<Uuid>,
    pub account_id: Option<Uuid>,
    pub tariff_code: Option<String>,
    /// The state the master station wants the relay (or valve) in: closed or open.
    pub relay: String,
    pub max_credit_minor: Option<String>,
    pub sts: Option<StsView>,
    pub openpaygo: Option<OpenPaygoView>,
    /// For a local meter: the credit sold onto it and what it last reported unused (累计结余).
    pub local_credit: Option<LocalCreditView>,
}

/// 累计结余: the credit sold onto a local meter over its life (net of reversals and buy-backs) and its last
/// return data, valued at its weighted average purchase price.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct LocalCreditView {
    pub sold: QuantityView,
    /// The energy money of what was sold, tax included (absent for a meter without an account).
    pub sold_value: Option<MoneyView>,
    pub last_sale_at: Option<String>,
    pub last_return: Option<MeterReturnView>,
    /// Whether the last return data postdates the last sale: only then is it what the meter holds.
    pub current: bool,
}

/// What a local meter reported of its credit (回抄数据).
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct MeterReturnView {
    pub at: String,
    /// card, check_card, display or remote.
    pub source: String,
    pub remaining: QuantityView,
    /// The remaining credit's value (what a closure would buy back), tax included; absent while the return is
    /// older than the meter's last sale.
    pub value: Option<MoneyView>,
    /// Units beyond what was ever sold onto the meter: not valued.
    pub unvalued: QuantityView,
}

impl LocalCreditView {
    pub fn of(l: &voltvend_ops::LocalCredit, unit: &str, currency: Option<Currency>) -> Self {
        Self {
            sold: quantity(l.sold_milli, unit),
            sold_value: currency.map(|c| money(l.sold_value_minor, c)),
            last_sale_at: l.last_sale_at.map(instant),
            last_return: l.last_return.as_ref().map(|r| {
                let v = l.value(r.remaining_milli);
                MeterReturnView {
                    at: instant(r.at),
                    source: r.source.as_str().to_string(),
                    remaining: quantity(r.remaining_milli, unit),
                    value: currency.filter(|_| l.is_current()).map(|c| money(v.value_minor, c)),
                    unvalued: quantity(v.unvalued_milli, unit),
                }
            }),
            current: l.is_current(),
        }
    }
}

/// 回抄: a local meter's return data, read from its IC card's return file, a check card, its display or remotely.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MeterReturnRequest {
    /// When the meter reported it (RFC 3339).
    pub at: String,
    /// card, check_card, display or remote.
    pub source: String,
    /// The credit left on the meter, in its unit (kWh, m³) with up to three decimals.
    #[schemars(regex(pattern = r"^[0-9]{1,15}(\.[0-9]{1,3})?$"))]
    pub remaining: String,
}

/// The answer to a return recorded: the meter's credit as kept now.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct MeterReturnRecordedView {
    pub meter_id: Uuid,
    /// Whether this return became the meter's last (an older one goes into its history only).
    pub kept_as_last: bool,
    pub local_credit: LocalCreditView,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AccumulatedBalanceQuery {
    pub premises_id: Option<Uuid>,
    /// json (a page; the default), csv, xlsx or pdf (every meter).
    pub format: Option<String>,
    /// For pdf: zh-CN (the default) or en.
    pub lang: Option<String>,
    pub limit: Option<u32>,
    pub after: Option<String>,
}

/// One local meter's accumulated balance (累计结余).
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct AccumulatedBalanceLineView {
    pub meter_id: Uuid,
    pub serial: String,
    pub account_id: Option<Uuid>,
    pub premises_id: Option<Uuid>,
    pub local_credit: LocalCreditView,
}

impl MeterView {
    pub fn of(m: &MeterRecord, sts: Option<&StsState>, opg: Option<&OpgState>, currency: Option<Currency>) -> Self {
        let meter = &m.meter;
        Self {
            id: meter.id.as_uuid(),
            serial: meter.serial.clone(),
            utility: meter.utility.as_str().to_string(),
            control_mode: meter.control_mode.as_str().to_string(),
            protocol: meter.protocol.as_str().to_string(),
            address: meter.address.clone(),
            ct_ratio: meter.ratio.ct(),
            vt_ratio: meter.ratio.vt(),
            state: meter.state.as_str().to_string(),
            premises_id: meter.premises_id.map(|x| x.as_uuid()),
            account_id: meter.account_id.map(|x| x.as_uuid()),
            tariff_code: m.tariff_code.clone(),
            relay: m.relay.as_str().to_string(),
            max_credit_minor: m.max_credit_minor.map(|v| v.to_string()),
            sts: sts.map(StsView::from),
            openpaygo: opg.map(|o| OpenPaygoView::of(o, currency)),
            local_credit: (meter.control_mode == voltvend_domain::ControlMode::Local).then(|| {
                LocalCreditView::of(
                    &m.local,
                    &unit_of(meter.utility, meter.protocol, opg.map(|o| o.unit.as_str())),
                    currency,
                )
            }),
        }
    }
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MeterQuery {
    pub account_id: Option<Uuid>,
    pub state: Option<String>,
    pub protocol: Option<String>,
    pub utility: Option<String>,
    /// Part of the serial or the meter number.
    pub q: Option<String>,
    /// open: meters Voltvend wants tripped (relay open, valve shut); closed: supplied.
    pub relay: Option<String>,
    pub limit: Option<u32>,
    pub after: Option<String>,
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReceiveMeterRequest {
    pub serial: String,
    /// electricity or water.
    pub utility: String,
    /// dlt645, modbus_tcp, mqtt, sts_keypad, ic_card or openpaygo; keypad and card meters are local, the others
    /// remote.
    pub protocol: String,
    pub address: String,
    #[serde(default = "one")]
    pub ct_ratio: u32,
    #[serde(default = "one")]
    pub vt_ratio: u32,
    /// Where it is stocked (for a meter received at an account opening: ignored, it is installed there).
    pub premises_id: Option<Uuid>,
}

fn one() -> u32 {
    1
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StsInput {
    /// Issuer identification number, 6 digits (600727 in the STS test range); with the meter's number (its
    /// address) it makes the PAN.
    pub iin: String,
    /// The encryption algorithm: 07 (STA) or 11 (MISTY1).
    pub ea: String,
    pub key_type: u8,
    pub supply_group: u32,
    pub tariff_index: u8,
    pub key_revision: u8,
    #[serde(default = "never")]
    pub key_expiry: u8,
    /// 93, 14 or 35.
    pub base_date: String,
}

fn never() -> u8 {
    255
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OpenPaygoInput {
    /// The device's secret key: 32 hex digits. Stored sealed; never shown again.
    pub secret_key: String,
    /// The device's starting code (9 digits); none: derived from the key as the reference implementation does.
    pub starting_code: Option<u64>,
    #[serde(default)]
    pub extended: bool,
    #[serde(default)]
    pub restricted: bool,
    /// day or hour.
    pub unit: String,
    /// The price of one unit, in major units.
    #[schemars(regex(pattern = r"^[0-9]{1,15}(\.[0-9]{1,3})?$"))]
    pub price_per_unit: String,
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MeterBindingInput {
    /// A meter in stock; or give `new` to receive one here.
    pub meter_id: Option<Uuid>,
    pub new: Option<ReceiveMeterRequest>,
    pub tariff_code: Option<String>,
    pub sts: Option<StsInput>,
    pub openpaygo: Option<OpenPaygoInput>,
    /// The meter's hoarding limit (囤积), in major units.
    #[schemars(regex(pattern = r"^[0-9]{1,15}(\.[0-9]{1,3})?$"))]
    pub max_credit: Option<String>,
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CustomerInput {
    /// person or company.
    #[serde(default = "person")]
    pub kind: String,
    pub name: String,
    pub id_document: Option<IdDocumentView>,
    #[serde(default)]
    pub phones: Vec<String>,
    pub email: Option<String>,
}

fn person() -> String {
    "person".into()
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FirstSaleInput {
    /// Which of the account's meters it is for (its position in `meters`).
    #[serde(default)]
    pub meter_index: usize,
    /// cash, bank_card or bank_transfer.
    pub method: String,
    /// The payment in major units (or give `quantity`).
    #[schemars(regex(pattern = r"^[0-9]{1,15}(\.[0-9]{1,3})?$"))]
    pub amount: Option<String>,
    /// The units wanted (kWh, m³, days…), with up to three decimals.
    #[schemars(regex(pattern = r"^[0-9]{1,12}(\.[0-9]{1,3})?$"))]
    pub quantity: Option<String>,
    #[schemars(regex(pattern = r"^[0-9]{1,15}(\.[0-9]{1,3})?$"))]
    pub fees: Option<String>,
    #[serde(default)]
    pub reference: String,
    /// What the customer was quoted and paid, for a purchase by quantity.
    #[schemars(regex(pattern = r"^[0-9]{1,15}(\.[0-9]{1,3})?$"))]
    pub expected_paid: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OpenAccountRequest {
    /// A new customer file; or give `customer_id` of an existing one.
    pub customer: Option<CustomerInput>,
    pub customer_id: Option<Uuid>,
    /// The unit (or other premises) the account is for.
    pub premises_id: Uuid,
    pub currency: String,
    #[schemars(regex(pattern = r"^[0-9]{1,15}(\.[0-9]{1,3})?$"))]
    pub overdraft_limit: Option<String>,
    pub recovery: Option<RecoveryView>,
    #[schemars(regex(pattern = r"^[0-9]{1,15}(\.[0-9]{1,3})?$"))]
    pub min_purchase: Option<String>,
    /// The most the wallet may hold after a sale (囤积), in major units.
    #[schemars(regex(pattern = r"^[0-9]{1,15}(\.[0-9]{1,3})?$"))]
    pub max_balance: Option<String>,
    pub meters: Vec<MeterBindingInput>,
    pub first_sale: Option<FirstSaleInput>,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct OpenedAccount {
    pub account_id: Uuid,
    pub customer_id: Uuid,
    /// The bound meters, in the order of the request.
    pub meter_ids: Vec<Uuid>,
    pub first_sale: Option<SaleView>,
}

// ---------------------------------------------------------------------------------------------------------
// Shifts, sales, receipts, refused payments

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct ShiftView {
    pub id: Uuid,
    pub vending_point_id: Uuid,
    pub operator_id: Uuid,
    pub opened_at: String,
    pub opening_float: MoneyView,
    /// open or closed.
    pub status: String,
    pub closed_at: Option<String>,
    pub expected: Option<MoneyView>,
    pub counted: Option<MoneyView>,
    /// counted − expected (negative: short).
    pub variance: Option<MoneyView>,
    /// The count by denomination, largest first, when the cashier gave one.
    pub denominations: Vec<DenominationCount>,
}

impl ShiftView {
    pub fn of(s: &voltvend_domain::Shift, currency: Currency) -> Self {
        Self {
            id: s.id.as_uuid(),
            vending_point_id: s.vending_point_id.as_uuid(),
            operator_id: s.operator_id.as_uuid(),
            opened_at: instant(s.opened_at),
            opening_float: money(s.opening_float_minor, currency),
            status: s.status.as_str().to_string(),
            closed_at: s.closed_at.map(instant),
            expected: s.expected_minor.map(|m| money(m, currency)),
            counted: s.counted_minor.map(|m| money(m, currency)),
            variance: s.expected_minor.zip(s.counted_minor).map(|(e, c)| money(c - e, currency)),
            denominations: s
                .denominations
                .iter()
                .map(|(v, n)| DenominationCount {
                    value: Money::from_minor(*v, currency).to_decimal_string(),
                    count: u32::try_from(*n).unwrap_or(u32::MAX),
                })
                .collect(),
        }
    }
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ShiftQuery {
    pub operator_id: Option<Uuid>,
    pub vending_point_id: Option<Uuid>,
    /// open or closed.
    pub status: Option<String>,
    pub limit: Option<u32>,
    pub after: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OpenShiftRequest {
    pub vending_point_id: Uuid,
    /// The cash in the drawer at the start, in major units.
    #[schemars(regex(pattern = r"^[0-9]{1,15}(\.[0-9]{1,3})?$"))]
    pub opening_float: String,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CloseShiftRequest {
    /// The cash counted at the close, in major units; may be left out when `denominations` are given.
    #[schemars(regex(pattern = r"^[0-9]{1,15}(\.[0-9]{1,3})?$"))]
    pub counted: Option<String>,
    /// The count by denomination: each face value once, with how many notes or coins of it. When `counted` is
    /// given too, they must agree.
    #[serde(default)]
    pub denominations: Vec<DenominationCount>,
}

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DenominationCount {
    /// The face value in major units ("100.00", "0.50").
    #[schemars(regex(pattern = r"^[0-9]{1,15}(\.[0-9]{1,3})?$"))]
    pub value: String,
    pub count: u32,
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SaleRequest {
    pub account_id: Uuid,
    pub meter_id: Uuid,
    /// cash, bank_card or bank_transfer.
    pub method: String,
    /// The payment in major units ("50.00"); or give `quantity`.
    #[schemars(regex(pattern = r"^[0-9]{1,15}(\.[0-9]{1,3})?$"))]
    pub amount: Option<String>,
    /// The units wanted ("100" kWh, "2.5" m³, "7" days), with up to three decimals.
    #[schemars(regex(pattern = r"^[0-9]{1,12}(\.[0-9]{1,3})?$"))]
    pub quantity: Option<String>,
    /// Fees due now, in major units.
    #[schemars(regex(pattern = r"^[0-9]{1,15}(\.[0-9]{1,3})?$"))]
    pub fees: Option<String>,
    #[serde(default)]
    pub reference: String,
    /// For a purchase by quantity: what the customer was quoted and paid (refused if the price changed).
    #[schemars(regex(pattern = r"^[0-9]{1,15}(\.[0-9]{1,3})?$"))]
    pub expected_paid: Option<String>,
    /// The shift to sell through; default: the operator's open shift.
    pub shift_id: Option<Uuid>,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct QuoteView {
    pub paid: MoneyView,
    /// Recovered of past arrears.
    pub arrears: MoneyView,
    pub fees: MoneyView,
    /// Of the payment, overdue rent and fees paid first by the property's policy.
    pub property_fees: MoneyView,
    /// Of the energy money, the tax.
    pub tax: MoneyView,
    /// Money converted into units, tax included.
    pub energy: MoneyView,
    /// Money that goes to the wallet (all of it for a remote meter; what units did not use for a token).
    pub credit: MoneyView,
    pub quantity: Option<QuantityView>,
    /// The wallet's balance after the sale.
    pub balance_after: MoneyView,
    /// How many tokens the sale would issue (their digits come with the sale, never with a quote).
    pub tokens: usize,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct ReceiptLinks {
    pub html: String,
    pub escpos: String,
    pub pdf: String,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct SaleView {
    /// The operation id of the sale.
    pub id: Uuid,
    pub receipt_no: i64,
    pub vending_point_id: Uuid,
    pub shift_id: Uuid,
    pub operator_id: Uuid,
    pub account_id: Uuid,
    pub meter_id: Uuid,
    pub at: String,
    pub method: String,
    pub reference: String,
    pub paid: MoneyView,
    pub arrears: MoneyView,
    pub fees: MoneyView,
    /// Overdue rent and property fees paid from the purchase first, by the property's policy.
    pub property_fees: MoneyView,
    pub tax: MoneyView,
    pub energy: MoneyView,
    pub credit: MoneyView,
    pub quantity: Option<QuantityView>,
    /// Tokens to enter on the meter: 20-digit STS tokens, or OpenPAYGO tokens.
    pub tokens: Vec<String>,
    pub balance_after: MoneyView,
    pub transfer_id: Uuid,
    pub reallocated_from: Option<Uuid>,
    pub receipt: ReceiptLinks,
}

impl SaleView {
    pub fn of(s: &SaleRecord, currency: Currency, unit: &str) -> Self {
        let id = s.operation_id.as_uuid();
        Self {
            id,
            receipt_no: s.receipt_no,
            vending_point_id: s.vending_point_id.as_uuid(),
            shift_id: s.shift_id.as_uuid(),
            operator_id: s.operator_id.as_uuid(),
            account_id: s.account_id.as_uuid(),
            meter_id: s.meter_id.as_uuid(),
            at: instant(s.at),
            method: s.method.as_str().to_string(),
            reference: s.reference.clone(),
            paid: money(s.paid_minor, currency),
            arrears: money(s.arrears_minor, currency),
            fees: money(s.fees_minor, currency),
            property_fees: money(s.property_fees_minor, currency),
            tax: money(s.tax_minor, currency),
            energy: money(s.energy_minor, currency),
            credit: money(s.credit_minor, currency),
            quantity: (s.quantity_milli > 0).then(|| quantity(s.quantity_milli, unit)),
            tokens: s.tokens.clone(),
            balance_after: money(s.balance_after_minor, currency),
            transfer_id: s.transfer_id.as_uuid(),
            reallocated_from: s.reallocated_from.map(|x| x.as_uuid()),
            receipt: ReceiptLinks {
                html: format!("/api/v1/sales/{id}/receipt?format=html"),
                escpos: format!("/api/v1/sales/{id}/receipt?format=escpos"),
                pdf: format!("/api/v1/sales/{id}/receipt?format=pdf"),
            },
        }
    }
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SaleQuery {
    pub account_id: Option<Uuid>,
    pub meter_id: Option<Uuid>,
    pub vending_point_id: Option<Uuid>,
    pub shift_id: Option<Uuid>,
    pub operator_id: Option<Uuid>,
    /// RFC 3339, inclusive.
    pub from: Option<String>,
    /// RFC 3339, exclusive.
    pub to: Option<String>,
    /// `true`: only sales reversed or re-allocated since (纠错); `false`: only those standing.
    pub reversed: Option<bool>,
    pub limit: Option<u32>,
    pub after: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReceiptQuery {
    /// html (the 80 mm print view), escpos (printer bytes) or pdf (A4).
    pub format: Option<String>,
    /// zh-CN or en.
    pub lang: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReprintRequest {
    /// html, escpos or pdf.
    pub format: String,
    /// zh-CN or en.
    pub lang: Option<String>,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct RefusedPaymentView {
    pub id: Uuid,
    pub at: String,
    pub vending_point_id: Uuid,
    pub shift_id: Uuid,
    pub operator_id: Uuid,
    pub account_id: Uuid,
    pub meter_id: Uuid,
    pub method: String,
    pub reference: String,
    pub paid: MoneyView,
    pub reason_code: String,
    pub reason: String,
    pub transfer_id: Uuid,
    /// The refund — or, when `credited`, the sale that credited it after review.
    pub refunded_by: Option<Uuid>,
    pub refunded_at: Option<String>,
    /// Credited to the account after review (复核入账) rather than handed back.
    pub credited: bool,
    /// What it was paid for: `energy`, or `fees` (rent, fees and bills: credited after review as a fee payment).
    pub purpose: String,
}

impl RefusedPaymentView {
    pub fn of(r: &RefusedPayment, currency: Currency) -> Self {
        Self {
            id: r.operation_id.as_uuid(),
            at: instant(r.at),
            vending_point_id: r.vending_point_id.as_uuid(),
            shift_id: r.shift_id.as_uuid(),
            operator_id: r.operator_id.as_uuid(),
            account_id: r.account_id.as_uuid(),
            meter_id: r.meter_id.as_uuid(),
            method: r.method.as_str().to_string(),
            reference: r.reference.clone(),
            paid: money(r.paid_minor, currency),
            reason_code: r.reason_code.clone(),
            reason: r.reason.clone(),
            transfer_id: r.transfer_id.as_uuid(),
            refunded_by: r.refunded_by.map(|x| x.as_uuid()),
            refunded_at: r.refunded_at.map(instant),
            credited: r.credited,
            purpose: r.purpose.as_str().to_string(),
        }
    }
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RefusedQuery {
    pub account_id: Option<Uuid>,
    pub refunded: Option<bool>,
    pub from: Option<String>,
    pub to: Option<String>,
    pub limit: Option<u32>,
    pub after: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RefusedReportQuery {
    /// RFC 3339, inclusive.
    pub from: Option<String>,
    /// RFC 3339, exclusive.
    pub to: Option<String>,
    /// Only those refunded since (`true`) or those still owed (`false`); all by default.
    pub refunded: Option<bool>,
    /// csv (the default), xlsx or pdf: every refused payment of the period.
    pub format: Option<String>,
    /// For pdf: zh-CN (the default) or en.
    pub lang: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RefundRequest {
    /// The open shift whose drawer pays a cash refund (default: the operator's open shift).
    pub shift_id: Option<Uuid>,
}

// ---------------------------------------------------------------------------------------------------------
// Management tokens, keys, audit

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct MeterTokenView {
    pub id: Uuid,
    pub meter_id: Uuid,
    pub at: String,
    pub operator_id: Option<Uuid>,
    pub kind: String,
    pub detail: String,
    pub tokens: Vec<String>,
}

impl From<&MeterTokenRecord> for MeterTokenView {
    fn from(t: &MeterTokenRecord) -> Self {
        Self {
            id: t.operation_id.as_uuid(),
            meter_id: t.meter_id.as_uuid(),
            at: instant(t.at),
            operator_id: t.operator_id.map(|x| x.as_uuid()),
            kind: t.kind.clone(),
            detail: t.detail.clone(),
            tokens: t.tokens.clone(),
        }
    }
}

/// What a key change sets; a field left out keeps the meter's value.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct KeyChangeInput {
    pub key_type: Option<u8>,
    pub supply_group: Option<u32>,
    pub tariff_index: Option<u8>,
    pub key_revision: Option<u8>,
    pub key_expiry: Option<u8>,
    /// Move the meter to the next base date (the 2024 TID rollover).
    #[serde(default)]
    pub rollover: bool,
}

impl From<&KeyChangeInput> for voltvend_sts::KeyChange {
    fn from(k: &KeyChangeInput) -> Self {
        Self {
            kt: k.key_type,
            sgc: k.supply_group,
            ti: k.tariff_index,
            krn: k.key_revision,
            ken: k.key_expiry,
            rollover: k.rollover,
        }
    }
}

impl From<&voltvend_sts::KeyChange> for KeyChangeInput {
    fn from(k: &voltvend_sts::KeyChange) -> Self {
        Self {
            key_type: k.kt,
            supply_group: k.sgc,
            tariff_index: k.ti,
            key_revision: k.krn,
            key_expiry: k.ken,
            rollover: k.rollover,
        }
    }
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StsTokensRequest {
    /// clear_credit, clear_tamper, max_power_limit, max_phase_unbalance or key_change.
    pub kind: String,
    /// For clear_credit: the register (65535: all).
    pub register: Option<u16>,
    /// For the power limits.
    pub watts: Option<u64>,
    pub key_change: Option<KeyChangeInput>,
    pub reason: String,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OpenPaygoTokenRequest {
    /// set_time, disable_payg or counter_sync.
    pub kind: String,
    /// For set_time: the units of time to set.
    pub units: Option<u32>,
    pub reason: String,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct VendingKeyView {
    pub supply_group: String,
    pub key_revision: u8,
    /// The master key that seals it.
    pub master_key_id: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ImportVendingKeyRequest {
    pub supply_group: u32,
    pub key_revision: u8,
    /// The vending key: 16 hex digits (DKGA02) or 40 (DKGA04). Stored sealed, never shown again.
    pub key: String,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct RotationView {
    /// Secrets sealed again under the current master key.
    pub resealed: usize,
    pub master_key_id: String,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct AuditView {
    pub seq: i64,
    pub at: String,
    pub operation_id: Uuid,
    pub operator_id: Option<Uuid>,
    pub source: String,
    pub action: String,
    pub subject: String,
    pub before: String,
    pub after: String,
    pub hash: String,
}

impl From<&AuditRecord> for AuditView {
    fn from(r: &AuditRecord) -> Self {
        Self {
            seq: r.seq,
            at: instant(r.at),
            operation_id: r.operation_id.as_uuid(),
            operator_id: r.operator_id.map(|x| x.as_uuid()),
            source: r.source.clone(),
            action: r.action.clone(),
            subject: r.subject.clone(),
            before: r.before.clone(),
            after: r.after.clone(),
            hash: super::auth::hex(&r.hash),
        }
    }
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    pub action: Option<String>,
    pub operator_id: Option<Uuid>,
    /// What the records are about: `account:<id>`, `approval:<id>`, `shift:<id>`…
    pub subject: Option<String>,
    pub from: Option<String>,
    pub to: Option<String>,
    pub limit: Option<u32>,
    pub after: Option<String>,
}

// ---------------------------------------------------------------------------------------------------------
// The head end: channels, supply, commands, links

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RebaseReadingsRequest {
    /// The instant of a flagged reading of this meter (RFC 3339), as `GET /api/v1/readings?status=flagged` lists it.
    pub at: String,
    /// Why billing goes on from it (the meter was reset, replaced in place…, or the jump was real); kept in the
    /// audit record.
    pub reason: String,
    /// `true`: the jump was real, so the interval up to the reading is priced and debited like any reading
    /// (only where every register went up; needs `corrections.approve` as well). `false` (the default):
    /// billing starts afresh from it and the interval before it is not billed.
    #[serde(default)]
    pub bill: bool,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SetChannelRequest {
    /// `dlt645+tcp://HOST:PORT`, `dlt645+dial-in`, `modbus+tcp://HOST:PORT/UNIT?map=NAME` or `mqtt:PREFIX`;
    /// null: the head end leaves the meter alone.
    pub channel: Option<String>,
    /// The meter shows the balance and prices the head end writes to it (DL/T 645 meters only): payments,
    /// low-balance alarms and trips write its balance, `write_prices` its tariff's prices. Left out: as it was
    /// (false for a meter never set, and false once the channel is cleared).
    #[serde(default)]
    pub shows_credit: Option<bool>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MeterCommandRequest {
    /// relay_trip, relay_close, keep_power_on, keep_power_off or set_time.
    pub kind: String,
    /// Why (kept in the audit trail).
    pub reason: String,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct MeterCommandView {
    pub id: Uuid,
    pub meter_id: Uuid,
    pub kind: String,
    pub reason: String,
    /// What a write command writes, as the meter shows it: `write_balance` hundredths of the major unit,
    /// `write_prices` the four rate prices in ten-thousandths per kWh or m³ (sharp, peak, flat, valley);
    /// empty for the other kinds.
    pub value: String,
    pub created_at: String,
    /// pending, done, superseded or expired.
    pub status: String,
    pub attempts: i32,
    pub next_attempt_at: String,
    pub expires_at: String,
    pub last_error: String,
    pub finished_at: Option<String>,
}

impl From<&voltvend_ops::MeterCommand> for MeterCommandView {
    fn from(c: &voltvend_ops::MeterCommand) -> Self {
        Self {
            id: c.id.as_uuid(),
            meter_id: c.meter_id.as_uuid(),
            kind: c.kind.as_str().to_string(),
            reason: c.reason.clone(),
            value: c.value.clone(),
            created_at: instant(c.created_at),
            status: c.status.as_str().to_string(),
            attempts: c.attempts,
            next_attempt_at: instant(c.next_attempt_at),
            expires_at: instant(c.expires_at),
            last_error: c.last_error.clone(),
            finished_at: c.finished_at.map(instant),
        }
    }
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct ReportView {
    pub at: String,
    /// closed or open; null if the meter does not say.
    pub relay: Option<String>,
    pub keep_power: Option<bool>,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct SupplyView {
    pub meter_id: Uuid,
    pub channel: Option<String>,
    /// Where Voltvend wants the relay (or valve): closed or open.
    pub relay: String,
    /// 保电 wanted.
    pub keep_power: bool,
    /// Disconnected by an operator: payments do not reconnect it.
    pub held_open: bool,
    /// The meter shows the balance and prices the head end writes to it.
    pub shows_credit: bool,
    /// What the meter said when it was last read.
    pub reported: Option<ReportView>,
    pub pending: Vec<MeterCommandView>,
    /// The head end's last read of it, if this server runs a head end and has read it.
    pub last_read_at: Option<String>,
    pub last_attempt_at: Option<String>,
    /// Failed reads since the last good one, and what went wrong.
    pub read_failures: u32,
    pub last_error: String,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReadingQuery {
    /// One meter's readings.
    pub meter_id: Option<Uuid>,
    /// The readings of every meter in this premises subtree (a building, a floor).
    pub premises_id: Option<Uuid>,
    /// billed or flagged.
    pub status: Option<String>,
    /// RFC 3339, inclusive.
    pub from: Option<String>,
    /// RFC 3339, exclusive.
    pub to: Option<String>,
    pub limit: Option<u32>,
    pub after: Option<String>,
}

/// One register of a stored reading: the meter's count, in the meter's unit.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct RegisterView {
    /// `total`, or the tariff period the register counts (sharp, peak, flat, valley…).
    pub register: String,
    pub value: QuantityView,
}

/// A stored reading, as the head end took it.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct ReadingView {
    pub meter_id: Uuid,
    pub at: String,
    pub registers: Vec<RegisterView>,
    /// billed, or flagged for review (and not billed).
    pub status: String,
    /// Why a flagged reading was not billed.
    pub note: String,
    pub operation_id: Uuid,
    /// This row's place in the list, for `after`.
    pub cursor: String,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct ReadView {
    pub meter_id: Uuid,
    pub at: String,
    pub billed: usize,
    pub skipped: usize,
    pub flagged: usize,
    pub charged_minor: String,
    pub balance_after_minor: String,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct LinkView {
    pub name: String,
    /// dlt645_tcp or dlt645_dial_in.
    pub transport: String,
    pub up: bool,
    pub connects: u64,
    pub downs: u64,
    pub answered: u64,
    pub timeouts: u64,
    pub last_error: String,
}

/// A reading's registers in the meter's unit.
pub fn registers_view(registers: &Registers, unit: &str) -> Vec<RegisterView> {
    match registers {
        Registers::Total(v) => vec![RegisterView { register: "total".into(), value: quantity(*v, unit) }],
        Registers::PerPeriod(list) => list
            .iter()
            .map(|(register, v)| RegisterView { register: register.clone(), value: quantity(*v, unit) })
            .collect(),
    }
}

// ---------------------------------------------------------------------------------------------------------
// The back office: the account lifecycle

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateCustomerRequest {
    /// The whole file as it should be now (its premises do not change).
    pub customer: CustomerInput,
    /// Why (kept in the file's history).
    pub reason: String,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HistoryQuery {
    pub limit: Option<u32>,
    pub after: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReasonRequest {
    pub reason: String,
}

/// An account's status after a suspension or resumption, and the supply each of its remote meters is to have
/// (the head end carries the commands out).
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct AccountStatusView {
    pub account_id: Uuid,
    /// active or suspended.
    pub status: String,
    pub supplies: Vec<SupplyStateView>,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct SupplyStateView {
    pub meter_id: Uuid,
    /// open (tripped) or closed.
    pub relay: String,
}

/// Where the credit left on a closing account goes.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RefundInput {
    /// `cash` (from one's own open shift) or `account` (to `account_id`'s wallet).
    pub to: String,
    pub account_id: Option<Uuid>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CloseAccountRequest {
    pub reason: String,
    /// Required when credit is left once the arrears are paid from it.
    pub refund: Option<RefundInput>,
    /// 累计结余: buy the credit the account's local meters last reported unused back into the wallet first
    /// (each meter's return data must postdate its last sale); clear the meters afterwards.
    #[serde(default)]
    pub buy_back_meter_credit: bool,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TransferOwnershipRequest {
    pub reason: String,
    /// The new owner: a new customer file at the account's premises, or `customer_id` of an existing one.
    pub customer: Option<CustomerInput>,
    pub customer_id: Option<Uuid>,
    pub refund: Option<RefundInput>,
}

/// A meter's final reading, as it was when the account closed.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct FinalReadingView {
    pub meter_id: Uuid,
    /// The last billed reading (none: the meter was never read).
    pub at: Option<String>,
    pub registers: Vec<RegisterView>,
}

/// How an account was settled and closed (销户), or handed to a new owner (过户).
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct SettlementView {
    pub account_id: Uuid,
    pub status: String,
    /// Wallet credit that paid the arrears.
    pub arrears_paid: MoneyView,
    /// Credit handed back in cash or moved to another account.
    pub refunded: MoneyView,
    /// `cash`, `account:<id>`, or none.
    pub refund_to: Option<String>,
    /// A negative wallet (emergency credit used) turned into arrears.
    pub to_arrears: MoneyView,
    /// What the closed account still owes.
    pub arrears_left: MoneyView,
    /// The tariffs' carried remainder, less than a minor unit each, in 10⁻¹⁵ of the major unit: recorded, not
    /// charged.
    pub remainder_femto: String,
    pub final_readings: Vec<FinalReadingView>,
    /// 累计结余: the unused credit bought back from each local meter (paid into the wallet before settling).
    pub meter_credit: Vec<MeterCreditBoughtView>,
    /// For an ownership transfer: the new owner's account and customer.
    pub new_account_id: Option<Uuid>,
    pub new_customer_id: Option<Uuid>,
}

/// Unused credit bought back from a local meter at closure.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct MeterCreditBoughtView {
    pub meter_id: Uuid,
    pub valued: QuantityView,
    /// Units beyond what was ever sold onto the meter: not bought back.
    pub unvalued: QuantityView,
    pub value: MoneyView,
    pub tax: MoneyView,
}

/// A reading entered by hand (a meter's display at a replacement).
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReadingInput {
    pub at: String,
    /// `total`, or one register per tariff period, in kWh or m³ with up to three decimals.
    pub registers: Vec<RegisterInput>,
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterInput {
    pub register: String,
    #[schemars(regex(pattern = r"^[0-9]{1,12}(\.[0-9]{1,3})?$"))]
    pub value: String,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReplaceMeterRequest {
    pub reason: String,
    /// The new meter: one in stock, or `new` to receive it here.
    pub new_meter_id: Option<Uuid>,
    pub new: Option<ReceiveMeterRequest>,
    /// The new meter's STS key record (an STS keypad meter).
    pub sts: Option<StsInput>,
    /// A remote old meter's final reading, billed before it goes.
    pub old_final: Option<ReadingInput>,
    /// A remote new meter's registers when installed: its billing starts there.
    pub first_reading: Option<ReadingInput>,
    /// The credit left on an old keypad meter, from its display (kWh or m³), recorded.
    #[schemars(regex(pattern = r"^[0-9]{1,12}(\.[0-9]{1,3})?$"))]
    pub old_credit: Option<String>,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct MeterReplacedView {
    pub old_meter_id: Uuid,
    pub new_meter_id: Uuid,
    pub account_id: Uuid,
    /// What the old meter's final reading cost, when one was billed.
    pub final_charged: Option<MoneyView>,
    pub old_credit: Option<QuantityView>,
    /// For a keypad successor: the credit token carrying the old meter's credit (whole tenths of a unit), to
    /// enter on the new meter, and what it carries.
    pub carried_token: Option<String>,
    pub carried: Option<QuantityView>,
}

/// 纠错: a correction asked for by one operator, for another to approve or reject.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CorrectionRequest {
    /// reverse_sale, reallocate_sale, adjust, write_off, correct_shift, reverse_fee_payment or adjust_charge.
    pub kind: String,
    /// The sale to reverse or re-allocate (its id, as `/sales` lists it).
    pub sale_id: Option<Uuid>,
    /// The account to adjust or write off; for a re-allocation, the right account.
    pub account_id: Option<Uuid>,
    /// For a re-allocation, the right meter.
    pub meter_id: Option<Uuid>,
    /// The closed shift whose count is corrected.
    pub shift_id: Option<Uuid>,
    /// The fee payment to reverse (its id, as the account's fees list it).
    pub fee_payment_id: Option<Uuid>,
    /// For `adjust_charge`: the charge's schedule and month (`YYYY-MM`); `account_id` names its account.
    pub schedule_id: Option<Uuid>,
    #[schemars(regex(pattern = r"^[0-9]{4}-[0-9]{2}$"))]
    pub period: Option<String>,
    /// Signed, in major units: for `adjust`, positive credits the wallet; for `correct_shift`, positive is cash
    /// found after the close; for `adjust_charge`, positive reduces the charge (减免), negative raises it.
    /// Positive for `write_off`; none for the sale and fee payment reversals.
    #[schemars(regex(pattern = r"^[-+]?[0-9]{1,15}(\.[0-9]{1,3})?$"))]
    pub amount: Option<String>,
    pub reason: String,
    /// How long the request waits for a decision (default 72, at most 744).
    pub expires_in_hours: Option<u32>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DecisionRequest {
    /// Why: required to reject, optional to approve.
    #[serde(default)]
    pub note: String,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CorrectionsQuery {
    /// pending, approved, rejected or expired.
    pub status: Option<String>,
    pub kind: Option<String>,
    pub requested_by: Option<Uuid>,
    pub limit: Option<u32>,
    pub after: Option<String>,
}

/// The second operator's decision.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct DecisionView {
    pub by: Uuid,
    pub at: String,
    pub approved: bool,
    pub note: String,
}

/// A correction and where it stands.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct ApprovalView {
    pub id: Uuid,
    pub kind: String,
    /// pending, approved, rejected or expired (an undecided request past `expires_at`).
    pub status: String,
    pub sale_id: Option<Uuid>,
    pub account_id: Option<Uuid>,
    pub meter_id: Option<Uuid>,
    pub shift_id: Option<Uuid>,
    pub fee_payment_id: Option<Uuid>,
    pub schedule_id: Option<Uuid>,
    /// The charge's month (`YYYY-MM`) for `adjust_charge`.
    pub period: Option<String>,
    pub amount: Option<MoneyView>,
    pub reason: String,
    pub requested_by: Uuid,
    pub requested_at: String,
    pub expires_at: String,
    pub decision: Option<DecisionView>,
    /// Once applied: the correcting transfer.
    pub transfer_id: Option<Uuid>,
    /// Once applied: the new sale of a re-allocation (`/sales/{id}`), or the refused payment that owes a
    /// reversed sale's money back to the customer (`/refused-payments/{id}`).
    pub result_id: Option<Uuid>,
    /// STS tokens of the corrected sale, void: they cannot be recalled from a meter that may have taken them.
    pub void_tokens: Vec<String>,
}

impl ApprovalView {
    pub fn of(a: &ApprovalRecord, currency: Currency, now: jiff::Timestamp) -> Self {
        let c = &a.correction;
        Self {
            id: a.id.as_uuid(),
            kind: c.kind.as_str().to_string(),
            status: a.status(now).as_str().to_string(),
            sale_id: c.sale.map(|x| x.as_uuid()),
            account_id: c.account_id.map(|x| x.as_uuid()),
            meter_id: c.meter_id.map(|x| x.as_uuid()),
            shift_id: c.shift_id.map(|x| x.as_uuid()),
            fee_payment_id: c.fee_payment.map(|x| x.as_uuid()),
            schedule_id: c.charge.map(|(x, _)| x.as_uuid()),
            period: c.charge.map(|(_, p)| super::handlers::apportion::period_text(p)),
            amount: (c.amount_minor != 0).then(|| money(c.amount_minor, currency)),
            reason: a.reason.clone(),
            requested_by: a.requested_by.as_uuid(),
            requested_at: instant(a.requested_at),
            expires_at: instant(a.expires_at),
            decision: a.decision.as_ref().map(|d| DecisionView {
                by: d.by.as_uuid(),
                at: instant(d.at),
                approved: d.approved,
                note: d.note.clone(),
            }),
            transfer_id: a.transfer_id.map(|x| x.as_uuid()),
            result_id: a.result.map(|x| x.as_uuid()),
            void_tokens: a.void_tokens.clone(),
        }
    }
}

/// 追缴陈欠: one account's historical arrears.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ArrearsRequest {
    /// In major units, positive.
    #[schemars(regex(pattern = r"^[0-9]{1,15}(\.[0-9]{1,3})?$"))]
    pub amount: String,
    /// The old system's reference (bill number, ledger page).
    #[serde(default)]
    pub reference: String,
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ArrearsLineRequest {
    pub account_id: Uuid,
    #[schemars(regex(pattern = r"^[0-9]{1,15}(\.[0-9]{1,3})?$"))]
    pub amount: String,
    #[serde(default)]
    pub reference: String,
}

/// An import of historical arrears: all lines or none, in one currency.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ArrearsImportRequest {
    pub lines: Vec<ArrearsLineRequest>,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct ArrearsEnteredView {
    pub lines: usize,
    pub total: MoneyView,
    /// One transfer per set of books.
    pub transfer_ids: Vec<Uuid>,
}

/// 交班结算: a shift's settlement report.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct ShiftSettlementView {
    /// The shift: float, expected, counted (with its denominations) and variance once closed.
    pub shift: ShiftView,
    /// Sales made through the shift (re-allocations of its sales included) and what they took.
    pub sales: u64,
    pub paid: MoneyView,
    pub by_method: Vec<MethodTotalView>,
    /// How the money was split: arrears recovered, fees, energy on tokens (tax included), wallet credit.
    pub arrears: MoneyView,
    pub fees: MoneyView,
    pub energy: MoneyView,
    pub credit: MoneyView,
    /// Of the sales, overdue rent and fees paid first by the property's policy.
    pub property_fees: MoneyView,
    /// Sales of the shift reversed or re-allocated since, left out of the totals above.
    pub reversed: u64,
    /// Rent and fees paid at the counter through the shift (not sales; their cash is in the drawer too).
    pub fee_payments: u64,
    pub fees_paid: MoneyView,
    pub fees_by_method: Vec<MethodTotalView>,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct MethodTotalView {
    /// cash, bank_card or bank_transfer.
    pub method: String,
    pub sales: u64,
    pub paid: MoneyView,
}

// ---------------------------------------------------------------------------------------------------------
// Reports

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SalesReportQuery {
    /// RFC 3339, inclusive.
    pub from: Option<String>,
    /// RFC 3339, exclusive.
    pub to: Option<String>,
    /// operator, vending_point, method, tariff, property (集团财务: each property of the scope), day (the default) or
    /// month.
    pub group_by: Option<String>,
    /// Only sales to accounts in this premises subtree (within one's scope).
    pub premises_id: Option<Uuid>,
    /// The IANA time zone days and months are counted in; the caller's premises' by default.
    pub time_zone: Option<String>,
    /// json (the default), csv, xlsx or pdf.
    pub format: Option<String>,
    /// For pdf: zh-CN (the default) or en.
    pub lang: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SettlementQuery {
    /// json (the default) or pdf (the printed settlement).
    pub format: Option<String>,
    /// For pdf: zh-CN (the default) or en.
    pub lang: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ConsumptionReportQuery {
    /// RFC 3339, inclusive: readings taken from then on.
    pub from: Option<String>,
    /// RFC 3339, exclusive.
    pub to: Option<String>,
    /// child (the default: the premises' buildings, floors or units), premises, meter, category (分类) or
    /// sub_item (分项).
    pub group_by: Option<String>,
    /// The premises whose subtree is reported (within one's scope); one's scope by default.
    pub premises_id: Option<Uuid>,
    /// Each row beside the same span before: `previous` (环比: the span just before, as long) or `year` (同比:
    /// the span a year earlier, by the calendar of the caller's time zone).
    pub compare: Option<String>,
    /// Only the `top` largest rows (top consumers), largest first: 1–500.
    pub top: Option<u32>,
    /// json (the default), csv, xlsx or pdf.
    pub format: Option<String>,
    /// For pdf: zh-CN (the default) or en.
    pub lang: Option<String>,
}

/// 负荷曲线: what meters used per hour or per day, and the peak.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LoadCurveQuery {
    /// RFC 3339, inclusive.
    pub from: Option<String>,
    /// RFC 3339, exclusive.
    pub to: Option<String>,
    /// hour or day (the default), in the caller's time zone.
    pub interval: Option<String>,
    /// electricity (the default: kWh and kW) or water (m³ and m³/h).
    pub utility: Option<String>,
    /// The premises whose meters are summed (within one's scope); one's scope by default.
    pub premises_id: Option<Uuid>,
    /// One meter instead.
    pub meter_id: Option<Uuid>,
    /// json (the default), csv, xlsx or pdf.
    pub format: Option<String>,
    /// For pdf: zh-CN (the default) or en.
    pub lang: Option<String>,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct LoadBucketView {
    /// The bucket's start, local to the caller's time zone (RFC 3339 with its offset).
    pub start: String,
    pub consumption: QuantityView,
    /// The average demand over the bucket: consumption ÷ the bucket's hours, in kW (m³/h), three decimals.
    pub average: String,
    pub readings: i64,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct LoadCurveView {
    pub utility: String,
    pub interval: String,
    pub from: String,
    pub to: String,
    /// kW or m³/h.
    pub demand_unit: String,
    pub total: QuantityView,
    /// Every bucket of the span, those with no reading at zero.
    pub buckets: Vec<LoadBucketView>,
    /// The bucket of the highest average demand (the earliest of equals); none when nothing was used.
    pub peak: Option<LoadBucketView>,
    /// 最大需量 as the meters measured it (electricity): each meter's highest maximum-demand register in the
    /// span, the highest first (at most 100 meters). A building's incomer gives the building's own peak; the
    /// averages above cannot show a peak shorter than their bucket.
    pub measured_peaks: Vec<MeasuredPeakView>,
}

/// A meter's highest maximum demand in a span, as its register recorded it.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct MeasuredPeakView {
    pub meter_id: Uuid,
    pub serial: String,
    /// kW, three decimals.
    pub demand: String,
    /// When it was drawn (the meter's clock).
    pub at: String,
}

/// Consumption by premises and building: what the meters used, as billed.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct ConsumptionReportView {
    pub group_by: String,
    pub from: String,
    pub to: String,
    /// With `compare`: the span compared with.
    pub compared_from: Option<String>,
    pub compared_to: Option<String>,
    pub rows: Vec<ConsumptionRowView>,
    /// Per utility, the sum of the rows.
    pub totals: Vec<ConsumptionRowView>,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct ConsumptionRowView {
    /// A premises' or meter's id (empty: meters installed at the report's premises itself, or a total).
    pub key: String,
    pub label: String,
    pub utility: String,
    pub meters: i64,
    pub readings: i64,
    pub consumption: QuantityView,
    /// With `compare`: what the same group used in the span compared with (zero when it used nothing then).
    pub previous: Option<QuantityView>,
    /// With `compare`: the change in percent with two decimals; none when nothing was used then.
    pub change_percent: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SalesLedgerQuery {
    pub from: Option<String>,
    pub to: Option<String>,
    pub premises_id: Option<Uuid>,
    /// Only sales reversed since (`true`) or only standing ones (`false`); all by default.
    pub reversed: Option<bool>,
    /// csv (the default) or xlsx.
    pub format: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReconciliationQuery {
    pub from: Option<String>,
    pub to: Option<String>,
}

/// Standing sales of one group (reversed sales left out; their re-allocations counted).
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct SalesGroupView {
    /// An operator's or vending point's id, a method, a tariff code, a local date or a month.
    pub key: String,
    /// The operator's username, the vending point's name… (the key where there is nothing better).
    pub label: String,
    pub sales: i64,
    pub paid: MoneyView,
    pub arrears: MoneyView,
    pub fees: MoneyView,
    pub tax: MoneyView,
    pub energy: MoneyView,
    pub credit: MoneyView,
    /// Overdue rent and fees the purchases paid first.
    pub property_fees: MoneyView,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct SalesReportView {
    pub group_by: String,
    pub from: String,
    pub to: String,
    pub rows: Vec<SalesGroupView>,
}

/// The sales ledger against the ledger, in one currency.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct ReconciliationLine {
    pub currency: String,
    /// Sales made in the period (reversed since or not) and what they took.
    pub sales: i64,
    pub sales_paid: MoneyView,
    /// Vend transfers the ledger posted in the period and the money they took.
    pub vend_transfers: i64,
    pub ledger_paid: MoneyView,
    pub difference: MoneyView,
    pub reconciles: bool,
}

/// 集团财务: one property's sales against the ledger's vend transfers to its accounts, in one currency.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct PropertyReconciliationLine {
    /// The property (the group itself for accounts kept at the group).
    pub premises_id: Uuid,
    pub name: String,
    #[serde(flatten)]
    pub line: ReconciliationLine,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct ReconciliationView {
    pub from: String,
    pub to: String,
    /// Per currency: for the group's operators, the whole sales ledger against the whole ledger; for a property's,
    /// their property's line.
    pub lines: Vec<ReconciliationLine>,
    /// Per property and currency, each property's sales against the vend transfers to its accounts.
    pub properties: Vec<PropertyReconciliationLine>,
}

/// A backup in the backup directory and what its verification found.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct BackupView {
    pub file: String,
    pub taken_at: String,
    pub bytes: u64,
    /// Absent: never verified.
    pub verified_at: Option<String>,
    pub ok: Option<bool>,
    /// What was checked, or why it failed.
    pub detail: Option<String>,
}

// ---------------------------------------------------------------------------------------------------------
// STS key change campaigns

/// Which STS meters a campaign takes (every field given must match).
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CampaignSelect {
    /// "93", "14" or "35".
    pub base_date: Option<String>,
    pub supply_group: Option<u32>,
    pub key_revision: Option<u8>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CampaignRequest {
    pub name: String,
    #[serde(default)]
    pub select: CampaignSelect,
    pub change: KeyChangeInput,
}

/// A campaign and how far it has gone.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct CampaignView {
    pub id: Uuid,
    pub name: String,
    pub change: KeyChangeInput,
    pub created_at: String,
    pub created_by: Option<Uuid>,
    /// Meters whose key change set was generated.
    pub planned: i64,
    /// Meters that took it (with a sale, or by hand).
    pub done: i64,
    pub pending: i64,
    /// Pending meters that have seen no sale for 90 days: a field visit is likely needed.
    pub dormant: i64,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BalanceReportQuery {
    /// arrears (accounts that owe, closed ones too), low_balance (open accounts at or below `below`) or
    /// zero_balance (open accounts at zero or below).
    pub kind: String,
    /// For low_balance: the threshold, in major units.
    #[schemars(regex(pattern = r"^[0-9]{1,15}(\.[0-9]{1,3})?$"))]
    pub below: Option<String>,
    pub premises_id: Option<Uuid>,
    /// json (a page; the default), csv, xlsx or pdf (every account).
    pub format: Option<String>,
    /// For pdf: zh-CN (the default) or en.
    pub lang: Option<String>,
    pub limit: Option<u32>,
    pub after: Option<String>,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct BalanceLineView {
    pub account_id: Uuid,
    pub customer: String,
    pub premises_id: Uuid,
    pub premises: String,
    pub status: String,
    /// The wallet's balance (negative: emergency credit used).
    pub balance: MoneyView,
    pub arrears: MoneyView,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BillingModeRequest {
    /// prepaid or postpaid.
    pub mode: String,
    pub reason: String,
}

/// An account switched between prepaid and postpaid.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct BillingModeView {
    pub account_id: Uuid,
    pub billing_mode: String,
    /// The cut-over: each meter's last billed reading (before it, the old mode; after it, the new).
    pub cutover_readings: Vec<FinalReadingView>,
    /// Switching back to prepaid: what postpaid consumption left owed, now arrears.
    pub to_arrears: MoneyView,
}

/// An IC card key set (never the key).
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct CardKeyView {
    pub key_no: u32,
    /// `3des` or `sm4`.
    pub algorithm: String,
    /// The master key that seals it.
    pub master_key_id: Option<String>,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ImportCardKeyRequest {
    /// 1–255.
    pub key_no: u32,
    /// `3des` or `sm4`.
    pub algorithm: String,
    /// The root key: 32 hex digits. Stored sealed, never shown again.
    pub key: String,
}

/// Which counter's card reader to use: the vending point's (by default, that of one's open shift).
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CardReaderRequest {
    pub vending_point_id: Option<Uuid>,
    /// For a field engineer's check card: the meter it was inserted into (its return data is recorded as that
    /// meter's when the card's meter number is the meter's).
    pub meter_id: Option<Uuid>,
}

/// A field engineer's card written for a meter: the blank card in the reader.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FieldCardRequest {
    pub vending_point_id: Option<Uuid>,
    /// `check`, `reset`, `clear`, `parameter` (open account) or `test`.
    pub kind: String,
    /// A parameter card's alarm levels and limits, in the meter's unit (kWh, m³) with up to three decimals.
    #[serde(default)]
    pub alarm1: Option<String>,
    #[serde(default)]
    pub alarm2: Option<String>,
    #[serde(default)]
    pub overdraft: Option<String>,
    #[serde(default)]
    pub hoarding_limit: Option<String>,
    /// A parameter card's power limit in watts.
    #[serde(default)]
    pub power_limit_w: Option<u32>,
}

/// A field card written.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct FieldCardView {
    pub serial: String,
    pub kind: String,
    pub meter_id: Uuid,
    pub meter_no: String,
}

/// 发卡 / 补卡: the blank card in the counter's reader issued to the meter (replacing its card, if it has one).
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct IssueCardRequest {
    pub vending_point_id: Option<Uuid>,
    /// Why (required for a reissue: lost, damaged…).
    #[serde(default)]
    pub reason: String,
}

/// 挂失: the meter's card reported lost.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CardLostRequest {
    /// The card's serial (16 hex digits), as the customer's records or the meter's card page show it.
    pub serial: String,
    pub reason: String,
}

/// 退卡: the meter's card, in the counter's reader, taken back and blanked.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CardReturnRequest {
    pub vending_point_id: Option<Uuid>,
    pub reason: String,
}

/// A purchase on a card.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct CardPurchaseView {
    /// The purchase count: the meter loads count n only after n − 1.
    pub count: u32,
    pub quantity: QuantityView,
    pub at: String,
    /// The sale it is (when known).
    pub sale_id: Option<Uuid>,
}

/// An IC-card meter's user card and its purchase sequence.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct MeterCardView {
    pub meter_id: Uuid,
    pub serial: String,
    /// `active`, `lost` or `returned`.
    pub status: String,
    /// 0 for the first card, one more per reissue.
    pub generation: u8,
    pub key_no: u32,
    /// Cards this one replaced (refused by the counter and the meter).
    pub replaced: Vec<String>,
    pub sold_count: u32,
    pub loaded_count: u32,
    /// The card holds a purchase the meter has not loaded yet (no new purchase goes onto it until it has).
    pub purchase_pending: bool,
    pub last_purchase: Option<CardPurchaseView>,
    pub issued_at: String,
}

impl MeterCardView {
    pub fn of(c: &voltvend_ops::MeterCard, unit: &str) -> Self {
        Self {
            meter_id: c.meter_id.as_uuid(),
            serial: c.serial.clone(),
            status: c.status.as_str().to_string(),
            generation: c.generation,
            key_no: c.key_no,
            replaced: c.replaced.clone(),
            sold_count: c.sold_count,
            loaded_count: c.loaded_count,
            purchase_pending: c.purchase_pending(),
            last_purchase: c.last_purchase_at.map(|at| CardPurchaseView {
                count: c.sold_count,
                quantity: quantity(c.last_purchase_milli, unit),
                at: instant(at),
                sale_id: c.last_purchase_sale.map(|s| s.as_uuid()),
            }),
            issued_at: instant(c.issued_at),
        }
    }
}

/// What came of writing to the card in the reader, after the operation committed.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct CardWriteView {
    pub serial: String,
    /// The card holds what was written, read back and checked.
    pub written: bool,
    /// The purchase written (or to write), if any.
    pub purchase: Option<CardPurchaseView>,
    /// Why it was not written (a code of docs/errors.md): write it again with the card in the reader.
    pub error: Option<ErrorBody>,
}

/// A card issued (or reissued) and what was written on it.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct CardIssuedView {
    pub card: MeterCardView,
    pub write: CardWriteView,
}

/// The controller's return data on a card (回抄).
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct CardReturnDataView {
    pub meter_no: String,
    /// The last purchase count the meter loaded.
    pub last_count: u32,
    pub remaining: QuantityView,
    pub total_used: QuantityView,
    pub relay_open: bool,
    pub tamper: bool,
    /// Error codes the meter showed lately (`Err-NN`).
    pub events: Vec<String>,
    pub at: String,
}

/// The card in a counter's reader, as read (MACs verified) and as the system knows it.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct CardReadView {
    pub serial: String,
    /// Not issued: a factory-fresh (or blanked) card.
    pub blank: bool,
    /// `user`, `check`, `reset`, `clear`, `parameter` or `test`.
    pub kind: Option<String>,
    pub meter_no: Option<String>,
    pub customer_no: Option<String>,
    pub generation: Option<u8>,
    /// For a user card: `current` (the meter's card now), `replaced` (refused), or `unknown` (not ours).
    pub standing: Option<String>,
    pub meter_id: Option<Uuid>,
    pub account_id: Option<Uuid>,
    /// The purchase on the card.
    pub purchase: Option<CardPurchaseView>,
    /// The return data the meter wrote on the card.
    pub returned: Option<CardReturnDataView>,
    /// The return data was recorded now (回抄) as the meter's.
    pub recorded: bool,
    /// The meter's card as the system keeps it (after recording the return data).
    pub card: Option<MeterCardView>,
}

/// A virtual card reader (demos and trials): what to do with its cards.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct VirtualReaderRequest {
    pub vending_point_id: Option<Uuid>,
    /// `new` (a factory-fresh card into the reader), `insert` (the card `serial` from the desk into the
    /// reader), `eject` (the reader's card onto the desk) or `meter` (the reader's card inserted into the
    /// simulated meter it names, then back into the reader).
    pub action: String,
    pub serial: Option<String>,
}

/// A virtual reader's desk.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct VirtualReaderView {
    /// The reader (a vending point id or `default`).
    pub reader: String,
    /// The serial of the card in the reader.
    pub in_reader: Option<String>,
    /// The serials of the cards beside it.
    pub desk: Vec<String>,
    /// What the simulated meter did with the card (`meter`).
    pub meter: Option<VirtualMeterView>,
}

/// What a simulated IC-card meter did with a card.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct VirtualMeterView {
    pub meter_no: String,
    /// `loaded`, `already_loaded`, `no_purchase`, `checked`, `reset`, `cleared`, `account_opened`, `tested`,
    /// or `refused` (then `display` shows the meter's error code).
    pub outcome: String,
    /// The purchase loaded, in Wh.
    pub loaded_milli: Option<i64>,
    pub display: Option<String>,
    /// The credit the meter holds, in Wh.
    pub credit_milli: i64,
}

impl std::fmt::Debug for ImportCardKeyRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ImportCardKeyRequest")
            .field("key_no", &self.key_no)
            .field("algorithm", &self.algorithm)
            .finish_non_exhaustive()
    }
}

/// An online payment channel (a merchant account at a provider).
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct PaymentChannelView {
    pub id: Uuid,
    /// `wechat_pay`, `alipay`, `unionpay` or `mpesa`.
    pub provider: String,
    pub name: String,
    pub premises_id: Uuid,
    pub books_id: Uuid,
    pub currency: String,
    /// Its receipt series.
    pub vending_point_id: Uuid,
    /// Its standing shift, whose drawer is the provider's clearing account.
    pub shift_id: Uuid,
    pub clearing_account_id: Uuid,
    pub active: bool,
    pub created_at: String,
    /// Where the provider sends its notifications (append to the server's public URL).
    pub notify_path: String,
}

impl From<&voltvend_ops::PaymentChannel> for PaymentChannelView {
    fn from(c: &voltvend_ops::PaymentChannel) -> Self {
        Self {
            id: c.id.as_uuid(),
            provider: c.provider.as_str().to_string(),
            name: c.name.clone(),
            premises_id: c.premises_id.as_uuid(),
            books_id: c.books_id.as_uuid(),
            currency: c.currency.code().to_string(),
            vending_point_id: c.vending_point_id.as_uuid(),
            shift_id: c.shift_id.as_uuid(),
            clearing_account_id: c.clearing.as_uuid(),
            active: c.active,
            created_at: instant(c.created_at),
            notify_path: format!("/pay/notify/{}", c.id),
        }
    }
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CreatePaymentChannelRequest {
    /// `wechat_pay`, `alipay`, `unionpay` or `mpesa`.
    pub provider: String,
    pub name: String,
    /// Where it sells: a property, or one building of it (it sells for the books of the property).
    pub premises_id: Uuid,
    pub currency: String,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ChannelActiveRequest {
    pub active: bool,
}

/// A customer's intent to pay online, and what became of it.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct PaymentIntentView {
    pub id: Uuid,
    /// The merchant order number the provider knows it by (`out_trade_no`).
    pub order_no: String,
    pub channel_id: Uuid,
    pub account_id: Uuid,
    pub meter_id: Uuid,
    pub amount: MoneyView,
    /// `energy` (a sale) or `fees` (rent, property fees and bills alone: a fee payment).
    pub purpose: String,
    pub created_at: String,
    pub expires_at: String,
    /// `open`, `paid`, `refused`, `held` or `expired`.
    pub status: String,
    /// The provider's reference for the order, where it names orders itself (M-Pesa's `CheckoutRequestID`).
    pub provider_ref: Option<String>,
    /// The provider's transaction number, once paid (for M-Pesa, the `CheckoutRequestID` its query confirmed).
    pub provider_txn: Option<String>,
    /// What the provider says was paid, in its currency (`paid_currency`), in minor units.
    pub paid_minor: Option<String>,
    pub paid_currency: Option<String>,
    pub paid_at: Option<String>,
    /// The sale or fee payment, or the refused payment, it became.
    pub settled_by: Option<Uuid>,
    pub reason_code: String,
}

impl From<&voltvend_ops::PaymentIntent> for PaymentIntentView {
    fn from(i: &voltvend_ops::PaymentIntent) -> Self {
        Self {
            id: i.id.as_uuid(),
            order_no: i.order_no(),
            channel_id: i.channel_id.as_uuid(),
            account_id: i.account_id.as_uuid(),
            meter_id: i.meter_id.as_uuid(),
            amount: money(i.amount_minor, i.currency),
            purpose: i.purpose.as_str().to_string(),
            created_at: instant(i.created_at),
            expires_at: instant(i.expires_at),
            status: i.status.as_str().to_string(),
            provider_ref: i.provider_ref.clone(),
            provider_txn: i.provider_txn.clone(),
            paid_minor: i.paid_minor.map(|m| m.to_string()),
            paid_currency: i.paid_currency.clone(),
            paid_at: i.paid_at.map(instant),
            settled_by: i.settled_by.map(|x| x.as_uuid()),
            reason_code: i.reason_code.clone(),
        }
    }
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CreatePaymentIntentRequest {
    pub channel_id: Uuid,
    pub account_id: Uuid,
    pub meter_id: Uuid,
    /// In major units of the account's currency: "50.00".
    pub amount: String,
    /// How long the customer has to pay: 1–1440 minutes (default 15).
    pub expires_in_minutes: Option<u32>,
    /// `energy` (the default: credit, a sale) or `fees` (rent, property fees and bills alone).
    pub purpose: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct IntentQuery {
    pub channel_id: Option<Uuid>,
    pub account_id: Option<Uuid>,
    /// `open`, `paid`, `refused`, `held` or `expired`.
    pub status: Option<String>,
    pub limit: Option<u32>,
    pub after: Option<String>,
}

/// The provider's order for an intent.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct PaymentOrderView {
    pub intent: PaymentIntentView,
    /// What the customer's QR code holds: WeChat Pay's `weixin://…` code URL, or Alipay's `https://qr.alipay.com/…`.
    /// None for M-Pesa, which pushes a prompt to the payer's phone instead.
    pub pay_url: Option<String>,
    /// M-Pesa: the prompt pushed to the payer's phone, by Daraja's `CheckoutRequestID`.
    pub prompt_reference: Option<String>,
    /// UnionPay: the signed form the customer's browser posts to UnionPay's payment page.
    pub form: Option<PaymentFormView>,
}

/// A form to post from the customer's browser to the provider (every field hidden, as signed).
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct PaymentFormView {
    pub action: String,
    pub fields: std::collections::BTreeMap<String, String>,
}

/// Who pays, where the provider needs to know before the order (M-Pesa pushes its prompt to a phone).
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PaymentOrderRequest {
    /// M-Pesa: the payer's Kenyan mobile number (`0712345678`, `+254712345678`…). Not kept.
    pub phone: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StatementReconciliationRequest {
    /// The statement's day, in the provider's calendar (Beijing's for WeChat Pay, Alipay and UnionPay — whose
    /// file is named after it — Nairobi's for M-Pesa): "2026-11-23".
    pub date: String,
    /// The statement as text: WeChat Pay's trade bill, Alipay's detail file, UnionPay's ZM file or M-Pesa's
    /// organisation statement (CSV). Or give `statement_base64` instead.
    pub statement: Option<String>,
    /// The file as downloaded, in base64: UTF-8 or GBK, plain, gzip (WeChat Pay) or the provider's zip (Alipay's
    /// bill zip, UnionPay's file zip: the statement is taken from it by name).
    pub statement_base64: Option<String>,
}

impl StatementReconciliationRequest {
    /// The file's bytes: exactly one of the two fields.
    pub fn file(&self) -> Result<Vec<u8>, crate::api::error::ApiError> {
        use crate::api::error::ApiError;
        use base64::Engine;
        match (&self.statement, &self.statement_base64) {
            (Some(text), None) => Ok(text.as_bytes().to_vec()),
            (None, Some(b64)) => base64::engine::general_purpose::STANDARD
                .decode(b64.trim())
                .map_err(|_| ApiError::field("statement_base64", "bad_request", "not base64")),
            _ => {
                Err(ApiError::field("statement", "bad_request", "give the statement or statement_base64, one of them"))
            }
        }
    }
}

/// A payment seen on one side only, or with different amounts.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct DifferenceView {
    /// Payments: `amount` (both sides, different), `not_in_ledger` (the provider took it; we did not record
    /// it), `not_in_statement` (we recorded it; the provider's statement does not show it). Refunds:
    /// `refund_not_recorded` (the provider handed back a refused payment we still owe), `refund_amount` (a
    /// refund recorded for another amount), `refund_of_credited` (handed back a payment credited after review:
    /// the customer has both), `refund_unknown` (handed back a payment we kept no refund owed for — a sale's
    /// money), `refund_not_in_statement` (we recorded a refund that day; the statement does not show it).
    pub kind: String,
    pub order_no: String,
    pub transaction_id: String,
    pub statement: Option<MoneyView>,
    pub ledger: Option<MoneyView>,
    /// What became of the intent, when there is one.
    pub intent_status: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PositionQuery {
    /// The day, in each channel's property's calendar: "2026-11-23".
    pub date: String,
}

/// How many, and how much.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct TallyView {
    pub count: u32,
    pub total: MoneyView,
}

/// A day's position through a channel (or a provider's channels).
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct PositionFiguresView {
    /// Payments that became sales.
    pub sold: TallyView,
    /// Payments of another amount, held for review (owed back until decided).
    pub held: TallyView,
    /// Payments kept as refused (after expiry, a second payment, a suspended account…): owed back.
    pub kept: TallyView,
    /// Everything that came in: sold + held + kept (what the clearing account was debited with that day).
    pub collected: MoneyView,
    /// Refunds of refused payments recorded that day (out of the clearing account).
    pub refunded: TallyView,
    /// What the provider owes by the ledger now (the clearing account's balance).
    pub clearing_balance: MoneyView,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct ChannelPositionView {
    pub channel_id: Uuid,
    pub name: String,
    pub provider: String,
    #[serde(flatten)]
    pub figures: PositionFiguresView,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct ProviderPositionView {
    pub provider: String,
    pub currency: String,
    #[serde(flatten)]
    pub figures: PositionFiguresView,
}

/// 头寸: a day's position of the online payment channels in scope, each and per provider and currency.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct PaymentPositionView {
    pub date: String,
    pub channels: Vec<ChannelPositionView>,
    pub providers: Vec<ProviderPositionView>,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct StatementRefundView {
    pub order_no: String,
    pub transaction_id: String,
    pub amount: MoneyView,
}

/// A provider's statement as kept.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct StatementView {
    /// The importing operation.
    pub id: Uuid,
    pub channel_id: Uuid,
    /// The provider's day it covers.
    pub date: String,
    /// SHA-256 of the file, in hex.
    pub sha256: String,
    pub imported_at: String,
    pub imported_by: Option<Uuid>,
    pub lines: u32,
    /// Its payments and refunds, on every day the file holds.
    pub payments: TallyView,
    pub refunds: TallyView,
}

impl StatementView {
    pub fn of(s: &voltvend_ops::PaymentStatement, c: Currency) -> Self {
        let tally = |kind: voltvend_ops::StatementEntryKind| {
            let of_kind = s.lines.iter().filter(|l| l.kind == kind);
            TallyView { count: of_kind.clone().count() as u32, total: money(of_kind.map(|l| l.amount_minor).sum(), c) }
        };
        Self {
            id: s.id.as_uuid(),
            channel_id: s.channel_id.as_uuid(),
            date: s.day.to_string(),
            sha256: s.digest.iter().map(|b| format!("{b:02x}")).collect(),
            imported_at: s.imported_at.to_string(),
            imported_by: s.imported_by.map(|o| o.as_uuid()),
            lines: s.lines.len() as u32,
            payments: tally(voltvend_ops::StatementEntryKind::Payment),
            refunds: tally(voltvend_ops::StatementEntryKind::Refund),
        }
    }
}

/// A provider's statement for one day beside what the ledger recorded through the channel.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct StatementReconciliationView {
    pub channel_id: Uuid,
    pub date: String,
    /// The statement kept (absent for a check of a file that was not imported).
    pub statement: Option<StatementView>,
    pub statement_payments: u32,
    pub statement_total: MoneyView,
    pub ledger_payments: u32,
    pub ledger_total: MoneyView,
    /// Payments on both sides with the same amount.
    pub matched: u32,
    pub differences: Vec<DifferenceView>,
    /// Refunds the statement shows.
    pub statement_refunds: Vec<StatementRefundView>,
    /// Of those, the ones that hand back a refused payment recorded as refunded, for its amount.
    pub refunds_matched: u32,
    /// What the provider owes now by the ledger (the clearing account's balance).
    pub clearing_balance: MoneyView,
}

// ---------------------------------------------------------------------------------------------------------
// Common-area apportionment (公摊)

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct InstallMeterRequest {
    /// Where the meter is installed with no account: a site, building or floor (a parent or common-area meter),
    /// or a vacant unit.
    pub premises_id: Uuid,
}

/// A meter installed with no account: read by the head end, measured, billed to nobody.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct InstalledMeterView {
    pub meter_id: Uuid,
    pub premises_id: Uuid,
    /// `installed`.
    pub state: String,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ApportionedUnitRequest {
    pub premises_id: Uuid,
    /// Floor area in m² with up to two decimals: "85.50". Required when the rule shares by floor area.
    pub floor_area_m2: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateApportionmentRuleRequest {
    pub name: String,
    /// The site: every meter and unit of the rule lies within it, and its time zone draws the months.
    pub premises_id: Uuid,
    /// `electricity` or `water`.
    pub utility: String,
    /// `floor_area` (按面积), `consumption` (按用量) or `equal` (均摊).
    pub basis: String,
    /// `common` (the common-area meters' consumption) or `common_and_loss` (everything the parent meter
    /// measured beyond the units' meters: common areas and line loss).
    pub pool: String,
    /// What a kWh (m³) of the pool is charged at, up to six decimals: "0.6".
    pub price: String,
    pub currency: String,
    /// The site's incomer (总表); required for `common_and_loss`, and for a line-loss figure.
    pub parent_meter_id: Option<Uuid>,
    /// The common areas' own meters (public lighting, lifts, pumps).
    #[serde(default)]
    pub common_meter_ids: Vec<Uuid>,
    pub units: Vec<ApportionedUnitRequest>,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct ApportionedUnitView {
    pub premises_id: Uuid,
    pub name: String,
    /// m² with two decimals.
    pub floor_area_m2: String,
}

/// A rule and the months posted under it.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct ApportionmentRuleView {
    pub id: Uuid,
    pub name: String,
    pub premises_id: Uuid,
    pub utility: String,
    pub basis: String,
    pub pool: String,
    /// Per kWh or m³, with six decimals.
    pub price: String,
    pub currency: String,
    pub unit: String,
    pub parent_meter_id: Option<Uuid>,
    pub common_meter_ids: Vec<Uuid>,
    pub units: Vec<ApportionedUnitView>,
    pub created_at: String,
    /// The months posted, latest first (`YYYY-MM`).
    pub posted: Vec<String>,
}

/// One unit's share of a month, with what it was computed from.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct UnitShareView {
    pub premises_id: Uuid,
    pub name: String,
    /// The account charged; none for a vacant unit (its share is borne by the site).
    pub account_id: Option<Uuid>,
    /// The unit's weight under the basis: its floor area (in m², two decimals), its consumption (three
    /// decimals), or 1.
    pub weight: String,
    /// Its share of all the weights, in hundredths of a percent with two decimals: "31.93".
    pub weight_percent: String,
    pub consumption: QuantityView,
    pub share: QuantityView,
    pub amount: MoneyView,
    pub transfer_id: Option<Uuid>,
}

/// A month of a rule: the line loss and the pool, and each unit's share — posted, or as posting it would
/// be now (a preview, computed by the posting itself and thrown away).
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct ApportionmentPeriodView {
    pub rule_id: Uuid,
    pub rule_name: String,
    /// `YYYY-MM`.
    pub period: String,
    /// `posted` or `preview`.
    pub status: String,
    pub from: String,
    pub to: String,
    pub basis: String,
    pub pool_kind: String,
    pub parent: Option<QuantityView>,
    pub units: QuantityView,
    pub common: QuantityView,
    /// `parent − units − common`: what no child meter measured.
    pub loss: Option<QuantityView>,
    /// The loss as a share of the parent, in percent with two decimals.
    pub loss_percent: Option<String>,
    /// What is shared (negative when the children measured more than the parent: then nothing is).
    pub pool: QuantityView,
    pub price: String,
    /// The pool valued at the price, rounded down to the minor unit.
    pub amount: MoneyView,
    /// What was (or would be) charged to accounts, and what vacant units' shares leave with the site.
    pub charged: MoneyView,
    pub borne_by_site: MoneyView,
    pub shares: Vec<UnitShareView>,
    pub operation_id: Option<Uuid>,
    pub posted_at: Option<String>,
}

/// A unit's statement of a month (公摊明细): the month's figures with the unit's own line.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct UnitStatementView {
    /// The month, with `shares` holding this unit's line only.
    pub period: ApportionmentPeriodView,
    /// The sum of every unit's weight: the unit's share is its weight over this of the amount.
    pub total_weight: String,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MeterCategoryRequest {
    /// 分类: `lighting_sockets` (照明插座), `hvac` (空调), `power` (动力) or `special` (特殊).
    pub category: String,
    /// 分项: lifts, pumps, office lighting… (at most 60 bytes; may be empty).
    #[serde(default)]
    pub sub_item: String,
}

/// What a meter measures, for energy analysis.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct MeterCategoryView {
    pub meter_id: Uuid,
    pub category: String,
    pub sub_item: String,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BooksQuery {
    /// json (the default), csv, xlsx or pdf.
    pub format: Option<String>,
    /// For pdf: zh-CN (the default) or en.
    pub lang: Option<String>,
}

/// One kind of ledger account of a property, summed.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct BooksLineView {
    /// customer_wallet, customer_arrears, cash_drawer, payment_clearing, energy_revenue, tax, refunds…
    pub kind: String,
    pub accounts: i64,
    pub debits: MoneyView,
    pub credits: MoneyView,
    /// Debits less credits.
    pub balance: MoneyView,
}

/// A property's books in one currency: every ledger account of its premises.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct PropertyBooksView {
    pub premises_id: Uuid,
    pub name: String,
    pub currency: String,
    pub lines: Vec<BooksLineView>,
    pub debits: MoneyView,
    pub credits: MoneyView,
    /// Debits less credits: zero when the property's books balance on their own. A transfer between two
    /// properties' accounts leaves one above and the other below by as much.
    pub out_of_balance: MoneyView,
    pub balanced: bool,
}

/// The group's books in one currency: the sum of its properties', and the whole ledger summed directly.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct GroupBooksView {
    pub currency: String,
    pub debits: MoneyView,
    pub credits: MoneyView,
    pub balanced: bool,
    /// Whether the whole ledger, summed directly, is the sum of the properties' books.
    pub sum_of_properties: bool,
}

/// 集团财务: each property's books on their own, and the group's as their sum.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct PropertyBooksReportView {
    pub properties: Vec<PropertyBooksView>,
    pub group: Vec<GroupBooksView>,
}

/// A unit's floor area (建筑面积).
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FloorAreaRequest {
    /// Square metres with up to two decimals: "85.50".
    #[schemars(regex(pattern = r"^[0-9]{1,7}(\.[0-9]{1,2})?$"))]
    pub floor_area_m2: String,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct FloorAreaView {
    pub premises_id: Uuid,
    pub floor_area_m2: String,
}

/// What overdue rent and fees do to energy sales within a premises.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FeePolicyRequest {
    /// nothing, block_sales or share_of_purchase.
    pub policy: String,
    /// For share_of_purchase: the percentage of each purchase that pays overdue fees first, up to two decimals.
    #[schemars(regex(pattern = r"^[0-9]{1,3}(\.[0-9]{1,2})?$"))]
    pub share_percent: Option<String>,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct FeePolicyView {
    pub premises_id: Uuid,
    pub premises_name: String,
    pub policy: String,
    /// "30.00" for a 30 % share; "0.00" unless the policy takes a share.
    pub share_percent: String,
}

/// 收费项目: a monthly rent or property fee on a site's units.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateFeeScheduleRequest {
    /// The site: every unit within it with an open account is charged.
    pub premises_id: Uuid,
    pub name: String,
    /// per_unit, per_m2, or postpaid (a postpaid billing cycle: each postpaid account's monthly bill).
    pub basis: String,
    /// The month's amount per unit or per m², or a postpaid bill's standing charge (which may be 0), in major
    /// units: "3.50".
    #[schemars(regex(pattern = r"^[0-9]{1,15}(\.[0-9]{1,3})?$"))]
    pub rate: String,
    pub currency: String,
    /// The day of the month a charge falls due, 1–28.
    pub due_day: i64,
    /// The late fee, a percentage (two decimals at most) of what a charge still owes when its month is dunned
    /// after the due date; none when left out.
    #[serde(default)]
    pub late_fee_percent: Option<String>,
    /// A postpaid cycle only: the days of notice after dunning before the supplies of bills still unpaid may be
    /// disconnected (0 or left out: never). Enable it only where the law and the contracts allow it.
    #[serde(default)]
    pub disconnect_after_days: Option<i64>,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct FeeScheduleView {
    pub id: Uuid,
    pub premises_id: Uuid,
    pub premises_name: String,
    pub name: String,
    pub basis: String,
    pub rate: MoneyView,
    pub due_day: i64,
    /// The late fee's percentage ("0.00": none).
    pub late_fee_percent: String,
    /// Days of notice after dunning before a postpaid cycle's unpaid bills are disconnected (0: never).
    pub disconnect_after_days: i64,
    /// The schedule's receivable and revenue accounts in the ledger.
    pub receivable_id: Uuid,
    pub revenue_id: Uuid,
    pub created_at: String,
    /// The months issued, latest first ("2026-11").
    pub issued: Vec<String>,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct FeeChargeView {
    pub schedule_id: Uuid,
    pub schedule_name: String,
    pub period: String,
    pub premises_id: Uuid,
    pub unit: String,
    pub account_id: Uuid,
    pub amount: MoneyView,
    pub paid: MoneyView,
    pub outstanding: MoneyView,
    pub due_on: String,
    /// Unpaid after its due date, today in the site's time zone.
    pub overdue: bool,
    /// A postpaid bill's usage (what the account used since its last bill) and the wallet credit applied.
    pub usage: MoneyView,
    pub credit_applied: MoneyView,
    /// What earlier charges of the account still owed when this one was issued (not in its amount).
    pub carried: MoneyView,
    /// The late fee added when its month was dunned (in its amount).
    pub late_fee: MoneyView,
    /// What approved corrections changed its amount by (`adjust_charge`; negative when reduced, in its amount).
    pub adjusted: MoneyView,
    /// A postpaid bill's document (JSON; `format=pdf` prints it).
    pub bill: Option<String>,
}

/// A month of a schedule: issued, or as issuing it would be now (a preview).
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct FeePeriodView {
    pub schedule_id: Uuid,
    pub schedule_name: String,
    pub period: String,
    /// issued or preview.
    pub status: String,
    pub due_on: String,
    pub charged: i64,
    /// Units with no open account: charged nothing.
    pub vacant: i64,
    /// A postpaid cycle's units whose account is prepaid: not billed.
    pub not_postpaid: i64,
    pub total: MoneyView,
    pub charges: Vec<FeeChargeView>,
    pub operation_id: Option<Uuid>,
    pub issued_at: Option<String>,
    /// When the month was dunned (催缴), how many overdue charges were reminded, and the late fees charged.
    pub dunned_at: Option<String>,
    pub dunned: i64,
    pub late_fees: MoneyView,
    /// When the supplies of bills still unpaid after the notice were disconnected, and how many meters.
    pub disconnected_at: Option<String>,
    pub disconnected: i64,
}

/// 账单: a postpaid account's bill for a month, and what it is made of.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct BillView {
    pub schedule_id: Uuid,
    pub schedule_name: String,
    pub period: String,
    pub premises_id: Uuid,
    pub unit: String,
    pub account_id: Uuid,
    pub customer_name: String,
    pub issued_at: String,
    pub due_on: String,
    /// The readings it covers: taken after the cycle's previous bill to the account (for its first bill, from
    /// the start of the month billed) and before this one was issued.
    pub readings_from: String,
    pub readings_to: String,
    /// What each meter used in that span, as billed (kWh or m³, three decimals), and by TOU period.
    pub consumption: Vec<BillConsumptionView>,
    pub consumption_by_tou: Vec<BillConsumptionView>,
    /// What usage is made of: the readings' energy charges in the span without tax, their tax, and the
    /// common-area shares (公摊) charged in it …
    pub energy_charges: MoneyView,
    pub tax: MoneyView,
    pub common_area: MoneyView,
    /// … and the rest: owed from before the span (or before the account went postpaid) when positive, prepaid
    /// credit that paid some of it as it was used when negative. The four sum to usage.
    pub earlier_balance: MoneyView,
    pub usage: MoneyView,
    pub standing_charge: MoneyView,
    pub credit_applied: MoneyView,
    pub late_fee: MoneyView,
    /// What approved corrections changed it by (减免 negative, a charge raised positive).
    pub adjusted: MoneyView,
    /// usage + standing charge − credit applied + late fee + adjusted.
    pub amount: MoneyView,
    pub paid: MoneyView,
    pub outstanding: MoneyView,
    /// Earlier bills and fees the account still owed when it was issued.
    pub carried: MoneyView,
    pub overdue: bool,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct BillConsumptionView {
    /// A meter's serial, or a TOU period's name (empty: readings without TOU registers).
    pub label: String,
    pub utility: String,
    pub readings: i64,
    pub consumption: String,
}

/// A month's bills (the charges of a fee schedule or postpaid billing cycle).
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BillsQuery {
    pub schedule_id: Uuid,
    /// YYYY-MM.
    pub period: String,
    /// json (the default: the month's view), csv, xlsx or pdf.
    pub format: Option<String>,
    /// For pdf: zh-CN (the default) or en.
    pub lang: Option<String>,
}

/// A bill's format: json (the default) or pdf, in `lang` (zh-CN, the default, or en).
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BillQuery {
    pub format: Option<String>,
    pub lang: Option<String>,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct FeeLineView {
    pub schedule_id: Uuid,
    pub schedule_name: String,
    pub period: String,
    pub premises_id: Uuid,
    pub amount: MoneyView,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct FeePaymentView {
    /// The operation id of the payment.
    pub id: Uuid,
    pub receipt_no: i64,
    pub vending_point_id: Uuid,
    pub shift_id: Uuid,
    pub operator_id: Uuid,
    pub account_id: Uuid,
    pub at: String,
    pub method: String,
    pub reference: String,
    pub paid: MoneyView,
    /// The charges it paid, oldest due first.
    pub lines: Vec<FeeLineView>,
    /// A postpaid account's over-payment, credited to its wallet.
    pub credit: MoneyView,
    pub transfer_id: Uuid,
    pub receipt: ReceiptLinks,
    /// Taken back by an approved correction (`reverse_fee_payment`): the money is owed back to the customer.
    pub reversed: bool,
}

/// An account's rent and fees: what it owes, what is overdue, the policy that applies, its charges and
/// payments.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct AccountFeesView {
    pub account_id: Uuid,
    pub owed: MoneyView,
    pub overdue: MoneyView,
    /// The overdue-fee policy of the nearest premises on the account's path that has one (nothing if none).
    pub policy: String,
    pub share_percent: String,
    pub charges: Vec<FeeChargeView>,
    pub payments: Vec<FeePaymentView>,
}

/// 收费: rent and fees paid at the counter.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FeePaymentRequest {
    /// The amount paid in major units: "400.00" (at most what the account owes).
    #[schemars(regex(pattern = r"^[0-9]{1,15}(\.[0-9]{1,3})?$"))]
    pub amount: String,
    /// cash, bank_card or bank_transfer.
    pub method: String,
    #[serde(default)]
    pub reference: String,
    /// The shift to take it through; default: the operator's open shift.
    pub shift_id: Option<Uuid>,
}
