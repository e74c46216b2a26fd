//! Energy, water and unit prices as integers with their unit in the name.
//!
//! * [`EnergyWh`]: watt-hours. Meter registers count 0.01 kWh (10 Wh), STS transfers 0.1 kWh (100 Wh); Wh
//!   holds both exactly.
//! * [`VolumeL`]: litres of water (1 m³ = 1000 L).
//! * [`UnitPrice`]: millionths of a major currency unit per kWh or per m³ (6 fixed decimals, as published
//!   tariffs such as 0.528300 CNY/kWh need). A charge is computed exactly in nano-major units (10⁻⁹) and split
//!   into whole minor units plus a remainder the caller carries forward, so no fraction is ever dropped.

use std::fmt;

use thiserror::Error;

use crate::decimal::format_scaled;
use crate::money::{Currency, Money};

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum QuantityError {
    #[error("{input:?} is not a quantity in {unit} (at most {decimals} decimal places)")]
    Malformed { input: String, unit: &'static str, decimals: u8 },
    #[error("quantity out of range")]
    Overflow,
    #[error("a unit price cannot be negative")]
    NegativePrice,
}

/// Parses a decimal with at most `decimals` places, naming the unit in the error.
fn parse_scaled(input: &str, decimals: u8, unit: &'static str) -> Result<i64, QuantityError> {
    crate::decimal::parse_scaled(input, decimals).map_err(|e| match e {
        crate::decimal::DecimalError::Overflow => QuantityError::Overflow,
        crate::decimal::DecimalError::Malformed => {
            QuantityError::Malformed { input: input.to_string(), unit, decimals }
        }
    })
}

/// Electrical energy in watt-hours.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct EnergyWh(pub i64);

impl EnergyWh {
    /// Parses kWh with up to three decimals: `"12.345"` → 12 345 Wh.
    pub fn parse_kwh(input: &str) -> Result<Self, QuantityError> {
        parse_scaled(input, 3, "kWh").map(Self)
    }

    pub const fn wh(&self) -> i64 {
        self.0
    }

    pub fn checked_add(self, other: Self) -> Option<Self> {
        self.0.checked_add(other.0).map(Self)
    }

    pub fn checked_sub(self, other: Self) -> Option<Self> {
        self.0.checked_sub(other.0).map(Self)
    }
}

impl fmt::Display for EnergyWh {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} kWh", format_scaled(self.0, 3))
    }
}

impl fmt::Debug for EnergyWh {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}Wh", self.0)
    }
}

/// Water volume in litres.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct VolumeL(pub i64);

impl VolumeL {
    /// Parses m³ with up to three decimals: `"1.5"` → 1 500 L.
    pub fn parse_m3(input: &str) -> Result<Self, QuantityError> {
        parse_scaled(input, 3, "m³").map(Self)
    }

    pub const fn litres(&self) -> i64 {
        self.0
    }
}

impl fmt::Display for VolumeL {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} m³", format_scaled(self.0, 3))
    }
}

impl fmt::Debug for VolumeL {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}L", self.0)
    }
}

/// A price per kWh (electricity) or per m³ (water) in millionths of the currency's major unit.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct UnitPrice {
    micro_per_unit: i64,
    currency: Currency,
}

/// Sub-minor precision of exact charges: 10⁻⁹ of a major unit (micro-per-kWh × Wh).
pub const NANO_PER_MAJOR: i128 = 1_000_000_000;

impl UnitPrice {
    pub fn new(micro_per_unit: i64, currency: Currency) -> Result<Self, QuantityError> {
        if micro_per_unit < 0 {
            return Err(QuantityError::NegativePrice);
        }
        Ok(Self { micro_per_unit, currency })
    }

    /// Parses a price such as `"0.5283"` with up to six decimals.
    pub fn parse(input: &str, currency: Currency) -> Result<Self, QuantityError> {
        Self::new(parse_scaled(input, 6, "price")?, currency)
    }

