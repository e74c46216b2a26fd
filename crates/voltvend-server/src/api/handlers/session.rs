//! Logging in and out, one's password, API tokens.

use axum::Extension;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use jiff::{SignedDuration, Timestamp};
use voltvend_domain::{ApiTokenId, Permission};
use voltvend_ops::{
    ApiTokenRecord, ChangePassword, Command, LoginAttempt, Logout, LogoutEverywhere, Operation, Outcome, RecordLogin,
    RevokeApiToken, SessionRecord, SetLanguage,
};
use voltvend_store::ListQuery;

use crate::api::auth::{self, Principal, Via};
use crate::api::error::{ApiError, ApiResult};
use crate::api::extract::{ApiJson, ApiPath, ApiQuery, ClientAddr, IdempotencyKey};
use crate::api::views::*;
use crate::api::write::{self, Reply};
use crate::http::AppState;

fn session_view(p: &Principal, expires_at: Option<Timestamp>) -> SessionView {
    SessionView {
        operator: OperatorView::from(&p.operator),
        permissions: permission_names(p.permissions.iter()),
        via: match p.via {
            Via::Session { .. } => "session".into(),
            Via::Token { .. } => "token".into(),
        },
        csrf_token: match &p.via {
            Via::Session { csrf, .. } => Some(csrf.clone()),
            Via::Token { .. } => None,
        },
        expires_at: expires_at.map(instant),
    }
}

/// Checks a password against an operator's hash (or a dummy one, so that an unknown username costs as much),
/// off the async threads and a bounded number at a time.
async fn verify(app: &AppState, password: String, hash: Option<String>) -> ApiResult<bool> {
    let _permit = app.api.hashing.acquire().await.map_err(ApiError::internal)?;
    let dummy = app.api.auth.dummy_hash.clone();
    let known = hash.is_some();
    let ok = tokio::task::spawn_blocking(move || crate::passwords::verify(&password, &hash.unwrap_or(dummy)))
        .await
        .map_err(ApiError::internal)?;
    Ok(ok && known)
}

/// A new password's argon2id hash, a bounded number at a time.
pub async fn hash_password(app: &AppState, password: &str, field: &str) -> ApiResult<String> {
    let _permit = app.api.hashing.acquire().await.map_err(ApiError::internal)?;
    crate::passwords::hash(password, &app.api.ids).map_err(|e| ApiError::field(field, "password_policy", e.to_string()))
}

/// `login_throttled` while failed attempts from this address or for this username must wait.
fn throttle(app: &AppState, keys: &[String], now: Timestamp) -> ApiResult<()> {
    match app.api.auth.login_wait(keys, now) {
        Some(wait) => {
            let mut e = ApiError::new("login_throttled", format!("too many failed attempts: wait {wait} s"));
            e.retry_after_s = Some(wait);
            Err(e)
        }
        None => Ok(()),
    }
}

