//! How a write becomes an operation: its id comes from who asks and their `Idempotency-Key`, its answer is
//! rendered once — when it commits — and saved with it, so that a retry gets those bytes back exactly, even
//! after a restart. The same key with a different request is `409 idempotency_conflict`.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use sha2::{Digest, Sha256};
use uuid::Uuid;
use voltvend_domain::{OperationId, OperatorId};
use voltvend_ops::{Applied, Command, Operation, Outcome};

use super::auth::Principal;
use super::error::{ApiError, ApiResult};
use super::extract::IdempotencyKey;
use crate::http::AppState;

tokio::task_local! {
    /// The SHA-256 of the request being served (method, path and query, body), set by the authorization layer
    /// of keyed endpoints and saved with the answer, so that a retry is recognised as the same request.
    pub static REQUEST_HASH: [u8; 32];
}

/// The hash saved with an answer: of the request being served, or zeros outside a keyed request.
fn current_request() -> [u8; 32] {
    REQUEST_HASH.try_with(|h| *h).unwrap_or([0; 32])
}

/// An answer to save: status, content type and body.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: StatusCode,
    pub content_type: &'static str,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn json(status: StatusCode, value: &impl serde::Serialize) -> Self {
        match serde_json::to_vec(value) {
            Ok(body) => Self { status, content_type: "application/json", body },
            Err(e) => Self::error(&ApiError::internal(e)),
        }
    }

    pub fn empty() -> Self {
        Self { status: StatusCode::NO_CONTENT, content_type: "application/json", body: Vec::new() }
    }

    pub fn error(e: &ApiError) -> Self {
        Self { status: e.status(), content_type: "application/json", body: e.body_bytes() }
    }

    /// As saved: `STATUS REQUEST-HASH CONTENT-TYPE\n` then the body.
    fn to_saved(&self, request: [u8; 32]) -> Vec<u8> {
        let mut out =
            format!("{} {} {}\n", self.status.as_u16(), super::auth::hex(&request), self.content_type).into_bytes();
        out.extend_from_slice(&self.body);
        out
    }

    /// A saved answer and the hash of the request it answered.
    pub fn from_saved(saved: &[u8]) -> Option<(Self, String)> {
        let newline = saved.iter().position(|b| *b == b'\n')?;
        let head = std::str::from_utf8(saved.get(..newline)?).ok()?;
        let (status, rest) = head.split_once(' ')?;
        let (request, content_type) = rest.split_once(' ')?;
        let content_type = match content_type {
            "application/json" => "application/json",
            "text/html; charset=utf-8" => "text/html; charset=utf-8",
            "application/pdf" => "application/pdf",
            "application/octet-stream" => "application/octet-stream",
            _ => return None,
        };
        let reply = Self {
            status: StatusCode::from_u16(status.parse().ok()?).ok()?,
            content_type,
            body: saved.get(newline + 1..)?.to_vec(),
        };
        Some((reply, request.to_string()))
    }

    pub fn into_response(self, replayed: bool) -> Response {
        let mut response = Response::new(Body::from(self.body));
        *response.status_mut() = self.status;
        response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(self.content_type));
        if replayed {
            response.headers_mut().insert("idempotent-replayed", HeaderValue::from_static("true"));
        }
        response
    }
}

/// The operation id of a request: a hash of the operator and the key, so that two operators' keys never
/// collide. When the key is a UUIDv7 its 48-bit millisecond time is kept in front, so that operations keyed by
/// such keys are stored in time order (the hot tables are keyed by operation id).
pub fn operation_id(operator: OperatorId, key: &str) -> OperationId {
    let prefix = Uuid::parse_str(key).ok().filter(|u| u.get_version_num() == 7);
    OperationId::from_uuid(hashed_uuid(
        &[b"voltvend idempotency\0", operator.as_uuid().as_bytes(), key.as_bytes()],
        prefix,
    ))
}

/// Ids of the records an operation creates: the operation's time-ordered prefix, then a hash of what they are,
/// so a retry creates the same ids.
pub fn derived_id<T: From<Uuid>>(op: OperationId, what: &str) -> T {
    T::from(hashed_uuid(&[op.as_uuid().as_bytes(), what.as_bytes()], Some(op.as_uuid())))
}

