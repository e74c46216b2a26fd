//! Receipts (小票) for one sale (or one payment of rent and fees) at a prepaid vending counter, in zh-CN or English, in three forms:
//!
//! * [`html()`]: an 80 mm thermal-printer print view (a standalone HTML5 document whose stylesheet,
//!   [`RECEIPT_CSS`], the server serves at a URL of its own, because its Content-Security-Policy forbids inline
//!   styles and scripts);
//! * [`escpos()`]: bytes for an 80 mm ESC/POS printer, GB18030 for Chinese printers or plain ASCII, with
//!   [`escpos_text()`] and [`escpos_lines()`] to read them back;
//! * [`pdf_a4()`]: an A4 PDF with a subset of a CJK font embedded (found with [`fonts::find_cjk_font`]).
//!
//! The same PDF drawing prints the back office's reports ([`pdf_report()`]: a shift settlement, sales and
//! balance lists) as A4 documents of label–value pairs and tables.
//!
//! All three are drawn from one logical receipt built from [`ReceiptData`], so they always say the same thing.
//! Money is formatted exactly from integer minor units, quantities from integer milli-units; tokens are grouped
//! for reading aloud and typing (STS 4-4-4-4-4, OpenPAYGO by threes). A reprint ([`ReceiptData::copy`]) says
//! 副本 / COPY prominently in every form.
//!
//! **Architecture invariant:** rendering is pure: data in, bytes out. No clock, no randomness, no network, no
//! floats for money or quantities (PDF geometry reaches the PDF library as `f32` only at its API, computed from
//! integer layout units). The only I/O is in [`fonts`]: [`fonts::find_cjk_font`] and
//! [`fonts::FontData::from_file`] read a font file from disk; the server calls them once at start-up and passes
//! the [`FontData`] to every [`pdf_a4`] call.

mod data;
mod error;
mod escpos;
pub mod fonts;
pub mod format;
mod html;
mod layout;
pub mod messages;
mod model;
mod pdf;
mod report;

pub use data::{FeeLine, Language, PaymentMethod, ReceiptData, ReceiptKind, TokenKind};
pub use error::ReceiptError;
pub use escpos::{Align, COLUMNS, EscPosEncoding, PrintedLine, escpos, escpos_lines, escpos_text};
pub use fonts::FontData;
pub use html::{RECEIPT_CSS, html};
pub use pdf::pdf_a4;
pub use report::{ReportBlock, ReportDocument, pdf_report};
