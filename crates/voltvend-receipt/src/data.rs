//! What the server tells the renderers about one sale.

use voltvend_domain::{Currency, Utility};

use crate::error::ReceiptError;
use crate::format;
use crate::messages::Msg;

/// The language a receipt is printed in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Language {
    /// Simplified Chinese (zh-CN).
    ZhCn,
    /// English.
    En,
}

impl Language {
    /// Both languages, for tests and catalogue checks.
    pub const ALL: [Language; 2] = [Language::ZhCn, Language::En];

    /// The BCP 47 tag, as HTML's `lang` attribute and the PDF's `/Lang` want it.
    pub const fn tag(self) -> &'static str {
        match self {
            Language::ZhCn => "zh-CN",
            Language::En => "en",
        }
    }
}

/// How the customer paid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PaymentMethod {
    Cash,
    BankCard,
    BankTransfer,
    /// A payment made online (mobile wallet, payment gateway) and recorded at the counter.
    Online,
}

impl PaymentMethod {
    pub const ALL: [PaymentMethod; 4] =
        [PaymentMethod::Cash, PaymentMethod::BankCard, PaymentMethod::BankTransfer, PaymentMethod::Online];

    /// The method as the receipt prints it: `现金`, `Bank card`.
    pub fn label(self, language: Language) -> &'static str {
        let msg = match self {
            PaymentMethod::Cash => Msg::MethodCash,
            PaymentMethod::BankCard => Msg::MethodBankCard,
            PaymentMethod::BankTransfer => Msg::MethodBankTransfer,
            PaymentMethod::Online => Msg::MethodOnline,
        };
        msg.text(language)
    }
}

/// Which token engine produced the tokens, which decides how they are checked and grouped.
///
/// The kind is given rather than guessed from the length, because a restricted-digit OpenPAYGO token has 20
/// digits, like an STS token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TokenKind {
    /// STS (IEC 62055-41): 20 digits, printed 4-4-4-4-4.
    Sts,
    /// OpenPAYGO Token: 9 or 12 digits (standard, extended), or 15 or 20 of the digits 1–4 for restricted
    /// keypads; printed in groups of three.
    OpenPaygo,
}

/// What a receipt is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReceiptKind {
    /// A sale of energy or water (its meter, units and tokens).
    Sale,
    /// Rent and property fees paid at the counter (its [`ReceiptData::fee_lines`]; no meter).
    Fees,
}

/// A charge a payment went towards: its description (the fee, its month, the unit) and the amount paid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeeLine {
    pub description: String,
    pub amount_minor: i64,
}

/// One sale (or payment of fees) as the receipt shows it, filled by the server from its record.
///
/// Amounts are in minor units of [`ReceiptData::currency`] and add up as the ledger books them:
/// `paid = arrears + fees + property fees + energy + credit`, with `tax` included in `energy`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceiptData {
    pub kind: ReceiptKind,
    pub language: Language,
    /// A reprint (补收据): every form says 副本 / COPY prominently.
    pub copy: bool,
    /// The utility or property company the receipt is issued for.
    pub property_name: String,
    pub vending_point_name: String,
    /// Gapless per vending point; printed zero-padded to six digits (`000123`).
    pub receipt_no: i64,
    /// The sale's local time with its offset, already formatted by the server in the premises' time zone:
    /// `2026-12-03 15:04:05 +08:00`.
    pub issued_at: String,
    pub operator_name: String,
    pub customer_name: String,
    /// The account number or reference the customer quotes.
    pub account_ref: String,
    /// The premises' path: `Block A / Floor 1 / A-101`.
    pub premises_label: String,
    pub meter_serial: String,
    /// Electricity (quantities in kWh) or water (m³).
    pub utility: Utility,
    pub method: PaymentMethod,
    /// Card authorisation or transfer number; not printed when empty.
    pub payment_reference: String,
    pub currency: Currency,
    pub paid_minor: i64,
    /// Arrears recovered from this payment; printed when not zero.
    pub arrears_minor: i64,
    /// Fees taken from this payment (card replacement, service fee); printed when not zero.
    pub fees_minor: i64,
    /// Rent and property fees paid from this payment (all of a fee receipt; a sale's share of overdue fees).
    pub property_fees_minor: i64,
    /// What the rent and fees paid went towards; when given, they add up to `property_fees_minor`.
    pub fee_lines: Vec<FeeLine>,
    /// The tax included in `energy_minor`.
    pub tax_minor: i64,
    /// The money converted into units (energy or water), tax included; zero for a wallet credit.
    pub energy_minor: i64,
    /// What went into the account's wallet.
    pub credit_minor: i64,
    /// The wallet's balance after the sale, when the server knows it.
    pub balance_after_minor: Option<i64>,
    /// Arrears still owed after the sale, when the server knows it.
    pub arrears_owed_minor: Option<i64>,
    /// Units bought, in milli-units: Wh for electricity, litres for water; zero for a wallet credit.
    pub quantity_milli: i64,
    pub token_kind: TokenKind,
    /// The tokens to type in, in order: none for a remote meter, one credit token, or a key change set (two
    /// or four tokens) possibly followed by a credit token. Digits only; ASCII spaces are ignored.
    pub tokens: Vec<String>,
}

impl ReceiptData {
    /// Checks what a receipt must never print wrong: a non-negative receipt number, amounts that add up, tax
    /// within the energy money, and well-formed tokens. Every renderer calls it first.
    pub fn check(&self) -> Result<(), ReceiptError> {
        if self.receipt_no < 0 {
            return Err(ReceiptError::InvalidReceiptNumber(self.receipt_no));
        }
        let sum = [self.arrears_minor, self.fees_minor, self.property_fees_minor, self.energy_minor, self.credit_minor]
            .into_iter()
            .try_fold(0_i64, i64::checked_add);
        let parts_ok = [
            self.arrears_minor,
            self.fees_minor,
            self.property_fees_minor,
            self.tax_minor,
            self.energy_minor,
            self.credit_minor,
        ]
        .iter()
        .all(|v| *v >= 0);
        let lines = self
            .fee_lines
            .iter()
            .try_fold(0_i64, |t, l| if l.amount_minor > 0 { t.checked_add(l.amount_minor) } else { None });
        let lines_ok = self.fee_lines.is_empty() || lines == Some(self.property_fees_minor);
        if sum != Some(self.paid_minor) || !parts_ok || !lines_ok || self.tax_minor > self.energy_minor {
            return Err(ReceiptError::AmountsInconsistent {
                paid_minor: self.paid_minor,
                arrears_minor: self.arrears_minor,
                fees_minor: self.fees_minor,
                energy_minor: self.energy_minor,
                tax_minor: self.tax_minor,
                credit_minor: self.credit_minor,
            });
        }
        if self.quantity_milli < 0 {
            return Err(ReceiptError::InvalidQuantity(self.quantity_milli));
        }
        for token in &self.tokens {
            format::group_token(self.token_kind, token)?;
        }
        Ok(())
    }
}
