//! `config.json` of a run directory, as `labelnoise resume` and `labelnoise collect`
//! read it: `RunDir::read_config` and `Run::resume` on a directory whose other files
//! are those of a valid run.
#![no_main]
use labelnoise_core::train::run_dir::CONFIG_FILE;
use labelnoise_core::train::{Run, RunDir};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    let dir = RunDir::new(labelnoise_fuzz::run_dir_with(CONFIG_FILE, bytes));
    let _ = dir.read_config();
    let _ = Run::resume(dir);
});
