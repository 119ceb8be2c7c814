//! Time-chunked data parallelism ([`spikelab_convseq::chunked`]) in one process: ms per epoch
//! (forward, the two sums, backward, Adam; W 200, K 1) of the single sparse engine and of
//! 1, 2, 4 and 8 shards run one after the other, on the bundled CA1 raster (452 × 18 137
//! bins) and on a Poisson raster of 2 000 neurons × 10⁶ bins at the demo's density. The
//! ratio to the single engine is the cost of chunking (the W-bin overlaps, the per-shard
//! passes) that several devices would have to win back; the spread of spikes over shards
//! bounds their balance. The logits after the timed epochs are compared with the single
//! engine's.
//!
//! `cargo run --release -p spikelab-convseq --example convseq_shards`

use std::time::Instant;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use spikelab_convseq::chunked::ChunkedEngine;
use spikelab_convseq::{ConvSeqParams, Engine, SparseEngine, SparseRaster, init_logits};

/// Poisson spikes at probability `p` per bin and neuron (geometric gaps).
fn poisson_raster(n: usize, t: usize, p: f64, seed: u64) -> anyhow::Result<SparseRaster> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let lq = (1.0 - p).ln();
    let mut ev = Vec::new();
    for i in 0..n {
        let mut b = 0f64;
        loop {
            b += (rng.random::<f64>().max(1e-300).ln() / lq).floor() + 1.0;
            if b as usize > t {
                break;
            }
            ev.push((i, b as u64 - 1));
        }
    }
    Ok(SparseRaster::from_events(n, t as u64, 0.05, &ev)?)
}

fn ms_per_epoch(e: &mut dyn Engine, reps: usize) -> anyhow::Result<f64> {
    e.step()?;
    let t0 = Instant::now();
    for _ in 0..reps {
        e.step()?;
    }
    Ok(t0.elapsed().as_secs_f64() * 1e3 / reps as f64)
}

fn main() -> anyhow::Result<()> {
    let rasters = [
        (
            "CA1 452 × 18 137",
            spikelab_datasets::convseq::ca1_raster()?,
            20,
        ),
        (
            "Poisson 2 000 × 10⁶",
            poisson_raster(2000, 1_000_000, 0.0021, 1)?,
            3,
        ),
    ];
    println!(
        "| raster | spikes | engine | ms / epoch | × single | max/mean spikes per shard | max |Δ logits| |"
    );
    println!("|---|---|---|---|---|---|---|");
    for (name, r, reps) in rasters {
        let p = ConvSeqParams::default();
        let logits = init_logits(1, r.n_neurons(), p.width_bins, 0);
        let mut single = SparseEngine::new(&r, p.clone(), logits.clone())?;
        let base = ms_per_epoch(&mut single, reps)?;
        let want = single.logits()?;
        println!(
            "| {name} | {} | single | {base:.1} | 1.00 | — | — |",
            r.nnz()
        );
        for n in [1, 2, 4, 8] {
            let mut e = ChunkedEngine::new(&r, p.clone(), logits.clone(), n)?;
            let per: Vec<f64> = e
                .shards()
                .iter()
                .map(|s| {
                    let b = &s.chunk().bins;
                    r.slice_bins(b.start as u64, b.end as u64)
                        .map(|x| x.nnz() as f64)
                        .unwrap_or(f64::NAN)
                })
                .collect();
            let balance =
                per.iter().cloned().fold(0.0, f64::max) / (per.iter().sum::<f64>() / n as f64);
            let ms = ms_per_epoch(&mut e, reps)?;
            let d = e
                .logits()?
                .iter()
                .zip(want.iter())
                .map(|(a, b)| (a - b).abs())
                .fold(0.0, f64::max);
            println!(
                "| {name} | {} | {n} shards | {ms:.1} | {:.2} | {balance:.3} | {d:.1e} |",
                r.nnz(),
                ms / base
            );
        }
    }
    Ok(())
}
