//! `collect`'s figures and reports: each measure against each numeric swept setting,
//! the median and the interquartile range over the points that share a value (the
//! seeds, and any other setting swept alongside), one series per combination of the
//! other swept settings; a log axis for a positive setting spanning a factor 2 and for a
//! measure spanning a decade (drawn log-log); for log-log panels the fitted exponent (least squares of log median against log setting) with its spread
//! across seeds (the same fit on each seed's points alone); and, for the time to
//! simplify, the paper's 1/(η²σ²) time scale drawn as C/(η²σ²) with C the median of
//! time · η²σ² (Lemma 6: the slow phase moves at rate η²σ²).
//!
//! Every figure is written as `by-<setting>.png` and `.svg`; `report.md` links them and
//! `report.html` holds them inline (one self-contained page), through the experiments
//! crate's plotting and report rendering.

use std::collections::BTreeMap;
use std::path::Path;

use labelnoise_core::files::write_atomic;
use labelnoise_experiments::plot::{color, render, Figure, Legend, Panel, Series, Style};
use labelnoise_experiments::report::{html, markdown, RenderedFigure, Section};
use labelnoise_experiments::Claim;
use serde::Serialize;
use serde_json::{json, Value};

use crate::collect::{cell, Measures, Results, Row, Status};
use crate::definition::Definition;
use crate::error::{Result, SweepError};

/// A measure that is drawn: its column and how to read it from a row.
struct Measure {
    name: &'static str,
    label: &'static str,
    get: fn(&Measures) -> Option<f64>,
}

const MEASURES: [Measure; 6] = [
    Measure {
        name: "time_to_simplify",
        label: "time to simplify (steps)",
        get: |m| m.time_to_simplify.map(|v| v as f64),
    },
    Measure {
        name: "final_train_loss",
        label: "final train loss",
        get: |m| Some(m.final_train_loss),
    },
    Measure {
        name: "reg",
        label: "reg (projected)",
        get: |m| Some(m.reg),
    },
    Measure {
        name: "null_reg_grad_norm",
        label: "||g_N|| (projected)",
        get: |m| Some(m.null_reg_grad_norm),
    },
    Measure {
        name: "convexity_changes",
        label: "convexity changes",
        get: |m| m.convexity_changes.map(|v| v as f64),
    },
    Measure {
        name: "curve_length",
        label: "curve length",
        get: |m| m.curve_length,
    },
];

/// The number a setting's value stands for on an axis: a number, or the one number of
/// a one-element list (`hidden = [64]` is 64); `None` otherwise.
pub fn numeric(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::Array(a) if a.len() == 1 => a[0].as_f64(),
        _ => None,
    }
}

/// A power-law fit y ≈ c · x^exponent.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Fit {
    /// The measure.
    pub measure: String,
    /// The swept setting on the x axis.
    pub setting: String,
    /// The series (the other swept settings), empty if none.
    pub series: String,
    /// The exponent fitted to the medians.
    pub exponent: f64,
    /// The exponents fitted to each seed's points alone.
    pub seed_exponents: Vec<f64>,
    /// How many x values the fit used.
    pub points: usize,
}

/// Quantile q of sorted values (linear interpolation between order statistics).
pub fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let h = q * (sorted.len() - 1) as f64;
    let (lo, hi) = (h.floor() as usize, h.ceil() as usize);
    sorted[lo] + (h - lo as f64) * (sorted[hi] - sorted[lo])
}

/// The least-squares slope of log y against log x over positive pairs (`None` for
/// fewer than two distinct x).
pub fn log_slope(pairs: &[(f64, f64)]) -> Option<f64> {
    let pts: Vec<(f64, f64)> = pairs
        .iter()
        .filter(|(x, y)| *x > 0.0 && *y > 0.0 && x.is_finite() && y.is_finite())
        .map(|(x, y)| (x.ln(), y.ln()))
        .collect();
    let n = pts.len() as f64;
    if pts.len() < 2 {
        return None;
    }
    let mx = pts.iter().map(|p| p.0).sum::<f64>() / n;
    let my = pts.iter().map(|p| p.1).sum::<f64>() / n;
    let sxx: f64 = pts.iter().map(|p| (p.0 - mx).powi(2)).sum();
    if sxx <= 0.0 {
        return None;
    }
    let sxy: f64 = pts.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum();
    Some(sxy / sxx)
}

