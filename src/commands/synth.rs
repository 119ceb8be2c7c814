//! `spikelab synth`: seeded synthetic data with ground truth (crate `spikelab-synth`).
//!
//! ```text
//! spikelab synth sequences [--background CA1.mat [--variable NAME]] [--neurons 452] [--bins 18137]
//!     [--bin-s 0.05] [--seqlen 120] [--p-drop 0.1] [--gap 400] [--jitter 10] [--lag 1]
//!     [--types 1] [--poisson-gap G] [--warp MIN,MAX] [--mean-rate 0.0021] [--rate-sigma 0.745]
//!     [--gamma-shape K] [--seed S] --out FILE.npy|FILE.nwb [--events] [--force]
//! spikelab synth calcium [--neurons 10] [--rate-hz 1] [--duration-s 300] [--fps 30]
//!     [--indicator gcamp6s] [--noise 2] [--saturation F] [--drift-std 0] [--drift-tau-s 30]
//!     [--seed S] --out FILE.npy|FILE.nwb [--force]
//! spikelab synth lif [--duration-s 11] [--dt-s 0.0002] [--rebin 20] [--recorded 3]
//!     [--seed S] --out FILE.npy|FILE.nwb [--force]
//! spikelab synth poisson [--neurons 100] [--rate-hz 5] [--duration-s 60] [--refractory-s 0.002]
//!     [--gamma-shape 1] [--bin-s 0.001] [--seed S] --out FILE.npy|FILE.nwb [--force]
//! ```
//!
//! Every run writes the data (`.npy`, or NWB when FILE ends in `.nwb`) and the ground truth as
//! JSON next to it (`FILE` with the extension replaced by `.truth.json`). Nothing is
//! overwritten without `--force`. The defaults reproduce the convSeq README dataset (clean
//! mode; parity mode with `--background`) and the neuLVM 3-population network.
//!
//! npy layouts: sequences `[neuron, bin]` u8 (or `--events`: int64 `[nnz, 2]` rows
//! `(neuron, bin)`); calcium `[time, neuron]` f64 ΔF/F; lif `Z = A·Δ` `[population, bin]`
//! f64 plus `FILE.spikes.npy` `[population, bin, neuron]` u8 (the neuLVM layout); poisson
//! `[neuron, bin]` u32 counts at `--bin-s`.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use ndarray::Array2;
use spikelab_data::io;
use spikelab_data::{SparseRaster, SpikeTrains};
use spikelab_synth::{
    Background, CalciumParams, Indicator, LifParams, Occurrences, ParityParams, PoissonParams,
    RateModel, SequenceParams, SequenceType,
};

/// `spikelab synth …`
#[derive(clap::Subcommand, Debug)]
pub enum SynthCommand {
    /// Spike sequences embedded in a background raster (convSeq's generator).
    Sequences(SequencesArgs),
    /// Calcium ΔF/F traces from Poisson spike trains (indicator kinetics, noise level ν).
    Calcium(CalciumArgs),
    /// neuLVM's microscopic escape-noise LIF network (3 populations, winner-take-all).
    Lif(LifArgs),
    /// Poisson/gamma spike trains with a dead time.
    Poisson(PoissonArgs),
    /// Mixtures of linear dynamical systems with inputs (MoLDS benchmark, crate spikelab-lds).
    Molds(super::lds::SynthMoldsArgs),
    /// Two gravitating pairs (EIT's benchmark), positions and velocities per trial.
    Twobody(super::decode::TwoBodyArgs),
}

/// Options every generator shares.
#[derive(clap::Args, Debug)]
pub struct CommonArgs {
    /// Seed of the ChaCha8 generator (same seed, same output on every platform).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Output file: `.npy` or `.nwb`; the truth goes to the same name with `.truth.json`.
    #[arg(long)]
    pub out: PathBuf,
    /// Replace existing output files.
    #[arg(long)]
    pub force: bool,
}

