//! Peak memory of the memory-bounded modes against the whole-recording ones, for a recording
//! of length L and 10·L: calcium deconvolution (`DeconvolverParams::chunk_frames`, Elephant
//! model 1, 10 neurons at 100 Hz, L = 10⁵ frames) and convSeq detection
//! (`ConvSeqFit::detect_bounded`, a `spikelab-synth` sequence raster of 100 neurons,
//! L = 10⁵ bins, filters fitted on its first 20 000 bins).
//!
//! Each run is a fresh child process (this example with `child` arguments). It builds its
//! input, resets the peak resident set size (`5 > /proc/self/clear_refs`), runs the pipeline
//! and reports `VmHWM`. *Working memory* is that peak minus the bytes of the input
//! (traces: 8 per frame and neuron; raster: 16 per allocated spike slot) and of the output (values, events
//! and members): what the pipeline needs besides the data itself, including the process's
//! fixed part (code, weights, thread stacks). *RSS at start* is the resident memory when the
//! run begins (input built, peak reset). The acceptance is a working-memory ratio
//! 10·L / L ≤ 1.2 for the bounded modes.
//!
//! `cargo run --release -p spikelab-bench --example memory_bounded` (Linux; ~1 min on 2
//! cores). Exits non-zero if a bounded ratio exceeds 1.2.

use std::process::Command;

use ndarray::Array2;
use spikelab_calcium::deconvolve::{DEFAULT_CHUNK_FRAMES, DeconvolverParams, ModelChoice};
use spikelab_convseq::{AlphaOptions, ConvSeq, ConvSeqParams, Detection, Event, Member};
use spikelab_core::Silent;
use spikelab_data::{CalciumTraces, SparseRaster};
use spikelab_synth::recipes::SequencesRecipe;

type Res<T> = Result<T, Box<dyn std::error::Error>>;

const CALCIUM_L: usize = 100_000;
const CALCIUM_NEURONS: usize = 10;
const CONVSEQ_L: u64 = 100_000;
const CONVSEQ_WINDOW: usize = 1 << 16;

fn status_kb(key: &str) -> Option<f64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with(key))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Resets `VmHWM` to the current RSS (Linux ≥ 4.0); false if the kernel refuses.
fn reset_peak() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

/// Synthetic ΔF/F at 100 Hz: exponentially decaying transients of random spikes plus noise.
fn calcium_input(frames: usize) -> Res<CalciumTraces> {
    let mut x = Array2::<f64>::zeros((frames, CALCIUM_NEURONS));
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut uniform = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state >> 11) as f64 / (1u64 << 53) as f64
    };
    for j in 0..CALCIUM_NEURONS {
        let mut c = 0.0;
        for i in 0..frames {
            if uniform() < 0.01 {
                c += 1.0;
            }
            c *= 0.98;
            x[[i, j]] = c + 0.05 * (uniform() - 0.5);
        }
    }
    Ok(CalciumTraces::new(x, 100.0)?)
}

fn sequence_raster(bins: u64) -> Res<SparseRaster> {
    let recipe = SequencesRecipe {
        neurons: 100,
        bins,
        seqlen: 30,
        gap_bins: 400,
        jitter_bins: 2.0,
        ..Default::default()
    };
    Ok(recipe.generate(7)?.0)
}

