//! Customers, accounts (开户 included) and meters.

use axum::Extension;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use voltvend_domain::tariff::inverse::ArrearsRecovery;
use voltvend_domain::{
    AccountId, ControlMode, CtVtRatio, Currency, Customer, CustomerId, CustomerKind, IdDocument, IdDocumentKind, Meter,
    MeterId, MeterProtocol, MeterState, PremisesId, Side, Utility,
};
use voltvend_ops::{
    AccountRecord, Command, CustomerRef, MeterBinding, OpenAccount, OpgBinding, OpgUnit, Outcome, PaymentMethod, Sale,
    SaleAmount,
};
use voltvend_store::{AccountFilter, CustomerFilter, ListQuery, MeterFilter};
use voltvend_sts::keys::{KeyParams, KeyType};
use voltvend_sts::{BaseDate, Ea, MeterKeyRecord, Pan};

use super::places::{books_for, currency};
use crate::api::auth::Principal;
use crate::api::error::{ApiError, ApiResult};
use crate::api::extract::{ApiJson, ApiPath, ApiQuery, ClientAddr, IdempotencyKey};
use crate::api::views::*;
use crate::api::write::{self, Reply};
use crate::http::AppState;

pub async fn list_customers(
    State(app): State<AppState>,
    Extension(p): Extension<Principal>,
    ApiQuery(q): ApiQuery<CustomerQuery>,
) -> ApiResult<axum::Json<Page<CustomerView>>> {
    let limit = page_limit(q.limit)?;
    let filter = CustomerFilter { q: q.q, premises: q.premises_id.map(Into::into) };
    let list = app.store.list_customers(&ListQuery { scope: Some(p.scope()), after: q.after, limit }, &filter).await?;
    Ok(axum::Json(Page::of(list.iter().map(CustomerView::from).collect(), limit, |c| c.id.to_string())))
}

pub async fn get_customer(
    State(app): State<AppState>,
    Extension(p): Extension<Principal>,
    ApiPath(id): ApiPath<uuid::Uuid>,
) -> ApiResult<axum::Json<CustomerView>> {
    let c = app.store.customer(id.into()).await.map_err(|_| ApiError::not_found("customer"))?;
    app.visible(&p, c.premises_id, "customer").await?;
    Ok(axum::Json(CustomerView::from(&c)))
}

/// The view of an account: balances from the ledger; its meters when `with_meters`.
pub async fn account_view(app: &AppState, a: &AccountRecord, with_meters: bool) -> ApiResult<AccountView> {
    let c = a.account.currency;
    let (wallet, wallet_balance) = app.store.ledger_account(a.wallet).await?;
    let (_, arrears) = app.store.ledger_account(a.arrears).await?;
    let balance = wallet_balance.normal(Side::Credit);
    let overdraft = wallet.overdraft_limit_minor.unwrap_or(0);
    let mut meters = Vec::new();
    if with_meters {
        let q = ListQuery { scope: None, after: None, limit: ListQuery::LIMIT_MAX };
        let f = MeterFilter { account: Some(a.account.id), ..MeterFilter::default() };
        // A meter replaced on the account is its history, not one of its meters.
        for m in app.store.list_meters(&q, &f).await?.iter().filter(|m| m.meter.state == MeterState::Active) {
            meters.push(meter_view(app, m, Some(c)).await?);
        }
    }
    Ok(AccountView {
        id: a.account.id.as_uuid(),
        customer_id: a.account.customer_id.as_uuid(),
        premises_id: a.account.premises_id.as_uuid(),
        status: a.account.status.as_str().to_string(),
        billing_mode: a.account.billing_mode.as_str().to_string(),
        currency: c.code().to_string(),
        balance: money(balance, c),
        available: money(balance.saturating_add(overdraft), c),
        arrears: money(arrears.normal(Side::Debit).max(0), c),
        overdraft_limit: money(overdraft, c),
        recovery: recovery_view(a.recovery, c),
        min_purchase: money(a.min_purchase_minor, c),
        max_balance: a.max_balance_minor.map(|m| money(m, c)),
        meters,
    })
}

fn recovery_view(r: ArrearsRecovery, c: Currency) -> RecoveryView {
    match r {
        ArrearsRecovery::None => RecoveryView { kind: "none".into(), percent: None, amount: None },
        ArrearsRecovery::Share(ppm) => RecoveryView {
            kind: "share".into(),
            percent: Some(voltvend_domain::decimal::format_scaled(ppm, 4)),
            amount: None,
        },
        ArrearsRecovery::Fixed(m) => {
            RecoveryView { kind: "fixed".into(), percent: None, amount: Some(money(m, c).amount) }
        }
    }
}

