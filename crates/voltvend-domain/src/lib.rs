//! Voltvend's domain core: the types and rules every other crate speaks in.
//!
//! Architecture invariant: this crate is pure. It does no I/O, reads no clock and draws no random numbers;
//! time arrives as a [`jiff::Timestamp`] parameter (see [`clock::Clock`]) and identifiers are built by the
//! caller. Money and energy are integers with their unit in the name; there is no float in this crate.

pub mod account;
pub mod apportion;
pub mod channel;
pub mod clock;
pub mod decimal;
pub mod fees;
pub mod ids;
pub mod ledger;
pub mod meter;
pub mod money;
pub mod operator;
pub mod premises;
pub mod quantity;
pub mod tariff;
pub mod text;
pub mod vending;

pub use account::{
    Account, AccountError, AccountStatus, BillingMode, Customer, CustomerKind, IdDocument, IdDocumentKind,
};
pub use channel::{Channel, ChannelError};
pub use clock::{Clock, ManualClock};
pub use ids::{
    AccountId, ApiTokenId, ApportionmentRuleId, ApprovalId, BooksId, CampaignId, CommandId, CustomerId, FeeScheduleId,
    LedgerAccountId, MeterId, OperationId, OperatorId, PaymentChannelId, PaymentIntentId, PremisesId, ShiftId,
    TransferId, VendingPointId,
};
pub use ledger::{
    BookChanges, LedgerAccount, LedgerAccountKind, LedgerBook, LedgerError, Owner, PostOutcome, Posting, Savepoint,
    Side, Transfer, TransferKind, TransferRequest,
};
pub use meter::{ControlMode, CtVtRatio, EnergyCategory, Meter, MeterError, MeterProtocol, MeterState, Utility};
pub use money::{Currency, Money, MoneyError};
pub use operator::{BuiltinRole, Operator, Permission, Role};
pub use premises::{Premises, PremisesError, PremisesLevel};
pub use quantity::{EnergyWh, QuantityError, UnitPrice, VolumeL};
pub use text::TextError;
pub use vending::{Books, Shift, ShiftStatus, VendingError, VendingPoint};
