//! The receipt as bytes for an 80 mm ESC/POS thermal printer: 48 columns in font A (12 × 24 dots on a 576-dot
//! line); a Chinese character takes two columns.
//!
//! Commands emitted, by their names in Epson's *ESC/POS Command Reference*:
//!
//! | bytes | name | use |
//! |---|---|---|
//! | `ESC @` (1B 40) | Initialize printer | first, so no mode from a previous job survives |
//! | `FS &` (1C 26) | Select Kanji character mode (Chinese character mode on Chinese models) | [`EscPosEncoding::Gb18030`] only, after `ESC @`: the printer then reads multi-byte GB18030 codes |
//! | `ESC a n` (1B 61 n) | Select justification | header, banner and token centered (1), back to left (0) |
//! | `ESC E n` (1B 45 n) | Turn emphasized mode on/off | header, total, banner and token |
//! | `GS ! n` (1D 21 n) | Select character size | `0x11` double width and height for the token and banner, `0x01` double height for the header (and for a token too wide for double width), `0x00` back to normal |
//! | `GS B n` (1D 42 n) | Turn white/black reverse print mode on/off | the 副本 / COPY banner of a reprint |
//! | `LF` (0A) | Print and line feed | ends every line |
//! | `GS V 66 0` (1D 56 42 00) | Select cut mode and cut paper, function B | last: feed to the cutting position and cut (partial cut where the model has one) |
//!
//! Style commands are sent at the start of a line and reset after its `LF`, so every line stands alone. Text
//! is GB18030 (via `encoding_rs`) in Chinese mode, or ASCII for printers without a Chinese font, where anything
//! else prints as `?` (`³` as `3`). GB18030 never uses a byte below 0x20 in a multi-byte code, so text cannot
//! be mistaken for a command; control characters in user input never reach the printer (see `model::clean`).
//!
//! [`escpos_lines`] reads such bytes back, refusing any command it does not know, for tests here and in the
//! server.

use std::borrow::Cow;

use encoding_rs::GB18030;

use crate::data::ReceiptData;
use crate::error::ReceiptError;
use crate::layout::wrap;
use crate::model::{Model, RowKind};

const ESC: u8 = 0x1B;
const GS: u8 = 0x1D;
const FS: u8 = 0x1C;
const LF: u8 = 0x0A;

/// Columns of font A on 80 mm paper.
pub const COLUMNS: usize = 48;

/// `GS !` sizes: the high nibble is the width multiplier minus one, the low nibble the height's.
const SIZE_NORMAL: u8 = 0x00;
const SIZE_DOUBLE_HEIGHT: u8 = 0x01;
const SIZE_DOUBLE: u8 = 0x11;

/// How text is sent to the printer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EscPosEncoding {
    /// Chinese printers: `FS &`, then GB18030.
    Gb18030,
    /// Printers without a Chinese font: ASCII only, anything else as `?`.
    Ascii,
}

/// Justification of a line (`ESC a`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Align {
    #[default]
    Left,
    Center,
    Right,
}

/// One printed line as read back from ESC/POS bytes, with the modes it was printed in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrintedLine {
    pub text: String,
    pub align: Align,
    pub bold: bool,
    /// Character width multiplier (`GS !`), 1 to 8.
    pub width_scale: u8,
    /// Character height multiplier (`GS !`), 1 to 8.
    pub height_scale: u8,
    pub reverse: bool,
}

impl PrintedLine {
    /// The columns of font A the line takes: ASCII one, any other character two (a GB18030 multi-byte code
    /// prints as a full-width Chinese character), times the width multiplier.
    pub fn columns(&self) -> usize {
        columns(&self.text) * usize::from(self.width_scale)
    }
}

fn columns(text: &str) -> usize {
    text.chars().map(|c| if c.is_ascii() { 1 } else { 2 }).sum()
}

#[derive(Debug, Clone, Copy, Default)]
struct Style {
    align: Align,
    bold: bool,
    size: u8,
    reverse: bool,
}

impl Style {
    const PLAIN: Style = Style { align: Align::Left, bold: false, size: SIZE_NORMAL, reverse: false };
    const fn centered(self) -> Style {
        Style { align: Align::Center, ..self }
    }
    const fn bold(self) -> Style {
        Style { bold: true, ..self }
    }
    const fn size(self, size: u8) -> Style {
        Style { size, ..self }
    }
}

struct Printer {
    out: Vec<u8>,
    encoding: EscPosEncoding,
}

