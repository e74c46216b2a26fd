//! Charts drawn on the server as SVG: no script, nothing fetched, readable when printed.
//!
//! Values are integers (minor units, Wh); the axis shows them scaled to major units by `scale`.

use std::fmt::Write;

/// One bar or point: its label on the x axis and its value.
#[derive(Debug, Clone)]
pub struct Point {
    pub label: String,
    pub value: i64,
}

const W: i64 = 640;
const H: i64 = 220;
const LEFT: i64 = 64;
const BOTTOM: i64 = 28;
const TOP: i64 = 12;

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// A round step for `max` over about four grid lines.
fn nice_step(max: i64) -> i64 {
    let raw = max.saturating_add(3) / 4;
    let raw = raw.max(1);
    let mut magnitude = 1_i64;
    while magnitude.saturating_mul(10) <= raw {
        magnitude = magnitude.saturating_mul(10);
    }
    for m in [1, 2, 5, 10] {
        let step = magnitude.saturating_mul(m);
        if step >= raw {
            return step;
        }
    }
    magnitude.saturating_mul(10)
}

/// A bar chart. `scale` divides values for the axis labels (100 for cents); `title` names it for screen
/// readers. Negative values are drawn as zero.
pub fn bars(points: &[Point], scale: i64, title: &str) -> String {
    let max = points.iter().map(|p| p.value).max().unwrap_or(0).max(1);
    let step = nice_step(max);
    let top_value = ((max + step - 1) / step) * step;
    let plot_h = H - TOP - BOTTOM;
    let plot_w = W - LEFT - 8;
    let n = i64::try_from(points.len()).unwrap_or(1).max(1);
    let slot = plot_w / n;
    let bar = (slot * 7 / 10).max(1);
    let mut svg = String::new();
    let _ = write!(
        svg,
        "<svg class=\"chart\" viewBox=\"0 0 {W} {H}\" role=\"img\" aria-label=\"{}\" xmlns=\"http://www.w3.org/2000/svg\">",
        escape(title)
    );
    let _ = write!(svg, "<title>{}</title>", escape(title));
    let mut v = 0;
    while v <= top_value {
        let y = TOP + plot_h - v * plot_h / top_value.max(1);
        let _ = write!(
            svg,
            "<line class=\"grid\" x1=\"{LEFT}\" y1=\"{y}\" x2=\"{}\" y2=\"{y}\"/><text class=\"axis\" x=\"{}\" y=\"{}\" text-anchor=\"end\">{}</text>",
            W - 8,
            LEFT - 6,
            y + 4,
            // Whole units where the grid falls on them (money's usual case), else with the decimals.
            if step % scale.max(1) == 0 { (v / scale.max(1)).to_string() } else { format_scaled(v, scale) }
        );
        v += step;
    }
    let label_every = (n / 10).max(1);
    for (i, p) in points.iter().enumerate() {
        let i = i64::try_from(i).unwrap_or(0);
        let h = p.value.max(0) * plot_h / top_value.max(1);
        let x = LEFT + i * slot + (slot - bar) / 2;
        let y = TOP + plot_h - h;
        let _ = write!(
            svg,
            "<rect class=\"bar\" x=\"{x}\" y=\"{y}\" width=\"{bar}\" height=\"{h}\"><title>{}: {}</title></rect>",
            escape(&p.label),
            format_scaled(p.value, scale)
        );
        if i % label_every == 0 {
            let _ = write!(
                svg,
                "<text class=\"axis\" x=\"{}\" y=\"{}\" text-anchor=\"middle\">{}</text>",
                x + bar / 2,
                H - 10,
                escape(&p.label)
            );
        }
    }
    svg.push_str("</svg>");
    svg
}

/// `value / scale` with the decimals `scale` implies (scale 100: two).
pub fn format_scaled(value: i64, scale: i64) -> String {
    let scale = scale.max(1);
    let decimals = scale.to_string().len().saturating_sub(1);
    if decimals == 0 {
        return value.to_string();
    }
    let sign = if value < 0 { "-" } else { "" };
    let abs = value.unsigned_abs();
    let s = scale.unsigned_abs();
    format!("{sign}{}.{:0width$}", abs / s, abs % s, width = decimals)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bars_are_scaled_to_the_largest_and_labels_escaped() {
        let pts = vec![
            Point { label: "12-01".into(), value: 50_000 },
            Point { label: "<b>".into(), value: 100_000 },
            Point { label: "12-03".into(), value: 0 },
        ];
        let svg = bars(&pts, 100, "Sales & more");
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
        assert!(svg.contains("Sales &amp; more") && svg.contains("&lt;b&gt;") && !svg.contains("<b>"));
        // The tallest bar fills the plot (grid top at 1000.00, a round step).
        assert!(svg.contains(&format!("height=\"{}\"", H - TOP - BOTTOM)), "{svg}");
        assert!(svg.contains("height=\"0\""));
        assert!(svg.contains(">1000<"), "{svg}");
        assert_eq!(format_scaled(12_345, 100), "123.45");
        assert_eq!(format_scaled(-5, 100), "-0.05");
        assert_eq!(format_scaled(7, 1), "7");
    }

    #[test]
    fn steps_are_round() {
        assert_eq!(nice_step(100_000), 50_000);
        assert_eq!(nice_step(7), 2);
        assert_eq!(nice_step(1), 1);
    }
}
