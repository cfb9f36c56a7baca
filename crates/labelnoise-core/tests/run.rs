//! The run driver (`train::run`): it must give exactly what stepping a `Trainer` by hand
//! gives, record metrics at the log-spaced steps in order, checkpoint and resume to the
//! same bits, stop on divergence with the last finite state, and stop on request.

mod common;

use labelnoise_core::train::{
    execute_all, execute_together, init_network, lockstep_groups, log_spaced_steps, metrics,
    CancelToken, CheckpointFile, Ending, Metrics, Observer, Run, RunDir, RunView, Silent,
    TrainConfig, Trainer,
};
use labelnoise_core::{builtin, Activation, Architecture, Dataset, Network};

fn fig1_net(width: usize, seed: u64) -> (Network, Dataset) {
    let data = builtin::dataset("fig1").unwrap();
    let arch = Architecture::shallow(width, Activation::Relu);
    (init_network(&arch, seed, 1.0).unwrap(), data)
}

fn config(steps: u64, seed: u64) -> TrainConfig {
    TrainConfig {
        lr: 1e-3,
        steps,
        noise: 0.5,
        seed,
        log_points: 30,
        ..TrainConfig::default()
    }
}

/// Records what the driver reports.
#[derive(Default)]
struct Recorder {
    progress: Vec<(u64, u64)>,
    metrics: Vec<u64>,
    checkpoints: Vec<u64>,
    stop_at_checkpoint: Option<(u64, CancelToken)>,
}

impl Observer for Recorder {
    fn progress(&mut self, run: &RunView<'_>) {
        assert_eq!(run.params().len(), run.network().param_count());
        self.progress.push((run.step(), run.total()));
    }
    fn metrics(&mut self, row: &Metrics, _run: &RunView<'_>) {
        self.metrics.push(row.step);
    }
    fn checkpoint_saved(&mut self, step: u64) {
        self.checkpoints.push(step);
        if let Some((at, token)) = &self.stop_at_checkpoint {
            if *at == step {
                token.cancel();
            }
        }
    }
}

#[test]
fn a_run_equals_stepping_the_trainer_by_hand() {
    let (net, data) = fig1_net(16, 3);
    let cfg = config(50_000, 3);
    let outcome = Run::new(net.clone(), data.clone(), &cfg)
        .unwrap()
        .execute(&mut Silent)
        .unwrap();
    let mut trainer = Trainer::new(
        net,
        data.clone(),
        cfg.check(&outcome.network, &data).unwrap(),
    );
    trainer.run_until(cfg.steps);
    assert_eq!(outcome.network.params(), trainer.params());
    assert_eq!(outcome.summary.steps, cfg.steps);
    assert_eq!(outcome.summary.ending(), Ending::Finished);
    assert_eq!(outcome.summary.kernel, "fused");
    // Metrics at exactly the log-spaced steps, the last one of the final network.
    let steps: Vec<u64> = outcome.metrics.iter().map(|m| m.step).collect();
    assert_eq!(steps, log_spaced_steps(cfg.steps, cfg.log_points));
    let last = outcome.metrics.last().unwrap();
    assert_eq!(last, &metrics(&outcome.network, &data, cfg.steps).unwrap());
    assert_eq!(&outcome.summary.final_metrics, last);
}

#[test]
fn the_observer_sees_progress_and_every_metrics_row_in_order() {
    let (net, data) = fig1_net(8, 0);
    let cfg = config(40_000, 0);
    let mut rec = Recorder::default();
    let outcome = Run::new(net, data, &cfg)
        .unwrap()
        .execute(&mut rec)
        .unwrap();
    assert_eq!(rec.progress.first(), Some(&(0, 40_000)));
    assert_eq!(rec.progress.last(), Some(&(40_000, 40_000)));
    assert!(rec.progress.windows(2).all(|w| w[0].0 <= w[1].0));
    // Step 0's row is computed before the loop; every other row reaches the observer.
    let expected: Vec<u64> = outcome.metrics.iter().skip(1).map(|m| m.step).collect();
    assert_eq!(rec.metrics, expected);
    assert!(
        rec.checkpoints.is_empty(),
        "no run directory, no checkpoints"
    );
}