impl Printer {
    /// What the printer can print of `text`: unchanged for GB18030, ASCII with `?` otherwise.
    fn printable(&self, text: &str) -> String {
        match self.encoding {
            EscPosEncoding::Gb18030 => text.to_string(),
            EscPosEncoding::Ascii => text
                .chars()
                .map(|c| match c {
                    ' '..='~' => c,
                    '³' => '3',
                    '²' => '2',
                    _ => '?',
                })
                .collect(),
        }
    }

    fn encode(&mut self, text: &str) {
        match self.encoding {
            EscPosEncoding::Ascii => self.out.extend(text.bytes().map(|b| if b.is_ascii() { b } else { b'?' })),
            EscPosEncoding::Gb18030 => {
                let (bytes, _, had_errors) = GB18030.encode(text);
                if !had_errors {
                    self.out.extend_from_slice(&bytes);
                    return;
                }
                // A code point GB18030's encoder refuses prints as `?` rather than as an HTML entity.
                let mut buf = [0_u8; 4];
                for c in text.chars() {
                    let (bytes, _, had_errors) = GB18030.encode(c.encode_utf8(&mut buf));
                    if had_errors {
                        self.out.push(b'?');
                    } else {
                        self.out.extend_from_slice(&bytes);
                    }
                }
            }
        }
    }

    /// Prints one line (already printable and at most [`COLUMNS`] wide at its size) in `style`.
    fn line(&mut self, style: Style, text: &str) {
        let align = match style.align {
            Align::Left => 0,
            Align::Center => 1,
            Align::Right => 2,
        };
        if align != 0 {
            self.out.extend([ESC, b'a', align]);
        }
        if style.bold {
            self.out.extend([ESC, b'E', 1]);
        }
        if style.size != SIZE_NORMAL {
            self.out.extend([GS, b'!', style.size]);
        }
        if style.reverse {
            self.out.extend([GS, b'B', 1]);
        }
        self.encode(text);
        self.out.push(LF);
        if style.reverse {
            self.out.extend([GS, b'B', 0]);
        }
        if style.size != SIZE_NORMAL {
            self.out.extend([GS, b'!', SIZE_NORMAL]);
        }
        if style.bold {
            self.out.extend([ESC, b'E', 0]);
        }
        if align != 0 {
            self.out.extend([ESC, b'a', 0]);
        }
    }

    /// Prints `text` wrapped to the line width at the style's character width.
    fn wrapped(&mut self, style: Style, text: &str) {
        let text = self.printable(text);
        let scale = i64::from(style.size >> 4) + 1;
        let max = i64::try_from(COLUMNS).unwrap_or(48) / scale;
        for part in wrap(&text, max, |c| if c.is_ascii() { 1 } else { 2 }) {
            self.line(style, &part);
        }
    }

    fn rule(&mut self) {
        self.line(Style::PLAIN, &"-".repeat(COLUMNS));
    }

    /// A label and its value on one line, the value right-aligned; if they do not fit, the label and then the
    /// value right-aligned on lines of their own.
    fn row(&mut self, style: Style, label: &str, value: &str) {
        let (label, value) = (self.printable(label), self.printable(value));
        let (label_cols, value_cols) = (columns(&label), columns(&value));
        if label_cols + 1 + value_cols <= COLUMNS {
            let gap = " ".repeat(COLUMNS - label_cols - value_cols);
            self.line(style, &format!("{label}{gap}{value}"));
            return;
        }
        self.wrapped(style, &label);
        let width = |c: char| if c.is_ascii() { 1 } else { 2 };
        for part in wrap(&value, i64::try_from(COLUMNS).unwrap_or(48) - 2, width) {
            let pad = " ".repeat(COLUMNS.saturating_sub(columns(&part)));
            self.line(style, &format!("{pad}{part}"));
        }
    }
}

