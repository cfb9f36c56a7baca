//! A checked sweep ([`Sweep`]): [`SweepFile::check`] normalizes every value, expands the
//! points ([`Definition`]) and checks each point the way `labelnoise train` checks its
//! flags — the starting network through [`NetworkSpec::build`], the SGD configuration
//! through [`TrainConfig::check`] — so a value `train` would refuse is refused with the
//! same message, prefixed by the file and where the value is written
//! (`eta.toml: [zip].lr[2]: must be positive and finite, got -1`).
//!
//! Each point gets a short stable hash of its settings ([`settings_hash`]), a directory
//! `points/<index>-<hash>/` (the index zero-padded to the width of the largest) and an
//! estimated cost, steps × parameters, which [`crate::shard`] balances.

use std::collections::{BTreeMap, HashMap};

use labelnoise_core::train::{NetworkSpec, TrainConfig};
use labelnoise_core::{Dataset, Error};
use serde::Serialize;
use serde_json::{Map, Value};

use crate::definition::{settings_hash, Axis, Definition};
use crate::error::{Result, SweepError};
use crate::file::{Section, SweepFile};
use crate::keys::{self, Kind, Owner, KEYS};

/// What is known about a point after checking: its hash, steps and size.
#[derive(Clone, Debug, PartialEq)]
pub struct PointInfo {
    /// [`settings_hash`] of its settings.
    pub hash: String,
    /// SGD steps.
    pub steps: u64,
    /// Trainable parameters of its network.
    pub params: usize,
}

impl PointInfo {
    /// The estimated cost: steps × parameters.
    pub fn cost(&self) -> f64 {
        self.steps as f64 * self.params as f64
    }
}

/// One point of a sweep, as the manifest lists it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Point {
    /// Its index, 0-based, in the order of [`Definition`].
    pub index: usize,
    /// The short hash of its settings.
    pub hash: String,
    /// Its run directory, relative to the sweep directory: `points/<index>-<hash>`.
    pub dir: String,
    /// Estimated cost, steps × parameters.
    pub cost: f64,
    /// Every setting the sweep file gives it.
    pub settings: BTreeMap<String, Value>,
}

/// How to run a point: its data, starting network and SGD configuration.
#[derive(Clone, Debug, PartialEq)]
pub struct PointRun {
    /// The data, as named in the file (a built-in name or a path).
    pub data: String,
    /// The starting network.
    pub network: NetworkSpec,
    /// The SGD configuration, seed included.
    pub train: TrainConfig,
    /// Checkpoint period in steps (0: none).
    pub checkpoint_every: u64,
}

/// A checked sweep: its definition and what was learned about each point.
#[derive(Clone, Debug, PartialEq)]
pub struct Sweep {
    /// The sweep file as the user named it.
    pub file: String,
    /// What the sweep is.
    pub definition: Definition,
    infos: Vec<PointInfo>,
}

impl Sweep {
    /// The number of points.
    pub fn len(&self) -> usize {
        self.infos.len()
    }

    /// Whether there are no points (never for a checked sweep).
    pub fn is_empty(&self) -> bool {
        self.infos.is_empty()
    }

    /// Point `i`'s hash, steps and size.
    pub fn info(&self, i: usize) -> &PointInfo {
        &self.infos[i]
    }

    /// Every point's hash, steps and size, in point order.
    pub fn infos(&self) -> &[PointInfo] {
        &self.infos
    }

    /// Point `i` as the manifest lists it.
    pub fn point(&self, i: usize) -> Point {
        let info = &self.infos[i];
        Point {
            index: i,
            hash: info.hash.clone(),
            dir: point_dir(i, self.len(), &info.hash),
            cost: info.cost(),
            settings: self.definition.settings(i),
        }
    }

    /// How to run point `i`.
    pub fn run_of(&self, i: usize) -> PointRun {
        point_run(&self.definition.settings(i)).expect("a checked sweep's points are valid")
    }

    /// A hash of the whole sweep (its name and every point's settings): two sweep
    /// directories with the same hash hold the same sweep.
    pub fn sweep_hash(&self) -> String {
        let mut text = format!("{}\n{}\n", self.definition.name, self.len());
        for info in &self.infos {
            text.push_str(&info.hash);
        }
        // The hashes alone could collide; the definition pins the settings.
        text.push_str(&serde_json::to_string(&self.definition).expect("serializes"));
        format!("{:016x}", crate::definition::fnv1a(text.as_bytes()))
    }
}

/// The directory of point `index` of `count` points, relative to the sweep directory.
pub fn point_dir(index: usize, count: usize, hash: &str) -> String {
    let width = count.saturating_sub(1).to_string().len();
    format!("points/{index:0width$}-{hash}")
}

