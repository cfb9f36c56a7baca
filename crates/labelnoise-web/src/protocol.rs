//! The WebSocket message protocol between the page and the server (docs/explore.md
//! has the same description for readers of the page's code): what the page may send,
//! how each message is checked, and what the server sends back.
//!
//! Every message is one JSON object with a `"type"` field. Unknown types, unknown
//! fields, missing fields, values out of bounds and non-finite numbers are refused
//! with an `error` message naming the field; the session goes on.

use serde::{Deserialize, Serialize};

use labelnoise_core::train::NoiseDist;
use labelnoise_core::Activation;

use crate::error::{Error, Result};

/// The largest hidden width.
pub const MAX_WIDTH: usize = 4096;
/// The most hidden layers.
pub const MAX_DEPTH: usize = 3;
/// The most data points.
pub const MAX_POINTS: usize = 200;
/// The largest message the server reads (bytes); a longer one is refused with an error
/// message. (The transport closes the connection at [`MAX_FRAME_BYTES`].)
pub const MAX_MESSAGE_BYTES: usize = 32 * 1024;
/// Messages longer than this end the connection at the WebSocket layer.
pub const MAX_FRAME_BYTES: usize = 1024 * 1024;
/// The most SGD steps a page may ask for per frame; the server also lowers it so that
/// a frame's stepping takes at most [`FRAME_BUDGET_MS`].
pub const MAX_STEPS_PER_FRAME: u64 = 10_000_000;
/// Time budget of one frame's stepping, milliseconds: with measuring (a few ms) a frame
/// fits in the 33 ms of 30 frames per second.
pub const FRAME_BUDGET_MS: f64 = 28.0;
/// Largest |x| or |y| of a data point.
pub const MAX_COORD: f64 = 1e6;
/// Largest initialisation scale (both scales).
pub const MAX_INIT_SCALE: f64 = 1e3;
/// Largest σ.
pub const MAX_NOISE: f64 = 1e3;
/// Largest η.
pub const MAX_LR: f64 = 10.0;
/// Seeds stay below 2^53 so that the page (JavaScript numbers) holds them exactly.
pub const MAX_SEED: u64 = (1 << 53) - 1;

/// Everything that defines the two runs besides the data. Field names follow the
/// command-line flags of `labelnoise train`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// Hidden width (every hidden layer), 1..=[`MAX_WIDTH`].
    pub width: usize,
    /// Number of hidden layers, 1..=[`MAX_DEPTH`].
    pub depth: usize,
    /// Activation of the hidden layers.
    pub activation: Activation,
    /// A linear skip unit from the input to the output.
    pub skip: bool,
    /// A bias on the output layer.
    pub output_bias: bool,
    /// Multiplier of the default initialisation U(±1/√fan_in).
    pub init_scale: f64,
    /// Multiplier of the output layer's weights after that (the fig1 experiment's 30).
    pub output_init_scale: f64,
    /// η.
    pub lr: f64,
    /// σ of the label-noise panel (the plain panel always has σ = 0).
    pub noise: f64,
    /// Distribution of the label noise.
    pub noise_dist: NoiseDist,
    /// SGD steps per frame asked for (the server may do fewer, see [`FRAME_BUDGET_MS`]).
    pub steps_per_frame: u64,
    /// Seed of the initialisation and of the SGD draws, shared by both panels.
    pub seed: u64,
}

impl Default for Settings {
    /// The fig1 experiment's network (width 100, relu, skip, output bias, output
    /// weights times 30) with η = 5e-4 and σ = 1 (docs/explore.md says why).
    fn default() -> Self {
        Settings {
            width: 100,
            depth: 1,
            activation: Activation::Relu,
            skip: true,
            output_bias: true,
            init_scale: 1.0,
            output_init_scale: 30.0,
            lr: 5e-4,
            noise: 1.0,
            noise_dist: NoiseDist::Rademacher,
            steps_per_frame: 1_000_000,
            seed: 0,
        }
    }
}

fn finite_in(field: &str, v: f64, lo: f64, hi: f64, lo_open: bool) -> Result<()> {
    let ok = v.is_finite() && v <= hi && if lo_open { v > lo } else { v >= lo };
    if ok {
        Ok(())
    } else {
        let bracket = if lo_open { "(" } else { "[" };
        Err(Error::message(
            field,
            format!("must be a finite number in {bracket}{lo}, {hi}], got {v}"),
        ))
    }
}

