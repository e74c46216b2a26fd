//! Printed reports (the shift settlement, sales and balance lists) as A4 PDFs, drawn the way receipts are: text
//! of any script with the embedded subset of a CJK font, Latin-1 text in Courier without one, the same data
//! giving the same bytes.
//!
//! A report is a title, a few lines saying what it covers, and blocks: label–value pairs, or tables whose
//! columns share the page's width in proportion to what they hold at their widest (a cell wider than its column wraps), whose
//! numbers are right-aligned, and whose header is repeated at the top of every page.

use crate::data::Language;
use crate::error::ReceiptError;
use crate::fonts::FontData;
use crate::model::RowKind;
use crate::pdf::{
    CONTENT_W, Face, Item, Layout, MARGIN, MPT, RIGHT, SIZE_BODY, SIZE_FOOTER, SIZE_PROPERTY, SIZE_TITLE, line_height,
    render,
};

/// A report to print.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportDocument {
    pub language: Language,
    /// Who it is for (the property or the group).
    pub heading: String,
    pub title: String,
    /// What it covers: the period, the premises, the shift.
    pub lines: Vec<String>,
    pub blocks: Vec<ReportBlock>,
    /// At the foot of the last page (when it was printed, by whom).
    pub footer: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReportBlock {
    /// Labels and their values; `true` right-aligns a value (an amount).
    Pairs(Vec<(String, String, bool)>),
    /// A table: a header, rows of as many cells, and which columns are right-aligned (numbers).
    Table { header: Vec<String>, rows: Vec<Vec<String>>, right: Vec<bool> },
}

/// The space between two columns.
const GUTTER: i64 = 6 * MPT;

impl ReportDocument {
    fn texts(&self) -> Vec<&str> {
        let mut all = vec![self.heading.as_str(), self.title.as_str(), self.footer.as_str()];
        all.extend(self.lines.iter().map(String::as_str));
        for block in &self.blocks {
            match block {
                ReportBlock::Pairs(pairs) => {
                    for (label, value, _) in pairs {
                        all.extend([label.as_str(), value.as_str()]);
                    }
                }
                ReportBlock::Table { header, rows, .. } => {
                    all.extend(header.iter().map(String::as_str));
                    all.extend(rows.iter().flatten().map(String::as_str));
                }
            }
        }
        all
    }
}

/// The report as an A4 PDF; `font` is needed for any text outside Latin-1.
pub fn pdf_report(doc: &ReportDocument, font: Option<&FontData>) -> Result<Vec<u8>, ReceiptError> {
    for block in &doc.blocks {
        if let ReportBlock::Table { header, rows, right } = block
            && (right.len() != header.len() || rows.iter().any(|r| r.len() != header.len()))
        {
            return Err(ReceiptError::Pdf("a table row has another number of cells than its header".into()));
        }
    }
    let needed = match doc.language {
        Language::ZhCn => "a Chinese report",
        Language::En => "",
    };
    render(&doc.texts(), font, doc.language, &doc.title, needed, |face| lay_out(doc, face))
}

fn lay_out(doc: &ReportDocument, face: &Face<'_>) -> Vec<Vec<Item>> {
    let mut l = Layout { face, pages: vec![Vec::new()], y: MARGIN };
    l.centered(SIZE_PROPERTY, true, &doc.heading);
    l.centered(SIZE_TITLE, true, &doc.title);
    for line in &doc.lines {
        l.centered(SIZE_BODY, false, line);
    }
    for block in &doc.blocks {
        l.rule();
        match block {
            ReportBlock::Pairs(pairs) => {
                for (label, value, right) in pairs {
                    l.row(label, value, if *right { RowKind::Amount } else { RowKind::Text });
                }
            }
            ReportBlock::Table { header, rows, right } => table(&mut l, header, rows, right),
        }
    }
    l.rule();
    l.centered(SIZE_FOOTER, false, &doc.footer);
    l.pages
}

/// Column widths: each column as wide as what it holds at its widest when they all fit, the room left shared
/// out in proportion; when they do not, the widest columns are narrowed to a common width (so that they wrap)
/// and the narrow ones — amounts, dates, codes — keep theirs.
fn widths(face: &Face<'_>, header: &[String], rows: &[Vec<String>], size: i64) -> Vec<i64> {
    let natural: Vec<i64> = (0..header.len())
        .map(|i| {
            std::iter::once(header.get(i))
                .chain(rows.iter().map(|r| r.get(i)))
                .flatten()
                .map(|t| face.width(t, size))
                .max()
                .unwrap_or(0)
                .max(MPT)
                + GUTTER
        })
        .collect();
    let total: i64 = natural.iter().sum();
    if total <= CONTENT_W {
        let extra = CONTENT_W - total;
        return natural.iter().map(|w| w + (i128::from(extra) * i128::from(*w) / i128::from(total)) as i64).collect();
    }
    // The common width `cap` of the widest columns: the narrow ones, taken narrowest first, keep theirs while
    // the rest can share what is left evenly at a width no less than theirs.
    let mut sorted = natural.clone();
    sorted.sort_unstable();
    let mut left = CONTENT_W;
    let mut cap = CONTENT_W;
    for (k, w) in sorted.iter().enumerate() {
        let rest = i64::try_from(sorted.len() - k).unwrap_or(1);
        if *w * rest <= left {
            left -= w;
        } else {
            cap = left / rest;
            break;
        }
    }
    natural.iter().map(|w| (*w).min(cap)).collect()
}

