//! Logging in and out, sessions, CSRF, the slow-down and the lockout, API tokens, roles.

use axum::http::Method;
use serde_json::json;
use voltvend_domain::{BuiltinRole, Operator, OperatorId};
use voltvend_ops::Command;

use super::{Api, Req};

const PASSWORD: &str = "correct horse battery staple";

/// A cashier of building A who logs in with [`PASSWORD`].
async fn with_login(api: &mut Api, username: &str) -> OperatorId {
    let ids = voltvend_server::clock::IdGenerator::seeded(api.clock.clone(), 99);
    let id = OperatorId::from_uuid(ids.uuid());
    let hash = voltvend_server::passwords::hash(PASSWORD, &ids).unwrap();
    let op = Operator::new(id, username, "Login Test", "cashier", api.estate.building_a.id, &hash);
    api.store.submit(api.estate.system(Command::AddOperator(op))).await.unwrap();
    id
}

fn login(username: &str, password: &str) -> Req {
    Req::new(Method::POST, "/api/v1/session").json(json!({"username": username, "password": password}))
}

/// The session cookie's `name=value` from a login response.
fn cookie(r: &super::Resp) -> String {
    let set = r.headers.get("set-cookie").unwrap().to_str().unwrap().to_string();
    set.split(';').next().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_cookie_is_strict_and_writes_need_its_csrf_token() {
    let mut api = Api::new().await;
    with_login(&mut api, "login.a").await;
    let r = api.send(login("login.a", PASSWORD)).await;
    let body = r.ok();
    let set = r.headers.get("set-cookie").unwrap().to_str().unwrap().to_string();
    for flag in ["HttpOnly", "SameSite=Strict", "Path=/", "Max-Age=43200"] {
        assert!(set.contains(flag), "{set}");
    }
    assert!(!set.contains("Secure"), "plain HTTP here: {set}");
    assert!(!set.contains(body["csrf_token"].as_str().unwrap()), "the CSRF token is not the session");
    let c = cookie(&r);
    let csrf = body["csrf_token"].as_str().unwrap().to_string();
    assert_eq!(body["operator"]["username"], "login.a");
    assert!(body["permissions"].as_array().unwrap().iter().any(|p| p == "sales.create"));
    // Reads need only the cookie; writes need the CSRF token too.
    let me = api.send(Req::new(Method::GET, "/api/v1/session").header("cookie", &c)).await;
    assert_eq!(me.ok()["csrf_token"], body["csrf_token"]);
    let shift = json!({"vending_point_id": api.estate.point_a.to_string(), "opening_float": "100.00"});
    let no_csrf = Req::new(Method::POST, "/api/v1/shifts").header("cookie", &c).fresh_key().json(shift.clone());
    let r = api.send(no_csrf).await;
    assert_eq!((r.status.as_u16(), r.code().as_str()), (403, "csrf_failed"));
    let wrong = Req::new(Method::POST, "/api/v1/shifts").header("cookie", &c).header("x-csrf-token", "00").fresh_key();
    assert_eq!(api.send(wrong.json(shift.clone())).await.code(), "csrf_failed");
    let ok = Req::new(Method::POST, "/api/v1/shifts").header("cookie", &c).header("x-csrf-token", &csrf).fresh_key();
    assert_eq!(api.send(ok.json(shift)).await.status.as_u16(), 201);
    // Logging out ends the session and clears the cookie.
    let out =
        api.send(Req::new(Method::DELETE, "/api/v1/session").header("cookie", &c).header("x-csrf-token", &csrf)).await;
    assert_eq!(out.status.as_u16(), 204);
    assert!(out.headers.get("set-cookie").unwrap().to_str().unwrap().contains("Max-Age=0"));
    let after = api.send(Req::new(Method::GET, "/api/v1/session").header("cookie", &c)).await;
    assert_eq!((after.status.as_u16(), after.code().as_str()), (401, "unauthenticated"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_logins_are_slowed_down_then_locked_out_and_recorded() {
    let mut api = Api::new().await;
    let id = with_login(&mut api, "login.b").await;
    let wrong = || login("login.b", "not the password at all");
    for _ in 0..voltvend_server::api::auth::THROTTLE_FREE_FAILURES {
        let r = api.send(wrong()).await;
        assert_eq!((r.status.as_u16(), r.code().as_str()), (401, "login_failed"));
    }
    // The next failure is answered, and the one after it must wait.
    assert_eq!(api.send(wrong()).await.code(), "login_failed");
    let r = api.send(wrong()).await;
    assert_eq!((r.status.as_u16(), r.code().as_str()), (429, "login_throttled"));
    assert_eq!(r.headers.get("retry-after").unwrap(), "1");
    // An unknown username is answered exactly like a wrong password.
    api.clock.advance(jiff::SignedDuration::from_secs(120));
    let unknown = api.send(login("nobody.here", "whatever it is")).await;
    assert_eq!((unknown.status.as_u16(), unknown.code().as_str()), (401, "login_failed"));
    api.clock.advance(jiff::SignedDuration::from_secs(120));
    // Two more failures, each after the wait: the fifth in a row locks the operator out.
    let r = api.send(wrong()).await;
    assert_eq!(r.code(), "login_failed");
    api.clock.advance(jiff::SignedDuration::from_secs(120));
    let r = api.send(wrong()).await;
    assert_eq!((r.status.as_u16(), r.code().as_str()), (403, "login_locked"), "{:?}", r.json());
    api.clock.advance(jiff::SignedDuration::from_secs(120));
    let r = api.send(login("login.b", PASSWORD)).await;
    assert_eq!(r.code(), "login_locked", "the right password does not open a lock");
    let audit = api.store.audit_records(0, 10_000).await.unwrap();
    let actions: Vec<&str> =
        audit.iter().filter(|a| a.action.starts_with("login")).map(|a| a.action.as_str()).collect();
    assert!(
        actions.contains(&"login_locked_out") && actions.iter().filter(|a| **a == "login_failed").count() >= 4,
        "{actions:?}"
    );
    assert!(!audit.iter().any(|a| a.after.contains("not the password")), "no attempted password in the audit trail");
    // An administrator (any operator with operators.manage over the scope) unlocks; the login works.
    let unlock =
        api.as_(BuiltinRole::Manager, 'a', Method::POST, &format!("/api/v1/operators/{id}/unlock")).fresh_key();
    assert_eq!(api.send(unlock).await.ok()["failed_logins"], 0);
    api.clock.advance(jiff::SignedDuration::from_secs(120));
    api.send(login("login.b", PASSWORD)).await.ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_end_when_idle_everywhere_and_on_a_new_password() {
    let mut api = Api::new().await;
    with_login(&mut api, "login.c").await;
    let c1 = cookie(&api.send(login("login.c", PASSWORD)).await);
    let me = |c: &str| Req::new(Method::GET, "/api/v1/session").header("cookie", c);
    api.clock.advance(jiff::SignedDuration::from_mins(29));
    api.send(me(&c1)).await.ok();
    api.clock.advance(jiff::SignedDuration::from_mins(31));
    assert_eq!(api.send(me(&c1)).await.status.as_u16(), 401, "idle for more than 30 minutes");
    let r1 = api.send(login("login.c", PASSWORD)).await;
    let (c2, csrf2) = (cookie(&r1), r1.json()["csrf_token"].as_str().unwrap().to_string());
    let c3 = cookie(&api.send(login("login.c", PASSWORD)).await);
    let all = Req::new(Method::POST, "/api/v1/session/logout-everywhere")
        .header("cookie", &c2)
        .header("x-csrf-token", &csrf2);
    assert_eq!(api.send(all).await.status.as_u16(), 204);
    api.clock.advance(jiff::SignedDuration::from_secs(1));
    assert_eq!(api.send(me(&c3)).await.status.as_u16(), 401, "the other session ended too");
    // A new password: the policy applies, the old password stops working, sessions end.
    let r = api.send(login("login.c", PASSWORD)).await;
    let (c4, csrf4) = (cookie(&r), r.json()["csrf_token"].as_str().unwrap().to_string());
    let change = |current: &str, new: &str| {
        Req::new(Method::POST, "/api/v1/session/password")
            .header("cookie", &c4)
            .header("x-csrf-token", &csrf4)
            .json(json!({"current_password": current, "new_password": new}))
    };
    assert_eq!(api.send(change("wrong one", "another good passphrase")).await.code(), "wrong_password");
    assert_eq!(api.send(change(PASSWORD, "password123")).await.code(), "password_policy");
    assert_eq!(api.send(change(PASSWORD, "login.c is my name")).await.code(), "password_policy");
    assert_eq!(api.send(change(PASSWORD, "another good passphrase")).await.status.as_u16(), 204);
    api.clock.advance(jiff::SignedDuration::from_secs(1));
    assert_eq!(api.send(me(&c4)).await.status.as_u16(), 401);
    assert_eq!(api.send(login("login.c", PASSWORD)).await.code(), "login_failed");
    api.send(login("login.c", "another good passphrase")).await.ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_tokens_are_shown_once_stored_hashed_and_revocable() {
    let api = Api::new().await;
    let admin = BuiltinRole::Administrator;
    let create = api.as_(admin, 'a', Method::POST, "/api/v1/api-tokens").key("token-1").json(json!({"name": "kiosk"}));
    let first = api.send(create.clone()).await;
    assert_eq!(first.status.as_u16(), 201);
    let secret = first.json()["secret"].as_str().unwrap().to_string();
    assert!(secret.starts_with("vvt_"));
    assert_eq!(first.headers.get("cache-control").unwrap(), "no-store");
    // A token acts with its operator's permissions: a manager may make one for a read-only operator of the
    // building, not for its administrator (that would hand the manager the administrator's powers).
    let manager = BuiltinRole::Manager;
    for (role, expected) in [(BuiltinRole::ReadOnly, 201), (admin, 403)] {
        let target = api.operators[&(role.as_str().to_string(), 'a')];
        let req = api
            .as_(manager, 'a', Method::POST, "/api/v1/api-tokens")
            .fresh_key()
            .json(json!({"name": "for someone", "operator_id": target.to_string()}));
        let r = api.send(req).await;
        assert_eq!(r.status.as_u16(), expected, "{role:?}: {:?}", r.json());
        if expected == 403 {
            assert_eq!(r.code(), "privilege_escalation");
        }
    }
    // A retry gets the token back without its secret.
    let again = api.send(create).await;
    assert_eq!((again.status.as_u16(), again.json()["secret"].clone()), (201, serde_json::Value::Null));
    assert_eq!(again.headers.get("idempotent-replayed").unwrap(), "true");
    assert_eq!(again.json()["token"]["id"], first.json()["token"]["id"]);
    // The token works; its secret is in no list and not in the database.
    let me = api.send(Req::new(Method::GET, "/api/v1/session").bearer(&secret)).await.ok();
    assert_eq!((me["via"].as_str(), me["csrf_token"].clone()), (Some("token"), serde_json::Value::Null));
    let list = api.send(api.as_(admin, 'a', Method::GET, "/api/v1/api-tokens")).await;
    assert!(!String::from_utf8_lossy(&list.bytes).contains(secret.split('_').nth(2).unwrap()));
    let hex_secret = secret.split('_').nth(2).unwrap().as_bytes();
    for db in super::database_files(&api) {
        assert!(!db.windows(hex_secret.len()).any(|w| w == hex_secret), "the secret is not stored");
    }
    // Another building's manager cannot revoke it (not found); its owner can.
    let id = first.json()["token"]["id"].as_str().unwrap().to_string();
    let by_b = api.as_(BuiltinRole::Manager, 'b', Method::DELETE, &format!("/api/v1/api-tokens/{id}")).fresh_key();
    assert_eq!(api.send(by_b).await.status.as_u16(), 404);
    let by_owner = Req::new(Method::DELETE, &format!("/api/v1/api-tokens/{id}")).bearer(&secret).fresh_key();
    assert_eq!(api.send(by_owner).await.status.as_u16(), 204);
    assert_eq!(api.send(Req::new(Method::GET, "/api/v1/session").bearer(&secret)).await.status.as_u16(), 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn roles_and_operators_cannot_escalate() {
    let api = Api::new().await;
    let manager = BuiltinRole::Manager;
    // A manager cannot make an administrator, nor a role with permissions they lack.
    let admin_please = api.as_(manager, 'a', Method::POST, "/api/v1/operators").fresh_key().json(json!({
        "username": "sneaky", "display_name": "Sneaky", "role": "administrator",
        "scope_id": api.estate.building_a.id.to_string(), "password": "a long enough passphrase"
    }));
    let r = api.send(admin_please).await;
    assert_eq!((r.status.as_u16(), r.code().as_str()), (403, "privilege_escalation"));
    // An administrator of the group defines a custom role (roles are shared by every property, so one of a
    // building may not); operators with it get exactly its permissions.
    let admin = BuiltinRole::Administrator;
    let narrow = api.as_(admin, 'a', Method::POST, "/api/v1/roles").fresh_key().json(json!({
        "name": "night_cashier", "description": "sells at night", "permissions": ["sales.read"]
    }));
    assert_eq!(api.send(narrow).await.code(), "scope_too_narrow");
    let role = api.as_(admin, 'g', Method::POST, "/api/v1/roles").fresh_key().json(json!({
        "name": "night_cashier", "description": "sells at night", "permissions": ["sales.read", "customers.read"]
    }));
    assert_eq!(api.send(role).await.status.as_u16(), 201);
    let weak = api.as_(admin, 'a', Method::POST, "/api/v1/operators").fresh_key().json(json!({
        "username": "night.one", "display_name": "Night One", "role": "night_cashier",
        "scope_id": api.estate.building_a.id.to_string(), "password": "short"
    }));
    assert_eq!(api.send(weak).await.code(), "password_policy");
    let add = api.as_(admin, 'a', Method::POST, "/api/v1/operators").fresh_key().json(json!({
        "username": "night.one", "display_name": "Night One", "role": "night_cashier",
        "scope_id": api.estate.building_a.id.to_string(), "password": "a long enough passphrase"
    }));
    let created = api.send(add).await.ok();
    assert_eq!(created["role"], "night_cashier");
    let roles = api.send(api.as_(admin, 'a', Method::GET, "/api/v1/roles")).await.ok();
    let night = roles["items"].as_array().unwrap().iter().find(|r| r["name"] == "night_cashier").unwrap().clone();
    // Built-in and custom roles in one list, by name, a page at a time.
    let names = |v: &serde_json::Value| -> Vec<String> {
        v["items"].as_array().unwrap().iter().map(|r| r["name"].as_str().unwrap().to_string()).collect()
    };
    let first = api.send(api.as_(admin, 'a', Method::GET, "/api/v1/roles?limit=4")).await.ok();
    let after = first["next"].as_str().unwrap();
    let rest = api.send(api.as_(admin, 'a', Method::GET, &format!("/api/v1/roles?after={after}"))).await.ok();
    assert_eq!(
        [names(&first), names(&rest)].concat(),
        ["administrator", "auditor", "cashier", "field_engineer", "manager", "night_cashier", "read_only"]
    );
    assert_eq!(night["permissions"], json!(["customers.read", "sales.read"]));
    // Scope: an administrator of building A cannot add an operator in building B.
    let elsewhere = api.as_(admin, 'a', Method::POST, "/api/v1/operators").fresh_key().json(json!({
        "username": "other.b", "display_name": "B", "role": "read_only",
        "scope_id": api.estate.building_b.id.to_string(), "password": "a long enough passphrase"
    }));
    assert_eq!(api.send(elsewhere).await.status.as_u16(), 404);
}
