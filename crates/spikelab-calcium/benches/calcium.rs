//! Criterion benches: inference throughput (samples/s) of the per-window and the
//! fully-convolutional evaluation, and training steps/s (batch 256).
//!
//! ```text
//! cargo bench -p spikelab-calcium --bench calcium -- --quick
//! ```
//! The 1-hour × 100-neuron figure of `docs/calcium.md` comes from
//! `examples/calcium_speed.rs` (one run takes minutes); here one neuron-hour (360 000 samples)
//! is the fully-convolutional unit, which has the same per-sample cost (chunks of 4096 windows).

use std::hint::black_box;

use candle_core::Device;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use spikelab_calcium::train::{TrainConfig, TrainingData, train};
use spikelab_calcium::{ElephantCnn, ElephantWeights, Evaluation};
use spikelab_data::CalciumTraces;
use spikelab_datasets::{self as datasets, Split};

fn recording(neurons: usize, frames: usize) -> CalciumTraces {
    let src = spikelab_data::io::csv::read_calcium(
        &datasets::spikefinder_calcium(4, Split::Test).unwrap(),
        100.0,
    )
    .unwrap();
    let base: Vec<f64> = src.trace(0).to_vec();
    let cols: Vec<Vec<f64>> = (0..neurons)
        .map(|j| {
            (0..frames)
                .map(|i| base[(i + 997 * j) % base.len()])
                .collect()
        })
        .collect();
    CalciumTraces::from_columns(&cols, 100.0).unwrap()
}

fn inference(c: &mut Criterion) {
    let cnn = ElephantCnn::embedded(1).unwrap();
    let mut g = c.benchmark_group("calcium_inference");
    g.sample_size(10);
    // Fully convolutional, gemm kernel: 2 neurons × 1 h (rayon splits neurons and chunks).
    let hour = recording(2, 360_000);
    g.throughput(Throughput::Elements(
        (hour.n_frames() * hour.n_neurons()) as u64,
    ));
    g.bench_function("fully_conv_cpu_2x1h", |b| {
        b.iter(|| black_box(cnn.predict(black_box(&hour)).unwrap()))
    });
    // Per-window reference (Keras-style): 2 neurons × 20 s.
    let short = recording(2, 2000);
    let pw = cnn.clone().with_evaluation(Evaluation::PerWindow);
    g.throughput(Throughput::Elements(
        (short.n_frames() * short.n_neurons()) as u64,
    ));
    g.bench_function("per_window_cpu_2x20s", |b| {
        b.iter(|| black_box(pw.predict(black_box(&short)).unwrap()))
    });
    g.bench_function("fully_conv_candle_cpu_2x20s", |b| {
        let fc = cnn.clone().with_candle_kernels(true);
        b.iter(|| black_box(fc.predict(black_box(&short)).unwrap()))
    });
    g.finish();
}

fn training(c: &mut Criterion) {
    let mut d = TrainingData::new();
    d.add_set(&spikelab_datasets::calcium::spikefinder_csv(4, Split::Train).unwrap())
        .unwrap();
    let w = ElephantWeights::glorot_uniform(0);
    let mut g = c.benchmark_group("calcium_training");
    g.sample_size(10);
    g.throughput(Throughput::Elements(2));
    g.bench_function("adagrad_steps_batch256", |b| {
        let cfg = TrainConfig {
            max_steps: Some(2),
            ..TrainConfig::default()
        };
        b.iter(|| black_box(train(&w, &d, &cfg, &Device::Cpu, |_| {}).unwrap()))
    });
    g.finish();
}

criterion_group!(benches, inference, training);
criterion_main!(benches);
