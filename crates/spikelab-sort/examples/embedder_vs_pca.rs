//! Trains SimSort's GRU embedder (triplet loss) on generated tetrode recordings and compares
//! the clustering of its embeddings with the sorter's PCA features on held-out recordings, both
//! given the ground-truth spike times (so only the features differ).
//!
//! ```text
//! cargo run --release -p spikelab-sort --example embedder_vs_pca -- \
//!     [--train-seeds 8] [--train-duration-s 60] [--test-duration-s 60] [--steps 300] \
//!     [--batch 32] [--hidden 64] [--per-unit 300] [--device cpu|cuda[:N]]
//! ```
//!
//! Training recordings use seeds 1..=N of `GroundTruthParams::tetrode_benchmark`, the test
//! recordings seeds 1001–1005 (the sorting protocol's held-out seeds). Snippets are those of the
//! sorter (its preprocessing, 60 samples around each true spike). Each test recording is
//! clustered twice with the sorter's mean shift: on 4 standardised PCA scores of the snippets,
//! and on 4 standardised PCA scores of the embeddings (embedded in batches of 256, the
//! reference's inference batch); the table gives spikeinterface's mean accuracy of each.
//! Training uses lr 1e-3 (the reference: 1e-4 over 10 epochs), halved every third of the run,
//! and augmentation noise σ = 0.4 (the reference's 4 µV on σ = 10 µV recordings, as our snippets
//! are z-scored).
use std::time::Instant;

use candle_core::DType;
use ndarray::{Array3, Axis, concatenate};
use spikelab_data::Sorting;
use spikelab_sort::cluster::mean_shift;
use spikelab_sort::compare::{CompareParams, compare_to_ground_truth};
use spikelab_sort::embedder::{Embedder, EmbedderConfig, EmbedderTrainParams, train_embedder};
use spikelab_sort::features::pca_features;
use spikelab_sort::pipeline::SortParams;
use spikelab_sort::snippets::extract_snippets;
use spikelab_synth::recording::{GroundTruthParams, GroundTruthRecording};

type Res<T> = Result<T, Box<dyn std::error::Error>>;

struct Args {
    train_seeds: u64,
    train_duration_s: f64,
    test_duration_s: f64,
    steps: usize,
    batch: usize,
    hidden: usize,
    per_unit: usize,
    device: spikelab_core::Device,
}

fn parse() -> Res<Args> {
    let mut a = Args {
        train_seeds: 8,
        train_duration_s: 60.0,
        test_duration_s: 60.0,
        steps: 300,
        batch: 32,
        hidden: 64,
        per_unit: 300,
        device: spikelab_core::Device::Cpu,
    };
    let mut it = std::env::args().skip(1);
    while let Some(k) = it.next() {
        let v = it.next().ok_or(format!("{k} needs a value"))?;
        match k.as_str() {
            "--train-seeds" => a.train_seeds = v.parse()?,
            "--train-duration-s" => a.train_duration_s = v.parse()?,
            "--test-duration-s" => a.test_duration_s = v.parse()?,
            "--steps" => a.steps = v.parse()?,
            "--batch" => a.batch = v.parse()?,
            "--hidden" => a.hidden = v.parse()?,
            "--per-unit" => a.per_unit = v.parse()?,
            "--device" => a.device = v.parse()?,
            _ => return Err(format!("unknown argument {k}").into()),
        }
    }
    Ok(a)
}

/// A generated recording and the sorter's snippets at its true spikes (spike-vector order).
fn recording(seed: u64, duration_s: f64) -> Res<(GroundTruthRecording, Vec<i64>, Array3<f32>)> {
    let gt = GroundTruthParams {
        duration_s,
        ..GroundTruthParams::tetrode_benchmark()
    }
    .generate(seed)?;
    let params = SortParams::default();
    let fs = gt.recording.sampling_rate_hz();
    let pre = params
        .preprocess
        .validate(fs)?
        .apply(gt.recording.traces())?;
    let frames: Vec<i64> = gt.sorting.spike_vector().iter().map(|s| s.0).collect();
    let snippets = extract_snippets(pre.traces.view(), &frames, params.window(fs))?;
    Ok((gt, frames, snippets))
}

/// spikeinterface's mean accuracy of clustering `features` (`[spike, k]`) with the sorter's
/// mean shift.
fn accuracy(gt: &GroundTruthRecording, frames: &[i64], features: Array3<f32>) -> Res<f64> {
    let params = SortParams::default();
    let scores = pca_features(features.view(), params.n_pca, params.pca_fit_max, 0)?;
    let mut ms = params.mean_shift.clone();
    ms.bin_seeding = frames.len() > params.bin_seeding_above;
    let fit = mean_shift(scores.view(), &ms)?;
    let labels: Vec<i64> = fit.labels.iter().map(|&l| l as i64).collect();
    let sorted = Sorting::from_samples_and_labels(
        frames,
        &labels,
        gt.sorting.sampling_rate_hz(),
        gt.sorting.n_samples(),
    )?;
    let cmp = compare_to_ground_truth(&gt.sorting, &sorted, &CompareParams::default())?;
    Ok(cmp.mean_accuracy().unwrap_or(0.0))
}

