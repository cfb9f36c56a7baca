//! Training data: n pairs (x_i, y_i), x_i in R^d, y_i in R; parsed from JSON, CSV or
//! NumPy files (docs/formats.md#data). Choosing between a built-in name and a file is the job of
//! [`Dataset::load`], in [`crate::load`], above this module and the built-ins.

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

    /// Reads x from one NPY file and y from another (docs/formats.md#npy-pair): x of shape
    /// (n, d) or (n,) (then d = 1), y of shape (n,) or (n, 1); dtypes f8, f4, and signed
    /// or unsigned integers up to 8 bytes (converted to f64), either byte order, C or
    /// Fortran order. `x_origin` and `y_origin` name the files in errors.
    pub fn from_npy(
        x_bytes: &[u8],
        x_origin: &str,
        y_bytes: &[u8],
        y_origin: &str,
    ) -> Result<Self> {
        let (x_shape, x) = read_npy(x_bytes, x_origin)?;
        let (y_shape, y) = read_npy(y_bytes, y_origin)?;
        let dim = match x_shape[..] {
            [_] => 1,
            [_, d] => d,
            _ => {
                return Err(Error::invalid(
                    x_origin,
                    "shape",
                    format!("x must have shape (n, d) or (n,), found {x_shape:?}"),
                ))
            }
        };
        if !matches!(y_shape[..], [_] | [_, 1]) {
            return Err(Error::invalid(
                y_origin,
                "shape",
                format!("y must have shape (n,) or (n, 1), found {y_shape:?}"),
            ));
        }
        if x_shape[0] != y_shape[0] {
            return Err(Error::invalid(
                y_origin,
                "shape",
                format!(
                    "y has {} labels but {x_origin} has {} points",
                    y_shape[0], x_shape[0]
                ),
            ));
        }
        if let Some(i) = y.iter().position(|v| !v.is_finite()) {
            return Err(Error::invalid(
                y_origin,
                format!("y[{i}]"),
                format!("is not finite ({})", y[i]),
            ));
        }
        Self::new(dim, x, y, x_origin)
    }

    /// The JSON form of docs/formats.md#json.
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

/// The shape and the values (in C order, as f64) of an NPY file.
/// The deepest bracket nesting a plain numeric array's header needs: the dict `{...}`
/// and the shape tuple `(...)` inside it.
const NPY_MAX_NESTING: usize = 2;