fn parse_recovery(r: Option<&RecoveryView>, c: Currency) -> ApiResult<ArrearsRecovery> {
    let Some(r) = r else { return Ok(ArrearsRecovery::None) };
    match (r.kind.as_str(), &r.percent, &r.amount) {
        ("none", None, None) => Ok(ArrearsRecovery::None),
        ("share", Some(pct), None) => {
            let ppm = voltvend_domain::decimal::parse_scaled(pct.trim(), 4)
                .ok()
                .filter(|v| (0..=1_000_000).contains(v))
                .ok_or_else(|| {
                    ApiError::field("recovery.percent", "bad_value", "a percentage 0–100, up to 4 decimals")
                })?;
            Ok(ArrearsRecovery::Share(ppm))
        }
        ("fixed", None, Some(amount)) => {
            let minor = parse_money("recovery.amount", amount, c)?;
            if minor < 0 {
                return Err(ApiError::field("recovery.amount", "bad_value", "a fixed recovery is not negative"));
            }
            Ok(ArrearsRecovery::Fixed(minor))
        }
        _ => Err(ApiError::field(
            "recovery",
            "bad_value",
            "recovery is {kind: none} or {kind: share, percent} or {kind: fixed, amount}",
        )),
    }
}

pub async fn meter_view(
    app: &AppState,
    m: &voltvend_ops::MeterRecord,
    currency: Option<Currency>,
) -> ApiResult<MeterView> {
    let sts = match m.meter.protocol {
        MeterProtocol::StsKeypad => app.store.sts_state(m.meter.id).await?,
        _ => None,
    };
    let opg = match m.meter.protocol {
        MeterProtocol::OpenPaygo => app.store.opg_state(m.meter.id).await?,
        _ => None,
    };
    Ok(MeterView::of(m, sts.as_ref(), opg.as_ref(), currency))
}

pub async fn list_accounts(
    State(app): State<AppState>,
    Extension(p): Extension<Principal>,
    ApiQuery(q): ApiQuery<AccountQuery>,
) -> ApiResult<axum::Json<Page<AccountView>>> {
    let limit = page_limit(q.limit)?;
    let filter = AccountFilter { customer: q.customer_id.map(Into::into), status: q.status };
    let list = app.store.list_accounts(&ListQuery { scope: Some(p.scope()), after: q.after, limit }, &filter).await?;
    let mut items = Vec::with_capacity(list.len());
    for a in &list {
        items.push(account_view(&app, a, false).await?);
    }
    Ok(axum::Json(Page::of(items, limit, |a| a.id.to_string())))
}

/// An account the principal may see.
pub async fn visible_account(app: &AppState, p: &Principal, id: AccountId) -> ApiResult<AccountRecord> {
    let a = app.store.account(id).await.map_err(|_| ApiError::not_found("account"))?;
    app.visible(p, a.account.premises_id, "account").await?;
    Ok(a)
}

pub async fn get_account(
    State(app): State<AppState>,
    Extension(p): Extension<Principal>,
    ApiPath(id): ApiPath<uuid::Uuid>,
) -> ApiResult<axum::Json<AccountView>> {
    let a = visible_account(&app, &p, id.into()).await?;
    Ok(axum::Json(account_view(&app, &a, true).await?))
}

pub async fn list_meters(
    State(app): State<AppState>,
    Extension(p): Extension<Principal>,
    ApiQuery(q): ApiQuery<MeterQuery>,
) -> ApiResult<axum::Json<Page<MeterView>>> {
    let limit = page_limit(q.limit)?;
    if let Some(r) = q.relay.as_deref()
        && r != "open"
        && r != "closed"
    {
        return Err(ApiError::field("relay", "bad_value", "relay: open (tripped) or closed"));
    }
    let filter = MeterFilter {
        account: q.account_id.map(Into::into),
        state: q.state,
        protocol: q.protocol,
        utility: q.utility,
        q: q.q,
        relay: q.relay,
        ..MeterFilter::default()
    };
    let list = app.store.list_meters(&ListQuery { scope: Some(p.scope()), after: q.after, limit }, &filter).await?;
    let mut items = Vec::with_capacity(list.len());
    for m in &list {
        items.push(meter_view(&app, m, None).await?);
    }
    Ok(axum::Json(Page::of(items, limit, |m| m.id.to_string())))
}

