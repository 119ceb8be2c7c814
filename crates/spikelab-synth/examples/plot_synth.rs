//! Plots a generated sequence raster (members sorted by their lag, non-members below) and a
//! calcium trace made from one member's spikes, to PNG.
//!
//! ```text
//! cargo run --release -p spikelab-synth --example plot_synth -- [OUT_DIR] [SEED]
//! ```
//! Writes `OUT_DIR/synth_sequences.png` and `OUT_DIR/synth_calcium.png` (default `.`).

use anyhow::Result;
use plotters::prelude::*;
use spikelab_data::SpikeTrains;
use spikelab_synth::{CalciumParams, Indicator, SequenceParams};

fn main() -> Result<()> {
    let mut args = std::env::args().skip(1);
    let out_dir = std::path::PathBuf::from(args.next().unwrap_or_else(|| ".".into()));
    let seed: u64 = args.next().map(|s| s.parse()).transpose()?.unwrap_or(0);
    std::fs::create_dir_all(&out_dir)?;

    // The convSeq README-sized dataset (clean mode).
    let p = SequenceParams::default();
    let (raster, truth) = p.generate(seed)?;
    let members = &truth.types[0].members;
    // Row order for display: members in sequence order, then the others.
    let mut order: Vec<usize> = members.clone();
    let is_member: std::collections::HashSet<usize> = members.iter().copied().collect();
    order.extend((0..raster.n_neurons()).filter(|r| !is_member.contains(r)));
    let show_bins = 2_000u64;

    let path = out_dir.join("synth_sequences.png");
    {
        spikelab_core::register_plot_font();
        let root = BitMapBackend::new(&path, (1200, 700)).into_drawing_area();
        root.fill(&WHITE)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(
                format!(
                    "clean-mode sequences (seed {seed}): {} members sorted by lag, then {} others",
                    members.len(),
                    raster.n_neurons() - members.len()
                ),
                ("sans-serif", 20),
            )
            .margin(10)
            .x_label_area_size(40)
            .y_label_area_size(50)
            .build_cartesian_2d(
                0f64..show_bins as f64 * p.bin_s,
                0f64..raster.n_neurons() as f64,
            )?;
        chart
            .configure_mesh()
            .x_desc("time (s)")
            .y_desc("neuron (sorted)")
            .disable_mesh()
            .draw()?;
        let mut pts = Vec::new();
        for (y, &r) in order.iter().enumerate() {
            for &(b, _) in &raster.rows()[r] {
                if b < show_bins {
                    pts.push((b as f64 * p.bin_s, y as f64, is_member.contains(&r)));
                }
            }
        }
        chart.draw_series(pts.iter().map(|&(x, y, m)| {
            Circle::new((x, y), 1, if m { RED.filled() } else { BLACK.filled() })
        }))?;
        // Ground-truth centres.
        for c in truth.centres(0) {
            if (c as u64) < show_bins {
                let x = c as f64 * p.bin_s;
                chart.draw_series(LineSeries::new(
                    vec![(x, 0.0), (x, members.len() as f64)],
                    BLUE.stroke_width(1),
                ))?;
            }
        }
        root.present()?;
    }
    println!("wrote {}", path.display());

    // Calcium: the first member's spikes through GCaMP6s at 30 Hz, ν = 2.
    let m = members[0];
    let times: Vec<f64> = raster.rows()[m]
        .iter()
        .map(|&(b, _)| (b as f64 + 0.5) * p.bin_s)
        .collect();
    let spikes = SpikeTrains::new(vec![times], 0.0, raster.n_bins() as f64 * p.bin_s)?;
    let (traces, ca) = CalciumParams::new(30.0, Indicator::Gcamp6s)
        .with_noise_level(2.0)
        .with_drift(0.02, 30.0)
        .generate(&spikes, seed)?;
    let show_frames = 3_000usize.min(traces.n_frames());
    let path = out_dir.join("synth_calcium.png");
    {
        spikelab_core::register_plot_font();
        let root = BitMapBackend::new(&path, (1200, 400)).into_drawing_area();
        root.fill(&WHITE)?;
        let y = traces.trace(0);
        let ymax = y.iter().take(show_frames).cloned().fold(0.2, f64::max);
        let ymin = y.iter().take(show_frames).cloned().fold(0.0, f64::min);
        let mut chart = ChartBuilder::on(&root)
            .caption(
                format!(
                    "GCaMP6s at 30 Hz, ν = {:.2} (target 2), member row {m}",
                    ca.noise_level[0]
                ),
                ("sans-serif", 20),
            )
            .margin(10)
            .x_label_area_size(40)
            .y_label_area_size(50)
            .build_cartesian_2d(0f64..show_frames as f64 / 30.0, ymin..ymax * 1.1)?;
        chart
            .configure_mesh()
            .x_desc("time (s)")
            .y_desc("ΔF/F")
            .draw()?;
        chart.draw_series(LineSeries::new(
            (0..show_frames).map(|k| (k as f64 / 30.0, y[k])),
            BLACK.stroke_width(1),
        ))?;
        chart.draw_series(LineSeries::new(
            (0..show_frames).map(|k| (k as f64 / 30.0, ca.clean[[k, 0]] + ca.drift[[k, 0]])),
            RED.stroke_width(2),
        ))?;
        for &t in &ca.spike_times_s[0] {
            if t < show_frames as f64 / 30.0 {
                chart.draw_series(LineSeries::new(
                    vec![(t, ymin), (t, ymin + 0.05 * (ymax - ymin))],
                    BLUE.stroke_width(2),
                ))?;
            }
        }
        root.present()?;
    }
    println!("wrote {}", path.display());
    Ok(())
}
