//! The keys a sweep file may set: every option of `labelnoise train` that describes a
//! run (not where it writes or what it prints), under its flag's name with `_` for `-`.

use serde_json::Value;

/// What a key's value is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A finite number (an integer is accepted).
    Float,
    /// A non-negative integer (`5e6` and `5_000_000` are accepted).
    Int,
    /// `true` or `false`.
    Bool,
    /// A string.
    Str,
    /// Hidden widths: an integer (one layer) or a list of integers.
    Widths,
    /// Numbers (`copies`' label offsets): one finite number or a list of them.
    Floats,
    /// Frozen parts: a layer index or `"skip"`, or a list of them.
    Freeze,
}

/// Which part of a run a key describes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Owner {
    /// The starting network ([`labelnoise_core::train::NetworkSpec`]).
    Network,
    /// The SGD configuration ([`labelnoise_core::train::TrainConfig`]).
    Train,
    /// The run itself: the data and the checkpoint period.
    Run,
}

/// A key of the sweep file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Key {
    /// The key (`lr`, `noise_dist`, ...).
    pub name: &'static str,
    /// Its value's kind.
    pub kind: Kind,
    /// What it describes.
    pub owner: Owner,
    /// Whether every point needs it (as `labelnoise train` needs the flag).
    pub required: bool,
}

const fn key(name: &'static str, kind: Kind, owner: Owner, required: bool) -> Key {
    Key {
        name,
        kind,
        owner,
        required,
    }
}

/// Every key, in the order of `labelnoise train --help`.
pub const KEYS: &[Key] = &[
    key("data", Kind::Str, Owner::Run, true),
    key("hidden", Kind::Widths, Owner::Network, false),
    key("activation", Kind::Str, Owner::Network, false),
    key("skip", Kind::Bool, Owner::Network, false),
    key("output_bias", Kind::Bool, Owner::Network, false),
    key("freeze", Kind::Freeze, Owner::Network, false),
    key("lr", Kind::Float, Owner::Train, true),
    key("steps", Kind::Int, Owner::Train, true),
    key("noise", Kind::Float, Owner::Train, true),
    key("noise_dist", Kind::Str, Owner::Train, false),
    key("batch", Kind::Int, Owner::Train, false),
    key("two_copies", Kind::Bool, Owner::Train, false),
    key("copies", Kind::Floats, Owner::Train, false),
    key("explicit_reg", Kind::Float, Owner::Train, false),
    key("explicit_reg_sampled", Kind::Bool, Owner::Train, false),
    key("init_scale", Kind::Float, Owner::Network, false),
    key("output_init_scale", Kind::Float, Owner::Network, false),
    key("init_model", Kind::Str, Owner::Network, false),
    key("seed", Kind::Int, Owner::Train, false),
    key("log_points", Kind::Int, Owner::Train, false),
    key("checkpoint_every", Kind::Int, Owner::Run, false),
    key("flush_threshold", Kind::Float, Owner::Train, false),
];

/// The key called `name`.
pub fn find(name: &str) -> Option<&'static Key> {
    KEYS.iter().find(|k| k.name == name)
}

/// The key a command-line flag of `labelnoise train` sets (`--lr` → `lr`).
pub fn from_flag(flag: &str) -> Option<&'static Key> {
    find(&flag.trim_start_matches("--").replace('-', "_"))
}

/// The largest integer a float may stand for exactly (2^53).
const EXACT: f64 = 9_007_199_254_740_992.0;

