//! Operator management through the API: an operator disabled (their token stops working at once) and enabled
//! again, moved to another role and scope, their password reset by a manager — each audited — and the
//! refusals: nobody changes their own role, scope or status, and a manager does not manage an administrator.

use axum::http::Method;
use serde_json::json;
use voltvend_domain::BuiltinRole;

use super::Api;
use super::lifecycle::{get, post};

const MANAGER: BuiltinRole = BuiltinRole::Manager;

fn put(api: &Api, role: BuiltinRole, building: char, id: &str, body: serde_json::Value) -> super::Req {
    api.as_(role, building, Method::PUT, &format!("/api/v1/operators/{id}")).fresh_key().json(body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_manager_disables_moves_and_resets_an_operator_and_each_change_is_audited() {
    let api = Api::new().await;
    let cashier = api.operators[&("cashier".to_string(), 'a')].to_string();
    let session = || api.send(api.as_(BuiltinRole::Cashier, 'a', Method::GET, "/api/v1/session"));
    assert!(session().await.status.is_success());

    // Refusals first, each changing nothing: building B's manager cannot see the cashier; nobody disables
    // themselves; a manager does not manage an administrator; no reason, no change.
    let disable = json!({"active": false, "reason": "left the company"});
    assert_eq!(api.send(put(&api, MANAGER, 'b', &cashier, disable.clone())).await.status.as_u16(), 404);
    let me = api.operators[&("manager".to_string(), 'a')].to_string();
    assert_eq!(api.send(put(&api, MANAGER, 'a', &me, disable.clone())).await.code(), "own_operator");
    let admin = api.operators[&("administrator".to_string(), 'a')].to_string();
    assert_eq!(api.send(put(&api, MANAGER, 'a', &admin, disable.clone())).await.code(), "privilege_escalation");
    let reset = |id: &str| {
        post(
            &api,
            MANAGER,
            'a',
            &format!("/api/v1/operators/{id}/password"),
            json!({"new_password": "a long enough passphrase 42"}),
        )
    };
    assert_eq!(api.send(reset(&admin)).await.code(), "privilege_escalation");
    let promote = json!({"role": "administrator", "reason": "promotion"});
    assert_eq!(api.send(put(&api, MANAGER, 'a', &cashier, promote)).await.code(), "privilege_escalation");
    let no_reason = json!({"active": false, "reason": ""});
    assert_eq!(api.send(put(&api, MANAGER, 'a', &cashier, no_reason)).await.code(), "text_empty");
    assert!(session().await.status.is_success(), "refusals change nothing");

    // Disabled: the cashier's token stops working at once.
    let view = api.send(put(&api, MANAGER, 'a', &cashier, disable.clone())).await.ok();
    assert_eq!(view["active"], false);
    assert_eq!(session().await.status.as_u16(), 401);
    assert_eq!(api.send(put(&api, MANAGER, 'a', &cashier, disable)).await.code(), "nothing_changed");
    // Enabled again, as a read-only user of building A.
    let back = json!({"active": true, "role": "read_only", "display_name": "Counter A (back office)", "reason": "returns part time"});
    let view = api.send(put(&api, MANAGER, 'a', &cashier, back)).await.ok();
    assert_eq!((view["active"].as_bool(), view["role"].as_str()), (Some(true), Some("read_only")));
    let seen = get(&api, BuiltinRole::Auditor, 'a', &format!("/api/v1/operators/{cashier}")).await;
    assert_eq!(seen, view);
    // The read-only role no longer sells.
    let r = api.send(api.as_(BuiltinRole::Cashier, 'a', Method::POST, "/api/v1/sales/quote").json(json!({})));
    assert_eq!(r.await.code(), "forbidden");
    // Password reset by the manager (the operator's own sessions end; the hash never reaches the audit trail).
    let view = api.send(reset(&cashier)).await.ok();
    assert_eq!(view["id"], cashier);
    let audit = get(&api, BuiltinRole::Administrator, 'a', &format!("/api/v1/audit?subject=operator:{cashier}")).await;
    let actions: Vec<&str> = audit["items"].as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert_eq!(actions[..3], ["change_password", "update_operator", "update_operator"], "{audit}");
    assert!(!audit.to_string().contains("argon2"), "no password hash in the audit trail");
    let first = &audit["items"][2];
    assert!(first["before"].as_str().unwrap().contains("active=true"), "{first}");
    assert!(first["after"].as_str().unwrap().contains("active=false reason=left the company"), "{first}");
}
