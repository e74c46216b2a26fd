//! The receipt's words in zh-CN and English: one table, one row per key with both languages, so a key cannot
//! exist in one language only (the macro refuses a row without both), and the tests refuse an empty text.

use crate::data::Language;

macro_rules! catalogue {
    ($($key:ident => $zh:literal, $en:literal;)*) => {
        /// A key of the message catalogue.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Msg {
            $($key,)*
        }

        impl Msg {
            /// Every key, in table order.
            pub const ALL: &'static [Msg] = &[$(Msg::$key,)*];

            /// The text of the key in `language`.
            pub const fn text(self, language: Language) -> &'static str {
                match (self, language) {
                    $(
                        (Msg::$key, Language::ZhCn) => $zh,
                        (Msg::$key, Language::En) => $en,
                    )*
                }
            }
        }
    };
}

catalogue! {
    TitleElectricity => "售电收据", "Electricity sale receipt";
    TitleWater => "售水收据", "Water sale receipt";
    TitleFees => "房租物业费收据", "Rent and fees receipt";
    PropertyFeesRecovered => "补缴房租物业费", "Rent and fees recovered";
    FeeItem => "缴费项目", "Paid towards";
    FeeAmount => "金额", "Amount";
    Copy => "副本", "COPY";
    CopyNote => "补打收据，非原件", "Reprint, not the original";
    ReceiptNo => "收据号", "Receipt no.";
    VendingPoint => "营业网点", "Vending point";
    IssuedAt => "时间", "Issued";
    Operator => "收款员", "Cashier";
    Customer => "客户", "Customer";
    Account => "户号", "Account";
    Premises => "地址", "Premises";
    Meter => "表号", "Meter";
    Method => "支付方式", "Payment";
    Reference => "交易参考号", "Reference";
    Paid => "实收金额", "Amount paid";
    ArrearsRecovered => "补缴欠费", "Arrears recovered";
    Fees => "其他费用", "Fees";
    EnergyInclTax => "电费（含税）", "Energy incl. tax";
    WaterInclTax => "水费（含税）", "Water incl. tax";
    OfWhichTax => "其中税额", "of which tax";
    CreditToWallet => "存入账户", "Credit to wallet";
    EnergyBought => "购电量", "Energy bought";
    WaterBought => "购水量", "Water bought";
    BalanceAfter => "账户余额", "Balance after sale";
    ArrearsOwed => "尚欠欠费", "Arrears still owed";
    Token => "充值码", "Token";
    TokensInOrder => "请按顺序输入以上充值码", "Enter the tokens in the order shown";
    Footer => "请妥善保管本收据", "Please keep this receipt";
    UnitKwh => "千瓦时", "kWh";
    UnitM3 => "立方米", "m³";
    MethodCash => "现金", "Cash";
    MethodBankCard => "银行卡", "Bank card";
    MethodBankTransfer => "银行转账", "Bank transfer";
    MethodOnline => "在线支付", "Online";
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A CJK Unified Ideograph (the basic block is enough for these words).
    fn is_han(c: char) -> bool {
        ('\u{4E00}'..='\u{9FFF}').contains(&c)
    }

    #[test]
    fn every_key_has_a_text_in_both_languages() {
        assert!(Msg::ALL.len() >= 30);
        for msg in Msg::ALL {
            for language in Language::ALL {
                let text = msg.text(language);
                assert!(!text.trim().is_empty(), "{msg:?} is empty in {language:?}");
                assert_eq!(text, text.trim(), "{msg:?} has surrounding spaces in {language:?}");
                assert!(!text.chars().any(char::is_control), "{msg:?} has a control character in {language:?}");
            }
            assert!(msg.text(Language::ZhCn).chars().any(is_han), "{msg:?} is not translated into Chinese");
            let en = msg.text(Language::En);
            assert!(
                en.chars().all(|c| c.is_ascii_graphic() || c == ' ' || c == '³'),
                "{msg:?} is not plain English: {en:?}"
            );
        }
    }

    #[test]
    fn labels_leave_room_for_a_value_on_an_80mm_printer() {
        // Labels share a 48-column line with their value; CJK characters take two columns.
        for msg in Msg::ALL {
            for language in Language::ALL {
                let text = msg.text(language);
                let columns: usize = text.chars().map(|c| if c.is_ascii() { 1 } else { 2 }).sum();
                assert!(columns <= 36, "{msg:?} in {language:?} is {columns} columns wide");
            }
        }
    }
}
