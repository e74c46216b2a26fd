//! Reports (DESIGN.md §2.7) as JSON, CSV and XLSX: sales summaries by operator, vending point, channel, tariff,
//! day or month within a premises subtree; the sales ledger, streamed page by page so that a million rows are
//! exported in bounded memory; and the sales ledger's reconciliation with the ledger.
//!
//! Every report honours the caller's scope (the store filters by it); the reconciliation compares with the
//! whole ledger, so it is for operators scoped to the whole group.

use std::io::Write as _;

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use futures_util::stream;
use jiff::Timestamp;
use jiff::tz::TimeZone;
use rust_xlsxwriter::{Format, Workbook, Worksheet, XlsxError};
use voltvend_domain::clock::timestamp_us;
use voltvend_domain::{Currency, Money, PremisesId};
use voltvend_ops::SaleRecord;
use voltvend_store::{BalanceReport, ConsumptionGrouping, ListQuery, SaleFilter, SalesGroup, SalesGrouping};

use crate::api::auth::Principal;
use crate::api::error::{ApiError, ApiResult};
use crate::api::extract::{ApiQuery, ClientAddr};
use crate::api::printed;
use crate::api::views::*;
use crate::http::AppState;
use voltvend_receipt::{Language, ReportBlock};

/// How a report is delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Output {
    Json,
    Csv,
    Xlsx,
    /// Printed: an A4 PDF in this language.
    Pdf(Language),
}

fn format_of(text: Option<&str>, lang: Option<&str>) -> ApiResult<Output> {
    match text.unwrap_or("json") {
        "json" => Ok(Output::Json),
        "csv" => Ok(Output::Csv),
        "xlsx" => Ok(Output::Xlsx),
        "pdf" => Ok(Output::Pdf(crate::api::receipts::language(lang)?)),
        _ => Err(ApiError::field("format", "bad_value", "json, csv, xlsx or pdf")),
    }
}

/// One cell of a report row.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Cell {
    Text(String),
    Int(i64),
    Money(i64, Currency),
}

impl Cell {
    fn text(&self) -> String {
        match self {
            Self::Text(t) => t.clone(),
            Self::Int(n) => n.to_string(),
            Self::Money(m, c) => Money::from_minor(*m, *c).to_decimal_string(),
        }
    }
}

/// A CSV line (RFC 4180: fields with a comma, quote or line break are quoted, quotes doubled).
fn csv_line(cells: &[Cell]) -> String {
    let mut line = String::new();
    for (i, cell) in cells.iter().enumerate() {
        if i > 0 {
            line.push(',');
        }
        let text = cell.text();
        // A leading =, +, - or @ would be taken for a formula by a spreadsheet opening the file.
        let text = if matches!(cell, Cell::Text(_)) && text.starts_with(['=', '+', '-', '@']) {
            format!("'{text}")
        } else {
            text
        };
        if text.contains([',', '"', '\n', '\r']) {
            line.push('"');
            line.push_str(&text.replace('"', "\"\""));
            line.push('"');
        } else {
            line.push_str(&text);
        }
    }
    line.push_str("\r\n");
    line
}

/// Writes a row of cells: money as numbers with the currency's decimals, so that a spreadsheet sums them.
fn xlsx_row(sheet: &mut Worksheet, row: u32, cells: &[Cell]) -> Result<(), XlsxError> {
    for (col, cell) in cells.iter().enumerate() {
        let col = u16::try_from(col).unwrap_or(u16::MAX);
        match cell {
            Cell::Text(t) => {
                sheet.write_string(row, col, t)?;
            }
            Cell::Int(n) => {
                // Whole numbers beyond 2^53 do not survive a spreadsheet: keep them as text.
                if n.unsigned_abs() < (1 << 53) {
                    sheet.write_number(row, col, *n as f64)?;
                } else {
                    sheet.write_string(row, col, n.to_string())?;
                }
            }
            Cell::Money(m, c) => {
                let decimals = usize::from(c.exponent());
                let pattern = if decimals == 0 { "0".to_string() } else { format!("0.{}", "0".repeat(decimals)) };
                let value: f64 = Money::from_minor(*m, *c).to_decimal_string().parse().unwrap_or(f64::NAN);
                sheet.write_number_with_format(row, col, value, &Format::new().set_num_format(pattern))?;
            }
        }
    }
    Ok(())
}

fn xlsx_error(e: XlsxError) -> ApiError {
    ApiError::internal(format!("writing the spreadsheet: {e}"))
}

fn attachment(body: Body, content_type: &'static str, name: &str) -> Response {
    let mut r = (StatusCode::OK, body).into_response();
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{name}\"")) {
        r.headers_mut().insert(header::CONTENT_DISPOSITION, v);
    }
    r
}

const XLSX: &str = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";
const CSV: &str = "text/csv; charset=utf-8";

/// A whole (small) table as CSV, XLSX or a printed PDF (`lines` say what it covers).
async fn table_file(
    app: &AppState,
    p: &Principal,
    header: &[&str],
    rows: &[Vec<Cell>],
    format: Output,
    name: &str,
    lines: Vec<String>,
) -> ApiResult<Response> {
    if let Output::Pdf(language) = format {
        // Ids are for machines (the files keep them); a printed table shows what people read.
        let keep: Vec<usize> =
            (0..header.len()).filter(|i| header.get(*i).is_some_and(|h| printed::printable(h))).collect();
        let pick = |r: &[Cell]| -> Vec<String> {
            keep.iter().map(|i| r.get(*i).map(Cell::text).unwrap_or_default()).collect()
        };
        let table = ReportBlock::Table {
            header: keep
                .iter()
                .filter_map(|i| header.get(*i))
                .map(|h| printed::column(h, language).to_string())
                .collect(),
            rows: rows.iter().map(|r| pick(r)).collect(),
            // Numbers are right-aligned: a column is numeric when its first row's cell is.
            right: keep
                .iter()
                .map(|i| rows.first().and_then(|r| r.get(*i)).is_some_and(|c| !matches!(c, Cell::Text(_))))
                .collect(),
        };
        let doc = printed::document(app, p, language, printed::title(name, language), lines, vec![table]).await?;
        return printed::pdf(app, &doc, name);
    }
    let header: Vec<Cell> = header.iter().map(|h| Cell::Text((*h).to_string())).collect();
    match format {
        Output::Csv => {
            let mut out = csv_line(&header);
            for r in rows {
                out.push_str(&csv_line(r));
            }
            Ok(attachment(Body::from(out), CSV, &format!("{name}.csv")))
        }
        Output::Xlsx => {
            let mut book = Workbook::new();
            let sheet = book.add_worksheet();
            sheet.set_name(name).map_err(xlsx_error)?;
            xlsx_row(sheet, 0, &header).map_err(xlsx_error)?;
            for (i, r) in rows.iter().enumerate() {
                xlsx_row(sheet, u32::try_from(i + 1).unwrap_or(u32::MAX), r).map_err(xlsx_error)?;
            }
            let bytes = book.save_to_buffer().map_err(xlsx_error)?;
            Ok(attachment(Body::from(bytes), XLSX, &format!("{name}.xlsx")))
        }
        Output::Json | Output::Pdf(_) => Err(ApiError::internal("a JSON report is not a file")),
    }
}