/// Turns a TOML value into the key's canonical JSON value; errors say what was expected.
pub fn normalize(key: &Key, value: &toml::Value) -> Result<Value, String> {
    use toml::Value as T;
    let int = |v: &T| -> Result<Value, String> {
        match v {
            T::Integer(i) if *i >= 0 => Ok(Value::from(*i as u64)),
            T::Float(f) if f.is_finite() && *f >= 0.0 && f.fract() == 0.0 && *f <= EXACT => {
                Ok(Value::from(*f as u64))
            }
            other => Err(format!(
                "expected a non-negative integer, got {}",
                show(other)
            )),
        }
    };
    let float = |v: &T| -> Result<Value, String> {
        match v {
            T::Integer(i) => Ok(Value::from(*i as f64)),
            T::Float(f) if f.is_finite() => serde_json::Number::from_f64(*f)
                .map(Value::Number)
                .ok_or_else(|| format!("must be a finite number, got {f}")),
            T::Float(f) => Err(format!("must be a finite number, got {f}")),
            other => Err(format!("expected a number, got {}", show(other))),
        }
    };
    match key.kind {
        Kind::Float => float(value),
        Kind::Floats => match value {
            T::Array(a) => a
                .iter()
                .map(float)
                .collect::<Result<Vec<_>, _>>()
                .map(Value::Array),
            other => float(other).map(|v| Value::Array(vec![v])),
        },
        Kind::Int => int(value),
        Kind::Bool => match value {
            T::Boolean(b) => Ok(Value::Bool(*b)),
            other => Err(format!("expected true or false, got {}", show(other))),
        },
        Kind::Str => match value {
            T::String(s) => Ok(Value::String(s.clone())),
            other => Err(format!("expected a string, got {}", show(other))),
        },
        Kind::Widths => match value {
            T::Array(a) => a
                .iter()
                .map(int)
                .collect::<Result<Vec<_>, _>>()
                .map(Value::Array),
            other => int(other).map(|v| Value::Array(vec![v])),
        },
        Kind::Freeze => {
            let one = |v: &T| match v {
                T::String(s) if s == "skip" => Ok(Value::String(s.clone())),
                T::String(s) => Err(format!("expected a layer index or \"skip\", got {s:?}")),
                other => int(other),
            };
            match value {
                T::Array(a) => a
                    .iter()
                    .map(one)
                    .collect::<Result<Vec<_>, _>>()
                    .map(Value::Array),
                other => one(other).map(|v| Value::Array(vec![v])),
            }
        }
    }
}

/// A TOML value as the user wrote it, for messages.
pub fn show(v: &toml::Value) -> String {
    match v {
        toml::Value::String(s) => format!("{s:?}"),
        toml::Value::Table(_) => "a table".into(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_accept_integral_floats_and_widths_accept_one_integer() {
        let steps = find("steps").unwrap();
        assert_eq!(
            normalize(steps, &toml::Value::Float(5e6)).unwrap(),
            Value::from(5_000_000u64)
        );
        assert!(normalize(steps, &toml::Value::Float(2.5))
            .unwrap_err()
            .contains("non-negative integer"));
        assert!(normalize(steps, &toml::Value::Integer(-1)).is_err());
        let hidden = find("hidden").unwrap();
        assert_eq!(
            normalize(hidden, &toml::Value::Integer(16)).unwrap(),
            serde_json::json!([16])
        );
        let lr = find("lr").unwrap();
        assert!(normalize(lr, &toml::Value::Float(f64::NAN))
            .unwrap_err()
            .contains("finite"));
        let copies = find("copies").unwrap();
        assert_eq!(
            normalize(copies, &toml::Value::Float(0.5)).unwrap(),
            serde_json::json!([0.5])
        );
        let list = toml::Value::Array(vec![toml::Value::Float(-0.5), toml::Value::Integer(1)]);
        assert_eq!(
            normalize(copies, &list).unwrap(),
            serde_json::json!([-0.5, 1.0])
        );
        let bad = toml::Value::Array(vec![toml::Value::String("a".into())]);
        assert!(normalize(copies, &bad)
            .unwrap_err()
            .contains("expected a number"));
        assert_eq!(from_flag("--copies").unwrap().name, "copies");
        assert_eq!(from_flag("--noise-dist").unwrap().name, "noise_dist");
        assert_eq!(
            from_flag("--output-init-scale").unwrap().name,
            "output_init_scale"
        );
    }
}
