//! The head end through the API, against the simulated fleet on a real socket: a field engineer gives a meter
//! its channel, reads it on demand, disconnects it; the command reaches the meter and the API shows what the
//! meter reports.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::Method;
use jiff::tz::TimeZone;
use serde_json::json;
use voltvend_dlt645::Address;
use voltvend_domain::BuiltinRole;
use voltvend_meter::controller::ControllerConfig;
use voltvend_meter::fleet::Fleet;
use voltvend_meter::gateway::{self, SharedFleet};

use super::Api;

const ENGINEER: BuiltinRole = BuiltinRole::FieldEngineer;

/// A simulated fleet behind a gateway on this machine, and a head end in the API's server; returns the fleet,
/// the head end, the gateway's port and the estate's remote meter's address.
pub(super) async fn connected(api: &mut Api) -> (SharedFleet, voltvend_headend::HeadEnd, u16, Address) {
    let cfg = ControllerConfig::remote(TimeZone::get("Asia/Shanghai").unwrap());
    let address = Address::from_meter_no("000000000101").unwrap();
    let mut fleet = Fleet::new(101, 3, super::start(), &cfg, 0);
    fleet.meter_mut(&address).unwrap().set_registers_wh(2_000_000);
    let fleet: SharedFleet = Arc::new(Mutex::new(fleet));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(gateway::serve(listener, fleet.clone()));
    let config = voltvend_headend::Config { request_timeout: Duration::from_millis(500), ..Default::default() };
    let headend = voltvend_headend::HeadEnd::new(api.store.clone(), api.clock.clone(), config, 1);
    api.state.headend = Some(headend.clone());

    (fleet, headend, port, address)
}

