//! The records operations read and write, beyond the domain's entities: what links an account or a meter to
//! the ledger and the counter, the per-meter token and reading state, and the append-only records of what
//! happened (sales, readings, commands for meters, idempotency records, the audit trail).

use jiff::{SignedDuration, Timestamp};
use voltvend_domain::tariff::inverse::ArrearsRecovery;
use voltvend_domain::tariff::pricing::Reading;
use voltvend_domain::{
    Account, AccountId, ApiTokenId, ApprovalId, BooksId, CampaignId, Channel, CommandId, LedgerAccountId, Meter,
    MeterId, OperationId, OperatorId, PremisesId, ShiftId, TransferId, VendingPointId,
};
use voltvend_sts::{MeterKeyRecord, Tid};

macro_rules! code_enum {
    ($(#[$doc:meta])* $ty:ident, $what:literal, { $($(#[$vdoc:meta])* $variant:ident => $s:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $ty { $($(#[$vdoc])* $variant),+ }

        impl $ty {
            pub const fn as_str(&self) -> &'static str {
                match self { $(Self::$variant => $s),+ }
            }

            pub fn parse(s: &str) -> Option<Self> {
                match s { $($s => Some(Self::$variant),)+ _ => None }
            }
        }

        impl std::fmt::Display for $ty {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

code_enum!(
    /// How a customer paid: at the counter, or online through a payment channel (whose standing shift's
    /// "drawer" is the provider's clearing account).
    PaymentMethod, "payment method", {
        Cash => "cash", BankCard => "bank_card", BankTransfer => "bank_transfer", Online => "online"
    }
);

code_enum!(
    /// An online payment provider, each with its published API (docs/payments.md).
    Provider, "payment provider", {
        /// WeChat Pay API v3 (微信支付).
        WechatPay => "wechat_pay",
        /// Alipay open platform, RSA2 (支付宝).
        Alipay => "alipay",
        /// UnionPay online payment (银联在线支付).
        UnionPay => "unionpay",
        /// Safaricom M-Pesa Daraja (STK push).
        Mpesa => "mpesa",
    }
);

code_enum!(
    /// What an online payment is for.
    IntentPurpose, "payment intent purpose", {
        /// Credit for the meter: a sale (a postpaid account's bills and a prepaid account's fee share first, as at
        /// the counter).
        Energy => "energy",
        /// 房租物业费 alone: rent, property fees and bills, oldest due first, as the counter's fee payment (a
        /// postpaid account's over-payment is credit; a prepaid account pays at most what it owes).
        Fees => "fees",
    }
);

code_enum!(
    /// Where a payment intent stands.
    IntentStatus, "payment intent status", {
        /// Waiting for the customer to pay.
        Open => "open",
        /// Paid and sold: the sale is `settled_by`.
        Paid => "paid",
        /// Paid, but the sale was refused (a closed account, a suspended meter, an expired intent, a second
        /// payment for one intent): the money is a refused payment owed back.
        Refused => "refused",
        /// Paid a different amount or currency than asked: held for an operator's review, not credited.
        Held => "held",
        /// Not paid before it expired (the provider confirmed it, or the customer gave up).
        Expired => "expired",
    }
);

code_enum!(
    /// The state Voltvend wants a meter's supply switch (relay, or water valve) in. What the meter reports
    /// is the head end's business; this is the desired state the command outbox works towards.
    Relay, "relay state", { Closed => "closed", Open => "open" }
);

code_enum!(
    /// What happened to a meter's supply or credit that its customer is told of (the notification outbox;
    /// relay commands themselves go through the command outbox).
    OutboxKind, "outbox kind", {
        /// Open the relay (close the valve): credit and overdraft are used up.
        RelayTrip => "relay_trip",
        /// Close the relay again: a payment restored the credit.
        RelayClose => "relay_close",
        /// The balance went below the tariff's alarm level 1.
        LowBalance1 => "low_balance_1",
        /// The balance went below the tariff's alarm level 2.
        LowBalance2 => "low_balance_2",
        /// The credit is used up and the supply stays on on the account's emergency credit (its agreed
        /// overdraft), which the next sale pays back first.
        EmergencyCredit => "emergency_credit",
        /// A system alarm, about no meter: a scheduled backup (or its verification) failed.
        BackupFailed => "backup_failed",
        /// A postpaid bill was issued to the meter's account (its detail: the month, amount and due date).
        BillIssued => "bill_issued",
        /// A reminder (催缴): a bill or fee of the meter's account is overdue (its detail: the month, what is
        /// still owed, the late fee charged, and the due date).
        FeesOverdue => "fees_overdue",
    }
);

code_enum!(
    /// Whether a stored reading was billed.
    ReadingStatus, "reading status", {
        Billed => "billed",
        /// Stored for review, not billed: a register went backwards without a replacement, or similar.
        Flagged => "flagged",
        /// A meter with no account (a site's parent meter, a common area's meter, a vacant unit's meter):
        /// its consumption is recorded and counted, and nobody is billed for it.
        Measured => "measured",
    }
);

/// A customer account with what the ledger and the counter need to know about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountRecord {
    pub account: Account,
    /// Its prepaid wallet and its arrears (receivable) in the ledger.
    pub wallet: LedgerAccountId,
    pub arrears: LedgerAccountId,
    /// The books its sales and consumption are booked in.
    pub books: BooksId,
    /// How arrears are recovered from each purchase.
    pub recovery: ArrearsRecovery,
    /// The smallest credit a sale may buy (after arrears and fees), in minor units.
    pub min_purchase_minor: i64,
    /// The hoarding limit (囤积): the most a remote meter's wallet may hold after a sale.
    pub max_balance_minor: Option<i64>,
}

/// A meter with its tariff and the desired state of its supply switch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MeterRecord {
    pub meter: Meter,
    pub tariff_code: Option<String>,
    pub relay: Relay,
    /// The hoarding limit (囤积) of this meter: for a remote meter, the most its account's wallet may hold
    /// after a sale to it; for a keypad meter, the most credit one sale may put on it (in minor units).
    pub max_credit_minor: Option<i64>,
    /// For a local meter (STS keypad, IC card): the credit sold onto it and what it last reported unused.
    pub local: LocalCredit,
}

code_enum!(
    /// Where a local meter's return data (回抄数据) came from.
    ReturnSource, "return data source", {
        /// The return file the controller wrote on the customer's IC card.
        Card => "card",
        /// A field engineer's check card (检查卡).
        CheckCard => "check_card",
        /// Read off the meter's display by a person and typed in.
        Display => "display",
        /// Read from the meter by the head end.
        Remote => "remote",
    }
);

/// What a local meter last reported of its own credit: the return data (回抄数据) of its IC card, a check card,
/// its display or a remote read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MeterReturn {
    /// When the meter reported it (not when it was typed in).
    pub at: Timestamp,
    pub source: ReturnSource,
    /// The credit left on the meter, in milli-units of its credit (Wh, litres).
    pub remaining_milli: i64,
}

