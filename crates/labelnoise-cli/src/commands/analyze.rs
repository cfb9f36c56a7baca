//! `labelnoise analyze --model M --data D [--json]`.

use std::io::Write;

use labelnoise_core::analysis::{analyze_checked, AnalyzeOptions};
use labelnoise_core::model_io::load_model_with;
use labelnoise_core::shape::ShapeOptions;
use labelnoise_core::units::UnitOptions;
use labelnoise_core::{Dataset, Error};

use crate::args::AnalyzeArgs;
use crate::output::{Format, Json, Table};

/// The analysis options the flags describe.
pub fn options(args: &AnalyzeArgs) -> AnalyzeOptions {
    AnalyzeOptions {
        tolerances: args.tolerances.tolerances(),
        shape: ShapeOptions {
            jump_threshold: args.jump_threshold,
            fit_tol: args.tolerances.fit_tol,
            on_point_tol: args.kink_tol,
            ..ShapeOptions::default()
        },
        units: UnitOptions { tol: args.unit_tol },
    }
}

/// Runs the analysis and writes the rendering to `out`.
pub fn run(args: &AnalyzeArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    let opts = options(args).check()?;
    let net = load_model_with(&args.model, args.activation)?;
    let data = Dataset::load(&args.data)?;
    let analysis = analyze_checked(&net, &data, &opts).map_err(|e| match e {
        Error::Mismatch { message } => Error::Mismatch {
            message: format!("{} and {}: {message}", args.model, args.data),
        },
        // Weights that overflow on the data: bad input in the model file.
        Error::Parameter { name, message } if name == "model" => {
            Error::invalid(&args.model, "weights", message)
        }
        other => other,
    })?;
    let bytes = if args.json {
        Json.render(&analysis)?
    } else {
        Table.render(&analysis)?
    };
    out.write_all(&bytes)?;
    Ok(())
}
