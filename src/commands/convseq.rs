//! `spikelab convseq detect`: convSeq sequence detection (crate `spikelab-convseq`).
//!
//! ```text
//! spikelab convseq detect IN [--filters K] [--width W] [--epochs E] [--device cpu|cuda]
//!     [--seed S] [--bin-s 0.05] [--variable NAME] [--null random|random-cv|shift]
//!     [--mode faithful|robust]
//!     [--model fit.json] --out events.csv [--json fit.json] [--plot fig.png] [--force]
//! ```
//! IN: a `[neuron, bin]` raster as `.npy` or `.mat` (counts > 1 count once, with a
//! warning), spike trains binned at `--bin-s`, or a 2-column text file
//! `neuron_id(1-based) time_s` binned at `--bin-s`. With `--model`, the filters of an earlier
//! `--json` output are applied to IN instead of learning new ones.

use spikelab_data::TimeIntervals;

use super::nwb_out::{NwbMetaArgs, NwbOutArgs, NwbTarget};
use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use indicatif::{ProgressBar, ProgressStyle};
use spikelab_convseq::{
    AlphaOptions, Backend, ConvSeq, ConvSeqFit, ConvSeqParams, DenseDType, Device, Mode, NullKind,
    input, plot::plot,
};
use spikelab_core::{Flow, Progress};

/// `spikelab convseq …`
#[derive(clap::Subcommand, Debug)]
pub enum ConvseqCommand {
    /// Learn K sequence filters (or load them with --model), detect occurrences above α,
    /// write events (+ JSON, plot).
    Detect(DetectArgs),
}

/// Arguments of `spikelab convseq detect`.
#[derive(clap::Args, Debug)]
pub struct DetectArgs {
    /// Input raster: `.npy`/`.mat` `[neuron, bin]` matrix, spike trains, or `.txt`/`.tsv`
    /// with `neuron_id time_s` rows (1-based ids).
    pub input: PathBuf,
    /// Number of filters (sequence types) K.
    #[arg(long, default_value_t = ConvSeqParams::default().n_filters)]
    pub filters: usize,
    /// Filter width W in bins.
    #[arg(long, default_value_t = ConvSeqParams::default().width_bins)]
    pub width: usize,
    /// Number of full-batch Adam epochs.
    #[arg(long, default_value_t = ConvSeqParams::default().epochs)]
    pub epochs: usize,
    /// `cpu` (sparse event-driven path), `cpu-dense`, `cuda[:N]` or `metal[:N]` (dense
    /// path), `cuda-sparse[:N]` (event-driven path on an NVIDIA GPU, f64, K = 1 or no pair
    /// terms); GPU devices need a build with that feature.
    #[arg(long, default_value = "cpu")]
    pub device: String,
    /// Seed of the filter initialisation and the null.
    #[arg(long, default_value_t = ConvSeqParams::default().seed)]
    pub seed: u64,
    /// Bin width in seconds (raster files have none; spike times are binned at it).
    #[arg(long, default_value_t = 0.05)]
    pub bin_s: f64,
    /// MATLAB variable holding the raster (default: the only 2-D numeric variable).
    #[arg(long)]
    pub variable: Option<String>,
    /// Weight of the projection total-variation penalty (TV_l).
    #[arg(long, default_value_t = ConvSeqParams::default().tv_l)]
    pub tv_l: f64,
    /// Null distribution for α: `random` (random filters, the original), `random-cv` (the
    /// same statistic from few filters with exact control variates; sub-second on a CPU) or
    /// `shift` (circularly shifted data with the learned filter).
    #[arg(long, default_value = "random")]
    pub null: String,
    /// `faithful` (the original's learning) or `robust` (coarse-to-fine initialisation,
    /// restarts chosen on a held-out part, held-out significance; with K > 1 the filters are
    /// found one after the other, each away from the earlier ones' occurrences).
    #[arg(long, default_value = "faithful")]
    pub mode: String,
    /// Number of null samples (random filters or shifted surrogates); default 15 000, 300
    /// with `--null random-cv`.
    #[arg(long)]
    pub null_samples: Option<usize>,
    /// Use this α instead of estimating it.
    #[arg(long)]
    pub alpha: Option<f64>,
    /// Apply the filters of this fit (an earlier `--json` output) instead of learning.
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// Events CSV: filter,bin,time_s,height.
    #[arg(long)]
    pub out: PathBuf,
    /// JSON of the fit: filters, order, loss history, and the detection (α, null, events,
    /// members).
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// PNG figure: raster sorted by learned order with detections, projection with α, loss.
    #[arg(long)]
    pub plot: Option<PathBuf>,
    /// Overwrite existing output files.
    #[arg(long)]
    pub force: bool,
    /// Events as an NWB TimeIntervals table `convseq_events` (onset, stop, filter, peak time,
    /// height, member unit ids).
    #[command(flatten)]
    pub nwb: NwbOutArgs,
}

