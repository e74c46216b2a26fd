//! Money as an integer count of a currency's minor unit (fen, cents), never a float.
//!
//! Currencies are ISO 4217 codes with their minor-unit exponent. Only currencies in [`Currency::KNOWN`] are
//! accepted, so a typo such as `CYN` is an error rather than a new currency.

use std::fmt;

use thiserror::Error;

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum MoneyError {
    #[error("unknown currency code {0:?} (expected an ISO 4217 code such as CNY, ZAR, KES, USD)")]
    UnknownCurrency(String),
    #[error("currency mismatch: {left} and {right}")]
    CurrencyMismatch { left: Currency, right: Currency },
    #[error("amount out of range")]
    Overflow,
    #[error("{input:?} is not an amount in {currency} (at most {exponent} decimal places, e.g. 12.34)")]
    Malformed { input: String, currency: Currency, exponent: u8 },
}

/// An ISO 4217 currency and the number of decimal places of its minor unit.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Currency {
    code: [u8; 3],
    exponent: u8,
}

impl Currency {
    pub const CNY: Currency = Currency::new(*b"CNY", 2);
    pub const ZAR: Currency = Currency::new(*b"ZAR", 2);
    pub const KES: Currency = Currency::new(*b"KES", 2);
    pub const NGN: Currency = Currency::new(*b"NGN", 2);
    pub const TZS: Currency = Currency::new(*b"TZS", 2);
    pub const UGX: Currency = Currency::new(*b"UGX", 0);
    pub const INR: Currency = Currency::new(*b"INR", 2);
    pub const USD: Currency = Currency::new(*b"USD", 2);
    pub const EUR: Currency = Currency::new(*b"EUR", 2);
    pub const GBP: Currency = Currency::new(*b"GBP", 2);
    pub const JPY: Currency = Currency::new(*b"JPY", 0);
    pub const KWD: Currency = Currency::new(*b"KWD", 3);

    /// The currencies Voltvend accepts. Adding one is a one-line change with its ISO 4217 exponent.
    pub const KNOWN: [Currency; 12] = [
        Self::CNY,
        Self::ZAR,
        Self::KES,
        Self::NGN,
        Self::TZS,
        Self::UGX,
        Self::INR,
        Self::USD,
        Self::EUR,
        Self::GBP,
        Self::JPY,
        Self::KWD,
    ];

    const fn new(code: [u8; 3], exponent: u8) -> Self {
        Self { code, exponent }
    }

    /// Looks up an ISO 4217 code (case-insensitive).
    pub fn from_code(code: &str) -> Result<Self, MoneyError> {
        let upper = code.trim().to_ascii_uppercase();
        Self::KNOWN
            .iter()
            .find(|c| c.code() == upper)
            .copied()
            .ok_or_else(|| MoneyError::UnknownCurrency(code.to_string()))
    }

    pub fn code(&self) -> &str {
        // The code bytes are always ASCII letters (constructed only from the constants above).
        std::str::from_utf8(&self.code).unwrap_or("???")
    }

    /// Decimal places of the minor unit (2 for CNY: 1 yuan = 100 fen).
    pub const fn exponent(&self) -> u8 {
        self.exponent
    }

    /// Minor units in one major unit.
    pub const fn minor_per_major(&self) -> i64 {
        10_i64.pow(self.exponent as u32)
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl fmt::Debug for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl std::str::FromStr for Currency {
    type Err = MoneyError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::from_code(s)
    }
}

/// An exact amount of money in a currency's minor unit.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Money {
    amount_minor: i64,
    currency: Currency,
}

impl Money {
    pub const fn from_minor(amount_minor: i64, currency: Currency) -> Self {
        Self { amount_minor, currency }
    }

    pub const fn zero(currency: Currency) -> Self {
        Self::from_minor(0, currency)
    }

    pub const fn amount_minor(&self) -> i64 {
        self.amount_minor
    }

    pub const fn currency(&self) -> Currency {
        self.currency
    }

    pub const fn is_negative(&self) -> bool {
        self.amount_minor < 0
    }

