//! Where convSeq finds a planted sequence: the faithful and the robust mode over sequence
//! length × dropout × jitter (issue #20, item 3), on the original generator's recipe with the
//! bundled CA1 raster (452 neurons × 18 137 bins) as background. Prints a markdown table and
//! writes `convseq_sweep.json` (every raster) and `convseq_sweep.png` (heat maps) to OUT_DIR.
//!
//! `cargo run --release -p spikelab-bench --example convseq_sweep -- [OUT_DIR=.] [--quick] [--force]`
//! (`--quick`: seqlen 80 / 120, p_drop 0.1, jitter 5 / 30, one seed, the faithful mode at
//! 1000 epochs; the full grid is [`DetectionSweep::issue20`]).

use std::path::PathBuf;

use spikelab_bench::detection::{DetectionSweep, SweepMode, summarise, summary_markdown};
use spikelab_core::{Flow, Progress};

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let force = args.iter().any(|a| a == "--force");
    let quick = args.iter().any(|a| a == "--quick");
    let out = args
        .iter()
        .find(|a| !a.starts_with("--"))
        .map_or_else(|| PathBuf::from("."), PathBuf::from);
    let sweep = if quick {
        DetectionSweep {
            seqlens: vec![80, 120],
            p_drops: vec![0.1],
            jitters_bins: vec![5.0, 30.0],
            seeds: vec![0],
            modes: vec![SweepMode::Faithful { epochs: 1000 }, SweepMode::Robust],
            ..DetectionSweep::issue20()
        }
    } else {
        DetectionSweep::issue20()
    };
    let bg = spikelab_datasets::convseq::ca1_raster()?.to_dense()?;
    let t0 = std::time::Instant::now();
    let mut progress = |p: &Progress<'_>| {
        eprintln!(
            "batch {}/{} ({:.0} s)",
            p.step + 1,
            p.total.unwrap_or(0),
            t0.elapsed().as_secs_f64()
        );
        Flow::Continue
    };
    let cells = sweep.run(&bg, &mut progress)?;
    println!(
        "| mode | seqlen | p_drop | jitter | seed | occ. | events | F1 | ρ | significant | wall s |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|");
    for c in &cells {
        println!(
            "| {} | {} | {:.2} | {:.0} | {} | {} | {} | {:.3} | {:.3} | {} | {:.1} |",
            c.mode,
            c.seqlen,
            c.p_drop,
            c.jitter_bins,
            c.seed,
            c.occurrences,
            c.events,
            c.f1,
            c.order_spearman,
            c.significant.map_or("—".into(), |s| s.to_string()),
            c.wall_s
        );
    }
    let summary = summarise(&cells);
    println!("\n{}", summary_markdown(&summary));
    let json = serde_json::to_vec_pretty(&serde_json::json!({ "sweep": sweep, "cells": cells }))?;
    spikelab_data::io::write_bytes_atomic(&out.join("convseq_sweep.json"), &json, force)?;
    spikelab_bench::plot::detection_heatmap(
        &summary,
        "convSeq detection sweep, mean over seeds",
        &out.join("convseq_sweep.png"),
        force,
    )?;
    eprintln!(
        "wrote {}/convseq_sweep.{{json,png}} in {:.0} s",
        out.display(),
        t0.elapsed().as_secs_f64()
    );
    Ok(())
}
