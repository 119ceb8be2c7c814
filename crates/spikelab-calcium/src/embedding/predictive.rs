//! The predictive embedding: from the single-neuron confusion matrix to 2-D dataset locations
//! (Spikefinder-Elephant `2_Generate_embedding_spaces.py`).

use ndarray::{Array2, ArrayView2};

use super::numeric::{pairwise_sum, percentile, percentile_sorted, sorted};
use crate::error::{CalciumError, Result};
use spikelab_core::pca::Pca;

/// Result of [`predictive_embedding`].
#[derive(Debug, Clone, PartialEq)]
pub struct PredictiveEmbedding {
    /// `predicting_quality[k]` of every neuron's model.
    pub predicting_quality: Vec<f64>,
    /// 0-based indices of the neurons kept (quality above the 5th percentile).
    pub good_neurons: Vec<usize>,
    /// Location of each dataset (in order of increasing dataset id) in the predictive space.
    pub locations: Vec<[f64; 2]>,
    /// Dataset ids, in the order of `locations`.
    pub dataset_ids: Vec<usize>,
    /// Fraction of variance explained by the two components.
    pub explained_variance_ratio: [f64; 2],
}

/// Builds the predictive embedding from a confusion matrix of single-neuron models.
///
/// `confusion` is `[target neuron, model neuron]` (square; the original's `Confusion_later`,
/// Pearson r of model *column* applied to neuron *row*), `dataset_of_neuron[i]` is neuron `i`'s
/// dataset id. Steps (reproducing the shipped artefacts, including two quirks of the Python
/// original):
///
/// 1. Divide each column by its mean (per model). **Quirk kept:** the original aliases the
///    matrix, so step 2 also sees the column-normalised values.
/// 2. Zero the diagonal, divide each row by its 98th percentile; for each model `k`, rank it in
///    every row (**ascending**, another quirk: the MATLAB original sorted descending) and set
///    `quality[k] = 1/(1 + mean of the 10 smallest ranks)`.
/// 3. Keep the neurons whose quality is strictly above the 5th percentile.
/// 4. Restrict the column-normalised matrix to them, replace each dataset×dataset block by its
///    mean, symmetrise (`M + Mᵀ`), run a 2-component [`Pca`] on the rows (neurons) and average
///    the scores per dataset.
///
/// ```
/// use spikelab_calcium::embedding::predictive_embedding;
/// use spikelab_data::io::mat;
/// use spikelab_datasets as datasets;
/// let file = datasets::elephant_stat_embedding("Confusion.mat")?;
/// let c = mat::read_matrix(&file, "Confusion_later")?;
/// let ds: Vec<usize> = mat::read_matrix(&file, "DaSet")?.iter().map(|&v| v as usize).collect();
/// let emb = predictive_embedding(c.view(), &ds)?;
/// assert_eq!(emb.good_neurons.len(), 165);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn predictive_embedding(
    confusion: ArrayView2<'_, f64>,
    dataset_of_neuron: &[usize],
) -> Result<PredictiveEmbedding> {
    let n = confusion.nrows();
    if confusion.ncols() != n || dataset_of_neuron.len() != n || n < 20 {
        return Err(CalciumError::InvalidInput {
            what: "confusion matrix".into(),
            reason: format!(
                "must be square [target, model] with one dataset id per neuron and ≥ 20 \
                 neurons, got {:?} and {} ids",
                confusion.dim(),
                dataset_of_neuron.len()
            ),
        });
    }
    if confusion.iter().any(|v| !v.is_finite()) {
        return Err(CalciumError::InvalidInput {
            what: "confusion matrix".into(),
            reason: "contains a non-finite value".into(),
        });
    }
    // 1. Column normalisation (per model).
    let mut cn = confusion.to_owned();
    for j in 0..n {
        let col: Vec<f64> = cn.column(j).to_vec();
        let m = pairwise_sum(&col) / n as f64;
        cn.column_mut(j).mapv_inplace(|v| v / m);
    }
    // 2. Predicting quality.
    let mut cx = cn.clone();
    for k in 0..n {
        cx[[k, k]] -= cn[[k, k]];
    }
    for k in 0..n {
        let p98 = percentile(&cx.row(k).to_vec(), 98.0);
        cx.row_mut(k).mapv_inplace(|v| v / p98);
    }
    let mut quality = vec![0.0; n];
    // rank[j][k] = position of k in the ascending (stable) sort of row j.
    let mut rank = Array2::<f64>::zeros((n, n));
    for j in 0..n {
        let row = cx.row(j);
        let mut order: Vec<usize> = (0..n).collect();
        order.sort_by(|&a, &b| row[a].total_cmp(&row[b]));
        for (pos, &k) in order.iter().enumerate() {
            rank[[j, k]] = pos as f64;
        }
    }
    for (k, q) in quality.iter_mut().enumerate() {
        let pos = sorted(&rank.column(k).to_vec());
        *q = 1.0 / (1.0 + pairwise_sum(&pos[..10]) / 10.0);
    }
    // 3. Good neurons.
    let p5 = percentile_sorted(&sorted(&quality), 5.0);
    let good: Vec<usize> = (0..n).filter(|&k| quality[k] > p5).collect();
    // 4. Block means over dataset pairs, symmetrise, PCA.
    let g = good.len();
    let ds: Vec<usize> = good.iter().map(|&k| dataset_of_neuron[k]).collect();
    let mut ids = ds.clone();
    ids.sort_unstable();
    ids.dedup();
    let mut cxx = Array2::from_shape_fn((g, g), |(a, b)| cn[[good[a], good[b]]]);
    let members: Vec<Vec<usize>> = ids
        .iter()
        .map(|&d| (0..g).filter(|&i| ds[i] == d).collect())
        .collect();
    for r in &members {
        for c in &members {
            let block: Vec<f64> = r
                .iter()
                .flat_map(|&i| c.iter().map(move |&j| (i, j)))
                .map(|(i, j)| cxx[[i, j]])
                .collect();
            let m = pairwise_sum(&block) / block.len() as f64;
            for &i in r {
                for &j in c {
                    cxx[[i, j]] = m;
                }
            }
        }
    }
    let sym = &cxx.t() + &cxx;
    let pca = Pca::fit(sym.view(), 2)?;
    let scores = pca.transform(sym.view())?;
    let locations = members
        .iter()
        .map(|r| {
            let mut acc = [0.0; 2];
            for &i in r {
                acc[0] += scores[[i, 0]];
                acc[1] += scores[[i, 1]];
            }
            [acc[0] / r.len() as f64, acc[1] / r.len() as f64]
        })
        .collect();
    let evr = pca.explained_variance_ratio();
    Ok(PredictiveEmbedding {
        predicting_quality: quality,
        good_neurons: good,
        locations,
        dataset_ids: ids,
        explained_variance_ratio: [evr[0], evr[1]],
    })
}
