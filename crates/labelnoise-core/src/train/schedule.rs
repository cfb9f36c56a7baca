//! Log-spaced steps at which metrics are recorded.

/// Steps 0 and `total` and up to `points − 2` steps in between, spaced evenly in log(step):
/// round(total^(k/(points−2))) for k = 0..=points−2, plus 0; strictly increasing, without
/// duplicates (so short runs get fewer points). `points < 2` is treated as 2.
///
/// These are the rows of `metrics.csv` (docs/formats.md#metricscsv); log spacing shows
/// both time scales of the paper's Figure 2, the fit (~1/η steps) and the slow phase
/// (~1/(η²σ²) steps), on one axis. Checked by `tests::includes_ends_and_increases`.
pub fn log_spaced_steps(total: u64, points: usize) -> Vec<u64> {
    let mut out = vec![0];
    if total == 0 {
        return out;
    }
    let inner = points.max(2) - 2;
    let ln_total = (total as f64).ln();
    for k in 0..=inner {
        let s = if inner == 0 {
            total
        } else {
            ((ln_total * k as f64 / inner as f64).exp().round() as u64).clamp(1, total)
        };
        if s > *out.last().unwrap_or(&0) {
            out.push(s);
        }
    }
    if *out.last().unwrap_or(&0) != total {
        out.push(total);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn includes_ends_and_increases() {
        for total in [0u64, 1, 2, 7, 100, 1_000_000, u64::MAX / 3] {
            for points in [0, 1, 2, 3, 10, 50, 1000] {
                let s = log_spaced_steps(total, points);
                assert_eq!(s[0], 0);
                assert_eq!(*s.last().unwrap(), total);
                assert!(s.windows(2).all(|w| w[0] < w[1]), "{total} {points}: {s:?}");
                assert!(s.len() <= points.max(2).max(1), "{total} {points}: {s:?}");
            }
        }
        assert_eq!(log_spaced_steps(1000, 5), vec![0, 1, 10, 100, 1000]);
        assert_eq!(log_spaced_steps(10, 2), vec![0, 10]);
    }
}