/// The credit sold onto a local meter over its life, net of reversals and buy-backs, and its last return data:
/// together the accumulated balance (累计结余) — credit paid for and not yet used, which the utility owes in
/// energy — and its money value.
///
/// Unused credit is valued at the meter's weighted average purchase price (every sale's energy money, tax
/// included, over every sale's units), rounded down to the minor unit: the customer is never handed back more
/// than was paid for those units, and the price of blocks or periods need not be replayed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LocalCredit {
    pub sold_milli: i64,
    /// The energy money of those units, tax included.
    pub sold_value_minor: i64,
    pub sold_tax_minor: i64,
    pub last_sale_at: Option<Timestamp>,
    pub last_return: Option<MeterReturn>,
}

/// The money value of some unused units of a local meter's credit.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CreditValue {
    /// The units valued (no more than were ever sold onto the meter).
    pub valued_milli: i64,
    /// Units beyond what was sold (credit from before the meter was vended here, free issues): not valued.
    pub unvalued_milli: i64,
    /// Energy money, tax included.
    pub value_minor: i64,
    pub tax_minor: i64,
}

impl LocalCredit {
    /// Units sold onto the meter (a sale's token or card purchase).
    pub fn sold(&mut self, quantity_milli: i64, energy_minor: i64, tax_minor: i64, at: Timestamp) {
        self.sold_milli = self.sold_milli.saturating_add(quantity_milli);
        self.sold_value_minor = self.sold_value_minor.saturating_add(energy_minor);
        self.sold_tax_minor = self.sold_tax_minor.saturating_add(tax_minor);
        self.last_sale_at = Some(self.last_sale_at.map_or(at, |t| t.max(at)));
    }

    /// A sale taken back (reversed or re-allocated to another meter): its units and money leave the totals.
    pub fn unsold(&mut self, quantity_milli: i64, energy_minor: i64, tax_minor: i64) {
        self.sold_milli = (self.sold_milli - quantity_milli).max(0);
        self.sold_value_minor = (self.sold_value_minor - energy_minor).max(0);
        // Tax is part of the value: never more of it than of the value (a transfer could not balance).
        self.sold_tax_minor = (self.sold_tax_minor - tax_minor).clamp(0, self.sold_value_minor);
    }

    /// Whether the last return data was reported after the last sale, so that every token sold has been
    /// entered (or will never be, as far as the meter's credit goes) — the only credit figure safe to act on.
    pub fn is_current(&self) -> bool {
        match (&self.last_return, self.last_sale_at) {
            // A return of the very instant of a sale cannot say whether its token was in.
            (Some(r), Some(sale)) => r.at > sale,
            (Some(_), None) => true,
            (None, _) => false,
        }
    }

    /// `remaining_milli` units valued at the weighted average purchase price, rounded down.
    pub fn value(&self, remaining_milli: i64) -> CreditValue {
        let remaining = remaining_milli.max(0);
        let valued = remaining.min(self.sold_milli);
        if valued == 0 {
            return CreditValue { unvalued_milli: remaining, ..CreditValue::default() };
        }
        let share = |total: i64| -> i64 {
            // valued ≤ sold_milli, so the share is at most `total`: it fits.
            (i128::from(valued) * i128::from(total) / i128::from(self.sold_milli)) as i64
        };
        CreditValue {
            valued_milli: valued,
            unvalued_milli: remaining - valued,
            value_minor: share(self.sold_value_minor),
            tax_minor: share(self.sold_tax_minor),
        }
    }
}

/// A keypad meter's STS state as the vending side keeps it: its key record (PAN, EA, KT, SGC, TI, KRN, KEN,
/// base date) and the TID of the last token issued to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StsState {
    pub meter_id: MeterId,
    pub record: MeterKeyRecord,
    pub last_tid: Option<Tid>,
    /// A key change planned by a campaign, delivered before the credit token of the meter's next sale.
    pub pending: Option<PendingKeyChange>,
}

/// A meter's key change set, generated when its campaign was planned (key change tokens carry no TID, so they
/// stay valid until delivered), and the change it makes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingKeyChange {
    pub campaign_id: CampaignId,
    pub change: voltvend_sts::KeyChange,
    pub tokens: Vec<String>,
}

/// An STS key change campaign (the TID rollover, a supply group's new key…): how many meters it planned and
/// how many have taken their key change set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyCampaign {
    pub id: CampaignId,
    pub name: String,
    pub change: voltvend_sts::KeyChange,
    pub created_at: Timestamp,
    pub created_by: Option<OperatorId>,
    pub planned: i64,
    pub done: i64,
}

code_enum!(
    /// What one unit of an OpenPAYGO device's credit is (its tokens carry a count of these).
    OpgUnit, "OpenPAYGO unit", { Day => "day", Hour => "hour" }
);

/// An OpenPAYGO Token device as the vending side keeps it: its sealed secret key, starting code and token
/// count, the token format its keypad takes, and what one unit of time costs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpgState {
    pub meter_id: MeterId,
    /// The 16-byte secret key as 32 hex digits, sealed (see [`crate::secrets`]).
    pub secret_sealed: Vec<u8>,
    pub starting_code: u64,
    /// The count of the last token issued (0: none yet).
    pub last_count: u32,
    pub extended: bool,
    pub restricted: bool,
    pub unit: OpgUnit,
    /// The price of one unit, in the account's minor units.
    pub price_minor_per_unit: i64,
}

