//! The calcium → spike pipeline as one call: [`Deconvolver`].
//!
//! A [`DeconvolverParams`] says which network runs (an embedded Elephant model, the ensemble
//! of the five, an Elephant weights file, or a CASCADE model folder), in which units the
//! result comes and how the recording's frame rate meets the model's. [`DeconvolverParams::build`]
//! validates it and loads the model once; [`Deconvolver::run`] then takes `[time, neuron]`
//! traces at **any** frame rate and returns values at **that** rate and length:
//!
//! 1. *To the model's rate.* Elephant needs 100 Hz: a recording more than 0.1 Hz away is
//!    c2s-preprocessed and Fourier-resampled to 100 Hz ([`Preprocessing`]); one within 0.1 Hz
//!    is relabelled as 100 Hz. CASCADE runs a recording within 5 % of the model's rate as it
//!    is; further away it is an error naming the closest models
//!    ([`CalciumError::FrameRateMismatch`]) unless `resample` is set, which Fourier-resamples
//!    the traces to the model's rate ([`fft_resample_nan`]).
//! 2. *The model* ([`ElephantCnn`], [`ElephantEnsemble`], [`CascadeModel`]); calibration to
//!    Hz for Elephant from stored constants ([`Calibration::embedded`]).
//! 3. *Back to the input's frames* ([`to_input_frames`]): each input frame gets the
//!    overlap-weighted mean of the model frames its interval covers (NaN if one of them is
//!    NaN). Rates (Hz) and network units are averaged; CASCADE's expected spikes per frame
//!    are scaled to spikes per **input** frame.
//!
//! **Memory.** By default ([`DeconvolverParams::chunk_frames`]) Elephant reads the traces in
//! place and runs each neuron in pieces of at most 2¹⁸ frames, so a recording at 100 Hz
//! needs its input, its output and a fixed working set whatever its length (measured in
//! `docs/reliability.md`); the numbers are the same bits as with `chunk_frames: None`.
//!
//! ```
//! # #[cfg(feature = "embedded-weights")] {
//! use spikelab_calcium::deconvolve::{DeconvolverParams, ModelChoice, Units};
//! use spikelab_core::Silent;
//! use spikelab_data::CalciumTraces;
//! // A 30 Hz recording: 60 s of one neuron.
//! let x: Vec<f64> = (0..1800).map(|i| ((i as f64 * 0.37).sin() * 3.0).exp() * 0.1).collect();
//! let traces = CalciumTraces::from_columns(&[x], 30.0)?;
//! let params = DeconvolverParams { model: ModelChoice::Embedded(1), units: Units::RatesHz, ..Default::default() };
//! let out = params.build()?.run(&traces, &mut Silent)?;
//! assert_eq!(out.values.dim(), (1800, 1)); // at the input's 30 Hz, not the model's 100 Hz
//! assert_eq!((out.report.model_rate_hz, out.report.output_rate_hz), (100.0, 30.0));
//! assert!(out.values[[0, 0]].is_nan() && out.values[[900, 0]] >= 0.0);
//! # }
//! # Ok::<(), spikelab_calcium::CalciumError>(())
//! ```

mod rate;

use std::path::PathBuf;

use ndarray::Array2;
use serde::Serialize;
use spikelab_core::{Flow, Observer, Progress};
use spikelab_data::CalciumTraces;

pub use rate::to_input_frames;

use crate::calibration::Calibration;
use crate::cascade::{CascadeModel, PredictOptions, Threshold};
use crate::ensemble::ElephantEnsemble;
use crate::error::{CalciumError, Result};
use crate::evaluate::Predictor;
use crate::network::{ElephantCnn, Evaluation, Skipped, check_chunk_frames, zscore_trace};
use crate::preprocess::{
    Preprocessing, TARGET_RATE_HZ, fft_resample_nan, noise_level, noise_level_bounded,
};

/// Which network(s) deconvolve.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum ModelChoice {
    /// The embedded pretrained Elephant model 1–5 (feature `embedded-weights`).
    Embedded(u8),
    /// The mean of the five embedded Elephant models.
    EmbeddedEnsemble,
    /// Elephant weights from a `.h5` (Keras, feature `keras-h5`) or `.safetensors` file.
    ElephantFile(PathBuf),
    /// A CASCADE model folder (`config.yaml` + Keras files, feature `keras-h5`).
    Cascade(PathBuf),
}

