//! `spikelab inspect` and `spikelab convert`.

use super::nwb_out::NwbMetaArgs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use spikelab_data::io::{self, Content, Format, Loaded, ReadOptions};

/// Frame-rate and Suite2p options shared by `inspect` and `convert`.
#[derive(clap::Args, Debug)]
pub struct RateArgs {
    /// Frame rate (Hz) of files that store none (CSV/NPY/MAT matrices; Spikefinder data are
    /// 100 Hz); where the file stores one, it must agree (unless --force-fps).
    #[arg(long)]
    pub fps: Option<f64>,
    /// Use --fps even where the file stores a different rate.
    #[arg(long)]
    pub force_fps: bool,
    /// Suite2p: keep every ROI, not only those classified as cells.
    #[arg(long)]
    pub all_rois: bool,
}

impl RateArgs {
    /// `ReadOptions` with these settings.
    fn options(&self) -> ReadOptions {
        ReadOptions {
            frame_rate_hz: self.fps,
            force_frame_rate: self.force_fps,
            suite2p: io::suite2p::Suite2pOptions {
                cells: if self.all_rois {
                    io::suite2p::CellFilter::All
                } else {
                    io::suite2p::CellFilter::Classifier
                },
                ..Default::default()
            },
            ..ReadOptions::default()
        }
    }
}

/// Arguments of `spikelab inspect`.
#[derive(clap::Args, Debug)]
pub struct InspectArgs {
    /// File, or Kilosort/phy, Suite2p plane or SpikeInterface sorting folder, to describe.
    pub file: PathBuf,
    #[command(flatten)]
    pub rate: RateArgs,
    /// Bin width (s) of a raster stored without one (NPY/MAT matrices); default 1/fps.
    #[arg(long)]
    pub bin_s: Option<f64>,
    /// Read the file as `traces`, `raster`, `spikes` or `array` (default: its content decides).
    #[arg(long)]
    pub content: Option<String>,
}

/// Arguments of `spikelab convert`.
#[derive(clap::Args, Debug)]
pub struct ConvertArgs {
    /// Input file, or Kilosort/phy, Suite2p plane or SpikeInterface sorting folder.
    pub input: PathBuf,
    /// Output file: `.nwb`, `.npy` or `.csv` (the extension picks the format).
    pub output: PathBuf,
    #[command(flatten)]
    pub rate: RateArgs,
    /// Bin width (s) used when spike trains must become a raster (e.g. Kilosort → .npy).
    #[arg(long)]
    pub bin_s: Option<f64>,
    /// Name of the MATLAB variable to read from a plain `.mat` matrix file.
    #[arg(long)]
    pub variable: Option<String>,
    /// Read the input as `traces`, `raster`, `spikes` or `array` (default: its content decides).
    #[arg(long)]
    pub content: Option<String>,
    /// Replace OUT if it exists (otherwise spikelab refuses to overwrite anything).
    #[arg(long)]
    pub force: bool,
    /// NWB output: the spike times' resolution in s (default: 1 / the sampling rate the input
    /// stores: Kilosort `sample_rate`, SpikeInterface sampling frequency, NWB `resolution`).
    #[arg(long)]
    pub spike_resolution_s: Option<f64>,
    #[command(flatten)]
    pub nwb: NwbMetaArgs,
}

/// `--content` values: what the input is to be read as (default: its content decides).
fn content(name: Option<&str>) -> Result<Option<Content>> {
    Ok(match name {
        None => None,
        Some("traces") => Some(Content::Traces),
        Some("raster") => Some(Content::Raster),
        Some("spikes") => Some(Content::SpikeTrains),
        Some("array") => Some(Content::Array),
        Some(other) => bail!("--content must be traces, raster, spikes or array; got {other:?}"),
    })
}