/// Arguments of `spikelab synth sequences`.
#[derive(clap::Args, Debug)]
pub struct SequencesArgs {
    /// Parity mode: embed into this binary background raster (`.mat` or `.npy`, `[neuron, bin]`),
    /// e.g. `datasets/convseq/ca1_rubin/neuronal_activity_mat.mat`. Without it: clean mode.
    #[arg(long)]
    pub background: Option<PathBuf>,
    /// MATLAB variable holding the background (default `neuronal_activity_mat`).
    #[arg(long, default_value = "neuronal_activity_mat")]
    pub variable: String,
    /// Clean mode: number of neurons.
    #[arg(long, default_value_t = 452)]
    pub neurons: usize,
    /// Clean mode: number of bins.
    #[arg(long, default_value_t = 18_137)]
    pub bins: u64,
    /// Bin width in seconds.
    #[arg(long, default_value_t = 0.05)]
    pub bin_s: f64,
    /// Members per sequence type.
    #[arg(long, default_value_t = 120)]
    pub seqlen: usize,
    /// Probability of dropping a member spike in an occurrence.
    #[arg(long, default_value_t = 0.1)]
    pub p_drop: f64,
    /// Onset spacing in bins (regular occurrences).
    #[arg(long, default_value_t = 400)]
    pub gap: u64,
    /// Jitter standard deviation in bins.
    #[arg(long, default_value_t = 10.0)]
    pub jitter: f64,
    /// Lag between consecutive members in bins.
    #[arg(long, default_value_t = 1)]
    pub lag: u64,
    /// Clean mode: number of sequence types (disjoint members).
    #[arg(long, default_value_t = 1)]
    pub types: usize,
    /// Clean mode: Poisson occurrences with this mean onset spacing (bins) instead of regular
    /// ones (occurrences may overlap).
    #[arg(long)]
    pub poisson_gap: Option<f64>,
    /// Clean mode: time-warp range `MIN,MAX` drawn per occurrence.
    #[arg(long, value_delimiter = ',')]
    pub warp: Option<Vec<f64>>,
    /// Clean mode: mean background rate (spikes per bin; CA1: 0.0021).
    #[arg(long, default_value_t = 0.0021)]
    pub mean_rate: f64,
    /// Clean mode: standard deviation of the log-rate across neurons (CA1: 0.745).
    #[arg(long, default_value_t = 0.745)]
    pub rate_sigma: f64,
    /// Clean mode: gamma background of this shape instead of Poisson.
    #[arg(long)]
    pub gamma_shape: Option<f64>,
    /// npy output as int64 `[nnz, 2]` events `(neuron, bin)` instead of a dense raster.
    #[arg(long)]
    pub events: bool,
    #[command(flatten)]
    pub common: CommonArgs,
}

/// Arguments of `spikelab synth calcium`.
#[derive(clap::Args, Debug)]
pub struct CalciumArgs {
    /// Number of neurons.
    #[arg(long, default_value_t = 10)]
    pub neurons: usize,
    /// Poisson firing rate of every neuron (Hz).
    #[arg(long, default_value_t = 1.0)]
    pub rate_hz: f64,
    /// Duration (s).
    #[arg(long, default_value_t = 300.0)]
    pub duration_s: f64,
    /// Frame rate (Hz).
    #[arg(long, default_value_t = 30.0)]
    pub fps: f64,
    /// Indicator preset: ogb1, gcamp6s, gcamp6f, gcamp8, jrcamp1a.
    #[arg(long, default_value = "gcamp6s")]
    pub indicator: String,
    /// Target CASCADE noise level ν (% Hz^-1/2; 0 = noise-free).
    #[arg(long, default_value_t = 2.0)]
    pub noise: f64,
    /// Saturation level of ΔF/F (none by default).
    #[arg(long)]
    pub saturation: Option<f64>,
    /// Standard deviation of the slow baseline drift (ΔF/F).
    #[arg(long, default_value_t = 0.0)]
    pub drift_std: f64,
    /// Time constant of the drift (s).
    #[arg(long, default_value_t = 30.0)]
    pub drift_tau_s: f64,
    #[command(flatten)]
    pub common: CommonArgs,
}

