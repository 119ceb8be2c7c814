//! "Ours" side of the peer comparison (`benches/peers/run.sh`, results in `docs/peers.md`).
//!
//! Each subcommand runs one task on bundled data, times it in-process (after a warm-up
//! where that makes sense) and prints one JSON object on stdout, so that the Python driver
//! can alternate ours / peer in the same run and compare like with like (no process start,
//! no library loading in either timing).
//!
//! ```text
//! cargo build --release -p spikelab --example peers_ours
//! target/release/examples/peers_ours nwb OUT.nwb [repeats]
//! target/release/examples/peers_ours nwb-read FILE.nwb
//! target/release/examples/peers_ours calcium N [per_window_frames]
//! target/release/examples/peers_ours convseq-epochs EPOCHS
//! target/release/examples/peers_ours convseq-fit EPOCHS
//! ```
//!
//! * `nwb`: the convSeq demo spikes (`datasets/convseq/synthetic_demo/spikes.npy`, time =
//!   bin × 0.05 s) as 452 units → NWB (`write_units`) → `read_units`; reports the write and
//!   read times (median over `repeats`) and whether every spike time came back bit-identical.
//! * `nwb-read FILE`: reads a units table written by another tool (pynwb) and checks it
//!   against the same demo spikes, bit for bit.
//! * `calcium N`: Spikefinder test N (CSV, 100 Hz) through `model1.h5`, fully-convolutional
//!   (whole set) and per-window (the first `per_window_frames` frames of every neuron, default
//!   3000); the Spikefinder metric (median over neurons of Pearson r of 40-ms sums, padding
//!   frames as 0, as the submission CSVs).
//! * `convseq-epochs E`: ms per epoch (forward + backward + Adam) of the sparse CPU engine on
//!   the demo raster (452 × 18 137, W 200, K 1), mean over E epochs after 5 warm-up epochs.
//! * `convseq-fit E`: the whole method (α from 15 000 random filters, E epochs, read-out);
//!   total time, event F1 against the 45 ground-truth centres (tolerance W bins) and the
//!   Spearman ρ between the true order of the 120 members and their learned lags.

use std::time::Instant;

use anyhow::{Context, Result, bail};
use serde_json::json;
use spikelab_calcium::evaluate::{Padding, score};
use spikelab_calcium::{ElephantCnn, Evaluation};
use spikelab_convseq::{ConvSeq, ConvSeqParams, init_logits, make_engine, metrics};
use spikelab_data::io::nwb::{self, NwbWriteOptions};
use spikelab_data::{CalciumTraces, SpikeTrains};
use spikelab_datasets as datasets;
use spikelab_datasets::convseq as bundled;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn demo_trains() -> Result<SpikeTrains> {
    let meta: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(
        datasets::convseq("synthetic_demo/meta.json")?,
    )?)?;
    let n = meta["n_neurons"].as_u64().context("n_neurons")? as usize;
    let t = meta["n_bins"].as_u64().context("n_bins")? as f64;
    let bin_s = meta["bin_s"].as_f64().context("bin_s")?;
    let pairs = spikelab_data::io::npy::read_any(&datasets::convseq("synthetic_demo/spikes.npy")?)?;
    let v: Vec<f64> = pairs.data.iter().copied().collect();
    let mut trains = vec![Vec::new(); n];
    for row in v.chunks_exact(2) {
        trains[row[0] as usize].push(row[1] * bin_s);
    }
    for tr in &mut trains {
        tr.sort_by(f64::total_cmp);
    }
    Ok(SpikeTrains::new(trains, 0.0, t * bin_s)?)
}

fn cmd_nwb(out: &str, repeats: usize) -> Result<serde_json::Value> {
    let st = demo_trains()?;
    let path = std::path::Path::new(out);
    let mut opts = NwbWriteOptions::new("spikelab peers benchmark: convSeq demo spikes");
    opts.overwrite = true;
    opts.session_start_time = "2024-01-01T00:00:00+00:00".into();
    let (mut tw, mut tr) = (Vec::new(), Vec::new());
    let mut identical = true;
    for _ in 0..repeats.max(1) {
        let t0 = Instant::now();
        nwb::write_units(path, &st, &opts)?;
        tw.push(t0.elapsed().as_secs_f64());
        let t0 = Instant::now();
        let back = nwb::read_units(path)?;
        tr.push(t0.elapsed().as_secs_f64());
        identical &= back.n_units() == st.n_units()
            && (0..st.n_units()).all(|i| {
                let (a, b) = (st.train(i), back.train(i));
                a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits())
            });
    }
    Ok(json!({
        "task": "nwb", "n_units": st.n_units(), "n_spikes": st.total_spikes(),
        "write_s": median(tw), "read_s": median(tr), "identical": identical,
    }))
}

fn cmd_nwb_read(path: &str) -> Result<serde_json::Value> {
    let st = demo_trains()?;
    let back = nwb::read_units(std::path::Path::new(path))?;
    let identical = back.n_units() == st.n_units()
        && (0..st.n_units()).all(|i| {
            let (a, b) = (st.train(i), back.train(i));
            a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits())
        });
    Ok(json!({
        "task": "nwb-read", "n_units": back.n_units(), "n_spikes": back.total_spikes(),
        "identical_to_demo": identical,
    }))
}