/// Refuses an NPY header nested deeper than [`NPY_MAX_NESTING`] before the header
/// parser sees it: a plain numeric array never needs more, and the parser takes
/// exponential time on deeply nested brackets (found by the `data_npy` fuzz target:
/// a header of a hundred `[` hung it).
fn check_npy_nesting(bytes: &[u8], origin: &str) -> Result<()> {
    // Magic (6 bytes), version (2), header length (2 bytes in version 1, else 4).
    let Some(&major) = bytes.get(6) else {
        return Ok(()); // too short: the parser says what is wrong
    };
    let (len, start) = if major == 1 {
        match bytes.get(8..10) {
            Some(b) => (u16::from_le_bytes([b[0], b[1]]) as usize, 10),
            None => return Ok(()),
        }
    } else {
        match bytes.get(8..12) {
            Some(b) => (u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize, 12),
            None => return Ok(()),
        }
    };
    let header = &bytes[start.min(bytes.len())..start.saturating_add(len).min(bytes.len())];
    let mut depth = 0usize;
    for &c in header {
        match c {
            b'(' | b'[' | b'{' => {
                depth += 1;
                if depth > NPY_MAX_NESTING {
                    return Err(Error::invalid(
                        origin,
                        "header",
                        "nested too deeply for a plain numeric array (structured dtypes are not supported)",
                    ));
                }
            }
            b')' | b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    Ok(())
}

fn read_npy(bytes: &[u8], origin: &str) -> Result<(Vec<usize>, Vec<f64>)> {
    use npyz::{DType, NpyFile, Order, TypeChar};
    check_npy_nesting(bytes, origin)?;
    let malformed =
        |e: std::io::Error| Error::invalid(origin, "header", format!("not a valid NPY file: {e}"));
    let npy = NpyFile::new(bytes).map_err(malformed)?;
    let shape: Vec<usize> = npy.shape().iter().map(|&s| s as usize).collect();
    let order = npy.order();
    let DType::Plain(ts) = npy.dtype() else {
        return Err(Error::invalid(
            origin,
            "dtype",
            "structured or array dtypes are not supported; expected a numeric array",
        ));
    };
    let bad = |e: std::io::Error| Error::invalid(origin, "data", format!("cannot read: {e}"));
    let values: Vec<f64> = match (ts.type_char(), ts.size_field()) {
        (TypeChar::Float, 8) => npy.into_vec::<f64>().map_err(bad)?,
        (TypeChar::Float, 4) => npy
            .into_vec::<f32>()
            .map_err(bad)?
            .into_iter()
            .map(f64::from)
            .collect(),
        (TypeChar::Int, 8) => npy
            .into_vec::<i64>()
            .map_err(bad)?
            .into_iter()
            .map(|v| v as f64)
            .collect(),
        (TypeChar::Int, 4) => npy
            .into_vec::<i32>()
            .map_err(bad)?
            .into_iter()
            .map(f64::from)
            .collect(),
        (TypeChar::Int, 2) => npy
            .into_vec::<i16>()
            .map_err(bad)?
            .into_iter()
            .map(f64::from)
            .collect(),
        (TypeChar::Int, 1) => npy
            .into_vec::<i8>()
            .map_err(bad)?
            .into_iter()
            .map(f64::from)
            .collect(),
        (TypeChar::Uint, 8) => npy
            .into_vec::<u64>()
            .map_err(bad)?
            .into_iter()
            .map(|v| v as f64)
            .collect(),
        (TypeChar::Uint, 4) => npy
            .into_vec::<u32>()
            .map_err(bad)?
            .into_iter()
            .map(f64::from)
            .collect(),
        (TypeChar::Uint, 2) => npy
            .into_vec::<u16>()
            .map_err(bad)?
            .into_iter()
            .map(f64::from)
            .collect(),
        (TypeChar::Uint, 1) => npy
            .into_vec::<u8>()
            .map_err(bad)?
            .into_iter()
            .map(f64::from)
            .collect(),
        _ => {
            return Err(Error::invalid(
                origin,
                "dtype",
                format!("unsupported dtype {ts}; expected float or integer"),
            ))
        }
    };
    // Fortran order stores the first index fastest: transpose a 2-D array to C order.
    let values = match (order, &shape[..]) {
        (Order::Fortran, [rows, cols]) if *rows > 1 && *cols > 1 => {
            let mut c = vec![0.0; values.len()];
            for i in 0..*rows {
                for j in 0..*cols {
                    c[i * cols + j] = values[j * rows + i];
                }
            }
            c
        }
        _ => values,
    };
    Ok((shape, values))
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

    /// An NPY file (format 1.0, little endian) with the given dtype, shape and payload.
    fn npy(descr: &str, fortran: bool, shape: &[usize], payload: &[u8]) -> Vec<u8> {
        let shape = match shape {
            [n] => format!("({n},)"),
            s => format!(
                "({})",
                s.iter()
                    .map(|v| v.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        };
        let mut header = format!(
            "{{'descr': '{descr}', 'fortran_order': {}, 'shape': {shape}, }}",
            if fortran { "True" } else { "False" }
        );
        while (10 + header.len() + 1) % 64 != 0 {
            header.push(' ');
        }
        header.push('\n');
        let mut out = b"\x93NUMPY\x01\x00".to_vec();
        out.extend((header.len() as u16).to_le_bytes());
        out.extend(header.as_bytes());
        out.extend(payload);
        out
    }

    fn f8(v: &[f64]) -> Vec<u8> {
        v.iter().flat_map(|x| x.to_le_bytes()).collect()
    }

    #[test]
    fn parses_npy_pairs_of_every_layout() {
        // x (3, 2) in C order, y (3,).
        let x = npy("<f8", false, &[3, 2], &f8(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]));
        let y = npy("<f8", false, &[3], &f8(&[7.0, 8.0, 9.0]));
        let d = Dataset::from_npy(&x, "x.npy", &y, "y.npy").unwrap();
        assert_eq!((d.len(), d.dim()), (3, 2));
        assert_eq!(d.x(1), &[3.0, 4.0]);
        assert_eq!(d.ys(), &[7.0, 8.0, 9.0]);
        // The same x in Fortran order, y as (3, 1) f4, x as 1-D integers.
        let xf = npy("<f8", true, &[3, 2], &f8(&[1.0, 3.0, 5.0, 2.0, 4.0, 6.0]));
        let y4: Vec<u8> = [7.0f32, 8.0, 9.0]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        let y4 = npy("<f4", false, &[3, 1], &y4);
        assert_eq!(Dataset::from_npy(&xf, "x.npy", &y4, "y.npy").unwrap(), d);
        let xi: Vec<u8> = [1i64, -2, 3].iter().flat_map(|v| v.to_le_bytes()).collect();
        let xi = npy("<i8", false, &[3], &xi);
        let d1 = Dataset::from_npy(&xi, "x.npy", &y, "y.npy").unwrap();
        assert_eq!((d1.dim(), d1.xs()), (1, &[1.0, -2.0, 3.0][..]));
    }

    #[test]
    fn npy_errors_name_the_file_and_field() {
        let x = npy("<f8", false, &[3], &f8(&[1.0, 2.0, 3.0]));
        let y2 = npy("<f8", false, &[2], &f8(&[1.0, 2.0]));
        let e = Dataset::from_npy(&x, "x.npy", &y2, "y.npy").unwrap_err();
        assert!(e.to_string().starts_with("y.npy: shape:"), "{e}");
        let ynan = npy("<f8", false, &[3], &f8(&[1.0, f64::NAN, 2.0]));
        let e = Dataset::from_npy(&x, "x.npy", &ynan, "y.npy").unwrap_err();
        assert!(e.to_string().starts_with("y.npy: y[1]:"), "{e}");
        let xnan = npy("<f8", false, &[3], &f8(&[1.0, f64::INFINITY, 2.0]));
        let y = npy("<f8", false, &[3], &f8(&[1.0, 2.0, 3.0]));
        let e = Dataset::from_npy(&xnan, "x.npy", &y, "y.npy").unwrap_err();
        assert!(e.to_string().starts_with("x.npy: x[1][0]:"), "{e}");
        let e = Dataset::from_npy(b"not npy at all", "x.npy", &y, "y.npy").unwrap_err();
        assert!(e.to_string().starts_with("x.npy: header:"), "{e}");
        let x3 = npy("<f8", false, &[1, 1, 3], &f8(&[1.0, 2.0, 3.0]));
        let e = Dataset::from_npy(&x3, "x.npy", &y, "y.npy").unwrap_err();
        assert!(e.to_string().starts_with("x.npy: shape:"), "{e}");
        let xc = npy("<c16", false, &[1], &f8(&[1.0, 2.0]));
        let e = Dataset::from_npy(&xc, "x.npy", &y, "y.npy").unwrap_err();
        assert!(e.to_string().starts_with("x.npy: dtype:"), "{e}");
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