/// `(peak RSS kB, RSS kB when the run starts, input bytes, output bytes)` of one run.
fn child(pipeline: &str, bounded: bool, scale: usize) -> Res<(f64, f64, usize, usize)> {
    match pipeline {
        "calcium" => {
            let traces = calcium_input(CALCIUM_L * scale)?;
            let params = DeconvolverParams {
                model: ModelChoice::Embedded(1),
                chunk_frames: bounded.then_some(DEFAULT_CHUNK_FRAMES),
                ..Default::default()
            };
            let d = params.build()?;
            let input = traces.data().len() * 8;
            if !reset_peak() {
                return Err("cannot reset VmHWM (/proc/self/clear_refs)".into());
            }
            let start = status_kb("VmRSS:").ok_or("no VmRSS")?;
            let out = d.run(&traces, &mut Silent)?;
            let peak = status_kb("VmHWM:").ok_or("no VmHWM")?;
            Ok((peak, start, input, out.values.len() * 8))
        }
        "convseq" => {
            let train = sequence_raster(20_000)?;
            let params = ConvSeqParams {
                width_bins: 60,
                epochs: 60,
                seed: 3,
                alpha: AlphaOptions {
                    n_samples: 16,
                    ..Default::default()
                },
                ..Default::default()
            };
            let fit = ConvSeq::new(params)?.fit(&train)?;
            drop(train);
            let raster = sequence_raster(CONVSEQ_L * scale as u64)?;
            // The rows as allocated (capacity, not length: growth slack is input too).
            let input = raster
                .rows()
                .iter()
                .map(|r| r.capacity() * 16)
                .sum::<usize>();
            if !reset_peak() {
                return Err("cannot reset VmHWM (/proc/self/clear_refs)".into());
            }
            let start = status_kb("VmRSS:").ok_or("no VmRSS")?;
            let det: Detection = if bounded {
                fit.detect_bounded(&raster, CONVSEQ_WINDOW)?
            } else {
                fit.detect(&raster)?
            };
            let peak = status_kb("VmHWM:").ok_or("no VmHWM")?;
            let output = det.projections.len() * 8
                + det.events.len() * size_of::<Event>()
                + det.members.iter().map(Vec::len).sum::<usize>() * size_of::<Member>();
            Ok((peak, start, input, output))
        }
        other => Err(format!("unknown pipeline {other}").into()),
    }
}

fn main() -> Res<()> {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("child") {
        let (peak, start, input, output) = child(&args[2], args[3] == "bounded", args[4].parse()?)?;
        println!("{peak} {start} {input} {output}");
        return Ok(());
    }
    let exe = std::env::current_exe()?;
    let mb = |b: f64| b / (1024.0 * 1024.0);
    println!(
        "| pipeline | mode | length | RSS at start (MB) | peak RSS (MB) | input + output (MB) \
         | working (MB) |"
    );
    println!("|---|---|---:|---:|---:|---:|---:|");
    let mut ratios = Vec::new();
    for (pipeline, unit, l) in [
        ("calcium", "frames", CALCIUM_L as u64),
        ("convseq", "bins", CONVSEQ_L),
    ] {
        for mode in ["bounded", "whole"] {
            let mut working = Vec::new();
            for scale in [1usize, 10] {
                let o = Command::new(&exe)
                    .args(["child", pipeline, mode, &scale.to_string()])
                    .output()?;
                if !o.status.success() {
                    return Err(String::from_utf8_lossy(&o.stderr).into_owned().into());
                }
                let s = String::from_utf8(o.stdout)?;
                let v: Vec<f64> = s
                    .split_whitespace()
                    .map(str::parse)
                    .collect::<Result<_, _>>()?;
                let (peak, start, io) = (v[0] * 1024.0, v[1] * 1024.0, v[2] + v[3]);
                working.push(peak - io);
                println!(
                    "| {pipeline} | {mode} | {} {unit} | {:.1} | {:.1} | {:.1} | {:.1} |",
                    l * scale as u64,
                    mb(start),
                    mb(peak),
                    mb(io),
                    mb(peak - io)
                );
            }
            ratios.push((pipeline, mode, working[1] / working[0]));
        }
    }
    println!();
    let mut ok = true;
    for (pipeline, mode, r) in ratios {
        let verdict = match mode {
            "bounded" if r <= 1.2 => "≤ 1.2: met",
            "bounded" => {
                ok = false;
                "> 1.2: NOT met"
            }
            _ => "(for comparison)",
        };
        println!("{pipeline} {mode}: working memory 10·L / L = {r:.2} {verdict}");
    }
    if ok {
        Ok(())
    } else {
        Err("a bounded mode grew by more than 1.2×".into())
    }
}
