//! Training a CASCADE model for a frame rate and noise levels from CASCADE-format ground truth
//! (`CAttached_*.mat` files: ΔF/F per frame plus electrophysiologically recorded spike times).
//!
//! The procedure is CASCADE's (`cascade2p`: `train_model`,
//! `preprocess_groundtruth_artificial_noise_balanced`,
//! `calibrated_ground_truth_artificial_noise`; Rupprecht et al. 2021, Methods), per noise level
//! `ν*` and ensemble member:
//!
//! 1. **Resampling.** A trial recorded at `f₀` whose rate is more than 5 % from the target `f`
//!    is Fourier-resampled to `round(n·f/f₀)` frames ([`crate::preprocess::fft_resample_nan`];
//!    SciPy's `resample`; NaN frames stay NaN). Spikes are counted in bins of one frame centred
//!    on the frame times ([`bin_spikes`]).
//! 2. **Noise matching.** With `ν(x) = 100 · median|Δx| / √f` the trial's own noise level, a
//!    trial with `ν(x) > ν*` is too noisy for that level and is not used. Otherwise Gaussian
//!    noise `σ · s_t · z_t` is added, `s_t = √|x_t + 1|` divided by its median (shot noise
//!    grows with brightness), with `σ` chosen so that `ν(x + σ s z) = ν*`
//!    ([`matching_noise_sd`]). Each trial gives `min(max_replicas, ⌈1.2 (ν*/ν(x))²⌉)` such
//!    replicas with independent noise (500 at most in CASCADE), so that the trial's own noise,
//!    shared by its replicas, does not dominate.
//! 3. **Targets.** The spike counts are smoothed with a Gaussian of SD `smoothing · f` frames
//!    (SciPy `gaussian_filter`, reflecting edges) or, with the causal option, convolved with
//!    CASCADE's inverse-Gaussian kernel ([`causal_kernel`]), which puts the mass just after
//!    each spike.
//! 4. **Samples.** Every window `x[s .. s + w]` of a replica (w = `windowsize` = 64) is paired
//!    with the target `y[s + ⌊before_frac·w⌋]` (frame 32 of the window), for
//!    `s < n_valid − w`. Datasets with more than `15·10⁶ / n_datasets` windows are thinned at
//!    random to that share, and at most `max_windows` (5·10⁶) windows are kept in all.
//! 5. **Fit.** A fresh network ([`SpikeNetArch`] from the config; Glorot-uniform kernels, zero
//!    biases) is fitted with MSE and tf.keras' Adagrad (learning rate 0.05, accumulators
//!    starting at 0.1, ε = 1e-7; the update rule of [`crate::train`]) for `nr_of_epochs`
//!    epochs; each epoch visits every window once in steps of about `batch_size` windows.
//!
//! Every random draw comes from ChaCha8 streams derived from the seed, one per
//! (noise level, member): a run is reproducible and members differ.
//!
//! Differences from `cascade2p`, all on purpose: `σ` is found by bisection on the same
//! brightness-scaled noise that is added (CASCADE interpolates 20 trial levels of unscaled
//! noise, so its achieved level can miss the target, and it drops a whole dataset when the
//! target lies beyond its grid); the noise is calibrated after resampling, at the rate the
//! network sees; the last spike bin is a whole frame wide (NumPy's histogram edges in CASCADE
//! make it half a frame); windows containing NaN frames are dropped (CASCADE would train on
//! NaN). And for speed, a step's windows are `batch_size / 256` runs of up to
//! [`PIECE_OUTPUTS`] = 256 consecutive windows (runs shuffled every epoch), evaluated
//! fully-convolutionally like inference, instead of independently shuffled windows: the loss
//! of a step is the same mean of squared errors over its windows, but the windows of a step
//! are correlated. Per window this costs ≈ 12× fewer multiply-adds; measured ≈ 5× faster
//! than per-window training on the CPU.
//!
//! ```no_run
//! use spikelab_calcium::cascade::train::{GroundTruthDataset, TrainCascadeParams, train};
//! use spikelab_core::Silent;
//! let data = vec![GroundTruthDataset::load_dir("Ground_truth/DS09-GCaMP6f-m-V1".as_ref())?];
//! let params = TrainCascadeParams {
//!     frame_rate_hz: 30.0,
//!     noise_levels: vec![2.0, 3.0],
//!     ..TrainCascadeParams::new("my_model_30Hz")
//! };
//! let trained = train(&params.validate()?, &data, &mut Silent)?;
//! trained.model.save("Pretrained_models/my_model_30Hz".as_ref(), false)?;
//! # Ok::<(), spikelab_calcium::CalciumError>(())
//! ```

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc;

use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};
use spikelab_core::{Flow, Observer, Progress};
use spikelab_data::io::mat::{CascadeTrial, read_cascade};

use super::config::CascadeConfig;
use super::model::CascadeModel;
use crate::error::{CalciumError, Result};
use crate::preprocess::{fft_resample_nan, noise_level};
use crate::spikenet::{Conv1dSpikeNet, SpikeNetArch, SpikeNetWeights};
use crate::train::{TrainConfig, TrainProgress, Trainer, TrainingData};

/// CASCADE's cap on noise replicas per trial.
pub const MAX_REPLICAS: usize = 500;
/// CASCADE's cap on training windows per member.
pub const MAX_WINDOWS: usize = 5_000_000;
/// Consecutive windows evaluated together in training (fully-convolutionally).
pub const PIECE_OUTPUTS: usize = 256;
/// CASCADE's windows per dataset budget before thinning, divided by the number of datasets.
pub const DATASET_WINDOW_BUDGET: f64 = 15e6;

fn invalid(what: impl Into<String>, reason: impl Into<String>) -> CalciumError {
    CalciumError::InvalidInput {
        what: what.into(),
        reason: reason.into(),
    }
}

/// One ground-truth dataset: the trials of all its neurons (CASCADE's `Ground_truth/<name>/`
/// folder of `CAttached_*.mat` files).
#[derive(Debug, Clone, PartialEq)]
pub struct GroundTruthDataset {
    /// Dataset name (the folder name, e.g. `DS09-GCaMP6f-m-V1`).
    pub name: String,
    /// The trials, each with its own frame rate.
    pub trials: Vec<CascadeTrial>,
}

