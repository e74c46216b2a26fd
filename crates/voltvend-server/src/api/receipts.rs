//! Receipts (小票) of sales and of payments of rent and fees: what the receipt crate needs, gathered from the records, and the three forms it
//! renders (80 mm HTML print view, ESC/POS bytes, A4 PDF) in zh-CN or English.

use voltvend_domain::{MeterProtocol, PremisesLevel};
use voltvend_ops::{PaymentMethod, SaleRecord};
use voltvend_receipt::{EscPosEncoding, Language, ReceiptData, TokenKind};

use super::error::{ApiError, ApiResult};
use super::write::Reply;
use crate::http::AppState;

/// Where the receipt stylesheet is served (the Content-Security-Policy forbids inline styles).
pub const CSS_PATH: &str = "/assets/receipt.css";

/// The form a receipt is wanted in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Html,
    EscPos,
    Pdf,
}

impl Format {
    pub fn parse(text: Option<&str>) -> ApiResult<Self> {
        match text.unwrap_or("html") {
            "html" => Ok(Self::Html),
            "escpos" => Ok(Self::EscPos),
            "pdf" => Ok(Self::Pdf),
            other => Err(ApiError::field("format", "bad_request", format!("format {other:?}: html, escpos or pdf"))),
        }
    }

    pub fn ops(self) -> voltvend_ops::ReceiptFormat {
        match self {
            Self::Html => voltvend_ops::ReceiptFormat::Html,
            Self::EscPos => voltvend_ops::ReceiptFormat::EscPos,
            Self::Pdf => voltvend_ops::ReceiptFormat::Pdf,
        }
    }
}

pub fn language(text: Option<&str>) -> ApiResult<Language> {
    match text.unwrap_or("zh-CN") {
        "zh-CN" | "zh" => Ok(Language::ZhCn),
        "en" => Ok(Language::En),
        other => Err(ApiError::field("lang", "bad_request", format!("lang {other:?}: zh-CN or en"))),
    }
}

/// What every receipt shows above its amounts: who issued it, where, when, and to whom.
struct Heading {
    property_name: String,
    vending_point_name: String,
    issued_at: String,
    operator_name: String,
    customer_name: String,
    account_ref: String,
    premises_label: String,
    account: voltvend_ops::AccountRecord,
}

async fn heading(
    app: &AppState,
    account_id: voltvend_domain::AccountId,
    point_id: voltvend_domain::VendingPointId,
    operator_id: voltvend_domain::OperatorId,
    at: jiff::Timestamp,
) -> ApiResult<Heading> {
    let store = app.store.as_ref();
    let account = store.account(account_id).await?;
    let customer = store.customer(account.account.customer_id).await?;
    let point = store.vending_point(point_id).await?;
    let operator = store.operator(operator_id).await?.map(|o| o.display_name).unwrap_or_default();
    let unit = app.premises(account.account.premises_id).await?;
    let mut names = Vec::new();
    let mut property_name = String::new();
    for id in &unit.path {
        let node = app.premises(*id).await?;
        match node.level {
            PremisesLevel::Group => {
                if property_name.is_empty() {
                    property_name = node.name.clone();
                }
            }
            PremisesLevel::Property => property_name = node.name.clone(),
            _ => names.push(node.name.clone()),
        }
    }
    let tz = jiff::tz::TimeZone::get(&unit.time_zone).map_err(ApiError::internal)?;
    Ok(Heading {
        property_name,
        vending_point_name: point.name,
        issued_at: at.to_zoned(tz).strftime("%Y-%m-%d %H:%M:%S %:z").to_string(),
        operator_name: operator,
        customer_name: customer.name,
        account_ref: account.account.id.as_uuid().simple().to_string().chars().take(12).collect(),
        premises_label: names.join(" / "),
        account,
    })
}

fn receipt_method(method: PaymentMethod) -> voltvend_receipt::PaymentMethod {
    match method {
        PaymentMethod::Cash => voltvend_receipt::PaymentMethod::Cash,
        PaymentMethod::BankCard => voltvend_receipt::PaymentMethod::BankCard,
        PaymentMethod::BankTransfer => voltvend_receipt::PaymentMethod::BankTransfer,
        PaymentMethod::Online => voltvend_receipt::PaymentMethod::Online,
    }
}

