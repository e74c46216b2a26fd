//! Operations: a client-chosen id, who asks, and one command. The id is the idempotency key: an operation
//! submitted twice is applied once, and the second submission gets the first one's answer.

use sha2::{Digest, Sha256};
use uuid::Uuid;
use voltvend_domain::tariff::inverse::ArrearsRecovery;
use voltvend_domain::tariff::pricing::{Reading, Registers};
use voltvend_domain::{
    AccountId, BooksId, Currency, Customer, CustomerId, LedgerAccountId, Meter, MeterId, OperationId, Operator,
    OperatorId, Posting, Premises, PremisesId, ShiftId, Side, TransferId, TransferRequest, VendingPointId,
};
use voltvend_sts::MeterKeyRecord;

use crate::records::PaymentMethod;

/// Who asks for an operation, and from where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    /// The operator logged in, or `None` for the system itself (the head end, the CLI on the server machine).
    pub operator: Option<OperatorId>,
    /// The premises subtree the operator may act in; `None`: everywhere.
    pub scope: Option<PremisesId>,
    /// Where the request came from: an IP address, `cli`, `headend`…
    pub source: String,
}

impl Actor {
    pub const SOURCE_LEN_MAX: usize = 128;

    /// The system acting on its own behalf, unscoped.
    pub fn system(source: &str) -> Self {
        Self { operator: None, scope: None, source: source.to_string() }
    }

    /// An operator, scoped to a subtree.
    pub fn operator(operator: OperatorId, scope: PremisesId, source: &str) -> Self {
        Self { operator: Some(operator), scope: Some(scope), source: source.to_string() }
    }
}

/// A business operation: committed whole or not at all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Operation {
    pub id: OperationId,
    pub actor: Actor,
    pub command: Command,
}

impl Operation {
    pub fn new(id: OperationId, actor: Actor, command: Command) -> Self {
        Self { id, actor, command }
    }

    /// SHA-256 of the operation's canonical form: the operator and the command, field by field, with lists
    /// that have no meaningful order (postings) sorted. Two submissions with the same id are the same request
    /// exactly when their fingerprints are equal.
    pub fn fingerprint(&self) -> [u8; 32] {
        let mut c = Canon::default();
        c.opt(self.actor.operator.map(|o| o.as_uuid()));
        self.command.canonical(&mut c);
        c.finish()
    }

    /// The id of the `n`th record of kind `what` this operation creates (ledger accounts, transfers…):
    /// deterministic, so a retried operation creates the same ids, and unguessable from other operations.
    /// The first transfer of an operation has the operation's own id.
    pub fn derived_id(&self, what: &str, n: u32) -> Uuid {
        derive(self.id, what, n)
    }

    pub fn transfer_id(&self, n: u32) -> TransferId {
        if n == 0 {
            TransferId::from_uuid(self.id.as_uuid())
        } else {
            TransferId::from_uuid(self.derived_id("transfer", n))
        }
    }
}

/// `derived_id` for an operation id.
pub fn derive(id: OperationId, what: &str, n: u32) -> Uuid {
    let mut h = Sha256::new();
    h.update(id.as_uuid().as_bytes());
    h.update(what.as_bytes());
    h.update(n.to_be_bytes());
    let digest = h.finalize();
    let mut bytes = [0_u8; 16];
    bytes.copy_from_slice(digest.get(..16).unwrap_or(&[0; 16]));
    // Mark it as a version 8 (custom) RFC 9562 UUID.
    uuid::Builder::from_custom_bytes(bytes).into_uuid()
}

/// What to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// A node of the premises tree (its parent must exist).
    CreatePremises(Premises),
    /// An operator who can log in (the password hash is computed by the caller).
    AddOperator(Operator),
    /// A tariff document, validated by the caller and parsed again here, stored as the code's next revision.
    ImportTariff(ImportTariff),
    /// The system ledger accounts of a property in one currency.
    OpenBooks(OpenBooks),
    /// A counter or channel that sells, with its receipt numbering.
    OpenVendingPoint(OpenVendingPoint),
    /// A meter into stock.
    ReceiveMeter(Meter),
    /// 开户: the customer, the account with its wallet and arrears, its meters bound and commissioned.
    OpenAccount(OpenAccount),
    /// A cashier's shift with a new cash drawer.
    OpenShift(OpenShift),
    /// 交班结算: close a shift against the cash counted.
    CloseShift(CloseShift),
    /// 售电: a payment split into arrears, fees and credit, a receipt, and a token or wallet credit.
    Sale(Sale),
    /// A remote meter's readings: priced, debited, its relay commanded.
    ApplyReadings(ApplyReadings),
    /// 纠错: reverse a transfer (a sale…), optionally re-allocating it as a new sale.
    Reverse(Reverse),
    /// A bare ledger transfer (adjustments, imports, benchmarks).
    PostTransfer(TransferRequest),
}