/// The settings on the x axes: the numeric swept settings other than the seed.
pub fn axes(def: &Definition, rows: &[Row]) -> Vec<String> {
    def.swept()
        .into_iter()
        .filter(|k| *k != "seed")
        .filter(|k| {
            rows.iter()
                .all(|r| r.settings.get(*k).and_then(numeric).is_some())
        })
        .filter(|k| {
            let mut vals: Vec<f64> = rows
                .iter()
                .filter_map(|r| r.settings.get(*k).and_then(numeric))
                .collect();
            vals.sort_by(f64::total_cmp);
            vals.dedup();
            vals.len() >= 2
        })
        .map(str::to_string)
        .collect()
}

/// The swept settings that make separate series on setting `x`'s axis: every swept
/// setting but `x`, the seed, and the settings zipped with `x`.
fn series_keys(def: &Definition, x: &str) -> Vec<String> {
    let zipped = def.zip.iter().any(|(k, _)| k == x);
    def.swept()
        .into_iter()
        .filter(|k| *k != x && *k != "seed")
        .filter(|k| !(zipped && def.zip.iter().any(|(z, _)| z == k)))
        .filter(|k| {
            // A list of one value (or of equal values) splits nothing.
            let values = def.zip.iter().chain(&def.grid).find(|(z, _)| z == k);
            values.is_some_and(|(_, v)| v.iter().any(|x| x != &v[0]))
        })
        .map(str::to_string)
        .collect()
}

/// The most series a panel's legend lists.
const MAX_LEGEND: usize = 6;

/// η²σ² of a row.
fn drift_rate(r: &Row) -> Option<f64> {
    let lr = r.settings.get("lr").and_then(Value::as_f64)?;
    let noise = r.settings.get("noise").and_then(Value::as_f64)?;
    Some(lr * lr * noise * noise)
}

/// The points of a panel: series label → x (as bits) → (seed, y, row).
type Groups<'a> = BTreeMap<String, BTreeMap<u64, Vec<(u64, f64, &'a Row)>>>;

/// What one panel shows, with the fits it made.
struct PanelData {
    panel: Panel,
    fits: Vec<Fit>,
}

