//! One browser session: a pair of runs (plain SGD and SGD with label noise, same
//! initialisation, same seed, so the same sample indices) stepped by the library's
//! [`Trainer`] in chunks on the session's own thread, and everything the page is sent
//! about them: frames, Theorem 2 verdicts, the settled limit, the export.
//!
//! [`run`] is the session's loop; it ends when the page's command channel closes (the
//! tab was closed) or the page stops reading.

use std::sync::mpsc::{self, Receiver, RecvTimeoutError, TryRecvError};
use std::time::{Duration, Instant};

use labelnoise_core::analysis::{analyze, AnalyzeOptions};
use labelnoise_core::model_io::model_to_json;
use labelnoise_core::regularizer::Batch;
use labelnoise_core::settle::{settle, Outcome, SettleOptions, SettleResult};
use labelnoise_core::shape::{network_shape_report, ShapeOptions, ShapeReport};
use labelnoise_core::stability::Verdict;
use labelnoise_core::train::{NetworkSpec, NoiseDist, RunStatus, TrainConfig, Trainer};
use labelnoise_core::{Dataset, Network};
use labelnoise_experiments::common::project_to_manifold;

use crate::error::{Error, Result};
use crate::presets::preset_points;
use crate::protocol::{
    ClientMessage, Limits, PanelFrame, ServerMessage, Settings, FRAME_BUDGET_MS, MAX_SEED,
};

/// Time between frames while playing: 30 frames per second.
pub const FRAME_INTERVAL: Duration = Duration::from_micros(33_334);
/// The least time between two verdicts of one panel.
pub const VERDICT_INTERVAL: Duration = Duration::from_millis(300);
/// Points of the grid the functions are sampled on (fewer for very large networks, so
/// that sampling stays within a few milliseconds: see [`grid_points`]).
pub const GRID_POINTS: usize = 401;
/// The live network counts as fitting the data, for the verdict, when
/// max_i |h(x_i) − y_i| ≤ this fraction of the data's y range (then it is moved onto
/// the zero-loss manifold by Gauss–Newton and analysed there).
pub const VERDICT_FIT_GATE: f64 = 0.1;
/// The verdict's Gauss–Newton projection stops at this max |residual|.
pub const PROJECTION_TOL: f64 = 1e-10;
/// The most Gauss–Newton steps of that projection.
pub const PROJECTION_MAX_ITER: usize = 30;

/// Where a session's messages go.
pub trait Outbox {
    /// Sends a frame; may drop it when the page is behind. False when the page is gone.
    fn frame(&mut self, text: String) -> bool;
    /// Sends a message that must arrive. False when the page is gone.
    fn send(&mut self, text: String) -> bool;
}

/// One panel's run.
struct Panel {
    name: &'static str,
    trainer: Trainer,
    diverged: bool,
    /// Running estimate of the wall time of one step, nanoseconds.
    ns_per_step: f64,
    /// The last measurement sent.
    last: Option<PanelFrame>,
    /// The step the last verdict is for.
    verdict_step: Option<u64>,
    /// Earliest time of the next verdict.
    verdict_due: Instant,
    /// Wall time of the last verdict.
    verdict_cost: Duration,
}

impl Panel {
    fn new(name: &'static str, trainer: Trainer) -> Self {
        let p = trainer.params().len() as f64;
        Panel {
            name,
            trainer,
            diverged: false,
            // A first guess (about 2 ns per parameter); measured from the first chunk on.
            ns_per_step: 2.0 * p.max(1.0),
            last: None,
            verdict_step: None,
            verdict_due: Instant::now(),
            verdict_cost: Duration::ZERO,
        }
    }

    /// Steps to `target`, timing it.
    fn advance(&mut self, target: u64) {
        if self.diverged || target <= self.trainer.step() {
            return;
        }
        let steps = target - self.trainer.step();
        let t = Instant::now();
        if let RunStatus::Diverged { .. } = self.trainer.run_until(target) {
            self.diverged = true;
        }
        let ns = t.elapsed().as_nanos() as f64 / steps as f64;
        // Weighted by the chunk's size so that tiny chunks do not swing the estimate.
        let w = (steps as f64 / 1e4).min(1.0) * 0.5;
        self.ns_per_step = (1.0 - w) * self.ns_per_step + w * ns.max(0.1);
    }

    /// Replaces the trainer by one on `data` (and/or with `cfg`), keeping θ, the
    /// generator's state and the step count.
    fn rebase(&mut self, data: &Dataset, edit: impl FnOnce(&mut TrainConfig)) -> Result<()> {
        let mut cp = self.trainer.checkpoint();
        edit(&mut cp.config);
        self.trainer = Trainer::resume(self.trainer.network(), data.clone(), cp)?;
        self.last = None;
        self.verdict_step = None;
        Ok(())
    }
}

/// A pending `settle` on its own thread.
struct SettleJob {
    generation: u64,
    result: Receiver<labelnoise_core::Result<SettleResult>>,
    started: Instant,
}

