//! `spikelab convseq detect`: convSeq sequence detection (crate `spikelab-convseq`).
//!
//! ```text
//! spikelab convseq detect IN [--filters K] [--width W] [--epochs E] [--device cpu|cuda]
//!     [--seed S] [--bin-s 0.05] [--variable NAME] [--null random|shift]
//!     --out events.csv [--json fit.json] [--plot fig.png] [--force]
//! ```
//! IN: a `[neuron, bin]` raster as `.npy` or `.mat` (0/1 or counts, binarised with a
//! warning), or a 2-column text file `neuron_id(1-based) time_s` binned at `--bin-s`.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use indicatif::{ProgressBar, ProgressStyle};
use plotters::prelude::*;
use spikelab_convseq::{
    AlphaOptions, Backend, ConvSeq, ConvSeqFit, ConvSeqParams, CountPolicy, DenseDType, DeviceKind,
    NullKind, SpikeRaster,
};

/// `spikelab convseq …`
#[derive(clap::Subcommand, Debug)]
pub enum ConvseqCommand {
    /// Learn K sequence filters, detect occurrences above α, write events (+ JSON, plot).
    Detect(DetectArgs),
}

/// Arguments of `spikelab convseq detect`.
#[derive(clap::Args, Debug)]
pub struct DetectArgs {
    /// Input raster: `.npy`/`.mat` `[neuron, bin]` matrix, or `.txt`/`.tsv` with
    /// `neuron_id time_s` rows (1-based ids).
    pub input: PathBuf,
    /// Number of filters (sequence types) K.
    #[arg(long, default_value_t = 1)]
    pub filters: usize,
    /// Filter width W in bins.
    #[arg(long, default_value_t = 200)]
    pub width: usize,
    /// Number of full-batch Adam epochs.
    #[arg(long, default_value_t = 4000)]
    pub epochs: usize,
    /// `cpu` (sparse event-driven path), `cpu-dense`, `cuda[:N]` or `metal[:N]` (dense
    /// path; needs a build with that feature).
    #[arg(long, default_value = "cpu")]
    pub device: String,
    /// Seed of the filter initialisation and the null.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Bin width in seconds (raster files have none; text files are binned at it).
    #[arg(long, default_value_t = 0.05)]
    pub bin_s: f64,
    /// MATLAB variable holding the raster (default: the only 2-D numeric variable).
    #[arg(long)]
    pub variable: Option<String>,
    /// Weight of the projection total-variation penalty (TV_l).
    #[arg(long, default_value_t = 200.0)]
    pub tv_l: f64,
    /// Null distribution for α: `random` (random filters, the original) or `shift`
    /// (circularly shifted data with the learned filter).
    #[arg(long, default_value = "random")]
    pub null: String,
    /// Number of null samples (random filters or shifted surrogates).
    #[arg(long, default_value_t = 15_000)]
    pub null_samples: usize,
    /// Use this α instead of estimating it.
    #[arg(long)]
    pub alpha: Option<f64>,
    /// Events CSV: filter,bin,time_s,height.
    #[arg(long)]
    pub out: PathBuf,
    /// JSON with filters, α, null, loss history, order, members.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// PNG figure: raster sorted by learned order with detections, projection with α, loss.
    #[arg(long)]
    pub plot: Option<PathBuf>,
    /// Overwrite existing output files.
    #[arg(long)]
    pub force: bool,
}

/// Runs a `convseq` subcommand.
pub fn run(cmd: ConvseqCommand) -> Result<()> {
    match cmd {
        ConvseqCommand::Detect(a) => detect(a),
    }
}

