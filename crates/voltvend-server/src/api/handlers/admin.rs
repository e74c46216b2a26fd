//! Operators, roles, vending keys and the master key, and the audit trail.

use std::collections::BTreeSet;

use axum::Extension;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use voltvend_domain::{BuiltinRole, Operator, OperatorId, Permission, Role};
use voltvend_ops::{Command, MasterKeys, Outcome, Rewrap, RewrapSecrets, UnlockOperator, VendingKeyRecord};
use voltvend_store::{AuditFilter, ListQuery};

use crate::api::auth::{self, Principal};
use crate::api::error::{ApiError, ApiResult};
use crate::api::extract::{ApiJson, ApiPath, ApiQuery, ClientAddr, IdempotencyKey};
use crate::api::views::*;
use crate::api::write::{self, Reply};
use crate::http::AppState;

pub async fn list_operators(
    State(app): State<AppState>,
    Extension(p): Extension<Principal>,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> ApiResult<axum::Json<Page<OperatorView>>> {
    let limit = page_limit(q.limit)?;
    let list = app.store.list_operators(&ListQuery { scope: Some(p.scope()), after: q.after, limit }).await?;
    Ok(axum::Json(Page::of(list.iter().map(OperatorView::from).collect(), limit, |o| o.id.to_string())))
}

/// The permissions a role grants (built-in, or a custom one stored), or `None` if there is no such role.
pub(crate) async fn role_permissions(app: &AppState, name: &str) -> ApiResult<Option<BTreeSet<Permission>>> {
    match name.parse::<BuiltinRole>() {
        Ok(b) => Ok(Some(b.permissions())),
        Err(_) => Ok(app.store.role(name).await?.map(|r| r.permissions)),
    }
}

pub async fn create_operator(
    State(app): State<AppState>,
    Extension(p): Extension<Principal>,
    key: IdempotencyKey,
    ClientAddr(source): ClientAddr,
    ApiJson(body): ApiJson<CreateOperatorRequest>,
) -> ApiResult<Response> {
    let username = body.username.trim().to_string();
    Operator::validate_username(&username).map_err(|e| ApiError::field("username", "bad_value", e.to_string()))?;
    let granted = role_permissions(&app, &body.role)
        .await?
        .ok_or_else(|| ApiError::field("role", "not_found", "no such role"))?;
    if !granted.is_subset(&p.permissions) {
        return Err(ApiError::field(
            "role",
            "privilege_escalation",
            "you may only give roles whose permissions you hold yourself",
        ));
    }
    app.visible(&p, body.scope_id.into(), "premises").await?;
    auth::check_password(&body.password, &username)?;
    let hash = super::session::hash_password(&app, &body.password, "password").await?;
    let op_id = write::operation_id(p.id(), &key.0);
    let id: OperatorId = write::derived_id(op_id, "operator");
    let operator = Operator::new(id, &username, &body.display_name, &body.role, body.scope_id.into(), &hash);
    let view = OperatorView::from(&operator);
    write::submit(&app, &p, &key, &source, Command::AddOperator(operator), move |_| {
        Reply::json(StatusCode::CREATED, &view)
    })
    .await
}

/// The permissions that govern other operators, secrets and approvals: whoever holds one the caller lacks is
/// beyond the caller's management (a manager disables a cashier, not an administrator).
const GOVERNING: [Permission; 5] = [
    Permission::OperatorsManage,
    Permission::RolesManage,
    Permission::KeysManage,
    Permission::ApiTokensManage,
    Permission::CorrectionsApprove,
];

/// An operator the caller may manage: in scope (404 otherwise), and holding no governing permission the
/// caller lacks.
async fn manageable(app: &AppState, p: &Principal, id: uuid::Uuid) -> ApiResult<Operator> {
    let o = app.store.operator(id.into()).await?.ok_or_else(|| ApiError::not_found("operator"))?;
    app.visible(p, o.scope, "operator").await?;
    let held = role_permissions(app, &o.role).await?.unwrap_or_default();
    if o.id != p.id() && GOVERNING.iter().any(|g| held.contains(g) && !p.can(*g)) {
        return Err(ApiError::new(
            "privilege_escalation",
            "this operator governs what you do not (operators, roles, keys or approvals): someone who does manages them",
        ));
    }
    Ok(o)
}

pub async fn get_operator(
    State(app): State<AppState>,
    Extension(p): Extension<Principal>,
    ApiPath(id): ApiPath<uuid::Uuid>,
) -> ApiResult<axum::Json<OperatorView>> {
    let o = app.store.operator(id.into()).await?.ok_or_else(|| ApiError::not_found("operator"))?;
    app.visible(&p, o.scope, "operator").await?;
    Ok(axum::Json(OperatorView::from(&o)))
}

pub async fn update_operator(
    State(app): State<AppState>,
    Extension(p): Extension<Principal>,
    key: IdempotencyKey,
    ClientAddr(source): ClientAddr,
    ApiPath(id): ApiPath<uuid::Uuid>,
    ApiJson(body): ApiJson<UpdateOperatorRequest>,
) -> ApiResult<Response> {
    let o = manageable(&app, &p, id).await?;
    let mut after = o.clone();
    if let Some(role) = &body.role {
        let granted =
            role_permissions(&app, role).await?.ok_or_else(|| ApiError::field("role", "not_found", "no such role"))?;
        if !granted.is_subset(&p.permissions) {
            return Err(ApiError::field(
                "role",
                "privilege_escalation",
                "you may only give roles whose permissions you hold yourself",
            ));
        }
        after.role = role.clone();
    }
    if let Some(scope) = body.scope_id {
        app.visible(&p, scope.into(), "premises").await.map_err(|e| e.with("field", "scope_id"))?;
        after.scope = scope.into();
    }
    if let Some(name) = &body.display_name {
        after.display_name = name.trim().to_string();
    }
    if let Some(active) = body.active {
        after.active = active;
    }
    let command = Command::UpdateOperator(voltvend_ops::UpdateOperator {
        operator_id: o.id,
        display_name: body.display_name,
        role: body.role,
        scope: body.scope_id.map(Into::into),
        active: body.active,
        reason: body.reason,
    });
    let view = OperatorView::from(&after);
    write::submit(&app, &p, &key, &source, command, move |_| Reply::json(StatusCode::OK, &view)).await
}

pub async fn reset_password(
    State(app): State<AppState>,
    Extension(p): Extension<Principal>,
    key: IdempotencyKey,
    ClientAddr(source): ClientAddr,
    ApiPath(id): ApiPath<uuid::Uuid>,
    ApiJson(body): ApiJson<ResetPasswordRequest>,
) -> ApiResult<Response> {
    let o = manageable(&app, &p, id).await?;
    if o.id == p.id() {
        return Err(ApiError::new("use_change_password", "change your own password with your current one"));
    }
    auth::check_password(&body.new_password, &o.username).map_err(|e| e.with("field", "new_password"))?;
    let hash = super::session::hash_password(&app, &body.new_password, "new_password").await?;
    let command = Command::ChangePassword(voltvend_ops::ChangePassword { operator_id: o.id, password_hash: hash });
    let mut after = o.clone();
    after.unlock();
    let view = OperatorView::from(&after);
    write::submit(&app, &p, &key, &source, command, move |_| Reply::json(StatusCode::OK, &view)).await
}

pub async fn unlock_operator(
    State(app): State<AppState>,
    Extension(p): Extension<Principal>,
    key: IdempotencyKey,
    ClientAddr(source): ClientAddr,
    ApiPath(id): ApiPath<uuid::Uuid>,
) -> ApiResult<Response> {
    let o = app.store.operator(id.into()).await?.ok_or_else(|| ApiError::not_found("operator"))?;
    app.visible(&p, o.scope, "operator").await?;
    let mut after = o.clone();
    after.unlock();
    let view = OperatorView::from(&after);
    write::submit(&app, &p, &key, &source, Command::UnlockOperator(UnlockOperator { operator_id: o.id }), move |_| {
        Reply::json(StatusCode::OK, &view)
    })
    .await
}

fn role_view(r: &Role, built_in: bool) -> RoleView {
    RoleView {
        name: r.name.clone(),
        description: r.description.clone(),
        built_in,
        permissions: permission_names(r.permissions.iter()),
    }
}

pub async fn list_roles(
    State(app): State<AppState>,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> ApiResult<axum::Json<Page<RoleView>>> {
    let limit = page_limit(q.limit)?;
    let mut out: Vec<RoleView> = BuiltinRole::ALL.iter().map(|b| role_view(&Role::builtin(*b), true)).collect();
    out.extend(app.store.list_roles().await?.iter().map(|r| role_view(r, false)));
    Ok(axum::Json(Page::slice(out, q.after.as_deref(), limit, |r| r.name.clone())))
}

pub async fn create_role(
    State(app): State<AppState>,
    Extension(p): Extension<Principal>,
    key: IdempotencyKey,
    ClientAddr(source): ClientAddr,
    ApiJson(body): ApiJson<CreateRoleRequest>,
) -> ApiResult<Response> {
    app.require_root(&p, "a custom role").await?;
    let mut permissions = BTreeSet::new();
    for name in &body.permissions {
        let perm = name
            .parse::<Permission>()
            .map_err(|_| ApiError::field("permissions", "bad_value", format!("no permission {name:?}")))?;
        permissions.insert(perm);
    }
    if !permissions.is_subset(&p.permissions) {
        return Err(ApiError::field(
            "permissions",
            "privilege_escalation",
            "a role may only hold permissions you hold",
        ));
    }
    let role = Role::custom(body.name.trim(), &body.description, permissions)
        .map_err(|e| ApiError::field("name", "bad_value", e.to_string()))?;
    let view = role_view(&role, false);
    write::submit(&app, &p, &key, &source, Command::CreateRole(role), move |_| Reply::json(StatusCode::CREATED, &view))
        .await
}

pub async fn list_vending_keys(
    State(app): State<AppState>,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> ApiResult<axum::Json<Page<VendingKeyView>>> {
    let limit = page_limit(q.limit)?;
    let keys = app.store.vending_keys().await?;
    let items = keys.iter().map(|k| VendingKeyView {
        supply_group: format!("{:06}", k.sgc),
        key_revision: k.krn,
        master_key_id: MasterKeys::key_id_of(&k.sealed),
    });
    Ok(axum::Json(Page::slice(items.collect(), q.after.as_deref(), limit, |k| {
        format!("{}-{:03}", k.supply_group, k.key_revision)
    })))
}

pub async fn import_vending_key(
    State(app): State<AppState>,
    Extension(p): Extension<Principal>,
    key: IdempotencyKey,
    ClientAddr(source): ClientAddr,
    ApiJson(body): ApiJson<ImportVendingKeyRequest>,
) -> ApiResult<Response> {
    app.require_root(&p, "a vending key").await?;
    let master = app.api.secrets.current().ok_or_else(no_master_key)?;
    let hex = zeroize::Zeroizing::new(body.key.trim().to_uppercase());
    if voltvend_sts::VendingKey::from_hex(&hex).is_err() {
        return Err(ApiError::field(
            "key",
            "bad_vending_key",
            "a vending key is 16 (DKGA02) or 40 (DKGA04) hex digits",
        ));
    }
    if body.supply_group > 999_999 || !(1..=9).contains(&body.key_revision) {
        return Err(ApiError::field(
            "supply_group",
            "bad_value",
            "a supply group code has 6 digits, a key revision is 1–9",
        ));
    }
    let aad = voltvend_ops::secrets::vending_key_aad(body.supply_group, body.key_revision);
    let sealed = write::seal(master, write::operation_id(p.id(), &key.0), &aad, hex.as_bytes())?;
    let view = VendingKeyView {
        supply_group: format!("{:06}", body.supply_group),
        key_revision: body.key_revision,
        master_key_id: Some(master.id_hex()),
    };
    let record = VendingKeyRecord { sgc: body.supply_group, krn: body.key_revision, sealed };
    write::submit(&app, &p, &key, &source, Command::ImportVendingKey(record), move |_| {
        Reply::json(StatusCode::CREATED, &view)
    })
    .await
}

pub async fn rotate_keys(
    State(app): State<AppState>,
    Extension(p): Extension<Principal>,
    key: IdempotencyKey,
    ClientAddr(source): ClientAddr,
) -> ApiResult<Response> {
    app.require_root(&p, "the master key").await?;
    let secrets = &app.api.secrets;
    let master = secrets.current().ok_or_else(no_master_key)?;
    let op_id = write::operation_id(p.id(), &key.0);
    let mut items = Vec::new();
    for k in app.store.vending_keys().await? {
        if !secrets.is_current(&k.sealed) {
            let aad = voltvend_ops::secrets::vending_key_aad(k.sgc, k.krn);
            let plain = secrets.open(&aad, &k.sealed)?;
            items.push(Rewrap::VendingKey {
                sgc: k.sgc,
                krn: k.krn,
                sealed: write::seal(master, op_id, &aad, &plain)?,
            });
        }
    }
    for k in app.store.card_keys().await? {
        if !secrets.is_current(&k.sealed) {
            let aad = voltvend_ops::secrets::card_key_aad(k.key_no);
            let plain = secrets.open(&aad, &k.sealed)?;
            items.push(Rewrap::CardKey { key_no: k.key_no, sealed: write::seal(master, op_id, &aad, &plain)? });
        }
    }
    let mut after = None;
    loop {
        let page = app.store.opg_states_after(after, 500).await?;
        let Some(last) = page.last() else { break };
        after = Some(last.meter_id);
        for o in &page {
            if !secrets.is_current(&o.secret_sealed) {
                let aad = voltvend_ops::secrets::openpaygo_aad(o.meter_id);
                let plain = secrets.open(&aad, &o.secret_sealed)?;
                items.push(Rewrap::OpenPaygo {
                    meter_id: o.meter_id,
                    sealed: write::seal(master, op_id, &aad, &plain)?,
                });
            }
        }
    }
    let total = items.len();
    let master_key_id = master.id_hex();
    // Each chunk is its own operation (a rotation of a million devices must not be one transaction); the last
    // one carries the request's key and its answer, the others keys derived from it and from the rows they
    // re-seal — a retry after a crash finds fewer rows to re-seal and so other chunks, which must not collide
    // with the ones already applied.
    let mut chunks: Vec<Vec<Rewrap>> = items.chunks(RewrapSecrets::ITEMS_MAX).map(<[Rewrap]>::to_vec).collect();
    let last = chunks.pop();
    for chunk in chunks {
        let rows: Vec<String> = chunk.iter().map(Rewrap::row).collect();
        let digest = crate::api::auth::sha256(rows.join("\n").as_bytes());
        let part = crate::api::extract::IdempotencyKey(format!("{}#{}", key.0, crate::api::auth::hex(&digest)));
        write::submit(&app, &p, &part, &source, Command::RewrapSecrets(RewrapSecrets { items: chunk }), |_| {
            Reply::empty()
        })
        .await?;
    }
    let view = RotationView { resealed: total, master_key_id };
    match last {
        Some(chunk) => {
            write::submit(&app, &p, &key, &source, Command::RewrapSecrets(RewrapSecrets { items: chunk }), move |o| {
                match o {
                    Outcome::Updated { .. } => Reply::json(StatusCode::OK, &view),
                    _ => Reply::error(&ApiError::internal("unexpected outcome")),
                }
            })
            .await
        }
        None => Ok(Reply::json(StatusCode::OK, &view).into_response(false)),
    }
}

pub async fn list_audit(
    State(app): State<AppState>,
    Extension(p): Extension<Principal>,
    ApiQuery(q): ApiQuery<AuditQuery>,
) -> ApiResult<axum::Json<Page<AuditView>>> {
    let limit = page_limit(q.limit)?;
    let filter = AuditFilter {
        action: q.action,
        operator: q.operator_id.map(Into::into),
        subject: q.subject,
        from_us: q
            .from
            .as_deref()
            .map(|t| parse_instant("from", t))
            .transpose()?
            .map(voltvend_domain::clock::timestamp_us),
        to_us: q.to.as_deref().map(|t| parse_instant("to", t)).transpose()?.map(voltvend_domain::clock::timestamp_us),
    };
    // Records made by operators within one's scope. Records of no operator (a failed login under an unknown
    // name) belong to no group, so no group's operators see them through the API; the log and the database do.
    let records = app.store.list_audit(&ListQuery { scope: Some(p.scope()), after: q.after, limit }, &filter).await?;
    Ok(axum::Json(Page::of(records.iter().map(AuditView::from).collect(), limit, |r| r.seq.to_string())))
}

pub fn no_master_key() -> ApiError {
    ApiError::new("no_master_key", "no master key is configured (keys.master_key_file or VOLTVEND_MASTER_KEY)")
}

fn backup_view(e: &crate::backups::BackupEntry) -> BackupView {
    BackupView {
        file: e.file.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default(),
        taken_at: instant(e.taken_at),
        bytes: e.bytes,
        verified_at: e.verification.as_ref().map(|v| v.verified_at.clone()),
        ok: e.verification.as_ref().map(|v| v.ok),
        detail: e.verification.as_ref().map(|v| v.detail.clone()),
    }
}

fn scheduler(app: &AppState) -> ApiResult<&std::sync::Arc<crate::backups::Scheduler>> {
    app.backups
        .as_ref()
        .ok_or_else(|| ApiError::new("backups_not_configured", "scheduled backups are not configured (backup.dir)"))
}

/// The scheduled backups in the backup directory, newest first, with their verification.
pub async fn list_backups(
    State(app): State<AppState>,
    Extension(p): Extension<Principal>,
) -> ApiResult<axum::Json<Vec<BackupView>>> {
    app.require_root(&p, "the backups").await?;
    let s = scheduler(&app)?;
    let list = crate::backups::list(&s.policy.dir).map_err(|e| ApiError::internal(e.to_string()))?;
    Ok(axum::Json(list.iter().map(backup_view).collect()))
}

/// A backup now, verified, with the retention applied; a failure raises the alarm as a scheduled one does.
pub async fn take_backup(State(app): State<AppState>, Extension(p): Extension<Principal>) -> ApiResult<Response> {
    app.require_root(&p, "the backups").await?;
    let s = scheduler(&app)?;
    match s.run().await {
        Ok(entry) => Ok(Reply::json(StatusCode::CREATED, &backup_view(&entry)).into_response(false)),
        Err(e) => {
            s.alarm(&e.to_string()).await;
            Err(ApiError::new("backup_failed", e.to_string()))
        }
    }
}