impl GroundTruthDataset {
    /// Reads every `*.mat` / `*.mat.gz` file of `dir` (sorted by name) with
    /// [`spikelab_data::io::mat::read_cascade`]. A folder without such files, an unreadable
    /// file or a file without trials is an error.
    ///
    /// ```
    /// use spikelab_calcium::cascade::train::GroundTruthDataset;
    /// let dir = spikelab_datasets::path("cascade-sample/DS09-GCaMP6f-m-V1")?;
    /// let ds = GroundTruthDataset::load_dir(&dir)?;
    /// assert_eq!((ds.name.as_str(), ds.trials.len()), ("DS09-GCaMP6f-m-V1", 3));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn load_dir(dir: &Path) -> Result<Self> {
        let files = mat_files(dir)?;
        if files.is_empty() {
            return Err(invalid(
                dir.display().to_string(),
                "no CASCADE ground-truth files (*.mat, *.mat.gz) in this folder",
            ));
        }
        let mut trials = Vec::new();
        for f in files {
            let t = read_cascade(&f)?;
            if t.is_empty() {
                return Err(invalid(f.display().to_string(), "the file holds no trial"));
            }
            trials.extend(t);
        }
        let name = dir
            .file_name()
            .map_or_else(|| dir.display().to_string(), |n| n.to_string_lossy().into());
        Ok(GroundTruthDataset { name, trials })
    }
}

fn mat_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let rd =
        std::fs::read_dir(dir).map_err(|e| invalid(dir.display().to_string(), e.to_string()))?;
    let mut files = Vec::new();
    for ent in rd {
        let p = ent
            .map_err(|e| invalid(dir.display().to_string(), e.to_string()))?
            .path();
        let name = p.file_name().map(|n| n.to_string_lossy().to_lowercase());
        if p.is_file() && name.is_some_and(|n| n.ends_with(".mat") || n.ends_with(".mat.gz")) {
            files.push(p);
        }
    }
    files.sort();
    Ok(files)
}

/// The ground-truth dataset folders under `roots`: a root holding `.mat` files is a dataset
/// itself, otherwise each of its sub-folders holding `.mat` files is one (CASCADE's
/// `Ground_truth/` layout). With `indicator`, only folders whose name contains it
/// (case-insensitive, e.g. `GCaMP6f`, `OGB`) are kept; none left is an error naming what
/// was found.
///
/// ```
/// use spikelab_calcium::cascade::train::find_datasets;
/// let root = spikelab_datasets::path("cascade-sample")?;
/// assert_eq!(find_datasets(&[root.clone()], Some("gcamp6f"))?.len(), 1);
/// assert!(find_datasets(&[root], Some("OGB")).is_err());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn find_datasets(roots: &[PathBuf], indicator: Option<&str>) -> Result<Vec<PathBuf>> {
    let mut found = Vec::new();
    for root in roots {
        if !root.is_dir() {
            return Err(invalid(root.display().to_string(), "not a folder"));
        }
        if !mat_files(root)?.is_empty() {
            found.push(root.clone());
            continue;
        }
        let rd = std::fs::read_dir(root)
            .map_err(|e| invalid(root.display().to_string(), e.to_string()))?;
        let mut subs: Vec<PathBuf> = Vec::new();
        for ent in rd {
            let p = ent
                .map_err(|e| invalid(root.display().to_string(), e.to_string()))?
                .path();
            if p.is_dir() && !mat_files(&p)?.is_empty() {
                subs.push(p);
            }
        }
        subs.sort();
        found.extend(subs);
    }
    if found.is_empty() {
        return Err(invalid(
            "ground truth",
            "no folder with CASCADE ground-truth files (*.mat, *.mat.gz) under the given paths",
        ));
    }
    let Some(ind) = indicator else {
        return Ok(found);
    };
    let want = ind.to_lowercase();
    let name = |p: &PathBuf| {
        p.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    };
    let kept: Vec<PathBuf> = found
        .iter()
        .filter(|p| name(p).to_lowercase().contains(&want))
        .cloned()
        .collect();
    if kept.is_empty() {
        let names: Vec<String> = found.iter().map(name).collect();
        return Err(invalid(
            "ground truth",
            format!(
                "no dataset folder name contains {ind:?}; found: {}",
                names.join(", ")
            ),
        ));
    }
    Ok(kept)
}

/// Loads the ground-truth datasets that [`find_datasets`] finds under `roots` (with
/// `indicator`), in its order, each with [`GroundTruthDataset::load_dir`], and calls
/// `on_loaded` after each one (e.g. to report its size). Fails with the first error of either,
/// before loading anything when no folder is found or kept.
///
/// ```
/// use spikelab_calcium::CalciumError;
/// use spikelab_calcium::cascade::train::load_datasets;
/// let root = spikelab_datasets::path("cascade-sample")?;
/// let mut loaded = Vec::new();
/// let sets = load_datasets(std::slice::from_ref(&root), Some("GCaMP6f"), |ds| {
///     loaded.push((ds.name.clone(), ds.trials.len()))
/// })?;
/// assert_eq!(loaded, [("DS09-GCaMP6f-m-V1".to_string(), 3)]);
/// assert_eq!(sets.len(), 1);
/// let none = load_datasets(&[root], Some("OGB"), |_| panic!("nothing to load"));
/// assert!(matches!(none, Err(CalciumError::InvalidInput { .. })));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn load_datasets(
    roots: &[PathBuf],
    indicator: Option<&str>,
    mut on_loaded: impl FnMut(&GroundTruthDataset),
) -> Result<Vec<GroundTruthDataset>> {
    let dirs = find_datasets(roots, indicator)?;
    let mut sets = Vec::with_capacity(dirs.len());
    for d in &dirs {
        let ds = GroundTruthDataset::load_dir(d)?;
        on_loaded(&ds);
        sets.push(ds);
    }
    Ok(sets)
}

/// How the spike targets are smoothed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum TargetSmoothing {
    /// Gaussian of this SD (s); 0 keeps the binned counts.
    Gaussian {
        /// SD in seconds (`smoothing` of the config).
        sd_s: f64,
    },
    /// CASCADE's causal inverse-Gaussian kernel of this width parameter (s).
    Causal {
        /// `smoothing` of the config (s).
        sd_s: f64,
    },
}

impl TargetSmoothing {
    fn sd_s(&self) -> f64 {
        match *self {
            TargetSmoothing::Gaussian { sd_s } | TargetSmoothing::Causal { sd_s } => sd_s,
        }
    }
}

