//! Ready-made datasets, as `spikelab synth` makes them: flat option structs (serde, defaults =
//! the convSeq README dataset, the neuLVM network, …) that build the generators' parameters,
//! and writers of the data (`.npy`, or NWB with the feature `hdf5`) with the ground truth as
//! JSON next to it (`FILE` with the extension `truth.json`).
//!
//! | recipe | data written | npy layout |
//! | --- | --- | --- |
//! | [`SequencesRecipe`] | embedded sequences (clean mode, or parity mode on a background file) | `[neuron, bin]` u8, or int64 `[nnz, 2]` events `(neuron, bin)`; NWB `/units` |
//! | [`CalciumRecipe`] | ΔF/F of Poisson neurons | `[time, neuron]` f64; NWB ophys `DfOverF` |
//! | [`LifRecipe`] | neuLVM's LIF network | `Z = A·Δ` `[population, bin]` f64 + `FILE.spikes.npy` `[population, bin, neuron]` u8; NWB `/units` of the recorded neurons |
//! | [`PoissonRecipe`] | Poisson/gamma spike trains | `[neuron, bin]` u32 counts; NWB `/units` |
//!
//! Every file is written through a temporary name and a rename, and the outputs are checked
//! before anything is generated; nothing is overwritten unless `force`. The NWB spike times of
//! the sequences and Poisson recipes lie on a [`NWB_CLOCK_HZ`] sample clock (resolution
//! 1/30 000 s), those of the LIF recipe on its time step.
//!
//! ```
//! use spikelab_synth::recipes::PoissonRecipe;
//! let dir = tempfile::tempdir()?;
//! let out = dir.path().join("p.npy");
//! let recipe = PoissonRecipe { neurons: 3, duration_s: 2.0, ..Default::default() };
//! let (trains, truth) = recipe.generate(0)?;
//! recipe.write(&out, &trains, &truth, false)?;
//! assert!(dir.path().join("p.truth.json").exists());
//! assert!(recipe.write(&out, &trains, &truth, false).is_err()); // no overwrite without force
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::path::{Path, PathBuf};

use ndarray::Array2;
use serde::{Deserialize, Serialize};
use spikelab_data::io;
use spikelab_data::{CalciumTraces, SparseRaster, SpikeTrains};

use crate::error::{Result, SynthError};
use crate::{
    Background, CalciumParams, CalciumTruth, Indicator, LifOutput, LifParams, LifTruth,
    Occurrences, ParityParams, PoissonParams, PoissonTruth, RateModel, SequenceParams,
    SequenceTruth, SequenceType,
};

/// `FILE.ext` → `FILE.truth.json`.
pub fn truth_path(out: &Path) -> PathBuf {
    out.with_extension("truth.json")
}

/// `true` when `out` ends in `.nwb` (any case).
pub fn is_nwb(out: &Path) -> bool {
    out.extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("nwb"))
}

/// Refuses any existing path of `paths` unless `force`.
pub fn check_writable(paths: &[&Path], force: bool) -> Result<()> {
    for p in paths {
        io::check_writable(p, force)?;
    }
    Ok(())
}

/// Writes the ground truth (compact JSON) to [`truth_path`]`(out)`.
fn write_truth<T: Serialize>(out: &Path, truth: &T, force: bool) -> Result<()> {
    let path = truth_path(out);
    io::write_atomic(&path, force, |tmp| {
        let f = std::fs::File::create(tmp).map_err(|e| spikelab_data::DataError::io(tmp, e))?;
        let mut w = std::io::BufWriter::new(f);
        serde_json::to_writer(&mut w, truth)
            .map_err(|e| spikelab_data::DataError::io(&path, std::io::Error::other(e)))?;
        std::io::Write::flush(&mut w).map_err(|e| spikelab_data::DataError::io(tmp, e))
    })?;
    Ok(())
}

/// The sample clock of the spike times in the NWB `/units` that [`SequencesRecipe`] and
/// [`PoissonRecipe`] write (30 kHz, a common extracellular rate): those files declare a spike
/// time resolution of `1 / NWB_CLOCK_HZ` s.
pub const NWB_CLOCK_HZ: f64 = 30_000.0;

