//! Reports through the API: a day's sales by operator and by day, within the caller's scope, with a reversed
//! sale left out; the same as CSV and as XLSX read back by `openpyxl`; the sales ledger streamed as CSV whose
//! rows add up to the summary; and the reconciliation with the ledger, for the whole group only.

use axum::http::Method;
use serde_json::{Value, json};
use voltvend_domain::BuiltinRole;

use super::Api;
use super::lifecycle::{get, post, sell};

const PERIOD: &str = "from=2026-11-23T00:00:00Z&to=2026-11-24T00:00:00Z";

fn minor(v: &Value) -> i64 {
    v["minor"].as_str().unwrap().parse().unwrap()
}

async fn file(api: &Api, role: BuiltinRole, building: char, path: &str) -> Vec<u8> {
    let r = api.send(api.as_(role, building, Method::GET, path)).await;
    assert!(r.status.is_success(), "{path}: {} {}", r.status, String::from_utf8_lossy(&r.bytes));
    r.bytes.to_vec()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sales_reports_honour_the_scope_leave_reversals_out_and_export_as_csv_and_xlsx() {
    let api = Api::new().await;
    let e = &api.estate;
    let (acct, meter) = (e.account_a.to_string(), e.remote_meter.to_string());
    for amount in ["20.00", "30.00", "15.50"] {
        sell(&api, 'a', &acct, &meter, amount).await.ok();
    }
    let (b_acct, b_meter) = (e.account_b.to_string(), e.sts_meter.to_string());
    sell(&api, 'b', &b_acct, &b_meter, "40.00").await.ok();
    // One of A's sales is reversed (maker-checker): the summary leaves it out, the ledger export keeps it.
    let wrong = sell(&api, 'a', &acct, &meter, "99.00").await.ok();
    let id = api
        .send(post(
            &api,
            BuiltinRole::Cashier,
            'a',
            "/api/v1/corrections",
            json!({"kind": "reverse_sale", "sale_id": wrong["id"], "reason": "double keyed"}),
        ))
        .await
        .ok()["id"]
        .as_str()
        .unwrap()
        .to_string();
    api.send(post(&api, BuiltinRole::Manager, 'a', &format!("/api/v1/corrections/{id}/approve"), json!({}))).await.ok();

    let cashier_a = api.operators[&("cashier".to_string(), 'a')].to_string();
    let by_operator =
        get(&api, BuiltinRole::Manager, 'a', &format!("/api/v1/reports/sales?{PERIOD}&group_by=operator")).await;
    let rows = by_operator["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 1, "building A's manager sees building A's sales only: {by_operator}");
    assert_eq!((rows[0]["key"].as_str(), rows[0]["label"].as_str()), (Some(cashier_a.as_str()), Some("cashier.a")));
    assert_eq!((rows[0]["sales"].as_i64(), rows[0]["paid"]["amount"].as_str()), (Some(3), Some("65.50")));
    let split = ["arrears", "fees", "energy", "credit"].iter().map(|k| minor(&rows[0][*k])).sum::<i64>();
    assert_eq!(split, 6_550, "the split adds up to what was paid");
    // By local day (Asia/Shanghai: the sales at 08:00 UTC are on the 23rd).
    let by_day = get(&api, BuiltinRole::Auditor, 'a', &format!("/api/v1/reports/sales?{PERIOD}&group_by=day")).await;
    assert_eq!(by_day["rows"][0]["key"], "2026-11-23", "{by_day}");
    assert_eq!(by_day["rows"][0]["paid"], rows[0]["paid"]);
    let r = api.send(api.as_(BuiltinRole::Manager, 'a', Method::GET, "/api/v1/reports/sales?group_by=operator")).await;
    assert_eq!((r.status.as_u16(), r.json()["details"]["field"].as_str()), (400, Some("from")));
    let r = api
        .send(api.as_(
            BuiltinRole::Manager,
            'a',
            Method::GET,
            &format!("/api/v1/reports/sales?{PERIOD}&group_by=colour"),
        ))
        .await;
    assert_eq!(r.code(), "bad_value");
    let other = e.building_b.id;
    let r = api
        .send(api.as_(
            BuiltinRole::Manager,
            'a',
            Method::GET,
            &format!("/api/v1/reports/sales?{PERIOD}&premises_id={other}"),
        ))
        .await;
    assert_eq!(r.status.as_u16(), 404, "another building's subtree is not there");

    // CSV: the same figures.
    let csv =
        file(&api, BuiltinRole::Manager, 'a', &format!("/api/v1/reports/sales?{PERIOD}&group_by=operator&format=csv"))
            .await;
    let csv = String::from_utf8(csv).unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines[0], "key,label,currency,sales,paid,arrears,fees,tax,energy,credit,property_fees");
    assert!(lines[1].starts_with(&format!("{cashier_a},cashier.a,CNY,3,65.50,")), "{csv}");

    // The sales ledger: every sale of the period in scope, the reversed one too; its paid column adds up.
    let ledger = file(&api, BuiltinRole::Manager, 'a', &format!("/api/v1/reports/sales-ledger?{PERIOD}")).await;
    let ledger = String::from_utf8(ledger).unwrap();
    let paid: Vec<&str> = ledger.lines().skip(1).map(|l| l.split(',').nth(10).unwrap()).collect();
    assert_eq!(paid.len(), 4, "{ledger}");
    assert!(ledger.contains(wrong["id"].as_str().unwrap()));
    let standing =
        file(&api, BuiltinRole::Manager, 'a', &format!("/api/v1/reports/sales-ledger?{PERIOD}&reversed=false")).await;
    let total: i64 = String::from_utf8(standing)
        .unwrap()
        .lines()
        .skip(1)
        .map(|l| l.split(',').nth(10).unwrap().replace('.', "").parse::<i64>().unwrap())
        .sum();
    assert_eq!(total, minor(&rows[0]["paid"]));

    // XLSX, read back by openpyxl: money as numbers with two decimals.
    let xlsx =
        file(&api, BuiltinRole::Manager, 'a', &format!("/api/v1/reports/sales?{PERIOD}&group_by=operator&format=xlsx"))
            .await;
    let ledger_xlsx =
        file(&api, BuiltinRole::Manager, 'a', &format!("/api/v1/reports/sales-ledger?{PERIOD}&format=xlsx")).await;
    let have_openpyxl =
        std::process::Command::new("python3").args(["-c", "import openpyxl"]).status().is_ok_and(|s| s.success());
    if voltvend_testkit::peer_available(have_openpyxl, "python3 with openpyxl") {
        let dir = tempfile::tempdir().unwrap();
        let (summary, full) = (dir.path().join("summary.xlsx"), dir.path().join("ledger.xlsx"));
        std::fs::write(&summary, &xlsx).unwrap();
        std::fs::write(&full, &ledger_xlsx).unwrap();
        let script = "import sys, openpyxl\n\
            for path in sys.argv[1:]:\n\
            \x20   ws = openpyxl.load_workbook(path).active\n\
            \x20   rows = list(ws.iter_rows(values_only=True))\n\
            \x20   print(ws.title, len(rows) - 1, repr(rows[0][:5]), repr(rows[1][3:5]) if path.endswith('summary.xlsx') else round(sum(r[10] for r in rows[1:]) * 100), ws.cell(2, rows[0].index('paid') + 1).number_format)\n";
        let out =
            std::process::Command::new("python3").arg("-c").arg(script).arg(&summary).arg(&full).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let out = String::from_utf8(out.stdout).unwrap();
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(
            lines[0], "sales-by-operator 1 ('key', 'label', 'currency', 'sales', 'paid') (3, 65.5) 0.00",
            "{out}"
        );
        assert_eq!(
            lines[1],
            format!(
                "sales-ledger 4 ('sale_id', 'at', 'vending_point_id', 'receipt_no', 'operator_id') {} 0.00",
                6_550 + 9_900
            ),
            "{out}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sales_ledger_reconciles_with_the_ledger_for_the_whole_group() {
    let api = Api::new().await;
    let e = &api.estate;
    let (acct, meter) = (e.account_a.to_string(), e.remote_meter.to_string());
    sell(&api, 'a', &acct, &meter, "20.00").await.ok();
    sell(&api, 'b', &e.account_b.to_string(), &e.sts_meter.to_string(), "40.00").await.ok();
    let path = format!("/api/v1/reports/reconciliation?{PERIOD}");
    let r = api.send(api.as_(BuiltinRole::Administrator, 'a', Method::GET, &path)).await;
    assert_eq!(r.code(), "scope_too_narrow");
    let report = get(&api, BuiltinRole::Administrator, 'g', &path).await;
    let line = &report["lines"][0];
    assert_eq!((line["currency"].as_str(), line["reconciles"].as_bool()), (Some("CNY"), Some(true)), "{report}");
    assert_eq!((line["sales"].as_i64(), line["vend_transfers"].as_i64()), (Some(2), Some(2)));
    assert_eq!(
        (line["sales_paid"]["amount"].as_str(), line["difference"]["minor"].as_str()),
        (Some("60.00"), Some("0"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn arrears_low_and_zero_balance_lists_within_the_scope() {
    let api = Api::new().await;
    let e = &api.estate;
    let (acct, meter) = (e.account_a.to_string(), e.remote_meter.to_string());
    let path = |q: &str| format!("/api/v1/reports/balances?{q}");
    // A-101 starts at zero: on the zero-balance list, not on the arrears list.
    let zero = get(&api, BuiltinRole::Manager, 'a', &path("kind=zero_balance")).await;
    let ids: Vec<&str> = zero["items"].as_array().unwrap().iter().map(|l| l["account_id"].as_str().unwrap()).collect();
    assert_eq!(ids, [acct.as_str()], "building A's accounts only: {zero}");
    assert!(get(&api, BuiltinRole::Manager, 'a', &path("kind=arrears")).await["items"].as_array().unwrap().is_empty());
    // Historical arrears and a small sale: on the arrears list and below 50.00, no longer at zero.
    api.send(post(
        &api,
        BuiltinRole::Manager,
        'a',
        &format!("/api/v1/accounts/{acct}/arrears"),
        json!({"amount": "80.00"}),
    ))
    .await
    .ok();
    sell(&api, 'a', &acct, &meter, "30.00").await.ok();
    let arrears = get(&api, BuiltinRole::Auditor, 'a', &path("kind=arrears")).await;
    let line = &arrears["items"][0];
    assert_eq!(
        (line["arrears"]["amount"].as_str(), line["balance"]["amount"].as_str()),
        (Some("74.00"), Some("24.00"))
    );
    assert_eq!(line["customer"], "Wang Fang 王芳");
    let low = get(&api, BuiltinRole::Manager, 'a', &path("kind=low_balance&below=50.00")).await;
    assert_eq!(low["items"].as_array().unwrap().len(), 1);
    assert!(
        get(&api, BuiltinRole::Manager, 'a', &path("kind=low_balance&below=20.00")).await["items"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    assert!(
        get(&api, BuiltinRole::Manager, 'a', &path("kind=zero_balance")).await["items"].as_array().unwrap().is_empty()
    );
    let r = api.send(api.as_(BuiltinRole::Manager, 'a', Method::GET, &path("kind=low_balance"))).await;
    assert_eq!(r.json()["details"]["field"], "below");
    let csv = String::from_utf8(file(&api, BuiltinRole::Manager, 'a', &path("kind=arrears&format=csv")).await).unwrap();
    assert_eq!(csv.lines().next(), Some("account_id,customer,premises_id,premises,status,currency,balance,arrears"));
    assert!(
        csv.lines().nth(1).unwrap().starts_with(&format!("{acct},Wang Fang 王芳,")) && csv.contains(",24.00,74.00"),
        "{csv}"
    );
    // Building B's manager sees none of it.
    assert!(get(&api, BuiltinRole::Manager, 'b', &path("kind=arrears")).await["items"].as_array().unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consumption_by_building_premises_and_meter_sums_what_was_billed_within_the_scope() {
    let api = Api::new().await;
    let e = api.estate.clone();
    let meter = e.remote_meter;
    // Billing starts at the first reading; 120 kWh then 30 kWh inside the day, a lower register (flagged, not
    // billed) and 70 kWh after the day.
    let billed = super::lifecycle::read(&api, meter, "2026-11-22T23:00:00Z", 1_000).await;
    let first = super::lifecycle::read(&api, meter, "2026-11-23T02:00:00Z", 1_120).await;
    let second = super::lifecycle::read(&api, meter, "2026-11-23T05:00:00Z", 1_150).await;
    let flagged = super::lifecycle::read(&api, meter, "2026-11-23T06:00:00Z", 900).await;
    super::lifecycle::read(&api, meter, "2026-11-24T01:00:00Z", 1_220).await;
    assert_eq!((billed.billed, first.billed, second.billed, flagged.flagged), (1, 1, 1, 1));

    let path = |q: &str| format!("/api/v1/reports/consumption?{PERIOD}&{q}");
    let by_child = get(&api, BuiltinRole::Administrator, 'g', &path(&format!("premises_id={}", e.property.id))).await;
    assert_eq!(by_child["rows"].as_array().unwrap().len(), 1, "only Block A's meter read: {by_child}");
    let row = &by_child["rows"][0];
    assert_eq!(
        (row["key"].as_str(), row["label"].as_str()),
        (Some(e.building_a.id.to_string().as_str()), Some("Block A"))
    );
    assert_eq!((row["consumption"]["milli"].as_str(), row["readings"].as_i64()), (Some("150000"), Some(2)), "{row}");
    assert_eq!(by_child["totals"][0]["consumption"]["amount"], "150.000");
    let by_meter = get(&api, BuiltinRole::Manager, 'a', &path("group_by=meter")).await;
    assert_eq!(by_meter["rows"][0]["key"], meter.to_string());
    assert_eq!(by_meter["rows"][0]["consumption"]["milli"], "150000");
    let by_unit = get(&api, BuiltinRole::Manager, 'a', &path("group_by=premises")).await;
    assert_eq!(
        (by_unit["rows"][0]["label"].as_str(), by_unit["rows"][0]["consumption"]["milli"].as_str()),
        (Some("A-101"), Some("150000"))
    );
    // Building B's manager sees none of it, nor may ask about building A.
    let other = get(&api, BuiltinRole::Manager, 'b', &path("group_by=meter")).await;
    assert!(other["rows"].as_array().unwrap().is_empty(), "{other}");
    let r = api
        .send(api.as_(BuiltinRole::Manager, 'b', Method::GET, &path(&format!("premises_id={}", e.building_a.id))))
        .await;
    assert_eq!(r.status.as_u16(), 404);
    let r = api.send(api.as_(BuiltinRole::Manager, 'a', Method::GET, &path("group_by=floor"))).await;
    assert_eq!(r.code(), "bad_value");
    let csv =
        String::from_utf8(file(&api, BuiltinRole::Manager, 'a', &path("group_by=meter&format=csv")).await).unwrap();
    assert_eq!(csv.lines().next(), Some("key,label,utility,meters,readings,unit,consumption"));
    assert!(csv.contains(&format!("{meter},")) && csv.contains(",electricity,1,2,kWh,150.000"), "{csv}");
}

/// The text of a PDF as pdftotext (poppler-utils) reads it, or `None` when the peer or the CJK font is missing
/// (a skip on a developer's machine, a failure under CI).
pub(super) fn pdf_text(api: &Api, bytes: &[u8], name: &str) -> Option<String> {
    let have = api.state.api.font.is_some()
        && voltvend_testkit::peer_available(
            voltvend_testkit::program_answers("pdftotext", "-v"),
            "pdftotext (poppler-utils)",
        );
    if !have {
        assert!(voltvend_testkit::peer_available(api.state.api.font.is_some(), "a CJK font (Debian fonts-noto-cjk)"));
        return None;
    }
    let path = api.dir.path().join(name);
    std::fs::write(&path, bytes).unwrap();
    let out = std::process::Command::new("pdftotext")
        .args(["-enc", "UTF-8", "-layout"])
        .arg(&path)
        .arg("-")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    Some(String::from_utf8(out.stdout).unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_shift_settlement_and_the_report_tables_print_as_pdf_in_chinese_and_english() {
    let api = Api::new().await;
    let e = &api.estate;
    let (acct, meter) = (e.account_a.to_string(), e.remote_meter.to_string());
    for amount in ["20.00", "30.00"] {
        sell(&api, 'a', &acct, &meter, amount).await.ok();
    }
    let shift =
        get(&api, BuiltinRole::Cashier, 'a', "/api/v1/shifts/current").await["id"].as_str().unwrap().to_string();
    let settlement = format!("/api/v1/shifts/{shift}/settlement");
    let json = get(&api, BuiltinRole::Manager, 'a', &settlement).await;
    assert_eq!(json["paid"]["amount"], "50.00");
    let zh = file(&api, BuiltinRole::Manager, 'a', &format!("{settlement}?format=pdf")).await;
    assert!(zh.starts_with(b"%PDF"));
    if let Some(text) = pdf_text(&api, &zh, "settlement-zh.pdf") {
        for needle in ["交班结算单", "现金", "CNY 50.00", "CNY 100.00", "收银员签字", "Block A"] {
            assert!(text.contains(needle), "{needle} not in:\n{text}");
        }
    }
    let en = file(&api, BuiltinRole::Manager, 'a', &format!("{settlement}?format=pdf&lang=en")).await;
    if let Some(text) = pdf_text(&api, &en, "settlement-en.pdf") {
        for needle in ["Shift settlement", "Cash", "CNY 50.00", "Expected in the drawer"] {
            assert!(text.contains(needle), "{needle} not in:\n{text}");
        }
    }
    // Another building's manager does not see the shift; a bad format or language is refused.
    let r = api.send(api.as_(BuiltinRole::Manager, 'b', Method::GET, &format!("{settlement}?format=pdf"))).await;
    assert_eq!(r.status.as_u16(), 404);
    let r = api.send(api.as_(BuiltinRole::Manager, 'a', Method::GET, &format!("{settlement}?format=doc"))).await;
    assert_eq!(r.code(), "bad_value");
    let r =
        api.send(api.as_(BuiltinRole::Manager, 'a', Method::GET, &format!("{settlement}?format=pdf&lang=fr"))).await;
    assert_eq!(r.code(), "bad_request");

    // A report table: ids left out, names and amounts in the operator's language.
    let sales =
        file(&api, BuiltinRole::Manager, 'a', &format!("/api/v1/reports/sales?{PERIOD}&group_by=operator&format=pdf"))
            .await;
    if let Some(text) = pdf_text(&api, &sales, "sales.pdf") {
        for needle in ["售电汇总（按操作员）", "实收", "cashier.a", "50.00"] {
            assert!(text.contains(needle), "{needle} not in:\n{text}");
        }
        let cashier = api.operators[&("cashier".to_string(), 'a')].to_string();
        assert!(!text.contains(&cashier), "no ids on paper:\n{text}");
    }
    let arrears =
        file(&api, BuiltinRole::Manager, 'a', "/api/v1/reports/balances?kind=zero_balance&format=pdf&lang=en").await;
    if let Some(text) = pdf_text(&api, &arrears, "zero.pdf") {
        assert!(text.contains("Zero balance") && text.contains("Customer"), "{text}");
    }
    // A sale refused (the account suspended) is kept as a refused payment, listed in its report.
    let suspend = format!("/api/v1/accounts/{acct}/suspend");
    api.send(api.as_(BuiltinRole::Cashier, 'a', Method::POST, &suspend).fresh_key().json(json!({"reason": "away"})))
        .await
        .ok();
    let refused = sell(&api, 'a', &acct, &meter, "12.00").await;
    assert!(!refused.status.is_success());
    let csv = file(&api, BuiltinRole::Manager, 'a', &format!("/api/v1/reports/refused-payments?{PERIOD}")).await;
    let csv = String::from_utf8(csv).unwrap();
    assert!(csv.starts_with("payment_id,at,account_id,meter_id,method,reference,currency,paid,reason_code,"), "{csv}");
    assert_eq!(csv.lines().count(), 2, "{csv}");
    assert!(csv.contains(&format!(",{acct},{meter},cash,")) && csv.contains(",CNY,12.00,"), "{csv}");
    let elsewhere = file(&api, BuiltinRole::Manager, 'b', &format!("/api/v1/reports/refused-payments?{PERIOD}")).await;
    assert_eq!(String::from_utf8(elsewhere).unwrap().lines().count(), 1, "building B sees only the header");
    let pdf =
        file(&api, BuiltinRole::Manager, 'a', &format!("/api/v1/reports/refused-payments?{PERIOD}&format=pdf&lang=en"))
            .await;
    if let Some(text) = pdf_text(&api, &pdf, "refused.pdf") {
        assert!(text.contains("Refused payments") && text.contains("12.00"), "{text}");
    }
    // The sales ledger is a file to process, never printed.
    let r = api
        .send(api.as_(
            BuiltinRole::Manager,
            'a',
            Method::GET,
            &format!("/api/v1/reports/sales-ledger?{PERIOD}&format=pdf"),
        ))
        .await;
    assert_eq!(r.code(), "bad_value");
}

/// 集团财务: a second property with books of its own; each property's books balance on their own and the
/// group's are their sum — also after a transfer crosses from one property's accounts to the other's, balanced
/// in each through its inter-property account (ADR 0007), which shows what one owes the other.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_propertys_books_balance_on_their_own_and_the_group_is_their_sum() {
    use voltvend_domain::{Currency, Money, TransferId, TransferKind, TransferRequest};
    use voltvend_ops::Command;
    let api = Api::new().await;
    let mut estate = api.estate.clone();
    let (hillside, books, make) = estate.property_with_books(0xB00C, "Hillside 山景");
    for c in make {
        api.store.submit(estate.system(c)).await.unwrap();
    }
    let (ours, theirs) = (api.store.books(estate.books).await.unwrap(), api.store.books(books).await.unwrap());
    // Riverside sells (its own books), Hillside books a card payment as revenue (its own).
    sell(&api, 'a', &estate.account_a.to_string(), &estate.remote_meter.to_string(), "20.00").await.ok();
    let transfer = |n: u128, debit, credit, minor| {
        let t = TransferRequest::simple(
            TransferId::from_uuid(uuid::Uuid::from_u128(0xB0E0 + n)),
            TransferKind::Adjustment,
            debit,
            credit,
            Money::from_minor(minor, Currency::CNY),
            "test",
        );
        Command::PostTransfer(t)
    };
    api.store.submit(estate.system(transfer(1, theirs.card_clearing, theirs.energy_revenue, 500))).await.unwrap();
    let b = get(&api, BuiltinRole::Administrator, 'g', "/api/v1/reports/books").await;
    let props = b["properties"].as_array().unwrap();
    assert_eq!(props.len(), 2, "{b}");
    assert!(props.iter().all(|x| x["balanced"] == true), "{b}");
    let sum = |key: &str| props.iter().map(|x| minor(&x[key])).sum::<i64>();
    assert_eq!((minor(&b["group"][0]["debits"]), minor(&b["group"][0]["credits"])), (sum("debits"), sum("credits")));
    assert_eq!(
        (b["group"][0]["balanced"].as_bool(), b["group"][0]["sum_of_properties"].as_bool()),
        (Some(true), Some(true))
    );
    let hill = props.iter().find(|x| x["premises_id"] == hillside.id.to_string()).unwrap();
    assert_eq!((hill["name"].as_str(), minor(&hill["debits"])), (Some("Hillside 山景"), 500));
    // An adjustment from Riverside's card clearing to Hillside's revenue is posted with each property's
    // inter-property line (ADR 0007): Hillside is owed 3.00 by the rest of the group, Riverside owes it; both
    // still balance, and the group's are still their sum.
    api.store.submit(estate.system(transfer(2, ours.card_clearing, theirs.energy_revenue, 300))).await.unwrap();
    let b = get(&api, BuiltinRole::Administrator, 'g', "/api/v1/reports/books").await;
    let props = b["properties"].as_array().unwrap();
    assert!(props.iter().all(|x| x["balanced"] == true && minor(&x["out_of_balance"]) == 0), "{b}");
    let inter: Vec<(String, i64)> = props
        .iter()
        .flat_map(|x| {
            let name = x["name"].as_str().unwrap().to_string();
            x["lines"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|l| l["kind"] == "inter_property")
                .map(move |l| (name.clone(), minor(&l["balance"])))
        })
        .collect();
    assert!(
        inter.contains(&("Hillside 山景".into(), 300))
            && inter.iter().any(|(n, m)| n.starts_with("Riverside") && *m == -300),
        "{inter:?}"
    );
    assert_eq!(
        (b["group"][0]["balanced"].as_bool(), b["group"][0]["sum_of_properties"].as_bool()),
        (Some(true), Some(true))
    );
    // A building's operators keep no books; the CSV has a line per property and kind.
    let r = api.send(api.as_(BuiltinRole::Manager, 'a', Method::GET, "/api/v1/reports/books")).await;
    assert_eq!((r.status.as_u16(), r.code().as_str()), (403, "scope_too_narrow"));
    let csv = file(&api, BuiltinRole::Administrator, 'g', "/api/v1/reports/books?format=csv").await;
    let csv = String::from_utf8(csv).unwrap();
    assert!(csv.starts_with("premises_id,property,currency,kind,accounts,debits,credits,balance"), "{csv}");
    assert!(
        csv.lines().any(|l| l.contains("Hillside") && l.contains("energy_revenue") && l.ends_with("-8.00")),
        "{csv}"
    );
    // Scoped to one property, the store sums that property's accounts only.
    let (lines, whole) = api.store.books_summary(Some(hillside.id)).await.unwrap();
    assert!(lines.iter().all(|l| l.property == hillside.id), "{lines:?}");
    assert_eq!(whole, vec![("CNY".to_string(), 800, 800)]);
}

/// 集团财务: the group's sales by property on one page — a second property (Hillside) with a unit, an account
/// and a sale of its own beside Riverside's; each property's row sums its own sales; a building's manager sees
/// only Riverside, and only their building's sales.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_groups_sales_are_summed_by_property() {
    use voltvend_domain::PremisesLevel;
    use voltvend_ops::{Actor, Command, PaymentMethod, Sale};
    let api = Api::new().await;
    let mut estate = api.estate.clone();
    // Hillside keeps its own books; its customer's account is kept in them.
    let (hillside, books, [create, open_books]) = estate.property_with_books(0xB10C, "Hillside 山景");
    let unit = hillside.new_child(uuid::Uuid::from_u128(0xB10E).into(), PremisesLevel::Unit, "H-1").unwrap();
    let (meter_id, account_id, receive, mut open) = estate.remote_account_at(&unit, "000000000888");
    if let Command::OpenAccount(a) = &mut open {
        a.books_id = books;
    }
    for c in [create, Command::CreatePremises(unit), open_books, receive, open] {
        api.store.submit(estate.system(c)).await.unwrap();
    }
    // Hillside's customer pays 12.00 at Block A's counter (the system records it through the shift): Riverside's
    // drawer holds Hillside's money, balanced in each property's books through their inter-property accounts.
    let sale = Sale::paid(account_id, meter_id, estate.shift_a, PaymentMethod::Cash, 1_200);
    let op = voltvend_ops::Operation::new(estate.next_op(), Actor::system("test"), Command::Sale(sale));
    api.store.submit(op).await.unwrap();
    sell(&api, 'a', &estate.account_a.to_string(), &estate.remote_meter.to_string(), "20.00").await.ok();
    sell(&api, 'b', &estate.account_b.to_string(), &estate.sts_meter.to_string(), "30.00").await.ok();
    let path = format!("/api/v1/reports/sales?{PERIOD}&group_by=property");
    let r = get(&api, BuiltinRole::Administrator, 'g', &path).await;
    let rows: Vec<(String, i64)> = r["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| (x["label"].as_str().unwrap().to_string(), minor(&x["paid"])))
        .collect();
    assert_eq!(rows.len(), 2, "{r}");
    assert!(rows.contains(&("Hillside 山景".to_string(), 1_200)), "{rows:?}");
    assert!(rows.iter().any(|(n, paid)| n == &estate.property.name && *paid == 5_000), "{rows:?}");
    let r = get(&api, BuiltinRole::Manager, 'a', &path).await;
    let rows = r["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 1, "{r}");
    assert_eq!((rows[0]["label"].as_str(), minor(&rows[0]["paid"])), (Some(estate.property.name.as_str()), 2_000));
    let csv = file(&api, BuiltinRole::Administrator, 'g', &format!("{path}&format=csv")).await;
    assert!(String::from_utf8(csv).unwrap().lines().any(|l| l.contains("Hillside 山景,CNY,1,12.00")));

    // The reconciliation by property: each property's sales against the vend transfers to its accounts — the
    // 12.00 taken in Riverside's drawer is Hillside's — and the whole, all to the minor unit.
    let path = format!("/api/v1/reports/reconciliation?{PERIOD}");
    let r = get(&api, BuiltinRole::Administrator, 'g', &path).await;
    let props: Vec<(String, i64, i64, i64, bool)> = r["properties"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| {
            (
                x["name"].as_str().unwrap().to_string(),
                x["sales"].as_i64().unwrap(),
                minor(&x["sales_paid"]),
                minor(&x["ledger_paid"]),
                x["reconciles"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        props,
        vec![
            ("Hillside 山景".to_string(), 1, 1_200, 1_200, true),
            (estate.property.name.clone(), 2, 5_000, 5_000, true)
        ],
        "{r}"
    );
    assert_eq!(
        (minor(&r["lines"][0]["ledger_paid"]), r["lines"][0]["reconciles"].as_bool()),
        (6_200, Some(true)),
        "{r}"
    );
    let books = get(&api, BuiltinRole::Administrator, 'g', "/api/v1/reports/books").await;
    assert!(books["properties"].as_array().unwrap().iter().all(|x| x["balanced"] == true), "{books}");
    // Hillside's manager sees Hillside's line only; a building's manager gets none.
    let token = super::token_at(&api, BuiltinRole::Manager, hillside.id, "manager.hillside").await;
    let r = api.send(super::Req::new(Method::GET, &path).bearer(&token)).await;
    let r = r.json();
    let names: Vec<&str> = r["properties"].as_array().unwrap().iter().map(|x| x["name"].as_str().unwrap()).collect();
    assert_eq!(names, vec!["Hillside 山景"], "{r}");
    assert_eq!((minor(&r["lines"][0]["sales_paid"]), r["lines"].as_array().unwrap().len()), (1_200, 1), "{r}");
    let r = api.send(api.as_(BuiltinRole::Manager, 'a', Method::GET, &path)).await;
    assert_eq!((r.status.as_u16(), r.code().as_str()), (403, "scope_too_narrow"));
}

/// 负荷曲线: A-101's meter read at 09:00, 10:00 and 10:30 (Shanghai) — 10 kWh in the 09:00 hour's reading and 30
/// in the 10:00 hour's: hour by hour, each bucket's average demand is its kWh per hour and the peak is the
/// 10:00 hour; day by day the day's 40 kWh average 1.666 kW; from building B, A's meter is not there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_load_curve_shows_each_hours_demand_and_the_peak() {
    let api = Api::new().await;
    let e = &api.estate;
    for (at, kwh) in [("2026-01-02T00:00:00Z", 100), ("2026-01-02T01:00:00Z", 110), ("2026-01-02T02:30:00Z", 140)] {
        super::lifecycle::read(&api, e.remote_meter, at, kwh).await;
    }
    // At 13:00 nothing more used, and the meter's maximum-demand register says 35.5 kW at 10:10: shorter than
    // the hour's average shows.
    let demand = Some((35_500, "2026-01-02T02:10:00Z"));
    super::lifecycle::read_with_demand(&api, e.remote_meter, "2026-01-02T05:00:00Z", 140, demand).await;
    let hourly = format!(
        "/api/v1/reports/load-curve?from=2026-01-02T00:00:00Z&to=2026-01-02T06:00:00Z&interval=hour&meter_id={}",
        e.remote_meter
    );
    let c = get(&api, BuiltinRole::Manager, 'a', &hourly).await;
    let buckets = c["buckets"].as_array().unwrap();
    let shown: Vec<(&str, &str, &str)> = buckets
        .iter()
        .map(|b| {
            (b["start"].as_str().unwrap(), b["consumption"]["amount"].as_str().unwrap(), b["average"].as_str().unwrap())
        })
        .collect();
    assert_eq!(shown.len(), 6, "{c}");
    assert_eq!(shown[0].0, "2026-01-02T08:00:00+08:00");
    assert_eq!((shown[1].1, shown[1].2), ("10.000", "10.000"));
    assert_eq!((shown[2].1, shown[2].2), ("30.000", "30.000"));
    assert!(shown[3..].iter().all(|b| b.1 == "0.000"), "{c}");
    assert_eq!(
        (c["peak"]["start"].as_str(), c["peak"]["average"].as_str()),
        (Some("2026-01-02T10:00:00+08:00"), Some("30.000"))
    );
    assert_eq!((c["total"]["amount"].as_str(), c["demand_unit"].as_str()), (Some("40.000"), Some("kW")));
    let measured = &c["measured_peaks"];
    assert_eq!(measured.as_array().map(Vec::len), Some(1), "{c}");
    assert_eq!(
        (measured[0]["demand"].as_str(), measured[0]["at"].as_str()),
        (Some("35.500"), Some("2026-01-02T10:10:00+08:00"))
    );
    let daily = "/api/v1/reports/load-curve?from=2026-01-01T16:00:00Z&to=2026-01-03T16:00:00Z";
    let c = get(&api, BuiltinRole::Manager, 'a', &format!("{daily}&premises_id={}", e.building_a.id)).await;
    let days: Vec<(&str, &str)> = c["buckets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| (b["consumption"]["amount"].as_str().unwrap(), b["average"].as_str().unwrap()))
        .collect();
    assert_eq!(days, vec![("40.000", "1.666"), ("0.000", "0.000")]);
    assert_eq!(c["measured_peaks"][0]["demand"], "35.500", "the building's meters' registers");
    let b = get(&api, BuiltinRole::Manager, 'b', &format!("{daily}&premises_id={}", e.building_b.id)).await;
    assert_eq!(b["measured_peaks"].as_array().map(Vec::len), Some(0), "{b}");
    let b = get(&api, BuiltinRole::Manager, 'b', daily).await;
    assert_eq!(b["measured_peaks"].as_array().map(Vec::len), Some(0), "building B's manager, by scope: {b}");
    let r = api.send(api.as_(BuiltinRole::Manager, 'b', Method::GET, &hourly)).await;
    assert_eq!(r.status.as_u16(), 404);
    let csv = file(&api, BuiltinRole::Manager, 'a', &format!("{hourly}&format=csv")).await;
    let csv = String::from_utf8(csv).unwrap();
    assert!(csv.starts_with("start,unit,consumption,readings,demand_unit,average"), "{csv}");
    assert!(csv.contains("2026-01-02T10:00:00+08:00,kWh,30.000,1,kW,30.000"), "{csv}");
    let r = api
        .send(api.as_(BuiltinRole::Manager, 'a', Method::GET, &hourly.replace("interval=hour", "interval=week")))
        .await;
    assert_eq!((r.status.as_u16(), r.code().as_str()), (422, "bad_value"));
}