/// A meter the principal may see (a meter is where it is installed or stocked).
pub async fn visible_meter(app: &AppState, p: &Principal, id: MeterId) -> ApiResult<voltvend_ops::MeterRecord> {
    let m = app.store.meter(id).await.map_err(|_| ApiError::not_found("meter"))?;
    let premises = m.meter.premises_id.ok_or_else(|| ApiError::not_found("meter"))?;
    app.visible(p, premises, "meter").await?;
    Ok(m)
}

pub async fn get_meter(
    State(app): State<AppState>,
    Extension(p): Extension<Principal>,
    ApiPath(id): ApiPath<uuid::Uuid>,
) -> ApiResult<axum::Json<MeterView>> {
    let m = visible_meter(&app, &p, id.into()).await?;
    let currency = match m.meter.account_id {
        Some(a) => Some(app.store.account(a).await?.account.currency),
        None => None,
    };
    Ok(axum::Json(meter_view(&app, &m, currency).await?))
}

/// A meter to receive, checked.
pub fn new_meter(id: MeterId, r: &ReceiveMeterRequest, premises: PremisesId, field: &str) -> ApiResult<Meter> {
    let utility: Utility = r
        .utility
        .parse()
        .map_err(|_| ApiError::field(&format!("{field}.utility"), "bad_value", "electricity or water"))?;
    let protocol: MeterProtocol = r.protocol.parse().map_err(|_| {
        ApiError::field(
            &format!("{field}.protocol"),
            "bad_value",
            "dlt645, modbus_tcp, mqtt, sts_keypad, ic_card or openpaygo",
        )
    })?;
    let control = if protocol.is_local() { ControlMode::Local } else { ControlMode::Remote };
    let ratio = CtVtRatio::new(r.ct_ratio, r.vt_ratio).map_err(|e| ApiError::from(voltvend_ops::OpError::from(e)))?;
    let mut m = Meter::receive(id, &r.serial, utility, control, protocol, &r.address, ratio)
        .map_err(|e| ApiError::from(voltvend_ops::OpError::from(e)).with("field", field))?;
    m.premises_id = Some(premises);
    Ok(m)
}

pub async fn receive_meter(
    State(app): State<AppState>,
    Extension(p): Extension<Principal>,
    key: IdempotencyKey,
    ClientAddr(source): ClientAddr,
    ApiJson(body): ApiJson<ReceiveMeterRequest>,
) -> ApiResult<Response> {
    let premises =
        body.premises_id.ok_or_else(|| ApiError::field("premises_id", "premises_required", "where is it stocked?"))?;
    app.visible(&p, premises.into(), "premises").await?;
    let id: MeterId = write::derived_id(write::operation_id(p.id(), &key.0), "meter");
    let meter = new_meter(id, &body, premises.into(), "")?;
    let view = MeterView::of(
        &voltvend_ops::MeterRecord {
            meter: meter.clone(),
            tariff_code: None,
            relay: voltvend_ops::Relay::Closed,
            max_credit_minor: None,
            local: voltvend_ops::LocalCredit::default(),
        },
        None,
        None,
        None,
    );
    write::submit(&app, &p, &key, &source, Command::ReceiveMeter(meter), move |_| {
        Reply::json(StatusCode::CREATED, &view)
    })
    .await
}

pub fn method(text: &str) -> ApiResult<PaymentMethod> {
    PaymentMethod::parse(text).ok_or_else(|| ApiError::field("method", "bad_value", "cash, bank_card or bank_transfer"))
}

/// The amount of a sale: money or a quantity, exactly one of them.
pub fn sale_amount(amount: Option<&str>, quantity: Option<&str>, c: Currency) -> ApiResult<SaleAmount> {
    match (amount, quantity) {
        (Some(a), None) => Ok(SaleAmount::Paid(parse_money("amount", a, c)?)),
        (None, Some(q)) => Ok(SaleAmount::Quantity(parse_quantity("quantity", q)?)),
        _ => Err(ApiError::field("amount", "bad_request", "give either amount or quantity")),
    }
}

/// The shift a sale goes through: the one named, or the operator's open one.
pub async fn shift_of(app: &AppState, p: &Principal, given: Option<uuid::Uuid>) -> ApiResult<voltvend_domain::ShiftId> {
    match given {
        Some(id) => Ok(id.into()),
        None => app
            .store
            .open_shift_of(p.id())
            .await?
            .map(|s| s.id)
            .ok_or_else(|| ApiError::new("no_open_shift", "open a shift before selling")),
    }
}

