//! The fitted statistical embedding and the statistics → predictive map.

use std::path::Path;

use ndarray::{Array2, ArrayView2};
use spikelab_data::CalciumTraces;
use spikelab_data::io::mat::MatFile;

use super::features::{N_FEATURES, features_of_traces};
use super::numeric::{mean, median, std};
use super::tree::{MaeTreeMap, TreeEnsemble};
use crate::error::{CalciumError, Result};
use spikelab_core::pca::Pca;

/// Depth of the two regression trees of the original map.
pub const TREE_MAX_DEPTH: usize = 7;
/// Length scale of the distance → weight decay `exp(−d/3.5)` (predictive-space units).
pub const WEIGHT_DECAY_LENGTH: f64 = 3.5;

/// Everything needed to build an [`Embedding`] (the content of the shipped artefacts).
#[derive(Debug, Clone, PartialEq)]
pub struct EmbeddingParts {
    /// Raw features of the training neurons, `[neuron, feature]` (18 columns):
    /// `Parameters174temp`.
    pub training_features: Array2<f64>,
    /// Dataset id of each training neuron (`DasetS`), e.g. 1..=10.
    pub dataset_of_neuron: Vec<usize>,
    /// 0-based indices of the neurons used for the PCA (`goodindizes`).
    pub good_neurons: Vec<usize>,
    /// Predictive-space location of each dataset, in increasing dataset-id order
    /// (`embedding_2D_predictions`).
    pub predictive_locations: Vec<[f64; 2]>,
}

/// The statistical embedding of Spikefinder-Elephant, fitted from the training artefacts.
///
/// * **Statistics space.** Features are z-scored with the mean and population std of all
///   training neurons. Restricted to the good neurons, each neuron's z-scores are replaced by
///   its dataset mean, and a 2-component [`Pca`] (u-based sign rule) is fitted; a dataset's
///   location ([`Embedding::stats_locations`]) is the median of its rows' scores.
/// * **Map.** Two depth-7 MAE regression trees (one per coordinate) map statistics-space
///   locations of the training datasets to their predictive-space locations
///   ([`Embedding::predictive_locations`]); their ensemble average ([`TreeEnsemble`]) places a
///   new recording in predictive space.
/// * **Weights.** Distances to the training datasets there become weights `exp(−d/3.5)`,
///   scaled to a maximum of 1 ([`Embedding::dataset_weights`]).
///
/// ```
/// use spikelab_calcium::embedding::{Embedding, TreeEnsemble};
/// let emb = Embedding::embedded()?;
/// // Test dataset 1 sits here in statistics space (`embedding_2D_stats33[0]`).
/// let w = emb.dataset_weights([0.7701, 0.0797], TreeEnsemble::Expected)?;
/// assert_eq!(w.weights.len(), 10);
/// assert!((w.weights[8] - 1.0).abs() < 1e-12); // closest: training dataset 9
/// # Ok::<(), spikelab_calcium::CalciumError>(())
/// ```
#[derive(Debug, Clone)]
pub struct Embedding {
    parts: EmbeddingParts,
    feature_mean: [f64; N_FEATURES],
    feature_std: [f64; N_FEATURES],
    dataset_ids: Vec<usize>,
    pca: Pca,
    stats_locations: Vec<[f64; 2]>,
    map: MaeTreeMap,
}

fn artefact_err(what: &str, reason: impl Into<String>) -> CalciumError {
    CalciumError::InvalidInput {
        what: format!("embedding artefact {what}"),
        reason: reason.into(),
    }
}

