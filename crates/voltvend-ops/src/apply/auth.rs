//! Who may log in and how: custom roles, logins (sessions and the lockout after failures), logging out, new
//! passwords, and API tokens. Passwords are checked by the caller (argon2id is the server's work); what is
//! decided here is whether the attempt may open a session, and what it leaves in the record.

use jiff::Timestamp;
use sha2::Digest as _;
use voltvend_domain::{BuiltinRole, Operator, text};

use super::{Outcome, acting_operator, in_scope};
use crate::audit::AuditEntry;
use crate::command::{
    ChangePassword, LoginAttempt, Logout, LogoutEverywhere, Operation, RecordLogin, RevokeApiToken, SetLanguage,
    UnlockOperator, UpdateOperator,
};
use crate::error::OpError;
use crate::records::ApiTokenRecord;
use crate::workspace::Workspace;

type Done = Result<(Outcome, AuditEntry), OpError>;

/// Whether `name` names a role: a built-in one, or a custom one in the workspace.
pub(super) fn role_exists(ws: &Workspace, name: &str) -> Result<bool, OpError> {
    Ok(name.parse::<BuiltinRole>().is_ok() || ws.roles.get(&name.to_string())?.is_some())
}

/// Roles are global (a permission set means the same in every subtree); who may define them is the API's
/// permission check.
pub(super) fn create_role(ws: &mut Workspace, r: &voltvend_domain::Role) -> Done {
    let role = voltvend_domain::Role::custom(&r.name, &r.description, r.permissions.clone())?;
    if role_exists(ws, &role.name)? {
        return Err(OpError::Exists { what: "role", id: role.name });
    }
    let entry = AuditEntry::new("create_role", format!("role:{}", role.name), "", role.permissions_text());
    ws.roles.put(role.name.clone(), role.clone());
    Ok((Outcome::Created { what: "role", id: role.name }, entry))
}

fn operator_by_username(ws: &Workspace, username: &str) -> Result<Option<Operator>, OpError> {
    let Some(id) = ws.usernames.get(&username.to_string())?.copied() else { return Ok(None) };
    Ok(ws.operators.get(&id)?.cloned())
}

pub(super) fn record_login(ws: &mut Workspace, l: &RecordLogin, at: Timestamp) -> Done {
    let operator = operator_by_username(ws, &l.username)?;
    match &l.attempt {
        LoginAttempt::Failed => {
            let Some(mut o) = operator else {
                // A password typed into the username field must not end up in the audit trail: a name that is
                // no operator's is recorded as a digest, which still shows repeated attempts at one name.
                let digest = sha2::Sha256::digest(l.username.as_bytes());
                let short: String = digest.iter().take(8).map(|b| format!("{b:02x}")).collect();
                let entry = AuditEntry::new("login_failed", format!("username-sha256:{short}"), "", "unknown username");
                return Ok((Outcome::LoginFailed { locked_until: None }, entry));
            };
            let locked = o.login_failed(at);
            let entry = AuditEntry::new(
                if locked { "login_locked_out" } else { "login_failed" },
                format!("operator:{}", o.id),
                format!("failed_logins={}", o.failed_logins - 1),
                format!(
                    "failed_logins={}{}",
                    o.failed_logins,
                    o.locked_until.map(|u| format!(" locked_until={u}")).unwrap_or_default()
                ),
            );
            let locked_until = o.locked_until.filter(|u| *u > at);
            ws.operators.put(o.id, o);
            Ok((Outcome::LoginFailed { locked_until }, entry))
        }
        LoginAttempt::Succeeded(session) => {
            let mut o = operator.ok_or_else(|| OpError::not_found("operator", "the session's username"))?;
            if o.id != session.operator_id {
                return Err(OpError::refused("session_mismatch", "the session is for another operator"));
            }
            if !o.active {
                return Err(OpError::refused("operator_inactive", "this operator may not log in"));
            }
            if o.is_locked(at) {
                return Err(locked(&o));
            }
            if ws.sessions.get(&session.id_hash)?.is_some() {
                return Err(OpError::Exists { what: "session", id: "(token)".into() });
            }
            if session.expires_at <= at || session.revoked_at.is_some() {
                return Err(OpError::refused("bad_session", "a new session must be live"));
            }
            text::check("login source", &session.source, crate::command::Actor::SOURCE_LEN_MAX)?;
            let before = format!("failed_logins={}", o.failed_logins);
            o.login_succeeded();
            let entry = AuditEntry::new(
                "login",
                format!("operator:{}", o.id),
                before,
                format!("session_expires={}", session.expires_at),
            );
            ws.operators.put(o.id, o);
            ws.sessions.put(session.id_hash, session.clone());
            Ok((Outcome::LoggedIn { operator_id: session.operator_id, expires_at: session.expires_at }, entry))
        }
    }
}