/// Settings of [`train`]. [`TrainCascadeParams::new`] gives CASCADE's template (30 Hz, noise
/// levels 1–9, Gaussian smoothing 0.2 s, 5 members, 10 epochs, batch 8192).
#[derive(Debug, Clone)]
pub struct TrainCascadeParams {
    /// `model_name` of the config.
    pub model_name: String,
    /// Target frame rate (Hz), > 0.
    pub frame_rate_hz: f64,
    /// Noise levels (% · Hz^−1/2), whole numbers ≥ 1 (they name the weight files), one
    /// ensemble each.
    pub noise_levels: Vec<f64>,
    /// Members per noise level (≥ 1).
    pub ensemble_size: usize,
    /// Target smoothing.
    pub smoothing: TargetSmoothing,
    /// Network sizes (window, `before_frac`, filters, dense units).
    pub arch: SpikeNetArch,
    /// Epochs per member (≥ 1).
    pub epochs: usize,
    /// Windows per Adagrad step (≥ 1).
    pub batch_size: usize,
    /// Adagrad learning rate (0.05).
    pub learning_rate: f64,
    /// Noise replicas per trial at most (CASCADE: 500; ≥ 1).
    pub max_replicas: usize,
    /// Training windows per member at most (CASCADE: 5·10⁶; ≥ 1).
    pub max_windows: usize,
    /// Seed of every random draw.
    pub seed: u64,
    /// Where the training runs (`cpu`, `cuda:N` with feature `cuda`).
    pub device: spikelab_core::Device,
    /// Members trained at once (≥ 1), each on its own thread (and on CUDA its own stream);
    /// the result does not depend on it. Measured: 2 at once on a 2-core CPU gave 1.23× the
    /// Adagrad steps/s of 1; 8 at once on an H100 gave none (≈ 145 steps/s in all, against
    /// 157–214 for one; a step of this small network is ≈ 500 kernels of ≈ 6 µs). Host
    /// memory grows with it: each member holds its own windows.
    pub concurrent_members: usize,
}

impl TrainCascadeParams {
    /// CASCADE's template values with the given model name.
    pub fn new(model_name: impl Into<String>) -> Self {
        TrainCascadeParams {
            model_name: model_name.into(),
            frame_rate_hz: 30.0,
            noise_levels: (1..=9).map(f64::from).collect(),
            ensemble_size: 5,
            smoothing: TargetSmoothing::Gaussian { sd_s: 0.2 },
            arch: SpikeNetArch::CASCADE,
            epochs: 10,
            batch_size: 8192,
            learning_rate: 0.05,
            max_replicas: MAX_REPLICAS,
            max_windows: MAX_WINDOWS,
            seed: 0,
            device: spikelab_core::Device::Cpu,
            concurrent_members: 1,
        }
    }

    /// Checks every setting once; the result is what [`train`] takes.
    ///
    /// ```
    /// use spikelab_calcium::cascade::train::TrainCascadeParams;
    /// let p = TrainCascadeParams::new("m");
    /// assert!(p.clone().validate().is_ok());
    /// assert!(TrainCascadeParams { frame_rate_hz: 0.0, ..p.clone() }.validate().is_err());
    /// assert!(TrainCascadeParams { noise_levels: vec![], ..p.clone() }.validate().is_err());
    /// assert!(TrainCascadeParams { noise_levels: vec![2.5], ..p }.validate().is_err());
    /// ```
    pub fn validate(self) -> Result<ValidTrainCascadeParams> {
        let bad =
            |name: &'static str, reason: String| CalciumError::InvalidParameter { name, reason };
        if !(self.frame_rate_hz.is_finite() && self.frame_rate_hz > 0.0) {
            return Err(bad(
                "frame_rate_hz",
                format!("must be > 0, got {}", self.frame_rate_hz),
            ));
        }
        if self.noise_levels.is_empty() {
            return Err(bad(
                "noise_levels",
                "give at least one level (e.g. 2)".into(),
            ));
        }
        for &l in &self.noise_levels {
            if !(l.is_finite() && l >= 1.0 && l.fract() == 0.0 && l <= 1000.0) {
                return Err(bad(
                    "noise_levels",
                    format!(
                        "{l} is not a whole number in 1…1000 (levels name the weight files Model_NoiseLevel_<L>_Ensemble_<k>.h5)"
                    ),
                ));
            }
        }
        let mut sorted = self.noise_levels.clone();
        sorted.sort_by(f64::total_cmp);
        if sorted.windows(2).any(|w| w[0] == w[1]) {
            return Err(bad(
                "noise_levels",
                format!("duplicate level in {:?}", self.noise_levels),
            ));
        }
        if self.ensemble_size == 0 {
            return Err(bad("ensemble_size", "must be ≥ 1".into()));
        }
        let sd = self.smoothing.sd_s();
        if !(sd.is_finite() && sd >= 0.0) {
            return Err(bad("smoothing", format!("SD must be ≥ 0 s, got {sd}")));
        }
        if matches!(self.smoothing, TargetSmoothing::Causal { .. }) && sd == 0.0 {
            return Err(bad(
                "smoothing",
                "the causal kernel needs an SD > 0 s".into(),
            ));
        }
        self.arch.validate()?;
        if self.concurrent_members == 0 {
            return Err(bad("concurrent_members", "must be ≥ 1".into()));
        }
        if self.epochs == 0 {
            return Err(bad("epochs", "must be ≥ 1".into()));
        }
        if self.batch_size == 0 {
            return Err(bad("batch_size", "must be ≥ 1".into()));
        }
        if !(self.learning_rate.is_finite() && self.learning_rate > 0.0) {
            return Err(bad(
                "learning_rate",
                format!("must be > 0, got {}", self.learning_rate),
            ));
        }
        if self.max_replicas == 0 {
            return Err(bad("max_replicas", "must be ≥ 1".into()));
        }
        if self.max_windows == 0 {
            return Err(bad("max_windows", "must be ≥ 1".into()));
        }
        if self.model_name.trim().is_empty() || self.model_name.contains(['\n', '#', ':']) {
            return Err(bad(
                "model_name",
                format!(
                    "{:?} must be non-empty, one line, without '#' or ':'",
                    self.model_name
                ),
            ));
        }
        Ok(ValidTrainCascadeParams(self))
    }
}

/// [`TrainCascadeParams`] that passed [`TrainCascadeParams::validate`].
#[derive(Debug, Clone)]
pub struct ValidTrainCascadeParams(TrainCascadeParams);