fn panel_for(def: &Definition, rows: &[&Row], x: &str, m: &Measure) -> PanelData {
    let keys = series_keys(def, x);
    let label_of = |r: &Row| -> String {
        keys.iter()
            .map(|k| format!("{k}={}", r.settings.get(k).map(cell).unwrap_or_default()))
            .collect::<Vec<_>>()
            .join(" ")
    };
    // series label → x → (seed, y)
    let mut groups: Groups = BTreeMap::new();
    for r in rows {
        let (Some(xv), Some(y)) = (
            r.settings.get(x).and_then(numeric),
            r.measures.as_ref().and_then(|ms| (m.get)(ms)),
        ) else {
            continue;
        };
        groups
            .entry(label_of(r))
            .or_default()
            .entry(xv.to_bits())
            .or_default()
            .push((r.seed, y, r));
    }
    let all_x: Vec<f64> = groups
        .values()
        .flat_map(|g| g.keys().map(|b| f64::from_bits(*b)))
        .collect();
    let all_y: Vec<f64> = groups
        .values()
        .flat_map(|g| g.values().flat_map(|v| v.iter().map(|p| p.1)))
        .collect();
    let spans = |v: &[f64], factor: f64| {
        let lo = v.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        lo > 0.0 && hi / lo >= factor
    };
    // A measure that spans a decade is drawn log-log (against a positive setting) and
    // gets a power-law fit. A positive setting spanning a factor 2 or more gets a log
    // axis either way: swept settings are usually geometric (learning rates, noise
    // levels, widths), and a linear axis would crowd their small values.
    let y_log = spans(&all_y, 10.0);
    let x_log = spans(&all_x, 2.0) || (y_log && spans(&all_x, 1.0));
    let mut series = Vec::new();
    let mut fits = Vec::new();
    for (s, (label, by_x)) in groups.iter().enumerate() {
        let c = color(s);
        let mut med = Vec::new();
        let mut q1 = Vec::new();
        let mut q3 = Vec::new();
        let mut per_seed: BTreeMap<u64, Vec<(f64, f64)>> = BTreeMap::new();
        let mut reference = Vec::new();
        for (bits, ys) in by_x {
            let xv = f64::from_bits(*bits);
            let mut v: Vec<f64> = ys.iter().map(|p| p.1).collect();
            v.sort_by(f64::total_cmp);
            med.push((xv, quantile(&v, 0.5)));
            q1.push((xv, quantile(&v, 0.25)));
            q3.push((xv, quantile(&v, 0.75)));
            for (seed, y, _) in ys {
                per_seed.entry(*seed).or_default().push((xv, *y));
            }
            let rates: Vec<f64> = ys.iter().filter_map(|p| drift_rate(p.2)).collect();
            let scaled: Vec<f64> = ys
                .iter()
                .filter_map(|p| drift_rate(p.2).map(|d| p.1 * d))
                .collect();
            if let (Some(&rate), false) = (rates.first(), scaled.is_empty()) {
                reference.push((xv, rate, scaled));
            }
        }
        // Past MAX_LEGEND series a legend would hide the panel; the colours then only
        // separate the series (the rows are in results.csv).
        let name = if groups.len() > MAX_LEGEND {
            None
        } else if label.is_empty() {
            Some("median")
        } else {
            Some(label.as_str())
        };
        series.push(Series::new(name, med.clone(), c, Style::Line));
        series.push(Series::new(None, med.clone(), c, Style::Points));
        series.push(Series::new(None, q1, c, Style::Thin));
        series.push(Series::new(None, q3, c, Style::Thin));
        if let Some(exponent) = log_slope(&med).filter(|_| x_log && y_log) {
            let seed_exponents = per_seed.values().filter_map(|p| log_slope(p)).collect();
            fits.push(Fit {
                measure: m.name.into(),
                setting: x.into(),
                series: label.clone(),
                exponent,
                seed_exponents,
                points: med.len(),
            });
        }
        let rates_vary = reference
            .iter()
            .any(|(_, r, _)| (r / reference[0].1 - 1.0).abs() > 1e-12);
        if m.name == "time_to_simplify" && rates_vary {
            let mut all: Vec<f64> = reference.iter().flat_map(|(_, _, s)| s.clone()).collect();
            all.sort_by(f64::total_cmp);
            let cst = quantile(&all, 0.5);
            let line: Vec<(f64, f64)> = reference.iter().map(|(xv, r, _)| (*xv, cst / r)).collect();
            series.push(Series::new(
                Some(&format!("{cst:.3} / (eta^2 sigma^2)")),
                line,
                plotters::style::BLACK,
                Style::Dashed,
            ));
        }
    }
    let fit_text = fits
        .iter()
        .map(|f| format!("{:.2}", f.exponent))
        .collect::<Vec<_>>()
        .join(", ");
    let title = if fit_text.is_empty() {
        m.label.to_string()
    } else {
        format!("{} (exponent {fit_text})", m.label)
    };
    PanelData {
        panel: Panel {
            title,
            x_label: x.to_string(),
            y_label: m.label.to_string(),
            x_log,
            y_log,
            series,
            legend: if m.name == "time_to_simplify" || m.name == "convexity_changes" {
                Legend::UpperRight
            } else {
                Legend::UpperLeft
            },
        },
        fits,
    }
}

/// What [`write_report`] wrote.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ReportSummary {
    /// The figure stems written (`by-lr`, ...).
    pub figures: Vec<String>,
    /// Every fitted exponent.
    pub fits: Vec<Fit>,
}