/// The starting network, configuration and data of a point's settings; an error names
/// the key whose value serde refused.
pub fn point_run(
    settings: &BTreeMap<String, Value>,
) -> std::result::Result<PointRun, (String, String)> {
    let mut network = Map::new();
    let mut train = match serde_json::to_value(TrainConfig::default()) {
        Ok(Value::Object(m)) => m,
        _ => unreachable!("TrainConfig serializes to an object"),
    };
    let mut data = None;
    let mut checkpoint_every = 0;
    for (k, v) in settings {
        let key = keys::find(k).ok_or_else(|| (k.clone(), "unknown key".to_string()))?;
        match key.owner {
            Owner::Network => {
                network.insert(k.clone(), v.clone());
            }
            Owner::Train => {
                train.insert(k.clone(), v.clone());
            }
            Owner::Run if k == "data" => data = v.as_str().map(str::to_string),
            Owner::Run => checkpoint_every = v.as_u64().unwrap_or(0),
        }
    }
    let network: NetworkSpec = serde_json::from_value(Value::Object(network))
        .map_err(|e| ("network".to_string(), e.to_string()))?;
    let train: TrainConfig = serde_json::from_value(Value::Object(train))
        .map_err(|e| ("train".to_string(), e.to_string()))?;
    Ok(PointRun {
        data: data.ok_or_else(|| ("data".to_string(), "required".to_string()))?,
        network,
        train,
        checkpoint_every,
    })
}

/// Checks one value of a key by itself (its type and, for names, its spelling); the
/// message is serde's.
fn check_value(key: &keys::Key, value: &Value) -> std::result::Result<(), String> {
    let one = Value::Object(Map::from_iter([(key.name.to_string(), value.clone())]));
    match key.owner {
        Owner::Network => serde_json::from_value::<NetworkSpec>(one).map(drop),
        Owner::Train => serde_json::from_value::<TrainConfig>(one).map(drop),
        Owner::Run => Ok(()),
    }
    .map_err(|e| e.to_string())
}

impl SweepFile {
    /// Checks the file and expands its points (module documentation). Loads each data
    /// set named once and builds each distinct starting network (seeds aside) once.
    pub fn check(&self) -> Result<Sweep> {
        let file = self.file.as_str();
        let err = |key: &str, message: String| SweepError::file(file, key, message);
        let mut seen: HashMap<&str, Section> = HashMap::new();
        let mut fixed = Vec::new();
        let mut zip: Vec<Axis> = Vec::new();
        let mut grid: Vec<Axis> = Vec::new();
        for section in [Section::Train, Section::Zip, Section::Grid] {
            for (name, value) in self.section(section) {
                let at = format!("[{}].{name}", section.name());
                let Some(key) = keys::find(name) else {
                    let known: Vec<&str> = KEYS.iter().map(|k| k.name).collect();
                    return Err(err(
                        &at,
                        format!("unknown key (known: {})", known.join(", ")),
                    ));
                };
                if let Some(other) = seen.insert(key.name, section) {
                    return Err(err(
                        &at,
                        format!(
                            "also set in [{}]; a key belongs to one section",
                            other.name()
                        ),
                    ));
                }
                let normal = |v: &toml::Value, at: &str| -> Result<Value> {
                    let v = keys::normalize(key, v).map_err(|m| err(at, m))?;
                    check_value(key, &v).map_err(|m| err(at, m))?;
                    Ok(v)
                };
                if section == Section::Train {
                    fixed.push((name.clone(), normal(value, &at)?));
                    continue;
                }
                let values = match value {
                    toml::Value::Array(items) => {
                        if items.is_empty() {
                            return Err(err(&at, "an empty list".into()));
                        }
                        items
                            .iter()
                            .enumerate()
                            .map(|(i, v)| normal(v, &format!("{at}[{i}]")))
                            .collect::<Result<Vec<_>>>()?
                    }
                    toml::Value::Table(t) if key.kind == Kind::Int => range(t)
                        .map_err(|m| err(&at, m))?
                        .into_iter()
                        .map(Value::from)
                        .collect(),
                    other => {
                        return Err(err(
                            &at,
                            format!(
                                "expected a list of values{}, got {}",
                                if key.kind == Kind::Int {
                                    " or a range { from = A, count = N }"
                                } else {
                                    ""
                                },
                                keys::show(other)
                            ),
                        ))
                    }
                };
                if section == Section::Zip {
                    zip.push((name.clone(), values));
                } else {
                    grid.push((name.clone(), values));
                }
            }
        }
        if let Some((first, n)) = zip.first().map(|(k, v)| (k.clone(), v.len())) {
            if let Some((k, v)) = zip.iter().find(|(_, v)| v.len() != n) {
                return Err(err(
                    "[zip]",
                    format!(
                        "lists of unequal length ({first} has {n} values, {k} has {})",
                        v.len()
                    ),
                ));
            }
        }
        for key in KEYS.iter().filter(|k| k.required) {
            if !seen.contains_key(key.name) {
                return Err(err(
                    key.name,
                    format!(
                        "required (labelnoise train needs --{}); set it in [train], [zip] or [grid]",
                        key.name.replace('_', "-")
                    ),
                ));
            }
        }
        let definition = Definition {
            name: self.name.clone().unwrap_or_else(|| "sweep".into()),
            description: self.description.clone().unwrap_or_default(),
            fixed,
            zip,
            grid,
        };
        let count = definition
            .zip_len()
            .checked_mul(definition.grid_len())
            .filter(|&c| c <= MAX_POINTS)
            .ok_or_else(|| {
                err(
                    "[grid]",
                    format!("too many points (more than {MAX_POINTS}); split the sweep"),
                )
            })?;
        let infos = check_points(&definition, count, file)?;
        Ok(Sweep {
            file: file.to_string(),
            definition,
            infos,
        })
    }
}

