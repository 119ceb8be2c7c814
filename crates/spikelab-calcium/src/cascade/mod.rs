//! **CASCADE** (Rupprecht et al. 2021, *Nat Neurosci* 24:1324–1337; code
//! `HelmchenLabSoftware/Cascade`, GPL-3.0): calcium → spike inference with a zoo of pretrained
//! 1-D CNNs by indicator and frame rate, 5-member ensembles per noise level and calibrated
//! outputs (expected spikes per frame), without TensorFlow.
//!
//! **Method** (`cascade2p.predict`, reproduced exactly; golden tests ≤ 1e-5):
//!
//! 1. Input: ΔF/F as a fraction, `[neuron, time]`, at the model's frame rate `f` (no
//!    resampling; [`CascadeModel::predict`] refuses rates more than 5 % off).
//! 2. Noise level per neuron `ν = 100 · nanmedian|x[t+1] − x[t]| / √f` (% · Hz^−1/2).
//! 3. Each neuron uses the ensemble of the nearest configured level `argmin_k |ν − L_k|`
//!    (outer bins open-ended; ties to the lower level; NaN ν → the first level).
//! 4. Every window `x[t−s … t−s+63]` (s = ⌊before_frac·64 − 1⌋ = 31) goes through each
//!    member's float32 [`crate::spikenet::Conv1dSpikeNet`] (`Conv1D(30,31) → Conv1D(40,19) →
//!    MaxPool → Conv1D(50,5) → MaxPool → Dense(30) → Dense(1)`, 35 441 weights), evaluated
//!    fully-convolutionally over the whole trace; the outputs divided by the member count are
//!    summed in float64.
//! 5. Post-processing ([`Threshold`]): clip negatives (default), keep them, or zero everything
//!    outside the dilated mask `Y > θ`, θ = peak of a Gaussian-smoothed single spike / e.
//! 6. The first ⌊before_frac·64⌋ = 32 and last 32 frames are padding (NaN). A window whose
//!    NaN samples are not all at its first or last position gives NaN, as TensorFlow 2.15's
//!    float32 evaluation does (NaN-skipping max pool).
//!
//! Output alignment follows the inference code: the window starting at `s` is written to
//! frame `s + 31`, one frame earlier than training paired it with its target (`s + 32`).
//!
//! Models load from a folder as CASCADE stores them ([`CascadeModel::load`]): a `config.yaml`
//! (every key checked, see [`CascadeConfig`]) and `Model_NoiseLevel_<L>_Ensemble_<k>.h5`
//! files (Keras HDF5, read without TensorFlow). [`zoo`] lists the bundled and published models;
//! [`train`] trains a model for a frame rate from CASCADE ground truth and
//! [`CascadeModel::save`] writes it as such a folder.

pub mod config;
pub mod model;
pub mod train;
pub mod zoo;

pub use config::CascadeConfig;
pub use model::{
    CascadeModel, CascadePrediction, PredictOptions, Threshold, check_frame_rate,
    single_spike_threshold,
};