code_enum!(
    /// Where a meter's IC user card stands.
    CardStatus, "card status", {
        /// With its customer: sales are written onto it.
        Active => "active",
        /// 挂失: reported lost or stolen. No sale goes onto it; a reissue (补卡) replaces it.
        Lost => "lost",
        /// 退卡: handed back and blanked; the meter has no card until one is issued again.
        Returned => "returned",
    }
);

code_enum!(
    /// A field engineer's card for an IC-card meter (DESIGN.md §1): what it makes the controller do.
    FieldCardKind, "field card kind", {
        /// 检查卡: collects the controller's data (its return data) without changing anything.
        Check => "check",
        /// 复位卡: clears the controller's tamper, overpower and error state.
        Reset => "reset",
        /// 清零卡: zeroes the controller's credit, totals and purchase count (commissioning).
        Clear => "clear",
        /// 开户卡 / 参数卡: writes the parameters and opens the account on the controller.
        Parameter => "parameter",
        /// 测试卡: switches the relay to test it; changes no credit.
        Test => "test",
    }
);

code_enum!(
    /// The block cipher of a card key set (IC cards: 3DES-EDE2, or SM4 as domestic deployments use).
    CardAlgorithm, "card key algorithm", { Tdes => "3des", Sm4 => "sm4" }
);

/// A card key set's root key (the issuer's, from which every card's keys are diversified; see
/// `docs/cards.md`), sealed (see [`crate::secrets`]). Controllers hold the same root in their secure module.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CardKeyRecord {
    pub key_no: u32,
    pub algorithm: CardAlgorithm,
    /// The 16-byte root key as 32 hex digits, sealed.
    pub sealed: Vec<u8>,
}

/// An IC-card meter's user card (用户卡) and its purchase sequence (DESIGN.md §2.4).
///
/// The controller loads a purchase only when its count is the last it loaded plus one, so the counter never
/// writes a new purchase while the card still holds one the controller has not loaded (`sold_count` ahead of
/// `loaded_count`, which return data read back from the card or a check card moves on). A reissued card (补卡)
/// carries the sequence on: the purchase still unloaded goes onto the new card under the same count, so the
/// controller loads it exactly once whichever card reaches it first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MeterCard {
    pub meter_id: MeterId,
    /// The card's serial, 16 hexadecimal digits (upper case).
    pub serial: String,
    pub status: CardStatus,
    /// 0 for the first card issued to the meter, one more for each reissue (the controller refuses older ones).
    pub generation: u8,
    /// The key set the card was personalised under.
    pub key_no: u32,
    /// Serials of the cards this one replaced, oldest first.
    pub replaced: Vec<String>,
    /// The count of the last purchase sold onto the meter's card.
    pub sold_count: u32,
    /// The count of the last purchase the controller is known to have loaded (from return data).
    pub loaded_count: u32,
    /// The last purchase: its sale, quantity (milli-units: Wh, L) and time, written again while not loaded.
    pub last_purchase_sale: Option<OperationId>,
    pub last_purchase_milli: i64,
    pub last_purchase_at: Option<Timestamp>,
    pub issued_at: Timestamp,
}

impl MeterCard {
    /// Whether the card holds a purchase the controller has not loaded yet.
    pub fn purchase_pending(&self) -> bool {
        self.sold_count > self.loaded_count
    }
}

/// A supply group's STS vending key at one key revision, sealed (see [`crate::secrets`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VendingKeyRecord {
    pub sgc: u32,
    pub krn: u8,
    /// The key as hex digits (16 for DKGA02, 40 for DKGA04), sealed.
    pub sealed: Vec<u8>,
}

/// A login session. The cookie holds a random token; only its SHA-256 is stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRecord {
    pub id_hash: [u8; 32],
    pub operator_id: OperatorId,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
    pub revoked_at: Option<Timestamp>,
    /// Where the login came from.
    pub source: String,
}

/// An API token of an integration, acting as its operator. Only the SHA-256 of its secret is stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiTokenRecord {
    pub id: ApiTokenId,
    pub operator_id: OperatorId,
    pub name: String,
    pub secret_hash: [u8; 32],
    pub created_at: Timestamp,
    pub expires_at: Option<Timestamp>,
    pub revoked_at: Option<Timestamp>,
    pub created_by: Option<OperatorId>,
}

impl ApiTokenRecord {
    pub const NAME_LEN_MAX: usize = 120;
}

/// A payment taken for a sale that was then refused (the account closed, the meter replaced… since the quote):
/// the money is booked as owed back to the customer until it is refunded, never silently lost.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefusedPayment {
    pub operation_id: OperationId,
    pub at: Timestamp,
    pub vending_point_id: VendingPointId,
    pub shift_id: ShiftId,
    pub operator_id: OperatorId,
    pub account_id: AccountId,
    pub meter_id: MeterId,
    pub method: PaymentMethod,
    pub reference: String,
    pub paid_minor: i64,
    /// The refusal's stable code and its message.
    pub reason_code: String,
    pub reason: String,
    /// The transfer that booked the money as owed back.
    pub transfer_id: TransferId,
    /// The refund, once made — or the credit after review, when `credited`.
    pub refunded_by: Option<OperationId>,
    pub refunded_at: Option<Timestamp>,
    /// Credited to the account after review (the operation `refunded_by` is that sale) rather than handed back.
    pub credited: bool,
    /// What the money was paid for: energy (a sale), or rent, fees and bills (an online payment of purpose fees,
    /// or a fee payment reversed). Credited after review as the same: a sale, or a fee payment.
    pub purpose: IntentPurpose,
}

/// An online payment channel: one merchant account at one provider, selling for one property's books. It works
/// as an unattended vending point: its own receipt numbers, and a standing shift of its own service operator
/// (who cannot log in) whose drawer is the provider's clearing account — what the provider owes until it
/// settles to the bank (ADR 0005).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentChannel {
    pub id: voltvend_domain::PaymentChannelId,
    pub provider: Provider,
    pub name: String,
    pub premises_id: PremisesId,
    pub books_id: BooksId,
    pub currency: voltvend_domain::Currency,
    pub vending_point_id: VendingPointId,
    pub shift_id: ShiftId,
    pub operator_id: OperatorId,
    /// The provider's clearing account (the standing shift's drawer).
    pub clearing: LedgerAccountId,
    /// Closed channels take no new intents; payments for intents already made are still recorded.
    pub active: bool,
    pub created_at: Timestamp,
}

