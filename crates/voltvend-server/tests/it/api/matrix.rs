//! Every endpoint, called by every built-in role from two scopes (building A and building B) on something in
//! building A, against one table of expectations written here by hand — which roles may call it, and how the
//! scope shows — not derived from the endpoint table or the roles' permissions in the code, so that a change to
//! either is caught. A role not in the row gets 403 `forbidden`; the scope decides whether the thing is seen
//! (404 `not_found` from B, as if it did not exist). A new endpoint without a row here fails the test.
//!
//! Roles in the rows: A administrator, M manager, C cashier, F field engineer, U auditor, R read-only.

use axum::http::Method;
use serde_json::{Value, json};
use voltvend_domain::BuiltinRole;
use voltvend_server::api::{Access, endpoints};

use super::{Api, Req};

/// A WeChat Pay trade bill with no lines: its header row.
const WECHAT_BILL_HEADER: &str = "交易时间,公众账号ID,商户号,特约商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,交易状态,付款银行,\
货币种类,应结订单金额,代金券金额,微信退款单号,商户退款单号,退款金额,充值券退款金额,退款类型,退款状态,商品名称,商户数据包,手续费,费率,订单金额,\
申请退款金额,费率备注\n";

/// How the scope shows on an endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Scoped {
    /// The request names something in building A: from B it is not found.
    Object,
    /// The same, but only these roles see it at all (someone else's API token).
    ObjectOf(&'static str),
    /// A list that contains `item` when called from `from` by one of `roles` (all allowed roles if `None`),
    /// and not otherwise.
    List { item: String, from: char, roles: Option<&'static str> },
    /// Not tied to premises (one's own session, reading tariffs and roles).
    Global,
    /// Shared by every property (tariffs, keys, custom roles): only an operator scoped to the whole group may
    /// change it; from a building, 403 `scope_too_narrow`.
    Group,
}

fn list(item: impl Into<String>) -> Scoped {
    Scoped::List { item: item.into(), from: 'a', roles: None }
}

/// The initial of a built-in role in the rows.
fn initial(role: BuiltinRole) -> char {
    match role {
        BuiltinRole::Administrator => 'A',
        BuiltinRole::Manager => 'M',
        BuiltinRole::Cashier => 'C',
        BuiltinRole::FieldEngineer => 'F',
        BuiltinRole::Auditor => 'U',
        BuiltinRole::ReadOnly => 'R',
    }
}

struct Fixture {
    sale: String,
    refused: String,
    shift_b_cashier: String,
    shift_a_cashier: String,
    sts_meter: String,
    opg_meter: String,
    token_of_a: String,
    operator_a: String,
    /// A correction asked for by cashier A (a wallet adjustment), pending.
    approval: String,
    /// A key change campaign planned for building A's STS meter.
    campaign: String,
    /// An IC-card meter in A-101 with a card issued, and a sale onto it not yet written.
    ic_meter: String,
    ic_sale: String,
    /// An online payment channel of building A, and a customer's intent through it.
    channel: String,
    intent: String,
    /// A common-area apportionment rule of building A (its lights' meter installed with no account), and a meter
    /// in building A's stock.
    rule: String,
    stock_meter: String,
    /// Rent on building A's units, October issued, and 40.00 of A-101's paid at the counter.
    fee_schedule: String,
    fee_payment: String,
    /// A postpaid billing cycle of building A with October's bill to A-101 (on monthly bills while it was
    /// issued, prepaid again since).
    cycle: String,
}

/// Things in building A every request can name.
async fn fixture(api: &Api) -> Fixture {
    let cashier = BuiltinRole::Cashier;
    let e = &api.estate;
    // Rent first, while A-101 has one account (a second is opened below: a month issued then is refused).
    let admin = BuiltinRole::Administrator;
    let fee_schedule = api
        .send(api.as_(admin, 'a', Method::POST, "/api/v1/fee-schedules").fresh_key().json(json!({
            "premises_id": e.building_a.id.to_string(), "name": "Rent A", "basis": "per_unit", "rate": "100.00",
            "currency": "CNY", "due_day": 10
        })))
        .await
        .ok()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let october = format!("/api/v1/fee-schedules/{fee_schedule}/periods/2026-10");
    api.send(api.as_(admin, 'a', Method::POST, &october).fresh_key()).await.ok();
    let mode = format!("/api/v1/accounts/{}/billing-mode", e.account_a);
    let switch = |to: &str| json!({"mode": to, "reason": "matrix fixture"});
    api.send(api.as_(admin, 'a', Method::POST, &mode).fresh_key().json(switch("postpaid"))).await.ok();
    let cycle = api
        .send(api.as_(admin, 'a', Method::POST, "/api/v1/fee-schedules").fresh_key().json(json!({
            "premises_id": e.building_a.id.to_string(), "name": "Bills A", "basis": "postpaid", "rate": "1.00",
            "currency": "CNY", "due_day": 10, "late_fee_percent": "5"
        })))
        .await
        .ok()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let bills = format!("/api/v1/fee-schedules/{cycle}/periods/2026-10");
    api.send(api.as_(admin, 'a', Method::POST, &bills).fresh_key()).await.ok();
    api.send(api.as_(admin, 'a', Method::POST, &mode).fresh_key().json(switch("prepaid"))).await.ok();
    let policy = format!("/api/v1/premises/{}/fee-policy", e.building_a.id);
    api.send(api.as_(admin, 'a', Method::POST, &policy).fresh_key().json(json!({"policy": "nothing"}))).await.ok();
    let fee_payment = api
        .send(
            api.as_(cashier, 'a', Method::POST, &format!("/api/v1/accounts/{}/fee-payments", e.account_a))
                .fresh_key()
                .json(json!({"amount": "40.00", "method": "cash"})),
        )
        .await
        .ok()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let sale = api
        .send(api.as_(cashier, 'a', Method::POST, "/api/v1/sales").fresh_key().json(json!({
            "account_id": e.account_a.to_string(), "meter_id": e.remote_meter.to_string(), "method": "cash", "amount": "20.00"
        })))
        .await
        .ok()["id"]
        .as_str()
        .unwrap()
        .to_string();
    // Below the minimum purchase: refused after the money was taken.
    let refused = api
        .send(api.as_(cashier, 'a', Method::POST, "/api/v1/sales").fresh_key().json(json!({
            "account_id": e.account_a.to_string(), "meter_id": e.remote_meter.to_string(), "method": "cash", "amount": "0.50"
        })))
        .await;
    assert_eq!(refused.code(), "below_minimum_purchase", "{:?}", refused.json());
    let refused = refused.json()["details"]["refused_payment_id"].as_str().unwrap().to_string();
    // An STS keypad meter and an OpenPAYGO device in A-101, on a second account opened through the API.
    let admin = BuiltinRole::Administrator;
    let opened = api
        .send(api.as_(admin, 'a', Method::POST, "/api/v1/accounts").fresh_key().json(json!({
            "customer": {"kind": "company", "name": "Kiosk A 小卖部", "phones": ["0571 1234 5678"]},
            "premises_id": e.unit_a.id.to_string(),
            "currency": "CNY",
            "meters": [
                {"new": {"serial": "STS-A-1", "utility": "electricity", "protocol": "sts_keypad", "address": "04040404040"},
                 "tariff_code": "cn-zhejiang-residential-tou",
                 "sts": {"iin": "600727", "ea": "07", "key_type": 2, "supply_group": 123456, "tariff_index": 1, "key_revision": 1, "base_date": "14"}},
                {"new": {"serial": "SHS-A-1", "utility": "electricity", "protocol": "openpaygo", "address": "SHSA1"},
                 "openpaygo": {"secret_key": "a29ab82edc5fbbc41ec9530f6dac86b1", "starting_code": 123456789, "unit": "day", "price_per_unit": "2.50"}}
            ]
        })))
        .await
        .ok();
    let meters = opened["meter_ids"].as_array().unwrap();
    // Building A's remote meter was read twice, so that the consumption report lists it.
    super::lifecycle::read(api, e.remote_meter, "2026-01-02T00:00:00Z", 100).await;
    super::lifecycle::read(api, e.remote_meter, "2026-01-02T01:00:00Z", 110).await;
    // Its STS meter reported credit left (回抄), so that the accumulated-balance report lists it.
    api.send(
        api.as_(admin, 'a', Method::POST, &format!("/api/v1/meters/{}/returns", meters[0].as_str().unwrap()))
            .fresh_key()
            .json(json!({"at": "2026-01-01T00:00:00Z", "source": "display", "remaining": "3.5"})),
    )
    .await
    .ok();
    let cashier_b_shift = api.send(api.as_(cashier, 'b', Method::GET, "/api/v1/shifts/current")).await.ok()["id"]
        .as_str()
        .unwrap()
        .to_string();
    // Someone of building A whose token the matrix revokes (none of the callers: they need theirs).
    let victim = voltvend_domain::OperatorId::from_uuid(uuid::Uuid::from_u128(0xF1C7));
    let op = voltvend_domain::Operator::new(
        victim,
        "victim.a",
        "Victim",
        "read_only",
        e.building_a.id,
        voltvend_testkit::estate::PASSWORD_HASH,
    );
    let mut estate = api.estate.clone();
    api.store.submit(estate.system(voltvend_ops::Command::AddOperator(op))).await.unwrap();
    let token_id = voltvend_domain::ApiTokenId::from_uuid(uuid::Uuid::from_u128(0xF1C8));
    let token = voltvend_ops::ApiTokenRecord {
        id: token_id,
        operator_id: victim,
        name: "victim's".into(),
        secret_hash: [1; 32],
        created_at: super::start(),
        expires_at: None,
        revoked_at: None,
        created_by: None,
    };
    api.store.submit(estate.system(voltvend_ops::Command::CreateApiToken(token))).await.unwrap();
    let token_of_a = token_id.to_string();
    let approval = api
        .send(api.as_(cashier, 'a', Method::POST, "/api/v1/corrections").fresh_key().json(json!({
            "kind": "adjust", "account_id": e.account_a.to_string(), "amount": "1.00", "reason": "overbilled"
        })))
        .await
        .ok()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let campaign = voltvend_domain::CampaignId::from_uuid(uuid::Uuid::from_u128(0xCA4A));
    let plan = voltvend_ops::PlanKeyCampaign {
        campaign_id: campaign,
        name: "fixture".into(),
        change: voltvend_sts::KeyChange { ken: Some(201), ..Default::default() },
        meters: vec![meters[0].as_str().unwrap().parse::<uuid::Uuid>().unwrap().into()],
    };
    api.store.submit(estate.system(voltvend_ops::Command::PlanKeyCampaign(plan))).await.unwrap();
    let (ic_meter, ic_account, ops) = estate.ic_card_setup(voltvend_testkit::estate::CARD_METER_NO, true);
    for op in ops {
        api.store.submit(op).await.unwrap();
    }
    let issue = voltvend_ops::IssueCard {
        meter_id: ic_meter,
        serial: "C0000000000000A1".into(),
        key_no: 1,
        reason: String::new(),
    };
    api.store.submit(estate.system(voltvend_ops::Command::IssueCard(issue))).await.unwrap();
    let ic_sale = estate.system(voltvend_ops::Command::Sale(voltvend_ops::Sale::paid(
        ic_account,
        ic_meter,
        e.shift_a,
        voltvend_ops::PaymentMethod::Cash,
        600,
    )));
    let ic_sale_id = ic_sale.id.to_string();
    api.store.submit(ic_sale).await.unwrap();
    let channel = api
        .send(api.as_(admin, 'a', Method::POST, "/api/v1/payment-channels").fresh_key().json(json!({
            "provider": "wechat_pay", "name": "WeChat Pay A", "premises_id": e.building_a.id.to_string(), "currency": "CNY"
        })))
        .await
        .ok()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let intent = api
        .send(api.as_(cashier, 'a', Method::POST, "/api/v1/payment-intents").fresh_key().json(json!({
            "channel_id": channel, "account_id": e.account_a.to_string(), "meter_id": e.remote_meter.to_string(),
            "amount": "30.00"
        })))
        .await
        .ok()["id"]
        .as_str()
        .unwrap()
        .to_string();
    // The channel's statement of the day, kept (an empty bill: its header alone).
    let statements = format!("/api/v1/payment-channels/{channel}/statements");
    api.send(
        api.as_(admin, 'a', Method::POST, &statements)
            .fresh_key()
            .json(json!({"date": "2026-11-22", "statement": WECHAT_BILL_HEADER})),
    )
    .await
    .ok();
    // Building A's lights: a meter installed with no account, shared by A-101 under a rule; and one in stock.
    let (lights, stock) = (
        voltvend_domain::MeterId::from_uuid(uuid::Uuid::from_u128(0xA990)),
        voltvend_domain::MeterId::from_uuid(uuid::Uuid::from_u128(0xA991)),
    );
    for (id, serial, address) in [(lights, "LIGHTS-A", "000000009901"), (stock, "STOCK-A", "000000009902")] {
        let mut m = voltvend_domain::Meter::receive(
            id,
            serial,
            voltvend_domain::Utility::Electricity,
            voltvend_domain::ControlMode::Remote,
            voltvend_domain::MeterProtocol::Dlt645,
            address,
            voltvend_domain::CtVtRatio::DIRECT,
        )
        .unwrap();
        m.premises_id = Some(e.building_a.id);
        api.store.submit(estate.system(voltvend_ops::Command::ReceiveMeter(m))).await.unwrap();
    }
    let install = voltvend_ops::InstallMeter { meter_id: lights, premises_id: e.building_a.id };
    api.store.submit(estate.system(voltvend_ops::Command::InstallMeter(install))).await.unwrap();
    let rule = voltvend_domain::ApportionmentRuleId::from_uuid(uuid::Uuid::from_u128(0xA992));
    let create = voltvend_ops::CreateApportionmentRule {
        rule_id: rule,
        premises_id: e.building_a.id,
        name: "Block A lights".into(),
        utility: voltvend_domain::Utility::Electricity,
        basis: voltvend_domain::apportion::Basis::FloorArea,
        pool: voltvend_domain::apportion::Pool::Common,
        price: voltvend_domain::UnitPrice::parse("0.6", voltvend_domain::Currency::CNY).unwrap(),
        parent_meter: None,
        common_meters: vec![lights],
        units: vec![voltvend_ops::ApportionedUnit { premises_id: e.unit_a.id, floor_area_dm2: 5_000 }],
    };
    api.store.submit(estate.system(voltvend_ops::Command::CreateApportionmentRule(create))).await.unwrap();
    Fixture {
        fee_schedule,
        fee_payment,
        cycle,
        rule: rule.to_string(),
        stock_meter: stock.to_string(),
        channel,
        intent,
        ic_meter: ic_meter.to_string(),
        ic_sale: ic_sale_id,
        campaign: campaign.to_string(),
        approval,
        sale,
        refused,
        shift_b_cashier: cashier_b_shift,
        shift_a_cashier: api.send(api.as_(cashier, 'a', Method::GET, "/api/v1/shifts/current")).await.ok()["id"]
            .as_str()
            .unwrap()
            .to_string(),
        sts_meter: meters[0].as_str().unwrap().to_string(),
        opg_meter: meters[1].as_str().unwrap().to_string(),
        token_of_a,
        operator_a: victim.to_string(),
    }
}

/// One row: the request to send, how its scope shows, and the roles that may call it.
struct Row {
    path: String,
    body: Option<Value>,
    scoped: Scoped,
    roles: &'static str,
}

/// The request to send for an endpoint, how its scope shows and who may call it. Requests are valid enough to
/// pass the permission and scope checks; what happens after (a refusal by a rule) does not matter here.
fn sample(api: &Api, f: &Fixture, method: &str, path: &str) -> Option<Row> {
    let e = &api.estate;
    let unit = e.unit_a.id.to_string();
    let sale_body = json!({"account_id": e.account_a.to_string(), "meter_id": e.remote_meter.to_string(), "method": "cash", "amount": "10.00"});
    let x = |path: String, body: Option<Value>, scoped: Scoped, roles: &'static str| {
        Some(Row { path, body, scoped, roles })
    };
    let all = "AMCFUR";
    let a_cashier = api.operators[&("cashier".to_string(), 'a')].to_string();
    match (method, path) {
        ("POST", "/api/v1/session") | ("GET", "/api/v1/openapi.json") => None,
        ("GET", "/api/v1/session") => x(path.into(), None, Scoped::Global, all),
        ("DELETE", "/api/v1/session") => x(path.into(), None, Scoped::Global, all),
        ("POST", "/api/v1/session/logout-everywhere") => x(path.into(), None, Scoped::Global, all),
        ("POST", "/api/v1/session/password") => x(
            path.into(),
            Some(json!({"current_password": "not it", "new_password": "a long new passphrase"})),
            Scoped::Global,
            all,
        ),
        // Each sees the alarms of their own premises (checked in supply.rs); the list itself is for every reader.
        ("GET", "/api/v1/alarms") => x(path.into(), None, Scoped::Global, "AMCFUR"),
        ("PUT", "/api/v1/session/language") => x(path.into(), Some(json!({"language": "en"})), Scoped::Global, all),
        // One's own tokens for everyone; with operators.read, those of operators in scope too.
        ("GET", "/api/v1/api-tokens") => {
            x(path.into(), None, Scoped::List { item: f.token_of_a.clone(), from: 'a', roles: Some("AMU") }, all)
        }
        ("POST", "/api/v1/api-tokens") => x(path.into(), Some(json!({"name": "matrix"})), Scoped::Global, "AM"),
        ("DELETE", "/api/v1/api-tokens/{id}") => {
            x(format!("/api/v1/api-tokens/{}", f.token_of_a), None, Scoped::ObjectOf("AM"), all)
        }
        ("GET", "/api/v1/operators") => x(path.into(), None, list(f.operator_a.clone()), "AMU"),
        ("POST", "/api/v1/operators") => x(
            path.into(),
            Some(
                json!({"username": "new.one", "display_name": "New", "role": "read_only", "scope_id": e.building_a.id.to_string(), "password": "a long enough passphrase"}),
            ),
            Scoped::Object,
            "AM",
        ),
        ("GET", "/api/v1/operators/{id}") => {
            x(format!("/api/v1/operators/{}", f.operator_a), None, Scoped::Object, "AMU")
        }
        ("PUT", "/api/v1/operators/{id}") => x(
            format!("/api/v1/operators/{}", f.operator_a),
            Some(json!({"display_name": "Victim V", "reason": "matrix"})),
            Scoped::Object,
            "AM",
        ),
        ("POST", "/api/v1/operators/{id}/password") => x(
            format!("/api/v1/operators/{}/password", f.operator_a),
            Some(json!({"new_password": "a long enough passphrase 42"})),
            Scoped::Object,
            "AM",
        ),
        ("POST", "/api/v1/operators/{id}/unlock") => {
            x(format!("/api/v1/operators/{}/unlock", f.operator_a), None, Scoped::Object, "AM")
        }
        ("GET", "/api/v1/roles") => x(path.into(), None, Scoped::Global, "AMU"),
        ("POST", "/api/v1/roles") => {
            x(path.into(), Some(json!({"name": "reader", "permissions": ["sales.read"]})), Scoped::Group, "A")
        }
        ("GET", "/api/v1/premises") => x(path.into(), None, list(unit.clone()), all),
        ("GET", "/api/v1/premises/{id}") => x(format!("/api/v1/premises/{unit}"), None, Scoped::Object, all),
        ("POST", "/api/v1/premises") => x(
            path.into(),
            Some(json!({"parent_id": e.building_a.id.to_string(), "level": "unit", "name": "A-9"})),
            Scoped::Object,
            "AM",
        ),
        ("POST", "/api/v1/books") => x(
            path.into(),
            Some(json!({"premises_id": e.building_a.id.to_string(), "currency": "KES"})),
            Scoped::Object,
            "AM",
        ),
        ("GET", "/api/v1/tariffs") => x(path.into(), None, Scoped::Global, all),
        ("GET", "/api/v1/tariffs/{code}") => x("/api/v1/tariffs/test-flat".into(), None, Scoped::Global, all),
        ("POST", "/api/v1/tariffs/preview") => x(
            path.into(),
            Some(
                json!({"code": "test-flat", "meter_id": e.remote_meter.to_string(), "from": "2026-11-01T00:00:00Z", "to": "2026-12-01T00:00:00Z"}),
            ),
            Scoped::Object,
            all,
        ),
        ("POST", "/api/v1/tariffs") => {
            x(path.into(), Some(json!({"document": voltvend_testkit::estate::FLAT_TARIFF})), Scoped::Group, "A")
        }
        // Field engineers commission meters; counters are not theirs.
        ("GET", "/api/v1/vending-points") => x(path.into(), None, list(e.point_a.to_string()), "AMCUR"),
        ("POST", "/api/v1/vending-points") => x(
            path.into(),
            Some(json!({"premises_id": e.building_a.id.to_string(), "name": "Counter A2", "currency": "CNY"})),
            Scoped::Object,
            "AM",
        ),
        ("POST", "/api/v1/vending-points/{id}/settlements") => x(
            format!("/api/v1/vending-points/{}/settlements", e.point_a),
            Some(json!({"amount": "1.00", "reference": "slip 1"})),
            Scoped::Object,
            "AM",
        ),
        ("GET", "/api/v1/customers") => x(path.into(), None, list("Wang Fang 王芳"), all),
        ("GET", "/api/v1/customers/{id}") => {
            let c = api_customer_a(api);
            x(format!("/api/v1/customers/{c}"), None, Scoped::Object, all)
        }
        ("GET", "/api/v1/accounts") => x(path.into(), None, list(e.account_a.to_string()), all),
        ("GET", "/api/v1/accounts/{id}") => x(format!("/api/v1/accounts/{}", e.account_a), None, Scoped::Object, all),
        ("POST", "/api/v1/accounts") => x(
            path.into(),
            Some(json!({"customer": {"name": "Matrix Person"}, "premises_id": unit, "currency": "CNY", "meters": []})),
            Scoped::Object,
            "AMC",
        ),
        // The back office's lifecycle: a changed phone number (then nothing left to change); a suspension and a
        // resumption; a closure and a transfer refused for the credit left without a refund; a replacement
        // refused for the missing key record.
        ("PUT", "/api/v1/customers/{id}") => x(
            format!("/api/v1/customers/{}", api_customer_a(api)),
            Some(json!({"customer": {"name": "Wang Fang 王芳", "phones": ["13800000009"]}, "reason": "matrix"})),
            Scoped::Object,
            "AMC",
        ),
        ("GET", "/api/v1/customers/{id}/history") => {
            x(format!("/api/v1/customers/{}/history", api_customer_a(api)), None, Scoped::Object, all)
        }
        ("GET", "/api/v1/accounts/{id}/history") => {
            x(format!("/api/v1/accounts/{}/history", e.account_a), None, Scoped::Object, all)
        }
        ("POST", "/api/v1/accounts/{id}/suspend") => x(
            format!("/api/v1/accounts/{}/suspend", e.account_a),
            Some(json!({"reason": "matrix"})),
            Scoped::Object,
            "AMC",
        ),
        ("POST", "/api/v1/accounts/{id}/resume") => x(
            format!("/api/v1/accounts/{}/resume", e.account_a),
            Some(json!({"reason": "matrix"})),
            Scoped::Object,
            "AMC",
        ),
        ("POST", "/api/v1/accounts/{id}/close") => x(
            format!("/api/v1/accounts/{}/close", e.account_a),
            Some(json!({"reason": "matrix"})),
            Scoped::Object,
            "AMC",
        ),
        ("POST", "/api/v1/accounts/{id}/billing-mode") => x(
            format!("/api/v1/accounts/{}/billing-mode", e.account_a),
            Some(json!({"mode": "postpaid", "reason": "matrix"})),
            Scoped::Object,
            "AM",
        ),
        ("POST", "/api/v1/accounts/{id}/transfer") => x(
            format!("/api/v1/accounts/{}/transfer", e.account_a),
            Some(json!({"reason": "matrix", "customer": {"name": "Matrix Buyer"}})),
            Scoped::Object,
            "AMC",
        ),
        ("POST", "/api/v1/meters/{id}/replace") => x(
            format!("/api/v1/meters/{}/replace", f.sts_meter),
            Some(
                json!({"reason": "matrix", "new": {"serial": "STS-R-1", "utility": "electricity", "protocol": "sts_keypad", "address": "05050505050"}}),
            ),
            Scoped::Object,
            "AMF",
        ),
        ("GET", "/api/v1/meters") => x(path.into(), None, list(e.remote_meter.to_string()), all),
        ("GET", "/api/v1/meters/{id}") => x(format!("/api/v1/meters/{}", e.remote_meter), None, Scoped::Object, all),
        ("POST", "/api/v1/meters") => x(
            path.into(),
            Some(
                json!({"serial": "M-NEW", "utility": "water", "protocol": "dlt645", "address": "000000009999", "premises_id": unit}),
            ),
            Scoped::Object,
            "AMF",
        ),
        ("GET", "/api/v1/meters/{id}/tokens") => {
            x(format!("/api/v1/meters/{}/tokens", f.sts_meter), None, Scoped::Object, all)
        }
        ("POST", "/api/v1/meters/{id}/sts-tokens") => x(
            format!("/api/v1/meters/{}/sts-tokens", f.sts_meter),
            Some(json!({"kind": "clear_tamper", "reason": "matrix"})),
            Scoped::Object,
            "AMF",
        ),
        ("POST", "/api/v1/meters/{id}/openpaygo-tokens") => x(
            format!("/api/v1/meters/{}/openpaygo-tokens", f.opg_meter),
            Some(json!({"kind": "counter_sync", "reason": "matrix"})),
            Scoped::Object,
            "AMF",
        ),
        ("GET", "/api/v1/meters/{id}/supply") => {
            x(format!("/api/v1/meters/{}/supply", e.remote_meter), None, Scoped::Object, all)
        }
        ("PUT", "/api/v1/meters/{id}/channel") => x(
            format!("/api/v1/meters/{}/channel", e.remote_meter),
            Some(json!({"channel": "dlt645+tcp://10.0.0.5:8001"})),
            Scoped::Object,
            "AMF",
        ),
        ("POST", "/api/v1/meters/{id}/commands") => x(
            format!("/api/v1/meters/{}/commands", e.remote_meter),
            Some(json!({"kind": "set_time", "reason": "matrix"})),
            Scoped::Object,
            "AMF",
        ),
        ("GET", "/api/v1/meters/{id}/commands") => {
            x(format!("/api/v1/meters/{}/commands", e.remote_meter), None, Scoped::Object, all)
        }
        // This test server runs no head end: in scope, the read is refused as such (409), not hidden (404).
        ("POST", "/api/v1/meters/{id}/read") => {
            x(format!("/api/v1/meters/{}/read", e.remote_meter), None, Scoped::Object, "AMF")
        }
        // No flagged reading at that instant: in scope with the permission, refused as such (422).
        ("POST", "/api/v1/meters/{id}/readings/rebase") => x(
            format!("/api/v1/meters/{}/readings/rebase", e.remote_meter),
            Some(json!({"at": "2026-11-23T08:00:00Z", "reason": "matrix"})),
            Scoped::Object,
            "AMF",
        ),
        ("GET", "/api/v1/readings") => {
            x(format!("/api/v1/readings?meter_id={}", e.remote_meter), None, Scoped::Object, all)
        }
        ("GET", "/api/v1/head-end/links") => x(path.into(), None, Scoped::Global, "AMF"),
        ("GET", "/api/v1/shifts") => {
            x(path.into(), None, Scoped::List { item: f.shift_b_cashier.clone(), from: 'b', roles: None }, "AMCUR")
        }
        ("GET", "/api/v1/shifts/current") => x(path.into(), None, Scoped::Global, "AC"),
        ("POST", "/api/v1/shifts") => x(
            path.into(),
            Some(json!({"vending_point_id": e.point_a.to_string(), "opening_float": "0.00"})),
            Scoped::Object,
            "AC",
        ),
        // Closing another cashier's shift: scope decides whether it is seen (B's cashier shift is in B, so this
        // row is the other way round: seen from B, not from A).
        ("POST", "/api/v1/shifts/{id}/close") => x(
            format!("/api/v1/shifts/{}/close", f.shift_b_cashier),
            Some(json!({"counted": "0.00"})),
            Scoped::Object,
            "AC",
        ),
        ("POST", "/api/v1/sales/quote") => x(path.into(), Some(sale_body), Scoped::Object, "AC"),
        ("POST", "/api/v1/sales") => x(path.into(), Some(sale_body), Scoped::Object, "AC"),
        ("GET", "/api/v1/sales") => x(path.into(), None, list(f.sale.clone()), "AMCUR"),
        ("GET", "/api/v1/sales/{id}") => x(format!("/api/v1/sales/{}", f.sale), None, Scoped::Object, "AMCUR"),
        // The first print belongs to the sale; anyone else prints a marked copy (a reprint).
        ("GET", "/api/v1/sales/{id}/receipt") => {
            x(format!("/api/v1/sales/{}/receipt?format=html", f.sale), None, Scoped::Object, "AC")
        }
        ("POST", "/api/v1/sales/{id}/reprint") => {
            x(format!("/api/v1/sales/{}/reprint", f.sale), Some(json!({"format": "html"})), Scoped::Object, "AMC")
        }
        ("GET", "/api/v1/refused-payments") => x(path.into(), None, list(f.refused.clone()), "AMCUR"),
        ("POST", "/api/v1/refused-payments/{id}/refund") => {
            x(format!("/api/v1/refused-payments/{}/refund", f.refused), Some(json!({})), Scoped::Object, "AMC")
        }
        // Crediting one after review is a manager's decision.
        ("POST", "/api/v1/refused-payments/{id}/credit") => {
            x(format!("/api/v1/refused-payments/{}/credit", f.refused), None, Scoped::Object, "AM")
        }
        // Online payments: managers run the channels, cashiers make intents and follow them, auditors look.
        ("GET", "/api/v1/payment-channels") => x(path.into(), None, list(f.channel.clone()), "AMCU"),
        ("POST", "/api/v1/payment-channels") => x(
            path.into(),
            Some(
                json!({"provider": "alipay", "name": "Alipay A", "premises_id": e.building_a.id.to_string(), "currency": "CNY"}),
            ),
            Scoped::Object,
            "AM",
        ),
        ("POST", "/api/v1/payment-channels/{id}/active") => x(
            format!("/api/v1/payment-channels/{}/active", f.channel),
            Some(json!({"active": true})),
            Scoped::Object,
            "AM",
        ),
        ("POST", "/api/v1/payment-channels/{id}/reconciliation") => x(
            format!("/api/v1/payment-channels/{}/reconciliation", f.channel),
            Some(json!({"date": "2026-11-23", "statement": WECHAT_BILL_HEADER})),
            Scoped::Object,
            "AMCU",
        ),
        ("POST", "/api/v1/payment-channels/{id}/statements") => x(
            format!("/api/v1/payment-channels/{}/statements", f.channel),
            Some(json!({"date": "2026-11-23", "statement": WECHAT_BILL_HEADER})),
            Scoped::Object,
            "AM",
        ),
        ("GET", "/api/v1/payment-channels/{id}/statements/{date}") => {
            x(format!("/api/v1/payment-channels/{}/statements/2026-11-22", f.channel), None, Scoped::Object, "AMCU")
        }
        ("GET", "/api/v1/payment-intents") => x(path.into(), None, list(f.intent.clone()), "AMCU"),
        ("GET", "/api/v1/payment-position") => {
            x(format!("{path}?date=2026-11-23"), None, list(f.channel.clone()), "AMCU")
        }
        ("GET", "/api/v1/payment-intents/{id}") => {
            x(format!("/api/v1/payment-intents/{}", f.intent), None, Scoped::Object, "AMCU")
        }
        // The fixture's channel has no credentials here: the order and the query are refused after the checks,
        // which is all this test needs.
        ("POST", "/api/v1/payment-intents/{id}/order") => {
            x(format!("/api/v1/payment-intents/{}/order", f.intent), Some(json!({})), Scoped::Object, "AC")
        }
        ("POST", "/api/v1/payment-intents/{id}/query") => {
            x(format!("/api/v1/payment-intents/{}/query", f.intent), None, Scoped::Object, "AC")
        }
        ("POST", "/api/v1/payment-intents") => x(
            path.into(),
            Some(
                json!({"channel_id": f.channel, "account_id": e.account_a.to_string(), "meter_id": e.remote_meter.to_string(), "amount": "5.00"}),
            ),
            Scoped::Object,
            "AC",
        ),
        // Corrections: cashiers ask, managers decide (the first decision wins; later ones are 409, not 403/404).
        ("POST", "/api/v1/corrections") => x(
            path.into(),
            Some(json!({"kind": "reverse_sale", "sale_id": f.sale, "reason": "matrix"})),
            Scoped::Object,
            "AMC",
        ),
        ("GET", "/api/v1/corrections") => x(path.into(), None, list(f.approval.clone()), "AMCU"),
        ("GET", "/api/v1/corrections/{id}") => {
            x(format!("/api/v1/corrections/{}", f.approval), None, Scoped::Object, "AMCU")
        }
        ("POST", "/api/v1/corrections/{id}/approve") => {
            x(format!("/api/v1/corrections/{}/approve", f.approval), Some(json!({})), Scoped::Object, "AM")
        }
        ("POST", "/api/v1/corrections/{id}/reject") => x(
            format!("/api/v1/corrections/{}/reject", f.approval),
            Some(json!({"note": "matrix"})),
            Scoped::Object,
            "AM",
        ),
        ("POST", "/api/v1/accounts/{id}/arrears") => x(
            format!("/api/v1/accounts/{}/arrears", e.account_a),
            Some(json!({"amount": "1.00", "reference": "matrix"})),
            Scoped::Object,
            "AM",
        ),
        ("POST", "/api/v1/arrears/import") => x(
            path.into(),
            Some(json!({"lines": [{"account_id": e.account_a.to_string(), "amount": "1.00", "reference": "matrix"}]})),
            Scoped::Object,
            "AM",
        ),
        ("GET", "/api/v1/shifts/{id}/settlement") => {
            x(format!("/api/v1/shifts/{}/settlement", f.shift_a_cashier), None, Scoped::Object, "AMCUR")
        }
        // Reports: what building A's cashier sold shows from A only; the reconciliation is the group's.
        ("GET", "/api/v1/reports/sales") => x(
            format!("{path}?from=2026-01-01T00:00:00Z&to=2027-01-01T00:00:00Z&group_by=operator"),
            None,
            Scoped::List { item: a_cashier.clone(), from: 'a', roles: None },
            "AMU",
        ),
        ("GET", "/api/v1/reports/sales-ledger") => x(
            format!("{path}?from=2026-01-01T00:00:00Z&to=2027-01-01T00:00:00Z&format=csv"),
            None,
            list(f.sale.clone()),
            "AMU",
        ),
        ("GET", "/api/v1/reports/balances") => {
            x(format!("{path}?kind=low_balance&below=100000.00&format=csv"), None, list(e.account_a.to_string()), "AMU")
        }
        ("GET", "/api/v1/reports/refused-payments") => {
            x(format!("{path}?from=2026-01-01T00:00:00Z&to=2027-01-01T00:00:00Z"), None, list(f.refused.clone()), "AMU")
        }
        ("GET", "/api/v1/reports/consumption") => x(
            format!("{path}?from=2026-01-01T00:00:00Z&to=2027-01-01T00:00:00Z&group_by=meter"),
            None,
            list(e.remote_meter.to_string()),
            "AMU",
        ),
        ("GET", "/api/v1/reports/accumulated-balances") => x(path.into(), None, list(f.sts_meter.clone()), "AMU"),
        ("POST", "/api/v1/meters/{id}/returns") => x(
            format!("/api/v1/meters/{}/returns", f.sts_meter),
            Some(json!({"at": "2026-01-01T00:00:00Z", "source": "check_card", "remaining": "2"})),
            Scoped::Object,
            "AMCF",
        ),
        ("GET", "/api/v1/reports/reconciliation") => {
            x(format!("{path}?from=2026-01-01T00:00:00Z&to=2027-01-01T00:00:00Z"), None, Scoped::Group, "AMU")
        }
        ("GET", "/api/v1/backups") => x(path.into(), None, Scoped::Group, "A"),
        ("POST", "/api/v1/key-campaigns") => x(
            path.into(),
            Some(json!({"name": "matrix", "select": {"base_date": "14"}, "change": {"key_expiry": 200}})),
            Scoped::Group,
            "A",
        ),
        ("GET", "/api/v1/key-campaigns") => x(path.into(), None, Scoped::Group, "A"),
        ("GET", "/api/v1/key-campaigns/{id}") => {
            x(format!("/api/v1/key-campaigns/{}", f.campaign), None, Scoped::Group, "A")
        }
        ("POST", "/api/v1/backups") => x(path.into(), None, Scoped::Group, "A"),
        ("GET", "/api/v1/vending-keys") => x(path.into(), None, Scoped::Global, "A"),
        ("GET", "/api/v1/card-keys") => x(path.into(), None, Scoped::Global, "A"),
        ("POST", "/api/v1/card-keys") => x(
            path.into(),
            Some(json!({"key_no": 7, "algorithm": "sm4", "key": "00112233445566778899AABBCCDDEEFF"})),
            Scoped::Group,
            "A",
        ),
        ("GET", "/api/v1/meters/{id}/card") => {
            x(format!("/api/v1/meters/{}/card", f.ic_meter), None, Scoped::Object, all)
        }
        ("POST", "/api/v1/meters/{id}/card") => {
            x(format!("/api/v1/meters/{}/card", f.ic_meter), Some(json!({})), Scoped::Object, "AMC")
        }
        ("POST", "/api/v1/meters/{id}/card/lost") => x(
            format!("/api/v1/meters/{}/card/lost", f.ic_meter),
            Some(json!({"serial": "C0000000000000FF", "reason": "lost"})),
            Scoped::Object,
            "AMC",
        ),
        ("POST", "/api/v1/meters/{id}/card/return") => x(
            format!("/api/v1/meters/{}/card/return", f.ic_meter),
            Some(json!({"reason": "moving"})),
            Scoped::Object,
            "AMC",
        ),
        ("POST", "/api/v1/meters/{id}/field-cards") => x(
            format!("/api/v1/meters/{}/field-cards", f.ic_meter),
            Some(json!({"kind": "check"})),
            Scoped::Object,
            "AMF",
        ),
        ("POST", "/api/v1/card-reader/read") => x(path.into(), Some(json!({})), Scoped::Global, "AMCF"),
        ("GET", "/api/v1/card-reader/virtual") => x(path.into(), None, Scoped::Global, "AMCF"),
        ("POST", "/api/v1/card-reader/virtual") => {
            x(path.into(), Some(json!({"action": "eject"})), Scoped::Global, "AMCF")
        }
        ("POST", "/api/v1/card-reader/blank") => x(path.into(), Some(json!({})), Scoped::Global, "AMF"),
        ("POST", "/api/v1/sales/{id}/card") => {
            x(format!("/api/v1/sales/{}/card", f.ic_sale), Some(json!({})), Scoped::Object, "AC")
        }
        ("POST", "/api/v1/vending-keys") => x(
            path.into(),
            Some(json!({"supply_group": 654321, "key_revision": 1, "key": "0123456789ABCDEF"})),
            Scoped::Group,
            "A",
        ),
        ("POST", "/api/v1/keys/rotate") => x(path.into(), None, Scoped::Group, "A"),
        // What operators in scope did: cashier A's sale is seen from A only.
        ("GET", "/api/v1/audit") => x(
            format!("/api/v1/audit?operator_id={a_cashier}"),
            None,
            Scoped::List { item: format!("\"operator_id\":\"{a_cashier}\""), from: 'a', roles: None },
            "AMU",
        ),
        ("POST", "/api/v1/meters/{id}/install") => x(
            format!("/api/v1/meters/{}/install", f.stock_meter),
            Some(json!({"premises_id": e.building_a.id.to_string()})),
            Scoped::Object,
            "AMF",
        ),
        ("POST", "/api/v1/meters/{id}/category") => x(
            format!("/api/v1/meters/{}/category", e.remote_meter),
            Some(json!({"category": "lighting_sockets", "sub_item": "flats"})),
            Scoped::Object,
            "AMF",
        ),
        // Books are kept per property: a building's operators are refused, the group's see them.
        ("GET", "/api/v1/reports/books") => x(path.into(), None, Scoped::Group, "AMU"),
        ("GET", "/api/v1/apportionment-rules") => x(path.into(), None, list(f.rule.clone()), "AMU"),
        ("POST", "/api/v1/apportionment-rules") => x(
            path.into(),
            Some(json!({
                "name": "matrix", "premises_id": e.building_a.id.to_string(), "utility": "electricity",
                "basis": "equal", "pool": "common", "price": "0.6", "currency": "CNY",
                "common_meter_ids": ["00000000-0000-0000-0000-00000000a990"], "units": [{"premises_id": unit}]
            })),
            Scoped::Object,
            "AM",
        ),
        ("GET", "/api/v1/apportionment-rules/{id}") => {
            x(format!("/api/v1/apportionment-rules/{}", f.rule), None, Scoped::Object, "AMU")
        }
        // A month not read to its end: refused (409) for whoever may see the rule, not found from B.
        ("GET", "/api/v1/apportionment-rules/{id}/periods/{period}") => {
            x(format!("/api/v1/apportionment-rules/{}/periods/2026-10", f.rule), None, Scoped::Object, "AMU")
        }
        ("POST", "/api/v1/apportionment-rules/{id}/periods/{period}") => {
            x(format!("/api/v1/apportionment-rules/{}/periods/2026-10", f.rule), None, Scoped::Object, "AM")
        }
        ("GET", "/api/v1/apportionment-rules/{id}/periods/{period}/units/{unit}") => x(
            format!("/api/v1/apportionment-rules/{}/periods/2026-10/units/{unit}", f.rule),
            None,
            Scoped::Object,
            "AMU",
        ),
        ("POST", "/api/v1/premises/{id}/floor-area") => x(
            format!("/api/v1/premises/{unit}/floor-area"),
            Some(json!({"floor_area_m2": "85.50"})),
            Scoped::Object,
            "AM",
        ),
        ("POST", "/api/v1/premises/{id}/fee-policy") => x(
            format!("/api/v1/premises/{}/fee-policy", e.building_a.id),
            Some(json!({"policy": "share_of_purchase", "share_percent": "30"})),
            Scoped::Object,
            "AM",
        ),
        ("GET", "/api/v1/reports/load-curve") => x(
            format!(
                "/api/v1/reports/load-curve?from=2026-01-01T16:00:00Z&to=2026-01-03T16:00:00Z&premises_id={}",
                e.building_a.id
            ),
            None,
            Scoped::Object,
            "AMU",
        ),
        ("GET", "/api/v1/fee-policies") => x(path.into(), None, list(e.building_a.id.to_string()), "AMU"),
        ("GET", "/api/v1/fee-schedules") => x(path.into(), None, list(f.fee_schedule.clone()), "AMU"),
        ("POST", "/api/v1/fee-schedules") => x(
            path.into(),
            Some(json!({
                "premises_id": e.building_a.id.to_string(), "name": "matrix", "basis": "per_m2", "rate": "3.50",
                "currency": "CNY", "due_day": 5
            })),
            Scoped::Object,
            "AM",
        ),
        ("GET", "/api/v1/fee-schedules/{id}") => {
            x(format!("/api/v1/fee-schedules/{}", f.fee_schedule), None, Scoped::Object, "AMU")
        }
        ("GET", "/api/v1/fee-schedules/{id}/periods/{period}") => {
            x(format!("/api/v1/fee-schedules/{}/periods/2026-10", f.fee_schedule), None, Scoped::Object, "AMU")
        }
        // A-101 has two open accounts by now: refused (409) for whoever may issue, not found from B.
        ("POST", "/api/v1/fee-schedules/{id}/periods/{period}") => {
            x(format!("/api/v1/fee-schedules/{}/periods/2026-11", f.fee_schedule), None, Scoped::Object, "AM")
        }
        // Dunned once by whoever may (then 409, fees_dunned), not found from B.
        ("POST", "/api/v1/fee-schedules/{id}/periods/{period}/dunning") => {
            x(format!("/api/v1/fee-schedules/{}/periods/2026-10/dunning", f.cycle), None, Scoped::Object, "AM")
        }
        // The fixture's cycle does not disconnect: refused (409) for whoever may, not found from B.
        ("POST", "/api/v1/fee-schedules/{id}/periods/{period}/disconnection") => {
            x(format!("/api/v1/fee-schedules/{}/periods/2026-10/disconnection", f.cycle), None, Scoped::Object, "AM")
        }
        ("GET", "/api/v1/fee-schedules/{id}/periods/{period}/bills/{unit}") => x(
            format!("/api/v1/fee-schedules/{}/periods/2026-10/bills/{}", f.cycle, e.unit_a.id),
            None,
            Scoped::Object,
            all,
        ),
        ("GET", "/api/v1/reports/bills") => x(
            format!("/api/v1/reports/bills?schedule_id={}&period=2026-10&format=csv", f.cycle),
            None,
            Scoped::Object,
            "AMU",
        ),
        ("GET", "/api/v1/accounts/{id}/fees") => {
            x(format!("/api/v1/accounts/{}/fees", e.account_a), None, Scoped::Object, all)
        }
        ("POST", "/api/v1/accounts/{id}/fee-payments") => x(
            format!("/api/v1/accounts/{}/fee-payments", e.account_a),
            Some(json!({"amount": "1.00", "method": "cash"})),
            Scoped::Object,
            "AC",
        ),
        ("GET", "/api/v1/fee-payments/{id}/receipt") => {
            x(format!("/api/v1/fee-payments/{}/receipt", f.fee_payment), None, Scoped::Object, "AMCUR")
        }
        _ => panic!("no sample for {method} {path}: add a row to this table"),
    }
}