impl Command {
    /// A short stable name, used in idempotency and audit records.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::CreatePremises(_) => "create_premises",
            Self::AddOperator(_) => "add_operator",
            Self::ImportTariff(_) => "import_tariff",
            Self::OpenBooks(_) => "open_books",
            Self::OpenVendingPoint(_) => "open_vending_point",
            Self::ReceiveMeter(_) => "receive_meter",
            Self::OpenAccount(_) => "open_account",
            Self::OpenShift(_) => "open_shift",
            Self::CloseShift(_) => "close_shift",
            Self::Sale(_) => "sale",
            Self::ApplyReadings(_) => "apply_readings",
            Self::Reverse(_) => "reverse",
            Self::PostTransfer(_) => "post_transfer",
        }
    }

    fn canonical(&self, c: &mut Canon) {
        c.str(self.kind());
        match self {
            Self::CreatePremises(p) => {
                c.uuid(p.id.as_uuid());
                c.opt(p.parent.map(|x| x.as_uuid()));
                c.str(p.level.as_str());
                c.str(&p.name);
                c.str(&p.time_zone);
            }
            Self::AddOperator(o) => {
                c.uuid(o.id.as_uuid());
                c.str(&o.username);
                c.str(&o.display_name);
                c.str(o.role.as_str());
                c.uuid(o.scope.as_uuid());
                c.str(&o.password_hash);
                c.bool(o.active);
            }
            Self::ImportTariff(t) => {
                c.str(&t.code);
                c.str(&t.name);
                c.str(&t.document);
            }
            Self::OpenBooks(b) => {
                c.uuid(b.id.as_uuid());
                c.uuid(b.premises_id.as_uuid());
                c.str(b.currency.code());
            }
            Self::OpenVendingPoint(v) => {
                c.uuid(v.id.as_uuid());
                c.uuid(v.premises_id.as_uuid());
                c.str(&v.name);
                c.str(v.currency.code());
                c.uuid(v.books_id.as_uuid());
            }
            Self::ReceiveMeter(m) => {
                c.uuid(m.id.as_uuid());
                c.str(&m.serial);
                c.str(m.utility.as_str());
                c.str(m.control_mode.as_str());
                c.str(m.protocol.as_str());
                c.str(&m.address);
                c.i64(i64::from(m.ratio.ct()));
                c.i64(i64::from(m.ratio.vt()));
            }
            Self::OpenAccount(a) => a.canonical(c),
            Self::OpenShift(s) => {
                c.uuid(s.shift_id.as_uuid());
                c.uuid(s.vending_point_id.as_uuid());
                c.uuid(s.operator_id.as_uuid());
                c.i64(s.opening_float_minor);
            }
            Self::CloseShift(s) => {
                c.uuid(s.shift_id.as_uuid());
                c.i64(s.counted_minor);
            }
            Self::Sale(s) => s.canonical(c),
            Self::ApplyReadings(r) => {
                c.uuid(r.meter_id.as_uuid());
                c.i64(r.readings.len() as i64);
                for reading in &r.readings {
                    canonical_reading(c, reading);
                }
            }
            Self::Reverse(r) => {
                c.uuid(r.transfer_id.as_uuid());
                c.str(&r.reason);
                match &r.lines {
                    None => c.str("all"),
                    Some(lines) => canonical_postings(c, lines),
                }
                match &r.reallocate {
                    None => c.str("none"),
                    Some(sale) => sale.canonical(c),
                }
            }
            Self::PostTransfer(t) => {
                c.uuid(t.id.as_uuid());
                c.str(t.kind.as_str());
                c.str(t.currency.code());
                c.opt(t.corrects.map(|x| x.as_uuid()));
                c.str(&t.memo);
                canonical_postings(c, &t.postings);
            }
        }
    }
}

fn canonical_postings(c: &mut Canon, postings: &[Posting]) {
    let mut sorted: Vec<&Posting> = postings.iter().collect();
    sorted.sort_unstable_by_key(|p| (p.account, p.side == Side::Credit, p.amount_minor));
    c.i64(sorted.len() as i64);
    for p in sorted {
        c.uuid(p.account.as_uuid());
        c.str(p.side.as_str());
        c.i64(p.amount_minor);
    }
}

