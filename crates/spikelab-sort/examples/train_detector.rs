//! Trains SimSort's detector on a toy tetrode recording and prints the loss and detection F1.
//!
//! ```text
//! cargo run --release -p spikelab-sort --example train_detector -- [steps] [config] [device]
//! ```
//! `steps` (default 300), `config`: `small` (hidden 32, 1 layer, 128-sample windows; default),
//! `default` (the reference's 1-layer model, 2 000-sample windows) or `four` (4 layers, dropout
//! 0.2), `device`: `cpu` (default), `cuda[:N]` (build with `--features cuda`) or `metal`.
//!
//! The recording: 10 s at 30 kHz of unit Gaussian noise on 4 channels plus three spike shapes
//! at random frames; the last 2 s are held out for the F1 (greedy ±1 ms matching).

use candle_core::DType;
use ndarray::{Array2, s};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};
use spikelab_core::{Flow, Progress};
use spikelab_sort::detector::{DetectParams, Detector, DetectorConfig, match_detections};
use spikelab_sort::detector_train::{Augmentation, TrainParams, train_detector};

const FS: f64 = 30_000.0;

fn toy(n: usize, seed: u64) -> (Array2<f32>, Vec<i64>) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut x = Array2::<f32>::from_shape_fn((n, 4), |_| {
        let z: f64 = StandardNormal.sample(&mut rng);
        z as f32
    });
    let amps = [
        [-9.0, -4.0, 0.0, 0.0],
        [0.0, 0.0, -8.0, -6.0],
        [-3.0, 0.0, 0.0, -10.0],
    ];
    let shape = |k: i64| -> f64 {
        let t = k as f64 / FS * 1e3;
        if t < 0.0 {
            (-(t / 0.12).powi(2)).exp()
        } else {
            (-(t / 0.2).powi(2)).exp() - 0.3 * (t / 0.5) * (-(t / 0.5)).exp()
        }
    };
    let mut frames = Vec::new();
    let mut f = 100i64;
    loop {
        f += rng.random_range(60..600);
        if f + 40 >= n as i64 {
            break;
        }
        let u = rng.random_range(0..3);
        for k in -10..35 {
            for ch in 0..4 {
                x[[(f + k) as usize, ch]] += (amps[u][ch] * shape(k)) as f32;
            }
        }
        frames.push(f);
    }
    (x, frames)
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let steps: usize = args.first().map(|s| s.parse()).transpose()?.unwrap_or(300);
    let config = args.get(1).map(String::as_str).unwrap_or("small");
    let device: spikelab_core::Device = args
        .get(2)
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or_default();
    let device = device.to_candle()?;
    let cfg = match config {
        "small" => DetectorConfig {
            hidden: 32,
            heads: 2,
            ff: 64,
            window: 128,
            ..Default::default()
        },
        "default" => DetectorConfig::default(),
        "four" => DetectorConfig::four_layers(),
        other => anyhow::bail!("unknown config {other:?}: use small, default or four"),
    };
    let (x, frames) = toy(300_000, 1);
    let split = 240_000usize;
    let train_frames: Vec<i64> = frames
        .iter()
        .copied()
        .filter(|&f| f < split as i64)
        .collect();
    let test_frames: Vec<i64> = frames
        .iter()
        .filter(|&&f| f >= split as i64)
        .map(|f| f - split as i64)
        .collect();
    let test = x.slice(s![split.., ..]);
    let tol = (1e-3 * FS) as i64;

    let mut det = Detector::new(cfg, 3, DType::F32, &device)?;
    println!(
        "{config}: {} parameters, device {device:?}",
        det.n_parameters()
    );
    let dp = DetectParams::default();
    let before = match_detections(&test_frames, &det.detect(&test, &dp)?, tol)?;
    println!("untrained F1 {:.3}", before.f1());
    let params = TrainParams {
        steps,
        batch: if config == "small" { 16 } else { 12 },
        lr: if config == "small" { 3e-3 } else { 5e-4 },
        warmup_steps: steps / 10,
        augment: Augmentation {
            amplitude_scale_range: (0.5, 1.0),
            noise_level: 0.3,
            ..Default::default()
        },
        ..Default::default()
    };
    let t0 = std::time::Instant::now();
    let mut observer = |p: &Progress<'_>| {
        if p.step.is_multiple_of(25) || p.step + 1 == steps {
            println!(
                "step {:>5}  loss {:.4}  lr {:.2e}  {:.1} s",
                p.step,
                p.metric("loss").unwrap_or(f64::NAN),
                p.metric("lr").unwrap_or(f64::NAN),
                t0.elapsed().as_secs_f64()
            );
        }
        Flow::Continue
    };
    train_detector(
        &mut det,
        &x.slice(s![..split, ..]),
        &train_frames,
        FS,
        &params,
        &mut observer,
    )?;
    for threshold in [0.5, 0.9] {
        let p = DetectParams { threshold, ..dp };
        let s = match_detections(&test_frames, &det.detect(&test, &p)?, tol)?;
        println!(
            "threshold {threshold}: F1 {:.3} (precision {:.3}, recall {:.3})",
            s.f1(),
            s.precision(),
            s.recall()
        );
    }
    let after = match_detections(&test_frames, &det.detect(&test, &dp)?, tol)?;
    println!(
        "trained F1 {:.3} (precision {:.3}, recall {:.3}; {} test spikes) in {:.1} s",
        after.f1(),
        after.precision(),
        after.recall(),
        test_frames.len(),
        t0.elapsed().as_secs_f64()
    );
    Ok(())
}
