//! The receipt as an A4 PDF.
//!
//! With a font ([`FontData`], normally Noto Sans CJK SC from [`crate::fonts::find_cjk_font`]) the text is
//! drawn with `krilla`, which embeds only the glyphs used (a subset of a 20 MB collection stays a few
//! kilobytes) as a CID font with a ToUnicode map, so the text can be searched, copied and extracted. Every
//! character is checked against the font's character map first: a character the font lacks is an error
//! ([`ReceiptError::GlyphMissing`]), never a blank box in the PDF.
//!
//! Without a font, a receipt whose text is all Latin-1 (an English receipt with Latin names) is written with
//! `pdf-writer` in the standard Courier font (WinAnsiEncoding, not embedded, every glyph 600/1000 em wide). Any
//! other text without a font is [`ReceiptError::FontMissing`].
//!
//! Layout is in integer thousandths of a point; the PDF libraries take `f32` coordinates, converted at the
//! call only. Nothing here reads a clock: the PDF has no creation date, so the same data gives the same bytes.

use krilla::geom::{PathBuilder, Point, Rect as KrillaRect};
use krilla::metadata::Metadata;
use krilla::page::PageSettings;
use krilla::paint::{Fill, LineJoin, Stroke};
use krilla::text::{GlyphId, KrillaGlyph};
use krilla::{Document, SerializeSettings};
use pdf_writer::{Content, Finish, Name, Pdf, Rect, Ref, Str, TextStr};
use skrifa::MetadataProvider;
use skrifa::charmap::Charmap;
use skrifa::raw::TableProvider;
use skrifa::raw::tables::hmtx::Hmtx;

use crate::data::{Language, ReceiptData};
use crate::error::ReceiptError;
use crate::fonts::FontData;
use crate::layout::wrap;
use crate::model::{Model, RowKind};

/// Thousandths of a point in a point.
pub(crate) const MPT: i64 = 1000;
/// A4: 210 mm × 297 mm.
pub(crate) const PAGE_W: i64 = 595_276;
pub(crate) const PAGE_H: i64 = 841_890;
/// 20 mm.
pub(crate) const MARGIN: i64 = 56_693;
pub(crate) const CONTENT_W: i64 = PAGE_W - 2 * MARGIN;
pub(crate) const RIGHT: i64 = PAGE_W - MARGIN;
/// Where a row's value starts; its label gets the space before.
const VALUE_X: i64 = MARGIN + 160 * MPT;
const LABEL_W: i64 = VALUE_X - MARGIN - 10 * MPT;
const PART_INDENT: i64 = 14 * MPT;

const SIZE_BANNER: i64 = 28;
pub(crate) const SIZE_PROPERTY: i64 = 16;
pub(crate) const SIZE_TITLE: i64 = 13;
pub(crate) const SIZE_BODY: i64 = 10;
const SIZE_TOKEN: i64 = 22;
pub(crate) const SIZE_FOOTER: i64 = 9;

/// How text is measured and drawn.
pub(crate) enum Face<'a> {
    Embedded {
        charmap: Charmap<'a>,
        hmtx: Hmtx<'a>,
        units_per_em: i64,
    },
    /// The standard Courier fonts: every glyph 600/1000 em.
    Courier,
}

impl Face<'_> {
    fn units_per_em(&self) -> i64 {
        match self {
            Face::Embedded { units_per_em, .. } => *units_per_em,
            Face::Courier => 1000,
        }
    }

    /// The glyph and its advance in font units (0 for a glyph the font lacks, which callers have excluded).
    fn glyph(&self, ch: char) -> (u32, i64) {
        match self {
            Face::Embedded { charmap, hmtx, .. } => match charmap.map(ch) {
                Some(gid) => (gid.to_u32(), hmtx.advance(gid).map_or(0, i64::from)),
                None => (0, 0),
            },
            Face::Courier => (0, 600),
        }
    }

    /// The width of `text` at `size` points, in thousandths of a point.
    pub(crate) fn width(&self, text: &str, size: i64) -> i64 {
        let units: i64 = text.chars().map(|c| self.glyph(c).1).sum();
        units * size * MPT / self.units_per_em().max(1)
    }

    pub(crate) fn char_width(&self, ch: char, size: i64) -> i64 {
        self.glyph(ch).1 * size * MPT / self.units_per_em().max(1)
    }
}

/// A line of text at a baseline, in thousandths of a point from the page's top-left corner.
#[derive(Debug)]
pub(crate) struct Run {
    pub(crate) x: i64,
    pub(crate) baseline: i64,
    pub(crate) size: i64,
    pub(crate) bold: bool,
    pub(crate) text: String,
}