fn load(a: &DetectArgs) -> Result<SpikeRaster> {
    let p = &a.input;
    let name = p.to_string_lossy().to_ascii_lowercase();
    let raster = if name.ends_with(".txt") || name.ends_with(".tsv") || name.ends_with(".txt.gz") {
        SpikeRaster::read_id_time_txt(p, a.bin_s, CountPolicy::Binarize)?
    } else {
        let options = spikelab_data::io::ReadOptions {
            bin_s: Some(a.bin_s),
            variable: a.variable.clone(),
            ..Default::default()
        };
        let r = spikelab_data::io::read_raster(p, &options)?;
        SpikeRaster::from_binned(&r, CountPolicy::Binarize)?
    };
    if raster.n_clipped() > 0 {
        eprintln!(
            "warning: {} spikes fell into bins that already held one and were merged (convSeq works on a binary raster)",
            raster.n_clipped()
        );
    }
    Ok(raster)
}

fn detect(a: DetectArgs) -> Result<()> {
    for p in [Some(&a.out), a.json.as_ref(), a.plot.as_ref()]
        .into_iter()
        .flatten()
    {
        spikelab_data::io::check_writable(p, a.force)?;
    }
    let raster = load(&a).with_context(|| format!("reading {}", a.input.display()))?;
    eprintln!(
        "{}: {} neurons × {} bins of {} s, {} spikes",
        a.input.display(),
        raster.n_neurons(),
        raster.n_bins(),
        raster.bin_s(),
        raster.n_spikes()
    );
    let backend = match a.device.as_str() {
        "cpu" | "sparse" => Backend::Sparse,
        "cpu-dense" => Backend::Dense {
            device: DeviceKind::Cpu,
            dtype: DenseDType::F32,
        },
        other => Backend::Dense {
            device: DeviceKind::parse(other)?,
            dtype: DenseDType::F32,
        },
    };
    let null = match a.null.as_str() {
        "random" => NullKind::RandomFilters,
        "shift" => NullKind::CircularShift,
        other => bail!("--null must be random or shift, got {other:?}"),
    };
    let params = ConvSeqParams {
        n_filters: a.filters,
        width_bins: a.width,
        epochs: a.epochs,
        seed: a.seed,
        tv_l: a.tv_l,
        backend,
        alpha: AlphaOptions {
            null,
            n_samples: a.null_samples,
            fixed: a.alpha,
            ..Default::default()
        },
        ..Default::default()
    };
    let bar = ProgressBar::new(a.epochs as u64);
    bar.set_style(
        ProgressStyle::with_template(
            "{bar:40} {pos}/{len} epochs [{elapsed_precise}<{eta_precise}] {msg}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let fit = ConvSeq::new(params)?.fit_with(&raster, |ep, loss| {
        bar.inc(1);
        if ep % 50 == 0 {
            bar.set_message(format!("loss {:.5}", loss.total));
        }
    })?;
    bar.finish_and_clear();
    let mut csv = String::from("filter,bin,time_s,height\n");
    for e in &fit.events {
        csv.push_str(&format!(
            "{},{},{},{}\n",
            e.filter, e.bin, e.time_s, e.height
        ));
    }
    std::fs::write(&a.out, csv).with_context(|| format!("writing {}", a.out.display()))?;
    for k in 0..fit.alpha.len() {
        eprintln!(
            "filter {k}: α = {:.4}, {} events, {} member neurons",
            fit.alpha[k],
            fit.event_bins(k).len(),
            fit.member_neurons(k).len()
        );
    }
    eprintln!("events → {}", a.out.display());
    if let Some(j) = &a.json {
        std::fs::write(j, serde_json::to_string(&fit)?)
            .with_context(|| format!("writing {}", j.display()))?;
        eprintln!("fit → {}", j.display());
    }
    if let Some(p) = &a.plot {
        plot(&raster, &fit, p)?;
        eprintln!("figure → {}", p.display());
    }
    Ok(())
}

