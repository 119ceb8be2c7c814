//! `spikelab sort`: spike sorting and its scoring (crate `spikelab-sort`).
//!
//! ```text
//! spikelab sort run RECORDING --out DIR [--threshold 5] [--radius-um R] [--seed S] [--device cuda]
//!     [--probe PROBE.json]
//!     [--dtype int16 --channels C --rate-hz FS [--gain-uv G] [--tetrode-pitch-um P]]   (plain binary)
//!     [--no-plots] [--force]
//! spikelab sort compare --gt GT --sorted SORTED [--delta-ms 0.4] [--json OUT.json] [--force]
//! ```
//!
//! RECORDING is anything `spikelab_data::io::raw::open_recording` reads (a spikelab recording
//! folder, SpikeGLX, Open Ephys binary, NWB `ElectricalSeries`, or a plain binary file with
//! `--dtype/--channels/--rate-hz`). `--probe` replaces the recording's probe with a
//! probeinterface JSON file (`spikelab_data::io::probe::read_probe`: channel `i` is the contact
//! wired to device channel `i`), which must have one wired contact per channel. DIR is written whole or not at all: the phy template-gui
//! files (open it with `phy template-gui DIR/params.py`), `sort.json` (parameters and counts),
//! `units.nwb` (the units as NWB `/units`, with the `hdf5` feature) and `units/unit_<id>.png`
//! (template per channel, ISI histogram, amplitude over time). An existing DIR is replaced only
//! with `--force`.
//!
//! GT and SORTED are a recording folder with `ground_truth/`, a phy/Kilosort folder or a
//! spikeinterface sorting folder; the scores are spikeinterface's `compare_sorter_to_ground_truth`
//! (`exhaustive_gt=True`) and SimSort's own variant.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use spikelab_data::io::raw::{self, BinaryOptions, Dtype, RawOptions, RecordingSource};
use spikelab_data::{Probe, Sorting};
use spikelab_sort::compare::{CompareParams, CompareReport};
use spikelab_sort::pipeline::{SortParams, SortResult, sort};

/// `spikelab sort …`
#[derive(clap::Subcommand, Debug)]
pub enum SortCommand {
    /// Sort a recording: phy folder, NWB units and a figure per unit.
    Run(RunArgs),
    /// Score a sorting against ground truth (spikeinterface's accuracy, SimSort's variant).
    Compare(CompareArgs),
}

/// Arguments of `spikelab sort run`.
#[derive(clap::Args, Debug)]
pub struct RunArgs {
    /// The recording (folder, .bin/.meta, structure.oebin, .nwb, or plain binary).
    pub recording: PathBuf,
    /// Output folder.
    #[arg(long)]
    pub out: PathBuf,
    /// Detection threshold in MAD-σ units.
    #[arg(long, default_value_t = SortParams::default().detector.threshold_sigma)]
    pub threshold: f64,
    /// Channel radius in µm for large probes: each spike is clustered with the channels within
    /// it of its peak channel, and detection's local-extremum and dead-time neighbourhoods use
    /// it (default: every channel is a neighbour, as on a tetrode).
    #[arg(long)]
    pub radius_um: Option<f64>,
    /// Where the whitening's covariance and product run: `cpu` (f64), `cuda[:N]` or `metal[:N]`
    /// (f32; needs a build with the `cuda` or `metal` feature).
    #[arg(long, default_value = "cpu")]
    pub device: String,
    /// Seed of the PCA and bandwidth subsets.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Plain binary: value type (int16, uint16, int32, float32, float64).
    #[arg(long)]
    pub dtype: Option<String>,
    /// Plain binary: channels per sample.
    #[arg(long)]
    pub channels: Option<usize>,
    /// Plain binary: sampling rate in Hz.
    #[arg(long)]
    pub rate_hz: Option<f64>,
    /// Plain binary: gain to µV.
    #[arg(long)]
    pub gain_uv: Option<f32>,
    /// Plain binary: a 2 × 2 tetrode with this pitch (µm) instead of the default linear probe.
    #[arg(long, conflicts_with = "probe")]
    pub tetrode_pitch_um: Option<f64>,
    /// Probe geometry (probeinterface JSON) replacing the recording's: one wired contact per
    /// channel, channel i being the contact wired to device channel i.
    #[arg(long)]
    pub probe: Option<PathBuf>,
    /// Skip the per-unit figures.
    #[arg(long)]
    pub no_plots: bool,
    /// Replace an existing output folder.
    #[arg(long)]
    pub force: bool,
}

/// Arguments of `spikelab sort compare`.
#[derive(clap::Args, Debug)]
pub struct CompareArgs {
    /// Ground truth (recording folder with ground_truth/, phy folder, spikeinterface folder).
    #[arg(long)]
    pub gt: PathBuf,
    /// The sorting to score (same kinds of folder).
    #[arg(long)]
    pub sorted: PathBuf,
    /// Matching tolerance in ms.
    #[arg(long, default_value_t = CompareParams::default().delta_time_ms)]
    pub delta_ms: f64,
    /// Write every number (per-unit table, agreement matrix) as JSON.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Replace an existing JSON file.
    #[arg(long)]
    pub force: bool,
}