/// The period of a report: both ends required, `from` before `to`.
fn period(from: &Option<String>, to: &Option<String>) -> ApiResult<(Timestamp, Timestamp)> {
    let from = from.as_deref().ok_or_else(|| ApiError::field("from", "bad_request", "give the period's start"))?;
    let to = to.as_deref().ok_or_else(|| ApiError::field("to", "bad_request", "give the period's end"))?;
    let (from, to) = (parse_instant("from", from)?, parse_instant("to", to)?);
    if from >= to {
        return Err(ApiError::field("to", "bad_request", "the period ends after it starts"));
    }
    Ok((from, to))
}

/// The premises subtree a report covers: the caller's scope, or a node within it.
async fn subtree(app: &AppState, p: &Principal, given: Option<uuid::Uuid>) -> ApiResult<Option<PremisesId>> {
    match given {
        Some(id) => {
            app.visible(p, id.into(), "premises").await?;
            Ok(Some(id.into()))
        }
        None => Ok(None),
    }
}

/// The time zone days and months are counted in: the one asked for, or the caller's premises'.
async fn time_zone(app: &AppState, p: &Principal, given: Option<&str>) -> ApiResult<TimeZone> {
    let name = match given {
        Some(n) => n.to_string(),
        None => app.premises(p.scope()).await?.time_zone.clone(),
    };
    TimeZone::get(&name).map_err(|_| ApiError::field("time_zone", "bad_value", "an IANA time zone (Asia/Shanghai)"))
}

/// One summary row, as its cells and as JSON.
fn summary_cells(g: &SalesGroup, key: &str, label: &str) -> ApiResult<Vec<Cell>> {
    let c: Currency =
        g.currency.parse().map_err(|_| ApiError::internal(format!("a stored currency {:?}", g.currency)))?;
    Ok(vec![
        Cell::Text(key.to_string()),
        Cell::Text(label.to_string()),
        Cell::Text(g.currency.clone()),
        Cell::Int(g.sales),
        Cell::Money(g.paid_minor, c),
        Cell::Money(g.arrears_minor, c),
        Cell::Money(g.fees_minor, c),
        Cell::Money(g.tax_minor, c),
        Cell::Money(g.energy_minor, c),
        Cell::Money(g.credit_minor, c),
        Cell::Money(g.property_fees_minor, c),
    ])
}

const SUMMARY_HEADER: [&str; 11] =
    ["key", "label", "currency", "sales", "paid", "arrears", "fees", "tax", "energy", "credit", "property_fees"];

/// Sums the groups that share a key and a currency (15-minute buckets folded into a day or a month).
fn fold(groups: Vec<SalesGroup>, key_of: impl Fn(&SalesGroup) -> String) -> Vec<SalesGroup> {
    let mut out: Vec<SalesGroup> = Vec::new();
    for g in groups {
        let key = key_of(&g);
        match out.iter_mut().find(|o| o.key == key && o.currency == g.currency) {
            Some(o) => {
                o.sales += g.sales;
                o.paid_minor += g.paid_minor;
                o.arrears_minor += g.arrears_minor;
                o.fees_minor += g.fees_minor;
                o.tax_minor += g.tax_minor;
                o.energy_minor += g.energy_minor;
                o.credit_minor += g.credit_minor;
                o.property_fees_minor += g.property_fees_minor;
            }
            None => out.push(SalesGroup { label: key.clone(), key, ..g }),
        }
    }
    out.sort_by(|a, b| (&a.currency, &a.key).cmp(&(&b.currency, &b.key)));
    out
}

pub async fn sales_summary(
    State(app): State<AppState>,
    Extension(p): Extension<Principal>,
    ApiQuery(q): ApiQuery<SalesReportQuery>,
) -> ApiResult<Response> {
    let format = format_of(q.format.as_deref(), q.lang.as_deref())?;
    let (from, to) = period(&q.from, &q.to)?;
    let group_by = q.group_by.as_deref().unwrap_or("day");
    let (grouping, by_time) = match group_by {
        "operator" => (SalesGrouping::Operator, None),
        "vending_point" => (SalesGrouping::VendingPoint, None),
        "method" => (SalesGrouping::Method, None),
        "tariff" => (SalesGrouping::Tariff, None),
        "property" => (SalesGrouping::Property, None),
        "day" => (SalesGrouping::Quarter, Some(false)),
        "month" => (SalesGrouping::Quarter, Some(true)),
        _ => {
            return Err(ApiError::field(
                "group_by",
                "bad_value",
                "operator, vending_point, method, tariff, property, day or month",
            ));
        }
    };
    let tz = time_zone(&app, &p, q.time_zone.as_deref()).await?;
    let filter = SaleFilter {
        from_us: Some(timestamp_us(from)),
        to_us: Some(timestamp_us(to)),
        // Standing sales: a reversed or re-allocated sale took nothing (its re-allocation is counted).
        reversed: Some(false),
        premises: subtree(&app, &p, q.premises_id).await?,
        ..SaleFilter::default()
    };
    let mut groups = app.store.sales_summary(Some(p.scope()), &filter, grouping).await?;
    if let Some(monthly) = by_time {
        groups = fold(groups, |g| {
            let at = g.key.parse::<i64>().ok().and_then(|b| Timestamp::from_second(b.saturating_mul(900)).ok());
            let date = at.map(|t| t.to_zoned(tz.clone()).date());
            match date {
                Some(d) if monthly => format!("{:04}-{:02}", d.year(), d.month()),
                Some(d) => d.to_string(),
                None => g.key.clone(),
            }
        });
    }
    // 集团财务: each property by its name.
    if grouping == SalesGrouping::Property {
        for g in &mut groups {
            if let Ok(id) = g.key.parse::<uuid::Uuid>() {
                g.label = app.premises(id.into()).await?.name;
            }
        }
    }
    let mut rows = Vec::with_capacity(groups.len());
    for g in &groups {
        rows.push(summary_cells(g, &g.key, &g.label)?);
    }
    if format != Output::Json {
        let lines = vec![format!("{} - {}", instant(from), instant(to))];
        return table_file(&app, &p, &SUMMARY_HEADER, &rows, format, &format!("sales-by-{group_by}"), lines).await;
    }
    let mut items = Vec::with_capacity(groups.len());
    for g in &groups {
        let c: Currency =
            g.currency.parse().map_err(|_| ApiError::internal(format!("a stored currency {:?}", g.currency)))?;
        items.push(SalesGroupView {
            key: g.key.clone(),
            label: g.label.clone(),
            sales: g.sales,
            paid: money(g.paid_minor, c),
            arrears: money(g.arrears_minor, c),
            fees: money(g.fees_minor, c),
            tax: money(g.tax_minor, c),
            energy: money(g.energy_minor, c),
            credit: money(g.credit_minor, c),
            property_fees: money(g.property_fees_minor, c),
        });
    }
    Ok(Json(SalesReportView { group_by: group_by.to_string(), from: instant(from), to: instant(to), rows: items })
        .into_response())
}

