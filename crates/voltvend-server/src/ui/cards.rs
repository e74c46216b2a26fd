//! IC cards in the web UI (docs/cards.md): a meter's user card issued (发卡), reissued (补卡), reported lost
//! (挂失) and taken back (退卡); field engineers' cards; the card in the counter's reader read (读卡, 回抄) and
//! a sale's purchase written onto it again; and, with a virtual reader (demos), the emulated cards moved in
//! and out and taken to their simulated meters. Like every page, through the API as the operator (ADR 0004).

use askama::Template;
use axum::Router;
use axum::extract::{Path, Request, State};
use axum::http::Method;
use axum::response::Response;
use axum::routing::{get, post};
use serde_json::json;

use super::pages::{PageCtx, csrf_refused, error_page, html_with, new_key, read_form, uuid_ok};
use super::{J, Ui, UiError};
use crate::http::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/ui/card", get(card_page_get))
        .route("/ui/meters/{id}/card", post(meter_card))
        .route("/ui/card-reader/read", post(read_card))
        .route("/ui/card-reader/virtual", post(virtual_reader))
        .route("/ui/sales/{id}/card", post(write_sale_card))
}

#[derive(Template)]
#[template(path = "card.html")]
struct CardPage {
    page: PageCtx,
    view: Option<J>,
    reader: Option<J>,
    notice: Option<String>,
    key: String,
    reader_meter: String,
    reader_back: String,
    error: Option<UiError>,
}

async fn card_page(
    app: &AppState,
    ui: &Ui,
    view: Option<J>,
    notice: Option<String>,
    meter: &str,
    error: Option<UiError>,
) -> Response {
    let r = ui.get("/api/v1/card-reader/virtual").await;
    html_with(
        &CardPage {
            page: PageCtx::new(ui, "card.read_title"),
            view,
            reader: r.ok().then(|| r.json()),
            notice,
            key: new_key(app),
            reader_meter: meter.to_string(),
            reader_back: "/ui/card".into(),
            error: error.clone(),
        },
        &error,
    )
}

async fn card_page_get(State(app): State<AppState>, ui: Ui) -> Response {
    card_page(&app, &ui, None, None, "", None).await
}

/// 读卡: the card in the reader read, its return data recorded (回抄).
async fn read_card(State(app): State<AppState>, ui: Ui, request: Request) -> Response {
    let f = read_form(request).await;
    if !f.csrf_ok(&ui) {
        return csrf_refused(&ui);
    }
    let meter = f.get("meter_id").to_string();
    let mut body = json!({});
    if let (Some(m), Some(b)) = (uuid_ok(&meter), body.as_object_mut()) {
        b.insert("meter_id".into(), json!(m));
    }
    let a = ui.post("/api/v1/card-reader/read", &body, f.get("key")).await;
    if !a.ok() {
        return card_page(&app, &ui, None, None, &meter, Some(a.error())).await;
    }
    card_page(&app, &ui, Some(a.json()), None, &meter, None).await
}

