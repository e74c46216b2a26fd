//! IC cards at the counter (docs/cards.md): card key sets, a meter's user card issued (发卡), reissued (补卡),
//! reported lost (挂失) and taken back (退卡), the card in a counter's reader read back (回抄), and purchases
//! written onto it.
//!
//! Each change is an operation first (decided, audited, committed), and the card is written afterwards from
//! what the operation recorded: a write that fails — the card pulled out mid-write — leaves the books right and
//! the card to be written again (`POST /api/v1/sales/{id}/card`); the purchase record carries its count, which
//! the meter loads once. Every write is read back and checked before it is reported written.

use axum::Extension;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use voltvend_card::{
    CardError, CardImage, CardKind, Header, Parameters, Purchase, QuantityUnit, RootKey, Terminal, Transport,
};
use voltvend_domain::{MeterId, MeterProtocol, Utility, VendingPointId};
use voltvend_ops::{
    CardAlgorithm, CardKeyRecord, CardStatus, Command, FieldCardKind, IssueCard, IssueFieldCard, MasterKeys, MeterCard,
    MeterRecord, Outcome, RecordCardRead, SetCardStatus,
};

use super::customers::visible_meter;
use crate::api::auth::Principal;
use crate::api::error::{ApiError, ApiResult};
use crate::api::extract::{ApiJson, ApiPath, ApiQuery, ClientAddr, IdempotencyKey};
use crate::api::views::*;
use crate::api::write::{self, Reply};
use crate::cards::ReaderError;
use crate::http::AppState;

fn api_error(e: ReaderError) -> ApiError {
    ApiError::new(e.code, e.message)
}

pub async fn list_card_keys(
    State(app): State<AppState>,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> ApiResult<axum::Json<Page<CardKeyView>>> {
    let limit = page_limit(q.limit)?;
    let keys = app.store.card_keys().await?;
    let items = keys
        .iter()
        .map(|k| CardKeyView {
            key_no: k.key_no,
            algorithm: k.algorithm.as_str().to_string(),
            master_key_id: MasterKeys::key_id_of(&k.sealed),
        })
        .collect();
    Ok(axum::Json(Page::slice(items, q.after.as_deref(), limit, |k| format!("{:03}", k.key_no))))
}

pub async fn import_card_key(
    State(app): State<AppState>,
    Extension(p): Extension<Principal>,
    key: IdempotencyKey,
    ClientAddr(source): ClientAddr,
    ApiJson(body): ApiJson<ImportCardKeyRequest>,
) -> ApiResult<Response> {
    app.require_root(&p, "a card key").await?;
    let master = app.api.secrets.current().ok_or_else(crate::api::handlers::admin::no_master_key)?;
    let algorithm = CardAlgorithm::parse(body.algorithm.trim())
        .ok_or_else(|| ApiError::field("algorithm", "bad_value", "3des or sm4"))?;
    let hex = zeroize::Zeroizing::new(body.key.trim().to_uppercase());
    if hex.len() != 32 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(ApiError::field("key", "bad_card_key", "a card root key is 32 hex digits (128 bits)"));
    }
    if !(1..=255).contains(&body.key_no) {
        return Err(ApiError::field("key_no", "bad_value", "a card key number is 1–255"));
    }
    let aad = voltvend_ops::card_key_aad(body.key_no);
    let sealed = write::seal(master, write::operation_id(p.id(), &key.0), &aad, hex.as_bytes())?;
    let view =
        CardKeyView { key_no: body.key_no, algorithm: algorithm.as_str().into(), master_key_id: Some(master.id_hex()) };
    let record = CardKeyRecord { key_no: body.key_no, algorithm, sealed };
    write::submit(&app, &p, &key, &source, Command::ImportCardKey(record), move |_| {
        Reply::json(StatusCode::CREATED, &view)
    })
    .await
}

/// The vending point whose reader a request uses: the one named (which the principal must see), else that
/// of the principal's open shift, else none (the `default` reader).
async fn reader_point(app: &AppState, p: &Principal, given: Option<uuid::Uuid>) -> ApiResult<Option<VendingPointId>> {
    match given {
        Some(id) => {
            let point = app.store.vending_point(id.into()).await.map_err(|_| ApiError::not_found("vending point"))?;
            app.visible(p, point.premises_id, "vending point").await?;
            Ok(Some(point.id))
        }
        None => Ok(app.store.open_shift_of(p.id()).await?.map(|s| s.vending_point_id)),
    }
}

