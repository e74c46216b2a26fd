//! The back office's account lifecycle through the API: a customer file changed with its history, an account
//! suspended and resumed (its supply tripped and closed), closed with its arrears settled and its credit refunded
//! from the drawer, handed to a new owner on the same meters, and its meters replaced — each with its refusals,
//! its audit record and what it leaves for the next sale.

use axum::http::Method;
use serde_json::{Value, json};
use voltvend_domain::tariff::pricing::{Reading, Registers};
use voltvend_domain::{BuiltinRole, Money, TransferId, TransferKind, TransferRequest};
use voltvend_ops::{ApplyReadings, Command, ReadingLimits};
use voltvend_sts::{Accepted, StsMeter, VendingKey};
use voltvend_testkit::estate::VENDING_KEY_HEX;

use super::{Api, Req};

const CASHIER: BuiltinRole = BuiltinRole::Cashier;
const ENGINEER: BuiltinRole = BuiltinRole::FieldEngineer;

pub(super) fn post(api: &Api, role: BuiltinRole, building: char, path: &str, body: Value) -> Req {
    api.as_(role, building, Method::POST, path).fresh_key().json(body)
}

pub(super) async fn get(api: &Api, role: BuiltinRole, building: char, path: &str) -> Value {
    api.send(api.as_(role, building, Method::GET, path)).await.ok()
}

pub(super) async fn sell(api: &Api, building: char, account: &str, meter: &str, amount: &str) -> super::Resp {
    let body = json!({"account_id": account, "meter_id": meter, "method": "cash", "amount": amount});
    api.send(post(api, CASHIER, building, "/api/v1/sales", body)).await
}

fn customer_of(api: &Api, account: voltvend_domain::AccountId) -> String {
    api.estate
        .setup
        .iter()
        .find_map(|op| match &op.command {
            Command::OpenAccount(a) if a.account_id == account => match &a.customer {
                voltvend_ops::CustomerRef::New(c) => Some(c.id.to_string()),
                voltvend_ops::CustomerRef::Existing(id) => Some(id.to_string()),
            },
            _ => None,
        })
        .unwrap()
}

/// Readings of a remote meter, as the head end submits them.
pub(super) async fn read(
    api: &Api,
    meter: voltvend_domain::MeterId,
    at: &str,
    kwh: i64,
) -> voltvend_ops::ReadingsOutcome {
    read_with_demand(api, meter, at, kwh, None).await
}

