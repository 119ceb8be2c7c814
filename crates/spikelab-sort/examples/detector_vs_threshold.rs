//! SimSort's detector against threshold detection on the tetrode benchmark (spec §11.3, small
//! scale on CPU).
//!
//! ```text
//! CANDLE_NUM_THREADS=2 RAYON_NUM_THREADS=2 cargo run --release -p spikelab-sort \
//!     --example detector_vs_threshold -- [--train-seeds 8] [--train-s 20] [--test-s 20] \
//!     [--steps 300] [--lr 1e-3] [--hidden 64] [--window 500] [--batch 12] [--device cpu|cuda[:N]] \
//!     [--json PATH]
//! ```
//!
//! * Data: `GroundTruthParams::tetrode_benchmark()` shortened to `--train-s` / `--test-s`
//!   seconds; training seeds `1..=N`, test seeds 1001–1005 (the spec's split).
//! * Preprocessing, the same for training, threshold detection and detector inference:
//!   `Preprocess::simsort_training()` (zero-phase Butterworth band-pass 300–3 000 Hz, order 4,
//!   then a per-channel z-score; no whitening) at 30 kHz, run on each recording separately.
//! * Threshold baselines: SimSort's detector (§4.4, `SimSortThreshold`, threshold on `|x|` in
//!   z units) and the noise-scaled `ThresholdDetector` (negative peaks, MAD σ); each threshold is
//!   the one with the best pooled F1 over the training seeds on a small grid.
//! * Detector: 1 encoder layer of `--hidden` width, 4 heads, ff 4 × hidden, `--window`-sample
//!   windows, trained with `train_detector` on the training recordings concatenated in time
//!   (the few windows that straddle a junction are kept), warm-up of a tenth of the steps, the
//!   reference's augmentation. Its probability threshold is reported at the spec's 0.97 and at
//!   the best of a small grid on the training seeds.
//! * Score: SimSort's rule (`match_detections`): greedy, ±1 ms (30 samples), any unit.
//!
//! Measured with the defaults (`--steps 300`; 2 CPU cores shared with other jobs, load ≈ 5:
//! training 372 s, whole run 1 465 s, most of it detector inference), F1 (precision / recall)
//! on 20 s of each test seed (1 371, 790, 851, 694, 1 015 spikes):
//!
//! | method | training F1 | 1001 | 1002 | 1003 | 1004 | 1005 | mean F1 |
//! |---|---|---|---|---|---|---|---|
//! | SimSortThreshold 4.5 (§4.4) | 0.911 | 0.858 (0.987 / 0.759) | 0.965 (0.943 / 0.989) | 0.909 (0.840 / 0.991) | 0.909 (0.843 / 0.986) | 0.970 (0.948 / 0.992) | 0.922 |
//! | ThresholdDetector 4.5 σ | 0.971 | 0.965 (1.000 / 0.932) | 0.990 (1.000 / 0.980) | 0.988 (1.000 / 0.975) | 0.987 (0.996 / 0.978) | 0.987 (1.000 / 0.973) | 0.983 |
//! | detector p ≥ 0.97 (spec) | – | 0.945 (0.983 / 0.910) | 0.966 (0.939 / 0.994) | 0.936 (0.891 / 0.985) | 0.942 (0.895 / 0.994) | 0.983 (0.975 / 0.991) | 0.954 |
//! | detector p ≥ 0.99 (chosen on training) | 0.982 | 0.869 (1.000 / 0.769) | 0.997 (1.000 / 0.994) | 0.908 (1.000 / 0.831) | 0.996 (1.000 / 0.991) | 0.988 (1.000 / 0.975) | 0.951 |
//!
//! At this scale (50 369 parameters, 300 steps on 160 s of training data) the detector beats
//! the spec's §4.4 baseline by +0.032 (short of the +0.05 bar) and trails the noise-scaled
//! threshold detector by −0.029; that baseline's 0.983 leaves no room for +0.05 on these
//! recordings. Full-scale training (seeds 1–200, the §4.2 schedule) needs the `cuda` feature.

use std::time::Instant;