pub async fn login(
    State(app): State<AppState>,
    ClientAddr(source): ClientAddr,
    ApiJson(body): ApiJson<LoginRequest>,
) -> ApiResult<Response> {
    let now = app.now();
    let username = body.username.trim().to_lowercase();
    let user_key = format!("user:{username}");
    let keys = [format!("ip:{source}"), user_key.clone()];
    throttle(&app, &keys, now)?;
    let operator = app.store.operator_by_username(&username).await?;
    let ok = verify(&app, body.password, operator.as_ref().map(|o| o.password_hash.clone())).await?;
    let record = |attempt| {
        Operation::new(
            app.api.ids.id(),
            voltvend_ops::Actor::system(&source),
            Command::RecordLogin(RecordLogin { username: username.clone(), attempt }),
        )
    };
    let locked = operator.as_ref().is_some_and(|o| o.is_locked(now));
    match (ok, operator) {
        (true, Some(o)) if !locked && o.active => {
            let mut token = [0_u8; 32];
            app.api.ids.fill(&mut token);
            let token = auth::hex(&token);
            let expires_at = now + app.api.auth.lifetime;
            let session = SessionRecord {
                id_hash: auth::sha256(token.as_bytes()),
                operator_id: o.id,
                created_at: now,
                expires_at,
                revoked_at: None,
                source: source.clone(),
            };
            let op = record(LoginAttempt::Succeeded(session.clone()));
            app.store.submit(op).await?;
            app.api.auth.forget();
            // Only the username's count is cleared: a login that works must not reset the address's, or one valid
            // account would let an address guess at every other without slowing down.
            app.api.auth.login_succeeded(std::slice::from_ref(&user_key));
            let mut headers = axum::http::HeaderMap::new();
            headers.insert(
                header::COOKIE,
                HeaderValue::from_str(&format!("{}={token}", auth::SESSION_COOKIE)).map_err(ApiError::internal)?,
            );
            let principal = app
                .api
                .auth
                .authenticate(app.store.as_ref(), &headers, now)
                .await?
                .ok_or_else(|| ApiError::internal("a new session did not authenticate"))?;
            let lifetime_s = app.api.auth.lifetime.as_secs();
            let cookie = auth::set_cookie(&token, lifetime_s, app.api.auth.secure);
            let mut response = axum::Json(session_view(&principal, Some(expires_at))).into_response();
            response
                .headers_mut()
                .insert(header::SET_COOKIE, HeaderValue::from_str(&cookie).map_err(ApiError::internal)?);
            response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            Ok(response)
        }
        (_, operator) => {
            // Every failure is recorded and counted, locked out or not; which part was wrong is not said.
            let outcome = app.store.submit(record(LoginAttempt::Failed)).await?;
            app.api.auth.forget();
            app.api.auth.login_failed(&keys, now);
            let newly_locked = matches!(outcome.outcome(), Some(Outcome::LoginFailed { locked_until: Some(_) }));
            match operator {
                Some(o) if ok && !o.active => Err(ApiError::new("login_failed", "wrong username or password")),
                Some(o) if locked || newly_locked => {
                    let until = if locked {
                        o.locked_until
                    } else {
                        now.checked_add(SignedDuration::from_mins(voltvend_domain::operator::LOCKOUT_MINUTES)).ok()
                    };
                    Err(ApiError::new("login_locked", "too many failed logins: this operator is locked out")
                        .with("locked_until", until.map(instant).unwrap_or_default()))
                }
                _ => Err(ApiError::new("login_failed", "wrong username or password")),
            }
        }
    }
}

pub async fn current(
    State(app): State<AppState>,
    Extension(p): Extension<Principal>,
) -> ApiResult<axum::Json<SessionView>> {
    let expires_at = match &p.via {
        Via::Session { id_hash, .. } => app.store.session(*id_hash).await?.map(|s| s.expires_at),
        Via::Token { id } => app.store.api_token(*id).await?.and_then(|t| t.expires_at),
    };
    Ok(axum::Json(session_view(&p, expires_at)))
}

fn ended_cookie(app: &AppState) -> ApiResult<HeaderValue> {
    HeaderValue::from_str(&auth::set_cookie("", 0, app.api.auth.secure)).map_err(ApiError::internal)
}

pub async fn logout(
    State(app): State<AppState>,
    Extension(p): Extension<Principal>,
    ClientAddr(source): ClientAddr,
) -> ApiResult<Response> {
    let Via::Session { id_hash, .. } = p.via else {
        return Err(ApiError::bad_request("an API token is revoked, not logged out (DELETE /api/v1/api-tokens/{id})"));
    };
    let op = Operation::new(app.api.ids.id(), p.actor(&source), Command::Logout(Logout { session: id_hash }));
    write::run(&app, op, |_| Reply::empty()).await?;
    let mut response = StatusCode::NO_CONTENT.into_response();
    response.headers_mut().insert(header::SET_COOKIE, ended_cookie(&app)?);
    Ok(response)
}

