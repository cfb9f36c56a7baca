//! The one error type of the experiments crate.

/// What can stop an experiment or the writing of its report.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The science library refused an input or a file could not be read or written
    /// (the library's error, unchanged: it names the file, field or parameter).
    #[error(transparent)]
    Core(#[from] labelnoise_core::Error),
    /// A figure could not be drawn.
    #[error("{figure}: {message}")]
    Plot {
        /// The figure's file name (without extension).
        figure: String,
        /// What the plotting library said.
        message: String,
    },
    /// The front end's progress reporter failed (say, printing to a closed pipe).
    #[error("{0}")]
    Progress(#[source] std::io::Error),
    /// An experiment's numbers could not be turned into JSON (a bug: every results type
    /// serializes).
    #[error("results as JSON: {0}")]
    Json(#[from] serde_json::Error),
}

impl Error {
    /// Shorthand for [`Error::Plot`].
    pub fn plot(figure: impl Into<String>, message: impl std::fmt::Display) -> Self {
        Error::Plot {
            figure: figure.into(),
            message: message.to_string(),
        }
    }
}

/// The experiments crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