#[test]
fn a_cancelled_run_resumes_to_the_same_bits() {
    let (net, data) = fig1_net(16, 5);
    let cfg = config(60_000, 5);
    let whole = Run::new(net.clone(), data.clone(), &cfg)
        .unwrap()
        .execute(&mut Silent)
        .unwrap();

    let tmp = tempfile::tempdir().unwrap();
    let dir = RunDir::new(tmp.path().join("run"));
    let run_config = common::fig1_run_config(&net, &cfg, 20_000);
    dir.write_start(&run_config, &data, &net).unwrap();
    let token = CancelToken::new();
    let mut rec = Recorder {
        stop_at_checkpoint: Some((20_000, token.clone())),
        ..Recorder::default()
    };
    let (initial, data_again) = (net.clone(), data.clone());
    let stopped = Run::new(net, data, &cfg)
        .unwrap()
        .checkpoint_every(20_000)
        .write_to(dir.clone())
        .cancel_on(token)
        .execute(&mut rec)
        .unwrap();
    assert_eq!(stopped.summary.ending(), Ending::Cancelled);
    assert_eq!(stopped.summary.steps, 20_000);
    // The periodic checkpoint, and the one written on cancelling (same step).
    assert_eq!(rec.checkpoints, vec![20_000, 20_000]);
    let cp: CheckpointFile = dir.read_checkpoint().unwrap();
    assert_eq!(cp.trainer.step, 20_000);
    assert!(cp.metrics.iter().all(|m| m.step <= 20_000));
    for f in [
        "model.json",
        "model.safetensors",
        "metrics.csv",
        "summary.json",
    ] {
        assert!(dir.file(f).exists(), "{f}");
    }

    let resumed = Run::resume(dir.clone())
        .unwrap()
        .execute(&mut Silent)
        .unwrap();
    assert_eq!(resumed.network, whole.network);
    assert_eq!(resumed.metrics, whole.metrics);
    assert_eq!(resumed.summary.ending(), Ending::Finished);
    // And in memory, from the stopped outcome's own checkpoint and rows.
    let from_memory = Run::from_checkpoint(
        initial,
        data_again,
        CheckpointFile {
            trainer: stopped.checkpoint,
            metrics: stopped.metrics,
        },
    )
    .unwrap()
    .execute(&mut Silent)
    .unwrap();
    assert_eq!(from_memory.network, whole.network);
    assert_eq!(from_memory.metrics, whole.metrics);
}

#[test]
fn divergence_keeps_the_last_finite_state() {
    let (net, data) = fig1_net(16, 1);
    let cfg = TrainConfig {
        lr: 5.0,
        ..config(100_000, 1)
    };
    let outcome = Run::new(net, data, &cfg)
        .unwrap()
        .execute(&mut Silent)
        .unwrap();
    assert_eq!(outcome.summary.ending(), Ending::Diverged);
    let at = outcome.summary.diverged_at.unwrap();
    assert!(outcome.summary.steps < at, "{:?}", outcome.summary);
    assert!(outcome.network.params().iter().all(|v| v.is_finite()));
    assert!(outcome.metrics.iter().all(Metrics::finite));
    assert_eq!(outcome.checkpoint.step, outcome.summary.steps);
}

#[test]
fn a_token_set_before_the_start_runs_no_step() {
    let (net, data) = fig1_net(4, 2);
    let token = CancelToken::new();
    token.cancel();
    let outcome = Run::new(net.clone(), data, &config(10_000, 2))
        .unwrap()
        .cancel_on(token)
        .execute(&mut Silent)
        .unwrap();
    assert_eq!(outcome.summary.steps, 0);
    assert_eq!(outcome.summary.ending(), Ending::Cancelled);
    assert_eq!(outcome.network, net);
}

#[test]
fn bad_configurations_and_directories_are_errors_not_panics() {
    let (net, data) = fig1_net(4, 2);
    let e = Run::new(
        net.clone(),
        data.clone(),
        &TrainConfig {
            lr: -1.0,
            ..config(10, 0)
        },
    )
    .err()
    .unwrap();
    assert!(e.to_string().starts_with("--lr:"), "{e}");
    let tmp = tempfile::tempdir().unwrap();
    let e = RunDir::find(tmp.path()).unwrap_err();
    assert!(e.to_string().contains("not a run directory"), "{e}");
    let e = Run::resume(RunDir::new(tmp.path().join("missing")))
        .err()
        .unwrap();
    assert!(e.to_string().contains("missing"), "{e}");
    // A checkpoint whose metrics run past its step is refused.
    let whole = Run::new(net.clone(), data.clone(), &config(1000, 0))
        .unwrap()
        .execute(&mut Silent)
        .unwrap();
    let mut early = whole.checkpoint.clone();
    early.step = 10;
    let e = Run::from_checkpoint(
        net,
        data,
        CheckpointFile {
            trainer: early,
            metrics: whole.metrics,
        },
    )
    .err()
    .unwrap();
    assert!(e.to_string().contains("metrics"), "{e}");
}