fn describe(l: &Loaded) {
    match l {
        Loaded::Traces(t) => {
            println!(
                "calcium traces [time, neuron]: {} frames × {} neurons at {} Hz ({:.1} s)",
                t.n_frames(),
                t.n_neurons(),
                t.frame_rate_hz(),
                t.duration_s()
            );
            println!("  valid lengths (frames): {:?}", t.valid_lengths());
            let nans = t.interior_nans();
            if !nans.is_empty() {
                println!("  WARNING: {} NaN frames inside valid parts", nans.len());
            }
        }
        Loaded::SpikeTrains(s) => {
            println!(
                "spike trains: {} units, {} spikes, [{:.3}, {:.3}] s ({:.1} s)",
                s.n_units(),
                s.total_spikes(),
                s.t_start_s(),
                s.t_stop_s(),
                s.duration_s()
            );
            let rates = s.rates_hz();
            if !rates.is_empty() {
                let mean = rates.iter().sum::<f64>() / rates.len() as f64;
                let max = rates.iter().copied().fold(0.0, f64::max);
                println!("  rates: mean {mean:.2} Hz, max {max:.2} Hz");
            }
        }
        Loaded::Raster(r) => {
            println!(
                "raster [neuron, bin]: {} neurons × {} bins of {} s ({:.1} s), {} spikes, max count {}",
                r.n_neurons(),
                r.n_bins(),
                r.bin_s(),
                r.duration_s(),
                r.total_spikes(),
                r.max_count()
            );
            let rates = r.rates_hz();
            let mean = rates.iter().sum::<f64>() / rates.len().max(1) as f64;
            println!("  mean rate {mean:.3} Hz (with the bin width above)");
        }
        Loaded::Array(a) => {
            let finite: Vec<f64> = a.data.iter().copied().filter(|v| v.is_finite()).collect();
            let n_nan = a.data.len() - finite.len();
            let (lo, hi) = finite
                .iter()
                .fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), &v| {
                    (l.min(v), h.max(v))
                });
            println!(
                "array {} shape {:?}: min {lo}, max {hi}, {n_nan} non-finite",
                a.dtype,
                a.data.shape()
            );
        }
    }
}

/// `spikelab inspect FILE`.
pub fn inspect(args: InspectArgs) -> Result<()> {
    let path = &args.file;
    let fmt = Format::detect(path)?;
    println!("{}: {fmt:?}", path.display());
    if fmt == Format::Mat {
        let mat = io::mat::read_mat(path)?;
        for name in mat.names() {
            println!(
                "  variable {name}: {}",
                mat.get(name).map(|v| v.describe()).unwrap_or_default()
            );
        }
    }
    #[cfg(feature = "hdf5")]
    if fmt == Format::Nwb {
        println!("{}", io::nwb::inspect(path)?);
        return Ok(());
    }
    describe_folder(path, fmt)?;
    let options = ReadOptions {
        content: content(args.content.as_deref())?,
        bin_s: args.bin_s,
        ..args.rate.options()
    };
    match io::open(path, &options) {
        Ok(l) => describe(&l),
        Err(e @ spikelab_data::DataError::MissingFrameRate { .. }) => {
            // Still show the shape; the rate is what the user must add.
            let as_array = ReadOptions {
                content: Some(Content::Array),
                ..options
            };
            match io::open(path, &as_array) {
                Ok(l) => describe(&l),
                Err(_) => return Err(e.into()),
            }
            println!("  frame rate unknown: {e}");
        }
        Err(e) if fmt == Format::Mat => println!("  (no spike-data type: {e})"),
        Err(e) => return Err(e.into()),
    }
    Ok(())
}