const LEDGER_HEADER: [&str; 18] = [
    "sale_id",
    "at",
    "vending_point_id",
    "receipt_no",
    "operator_id",
    "account_id",
    "meter_id",
    "method",
    "reference",
    "currency",
    "paid",
    "arrears",
    "fees",
    "tax",
    "energy",
    "credit",
    "tokens",
    "property_fees",
];

fn ledger_cells(s: &SaleRecord, c: Currency) -> Vec<Cell> {
    vec![
        Cell::Text(s.operation_id.to_string()),
        Cell::Text(instant(s.at)),
        Cell::Text(s.vending_point_id.to_string()),
        Cell::Int(s.receipt_no),
        Cell::Text(s.operator_id.to_string()),
        Cell::Text(s.account_id.to_string()),
        Cell::Text(s.meter_id.to_string()),
        Cell::Text(s.method.as_str().to_string()),
        Cell::Text(s.reference.clone()),
        Cell::Text(c.code().to_string()),
        Cell::Money(s.paid_minor, c),
        Cell::Money(s.arrears_minor, c),
        Cell::Money(s.fees_minor, c),
        Cell::Money(s.tax_minor, c),
        Cell::Money(s.energy_minor, c),
        Cell::Money(s.credit_minor, c),
        Cell::Text(s.tokens.join(" ")),
        Cell::Money(s.property_fees_minor, c),
    ]
}

/// The currency of a report's rows, each looked up once: by the vending point a payment was taken at (which
/// matches the account's: a sale must), or by the account itself.
#[derive(Default)]
struct Currencies {
    points: std::collections::HashMap<voltvend_domain::VendingPointId, Currency>,
    accounts: std::collections::HashMap<voltvend_domain::AccountId, Currency>,
}

impl Currencies {
    async fn of_point(&mut self, app: &AppState, id: voltvend_domain::VendingPointId) -> ApiResult<Currency> {
        if let Some(c) = self.points.get(&id) {
            return Ok(*c);
        }
        let c = app.store.vending_point(id).await?.currency;
        self.points.insert(id, c);
        Ok(c)
    }

    async fn of_account(&mut self, app: &AppState, id: voltvend_domain::AccountId) -> ApiResult<Currency> {
        if let Some(c) = self.accounts.get(&id) {
            return Ok(*c);
        }
        let c = app.store.account(id).await?.account.currency;
        self.accounts.insert(id, c);
        Ok(c)
    }
}

/// Pages through the sales of a report in the ledger's order (time, then id), a page at a time, with each
/// sale's currency — its vending point's, which a sale must match (a handful, whatever the number of sales).
struct LedgerPages {
    app: AppState,
    scope: PremisesId,
    filter: SaleFilter,
    after: Option<(Timestamp, voltvend_domain::OperationId)>,
    done: bool,
    currencies: Currencies,
}

impl LedgerPages {
    async fn next(&mut self) -> ApiResult<Option<Vec<(SaleRecord, Currency)>>> {
        if self.done {
            return Ok(None);
        }
        let page =
            self.app.store.sales_ledger_page(Some(self.scope), &self.filter, self.after, ListQuery::LIMIT_MAX).await?;
        self.done = page.len() < ListQuery::LIMIT_MAX as usize;
        self.after = page.last().map(|s| (s.at, s.operation_id));
        let mut out = Vec::with_capacity(page.len());
        for s in page {
            let c = self.currencies.of_point(&self.app, s.vending_point_id).await?;
            out.push((s, c));
        }
        Ok(Some(out))
    }
}

pub async fn sales_ledger(
    State(app): State<AppState>,
    Extension(p): Extension<Principal>,
    ApiQuery(q): ApiQuery<SalesLedgerQuery>,
) -> ApiResult<Response> {
    let format = format_of(q.format.as_deref().or(Some("csv")), None)?;
    let (from, to) = period(&q.from, &q.to)?;
    let filter = SaleFilter {
        from_us: Some(timestamp_us(from)),
        to_us: Some(timestamp_us(to)),
        reversed: q.reversed,
        premises: subtree(&app, &p, q.premises_id).await?,
        ..SaleFilter::default()
    };
    let pages = LedgerPages {
        app: app.clone(),
        scope: p.scope(),
        filter,
        after: None,
        done: false,
        currencies: Currencies::default(),
    };
    match format {
        Output::Json | Output::Pdf(_) => {
            Err(ApiError::field("format", "bad_value", "the sales ledger is a file: csv or xlsx (or page /sales)"))
        }
        Output::Csv => {
            // Streamed: one page of rows in memory at a time, however long the period.
            let header = csv_line(&LEDGER_HEADER.iter().map(|h| Cell::Text((*h).to_string())).collect::<Vec<_>>());
            let body = stream::unfold((Some(header), pages), |(first, mut pages)| async move {
                if let Some(h) = first {
                    return Some((Ok::<_, std::io::Error>(h.into_bytes()), (None, pages)));
                }
                match pages.next().await {
                    Ok(Some(rows)) if !rows.is_empty() => {
                        let chunk: String = rows.iter().map(|(s, c)| csv_line(&ledger_cells(s, *c))).collect();
                        Some((Ok(chunk.into_bytes()), (None, pages)))
                    }
                    Ok(_) => None,
                    Err(e) => {
                        Some((Err(std::io::Error::other(e.message)), (None, LedgerPages { done: true, ..pages })))
                    }
                }
            });
            Ok(attachment(Body::from_stream(body), CSV, "sales-ledger.csv"))
        }
        Output::Xlsx => {
            let file = ledger_xlsx(pages).await?;
            let f = tokio::fs::File::from_std(file.reopen().map_err(ApiError::internal)?);
            // The temporary file is unlinked already: the open handle keeps it readable until streamed.
            drop(file);
            let body = Body::from_stream(tokio_util::io::ReaderStream::new(f));
            Ok(attachment(body, XLSX, "sales-ledger.xlsx"))
        }
    }
}

/// The sales ledger as a workbook in constant-memory mode (rows go to a temporary file as they are written),
/// saved to a temporary file.
async fn ledger_xlsx(mut pages: LedgerPages) -> ApiResult<tempfile::NamedTempFile> {
    let mut book = Workbook::new();
    let sheet = book.add_worksheet_with_constant_memory().map_err(xlsx_error)?;
    sheet.set_name("sales-ledger").map_err(xlsx_error)?;
    let header: Vec<Cell> = LEDGER_HEADER.iter().map(|h| Cell::Text((*h).to_string())).collect();
    xlsx_row(sheet, 0, &header).map_err(xlsx_error)?;
    let mut row = 1_u32;
    while let Some(rows) = pages.next().await? {
        for (s, c) in &rows {
            if row > 1_048_575 {
                return Err(ApiError::new(
                    "report_too_large",
                    "more sales than a worksheet holds (1 048 575 rows): export a shorter period, or as CSV",
                ));
            }
            xlsx_row(sheet, row, &ledger_cells(s, *c)).map_err(xlsx_error)?;
            row += 1;
        }
    }
    let file = tempfile::NamedTempFile::new().map_err(ApiError::internal)?;
    // Zipping the sheet up is CPU work: off the async threads.
    tokio::task::spawn_blocking(move || -> ApiResult<tempfile::NamedTempFile> {
        let mut file = file;
        book.save_to_writer(file.as_file_mut()).map_err(xlsx_error)?;
        file.as_file_mut().flush().map_err(ApiError::internal)?;
        Ok(file)
    })
    .await
    .map_err(ApiError::internal)?
}

