//! The one error type of the sweep crate.

/// Everything that can go wrong in a sweep.
#[derive(Debug, thiserror::Error)]
pub enum SweepError {
    /// The sweep file is malformed or asks for something `labelnoise train` would
    /// refuse: the file, where in it (`[zip].lr[2]`), and what is wrong.
    #[error("{file}: {key}: {message}")]
    File {
        /// The sweep file as the user named it.
        file: String,
        /// Where in the file: a section and key, with the list position if any.
        key: String,
        /// What is wrong.
        message: String,
    },
    /// A bad option of a sweep command (`--shard`, `--jobs`, ...).
    #[error("{name}: {message}")]
    Option {
        /// The option, as the user wrote it.
        name: String,
        /// What is wrong.
        message: String,
    },
    /// The sweep directory holds something that is not this sweep's (another sweep's
    /// manifest, a malformed manifest), or is not a sweep directory.
    #[error("{path}: {message}")]
    Directory {
        /// The directory or file.
        path: String,
        /// What is wrong.
        message: String,
    },
    /// An error of the core library (reading, writing, a run).
    #[error(transparent)]
    Core(#[from] labelnoise_core::Error),
    /// A figure could not be drawn.
    #[error("{0}")]
    Figure(String),
}

impl SweepError {
    /// Whether the error is the user's input (exit status 2 on the command line): a bad
    /// sweep file, option or directory, or a core error other than a failed write.
    pub fn is_bad_input(&self) -> bool {
        match self {
            SweepError::File { .. } | SweepError::Option { .. } | SweepError::Directory { .. } => {
                true
            }
            SweepError::Core(
                labelnoise_core::Error::Write { .. } | labelnoise_core::Error::Cancelled,
            ) => false,
            SweepError::Core(_) => true,
            SweepError::Figure(_) => false,
        }
    }

    pub(crate) fn file(
        file: impl Into<String>,
        key: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        SweepError::File {
            file: file.into(),
            key: key.into(),
            message: message.into(),
        }
    }

    pub(crate) fn option(name: impl Into<String>, message: impl Into<String>) -> Self {
        SweepError::Option {
            name: name.into(),
            message: message.into(),
        }
    }

    pub(crate) fn directory(path: impl Into<String>, message: impl Into<String>) -> Self {
        SweepError::Directory {
            path: path.into(),
            message: message.into(),
        }
    }
}

/// The crate's result type.
pub type Result<T, E = SweepError> = std::result::Result<T, E>;

/// An I/O error on `path` as the core library reports it.
pub(crate) fn io(path: &std::path::Path, source: std::io::Error) -> SweepError {
    SweepError::Core(labelnoise_core::Error::Io {
        file: path.display().to_string(),
        source,
    })
}
