//! Output formats: each turns a result into bytes; writing them is the caller's business,
//! so tests need no disk and no terminal.

use std::fmt::Write as _;

use labelnoise_core::analysis::Analysis;
use serde::Serialize;

/// A way of rendering a value of type `T` as bytes.
pub trait Format<T: ?Sized> {
    /// The rendering.
    fn render(&self, value: &T) -> anyhow::Result<Vec<u8>>;
}

/// One JSON object and a newline. Floats are written with enough digits to round-trip.
pub struct Json;

impl<T: Serialize + ?Sized> Format<T> for Json {
    fn render(&self, value: &T) -> anyhow::Result<Vec<u8>> {
        let mut bytes = serde_json::to_vec(value)?;
        bytes.push(b'\n');
        Ok(bytes)
    }
}

/// A table for people.
pub struct Table;

fn list(values: &[f64], max: usize) -> String {
    let shown: Vec<String> = values
        .iter()
        .take(max)
        .map(|v| format!("{v:.6e}"))
        .collect();
    let more = values.len().saturating_sub(max);
    if more > 0 {
        format!("{} … ({more} more)", shown.join(", "))
    } else if shown.is_empty() {
        "(none)".to_string()
    } else {
        shown.join(", ")
    }
}

impl Format<Analysis> for Table {
    fn render(&self, a: &Analysis) -> anyhow::Result<Vec<u8>> {
        let mut s = String::new();
        let row = |s: &mut String, k: &str, v: String| {
            let _ = writeln!(s, "{k:<24}{v}");
        };
        row(&mut s, "model", a.model.clone());
        row(&mut s, "points n", a.n.to_string());
        row(&mut s, "parameters p", a.params.to_string());
        row(&mut s, "train loss", format!("{:.6e}", a.train_loss));
        row(
            &mut s,
            "max |residual|",
            format!(
                "{:.6e}  (fit tolerance {:e})",
                a.max_abs_residual, a.tolerances.fit
            ),
        );
        row(&mut s, "reg", format!("{:.10e}", a.reg));
        row(&mut s, "||grad reg||", format!("{:.6e}", a.reg_grad_norm));
        row(
            &mut s,
            "||g_N||",
            format!("{:.6e}  (projected onto ker J)", a.null_reg_grad_norm),
        );
        row(
            &mut s,
            "rank J",
            format!("{}  (tolerance {:.3e})", a.jacobian_rank, a.rank_tolerance),
        );
        row(&mut s, "gamma", list(&a.gamma, 6));
        row(
            &mut s,
            "verdict",
            format!(
                "{}  (stationarity tolerance {:e} x max(1, ||grad reg||))",
                a.verdict.name(),
                a.tolerances.stationarity
            ),
        );
        if a.nonsmooth.is_empty() {
            row(
                &mut s,
                "nonsmooth",
                "none (reg is smooth at every data point)".to_string(),
            );
        } else {
            let items: Vec<String> = a
                .nonsmooth
                .iter()
                .map(|u| format!("layer {} unit {} at point {}", u.layer, u.unit, u.point))
                .collect();
            row(
                &mut s,
                "nonsmooth",
                format!("{} (Theorem 2 assumes smoothness)", items.join("; ")),
            );
        }
        if let Some(shape) = &a.shape {
            let _ = writeln!(s, "\nTheorem 1 shape (1-D, one hidden relu layer)");
            let kinks: Vec<String> = shape
                .kinks
                .iter()
                .map(|k| {
                    let on = k
                        .data_point
                        .map_or(String::new(), |i| format!(" on point {i}"));
                    format!("{:.4}{on} ({:+.3e})", k.x, k.jump)
                })
                .collect();
            row(
                &mut s,
                "kinks",
                if kinks.is_empty() {
                    "none".into()
                } else {
                    kinks.join(", ")
                },
            );
            row(
                &mut s,
                "convexity changes",
                format!(
                    "{} (data need {}; jumps below {:e} of the largest ignored)",
                    shape.convexity_changes, shape.min_convexity_changes, shape.jump_threshold
                ),
            );
            let triples: Vec<String> = shape
                .colinear_triples
                .iter()
                .map(|t| {
                    format!(
                        "({},{},{}) {}",
                        t.points[0],
                        t.points[1],
                        t.points[2],
                        if t.linear { "linear" } else { "NOT linear" }
                    )
                })
                .collect();
            row(
                &mut s,
                "co-linear triples",
                if triples.is_empty() {
                    "none".into()
                } else {
                    triples.join(", ")
                },
            );
            row(&mut s, "curve length", format!("{:.6}", shape.curve_length));
            row(
                &mut s,
                "Theorem 1",
                if shape.theorem1 {
                    "holds".into()
                } else {
                    "fails".into()
                },
            );
        }
        if let Some(reason) = &a.shape_not_applicable {
            let _ = writeln!(s, "\nTheorem 1 shape (1-D, relu)");
            row(&mut s, "shape report", format!("not applicable: {reason}"));
        }
        if let Some(units) = &a.units {
            let _ = writeln!(
                s,
                "\nTheorem 3 unit classes ({} on one point)",
                units.activation
            );
            for (k, class) in units.classes.iter().enumerate() {
                row(
                    &mut s,
                    &format!("class {k}"),
                    format!(
                        "c = {:+.6}, h = {:+.6}, {} units",
                        class.c,
                        class.h,
                        class.units.len()
                    ),
                );
            }
            row(&mut s, "dead units", units.dead.len().to_string());
            row(
                &mut s,
                "Theorem 3",
                if units.theorem3 {
                    "holds".into()
                } else {
                    "fails".into()
                },
            );
        }
        Ok(s.into_bytes())
    }
}
