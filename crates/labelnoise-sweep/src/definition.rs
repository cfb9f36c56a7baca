//! A sweep's definition after its file was read and its values normalized: the fixed
//! settings, the `[zip]` lists that vary together and the `[grid]` lists that are
//! crossed, and the expansion of point indices into settings.
//!
//! Point order: the `[zip]` position varies slowest, then the `[grid]` keys in the order
//! of the file, the last one fastest. With `seed` last in `[grid]`, the seeds of one
//! setting are consecutive points. Point `i` has zip position `i / G` and grid position
//! `i % G` (G = the product of the grid lists' lengths), the latter written in mixed
//! radix with the grid lists' lengths as digits.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A key and its values.
pub type Axis = (String, Vec<Value>);

/// What a sweep is, independent of the machine that runs it (also stored in the
/// manifest, so `collect` needs no sweep file).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Definition {
    /// The sweep's name.
    pub name: String,
    /// A sentence about it (may be empty).
    pub description: String,
    /// `[train]`: the settings of every point, in file order.
    pub fixed: Vec<(String, Value)>,
    /// `[zip]`: lists of equal length that vary together.
    pub zip: Vec<Axis>,
    /// `[grid]`: lists crossed with each other and with `[zip]`.
    pub grid: Vec<Axis>,
}

impl Definition {
    /// The number of `[zip]` positions (1 without `[zip]`).
    pub fn zip_len(&self) -> usize {
        self.zip.first().map_or(1, |(_, v)| v.len())
    }

    /// The number of `[grid]` combinations (1 without `[grid]`).
    pub fn grid_len(&self) -> usize {
        self.grid.iter().map(|(_, v)| v.len()).product()
    }

    /// The number of points.
    pub fn len(&self) -> usize {
        self.zip_len() * self.grid_len()
    }

    /// Whether the sweep has no point (never, for a checked sweep).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The keys that vary from point to point: `[zip]` keys, then `[grid]` keys.
    pub fn swept(&self) -> Vec<&str> {
        self.zip
            .iter()
            .chain(&self.grid)
            .map(|(k, _)| k.as_str())
            .collect()
    }

    /// The zip position and each grid key's position of point `i`.
    pub fn positions(&self, i: usize) -> (usize, Vec<usize>) {
        let g = self.grid_len();
        let mut rest = i % g;
        let mut pos = vec![0; self.grid.len()];
        for (k, (_, values)) in self.grid.iter().enumerate().rev() {
            pos[k] = rest % values.len();
            rest /= values.len();
        }
        (i / g, pos)
    }

    /// Every setting of point `i` (the keys the file sets), by key.
    pub fn settings(&self, i: usize) -> BTreeMap<String, Value> {
        let (z, pos) = self.positions(i);
        let mut s: BTreeMap<String, Value> = self.fixed.iter().cloned().collect();
        for (k, v) in &self.zip {
            s.insert(k.clone(), v[z].clone());
        }
        for ((k, v), &p) in self.grid.iter().zip(&pos) {
            s.insert(k.clone(), v[p].clone());
        }
        s
    }

    /// Where point `i`'s value of `key` is written in the file: `[train].lr`,
    /// `[zip].lr[2]`, `[grid].seed[3]`; `None` when the file does not set it.
    pub fn location(&self, key: &str, i: usize) -> Option<String> {
        if self.fixed.iter().any(|(k, _)| k == key) {
            return Some(format!("[train].{key}"));
        }
        let (z, pos) = self.positions(i);
        if self.zip.iter().any(|(k, _)| k == key) {
            return Some(format!("[zip].{key}[{z}]"));
        }
        self.grid
            .iter()
            .zip(&pos)
            .find(|((k, _), _)| k == key)
            .map(|(_, p)| format!("[grid].{key}[{p}]"))
    }
}

/// A short stable hash of a point's settings: FNV-1a (64 bits) of their canonical JSON
/// (keys sorted, numbers in shortest round-trip form), as 8 hex digits (the top 32
/// bits). It names the point's directory together with the point's index, so a
/// collision would not mix two points.
pub fn settings_hash(settings: &BTreeMap<String, Value>) -> String {
    let text = serde_json::to_string(settings).expect("settings serialize");
    format!("{:08x}", fnv1a(text.as_bytes()) >> 32)
}

/// FNV-1a, 64 bits.
pub fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn def() -> Definition {
        Definition {
            name: "t".into(),
            description: String::new(),
            fixed: vec![("data".into(), json!("fig1"))],
            zip: vec![
                ("lr".into(), vec![json!(1e-3), json!(5e-4)]),
                ("steps".into(), vec![json!(10), json!(40)]),
            ],
            grid: vec![
                ("hidden".into(), vec![json!([4]), json!([8]), json!([16])]),
                ("seed".into(), vec![json!(0), json!(1)]),
            ],
        }
    }

    #[test]
    fn expansion_crosses_grid_with_zip_and_the_last_grid_key_varies_fastest() {
        let d = def();
        assert_eq!(d.len(), 12);
        assert_eq!(d.swept(), ["lr", "steps", "hidden", "seed"]);
        let s = d.settings(0);
        assert_eq!(
            (s["lr"].clone(), s["hidden"].clone(), s["seed"].clone()),
            (json!(1e-3), json!([4]), json!(0))
        );
        let s = d.settings(1);
        assert_eq!(s["seed"], json!(1));
        let s = d.settings(7);
        // zip 1, grid 1 = (hidden 0, seed 1)
        assert_eq!(
            (
                s["lr"].clone(),
                s["steps"].clone(),
                s["hidden"].clone(),
                s["seed"].clone()
            ),
            (json!(5e-4), json!(40), json!([4]), json!(1))
        );
        assert_eq!(d.location("steps", 7).unwrap(), "[zip].steps[1]");
        assert_eq!(d.location("hidden", 11).unwrap(), "[grid].hidden[2]");
        assert_eq!(d.location("data", 3).unwrap(), "[train].data");
        assert!(d.location("noise", 3).is_none());
        let all: std::collections::BTreeSet<String> = (0..d.len())
            .map(|i| settings_hash(&d.settings(i)))
            .collect();
        assert_eq!(all.len(), 12, "every point has its own settings");
    }

    #[test]
    fn the_hash_is_stable() {
        // Changing this breaks every existing sweep directory.
        assert_eq!(fnv1a(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(settings_hash(&def().settings(0)).len(), 8);
    }
}
