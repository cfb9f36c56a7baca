//! The crate's one error type.

/// What can go wrong in the explore server.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The listening socket could not be opened (address in use, no permission, a bad
    /// host name).
    #[error("{addr}: cannot listen: {source}")]
    Bind {
        /// The address asked for.
        addr: String,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// The server stopped with an I/O error while serving.
    #[error("server: {0}")]
    Serve(std::io::Error),
    /// A message from the page that cannot be accepted: malformed JSON, an unknown
    /// field, a value out of its bounds. The text names the field.
    #[error("{0}")]
    Message(String),
    /// The library refused a network, data set or configuration.
    #[error(transparent)]
    Core(#[from] labelnoise_core::Error),
}

/// The crate's result type.
pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    /// A bad message, naming the field.
    pub fn message(field: &str, what: impl std::fmt::Display) -> Self {
        Error::Message(format!("{field}: {what}"))
    }
}