/// A version 8 UUID from the SHA-256 of `parts`, its first six bytes (a UUIDv7's millisecond time) taken from
/// `time_of` when given.
fn hashed_uuid(parts: &[&[u8]], time_of: Option<Uuid>) -> Uuid {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p);
    }
    let digest = h.finalize();
    let mut bytes = [0_u8; 16];
    bytes.copy_from_slice(digest.get(..16).unwrap_or(&[0; 16]));
    if let Some(t) = time_of
        && let (Some(front), Some(prefix)) = (bytes.get_mut(..6), t.as_bytes().get(..6))
    {
        front.copy_from_slice(prefix);
    }
    uuid::Builder::from_custom_bytes(bytes).into_uuid()
}

/// Seals a secret for the row `aad` under the master key. The nonce is derived from the operation, the row and
/// the secret itself, so a retry of the request seals to the same bytes (and is recognised as a retry), while
/// two different secrets never share a nonce under one key (NIST SP 800-38D §8.2: unique per key).
pub fn seal(master: &voltvend_ops::MasterKey, op: OperationId, aad: &str, plaintext: &[u8]) -> ApiResult<Vec<u8>> {
    let nonce = master.derived_nonce(&[op.as_uuid().as_bytes(), aad.as_bytes(), plaintext]);
    Ok(master.seal(aad, nonce, plaintext)?)
}

/// Commits `command` as the principal's operation keyed by `key`, answering with what `render` makes of its
/// outcome — or, for a retry, with what it made then.
pub async fn submit(
    app: &AppState,
    p: &Principal,
    key: &IdempotencyKey,
    source: &str,
    command: Command,
    render: impl Fn(&Outcome) -> Reply + Send + Sync + 'static,
) -> ApiResult<Response> {
    let op = Operation::new(operation_id(p.id(), &key.0), p.actor(source), command);
    run(app, op, render).await
}

/// Commits an operation whose id the caller chose (logins and logouts, which are never replayed).
pub async fn run(
    app: &AppState,
    op: Operation,
    render: impl Fn(&Outcome) -> Reply + Send + Sync + 'static,
) -> ApiResult<Response> {
    let (reply, replayed) = run_reply(app, op, render).await?;
    Ok(reply.into_response(replayed))
}

/// [`submit`], answering with the saved reply and whether it is a replay (for answers made after the commit).
pub async fn submit_reply(
    app: &AppState,
    p: &Principal,
    key: &IdempotencyKey,
    source: &str,
    command: Command,
    render: impl Fn(&Outcome) -> Reply + Send + Sync + 'static,
) -> ApiResult<(Reply, bool)> {
    let op = Operation::new(operation_id(p.id(), &key.0), p.actor(source), command);
    run_reply(app, op, render).await
}

/// Submits a change to something that exists (its outcome `Outcome::Updated`), answering 200 with `view`.
pub async fn submit_update<V: serde::Serialize + Send + Sync + 'static>(
    app: &AppState,
    p: &Principal,
    key: &IdempotencyKey,
    source: &str,
    command: Command,
    view: V,
) -> ApiResult<Response> {
    submit(app, p, key, source, command, move |o| match o {
        Outcome::Updated { .. } => Reply::json(axum::http::StatusCode::OK, &view),
        _ => Reply::error(&ApiError::internal("unexpected outcome")),
    })
    .await
}

/// Submits `command` for a handler that answers with the thing as stored, read after the commit: `Ok(replayed)`
/// once the operation is committed (now, or before under the same key) with an outcome `expected` accepts, or
/// the response to send as it is (a refusal) in `Err`.
pub async fn committed_or_answer(
    app: &AppState,
    p: &Principal,
    key: &IdempotencyKey,
    source: &str,
    command: Command,
    expected: fn(&Outcome) -> bool,
) -> ApiResult<Result<bool, axum::response::Response>> {
    let (reply, replayed) = submit_reply(app, p, key, source, command, move |o| {
        if expected(o) { Reply::empty() } else { Reply::error(&ApiError::internal("unexpected outcome")) }
    })
    .await?;
    Ok(if reply.status.is_success() { Ok(replayed) } else { Err(reply.into_response(replayed)) })
}

