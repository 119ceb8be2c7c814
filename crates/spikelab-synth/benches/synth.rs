//! Throughput of the generators: spikes per second (Poisson, clean-mode sequences) at 10³ and
//! 10⁴ neurons, and LIF neuron-steps per second (neuLVM network, 1000 neurons).
//! Run: `cargo bench -p spikelab-synth --bench synth -- --quick`.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
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

criterion_group!(benches, poisson, sequences, lif);
criterion_main!(benches);