/// The median, smallest and largest of a list, for the report.
fn spread(v: &[f64]) -> Value {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    if s.is_empty() {
        return Value::Null;
    }
    json!({"median": quantile(&s, 0.5), "q1": quantile(&s, 0.25), "q3": quantile(&s, 0.75),
           "min": s[0], "max": s[s.len() - 1], "seeds": s.len()})
}

/// Draws the figures and writes `report.md` and `report.html` into `root`.
pub fn write_report(root: &Path, def: &Definition, results: &Results) -> Result<ReportSummary> {
    let finished: Vec<&Row> = results
        .rows
        .iter()
        .filter(|r| r.status == Status::Finished)
        .collect();
    let fin_rows: Vec<Row> = finished.iter().map(|r| (*r).clone()).collect();
    let mut figures = Vec::new();
    let mut fits = Vec::new();
    let mut rendered = Vec::new();
    for x in axes(def, &fin_rows) {
        let mut panels = Vec::new();
        for m in &MEASURES {
            let p = panel_for(def, &finished, &x, m);
            fits.extend(p.fits);
            panels.push(p.panel);
        }
        let name = format!("by-{x}");
        let fig = Figure {
            name: name.clone(),
            title: format!(
                "{}: the measures against {x} (median and IQR over seeds)",
                def.name
            ),
            panels,
            cols: 3,
            panel_size: (520, 400),
        };
        let (png, _) = render(&fig, root).map_err(|e| match e {
            labelnoise_experiments::Error::Core(c) => SweepError::Core(c),
            other => SweepError::Figure(other.to_string()),
        })?;
        rendered.push(RenderedFigure {
            name: name.clone(),
            caption: format!(
                "Each measure of the finished points against {x}: the line joins the medians, the thin lines \
                 are the first and third quartiles, over the seeds (and the settings zipped with {x}); one \
                 colour per combination of the other swept settings. Log axes for {x} when its values span \
                 a factor 2 and for a measure whose values span a decade; the exponent in a log-log \
                 panel's title is the least-squares slope of log median against log {x}."
            ),
            png,
        });
        figures.push(name);
    }
    let counts = |s: Status| results.rows.iter().filter(|r| r.status == s).count();
    let mut intro = vec![
        format!(
            "Sweep `{}`{}: {} points, swept settings {}. Finished {}, diverged {}, failed {}, incomplete {}, missing {}.",
            def.name,
            if def.description.is_empty() { String::new() } else { format!(" ({})", def.description) },
            results.count,
            results.swept.iter().map(|k| format!("`{k}`")).collect::<Vec<_>>().join(", "),
            counts(Status::Finished),
            counts(Status::Diverged),
            counts(Status::Failed),
            counts(Status::Incomplete),
            counts(Status::Missing),
        ),
        format!(
            "Fixed settings: {}.",
            def.fixed.iter().map(|(k, v)| format!("`{k} = {}`", cell(v))).collect::<Vec<_>>().join(", ")
        ),
        "Measures as `labelnoise reproduce` takes them: each final network is projected back onto the \
         zero-loss manifold (minimum-norm Gauss-Newton, at most 50 steps) and measured there: reg, ||g_N||, \
         the Theorem 2 verdict, convexity changes and curve length (Theorem 1 report); the final train loss \
         is before the projection. The time to simplify is the first metrics step from which the convexity \
         changes stay at the data's minimum (from metrics.csv). Every row is in `results.csv` and \
         `results.json`."
            .to_string(),
    ];
    if def.swept().contains(&"lr") || def.swept().contains(&"noise") {
        intro.push(
            "Paper: after the fit, label noise moves the network along the zero-loss manifold at rate \
             eta^2 sigma^2 (Lemma 6), so the time to reach the simplest function should grow like \
             1/(eta^2 sigma^2): exponent -2 against eta (sigma fixed) and against sigma (eta fixed)."
                .to_string(),
        );
    }
    let mut claims = Vec::new();
    for f in &fits {
        if f.measure == "time_to_simplify" && (f.setting == "lr" || f.setting == "noise") {
            let name = if f.series.is_empty() {
                format!("time-to-simplify-exponent-{}", f.setting)
            } else {
                format!("time-to-simplify-exponent-{} ({})", f.setting, f.series)
            };
            claims.push(Claim::new(
                &name,
                format!(
                    "Lemma 6: time scale 1/(eta^2 sigma^2), so time to simplify ~ {}^-2. Pass: the exponent \
                     fitted to the medians is within 0.5 of -2.",
                    f.setting
                ),
                json!({"exponent": f.exponent, "seed_exponents": spread(&f.seed_exponents), "x_values": f.points}),
                (f.exponent + 2.0).abs() <= 0.5,
            ));
        }
    }
    let mut notes = Vec::new();
    if !fits.is_empty() {
        let mut t = String::from("Fitted exponents (log-log least squares of the medians; across seeds: median [min, max] of the per-seed fits): ");
        let parts: Vec<String> = fits
            .iter()
            .map(|f| {
                let mut s = f.seed_exponents.clone();
                s.sort_by(f64::total_cmp);
                let seeds = if s.is_empty() {
                    String::new()
                } else {
                    format!(
                        " (seeds {:.2} [{:.2}, {:.2}])",
                        quantile(&s, 0.5),
                        s[0],
                        s[s.len() - 1]
                    )
                };
                format!(
                    "`{}` against `{}`{}: {:.3}{}",
                    f.measure,
                    f.setting,
                    if f.series.is_empty() {
                        String::new()
                    } else {
                        format!(" [{}]", f.series)
                    },
                    f.exponent,
                    seeds
                )
            })
            .collect();
        t.push_str(&parts.join("; "));
        t.push('.');
        notes.push(t);
    }
    let unfinished = results.unfinished();
    if !unfinished.is_empty() {
        let list: Vec<String> = unfinished
            .iter()
            .map(|r| {
                format!(
                    "{} ({}{})",
                    r.dir,
                    r.status.name(),
                    r.problem
                        .as_ref()
                        .map(|p| format!(": {p}"))
                        .unwrap_or_default()
                )
            })
            .collect();
        notes.push(format!("Points not finished: {}.", list.join("; ")));
    }
    let never = finished
        .iter()
        .filter(|r| {
            r.measures
                .as_ref()
                .is_some_and(|m| m.time_to_simplify.is_none())
        })
        .count();
    if never > 0 {
        notes.push(format!(
            "{never} finished points never reached the data's minimum number of convexity changes for good \
             (empty time to simplify; left out of its panels)."
        ));
    }
    let section = Section {
        name: def.name.clone(),
        title: format!("sweep {}", def.name),
        wall_seconds: results.rows.iter().filter_map(|r| r.wall_seconds).sum(),
        intro,
        claims,
        figures: rendered,
        notes,
    };
    let title = format!("labelnoise collect: {}", def.name);
    let header = vec![format!(
        "Sweep hash `{}`; wall time below is the sum over the points' runs.",
        results.sweep_hash
    )];
    let sections = [section];
    write_atomic(
        &root.join("report.md"),
        markdown(&title, &header, &sections).as_bytes(),
    )?;
    write_atomic(
        &root.join("report.html"),
        html(&title, &header, &sections).as_bytes(),
    )?;
    Ok(ReportSummary { figures, fits })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slopes_and_quantiles() {
        let pts: Vec<(f64, f64)> = [1.0, 2.0, 4.0, 8.0]
            .iter()
            .map(|&x| (x, 3.0 / (x * x)))
            .collect();
        assert!((log_slope(&pts).unwrap() + 2.0).abs() < 1e-12);
        assert!(log_slope(&[(1.0, 1.0)]).is_none());
        assert_eq!(quantile(&[1.0, 2.0, 3.0, 4.0], 0.5), 2.5);
        assert_eq!(quantile(&[1.0, 2.0, 3.0, 4.0], 0.25), 1.75);
        assert_eq!(numeric(&json!([64])), Some(64.0));
        assert_eq!(numeric(&json!([64, 64])), None);
    }
}
