//! `collect`: one row per point of a sweep directory, with the measures `reproduce`
//! takes at the end of a run — the final network projected back onto the zero-loss
//! manifold ([`project_to_manifold`]: Gauss–Newton, at most 50 steps, to max |r_i| ≤
//! 1e-12), then its reg, ‖g_N‖ and verdict ([`analyze`]) and its Theorem 1 report
//! ([`shape_of`] for one hidden relu layer, the analysis's shape report for deeper relu
//! networks) — plus the time to simplify, read from `metrics.csv` one line at a time (so
//! memory does not grow with the number of metrics rows).
//!
//! The **time to simplify** is the first metrics step from which the convexity changes
//! equal the data's minimum at every later metrics step (up to the last); empty if the
//! run never gets there or the network has no convexity count.

use std::collections::BTreeMap;
use std::io::BufRead;
use std::path::Path;

use labelnoise_core::analysis::{analyze, AnalyzeOptions};
use labelnoise_core::files::write_atomic;
use labelnoise_core::model_io::load_model;
use labelnoise_core::train::run_dir::{METRICS_FILE, MODEL_JSON_FILE};
use labelnoise_core::train::RunDir;
use labelnoise_experiments::common::{project_to_manifold, shape_of};
use rayon::prelude::*;
use serde::Serialize;
use serde_json::Value;

use crate::error::{io, Result};
use crate::manifest::{Manifest, ManifestPoint};
use crate::runner::{point_state, PointState};

/// Gauss–Newton steps of the projection, as in `reproduce`.
pub const PROJECTION_STEPS: usize = 50;
/// Residual the projection stops at, as in `reproduce`.
pub const PROJECTION_TOL: f64 = 1e-12;
/// Relative slope-jump threshold of the shape report, as in `reproduce`.
pub const JUMP_THRESHOLD: f64 = 1e-6;

/// A point's status in the results.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Every step done; measured.
    Finished,
    /// The run diverged.
    Diverged,
    /// The last attempt failed (`failed.json`).
    Failed,
    /// Started, with a checkpoint, not finished.
    Incomplete,
    /// Not started.
    Missing,
}

impl Status {
    /// The word in `results.csv`.
    pub fn name(self) -> &'static str {
        match self {
            Status::Finished => "finished",
            Status::Diverged => "diverged",
            Status::Failed => "failed",
            Status::Incomplete => "incomplete",
            Status::Missing => "missing",
        }
    }
}

/// The measures of a finished point.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Measures {
    /// Training loss of the final network (clean labels, before projection).
    pub final_train_loss: f64,
    /// reg at the projected network.
    pub reg: f64,
    /// ‖g_N‖ at the projected network.
    pub null_reg_grad_norm: f64,
    /// The Theorem 2 verdict at the projected network.
    pub verdict: String,
    /// Convexity changes of the projected function (1-D relu networks).
    pub convexity_changes: Option<usize>,
    /// The data's minimum number of convexity changes.
    pub min_convexity_changes: Option<usize>,
    /// Theorem 1's conclusion holds at the projected network.
    pub theorem1: Option<bool>,
    /// Curve length of the projected function over [x_1, x_n].
    pub curve_length: Option<f64>,
    /// The step from which the convexity changes stay at the data's minimum.
    pub time_to_simplify: Option<u64>,
    /// max |r_i| after the projection.
    pub projected_residual: f64,
}

/// One point's row.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Row {
    /// The point's index.
    pub index: usize,
    /// Its directory, relative to the sweep directory.
    pub dir: String,
    /// Its status.
    pub status: Status,
    /// Its settings (every key the file sets).
    pub settings: BTreeMap<String, Value>,
    /// Its seed.
    pub seed: u64,
    /// The measures (finished points only).
    pub measures: Option<Measures>,
    /// Steps done.
    pub steps: Option<u64>,
    /// Wall time of the run (timing: differs between identical runs).
    pub wall_seconds: Option<f64>,
    /// Training-loop speed (timing).
    pub steps_per_second: Option<f64>,
    /// Why it failed or diverged.
    pub problem: Option<String>,
}

/// What `collect` found.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Results {
    /// The sweep's name.
    pub sweep: String,
    /// The sweep's hash.
    pub sweep_hash: String,
    /// The keys that vary between points.
    pub swept: Vec<String>,
    /// The number of points.
    pub count: usize,
    /// One row per point, in index order.
    pub rows: Vec<Row>,
}

impl Results {
    /// The rows whose point is not finished.
    pub fn unfinished(&self) -> Vec<&Row> {
        self.rows
            .iter()
            .filter(|r| r.status != Status::Finished)
            .collect()
    }
}

