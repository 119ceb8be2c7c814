//! File-level pipelines: `[trajectory, time, channel]` arrays in, fits with their output
//! folders out, as the `spikelab lds` and `spikelab synth molds` commands run them.
//!
//! * [`trajectories_from_arrays`] / [`read_trajectories`]: arrays (or `.npy` files) to
//!   [`Trajectory`]s; trailing all-NaN rows shorten a trajectory.
//! * [`LdsFitOptions::fit`] → [`LdsFitResult`] (model, log-likelihood trace, smoothed states)
//!   with [`LdsFitResult::write`] (`FIT.json` + `FIT.states.npy`).
//! * [`MoldsRun`]: a MoLDS fit, optionally compared with a [`MoldsTruth`] ([`MoldsComparison`]),
//!   written by [`MoldsRun::write`] (`model.json`, `fit.json`, `responsibilities.npy`,
//!   `comparison.json`).
//! * [`MoldsTruth::generate`] draws a benchmark set from a [`MoldsSpec`] and
//!   [`MoldsDataset::write`] writes `Y.npy`, `Y.u.npy` and `Y.truth.json`.
//!
//! Every file is written through a temporary name in its folder and renamed; nothing is
//! overwritten unless `force` is set.
//!
//! ```
//! use spikelab_core::Silent;
//! use spikelab_lds::pipeline::{LdsFitOptions, trajectories_from_arrays, InputTiming};
//!
//! // One 2-output trajectory of 60 steps, the last 10 rows missing.
//! let mut y = ndarray::Array3::from_shape_fn((1, 60, 2), |(_, t, c)| ((t + 3 * c) as f64 * 0.3).sin());
//! y.slice_mut(ndarray::s![0, 50.., ..]).fill(f64::NAN);
//! let trajs = trajectories_from_arrays(y.view(), None, InputTiming::Control)?;
//! assert_eq!(trajs[0].len(), 50);
//! let mut opts = LdsFitOptions::new(2);
//! opts.em.max_iter = 5;
//! let fit = opts.fit(&trajs, &mut Silent)?;
//! assert_eq!(fit.report.loglik.len(), 6);
//! assert_eq!(fit.states.dim(), (1, 50, 2));
//! # Ok::<(), spikelab_lds::LdsError>(())
//! ```

use std::path::{Path, PathBuf};

use nalgebra::DMatrix;
use ndarray::{Array2, Array3, ArrayView3, Axis, Ix2, Ix3};
use serde::{Deserialize, Serialize};
use spikelab_core::Observer;
use spikelab_data::io;

use crate::error::{LdsError, Result};
use crate::eval::{adjusted_rand_index, clustering_accuracy, match_components, weight_error};
use crate::{
    EmOptions, Lds, Learn, Molds, MoldsFit, MoldsOptions, MoldsSpec, Trajectory, fit_em, fit_molds,
    init_from_data, smooth,
};

/// How an input array enters the model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum InputTiming {
    /// `x_{t+1} = A x_t + B u_t`, `y_t = C x_t + D u_t` ([`Trajectory::with_control_inputs`]).
    #[default]
    Control,
    /// `x_t = A x_{t−1} + B u_t`, `y_t = C x_t + D u_t` ([`Trajectory::with_inputs`], dynamax).
    Same,
}

