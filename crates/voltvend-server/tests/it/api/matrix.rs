//! Every endpoint, called by every built-in role from two scopes (building A and building B) on something in
//! building A, against one table of expectations: the role's permission decides 403 `forbidden` or not; the
//! scope decides whether the thing is seen (404 `not_found` from B, as if it did not exist). A new endpoint
//! without a row here fails the test.

use axum::http::Method;
use serde_json::{Value, json};
use voltvend_domain::BuiltinRole;
use voltvend_server::api::{Access, endpoints};

use super::{Api, Req};

/// How the scope shows on an endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Scoped {
    /// The request names something in building A: from B it is not found.
    Object,
    /// The same, but only an operator with the permission sees it at all (someone else's API token).
    ObjectOf(voltvend_domain::Permission),
    /// A list: from B it does not contain the item of A.
    List(String),
    /// Not tied to premises (one's own session, tariffs, roles…).
    Global,
}

struct Fixture {
    sale: String,
    refused: String,
    shift_b_cashier: String,
    sts_meter: String,
    opg_meter: String,
    token_of_a: String,
    operator_a: String,
}

/// Things in building A every request can name.
async fn fixture(api: &Api) -> Fixture {
    let cashier = BuiltinRole::Cashier;
    let e = &api.estate;
    let sale = api
        .send(api.as_(cashier, 'a', Method::POST, "/api/v1/sales").fresh_key().json(json!({
            "account_id": e.account_a.to_string(), "meter_id": e.remote_meter.to_string(), "method": "cash", "amount": "20.00"
        })))
        .await
        .ok()["id"]
        .as_str()
        .unwrap()
        .to_string();
    // Below the minimum purchase: refused after the money was taken.
    let refused = api
        .send(api.as_(cashier, 'a', Method::POST, "/api/v1/sales").fresh_key().json(json!({
            "account_id": e.account_a.to_string(), "meter_id": e.remote_meter.to_string(), "method": "cash", "amount": "0.50"
        })))
        .await;
    assert_eq!(refused.code(), "below_minimum_purchase", "{:?}", refused.json());
    let refused = refused.json()["details"]["refused_payment_id"].as_str().unwrap().to_string();
    // An STS keypad meter and an OpenPAYGO device in A-101, on a second account opened through the API.
    let admin = BuiltinRole::Administrator;
    let opened = api
        .send(api.as_(admin, 'a', Method::POST, "/api/v1/accounts").fresh_key().json(json!({
            "customer": {"kind": "company", "name": "Kiosk A 小卖部", "phones": ["0571 1234 5678"]},
            "premises_id": e.unit_a.id.to_string(),
            "currency": "CNY",
            "meters": [
                {"new": {"serial": "STS-A-1", "utility": "electricity", "protocol": "sts_keypad", "address": "04040404040"},
                 "tariff_code": "cn-zhejiang-residential-tou",
                 "sts": {"iin": "600727", "ea": "07", "key_type": 2, "supply_group": 123456, "tariff_index": 1, "key_revision": 1, "base_date": "14"}},
                {"new": {"serial": "SHS-A-1", "utility": "electricity", "protocol": "openpaygo", "address": "SHSA1"},
                 "openpaygo": {"secret_key": "a29ab82edc5fbbc41ec9530f6dac86b1", "starting_code": 123456789, "unit": "day", "price_per_unit": "2.50"}}
            ]
        })))
        .await
        .ok();
    let meters = opened["meter_ids"].as_array().unwrap();
    let cashier_b_shift = api.send(api.as_(cashier, 'b', Method::GET, "/api/v1/shifts/current")).await.ok()["id"]
        .as_str()
        .unwrap()
        .to_string();
    // Someone of building A whose token the matrix revokes (none of the callers: they need theirs).
    let victim = voltvend_domain::OperatorId::from_uuid(uuid::Uuid::from_u128(0xF1C7));
    let op = voltvend_domain::Operator::new(
        victim,
        "victim.a",
        "Victim",
        "read_only",
        e.building_a.id,
        voltvend_testkit::estate::PASSWORD_HASH,
    );
    let mut estate = api.estate.clone();
    api.store.submit(estate.system(voltvend_ops::Command::AddOperator(op))).await.unwrap();
    let token_id = voltvend_domain::ApiTokenId::from_uuid(uuid::Uuid::from_u128(0xF1C8));
    let token = voltvend_ops::ApiTokenRecord {
        id: token_id,
        operator_id: victim,
        name: "victim's".into(),
        secret_hash: [1; 32],
        created_at: super::start(),
        expires_at: None,
        revoked_at: None,
        created_by: None,
    };
    api.store.submit(estate.system(voltvend_ops::Command::CreateApiToken(token))).await.unwrap();
    let token_of_a = token_id.to_string();
    Fixture {
        sale,
        refused,
        shift_b_cashier: cashier_b_shift,
        sts_meter: meters[0].as_str().unwrap().to_string(),
        opg_meter: meters[1].as_str().unwrap().to_string(),
        token_of_a,
        operator_a: victim.to_string(),
    }
}

