//! `labelnoise reproduce NAME --out DIR [--quick]`: runs an experiment of
//! `labelnoise_experiments::REGISTRY` (or all of them), which draws its figures (PNG and
//! SVG) and writes `summary.json` (every claim with a boolean `pass`), `report.md` and
//! `report.html`. Prints one line per claim; exits with status 1 when a claim of the
//! paper fails, naming the failing claims. SIGINT or SIGTERM stops it within a moment,
//! writes no report and exits with 130 or 143 (`crate::signals`).

use std::io::{IsTerminal, Write};
use std::path::Path;

use clap::builder::{PossibleValue, PossibleValuesParser};
use clap::Args;
use labelnoise_core::files::{check_output_dir, DirLock};

use crate::signals::Stop;
use labelnoise_experiments::{
    find, run_experiments, Claim, Experiment, Options, Progress, REGISTRY,
};

/// `labelnoise reproduce`.
#[derive(Debug, Args)]
pub struct ReproduceArgs {
    /// The experiment, or `all` to run every one in this order.
    #[arg(value_name = "NAME", value_parser = experiment_names())]
    pub name: String,
    /// Output directory.
    #[arg(long, value_name = "DIR")]
    pub out: String,
    /// A smaller version that still tests every claim.
    #[arg(long)]
    pub quick: bool,
    /// Overwrite a non-empty output directory.
    #[arg(long)]
    pub force: bool,
}

/// The values of NAME: every experiment of the registry with its description, then
/// `all`.
fn experiment_names() -> PossibleValuesParser {
    let mut values: Vec<PossibleValue> = REGISTRY
        .iter()
        .map(|e| PossibleValue::new(e.name()).help(e.description()))
        .collect();
    values.push(PossibleValue::new("all").help("Every experiment above, in this order"));
    PossibleValuesParser::new(values)
}

/// Shows a spinner on a terminal while an experiment runs, then prints its claims.
struct Spinner<'a> {
    bar: Option<indicatif::ProgressBar>,
    out: &'a mut dyn Write,
}

impl Spinner<'_> {
    fn clear(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }
}

impl Progress for Spinner<'_> {
    fn started(&mut self, name: &str, opts: &Options) {
        self.clear();
        if std::io::stderr().is_terminal() {
            let bar = indicatif::ProgressBar::new_spinner();
            bar.set_message(format!(
                "{name}: running{}",
                if opts.quick { " (quick)" } else { "" }
            ));
            bar.enable_steady_tick(std::time::Duration::from_millis(200));
            self.bar = Some(bar);
        }
    }

    fn finished(
        &mut self,
        name: &str,
        claims: &[Claim],
        _wall_seconds: f64,
    ) -> std::io::Result<()> {
        self.clear();
        for c in claims {
            writeln!(self.out, "{name}: {} {}", c.verdict(), c.name)?;
        }
        Ok(())
    }
}

/// Runs `reproduce`.
pub fn run(args: &ReproduceArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    let experiments: Vec<&dyn Experiment> = match find(&args.name) {
        Some(e) => vec![e],
        // clap admits only the registry's names and `all`.
        None => REGISTRY.to_vec(),
    };
    let dir = Path::new(&args.out);
    check_output_dir(dir, "--out", args.force)?;
    // SIGINT and SIGTERM stop the running experiment at its runs' next stop.
    let stop = Stop::install()?;
    let opts = Options::new(args.quick).check()?.cancel_on(stop.token());
    // One writer per output directory, held until the report is written.
    let _lock = DirLock::acquire(dir)?;
    let mut spinner = Spinner { bar: None, out };
    let result = run_experiments(&args.name, &experiments, &opts, dir, &mut spinner);
    spinner.clear();
    if let Err(labelnoise_experiments::Error::Core(labelnoise_core::Error::Cancelled)) = &result {
        if let Some(e) = stop.interrupted(
            "stopped reproduce".to_string(),
            format!(
                "no report written to {} (figures of finished experiments kept); run it again",
                dir.display()
            ),
        ) {
            return Err(e.into());
        }
    }
    let summary = result?;
    writeln!(
        out,
        "{}: {}{} in {:.1} s; wrote {}",
        args.name,
        if summary.pass {
            "all claims pass"
        } else {
            "FAILED"
        },
        if summary.answered_no > 0 {
            format!(" ({} open question(s) answered no)", summary.answered_no)
        } else {
            String::new()
        },
        summary.wall_seconds,
        summary.report_html.display()
    )?;
    if !summary.pass {
        anyhow::bail!(
            "{} claim(s) failed: {} (see {})",
            summary.failed.len(),
            summary.failed.join(", "),
            summary.report_md.display()
        );
    }
    Ok(())
}