fn canonical_reading(c: &mut Canon, r: &Reading) {
    c.i64(r.at.as_microsecond());
    match &r.registers {
        Registers::Total(v) => {
            c.str("total");
            c.i64(*v);
        }
        Registers::PerPeriod(values) => {
            let mut sorted: Vec<&(String, i64)> = values.iter().collect();
            sorted.sort();
            c.i64(sorted.len() as i64);
            for (name, v) in sorted {
                c.str(name);
                c.i64(*v);
            }
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportTariff {
    pub code: String,
    pub name: String,
    pub document: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenBooks {
    pub id: BooksId,
    pub premises_id: PremisesId,
    pub currency: Currency,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenVendingPoint {
    pub id: VendingPointId,
    pub premises_id: PremisesId,
    pub name: String,
    pub currency: Currency,
    pub books_id: BooksId,
}

/// The customer of a new account: a new customer file, or one that exists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CustomerRef {
    New(Customer),
    Existing(CustomerId),
}

/// A meter to bind to a new account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MeterBinding {
    pub meter_id: MeterId,
    pub tariff_code: Option<String>,
    /// The key record of an STS keypad meter (required for one, refused for others).
    pub sts: Option<MeterKeyRecord>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenAccount {
    pub customer: CustomerRef,
    pub account_id: AccountId,
    pub premises_id: PremisesId,
    pub currency: Currency,
    pub books_id: BooksId,
    pub overdraft_limit_minor: i64,
    pub recovery: ArrearsRecovery,
    pub min_purchase_minor: i64,
    pub max_balance_minor: Option<i64>,
    pub meters: Vec<MeterBinding>,
}

impl OpenAccount {
    fn canonical(&self, c: &mut Canon) {
        match &self.customer {
            CustomerRef::New(x) => {
                c.str("new");
                c.uuid(x.id.as_uuid());
                c.uuid(x.premises_id.as_uuid());
                c.str(&x.name);
                c.opt_str(x.phone.as_deref());
            }
            CustomerRef::Existing(id) => {
                c.str("existing");
                c.uuid(id.as_uuid());
            }
        }
        c.uuid(self.account_id.as_uuid());
        c.uuid(self.premises_id.as_uuid());
        c.str(self.currency.code());
        c.uuid(self.books_id.as_uuid());
        c.i64(self.overdraft_limit_minor);
        canonical_recovery(c, self.recovery);
        c.i64(self.min_purchase_minor);
        c.opt_i64(self.max_balance_minor);
        c.i64(self.meters.len() as i64);
        for m in &self.meters {
            c.uuid(m.meter_id.as_uuid());
            c.opt_str(m.tariff_code.as_deref());
            match &m.sts {
                None => c.str("no sts"),
                Some(r) => {
                    c.str(&r.pan.to_string());
                    c.str(r.params.ea.code());
                    c.i64(i64::from(r.params.kt.value()));
                    c.i64(i64::from(r.params.sgc));
                    c.i64(i64::from(r.params.ti));
                    c.i64(i64::from(r.params.krn));
                    c.i64(i64::from(r.params.ken));
                    c.str(r.params.base.code());
                }
            }
        }
    }
}

pub(crate) fn canonical_recovery(c: &mut Canon, r: ArrearsRecovery) {
    match r {
        ArrearsRecovery::None => c.str("none"),
        ArrearsRecovery::Share(ppm) => {
            c.str("share");
            c.i64(ppm);
        }
        ArrearsRecovery::Fixed(minor) => {
            c.str("fixed");
            c.i64(minor);
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenShift {
    pub shift_id: ShiftId,
    pub vending_point_id: VendingPointId,
    pub operator_id: OperatorId,
    pub opening_float_minor: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloseShift {
    pub shift_id: ShiftId,
    pub counted_minor: i64,
}

/// A sale at a counter: the payment, what it pays for, and through which shift.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sale {
    pub account_id: AccountId,
    pub meter_id: MeterId,
    pub shift_id: ShiftId,
    pub method: PaymentMethod,
    pub paid_minor: i64,
    /// Fees due now (card replacement, service fee…), taken after arrears recovery.
    pub fees_minor: i64,
    /// The payment's reference (card authorisation, bank transfer number); may be empty.
    pub reference: String,
}

impl Sale {
    pub const REFERENCE_LEN_MAX: usize = 64;

    fn canonical(&self, c: &mut Canon) {
        c.uuid(self.account_id.as_uuid());
        c.uuid(self.meter_id.as_uuid());
        c.uuid(self.shift_id.as_uuid());
        c.str(self.method.as_str());
        c.i64(self.paid_minor);
        c.i64(self.fees_minor);
        c.str(&self.reference);
    }
}

/// The readings of one remote meter, oldest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApplyReadings {
    pub meter_id: MeterId,
    pub readings: Vec<Reading>,
}

impl ApplyReadings {
    /// Most readings in one operation.
    pub const READINGS_MAX: usize = 2_048;
}

/// A reversal (冲正) of what is left of a transfer, or of the given lines; with `reallocate`, the money goes
/// to a new sale in the same operation (a re-allocation to the right meter or customer).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reverse {
    pub transfer_id: TransferId,
    pub reason: String,
    /// The correction's postings, for a partial reversal; `None` reverses everything left.
    pub lines: Option<Vec<Posting>>,
    pub reallocate: Option<Sale>,
}

impl Reverse {
    pub const REASON_LEN_MAX: usize = 256;
}

/// Ledger accounts a command names directly (beyond those it reaches through accounts, shifts and books).
pub(crate) fn named_ledger_accounts(t: &TransferRequest) -> impl Iterator<Item = LedgerAccountId> + '_ {
    t.postings.iter().map(|p| p.account)
}

/// An unambiguous byte encoding: every field is length-prefixed, so no two different field lists encode alike.
#[derive(Debug, Default)]
pub(crate) struct Canon {
    hash: Sha256,
}

impl Canon {
    pub(crate) fn bytes(&mut self, b: &[u8]) {
        self.hash.update((b.len() as u64).to_be_bytes());
        self.hash.update(b);
    }

    pub(crate) fn str(&mut self, s: &str) {
        self.bytes(s.as_bytes());
    }

    pub(crate) fn uuid(&mut self, u: Uuid) {
        self.bytes(u.as_bytes());
    }

    pub(crate) fn i64(&mut self, v: i64) {
        self.bytes(&v.to_be_bytes());
    }

    pub(crate) fn bool(&mut self, v: bool) {
        self.bytes(&[u8::from(v)]);
    }

    pub(crate) fn opt(&mut self, u: Option<Uuid>) {
        match u {
            Some(u) => self.uuid(u),
            None => self.bytes(&[]),
        }
    }

    pub(crate) fn opt_str(&mut self, s: Option<&str>) {
        match s {
            Some(s) => {
                self.bool(true);
                self.str(s);
            }
            None => self.bool(false),
        }
    }

    pub(crate) fn opt_i64(&mut self, v: Option<i64>) {
        match v {
            Some(v) => {
                self.bool(true);
                self.i64(v);
            }
            None => self.bool(false),
        }
    }

    pub(crate) fn finish(self) -> [u8; 32] {
        self.hash.finalize().into()
    }
}

#[cfg(test)]
mod tests {
    use voltvend_domain::{Money, TransferKind};

    use super::*;

    #[test]
    fn fingerprints_ignore_posting_order_and_nothing_else() {
        let (a, b) = (LedgerAccountId::from_uuid(Uuid::from_u128(1)), LedgerAccountId::from_uuid(Uuid::from_u128(2)));
        let t = TransferRequest::simple(
            TransferId::from_uuid(Uuid::from_u128(9)),
            TransferKind::Payment,
            a,
            b,
            Money::from_minor(100, Currency::CNY),
            "x",
        );
        let op = |t: TransferRequest| {
            Operation::new(OperationId::from_uuid(Uuid::from_u128(9)), Actor::system("test"), Command::PostTransfer(t))
        };
        let mut reordered = t.clone();
        reordered.postings.reverse();
        assert_eq!(op(t.clone()).fingerprint(), op(reordered).fingerprint());
        let mut memo = t.clone();
        memo.memo = "y".into();
        assert_ne!(op(t.clone()).fingerprint(), op(memo).fingerprint());
        let mut by_operator = op(t.clone());
        by_operator.actor.operator = Some(OperatorId::from_uuid(Uuid::from_u128(5)));
        assert_ne!(op(t.clone()).fingerprint(), by_operator.fingerprint(), "another operator's request differs");
        let mut from_elsewhere = op(t.clone());
        from_elsewhere.actor.source = "10.0.0.9".into();
        assert_eq!(from_elsewhere.fingerprint(), op(t).fingerprint(), "where a request comes from is not its content");
    }

    #[test]
    fn derived_ids_are_stable_and_distinct() {
        let op = Operation::new(
            OperationId::from_uuid(Uuid::from_u128(42)),
            Actor::system("test"),
            Command::CloseShift(CloseShift { shift_id: ShiftId::from_uuid(Uuid::nil()), counted_minor: 0 }),
        );
        assert_eq!(op.transfer_id(0).as_uuid(), op.id.as_uuid());
        assert_eq!(op.transfer_id(1), op.transfer_id(1));
        assert_ne!(op.transfer_id(1), op.transfer_id(2));
        assert_ne!(op.derived_id("ledger", 1), op.derived_id("transfer", 1));
        assert_eq!(op.derived_id("ledger", 1).get_version_num(), 8);
    }
}
