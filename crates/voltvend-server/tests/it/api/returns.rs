//! 累计结余 through the API: a keypad meter's return data (回抄) recorded, its unused credit valued at the meter's
//! average purchase price and listed in the accumulated-balance report, and bought back into the wallet at the
//! account's closure — refused while the meter has no return data, or only one older than its last sale.

use axum::http::Method;
use jiff::{SignedDuration, Timestamp};
use serde_json::{Value, json};
use voltvend_domain::BuiltinRole;

use super::Api;
use super::lifecycle::{get, post, sell};

const CASHIER: BuiltinRole = BuiltinRole::Cashier;

fn minor(v: &Value) -> i64 {
    v["minor"].as_str().unwrap().parse().unwrap()
}

fn milli(v: &Value) -> i64 {
    v["milli"].as_str().unwrap().parse().unwrap()
}

fn now(api: &Api) -> Timestamp {
    use voltvend_domain::Clock as _;
    api.clock.now()
}

/// The value of `remaining` units at the average price the given sales paid for their units (energy money,
/// tax included), rounded down.
fn valued(sales: &[&Value], remaining_milli: i64) -> i64 {
    let sold: i64 = sales.iter().map(|s| milli(&s["quantity"])).sum();
    let value: i64 = sales.iter().map(|s| minor(&s["energy"])).sum();
    (i128::from(remaining_milli.min(sold)) * i128::from(value) / i128::from(sold)) as i64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_keypad_meters_unused_credit_is_reported_valued_and_bought_back_at_closure() {
    let api = Api::new().await;
    let e = api.estate.clone();
    let (account, meter) = (e.account_b.to_string(), e.sts_meter.to_string());
    let returns = format!("/api/v1/meters/{meter}/returns");
    let close = format!("/api/v1/accounts/{account}/close");
    let report = "/api/v1/reports/accumulated-balances";
    let closing = json!({"reason": "moved away", "refund": {"to": "cash"}, "buy_back_meter_credit": true});

    let first = sell(&api, 'b', &account, &meter, "30.00").await.ok();
    let second = sell(&api, 'b', &account, &meter, "12.00").await.ok();
    let view = get(&api, CASHIER, 'b', &format!("/api/v1/meters/{meter}")).await;
    let credit = &view["local_credit"];
    assert_eq!(
        milli(&credit["sold"]),
        milli(&first["quantity"]) + milli(&second["quantity"]),
        "every unit sold counts: {view}"
    );
    assert_eq!((credit["last_return"].is_null(), credit["current"].as_bool()), (true, Some(false)));
    // Without return data nothing says how much of it is left on the meter.
    let r = api.send(post(&api, CASHIER, 'b', &close, closing.clone())).await;
    assert_eq!((r.status.as_u16(), r.code()), (409, "meter_return_missing".to_string()));

    // Refusals change nothing.
    api.clock.advance(SignedDuration::from_hours(2));
    let at = now(&api).to_string();
    let bad = [
        (json!({"at": at, "source": "guess", "remaining": "5"}), "bad_value"),
        (json!({"at": at, "source": "display", "remaining": "-5"}), "bad_value"),
        (
            json!({"at": (now(&api) + SignedDuration::from_hours(1)).to_string(), "source": "display", "remaining": "5"}),
            "return_in_future",
        ),
        (json!({"at": "yesterday", "source": "display", "remaining": "5"}), "bad_request"),
    ];
    for (body, code) in bad {
        assert_eq!(api.send(post(&api, CASHIER, 'b', &returns, body.clone())).await.code(), code, "{body}");
    }
    let remote = format!("/api/v1/meters/{}/returns", e.remote_meter);
    let body = json!({"at": at, "source": "display", "remaining": "5"});
    assert_eq!(api.send(post(&api, CASHIER, 'a', &remote, body.clone())).await.code(), "meter_not_local");
    // Another building's cashier does not see the meter; an auditor may not record.
    assert_eq!(api.send(post(&api, CASHIER, 'a', &returns, body.clone())).await.status.as_u16(), 404);
    assert_eq!(api.send(post(&api, BuiltinRole::Auditor, 'b', &returns, body.clone())).await.status.as_u16(), 403);
    assert!(get(&api, CASHIER, 'b', &format!("/api/v1/meters/{meter}")).await["local_credit"]["last_return"].is_null());

    // The customer's card brings back the meter's return file: 20 kWh left.
    let recorded =
        api.send(post(&api, CASHIER, 'b', &returns, json!({"at": at, "source": "card", "remaining": "20"}))).await.ok();
    let credit = recorded["local_credit"].clone();
    assert_eq!((recorded["kept_as_last"].as_bool(), credit["current"].as_bool()), (Some(true), Some(true)));
    assert_eq!(credit["last_return"]["source"], "card");
    let value_20 = valued(&[&first, &second], 20_000);
    assert_eq!(minor(&credit["sold_value"]), minor(&first["energy"]) + minor(&second["energy"]));
    assert!(value_20 > 0 && value_20 < minor(&credit["sold_value"]), "{credit}");
    assert_eq!(minor(&credit["last_return"]["value"]), value_20);
    // A check card read earlier arrives late: kept in the trail, not as the meter's credit.
    let earlier = (now(&api) - SignedDuration::from_mins(30)).to_string();
    let late = api
        .send(post(
            &api,
            BuiltinRole::FieldEngineer,
            'b',
            &returns,
            json!({"at": earlier, "source": "check_card", "remaining": "25"}),
        ))
        .await
        .ok();
    assert_eq!(late["kept_as_last"], false);
    assert_eq!(milli(&late["local_credit"]["last_return"]["remaining"]), 20_000);

    // The report lists it, valued, within the manager's scope only.
    let page = get(&api, BuiltinRole::Manager, 'b', report).await;
    let line = page["items"].as_array().unwrap().iter().find(|l| l["meter_id"] == meter.as_str()).unwrap().clone();
    assert_eq!(minor(&line["local_credit"]["last_return"]["value"]), value_20, "{page}");
    let elsewhere = get(&api, BuiltinRole::Manager, 'a', report).await;
    assert!(elsewhere["items"].as_array().unwrap().iter().all(|l| l["meter_id"] != meter.as_str()), "{elsewhere}");
    let csv = api.send(api.as_(BuiltinRole::Manager, 'b', Method::GET, &format!("{report}?format=csv"))).await;
    let csv = String::from_utf8(csv.bytes).unwrap();
    assert!(csv.starts_with("meter_id,serial,account_id,premises_id,unit,sold,currency,sold_value,"), "{csv}");
    let row = csv.lines().find(|l| l.starts_with(&meter)).unwrap();
    let value_text = voltvend_domain::Money::from_minor(value_20, voltvend_domain::Currency::CNY).to_decimal_string();
    assert!(row.ends_with(&format!(",card,20.000,{value_text}")), "{row}");

    // A return dated a little ahead of the server's clock, then a sale: the meter may or may not show the sale's
    // token yet, whatever the return's date said.
    api.clock.advance(SignedDuration::from_mins(5));
    let ahead = (now(&api) + SignedDuration::from_mins(4)).to_string();
    api.send(post(&api, CASHIER, 'b', &returns, json!({"at": ahead, "source": "display", "remaining": "19"})))
        .await
        .ok();
    let third = sell(&api, 'b', &account, &meter, "10.00").await.ok();
    let r = api.send(post(&api, CASHIER, 'b', &close, closing.clone())).await;
    assert_eq!((r.status.as_u16(), r.code()), (409, "meter_return_stale".to_string()));
    let stale = get(&api, CASHIER, 'b', &format!("/api/v1/meters/{meter}")).await;
    assert_eq!(stale["local_credit"]["current"], false);
    assert!(stale["local_credit"]["last_return"]["value"].is_null(), "no value for a stale return: {stale}");
    // Refused closures changed nothing.
    let open = get(&api, CASHIER, 'b', &format!("/api/v1/accounts/{account}")).await;
    assert_eq!(open["status"], "active");
    assert_eq!(milli(&stale["local_credit"]["sold"]), milli(&credit["sold"]) + milli(&third["quantity"]));

    // Read again; the closure buys the unused credit back and refunds it in cash with the wallet.
    api.clock.advance(SignedDuration::from_mins(5));
    let at = now(&api).to_string();
    let again = api
        .send(post(&api, CASHIER, 'b', &returns, json!({"at": at, "source": "display", "remaining": "31.5"})))
        .await
        .ok();
    let expected = valued(&[&first, &second, &third], 31_500);
    assert_eq!(minor(&again["local_credit"]["last_return"]["value"]), expected, "{again}");
    let before = get(&api, CASHIER, 'b', &format!("/api/v1/accounts/{account}")).await;
    let wallet = minor(&before["balance"]);
    let settled = api.send(post(&api, CASHIER, 'b', &close, closing.clone())).await.ok();
    let bought = &settled["meter_credit"][0];
    assert_eq!((bought["meter_id"].as_str(), milli(&bought["valued"])), (Some(meter.as_str()), 31_500), "{settled}");
    assert_eq!(minor(&bought["value"]), expected);
    assert_eq!(minor(&settled["refunded"]) + minor(&settled["arrears_paid"]), wallet + expected, "{settled}");
    // Bought back once: the meter holds nothing the utility owes any more, and the report says so.
    let after = get(&api, CASHIER, 'b', &format!("/api/v1/meters/{meter}")).await;
    assert!(after["local_credit"]["last_return"].is_null(), "{after}");
    let page = get(&api, BuiltinRole::Manager, 'b', report).await;
    let line = page["items"].as_array().unwrap().iter().find(|l| l["meter_id"] == meter.as_str()).cloned();
    assert!(line.is_none_or(|l| l["local_credit"]["last_return"].is_null()), "{page}");
    let audit = get(&api, BuiltinRole::Auditor, 'b', "/api/v1/audit?action=record_meter_return").await;
    assert_eq!(audit["items"].as_array().unwrap().len(), 4, "{audit}");
    // The next occupant's credit is counted from their own purchases: the old credit cannot be bought back twice.
    let next = api
        .send(post(
            &api,
            CASHIER,
            'b',
            "/api/v1/accounts",
            json!({
            "customer": {"name": "Next Occupant"}, "premises_id": e.unit_b.id.to_string(), "currency": "CNY",
            "meters": [{"meter_id": meter, "tariff_code": "cn-zhejiang-residential-tou", "sts": {
                "iin": "600727", "ea": "07", "key_type": 2, "supply_group": e.sts_record.params.sgc,
                "tariff_index": e.sts_record.params.ti, "key_revision": e.sts_record.params.krn, "base_date": "14"}}]}),
        ))
        .await
        .ok();
    let fresh = get(&api, CASHIER, 'b', &format!("/api/v1/meters/{meter}")).await;
    assert_eq!((milli(&fresh["local_credit"]["sold"]), fresh["local_credit"]["last_return"].is_null()), (0, true));
    let at = now(&api).to_string();
    api.send(post(&api, CASHIER, 'b', &returns, json!({"at": at, "source": "display", "remaining": "31.5"})))
        .await
        .ok();
    let next_close = format!("/api/v1/accounts/{}/close", next["account_id"].as_str().unwrap());
    let settled = api.send(post(&api, CASHIER, 'b', &next_close, closing.clone())).await.ok();
    assert_eq!(
        (minor(&settled["meter_credit"][0]["value"]), milli(&settled["meter_credit"][0]["unvalued"])),
        (0, 31_500)
    );
    assert_eq!(minor(&settled["refunded"]), 0, "{settled}");
    let closed = get(&api, BuiltinRole::Auditor, 'b', "/api/v1/audit?action=close_account").await;
    let bought_text = format!("meter_credit_bought={meter}:31500milli={expected}minor");
    assert!(
        closed["items"].as_array().unwrap().iter().any(|i| i["after"].as_str().unwrap().contains(&bought_text)),
        "{closed}"
    );
}