async fn root_key(app: &AppState, key_no: u32) -> ApiResult<RootKey> {
    crate::cards::root_key(app.store.as_ref(), &app.api.secrets, key_no).await.map_err(api_error)
}

/// An IC-card meter the principal may see.
async fn card_meter(app: &AppState, p: &Principal, id: MeterId) -> ApiResult<MeterRecord> {
    let m = visible_meter(app, p, id).await?;
    if m.meter.protocol != MeterProtocol::IcCard {
        return Err(ApiError::new("meter_not_card", format!("meter {id} is not an IC-card meter")));
    }
    Ok(m)
}

/// Everything on the card in `point`'s reader, read under card key set `key_no` (MACs checked).
async fn read_reader(app: &AppState, point: Option<VendingPointId>, key_no: u32) -> ApiResult<CardImage> {
    let root = root_key(app, key_no).await?;
    app.cards
        .session(point, move |t| {
            let mut rng = rand::rng();
            Terminal::new(t, &root, &mut rng).read()
        })
        .await
        .map_err(api_error)
}

/// The meter's number as a card carries it: at most 16 printable ASCII characters (docs/cards.md). Checked
/// before anything is committed, so that a card is never issued that cannot be written.
fn card_meter_no(m: &MeterRecord) -> ApiResult<()> {
    let a = &m.meter.address;
    if a.is_empty() || a.len() > 16 || !a.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(ApiError::new(
            "meter_not_card",
            format!("meter {}'s number {a:?} does not fit a card (1–16 printable ASCII characters)", m.meter.id),
        ));
    }
    Ok(())
}

/// The card in the reader must still be `serial` (a card swapped between two sessions is never written).
fn same_card<T: Transport + ?Sized>(term: &mut Terminal<'_, T>, serial: &str) -> Result<(), CardError> {
    if term.serial()?.to_string() == serial { Ok(()) } else { Err(CardError::NotOurs) }
}

fn card_unit(utility: Utility) -> QuantityUnit {
    match utility {
        Utility::Electricity => QuantityUnit::EnergyWh,
        Utility::Water => QuantityUnit::WaterL,
    }
}

/// The purchase a meter's card should hold: its last one, while the meter has not loaded it.
fn pending_purchase(card: &MeterCard, utility: Utility) -> Option<Purchase> {
    if !card.purchase_pending() {
        return None;
    }
    let at = card.last_purchase_at?;
    Some(Purchase {
        count: card.sold_count,
        unit: card_unit(utility),
        quantity: u64::try_from(card.last_purchase_milli).ok()?,
        at_unix_s: u32::try_from(at.as_second()).unwrap_or(u32::MAX),
    })
}

fn purchase_view(p: &Purchase, unit: &str, sale_id: Option<uuid::Uuid>) -> CardPurchaseView {
    let at = jiff::Timestamp::from_second(i64::from(p.at_unix_s)).map(instant).unwrap_or_default();
    CardPurchaseView {
        count: p.count,
        quantity: quantity(i64::try_from(p.quantity).unwrap_or(i64::MAX), unit),
        at,
        sale_id,
    }
}

/// The header of a meter's user card.
fn user_header(m: &MeterRecord, card: &MeterCard) -> Result<Header, ApiError> {
    let serial = card.serial.parse().map_err(|_| ApiError::internal("a stored card serial does not parse"))?;
    let replaces = card.replaced.last().and_then(|s| s.parse().ok());
    let customer_no = m.meter.account_id.map(|a| a.as_uuid().simple().to_string()).unwrap_or_default();
    Ok(Header {
        kind: CardKind::User,
        serial,
        utility_code: card.key_no,
        customer_no: customer_no.chars().take(16).collect(),
        meter_no: m.meter.address.clone(),
        generation: card.generation,
        replaces,
    })
}

/// Writes `purchase` onto the card in the reader, which must be `serial`, and reads it back.
fn write_purchase(t: &mut dyn Transport, root: &RootKey, serial: &str, purchase: &Purchase) -> Result<(), CardError> {
    let mut rng = rand::rng();
    let mut term = Terminal::new(t, root, &mut rng);
    same_card(&mut term, serial)?;
    term.write_purchase(purchase)?;
    match term.read()?.purchase {
        Some(p) if p == *purchase => Ok(()),
        _ => Err(CardError::Damaged(voltvend_card::LayoutError::BadField("purchase"))),
    }
}

