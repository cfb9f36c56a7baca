//! What the report sections of `reproduce` share: the imports they all use, the setup
//! paragraph of the 1-D experiments and small plotting helpers. The sections and the
//! dispatcher in `mod.rs` import this module; it imports neither.

pub(super) use std::io::{IsTerminal, Write};
pub(super) use std::path::Path;
pub(super) use std::time::Instant;

pub(super) use clap::Args;
pub(super) use labelnoise_core::experiments::{
    self, explicit::Explicit, fig1::Fig1, fig2::Fig2, fig2::Trajectory, lemma5::Lemma5,
    lemma6::Lemma6, one_layer::OneLayer, theorem1::Theorem1, theorem3::Theorem3, ClaimKind,
    Options, Outcome,
};
pub(super) use serde_json::json;

pub(super) use crate::plot::{color, render, Figure, Legend, Panel, Series, Style};
pub(super) use crate::report::{html, markdown, RenderedFigure, Section};
pub(super) use crate::UsageError;
pub(super) use labelnoise_core::files::{check_output_dir, write_atomic};

/// Setup paragraph shared by the 1-D experiments.
pub(super) fn setup_text(s: &labelnoise_core::experiments::common::Setup) -> String {
    format!(
        "Network: 1 -> {} ReLU -> 1 with output bias and skip unit (the Theorem 1 network), on the \
         built-in `fig1` data (12 points, four co-linear runs, at least 2 convexity changes). \
         Initialisation: PyTorch's U(+-1/sqrt(fan_in)) for every layer, then the output weights \
         multiplied by {}, so c_i ~ U(-3, 3): large output weights make the initial function wiggly \
         (~35 convexity changes), plain SGD fits the points while keeping those wiggles, and the \
         contrast the paper shows is visible (with the default scale the plain fits are already \
         nearly piecewise linear). SGD: eta = {}, label noise +-sigma (Rademacher) with sigma = {}, \
         so eta^2 sigma^2 = {:.2e}. Step counts from the theory: the fit phase takes ~100/eta = {:.0e} \
         steps and plain runs get {} steps; the slow phase runs at rate eta^2 sigma^2 (Lemma 6), time \
         scale 1/(eta^2 sigma^2) = {:.0e} steps, and label-noise runs get {} steps ({:.0} x that). \
         Kinks and convexity changes ignore slope jumps below {:.0e} of the largest jump inside \
         (x_1, x_n). Every final network is projected back onto the zero-loss manifold by \
         Gauss-Newton steps (minimum-norm, at most 50) before it is measured: this removes the \
         O(sqrt(eta sigma^2)) label-noise jitter without moving along the manifold (to first order).",
        s.width,
        s.output_scale,
        s.lr,
        s.noise,
        s.drift_rate(),
        100.0 / s.lr,
        s.plain_steps,
        1.0 / s.drift_rate(),
        s.noise_steps,
        s.noise_steps as f64 * s.drift_rate(),
        s.jump_threshold
    )
}

/// The points (x, f(x)) of a function sampled on a grid.
pub(super) fn curve(grid: &[f64], samples: &[f64]) -> Vec<(f64, f64)> {
    grid.iter().copied().zip(samples.iter().copied()).collect()
}

pub(super) fn data_series(data: &[(f64, f64)]) -> Series {
    Series::new(
        Some("data"),
        data.to_vec(),
        plotters::style::BLACK,
        Style::Points,
    )
}

pub(super) fn fig1_data_points() -> Vec<(f64, f64)> {
    let d = labelnoise_core::builtin::dataset("fig1").expect("built in");
    (0..d.len()).map(|i| (d.x(i)[0], d.y(i))).collect()
}

pub(super) fn figure(f: Figure, caption: String, dir: &Path) -> anyhow::Result<RenderedFigure> {
    let (png, _svg) = render(&f, dir)?;
    Ok(RenderedFigure {
        name: f.name,
        caption,
        png,
    })
}