/// Raster sorted by the learned order of filter 0 with detections, projections with α,
/// and the loss curve, as in the original's figure.
pub fn plot(raster: &SpikeRaster, fit: &ConvSeqFit, path: &Path) -> Result<()> {
    let root = BitMapBackend::new(path, (1400, 1000)).into_drawing_area();
    root.fill(&WHITE)?;
    let areas = root.split_by_breakpoints::<i32, i32, _, _>([], [560, 820]);
    let (t, n) = (raster.n_bins() as f64, raster.n_neurons());
    let order = &fit.orders[0];
    let mut row_of = vec![0usize; n];
    for (row, &neuron) in order.iter().enumerate() {
        row_of[neuron] = row;
    }
    let dt = raster.bin_s();
    let mut c = ChartBuilder::on(&areas[0])
        .caption(
            "raster sorted by learned lag (filter 0); detections in red",
            ("sans-serif", 18),
        )
        .margin(10)
        .x_label_area_size(30)
        .y_label_area_size(50)
        .build_cartesian_2d(0f64..t * dt, 0f64..n as f64)?;
    c.configure_mesh()
        .x_desc("time (s)")
        .y_desc("neuron (sorted)")
        .disable_mesh()
        .draw()?;
    for e in &fit.events {
        if e.filter == 0 {
            c.draw_series(std::iter::once(Rectangle::new(
                [
                    (e.time_s - 0.5 * fit.params.width_bins as f64 * dt, 0.0),
                    (e.time_s + 0.5 * fit.params.width_bins as f64 * dt, n as f64),
                ],
                RGBColor(255, 220, 220).filled(),
            )))?;
        }
    }
    let dots = (0..n).flat_map(|i| {
        let y = row_of[i] as f64 + 0.5;
        raster
            .neuron(i)
            .iter()
            .map(move |&b| Circle::new((b as f64 * dt, y), 1, BLACK.filled()))
    });
    c.draw_series(dots)?;
    let mut c = ChartBuilder::on(&areas[1])
        .caption("projections and α", ("sans-serif", 18))
        .margin(10)
        .x_label_area_size(30)
        .y_label_area_size(50)
        .build_cartesian_2d(0f64..t * dt, {
            let mx = fit
                .projections
                .iter()
                .copied()
                .fold(0.0, f64::max)
                .max(fit.alpha.iter().copied().fold(0.0, f64::max));
            0f64..mx * 1.05
        })?;
    c.configure_mesh()
        .x_desc("time (s)")
        .disable_mesh()
        .draw()?;
    for k in 0..fit.projections.nrows() {
        let col = Palette99::pick(k + 1).to_rgba();
        c.draw_series(LineSeries::new(
            fit.projections
                .row(k)
                .iter()
                .enumerate()
                .map(|(i, &v)| (i as f64 * dt, v)),
            col,
        ))?;
        c.draw_series(LineSeries::new(
            [(0.0, fit.alpha[k]), (t * dt, fit.alpha[k])],
            RED,
        ))?;
        c.draw_series(
            fit.events
                .iter()
                .filter(|e| e.filter == k)
                .map(|e| TriangleMarker::new((e.time_s, e.height), 5, RED.filled())),
        )?;
    }
    let losses: Vec<f64> = fit.loss_history.iter().map(|l| l.total).collect();
    let (lo, hi) = losses
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &v| {
            (a.min(v), b.max(v))
        });
    let (lo, hi) = if losses.is_empty() {
        (0.0, 1.0)
    } else {
        (lo, hi.max(lo + 1e-9))
    };
    let mut c = ChartBuilder::on(&areas[2])
        .caption("loss", ("sans-serif", 18))
        .margin(10)
        .x_label_area_size(30)
        .y_label_area_size(50)
        .build_cartesian_2d(0f64..losses.len().max(1) as f64, lo..hi)?;
    c.configure_mesh().x_desc("epoch").disable_mesh().draw()?;
    c.draw_series(LineSeries::new(
        losses.iter().enumerate().map(|(i, &v)| (i as f64, v)),
        BLUE,
    ))?;
    root.present()?;
    Ok(())
}