const BOOKS_HEADER: [&str; 8] =
    ["premises_id", "property", "currency", "kind", "accounts", "debits", "credits", "balance"];

/// 集团财务: every ledger account within the caller's scope summed by the property its premises belong to —
/// each property's books must balance on their own — and the group's books, which must be their sum (the whole
/// ledger summed directly, in the same snapshot, is compared). For operators of a property or of the group:
/// below a property, a building's accounts are not books of their own.
pub async fn books(
    State(app): State<AppState>,
    Extension(p): Extension<Principal>,
    ApiQuery(q): ApiQuery<BooksQuery>,
) -> ApiResult<Response> {
    let format = format_of(q.format.as_deref(), q.lang.as_deref())?;
    let scope = app.premises(p.scope()).await?;
    if !matches!(scope.level, voltvend_domain::PremisesLevel::Group | voltvend_domain::PremisesLevel::Property) {
        return Err(ApiError::new(
            "scope_too_narrow",
            "books are kept per property: they are for a property's or the group's operators",
        ));
    }
    let (lines, whole) = app.store.books_summary(Some(p.scope())).await?;
    let currency_of = |code: &str| code.parse::<Currency>().map_err(|_| ApiError::internal("a ledger currency"));
    // Sums in minor units first, per (property, currency) and per currency; views after.
    let mut sums: Vec<(PremisesId, &str, i64, i64, Vec<&voltvend_store::BooksLine>)> = Vec::new();
    for l in &lines {
        match sums.iter_mut().find(|s| s.0 == l.property && s.1 == l.currency) {
            Some(s) => {
                (s.2, s.3) = (s.2 + l.debits_minor, s.3 + l.credits_minor);
                s.4.push(l);
            }
            None => sums.push((l.property, &l.currency, l.debits_minor, l.credits_minor, vec![l])),
        }
    }
    let mut properties = Vec::with_capacity(sums.len());
    let mut totals: Vec<(&str, i64, i64)> = Vec::new();
    for (property, currency, d, cr, of) in sums {
        let c = currency_of(currency)?;
        properties.push(PropertyBooksView {
            premises_id: property.as_uuid(),
            name: app.premises(property).await.map(|x| x.name).unwrap_or_default(),
            currency: currency.to_string(),
            lines: of
                .iter()
                .map(|l| BooksLineView {
                    kind: l.kind.clone(),
                    accounts: l.accounts,
                    debits: money(l.debits_minor, c),
                    credits: money(l.credits_minor, c),
                    balance: money(l.debits_minor - l.credits_minor, c),
                })
                .collect(),
            debits: money(d, c),
            credits: money(cr, c),
            out_of_balance: money(d - cr, c),
            balanced: d == cr,
        });
        match totals.iter_mut().find(|t| t.0 == currency) {
            Some(t) => (t.1, t.2) = (t.1 + d, t.2 + cr),
            None => totals.push((currency, d, cr)),
        }
    }
    let mut group = Vec::with_capacity(totals.len());
    for (currency, d, cr) in totals {
        let c = currency_of(currency)?;
        group.push(GroupBooksView {
            currency: currency.to_string(),
            debits: money(d, c),
            credits: money(cr, c),
            balanced: d == cr,
            sum_of_properties: whole.iter().any(|w| w.0 == currency && w.1 == d && w.2 == cr),
        });
    }
    if format != Output::Json {
        let cells: Vec<Vec<Cell>> = properties
            .iter()
            .flat_map(|x| {
                x.lines.iter().map(move |l| {
                    vec![
                        Cell::Text(x.premises_id.to_string()),
                        Cell::Text(x.name.clone()),
                        Cell::Text(x.currency.clone()),
                        Cell::Text(l.kind.clone()),
                        Cell::Int(l.accounts),
                        Cell::Text(l.debits.amount.clone()),
                        Cell::Text(l.credits.amount.clone()),
                        Cell::Text(l.balance.amount.clone()),
                    ]
                })
            })
            .collect();
        let lines = group
            .iter()
            .map(|g| {
                format!(
                    "{}: {} / {}{}",
                    g.currency,
                    g.debits.amount,
                    g.credits.amount,
                    if g.balanced { "" } else { " !" }
                )
            })
            .collect();
        return table_file(&app, &p, &BOOKS_HEADER, &cells, format, "books", lines).await;
    }
    Ok(Json(PropertyBooksReportView { properties, group }).into_response())
}

/// The sales ledger against the ledger for a period: per currency for the whole group (its operators only: it
/// reads the whole ledger), and per property (集团财务) — each property's sales against the vend transfers to its
/// accounts — for the group's operators and, their own property only, a property's.
pub async fn reconciliation(
    State(app): State<AppState>,
    Extension(p): Extension<Principal>,
    ApiQuery(q): ApiQuery<ReconciliationQuery>,
) -> ApiResult<Json<ReconciliationView>> {
    let scope = app.premises(p.scope()).await?;
    let whole = match scope.level {
        voltvend_domain::PremisesLevel::Group => true,
        voltvend_domain::PremisesLevel::Property => false,
        _ => {
            return Err(ApiError::new(
                "scope_too_narrow",
                "the reconciliation is kept per property: it is for a property's or the group's operators",
            ));
        }
    };
    let (from, to) = period(&q.from, &q.to)?;
    let (from_us, to_us) = (timestamp_us(from), timestamp_us(to));
    let filter = SaleFilter { from_us: Some(from_us), to_us: Some(to_us), ..SaleFilter::default() };
    // Every sale made in the period, reversed since or not: each has its vend transfer in the ledger.
    let by_property = app.store.sales_summary(Some(p.scope()), &filter, SalesGrouping::Property).await?;
    // The caller's own: their property, or every property of their group (not another root group's).
    let mut ledger_by_property = Vec::new();
    for (property, total) in app.store.vend_totals_by_property(from_us, to_us).await? {
        let ours = if whole { app.premises(property).await?.path.contains(&scope.id) } else { property == scope.id };
        if ours {
            ledger_by_property.push((property, total));
        }
    }
    let mut keys: Vec<(PremisesId, String)> = by_property
        .iter()
        .filter_map(|g| g.key.parse::<uuid::Uuid>().ok().map(|id| (PremisesId::from_uuid(id), g.currency.clone())))
        .chain(ledger_by_property.iter().map(|(id, l)| (*id, l.currency.clone())))
        .collect();
    keys.sort();
    keys.dedup();
    let mut properties = Vec::with_capacity(keys.len());
    for (id, code) in keys {
        let sales = by_property
            .iter()
            .filter(|g| g.currency == code && g.key == id.to_string())
            .fold((0, 0_i64), |(n, m), g| (n + g.sales, m.saturating_add(g.paid_minor)));
        let booked = ledger_by_property
            .iter()
            .find(|(p, l)| *p == id && l.currency == code)
            .map(|(_, l)| (l.transfers, l.amount_minor));
        properties.push(PropertyReconciliationLine {
            premises_id: id.as_uuid(),
            name: app.premises(id).await.map(|x| x.name).unwrap_or_default(),
            line: reconciliation_line(&code, sales, booked.unwrap_or((0, 0)))?,
        });
    }
    properties.sort_by(|a, b| (&a.name, &a.line.currency).cmp(&(&b.name, &b.line.currency)));
    let lines = if whole {
        let sales = app.store.sales_summary(None, &filter, SalesGrouping::Method).await?;
        let ledger = app.store.vend_totals(from_us, to_us).await?;
        let mut currencies: Vec<String> =
            sales.iter().map(|g| g.currency.clone()).chain(ledger.iter().map(|l| l.currency.clone())).collect();
        currencies.sort();
        currencies.dedup();
        let mut lines = Vec::with_capacity(currencies.len());
        for code in currencies {
            let n = sales
                .iter()
                .filter(|g| g.currency == code)
                .fold((0, 0_i64), |(n, m), g| (n + g.sales, m.saturating_add(g.paid_minor)));
            let booked = ledger.iter().find(|l| l.currency == code).map_or((0, 0), |l| (l.transfers, l.amount_minor));
            lines.push(reconciliation_line(&code, n, booked)?);
        }
        lines
    } else {
        properties.iter().map(|x| x.line.clone()).collect()
    };
    Ok(Json(ReconciliationView { from: instant(from), to: instant(to), lines, properties }))
}

