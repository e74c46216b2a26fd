// The SQL body shared by both backends. It is `include!`d into `sqlite.rs` and `postgres.rs`, each of which
// defines `Db`, `DbRow`, `BACKEND`, `BEGIN_WRITE`, `MIGRATOR`, `connect`, `serialize_writers`,
// `lock_instance_impl`, `durability_impl` and `backup_impl`. Queries use `$n` placeholders in order of
// appearance, which both engines accept.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use jiff::Timestamp;
use sqlx::{Pool, QueryBuilder, Row};
use uuid::Uuid;
use voltvend_domain::clock::{timestamp_from_us, timestamp_us};
use voltvend_domain::ledger::Balance;
use voltvend_domain::tariff::inverse::ArrearsRecovery;
use voltvend_domain::tariff::pricing::{PricingState, Reading, Registers};
use voltvend_domain::{
    Account, AccountId, ApiTokenId, ApprovalId, Books, CampaignId, BooksId, Clock, CommandId, CtVtRatio, Currency, Customer, CustomerId, IdDocument,
    LedgerAccount, LedgerAccountId, LedgerAccountKind, Meter, MeterId, OperationId, Operator, OperatorId, Owner,
    Posting, Premises, PremisesId, Role, Shift, ShiftId, Side, Transfer, TransferId, TransferRequest, VendingPoint,
    VendingPointId,
};
use voltvend_ops::{
    AccountRecord, ApiTokenRecord, Applied, ApprovalRecord, CardAlgorithm, CardKeyRecord, CardStatus, MeterCard, Correction, CorrectionKind, Decision, AuditHead, AuditRecord, Changes, CommandKind, CommandStatus, Context,
    IdempotencyRecord, LocalCredit, MeterCommand, MeterControl, MeterRecord, MeterReport, MeterReturn, ReturnSource, MeterTokenRecord, OpError, OpgState, OpgUnit, Operation, OutboxKind, OutboxRow, PaymentMethod,
    ReadingRow, ReadingState, ReadingStatus, RefusedPayment, Relay, Renderer, SaleRecord, SessionRecord, StsState,
    TariffDoc, VendingKeyRecord, PaymentChannel, PaymentIntent, PaymentStatement, Provider, IntentStatus, StatementEntry, StatementEntryKind,
};
use voltvend_sts::keys::{KeyParams, KeyType};
use voltvend_sts::{BaseDate, Ea, MeterKeyRecord, Pan, Tid};

use crate::writer::{BatchSink, Job, Submitted, Writer, WriterStats};
use crate::{
    AccountFilter, ApprovalFilter, AuditFilter, BalanceLine, BalanceReport, CampaignSelection, Backend, ConsumptionGroup, ConsumptionGrouping, CheckReport, CheckScope, Counts, CustomerFilter, Durability, InstanceLock,
    FeePaymentTotal, LedgerTotal, ListQuery, ListedReading, SalesGroup, SalesGrouping, MeterFilter, OpenOptions, PremisesFilter, ReadingFilter, RefusedFilter, SaleFilter, IntentFilter,
    ShiftFilter, StatementLine, Store,
    StoreError, TariffDocument,
};

include!("rows.rs");
include!("source.rs");
include!("write.rs");
include!("store.rs");
include!("check.rs");
include!("reads.rs");
