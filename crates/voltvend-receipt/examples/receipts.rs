//! Writes a sample sale's receipts into a folder, to look at them: `cargo run -p voltvend-receipt --example
//! receipts -- /tmp/receipts` gives zh-CN and English HTML (with the stylesheet), ESC/POS bytes with their
//! text, and PDFs (the zh-CN one only when a CJK font is installed; `--no-font` shows the English one in the
//! standard Courier font).

use std::path::PathBuf;

use voltvend_domain::{Currency, Utility};
use voltvend_receipt::fonts::find_cjk_font;
use voltvend_receipt::{
    EscPosEncoding, Language, PaymentMethod, RECEIPT_CSS, ReceiptData, TokenKind, escpos, escpos_text, html, pdf_a4,
};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let no_font = args.iter().any(|a| a == "--no-font");
    let dir = PathBuf::from(args.iter().find(|a| !a.starts_with("--")).map_or("receipts", String::as_str));
    std::fs::create_dir_all(&dir)?;
    let zh = ReceiptData {
        kind: voltvend_receipt::ReceiptKind::Sale,
        property_fees_minor: 0,
        fee_lines: Vec::new(),
        language: Language::ZhCn,
        copy: true,
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
        method: PaymentMethod::BankCard,
        payment_reference: "AUTH-778812".into(),
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
        tokens: vec!["12345678901234567890".into(), "98765432109876543210".into()],
    };
    let en = ReceiptData {
        kind: voltvend_receipt::ReceiptKind::Sale,
        property_fees_minor: 0,
        fee_lines: Vec::new(),
        language: Language::En,
        property_name: "Sunshine Gardens Property Services".into(),
        vending_point_name: "East Gate Office".into(),
        operator_name: "Li Na".into(),
        customer_name: "Wang Fang".into(),
        ..zh.clone()
    };
    let font = if no_font { None } else { find_cjk_font() };
    println!("CJK font: {font:?}");
    std::fs::write(dir.join("receipt.css"), RECEIPT_CSS)?;
    for (name, data, encoding) in [("zh", &zh, EscPosEncoding::Gb18030), ("en", &en, EscPosEncoding::Ascii)] {
        std::fs::write(dir.join(format!("{name}.html")), html(data, "receipt.css")?)?;
        let bytes = escpos(data, encoding)?;
        std::fs::write(dir.join(format!("{name}.escpos")), &bytes)?;
        std::fs::write(dir.join(format!("{name}.escpos.txt")), escpos_text(&bytes, encoding)?)?;
        match pdf_a4(data, font.as_ref()) {
            Ok(pdf) => {
                println!("{name}.pdf: {} bytes", pdf.len());
                std::fs::write(dir.join(format!("{name}.pdf")), pdf)?;
            }
            Err(e) => println!("{name}.pdf: {e} ({})", e.code()),
        }
    }
    Ok(())
}