use candle_core::DType;
use ndarray::{Array2, Axis, concatenate};
use serde::Serialize;
use spikelab_core::{Flow, Progress};
use spikelab_data::Sorting;
use spikelab_sort::detect::{SimSortThreshold, ThresholdDetector};
use spikelab_sort::detector::{
    DetectParams, DetectionScores, Detector, DetectorConfig, match_detections,
};
use spikelab_sort::detector_train::{TrainParams, train_detector};
use spikelab_sort::preprocess::Preprocess;
use spikelab_synth::recording::GroundTruthParams;

const TEST_SEEDS: [u64; 5] = [1001, 1002, 1003, 1004, 1005];

struct Args {
    train_seeds: u64,
    train_s: f64,
    test_s: f64,
    steps: usize,
    lr: f64,
    hidden: usize,
    window: usize,
    batch: usize,
    grid_seeds: usize,
    device: spikelab_core::Device,
    json: Option<String>,
}

fn parse_args() -> anyhow::Result<Args> {
    let mut a = Args {
        train_seeds: 8,
        train_s: 20.0,
        test_s: 20.0,
        steps: 300,
        lr: 1e-3,
        hidden: 64,
        window: 500,
        batch: 12,
        grid_seeds: 2,
        device: spikelab_core::Device::Cpu,
        json: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(k) = it.next() {
        let v = it
            .next()
            .ok_or_else(|| anyhow::anyhow!("{k} needs a value"))?;
        match k.as_str() {
            "--train-seeds" => a.train_seeds = v.parse()?,
            "--train-s" => a.train_s = v.parse()?,
            "--test-s" => a.test_s = v.parse()?,
            "--steps" => a.steps = v.parse()?,
            "--lr" => a.lr = v.parse()?,
            "--hidden" => a.hidden = v.parse()?,
            "--window" => a.window = v.parse()?,
            "--batch" => a.batch = v.parse()?,
            "--grid-seeds" => a.grid_seeds = v.parse()?,
            "--device" => a.device = v.parse()?,
            "--json" => a.json = Some(v),
            other => anyhow::bail!("unknown argument {other}"),
        }
    }
    Ok(a)
}

/// A preprocessed recording and its pooled, sorted ground-truth frames.
struct Data {
    seed: u64,
    traces: Array2<f32>,
    frames: Vec<i64>,
}

fn load(seed: u64, duration_s: f64) -> anyhow::Result<Data> {
    let p = GroundTruthParams {
        duration_s,
        ..GroundTruthParams::tetrode_benchmark()
    };
    let gt = p.generate(seed)?;
    let fs = gt.recording.sampling_rate_hz();
    let plan = Preprocess::simsort_training().validate(fs)?;
    let traces = plan.apply(gt.recording.traces())?.traces;
    Ok(Data {
        seed,
        traces,
        frames: pooled(&gt.sorting),
    })
}

fn pooled(s: &Sorting) -> Vec<i64> {
    let mut f: Vec<i64> = s.trains().iter().flatten().copied().collect();
    f.sort_unstable();
    f
}

const TOL: i64 = 30; // 1 ms at 30 kHz

fn add(a: DetectionScores, b: DetectionScores) -> DetectionScores {
    DetectionScores {
        tp: a.tp + b.tp,
        fp: a.fp + b.fp,
        fn_: a.fn_ + b.fn_,
    }
}

/// Pooled scores of `detect` over `data`.
fn pooled_score(
    data: &[Data],
    detect: &dyn Fn(&Data) -> anyhow::Result<Vec<i64>>,
) -> anyhow::Result<DetectionScores> {
    let mut acc = DetectionScores {
        tp: 0,
        fp: 0,
        fn_: 0,
    };
    for d in data {
        acc = add(acc, match_detections(&d.frames, &detect(d)?, TOL)?);
    }
    Ok(acc)
}

/// The grid value with the best pooled training F1, with that F1.
fn choose(
    train: &[Data],
    grid: &[f64],
    detect: &dyn Fn(f64, &Data) -> anyhow::Result<Vec<i64>>,
) -> anyhow::Result<(f64, f64)> {
    let mut best = (grid[0], -1.0);
    for &g in grid {
        let f1 = pooled_score(train, &|d| detect(g, d))?.f1();
        println!("    grid {g:>6}: training F1 {f1:.4}");
        if f1 > best.1 {
            best = (g, f1);
        }
    }
    Ok(best)
}

#[derive(Serialize)]
struct Row {
    seed: u64,
    n_spikes: usize,
    f1: f64,
    precision: f64,
    recall: f64,
}

#[derive(Serialize)]
struct Method {
    name: String,
    threshold: f64,
    train_f1: Option<f64>,
    per_seed: Vec<Row>,
    mean_f1: f64,
}

fn evaluate(
    name: String,
    threshold: f64,
    train_f1: Option<f64>,
    test: &[Data],
    detect: &dyn Fn(&Data) -> anyhow::Result<Vec<i64>>,
) -> anyhow::Result<Method> {
    let mut per_seed = Vec::new();
    for d in test {
        let s = match_detections(&d.frames, &detect(d)?, TOL)?;
        per_seed.push(Row {
            seed: d.seed,
            n_spikes: d.frames.len(),
            f1: s.f1(),
            precision: s.precision(),
            recall: s.recall(),
        });
    }
    let mean_f1 = per_seed.iter().map(|r| r.f1).sum::<f64>() / per_seed.len() as f64;
    Ok(Method {
        name,
        threshold,
        train_f1,
        per_seed,
        mean_f1,
    })
}

fn main() -> anyhow::Result<()> {
    let a = parse_args()?;
    let t_all = Instant::now();
    let train: Vec<Data> = (1..=a.train_seeds)
        .map(|s| load(s, a.train_s))
        .collect::<anyhow::Result<_>>()?;
    let test: Vec<Data> = TEST_SEEDS
        .iter()
        .map(|&s| load(s, a.test_s))
        .collect::<anyhow::Result<_>>()?;
    let t_data = t_all.elapsed().as_secs_f64();
    println!(
        "data: {} training × {} s, {} test × {} s, generated and preprocessed in {:.1} s",
        train.len(),
        a.train_s,
        test.len(),
        a.test_s,
        t_data
    );

    let mut methods = Vec::new();
    println!("SimSortThreshold (|x| in z units):");
    let simsort = |thr: f64, d: &Data| -> anyhow::Result<Vec<i64>> {
        let det = SimSortThreshold {
            threshold: thr,
            ..Default::default()
        };
        Ok(det.detect(d.traces.view())?)
    };
    let grid = [3.0, 3.5, 4.0, 4.5, 5.0, 5.5, 6.0, 7.0, 8.0, 9.0];
    let (thr, f1) = choose(&train, &grid, &simsort)?;
    methods.push(evaluate(
        format!("SimSortThreshold {thr}"),
        thr,
        Some(f1),
        &test,
        &|d| simsort(thr, d),
    )?);
    println!("ThresholdDetector (negative peaks, MAD σ):");
    let standard = |thr: f64, d: &Data| -> anyhow::Result<Vec<i64>> {
        let det = ThresholdDetector {
            threshold_sigma: thr,
            ..Default::default()
        };
        let mut f: Vec<i64> = det
            .detect(d.traces.view(), None)?
            .iter()
            .map(|p| p.frame)
            .collect();
        f.sort_unstable();
        f.dedup();
        Ok(f)
    };
    let (thr, f1) = choose(&train, &grid, &standard)?;
    methods.push(evaluate(
        format!("ThresholdDetector {thr} σ"),
        thr,
        Some(f1),
        &test,
        &|d| standard(thr, d),
    )?);

    // Detector training on the concatenated training traces.
    let views: Vec<_> = train.iter().map(|d| d.traces.view()).collect();
    let x = concatenate(Axis(0), &views)?;
    let mut frames = Vec::new();
    let mut offset = 0i64;
    for d in &train {
        frames.extend(d.frames.iter().map(|f| f + offset));
        offset += d.traces.nrows() as i64;
    }
    let cfg = DetectorConfig {
        hidden: a.hidden,
        heads: 4,
        ff: 4 * a.hidden,
        window: a.window,
        ..Default::default()
    };
    let device = a.device.to_candle()?;
    let mut det = Detector::new(cfg, 7, DType::F32, &device)?;
    let params = TrainParams {
        steps: a.steps,
        batch: a.batch,
        lr: a.lr,
        warmup_steps: a.steps / 10,
        ..Default::default()
    };
    println!(
        "detector: {} parameters, {} steps × {} windows of {} samples, lr {}",
        det.n_parameters(),
        a.steps,
        a.batch,
        a.window,
        a.lr
    );
    println!(
        "threshold baselines done at {:.0} s",
        t_all.elapsed().as_secs_f64()
    );
    let t0 = Instant::now();
    let every = (a.steps / 10).max(1);
    let mut observer = |p: &Progress<'_>| {
        if p.step.is_multiple_of(every) || p.step + 1 == a.steps {
            println!(
                "  step {:>5}  loss {:.4}  lr {:.2e}  {:.0} s",
                p.step,
                p.metric("loss").unwrap_or(f64::NAN),
                p.metric("lr").unwrap_or(f64::NAN),
                t0.elapsed().as_secs_f64()
            );
        }
        Flow::Continue
    };
    let report = train_detector(
        &mut det,
        &x.view(),
        &frames,
        30_000.0,
        &params,
        &mut observer,
    )?;
    let train_s = t0.elapsed().as_secs_f64();
    println!(
        "trained in {train_s:.0} s; pos_weight {:.1}",
        report.pos_weight
    );

    let detector_run = |thr: f64, d: &Data| -> anyhow::Result<Vec<i64>> {
        let p = DetectParams {
            threshold: thr,
            ..Default::default()
        };
        Ok(det.detect(&d.traces.view(), &p)?)
    };
    // Inference throughput on the test recordings (after one warm-up pass).
    detector_run(0.97, &test[0])?;
    let t_inf = Instant::now();
    let mut n_samples = 0usize;
    for d in &test {
        detector_run(0.97, d)?;
        n_samples += d.traces.nrows();
    }
    let inf_s = t_inf.elapsed().as_secs_f64();
    println!(
        "detection throughput: {:.3e} samples/s ({n_samples} samples × {} channels in {inf_s:.2} s, {:?})",
        n_samples as f64 / inf_s,
        test[0].traces.ncols(),
        a.device
    );
    methods.push(evaluate(
        "detector p ≥ 0.97 (spec)".into(),
        0.97,
        None,
        &test,
        &|d| detector_run(0.97, d),
    )?);
    println!("detector probability threshold:");
    let pgrid = [0.5, 0.7, 0.8, 0.9, 0.95, 0.97, 0.99];
    let grid_train = &train[..a.grid_seeds.min(train.len())];
    let (pthr, pf1) = choose(grid_train, &pgrid, &detector_run)?;
    methods.push(evaluate(
        format!("detector p ≥ {pthr} (chosen on training)"),
        pthr,
        Some(pf1),
        &test,
        &|d| detector_run(pthr, d),
    )?);

    println!();
    print!("| method | training F1 |");
    for s in TEST_SEEDS {
        print!(" {s} F1 (P / R) |");
    }
    println!(" mean F1 |");
    println!("|---|---|{}---|", "---|".repeat(TEST_SEEDS.len()));
    for m in &methods {
        print!(
            "| {} | {} |",
            m.name,
            m.train_f1.map_or("–".into(), |f| format!("{f:.3}"))
        );
        for r in &m.per_seed {
            print!(" {:.3} ({:.3} / {:.3}) |", r.f1, r.precision, r.recall);
        }
        println!(" **{:.3}** |", m.mean_f1);
    }
    let best_det = methods[2].mean_f1.max(methods[3].mean_f1);
    println!();
    println!(
        "test spikes per seed: {:?}; training: {} steps in {train_s:.0} s, {} parameters; \
         total {:.0} s",
        test.iter().map(|d| d.frames.len()).collect::<Vec<_>>(),
        a.steps,
        det.n_parameters(),
        t_all.elapsed().as_secs_f64()
    );
    println!(
        "best detector − SimSortThreshold (§4.4, the spec's baseline) = {:+.3}; \
         best detector − ThresholdDetector = {:+.3} (bar: +0.05)",
        best_det - methods[0].mean_f1,
        best_det - methods[1].mean_f1
    );
    if let Some(path) = &a.json {
        let out = serde_json::json!({
            "train_seeds": a.train_seeds,
            "train_s": a.train_s,
            "test_s": a.test_s,
            "steps": a.steps,
            "lr": a.lr,
            "config": cfg,
            "training_time_s": train_s,
            "final_loss": report.losses.last(),
            "methods": methods,
        });
        std::fs::write(path, serde_json::to_string_pretty(&out)?)?;
    }
    Ok(())
}
