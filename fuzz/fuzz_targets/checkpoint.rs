//! `checkpoint.json` of a run directory, as `labelnoise resume` reads it: `Run::resume`
//! on a directory whose other files are those of a valid run.
//!
//! The first byte picks what the rest is: even, the whole file (the checksum layout and
//! the checksum check are fuzzed); odd, the state alone, written with its correct
//! checksum (`run_dir::checksummed`), so the fuzzer reaches the state's parser and the
//! checks behind it, which a random checksum would never let it pass.
#![no_main]
use labelnoise_core::train::run_dir::{checksummed, CHECKPOINT_FILE};
use labelnoise_core::train::{Run, RunDir};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    let Some((&mode, rest)) = bytes.split_first() else {
        return;
    };
    let file = if mode % 2 == 1 {
        checksummed(rest)
    } else {
        rest.to_vec()
    };
    let dir = labelnoise_fuzz::run_dir_with(CHECKPOINT_FILE, &file);
    let _ = Run::resume(RunDir::new(dir));
});
