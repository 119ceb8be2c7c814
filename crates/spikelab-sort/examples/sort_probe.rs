//! Scale run: generates a dense-probe recording with ground truth in memory
//! (`GroundTruthParams::probe_benchmark`: 384 channels, 30 kHz), sorts it and prints the time of
//! every stage, the accuracy against the ground truth and the peak resident memory.
//!
//! ```text
//! cargo run --release -p spikelab-sort --example sort_probe -- \
//!     [--duration-s 600] [--channels 384] [--units 192] [--seed 2001] [--radius-um 40] \
//!     [--device cpu|cuda[:N]]
//! ```
//!
//! `--channels` (a multiple of 4) shortens the shank, keeping its 4 columns and pitches.
//!
//! With `--device cuda` (build with `--features cuda`) the whitening's covariance and product
//! run on the GPU; filtering, detection and clustering use every CPU thread. GPU memory is not
//! visible from here: sample `nvidia-smi --query-gpu=memory.used` beside the run.
use std::time::Instant;

use spikelab_core::{Flow, Progress};
use spikelab_sort::compare::{CompareParams, compare_to_ground_truth};
use spikelab_sort::detect::ThresholdDetector;
use spikelab_sort::pipeline::{SortParams, sort};
use spikelab_synth::recording::GroundTruthParams;

struct Args {
    duration_s: f64,
    channels: usize,
    units: usize,
    seed: u64,
    radius_um: f64,
    device: spikelab_core::Device,
}

fn parse() -> Result<Args, Box<dyn std::error::Error>> {
    let mut a = Args {
        duration_s: 600.0,
        channels: 384,
        units: 192,
        seed: 2001,
        radius_um: 40.0,
        device: spikelab_core::Device::Cpu,
    };
    let mut it = std::env::args().skip(1);
    while let Some(k) = it.next() {
        let v = it.next().ok_or(format!("{k} needs a value"))?;
        match k.as_str() {
            "--duration-s" => a.duration_s = v.parse()?,
            "--channels" => a.channels = v.parse()?,
            "--units" => a.units = v.parse()?,
            "--seed" => a.seed = v.parse()?,
            "--radius-um" => a.radius_um = v.parse()?,
            "--device" => a.device = v.parse()?,
            _ => return Err(format!("unknown argument {k}").into()),
        }
    }
    Ok(a)
}

/// Peak resident set size of this process (Linux `VmHWM`), in GB.
fn peak_rss_gb() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let kb: f64 = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()?;
    Some(kb / 1e6)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let a = parse()?;
    let t0 = Instant::now();
    let gen_params = GroundTruthParams {
        duration_s: a.duration_s,
        probe: spikelab_data::Probe::multi_column(a.channels, 4, 16.0, 20.0, 6.0)?,
        ..GroundTruthParams::probe_benchmark(a.units)
    };
    let gt = gen_params.generate(a.seed)?;
    let rec = &gt.recording;
    let gen_s = t0.elapsed().as_secs_f64();
    println!(
        "generated {} samples × {} channels ({:.1} GB f32), {} units, {} spikes in {gen_s:.1} s",
        rec.n_samples(),
        rec.n_channels(),
        (rec.n_samples() * rec.n_channels() * 4) as f64 / 1e9,
        gt.sorting.n_units(),
        gt.sorting.counts().iter().sum::<usize>()
    );
    let params = SortParams {
        detector: ThresholdDetector {
            radius_um: Some(a.radius_um),
            ..SortParams::default().detector
        },
        group_radius_um: Some(a.radius_um),
        device: a.device,
        ..SortParams::default()
    };
    let mut stages: Vec<(String, Instant)> = Vec::new();
    let t1 = Instant::now();
    let mut observer = |p: &Progress<'_>| {
        if stages.last().is_none_or(|(s, _)| s != p.stage) {
            println!("  [{:7.1} s] {}", t1.elapsed().as_secs_f64(), p.stage);
            stages.push((p.stage.to_string(), Instant::now()));
        }
        Flow::Continue
    };
    let r = sort(rec, &params, &mut observer)?;
    let end = Instant::now();
    let sort_s = t1.elapsed().as_secs_f64();
    for (i, (name, at)) in stages.iter().enumerate() {
        let next = stages.get(i + 1).map_or(end, |s| s.1);
        println!("  {name:<10} {:8.1} s", (next - *at).as_secs_f64());
    }
    let cmp = compare_to_ground_truth(&gt.sorting, &r.sorting, &CompareParams::default())?;
    let acc: Vec<f64> = cmp.by_unit().iter().map(|p| p.accuracy).collect();
    let well = acc.iter().filter(|&&x| x >= 0.8).count();
    let mut sorted = acc.clone();
    sorted.sort_by(f64::total_cmp);
    println!(
        "sorted on {} in {sort_s:.1} s ({:.2}× real time): {} units from {} peaks, {} clusters",
        a.device,
        a.duration_s / sort_s,
        r.sorting.n_units(),
        r.n_detected,
        r.n_clusters
    );
    println!(
        "accuracy over {} ground-truth units: mean {:.3}, median {:.3}, {well} units ≥ 0.8",
        acc.len(),
        cmp.mean_accuracy().unwrap_or(0.0),
        sorted.get(sorted.len() / 2).copied().unwrap_or(0.0)
    );
    match peak_rss_gb() {
        Some(gb) => println!("peak resident memory {gb:.1} GB"),
        None => println!("peak resident memory: not available on this system"),
    }
    Ok(())
}
