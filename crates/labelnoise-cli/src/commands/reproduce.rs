//! `labelnoise reproduce NAME --out DIR [--quick]`.

use std::io::Write;

use clap::Args;

/// `labelnoise reproduce`.
#[derive(Debug, Args)]
pub struct ReproduceArgs {
    /// The experiment.
    #[arg(value_name = "NAME")]
    pub name: String,
    /// Output directory.
    #[arg(long, value_name = "DIR")]
    pub out: String,
    /// A smaller version that still tests every claim.
    #[arg(long)]
    pub quick: bool,
}

/// Runs `reproduce`.
pub fn run(args: &ReproduceArgs, _out: &mut dyn Write) -> anyhow::Result<()> {
    anyhow::bail!("reproduce is not implemented yet ({})", args.name)
}