/// A reading with what the meter's maximum-demand register said (`(kW × 1000, when)`).
pub(super) async fn read_with_demand(
    api: &Api,
    meter: voltvend_domain::MeterId,
    at: &str,
    kwh: i64,
    demand: Option<(i64, &str)>,
) -> voltvend_ops::ReadingsOutcome {
    let demand = demand.map(|(demand_w, at)| voltvend_ops::MaxDemand { demand_w, at: at.parse().unwrap() });
    let reading = Reading { at: at.parse().unwrap(), registers: Registers::Total(kwh * 1_000) };
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let id = voltvend_domain::OperationId::from_uuid(uuid::Uuid::from_u128(0x5EAD_0000_0000_0000_0000 + u128::from(n)));
    let command = Command::ApplyReadings(ApplyReadings {
        meter_id: meter,
        readings: vec![reading],
        report: None,
        limits: ReadingLimits::default(),
        demand,
    });
    let op = voltvend_ops::Operation::new(id, voltvend_ops::Actor::system("headend"), command);
    match api.store.submit(op).await.unwrap().outcome() {
        Some(voltvend_ops::Outcome::Readings(r)) => r.clone(),
        other => panic!("{other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_customer_file_is_changed_and_its_history_kept() {
    let api = Api::new().await;
    let customer = customer_of(&api, api.estate.account_a);
    let path = format!("/api/v1/customers/{customer}");
    let before = get(&api, CASHIER, 'a', &path).await;
    let change = json!({"customer": {"name": "Wang Fang 王芳", "phones": ["13900002222"], "email": "wf@example.cn",
                                     "id_document": {"kind": "national_id", "number": "330106198001011111"}},
                        "reason": "new phone, from the customer's ID card"});
    let put = |role, building| api.as_(role, building, Method::PUT, &path).fresh_key().json(change.clone());
    // Who may: the counter of building A; not building B's (it is not there), not a read-only user.
    assert_eq!(api.send(put(CASHIER, 'b')).await.status.as_u16(), 404);
    assert_eq!(api.send(put(BuiltinRole::ReadOnly, 'a')).await.code(), "forbidden");
    let mut bad = change.clone();
    bad["customer"]["email"] = json!("not an address");
    let r = api.send(api.as_(CASHIER, 'a', Method::PUT, &path).fresh_key().json(bad)).await;
    assert_eq!((r.status.as_u16(), r.json()["details"]["field"].as_str()), (422, Some("customer")));
    let mut no_reason = change.clone();
    no_reason["reason"] = json!(" ");
    assert_eq!(
        api.send(api.as_(CASHIER, 'a', Method::PUT, &path).fresh_key().json(no_reason)).await.code(),
        "text_empty"
    );
    assert_eq!(get(&api, CASHIER, 'a', &path).await, before, "refusals change nothing");

    let changed = api.send(put(CASHIER, 'a')).await.ok();
    assert_eq!(
        (changed["phones"][0].as_str(), changed["email"].as_str()),
        (Some("13900002222"), Some("wf@example.cn"))
    );
    assert_eq!(get(&api, CASHIER, 'a', &path).await, changed);
    assert_eq!(api.send(put(CASHIER, 'a')).await.code(), "nothing_changed");
    // The history: what it was, what it became, who and why.
    let history = get(&api, BuiltinRole::ReadOnly, 'a', &format!("{path}/history")).await;
    let entry = &history["items"][0];
    assert_eq!(entry["action"], "update_customer");
    assert!(entry["before"].as_str().unwrap().contains(before["phones"][0].as_str().unwrap()), "{entry}");
    assert!(entry["after"].as_str().unwrap().contains("13900002222"), "{entry}");
    assert!(entry["after"].as_str().unwrap().contains("reason=new phone"), "{entry}");
    assert_eq!(entry["operator_id"], api.operators[&("cashier".to_string(), 'a')].to_string());
    let r = api.send(api.as_(BuiltinRole::ReadOnly, 'b', Method::GET, &format!("{path}/history"))).await;
    assert_eq!(r.status.as_u16(), 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_suspended_account_is_tripped_and_held_and_resumption_closes_its_supply() {
    let api = Api::new().await;
    let (account, meter) = (api.estate.account_a.to_string(), api.estate.remote_meter.to_string());
    sell(&api, 'a', &account, &meter, "50.00").await.ok();
    let suspend = format!("/api/v1/accounts/{account}/suspend");
    let r = api.send(post(&api, CASHIER, 'b', &suspend, json!({"reason": "moving out for the winter"}))).await;
    assert_eq!(r.status.as_u16(), 404);
    let key = "suspend-once";
    let req =
        api.as_(CASHIER, 'a', Method::POST, &suspend).key(key).json(json!({"reason": "moving out for the winter"}));
    let suspended = api.send(req.clone()).await.ok();
    assert_eq!(suspended["status"], "suspended");
    assert_eq!(suspended["supplies"][0], json!({"meter_id": meter, "relay": "open"}));
    let again = api.send(req).await;
    assert_eq!(again.headers.get("idempotent-replayed").map(|v| v.to_str().unwrap()), Some("true"));
    assert_eq!(again.ok()["status"], "suspended");
    let twice = api.send(post(&api, CASHIER, 'a', &suspend, json!({"reason": "again"}))).await;
    assert_eq!(twice.code(), "account_illegal_transition");
    // The trip is queued for the head end, and neither a sale nor a reading closes the supply.
    let commands = get(&api, CASHIER, 'a', &format!("/api/v1/meters/{meter}/commands")).await;
    let trip = &commands["items"][0];
    assert_eq!((trip["kind"].as_str(), trip["status"].as_str()), (Some("relay_trip"), Some("pending")));
    assert_eq!(trip["reason"], "account suspended");
    let view = get(&api, CASHIER, 'a', &format!("/api/v1/accounts/{account}")).await;
    assert_eq!((view["status"].as_str(), view["meters"][0]["relay"].as_str()), (Some("suspended"), Some("open")));
    let refused = sell(&api, 'a', &account, &meter, "20.00").await;
    assert_eq!(refused.code(), "account_suspended");
    assert!(refused.json()["details"]["refused_payment_id"].is_string(), "the money taken is kept to hand back");
    let billed = read(&api, api.estate.remote_meter, "2026-11-23T09:00:00Z", 1_000).await;
    assert_eq!(billed.relay, None);

    let resumed = api
        .send(post(&api, CASHIER, 'a', &format!("/api/v1/accounts/{account}/resume"), json!({"reason": "back"})))
        .await;
    let resumed = resumed.ok();
    assert_eq!(
        (resumed["status"].as_str(), resumed["supplies"][0]["relay"].as_str()),
        (Some("active"), Some("closed"))
    );
    let view = get(&api, CASHIER, 'a', &format!("/api/v1/accounts/{account}")).await;
    assert_eq!((view["status"].as_str(), view["meters"][0]["relay"].as_str()), (Some("active"), Some("closed")));
    // The close supersedes the trip the head end had not carried out yet.
    let commands = get(&api, CASHIER, 'a', &format!("/api/v1/meters/{meter}/commands")).await;
    let status_of = |kind: &str| {
        commands["items"].as_array().unwrap().iter().find(|c| c["kind"] == kind).map(|c| c["status"].clone())
    };
    assert_eq!(
        (status_of("relay_close"), status_of("relay_trip")),
        (Some(json!("pending")), Some(json!("superseded")))
    );
    sell(&api, 'a', &account, &meter, "20.00").await.ok();
    let history = get(&api, BuiltinRole::Auditor, 'a', &format!("/api/v1/accounts/{account}/history")).await;
    let actions: Vec<&str> = history["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "set_account_status")
        .map(|e| e["after"].as_str().unwrap())
        .collect();
    assert_eq!(actions.len(), 2, "{history}");
    assert!(actions[0].starts_with("status=active"), "{actions:?}");
    assert!(actions[1].starts_with("status=suspended commands=relay_trip:"), "{actions:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closing_an_account_pays_its_arrears_from_credit_refunds_the_rest_and_frees_its_meter() {
    let api = Api::new().await;
    let e = api.estate.clone();
    let (account, meter) = (e.account_a.to_string(), e.remote_meter.to_string());
    // Old arrears of 30.00 (an imported debt), then a payment of 100.00 (of which the recovery takes its share).
    let record = api.store.account(e.account_a).await.unwrap();
    let books = api.store.books(e.books).await.unwrap();
    let mut estate = e.clone();
    let debt = TransferRequest::simple(
        TransferId::from_uuid(uuid::Uuid::from_u128(0xDEB7)),
        TransferKind::Adjustment,
        record.arrears,
        books.write_off,
        Money::from_minor(3_000, voltvend_domain::Currency::CNY),
        "arrears imported",
    );
    api.store.submit(estate.system(Command::PostTransfer(debt))).await.unwrap();
    // The meter shows its balance on its display.
    let set = api
        .as_(BuiltinRole::Manager, 'a', axum::http::Method::PUT, &format!("/api/v1/meters/{meter}/channel"))
        .fresh_key()
        .json(json!({"channel": "dlt645+tcp://10.0.0.5:8001", "shows_credit": true}));
    assert_eq!(api.send(set).await.status.as_u16(), 204);
    sell(&api, 'a', &account, &meter, "100.00").await.ok();
    let view = get(&api, CASHIER, 'a', &format!("/api/v1/accounts/{account}")).await;
    let minor = |v: &Value| v["minor"].as_str().unwrap().parse::<i64>().unwrap();
    let (balance, arrears) = (minor(&view["balance"]), minor(&view["arrears"]));
    assert!(balance > arrears && arrears > 0, "{view}");

    let close = format!("/api/v1/accounts/{account}/close");
    let r = api.send(post(&api, CASHIER, 'a', &close, json!({"reason": "moved away"}))).await;
    assert_eq!((r.status.as_u16(), r.code().as_str()), (422, "refund_required"));
    let r = api
        .send(post(&api, BuiltinRole::Manager, 'a', &close, json!({"reason": "moved away", "refund": {"to": "cash"}})))
        .await;
    assert_eq!(r.code(), "no_open_shift", "a cash refund comes from one's own drawer");
    let r = api.send(post(&api, CASHIER, 'a', &close, json!({"reason": "x", "refund": {"to": "card"}}))).await;
    assert_eq!(r.json()["details"]["field"], "refund");
    assert_eq!(get(&api, CASHIER, 'a', &format!("/api/v1/accounts/{account}")).await, view, "refusals change nothing");

    let settled = api
        .send(post(&api, CASHIER, 'a', &close, json!({"reason": "moved away", "refund": {"to": "cash"}})))
        .await
        .ok();
    assert_eq!(minor(&settled["arrears_paid"]), arrears);
    assert_eq!(minor(&settled["refunded"]), balance - arrears);
    assert_eq!((minor(&settled["arrears_left"]), settled["refund_to"].as_str()), (0, Some("cash")));
    assert_eq!(settled["final_readings"][0]["meter_id"], meter);
    let closed = get(&api, CASHIER, 'a', &format!("/api/v1/accounts/{account}")).await;
    assert_eq!(
        (closed["status"].as_str(), minor(&closed["balance"]), minor(&closed["arrears"])),
        (Some("closed"), 0, 0)
    );
    let m = get(&api, CASHIER, 'a', &format!("/api/v1/meters/{meter}")).await;
    assert_eq!(
        (m["state"].as_str(), m["account_id"].as_str(), m["relay"].as_str()),
        (Some("installed"), None, Some("open"))
    );
    // Its display no longer shows the closed account's balance: 0.00 is written to it.
    let supply = get(&api, BuiltinRole::Manager, 'a', &format!("/api/v1/meters/{meter}/supply")).await;
    let writes: Vec<_> = supply["pending"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["kind"] == "write_balance")
        .map(|c| c["value"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(writes, ["0"], "{supply}");
    assert_eq!(sell(&api, 'a', &account, &meter, "10.00").await.code(), "account_closed");
    // The refund left the drawer: it holds the float and the day's cash (the sale, and the 10.00 of the sale
    // refused above, owed back), less what was handed back.
    let shift = get(&api, CASHIER, 'a', "/api/v1/shifts/current").await;
    let closed_shift = api
        .send(post(
            &api,
            CASHIER,
            'a',
            &format!("/api/v1/shifts/{}/close", shift["id"].as_str().unwrap()),
            json!({"counted": "0.00"}),
        ))
        .await
        .ok();
    assert_eq!(minor(&closed_shift["expected"]), 10_000 + 10_000 + 1_000 - (balance - arrears));
    // The next occupant opens an account on the meter left installed.
    let opened = api
        .send(post(
            &api,
            BuiltinRole::Manager,
            'a',
            "/api/v1/accounts",
            json!({
            "customer": {"name": "Chen Jie 陈杰"}, "premises_id": e.unit_a.id.to_string(), "currency": "CNY",
            "meters": [{"meter_id": meter, "tariff_code": "test-flat"}]}),
        ))
        .await
        .ok();
    let next = get(&api, CASHIER, 'a', &format!("/api/v1/accounts/{}", opened["account_id"].as_str().unwrap())).await;
    assert_eq!(next["meters"][0]["id"], meter);
    let history = get(&api, BuiltinRole::Auditor, 'a', &format!("/api/v1/accounts/{account}/history")).await;
    let entry = history["items"].as_array().unwrap().iter().find(|e| e["action"] == "close_account").unwrap();
    assert!(entry["after"].as_str().unwrap().contains(&format!("refunded={}", balance - arrears)), "{entry}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_negative_wallet_becomes_the_closed_accounts_debt() {
    let api = Api::new().await;
    let e = api.estate.clone();
    let account = e.account_a.to_string();
    // Consumption beyond the credit (the energy was used either way) leaves the wallet at zero and the rest owed;
    // with no credit, closing needs no refund.
    read(&api, e.remote_meter, "2026-11-23T09:00:00Z", 1_000).await;
    let billed = read(&api, e.remote_meter, "2026-11-23T10:00:00Z", 1_005).await;
    assert!(billed.charged_minor > 0);
    let view = get(&api, CASHIER, 'a', &format!("/api/v1/accounts/{account}")).await;
    let owed: i64 = view["arrears"]["minor"].as_str().unwrap().parse().unwrap();
    let settled = api
        .send(post(&api, CASHIER, 'a', &format!("/api/v1/accounts/{account}/close"), json!({"reason": "left owing"})))
        .await
        .ok();
    assert_eq!(settled["arrears_left"]["minor"].as_str().unwrap().parse::<i64>().unwrap(), owed);
    assert_eq!(settled["refunded"]["minor"], "0");
    assert!(settled["final_readings"][0]["at"].as_str().unwrap().starts_with("2026-11-23T10:00:00"));
}

pub(super) fn sts_meter_of(api: &Api, address: &str) -> StsMeter {
    let pan = voltvend_sts::Pan::from_parts("600727", address).unwrap();
    let params = api.estate.sts_record.params.clone();
    let key = VendingKey::from_hex(VENDING_KEY_HEX).unwrap().derive(&pan, &params).unwrap();
    StsMeter::new(key, params, 100)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ownership_transfer_hands_the_meters_to_the_new_owner_and_settles_the_old() {
    let api = Api::new().await;
    let e = api.estate.clone();
    let (account, meter) = (e.account_b.to_string(), e.sts_meter.to_string());
    let address =
        get(&api, CASHIER, 'b', &format!("/api/v1/meters/{meter}")).await["address"].as_str().unwrap().to_string();
    let mut sts = sts_meter_of(&api, &address);
    let first = sell(&api, 'b', &account, &meter, "30.00").await.ok();
    assert!(matches!(sts.enter(first["tokens"][0].as_str().unwrap()).unwrap(), Accepted::Credit { .. }));

    let transfer = format!("/api/v1/accounts/{account}/transfer");
    let same = json!({"reason": "sold", "customer_id": customer_of(&api, e.account_b)});
    assert_eq!(api.send(post(&api, CASHIER, 'b', &transfer, same)).await.code(), "same_owner");
    // What an STS sale could not turn into whole token units is left in the wallet: it is refunded.
    let body = json!({"reason": "flat sold", "customer": {"name": "Li Na 李娜", "phones": ["13700003333"]}});
    let r = api.send(post(&api, CASHIER, 'b', &transfer, body.clone())).await;
    assert_eq!(r.code(), "refund_required");
    let body = json!({"reason": "flat sold", "customer": {"name": "Li Na 李娜", "phones": ["13700003333"]},
                      "refund": {"to": "cash"}});
    assert_eq!(api.send(post(&api, CASHIER, 'a', &transfer, body.clone())).await.status.as_u16(), 404);
    let settled = api.send(post(&api, CASHIER, 'b', &transfer, body)).await.ok();
    assert_eq!(settled["status"], "closed");
    let new_account = settled["new_account_id"].as_str().unwrap();
    let new_customer =
        get(&api, CASHIER, 'b', &format!("/api/v1/customers/{}", settled["new_customer_id"].as_str().unwrap())).await;
    assert_eq!(new_customer["name"], "Li Na 李娜");
    let old = get(&api, CASHIER, 'b', &format!("/api/v1/accounts/{account}")).await;
    assert_eq!((old["status"].as_str(), old["meters"].as_array().map(Vec::len)), (Some("closed"), Some(0)));
    let new = get(&api, CASHIER, 'b', &format!("/api/v1/accounts/{new_account}")).await;
    assert_eq!((new["status"].as_str(), new["meters"][0]["id"].as_str()), (Some("active"), Some(meter.as_str())));
    assert_eq!(new["meters"][0]["tariff_code"], old_tariff(&api).await);
    // The meter's STS state went with it: the new owner's token is the next the meter takes.
    let bought = sell(&api, 'b', new_account, &meter, "20.00").await.ok();
    assert!(matches!(sts.enter(bought["tokens"][0].as_str().unwrap()).unwrap(), Accepted::Credit { .. }));
    assert_eq!(sell(&api, 'b', &account, &meter, "20.00").await.code(), "account_closed");
}

async fn old_tariff(api: &Api) -> Value {
    json!(
        api.estate
            .setup
            .iter()
            .find_map(|op| match &op.command {
                Command::OpenAccount(a) if a.account_id == api.estate.account_b => a.meters[0].tariff_code.clone(),
                _ => None,
            })
            .unwrap()
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replaced_remote_meter_bills_its_last_interval_and_its_successor_goes_on_from_its_first_reading() {
    let api = Api::new().await;
    let e = api.estate.clone();
    let (account, old) = (e.account_a.to_string(), e.remote_meter.to_string());
    sell(&api, 'a', &account, &old, "100.00").await.ok();
    read(&api, e.remote_meter, "2026-11-23T09:00:00Z", 1_000).await;
    let replace = format!("/api/v1/meters/{old}/replace");
    let new_meter =
        json!({"serial": "DLT-NEW-7", "utility": "electricity", "protocol": "dlt645", "address": "000000000777"});
    let final_reading = json!({"at": "2026-11-23T11:00:00Z", "registers": [{"register": "total", "value": "1010"}]});
    let first = json!({"at": "2026-11-23T11:30:00Z", "registers": [{"register": "total", "value": "5.000"}]});
    let body = json!({"reason": "display dead", "new": new_meter, "old_final": final_reading, "first_reading": first});
    // Refusals: the cashier may not; no first reading; credit on a remote meter; the wrong building.
    assert_eq!(api.send(post(&api, CASHIER, 'a', &replace, body.clone())).await.code(), "forbidden");
    let mut no_first = body.clone();
    no_first.as_object_mut().unwrap().remove("first_reading");
    assert_eq!(api.send(post(&api, ENGINEER, 'a', &replace, no_first)).await.code(), "first_reading_required");
    let mut credit = body.clone();
    credit["old_credit"] = json!("3.5");
    assert_eq!(api.send(post(&api, ENGINEER, 'a', &replace, credit)).await.code(), "meter_not_local");
    let mut lower = body.clone();
    lower["old_final"]["registers"][0]["value"] = json!("900");
    assert_eq!(api.send(post(&api, ENGINEER, 'a', &replace, lower)).await.code(), "final_reading_flagged");
    assert_eq!(api.send(post(&api, ENGINEER, 'b', &replace, body.clone())).await.status.as_u16(), 404);
    let before = get(&api, CASHIER, 'a', &format!("/api/v1/accounts/{account}")).await;

    let done = api.send(post(&api, ENGINEER, 'a', &replace, body)).await.ok();
    let charged: i64 = done["final_charged"]["minor"].as_str().unwrap().parse().unwrap();
    assert!(charged > 0, "{done}");
    let new = done["new_meter_id"].as_str().unwrap();
    let after = get(&api, CASHIER, 'a', &format!("/api/v1/accounts/{account}")).await;
    let minor = |v: &Value| v["minor"].as_str().unwrap().parse::<i64>().unwrap();
    assert_eq!(minor(&before["balance"]) - minor(&after["balance"]), charged, "the last interval billed");
    assert_eq!(after["meters"].as_array().unwrap().len(), 1);
    assert_eq!(after["meters"][0]["id"], new);
    assert_eq!(after["meters"][0]["tariff_code"], "test-flat");
    let old_view = get(&api, CASHIER, 'a', &format!("/api/v1/meters/{old}")).await;
    assert_eq!(old_view["state"], "replaced");
    // The same consumption on the successor costs the same: billing went on from its first reading.
    let billed = read(&api, new.parse::<uuid::Uuid>().unwrap().into(), "2026-11-23T13:00:00Z", 15).await;
    assert_eq!((billed.billed, billed.charged_minor), (1, charged));
    let history = get(&api, BuiltinRole::Auditor, 'a', "/api/v1/audit?action=replace_meter").await;
    assert!(history["items"][0]["after"].as_str().unwrap().contains("serial=DLT-NEW-7"), "{history}");
    let again = api.send(post(&api, ENGINEER, 'a', &replace, json!({"reason": "x", "new_meter_id": new}))).await;
    assert_eq!(again.code(), "meter_not_active");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replaced_keypad_meter_records_the_credit_left_and_its_successor_takes_tokens() {
    let api = Api::new().await;
    let e = api.estate.clone();
    let (account, old) = (e.account_b.to_string(), e.sts_meter.to_string());
    let replace = format!("/api/v1/meters/{old}/replace");
    let sts = json!({"iin": "600727", "ea": "07", "key_type": 2, "supply_group": e.sts_record.params.sgc,
                     "tariff_index": e.sts_record.params.ti, "key_revision": e.sts_record.params.krn, "base_date": "14"});
    let new_meter =
        json!({"serial": "STS-NEW-9", "utility": "electricity", "protocol": "sts_keypad", "address": "09090909090"});
    let missing = json!({"reason": "tamper", "new": new_meter});
    assert_eq!(api.send(post(&api, ENGINEER, 'b', &replace, missing)).await.code(), "sts_required");
    let water = json!({"reason": "x", "new": {"serial": "W-1", "utility": "water", "protocol": "sts_keypad", "address": "09090909091"}, "sts": sts});
    assert_eq!(api.send(post(&api, ENGINEER, 'b', &replace, water)).await.code(), "utility_mismatch");
    let on_old = sell(&api, 'b', &account, &old, "20.00").await.ok();
    let body = json!({"reason": "tamper", "new": new_meter, "sts": sts, "old_credit": "12.55"});
    let done = api.send(post(&api, ENGINEER, 'b', &replace, body)).await.ok();
    assert_eq!(done["old_credit"], json!({"unit": "kWh", "amount": "12.550", "milli": "12550"}));
    // The credit goes over to the new meter on a credit token of whole tenths, which the meter accepts.
    assert_eq!(done["carried"], json!({"unit": "kWh", "amount": "12.500", "milli": "12500"}));
    let new = done["new_meter_id"].as_str().unwrap();
    let mut meter = sts_meter_of(&api, "09090909090");
    match meter.enter(done["carried_token"].as_str().unwrap()).unwrap() {
        Accepted::Credit { tenths, .. } => assert_eq!(tenths, 125, "tenths of a kWh"),
        other => panic!("{other:?}"),
    }
    let sold = sell(&api, 'b', &account, new, "20.00").await.ok();
    assert!(matches!(meter.enter(sold["tokens"][0].as_str().unwrap()).unwrap(), Accepted::Credit { .. }));
    assert_eq!(sell(&api, 'b', &account, &old, "20.00").await.code(), "meter_not_active");
    let entry = &get(&api, BuiltinRole::Auditor, 'b', "/api/v1/audit?action=replace_meter").await["items"][0];
    assert!(entry["after"].as_str().unwrap().contains("old_credit_milli=12550"), "{entry}");
    assert!(entry["after"].as_str().unwrap().contains("carried_milli=12500"), "{entry}");
    // What was sold onto the old meter now counts for the new one (累计结余), and the token is on its record.
    let replaced = get(&api, CASHIER, 'b', &format!("/api/v1/meters/{old}")).await;
    assert_eq!(replaced["local_credit"]["sold"]["milli"], "0", "{replaced}");
    let successor = get(&api, CASHIER, 'b', &format!("/api/v1/meters/{new}")).await;
    let milli = |v: &Value| v["milli"].as_str().unwrap().parse::<i64>().unwrap();
    assert_eq!(
        milli(&successor["local_credit"]["sold"]),
        milli(&on_old["quantity"]) + milli(&sold["quantity"]),
        "the old meter's sales and the new one's: {successor}"
    );
    let tokens = get(&api, CASHIER, 'b', &format!("/api/v1/meters/{new}/tokens")).await;
    assert_eq!(tokens["items"][0]["kind"], "carried_credit", "{tokens}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_suspended_account_closed_leaves_no_hold_on_the_next_occupants_supply() {
    let api = Api::new().await;
    let e = api.estate.clone();
    let (account, meter) = (e.account_a.to_string(), e.remote_meter.to_string());
    sell(&api, 'a', &account, &meter, "50.00").await.ok();
    let suspend = format!("/api/v1/accounts/{account}/suspend");
    api.send(post(&api, CASHIER, 'a', &suspend, json!({"reason": "away"}))).await.ok();
    let close = format!("/api/v1/accounts/{account}/close");
    api.send(post(&api, CASHIER, 'a', &close, json!({"reason": "gone", "refund": {"to": "cash"}}))).await.ok();
    let opened = api
        .send(post(
            &api,
            CASHIER,
            'a',
            "/api/v1/accounts",
            json!({
            "customer": {"name": "Next Occupant"}, "premises_id": e.unit_a.id.to_string(), "currency": "CNY",
            "meters": [{"meter_id": meter, "tariff_code": "test-flat"}],
            "first_sale": {"method": "cash", "amount": "30.00"}}),
        ))
        .await
        .ok();
    let next = get(&api, CASHIER, 'a', &format!("/api/v1/accounts/{}", opened["account_id"].as_str().unwrap())).await;
    assert_eq!(next["meters"][0]["relay"], "closed", "the first payment closes the supply: {next}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_account_goes_postpaid_at_a_clean_cut_over_is_not_cut_off_and_comes_back_prepaid() {
    let api = Api::new().await;
    let e = api.estate.clone();
    let (account, meter) = (e.account_a.to_string(), e.remote_meter.to_string());
    let path = format!("/api/v1/accounts/{account}/billing-mode");
    let to = |mode: &str| json!({"mode": mode, "reason": "tenant's lease moves to monthly bills"});
    // Prepaid: with no credit the supply is tripped.
    read(&api, e.remote_meter, "2026-11-23T09:00:00Z", 1_000).await;
    read(&api, e.remote_meter, "2026-11-23T10:00:00Z", 1_005).await;
    let view = get(&api, CASHIER, 'a', &format!("/api/v1/accounts/{account}")).await;
    assert_eq!(view["meters"][0]["relay"], "open", "{view}");
    // Refusals first: a cashier may not (no credit limit is a manager's decision); from building B it is not there; the same mode; a bad mode; an account with a keypad meter.
    assert_eq!(api.send(post(&api, CASHIER, 'a', &path, to("postpaid"))).await.code(), "forbidden");
    assert_eq!(api.send(post(&api, BuiltinRole::Manager, 'b', &path, to("postpaid"))).await.status.as_u16(), 404);
    assert_eq!(api.send(post(&api, BuiltinRole::Manager, 'a', &path, to("prepaid"))).await.code(), "nothing_changed");
    assert_eq!(api.send(post(&api, BuiltinRole::Manager, 'a', &path, to("weekly"))).await.code(), "bad_value");
    let sts_path = format!("/api/v1/accounts/{}/billing-mode", e.account_b);
    assert_eq!(
        api.send(post(&api, BuiltinRole::Manager, 'b', &sts_path, to("postpaid"))).await.code(),
        "postpaid_needs_remote"
    );

    // Postpaid: the cut-over is the last billed reading; the supply tripped for credit closes again.
    let switched = api.send(post(&api, BuiltinRole::Manager, 'a', &path, to("postpaid"))).await.ok();
    assert_eq!(switched["billing_mode"], "postpaid");
    assert_eq!(switched["cutover_readings"][0]["meter_id"], meter.as_str());
    assert!(switched["cutover_readings"][0]["at"].as_str().unwrap().starts_with("2026-11-23T10:00:00"));
    let commands = get(&api, CASHIER, 'a', &format!("/api/v1/meters/{meter}/commands")).await;
    let kinds: Vec<(&str, &str)> = commands["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["kind"].as_str().unwrap(), c["status"].as_str().unwrap()))
        .collect();
    assert!(kinds.contains(&("relay_close", "pending")) && kinds.contains(&("relay_trip", "superseded")), "{commands}");
    // Consumption is billed and owed, never a trip.
    let owed_before = get(&api, CASHIER, 'a', &format!("/api/v1/accounts/{account}")).await["arrears"]["minor"]
        .as_str()
        .unwrap()
        .parse::<i64>()
        .unwrap();
    let billed = read(&api, e.remote_meter, "2026-11-23T11:00:00Z", 1_020).await;
    assert!(billed.charged_minor > 0 && billed.relay.is_none(), "{billed:?}");
    let view = get(&api, CASHIER, 'a', &format!("/api/v1/accounts/{account}")).await;
    assert_eq!(view["billing_mode"], "postpaid");
    let owed = view["arrears"]["minor"].as_str().unwrap().parse::<i64>().unwrap();
    assert_eq!(owed - owed_before, billed.charged_minor);
    // Back to prepaid: nothing left on the wallet to move (what was used is owed already); history says both.
    let back = api.send(post(&api, BuiltinRole::Manager, 'a', &path, to("prepaid"))).await.ok();
    assert_eq!((back["billing_mode"].as_str(), back["to_arrears"]["minor"].as_str()), (Some("prepaid"), Some("0")));
    let history = get(&api, CASHIER, 'a', &format!("/api/v1/accounts/{account}/history")).await;
    let switches = history["items"].as_array().unwrap().iter().filter(|h| h["action"] == "switch_billing_mode").count();
    assert_eq!(switches, 2);
}