/// One currency's sales `(count, paid)` against the ledger's vend transfers `(count, amount)`.
fn reconciliation_line(code: &str, (n, paid): (i64, i64), (t, booked): (i64, i64)) -> ApiResult<ReconciliationLine> {
    let c: Currency = code.parse().map_err(|_| ApiError::internal(format!("a stored currency {code:?}")))?;
    Ok(ReconciliationLine {
        currency: code.to_string(),
        sales: n,
        sales_paid: money(paid, c),
        vend_transfers: t,
        ledger_paid: money(booked, c),
        difference: money(paid.saturating_sub(booked), c),
        reconciles: n == t && paid == booked,
    })
}

const BALANCE_HEADER: [&str; 8] =
    ["account_id", "customer", "premises_id", "premises", "status", "currency", "balance", "arrears"];

/// Arrears, low-balance and zero-balance lists: every matching account in scope (and in the premises
/// subtree), as a page of JSON or as a whole CSV or XLSX file.
pub async fn balances(
    State(app): State<AppState>,
    Extension(p): Extension<Principal>,
    ApiQuery(q): ApiQuery<BalanceReportQuery>,
) -> ApiResult<Response> {
    let format = format_of(q.format.as_deref(), q.lang.as_deref())?;
    let premises = subtree(&app, &p, q.premises_id).await?;
    let currency_of = |code: &str| -> ApiResult<Currency> {
        code.parse().map_err(|_| ApiError::internal(format!("a stored currency {code:?}")))
    };
    let report = match q.kind.as_str() {
        "arrears" => BalanceReport::Arrears,
        "zero_balance" => BalanceReport::AtMost(0),
        "low_balance" => {
            let text = q.below.as_deref().ok_or_else(|| {
                ApiError::field("below", "bad_request", "a low-balance list needs the threshold (`below=20.00`)")
            })?;
            // The threshold is in the scope's currency (the caller's books; one currency per property).
            let c = match app
                .store
                .list_accounts(&ListQuery { scope: Some(p.scope()), after: None, limit: 1 }, &Default::default())
                .await?
                .first()
            {
                Some(a) => a.account.currency,
                None => Currency::CNY,
            };
            BalanceReport::AtMost(parse_money("below", text, c)?)
        }
        _ => return Err(ApiError::field("kind", "bad_value", "arrears, low_balance or zero_balance")),
    };
    if format == Output::Json {
        let limit = page_limit(q.limit)?;
        let lines = app
            .store
            .balance_report(&ListQuery { scope: Some(p.scope()), after: q.after.clone(), limit }, premises, report)
            .await?;
        let mut items = Vec::with_capacity(lines.len());
        for l in &lines {
            let c = currency_of(&l.currency)?;
            items.push(BalanceLineView {
                account_id: l.account_id.as_uuid(),
                customer: l.customer.clone(),
                premises_id: l.premises_id.as_uuid(),
                premises: l.premises.clone(),
                status: l.status.clone(),
                balance: money(l.balance_minor, c),
                arrears: money(l.arrears_minor, c),
            });
        }
        return Ok(Json(Page::of(items, limit, |l| l.account_id.to_string())).into_response());
    }
    let mut rows = Vec::new();
    let mut after = None;
    loop {
        let page = ListQuery { scope: Some(p.scope()), after: after.take(), limit: ListQuery::LIMIT_MAX };
        let lines = app.store.balance_report(&page, premises, report).await?;
        for l in &lines {
            let c = currency_of(&l.currency)?;
            rows.push(vec![
                Cell::Text(l.account_id.to_string()),
                Cell::Text(l.customer.clone()),
                Cell::Text(l.premises_id.to_string()),
                Cell::Text(l.premises.clone()),
                Cell::Text(l.status.clone()),
                Cell::Text(l.currency.clone()),
                Cell::Money(l.balance_minor, c),
                Cell::Money(l.arrears_minor, c),
            ]);
        }
        match lines.last() {
            Some(last) if lines.len() == ListQuery::LIMIT_MAX as usize => after = Some(last.account_id.to_string()),
            _ => break,
        }
    }
    table_file(&app, &p, &BALANCE_HEADER, &rows, format, &q.kind.replace('_', "-"), Vec::new()).await
}

const ACCUMULATED_HEADER: [&str; 13] = [
    "meter_id",
    "serial",
    "account_id",
    "premises_id",
    "unit",
    "sold",
    "currency",
    "sold_value",
    "last_sale_at",
    "return_at",
    "return_source",
    "remaining",
    "remaining_value",
];

