//! The receipt in its three forms, read back the way a person or a printer would: the HTML as text, the
//! ESC/POS bytes through the decoder, the PDF through poppler's `pdftotext`.

// Tests may panic: a failed expectation is the point.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

mod escpos;
mod fonts;
mod format;
mod html;
mod pdf;

use voltvend_domain::{Currency, Utility};
use voltvend_receipt::{Language, PaymentMethod, ReceiptData, TokenKind};

/// A token sale at a Chinese counter: CNY 100.00 paid, 10.00 to arrears, 5.00 fees, 80.00 of electricity
/// (9.20 of it VAT at 13 %: 70.80 × 1.13 = 80.00) for 151.5 kWh, 5.00 left in the wallet.
pub fn zh_sale() -> ReceiptData {
    ReceiptData {
        kind: voltvend_receipt::ReceiptKind::Sale,
        property_fees_minor: 0,
        fee_lines: Vec::new(),
        language: Language::ZhCn,
        copy: false,
        property_name: "阳光花园物业服务中心".into(),
        vending_point_name: "东门营业厅".into(),
        receipt_no: 123,
        issued_at: "2026-12-03 15:04:05 +08:00".into(),
        operator_name: "李娜".into(),
        customer_name: "王芳".into(),
        account_ref: "AC-000042".into(),
        premises_label: "Block A / Floor 1 / A-101".into(),
        meter_serial: "01234567890".into(),
        utility: Utility::Electricity,
        method: PaymentMethod::Cash,
        payment_reference: String::new(),
        currency: Currency::CNY,
        paid_minor: 10_000,
        arrears_minor: 1_000,
        fees_minor: 500,
        tax_minor: 920,
        energy_minor: 8_000,
        credit_minor: 500,
        balance_after_minor: Some(500),
        arrears_owed_minor: Some(2_000),
        quantity_milli: 151_500,
        token_kind: TokenKind::Sts,
        tokens: vec!["12345678901234567890".into()],
    }
}

/// The same sale on an English receipt, every text Latin.
pub fn en_sale() -> ReceiptData {
    ReceiptData {
        kind: voltvend_receipt::ReceiptKind::Sale,
        property_fees_minor: 0,
        fee_lines: Vec::new(),
        language: Language::En,
        property_name: "Sunshine Gardens Property Services".into(),
        vending_point_name: "East Gate Office".into(),
        operator_name: "Li Na".into(),
        customer_name: "Wang Fang".into(),
        method: PaymentMethod::BankCard,
        payment_reference: "AUTH-778812".into(),
        ..zh_sale()
    }
}

/// Whether an external tool or file a test needs is there: on a developer machine a missing one skips the
/// test with a message; under `CI=true` it fails the test.
pub fn require(what: &str, present: bool) -> bool {
    if present {
        return true;
    }
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("{what} is missing, and CI=true requires it (apt-get install -y poppler-utils fonts-noto-cjk)");
    }
    eprintln!("skipping: {what} is missing (apt-get install -y poppler-utils fonts-noto-cjk)");
    false
}
