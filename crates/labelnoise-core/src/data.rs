//! Training data: n pairs (x_i, y_i), x_i in R^d, y_i in R; read from JSON, CSV or a
//! built-in name (SPEC §2).

use std::path::Path;

use serde::Deserialize;

use crate::error::{Error, Result};

/// A data set of n points in R^d with scalar labels, all values finite.
#[derive(Clone, Debug, PartialEq)]
pub struct Dataset {
    dim: usize,
    x: Vec<f64>,
    y: Vec<f64>,
}

impl Dataset {
    /// Checks and assembles a data set from row-major inputs (n x d) and labels.
    /// `origin` names the file or built-in for error messages.
    pub fn new(dim: usize, x: Vec<f64>, y: Vec<f64>, origin: &str) -> Result<Self> {
        if y.is_empty() {
            return Err(Error::invalid(origin, "y", "the data set has no points"));
        }
        if dim == 0 {
            return Err(Error::invalid(
                origin,
                "x",
                "inputs must have at least one coordinate",
            ));
        }
        if x.len() != dim * y.len() {
            return Err(Error::invalid(
                origin,
                "x",
                format!(
                    "has {} values, expected {} points x {dim}",
                    x.len(),
                    y.len()
                ),
            ));
        }
        if let Some(i) = x.iter().position(|v| !v.is_finite()) {
            return Err(Error::invalid(
                origin,
                format!("x[{}][{}]", i / dim, i % dim),
                format!("is not finite ({})", x[i]),
            ));
        }
        if let Some(i) = y.iter().position(|v| !v.is_finite()) {
            return Err(Error::invalid(
                origin,
                format!("y[{i}]"),
                format!("is not finite ({})", y[i]),
            ));
        }
        Ok(Dataset { dim, x, y })
    }

    /// d, the input dimension.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// n, the number of points.
    pub fn len(&self) -> usize {
        self.y.len()
    }

    /// Always false: a data set has at least one point.
    pub fn is_empty(&self) -> bool {
        self.y.is_empty()
    }

    /// x_i.
    #[inline]
    pub fn x(&self, i: usize) -> &[f64] {
        &self.x[i * self.dim..(i + 1) * self.dim]
    }

    /// y_i.
    #[inline]
    pub fn y(&self, i: usize) -> f64 {
        self.y[i]
    }

    /// All inputs, row-major n x d.
    pub fn xs(&self) -> &[f64] {
        &self.x
    }

    /// All labels.
    pub fn ys(&self) -> &[f64] {
        &self.y
    }

    /// Reads a data set from a built-in name (see [`crate::builtin`]) or a file: `.csv`
    /// as CSV, anything else as JSON.
    pub fn load(spec: &str) -> Result<Self> {
        if let Some(data) = crate::builtin::dataset(spec) {
            return Ok(data);
        }
        let path = Path::new(spec);
        let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
            file: spec.to_string(),
            source,
        })?;
        let is_csv = path
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| e.eq_ignore_ascii_case("csv"));
        if is_csv {
            Self::from_csv(&text, spec)
        } else {
            Self::from_json(&text, spec)
        }
    }

    /// Parses `{"x": [[x_11, ..., x_1d], ...], "y": [y_1, ...]}`. For d = 1, `x` may also
    /// be a flat list of numbers.
    pub fn from_json(text: &str, origin: &str) -> Result<Self> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Raw {
            x: Vec<serde_json::Value>,
            y: Vec<serde_json::Value>,
        }
        let raw: Raw = serde_json::from_str(text)
            .map_err(|e| Error::invalid(origin, json_field(&e), format!("malformed JSON: {e}")))?;
        let mut dim = None;
        let mut x = Vec::new();
        for (i, row) in raw.x.iter().enumerate() {
            let values: Vec<f64> = match row {
                serde_json::Value::Array(items) => items
                    .iter()
                    .enumerate()
                    .map(|(j, v)| number(v, origin, &format!("x[{i}][{j}]")))
                    .collect::<Result<_>>()?,
                other => vec![number(other, origin, &format!("x[{i}]"))?],
            };
            match dim {
                None => dim = Some(values.len()),
                Some(d) if d != values.len() => {
                    return Err(Error::invalid(
                        origin,
                        format!("x[{i}]"),
                        format!("has {} coordinates, x[0] has {d}", values.len()),
                    ))
                }
                _ => {}
            }
            x.extend(values);
        }
        let y = raw
            .y
            .iter()
            .enumerate()
            .map(|(i, v)| number(v, origin, &format!("y[{i}]")))
            .collect::<Result<Vec<_>>>()?;
        if raw.x.len() != y.len() {
            return Err(Error::invalid(
                origin,
                "y",
                format!("has {} labels but x has {} points", y.len(), raw.x.len()),
            ));
        }
        Self::new(dim.unwrap_or(1), x, y, origin)
    }

    /// Parses CSV with a header: the x columns (any names) and then y, last.
    pub fn from_csv(text: &str, origin: &str) -> Result<Self> {
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(true)
            .trim(csv::Trim::All)
            .from_reader(text.as_bytes());
        let header = reader
            .headers()
            .map_err(|e| Error::invalid(origin, "header", format!("malformed CSV: {e}")))?
            .clone();
        if header.len() < 2 {
            return Err(Error::invalid(
                origin,
                "header",
                "needs at least two columns (x columns, then y)",
            ));
        }
        let dim = header.len() - 1;
        let (mut x, mut y) = (Vec::new(), Vec::new());
        for (i, record) in reader.records().enumerate() {
            let line = i + 2;
            let record = record.map_err(|e| {
                Error::invalid(
                    origin,
                    format!("line {line}"),
                    format!("malformed CSV: {e}"),
                )
            })?;
            for (j, cell) in record.iter().enumerate() {
                let name = &header[j];
                let v: f64 = cell.parse().map_err(|_| {
                    Error::invalid(
                        origin,
                        format!("line {line}, column {name}"),
                        format!("not a number: {cell:?}"),
                    )
                })?;
                if !v.is_finite() {
                    return Err(Error::invalid(
                        origin,
                        format!("line {line}, column {name}"),
                        format!("is not finite ({v})"),
                    ));
                }
                if j < dim {
                    x.push(v);
                } else {
                    y.push(v);
                }
            }
        }
        Self::new(dim, x, y, origin)
    }

    /// The JSON form of SPEC §2.
    pub fn to_json(&self) -> String {
        let x: Vec<&[f64]> = (0..self.len()).map(|i| self.x(i)).collect();
        serde_json::json!({"x": x, "y": self.y}).to_string()
    }

    /// For d = 1: the points sorted by x (ties keep their order), as (x, y) pairs.
    pub fn sorted_1d(&self) -> Option<Vec<(f64, f64)>> {
        if self.dim != 1 {
            return None;
        }
        let mut pts: Vec<(f64, f64)> = self.x.iter().copied().zip(self.y.iter().copied()).collect();
        pts.sort_by(|a, b| a.0.total_cmp(&b.0));
        Some(pts)
    }
}