impl ValidTrainCascadeParams {
    /// The settings.
    pub fn params(&self) -> &TrainCascadeParams {
        &self.0
    }
}

/// A trial at the target frame rate: ΔF/F and spike counts per frame.
#[derive(Debug, Clone, PartialEq)]
pub struct ResampledTrial {
    /// ΔF/F per frame (NaN where the recording was NaN).
    pub dff: Vec<f64>,
    /// Spikes per frame.
    pub spikes: Vec<f64>,
    /// The frame rate of these frames (within 5 % of the target; exactly the target up to
    /// rounding of the frame count when resampled).
    pub frame_rate_hz: f64,
}

/// Brings a trial to `rate_hz`: unchanged if its rate is within 5 % of it, otherwise
/// Fourier-resampled to `round(n · rate_hz / f₀)` frames; spikes counted per frame
/// ([`bin_spikes`]). Errors: rate ≤ 0, an all-NaN trial, fewer than 2 frames after resampling.
///
/// ```
/// use spikelab_calcium::cascade::train::resample_trial;
/// use spikelab_data::io::mat::CascadeTrial;
/// let t = CascadeTrial {
///     fluo_time_s: (0..600).map(|i| i as f64 / 60.0).collect(),
///     dff: (0..600).map(|i| (i as f64 / 60.0).sin()).collect(),
///     spike_times_s: vec![1.0, 2.5, 2.51],
///     frame_rate_hz: 60.0,
/// };
/// let r = resample_trial(&t, 30.0)?;
/// assert_eq!(r.dff.len(), 300);
/// assert_eq!(r.spikes.iter().sum::<f64>(), 3.0);
/// assert_eq!((r.spikes[30], r.spikes[75]), (1.0, 2.0));
/// # Ok::<(), spikelab_calcium::CalciumError>(())
/// ```
pub fn resample_trial(trial: &CascadeTrial, rate_hz: f64) -> Result<ResampledTrial> {
    if !(rate_hz.is_finite() && rate_hz > 0.0) {
        return Err(CalciumError::InvalidParameter {
            name: "frame_rate_hz",
            reason: format!("must be > 0, got {rate_hz}"),
        });
    }
    let f0 = trial.frame_rate_hz;
    let n = trial.dff.len();
    if trial.dff.iter().all(|v| !v.is_finite()) {
        return Err(invalid("ground-truth trial", "ΔF/F is NaN in every frame"));
    }
    if !(f0.is_finite() && f0 > 0.0) || n < 2 {
        return Err(invalid(
            "ground-truth trial",
            format!("{n} frames at {f0} Hz: no usable frame rate"),
        ));
    }
    let t0 = trial.fluo_time_s.first().copied().unwrap_or(0.0);
    if (rate_hz - f0).abs() / f0 <= 0.05 {
        let spikes = bin_spikes(&trial.fluo_time_s, f0, &trial.spike_times_s);
        return Ok(ResampledTrial {
            dff: trial.dff.clone(),
            spikes,
            frame_rate_hz: f0,
        });
    }
    let num = (n as f64 * rate_hz / f0).round() as usize;
    if num < 2 {
        return Err(invalid(
            "ground-truth trial",
            format!("{n} frames at {f0} Hz give {num} frames at {rate_hz} Hz"),
        ));
    }
    let dff = fft_resample_nan(&trial.dff, num);
    let f = num as f64 * f0 / n as f64;
    let times: Vec<f64> = (0..num).map(|k| t0 + k as f64 / f).collect();
    let spikes = bin_spikes(&times, f, &trial.spike_times_s);
    Ok(ResampledTrial {
        dff,
        spikes,
        frame_rate_hz: f,
    })
}

