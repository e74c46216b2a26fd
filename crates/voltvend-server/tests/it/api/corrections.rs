//! 纠错 through the API, maker-checker: a sale sold to the wrong meter re-allocated (its STS token recorded as
//! void, the drawer untouched), a sale reversed and its money handed back at the counter, an adjustment that
//! expired and one rejected, historical arrears entered, recovered and written off, and a closed shift's count
//! corrected — each asked for by one operator and decided by another, never the same, with the refusals.

use serde_json::{Value, json};
use voltvend_domain::BuiltinRole;

use super::Api;
use super::lifecycle::{get, post, sell};

const CASHIER: BuiltinRole = BuiltinRole::Cashier;
const MANAGER: BuiltinRole = BuiltinRole::Manager;
const ADMIN: BuiltinRole = BuiltinRole::Administrator;

async fn ask(api: &Api, role: BuiltinRole, body: Value) -> super::Resp {
    api.send(post(api, role, 'a', "/api/v1/corrections", body)).await
}

async fn decide(api: &Api, role: BuiltinRole, building: char, id: &str, verdict: &str, note: &str) -> super::Resp {
    let path = format!("/api/v1/corrections/{id}/{verdict}");
    api.send(post(api, role, building, &path, json!({"note": note}))).await
}

async fn account(api: &Api, id: &str) -> Value {
    get(api, CASHIER, 'a', &format!("/api/v1/accounts/{id}")).await
}

fn minor(v: &Value) -> i64 {
    v["minor"].as_str().unwrap().parse().unwrap()
}

/// An STS keypad meter on a second account in building A (the neighbour's, in the wrong-meter story).
async fn sts_account(api: &Api) -> (String, String) {
    let e = &api.estate;
    let opened = api
        .send(post(
            api,
            ADMIN,
            'a',
            "/api/v1/accounts",
            json!({
                "customer": {"name": "Li Lei 李雷"},
                "premises_id": e.unit_a.id.to_string(),
                "currency": "CNY",
                "meters": [{"new": {"serial": "STS-C-1", "utility": "electricity", "protocol": "sts_keypad", "address": "04040404041"},
                            "tariff_code": "cn-zhejiang-residential-tou",
                            "sts": {"iin": "600727", "ea": "07", "key_type": 2, "supply_group": 123456, "tariff_index": 1, "key_revision": 1, "base_date": "14"}}]
            }),
        ))
        .await
        .ok();
    (opened["account_id"].as_str().unwrap().to_string(), opened["meter_ids"][0].as_str().unwrap().to_string())
}