/// The remote meter set on the simulated gateway at `port` by its engineer, and `amount` sold to it at the
/// counter.
pub(super) async fn wired_and_paid(api: &Api, port: u16, amount: &str) {
    let meter = api.estate.remote_meter;
    let set = api
        .as_(ENGINEER, 'a', Method::PUT, &format!("/api/v1/meters/{meter}/channel"))
        .fresh_key()
        .json(json!({"channel": format!("dlt645+tcp://127.0.0.1:{port}")}));
    assert_eq!(api.send(set).await.status.as_u16(), 204);
    let account = api.estate.account_a.to_string();
    let sale = api
        .as_(BuiltinRole::Cashier, 'a', Method::POST, "/api/v1/sales")
        .fresh_key()
        .json(json!({"account_id": account, "meter_id": meter.to_string(), "method": "cash", "amount": amount}));
    api.send(sale).await.ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_field_engineer_connects_reads_and_disconnects_a_meter_through_the_api() {
    let mut api = Api::new().await;
    let (fleet, headend, port, address) = connected(&mut api).await;
    let meter = api.estate.remote_meter;

    // A cashier may not set channels; a bad channel says why; the engineer sets it.
    let set = |role, channel: &str| {
        api.as_(role, 'a', Method::PUT, &format!("/api/v1/meters/{meter}/channel"))
            .fresh_key()
            .json(json!({"channel": channel}))
    };
    assert_eq!(api.send(set(BuiltinRole::Cashier, "dlt645+dial-in")).await.code(), "forbidden");
    let bad = api.send(set(ENGINEER, "dlt645+tcp://127.0.0.1")).await;
    assert_eq!((bad.status.as_u16(), bad.code().as_str()), (422, "bad_channel"), "{:?}", bad.json());
    assert_eq!(bad.json()["details"]["field"], "channel");
    let wrong = api.send(set(ENGINEER, "modbus+tcp://10.0.0.9:502/3?map=generic-prepaid")).await;
    assert_eq!(wrong.code(), "channel_protocol");
    assert_eq!(api.send(set(ENGINEER, &format!("dlt645+tcp://127.0.0.1:{port}"))).await.status.as_u16(), 204);

    // The customer has credit; read on demand: the first reading is where billing starts.
    let sale = api
        .as_(BuiltinRole::Cashier, 'a', Method::POST, "/api/v1/sales")
        .fresh_key()
        .json(json!({"account_id": api.estate.account_a.to_string(), "meter_id": meter.to_string(), "method": "cash", "amount": "50.00"}));
    api.send(sale).await.ok();
    let read = api.send(api.as_(ENGINEER, 'a', Method::POST, &format!("/api/v1/meters/{meter}/read"))).await.ok();
    assert_eq!((read["billed"].as_u64(), read["charged_minor"].as_str()), (Some(1), Some("0")));
    // The reading is stored and listed, by meter and by building, in the meter's unit.
    let by_meter = format!("/api/v1/readings?meter_id={meter}");
    let readings = api.send(api.as_(BuiltinRole::ReadOnly, 'a', Method::GET, &by_meter)).await.ok();
    assert_eq!(readings["items"].as_array().unwrap().len(), 1, "{readings}");
    let r = &readings["items"][0];
    assert_eq!((r["status"].as_str(), r["registers"][0]["register"].as_str()), (Some("billed"), Some("total")));
    assert_eq!(r["registers"][0]["value"], json!({"unit": "kWh", "amount": "2000.000", "milli": "2000000"}));
    let building = format!("/api/v1/readings?premises_id={}&status=billed", api.estate.building_a.id);
    let by_building = api.send(api.as_(BuiltinRole::ReadOnly, 'a', Method::GET, &building)).await.ok();
    assert_eq!(by_building["items"], readings["items"]);
    assert_eq!(api.send(api.as_(BuiltinRole::ReadOnly, 'b', Method::GET, &by_meter)).await.status.as_u16(), 404);
    assert_eq!(api.send(api.as_(BuiltinRole::ReadOnly, 'b', Method::GET, &building)).await.status.as_u16(), 404);
    let bad = api.send(api.as_(BuiltinRole::ReadOnly, 'a', Method::GET, "/api/v1/readings?status=maybe")).await;
    assert_eq!((bad.status.as_u16(), bad.json()["details"]["field"].as_str()), (400, Some("status")));
    let supply = api.send(api.as_(ENGINEER, 'a', Method::GET, &format!("/api/v1/meters/{meter}/supply"))).await.ok();
    assert_eq!(supply["channel"], format!("dlt645+tcp://127.0.0.1:{port}"));
    assert_eq!((supply["relay"].as_str(), supply["reported"]["relay"].as_str()), (Some("closed"), Some("closed")));
    assert!(supply["last_read_at"].is_string());
    // From building B the meter does not exist.
    let elsewhere = api.send(api.as_(ENGINEER, 'b', Method::GET, &format!("/api/v1/meters/{meter}/supply"))).await;
    assert_eq!(elsewhere.status.as_u16(), 404);

    // A disconnection: queued, carried out, read back; the API shows it done and the meter's relay open.
    let trip = api
        .as_(ENGINEER, 'a', Method::POST, &format!("/api/v1/meters/{meter}/commands"))
        .fresh_key()
        .json(json!({"kind": "relay_trip", "reason": "unsafe wiring"}));
    let queued = api.send(trip).await;
    assert_eq!(queued.status.as_u16(), 201, "{:?}", queued.json());
    assert_eq!(queued.json()[0]["status"], "pending");
    assert_eq!(headend.run_commands().await.unwrap(), 1);
    assert!(!fleet.lock().unwrap().meter(&address).unwrap().controller.relay_closed());
    let supply = api.send(api.as_(ENGINEER, 'a', Method::GET, &format!("/api/v1/meters/{meter}/supply"))).await.ok();
    assert_eq!((supply["relay"].as_str(), supply["held_open"].as_bool()), (Some("open"), Some(true)));
    assert_eq!(supply["reported"]["relay"], "open");
    assert_eq!(supply["pending"], json!([]));
    let history = api
        .send(api.as_(BuiltinRole::ReadOnly, 'a', Method::GET, &format!("/api/v1/meters/{meter}/commands")))
        .await
        .ok();
    assert_eq!(history["items"][0]["kind"], "relay_trip");
    assert_eq!(
        (history["items"][0]["status"].as_str(), history["items"][0]["attempts"].as_i64()),
        (Some("done"), Some(1))
    );
    // The link and the metrics.
    let links = api.send(api.as_(ENGINEER, 'a', Method::GET, "/api/v1/head-end/links")).await.ok();
    assert_eq!(links["items"][0]["up"], true);
    let metrics = api.send(super::Req::new(Method::GET, "/metrics")).await;
    let text = String::from_utf8_lossy(&metrics.bytes);
    assert!(text.contains("voltvend_headend_command_attempts_total{result=\"done\"} 1"), "{text}");
    assert!(text.trim_end().ends_with("# EOF"), "still one OpenMetrics document");
}

/// A meter reset in place reads lower than before: the reading is flagged and not billed; an engineer reviews
/// it and billing goes on from it (the interval before it is not billed). Cashiers may not; a reading that is
/// not there, or is not newer than the last billed one, is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flagged_reading_is_reviewed_and_billing_goes_on_from_it() {
    let mut api = Api::new().await;
    // The head end is in the server (the API's reads go through it).
    let (fleet, _headend, port, address) = connected(&mut api).await;
    let meter = api.estate.remote_meter;
    wired_and_paid(&api, port, "50.00").await;
    let read = |api: &Api| api.as_(ENGINEER, 'a', Method::POST, &format!("/api/v1/meters/{meter}/read"));
    api.send(read(&api)).await.ok();
    // The meter is reset: it reads 1 kWh where it read 2 000 kWh.
    fleet.lock().unwrap().meter_mut(&address).unwrap().set_registers_wh(1_000);
    api.clock.advance(jiff::SignedDuration::from_hours(1));
    let r = api.send(read(&api)).await.ok();
    assert_eq!((r["billed"].as_u64(), r["flagged"].as_u64()), (Some(0), Some(1)), "{r}");
    let flagged = format!("/api/v1/readings?meter_id={meter}&status=flagged");
    let list = api.send(api.as_(BuiltinRole::ReadOnly, 'a', Method::GET, &flagged)).await.ok();
    let at = list["items"][0]["at"].as_str().unwrap().to_string();
    let rebase = |role, at: &str| {
        api.as_(role, 'a', Method::POST, &format!("/api/v1/meters/{meter}/readings/rebase"))
            .fresh_key()
            .json(json!({"at": at, "reason": "meter reset by the field team"}))
    };
    assert_eq!(api.send(rebase(BuiltinRole::Cashier, &at)).await.code(), "forbidden");
    let none = api.send(rebase(ENGINEER, "2026-01-01T00:00:00Z")).await;
    assert_eq!((none.status.as_u16(), none.code().as_str()), (422, "no_flagged_reading"));
    assert_eq!(api.send(rebase(ENGINEER, &at)).await.status.as_u16(), 204);
    // 10 kWh more: billed from the reset value, 10 × 0.60.
    fleet.lock().unwrap().meter_mut(&address).unwrap().set_registers_wh(11_000);
    api.clock.advance(jiff::SignedDuration::from_hours(1));
    let r = api.send(read(&api)).await.ok();
    assert_eq!((r["billed"].as_u64(), r["charged_minor"].as_str()), (Some(1), Some("600")), "{r}");
    // The same reading again is behind the last billed one now.
    let again = api.send(rebase(ENGINEER, &at)).await;
    assert_eq!((again.status.as_u16(), again.code().as_str()), (409, "reading_not_newer"));
}

