//! The A4 PDF, read back with poppler's `pdftotext` as a person's PDF reader would extract it.

use std::io::Write;
use std::process::{Command, Stdio};

use voltvend_receipt::fonts::find_cjk_font;
use voltvend_receipt::{FontData, pdf_a4};

use crate::{en_sale, require, zh_sale};

/// A PDF with its fonts subset stays small; the Noto Sans CJK collection it comes from is 19 MB.
const PDF_BYTES_MAX: usize = 200 * 1024;

fn have_pdftotext() -> bool {
    Command::new("pdftotext").arg("-v").output().is_ok()
}

/// The PDF's text as `pdftotext -enc UTF-8` extracts it.
fn pdftotext(pdf: &[u8]) -> String {
    let mut child = Command::new("pdftotext")
        .args(["-enc", "UTF-8", "-", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(pdf).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "pdftotext failed: {}", String::from_utf8_lossy(&out.stderr));
    assert!(out.stderr.is_empty(), "pdftotext complained: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

/// The CJK font and pdftotext, or `None` when the test should be skipped.
fn tools() -> Option<FontData> {
    let font = find_cjk_font();
    if !require("a CJK font (fonts-noto-cjk)", font.is_some())
        || !require("pdftotext (poppler-utils)", have_pdftotext())
    {
        return None;
    }
    font
}

fn assert_contains_all(text: &str, expected: &[&str]) {
    for expect in expected {
        assert!(text.contains(expect), "{expect:?} missing from the extracted text:\n{text}");
    }
}

#[test]
fn a_zh_reprint_extracts_its_chinese_text() {
    let Some(font) = tools() else { return };
    let mut data = zh_sale();
    data.copy = true;
    let pdf = pdf_a4(&data, Some(&font)).unwrap();
    assert!(pdf.starts_with(b"%PDF-"));
    eprintln!("zh-CN receipt PDF: {} bytes with {font:?}", pdf.len());
    assert!(pdf.len() < PDF_BYTES_MAX, "{} bytes: is the font subset?", pdf.len());
    let text = pdftotext(&pdf);
    assert_contains_all(
        &text,
        &[
            "副本",
            "补打收据，非原件",
            "阳光花园物业服务中心",
            "售电收据",
            "王芳",
            "东门营业厅",
            "000123",
            "2026-12-03 15:04:05 +08:00",
            "1234 5678 9012 3456 7890",
            "CNY 100.00",
            "CNY 80.00",
            "CNY 9.20",
            "151.5 千瓦时",
            "电费（含税）",
            "其中税额",
        ],
    );
}

#[test]
fn an_english_receipt_with_a_chinese_name_embeds_the_cjk_font() {
    let Some(font) = tools() else { return };
    let mut data = en_sale();
    data.copy = true;
    data.customer_name = "王芳".into();
    let pdf = pdf_a4(&data, Some(&font)).unwrap();
    eprintln!("English receipt PDF with a Chinese name: {} bytes", pdf.len());
    assert!(pdf.len() < PDF_BYTES_MAX);
    let text = pdftotext(&pdf);
    assert_contains_all(
        &text,
        &["COPY", "Customer", "王芳", "East Gate Office", "1234 5678 9012 3456 7890", "CNY 100.00", "151.5 kWh"],
    );

    // Without a font the Chinese name cannot be drawn: a clear error, never a PDF with missing glyphs.
    let err = pdf_a4(&data, None).unwrap_err();
    assert_eq!(err.code(), "receipt_font_missing");
    assert!(err.to_string().contains("U+738B"), "{err}");
}

#[test]
fn a_latin_english_receipt_needs_no_font_file() {
    if !require("pdftotext (poppler-utils)", have_pdftotext()) {
        return;
    }
    let mut data = en_sale();
    data.copy = true;
    data.utility = voltvend_domain::Utility::Water;
    data.quantity_milli = 12_500;
    let pdf = pdf_a4(&data, None).unwrap();
    eprintln!("English receipt PDF in standard Courier: {} bytes", pdf.len());
    assert!(!pdf.windows(b"/FontFile".len()).any(|w| w == b"/FontFile"), "no font is embedded");
    let text = pdftotext(&pdf);
    assert_contains_all(
        &text,
        &[
            "COPY",
            "Wang Fang",
            "Water sale receipt",
            "12.5 m³",
            "1234 5678 9012 3456 7890",
            "CNY 100.00",
            "AUTH-778812",
        ],
    );
}

#[test]
fn a_zh_receipt_without_a_font_is_refused() {
    let err = pdf_a4(&zh_sale(), None).unwrap_err();
    assert_eq!(err.code(), "receipt_font_missing");
    assert!(err.to_string().contains("fonts-noto-cjk"), "{err}");
}

#[test]
fn a_character_the_font_lacks_is_refused() {
    let Some(font) = tools() else { return };
    let mut data = zh_sale();
    let missing = '\u{1F50C}'; // 🔌, an emoji the CJK text face does not have.
    assert!(!font.has_glyph(missing), "the test needs a character {font:?} lacks");
    data.customer_name = format!("王芳 {missing}");
    let err = pdf_a4(&data, Some(&font)).unwrap_err();
    assert_eq!(err.code(), "receipt_font_lacks_glyph");
}

#[test]
fn the_same_sale_gives_the_same_pdf() {
    let Some(font) = tools() else { return };
    assert_eq!(pdf_a4(&zh_sale(), Some(&font)).unwrap(), pdf_a4(&zh_sale(), Some(&font)).unwrap());
    assert_eq!(pdf_a4(&en_sale(), None).unwrap(), pdf_a4(&en_sale(), None).unwrap());
}
