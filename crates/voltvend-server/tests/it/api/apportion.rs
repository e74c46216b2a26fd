//! 公摊 through the API, as a property manager does it: a parent meter and the stairwell lights' meter received
//! and installed with no account, a rule sharing the common areas and line loss by floor area, October's line
//! loss previewed, posted once, and a unit's statement — figures checked by hand.

use axum::http::Method;
use serde_json::{Value, json};
use voltvend_domain::BuiltinRole;

use super::Api;
use super::lifecycle::{get, post, read};

const MANAGER: BuiltinRole = BuiltinRole::Manager;

fn minor(v: &Value) -> i64 {
    v["minor"].as_str().unwrap().parse().unwrap()
}

async fn account_owes(api: &Api) -> (i64, i64) {
    let a = get(api, MANAGER, 'a', &format!("/api/v1/accounts/{}", api.estate.account_a)).await;
    (minor(&a["balance"]), minor(&a["arrears"]))
}

/// Block A's common areas: a vacant unit A-102, the incomer (parent) and the stairwell lights' meters
/// received and installed with no account, and a rule sharing common areas and line loss by floor area
/// (A-101 85.50 m², A-102 120 m²) at 0.60. Its id, the parent's and the lights'.
async fn block_a_rule(api: &Api) -> (String, String, String) {
    let e = &api.estate;
    let block_a = e.building_a.id.to_string();
    let vacant = api
        .send(post(
            api,
            MANAGER,
            'a',
            "/api/v1/premises",
            json!({"parent_id": block_a, "level": "unit", "name": "A-102"}),
        ))
        .await
        .ok()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let mut meters = Vec::new();
    for (serial, address) in [("INCOMER-A", "000000000901"), ("LIGHTS-A", "000000000902")] {
        let body = json!({"serial": serial, "utility": "electricity", "protocol": "dlt645", "address": address, "premises_id": block_a});
        let id =
            api.send(post(api, MANAGER, 'a', "/api/v1/meters", body)).await.ok()["id"].as_str().unwrap().to_string();
        let installed = api
            .send(post(api, MANAGER, 'a', &format!("/api/v1/meters/{id}/install"), json!({"premises_id": block_a})))
            .await
            .ok();
        assert_eq!(installed["state"], "installed");
        meters.push(id);
    }
    let (parent, lights) = (meters[0].clone(), meters[1].clone());
    let rule = api
        .send(post(api, MANAGER, 'a', "/api/v1/apportionment-rules", json!({
            "name": "Block A 公摊", "premises_id": block_a, "utility": "electricity", "basis": "floor_area",
            "pool": "common_and_loss", "price": "0.60", "currency": "CNY", "parent_meter_id": parent,
            "common_meter_ids": [lights],
            "units": [{"premises_id": e.unit_a.id.to_string(), "floor_area_m2": "85.50"}, {"premises_id": vacant, "floor_area_m2": "120"}]
        })))
        .await;
    assert_eq!(rule.status.as_u16(), 201, "{:?}", rule.json());
    let rule = rule.json();
    assert_eq!(rule["units"][0]["name"], "A-101");
    assert_eq!(rule["units"][1]["floor_area_m2"], "120.00");
    assert_eq!(rule["price"], "0.600000");
    (rule["id"].as_str().unwrap().to_string(), parent, lights)
}