/// Remembers the network at every pause.
#[derive(Default)]
struct Pauses(Vec<(u64, Network)>);

impl Observer for Pauses {
    fn paused(&mut self, run: &RunView<'_>) {
        self.0.push((run.step(), run.network()));
    }
}

#[test]
fn pauses_show_the_network_at_exactly_those_steps() {
    let (net, data) = fig1_net(16, 3);
    let cfg = config(50_000, 3);
    let asked = [0, 1, 777, 12_345, 50_000, 80_000];
    let mut seen = Pauses::default();
    let outcome = Run::new(net.clone(), data.clone(), &cfg)
        .unwrap()
        .pause_at(asked)
        .execute(&mut seen)
        .unwrap();
    let steps: Vec<u64> = seen.0.iter().map(|(s, _)| *s).collect();
    assert_eq!(
        steps,
        [0, 1, 777, 12_345, 50_000],
        "steps past the end are ignored"
    );
    // Each is what stepping a Trainer by hand to that step gives, bit for bit.
    let mut by_hand = Trainer::new(net.clone(), data.clone(), cfg.check(&net, &data).unwrap());
    for (step, at) in &seen.0 {
        by_hand.run_until(*step);
        assert_eq!(by_hand.network().params(), at.params(), "step {step}");
    }
    assert_eq!(outcome.network.params(), seen.0.last().unwrap().1.params());
}