impl PaymentChannel {
    pub const NAME_LEN_MAX: usize = 120;
}

/// A customer's intent to pay online, and what became of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentIntent {
    pub id: voltvend_domain::PaymentIntentId,
    pub channel_id: voltvend_domain::PaymentChannelId,
    pub account_id: AccountId,
    pub meter_id: MeterId,
    pub amount_minor: i64,
    pub currency: voltvend_domain::Currency,
    pub purpose: IntentPurpose,
    pub created_at: Timestamp,
    /// The provider's order is made to expire then too; a payment made later is refused (owed back).
    pub expires_at: Timestamp,
    pub status: IntentStatus,
    /// The provider's reference for the order made from it, where the provider names the order by its own
    /// reference (M-Pesa's `CheckoutRequestID`); set once, by the system.
    pub provider_ref: Option<String>,
    /// The provider's transaction number, once paid.
    pub provider_txn: Option<String>,
    /// What was paid, in the currency `paid_currency` (the provider's word; may differ from what was asked).
    pub paid_minor: Option<i64>,
    pub paid_currency: Option<String>,
    pub paid_at: Option<Timestamp>,
    /// The operation that settled it: the sale or fee payment, or the refused payment.
    pub settled_by: Option<OperationId>,
    /// Why it was refused or held (a stable code).
    pub reason_code: String,
}

impl PaymentIntent {
    /// The merchant order number the provider knows the intent by (`out_trade_no`): 32 hex digits, within every
    /// provider's limits (WeChat Pay 6–32, Alipay 64, UnionPay 8–40, M-Pesa AccountReference is separate).
    pub fn order_no(&self) -> String {
        self.id.as_uuid().simple().to_string()
    }
}

/// 对账单: a provider's statement of one day for one channel, imported and kept as the provider wrote it (in our
/// terms), so that the day's reconciliation can be read again later — after a lost notification was settled by a
/// status query, after a refund was recorded — without asking the provider for the file again. A day may be
/// imported again (a corrected file): the latest import is the day's statement, the earlier ones stay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentStatement {
    /// The importing operation.
    pub id: OperationId,
    pub channel_id: voltvend_domain::PaymentChannelId,
    /// The provider's day the statement covers (its own calendar: Beijing for the Chinese providers, Nairobi
    /// for M-Pesa).
    pub day: jiff::civil::Date,
    /// SHA-256 of the file as received.
    pub digest: [u8; 32],
    pub imported_at: Timestamp,
    /// The operator who imported it (none when the system fetched it from the provider).
    pub imported_by: Option<OperatorId>,
    pub lines: Vec<StatementEntry>,
}

impl PaymentStatement {
    /// The most lines one statement may hold: a busy merchant account's day, with room to spare.
    pub const LINES_MAX: usize = 200_000;
}

code_enum!(
    /// What a statement line says happened.
    StatementEntryKind, "statement line kind", {
        /// Money taken from a customer.
        Payment => "payment",
        /// Money handed back: a refund of an earlier payment.
        Refund => "refund",
    }
);

/// One line of a provider's statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatementEntry {
    pub kind: StatementEntryKind,
    /// The provider's transaction number (for a refund: the refunded payment's).
    pub transaction_id: String,
    /// Our merchant order number, where the provider writes it (M-Pesa's statement names the account instead).
    pub order_no: String,
    /// Positive, in minor units of `currency`.
    pub amount_minor: i64,
    /// ISO 4217 code, as the provider wrote it.
    pub currency: String,
    /// When, as the provider says.
    pub at: Timestamp,
}

impl StatementEntry {
    pub const FIELD_LEN_MAX: usize = 64;
    /// The most one line may say moved (10^12 minor units): beyond any payment for energy, and small enough that
    /// a statement's [`PaymentStatement::LINES_MAX`] lines add up without overflow.
    pub const AMOUNT_MAX_MINOR: i64 = 1_000_000_000_000;
}

/// Management tokens issued to a keypad meter (STS class 2 register tokens, key change sets, OpenPAYGO
/// set-time / disable / counter sync): what was asked, by whom, and the tokens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MeterTokenRecord {
    pub operation_id: OperationId,
    pub meter_id: MeterId,
    pub at: Timestamp,
    pub operator_id: Option<OperatorId>,
    pub kind: String,
    pub detail: String,
    pub tokens: Vec<String>,
}

/// The last reading of a meter that billing started from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadingState {
    pub meter_id: MeterId,
    pub last: Reading,
}

/// 最大需量: what a meter's maximum-demand register holds — the highest average power over its demand interval
/// (15 minutes, typically) since the register was last cleared, and when it was drawn (DL/T 645-2007 0101xxxx).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MaxDemand {
    pub demand_w: i64,
    pub at: Timestamp,
}

impl MaxDemand {
    /// The most a register may say: 1 GW (a register past it is misread).
    pub const DEMAND_W_MAX: i64 = 1_000_000_000;
}

/// A maximum demand a meter's register recorded, as stored once per meter and time (append-only; read again, the
/// same maximum is the same row).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DemandRow {
    pub meter_id: MeterId,
    pub demand: MaxDemand,
    /// When the register was first read saying it.
    pub read_at: Timestamp,
}

/// A reading as stored (append-only).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadingRow {
    pub meter_id: MeterId,
    pub reading: Reading,
    pub status: ReadingStatus,
    pub operation_id: OperationId,
    /// Why it was flagged; empty when billed.
    pub note: String,
    /// What billing counted for the interval this reading ends (rollovers and rebases resolved, in milli-units:
    /// Wh, litres); zero for a meter's first reading and for a flagged one.
    pub consumption_milli: i64,
}

