//! Scaling of the sparse path: ms per epoch (forward + backward + Adam, W 200, K 1) on
//! Poisson rasters at the demo's density (0.0021 spikes per bin and neuron) for growing N
//! and T, and the fitted exponents of time ∝ N^a and ∝ T^b. Memory is the spikes (16 bytes
//! each in the raster's `(bin, count)` lists, 16 more in the engine's time-ordered copy) plus
//! K·(N·W) and K·L floats, never N × T.
//!
//! `cargo run --release -p spikelab-convseq --example convseq_scaling -- [max_cells_log10]`
//! (default 9.5: up to 10⁴ neurons × 10⁵ bins and 452 × 10⁷ bins; 11 adds 10⁴ × 10⁶ and
//! 10⁴ × 10⁷ bins, 2·10⁸ spikes, which needs ~10 GB of RAM while the raster is built).
//! The last column is the process's peak resident memory so far (Linux `VmHWM`).

use std::time::Instant;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use spikelab_convseq::{ConvSeqParams, SparseRaster, init_logits, make_engine};

fn poisson_raster(n: usize, t: usize, p: f64, seed: u64) -> anyhow::Result<SparseRaster> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut ev = Vec::with_capacity((n as f64 * t as f64 * p * 1.1) as usize);
    // Geometric gaps between spikes: O(spikes), not O(N·T).
    let lq = (1.0 - p).ln();
    for i in 0..n {
        let mut b = 0f64;
        loop {
            let u: f64 = rng.random::<f64>().max(1e-300);
            b += (u.ln() / lq).floor() + 1.0;
            if b as usize > t {
                break;
            }
            ev.push((i, b as u64 - 1));
        }
    }
    Ok(SparseRaster::from_events(n, t as u64, 0.05, &ev)?)
}

/// Peak resident set size of this process in MB (Linux only).
fn peak_rss_mb() -> Option<f64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

fn slope(x: &[f64], y: &[f64]) -> f64 {
    let n = x.len() as f64;
    let (mx, my) = (x.iter().sum::<f64>() / n, y.iter().sum::<f64>() / n);
    let sxy: f64 = x.iter().zip(y).map(|(a, b)| (a - mx) * (b - my)).sum();
    let sxx: f64 = x.iter().map(|a| (a - mx) * (a - mx)).sum();
    sxy / sxx
}

fn time_epoch(r: &SparseRaster) -> anyhow::Result<f64> {
    let p = ConvSeqParams::default();
    let mut e = make_engine(r, &p, init_logits(1, r.n_neurons(), p.width_bins, 0))?;
    e.step()?;
    let reps = match r.nnz() {
        s if s > 50_000_000 => 1,
        s if s > 5_000_000 => 2,
        _ => 5,
    };
    let t0 = Instant::now();
    for _ in 0..reps {
        e.step()?;
    }
    Ok(1e3 * t0.elapsed().as_secs_f64() / reps as f64)
}

fn main() -> anyhow::Result<()> {
    let max_log: f64 = std::env::args()
        .nth(1)
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(9.5);
    let p = 0.0021;
    println!("| N | T | spikes | ms/epoch | spike memory (MB) | peak RSS so far (MB) |");
    println!("| --- | --- | --- | --- | --- | --- |");
    let run = |n: usize, t: usize| -> anyhow::Result<Option<f64>> {
        if ((n * t) as f64).log10() > max_log + 1e-9 {
            return Ok(None);
        }
        let r = poisson_raster(n, t, p, 1)?;
        let ms = time_epoch(&r)?;
        println!(
            "| {n} | {t} | {} | {ms:.2} | {:.1} | {} |",
            r.nnz(),
            r.nnz() as f64 * 16e-6,
            peak_rss_mb().map_or("?".to_string(), |m| format!("{m:.0}"))
        );
        Ok(Some(ms))
    };
    let (mut xt, mut yt) = (vec![], vec![]);
    for t in [18_137usize, 100_000, 1_000_000, 10_000_000] {
        if let Some(ms) = run(452, t)? {
            xt.push((t as f64).ln());
            yt.push(ms.ln());
        }
    }
    let (mut xn, mut yn) = (vec![], vec![]);
    for n in [452usize, 1_000, 3_000, 10_000] {
        if let Some(ms) = run(n, 100_000)? {
            xn.push((n as f64).ln());
            yn.push(ms.ln());
        }
    }
    let (mut xb, mut yb) = (vec![], vec![]);
    for t in [1_000_000usize, 10_000_000] {
        if let Some(ms) = run(10_000, t)? {
            xb.push((t as f64).ln());
            yb.push(ms.ln());
        }
    }
    if xb.len() > 1 {
        println!(
            "time ∝ T^{:.2} (N = 10^4, T = 10^6 → 10^7)",
            slope(&xb, &yb)
        );
    }
    if xt.len() > 1 {
        println!("time ∝ T^{:.2} (N = 452)", slope(&xt, &yt));
    }
    if xn.len() > 1 {
        println!("time ∝ N^{:.2} (T = 10^5)", slope(&xn, &yn));
    }
    Ok(())
}
