//! POYO on the bundled CA1 raster (Rubin et al.; 452 units × 18 137 frames at 20 Hz), the
//! recipe of the decode spec: one spike token per event at its frame time, position z-scored
//! on the first 80 % of frames, test on the last 20 %, POYO-1.3M, batch 128, SparseLamb with
//! OneCycle (max lr 0.004, total 2 500 steps), UnitDropout 60/300/1000 peak 4.
//!
//! ```text
//! cargo run --release -p spikelab-decode --example poyo_ca1 -- full CONTEXT_S STEPS [TOTAL] [DEVICE] [BATCH] [MICRO_BATCH]
//! cargo run --release -p spikelab-decode --example poyo_ca1 -- transfer PRE_STEPS ID_STEPS [DEVICE] [BATCH]
//! cargo run --release -p spikelab-decode --example poyo_ca1 -- scratch STEPS [TOTAL] [DEVICE] [BATCH]
//! cargo run --release -p spikelab-decode --example poyo_ca1 -- infer CONTEXT_S [DEVICE] [BATCH]
//! ```
//! `full 1 740 2500 cuda` and `full 4 740 2500 cuda 128 32` are the two context lengths (4 s:
//! 32 latent steps × 16 latents; MICRO_BATCH windows per forward/backward pass, whose gradients
//! are summed into the batch's one step, since one pass of 128 windows of 4 s does not fit in
//! 80 GB). `POYO_TF32=1` lets f32 matrix products on a CUDA device use TF32 tensor cores. `transfer` pre-trains on the even-numbered units (recording
//! "A", PRE_STEPS of 2 500), then identifies the odd-numbered units (recording "B") on the
//! first 20 % of the training frames by training only the unit and session embeddings
//! (ID_STEPS, a OneCycle of that length). `scratch 735 1250` trains POYO from scratch on
//! "B"'s same 20 % for comparison. Every phase prints its loss, seconds per step and test R².
//! `infer` times inference: the test split's half-overlapping windows through a fresh
//! POYO-1.3M, BATCH windows per forward pass (tokenization and stitching included), as input
//! tokens (spikes plus START/END tokens) per second.

use std::time::Instant;

use candle_core::DType;
use ndarray::{Array2, Axis};
use spikelab_core::{Flow, Progress};
use spikelab_decode::poyo::{
    self, FrameParams, PoyoConfig, Prepared, Recording, TrainParams, TransferParams, UnitDropout,
    eval_starts, frame_unit_ids, tokenize,
};

const BIN_S: f64 = 0.05;

fn ca1() -> anyhow::Result<(Array2<f64>, Array2<f64>)> {
    let root = spikelab_datasets::root()?.join("convseq/ca1_rubin");
    let inputs = spikelab_decode::read_inputs(
        &root.join("neuronal_activity_mat.mat"),
        Some("neuronal_activity_mat"),
        &root.join("position_per_frame.mat"),
        Some("position_per_frame"),
        BIN_S,
    )?;
    Ok((inputs.counts, inputs.target))
}

fn recording(
    id: &str,
    counts: &Array2<f64>,
    target: &Array2<f64>,
    rows: &[usize],
) -> anyhow::Result<Recording> {
    let sub = counts.select(Axis(0), rows);
    let frames = FrameParams {
        session: id.into(),
        frame_s: BIN_S,
        ..FrameParams::default()
    };
    Ok(frames
        .recording(sub.view(), target.view(), frame_unit_ids(rows, ""))?
        .recording)
}

fn params(steps: usize, total: usize, batch: usize) -> TrainParams {
    TrainParams {
        steps,
        schedule_total: Some(total),
        batch,
        max_lr: Some(3.125e-5 * batch as f64),
        unit_dropout: Some(UnitDropout {
            min: 60.0,
            mode: 300.0,
            max: 1000.0,
            peak: 4.0,
        }),
        seed: 0,
        ..Default::default()
    }
}