/// The receipt as ESC/POS bytes for an 80 mm printer.
pub fn escpos(data: &ReceiptData, encoding: EscPosEncoding) -> Result<Vec<u8>, ReceiptError> {
    let model = Model::build(data)?;
    let mut p = Printer { out: Vec::with_capacity(2048), encoding };
    p.out.extend([ESC, b'@']);
    if encoding == EscPosEncoding::Gb18030 {
        p.out.extend([FS, b'&']);
    }
    let banner = Style { reverse: true, ..Style::PLAIN.centered().bold().size(SIZE_DOUBLE) };
    if let Some(copy) = model.copy {
        p.wrapped(banner, &format!("*** {} ***", copy.label));
        p.wrapped(Style::PLAIN.centered().bold(), copy.note);
    }
    p.wrapped(Style::PLAIN.centered().bold().size(SIZE_DOUBLE_HEIGHT), &model.property);
    p.wrapped(Style::PLAIN.centered().bold(), model.title);
    for section in &model.sections {
        p.rule();
        for row in section {
            match row.kind {
                RowKind::Text | RowKind::Amount => p.row(Style::PLAIN, row.label, &row.value),
                RowKind::Total => p.row(Style::PLAIN.bold(), row.label, &row.value),
                RowKind::Part => p.row(Style::PLAIN, &format!("  {}", row.label), &row.value),
            }
        }
    }
    if !model.tokens.is_empty() {
        p.rule();
        for token in &model.tokens {
            p.wrapped(Style::PLAIN.centered(), &token.label);
            // Double width when the grouped token fits in half the line (every STS token: 24 columns).
            let size = if columns(&token.grouped) * 2 <= COLUMNS { SIZE_DOUBLE } else { SIZE_DOUBLE_HEIGHT };
            p.wrapped(Style::PLAIN.centered().bold().size(size), &token.grouped);
        }
        if let Some(note) = model.tokens_note {
            p.wrapped(Style::PLAIN.centered(), note);
        }
    }
    p.rule();
    p.wrapped(Style::PLAIN.centered(), model.footer);
    if let Some(copy) = model.copy {
        p.wrapped(Style::PLAIN.centered().bold(), &format!("*** {} ***", copy.label));
    }
    p.out.extend([GS, b'V', 66, 0]);
    Ok(p.out)
}

fn malformed(offset: usize, reason: &'static str) -> ReceiptError {
    ReceiptError::EscPosMalformed { offset, reason }
}

/// Reads ESC/POS bytes written by [`escpos`] back into lines with their modes. Refuses any command not in
/// the table of the module docs, Chinese text outside Chinese character mode, invalid GB18030, and text left
/// without a final `LF` (a printer would never print it).
pub fn escpos_lines(bytes: &[u8], encoding: EscPosEncoding) -> Result<Vec<PrintedLine>, ReceiptError> {
    let mut lines = Vec::new();
    let mut style = Style::PLAIN;
    let mut chinese_mode = false;
    let mut pending: Vec<u8> = Vec::new();
    let mut pending_start = 0;
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        let param = |k: usize| bytes.get(i + k).copied().ok_or_else(|| malformed(i, "command cut short"));
        match b {
            LF => {
                let text = decode(&pending, encoding).ok_or_else(|| malformed(pending_start, "invalid text"))?;
                lines.push(PrintedLine {
                    text: text.into_owned(),
                    align: style.align,
                    bold: style.bold,
                    width_scale: (style.size >> 4) + 1,
                    height_scale: (style.size & 0x0F) + 1,
                    reverse: style.reverse,
                });
                pending.clear();
                i += 1;
            }
            ESC => match param(1)? {
                b'@' => {
                    if !pending.is_empty() {
                        return Err(malformed(i, "ESC @ discards unprinted text"));
                    }
                    style = Style::PLAIN;
                    chinese_mode = false;
                    i += 2;
                }
                b'a' => {
                    style.align = match param(2)? {
                        0 | b'0' => Align::Left,
                        1 | b'1' => Align::Center,
                        2 | b'2' => Align::Right,
                        _ => return Err(malformed(i, "ESC a with an unknown justification")),
                    };
                    i += 3;
                }
                b'E' => {
                    style.bold = param(2)? & 1 == 1;
                    i += 3;
                }
                _ => return Err(malformed(i, "unknown ESC command")),
            },
            GS => match param(1)? {
                b'!' => {
                    let size = param(2)?;
                    if size & 0x88 != 0 {
                        return Err(malformed(i, "GS ! with a size above 8"));
                    }
                    style.size = size;
                    i += 3;
                }
                b'B' => {
                    style.reverse = param(2)? & 1 == 1;
                    i += 3;
                }
                b'V' => match param(2)? {
                    0 | 1 | 48 | 49 => i += 3,
                    65 | 66 => {
                        param(3)?;
                        i += 4;
                    }
                    _ => return Err(malformed(i, "GS V with an unknown cut mode")),
                },
                _ => return Err(malformed(i, "unknown GS command")),
            },
            FS => {
                chinese_mode = match param(1)? {
                    b'&' => true,
                    b'.' => false,
                    _ => return Err(malformed(i, "unknown FS command")),
                };
                i += 2;
            }
            0x00..=0x1F | 0x7F => return Err(malformed(i, "unexpected control byte")),
            _ => {
                if b >= 0x80 {
                    match encoding {
                        EscPosEncoding::Ascii => return Err(malformed(i, "a byte above 0x7F in ASCII output")),
                        EscPosEncoding::Gb18030 if !chinese_mode => {
                            return Err(malformed(i, "multi-byte text outside Chinese character mode (FS &)"));
                        }
                        EscPosEncoding::Gb18030 => {}
                    }
                }
                if pending.is_empty() {
                    pending_start = i;
                }
                pending.push(b);
                i += 1;
            }
        }
    }
    if !pending.is_empty() {
        return Err(malformed(pending_start, "text without a final LF is never printed"));
    }
    Ok(lines)
}