/// Spike times of a raster on the [`NWB_CLOCK_HZ`] sample clock, for NWB `/units`: each spike
/// sits on a sample inside its bin, at least a quarter sample from either edge, chosen by a
/// hash of (neuron, bin, spike), so the same raster always gives the same times and binning
/// them at `r.bin_s()` gives `r` back. A bin shorter than 1.5 samples (50 µs) is an error.
pub fn raster_to_trains(r: &SparseRaster) -> Result<SpikeTrains> {
    let samples_per_bin = r.bin_s() * NWB_CLOCK_HZ;
    if samples_per_bin < 1.5 {
        return Err(SynthError::InvalidParameter {
            name: "bin_s",
            reason: format!(
                "{} s bins are too short for spike times on a {NWB_CLOCK_HZ} Hz clock (NWB output needs bins of at least 50 µs)",
                r.bin_s()
            ),
        });
    }
    let trains = r
        .rows()
        .iter()
        .enumerate()
        .map(|(n, row)| {
            let mut times: Vec<f64> = row
                .iter()
                .flat_map(|&(b, c)| {
                    let lo = (b as f64 * samples_per_bin + 0.25).ceil();
                    let hi = ((b as f64 + 1.0) * samples_per_bin - 0.25).floor();
                    let choices = (hi - lo) as u64 + 1;
                    (0..c).map(move |k| {
                        let h = mix64(((n as u64) << 40) ^ (b << 8) ^ u64::from(k));
                        (lo + (h % choices) as f64) / NWB_CLOCK_HZ
                    })
                })
                .collect();
            times.sort_by(f64::total_cmp);
            times
        })
        .collect();
    Ok(SpikeTrains::new(
        trains,
        0.0,
        r.n_bins() as f64 * r.bin_s(),
    )?)
}

/// SplitMix64's finaliser: a fixed, well-mixed hash of `x`.
fn mix64(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// `trains` with every time rounded to the nearest sample of [`NWB_CLOCK_HZ`] (order kept; a
/// dead time may shrink by up to one sample).
pub fn trains_on_clock(trains: &SpikeTrains) -> Result<SpikeTrains> {
    let rounded = trains
        .trains()
        .iter()
        .map(|t| {
            t.iter()
                .map(|&x| (x * NWB_CLOCK_HZ).round() / NWB_CLOCK_HZ)
                .map(|x| x.clamp(trains.t_start_s(), trains.t_stop_s()))
                .collect()
        })
        .collect();
    Ok(SpikeTrains::with_ids(
        rounded,
        trains.unit_ids().to_vec(),
        trains.t_start_s(),
        trains.t_stop_s(),
    )?)
}

/// `resolution_s`: the time step the spike times are on (`Units` `resolution`); `None` for
/// continuous times.
#[cfg(feature = "hdf5")]
fn write_units(
    path: &Path,
    trains: &SpikeTrains,
    what: &str,
    resolution_s: Option<f64>,
    force: bool,
) -> Result<()> {
    let mut opts = io::nwb::NwbWriteOptions::new(what);
    opts.overwrite = force;
    opts.spike_time_resolution_s = resolution_s;
    io::nwb::write_units(path, trains, &opts)?;
    Ok(())
}

#[cfg(not(feature = "hdf5"))]
fn write_units(path: &Path, _: &SpikeTrains, _: &str, _: Option<f64>, _: bool) -> Result<()> {
    Err(no_nwb(path))
}

#[cfg(not(feature = "hdf5"))]
fn no_nwb(path: &Path) -> SynthError {
    SynthError::InvalidParameter {
        name: "out",
        reason: format!(
            "{}: NWB output needs spikelab-synth's `hdf5` feature",
            path.display()
        ),
    }
}

/// `spikelab synth sequences`: spike sequences embedded in a background raster.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SequencesRecipe {
    /// Parity mode: embed into this binary `[neuron, bin]` raster (`.mat` or `.npy`) with
    /// [`ParityParams`]; `None`: clean mode ([`SequenceParams`]).
    pub background: Option<PathBuf>,
    /// MATLAB variable holding the background.
    pub variable: String,
    /// Clean mode: neurons.
    pub neurons: usize,
    /// Clean mode: bins.
    pub bins: u64,
    /// Bin width (s).
    pub bin_s: f64,
    /// Members per sequence type.
    pub seqlen: usize,
    /// Probability of dropping a member spike in an occurrence.
    pub p_drop: f64,
    /// Onset spacing of regular occurrences (bins).
    pub gap_bins: u64,
    /// Jitter standard deviation (bins).
    pub jitter_bins: f64,
    /// Lag between consecutive members (bins).
    pub lag_bins: u64,
    /// Clean mode: sequence types (disjoint members).
    pub types: usize,
    /// Clean mode: Poisson occurrences with this mean onset spacing (bins) instead of regular
    /// ones.
    pub poisson_gap_bins: Option<f64>,
    /// Clean mode: time-warp range drawn per occurrence.
    pub warp: (f64, f64),
    /// Clean mode: mean background rate (spikes per bin).
    pub mean_rate_per_bin: f64,
    /// Clean mode: standard deviation of the log-rate across neurons.
    pub rate_sigma: f64,
    /// Clean mode: gamma background of this shape instead of Poisson.
    pub gamma_shape: Option<f64>,
    /// npy output as int64 `[nnz, 2]` events `(neuron, bin)` instead of a dense raster.
    pub events: bool,
}