/// Spike counts per frame: frame `k` covers `[t_k − 1/(2f), t_k + 1/(2f))`, the last one also
/// its right edge; spikes outside every frame are ignored.
///
/// ```
/// use spikelab_calcium::cascade::train::bin_spikes;
/// let c = bin_spikes(&[0.0, 0.1, 0.2], 10.0, &[-0.06, -0.05, 0.049, 0.05, 0.25, 0.3]);
/// assert_eq!(c, [2.0, 1.0, 1.0]);
/// ```
pub fn bin_spikes(frame_times_s: &[f64], rate_hz: f64, spike_times_s: &[f64]) -> Vec<f64> {
    let n = frame_times_s.len();
    let mut counts = vec![0.0; n];
    if n == 0 {
        return counts;
    }
    let h = 0.5 / rate_hz;
    // edges[k] = t_k − h, edges[n] = t_{n−1} + h.
    let edge = |k: usize| {
        if k < n {
            frame_times_s[k] - h
        } else {
            frame_times_s[n - 1] + h
        }
    };
    for &s in spike_times_s {
        if !(s >= edge(0) && s <= edge(n)) {
            continue;
        }
        // Last k with edge(k) ≤ s.
        let (mut lo, mut hi) = (0usize, n);
        while hi - lo > 1 {
            let mid = (lo + hi) / 2;
            if edge(mid) <= s {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        counts[lo] += 1.0;
    }
    counts
}

/// `√|x_t + 1|` divided by its median over valid frames: the brightness scaling of the added
/// noise (1 where `x` is NaN).
fn noise_scale(x: &[f64]) -> Vec<f64> {
    let s: Vec<f64> = x.iter().map(|v| (v + 1.0).abs().sqrt()).collect();
    let med = crate::metric::nanmedian(&s);
    let med = if med.is_finite() && med > 0.0 {
        med
    } else {
        1.0
    };
    s.iter()
        .map(|v| if v.is_finite() { v / med } else { 1.0 })
        .collect()
}

fn level_with(x: &[f64], scale: &[f64], z: &[f64], sd: f64, rate_hz: f64) -> f64 {
    let y: Vec<f64> = x
        .iter()
        .zip(scale)
        .zip(z)
        .map(|((a, s), n)| a + sd * s * n)
        .collect();
    noise_level(&y, rate_hz).unwrap_or(f64::NAN)
}

/// The SD `σ` of the noise `σ · s_t · z_t` (brightness scaling `s_t`, see the module docs) that
/// brings `x` to the noise level `target` for this draw `z` of standard normal values
/// (bisection to 1e-6 relative). `Ok(None)` when `x` is already noisier than `target`.
///
/// ```
/// use spikelab_calcium::cascade::train::matching_noise_sd;
/// use spikelab_calcium::preprocess::noise_level;
/// let x = vec![0.0; 1000];
/// let z: Vec<f64> = (0..1000).map(|i| ((i * 7919) % 1000) as f64 / 500.0 - 1.0).collect();
/// let sd = matching_noise_sd(&x, 30.0, 2.0, &z)?.unwrap();
/// let y: Vec<f64> = z.iter().map(|v| sd * v).collect();
/// assert!((noise_level(&y, 30.0)? - 2.0).abs() < 1e-4);
/// # Ok::<(), spikelab_calcium::CalciumError>(())
/// ```
pub fn matching_noise_sd(x: &[f64], rate_hz: f64, target: f64, z: &[f64]) -> Result<Option<f64>> {
    if z.len() != x.len() {
        return Err(invalid(
            "noise draw",
            format!("{} values for {} frames", z.len(), x.len()),
        ));
    }
    let base = noise_level(x, rate_hz)?;
    if !base.is_finite() {
        return Err(invalid(
            "trace",
            "fewer than two valid frames: no noise level",
        ));
    }
    if base > target {
        return Ok(None);
    }
    let scale = noise_scale(x);
    let at = |sd: f64| level_with(x, &scale, z, sd, rate_hz);
    // Upper bracket: white noise of SD σ has ν ≈ 100·0.954·σ/√f (median |Δ| of N(0, 2σ²)).
    let mut hi = (target * rate_hz.sqrt() / 100.0).max(1e-12);
    let mut tries = 0;
    while at(hi) < target {
        hi *= 2.0;
        tries += 1;
        if tries > 60 {
            return Err(invalid(
                "trace",
                "added noise does not raise its noise level (is the trace constant?)",
            ));
        }
    }
    let mut lo = 0.0;
    for _ in 0..200 {
        let mid = 0.5 * (lo + hi);
        if at(mid) < target {
            lo = mid;
        } else {
            hi = mid;
        }
        if hi - lo <= 1e-6 * hi {
            break;
        }
    }
    Ok(Some(0.5 * (lo + hi)))
}

/// Noise replicas of `x` at the noise level `target`: the number CASCADE uses,
/// `min(max_replicas, ⌈1.2 (target/ν(x))²⌉)`, each `x + σ s z` with its own draw `z` and `σ`
/// calibrated on a separate draw ([`matching_noise_sd`]). Empty when `x` is noisier than
/// `target`.
///
/// ```
/// use spikelab_calcium::cascade::train::noise_matched_replicas;
/// use spikelab_calcium::preprocess::noise_level;
/// let x: Vec<f64> = (0..3000).map(|i| 0.3 * ((i as f64) * 0.05).sin().max(0.0) + 0.002 * ((i * 37 % 11) as f64 - 5.0)).collect();
/// let reps = noise_matched_replicas(&x, 30.0, 3.0, 8, 7)?;
/// assert_eq!(reps.len(), 8); // ⌈1.2 (3 / 0.146)²⌉ = 507, capped at 8
/// let nu: Vec<f64> = reps.iter().map(|r| noise_level(r, 30.0)).collect::<Result<_, _>>()?;
/// // Each draw's median |Δ| scatters by a few % around the target (3 000 frames).
/// assert!(nu.iter().all(|v| (v - 3.0).abs() < 0.3));
/// assert!((nu.iter().sum::<f64>() / 8.0 - 3.0).abs() < 0.1);
/// # Ok::<(), spikelab_calcium::CalciumError>(())
/// ```
pub fn noise_matched_replicas(
    x: &[f64],
    rate_hz: f64,
    target: f64,
    max_replicas: usize,
    seed: u64,
) -> Result<Vec<Vec<f64>>> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    replicas_with(x, rate_hz, target, max_replicas, &mut rng)
}

fn replicas_with(
    x: &[f64],
    rate_hz: f64,
    target: f64,
    max_replicas: usize,
    rng: &mut ChaCha8Rng,
) -> Result<Vec<Vec<f64>>> {
    let mut draw =
        |n: usize| -> Vec<f64> { (0..n).map(|_| StandardNormal.sample(&mut *rng)).collect() };
    let z0 = draw(x.len());
    let Some(sd) = matching_noise_sd(x, rate_hz, target, &z0)? else {
        return Ok(Vec::new());
    };
    let base = noise_level(x, rate_hz)?;
    let want = if base > 0.0 {
        (1.2 * (target / base).powi(2)).ceil()
    } else {
        f64::INFINITY
    };
    let n_rep = (want.min(max_replicas as f64) as usize).max(1);
    let scale = noise_scale(x);
    Ok((0..n_rep)
        .map(|_| {
            let z = draw(x.len());
            x.iter()
                .zip(&scale)
                .zip(&z)
                .map(|((a, s), n)| a + sd * s * n)
                .collect()
        })
        .collect())
}

/// CASCADE's causal target kernel for smoothing `sd_s` (s) at `rate_hz`: the inverse-Gaussian
/// density `IG(t − 101/f; μ = 2·sd_s, λ = 1)` on `t = 0, 1/f, …, 198/f`, shifted left by
/// `⌊(i_max − 99)/1.5⌋` samples (cyclically, `i_max` its peak) and normalised to sum 1; index
/// 99 is lag 0.
///
/// ```
/// use spikelab_calcium::cascade::train::causal_kernel;
/// let k = causal_kernel(0.05, 30.0);
/// assert_eq!(k.len(), 199);
/// assert!((k.iter().sum::<f64>() - 1.0).abs() < 1e-12);
/// let peak = (0..199).max_by(|&a, &b| k[a].total_cmp(&k[b])).unwrap();
/// assert!(peak >= 99 && k[..95].iter().all(|&v| v == 0.0)); // nothing before the spike
/// ```
pub fn causal_kernel(sd_s: f64, rate_hz: f64) -> Vec<f64> {
    let mu = 2.0 * sd_s;
    let loc = 101.0 / rate_hz;
    let pdf = |x: f64| {
        let y = x - loc;
        if y <= 0.0 || mu <= 0.0 {
            return 0.0;
        }
        (-(y - mu).powi(2) / (2.0 * y * mu * mu)).exp()
            / (2.0 * std::f64::consts::PI * y.powi(3)).sqrt()
    };
    let yy: Vec<f64> = (0..199).map(|i| pdf(i as f64 / rate_hz)).collect();
    let ix = (0..199).fold(0, |b, i| if yy[i] > yy[b] { i } else { b });
    // np.roll by int((99 − ix)/1.5): truncation toward zero.
    let shift = ((99.0 - ix as f64) / 1.5).trunc() as i64;
    let mut k = vec![0.0; 199];
    for (i, v) in yy.iter().enumerate() {
        k[(i as i64 + shift).rem_euclid(199) as usize] = *v;
    }
    let s: f64 = k.iter().sum();
    if s > 0.0 {
        k.iter_mut().for_each(|v| *v /= s);
    }
    k
}

/// Smoothed spike targets: [`TargetSmoothing::Gaussian`] as SciPy's `gaussian_filter` (SD in
/// frames = `sd_s · rate_hz`, truncated at 4 SD, reflecting edges; SD 0 = the counts), or
/// [`TargetSmoothing::Causal`] as `scipy.signal.convolve(counts, causal_kernel, "same")`.
///
/// ```
/// use spikelab_calcium::cascade::train::{smooth_targets, TargetSmoothing};
/// let mut c = vec![0.0; 60];
/// c[30] = 1.0;
/// let g = smooth_targets(&c, 30.0, TargetSmoothing::Gaussian { sd_s: 0.1 })?;
/// assert!((g.iter().sum::<f64>() - 1.0).abs() < 1e-9 && g[29] == g[31]);
/// let k = smooth_targets(&c, 30.0, TargetSmoothing::Causal { sd_s: 0.05 })?;
/// assert!(k[..29].iter().all(|&v| v == 0.0) && k[31] > k[29]);
/// # Ok::<(), spikelab_calcium::CalciumError>(())
/// ```
pub fn smooth_targets(
    counts: &[f64],
    rate_hz: f64,
    smoothing: TargetSmoothing,
) -> Result<Vec<f64>> {
    match smoothing {
        TargetSmoothing::Gaussian { sd_s } if sd_s * rate_hz > 0.0 => Ok(
            spikelab_core::smooth::gaussian_filter1d(counts, sd_s * rate_hz)?,
        ),
        TargetSmoothing::Gaussian { .. } => Ok(counts.to_vec()),
        TargetSmoothing::Causal { sd_s } => {
            let k = causal_kernel(sd_s, rate_hz);
            let h = (k.len() - 1) / 2;
            let n = counts.len();
            let mut out = vec![0.0; n];
            for (i, &c) in counts.iter().enumerate() {
                if c == 0.0 {
                    continue;
                }
                for (m, &kv) in k.iter().enumerate() {
                    let t = i as i64 + m as i64 - h as i64;
                    if (0..n as i64).contains(&t) {
                        out[t as usize] += c * kv;
                    }
                }
            }
            Ok(out)
        }
    }
}

/// What a training run did, per noise level.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct LevelReport {
    /// The noise level.
    pub noise_level: f64,
    /// Trials used (noise level at or below the target).
    pub trials_used: usize,
    /// Trials too noisy for this level.
    pub trials_too_noisy: usize,
    /// Training windows per member.
    pub windows_per_member: Vec<usize>,
    /// Mean batch loss of each member's last epoch.
    pub final_loss: Vec<f64>,
}