impl ModelChoice {
    /// `model1` … `model5` (also written `model1.h5`): the embedded model of that number.
    ///
    /// ```
    /// use spikelab_calcium::deconvolve::ModelChoice;
    /// assert_eq!(ModelChoice::embedded_by_name("model2.h5"), Some(ModelChoice::Embedded(2)));
    /// assert_eq!(ModelChoice::embedded_by_name("model6"), None);
    /// ```
    pub fn embedded_by_name(name: &str) -> Option<ModelChoice> {
        let n: u8 = name
            .strip_suffix(".h5")
            .unwrap_or(name)
            .strip_prefix("model")?
            .parse()
            .ok()?;
        (1..=5).contains(&n).then_some(ModelChoice::Embedded(n))
    }
}

/// `model1`, `ensemble of model1..model5`, or the path.
impl std::fmt::Display for ModelChoice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ModelChoice::Embedded(n) => write!(f, "model{n}"),
            ModelChoice::EmbeddedEnsemble => f.write_str("ensemble of model1..model5"),
            ModelChoice::ElephantFile(p) | ModelChoice::Cascade(p) => p.display().fmt(f),
        }
    }
}

/// `clip`, `none`, `single-spike` (the names the command line uses).
///
/// ```
/// use spikelab_calcium::cascade::Threshold;
/// assert_eq!("single-spike".parse::<Threshold>()?, Threshold::SingleSpike);
/// assert_eq!(Threshold::default().to_string(), "clip");
/// # Ok::<(), spikelab_calcium::CalciumError>(())
/// ```
impl std::str::FromStr for Threshold {
    type Err = CalciumError;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "clip" => Ok(Threshold::ClipNegative),
            "none" => Ok(Threshold::None),
            "single-spike" => Ok(Threshold::SingleSpike),
            other => Err(CalciumError::InvalidParameter {
                name: "threshold",
                reason: format!("must be clip, none or single-spike, got {other:?}"),
            }),
        }
    }
}

impl std::fmt::Display for Threshold {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Threshold::None => "none",
            Threshold::SingleSpike => "single-spike",
            _ => "clip",
        })
    }
}

/// The units of [`Deconvolution::values`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Units {
    /// The network's own: Elephant's z-score of the smoothed spike train, CASCADE's expected
    /// spikes per (input) frame.
    #[default]
    Network,
    /// Spike rates in Hz (Elephant: through its [`Calibration`]).
    RatesHz,
}

/// What [`Deconvolver`] does (defaults: embedded model 1, fully-convolutional evaluation,
/// network units; CASCADE options as the original's `predict`).
#[derive(Debug, Clone, PartialEq)]
pub struct DeconvolverParams {
    /// The network(s).
    pub model: ModelChoice,
    /// Elephant: fully-convolutional (default) or per-window evaluation (same numbers to
    /// ~1e-5, ~200× slower).
    pub evaluation: Evaluation,
    /// Elephant: also run the c2s preprocessing (baseline removal, dispersion normalisation)
    /// on 100 Hz input; always done when the input is resampled.
    pub preprocess: bool,
    /// Output units.
    pub units: Units,
    /// Elephant: the calibration to Hz. `None` takes the stored constants of an embedded model
    /// or the ensemble; a weights file has none, so [`Units::RatesHz`] needs one here.
    pub calibration: Option<Calibration>,
    /// CASCADE: Fourier-resample a recording more than 5 % off the model's rate instead of
    /// refusing it.
    pub resample: bool,
    /// CASCADE: post-processing of the ensemble mean.
    pub threshold: Threshold,
    /// Elephant: run each neuron's trace in pieces of at most this many model frames
    /// (rounded down to whole kernel chunks of 4096, never below one), so that the memory
    /// beyond the input and the output does not grow with the recording's length; the output
    /// has the same bits as the whole-trace run (`None`). Default
    /// [`DEFAULT_CHUNK_FRAMES`]; `Some(0)` is an error. Bounded only for input at the model's
    /// rate without preprocessing: a resampled or preprocessed recording is first copied
    /// whole at 100 Hz. CASCADE ignores it.
    pub chunk_frames: Option<usize>,
}