/// One sale (售电), everything a receipt shows. Its receipt number is gapless per vending point.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SaleRecord {
    pub operation_id: OperationId,
    pub vending_point_id: VendingPointId,
    pub receipt_no: i64,
    pub shift_id: ShiftId,
    pub operator_id: OperatorId,
    pub account_id: AccountId,
    pub meter_id: MeterId,
    pub at: Timestamp,
    pub method: PaymentMethod,
    pub reference: String,
    pub paid_minor: i64,
    pub arrears_minor: i64,
    pub fees_minor: i64,
    /// Tax and energy money of units sold on a token (zero for a remote meter's wallet credit).
    pub tax_minor: i64,
    pub energy_minor: i64,
    /// What went into the wallet.
    pub credit_minor: i64,
    /// Units on the token, in milli-units (Wh, litres); zero for wallet credit.
    pub quantity_milli: i64,
    pub tokens: Vec<String>,
    pub transfer_id: TransferId,
    /// The wallet's balance after the sale.
    pub balance_after_minor: i64,
    /// The sale this one replaces, when a sale was re-allocated (纠错).
    pub reallocated_from: Option<TransferId>,
    /// Overdue rent and fees paid from the purchase first, by the property's policy (房租物业费).
    pub property_fees_minor: i64,
}

/// A command for a meter, for the head end to carry out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxRow {
    pub operation_id: OperationId,
    pub idx: i64,
    /// The meter it is about; none for a system alarm.
    pub meter_id: Option<MeterId>,
    pub kind: OutboxKind,
    pub at: Timestamp,
    /// What went wrong, for a system alarm; empty for a meter's notification.
    pub detail: String,
}

impl OutboxKind {
    /// Whether notifications of this kind are about a meter (the others are the system's alarms).
    pub const fn about_a_meter(&self) -> bool {
        !matches!(self, Self::BackupFailed)
    }
}

/// What an operation id was used for, so that a retry gets the original answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyRecord {
    pub operation_id: OperationId,
    /// SHA-256 of the canonical form of the request (see [`crate::command::Operation::fingerprint`]).
    pub fingerprint: [u8; 32],
    pub kind: String,
    pub at: Timestamp,
    /// The response saved for retries, as the adapter rendered it (HTTP body, …), if any.
    pub response: Option<Vec<u8>>,
}

/// One entry of the tamper-evident audit trail (see [`crate::audit`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRecord {
    pub seq: i64,
    pub at: Timestamp,
    pub operation_id: OperationId,
    pub operator_id: Option<OperatorId>,
    pub source: String,
    pub action: String,
    pub subject: String,
    pub before: String,
    pub after: String,
    pub prev_hash: [u8; 32],
    pub hash: [u8; 32],
}

/// A tariff document at one revision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TariffDoc {
    pub code: String,
    pub revision: i64,
    pub name: String,
    pub document: String,
}

code_enum!(
    /// What the head end is asked to do at a meter.
    CommandKind, "command kind", {
        /// Open the relay (close the water valve).
        RelayTrip => "relay_trip",
        /// Close the relay (open the valve).
        RelayClose => "relay_close",
        /// 保电: the meter keeps the supply on whatever its credit (hospitals, outages of the head end…).
        KeepPowerOn => "keep_power_on",
        KeepPowerOff => "keep_power_off",
        /// Set the meter's clock to the head end's.
        SetTime => "set_time",
        /// Show the account's balance on the meter's display (remaining money), for a meter that shows what the
        /// master station holds (远程费控 with a display); the value is what is written.
        WriteBalance => "write_balance",
        /// Write the tariff's prices into the meter's four rate prices (sharp, peak, flat, valley), for the
        /// same meters; the value is what is written.
        WritePrices => "write_prices",
    }
);

impl CommandKind {
    /// Commands of one class supersede each other: a close cancels a pending trip, and a second trip the
    /// first.
    pub const fn class(&self) -> &'static str {
        match self {
            Self::RelayTrip | Self::RelayClose => "relay",
            Self::KeepPowerOn | Self::KeepPowerOff => "keep_power",
            Self::SetTime => "clock",
            Self::WriteBalance => "balance",
            Self::WritePrices => "prices",
        }
    }

    /// Whether the command writes a value ([`MeterCommand::value`]) that the read-back must find.
    pub const fn writes_value(&self) -> bool {
        matches!(self, Self::WriteBalance | Self::WritePrices)
    }

    /// How long the head end keeps trying before the command expires: a relay or keep-power command stays
    /// wanted for a day (a meter may be unreachable for hours); a clock set is only worth sending soon.
    pub const fn lifetime(&self) -> SignedDuration {
        match self {
            Self::SetTime => SignedDuration::from_hours(1),
            _ => SignedDuration::from_hours(24),
        }
    }

    /// The supply state a confirmed command leaves the meter in, if it is about the supply.
    pub const fn relay(&self) -> Option<Relay> {
        match self {
            Self::RelayTrip => Some(Relay::Open),
            Self::RelayClose => Some(Relay::Closed),
            _ => None,
        }
    }
}

code_enum!(
    /// Where a command is in its life.
    CommandStatus, "command status", {
        /// Waiting for its next attempt.
        Pending => "pending",
        /// The meter confirmed it and a read-back agrees.
        Done => "done",
        /// A later command of the same class replaced it before it was done.
        Superseded => "superseded",
        /// Its lifetime ended before the meter confirmed it.
        Expired => "expired",
    }
);

/// A command for a meter, with its retries: the desired state it works towards is on the meter record
/// ([`MeterRecord::relay`]) and [`MeterControl`]; what the meter reports is recorded beside it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MeterCommand {
    pub id: CommandId,
    pub meter_id: MeterId,
    pub kind: CommandKind,
    /// Why: "credit used up", "payment", or the operator's reason.
    pub reason: String,
    /// What a write command writes, as the meter shows it; empty for the others:
    /// * `write_balance`: hundredths of the currency's major unit (DL/T 645's XXXXXX.XX), never below zero;
    /// * `write_prices`: the four rate prices, ten-thousandths of the major unit per kWh or m³
    ///   (XXXX.XXXX), sharp, peak, flat and valley, space-separated.
    pub value: String,
    /// The operation that asked for it.
    pub operation_id: OperationId,
    pub created_at: Timestamp,
    pub status: CommandStatus,
    pub attempts: i32,
    pub next_attempt_at: Timestamp,
    pub expires_at: Timestamp,
    /// What went wrong at the last attempt; empty if nothing did.
    pub last_error: String,
    pub finished_at: Option<Timestamp>,
}