/// The state of one session.
pub struct Session {
    settings: Settings,
    points: Vec<[f64; 2]>,
    data: Dataset,
    plain: Panel,
    noise: Panel,
    playing: bool,
    /// Whether the export's command lines reproduce the panels bit for bit.
    exact: bool,
    /// Bumped by every change of data, settings or θ that makes a running settle stale.
    generation: u64,
    settle_job: Option<SettleJob>,
    grid: Vec<f64>,
    /// Measure (sample, loss, reg, shape) only every this many frames when measuring is
    /// slow (large networks).
    measure_every: u64,
    frames: u64,
    steps_last_frame: u64,
    steps_per_second: f64,
}

fn dataset(points: &[[f64; 2]]) -> Result<Dataset> {
    let x = points.iter().map(|p| p[0]).collect();
    let y = points.iter().map(|p| p[1]).collect();
    Ok(Dataset::new(1, x, y, "points")?)
}

/// The starting network of `settings`, as the library's [`NetworkSpec`] (the
/// description `labelnoise train` turns its flags into): 1 → width^depth → 1, hidden
/// biases, optional output bias and skip unit, nothing frozen.
pub fn network_spec(settings: &Settings) -> NetworkSpec {
    NetworkSpec {
        hidden: vec![settings.width; settings.depth],
        activation: Some(settings.activation),
        skip: settings.skip,
        output_bias: settings.output_bias,
        freeze: vec![],
        init_scale: settings.init_scale,
        output_init_scale: settings.output_init_scale,
        init_model: None,
    }
}

/// The starting network of `settings` on `data`, built by [`NetworkSpec::build`] with
/// the settings' seed (so the same as `labelnoise train` with the exported flags).
/// Refuses a pair of runs that cannot fit in memory before allocating.
pub fn starting_network(settings: &Settings, data: &Dataset) -> Result<Network> {
    // Parameters: the first hidden layer (w weights, w biases), the others (w² + w each),
    // the output layer (w weights and a bias) and the skip unit, at most.
    let (w, d) = (settings.width as u128, settings.depth as u128);
    let p = 2 * w + (d - 1) * (w * w + w) + w + 2;
    // Two panels, each: θ in the trainer, its template, the network snapshots of a
    // frame, a verdict and a settle, and the step's work space.
    labelnoise_core::memory::check_fits(
        "settings.width",
        &format!("two runs of about {p} parameters"),
        2 * 8 * labelnoise_core::memory::F64_BYTES * p,
    )?;
    Ok(network_spec(settings).build(data, "points", settings.seed)?)
}

fn train_config(settings: &Settings, noise: f64) -> TrainConfig {
    TrainConfig {
        lr: settings.lr,
        // The trainer is stepped with run_until; `steps` is only the nominal length.
        steps: 1,
        noise,
        noise_dist: settings.noise_dist,
        seed: settings.seed,
        ..TrainConfig::default()
    }
}

fn trainer(net: &Network, data: &Dataset, settings: &Settings, noise: f64) -> Result<Trainer> {
    let cfg = train_config(settings, noise).check(net, data)?;
    Ok(Trainer::new(net.clone(), data.clone(), cfg))
}

/// The sampling grid: the data's x range with 15% on each side.
fn grid(data: &Dataset, points: usize) -> Vec<f64> {
    let (lo, hi) = data
        .xs()
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), &x| {
            (l.min(x), h.max(x))
        });
    let pad = 0.15 * (hi - lo).max(1e-9);
    let (lo, hi) = (lo - pad, hi + pad);
    (0..points)
        .map(|k| lo + (hi - lo) * k as f64 / (points - 1) as f64)
        .collect()
}

/// Grid size for a network of `p` parameters: [`GRID_POINTS`], fewer (down to 64) when
/// sampling would cost more than about 10⁷ multiply-adds.
pub fn grid_points(p: usize) -> usize {
    (10_000_000 / p.max(1)).clamp(64, GRID_POINTS)
}

/// The shape options of a frame and of a verdict: the default tolerances, and at most
/// 2·10⁷ of work (about 20 ms) on the exact walk of a deep network, so that a frame of a
/// large deep network leaves its kinks out instead of stalling (the default budget,
/// 10⁹, is for `analyze` and metrics rows).
fn frame_shape_options() -> ShapeOptions {
    ShapeOptions {
        max_walk_work: 2e7,
        ..ShapeOptions::default()
    }
}