/// Arguments of `spikelab synth lif`.
#[derive(clap::Args, Debug)]
pub struct LifArgs {
    /// Duration (s).
    #[arg(long, default_value_t = 11.0)]
    pub duration_s: f64,
    /// Time step (s).
    #[arg(long, default_value_t = 2e-4)]
    pub dt_s: f64,
    /// Re-binning factor of the npy output (20 × 0.2 ms = neuLVM's 4 ms).
    #[arg(long, default_value_t = 20)]
    pub rebin: usize,
    /// Recorded neurons per population.
    #[arg(long, default_value_t = 3)]
    pub recorded: usize,
    #[command(flatten)]
    pub common: CommonArgs,
}

/// Arguments of `spikelab synth poisson`.
#[derive(clap::Args, Debug)]
pub struct PoissonArgs {
    /// Number of neurons.
    #[arg(long, default_value_t = 100)]
    pub neurons: usize,
    /// Rate of every neuron (Hz).
    #[arg(long, default_value_t = 5.0)]
    pub rate_hz: f64,
    /// Duration (s).
    #[arg(long, default_value_t = 60.0)]
    pub duration_s: f64,
    /// Dead time (s).
    #[arg(long, default_value_t = 0.002)]
    pub refractory_s: f64,
    /// Gamma shape of the intervals (1 = Poisson).
    #[arg(long, default_value_t = 1.0)]
    pub gamma_shape: f64,
    /// Bin width of the npy count raster (s).
    #[arg(long, default_value_t = 0.001)]
    pub bin_s: f64,
    #[command(flatten)]
    pub common: CommonArgs,
}

/// Runs `spikelab synth …`.
pub fn run(cmd: SynthCommand) -> Result<()> {
    match cmd {
        SynthCommand::Sequences(a) => sequences(a),
        SynthCommand::Calcium(a) => calcium(a),
        SynthCommand::Lif(a) => lif(a),
        SynthCommand::Poisson(a) => poisson(a),
        SynthCommand::Molds(a) => super::lds::synth_molds(a),
        SynthCommand::Twobody(a) => super::decode::twobody(a),
    }
}

fn is_nwb(p: &Path) -> bool {
    p.extension().is_some_and(|e| e.eq_ignore_ascii_case("nwb"))
}

/// `FILE.ext` → `FILE.truth.json`.
fn truth_path(out: &Path) -> PathBuf {
    out.with_extension("truth.json")
}

/// `FILE.npy` → `FILE.<suffix>.npy`.
fn side_path(out: &Path, suffix: &str) -> PathBuf {
    out.with_extension(format!("{suffix}.npy"))
}

fn check_outputs(paths: &[&Path], force: bool) -> Result<()> {
    for p in paths {
        io::check_writable(p, force)?;
    }
    Ok(())
}

