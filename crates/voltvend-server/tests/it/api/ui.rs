//! The web UI through the whole router: logins and where they return to, premises scope and permissions on
//! every page, CSRF and cross-site refusals that change nothing, one sale for a double submit, refusals next to
//! their field in the operator's language, the language kept with the operator, and no page showing a
//! catalogue key instead of its text.

use axum::http::Method;
use voltvend_domain::{Operator, OperatorId};
use voltvend_ops::Command;

use super::{Api, Req, Resp};

const PASSWORD: &str = "correct horse battery staple";

/// An operator of `role` scoped to `scope` who logs in with [`PASSWORD`]; returns their session cookie.
async fn session(
    api: &mut Api,
    username: &str,
    role: &str,
    scope: voltvend_domain::PremisesId,
) -> (OperatorId, String) {
    let seed = username.bytes().fold(1000_u64, |h, b| h.wrapping_mul(31).wrapping_add(u64::from(b)));
    let ids = voltvend_server::clock::IdGenerator::seeded(api.clock.clone(), seed);
    let id = OperatorId::from_uuid(ids.uuid());
    let hash = voltvend_server::passwords::hash(PASSWORD, &ids).unwrap();
    let op = Operator::new(id, username, &format!("{username} (test)"), role, scope, &hash);
    api.store.submit(api.estate.system(Command::AddOperator(op))).await.unwrap();
    let form = format!("username={username}&password={}&next=%2Fui%2Fcounter", PASSWORD.replace(' ', "+"));
    let r = api.send(form_req("/ui/login", &form, "")).await;
    assert_eq!(r.status.as_u16(), 303, "{}", text(&r));
    assert_eq!(r.headers["location"], "/ui/counter", "back to the page asked for");
    let set = r.headers["set-cookie"].to_str().unwrap();
    (id, set.split(';').next().unwrap().to_string())
}

fn form_req(path: &str, form: &str, cookie: &str) -> Req {
    let mut r = Req::new(Method::POST, path).header("content-type", "application/x-www-form-urlencoded");
    if !cookie.is_empty() {
        r = r.header("cookie", cookie);
    }
    r.body_raw(form)
}

fn page(path: &str, cookie: &str) -> Req {
    Req::new(Method::GET, path).header("cookie", cookie)
}

fn text(r: &Resp) -> String {
    String::from_utf8_lossy(&r.bytes).to_string()
}

/// The value of the first hidden field `name` on a page.
/// The value of hidden field `name` in the form posting to `action`.
fn field_in(html: &str, action: &str, name: &str) -> String {
    let start = html.find(&format!("action=\"{action}\"")).unwrap_or_else(|| panic!("no form {action}"));
    field(&html[start..], name)
}

fn field(html: &str, name: &str) -> String {
    let needle = format!("name=\"{name}\" value=\"");
    let start = html.find(&needle).unwrap_or_else(|| panic!("no field {name}")) + needle.len();
    html[start..].split('"').next().unwrap().to_string()
}

async fn sales_of(api: &Api, account: voltvend_domain::AccountId) -> usize {
    let r = api
        .send(api.as_(
            voltvend_domain::BuiltinRole::Administrator,
            'g',
            Method::GET,
            &format!("/api/v1/sales?account_id={account}&limit=500"),
        ))
        .await;
    r.ok()["items"].as_array().unwrap().len()
}

/// Sells `amount` in cash to the estate's remote meter of account A through the account page, the quote and the
/// confirmation, as a cashier does; returns the sale page's path and the session's CSRF token.
async fn sell_through_pages(api: &Api, cookie: &str, amount: &str) -> (String, String) {
    let e = &api.estate;
    let account = text(&api.send(page(&format!("/ui/accounts/{}", e.account_a), cookie)).await);
    let csrf = field(&account, "csrf");
    let quote = format!("csrf={csrf}&meter_id={}&amount={amount}&method=cash", e.remote_meter);
    let confirm = text(&api.send(form_req(&format!("/ui/accounts/{}/quote", e.account_a), &quote, cookie)).await);
    let sell = format!(
        "csrf={csrf}&key={}&account_id={}&meter_id={}&method=cash&amount={amount}&quantity=&reference=",
        field(&confirm, "key"),
        e.account_a,
        e.remote_meter
    );
    let sold = api.send(form_req("/ui/sales", &sell, cookie)).await;
    assert_eq!(sold.status.as_u16(), 303, "{}", text(&sold));
    (sold.headers["location"].to_str().unwrap().to_string(), csrf)
}