/// The trained model and what the run did.
#[derive(Debug, Clone)]
pub struct TrainedCascade {
    /// The model (`dir()` empty until saved; save with [`CascadeModel::save`]).
    pub model: CascadeModel,
    /// Per noise level: trials used, windows, losses.
    pub levels: Vec<LevelReport>,
}

/// Trains one ensemble per noise level on `datasets` (see the module docs for the procedure)
/// and returns the model, its config filled in as CASCADE writes it. The observer hears stage
/// `train-cascade`, one step per Adagrad step over the whole run (metrics `loss`,
/// `noise_level`, `member`, `epoch`; with `concurrent_members` > 1 the steps of the members
/// in flight interleave); [`Flow::Stop`] ends the run with [`CalciumError::Stopped`].
///
/// Errors: no dataset; a trial with NaN in every frame; a dataset without any spike; a noise
/// level for which every trial is noisier than the level, or that leaves no full window.
pub fn train(
    params: &ValidTrainCascadeParams,
    datasets: &[GroundTruthDataset],
    observer: &mut dyn Observer,
) -> Result<TrainedCascade> {
    let p = &params.0;
    if datasets.is_empty() {
        return Err(invalid("ground truth", "no dataset given"));
    }
    let mut resampled: Vec<Vec<ResampledTrial>> = Vec::new();
    for ds in datasets {
        if ds.trials.is_empty() {
            return Err(invalid(format!("dataset {}", ds.name), "no trials"));
        }
        if ds.trials.iter().all(|t| t.spike_times_s.is_empty()) {
            return Err(invalid(
                format!("dataset {}", ds.name),
                "no spike in any trial: nothing to learn from",
            ));
        }
        let mut v = Vec::new();
        for (i, t) in ds.trials.iter().enumerate() {
            v.push(resample_trial(t, p.frame_rate_hz).map_err(|e| match e {
                CalciumError::InvalidInput { reason, .. } => {
                    invalid(format!("dataset {} trial {i}", ds.name), reason)
                }
                e => e,
            })?);
        }
        resampled.push(v);
    }
    let arch = p.arch;
    let before = (arch.before_frac * arch.window as f64) as usize;
    let offset = before.min(arch.window - 1);
    let cfg = TrainConfig {
        learning_rate: p.learning_rate,
        epsilon: 1e-7,
        initial_accumulator: 0.1,
        batch_size: p.batch_size,
        epochs: p.epochs,
        max_steps: None,
        seed: p.seed,
    };
    cfg.validate()?;
    let jobs: Vec<(usize, usize)> = (0..p.noise_levels.len())
        .flat_map(|li| (0..p.ensemble_size).map(move |k| (li, k)))
        .collect();
    let n_workers = p.concurrent_members.min(jobs.len());
    let next_job = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    let mut results: Vec<Option<Result<MemberResult>>> = (0..jobs.len()).map(|_| None).collect();
    let mut observer_stopped = false;
    let (tx, rx) = mpsc::channel::<WorkerMessage>();
    std::thread::scope(|scope| {
        for _ in 0..n_workers {
            let tx = tx.clone();
            let (jobs, next_job, stop, resampled) = (&jobs, &next_job, &stop, &resampled);
            let cfg = &cfg;
            scope.spawn(move || {
                // Each worker makes its own device here: on CUDA that is this thread's stream,
                // so members trained at once run side by side on the GPU.
                let device = match p.device.to_candle() {
                    Ok(d) => d,
                    Err(e) => {
                        let j = next_job.fetch_add(1, Ordering::Relaxed);
                        if j < jobs.len() {
                            let _ = tx.send(WorkerMessage::Done(j, Box::new(Err(e.into()))));
                        }
                        return;
                    }
                };
                loop {
                    let j = next_job.fetch_add(1, Ordering::Relaxed);
                    if j >= jobs.len() || stop.load(Ordering::Acquire) {
                        break;
                    }
                    let (li, k) = jobs[j];
                    let member = MemberJob {
                        level_index: li,
                        member: k,
                        offset,
                        cfg,
                    };
                    let r = train_member(resampled, datasets, p, &member, &device, &mut |m| {
                        tx.send(WorkerMessage::Step(m)).is_ok() && !stop.load(Ordering::Acquire)
                    });
                    if tx.send(WorkerMessage::Done(j, Box::new(r))).is_err() {
                        break;
                    }
                }
            });
        }
        drop(tx);
        let mut global_step = 0usize;
        let mut total_est: Option<usize> = None;
        for msg in rx {
            match msg {
                WorkerMessage::Step(m) => {
                    // Total steps for the observer: the first member's steps times the members,
                    // an estimate (other levels have other replica counts).
                    let total = *total_est.get_or_insert(m.member_steps * jobs.len());
                    let pr = Progress::new("train-cascade", global_step)
                        .with_total(total.max(global_step + 1))
                        .with_metric("loss", m.loss)
                        .with_metric("noise_level", p.noise_levels[m.level_index])
                        .with_metric("member", m.member as f64)
                        .with_metric("epoch", m.epoch as f64);
                    global_step += 1;
                    if !observer_stopped && observer.observe(&pr) == Flow::Stop {
                        observer_stopped = true;
                        stop.store(true, Ordering::Release);
                    }
                }
                WorkerMessage::Done(j, r) => {
                    if r.is_err() {
                        stop.store(true, Ordering::Release);
                    }
                    results[j] = Some(*r);
                }
            }
        }
    });
    // The first error in job order that is not a consequence of stopping; then a stop.
    let mut stopped = observer_stopped;
    let mut done = Vec::with_capacity(jobs.len());
    for r in results {
        match r {
            Some(Ok(m)) => done.push(m),
            Some(Err(CalciumError::Stopped { .. })) | None => stopped = true,
            Some(Err(e)) => return Err(e),
        }
    }
    if stopped {
        return Err(CalciumError::Stopped {
            stage: "train-cascade",
        });
    }
    let mut ensembles = Vec::new();
    let mut levels = Vec::new();
    let mut done = done.into_iter();
    for &level in &p.noise_levels {
        let mut rep = LevelReport {
            noise_level: level,
            trials_used: 0,
            trials_too_noisy: 0,
            windows_per_member: Vec::new(),
            final_loss: Vec::new(),
        };
        let mut members = Vec::new();
        for (k, m) in done.by_ref().take(p.ensemble_size).enumerate() {
            if k == 0 {
                rep.trials_used = m.trials_used;
                rep.trials_too_noisy = m.trials_too_noisy;
            }
            rep.windows_per_member.push(m.windows);
            rep.final_loss.push(m.final_loss);
            members.push(m.net);
        }
        ensembles.push(Some(members));
        levels.push(rep);
    }
    let config = CascadeConfig {
        model_name: p.model_name.clone(),
        sampling_rate_hz: p.frame_rate_hz,
        training_datasets: datasets.iter().map(|d| d.name.clone()).collect(),
        noise_levels: p.noise_levels.clone(),
        smoothing_s: p.smoothing.sd_s(),
        causal_kernel: matches!(p.smoothing, TargetSmoothing::Causal { .. }),
        arch,
        loss_function: "mean_squared_error".into(),
        optimizer: "Adagrad".into(),
        nr_of_epochs: p.epochs,
        ensemble_size: p.ensemble_size,
        batch_size: p.batch_size,
        training_finished: "Yes".into(),
    };
    let model = CascadeModel::from_parts(PathBuf::new(), config, ensembles)?;
    Ok(TrainedCascade { model, levels })
}

