//! Charts as standalone SVG (line charts with an optional limit line, horizontal bar charts) and
//! the self-contained HTML report that embeds them (`--html FILE`): no scripts, no external
//! fonts or files, so the report opens anywhere and renders the same in a headless browser.

use std::fmt::Write as _;

const WIDTH: f64 = 720.0;
const HEIGHT: f64 = 360.0;
const LEFT: f64 = 80.0;
const RIGHT: f64 = 24.0;
const TOP: f64 = 40.0;
const BOTTOM: f64 = 56.0;
/// Series colours (Okabe–Ito palette, readable by colour-blind viewers).
const COLOURS: [&str; 6] = [
    "#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9",
];

/// Escapes text for SVG/HTML.
pub fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A named series of (x, y) points.
#[derive(Debug, Clone)]
pub struct Series {
    /// Legend label.
    pub label: String,
    /// Points, x ascending.
    pub points: Vec<(f64, f64)>,
}

/// A horizontal reference line (a machine's memory limit).
#[derive(Debug, Clone)]
pub struct Limit {
    /// Label.
    pub label: String,
    /// Y value.
    pub value: f64,
}

fn nice_ceiling(value: f64) -> f64 {
    if value <= 0.0 || !value.is_finite() {
        return 1.0;
    }
    let magnitude = 10f64.powf(value.log10().floor());
    for step in [1.0, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0] {
        if step * magnitude >= value {
            return step * magnitude;
        }
    }
    10.0 * magnitude
}

fn tick_label(value: f64) -> String {
    if value >= 1e6 {
        format!("{:.1}M", value / 1e6)
    } else if value >= 1e3 {
        format!("{:.0}K", value / 1e3)
    } else if value >= 10.0 || value == 0.0 {
        format!("{value:.0}")
    } else {
        format!("{value:.1}")
    }
}

/// A line chart: x and y axes from zero, one polyline per series, dashed limit lines.
pub fn line_chart(
    title: &str,
    x_label: &str,
    y_label: &str,
    series: &[Series],
    limits: &[Limit],
) -> String {
    let x_max = nice_ceiling(
        series
            .iter()
            .flat_map(|series| series.points.iter().map(|point| point.0))
            .fold(0.0, f64::max),
    );
    let y_max = nice_ceiling(
        series
            .iter()
            .flat_map(|series| series.points.iter().map(|point| point.1))
            .chain(limits.iter().map(|limit| limit.value))
            .fold(0.0, f64::max)
            * 1.05,
    );
    let plot_width = WIDTH - LEFT - RIGHT;
    let plot_height = HEIGHT - TOP - BOTTOM;
    let x_of = |x: f64| LEFT + x / x_max * plot_width;
    let y_of = |y: f64| TOP + plot_height - y / y_max * plot_height;
    let mut svg = header(title);
    axes(&mut svg, x_label, y_label);
    for tick in 0..=5 {
        let fraction = f64::from(tick) / 5.0;
        let x = x_of(x_max * fraction);
        let y = y_of(y_max * fraction);
        let _ = write!(
            svg,
            r##"<text x="{x:.1}" y="{:.1}" font-size="11" text-anchor="middle" fill="#333">{}</text><text x="{:.1}" y="{:.1}" font-size="11" text-anchor="end" fill="#333">{}</text><line x1="{LEFT}" x2="{:.1}" y1="{y:.1}" y2="{y:.1}" stroke="#e5e5e5"/>"##,
            TOP + plot_height + 16.0,
            tick_label(x_max * fraction),
            LEFT - 6.0,
            y + 4.0,
            tick_label(y_max * fraction),
            WIDTH - RIGHT,
        );
    }
    for limit in limits {
        let y = y_of(limit.value);
        let _ = write!(
            svg,
            r##"<line x1="{LEFT}" x2="{:.1}" y1="{y:.1}" y2="{y:.1}" stroke="#B00020" stroke-width="2" stroke-dasharray="8 4"/><text x="{:.1}" y="{:.1}" font-size="12" text-anchor="end" fill="#B00020">{}</text>"##,
            WIDTH - RIGHT,
            WIDTH - RIGHT - 4.0,
            y - 6.0,
            escape(&limit.label)
        );
    }
    for (index, series) in series.iter().enumerate() {
        let colour = COLOURS[index % COLOURS.len()];
        let points: Vec<String> = series
            .points
            .iter()
            .map(|&(x, y)| format!("{:.1},{:.1}", x_of(x), y_of(y)))
            .collect();
        let _ = write!(
            svg,
            r##"<polyline fill="none" stroke="{colour}" stroke-width="2.5" points="{}"/>"##,
            points.join(" ")
        );
        let legend_y = TOP + 14.0 + 16.0 * index as f64;
        let _ = write!(
            svg,
            r##"<rect x="{:.1}" y="{:.1}" width="12" height="4" fill="{colour}"/><text x="{:.1}" y="{:.1}" font-size="12" fill="#222">{}</text>"##,
            LEFT + 12.0,
            legend_y - 4.0,
            LEFT + 30.0,
            legend_y + 1.0,
            escape(&series.label)
        );
    }
    svg.push_str("</svg>");
    svg
}