/// The customer of an opening or a transfer: a new file at `premises` (its id derived from the operation) or an
/// existing one the principal may see; with its id.
pub async fn customer_ref(
    app: &AppState,
    p: &Principal,
    new: Option<&CustomerInput>,
    existing: Option<uuid::Uuid>,
    op_id: voltvend_domain::OperationId,
    premises: PremisesId,
) -> ApiResult<(CustomerRef, CustomerId)> {
    match (new, existing) {
        (Some(input), None) => {
            let c = customer_file(input, write::derived_id(op_id, "customer"), premises)?;
            let id = c.id;
            Ok((CustomerRef::New(c), id))
        }
        (None, Some(id)) => {
            let c = app.store.customer(id.into()).await.map_err(|_| ApiError::not_found("customer"))?;
            app.visible(p, c.premises_id, "customer").await?;
            Ok((CustomerRef::Existing(c.id), c.id))
        }
        _ => Err(ApiError::field("customer", "bad_request", "give either customer or customer_id")),
    }
}

/// A customer file from its form, checked (errors name the field under `customer`).
pub fn customer_file(input: &CustomerInput, id: CustomerId, premises: PremisesId) -> ApiResult<Customer> {
    let kind: CustomerKind =
        input.kind.parse().map_err(|_| ApiError::field("customer.kind", "bad_value", "person or company"))?;
    let id_document = match &input.id_document {
        Some(d) => Some(IdDocument {
            kind: d.kind.parse::<IdDocumentKind>().map_err(|_| {
                ApiError::field(
                    "customer.id_document.kind",
                    "bad_value",
                    "national_id, passport, business_licence or other",
                )
            })?,
            number: d.number.clone(),
        }),
        None => None,
    };
    let phones: Vec<&str> = input.phones.iter().map(String::as_str).collect();
    Customer::file(id, premises, kind, &input.name, id_document, &phones, input.email.as_deref())
        .map_err(|e| ApiError::from(voltvend_ops::OpError::from(e)).with("field", "customer"))
}

pub async fn open_account(
    State(app): State<AppState>,
    Extension(p): Extension<Principal>,
    key: IdempotencyKey,
    ClientAddr(source): ClientAddr,
    ApiJson(body): ApiJson<OpenAccountRequest>,
) -> ApiResult<Response> {
    let op_id = write::operation_id(p.id(), &key.0);
    let c = currency("currency", &body.currency)?;
    let premises: PremisesId = body.premises_id.into();
    app.visible(&p, premises, "premises").await?;
    let books_id = books_for(&app, premises, c).await?;
    let account_id: AccountId = write::derived_id(op_id, "account");
    let (customer, customer_id) =
        customer_ref(&app, &p, body.customer.as_ref(), body.customer_id, op_id, premises).await?;
    let limit = |field: &str, v: &Option<String>| v.as_deref().map(|t| parse_money(field, t, c)).transpose();
    // Checked before each meter is looked up, so a long list costs nothing.
    if body.meters.len() > OpenAccount::METERS_MAX {
        return Err(ApiError::field(
            "meters",
            "bad_value",
            format!("at most {} meters per opening", OpenAccount::METERS_MAX),
        ));
    }
    let mut meters = Vec::with_capacity(body.meters.len());
    let mut units = Vec::with_capacity(body.meters.len());
    for (i, b) in body.meters.iter().enumerate() {
        let field = format!("meters[{i}]");
        let (meter_id, receive, address) = match (&b.meter_id, &b.new) {
            (Some(id), None) => {
                let m = visible_meter(&app, &p, (*id).into()).await?;
                units.push(unit_of(m.meter.utility, m.meter.protocol, b.openpaygo.as_ref().map(|o| o.unit.as_str())));
                (m.meter.id, None, m.meter.address)
            }
            (None, Some(new)) => {
                let id: MeterId = write::derived_id(op_id, &format!("meter-{i}"));
                let m = new_meter(id, new, premises, &format!("{field}.new"))?;
                units.push(unit_of(m.utility, m.protocol, b.openpaygo.as_ref().map(|o| o.unit.as_str())));
                let address = m.address.clone();
                (id, Some(m), address)
            }
            _ => return Err(ApiError::field(&field, "bad_request", "give either meter_id or new")),
        };
        let sts = match &b.sts {
            Some(s) => Some(sts_record(s, &address, &format!("{field}.sts"))?),
            None => None,
        };
        let opg = match &b.openpaygo {
            Some(o) => Some(opg_binding(&app, op_id, meter_id, o, c, &format!("{field}.openpaygo"))?),
            None => None,
        };
        meters.push(MeterBinding {
            meter_id,
            receive,
            tariff_code: b.tariff_code.clone(),
            sts,
            opg,
            max_credit_minor: limit(&format!("{field}.max_credit"), &b.max_credit)?,
        });
    }
    let first_sale = match &body.first_sale {
        Some(s) => {
            let meter = meters
                .get(s.meter_index)
                .ok_or_else(|| ApiError::field("first_sale.meter_index", "bad_value", "no meter at that position"))?;
            Some(Sale {
                account_id,
                meter_id: meter.meter_id,
                shift_id: shift_of(&app, &p, None).await?,
                method: method(&s.method)?,
                amount: sale_amount(s.amount.as_deref(), s.quantity.as_deref(), c)?,
                fees_minor: limit("first_sale.fees", &s.fees)?.unwrap_or(0),
                reference: s.reference.clone(),
                expected_paid_minor: limit("first_sale.expected_paid", &s.expected_paid)?,
            })
        }
        None => None,
    };
    let meter_ids: Vec<uuid::Uuid> = meters.iter().map(|m| m.meter_id.as_uuid()).collect();
    let sale_unit = body.first_sale.as_ref().and_then(|s| units.get(s.meter_index).cloned()).unwrap_or_default();
    let command = Command::OpenAccount(OpenAccount {
        customer,
        account_id,
        premises_id: premises,
        currency: c,
        books_id,
        overdraft_limit_minor: limit("overdraft_limit", &body.overdraft_limit)?.unwrap_or(0),
        recovery: parse_recovery(body.recovery.as_ref(), c)?,
        min_purchase_minor: limit("min_purchase", &body.min_purchase)?.unwrap_or(0),
        max_balance_minor: limit("max_balance", &body.max_balance)?,
        meters,
        first_sale,
    });
    write::submit(&app, &p, &key, &source, command, move |o| match o {
        Outcome::AccountOpened { account_id, first_sale, .. } => Reply::json(
            StatusCode::CREATED,
            &OpenedAccount {
                account_id: account_id.as_uuid(),
                customer_id: customer_id.as_uuid(),
                meter_ids: meter_ids.clone(),
                first_sale: first_sale.as_ref().map(|s| SaleView::of(s, c, &sale_unit)),
            },
        ),
        _ => Reply::error(&ApiError::internal("unexpected outcome")),
    })
    .await
}