/// The default [`DeconvolverParams::chunk_frames`]: 2¹⁸ frames (45 min at 100 Hz), 64 kernel
/// chunks per network call.
pub const DEFAULT_CHUNK_FRAMES: usize = 1 << 18;

impl Default for DeconvolverParams {
    fn default() -> Self {
        DeconvolverParams {
            model: ModelChoice::Embedded(1),
            evaluation: Evaluation::FullyConvolutional,
            preprocess: false,
            units: Units::Network,
            calibration: None,
            resample: false,
            threshold: Threshold::ClipNegative,
            chunk_frames: Some(DEFAULT_CHUNK_FRAMES),
        }
    }
}

/// One Elephant network or an ensemble of them.
#[derive(Debug, Clone)]
pub enum ElephantModel {
    /// One network.
    One(Box<ElephantCnn>),
    /// The mean of several.
    Ensemble(ElephantEnsemble),
}

impl ElephantModel {
    /// Loads an Elephant [`ModelChoice`] with the given evaluation; a CASCADE choice is an
    /// [`CalciumError::InvalidParameter`].
    pub fn load(choice: &ModelChoice, evaluation: Evaluation) -> Result<Self> {
        Ok(match choice {
            ModelChoice::Embedded(n) => {
                Self::One(Box::new(embedded(*n)?.with_evaluation(evaluation)))
            }
            ModelChoice::EmbeddedEnsemble => Self::Ensemble(ElephantEnsemble::new(
                (1..=5)
                    .map(|n| Ok(embedded(n)?.with_evaluation(evaluation)))
                    .collect::<Result<_>>()?,
            )?),
            ModelChoice::ElephantFile(p) => Self::One(Box::new(
                ElephantCnn::from_file(p)?.with_evaluation(evaluation),
            )),
            ModelChoice::Cascade(p) => {
                return Err(CalciumError::InvalidParameter {
                    name: "model",
                    reason: format!("{} is a CASCADE model, not an Elephant one", p.display()),
                });
            }
        })
    }
}

impl Predictor for ElephantModel {
    fn predict(&self, traces: &CalciumTraces) -> Result<Array2<f64>> {
        match self {
            Self::One(m) => m.predict(traces),
            Self::Ensemble(e) => e.predict(traces),
        }
    }
}

#[cfg(feature = "embedded-weights")]
fn embedded(n: u8) -> Result<ElephantCnn> {
    ElephantCnn::embedded(n)
}

#[cfg(not(feature = "embedded-weights"))]
fn embedded(_: u8) -> Result<ElephantCnn> {
    Err(CalciumError::InvalidParameter {
        name: "model",
        reason: "the embedded Elephant models need the `embedded-weights` feature".into(),
    })
}

#[cfg(feature = "keras-h5")]
fn load_cascade(dir: &std::path::Path) -> Result<CascadeModel> {
    CascadeModel::load_partial(dir)
}

#[cfg(not(feature = "keras-h5"))]
fn load_cascade(dir: &std::path::Path) -> Result<CascadeModel> {
    Err(CalciumError::Model {
        source_name: dir.display().to_string(),
        reason: "CASCADE model folders need the `keras-h5` feature".into(),
    })
}

#[derive(Debug, Clone)]
enum Loaded {
    Elephant {
        model: ElephantModel,
        calibration: Option<Calibration>,
    },
    Cascade(Box<CascadeModel>),
}

/// A validated [`DeconvolverParams`] with its model loaded; [`Deconvolver::run`] applies it.
#[derive(Debug, Clone)]
pub struct Deconvolver {
    params: DeconvolverParams,
    loaded: Loaded,
}

