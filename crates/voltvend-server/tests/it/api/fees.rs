//! 房租 / 物业费 through the API, as a property manager and a cashier do it: floor areas, a property fee per m²,
//! a month previewed and issued once, the overdue policy taking a share of a sale, the fees paid at the counter
//! with a receipt of the vending point's numbering, and the policy blocking sales — figures checked by hand.

use axum::http::Method;
use serde_json::{Value, json};
use voltvend_domain::{BuiltinRole, Clock};

use super::Api;
use super::lifecycle::{get, post};

const MANAGER: BuiltinRole = BuiltinRole::Manager;
const CASHIER: BuiltinRole = BuiltinRole::Cashier;
const ADMIN: BuiltinRole = BuiltinRole::Administrator;

fn minor(v: &Value) -> i64 {
    v["minor"].as_str().unwrap().parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_manager_charges_rent_and_a_cashier_collects_it() {
    let api = Api::new().await;
    let e = &api.estate;
    let block_a = e.building_a.id.to_string();
    // A-101's floor area; a bad one is refused next to its field.
    let area = format!("/api/v1/premises/{}/floor-area", e.unit_a.id);
    let r = api.send(post(&api, MANAGER, 'a', &area, json!({"floor_area_m2": "85.50"}))).await.ok();
    assert_eq!(r["floor_area_m2"], "85.50");
    let r = api.send(post(&api, MANAGER, 'a', &area, json!({"floor_area_m2": "0"}))).await;
    assert_eq!((r.status.as_u16(), r.code().as_str()), (422, "bad_floor_area"));
    let r = api
        .send(post(
            &api,
            MANAGER,
            'a',
            &format!("/api/v1/premises/{block_a}/floor-area"),
            json!({"floor_area_m2": "9"}),
        ))
        .await;
    assert_eq!(r.code(), "premises_not_unit");

    // 3.50 a m² a month, due on the 10th.
    let schedule = api
        .send(post(&api, MANAGER, 'a', "/api/v1/fee-schedules", json!({
            "premises_id": block_a, "name": "物业费", "basis": "per_m2", "rate": "3.50", "currency": "CNY", "due_day": 10
        })))
        .await;
    assert_eq!(schedule.status.as_u16(), 201, "{:?}", schedule.json());
    let id = schedule.json()["id"].as_str().unwrap().to_string();
    let r = api
        .send(post(
            &api,
            MANAGER,
            'a',
            "/api/v1/fee-schedules",
            json!({
                "premises_id": block_a, "name": "x", "basis": "per_m2", "rate": "3.50", "currency": "CNY", "due_day": 31
            }),
        ))
        .await;
    assert_eq!((r.status.as_u16(), r.code().as_str()), (422, "fee_due_day"));

    // October previewed (nothing changes), then issued: 3.50 × 85.50 = 299.25 for A-101.
    let october = format!("/api/v1/fee-schedules/{id}/periods/2026-10");
    let preview = get(&api, MANAGER, 'a', &october).await;
    assert_eq!((preview["status"].as_str(), minor(&preview["total"])), (Some("preview"), 29_925));
    let fees_of_a = format!("/api/v1/accounts/{}/fees", e.account_a);
    assert_eq!(minor(&get(&api, CASHIER, 'a', &fees_of_a).await["owed"]), 0, "a preview charges nothing");
    let issued = api.send(api.as_(MANAGER, 'a', Method::POST, &october).fresh_key()).await;
    assert_eq!(issued.status.as_u16(), 201, "{:?}", issued.json());
    let issued = issued.json();
    assert_eq!(issued["status"], "issued");
    assert_eq!(issued["due_on"], "2026-10-10");
    assert_eq!(issued["charges"][0]["unit"], "A-101");
    assert_eq!(minor(&issued["charges"][0]["amount"]), 29_925);
    assert_eq!(issued["charges"][0]["overdue"], true, "today is 2026-11-23");
    let again = api.send(api.as_(MANAGER, 'a', Method::POST, &october).fresh_key()).await;
    assert_eq!((again.status.as_u16(), again.code().as_str()), (409, "fees_issued"));

    // Block A takes 30 % of each purchase for overdue fees: a 100.00 sale pays 30.00 of them, 70.00 credit.
    let policy = format!("/api/v1/premises/{block_a}/fee-policy");
    let r = api
        .send(post(&api, MANAGER, 'a', &policy, json!({"policy": "share_of_purchase", "share_percent": "30"})))
        .await
        .ok();
    assert_eq!(r["share_percent"], "30.00");
    let sale_body = json!({"account_id": e.account_a.to_string(), "meter_id": e.remote_meter.to_string(), "method": "cash", "amount": "100.00"});
    let quote = api.send(post(&api, CASHIER, 'a', "/api/v1/sales/quote", sale_body.clone())).await.ok();
    assert_eq!((minor(&quote["property_fees"]), minor(&quote["credit"])), (3_000, 7_000));
    let sale = api.send(post(&api, CASHIER, 'a', "/api/v1/sales", sale_body.clone())).await;
    assert_eq!(sale.status.as_u16(), 201, "{:?}", sale.json());
    let sale = sale.json();
    assert_eq!((minor(&sale["property_fees"]), minor(&sale["credit"])), (3_000, 7_000));
    let receipt = api
        .send(api.as_(
            CASHIER,
            'a',
            Method::GET,
            &format!("/api/v1/sales/{}/receipt?lang=en", sale["id"].as_str().unwrap()),
        ))
        .await;
    assert!(String::from_utf8_lossy(&receipt.bytes).contains("Rent and fees recovered"));
    let fees = get(&api, CASHIER, 'a', &fees_of_a).await;
    assert_eq!((minor(&fees["owed"]), minor(&fees["overdue"])), (26_925, 26_925));
    assert_eq!((fees["policy"].as_str(), fees["share_percent"].as_str()), (Some("share_of_purchase"), Some("30.00")));

    // The cashier takes the rest at the counter: more is refused, the exact amount is taken with a receipt
    // numbered after the sale's.
    let pay = format!("/api/v1/accounts/{}/fee-payments", e.account_a);
    let r = api.send(post(&api, CASHIER, 'a', &pay, json!({"amount": "300.00", "method": "cash"}))).await;
    assert_eq!((r.status.as_u16(), r.code().as_str()), (409, "fees_overpaid"));
    let paid = api.send(post(&api, CASHIER, 'a', &pay, json!({"amount": "269.25", "method": "cash"}))).await;
    assert_eq!(paid.status.as_u16(), 201, "{:?}", paid.json());
    let paid = paid.json();
    assert_eq!(paid["receipt_no"].as_i64(), sale["receipt_no"].as_i64().map(|n| n + 1));
    assert_eq!((paid["lines"][0]["period"].as_str(), minor(&paid["lines"][0]["amount"])), (Some("2026-10"), 26_925));
    let html = api.send(api.as_(CASHIER, 'a', Method::GET, paid["receipt"]["html"].as_str().unwrap())).await;
    assert_eq!(html.status.as_u16(), 200);
    let text = String::from_utf8_lossy(&html.bytes).to_string();
    assert!(
        text.contains("房租物业费收据") && text.contains("物业费 2026-10 A-101") && text.contains("269.25"),
        "{text}"
    );
    assert!(!text.contains("副本"), "the cashier's original");
    // Another operator's print is a copy.
    let copy = api.send(api.as_(MANAGER, 'a', Method::GET, paid["receipt"]["html"].as_str().unwrap())).await;
    assert!(String::from_utf8_lossy(&copy.bytes).contains("副本"));
    let r = api.send(post(&api, CASHIER, 'a', &pay, json!({"amount": "1.00", "method": "cash"}))).await;
    assert_eq!(r.code(), "no_fees_due");
    // The shift's settlement counts the fees taken apart from the sales, and the share the sale paid.
    let shift = get(&api, CASHIER, 'a', "/api/v1/shifts/current").await["id"].as_str().unwrap().to_string();
    let settlement = get(&api, CASHIER, 'a', &format!("/api/v1/shifts/{shift}/settlement")).await;
    assert_eq!((settlement["fee_payments"].as_u64(), minor(&settlement["fees_paid"])), (Some(1), 26_925));
    assert_eq!(settlement["fees_by_method"][0]["method"], "cash");
    assert!(minor(&settlement["property_fees"]) >= 3_000, "{settlement}");
    // The sales report's property_fees column holds the sale's share.
    let report = get(
        &api,
        MANAGER,
        'a',
        "/api/v1/reports/sales?group_by=method&from=2026-11-01T00:00:00Z&to=2026-12-01T00:00:00Z",
    )
    .await;
    let cash = report["rows"].as_array().unwrap().iter().find(|r| r["key"] == "cash").unwrap();
    assert!(minor(&cash["property_fees"]) >= 3_000, "{report}");
    assert_eq!(get(&api, CASHIER, 'a', &fees_of_a).await["payments"].as_array().unwrap().len(), 1);

    // November issued (due November 10th, overdue today); the policy now blocks sales until paid.
    let november = format!("/api/v1/fee-schedules/{id}/periods/2026-11");
    api.send(api.as_(MANAGER, 'a', Method::POST, &november).fresh_key()).await.ok();
    api.send(post(&api, MANAGER, 'a', &policy, json!({"policy": "block_sales"}))).await.ok();
    let refused = api.send(post(&api, CASHIER, 'a', "/api/v1/sales", sale_body.clone())).await;
    assert_eq!((refused.status.as_u16(), refused.code().as_str()), (409, "fees_overdue"), "{:?}", refused.json());
    api.send(post(&api, CASHIER, 'a', &pay, json!({"amount": "299.25", "method": "cash"}))).await.ok();
    api.send(post(&api, CASHIER, 'a', "/api/v1/sales", sale_body)).await.ok();

    // The schedule lists both months; the policy is listed; a share without its percentage is refused.
    let s = get(&api, MANAGER, 'a', &format!("/api/v1/fee-schedules/{id}")).await;
    assert_eq!(s["issued"], json!(["2026-11", "2026-10"]));
    let policies = get(&api, MANAGER, 'a', "/api/v1/fee-policies").await;
    assert_eq!(policies[0]["policy"], "block_sales");
    let r = api.send(post(&api, MANAGER, 'a', &policy, json!({"policy": "share_of_purchase"}))).await;
    assert_eq!((r.status.as_u16(), r.code().as_str()), (422, "bad_fee_policy"));
    // `voltvend check`'s invariants hold: the receivable is what the charges owe, receipts have no gaps.
    let report = api.store.check(voltvend_store::CheckScope::Full).await.unwrap();
    assert!(report.is_ok(), "{:?}", report.problems);
}

/// 后付费账单 through the API: a manager puts A-101 on monthly bills and makes Block A's billing cycle (a 5.00
/// standing charge, due on the 10th of the month after, a 5 % late fee); October's bill is 100 kWh at 0.60 plus the standing charge,
/// shown and printed; dunning adds the late fee once; the cashier takes more than the bill and the rest is
/// credit. Figures by hand; scope and permissions checked on the way.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_postpaid_tenant_is_billed_dunned_and_pays_with_the_rest_as_credit() {
    let api = Api::new().await;
    let e = api.estate.clone();
    let block_a = e.building_a.id.to_string();
    let account = e.account_a.to_string();
    let to_postpaid = json!({"mode": "postpaid", "reason": "monthly bills from October"});
    api.send(post(&api, MANAGER, 'a', &format!("/api/v1/accounts/{account}/billing-mode"), to_postpaid)).await.ok();
    super::lifecycle::read(&api, e.remote_meter, "2026-10-01T00:00:00Z", 1_000).await;
    super::lifecycle::read(&api, e.remote_meter, "2026-10-20T00:00:00Z", 1_100).await;

    let cycle = |rate: &str, late: &str| {
        json!({"premises_id": block_a, "name": "电费账单", "basis": "postpaid", "rate": rate, "currency": "CNY",
               "due_day": 10, "late_fee_percent": late, "disconnect_after_days": 3})
    };
    let r = api.send(post(&api, MANAGER, 'a', "/api/v1/fee-schedules", cycle("5.00", "120"))).await;
    assert_eq!((r.status.as_u16(), r.code().as_str()), (422, "late_fee"));
    let per_unit_free = json!({"premises_id": block_a, "name": "x", "basis": "per_unit", "rate": "0", "currency": "CNY", "due_day": 10});
    let r = api.send(post(&api, MANAGER, 'a', "/api/v1/fee-schedules", per_unit_free)).await;
    assert_eq!(r.code(), "fee_rate", "only a standing charge may be zero");
    let r = api.send(post(&api, CASHIER, 'a', "/api/v1/fee-schedules", cycle("5.00", "5"))).await;
    assert_eq!(r.code(), "forbidden");
    let created = api.send(post(&api, MANAGER, 'a', "/api/v1/fee-schedules", cycle("5.00", "5"))).await;
    assert_eq!(created.status.as_u16(), 201, "{:?}", created.json());
    let created = created.json();
    assert_eq!((created["basis"].as_str(), created["late_fee_percent"].as_str()), (Some("postpaid"), Some("5.00")));
    assert_eq!(created["disconnect_after_days"], 3);
    let id = created["id"].as_str().unwrap().to_string();

    // October: 100 kWh × 0.60 = 60.00 used, + 5.00 standing = 65.00, due November 10th (overdue today).
    let october = format!("/api/v1/fee-schedules/{id}/periods/2026-10");
    let issued = api.send(api.as_(MANAGER, 'a', Method::POST, &october).fresh_key()).await;
    assert_eq!(issued.status.as_u16(), 201, "{:?}", issued.json());
    let issued = issued.json();
    assert_eq!((issued["charged"].as_i64(), issued["not_postpaid"].as_i64()), (Some(1), Some(0)));
    assert_eq!(issued["due_on"], "2026-11-10");
    let charge = &issued["charges"][0];
    assert_eq!((minor(&charge["usage"]), minor(&charge["amount"])), (6_000, 6_500));
    let bill_path = charge["bill"].as_str().unwrap().to_string();
    let bill = get(&api, CASHIER, 'a', &bill_path).await;
    assert_eq!((bill["unit"].as_str(), bill["period"].as_str()), (Some("A-101"), Some("2026-10")));
    assert_eq!((minor(&bill["usage"]), minor(&bill["standing_charge"]), minor(&bill["amount"])), (6_000, 500, 6_500));
    assert_eq!(bill["consumption"][0]["consumption"], "100.000", "{bill}");
    let lines: Vec<i64> =
        ["energy_charges", "tax", "common_area", "earlier_balance"].iter().map(|k| minor(&bill[k])).collect();
    assert_eq!(lines, vec![6_000, 0, 0, 0], "all of its usage is October's energy");
    assert_eq!(bill["overdue"], true);
    let pdf = api.send(api.as_(CASHIER, 'a', Method::GET, &format!("{bill_path}?format=pdf&lang=en"))).await;
    assert_eq!(pdf.status.as_u16(), 200);
    assert!(pdf.bytes.starts_with(b"%PDF"));
    // Building B's cashier does not see Block A's bill.
    assert_eq!(api.send(api.as_(CASHIER, 'b', Method::GET, &bill_path)).await.status.as_u16(), 404);

    // Dunning: a manager's; 5 % of 65.00 = 3.25, once.
    let dunning = format!("{october}/dunning");
    let r = api.send(api.as_(CASHIER, 'a', Method::POST, &dunning).fresh_key()).await;
    assert_eq!(r.code(), "forbidden");
    let dunned = api.send(api.as_(MANAGER, 'a', Method::POST, &dunning).fresh_key()).await.ok();
    assert_eq!((dunned["dunned"].as_i64(), minor(&dunned["late_fees"])), (Some(1), 325));
    assert_eq!(minor(&dunned["charges"][0]["amount"]), 6_825);
    let again = api.send(api.as_(MANAGER, 'a', Method::POST, &dunning).fresh_key()).await;
    assert_eq!((again.status.as_u16(), again.code().as_str()), (409, "fees_dunned"));
    // Disconnection only after the three days' notice dunning gave; a rent schedule may never disconnect.
    let cut = api.send(api.as_(MANAGER, 'a', Method::POST, &format!("{october}/disconnection")).fresh_key()).await;
    assert_eq!((cut.status.as_u16(), cut.code().as_str()), (409, "notice_running"));
    let rent_cut = json!({"premises_id": block_a, "name": "租金", "basis": "per_unit", "rate": "100", "currency": "CNY",
                          "due_day": 10, "disconnect_after_days": 3});
    let r = api.send(post(&api, MANAGER, 'a', "/api/v1/fee-schedules", rent_cut)).await;
    assert_eq!((r.status.as_u16(), r.code().as_str()), (422, "disconnect_postpaid_only"));
    // The month's bills as a spreadsheet's CSV.
    let csv = api
        .send(api.as_(
            MANAGER,
            'a',
            Method::GET,
            &format!("/api/v1/reports/bills?schedule_id={id}&period=2026-10&format=csv"),
        ))
        .await;
    let text = String::from_utf8_lossy(&csv.bytes).to_string();
    assert!(
        text.starts_with(
            "unit,account_id,due_on,carried,usage,standing_charge,credit_applied,late_fee,adjusted,amount"
        ),
        "{text}"
    );
    assert!(
        text.contains(&format!("A-101,{account},2026-11-10,0.00,60.00,5.00,0.00,3.25,0.00,68.25,0.00,68.25")),
        "{text}"
    );

    // 100.00 at the counter: 68.25 pays the bill, 31.75 is credit, on the receipt.
    let pay = format!("/api/v1/accounts/{account}/fee-payments");
    let paid = api.send(post(&api, CASHIER, 'a', &pay, json!({"amount": "100.00", "method": "cash"}))).await;
    assert_eq!(paid.status.as_u16(), 201, "{:?}", paid.json());
    let paid = paid.json();
    assert_eq!((minor(&paid["lines"][0]["amount"]), minor(&paid["credit"])), (6_825, 3_175));
    let html = api.send(api.as_(CASHIER, 'a', Method::GET, paid["receipt"]["html"].as_str().unwrap())).await;
    let text = String::from_utf8_lossy(&html.bytes).to_string();
    assert!(text.contains("68.25") && text.contains("31.75"), "{text}");
    let fees = get(&api, CASHIER, 'a', &format!("/api/v1/accounts/{account}/fees")).await;
    assert_eq!(minor(&fees["owed"]), 0);
    assert_eq!(fees["charges"][0]["bill"].as_str(), Some(bill_path.as_str()));
    // November's bill, issued on December 1st: its readings run from October's bill to it — the 50 kWh read on
    // November 30th, not October's.
    api.clock.set("2026-12-01T01:00:00Z".parse().unwrap());
    super::lifecycle::read(&api, e.remote_meter, "2026-11-30T00:00:00Z", 1_150).await;
    let november = format!("/api/v1/fee-schedules/{id}/periods/2026-11");
    let issued = api.send(api.as_(MANAGER, 'a', Method::POST, &november).fresh_key()).await;
    assert_eq!(issued.status.as_u16(), 201, "{:?}", issued.json());
    let path = issued.json()["charges"][0]["bill"].as_str().unwrap().to_string();
    let later = get(&api, CASHIER, 'a', &path).await;
    assert_eq!(later["readings_from"], bill["readings_to"], "{later}");
    assert_eq!(later["consumption"][0]["consumption"], "50.000", "{later}");
    let report = api.store.check(voltvend_store::CheckScope::Full).await.unwrap();
    assert!(report.is_ok(), "{:?}", report.problems);
}