/// The refusal of a login while the operator is locked out.
pub fn locked(o: &Operator) -> OpError {
    OpError::refused(
        "login_locked",
        format!(
            "too many failed logins: this operator is locked out until {}",
            o.locked_until.map(|u| u.to_string()).unwrap_or_default()
        ),
    )
}

pub(super) fn logout(ws: &mut Workspace, op: &Operation, l: &Logout, at: Timestamp) -> Done {
    let mut session = ws.sessions.get(&l.session)?.cloned().ok_or_else(|| OpError::not_found("session", "(token)"))?;
    if op.actor.operator.is_some_and(|o| o != session.operator_id) {
        return Err(OpError::not_found("session", "(token)"));
    }
    if session.revoked_at.is_none() {
        session.revoked_at = Some(at);
    }
    let entry = AuditEntry::new("logout", format!("operator:{}", session.operator_id), "", "");
    ws.sessions.put(session.id_hash, session);
    Ok((Outcome::LoggedOut, entry))
}

/// An operator the actor may manage: itself, or one whose scope lies within the actor's.
fn manageable(ws: &Workspace, op: &Operation, id: voltvend_domain::OperatorId) -> Result<Operator, OpError> {
    let o = ws.operators.get(&id)?.cloned().ok_or_else(|| OpError::not_found("operator", id))?;
    if op.actor.operator != Some(id) {
        in_scope(ws, &op.actor, o.scope, "operator", id)?;
    }
    // A payment channel's service operator (the only operators without a password hash) owns the standing
    // shift whose drawer is the provider's clearing account: nobody may enable it, give it a password, a role,
    // a token or sessions (ADR 0005).
    if o.password_hash.is_empty() {
        return Err(OpError::refused(
            "service_operator",
            "this is a payment channel's service operator: it is not managed, and never logs in",
        ));
    }
    Ok(o)
}

pub(super) fn logout_everywhere(ws: &mut Workspace, op: &Operation, l: &LogoutEverywhere, at: Timestamp) -> Done {
    let mut o = manageable(ws, op, l.operator_id)?;
    o.sessions_not_before = Some(at);
    let entry =
        AuditEntry::new("logout_everywhere", format!("operator:{}", o.id), "", format!("sessions_not_before={at}"));
    ws.operators.put(o.id, o);
    Ok((Outcome::LoggedOut, entry))
}

/// Only the operator themself chooses the language of their pages.
pub(super) fn set_language(ws: &mut Workspace, op: &Operation, l: &SetLanguage) -> Done {
    if op.actor.operator != Some(l.operator_id) {
        return Err(OpError::refused("forbidden", "an operator chooses only their own language"));
    }
    if !voltvend_domain::operator::LANGUAGES.contains(&l.language.as_str()) {
        return Err(OpError::refused("bad_value", "the language is zh-CN or en"));
    }
    let mut o = manageable(ws, op, l.operator_id)?;
    let before = o.language.clone().unwrap_or_default();
    o.language = Some(l.language.clone());
    let entry = AuditEntry::new("set_language", format!("operator:{}", o.id), before, l.language.clone());
    ws.operators.put(o.id, o);
    Ok((Outcome::Updated { what: "operator", id: l.operator_id.to_string() }, entry))
}

pub(super) fn change_password(ws: &mut Workspace, op: &Operation, p: &ChangePassword, at: Timestamp) -> Done {
    let mut o = manageable(ws, op, p.operator_id)?;
    if !p.password_hash.starts_with("$argon2id$") {
        return Err(OpError::refused("bad_password_hash", "operator passwords are stored as argon2id PHC strings"));
    }
    o.password_hash = p.password_hash.clone();
    o.sessions_not_before = Some(at);
    o.unlock();
    // Never the hash itself in the audit trail.
    let entry = AuditEntry::new("change_password", format!("operator:{}", o.id), "", "sessions ended");
    ws.operators.put(o.id, o);
    Ok((Outcome::Updated { what: "operator", id: p.operator_id.to_string() }, entry))
}