/// Closes cashier A's shift counting exactly what the ledger expects, and returns the variance.
async fn close_shift_counting(api: &Api, counted: &str) -> Value {
    let shift = get(api, CASHIER, 'a', "/api/v1/shifts/current").await;
    let path = format!("/api/v1/shifts/{}/close", shift["id"].as_str().unwrap());
    api.send(post(api, CASHIER, 'a', &path, json!({"counted": counted}))).await.ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sale_to_the_wrong_meter_is_reallocated_by_a_second_operator() {
    let api = Api::new().await;
    let (neighbour, sts_meter) = sts_account(&api).await;
    let (right, remote) = (api.estate.account_a.to_string(), api.estate.remote_meter.to_string());
    let wrong = sell(&api, 'a', &neighbour, &sts_meter, "30.00").await.ok();
    let token = wrong["tokens"][0].as_str().unwrap().to_string();
    let before = account(&api, &right).await;
    let request = json!({"kind": "reallocate_sale", "sale_id": wrong["id"], "account_id": right, "meter_id": remote,
                         "reason": "sold to A-101's neighbour by mistake"});

    // Refusals at the request: from building B the sale is not there; a read-only user may not ask; a
    // re-allocation needs the right meter; nothing was asked for.
    let r = api.send(post(&api, CASHIER, 'b', "/api/v1/corrections", request.clone())).await;
    assert_eq!(r.status.as_u16(), 404);
    assert_eq!(ask(&api, BuiltinRole::ReadOnly, request.clone()).await.code(), "forbidden");
    let mut incomplete = request.clone();
    incomplete.as_object_mut().unwrap().remove("meter_id");
    assert_eq!(ask(&api, CASHIER, incomplete).await.code(), "correction_incomplete");
    let mut same = request.clone();
    same["account_id"] = json!(neighbour);
    same["meter_id"] = json!(sts_meter);
    assert_eq!(ask(&api, CASHIER, same).await.code(), "same_meter");
    let pending = get(&api, MANAGER, 'a', "/api/v1/corrections?status=pending").await;
    assert_eq!(pending["items"].as_array().unwrap().len(), 0, "{pending}");

    let asked = ask(&api, CASHIER, request.clone()).await;
    assert_eq!(asked.status.as_u16(), 201);
    let asked = asked.json();
    assert_eq!((asked["status"].as_str(), asked["decision"].is_null()), (Some("pending"), true));
    assert_eq!(asked["void_tokens"], json!([token]), "the approver sees what is about to be voided");
    let id = asked["id"].as_str().unwrap().to_string();
    assert_eq!(account(&api, &right).await, before, "asking changes nothing");

    // Deciding: not the cashier (no permission), not building B's manager (not there), then A's manager.
    assert_eq!(decide(&api, CASHIER, 'a', &id, "approve", "").await.code(), "forbidden");
    assert_eq!(decide(&api, MANAGER, 'b', &id, "approve", "").await.status.as_u16(), 404);
    let approved = decide(&api, MANAGER, 'a', &id, "approve", "checked the unit numbers").await.ok();
    assert_eq!(approved["status"], "approved");
    assert_eq!(approved["decision"]["by"], api.operators[&("manager".to_string(), 'a')].to_string());
    // The token already typed into the neighbour's meter cannot be recalled: it is recorded as void.
    assert_eq!(approved["void_tokens"], json!([token]));
    let new = get(&api, CASHIER, 'a', &format!("/api/v1/sales/{}", approved["result_id"].as_str().unwrap())).await;
    assert_eq!((new["account_id"].as_str(), new["meter_id"].as_str()), (Some(right.as_str()), Some(remote.as_str())));
    assert_eq!((new["paid"]["amount"].as_str(), new["shift_id"].as_str()), (Some("30.00"), wrong["shift_id"].as_str()));
    assert_eq!(new["reallocated_from"], wrong["transfer_id"]);
    let after = account(&api, &right).await;
    assert_eq!(minor(&after["balance"]) - minor(&before["balance"]), minor(&new["credit"]));
    assert_eq!(minor(&new["credit"]) + minor(&new["arrears"]), 3_000);

    // Once: a second decision, and a second correction of the same sale, are refused.
    assert_eq!(decide(&api, ADMIN, 'a', &id, "approve", "").await.code(), "already_decided");
    let again = json!({"kind": "reverse_sale", "sale_id": wrong["id"], "reason": "again"});
    assert_eq!(ask(&api, CASHIER, again).await.code(), "already_reversed");
    // The cash never left the drawer: the shift balances at float + the one sale.
    let closed = close_shift_counting(&api, "130.00").await;
    assert_eq!(closed["variance"]["minor"], "0", "{closed}");
    // The settlement counts the sale once, as re-allocated, and the wrong one as reversed.
    let report =
        get(&api, MANAGER, 'a', &format!("/api/v1/shifts/{}/settlement", closed["id"].as_str().unwrap())).await;
    assert_eq!((report["sales"].as_u64(), report["reversed"].as_u64()), (Some(1), Some(1)), "{report}");
    assert_eq!(
        (report["paid"]["amount"].as_str(), report["by_method"][0]["method"].as_str()),
        (Some("30.00"), Some("cash"))
    );
    // Both steps are in the audit trail, with who did them.
    let audit = get(&api, ADMIN, 'a', &format!("/api/v1/audit?subject=approval:{id}")).await;
    let actions: Vec<&str> = audit["items"].as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert_eq!(actions, ["approve_correction", "request_correction"], "{audit}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reversed_sale_is_owed_back_and_handed_back_at_the_counter() {
    let api = Api::new().await;
    let (acct, meter) = (api.estate.account_a.to_string(), api.estate.remote_meter.to_string());
    let before = account(&api, &acct).await;
    let sale = sell(&api, 'a', &acct, &meter, "20.00").await.ok();
    let id = ask(
        &api,
        CASHIER,
        json!({"kind": "reverse_sale", "sale_id": sale["id"], "reason": "customer changed their mind"}),
    )
    .await
    .ok()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let approved = decide(&api, MANAGER, 'a', &id, "approve", "").await.ok();
    assert_eq!(approved["void_tokens"], json!([]));
    assert_eq!(account(&api, &acct).await["balance"], before["balance"], "the credit is taken back");
    let owed = get(&api, CASHIER, 'a', &format!("/api/v1/refused-payments?account_id={acct}&refunded=false")).await;
    let payment = &owed["items"][0];
    assert_eq!(
        (payment["id"].as_str(), payment["reason_code"].as_str()),
        (approved["result_id"].as_str(), Some("sale_reversed"))
    );
    assert_eq!(payment["paid"]["amount"], "20.00");
    let path = format!("/api/v1/refused-payments/{}/refund", payment["id"].as_str().unwrap());
    api.send(post(&api, CASHIER, 'a', &path, json!({}))).await.ok();
    // Sold 20.00, handed back 20.00: the drawer holds the float.
    assert_eq!(close_shift_counting(&api, "100.00").await["variance"]["minor"], "0");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_expire_are_rejected_with_a_note_and_are_never_decided_by_their_maker() {
    let api = Api::new().await;
    let acct = api.estate.account_a.to_string();
    let before = account(&api, &acct).await;
    let adjust = |hours: u32| json!({"kind": "adjust", "account_id": acct, "amount": "5.00", "reason": "overbilled", "expires_in_hours": hours});
    assert_eq!(ask(&api, MANAGER, adjust(0)).await.code(), "bad_expiry");
    assert_eq!(ask(&api, MANAGER, adjust(745)).await.code(), "bad_expiry");
    let mut zero = adjust(1);
    zero["amount"] = json!("0.00");
    assert_eq!(ask(&api, MANAGER, zero).await.code(), "bad_amount");
    let mine = ask(&api, MANAGER, adjust(1)).await.ok()["id"].as_str().unwrap().to_string();
    assert_eq!(decide(&api, MANAGER, 'a', &mine, "approve", "").await.code(), "same_operator");
    let late = ask(&api, CASHIER, adjust(1)).await.ok()["id"].as_str().unwrap().to_string();
    let to_reject = ask(&api, CASHIER, adjust(2)).await.ok()["id"].as_str().unwrap().to_string();
    api.clock.advance(jiff::SignedDuration::from_mins(61));
    assert_eq!(decide(&api, MANAGER, 'a', &late, "approve", "").await.code(), "approval_expired");
    let expired = get(&api, MANAGER, 'a', "/api/v1/corrections?status=expired").await;
    let ids: Vec<&str> = expired["items"].as_array().unwrap().iter().map(|a| a["id"].as_str().unwrap()).collect();
    assert!(ids.contains(&late.as_str()) && ids.contains(&mine.as_str()) && !ids.contains(&to_reject.as_str()));
    assert_eq!(decide(&api, MANAGER, 'a', &to_reject, "reject", " ").await.code(), "text_empty");
    let rejected = decide(&api, MANAGER, 'a', &to_reject, "reject", "the bill was right").await.ok();
    assert_eq!(
        (rejected["status"].as_str(), rejected["decision"]["note"].as_str()),
        (Some("rejected"), Some("the bill was right"))
    );
    assert_eq!(account(&api, &acct).await, before, "nothing was applied");
    // An approved adjustment credits the wallet.
    let ok = ask(&api, CASHIER, adjust(2)).await.ok()["id"].as_str().unwrap().to_string();
    decide(&api, ADMIN, 'a', &ok, "approve", "").await.ok();
    assert_eq!(minor(&account(&api, &acct).await["balance"]), minor(&before["balance"]) + 500);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn historical_arrears_are_entered_recovered_from_sales_and_written_off_with_approval() {
    let api = Api::new().await;
    let (acct, meter) = (api.estate.account_a.to_string(), api.estate.remote_meter.to_string());
    let owed = |v: &Value| minor(&v["arrears"]);
    let start = owed(&account(&api, &acct).await);
    let path = format!("/api/v1/accounts/{acct}/arrears");
    assert_eq!(api.send(post(&api, CASHIER, 'a', &path, json!({"amount": "100.00"}))).await.code(), "forbidden");
    assert_eq!(api.send(post(&api, MANAGER, 'b', &path, json!({"amount": "100.00"}))).await.status.as_u16(), 404);
    assert_eq!(api.send(post(&api, MANAGER, 'a', &path, json!({"amount": "-1.00"}))).await.status.as_u16(), 422);
    // An import is all or nothing: a line for an account nobody can see refuses the whole file.
    let import = json!({"lines": [{"account_id": acct, "amount": "10.00", "reference": "2019-07"},
                                  {"account_id": uuid::Uuid::nil(), "amount": "1.00", "reference": "?"}]});
    let r = api.send(post(&api, MANAGER, 'a', "/api/v1/arrears/import", import)).await;
    assert_eq!((r.status.as_u16(), r.json()["details"]["field"].as_str()), (404, Some("lines[1].account_id")));
    assert_eq!(owed(&account(&api, &acct).await), start);
    let entered =
        api.send(post(&api, MANAGER, 'a', &path, json!({"amount": "100.00", "reference": "old ledger p.12"}))).await;
    assert_eq!(entered.status.as_u16(), 201);
    assert_eq!(owed(&account(&api, &acct).await), start + 10_000);
    // Recovered by the account's rule (20% of each payment) at the next sale.
    let sale = sell(&api, 'a', &acct, &meter, "50.00").await.ok();
    assert_eq!(minor(&sale["arrears"]), 1_000);
    let left = owed(&account(&api, &acct).await);
    assert_eq!(left, start + 9_000);
    // Written off, with approval, never more than owed.
    let too_much = json!({"kind": "write_off", "account_id": acct, "amount": format!("{}.01", left / 100), "reason": "debtor gone"});
    assert_eq!(ask(&api, CASHIER, too_much).await.code(), "more_than_owed");
    let all = json!({"kind": "write_off", "account_id": acct, "amount": format!("{}.{:02}", left / 100, left % 100), "reason": "debtor gone"});
    let id = ask(&api, CASHIER, all).await.ok()["id"].as_str().unwrap().to_string();
    assert_eq!(owed(&account(&api, &acct).await), left, "not before it is approved");
    decide(&api, MANAGER, 'a', &id, "approve", "uncollectable since 2019").await.ok();
    assert_eq!(owed(&account(&api, &acct).await), 0);
    let history = get(&api, CASHIER, 'a', &format!("/api/v1/accounts/{acct}/history")).await;
    assert!(history["items"].as_array().unwrap().iter().any(|e| e["action"] == "enter_arrears"), "{history}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closed_shifts_count_is_corrected_only_by_an_approved_adjustment() {
    let api = Api::new().await;
    let shift = get(&api, CASHIER, 'a', "/api/v1/shifts/current").await["id"].as_str().unwrap().to_string();
    let correction =
        json!({"kind": "correct_shift", "shift_id": shift, "amount": "5.00", "reason": "found under the till"});
    assert_eq!(ask(&api, CASHIER, correction.clone()).await.code(), "shift_open");
    // Counted by denomination, 5.00 short; the note turns up later.
    let path = format!("/api/v1/shifts/{shift}/close");
    let count = |counted: Option<&str>| {
        let mut body = json!({"denominations": [{"value": "5.00", "count": 1}, {"value": "50.00", "count": 1},
                                                {"value": "20.00", "count": 2}]});
        if let Some(c) = counted {
            body["counted"] = json!(c);
        }
        post(&api, CASHIER, 'a', &path, body)
    };
    assert_eq!(api.send(count(Some("100.00"))).await.code(), "count_mismatch");
    let closed = api.send(count(None)).await.ok();
    assert_eq!(
        (closed["counted"]["amount"].as_str(), closed["variance"]["minor"].as_str()),
        (Some("95.00"), Some("-500"))
    );
    let by_value: Vec<(&str, u64)> = closed["denominations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| (d["value"].as_str().unwrap(), d["count"].as_u64().unwrap()))
        .collect();
    assert_eq!(by_value, [("50.00", 1), ("20.00", 2), ("5.00", 1)]);
    let report = get(&api, BuiltinRole::Auditor, 'a', &format!("/api/v1/shifts/{shift}/settlement")).await;
    assert_eq!(report["shift"], closed, "the settlement shows the shift as closed");
    let id = ask(&api, CASHIER, correction).await.ok()["id"].as_str().unwrap().to_string();
    let approved = decide(&api, MANAGER, 'a', &id, "approve", "").await.ok();
    assert!(approved["transfer_id"].is_string(), "{approved}");
    let audit = get(&api, ADMIN, 'a', &format!("/api/v1/audit?subject=approval:{id}")).await;
    let after = audit["items"][0]["after"].as_str().unwrap();
    assert!(after.contains("kind=correct_shift") && after.contains("shift_corrected=500"), "{after}");
}