/// Writes a purchase onto the meter's card in `point`'s reader: what came of it.
async fn write_to_card(
    app: &AppState,
    point: Option<VendingPointId>,
    card: &MeterCard,
    purchase: Option<Purchase>,
    unit: &str,
) -> CardWriteView {
    let sale_id = card.last_purchase_sale.map(|s| s.as_uuid());
    let mut view = CardWriteView {
        serial: card.serial.clone(),
        written: false,
        purchase: purchase.as_ref().map(|p| purchase_view(p, unit, sale_id)),
        error: None,
    };
    let Some(purchase) = purchase else {
        view.written = true;
        return view;
    };
    let result = match root_key(app, card.key_no).await {
        Ok(root) => {
            let serial = card.serial.clone();
            app.cards.session(point, move |t| write_purchase(t, &root, &serial, &purchase)).await.map_err(|e| {
                match e.code {
                    // The card in the reader is not this meter's: say so rather than "not ours".
                    "card_not_ours" => {
                        ApiError::new("card_not_this_meter", "the card in the reader is not this meter's card")
                    }
                    _ => api_error(e),
                }
            })
        }
        Err(e) => Err(e),
    };
    match result {
        Ok(()) => view.written = true,
        Err(e) => view.error = Some(e.body()),
    }
    view
}

pub async fn get_meter_card(
    State(app): State<AppState>,
    Extension(p): Extension<Principal>,
    ApiPath(id): ApiPath<uuid::Uuid>,
) -> ApiResult<axum::Json<MeterCardView>> {
    let m = card_meter(&app, &p, id.into()).await?;
    let card = app.store.meter_card(m.meter.id).await?.ok_or_else(|| ApiError::not_found("card"))?;
    Ok(axum::Json(MeterCardView::of(&card, &unit_of(m.meter.utility, m.meter.protocol, None))))
}

/// 发卡 / 补卡: the blank card in the reader becomes the meter's user card; a purchase the old card still held
/// unloaded is written onto the new one under the same count.
pub async fn issue_card(
    State(app): State<AppState>,
    Extension(p): Extension<Principal>,
    key: IdempotencyKey,
    ClientAddr(source): ClientAddr,
    ApiPath(id): ApiPath<uuid::Uuid>,
    ApiJson(body): ApiJson<IssueCardRequest>,
) -> ApiResult<Response> {
    let m = card_meter(&app, &p, id.into()).await?;
    card_meter_no(&m)?;
    let point = reader_point(&app, &p, body.vending_point_id).await?;
    let key_no = app.cards.key_no;
    let image = read_reader(&app, point, key_no).await?;
    let serial = image.serial.to_string();
    let current = app.store.meter_card(m.meter.id).await?;
    // A retry finds the card issued to this meter already (personalised or not yet): only the writing is redone.
    let redo = current.as_ref().is_some_and(|c| c.serial == serial && c.status == CardStatus::Active);
    if image.header.is_some() && !redo {
        return Err(ApiError::new("card_not_blank", "a new card must be blank: this one is already issued"));
    }
    let unit = unit_of(m.meter.utility, m.meter.protocol, None);
    let (reply, replayed) = if redo {
        (Reply::empty(), true)
    } else {
        let command = Command::IssueCard(IssueCard {
            meter_id: m.meter.id,
            serial: serial.clone(),
            key_no,
            reason: body.reason.clone(),
        });
        write::submit_reply(&app, &p, &key, &source, command, |o| match o {
            Outcome::CardIssued(_) => Reply::empty(),
            _ => Reply::error(&ApiError::internal("unexpected outcome")),
        })
        .await?
    };
    if !reply.status.is_success() {
        return Ok(reply.into_response(replayed));
    }
    let card =
        app.store.meter_card(m.meter.id).await?.ok_or_else(|| ApiError::internal("the card issued is not stored"))?;
    if card.serial != serial {
        return Err(ApiError::new("card_not_current", "the card in the reader is not the card issued by this request"));
    }
    let header = user_header(&m, &card)?;
    let write_root = root_key(&app, card.key_no).await?;
    let expected = serial.clone();
    let personalised = app
        .cards
        .session(point, move |t| {
            let mut rng = rand::rng();
            let mut term = Terminal::new(t, &write_root, &mut rng);
            same_card(&mut term, &expected)?;
            match term.read()?.header {
                None => term.issue(&header, None).map(drop),
                Some(h) if h == header => Ok(()),
                // Issued before this reissue's generation (a retry after a crash): bring the header up to date.
                Some(_) => term.write_header(&header),
            }
        })
        .await;
    let mut write = match personalised {
        Ok(()) => write_to_card(&app, point, &card, pending_purchase(&card, m.meter.utility), &unit).await,
        Err(e) => CardWriteView {
            serial: card.serial.clone(),
            written: false,
            purchase: None,
            error: Some(api_error(e).body()),
        },
    };
    if write.purchase.is_none() && write.error.is_none() {
        write.written = true;
    }
    let view = CardIssuedView { card: MeterCardView::of(&card, &unit), write };
    Ok(Reply::json(StatusCode::CREATED, &view).into_response(replayed))
}

