//! Figures: a small description of panels and series, drawn with plotters to PNG and SVG
//! with the bundled DejaVu Sans font (no system fonts needed).

use std::path::Path;
use std::sync::Once;

use crate::Error;
use plotters::coord::combinators::LogCoord;
use plotters::coord::ranged1d::ValueFormatter;
use plotters::coord::types::RangedCoordf64;
use plotters::coord::Shift;
use plotters::element::DashedPathElement;
use plotters::prelude::*;

use labelnoise_core::files::{commit_temporary, write_atomic};

static FONT: &[u8] = include_bytes!("../assets/DejaVuSans.ttf");
static REGISTER: Once = Once::new();

/// Registers the bundled font as `sans-serif` (once per process).
fn register_font() {
    REGISTER.call_once(|| {
        // The font is bundled and valid; a failure here would show as missing text.
        let _ = plotters::style::register_font("sans-serif", FontStyle::Normal, FONT);
    });
}

/// How a series is drawn.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Style {
    /// A line.
    Line,
    /// A thin, light line.
    Thin,
    /// Markers.
    Points,
    /// A dashed reference line.
    Dashed,
}

/// One series of a panel.
#[derive(Clone, Debug)]
pub struct Series {
    /// Legend entry (none: not in the legend).
    pub label: Option<String>,
    /// The points (x, y).
    pub points: Vec<(f64, f64)>,
    /// Colour.
    pub color: RGBColor,
    /// Style.
    pub style: Style,
}

impl Series {
    /// A series.
    pub fn new(
        label: Option<&str>,
        points: Vec<(f64, f64)>,
        color: RGBColor,
        style: Style,
    ) -> Self {
        Series {
            label: label.map(str::to_string),
            points,
            color,
            style,
        }
    }
}

/// One panel (a chart with axes).
#[derive(Clone, Debug, Default)]
pub struct Panel {
    /// Title above the panel.
    pub title: String,
    /// x-axis label.
    pub x_label: String,
    /// y-axis label.
    pub y_label: String,
    /// Logarithmic x axis.
    pub x_log: bool,
    /// Logarithmic y axis.
    pub y_log: bool,
    /// The series.
    pub series: Vec<Series>,
    /// Where the legend goes.
    pub legend: Legend,
}

/// Legend placement.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Legend {
    /// Upper right (default).
    #[default]
    UpperRight,
    /// Upper left.
    UpperLeft,
    /// Middle right.
    MiddleRight,
    /// Middle left.
    MiddleLeft,
    /// Lower right.
    LowerRight,
    /// Lower left.
    LowerLeft,
}

/// A figure: panels on a grid.
#[derive(Clone, Debug)]
pub struct Figure {
    /// File stem (`NAME.png`, `NAME.svg`).
    pub name: String,
    /// Title across the top.
    pub title: String,
    /// Panels, row by row.
    pub panels: Vec<Panel>,
    /// Panels per row.
    pub cols: usize,
    /// Size of one panel in pixels.
    pub panel_size: (u32, u32),
}

/// A palette of distinguishable colours.
pub const PALETTE: [RGBColor; 10] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
];

/// Colour k of the palette (cycling).
pub fn color(k: usize) -> RGBColor {
    PALETTE[k % PALETTE.len()]
}