fn decode(bytes: &[u8], encoding: EscPosEncoding) -> Option<Cow<'_, str>> {
    match encoding {
        EscPosEncoding::Gb18030 => GB18030.decode_without_bom_handling_and_without_replacement(bytes),
        EscPosEncoding::Ascii => std::str::from_utf8(bytes).ok().map(Cow::Borrowed),
    }
}

/// The printed text of ESC/POS bytes written by [`escpos`]: the lines of [`escpos_lines`] joined with `\n`,
/// without their modes.
pub fn escpos_text(bytes: &[u8], encoding: EscPosEncoding) -> Result<String, ReceiptError> {
    let lines = escpos_lines(bytes, encoding)?;
    Ok(lines.into_iter().map(|l| l.text).collect::<Vec<_>>().join("\n"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn printer(encoding: EscPosEncoding) -> Printer {
        Printer { out: Vec::new(), encoding }
    }

    #[test]
    fn a_styled_line_is_framed_by_its_commands() {
        let mut p = printer(EscPosEncoding::Gb18030);
        p.line(Style::PLAIN.centered().bold().size(SIZE_DOUBLE), "副本");
        // 副 = B8 B1, 本 = B1 BE in GB2312, which GB18030 contains.
        assert_eq!(
            p.out,
            [
                0x1B, 0x61, 1, 0x1B, 0x45, 1, 0x1D, 0x21, 0x11, 0xB8, 0xB1, 0xB1, 0xBE, 0x0A, 0x1D, 0x21, 0, 0x1B,
                0x45, 0, 0x1B, 0x61, 0
            ]
        );
    }

    #[test]
    fn ascii_printers_get_question_marks() {
        let mut p = printer(EscPosEncoding::Ascii);
        let text = p.printable("王芳 1.5 m³");
        assert_eq!(text, "?? 1.5 m3");
        p.encode(&text);
        assert_eq!(p.out, b"?? 1.5 m3");
    }

    #[test]
    fn rows_right_align_by_display_width() {
        let mut p = printer(EscPosEncoding::Gb18030);
        p.row(Style::PLAIN, "客户", "王芳");
        // Outside FS & the decoder refuses multi-byte text.
        assert!(escpos_lines(&p.out, EscPosEncoding::Gb18030).is_err());

        let mut p = printer(EscPosEncoding::Gb18030);
        p.out.extend([FS, b'&']);
        p.row(Style::PLAIN, "客户", "王芳");
        p.row(Style::PLAIN, "Premises", &"A".repeat(45));
        let lines = escpos_lines(&p.out, EscPosEncoding::Gb18030).unwrap();
        let texts: Vec<&str> = lines.iter().map(|l| l.text.as_str()).collect();
        assert_eq!(texts, [format!("客户{}王芳", " ".repeat(40)), "Premises".into(), format!("   {}", "A".repeat(45))]);
        assert!(lines.iter().all(|l| l.columns() == 48 || l.text == "Premises"));
    }

    #[test]
    fn the_decoder_refuses_what_it_does_not_know() {
        for (bytes, reason) in [
            (&b"\x1b@abc"[..], "text without a final LF is never printed"),
            (&b"\x1bX\n"[..], "unknown ESC command"),
            (&b"\x1d!"[..], "command cut short"),
            (&b"\x1d!\x99\n"[..], "GS ! with a size above 8"),
            (&b"a\tb\n"[..], "unexpected control byte"),
            (&b"\x1c&\xff\xff\n"[..], "invalid text"),
        ] {
            match escpos_lines(bytes, EscPosEncoding::Gb18030) {
                Err(ReceiptError::EscPosMalformed { reason: got, .. }) => assert_eq!(got, reason, "{bytes:?}"),
                other => panic!("{bytes:?}: {other:?}"),
            }
        }
        assert!(escpos_lines(b"\xa1\n", EscPosEncoding::Ascii).is_err());
    }
}