fn write_json<T: serde::Serialize>(path: &Path, value: &T) -> Result<()> {
    let f = std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?;
    serde_json::to_writer(std::io::BufWriter::new(f), value)
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

/// Spike times at bin starts, for NWB `/units`.
fn raster_to_trains(r: &SparseRaster) -> Result<SpikeTrains> {
    let bin_s = r.bin_s();
    let trains = r
        .rows()
        .iter()
        .map(|row| {
            row.iter()
                .flat_map(|&(b, c)| std::iter::repeat_n(b as f64 * bin_s, c as usize))
                .collect()
        })
        .collect();
    Ok(SpikeTrains::new(trains, 0.0, r.n_bins() as f64 * bin_s)?)
}

#[cfg(feature = "hdf5")]
fn write_units(path: &Path, trains: &SpikeTrains, what: &str, force: bool) -> Result<()> {
    let mut opts = io::nwb::NwbWriteOptions::new(what);
    opts.overwrite = force;
    io::nwb::write_units(path, trains, &opts)?;
    Ok(())
}

#[cfg(not(feature = "hdf5"))]
fn write_units(_: &Path, _: &SpikeTrains, _: &str, _: bool) -> Result<()> {
    bail!("this spikelab was built without the `hdf5` feature: NWB output is unavailable")
}

fn sequences(a: SequencesArgs) -> Result<()> {
    let out = &a.common.out;
    let tp = truth_path(out);
    check_outputs(&[out, &tp], a.common.force)?;
    let (raster, truth) = if let Some(bg_path) = &a.background {
        let options = io::ReadOptions {
            bin_s: Some(a.bin_s),
            variable: Some(a.variable.clone()),
            ..Default::default()
        };
        let bg = io::read_raster(bg_path, &options)?;
        let p = ParityParams {
            seqlen: a.seqlen,
            p_drop: a.p_drop,
            gap_bins: a.gap,
            jitter_std_bins: a.jitter,
            lag_bins: a.lag,
        };
        p.generate(&bg, a.common.seed)?
    } else {
        let occurrences = match a.poisson_gap {
            Some(g) => Occurrences::Poisson { mean_gap_bins: g },
            None => Occurrences::Regular {
                gap_bins: a.gap,
                first_onset_bin: 0,
            },
        };
        let warp = match &a.warp {
            Some(w) if w.len() == 2 => (w[0], w[1]),
            Some(_) => bail!("--warp takes MIN,MAX"),
            None => (1.0, 1.0),
        };
        let ty = SequenceType {
            n_members: a.seqlen,
            lag_bins: a.lag as f64,
            offsets_bins: None,
            jitter_std_bins: a.jitter,
            p_drop: a.p_drop,
            warp_range: warp,
            occurrences,
        };
        let p = SequenceParams {
            n_neurons: a.neurons,
            n_bins: a.bins,
            bin_s: a.bin_s,
            rates: RateModel::LogNormal {
                mean_per_bin: a.mean_rate,
                sigma: a.rate_sigma,
            },
            background: match a.gamma_shape {
                Some(shape) => Background::Gamma { shape },
                None => Background::Poisson,
            },
            binary: true,
            types: vec![ty; a.types],
            ..SequenceParams::default()
        };
        p.generate(a.common.seed)?
    };
    if is_nwb(out) {
        write_units(
            out,
            &raster_to_trains(&raster)?,
            "spikelab synth sequences",
            a.common.force,
        )?;
    } else if a.events {
        let mut ev = Vec::with_capacity(raster.nnz() * 2);
        for (n, row) in raster.rows().iter().enumerate() {
            for &(b, _) in row {
                ev.push(n as i64);
                ev.push(b as i64);
            }
        }
        let arr = Array2::from_shape_vec((ev.len() / 2, 2), ev)?;
        io::npy::write(out, &arr, a.common.force)?;
    } else {
        let dense = raster.to_dense()?;
        let u8s = dense.counts().mapv(|c| c.min(255) as u8);
        io::npy::write(out, &u8s, a.common.force)?;
    }
    write_json(&tp, &truth)?;
    let inserted: usize = truth.occurrences.iter().map(|o| o.n_inserted).sum();
    println!(
        "{}: {} neurons × {} bins of {} s, {} spikes; {} occurrences ({} member spikes inserted); truth: {}",
        out.display(),
        raster.n_neurons(),
        raster.n_bins(),
        raster.bin_s(),
        raster.total_spikes(),
        truth.occurrences.len(),
        inserted,
        tp.display()
    );
    Ok(())
}

fn calcium(a: CalciumArgs) -> Result<()> {
    let out = &a.common.out;
    let tp = truth_path(out);
    check_outputs(&[out, &tp], a.common.force)?;
    let indicator = Indicator::from_name(&a.indicator)?;
    let (spikes, _) = PoissonParams::constant(vec![a.rate_hz; a.neurons], a.duration_s)
        .with_refractory_s(0.002)
        .generate(a.common.seed)?;
    let mut p = CalciumParams::new(a.fps, indicator)
        .with_noise_level(a.noise)
        .with_drift(a.drift_std, a.drift_tau_s);
    p.saturation = a.saturation;
    let (traces, truth) = p.generate(&spikes, a.common.seed)?;
    if is_nwb(out) {
        write_ophys(out, &traces, &a.indicator, a.common.force)?;
    } else {
        io::npy::write(out, traces.data(), a.common.force)?;
    }
    write_json(&tp, &truth)?;
    println!(
        "{}: {} frames × {} neurons at {} Hz ({:?}), {} spikes, ν = {:.3}; truth: {}",
        out.display(),
        traces.n_frames(),
        traces.n_neurons(),
        a.fps,
        indicator,
        spikes.total_spikes(),
        truth.noise_level.iter().sum::<f64>() / truth.noise_level.len().max(1) as f64,
        tp.display()
    );
    Ok(())
}

#[cfg(feature = "hdf5")]
fn write_ophys(
    path: &Path,
    traces: &spikelab_data::CalciumTraces,
    indicator: &str,
    force: bool,
) -> Result<()> {
    let mut opts = io::nwb::OphysWriteOptions::new("spikelab synth calcium");
    opts.overwrite = force;
    opts.indicator = indicator.into();
    opts.container = io::nwb::OphysContainer::DfOverF;
    io::nwb::write_ophys(path, traces, &opts)?;
    Ok(())
}

#[cfg(not(feature = "hdf5"))]
fn write_ophys(_: &Path, _: &spikelab_data::CalciumTraces, _: &str, _: bool) -> Result<()> {
    bail!("this spikelab was built without the `hdf5` feature: NWB output is unavailable")
}

fn lif(a: LifArgs) -> Result<()> {
    let out = &a.common.out;
    let tp = truth_path(out);
    let sp = side_path(out, "spikes");
    if is_nwb(out) {
        check_outputs(&[out, &tp], a.common.force)?;
    } else {
        check_outputs(&[out, &tp, &sp], a.common.force)?;
    }
    let p = LifParams {
        duration_s: a.duration_s,
        dt_s: a.dt_s,
        n_recorded: a.recorded,
        ..LifParams::default()
    };
    let pb = indicatif::ProgressBar::new(p.n_steps() as u64);
    let (sim, truth) = p.generate_with_progress(a.common.seed, |s, _| pb.set_position(s as u64))?;
    pb.finish_and_clear();
    if is_nwb(out) {
        write_units(
            out,
            &sim.recorded,
            "spikelab synth lif (neuLVM network)",
            a.common.force,
        )?;
    } else {
        let rb = sim.rebin(a.rebin)?;
        io::npy::write(out, &rb.z, a.common.force)?;
        io::npy::write(&sp, &rb.spikes, a.common.force)?;
    }
    write_json(&tp, &truth)?;
    println!(
        "{}: {} s of {} populations, mean rates {:?} Hz, {} recorded neurons; truth: {}",
        out.display(),
        sim.activity.duration_s(),
        sim.activity.n_populations(),
        truth
            .mean_rates_hz
            .iter()
            .map(|r| (r * 10.0).round() / 10.0)
            .collect::<Vec<_>>(),
        sim.recorded.n_units(),
        tp.display()
    );
    Ok(())
}

fn poisson(a: PoissonArgs) -> Result<()> {
    let out = &a.common.out;
    let tp = truth_path(out);
    check_outputs(&[out, &tp], a.common.force)?;
    let (trains, truth) = PoissonParams::constant(vec![a.rate_hz; a.neurons], a.duration_s)
        .with_refractory_s(a.refractory_s)
        .with_gamma_shape(a.gamma_shape)
        .generate(a.common.seed)?;
    if is_nwb(out) {
        write_units(out, &trains, "spikelab synth poisson", a.common.force)?;
    } else {
        let r = trains.bin(a.bin_s)?;
        io::npy::write(out, r.counts(), a.common.force)?;
    }
    write_json(&tp, &truth)?;
    println!(
        "{}: {} neurons, {} s, {} spikes; truth: {}",
        out.display(),
        trains.n_units(),
        a.duration_s,
        trains.total_spikes(),
        tp.display()
    );
    Ok(())
}
