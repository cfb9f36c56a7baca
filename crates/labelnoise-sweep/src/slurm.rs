//! The Slurm job array of `labelnoise sweep --slurm`: `DIR/sweep.sbatch`, N array tasks
//! (`--array=0-(N-1)`, `%K` with `--max-parallel K`), logs in `DIR/logs/`, each task
//! running this same binary on the same sweep file and directory without `--shard`, so
//! that it takes shard `SLURM_ARRAY_TASK_ID` of `SLURM_ARRAY_TASK_COUNT`
//! ([`crate::shard::Shard::from_slurm`]).

use std::path::Path;

use crate::error::{Result, SweepError};

/// The largest array a default Slurm accepts (`MaxArraySize` = 1001: indices 0..=1000).
pub const DEFAULT_MAX_TASKS: usize = 1000;

/// What the job array asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SlurmOptions {
    /// Wall-time limit of each task, in a Slurm time format (`MM`, `HH:MM:SS`, `D-HH`,
    /// `D-HH:MM:SS`, ...).
    pub time: String,
    /// CPUs of each task (also its `--jobs`).
    pub cpus_per_task: usize,
    /// The partition, if any.
    pub partition: Option<String>,
    /// The most tasks running at once, if limited.
    pub max_parallel: Option<usize>,
    /// The number of array tasks (shards).
    pub tasks: usize,
}

impl SlurmOptions {
    /// Checks the options; errors name the flag.
    pub fn check(&self) -> Result<()> {
        let t = &self.time;
        let ok = !t.is_empty()
            && t.chars()
                .all(|c| c.is_ascii_digit() || c == ':' || c == '-')
            && t.split(['-', ':']).all(|p| !p.is_empty())
            && t.matches('-').count() <= 1
            && t.matches(':').count() <= 2;
        if !ok {
            return Err(SweepError::option(
                "--time",
                format!("expected a Slurm time (MM, MM:SS, HH:MM:SS, D-HH, D-HH:MM:SS), got {t:?}"),
            ));
        }
        if self.cpus_per_task == 0 {
            return Err(SweepError::option("--cpus-per-task", "must be at least 1"));
        }
        if self.max_parallel == Some(0) {
            return Err(SweepError::option("--max-parallel", "must be at least 1"));
        }
        if self.tasks == 0 {
            return Err(SweepError::option("--tasks", "must be at least 1"));
        }
        if let Some(p) = &self.partition {
            if p.is_empty() || p.contains(char::is_whitespace) {
                return Err(SweepError::option(
                    "--partition",
                    format!("not a partition name: {p:?}"),
                ));
            }
        }
        Ok(())
    }
}

/// A shell word in single quotes.
fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

/// The text of `sweep.sbatch` for the sweep `name`, run by `exe` from `workdir` on the
/// sweep file `file` into `out` (absolute paths). Fails on an output path with
/// whitespace (it would split the `#SBATCH` lines).
pub fn script(
    name: &str,
    exe: &Path,
    workdir: &Path,
    file: &Path,
    out: &Path,
    opts: &SlurmOptions,
) -> Result<String> {
    let out_s = out.display().to_string();
    if out_s.contains(char::is_whitespace) {
        return Err(SweepError::option(
            "--out",
            format!("{out_s:?}: Slurm log paths cannot hold whitespace; choose another directory"),
        ));
    }
    let mut s = String::from("#!/bin/bash\n");
    s.push_str(&format!(
        "# Written by `labelnoise sweep --slurm` for the sweep {name:?}: a job array of {} tasks;\n\
         # task I runs shard I of {} (from SLURM_ARRAY_TASK_ID and SLURM_ARRAY_TASK_COUNT).\n\
         # Submitting it again runs only the points not finished (finished points are skipped,\n\
         # checkpointed ones resumed).\n",
        opts.tasks, opts.tasks
    ));
    s.push_str(&format!("#SBATCH --job-name=labelnoise-{name}\n"));
    s.push_str(&format!(
        "#SBATCH --array=0-{}{}\n",
        opts.tasks - 1,
        opts.max_parallel
            .map(|k| format!("%{k}"))
            .unwrap_or_default()
    ));
    s.push_str(&format!("#SBATCH --time={}\n", opts.time));
    s.push_str("#SBATCH --ntasks=1\n");
    s.push_str(&format!("#SBATCH --cpus-per-task={}\n", opts.cpus_per_task));
    if let Some(p) = &opts.partition {
        s.push_str(&format!("#SBATCH --partition={p}\n"));
    }
    s.push_str(&format!("#SBATCH --output={out_s}/logs/%A_%a.out\n"));
    s.push_str(&format!("#SBATCH --error={out_s}/logs/%A_%a.err\n"));
    s.push_str("set -eu\n");
    s.push_str(&format!("cd {}\n", quote(&workdir.display().to_string())));
    s.push_str(&format!(
        "exec {} sweep {} --out {} --jobs \"${{SLURM_CPUS_PER_TASK:-{}}}\"\n",
        quote(&exe.display().to_string()),
        quote(&file.display().to_string()),
        quote(&out_s),
        opts.cpus_per_task
    ));
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts() -> SlurmOptions {
        SlurmOptions {
            time: "01:00:00".into(),
            cpus_per_task: 2,
            partition: Some("short".into()),
            max_parallel: Some(4),
            tasks: 16,
        }
    }

    #[test]
    fn the_script_is_an_array_of_shards() {
        let s = script(
            "eta",
            Path::new("/bin/labelnoise"),
            Path::new("/home/u"),
            Path::new("/home/u/eta.toml"),
            Path::new("/scratch/eta"),
            &opts(),
        )
        .unwrap();
        for line in [
            "#SBATCH --array=0-15%4\n",
            "#SBATCH --time=01:00:00\n",
            "#SBATCH --cpus-per-task=2\n",
            "#SBATCH --partition=short\n",
            "#SBATCH --output=/scratch/eta/logs/%A_%a.out\n",
            "exec '/bin/labelnoise' sweep '/home/u/eta.toml' --out '/scratch/eta' --jobs \"${SLURM_CPUS_PER_TASK:-2}\"\n",
        ] {
            assert!(s.contains(line), "{line} in {s}");
        }
        assert!(!s.contains("--shard"));
    }

    #[test]
    fn bad_options_name_the_flag() {
        for (o, flag) in [
            (
                SlurmOptions {
                    time: "1h".into(),
                    ..opts()
                },
                "--time",
            ),
            (
                SlurmOptions {
                    cpus_per_task: 0,
                    ..opts()
                },
                "--cpus-per-task",
            ),
            (
                SlurmOptions {
                    max_parallel: Some(0),
                    ..opts()
                },
                "--max-parallel",
            ),
            (SlurmOptions { tasks: 0, ..opts() }, "--tasks"),
        ] {
            let e = o.check().unwrap_err().to_string();
            assert!(e.starts_with(flag), "{e}");
        }
        for t in ["30", "1:00", "01:00:00", "2-00", "2-12:00:00"] {
            SlurmOptions {
                time: t.into(),
                ..opts()
            }
            .check()
            .unwrap();
        }
    }
}
