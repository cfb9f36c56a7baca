//! SGD with label noise (paper eq. 3, docs/conventions.md#training).
//!
//! Each step picks i uniformly at random (with replacement), draws label noise Z (zero
//! mean, variance σ²), sets e = h(x_i, θ) − y_i − Z and updates
//! θ ← θ − η · 2e · ∇_θ h(x_i, θ) — gradient descent on the loss Σ_i (h − y_i)² of eq. 2
//! (no 1/2, no 1/n) at a noisy label. Mini-batches average B such updates at the same θ;
//! copies mode is plain SGD over the points (x_i, y_i + c) for every label offset c, and
//! two-copies mode its case (x_i, y_i ± σ) (paper §1.1); explicit
//! regularization adds η λ ∇reg(θ) (paper §1.1, eq. 1). Frozen layers and a frozen skip
//! unit are not in θ and never move.
//!
//! Modules: [`config`] (hyper-parameters and their checks), [`noise`] (noise
//! distributions, the generator and the order of draws), [`sgd`] (the general step for
//! any network; `column` holds its one-sweep kernels for one hidden layer on 1-D inputs
//! and `explicit` the exact ∇reg term of explicit regularization), [`fused`] (the fused
//! kernel for one hidden layer on 1-D inputs),
//! [`tanh`] (vectorizable tanh and logistic functions used by both step kernels),
//! `kernel` (what the step kernels share: step parameters, the subnormal guard,
//! activations, vector helpers) and `plan` (where each block of θ sits for a step),
//! [`init`] (initial networks), [`start`] (a run's starting network as the front ends
//! describe it: [`NetworkSpec`]), [`schedule`] (log-spaced metric steps), [`mod@metrics`],
//! [`run`] (the run driver every front end uses: chunks, metrics worker, checkpoints,
//! divergence, cancellation, observers) and [`run_dir`] (the run directory's files).
//!
//! # Paths
//!
//! [`Trainer::run_until`] uses the fused kernel when the network has 1-D inputs and one
//! trainable hidden layer with biases (any activation), a trainable output layer, batch
//! size 1 and no explicit regularization (copies modes included); otherwise the
//! general path. Both are allocation-free per step and run under the best instruction set
//! the CPU offers (AVX-512, AVX2 or baseline), chosen at run time by `pulp`; results do
//! not depend on the CPU. For identity, tanh and logistic units both perform the same
//! floating-point operations in the same order (no FMA contraction), and so give the
//! same bits. For relu the fused kernel rounds each product once, with fused
//! multiply-adds (see [`fused`]), and agrees with the general path to rounding; a
//! [`Checkpoint`] names its kernel, so a resumed run stays on it.
//!
//! # Subnormal guard
//!
//! In the slow phase unneeded units shrink exponentially, and once their parameters are
//! subnormal every step slows down 7-20x. After every [`FLUSH_EVERY`]-th step (counting
//! steps done), in the same pass as that step's update, every trainable parameter with
//! |θ_k| < `flush_threshold` (default [`DEFAULT_FLUSH_THRESHOLD`] = 1e-150) is set to
//! exactly 0; a threshold of 0 disables the guard. Products of two parameters that
//! survive it are ≥ 1e-300, still normal, and parameters shrink far too slowly to fall
//! from 1e-150 into the subnormal range (< 2.2e-308) within 64 steps.
//!
//! # Divergence
//!
//! When a residual e is not finite (or θ is not finite at the end of a call), training
//! stops and [`RunStatus::Diverged`] reports the number of steps done; θ is left as it
//! is (keep checkpoints to go back to the last finite state).

mod column;
pub mod config;
mod explicit;
pub mod fused;
pub mod init;
mod kernel;
pub mod metrics;
pub mod noise;
pub mod outcome;
pub mod packed;
mod plan;
pub mod run;
pub mod run_dir;
pub mod schedule;
pub mod sgd;
pub mod start;
pub mod tanh;

use serde::{Deserialize, Serialize};

pub use config::{whole_steps, TrainConfig, ValidTrainConfig, DEFAULT_FLUSH_THRESHOLD};
pub use init::init_network;
pub use kernel::FLUSH_EVERY;
pub use metrics::{metrics, Metrics};
pub use noise::{NoiseDist, TrainRng};
pub use outcome::{Ending, RunOutcome, Summary};
pub use run::{
    check_memory_together, execute_all, execute_together, lockstep_groups, CancelToken, Observer,
    ResumePoint, Run, RunView, Silent,
};
pub use run_dir::{CheckpointChoice, CheckpointFile, RunConfig, RunDir};
pub use schedule::log_spaced_steps;
pub use sgd::{sgd_step, SgdModel, SgdWorkspace};
pub use start::{Freeze, NetworkSpec};

use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::network::Network;
use fused::Fused;
use kernel::StepParams;
use sgd::General;

