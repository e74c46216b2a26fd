//! `voltvend bench plot`: a scaling curve as SVG from benches' `--json` files — one point per file, its x and y
//! read by dotted paths into the document (`scenario.clients`, `figures.sales_per_s_closed_loop`…), drawn with the
//! web UI's chart code so that docs/performance.md shows what the runs measured, not a drawing of them.

use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::Args;

use crate::ui::chart::{Point, bars};

#[derive(Debug, Args)]
pub struct PlotArgs {
    /// Where each file's x value is, as a dotted path into its JSON (e.g. `scenario.clients`).
    #[arg(long)]
    x: String,
    /// Where each file's y value is (e.g. `figures.sales_per_s_closed_loop`).
    #[arg(long)]
    y: String,
    /// Decimals to keep of y (0: whole numbers).
    #[arg(long, default_value_t = 0)]
    decimals: u32,
    /// What the chart shows, for its title.
    #[arg(long)]
    title: String,
    /// The SVG file to write.
    #[arg(long)]
    out: PathBuf,
    /// The benches' JSON files (`--json` of one bench run each), one point each.
    #[arg(required = true)]
    files: Vec<PathBuf>,
}

/// The value at `path` (dot-separated keys, or indexes into lists; a number) in `doc`.
fn at(doc: &serde_json::Value, path: &str) -> Option<f64> {
    path.split('.')
        .try_fold(doc, |v, key| match (v, key.parse::<usize>()) {
            (serde_json::Value::Array(items), Ok(i)) => items.get(i),
            _ => v.get(key),
        })?
        .as_f64()
}

/// A style of its own, since the SVG is shown outside the web UI's stylesheet.
const STYLE: &str = "<style>.bar{fill:#2b6cb0}.grid{stroke:#ddd}.axis{font:11px sans-serif;fill:#333}</style>";

pub fn run(args: PlotArgs) -> anyhow::Result<()> {
    if args.decimals > 6 {
        bail!("--decimals is at most 6");
    }
    let scale = 10_i64.pow(args.decimals);
    let mut points = Vec::new();
    for file in &args.files {
        let doc: serde_json::Value =
            serde_json::from_slice(&std::fs::read(file).with_context(|| format!("reading {}", file.display()))?)
                .with_context(|| format!("{} is not JSON", file.display()))?;
        let x = at(&doc, &args.x).with_context(|| format!("{} has no number at {}", file.display(), args.x))?;
        let y = at(&doc, &args.y).with_context(|| format!("{} has no number at {}", file.display(), args.y))?;
        // Checked as drawn (scaled), so that the chart's arithmetic stays far inside i64.
        let drawn = (y * scale as f64).round();
        if !(drawn.is_finite() && (0.0..=1e15).contains(&drawn)) {
            bail!("{}: {} is {y}, not a figure to draw", file.display(), args.y);
        }
        points.push((x, drawn as i64));
    }
    points.sort_by(|a, b| a.0.total_cmp(&b.0));
    let label = |x: f64| if x.fract() == 0.0 { format!("{x:.0}") } else { format!("{x}") };
    let points: Vec<Point> = points.into_iter().map(|(x, value)| Point { label: label(x), value }).collect();
    let title = format!("{} ({} against {})", args.title, args.y, args.x);
    let svg = bars(&points, scale, &title);
    // The style goes right after the opening tag.
    let svg = match svg.find('>').and_then(|end| svg.split_at_checked(end + 1)) {
        Some((open, rest)) => format!("{open}{STYLE}{rest}"),
        None => svg,
    };
    std::fs::write(&args.out, svg).with_context(|| format!("writing {}", args.out.display()))?;
    println!("plot       {} points → {}", points.len(), args.out.display());
    Ok(())
}