/// Trajectories from `y` `[trajectory, time, output]` (NaN = missing; trailing all-NaN rows
/// shorten a trajectory) and optional inputs `u` `[trajectory, time, input]`.
pub fn trajectories_from_arrays(
    y: ArrayView3<'_, f64>,
    u: Option<ArrayView3<'_, f64>>,
    timing: InputTiming,
) -> Result<Vec<Trajectory>> {
    if let Some(u) = &u
        && u.len_of(Axis(0)) != y.len_of(Axis(0))
    {
        return Err(crate::error::dim_err(
            "trajectories of U",
            y.len_of(Axis(0)),
            u.len_of(Axis(0)),
        ));
    }
    let matrix = |m: ndarray::ArrayView2<'_, f64>, rows: usize| {
        DMatrix::from_fn(rows, m.ncols(), |i, j| m[[i, j]])
    };
    let mut out = Vec::with_capacity(y.len_of(Axis(0)));
    for (i, yi) in y.outer_iter().enumerate() {
        let len = (0..yi.nrows())
            .rev()
            .find(|&t| yi.row(t).iter().any(|v| !v.is_nan()))
            .map_or(0, |t| t + 1);
        if len == 0 {
            return Err(LdsError::InsufficientData(format!(
                "trajectory {i} of Y is entirely missing"
            )));
        }
        let tr = Trajectory::new(matrix(yi, len))?;
        let tr = match &u {
            None => tr,
            Some(u) => {
                let ui = u.index_axis(Axis(0), i);
                if ui.nrows() < len {
                    return Err(crate::error::dim_err(
                        format!("steps of U in trajectory {i}"),
                        len,
                        ui.nrows(),
                    ));
                }
                let ui = matrix(ui, len);
                match timing {
                    InputTiming::Control => tr.with_control_inputs(ui)?,
                    InputTiming::Same => tr.with_inputs(ui)?,
                }
            }
        };
        out.push(tr);
    }
    Ok(out)
}

/// Reads `[trajectory, time, channel]` (a 2-D `[time, channel]` array is one trajectory).
pub fn read_array3(path: &Path) -> Result<Array3<f64>> {
    let a = io::npy::read_any(path)?.data;
    let shape_err = |d: usize| LdsError::File {
        path: path.to_path_buf(),
        reason: format!("expected [trajectory, time, channel], got {d} dimensions"),
    };
    match a.ndim() {
        2 => Ok(a
            .into_dimensionality::<Ix2>()
            .map_err(|_| shape_err(2))?
            .insert_axis(Axis(0))),
        3 => a.into_dimensionality::<Ix3>().map_err(|_| shape_err(3)),
        d => Err(shape_err(d)),
    }
}

/// [`trajectories_from_arrays`] on `.npy` files.
pub fn read_trajectories(
    y: &Path,
    u: Option<&Path>,
    timing: InputTiming,
) -> Result<Vec<Trajectory>> {
    let ya = read_array3(y)?;
    let ua = u.map(read_array3).transpose()?;
    trajectories_from_arrays(ya.view(), ua.as_ref().map(|a| a.view()), timing)
}

fn write_npy<D: ndarray::Dimension>(
    path: &Path,
    array: &ndarray::Array<f64, D>,
    force: bool,
) -> Result<()> {
    io::write_atomic(path, force, |tmp| io::npy::write(tmp, array, true))?;
    Ok(())
}

/// Options of a single-LDS fit from data ([`LdsFitOptions::fit`]).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LdsFitOptions {
    /// Latent states.
    pub states: usize,
    /// EM options.
    pub em: EmOptions,
    /// Seed of the data-driven initialisation ([`init_from_data`]).
    pub seed: u64,
    /// How the inputs entered the trajectories (recorded in the report).
    pub input_timing: InputTiming,
}

impl LdsFitOptions {
    /// `states` latent states, default EM options except that the offsets stay fixed
    /// ([`Learn::NO_OFFSETS`]: b = 0 and d = the mean of Y), seed 0.
    pub fn new(states: usize) -> Self {
        Self {
            states,
            em: EmOptions {
                learn: Learn::NO_OFFSETS,
                ..Default::default()
            },
            seed: 0,
            input_timing: InputTiming::Control,
        }
    }

    /// Initialises from the data, runs EM (progress stage `"em"`, metric `loglik`) and smooths
    /// every trajectory with the fitted model.
    pub fn fit(&self, trajs: &[Trajectory], observer: &mut dyn Observer) -> Result<LdsFitResult> {
        let init = init_from_data(trajs, self.states, self.seed)?;
        let fit = fit_em(&init, trajs, &self.em, observer)?;
        let t_max = trajs.iter().map(Trajectory::len).max().unwrap_or(0);
        let mut states = Array3::from_elem((trajs.len(), t_max, self.states), f64::NAN);
        for (i, tr) in trajs.iter().enumerate() {
            let sm = smooth(&fit.lds, tr, &self.em.filter)?;
            for (t, m) in sm.means.iter().enumerate() {
                for k in 0..self.states {
                    states[[i, t, k]] = m[k];
                }
            }
        }
        Ok(LdsFitResult {
            report: LdsFitReport {
                converged: fit.converged,
                input_timing: self.input_timing,
                loglik: fit.loglik,
                model: fit.lds,
                options: self.em,
                trajectories: trajs.len(),
            },
            states,
        })
    }
}