pub async fn logout_everywhere(
    State(app): State<AppState>,
    Extension(p): Extension<Principal>,
    ClientAddr(source): ClientAddr,
) -> ApiResult<Response> {
    let op = Operation::new(
        app.api.ids.id(),
        p.actor(&source),
        Command::LogoutEverywhere(LogoutEverywhere { operator_id: p.id() }),
    );
    write::run(&app, op, |_| Reply::empty()).await?;
    let mut response = StatusCode::NO_CONTENT.into_response();
    response.headers_mut().insert(header::SET_COOKIE, ended_cookie(&app)?);
    Ok(response)
}

pub async fn change_password(
    State(app): State<AppState>,
    Extension(p): Extension<Principal>,
    ClientAddr(source): ClientAddr,
    ApiJson(body): ApiJson<ChangePasswordRequest>,
) -> ApiResult<Response> {
    let now = app.now();
    let keys = [format!("ip:{source}"), format!("user:{}", p.operator.username)];
    throttle(&app, &keys, now)?;
    if !verify(&app, body.current_password, Some(p.operator.password_hash.clone())).await? {
        app.api.auth.login_failed(&keys, now);
        return Err(ApiError::field("current_password", "wrong_password", "the current password is wrong"));
    }
    auth::check_password(&body.new_password, &p.operator.username)?;
    let hash = {
        let _permit = app.api.hashing.acquire().await.map_err(ApiError::internal)?;
        crate::passwords::hash(&body.new_password, &app.api.ids)
            .map_err(|e| ApiError::field("new_password", "password_policy", e.to_string()))?
    };
    let op = Operation::new(
        app.api.ids.id(),
        p.actor(&source),
        Command::ChangePassword(ChangePassword { operator_id: p.id(), password_hash: hash }),
    );
    write::run(&app, op, |_| Reply::empty()).await?;
    let mut response = StatusCode::NO_CONTENT.into_response();
    response.headers_mut().insert(header::SET_COOKIE, ended_cookie(&app)?);
    Ok(response)
}

