//! The sweep directory's `manifest.json`: every point, its settings and its directory,
//! written before any point runs, and the sweep's definition, so that `collect` needs
//! nothing but the directory.
//!
//! ```text
//! DIR/manifest.json        this file
//! DIR/points/<i>-<hash>/   point i's run directory (docs/formats.md#run-directories)
//! DIR/sweep.sbatch         the Slurm job array (with --slurm)
//! DIR/logs/                the array tasks' output (with --slurm)
//! DIR/results.csv, ...     what `collect` writes
//! ```

use std::collections::BTreeMap;
use std::path::Path;

use labelnoise_core::files::{remove_temporaries, write_atomic, DirLock, LOCK_FILE};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::definition::Definition;
use crate::error::{io, Result, SweepError};
use crate::sweep::Sweep;

/// `manifest.json`.
pub const MANIFEST_FILE: &str = "manifest.json";

/// The value of the manifest's `format` field.
pub const FORMAT: &str = "labelnoise-sweep";

/// One point in the manifest.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ManifestPoint {
    /// Its index.
    pub index: usize,
    /// Its directory relative to the sweep directory.
    pub dir: String,
    /// The short hash of its settings.
    pub hash: String,
    /// SGD steps.
    pub steps: u64,
    /// Trainable parameters.
    pub params: usize,
    /// Estimated cost, steps × parameters.
    pub cost: f64,
    /// Every setting the sweep file gives it.
    pub settings: BTreeMap<String, Value>,
}

/// `manifest.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// Always [`FORMAT`].
    pub format: String,
    /// The labelnoise version that wrote it.
    pub version: String,
    /// [`Sweep::sweep_hash`]: equal hashes, equal sweeps.
    pub sweep_hash: String,
    /// The sweep file as named when the manifest was written.
    pub file: String,
    /// The sweep's definition.
    pub definition: Definition,
    /// The keys that vary between points.
    pub swept: Vec<String>,
    /// The number of points.
    pub count: usize,
    /// Every point, in index order.
    pub points: Vec<ManifestPoint>,
}

/// Only the fields that identify a sweep (reading them still scans the file once).
#[derive(Deserialize)]
struct Head {
    format: String,
    sweep_hash: String,
    definition: HeadDefinition,
}

#[derive(Deserialize)]
struct HeadDefinition {
    name: String,
}

/// The manifest of `sweep`.
pub fn manifest_of(sweep: &Sweep) -> Manifest {
    let def = &sweep.definition;
    Manifest {
        format: FORMAT.into(),
        version: env!("CARGO_PKG_VERSION").into(),
        sweep_hash: sweep.sweep_hash(),
        file: sweep.file.clone(),
        definition: def.clone(),
        swept: def.swept().iter().map(|s| s.to_string()).collect(),
        count: sweep.len(),
        points: (0..sweep.len())
            .map(|i| {
                let p = sweep.point(i);
                let info = sweep.info(i);
                ManifestPoint {
                    index: i,
                    dir: p.dir,
                    hash: p.hash,
                    steps: info.steps,
                    params: info.params,
                    cost: p.cost,
                    settings: p.settings,
                }
            })
            .collect(),
    }
}

/// The manifest as written: the header fields, then one line per point.
fn manifest_json(m: &Manifest) -> String {
    let head = serde_json::json!({
        "format": m.format, "version": m.version, "sweep_hash": m.sweep_hash,
        "file": m.file, "definition": m.definition, "swept": m.swept, "count": m.count,
    });
    let mut s = serde_json::to_string_pretty(&head).expect("serializes");
    s.truncate(s.trim_end().len() - 1);
    s = s.trim_end().to_string();
    s.push_str(",\n  \"points\": [\n");
    for (k, p) in m.points.iter().enumerate() {
        s.push_str("    ");
        s.push_str(&serde_json::to_string(p).expect("serializes"));
        s.push_str(if k + 1 < m.points.len() { ",\n" } else { "\n" });
    }
    s.push_str("  ]\n}\n");
    s
}

/// Files a sweep directory may hold besides the manifest and still count as fresh:
/// the Slurm script and logs, and temporary files of concurrent writers.
fn ignorable(name: &str) -> bool {
    name == "logs"
        || name == "sweep.sbatch"
        || name == LOCK_FILE
        || name.starts_with(".manifest.json.tmp")
}

