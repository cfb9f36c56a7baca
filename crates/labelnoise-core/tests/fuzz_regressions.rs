//! Inputs that once crashed or hung a fuzz target (docs/fuzzing.md), replayed in
//! ordinary `cargo test` through the same public entry points the fuzz targets call.
//! The byte-level ones are files under `fuzz/regressions/<target>/`, in the form the
//! target reads them; each must now give an error, quickly, and never a panic.

mod common;

use std::path::PathBuf;

use labelnoise_core::Dataset;

/// The committed inputs of one fuzz target (at least one: a target listed here has a
/// regression).
fn inputs(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/regressions")
        .join(target);
    let mut files: Vec<(PathBuf, Vec<u8>)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| {
            let path = entry.unwrap().path();
            let bytes = std::fs::read(&path).unwrap();
            (path, bytes)
        })
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no inputs in {}", dir.display());
    files
}

/// Splits a `data_npy` input as the target does: two little-endian bytes give the
/// length of the x file, the y file is the rest.
fn npy_pair(bytes: &[u8]) -> (&[u8], &[u8]) {
    let split = (u16::from_le_bytes([bytes[0], bytes[1]]) as usize).min(bytes.len() - 2);
    bytes[2..].split_at(split)
}

/// `nested-header-timeout.bin`: a header of a hundred `[` took the NPY header parser
/// exponential time (a hang). It is now refused before that parser runs.
#[test]
fn npy_pairs_that_crashed_or_hung_are_refused() {
    for (path, bytes) in inputs("data_npy") {
        let (x, y) = npy_pair(&bytes);
        let err = Dataset::from_npy(x, "x.npy", y, "y.npy").unwrap_err();
        assert!(
            err.to_string().contains("header: nested too deeply"),
            "{}: {err}",
            path.display()
        );
    }
}

/// `fuzz/regressions/structured/analyze-reg-nan.bin` (the `structured` target) decodes
/// to this case: a logistic unit times an output weight of −5.5e303, on the point
/// (0, 0). Its output is finite, its loss overflows, and `analyze` used to return NaN
/// for reg and the null-space projection. It is now bad input naming the model, and
/// `settle` and a training run refuse it the same way.
#[test]
fn a_network_whose_loss_overflows_is_refused_not_analyzed_into_nan() {
    use labelnoise_core::analysis::{analyze, AnalyzeOptions};
    use labelnoise_core::settle::{settle, SettleOptions};
    use labelnoise_core::train::{Run, TrainConfig};
    use labelnoise_core::{Activation, Layer, Network};

    let layer = |weight: f64, activation| Layer {
        in_dim: 1,
        out_dim: 1,
        weight: vec![weight],
        bias: None,
        activation,
        trainable: true,
    };
    let net = Network::new(
        1,
        vec![
            layer(2.765625, Activation::Logistic),
            layer(-5.487463437515983e303, Activation::Identity),
        ],
        None,
        "case",
    )
    .unwrap();
    let data = Dataset::new(1, vec![0.0], vec![0.0], "case").unwrap();
    let e = analyze(&net, &data, &AnalyzeOptions::default()).unwrap_err();
    assert!(e.to_string().starts_with("model: "), "{e}");
    assert!(e.to_string().contains("overflows"), "{e}");
    let e = settle(&net, &data, &SettleOptions::default()).unwrap_err();
    assert!(e.to_string().starts_with("model: "), "{e}");
    let config = TrainConfig {
        steps: 1,
        two_copies: true,
        noise: 0.0,
        ..TrainConfig::default()
    };
    let e = Run::new(net, data, &config).err().expect("refused");
    assert!(e.to_string().contains("overflows"), "{e}");
}

