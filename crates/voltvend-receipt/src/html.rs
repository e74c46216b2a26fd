//! The 80 mm print view: a standalone HTML5 document for the browser's print dialog on a thermal printer.
//!
//! No inline style or script (the server's Content-Security-Policy forbids them): the document links
//! [`RECEIPT_CSS`], which the server serves at the `css_href` it passes. Every text is escaped (`& < > " '`),
//! because names and references are user input.

use crate::data::ReceiptData;
use crate::error::ReceiptError;
use crate::model::{Model, RowKind};

/// The receipt's stylesheet: an 80 mm roll with no page margin and a 72 mm printable width, monospace, the
/// token large. The server serves it at the `css_href` given to [`html`].
pub const RECEIPT_CSS: &str = include_str!("receipt.css");

/// Escapes text for HTML element content and quoted attribute values.
pub(crate) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// The receipt as a standalone HTML5 document linking the stylesheet at `css_href`.
pub fn html(data: &ReceiptData, css_href: &str) -> Result<String, ReceiptError> {
    let model = Model::build(data)?;
    let mut out = String::with_capacity(4096);
    let lang = model.language.tag();
    let copy_class = if model.copy.is_some() { " copy" } else { "" };
    out.push_str("<!DOCTYPE html>\n");
    out.push_str(&format!("<html lang=\"{lang}\">\n<head>\n<meta charset=\"utf-8\">\n"));
    out.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n");
    let copy_title = model.copy.map(|c| format!(" ({})", c.label)).unwrap_or_default();
    out.push_str(&format!(
        "<title>{} {}{}</title>\n",
        escape(model.title),
        escape(&model.receipt_no),
        escape(&copy_title)
    ));
    out.push_str(&format!("<link rel=\"stylesheet\" href=\"{}\">\n</head>\n", escape(css_href)));
    out.push_str(&format!("<body>\n<main class=\"receipt{copy_class}\">\n"));
    if let Some(copy) = model.copy {
        out.push_str(&format!(
            "<p class=\"copy-banner\"><strong>{}</strong><span>{}</span></p>\n",
            escape(copy.label),
            escape(copy.note)
        ));
    }
    out.push_str(&format!(
        "<header>\n<h1>{}</h1>\n<p class=\"title\">{}</p>\n</header>\n",
        escape(&model.property),
        escape(model.title)
    ));
    for section in &model.sections {
        out.push_str("<dl>\n");
        for row in section {
            let class = match row.kind {
                RowKind::Text => "row",
                RowKind::Amount => "row amount",
                RowKind::Total => "row amount total",
                RowKind::Part => "row amount part",
            };
            out.push_str(&format!(
                "<div class=\"{class}\"><dt>{}</dt><dd>{}</dd></div>\n",
                escape(row.label),
                escape(&row.value)
            ));
        }
        out.push_str("</dl>\n");
    }
    if !model.tokens.is_empty() {
        out.push_str("<section class=\"tokens\">\n");
        for token in &model.tokens {
            out.push_str(&format!(
                "<p class=\"token-label\">{}</p>\n<p class=\"token\">{}</p>\n",
                escape(&token.label),
                escape(&token.grouped)
            ));
        }
        if let Some(note) = model.tokens_note {
            out.push_str(&format!("<p class=\"token-note\">{}</p>\n", escape(note)));
        }
        out.push_str("</section>\n");
    }
    out.push_str(&format!("<footer>\n<p>{}</p>\n", escape(model.footer)));
    if let Some(copy) = model.copy {
        out.push_str(&format!("<p class=\"copy-mark\">*** {} ***</p>\n", escape(copy.label)));
    }
    out.push_str("</footer>\n</main>\n</body>\n</html>\n");
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_the_five_characters() {
        assert_eq!(escape(r#"<a href="x">'&'</a>"#), "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;");
        assert_eq!(escape("王芳"), "王芳");
    }

    #[test]
    fn css_sets_the_roll_and_has_no_imports() {
        assert!(RECEIPT_CSS.contains("@page { size: 80mm auto; margin: 0 }"));
        assert!(RECEIPT_CSS.contains("width: 72mm"));
        assert!(!RECEIPT_CSS.contains("@import") && !RECEIPT_CSS.contains("url("));
    }
}