fn head(tr: &CalciumTraces, frames: usize) -> Result<CalciumTraces> {
    let lens = tr.valid_lengths();
    let cols: Vec<Vec<f64>> = (0..tr.n_neurons())
        .map(|j| {
            tr.trace(j)
                .iter()
                .take(lens[j].min(frames))
                .copied()
                .collect()
        })
        .collect();
    Ok(CalciumTraces::from_columns(&cols, tr.frame_rate_hz())?)
}

fn cmd_calcium(n: u32, pw_frames: usize) -> Result<serde_json::Value> {
    let set = spikelab_datasets::calcium::spikefinder_test(n)?;
    let cnn = ElephantCnn::embedded(1)?;
    let samples: usize = set.calcium.valid_lengths().iter().sum();
    // Warm-up on a short piece (allocations), then the timed full run.
    let small = head(&set.calcium, 1000)?;
    cnn.predict(&small)?;
    let t0 = Instant::now();
    let pred = cnn.predict(&set.calcium)?;
    let fc_s = t0.elapsed().as_secs_f64();
    let sc = score(&set.name, &pred, &set.spikes, Padding::ZeroFilled)?;
    // Per-window (Keras-style) on the first pw_frames frames of each neuron.
    let part = head(&set.calcium, pw_frames)?;
    let pw_samples: usize = part.valid_lengths().iter().sum();
    let pw = cnn.clone().with_evaluation(Evaluation::PerWindow);
    pw.predict(&small)?;
    let t0 = Instant::now();
    let pred_pw = pw.predict(&part)?;
    let pw_s = t0.elapsed().as_secs_f64();
    let fc_part = cnn.predict(&part)?;
    let max_diff = pred_pw
        .iter()
        .zip(fc_part.iter())
        .filter(|(a, b)| a.is_finite() && b.is_finite())
        .map(|(a, b)| (a - b).abs())
        .fold(0.0f64, f64::max);
    Ok(json!({
        "task": "calcium", "set": n, "neurons": set.calcium.n_neurons(), "samples": samples,
        "fc_s": fc_s, "median_r": sc.median_corr, "corr": sc.corr,
        "pw_frames": pw_frames, "pw_samples": pw_samples, "pw_s": pw_s,
        "pw_vs_fc_max_abs_diff": max_diff,
    }))
}

fn cmd_convseq_epochs(epochs: usize) -> Result<serde_json::Value> {
    let raster = bundled::demo_raster()?;
    let p = ConvSeqParams::default();
    let logits = init_logits(1, raster.n_neurons(), p.width_bins, 0);
    let mut e = make_engine(&raster, &p, logits)?;
    for _ in 0..5 {
        e.step()?;
    }
    let t0 = Instant::now();
    for _ in 0..epochs {
        e.step()?;
    }
    let s = t0.elapsed().as_secs_f64();
    Ok(json!({"task": "convseq-epochs", "epochs": epochs, "ms_per_epoch": 1e3 * s / epochs as f64}))
}

fn cmd_convseq_fit(epochs: usize) -> Result<serde_json::Value> {
    let raster = bundled::demo_raster()?;
    let truth = bundled::demo_truth()?;
    let params = ConvSeqParams {
        epochs,
        ..Default::default()
    };
    let t0 = Instant::now();
    let fit = ConvSeq::new(params)?.fit(&raster)?;
    let total_s = t0.elapsed().as_secs_f64();
    let s = metrics::score(&fit.detection, 0, &truth, fit.params.width_bins as f64)?;
    let m = &s.events;
    Ok(json!({
        "task": "convseq-fit", "epochs": epochs, "total_s": total_s,
        "events": fit.detection.events.len(), "tp": m.true_positives, "fp": m.false_positives,
        "fn": m.false_negatives, "f1": m.f1, "rho": s.order_spearman,
        "alpha": fit.detection.alpha[0],
    }))
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let num = |i: usize, d: usize| -> Result<usize> {
        Ok(args.get(i).map(|s| s.parse()).transpose()?.unwrap_or(d))
    };
    let out = match args.get(1).map(String::as_str) {
        Some("nwb") => cmd_nwb(args.get(2).context("nwb OUT.nwb [repeats]")?, num(3, 5)?)?,
        Some("nwb-read") => cmd_nwb_read(args.get(2).context("nwb-read FILE.nwb")?)?,
        Some("calcium") => cmd_calcium(num(2, 4)? as u32, num(3, 3000)?)?,
        Some("convseq-epochs") => cmd_convseq_epochs(num(2, 100)?)?,
        Some("convseq-fit") => cmd_convseq_fit(num(2, 4000)?)?,
        _ => bail!(
            "usage: peers_ours nwb OUT.nwb [repeats] | nwb-read FILE | calcium N [pw_frames] | convseq-epochs E | convseq-fit E"
        ),
    };
    println!("{out}");
    Ok(())
}