#[derive(Debug)]
pub(crate) enum Item {
    Text(Run),
    /// A horizontal rule from `x1` to `x2` at `y`, `width` thick.
    Rule {
        x1: i64,
        x2: i64,
        y: i64,
        width: i64,
    },
    /// A rectangle's outline.
    Frame {
        x: i64,
        y: i64,
        w: i64,
        h: i64,
        width: i64,
    },
}

/// Places the model's lines on A4 pages, top to bottom, starting a new page when one is full.
pub(crate) struct Layout<'f> {
    pub(crate) face: &'f Face<'f>,
    pub(crate) pages: Vec<Vec<Item>>,
    pub(crate) y: i64,
}

pub(crate) fn line_height(size: i64) -> i64 {
    size * MPT * 3 / 2
}

impl Layout<'_> {
    pub(crate) fn push(&mut self, item: Item) {
        if self.pages.is_empty() {
            self.pages.push(Vec::new());
        }
        if let Some(page) = self.pages.last_mut() {
            page.push(item);
        }
    }

    /// Makes room for `height` on the current page, or starts a new one.
    pub(crate) fn room(&mut self, height: i64) {
        if self.y + height > PAGE_H - MARGIN && self.y > MARGIN {
            self.pages.push(Vec::new());
            self.y = MARGIN;
        }
    }

    pub(crate) fn gap(&mut self, points: i64) {
        self.y += points * MPT;
    }

    pub(crate) fn wrap(&self, text: &str, size: i64, max: i64) -> Vec<String> {
        wrap(text, max, |c| self.face.char_width(c, size))
    }

    /// One line of text with its left edge at `x` (the baseline is placed within the line's height).
    pub(crate) fn run(&mut self, x: i64, y: i64, size: i64, bold: bool, text: &str) {
        let baseline = y + size * MPT * 23 / 20;
        self.push(Item::Text(Run { x, baseline, size, bold, text: text.to_string() }));
    }

    pub(crate) fn centered(&mut self, size: i64, bold: bool, text: &str) {
        for line in self.wrap(text, size, CONTENT_W) {
            self.room(line_height(size));
            let x = MARGIN + (CONTENT_W - self.face.width(&line, size)) / 2;
            self.run(x, self.y, size, bold, &line);
            self.y += line_height(size);
        }
    }

    pub(crate) fn rule(&mut self) {
        self.gap(4);
        self.room(MPT);
        self.push(Item::Rule { x1: MARGIN, x2: RIGHT, y: self.y, width: MPT * 6 / 10 });
        self.gap(6);
    }

    /// A label and its value: text values from [`VALUE_X`], amounts right-aligned; either wraps.
    pub(crate) fn row(&mut self, label: &str, value: &str, kind: RowKind) {
        let size = SIZE_BODY;
        let bold = kind == RowKind::Total;
        let indent = if kind == RowKind::Part { PART_INDENT } else { 0 };
        let labels = self.wrap(label, size, LABEL_W - indent);
        let values = self.wrap(value, size, RIGHT - VALUE_X);
        let lines = i64::try_from(labels.len().max(values.len())).unwrap_or(1);
        self.room(lines * line_height(size));
        let top = self.y;
        for (i, line) in (0_i64..).zip(&labels) {
            self.run(MARGIN + indent, top + i * line_height(size), size, bold, line);
        }
        for (i, line) in (0_i64..).zip(&values) {
            let x = match kind {
                RowKind::Text => VALUE_X,
                RowKind::Amount | RowKind::Total | RowKind::Part => RIGHT - self.face.width(line, size),
            };
            self.run(x, top + i * line_height(size), size, bold, line);
        }
        self.y = top + lines * line_height(size);
    }
}

fn lay_out(model: &Model, face: &Face<'_>) -> Vec<Vec<Item>> {
    let mut l = Layout { face, pages: vec![Vec::new()], y: MARGIN };
    if let Some(copy) = model.copy {
        let padding = 6 * MPT;
        let top = l.y;
        l.y += padding;
        l.centered(SIZE_BANNER, true, copy.label);
        l.centered(SIZE_BODY, true, copy.note);
        l.y += padding;
        l.push(Item::Frame { x: MARGIN, y: top, w: CONTENT_W, h: l.y - top, width: MPT * 3 / 2 });
        l.gap(10);
    }
    l.centered(SIZE_PROPERTY, true, &model.property);
    l.centered(SIZE_TITLE, true, model.title);
    for section in &model.sections {
        l.rule();
        for row in section {
            l.row(row.label, &row.value, row.kind);
        }
    }
    if !model.tokens.is_empty() {
        l.rule();
        for token in &model.tokens {
            l.centered(SIZE_BODY, false, &token.label);
            l.centered(SIZE_TOKEN, true, &token.grouped);
            l.gap(4);
        }
        if let Some(note) = model.tokens_note {
            l.centered(SIZE_BODY, false, note);
        }
    }
    l.rule();
    l.centered(SIZE_FOOTER, false, model.footer);
    if let Some(copy) = model.copy {
        l.centered(SIZE_BODY, true, &format!("*** {} ***", copy.label));
    }
    l.pages
}

