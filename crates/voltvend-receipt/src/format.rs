//! The pieces every form prints the same way: money, quantities, receipt numbers and grouped tokens.
//! Integers in, text out; exact, never rounded.

use voltvend_domain::{Currency, Money, Utility};

use crate::data::{Language, TokenKind};
use crate::error::ReceiptError;
use crate::messages::Msg;

/// Money with its ISO 4217 code and the currency's exponent: `CNY 50.00`, `JPY 500`, `KWD 1.250`.
///
/// The code rather than a symbol, in every language and form, because `¥` is both yuan and yen and an
/// ESC/POS printer without a Chinese font has no `¥`.
pub fn money(amount_minor: i64, currency: Currency) -> String {
    Money::from_minor(amount_minor, currency).to_string()
}

/// The receipt number zero-padded to six digits: `000123`; larger numbers print in full.
pub fn receipt_number(receipt_no: i64) -> String {
    format!("{receipt_no:06}")
}

/// A quantity in milli-units (Wh, litres) as kWh or m³ with at most three decimals, trailing zeros trimmed
/// but one decimal kept: `12345` → `12.345`, `12300` → `12.3`, `12000` → `12.0`, `5` → `0.005`.
pub fn quantity(quantity_milli: i64) -> String {
    let sign = if quantity_milli < 0 { "-" } else { "" };
    let magnitude = quantity_milli.unsigned_abs();
    let (whole, milli) = (magnitude / 1000, magnitude % 1000);
    let mut decimals = format!("{milli:03}");
    while decimals.len() > 1 && decimals.ends_with('0') {
        decimals.pop();
    }
    format!("{sign}{whole}.{decimals}")
}

/// The unit of a utility's quantity in `language`: `千瓦时` / `kWh`, `立方米` / `m³`.
pub fn unit(utility: Utility, language: Language) -> &'static str {
    match utility {
        Utility::Electricity => Msg::UnitKwh.text(language),
        Utility::Water => Msg::UnitM3.text(language),
    }
}

/// A quantity with its unit: `12.3 kWh`, `1.5 立方米`.
pub fn quantity_with_unit(quantity_milli: i64, utility: Utility, language: Language) -> String {
    format!("{} {}", quantity(quantity_milli), unit(utility, language))
}

/// A token grouped for reading and typing: STS tokens (exactly 20 digits) in five groups of four
/// (`1234 5678 9012 3456 7890`), OpenPAYGO tokens (9 or 12 digits, or 15 or 20 of the digits 1–4 for restricted
/// keypads) in groups of three from the left (`123 456 789`). ASCII spaces in the input are ignored; anything
/// else is refused rather than printed wrong.
pub fn group_token(kind: TokenKind, token: &str) -> Result<String, ReceiptError> {
    let digits: Vec<char> = token.chars().filter(|c| *c != ' ').collect();
    let malformed = |expected: &'static str| ReceiptError::MalformedToken { kind, token: token.to_string(), expected };
    let (group, ok, expected) = match kind {
        TokenKind::Sts => (4, digits.len() == 20 && digits.iter().all(char::is_ascii_digit), "20 digits"),
        TokenKind::OpenPaygo => {
            let ok = match digits.len() {
                9 | 12 => digits.iter().all(char::is_ascii_digit),
                15 | 20 => digits.iter().all(|c| ('1'..='4').contains(c)),
                _ => false,
            };
            (3, ok, "9 or 12 digits, or 15 or 20 of the digits 1-4")
        }
    };
    if !ok {
        return Err(malformed(expected));
    }
    Ok(digits.chunks(group).map(|chunk| chunk.iter().collect::<String>()).collect::<Vec<_>>().join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn money_is_exact_in_each_exponent() {
        for (minor, currency, expect) in [
            (5000, Currency::CNY, "CNY 50.00"),
            (5, Currency::CNY, "CNY 0.05"),
            (-1205, Currency::CNY, "CNY -12.05"),
            (123_456_789, Currency::KES, "KES 1234567.89"),
            (500, Currency::JPY, "JPY 500"),
            (500, Currency::UGX, "UGX 500"),
            (1250, Currency::KWD, "KWD 1.250"),
            (1, Currency::KWD, "KWD 0.001"),
            (i64::MAX, Currency::CNY, "CNY 92233720368547758.07"),
            (0, Currency::ZAR, "ZAR 0.00"),
        ] {
            assert_eq!(money(minor, currency), expect);
        }
    }

    #[test]
    fn receipt_numbers_are_zero_padded() {
        assert_eq!(receipt_number(123), "000123");
        assert_eq!(receipt_number(0), "000000");
        assert_eq!(receipt_number(999_999), "999999");
        assert_eq!(receipt_number(1_234_567), "1234567");
    }

    #[test]
    fn quantities_keep_milli_units_exactly() {
        for (milli, expect) in [
            (12_345, "12.345"),
            (12_340, "12.34"),
            (12_300, "12.3"),
            (12_000, "12.0"),
            (0, "0.0"),
            (5, "0.005"),
            (50, "0.05"),
            (1_500, "1.5"),
            (-2_500, "-2.5"),
            (i64::MAX, "9223372036854775.807"),
            (i64::MIN, "-9223372036854775.808"),
        ] {
            assert_eq!(quantity(milli), expect, "{milli}");
        }
        assert_eq!(quantity_with_unit(151_500, Utility::Electricity, Language::ZhCn), "151.5 千瓦时");
        assert_eq!(quantity_with_unit(1_500, Utility::Water, Language::En), "1.5 m³");
    }

    #[test]
    fn sts_tokens_are_grouped_by_four() {
        assert_eq!(group_token(TokenKind::Sts, "12345678901234567890").unwrap(), "1234 5678 9012 3456 7890");
        assert_eq!(group_token(TokenKind::Sts, "1234 5678 9012 3456 7890").unwrap(), "1234 5678 9012 3456 7890");
        for bad in ["1234567890123456789", "123456789012345678901", "1234567890123456789x", "", "１２３"] {
            let err = group_token(TokenKind::Sts, bad).unwrap_err();
            assert_eq!(err.code(), "receipt_token_malformed", "{bad:?}");
        }
    }

    #[test]
    fn openpaygo_tokens_are_grouped_by_three() {
        for (token, expect) in [
            ("123456789", "123 456 789"),
            ("123456789012", "123 456 789 012"),
            ("123412341234123", "123 412 341 234 123"),
            ("12341234123412341234", "123 412 341 234 123 412 34"),
        ] {
            assert_eq!(group_token(TokenKind::OpenPaygo, token).unwrap(), expect);
        }
        // 15 and 20 digits are restricted-keypad tokens: digits 1-4 only.
        for bad in ["12345678", "1234567890", "123456789012345", "12345678901234567890", "12345678a"] {
            assert!(group_token(TokenKind::OpenPaygo, bad).is_err(), "{bad:?}");
        }
    }
}