pub(super) fn unlock_operator(ws: &mut Workspace, op: &Operation, u: &UnlockOperator) -> Done {
    let mut o = manageable(ws, op, u.operator_id)?;
    let before = format!("failed_logins={}", o.failed_logins);
    o.unlock();
    let entry = AuditEntry::new("unlock_operator", format!("operator:{}", o.id), before, "failed_logins=0");
    ws.operators.put(o.id, o);
    Ok((Outcome::Updated { what: "operator", id: u.operator_id.to_string() }, entry))
}

pub(super) fn create_api_token(ws: &mut Workspace, op: &Operation, t: &ApiTokenRecord, at: Timestamp) -> Done {
    let name = text::required("token name", &t.name, ApiTokenRecord::NAME_LEN_MAX)?;
    let o = manageable(ws, op, t.operator_id)?;
    if !o.active {
        return Err(OpError::refused("operator_inactive", "tokens are for active operators"));
    }
    if ws.api_tokens.get(&t.id)?.is_some() {
        return Err(OpError::Exists { what: "API token", id: t.id.to_string() });
    }
    if t.expires_at.is_some_and(|e| e <= at) || t.revoked_at.is_some() {
        return Err(OpError::refused("bad_expiry", "a new token must not have expired"));
    }
    let token = ApiTokenRecord { name: name.clone(), created_at: at, created_by: op.actor.operator, ..t.clone() };
    let entry = AuditEntry::new(
        "create_api_token",
        format!("api_token:{}", t.id),
        "",
        format!("operator={} name={name}", t.operator_id),
    );
    ws.api_tokens.put(t.id, token);
    Ok((Outcome::Created { what: "API token", id: t.id.to_string() }, entry))
}

pub(super) fn revoke_api_token(ws: &mut Workspace, op: &Operation, r: &RevokeApiToken, at: Timestamp) -> Done {
    let mut t = ws.api_tokens.get(&r.token_id)?.cloned().ok_or_else(|| OpError::not_found("API token", r.token_id))?;
    manageable(ws, op, t.operator_id).map_err(|_| OpError::not_found("API token", r.token_id))?;
    if t.revoked_at.is_none() {
        t.revoked_at = Some(at);
    }
    let entry = AuditEntry::new("revoke_api_token", format!("api_token:{}", t.id), "", "");
    ws.api_tokens.put(t.id, t);
    Ok((Outcome::Updated { what: "API token", id: r.token_id.to_string() }, entry))
}

/// An operator changed by another: display name, role, scope, disabled or enabled. Nobody changes their own
/// role, scope or status (an administrator cannot lock themselves out, nor anyone widen their own reach);
/// a new scope lies within the actor's.
pub(super) fn update_operator(ws: &mut Workspace, op: &Operation, u: &UpdateOperator, at: Timestamp) -> Done {
    acting_operator(ws, &op.actor)?;
    let reason = text::required("reason", &u.reason, UpdateOperator::REASON_LEN_MAX)?;
    let mut o = manageable(ws, op, u.operator_id)?;
    let before = o.clone();
    if op.actor.operator == Some(o.id) && (u.role.is_some() || u.scope.is_some() || u.active.is_some()) {
        return Err(OpError::refused("own_operator", "another operator changes your role, scope or status, not you"));
    }
    if let Some(name) = &u.display_name {
        o.display_name = name.trim().to_string();
    }
    if let Some(role) = &u.role {
        if !role_exists(ws, role)? {
            return Err(OpError::not_found("role", role));
        }
        o.role = role.clone();
    }
    if let Some(scope) = u.scope {
        super::premises_in_scope(ws, &op.actor, scope)?;
        o.scope = scope;
    }
    if let Some(active) = u.active {
        o.active = active;
    }
    o.validate()?;
    if o == before {
        return Err(OpError::refused("nothing_changed", "the operator is already as asked"));
    }
    // A narrower reach or a disabled operator must not live on in sessions opened before.
    if o.scope != before.scope || o.role != before.role || !o.active {
        o.sessions_not_before = Some(at);
    }
    let describe =
        |x: &Operator| format!("name={} role={} scope={} active={}", x.display_name, x.role, x.scope, x.active);
    let entry = AuditEntry::new(
        "update_operator",
        format!("operator:{}", o.id),
        describe(&before),
        format!("{} reason={reason}", describe(&o)),
    );
    ws.operators.put(o.id, o);
    Ok((Outcome::Updated { what: "operator", id: u.operator_id.to_string() }, entry))
}