/// 累计结余: every local meter in scope (and in the premises subtree) that was sold credit or reported any,
/// with what it last reported unused and that credit's value, as a page of JSON or a whole CSV or XLSX file.
/// A return older than the meter's last sale is shown with `current: false` (and a blank value in files): the
/// credit sold since may or may not be on the meter.
pub async fn accumulated_balances(
    State(app): State<AppState>,
    Extension(p): Extension<Principal>,
    ApiQuery(q): ApiQuery<AccumulatedBalanceQuery>,
) -> ApiResult<Response> {
    let format = format_of(q.format.as_deref(), q.lang.as_deref())?;
    let premises = subtree(&app, &p, q.premises_id).await?;
    let filter = voltvend_store::MeterFilter { premises, holds_credit: true, ..Default::default() };
    let mut currencies = Currencies::default();
    let mut currency_of = async |m: &voltvend_ops::MeterRecord| -> ApiResult<Option<Currency>> {
        match m.meter.account_id {
            Some(a) => Ok(Some(currencies.of_account(&app, a).await?)),
            None => Ok(None),
        }
    };
    if format == Output::Json {
        let limit = page_limit(q.limit)?;
        let page = ListQuery { scope: Some(p.scope()), after: q.after.clone(), limit };
        let meters = app.store.list_meters(&page, &filter).await?;
        let mut items = Vec::with_capacity(meters.len());
        for m in &meters {
            let unit = unit_of(m.meter.utility, m.meter.protocol, None);
            items.push(AccumulatedBalanceLineView {
                meter_id: m.meter.id.as_uuid(),
                serial: m.meter.serial.clone(),
                account_id: m.meter.account_id.map(|a| a.as_uuid()),
                premises_id: m.meter.premises_id.map(|x| x.as_uuid()),
                local_credit: LocalCreditView::of(&m.local, &unit, currency_of(m).await?),
            });
        }
        return Ok(Json(Page::of(items, limit, |l| l.meter_id.to_string())).into_response());
    }
    let mut rows = Vec::new();
    let mut after = None;
    loop {
        let page = ListQuery { scope: Some(p.scope()), after: after.take(), limit: ListQuery::LIMIT_MAX };
        let meters = app.store.list_meters(&page, &filter).await?;
        for m in &meters {
            let l = &m.local;
            let currency = currency_of(m).await?;
            let money_cell = |minor: i64| currency.map_or(Cell::Text(String::new()), |c| Cell::Money(minor, c));
            let (at, source, remaining, value) = match &l.last_return {
                Some(r) => (
                    Cell::Text(r.at.to_string()),
                    Cell::Text(r.source.to_string()),
                    Cell::Text(voltvend_domain::decimal::format_scaled(r.remaining_milli, 3)),
                    if l.is_current() {
                        money_cell(l.value(r.remaining_milli).value_minor)
                    } else {
                        Cell::Text(String::new())
                    },
                ),
                None => (
                    Cell::Text(String::new()),
                    Cell::Text(String::new()),
                    Cell::Text(String::new()),
                    Cell::Text(String::new()),
                ),
            };
            rows.push(vec![
                Cell::Text(m.meter.id.to_string()),
                Cell::Text(m.meter.serial.clone()),
                Cell::Text(m.meter.account_id.map(|a| a.to_string()).unwrap_or_default()),
                Cell::Text(m.meter.premises_id.map(|x| x.to_string()).unwrap_or_default()),
                Cell::Text(unit_of(m.meter.utility, m.meter.protocol, None)),
                Cell::Text(voltvend_domain::decimal::format_scaled(l.sold_milli, 3)),
                Cell::Text(currency.map(|c| c.code().to_string()).unwrap_or_default()),
                money_cell(l.sold_value_minor),
                Cell::Text(l.last_sale_at.map(|t| t.to_string()).unwrap_or_default()),
                at,
                source,
                remaining,
                value,
            ]);
        }
        match meters.last() {
            Some(last) if meters.len() == ListQuery::LIMIT_MAX as usize => after = Some(last.meter.id.to_string()),
            _ => break,
        }
    }
    table_file(&app, &p, &ACCUMULATED_HEADER, &rows, format, "accumulated-balances", Vec::new()).await
}

const CONSUMPTION_HEADER: [&str; 7] = ["key", "label", "utility", "meters", "readings", "unit", "consumption"];
const CONSUMPTION_COMPARED_HEADER: [&str; 9] =
    ["key", "label", "utility", "meters", "readings", "unit", "consumption", "previous", "change_percent"];

/// Consumption by premises and building: what the meters within the premises subtree (and one's scope) used in
/// the period, as billed — each reading counts the interval it ends, with rollovers and rebases resolved by
/// billing; flagged readings count nothing until reviewed. Grouped by the premises' children (its buildings,
/// floors or units), by the premises each meter is at, or by meter; kWh and m³ are never added together.
pub async fn consumption(
    State(app): State<AppState>,
    Extension(p): Extension<Principal>,
    ApiQuery(q): ApiQuery<ConsumptionReportQuery>,
) -> ApiResult<Response> {
    let format = format_of(q.format.as_deref(), q.lang.as_deref())?;
    let (from, to) = period(&q.from, &q.to)?;
    let group_by = q.group_by.as_deref().unwrap_or("child");
    let grouping = match group_by {
        "child" => ConsumptionGrouping::Child,
        "premises" => ConsumptionGrouping::Premises,
        "meter" => ConsumptionGrouping::Meter,
        "category" => ConsumptionGrouping::Category,
        "sub_item" => ConsumptionGrouping::SubItem,
        "tou_period" => ConsumptionGrouping::TouPeriod,
        _ => {
            return Err(ApiError::field(
                "group_by",
                "bad_value",
                "child, premises, meter, category, sub_item or tou_period",
            ));
        }
    };
    let top = match q.top {
        None => None,
        Some(n @ 1..=500) => Some(n as usize),
        Some(_) => return Err(ApiError::field("top", "bad_value", "top is 1–500")),
    };
    let premises = subtree(&app, &p, q.premises_id).await?;
    // The span compared with: just before (环比), or a year earlier by the caller's calendar (同比).
    let compared = match q.compare.as_deref() {
        None => None,
        Some("previous") => Some((from - from.duration_until(to), from)),
        Some("year") => {
            let tz = time_zone(&app, &p, None).await?;
            let back = |t: Timestamp| -> ApiResult<Timestamp> {
                t.to_zoned(tz.clone())
                    .checked_sub(jiff::Span::new().years(1))
                    .map(|z| z.timestamp())
                    .map_err(|_| ApiError::field("compare", "bad_value", "no such span a year earlier"))
            };
            Some((back(from)?, back(to)?))
        }
        Some(_) => return Err(ApiError::field("compare", "bad_value", "previous or year")),
    };
    let summary = |from: Timestamp, to: Timestamp| {
        app.store.consumption_summary(Some(p.scope()), premises, timestamp_us(from), timestamp_us(to), grouping)
    };
    let mut groups = summary(from, to).await?;
    let before = match compared {
        Some((f, t)) => Some(summary(f, t).await?),
        None => None,
    };
    if let Some(n) = top {
        groups.sort_by(|a, b| b.consumption_milli.cmp(&a.consumption_milli).then(a.label.cmp(&b.label)));
        groups.truncate(n);
    }
    let unit = |utility: &str| match utility {
        "water" => "m³",
        _ => "kWh",
    };
    let change = |now: i64, then: i64| {
        (then > 0).then(|| {
            let bp = i128::from(now - then) * 10_000 / i128::from(then);
            voltvend_domain::decimal::format_scaled(i64::try_from(bp).unwrap_or(i64::MAX), 2)
        })
    };
    let row = |key: &str, label: &str, utility: &str, meters: i64, readings: i64, milli: i64, then: Option<i64>| {
        ConsumptionRowView {
            key: key.to_string(),
            label: label.to_string(),
            utility: utility.to_string(),
            meters,
            readings,
            consumption: quantity(milli, unit(utility)),
            previous: then.map(|v| quantity(v, unit(utility))),
            change_percent: then.and_then(|v| change(milli, v)),
        }
    };
    let then_of = |key: &str, utility: &str| {
        before.as_ref().map(|b| {
            b.iter().filter(|g| g.key == key && g.utility == utility).map(|g| g.consumption_milli).sum::<i64>()
        })
    };
    let rows: Vec<ConsumptionRowView> = groups
        .iter()
        .map(|g| {
            let then = then_of(&g.key, &g.utility);
            row(&g.key, &g.label, &g.utility, g.meters, g.readings, g.consumption_milli, then)
        })
        .collect();
    // Per utility: (meters, readings, milli-units) of the rows shown, and what all of them used before.
    let mut sums: Vec<(&str, i64, i64, i64)> = Vec::new();
    for g in &groups {
        match sums.iter_mut().find(|t| t.0 == g.utility) {
            Some(t) => (t.1, t.2, t.3) = (t.1 + g.meters, t.2 + g.readings, t.3 + g.consumption_milli),
            None => sums.push((&g.utility, g.meters, g.readings, g.consumption_milli)),
        }
    }
    let total_then = |utility: &str| {
        before.as_ref().map(|b| {
            let shown = |key: &str| rows.iter().any(|r| r.key == key);
            b.iter()
                .filter(|g| g.utility == utility && (top.is_none() || shown(&g.key)))
                .map(|g| g.consumption_milli)
                .sum()
        })
    };
    let totals: Vec<ConsumptionRowView> =
        sums.iter().map(|t| row("", "total", t.0, t.1, t.2, t.3, total_then(t.0))).collect();
    if format != Output::Json {
        let cells: Vec<Vec<Cell>> = rows
            .iter()
            .chain(&totals)
            .map(|r| {
                let mut line = vec![
                    Cell::Text(r.key.clone()),
                    Cell::Text(r.label.clone()),
                    Cell::Text(r.utility.clone()),
                    Cell::Int(r.meters),
                    Cell::Int(r.readings),
                    Cell::Text(r.consumption.unit.clone()),
                    Cell::Text(r.consumption.amount.clone()),
                ];
                if compared.is_some() {
                    line.push(Cell::Text(r.previous.as_ref().map(|q| q.amount.clone()).unwrap_or_default()));
                    line.push(Cell::Text(r.change_percent.clone().unwrap_or_default()));
                }
                line
            })
            .collect();
        let mut lines = vec![format!("{} - {}", instant(from), instant(to))];
        if let Some((f, t)) = compared {
            lines.push(format!("compared with {} - {}", instant(f), instant(t)));
        }
        let header: &[&str] = if compared.is_some() { &CONSUMPTION_COMPARED_HEADER } else { &CONSUMPTION_HEADER };
        return table_file(&app, &p, header, &cells, format, &format!("consumption-by-{group_by}"), lines).await;
    }
    Ok(Json(ConsumptionReportView {
        group_by: group_by.to_string(),
        from: instant(from),
        to: instant(to),
        compared_from: compared.map(|(f, _)| instant(f)),
        compared_to: compared.map(|(_, t)| instant(t)),
        rows,
        totals,
    })
    .into_response())
}

