//! The providers' daily statements (对账单), read into one shape for reconciliation with the ledger.
//!
//! * WeChat Pay's trade bill (`GET /v3/bill/tradebill`, unzipped): a header row of column names, detail rows with
//!   every field prefixed by a backtick, then a summary header (`总交易单数,…`) and its row. Columns are found by
//!   name: 交易时间, 微信订单号, 商户订单号, 交易状态, 货币种类, 应结订单金额, 退款金额 (yuan).
//! * Alipay's trade bill (`…业务明细.csv`, decoded to UTF-8): `#` comment lines, a header row, detail rows whose
//!   values are padded with spaces or tabs. Columns: 支付宝交易号, 商户订单号, 业务类型 (交易 or 退款), 完成时间,
//!   订单金额（元）.
//!
//! * UnionPay's merchant transaction file (`INN{yymmdd}88ZM_{merId}`, from the file-transfer interface's zip):
//!   fixed-width lines, each field followed by one space, widths counted in GBK bytes (《全渠道平台接入接口规范
//!   第3部分 文件接口》 6.1, as the acp SDK demos slice it). Payments are `txnType` 01 (消费); refunds are 04
//!   (退货) and 31 (消费撤销), naming the refunded payment by its `origQryId`.
//! * M-Pesa's organisation statement (the M-Pesa org portal's CSV export): a few lines of account details, then
//!   a header row (`Receipt No.,Completion Time,…,Paid In,Withdrawn,…,A/C No.`). Completed lines with money
//!   paid in are payments; the order is named only by the account reference (`A/C No.`).
//!
//! Sources: docs/research/payments.md §5. A field may be quoted (`"…"`, with `""` for a quote) when it holds a
//! comma. [`decode`] turns a file as downloaded (UTF-8 or GBK, as the Chinese providers write theirs) into text.

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

/// The most a statement may unpack to: far beyond any day's statement, short of a zip bomb.
pub const UNPACKED_MAX_BYTES: u64 = 256 << 20;

/// A statement file as the provider gives it, unpacked: a gzip stream is inflated; from a zip the one entry
/// `wanted` accepts by name is taken (Alipay's bill zip holds the detail file and its summary, UnionPay's the ZM
/// file among others; names may be GBK). Anything else is the file itself.
pub fn unpack(file: &[u8], wanted: impl Fn(&str) -> bool) -> Result<Vec<u8>, PaymentError> {
    use std::io::Read;
    let too_big = || malformed(format!("the statement unpacks to more than {UNPACKED_MAX_BYTES} bytes"));
    if file.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(file)
            .take(UNPACKED_MAX_BYTES + 1)
            .read_to_end(&mut out)
            .map_err(|e| malformed(format!("a gzip file that does not inflate: {e}")))?;
        return if out.len() as u64 > UNPACKED_MAX_BYTES { Err(too_big()) } else { Ok(out) };
    }
    if !file.starts_with(b"PK\x03\x04") {
        return Ok(file.to_vec());
    }
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(file))
        .map_err(|e| malformed(format!("a zip that does not open: {e}")))?;
    let mut chosen = None;
    for n in 0..archive.len() {
        let entry = archive.by_index_raw(n).map_err(|e| malformed(format!("zip entry {n}: {e}")))?;
        if entry.is_dir() {
            continue;
        }
        let name = decode(entry.name_raw());
        let base = name.rsplit('/').next().unwrap_or(&name).to_string();
        if wanted(&base)
            && let Some(other) = chosen.replace((n, base.clone()))
        {
            return Err(malformed(format!("the zip holds two statements: {} and {base}", other.1)));
        }
    }
    let (n, name) = chosen.ok_or_else(|| malformed("the zip holds no statement of this provider"))?;
    let entry = archive.by_index(n).map_err(|e| malformed(format!("{name}: {e}")))?;
    let mut out = Vec::new();
    entry.take(UNPACKED_MAX_BYTES + 1).read_to_end(&mut out).map_err(|e| malformed(format!("{name}: {e}")))?;
    if out.len() as u64 > UNPACKED_MAX_BYTES { Err(too_big()) } else { Ok(out) }
}

/// A statement file's bytes as text: UTF-8 (a byte-order mark dropped) when they are, GBK (GB 18030) otherwise —
/// Alipay's and UnionPay's files are GBK.
pub fn decode(bytes: &[u8]) -> String {
    match std::str::from_utf8(bytes) {
        Ok(text) => text.trim_start_matches('\u{feff}').to_string(),
        Err(_) => encoding_rs::GB18030.decode_without_bom_handling(bytes).0.into_owned(),
    }
}