/// Measures every point of the sweep in `root` (points in parallel).
pub fn collect(root: &Path, manifest: &Manifest) -> Result<Results> {
    let rows: Vec<Row> = manifest
        .points
        .par_iter()
        .map(|p| row(root, p))
        .collect::<Result<Vec<_>>>()?;
    Ok(Results {
        sweep: manifest.definition.name.clone(),
        sweep_hash: manifest.sweep_hash.clone(),
        swept: manifest.swept.clone(),
        count: manifest.count,
        rows,
    })
}

fn row(root: &Path, p: &ManifestPoint) -> Result<Row> {
    let dir = root.join(&p.dir);
    let mut row = Row {
        index: p.index,
        dir: p.dir.clone(),
        status: Status::Missing,
        settings: p.settings.clone(),
        seed: p.settings.get("seed").and_then(Value::as_u64).unwrap_or(0),
        measures: None,
        steps: None,
        wall_seconds: None,
        steps_per_second: None,
        problem: None,
    };
    match point_state(&dir) {
        PointState::Finished(s) => {
            row.status = Status::Finished;
            row.steps = Some(s.steps);
            row.wall_seconds = Some(s.wall_seconds);
            row.steps_per_second = Some(s.steps_per_second);
            row.measures = Some(measure(&dir, s.final_metrics.train_loss)?);
        }
        PointState::Diverged(s) => {
            row.status = Status::Diverged;
            row.steps = Some(s.steps);
            row.problem = Some(format!(
                "diverged at step {}",
                s.diverged_at.unwrap_or(s.steps)
            ));
        }
        PointState::Failed(m) => {
            row.status = Status::Failed;
            row.problem = Some(m);
        }
        PointState::Checkpointed(step) => {
            row.status = Status::Incomplete;
            row.steps = Some(step);
            row.problem = Some(format!("checkpoint at step {step} of {}", p.steps));
        }
        PointState::NotStarted => {}
    }
    Ok(row)
}

/// The measures of the finished run in `dir` (module documentation).
pub fn measure(dir: &Path, final_train_loss: f64) -> Result<Measures> {
    let run = RunDir::new(dir);
    let data = run.read_data()?;
    let net = load_model(&run.file(MODEL_JSON_FILE).display().to_string())?;
    let (proj, projection) = project_to_manifold(&net, &data, PROJECTION_STEPS, PROJECTION_TOL)?;
    let mut opts = AnalyzeOptions::default();
    opts.shape.jump_threshold = JUMP_THRESHOLD;
    let a = analyze(&proj, &data, &opts)?;
    let (cc, min, thm, len) = match shape_of(&proj, &data, JUMP_THRESHOLD) {
        Ok((s, _)) => (
            Some(s.convexity_changes),
            Some(s.min_convexity_changes),
            Some(s.theorem1),
            Some(s.curve_length),
        ),
        Err(_) => match &a.shape {
            Some(s) => (
                Some(s.convexity_changes),
                Some(s.min_convexity_changes),
                Some(s.theorem1),
                Some(s.curve_length),
            ),
            None => (None, None, None, None),
        },
    };
    let time_to_simplify = match min {
        Some(m) => time_to_simplify(&run.file(METRICS_FILE), m)?,
        None => None,
    };
    Ok(Measures {
        final_train_loss,
        reg: a.reg,
        null_reg_grad_norm: a.null_reg_grad_norm,
        verdict: a.verdict.name().to_string(),
        convexity_changes: cc,
        min_convexity_changes: min,
        theorem1: thm,
        curve_length: len,
        time_to_simplify,
        projected_residual: projection.residual_after,
    })
}

/// The first metrics step from which `convexity_changes` equals `min` on every later
/// row of `metrics.csv`, read one line at a time.
pub fn time_to_simplify(path: &Path, min: usize) -> Result<Option<u64>> {
    let file = std::fs::File::open(path).map_err(|e| io(path, e))?;
    let mut lines = std::io::BufReader::new(file).lines();
    let header = match lines.next() {
        Some(h) => h.map_err(|e| io(path, e))?,
        None => return Ok(None),
    };
    let cols: Vec<&str> = header.split(',').collect();
    let (Some(step_col), Some(cc_col)) = (
        cols.iter().position(|c| *c == "step"),
        cols.iter().position(|c| *c == "convexity_changes"),
    ) else {
        return Ok(None);
    };
    let mut since = None;
    for line in lines {
        let line = line.map_err(|e| io(path, e))?;
        let cells: Vec<&str> = line.split(',').collect();
        let step: Option<u64> = cells.get(step_col).and_then(|c| c.parse().ok());
        let cc: Option<usize> = cells.get(cc_col).and_then(|c| c.parse().ok());
        match (step, cc) {
            (Some(s), Some(c)) if c == min => {
                since.get_or_insert(s);
            }
            _ => since = None,
        }
    }
    Ok(since)
}

/// The CSV cell of a setting: numbers and strings as written, lists joined by `x`
/// (`hidden = [16, 16]` is `16x16`).
pub fn cell(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Array(items) => items.iter().map(cell).collect::<Vec<_>>().join("x"),
        other => other.to_string(),
    }
}

