//! The sweep file (TOML), read but not yet checked: [`SweepFile`].
//!
//! ```toml
//! name = "eta-scaling"          # optional; the file's stem otherwise
//! description = "..."           # optional
//! [train]                       # settings of every point
//! data = "fig1"
//! [zip]                         # equal-length lists that vary together
//! lr = [1e-3, 5e-4]
//! steps = [1e5, 4e5]
//! [grid]                        # every combination, crossed with [zip]
//! seed = { from = 0, count = 8 }
//! ```
//!
//! The keys are those of [`crate::keys::KEYS`]. [`SweepFile::check`] (in
//! [`crate::sweep`]) turns it into a [`crate::sweep::Sweep`].

use std::path::Path;

use crate::error::{io, Result, SweepError};

/// A section of the sweep file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Section {
    /// `[train]`: one value per key, the same for every point.
    Train,
    /// `[zip]`: a list per key, all of the same length, varying together.
    Zip,
    /// `[grid]`: a list per key, crossed.
    Grid,
}

impl Section {
    /// The section's name as written in the file.
    pub fn name(self) -> &'static str {
        match self {
            Section::Train => "train",
            Section::Zip => "zip",
            Section::Grid => "grid",
        }
    }
}

/// A sweep file as written: its sections' keys and values, in file order, nothing
/// checked beyond the TOML syntax and the top-level layout.
#[derive(Clone, Debug, PartialEq)]
pub struct SweepFile {
    /// The file as the user named it (for messages).
    pub file: String,
    /// The `name` key, if given.
    pub name: Option<String>,
    /// The `description` key, if given.
    pub description: Option<String>,
    /// `[train]`.
    pub train: Vec<(String, toml::Value)>,
    /// `[zip]`.
    pub zip: Vec<(String, toml::Value)>,
    /// `[grid]`.
    pub grid: Vec<(String, toml::Value)>,
}

impl SweepFile {
    /// Reads and parses the file at `path`.
    pub fn read(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| io(path, e))?;
        Self::parse(&text, &path.display().to_string())
    }

    /// Parses `text`, naming it `file` in messages.
    pub fn parse(text: &str, file: &str) -> Result<Self> {
        let table: toml::Table = toml::from_str(text).map_err(|e| {
            let at = e.span().map_or(String::from("syntax"), |s| {
                let before = &text[..s.start.min(text.len())];
                let line = before.matches('\n').count() + 1;
                let column = before.len() - before.rfind('\n').map_or(0, |p| p + 1) + 1;
                format!("line {line}, column {column}")
            });
            SweepError::file(file, at, e.message().trim().replace('\n', " "))
        })?;
        let mut out = SweepFile {
            file: file.to_string(),
            name: None,
            description: None,
            train: Vec::new(),
            zip: Vec::new(),
            grid: Vec::new(),
        };
        let stem = Path::new(file)
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or("sweep")
            .to_string();
        for (key, value) in table {
            let text_of = |v: toml::Value| match v {
                toml::Value::String(s) => Ok(s),
                other => Err(SweepError::file(
                    file,
                    key.as_str(),
                    format!("expected a string, got {}", crate::keys::show(&other)),
                )),
            };
            let section = |v: toml::Value, s: Section| match v {
                toml::Value::Table(t) => Ok(t.into_iter().collect::<Vec<_>>()),
                _ => Err(SweepError::file(
                    file,
                    key.as_str(),
                    format!("expected a [{}] section", s.name()),
                )),
            };
            match key.as_str() {
                "name" => out.name = Some(text_of(value)?),
                "description" => out.description = Some(text_of(value)?),
                "train" => out.train = section(value, Section::Train)?,
                "zip" => out.zip = section(value, Section::Zip)?,
                "grid" => out.grid = section(value, Section::Grid)?,
                _ => {
                    return Err(SweepError::file(
                        file,
                        key.as_str(),
                        "unknown top-level key (name, description, [train], [zip], [grid]); \
                         training options go in a section",
                    ))
                }
            }
        }
        if let Some(name) = &out.name {
            let ok = !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
            if !ok {
                return Err(SweepError::file(
                    file,
                    "name",
                    format!("must be letters, digits, '-', '_' or '.', got {name:?}"),
                ));
            }
        } else {
            out.name = Some(stem);
        }
        Ok(out)
    }

    /// The keys of `section`.
    pub fn section(&self, section: Section) -> &[(String, toml::Value)] {
        match section {
            Section::Train => &self.train,
            Section::Zip => &self.zip,
            Section::Grid => &self.grid,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sections_keep_file_order_and_errors_name_the_line() {
        let f = SweepFile::parse(
            "[grid]\nseed = [0, 1]\nhidden = [4, 8]\n[train]\ndata = \"fig1\"\n",
            "s.toml",
        )
        .unwrap();
        let keys: Vec<&str> = f.grid.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["seed", "hidden"]);
        assert_eq!(f.name.as_deref(), Some("s"));
        let e = SweepFile::parse("[train]\nlr = = 3\n", "s.toml").unwrap_err();
        assert!(e.to_string().starts_with("s.toml: line 2, column"), "{e}");
        assert!(!e.to_string().contains('\n'));
        let e = SweepFile::parse("lr = 3\n", "s.toml").unwrap_err();
        assert!(
            e.to_string()
                .starts_with("s.toml: lr: unknown top-level key"),
            "{e}"
        );
    }
}