impl Settings {
    /// Checks every field against its bounds, naming the field.
    pub fn check(&self) -> Result<()> {
        if !(1..=MAX_WIDTH).contains(&self.width) {
            return Err(Error::message(
                "settings.width",
                format!("must be 1 to {MAX_WIDTH}, got {}", self.width),
            ));
        }
        if !(1..=MAX_DEPTH).contains(&self.depth) {
            return Err(Error::message(
                "settings.depth",
                format!("must be 1 to {MAX_DEPTH}, got {}", self.depth),
            ));
        }
        finite_in(
            "settings.init_scale",
            self.init_scale,
            0.0,
            MAX_INIT_SCALE,
            false,
        )?;
        finite_in(
            "settings.output_init_scale",
            self.output_init_scale,
            0.0,
            MAX_INIT_SCALE,
            false,
        )?;
        finite_in("settings.lr", self.lr, 0.0, MAX_LR, true)?;
        finite_in("settings.noise", self.noise, 0.0, MAX_NOISE, false)?;
        if !(1..=MAX_STEPS_PER_FRAME).contains(&self.steps_per_frame) {
            return Err(Error::message(
                "settings.steps_per_frame",
                format!(
                    "must be 1 to {MAX_STEPS_PER_FRAME}, got {}",
                    self.steps_per_frame
                ),
            ));
        }
        if self.seed > MAX_SEED {
            return Err(Error::message(
                "settings.seed",
                format!("must be 0 to 2^53 - 1 = {MAX_SEED}, got {}", self.seed),
            ));
        }
        Ok(())
    }

    /// Whether going from `self` to `other` changes the starting network (and so
    /// restarts both runs), rather than only the step's parameters.
    pub fn restarts(&self, other: &Settings) -> bool {
        self.width != other.width
            || self.depth != other.depth
            || self.activation != other.activation
            || self.skip != other.skip
            || self.output_bias != other.output_bias
            || self.init_scale != other.init_scale
            || self.output_init_scale != other.output_init_scale
            || self.seed != other.seed
    }
}

/// A message from the page.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum ClientMessage {
    /// New settings (all fields). A changed network or seed restarts both runs; a
    /// changed η, σ, noise distribution or steps per frame goes on from where they are.
    Settings {
        /// The settings.
        settings: Settings,
    },
    /// The data were edited (or a preset chosen): both runs go on from their current
    /// parameters on the new points.
    Points {
        /// (x, y) pairs, 2..=[`MAX_POINTS`] of them, finite, distinct x.
        points: Vec<[f64; 2]>,
    },
    /// Start stepping.
    Play {},
    /// Stop stepping.
    Pause {},
    /// One frame's worth of steps, then pause.
    Step {},
    /// Both runs back to their initialisation.
    Reset {},
    /// A fresh seed (drawn by the server), then a reset.
    NewSeed {},
    /// Jump the label-noise panel to the limit of its dynamics with `settle`.
    Settle {},
    /// Ask for the data, both models and the `labelnoise train` command lines.
    Export {},
}

/// Parses and checks one text message from the page.
pub fn parse_message(text: &str) -> Result<ClientMessage> {
    if text.len() > MAX_MESSAGE_BYTES {
        return Err(Error::message(
            "message",
            format!(
                "{} bytes, more than the {MAX_MESSAGE_BYTES} a message may have",
                text.len()
            ),
        ));
    }
    let msg: ClientMessage = serde_json::from_str(text)
        .map_err(|e| Error::message("message", format!("not a valid message: {e}")))?;
    match &msg {
        ClientMessage::Settings { settings } => settings.check()?,
        ClientMessage::Points { points } => check_points(points)?,
        _ => {}
    }
    Ok(msg)
}

/// Checks a set of data points: 2..=[`MAX_POINTS`], finite, within ±[`MAX_COORD`],
/// distinct x.
pub fn check_points(points: &[[f64; 2]]) -> Result<()> {
    if points.len() < 2 || points.len() > MAX_POINTS {
        return Err(Error::message(
            "points",
            format!("need 2 to {MAX_POINTS} points, got {}", points.len()),
        ));
    }
    for (i, p) in points.iter().enumerate() {
        for (k, v) in p.iter().enumerate() {
            if !(v.is_finite() && v.abs() <= MAX_COORD) {
                let axis = if k == 0 { "x" } else { "y" };
                return Err(Error::message(
                    &format!("points[{i}].{axis}"),
                    format!("must be a finite number within ±{MAX_COORD:e}, got {v}"),
                ));
            }
        }
    }
    let mut xs: Vec<f64> = points.iter().map(|p| p[0]).collect();
    xs.sort_by(f64::total_cmp);
    if let Some(w) = xs.windows(2).find(|w| w[0] == w[1]) {
        return Err(Error::message(
            "points",
            format!("two points share x = {}", w[0]),
        ));
    }
    Ok(())
}