/// Thousandths of a point as the `f32` points the PDF libraries take.
fn pt(mpt: i64) -> f32 {
    mpt as f32 / 1000.0
}

/// Printable Latin-1, which WinAnsiEncoding writes with the same byte.
fn is_latin1(ch: char) -> bool {
    matches!(ch, ' '..='~' | '\u{A0}'..='\u{FF}')
}

/// The receipt as an A4 PDF. `font` is needed for any text outside Latin-1 (every Chinese receipt, and an
/// English one with a Chinese name); without it such a receipt is [`ReceiptError::FontMissing`].
pub fn pdf_a4(data: &ReceiptData, font: Option<&FontData>) -> Result<Vec<u8>, ReceiptError> {
    let model = Model::build(data)?;
    let title = format!("{} {}", model.title, model.receipt_no);
    let needed = match model.language {
        Language::ZhCn => "a Chinese receipt",
        Language::En => "",
    };
    render(&model.texts(), font, model.language, &title, needed, |face| lay_out(&model, face))
}

/// Renders what `lay_out` places on A4 pages: with `font` (every character of `texts` checked against it), or
/// in Courier when every character is Latin-1. `needed` names what needs a font when there is none (empty:
/// name the first character that does).
pub(crate) fn render(
    texts: &[&str],
    font: Option<&FontData>,
    language: Language,
    title: &str,
    needed: &str,
    lay_out: impl Fn(&Face<'_>) -> Vec<Vec<Item>>,
) -> Result<Vec<u8>, ReceiptError> {
    match font {
        Some(font) => {
            let face = font.face()?;
            let charmap = face.charmap();
            if let Some(ch) = texts.iter().flat_map(|t| t.chars()).find(|c| charmap.map(*c).is_none()) {
                return Err(ReceiptError::GlyphMissing { ch });
            }
            let invalid = |e: skrifa::raw::ReadError| ReceiptError::FontInvalid { reason: e.to_string() };
            let units_per_em = i64::from(face.head().map_err(invalid)?.units_per_em());
            let hmtx = face.hmtx().map_err(invalid)?;
            let face = Face::Embedded { charmap, hmtx, units_per_em };
            let pages = lay_out(&face);
            embedded(&pages, &face, font, language, title)
        }
        None => {
            if let Some(ch) = texts.iter().flat_map(|t| t.chars()).find(|c| !is_latin1(*c)) {
                let needed = if needed.is_empty() {
                    format!("the character {ch:?} (U+{:04X})", u32::from(ch))
                } else {
                    needed.to_string()
                };
                return Err(ReceiptError::FontMissing { needed });
            }
            let pages = lay_out(&Face::Courier);
            Ok(courier(&pages, language, title))
        }
    }
}

fn embedded(
    pages: &[Vec<Item>],
    face: &Face<'_>,
    font: &FontData,
    language: Language,
    title: &str,
) -> Result<Vec<u8>, ReceiptError> {
    let mut document = Document::new_with(SerializeSettings::default());
    document.set_metadata(
        Metadata::new().title(title.to_string()).language(language.tag().to_string()).creator("Voltvend".into()),
    );
    let units_per_em = face.units_per_em().max(1) as f32;
    for items in pages {
        let settings = PageSettings::from_wh(pt(PAGE_W), pt(PAGE_H))
            .ok_or_else(|| ReceiptError::Pdf("invalid page size".into()))?;
        let mut page = document.start_page_with(settings);
        let mut surface = page.surface();
        surface.set_fill(Some(Fill::default()));
        for item in items {
            match item {
                Item::Text(run) => {
                    let mut glyphs = Vec::with_capacity(run.text.len());
                    for (start, ch) in run.text.char_indices() {
                        let (gid, advance) = face.glyph(ch);
                        let range = start..start + ch.len_utf8();
                        glyphs.push(KrillaGlyph::new(
                            GlyphId::new(gid),
                            advance as f32 / units_per_em,
                            0.0,
                            0.0,
                            0.0,
                            range,
                            None,
                        ));
                    }
                    if run.bold {
                        // The face has no bold: fill and stroke the outlines.
                        let width = pt(run.size * MPT / 30);
                        surface.set_stroke(Some(Stroke { width, line_join: LineJoin::Round, ..Stroke::default() }));
                    }
                    let start = Point::from_xy(pt(run.x), pt(run.baseline));
                    let size = pt(run.size * MPT);
                    surface.draw_glyphs(start, &glyphs, font.pdf_font.clone(), &run.text, size, false);
                    surface.set_stroke(None);
                }
                Item::Rule { x1, x2, y, width } => {
                    let mut path = PathBuilder::new();
                    path.move_to(pt(*x1), pt(*y));
                    path.line_to(pt(*x2), pt(*y));
                    stroke_path(&mut surface, path, *width);
                }
                Item::Frame { x, y, w, h, width } => {
                    let mut path = PathBuilder::new();
                    if let Some(rect) = KrillaRect::from_xywh(pt(*x), pt(*y), pt(*w), pt(*h)) {
                        path.push_rect(rect);
                    }
                    stroke_path(&mut surface, path, *width);
                }
            }
        }
        surface.finish();
        page.finish();
    }
    document.finish().map_err(|e| ReceiptError::Pdf(format!("{e:?}")))
}

fn stroke_path(surface: &mut krilla::surface::Surface<'_>, path: PathBuilder, width: i64) {
    if let Some(path) = path.finish() {
        surface.set_fill(None);
        surface.set_stroke(Some(Stroke { width: pt(width), ..Stroke::default() }));
        surface.draw_path(&path);
        surface.set_stroke(None);
        surface.set_fill(Some(Fill::default()));
    }
}

/// A PDF in the standard Courier fonts, for Latin-1 text without a font file.
fn courier(pages: &[Vec<Item>], language: Language, title: &str) -> Vec<u8> {
    let mut pdf = Pdf::new();
    let catalog_id = Ref::new(1);
    let tree_id = Ref::new(2);
    let info_id = Ref::new(3);
    let regular_id = Ref::new(4);
    let bold_id = Ref::new(5);
    let (regular, bold) = (Name(b"F1"), Name(b"F2"));
    let page_ids: Vec<(Ref, Ref)> =
        (0_i32..).zip(pages).map(|(i, _)| (Ref::new(6 + 2 * i), Ref::new(7 + 2 * i))).collect();

    pdf.catalog(catalog_id).pages(tree_id).lang(TextStr(language.tag()));
    pdf.document_info(info_id).title(TextStr(title)).creator(TextStr("Voltvend"));
    pdf.pages(tree_id)
        .kids(page_ids.iter().map(|(page, _)| *page))
        .count(i32::try_from(page_ids.len()).unwrap_or(i32::MAX));
    pdf.type1_font(regular_id).base_font(Name(b"Courier")).encoding_predefined(Name(b"WinAnsiEncoding"));
    pdf.type1_font(bold_id).base_font(Name(b"Courier-Bold")).encoding_predefined(Name(b"WinAnsiEncoding"));

    for ((page_id, content_id), items) in page_ids.iter().zip(pages) {
        let mut page = pdf.page(*page_id);
        page.media_box(Rect::new(0.0, 0.0, pt(PAGE_W), pt(PAGE_H)));
        page.parent(tree_id);
        page.contents(*content_id);
        page.resources().fonts().pair(regular, regular_id).pair(bold, bold_id);
        page.finish();

        // PDF's origin is the bottom-left corner; the layout's is the top-left.
        let mut content = Content::new();
        for item in items {
            match item {
                Item::Text(run) => {
                    let bytes: Vec<u8> = run.text.chars().map(|c| u8::try_from(c).unwrap_or(b'?')).collect();
                    content.begin_text();
                    content.set_font(if run.bold { bold } else { regular }, pt(run.size * MPT));
                    content.set_text_matrix([1.0, 0.0, 0.0, 1.0, pt(run.x), pt(PAGE_H - run.baseline)]);
                    content.show(Str(&bytes));
                    content.end_text();
                }
                Item::Rule { x1, x2, y, width } => {
                    content.set_line_width(pt(*width));
                    content.move_to(pt(*x1), pt(PAGE_H - y));
                    content.line_to(pt(*x2), pt(PAGE_H - y));
                    content.stroke();
                }
                Item::Frame { x, y, w, h, width } => {
                    content.set_line_width(pt(*width));
                    content.rect(pt(*x), pt(PAGE_H - y - h), pt(*w), pt(*h));
                    content.stroke();
                }
            }
        }
        pdf.stream(*content_id, &content.finish());
    }
    pdf.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn courier_widths_are_exact() {
        assert_eq!(Face::Courier.width("CNY 50.00", 10), 9 * 6 * MPT);
        assert_eq!(Face::Courier.char_width('W', 22), 13_200);
    }

    #[test]
    fn a_full_page_moves_on_to_the_next() {
        let face = Face::Courier;
        let mut l = Layout { face: &face, pages: vec![Vec::new()], y: MARGIN };
        for _ in 0..100 {
            l.row("Label", "value", RowKind::Text);
        }
        assert!(l.pages.len() > 1);
        for page in &l.pages {
            for item in page {
                if let Item::Text(run) = item {
                    assert!(run.baseline < PAGE_H - MARGIN + line_height(SIZE_BODY), "{run:?}");
                }
            }
        }
    }
}
