//! A data set named on the command line or in a configuration: a built-in name or a
//! file path (docs/formats.md#data).
//!
//! This module sits above both [`crate::data`] (the parsers) and [`crate::builtin`]
//! (the built-in data sets, which are [`Dataset`]s themselves), so that neither of
//! those has to know about the other. Models have the same choice in
//! [`crate::model_io::load_model`].

use std::path::Path;

use crate::data::Dataset;
use crate::error::{Error, Result};

impl Dataset {
    /// Reads a data set from a built-in name (see [`crate::builtin`]), a pair of NumPy
    /// files `X.npy,Y.npy` ([`Dataset::from_npy`]), or a file: `.csv` as CSV, anything
    /// else as JSON.
    pub fn load(spec: &str) -> Result<Self> {
        if let Some(data) = crate::builtin::dataset(spec) {
            return Ok(data);
        }
        if let Some((xs, ys)) = spec.split_once(',') {
            let is_npy = |p: &str| p.to_ascii_lowercase().ends_with(".npy");
            if is_npy(xs) && is_npy(ys) {
                let read = |p: &str| {
                    crate::memory::check_file_fits("--data", Path::new(p))?;
                    std::fs::read(p).map_err(|source| Error::Io {
                        file: p.to_string(),
                        source,
                    })
                };
                return Self::from_npy(&read(xs)?, xs, &read(ys)?, ys);
            }
        }
        let path = Path::new(spec);
        crate::memory::check_file_fits("--data", path)?;
        let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
            file: spec.to_string(),
            source,
        })?;
        let is_csv = path
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| e.eq_ignore_ascii_case("csv"));
        if is_csv {
            Self::from_csv(&text, spec)
        } else {
            Self::from_json(&text, spec)
        }
    }
}