/// 挂失: the meter's card reported lost; nothing more is sold onto it until a card is reissued.
pub async fn card_lost(
    State(app): State<AppState>,
    Extension(p): Extension<Principal>,
    key: IdempotencyKey,
    ClientAddr(source): ClientAddr,
    ApiPath(id): ApiPath<uuid::Uuid>,
    ApiJson(body): ApiJson<CardLostRequest>,
) -> ApiResult<Response> {
    let m = card_meter(&app, &p, id.into()).await?;
    let unit = unit_of(m.meter.utility, m.meter.protocol, None);
    let command = Command::SetCardStatus(SetCardStatus {
        meter_id: m.meter.id,
        serial: body.serial.trim().to_uppercase(),
        status: CardStatus::Lost,
        reason: body.reason,
    });
    write::submit(&app, &p, &key, &source, command, move |o| match o {
        Outcome::CardChanged(card) => Reply::json(StatusCode::OK, &MeterCardView::of(card, &unit)),
        _ => Reply::error(&ApiError::internal("unexpected outcome")),
    })
    .await
}

/// Reads the card in a reader and records the return data on it as its meter's (回抄), when it is a user card
/// of a meter the principal may see. `key` names the recording operation.
async fn read_and_record(
    app: &AppState,
    p: &Principal,
    key: &IdempotencyKey,
    source: &str,
    point: Option<VendingPointId>,
    check_meter: Option<MeterId>,
) -> ApiResult<CardReadView> {
    let image = read_reader(app, point, app.cards.key_no).await?;
    let serial = image.serial.to_string();
    let mut view = read_view(&serial, image.header.as_ref());
    let Some(header) = &image.header else { return Ok(view) };
    let (m, card) = match header.kind {
        CardKind::User => {
            let Some(card) = app.store.meter_card_by_serial(&serial).await? else {
                view.standing = Some("unknown".into());
                return Ok(view);
            };
            // A card of a meter outside the principal's scope reads as not found, like the meter itself.
            let m = card_meter(app, p, card.meter_id).await?;
            view.standing = Some(if card.serial == serial { "current" } else { "replaced" }.into());
            (m, Some(card))
        }
        // A check card carries the data of whichever meter it was inserted into: the one the field engineer names.
        CardKind::Check => {
            let Some(meter) = check_meter else { return Ok(view) };
            let m = card_meter(app, p, meter).await?;
            if header.meter_no != m.meter.address {
                return Err(ApiError::new("card_not_this_meter", "the check card was made for another meter"));
            }
            let card = app.store.meter_card(m.meter.id).await?;
            (m, card)
        }
        _ => return Ok(view),
    };
    let unit = unit_of(m.meter.utility, m.meter.protocol, None);
    view.meter_id = Some(m.meter.id.as_uuid());
    view.account_id = m.meter.account_id.map(|a| a.as_uuid());
    if let Some(card) = &card {
        let sale =
            card.last_purchase_sale.filter(|_| image.purchase.as_ref().is_some_and(|x| x.count == card.sold_count));
        view.purchase = image.purchase.as_ref().map(|x| purchase_view(x, &unit, sale.map(|s| s.as_uuid())));
        view.card = Some(MeterCardView::of(card, &unit));
    }
    let user = header.kind == CardKind::User;
    if let Some(r) = &image.returned {
        let at = jiff::Timestamp::from_second(i64::from(r.at_unix_s)).unwrap_or(jiff::Timestamp::UNIX_EPOCH);
        view.returned = Some(CardReturnDataView {
            meter_no: r.meter_no.clone(),
            last_count: r.last_count,
            remaining: quantity(r.remaining, &unit),
            total_used: quantity(i64::try_from(r.total_used_wh).unwrap_or(i64::MAX), &unit),
            relay_open: r.relay_open,
            tamper: r.tamper,
            events: r.events.iter().map(|e| format!("Err-{e:02}")).collect(),
            at: instant(at),
        });
        if r.meter_no == m.meter.address && card.is_some() {
            let command = Command::RecordCardRead(RecordCardRead {
                meter_id: m.meter.id,
                serial: user.then(|| serial.clone()),
                last_count: r.last_count,
                remaining_milli: r.remaining.max(0),
                at,
            });
            let (reply, _) = write::submit_reply(app, p, key, source, command, |o| match o {
                Outcome::CardRead { .. } => Reply::empty(),
                _ => Reply::error(&ApiError::internal("unexpected outcome")),
            })
            .await?;
            if !reply.status.is_success() {
                let body: serde_json::Value = serde_json::from_slice(&reply.body).unwrap_or_default();
                let code = body.get("code").and_then(|c| c.as_str()).unwrap_or("internal").to_string();
                let message = body.get("message").and_then(|c| c.as_str()).unwrap_or_default().to_string();
                return Err(ApiError::new(&code, message));
            }
            view.recorded = true;
            if let Some(after) = app.store.meter_card(m.meter.id).await? {
                view.card = Some(MeterCardView::of(&after, &unit));
            }
        }
    }
    Ok(view)
}

