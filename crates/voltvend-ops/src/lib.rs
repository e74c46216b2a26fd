//! Voltvend's business operations (DESIGN.md §3): open an account, sell, apply readings, correct, close a
//! shift… each a command that names the state it touches, applied by pure code to a workspace loaded for a
//! whole batch, staged whole or not at all, with its audit record and its idempotency record.
//!
//! Architecture invariant: no SQL, no HTTP, no clock, no randomness, no I/O. Storage reaches this crate only
//! through [`load::Source`] (batched reads) and [`workspace::Changes`] (what to write); time arrives as a
//! parameter, and whatever looks random (the STS token's random nibble) is derived from the operation id, so
//! the same operation always produces the same records.
//!
//! The flow, for each batch the store's writer takes:
//! 1. [`load::load`] reads every record the batch's operations name, and what those records refer to;
//! 2. [`apply::execute`] applies each operation in order: a retry returns its saved answer, a refusal rolls
//!    the workspace back to before the operation, a success adds one audit record and one idempotency record;
//! 3. [`workspace::Workspace::pending`] lists what to write, which the store writes in one transaction.
//!
//! [`memory::MemoryDb`] runs the same steps over in-memory tables: the sequential model of the stores.

pub mod apply;
pub mod audit;
pub mod command;
pub mod context;
pub mod error;
pub mod load;
pub mod memory;
pub mod records;
pub mod secrets;
pub mod workspace;

pub use apply::apportion::month_bounds;
pub use apply::lifecycle::{AccountClosed, MeterReplaced};
pub use apply::payments::INTENT_TTL_MAX;
pub use apply::{Applied, Outcome, ReadingsOutcome, Renderer, execute};
pub use command::{
    Actor, ApplyReadings, ApportionPeriod, ArrearsLine, AttemptResult, ChangePassword, CloseAccount, CloseShift,
    Command, CreateApportionmentRule, CreateFeeSchedule, CreatePaymentIntent, CreditRefusedPayment, CustomerRef,
    DecideCorrection, EnterArrears, ExpirePaymentIntent, ImportPaymentStatement, ImportTariff, InstallMeter, IssueCard,
    IssueFees, IssueFieldCard, IssueMeterCommand, IssueOpgToken, IssueStsTokens, LoginAttempt, Logout,
    LogoutEverywhere, MeterBinding, OpenAccount, OpenBooks, OpenPaymentChannel, OpenShift, OpenVendingPoint, Operation,
    OpgBinding, OpgManagement, PayFees, PlanKeyCampaign, RaiseAlarm, ReadingLimits, RebaseReadings, ReceiptFormat,
    RecordCardRead, RecordCommandAttempt, RecordLogin, RecordMeterReturn, RecordPaymentOrder, Refund,
    RefundRefusedPayment, ReplaceMeter, ReprintReceipt, RequestCorrection, Reverse, RevokeApiToken, Rewrap,
    RewrapSecrets, Sale, SaleAmount, SetAccountStatus, SetCardStatus, SetLanguage, SetMeterChannel,
    SetPaymentChannelActive, SettlePayment, SettleVendingPoint, StsManagement, SwitchBillingMode, TransferOwnership,
    UnlockOperator, UpdateCustomer, UpdateOperator,
};
pub use context::{Context, TariffCache};
pub use error::OpError;
pub use load::{Source, load};
pub use records::{
    AccountRecord, ApiTokenRecord, ApportionedUnit, ApportionmentRule, ApportionmentRun, ApprovalRecord,
    ApprovalStatus, AuditRecord, CardAlgorithm, CardKeyRecord, CardStatus, CommandKind, CommandStatus, Correction,
    CorrectionKind, CreditValue, Decision, DemandRow, FeeAllocation, FeeCharge, FeeChargeKey, FeePayment, FeePolicy,
    FeeRun, FeeSchedule, FieldCardKind, FloorArea, IdempotencyRecord, IntentPurpose, IntentStatus, KeyCampaign,
    LocalCredit, MaxDemand, MeterCard, MeterCategory, MeterCommand, MeterControl, MeterRecord, MeterReport,
    MeterReturn, MeterTokenRecord, OpgState, OpgUnit, OutboxKind, OutboxRow, PaymentChannel, PaymentIntent,
    PaymentMethod, PaymentStatement, PendingKeyChange, Provider, ReadingRow, ReadingState, ReadingStatus,
    RefusedPayment, Relay, ReturnSource, SaleRecord, SessionRecord, SpanConsumption, StatementEntry,
    StatementEntryKind, StsState, TariffDoc, UnitShare, VendingKeyRecord,
};
pub use secrets::{MasterKey, MasterKeys, card_key_aad};
pub use workspace::{AuditHead, Changes, Workspace};
