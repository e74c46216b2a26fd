//! The providers' daily statements (对账单), read into one shape for reconciliation with the ledger.
//!
//! * WeChat Pay's trade bill (`GET /v3/bill/tradebill`, unzipped): a header row of column names, detail rows with
//!   every field prefixed by a backtick, then a summary header (`总交易单数,…`) and its row. Columns are found by
//!   name: 交易时间, 微信订单号, 商户订单号, 交易状态, 货币种类, 应结订单金额, 退款金额 (yuan).
//! * Alipay's trade bill (`…业务明细.csv`, decoded to UTF-8): `#` comment lines, a header row, detail rows whose
//!   values are padded with spaces or tabs. Columns: 支付宝交易号, 商户订单号, 业务类型 (交易 or 退款), 完成时间,
//!   订单金额（元）.
//!
//! Sources: docs/research/payments.md §5. A field may be quoted (`"…"`, with `""` for a quote) when it holds a
//! comma.

use jiff::Timestamp;

use crate::{PaymentError, alipay::yuan_to_fen, beijing_time, malformed};

/// What a statement line says happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineKind {
    /// Money taken from a customer.
    Payment,
    /// Money handed back (a refund of an earlier payment).
    Refund,
}

/// One line of a statement, in our terms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatementLine {
    pub kind: LineKind,
    /// The provider's transaction number.
    pub transaction_id: String,
    /// Our order number (the payment intent).
    pub out_trade_no: String,
    /// In minor units, positive for both kinds.
    pub amount_minor: i64,
    pub currency: String,
    /// When, as the provider says (Beijing time in both files).
    pub at: Timestamp,
}

/// Splits one CSV line, honouring double quotes.
fn fields(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                cur.push('"');
                chars.next();
            }
            ('"', _) => quoted = !quoted,
            (',', false) => out.push(std::mem::take(&mut cur)),
            (c, _) => cur.push(c),
        }
    }
    out.push(cur);
    out
}

/// The index of each named column in `header`.
fn columns<const N: usize>(header: &[String], names: [&str; N]) -> Result<[usize; N], PaymentError> {
    let mut idx = [0; N];
    for (slot, name) in idx.iter_mut().zip(names) {
        *slot = header
            .iter()
            .position(|h| h.trim().trim_start_matches('\u{feff}') == name)
            .ok_or_else(|| malformed(format!("no column {name}")))?;
    }
    Ok(idx)
}

fn cell(row: &[String], i: usize) -> Result<&str, PaymentError> {
    row.get(i).map(|v| v.trim().trim_start_matches('`').trim()).ok_or_else(|| malformed("a short row"))
}

/// Reads a WeChat Pay trade bill.
pub fn wechat_trade_bill(text: &str) -> Result<Vec<StatementLine>, PaymentError> {
    let mut lines = text.lines().filter(|l| !l.trim().is_empty());
    let header = fields(lines.next().ok_or_else(|| malformed("an empty bill"))?);
    let [at, txn, order, state, currency, settled, refunded] =
        columns(&header, ["交易时间", "微信订单号", "商户订单号", "交易状态", "货币种类", "应结订单金额", "退款金额"])?;
    let mut out = Vec::new();
    for line in lines {
        if line.starts_with("总交易单数") {
            break;
        }
        let row = fields(line);
        let (kind, amount) = match cell(&row, state)? {
            "SUCCESS" => (LineKind::Payment, cell(&row, settled)?),
            "REFUND" => (LineKind::Refund, cell(&row, refunded)?),
            // Revoked and other states moved no money.
            _ => continue,
        };
        out.push(StatementLine {
            kind,
            transaction_id: cell(&row, txn)?.to_string(),
            out_trade_no: cell(&row, order)?.to_string(),
            amount_minor: yuan_to_fen(amount)?,
            currency: match cell(&row, currency)? {
                "" => "CNY".to_string(),
                c => c.to_string(),
            },
            at: beijing_time(cell(&row, at)?)?,
        });
    }
    Ok(out)
}

