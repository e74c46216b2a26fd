//! Free text that people type (names, memos, reasons, addresses) is checked in one place.
//!
//! Control characters are refused everywhere: a NUL cannot be stored by PostgreSQL at all (so one such memo
//! would fail a whole group commit), and line breaks, escapes and bidirectional controls in names and memos
//! break receipts, logs and the audit trail. Lengths are counted in bytes, the unit storage limits use.

use thiserror::Error;

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum TextError {
    #[error("{field} must not contain control characters (found U+{code:04X} at byte {at})")]
    ControlCharacter { field: &'static str, code: u32, at: usize },
    #[error("{field} is longer than {max} bytes")]
    TooLong { field: &'static str, max: usize },
    #[error("{field} must not be empty")]
    Empty { field: &'static str },
}

impl TextError {
    /// The stable machine-readable code of the error.
    pub const fn code(&self) -> &'static str {
        match self {
            Self::ControlCharacter { .. } => "text_control_character",
            Self::TooLong { .. } => "text_too_long",
            Self::Empty { .. } => "text_empty",
        }
    }
}

/// Whether `c` is a control character in the Unicode sense (C0, DEL, C1) or one of the invisible format
/// characters that reorder or hide text (bidirectional overrides and isolates, zero-width joiners aside).
fn forbidden(c: char) -> bool {
    c.is_control() || matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{FEFF}')
}

/// Checks free text: no control characters, at most `max_bytes` bytes. Empty text is allowed.
pub fn check(field: &'static str, value: &str, max_bytes: usize) -> Result<(), TextError> {
    if let Some((at, c)) = value.char_indices().find(|(_, c)| forbidden(*c)) {
        return Err(TextError::ControlCharacter { field, code: u32::from(c), at });
    }
    if value.len() > max_bytes {
        return Err(TextError::TooLong { field, max: max_bytes });
    }
    Ok(())
}

/// `value` with the characters [`check`] refuses dropped, cut to at most `max_bytes` bytes on a character
/// boundary: for text from outside (an error message) that must pass the check.
pub fn sanitize(value: &str, max_bytes: usize) -> String {
    let mut out = String::new();
    for c in value.chars().filter(|c| !forbidden(*c)) {
        if out.len() + c.len_utf8() > max_bytes {
            break;
        }
        out.push(c);
    }
    out
}

/// Checks and trims a required field: no control characters, 1–`max_bytes` bytes once trimmed.
pub fn required(field: &'static str, value: &str, max_bytes: usize) -> Result<String, TextError> {
    check(field, value, usize::MAX)?;
    let trimmed = value.trim();
    if trimmed.is_empty() {
        return Err(TextError::Empty { field });
    }
    if trimmed.len() > max_bytes {
        return Err(TextError::TooLong { field, max: max_bytes });
    }
    Ok(trimmed.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sanitized_text_passes_the_check_and_keeps_whole_characters() {
        let cut = sanitize("备份失败\u{7}：磁盘\u{202E}已满", 16);
        assert_eq!(cut, "备份失败：");
        assert!(check("detail", &cut, 16).is_ok());
        assert_eq!(sanitize("ok", 1_000), "ok");
    }

    #[test]
    fn control_characters_are_refused_wherever_they_are() {
        for bad in ["a\0b", "\u{7}", "line\nbreak", "tab\there", "\u{1b}[31m", "x\u{85}", "\u{202E}evil", "\u{7F}"] {
            let e = check("memo", bad, 100).unwrap_err();
            assert_eq!(e.code(), "text_control_character", "{bad:?}");
        }
        assert_eq!(check("memo", "王芳 A-101 · ¥50.00", 100), Ok(()));
        assert_eq!(check("memo", "", 100), Ok(()));
        assert_eq!(check("memo", "abc", 2), Err(TextError::TooLong { field: "memo", max: 2 }));
        assert_eq!(required("name", "  Li Lei ", 20).as_deref(), Ok("Li Lei"));
        assert_eq!(required("name", "   ", 20), Err(TextError::Empty { field: "name" }));
        assert!(matches!(
            required("name", "Li\u{0}", 20),
            Err(TextError::ControlCharacter { field: "name", code: 0, at: 2 })
        ));
    }
}
