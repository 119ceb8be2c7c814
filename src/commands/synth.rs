//! `spikelab synth`: seeded synthetic data with ground truth (crate `spikelab-synth`, module
//! `recipes`; `molds` from `spikelab-lds`).
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
//! spikelab synth molds [--trajectories 600] [--steps 200] [--weights 0.5,0.3,0.2] [--states 3]
//!     [--outputs 2] [--inputs 2] [--snr-db 10] [--seed S] --out Y.npy [--force]
//! spikelab synth twobody [--trials 500] [--seed S] --out FILE.npy [--force]
//! spikelab synth recording [--preset tetrode-benchmark|spikeinterface] [--duration-s D] [--seed S] --out DIR [--force]
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
//! `[neuron, bin]` u32 counts at `--bin-s`; molds `[trajectory, time, output]` f64 plus
//! `Y.u.npy` inputs; twobody `[trial, body, (m, x, y, vx, vy), step]` f64.

use super::nwb_out::NwbMetaArgs;
use std::path::PathBuf;

use anyhow::{Result, bail};
use spikelab_lds::MoldsSpec;
use spikelab_lds::pipeline::{MoldsDataset, MoldsTruth};
use spikelab_synth::recipes::{
    self, CalciumRecipe, LifRecipe, PoissonRecipe, SequencesRecipe, truth_path,
};
use spikelab_synth::{GroundTruthParams, TwoBodyParams};

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
    Molds(MoldsArgs),
    /// Two gravitating pairs (EIT's benchmark), positions and velocities per trial.
    Twobody(TwoBodyArgs),
    /// Multichannel extracellular voltage with ground-truth units (spikeinterface's generator).
    Recording(RecordingArgs),
}

/// Which recording generator `spikelab synth recording` runs.
#[derive(clap::ValueEnum, Clone, Copy, Debug)]
pub enum RecordingPreset {
    /// The sorting benchmark: 2 × 2 tetrode, 30 kHz, 5–8 units, SNR 3–15, σ 10 µV, 600 s.
    TetrodeBenchmark,
    /// spikeinterface's `generate_ground_truth_recording` defaults (25 kHz, 10 units, 10 s).
    Spikeinterface,
}

/// Arguments of `spikelab synth recording` (`--out DIR`: a recording folder, see
/// `spikelab_data::io::raw::folder`, with `ground_truth/` and `ground_truth/truth.json`).
#[derive(clap::Args, Debug)]
pub struct RecordingArgs {
    /// Parameter set.
    #[arg(long, value_enum, default_value = "tetrode-benchmark")]
    pub preset: RecordingPreset,
    /// Duration in seconds (default: the preset's).
    #[arg(long)]
    pub duration_s: Option<f64>,
    /// Seed (the benchmark holds out seeds 1001–1005; training uses 1–200).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Output folder.
    #[arg(long)]
    pub out: PathBuf,
    /// Replace an existing folder.
    #[arg(long)]
    pub force: bool,
}

/// Options every generator shares.
#[derive(clap::Args, Debug)]
pub struct CommonArgs {
    /// Seed of the ChaCha8 generator (same seed, same output on every platform).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Output file (`.npy`, or `.nwb` where the generator writes NWB); the truth goes to the
    /// same name with `.truth.json`.
    #[arg(long)]
    pub out: PathBuf,
    /// Replace existing output files.
    #[arg(long)]
    pub force: bool,
    #[command(flatten)]
    pub nwb: NwbMetaArgs,
}

fn seq() -> SequencesRecipe {
    SequencesRecipe::default()
}

