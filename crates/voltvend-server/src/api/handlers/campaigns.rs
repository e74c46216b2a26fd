//! STS key change campaigns (the TID rollover, a supply group's new key): planned over every selected meter in
//! chunks, delivered with each meter's next sale, and followed on a progress view.

use axum::Extension;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use voltvend_domain::{CampaignId, MeterId, OperationId};
use voltvend_ops::{Command, KeyCampaign, Operation, PlanKeyCampaign};
use voltvend_store::CampaignSelection;

use crate::api::auth::Principal;
use crate::api::error::{ApiError, ApiResult};
use crate::api::extract::{ApiJson, ApiPath, ClientAddr, IdempotencyKey};
use crate::api::views::*;
use crate::api::write::{self, Reply};
use crate::http::AppState;

/// A meter that has seen no sale for this long is counted dormant: its key change likely needs a visit.
const DORMANT: jiff::SignedDuration = jiff::SignedDuration::from_hours(24 * 90);

async fn view(app: &AppState, c: &KeyCampaign) -> ApiResult<CampaignView> {
    let since = app.now().checked_sub(DORMANT).unwrap_or(app.now());
    let dormant = app.store.campaign_dormant(c.id, voltvend_domain::clock::timestamp_us(since)).await?;
    Ok(CampaignView {
        id: c.id.as_uuid(),
        name: c.name.clone(),
        change: KeyChangeInput::from(&c.change),
        created_at: instant(c.created_at),
        created_by: c.created_by.map(|x| x.as_uuid()),
        planned: c.planned,
        done: c.done,
        pending: c.planned - c.done,
        dormant,
    })
}

pub async fn plan(
    State(app): State<AppState>,
    Extension(p): Extension<Principal>,
    key: IdempotencyKey,
    ClientAddr(source): ClientAddr,
    ApiJson(body): ApiJson<CampaignRequest>,
) -> ApiResult<Response> {
    app.require_root(&p, "an STS key change campaign").await?;
    let change = voltvend_sts::KeyChange::from(&body.change);
    if change == voltvend_sts::KeyChange::default() {
        return Err(ApiError::field(
            "change",
            "bad_request",
            "say what changes (a key revision, a supply group, rollover…)",
        ));
    }
    let base = match body.select.base_date.as_deref() {
        Some(b) => Some(
            voltvend_sts::BaseDate::from_code(b)
                .map_err(|_| ApiError::field("select.base_date", "bad_value", "93, 14 or 35"))?
                .code()
                .to_string(),
        ),
        None => None,
    };
    let selection =
        CampaignSelection { scope: None, base, sgc: body.select.supply_group, krn: body.select.key_revision };
    let op_id = write::operation_id(p.id(), &key.0);
    let campaign_id: CampaignId = write::derived_id(op_id, "campaign");
    // Chunk by chunk; a retry of the same request plans what is left (meters planned already are no longer
    // selected), so an interrupted plan resumes.
    let mut after: Option<MeterId> = None;
    loop {
        let meters = app.store.campaign_candidates(&selection, after, PlanKeyCampaign::METERS_MAX as u32).await?;
        let Some(last) = meters.last().copied() else { break };
        let chunk_id: OperationId = write::derived_id(op_id, &format!("campaign-chunk-{last}"));
        let command = Command::PlanKeyCampaign(PlanKeyCampaign {
            campaign_id,
            name: body.name.clone(),
            change,
            meters: meters.clone(),
        });
        write::run(&app, Operation::new(chunk_id, p.actor(&source), command), |_| Reply::empty()).await?;
        if meters.len() < PlanKeyCampaign::METERS_MAX {
            break;
        }
        after = Some(last);
    }
    let campaign =
        app.store.campaign(campaign_id).await?.ok_or_else(|| {
            ApiError::new("no_meters", "no STS meter without a pending key change matches the selection")
        })?;
    Ok((StatusCode::CREATED, axum::Json(view(&app, &campaign).await?)).into_response())
}

pub async fn list(
    State(app): State<AppState>,
    Extension(p): Extension<Principal>,
) -> ApiResult<axum::Json<Vec<CampaignView>>> {
    app.require_root(&p, "the STS key change campaigns").await?;
    let mut out = Vec::new();
    for c in app.store.list_campaigns().await? {
        out.push(view(&app, &c).await?);
    }
    Ok(axum::Json(out))
}

pub async fn get(
    State(app): State<AppState>,
    Extension(p): Extension<Principal>,
    ApiPath(id): ApiPath<uuid::Uuid>,
) -> ApiResult<axum::Json<CampaignView>> {
    app.require_root(&p, "the STS key change campaigns").await?;
    let c = app.store.campaign(id.into()).await?.ok_or_else(|| ApiError::not_found("campaign"))?;
    Ok(axum::Json(view(&app, &c).await?))
}