/// The card forms of a meter's page: issue or reissue, lost, return, a field card.
async fn meter_card(State(app): State<AppState>, ui: Ui, Path(id): Path<String>, request: Request) -> Response {
    let Some(id) = uuid_ok(&id) else { return error_page(&ui, UiError::new("not_found", ""), "/ui/counter") };
    let f = read_form(request).await;
    if !f.csrf_ok(&ui) {
        return csrf_refused(&ui);
    }
    let back = |e: UiError| super::pages::meter_page_noted(&app, &ui, id, Some(e), None);
    let (path, body, reason_field) = match f.get("action") {
        "issue" => (format!("/api/v1/meters/{id}/card"), json!({"reason": f.get("card_reason")}), "card_reason"),
        "lost" | "return" => {
            if f.get("status_reason").is_empty() {
                return back(UiError::new("required", "status_reason")).await;
            }
            let action = f.get("action");
            let body = if action == "lost" {
                json!({"serial": f.get("serial"), "reason": f.get("status_reason")})
            } else {
                json!({"reason": f.get("status_reason")})
            };
            (format!("/api/v1/meters/{id}/card/{action}"), body, "status_reason")
        }
        "field" => {
            let mut body = json!({"kind": f.get("kind")});
            for field in ["alarm1", "alarm2"] {
                if let (Some(v), Some(b)) = (f.opt(field), body.as_object_mut()) {
                    b.insert(field.into(), json!(v));
                }
            }
            (format!("/api/v1/meters/{id}/field-cards"), body, "")
        }
        _ => return back(UiError::new("bad_value", "")).await,
    };
    let key = format!("{}-{}", f.get("key"), f.get("action"));
    let a = ui.post(&path, &body, &key).await;
    if !a.ok() {
        let mut e = a.error();
        if e.field == "reason" {
            e.field = reason_field.into();
        }
        return back(e).await;
    }
    let page = PageCtx::new(&ui, "meter.title");
    let answer = a.json();
    // A card issued but not (fully) written: the refusal says why, and the form can be sent again.
    let write = answer.at("write");
    if write.has("error") {
        let e = write.at("error");
        return back(UiError { code: e.s("code"), field: String::new(), message: e.s("message") }).await;
    }
    let notice = match f.get("action") {
        "issue" => format!("{} {}", page.t("card.issued"), answer.at("card").s("serial")),
        "field" => format!("{} {} {}", page.t("card.field_written"), page.word(&answer.s("kind")), answer.s("serial")),
        "lost" => page.t("card.lost_done").to_string(),
        _ => page.t("card.returned_done").to_string(),
    };
    super::pages::meter_page_noted(&app, &ui, id, None, Some(notice)).await
}

/// A virtual reader's cards: a new blank card, one from the desk, the card out, the card to its meter.
async fn virtual_reader(State(app): State<AppState>, ui: Ui, request: Request) -> Response {
    let f = read_form(request).await;
    if !f.csrf_ok(&ui) {
        return csrf_refused(&ui);
    }
    let back = f.get("back").to_string();
    let meter = back.strip_prefix("/ui/meters/").and_then(uuid_ok);
    let mut body = json!({"action": f.get("action")});
    if let (Some(s), Some(b)) = (f.opt("serial"), body.as_object_mut()) {
        b.insert("serial".into(), json!(s));
    }
    let a = ui.call(Method::POST, "/api/v1/card-reader/virtual", Some(&body), None).await;
    let (notice, error) = if a.ok() {
        let page = PageCtx::new(&ui, "card.read_title");
        let m = a.json().at("meter");
        let notice = m.has("meter_no").then(|| {
            let kwh = |milli: &str| voltvend_domain::decimal::format_scaled(milli.parse().unwrap_or(0), 3);
            let mut text = format!("{} {}: {}", page.t("card.at_meter"), m.s("meter_no"), page.word(&m.s("outcome")));
            if m.has("loaded_milli") {
                text.push_str(&format!(" {} kWh", kwh(&m.s("loaded_milli"))));
            }
            if m.has("display") {
                text.push_str(&format!(" · {}", m.s("display")));
            }
            text.push_str(&format!(" · {} {} kWh", page.t("card.meter_credit"), kwh(&m.s("credit_milli"))));
            text
        });
        (notice, None)
    } else {
        (None, Some(a.error()))
    };
    match meter {
        Some(id) => super::pages::meter_page_noted(&app, &ui, id, error, notice).await,
        None => card_page(&app, &ui, None, notice, "", error).await,
    }
}

/// A sale's purchase written onto the card in the reader again.
async fn write_sale_card(State(app): State<AppState>, ui: Ui, Path(id): Path<String>, request: Request) -> Response {
    let Some(id) = uuid_ok(&id) else { return error_page(&ui, UiError::new("not_found", ""), "/ui/counter") };
    let f = read_form(request).await;
    if !f.csrf_ok(&ui) {
        return csrf_refused(&ui);
    }
    let a = ui.call(Method::POST, &format!("/api/v1/sales/{id}/card"), Some(&json!({})), None).await;
    let result = if !a.ok() {
        a.error().code
    } else if a.json().is("written", "true") {
        "written".into()
    } else {
        a.json().at("error").s("code")
    };
    super::pages::sale_page_with(&app, &ui, id, None, false, Some(result)).await
}
