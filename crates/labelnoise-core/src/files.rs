//! Output files: every file a run, `settle` or `reproduce` writes goes through
//! [`write_atomic`] (a temporary file in the same directory, then a rename), so a reader
//! — or a resumed run after a kill — sees the old file or the new one, never half of
//! one; and [`check_output_dir`] refuses to write into a non-empty directory unless the
//! user asked to overwrite it. [`DirLock`] keeps a second process from writing into a
//! directory in use.

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
/// a partial one, even if the process is killed or the disk fills up. The bytes go to a
/// temporary file in the same directory (named by [`temporary_name`]), which is flushed
/// to the disk before it is renamed over `path`; the directory is flushed after the
/// rename. Creates the parent directory. On failure the temporary file is removed and
/// `path` is left as it was.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    replace_atomic(path, None, bytes)
}

/// Like [`write_atomic`], but first renames the file at `path`, if there is one, to
/// `previous` (replacing an older one there). At every moment one of the two names holds
/// a whole file: a kill between the two renames leaves the old file under `previous`
/// and none under `path`, and a failed write (a full disk) changes nothing.
pub fn write_atomic_keeping_previous(path: &Path, previous: &Path, bytes: &[u8]) -> Result<()> {
    replace_atomic(path, Some(previous), bytes)
}

fn replace_atomic(path: &Path, previous: Option<&Path>, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let write_error = |file: &Path, source| Error::Write {
        file: file.display().to_string(),
        source,
    };
    std::fs::create_dir_all(dir).map_err(|e| write_error(dir, e))?;
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("out");
    let tmp: PathBuf = dir.join(temporary_name(name));
    let written = std::fs::File::create(&tmp).and_then(|mut f| {
        f.write_all(bytes)?;
        f.sync_all()
    });
    if let Err(e) = written {
        // Named by the file the user asked for; the temporary one is gone.
        let _ = std::fs::remove_file(&tmp);
        return Err(write_error(path, e));
    }
    if let Some(previous) = previous {
        if path.exists() {
            if let Err(e) = std::fs::rename(path, previous) {
                let _ = std::fs::remove_file(&tmp);
                return Err(write_error(previous, e));
            }
        }
    }
    std::fs::rename(&tmp, path).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        write_error(path, e)
    })?;
    sync_dir(dir);
    Ok(())
}

/// Moves a finished temporary file `tmp` (written by another library, e.g. an image
/// encoder, in the directory of `path`) to `path` the way [`write_atomic`] does: flushed
/// to the disk, renamed, the directory flushed; on failure `tmp` is removed and `path`
/// left as it was.
pub fn commit_temporary(tmp: &Path, path: &Path) -> Result<()> {
    let done = std::fs::OpenOptions::new()
        .write(true)
        .open(tmp)
        .and_then(|f| f.sync_all())
        .and_then(|()| std::fs::rename(tmp, path));
    if let Err(source) = done {
        let _ = std::fs::remove_file(tmp);
        return Err(Error::Write {
            file: path.display().to_string(),
            source,
        });
    }
    if let Some(dir) = path.parent() {
        sync_dir(dir);
    }
    Ok(())
}

/// Flushes a directory's entries (the renames in it) to the disk. Best effort: some
/// file systems cannot open a directory for this, and the data are already safe there.
fn sync_dir(dir: &Path) {
    #[cfg(unix)]
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    #[cfg(not(unix))]
    let _ = dir;
}

/// The name of the temporary file [`write_atomic`] writes before renaming it to `name`:
/// hidden, and ending in `.tmp-` and the process id.
pub fn temporary_name(name: &str) -> String {
    format!(".{name}.tmp-{}", std::process::id())
}

/// Whether `name` is one of [`write_atomic`]'s temporary files (of any process).
pub fn is_temporary_name(name: &str) -> bool {
    name.starts_with('.')
        && name
            .rsplit_once(".tmp-")
            .is_some_and(|(_, pid)| !pid.is_empty() && pid.bytes().all(|b| b.is_ascii_digit()))
}

/// Removes the temporary files a killed writer left in `dir` (see [`temporary_name`]);
/// returns how many. Call it only while holding the directory's [`DirLock`], so no live
/// writer's file is removed. A missing directory has none.
pub fn remove_temporaries(dir: &Path) -> Result<usize> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(0);
    };
    let mut removed = 0;
    for entry in entries.flatten() {
        let name = entry.file_name();
        if name.to_str().is_some_and(is_temporary_name) {
            std::fs::remove_file(entry.path()).map_err(|source| Error::Write {
                file: entry.path().display().to_string(),
                source,
            })?;
            removed += 1;
        }
    }
    Ok(removed)
}