/// How a call to [`Trainer::run_until`] ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "lowercase")]
pub enum RunStatus {
    /// All requested steps were done and θ is finite.
    Ok,
    /// A residual or θ stopped being finite after `step` steps; training stops there.
    Diverged {
        /// Steps done when the divergence was detected.
        step: u64,
    },
}

/// Which implementation of the step a trainer uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kernel {
    /// The fused one-hidden-layer kernel ([`fused`]).
    Fused,
    /// The general step for any network ([`sgd`]).
    General,
}

#[derive(Clone, Debug)]
enum Engine {
    Fused(Box<Fused>),
    General(Box<General>),
}

/// Everything needed to continue a run bit-identically.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// Steps done.
    pub step: u64,
    /// θ after `step` steps.
    pub theta: Vec<f64>,
    /// The generator's state after `step` steps.
    pub rng: TrainRng,
    /// The run's configuration.
    pub config: TrainConfig,
    /// The kernel that ran the steps so far; resuming uses the same one, as the fused
    /// relu kernel and the general path round differently. Absent (older checkpoints):
    /// the automatic choice.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kernel: Option<Kernel>,
}

/// An SGD run: θ, the data, the generator, the step counter and the buffers.
#[derive(Clone, Debug)]
pub struct Trainer {
    template: Network,
    data: Dataset,
    cfg: ValidTrainConfig,
    theta: Vec<f64>,
    rng: TrainRng,
    step: u64,
    diverged: Option<u64>,
    engine: Engine,
}

impl Trainer {
    /// A run from `net`'s parameters, with the generator seeded from `cfg.seed`; the
    /// kernel is chosen automatically (see the module documentation).
    ///
    /// `cfg` must come from [`TrainConfig::check`] on this network and data set; a
    /// different shape is a bug in the caller and panics.
    pub fn new(net: Network, data: Dataset, cfg: ValidTrainConfig) -> Self {
        let kernel = if Self::fused_applies(&net, &cfg) {
            Kernel::Fused
        } else {
            Kernel::General
        };
        Self::build(net, data, cfg, kernel)
    }

    /// As [`new`](Self::new) with a given kernel; fails when the fused kernel does not
    /// apply to this network and configuration.
    pub fn with_kernel(
        net: Network,
        data: Dataset,
        cfg: ValidTrainConfig,
        kernel: Kernel,
    ) -> Result<Self> {
        if kernel == Kernel::Fused && !Self::fused_applies(&net, &cfg) {
            return Err(Error::parameter(
                "kernel",
                "the fused kernel needs 1-D inputs, one trainable hidden layer with biases, a \
                 trainable output layer, batch size 1 and no explicit regularization",
            ));
        }
        Ok(Self::build(net, data, cfg, kernel))
    }

    fn fused_applies(net: &Network, cfg: &ValidTrainConfig) -> bool {
        cfg.batch == 1 && cfg.explicit_reg == 0.0 && Fused::plan(net).is_some()
    }

    fn build(net: Network, data: Dataset, cfg: ValidTrainConfig, kernel: Kernel) -> Self {
        assert!(
            cfg.matches(&net, &data),
            "the configuration was checked against another network or data set"
        );
        let engine = match kernel {
            Kernel::Fused => {
                Engine::Fused(Box::new(Fused::plan(&net).expect("checked by the caller")))
            }
            Kernel::General => Engine::General(Box::new(General::new(&net, cfg.explicit_reg))),
        };
        Trainer {
            theta: net.params(),
            rng: TrainRng::new(cfg.seed),
            template: net,
            data,
            cfg,
            step: 0,
            diverged: None,
            engine,
        }
    }

    /// The kernel in use.
    pub fn kernel(&self) -> Kernel {
        match self.engine {
            Engine::Fused(_) => Kernel::Fused,
            Engine::General(_) => Kernel::General,
        }
    }

    /// Steps done.
    pub fn step(&self) -> u64 {
        self.step
    }

    /// The configuration.
    pub fn config(&self) -> &TrainConfig {
        self.cfg.config()
    }

    /// The data set.
    pub fn data(&self) -> &Dataset {
        &self.data
    }

    /// Runs until `target_step` steps are done (nothing if already there). Stops early
    /// and reports [`RunStatus::Diverged`] when a residual or θ is not finite; after that
    /// every call reports the same. Call it in chunks (e.g. up to the next log point):
    /// each call costs one extra forward pass and a finiteness scan of θ.
    pub fn run_until(&mut self, target_step: u64) -> RunStatus {
        if let Some(step) = self.diverged {
            return RunStatus::Diverged { step };
        }
        if target_step <= self.step {
            return RunStatus::Ok;
        }
        let sp = StepParams {
            sampler: self.cfg.sampler(),
            lr: self.cfg.lr,
            batch: self.cfg.batch,
            explicit_reg: self.cfg.explicit_reg,
            explicit_sampled: self.cfg.explicit_reg_sampled,
            threshold: self.cfg.flush_threshold,
        };
        let (start, theta, data, rng) = (self.step, &mut self.theta[..], &self.data, &mut self.rng);
        let arch = pulp::Arch::new();
        let result = match &mut self.engine {
            Engine::Fused(engine) => arch.dispatch(FusedOp {
                engine,
                theta,
                data,
                rng,
                sp: &sp,
                start,
                end: target_step,
            }),
            Engine::General(engine) => arch.dispatch(GeneralOp {
                engine,
                theta,
                data,
                rng,
                sp: &sp,
                start,
                end: target_step,
            }),
        };
        self.finish_call(target_step, result.err())
    }

