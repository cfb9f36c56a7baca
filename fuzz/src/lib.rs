//! Helpers shared by the fuzz targets (docs/fuzzing.md). The targets call the same
//! public entry points as the command line, the Python package and the browser.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// A directory of this fuzzing process, made once: the run-directory targets write their
/// files there before every input. It is under `/dev/shm` (memory) where that exists,
/// else under the system's temporary directory: the writes and fsyncs of every input
/// are most of those targets' time.
pub fn scratch_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let shm = Path::new("/dev/shm");
        let base = if shm.is_dir() {
            shm.to_path_buf()
        } else {
            std::env::temp_dir()
        };
        let dir = base.join(format!("labelnoise-fuzz-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("the fuzz scratch directory");
        dir
    })
}

/// The run-directory files of a short valid run (`config.json`, `data.json`,
/// `initial-model.json`, `checkpoint.json`), as the library writes them, made once.
pub fn valid_run_files() -> &'static [(&'static str, Vec<u8>)] {
    use labelnoise_core::train::run_dir::{
        RunConfig, RunDir, CHECKPOINT_FILE, CONFIG_FILE, DATA_FILE, INITIAL_MODEL_FILE,
    };
    use labelnoise_core::train::{Run, Silent, TrainConfig};
    static FILES: OnceLock<Vec<(&'static str, Vec<u8>)>> = OnceLock::new();
    FILES.get_or_init(|| {
        let dir = scratch_dir().join("template");
        std::fs::create_dir_all(&dir).expect("the template run directory");
        let data = labelnoise_core::builtin::dataset("fig1").expect("the fig1 data");
        let net = labelnoise_core::builtin::model("fig1-wiggly").expect("the fig1-wiggly model");
        let config = TrainConfig {
            lr: 1e-2,
            steps: 20,
            ..TrainConfig::default()
        };
        let run_dir = RunDir::new(&dir);
        let run_config = RunConfig {
            version: "fuzz".into(),
            command: vec!["fuzz".into()],
            data: "fig1".into(),
            model: net.describe(),
            init_model: None,
            init_scale: 1.0,
            output_init_scale: 1.0,
            train: config.clone(),
            checkpoint_every: 10,
        };
        run_dir
            .write_start(&run_config, &data, &net)
            .expect("the run's first files");
        Run::new(net, data, &config)
            .expect("a valid run")
            .checkpoint_every(10)
            .write_to(run_dir)
            .execute(&mut Silent)
            .expect("the template run");
        [CONFIG_FILE, DATA_FILE, INITIAL_MODEL_FILE, CHECKPOINT_FILE]
            .into_iter()
            .map(|name| (name, std::fs::read(dir.join(name)).expect("a run file")))
            .collect()
    })
}

/// A run directory holding [`valid_run_files`] with `file` replaced by `bytes` (one
/// directory per fuzzed file name; the valid files are written once).
pub fn run_dir_with(file: &str, bytes: &[u8]) -> PathBuf {
    let dir = scratch_dir().join(format!("run-{file}"));
    if !dir.exists() {
        std::fs::create_dir_all(&dir).expect("the fuzzed run directory");
        for (name, valid) in valid_run_files() {
            std::fs::write(dir.join(name), valid).expect("a valid run file");
        }
    }
    std::fs::write(dir.join(file), bytes).expect("a fuzzed run file");
    dir
}