pub fn sts_record(s: &StsInput, address: &str, field: &str) -> ApiResult<MeterKeyRecord> {
    let bad = |what: &str, e: voltvend_sts::StsError| {
        ApiError::field(&format!("{field}.{what}"), "sts_refused", e.to_string())
    };
    let pan = Pan::from_parts(s.iin.trim(), address).map_err(|e| bad("iin", e))?;
    let params = KeyParams {
        kt: KeyType::new(s.key_type).map_err(|e| bad("key_type", e))?,
        sgc: s.supply_group,
        ti: s.tariff_index,
        krn: s.key_revision,
        ken: s.key_expiry,
        base: BaseDate::from_code(&s.base_date).map_err(|e| bad("base_date", e))?,
        ea: Ea::from_code(&s.ea).map_err(|e| bad("ea", e))?,
    };
    params.validate().map_err(|e| bad("key_type", e))?;
    Ok(MeterKeyRecord { pan, params })
}

fn opg_binding(
    app: &AppState,
    op: voltvend_domain::OperationId,
    meter: MeterId,
    o: &OpenPaygoInput,
    c: Currency,
    field: &str,
) -> ApiResult<OpgBinding> {
    let master = app.api.secrets.current().ok_or_else(super::admin::no_master_key)?;
    let hex = zeroize::Zeroizing::new(o.secret_key.trim().to_lowercase());
    let device = voltvend_sts::openpaygo::OpgDevice::from_hex(&hex, o.starting_code)
        .map_err(|_| ApiError::field(&format!("{field}.secret_key"), "bad_value", "the secret key is 32 hex digits"))?;
    let unit =
        OpgUnit::parse(&o.unit).ok_or_else(|| ApiError::field(&format!("{field}.unit"), "bad_value", "day or hour"))?;
    let sealed = write::seal(master, op, &voltvend_ops::secrets::openpaygo_aad(meter), hex.as_bytes())?;
    Ok(OpgBinding {
        secret_sealed: sealed,
        starting_code: device.starting_code(),
        extended: o.extended,
        restricted: o.restricted,
        unit,
        price_minor_per_unit: parse_money(&format!("{field}.price_per_unit"), &o.price_per_unit, c)?,
    })
}