    /// Parses a decimal amount such as `12.5`, `-0.01` or `100` in major units, exactly.
    /// More decimal places than the currency has is an error, never a silent rounding.
    pub fn parse(input: &str, currency: Currency) -> Result<Self, MoneyError> {
        match crate::decimal::parse_scaled(input, currency.exponent) {
            Ok(amount_minor) => Ok(Self::from_minor(amount_minor, currency)),
            Err(crate::decimal::DecimalError::Overflow) => Err(MoneyError::Overflow),
            Err(crate::decimal::DecimalError::Malformed) => {
                Err(MoneyError::Malformed { input: input.to_string(), currency, exponent: currency.exponent })
            }
        }
    }

    pub fn checked_add(self, other: Money) -> Result<Money, MoneyError> {
        self.same_currency(other)?;
        let sum = self.amount_minor.checked_add(other.amount_minor).ok_or(MoneyError::Overflow)?;
        Ok(Money::from_minor(sum, self.currency))
    }

    pub fn checked_sub(self, other: Money) -> Result<Money, MoneyError> {
        self.same_currency(other)?;
        let diff = self.amount_minor.checked_sub(other.amount_minor).ok_or(MoneyError::Overflow)?;
        Ok(Money::from_minor(diff, self.currency))
    }

    pub fn checked_neg(self) -> Result<Money, MoneyError> {
        let neg = self.amount_minor.checked_neg().ok_or(MoneyError::Overflow)?;
        Ok(Money::from_minor(neg, self.currency))
    }

    fn same_currency(self, other: Money) -> Result<(), MoneyError> {
        if self.currency == other.currency {
            Ok(())
        } else {
            Err(MoneyError::CurrencyMismatch { left: self.currency, right: other.currency })
        }
    }

    /// The amount in major units without the currency code: `-12.05`.
    pub fn to_decimal_string(&self) -> String {
        crate::decimal::format_scaled(self.amount_minor, u32::from(self.currency.exponent))
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.currency, self.to_decimal_string())
    }
}

impl fmt::Debug for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(input: &str, currency: Currency, expect: Result<i64, ()>) {
        let got = Money::parse(input, currency).map(|m| m.amount_minor()).map_err(|_| ());
        assert_eq!(got, expect, "parsing {input:?} in {currency}");
    }

    #[test]
    fn parse_table() {
        check("12.34", Currency::CNY, Ok(1234));
        check("12.3", Currency::CNY, Ok(1230));
        check("12", Currency::CNY, Ok(1200));
        check(".5", Currency::CNY, Ok(50));
        check("-0.01", Currency::CNY, Ok(-1));
        check("+7", Currency::USD, Ok(700));
        check("1000", Currency::JPY, Ok(1000));
        check("1.234", Currency::KWD, Ok(1234));
        check("12.345", Currency::CNY, Err(()));
        check("1.5", Currency::JPY, Err(()));
        check("12.", Currency::CNY, Err(()));
        check("", Currency::CNY, Err(()));
        check("-", Currency::CNY, Err(()));
        check("1e3", Currency::CNY, Err(()));
        check("1,000", Currency::CNY, Err(()));
        check("99999999999999999999", Currency::CNY, Err(()));
        check("92233720368547758.07", Currency::CNY, Ok(i64::MAX));
        check("92233720368547758.08", Currency::CNY, Err(()));
    }

    #[test]
    fn display_round_trips() {
        for minor in [0, 1, -1, 5, 99, 100, -101, 123_456_789, i64::MIN + 1, i64::MAX] {
            for cur in Currency::KNOWN {
                let m = Money::from_minor(minor, cur);
                assert_eq!(Money::parse(&m.to_decimal_string(), cur), Ok(m), "{m}");
            }
        }
        assert_eq!(Money::from_minor(-1205, Currency::CNY).to_string(), "CNY -12.05");
    }

    #[test]
    fn currency_lookup() {
        assert_eq!(Currency::from_code("zar"), Ok(Currency::ZAR));
        assert!(matches!(Currency::from_code("CYN"), Err(MoneyError::UnknownCurrency(_))));
    }

    #[test]
    fn arithmetic_refuses_mixing_and_overflow() {
        let a = Money::from_minor(5, Currency::CNY);
        let b = Money::from_minor(5, Currency::ZAR);
        assert!(matches!(a.checked_add(b), Err(MoneyError::CurrencyMismatch { .. })));
        assert_eq!(Money::from_minor(i64::MAX, Currency::CNY).checked_add(a), Err(MoneyError::Overflow));
        assert_eq!(a.checked_sub(a), Ok(Money::zero(Currency::CNY)));
    }
}