/// Writes `DIR/NAME.png` and `DIR/NAME.svg`; returns the PNG bytes and the SVG text.
pub fn render(fig: &Figure, dir: &Path) -> crate::Result<(Vec<u8>, String)> {
    register_font();
    let rows = fig.panels.len().div_ceil(fig.cols.max(1));
    let size = (
        fig.panel_size.0 * fig.cols as u32,
        fig.panel_size.1 * rows as u32 + 50,
    );
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, size).into_drawing_area();
        draw_figure(&root, fig)?;
        root.present()
            .map_err(|e| Error::plot(&fig.name, format!("drawing SVG: {e}")))?;
    }
    write_atomic(&dir.join(format!("{}.svg", fig.name)), svg.as_bytes())?;
    let png_path = dir.join(format!("{}.png", fig.name));
    let tmp = dir.join(format!(".{}.png.tmp-{}.png", fig.name, std::process::id()));
    let drawn = {
        let root = BitMapBackend::new(&tmp, size).into_drawing_area();
        draw_figure(&root, fig).and_then(|()| {
            root.present()
                .map_err(|e| Error::plot(&fig.name, format!("drawing PNG: {e}")))
        })
    };
    if let Err(e) = drawn {
        // A full disk fails the PNG encoder's write: leave no half file behind.
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    commit_temporary(&tmp, &png_path)?;
    let png = std::fs::read(&png_path).map_err(|source| labelnoise_core::Error::Io {
        file: png_path.display().to_string(),
        source,
    })?;
    Ok((png, svg))
}

fn draw_figure<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    fig: &Figure,
) -> crate::Result<()> {
    let err =
        |e: DrawingAreaErrorKind<DB::ErrorType>| Error::plot(&fig.name, format!("drawing: {e}"));
    root.fill(&WHITE).map_err(err)?;
    let (top, body) = root.split_vertically(50);
    top.titled(&fig.title, ("sans-serif", 24)).map_err(err)?;
    let rows = fig.panels.len().div_ceil(fig.cols.max(1));
    let areas = body.split_evenly((rows, fig.cols.max(1)));
    for (panel, area) in fig.panels.iter().zip(areas.iter()) {
        draw_panel(area, panel).map_err(|e| Error::plot(&fig.name, e))?;
    }
    Ok(())
}

/// The data range of a panel, padded; positive for log axes.
fn bounds(panel: &Panel, log: bool, pick: impl Fn(&(f64, f64)) -> f64) -> (f64, f64) {
    let vals = panel
        .series
        .iter()
        .flat_map(|s| s.points.iter().map(&pick))
        .filter(|v| v.is_finite() && (!log || *v > 0.0));
    let (mut lo, mut hi) = vals.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| {
        (a.min(v), b.max(v))
    });
    if !lo.is_finite() {
        return if log { (0.1, 10.0) } else { (0.0, 1.0) };
    }
    if log {
        if hi <= lo {
            hi = lo * 10.0;
            lo /= 10.0;
        }
        let f = (hi / lo).powf(0.04);
        (lo / f, hi * f)
    } else {
        if hi <= lo {
            hi = lo + 0.5;
            lo -= 0.5;
        }
        let pad = 0.05 * (hi - lo);
        (lo - pad, hi + pad)
    }
}

fn draw_panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    panel: &Panel,
) -> crate::Result<()> {
    let (x0, x1) = bounds(panel, panel.x_log, |p| p.0);
    let (y0, y1) = bounds(panel, panel.y_log, |p| p.1);
    let lin = |a: f64, b: f64| RangedCoordf64::from(a..b);
    let log =
        |a: f64, b: f64| LogCoord::<f64>::from((a..b).log_scale()).with_key_points(log_ticks(a, b));
    // Spans of the linear axes, so that tick values that are zero up to rounding
    // (e.g. 2e-18 on an axis through 0) print as 0; log axes keep tiny values.
    let spans = (
        if panel.x_log { 0.0 } else { x1 - x0 },
        if panel.y_log { 0.0 } else { y1 - y0 },
    );
    match (panel.x_log, panel.y_log) {
        (false, false) => chart(area, panel, lin(x0, x1), lin(y0, y1), spans),
        (true, false) => chart(area, panel, log(x0, x1), lin(y0, y1), spans),
        (false, true) => chart(area, panel, lin(x0, x1), log(y0, y1), spans),
        (true, true) => chart(area, panel, log(x0, x1), log(y0, y1), spans),
    }
}