impl Default for SequencesRecipe {
    /// The convSeq README dataset: 452 neurons × 18 137 bins of 50 ms, one type of 120 members
    /// every 400 bins, CA1-like log-normal background rates.
    fn default() -> Self {
        Self {
            background: None,
            variable: "neuronal_activity_mat".into(),
            neurons: 452,
            bins: 18_137,
            bin_s: 0.05,
            seqlen: 120,
            p_drop: 0.1,
            gap_bins: 400,
            jitter_bins: 10.0,
            lag_bins: 1,
            types: 1,
            poisson_gap_bins: None,
            warp: (1.0, 1.0),
            mean_rate_per_bin: 0.0021,
            rate_sigma: 0.745,
            gamma_shape: None,
            events: false,
        }
    }
}

impl SequencesRecipe {
    /// Generates the raster and its truth (parity mode reads the background file).
    pub fn generate(&self, seed: u64) -> Result<(SparseRaster, SequenceTruth)> {
        if let Some(bg_path) = &self.background {
            let options = io::ReadOptions {
                bin_s: Some(self.bin_s),
                variable: Some(self.variable.clone()),
                ..Default::default()
            };
            let bg = io::read_raster(bg_path, &options)?;
            let p = ParityParams {
                seqlen: self.seqlen,
                p_drop: self.p_drop,
                gap_bins: self.gap_bins,
                jitter_std_bins: self.jitter_bins,
                lag_bins: self.lag_bins,
            };
            return p.generate(&bg, seed);
        }
        let occurrences = match self.poisson_gap_bins {
            Some(g) => Occurrences::Poisson { mean_gap_bins: g },
            None => Occurrences::Regular {
                gap_bins: self.gap_bins,
                first_onset_bin: 0,
            },
        };
        let ty = SequenceType {
            n_members: self.seqlen,
            lag_bins: self.lag_bins as f64,
            offsets_bins: None,
            jitter_std_bins: self.jitter_bins,
            p_drop: self.p_drop,
            warp_range: self.warp,
            occurrences,
        };
        SequenceParams {
            n_neurons: self.neurons,
            n_bins: self.bins,
            bin_s: self.bin_s,
            rates: RateModel::LogNormal {
                mean_per_bin: self.mean_rate_per_bin,
                sigma: self.rate_sigma,
            },
            background: match self.gamma_shape {
                Some(shape) => Background::Gamma { shape },
                None => Background::Poisson,
            },
            binary: true,
            types: vec![ty; self.types],
            ..SequenceParams::default()
        }
        .generate(seed)
    }

    /// Writes the raster to `out` (NWB `/units` for `.nwb`, times from [`raster_to_trains`];
    /// else `.npy`, dense or events) and the truth next to it.
    pub fn write(
        &self,
        out: &Path,
        raster: &SparseRaster,
        truth: &SequenceTruth,
        force: bool,
    ) -> Result<()> {
        check_writable(&[out, &truth_path(out)], force)?;
        if is_nwb(out) {
            write_units(
                out,
                &raster_to_trains(raster)?,
                "spikelab synth sequences",
                Some(1.0 / NWB_CLOCK_HZ),
                force,
            )?;
        } else if self.events {
            let mut ev = Vec::with_capacity(raster.nnz() * 2);
            for (n, row) in raster.rows().iter().enumerate() {
                for &(b, _) in row {
                    ev.push(n as i64);
                    ev.push(b as i64);
                }
            }
            let n = ev.len() / 2;
            let arr =
                Array2::from_shape_vec((n, 2), ev).map_err(|e| SynthError::InvalidParameter {
                    name: "events",
                    reason: e.to_string(),
                })?;
            io::write_atomic(out, force, |tmp| io::npy::write(tmp, &arr, true))?;
        } else {
            let dense = raster.to_dense()?;
            let u8s = dense.counts().mapv(|c| c.min(255) as u8);
            io::write_atomic(out, force, |tmp| io::npy::write(tmp, &u8s, true))?;
        }
        write_truth(out, truth, force)
    }
}

