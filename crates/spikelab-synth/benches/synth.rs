//! Throughput of the generators: spikes per second (Poisson, clean-mode sequences) at 10³ and
//! 10⁴ neurons, and LIF neuron-steps per second (neuLVM network, 1000 neurons).
//! Run: `cargo bench -p spikelab-synth --bench synth -- --quick`.
//!
//! `SPIKELAB_LIF_TABLE=RUNS cargo bench -p spikelab-synth --bench synth` instead prints the
//! LIF time per step (µs) as the minimum and median over RUNS simulations of 1 s (5000 steps,
//! setup included), the robust figure on a shared machine; used for the comparison with the
//! original NumPy simulator (docs/synth.md).

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group};
use spikelab_synth::{LifParams, PoissonParams, RateModel, SequenceParams, SequenceType};

fn poisson(c: &mut Criterion) {
    let mut g = c.benchmark_group("poisson");
    for n in [1_000usize, 10_000] {
        // 20 Hz for 100 s (10³) or 10 s (10⁴): 2·10⁶ spikes either way.
        let dur = 2e6 / (n as f64 * 20.0);
        let p = PoissonParams::constant(vec![20.0; n], dur);
        g.throughput(Throughput::Elements(2_000_000));
        g.bench_function(format!("spikes_{n}_neurons"), |b| {
            b.iter(|| black_box(p.generate(black_box(1)).unwrap()))
        });
    }
    g.finish();
}

fn sequences(c: &mut Criterion) {
    let mut g = c.benchmark_group("sequences");
    for n in [1_000usize, 10_000] {
        // ≈ 10⁶ background spikes at 0.01 spikes/bin, one 100-member type every 1000 bins.
        let bins = (1e6 / (n as f64 * 0.01)) as u64;
        let p = SequenceParams {
            n_neurons: n,
            n_bins: bins,
            rates: RateModel::Constant { per_bin: 0.01 },
            types: vec![SequenceType {
                n_members: 100,
                occurrences: spikelab_synth::Occurrences::Regular {
                    gap_bins: 1000,
                    first_onset_bin: 0,
                },
                ..SequenceType::default()
            }],
            ..SequenceParams::default()
        };
        let spikes = p.generate(1).unwrap().0.total_spikes();
        g.throughput(Throughput::Elements(spikes));
        g.bench_function(format!("spikes_{n}_neurons"), |b| {
            b.iter(|| black_box(p.generate(black_box(1)).unwrap()))
        });
    }
    g.finish();
}

fn lif(c: &mut Criterion) {
    let mut g = c.benchmark_group("lif");
    g.sample_size(10);
    // neuLVM network (1000 neurons), 1 s = 5000 steps of 0.2 ms.
    let p = LifParams {
        duration_s: 1.0,
        ..LifParams::default()
    };
    g.throughput(Throughput::Elements(1000 * 5000));
    g.bench_function("neuron_steps_1000_neurons", |b| {
        b.iter(|| black_box(p.generate(black_box(1)).unwrap()))
    });
    g.finish();
}

fn lif_table(runs: usize) {
    let p = LifParams {
        duration_s: 1.0,
        ..LifParams::default()
    };
    let steps = p.n_steps() as f64;
    let mut us: Vec<f64> = (0..runs.max(1))
        .map(|r| {
            let t = std::time::Instant::now();
            black_box(p.generate(black_box(1 + r as u64 % 3)).unwrap());
            t.elapsed().as_secs_f64() / steps * 1e6
        })
        .collect();
    us.sort_by(f64::total_cmp);
    println!(
        "lif 1000 neurons, {} runs of {steps} steps: min {:.3} us/step, median {:.3} us/step",
        us.len(),
        us[0],
        us[us.len() / 2]
    );
}

criterion_group!(benches, poisson, sequences, lif);

fn main() {
    if let Some(runs) = std::env::var("SPIKELAB_LIF_TABLE")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        lif_table(runs);
        return;
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
