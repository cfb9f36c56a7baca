//! The options of [`super::settle`], their defaults and their checks.

use serde::Serialize;

use crate::analysis::AnalyzeOptions;
use crate::error::{Error, Result};
use crate::shape::ShapeOptions;
use crate::stability::Tolerances;

/// The most SGD steps one escape burst may take (a typo in η or σ must not start a run
/// of days).
pub const MAX_ESCAPE_STEPS: f64 = 1e9;

/// Options of [`settle`](super::settle()); [`Default`] gives the documented defaults.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SettleOptions {
    /// Fit tolerance (max_i |h(x_i) − y_i|, default 1e-6) and stationarity tolerance
    /// (||g_N|| ≤ stationarity · max(1, ||∇reg||), default 1e-6) of docs/conventions.md#verdict.
    pub tolerances: Tolerances,
    /// The most descent iterations (accepted steps, pins included). Default 2000.
    pub max_iter: usize,
    /// The most Gauss–Newton steps of the initial fit. Default 200.
    pub max_fit_iter: usize,
    /// Pin kinks that the descent pushes onto data points (module documentation).
    /// Default true; when false such a stall ends the run as
    /// [`Outcome::KinkOnDataPoint`](super::Outcome::KinkOnDataPoint).
    pub active_set: bool,
    /// Gauss–Newton steps ignore singular values of J below `gn_rcond` · σ_max.
    /// Default 1e-10. (P_N itself uses the rank rule of docs/conventions.md#spectrum.)
    pub gn_rcond: f64,
    /// The retraction stops once max_i |r_i| ≤ `retract_tol` · max(1, max_i |y_i|), or
    /// when a step no longer halves the residual (the rounding floor). Default 1e-13.
    pub retract_tol: f64,
    /// c₁ of the Armijo condition. Default 1e-4.
    pub armijo: f64,
    /// When the predicted decrease t ||g_N||² is below 100 · `slack_ulps` · ε · |reg|,
    /// a trial may raise reg by up to `slack_ulps` · ε · |reg|. Default 4.
    pub slack_ulps: f64,
    /// A kink within `kink_snap_tol` (relative, as for `kink_tol`) of a data point that
    /// blocked a trial step counts as pushed onto it. Default 1e-6.
    pub kink_snap_tol: f64,
    /// A pinned kink is held at z = −`pin_margin` · (||w|| ||a|| + |b|) (the size of the
    /// terms of z), a few rounding units on the inactive side of its point, so that
    /// rounding cannot turn the point active. Default 8ε ≈ 1.8e-15.
    pub pin_margin: f64,
    /// A kink within `kink_tol` of a data point is on it (docs/conventions.md#nonsmooth: the kink within
    /// `kink_tol` · (x_n − x_1) for 1-D inputs and one hidden layer, otherwise
    /// |z| ≤ `kink_tol` · (||w|| ||a|| + |b|)). Default 1e-9.
    pub kink_tol: f64,
    /// Relative slope-jump threshold of the Theorem 1 shape report. Default 1e-6.
    pub jump_threshold: f64,
    /// Ramp widths τ (relative to the data span x_n − x_1) of the smoothing
    /// continuation after a non-smooth stall, descended in this order (module
    /// documentation, "Smoothing"; 1-D networks with one hidden ReLU layer). Default
    /// empty (the continuation is off); [`SettleOptions::with_remedies`] sets
    /// [`REMEDY_TAUS`].
    pub smooth_taus: Vec<f64>,
    /// The most accepted steps of the smoothed descent for each τ. Default 500.
    pub smooth_max_iter: usize,
    /// The most escape rounds after a non-smooth stall (label-noise SGD burst, then a new
    /// descent; module documentation, "Escapes"). Default 0 (off);
    /// [`SettleOptions::with_remedies`] sets [`REMEDY_ROUNDS`].
    pub escape_rounds: usize,
    /// Stop escaping after this many rounds in a row that gained nothing. Default 1.
    pub escape_patience: usize,
    /// η of the bursts (halved after a burst that diverges). Default 4e-3.
    pub escape_lr: f64,
    /// σ of the bursts' label noise (Rademacher ±σ). Default 0.5.
    pub escape_noise: f64,
    /// Length of a burst in slow-phase time units 1/(η²σ²). Default 1.
    pub escape_time: f64,
    /// A round's end point replaces the best when its reg is lower by more than this
    /// fraction. Default 1e-3.
    pub escape_gain: f64,
    /// Seed of the bursts' noise (round k uses `escape_seed` + k). Default 0.
    pub escape_seed: u64,
}

impl Default for SettleOptions {
    fn default() -> Self {
        SettleOptions {
            tolerances: Tolerances::default(),
            max_iter: 2000,
            max_fit_iter: 200,
            active_set: true,
            gn_rcond: 1e-10,
            retract_tol: 1e-13,
            armijo: 1e-4,
            slack_ulps: 4.0,
            kink_snap_tol: 1e-6,
            pin_margin: 8.0 * f64::EPSILON,
            kink_tol: 1e-9,
            jump_threshold: 1e-6,
            smooth_taus: Vec::new(),
            smooth_max_iter: 500,
            escape_rounds: 0,
            escape_patience: 1,
            escape_lr: 4e-3,
            escape_noise: 0.5,
            escape_time: 1.0,
            escape_gain: 1e-3,
            escape_seed: 0,
        }
    }
}