/// `spikelab synth calcium`: ΔF/F traces of Poisson neurons (dead time 2 ms).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CalciumRecipe {
    /// Neurons.
    pub neurons: usize,
    /// Poisson rate of every neuron (Hz).
    pub rate_hz: f64,
    /// Duration (s).
    pub duration_s: f64,
    /// Frame rate (Hz).
    pub fps: f64,
    /// Indicator preset name ([`Indicator::from_name`]).
    pub indicator: String,
    /// Target CASCADE noise level ν (% Hz^-1/2; 0 = noise-free).
    pub noise: f64,
    /// Saturation level of ΔF/F.
    pub saturation: Option<f64>,
    /// Standard deviation of the slow baseline drift (ΔF/F).
    pub drift_std: f64,
    /// Time constant of the drift (s).
    pub drift_tau_s: f64,
}

impl Default for CalciumRecipe {
    /// 10 GCaMP6s neurons at 1 Hz for 300 s, 30 fps, ν = 2, no drift.
    fn default() -> Self {
        Self {
            neurons: 10,
            rate_hz: 1.0,
            duration_s: 300.0,
            fps: 30.0,
            indicator: "gcamp6s".into(),
            noise: 2.0,
            saturation: None,
            drift_std: 0.0,
            drift_tau_s: 30.0,
        }
    }
}

impl CalciumRecipe {
    /// The indicator preset.
    pub fn indicator(&self) -> Result<Indicator> {
        Indicator::from_name(&self.indicator)
    }

    /// Generates the spikes (seed `seed`) and their traces.
    pub fn generate(&self, seed: u64) -> Result<(CalciumTraces, CalciumTruth, SpikeTrains)> {
        let (spikes, _) =
            PoissonParams::constant(vec![self.rate_hz; self.neurons], self.duration_s)
                .with_refractory_s(0.002)
                .generate(seed)?;
        let mut p = CalciumParams::new(self.fps, self.indicator()?)
            .with_noise_level(self.noise)
            .with_drift(self.drift_std, self.drift_tau_s);
        p.saturation = self.saturation;
        let (traces, truth) = p.generate(&spikes, seed)?;
        Ok((traces, truth, spikes))
    }

    /// Writes the traces to `out` (NWB ophys `DfOverF` for `.nwb`, else `.npy`) and the truth.
    pub fn write(
        &self,
        out: &Path,
        traces: &CalciumTraces,
        truth: &CalciumTruth,
        force: bool,
    ) -> Result<()> {
        check_writable(&[out, &truth_path(out)], force)?;
        if is_nwb(out) {
            self.write_ophys(out, traces, force)?;
        } else {
            io::write_atomic(out, force, |tmp| io::npy::write(tmp, traces.data(), true))?;
        }
        write_truth(out, truth, force)
    }

    #[cfg(feature = "hdf5")]
    fn write_ophys(&self, path: &Path, traces: &CalciumTraces, force: bool) -> Result<()> {
        let mut opts = io::nwb::OphysWriteOptions::new("spikelab synth calcium");
        opts.overwrite = force;
        opts.indicator = self.indicator.clone();
        opts.container = io::nwb::OphysContainer::DfOverF;
        io::nwb::write_ophys(path, traces, &opts)?;
        Ok(())
    }

    #[cfg(not(feature = "hdf5"))]
    fn write_ophys(&self, path: &Path, _: &CalciumTraces, _: bool) -> Result<()> {
        Err(no_nwb(path))
    }
}

/// `spikelab synth lif`: neuLVM's 3-population LIF network ([`LifParams::default`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LifRecipe {
    /// Duration (s).
    pub duration_s: f64,
    /// Time step (s).
    pub dt_s: f64,
    /// Re-binning factor of the npy output (20 × 0.2 ms = neuLVM's 4 ms).
    pub rebin: usize,
    /// Recorded neurons per population.
    pub recorded: usize,
}

