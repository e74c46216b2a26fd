//! The logical receipt: what is printed, in which order, already in the receipt's language. The three forms
//! draw this one model, so they cannot disagree on a line.

use voltvend_domain::Utility;

use crate::data::{Language, ReceiptData, ReceiptKind};
use crate::error::ReceiptError;
use crate::format;
use crate::messages::Msg;

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Model {
    pub language: Language,
    /// Present on a reprint: the banner word and its note.
    pub copy: Option<CopyBanner>,
    pub property: String,
    pub title: &'static str,
    pub receipt_no: String,
    /// Groups of rows, printed with a rule between groups.
    pub sections: Vec<Vec<Row>>,
    pub tokens: Vec<TokenLine>,
    /// Printed after a set of several tokens.
    pub tokens_note: Option<&'static str>,
    pub footer: &'static str,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct CopyBanner {
    pub label: &'static str,
    pub note: &'static str,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RowKind {
    /// A value such as a name or a number, left to right after its label.
    Text,
    /// Money or a quantity, right-aligned.
    Amount,
    /// The amount paid: right-aligned and emphasised.
    Total,
    /// A part of the amount above it ("of which tax"): right-aligned, its label indented.
    Part,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Row {
    pub label: &'static str,
    pub value: String,
    pub kind: RowKind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TokenLine {
    pub label: String,
    pub grouped: String,
}

/// User-entered text as it may be printed: control characters (which could drive an ESC/POS printer or break
/// a line) become spaces, and an empty field prints as `-`.
pub(crate) fn clean(text: &str) -> String {
    let cleaned: String = text.chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
    let trimmed = cleaned.trim();
    if trimmed.is_empty() { "-".to_string() } else { trimmed.to_string() }
}

impl Model {
    pub(crate) fn build(data: &ReceiptData) -> Result<Model, ReceiptError> {
        data.check()?;
        let lang = data.language;
        let money = |minor: i64| format::money(minor, data.currency);
        let row = |msg: Msg, value: String, kind: RowKind| Row { label: msg.text(lang), value, kind };

        let sale = vec![
            row(Msg::ReceiptNo, format::receipt_number(data.receipt_no), RowKind::Text),
            row(Msg::VendingPoint, clean(&data.vending_point_name), RowKind::Text),
            row(Msg::IssuedAt, clean(&data.issued_at), RowKind::Text),
            row(Msg::Operator, clean(&data.operator_name), RowKind::Text),
        ];
        let customer = vec![
            row(Msg::Customer, clean(&data.customer_name), RowKind::Text),
            row(Msg::Account, clean(&data.account_ref), RowKind::Text),
            row(Msg::Premises, clean(&data.premises_label), RowKind::Text),
        ];
        let mut customer = customer;
        if data.kind == ReceiptKind::Sale {
            customer.push(row(Msg::Meter, clean(&data.meter_serial), RowKind::Text));
        }

        let (units_msg, bought_msg) = match data.utility {
            Utility::Electricity => (Msg::EnergyInclTax, Msg::EnergyBought),
            Utility::Water => (Msg::WaterInclTax, Msg::WaterBought),
        };
        let bought_units = data.kind == ReceiptKind::Sale && (data.energy_minor != 0 || data.quantity_milli != 0);
        let mut payment = vec![row(Msg::Method, data.method.label(lang).to_string(), RowKind::Text)];
        if !data.payment_reference.trim().is_empty() {
            payment.push(row(Msg::Reference, clean(&data.payment_reference), RowKind::Text));
        }
        payment.push(row(Msg::Paid, money(data.paid_minor), RowKind::Total));
        if data.arrears_minor != 0 {
            payment.push(row(Msg::ArrearsRecovered, money(data.arrears_minor), RowKind::Amount));
        }
        if data.fees_minor != 0 {
            payment.push(row(Msg::Fees, money(data.fees_minor), RowKind::Amount));
        }
        if data.property_fees_minor != 0 && data.kind == ReceiptKind::Sale {
            payment.push(row(Msg::PropertyFeesRecovered, money(data.property_fees_minor), RowKind::Amount));
        }
        for line in &data.fee_lines {
            payment.push(row(Msg::FeeItem, clean(&line.description), RowKind::Text));
            payment.push(row(Msg::FeeAmount, money(line.amount_minor), RowKind::Part));
        }
        if bought_units {
            payment.push(row(units_msg, money(data.energy_minor), RowKind::Amount));
            payment.push(row(Msg::OfWhichTax, money(data.tax_minor), RowKind::Part));
        }
        if data.credit_minor != 0 || (!bought_units && data.kind == ReceiptKind::Sale) {
            payment.push(row(Msg::CreditToWallet, money(data.credit_minor), RowKind::Amount));
        }
        if bought_units {
            let quantity = format::quantity_with_unit(data.quantity_milli, data.utility, lang);
            payment.push(row(bought_msg, quantity, RowKind::Amount));
        }
        if let Some(balance) = data.balance_after_minor {
            payment.push(row(Msg::BalanceAfter, money(balance), RowKind::Amount));
        }
        if let Some(owed) = data.arrears_owed_minor {
            payment.push(row(Msg::ArrearsOwed, money(owed), RowKind::Amount));
        }

        let count = data.tokens.len();
        let mut tokens = Vec::with_capacity(count);
        for (i, token) in data.tokens.iter().enumerate() {
            let word = Msg::Token.text(lang);
            let label = if count == 1 { word.to_string() } else { format!("{word} {}/{count}", i + 1) };
            tokens.push(TokenLine { label, grouped: format::group_token(data.token_kind, token)? });
        }

        Ok(Model {
            language: lang,
            copy: data.copy.then(|| CopyBanner { label: Msg::Copy.text(lang), note: Msg::CopyNote.text(lang) }),
            property: clean(&data.property_name),
            title: match (data.kind, data.utility) {
                (ReceiptKind::Fees, _) => Msg::TitleFees.text(lang),
                (ReceiptKind::Sale, Utility::Electricity) => Msg::TitleElectricity.text(lang),
                (ReceiptKind::Sale, Utility::Water) => Msg::TitleWater.text(lang),
            },
            receipt_no: format::receipt_number(data.receipt_no),
            sections: vec![sale, customer, payment],
            tokens,
            tokens_note: (count > 1).then(|| Msg::TokensInOrder.text(lang)),
            footer: Msg::Footer.text(lang),
        })
    }

    /// Every string the receipt prints, for checking that a font can draw them all.
    pub(crate) fn texts(&self) -> Vec<&str> {
        let mut all = vec![self.property.as_str(), self.title, self.receipt_no.as_str(), self.footer];
        if let Some(copy) = &self.copy {
            all.extend([copy.label, copy.note]);
        }
        for row in self.sections.iter().flatten() {
            all.extend([row.label, row.value.as_str()]);
        }
        for token in &self.tokens {
            all.extend([token.label.as_str(), token.grouped.as_str()]);
        }
        all.extend(self.tokens_note);
        all
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clean_removes_control_characters() {
        assert_eq!(clean("王\u{1b}@芳\n"), "王 @芳");
        assert_eq!(clean("  "), "-");
        assert_eq!(clean(""), "-");
        assert_eq!(clean("A-101"), "A-101");
    }
}