/// Everything a frame shows about one network.
fn measure(net: &Network, data: &Dataset, grid: &[f64]) -> PanelFrame {
    let f: Vec<f32> = grid.iter().map(|&x| net.eval(&[x]) as f32).collect();
    let (loss, reg) = match Batch::new(net, data) {
        Ok(batch) => {
            let n = data.len() as f64;
            let loss = batch
                .outputs()
                .iter()
                .zip(data.ys())
                .map(|(h, y)| (h - y) * (h - y))
                .sum::<f64>()
                / n;
            (loss, batch.grad_norms_sq(net).iter().sum::<f64>() / n)
        }
        Err(_) => (f64::NAN, f64::NAN),
    };
    let shape: Option<ShapeReport> = network_shape_report(net, data, &frame_shape_options())
        .ok()
        .flatten();
    let (lo, hi) = data
        .xs()
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), &x| {
            (l.min(x), h.max(x))
        });
    let (glo, ghi) = (grid[0], grid[grid.len() - 1]);
    let curve_length = match &shape {
        Some(s) => s.curve_length,
        None => polyline_length(grid, &f, lo, hi),
    };
    PanelFrame {
        at_points: (0..data.len()).map(|i| net.eval(data.x(i))).collect(),
        kinks: shape
            .as_ref()
            .map(|s| {
                s.kinks
                    .iter()
                    .filter(|k| k.x >= glo && k.x <= ghi)
                    .map(|k| [k.x as f32, k.jump as f32])
                    .collect()
            })
            .unwrap_or_default(),
        convexity: shape.as_ref().map(|s| s.convexity_changes),
        f,
        loss,
        reg,
        curve_length,
        diverged: false,
    }
}

/// Length of the sampled polyline over [lo, hi] (for networks without an exact shape
/// report).
fn polyline_length(grid: &[f64], f: &[f32], lo: f64, hi: f64) -> f64 {
    grid.windows(2)
        .zip(f.windows(2))
        .filter(|(x, _)| x[0] >= lo && x[1] <= hi)
        .map(|(x, y)| {
            let (dx, dy) = (x[1] - x[0], f64::from(y[1]) - f64::from(y[0]));
            (dx * dx + dy * dy).sqrt()
        })
        .sum()
}

/// The verdict shown for an analysed network: `kink-on-data-point` when a live ReLU
/// kink sits on a data point (reg is not smooth there, outside Theorem 2), otherwise
/// the Theorem 2 verdict.
fn verdict_name(verdict: Verdict, nonsmooth: usize) -> &'static str {
    match verdict {
        Verdict::NotInterpolating => "not-interpolating",
        _ if nonsmooth > 0 => "kink-on-data-point",
        Verdict::Repellent => "repellent",
        Verdict::NonRepellent => "non-repellent",
    }
}

/// The verdict of a live network: `not-interpolating` unless it fits within
/// [`VERDICT_FIT_GATE`] of the y range; otherwise projected onto the zero-loss manifold
/// (removing the label-noise jitter) and analysed by `analyze`.
fn live_verdict(net: &Network, data: &Dataset) -> Result<(&'static str, f64)> {
    let (ylo, yhi) = data
        .ys()
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), &y| {
            (l.min(y), h.max(y))
        });
    let gate = VERDICT_FIT_GATE * (yhi - ylo).max(1e-3);
    let max_res = (0..data.len())
        .map(|i| (net.eval(data.x(i)) - data.y(i)).abs())
        .fold(0.0f64, |m, r| if r.is_nan() { f64::NAN } else { m.max(r) });
    // NaN (a diverged run) does not fit either.
    if max_res.is_nan() || max_res > gate {
        return Ok(("not-interpolating", f64::NAN));
    }
    let (projected, _) = project_to_manifold(net, data, PROJECTION_MAX_ITER, PROJECTION_TOL)?;
    let a = analyze(
        &projected,
        data,
        &AnalyzeOptions {
            shape: frame_shape_options(),
            ..AnalyzeOptions::default()
        },
    )?;
    Ok((
        verdict_name(a.verdict, a.nonsmooth.len()),
        a.null_reg_grad_norm,
    ))
}

fn settle_verdict(result: &SettleResult) -> &'static str {
    match result.outcome {
        Outcome::NonRepellent => "non-repellent",
        Outcome::ConstrainedStationary { .. } | Outcome::KinkOnDataPoint { .. } => {
            "kink-on-data-point"
        }
        _ => verdict_name(result.analysis.verdict, result.analysis.nonsmooth.len()),
    }
}

/// A fresh seed below 2^53 from the clock (SplitMix64 of the nanoseconds).
fn fresh_seed(old: u64) -> u64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    let mut z = nanos ^ old.rotate_left(17) ^ 0x9e37_79b9_7f4a_7c15;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^= z >> 31;
    let seed = z & MAX_SEED;
    if seed == old {
        (seed + 1) & MAX_SEED
    } else {
        seed
    }
}