fn table(l: &mut Layout<'_>, header: &[String], rows: &[Vec<String>], right: &[bool]) {
    let size = SIZE_BODY - 1;
    let widths = widths(l.face, header, rows, size);
    let wrap = |l: &Layout<'_>, cells: &[String]| -> Vec<Vec<String>> {
        cells.iter().zip(&widths).map(|(c, w)| l.wrap(c, size, (w - GUTTER).max(MPT))).collect()
    };
    let height = |wrapped: &[Vec<String>]| {
        i64::try_from(wrapped.iter().map(Vec::len).max().unwrap_or(1)).unwrap_or(1) * line_height(size)
    };
    let draw = |l: &mut Layout<'_>, wrapped: &[Vec<String>], bold: bool| {
        let top = l.y;
        let mut x = MARGIN;
        for ((cell, w), r) in wrapped.iter().zip(&widths).zip(right) {
            for (i, line) in (0_i64..).zip(cell) {
                let at = if *r { (x + w - GUTTER - l.face.width(line, size)).min(RIGHT) } else { x };
                l.run(at, top + i * line_height(size), size, bold, line);
            }
            x += w;
        }
        l.y = top + height(wrapped);
    };
    let head = wrap(l, header);
    // The header with at least one row under it, on whichever page that fits.
    let first = rows.first().map(|r| wrap(l, r));
    l.room(height(&head) + first.as_deref().map_or(0, height));
    draw(l, &head, true);
    for row in rows {
        let cells = wrap(l, row);
        let pages = l.pages.len();
        l.room(height(&cells));
        if l.pages.len() != pages {
            // A new page: its own header first.
            l.room(height(&head) + height(&cells));
            draw(l, &head, true);
        }
        draw(l, &cells, false);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pdf::{PAGE_H, PAGE_W};

    fn doc(rows: usize, wide: bool) -> ReportDocument {
        let cell = |i: usize| {
            if wide { format!("a rather long description of line {i} that cannot fit") } else { i.to_string() }
        };
        ReportDocument {
            language: Language::En,
            heading: "Riverside".into(),
            title: "Sales by operator".into(),
            lines: vec!["2026-11-23".into()],
            blocks: vec![
                ReportBlock::Pairs(vec![("Sales".into(), "3".into(), true)]),
                ReportBlock::Table {
                    header: vec!["key".into(), "label".into(), "paid".into()],
                    rows: (0..rows).map(|i| vec![format!("k{i}"), cell(i), format!("{i}.00")]).collect(),
                    right: vec![false, false, true],
                },
            ],
            footer: "printed".into(),
        }
    }

    fn runs(pages: &[Vec<Item>]) -> Vec<Vec<&crate::pdf::Run>> {
        pages
            .iter()
            .map(|p| {
                p.iter()
                    .filter_map(|i| match i {
                        Item::Text(r) => Some(r),
                        _ => None,
                    })
                    .collect()
            })
            .collect()
    }

    #[test]
    fn a_long_table_repeats_its_header_on_every_page_and_keeps_within_the_margins() {
        let d = doc(150, false);
        let pages = lay_out(&d, &Face::Courier);
        assert!(pages.len() > 2, "{} pages", pages.len());
        let all = runs(&pages);
        for (n, page) in all.iter().enumerate() {
            let headers = page.iter().filter(|r| r.bold && r.text == "key").count();
            let has_rows = page.iter().any(|r| !r.bold && r.text.starts_with('k'));
            assert_eq!(headers, usize::from(has_rows), "page {n} has its header once when it has rows");
            for r in page {
                assert!(r.x >= MARGIN && r.x + Face::Courier.width(&r.text, r.size) <= RIGHT + 1, "{r:?}");
                assert!(r.baseline < PAGE_H - MARGIN + line_height(SIZE_BODY), "{r:?}");
            }
        }
        // Every row once, in order.
        let keys: Vec<&str> =
            all.iter().flatten().filter(|r| !r.bold && r.text.starts_with('k')).map(|r| r.text.as_str()).collect();
        assert_eq!(keys, (0..150).map(|i| format!("k{i}")).collect::<Vec<_>>());
        // Amounts are right-aligned at their column's edge.
        let ends: std::collections::BTreeSet<i64> = all
            .iter()
            .flatten()
            .filter(|r| !r.bold && r.text.ends_with(".00"))
            .map(|r| r.x + Face::Courier.width(&r.text, r.size))
            .collect();
        assert_eq!(ends.len(), 1, "{ends:?}");
    }

    #[test]
    fn cells_wider_than_the_page_wrap_inside_their_column() {
        let d = doc(3, true);
        let pages = lay_out(&d, &Face::Courier);
        for r in runs(&pages).iter().flatten() {
            assert!(r.x + Face::Courier.width(&r.text, r.size) <= PAGE_W - MARGIN + 1, "{r:?}");
        }
        let pdf = pdf_report(&d, None).unwrap();
        assert!(pdf.starts_with(b"%PDF"));
    }

    #[test]
    fn refusals_say_why() {
        let mut d = doc(1, false);
        d.language = Language::ZhCn;
        d.title = "售电日报".into();
        assert!(matches!(pdf_report(&d, None), Err(ReceiptError::FontMissing { .. })));
        let mut d = doc(1, false);
        if let Some(ReportBlock::Table { rows, .. }) = d.blocks.last_mut() {
            rows[0].pop();
        }
        assert!(matches!(pdf_report(&d, None), Err(ReceiptError::Pdf(_))));
    }
}
