//! An STS key change campaign through the API, checked by the meter's side of the token engine: the group's
//! administrator plans a key change for every meter of a supply group on a base date (a rollover to a base
//! date still in the future is refused); the meter's next sale carries its key change set before the credit
//! token, which the meter accepts under its new key; the campaign counts it done.

use serde_json::json;
use voltvend_domain::BuiltinRole;
use voltvend_sts::{Accepted, BaseDate};

use super::Api;
use super::lifecycle::{get, post, sell, sts_meter_of};

const ADMIN: BuiltinRole = BuiltinRole::Administrator;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_change_campaign_goes_out_with_the_next_sale_and_the_meter_takes_it() {
    let api = Api::new().await;
    let e = api.estate.clone();
    let (account, meter) = (e.account_b.to_string(), e.sts_meter.to_string());
    let address = get(&api, BuiltinRole::Cashier, 'b', &format!("/api/v1/meters/{meter}")).await["address"]
        .as_str()
        .unwrap()
        .to_string();
    let mut sts = sts_meter_of(&api, &address);
    // The rollover to 2035 cannot be planned before 2035: the meters could take no token under it.
    let early = json!({"name": "too early", "select": {"base_date": "14"}, "change": {"rollover": true}});
    let r = api.send(post(&api, ADMIN, 'g', "/api/v1/key-campaigns", early)).await;
    assert_eq!(r.code(), "campaign_too_early");
    let keyless = json!({"name": "revision 9", "select": {"base_date": "14"}, "change": {"key_revision": 9}});
    let r = api.send(post(&api, ADMIN, 'g', "/api/v1/key-campaigns", keyless)).await;
    assert_eq!((r.status.as_u16(), r.code().as_str()), (422, "campaign_key_missing"), "the new key is not imported");
    let plan = json!({"name": "new key expiry", "select": {"base_date": "14", "supply_group": 123456}, "change": {"key_expiry": 200}});
    let r = api.send(post(&api, ADMIN, 'b', "/api/v1/key-campaigns", plan.clone())).await;
    assert_eq!(r.code(), "scope_too_narrow", "a building's administrator does not plan for the group");
    let r = api.send(post(&api, ADMIN, 'g', "/api/v1/key-campaigns", json!({"name": "nothing", "change": {}}))).await;
    assert_eq!(r.code(), "bad_request");
    let planned = api.send(post(&api, ADMIN, 'g', "/api/v1/key-campaigns", plan.clone())).await;
    assert_eq!(planned.status.as_u16(), 201, "{}", String::from_utf8_lossy(&planned.bytes));
    let planned = planned.json();
    let id = planned["id"].as_str().unwrap().to_string();
    let planned_n = planned["planned"].as_i64().unwrap();
    assert!(planned_n >= 1, "{planned}");
    assert_eq!((planned["done"].as_i64(), planned["pending"].as_i64()), (Some(0), Some(planned_n)));
    assert_eq!(planned["dormant"].as_i64(), Some(planned_n), "none has seen a sale yet");

    // The next sale: the key change set first, then the credit under the new key; the meter takes them all.
    let sale = sell(&api, 'b', &account, &meter, "30.00").await.ok();
    let tokens: Vec<&str> = sale["tokens"].as_array().unwrap().iter().map(|t| t.as_str().unwrap()).collect();
    assert!(tokens.len() >= 3, "a key change set and a credit token: {sale}");
    let (credit, set) = tokens.split_last().unwrap();
    for (i, t) in set.iter().enumerate() {
        match sts.enter(t).unwrap() {
            Accepted::KeyChangeSection { .. } if i + 1 < set.len() => {}
            Accepted::KeyChanged { ken, rollover: false, base, .. } if i + 1 == set.len() => {
                assert_eq!((ken, base), (200, BaseDate::from_code("14").unwrap()));
            }
            other => panic!("token {i} of the set: {other:?}"),
        }
    }
    assert!(matches!(sts.enter(credit).unwrap(), Accepted::Credit { .. }), "the credit under the new key");
    // That sale cannot simply be reversed: its key change set moved the meter's key record.
    let reverse = json!({"kind": "reverse_sale", "sale_id": sale["id"], "reason": "typo"});
    let r = api.send(post(&api, BuiltinRole::Cashier, 'b', "/api/v1/corrections", reverse)).await;
    assert_eq!(r.code(), "sale_carried_key_change");
    let after = get(&api, ADMIN, 'g', &format!("/api/v1/key-campaigns/{id}")).await;
    assert_eq!((after["done"].as_i64(), after["pending"].as_i64()), (Some(1), Some(planned_n - 1)), "{after}");
    // Later sales carry the credit alone, still accepted.
    let next = sell(&api, 'b', &account, &meter, "20.00").await.ok();
    assert_eq!(next["tokens"].as_array().unwrap().len(), 1);
    assert!(matches!(sts.enter(next["tokens"][0].as_str().unwrap()).unwrap(), Accepted::Credit { .. }));
    // Planning the same change again leaves the meter out: it has the new key expiry already.
    let again = api.send(post(&api, ADMIN, 'g', "/api/v1/key-campaigns", plan.clone())).await;
    assert_eq!(again.status.as_u16(), 201, "{}", String::from_utf8_lossy(&again.bytes));
    assert!(again.json()["planned"].as_i64().unwrap() < planned_n, "{}", again.json());
    let list = get(&api, ADMIN, 'g', "/api/v1/key-campaigns").await;
    assert!(list.as_array().unwrap().iter().any(|c| c["id"] == id.as_str()));
    let none = json!({"name": "none", "select": {"base_date": "93"}, "change": {"key_expiry": 201}});
    let r = api.send(post(&api, ADMIN, 'g', "/api/v1/key-campaigns", none)).await;
    assert_eq!(r.code(), "no_meters", "no meter on the 1993 base date");
    let audit = get(&api, ADMIN, 'g', &format!("/api/v1/audit?subject=campaign:{id}")).await;
    assert_eq!(audit["items"][0]["action"], "plan_key_campaign", "{audit}");
}
