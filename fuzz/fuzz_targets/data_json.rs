//! Data JSON (docs/formats.md#json), as `--data FILE.json` and the run directory's
//! `data.json` are read: `Dataset::from_json`. Data that load must write and read back.
#![no_main]
use labelnoise_core::Dataset;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    let Ok(text) = std::str::from_utf8(bytes) else {
        return;
    };
    if let Ok(data) = Dataset::from_json(text, "data.json") {
        let again =
            Dataset::from_json(&data.to_json(), "again.json").expect("written data read back");
        assert_eq!(again, data);
    }
});