/// A JSON value as a finite f64, or an error naming `origin` and `field`.
pub(crate) fn number(v: &serde_json::Value, origin: &str, field: &str) -> Result<f64> {
    match v.as_f64() {
        Some(f) if f.is_finite() => Ok(f),
        Some(f) => Err(Error::invalid(
            origin,
            field,
            format!("is not finite ({f})"),
        )),
        None => Err(Error::invalid(
            origin,
            field,
            format!("expected a number, found {v}"),
        )),
    }
}

/// A best-effort field name for a serde_json error: its line and column.
pub(crate) fn json_field(e: &serde_json::Error) -> String {
    format!("line {}, column {}", e.line(), e.column())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_json_nested_and_flat() {
        let d = Dataset::from_json(r#"{"x": [[1, 2], [3, 4]], "y": [5, 6]}"#, "t").unwrap();
        assert_eq!((d.len(), d.dim()), (2, 2));
        assert_eq!(d.x(1), &[3.0, 4.0]);
        let d = Dataset::from_json(r#"{"x": [1, 2, 3], "y": [0, 1, 0]}"#, "t").unwrap();
        assert_eq!(d.dim(), 1);
        let round = Dataset::from_json(&d.to_json(), "t").unwrap();
        assert_eq!(round, d);
    }

    #[test]
    fn json_errors_name_the_field() {
        let e = Dataset::from_json(r#"{"x": [[1], [2, 3]], "y": [1, 2]}"#, "d.json").unwrap_err();
        assert!(e.to_string().starts_with("d.json: x[1]:"), "{e}");
        let e = Dataset::from_json(r#"{"x": [[1], ["a"]], "y": [1, 2]}"#, "d.json").unwrap_err();
        assert!(e.to_string().starts_with("d.json: x[1][0]:"), "{e}");
        let e = Dataset::from_json(r#"{"x": [[1]], "y": [1, 2]}"#, "d.json").unwrap_err();
        assert!(e.to_string().starts_with("d.json: y:"), "{e}");
        let e = Dataset::from_json(r#"{"x": [], "y": []}"#, "d.json").unwrap_err();
        assert!(e.to_string().contains("no points"), "{e}");
    }

    #[test]
    fn parses_csv_and_rejects_nan() {
        let d = Dataset::from_csv("a,b,target\n1,2,3\n4,5,6\n", "d.csv").unwrap();
        assert_eq!((d.len(), d.dim()), (2, 2));
        assert_eq!(d.y(1), 6.0);
        let e = Dataset::from_csv("a,target\n1,NaN\n", "d.csv").unwrap_err();
        assert!(
            e.to_string().starts_with("d.csv: line 2, column target:"),
            "{e}"
        );
    }
}