/// Everything a receipt of `sale` shows, from the records.
pub async fn gather(app: &AppState, sale: &SaleRecord, language: Language, copy: bool) -> ApiResult<ReceiptData> {
    let h = heading(app, sale.account_id, sale.vending_point_id, sale.operator_id, sale.at).await?;
    let meter = app.store.meter(sale.meter_id).await?;
    let arrears = app.store.ledger_account(h.account.arrears).await?.1.normal(voltvend_domain::Side::Debit).max(0);
    Ok(ReceiptData {
        kind: voltvend_receipt::ReceiptKind::Sale,
        language,
        copy,
        property_name: h.property_name,
        vending_point_name: h.vending_point_name,
        receipt_no: sale.receipt_no,
        issued_at: h.issued_at,
        operator_name: h.operator_name,
        customer_name: h.customer_name,
        account_ref: h.account_ref,
        premises_label: h.premises_label,
        meter_serial: meter.meter.serial,
        utility: meter.meter.utility,
        method: receipt_method(sale.method),
        payment_reference: sale.reference.clone(),
        currency: h.account.account.currency,
        paid_minor: sale.paid_minor,
        arrears_minor: sale.arrears_minor,
        fees_minor: sale.fees_minor,
        property_fees_minor: sale.property_fees_minor,
        fee_lines: Vec::new(),
        tax_minor: sale.tax_minor,
        energy_minor: sale.energy_minor,
        credit_minor: sale.credit_minor,
        balance_after_minor: Some(sale.balance_after_minor),
        arrears_owed_minor: (arrears > 0).then_some(arrears),
        quantity_milli: sale.quantity_milli,
        token_kind: if meter.meter.protocol == MeterProtocol::OpenPaygo {
            TokenKind::OpenPaygo
        } else {
            TokenKind::Sts
        },
        tokens: sale.tokens.clone(),
    })
}

/// Everything a receipt of a payment of rent and fees shows: each charge it paid as a line ("物业费 2026-11
/// A-101"), named in `describe`.
pub async fn gather_fees(
    app: &AppState,
    payment: &voltvend_ops::FeePayment,
    lines: Vec<voltvend_receipt::FeeLine>,
    language: Language,
    copy: bool,
) -> ApiResult<ReceiptData> {
    let h = heading(app, payment.account_id, payment.vending_point_id, payment.operator_id, payment.at).await?;
    Ok(ReceiptData {
        kind: voltvend_receipt::ReceiptKind::Fees,
        language,
        copy,
        property_name: h.property_name,
        vending_point_name: h.vending_point_name,
        receipt_no: payment.receipt_no,
        issued_at: h.issued_at,
        operator_name: h.operator_name,
        customer_name: h.customer_name,
        account_ref: h.account_ref,
        premises_label: h.premises_label,
        meter_serial: String::new(),
        utility: voltvend_domain::Utility::Electricity,
        method: receipt_method(payment.method),
        payment_reference: payment.reference.clone(),
        currency: h.account.account.currency,
        paid_minor: payment.paid_minor,
        arrears_minor: 0,
        fees_minor: 0,
        // A postpaid account's over-payment went to its wallet, as credit.
        property_fees_minor: payment.paid_minor - payment.credit_minor,
        fee_lines: lines,
        tax_minor: 0,
        energy_minor: 0,
        credit_minor: payment.credit_minor,
        balance_after_minor: None,
        arrears_owed_minor: None,
        quantity_milli: 0,
        token_kind: TokenKind::Sts,
        tokens: Vec::new(),
    })
}

/// The receipt in `format`, ready to answer.
pub fn render(app: &AppState, data: &ReceiptData, format: Format) -> ApiResult<Reply> {
    let failed = |e: voltvend_receipt::ReceiptError| {
        if e.code() == "receipt_font_missing" {
            ApiError::new("receipt_font_missing", e.to_string())
        } else {
            ApiError::new("receipt_failed", e.to_string()).with("receipt_code", e.code())
        }
    };
    let ok = axum::http::StatusCode::OK;
    match format {
        Format::Html => {
            let html = voltvend_receipt::html(data, CSS_PATH).map_err(failed)?;
            Ok(Reply { status: ok, content_type: "text/html; charset=utf-8", body: html.into_bytes() })
        }
        Format::EscPos => {
            let encoding = if app.escpos_ascii { EscPosEncoding::Ascii } else { EscPosEncoding::Gb18030 };
            let bytes = voltvend_receipt::escpos(data, encoding).map_err(failed)?;
            Ok(Reply { status: ok, content_type: "application/octet-stream", body: bytes })
        }
        Format::Pdf => {
            let bytes = voltvend_receipt::pdf_a4(data, app.api.font.as_ref()).map_err(failed)?;
            Ok(Reply { status: ok, content_type: "application/pdf", body: bytes })
        }
    }
}
