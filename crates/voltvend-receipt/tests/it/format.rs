//! The pieces every form prints: grouped tokens, exact money, milli-unit quantities, and the data checks.

use voltvend_domain::Currency;
use voltvend_receipt::format::{group_token, money, quantity, receipt_number};
use voltvend_receipt::{EscPosEncoding, TokenKind, escpos, escpos_text, html};

use crate::zh_sale;

#[test]
fn sts_tokens_are_printed_in_five_groups_of_four() {
    assert_eq!(group_token(TokenKind::Sts, "12345678901234567890").unwrap(), "1234 5678 9012 3456 7890");
    assert_eq!(group_token(TokenKind::Sts, "00000000000000000000").unwrap(), "0000 0000 0000 0000 0000");
}

#[test]
fn openpaygo_tokens_are_printed_in_threes() {
    let cases = [
        ("512489012", "512 489 012"),
        ("512489012345", "512 489 012 345"),
        ("144322411423113", "144 322 411 423 113"),
        ("14432241142311344321", "144 322 411 423 113 443 21"),
    ];
    for (token, expect) in cases {
        assert_eq!(group_token(TokenKind::OpenPaygo, token).unwrap(), expect);
    }
}

#[test]
fn a_key_change_set_prints_each_token_on_its_own_numbered_line() {
    for count in [2, 4] {
        let mut data = zh_sale();
        data.tokens = (1..=count).map(|i| format!("{i}").repeat(20)).collect();
        let text = escpos_text(&escpos(&data, EscPosEncoding::Gb18030).unwrap(), EscPosEncoding::Gb18030).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        for i in 1..=count {
            let label = lines.iter().position(|l| *l == format!("充值码 {i}/{count}")).unwrap();
            let digit = char::from_digit(i, 10).unwrap().to_string().repeat(4);
            assert_eq!(lines[label + 1], [digit.as_str(); 5].join(" "), "token {i} of {count}");
        }
        assert!(text.contains("请按顺序输入以上充值码"));

        let page = html(&data, "/r.css").unwrap();
        assert_eq!(page.matches("<p class=\"token\">").count(), count as usize);
        assert!(page.contains(&format!("<p class=\"token-label\">充值码 {count}/{count}</p>")));
    }
}

#[test]
fn money_is_exact_for_each_currency_exponent() {
    assert_eq!(money(5_000, Currency::CNY), "CNY 50.00");
    assert_eq!(money(1, Currency::CNY), "CNY 0.01");
    assert_eq!(money(1_234_567, Currency::KES), "KES 12345.67");
    assert_eq!(money(1_500, Currency::JPY), "JPY 1500");
    assert_eq!(money(1_500, Currency::UGX), "UGX 1500");
    assert_eq!(money(1_005, Currency::KWD), "KWD 1.005");
}

#[test]
fn quantities_and_receipt_numbers() {
    assert_eq!(quantity(151_500), "151.5");
    assert_eq!(quantity(1), "0.001");
    assert_eq!(quantity(20_000), "20.0");
    assert_eq!(quantity(1_234_567), "1234.567");
    assert_eq!(receipt_number(123), "000123");
}

#[test]
fn amounts_that_do_not_add_up_are_refused() {
    let mut data = zh_sale();
    data.credit_minor += 1;
    assert_eq!(data.check().unwrap_err().code(), "receipt_amounts_inconsistent");
    let mut data = zh_sale();
    data.tax_minor = data.energy_minor + 1;
    assert_eq!(html(&data, "/r.css").unwrap_err().code(), "receipt_amounts_inconsistent");
    let mut data = zh_sale();
    data.receipt_no = -1;
    assert_eq!(data.check().unwrap_err().code(), "receipt_number_invalid");
    let mut data = zh_sale();
    data.tokens = vec!["1234".into()];
    assert_eq!(escpos(&data, EscPosEncoding::Ascii).unwrap_err().code(), "receipt_token_malformed");
}
