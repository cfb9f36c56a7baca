//! Shards: a deterministic share of a sweep's points for one of N workers (`--shard
//! I/N`, or a Slurm array task), balanced by estimated cost and never splitting a point.
//!
//! The assignment is the greedy longest-processing-time rule: points in decreasing cost
//! (ties by index), each given to the shard with the least cost so far (ties to the
//! lowest shard). Every worker computes the same assignment from the same sweep, so no
//! coordination is needed. The greedy rule's makespan is within 4/3 of the best
//! possible; with many points of similar cost the shards are nearly equal.

use crate::error::{Result, SweepError};

/// Shard `index` of `count` (0 ≤ index < count).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shard {
    /// Which shard, from 0.
    pub index: usize,
    /// How many shards.
    pub count: usize,
}

impl Shard {
    /// All points in one shard.
    pub const ALL: Shard = Shard { index: 0, count: 1 };

    /// Parses `I/N` (zero-based I < N); errors name `--shard`.
    pub fn parse(text: &str) -> Result<Shard> {
        let bad = |m: String| SweepError::option("--shard", m);
        let (i, n) = text
            .split_once('/')
            .ok_or_else(|| bad(format!("expected I/N (e.g. 3/16), got {text:?}")))?;
        let i: usize = i
            .trim()
            .parse()
            .map_err(|_| bad(format!("I must be a non-negative integer, got {i:?}")))?;
        let n: usize = n
            .trim()
            .parse()
            .map_err(|_| bad(format!("N must be a positive integer, got {n:?}")))?;
        Shard::new(i, n).map_err(bad)
    }

    /// Shard `index` of `count`, or why not.
    pub fn new(index: usize, count: usize) -> std::result::Result<Shard, String> {
        if count == 0 {
            return Err("N must be at least 1".into());
        }
        if index >= count {
            return Err(format!(
                "I must be below N (shards are numbered 0..{count}), got {index}/{count}"
            ));
        }
        Ok(Shard { index, count })
    }

    /// The shard of a Slurm array task: `SLURM_ARRAY_TASK_ID` (minus
    /// `SLURM_ARRAY_TASK_MIN` if set) of `SLURM_ARRAY_TASK_COUNT`, read through `var`;
    /// `None` outside an array task.
    pub fn from_slurm(var: impl Fn(&str) -> Option<String>) -> Result<Option<Shard>> {
        let Some(id) = var("SLURM_ARRAY_TASK_ID") else {
            return Ok(None);
        };
        let bad = |m: String| SweepError::option("SLURM_ARRAY_TASK_ID", m);
        let num = |name: &str, v: String| -> Result<usize> {
            v.trim()
                .parse()
                .map_err(|_| bad(format!("{name} is not a non-negative integer: {v:?}")))
        };
        let id = num("SLURM_ARRAY_TASK_ID", id)?;
        let min = var("SLURM_ARRAY_TASK_MIN")
            .map(|v| num("SLURM_ARRAY_TASK_MIN", v))
            .transpose()?
            .unwrap_or(0);
        let count = var("SLURM_ARRAY_TASK_COUNT")
            .ok_or_else(|| bad("set but SLURM_ARRAY_TASK_COUNT is not".into()))
            .and_then(|v| num("SLURM_ARRAY_TASK_COUNT", v))?;
        let index = id
            .checked_sub(min)
            .ok_or_else(|| bad(format!("{id} is below SLURM_ARRAY_TASK_MIN {min}")))?;
        Shard::new(index, count).map(Some).map_err(bad)
    }
}

impl std::fmt::Display for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

/// The shard of every point (module documentation), from the points' costs.
pub fn assign(costs: &[f64], count: usize) -> Vec<usize> {
    let mut order: Vec<usize> = (0..costs.len()).collect();
    order.sort_by(|&a, &b| costs[b].total_cmp(&costs[a]).then(a.cmp(&b)));
    // A min-heap of (load, shard): the least loaded shard, lowest index on ties.
    let mut heap: std::collections::BinaryHeap<std::cmp::Reverse<(Load, usize)>> = (0..count
        .max(1))
        .map(|s| std::cmp::Reverse((Load(0.0), s)))
        .collect();
    let mut shard_of = vec![0; costs.len()];
    for i in order {
        let std::cmp::Reverse((Load(load), s)) = heap.pop().expect("at least one shard");
        shard_of[i] = s;
        heap.push(std::cmp::Reverse((Load(load + costs[i]), s)));
    }
    shard_of
}

/// The points of `shard`, in decreasing cost (the order a worker should run them so
/// the longest start first).
pub fn points_of(costs: &[f64], shard: Shard) -> Vec<usize> {
    let shard_of = assign(costs, shard.count);
    let mut mine: Vec<usize> = (0..costs.len())
        .filter(|&i| shard_of[i] == shard.index)
        .collect();
    mine.sort_by(|&a, &b| costs[b].total_cmp(&costs[a]).then(a.cmp(&b)));
    mine
}

/// A cost with a total order.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Load(f64);

impl Eq for Load {}

impl PartialOrd for Load {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Load {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.0.total_cmp(&other.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_partition_the_points_and_balance_their_cost() {
        let costs: Vec<f64> = (0..37).map(|i| 1.0 + (i % 5) as f64 * 3.0).collect();
        let n = 4;
        let mut all: Vec<usize> = (0..n)
            .flat_map(|s| points_of(&costs, Shard::new(s, n).unwrap()))
            .collect();
        all.sort_unstable();
        assert_eq!(all, (0..37).collect::<Vec<_>>());
        let loads: Vec<f64> = (0..n)
            .map(|s| {
                points_of(&costs, Shard::new(s, n).unwrap())
                    .iter()
                    .map(|&i| costs[i])
                    .sum()
            })
            .collect();
        let (lo, hi) = loads
            .iter()
            .fold((f64::INFINITY, 0.0f64), |(a, b), &l| (a.min(l), b.max(l)));
        let largest = costs.iter().copied().fold(0.0, f64::max);
        assert!(hi - lo <= largest, "{loads:?}");
        assert_eq!(assign(&costs, n), assign(&costs, n), "deterministic");
    }

    #[test]
    fn one_expensive_point_gets_a_shard_to_itself() {
        let costs = [100.0, 1.0, 1.0, 1.0, 1.0];
        assert_eq!(points_of(&costs, Shard::new(0, 2).unwrap()), vec![0]);
        assert_eq!(
            points_of(&costs, Shard::new(1, 2).unwrap()),
            vec![1, 2, 3, 4]
        );
    }

    #[test]
    fn parsing_and_slurm() {
        assert_eq!(
            Shard::parse("3/16").unwrap(),
            Shard {
                index: 3,
                count: 16
            }
        );
        for bad in ["16/16", "3", "a/2", "1/0", "-1/4"] {
            let e = Shard::parse(bad).unwrap_err().to_string();
            assert!(e.starts_with("--shard: "), "{e}");
        }
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| {
                pairs
                    .iter()
                    .find(|(a, _)| *a == k)
                    .map(|(_, v)| v.to_string())
            }
        };
        assert_eq!(Shard::from_slurm(env(&[])).unwrap(), None);
        assert_eq!(
            Shard::from_slurm(env(&[
                ("SLURM_ARRAY_TASK_ID", "5"),
                ("SLURM_ARRAY_TASK_COUNT", "8")
            ]))
            .unwrap(),
            Some(Shard { index: 5, count: 8 })
        );
        assert!(Shard::from_slurm(env(&[("SLURM_ARRAY_TASK_ID", "5")])).is_err());
    }
}