/// The ZM file's field widths in GBK bytes (the acp SDK demo's table, 42 fields; a 2015 file has 41, its last
/// reserved). Each field is followed by one space.
const ZM_WIDTHS: [usize; 42] = [
    3, 11, 11, 6, 10, 19, 12, 4, 2, 21, 2, 32, 2, 6, 10, 13, 13, 4, 15, 2, 2, 6, 2, 4, 32, 1, 21, 15, 1, 15, 32, 13,
    13, 8, 32, 13, 13, 12, 2, 1, 32, 98,
];

/// ZM fields by index (0-based).
mod zm {
    pub const TRACE_TIME: usize = 4;
    pub const AMOUNT: usize = 6;
    pub const QUERY_ID: usize = 9;
    pub const ORDER_ID: usize = 11;
    pub const TXN_TYPE: usize = 19;
    pub const ORIG_QUERY_ID: usize = 26;
    pub const MER_ID: usize = 27;
    pub const ORIG_ORDER_ID: usize = 40;
}

/// Cuts a fixed-width line into its fields, counting a character's width as GBK does (one byte for ASCII, two
/// otherwise), each field followed by one separator. Fields past the line's end are empty.
fn fixed_fields<const N: usize>(line: &str, widths: &[usize; N]) -> [String; N] {
    let mut chars = line.chars().peekable();
    widths.map(|width| {
        let mut field = String::new();
        let mut used = 0;
        while let Some(&c) = chars.peek() {
            let w = if c.is_ascii() { 1 } else { 2 };
            if used + w > width {
                break;
            }
            field.push(c);
            used += w;
            chars.next();
        }
        chars.next(); // the separator
        field.trim().to_string()
    })
}

/// Reads a UnionPay ZM file of the settlement day `day`. Its times are `MMDDhhmmss` in Beijing time, without a
/// year: the day's year, or the one before for a December payment in a January file.
pub fn unionpay_zm(text: &str, day: jiff::civil::Date) -> Result<Vec<StatementLine>, PaymentError> {
    // The GBK width every ZM line reaches: its fields up to the merchant code, with their separators.
    let min_width = ZM_WIDTHS.iter().take(zm::MER_ID + 1).sum::<usize>() + zm::MER_ID;
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let bad = |why: &str| malformed(format!("ZM line {}: {why}", n + 1));
        if line.trim_end().chars().map(|c| if c.is_ascii() { 1 } else { 2 }).sum::<usize>() < min_width {
            return Err(bad("too short for a ZM line"));
        }
        let f = fixed_fields(line, &ZM_WIDTHS);
        let kind = match f[zm::TXN_TYPE].as_str() {
            "01" => LineKind::Payment,
            "04" | "31" => LineKind::Refund,
            // Pre-authorisations and their completions are not used for prepaid sales.
            _ => continue,
        };
        let amount = &f[zm::AMOUNT];
        if amount.len() != 12 || !amount.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad(&format!("amount {amount:?} is not 12 digits of fen")));
        }
        let amount_minor: i64 = amount.parse().map_err(|_| bad("amount"))?;
        let at = zm_time(&f[zm::TRACE_TIME], day).ok_or_else(|| bad(&format!("time {:?}", f[zm::TRACE_TIME])))?;
        let (transaction_id, out_trade_no) = match kind {
            LineKind::Payment => (f[zm::QUERY_ID].clone(), f[zm::ORDER_ID].clone()),
            LineKind::Refund => (f[zm::ORIG_QUERY_ID].clone(), f[zm::ORIG_ORDER_ID].clone()),
        };
        if transaction_id.is_empty() {
            return Err(bad("no query id"));
        }
        out.push(StatementLine { kind, transaction_id, out_trade_no, amount_minor, currency: "CNY".into(), at });
    }
    Ok(out)
}

fn zm_time(mmddhhmmss: &str, day: jiff::civil::Date) -> Option<Timestamp> {
    if mmddhhmmss.len() != 10 || !mmddhhmmss.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let at = |year: i16| {
        let dt = jiff::civil::DateTime::strptime("%Y%m%d%H%M%S", format!("{year:04}{mmddhhmmss}")).ok()?;
        crate::BEIJING.to_timestamp(dt).ok()
    };
    let this = at(day.year())?;
    let (_, end) = crate::beijing_day(day)?;
    // A payment cannot be settled before it was made: a time after the settlement day is last year's.
    match end.checked_add(jiff::SignedDuration::from_hours(24)) {
        Ok(limit) if this >= limit => at(day.year().checked_sub(1)?),
        _ => Some(this),
    }
}