const REFUSED_HEADER: [&str; 11] = [
    "payment_id",
    "at",
    "account_id",
    "meter_id",
    "method",
    "reference",
    "currency",
    "paid",
    "reason_code",
    "reason",
    "refunded_at",
];

/// Refused payments of a period (money taken for a sale that was refused, or for one reversed since: owed back
/// until refunded), as a whole file. The page-by-page list is `GET /api/v1/refused-payments`.
pub async fn refused_payments(
    State(app): State<AppState>,
    Extension(p): Extension<Principal>,
    ApiQuery(q): ApiQuery<RefusedReportQuery>,
) -> ApiResult<Response> {
    let format = format_of(q.format.as_deref().or(Some("csv")), q.lang.as_deref())?;
    if format == Output::Json {
        return Err(ApiError::field("format", "bad_value", "a file: csv, xlsx or pdf (or page /refused-payments)"));
    }
    let (from, to) = period(&q.from, &q.to)?;
    let filter = voltvend_store::RefusedFilter {
        account: None,
        refunded: q.refunded,
        from_us: Some(timestamp_us(from)),
        to_us: Some(timestamp_us(to)),
        ..Default::default()
    };
    let mut currencies = Currencies::default();
    let mut rows = Vec::new();
    let mut after = None;
    loop {
        let page = ListQuery { scope: Some(p.scope()), after: after.take(), limit: ListQuery::LIMIT_MAX };
        let list = app.store.list_refused_payments(&page, &filter).await?;
        for r in &list {
            let c = currencies.of_point(&app, r.vending_point_id).await?;
            rows.push(vec![
                Cell::Text(r.operation_id.to_string()),
                Cell::Text(r.at.to_string()),
                Cell::Text(r.account_id.to_string()),
                Cell::Text(r.meter_id.to_string()),
                Cell::Text(r.method.to_string()),
                Cell::Text(r.reference.clone()),
                Cell::Text(c.code().to_string()),
                Cell::Money(r.paid_minor, c),
                Cell::Text(r.reason_code.clone()),
                Cell::Text(r.reason.clone()),
                Cell::Text(r.refunded_at.map(|t| t.to_string()).unwrap_or_default()),
            ]);
        }
        match list.last() {
            Some(last) if list.len() == ListQuery::LIMIT_MAX as usize => after = Some(last.operation_id.to_string()),
            _ => break,
        }
    }
    let lines = vec![format!("{} - {}", instant(from), instant(to))];
    table_file(&app, &p, &REFUSED_HEADER, &rows, format, "refused-payments", lines).await
}

const CURVE_HEADER: [&str; 6] = ["start", "unit", "consumption", "readings", "demand_unit", "average"];
/// The most buckets a curve has: 62 days by the hour.
const CURVE_BUCKETS_MAX: usize = 62 * 24;

