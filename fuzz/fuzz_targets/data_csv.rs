//! Data CSV (docs/formats.md#csv), as `--data FILE.csv` is read: `Dataset::from_csv`.
#![no_main]
use labelnoise_core::Dataset;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    let Ok(text) = std::str::from_utf8(bytes) else {
        return;
    };
    if let Ok(data) = Dataset::from_csv(text, "data.csv") {
        let again =
            Dataset::from_json(&data.to_json(), "again.json").expect("written data read back");
        assert_eq!(again, data);
    }
});