/// The lock file [`DirLock`] takes in a directory.
pub const LOCK_FILE: &str = ".lock";

/// One writer per directory: an exclusive advisory lock (`flock`) on `DIR/.lock`, held
/// until the value is dropped. The file holds the owner's process id and host name, so
/// that a second writer is refused with an error naming them ([`Error::Locked`]). The
/// operating system releases the lock when its process ends in any way, including
/// SIGKILL, so a lock file left by a killed process is stale: the next writer takes it
/// over (and [`DirLock::previous_owner`] says whose it was). On drop the file is removed.
///
/// A directory the lock had to create is removed again on drop if nothing else was
/// written into it, so that a command that fails after taking its lock (say, on a
/// memory check) leaves nothing behind.
#[derive(Debug)]
pub struct DirLock {
    file: std::fs::File,
    path: PathBuf,
    previous: Option<String>,
    created: Option<PathBuf>,
}

impl DirLock {
    /// Locks `dir` (created if missing), or fails with [`Error::Locked`] naming the
    /// process that holds it.
    pub fn acquire(dir: &Path) -> Result<DirLock> {
        Self::lock(dir, false)
    }

    /// Locks `dir` (created if missing), waiting while another process holds it: for
    /// short critical sections several processes share (the sweep manifest).
    pub fn wait(dir: &Path) -> Result<DirLock> {
        Self::lock(dir, true)
    }

    fn lock(dir: &Path, block: bool) -> Result<DirLock> {
        use std::io::{Read, Seek, Write};
        let write_error = |file: &Path, source| Error::Write {
            file: file.display().to_string(),
            source,
        };
        let created = (!dir.exists()).then(|| dir.to_path_buf());
        std::fs::create_dir_all(dir).map_err(|e| write_error(dir, e))?;
        let path = dir.join(LOCK_FILE);
        // A holder removes the file when it is done; if that happened between our open
        // and our lock, we hold a lock on a file no longer in the directory: try again.
        for _ in 0..100 {
            let mut file = std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .open(&path)
                .map_err(|e| write_error(&path, e))?;
            let mut owner = String::new();
            if !try_lock(&file, block).map_err(|e| write_error(&path, e))? {
                let _ = file.read_to_string(&mut owner);
                let (pid, host) = parse_owner(&owner);
                return Err(Error::Locked {
                    dir: dir.display().to_string(),
                    pid,
                    host,
                });
            }
            if !same_file(&file, &path) {
                continue;
            }
            let _ = file.read_to_string(&mut owner);
            let previous = (!owner.trim().is_empty()).then(|| owner.trim().to_string());
            let me = format!("{} {}\n", std::process::id(), host_name());
            let written = file
                .set_len(0)
                .and_then(|()| file.rewind())
                .and_then(|()| file.write_all(me.as_bytes()));
            if let Err(e) = written {
                // A full disk: leave no empty lock file behind (we hold it, so it is ours).
                let _ = std::fs::remove_file(&path);
                if let Some(d) = &created {
                    let _ = std::fs::remove_dir(d);
                }
                return Err(write_error(&path, e));
            }
            return Ok(DirLock {
                file,
                path,
                previous,
                created,
            });
        }
        Err(write_error(
            &path,
            std::io::Error::other("the lock file keeps being replaced"),
        ))
    }

    /// The owner (`"pid host"`) named in a lock file that was already there, stale: a
    /// process that ended without removing it (killed).
    pub fn previous_owner(&self) -> Option<&str> {
        self.previous.as_deref()
    }

    /// The locked directory's lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for DirLock {
    fn drop(&mut self) {
        // Removed while still locked; the lock goes with the descriptor.
        let _ = std::fs::remove_file(&self.path);
        let _ = &self.file;
        // Only succeeds when the directory is empty: nothing was written into it.
        if let Some(dir) = &self.created {
            let _ = std::fs::remove_dir(dir);
        }
    }
}

/// "pid host" as written by [`DirLock::acquire`]; 0 and "" for an unreadable one (a
/// holder that has not written it yet).
fn parse_owner(text: &str) -> (u32, String) {
    let mut words = text.split_whitespace();
    let pid = words.next().and_then(|w| w.parse().ok()).unwrap_or(0);
    (pid, words.next().unwrap_or("").to_string())
}