/// Reads an M-Pesa organisation statement (CSV). Completed lines with money paid in are payments (the receipt
/// number, the account reference, the amount in shillings and cents); withdrawals — charges, transfers to the
/// bank — are not payments and are left out.
pub fn mpesa_statement(text: &str) -> Result<Vec<StatementLine>, PaymentError> {
    let mut lines = text.lines().skip_while(|l| !l.contains("Receipt No"));
    let header = fields(lines.next().ok_or_else(|| malformed("no header row (Receipt No., Completion Time…)"))?);
    // Some exports drop the full stops ("Receipt No", "A/C No").
    let header: Vec<String> = header.iter().map(|h| h.trim().trim_end_matches('.').to_string()).collect();
    let [receipt, at, status, paid_in, account] =
        columns(&header, ["Receipt No", "Completion Time", "Transaction Status", "Paid In", "A/C No"])?;
    let mut out = Vec::new();
    for line in lines.filter(|l| !l.trim().is_empty()) {
        let row = fields(line);
        if !cell(&row, status)?.eq_ignore_ascii_case("Completed") {
            continue;
        }
        let paid = cell(&row, paid_in)?.replace(',', "");
        if paid.is_empty() {
            continue;
        }
        let amount_minor = yuan_to_fen(&paid).map_err(|_| malformed(format!("Paid In {paid:?}")))?;
        if amount_minor == 0 {
            continue;
        }
        let when = cell(&row, at)?;
        out.push(StatementLine {
            kind: LineKind::Payment,
            transaction_id: cell(&row, receipt)?.to_string(),
            out_trade_no: cell(&row, account)?.to_string(),
            amount_minor,
            currency: "KES".into(),
            at: nairobi_time(when).ok_or_else(|| malformed(format!("Completion Time {when:?}")))?,
        });
    }
    Ok(out)
}

