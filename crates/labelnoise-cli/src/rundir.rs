//! Run directories: files written atomically (a temporary file in the same directory,
//! then a rename), and no silent overwriting of earlier results.

use std::path::{Path, PathBuf};

use anyhow::Context;

use crate::UsageError;

/// Fails (exit status 2) if `dir` exists and is not empty, unless `force`.
pub fn check_output_dir(dir: &Path, force: bool) -> anyhow::Result<()> {
    if dir.exists() {
        if !dir.is_dir() {
            return Err(UsageError(format!(
                "{}: --out: exists and is not a directory",
                dir.display()
            ))
            .into());
        }
        let non_empty = std::fs::read_dir(dir)
            .with_context(|| format!("{}: cannot read", dir.display()))?
            .next()
            .is_some();
        if non_empty && !force {
            return Err(UsageError(format!(
                "{}: --out: directory is not empty (use --force to overwrite)",
                dir.display()
            ))
            .into());
        }
    }
    Ok(())
}

/// Writes `bytes` to `path` atomically: readers see the old file or the new one, never
/// a partial one, even if the process is killed.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)
        .with_context(|| format!("{}: cannot create directory", dir.display()))?;
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("out");
    let tmp: PathBuf = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    std::fs::write(&tmp, bytes).with_context(|| format!("{}: cannot write", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("{}: cannot write", path.display()))?;
    Ok(())
}