/// One member to train: its noise level (index into `noise_levels`), its index in the
/// ensemble, the target offset in the window and the optimiser settings.
struct MemberJob<'a> {
    level_index: usize,
    member: usize,
    offset: usize,
    cfg: &'a TrainConfig,
}

/// A trained member with what its run did.
struct MemberResult {
    net: Conv1dSpikeNet,
    windows: usize,
    final_loss: f64,
    trials_used: usize,
    trials_too_noisy: usize,
}

/// One finished Adagrad step of a member.
struct MemberStep {
    level_index: usize,
    member: usize,
    epoch: usize,
    loss: f64,
    /// All steps this member takes.
    member_steps: usize,
}

/// What a worker thread tells the thread that owns the observer.
enum WorkerMessage {
    Step(MemberStep),
    Done(usize, Box<Result<MemberResult>>),
}

/// Trains one member on `device`; `on_step` hears every step and returning `false` stops the
/// member with [`CalciumError::Stopped`]. The member's random draws come from its own
/// ChaCha8 stream, so members give the same result whichever thread trains them, in any
/// order.
fn train_member(
    resampled: &[Vec<ResampledTrial>],
    datasets: &[GroundTruthDataset],
    p: &TrainCascadeParams,
    job: &MemberJob<'_>,
    device: &candle_core::Device,
    on_step: &mut dyn FnMut(MemberStep) -> bool,
) -> Result<MemberResult> {
    let (li, k, cfg) = (job.level_index, job.member, job.cfg);
    let level = p.noise_levels[li];
    let arch = p.arch;
    let mut rng = ChaCha8Rng::seed_from_u64(p.seed);
    rng.set_stream((li * p.ensemble_size + k) as u64);
    let (data, used, noisy) =
        member_data(resampled, datasets, level, p, &arch, job.offset, &mut rng)?;
    let pieces = data.pieces(PIECE_OUTPUTS.min(p.batch_size));
    let per_step = (p.batch_size / PIECE_OUTPUTS).max(1);
    let member_steps = pieces.len().div_ceil(per_step) * p.epochs;
    let init = SpikeNetWeights::glorot_uniform(arch, rand::Rng::random(&mut rng))?;
    let mut tr = Trainer::new(&init, cfg.initial_accumulator, device)?;
    let mut order: Vec<usize> = (0..pieces.len()).collect();
    let mut step = 0;
    let mut losses = Vec::new();
    let mut last_epoch_losses = (0usize, 0.0f64);
    for epoch in 0..p.epochs {
        order.shuffle(&mut rng);
        let before_len = losses.len();
        let go_on = tr.epoch_pieces(
            &data,
            &pieces,
            &order,
            per_step,
            cfg,
            epoch,
            &mut step,
            &mut losses,
            &mut |tp: &TrainProgress| {
                on_step(MemberStep {
                    level_index: li,
                    member: k,
                    epoch: tp.epoch,
                    loss: tp.loss,
                    member_steps,
                })
            },
            member_steps,
        )?;
        let l = &losses[before_len..];
        last_epoch_losses = (l.len(), l.iter().sum());
        if !go_on {
            return Err(CalciumError::Stopped {
                stage: "train-cascade",
            });
        }
    }
    Ok(MemberResult {
        net: Conv1dSpikeNet::new(tr.spikenet_weights()?),
        windows: data.n_samples(),
        final_loss: last_epoch_losses.1 / last_epoch_losses.0.max(1) as f64,
        trials_used: used,
        trials_too_noisy: noisy,
    })
}

