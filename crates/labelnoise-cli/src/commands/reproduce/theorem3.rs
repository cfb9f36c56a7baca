//! The report section of Theorem 3: figures, tables and claims.

use super::common::*;

pub(super) fn theorem3_section(r: &Theorem3, wall: f64, dir: &Path) -> anyhow::Result<Section> {
    use experiments::theorem3::Run;
    let s = &r.setup;
    let scatter = |title: &str, noise: &[Run], plain: &[Run], legend: Legend| {
        let (Some(n), Some(p)) = (noise.first(), plain.first()) else {
            return Panel::default();
        };
        let pts = |c: &[f64], h: &[f64]| c.iter().copied().zip(h.iter().copied()).collect();
        Panel {
            title: format!("{title} (seed {})", n.seed),
            x_label: "output weight c_i".into(),
            y_label: "activation h_i on x".into(),
            series: vec![
                Series::new(
                    Some("start"),
                    pts(&n.c_start, &n.h_start),
                    color(7),
                    Style::Points,
                ),
                Series::new(
                    Some(&format!("plain SGD, step {}", p.steps)),
                    pts(&p.c_end, &p.h_end),
                    color(1),
                    Style::Points,
                ),
                Series::new(
                    Some(&format!("label noise, step {}", n.steps)),
                    pts(&n.c_end, &n.h_end),
                    color(0),
                    Style::Points,
                ),
            ],
            legend,
            ..Panel::default()
        }
    };
    let classes = |title: &str, noise: &[Run], plain: &[Run]| {
        let mut series = Vec::new();
        for (k, run) in noise.iter().chain(plain).enumerate() {
            let is_noise = run.noise > 0.0;
            let first = k == 0 || (!is_noise && k == noise.len());
            series.push(Series::new(
                first.then_some(if is_noise { "label noise" } else { "plain SGD" }),
                run.history
                    .iter()
                    .filter(|u| u.step >= 1)
                    .map(|u| (u.step as f64, u.classes as f64))
                    .collect(),
                if is_noise { color(0) } else { color(1) },
                Style::Line,
            ));
        }
        let last = noise
            .iter()
            .chain(plain)
            .map(|x| x.steps)
            .max()
            .unwrap_or(1) as f64;
        series.push(Series::new(
            Some("Theorem 3 bound: 2"),
            vec![(1.0, 2.0), (last, 2.0)],
            color(2),
            Style::Dashed,
        ));
        Panel {
            title: format!("{title}: live classes (tolerance {})", s.tol),
            x_label: "iteration".into(),
            y_label: "live unit classes".into(),
            x_log: true,
            series,
            legend: Legend::LowerLeft,
            ..Panel::default()
        }
    };
    let fig = Figure {
        name: "theorem3".into(),
        title: "Theorem 3: hidden units (c_i, h_i) of 2-layer tanh and logistic nets on one point"
            .into(),
        panels: vec![
            scatter("tanh", &r.tanh_noise, &r.tanh_plain, Legend::LowerRight),
            scatter(
                "logistic",
                &r.logistic_noise,
                &r.logistic_plain,
                Legend::UpperRight,
            ),
            classes("tanh", &r.tanh_noise, &r.tanh_plain),
            classes("logistic", &r.logistic_noise, &r.logistic_plain),
        ],
        cols: 2,
        panel_size: (620, 460),
    };
    let describe = |rs: &[Run]| {
        rs.iter()
            .map(|x| {
                let l = x.last();
                format!(
                    "seed {}: {} classes, {} dead, loss {:.1e} ({:.1e} after {} noise-free steps), \
                     Theorem 3 {} (from step {}), mean gap to the non-repellent relation {:.3} -> {:.3}{}, \
                     {:.2} s",
                    x.seed,
                    l.classes,
                    l.dead,
                    l.loss,
                    x.settled.loss,
                    experiments::theorem3::SETTLE_STEPS,
                    if l.theorem3 { "holds" } else { "fails" },
                    x.theorem3_from
                        .map_or("-".to_string(), |t| t.to_string()),
                    x.history[0].stationary_gap,
                    l.stationary_gap,
                    if l.classes <= 2 {
                        format!(
                            ", classes (c, h, size) {} with spreads (c, h) {}",
                            x.classes_end
                                .iter()
                                .map(|(c, h, m)| format!("({c:.3}, {h:.4}, {m})"))
                                .collect::<Vec<_>>()
                                .join(" "),
                            x.class_spread
                                .iter()
                                .map(|(c, h)| format!("({c:.2e}, {h:.2e})"))
                                .collect::<Vec<_>>()
                                .join(" ")
                        )
                    } else {
                        String::new()
                    },
                    x.wall_seconds
                )
            })
            .collect::<Vec<_>>()
            .join("; ")
    };
    let intro = vec![format!(
        "Network: f(x) = sum_i c_i act(w_i . x) with {} hidden units, no biases (as in the paper's \
         Appendix B), d = {}, trained on the single point x = {:?}, y = {} (|x| = {:.3}). \
         Initialisation: PyTorch's U(+-1/sqrt(fan_in)). SGD: eta = {}, label noise +-sigma \
         (Rademacher) with sigma = {} (eta^2 sigma^2 = {:.0e}: the slow phase has time scale \
         1/(eta^2 sigma^2) = {:.0e} steps); plain SGD (sigma = 0) from the same initialisations for \
         contrast. tanh runs: {} steps; logistic runs: {} steps (the logistic drift toward eq. 18 is \
         far slower), {} seeds each. Units are grouped by `units::unit_report` with tolerance {}: \
         h within {} and c within {} x max(1, max |c|); dead = c and h both within tolerance of 0. \
         Units of one class get identical gradients, so the label-noise jitter does not split \
         classes. Classes are single-linkage components, so the members of one class can spread \
         further than the tolerance (the spread is reported). The time to reach at most two classes \
         is the first recorded step (80 log-spaced records) from which the verdict holds to the end. \
         The fit is checked after 5000 further noise-free steps, which remove the label-noise \
         jitter (units of one class get identical gradients and dead units none, so the classes \
         are unchanged).",
        s.width,
        s.x.len(),
        s.x,
        s.y,
        s.x_norm(),
        s.lr,
        s.noise,
        s.lr * s.lr * s.noise * s.noise,
        1.0 / (s.lr * s.lr * s.noise * s.noise),
        s.tanh_steps,
        s.logistic_steps,
        s.seeds,
        s.tol,
        s.tol,
        s.tol
    )];
    let xn = s.x_norm();
    let eq18 = r
        .logistic_noise
        .iter()
        .flat_map(|x| x.classes_end.iter().map(move |k| (x.seed, k)))
        .map(|(seed, &(c, h, m))| {
            let o = c * h;
            let hs = labelnoise_core::units::logistic_stationary_h(o, xn);
            format!(
                "seed {seed}: {m} units at (c, h) = ({c:.3}, {h:.4}), o = c h = {o:.4}, where eq. 18 \
                 wants h = {hs:.4} and c = o / h = {:.2}",
                o / hs
            )
        })
        .collect::<Vec<_>>()
        .join("; ");
    let notes = vec![
        format!("tanh, label noise: {}.", describe(&r.tanh_noise)),
        format!("tanh, plain SGD: {}.", describe(&r.tanh_plain)),
        format!("logistic, label noise: {}.", describe(&r.logistic_noise)),
        format!("logistic, plain SGD: {}.", describe(&r.logistic_plain)),
        format!(
            "Logistic: with label noise all the units merge into one or two classes that share the \
             output y about equally (for the logistic regularizer R_o(o) = o^2|x|^2/(1 + o^2|x|^2), \
             which is quadratic near 0, spreading the output over all units costs least), but within \
             the budget they have not reached the non-repellent relation of eq. 18, which for so \
             small an o requires tiny activations and large output weights: {eq18}. The drift \
             continues along that direction (the mean gap falls throughout the run) but slows as the \
             activations shrink. So the two-class statement holds here while the units are still \
             moving: at most two classes is necessary for a non-repellent point, not sufficient."
        ),
        "tanh: the live units collapse to a single class carrying the whole output and the other \
         units die (c = h = 0), as R_o for tanh grows like |o| near 0 (concave), so concentrating \
         the output costs least; the surviving class also sits on the non-repellent relation of \
         eq. 20 (h^2 = sqrt(o^2|x|^2/(1 + o^2|x|^2))) to within the mean gap |h^2 - h*^2| reported \
         above."
            .to_string(),
    ];
    Ok(Section {
        name: "theorem3".into(),
        title: "Theorem 3: tanh and logistic networks on one point".into(),
        wall_seconds: wall,
        intro,
        claims: r.claims.clone(),
        figures: vec![figure(
            fig,
            "Top: (c_i, h_i) of every hidden unit at the start (grey) and at the end of plain SGD \
             (orange) and of label-noise SGD (blue), first seed; units of one class sit on one point. \
             Bottom: the number of live classes against iteration for every seed (dashed: Theorem 3's \
             bound of two)."
                .into(),
            dir,
        )?],
        notes,
    })
}