/// 催缴 and 欠费停电 by the cycle's rules, without an operator (`billing::sweep`, run by the server every
/// `fees.dun_every_minutes`): a postpaid bill issued November 1st and due the 10th is dunned at the first look on
/// the 11th (its late fee once, however often the server looks); a month issued late (September's, on the 11th) is
/// left a week before it is dunned; a rent month waits for the day after its own due date; the bill still unpaid
/// is disconnected once the 3 days' notice has run (Shanghai's date), not a day before; each by the system, in the
/// audit trail; a month an operator already dunned is left alone, and one that fell due long ago is left to an
/// operator.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unpaid_bills_are_dunned_and_disconnected_by_the_cycles_rules() {
    use voltvend_server::billing::{Swept, sweep};
    let api = Api::new().await;
    let e = api.estate.clone();
    let (block_a, account, meter) = (e.building_a.id.to_string(), e.account_a.to_string(), e.remote_meter.to_string());
    let to_postpaid = json!({"mode": "postpaid", "reason": "monthly bills from October"});
    api.send(post(&api, MANAGER, 'a', &format!("/api/v1/accounts/{account}/billing-mode"), to_postpaid)).await.ok();
    super::lifecycle::read(&api, e.remote_meter, "2026-10-01T00:00:00Z", 1_000).await;
    super::lifecycle::read(&api, e.remote_meter, "2026-10-20T00:00:00Z", 1_100).await;
    api.clock.set("2026-11-01T02:00:00Z".parse().unwrap());
    let cycle = json!({"premises_id": block_a, "name": "电费账单", "basis": "postpaid", "rate": "5.00", "currency": "CNY",
                       "due_day": 10, "late_fee_percent": "5", "disconnect_after_days": 3});
    let cycle = api.send(post(&api, MANAGER, 'a', "/api/v1/fee-schedules", cycle)).await.ok();
    let cycle_id: voltvend_domain::FeeScheduleId = cycle["id"].as_str().unwrap().parse::<uuid::Uuid>().unwrap().into();
    let rent = json!({"premises_id": e.building_b.id.to_string(), "name": "租金", "basis": "per_unit", "rate": "100",
                      "currency": "CNY", "due_day": 25});
    let rent = api.send(post(&api, MANAGER, 'b', "/api/v1/fee-schedules", rent)).await.ok();
    let rent_id: voltvend_domain::FeeScheduleId = rent["id"].as_str().unwrap().parse::<uuid::Uuid>().unwrap().into();
    let month = |schedule: &Value, scope: char, m: &str| {
        let path = format!("/api/v1/fee-schedules/{}/periods/{m}", schedule["id"].as_str().unwrap());
        let api = &api;
        async move {
            let r = api.send(api.as_(MANAGER, scope, Method::POST, &path).fresh_key()).await;
            assert_eq!(r.status.as_u16(), 201, "{:?}", r.json());
            path
        }
    };
    // October's rent (due October 25th), dunned by hand; November's rent; October's bill.
    let october_rent = month(&rent, 'b', "2026-10").await;
    api.send(api.as_(MANAGER, 'b', Method::POST, &format!("{october_rent}/dunning")).fresh_key()).await.ok();
    month(&rent, 'b', "2026-11").await;
    month(&cycle, 'a', "2026-10").await;
    let at = |t: &str| {
        api.clock.set(t.parse().unwrap());
        sweep(api.store.as_ref(), api.clock.now())
    };
    assert_eq!(at("2026-11-10T08:00:00Z").await.unwrap(), Swept::default(), "due today, not yet overdue");

    // November 11th: October's bill is overdue.
    let swept = at("2026-11-11T08:00:00Z").await.unwrap();
    assert_eq!((swept.dunned, swept.disconnected, swept.refused), (vec![(cycle_id, 202_610)], vec![], vec![]));
    let fees = get(&api, CASHIER, 'a', &format!("/api/v1/accounts/{account}/fees")).await;
    assert_eq!((minor(&fees["owed"]), minor(&fees["charges"][0]["late_fee"])), (6_825, 325), "{fees}");
    // Looking again changes nothing: the late fee is charged once. September's bill, issued today (due October
    // 10th), is not dunned the day it is issued.
    month(&cycle, 'a', "2026-09").await;
    assert_eq!(sweep(api.store.as_ref(), api.clock.now()).await.unwrap(), Swept::default());
    // The notice runs until the 14th in Shanghai: 23:00 on the 13th there is too early, midnight is not.
    assert_eq!(at("2026-11-13T15:00:00Z").await.unwrap(), Swept::default());
    let swept = at("2026-11-13T16:00:00Z").await.unwrap();
    assert_eq!((swept.dunned, swept.disconnected), (vec![], vec![(cycle_id, 202_610)]));
    let commands = get(&api, CASHIER, 'a', &format!("/api/v1/meters/{meter}/commands")).await;
    assert_eq!(
        (commands["items"][0]["kind"].as_str(), commands["items"][0]["status"].as_str()),
        (Some("relay_trip"), Some("pending")),
        "{commands}"
    );
    let filter = voltvend_store::AuditFilter { action: Some("disconnect_overdue".into()), ..Default::default() };
    let page = voltvend_store::ListQuery { scope: None, after: None, limit: 10 };
    let audit = api.store.list_audit(&page, &filter).await.unwrap();
    assert!(audit.len() == 1 && audit[0].source == "billing" && audit[0].operator_id.is_none(), "{audit:?}");
    // A week after it was issued, September's bill is dunned; after its own due date, November's rent.
    assert_eq!(at("2026-11-17T08:00:00Z").await.unwrap(), Swept::default());
    assert_eq!(at("2026-11-18T08:00:00Z").await.unwrap().dunned, vec![(cycle_id, 202_609)]);
    let swept = at("2026-11-26T08:00:00Z").await.unwrap();
    assert_eq!((swept.dunned, swept.disconnected), (vec![(rent_id, 202_611)], vec![(cycle_id, 202_609)]));
    // November's bill, issued December 1st and due the 10th, is left to an operator when nobody looked for two
    // months after it fell due.
    api.clock.set("2026-12-01T02:00:00Z".parse().unwrap());
    month(&cycle, 'a', "2026-11").await;
    assert_eq!(at("2027-02-15T08:00:00Z").await.unwrap(), Swept::default());
    let report = api.store.check(voltvend_store::CheckScope::Full).await.unwrap();
    assert!(report.is_ok(), "{:?}", report.problems);
}