/// Makes `root` the directory of `sweep`: writes the manifest if there is none (the
/// directory must then be new or empty), or checks that the one there is this sweep's.
/// Returns whether it wrote the manifest.
pub fn prepare(root: &Path, sweep: &Sweep) -> Result<bool> {
    // Shards started at once (a Slurm array) take turns here; the one that writes the
    // manifest also removes what a killed writer left (a temporary file, a stale lock).
    let unsettled = !root.join(MANIFEST_FILE).exists() || root.join(LOCK_FILE).exists();
    if unsettled && (!root.exists() || root.is_dir()) {
        let _turn = DirLock::wait(root)?;
        remove_temporaries(root)?;
        return prepare_locked(root, sweep);
    }
    prepare_locked(root, sweep)
}

fn prepare_locked(root: &Path, sweep: &Sweep) -> Result<bool> {
    let path = root.join(MANIFEST_FILE);
    let name = root.display().to_string();
    if path.exists() {
        let text = std::fs::read_to_string(&path).map_err(|e| io(&path, e))?;
        let head: Head = serde_json::from_str(&text).map_err(|e| {
            SweepError::directory(
                path.display().to_string(),
                format!("not a sweep manifest: {e}"),
            )
        })?;
        if head.format != FORMAT {
            return Err(SweepError::directory(
                path.display().to_string(),
                format!("format is {:?}, not {FORMAT:?}", head.format),
            ));
        }
        if head.sweep_hash != sweep.sweep_hash() {
            return Err(SweepError::directory(
                name,
                format!(
                    "holds another sweep ({:?}, hash {}; this one is {:?}, hash {}): use another --out",
                    head.definition.name,
                    head.sweep_hash,
                    sweep.definition.name,
                    sweep.sweep_hash()
                ),
            ));
        }
        return Ok(false);
    }
    if root.exists() {
        if !root.is_dir() {
            return Err(SweepError::directory(name, "exists and is not a directory"));
        }
        let entries = std::fs::read_dir(root).map_err(|e| io(root, e))?;
        for entry in entries {
            let entry = entry.map_err(|e| io(root, e))?;
            let file = entry.file_name();
            let file = file.to_string_lossy();
            if !ignorable(&file) {
                return Err(SweepError::directory(
                    name,
                    format!("is not empty and holds no {MANIFEST_FILE} (found {file:?}): use another --out"),
                ));
            }
        }
    }
    write_atomic(&path, manifest_json(&manifest_of(sweep)).as_bytes())?;
    Ok(true)
}

/// Reads `root/manifest.json`.
pub fn read(root: &Path) -> Result<Manifest> {
    let path = root.join(MANIFEST_FILE);
    if !path.exists() {
        return Err(SweepError::directory(
            root.display().to_string(),
            format!("not a sweep directory (no {MANIFEST_FILE})"),
        ));
    }
    let text = std::fs::read_to_string(&path).map_err(|e| io(&path, e))?;
    let m: Manifest = serde_json::from_str(&text).map_err(|e| {
        SweepError::directory(
            path.display().to_string(),
            format!("line {}: {e}", e.line()),
        )
    })?;
    if m.format != FORMAT || m.points.len() != m.count {
        return Err(SweepError::directory(
            path.display().to_string(),
            "not a sweep manifest (format or point count)",
        ));
    }
    Ok(m)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::file::SweepFile;

    #[test]
    fn the_manifest_reads_back_and_another_sweep_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let text =
            "[train]\ndata = \"fig1\"\nhidden = 4\nactivation = \"relu\"\nlr = 1e-3\nnoise = 0.1\n\
                    [zip]\nsteps = [10, 20]\n[grid]\nseed = { from = 0, count = 3 }\n";
        let sweep = SweepFile::parse(text, "a.toml").unwrap().check().unwrap();
        assert!(prepare(dir.path(), &sweep).unwrap());
        assert!(!prepare(dir.path(), &sweep).unwrap());
        let m = read(dir.path()).unwrap();
        assert_eq!(m, manifest_of(&sweep));
        assert_eq!(m.points[4].dir, sweep.point(4).dir);
        let other = SweepFile::parse(&text.replace("count = 3", "count = 2"), "a.toml")
            .unwrap()
            .check()
            .unwrap();
        let e = prepare(dir.path(), &other).unwrap_err().to_string();
        assert!(e.contains("holds another sweep"), "{e}");
    }
}
