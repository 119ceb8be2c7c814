//! One call from a recording to its retraining recommendation: [`Embedding::recommend`].

use std::collections::BTreeMap;

use serde::Serialize;
use spikelab_data::CalciumTraces;

use super::features::{FEATURE_NAMES, FEATURE_RATE_HZ, FEATURE_RATE_TOLERANCE_HZ};
use super::features_of_traces;
use super::model::Embedding;
use super::plan::RetrainingPlan;
use super::tree::TreeEnsemble;
use crate::error::{CalciumError, Result};
use crate::preprocess::Preprocessing;

/// Options of [`Embedding::recommend`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RecommendOptions {
    /// Apply the c2s preprocessing (40-s 5th-percentile baseline, 5/80-percentile
    /// normalisation) before computing the features. Always done, with Fourier resampling to
    /// 100 Hz, when the frame rate is more than 0.1 Hz off 100 Hz; leave it off for
    /// Spikefinder-format data, whose training statistics were computed without it.
    pub preprocess: bool,
    /// How the regression-tree average is formed (default: the exact expectation).
    pub ensemble: TreeEnsemble,
}

/// Where a recording sits in the embedding and what to retrain on (serde, for JSON output).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EmbeddingReport {
    /// Frame rate (Hz) of the traces the features were computed on (100 after resampling).
    pub frame_rate_hz: f64,
    /// The c2s preprocessing ran.
    pub preprocessed: bool,
    /// Number of neurons.
    pub n_neurons: usize,
    /// Duration (s).
    pub duration_s: f64,
    /// The 18 statistics per neuron, by name.
    pub features: Vec<BTreeMap<&'static str, f64>>,
    /// Statistics-space location (mean over neurons).
    pub stats_location: [f64; 2],
    /// Predicted predictive-space location.
    pub predictive_point: [f64; 2],
    /// The tree average used.
    pub tree_ensemble: String,
    /// Training dataset ids.
    pub dataset_ids: Vec<usize>,
    /// Predictive-space distance to each.
    pub distances: Vec<f64>,
    /// Their weights (max 1).
    pub weights: Vec<f64>,
    /// The retraining plan with the original's dataset sizes.
    pub plan: RetrainingPlan,
}

impl Embedding {
    /// Features, location, dataset weights and retraining plan of a recording at any frame
    /// rate (see [`RecommendOptions`]). An all-NaN neuron is [`CalciumError::InvalidInput`].
    ///
    /// ```
    /// # #[cfg(feature = "embedded-weights")] {
    /// use spikelab_calcium::embedding::{Embedding, RecommendOptions};
    /// use spikelab_data::io::csv;
    /// let p = spikelab_datasets::spikefinder_calcium(4, spikelab_datasets::Split::Test)?;
    /// let traces = csv::read_calcium(&p, 100.0)?;
    /// let r = Embedding::embedded()?.recommend(&traces, &RecommendOptions::default())?;
    /// assert_eq!(r.weights.len(), 10);
    /// assert_eq!(r.weights.iter().cloned().fold(0.0, f64::max), 1.0);
    /// println!("{}", serde_json::to_string_pretty(&r)?);
    /// # }
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn recommend(
        &self,
        traces: &CalciumTraces,
        options: &RecommendOptions,
    ) -> Result<EmbeddingReport> {
        let off_rate = (traces.frame_rate_hz() - FEATURE_RATE_HZ).abs() > FEATURE_RATE_TOLERANCE_HZ;
        let preprocessed = options.preprocess || off_rate;
        let traces = if preprocessed {
            Preprocessing::default().apply(traces)?
        } else {
            traces.clone()
        };
        let empty = traces.empty_neurons();
        if !empty.is_empty() {
            return Err(CalciumError::InvalidInput {
                what: format!("neurons {empty:?}"),
                reason: "all NaN; remove them first".into(),
            });
        }
        let features = features_of_traces(&traces)?;
        let location = self.locate(features.view())?;
        let weights = self.dataset_weights(location, options.ensemble)?;
        let plan = RetrainingPlan::from_weights_original_sizes(&weights)?;
        Ok(EmbeddingReport {
            frame_rate_hz: traces.frame_rate_hz(),
            preprocessed,
            n_neurons: traces.n_neurons(),
            duration_s: traces.duration_s(),
            features: features
                .rows()
                .into_iter()
                .map(|r| {
                    FEATURE_NAMES
                        .iter()
                        .copied()
                        .zip(r.iter().copied())
                        .collect()
                })
                .collect(),
            stats_location: location,
            predictive_point: weights.predictive_point,
            tree_ensemble: match options.ensemble {
                TreeEnsemble::Expected => "exact tree-ensemble expectation".into(),
                TreeEnsemble::Sampled { fits, seed } => format!("{fits} sampled fits, seed {seed}"),
            },
            dataset_ids: weights.dataset_ids,
            distances: weights.distances,
            weights: weights.weights,
            plan,
        })
    }
}