/// Arguments of `spikelab synth sequences`.
#[derive(clap::Args, Debug)]
pub struct SequencesArgs {
    /// Parity mode: embed into this binary background raster (`.mat` or `.npy`, `[neuron, bin]`),
    /// e.g. `datasets/convseq/ca1_rubin/neuronal_activity_mat.mat`. Without it: clean mode.
    #[arg(long)]
    pub background: Option<PathBuf>,
    /// MATLAB variable holding the background.
    #[arg(long, default_value_t = seq().variable)]
    pub variable: String,
    /// Clean mode: number of neurons.
    #[arg(long, default_value_t = seq().neurons)]
    pub neurons: usize,
    /// Clean mode: number of bins.
    #[arg(long, default_value_t = seq().bins)]
    pub bins: u64,
    /// Bin width in seconds.
    #[arg(long, default_value_t = seq().bin_s)]
    pub bin_s: f64,
    /// Members per sequence type.
    #[arg(long, default_value_t = seq().seqlen)]
    pub seqlen: usize,
    /// Probability of dropping a member spike in an occurrence.
    #[arg(long, default_value_t = seq().p_drop)]
    pub p_drop: f64,
    /// Onset spacing in bins (regular occurrences).
    #[arg(long, default_value_t = seq().gap_bins)]
    pub gap: u64,
    /// Jitter standard deviation in bins.
    #[arg(long, default_value_t = seq().jitter_bins)]
    pub jitter: f64,
    /// Lag between consecutive members in bins.
    #[arg(long, default_value_t = seq().lag_bins)]
    pub lag: u64,
    /// Clean mode: number of sequence types (disjoint members).
    #[arg(long, default_value_t = seq().types)]
    pub types: usize,
    /// Clean mode: Poisson occurrences with this mean onset spacing (bins) instead of regular
    /// ones (occurrences may overlap).
    #[arg(long)]
    pub poisson_gap: Option<f64>,
    /// Clean mode: time-warp range `MIN,MAX` drawn per occurrence.
    #[arg(long, value_delimiter = ',')]
    pub warp: Option<Vec<f64>>,
    /// Clean mode: mean background rate (spikes per bin; CA1: 0.0021).
    #[arg(long, default_value_t = seq().mean_rate_per_bin)]
    pub mean_rate: f64,
    /// Clean mode: standard deviation of the log-rate across neurons (CA1: 0.745).
    #[arg(long, default_value_t = seq().rate_sigma)]
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

fn ca() -> CalciumRecipe {
    CalciumRecipe::default()
}

/// Arguments of `spikelab synth calcium`.
#[derive(clap::Args, Debug)]
pub struct CalciumArgs {
    /// Number of neurons.
    #[arg(long, default_value_t = ca().neurons)]
    pub neurons: usize,
    /// Poisson firing rate of every neuron (Hz).
    #[arg(long, default_value_t = ca().rate_hz)]
    pub rate_hz: f64,
    /// Duration (s).
    #[arg(long, default_value_t = ca().duration_s)]
    pub duration_s: f64,
    /// Frame rate (Hz).
    #[arg(long, default_value_t = ca().fps)]
    pub fps: f64,
    /// Indicator preset: ogb1, gcamp6s, gcamp6f, gcamp8, jrcamp1a.
    #[arg(long, default_value_t = ca().indicator)]
    pub indicator: String,
    /// Target CASCADE noise level ν (% Hz^-1/2; 0 = noise-free).
    #[arg(long, default_value_t = ca().noise)]
    pub noise: f64,
    /// Saturation level of ΔF/F (none by default).
    #[arg(long)]
    pub saturation: Option<f64>,
    /// Standard deviation of the slow baseline drift (ΔF/F).
    #[arg(long, default_value_t = ca().drift_std)]
    pub drift_std: f64,
    /// Time constant of the drift (s).
    #[arg(long, default_value_t = ca().drift_tau_s)]
    pub drift_tau_s: f64,
    #[command(flatten)]
    pub common: CommonArgs,
}

/// Arguments of `spikelab synth lif`.
#[derive(clap::Args, Debug)]
pub struct LifArgs {
    /// Duration (s).
    #[arg(long, default_value_t = LifRecipe::default().duration_s)]
    pub duration_s: f64,
    /// Time step (s).
    #[arg(long, default_value_t = LifRecipe::default().dt_s)]
    pub dt_s: f64,
    /// Re-binning factor of the npy output (20 × 0.2 ms = neuLVM's 4 ms).
    #[arg(long, default_value_t = LifRecipe::default().rebin)]
    pub rebin: usize,
    /// Recorded neurons per population.
    #[arg(long, default_value_t = LifRecipe::default().recorded)]
    pub recorded: usize,
    #[command(flatten)]
    pub common: CommonArgs,
}

fn po() -> PoissonRecipe {
    PoissonRecipe::default()
}

/// Arguments of `spikelab synth poisson`.
#[derive(clap::Args, Debug)]
pub struct PoissonArgs {
    /// Number of neurons.
    #[arg(long, default_value_t = po().neurons)]
    pub neurons: usize,
    /// Rate of every neuron (Hz).
    #[arg(long, default_value_t = po().rate_hz)]
    pub rate_hz: f64,
    /// Duration (s).
    #[arg(long, default_value_t = po().duration_s)]
    pub duration_s: f64,
    /// Dead time (s).
    #[arg(long, default_value_t = po().refractory_s)]
    pub refractory_s: f64,
    /// Gamma shape of the intervals (1 = Poisson).
    #[arg(long, default_value_t = po().gamma_shape)]
    pub gamma_shape: f64,
    /// Bin width of the npy count raster (s).
    #[arg(long, default_value_t = po().bin_s)]
    pub bin_s: f64,
    #[command(flatten)]
    pub common: CommonArgs,
}
/// Arguments of `spikelab synth molds` (`--out Y.npy`: outputs `[trajectory, time, output]`;
/// inputs go to `Y.u.npy`, the truth (model + labels) to `Y.truth.json`).
#[derive(clap::Args, Debug)]
pub struct MoldsArgs {
    /// Number of trajectories.
    #[arg(long, default_value_t = MoldsSpec::default().n_traj)]
    pub trajectories: usize,
    /// Steps per trajectory.
    #[arg(long, default_value_t = MoldsSpec::default().t_len)]
    pub steps: usize,
    /// Mixture weights (comma separated; their count is K).
    #[arg(long, value_delimiter = ',', default_values_t = MoldsSpec::default().weights)]
    pub weights: Vec<f64>,
    /// Latent states.
    #[arg(long, default_value_t = MoldsSpec::default().n_states)]
    pub states: usize,
    /// Outputs.
    #[arg(long, default_value_t = MoldsSpec::default().n_outputs)]
    pub outputs: usize,
    /// Inputs (i.i.d. N(0, I)).
    #[arg(long, default_value_t = MoldsSpec::default().n_inputs)]
    pub inputs: usize,
    /// Output SNR in dB.
    #[arg(long, default_value_t = MoldsSpec::default().snr_db)]
    pub snr_db: f64,
    #[command(flatten)]
    pub common: CommonArgs,
}

/// Arguments of `spikelab synth twobody` (`--out FILE.npy`: `[trial, body, (m, x, y, vx, vy),
/// step]`; the window starts and the permutation classes go to `FILE.truth.json`).
#[derive(clap::Args, Debug)]
pub struct TwoBodyArgs {
    /// Trials.
    #[arg(long, default_value_t = TwoBodyParams::default().n_trials)]
    pub trials: usize,
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
        SynthCommand::Molds(a) => molds(a),
        SynthCommand::Twobody(a) => twobody(a),
        SynthCommand::Recording(a) => recording(a),
    }
}

