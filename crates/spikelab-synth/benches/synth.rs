//! Throughput of the generators: spikes per second (Poisson, clean-mode sequences) at 10³ and
//! 10⁴ neurons, and LIF neuron-steps per second (neuLVM network, 1000 neurons).
//! Run: `cargo bench -p spikelab-synth --bench synth -- --quick`.
//!
//! `SPIKELAB_LIF_TABLE=RUNS cargo bench -p spikelab-synth --bench synth` instead prints the
//! LIF time per step (µs), wall clock and this thread's CPU time (Linux), as the minimum and
//! median over RUNS simulations of 1 s (5000 steps, setup included): the robust figures on a
//! shared machine, used for the comparison with the original NumPy simulator (docs/synth.md).

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

/// CPU time of this thread in ns (`clock_gettime(CLOCK_THREAD_CPUTIME_ID)`, the clock Python's
/// `time.process_time` reads for a process), Linux 64-bit only.
#[cfg(all(target_os = "linux", target_pointer_width = "64"))]
fn thread_cpu_ns() -> Option<f64> {
    #[repr(C)]
    struct Timespec {
        sec: i64,
        nsec: i64,
    }
    unsafe extern "C" {
        fn clock_gettime(clock: i32, tp: *mut Timespec) -> i32;
    }
    const CLOCK_THREAD_CPUTIME_ID: i32 = 3;
    let mut t = Timespec { sec: 0, nsec: 0 };
    // SAFETY: `t` is a valid, writable timespec (two 64-bit fields on 64-bit Linux).
    let rc = unsafe { clock_gettime(CLOCK_THREAD_CPUTIME_ID, &mut t) };
    (rc == 0).then_some(t.sec as f64 * 1e9 + t.nsec as f64)
}

#[cfg(not(all(target_os = "linux", target_pointer_width = "64")))]
fn thread_cpu_ns() -> Option<f64> {
    None
}

/// Wall and CPU seconds of `runs` simulations of `duration_s`, each sorted ascending.
fn lif_runs(duration_s: f64, runs: usize) -> (Vec<f64>, Vec<f64>) {
    let p = LifParams {
        duration_s,
        ..LifParams::default()
    };
    let mut wall = Vec::new();
    let mut cpu = Vec::new();
    for r in 0..runs.max(1) {
        let c0 = thread_cpu_ns();
        let t = std::time::Instant::now();
        black_box(p.generate(black_box(1 + r as u64 % 3)).unwrap());
        wall.push(t.elapsed().as_secs_f64());
        if let (Some(a), Some(b)) = (c0, thread_cpu_ns()) {
            cpu.push((b - a) * 1e-9);
        }
    }
    wall.sort_by(f64::total_cmp);
    cpu.sort_by(f64::total_cmp);
    (wall, cpu)
}

fn lif_table(runs: usize) {
    let us = |x: f64, steps: f64| x / steps * 1e6;
    let (wall, cpu) = lif_runs(1.0, runs);
    let cpu_txt = if cpu.is_empty() {
        String::new()
    } else {
        format!(
            "; CPU time min {:.3}, median {:.3}",
            us(cpu[0], 5000.0),
            us(cpu[cpu.len() / 2], 5000.0)
        )
    };
    println!(
        "lif 1000 neurons, {} runs of 1 s = 5000 steps, setup included: wall min {:.3}, median {:.3}{cpu_txt} us/step",
        wall.len(),
        us(wall[0], 5000.0),
        us(wall[wall.len() / 2], 5000.0)
    );
    // As scripts/lif_original_timing.py times the original: (best 1.2 s − best 0.2 s) / 5000.
    let (w_short, c_short) = lif_runs(0.2, runs);
    let (w_long, c_long) = lif_runs(1.2, runs);
    let cpu_txt = if c_short.is_empty() || c_long.is_empty() {
        String::new()
    } else {
        format!(", CPU {:.3}", us(c_long[0] - c_short[0], 5000.0))
    };
    println!(
        "lif 1000 neurons, per step without setup ((min of 1.2 s runs - min of 0.2 s runs) / 5000 steps): wall {:.3}{cpu_txt} us/step",
        us(w_long[0] - w_short[0], 5000.0)
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
