//! Finding the CJK font on disk.

use std::path::{Path, PathBuf};

use voltvend_receipt::FontData;
use voltvend_receipt::fonts::{best_cjk_face, find_cjk_font, find_cjk_font_in};

use crate::require;

const NOTO_SANS_CJK: &str = "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc";

#[test]
fn noto_sans_cjk_gives_its_simplified_chinese_face() {
    if !require("fonts-noto-cjk", Path::new(NOTO_SANS_CJK).exists()) {
        return;
    }
    let font = find_cjk_font().unwrap();
    // The collection's faces are JP, KR, SC, TC, HK, then the Mono ones (fc-query lists face 2 as
    // "Noto Sans CJK SC"); the finder reads the names rather than assuming the order.
    assert_eq!(font.family_name(), "Noto Sans CJK SC");
    assert_eq!(font.index(), 2);
    assert!(font.has_glyph('王') && font.has_glyph('瓦') && font.has_glyph('A'));
    assert_eq!(best_cjk_face(font.bytes()), Some(2));

    let configured = FontData::from_file(NOTO_SANS_CJK, 7).unwrap();
    assert_eq!(configured.family_name(), "Noto Sans Mono CJK SC");
    assert_eq!(FontData::from_file(NOTO_SANS_CJK, 99).unwrap_err().code(), "receipt_font_invalid");
}

#[test]
fn missing_and_non_cjk_files_are_skipped() {
    let paths = [PathBuf::from("/nonexistent/font.ttc"), PathBuf::from("/etc/hostname")];
    assert!(find_cjk_font_in(paths).is_none());
}