fn main() -> Res<()> {
    let a = parse()?;
    let device = a.device.to_candle()?;
    let t0 = Instant::now();
    // Training units: every unit of every training recording, at most `per_unit` snippets.
    let mut units: Vec<Array3<f32>> = Vec::new();
    for seed in 1..=a.train_seeds {
        let (gt, _, snippets) = recording(seed, a.train_duration_s)?;
        let labels: Vec<usize> = gt.sorting.spike_vector().iter().map(|s| s.1).collect();
        for u in 0..gt.sorting.n_units() {
            let rows: Vec<usize> = (0..labels.len())
                .filter(|&i| labels[i] == u)
                .take(a.per_unit)
                .collect();
            if rows.len() >= 2 {
                units.push(snippets.select(Axis(0), &rows));
            }
        }
    }
    println!(
        "{} training units from {} recordings of {} s ({:.1} s)",
        units.len(),
        a.train_seeds,
        a.train_duration_s,
        t0.elapsed().as_secs_f64()
    );
    let config = EmbedderConfig {
        channels: 4,
        hidden: a.hidden,
    };
    let mut embedder = Embedder::new(config, 7, DType::F32, &device)?;
    let params = EmbedderTrainParams {
        steps: a.steps,
        batch: a.batch,
        lr: 1e-3,
        lr_step_every: (a.steps / 3).max(1),
        // The reference adds N(0, 4²) to µV-scale snippets; ours are z-scored (recording noise
        // σ = 10 µV → 1), so the same noise is 0.4.
        noise_level: 0.4,
        ..EmbedderTrainParams::default()
    };
    let views: Vec<_> = units.iter().map(|u| u.view()).collect();
    let t1 = Instant::now();
    let every = (a.steps / 10).max(1);
    let mut report = |p: &spikelab_core::Progress<'_>| {
        if (p.step + 1).is_multiple_of(every) {
            let loss = p.metrics.first().map_or(f64::NAN, |m| m.1);
            println!(
                "  step {:6}  loss {loss:.4}  {:.1} s",
                p.step + 1,
                t1.elapsed().as_secs_f64()
            );
        }
        spikelab_core::Flow::Continue
    };
    let losses = train_embedder(&mut embedder, &views, &params, &mut report)?;
    let train_s = t1.elapsed().as_secs_f64();
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len().max(1) as f64;
    let k = (losses.len() / 10).max(1);
    println!(
        "trained {} parameters on {}: {} steps of {} triplets in {train_s:.1} s ({:.0} ms/step); loss {:.3} → {:.3} (first/last {k} steps)",
        embedder.n_parameters(),
        a.device,
        a.steps,
        a.batch,
        1e3 * train_s / a.steps as f64,
        mean(&losses[..k]),
        mean(&losses[losses.len() - k..])
    );
    println!("| test seed | units | spikes | PCA of snippets | PCA of embeddings |");
    println!("| --- | --- | --- | --- | --- |");
    let (mut sum_pca, mut sum_emb) = (0.0, 0.0);
    let test_seeds = 1001..=1005u64;
    for seed in test_seeds.clone() {
        let (gt, frames, snippets) = recording(seed, a.test_duration_s)?;
        let acc_pca = accuracy(&gt, &frames, snippets.clone())?;
        let mut parts = Vec::new();
        for start in (0..frames.len()).step_by(256) {
            let end = (start + 256).min(frames.len());
            let batch = snippets.slice(ndarray::s![start..end, .., ..]);
            parts.push(embedder.embed(&batch, params.rank.min(end - start))?);
        }
        let views: Vec<_> = parts.iter().map(|p| p.view()).collect();
        let emb = concatenate(Axis(0), &views)?;
        let (n, h) = emb.dim();
        let acc_emb = accuracy(&gt, &frames, emb.into_shape_with_order((n, h, 1))?)?;
        println!(
            "| {seed} | {} | {} | {acc_pca:.3} | {acc_emb:.3} |",
            gt.sorting.n_units(),
            frames.len()
        );
        sum_pca += acc_pca;
        sum_emb += acc_emb;
    }
    let n = test_seeds.count() as f64;
    println!("| mean | | | {:.3} | {:.3} |", sum_pca / n, sum_emb / n);
    Ok(())
}