/// Runs a `convseq` subcommand.
pub fn run(cmd: ConvseqCommand) -> Result<()> {
    match cmd {
        ConvseqCommand::Detect(a) => detect(a),
    }
}

/// The compute path that `--device` names.
fn backend(device: &str) -> Result<Backend> {
    Ok(match device {
        "cpu" | "sparse" => Backend::Sparse,
        "cpu-dense" => Backend::Dense {
            device: Device::Cpu,
            dtype: DenseDType::F32,
        },
        sparse if sparse.starts_with("cuda-sparse") => Backend::SparseCuda {
            ordinal: match sparse.strip_prefix("cuda-sparse").unwrap_or_default() {
                "" => 0,
                rest => rest
                    .strip_prefix(':')
                    .and_then(|i| i.parse().ok())
                    .with_context(|| format!("--device {sparse:?}: expected cuda-sparse[:N]"))?,
            },
        },
        other => Backend::Dense {
            device: other.parse()?,
            dtype: DenseDType::F32,
        },
    })
}

fn params(a: &DetectArgs) -> Result<ConvSeqParams> {
    let backend = backend(&a.device)?;
    let null = match a.null.as_str() {
        "random" => NullKind::RandomFilters,
        "random-cv" => NullKind::RandomFiltersControlVariate,
        "shift" => NullKind::CircularShift,
        other => bail!("--null must be random, random-cv or shift, got {other:?}"),
    };
    let mode = match a.mode.as_str() {
        "faithful" => Mode::Faithful,
        "robust" => Mode::Robust,
        other => bail!("--mode must be faithful or robust, got {other:?}"),
    };
    Ok(ConvSeqParams {
        mode,
        n_filters: a.filters,
        width_bins: a.width,
        epochs: a.epochs,
        seed: a.seed,
        tv_l: a.tv_l,
        backend,
        alpha: AlphaOptions {
            null,
            n_samples: a.null_samples.unwrap_or(match null {
                NullKind::RandomFiltersControlVariate => 300,
                _ => AlphaOptions::default().n_samples,
            }),
            fixed: a.alpha,
            ..Default::default()
        },
        ..Default::default()
    })
}