/// The JSON part of an [`LdsFitResult`] (fields in the file's key order).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LdsFitReport {
    /// Whether EM met its tolerance.
    pub converged: bool,
    /// Input convention of the data.
    pub input_timing: InputTiming,
    /// Log-likelihood after each M-step (entry 0: the initialisation).
    pub loglik: Vec<f64>,
    /// The fitted model.
    pub model: Lds,
    /// The EM options used.
    pub options: EmOptions,
    /// Number of trajectories.
    pub trajectories: usize,
}

/// Result of [`LdsFitOptions::fit`].
#[derive(Debug, Clone)]
pub struct LdsFitResult {
    /// Model, log-likelihood trace and options.
    pub report: LdsFitReport,
    /// Smoothed state means `[trajectory, time, state]` (NaN past a trajectory's end).
    pub states: Array3<f64>,
}

impl LdsFitResult {
    /// Where [`LdsFitResult::write`] puts the states for a report at `json`: `FIT.states.npy`.
    pub fn states_path(json: &Path) -> PathBuf {
        json.with_extension("states.npy")
    }

    /// Writes the report to `json` and the states next to it ([`LdsFitResult::states_path`]);
    /// both paths are checked before either is written.
    pub fn write(&self, json: &Path, force: bool) -> Result<PathBuf> {
        let states = Self::states_path(json);
        io::check_writable(json, force)?;
        io::check_writable(&states, force)?;
        io::write_json(json, &self.report, force)?;
        write_npy(&states, &self.states, force)?;
        Ok(states)
    }
}

/// Ground truth of a MoLDS benchmark set (`Y.truth.json` of `spikelab synth molds`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MoldsTruth {
    /// What was drawn.
    pub spec: MoldsSpec,
    /// The seed.
    pub seed: u64,
    /// The true mixture.
    pub model: Molds,
    /// The true component of every trajectory.
    pub labels: Vec<usize>,
}

/// A drawn benchmark set: arrays and their truth.
#[derive(Debug, Clone)]
pub struct MoldsDataset {
    /// Outputs `[trajectory, time, output]`.
    pub y: Array3<f64>,
    /// Inputs `[trajectory, time, input]`.
    pub u: Array3<f64>,
    /// The truth.
    pub truth: MoldsTruth,
}

impl MoldsTruth {
    /// Draws a benchmark set from `spec` with `seed`.
    pub fn generate(spec: &MoldsSpec, seed: u64) -> Result<MoldsDataset> {
        let data = spec.generate(seed)?;
        let (n, t) = (data.trajs.len(), spec.t_len);
        let y = Array3::from_shape_fn((n, t, spec.n_outputs), |(i, s, c)| data.trajs[i].y[(s, c)]);
        let u = Array3::from_shape_fn((n, t, spec.n_inputs), |(i, s, c)| data.trajs[i].u[(s, c)]);
        Ok(MoldsDataset {
            y,
            u,
            truth: MoldsTruth {
                spec: spec.clone(),
                seed,
                model: data.truth,
                labels: data.labels,
            },
        })
    }

    /// Reads a truth file.
    pub fn read(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| LdsError::File {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
        serde_json::from_str(&text).map_err(|e| LdsError::File {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })
    }
}

impl MoldsDataset {
    /// `Y.npy` → `[Y.npy, Y.u.npy, Y.truth.json]`.
    pub fn paths(y: &Path) -> [PathBuf; 3] {
        [
            y.to_path_buf(),
            y.with_extension("u.npy"),
            y.with_extension("truth.json"),
        ]
    }

