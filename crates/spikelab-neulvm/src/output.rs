//! Output folders of a fit ([`FitResult::write_dir`]) and of a simulation
//! ([`Simulation::write_dir`]). Every file is written to a temporary file in the same folder and
//! renamed, so a reader never sees half a file; existing files are refused before anything is
//! written unless `force`.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use ndarray::Array2;
use spikelab_data::DataError;
use spikelab_data::io::{check_writable, npy};

use crate::error::{NeulvmError, Result};
use crate::fit::FitResult;
use crate::simulate::Simulation;

impl FitResult {
    /// Files [`write_dir`](Self::write_dir) writes: `fit.json` (this value: config, every
    /// restart, resumable states), `params.json` (chosen parameters), `latent.npy`
    /// (`[population, bin]` Z of the chosen restart), `activity_hz.npy` (Z/Δ) and, with the
    /// `hdf5` feature, `fit.nwb` (both series as NWB `TimeSeries` (time × populations) in the
    /// processing module `neulvm`, whose description holds the fitted parameters as JSON).
    pub const OUTPUT_FILES: [&'static str; 5] = [
        "fit.json",
        "params.json",
        "latent.npy",
        "activity_hz.npy",
        "fit.nwb",
    ];

    /// Refuses (`DataError::AlreadyExists`) if `dir` holds any of
    /// [`OUTPUT_FILES`](Self::OUTPUT_FILES) and `force` is off: call it before a long fit.
    pub fn check_output_dir(dir: &Path, force: bool) -> Result<()> {
        check_all(dir, &Self::OUTPUT_FILES, force)
    }

    /// Writes [`OUTPUT_FILES`](Self::OUTPUT_FILES) into `dir` (created if needed); returns the
    /// paths written (`fit.nwb` only with the `hdf5` feature).
    ///
    /// ```no_run
    /// # fn f(res: &spikelab_neulvm::FitResult) -> spikelab_neulvm::Result<()> {
    /// let written = res.write_dir(std::path::Path::new("fit/"), false)?;
    /// # Ok(()) }
    /// ```
    pub fn write_dir(&self, dir: &Path, force: bool) -> Result<Vec<PathBuf>> {
        Self::check_output_dir(dir, force)?;
        create_dir(dir)?;
        let best = self.best();
        let dt = self.config.dt_s;
        let params_json = serde_json::to_string_pretty(&best.state.params)
            .map_err(|e| NeulvmError::Serde(e.to_string()))?;
        let hz = best.state.z.mapv(|z| z / dt);
        let mut written = vec![
            write_text(&dir.join("fit.json"), &self.to_json()?, force)?,
            write_text(&dir.join("params.json"), &params_json, force)?,
            write_atomic(&dir.join("latent.npy"), force, |t| {
                npy_write(t, &best.state.z)
            })?,
            write_atomic(&dir.join("activity_hz.npy"), force, |t| npy_write(t, &hz))?,
        ];
        let description = format!(
            "neuLVM fit by spikelab: restart {} of {}, loss {:.6}; parameters {}",
            self.best,
            self.restarts.len(),
            best.loss,
            serde_json::to_string(&best.state.params)
                .map_err(|e| NeulvmError::Serde(e.to_string()))?
        );
        let series = [
            Series {
                name: "latent_z",
                data: &best.state.z,
                unit: "expected spikes per neuron per bin",
                description: "inferred latent population activity Z (chosen restart)",
            },
            Series {
                name: "activity_hz",
                data: &hz,
                unit: "Hz",
                description: "inferred population rate Z / bin width",
            },
        ];
        written.extend(write_nwb(
            &dir.join("fit.nwb"),
            &description,
            &series,
            dt,
            force,
        )?);
        Ok(written)
    }
}

