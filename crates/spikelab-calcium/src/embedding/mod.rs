//! Statistical embedding of calcium recordings (Rupprecht & Gerhard, Spikefinder 2017).
//!
//! Spikefinder-Elephant refines its base CNN for a new recording by retraining it mostly on
//! the training datasets that "look like" the recording. "Look like" is decided in two 2-D
//! spaces:
//!
//! * the **predictive embedding**: where single-neuron CNNs of each training dataset predict
//!   each other's spikes well ([`predictive_embedding`], from the shipped confusion matrix);
//! * the **statistics embedding**: a PCA of 18 trace statistics per neuron ([`features`]:
//!   var/mean, kurtosis, skewness, circular autocorrelation at 0.5/1/2 s, generalized Hurst
//!   exponents H(1..5), seven Welch-spectrum levels between 0 and 3.6 Hz), z-scored with the
//!   training statistics ([`Embedding`]).
//!
//! A new recording only has statistics, so two depth-7 mean-absolute-error regression trees
//! ([`MaeTreeMap`]), averaged over their random tie-breaking ([`TreeEnsemble`]), map its
//! statistics location into predictive space. Distances there become dataset weights
//! `exp(−d/3.5)` ([`Embedding::dataset_weights`]), and the weights plus per-dataset size
//! equalisation become a [`RetrainingPlan`] that the CNN training code executes.
//! [`Embedding::recommend`] does all of it for one recording and returns an
//! [`EmbeddingReport`].
//!
//! Reference: P. Rupprecht & S. Gerhard, "Spikefinder-Elephant" (Spikefinder challenge 2017,
//! 3rd of 37 entries), in P. Berens et al., *Community-based benchmarking improves spike rate
//! inference from two-photon calcium imaging data*, PLoS Comput Biol 14(5):e1006157 (2018);
//! code `PTRRupprecht/Spikefinder-Elephant` (MIT). Every quirk kept or changed is listed in
//! `docs/calcium-embedding.md`.
//!
//! ```
//! use spikelab_calcium::embedding::{Embedding, RetrainingPlan, TreeEnsemble};
//! use spikelab_data::io::csv;
//! use spikelab_datasets as datasets;
//! let emb = Embedding::embedded()?;
//! let traces = csv::read_calcium(&datasets::spikefinder_calcium(4, datasets::Split::Test)?, 100.0)?;
//! let location = emb.locate_traces(&traces)?;
//! let weights = emb.dataset_weights(location, TreeEnsemble::Expected)?;
//! let plan = RetrainingPlan::from_weights_original_sizes(&weights)?;
//! println!("{:?}", plan.entries);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod features;
mod hurst;
mod model;
mod numeric;
mod plan;
mod predictive;
mod psd;
mod recommend;
mod tree;

pub use features::{
    FEATURE_NAMES, FEATURE_RATE_HZ, FEATURE_RATE_TOLERANCE_HZ, MIN_FEATURE_SAMPLES, N_FEATURES,
    features, features_of_traces,
};
pub use hurst::generalized_hurst;
pub use model::{
    DatasetWeights, Embedding, EmbeddingParts, TREE_MAX_DEPTH, WEIGHT_DECAY_LENGTH,
    weights_from_distances,
};
pub use plan::{
    EFFECTIVE_RETRAINING_LR, INTENDED_RETRAINING_LR, ORIGINAL_DATASET_SIZES, PlanEntry,
    RetrainingPlan,
};
pub use predictive::{PredictiveEmbedding, predictive_embedding};
pub use psd::{WELCH_NOVERLAP, WELCH_NPERSEG};
pub use recommend::{EmbeddingReport, RecommendOptions};
pub use spikelab_core::pca::Pca;
pub use tree::{MaeTreeMap, TreeEnsemble};
