//! `labelnoise reproduce NAME --out DIR [--quick]`: runs an experiment of
//! `labelnoise_core::experiments`, draws its figures (PNG and SVG), and writes
//! `summary.json` (every claim with a boolean `pass`), `report.md` and `report.html`.
//! Exits with status 1 when a claim fails, naming the failing claims.

mod common;
mod deep;
mod explicit;
mod fig1;
mod fig2;
mod generalization;
mod lemma5;
mod lemma6;
mod one_layer;
mod settle_vs_sgd;
mod theorem1;
mod theorem3;

use common::*;

/// `labelnoise reproduce`.
#[derive(Debug, Args)]
pub struct ReproduceArgs {
    /// The experiment: fig1, fig2, one-layer, theorem1, theorem3, lemma5, lemma6, explicit,
    /// generalization, deep, settle, or all.
    #[arg(value_name = "NAME")]
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
    /// Testing aid: multiply every step count by this (the claims are then not expected
    /// to hold; 1 runs the documented experiment).
    #[arg(long, value_name = "S", default_value_t = 1.0, hide = true)]
    pub steps_scale: f64,
}

/// Runs `reproduce`.
pub fn run(args: &ReproduceArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    let names: Vec<&str> = match args.name.as_str() {
        "all" => experiments::ALL.to_vec(),
        n if experiments::NAMES.contains(&n) => vec![n],
        n => {
            return Err(UsageError(format!(
                "NAME: unknown experiment {n:?}; available: {}, all",
                experiments::NAMES.join(", ")
            ))
            .into())
        }
    };
    let opts = Options {
        quick: args.quick,
        steps_scale: args.steps_scale,
    };
    opts.check()?;
    let dir = Path::new(&args.out);
    check_output_dir(dir, "--out", args.force)?;
    std::fs::create_dir_all(dir)
        .map_err(|e| anyhow::anyhow!("{}: cannot create directory: {e}", dir.display()))?;

    let start = Instant::now();
    let mut sections = Vec::new();
    let mut results = Vec::new();
    for name in &names {
        let t = Instant::now();
        let spinner = if std::io::stderr().is_terminal() {
            let bar = indicatif::ProgressBar::new_spinner();
            bar.set_message(format!(
                "{name}: running{}",
                if opts.quick { " (quick)" } else { "" }
            ));
            bar.enable_steady_tick(std::time::Duration::from_millis(200));
            bar
        } else {
            indicatif::ProgressBar::hidden()
        };
        let outcome = experiments::run(name, &opts);
        spinner.finish_and_clear();
        let outcome = outcome?;
        let wall = t.elapsed().as_secs_f64();
        let section = section(&outcome, wall, dir)?;
        for c in &section.claims {
            writeln!(out, "{name}: {} {}", c.verdict(), c.name)?;
        }
        results.push(json!({
            "experiment": name,
            "pass": section.pass(),
            "wall_seconds": wall,
            "claims": section.claims,
            "results": outcome,
        }));
        sections.push(section);
    }
    let total = start.elapsed().as_secs_f64();
    let pass = sections.iter().all(Section::pass);
    let summary = json!({
        "name": args.name,
        "version": env!("CARGO_PKG_VERSION"),
        "quick": args.quick,
        "steps_scale": args.steps_scale,
        "pass": pass,
        "wall_seconds": total,
        "claims": sections.iter().flat_map(|s| s.claims.iter().map(move |c| json!({
            "experiment": s.name, "name": c.name, "kind": c.kind, "expectation": c.expectation,
            "measured": c.measured, "pass": c.pass}))).collect::<Vec<_>>(),
        "experiments": results,
    });
    let mut text = serde_json::to_string_pretty(&summary)?;
    text.push('\n');
    write_atomic(&dir.join("summary.json"), text.as_bytes())?;
    let title = format!(
        "labelnoise reproduce {}{}",
        args.name,
        if args.quick { " --quick" } else { "" }
    );
    let header = header(args, total);
    write_atomic(
        &dir.join("report.md"),
        markdown(&title, &header, &sections).as_bytes(),
    )?;
    write_atomic(
        &dir.join("report.html"),
        html(&title, &header, &sections).as_bytes(),
    )?;
    let answered_no = sections
        .iter()
        .flat_map(|s| &s.claims)
        .filter(|c| c.kind == ClaimKind::Question && !c.pass)
        .count();
    writeln!(
        out,
        "{}: {}{} in {total:.1} s; wrote {}",
        args.name,
        if pass { "all claims pass" } else { "FAILED" },
        if answered_no > 0 {
            format!(" ({answered_no} open question(s) answered no)")
        } else {
            String::new()
        },
        dir.join("report.html").display()
    )?;
    if !pass {
        let failed: Vec<String> = sections
            .iter()
            .flat_map(|s| {
                s.claims
                    .iter()
                    .filter(|c| c.fails())
                    .map(move |c| format!("{}/{}", s.name, c.name))
            })
            .collect();
        anyhow::bail!(
            "{} claim(s) failed: {} (see {})",
            failed.len(),
            failed.join(", "),
            dir.join("report.md").display()
        );
    }
    Ok(())
}

fn header(args: &ReproduceArgs, total: f64) -> Vec<String> {
    let mut h = vec![format!(
        "Blanc, Gupta, Valiant, Valiant, \"Implicit regularization for deep neural networks driven \
         by an Ornstein-Uhlenbeck like process\", reproduced by labelnoise {} (`labelnoise reproduce {}{}`). \
         Total wall time {total:.1} s. Every number below is in `summary.json`; every run is \
         reproducible from its seed. A claim of the paper (or a guarantee of this \
         implementation) is PASS or FAIL; an open question the paper points at (a conjecture, \
         or a goal beyond it) is answered YES or NO, and a NO is a result, not a failure.",
        env!("CARGO_PKG_VERSION"),
        args.name,
        if args.quick { " --quick" } else { "" }
    )];
    if args.steps_scale != 1.0 {
        h.push(format!(
            "Step counts were multiplied by {} (a testing aid): these are not the documented runs.",
            args.steps_scale
        ));
    }
    h
}

fn section(outcome: &Outcome, wall: f64, dir: &Path) -> anyhow::Result<Section> {
    match outcome {
        Outcome::Fig1(r) => fig1::fig1_section(r, wall, dir),
        Outcome::Fig2(r) => fig2::fig2_section(r, wall, dir),
        Outcome::OneLayer(r) => one_layer::one_layer_section(r, wall, dir),
        Outcome::Theorem1(r) => theorem1::theorem1_section(r, wall, dir),
        Outcome::Theorem3(r) => theorem3::theorem3_section(r, wall, dir),
        Outcome::Lemma5(r) => lemma5::lemma5_section(r, wall, dir),
        Outcome::Lemma6(r) => lemma6::lemma6_section(r, wall, dir),
        Outcome::Explicit(r) => explicit::explicit_section(r, wall, dir),
        Outcome::Generalization(r) => generalization::generalization_section(r, wall, dir),
        Outcome::Deep(r) => deep::deep_section(r, wall, dir),
        Outcome::Settle(r) => settle_vs_sgd::settle_section(r, wall, dir),
    }
}