fn sequences(a: SequencesArgs) -> Result<()> {
    let (out, tp) = (&a.common.out, truth_path(&a.common.out));
    recipes::check_writable(&[out, &tp], a.common.force)?;
    a.common.nwb.check_before(recipes::is_nwb(out))?;
    let recipe = SequencesRecipe {
        background: a.background,
        variable: a.variable,
        neurons: a.neurons,
        bins: a.bins,
        bin_s: a.bin_s,
        seqlen: a.seqlen,
        p_drop: a.p_drop,
        gap_bins: a.gap,
        jitter_bins: a.jitter,
        lag_bins: a.lag,
        types: a.types,
        poisson_gap_bins: a.poisson_gap,
        warp: match a.warp.as_deref() {
            Some(&[lo, hi]) => (lo, hi),
            Some(_) => bail!("--warp takes MIN,MAX"),
            None => (1.0, 1.0),
        },
        mean_rate_per_bin: a.mean_rate,
        rate_sigma: a.rate_sigma,
        gamma_shape: a.gamma_shape,
        events: a.events,
    };
    let (raster, truth) = recipe.generate(a.common.seed)?;
    recipe.write(out, &raster, &truth, a.common.force)?;
    a.common.nwb.annotate(out)?;
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
    let (out, tp) = (&a.common.out, truth_path(&a.common.out));
    recipes::check_writable(&[out, &tp], a.common.force)?;
    a.common.nwb.check_before(recipes::is_nwb(out))?;
    let recipe = CalciumRecipe {
        neurons: a.neurons,
        rate_hz: a.rate_hz,
        duration_s: a.duration_s,
        fps: a.fps,
        indicator: a.indicator,
        noise: a.noise,
        saturation: a.saturation,
        drift_std: a.drift_std,
        drift_tau_s: a.drift_tau_s,
    };
    let (traces, truth, spikes) = recipe.generate(a.common.seed)?;
    recipe.write(out, &traces, &truth, a.common.force)?;
    a.common.nwb.annotate(out)?;
    println!(
        "{}: {} frames × {} neurons at {} Hz ({:?}), {} spikes, ν = {:.3}; truth: {}",
        out.display(),
        traces.n_frames(),
        traces.n_neurons(),
        a.fps,
        recipe.indicator()?,
        spikes.total_spikes(),
        truth.noise_level.iter().sum::<f64>() / truth.noise_level.len().max(1) as f64,
        tp.display()
    );
    Ok(())
}