impl Embedding {
    /// Fits the embedding from its parts (validated).
    pub fn new(parts: EmbeddingParts) -> Result<Self> {
        let f = &parts.training_features;
        let n = f.nrows();
        if f.ncols() != N_FEATURES {
            return Err(artefact_err(
                "training_features",
                format!("must be [neuron, 18], got {:?}", f.dim()),
            ));
        }
        if f.iter().any(|v| !v.is_finite()) {
            return Err(artefact_err(
                "training_features",
                "contains a non-finite value",
            ));
        }
        if parts.dataset_of_neuron.len() != n {
            return Err(artefact_err(
                "dataset_of_neuron",
                format!("{} ids for {n} neurons", parts.dataset_of_neuron.len()),
            ));
        }
        if parts.good_neurons.iter().any(|&i| i >= n) || parts.good_neurons.len() < 3 {
            return Err(artefact_err(
                "good_neurons",
                format!("needs ≥ 3 indices below {n}"),
            ));
        }
        let mut ids: Vec<usize> = parts
            .good_neurons
            .iter()
            .map(|&i| parts.dataset_of_neuron[i])
            .collect();
        ids.sort_unstable();
        ids.dedup();
        if ids.len() != parts.predictive_locations.len() || ids.len() < 2 {
            return Err(artefact_err(
                "predictive_locations",
                format!(
                    "{} locations for {} datasets among the good neurons",
                    parts.predictive_locations.len(),
                    ids.len()
                ),
            ));
        }
        let mut feature_mean = [0.0; N_FEATURES];
        let mut feature_std = [0.0; N_FEATURES];
        for k in 0..N_FEATURES {
            let col = f.column(k).to_vec();
            feature_mean[k] = mean(&col);
            feature_std[k] = std(&col);
            if feature_std[k].is_nan() || feature_std[k] <= 0.0 {
                return Err(artefact_err(
                    "training_features",
                    format!("feature {k} is constant over the training neurons"),
                ));
            }
        }
        // z-score, keep good neurons, replace by dataset means.
        let good = &parts.good_neurons;
        let ds: Vec<usize> = good.iter().map(|&i| parts.dataset_of_neuron[i]).collect();
        let mut xx = Array2::from_shape_fn((good.len(), N_FEATURES), |(r, k)| {
            (f[[good[r], k]] - feature_mean[k]) / feature_std[k]
        });
        for &d in &ids {
            let rows: Vec<usize> = (0..good.len()).filter(|&r| ds[r] == d).collect();
            for k in 0..N_FEATURES {
                let vals: Vec<f64> = rows.iter().map(|&r| xx[[r, k]]).collect();
                let m = mean(&vals);
                for &r in &rows {
                    xx[[r, k]] = m;
                }
            }
        }
        let pca = Pca::fit(xx.view(), 2)?;
        let scores = pca.transform(xx.view())?;
        let stats_locations: Vec<[f64; 2]> = ids
            .iter()
            .map(|&d| {
                let rows: Vec<usize> = (0..good.len()).filter(|&r| ds[r] == d).collect();
                let c0: Vec<f64> = rows.iter().map(|&r| scores[[r, 0]]).collect();
                let c1: Vec<f64> = rows.iter().map(|&r| scores[[r, 1]]).collect();
                [median(&c0), median(&c1)]
            })
            .collect();
        let map = MaeTreeMap::new(
            stats_locations.iter().map(|p| p.to_vec()).collect(),
            parts
                .predictive_locations
                .iter()
                .map(|p| p.to_vec())
                .collect(),
            TREE_MAX_DEPTH,
        )?;
        Ok(Embedding {
            parts,
            feature_mean,
            feature_std,
            dataset_ids: ids,
            pca,
            stats_locations,
            map,
        })
    }

    /// Loads the artefacts from a folder holding `Parameters174py.mat` (`Parameters174temp`,
    /// `DasetS`) and `embedding_spacesX.mat` (`goodindizes`, `embedding_2D_predictions`).
    pub fn from_artefacts(dir: &Path) -> Result<Self> {
        use spikelab_data::io::mat::read_mat;
        Self::from_mat_files(
            &read_mat(&dir.join("Parameters174py.mat"))?,
            &read_mat(&dir.join("embedding_spacesX.mat"))?,
        )
    }

