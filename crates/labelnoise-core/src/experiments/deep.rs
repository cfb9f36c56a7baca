//! `reproduce deep` (issue 5, part 4): not implemented yet; running it exits with status 2.

use serde::Serialize;

use super::{Claim, Options};
use crate::error::{Error, Result};

/// The result of `reproduce deep`.
#[derive(Clone, Debug, Serialize)]
pub struct Deep {
    /// The claims.
    pub claims: Vec<Claim>,
}

/// Runs the experiment.
pub fn run(_opts: &Options) -> Result<Deep> {
    Err(Error::parameter("NAME", "experiment \"deep\" is not implemented yet"))
}