fn kind_text(k: CardKind) -> &'static str {
    match k {
        CardKind::User => "user",
        CardKind::Check => "check",
        CardKind::Reset => "reset",
        CardKind::Clear => "clear",
        CardKind::Parameter => "parameter",
        CardKind::Test => "test",
    }
}

/// The card in the counter's reader, read (and its return data recorded as its meter's, 回抄).
pub async fn read_card(
    State(app): State<AppState>,
    Extension(p): Extension<Principal>,
    key: IdempotencyKey,
    ClientAddr(source): ClientAddr,
    ApiJson(body): ApiJson<CardReaderRequest>,
) -> ApiResult<axum::Json<CardReadView>> {
    let point = reader_point(&app, &p, body.vending_point_id).await?;
    Ok(axum::Json(read_and_record(&app, &p, &key, &source, point, body.meter_id.map(Into::into)).await?))
}

/// A sale's purchase written (again) onto its meter's card in the reader.
pub async fn write_sale_card(
    State(app): State<AppState>,
    Extension(p): Extension<Principal>,
    ApiPath(id): ApiPath<uuid::Uuid>,
    ApiJson(body): ApiJson<CardReaderRequest>,
) -> ApiResult<axum::Json<CardWriteView>> {
    let sale = app.store.sale(id.into()).await?.ok_or_else(|| ApiError::not_found("sale"))?;
    let m = card_meter(&app, &p, sale.meter_id).await.map_err(|_| ApiError::not_found("sale"))?;
    let card = app.store.meter_card(m.meter.id).await?.ok_or_else(|| ApiError::not_found("card"))?;
    if card.last_purchase_sale != Some(sale.operation_id) || !card.purchase_pending() {
        return Err(ApiError::new(
            "card_purchase_loaded",
            "this sale is not a purchase the card still has to carry: the meter has loaded it, or a later one",
        ));
    }
    if card.status != CardStatus::Active {
        return Err(ApiError::new("card_not_issued", format!("the meter's card is {}", card.status)));
    }
    // The reader at the principal's own counter (or one they may see), never just the sale's.
    let point = reader_point(&app, &p, body.vending_point_id).await?;
    let unit = unit_of(m.meter.utility, m.meter.protocol, None);
    let view = write_to_card(&app, point, &card, pending_purchase(&card, m.meter.utility), &unit).await;
    Ok(axum::Json(view))
}