/// What the page is told about one panel in a frame.
#[derive(Clone, Debug, Serialize)]
pub struct PanelFrame {
    /// The function on the frame's grid.
    pub f: Vec<f32>,
    /// The function at the data points, in the order of the points.
    pub at_points: Vec<f64>,
    /// Kinks (x, slope jump) of a relu network, all of them on the real line.
    pub kinks: Vec<[f32; 2]>,
    /// (1/n) Σ (h(x_i) − y_i)², clean labels.
    pub loss: f64,
    /// reg (paper eq. 1).
    pub reg: f64,
    /// Convexity changes strictly inside (x_1, x_n) (relu networks).
    pub convexity: Option<usize>,
    /// Curve length over [x_1, x_n]: exact for relu networks, of the sampled polyline
    /// otherwise.
    pub curve_length: f64,
    /// Whether the run diverged (it then stays where it was).
    pub diverged: bool,
}

/// A message to the page.
#[derive(Clone, Debug, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerMessage {
    /// The first message of a session.
    Hello {
        /// The most sessions served at once.
        max_sessions: usize,
        /// Bounds of the inputs.
        limits: Limits,
        /// The default settings.
        defaults: Settings,
    },
    /// The state the server runs, after every accepted change.
    State {
        /// The settings in force.
        settings: Settings,
        /// The data.
        points: Vec<[f64; 2]>,
        /// The fewest convexity changes any interpolant of the data has.
        min_convexity: Option<usize>,
        /// Whether the runs are stepping.
        playing: bool,
        /// The kernel each run uses (`fused` or `general`).
        kernel: String,
    },
    /// The two runs now.
    Frame {
        /// Steps done (the same for both panels).
        step: u64,
        /// Steps per second of each panel over the last frame.
        steps_per_second: f64,
        /// Steps done in this frame per panel.
        steps_this_frame: u64,
        /// Whether the runs are stepping.
        playing: bool,
        /// The x values the functions are sampled at.
        grid: Vec<f32>,
        /// Plain SGD.
        plain: PanelFrame,
        /// SGD with label noise.
        noise: PanelFrame,
    },
    /// The Theorem 2 verdict of one panel.
    Verdict {
        /// `plain` or `noise`.
        panel: &'static str,
        /// `non-repellent`, `repellent`, `kink-on-data-point` or `not-interpolating`.
        verdict: &'static str,
        /// The step it was computed at.
        step: u64,
        /// ||g_N|| at the (projected) network.
        null_reg_grad_norm: f64,
        /// What was analysed: `projected` (the live network moved onto the zero-loss
        /// manifold first) or `settled`.
        of: &'static str,
    },
    /// The label-noise panel was settled.
    Settled {
        /// settle's outcome name.
        outcome: &'static str,
        /// The verdict shown.
        verdict: &'static str,
        /// The settled function on the grid.
        grid: Vec<f32>,
        /// The settled function.
        f: Vec<f32>,
        /// reg before and after.
        start_reg: f64,
        /// reg after.
        end_reg: f64,
        /// Convexity changes of the settled function.
        convexity: Option<usize>,
        /// Descent iterations.
        iterations: usize,
        /// Wall time, seconds.
        seconds: f64,
    },
    /// The export: data, both models and the command lines.
    Export {
        /// The data file (labelnoise's data JSON).
        data: serde_json::Value,
        /// The plain panel's model (model JSON).
        plain: serde_json::Value,
        /// The label-noise panel's model.
        noise: serde_json::Value,
        /// `labelnoise train` command lines that reproduce each panel.
        commands: Vec<String>,
        /// Whether those commands reproduce the panels bit for bit (false after edits
        /// in the middle of a run, a change of η or σ, or settle).
        exact: bool,
    },
    /// A refused message or a failed action; the session goes on.
    Error {
        /// One line.
        message: String,
    },
    /// Sent before closing a connection the server will not serve.
    Refused {
        /// One line.
        message: String,
    },
}

