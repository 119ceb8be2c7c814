//! POYO on synthetic multi-session data (spikelab-synth `MultiSessionParams`): train on the
//! first 80 % of every session, print the loss, seconds per step and the held-out R² per
//! session.
//!
//! ```text
//! cargo run --release -p spikelab-decode --example poyo_synthetic -- \
//!     [sessions] [units_min] [units_max] [duration_s] [rate_span] [steps] [batch] [max_lr] [model] [device]
//! ```
//! Defaults: 3 sessions, 30–40 units, 80 s, span 4, 300 steps, batch 16, lr 2e-3, model
//! `small` (dim 32, depth 1, 16 latents; `1.3m` for POYO-1.3M), device cpu.
//!
//! `poyo_synthetic export OUT.json [sessions] [units_min] [units_max] [duration_s] [rate_span]`
//! writes the same sessions (seed 7) as JSON instead, for the torch-brain peer
//! (`benches/peers/poyo_torch_synthetic.py`); it does not overwrite an existing file.

use std::time::Instant;

use candle_core::DType;
use spikelab_core::{Flow, Progress};
use spikelab_decode::poyo::{self, PoyoConfig, Recording, TrainParams};
use spikelab_synth::MultiSessionParams;

fn main() -> anyhow::Result<()> {
    let mut a: Vec<String> = std::env::args().skip(1).collect();
    let export = if a.first().map(String::as_str) == Some("export") {
        let path = a
            .get(1)
            .cloned()
            .ok_or_else(|| anyhow::anyhow!("export needs OUT.json"))?;
        a.drain(..2);
        Some(std::path::PathBuf::from(path))
    } else {
        None
    };
    let arg = |i: usize, d: &str| a.get(i).cloned().unwrap_or_else(|| d.to_string());
    let synth = MultiSessionParams {
        n_sessions: arg(0, "3").parse()?,
        units: (arg(1, "30").parse()?, arg(2, "40").parse()?),
        duration_s: arg(3, "80").parse()?,
        rate_span: arg(4, "4").parse()?,
        ..Default::default()
    };
    let sessions = synth.generate(7)?;
    if let Some(path) = export {
        let dir = path.parent().filter(|d| !d.as_os_str().is_empty());
        let mut f = tempfile::NamedTempFile::new_in(dir.unwrap_or(std::path::Path::new(".")))?;
        serde_json::to_writer(std::io::BufWriter::new(&mut f), &sessions)?;
        f.persist_noclobber(&path)
            .map_err(|e| anyhow::anyhow!("{}: {}", path.display(), e.error))?;
        println!("wrote {} sessions to {}", sessions.len(), path.display());
        return Ok(());
    }
    let steps: usize = arg(5, "300").parse()?;
    let batch: usize = arg(6, "16").parse()?;
    let lr: f64 = arg(7, "0.002").parse()?;
    let cfg = match arg(8, "small").as_str() {
        "1.3m" => PoyoConfig::poyo_1_3m(2),
        _ => PoyoConfig::small(2),
    };
    let device = arg(9, "cpu")
        .parse::<spikelab_core::Device>()?
        .to_candle()?;
    let recs: Vec<Recording> = sessions
        .iter()
        .map(|s| {
            Recording::new(
                &s.id,
                s.spikes.clone(),
                s.unit_ids.clone(),
                s.target_times_s.clone(),
                s.velocity.clone(),
            )
        })
        .collect::<Result<_, _>>()?;
    let split = 0.8 * synth.duration_s;
    let train_iv: Vec<Vec<(f64, f64)>> = recs.iter().map(|_| vec![(0.0, split)]).collect();
    let test_iv: Vec<Vec<(f64, f64)>> = recs
        .iter()
        .map(|_| vec![(split, synth.duration_s)])
        .collect();
    let params = TrainParams {
        steps,
        batch,
        max_lr: Some(lr),
        seed: 1,
        ..Default::default()
    };
    let t0 = Instant::now();
    let mut obs = |p: &Progress<'_>| {
        if (p.step + 1).is_multiple_of(25) {
            println!(
                "step {:5}  loss {:.4}  lr {:.2e}  {:.3} s/step",
                p.step + 1,
                p.metric("loss").unwrap_or(f64::NAN),
                p.metric("lr").unwrap_or(f64::NAN),
                t0.elapsed().as_secs_f64() / (p.step + 1) as f64
            );
        }
        Flow::Continue
    };
    let (model, _) = poyo::fit(
        cfg,
        &recs,
        &train_iv,
        &params,
        DType::F32,
        &device,
        &mut obs,
    )?;
    let train_s = t0.elapsed().as_secs_f64();
    let (r2, mean) = poyo::evaluate(&model, &recs, &test_iv, 64)?;
    let (_, r2_train) = poyo::evaluate(&model, &recs, &train_iv, 64)?;
    println!(
        "| params | steps | train s | train R² | test R² per session | mean test R² |\n| {} | {steps} | {train_s:.1} | {r2_train:.3} | {:?} | {mean:.3} |",
        model.n_parameters(),
        r2.iter()
            .map(|v| (v * 1000.0).round() / 1000.0)
            .collect::<Vec<_>>()
    );
    Ok(())
}
