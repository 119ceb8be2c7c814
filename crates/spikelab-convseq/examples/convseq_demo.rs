//! Reproduces the convSeq README demo end to end on the bundled synthetic dataset (made by
//! the original generator): α from 15 000 random filters, 4000 epochs of Adam, detections,
//! the scores against the ground truth (event F1 within ±W, order Spearman ρ, called
//! members), the original's zone metric, and the figure.
//!
//! `cargo run --release -p spikelab-convseq --features plot --example convseq_demo -- [epochs] [seed] [fig.png]`

use std::time::Instant;

use spikelab_convseq::{ConvSeq, ConvSeqParams, metrics, plot::plot};
use spikelab_core::{Flow, Progress};
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
        raster.nnz(),
        100.0 * raster.nnz() as f64 / (raster.n_neurons() as f64 * raster.n_bins() as f64)
    );
    let params = ConvSeqParams {
        epochs,
        seed,
        ..Default::default()
    };
    let t0 = Instant::now();
    let fit = ConvSeq::new(params)?.fit_with(&raster, &mut |p: &Progress| {
        if p.step.is_multiple_of(500) {
            println!(
                "epoch {:5}: loss {:.5}",
                p.step,
                p.metric("loss").unwrap_or(f64::NAN)
            );
        }
        Flow::Continue
    })?;
    let secs = t0.elapsed().as_secs_f64();
    let det = &fit.detection;
    let ns = &det.null[0];
    println!(
        "α = {:.4} (null mean {:.4}, std {:.4}, {} filters)",
        det.alpha[0], ns.mean, ns.std, ns.n_samples
    );
    println!(
        "total {secs:.2} s ({:.2} ms/epoch incl. α and read-out)",
        1e3 * secs / epochs as f64
    );
    let w = fit.params.width_bins;
    let s = metrics::score(det, 0, &truth, w as f64)?;
    let m = &s.events;
    println!(
        "events {}: TP {} FP {} FN {} precision {:.3} recall {:.3} F1 {:.3}",
        det.events.len(),
        m.true_positives,
        m.false_positives,
        m.false_negatives,
        m.precision,
        m.recall,
        m.f1
    );
    let bins = fit.event_bins(0);
    let mut offs: Vec<f64> = m
        .pairs
        .iter()
        .map(|&(i, j)| bins[i] as f64 - truth.centres_bins[j])
        .collect();
    if !offs.is_empty() {
        offs.sort_by(f64::total_cmp);
        println!("peak − GT centre: median {:.0} bins", offs[offs.len() / 2]);
    }
    let z = metrics::zone_metric(&bins, &truth.centres_bins, w, raster.n_bins() as usize);
    println!(
        "zone metric: TP {}/{} FP {} TPR {:.3}",
        z.true_positives,
        truth.centres_bins.len(),
        z.false_positives,
        z.tpr
    );
    println!(
        "Spearman(true order, learned lag) over the {} members: {:.3}",
        truth.members.len(),
        s.order_spearman
    );
    println!(
        "members called {} (true {}): precision {:.3} recall {:.3}",
        s.called_members,
        truth.members.len(),
        s.member_precision,
        s.member_recall
    );
    if let Some(png) = args.get(3) {
        plot(&raster, &fit, det, std::path::Path::new(png), true)?;
        println!("figure → {png}");
    }
    Ok(())
}