/// A replica's network input, targets and window starts.
type Replica = (Vec<f32>, Vec<f32>, Vec<usize>);

/// The training windows of one member at one noise level: replicas of every usable trial,
/// per-dataset thinning, the `max_windows` cap. Returns the data, trials used and trials too
/// noisy.
fn member_data(
    resampled: &[Vec<ResampledTrial>],
    datasets: &[GroundTruthDataset],
    level: f64,
    p: &TrainCascadeParams,
    arch: &SpikeNetArch,
    offset: usize,
    rng: &mut ChaCha8Rng,
) -> Result<(TrainingData, usize, usize)> {
    let win = arch.window;
    // Per dataset: (input, target, window starts).
    let mut per_ds: Vec<Vec<Replica>> = Vec::new();
    let (mut used, mut noisy) = (0, 0);
    for trials in resampled {
        let mut traces = Vec::new();
        for t in trials {
            let reps = replicas_with(&t.dff, t.frame_rate_hz, level, p.max_replicas, rng)?;
            if reps.is_empty() {
                noisy += 1;
                continue;
            }
            used += 1;
            let y = smooth_targets(&t.spikes, t.frame_rate_hz, p.smoothing)?;
            let yf: Vec<f32> = y.iter().map(|&v| v as f32).collect();
            let n_valid = t.dff.iter().filter(|v| v.is_finite()).count();
            let last = n_valid.min(t.dff.len()).saturating_sub(win);
            let mut nan_prefix = vec![0usize; t.dff.len() + 1];
            for (i, v) in t.dff.iter().enumerate() {
                nan_prefix[i + 1] = nan_prefix[i] + usize::from(!v.is_finite());
            }
            let starts: Vec<usize> = (0..last)
                .filter(|&s| nan_prefix[s + win] == nan_prefix[s])
                .collect();
            for r in reps {
                traces.push((
                    r.iter().map(|&v| v as f32).collect(),
                    yf.clone(),
                    starts.clone(),
                ));
            }
        }
        per_ds.push(traces);
    }
    if used == 0 {
        return Err(invalid(
            format!("noise level {level}"),
            format!(
                "every one of the {noisy} trials is noisier than this level: choose higher noise levels"
            ),
        ));
    }
    // CASCADE's thinning: datasets above 15e6/n_datasets windows keep that share.
    let budget = DATASET_WINDOW_BUDGET / datasets.len() as f64;
    let sizes: Vec<f64> = per_ds
        .iter()
        .map(|v| v.iter().map(|(_, _, s)| s.len()).sum::<usize>() as f64)
        .collect();
    let factors: Vec<f64> = sizes.iter().map(|s| s / budget).collect();
    let thin = factors.iter().any(|&f| f > 1.0);
    let mut data = TrainingData::with_window(win, offset);
    for (traces, &fac) in per_ds.into_iter().zip(&factors) {
        for (x, y, mut starts) in traces {
            if thin {
                starts.shuffle(rng);
                let keep = (starts.len() as f64 / fac.max(1.0)) as usize;
                starts.truncate(keep);
                starts.sort_unstable();
            }
            data.push_trace(x, y, starts.into_iter());
        }
    }
    let n = data.n_samples();
    if n == 0 {
        return Err(invalid(
            format!("noise level {level}"),
            format!("no trial has a full window of {win} valid frames"),
        ));
    }
    if n > p.max_windows {
        let mut idx: Vec<usize> = (0..n).collect();
        idx.shuffle(rng);
        let mut keep = vec![false; n];
        idx[..p.max_windows].iter().for_each(|&i| keep[i] = true);
        data.retain_samples(|i| keep[i]);
    }
    Ok((data, used, noisy))
}

impl CascadeModel {
    /// Saves the model as a CASCADE model folder: `config.yaml` and one Keras HDF5 weight file
    /// `Model_NoiseLevel_<L>_Ensemble_<k>.h5` per member (the `save_weights` layout that
    /// [`CascadeModel::load`] reads, as it reads downloaded models). The folder is written
    /// atomically; an existing `dir` is an error unless `overwrite`. Levels must be whole
    /// numbers; absent levels of a partial model are skipped.
    #[cfg(feature = "keras-h5")]
    pub fn save(&self, dir: &Path, overwrite: bool) -> Result<()> {
        let cfg = self.config();
        for &l in &cfg.noise_levels {
            if !(l.fract() == 0.0 && l >= 0.0) {
                return Err(CalciumError::Model {
                    source_name: dir.display().to_string(),
                    reason: format!("noise level {l} is not a whole number: no weight file name"),
                });
            }
        }
        spikelab_data::io::write_dir_atomic(dir, overwrite, |tmp| {
            std::fs::write(tmp.join("config.yaml"), cfg.to_yaml())
                .map_err(|e| spikelab_data::DataError::io(tmp, e))?;
            for (i, &l) in cfg.noise_levels.iter().enumerate() {
                let Some(members) = self.ensemble(i) else {
                    continue;
                };
                for (k, net) in members.iter().enumerate() {
                    let name = format!("Model_NoiseLevel_{}_Ensemble_{k}.h5", l as u64);
                    net.weights().save_keras_h5(&tmp.join(name))?;
                }
            }
            Ok::<(), CalciumError>(())
        })
    }
}