impl DeconvolverParams {
    /// Checks the parameters and loads the model: weight or model-folder errors, an embedded
    /// model number outside 1–5, and [`Units::RatesHz`] for a weights file without a
    /// calibration, and `chunk_frames = Some(0)` are errors here, before any data is touched.
    pub fn build(self) -> Result<Deconvolver> {
        self.check()?;
        let loaded = match &self.model {
            ModelChoice::Cascade(dir) => Loaded::Cascade(Box::new(load_cascade(dir)?)),
            choice => {
                let model = ElephantModel::load(choice, self.evaluation)?;
                let stored = match *choice {
                    ModelChoice::Embedded(n) => Some(Calibration::embedded(n)?),
                    ModelChoice::EmbeddedEnsemble => Some(Calibration::embedded_ensemble()),
                    _ => None,
                };
                let calibration = self.calibration.or(stored);
                if self.units == Units::RatesHz && calibration.is_none() {
                    return Err(CalciumError::InvalidParameter {
                        name: "calibration",
                        reason: "weights from a file have no stored calibration to Hz: fit one \
                                 on ground truth (Calibration::fit_sets) and pass it"
                            .into(),
                    });
                }
                Loaded::Elephant { model, calibration }
            }
        };
        Ok(Deconvolver {
            params: self,
            loaded,
        })
    }

    /// [`DeconvolverParams::build`] with a CASCADE model already loaded (e.g. by
    /// [`CascadeModel::load_with`], without the `keras-h5` feature); `model` becomes
    /// [`ModelChoice::Cascade`] of its folder.
    pub fn build_with_cascade(mut self, model: CascadeModel) -> Result<Deconvolver> {
        self.model = ModelChoice::Cascade(model.dir().to_path_buf());
        self.check()?;
        Ok(Deconvolver {
            params: self,
            loaded: Loaded::Cascade(Box::new(model)),
        })
    }

    fn check(&self) -> Result<()> {
        if let Some(c) = self.chunk_frames {
            check_chunk_frames(c)?;
        }
        if let Some(c) = &self.calibration
            && !(c.intercept.is_finite() && c.slope.is_finite())
        {
            return Err(CalciumError::InvalidParameter {
                name: "calibration",
                reason: format!("must be finite, got {c:?}"),
            });
        }
        Ok(())
    }
}

/// The model family of a [`DeconvolutionReport`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Family {
    /// Spikefinder-Elephant.
    Elephant,
    /// CASCADE.
    Cascade,
}

/// How the recording's frame rate met the model's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RateHandling {
    /// The recording is at the model's rate (within Elephant's 0.1 Hz or CASCADE's 5 %) and
    /// ran as it is.
    AsIs,
    /// Elephant: within 0.1 Hz of 100 Hz but not equal; ran as if 100 Hz.
    Relabelled,
    /// Fourier-resampled to the model's rate and the output brought back.
    Resampled,
}

/// A neuron without output (all NaN) and why.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SkippedNeuron {
    /// Column index.
    pub neuron: usize,
    /// Why.
    pub reason: Skipped,
}

/// CASCADE's per-neuron choices.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CascadeReport {
    /// The post-processing (`clip`, `none`, `single-spike`).
    pub threshold: String,
    /// The noise level of the ensemble each neuron used.
    pub model_noise_level: Vec<f64>,
    /// The original's warning: the mean noise level exceeds the highest trained level by more
    /// than 2.
    pub above_trained_range: bool,
}

/// What [`Deconvolver::run`] did.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DeconvolutionReport {
    /// The model (`model1`, `ensemble of model1..model5`, a file path, a CASCADE model name).
    pub model: String,
    /// Its family.
    pub family: Family,
    /// The recording's frame rate (Hz).
    pub input_rate_hz: f64,
    /// The model's frame rate (Hz).
    pub model_rate_hz: f64,
    /// The output's frame rate (Hz): the input's.
    pub output_rate_hz: f64,
    /// How the rates met.
    pub rate_handling: RateHandling,
    /// Elephant: the c2s preprocessing ran.
    pub preprocessed: bool,
    /// Frames of input and output.
    pub n_frames: usize,
    /// Frames at the model's rate.
    pub n_model_frames: usize,
    /// Neurons.
    pub n_neurons: usize,
    /// Units of the output.
    pub units: Units,
    /// Elephant with [`Units::RatesHz`]: the calibration used.
    pub calibration: Option<Calibration>,
    /// CASCADE noise level ν per neuron (% · Hz^−½; NaN, written `null`, where undefined), of
    /// the traces the model saw (Elephant: of the input).
    pub noise_levels: Vec<f64>,
    /// CASCADE only.
    pub cascade: Option<CascadeReport>,
    /// Neurons without output.
    pub skipped: Vec<SkippedNeuron>,
}