/// 退卡: the meter's card, in the reader, taken back: its return data recorded, the card blanked.
pub async fn return_card(
    State(app): State<AppState>,
    Extension(p): Extension<Principal>,
    key: IdempotencyKey,
    ClientAddr(source): ClientAddr,
    ApiPath(id): ApiPath<uuid::Uuid>,
    ApiJson(body): ApiJson<CardReturnRequest>,
) -> ApiResult<Response> {
    let m = card_meter(&app, &p, id.into()).await?;
    let point = reader_point(&app, &p, body.vending_point_id).await?;
    let card = app.store.meter_card(m.meter.id).await?.ok_or_else(|| ApiError::not_found("card"))?;
    let unit = unit_of(m.meter.utility, m.meter.protocol, None);
    let root = root_key(&app, card.key_no).await?;
    if card.status != CardStatus::Returned {
        let read_key = IdempotencyKey(format!("{}#read", key.0));
        let read = read_and_record(&app, &p, &read_key, &source, point, None).await?;
        if read.meter_id != Some(m.meter.id.as_uuid()) || read.standing.as_deref() != Some("current") {
            return Err(ApiError::new("card_not_this_meter", "the card in the reader is not this meter's card"));
        }
        let command = Command::SetCardStatus(SetCardStatus {
            meter_id: m.meter.id,
            serial: card.serial.clone(),
            status: CardStatus::Returned,
            reason: body.reason,
        });
        let (reply, replayed) = write::submit_reply(&app, &p, &key, &source, command, |o| match o {
            Outcome::CardChanged(_) => Reply::empty(),
            _ => Reply::error(&ApiError::internal("unexpected outcome")),
        })
        .await?;
        if !reply.status.is_success() {
            return Ok(reply.into_response(replayed));
        }
    }
    let serial = card.serial.clone();
    app.cards
        .session(point, move |t| {
            let mut rng = rand::rng();
            let mut term = Terminal::new(t, &root, &mut rng);
            same_card(&mut term, &serial)?;
            term.blank().map(drop)
        })
        .await
        .map_err(|e| match e.code {
            "card_not_ours" => ApiError::new("card_not_this_meter", "the card in the reader is not this meter's card"),
            _ => api_error(e),
        })?;
    let after = app.store.meter_card(m.meter.id).await?.ok_or_else(|| ApiError::not_found("card"))?;
    Ok(Reply::json(StatusCode::OK, &MeterCardView::of(&after, &unit)).into_response(false))
}

/// For a sale to an IC-card meter: the card in the reader read first, refused if it is another meter's card,
/// and its return data recorded (so that a purchase the meter has loaded since no longer blocks this one). A
/// reader that has no card, or none at all, does not stop the sale: its purchase is written later.
pub async fn before_card_sale(
    app: &AppState,
    p: &Principal,
    key: &IdempotencyKey,
    source: &str,
    meter: MeterId,
    point: Option<VendingPointId>,
) -> ApiResult<()> {
    let read_key = IdempotencyKey(format!("{}#card-read", key.0));
    match read_and_record(app, p, &read_key, source, point, None).await {
        Ok(read) if read.blank => Err(ApiError::new("card_blank", "the card in the reader is blank: issue it first")),
        Ok(read) if read.kind.as_deref() != Some("user") => {
            Err(ApiError::new("card_wrong_kind", "the card in the reader is not a customer's card"))
        }
        Ok(read) if read.meter_id != Some(meter.as_uuid()) => {
            Err(ApiError::new("card_not_this_meter", "the card in the reader is another meter's card"))
        }
        Ok(read) if read.standing.as_deref() == Some("replaced") => {
            Err(ApiError::new("card_replaced", "the card in the reader was replaced by a reissue and is refused"))
        }
        Ok(_) => Ok(()),
        Err(e)
            if matches!(
                e.code.as_str(),
                "card_absent" | "card_reader_not_configured" | "card_reader_unavailable" | "card_key_missing"
            ) =>
        {
            Ok(())
        }
        Err(e) => Err(e),
    }
}

/// After a sale to an IC-card meter committed: its purchase written onto the card in the reader.
pub async fn after_card_sale(
    app: &AppState,
    sale_id: voltvend_domain::OperationId,
    meter: &MeterRecord,
    point: Option<VendingPointId>,
) -> ApiResult<Option<CardWriteView>> {
    let Some(card) = app.store.meter_card(meter.meter.id).await? else { return Ok(None) };
    if card.last_purchase_sale != Some(sale_id) {
        return Ok(None);
    }
    let unit = unit_of(meter.meter.utility, meter.meter.protocol, None);
    Ok(Some(write_to_card(app, point, &card, pending_purchase(&card, meter.meter.utility), &unit).await))
}

