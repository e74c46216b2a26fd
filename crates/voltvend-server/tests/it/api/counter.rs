//! The counter through the API: opening accounts, quotes that match sales, STS and OpenPAYGO tokens their
//! meters accept, refused payments, idempotent retries under concurrency, receipts, keys at rest.

use std::collections::BTreeSet;

use axum::http::Method;
use serde_json::{Value, json};
use voltvend_domain::BuiltinRole;
use voltvend_sts::openpaygo::{OpgDecoder, OpgDevice, OpgKind};
use voltvend_sts::{Accepted, StsMeter, VendingKey};
use voltvend_testkit::estate::VENDING_KEY_HEX;

use super::{Api, Req};

const CASHIER: BuiltinRole = BuiltinRole::Cashier;
const OPG_KEY: &str = "a29ab82edc5fbbc41ec9530f6dac86b1";

fn sts_meter_of(api: &Api, address: &str, sgc: u32) -> StsMeter {
    let pan = voltvend_sts::Pan::from_parts("600727", address).unwrap();
    let mut params = api.estate.sts_record.params.clone();
    params.sgc = sgc;
    let key = VendingKey::from_hex(VENDING_KEY_HEX).unwrap().derive(&pan, &params).unwrap();
    StsMeter::new(key, params, 100)
}

/// Opens an account in A-101 through the API with the given meters and first sale; returns its body.
async fn open(api: &Api, meters: Value, first_sale: Value) -> Value {
    let body = json!({
        "customer": {"kind": "person", "name": "Zhou Xia 周霞", "phones": ["13900001111"],
                     "id_document": {"kind": "national_id", "number": "330106199001011234"}},
        "premises_id": api.estate.unit_a.id.to_string(),
        "currency": "CNY",
        "recovery": {"kind": "share", "percent": "10"},
        "min_purchase": "1.00",
        "meters": meters,
        "first_sale": first_sale,
    });
    let r = api.send(api.as_(CASHIER, 'a', Method::POST, "/api/v1/accounts").fresh_key().json(body)).await;
    r.ok()
}

