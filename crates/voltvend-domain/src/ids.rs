//! Typed identifiers. Each is a UUID; the server builds time-ordered (v7) ones from the injected clock so
//! that hot tables insert in key order. Transfer ids are chosen by the client and may be any UUID.

use std::fmt;
use std::str::FromStr;

use uuid::Uuid;

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident, $prefix:literal) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(Uuid);

        impl $name {
            /// A short human prefix used in logs and error messages.
            pub const PREFIX: &'static str = $prefix;

            pub const fn from_uuid(uuid: Uuid) -> Self {
                Self(uuid)
            }

            pub const fn as_uuid(&self) -> Uuid {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.0, f)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}:{}", $prefix, self.0)
            }
        }

        impl FromStr for $name {
            type Err = uuid::Error;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s).map(Self)
            }
        }

        impl From<Uuid> for $name {
            fn from(uuid: Uuid) -> Self {
                Self(uuid)
            }
        }
    };
}

id_type!(/// A node of the premises tree.
    PremisesId, "prem");
id_type!(/// A person or company that holds accounts.
    CustomerId, "cust");
id_type!(/// A customer's account at some premises; pays for one or more meters.
    AccountId, "acct");
id_type!(/// A physical (or simulated) meter.
    MeterId, "mtr");
id_type!(/// A person who logs in: administrator, cashier, engineer…
    OperatorId, "op");
id_type!(/// A cashier's shift; each has its own cash-drawer ledger account.
    ShiftId, "shift");
id_type!(/// An account in the double-entry ledger (not to be confused with a customer [`AccountId`]).
    LedgerAccountId, "ledg");
id_type!(/// A ledger transfer, chosen by the client so that retries are idempotent.
    TransferId, "xfer");
id_type!(/// A business operation (a sale, a batch of readings…), chosen by the client: its idempotency key.
    OperationId, "oper");
id_type!(/// A counter or channel where sales are made; receipts are numbered without gaps per vending point.
    VendingPointId, "vp");
id_type!(/// The system ledger accounts (revenue, tax, fees…) of one property in one currency.
    BooksId, "books");
id_type!(/// An API token of an integration; its secret is stored only as a hash.
    ApiTokenId, "tok");
id_type!(/// A command for a meter (trip, close, keep-power, set time) in the head end's command outbox.
    CommandId, "cmd");
id_type!(/// A correction (纠错) or write-off asked for by one operator and decided by another (maker-checker).
    ApprovalId, "appr");
id_type!(/// An STS key change campaign: meters whose next sale carries their key change set first.
    CampaignId, "camp");
id_type!(/// An online payment channel: one merchant account at one provider (WeChat Pay, Alipay…), selling for one
    /// property's books.
    PaymentChannelId, "chan");
id_type!(/// A customer's intent to pay online: who, which meter, how much, through which channel. Its simple form
    /// (32 hex digits) is the merchant order number the provider knows it by.
    PaymentIntentId, "pi");
id_type!(/// A common-area apportionment rule (公摊): a site's parent and common-area meters, its units and how a
    /// period's pool is shared among them.
    ApportionmentRuleId, "aprule");
id_type!(/// A fee schedule (房租 / 物业费): a monthly charge on a site's units, per unit or per m².
    FeeScheduleId, "fees");