/// 收费纠错 and 减免 through the API, maker-checker: a rent payment keyed on the wrong account is reversed — the
/// charge owes again, the payment reads as reversed, and the money is handed back from the drawer — and the
/// rent is reduced by an approved adjustment. Scope, permissions and bad fields refused on the way; figures by
/// hand.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rent_payment_is_reversed_and_the_rent_reduced_once_a_second_operator_approves() {
    let api = Api::new().await;
    let e = api.estate.clone();
    let block_a = e.building_a.id.to_string();
    let rent = json!({"premises_id": block_a, "name": "租金", "basis": "per_unit", "rate": "500.00", "currency": "CNY", "due_day": 10});
    let id = api.send(post(&api, MANAGER, 'a', "/api/v1/fee-schedules", rent)).await.ok()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let october = format!("/api/v1/fee-schedules/{id}/periods/2026-10");
    api.send(api.as_(MANAGER, 'a', Method::POST, &october).fresh_key()).await.ok();
    let pay = format!("/api/v1/accounts/{}/fee-payments", e.account_a);
    let paid = api.send(post(&api, CASHIER, 'a', &pay, json!({"amount": "200.00", "method": "cash"}))).await.ok();
    let payment = paid["id"].as_str().unwrap().to_string();
    let fees_of_a = format!("/api/v1/accounts/{}/fees", e.account_a);
    assert_eq!(minor(&get(&api, CASHIER, 'a', &fees_of_a).await["owed"]), 30_000);

    // Asked for by A's cashier; B's cashier cannot see the payment; a cashier cannot approve; neither may the
    // maker, nor B's manager.
    let reverse =
        json!({"kind": "reverse_fee_payment", "fee_payment_id": payment, "reason": "keyed on the wrong account"});
    let r = api.send(post(&api, CASHIER, 'b', "/api/v1/corrections", reverse.clone())).await;
    assert_eq!((r.status.as_u16(), r.code().as_str()), (404, "not_found"));
    let mut whole = reverse.clone();
    whole["amount"] = json!("50.00");
    let r = api.send(post(&api, CASHIER, 'a', "/api/v1/corrections", whole)).await;
    assert_eq!((r.status.as_u16(), r.code().as_str()), (422, "bad_amount"));
    let asked = api.send(post(&api, CASHIER, 'a', "/api/v1/corrections", reverse)).await;
    assert_eq!(asked.status.as_u16(), 201, "{:?}", asked.json());
    let asked = asked.json();
    assert_eq!((asked["status"].as_str(), asked["fee_payment_id"].as_str()), (Some("pending"), Some(payment.as_str())));
    assert_eq!(minor(&get(&api, CASHIER, 'a', &fees_of_a).await["owed"]), 30_000, "a request applies nothing");
    let approve = format!("/api/v1/corrections/{}/approve", asked["id"].as_str().unwrap());
    assert_eq!(api.send(post(&api, CASHIER, 'a', &approve, json!({}))).await.code(), "forbidden");
    assert_eq!(api.send(post(&api, MANAGER, 'b', &approve, json!({}))).await.code(), "not_found");
    let approved = api.send(post(&api, MANAGER, 'a', &approve, json!({}))).await.ok();
    assert_eq!(approved["status"], "approved");
    let fees = get(&api, CASHIER, 'a', &fees_of_a).await;
    assert_eq!(minor(&fees["owed"]), 50_000, "the rent owes again");
    assert_eq!(fees["payments"][0]["reversed"], true);
    let again = api
        .send(post(
            &api,
            CASHIER,
            'a',
            "/api/v1/corrections",
            json!({"kind": "reverse_fee_payment", "fee_payment_id": payment, "reason": "twice"}),
        ))
        .await;
    assert_eq!((again.status.as_u16(), again.code().as_str()), (409, "already_reversed"));
    // The 200.00 is owed back, and handed back from the cashier's drawer.
    let acct = e.account_a;
    let owed = get(&api, CASHIER, 'a', &format!("/api/v1/refused-payments?account_id={acct}&refunded=false")).await;
    let back = &owed["items"][0];
    assert_eq!(
        (back["id"].as_str(), back["reason_code"].as_str()),
        (approved["result_id"].as_str(), Some("fee_payment_reversed"))
    );
    assert_eq!(minor(&back["paid"]), 20_000);
    assert_eq!(back["purpose"], "fees");
    let refund = format!("/api/v1/refused-payments/{}/refund", back["id"].as_str().unwrap());
    api.send(post(&api, CASHIER, 'a', &refund, json!({}))).await.ok();
    // A second payment, 100.00, reversed too; this time the manager credits the money owed back after review
    // (复核入账): it pays the rent again, as a fee payment with a receipt of the counter's series.
    let paid = api.send(post(&api, CASHIER, 'a', &pay, json!({"amount": "100.00", "method": "cash"}))).await.ok();
    let reverse = json!({"kind": "reverse_fee_payment", "fee_payment_id": paid["id"], "reason": "keyed twice"});
    let asked = api.send(post(&api, CASHIER, 'a', "/api/v1/corrections", reverse)).await.ok();
    let approve = format!("/api/v1/corrections/{}/approve", asked["id"].as_str().unwrap());
    let approved = api.send(post(&api, MANAGER, 'a', &approve, json!({}))).await.ok();
    assert_eq!(minor(&get(&api, CASHIER, 'a', &fees_of_a).await["owed"]), 50_000);
    let credit = format!("/api/v1/refused-payments/{}/credit", approved["result_id"].as_str().unwrap());
    let credited = api.send(post(&api, MANAGER, 'a', &credit, json!({}))).await;
    assert_eq!(credited.status.as_u16(), 201, "{:?}", credited.json());
    let credited = credited.json();
    assert_eq!((minor(&credited["paid"]), credited["lines"][0]["period"].as_str()), (10_000, Some("2026-10")));
    assert_eq!(credited["receipt_no"].as_i64(), paid["receipt_no"].as_i64().map(|n| n + 1));
    assert_eq!(minor(&get(&api, CASHIER, 'a', &fees_of_a).await["owed"]), 40_000);
    let r = api.send(post(&api, MANAGER, 'a', &credit, json!({}))).await;
    assert_eq!(r.code(), "already_refunded", "credited once");

    // 减免: the October rent reduced by 120.00 — the month's fields checked first.
    let reduce = |period: Value| json!({"kind": "adjust_charge", "account_id": acct.to_string(), "schedule_id": id, "period": period, "amount": "120.00", "reason": "vacant for a week"});
    let r = api.send(post(&api, MANAGER, 'a', "/api/v1/corrections", reduce(json!("2026-13")))).await;
    assert_eq!((r.status.as_u16(), r.code().as_str()), (422, "bad_period"));
    let r = api.send(post(&api, MANAGER, 'a', "/api/v1/corrections", reduce(Value::Null))).await;
    assert_eq!((r.status.as_u16(), r.code().as_str()), (422, "correction_incomplete"));
    let r = api.send(post(&api, MANAGER, 'a', "/api/v1/corrections", reduce(json!("2026-09")))).await;
    assert_eq!((r.status.as_u16(), r.code().as_str()), (404, "not_found"), "no September charge");
    let asked = api.send(post(&api, MANAGER, 'a', "/api/v1/corrections", reduce(json!("2026-10")))).await.ok();
    assert_eq!((asked["period"].as_str(), minor(&asked["amount"])), (Some("2026-10"), 12_000));
    let approve = format!("/api/v1/corrections/{}/approve", asked["id"].as_str().unwrap());
    api.send(post(&api, ADMIN, 'a', &approve, json!({}))).await.ok();
    let fees = get(&api, CASHIER, 'a', &fees_of_a).await;
    let charge = fees["charges"].as_array().unwrap().iter().find(|c| c["schedule_id"] == id.as_str()).unwrap();
    assert_eq!(
        (minor(&charge["amount"]), minor(&charge["adjusted"]), minor(&charge["outstanding"])),
        (38_000, -12_000, 28_000)
    );
    // The month's table says so: the rent (500.00 as its standing amount), −120.00, 100.00 paid, 280.00 owed.
    let csv = api
        .send(api.as_(
            MANAGER,
            'a',
            Method::GET,
            &format!("/api/v1/reports/bills?schedule_id={id}&period=2026-10&format=csv"),
        ))
        .await;
    let text = String::from_utf8_lossy(&csv.bytes).to_string();
    assert!(
        text.contains(&format!("A-101,{acct},2026-10-10,0.00,0.00,500.00,0.00,0.00,-120.00,380.00,100.00,280.00")),
        "{text}"
    );
    let report = api.store.check(voltvend_store::CheckScope::Full).await.unwrap();
    assert!(report.is_ok(), "{:?}", report.problems);
}