/// What the Suite2p, CaImAn and SpikeInterface readers find besides the traces or trains.
fn describe_folder(path: &Path, fmt: Format) -> Result<()> {
    match fmt {
        Format::Suite2p => {
            let rate = io::suite2p::file_frame_rate_hz(path)?;
            println!(
                "  Suite2p plane folder: frame rate {} (ops.npy/settings.npy 'fs'); traces below are ΔF/F of F − 0.7·Fneu (8th-percentile baseline) of the classifier's cells",
                rate.map_or("not stored".into(), |r| format!("{r} Hz"))
            );
        }
        Format::SpikeInterface => {
            let s = io::spikeinterface::read_sorting(path, 0)?;
            println!(
                "  SpikeInterface sorting: {} units (ids {}), sampling frequency {} Hz, {} segment(s)",
                s.unit_names.len(),
                s.unit_names.join(", "),
                s.sampling_frequency_hz,
                s.num_segments
            );
        }
        #[cfg(feature = "hdf5")]
        Format::Caiman => {
            let rate = io::caiman::file_frame_rate_hz(path)?;
            println!(
                "  CaImAn results: frame rate {} (params/data/fr); traces below are estimates/F_dff when present, else C + YrA",
                rate.map_or("not stored".into(), |r| format!("{r} Hz"))
            );
        }
        _ => {}
    }
    Ok(())
}

/// `spikelab convert IN OUT`.
pub fn convert(args: ConvertArgs) -> Result<()> {
    let options = ReadOptions {
        content: content(args.content.as_deref())?,
        bin_s: args.bin_s,
        variable: args.variable.clone(),
        ..args.rate.options()
    };
    let loaded = io::open(&args.input, &options)?;
    let out = &args.output;
    let name = out.to_string_lossy().to_lowercase();
    if name.ends_with(".npy") {
        match loaded {
            Loaded::Traces(t) => io::npy::write(out, t.data(), args.force)?,
            Loaded::Raster(r) => io::npy::write(out, r.counts(), args.force)?,
            Loaded::Array(a) => io::npy::write(out, &a.data, args.force)?,
            Loaded::SpikeTrains(s) => {
                let bin = args
                    .bin_s
                    .context("spike trains → .npy needs --bin-s (the raster's bin width in s)")?;
                io::npy::write(out, s.bin(bin)?.counts(), args.force)?
            }
        }
    } else if name.ends_with(".csv") {
        let (cols, values) = match loaded {
            Loaded::Traces(t) => (t.n_neurons(), t.data().clone()),
            Loaded::Raster(r) => (r.n_neurons(), r.counts().t().mapv(f64::from)),
            _ => bail!("only calcium traces and rasters convert to CSV ([time, neuron])"),
        };
        let names: Vec<String> = (0..cols).map(|i| i.to_string()).collect();
        io::csv::write_table(out, &names, &values, args.force)?;
    } else if name.ends_with(".nwb") {
        write_nwb(loaded, out, &args)?;
    } else {
        bail!(
            "{}: unknown output format (use .nwb, .npy or .csv)",
            out.display()
        );
    }
    println!("wrote {}", out.display());
    Ok(())
}

#[cfg(feature = "hdf5")]
fn write_nwb(loaded: Loaded, out: &Path, args: &ConvertArgs) -> Result<()> {
    use io::nwb::{NwbWriteOptions, OphysWriteOptions};
    let metadata = args.nwb.metadata()?;
    match loaded {
        Loaded::Traces(t) => io::nwb::write_ophys(
            out,
            &t,
            &OphysWriteOptions {
                overwrite: args.force,
                metadata,
                ..Default::default()
            },
        )?,
        Loaded::SpikeTrains(s) => {
            let resolution = match args.spike_resolution_s {
                Some(r) => Some(r),
                None => io::spike_time_resolution_s(&args.input)?,
            };
            if resolution.is_none() {
                eprintln!(
                    "warning: the input stores no sampling rate; give the spike times' resolution with --spike-resolution-s (nwbinspector asks for it)"
                );
            }
            io::nwb::write_units(
                out,
                &s,
                &NwbWriteOptions {
                    overwrite: args.force,
                    spike_time_resolution_s: resolution,
                    metadata,
                    ..Default::default()
                },
            )?
        }
        _ => bail!("only calcium traces and spike trains convert to NWB"),
    }
    Ok(())
}

#[cfg(not(feature = "hdf5"))]
fn write_nwb(_: Loaded, out: &Path, _: &ConvertArgs) -> Result<()> {
    bail!(
        "{}: NWB needs the `hdf5` feature (rebuild spikelab with default features)",
        out.display()
    )
}
