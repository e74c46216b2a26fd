//! Why a receipt could not be rendered, each with a stable code.

use std::path::PathBuf;

use thiserror::Error;

use crate::data::TokenKind;

#[derive(Debug, Error)]
pub enum ReceiptError {
    #[error("receipt number {0} is negative")]
    InvalidReceiptNumber(i64),
    #[error(
        "the amounts do not add up: paid {paid_minor} is not arrears {arrears_minor} + fees {fees_minor} + \
         energy {energy_minor} + credit {credit_minor} (minor units, none negative), or tax {tax_minor} is more \
         than the energy money"
    )]
    AmountsInconsistent {
        paid_minor: i64,
        arrears_minor: i64,
        fees_minor: i64,
        energy_minor: i64,
        tax_minor: i64,
        credit_minor: i64,
    },
    #[error("quantity {0} (milli-units) is negative")]
    InvalidQuantity(i64),
    #[error("{token:?} is not a {kind:?} token ({expected})")]
    MalformedToken { kind: TokenKind, token: String, expected: &'static str },
    #[error(
        "the PDF receipt needs a font for {needed} and none was given (install fonts-noto-cjk, or configure the \
         path of a CJK font)"
    )]
    FontMissing { needed: String },
    #[error("the font has no glyph for {ch:?} (U+{code:04X}); use a CJK font such as Noto Sans CJK SC", code = u32::from(*ch))]
    GlyphMissing { ch: char },
    #[error("not a usable font: {reason}")]
    FontInvalid { reason: String },
    #[error("cannot read the font file {path}: {source}")]
    FontUnreadable {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the PDF could not be written: {0}")]
    Pdf(String),
    #[error("not ESC/POS output of this crate at byte {offset}: {reason}")]
    EscPosMalformed { offset: usize, reason: &'static str },
}

impl ReceiptError {
    /// The stable snake_case code for logs, HTTP answers and docs/errors.md.
    pub fn code(&self) -> &'static str {
        match self {
            ReceiptError::InvalidReceiptNumber(_) => "receipt_number_invalid",
            ReceiptError::AmountsInconsistent { .. } => "receipt_amounts_inconsistent",
            ReceiptError::InvalidQuantity(_) => "receipt_quantity_invalid",
            ReceiptError::MalformedToken { .. } => "receipt_token_malformed",
            ReceiptError::FontMissing { .. } => "receipt_font_missing",
            ReceiptError::GlyphMissing { .. } => "receipt_font_lacks_glyph",
            ReceiptError::FontInvalid { .. } => "receipt_font_invalid",
            ReceiptError::FontUnreadable { .. } => "receipt_font_unreadable",
            ReceiptError::Pdf(_) => "receipt_pdf_failed",
            ReceiptError::EscPosMalformed { .. } => "receipt_escpos_malformed",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_stable_snake_case() {
        let all = [
            ReceiptError::InvalidReceiptNumber(-1),
            ReceiptError::AmountsInconsistent {
                paid_minor: 1,
                arrears_minor: 0,
                fees_minor: 0,
                energy_minor: 0,
                tax_minor: 0,
                credit_minor: 0,
            },
            ReceiptError::InvalidQuantity(-1),
            ReceiptError::MalformedToken { kind: TokenKind::Sts, token: "1".into(), expected: "20 digits" },
            ReceiptError::FontMissing { needed: "Chinese text".into() },
            ReceiptError::GlyphMissing { ch: '王' },
            ReceiptError::FontInvalid { reason: "x".into() },
            ReceiptError::FontUnreadable { path: "/x".into(), source: std::io::ErrorKind::NotFound.into() },
            ReceiptError::Pdf("x".into()),
            ReceiptError::EscPosMalformed { offset: 0, reason: "x" },
        ];
        let codes: Vec<&str> = all.iter().map(ReceiptError::code).collect();
        assert_eq!(
            codes,
            [
                "receipt_number_invalid",
                "receipt_amounts_inconsistent",
                "receipt_quantity_invalid",
                "receipt_token_malformed",
                "receipt_font_missing",
                "receipt_font_lacks_glyph",
                "receipt_font_invalid",
                "receipt_font_unreadable",
                "receipt_pdf_failed",
                "receipt_escpos_malformed",
            ]
        );
        assert!(ReceiptError::GlyphMissing { ch: '王' }.to_string().contains("U+738B"));
    }
}
