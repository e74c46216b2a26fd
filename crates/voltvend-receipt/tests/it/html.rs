//! The 80 mm print view.

use voltvend_receipt::{Language, RECEIPT_CSS, ReceiptData, html};

use crate::{en_sale, zh_sale};

#[test]
fn the_zh_receipt_reads_as_expected() {
    insta::assert_snapshot!("zh_receipt_html", html(&zh_sale(), "/static/receipt.css").unwrap());
}

#[test]
fn a_hostile_customer_name_is_escaped() {
    let mut data = en_sale();
    data.customer_name = r#"<script>alert("x")</script> & 'O'Brien' <img src=x onerror=alert(1)>"#.into();
    data.payment_reference = "\"><b>ref</b>".into();
    let page = html(&data, "/r.css?v=1&lang=en").unwrap();
    assert!(page.contains(
        "<dd>&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;O&#39;Brien&#39; \
         &lt;img src=x onerror=alert(1)&gt;</dd>"
    ));
    assert!(page.contains("<dd>&quot;&gt;&lt;b&gt;ref&lt;/b&gt;</dd>"));
    assert!(page.contains("<link rel=\"stylesheet\" href=\"/r.css?v=1&amp;lang=en\">"));
    assert!(!page.contains("<script") && !page.contains("<img") && !page.contains("<b>"));
}

#[test]
fn a_reprint_says_copy_in_both_languages() {
    for (mut data, word, note) in
        [(zh_sale(), "副本", "补打收据，非原件"), (en_sale(), "COPY", "Reprint, not the original")]
    {
        data.copy = true;
        let page = html(&data, "/r.css").unwrap();
        assert!(page.contains(&format!("<p class=\"copy-banner\"><strong>{word}</strong><span>{note}</span></p>")));
        assert!(page.contains(&format!("<p class=\"copy-mark\">*** {word} ***</p>")));
        assert!(page.contains(&format!("({word})</title>")));
        assert!(page.contains("<main class=\"receipt copy\">"));

        data.copy = false;
        let original = html(&data, "/r.css").unwrap();
        assert!(!original.contains(word), "an original receipt must not say {word}");
    }
}

#[test]
fn the_document_is_standalone_with_its_language_and_no_inline_style_or_script() {
    for (data, lang) in [(zh_sale(), "zh-CN"), (en_sale(), "en")] {
        assert_eq!(data.language == Language::ZhCn, lang == "zh-CN");
        let page = html(&data, "/static/receipt.css").unwrap();
        assert!(page.starts_with("<!DOCTYPE html>\n"));
        assert!(page.contains(&format!("<html lang=\"{lang}\">")));
        assert!(page.contains("<meta charset=\"utf-8\">"));
        assert!(page.contains("<link rel=\"stylesheet\" href=\"/static/receipt.css\">"));
        for inline in ["<style", "style=", "<script", "javascript:", "onload=", "onerror=", "onclick="] {
            assert!(!page.to_lowercase().contains(inline), "{inline:?} in the page");
        }
        assert!(page.ends_with("</html>\n"));
    }
}

#[test]
fn the_stylesheet_is_for_an_80mm_roll() {
    assert!(RECEIPT_CSS.contains("@page { size: 80mm auto; margin: 0 }"));
    assert!(RECEIPT_CSS.contains("width: 72mm;"));
    assert!(RECEIPT_CSS.contains("monospace"));
    assert!(RECEIPT_CSS.contains(".token {"));
}

/// A payment of rent and fees: its own title, what it went towards line by line, no meter, units or tokens;
/// lines that do not add up to what was paid are refused rather than printed.
#[test]
fn a_fee_receipt_shows_what_the_payment_went_towards() {
    use voltvend_receipt::{FeeLine, ReceiptKind};
    let line = |description: &str, amount_minor| FeeLine { description: description.into(), amount_minor };
    let data = ReceiptData {
        kind: ReceiptKind::Fees,
        paid_minor: 40_000,
        arrears_minor: 0,
        fees_minor: 0,
        tax_minor: 0,
        energy_minor: 0,
        credit_minor: 0,
        quantity_milli: 0,
        tokens: Vec::new(),
        balance_after_minor: None,
        arrears_owed_minor: None,
        meter_serial: String::new(),
        property_fees_minor: 40_000,
        fee_lines: vec![line("Property fee 2026-11 A-101", 29_925), line("Property fee 2026-12 A-101", 10_075)],
        ..en_sale()
    };
    let page = html(&data, "/r.css").unwrap();
    for want in [
        "Rent and fees receipt",
        "Property fee 2026-11 A-101",
        "299.25",
        "Property fee 2026-12 A-101",
        "100.75",
        "400.00",
    ] {
        assert!(page.contains(want), "{want} missing:\n{page}");
    }
    for absent in ["Meter", "Token", "Credit to wallet", "Energy"] {
        assert!(!page.contains(absent), "{absent} printed:\n{page}");
    }
    let zh = html(&ReceiptData { language: voltvend_receipt::Language::ZhCn, ..data.clone() }, "/r.css").unwrap();
    assert!(zh.contains("房租物业费收据") && zh.contains("缴费项目"), "{zh}");
    let short = ReceiptData { fee_lines: vec![line("Property fee 2026-11 A-101", 29_925)], ..data.clone() };
    assert_eq!(html(&short, "/r.css").unwrap_err().code(), "receipt_amounts_inconsistent");
    // A sale that paid a share of overdue fees says so, and its parts still add up.
    let sale = ReceiptData { paid_minor: en_sale().paid_minor + 3_000, property_fees_minor: 3_000, ..en_sale() };
    assert!(html(&sale, "/r.css").unwrap().contains("Rent and fees recovered"));
}
