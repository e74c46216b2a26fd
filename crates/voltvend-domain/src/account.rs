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

/// A person or a company (the holder of a business licence).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CustomerKind {
    Person,
    Company,
}

/// The kind of identity document on a customer file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IdDocumentKind {
    /// 居民身份证 or another national identity card.
    NationalId,
    Passport,
    /// 营业执照 (unified social credit code) or another company registration.
    BusinessLicence,
    Other,
}

/// An identity document: its kind and number, as on the document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdDocument {
    pub kind: IdDocumentKind,
    pub number: String,
}

/// A person or company: the customer file (客户档案).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Customer {
    pub id: CustomerId,
    pub premises_id: PremisesId,
    pub kind: CustomerKind,
    pub name: String,
    pub id_document: Option<IdDocument>,
    /// Contact numbers, most important first (at most [`Customer::PHONES_MAX`]).
    pub phones: Vec<String>,
    pub email: Option<String>,
}

impl Customer {
    pub const NAME_LEN_MAX: usize = 120;
    pub const PHONE_LEN_MAX: usize = 32;
    pub const PHONES_MAX: usize = 4;
    pub const ID_NUMBER_LEN_MAX: usize = 64;
    pub const EMAIL_LEN_MAX: usize = 254;

    /// A person with at most one phone number.
    pub fn new(id: CustomerId, premises_id: PremisesId, name: &str, phone: Option<&str>) -> Result<Self, AccountError> {
        let phones: Vec<&str> = phone.into_iter().collect();
        Self::file(id, premises_id, CustomerKind::Person, name, None, &phones, None)
    }

    /// A full customer file, checked and trimmed: a name, an optional identity document, up to
    /// [`Customer::PHONES_MAX`] phone numbers (digits, spaces, `+ - ( )`), an optional e-mail address.
    pub fn file(
        id: CustomerId,
        premises_id: PremisesId,
        kind: CustomerKind,
        name: &str,
        id_document: Option<IdDocument>,
        phones: &[&str],
        email: Option<&str>,
    ) -> Result<Self, AccountError> {
        crate::text::check("customer name", name, usize::MAX)?;
        let n = name.trim().chars().count();
        if n == 0 || n > Self::NAME_LEN_MAX {
            return Err(AccountError::BadName);
        }
        let id_document = match id_document {
            Some(d) => Some(IdDocument {
                kind: d.kind,
                number: crate::text::required("identity document number", &d.number, Self::ID_NUMBER_LEN_MAX)?,
            }),
            None => None,
        };
        if phones.len() > Self::PHONES_MAX {
            return Err(AccountError::Unknown {
                what: "number of phones (at most 4)",
                value: phones.len().to_string(),
            });
        }
        let mut checked = Vec::with_capacity(phones.len());
        for p in phones {
            crate::text::check("phone", p.trim(), Self::PHONE_LEN_MAX)?;
            let p = p.trim();
            if p.is_empty() {
                continue;
            }
            if !p.chars().all(|c| c.is_ascii_digit() || " +-()".contains(c)) || !p.chars().any(|c| c.is_ascii_digit()) {
                return Err(AccountError::Unknown { what: "phone number (digits, spaces, + - ( ))", value: p.into() });
            }
            checked.push(p.to_string());
        }
        let email = match email.map(str::trim).filter(|e| !e.is_empty()) {
            Some(e) => {
                crate::text::check("e-mail", e, Self::EMAIL_LEN_MAX)?;
                let ok = e.split_once('@').is_some_and(|(local, domain)| {
                    !local.is_empty() && domain.contains('.') && !domain.starts_with('.') && !e.contains(' ')
                });
                if !ok {
                    return Err(AccountError::Unknown { what: "e-mail address", value: e.into() });
                }
                Some(e.to_string())
            }
            None => None,
        };
        Ok(Self { id, premises_id, kind, name: name.trim().to_string(), id_document, phones: checked, email })
    }

    /// The first phone number, if any.
    pub fn phone(&self) -> Option<&str> {
        self.phones.first().map(String::as_str)
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

str_enum!(CustomerKind, "customer kind", { Person => "person", Company => "company" });
str_enum!(IdDocumentKind, "identity document kind", {
    NationalId => "national_id", Passport => "passport", BusinessLicence => "business_licence", Other => "other",
});
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
        assert!(Customer::new(id, at, "Wang Fang", Some("call me")).is_err());
        let doc = IdDocument { kind: IdDocumentKind::BusinessLicence, number: " 91330100MA27XX0000 ".into() };
        let c = Customer::file(
            id,
            at,
            CustomerKind::Company,
            "Hangzhou Tea Co. 杭州茶业",
            Some(doc),
            &["+86 571 8888 0000", "", "138-0000-0000"],
            Some("ops@tea.example"),
        )
        .unwrap();
        assert_eq!(c.phones.len(), 2, "empty numbers are dropped");
        assert_eq!(c.id_document.as_ref().map(|d| d.number.as_str()), Some("91330100MA27XX0000"));
        assert!(Customer::file(id, at, CustomerKind::Person, "x", None, &[], Some("not-an-address")).is_err());
        assert!(Customer::file(id, at, CustomerKind::Person, "x", None, &["1"; 5], None).is_err());
    }
}