/// Opens the operator's shift through the shift page.
async fn open_shift(api: &Api, cookie: &str) {
    let html = text(&api.send(page("/ui/shift", cookie)).await);
    let form = format!(
        "csrf={}&key={}&vending_point_id={}&opening_float=100.00",
        field(&html, "csrf"),
        field(&html, "key"),
        api.estate.point_a
    );
    let r = api.send(form_req("/ui/shift/open", &form, cookie)).await;
    assert_eq!(r.status.as_u16(), 303, "{}", text(&r));
    assert!(text(&api.send(page("/ui/shift", cookie)).await).contains("id=\"shift-open\""));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_need_a_login_and_a_failed_one_says_why() {
    let api = Api::new().await;
    for path in ["/ui/", "/ui/counter?q=a", "/ui/accounts/x", "/ui/audit"] {
        let r = api.send(Req::new(Method::GET, path)).await;
        assert_eq!(r.status.as_u16(), 303, "{path}");
        let to = r.headers["location"].to_str().unwrap();
        assert!(to.starts_with("/ui/login?next=%2Fui%2F"), "{path} -> {to}");
    }
    // A bearer token is for programs: pages ask for a login.
    let r = api.send(api.as_(voltvend_domain::BuiltinRole::Administrator, 'g', Method::GET, "/ui/")).await;
    assert_eq!(r.status.as_u16(), 303);
    let r = api
        .send(form_req("/ui/login", "username=nobody&password=wrong+one&next=https%3A%2F%2Fevil.example%2F", ""))
        .await;
    assert_eq!(r.status.as_u16(), 401);
    let html = text(&r);
    assert!(html.contains("data-code=\"login_failed\""), "{html}");
    assert_eq!(field_in(&html, "/ui/login", "next"), "/ui/", "a foreign next is replaced by the UI's start");
    assert!(!r.headers.contains_key("set-cookie"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scoped_cashier_reaches_only_their_buildings_pages() {
    let mut api = Api::new().await;
    let scope = api.estate.building_a.id;
    let (_, cookie) = session(&mut api, "ui.cashier.a", "cashier", scope).await;
    let e = &api.estate;
    let own = api.send(page(&format!("/ui/accounts/{}", e.account_a), &cookie)).await;
    assert_eq!(own.status.as_u16(), 200, "{}", text(&own));
    let admin = |path: String| api.as_(voltvend_domain::BuiltinRole::Administrator, 'g', Method::GET, &path);
    let customer_b = api.send(admin(format!("/api/v1/accounts/{}", e.account_b))).await.ok()["customer_id"]
        .as_str()
        .unwrap()
        .to_string();
    let name_b =
        api.send(admin(format!("/api/v1/customers/{customer_b}"))).await.ok()["name"].as_str().unwrap().to_string();
    for path in [
        format!("/ui/accounts/{}", e.account_b),
        format!("/ui/customers/{customer_b}"),
        "/ui/accounts/not-an-id".to_string(),
    ] {
        let r = api.send(page(&path, &cookie)).await;
        assert_eq!(r.status.as_u16(), 404, "{path}");
        let html = text(&r);
        assert!(html.contains("data-code=\"not_found\""), "{path}: {html}");
        assert!(!html.contains(&name_b), "{path} shows nothing of building B");
    }
    // A page whose permission the role lacks.
    let r = api.send(page("/ui/audit", &cookie)).await;
    assert_eq!(r.status.as_u16(), 403);
    assert!(text(&r).contains("data-code=\"forbidden\""));
    // The navigation offers only what the role may do.
    let home = text(&api.send(page("/ui/", &cookie)).await);
    assert!(home.contains("href=\"/ui/counter\"") && !home.contains("href=\"/ui/audit\""), "{home}");
    // Searching finds nothing of building B.
    let b_unit = &e.unit_b.name;
    let found = text(&api.send(page(&format!("/ui/counter/results?q={}", b_unit), &cookie)).await);
    assert!(found.contains("no-results"), "{found}");
    let a_unit = &e.unit_a.name;
    let found = text(&api.send(page(&format!("/ui/counter/results?q={}", a_unit), &cookie)).await);
    assert!(found.contains("class=\"result\""), "building A's unit is found: {found}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forms_need_the_csrf_token_a_double_submit_sells_once() {
    let mut api = Api::new().await;
    let scope = api.estate.building_a.id;
    let (_, cookie) = session(&mut api, "ui.cashier.b", "cashier", scope).await;
    let e = &api.estate;
    open_shift(&api, &cookie).await;
    let account = text(&api.send(page(&format!("/ui/accounts/{}", e.account_a), &cookie)).await);
    let csrf = field(&account, "csrf");
    let quote_form = format!("csrf={csrf}&meter_id={}&amount=20.00&method=cash", e.remote_meter);
    let confirm = api.send(form_req(&format!("/ui/accounts/{}/quote", e.account_a), &quote_form, &cookie)).await;
    assert_eq!(confirm.status.as_u16(), 200, "{}", text(&confirm));
    let confirm = text(&confirm);
    assert!(confirm.contains("id=\"q-paid\">20.00"), "the split is shown before confirming");
    let key = field(&confirm, "key");
    let sell = |csrf: &str| {
        format!(
            "csrf={csrf}&key={key}&account_id={}&meter_id={}&method=cash&amount=20.00&quantity=&reference=",
            e.account_a, e.remote_meter
        )
    };
    let before = sales_of(&api, e.account_a).await;

    // Without the token, with a wrong one, or from another site: refused, nothing sold.
    for (form, origin) in [(sell(""), None), (sell("00ff"), None), (sell(&csrf), Some("https://evil.example"))] {
        let mut r = form_req("/ui/sales", &form, &cookie);
        if let Some(o) = origin {
            r = r.header("origin", o).header("host", "127.0.0.1:8080");
        }
        let r = api.send(r).await;
        assert_eq!(r.status.as_u16(), 403, "{form}");
    }
    assert_eq!(sales_of(&api, e.account_a).await, before, "a refused form sold nothing");

    // The same confirmed form twice (a double click): one sale, both answered with it.
    let first = api.send(form_req("/ui/sales", &sell(&csrf), &cookie)).await;
    let second = api.send(form_req("/ui/sales", &sell(&csrf), &cookie)).await;
    assert_eq!(first.status.as_u16(), 303, "{}", text(&first));
    assert_eq!(first.headers["location"], second.headers["location"]);
    assert_eq!(sales_of(&api, e.account_a).await, before + 1);
    let sale = text(&api.send(page(first.headers["location"].to_str().unwrap(), &cookie)).await);
    assert!(sale.contains("id=\"credited\""), "{sale}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_show_next_to_their_field_in_the_operators_language() {
    let mut api = Api::new().await;
    let scope = api.estate.building_a.id;
    let (id, cookie) = session(&mut api, "ui.cashier.c", "cashier", scope).await;
    let e = &api.estate;
    let account = text(&api.send(page(&format!("/ui/accounts/{}", e.account_a), &cookie)).await);
    let csrf = field(&account, "csrf");
    let quote = |amount: &str| format!("csrf={csrf}&meter_id={}&amount={amount}&method=cash", e.remote_meter);
    let path = format!("/ui/accounts/{}/quote", e.account_a);

    // No shift open: refused above the form, in the browser's language until the operator chooses one.
    let r = api.send(form_req(&path, &quote("20.00"), &cookie).header("accept-language", "zh-CN")).await;
    assert_eq!(r.status.as_u16(), 409, "{}", text(&r));
    assert!(text(&r).contains("data-code=\"no_open_shift\">请先开班。"), "{}", text(&r));
    open_shift(&api, &cookie).await;

    let r = api.send(form_req(&path, &quote("abc"), &cookie).header("accept-language", "zh-CN")).await;
    assert_eq!(r.status.as_u16(), 400);
    let html = text(&r);
    assert!(html.contains("id=\"amount-error\">填写的内容无效。"), "{html}");
    assert!(html.contains("value=\"abc\""), "the form keeps what was typed");

    // The switch keeps English with the operator (any browser), and the same refusal reads in English.
    let r = api.send(form_req("/ui/language", &format!("csrf={csrf}&lang=en&next=%2Fui%2Fcounter"), &cookie)).await;
    assert_eq!(r.status.as_u16(), 303);
    assert_eq!(api.store.operator(id).await.unwrap().unwrap().language.as_deref(), Some("en"));
    let r = api.send(form_req(&path, &quote("abc"), &cookie).header("accept-language", "zh-CN")).await;
    assert!(text(&r).contains("id=\"amount-error\">This value is not valid."), "{}", text(&r));
    // Below the minimum purchase, in English.
    let r = api.send(form_req(&path, &quote("0.01"), &cookie)).await;
    assert_eq!(r.status.as_u16(), 422, "{}", text(&r));
    assert!(text(&r).contains("Below the minimum purchase."), "{}", text(&r));
    // The switch itself needs the CSRF token of a logged-in operator.
    let r = api.send(form_req("/ui/language", "csrf=nope&lang=zh-CN&next=%2Fui%2F", &cookie)).await;
    assert_eq!(r.status.as_u16(), 403);
    assert_eq!(api.store.operator(id).await.unwrap().unwrap().language.as_deref(), Some("en"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_page_renders_in_both_languages_without_a_bare_catalogue_key() {
    let mut api = Api::new().await;
    let scope = api.estate.property.id;
    let (_, cookie) = session(&mut api, "ui.manager", "manager", scope).await;
    // An IC-card meter with a card issued, so that its page shows the card panel.
    let mut estate = api.estate.clone();
    let (ic_meter, _, ops) = estate.ic_card_setup(voltvend_testkit::estate::CARD_METER_NO, true);
    for op in ops {
        api.store.submit(op).await.unwrap();
    }
    let issue = voltvend_ops::IssueCard {
        meter_id: ic_meter,
        serial: "C0000000000000B1".into(),
        key_no: 1,
        reason: String::new(),
    };
    api.store.submit(estate.system(Command::IssueCard(issue))).await.unwrap();
    let e = &api.estate;
    let sale = api
        .send(api.as_(voltvend_domain::BuiltinRole::Administrator, 'g', Method::GET, "/api/v1/sales?limit=1"))
        .await
        .ok()["items"][0]["id"]
        .as_str()
        .map(str::to_string);
    let mut pages = vec![
        "/ui/".to_string(),
        "/ui/counter?q=a".into(),
        format!("/ui/accounts/{}", e.account_a),
        format!("/ui/meters/{}", e.remote_meter),
        format!("/ui/meters/{}", e.sts_meter),
        format!("/ui/meters/{ic_meter}"),
        "/ui/card".into(),
        "/ui/approvals".into(),
        "/ui/approvals?status=approved".into(),
        "/ui/reports".into(),
        "/ui/reports?group_by=operator".into(),
        "/ui/reports?group_by=property".into(),
        "/ui/audit".into(),
        "/ui/login".into(),
        "/ui/premises".into(),
        format!("/ui/premises?id={}", e.unit_a.id),
        format!("/ui/premises?id={}", e.building_a.id),
        "/ui/operators".into(),
        format!("/ui/accounts/{}/history", e.account_a),
        "/ui/tariffs".into(),
        "/ui/tariffs/test-flat".into(),
        "/ui/open".into(),
        "/ui/refunds".into(),
        "/ui/payments".into(),
        "/ui/payments?status=open".into(),
        "/ui/payments/statements".into(),
        "/ui/apportionment".into(),
        "/ui/fees".into(),
        "/ui/energy".into(),
        "/ui/books".into(),
        "/ui/energy?group_by=sub_item&compare=year&top=5".into(),
        "/ui/energy?group_by=tou_period".into(),
        "/ui/stock".into(),
        "/ui/admin".into(),
        "/ui/audit?from=2026-11-01&to=2026-12-01".into(),
    ];
    if let Some(s) = sale {
        pages.push(format!("/ui/sales/{s}"));
    }
    let groups: std::collections::BTreeSet<String> = voltvend_server::ui::Lang::En
        .catalogue()
        .messages
        .keys()
        .filter_map(|k| k.split('.').next().map(str::to_string))
        .collect();
    for lang in ["zh-CN", "en"] {
        let csrf = field(&text(&api.send(page("/ui/", &cookie)).await), "csrf");
        let r = api.send(form_req("/ui/language", &format!("csrf={csrf}&lang={lang}&next=%2Fui%2F"), &cookie)).await;
        assert_eq!(r.status.as_u16(), 303);
        for p in &pages {
            let r = api.send(page(p, &cookie)).await;
            assert_eq!(r.status.as_u16(), 200, "{p} ({lang}): {}", text(&r));
            let html = text(&r);
            assert!(html.contains(&format!("<html lang=\"{lang}\">")) || p == "/ui/login", "{p}");
            // A key shown instead of its text looks like one: `group.key` alone between tags.
            for piece in html.split('<') {
                let (tag, segment) = piece.split_once('>').unwrap_or(("", ""));
                // Permission names are shown as code, as they are.
                if tag.starts_with("code") {
                    continue;
                }
                let t = segment.trim();
                let looks_like_key = t.contains('.')
                    && !t.starts_with('.')
                    && t.bytes().all(|b| b.is_ascii_lowercase() || b == b'_' || b == b'.' || b.is_ascii_digit())
                    && groups.iter().any(|g| t.starts_with(&format!("{g}.")));
                assert!(!looks_like_key, "{p} ({lang}) shows the bare key {t}");
            }
            for tag in html.match_indices("<script").map(|(i, _)| &html[i..i + html[i..].find('>').unwrap()]) {
                assert!(tag.contains(" src=\"/ui/static/"), "only our own scripts, by src, on {p}: {tag}");
            }
        }
    }
    // Every asset is served by the binary.
    for asset in ["app.css", "app.js", "print.js", "icon.svg"] {
        let r = api.send(Req::new(Method::GET, &format!("/ui/static/{asset}"))).await;
        assert_eq!(r.status.as_u16(), 200, "{asset}");
        assert!(r.headers["content-security-policy"].to_str().unwrap().contains("script-src 'self'"));
    }
    assert_eq!(api.send(Req::new(Method::GET, "/ui/static/app.css.map")).await.status.as_u16(), 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_office_manages_operators_customer_files_and_accounts_through_the_api() {
    let mut api = Api::new().await;
    let scope = api.estate.property.id;
    let (_, manager) = session(&mut api, "ui.office.manager", "manager", scope).await;
    let (_, admin) = session(&mut api, "ui.office.admin", "administrator", scope).await;
    let scope_a = api.estate.building_a.id;
    let (_, cashier) = session(&mut api, "ui.office.cashier", "cashier", scope_a).await;
    let e = &api.estate;

    // An administrator adds (a manager may give only roles within their own permissions) a cashier of building A; the new operator can log in.
    let ops = text(&api.send(page("/ui/operators", &admin)).await);
    let form = format!(
        "csrf={}&key={}&username=ui.new.cashier&display_name=New+Cashier&role=cashier&scope_id={}&password=another+long+passphrase",
        field(&ops, "csrf"),
        field(&ops, "key"),
        e.building_a.id
    );
    let r = api.send(form_req("/ui/operators", &form, &admin)).await;
    assert_eq!(r.status.as_u16(), 303, "{}", text(&r));
    let created = r.headers["location"].to_str().unwrap().to_string();
    let r = api.send(form_req("/ui/login", "username=ui.new.cashier&password=another+long+passphrase", "")).await;
    assert_eq!(r.status.as_u16(), 303, "the new operator logs in");
    // A weak password is refused next to its field; nothing is created.
    let ops = text(&api.send(page("/ui/operators", &admin)).await);
    let weak = format!(
        "csrf={}&key={}&username=ui.weak&display_name=Weak&role=cashier&scope_id={}&password=short",
        field(&ops, "csrf"),
        field(&ops, "key"),
        e.building_a.id
    );
    let r = api.send(form_req("/ui/operators", &weak, &admin)).await;
    assert_eq!(r.status.as_u16(), 422);
    assert!(text(&r).contains("id=\"password-error\""), "{}", text(&r));
    assert!(api.store.operator_by_username("ui.weak").await.unwrap().is_none());
    // Disabling needs a reason; with one, the operator's sessions stop.
    let one = text(&api.send(page(&created, &admin)).await);
    let disable = |reason: &str| {
        format!(
            "csrf={}&key={}&role=cashier&scope_id={}&active=false&reason={reason}",
            field(&one, "csrf"),
            field(&one, "key"),
            e.building_a.id
        )
    };
    let r = api.send(form_req(&created, &disable(""), &admin)).await;
    assert_eq!(r.status.as_u16(), 422);
    assert!(text(&r).contains("id=\"reason-error\""));
    let r = api.send(form_req(&created, &disable("left+the+company"), &admin)).await;
    assert_eq!(r.status.as_u16(), 303, "{}", text(&r));
    assert!(!api.store.operator_by_username("ui.new.cashier").await.unwrap().unwrap().active);
    // A cashier cannot reach the operators' pages nor post to them.
    assert_eq!(api.send(page("/ui/operators", &cashier)).await.status.as_u16(), 403);
    let csrf_c = field(&text(&api.send(page("/ui/", &cashier)).await), "csrf");
    let r = api.send(form_req("/ui/operators", &format!("csrf={csrf_c}&key=k1&username=x.y&display_name=X&role=cashier&scope_id={}&password=another+long+passphrase", e.building_a.id), &cashier)).await;
    assert_eq!(r.status.as_u16(), 403);

    // The customer file: a change needs a reason and lands in its history.
    let account = api
        .send(api.as_(
            voltvend_domain::BuiltinRole::Administrator,
            'g',
            Method::GET,
            &format!("/api/v1/accounts/{}", e.account_a),
        ))
        .await
        .ok();
    let customer = account["customer_id"].as_str().unwrap().to_string();
    let file = text(&api.send(page(&format!("/ui/customers/{customer}/file"), &cashier)).await);
    let update = format!(
        "csrf={}&key={}&kind=person&name=Renamed+Customer&id_kind=national_id&id_number=&phones=13800000000+13900000000&email=&reason=moved+in",
        field(&file, "csrf"),
        field(&file, "key")
    );
    let r = api.send(form_req(&format!("/ui/customers/{customer}/file"), &update, &cashier)).await;
    assert_eq!(r.status.as_u16(), 303, "{}", text(&r));
    let after = text(&api.send(page(&format!("/ui/customers/{customer}/file"), &cashier)).await);
    assert!(after.contains("Renamed Customer") && after.contains("13900000000"), "{after}");
    assert!(after.contains("<td>update_customer</td>"), "the history shows the change: {after}");

    // 报停 then 复电 from the account page, each with a reason and its own key.
    for action in ["suspend", "resume"] {
        let acct = text(&api.send(page(&format!("/ui/accounts/{}", e.account_a), &cashier)).await);
        let form = format!(
            "csrf={}&key={}&action={action}&reason=tenant+asked",
            field(&acct, "csrf"),
            field_in(&acct, &format!("/ui/accounts/{}/status", e.account_a), "key")
        );
        let r = api.send(form_req(&format!("/ui/accounts/{}/status", e.account_a), &form, &cashier)).await;
        assert_eq!(r.status.as_u16(), 303, "{action}: {}", text(&r));
        let status = api
            .send(api.as_(
                voltvend_domain::BuiltinRole::Administrator,
                'g',
                Method::GET,
                &format!("/api/v1/accounts/{}", e.account_a),
            ))
            .await
            .ok()["status"]
            .clone();
        assert_eq!(status, if action == "suspend" { "suspended" } else { "active" });
    }
    // A wallet adjustment asked for by the cashier waits in the approvals queue.
    let acct = text(&api.send(page(&format!("/ui/accounts/{}", e.account_a), &cashier)).await);
    let form = format!(
        "csrf={}&key={}&kind=adjust&correction_amount=5.00&correction_reason=meter+fault",
        field(&acct, "csrf"),
        field_in(&acct, &format!("/ui/accounts/{}/correction", e.account_a), "key")
    );
    let r = api.send(form_req(&format!("/ui/accounts/{}/correction", e.account_a), &form, &cashier)).await;
    assert_eq!(r.status.as_u16(), 303, "{}", text(&r));
    let queue = text(&api.send(page("/ui/approvals", &manager)).await);
    assert!(queue.contains("meter fault") && queue.contains("button class=\"primary approve\""), "{queue}");
}

/// Reads everything one connection to `listener` sends.
async fn printed(listener: &tokio::net::TcpListener) -> Vec<u8> {
    use tokio::io::AsyncReadExt;
    let (mut s, _) = listener.accept().await.unwrap();
    let mut bytes = Vec::new();
    s.read_to_end(&mut bytes).await.unwrap();
    bytes
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receipt_goes_to_the_counters_network_printer() {
    let mut api = Api::new().await;
    let scope = api.estate.building_a.id;
    let (_, cashier) = session(&mut api, "ui.printing.cashier", "cashier", scope).await;
    let (_, other) = session(&mut api, "ui.printing.other", "cashier", scope).await;
    open_shift(&api, &cashier).await;
    let (sale_path, csrf) = sell_through_pages(&api, &cashier, "30.00").await;
    let print_path = format!("{sale_path}/escpos");

    // No printer set up: the page says so and offers no button.
    let sale_page = text(&api.send(page(&sale_path, &cashier)).await);
    assert!(!sale_page.contains("id=\"print-escpos\""));
    let r = api.send(form_req(&print_path, &format!("csrf={csrf}&key=p0"), &cashier)).await;
    assert_eq!(r.status.as_u16(), 409);
    assert!(text(&r).contains("data-code=\"printer_not_configured\""));

    // The counter's printer (the default one): the cashier who sold prints the original.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap().to_string();
    let mut printers = std::collections::BTreeMap::new();
    printers.insert("default".to_string(), address.clone());
    api.state.printers = std::sync::Arc::new(printers);
    let sale_page = text(&api.send(page(&sale_path, &cashier)).await);
    assert!(sale_page.contains("id=\"print-escpos\""));
    let (r, original) =
        tokio::join!(api.send(form_req(&print_path, &format!("csrf={csrf}&key=p1"), &cashier)), printed(&listener));
    assert_eq!(r.status.as_u16(), 200, "{}", text(&r));
    assert!(text(&r).contains("id=\"printed\""));
    assert!(original.starts_with(&[0x1B, 0x40]), "ESC @ initialises the printer");
    assert!(original.windows(5).any(|w| w == b"30.00"), "the amount is on the receipt");

    // Another cashier prints a copy, recorded as a reprint; it differs from the original.
    let csrf_o = field(&text(&api.send(page(&sale_path, &other)).await), "csrf");
    let (r, copy) =
        tokio::join!(api.send(form_req(&print_path, &format!("csrf={csrf_o}&key=p2"), &other)), printed(&listener));
    assert_eq!(r.status.as_u16(), 200, "{}", text(&r));
    // The 副本/COPY banner is printed reversed (GS B 1): on the copy, not on the original.
    let reverse = [0x1D, 0x42, 0x01];
    assert!(copy.windows(3).any(|w| w == reverse), "the copy carries its banner");
    assert!(!original.windows(3).any(|w| w == reverse), "the original does not");
    let audit = api
        .send(api.as_(
            voltvend_domain::BuiltinRole::Administrator,
            'g',
            Method::GET,
            "/api/v1/audit?action=reprint_receipt",
        ))
        .await
        .ok();
    assert_eq!(audit["items"].as_array().unwrap().len(), 1, "{audit}");

    // The printer is off: said, nothing else happens.
    drop(listener);
    let r = api.send(form_req(&print_path, &format!("csrf={csrf}&key=p3"), &cashier)).await;
    assert_eq!(r.status.as_u16(), 502);
    assert!(text(&r).contains("data-code=\"printer_unreachable\""));
    // Without the CSRF token nothing is printed or recorded.
    let r = api.send(form_req(&print_path, "csrf=x&key=p4", &other)).await;
    assert_eq!(r.status.as_u16(), 403);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shift_closes_with_the_cash_counted_by_denomination() {
    let mut api = Api::new().await;
    let scope = api.estate.building_a.id;
    let (id, cashier) = session(&mut api, "ui.count.cashier", "cashier", scope).await;
    open_shift(&api, &cashier).await;
    let shift = text(&api.send(page("/ui/shift", &cashier)).await);
    assert!(shift.contains("name=\"d_100.00\"") && shift.contains("name=\"d_0.10\""), "the notes and coins of CNY");
    let close = |extra: &str| {
        format!(
            "csrf={}&key={}&shift_id={}{extra}",
            field(&shift, "csrf"),
            field_in(&shift, "/ui/shift/close", "key"),
            field(&shift, "shift_id")
        )
    };
    // A total that disagrees with the count is refused, said in the operator's language; the shift stays open.
    let r = api.send(form_req("/ui/shift/close", &close("&d_50.00=2&d_0.50=1&counted=99.00"), &cashier)).await;
    assert_eq!(r.status.as_u16(), 422, "{}", text(&r));
    assert!(text(&r).contains("id=\"shift-open\""));
    let r = api.send(form_req("/ui/shift/close", &close("&d_50.00=two"), &cashier)).await;
    assert_eq!(r.status.as_u16(), 422);
    assert!(text(&r).contains("id=\"denominations-error\""), "{}", text(&r));
    // The count alone (100.50 = the float of 100.00 and a 0.50 coin found): closed with a variance of +0.50.
    let shift = text(&api.send(page("/ui/shift", &cashier)).await);
    let close = format!(
        "csrf={}&key={}&shift_id={}&d_50.00=2&d_0.50=1&d_10.00=&d_1.00=0",
        field(&shift, "csrf"),
        field_in(&shift, "/ui/shift/close", "key"),
        field(&shift, "shift_id")
    );
    let r = api.send(form_req("/ui/shift/close", &close, &cashier)).await;
    assert_eq!(r.status.as_u16(), 303, "{}", text(&r));
    let list = api
        .send(api.as_(
            voltvend_domain::BuiltinRole::Administrator,
            'g',
            Method::GET,
            &format!("/api/v1/shifts?operator_id={id}"),
        ))
        .await
        .ok();
    let s = &list["items"][0];
    assert_eq!(s["status"], "closed");
    assert_eq!(s["counted"]["amount"], "100.50");
    assert_eq!(s["variance"]["amount"], "0.50");
    assert_eq!(s["denominations"], serde_json::json!([{"value": "50.00", "count": 2}, {"value": "0.50", "count": 1}]));
    let after = text(&api.send(page("/ui/shift", &cashier)).await);
    assert!(after.contains("id=\"last-shift\"") && after.contains("0.50 CNY"), "{after}");
    // The count turns out wrong after the close: a correction of the closed shift goes to the approvals queue.
    let form = format!(
        "csrf={}&key={}&shift_id={}&shift_amount=-0.50&shift_reason=coin+was+the+float",
        field(&after, "csrf"),
        field_in(&after, "/ui/shift/correct", "key"),
        field_in(&after, "/ui/shift/correct", "shift_id")
    );
    let r = api.send(form_req("/ui/shift/correct", &form, &cashier)).await;
    assert_eq!(r.status.as_u16(), 303, "{}", text(&r));
    let pending = api
        .send(api.as_(
            voltvend_domain::BuiltinRole::Administrator,
            'g',
            Method::GET,
            "/api/v1/corrections?status=pending",
        ))
        .await
        .ok();
    assert_eq!(pending["items"][0]["kind"], "correct_shift", "{pending}");
    assert_eq!(pending["items"][0]["amount"]["amount"], "-0.50");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sale_to_the_wrong_meter_is_asked_to_be_reallocated_by_the_right_meters_serial() {
    let mut api = Api::new().await;
    // A cashier of the whole property (the right meter is in building B); one of building A cannot name it.
    let scope = api.estate.property.id;
    let (_, cashier) = session(&mut api, "ui.realloc.cashier", "cashier", scope).await;
    let scope_a = api.estate.building_a.id;
    let (_, cashier_a) = session(&mut api, "ui.realloc.a", "cashier", scope_a).await;
    open_shift(&api, &cashier).await;
    let (sale_path, csrf) = sell_through_pages(&api, &cashier, "20.00").await;
    let e = &api.estate;
    let sale_id = sale_path.rsplit('/').next().unwrap().to_string();
    let admin = |path: &str| api.as_(voltvend_domain::BuiltinRole::Administrator, 'g', Method::GET, path);
    let sts_serial =
        api.send(admin(&format!("/api/v1/meters/{}", e.sts_meter))).await.ok()["serial"].as_str().unwrap().to_string();
    let ask = |serial: &str, key: &str| {
        format!("csrf={csrf}&key={key}&sale_id={sale_id}&kind=reallocate_sale&right_meter={serial}&reason=wrong+meter")
    };
    // A serial nobody knows: said next to the field, nothing asked.
    let r = api.send(form_req("/ui/corrections", &ask("NO-SUCH-METER", "c1"), &cashier)).await;
    assert_eq!(r.status.as_u16(), 404);
    assert!(text(&r).contains("id=\"right-meter-error\""), "{}", text(&r));
    let csrf_a = field(&text(&api.send(page("/ui/", &cashier_a)).await), "csrf");
    let r = api.send(form_req("/ui/corrections", &ask(&sts_serial, "c3").replace(&csrf, &csrf_a), &cashier_a)).await;
    assert_eq!(r.status.as_u16(), 404, "another building's meter cannot be named");
    let r = api.send(form_req("/ui/corrections", &ask(&sts_serial, "c2"), &cashier)).await;
    assert_eq!(r.status.as_u16(), 303, "{}", text(&r));
    let pending = api.send(admin("/api/v1/corrections?status=pending")).await.ok();
    let items = pending["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{pending}");
    assert_eq!(items[0]["kind"], "reallocate_sale");
    assert_eq!(items[0]["sale_id"].as_str(), Some(sale_id.as_str()));
    assert_eq!(items[0]["meter_id"].as_str(), Some(e.sts_meter.to_string().as_str()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_change_campaign_is_planned_from_its_page() {
    let mut api = Api::new().await;
    let group = api.estate.group.id;
    let (_, admin) = session(&mut api, "ui.keys.admin", "administrator", group).await;
    let property = api.estate.property.id;
    let (_, manager) = session(&mut api, "ui.keys.manager", "manager", property).await;
    assert_eq!(api.send(page("/ui/campaigns", &manager)).await.status.as_u16(), 403, "keys are the administrator's");
    let html = text(&api.send(page("/ui/campaigns", &admin)).await);
    let form = |extra: &str| format!("csrf={}&key={}{extra}", field(&html, "csrf"), field(&html, "key"));
    let r = api.send(form_req("/ui/campaigns", &form("&name=&select_base_date=14&new_key_expiry=200"), &admin)).await;
    assert_eq!(r.status.as_u16(), 422);
    assert!(text(&r).contains("id=\"campaign-name-error\""));
    let r = api.send(form_req("/ui/campaigns", &form("&name=x&select_base_date=14&new_key_expiry=soon"), &admin)).await;
    assert_eq!(r.status.as_u16(), 422);
    assert!(text(&r).contains("id=\"key-expiry-error\""), "{}", text(&r));
    let r = api
        .send(form_req(
            "/ui/campaigns",
            &form("&name=New+expiry&select_base_date=14&select_supply_group=123456&new_key_expiry=200"),
            &admin,
        ))
        .await;
    assert_eq!(r.status.as_u16(), 303, "{}", text(&r));
    let list = text(&api.send(page("/ui/campaigns", &admin)).await);
    assert!(list.contains("<td>New expiry</td>"), "{list}");
    let campaigns = api
        .send(api.as_(voltvend_domain::BuiltinRole::Administrator, 'g', Method::GET, "/api/v1/key-campaigns"))
        .await
        .ok();
    assert_eq!(campaigns[0]["change"]["key_expiry"], 200, "{campaigns}");
    assert!(campaigns[0]["planned"].as_i64().unwrap() >= 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_account_is_opened_at_the_counter_with_a_new_meter_and_its_first_sale() {
    let mut api = Api::new().await;
    let scope = api.estate.building_a.id;
    let (_, cashier) = session(&mut api, "ui.open.cashier", "cashier", scope).await;
    open_shift(&api, &cashier).await;
    let e = &api.estate;
    let html = text(&api.send(page("/ui/open", &cashier)).await);
    let form = |unit: &str, serial: &str, address: &str| {
        format!(
            "csrf={}&key={}&kind=person&name=Zhang+San&phones=13700000001&id_kind=national_id&id_number=&unit={unit}\
             &serial={serial}&utility=electricity&protocol=dlt645&address={address}&tariff=test-flat&sts_key=&sts_ea=07\
             &sts_base=14&sts_ti=1&sts_iin=600727&amount=20.00&method=cash",
            field(&html, "csrf"),
            field(&html, "key")
        )
    };
    // Another building's unit cannot be named; a new meter needs its address.
    let r = api.send(form_req("/ui/open", &form(&e.unit_b.name, "UI-NEW-0001", "000000009901"), &cashier)).await;
    assert_eq!(r.status.as_u16(), 404);
    assert!(text(&r).contains("id=\"unit-error\""), "{}", text(&r));
    let r = api.send(form_req("/ui/open", &form(&e.unit_a.name, "UI-NEW-0001", ""), &cashier)).await;
    assert_eq!(r.status.as_u16(), 422);
    assert!(text(&r).contains("id=\"address-error\""));
    assert!(text(&r).contains("value=\"Zhang San\""), "the form keeps what was typed");
    let r = api.send(form_req("/ui/open", &form(&e.unit_a.name, "UI-NEW-0001", "000000009901"), &cashier)).await;
    assert_eq!(r.status.as_u16(), 303, "{}", text(&r));
    let to = r.headers["location"].to_str().unwrap().to_string();
    assert!(to.starts_with("/ui/sales/"), "the first sale is shown: {to}");
    let sale = text(&api.send(page(&to, &cashier)).await);
    assert!(sale.contains("20.00 CNY"), "{sale}");
    let admin = |path: &str| api.as_(voltvend_domain::BuiltinRole::Administrator, 'g', Method::GET, path);
    let meters = api.send(admin("/api/v1/meters?q=UI-NEW-0001")).await.ok();
    let m = &meters["items"][0];
    assert_eq!((m["state"].as_str(), m["tariff_code"].as_str()), (Some("active"), Some("test-flat")), "{meters}");
    let account = api.send(admin(&format!("/api/v1/accounts/{}", m["account_id"].as_str().unwrap()))).await.ok();
    assert_eq!(account["balance"]["amount"], "20.00");
    // The same form again (a double click) opens nothing more.
    let again = api.send(form_req("/ui/open", &form(&e.unit_a.name, "UI-NEW-0001", "000000009901"), &cashier)).await;
    assert_eq!(again.headers["location"].to_str().unwrap(), to);
    assert_eq!(api.send(admin("/api/v1/meters?q=UI-NEW-0001")).await.ok()["items"].as_array().unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refunds_arrears_meter_returns_roles_and_audit_dates_from_their_pages() {
    let mut api = Api::new().await;
    let scope = api.estate.property.id;
    let (_, cashier) = session(&mut api, "ui.misc.cashier", "cashier", scope).await;
    let (_, manager) = session(&mut api, "ui.misc.manager", "manager", scope).await;
    let group = api.estate.group.id;
    let (_, admin) = session(&mut api, "ui.misc.admin", "administrator", group).await;
    open_shift(&api, &cashier).await;
    let e = &api.estate;
    // A payment refused after it was taken (below the minimum purchase) is owed back until handed back.
    let refused = api
        .send(api.as_(voltvend_domain::BuiltinRole::Cashier, 'a', Method::POST, "/api/v1/sales").fresh_key().json(serde_json::json!({
            "account_id": e.account_a.to_string(), "meter_id": e.remote_meter.to_string(), "method": "cash", "amount": "0.50"
        })))
        .await;
    let refused_id = refused.json()["details"]["refused_payment_id"].as_str().unwrap().to_string();
    let owed = text(&api.send(page("/ui/refunds", &cashier)).await);
    assert!(owed.contains(&format!("/ui/refunds/{refused_id}")) && owed.contains("0.50 CNY"), "{owed}");
    let form =
        format!("csrf={}&key={}", field(&owed, "csrf"), field_in(&owed, &format!("/ui/refunds/{refused_id}"), "key"));
    let r = api.send(form_req(&format!("/ui/refunds/{refused_id}"), &form, &cashier)).await;
    assert_eq!(r.status.as_u16(), 303, "{}", text(&r));
    assert!(text(&api.send(page("/ui/refunds", &cashier)).await).contains("id=\"none-owed\""));
    // 追缴陈欠 by the manager: the account owes it.
    let acct = text(&api.send(page(&format!("/ui/accounts/{}", e.account_b), &manager)).await);
    let action = format!("/ui/accounts/{}/arrears", e.account_b);
    let form = format!(
        "csrf={}&key={}&arrears_amount=12.34&arrears_reference=OLD-1",
        field(&acct, "csrf"),
        field_in(&acct, &action, "key")
    );
    let r = api.send(form_req(&action, &form, &manager)).await;
    assert_eq!(r.status.as_u16(), 303, "{}", text(&r));
    let acct = text(&api.send(page(&format!("/ui/accounts/{}", e.account_b), &manager)).await);
    assert!(acct.contains("12.34 CNY"), "the arrears show on the account");
    // 回抄 of the STS keypad meter: what it shows left becomes its last return.
    let meter = text(&api.send(page(&format!("/ui/meters/{}", e.sts_meter), &cashier)).await);
    let action = format!("/ui/meters/{}/returns", e.sts_meter);
    let form = format!(
        "csrf={}&key={}&source=display&remaining=3.5&at=",
        field(&meter, "csrf"),
        field_in(&meter, &action, "key")
    );
    let r = api.send(form_req(&action, &form, &cashier)).await;
    assert_eq!(r.status.as_u16(), 303, "{}", text(&r));
    let meter = text(&api.send(page(&format!("/ui/meters/{}", e.sts_meter), &cashier)).await);
    assert!(meter.contains("id=\"last-return\">3.500 kWh"), "{meter}");
    let bad = format!("csrf={}&key=r2&source=display&remaining=1&at=yesterday", field(&meter, "csrf"));
    let r = api.send(form_req(&action, &bad, &cashier)).await;
    assert_eq!(r.status.as_u16(), 400);
    // A custom role with two permissions, by the group's administrator; a manager is not offered the form.
    assert!(!text(&api.send(page("/ui/operators", &manager)).await).contains("id=\"add-role\""));
    let ops = text(&api.send(page("/ui/operators", &admin)).await);
    let form = format!(
        "csrf={}&key={}&role_name=meter-reader&role_description=reads+meters&perm=meters.read&perm=premises.read",
        field(&ops, "csrf"),
        field_in(&ops, "/ui/roles", "key")
    );
    let r = api.send(form_req("/ui/roles", &form, &admin)).await;
    assert_eq!(r.status.as_u16(), 303, "{}", text(&r));
    let roles = api
        .send(api.as_(voltvend_domain::BuiltinRole::Administrator, 'g', Method::GET, "/api/v1/roles?limit=100"))
        .await
        .ok();
    let role = roles["items"].as_array().unwrap().iter().find(|r| r["name"] == "meter-reader").unwrap().clone();
    let mut perms: Vec<String> =
        role["permissions"].as_array().unwrap().iter().map(|p| p.as_str().unwrap().to_string()).collect();
    perms.sort();
    assert_eq!(perms, ["meters.read", "premises.read"]);
    // The audit log by dates: a bad date is said, a good range shows the day's records.
    let r = api.send(page("/ui/audit?from=not-a-date", &manager)).await;
    assert_eq!(r.status.as_u16(), 400);
    assert!(text(&r).contains("id=\"from-error\""));
    let r = api.send(page("/ui/audit?from=2026-11-01&to=2026-12-31", &manager)).await;
    assert_eq!(r.status.as_u16(), 200);
    assert!(text(&r).contains("<td>enter_arrears</td>"), "{}", text(&r));
    let r = api.send(page("/ui/audit?from=2026-10-01&to=2026-10-31", &manager)).await;
    assert_eq!(r.status.as_u16(), 200);
    assert!(text(&r).contains("<table id=\"audit\">"));
    assert!(!text(&r).contains("<td>enter_arrears</td>"), "nothing of the day outside the range");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_meter_is_replaced_the_billing_mode_switched_and_an_account_closed_from_their_pages() {
    let mut api = Api::new().await;
    let scope = api.estate.building_a.id;
    let (_, manager) = session(&mut api, "ui.life.manager", "manager", scope).await;
    let (_, cashier) = session(&mut api, "ui.life.cashier", "cashier", scope).await;
    open_shift(&api, &cashier).await;
    let e = api.estate.clone();
    super::lifecycle::read(&api, e.remote_meter, "2026-11-23T06:00:00Z", 1_000).await;
    super::lifecycle::read(&api, e.remote_meter, "2026-11-23T07:00:00Z", 1_002).await;
    let admin = |path: &str| api.as_(voltvend_domain::BuiltinRole::Administrator, 'g', Method::GET, path);

    // 换表: a new DL/T 645 meter received in place, the old one's final reading billed, the new one's first kept.
    let meter_page = text(&api.send(page(&format!("/ui/meters/{}", e.remote_meter), &manager)).await);
    let action = format!("/ui/meters/{}/replace", e.remote_meter);
    let form = |extra: &str| {
        format!(
            "csrf={}&key={}&new_protocol=dlt645&replace_reason=display+dead{extra}",
            field(&meter_page, "csrf"),
            field_in(&meter_page, &action, "key")
        )
    };
    let r = api
        .send(form_req(&action, &form("&new_serial=UI-REP-1&new_address=&old_final=1003&first_reading=5"), &manager))
        .await;
    assert_eq!(r.status.as_u16(), 422);
    assert!(text(&r).contains("id=\"new-address-error\""));
    let r = api
        .send(form_req(
            &action,
            &form("&new_serial=UI-REP-1&new_address=000000000888&old_final=1003&first_reading=5"),
            &manager,
        ))
        .await;
    assert_eq!(r.status.as_u16(), 200, "{}", text(&r));
    assert!(text(&r).contains("id=\"settled\""));
    let old = api.send(admin(&format!("/api/v1/meters/{}", e.remote_meter))).await.ok();
    assert_eq!(old["state"], "replaced");
    let new = api.send(admin("/api/v1/meters?q=UI-REP-1")).await.ok();
    assert_eq!(new["items"][0]["account_id"].as_str(), Some(e.account_a.to_string().as_str()));

    // Prepaid → postpaid at the cut-over, by the manager, with a reason.
    let acct = text(&api.send(page(&format!("/ui/accounts/{}", e.account_a), &manager)).await);
    let action = format!("/ui/accounts/{}/billing-mode", e.account_a);
    let form = format!(
        "csrf={}&key={}&mode=postpaid&mode_reason=monthly+bills",
        field(&acct, "csrf"),
        field_in(&acct, &action, "key")
    );
    let r = api.send(form_req(&action, &form, &manager)).await;
    assert_eq!(r.status.as_u16(), 303, "{}", text(&r));
    assert_eq!(api.send(admin(&format!("/api/v1/accounts/{}", e.account_a))).await.ok()["billing_mode"], "postpaid");

    // 销户 by the cashier: a reason is needed; with one, settled and closed.
    let acct = text(&api.send(page(&format!("/ui/accounts/{}", e.account_a), &cashier)).await);
    let action = format!("/ui/accounts/{}/close", e.account_a);
    let form = |reason: &str| {
        format!(
            "csrf={}&key={}&refund=cash&close_reason={reason}",
            field(&acct, "csrf"),
            field_in(&acct, &action, "key")
        )
    };
    let r = api.send(form_req(&action, &form(""), &cashier)).await;
    assert_eq!(r.status.as_u16(), 422);
    assert!(text(&r).contains("id=\"close-reason-error\""));
    let r = api.send(form_req(&action, &form("moved+out"), &cashier)).await;
    assert_eq!(r.status.as_u16(), 200, "{}", text(&r));
    assert!(text(&r).contains("id=\"refunded\""));
    assert_eq!(api.send(admin(&format!("/api/v1/accounts/{}", e.account_a))).await.ok()["status"], "closed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_account_changes_hands_a_management_token_is_issued_and_a_meter_received_into_stock() {
    let mut api = Api::new().await;
    let scope_a = api.estate.building_a.id;
    let (_, cashier) = session(&mut api, "ui.more.cashier", "cashier", scope_a).await;
    let scope_b = api.estate.building_b.id;
    let (_, engineer) = session(&mut api, "ui.more.engineer", "field_engineer", scope_b).await;
    let (_, manager) = session(&mut api, "ui.more.manager", "manager", scope_a).await;
    open_shift(&api, &cashier).await;
    let e = api.estate.clone();
    let admin = |path: &str| api.as_(voltvend_domain::BuiltinRole::Administrator, 'g', Method::GET, path);

    // 过户: the new owner's account opens on the same meter.
    let acct = text(&api.send(page(&format!("/ui/accounts/{}", e.account_a), &cashier)).await);
    let action = format!("/ui/accounts/{}/transfer", e.account_a);
    let form = |name: &str| {
        format!(
            "csrf={}&key={}&transfer_name={name}&transfer_phones=13600000000&refund=cash&transfer_reason=sold+the+flat",
            field(&acct, "csrf"),
            field_in(&acct, &action, "key")
        )
    };
    let r = api.send(form_req(&action, &form(""), &cashier)).await;
    assert_eq!(r.status.as_u16(), 422);
    assert!(text(&r).contains("id=\"transfer-name-error\""));
    let r = api.send(form_req(&action, &form("Li+Si"), &cashier)).await;
    assert_eq!(r.status.as_u16(), 200, "{}", text(&r));
    assert_eq!(api.send(admin(&format!("/api/v1/accounts/{}", e.account_a))).await.ok()["status"], "closed");
    let meter = api.send(admin(&format!("/api/v1/meters/{}", e.remote_meter))).await.ok();
    assert_ne!(
        meter["account_id"].as_str(),
        Some(e.account_a.to_string().as_str()),
        "the meter moved to the new account"
    );

    // An STS management token (clear tamper) for B's keypad meter, by B's engineer: shown in fours.
    let page_html = text(&api.send(page(&format!("/ui/meters/{}", e.sts_meter), &engineer)).await);
    let action = format!("/ui/meters/{}/sts-tokens", e.sts_meter);
    let form = format!(
        "csrf={}&key={}&token_kind=clear_tamper&watts=&token_reason=tamper+cleared+on+site",
        field(&page_html, "csrf"),
        field_in(&page_html, &action, "key")
    );
    let r = api.send(form_req(&action, &form, &engineer)).await;
    assert_eq!(r.status.as_u16(), 200, "{}", text(&r));
    let html = text(&r);
    let start = html.find("id=\"token-1\">").unwrap() + "id=\"token-1\">".len();
    let token = &html[start..start + 24];
    assert!(token.split(' ').all(|g| g.len() == 4 && g.bytes().all(|b| b.is_ascii_digit())), "{token}");
    // A cashier of A is offered no such form, and cannot reach the meter at all.
    assert_eq!(api.send(page(&format!("/ui/meters/{}", e.sts_meter), &cashier)).await.status.as_u16(), 404);

    // A meter received into stock by the manager; the same serial again is refused next to nothing but said.
    let stock = text(&api.send(page("/ui/stock", &manager)).await);
    let receive = format!(
        "csrf={}&key={}&serial=UI-STOCK-1&utility=electricity&protocol=dlt645&address=000000004321",
        field(&stock, "csrf"),
        field(&stock, "key")
    );
    let r = api.send(form_req("/ui/stock", &receive, &manager)).await;
    assert_eq!(r.status.as_u16(), 303, "{}", text(&r));
    let stock = text(&api.send(page("/ui/stock", &manager)).await);
    assert!(stock.contains("UI-STOCK-1"), "{stock}");
    let again = format!(
        "csrf={}&key={}&serial=UI-STOCK-1&utility=electricity&protocol=dlt645&address=000000004322",
        field(&stock, "csrf"),
        field(&stock, "key")
    );
    let r = api.send(form_req("/ui/stock", &again, &manager)).await;
    assert_eq!(r.status.as_u16(), 409, "{}", text(&r));
    assert!(text(&r).contains("data-code=\"already_exists\""), "{}", text(&r));
    // A cashier may look at the stock but not receive into it: no form, and a post is refused.
    let seen = text(&api.send(page("/ui/stock", &cashier)).await);
    assert!(seen.contains("UI-STOCK-1") && !seen.contains("id=\"receive-form\""));
    let csrf_c = field(&seen, "csrf");
    let r = api
        .send(form_req(
            "/ui/stock",
            &format!("csrf={csrf_c}&key=k9&serial=UI-STOCK-2&utility=electricity&protocol=dlt645&address=000000004323"),
            &cashier,
        ))
        .await;
    assert_eq!(r.status.as_u16(), 403);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn administration_counters_tokens_and_backups_from_one_page() {
    let mut api = Api::new().await;
    let group = api.estate.group.id;
    let (_, admin) = session(&mut api, "ui.adm.admin", "administrator", group).await;
    let scope = api.estate.building_a.id;
    let (_, cashier) = session(&mut api, "ui.adm.cashier", "cashier", scope).await;
    let e = api.estate.clone();
    let html = text(&api.send(page("/ui/admin", &admin)).await);
    let csrf = field(&html, "csrf");
    let key = |action: &str| field_in(&html, &format!("/ui/admin/{action}"), "key");

    // An agent with a credit limit, in building A.
    let form = format!(
        "csrf={csrf}&key={}&point_name=Corner+shop+agent&point_premises={}&point_currency=CNY&point_credit_limit=500.00",
        key("vending-point"),
        e.building_a.id
    );
    let r = api.send(form_req("/ui/admin/vending-point", &form, &admin)).await;
    assert_eq!(r.status.as_u16(), 303, "{}", text(&r));
    let listed = text(&api.send(page("/ui/admin", &admin)).await);
    assert!(listed.contains("Corner shop agent") && listed.contains("500.00 CNY"), "{listed}");
    let bad = format!(
        "csrf={csrf}&key={}-2&point_name=Bad&point_premises={}&point_currency=XXX",
        key("vending-point"),
        e.building_a.id
    );
    let r = api.send(form_req("/ui/admin/vending-point", &bad, &admin)).await;
    assert_eq!(r.status.as_u16(), 422, "an unknown currency is refused");
    assert!(
        text(&r).contains("<p class=\"field-error\">该值不在允许范围内。</p>"),
        "next to the currency: {}",
        text(&r)
    );

    // An API token: its secret shown once, then revoked.
    let r = api
        .send(form_req(
            "/ui/admin/token",
            &format!("csrf={csrf}&key={}&token_name=billing-export", key("token")),
            &admin,
        ))
        .await;
    let page_html = text(&r);
    let start = page_html.find("id=\"token-secret\">").expect("the secret is shown") + "id=\"token-secret\">".len();
    let secret = page_html[start..].split('<').next().unwrap().to_string();
    assert!(secret.starts_with("vvt_"), "{secret}");
    let me = api.send(Req::new(Method::GET, "/api/v1/session").bearer(&secret)).await;
    assert_eq!(me.status.as_u16(), 200, "the token works");
    let again = text(&api.send(page("/ui/admin", &admin)).await);
    assert!(!again.contains(&secret), "never shown again");
    let token_id = {
        let list = api.send(Req::new(Method::GET, "/api/v1/api-tokens").bearer(&secret)).await.ok();
        list["items"].as_array().unwrap().iter().find(|t| t["name"] == "billing-export").unwrap()["id"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let revoke = format!(
        "csrf={}&key={}&token_id={token_id}",
        field(&again, "csrf"),
        field_in(&again, "/ui/admin/revoke", "key")
    );
    let r = api.send(form_req("/ui/admin/revoke", &revoke, &admin)).await;
    assert_eq!(r.status.as_u16(), 303, "{}", text(&r));
    assert_eq!(
        api.send(Req::new(Method::GET, "/api/v1/session").bearer(&secret)).await.status.as_u16(),
        401,
        "revoked"
    );

    // A backup now, verified, listed.
    let r = api.send(form_req("/ui/admin/backup", &format!("csrf={csrf}&key=b1"), &admin)).await;
    assert_eq!(r.status.as_u16(), 303, "{}", text(&r));
    let listed = text(&api.send(page("/ui/admin", &admin)).await);
    assert!(
        listed.contains("<tr><td><code>") && listed.contains(".sqlite</code>"),
        "the new backup is listed: {listed}"
    );

    // A cashier sees their own tokens only: no counters' forms, no backups, and a post is refused.
    let seen = text(&api.send(page("/ui/admin", &cashier)).await);
    assert!(!seen.contains("id=\"add-point\"") && !seen.contains("id=\"take-backup\""));
    let csrf_c = field(&seen, "csrf");
    let r = api.send(form_req("/ui/admin/backup", &format!("csrf={csrf_c}&key=b2"), &cashier)).await;
    assert_eq!(r.status.as_u16(), 403);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_openpaygo_management_token_is_issued_from_the_devices_page() {
    let mut api = Api::new().await;
    let scope = api.estate.building_a.id;
    let (_, engineer) = session(&mut api, "ui.opg.engineer", "field_engineer", scope).await;
    let e = api.estate.clone();
    let opened = api
        .send(
            api.as_(voltvend_domain::BuiltinRole::Administrator, 'a', Method::POST, "/api/v1/accounts").fresh_key().json(
                serde_json::json!({
                    "customer": {"kind": "person", "name": "Solar home", "phones": []},
                    "premises_id": e.unit_a.id.to_string(),
                    "currency": "CNY",
                    "meters": [{"new": {"serial": "SHS-UI-1", "utility": "electricity", "protocol": "openpaygo", "address": "SHSUI1"},
                                "openpaygo": {"secret_key": "a29ab82edc5fbbc41ec9530f6dac86b1", "starting_code": 123456789, "unit": "day", "price_per_unit": "2.50"}}]
                }),
            ),
        )
        .await
        .ok();
    let device = opened["meter_ids"][0].as_str().unwrap().to_string();
    let html = text(&api.send(page(&format!("/ui/meters/{device}"), &engineer)).await);
    let action = format!("/ui/meters/{device}/openpaygo-tokens");
    let form = |extra: &str| format!("csrf={}&key={}{extra}", field(&html, "csrf"), field_in(&html, &action, "key"));
    let r = api.send(form_req(&action, &form("&opg_kind=set_time&opg_units=soon&opg_reason=x"), &engineer)).await;
    assert_eq!(r.status.as_u16(), 422);
    assert!(text(&r).contains("id=\"opg-units-error\""));
    let r =
        api.send(form_req(&action, &form("&opg_kind=set_time&opg_units=7&opg_reason=a+week+granted"), &engineer)).await;
    assert_eq!(r.status.as_u16(), 200, "{}", text(&r));
    let tokens = api
        .send(api.as_(
            voltvend_domain::BuiltinRole::Administrator,
            'g',
            Method::GET,
            &format!("/api/v1/meters/{device}/tokens"),
        ))
        .await
        .ok();
    let issued = tokens["items"][0]["tokens"][0].as_str().unwrap().to_string();
    assert!(
        text(&r).contains(&format!(">{}<", voltvend_server::ui::group_token(&issued))),
        "the page shows the issued token"
    );
}

/// IC cards through the pages, with the counter's virtual reader and the simulated meter beside it: a field
/// engineer's parameter card opens the account on the meter; the cashier puts a blank card in, issues it,
/// sells onto it (the sale page says it was written), takes it to the meter (which loads it) and reads it
/// back; a card of another building's meter is not shown.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ic_card_is_issued_sold_onto_loaded_at_the_meter_and_read_back_from_the_pages() {
    let mut api = Api::new().await;
    let mut estate = api.estate.clone();
    let (meter, account, ops) = estate.ic_card_setup(voltvend_testkit::estate::CARD_METER_NO, true);
    for op in ops {
        api.store.submit(op).await.unwrap();
    }
    let scope = api.estate.building_a.id;
    let (_, cashier) = session(&mut api, "ui.card.cashier", "cashier", scope).await;
    let (_, engineer) = session(&mut api, "ui.card.engineer", "field_engineer", scope).await;
    open_shift(&api, &cashier).await;
    let meter_page = format!("/ui/meters/{meter}");
    let virtual_form = |html: &str, action: &str| {
        format!("csrf={}&back=%2Fui%2Fmeters%2F{meter}&action={action}", field(html, "csrf"))
    };

    // The field engineer: a blank card, a parameter card written on it, taken to the meter (account opened).
    let html = text(&api.send(page(&meter_page, &engineer)).await);
    assert!(html.contains("id=\"no-card\"") && html.contains("id=\"virtual-reader\""), "{html}");
    let r = text(&api.send(form_req("/ui/card-reader/virtual", &virtual_form(&html, "new"), &engineer)).await);
    assert!(in_reader(&r).is_some(), "a new blank card in the reader: {r}");
    let form = format!(
        "csrf={}&key={}&action=field&kind=parameter&alarm1=5&alarm2=1",
        field(&html, "csrf"),
        field_in(&html, &format!("/ui/meters/{meter}/card"), "key")
    );
    let r = text(&api.send(form_req(&format!("/ui/meters/{meter}/card"), &form, &engineer)).await);
    assert!(r.contains("id=\"card-notice\""), "{r}");
    let r = text(&api.send(form_req("/ui/card-reader/virtual", &virtual_form(&html, "meter"), &engineer)).await);
    assert!(r.contains("id=\"card-notice\"") && r.contains(voltvend_testkit::estate::CARD_METER_NO), "{r}");
    // A field engineer issues no customer cards.
    assert!(!r.contains("id=\"issue-card\""));

    // The cashier: the parameter card out, a new blank card in, issued to the meter.
    let html = text(&api.send(page(&meter_page, &cashier)).await);
    api.send(form_req("/ui/card-reader/virtual", &virtual_form(&html, "eject"), &cashier)).await;
    let r = text(&api.send(form_req("/ui/card-reader/virtual", &virtual_form(&html, "new"), &cashier)).await);
    let blank = in_reader(&r).expect("a new blank card in the reader");
    let form = format!(
        "csrf={}&key={}&action=issue&card_reason=",
        field(&html, "csrf"),
        field_in(&html, &format!("/ui/meters/{meter}/card"), "key")
    );
    let r = text(&api.send(form_req(&format!("/ui/meters/{meter}/card"), &form, &cashier)).await);
    assert!(r.contains(&format!("id=\"card-serial\">{blank}<")) && r.contains("id=\"card-sold\">0<"), "{r}");

    // A sale through the account page: the sale page says the purchase is on the card.
    let account_html = text(&api.send(page(&format!("/ui/accounts/{account}"), &cashier)).await);
    let csrf = field(&account_html, "csrf");
    let quote = format!("csrf={csrf}&meter_id={meter}&amount=6.00&method=cash");
    let confirm = text(&api.send(form_req(&format!("/ui/accounts/{account}/quote"), &quote, &cashier)).await);
    let sell = format!(
        "csrf={csrf}&key={}&account_id={account}&meter_id={meter}&method=cash&amount=6.00&quantity=&reference=",
        field(&confirm, "key")
    );
    let sold = api.send(form_req("/ui/sales", &sell, &cashier)).await;
    assert_eq!(sold.status.as_u16(), 303, "{}", text(&sold));
    let location = sold.headers["location"].to_str().unwrap().to_string();
    assert!(location.ends_with("?card=written"), "{location}");
    let sale = text(&api.send(page(&location, &cashier)).await);
    assert!(sale.contains("id=\"card-written\"") && sale.contains("id=\"card-pending\""), "{sale}");

    // To the meter: purchase 1 loaded; read back at the counter: recorded, nothing pending.
    let r = text(&api.send(form_req("/ui/card-reader/virtual", &virtual_form(&html, "meter"), &cashier)).await);
    assert!(r.contains("id=\"card-notice\""), "{r}");
    let read_form =
        format!("csrf={}&key={}&meter_id=", field(&html, "csrf"), field_in(&html, "/ui/card-reader/read", "key"));
    let read = text(&api.send(form_req("/ui/card-reader/read", &read_form, &cashier)).await);
    assert!(read.contains("id=\"read-recorded\"") && read.contains(&format!("/ui/accounts/{account}")), "{read}");
    let after = text(&api.send(page(&meter_page, &cashier)).await);
    assert!(after.contains("id=\"card-loaded\">1<") && !after.contains("id=\"card-pending\""), "{after}");

    // Building B's cashier: the card in A's reader is not theirs to read (their own counter has its own reader).
    let scope_b = api.estate.building_b.id;
    let (_, cashier_b) = session(&mut api, "ui.card.cashier.b", "cashier", scope_b).await;
    let b_card = text(&api.send(page(&meter_page, &cashier_b)).await);
    assert!(!b_card.contains("id=\"card-serial\""), "another building's meter is not shown");
}

/// The serial of the card a page shows in the virtual reader (16 hex digits), if any.
fn in_reader(html: &str) -> Option<String> {
    let start = html.find("id=\"in-reader\">")? + "id=\"in-reader\">".len();
    let serial: String = html[start..].chars().take_while(|c| *c != '<').collect();
    (serial.len() == 16 && serial.chars().all(|c| c.is_ascii_hexdigit())).then_some(serial)
}

/// A flagged reading on the meter page: the engineer of its building reviews it there and bills the jump found
/// real; the form needs a reason, a cashier is not offered it, and once billed the form is gone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flagged_reading_is_reviewed_on_the_meter_page() {
    let mut api = Api::new().await;
    let (fleet, _headend, port, address) = super::supply::connected(&mut api).await;
    let e = api.estate.clone();
    let scope = e.building_a.id;
    let meter = e.remote_meter;
    super::supply::wired_and_paid(&api, port, "200.00").await;
    let read = |api: &Api| {
        api.as_(voltvend_domain::BuiltinRole::Manager, 'a', Method::POST, &format!("/api/v1/meters/{meter}/read"))
    };
    let before = api.send(read(&api)).await.ok()["balance_after_minor"].as_str().unwrap().to_string();
    fleet.lock().unwrap().meter_mut(&address).unwrap().set_registers_wh(2_300_000);
    api.clock.advance(jiff::SignedDuration::from_hours(1));
    assert_eq!(api.send(read(&api)).await.ok()["flagged"].as_u64(), Some(1));
    // Logged in after the clock moved, so their sessions are fresh.
    let (_, engineer) = session(&mut api, "ui.review.engineer", "field_engineer", scope).await;
    let (_, manager) = session(&mut api, "ui.review.manager", "manager", scope).await;
    let (_, cashier) = session(&mut api, "ui.review.cashier", "cashier", scope).await;

    let path = format!("/ui/meters/{meter}");
    let action = format!("/ui/meters/{meter}/review");
    assert!(!text(&api.send(page(&path, &cashier)).await).contains(&action), "a cashier reviews nothing");
    // The engineer may rebase but is not offered billing (a money decision); the manager is.
    let html = text(&api.send(page(&path, &engineer)).await);
    assert!(html.contains(&action) && !html.contains("id=\"review-bill\""), "the engineer rebases only");
    let html = text(&api.send(page(&path, &manager)).await);
    let form = |reason: &str| {
        format!(
            "csrf={}&key={}&at={}&bill=true&review_reason={reason}",
            field_in(&html, &action, "csrf"),
            field_in(&html, &action, "key"),
            field_in(&html, &action, "at").replace(':', "%3A").replace('+', "%2B"),
        )
    };
    let r = api.send(form_req(&action, &form(""), &manager)).await;
    assert!(text(&r).contains("id=\"review-reason-error\""), "a reason is asked for");
    let r = api.send(form_req(&action, &form("kiln+firing+seen+on+site"), &manager)).await;
    assert_eq!(r.status.as_u16(), 303, "{}", text(&r));
    // 300 kWh × 0.60 = 180.00 debited by the review.
    let account = api
        .send(api.as_(
            voltvend_domain::BuiltinRole::ReadOnly,
            'a',
            Method::GET,
            &format!("/api/v1/accounts/{}", e.account_a),
        ))
        .await
        .ok();
    let balance = account["balance"]["minor"].as_str().map(str::to_string);
    assert_eq!(balance, Some((before.parse::<i64>().unwrap() - 18_000).to_string()), "{account}");
    assert!(!text(&api.send(page(&path, &manager)).await).contains(&action), "reviewed: the form is gone");
}

#[tokio::test]
async fn online_payments_are_followed_from_their_page() {
    let mut api = Api::new().await;
    let e = api.estate.clone();
    let admin = voltvend_domain::BuiltinRole::Administrator;
    let channel = api
        .send(api.as_(admin, 'g', Method::POST, "/api/v1/payment-channels").fresh_key().json(serde_json::json!({
            "provider": "wechat_pay", "name": "微信支付 Riverside", "premises_id": e.property.id.to_string(), "currency": "CNY",
        })))
        .await
        .ok()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let intent = api
        .send(
            api.as_(voltvend_domain::BuiltinRole::Cashier, 'a', Method::POST, "/api/v1/payment-intents")
                .fresh_key()
                .json(serde_json::json!({"channel_id": channel, "account_id": e.account_a.to_string(),
                "meter_id": e.remote_meter.to_string(), "amount": "30.00"})),
        )
        .await
        .ok();
    let order_no = intent["order_no"].as_str().unwrap().to_string();
    let (_, manager) = session(&mut api, "pay.manager", "manager", e.property.id).await;
    let html = text(&api.send(page("/ui/payments?status=open", &manager)).await);
    assert!(html.contains("微信支付 Riverside") && html.contains(&order_no), "{html}");
    assert!(!html.contains("/query\""), "a manager does not sell, so does not ask the provider: {html}");
    // Today's position per provider: nothing collected yet, nothing owed.
    let position = html.split("id=\"position\"").nth(1).unwrap_or_else(|| panic!("no position table: {html}"));
    assert!(position.contains("data-provider=\"wechat_pay\""), "{position}");
    // A cashier asks the provider now; this channel has no credentials here, and the page says so.
    let (_, cashier) = session(&mut api, "pay.cashier", "cashier", e.building_a.id).await;
    let html = text(&api.send(page("/ui/payments?status=open", &cashier)).await);
    let action = format!("/ui/payments/{}/query", intent["id"].as_str().unwrap());
    let csrf = field_in(&html, &action, "csrf");
    let r = api.send(form_req(&action, &format!("csrf={csrf}"), &cashier)).await;
    assert!(text(&r).contains("data-code=\"payment_query_unconfigured\""), "{}", text(&r));
    // A field engineer has no payments page.
    let (_, engineer) = session(&mut api, "pay.engineer", "field_engineer", e.building_a.id).await;
    assert_eq!(api.send(page("/ui/payments", &engineer)).await.status.as_u16(), 403);

    // 对账单: the manager imports the provider's bill of the day as downloaded (here in GBK); the day's
    // reconciliation shows the payment the provider took for the intent we still hold open.
    let html = text(&api.send(page("/ui/payments/statements", &manager)).await);
    assert!(html.contains("id=\"import\"") && html.contains("id=\"no-statement\""), "{html}");
    assert!(html.contains("value=\"2026-11-22\""), "yesterday by default: {html}");
    let bill = format!(
        "交易时间,公众账号ID,商户号,特约商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,交易状态,付款银行,货币种类,应结订单金额,\
         代金券金额,微信退款单号,商户退款单号,退款金额,充值券退款金额,退款类型,退款状态,商品名称,商户数据包,手续费,费率,订单金额,\
         申请退款金额,费率备注\r\n`2026-11-23 16:01:00,`wx1,`1900000109,`0,`,`4200000001,`{order_no},`o1,`NATIVE,`SUCCESS,\
         `OTHERS,`CNY,`30.00,`0.00,`0,`0,`0.00,`0.00,`,`,`电费,`,`0.18000,`0.60%,`30.00,`0.00,`\r\n"
    );
    let (gbk, _, lossy) = encoding_rs::GBK.encode(&bill);
    assert!(!lossy && std::str::from_utf8(&gbk).is_err(), "a GBK file");
    let upload = |csrf: &str, key: &str, file: &[u8], cookie: &str| {
        let boundary = "----voltvend-statement";
        let mut body = Vec::new();
        for (name, value) in [("csrf", csrf), ("key", key), ("channel", channel.as_str()), ("date", "2026-11-23")] {
            body.extend(
                format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n").bytes(),
            );
        }
        body.extend(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"bill.csv\"\r\n\
                     Content-Type: text/csv\r\n\r\n"
            )
            .bytes(),
        );
        body.extend_from_slice(file);
        body.extend(format!("\r\n--{boundary}--\r\n").bytes());
        Req::new(Method::POST, "/ui/payments/statements")
            .header("content-type", &format!("multipart/form-data; boundary={boundary}"))
            .header("cookie", cookie)
            .body_bytes(body)
    };
    let (csrf, key) = (field_in(&html, "/ui/payments/statements", "csrf"), field(&html, "key"));
    // A form from elsewhere (another CSRF token) is refused and keeps nothing.
    let r = api.send(upload("forged", &key, &gbk, &manager)).await;
    assert_eq!(r.status.as_u16(), 403, "{}", text(&r));
    let day = format!("/ui/payments/statements?channel={channel}&date=2026-11-23");
    assert!(text(&api.send(page(&day, &manager)).await).contains("id=\"no-statement\""));
    // An empty file is refused, naming the file.
    let r = api.send(upload(&csrf, &key, b"", &manager)).await;
    assert!(text(&r).contains("id=\"file-error\""), "{}", text(&r));
    let r = api.send(upload(&csrf, &key, &gbk, &manager)).await;
    assert_eq!(r.status.as_u16(), 303, "{}", text(&r));
    let shown = r.headers.get("location").unwrap().to_str().unwrap().to_string();
    assert_eq!(shown, format!("/ui/payments/statements?channel={channel}&date=2026-11-23"));
    let html = text(&api.send(page(&shown, &manager)).await);
    let differences = html.split("id=\"differences\"").nth(1).unwrap_or_else(|| panic!("no differences: {html}"));
    assert!(differences.contains("data-kind=\"not_in_ledger\"") && differences.contains(&order_no), "{differences}");
    assert!(html.contains("id=\"statement-side\">1 · 30.00 CNY"), "{html}");
    // A cashier reads the reconciliation but is offered no import, and an upload by one is refused.
    let (_, cashier) = session(&mut api, "pay.cashier2", "cashier", e.property.id).await;
    let html = text(&api.send(page(&shown, &cashier)).await);
    assert!(html.contains("id=\"differences\"") && !html.contains("id=\"import\""), "{html}");
    let r = api.send(upload(&field(&html, "csrf"), "k2", &gbk, &cashier)).await;
    assert_eq!(r.status.as_u16(), 403, "{}", text(&r));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn common_areas_are_shared_from_their_pages_in_both_languages() {
    use serde_json::json;
    let mut api = Api::new().await;
    let property = api.estate.property.id;
    let (_, manager) = session(&mut api, "ui.apportion.manager", "manager", property).await;
    let (_, cashier) = session(&mut api, "ui.apportion.cashier", "cashier", property).await;
    let e = api.estate.clone();
    let block_a = e.building_a.id.to_string();
    let as_manager = |path: &str, body: serde_json::Value| {
        api.as_(voltvend_domain::BuiltinRole::Manager, 'a', Method::POST, path).fresh_key().json(body)
    };
    api.send(as_manager("/api/v1/premises", json!({"parent_id": block_a, "level": "unit", "name": "A-102"})))
        .await
        .ok();
    let mut meters = Vec::new();
    for (serial, address) in [("INCOMER-A", "000000000901"), ("LIGHTS-A", "000000000902")] {
        let body = json!({"serial": serial, "utility": "electricity", "protocol": "dlt645", "address": address, "premises_id": block_a});
        let id = api.send(as_manager("/api/v1/meters", body)).await.ok()["id"].as_str().unwrap().to_string();
        api.send(as_manager(&format!("/api/v1/meters/{id}/install"), json!({"premises_id": block_a}))).await.ok();
        meters.push(id.parse::<uuid::Uuid>().unwrap().into());
    }
    for (meter, kwh) in
        [(meters[0], [1_000, 1_500, 1_600]), (meters[1], [0, 120, 130]), (e.remote_meter, [1_000, 1_300, 1_350])]
    {
        for (at, v) in ["2026-09-30T15:00:00Z", "2026-10-15T00:00:00Z", "2026-10-31T16:00:00Z"].iter().zip(kwh) {
            super::lifecycle::read(&api, meter, at, v).await;
        }
    }
    // A cashier does not see the page; the manager makes a rule from it (a unit not in the site is refused).
    assert_eq!(api.send(page("/ui/apportionment", &cashier)).await.status.as_u16(), 403);
    let html = text(&api.send(page("/ui/apportionment", &manager)).await);
    let form = |units: &str| {
        format!(
            "csrf={}&key={}&name=Block+A&site={block_a}&utility=electricity&pool=common_and_loss&basis=floor_area&price=0.60&currency=CNY&parent=INCOMER-A&common=LIGHTS-A&units={}",
            field_in(&html, "/ui/apportionment", "csrf"),
            field(&html, "key"),
            units
                .bytes()
                .map(|b| if b.is_ascii_alphanumeric() { (b as char).to_string() } else { format!("%{b:02X}") })
                .collect::<String>()
        )
    };
    let r = api.send(form_req("/ui/apportionment", &form("A-101, 85.50\nB-101, 60"), &manager)).await;
    assert_eq!(r.status.as_u16(), 404, "{}", text(&r));
    assert!(text(&r).contains("id=\"units-error\""), "{}", text(&r));
    let r = api.send(form_req("/ui/apportionment", &form("A-101, 85.50\nA-102\t120"), &manager)).await;
    assert_eq!(r.status.as_u16(), 303, "{}", text(&r));
    let rule_page = r.headers["location"].to_str().unwrap().to_string();
    let october = format!("{rule_page}?period=2026-10");
    let html = text(&api.send(page(&october, &manager)).await);
    assert!(html.contains("data-status=\"preview\""), "{html}");
    assert!(html.contains("80.000 kWh (16.00 %)"), "{html}");
    assert!(html.contains("id=\"amount\">120.00 CNY"), "{html}");
    // Posted from the page: then shown as posted, without the button.
    let post = format!(
        "csrf={}&key={}&period=2026-10",
        field_in(&html, &format!("{}/post", rule_page), "csrf"),
        field_in(&html, &format!("{}/post", rule_page), "key")
    );
    let r = api.send(form_req(&format!("{rule_page}/post"), &post, &manager)).await;
    assert_eq!(r.status.as_u16(), 303, "{}", text(&r));
    let html = text(&api.send(page(&october, &manager)).await);
    assert!(html.contains("data-status=\"posted\"") && !html.contains("id=\"post-month\""), "{html}");
    // Posting the same month again (another key) is refused on the page.
    let again = post.replace("&period", "x&period");
    let r = api.send(form_req(&format!("{rule_page}/post"), &again, &manager)).await;
    assert_eq!(r.status.as_u16(), 409, "{}", text(&r));
    // A-101's statement, in Chinese too.
    let statement = format!("{rule_page}/2026-10/{}", e.unit_a.id);
    let html = text(&api.send(page(&statement, &manager)).await);
    assert!(html.contains("id=\"step-share\">49.93 CNY") && html.contains("id=\"step-weight\">85.50"), "{html}");
    let csrf = field(&text(&api.send(page("/ui/", &manager)).await), "csrf");
    api.send(form_req("/ui/language", &format!("csrf={csrf}&lang=zh-CN&next=%2Fui%2F"), &manager)).await;
    let html = text(&api.send(page(&statement, &manager)).await);
    assert!(html.contains("公摊明细") && html.contains("向下取整到分"), "{html}");
    let html = text(&api.send(page(&october, &manager)).await);
    assert!(html.contains("线损") && html.contains("已入账"), "{html}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn energy_is_analysed_by_category_from_its_page() {
    let mut api = Api::new().await;
    let property = api.estate.property.id;
    let (_, manager) = session(&mut api, "ui.energy.manager", "manager", property).await;
    let e = api.estate.clone();
    for (at, kwh) in [("2026-09-30T15:00:00Z", 1_000), ("2026-10-15T00:00:00Z", 1_250)] {
        super::lifecycle::read(&api, e.remote_meter, at, kwh).await;
    }
    // The meter's maximum-demand register: 48.2 kW at 20:00 on the 14th.
    let demand = Some((48_200, "2026-10-14T12:00:00Z"));
    super::lifecycle::read_with_demand(&api, e.remote_meter, "2026-10-15T01:00:00Z", 1_250, demand).await;
    let serial = api
        .send(api.as_(
            voltvend_domain::BuiltinRole::Manager,
            'a',
            Method::GET,
            &format!("/api/v1/meters/{}", e.remote_meter),
        ))
        .await
        .ok()["serial"]
        .as_str()
        .unwrap()
        .to_string();
    let html = text(&api.send(page("/ui/energy?month=2026-10", &manager)).await);
    assert!(html.contains("id=\"energy\""), "{html}");
    // The load curve: October 15th's 250 kWh over its 24 hours, the month's peak day.
    assert!(html.contains("id=\"load-curve\"") && html.contains("<svg"), "{html}");
    assert!(html.contains("10.416 kW</strong> (2026-10-15, 250.000 kWh)"), "{html}");
    let measured = &html[html.find("id=\"measured-peaks-table\"").expect("the measured peaks")..];
    assert!(measured.contains("48.200 kW</td><td>2026-10-14T20:00"), "{measured}");
    let form = |serial: &str| {
        format!(
            "csrf={}&key={}&serial={serial}&category=hvac&sub_item=office+AC",
            field_in(&html, "/ui/energy", "csrf"),
            field(&html, "key")
        )
    };
    let r = api.send(form_req("/ui/energy", &form("NO-SUCH-METER"), &manager)).await;
    assert_eq!(r.status.as_u16(), 404);
    assert!(text(&r).contains("id=\"serial-error\""), "{}", text(&r));
    let r = api.send(form_req("/ui/energy", &form(&serial), &manager)).await;
    assert_eq!(r.status.as_u16(), 303, "{}", text(&r));
    let csrf = field(&text(&api.send(page("/ui/", &manager)).await), "csrf");
    api.send(form_req("/ui/language", &format!("csrf={csrf}&lang=en&next=%2Fui%2F"), &manager)).await;
    let html = text(&api.send(page("/ui/energy?month=2026-10&group_by=category", &manager)).await);
    assert!(
        html.contains("data-key=\"hvac\"") && html.contains("air conditioning") && html.contains("250.000 kWh"),
        "{html}"
    );
    assert!(html.contains("<svg"), "the chart");
    let html = text(&api.send(page("/ui/energy?month=2026-10&group_by=sub_item", &manager)).await);
    assert!(html.contains("office AC"), "{html}");
    // The property's books, from its manager: they balance, and the group's (here, this property) are their sum;
    // this month's 25.00 sale reconciles with the ledger for the property.
    let mut estate = api.estate.clone();
    api.store.submit(estate.remote_sale(2_500)).await.unwrap();
    let html = text(&api.send(page("/ui/books?month=2026-11", &manager)).await);
    assert!(html.contains("data-balanced=\"true\"") && html.contains("energy revenue"), "{html}");
    assert!(!html.contains("data-ok=\"false\""), "{html}");
    let table = &html[html.find("id=\"reconciliation\"").expect("the reconciliation")..];
    assert!(table.contains(&api.estate.property.name) && table.contains("25.00"), "{table}");
    assert!(table.contains("data-reconciles=\"true\"") && !table.contains("data-reconciles=\"false\""), "{table}");
    let html = text(&api.send(page("/ui/books?month=2026-13", &manager)).await);
    assert!(html.contains("data-code=\"bad_period\""), "{html}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rent_is_charged_and_collected_from_the_pages() {
    let mut api = Api::new().await;
    let property = api.estate.property.id;
    let (_, manager) = session(&mut api, "ui.fees.manager", "manager", property).await;
    let block = api.estate.building_a.id;
    let (_, cashier) = session(&mut api, "ui.fees.cashier", "cashier", block).await;
    let e = api.estate.clone();
    let block_a = e.building_a.id.to_string();
    let esc = |s: &str| {
        s.bytes()
            .map(|b| if b.is_ascii_alphanumeric() { (b as char).to_string() } else { format!("%{b:02X}") })
            .collect::<String>()
    };
    // The manager sets A-101's floor area and makes a fee from the page; a due day of 31 is refused by its field.
    let html = text(&api.send(page("/ui/fees", &manager)).await);
    assert!(html.contains("id=\"no-schedules\"") && html.contains("id=\"create-schedule\""), "{html}");
    let csrf = field_in(&html, "/ui/fees", "csrf");
    let key = field(&html, "key");
    let area = format!("csrf={csrf}&key={key}a&form=area&unit={}&area=85.50", e.unit_a.id);
    let r = api.send(form_req("/ui/fees", &area, &manager)).await;
    assert_eq!(r.status.as_u16(), 303, "{}", text(&r));
    let schedule = |due: &str, k: &str| {
        format!(
            "csrf={csrf}&key={key}{k}&form=schedule&name={}&site={block_a}&basis=per_m2&rate=3.50&currency=CNY&due_day={due}",
            esc("物业费")
        )
    };
    let r = api.send(form_req("/ui/fees", &schedule("31", "b"), &manager)).await;
    assert_eq!(r.status.as_u16(), 422, "{}", text(&r));
    assert!(text(&r).contains("id=\"due-day-error\""), "{}", text(&r));
    let r = api.send(form_req("/ui/fees", &schedule("10", "c"), &manager)).await;
    assert_eq!(r.status.as_u16(), 303, "{}", text(&r));
    let schedule_page = r.headers["location"].to_str().unwrap().to_string();
    // October previewed, then issued from the page: shown as issued, without the button.
    let october = format!("{schedule_page}?period=2026-10");
    let html = text(&api.send(page(&october, &manager)).await);
    assert!(html.contains("data-status=\"preview\"") && html.contains("id=\"total\">299.25 CNY"), "{html}");
    let issue = format!(
        "csrf={}&key={}&period=2026-10",
        field_in(&html, &format!("{schedule_page}/issue"), "csrf"),
        field_in(&html, &format!("{schedule_page}/issue"), "key")
    );
    let r = api.send(form_req(&format!("{schedule_page}/issue"), &issue, &manager)).await;
    assert_eq!(r.status.as_u16(), 303, "{}", text(&r));
    let html = text(&api.send(page(&october, &manager)).await);
    assert!(html.contains("data-status=\"issued\"") && !html.contains("id=\"issue-month\""), "{html}");
    assert!(html.contains("class=\"badge warn\""), "overdue on 2026-11-23: {html}");
    // 催缴 from the page: October is overdue, so it may be dunned, once (no late fee on this schedule).
    let dun_action = format!("{schedule_page}/dun");
    let dun = format!(
        "csrf={}&key={}&period=2026-10",
        field_in(&html, &dun_action, "csrf"),
        field_in(&html, &dun_action, "key")
    );
    let r = api.send(form_req(&dun_action, &dun, &manager)).await;
    assert_eq!(r.status.as_u16(), 303, "{}", text(&r));
    let html = text(&api.send(page(&october, &manager)).await);
    assert!(html.contains("id=\"dunned\"") && !html.contains("id=\"dun-month\""), "{html}");
    assert!(html.contains("/api/v1/reports/bills?schedule_id="), "the month's export: {html}");
    // A late fee beyond 100 % is refused by its field; a postpaid cycle may have no standing charge.
    let late = format!("{}&late_fee=120", schedule("10", "e"));
    let r = api.send(form_req("/ui/fees", &late, &manager)).await;
    assert_eq!(r.status.as_u16(), 422, "{}", text(&r));
    assert!(text(&r).contains("id=\"late-fee-error\""), "{}", text(&r));
    let postpaid = schedule("10", "f").replace("basis=per_m2&rate=3.50", "basis=postpaid&rate=0") + "&late_fee=5";
    let r = api.send(form_req("/ui/fees", &postpaid, &manager)).await;
    assert_eq!(r.status.as_u16(), 303, "{}", text(&r));
    let cycle_page = r.headers["location"].to_str().unwrap().to_string();
    let html = text(&api.send(page(&cycle_page, &manager)).await);
    assert!(html.contains("id=\"late-fee-percent\">5.00") && html.contains("id=\"not-postpaid\""), "{html}");
    // Block A takes 30 % of each purchase for overdue fees.
    let policy = format!("csrf={csrf}&key={key}d&form=policy&site={block_a}&policy=share_of_purchase&share=30");
    let r = api.send(form_req("/ui/fees", &policy, &manager)).await;
    assert_eq!(r.status.as_u16(), 303, "{}", text(&r));
    let html = text(&api.send(page("/ui/fees", &manager)).await);
    assert!(html.contains("id=\"policies\"") && html.contains("30.00 %"), "{html}");

    // The cashier sees A-101's fees on its page and takes 100.00 of them: the receipt prints next.
    open_shift(&api, &cashier).await;
    let account_page = format!("/ui/accounts/{}", e.account_a);
    let html = text(&api.send(page(&account_page, &cashier)).await);
    assert!(html.contains("id=\"fees-owed\">299.25 CNY") && html.contains("id=\"pay-fees\""), "{html}");
    let action = format!("/ui/accounts/{}/fees", e.account_a);
    let pay = format!(
        "csrf={}&key={}&fee_amount=100.00&fee_method=cash&fee_reference=",
        field_in(&html, &action, "csrf"),
        field_in(&html, &action, "key")
    );
    let r = api.send(form_req(&action, &pay, &cashier)).await;
    assert_eq!(r.status.as_u16(), 303, "{}", text(&r));
    let receipt = r.headers["location"].to_str().unwrap().to_string();
    assert!(receipt.starts_with("/ui/fee-receipts/"), "{receipt}");
    let html = text(&api.send(page(&receipt, &cashier)).await);
    assert!(html.contains("房租物业费收据") && html.contains("100.00") && html.contains("print.js"), "{html}");
    // More than is owed is refused on the account page; the page shows what is left and the payment.
    let too_much = pay.replace("fee_amount=100.00", "fee_amount=500.00").replace("&key=", "&key=x");
    let r = api.send(form_req(&action, &too_much, &cashier)).await;
    assert_eq!(r.status.as_u16(), 409, "{}", text(&r));
    assert!(text(&r).contains("data-code=\"fees_overpaid\""), "{}", text(&r));
    let csrf = field(&text(&api.send(page("/ui/", &cashier)).await), "csrf");
    api.send(form_req("/ui/language", &format!("csrf={csrf}&lang=en&next=%2Fui%2F"), &cashier)).await;
    let html = text(&api.send(page(&account_page, &cashier)).await);
    assert!(html.contains("Rent and fees") && html.contains("id=\"fees-owed\">199.25 CNY"), "{html}");
    assert!(html.contains("id=\"fee-payments\"") && html.contains("a share of each purchase"), "{html}");
    // A cashier does not manage fees.
    assert_eq!(api.send(page("/ui/fees", &cashier)).await.status.as_u16(), 403);

    // 收费纠错 from the account page: the cashier asks for the 100.00 to be reversed (a reason is required), the
    // manager approves it on the approvals page, and the page shows it reversed with the rent owed again.
    let prefix = format!("/ui/accounts/{}/fee-payments/", e.account_a);
    let at = html.find(&prefix).unwrap_or_else(|| panic!("no reversal form: {html}"));
    let reverse = html[at..].split('"').next().unwrap().to_string();
    assert!(reverse.ends_with("/reverse"), "{reverse}");
    let ask = |reason: &str| {
        format!(
            "csrf={}&key={}&fee_reverse_reason={reason}",
            field_in(&html, &reverse, "csrf"),
            field_in(&html, &reverse, "key")
        )
    };
    let r = api.send(form_req(&reverse, &ask(""), &cashier)).await;
    assert_eq!(r.status.as_u16(), 422, "{}", text(&r));
    assert!(text(&r).contains("id=\"fee-reverse-error\""), "{}", text(&r));
    let r = api.send(form_req(&reverse, &ask("wrong+account"), &cashier)).await;
    assert_eq!((r.status.as_u16(), r.headers["location"].to_str().unwrap()), (303, "/ui/approvals"));
    let approvals = text(&api.send(page("/ui/approvals", &manager)).await);
    assert!(approvals.contains("reverse a rent or bill payment") || approvals.contains("冲正收费"), "{approvals}");
    let at = approvals.find("/ui/corrections/").unwrap();
    let approve = approvals[at..].split('"').next().unwrap().to_string();
    assert!(approve.ends_with("/approve"), "{approve}");
    let form = format!(
        "csrf={}&key={}&status=pending",
        field_in(&approvals, &approve, "csrf"),
        field_in(&approvals, &approve, "key")
    );
    let r = api.send(form_req(&approve, &form, &manager)).await;
    assert_eq!(r.status.as_u16(), 303, "{}", text(&r));
    let html = text(&api.send(page(&account_page, &cashier)).await);
    assert!(html.contains("id=\"fees-owed\">299.25 CNY") && html.contains("class=\"badge warn reversed\""), "{html}");
    // The money owed back is rent money: the refunds page offers to credit it as a fee payment, not a sale.
    let refunds = text(&api.send(page("/ui/refunds", &manager)).await);
    assert!(refunds.contains("It becomes a fee payment") || refunds.contains("将生成一笔收费记录"), "{refunds}");
    // 减免 asked for from the manager's account page names the charge; without one it is refused next to the
    // field.
    let html = text(&api.send(page(&account_page, &manager)).await);
    let action = format!("/ui/accounts/{}/correction", e.account_a);
    let reduce = |charge: &str| {
        format!(
            "csrf={}&key={}&kind=adjust_charge&correction_charge={charge}&correction_amount=50.00&correction_reason=vacant",
            field_in(&html, &action, "csrf"),
            field_in(&html, &action, "key")
        )
    };
    let r = api.send(form_req(&action, &reduce(""), &manager)).await;
    assert_eq!(r.status.as_u16(), 422, "{}", text(&r));
    assert!(text(&r).contains("id=\"correction-charge-error\""), "{}", text(&r));
    let options = &html[html.find("id=\"correction-charge\"").unwrap()..];
    let first = options.split("<option value=\"").nth(2).unwrap().split('"').next().unwrap().to_string();
    assert!(first.ends_with("/2026-10"), "{first}");
    let r = api.send(form_req(&action, &reduce(&esc(&first)), &manager)).await;
    assert_eq!((r.status.as_u16(), r.headers["location"].to_str().unwrap()), (303, "/ui/approvals"));
}