fn lif(a: LifArgs) -> Result<()> {
    let out = &a.common.out;
    let paths = LifRecipe::paths(out);
    recipes::check_writable(
        &paths.iter().map(|p| p.as_path()).collect::<Vec<_>>(),
        a.common.force,
    )?;
    a.common.nwb.check_before(recipes::is_nwb(out))?;
    let recipe = LifRecipe {
        duration_s: a.duration_s,
        dt_s: a.dt_s,
        rebin: a.rebin,
        recorded: a.recorded,
    };
    let p = recipe.params();
    let pb = indicatif::ProgressBar::new(p.n_steps() as u64);
    let (sim, truth) = p.generate_with_progress(a.common.seed, |s, _| pb.set_position(s as u64))?;
    pb.finish_and_clear();
    recipe.write(out, &sim, &truth, a.common.force)?;
    a.common.nwb.annotate(out)?;
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
        truth_path(out).display()
    );
    Ok(())
}

fn poisson(a: PoissonArgs) -> Result<()> {
    let (out, tp) = (&a.common.out, truth_path(&a.common.out));
    recipes::check_writable(&[out, &tp], a.common.force)?;
    a.common.nwb.check_before(recipes::is_nwb(out))?;
    let recipe = PoissonRecipe {
        neurons: a.neurons,
        rate_hz: a.rate_hz,
        duration_s: a.duration_s,
        refractory_s: a.refractory_s,
        gamma_shape: a.gamma_shape,
        bin_s: a.bin_s,
    };
    let (trains, truth) = recipe.generate(a.common.seed)?;
    recipe.write(out, &trains, &truth, a.common.force)?;
    a.common.nwb.annotate(out)?;
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

fn molds(a: MoldsArgs) -> Result<()> {
    let out = &a.common.out;
    a.common.nwb.check_before(false)?;
    let paths = MoldsDataset::paths(out);
    recipes::check_writable(&paths.each_ref().map(|p| p.as_path()), a.common.force)?;
    let spec = MoldsSpec {
        weights: a.weights,
        n_states: a.states,
        n_outputs: a.outputs,
        n_inputs: a.inputs,
        n_traj: a.trajectories,
        t_len: a.steps,
        snr_db: a.snr_db,
        ..Default::default()
    };
    let data = MoldsTruth::generate(&spec, a.common.seed)?;
    let [_, u, t] = data.write(out, a.common.force)?;
    println!(
        "wrote {} ({} × {} × {}), {}, {}",
        out.display(),
        a.trajectories,
        a.steps,
        a.outputs,
        u.display(),
        t.display()
    );
    Ok(())
}

fn twobody(a: TwoBodyArgs) -> Result<()> {
    let out = &a.common.out;
    a.common.nwb.check_before(false)?;
    let tp = truth_path(out);
    recipes::check_writable(&[out, &tp], a.common.force)?;
    let params = TwoBodyParams {
        n_trials: a.trials,
        ..Default::default()
    };
    params
        .generate(a.common.seed)?
        .write(out, a.common.seed, a.common.force)?;
    println!(
        "wrote {} trials to {} and {}",
        a.trials,
        out.display(),
        tp.display()
    );
    Ok(())
}

fn recording(a: RecordingArgs) -> Result<()> {
    spikelab_data::io::check_writable(&a.out, a.force)?;
    let mut params = match a.preset {
        RecordingPreset::TetrodeBenchmark => GroundTruthParams::tetrode_benchmark(),
        RecordingPreset::Spikeinterface => GroundTruthParams::default(),
    };
    if let Some(d) = a.duration_s {
        params.duration_s = d;
    }
    let gt = params.generate(a.seed)?;
    gt.write_folder(&a.out, a.force)?;
    println!(
        "wrote {:.0} s × {} channels at {} Hz with {} units to {}",
        gt.recording.duration_s(),
        gt.recording.n_channels(),
        gt.recording.sampling_rate_hz(),
        gt.sorting.n_units(),
        a.out.display()
    );
    for (u, (&n, snr)) in gt.sorting.counts().iter().zip(&gt.truth.snr).enumerate() {
        println!("  unit {u}: {n} spikes, SNR {snr:.1}");
    }
    Ok(())
}