/// The most points a sweep may have (each point is a training run with its own
/// directory; more is a mistake, and would only exhaust memory while checking).
pub const MAX_POINTS: usize = 1_000_000;

/// `{ from = A, count = N }`: A, A+1, ..., A+N-1.
fn range(t: &toml::Table) -> std::result::Result<Vec<u64>, String> {
    let int = |k: &str| -> std::result::Result<u64, String> {
        match t.get(k) {
            Some(toml::Value::Integer(i)) if *i >= 0 => Ok(*i as u64),
            Some(other) => Err(format!(
                "range: {k} must be a non-negative integer, got {}",
                keys::show(other)
            )),
            None => Err(format!("range: {k} missing ({{ from = A, count = N }})")),
        }
    };
    if let Some(k) = t.keys().find(|k| *k != "from" && *k != "count") {
        return Err(format!(
            "range: unknown key {k:?} ({{ from = A, count = N }})"
        ));
    }
    let (from, count) = (int("from")?, int("count")?);
    if count == 0 {
        return Err("range: count must be at least 1".into());
    }
    if count > MAX_POINTS as u64 {
        return Err(format!(
            "range: count must be at most {MAX_POINTS} (the most points a sweep may have)"
        ));
    }
    from.checked_add(count - 1)
        .ok_or_else(|| "range: too large".to_string())?;
    Ok((from..from + count).collect())
}

/// Checks every point as `labelnoise train` would, and measures its size.
fn check_points(def: &Definition, count: usize, file: &str) -> Result<Vec<PointInfo>> {
    let mut data_sets: HashMap<String, Dataset> = HashMap::new();
    let mut sizes: HashMap<String, usize> = HashMap::new();
    let mut infos = Vec::with_capacity(count);
    for i in 0..count {
        let settings = def.settings(i);
        let at = |key: &str| def.location(key, i).unwrap_or_else(|| key.to_string());
        let run = point_run(&settings).map_err(|(k, m)| SweepError::file(file, at(&k), m))?;
        if !data_sets.contains_key(&run.data) {
            let d = Dataset::load(&run.data)
                .map_err(|e| SweepError::file(file, at("data"), e.to_string()))?;
            data_sets.insert(run.data.clone(), d);
        }
        let data = &data_sets[&run.data];
        let mut without_seed = settings.clone();
        without_seed.remove("seed");
        let key = serde_json::to_string(&without_seed).expect("serializes");
        let params = match sizes.get(&key) {
            Some(&p) => p,
            None => {
                let blame = |e: Error| -> SweepError {
                    match &e {
                        Error::Parameter { name, message } => {
                            let k = keys::from_flag(name).map_or(name.as_str(), |k| k.name);
                            SweepError::file(file, at(k), message.clone())
                        }
                        _ if run.network.init_model.is_some() => {
                            SweepError::file(file, at("init_model"), e.to_string())
                        }
                        _ => SweepError::file(file, format!("point {i}"), e.to_string()),
                    }
                };
                let net = run
                    .network
                    .build(data, &run.data, run.train.seed)
                    .map_err(blame)?;
                run.train.check(&net, data).map_err(blame)?;
                // The run itself, as `labelnoise train` would refuse it before starting.
                labelnoise_core::memory::check_fits(
                    "--hidden",
                    &format!(
                        "a run of {} parameters on {} points",
                        net.param_count(),
                        data.len()
                    ),
                    labelnoise_core::train::run::memory_estimate(&net, data, run.train.log_points),
                )
                .map_err(blame)?;
                sizes.insert(key, net.param_count());
                net.param_count()
            }
        };
        infos.push(PointInfo {
            hash: settings_hash(&settings),
            steps: run.train.steps,
            params,
        });
    }
    Ok(infos)
}