/// 负荷曲线 and peak demand: what the meters used per local hour or day, each bucket's average demand
/// (consumption ÷ the bucket's hours: a day of 23 or 25 hours at a DST change is divided by those), and the
/// bucket of the highest. A reading's consumption counts in the bucket its reading falls in (it ends the
/// interval it measures), so a bucket finer than the meters' reading interval shows their readings, not their
/// load; this is not a maximum-demand register.
pub async fn load_curve(
    State(app): State<AppState>,
    Extension(p): Extension<Principal>,
    ApiQuery(q): ApiQuery<LoadCurveQuery>,
) -> ApiResult<Response> {
    let format = format_of(q.format.as_deref(), q.lang.as_deref())?;
    let (from, to) = period(&q.from, &q.to)?;
    let interval = q.interval.as_deref().unwrap_or("day");
    let step = match interval {
        "hour" => jiff::Span::new().hours(1),
        "day" => jiff::Span::new().days(1),
        _ => return Err(ApiError::field("interval", "bad_value", "hour or day")),
    };
    let (utility, unit, demand_unit) = match q.utility.as_deref().unwrap_or("electricity") {
        "electricity" => ("electricity", "kWh", "kW"),
        "water" => ("water", "m³", "m³/h"),
        _ => return Err(ApiError::field("utility", "bad_value", "electricity or water")),
    };
    let meter = match q.meter_id {
        Some(id) => Some(super::customers::visible_meter(&app, &p, id.into()).await?.meter.id),
        None => None,
    };
    let premises = subtree(&app, &p, q.premises_id).await?;
    let tz = time_zone(&app, &p, None).await?;
    // The buckets: from the local hour or day `from` falls in, a step at a time, until `to`.
    let first = from.to_zoned(tz.clone());
    let first = match interval {
        "hour" => first.with().minute(0).second(0).subsec_nanosecond(0).build(),
        _ => first.start_of_day(),
    }
    .map_err(ApiError::internal)?;
    let mut starts = vec![first];
    while let Some(last) = starts.last() {
        let next = last.checked_add(step).map_err(ApiError::internal)?;
        if next.timestamp() >= to {
            starts.push(next);
            break;
        }
        if starts.len() > CURVE_BUCKETS_MAX {
            return Err(ApiError::field(
                "to",
                "bad_value",
                "a load curve has at most 1 488 buckets (62 days by the hour)",
            ));
        }
        starts.push(next);
    }
    let points = app
        .store
        .consumption_curve(Some(p.scope()), premises, meter, utility, timestamp_us(from), timestamp_us(to))
        .await?;
    let edges: Vec<i64> = starts.iter().map(|z| z.timestamp().as_second()).collect();
    let mut used = vec![(0_i64, 0_i64); edges.len().saturating_sub(1)];
    for (quarter, milli, readings) in points {
        // The bucket whose span holds the quarter's start (readings are within [from, to), so one does).
        let at = quarter.saturating_mul(900);
        let i = edges.partition_point(|e| *e <= at).saturating_sub(1);
        if let Some(b) = used.get_mut(i) {
            b.0 = b.0.saturating_add(milli);
            b.1 = b.1.saturating_add(readings);
        }
    }
    let mut buckets = Vec::with_capacity(used.len());
    let mut peak: Option<(i128, usize)> = None;
    for (i, (milli, readings)) in used.iter().enumerate() {
        let (Some(start), Some(end)) = (edges.get(i), edges.get(i + 1)) else { continue };
        let seconds = i128::from((end - start).max(1));
        // Milli-units per hour: W for electricity (so kW with three decimals), litres per hour (m³/h).
        let per_hour = i128::from(*milli) * 3_600 / seconds;
        if *milli > 0 && peak.is_none_or(|(best, _)| per_hour > best) {
            peak = Some((per_hour, i));
        }
        let start = starts.get(i).map(|z| z.strftime("%Y-%m-%dT%H:%M:%S%:z").to_string()).unwrap_or_default();
        buckets.push(LoadBucketView {
            start,
            consumption: quantity(*milli, unit),
            average: voltvend_domain::decimal::format_scaled(i64::try_from(per_hour).unwrap_or(i64::MAX), 3),
            readings: *readings,
        });
    }
    let total = used.iter().map(|(m, _)| *m).fold(0_i64, i64::saturating_add);
    let peak = peak.and_then(|(_, i)| buckets.get(i).cloned());
    let measured_peaks: Vec<MeasuredPeakView> = if utility == "electricity" {
        let found =
            app.store.peak_demands(Some(p.scope()), premises, meter, timestamp_us(from), timestamp_us(to)).await?;
        found
            .into_iter()
            .map(|d| MeasuredPeakView {
                meter_id: d.meter_id.as_uuid(),
                serial: d.serial,
                demand: voltvend_domain::decimal::format_scaled(d.demand_w, 3),
                at: jiff::Timestamp::from_microsecond(d.at_us)
                    .map(|t| t.to_zoned(tz.clone()).strftime("%Y-%m-%dT%H:%M:%S%:z").to_string())
                    .unwrap_or_default(),
            })
            .collect()
    } else {
        Vec::new()
    };
    if format != Output::Json {
        let rows: Vec<Vec<Cell>> = buckets
            .iter()
            .map(|b| {
                vec![
                    Cell::Text(b.start.clone()),
                    Cell::Text(unit.to_string()),
                    Cell::Text(b.consumption.amount.clone()),
                    Cell::Int(b.readings),
                    Cell::Text(demand_unit.to_string()),
                    Cell::Text(b.average.clone()),
                ]
            })
            .collect();
        let mut lines = vec![format!("{} - {}", instant(from), instant(to))];
        if let Some(pk) = &peak {
            lines.push(format!("peak {} {demand_unit} at {}", pk.average, pk.start));
        }
        if let Some(m) = measured_peaks.first() {
            lines.push(format!("measured maximum demand {} kW at {} ({})", m.demand, m.at, m.serial));
        }
        return table_file(&app, &p, &CURVE_HEADER, &rows, format, &format!("load-curve-{interval}"), lines).await;
    }
    Ok(Json(LoadCurveView {
        utility: utility.to_string(),
        interval: interval.to_string(),
        from: instant(from),
        to: instant(to),
        demand_unit: demand_unit.to_string(),
        total: quantity(total, unit),
        buckets,
        peak,
        measured_peaks,
    })
    .into_response())
}

/// 账单明细: a month of a fee schedule or postpaid billing cycle, one row per unit's charge (bill) — what it is
/// made of, what is paid and still owed — as JSON (the month's view), CSV, XLSX or a printed PDF.
pub async fn bills(
    State(app): State<AppState>,
    Extension(p): Extension<Principal>,
    ClientAddr(source): ClientAddr,
    ApiQuery(q): ApiQuery<BillsQuery>,
) -> ApiResult<Response> {
    let format = format_of(q.format.as_deref(), q.lang.as_deref())?;
    let m = super::fees::month(&app, &p, &source, q.schedule_id, &q.period).await?;
    if format == Output::Json {
        let view = super::fees::period_view(&app, &m.schedule, &m.run, &m.charges, m.issued).await?;
        return Ok(Json(view).into_response());
    }
    let c = m.schedule.currency;
    let mut rows = Vec::with_capacity(m.charges.len());
    for ch in &m.charges {
        rows.push(vec![
            Cell::Text(app.premises(ch.premises_id).await?.name),
            Cell::Text(ch.account_id.to_string()),
            Cell::Text(ch.due_on.to_string()),
            Cell::Money(ch.carried_minor, c),
            Cell::Money(ch.usage_minor, c),
            Cell::Money(super::fees::standing_minor(ch), c),
            Cell::Money(ch.credit_minor, c),
            Cell::Money(ch.late_fee_minor, c),
            Cell::Money(ch.adjusted_minor, c),
            Cell::Money(ch.amount_minor, c),
            Cell::Money(ch.paid_minor, c),
            Cell::Money(ch.outstanding_minor(), c),
        ]);
    }
    let header = [
        "unit",
        "account_id",
        "due_on",
        "carried",
        "usage",
        "standing_charge",
        "credit_applied",
        "late_fee",
        "adjusted",
        "amount",
        "paid",
        "outstanding",
    ];
    let period = super::apportion::period_text(m.run.period);
    let status = if m.issued { "issued" } else { "preview" };
    let lines = vec![format!("{} {period} ({status})", m.schedule.name)];
    table_file(&app, &p, &header, &rows, format, &format!("bills-{period}"), lines).await
}