/// The bounds, as told to the page.
#[derive(Clone, Debug, Serialize)]
pub struct Limits {
    /// [`MAX_WIDTH`].
    pub max_width: usize,
    /// [`MAX_DEPTH`].
    pub max_depth: usize,
    /// [`MAX_POINTS`].
    pub max_points: usize,
    /// [`MAX_STEPS_PER_FRAME`].
    pub max_steps_per_frame: u64,
    /// [`MAX_MESSAGE_BYTES`].
    pub max_message_bytes: usize,
}

impl Limits {
    /// The crate's bounds.
    pub fn current() -> Self {
        Limits {
            max_width: MAX_WIDTH,
            max_depth: MAX_DEPTH,
            max_points: MAX_POINTS,
            max_steps_per_frame: MAX_STEPS_PER_FRAME,
            max_message_bytes: MAX_MESSAGE_BYTES,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings_json(extra: &str) -> String {
        let mut v = serde_json::to_value(Settings::default()).unwrap();
        let patch: serde_json::Value = serde_json::from_str(extra).unwrap();
        for (k, val) in patch.as_object().unwrap() {
            v[k] = val.clone();
        }
        format!(r#"{{"type":"settings","settings":{v}}}"#)
    }

    #[test]
    fn default_settings_pass_and_commands_parse() {
        assert!(parse_message(&settings_json("{}")).is_ok());
        assert_eq!(
            parse_message(r#"{"type":"play"}"#).unwrap(),
            ClientMessage::Play {}
        );
        assert_eq!(
            parse_message(r#"{"type":"new_seed"}"#).unwrap(),
            ClientMessage::NewSeed {}
        );
    }

    #[test]
    fn bounds_are_enforced_naming_the_field() {
        for (patch, field) in [
            (r#"{"width": 4097}"#, "settings.width"),
            (r#"{"width": 0}"#, "settings.width"),
            (r#"{"depth": 4}"#, "settings.depth"),
            (r#"{"lr": 0}"#, "settings.lr"),
            (r#"{"noise": -1}"#, "settings.noise"),
            (r#"{"steps_per_frame": 0}"#, "settings.steps_per_frame"),
            (r#"{"init_scale": 1e9}"#, "settings.init_scale"),
        ] {
            let err = parse_message(&settings_json(patch))
                .unwrap_err()
                .to_string();
            assert!(err.starts_with(field), "{patch}: {err}");
        }
        assert!(parse_message(&settings_json(r#"{"width": 4096, "depth": 3}"#)).is_ok());
    }

    #[test]
    fn malformed_unknown_and_non_finite_messages_are_refused() {
        for text in [
            "",
            "not json",
            r#"{"type":"fly"}"#,
            r#"{"type":"play","extra":1}"#,
            r#"{"type":"points","points":[[0,1],[1,NaN]]}"#,
            r#"{"type":"points","points":[[0,1],[1,1e999]]}"#,
            r#"{"type":"points","points":[[0,1]]}"#,
            r#"{"type":"points","points":[[0,1],[0,2]]}"#,
            r#"{"type":"points","points":[[0,1],[1,2e6]]}"#,
        ] {
            assert!(parse_message(text).is_err(), "{text} was accepted");
        }
        let mut settings = serde_json::to_value(Settings::default()).unwrap();
        settings["colour"] = serde_json::json!("red");
        let text = format!(r#"{{"type":"settings","settings":{settings}}}"#);
        assert!(parse_message(&text)
            .unwrap_err()
            .to_string()
            .contains("colour"));
    }

    #[test]
    fn oversized_messages_and_too_many_points_are_refused() {
        let pts: Vec<[f64; 2]> = (0..201).map(|i| [i as f64, 0.0]).collect();
        let text = serde_json::json!({"type": "points", "points": pts}).to_string();
        assert!(parse_message(&text)
            .unwrap_err()
            .to_string()
            .contains("200"));
        let big = format!(
            r#"{{"type":"play","x":"{}"}}"#,
            "a".repeat(MAX_MESSAGE_BYTES)
        );
        assert!(parse_message(&big)
            .unwrap_err()
            .to_string()
            .contains("bytes"));
    }

    #[test]
    fn only_network_changes_restart() {
        let a = Settings::default();
        let b = Settings {
            lr: 1e-3,
            noise: 0.5,
            steps_per_frame: 7,
            ..a.clone()
        };
        assert!(!a.restarts(&b));
        assert!(a.restarts(&Settings {
            seed: 1,
            ..a.clone()
        }));
        assert!(a.restarts(&Settings {
            width: 7,
            ..a.clone()
        }));
    }
}