pub async fn run_reply(
    app: &AppState,
    op: Operation,
    render: impl Fn(&Outcome) -> Reply + Send + Sync + 'static,
) -> ApiResult<(Reply, bool)> {
    let changes_access = matches!(
        op.command,
        Command::RecordLogin(_)
            | Command::Logout(_)
            | Command::LogoutEverywhere(_)
            | Command::ChangePassword(_)
            | Command::SetLanguage(_)
            | Command::UnlockOperator(_)
            | Command::UpdateOperator(_)
            | Command::AddOperator(_)
            | Command::CreateRole(_)
            | Command::CreateApiToken(_)
            | Command::RevokeApiToken(_)
    );
    let logout = match &op.command {
        Command::Logout(l) => Some(l.session),
        _ => None,
    };
    let request = current_request();
    let renderer: Arc<voltvend_ops::Renderer> = Arc::new(move |o: &Outcome| render(o).to_saved(request));
    let submitted = app.store.submit_with(op, Some(renderer)).await;
    if changes_access {
        app.api.auth.forget();
    }
    if let Some(session) = logout {
        app.api.auth.forget_session(&session);
    }
    let applied = submitted.result?;
    let replayed = matches!(applied, Applied::Replayed { .. });
    let (reply, answered) = applied
        .response()
        .and_then(Reply::from_saved)
        .ok_or_else(|| ApiError::internal("an operation's saved answer is missing or unreadable"))?;
    if replayed && answered != super::auth::hex(&request) {
        return Err(conflict());
    }
    Ok((reply, replayed))
}

fn conflict() -> ApiError {
    ApiError::new("idempotency_conflict", "this Idempotency-Key was used for another request")
}

/// The saved answer of a keyed request already applied: the same request gets it again; another request with
/// the same key is a conflict. `Ok(None)`: the key is new.
pub async fn replay(app: &AppState, op: OperationId, request: [u8; 32]) -> ApiResult<Option<Response>> {
    let Some(record) = app.store.idempotency_record(op).await? else { return Ok(None) };
    let saved = record.response.as_deref().and_then(Reply::from_saved);
    match saved {
        Some((reply, answered)) if answered == super::auth::hex(&request) => Ok(Some(reply.into_response(true))),
        _ => Err(conflict()),
    }
}

/// The answer to a refused payment: the sale's refusal, with the record of the money kept.
pub fn refused_payment(payment: &voltvend_ops::RefusedPayment, code: &str, message: &str) -> Reply {
    let e = ApiError::new(code, message)
        .with("refused_payment_id", payment.operation_id.to_string())
        .with("paid_minor", payment.paid_minor.to_string());
    Reply::error(&e)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operation_ids_are_per_operator_and_time_ordered_for_v7_keys() {
        let (a, b) = (OperatorId::from_uuid(Uuid::from_u128(1)), OperatorId::from_uuid(Uuid::from_u128(2)));
        assert_eq!(operation_id(a, "k1"), operation_id(a, "k1"));
        assert_ne!(operation_id(a, "k1"), operation_id(b, "k1"), "another operator's key never collides");
        let early = "01900000-0000-7000-8000-000000000000";
        let late = "01930000-0000-7000-8000-000000000000";
        assert!(operation_id(b, early) < operation_id(a, late), "time order survives the hash");
        let reply = Reply::json(StatusCode::CREATED, &serde_json::json!({"a": 1}));
        let (back, request) = Reply::from_saved(&reply.to_saved([7; 32])).unwrap();
        assert_eq!((back.status, back.body), (StatusCode::CREATED, br#"{"a":1}"#.to_vec()));
        assert_eq!(request, super::super::auth::hex(&[7; 32]));
        let op = operation_id(a, late);
        let x: voltvend_domain::AccountId = derived_id(op, "account");
        assert_eq!(x, derived_id(op, "account"));
        assert_eq!(&x.as_uuid().as_bytes()[..6], &op.as_uuid().as_bytes()[..6]);
    }
}