/// Runs a `spikelab sort` command.
pub fn run(cmd: SortCommand) -> Result<()> {
    match cmd {
        SortCommand::Run(a) => run_sort(a),
        SortCommand::Compare(a) => compare(a),
    }
}

fn open(a: &RunArgs) -> Result<Box<dyn RecordingSource + Send + Sync>> {
    let binary = match (&a.dtype, a.channels, a.rate_hz) {
        (None, None, None) => None,
        (Some(d), Some(c), Some(fs)) => Some(BinaryOptions {
            gain_to_uv: a.gain_uv.map(|g| vec![g]),
            probe: match a.tetrode_pitch_um {
                Some(p) if c == 4 => Some(Probe::tetrode(p)),
                Some(_) => bail!("--tetrode-pitch-um needs --channels 4"),
                None => None,
            },
            ..BinaryOptions::new(Dtype::parse(d)?, c, fs)
        }),
        _ => bail!("a plain binary file needs all of --dtype, --channels and --rate-hz"),
    };
    let opts = RawOptions {
        binary,
        ..RawOptions::default()
    };
    raw::open_recording(&a.recording, &opts)
        .with_context(|| format!("opening {}", a.recording.display()))
}

fn run_sort(a: RunArgs) -> Result<()> {
    spikelab_data::io::check_writable(&a.out, a.force)?;
    let source = open(&a)?;
    let probe = match &a.probe {
        Some(p) => {
            let probe = spikelab_data::io::probe::read_probe(p)?;
            probe
                .check_n_channels(source.n_channels())
                .with_context(|| {
                    format!("--probe {} for {}", p.display(), a.recording.display())
                })?;
            Some(probe)
        }
        None => None,
    };
    eprintln!(
        "{}: {} channels, {:.1} s at {} Hz",
        a.recording.display(),
        source.n_channels(),
        source.duration_s(),
        source.sampling_rate_hz()
    );
    let mut recording = source.load()?;
    if let Some(probe) = probe {
        recording = recording.with_probe(probe)?;
    }
    let mut params = SortParams {
        group_radius_um: a.radius_um,
        seed: a.seed,
        device: a.device.parse()?,
        ..SortParams::default()
    };
    params.detector.threshold_sigma = a.threshold;
    params.detector.radius_um = a.radius_um;
    let bar = indicatif::ProgressBar::new_spinner();
    let t0 = std::time::Instant::now();
    let mut observer = |p: &spikelab_core::Progress<'_>| {
        bar.set_message(format!(
            "{} {}/{}",
            p.stage,
            p.step + 1,
            p.total.unwrap_or(1)
        ));
        bar.tick();
        spikelab_core::Flow::Continue
    };
    let result = sort(&recording, &params, &mut observer)?;
    bar.finish_and_clear();
    let seconds = t0.elapsed().as_secs_f64();
    spikelab_data::io::write_dir_atomic(&a.out, a.force, |tmp| -> Result<()> {
        result.write_files(tmp, recording.probe(), None, &params)?;
        write_units_nwb(tmp, &result)?;
        if !a.no_plots {
            let dir = tmp.join("units");
            std::fs::create_dir_all(&dir)?;
            for u in 0..result.sorting.n_units() {
                result.plot_unit(&dir.join(format!("unit_{u}.png")), u)?;
            }
        }
        Ok(())
    })?;
    println!(
        "{} units from {} detected peaks ({} mean-shift clusters) in {seconds:.1} s → {}",
        result.sorting.n_units(),
        result.n_detected,
        result.n_clusters,
        a.out.display()
    );
    for (u, (&n, &c)) in result
        .sorting
        .counts()
        .iter()
        .zip(&result.peak_channels)
        .enumerate()
    {
        println!(
            "  unit {u}: {n} spikes ({:.2} Hz), peak channel {c}",
            n as f64 / recording.duration_s()
        );
    }
    Ok(())
}

#[cfg(feature = "hdf5")]
fn write_units_nwb(dir: &std::path::Path, result: &SortResult) -> Result<()> {
    let opts = spikelab_data::io::nwb::NwbWriteOptions::default();
    spikelab_data::io::nwb::write_units(
        &dir.join("units.nwb"),
        &result.sorting.to_spike_trains()?,
        &opts,
    )?;
    Ok(())
}

#[cfg(not(feature = "hdf5"))]
fn write_units_nwb(_: &std::path::Path, _: &SortResult) -> Result<()> {
    Ok(())
}

fn compare(a: CompareArgs) -> Result<()> {
    if let Some(j) = &a.json {
        spikelab_data::io::check_writable(j, a.force)?;
    }
    let gt: Sorting = spikelab_data::io::open_sorting(&a.gt)
        .with_context(|| format!("reading ground truth {}", a.gt.display()))?;
    let tested: Sorting = spikelab_data::io::open_sorting(&a.sorted)
        .with_context(|| format!("reading sorting {}", a.sorted.display()))?;
    let report = CompareReport::new(&gt, &tested, a.delta_ms)?;
    print!("{}", report.markdown());
    if let Some(j) = &a.json {
        spikelab_data::io::write_json(j, &report, a.force)?;
    }
    Ok(())
}