/// Reads an Alipay trade bill (its detail file, decoded to UTF-8).
pub fn alipay_trade_bill(text: &str) -> Result<Vec<StatementLine>, PaymentError> {
    let mut lines = text.lines().filter(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'));
    let header = fields(lines.next().ok_or_else(|| malformed("an empty bill"))?);
    let [txn, order, kind, at, amount] =
        columns(&header, ["支付宝交易号", "商户订单号", "业务类型", "完成时间", "订单金额（元）"])?;
    let mut out = Vec::new();
    for line in lines {
        let row = fields(line);
        let kind = match cell(&row, kind)? {
            "交易" => LineKind::Payment,
            "退款" => LineKind::Refund,
            _ => continue,
        };
        out.push(StatementLine {
            kind,
            transaction_id: cell(&row, txn)?.to_string(),
            out_trade_no: cell(&row, order)?.to_string(),
            // A refund line's amount is written negative.
            amount_minor: yuan_to_fen(cell(&row, amount)?.trim_start_matches('-'))?,
            currency: "CNY".to_string(),
            at: beijing_time(cell(&row, at)?)?,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wechat_bill_is_read_by_column_name_and_stops_at_its_summary() {
        let bill = "交易时间,公众账号ID,商户号,特约商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,交易状态,付款银行,货币种类,应结订单金额,代金券金额,微信退款单号,商户退款单号,退款金额,充值券退款金额,退款类型,退款状态,商品名称,商户数据包,手续费,费率,订单金额,申请退款金额,费率备注\r\n\
`2026-11-23 16:01:00,`wxd678efh567hg6787,`1900000109,`0,`,`4200000001,`0123456789abcdef0123456789abcdef,`oUpF8u,`NATIVE,`SUCCESS,`OTHERS,`CNY,`50.00,`0.00,`0,`0,`0.00,`0.00,`,`,`电费 DDSY-7-1,`,`0.30000,`0.60%,`50.00,`0.00,`\r\n\
`2026-11-23 17:00:00,`wxd678efh567hg6787,`1900000109,`0,`,`4200000002,`aa,`oUpF8u,`NATIVE,`REFUND,`OTHERS,`CNY,`0.00,`0.00,`5000,`r1,`12.30,`0.00,`ORIGINAL,`SUCCESS,`电费,`,`0.00000,`0.60%,`12.30,`12.30,`\r\n\
`2026-11-23 18:00:00,`wxd678efh567hg6787,`1900000109,`0,`,`4200000003,`bb,`oUpF8u,`NATIVE,`REVOKED,`OTHERS,`CNY,`0.00,`0.00,`0,`0,`0.00,`0.00,`,`,`x,`,`0.00000,`0.60%,`9.00,`0.00,`\r\n\
总交易单数,应结订单总金额,退款总金额,充值券退款总金额,手续费总金额,订单总金额,申请退款总金额\r\n`3,`50.00,`12.30,`0.00,`0.30000,`71.30,`12.30\r\n";
        let lines = wechat_trade_bill(bill).unwrap();
        assert_eq!(lines.len(), 2, "the revoked order moved no money");
        assert_eq!(
            (lines[0].kind, lines[0].amount_minor, lines[0].out_trade_no.as_str()),
            (LineKind::Payment, 5_000, "0123456789abcdef0123456789abcdef")
        );
        assert_eq!(lines[0].at, "2026-11-23T08:01:00Z".parse().unwrap());
        assert_eq!((lines[1].kind, lines[1].amount_minor), (LineKind::Refund, 1_230));
        assert!(wechat_trade_bill("a,b\n").is_err(), "a file that is not a bill");
    }

    #[test]
    fn an_alipay_bill_skips_comments_and_trims_padding() {
        let bill = "#支付宝业务明细查询\n#账号：[20881021776494500156]\n\
支付宝交易号,商户订单号,业务类型,商品名称,创建时间,完成时间,门店编号,门店名称,操作员,终端号,对方账户,订单金额（元）,商家实收（元）,支付宝红包（元）,集分宝（元）,支付宝优惠（元）,商家优惠（元）,券核销金额（元）,券名称,商家红包消费金额（元）,卡消费金额（元）,退款批次号/请求号,服务费（元）,分润（元）,备注\n\
2026112322001446880500000001\t,0123456789abcdef0123456789abcdef\t,交易\t,\"电费, A-101\"\t,2026-11-23 16:00:00\t,2026-11-23 16:01:00\t,,,,,159****5620\t,88.80\t,88.80\t,0.00,0.00,0.00,0.00,0.00,,0.00,0.00,,-0.53\t,0.00,\n\
2026112322001446880500000002\t,cc\t,退款\t,电费\t,2026-11-23 16:00:00\t,2026-11-23 18:01:00\t,,,,,159****5620\t,-10.00\t,-10.00\t,0.00,0.00,0.00,0.00,0.00,,0.00,0.00,r1,0.06\t,0.00,\n\
#-----------------------------------------业务明细列表结束------------------------------------\n";
        let lines = alipay_trade_bill(bill).unwrap();
        assert_eq!(lines.len(), 2);
        assert_eq!((lines[0].kind, lines[0].amount_minor), (LineKind::Payment, 8_880));
        assert_eq!(lines[0].transaction_id, "2026112322001446880500000001");
        assert_eq!((lines[1].kind, lines[1].amount_minor), (LineKind::Refund, 1_000));
    }

    #[test]
    fn quoted_fields_keep_their_commas() {
        assert_eq!(fields("a,\"b, c\",\"d\"\"e\""), vec!["a", "b, c", "d\"e"]);
    }
}
