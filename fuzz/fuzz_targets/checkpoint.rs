//! `checkpoint.json` of a run directory, as `labelnoise resume` reads it: `Run::resume`
//! on a directory whose other files are those of a valid run.
#![no_main]
use labelnoise_core::train::run_dir::CHECKPOINT_FILE;
use labelnoise_core::train::{Run, RunDir};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    let dir = labelnoise_fuzz::run_dir_with(CHECKPOINT_FILE, bytes);
    let _ = Run::resume(RunDir::new(dir));
});
