//! `labelnoise settle --model M --data D --out DIR`.

use std::io::Write;

use clap::Args;

/// `labelnoise settle`.
#[derive(Debug, Args)]
pub struct SettleArgs {
    /// Model file (.json or .safetensors) or built-in model.
    #[arg(long, value_name = "M")]
    pub model: String,
    /// Data file (.json or .csv) or built-in data set.
    #[arg(long, value_name = "D")]
    pub data: String,
    /// Output directory.
    #[arg(long, value_name = "DIR")]
    pub out: String,
}

/// Runs `settle`.
pub fn run(args: &SettleArgs, _out: &mut dyn Write) -> anyhow::Result<()> {
    anyhow::bail!("settle is not implemented yet ({})", args.model)
}