    /// The step count and status after a call of the kernels towards `target_step`
    /// that stopped early at `stopped` steps done (a residual not finite), or reached it.
    fn finish_call(&mut self, target_step: u64, stopped: Option<u64>) -> RunStatus {
        match stopped {
            None => {
                self.step = target_step;
                if self.theta.iter().all(|v| v.is_finite()) {
                    RunStatus::Ok
                } else {
                    self.diverged = Some(target_step);
                    RunStatus::Diverged { step: target_step }
                }
            }
            Some(step) => {
                self.step = step;
                self.diverged = Some(step);
                RunStatus::Diverged { step }
            }
        }
    }

    /// The current network (θ in the template's structure, frozen parts unchanged).
    pub fn network(&self) -> Network {
        let mut net = self.template.clone();
        net.set_params_unchecked(&self.theta);
        net
    }

    /// θ, the trainable parameters (the order of docs/conventions.md#theta).
    pub fn params(&self) -> &[f64] {
        &self.theta
    }

    /// The state after [`step`](Self::step) steps.
    pub fn checkpoint(&self) -> Checkpoint {
        Checkpoint {
            step: self.step,
            theta: self.theta.clone(),
            rng: self.rng.clone(),
            config: self.cfg.config().clone(),
            kernel: Some(self.kernel()),
        }
    }

    /// Writes [`checkpoint`](Self::checkpoint) into `cp`, reusing its memory: the run
    /// driver records the last good state after every chunk, which with frequent pauses
    /// is often enough for the allocations to show. The same value as `checkpoint()`.
    pub fn checkpoint_into(&self, cp: &mut Checkpoint) {
        cp.step = self.step;
        cp.theta.clone_from(&self.theta);
        cp.rng.clone_from(&self.rng);
        if cp.config != *self.cfg.config() {
            cp.config.clone_from(self.cfg.config());
        }
        cp.kernel = Some(self.kernel());
    }

    /// Continues a run from a checkpoint: `net_template` gives the structure and the
    /// frozen values (its θ is replaced), and the run goes on with the checkpoint's
    /// kernel. Checks the configuration, and θ's length and finiteness.
    pub fn resume(net_template: Network, data: Dataset, cp: Checkpoint) -> Result<Self> {
        let cfg = cp.config.check(&net_template, &data)?;
        let mut net = net_template;
        net.set_params(&cp.theta).map_err(|e| match e {
            Error::Parameter { message, .. } => Error::parameter("checkpoint.theta", message),
            other => other,
        })?;
        let mut trainer = match cp.kernel {
            Some(kernel) => Trainer::with_kernel(net, data, cfg, kernel)?,
            None => Trainer::new(net, data, cfg),
        };
        trainer.step = cp.step;
        trainer.rng = cp.rng;
        Ok(trainer)
    }
}

/// The fused run as a `pulp` operation: `with_simd` is compiled once per instruction set
/// and everything below it is `#[inline(always)]`, so the kernels are vectorized for the
/// instruction set picked at run time.
struct FusedOp<'a> {
    engine: &'a mut Fused,
    theta: &'a mut [f64],
    data: &'a Dataset,
    rng: &'a mut TrainRng,
    sp: &'a StepParams,
    start: u64,
    end: u64,
}

impl pulp::WithSimd for FusedOp<'_> {
    type Output = std::result::Result<(), u64>;
    #[inline(always)]
    fn with_simd<S: pulp::Simd>(self, simd: S) -> Self::Output {
        let d = self.data;
        self.engine.run(
            simd,
            self.theta,
            d.xs(),
            d.ys(),
            self.rng,
            self.sp,
            self.start,
            self.end,
        )
    }
}

/// The general run as a `pulp` operation (see [`FusedOp`]).
struct GeneralOp<'a> {
    engine: &'a mut General,
    theta: &'a mut [f64],
    data: &'a Dataset,
    rng: &'a mut TrainRng,
    sp: &'a StepParams,
    start: u64,
    end: u64,
}

impl pulp::WithSimd for GeneralOp<'_> {
    type Output = std::result::Result<(), u64>;
    #[inline(always)]
    fn with_simd<S: pulp::Simd>(self, simd: S) -> Self::Output {
        self.engine.run(
            simd, self.theta, self.data, self.rng, self.sp, self.start, self.end,
        )
    }
}