/// Tick positions of a log axis on [lo, hi]: decades (every k-th when there are many),
/// with 2 and 5 times them when the range spans less than two decades.
fn log_ticks(lo: f64, hi: f64) -> Vec<f64> {
    let (a, b) = (lo.log10().ceil() as i32, hi.log10().floor() as i32);
    let decades = (b - a + 1).max(0);
    if decades < 3 {
        let within = |mantissas: &[f64]| {
            let mut t = Vec::new();
            for e in (a - 1)..=(b + 1) {
                for m in mantissas {
                    let v = m * 10f64.powi(e);
                    if v >= lo && v <= hi {
                        t.push(v);
                    }
                }
            }
            t
        };
        let t = within(&[1.0, 2.0, 5.0]);
        // A range of less than a decade or so gets finer ticks.
        return if t.len() >= 3 {
            t
        } else {
            within(&[1.0, 1.5, 2.0, 3.0, 5.0, 7.0])
        };
    }
    let step = (decades as usize).div_ceil(8).max(1);
    (a..=b)
        .filter(|e| ((e - a) as usize).is_multiple_of(step))
        .map(|e| 10f64.powi(e))
        .collect()
}

/// A tick label: plain for moderate values, scientific otherwise.
fn tick(v: &f64) -> String {
    let a = v.abs();
    if a == 0.0 {
        "0".into()
    } else if (1e-3..1e5).contains(&a) {
        // Three significant digits (so the ticks 0.0015 and 0.0025 of a log axis stay
        // apart), without trailing zeros.
        let decimals = (2 - a.log10().floor() as i32).max(0) as usize;
        let s = format!("{v:.decimals$}");
        let s = if s.contains('.') {
            s.trim_end_matches('0').trim_end_matches('.')
        } else {
            &s
        };
        s.to_string()
    } else {
        format!("{v:.0e}")
    }
}

/// [`tick`] for an axis of the given span (0 for a log axis): on a linear axis, values
/// below 1e-9 of the span are 0, and moderate values get the decimals the tick spacing
/// (about a tenth of the span) needs, so that neighbouring ticks never print alike
/// (7.215, 7.22, 7.225 rather than 7.22 twice).
fn tick_on(v: &f64, span: f64) -> String {
    let a = v.abs();
    if span > 0.0 && a < 1e-9 * span {
        "0".into()
    } else if span > 0.0 && (1e-3..1e5).contains(&a) && span.is_finite() {
        let decimals = (1 - (span / 10.0).log10().floor() as i32).clamp(0, 12) as usize;
        let s = format!("{v:.decimals$}");
        let s = if s.contains('.') {
            s.trim_end_matches('0').trim_end_matches('.')
        } else {
            &s
        };
        s.to_string()
    } else {
        tick(v)
    }
}