impl Default for LifRecipe {
    /// 11 s at 0.2 ms, 3 recorded neurons per population, 4-ms bins.
    fn default() -> Self {
        let p = LifParams::default();
        Self {
            duration_s: p.duration_s,
            dt_s: p.dt_s,
            rebin: 20,
            recorded: p.n_recorded,
        }
    }
}

impl LifRecipe {
    /// The simulator's parameters.
    pub fn params(&self) -> LifParams {
        LifParams {
            duration_s: self.duration_s,
            dt_s: self.dt_s,
            n_recorded: self.recorded,
            ..LifParams::default()
        }
    }

    /// `FILE.npy` → `FILE.spikes.npy`, the recorded spikes of the npy output.
    pub fn spikes_path(out: &Path) -> PathBuf {
        out.with_extension("spikes.npy")
    }

    /// The paths [`LifRecipe::write`] writes for `out`.
    pub fn paths(out: &Path) -> Vec<PathBuf> {
        let mut v = vec![out.to_path_buf(), truth_path(out)];
        if !is_nwb(out) {
            v.push(Self::spikes_path(out));
        }
        v
    }

    /// Writes the recorded neurons (NWB `/units`) or `Z` and the binned spikes (`.npy`), and
    /// the truth.
    pub fn write(&self, out: &Path, sim: &LifOutput, truth: &LifTruth, force: bool) -> Result<()> {
        let paths = Self::paths(out);
        check_writable(
            &paths.iter().map(PathBuf::as_path).collect::<Vec<_>>(),
            force,
        )?;
        if is_nwb(out) {
            write_units(
                out,
                &sim.recorded,
                "spikelab synth lif (neuLVM network)",
                Some(sim.dt_s),
                force,
            )?;
        } else {
            let rb = sim.rebin(self.rebin)?;
            io::write_atomic(out, force, |tmp| io::npy::write(tmp, &rb.z, true))?;
            io::write_atomic(&Self::spikes_path(out), force, |tmp| {
                io::npy::write(tmp, &rb.spikes, true)
            })?;
        }
        write_truth(out, truth, force)
    }
}

/// `spikelab synth poisson`: Poisson/gamma spike trains with a dead time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PoissonRecipe {
    /// Neurons.
    pub neurons: usize,
    /// Rate of every neuron (Hz).
    pub rate_hz: f64,
    /// Duration (s).
    pub duration_s: f64,
    /// Dead time (s).
    pub refractory_s: f64,
    /// Gamma shape of the intervals (1 = Poisson).
    pub gamma_shape: f64,
    /// Bin width of the npy count raster (s).
    pub bin_s: f64,
}

impl Default for PoissonRecipe {
    /// 100 neurons at 5 Hz for 60 s, 2-ms dead time, 1-ms bins.
    fn default() -> Self {
        Self {
            neurons: 100,
            rate_hz: 5.0,
            duration_s: 60.0,
            refractory_s: 0.002,
            gamma_shape: 1.0,
            bin_s: 0.001,
        }
    }
}

impl PoissonRecipe {
    /// Generates the spike trains.
    pub fn generate(&self, seed: u64) -> Result<(SpikeTrains, PoissonTruth)> {
        PoissonParams::constant(vec![self.rate_hz; self.neurons], self.duration_s)
            .with_refractory_s(self.refractory_s)
            .with_gamma_shape(self.gamma_shape)
            .generate(seed)
    }

    /// Writes the trains (NWB `/units`, times rounded to the [`NWB_CLOCK_HZ`] clock by
    /// [`trains_on_clock`]; or `.npy` counts at `bin_s`) and the truth.
    pub fn write(
        &self,
        out: &Path,
        trains: &SpikeTrains,
        truth: &PoissonTruth,
        force: bool,
    ) -> Result<()> {
        check_writable(&[out, &truth_path(out)], force)?;
        if is_nwb(out) {
            write_units(
                out,
                &trains_on_clock(trains)?,
                "spikelab synth poisson",
                Some(1.0 / NWB_CLOCK_HZ),
                force,
            )?;
        } else {
            let r = trains.bin(self.bin_s)?;
            io::write_atomic(out, force, |tmp| io::npy::write(tmp, r.counts(), true))?;
        }
        write_truth(out, truth, force)
    }
}
