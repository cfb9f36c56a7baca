//! Sweep files (docs/sweeps.md), as `labelnoise sweep` reads them: `SweepFile::parse`,
//! then `SweepFile::check` (every point expanded and checked the way `train` checks
//! its flags) and, for a sweep that passes, its manifest and the first point's
//! settings and `train` command line.
#![no_main]
use labelnoise_sweep::SweepFile;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    let Ok(text) = std::str::from_utf8(bytes) else {
        return;
    };
    let Ok(file) = SweepFile::parse(text, "sweep.toml") else {
        return;
    };
    if let Ok(sweep) = file.check() {
        let manifest = labelnoise_sweep::manifest::manifest_of(&sweep);
        let _ = manifest;
        if !sweep.definition.is_empty() {
            let settings = sweep.definition.settings(0);
            let _ = labelnoise_sweep::runner::train_command(&settings, std::path::Path::new("out"));
        }
    }
});