/// `DD-MM-YYYY HH:MM:SS` (the portal's export) or `YYYY-MM-DD HH:MM:SS`, in Nairobi's time.
fn nairobi_time(text: &str) -> Option<Timestamp> {
    let dt = jiff::civil::DateTime::strptime("%d-%m-%Y %H:%M:%S", text)
        .or_else(|_| jiff::civil::DateTime::strptime("%Y-%m-%d %H:%M:%S", text))
        .ok()?;
    crate::mpesa::KENYA.to_timestamp(dt).ok()
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
    fn a_unionpay_zm_file_is_cut_by_gbk_width_and_its_refunds_name_the_payment() {
        let day = jiff::civil::date(2026, 11, 23);
        let text = decode(include_bytes!("../testdata/INN26112388ZM_777290058110048"));
        let lines = unionpay_zm(&text, day).unwrap();
        assert_eq!(lines.len(), 2, "the pre-authorisation is not read");
        assert_eq!(
            (lines[0].kind, lines[0].transaction_id.as_str(), lines[0].out_trade_no.as_str(), lines[0].amount_minor),
            (LineKind::Payment, "712611231601070012345", "0123456789abcdef0123456789abcdef", 5_000)
        );
        assert_eq!(lines[0].at, "2026-11-23T08:05:30Z".parse().unwrap());
        // After Chinese text in 商户自定义域 (two bytes a character in GBK), the original order is still found.
        assert_eq!(
            (lines[1].kind, lines[1].transaction_id.as_str(), lines[1].out_trade_no.as_str(), lines[1].amount_minor),
            (LineKind::Refund, "712611231601070012345", "0123456789abcdef0123456789abcdef", 1_230)
        );
        // The calendar's last day: no overflow, no panic.
        assert!(unionpay_zm(&text, jiff::civil::date(9999, 12, 30)).is_ok());
        assert!(unionpay_zm(&text, jiff::civil::date(-9999, 1, 1)).is_err());
        let jan = decode(include_bytes!("../testdata/INN27010188ZM_777290058110048"));
        let lines = unionpay_zm(&jan, jiff::civil::date(2027, 1, 1)).unwrap();
        assert_eq!(lines[0].at, "2026-12-31T15:59:59Z".parse().unwrap(), "December's payment in January's file");
        assert!(unionpay_zm("S22 48022901    00040000", day).is_err(), "a cut line");
        let mut bad_amount = text.lines().next().unwrap().to_string();
        bad_amount.replace_range(66..78, "00000000500x");
        assert!(unionpay_zm(&bad_amount, day).is_err());
    }

    #[test]
    fn an_mpesa_statement_skips_its_preamble_and_withdrawals() {
        let csv = "Account Holder:,Voltvend Mini-grid\n\
Short Code:,174379\n\
Account:,Utility Account\n\
Time Period:,From,23-11-2026 00:00:00,To,23-11-2026 23:59:59\n\
Operator:,ops\n\
Opening Balance,0.00,Closing Balance,1450.00,Available Balance,1450.00,Total Paid In,1500.00,Total Withdrawn,50.00\n\
Receipt No.,Completion Time,Initiation Time,Details,Transaction Status,Paid In,Withdrawn,Balance,Balance Confirmed,Reason Type,Other Party Info,Linked Transaction ID,A/C No.\n\
TKN1ABC2DE,23-11-2026 16:01:07,23-11-2026 16:01:05,\"Pay Bill Online from 2547****5678 - JANE DOE Acc. MTR-00000001\",Completed,\"1,000.00\",,1000.00,true,Pay Utility,2547****5678 - JANE DOE,,MTR-00000001\n\
TKN1ABC2DF,23-11-2026 17:00:00,23-11-2026 17:00:00,Pay Bill Online from 2547****9999 - JOHN ROE Acc. MTR-00000002,Failed,500.00,,1000.00,true,Pay Utility,2547****9999 - JOHN ROE,,MTR-00000002\n\
TKN1ABC2DG,23-11-2026 18:00:00,23-11-2026 18:00:00,Pay Bill Online from 2547****9999 - JOHN ROE Acc. MTR-00000002,Completed,500.00,,1500.00,true,Pay Utility,2547****9999 - JOHN ROE,,MTR-00000002\n\
TKN1ABC2DH,23-11-2026 19:00:00,23-11-2026 19:00:00,Pay Utility Charges,Completed,,-50.00,1450.00,true,Pay Utility Charges,,,\n";
        let lines = mpesa_statement(csv).unwrap();
        assert_eq!(lines.len(), 2, "a failed payment and a charge are not payments");
        assert_eq!(
            (lines[0].transaction_id.as_str(), lines[0].out_trade_no.as_str(), lines[0].amount_minor),
            ("TKN1ABC2DE", "MTR-00000001", 100_000)
        );
        assert_eq!(lines[0].at, "2026-11-23T13:01:07Z".parse().unwrap(), "Nairobi's time");
        assert_eq!(lines[0].currency, "KES");
        assert!(mpesa_statement("Account Holder:,x\n").is_err(), "no header row");
    }

    #[test]
    fn files_are_read_as_utf8_or_gbk() {
        assert_eq!(decode("\u{feff}交易".as_bytes()), "交易");
        assert_eq!(decode(&[0xbd, 0xbb, 0xd2, 0xd7]), "交易", "GBK");
    }

    #[test]
    fn a_statement_is_taken_from_the_providers_zip_or_gzip() {
        use std::io::Write;
        let zm = include_bytes!("../testdata/INN26112388ZM_777290058110048");
        // UnionPay's zip: the ZM file among others, named in GBK.
        let mut zipped = std::io::Cursor::new(Vec::new());
        {
            let mut z = zip::ZipWriter::new(&mut zipped);
            let options = zip::write::SimpleFileOptions::default();
            for (name, body) in
                [("INN26112388ZME_777290058110048", &b"errors"[..]), ("INN26112388ZM_777290058110048", zm)]
            {
                z.start_file(name, options).unwrap();
                z.write_all(body).unwrap();
            }
            z.finish().unwrap();
        }
        let zipped = zipped.into_inner();
        let is_zm = |n: &str| n.contains("ZM_");
        assert_eq!(unpack(&zipped, is_zm).unwrap(), zm.to_vec());
        assert!(unpack(&zipped, |n: &str| n.contains("ZM")).is_err(), "two candidates: refused, not guessed");
        assert!(unpack(&zipped, |_: &str| false).is_err());
        assert!(unpack(&zipped[..40], is_zm).is_err(), "a cut zip");
        // WeChat Pay's gzip.
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(b"a,b\n").unwrap();
        assert_eq!(unpack(&gz.finish().unwrap(), |_: &str| true).unwrap(), b"a,b\n".to_vec());
        // A plain file is itself.
        assert_eq!(unpack(b"a,b\n", |_: &str| false).unwrap(), b"a,b\n".to_vec());
    }

    #[test]
    fn quoted_fields_keep_their_commas() {
        assert_eq!(fields("a,\"b, c\",\"d\"\"e\""), vec!["a", "b, c", "d\"e"]);
    }
}