fn printer(label: &'static str) -> impl FnMut(&Progress<'_>) -> Flow {
    let t0 = Instant::now();
    move |p: &Progress<'_>| {
        if (p.step + 1).is_multiple_of(20) || p.step == 0 {
            println!(
                "{label} step {:5}  loss {:.4}  lr {:.2e}  β1 {:.4}  {:.3} s/step",
                p.step + 1,
                p.metric("loss").unwrap_or(f64::NAN),
                p.metric("lr").unwrap_or(f64::NAN),
                p.metric("beta1").unwrap_or(f64::NAN),
                t0.elapsed().as_secs_f64() / (p.step + 1) as f64
            );
        }
        Flow::Continue
    }
}

fn main() -> anyhow::Result<()> {
    let a: Vec<String> = std::env::args().skip(1).collect();
    let arg = |i: usize, d: &str| a.get(i).cloned().unwrap_or_else(|| d.to_string());
    let mode = arg(0, "full");
    let _tf32 = spikelab_core::Tf32Guard::set(std::env::var("POYO_TF32").is_ok_and(|v| v == "1"));
    let (counts, target) = ca1()?;
    let n_frames = counts.ncols();
    let split_s = (0.8 * n_frames as f64).floor() * BIN_S;
    let end_s = n_frames as f64 * BIN_S;
    let train_iv = vec![vec![(0.0, split_s)]];
    let test_iv = vec![vec![(split_s, end_s)]];
    let all: Vec<usize> = (0..counts.nrows()).collect();
    match mode.as_str() {
        "full" => {
            let context_s: f64 = arg(1, "1").parse()?;
            let steps: usize = arg(2, "740").parse()?;
            let total: usize = arg(3, "2500").parse()?;
            let device = arg(4, "cpu")
                .parse::<spikelab_core::Device>()?
                .to_candle()?;
            let batch: usize = arg(5, "128").parse()?;
            let micro_batch: Option<usize> = a.get(6).map(|m| m.parse()).transpose()?;
            let mut cfg = PoyoConfig::poyo_1_3m(1);
            cfg.context_s = context_s;
            let rec = recording("ca1", &counts, &target, &all)?;
            let recs = [rec];
            let t0 = Instant::now();
            let (model, report) = poyo::fit(
                cfg,
                &recs,
                &train_iv,
                &TrainParams {
                    micro_batch,
                    ..params(steps, total, batch)
                },
                DType::F32,
                &device,
                &mut printer("ca1"),
            )?;
            let train_s = t0.elapsed().as_secs_f64();
            let eval_batch = micro_batch.unwrap_or(64).min(64);
            let (_, r2_test) = poyo::evaluate(&model, &recs, &test_iv, eval_batch)?;
            let (_, r2_train) = poyo::evaluate(&model, &recs, &train_iv, eval_batch)?;
            println!(
                "| context | params | steps (of total) | s/step | last loss | train R² | test R² |\n| {context_s} s | {} | {steps} ({total}) | {:.3} | {:.4} | {r2_train:.3} | {r2_test:.3} |",
                model.n_parameters(),
                train_s / steps as f64,
                report.loss.last().copied().unwrap_or(f64::NAN),
            );
        }
        "transfer" => {
            let pre_steps: usize = arg(1, "376").parse()?;
            let id_steps: usize = arg(2, "1250").parse()?;
            let device = arg(3, "cpu")
                .parse::<spikelab_core::Device>()?
                .to_candle()?;
            let batch: usize = arg(4, "128").parse()?;
            let even: Vec<usize> = all.iter().copied().filter(|u| u % 2 == 0).collect();
            let odd: Vec<usize> = all.iter().copied().filter(|u| u % 2 == 1).collect();
            let rec_a = [recording("A", &counts, &target, &even)?];
            let rec_b = [recording("B", &counts, &target, &odd)?];
            let short_iv = vec![vec![(0.0, 0.2 * split_s)]];
            let cfg = PoyoConfig::poyo_1_3m(1);

            let t0 = Instant::now();
            let (pre, _) = poyo::fit(
                cfg,
                &rec_a,
                &train_iv,
                &params(pre_steps, 2500, batch),
                DType::F32,
                &device,
                &mut printer("A"),
            )?;
            let (_, r2_a) = poyo::evaluate(&pre, &rec_a, &test_iv, 64)?;
            println!(
                "pre-training on A: {pre_steps} steps, {:.1} s, test R² {r2_a:.3}",
                t0.elapsed().as_secs_f64()
            );

            let t1 = Instant::now();
            let (ident, _) = poyo::transfer(
                pre,
                &rec_b,
                &short_iv,
                &TransferParams {
                    identify: params(id_steps, id_steps, batch),
                    finetune: None,
                },
                &mut printer("B-ident"),
            )?;
            // The target normalisation stays A's (same position variable).
            let (_, r2_id) = poyo::evaluate(&ident, &rec_b, &test_iv, 64)?;
            println!(
                "unit identification on B (20 % of training): {id_steps} steps, {:.1} s, test R² {r2_id:.3}",
                t1.elapsed().as_secs_f64()
            );

            println!(
                "| run | test R² |\n| POYO on A (even units) | {r2_a:.3} |\n| unit identification on B | {r2_id:.3} |"
            );
        }
        "scratch" => {
            let steps: usize = arg(1, "735").parse()?;
            let total: usize = arg(2, "1250").parse()?;
            let device = arg(3, "cpu")
                .parse::<spikelab_core::Device>()?
                .to_candle()?;
            let batch: usize = arg(4, "128").parse()?;
            let odd: Vec<usize> = all.iter().copied().filter(|u| u % 2 == 1).collect();
            let rec_b = [recording("B", &counts, &target, &odd)?];
            let short_iv = vec![vec![(0.0, 0.2 * split_s)]];
            let t0 = Instant::now();
            let (scratch, _) = poyo::fit(
                PoyoConfig::poyo_1_3m(1),
                &rec_b,
                &short_iv,
                &params(steps, total, batch),
                DType::F32,
                &device,
                &mut printer("B-scratch"),
            )?;
            let (_, r2) = poyo::evaluate(&scratch, &rec_b, &test_iv, 64)?;
            println!(
                "| run | steps (of total) | train s | test R² |\n| POYO from scratch on B (odd units, 20 % of training) | {steps} ({total}) | {:.1} | {r2:.3} |",
                t0.elapsed().as_secs_f64()
            );
        }
        "infer" => {
            let context_s: f64 = arg(1, "1").parse()?;
            let device = arg(2, "cpu")
                .parse::<spikelab_core::Device>()?
                .to_candle()?;
            let batch: usize = arg(3, "32").parse()?;
            let mut cfg = PoyoConfig::poyo_1_3m(1);
            cfg.context_s = context_s;
            let rec = recording("ca1", &counts, &target, &all)?;
            // Speed does not depend on the weights: a fresh model (seed 0).
            let model = poyo::new_model(
                cfg,
                std::slice::from_ref(&rec),
                &train_iv,
                0,
                DType::F32,
                &device,
            )?;
            let m = model.meta();
            let prep = Prepared::new(&rec, &m.units, &m.sessions)?;
            let (mut tokens, mut windows) = (0usize, 0usize);
            for s in eval_starts(split_s, end_s, context_s)? {
                let w = tokenize(&prep, None, s, &cfg.grid(), (split_s, end_s), &m.norm)?;
                tokens += w.unit_index.len();
                windows += 1;
            }
            // One warm-up pass, then the timed ones.
            poyo::predict(&model, &rec, &test_iv[0], batch)?;
            let reps = 3;
            let t0 = Instant::now();
            for _ in 0..reps {
                poyo::predict(&model, &rec, &test_iv[0], batch)?;
            }
            let s = t0.elapsed().as_secs_f64() / reps as f64;
            println!(
                "| context | batch | windows | input tokens | s per pass | tokens/s | windows/s |\n| {context_s} s | {batch} | {windows} | {tokens} | {s:.3} | {:.0} | {:.1} |",
                tokens as f64 / s,
                windows as f64 / s
            );
        }
        other => anyhow::bail!("unknown mode {other:?}: full | transfer | scratch | infer"),
    }
    Ok(())
}
