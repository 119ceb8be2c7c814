//! A CASCADE model folder (`config.yaml` + `Model_NoiseLevel_<L>_Ensemble_<k>.h5`) and its
//! `predict`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use ndarray::{Array2, ArrayView2};
use spikelab_data::CalciumTraces;

use super::config::CascadeConfig;
use crate::error::{CalciumError, Result};
use crate::spikenet::{Conv1dSpikeNet, SpikeNetArch, SpikeNetWeights};

fn merr(source: &Path, reason: impl Into<String>) -> CalciumError {
    CalciumError::Model {
        source_name: source.display().to_string(),
        reason: reason.into(),
    }
}

/// Post-processing of the ensemble mean (`predict`'s `threshold` argument).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Threshold {
    /// `threshold=0` (the default): negative values become 0, NaN stays NaN.
    #[default]
    ClipNegative,
    /// `threshold=False`: the raw ensemble mean, negatives kept.
    None,
    /// `threshold=1`: values outside the dilated mask `Y > θ` become 0 (NaN too), with θ the
    /// peak of a Gaussian-smoothed single spike divided by e; negatives inside become 0.
    SingleSpike,
}

/// Options of [`CascadeModel::predict_rows`] (defaults = the original's defaults).
#[derive(Debug, Clone, PartialEq)]
pub struct PredictOptions {
    /// Post-processing (default [`Threshold::ClipNegative`]).
    pub threshold: Threshold,
    /// Value of the first `before_frac·window` and last `(1−before_frac)·window` frames
    /// (default NaN).
    pub padding: f64,
    /// Noise levels per neuron replacing the computed ones (`trace_noise_levels`).
    pub noise_levels: Option<Vec<f64>>,
}

impl Default for PredictOptions {
    fn default() -> Self {
        PredictOptions {
            threshold: Threshold::ClipNegative,
            padding: f64::NAN,
            noise_levels: None,
        }
    }
}

/// Result of a CASCADE prediction.
#[derive(Debug, Clone)]
pub struct CascadePrediction {
    /// Expected spikes per frame, `[neuron, time]` (float64, as the original).
    pub spike_prob: Array2<f64>,
    /// Noise level ν per neuron (NaN for an all-NaN trace).
    pub noise_levels: Vec<f64>,
    /// Index into the config's `noise_levels` of the ensemble each neuron used.
    pub noise_bin: Vec<usize>,
    /// That noise level.
    pub model_noise_level: Vec<f64>,
    /// The original's "available models cannot match" condition: mean over neurons of
    /// `ν − max level` exceeds 2 (informative only).
    pub above_trained_range: bool,
    /// Frame rate of the model (Hz).
    pub frame_rate_hz: f64,
}

impl CascadePrediction {
    /// Spike rates in Hz, `[neuron, time]`: spikes per frame × frame rate.
    pub fn rates_hz(&self) -> Array2<f64> {
        &self.spike_prob * self.frame_rate_hz
    }
}

/// A loaded CASCADE model: its config and, per noise level, the ensemble members in file-name
/// order.
///
/// ```
/// # #[cfg(feature = "keras-h5")] {
/// use spikelab_calcium::cascade::{CascadeModel, PredictOptions};
/// let dir = spikelab_datasets::path("models/cascade/Global_EXC_30Hz_smoothing50ms_causalkernel")?;
/// let model = CascadeModel::load(&dir)?;
/// assert_eq!(model.config().sampling_rate_hz, 30.0);
/// let x = ndarray::Array2::from_shape_fn((1, 300), |(_, t)| (t as f64 * 0.2).sin().max(0.0) * 0.5);
/// let p = model.predict_rows(x.view(), &PredictOptions::default())?;
/// assert!(p.spike_prob[[0, 31]].is_nan() && p.spike_prob[[0, 32]] >= 0.0);
/// # }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct CascadeModel {
    dir: PathBuf,
    config: CascadeConfig,
    /// Members per level index; `None` for a level whose files are absent (partial folder).
    ensembles: Vec<Option<Vec<Conv1dSpikeNet>>>,
}

