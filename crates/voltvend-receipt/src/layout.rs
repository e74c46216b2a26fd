//! Line breaking shared by the ESC/POS printer (columns) and the PDF (integer thousandths of a point).

/// Breaks `text` into lines no wider than `max`, measuring each character with `width`. A line breaks after
/// its last space when it has one, otherwise between characters (CJK text has no spaces). Leading spaces of a
/// continuation line are dropped. Always returns at least one line.
pub(crate) fn wrap(text: &str, max: i64, width: impl Fn(char) -> i64) -> Vec<String> {
    let measure = |s: &str| s.chars().map(&width).sum::<i64>();
    let mut lines = Vec::new();
    let mut current = String::new();
    let mut current_width = 0;
    for ch in text.chars() {
        let w = width(ch);
        if current_width + w > max && !current.is_empty() {
            let line = match current.rfind(' ') {
                // Keep at least one character before the break so that the line makes progress.
                Some(pos) if pos > 0 => {
                    let rest = current.split_off(pos);
                    let line = std::mem::replace(&mut current, rest.trim_start().to_string());
                    line.trim_end().to_string()
                }
                _ => std::mem::take(&mut current),
            };
            lines.push(line);
            current_width = measure(&current);
        }
        if current.is_empty() && ch == ' ' {
            continue;
        }
        current.push(ch);
        current_width += w;
    }
    if !current.is_empty() || lines.is_empty() {
        lines.push(current);
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    fn columns(c: char) -> i64 {
        if c.is_ascii() { 1 } else { 2 }
    }

    fn check(text: &str, max: i64, expect: &[&str]) {
        let got = wrap(text, max, columns);
        assert_eq!(got, expect, "{text:?} in {max}");
        for line in &got {
            assert!(line.chars().map(columns).sum::<i64>() <= max, "{line:?} wider than {max}");
        }
    }

    #[test]
    fn wraps_at_spaces_and_between_cjk_characters() {
        check("short", 10, &["short"]);
        check("", 10, &[""]);
        check("Block A / Floor 1 / A-101", 10, &["Block A /", "Floor 1 /", "A-101"]);
        check("abcdefghijkl", 5, &["abcde", "fghij", "kl"]);
        check("王芳王芳王芳", 5, &["王芳", "王芳", "王芳"]);
        check("ab 王芳王芳", 6, &["ab", "王芳王", "芳"]);
        check("a  b", 2, &["a", "b"]);
    }
}
