//! Customers and their accounts. An account's status is a small state machine; every business operation
//! asks it first, so a vend to a closed account is refused in one place.

use thiserror::Error;

use crate::ids::{AccountId, CustomerId, PremisesId};
use crate::money::Currency;

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum AccountError {
    #[error("account {0} is closed")]
    Closed(AccountId),
    #[error("account {0} is suspended")]
    Suspended(AccountId),
    #[error("account cannot go from {from} to {to}")]
    IllegalTransition { from: AccountStatus, to: AccountStatus },
    #[error("unknown {what} {value:?}")]
    Unknown { what: &'static str, value: String },
    #[error("customer name must be 1–{max} characters", max = Customer::NAME_LEN_MAX)]
    BadName,
    #[error(transparent)]
    Text(#[from] crate::text::TextError),
}

/// A person or company.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Customer {
    pub id: CustomerId,
    pub premises_id: PremisesId,
    pub name: String,
    pub phone: Option<String>,
}

impl Customer {
    pub const NAME_LEN_MAX: usize = 120;
    pub const PHONE_LEN_MAX: usize = 32;

    pub fn new(id: CustomerId, premises_id: PremisesId, name: &str, phone: Option<&str>) -> Result<Self, AccountError> {
        crate::text::check("customer name", name, usize::MAX)?;
        let n = name.trim().chars().count();
        if n == 0 || n > Self::NAME_LEN_MAX {
            return Err(AccountError::BadName);
        }
        if let Some(p) = phone {
            crate::text::check("phone", p.trim(), Self::PHONE_LEN_MAX)?;
        }
        Ok(Self {
            id,
            premises_id,
            name: name.trim().to_string(),
            phone: phone.map(|p| p.trim().to_string()).filter(|p| !p.is_empty()),
        })
    }
}

/// Prepaid (pay first, the default) or postpaid (monthly bill).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BillingMode {
    Prepaid,
    Postpaid,
}

/// Active ⇄ Suspended (报停/复电); either → Closed (销户), which is final.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AccountStatus {
    Active,
    Suspended,
    Closed,
}

macro_rules! str_enum {
    ($ty:ident, $what:literal, { $($variant:ident => $s:literal),+ $(,)? }) => {
        impl $ty {
            pub const fn as_str(&self) -> &'static str {
                match self { $(Self::$variant => $s),+ }
            }
        }
        impl ::std::fmt::Display for $ty {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
        impl ::std::str::FromStr for $ty {
            type Err = $crate::account::AccountError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($s => Ok(Self::$variant),)+
                    other => Err($crate::account::AccountError::Unknown { what: $what, value: other.to_string() }),
                }
            }
        }
    };
}
pub(crate) use str_enum;

str_enum!(BillingMode, "billing mode", { Prepaid => "prepaid", Postpaid => "postpaid" });
str_enum!(AccountStatus, "account status", { Active => "active", Suspended => "suspended", Closed => "closed" });

/// A customer's account at a premises, in one currency.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub id: AccountId,
    pub customer_id: CustomerId,
    pub premises_id: PremisesId,
    pub billing_mode: BillingMode,
    pub status: AccountStatus,
    pub currency: Currency,
}

impl Account {
    pub fn open(id: AccountId, customer: &Customer, premises_id: PremisesId, currency: Currency) -> Self {
        Self {
            id,
            customer_id: customer.id,
            premises_id,
            billing_mode: BillingMode::Prepaid,
            status: AccountStatus::Active,
            currency,
        }
    }

    /// Whether credit may be sold to this account now.
    pub fn ensure_can_vend(&self) -> Result<(), AccountError> {
        match self.status {
            AccountStatus::Active => Ok(()),
            AccountStatus::Suspended => Err(AccountError::Suspended(self.id)),
            AccountStatus::Closed => Err(AccountError::Closed(self.id)),
        }
    }

    fn transition(&mut self, to: AccountStatus) -> Result<(), AccountError> {
        use AccountStatus::*;
        let legal =
            matches!((self.status, to), (Active, Suspended) | (Suspended, Active) | (Active | Suspended, Closed));
        if !legal {
            return Err(AccountError::IllegalTransition { from: self.status, to });
        }
        self.status = to;
        Ok(())
    }

    pub fn suspend(&mut self) -> Result<(), AccountError> {
        self.transition(AccountStatus::Suspended)
    }

    pub fn resume(&mut self) -> Result<(), AccountError> {
        self.transition(AccountStatus::Active)
    }

    pub fn close(&mut self) -> Result<(), AccountError> {
        self.transition(AccountStatus::Closed)
    }

    /// Switches prepaid ⇄ postpaid. Settling the balance at the cut-over is the caller's ledger work.
    pub fn switch_billing_mode(&mut self, mode: BillingMode) -> Result<(), AccountError> {
        if self.status == AccountStatus::Closed {
            return Err(AccountError::Closed(self.id));
        }
        self.billing_mode = mode;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use uuid::Uuid;

    use super::*;

    fn account() -> Account {
        let customer = Customer::new(
            CustomerId::from_uuid(Uuid::from_u128(1)),
            PremisesId::from_uuid(Uuid::from_u128(2)),
            "Li Lei",
            None,
        )
        .unwrap();
        Account::open(AccountId::from_uuid(Uuid::from_u128(3)), &customer, customer.premises_id, Currency::CNY)
    }

    #[test]
    fn lifecycle() {
        let mut a = account();
        assert_eq!(a.ensure_can_vend(), Ok(()));
        a.suspend().unwrap();
        assert_eq!(a.ensure_can_vend(), Err(AccountError::Suspended(a.id)));
        assert!(a.suspend().is_err(), "suspending twice is not a transition");
        a.resume().unwrap();
        a.close().unwrap();
        assert_eq!(a.ensure_can_vend(), Err(AccountError::Closed(a.id)));
        assert_eq!(
            a.resume(),
            Err(AccountError::IllegalTransition { from: AccountStatus::Closed, to: AccountStatus::Active })
        );
        assert_eq!(a.switch_billing_mode(BillingMode::Postpaid), Err(AccountError::Closed(a.id)));
    }

    #[test]
    fn names_and_parsing() {
        assert!(
            Customer::new(CustomerId::from_uuid(Uuid::nil()), PremisesId::from_uuid(Uuid::nil()), "  ", None).is_err()
        );
        assert_eq!("postpaid".parse::<BillingMode>(), Ok(BillingMode::Postpaid));
        assert!("open".parse::<AccountStatus>().is_err());
        let id = CustomerId::from_uuid(Uuid::nil());
        let at = PremisesId::from_uuid(Uuid::nil());
        assert!(matches!(Customer::new(id, at, "Wang\u{0}Fang", None), Err(AccountError::Text(_))));
        assert!(matches!(Customer::new(id, at, "Wang Fang", Some("138\n0000")), Err(AccountError::Text(_))));
    }
}