/// The noise level in a file name `…_NoiseLevel_<L>…`.
fn level_of(name: &str) -> Option<u64> {
    let rest = name.split("_NoiseLevel_").nth(1)?;
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

impl CascadeModel {
    /// Loads a model folder: `config.yaml` and `ensemble_size` members for **every** configured
    /// noise level. A missing level or member, a weight file of another level, or weights of
    /// another architecture are [`CalciumError::Model`] / [`CalciumError::Weights`] errors.
    #[cfg(feature = "keras-h5")]
    pub fn load(dir: &Path) -> Result<Self> {
        Self::load_with(dir, SpikeNetWeights::from_keras_h5)
    }

    /// [`CascadeModel::load`] with another reader of the weight files (`read(path, arch)`,
    /// e.g. the Python package's h5py reader feeding
    /// [`SpikeNetWeights::from_keras_layers`]): the same folder checks and errors.
    pub fn load_with(
        dir: &Path,
        read: impl FnMut(&Path, &SpikeNetArch) -> Result<SpikeNetWeights>,
    ) -> Result<Self> {
        let m = Self::load_partial_with(dir, read)?;
        if let Some(i) = m.ensembles.iter().position(Option::is_none) {
            return Err(merr(
                dir,
                format!(
                    "no weight files for noise level {} (expected Model_NoiseLevel_{}_Ensemble_0…{}.h5); load_partial accepts folders with missing levels",
                    m.config.noise_levels[i],
                    m.config.noise_levels[i],
                    m.config.ensemble_size - 1
                ),
            ));
        }
        Ok(m)
    }

    /// As [`CascadeModel::load`], but a noise level without any weight file is allowed; a
    /// neuron whose noise level falls into its bin is then a [`CalciumError::Model`] error at
    /// prediction (the original fails with a `KeyError`). A level with some but not all
    /// members is still an error.
    #[cfg(feature = "keras-h5")]
    pub fn load_partial(dir: &Path) -> Result<Self> {
        Self::load_partial_with(dir, SpikeNetWeights::from_keras_h5)
    }

    /// [`CascadeModel::load_partial`] with another reader of the weight files (see
    /// [`CascadeModel::load_with`]).
    pub fn load_partial_with(
        dir: &Path,
        mut read: impl FnMut(&Path, &SpikeNetArch) -> Result<SpikeNetWeights>,
    ) -> Result<Self> {
        let cfg_path = dir.join("config.yaml");
        if !cfg_path.is_file() {
            return Err(merr(dir, "no config.yaml: not a CASCADE model folder"));
        }
        let config = CascadeConfig::load(&cfg_path)?;
        let mut files: BTreeMap<u64, Vec<PathBuf>> = BTreeMap::new();
        let rd = std::fs::read_dir(dir).map_err(|e| merr(dir, e.to_string()))?;
        let mut names: Vec<String> = Vec::new();
        for ent in rd {
            let ent = ent.map_err(|e| merr(dir, e.to_string()))?;
            let name = ent.file_name().to_string_lossy().into_owned();
            if name.ends_with(".h5") {
                names.push(name);
            }
        }
        names.sort();
        for name in names {
            let lvl = level_of(&name).ok_or_else(|| {
                merr(
                    dir,
                    format!("{name}: no `_NoiseLevel_<L>` in the file name"),
                )
            })?;
            files.entry(lvl).or_default().push(dir.join(name));
        }
        for lvl in files.keys() {
            if !config.noise_levels.contains(&(*lvl as f64)) {
                return Err(merr(
                    dir,
                    format!(
                        "weight files for noise level {lvl}, which config.yaml does not list ({:?})",
                        config.noise_levels
                    ),
                ));
            }
        }
        let mut ensembles = Vec::new();
        for &lvl in &config.noise_levels {
            let Some(paths) = (lvl.fract() == 0.0 && lvl >= 0.0)
                .then(|| files.get(&(lvl as u64)))
                .flatten()
            else {
                ensembles.push(None);
                continue;
            };
            for k in 0..config.ensemble_size {
                let want = format!("Model_NoiseLevel_{lvl}_Ensemble_{k}.h5");
                if !paths.iter().any(|p| p.ends_with(&want)) {
                    return Err(merr(
                        dir,
                        format!(
                            "noise level {lvl}: member {want} is missing ({} of {} files present)",
                            paths.len(),
                            config.ensemble_size
                        ),
                    ));
                }
            }
            if paths.len() != config.ensemble_size {
                return Err(merr(
                    dir,
                    format!(
                        "noise level {lvl}: {} weight files, config.yaml says ensemble_size {}",
                        paths.len(),
                        config.ensemble_size
                    ),
                ));
            }
            let nets = paths
                .iter()
                .map(|p| {
                    let w = read(p, &config.arch)?;
                    if w.arch != config.arch {
                        return Err(merr(
                            p,
                            "weights of another architecture than config.yaml's",
                        ));
                    }
                    Ok(Conv1dSpikeNet::new(w))
                })
                .collect::<Result<Vec<_>>>()?;
            ensembles.push(Some(nets));
        }
        if ensembles.iter().all(Option::is_none) {
            return Err(merr(dir, "no weight files (*.h5) in the folder"));
        }
        Ok(CascadeModel {
            dir: dir.to_path_buf(),
            config,
            ensembles,
        })
    }

    /// Builds a model from a config and members per noise level (in the config's level order;
    /// `None` for a missing level), e.g. after training.
    pub fn from_parts(
        dir: PathBuf,
        config: CascadeConfig,
        ensembles: Vec<Option<Vec<Conv1dSpikeNet>>>,
    ) -> Result<Self> {
        if ensembles.len() != config.noise_levels.len() {
            return Err(merr(
                &dir,
                format!(
                    "{} ensembles for {} noise levels",
                    ensembles.len(),
                    config.noise_levels.len()
                ),
            ));
        }
        for e in ensembles.iter().flatten() {
            if e.is_empty() || e.iter().any(|n| *n.arch() != config.arch) {
                return Err(merr(
                    &dir,
                    "an ensemble is empty or of another architecture",
                ));
            }
        }
        Ok(CascadeModel {
            dir,
            config,
            ensembles,
        })
    }

    /// The folder the model was loaded from.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The config.
    pub fn config(&self) -> &CascadeConfig {
        &self.config
    }

    /// The members of noise-level index `i` (`None` if the folder lacks that level).
    pub fn ensemble(&self, i: usize) -> Option<&[Conv1dSpikeNet]> {
        self.ensembles.get(i)?.as_deref()
    }

    /// The noise level of each neuron, from the model's frame rate: `ν = 100 ·
    /// nanmedian|x[t+1] − x[t]| / √rate` (NaN for fewer than two valid frames).
    pub fn noise_levels(&self, rows: ArrayView2<f64>) -> Vec<f64> {
        rows.outer_iter()
            .map(|r| {
                let r = r.to_vec();
                crate::preprocess::noise_level(&r, self.config.sampling_rate_hz)
                    .expect("config rate validated > 0")
            })
            .collect()
    }

    /// Index of the nearest configured level (first on ties; NaN → 0, as `argmin`).
    pub fn noise_bin(&self, nu: f64) -> usize {
        if nu.is_nan() {
            return 0;
        }
        let mut best = 0;
        for (i, l) in self.config.noise_levels.iter().enumerate() {
            if (nu - l).abs() < (nu - self.config.noise_levels[best]).abs() {
                best = i;
            }
        }
        best
    }

    /// CASCADE's `predict` on `rows` (`[neuron, time]`, ΔF/F as a fraction, at the model's
    /// frame rate — not checked here; see [`CascadeModel::predict`]). Exactly the original:
    /// noise level and ensemble per neuron, the float32 network on each window
    /// `x[t−s … t−s+window−1]` (s = ⌊before_frac·window − 1⌋) written to frame `t`, mean of
    /// the members, post-processing, padding. A window with a NaN anywhere but its first and
    /// last sample gives NaN (TensorFlow 2.15's float32 result).
    pub fn predict_rows(
        &self,
        rows: ArrayView2<f64>,
        opts: &PredictOptions,
    ) -> Result<CascadePrediction> {
        let (nn, t) = rows.dim();
        let a = &self.config.arch;
        let win = a.window;
        let noise = match &opts.noise_levels {
            Some(v) if v.len() != nn => {
                return Err(CalciumError::InvalidInput {
                    what: "noise_levels".into(),
                    reason: format!("{} values for {nn} neurons", v.len()),
                });
            }
            Some(v) => v.clone(),
            None => self.noise_levels(rows),
        };
        let bins: Vec<usize> = noise.iter().map(|&v| self.noise_bin(v)).collect();
        let max_level = self
            .config
            .noise_levels
            .iter()
            .copied()
            .fold(f64::NEG_INFINITY, f64::max);
        let mean_excess = noise.iter().map(|v| v - max_level).sum::<f64>() / nn.max(1) as f64;
        let above_trained_range = mean_excess > 2.0;
        let mut y = Array2::<f64>::zeros((nn, t));
        let start = (a.before_frac * win as f64 - 1.0) as i64;
        let xs: Vec<Vec<f32>> = rows
            .outer_iter()
            .map(|r| r.iter().map(|&v| v as f32).collect())
            .collect();
        if t >= win {
            for (bi, lvl) in self.config.noise_levels.iter().enumerate() {
                let idx: Vec<usize> = (0..nn).filter(|&j| bins[j] == bi).collect();
                if idx.is_empty() {
                    continue;
                }
                let members = self.ensembles[bi].as_ref().ok_or_else(|| {
                    merr(
                        &self.dir,
                        format!(
                            "neuron {} (noise level {:.3}) needs the ensemble of level {lvl}, which this folder lacks",
                            idx[0], noise[idx[0]]
                        ),
                    )
                })?;
                let traces: Vec<&[f32]> = idx.iter().map(|&j| xs[j].as_slice()).collect();
                let nm = members.len() as f32;
                for net in members {
                    let outs = net.forward_windows(&traces)?;
                    for (&j, o) in idx.iter().zip(&outs) {
                        for (s, &v) in o.iter().enumerate() {
                            let tt = s as i64 + start;
                            if (0..t as i64).contains(&tt) {
                                y[[j, tt as usize]] += f64::from(v / nm);
                            }
                        }
                    }
                }
            }
        }
        // NaN: frames without a window, and windows with a NaN inside (not first/last sample).
        for j in 0..nn {
            let x = &xs[j];
            let mut nan_prefix = vec![0usize; t + 1];
            for i in 0..t {
                nan_prefix[i + 1] = nan_prefix[i] + usize::from(x[i].is_nan());
            }
            for tt in 0..t {
                let s = tt as i64 - start;
                let ok = s >= 0 && (s as usize) + win <= t && {
                    let s = s as usize;
                    nan_prefix[s + win - 1] - nan_prefix[s + 1] == 0
                };
                if !ok {
                    y[[j, tt]] = f64::NAN;
                }
            }
        }
        match opts.threshold {
            Threshold::None => {}
            Threshold::ClipNegative => y.mapv_inplace(|v| if v < 0.0 { 0.0 } else { v }),
            Threshold::SingleSpike => {
                let sigma = self.config.smoothing_s * self.config.sampling_rate_hz;
                let theta = single_spike_threshold(sigma);
                let iters = sigma as usize;
                for mut row in y.outer_iter_mut() {
                    let mask: Vec<bool> = row.iter().map(|&v| v > theta).collect();
                    let mask = binary_dilation(&mask, iters);
                    for (v, m) in row.iter_mut().zip(mask) {
                        if !m || *v < 0.0 {
                            *v = 0.0;
                        }
                    }
                }
            }
        }
        let head = ((a.before_frac * win as f64) as usize).min(t);
        let tail = (((1.0 - a.before_frac) * win as f64) as usize).min(t);
        for mut row in y.outer_iter_mut() {
            for v in row.iter_mut().take(head) {
                *v = opts.padding;
            }
            for v in row.iter_mut().skip(t - tail) {
                *v = opts.padding;
            }
        }
        let model_noise_level = bins.iter().map(|&b| self.config.noise_levels[b]).collect();
        Ok(CascadePrediction {
            spike_prob: y,
            noise_levels: noise,
            noise_bin: bins,
            model_noise_level,
            above_trained_range,
            frame_rate_hz: self.config.sampling_rate_hz,
        })
    }

    /// [`CascadeModel::predict_rows`] on `[time, neuron]` traces, after checking that their
    /// frame rate is within 5 % of the model's ([`CalciumError::FrameRateMismatch`] otherwise,
    /// naming the closest known models). The prediction stays `[neuron, time]`.
    pub fn predict(
        &self,
        traces: &CalciumTraces,
        opts: &PredictOptions,
    ) -> Result<CascadePrediction> {
        check_frame_rate(traces.frame_rate_hz(), self.config.sampling_rate_hz)?;
        let rows = traces.data().t();
        self.predict_rows(rows, opts)
    }
}

/// `Ok` if `rate_hz` is within 5 % of `model_rate_hz`, else the typed mismatch error.
pub fn check_frame_rate(rate_hz: f64, model_rate_hz: f64) -> Result<()> {
    if !(rate_hz.is_finite() && rate_hz > 0.0) {
        return Err(CalciumError::InvalidParameter {
            name: "frame_rate_hz",
            reason: format!("must be > 0, got {rate_hz}"),
        });
    }
    if (rate_hz - model_rate_hz).abs() > 0.05 * model_rate_hz {
        return Err(CalciumError::FrameRateMismatch {
            rate_hz,
            model_rate_hz,
            closest: super::zoo::closest_models(rate_hz, 3)
                .into_iter()
                .map(|m| m.name.to_string())
                .collect(),
        });
    }
    Ok(())
}

/// θ of `threshold=1`: the peak of a unit impulse smoothed by SciPy's `gaussian_filter`
/// (σ samples, truncated at 4σ) divided by e.
///
/// ```
/// use spikelab_calcium::cascade::single_spike_threshold;
/// assert!((single_spike_threshold(1.5) - 0.0978427823).abs() < 1e-9);
/// ```
pub fn single_spike_threshold(sigma: f64) -> f64 {
    if sigma <= 0.0 {
        return (-1.0f64).exp();
    }
    let radius = (4.0 * sigma + 0.5) as i64;
    let sum: f64 = (-radius..=radius)
        .map(|x| (-0.5 * (x * x) as f64 / (sigma * sigma)).exp())
        .sum();
    1.0 / sum / std::f64::consts::E
}

/// SciPy's `binary_dilation` with the 3-sample structuring element, `iterations` times
/// (`0`: until nothing changes), border value 0.
fn binary_dilation(mask: &[bool], iterations: usize) -> Vec<bool> {
    let mut m = mask.to_vec();
    let n = m.len();
    let mut it = 0;
    loop {
        let prev = m.clone();
        for i in 0..n {
            m[i] = prev[i] || (i > 0 && prev[i - 1]) || (i + 1 < n && prev[i + 1]);
        }
        it += 1;
        if m == prev || (iterations > 0 && it >= iterations) {
            break;
        }
    }
    m
}