    pub const fn micro_per_unit(&self) -> i64 {
        self.micro_per_unit
    }

    pub const fn currency(&self) -> Currency {
        self.currency
    }

    /// The exact cost of `energy` in nano-major units (10⁻⁹ of a yuan, rand…). Never rounds.
    pub fn cost_nano_of_wh(&self, energy: EnergyWh) -> i128 {
        i128::from(self.micro_per_unit) * i128::from(energy.0)
    }

    /// The exact cost of a water volume in nano-major units (micro per m³ × litres = nano per… m³·10⁻³).
    pub fn cost_nano_of_litres(&self, volume: VolumeL) -> i128 {
        i128::from(self.micro_per_unit) * i128::from(volume.0)
    }

    /// Splits an exact nano-major amount into whole minor units (rounded toward negative infinity) and the
    /// non-negative remainder in nano-major units that the caller must carry into the next charge.
    pub fn split_nano(&self, nano_major: i128) -> Result<(Money, i128), QuantityError> {
        let nano_per_minor = NANO_PER_MAJOR / i128::from(self.currency.minor_per_major());
        let minor = nano_major.div_euclid(nano_per_minor);
        let remainder = nano_major.rem_euclid(nano_per_minor);
        let minor = i64::try_from(minor).map_err(|_| QuantityError::Overflow)?;
        Ok((Money::from_minor(minor, self.currency), remainder))
    }
}

impl fmt::Display for UnitPrice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.currency, format_scaled(self.micro_per_unit, 6))
    }
}

impl fmt::Debug for UnitPrice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn parse_quantities() {
        assert_eq!(EnergyWh::parse_kwh("12.345"), Ok(EnergyWh(12_345)));
        assert_eq!(EnergyWh::parse_kwh("0.01"), Ok(EnergyWh(10)));
        assert!(EnergyWh::parse_kwh("0.0001").is_err());
        assert_eq!(VolumeL::parse_m3("1.5"), Ok(VolumeL(1_500)));
        assert_eq!(UnitPrice::parse("0.5283", Currency::CNY).map(|p| p.micro_per_unit()), Ok(528_300));
        assert!(UnitPrice::parse("0.1234567", Currency::CNY).is_err());
        assert_eq!(UnitPrice::parse("-1", Currency::CNY), Err(QuantityError::NegativePrice));
        assert_eq!(EnergyWh(12_345).to_string(), "12.345 kWh");
    }

    #[test]
    fn charge_is_exact_with_remainder() {
        let price = UnitPrice::parse("0.528300", Currency::CNY).unwrap();
        // 1.23 kWh × 0.5283 = 0.649809 CNY → 64 fen and 0.009809 CNY carried.
        let nano = price.cost_nano_of_wh(EnergyWh(1_230));
        let (money, rem) = price.split_nano(nano).unwrap();
        assert_eq!(money.amount_minor(), 64);
        assert_eq!(rem, 9_809_000);
    }

    proptest! {
        /// Charging a consumption in pieces and carrying remainders gives the same minor units as charging it
        /// at once — the property the tariff engine builds on.
        #[test]
        fn split_charges_sum_to_whole(
            micro in 0_i64..10_000_000,
            parts in proptest::collection::vec(0_i64..5_000_000, 1..50),
        ) {
            let price = UnitPrice::new(micro, Currency::CNY).unwrap();
            let total_wh: i64 = parts.iter().sum();
            let (whole, _) = price.split_nano(price.cost_nano_of_wh(EnergyWh(total_wh))).unwrap();
            let mut carried = 0_i128;
            let mut sum_minor = 0_i64;
            for p in parts {
                let (m, rem) = price.split_nano(carried + price.cost_nano_of_wh(EnergyWh(p))).unwrap();
                sum_minor += m.amount_minor();
                carried = rem;
            }
            prop_assert_eq!(sum_minor, whole.amount_minor());
        }
    }
}