    /// Writes the three files of [`MoldsDataset::paths`] (all checked first).
    pub fn write(&self, y: &Path, force: bool) -> Result<[PathBuf; 3]> {
        let paths = Self::paths(y);
        for p in &paths {
            io::check_writable(p, force)?;
        }
        write_npy(&paths[0], &self.y, force)?;
        write_npy(&paths[1], &self.u, force)?;
        io::write_json(&paths[2], &self.truth, force)?;
        Ok(paths)
    }
}

/// A fitted mixture against its ground truth (fields in the file's key order).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MoldsComparison {
    /// Fraction of trajectories assigned to the matched true component.
    pub accuracy: f64,
    /// Adjusted Rand index of the labels.
    pub ari: f64,
    /// Markov-parameter error of every fitted component against its match.
    pub markov_error: Vec<f64>,
    /// Matched true component of every fitted component.
    pub matching: Vec<Option<usize>>,
    /// Error of the matched weights.
    pub weight_error: f64,
}

impl MoldsComparison {
    /// Matches the fitted components to the true ones (Hungarian on 20 Markov lags) and scores
    /// the weights and the labels.
    pub fn new(fit: &MoldsFit, truth: &MoldsTruth) -> Result<Self> {
        if truth.labels.len() != fit.responsibilities.len() {
            return Err(crate::error::dim_err(
                "labels of the truth",
                fit.responsibilities.len(),
                truth.labels.len(),
            ));
        }
        let (perm, errs) = match_components(&fit.model.components, &truth.model.components, 20);
        let labels = fit.labels();
        Ok(Self {
            accuracy: clustering_accuracy(&labels, &truth.labels, &perm),
            ari: adjusted_rand_index(&labels, &truth.labels),
            weight_error: weight_error(&fit.model.weights, &truth.model.weights, &perm),
            markov_error: errs,
            matching: perm,
        })
    }

    /// A markdown table of the Markov errors and a line with the other scores.
    pub fn to_markdown(&self) -> String {
        let mut s = String::from("| component | Markov error |\n| ---: | ---: |\n");
        for (c, e) in self.markov_error.iter().enumerate() {
            s.push_str(&format!("| {c} | {e:.4} |\n"));
        }
        s.push_str(&format!(
            "weight error {:.4}, accuracy {:.4}, ARI {:.4}",
            self.weight_error, self.accuracy, self.ari
        ));
        s
    }
}

/// `fit.json` of a MoLDS run (fields in the file's key order).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MoldsFitSummary {
    /// Whether EM met its tolerance.
    pub converged: bool,
    /// Dropped components.
    pub dropped: Vec<usize>,
    /// argmax responsibilities.
    pub labels: Vec<usize>,
    /// Log-likelihood after each E-step.
    pub loglik: Vec<f64>,
    /// Options of the fit.
    pub options: MoldsOptions,
    /// Per-trajectory log-likelihood.
    pub traj_loglik: Vec<f64>,
}

/// A MoLDS fit with its options and, when a truth was given, the comparison.
#[derive(Debug, Clone)]
pub struct MoldsRun {
    /// The fit.
    pub fit: MoldsFit,
    /// Its options.
    pub options: MoldsOptions,
    /// Scores against the truth.
    pub comparison: Option<MoldsComparison>,
}

impl MoldsRun {
    /// File names written into the output folder (the last only with a comparison).
    pub const FILES: [&'static str; 4] = [
        "model.json",
        "fit.json",
        "responsibilities.npy",
        "comparison.json",
    ];

    /// Fits the mixture ([`fit_molds`], progress stage `"em"`) and compares it with `truth`.
    /// The truth's label count is checked before fitting.
    pub fn new(
        trajs: &[Trajectory],
        options: &MoldsOptions,
        truth: Option<&MoldsTruth>,
        observer: &mut dyn Observer,
    ) -> Result<Self> {
        if let Some(t) = truth
            && t.labels.len() != trajs.len()
        {
            return Err(crate::error::dim_err(
                "labels of the truth",
                trajs.len(),
                t.labels.len(),
            ));
        }
        let fit = fit_molds(trajs, options, observer)?;
        let comparison = truth.map(|t| MoldsComparison::new(&fit, t)).transpose()?;
        Ok(Self {
            fit,
            options: *options,
            comparison,
        })
    }

    /// Responsibilities `[trajectory, component]`.
    pub fn responsibilities(&self) -> Array2<f64> {
        let k = self.fit.model.components.len();
        let g = &self.fit.responsibilities;
        Array2::from_shape_fn((g.len(), k), |(i, c)| g[i][c])
    }

