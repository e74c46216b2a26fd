//! ESC/POS bytes for an 80 mm printer, read back through the decoder.

use voltvend_receipt::{Align, COLUMNS, EscPosEncoding, PrintedLine, escpos, escpos_lines, escpos_text};

use crate::{en_sale, zh_sale};

const INIT: [u8; 2] = [0x1B, 0x40];
const CHINESE_MODE: [u8; 2] = [0x1C, 0x26];
const CUT: [u8; 4] = [0x1D, 0x56, 66, 0];

fn read(bytes: &[u8], encoding: EscPosEncoding) -> Vec<PrintedLine> {
    escpos_lines(bytes, encoding).unwrap()
}

fn assert_fits(lines: &[PrintedLine]) {
    for line in lines {
        assert!(line.columns() <= COLUMNS, "{} columns: {line:?}", line.columns());
    }
}

#[test]
fn gb18030_bytes_init_select_chinese_mode_and_cut() {
    let bytes = escpos(&zh_sale(), EscPosEncoding::Gb18030).unwrap();
    assert!(bytes.starts_with(&INIT));
    assert_eq!(bytes[2..4], CHINESE_MODE);
    assert!(bytes.ends_with(&CUT));
    // 王芳 in GB18030 (the GB2312 codes CDF5 B7BC).
    assert!(bytes.windows(4).any(|w| w == [0xCD, 0xF5, 0xB7, 0xBC]));
}

#[test]
fn the_zh_receipt_reads_back_in_chinese() {
    let mut data = zh_sale();
    data.copy = true;
    let bytes = escpos(&data, EscPosEncoding::Gb18030).unwrap();
    let text = escpos_text(&bytes, EscPosEncoding::Gb18030).unwrap();
    for expect in
        ["副本", "王芳", "东门营业厅", "千瓦时", "151.5 千瓦时", "1234 5678 9012 3456 7890", "CNY 100.00", "000123"]
    {
        assert!(text.contains(expect), "{expect:?} missing from:\n{text}");
    }
    insta::assert_snapshot!("zh_copy_escpos_text", text);

    let lines = read(&bytes, EscPosEncoding::Gb18030);
    assert_fits(&lines);
    let banner = &lines[0];
    assert_eq!(banner.text, "*** 副本 ***");
    assert!(banner.reverse && banner.bold && banner.width_scale == 2 && banner.height_scale == 2);
    assert_eq!(banner.align, Align::Center);
    let token = lines.iter().find(|l| l.text == "1234 5678 9012 3456 7890").unwrap();
    assert!(token.bold && token.width_scale == 2 && token.height_scale == 2, "{token:?}");
    assert_eq!(token.columns(), COLUMNS);
    let paid = lines.iter().find(|l| l.text.starts_with("实收金额")).unwrap();
    assert!(paid.bold);
    assert!(paid.text.ends_with(" CNY 100.00"));
    assert_eq!(paid.columns(), COLUMNS, "amounts are right-aligned to the last column");
}

#[test]
fn an_original_has_no_copy_banner() {
    let text = escpos_text(&escpos(&zh_sale(), EscPosEncoding::Gb18030).unwrap(), EscPosEncoding::Gb18030).unwrap();
    assert!(!text.contains("副本"));
    let text = escpos_text(&escpos(&en_sale(), EscPosEncoding::Ascii).unwrap(), EscPosEncoding::Ascii).unwrap();
    assert!(!text.contains("COPY"));
}

#[test]
fn ascii_printers_get_ascii_only() {
    let mut data = en_sale();
    data.copy = true;
    data.customer_name = "王芳 Wang".into();
    data.utility = voltvend_domain::Utility::Water;
    data.quantity_milli = 12_500;
    let bytes = escpos(&data, EscPosEncoding::Ascii).unwrap();
    assert!(bytes.starts_with(&INIT) && bytes.ends_with(&CUT));
    assert!(!bytes.windows(2).any(|w| w == CHINESE_MODE), "no FS & for a printer without Chinese");
    assert!(bytes.iter().all(u8::is_ascii));
    let text = escpos_text(&bytes, EscPosEncoding::Ascii).unwrap();
    assert!(text.lines().next() == Some("*** COPY ***"), "{text}");
    assert!(text.lines().any(|l| l.starts_with("Customer") && l.ends_with(" ?? Wang")), "{text}");
    assert!(text.lines().any(|l| l.starts_with("Water bought") && l.ends_with(" 12.5 m3")), "{text}");
    assert_fits(&read(&bytes, EscPosEncoding::Ascii));
}

#[test]
fn long_values_wrap_within_48_columns() {
    let mut data = zh_sale();
    data.copy = true;
    data.customer_name = "欧阳".repeat(20);
    data.premises_label = "阳光花园 / 3号楼 / 12层 / 1203室 / Block C Tower East Wing / Unit 1203A".into();
    data.property_name = "阳光花园物业服务中心".repeat(4);
    data.vending_point_name = "x".repeat(100);
    data.tokens = vec!["1".repeat(20), "2".repeat(20), "3".repeat(20), "4".repeat(20)];
    let bytes = escpos(&data, EscPosEncoding::Gb18030).unwrap();
    let lines = read(&bytes, EscPosEncoding::Gb18030);
    assert_fits(&lines);
    let text: String = lines.iter().map(|l| l.text.trim()).collect();
    assert!(text.contains(&"欧阳".repeat(20)), "nothing of a wrapped value is lost");
    assert!(text.contains(&"x".repeat(100)));

    let mut data = en_sale();
    data.token_kind = voltvend_receipt::TokenKind::OpenPaygo;
    data.tokens = vec!["14432241142311344321".into()];
    let lines = read(&escpos(&data, EscPosEncoding::Ascii).unwrap(), EscPosEncoding::Ascii);
    assert_fits(&lines);
    // 26 columns do not fit at double width: double height only.
    let token = lines.iter().find(|l| l.text == "144 322 411 423 113 443 21").unwrap();
    assert_eq!((token.width_scale, token.height_scale), (1, 2));
}

#[test]
fn control_characters_in_user_input_never_reach_the_printer() {
    let mut data = zh_sale();
    data.customer_name = "王芳\u{1B}@\u{1D}V\u{0}\n".into();
    let bytes = escpos(&data, EscPosEncoding::Gb18030).unwrap();
    // The only ESC @ is the first command; the decoder would refuse any other control byte in text.
    assert_eq!(bytes.windows(2).filter(|w| *w == INIT).count(), 1);
    let text = escpos_text(&bytes, EscPosEncoding::Gb18030).unwrap();
    assert!(text.lines().any(|l| l.starts_with("客户") && l.ends_with(" 王芳 @ V")), "{text}");
}

#[test]
fn rendering_is_deterministic() {
    let a = escpos(&zh_sale(), EscPosEncoding::Gb18030).unwrap();
    let b = escpos(&zh_sale(), EscPosEncoding::Gb18030).unwrap();
    assert_eq!(a, b);
}

proptest::proptest! {
    /// The stable-toolchain companion of the `escpos_decode` fuzz target: any bytes are refused or decoded,
    /// never a panic, in both encodings.
    #[test]
    fn the_reader_never_panics(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..512)) {
        for encoding in [EscPosEncoding::Gb18030, EscPosEncoding::Ascii] {
            let _ = voltvend_receipt::escpos_lines(&bytes, encoding);
            let _ = voltvend_receipt::escpos_text(&bytes, encoding);
        }
    }
}