    /// Builds from the two parsed artefact files (`Parameters174py.mat`,
    /// `embedding_spacesX.mat`); see [`Embedding::from_artefacts`].
    pub fn from_mat_files(p174: &MatFile, spaces: &MatFile) -> Result<Self> {
        let training_features = p174.matrix("Parameters174temp")?;
        let dataset_of_neuron = as_ids(&p174.matrix("DasetS")?, "DasetS")?;
        let good_neurons = as_ids(&spaces.matrix("goodindizes")?, "goodindizes")?;
        let pred = spaces.matrix("embedding_2D_predictions")?;
        if pred.ncols() != 2 {
            return Err(artefact_err(
                "embedding_2D_predictions",
                format!("must be [dataset, 2], got {:?}", pred.dim()),
            ));
        }
        let predictive_locations = pred.rows().into_iter().map(|r| [r[0], r[1]]).collect();
        Self::new(EmbeddingParts {
            training_features,
            dataset_of_neuron,
            good_neurons,
            predictive_locations,
        })
    }

    /// The original's artefacts (Spikefinder-Elephant `statEmbedding/`, MIT), compiled into the
    /// library (feature `embedded-weights`, 58 kB).
    #[cfg(feature = "embedded-weights")]
    pub fn embedded() -> Result<Self> {
        let p174 = MatFile::from_bytes(
            include_bytes!("../../pretrained/Parameters174py.mat"),
            Path::new("<embedded>/Parameters174py.mat"),
        )?;
        let spaces = MatFile::from_bytes(
            include_bytes!("../../pretrained/embedding_spacesX.mat"),
            Path::new("<embedded>/embedding_spacesX.mat"),
        )?;
        Self::from_mat_files(&p174, &spaces)
    }

    /// The parts the embedding was built from.
    pub fn parts(&self) -> &EmbeddingParts {
        &self.parts
    }

    /// Training mean of each feature (over all training neurons).
    pub fn feature_mean(&self) -> &[f64; N_FEATURES] {
        &self.feature_mean
    }

    /// Training population std of each feature.
    pub fn feature_std(&self) -> &[f64; N_FEATURES] {
        &self.feature_std
    }

    /// The statistics-space PCA (18 z-scored features → 2).
    pub fn pca(&self) -> &Pca {
        &self.pca
    }

    /// Dataset ids (ascending), the order of all per-dataset outputs.
    pub fn dataset_ids(&self) -> &[usize] {
        &self.dataset_ids
    }

    /// Statistics-space location of each training dataset (`embedding_2D_stats`).
    pub fn stats_locations(&self) -> &[[f64; 2]] {
        &self.stats_locations
    }

    /// Predictive-space location of each training dataset (`embedding_2D_predictions`).
    pub fn predictive_locations(&self) -> &[[f64; 2]] {
        &self.parts.predictive_locations
    }

    /// z-scores raw features (`[neuron, 18]`) with the training mean and std.
    pub fn standardize(&self, features: ArrayView2<'_, f64>) -> Result<Array2<f64>> {
        check_features(features)?;
        Ok(Array2::from_shape_fn(features.dim(), |(r, k)| {
            (features[[r, k]] - self.feature_mean[k]) / self.feature_std[k]
        }))
    }

    /// Statistics-space location of a recording from **already z-scored** features
    /// (`[neuron, 18]`, e.g. the shipped `Parameters32` transposed): the mean of the
    /// neurons' PCA scores.
    pub fn locate_standardized(&self, z: ArrayView2<'_, f64>) -> Result<[f64; 2]> {
        check_features(z)?;
        let s = self.pca.transform(z)?;
        let c0: Vec<f64> = s.column(0).to_vec();
        let c1: Vec<f64> = s.column(1).to_vec();
        Ok([mean(&c0), mean(&c1)])
    }

    /// Statistics-space location of a recording from raw features (`[neuron, 18]`, see
    /// [`features`](super::features)): standardise, project, average over neurons (the demo's
    /// `P1mean`).
    pub fn locate(&self, features: ArrayView2<'_, f64>) -> Result<[f64; 2]> {
        self.locate_standardized(self.standardize(features)?.view())
    }

    /// Statistics-space location of a 100-Hz recording (features of every neuron, then
    /// [`Embedding::locate`]).
    pub fn locate_traces(&self, traces: &CalciumTraces) -> Result<[f64; 2]> {
        self.locate(features_of_traces(traces)?.view())
    }

    /// Maps a statistics-space location to predictive space with the tree ensemble.
    pub fn map_to_predictive(
        &self,
        location: [f64; 2],
        ensemble: TreeEnsemble,
    ) -> Result<[f64; 2]> {
        let p = self.map.predict(&location, ensemble)?;
        Ok([p[0], p[1]])
    }

