//! Reproduces the convSeq README demo end to end on the bundled synthetic dataset (made by
//! the original generator): α from 15 000 random filters, 4000 epochs of Adam, detections,
//! event-matching scores against the ground truth, the original's zone metric, the
//! Spearman correlation of the learned order, and member neurons.
//!
//! `cargo run --release -p spikelab-convseq --example convseq_demo -- [epochs] [seed] [fig.png]`

use std::time::Instant;

#[allow(dead_code)]
#[path = "../../../src/commands/convseq.rs"]
mod convseq;

use spikelab_convseq::{ConvSeq, ConvSeqParams, metrics};
use spikelab_datasets::convseq as bundled;

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let epochs: usize = args.get(1).map(|s| s.parse()).transpose()?.unwrap_or(4000);
    let seed: u64 = args.get(2).map(|s| s.parse()).transpose()?.unwrap_or(0);
    let raster = bundled::demo_raster()?;
    let truth = bundled::demo_truth()?;
    println!(
        "raster {} × {} ({} spikes, density {:.4} %)",
        raster.n_neurons(),
        raster.n_bins(),
        raster.n_spikes(),
        100.0 * raster.density()
    );
    let params = ConvSeqParams {
        epochs,
        seed,
        ..Default::default()
    };
    let t0 = Instant::now();
    let fit = ConvSeq::new(params)?.fit_with(&raster, |ep, l| {
        if ep % 500 == 0 {
            println!(
                "epoch {ep:5}: loss {:.5} var {:.5} TV {:.6}",
                l.total, l.var[0], l.tv[0]
            );
        }
    })?;
    let secs = t0.elapsed().as_secs_f64();
    let ns = &fit.null[0];
    println!(
        "α = {:.4} (null mean {:.4}, std {:.4}, {} filters)",
        fit.alpha[0], ns.mean, ns.std, ns.n_samples
    );
    println!(
        "total {secs:.2} s ({:.2} ms/epoch incl. α and read-out)",
        1e3 * secs / epochs as f64
    );
    let det: Vec<f64> = fit.events.iter().map(|e| e.bin as f64).collect();
    let m = metrics::match_events(&det, &truth.centres, fit.params.width_bins as f64);
    println!(
        "events {}: TP {} FP {} FN {} precision {:.3} recall {:.3} F1 {:.3}",
        det.len(),
        m.true_positives,
        m.false_positives,
        m.false_negatives,
        m.precision,
        m.recall,
        m.f1
    );
    let offs: Vec<f64> = m
        .pairs
        .iter()
        .map(|&(i, j)| det[i] - truth.centres[j])
        .collect();
    if !offs.is_empty() {
        let mut o = offs.clone();
        o.sort_by(f64::total_cmp);
        println!("peak − GT centre: median {:.0} bins", o[o.len() / 2]);
    }
    let z = metrics::zone_metric(
        &fit.event_bins(0),
        &truth.centres,
        fit.params.width_bins,
        raster.n_bins(),
    );
    println!(
        "zone metric: TP {}/{} FP {} TPR {:.3}",
        z.true_positives,
        truth.centres.len(),
        z.false_positives,
        z.tpr
    );
    let pos: Vec<f64> = (0..truth.members.len()).map(|i| i as f64).collect();
    let lag: Vec<f64> = truth
        .members
        .iter()
        .map(|&n| fit.lags[[0, n]] as f64)
        .collect();
    println!(
        "Spearman(true order, learned lag) over the {} members: {:.3}",
        pos.len(),
        metrics::spearman(&pos, &lag)
    );
    let called = fit.member_neurons(0);
    let tp = called.iter().filter(|n| truth.members.contains(n)).count();
    println!(
        "members called {} (true {}): precision {:.3} recall {:.3}",
        called.len(),
        truth.members.len(),
        tp as f64 / called.len().max(1) as f64,
        tp as f64 / truth.members.len() as f64
    );
    if let Some(png) = args.get(3) {
        convseq::plot(&raster, &fit, std::path::Path::new(png))?;
        println!("figure → {png}");
    }
    Ok(())
}