fn sts_meter(serial: &str, address: &str) -> Value {
    json!({"new": {"serial": serial, "utility": "electricity", "protocol": "sts_keypad", "address": address},
           "tariff_code": "cn-zhejiang-residential-tou",
           "sts": {"iin": "600727", "ea": "07", "key_type": 2, "supply_group": 123456, "tariff_index": 1,
                   "key_revision": 1, "base_date": "14"}})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_sts_account_opened_with_a_first_sale_by_quantity_gets_a_token_its_meter_takes() {
    let api = Api::new().await;
    let opened =
        open(&api, json!([sts_meter("STS-Q-1", "07070707070")]), json!({"method": "cash", "quantity": "50"})).await;
    let sale = &opened["first_sale"];
    assert_eq!(sale["quantity"]["amount"], "50.000");
    assert_eq!(sale["quantity"]["unit"], "kWh");
    let token = sale["tokens"][0].as_str().unwrap();
    let mut meter = sts_meter_of(&api, "07070707070", 123_456);
    assert!(matches!(meter.enter(token).unwrap(), Accepted::Credit { tenths: 500, .. }));
    assert!(meter.enter(token).is_err(), "a token is accepted once");
    // A quote is exactly the sale that follows on the same state, without the token.
    let account = opened["account_id"].as_str().unwrap();
    let meter_id = opened["meter_ids"][0].as_str().unwrap();
    let ask = json!({"account_id": account, "meter_id": meter_id, "method": "bank_card", "amount": "88.88", "reference": "auth 556677"});
    let quote = api.send(api.as_(CASHIER, 'a', Method::POST, "/api/v1/sales/quote").json(ask.clone())).await.ok();
    assert_eq!(quote["tokens"], 1);
    assert!(!quote.to_string().contains("\"tokens\":[\""), "a quote never carries a token");
    let sold = api.send(api.as_(CASHIER, 'a', Method::POST, "/api/v1/sales").fresh_key().json(ask)).await.ok();
    for field in ["paid", "arrears", "fees", "tax", "energy", "credit", "quantity", "balance_after"] {
        assert_eq!(quote[field], sold[field], "{field}");
    }
    assert!(matches!(meter.enter(sold["tokens"][0].as_str().unwrap()).unwrap(), Accepted::Credit { .. }));
    // The same by quantity, with the quoted price: accepted at that price; at another price, refused and kept.
    let by_kwh = json!({"account_id": account, "meter_id": meter_id, "method": "cash", "quantity": "10"});
    let q = api.send(api.as_(CASHIER, 'a', Method::POST, "/api/v1/sales/quote").json(by_kwh.clone())).await.ok();
    let mut exact = by_kwh.clone();
    exact["expected_paid"] = q["paid"]["amount"].clone();
    api.send(api.as_(CASHIER, 'a', Method::POST, "/api/v1/sales").fresh_key().json(exact)).await.ok();
    let mut stale = by_kwh;
    stale["expected_paid"] = json!("0.01");
    let r = api.send(api.as_(CASHIER, 'a', Method::POST, "/api/v1/sales").fresh_key().json(stale)).await;
    assert_eq!((r.status.as_u16(), r.code().as_str()), (409, "quote_changed"));
    let kept = r.json()["details"]["refused_payment_id"].as_str().unwrap().to_string();
    let listed = api.send(api.as_(CASHIER, 'a', Method::GET, "/api/v1/refused-payments?refunded=false")).await.ok();
    assert!(
        listed["items"].as_array().unwrap().iter().any(|p| p["id"] == kept.as_str() && p["paid"]["amount"] == "0.01")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_openpaygo_device_sells_days_and_takes_management_tokens() {
    let api = Api::new().await;
    let device = json!({"new": {"serial": "SHS-1", "utility": "electricity", "protocol": "openpaygo", "address": "SHS1"},
                        "openpaygo": {"secret_key": OPG_KEY, "starting_code": 123456789, "unit": "day", "price_per_unit": "2.50"}});
    let opened = open(&api, json!([device]), json!({"method": "cash", "amount": "10.00"})).await;
    let mut decoder = OpgDecoder::new(OpgDevice::from_hex(OPG_KEY, Some(123_456_789)).unwrap(), 0, false);
    let first = &opened["first_sale"];
    assert_eq!(
        (first["quantity"]["unit"].as_str(), first["quantity"]["amount"].as_str()),
        (Some("day"), Some("4.000"))
    );
    assert_eq!(decoder.enter(first["tokens"][0].as_str().unwrap()).unwrap().kind, OpgKind::AddTime(4));
    let meter = opened["meter_ids"][0].as_str().unwrap();
    let view = api.send(api.as_(CASHIER, 'a', Method::GET, &format!("/api/v1/meters/{meter}"))).await.ok();
    assert_eq!(view["openpaygo"]["price_per_unit"], "2.50");
    assert!(!view.to_string().contains(OPG_KEY), "the secret never leaves the server");
    // A field engineer (management tokens) sets the time; the cashier may not.
    let set = json!({"kind": "set_time", "units": 3, "reason": "replaced battery"});
    let path = format!("/api/v1/meters/{meter}/openpaygo-tokens");
    assert_eq!(
        api.send(api.as_(CASHIER, 'a', Method::POST, &path).fresh_key().json(set.clone())).await.code(),
        "forbidden"
    );
    let t = api.send(api.as_(BuiltinRole::FieldEngineer, 'a', Method::POST, &path).fresh_key().json(set)).await.ok();
    assert_eq!(decoder.enter(t["tokens"][0].as_str().unwrap()).unwrap().kind, OpgKind::SetTime(3));
    let history = api
        .send(api.as_(BuiltinRole::ReadOnly, 'a', Method::GET, &format!("/api/v1/meters/{meter}/tokens")))
        .await
        .ok();
    assert_eq!(history["items"][0]["tokens"][0], "(hidden)", "who may not issue management tokens does not see them");
    // A counter sync, then the history a page at a time, newest first.
    let sync = json!({"kind": "counter_sync", "reason": "after the set-time"});
    api.send(api.as_(BuiltinRole::FieldEngineer, 'a', Method::POST, &path).fresh_key().json(sync)).await.ok();
    let page = |after: &str| {
        api.as_(BuiltinRole::FieldEngineer, 'a', Method::GET, &format!("/api/v1/meters/{meter}/tokens?limit=1{after}"))
    };
    let newest = api.send(page("")).await.ok();
    assert_eq!(newest["items"][0]["kind"], "counter_sync", "{newest}");
    let next = newest["next"].as_str().unwrap().to_string();
    let older = api.send(page(&format!("&after={next}"))).await.ok();
    assert_eq!(older["items"][0]["kind"], "set_time", "{older}");
    assert_eq!(older["items"][0]["tokens"][0], t["tokens"][0], "the issuer sees the token");
    let last = api.send(page(&format!("&after={}", older["next"].as_str().unwrap()))).await.ok();
    assert_eq!(last["items"], json!([]), "two management tokens in all");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_payment_refused_after_it_was_taken_is_kept_listed_and_refunded_once() {
    let api = Api::new().await;
    let e = &api.estate;
    let sale = |amount: &str| {
        api.as_(CASHIER, 'a', Method::POST, "/api/v1/sales").fresh_key().json(json!({
            "account_id": e.account_a.to_string(), "meter_id": e.remote_meter.to_string(), "method": "cash", "amount": amount
        }))
    };
    // Account A may hold at most 10 000.00 (hoarding limit): a sale that would pass it is refused.
    let r = api.send(sale("10000.01")).await;
    assert_eq!((r.status.as_u16(), r.code().as_str()), (409, "hoarding_limit"));
    let id = r.json()["details"]["refused_payment_id"].as_str().unwrap().to_string();
    let account = api.send(api.as_(CASHIER, 'a', Method::GET, &format!("/api/v1/accounts/{}", e.account_a))).await.ok();
    assert_eq!(account["balance"]["minor"], "0", "nothing reached the wallet");
    // Another building does not see it; a read-only operator sees it; the cashier refunds it from the drawer.
    let listed = |role, b| api.as_(role, b, Method::GET, "/api/v1/refused-payments");
    assert!(!String::from_utf8_lossy(&api.send(listed(CASHIER, 'b')).await.bytes).contains(&id));
    assert!(String::from_utf8_lossy(&api.send(listed(BuiltinRole::ReadOnly, 'a')).await.bytes).contains(&id));
    let refund = || {
        api.as_(CASHIER, 'a', Method::POST, &format!("/api/v1/refused-payments/{id}/refund"))
            .fresh_key()
            .json(json!({}))
    };
    let done = api.send(refund()).await.ok();
    assert!(done["refunded_at"].is_string());
    assert_eq!(api.send(refund()).await.code(), "already_refunded");
    let report = api.store.check(voltvend_store::CheckScope::Full).await.unwrap();
    assert!(report.is_ok(), "{:?}", report.problems);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_hundred_concurrent_sales_on_one_account_with_retries_lose_and_double_nothing() {
    let api = Api::new().await;
    // One account, two meters: a remote one (wallet credit) and an STS keypad meter (tokens).
    let opened = open(
        &api,
        json!([
            {"new": {"serial": "DDSY-C-1", "utility": "electricity", "protocol": "dlt645", "address": "000000007001"},
             "tariff_code": "test-flat"},
            sts_meter("STS-C-1", "07000000001")
        ]),
        Value::Null,
    )
    .await;
    let account = opened["account_id"].as_str().unwrap().to_string();
    let (remote, sts) =
        (opened["meter_ids"][0].as_str().unwrap().to_string(), opened["meter_ids"][1].as_str().unwrap().to_string());
    const SALES: usize = 500;
    let sales_before = api.store.counts().await.unwrap().sales;
    let requests: Vec<Req> = (0..SALES)
        .map(|i| {
            let meter = if i % 2 == 0 { &remote } else { &sts };
            api.as_(CASHIER, 'a', Method::POST, "/api/v1/sales")
                .key(&format!("concurrent-{i}"))
                .json(json!({"account_id": account, "meter_id": meter, "method": "cash", "amount": "20.00"}))
        })
        .collect();
    // Every sale, and a retry of every fifth one, all at once.
    let mut all: Vec<Req> = requests.clone();
    all.extend(requests.iter().step_by(5).cloned());
    let api = std::sync::Arc::new(api);
    let handles: Vec<_> = all
        .into_iter()
        .map(|r| {
            let api = api.clone();
            tokio::spawn(async move { api.send(r).await })
        })
        .collect();
    let mut by_key: std::collections::HashMap<String, Vec<super::Resp>> = std::collections::HashMap::new();
    for (h, key) in handles.into_iter().zip((0..SALES).chain((0..SALES).step_by(5))) {
        by_key.entry(format!("concurrent-{key}")).or_default().push(h.await.unwrap());
    }
    // On a loaded machine a request may wait longer for a database connection than the pool allows and be
    // answered 503 (nothing committed): the client retries it with the same key, as a counter would.
    for (i, request) in requests.iter().enumerate() {
        let responses = by_key.get_mut(&format!("concurrent-{i}")).unwrap();
        responses.retain(|r| r.status.as_u16() != 503);
        for _ in 0..20 {
            if !responses.is_empty() {
                break;
            }
            let r = api.send(request.clone()).await;
            if r.status.as_u16() != 503 {
                responses.push(r);
            }
        }
    }
    let mut receipts = BTreeSet::new();
    let mut tokens = Vec::new();
    let mut credit_minor = 0_i64;
    for (key, responses) in &by_key {
        let first = &responses[0];
        assert_eq!(first.status.as_u16(), 201, "{key}: {}", String::from_utf8_lossy(&first.bytes));
        for other in &responses[1..] {
            assert_eq!(other.bytes, first.bytes, "{key}: a retry gets the same bytes");
        }
        let sale = first.json();
        assert!(receipts.insert(sale["receipt_no"].as_i64().unwrap()), "receipt numbers are unique");
        credit_minor += sale["credit"]["minor"].as_str().unwrap().parse::<i64>().unwrap();
        tokens.extend(sale["tokens"].as_array().unwrap().iter().map(|t| t.as_str().unwrap().to_string()));
    }
    assert_eq!(by_key.len(), SALES);
    // Receipts of the counter are gapless; the wallet holds exactly the credit sold; every token is good once.
    let (low, high) = (*receipts.first().unwrap(), *receipts.last().unwrap());
    assert_eq!((high - low + 1) as usize, SALES, "gapless receipt numbers");
    let view = api.send(api.as_(CASHIER, 'a', Method::GET, &format!("/api/v1/accounts/{account}"))).await.ok();
    assert_eq!(view["balance"]["minor"].as_str().unwrap().parse::<i64>().unwrap(), credit_minor);
    assert_eq!(tokens.len(), SALES / 2);
    let mut meter = sts_meter_of(&api, "07000000001", 123_456);
    let mut tids = BTreeSet::new();
    // The meter remembers the last 100 TIDs and refuses older ones: enter the tokens in TID order, as the
    // meter's owner would type the newest ones; each must be accepted exactly once.
    let mut decoded: Vec<(u32, String)> = Vec::new();
    for t in &tokens {
        let mut probe = sts_meter_of(&api, "07000000001", 123_456);
        match probe.enter(t).unwrap() {
            Accepted::Credit { tid, .. } => decoded.push((tid.minutes(), t.clone())),
            other => panic!("{other:?}"),
        }
    }
    decoded.sort();
    for (tid, t) in &decoded {
        assert!(tids.insert(*tid), "TIDs are unique");
        assert!(matches!(meter.enter(t).unwrap(), Accepted::Credit { .. }));
    }
    let report = api.store.check(voltvend_store::CheckScope::Full).await.unwrap();
    assert!(report.is_ok(), "{:?}", report.problems);
    let sales = api.store.counts().await.unwrap().sales;
    assert_eq!(sales - sales_before, SALES as i64, "each sale once, retries none");
}

/// A retry is answered from the saved answer whatever has changed since: here the cashier's shift closed
/// between the sale and the retry, which a new sale would be refused for. The same key with another request is
/// a conflict, and changes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_gets_the_first_answer_after_the_state_moved_on_and_a_reused_key_is_a_conflict() {
    let api = Api::new().await;
    let e = &api.estate;
    let body = json!({"account_id": e.account_a.to_string(), "meter_id": e.remote_meter.to_string(), "method": "cash", "amount": "12.00"});
    let sale = api.as_(CASHIER, 'a', Method::POST, "/api/v1/sales").key("retry-after-close").json(body.clone());
    let first = api.send(sale.clone()).await;
    assert_eq!(first.status.as_u16(), 201, "{:?}", first.json());
    let shift = api.send(api.as_(CASHIER, 'a', Method::GET, "/api/v1/shifts/current")).await.ok()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let close = api
        .as_(CASHIER, 'a', Method::POST, &format!("/api/v1/shifts/{shift}/close"))
        .fresh_key()
        .json(json!({"counted": "112.00"}));
    api.send(close).await.ok();
    let fresh = api.send(api.as_(CASHIER, 'a', Method::POST, "/api/v1/sales").fresh_key().json(body.clone())).await;
    assert_eq!(fresh.code(), "no_open_shift", "a new sale needs a shift");
    let sales = api.store.counts().await.unwrap().sales;
    let again = api.send(sale).await;
    assert_eq!((again.status, &again.bytes), (first.status, &first.bytes));
    assert_eq!(again.headers.get("idempotent-replayed").unwrap(), "true");
    // The same key for another amount: a conflict.
    let mut other = body;
    other["amount"] = json!("13.00");
    let reused = api.as_(CASHIER, 'a', Method::POST, "/api/v1/sales").key("retry-after-close").json(other);
    let r = api.send(reused).await;
    assert_eq!((r.status.as_u16(), r.code().as_str()), (409, "idempotency_conflict"), "{:?}", r.json());
    assert_eq!(api.store.counts().await.unwrap().sales, sales, "nothing was sold again");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn receipts_original_copy_and_forms() {
    let api = Api::new().await;
    let e = &api.estate;
    let sold = api
        .send(api.as_(CASHIER, 'a', Method::POST, "/api/v1/sales").fresh_key().json(json!({
            "account_id": e.account_a.to_string(), "meter_id": e.remote_meter.to_string(), "method": "cash", "amount": "66.00"
        })))
        .await
        .ok();
    let id = sold["id"].as_str().unwrap();
    let original = |role, b, format: &str| {
        api.as_(role, b, Method::GET, &format!("/api/v1/sales/{id}/receipt?format={format}&lang=zh-CN"))
    };
    let html = api.send(original(CASHIER, 'a', "html")).await;
    assert_eq!(html.headers.get("content-type").unwrap(), "text/html; charset=utf-8");
    let text = String::from_utf8(html.bytes.clone()).unwrap();
    let number = sold["receipt_no"].as_i64().unwrap();
    assert!(number > 0 && text.contains(&format!("{number:06}")), "the receipt shows the sale's number {number}");
    assert!(!text.contains("副本"), "the original is no copy");
    assert!(!text.contains("<style") && !text.contains("<script"), "nothing inline for the CSP");
    // Another cashier (or the administrator) prints only copies.
    assert_eq!(api.send(original(BuiltinRole::Administrator, 'a', "html")).await.code(), "receipt_not_original");
    let escpos = api.send(original(CASHIER, 'a', "escpos")).await;
    let printed = voltvend_receipt::escpos_text(&escpos.bytes, voltvend_receipt::EscPosEncoding::Gb18030).unwrap();
    assert!(printed.contains("Wang Fang 王芳") && printed.contains("CNY 66.00"), "{printed}");
    // A reprint says COPY, in the PDF too, and is recorded.
    let reprint = |lang: &str, format: &str| {
        api.as_(BuiltinRole::Manager, 'a', Method::POST, &format!("/api/v1/sales/{id}/reprint"))
            .fresh_key()
            .json(json!({"format": format, "lang": lang}))
    };
    let copy = api.send(reprint("en", "html")).await;
    assert!(String::from_utf8_lossy(&copy.bytes).contains("COPY"));
    // A retried reprint gets the same document and is not recorded twice.
    let once = api
        .as_(BuiltinRole::Manager, 'a', Method::POST, &format!("/api/v1/sales/{id}/reprint"))
        .key("reprint-once")
        .json(json!({"format": "escpos", "lang": "en"}));
    let (first, again) = (api.send(once.clone()).await, api.send(once).await);
    assert_eq!(first.headers.get("content-type").unwrap(), "application/octet-stream");
    assert_eq!((again.status, &again.bytes), (first.status, &first.bytes));
    assert_eq!(again.headers.get("content-type"), first.headers.get("content-type"));
    let pdf = api.send(reprint("zh-CN", "pdf")).await;
    if api.state.api.font.is_some()
        && voltvend_testkit::peer_available(
            voltvend_testkit::program_answers("pdftotext", "-v"),
            "pdftotext (poppler-utils)",
        )
    {
        assert_eq!(pdf.headers.get("content-type").unwrap(), "application/pdf");
        let path = api.dir.path().join("copy.pdf");
        std::fs::write(&path, &pdf.bytes).unwrap();
        let out = std::process::Command::new("pdftotext").args(["-enc", "UTF-8"]).arg(&path).arg("-").output().unwrap();
        let text = String::from_utf8(out.stdout).unwrap();
        for needle in ["副本", "王芳", "Counter A", "CNY 66.00"] {
            assert!(text.contains(needle), "{needle} not in:\n{text}");
        }
    } else if api.state.api.font.is_none() {
        assert!(voltvend_testkit::peer_available(false, "a CJK font (Debian fonts-noto-cjk)"));
        assert_eq!(pdf.code(), "receipt_font_missing");
    }
    let audit = api.store.audit_records(0, 10_000).await.unwrap();
    assert_eq!(audit.iter().filter(|a| a.action == "reprint_receipt").count(), 3);
    // Out of scope: not found.
    let elsewhere =
        api.as_(BuiltinRole::Manager, 'b', Method::POST, &format!("/api/v1/sales/{id}/reprint")).fresh_key();
    assert_eq!(api.send(elsewhere.json(json!({"format": "html"}))).await.status.as_u16(), 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vending_keys_are_imported_sealed_never_shown_and_survive_a_master_key_rotation() {
    let api = Api::new().await;
    let admin = BuiltinRole::Administrator;
    let key_hex = "F00DF00DF00DF00D";
    let import = api
        .as_(admin, 'g', Method::POST, "/api/v1/vending-keys")
        .key("import-1")
        .json(json!({"supply_group": 777777, "key_revision": 1, "key": key_hex}));
    let first = api.send(import.clone()).await;
    assert_eq!(first.status.as_u16(), 201, "{:?}", first.json());
    let again = api.send(import).await;
    assert_eq!(again.bytes, first.bytes, "a retry is answered the same");
    let list = api.send(api.as_(admin, 'a', Method::GET, "/api/v1/vending-keys")).await;
    for r in [&first, &again, &list] {
        assert!(!String::from_utf8_lossy(&r.bytes).to_uppercase().contains(key_hex), "a key never leaves the server");
    }
    for db in super::database_files(&api) {
        assert!(!db.windows(key_hex.len()).any(|w| w.eq_ignore_ascii_case(key_hex.as_bytes())), "stored sealed");
    }
    // A cashier may not import keys.
    assert_eq!(
        api.send(
            api.as_(CASHIER, 'a', Method::POST, "/api/v1/vending-keys")
                .fresh_key()
                .json(json!({"supply_group": 1, "key_revision": 1, "key": key_hex}))
        )
        .await
        .code(),
        "forbidden"
    );
    // Keys are shared by every property: an administrator of one building may not import one.
    let narrow = api
        .as_(admin, 'a', Method::POST, "/api/v1/vending-keys")
        .fresh_key()
        .json(json!({"supply_group": 777778, "key_revision": 1, "key": key_hex}));
    let narrow = api.send(narrow).await;
    assert_eq!((narrow.status.as_u16(), narrow.code().as_str()), (403, "scope_too_narrow"));
    // Rotation: the server restarts with a new master key (and the old one listed, to open with); rotating
    // seals every secret again, after which the new key alone serves STS sales.
    let new_key = voltvend_ops::MasterKey::from_hex(&"7a".repeat(32)).unwrap();
    let old_key = voltvend_testkit::estate::Estate::master_keys().current().unwrap().clone();
    let both = voltvend_ops::MasterKeys::new(new_key.clone(), vec![old_key]);
    let rotated = with_keys(&api, both).await;
    let rotate = rotated.as_(admin, 'g', Method::POST, "/api/v1/keys/rotate").key("rotate-1");
    let first = rotated.send(rotate.clone()).await;
    let r = first.ok();
    assert_eq!(r["resealed"], 2, "the estate's key and the imported one");
    // A retry (the answer was lost) gets the same answer, though nothing is left to re-seal now.
    let again = rotated.send(rotate).await;
    assert_eq!((again.status, &again.bytes), (first.status, &first.bytes));
    assert_eq!(again.headers.get("idempotent-replayed").map(|v| v.to_str().unwrap()), Some("true"));
    assert_eq!(r["master_key_id"], new_key.id_hex());
    let list = rotated.send(rotated.as_(admin, 'a', Method::GET, "/api/v1/vending-keys")).await.ok();
    let keys = list["items"].as_array().unwrap();
    assert_eq!(keys.len(), 2);
    assert!(keys.iter().all(|k| k["master_key_id"] == new_key.id_hex().as_str()));
    let only_new = with_keys(&api, voltvend_ops::MasterKeys::new(new_key, vec![])).await;
    let cashier_b = only_new
        .as_(CASHIER, 'b', Method::POST, "/api/v1/sales")
        .fresh_key()
        .json(json!({"account_id": api.estate.account_b.to_string(), "meter_id": api.estate.sts_meter.to_string(), "method": "cash", "amount": "30.00"}));
    let sold = only_new.send(cashier_b).await.ok();
    assert_eq!(sold["tokens"].as_array().unwrap().len(), 1);
}

/// The same database and fixtures served by a process holding other master keys.
async fn with_keys(api: &Api, keys: voltvend_ops::MasterKeys) -> Api {
    let url = format!("sqlite://{}", api.dir.path().join("api.sqlite").display());
    let mut options = voltvend_store::OpenOptions::new(&url);
    options.context = std::sync::Arc::new(voltvend_ops::Context::new(keys.clone()));
    let store = voltvend_store::open(&options, api.clock.clone()).await.unwrap();
    let mut state = api.state.clone();
    state.store = store.clone();
    state.api = std::sync::Arc::new(voltvend_server::api::ApiState::new(
        voltvend_server::clock::IdGenerator::seeded(api.clock.clone(), 5),
        voltvend_server::api::auth::AuthState::new(
            jiff::SignedDuration::from_mins(30),
            jiff::SignedDuration::from_hours(12),
            false,
            voltvend_testkit::estate::PASSWORD_HASH.into(),
        ),
        keys,
        None,
    ));
    Api {
        state,
        store,
        clock: api.clock.clone(),
        estate: api.estate.clone(),
        tokens: api.tokens.clone(),
        operators: api.operators.clone(),
        dir: tempfile::tempdir().unwrap(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_get_clear_errors_and_change_nothing() {
    let api = Api::new().await;
    let e = &api.estate;
    let before = api.store.counts().await.unwrap();
    let sales = || api.as_(CASHIER, 'a', Method::POST, "/api/v1/sales").fresh_key();
    let unknown = api.send(sales().json(json!({"account_id": e.account_a.to_string(), "meter_id": e.remote_meter.to_string(), "method": "cash", "amount": "1.00", "discount": "5"}))).await;
    assert_eq!((unknown.status.as_u16(), unknown.code().as_str()), (400, "bad_request"));
    assert!(unknown.json()["message"].as_str().unwrap().contains("discount"));
    let float = api.send(sales().json(json!({"account_id": e.account_a.to_string(), "meter_id": e.remote_meter.to_string(), "method": "cash", "amount": 1.5}))).await;
    assert_eq!((float.status.as_u16(), float.json()["details"]["field"].as_str()), (400, Some("amount")));
    let too_fine = api.send(sales().json(json!({"account_id": e.account_a.to_string(), "meter_id": e.remote_meter.to_string(), "method": "cash", "amount": "1.005"}))).await;
    assert_eq!(too_fine.json()["details"]["field"], "amount");
    let both = api.send(sales().json(json!({"account_id": e.account_a.to_string(), "meter_id": e.remote_meter.to_string(), "method": "cash", "amount": "1.00", "quantity": "1"}))).await;
    assert_eq!(both.code(), "bad_request");
    let method = api.send(sales().json(json!({"account_id": e.account_a.to_string(), "meter_id": e.remote_meter.to_string(), "method": "cheque", "amount": "1.00"}))).await;
    assert_eq!(method.json()["details"]["field"], "method");
    let no_key = api.send(api.as_(CASHIER, 'a', Method::POST, "/api/v1/sales").json(json!({}))).await;
    assert_eq!(no_key.code(), "idempotency_key_required");
    let text = api.send(Req { body: None, ..sales() }.header("content-type", "text/plain")).await;
    assert_eq!(text.code(), "unsupported_media_type");
    let huge = "x".repeat(70 * 1024);
    let big = api.send(sales().json(json!({"reference": huge}))).await;
    assert_eq!((big.status.as_u16(), big.code().as_str()), (413, "payload_too_large"));
    let bad_id = api.send(api.as_(CASHIER, 'a', Method::GET, "/api/v1/accounts/not-a-uuid")).await;
    assert_eq!(bad_id.status.as_u16(), 404);
    let bad_cursor = api.send(api.as_(CASHIER, 'a', Method::GET, "/api/v1/customers?after=zzz")).await;
    assert_eq!(bad_cursor.code(), "bad_query");
    let bad_limit = api.send(api.as_(CASHIER, 'a', Method::GET, "/api/v1/customers?limit=0")).await;
    assert_eq!(bad_limit.code(), "bad_request");
    let unknown_param = api.send(api.as_(CASHIER, 'a', Method::GET, "/api/v1/customers?colour=red")).await;
    assert_eq!(unknown_param.code(), "bad_request");
    let nowhere = api.send(api.as_(CASHIER, 'a', Method::GET, "/api/v1/nothing-here")).await;
    assert_eq!(nowhere.status.as_u16(), 404);
    assert_eq!(api.store.counts().await.unwrap(), before, "nothing changed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openapi_document_describes_every_endpoint_with_resolvable_schemas() {
    let api = Api::new().await;
    let doc = api.send(Req::new(Method::GET, "/api/v1/openapi.json")).await.ok();
    assert_eq!(doc["openapi"], "3.1.0");
    for e in voltvend_server::api::endpoints() {
        let op = &doc["paths"][e.path][e.method.to_lowercase()];
        assert!(op.is_object(), "{} {} is documented", e.method, e.path);
        assert!(op["responses"][e.ok_status.to_string()].is_object());
    }
    // Every reference points at a schema that is there.
    let text = doc.to_string();
    let mut rest = text.as_str();
    let marker = "\"$ref\":\"#/components/schemas/";
    while let Some(i) = rest.find(marker) {
        rest = &rest[i + marker.len()..];
        let name = &rest[..rest.find('"').unwrap()];
        assert!(doc["components"]["schemas"][name].is_object(), "{name} is referenced but missing");
    }
    // No float anywhere money is: every amount is a string.
    assert_eq!(doc["components"]["schemas"]["MoneyView"]["properties"]["minor"]["type"], "string");
}