impl Simulation {
    /// Files [`write_dir`](Self::write_dir) writes: `z.npy`, `z_mean.npy` (`[population,
    /// bin]`), `spikes.npy` (`[population, bin, neuron]`, u8) and, with the `hdf5` feature,
    /// `sim.nwb` (z and z_mean as NWB `TimeSeries` in the processing module `neulvm`).
    pub const OUTPUT_FILES: [&'static str; 4] = ["z.npy", "z_mean.npy", "spikes.npy", "sim.nwb"];

    /// Refuses if `dir` holds any of [`OUTPUT_FILES`](Self::OUTPUT_FILES) and `force` is off.
    pub fn check_output_dir(dir: &Path, force: bool) -> Result<()> {
        check_all(dir, &Self::OUTPUT_FILES, force)
    }

    /// Writes [`OUTPUT_FILES`](Self::OUTPUT_FILES) into `dir` (created if needed); returns the
    /// paths written. `description` goes into the NWB file (e.g. the seed).
    pub fn write_dir(&self, dir: &Path, description: &str, force: bool) -> Result<Vec<PathBuf>> {
        Self::check_output_dir(dir, force)?;
        create_dir(dir)?;
        let mut written = vec![
            write_atomic(&dir.join("z.npy"), force, |t| npy_write(t, &self.z))?,
            write_atomic(&dir.join("z_mean.npy"), force, |t| {
                npy_write(t, &self.z_mean)
            })?,
            write_atomic(&dir.join("spikes.npy"), force, |t| {
                Ok(npy::write(t, &self.spikes, true)?)
            })?,
        ];
        let series = [
            Series {
                name: "z",
                data: &self.z,
                unit: "spikes per neuron per bin",
                description: "simulated population activity (with finite-size noise)",
            },
            Series {
                name: "z_mean",
                data: &self.z_mean,
                unit: "expected spikes per neuron per bin",
                description: "expected activity given the past",
            },
        ];
        written.extend(write_nwb(
            &dir.join("sim.nwb"),
            description,
            &series,
            self.dt_s,
            force,
        )?);
        Ok(written)
    }
}

fn check_all(dir: &Path, names: &[&str], force: bool) -> Result<()> {
    for n in names {
        check_writable(&dir.join(n), force)?;
    }
    Ok(())
}

fn create_dir(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| DataError::io(dir, e).into())
}

/// Runs `write` on a fresh temporary path next to `path`, then renames it to `path`; the
/// temporary file is removed if `write` fails.
fn write_atomic(
    path: &Path,
    force: bool,
    write: impl FnOnce(&Path) -> Result<()>,
) -> Result<PathBuf> {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    check_writable(path, force)?;
    let name = path
        .file_name()
        .ok_or_else(|| NeulvmError::Options(format!("{} has no file name", path.display())))?;
    let tmp = path.with_file_name(format!(
        ".{}.{}-{}.tmp",
        name.to_string_lossy(),
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    if let Err(e) = write(&tmp) {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    std::fs::rename(&tmp, path).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        DataError::io(path, e)
    })?;
    Ok(path.to_path_buf())
}

fn write_text(path: &Path, text: &str, force: bool) -> Result<PathBuf> {
    write_atomic(path, force, |tmp| {
        std::fs::write(tmp, text).map_err(|e| DataError::io(tmp, e).into())
    })
}

fn npy_write(tmp: &Path, a: &Array2<f64>) -> Result<()> {
    Ok(npy::write(tmp, a, true)?)
}

/// One `[population, bin]` series of an NWB output.
#[cfg_attr(not(feature = "hdf5"), allow(dead_code))]
struct Series<'a> {
    name: &'a str,
    data: &'a Array2<f64>,
    unit: &'a str,
    description: &'a str,
}

/// Writes the series as NWB `TimeSeries` in the processing module `neulvm` (atomically, by
/// the NWB writer).
#[cfg(feature = "hdf5")]
fn write_nwb(
    path: &Path,
    description: &str,
    series: &[Series<'_>],
    dt_s: f64,
    force: bool,
) -> Result<Option<PathBuf>> {
    use spikelab_data::PopulationActivity;
    use spikelab_data::io::nwb::{self, ActivitySeries, NwbWriteOptions};
    let acts = series
        .iter()
        .map(|s| PopulationActivity::new(s.data.clone(), dt_s))
        .collect::<std::result::Result<Vec<_>, _>>()?;
    let list: Vec<ActivitySeries<'_>> = series
        .iter()
        .zip(&acts)
        .map(|(s, act)| ActivitySeries {
            name: s.name,
            activity: act,
            unit: s.unit,
            description: s.description,
        })
        .collect();
    let mut opts = NwbWriteOptions::new("spikelab neulvm");
    opts.overwrite = force;
    nwb::write_population_activity(path, "neulvm", description, &list, &opts)?;
    Ok(Some(path.to_path_buf()))
}

#[cfg(not(feature = "hdf5"))]
fn write_nwb(
    _path: &Path,
    _description: &str,
    _series: &[Series<'_>],
    _dt_s: f64,
    _force: bool,
) -> Result<Option<PathBuf>> {
    Ok(None)
}
