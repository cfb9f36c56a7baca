//! Output files: every file a run, `settle` or `reproduce` writes goes through
//! [`write_atomic`] (a temporary file in the same directory, then a rename), so a reader
//! — or a resumed run after a kill — sees the old file or the new one, never half of
//! one; and [`check_output_dir`] refuses to write into a non-empty directory unless the
//! user asked to overwrite it.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// Fails with [`Error::Invalid`] naming `dir` and `flag` if `dir` exists and is not an
/// empty directory, unless `force` (then only a non-directory is refused).
pub fn check_output_dir(dir: &Path, flag: &str, force: bool) -> Result<()> {
    if !dir.exists() {
        return Ok(());
    }
    let name = dir.display().to_string();
    if !dir.is_dir() {
        return Err(Error::invalid(name, flag, "exists and is not a directory"));
    }
    let non_empty = std::fs::read_dir(dir)
        .map_err(|source| Error::Io {
            file: name.clone(),
            source,
        })?
        .next()
        .is_some();
    if non_empty && !force {
        return Err(Error::invalid(
            name,
            flag,
            "directory is not empty (use --force to overwrite)",
        ));
    }
    Ok(())
}

/// Writes `bytes` to `path` atomically: readers see the old file or the new one, never
/// a partial one, even if the process is killed. Creates the parent directory.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let write_error = |file: &Path, source| Error::Write {
        file: file.display().to_string(),
        source,
    };
    std::fs::create_dir_all(dir).map_err(|e| write_error(dir, e))?;
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("out");
    let tmp: PathBuf = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    if let Err(e) = std::fs::write(&tmp, bytes) {
        let _ = std::fs::remove_file(&tmp);
        return Err(write_error(&tmp, e));
    }
    std::fs::rename(&tmp, path).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        write_error(path, e)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_a_non_empty_directory_unless_forced() {
        let dir = tempfile::tempdir().unwrap();
        check_output_dir(&dir.path().join("new"), "--out", false).unwrap();
        check_output_dir(dir.path(), "--out", false).unwrap();
        write_atomic(&dir.path().join("a/b.txt"), b"one").unwrap();
        let e = check_output_dir(dir.path(), "--out", false).unwrap_err();
        assert!(
            e.to_string().contains("--out: directory is not empty"),
            "{e}"
        );
        check_output_dir(dir.path(), "--out", true).unwrap();
        let file = dir.path().join("a/b.txt");
        let e = check_output_dir(&file, "--out", true).unwrap_err();
        assert!(e.to_string().contains("not a directory"), "{e}");
    }

    #[test]
    fn replaces_files_whole_and_leaves_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("x.json");
        write_atomic(&file, b"first").unwrap();
        write_atomic(&file, b"second").unwrap();
        assert_eq!(std::fs::read(&file).unwrap(), b"second");
        let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(names.len(), 1);
        let e = write_atomic(&file.join("under-a-file"), b"x").unwrap_err();
        assert!(matches!(e, Error::Write { .. }), "{e}");
    }
}