impl MeterCommand {
    /// Longest reason and error text kept.
    pub const TEXT_LEN_MAX: usize = 200;
    /// The wait before the second attempt; each further attempt waits twice as long, up to
    /// [`Self::RETRY_MAX`].
    pub const RETRY_FIRST: SignedDuration = SignedDuration::from_secs(30);
    pub const RETRY_MAX: SignedDuration = SignedDuration::from_mins(15);

    /// The wait after `attempts` failed attempts (1 → 30 s, 2 → 60 s, … up to 15 min).
    pub fn backoff(attempts: i32) -> SignedDuration {
        let doublings = attempts.saturating_sub(1).clamp(0, 10);
        let secs = Self::RETRY_FIRST.as_secs().saturating_mul(1_i64 << doublings);
        SignedDuration::from_secs(secs.min(Self::RETRY_MAX.as_secs()))
    }
}

/// What a meter said of itself when it was last read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MeterReport {
    pub at: Timestamp,
    /// The supply switch: `None` if the meter does not say.
    pub relay: Option<Relay>,
    pub keep_power: Option<bool>,
}

/// How the head end reaches a meter and controls its supply: the channel, the desired keep-power state, a
/// manual disconnection that payments must not undo, what the meter last reported, and the commands on their
/// way to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MeterControl {
    pub meter_id: MeterId,
    pub channel: Option<Channel>,
    /// 保电 wanted: the supply stays on whatever the credit.
    pub keep_power: bool,
    /// Disconnected by an operator: a payment does not reconnect it, only an operator's close does.
    pub held_open: bool,
    /// The meter shows the balance and prices the master station writes to it (a DL/T 645 meter with a
    /// display for them): payments, alarms and trips write its balance; an operator's `write_prices` its
    /// tariff's prices.
    pub shows_credit: bool,
    pub reported: Option<MeterReport>,
    /// Commands not yet done, at most one per class, oldest first.
    pub pending: Vec<CommandId>,
}

impl MeterControl {
    pub fn new(meter_id: MeterId) -> Self {
        Self {
            meter_id,
            channel: None,
            keep_power: false,
            held_open: false,
            shows_credit: false,
            reported: None,
            pending: Vec::new(),
        }
    }
}

code_enum!(
    /// What a correction (纠错) does once approved.
    CorrectionKind, "correction kind", {
        /// A sale taken back: its credit, arrears and fees undone, the money owed back to the customer as a
        /// refused payment (handed back through the refund at the counter).
        ReverseSale => "reverse_sale",
        /// A sale sold to the wrong meter: undone and made again, with the same money, for the right one.
        ReallocateSale => "reallocate_sale",
        /// A wallet credited (positive) or debited (negative) against energy revenue: a billing error put right.
        Adjust => "adjust",
        /// Arrears written off as bad debt.
        WriteOff => "write_off",
        /// A closed shift's cash count put right: money found (positive) or missing (negative) after the close.
        CorrectShift => "correct_shift",
        /// A payment of rent, fees or bills taken back: the charges it paid owe again, a postpaid account's credit
        /// from it leaves the wallet, and the money is owed back to the customer as a refused payment.
        ReverseFeePayment => "reverse_fee_payment",
        /// A charge (a month's rent or fee, or a bill) reduced (positive: in the customer's favour, 减免) or
        /// raised (negative) against its revenue: a charge or bill put right.
        AdjustCharge => "adjust_charge",
    }
);

/// What a correction acts on. Which fields a kind uses: a sale for `reverse_sale` and `reallocate_sale`, with
/// the right account and meter for `reallocate_sale`; an account and a signed amount for `adjust`; an account
/// and a positive amount for `write_off`; a shift and a signed amount for `correct_shift`; a fee payment for
/// `reverse_fee_payment`; an account, a fee schedule, a month and a signed amount for `adjust_charge` (the
/// charge of that month at the account's unit).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Correction {
    pub kind: CorrectionKind,
    pub sale: Option<OperationId>,
    pub account_id: Option<AccountId>,
    pub meter_id: Option<MeterId>,
    pub shift_id: Option<ShiftId>,
    pub amount_minor: i64,
    /// The fee payment (its operation) a `reverse_fee_payment` takes back.
    pub fee_payment: Option<OperationId>,
    /// The schedule and month (`YYYYMM`) of the charge an `adjust_charge` puts right.
    pub charge: Option<(voltvend_domain::FeeScheduleId, i32)>,
}

/// The second operator's decision on a correction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub by: OperatorId,
    pub at: Timestamp,
    pub approved: bool,
    pub note: String,
    /// The operation that decided (and, when approved, applied) the correction.
    pub operation_id: OperationId,
}

/// A correction asked for by one operator and approved or rejected by another (maker-checker), or left to
/// expire. Approved corrections are applied by the deciding operation, in the same commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApprovalRecord {
    pub id: ApprovalId,
    pub correction: Correction,
    /// Where the corrected thing lives (an account's or a vending point's premises): the scope of both operators.
    pub premises_id: PremisesId,
    pub reason: String,
    pub requested_by: OperatorId,
    pub requested_at: Timestamp,
    pub expires_at: Timestamp,
    pub decision: Option<Decision>,
    /// Once applied: the correcting transfer, and the refused payment or new sale it made, if any.
    pub transfer_id: Option<TransferId>,
    pub result: Option<OperationId>,
    /// STS tokens of a reversed or re-allocated sale that may already be on the meter: they cannot be recalled,
    /// so they are recorded as void and the report flags them.
    pub void_tokens: Vec<String>,
}

code_enum!(
    /// Where an approval stands.
    ApprovalStatus, "approval status", {
        Pending => "pending", Approved => "approved", Rejected => "rejected", Expired => "expired",
    }
);

impl ApprovalRecord {
    /// Where it stands at `now`: an undecided request past its expiry has expired.
    pub fn status(&self, now: Timestamp) -> ApprovalStatus {
        match &self.decision {
            Some(d) if d.approved => ApprovalStatus::Approved,
            Some(_) => ApprovalStatus::Rejected,
            None if now >= self.expires_at => ApprovalStatus::Expired,
            None => ApprovalStatus::Pending,
        }
    }
}

