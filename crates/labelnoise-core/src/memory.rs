//! Refusing work that cannot fit in memory, before allocating it.
//!
//! A network of 10¹¹ parameters, or an analysis whose n x p Jacobian needs terabytes,
//! would otherwise abort the process inside the allocator (a panic and a stack trace).
//! Every place that sizes a large allocation from user input first estimates the bytes
//! it needs (in `u128`, so the estimate itself cannot overflow) and calls [`check_fits`],
//! which compares the estimate with the memory this process may still use.
//!
//! "Available" is the smallest of the kernel's `MemAvailable` (`/proc/meminfo`) and, when
//! the process runs in a cgroup with a memory limit (containers, Slurm jobs), that
//! limit minus current use. Where neither can be read (not Linux), nothing is refused.
//!
//! A user can lower that figure with the environment variable [`LIMIT_VAR`]
//! (`LABELNOISE_MEMORY_LIMIT=8G`: bytes, or with a binary suffix K, M, G or T): on a
//! shared node, to keep labelnoise within a share of the machine that the kernel does
//! not enforce. The smallest of the three counts. docs/limits.md lists what each
//! command estimates.

use crate::error::{Error, Result};

/// Bytes of one f64.
pub const F64_BYTES: u128 = 8;

/// The environment variable that caps the memory labelnoise assumes it may use.
pub const LIMIT_VAR: &str = "LABELNOISE_MEMORY_LIMIT";

/// Reads a memory size: a whole number of bytes, optionally followed by K, M, G or T
/// (powers of 1024, case-insensitive, an optional trailing `B` or `iB`).
pub fn parse_size(text: &str) -> Option<u128> {
    let t = text.trim();
    let t = t
        .strip_suffix("iB")
        .or_else(|| t.strip_suffix("ib"))
        .or_else(|| t.strip_suffix(['B', 'b']))
        .unwrap_or(t);
    let (digits, shift) = match t.chars().last()?.to_ascii_uppercase() {
        'K' => (&t[..t.len() - 1], 10),
        'M' => (&t[..t.len() - 1], 20),
        'G' => (&t[..t.len() - 1], 30),
        'T' => (&t[..t.len() - 1], 40),
        _ => (t, 0),
    };
    let digits = digits.trim();
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse::<u128>().ok()?.checked_mul(1u128 << shift)
}

/// The cap set by [`LIMIT_VAR`], if any; an unreadable value is an error naming it.
pub fn limit_from_env() -> Result<Option<u128>> {
    match std::env::var(LIMIT_VAR) {
        Err(std::env::VarError::NotPresent) => Ok(None),
        Err(std::env::VarError::NotUnicode(_)) => Err(Error::parameter(
            LIMIT_VAR,
            "is not valid text; expected a size such as 8G",
        )),
        Ok(v) if v.trim().is_empty() => Ok(None),
        Ok(v) => parse_size(&v).map(Some).ok_or_else(|| {
            Error::parameter(
                LIMIT_VAR,
                format!("expected a size such as 8G or 512M (bytes, K, M, G or T), got {v:?}"),
            )
        }),
    }
}

/// The bytes this process may still allocate, if the system says.
pub fn available_bytes() -> Option<u128> {
    let meminfo = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|text| {
            text.lines()
                .find_map(|l| l.strip_prefix("MemAvailable:"))
                .and_then(|rest| {
                    rest.trim()
                        .trim_end_matches("kB")
                        .trim()
                        .parse::<u128>()
                        .ok()
                })
                .map(|kib| kib * 1024)
        });
    let cgroup = cgroup_room();
    match (meminfo, cgroup) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// A cgroup v2 memory limit minus current use (`memory.max`, `memory.current` of the
/// process's own cgroup).
fn cgroup_room() -> Option<u128> {
    let own = std::fs::read_to_string("/proc/self/cgroup").ok()?;
    let path = own.lines().find_map(|l| l.strip_prefix("0::"))?.trim();
    let base = std::path::Path::new("/sys/fs/cgroup").join(path.trim_start_matches('/'));
    let read = |name: &str| std::fs::read_to_string(base.join(name)).ok();
    let max: u128 = read("memory.max")?.trim().parse().ok()?; // "max" (no limit) fails here
    let current: u128 = read("memory.current")?.trim().parse().ok()?;
    Some(max.saturating_sub(current))
}

/// Fails with an [`Error::Parameter`] named `what` when `needed` bytes exceed what is
/// available (see the module documentation); `job` says what the memory is for.
pub fn check_fits(what: &str, job: &str, needed: u128) -> Result<()> {
    let available = match (available_bytes(), limit_from_env()?) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };
    check_fits_in(what, job, needed, available)
}

/// [`check_fits`] against a given amount of available memory (`None`: unknown, accept).
pub fn check_fits_in(what: &str, job: &str, needed: u128, available: Option<u128>) -> Result<()> {
    match available {
        Some(room) if needed > room => Err(Error::parameter(
            what,
            format!(
                "{job} needs about {} of memory, and {} is available",
                human(needed),
                human(room)
            ),
        )),
        _ => Ok(()),
    }
}

/// Refuses to read the file at `path` when its text and the numbers parsed from it
/// might not fit: at most `5 x` its size (the text, and one f64 of 8 bytes for every
/// two characters, the shortest a number and its separator can be). `what` names the
/// option the path came from. A file that cannot be looked at passes (reading it will
/// report why).
pub fn check_file_fits(what: &str, path: &std::path::Path) -> Result<()> {
    match std::fs::metadata(path) {
        Ok(meta) => check_fits(
            what,
            &format!("reading {} ({})", path.display(), human(meta.len() as u128)),
            5 * meta.len() as u128,
        ),
        Err(_) => Ok(()),
    }
}

/// `bytes` in binary units with three significant digits ("2.18 TiB").
pub fn human(bytes: u128) -> String {
    const UNITS: [&str; 7] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.3} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_more_than_is_available_and_says_how_much() {
        check_fits_in("--hidden", "the network", 1 << 20, Some(1 << 30)).unwrap();
        check_fits_in("--hidden", "the network", u128::MAX, None).unwrap();
        let e = check_fits_in("--hidden", "the network", 3 << 40, Some(16 << 30)).unwrap_err();
        assert_eq!(
            e.to_string(),
            "--hidden: the network needs about 3.000 TiB of memory, and 16.000 GiB is available"
        );
    }

    #[test]
    fn sizes_read_with_binary_suffixes() {
        assert_eq!(parse_size("512"), Some(512));
        assert_eq!(parse_size("8G"), Some(8 << 30));
        assert_eq!(parse_size(" 3 MiB "), Some(3 << 20));
        assert_eq!(parse_size("2k"), Some(2048));
        assert_eq!(parse_size("1TB"), Some(1 << 40));
        for bad in ["", "G", "-1G", "1.5G", "8X", "lots"] {
            assert_eq!(parse_size(bad), None, "{bad}");
        }
    }

    #[test]
    fn this_machine_reports_its_memory() {
        // Linux always has /proc/meminfo; the CI machines are Linux.
        if cfg!(target_os = "linux") {
            let room = available_bytes().unwrap();
            assert!(room > 1 << 20, "{room}");
        }
        assert_eq!(human(512), "512 B");
        assert_eq!(human(1536), "1.500 KiB");
    }
}