/// A horizontal bar chart, one bar per (label, value).
pub fn bar_chart(title: &str, value_label: &str, bars: &[(String, f64)]) -> String {
    let label_width = 260.0;
    let bar_height = 22.0;
    let height = TOP + BOTTOM + bar_height * 1.4 * bars.len().max(1) as f64;
    let maximum = nice_ceiling(bars.iter().map(|bar| bar.1).fold(0.0, f64::max));
    let plot_width = WIDTH - label_width - RIGHT - 50.0;
    let mut svg = format!(
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height:.0}" viewBox="0 0 {WIDTH} {height:.0}" font-family="sans-serif" role="img"><title>{title}</title><rect width="100%" height="100%" fill="#ffffff"/><text x="{:.1}" y="24" font-size="16" font-weight="bold" text-anchor="middle" fill="#111">{title}</text>"##,
        WIDTH / 2.0,
        title = escape(title)
    );
    for (index, (label, value)) in bars.iter().enumerate() {
        let y = TOP + bar_height * 1.4 * index as f64;
        let width = if maximum > 0.0 {
            value / maximum * plot_width
        } else {
            0.0
        };
        let _ = write!(
            svg,
            r##"<text x="{:.1}" y="{:.1}" font-size="12" text-anchor="end" fill="#222">{}</text><rect x="{label_width}" y="{y:.1}" width="{width:.1}" height="{bar_height}" fill="{}"/><text x="{:.1}" y="{:.1}" font-size="12" fill="#222">{:.1}</text>"##,
            label_width - 8.0,
            y + 15.0,
            escape(label),
            COLOURS[0],
            label_width + width + 6.0,
            y + 15.0,
            value
        );
    }
    let _ = write!(
        svg,
        r##"<text x="{:.1}" y="{:.1}" font-size="12" text-anchor="middle" fill="#333">{}</text></svg>"##,
        label_width + plot_width / 2.0,
        height - 18.0,
        escape(value_label)
    );
    svg
}

fn header(title: &str) -> String {
    format!(
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" font-family="sans-serif" role="img"><title>{title}</title><rect width="100%" height="100%" fill="#ffffff"/><text x="{:.1}" y="24" font-size="16" font-weight="bold" text-anchor="middle" fill="#111">{title}</text>"##,
        WIDTH / 2.0,
        title = escape(title)
    )
}

fn axes(svg: &mut String, x_label: &str, y_label: &str) {
    let bottom = HEIGHT - BOTTOM;
    let _ = write!(
        svg,
        r##"<line x1="{LEFT}" x2="{LEFT}" y1="{TOP}" y2="{bottom}" stroke="#333"/><line x1="{LEFT}" x2="{:.1}" y1="{bottom}" y2="{bottom}" stroke="#333"/><text x="{:.1}" y="{:.1}" font-size="12" text-anchor="middle" fill="#333">{}</text><text transform="translate(18 {:.1}) rotate(-90)" font-size="12" text-anchor="middle" fill="#333">{}</text>"##,
        WIDTH - RIGHT,
        LEFT + (WIDTH - LEFT - RIGHT) / 2.0,
        HEIGHT - 14.0,
        escape(x_label),
        TOP + (HEIGHT - TOP - BOTTOM) / 2.0,
        escape(y_label)
    );
}

/// One section of the report: a heading, an optional paragraph, then raw SVG or table HTML.
#[derive(Debug, Clone)]
pub struct Section {
    /// Heading.
    pub heading: String,
    /// Plain text (escaped when rendered).
    pub text: String,
    /// Trusted markup produced by this module or by [`table`].
    pub markup: String,
}

/// An HTML table from a header row and rows (cells escaped).
pub fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut html = String::from("<table><thead><tr>");
    for cell in header {
        let _ = write!(html, "<th>{}</th>", escape(cell));
    }
    html.push_str("</tr></thead><tbody>");
    for row in rows {
        html.push_str("<tr>");
        for cell in row {
            let _ = write!(html, "<td>{}</td>", escape(cell));
        }
        html.push_str("</tr>");
    }
    html.push_str("</tbody></table>");
    html
}

/// The self-contained report.
pub fn html_report(title: &str, sections: &[Section]) -> String {
    let mut html = format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{}</title><style>body{{font-family:sans-serif;margin:24px;color:#111;background:#fff}}h1{{font-size:22px}}h2{{font-size:18px;margin-top:28px}}table{{border-collapse:collapse;margin:8px 0}}td,th{{border:1px solid #ccc;padding:4px 8px;text-align:right}}th{{background:#f0f0f0}}td:first-child,th:first-child{{text-align:left}}svg{{max-width:100%;height:auto}}</style></head><body><h1>{}</h1>",
        escape(title),
        escape(title)
    );
    for section in sections {
        let _ = write!(html, "<h2>{}</h2>", escape(&section.heading));
        if !section.text.is_empty() {
            let _ = write!(html, "<p>{}</p>", escape(&section.text));
        }
        html.push_str(&section.markup);
    }
    html.push_str("<p>Generated by headroom. Figures are estimates from a fitted speed model; see BENCHMARKS.md for its measured error.</p></body></html>\n");
    html
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_chart_draws_every_series_and_the_limit() {
        let svg = line_chart(
            "Memory",
            "context (tokens)",
            "GiB",
            &[Series {
                label: "total".into(),
                points: vec![(0.0, 10.0), (1000.0, 20.0)],
            }],
            &[Limit {
                label: "limit 48 GiB".into(),
                value: 48.0,
            }],
        );
        assert!(svg.starts_with("<svg"));
        assert_eq!(svg.matches("<polyline").count(), 1);
        assert!(svg.contains("limit 48 GiB"));
        assert!(svg.ends_with("</svg>"));
    }

    #[test]
    fn labels_are_escaped() {
        let svg = bar_chart("a<b", "t/s", &[("x&y".into(), 3.0)]);
        assert!(svg.contains("a&lt;b"));
        assert!(svg.contains("x&amp;y"));
    }
}