/// `execute_all` packs runs of one schedule into lockstep groups (`train::packed`): each
/// run's outcome and what its observer sees must be those of the run alone — with runs
/// that diverge, are cancelled at a checkpoint, write run directories, or cannot pack
/// (tanh, another length) mixed in.
#[test]
fn runs_executed_together_equal_runs_executed_alone() {
    let tmp = tempfile::tempdir().unwrap();
    let steps = 30_000;
    // (width, activation, lr, steps, cancel at a checkpoint, write a run directory)
    let plan: Vec<(usize, Activation, f64, u64, bool, bool)> = vec![
        (16, Activation::Relu, 1e-3, steps, false, false),
        (16, Activation::Relu, 2e-3, steps, false, true),
        (16, Activation::Relu, 0.4, steps, false, false),
        (16, Activation::Tanh, 1e-3, steps, false, false),
        (16, Activation::Relu, 1e-3, steps, true, true),
        (16, Activation::Relu, 1e-3, 2 * steps, false, false),
        (16, Activation::Relu, 3e-3, steps, false, false),
        (16, Activation::Relu, 1e-3, steps, false, false),
    ];
    let build = |k: usize, tag: &str| -> (Run, Recorder) {
        let (width, act, lr, steps, cancel, write) = plan[k];
        let data = builtin::dataset("fig1").unwrap();
        let arch = Architecture::shallow(width, act);
        let net = init_network(&arch, k as u64, 1.0).unwrap();
        let cfg = TrainConfig {
            lr,
            ..config(steps, k as u64)
        };
        let mut run = Run::new(net.clone(), data.clone(), &cfg)
            .unwrap()
            .checkpoint_every(10_000);
        if write {
            let dir = RunDir::new(tmp.path().join(format!("{tag}-{k}")));
            let run_config = common::fig1_run_config(&net, &cfg, 10_000);
            dir.write_start(&run_config, &data, &net).unwrap();
            run = run.write_to(dir);
        }
        let mut rec = Recorder::default();
        if cancel {
            let token = CancelToken::new();
            rec.stop_at_checkpoint = Some((20_000, token.clone()));
            run = run.cancel_on(token);
        }
        (run, rec)
    };
    let mut alone = vec![];
    for k in 0..plan.len() {
        let (run, mut rec) = build(k, "alone");
        alone.push((run.execute(&mut rec).unwrap(), rec));
    }
    assert!(alone[2].0.summary.diverged, "run 2 is meant to diverge");
    assert_eq!(alone[4].0.summary.ending(), Ending::Cancelled);
    let shared: Vec<Shared> = (0..plan.len()).map(|_| Shared::default()).collect();
    let together_runs: Vec<(Run, Shared)> = (0..plan.len())
        .map(|k| {
            let (run, rec) = build(k, "together");
            *shared[k].0.lock().unwrap() = rec;
            (run, shared[k].clone())
        })
        .collect();
    let together: Vec<_> = execute_all(together_runs)
        .into_iter()
        .map(Result::unwrap)
        .collect();
    // The same runs on this thread through `execute_together` (the sweep runner's way):
    // its groups are those of one thread, which pack the six width-16 relu runs of one
    // schedule (run 2 diverges inside the pack, run 4 is cancelled there).
    let (here_runs, mut here_recs): (Vec<Run>, Vec<Recorder>) =
        (0..plan.len()).map(|k| build(k, "here")).unzip();
    let refs: Vec<&Run> = here_runs.iter().collect();
    assert!(refs[0].can_pack() && !refs[3].can_pack());
    assert_eq!(
        lockstep_groups(&refs, 1),
        vec![vec![0, 1, 2, 4, 6, 7], vec![3], vec![5]]
    );
    let pairs: Vec<(Run, &mut dyn Observer)> = here_runs
        .into_iter()
        .zip(here_recs.iter_mut().map(|r| r as &mut dyn Observer))
        .collect();
    let here: Vec<_> = execute_together(pairs)
        .into_iter()
        .map(Result::unwrap)
        .collect();
    for (k, (t, rec)) in here.iter().zip(&here_recs).enumerate() {
        let (a, alone_rec) = &alone[k];
        let bits = |n: &Network| n.params().iter().map(|v| v.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&a.network), bits(&t.network), "run {k} here: θ");
        assert_eq!(a.metrics, t.metrics, "run {k} here: metrics rows");
        assert_eq!(a.checkpoint, t.checkpoint, "run {k} here: last good state");
        assert_eq!(a.summary.ending(), t.summary.ending(), "run {k} here");
        assert_eq!(
            a.summary.final_metrics, t.summary.final_metrics,
            "run {k} here"
        );
        assert_eq!(alone_rec.metrics, rec.metrics, "run {k} here: metrics seen");
        assert_eq!(alone_rec.checkpoints, rec.checkpoints, "run {k} here");
        assert_eq!(alone_rec.progress, rec.progress, "run {k} here: progress");
    }
    for (k, ((a, rec), t)) in alone.iter().zip(&together).enumerate() {
        let bits = |n: &Network| n.params().iter().map(|v| v.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&a.network), bits(&t.network), "run {k}: θ");
        assert_eq!(a.metrics, t.metrics, "run {k}: metrics rows");
        assert_eq!(a.checkpoint, t.checkpoint, "run {k}: last good state");
        assert_eq!(a.summary.ending(), t.summary.ending(), "run {k}");
        assert_eq!(a.summary.diverged_at, t.summary.diverged_at, "run {k}");
        assert_eq!(a.summary.final_metrics, t.summary.final_metrics, "run {k}");
        let seen = shared[k].0.lock().unwrap();
        assert_eq!(rec.metrics, seen.metrics, "run {k}: metrics seen");
        assert_eq!(
            rec.checkpoints, seen.checkpoints,
            "run {k}: checkpoints seen"
        );
        assert_eq!(rec.progress, seen.progress, "run {k}: progress seen");
        if plan[k].5 {
            let read = |tag: &str| {
                std::fs::read_to_string(tmp.path().join(format!("{tag}-{k}")).join("metrics.csv"))
                    .unwrap()
            };
            assert_eq!(read("alone"), read("together"), "run {k}: metrics.csv");
        }
    }
}

/// A [`Recorder`] the test keeps a handle on while `execute_all` owns the observer.
#[derive(Clone, Default)]
struct Shared(std::sync::Arc<std::sync::Mutex<Recorder>>);

impl Observer for Shared {
    fn progress(&mut self, run: &RunView<'_>) {
        self.0.lock().unwrap().progress(run);
    }
    fn metrics(&mut self, row: &Metrics, run: &RunView<'_>) {
        self.0.lock().unwrap().metrics(row, run);
    }
    fn checkpoint_saved(&mut self, step: u64) {
        self.0.lock().unwrap().checkpoint_saved(step);
    }
}
