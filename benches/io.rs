//! Read/write throughput of the data formats (spikes or samples per second).
//!
//! `cargo bench --bench io -- --quick`

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use spikelab_data::{SpikeTrains, io};
use spikelab_datasets as datasets;

/// Deterministic spike trains: `n_units` units at `rate_hz` over `duration_s`, regular with
/// a per-unit phase (no RNG needed for I/O throughput).
fn trains(n_units: usize, rate_hz: f64, duration_s: f64) -> SpikeTrains {
    let isi = 1.0 / rate_hz;
    let t = (0..n_units)
        .map(|u| {
            let phase = (u as f64 * 0.618_033_988_7).fract() * isi;
            let n = ((duration_s - phase) / isi).floor() as usize;
            (0..n).map(|k| phase + k as f64 * isi).collect()
        })
        .collect();
    SpikeTrains::new(t, 0.0, duration_s).expect("valid trains")
}

fn bench_npy(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let mut g = c.benchmark_group("npy_raster");
    for &n_units in &[100usize, 1000] {
        let st = trains(n_units, 5.0, 600.0);
        let raster = st.bin(0.01).unwrap();
        let spikes = st.total_spikes() as u64;
        g.throughput(Throughput::Elements(spikes));
        let p = dir.path().join(format!("r{n_units}.npy"));
        g.bench_with_input(BenchmarkId::new("write", n_units), &raster, |b, r| {
            b.iter(|| io::npy::write(&p, r.counts(), true).unwrap())
        });
        g.bench_with_input(BenchmarkId::new("read", n_units), &p, |b, p| {
            b.iter(|| black_box(io::npy::read_raster(p, 0.01).unwrap()))
        });
    }
    g.finish();
}

fn bench_csv(c: &mut Criterion) {
    let p = datasets::spikefinder_calcium(5, datasets::Split::Test).unwrap();
    let t = io::csv::read_calcium(&p, 100.0).unwrap();
    let mut g = c.benchmark_group("spikefinder_csv");
    g.throughput(Throughput::Elements((t.n_frames() * t.n_neurons()) as u64));
    g.bench_function("read_calcium_gz", |b| {
        b.iter(|| black_box(io::csv::read_calcium(&p, 100.0).unwrap()))
    });
    g.finish();
}

fn bench_binning(c: &mut Criterion) {
    let st = trains(1000, 5.0, 600.0);
    let mut g = c.benchmark_group("binning");
    g.throughput(Throughput::Elements(st.total_spikes() as u64));
    g.bench_function("sparse_1ms", |b| {
        b.iter(|| black_box(st.bin_sparse(0.001).unwrap()))
    });
    g.bench_function("dense_10ms", |b| {
        b.iter(|| black_box(st.bin(0.01).unwrap()))
    });
    g.finish();
}

criterion_group!(benches, bench_npy, bench_csv, bench_binning);
criterion_main!(benches);