/// October (Asia/Shanghai): a reading before it, one in it, one at its end, for the parent, the lights and
/// A-101's meter: parent 500 kWh, lights 120, A-101 300 (and 50 more at the month's last midnight).
async fn read_october(api: &Api, parent: &str, lights: &str) {
    for (meter, kwh) in [
        (parent.parse::<uuid::Uuid>().unwrap().into(), [1_000, 1_500, 1_600]),
        (lights.parse::<uuid::Uuid>().unwrap().into(), [0, 120, 130]),
        (api.estate.remote_meter, [1_000, 1_300, 1_350]),
    ] {
        for (at, v) in ["2026-09-30T15:00:00Z", "2026-10-15T00:00:00Z", "2026-10-31T16:00:00Z"].iter().zip(kwh) {
            read(api, meter, at, v).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_manager_meters_the_common_areas_and_shares_a_month_by_floor_area() {
    let api = Api::new().await;
    let e = &api.estate;
    let (id, parent, lights) = block_a_rule(&api).await;
    let october = format!("/api/v1/apportionment-rules/{id}/periods/2026-10");

    // Nothing read yet: the month cannot be shown, and says why.
    let r = api.send(api.as_(MANAGER, 'a', Method::GET, &october)).await;
    assert_eq!((r.status.as_u16(), r.code().as_str()), (409, "period_not_read"), "{:?}", r.json());
    let r = api
        .send(api.as_(MANAGER, 'a', Method::GET, &format!("/api/v1/apportionment-rules/{id}/periods/2026-13")))
        .await;
    assert_eq!((r.status.as_u16(), r.code().as_str()), (422, "bad_period"));

    read_october(&api, &parent, &lights).await;
    let preview = get(&api, MANAGER, 'a', &october).await;
    assert_eq!(preview["status"], "preview");
    // Parent 500 kWh, A-101 300, the lights 120: 80 kWh lost (16 %); 200 kWh shared at 0.60 = 120.00.
    assert_eq!(
        (&preview["parent"]["amount"], &preview["units"]["amount"], &preview["common"]["amount"]),
        (&json!("500.000"), &json!("300.000"), &json!("120.000"))
    );
    assert_eq!((&preview["loss"]["amount"], &preview["loss_percent"]), (&json!("80.000"), &json!("16.00")));
    assert_eq!((&preview["pool"]["amount"], &preview["amount"]["amount"]), (&json!("200.000"), &json!("120.00")));
    // 120.00 × 85.50/205.50 = 49.927… and × 120/205.50 = 70.072…: 49.92 and 70.07, the cent left to A-101.
    let amounts: Vec<_> = preview["shares"].as_array().unwrap().iter().map(|s| s["amount"]["amount"].clone()).collect();
    assert_eq!(amounts, vec![json!("49.93"), json!("70.07")]);
    assert_eq!(
        (&preview["charged"]["amount"], &preview["borne_by_site"]["amount"]),
        (&json!("49.93"), &json!("70.07"))
    );
    assert_eq!(preview["shares"][1]["account_id"], Value::Null);
    assert_eq!(preview["shares"][0]["weight_percent"], "41.60");

    // Posted once: what the preview said, charged to A-101's account.
    let before = account_owes(&api).await;
    let req = api.as_(MANAGER, 'a', Method::POST, &october).fresh_key();
    let posted = api.send(req.clone()).await;
    assert_eq!(posted.status.as_u16(), 201, "{:?}", posted.json());
    let posted = posted.json();
    assert_eq!(
        (posted["status"].as_str(), &posted["shares"][0]["amount"]),
        (Some("posted"), &preview["shares"][0]["amount"])
    );
    assert!(posted["shares"][0]["transfer_id"].is_string() && posted["shares"][1]["transfer_id"].is_null());
    let after = account_owes(&api).await;
    assert_eq!((before.0 - after.0) + (after.1 - before.1), 4_993, "the wallet and arrears moved by the share");
    // The same request again is the same answer; another posting of the month is refused.
    let again = api.send(req).await;
    assert_eq!(again.json(), posted);
    let r = api.send(api.as_(MANAGER, 'a', Method::POST, &october).fresh_key()).await;
    assert_eq!((r.status.as_u16(), r.code().as_str()), (409, "period_apportioned"));
    assert_eq!(account_owes(&api).await, after);
    let shown = get(&api, MANAGER, 'a', &october).await;
    assert_eq!((shown["status"].as_str(), &shown["operation_id"]), (Some("posted"), &posted["operation_id"]));
    let listed = get(&api, MANAGER, 'a', &format!("/api/v1/apportionment-rules/{id}")).await;
    assert_eq!(listed["posted"], json!(["2026-10"]));

    // A-101's statement: its line and the weights it was divided by.
    let statement = get(&api, BuiltinRole::Auditor, 'a', &format!("{october}/units/{}", e.unit_a.id)).await;
    assert_eq!(statement["total_weight"], "205.50");
    assert_eq!(statement["period"]["shares"].as_array().unwrap().len(), 1);
    assert_eq!(statement["period"]["shares"][0]["weight"], "85.50");
    let r = api.send(api.as_(MANAGER, 'a', Method::GET, &format!("{october}/units/{}", e.unit_b.id))).await;
    assert_eq!(r.status.as_u16(), 404);

    // The lights were measured, billed to nobody: they show in the consumption report; the parent meter, which
    // measures the units again, does not (a building's total would count them twice).
    let report = get(
        &api,
        MANAGER,
        'a',
        "/api/v1/reports/consumption?from=2026-10-01T00:00:00Z&to=2026-11-01T00:00:00Z&group_by=meter",
    )
    .await;
    let text = report.to_string();
    assert!(!text.contains(&parent) && text.contains(&lights), "{text}");
}

/// 后付费账单 with its lines: A-101 on monthly bills, its tariff taxed at 13 % from September, October's
/// common-area share posted to it; the bill says what its usage is made of. By hand: 350 kWh × 0.60 = 210.00
/// of energy, 13 % = 27.30 of tax, the share 49.93 (the test above), nothing from before: 287.23.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_postpaid_bill_shows_its_energy_tax_and_common_area_share() {
    let api = Api::new().await;
    let e = &api.estate;
    let taxed = format!(
        "{}\n[[versions]]\neffective_from = \"2026-09-01T00:00:00+08:00\"\n\n[versions.prices]\nall = \"0.60\"\n\n\
         [[versions.taxes]]\nname = \"VAT\"\nrate_percent = \"13\"\n",
        voltvend_testkit::estate::FLAT_TARIFF
    );
    let r = api.send(post(&api, BuiltinRole::Administrator, 'g', "/api/v1/tariffs", json!({"document": taxed}))).await;
    assert!(r.status.is_success(), "{:?}", r.json());
    let to_postpaid = json!({"mode": "postpaid", "reason": "monthly bills from October"});
    let account = e.account_a.to_string();
    api.send(post(&api, MANAGER, 'a', &format!("/api/v1/accounts/{account}/billing-mode"), to_postpaid)).await.ok();
    let (id, parent, lights) = block_a_rule(&api).await;
    read_october(&api, &parent, &lights).await;
    let share = format!("/api/v1/apportionment-rules/{id}/periods/2026-10");
    api.send(api.as_(MANAGER, 'a', Method::POST, &share).fresh_key()).await.ok();
    let cycle = json!({"premises_id": e.building_a.id.to_string(), "name": "电费账单", "basis": "postpaid",
                       "rate": "0", "currency": "CNY", "due_day": 10});
    let cycle = api.send(post(&api, MANAGER, 'a', "/api/v1/fee-schedules", cycle)).await.ok();
    let october = format!("/api/v1/fee-schedules/{}/periods/2026-10", cycle["id"].as_str().unwrap());
    let issued = api.send(api.as_(MANAGER, 'a', Method::POST, &october).fresh_key()).await.ok();
    let bill = get(&api, MANAGER, 'a', issued["charges"][0]["bill"].as_str().unwrap()).await;
    let lines: Vec<i64> =
        ["energy_charges", "tax", "common_area", "earlier_balance", "usage"].iter().map(|k| minor(&bill[k])).collect();
    assert_eq!(lines, vec![21_000, 2_730, 4_993, 0, 28_723], "{bill}");
    assert_eq!(bill["consumption"][0]["consumption"], "350.000", "{bill}");
    // Printed in both languages with the same lines.
    for (lang, words) in [("zh-CN", ["税额", "公摊费用"]), ("en", ["Tax", "Common-area share"])] {
        let path = format!("{}?format=pdf&lang={lang}", issued["charges"][0]["bill"].as_str().unwrap());
        let pdf = api.send(api.as_(MANAGER, 'a', Method::GET, &path)).await;
        assert_eq!(pdf.status.as_u16(), 200);
        if let Some(text) = super::reports::pdf_text(&api, &pdf.bytes, &format!("bill-{lang}.pdf")) {
            let shown = words.iter().all(|w| text.contains(w)) && text.contains("27.30") && text.contains("49.93");
            assert!(shown, "{text}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_rules_are_refused_with_the_field_named() {
    let api = Api::new().await;
    let e = &api.estate;
    let base = json!({
        "name": "x", "premises_id": e.building_a.id.to_string(), "utility": "electricity", "basis": "equal",
        "pool": "common", "price": "0.6", "currency": "CNY", "units": [{"premises_id": e.unit_a.id.to_string()}]
    });
    for (field, value, code) in [
        ("basis", json!("by_mood"), "bad_value"),
        ("pool", json!("everything"), "bad_value"),
        ("price", json!("-1"), "bad_request"),
        ("currency", json!("XXX"), "bad_value"),
        ("units", json!([{"premises_id": e.unit_a.id.to_string(), "floor_area_m2": "1.234"}]), "bad_request"),
        ("common_meter_ids", json!([]), "apportionment_common"),
    ] {
        let mut body = base.clone();
        body[field] = value;
        let r = api.send(post(&api, MANAGER, 'a', "/api/v1/apportionment-rules", body)).await;
        assert_eq!(r.code(), code, "{field}: {:?}", r.json());
    }
    let listed = get(&api, MANAGER, 'a', "/api/v1/apportionment-rules").await;
    assert_eq!(listed["items"], json!([]));
}

/// 能耗分析: meters tagged with their category of use; a month's consumption by category and sub-item beside
/// the month before (环比), the largest consumers, and the same as CSV.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn energy_by_category_and_sub_item_beside_the_month_before() {
    let api = Api::new().await;
    let e = &api.estate;
    let block_a = e.building_a.id.to_string();
    let body = json!({"serial": "LIFTS-A", "utility": "electricity", "protocol": "dlt645", "address": "000000000903", "premises_id": block_a});
    let lifts =
        api.send(post(&api, MANAGER, 'a', "/api/v1/meters", body)).await.ok()["id"].as_str().unwrap().to_string();
    api.send(post(&api, MANAGER, 'a', &format!("/api/v1/meters/{lifts}/install"), json!({"premises_id": block_a})))
        .await
        .ok();
    for (meter, category, sub_item) in
        [(lifts.clone(), "power", "lifts 电梯"), (e.remote_meter.to_string(), "lighting_sockets", "flats")]
    {
        let r = api
            .send(post(
                &api,
                MANAGER,
                'a',
                &format!("/api/v1/meters/{meter}/category"),
                json!({"category": category, "sub_item": sub_item}),
            ))
            .await
            .ok();
        assert_eq!((r["category"].as_str(), r["sub_item"].as_str()), (Some(category), Some(sub_item)));
    }
    let r = api
        .send(post(
            &api,
            MANAGER,
            'a',
            &format!("/api/v1/meters/{lifts}/category"),
            json!({"category": "lighting", "sub_item": ""}),
        ))
        .await;
    assert_eq!(r.code(), "bad_value");
    let r = api
        .send(post(
            &api,
            MANAGER,
            'a',
            &format!("/api/v1/meters/{lifts}/category"),
            json!({"category": "power", "sub_item": "x\u{7}"}),
        ))
        .await;
    assert_eq!(r.code(), "text_control_character");
    // September and October: the lifts 40 then 50 kWh, the flat 300 then 240.
    let lifts_id: voltvend_domain::MeterId = lifts.parse::<uuid::Uuid>().unwrap().into();
    for (meter, kwh) in [(lifts_id, [0, 40, 90]), (e.remote_meter, [1_000, 1_300, 1_540])] {
        for (at, v) in ["2026-08-31T17:00:00Z", "2026-09-15T00:00:00Z", "2026-10-15T00:00:00Z"].iter().zip(kwh) {
            read(&api, meter, at, v).await;
        }
    }
    let october = "from=2026-09-30T16:00:00Z&to=2026-10-31T16:00:00Z";
    let r =
        get(&api, MANAGER, 'a', &format!("/api/v1/reports/consumption?{october}&group_by=category&compare=previous"))
            .await;
    assert_eq!(r["compared_from"], "2026-08-30T16:00:00Z");
    let rows = r["rows"].as_array().unwrap();
    let row = |key: &str| rows.iter().find(|x| x["key"] == key).unwrap_or_else(|| panic!("{key}: {r}"));
    assert_eq!(
        (&row("power")["consumption"]["amount"], &row("power")["previous"]["amount"]),
        (&json!("50.000"), &json!("40.000"))
    );
    assert_eq!(row("power")["change_percent"], "25.00");
    assert_eq!(row("lighting_sockets")["change_percent"], "-20.00");
    assert_eq!(r["totals"][0]["consumption"]["amount"], "290.000");
    let by_item = get(&api, MANAGER, 'a', &format!("/api/v1/reports/consumption?{october}&group_by=sub_item")).await;
    assert!(
        by_item["rows"]
            .as_array()
            .unwrap()
            .iter()
            .any(|x| x["key"] == "power/lifts 电梯" && x["label"] == "lifts 电梯"),
        "{by_item}"
    );
    let top = get(&api, MANAGER, 'a', &format!("/api/v1/reports/consumption?{october}&group_by=meter&top=1")).await;
    assert_eq!(top["rows"].as_array().unwrap().len(), 1);
    assert_eq!(top["rows"][0]["key"], e.remote_meter.to_string(), "the largest consumer");
    let csv = api
        .send(api.as_(
            MANAGER,
            'a',
            Method::GET,
            &format!("/api/v1/reports/consumption?{october}&group_by=category&compare=previous&format=csv"),
        ))
        .await;
    let csv = String::from_utf8_lossy(&csv.bytes).to_string();
    assert_eq!(csv.lines().next(), Some("key,label,utility,meters,readings,unit,consumption,previous,change_percent"));
    assert!(csv.contains("power,power,electricity,1,1,kWh,50.000,40.000,25.00"), "{csv}");
    for q in ["group_by=colour", "group_by=meter&top=0", "compare=tomorrow"] {
        let r =
            api.send(api.as_(MANAGER, 'a', Method::GET, &format!("/api/v1/reports/consumption?{october}&{q}"))).await;
        assert_eq!((r.status.as_u16(), r.code().as_str()), (422, "bad_value"), "{q}");
    }
    // Another building's manager cannot tag building A's meters.
    let r = api
        .send(post(&api, MANAGER, 'b', &format!("/api/v1/meters/{lifts}/category"), json!({"category": "power"})))
        .await;
    assert_eq!(r.status.as_u16(), 404);
}