/// Output of [`Deconvolver::run`].
#[derive(Debug, Clone)]
pub struct Deconvolution {
    /// `[time, neuron]` at the input's frame rate and length, NaN where undefined.
    pub values: Array2<f64>,
    /// What was done.
    pub report: DeconvolutionReport,
}

const STAGES: [&str; 3] = ["to model rate", "predict", "to input rate"];

fn step(observer: &mut dyn Observer, k: usize) -> Result<()> {
    let p = Progress::new("deconvolve", k).with_total(STAGES.len());
    match observer.observe(&p) {
        Flow::Continue => Ok(()),
        Flow::Stop => Err(CalciumError::Stopped { stage: STAGES[k] }),
    }
}

impl Deconvolver {
    /// The parameters.
    pub fn params(&self) -> &DeconvolverParams {
        &self.params
    }

    /// The Elephant model, `None` for CASCADE.
    pub fn elephant(&self) -> Option<&ElephantModel> {
        match &self.loaded {
            Loaded::Elephant { model, .. } => Some(model),
            Loaded::Cascade(_) => None,
        }
    }

    /// The CASCADE model, `None` for Elephant.
    pub fn cascade(&self) -> Option<&CascadeModel> {
        match &self.loaded {
            Loaded::Cascade(m) => Some(m),
            Loaded::Elephant { .. } => None,
        }
    }

    /// Deconvolves `[time, neuron]` traces at their own frame rate (module docs). The
    /// observer hears stage `"deconvolve"`, steps 0–2, after the traces are at the model's
    /// rate, after the prediction and after the way back; [`Flow::Stop`] ends the call with
    /// [`CalciumError::Stopped`].
    pub fn run(
        &self,
        traces: &CalciumTraces,
        observer: &mut dyn Observer,
    ) -> Result<Deconvolution> {
        match &self.loaded {
            Loaded::Elephant { model, calibration } => {
                self.run_elephant(model, *calibration, traces, observer)
            }
            Loaded::Cascade(m) => self.run_cascade(m, traces, observer),
        }
    }

    fn run_elephant(
        &self,
        model: &ElephantModel,
        calibration: Option<Calibration>,
        traces: &CalciumTraces,
        observer: &mut dyn Observer,
    ) -> Result<Deconvolution> {
        let fps = traces.frame_rate_hz();
        let chunk_frames = self.params.chunk_frames;
        let noise_levels = (0..traces.n_neurons())
            .map(|j| match chunk_frames {
                Some(_) => noise_level_bounded(traces.trace(j), fps),
                None => noise_level(&traces.trace(j).to_vec(), fps),
            })
            .collect::<Result<Vec<_>>>()?;
        let pre = Preprocessing::default();
        let resample = (fps - pre.target_rate_hz).abs() > pre.rate_tolerance_hz;
        let preprocessed = resample || self.params.preprocess;
        let (mut y, skipped, n_model_frames) = if let Some(cf) = chunk_frames {
            // The network reads the traces in place (as 100 Hz: the rate is checked above).
            let owned;
            let at_model = if preprocessed {
                owned = pre.apply(traces)?;
                &owned
            } else {
                traces
            };
            step(observer, 0)?;
            let mut y = Array2::from_elem(at_model.data().dim(), f64::NAN);
            let skipped = match model {
                ElephantModel::One(m) => m.predict_into(at_model, cf, &mut y, false)?,
                ElephantModel::Ensemble(e) => e.predict_into(at_model, cf, &mut y)?,
            };
            let skipped = skipped
                .into_iter()
                .map(|(neuron, reason)| SkippedNeuron { neuron, reason })
                .collect();
            (y, skipped, at_model.n_frames())
        } else {
            let at_model = if preprocessed {
                pre.apply(traces)?
            } else {
                traces.clone()
            };
            // The network needs exactly the 100 Hz grid.
            let at_model = CalciumTraces::new(at_model.data().clone(), TARGET_RATE_HZ)?;
            step(observer, 0)?;
            let skipped = (0..at_model.n_neurons())
                .filter_map(|j| {
                    zscore_trace(&at_model.trace(j).to_vec())
                        .err()
                        .map(|reason| SkippedNeuron { neuron: j, reason })
                })
                .collect();
            (model.predict(&at_model)?, skipped, at_model.n_frames())
        };
        let calibration = match self.params.units {
            Units::RatesHz => calibration,
            Units::Network => None,
        };
        if let Some(c) = calibration {
            c.rates_hz_inplace(&mut y, TARGET_RATE_HZ);
        }
        step(observer, 1)?;
        let values = if resample {
            to_input_frames(&y, traces.n_frames(), TARGET_RATE_HZ / fps)
        } else {
            y
        };
        step(observer, 2)?;
        Ok(Deconvolution {
            values,
            report: DeconvolutionReport {
                model: self.params.model.to_string(),
                family: Family::Elephant,
                input_rate_hz: fps,
                model_rate_hz: TARGET_RATE_HZ,
                output_rate_hz: fps,
                rate_handling: if resample {
                    RateHandling::Resampled
                } else if fps != TARGET_RATE_HZ {
                    RateHandling::Relabelled
                } else {
                    RateHandling::AsIs
                },
                preprocessed,
                n_frames: traces.n_frames(),
                n_model_frames,
                n_neurons: traces.n_neurons(),
                units: self.params.units,
                calibration,
                noise_levels,
                cascade: None,
                skipped,
            },
        })
    }

