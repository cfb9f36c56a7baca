//! The one error type of the library.
//!
//! Every variant that comes from user data names where the bad value is: the file (or
//! built-in name) it came from and the field inside it, so that the command line can
//! print one line that a user can act on.

/// Everything that can go wrong in the library on user data.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file could not be read or written.
    #[error("{file}: {source}")]
    Io {
        /// The path as the user gave it.
        file: String,
        /// What the operating system said.
        source: std::io::Error,
    },
    /// An output file could not be written (a full disk, a read-only directory): not
    /// the user's input, so the command line exits with status 1.
    #[error("{file}: cannot write: {source}")]
    Write {
        /// The path written.
        file: String,
        /// What the operating system said.
        source: std::io::Error,
    },
    /// A value inside a file (or a built-in) is malformed, out of range or inconsistent.
    #[error("{file}: {field}: {message}")]
    Invalid {
        /// The file or built-in name the value came from.
        file: String,
        /// The field inside it, e.g. `layers[1].weight[0][3]`.
        field: String,
        /// What is wrong with it.
        message: String,
    },
    /// A parameter given directly (an option, a tolerance, a hyper-parameter) is nonsense.
    #[error("{name}: {message}")]
    Parameter {
        /// The parameter's name, as the user wrote it where possible (e.g. `--lr`).
        name: String,
        /// What is wrong with it.
        message: String,
    },
    /// Two inputs that must agree do not (e.g. a model for 3-D inputs and 1-D data).
    #[error("{message}")]
    Mismatch {
        /// The message, naming both inputs.
        message: String,
    },
    /// Another process holds the lock on a directory this one would write into
    /// ([`crate::files::DirLock`]).
    #[error("{dir}: in use by process {pid}{} (another labelnoise is writing there; wait for it or stop it)", if host.is_empty() { String::new() } else { format!(" on {host}") })]
    Locked {
        /// The directory.
        dir: String,
        /// The process holding the lock (0 if it had not written its id yet).
        pid: u32,
        /// The host it runs on.
        host: String,
    },
    /// A dense linear-algebra routine failed to converge.
    #[error("linear algebra: {0}")]
    Linalg(String),
    /// The caller's [`crate::train::CancelToken`] stopped work that has no partial result
    /// to return (an experiment of several runs; a run or `settle` on its own returns
    /// what it reached instead).
    #[error("cancelled")]
    Cancelled,
}

impl Error {
    /// Shorthand for [`Error::Invalid`].
    pub fn invalid(
        file: impl Into<String>,
        field: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Error::Invalid {
            file: file.into(),
            field: field.into(),
            message: message.into(),
        }
    }

    /// Shorthand for [`Error::Parameter`].
    pub fn parameter(name: impl Into<String>, message: impl Into<String>) -> Self {
        Error::Parameter {
            name: name.into(),
            message: message.into(),
        }
    }
}

/// The library's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
