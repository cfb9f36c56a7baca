//! A pair of NumPy files (docs/formats.md#npy-pair), as `--data X.npy,Y.npy` is read:
//! `Dataset::from_npy`. The input is split in two: its first two bytes (little-endian)
//! give the length of the x file, the y file is the rest.
#![no_main]
use labelnoise_core::Dataset;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    if bytes.len() < 2 {
        return;
    }
    let split = (u16::from_le_bytes([bytes[0], bytes[1]]) as usize).min(bytes.len() - 2);
    let (x, y) = bytes[2..].split_at(split);
    if let Ok(data) = Dataset::from_npy(x, "x.npy", y, "y.npy") {
        let again =
            Dataset::from_json(&data.to_json(), "again.json").expect("written data read back");
        assert_eq!(again, data);
    }
});
