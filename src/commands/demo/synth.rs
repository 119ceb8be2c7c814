//! Demo stage "synth": one dataset of each generator and its ground truth.

use anyhow::Result;
use serde_json::json;
use spikelab_synth::{CalciumParams, Indicator, LifParams, PoissonParams, SequenceParams};

use super::{Ctx, StageOut, f};
use crate::plots::{Series, line_plot, raster_plot};
use crate::report::Section;

/// Runs the stage.
pub fn stage(ctx: &Ctx<'_>) -> Result<StageOut> {
    ctx.bar.set_length(4);
    let seed = ctx.seed;

    // 1. Embedded sequences (clean mode, the convSeq README size).
    let (raster, truth) = SequenceParams::default().generate(seed)?;
    let members = &truth.types[0].members;
    let centres = truth.centres(0);
    // Raster of the first 3000 bins: members first (in sequence order), then 80 others.
    let window = 3000u64;
    let mut rows: Vec<usize> = members.clone();
    rows.extend(
        (0..raster.n_neurons())
            .filter(|n| !members.contains(n))
            .take(80),
    );
    let mut events = Vec::new();
    for (r, &n) in rows.iter().enumerate() {
        for &(b, _) in &raster.rows()[n] {
            if b < window {
                let is_member = r < members.len();
                events.push((b as f64 * raster.bin_s(), r, if is_member { 3 } else { 7 }));
            }
        }
    }
    let marks: Vec<(f64, usize)> = centres
        .iter()
        .filter(|&&c| c >= 0 && (c as u64) < window)
        .map(|&c| (c as f64 * raster.bin_s(), 0))
        .collect();
    let fig_seq = ctx.fig("synth_sequences.png");
    raster_plot(
        &fig_seq,
        "Synthetic sequences: members (red, in sequence order) and background neurons (grey)",
        "time (s)",
        "neuron (members first)",
        &events,
        rows.len(),
        &marks,
        (1000, 460),
    )?;
    ctx.bar.inc(1);

    // 2. Calcium traces from Poisson spikes (GCaMP6s, 30 Hz, ν = 2).
    let (spikes, _) = PoissonParams::constant(vec![2.0; 5], 60.0).generate(seed)?;
    let (traces, ca_truth) = CalciumParams::new(30.0, Indicator::Gcamp6s)
        .with_noise_level(2.0)
        .generate(&spikes, seed)?;
    let fig_ca = ctx.fig("synth_calcium.png");
    let tr: Vec<(f64, f64)> = traces
        .trace(0)
        .iter()
        .enumerate()
        .map(|(i, &v)| (i as f64 / 30.0, v))
        .collect();
    let sp: Vec<(f64, f64)> = spikes.train(0).iter().map(|&t| (t, -0.3)).collect();
    line_plot(
        &fig_ca,
        "Synthetic GCaMP6s trace (30 Hz, noise level ν = 2) and its spikes",
        "time (s)",
        "ΔF/F",
        &[
            Series {
                label: "ΔF/F",
                points: tr,
                color: 2,
                dots: false,
            },
            Series {
                label: "true spikes",
                points: sp,
                color: 3,
                dots: true,
            },
        ],
        &[],
        (1000, 360),
    )?;
    ctx.bar.inc(1);

    // 3. The neuLVM 3-population LIF network.
    let (lif, lif_truth) = LifParams::default().generate(seed)?;
    let reb = lif.rebin(20)?;
    let fig_lif = ctx.fig("synth_lif.png");
    let series: Vec<Series<'_>> = ["E1", "E2", "I"]
        .iter()
        .enumerate()
        .map(|(p, name)| Series {
            label: name,
            points: reb
                .activity
                .activity()
                .row(p)
                .iter()
                .enumerate()
                .map(|(b, &a)| (b as f64 * reb.bin_s, a))
                .collect(),
            color: p,
            dots: false,
        })
        .collect();
    line_plot(
        &fig_lif,
        "Synthetic LIF network (winner-take-all): population activity in 4-ms bins",
        "time (s)",
        "activity A (Hz)",
        &series,
        &[],
        (1000, 360),
    )?;
    ctx.bar.inc(1);

    // 4. Poisson population throughput check (not timed here; see `spikelab bench`).
    let (pois, _) = PoissonParams::constant(vec![5.0; 1000], 100.0).generate(seed)?;
    ctx.bar.inc(1);

    let mut s = Section::new("synth");
    s.text(
        "Seeded generators (ChaCha8) return data and ground truth: embedded sequences (convSeq's \
         generator, clean mode), calcium traces with indicator kinetics and a target noise level, \
         the neuLVM microscopic LIF network, and Poisson/gamma populations.",
    )
    .table(
        "Generated datasets and their ground truth",
        &["generator", "data", "ground truth"],
        vec![
            vec![
                "sequences".into(),
                format!(
                    "{} neurons × {} bins, {} spikes",
                    raster.n_neurons(),
                    raster.n_bins(),
                    raster.total_spikes()
                ),
                format!(
                    "{} occurrences of a {}-neuron sequence",
                    centres.len(),
                    members.len()
                ),
            ],
            vec![
                "calcium (GCaMP6s)".into(),
                format!("{} frames × {} neurons at 30 Hz", traces.n_frames(), traces.n_neurons()),
                format!(
                    "{} spikes; noise level ν = {}",
                    spikes.total_spikes(),
                    ca_truth
                        .noise_level
                        .iter()
                        .map(|v| f(*v, 2))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ],
            vec![
                "LIF network".into(),
                format!("3 populations, {} s at 0.2 ms", lif.activity.duration_s()),
                format!(
                    "mean rates {} Hz",
                    lif_truth
                        .mean_rates_hz
                        .iter()
                        .map(|v| f(*v, 1))
                        .collect::<Vec<_>>()
                        .join(" / ")
                ),
            ],
            vec![
                "Poisson".into(),
                "1000 neurons × 100 s at 5 Hz".into(),
                format!("{} spikes (expected 500 000)", pois.total_spikes()),
            ],
        ],
    )
    .figure(
        "Sequence raster (first 150 s): members in sequence order (red) and 80 background neurons (grey); true occurrence centres as blue bands.",
        &fig_seq,
    )
    .figure("Synthetic calcium trace with its true spikes (red).", &fig_ca)
    .figure(
        "LIF population activity: the excitatory populations take turns (winner-take-all).",
        &fig_lif,
    );
    let numbers = json!({
        "sequences": {"neurons": raster.n_neurons(), "bins": raster.n_bins(), "spikes": raster.total_spikes(), "occurrences": centres.len(), "members": members.len()},
        "calcium": {"frames": traces.n_frames(), "neurons": traces.n_neurons(), "noise_level": ca_truth.noise_level},
        "lif": {"mean_rates_hz": lif_truth.mean_rates_hz},
        "poisson": {"spikes": pois.total_spikes()},
    });
    Ok(StageOut {
        section: s,
        numbers,
    })
}