fn detect(a: DetectArgs) -> Result<()> {
    for p in [Some(&a.out), a.json.as_ref(), a.plot.as_ref()]
        .into_iter()
        .flatten()
    {
        spikelab_data::io::check_writable(p, a.force)?;
    }
    let nwb_target = a.nwb.target(a.force)?;
    let options = spikelab_data::io::ReadOptions {
        bin_s: Some(a.bin_s),
        variable: a.variable.clone(),
        ..Default::default()
    };
    let raster = input::read_raster(&a.input, &options)
        .with_context(|| format!("reading {}", a.input.display()))?;
    eprintln!(
        "{}: {} neurons × {} bins of {} s, {} spikes",
        a.input.display(),
        raster.n_neurons(),
        raster.n_bins(),
        raster.bin_s(),
        raster.total_spikes()
    );
    let merged = input::n_merged(&raster);
    if merged > 0 {
        eprintln!(
            "warning: {merged} spikes fell into bins that already held one and count once (convSeq works on a binary raster)"
        );
    }
    let params = params(&a)?;
    let (fit, detection) = if let Some(model) = &a.model {
        let text = std::fs::read_to_string(model)
            .with_context(|| format!("reading {}", model.display()))?;
        let fit: ConvSeqFit = serde_json::from_str(&text)
            .with_context(|| format!("{} is not a convseq fit JSON", model.display()))?;
        let detection = fit.detect_with(&raster, &params.alpha)?;
        (fit, detection)
    } else {
        let bar = ProgressBar::new(params.epochs as u64);
        bar.set_style(
            ProgressStyle::with_template(
                "{bar:40} {pos}/{len} epochs [{elapsed_precise}<{eta_precise}] {msg}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        let fit = ConvSeq::new(params)?.fit_with(&raster, &mut |p: &Progress| {
            bar.inc(1);
            if p.step.is_multiple_of(50) {
                bar.set_message(format!("loss {:.5}", p.metric("loss").unwrap_or(f64::NAN)));
            }
            Flow::Continue
        })?;
        bar.finish_and_clear();
        let detection = fit.detection.clone();
        (fit, detection)
    };
    detection.write_events_csv(&a.out, a.force)?;
    for k in 0..detection.alpha.len() {
        eprintln!(
            "filter {k}: α = {:.4}, {} events, {} member neurons",
            detection.alpha[k],
            detection.event_bins(k).len(),
            detection.member_neurons(k).len()
        );
    }
    if let Some(r) = &fit.robust {
        eprint!("{}", r.summary());
    }
    eprintln!("events → {}", a.out.display());
    if let Some(j) = &a.json {
        let fit = ConvSeqFit {
            detection: detection.clone(),
            ..fit.clone()
        };
        spikelab_data::io::write_bytes_atomic(j, serde_json::to_string(&fit)?.as_bytes(), a.force)?;
        eprintln!("fit → {}", j.display());
    }
    if let Some(p) = &a.plot {
        plot(&raster, &fit, &detection, p, a.force)?;
        eprintln!("figure → {}", p.display());
    }
    if let Some(t) = nwb_target.filter(|_| {
        let empty = detection.events.is_empty();
        if empty {
            eprintln!("no events: no NWB file written (an empty table is not valid NWB practice)");
        }
        !empty
    }) {
        // Spike-train inputs give the units' ids and the recording start; rasters have neither.
        let trains = spikelab_data::io::read_spike_trains(&a.input, &options).ok();
        let table = fit.events_table(
            &detection,
            trains.as_ref().map_or(0.0, |s| s.t_start_s()),
            trains.as_ref().map(|s| s.unit_ids()),
        )?;
        write_nwb_events(&t, &table, &a.nwb.meta)?;
        eprintln!("events → {} (/intervals/convseq_events)", t.dest.display());
    }
    Ok(())
}

#[cfg(feature = "hdf5")]
fn write_nwb_events(t: &NwbTarget, table: &TimeIntervals, meta: &NwbMetaArgs) -> Result<()> {
    use spikelab_data::io::nwb::{self, NwbWriteOptions};
    match &t.source {
        Some(src) => nwb::add_time_intervals(src, &t.dest, table, &t.add_options(meta)?)?,
        None => nwb::write_time_intervals(
            &t.dest,
            table,
            &NwbWriteOptions {
                overwrite: t.overwrite,
                metadata: meta.metadata()?,
                ..NwbWriteOptions::new("sequence occurrences detected by convSeq (spikelab)")
            },
        )?,
    }
    Ok(())
}

#[cfg(not(feature = "hdf5"))]
fn write_nwb_events(t: &NwbTarget, _: &TimeIntervals, _: &NwbMetaArgs) -> Result<()> {
    bail!(
        "{}: NWB needs the `hdf5` feature (rebuild spikelab with default features)",
        t.dest.display()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_names() {
        assert_eq!(backend("cpu").unwrap(), Backend::Sparse);
        assert_eq!(
            backend("cuda-sparse").unwrap(),
            Backend::SparseCuda { ordinal: 0 }
        );
        assert_eq!(
            backend("cuda-sparse:2").unwrap(),
            Backend::SparseCuda { ordinal: 2 }
        );
        assert_eq!(
            backend("cuda:1").unwrap(),
            Backend::Dense {
                device: Device::Cuda(1),
                dtype: DenseDType::F32
            }
        );
        for bad in ["cuda-sparse:x", "cuda-sparse1", "tpu"] {
            assert!(backend(bad).is_err(), "{bad}");
        }
    }
}