/// The measure columns of `results.csv`, in order.
pub const MEASURE_COLUMNS: [&str; 9] = [
    "final_train_loss",
    "reg",
    "null_reg_grad_norm",
    "verdict",
    "convexity_changes",
    "min_convexity_changes",
    "theorem1",
    "curve_length",
    "time_to_simplify",
];

/// The timing columns (they differ between identical runs).
pub const TIMING_COLUMNS: [&str; 2] = ["wall_seconds", "steps_per_second"];

/// `results.csv`: `index`, `dir`, `status`, the swept settings, `seed` (if not swept),
/// the measures ([`MEASURE_COLUMNS`]), `steps`, then the timing columns
/// ([`TIMING_COLUMNS`]) last; empty cells where a value does not exist.
pub fn results_csv(r: &Results) -> String {
    let mut header: Vec<String> = vec!["index".into(), "dir".into(), "status".into()];
    header.extend(r.swept.iter().cloned());
    let seed_swept = r.swept.iter().any(|k| k == "seed");
    if !seed_swept {
        header.push("seed".into());
    }
    header.extend(MEASURE_COLUMNS.iter().map(|s| s.to_string()));
    header.push("steps_done".into());
    header.extend(TIMING_COLUMNS.iter().map(|s| s.to_string()));
    let mut s = header.join(",");
    s.push('\n');
    let opt = |v: Option<String>| v.unwrap_or_default();
    for row in &r.rows {
        let mut cells = vec![
            row.index.to_string(),
            row.dir.clone(),
            row.status.name().into(),
        ];
        for k in &r.swept {
            cells.push(row.settings.get(k).map(cell).unwrap_or_default());
        }
        if !seed_swept {
            cells.push(row.seed.to_string());
        }
        match &row.measures {
            Some(m) => cells.extend([
                m.final_train_loss.to_string(),
                m.reg.to_string(),
                m.null_reg_grad_norm.to_string(),
                m.verdict.clone(),
                opt(m.convexity_changes.map(|v| v.to_string())),
                opt(m.min_convexity_changes.map(|v| v.to_string())),
                opt(m.theorem1.map(|v| v.to_string())),
                opt(m.curve_length.map(|v| v.to_string())),
                opt(m.time_to_simplify.map(|v| v.to_string())),
            ]),
            None => cells.extend(std::iter::repeat_n(String::new(), MEASURE_COLUMNS.len())),
        }
        cells.push(opt(row.steps.map(|v| v.to_string())));
        cells.push(opt(row.wall_seconds.map(|v| v.to_string())));
        cells.push(opt(row.steps_per_second.map(|v| v.to_string())));
        let quoted: Vec<String> = cells
            .into_iter()
            .map(|c| {
                if c.contains([',', '"', '\n']) {
                    format!("\"{}\"", c.replace('"', "\"\""))
                } else {
                    c
                }
            })
            .collect();
        s.push_str(&quoted.join(","));
        s.push('\n');
    }
    s
}

/// Writes `results.csv` and `results.json` into `root`.
pub fn write_results(root: &Path, r: &Results) -> Result<()> {
    write_atomic(&root.join("results.csv"), results_csv(r).as_bytes())?;
    let json = serde_json::to_vec_pretty(r).expect("results serialize");
    write_atomic(&root.join("results.json"), &json)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_to_simplify_is_where_the_minimum_is_reached_for_good() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("metrics.csv");
        let head = "step,train_loss,reg,null_reg_grad_norm,param_norm,curve_length,convexity_changes,kinks\n";
        let rows = |ccs: &[(u64, &str)]| {
            let mut s = head.to_string();
            for (step, cc) in ccs {
                s.push_str(&format!("{step},1,1,1,1,1,{cc},3\n"));
            }
            s
        };
        std::fs::write(
            &path,
            rows(&[(0, "9"), (10, "2"), (100, "4"), (1000, "2"), (5000, "2")]),
        )
        .unwrap();
        assert_eq!(time_to_simplify(&path, 2).unwrap(), Some(1000));
        std::fs::write(&path, rows(&[(0, "9"), (10, "2"), (100, "4")])).unwrap();
        assert_eq!(time_to_simplify(&path, 2).unwrap(), None);
        std::fs::write(&path, rows(&[(0, "2"), (10, "2")])).unwrap();
        assert_eq!(time_to_simplify(&path, 2).unwrap(), Some(0));
        std::fs::write(&path, rows(&[(0, "9"), (10, "")])).unwrap();
        assert_eq!(time_to_simplify(&path, 2).unwrap(), None);
    }

    #[test]
    fn cells() {
        assert_eq!(cell(&serde_json::json!([16, 16])), "16x16");
        assert_eq!(cell(&serde_json::json!(0.0005)), "0.0005");
        assert_eq!(cell(&serde_json::json!("fig1")), "fig1");
    }
}