/// The request to send for an endpoint, and how its scope shows. Requests are valid enough to pass the
/// permission and scope checks; what happens after (a refusal by a rule) does not matter here.
fn sample(api: &Api, f: &Fixture, method: &str, path: &str) -> Option<(String, Option<Value>, Scoped)> {
    let e = &api.estate;
    let unit = e.unit_a.id.to_string();
    let sale_body = json!({"account_id": e.account_a.to_string(), "meter_id": e.remote_meter.to_string(), "method": "cash", "amount": "10.00"});
    let x = |p: String, b: Option<Value>, s: Scoped| Some((p, b, s));
    match (method, path) {
        ("POST", "/api/v1/session") | ("GET", "/api/v1/openapi.json") => None,
        ("GET", "/api/v1/session") => x(path.into(), None, Scoped::Global),
        ("DELETE", "/api/v1/session") => x(path.into(), None, Scoped::Global),
        ("POST", "/api/v1/session/logout-everywhere") => x(path.into(), None, Scoped::Global),
        ("POST", "/api/v1/session/password") => x(
            path.into(),
            Some(json!({"current_password": "not it", "new_password": "a long new passphrase"})),
            Scoped::Global,
        ),
        ("GET", "/api/v1/api-tokens") => x(path.into(), None, Scoped::Global),
        ("POST", "/api/v1/api-tokens") => x(path.into(), Some(json!({"name": "matrix"})), Scoped::Global),
        ("DELETE", "/api/v1/api-tokens/{id}") => x(
            format!("/api/v1/api-tokens/{}", f.token_of_a),
            None,
            Scoped::ObjectOf(voltvend_domain::Permission::ApiTokensManage),
        ),
        ("GET", "/api/v1/operators") => x(path.into(), None, Scoped::List(f.operator_a.clone())),
        ("POST", "/api/v1/operators") => x(
            path.into(),
            Some(
                json!({"username": "new.one", "display_name": "New", "role": "read_only", "scope_id": e.building_a.id.to_string(), "password": "a long enough passphrase"}),
            ),
            Scoped::Object,
        ),
        ("POST", "/api/v1/operators/{id}/unlock") => {
            x(format!("/api/v1/operators/{}/unlock", f.operator_a), None, Scoped::Object)
        }
        ("GET", "/api/v1/roles") => x(path.into(), None, Scoped::Global),
        ("POST", "/api/v1/roles") => {
            x(path.into(), Some(json!({"name": "reader", "permissions": ["sales.read"]})), Scoped::Global)
        }
        ("GET", "/api/v1/premises") => x(path.into(), None, Scoped::List(unit.clone())),
        ("GET", "/api/v1/premises/{id}") => x(format!("/api/v1/premises/{unit}"), None, Scoped::Object),
        ("POST", "/api/v1/premises") => x(
            path.into(),
            Some(json!({"parent_id": e.building_a.id.to_string(), "level": "unit", "name": "A-9"})),
            Scoped::Object,
        ),
        ("POST", "/api/v1/books") => {
            x(path.into(), Some(json!({"premises_id": e.building_a.id.to_string(), "currency": "KES"})), Scoped::Object)
        }
        ("GET", "/api/v1/tariffs") => x(path.into(), None, Scoped::Global),
        ("GET", "/api/v1/tariffs/{code}") => x("/api/v1/tariffs/test-flat".into(), None, Scoped::Global),
        ("POST", "/api/v1/tariffs") => {
            x(path.into(), Some(json!({"document": voltvend_testkit::estate::FLAT_TARIFF})), Scoped::Global)
        }
        ("GET", "/api/v1/vending-points") => x(path.into(), None, Scoped::List(e.point_a.to_string())),
        ("POST", "/api/v1/vending-points") => x(
            path.into(),
            Some(json!({"premises_id": e.building_a.id.to_string(), "name": "Counter A2", "currency": "CNY"})),
            Scoped::Object,
        ),
        ("POST", "/api/v1/vending-points/{id}/settlements") => x(
            format!("/api/v1/vending-points/{}/settlements", e.point_a),
            Some(json!({"amount": "1.00", "reference": "slip 1"})),
            Scoped::Object,
        ),
        ("GET", "/api/v1/customers") => x(path.into(), None, Scoped::List("Wang Fang 王芳".into())),
        ("GET", "/api/v1/customers/{id}") => {
            let c = api_customer_a(api);
            x(format!("/api/v1/customers/{c}"), None, Scoped::Object)
        }
        ("GET", "/api/v1/accounts") => x(path.into(), None, Scoped::List(e.account_a.to_string())),
        ("GET", "/api/v1/accounts/{id}") => x(format!("/api/v1/accounts/{}", e.account_a), None, Scoped::Object),
        ("POST", "/api/v1/accounts") => x(
            path.into(),
            Some(json!({"customer": {"name": "Matrix Person"}, "premises_id": unit, "currency": "CNY", "meters": []})),
            Scoped::Object,
        ),
        ("GET", "/api/v1/meters") => x(path.into(), None, Scoped::List(e.remote_meter.to_string())),
        ("GET", "/api/v1/meters/{id}") => x(format!("/api/v1/meters/{}", e.remote_meter), None, Scoped::Object),
        ("POST", "/api/v1/meters") => x(
            path.into(),
            Some(
                json!({"serial": "M-NEW", "utility": "water", "protocol": "dlt645", "address": "000000009999", "premises_id": unit}),
            ),
            Scoped::Object,
        ),
        ("GET", "/api/v1/meters/{id}/tokens") => {
            x(format!("/api/v1/meters/{}/tokens", f.sts_meter), None, Scoped::Object)
        }
        ("POST", "/api/v1/meters/{id}/sts-tokens") => x(
            format!("/api/v1/meters/{}/sts-tokens", f.sts_meter),
            Some(json!({"kind": "clear_tamper", "reason": "matrix"})),
            Scoped::Object,
        ),
        ("POST", "/api/v1/meters/{id}/openpaygo-tokens") => x(
            format!("/api/v1/meters/{}/openpaygo-tokens", f.opg_meter),
            Some(json!({"kind": "counter_sync", "reason": "matrix"})),
            Scoped::Object,
        ),
        ("GET", "/api/v1/shifts") => x(path.into(), None, Scoped::Global),
        ("GET", "/api/v1/shifts/current") => x(path.into(), None, Scoped::Global),
        ("POST", "/api/v1/shifts") => x(
            path.into(),
            Some(json!({"vending_point_id": e.point_a.to_string(), "opening_float": "0.00"})),
            Scoped::Object,
        ),
        // Closing another cashier's shift: scope decides whether it is seen (B's cashier shift is in B, so this
        // row is the other way round: seen from B, not from A).
        ("POST", "/api/v1/shifts/{id}/close") => {
            x(format!("/api/v1/shifts/{}/close", f.shift_b_cashier), Some(json!({"counted": "0.00"})), Scoped::Object)
        }
        ("POST", "/api/v1/sales/quote") => x(path.into(), Some(sale_body), Scoped::Object),
        ("POST", "/api/v1/sales") => x(path.into(), Some(sale_body), Scoped::Object),
        ("GET", "/api/v1/sales") => x(path.into(), None, Scoped::List(f.sale.clone())),
        ("GET", "/api/v1/sales/{id}") => x(format!("/api/v1/sales/{}", f.sale), None, Scoped::Object),
        ("GET", "/api/v1/sales/{id}/receipt") => {
            x(format!("/api/v1/sales/{}/receipt?format=html", f.sale), None, Scoped::Object)
        }
        ("POST", "/api/v1/sales/{id}/reprint") => {
            x(format!("/api/v1/sales/{}/reprint", f.sale), Some(json!({"format": "html"})), Scoped::Object)
        }
        ("GET", "/api/v1/refused-payments") => x(path.into(), None, Scoped::List(f.refused.clone())),
        ("POST", "/api/v1/refused-payments/{id}/refund") => {
            x(format!("/api/v1/refused-payments/{}/refund", f.refused), Some(json!({})), Scoped::Object)
        }
        ("GET", "/api/v1/vending-keys") => x(path.into(), None, Scoped::Global),
        ("POST", "/api/v1/vending-keys") => x(
            path.into(),
            Some(json!({"supply_group": 654321, "key_revision": 1, "key": "0123456789ABCDEF"})),
            Scoped::Global,
        ),
        ("POST", "/api/v1/keys/rotate") => x(path.into(), None, Scoped::Global),
        ("GET", "/api/v1/audit") => x(path.into(), None, Scoped::Global),
        _ => panic!("no sample for {method} {path}: add a row to this table"),
    }
}