/// A field engineer's card for an IC-card meter, written on the blank card in the reader: a check, reset,
/// clear, parameter (open-account) or test card (the commissioning flow: reset → clear → open account →
/// verify with a check card; docs/cards.md).
pub async fn issue_field_card(
    State(app): State<AppState>,
    Extension(p): Extension<Principal>,
    key: IdempotencyKey,
    ClientAddr(source): ClientAddr,
    ApiPath(id): ApiPath<uuid::Uuid>,
    ApiJson(body): ApiJson<FieldCardRequest>,
) -> ApiResult<Response> {
    let m = card_meter(&app, &p, id.into()).await?;
    card_meter_no(&m)?;
    let kind = FieldCardKind::parse(body.kind.trim())
        .ok_or_else(|| ApiError::field("kind", "bad_value", "check, reset, clear, parameter or test"))?;
    let milli = |field: &str, v: &Option<String>, default: i64| -> ApiResult<i64> {
        v.as_deref().map_or(Ok(default), |t| crate::api::views::parse_quantity(field, t))
    };
    let parameters = (kind == FieldCardKind::Parameter)
        .then(|| -> ApiResult<Parameters> {
            Ok(Parameters {
                unit: card_unit(m.meter.utility),
                alarm1: milli("alarm1", &body.alarm1, ALARM1_DEFAULT_MILLI)?,
                alarm2: milli("alarm2", &body.alarm2, ALARM2_DEFAULT_MILLI)?,
                overdraft_limit: milli("overdraft", &body.overdraft, 0)?,
                hoarding_limit: body
                    .hoarding_limit
                    .as_ref()
                    .map(|t| parse_quantity("hoarding_limit", t))
                    .transpose()?,
                power_limit_w: body.power_limit_w,
                price_micro_per_kwh: 0,
                friendly_night_min: None,
            })
        })
        .transpose()?;
    let point = reader_point(&app, &p, body.vending_point_id).await?;
    let image = read_reader(&app, point, app.cards.key_no).await?;
    if image.header.is_some() {
        return Err(ApiError::new("card_not_blank", "a new card must be blank: this one is already issued"));
    }
    let serial = image.serial.to_string();
    let command = Command::IssueFieldCard(IssueFieldCard { meter_id: m.meter.id, serial: serial.clone(), kind });
    let replayed =
        match write::committed_or_answer(&app, &p, &key, &source, command, |o| matches!(o, Outcome::Updated { .. }))
            .await?
        {
            Ok(replayed) => replayed,
            Err(refused) => return Ok(refused),
        };
    let header = Header {
        kind: field_kind(kind),
        serial: image.serial,
        utility_code: app.cards.key_no,
        customer_no: String::new(),
        meter_no: m.meter.address.clone(),
        generation: 0,
        replaces: None,
    };
    let expected = serial.clone();
    let root = root_key(&app, app.cards.key_no).await?;
    app.cards
        .session(point, move |t| {
            let mut rng = rand::rng();
            let mut term = Terminal::new(t, &root, &mut rng);
            same_card(&mut term, &expected)?;
            term.issue(&header, parameters.as_ref()).map(drop)
        })
        .await
        .map_err(api_error)?;
    let view = FieldCardView {
        serial,
        kind: kind.as_str().to_string(),
        meter_id: m.meter.id.as_uuid(),
        meter_no: m.meter.address.clone(),
    };
    Ok(Reply::json(StatusCode::CREATED, &view).into_response(replayed))
}

/// A parameter card's alarm levels unless given: 10 and 2 units (kWh, m³) left.
const ALARM1_DEFAULT_MILLI: i64 = 10_000;
const ALARM2_DEFAULT_MILLI: i64 = 2_000;

fn field_kind(k: FieldCardKind) -> CardKind {
    match k {
        FieldCardKind::Check => CardKind::Check,
        FieldCardKind::Reset => CardKind::Reset,
        FieldCardKind::Clear => CardKind::Clear,
        FieldCardKind::Parameter => CardKind::Parameter,
        FieldCardKind::Test => CardKind::Test,
    }
}

/// A field engineer's card in the reader blanked for reuse. Customers' cards are blanked only by 退卡.
pub async fn blank_field_card(
    State(app): State<AppState>,
    Extension(p): Extension<Principal>,
    ApiJson(body): ApiJson<CardReaderRequest>,
) -> ApiResult<axum::Json<CardReadView>> {
    let point = reader_point(&app, &p, body.vending_point_id).await?;
    let root = root_key(&app, app.cards.key_no).await?;
    let serial = app
        .cards
        .session(point, move |t| {
            let mut rng = rand::rng();
            let mut term = Terminal::new(t, &root, &mut rng);
            match term.read()?.header {
                Some(h) if h.kind == CardKind::User => Ok(Err(())),
                _ => term.blank().map(Ok),
            }
        })
        .await
        .map_err(api_error)?
        .map_err(|()| {
            ApiError::new("card_wrong_kind", "a customer's card is taken back with 退卡, not blanked here")
        })?;
    Ok(axum::Json(read_view(&serial.to_string(), None)))
}