/// One's own language for the web UI, kept with the operator (so it follows them to any browser).
pub async fn set_language(
    State(app): State<AppState>,
    Extension(p): Extension<Principal>,
    ClientAddr(source): ClientAddr,
    ApiJson(body): ApiJson<LanguageRequest>,
) -> ApiResult<StatusCode> {
    if !voltvend_domain::operator::LANGUAGES.contains(&body.language.as_str()) {
        return Err(ApiError::field("language", "bad_value", "the language is zh-CN or en"));
    }
    if p.operator.language.as_deref() == Some(body.language.as_str()) {
        return Ok(StatusCode::NO_CONTENT);
    }
    let command = Command::SetLanguage(SetLanguage { operator_id: p.id(), language: body.language });
    write::run(&app, Operation::new(app.api.ids.id(), p.actor(&source), command), |_| Reply::empty()).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn list_tokens(
    State(app): State<AppState>,
    Extension(p): Extension<Principal>,
    ApiQuery(q): ApiQuery<ApiTokenQuery>,
) -> ApiResult<axum::Json<Page<ApiTokenView>>> {
    let limit = page_limit(q.limit)?;
    let operator = match q.operator_id {
        Some(id) if id != p.id().as_uuid() => {
            if !p.can(Permission::OperatorsRead) {
                return Err(ApiError::not_found("operator"));
            }
            let o = app.store.operator(id.into()).await?.ok_or_else(|| ApiError::not_found("operator"))?;
            app.visible(&p, o.scope, "operator").await?;
            Some(o.id)
        }
        Some(_) => Some(p.id()),
        None if p.can(Permission::OperatorsRead) => None,
        None => Some(p.id()),
    };
    let query = ListQuery { scope: Some(p.scope()), after: q.after, limit };
    let tokens = app.store.list_api_tokens(&query, operator).await?;
    let items: Vec<ApiTokenView> = tokens.iter().map(ApiTokenView::from).collect();
    Ok(axum::Json(Page::of(items, limit, |t| t.id.to_string())))
}

pub async fn create_token(
    State(app): State<AppState>,
    Extension(p): Extension<Principal>,
    key: IdempotencyKey,
    ClientAddr(source): ClientAddr,
    ApiJson(body): ApiJson<CreateApiTokenRequest>,
) -> ApiResult<Response> {
    let operator_id = match body.operator_id {
        Some(id) if id != p.id().as_uuid() => {
            // Tokens for others: the manager of operators in one's scope, for operators whose role grants
            // nothing the caller lacks — a token acts with its operator's permissions, so anything else would
            // hand the caller powers they do not hold.
            if !p.can(Permission::OperatorsManage) {
                return Err(ApiError::new("forbidden", "tokens for other operators need operators.manage"));
            }
            let o = app.store.operator(id.into()).await?.ok_or_else(|| ApiError::not_found("operator"))?;
            app.visible(&p, o.scope, "operator").await?;
            let theirs = super::admin::role_permissions(&app, &o.role).await?.unwrap_or_default();
            if !theirs.is_subset(&p.permissions) {
                return Err(ApiError::field(
                    "operator_id",
                    "privilege_escalation",
                    "this operator's role grants permissions you do not hold",
                ));
            }
            o.id
        }
        _ => p.id(),
    };
    let expires_at = body.expires_at.as_deref().map(|t| parse_instant("expires_at", t)).transpose()?;
    let op_id = write::operation_id(p.id(), &key.0);
    let token_id: ApiTokenId = write::derived_id(op_id, "api-token");
    let mut secret = [0_u8; 32];
    app.api.ids.fill(&mut secret);
    let record = ApiTokenRecord {
        id: token_id,
        operator_id,
        name: body.name.trim().to_string(),
        secret_hash: auth::sha256(&secret),
        created_at: app.now(),
        expires_at,
        revoked_at: None,
        created_by: Some(p.id()),
    };
    // The secret is not in the saved answer: it exists only in the first response. A retry (same key, same
    // request) is answered from the saved answer by the authorization layer, before a new secret is drawn.
    let text = auth::token_text(token_id, &secret);
    let view = ApiTokenView::from(&record);
    let saved = CreatedApiToken { token: view.clone(), secret: None };
    let op = Operation::new(op_id, p.actor(&source), Command::CreateApiToken(record));
    let (reply, replayed) = write::run_reply(&app, op, move |o| match o {
        Outcome::Created { .. } => Reply::json(StatusCode::CREATED, &saved),
        _ => Reply::error(&ApiError::internal("unexpected outcome")),
    })
    .await?;
    let mut r = if reply.status == StatusCode::CREATED && !replayed {
        Reply::json(StatusCode::CREATED, &CreatedApiToken { token: view, secret: Some(text) }).into_response(false)
    } else {
        reply.into_response(replayed)
    };
    r.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(r)
}

pub async fn revoke_token(
    State(app): State<AppState>,
    Extension(p): Extension<Principal>,
    key: IdempotencyKey,
    ClientAddr(source): ClientAddr,
    ApiPath(id): ApiPath<uuid::Uuid>,
) -> ApiResult<Response> {
    let token = app.store.api_token(id.into()).await?.ok_or_else(|| ApiError::not_found("API token"))?;
    if token.operator_id != p.id() {
        if !p.can(Permission::ApiTokensManage) {
            return Err(ApiError::not_found("API token"));
        }
        let o = app.store.operator(token.operator_id).await?.ok_or_else(|| ApiError::not_found("API token"))?;
        app.visible(&p, o.scope, "API token").await?;
    }
    write::submit(&app, &p, &key, &source, Command::RevokeApiToken(RevokeApiToken { token_id: id.into() }), |_| {
        Reply::empty()
    })
    .await
}