fn api_customer_a(api: &Api) -> String {
    api.estate
        .setup
        .iter()
        .find_map(|op| match &op.command {
            voltvend_ops::Command::OpenAccount(a) if a.account_id == api.estate.account_a => match &a.customer {
                voltvend_ops::CustomerRef::New(c) => Some(c.id.to_string()),
                voltvend_ops::CustomerRef::Existing(id) => Some(id.to_string()),
            },
            _ => None,
        })
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_endpoint_every_role_two_scopes() {
    let api = Api::new().await;
    let f = fixture(&api).await;
    let mut checked = 0;
    let mut failures = Vec::new();
    for e in endpoints() {
        let Some((path, body, scoped)) = sample(&api, &f, e.method, e.path) else { continue };
        for role in BuiltinRole::ALL {
            let allowed = match e.access {
                Access::Public => true,
                Access::LoggedIn => true,
                Access::Needs(p) => role.permissions().contains(&p),
            };
            for building in ['a', 'b'] {
                let method: Method = e.method.parse().unwrap();
                let mut req = api.as_(role, building, method, &path);
                if e.keyed {
                    req = req.fresh_key();
                }
                if let Some(b) = &body {
                    req = req.json(b.clone());
                }
                let r = api.send(req).await;
                let code = r.code();
                // B-scoped closing of B's cashier shift is the mirror case: in scope from B.
                let in_scope = if e.path == "/api/v1/shifts/{id}/close" { building == 'b' } else { building == 'a' };
                let verdict = if !allowed {
                    (r.status.as_u16() == 403 && code == "forbidden").then_some(()).ok_or("expected 403 forbidden")
                } else if r.status.as_u16() == 401 || code == "forbidden" || code == "csrf_failed" {
                    Err("allowed, but refused access")
                } else {
                    match &scoped {
                        Scoped::ObjectOf(p) if !role.permissions().contains(p) || !in_scope => {
                            (r.status.as_u16() == 404).then_some(()).ok_or("not theirs to see: expected 404")
                        }
                        Scoped::ObjectOf(_) => (r.status.as_u16() != 404).then_some(()).ok_or("in scope: got 404"),
                        Scoped::Object if !in_scope => {
                            (r.status.as_u16() == 404).then_some(()).ok_or("out of scope: expected 404")
                        }
                        Scoped::Object => (r.status.as_u16() != 404).then_some(()).ok_or("in scope: got 404"),
                        Scoped::List(item) => {
                            let text = String::from_utf8_lossy(&r.bytes);
                            if !r.status.is_success() {
                                Err("a list failed")
                            } else if text.contains(item.as_str()) != in_scope {
                                Err("the list shows what the scope should not, or hides what it should")
                            } else {
                                Ok(())
                            }
                        }
                        Scoped::Global => {
                            (r.status.as_u16() != 404 || e.path.ends_with("/current") || e.path.contains("{code}"))
                                .then_some(())
                                .ok_or("unexpected 404")
                        }
                    }
                };
                checked += 1;
                if let Err(why) = verdict {
                    failures.push(format!(
                        "{} {} as {}.{building}: {why} (got {} {})",
                        e.method,
                        e.path,
                        role.as_str(),
                        r.status,
                        String::from_utf8_lossy(&r.bytes).chars().take(160).collect::<String>()
                    ));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{} of {checked} checks failed:\n{}", failures.len(), failures.join("\n"));
    assert!(checked >= 500, "only {checked} checks");
}

/// Without a credential, every endpoint but logging in and the document is 401.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_without_logging_in() {
    let api = Api::new().await;
    for e in endpoints() {
        let path = e.path.replace("{id}", &uuid::Uuid::nil().to_string()).replace("{code}", "test-flat");
        let r = api.send(Req::new(e.method.parse().unwrap(), &path)).await;
        match e.access {
            Access::Public => assert_ne!(r.status.as_u16(), 401, "{} {}", e.method, e.path),
            _ => {
                assert_eq!((r.status.as_u16(), r.code().as_str()), (401, "unauthenticated"), "{} {}", e.method, e.path)
            }
        }
    }
    // A token that is not one, and a cookie that is not a session, are refused too.
    let r = api.send(Req::new(Method::GET, "/api/v1/session").bearer("vvt_nonsense")).await;
    assert_eq!(r.status.as_u16(), 401);
    let r = api.send(Req::new(Method::GET, "/api/v1/session").header("cookie", "vv_session=00ff")).await;
    assert_eq!(r.status.as_u16(), 401);
}
