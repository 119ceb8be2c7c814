//! Criterion bench: a 60-s window of units or of a (time × ROIs) series read from NWB files of
//! two lengths (10× apart), against reading the longer file in full.
//! `cargo bench -p spikelab-data --bench nwb_window` (`-- --quick` in CI); results in
//! `docs/formats.md` ("Windowed reads").
//!
//! Files (written once into a temporary folder, setup time printed):
//! * units: 10 units firing at 10 Hz (Poisson), 10^6 spikes (10^4 s) and 10^7 spikes (10^5 s),
//!   and 100 units with 10^7 spikes (10^4 s), where each unit holds fewer spikes than two
//!   65 536-spike chunks, so a window of every unit touches most chunks anyway;
//! * ophys: float32 `RoiResponseSeries` of 1000 ROIs at 30 Hz, 10^4 and 10^5 frames, values on
//!   a 1/64 grid (compressible, so setup stays short).

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::time::Instant;

use criterion::{Criterion, criterion_group, criterion_main};
use ndarray::Array2;
use spikelab_data::io::nwb::{self, NwbWriteOptions, OphysDtype, OphysWriteOptions};
use spikelab_data::{CalciumTraces, SpikeTrains};

const WINDOW_S: f64 = 60.0;
const RATE_HZ: f64 = 10.0;
const FRAME_RATE_HZ: f64 = 30.0;
const ROIS: usize = 1000;

/// Poisson trains of `units` units at `RATE_HZ` holding about `spikes` spikes in all.
fn write_units_file(path: &Path, units: usize, spikes: usize) -> f64 {
    let duration = spikes as f64 / (units as f64 * RATE_HZ);
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut uniform = || {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        ((state >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    };
    let trains: Vec<Vec<f64>> = (0..units)
        .map(|_| {
            let mut t = Vec::with_capacity(spikes / units + 1000);
            let mut now = -uniform().ln() / RATE_HZ;
            while now < duration {
                t.push(now);
                now += -uniform().ln() / RATE_HZ;
            }
            t
        })
        .collect();
    let st = SpikeTrains::new(trains, 0.0, duration).expect("valid trains");
    nwb::write_units(path, &st, &NwbWriteOptions::new("bench")).expect("write units");
    duration
}

fn write_ophys_file(path: &Path, frames: usize) -> f64 {
    let data = Array2::from_shape_fn((frames, ROIS), |(t, j)| {
        ((t as f64 * 0.05 + j as f64).sin() * 64.0).round() / 64.0
    });
    let tr = CalciumTraces::new(data, FRAME_RATE_HZ).expect("valid traces");
    let mut opts = OphysWriteOptions::new("bench");
    opts.dtype = OphysDtype::F32;
    nwb::write_ophys(path, &tr, &opts).expect("write ophys");
    frames as f64 / FRAME_RATE_HZ
}

struct Files {
    _dir: tempfile::TempDir,
    /// `(label, path, duration)`.
    units: Vec<(&'static str, PathBuf, f64)>,
    units_100: (PathBuf, f64),
    ophys: Vec<(&'static str, PathBuf, f64)>,
}

fn setup() -> Files {
    let dir = tempfile::tempdir().expect("temp dir");
    let start = Instant::now();
    let units = [("1e6", 1_000_000), ("1e7", 10_000_000)]
        .into_iter()
        .map(|(label, n)| {
            let p = dir.path().join(format!("units_{label}.nwb"));
            let d = write_units_file(&p, 10, n);
            (label, p, d)
        })
        .collect();
    let p100 = dir.path().join("units_100x_1e7.nwb");
    let d100 = write_units_file(&p100, 100, 10_000_000);
    let ophys = [("1e4", 10_000), ("1e5", 100_000)]
        .into_iter()
        .map(|(label, n)| {
            let p = dir.path().join(format!("ophys_{label}.nwb"));
            let d = write_ophys_file(&p, n);
            (label, p, d)
        })
        .collect();
    eprintln!(
        "nwb_window setup: files written in {:.1} s",
        start.elapsed().as_secs_f64()
    );
    Files {
        _dir: dir,
        units,
        units_100: (p100, d100),
        ophys,
    }
}

fn bench(c: &mut Criterion) {
    let files = setup();

    let mut g = c.benchmark_group("units_window_60s");
    g.sample_size(20);
    for (label, path, duration) in &files.units {
        let t0 = 0.5 * duration;
        g.bench_function(*label, |b| {
            b.iter(|| black_box(nwb::read_units_window(path, t0, t0 + WINDOW_S).unwrap()))
        });
    }
    g.finish();

    let mut g = c.benchmark_group("units_window_60s_100units");
    g.sample_size(10);
    let (path, duration) = &files.units_100;
    let t0 = 0.5 * duration;
    g.bench_function("1e7", |b| {
        b.iter(|| black_box(nwb::read_units_window(path, t0, t0 + WINDOW_S).unwrap()))
    });
    g.finish();

    let mut g = c.benchmark_group("units_full");
    g.sample_size(10);
    let (_, path, _) = &files.units[1];
    g.bench_function("1e7", |b| {
        b.iter(|| black_box(nwb::read_units(path).unwrap()))
    });
    g.finish();

    let mut g = c.benchmark_group("ophys_window_60s");
    g.sample_size(20);
    for (label, path, duration) in &files.ophys {
        let t0 = 0.5 * duration;
        g.bench_function(*label, |b| {
            b.iter(|| black_box(nwb::read_ophys_window(path, None, t0, t0 + WINDOW_S).unwrap()))
        });
    }
    g.finish();

    let mut g = c.benchmark_group("ophys_full");
    g.sample_size(10);
    let (_, path, _) = &files.ophys[1];
    g.bench_function("1e5", |b| {
        b.iter(|| black_box(nwb::read_ophys(path).unwrap()))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