/// 公摊: how a site's common-area energy (and, with a parent meter, its line loss) is shared among its units
/// (see [`voltvend_domain::apportion`]). A rule is not changed once made: a new arrangement is a new rule, so
/// that every period posted under a rule was computed by the rule as it reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApportionmentRule {
    pub id: voltvend_domain::ApportionmentRuleId,
    /// The site (a property, building or floor): every meter and unit of the rule lies within it, and its time
    /// zone draws the periods' bounds.
    pub premises_id: PremisesId,
    pub name: String,
    pub utility: voltvend_domain::Utility,
    pub basis: voltvend_domain::apportion::Basis,
    pub pool: voltvend_domain::apportion::Pool,
    /// What a kWh (m³) of the pool is charged at.
    pub price: voltvend_domain::UnitPrice,
    /// The site's incomer, measuring everything the units and common areas draw (总表).
    pub parent_meter: Option<MeterId>,
    /// The common areas' own meters: public lighting, lifts, pumps.
    pub common_meters: Vec<MeterId>,
    /// The units that share, each with its floor area; their own consumption is what their meters of the
    /// rule's utility measured.
    pub units: Vec<ApportionedUnit>,
    pub created_at: Timestamp,
}

impl ApportionmentRule {
    pub const NAME_LEN_MAX: usize = 120;
    /// The most units one rule shares among (a large estate's building is a few hundred).
    pub const UNITS_MAX: usize = 2_000;
    pub const COMMON_METERS_MAX: usize = 64;
    /// The largest floor area of a unit: 10⁶ m².
    pub const AREA_DM2_MAX: i64 = 100_000_000;

    /// Every meter the rule names itself (its units' meters come from their premises).
    pub fn named_meters(&self) -> impl Iterator<Item = MeterId> + '_ {
        self.parent_meter.into_iter().chain(self.common_meters.iter().copied())
    }
}

/// A unit sharing under a rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ApportionedUnit {
    pub premises_id: PremisesId,
    /// Its floor area in hundredths of a square metre (dm²); zero when the rule does not share by area.
    pub floor_area_dm2: i64,
}

/// A month of a rule, posted: what each group of meters measured, the line loss, the pool valued and each
/// unit's share. Append-only; one per rule and month.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApportionmentRun {
    /// The posting operation.
    pub operation_id: OperationId,
    pub rule_id: voltvend_domain::ApportionmentRuleId,
    /// `year × 100 + month`.
    pub period: i32,
    /// The month's bounds in the site's time zone: readings taken at or after `from` and before `to` count.
    pub from: Timestamp,
    pub to: Timestamp,
    pub parent_milli: Option<i64>,
    pub units_milli: i64,
    pub common_milli: i64,
    pub loss_milli: Option<i64>,
    pub pool_milli: i64,
    /// The rule's price (millionths of a major unit per kWh or m³) and its currency.
    pub price_micro: i64,
    pub currency: voltvend_domain::Currency,
    /// The pool (what is shared of it) valued at the price, rounded down to the minor unit.
    pub amount_minor: i64,
    pub at: Timestamp,
    /// One per unit, in the rule's order; their amounts add up to `amount_minor`.
    pub shares: Vec<UnitShare>,
}

impl ApportionmentRun {
    /// What was charged to accounts: the shares of units with no account (vacant) are borne by the site.
    pub fn charged_minor(&self) -> i64 {
        self.shares.iter().filter(|s| s.account_id.is_some()).map(|s| s.amount_minor).sum()
    }
}

/// A unit's share of a period, with what it was computed from (its statement).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnitShare {
    pub premises_id: PremisesId,
    /// The account charged: the one its meters of the rule's utility are bound to; none for a vacant unit.
    pub account_id: Option<AccountId>,
    /// The unit's weight under the rule's basis: its floor area (dm²), its consumption (milli-units) or 1.
    pub weight: i64,
    /// What the unit's own meters measured in the period.
    pub consumption_milli: i64,
    /// Its share of the pool's quantity and of the pool's amount (the latter charged).
    pub share_milli: i64,
    pub amount_minor: i64,
    /// The transfer that charged it (none for a vacant unit or a share of nothing).
    pub transfer_id: Option<TransferId>,
}

/// What a meter measured over a span of time: the readings stored in it (billed or measured) and their
/// consumption, and how many readings in it were flagged (their interval is counted by the next good one).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SpanConsumption {
    pub meter_id: MeterId,
    pub from: Timestamp,
    pub to: Timestamp,
    pub consumption_milli: i64,
    pub readings: i64,
    pub flagged: i64,
}

impl SpanConsumption {
    /// A span with no reading in it.
    pub fn none(meter_id: MeterId, from: Timestamp, to: Timestamp) -> Self {
        Self { meter_id, from, to, consumption_milli: 0, readings: 0, flagged: 0 }
    }
}

/// 分类分项: what a meter measures, for energy analysis.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MeterCategory {
    pub meter_id: MeterId,
    pub category: voltvend_domain::EnergyCategory,
    /// The sub-item (分项): lifts, pumps, office lighting… (at most [`MeterCategory::SUB_ITEM_LEN_MAX`] bytes).
    pub sub_item: String,
}

impl MeterCategory {
    pub const SUB_ITEM_LEN_MAX: usize = 60;
}

/// 房租 / 物业费: a monthly charge on the occupied units of a site (see [`voltvend_domain::fees`]). Not changed
/// once made: a new rate is a new schedule, so that every month issued under a schedule was reckoned by it as it
/// reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeeSchedule {
    pub id: voltvend_domain::FeeScheduleId,
    /// The site: every unit within it with an open account is charged; its time zone dates the charges.
    pub premises_id: PremisesId,
    pub name: String,
    pub basis: voltvend_domain::fees::FeeBasis,
    /// The month's amount per unit, or per m² of floor area, in minor units.
    pub rate_minor: i64,
    pub currency: voltvend_domain::Currency,
    /// The day of the charged month a charge falls due (1–28, so that every month has it).
    pub due_day: i8,
    /// The schedule's receivable (what its charges still owe, together) and its revenue in the ledger.
    pub receivable: LedgerAccountId,
    pub revenue: LedgerAccountId,
    pub created_at: Timestamp,
    /// The late fee, in basis points of what a charge still owes when its month is dunned after the due date
    /// (0: none).
    pub late_fee_bp: i64,
    /// A postpaid cycle's notice (days after dunning) before the supplies of bills still unpaid may be
    /// disconnected (0: never; only where the operator enables it and the jurisdiction allows).
    pub disconnect_after_days: i64,
}