    /// Weights of the training datasets for a recording at `location` (statistics space).
    pub fn dataset_weights(
        &self,
        location: [f64; 2],
        ensemble: TreeEnsemble,
    ) -> Result<DatasetWeights> {
        let predictive_point = self.map_to_predictive(location, ensemble)?;
        let distances: Vec<f64> = self
            .parts
            .predictive_locations
            .iter()
            .map(|q| {
                ((predictive_point[0] - q[0]).powi(2) + (predictive_point[1] - q[1]).powi(2)).sqrt()
            })
            .collect();
        let weights = weights_from_distances(&distances, WEIGHT_DECAY_LENGTH)?;
        Ok(DatasetWeights {
            dataset_ids: self.dataset_ids.clone(),
            stats_location: location,
            predictive_point,
            distances,
            weights,
        })
    }
}

/// How much each training dataset should count when retraining for one target recording.
#[derive(Debug, Clone, PartialEq)]
pub struct DatasetWeights {
    /// Training dataset ids, in the order of the other vectors.
    pub dataset_ids: Vec<usize>,
    /// The recording's statistics-space location.
    pub stats_location: [f64; 2],
    /// Its predicted predictive-space location.
    pub predictive_point: [f64; 2],
    /// Euclidean distance to each training dataset in predictive space.
    pub distances: Vec<f64>,
    /// `exp(−d/3.5)`, scaled so that the largest weight is 1.
    pub weights: Vec<f64>,
}

/// Weights `exp(−d/decay_length)`, divided by their maximum (so the closest dataset gets 1).
///
/// ```
/// use spikelab_calcium::embedding::weights_from_distances;
/// let w = weights_from_distances(&[0.0, 3.5, 7.0], 3.5)?;
/// assert_eq!(w[0], 1.0);
/// assert!((w[1] - (-1.0f64).exp()).abs() < 1e-15);
/// assert!(weights_from_distances(&[1.0, f64::NAN], 3.5).is_err());
/// # Ok::<(), spikelab_calcium::CalciumError>(())
/// ```
pub fn weights_from_distances(distances: &[f64], decay_length: f64) -> Result<Vec<f64>> {
    if !(decay_length.is_finite() && decay_length > 0.0) {
        return Err(CalciumError::InvalidParameter {
            name: "decay_length",
            reason: format!("must be finite and > 0, got {decay_length}"),
        });
    }
    if distances.is_empty() || distances.iter().any(|d| !(d.is_finite() && *d >= 0.0)) {
        return Err(CalciumError::InvalidInput {
            what: "distances".into(),
            reason: "need at least one finite, non-negative distance".into(),
        });
    }
    let w: Vec<f64> = distances
        .iter()
        .map(|d| (-d / decay_length).exp())
        .collect();
    let max = w.iter().copied().fold(0.0, f64::max);
    if max <= 0.0 {
        return Err(CalciumError::InvalidInput {
            what: "distances".into(),
            reason: "all weights underflow to 0; use a larger decay length".into(),
        });
    }
    Ok(w.iter().map(|v| v / max).collect())
}

fn check_features(f: ArrayView2<'_, f64>) -> Result<()> {
    if f.ncols() != N_FEATURES || f.nrows() == 0 {
        return Err(CalciumError::InvalidInput {
            what: "features".into(),
            reason: format!("must be [neuron, 18] with ≥ 1 neuron, got {:?}", f.dim()),
        });
    }
    if f.iter().any(|v| !v.is_finite()) {
        return Err(CalciumError::InvalidInput {
            what: "features".into(),
            reason: "contains a non-finite value".into(),
        });
    }
    Ok(())
}

fn as_ids(a: &Array2<f64>, name: &str) -> Result<Vec<usize>> {
    a.iter()
        .map(|&v| {
            if v.fract() == 0.0 && (0.0..1e9).contains(&v) {
                Ok(v as usize)
            } else {
                Err(artefact_err(
                    name,
                    format!("not a non-negative integer: {v}"),
                ))
            }
        })
        .collect()
}