/// A jump beyond the supply's limit is flagged and not billed; an engineer finds it real (a contractor's heater)
/// and bills it: the interval is priced and debited exactly as a reading would be, once. A reading lower than
/// the last cannot be billed so, only rebased.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flagged_jump_found_real_is_billed_once() {
    let mut api = Api::new().await;
    let (fleet, _headend, port, address) = connected(&mut api).await;
    let meter = api.estate.remote_meter;
    wired_and_paid(&api, port, "200.00").await;
    let read = |api: &Api| api.as_(ENGINEER, 'a', Method::POST, &format!("/api/v1/meters/{meter}/read"));
    fleet.lock().unwrap().meter_mut(&address).unwrap().set_registers_wh(2_000_000);
    let first = api.send(read(&api)).await.ok();
    let balance = |r: &serde_json::Value| r["balance_after_minor"].as_str().unwrap().parse::<i64>().unwrap();
    let before = balance(&first);
    // 260 kWh in an hour: more than the 250 kW the head end allows by default.
    fleet.lock().unwrap().meter_mut(&address).unwrap().set_registers_wh(2_260_000);
    api.clock.advance(jiff::SignedDuration::from_hours(1));
    let r = api.send(read(&api)).await.ok();
    assert_eq!((r["billed"].as_u64(), r["flagged"].as_u64(), balance(&r)), (Some(0), Some(1), before), "{r}");
    let flagged = format!("/api/v1/readings?meter_id={meter}&status=flagged");
    let list = api.send(api.as_(BuiltinRole::ReadOnly, 'a', Method::GET, &flagged)).await.ok();
    let at = list["items"][0]["at"].as_str().unwrap().to_string();
    let bill_as = |role, key: &str| {
        api.as_(role, 'a', Method::POST, &format!("/api/v1/meters/{meter}/readings/rebase"))
            .key(key)
            .json(json!({"at": at, "reason": "a contractor's heater, seen on site", "bill": true}))
    };
    // Charging the customer is a money decision: the engineer who may rebase may not bill.
    let refused = api.send(bill_as(ENGINEER, "heater-engineer")).await;
    assert_eq!((refused.status.as_u16(), refused.code().as_str()), (403, "forbidden"));
    let bill = |key: &str| bill_as(BuiltinRole::Manager, key);
    assert_eq!(api.send(bill("heater")).await.status.as_u16(), 204);
    // The same request again is answered from its first commit: billed once.
    assert_eq!(api.send(bill("heater")).await.status.as_u16(), 204);
    // 260 × 0.60 = 156.00 debited; the next read bills only what follows.
    fleet.lock().unwrap().meter_mut(&address).unwrap().set_registers_wh(2_270_000);
    api.clock.advance(jiff::SignedDuration::from_hours(1));
    let r = api.send(read(&api)).await.ok();
    assert_eq!((r["billed"].as_u64(), r["charged_minor"].as_str()), (Some(1), Some("600")), "{r}");
    assert_eq!(balance(&r), before - 15_600 - 600, "{r}");
    let billed = format!("/api/v1/readings?meter_id={meter}&status=billed");
    let list = api.send(api.as_(BuiltinRole::ReadOnly, 'a', Method::GET, &billed)).await.ok();
    let billed_at: Vec<_> = list["items"].as_array().unwrap().iter().map(|i| i["at"].as_str().unwrap()).collect();
    assert_eq!(billed_at.iter().filter(|a| **a == at).count(), 1, "the reading is billed once: {list}");
    // Once billed, billing is past it; and a lower register can be rebased, never billed.
    let again = api.send(bill("heater-again")).await;
    assert_eq!((again.status.as_u16(), again.code().as_str()), (409, "reading_not_newer"));
    fleet.lock().unwrap().meter_mut(&address).unwrap().set_registers_wh(1_000);
    api.clock.advance(jiff::SignedDuration::from_hours(1));
    assert_eq!(api.send(read(&api)).await.ok()["flagged"].as_u64(), Some(1));
    let list = api.send(api.as_(BuiltinRole::ReadOnly, 'a', Method::GET, &flagged)).await.ok();
    let lower = list["items"].as_array().unwrap().last().unwrap()["at"].as_str().unwrap().to_string();
    let refused = api
        .send(
            api.as_(BuiltinRole::Manager, 'a', Method::POST, &format!("/api/v1/meters/{meter}/readings/rebase"))
                .fresh_key()
                .json(json!({"at": lower, "reason": "reset", "bill": true})),
        )
        .await;
    assert_eq!((refused.status.as_u16(), refused.code().as_str()), (409, "register_decreased"));
}