/// `fuzz/regressions/structured/settle-line-search-timeout.bin` decodes to this case:
/// a tanh network with a weight of −2.8e307 and zero output weights, on the point
/// (0, 0). θ is huge and the projected gradient tiny, so `settle`'s first line-search
/// step was infinite and halving it never ended (a hang). It now ends.
#[test]
fn settle_ends_when_its_first_step_would_be_infinite() {
    use labelnoise_core::settle::{settle, SettleOptions};
    use labelnoise_core::{Activation, Layer, Network};

    let net = Network::new(
        1,
        vec![
            Layer {
                in_dim: 1,
                out_dim: 1,
                weight: vec![-12.0],
                bias: Some(vec![299.984375]),
                activation: Activation::Tanh,
                trainable: true,
            },
            Layer {
                in_dim: 1,
                out_dim: 4,
                weight: vec![-2.828675557527278e307, 3.328125, 0.0, 0.0],
                bias: None,
                activation: Activation::Tanh,
                trainable: true,
            },
            Layer {
                in_dim: 4,
                out_dim: 1,
                weight: vec![0.0; 4],
                bias: None,
                activation: Activation::Identity,
                trainable: true,
            },
        ],
        None,
        "case",
    )
    .unwrap();
    let data = Dataset::new(1, vec![0.0], vec![0.0], "case").unwrap();
    let opts = SettleOptions {
        max_iter: 1,
        max_fit_iter: 1,
        ..SettleOptions::default()
    };
    // Any outcome or error will do; the point is that it returns.
    if let Ok(result) = settle(&net, &data, &opts) {
        assert!(!result.end_reg.is_nan());
    }
}

/// A run directory as the fuzz targets' `valid_run_files` make it (fuzz/src/lib.rs): the
/// `fig1-wiggly` model on `fig1`, η = 1e-2, 20 steps, a checkpoint every 10.
fn template_run(dir: &std::path::Path) {
    use labelnoise_core::train::run_dir::RunDir;
    use labelnoise_core::train::{Run, Silent, TrainConfig};
    let data = labelnoise_core::builtin::dataset("fig1").unwrap();
    let net = labelnoise_core::builtin::model("fig1-wiggly").unwrap();
    let config = TrainConfig {
        lr: 1e-2,
        steps: 20,
        ..TrainConfig::default()
    };
    let run_dir = RunDir::new(dir);
    let run_config = common::fig1_run_config(&net, &config, 10);
    run_dir.write_start(&run_config, &data, &net).unwrap();
    Run::new(net, data, &config)
        .unwrap()
        .checkpoint_every(10)
        .write_to(run_dir)
        .execute(&mut Silent)
        .unwrap();
}

/// The `checkpoint` target's seeds (fuzz/corpus/checkpoint/) are in its input form (a
/// mode byte: odd, the state written with its checksum; even, the whole file) and in
/// the current checkpoint format: the `valid-*` ones resume the template run, so the
/// fuzzer starts from inputs that reach the state's checks, not from ones the checksum
/// refuses. (The seeds once predated the checksum, and every input stopped there.)
#[test]
fn checkpoint_seeds_are_current() {
    use labelnoise_core::train::run_dir::{checksummed, CHECKPOINT_FILE};
    use labelnoise_core::train::{Run, RunDir};
    let corpus = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/checkpoint");
    let mut valid = 0;
    for entry in std::fs::read_dir(&corpus).unwrap() {
        let path = entry.unwrap().path();
        let bytes = std::fs::read(&path).unwrap();
        let (&mode, rest) = bytes.split_first().unwrap();
        let file = if mode % 2 == 1 {
            checksummed(rest)
        } else {
            rest.to_vec()
        };
        let dir = tempfile::tempdir().unwrap();
        template_run(dir.path());
        std::fs::write(dir.path().join(CHECKPOINT_FILE), &file).unwrap();
        let resumed = Run::resume(RunDir::new(dir.path()));
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        if name.starts_with("valid-") {
            let run = resumed.unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(run.trainer().step(), 20, "{name}");
            valid += 1;
        }
    }
    assert!(valid >= 2, "{valid} valid seeds");
}
