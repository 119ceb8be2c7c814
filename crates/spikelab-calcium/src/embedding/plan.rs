//! The weighted, size-equalised retraining plan (Spikefinder-Elephant `demo.py` Part II and
//! `4_ToSpaceAndBack.py`), as data for the CNN training code to consume.

use serde::{Deserialize, Serialize};

use super::model::DatasetWeights;
use crate::error::{CalciumError, Result};

/// Number of training windows of Spikefinder training datasets 1–10 in the original
/// (`dataset_sizes` of the original scripts).
pub const ORIGINAL_DATASET_SIZES: [usize; 10] = [
    740_777, 672_625, 563_966, 165_048, 149_976, 171_687, 875_247, 486_090, 584_103, 697_437,
];

/// Learning rate the original **intended** for retraining (`model.optimizer.lr.assign(0.0033)`).
pub const INTENDED_RETRAINING_LR: f64 = 0.0033;
/// Learning rate the original **effectively** used: the assign op above was never run under
/// Keras 2.0 / TF1 graph mode, and the saved retrained model still reports Adagrad lr 0.01.
pub const EFFECTIVE_RETRAINING_LR: f64 = 0.01;

/// One training dataset's share of every retraining iteration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlanEntry {
    /// Training dataset id.
    pub dataset_id: usize,
    /// Embedding weight `w_d` (max 1).
    pub weight: f64,
    /// Size equalisation `min(sizes)/size_d`.
    pub size_factor: f64,
    /// Number of windows the dataset has (`size_d`).
    pub n_windows: usize,
    /// Windows to take per iteration: `floor(n_windows · weight · size_factor)`, i.e. about
    /// `weight · min(sizes)`.
    pub n_take: usize,
}

/// What to train on when refining the base CNN for one target recording.
///
/// Each of `iterations` iterations: for every entry, rebuild all windows of that dataset
/// (freshly shuffled with a new seed), keep the **first** `n_take` of them, concatenate all
/// datasets' windows, and train **one epoch** (batch `batch_size`, MSE, Adagrad). Start from
/// `model1.h5`'s weights with zeroed Adagrad accumulators (as `demo.py`; the batch script
/// `4_ToSpaceAndBack.py` carried them over between target datasets, which we do not copy).
/// The learning rate is [`EFFECTIVE_RETRAINING_LR`] (what the original ran), with
/// [`INTENDED_RETRAINING_LR`] as the documented alternative.
///
/// The plan is plain data (serde-serialisable); the CNN training code consumes it. It does not
/// assume which datasets are available: build it from the datasets you have windows for.
///
/// ```
/// use spikelab_calcium::embedding::RetrainingPlan;
/// // Three datasets with 100k, 50k and 200k windows and embedding weights 1, 0.5, 0.1.
/// let plan = RetrainingPlan::new(&[4, 5, 6], &[1.0, 0.5, 0.1], &[100_000, 50_000, 200_000])?;
/// let take: Vec<usize> = plan.entries.iter().map(|e| e.n_take).collect();
/// assert_eq!(take, vec![50_000, 25_000, 5_000]);
/// assert_eq!(plan.iterations, 5);
/// assert_eq!(plan.windows_per_iteration(), 80_000);
/// # Ok::<(), spikelab_calcium::CalciumError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RetrainingPlan {
    /// Per-dataset shares.
    pub entries: Vec<PlanEntry>,
    /// Number of iterations (the original: 5), each one epoch over freshly drawn windows.
    pub iterations: usize,
    /// Epochs per iteration (the original: 1).
    pub epochs_per_iteration: usize,
    /// Mini-batch size (the original: 256).
    pub batch_size: usize,
    /// Adagrad learning rate (default [`EFFECTIVE_RETRAINING_LR`]).
    pub learning_rate: f64,
    /// Whether the Adagrad accumulators start at zero (`demo.py`: yes).
    pub reset_optimizer: bool,
}

impl RetrainingPlan {
    /// Builds the plan from per-dataset weights and window counts (all three slices in the
    /// same order), with the original's defaults for the schedule.
    ///
    /// Errors: mismatched lengths, no datasets, a weight outside `[0, 1]` or non-finite, a
    /// window count of 0.
    pub fn new(dataset_ids: &[usize], weights: &[f64], n_windows: &[usize]) -> Result<Self> {
        if dataset_ids.is_empty()
            || dataset_ids.len() != weights.len()
            || weights.len() != n_windows.len()
        {
            return Err(CalciumError::InvalidInput {
                what: "retraining plan".into(),
                reason: format!(
                    "need equally many (≥ 1) dataset ids, weights and window counts, got {}, {}, {}",
                    dataset_ids.len(),
                    weights.len(),
                    n_windows.len()
                ),
            });
        }
        if let Some(w) = weights
            .iter()
            .find(|w| !(w.is_finite() && (0.0..=1.0).contains(*w)))
        {
            return Err(CalciumError::InvalidInput {
                what: "retraining plan".into(),
                reason: format!("weights must lie in [0, 1], got {w}"),
            });
        }
        if n_windows.contains(&0) {
            return Err(CalciumError::InvalidInput {
                what: "retraining plan".into(),
                reason: "a dataset has no windows".into(),
            });
        }
        let min = *n_windows.iter().min().expect("non-empty") as f64;
        let entries = dataset_ids
            .iter()
            .zip(weights)
            .zip(n_windows)
            .map(|((&dataset_id, &weight), &n)| {
                let size_factor = min / n as f64;
                PlanEntry {
                    dataset_id,
                    weight,
                    size_factor,
                    n_windows: n,
                    // int(X.shape[0] * w * frac): left to right, truncated.
                    n_take: (n as f64 * weight * size_factor) as usize,
                }
            })
            .collect();
        Ok(RetrainingPlan {
            entries,
            iterations: 5,
            epochs_per_iteration: 1,
            batch_size: 256,
            learning_rate: EFFECTIVE_RETRAINING_LR,
            reset_optimizer: true,
        })
    }

    /// The plan for the original's ten training datasets and window counts
    /// ([`ORIGINAL_DATASET_SIZES`]), from an embedding's weights for datasets 1–10.
    pub fn from_weights_original_sizes(weights: &DatasetWeights) -> Result<Self> {
        if weights.dataset_ids != (1..=10).collect::<Vec<_>>() {
            return Err(CalciumError::InvalidInput {
                what: "retraining plan".into(),
                reason: format!(
                    "the original sizes are for datasets 1–10, got ids {:?}",
                    weights.dataset_ids
                ),
            });
        }
        Self::new(
            &weights.dataset_ids,
            &weights.weights,
            &ORIGINAL_DATASET_SIZES,
        )
    }

    /// Windows per iteration over all datasets.
    pub fn windows_per_iteration(&self) -> usize {
        self.entries.iter().map(|e| e.n_take).sum()
    }

    /// Windows to take from a dataset that turned out to have `n_windows` windows when rebuilt
    /// (e.g. a different window count than planned): `floor(n_windows · weight · size_factor)`.
    /// `None` if the dataset is not in the plan.
    pub fn take_from(&self, dataset_id: usize, n_windows: usize) -> Option<usize> {
        self.entries
            .iter()
            .find(|e| e.dataset_id == dataset_id)
            .map(|e| (n_windows as f64 * e.weight * e.size_factor) as usize)
    }
}