/// The ramp widths of the smoothing continuation when the remedies are on.
pub const REMEDY_TAUS: [f64; 3] = [1e-2, 3e-3, 1e-3];

/// The most escape rounds when the remedies are on.
pub const REMEDY_ROUNDS: usize = 4;

impl SettleOptions {
    /// These options with the remedies for non-smooth stalls on (`--remedies`): the
    /// smoothing continuation over [`REMEDY_TAUS`] and up to [`REMEDY_ROUNDS`]
    /// label-noise bursts (module documentation, "Leaving non-smooth stalls"). They are
    /// off by default because they cost: measured in `reproduce settle --quick`, 0.2-1 s
    /// per stalled start where the plain descent takes 0.01-0.3 s, which is most of
    /// the slow phase settle replaces (docs/claims.md#settle).
    pub fn with_remedies(self) -> Self {
        SettleOptions {
            smooth_taus: REMEDY_TAUS.to_vec(),
            escape_rounds: REMEDY_ROUNDS,
            ..self
        }
    }

    /// The options, checked: fails on a tolerance that is NaN, infinite, negative or
    /// out of range, naming the option (`--fit-tol`, `--stationarity-tol` and the
    /// `--escape-*` flags as on the command line, the others by their field name).
    pub fn check(&self) -> Result<ValidSettleOptions> {
        self.tolerances.check()?;
        let unit = |name: &str, v: f64, lo: f64, hi: f64| {
            if v.is_finite() && v > lo && v < hi {
                Ok(())
            } else {
                Err(Error::parameter(
                    name,
                    format!("must lie strictly between {lo} and {hi}, got {v}"),
                ))
            }
        };
        unit("gn_rcond", self.gn_rcond, 0.0, 1.0)?;
        unit("retract_tol", self.retract_tol, 0.0, 1.0)?;
        unit("armijo", self.armijo, 0.0, 0.5)?;
        unit("kink_snap_tol", self.kink_snap_tol, 0.0, 1.0)?;
        unit("pin_margin", self.pin_margin, 0.0, 1.0)?;
        unit("escape_gain", self.escape_gain, 0.0, 1.0)?;
        for &tau in &self.smooth_taus {
            unit("smooth_taus", tau, 0.0, 1.0)?;
        }
        for (name, v) in [
            ("--escape-lr", self.escape_lr),
            ("--escape-noise", self.escape_noise),
            ("--escape-time", self.escape_time),
        ] {
            if !(v.is_finite() && v > 0.0) {
                return Err(Error::parameter(
                    name,
                    format!("must be a finite number > 0, got {v}"),
                ));
            }
        }
        let steps = self.escape_time / (self.escape_lr.powi(2) * self.escape_noise.powi(2));
        if self.escape_rounds > 0 && steps > MAX_ESCAPE_STEPS {
            return Err(Error::parameter(
                "--escape-time",
                format!(
                    "gives {steps:.3e} SGD steps per burst (T / (η² σ²) with --escape-lr η and --escape-noise σ); at most {MAX_ESCAPE_STEPS:e} are allowed"
                ),
            ));
        }
        for (name, v) in [
            ("slack_ulps", self.slack_ulps),
            ("kink_tol", self.kink_tol),
            ("jump_threshold", self.jump_threshold),
        ] {
            if !(v.is_finite() && v >= 0.0) {
                return Err(Error::parameter(
                    name,
                    format!("must be a finite number ≥ 0, got {v}"),
                ));
            }
        }
        if self.pin_margin >= self.kink_tol.max(f64::MIN_POSITIVE) {
            return Err(Error::parameter(
                "pin_margin",
                format!(
                    "must be below kink_tol ({}), got {}",
                    self.kink_tol, self.pin_margin
                ),
            ));
        }
        Ok(ValidSettleOptions(self.clone()))
    }
}

/// [`SettleOptions`] that passed [`SettleOptions::check`]; the descent runs on these.
#[derive(Clone, Debug, PartialEq)]
pub struct ValidSettleOptions(SettleOptions);

impl ValidSettleOptions {
    /// The options.
    pub fn options(&self) -> &SettleOptions {
        &self.0
    }

    /// The options of the Theorem 1 shape report in the trace and the certificate.
    pub(super) fn shape(&self) -> ShapeOptions {
        ShapeOptions {
            jump_threshold: self.0.jump_threshold,
            fit_tol: self.0.tolerances.fit,
            on_point_tol: self.0.kink_tol,
            ..ShapeOptions::default()
        }
    }

    /// The options of the `analyze` certificate of the end point.
    pub(super) fn analyze_options(&self) -> AnalyzeOptions {
        AnalyzeOptions {
            tolerances: self.0.tolerances,
            shape: self.shape(),
            ..AnalyzeOptions::default()
        }
    }
}

impl std::ops::Deref for ValidSettleOptions {
    type Target = SettleOptions;

    fn deref(&self) -> &SettleOptions {
        &self.0
    }
}