fn shell_quote(s: &str) -> String {
    if s.chars()
        .all(|c| c.is_ascii_alphanumeric() || "-_./=".contains(c))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

impl Session {
    /// Both runs from the starting network of `settings` on `points`.
    pub fn new(settings: Settings, points: Vec<[f64; 2]>) -> Result<Self> {
        settings.check()?;
        crate::protocol::check_points(&points)?;
        let data = dataset(&points)?;
        let net = starting_network(&settings, &data)?;
        let plain = Panel::new("plain", trainer(&net, &data, &settings, 0.0)?);
        let noise = Panel::new("noise", trainer(&net, &data, &settings, settings.noise)?);
        let points_per_grid = grid_points(net.param_count());
        Ok(Session {
            grid: grid(&data, points_per_grid),
            settings,
            points,
            data,
            plain,
            noise,
            playing: false,
            exact: true,
            generation: 0,
            settle_job: None,
            measure_every: 1,
            frames: 0,
            steps_last_frame: 0,
            steps_per_second: 0.0,
        })
    }

    /// The default session: default settings on `fig1`.
    pub fn default_session() -> Result<Self> {
        Self::new(
            Settings::default(),
            preset_points("fig1").expect("fig1 is a preset"),
        )
    }

    /// Steps done (both panels step together).
    pub fn step(&self) -> u64 {
        self.plain.trainer.step().max(self.noise.trainer.step())
    }

    /// Whether the runs are stepping.
    pub fn playing(&self) -> bool {
        self.playing
    }

    /// The settings in force.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// The current networks (plain, noise).
    pub fn networks(&self) -> (Network, Network) {
        (self.plain.trainer.network(), self.noise.trainer.network())
    }

    /// The data.
    pub fn data(&self) -> &Dataset {
        &self.data
    }

    /// The state message.
    pub fn state(&self) -> ServerMessage {
        let min_convexity = network_shape_report(
            &self.plain.trainer.network(),
            &self.data,
            &frame_shape_options(),
        )
        .ok()
        .flatten()
        .map(|s| s.min_convexity_changes)
        .or_else(|| min_convexity_of(&self.data));
        ServerMessage::State {
            settings: self.settings.clone(),
            points: self.points.clone(),
            min_convexity,
            playing: self.playing,
            kernel: format!("{:?}", self.noise.trainer.kernel()).to_lowercase(),
        }
    }

    /// The hello message.
    pub fn hello(max_sessions: usize) -> ServerMessage {
        ServerMessage::Hello {
            max_sessions,
            limits: Limits::current(),
            defaults: Settings::default(),
        }
    }

    /// Steps both runs by at most `wanted` steps, lowered so that the slower panel's
    /// chunk takes about [`FRAME_BUDGET_MS`], at least one; the two panels step in
    /// parallel. Returns the steps done.
    pub fn advance(&mut self, wanted: u64) -> u64 {
        let ns = self.plain.ns_per_step.max(self.noise.ns_per_step);
        let budget = (FRAME_BUDGET_MS * 1e6 / ns).floor().max(1.0) as u64;
        let steps = wanted.min(budget).max(1);
        let target = self.step() + steps;
        let t = Instant::now();
        let (plain, noise) = (&mut self.plain, &mut self.noise);
        std::thread::scope(|s| {
            let h = s.spawn(|| plain.advance(target));
            noise.advance(target);
            h.join().expect("the plain panel's thread does not panic");
        });
        let secs = t.elapsed().as_secs_f64();
        self.steps_last_frame = steps;
        self.steps_per_second = steps as f64 / secs.max(1e-9);
        self.generation += 1;
        steps
    }

    /// Measures both panels (in parallel) and returns the frame.
    pub fn frame(&mut self) -> ServerMessage {
        self.frames += 1;
        let due = self.plain.last.is_none()
            || self.noise.last.is_none()
            || self.frames.is_multiple_of(self.measure_every);
        if due {
            let t = Instant::now();
            let (grid, data) = (&self.grid, &self.data);
            let (plain, noise) = (&mut self.plain, &mut self.noise);
            std::thread::scope(|s| {
                let h = s.spawn(|| {
                    let mut m = measure(&plain.trainer.network(), data, grid);
                    m.diverged = plain.diverged;
                    plain.last = Some(m);
                });
                let mut m = measure(&noise.trainer.network(), data, grid);
                m.diverged = noise.diverged;
                noise.last = Some(m);
                h.join().expect("measuring does not panic");
            });
            // Measuring may take up to about a quarter of the frame time.
            let ms = t.elapsed().as_secs_f64() * 1e3;
            self.measure_every = ((ms / 8.0).ceil() as u64).max(1);
        }
        ServerMessage::Frame {
            step: self.step(),
            steps_per_second: self.steps_per_second,
            steps_this_frame: self.steps_last_frame,
            playing: self.playing,
            grid: self.grid.iter().map(|&x| x as f32).collect(),
            plain: self.plain.last.clone().expect("measured above"),
            noise: self.noise.last.clone().expect("measured above"),
        }
    }

    /// Verdicts that are due: at most one per panel per [`VERDICT_INTERVAL`] (longer
    /// when analysing is slow), only when the panel moved since its last verdict.
    pub fn due_verdicts(&mut self, force: bool) -> Vec<ServerMessage> {
        let mut out = Vec::new();
        let now = Instant::now();
        for panel in [&mut self.plain, &mut self.noise] {
            let step = panel.trainer.step();
            if panel.verdict_step == Some(step) || (!force && now < panel.verdict_due) {
                continue;
            }
            let t = Instant::now();
            let (verdict, gn) = live_verdict(&panel.trainer.network(), &self.data)
                .unwrap_or(("unavailable", f64::NAN));
            panel.verdict_cost = t.elapsed();
            panel.verdict_step = Some(step);
            panel.verdict_due = now + VERDICT_INTERVAL.max(panel.verdict_cost * 10);
            out.push(ServerMessage::Verdict {
                panel: panel.name,
                verdict,
                step,
                null_reg_grad_norm: gn,
                of: "projected",
            });
        }
        out
    }

    /// Restarts both runs from the starting network.
    fn reset(&mut self) -> Result<()> {
        let net = starting_network(&self.settings, &self.data)?;
        self.plain = Panel::new("plain", trainer(&net, &self.data, &self.settings, 0.0)?);
        self.noise = Panel::new(
            "noise",
            trainer(&net, &self.data, &self.settings, self.settings.noise)?,
        );
        self.grid = grid(&self.data, grid_points(net.param_count()));
        self.exact = true;
        self.generation += 1;
        self.settle_job = None;
        self.measure_every = 1;
        self.steps_last_frame = 0;
        self.steps_per_second = 0.0;
        Ok(())
    }

    /// Applies one message from the page; returns the messages to send back (the state
    /// after a change). A refused action leaves the session as it was.
    pub fn handle(&mut self, msg: ClientMessage) -> Result<Vec<ServerMessage>> {
        match msg {
            ClientMessage::Play {} => self.playing = true,
            ClientMessage::Pause {} => self.playing = false,
            ClientMessage::Step {} => {
                self.playing = false;
                self.advance(self.settings.steps_per_frame);
            }
            ClientMessage::Reset {} => self.reset()?,
            ClientMessage::NewSeed {} => {
                let old = self.settings.clone();
                self.settings.seed = fresh_seed(old.seed);
                if let Err(e) = self.reset() {
                    self.settings = old;
                    return Err(e);
                }
            }
            ClientMessage::Settings { settings } => {
                settings.check()?;
                if self.settings.restarts(&settings) {
                    let old = std::mem::replace(&mut self.settings, settings);
                    if let Err(e) = self.reset() {
                        self.settings = old;
                        return Err(e);
                    }
                } else {
                    let s = settings.clone();
                    let changes_run = s.lr != self.settings.lr
                        || s.noise != self.settings.noise
                        || s.noise_dist != self.settings.noise_dist;
                    if changes_run {
                        let apply = |noise: f64, dist: NoiseDist| {
                            move |c: &mut TrainConfig| {
                                c.lr = s.lr;
                                c.noise = noise;
                                c.noise_dist = dist;
                            }
                        };
                        self.plain
                            .rebase(&self.data, apply(0.0, settings.noise_dist))?;
                        self.noise
                            .rebase(&self.data, apply(settings.noise, settings.noise_dist))?;
                        if self.step() > 0 {
                            self.exact = false;
                        }
                        self.generation += 1;
                    }
                    self.settings = settings;
                }
            }
            ClientMessage::Points { points } => {
                crate::protocol::check_points(&points)?;
                let data = dataset(&points)?;
                self.plain.rebase(&data, |_| {})?;
                self.noise.rebase(&data, |_| {})?;
                let p = self.plain.trainer.params().len();
                self.grid = grid(&data, grid_points(p));
                self.data = data;
                self.points = points;
                if self.step() > 0 {
                    self.exact = false;
                }
                self.generation += 1;
                self.settle_job = None;
            }
            ClientMessage::Settle {} => {
                self.playing = false;
                self.start_settle();
                return Ok(vec![self.state()]);
            }
            ClientMessage::Export {} => return Ok(vec![self.export()]),
        }
        Ok(vec![self.state()])
    }

    /// Starts `settle` on the label-noise panel's network, on its own thread.
    fn start_settle(&mut self) {
        let (tx, rx) = mpsc::channel();
        let net = self.noise.trainer.network();
        let data = self.data.clone();
        std::thread::spawn(move || {
            // The receiver may be gone (the session ended): nothing to do then.
            let _ = tx.send(settle(&net, &data, &SettleOptions::default()));
        });
        self.settle_job = Some(SettleJob {
            generation: self.generation,
            result: rx,
            started: Instant::now(),
        });
    }

    /// Whether a settle is running.
    pub fn settling(&self) -> bool {
        self.settle_job.is_some()
    }

    /// If the running settle has finished: moves the label-noise panel to its end point
    /// and returns the messages (settled, verdict, state) or an error. A settle made
    /// stale by a change in the meantime is dropped.
    pub fn poll_settle(&mut self) -> Option<Result<Vec<ServerMessage>>> {
        let job = self.settle_job.as_ref()?;
        let result = match job.result.try_recv() {
            Ok(r) => r,
            Err(TryRecvError::Empty) => return None,
            Err(TryRecvError::Disconnected) => {
                self.settle_job = None;
                return Some(Err(Error::message("settle", "the settle thread stopped")));
            }
        };
        let job = self.settle_job.take().expect("checked above");
        if job.generation != self.generation {
            return Some(Err(Error::message(
                "settle",
                "the runs changed while settling; press settle again",
            )));
        }
        Some(self.apply_settle(result.map_err(Error::from), job.started))
    }

    /// Runs `settle` now, on this thread, and applies it (for tests and tools).
    pub fn settle_now(&mut self) -> Result<Vec<ServerMessage>> {
        let started = Instant::now();
        let result = settle(
            &self.noise.trainer.network(),
            &self.data,
            &SettleOptions::default(),
        );
        self.playing = false;
        self.apply_settle(result.map_err(Error::from), started)
    }

    fn apply_settle(
        &mut self,
        result: Result<SettleResult>,
        started: Instant,
    ) -> Result<Vec<ServerMessage>> {
        let result = result?;
        let theta = result.network.params();
        self.noise.rebase(&self.data, |_| {})?;
        let mut cp = self.noise.trainer.checkpoint();
        cp.theta = theta;
        self.noise.trainer = Trainer::resume(self.noise.trainer.network(), self.data.clone(), cp)?;
        self.exact = false;
        self.generation += 1;
        let verdict = settle_verdict(&result);
        let step = self.noise.trainer.step();
        self.noise.verdict_step = Some(step);
        let m = measure(&result.network, &self.data, &self.grid);
        Ok(vec![
            ServerMessage::Settled {
                outcome: result.outcome.name(),
                verdict,
                grid: self.grid.iter().map(|&x| x as f32).collect(),
                f: m.f,
                start_reg: result.start_reg,
                end_reg: result.end_reg,
                convexity: m.convexity,
                iterations: result.iterations,
                seconds: started.elapsed().as_secs_f64(),
            },
            ServerMessage::Verdict {
                panel: "noise",
                verdict,
                step,
                null_reg_grad_norm: result.analysis.null_reg_grad_norm,
                of: "settled",
            },
            self.state(),
        ])
    }

    /// The `labelnoise train` command line that reproduces a panel with label noise σ.
    pub fn train_command(&self, panel: &str, noise: f64) -> String {
        let s = &self.settings;
        let mut args: Vec<String> = vec![
            "labelnoise".into(),
            "train".into(),
            "--data".into(),
            "explore-data.json".into(),
        ];
        for _ in 0..s.depth {
            args.push("--hidden".into());
            args.push(s.width.to_string());
        }
        args.push("--activation".into());
        args.push(format!("{:?}", s.activation).to_lowercase());
        if s.skip {
            args.push("--skip".into());
        }
        if s.output_bias {
            args.push("--output-bias".into());
        }
        if s.init_scale != 1.0 {
            args.push("--init-scale".into());
            args.push(s.init_scale.to_string());
        }
        if s.output_init_scale != 1.0 {
            args.push("--output-init-scale".into());
            args.push(s.output_init_scale.to_string());
        }
        args.push("--lr".into());
        args.push(s.lr.to_string());
        args.push("--noise".into());
        args.push(noise.to_string());
        if noise > 0.0 && s.noise_dist != NoiseDist::Rademacher {
            args.push("--noise-dist".into());
            args.push(format!("{:?}", s.noise_dist).to_lowercase());
        }
        args.push("--steps".into());
        args.push(self.step().max(1).to_string());
        args.push("--seed".into());
        args.push(s.seed.to_string());
        args.push("--out".into());
        args.push(format!("runs/explore-{panel}"));
        args.iter()
            .map(|a| shell_quote(a))
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// The export message: the data, both models and the command lines.
    pub fn export(&self) -> ServerMessage {
        let parse = |text: String| serde_json::from_str(&text).unwrap_or(serde_json::Value::Null);
        ServerMessage::Export {
            data: parse(self.data.to_json()),
            plain: parse(model_to_json(&self.plain.trainer.network())),
            noise: parse(model_to_json(&self.noise.trainer.network())),
            commands: vec![
                self.train_command("plain", 0.0),
                self.train_command("noise", self.settings.noise),
            ],
            exact: self.exact,
        }
    }
}

/// The fewest convexity changes of the data (sign changes of the non-zero second
/// differences), for networks without a shape report.
fn min_convexity_of(data: &Dataset) -> Option<usize> {
    let pts = data.sorted_1d()?;
    let slopes: Vec<f64> = pts
        .windows(2)
        .map(|w| (w[1].1 - w[0].1) / (w[1].0 - w[0].0))
        .collect();
    let scale = slopes.iter().fold(1.0f64, |m, s| m.max(s.abs()));
    let signs: Vec<f64> = slopes
        .windows(2)
        .map(|w| w[1] - w[0])
        .filter(|d| d.abs() > 1e-9 * scale)
        .map(f64::signum)
        .collect();
    Some(signs.windows(2).filter(|w| w[0] != w[1]).count())
}

fn to_text(msg: &ServerMessage) -> String {
    serde_json::to_string(msg).unwrap_or_else(|e| {
        format!(r#"{{"type":"error","message":"cannot encode a message: {e}"}}"#)
    })
}

/// The session loop: starts the default session, then applies the page's messages,
/// steps while playing (one chunk per frame, at most 30 frames a second), sends frames,
/// verdicts and settle results. Returns when `commands` closes (the tab was closed) or
/// the page is gone.
pub fn run(commands: Receiver<ClientMessage>, out: &mut dyn Outbox, max_sessions: usize) {
    if !out.send(to_text(&Session::hello(max_sessions))) {
        return;
    }
    let mut session = match Session::default_session() {
        Ok(s) => s,
        Err(e) => {
            out.send(to_text(&ServerMessage::Error {
                message: e.to_string(),
            }));
            return;
        }
    };
    if !out.send(to_text(&session.state())) {
        return;
    }
    let mut next_frame = Instant::now();
    let mut dirty = true;
    loop {
        let now = Instant::now();
        let wait = if session.playing {
            next_frame.saturating_duration_since(now)
        } else {
            Duration::from_millis(50)
        };
        match commands.recv_timeout(wait) {
            Ok(msg) => {
                let replies = session.handle(msg).unwrap_or_else(|e| {
                    vec![ServerMessage::Error {
                        message: e.to_string(),
                    }]
                });
                for m in replies {
                    if !out.send(to_text(&m)) {
                        return;
                    }
                }
                dirty = true;
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => return,
        }
        let now = Instant::now();
        if session.playing && now >= next_frame {
            session.advance(session.settings.steps_per_frame);
            dirty = true;
            next_frame += FRAME_INTERVAL;
            if next_frame < now {
                next_frame = now + FRAME_INTERVAL;
            }
        }
        if dirty {
            if !out.frame(to_text(&session.frame())) {
                return;
            }
            dirty = false;
        }
        for m in session.due_verdicts(false) {
            if !out.send(to_text(&m)) {
                return;
            }
        }
        if let Some(result) = session.poll_settle() {
            let msgs = result.unwrap_or_else(|e| {
                vec![ServerMessage::Error {
                    message: e.to_string(),
                }]
            });
            for m in msgs {
                if !out.send(to_text(&m)) {
                    return;
                }
            }
            dirty = true;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn small() -> Settings {
        Settings {
            width: 16,
            ..Settings::default()
        }
    }

    #[test]
    fn both_panels_start_from_the_same_network_and_step_together() {
        let mut s = Session::new(small(), preset_points("fig1").unwrap()).unwrap();
        let (a, b) = s.networks();
        assert_eq!(a.params(), b.params());
        assert_eq!(s.advance(1000), 1000);
        assert_eq!(s.step(), 1000);
        let (a, b) = s.networks();
        assert_ne!(
            a.params(),
            b.params(),
            "label noise moves the noise panel differently"
        );
        // The plain panel is plain SGD: the same as a trainer with σ = 0 stepped by hand.
        let net = starting_network(&small(), s.data()).unwrap();
        let mut t = trainer(&net, s.data(), &small(), 0.0).unwrap();
        t.run_until(1000);
        assert_eq!(t.params(), a.params());
        let mut t = trainer(&net, s.data(), &small(), 1.0).unwrap();
        t.run_until(1000);
        assert_eq!(t.params(), b.params());
    }

    #[test]
    fn output_init_scale_multiplies_the_output_weights() {
        let data = dataset(&preset_points("fig1").unwrap()).unwrap();
        let one = starting_network(
            &Settings {
                output_init_scale: 1.0,
                ..small()
            },
            &data,
        )
        .unwrap();
        let thirty = starting_network(&small(), &data).unwrap();
        let (a, b) = (one.output_layer(), thirty.output_layer());
        for (x, y) in a.weight.iter().zip(&b.weight) {
            assert!((30.0 * x - y).abs() < 1e-12);
        }
        assert_eq!(one.layers()[0].weight, thirty.layers()[0].weight);
    }

    #[test]
    fn frames_carry_the_function_kinks_and_metrics() {
        let mut s = Session::new(small(), preset_points("fig1").unwrap()).unwrap();
        s.advance(100);
        let ServerMessage::Frame {
            step, grid, plain, ..
        } = s.frame()
        else {
            panic!("not a frame")
        };
        assert_eq!(step, 100);
        assert_eq!(grid.len(), GRID_POINTS);
        assert_eq!(plain.f.len(), grid.len());
        assert!(plain.loss.is_finite() && plain.reg > 0.0);
        assert!(plain.convexity.is_some());
        assert!(!plain.kinks.is_empty());
        let (net, _) = s.networks();
        let x = f64::from(grid[7]);
        assert!((net.eval(&[x]) as f32 - plain.f[7]).abs() < 1e-4);
    }

    /// A frame of a deep network whose exact walk exceeds the frame's budget leaves the
    /// kinks and convexity changes out and still carries the function and the metrics;
    /// a small deep network keeps them.
    #[test]
    fn a_large_deep_network_frames_without_its_kinks() {
        let deep = |width| Settings {
            width,
            depth: 3,
            lr: 1e-5,
            output_init_scale: 1.0,
            ..Settings::default()
        };
        let mut s = Session::new(deep(1000), preset_points("fig1").unwrap()).unwrap();
        s.advance(1);
        let ServerMessage::Frame { plain, grid, .. } = s.frame() else {
            panic!("not a frame")
        };
        assert!(plain.convexity.is_none() && plain.kinks.is_empty());
        assert!(plain.loss.is_finite() && plain.reg > 0.0);
        assert_eq!(plain.f.len(), grid.len());
        assert!(plain.f.iter().all(|v| v.is_finite()));
        let mut s = Session::new(deep(8), preset_points("fig1").unwrap()).unwrap();
        s.advance(1);
        let ServerMessage::Frame { plain, .. } = s.frame() else {
            panic!("not a frame")
        };
        assert!(plain.convexity.is_some() && !plain.kinks.is_empty());
    }

    #[test]
    fn edits_keep_the_step_count_and_settings_restart_only_when_the_network_changes() {
        let mut s = Session::new(small(), preset_points("fig1").unwrap()).unwrap();
        s.advance(500);
        let mut pts = preset_points("fig1").unwrap();
        pts[3][1] += 0.5;
        s.handle(ClientMessage::Points { points: pts }).unwrap();
        assert_eq!(s.step(), 500);
        s.handle(ClientMessage::Settings {
            settings: Settings {
                lr: 1e-4,
                ..small()
            },
        })
        .unwrap();
        assert_eq!(s.step(), 500);
        s.handle(ClientMessage::Settings {
            settings: Settings {
                width: 8,
                ..small()
            },
        })
        .unwrap();
        assert_eq!(s.step(), 0);
        let old_seed = s.settings().seed;
        s.handle(ClientMessage::NewSeed {}).unwrap();
        assert_ne!(s.settings().seed, old_seed);
        assert!(s.settings().seed <= MAX_SEED);
    }

    #[test]
    fn the_export_names_every_flag_and_is_exact_only_without_edits() {
        let mut s = Session::new(small(), preset_points("fig1").unwrap()).unwrap();
        s.advance(300);
        let ServerMessage::Export {
            commands, exact, ..
        } = s.export()
        else {
            panic!()
        };
        assert!(exact);
        assert_eq!(
            commands[1],
            "labelnoise train --data explore-data.json --hidden 16 --activation relu --skip \
             --output-bias --output-init-scale 30 --lr 0.0005 --noise 1 --steps 300 --seed 0 \
             --out runs/explore-noise"
        );
        s.handle(ClientMessage::Points {
            points: preset_points("v8").unwrap(),
        })
        .unwrap();
        let ServerMessage::Export { exact, .. } = s.export() else {
            panic!()
        };
        assert!(!exact);
    }

    #[test]
    fn settle_jumps_the_noise_panel_to_a_stationary_point() {
        let mut s = Session::new(small(), preset_points("v8").unwrap()).unwrap();
        s.advance(20_000);
        let msgs = s.settle_now().unwrap();
        let ServerMessage::Settled { verdict, .. } = &msgs[0] else {
            panic!()
        };
        assert!(
            ["non-repellent", "kink-on-data-point"].contains(verdict),
            "{verdict}"
        );
        // The noise panel now holds the settled network, which interpolates.
        let (_, noise) = s.networks();
        for i in 0..s.data().len() {
            assert!((noise.eval(s.data().x(i)) - s.data().y(i)).abs() < 1e-6);
        }
    }

    #[test]
    fn verdicts_say_not_interpolating_before_the_fit() {
        let mut s = Session::new(small(), preset_points("fig1").unwrap()).unwrap();
        let v = s.due_verdicts(true);
        assert_eq!(v.len(), 2);
        for m in v {
            let ServerMessage::Verdict { verdict, .. } = m else {
                panic!()
            };
            assert_eq!(verdict, "not-interpolating");
        }
        // Nothing new until the runs move.
        assert!(s.due_verdicts(true).is_empty());
    }

    #[test]
    fn min_convexity_agrees_with_the_shape_report() {
        let data = dataset(&preset_points("fig1").unwrap()).unwrap();
        assert_eq!(min_convexity_of(&data), Some(2));
    }
}
