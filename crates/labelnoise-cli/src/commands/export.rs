//! `labelnoise export MODEL --torch --out FILE.safetensors [--dtype f32]`: writes a
//! model as the safetensors file `safetensors.torch.save_file` writes for the PyTorch
//! module `labelnoise.Network.to_torch` builds (docs/formats.md#pytorch-safetensors), so
//! `module.load_state_dict(safetensors.torch.load_file(FILE))` loads it.

use std::io::Write;
use std::path::Path;

use clap::{Args, ValueEnum};
use labelnoise_core::files::write_atomic;
use labelnoise_core::model_io::{load_model_with, model_to_torch_safetensors, TorchDtype};
use labelnoise_core::Activation;

use crate::UsageError;

/// The precision of the written tensors.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Dtype {
    /// float64: exact.
    F64,
    /// float32: rounded to nearest (PyTorch's default dtype).
    F32,
}

/// `labelnoise export`.
#[derive(Debug, Args)]
pub struct ExportArgs {
    /// Model file (.json or .safetensors) or built-in model (fig1-minimal, fig1-wiggly).
    #[arg(value_name = "MODEL")]
    pub model: String,
    /// Write PyTorch state_dict names (0.weight, 0.bias, 2.weight, ...; net.K.* and
    /// skip.weight with a skip unit). The only format so far, so required.
    #[arg(long)]
    pub torch: bool,
    /// Output file (.safetensors).
    #[arg(long, value_name = "FILE")]
    pub out: String,
    /// Tensor precision.
    #[arg(long, value_enum, default_value_t = Dtype::F64)]
    pub dtype: Dtype,
    /// Hidden activation, when MODEL is itself a PyTorch state_dict without metadata.
    #[arg(long, value_name = "A", value_enum)]
    pub activation: Option<Activation>,
    /// Overwrite an existing output file.
    #[arg(long)]
    pub force: bool,
    /// Print nothing.
    #[arg(long)]
    pub quiet: bool,
}

/// Runs `export`.
pub fn run(args: &ExportArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    if !args.torch {
        return Err(UsageError("--torch: required (the only export format)".into()).into());
    }
    let net = load_model_with(&args.model, args.activation)?;
    let path = Path::new(&args.out);
    if path.exists() && !args.force {
        return Err(UsageError(format!(
            "--out: {} exists (use --force to overwrite)",
            args.out
        ))
        .into());
    }
    let dtype = match args.dtype {
        Dtype::F64 => TorchDtype::F64,
        Dtype::F32 => TorchDtype::F32,
    };
    write_atomic(path, &model_to_torch_safetensors(&net, dtype))?;
    if !args.quiet {
        writeln!(
            out,
            "wrote {} ({}, {:?}) as a PyTorch {}",
            args.out,
            net.describe(),
            args.dtype,
            if net.skip().is_some() {
                "module with a skip unit (net.K.*, skip.weight)"
            } else {
                "nn.Sequential state_dict"
            }
        )?;
    }
    Ok(())
}