impl FeeRun {
    /// The first date on the site's calendar the month may be dunned: the day after it falls due (`DunFees`
    /// refuses before; the server's sweep waits for it too).
    pub fn dunnable_from(&self) -> Option<jiff::civil::Date> {
        self.due_on.tomorrow().ok()
    }

    /// The date on the site's calendar (`tz`) the notice dunning gave ends, `notice_days` after the day it was
    /// dunned: the supplies of its bills still unpaid may be disconnected from then (`DisconnectOverdue` refuses
    /// before; the sweep waits for it). `None` while it is not dunned.
    pub fn notice_ends(&self, notice_days: i64, tz: &jiff::tz::TimeZone) -> Option<jiff::civil::Date> {
        let dunned = self.dunned_at?.to_zoned(tz.clone()).date();
        dunned.checked_add(jiff::Span::new().days(notice_days)).ok()
    }
}

impl FeeSchedule {
    /// The longest notice before a disconnection: a year.
    pub const NOTICE_DAYS_MAX: i64 = 365;
}

impl FeeSchedule {
    pub const NAME_LEN_MAX: usize = 120;
    /// The largest rate: 10⁹ minor units a month (a unit) or a m².
    pub const RATE_MINOR_MAX: i64 = 1_000_000_000;
    pub const DUE_DAY_MAX: i8 = 28;
}

/// A unit's floor area (建筑面积), for fees charged per m².
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FloorArea {
    pub premises_id: PremisesId,
    /// In hundredths of a square metre (dm²).
    pub floor_area_dm2: i64,
}

impl FloorArea {
    /// The largest floor area of a unit: 10⁶ m².
    pub const AREA_DM2_MAX: i64 = 100_000_000;
}

/// What overdue fees do to energy sales at a premises and everything within it (unless a premises nearer the
/// account says otherwise).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FeePolicy {
    pub premises_id: PremisesId,
    pub policy: voltvend_domain::fees::OverduePolicy,
}

/// A month of a schedule issued: one charge per occupied unit. Append-only; one per schedule and month.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeeRun {
    pub operation_id: OperationId,
    pub schedule_id: voltvend_domain::FeeScheduleId,
    /// `year × 100 + month`.
    pub period: i32,
    pub due_on: jiff::civil::Date,
    /// How many units were charged, their total, and how many units had no open account (nothing charged).
    pub charged: i64,
    pub total_minor: i64,
    pub vacant: i64,
    pub transfer_id: Option<TransferId>,
    pub at: Timestamp,
    /// A postpaid cycle's units whose account is prepaid (not billed).
    pub not_postpaid: i64,
    /// When the month was dunned (催缴), how many overdue charges were reminded, and the late fees charged.
    pub dunned_at: Option<Timestamp>,
    pub dunned: i64,
    pub late_fees_minor: i64,
    /// When the supplies of its bills still unpaid after the notice were disconnected, and how many meters.
    pub disconnected_at: Option<Timestamp>,
    pub disconnected: i64,
}

/// The key of a charge: its schedule, month and unit.
pub type FeeChargeKey = (voltvend_domain::FeeScheduleId, i32, PremisesId);

/// What a unit owes for a month of a schedule, and how much of it is paid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeeCharge {
    pub schedule_id: voltvend_domain::FeeScheduleId,
    pub period: i32,
    pub premises_id: PremisesId,
    /// The account charged: the unit's open account when the month was issued.
    pub account_id: AccountId,
    /// Everything it charges: the schedule's amount (a postpaid cycle's standing charge), plus `usage_minor`,
    /// less `credit_minor`, plus `late_fee_minor`.
    pub amount_minor: i64,
    pub paid_minor: i64,
    pub due_on: jiff::civil::Date,
    pub issued_at: Timestamp,
    /// A postpaid bill's usage: the account's arrears and negative wallet when it was issued.
    pub usage_minor: i64,
    /// A postpaid bill's wallet credit applied to it.
    pub credit_minor: i64,
    /// What the account's earlier charges still owed when it was issued (shown on the bill, not in it).
    pub carried_minor: i64,
    /// The late fee added when its month was dunned.
    pub late_fee_minor: i64,
    /// What approved corrections (`adjust_charge`) changed its amount by: negative when reduced (减免).
    pub adjusted_minor: i64,
}

impl FeeCharge {
    pub fn key(&self) -> FeeChargeKey {
        (self.schedule_id, self.period, self.premises_id)
    }

    pub fn outstanding_minor(&self) -> i64 {
        self.amount_minor - self.paid_minor
    }

    /// Unpaid after its due date (`today` in the site's time zone).
    pub fn overdue_on(&self, today: jiff::civil::Date) -> bool {
        today > self.due_on && self.outstanding_minor() > 0
    }
}

/// Money paid towards a charge: at the counter (a fee payment) or as a share of an energy purchase.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeeAllocation {
    /// The fee payment or the sale.
    pub operation_id: OperationId,
    pub idx: i64,
    pub schedule_id: voltvend_domain::FeeScheduleId,
    pub period: i32,
    pub premises_id: PremisesId,
    pub amount_minor: i64,
    pub at: Timestamp,
}

/// 收费: rent and fees paid at a counter, with a receipt of the vending point's numbering.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeePayment {
    pub operation_id: OperationId,
    pub vending_point_id: VendingPointId,
    pub receipt_no: i64,
    pub shift_id: ShiftId,
    pub operator_id: OperatorId,
    pub account_id: AccountId,
    pub at: Timestamp,
    pub method: PaymentMethod,
    pub reference: String,
    pub paid_minor: i64,
    pub transfer_id: TransferId,
    /// The charges it paid, oldest due first; their amounts and `credit_minor` add up to `paid_minor`.
    pub lines: Vec<FeeAllocation>,
    /// A postpaid account's over-payment, credited to its wallet.
    pub credit_minor: i64,
    /// Taken back by an approved `reverse_fee_payment` (its transfer has a correction): read from the ledger,
    /// never written with the payment.
    pub reversed: bool,
}