    fn run_cascade(
        &self,
        model: &CascadeModel,
        traces: &CalciumTraces,
        observer: &mut dyn Observer,
    ) -> Result<Deconvolution> {
        let fps = traces.frame_rate_hz();
        let rate = model.config().sampling_rate_hz;
        let resample = self.params.resample && (fps - rate).abs() > 1e-9 * rate;
        let resampled;
        let at_model = if resample {
            let n = (traces.n_frames() as f64 * rate / fps).round() as usize;
            let cols: Vec<Vec<f64>> = (0..traces.n_neurons())
                .map(|j| fft_resample_nan(&traces.data().column(j).to_vec(), n))
                .collect();
            resampled = CalciumTraces::from_columns(&cols, rate)?;
            &resampled
        } else {
            traces
        };
        step(observer, 0)?;
        let opts = PredictOptions {
            threshold: self.params.threshold,
            ..PredictOptions::default()
        };
        let mut p = model.predict(at_model, &opts)?;
        // `[neuron, time]` → `[time, neuron]` in row-major order (the writers of `.npy` and NWB
        // files take it as it is): one transposing copy.
        let mut y = match self.params.units {
            Units::RatesHz => p.rates_hz(),
            Units::Network => std::mem::take(&mut p.spike_prob),
        }
        .reversed_axes()
        .as_standard_layout()
        .into_owned();
        let n_model = at_model.n_frames();
        let window = model.config().arch.window;
        let skipped = (0..at_model.n_neurons())
            .filter(|&j| y.column(j).iter().all(|v| v.is_nan()))
            .map(|j| {
                let valid = at_model.trace(j).iter().filter(|v| v.is_finite()).count();
                let reason = if valid == 0 {
                    Skipped::AllNan
                } else if n_model < window {
                    Skipped::TooShort { frames: valid }
                } else {
                    Skipped::NoCompleteWindow
                };
                SkippedNeuron { neuron: j, reason }
            })
            .collect();
        step(observer, 1)?;
        let values = if resample {
            if self.params.units == Units::Network {
                // Expected spikes per model frame → per input frame.
                y *= rate / fps;
            }
            to_input_frames(&y, traces.n_frames(), rate / fps)
        } else {
            y
        };
        step(observer, 2)?;
        Ok(Deconvolution {
            values,
            report: DeconvolutionReport {
                model: model.config().model_name.clone(),
                family: Family::Cascade,
                input_rate_hz: fps,
                model_rate_hz: rate,
                output_rate_hz: fps,
                rate_handling: if resample {
                    RateHandling::Resampled
                } else {
                    RateHandling::AsIs
                },
                preprocessed: false,
                n_frames: traces.n_frames(),
                n_model_frames: n_model,
                n_neurons: traces.n_neurons(),
                units: self.params.units,
                calibration: None,
                noise_levels: p.noise_levels.clone(),
                cascade: Some(CascadeReport {
                    threshold: self.params.threshold.to_string(),
                    model_noise_level: p.model_noise_level.clone(),
                    above_trained_range: p.above_trained_range,
                }),
                skipped,
            },
        })
    }
}
