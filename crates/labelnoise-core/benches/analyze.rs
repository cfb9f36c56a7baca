//! `cargo bench -p labelnoise-core --bench analyze`: wall time and peak memory of
//! `analysis::analyze` on the two workloads, plus the parts it is made of.
//!
//! Also the QR of Jᵀ alone, by the thin kernel (`householder::ThinQr`) against faer's
//! blocked QR in the same run.
//!
//! Prints a table; timings are the median of several runs on whatever else this shared
//! machine is doing, so compare figures from the same run, not across runs.

use std::time::Instant;

use faer::dyn_stack::{MemBuffer, MemStack};
use faer::linalg::qr::no_pivoting::factor as qr;
use faer::{MatMut, Par};
use labelnoise_core::analysis::{analyze, AnalyzeOptions};
use labelnoise_core::householder::ThinQr;
use labelnoise_core::regularizer::Batch;
use labelnoise_core::stability::NullSpace;
use labelnoise_core::{Activation, Architecture, Dataset, Network};

fn kib(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// Resets the peak-RSS counter (VmHWM) so it measures only what follows.
fn reset_peak() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

fn lcg(state: &mut u64) -> f64 {
    *state = state
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    ((*state >> 11) as f64 / (1u64 << 53) as f64) * 2.0 - 1.0
}

fn network(hidden: Vec<usize>, activation: Activation) -> Network {
    let mut s = 1u64;
    Architecture {
        input_dim: 1,
        hidden,
        activation,
        hidden_bias: true,
        output_bias: true,
        skip: true,
        frozen_layers: vec![],
        frozen_skip: false,
    }
    .build(|_, fan_in, _| lcg(&mut s) / (fan_in as f64).sqrt())
    .expect("valid architecture")
}

fn median_ms(runs: usize, mut f: impl FnMut()) -> f64 {
    let mut t: Vec<f64> = (0..runs)
        .map(|_| {
            let start = Instant::now();
            f();
            start.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    t.sort_by(|a, b| a.total_cmp(b));
    t[runs / 2]
}

fn workload(name: &str, net: &Network, data: &Dataset, budget_ms: f64, runs: usize) {
    let (n, p) = (data.len(), net.param_count());
    let opts = AnalyzeOptions::default();
    // Peak memory of one analysis, above what the network and data already hold.
    let before = kib("VmRSS:");
    reset_peak();
    let report = analyze(net, data, &opts).expect("analysis runs");
    let peak = kib("VmHWM:").saturating_sub(before) * 1024;
    let total = median_ms(runs, || {
        analyze(net, data, &opts).expect("analysis runs");
    });
    let batch_ms = median_ms(runs, || {
        Batch::new(net, data).expect("batch");
    });
    let batch = Batch::new(net, data).expect("batch");
    let grad_ms = median_ms(runs, || {
        batch.reg_gradient(net);
    });
    let jt_ms = median_ms(runs, || {
        batch.jacobian_transposed(net);
    });
    let qr_ms = median_ms(runs, || {
        NullSpace::from_jacobian_transposed(batch.jacobian_transposed(net), p, n).expect("qr");
    }) - jt_ms;
    // The QR alone: the thin kernel NullSpace uses for n ≤ 64, and faer's blocked QR
    // (what it used before, and still uses for more columns) on the same Jᵀ.
    let thin_ms = median_ms(runs, || {
        std::hint::black_box(ThinQr::factor(batch.jacobian_transposed(net), p, n));
    }) - jt_ms;
    let faer_ms = median_ms(runs, || {
        let mut jt = batch.jacobian_transposed(net);
        let block = qr::recommended_block_size::<f64>(p, n);
        let mut hh = faer::Mat::<f64>::zeros(block, p.min(n));
        let mut mem = MemBuffer::new(qr::qr_in_place_scratch::<f64>(
            p,
            n,
            block,
            Par::Seq,
            Default::default(),
        ));
        qr::qr_in_place(
            MatMut::from_column_major_slice_mut(&mut jt, p, n),
            hh.as_mut(),
            Par::Seq,
            MemStack::new(&mut mem),
            Default::default(),
        );
        std::hint::black_box((jt, hh));
    }) - jt_ms;
    println!("{name}");
    println!("  n = {n}, p = {p}, verdict {}", report.verdict.name());
    println!(
        "  analyze total      {total:10.2} ms   (budget {budget_ms} ms, {:.2}x of budget)",
        total / budget_ms
    );
    println!("    forward+backward {batch_ms:10.2} ms");
    println!("    reg gradient     {grad_ms:10.2} ms");
    println!("    build J^T        {jt_ms:10.2} ms");
    println!("    QR + SVD of J    {qr_ms:10.2} ms");
    println!(
        "    QR of J^T alone: thin kernel {thin_ms:.3} ms, faer blocked {faer_ms:.3} ms ({:.1}x)",
        faer_ms / thin_ms
    );
    println!(
        "  peak memory        {:10.1} MB   (budget 20·n·p = {:.1} MB, {:.2} n·p bytes)",
        peak as f64 / 1e6,
        20.0 * (n * p) as f64 / 1e6,
        peak as f64 / (n * p) as f64
    );
}

fn main() {
    let data = Dataset::new(
        1,
        (0..12).map(|i| -1.0 + 2.0 * i as f64 / 11.0).collect(),
        (0..12).map(|i| ((i as f64) * 0.7).sin()).collect(),
        "bench",
    )
    .expect("valid data");
    // The small workload first: freed memory stays in the process, so a later peak
    // would not show it.
    let wide = network(vec![10_000], Activation::Relu);
    workload(
        "1-D one-hidden-layer width-10,000 relu, n = 12",
        &wide,
        &data,
        50.0,
        11,
    );
    drop(wide);
    let deep = network(vec![1000, 1000, 1000], Activation::Tanh);
    workload("depth-3 width-1000 tanh, n = 12", &deep, &data, 1000.0, 5);
}