/// 按实抄试算: a tariff applied to a meter's stored, billed readings gives what billing charged; a draft at
/// another price gives that price's bill; another utility's tariff and another building's meter are refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tariff_is_previewed_against_a_meters_billed_readings() {
    let mut api = Api::new().await;
    let (fleet, _headend, port, address) = connected(&mut api).await;
    let meter = api.estate.remote_meter;
    let from = voltvend_domain::Clock::now(api.clock.as_ref()).to_string();
    wired_and_paid(&api, port, "100.00").await;
    let read = |api: &Api| api.as_(ENGINEER, 'a', Method::POST, &format!("/api/v1/meters/{meter}/read"));
    let mut charged = 0_i64;
    fleet.lock().unwrap().meter_mut(&address).unwrap().set_registers_wh(2_000_000);
    let first = api.send(read(&api)).await.ok();
    charged += first["charged_minor"].as_str().unwrap().parse::<i64>().unwrap();
    // 10, 25.5 and 1.23 kWh (the meter shows whole 10 Wh).
    for wh in [2_010_000, 2_035_500, 2_036_730] {
        fleet.lock().unwrap().meter_mut(&address).unwrap().set_registers_wh(wh);
        api.clock.advance(jiff::SignedDuration::from_hours(1));
        let r = api.send(read(&api)).await.ok();
        assert_eq!(r["billed"], 1, "{r}");
        charged += r["charged_minor"].as_str().unwrap().parse::<i64>().unwrap();
    }
    let to = (voltvend_domain::Clock::now(api.clock.as_ref()) + jiff::SignedDuration::from_mins(1)).to_string();
    let preview = |body: serde_json::Value, role, building| {
        api.as_(role, building, Method::POST, "/api/v1/tariffs/preview").json(body)
    };
    let body = |tariff: serde_json::Value| {
        let mut b = json!({"meter_id": meter.to_string(), "from": from, "to": to});
        for (k, v) in tariff.as_object().unwrap() {
            b[k] = v.clone();
        }
        b
    };
    let stored = api.send(preview(body(json!({"code": "test-flat"})), BuiltinRole::ReadOnly, 'a')).await.ok();
    assert_eq!(stored["readings"], 4, "{stored}");
    assert_eq!(
        stored["total"]["minor"].as_str().unwrap().parse::<i64>().unwrap(),
        charged,
        "what billing charged: {stored}"
    );
    assert_eq!(stored["total"]["amount"], "22.03", "36.73 kWh × 0.60, the remainder carried: {stored}");
    assert_eq!(stored["intervals"].as_array().unwrap().len(), 3);
    // A draft at 0.80 is priced before it is stored.
    let draft =
        voltvend_testkit::estate::FLAT_TARIFF.replace("test-flat", "draft-flat").replace("\"0.60\"", "\"0.80\"");
    let d = api.send(preview(body(json!({"document": draft})), BuiltinRole::Manager, 'a')).await.ok();
    assert_eq!((d["tariff"].as_str(), d["total"]["amount"].as_str()), (Some("draft-flat"), Some("29.38")), "{d}");
    assert_eq!(d["lines"][0]["quantity"], "36.730");
    assert_eq!(d["lines"][0]["price"], "0.800000");
    let none = api.send(api.as_(BuiltinRole::ReadOnly, 'a', Method::GET, "/api/v1/tariffs/draft-flat")).await;
    assert_eq!(none.status.as_u16(), 404, "a preview stores nothing");
    // Another utility's tariff, another building's meter, a bad document, both or neither: refused.
    let water = voltvend_testkit::estate::FLAT_TARIFF.replace("electricity", "water");
    let r = api.send(preview(body(json!({"document": water})), BuiltinRole::ReadOnly, 'a')).await;
    assert_eq!((r.status.as_u16(), r.code().as_str()), (422, "utility_mismatch"));
    let r = api.send(preview(body(json!({"code": "test-flat"})), BuiltinRole::ReadOnly, 'b')).await;
    assert_eq!(r.status.as_u16(), 404);
    let r = api.send(preview(body(json!({"document": "code = 1"})), BuiltinRole::ReadOnly, 'a')).await;
    assert_eq!((r.status.as_u16(), r.code().as_str()), (422, "tariff_invalid"));
    let r = api.send(preview(body(json!({"code": "test-flat", "document": draft})), BuiltinRole::ReadOnly, 'a')).await;
    assert_eq!(r.status.as_u16(), 400);
    let r = api
        .send(preview(
            json!({"code": "test-flat", "meter_id": meter.to_string(), "from": to, "to": from}),
            BuiltinRole::ReadOnly,
            'a',
        ))
        .await;
    assert_eq!(r.status.as_u16(), 400);
}