    /// Checks that [`MoldsRun::write`] may write into `dir` (every file of
    /// [`MoldsRun::FILES`]), so a long fit does not end in a refusal.
    pub fn check_writable(dir: &Path, force: bool) -> Result<()> {
        for f in Self::FILES {
            io::check_writable(&dir.join(f), force)?;
        }
        Ok(())
    }

    /// Writes the output folder `dir` (created if missing).
    pub fn write(&self, dir: &Path, force: bool) -> Result<()> {
        Self::check_writable(dir, force)?;
        std::fs::create_dir_all(dir).map_err(|e| LdsError::File {
            path: dir.to_path_buf(),
            reason: e.to_string(),
        })?;
        let [model, fit, gamma, cmp] = Self::FILES.map(|f| dir.join(f));
        io::write_json(&model, &self.fit.model, force)?;
        let summary = MoldsFitSummary {
            converged: self.fit.converged,
            dropped: self.fit.dropped.clone(),
            labels: self.fit.labels(),
            loglik: self.fit.loglik.clone(),
            options: self.options,
            traj_loglik: self.fit.traj_loglik.clone(),
        };
        io::write_json(&fit, &summary, force)?;
        write_npy(&gamma, &self.responsibilities(), force)?;
        if let Some(c) = &self.comparison {
            io::write_json(&cmp, c, force)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use spikelab_core::Silent;

    #[test]
    fn arrays_to_trajectories_checks_shapes() {
        let y = Array3::<f64>::zeros((2, 5, 1));
        let u = Array3::<f64>::zeros((3, 5, 1));
        assert!(trajectories_from_arrays(y.view(), Some(u.view()), InputTiming::Same).is_err());
        let short = Array3::<f64>::zeros((2, 4, 1));
        assert!(trajectories_from_arrays(y.view(), Some(short.view()), InputTiming::Same).is_err());
        let mut missing = y.clone();
        missing.slice_mut(ndarray::s![1, .., ..]).fill(f64::NAN);
        assert!(trajectories_from_arrays(missing.view(), None, InputTiming::Control).is_err());
    }

    #[test]
    fn synth_fit_compare_write_round_trip() {
        let spec = MoldsSpec {
            n_traj: 30,
            t_len: 60,
            ..Default::default()
        };
        let data = MoldsTruth::generate(&spec, 3).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let y = dir.path().join("y.npy");
        data.write(&y, false).unwrap();
        assert!(data.write(&y, false).is_err(), "overwrote without force");
        let truth = MoldsTruth::read(&y.with_extension("truth.json")).unwrap();
        assert_eq!(truth.labels, data.truth.labels);
        let trajs =
            read_trajectories(&y, Some(&y.with_extension("u.npy")), InputTiming::Control).unwrap();
        assert_eq!(trajs.len(), 30);
        let opts = MoldsOptions {
            em: EmOptions {
                max_iter: 2,
                ..Default::default()
            },
            ..Default::default()
        };
        let run = MoldsRun::new(&trajs, &opts, Some(&truth), &mut Silent).unwrap();
        let cmp = run.comparison.as_ref().unwrap();
        assert!((0.0..=1.0).contains(&cmp.accuracy));
        let out = dir.path().join("fit");
        run.write(&out, false).unwrap();
        assert!(run.write(&out, false).is_err());
        let text = std::fs::read_to_string(out.join("comparison.json")).unwrap();
        let back: MoldsComparison = serde_json::from_str(&text).unwrap();
        assert_eq!(&back, cmp);
        let gamma = read_array3(&out.join("responsibilities.npy")).unwrap();
        assert_eq!(gamma.dim(), (1, 30, run.fit.model.components.len()));
        // The single-LDS pipeline on the same files.
        let mut lds = LdsFitOptions::new(2);
        lds.em.max_iter = 2;
        let fit = lds.fit(&trajs, &mut Silent).unwrap();
        let json = dir.path().join("one.json");
        let states = fit.write(&json, false).unwrap();
        assert!(states.exists() && fit.write(&json, false).is_err());
        let leftovers = std::fs::read_dir(dir.path())
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .is_ok_and(|e| e.file_name().to_string_lossy().contains(".tmp-"))
            })
            .count();
        assert_eq!(leftovers, 0);
    }
}
