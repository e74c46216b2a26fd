//! Fonts for the PDF receipt, and the crate's only I/O: finding and reading a CJK font file on disk.
//!
//! [`find_cjk_font`] looks in the usual places of Debian, Fedora, Arch, macOS and Windows, first Debian's
//! `fonts-noto-cjk`. In a font collection (`.ttc`) it picks the face by reading the faces' family names and
//! character maps, not by a fixed index: Noto Sans CJK's collection holds the JP, KR, SC, TC and HK faces
//! (and their Mono variants), and a Chinese receipt wants Simplified Chinese glyph shapes.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use skrifa::raw::{FileRef, TableProvider};
use skrifa::{FontRef, MetadataProvider, string::StringId};

use crate::error::ReceiptError;

/// Where [`find_cjk_font`] looks, in order.
pub const CJK_FONT_PATHS: &[&str] = &[
    // Debian/Ubuntu fonts-noto-cjk.
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    // Fedora google-noto-sans-cjk-fonts, Arch noto-fonts-cjk.
    "/usr/share/fonts/google-noto-sans-cjk-fonts/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/noto-cjk/NotoSansCJK-Regular.ttc",
    // Debian fonts-wqy-microhei, fonts-wqy-zenhei.
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
    // Debian fonts-droid-fallback.
    "/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf",
    // Debian fonts-arphic-uming.
    "/usr/share/fonts/truetype/arphic/uming.ttc",
    // Debian fonts-noto-cjk's serif faces, last of the Noto family.
    "/usr/share/fonts/opentype/noto/NotoSerifCJK-Regular.ttc",
    // macOS and Windows, for developer machines.
    "/System/Library/Fonts/PingFang.ttc",
    "/System/Library/Fonts/Hiragino Sans GB.ttc",
    "C:\\Windows\\Fonts\\msyh.ttc",
];

/// Characters a face must have to be taken for Chinese receipts (every one is on the receipt).
const PROBE: &str = "售电收据副本实收金额千瓦时充值码王芳";

/// A font file's bytes and the face to use in it (the index within a `.ttc` collection, 0 otherwise), parsed
/// and ready for the PDF renderer. Cheap to clone; build it once and reuse it for every receipt.
#[derive(Clone)]
pub struct FontData {
    bytes: Arc<Vec<u8>>,
    index: u32,
    family: String,
    pub(crate) pdf_font: krilla::text::Font,
}

impl fmt::Debug for FontData {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FontData")
            .field("family", &self.family)
            .field("index", &self.index)
            .field("len", &self.bytes.len())
            .finish()
    }
}

impl FontData {
    /// A font from its bytes (TrueType or OpenType, or a collection with the face `index`).
    pub fn new(bytes: Vec<u8>, index: u32) -> Result<Self, ReceiptError> {
        let family = {
            let face = FontRef::from_index(&bytes, index)
                .map_err(|e| ReceiptError::FontInvalid { reason: format!("face {index}: {e}") })?;
            if let Some(e) = [face.head().err(), face.hhea().err(), face.hmtx().err()].into_iter().flatten().next() {
                return Err(ReceiptError::FontInvalid { reason: format!("face {index}: {e}") });
            }
            family_name(&face).unwrap_or_default()
        };
        let bytes = Arc::new(bytes);
        let pdf_font = krilla::text::Font::new(krilla::Data::from(Arc::clone(&bytes)), index)
            .ok_or_else(|| ReceiptError::FontInvalid { reason: format!("face {index} cannot be embedded") })?;
        Ok(FontData { bytes, index, family, pdf_font })
    }

    /// Reads a font file, such as a path from the server's configuration.
    pub fn from_file(path: impl AsRef<Path>, index: u32) -> Result<Self, ReceiptError> {
        let path = path.as_ref();
        let bytes =
            std::fs::read(path).map_err(|source| ReceiptError::FontUnreadable { path: path.to_path_buf(), source })?;
        FontData::new(bytes, index)
    }

    /// The face's index in its collection (0 for a single font).
    pub fn index(&self) -> u32 {
        self.index
    }

    /// The face's family name, such as `Noto Sans CJK SC` (empty if the font has none).
    pub fn family_name(&self) -> &str {
        &self.family
    }

    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The parsed face.
    pub(crate) fn face(&self) -> Result<FontRef<'_>, ReceiptError> {
        FontRef::from_index(&self.bytes, self.index)
            .map_err(|e| ReceiptError::FontInvalid { reason: format!("face {}: {e}", self.index) })
    }

    /// Whether the face can draw `ch`.
    pub fn has_glyph(&self, ch: char) -> bool {
        self.face().is_ok_and(|face| face.charmap().map(ch).is_some())
    }
}

/// The typographic family name (name ID 16) or else the family name (name ID 1), in English if there is one.
fn family_name(face: &FontRef<'_>) -> Option<String> {
    [StringId::TYPOGRAPHIC_FAMILY_NAME, StringId::FAMILY_NAME]
        .into_iter()
        .find_map(|id| face.localized_strings(id).english_or_first())
        .map(|name| name.to_string())
}

/// The face of a font file best for Simplified Chinese receipts: among the faces that have every character
/// the receipt needs, a Simplified Chinese one (family name with `SC`, `GB` or `Simplified`) before the
/// others, and a proportional one before a `Mono` one; the first such face on a tie. `None` if no face has
/// the characters or the file is not a font.
pub fn best_cjk_face(bytes: &[u8]) -> Option<u32> {
    let file = FileRef::new(bytes).ok()?;
    let mut best: Option<(u32, u32)> = None;
    for (index, face) in (0_u32..).zip(file.fonts()) {
        let Ok(face) = face else { continue };
        let charmap = face.charmap();
        if !PROBE.chars().all(|c| charmap.map(c).is_some()) {
            continue;
        }
        let family = family_name(&face).unwrap_or_default();
        let words: Vec<&str> = family.split_whitespace().collect();
        let simplified = words.iter().any(|w| matches!(*w, "SC" | "GB" | "Simplified" | "Hans"));
        let mono = words.contains(&"Mono");
        let score = u32::from(simplified) * 2 + u32::from(!mono);
        if best.is_none_or(|(_, best_score)| score > best_score) {
            best = Some((index, score));
        }
    }
    best.map(|(index, _)| index)
}

/// The first usable CJK font in [`CJK_FONT_PATHS`], with its best face for Simplified Chinese (see
/// [`best_cjk_face`]). Reads files: call it once at start-up.
pub fn find_cjk_font() -> Option<FontData> {
    find_cjk_font_in(CJK_FONT_PATHS.iter().map(PathBuf::from))
}

/// Like [`find_cjk_font`], over the given paths in order; unreadable files and files with no suitable face
/// are skipped.
pub fn find_cjk_font_in(paths: impl IntoIterator<Item = PathBuf>) -> Option<FontData> {
    paths.into_iter().find_map(|path| {
        let bytes = std::fs::read(&path).ok()?;
        let index = best_cjk_face(&bytes)?;
        FontData::new(bytes, index).ok()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn not_a_font_is_refused_clearly() {
        let err = FontData::new(b"not a font".to_vec(), 0).unwrap_err();
        assert_eq!(err.code(), "receipt_font_invalid");
        let err = FontData::from_file("/nonexistent/font.ttf", 0).unwrap_err();
        assert_eq!(err.code(), "receipt_font_unreadable");
        assert_eq!(best_cjk_face(b"not a font"), None);
        assert!(find_cjk_font_in([PathBuf::from("/nonexistent/font.ttc")]).is_none());
    }
}