/// Alarms, newest first: a meter's within its building only; the system's for the whole group only.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alarms_are_listed_newest_first_within_scope() {
    let mut api = Api::new().await;
    let meter = api.estate.remote_meter;
    // The account's credit runs out: the meter is tripped and its customer told (the outbox).
    super::lifecycle::read(&api, meter, "2026-11-23T09:00:00Z", 1_000).await;
    let r = super::lifecycle::read(&api, meter, "2026-11-23T10:00:00Z", 100_000).await;
    assert!(r.billed >= 1, "{r:?}");
    let alarm = voltvend_ops::RaiseAlarm { kind: voltvend_ops::OutboxKind::BackupFailed, detail: "disk full".into() };
    api.store.submit(api.estate.system(voltvend_ops::Command::RaiseAlarm(alarm))).await.unwrap();
    let list = |role, building| api.as_(role, building, Method::GET, "/api/v1/alarms?limit=50");
    let a = api.send(list(BuiltinRole::ReadOnly, 'a')).await.ok();
    let kinds: Vec<&str> = a["items"].as_array().unwrap().iter().map(|i| i["kind"].as_str().unwrap()).collect();
    assert!(kinds.contains(&"relay_trip"), "{a}");
    assert!(!kinds.contains(&"backup_failed"), "the system's alarms are the group's");
    let trip = a["items"].as_array().unwrap().iter().find(|i| i["kind"] == "relay_trip").unwrap();
    assert_eq!(trip["meter_id"].as_str(), Some(meter.to_string().as_str()));
    assert!(trip["serial"].as_str().is_some_and(|s| !s.is_empty()));
    let b = api.send(list(BuiltinRole::ReadOnly, 'b')).await.ok();
    assert!(b["items"].as_array().unwrap().iter().all(|i| i["meter_id"] != trip["meter_id"]), "{b}");
    let g = api.send(list(BuiltinRole::Administrator, 'g')).await.ok();
    let items = g["items"].as_array().unwrap();
    assert_eq!(items[0]["kind"], "backup_failed", "newest first: {g}");
    assert_eq!(items[0]["detail"], "disk full");
    let seqs: Vec<i64> = items.iter().map(|i| i["seq"].as_i64().unwrap()).collect();
    assert!(seqs.windows(2).all(|w| w[0] > w[1]), "{seqs:?}");
    // Paging goes to older ones.
    let first = api.send(api.as_(BuiltinRole::Administrator, 'g', Method::GET, "/api/v1/alarms?limit=1")).await.ok();
    let next = first["next"].as_str().unwrap().to_string();
    let older = api
        .send(api.as_(BuiltinRole::Administrator, 'g', Method::GET, &format!("/api/v1/alarms?limit=1&after={next}")))
        .await
        .ok();
    assert!(older["items"][0]["seq"].as_i64().unwrap() < first["items"][0]["seq"].as_i64().unwrap());
    let bad = api.send(api.as_(BuiltinRole::Administrator, 'g', Method::GET, "/api/v1/alarms?after=x")).await;
    assert_eq!(bad.status.as_u16(), 400);
}

