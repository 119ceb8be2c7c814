//! CASCADE `predict` throughput (output samples/s, CPU) on a `[neuron, time]` `.npy` matrix,
//! the same call the original makes (noise levels, all ensembles, post-processing).
//!
//! ```text
//! cargo run -p spikelab-calcium --release --example cascade_speed -- MODEL_DIR TRACES.npy [repeats] [OUT.npy]
//! ```
//! Prints one line per repeat and the median; `OUT.npy` receives the prediction (to compare
//! with the original's). `benches/peers/cascade_peer.py` runs it beside `cascade2p.predict`.

use std::path::PathBuf;
use std::time::Instant;

use ndarray::{Array2, Ix2};
use spikelab_calcium::cascade::{CascadeModel, PredictOptions};

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() < 2 {
        anyhow::bail!("usage: cascade_speed MODEL_DIR TRACES.npy [repeats] [OUT.npy]");
    }
    let t_load = Instant::now();
    let model = CascadeModel::load_partial(&PathBuf::from(&args[0]))?;
    let load_s = t_load.elapsed().as_secs_f64();
    let x: Array2<f64> = spikelab_data::io::npy::read_typed::<f64, Ix2>(&PathBuf::from(&args[1]))?;
    let repeats: usize = args.get(2).map_or(Ok(3), |s| s.parse())?;
    let samples = x.len() as f64;
    println!(
        "model {} loaded in {load_s:.3} s; traces {} × {}",
        model.config().model_name,
        x.nrows(),
        x.ncols()
    );
    let mut rates = Vec::new();
    let mut last = None;
    for r in 0..repeats.max(1) {
        let t0 = Instant::now();
        let p = model.predict_rows(x.view(), &PredictOptions::default())?;
        let dt = t0.elapsed().as_secs_f64();
        rates.push(samples / dt);
        println!("repeat {r}: {dt:.3} s, {:.0} samples/s", samples / dt);
        last = Some(p);
    }
    rates.sort_by(f64::total_cmp);
    println!("median {:.0} samples/s", rates[rates.len() / 2]);
    if let (Some(out), Some(p)) = (args.get(3), last) {
        spikelab_data::io::npy::write(&PathBuf::from(out), &p.spike_prob, true)?;
    }
    Ok(())
}