/// What a card's header shows, before anything is looked up about it (`None`: a blank card).
fn read_view(serial: &str, header: Option<&Header>) -> CardReadView {
    CardReadView {
        serial: serial.to_string(),
        blank: header.is_none(),
        kind: header.map(|h| kind_text(h.kind).to_string()),
        meter_no: header.map(|h| h.meter_no.clone()),
        customer_no: header.map(|h| h.customer_no.clone()),
        generation: header.map(|h| h.generation),
        standing: None,
        meter_id: None,
        account_id: None,
        purchase: None,
        returned: None,
        recorded: false,
        card: None,
    }
}

#[derive(Debug, serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct VirtualReaderQuery {
    pub vending_point_id: Option<uuid::Uuid>,
}

/// The virtual reader of a counter (refused for a real one).
async fn virtual_reader(app: &AppState, p: &Principal, given: Option<uuid::Uuid>) -> ApiResult<String> {
    let point = reader_point(app, p, given).await?;
    match app.cards.reader_of(point) {
        Some((key, crate::cards::ReaderSpec::Virtual)) => Ok(key),
        Some(_) => Err(ApiError::new("card_reader_not_virtual", "this counter's reader is a real one: use real cards")),
        None => Err(ApiError::new("card_reader_not_configured", "no card reader is configured for this counter")),
    }
}

fn desk_view(app: &AppState, reader: String, meter: Option<VirtualMeterView>) -> VirtualReaderView {
    let (in_reader, desk) = app.cards.desk(&reader);
    VirtualReaderView { reader, in_reader, desk, meter }
}

pub async fn get_virtual_reader(
    State(app): State<AppState>,
    Extension(p): Extension<Principal>,
    ApiQuery(q): ApiQuery<VirtualReaderQuery>,
) -> ApiResult<axum::Json<VirtualReaderView>> {
    let reader = virtual_reader(&app, &p, q.vending_point_id).await?;
    Ok(axum::Json(desk_view(&app, reader, None)))
}

/// A virtual reader's cards moved: a new blank card, a card from the desk, the card out, or the card taken to
/// its (simulated) meter — so that the whole card loop can be tried without a reader or a meter.
pub async fn use_virtual_reader(
    State(app): State<AppState>,
    Extension(p): Extension<Principal>,
    ApiJson(body): ApiJson<VirtualReaderRequest>,
) -> ApiResult<axum::Json<VirtualReaderView>> {
    let reader = virtual_reader(&app, &p, body.vending_point_id).await?;
    let mut meter = None;
    match body.action.as_str() {
        "new" => {
            let mut serial = [0_u8; 8];
            rand::RngCore::fill_bytes(&mut rand::rng(), &mut serial);
            serial[0] = 0xD0;
            let card = voltvend_card::VirtualCard::new(
                voltvend_card::CardSerial(serial),
                root_key(&app, app.cards.key_no).await?.alg(),
                &mut rand::rng(),
            );
            app.cards.swap_in(&reader, card);
        }
        "insert" => {
            let serial = body.serial.as_deref().unwrap_or_default().trim().to_uppercase();
            if !app.cards.insert_from_desk(&reader, &serial) {
                return Err(ApiError::field("serial", "not_found", "no such card on the desk"));
            }
        }
        "eject" => {
            if !app.cards.eject(&reader) {
                return Err(ApiError::new("card_absent", "no card in the reader"));
            }
        }
        "meter" => {
            let root = root_key(&app, app.cards.key_no).await?;
            let (meter_no, done, credit) =
                app.cards.at_the_meter(&reader, &root, app.clock.now()).map_err(api_error)?;
            let (outcome, loaded, display) = match done {
                Ok(d) => {
                    use voltvend_meter::controller::CardOutcome as O;
                    let (word, loaded) = match d.outcome {
                        O::Loaded { amount, .. } => ("loaded", Some(amount)),
                        O::AlreadyLoaded { .. } => ("already_loaded", None),
                        O::NoPurchase => ("no_purchase", None),
                        O::Checked => ("checked", None),
                        O::Reset => ("reset", None),
                        O::Cleared => ("cleared", None),
                        O::AccountOpened => ("account_opened", None),
                        O::Tested => ("tested", None),
                    };
                    (word, loaded, None)
                }
                Err(code) => ("refused", None, Some(code)),
            };
            meter = Some(VirtualMeterView {
                meter_no,
                outcome: outcome.into(),
                loaded_milli: loaded,
                display,
                credit_milli: credit,
            });
        }
        _ => return Err(ApiError::field("action", "bad_value", "new, insert, eject or meter")),
    }
    Ok(axum::Json(desk_view(&app, reader, meter)))
}