/// A meter set to show credit keeps showing it when its channel is set again without saying (a gateway's new
/// address), and stops when the channel is cleared; a meter on Modbus may not be set to show it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn showing_credit_survives_a_new_channel_and_ends_with_none() {
    let api = Api::new().await;
    let meter = api.estate.remote_meter;
    let put = |api: &Api, body: serde_json::Value| {
        api.as_(ENGINEER, 'a', Method::PUT, &format!("/api/v1/meters/{meter}/channel")).fresh_key().json(body)
    };
    let supply =
        |api: &Api| api.as_(BuiltinRole::ReadOnly, 'a', Method::GET, &format!("/api/v1/meters/{meter}/supply"));
    let r = api.send(put(&api, json!({"channel": "dlt645+tcp://10.0.0.5:8001", "shows_credit": true}))).await;
    assert_eq!(r.status.as_u16(), 204);
    assert_eq!(api.send(supply(&api)).await.ok()["shows_credit"], json!(true));
    let r = api.send(put(&api, json!({"channel": "dlt645+tcp://10.0.0.6:8001"}))).await;
    assert_eq!(r.status.as_u16(), 204);
    let s = api.send(supply(&api)).await.ok();
    assert_eq!((s["channel"].as_str(), &s["shows_credit"]), (Some("dlt645+tcp://10.0.0.6:8001"), &json!(true)));
    let r = api.send(put(&api, json!({"channel": null}))).await;
    assert_eq!(r.status.as_u16(), 204);
    assert_eq!(api.send(supply(&api)).await.ok()["shows_credit"], json!(false));
    let r = api.send(put(&api, json!({"channel": null, "shows_credit": true}))).await;
    assert_eq!((r.status.as_u16(), r.code().as_str()), (422, "channel_protocol"));
}