#[cfg(unix)]
fn try_lock(file: &std::fs::File, block: bool) -> std::io::Result<bool> {
    use std::os::unix::io::AsRawFd;
    let how = if block {
        libc::LOCK_EX
    } else {
        libc::LOCK_EX | libc::LOCK_NB
    };
    // SAFETY: flock on a descriptor this function borrows for the call; no memory is
    // shared with the kernel.
    let rc = unsafe { libc::flock(file.as_raw_fd(), how) };
    if rc == 0 {
        return Ok(true);
    }
    let e = std::io::Error::last_os_error();
    if e.kind() == std::io::ErrorKind::WouldBlock {
        Ok(false)
    } else {
        Err(e)
    }
}

#[cfg(not(unix))]
fn try_lock(_file: &std::fs::File, _block: bool) -> std::io::Result<bool> {
    Ok(true)
}

#[cfg(unix)]
fn same_file(file: &std::fs::File, path: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (file.metadata(), std::fs::metadata(path)) {
        (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
        _ => false,
    }
}

#[cfg(not(unix))]
fn same_file(_file: &std::fs::File, path: &Path) -> bool {
    path.exists()
}

fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .map(|h| h.trim().to_string())
        .ok()
        .filter(|h| !h.is_empty() && !h.contains(char::is_whitespace))
        .unwrap_or_else(|| "unknown-host".to_string())
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

    #[test]
    fn keeps_the_previous_file_and_cleans_temporaries() {
        let dir = tempfile::tempdir().unwrap();
        let (file, prev) = (dir.path().join("c.json"), dir.path().join("c.prev.json"));
        write_atomic_keeping_previous(&file, &prev, b"1").unwrap();
        assert!(!prev.exists());
        write_atomic_keeping_previous(&file, &prev, b"2").unwrap();
        write_atomic_keeping_previous(&file, &prev, b"3").unwrap();
        assert_eq!(std::fs::read(&file).unwrap(), b"3");
        assert_eq!(std::fs::read(&prev).unwrap(), b"2");
        let left = dir.path().join(".c.json.tmp-12345");
        std::fs::write(&left, b"half").unwrap();
        std::fs::write(dir.path().join(".c.json.tmp-x"), b"not ours").unwrap();
        assert!(is_temporary_name(&temporary_name("c.json")));
        assert!(!is_temporary_name("c.json"));
        assert_eq!(remove_temporaries(dir.path()).unwrap(), 1);
        assert!(!left.exists());
        assert_eq!(remove_temporaries(&dir.path().join("missing")).unwrap(), 0);
    }

    #[test]
    fn one_lock_per_directory_taken_over_when_stale() {
        let dir = tempfile::tempdir().unwrap();
        let lock = DirLock::acquire(dir.path()).unwrap();
        assert!(lock.previous_owner().is_none());
        let text = std::fs::read_to_string(dir.path().join(LOCK_FILE)).unwrap();
        assert!(
            text.starts_with(&format!("{} ", std::process::id())),
            "{text}"
        );
        // flock locks belong to the open file, so a second open in this process is
        // refused like another process would be.
        let e = DirLock::acquire(dir.path()).unwrap_err();
        assert!(
            e.to_string()
                .contains(&format!("in use by process {}", std::process::id())),
            "{e}"
        );
        drop(lock);
        assert!(!dir.path().join(LOCK_FILE).exists());
        // A lock file nobody holds (its process was killed) is taken over.
        std::fs::write(dir.path().join(LOCK_FILE), "4242 elsewhere\n").unwrap();
        let lock = DirLock::acquire(dir.path()).unwrap();
        assert_eq!(lock.previous_owner(), Some("4242 elsewhere"));
    }

    #[test]
    fn a_directory_the_lock_created_goes_again_when_nothing_was_written() {
        let dir = tempfile::tempdir().unwrap();
        let empty = dir.path().join("new");
        drop(DirLock::acquire(&empty).unwrap());
        assert!(!empty.exists());
        let used = dir.path().join("used");
        let lock = DirLock::acquire(&used).unwrap();
        std::fs::write(used.join("model.json"), "{}").unwrap();
        drop(lock);
        assert!(used.join("model.json").exists());
        // A directory that was there before stays, even empty.
        let before = dir.path().join("before");
        std::fs::create_dir(&before).unwrap();
        drop(DirLock::acquire(&before).unwrap());
        assert!(before.exists());
    }
}