fn chart<DB, X, Y>(
    area: &DrawingArea<DB, Shift>,
    panel: &Panel,
    x: X,
    y: Y,
    spans: (f64, f64),
) -> crate::Result<()>
where
    DB: DrawingBackend,
    X: Ranged<ValueType = f64> + ValueFormatter<f64>,
    Y: Ranged<ValueType = f64> + ValueFormatter<f64>,
{
    let err = |e: DrawingAreaErrorKind<DB::ErrorType>| Error::plot(&panel.title, e);
    let mut ch = ChartBuilder::on(area)
        .caption(&panel.title, ("sans-serif", 18))
        .margin(12)
        .x_label_area_size(45)
        .y_label_area_size(70)
        .build_cartesian_2d(x, y)
        .map_err(err)?;
    ch.configure_mesh()
        .x_desc(panel.x_label.as_str())
        .y_desc(panel.y_label.as_str())
        .x_label_formatter(&|v| tick_on(v, spans.0))
        .y_label_formatter(&|v| tick_on(v, spans.1))
        .label_style(("sans-serif", 13))
        .axis_desc_style(("sans-serif", 15))
        .light_line_style(WHITE.mix(0.0))
        .bold_line_style(BLACK.mix(0.08))
        .draw()
        .map_err(err)?;
    let mut any_label = false;
    for s in &panel.series {
        let pts: Vec<(f64, f64)> = s
            .points
            .iter()
            .copied()
            .filter(|(a, b)| {
                a.is_finite()
                    && b.is_finite()
                    && (!panel.x_log || *a > 0.0)
                    && (!panel.y_log || *b > 0.0)
            })
            .collect();
        let c = s.color;
        let anno = match s.style {
            Style::Line => ch
                .draw_series(LineSeries::new(pts, c.stroke_width(2)))
                .map_err(err)?,
            Style::Thin => ch
                .draw_series(LineSeries::new(pts, c.mix(0.45).stroke_width(1)))
                .map_err(err)?,
            Style::Dashed => ch
                .draw_series(DashedLineSeries::new(pts, 6, 4, c.stroke_width(1)))
                .map_err(err)?,
            Style::Points => ch
                .draw_series(pts.into_iter().map(|p| Circle::new(p, 4, c.filled())))
                .map_err(err)?,
        };
        if let Some(label) = &s.label {
            any_label = true;
            let style = s.style;
            anno.label(label.as_str())
                .legend(move |(px, py)| match style {
                    Style::Points => Circle::new((px + 10, py), 4, c.filled()).into_dyn(),
                    Style::Thin => {
                        PathElement::new(vec![(px, py), (px + 20, py)], c.mix(0.45).stroke_width(1))
                            .into_dyn()
                    }
                    // Dashed as the line is drawn (dashes of 6 pixels, gaps of 4).
                    Style::Dashed => DashedPathElement::new(
                        vec![(px, py), (px + 26, py)],
                        6,
                        4,
                        c.stroke_width(1),
                    )
                    .into_dyn(),
                    Style::Line => {
                        PathElement::new(vec![(px, py), (px + 20, py)], c.stroke_width(2))
                            .into_dyn()
                    }
                });
        }
    }
    if any_label {
        ch.configure_series_labels()
            .label_font(("sans-serif", 13))
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK.mix(0.4))
            .position(match panel.legend {
                Legend::UpperRight => SeriesLabelPosition::UpperRight,
                Legend::UpperLeft => SeriesLabelPosition::UpperLeft,
                Legend::MiddleRight => SeriesLabelPosition::MiddleRight,
                Legend::MiddleLeft => SeriesLabelPosition::MiddleLeft,
                Legend::LowerRight => SeriesLabelPosition::LowerRight,
                Legend::LowerLeft => SeriesLabelPosition::LowerLeft,
            })
            .draw()
            .map_err(err)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::{tick, tick_on};

    #[test]
    fn linear_ticks_get_the_decimals_their_spacing_needs() {
        let span = 0.06;
        let labels: Vec<String> = [7.215, 7.22, 7.225, 7.23]
            .iter()
            .map(|v| tick_on(v, span))
            .collect();
        assert_eq!(labels, ["7.215", "7.22", "7.225", "7.23"]);
        assert_eq!(tick_on(&16000.0, 14000.0), "16000");
        assert_eq!(tick_on(&2e-18, 1.0), "0");
        // Log axes (span 0) keep three significant digits.
        assert_eq!(tick_on(&0.0015, 0.0), "0.0015");
    }

    #[test]
    fn tick_labels_keep_three_significant_digits() {
        let labels: Vec<String> = [0.0015, 0.002, 0.0025, 0.003].iter().map(tick).collect();
        assert_eq!(labels, ["0.0015", "0.002", "0.0025", "0.003"]);
        for (v, want) in [
            (0.0, "0"),
            (0.25, "0.25"),
            (-0.5, "-0.5"),
            (1.0, "1"),
            (12.5, "12.5"),
            (100.0, "100"),
            (12345.6, "12346"),
            (1e-5, "1e-5"),
            (2e6, "2e6"),
        ] {
            assert_eq!(tick(&v), want, "{v}");
        }
    }
}