fn api_customer_a(api: &Api) -> String {
    api.estate
        .setup
        .iter()
        .find_map(|op| match &op.command {
            voltvend_ops::Command::OpenAccount(a) if a.account_id == api.estate.account_a => match &a.customer {
                voltvend_ops::CustomerRef::New(c) => Some(c.id.to_string()),
                voltvend_ops::CustomerRef::Existing(id) => Some(id.to_string()),
            },
            _ => None,
        })
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_endpoint_every_role_two_scopes() {
    let api = Api::new().await;
    let f = fixture(&api).await;
    let mut checked = 0;
    let mut failures = Vec::new();
    for e in endpoints() {
        let Some(row) = sample(&api, &f, e.method, e.path) else { continue };
        for role in BuiltinRole::ALL {
            let allowed = row.roles.contains(initial(role));
            for building in ['a', 'b'] {
                let method: Method = e.method.parse().unwrap();
                let mut req = api.as_(role, building, method, &row.path);
                if e.keyed {
                    req = req.fresh_key();
                }
                if let Some(b) = &row.body {
                    req = req.json(b.clone());
                }
                let r = api.send(req).await;
                let code = r.code();
                let status = r.status.as_u16();
                // B-scoped closing of B's cashier shift is the mirror case: in scope from B.
                let in_scope = if e.path == "/api/v1/shifts/{id}/close" { building == 'b' } else { building == 'a' };
                let verdict = if !allowed {
                    (status == 403 && code == "forbidden").then_some(()).ok_or("expected 403 forbidden")
                } else if status == 401 || code == "forbidden" || code == "csrf_failed" {
                    Err("allowed, but refused access")
                } else {
                    match &row.scoped {
                        Scoped::ObjectOf(_) | Scoped::Object => {
                            let sees = in_scope
                                && match &row.scoped {
                                    Scoped::ObjectOf(who) => who.contains(initial(role)),
                                    _ => true,
                                };
                            match (sees, status == 404) {
                                (true, true) => Err("in scope: got 404"),
                                (false, false) => Err("not theirs to see: expected 404"),
                                _ => Ok(()),
                            }
                        }
                        Scoped::List { item, from, roles } => {
                            let text = String::from_utf8_lossy(&r.bytes);
                            let sees = building == *from && roles.is_none_or(|w| w.contains(initial(role)));
                            if !r.status.is_success() {
                                Err("a list failed")
                            } else if text.contains(item.as_str()) != sees {
                                Err("the list shows what the scope should not, or hides what it should")
                            } else {
                                Ok(())
                            }
                        }
                        Scoped::Group => (status == 403 && code == "scope_too_narrow")
                            .then_some(())
                            .ok_or("shared by every property: expected 403 scope_too_narrow"),
                        Scoped::Global => (status != 404 || e.path.ends_with("/current") || e.path.contains("{code}"))
                            .then_some(())
                            .ok_or("unexpected 404"),
                    }
                };
                checked += 1;
                if let Err(why) = verdict {
                    failures.push(format!(
                        "{} {} as {}.{building}: {why} (got {} {})",
                        e.method,
                        e.path,
                        role.as_str(),
                        r.status,
                        String::from_utf8_lossy(&r.bytes).chars().take(160).collect::<String>()
                    ));
                }
            }
        }
        // What every property shares, the group's administrator changes.
        if row.scoped == Scoped::Group {
            let mut req = api.as_(BuiltinRole::Administrator, 'g', e.method.parse().unwrap(), &row.path).fresh_key();
            if let Some(b) = &row.body {
                req = req.json(b.clone());
            }
            let r = api.send(req).await;
            checked += 1;
            if !r.status.is_success() {
                failures.push(format!("{} {} as the group's administrator: {}", e.method, e.path, r.status));
            }
        }
    }
    assert!(failures.is_empty(), "{} of {checked} checks failed:\n{}", failures.len(), failures.join("\n"));
    // Every endpoint but two, by 6 roles from 2 scopes, and the twelve of the whole group (tariffs, vending and
    // card keys, roles, the key rotation, the reconciliation, the backups, the key campaigns, the books) once
    // more by the group's administrator.
    assert_eq!(checked, 12 * (endpoints().len() - 2) + 12, "every endpoint but two, by 6 roles from 2 scopes");
}

/// Without a credential, every endpoint but logging in and the document is 401.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_without_logging_in() {
    let api = Api::new().await;
    for e in endpoints() {
        let path = e.path.replace("{id}", &uuid::Uuid::nil().to_string()).replace("{code}", "test-flat");
        let r = api.send(Req::new(e.method.parse().unwrap(), &path)).await;
        match e.access {
            Access::Public => assert_ne!(r.status.as_u16(), 401, "{} {}", e.method, e.path),
            _ => {
                assert_eq!((r.status.as_u16(), r.code().as_str()), (401, "unauthenticated"), "{} {}", e.method, e.path)
            }
        }
    }
    // A token that is not one, and a cookie that is not a session, are refused too.
    let r = api.send(Req::new(Method::GET, "/api/v1/session").bearer("vvt_nonsense")).await;
    assert_eq!(r.status.as_u16(), 401);
    let r = api.send(Req::new(Method::GET, "/api/v1/session").header("cookie", "vv_session=00ff")).await;
    assert_eq!(r.status.as_u16(), 401);
}
