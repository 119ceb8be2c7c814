//! Spike features and unit curation: PCA of waveform snippets, and merging of units whose
//! templates are the same waveform.
//!
//! **Features.** Each snippet (`[sample, channel]`, e.g. 60 × 4) is flattened channel-minor and
//! projected on the leading principal components of a subset of snippets (scikit-learn's full
//! SVD PCA, [`spikelab_core::pca::Pca`]); the scores are standardised per component (zero mean,
//! unit population variance, as scikit-learn's `StandardScaler`) so a single mean-shift bandwidth
//! fits every axis.
//!
//! **Template merge.** A unit's template is its mean snippet. Two units are the same neuron when
//! their templates have a normalised cross-correlation
//! `ρ(a, b) = max_|τ|≤L ⟨a, b_τ⟩ / (‖a‖ ‖b_τ‖)` above a threshold over all channels jointly and
//! their peak amplitudes differ by less than a factor; merged units are joined transitively
//! (union–find). Mean shift over-splits a unit whose amplitude varies; this step joins the
//! pieces.

use ndarray::{Array2, Array3, ArrayView2, ArrayView3, Axis};
use rand::SeedableRng;
use rand::seq::index::sample;
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use spikelab_core::pca::Pca;

use crate::error::{Result, SortError};
use crate::snippets::SnippetWindow;

/// Flattens `[spike, sample, channel]` snippets to `[spike, sample·channel]` (f64).
pub fn flatten(snippets: ArrayView3<'_, f32>) -> Array2<f64> {
    let (n, t, c) = snippets.dim();
    Array2::from_shape_fn((n, t * c), |(i, k)| f64::from(snippets[[i, k / c, k % c]]))
}

/// Standardises every column to zero mean and unit population variance (a constant column
/// becomes 0), in place.
pub fn standardize_columns(x: &mut Array2<f64>) {
    let n = x.nrows().max(1) as f64;
    for mut col in x.columns_mut() {
        let mean = col.sum() / n;
        let var = col.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / n;
        let sd = if var > 0.0 { var.sqrt() } else { 1.0 };
        col.mapv_inplace(|v| (v - mean) / sd);
    }
}

/// Standardised PCA scores of snippets: `[spike, component]`.
///
/// The PCA is fitted on at most `fit_max` snippets drawn with a seeded ChaCha8 stream (all if
/// fewer), then applied to every snippet.
///
/// Errors: [`SortError::InvalidParameter`] if there are fewer than 2 snippets or
/// `n_components` is 0 or exceeds the snippet size; [`SortError::NonFinite`] for a non-finite
/// sample.
///
/// ```
/// use ndarray::Array3;
/// use spikelab_sort::features::pca_features;
/// // Two waveform shapes, scaled.
/// let snippets = Array3::from_shape_fn((40, 10, 2), |(i, t, c)| {
///     let shape = if i % 2 == 0 { (t as f32 - 4.0).abs() } else { t as f32 * (c as f32 + 1.0) };
///     shape * (1.0 + i as f32 / 100.0)
/// });
/// let f = pca_features(snippets.view(), 2, 1000, 0)?;
/// assert_eq!(f.dim(), (40, 2));
/// // The first component separates the two shapes.
/// assert!((f[[0, 0]] > 0.0) != (f[[1, 0]] > 0.0));
/// # Ok::<(), spikelab_sort::SortError>(())
/// ```
pub fn pca_features(
    snippets: ArrayView3<'_, f32>,
    n_components: usize,
    fit_max: usize,
    seed: u64,
) -> Result<Array2<f64>> {
    let n = snippets.dim().0;
    if n < 2 {
        return Err(SortError::InvalidParameter {
            name: "snippets",
            reason: format!("PCA features need ≥ 2 spikes, got {n}"),
        });
    }
    if snippets.iter().any(|v| !v.is_finite()) {
        return Err(SortError::NonFinite("waveform snippets".into()));
    }
    let x = flatten(snippets);
    let fit_rows: Vec<usize> = if n > fit_max.max(2) {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut rows = sample(&mut rng, n, fit_max.max(2)).into_vec();
        rows.sort_unstable();
        rows
    } else {
        (0..n).collect()
    };
    let fit_x = x.select(Axis(0), &fit_rows);
    let pca = Pca::fit(fit_x.view(), n_components).map_err(|e| SortError::InvalidParameter {
        name: "n_components",
        reason: e.to_string(),
    })?;
    let mut scores = pca
        .transform(x.view())
        .map_err(|e| SortError::InvalidParameter {
            name: "snippets",
            reason: e.to_string(),
        })?;
    standardize_columns(&mut scores);
    Ok(scores)
}

/// Mean snippet per cluster over all channels, `[cluster, sample, channel]` for labels
/// `0..n_clusters`, accumulated from `traces` (`[sample, channel]`) at `frames` (samples outside
/// the recording count as 0), in f64, in parallel over clusters.
///
/// ```
/// use ndarray::Array2;
/// use spikelab_sort::features::templates;
/// use spikelab_sort::snippets::SnippetWindow;
/// let x = Array2::from_shape_fn((20, 2), |(t, c)| (t + 100 * c) as f32);
/// let t = templates(x.view(), &[4, 8, 12], &[0, 1, 0], 2, SnippetWindow { before: 1, after: 1 })?;
/// assert_eq!((t[(0, 0, 0)], t[(1, 0, 1)]), (7.0, 107.0));
/// # Ok::<(), spikelab_sort::SortError>(())
/// ```
///
/// Errors: [`SortError::Dimension`] if `labels` and `frames` differ in length;
/// [`SortError::InvalidParameter`] for a label ≥ `n_clusters`.
pub fn templates(
    traces: ArrayView2<'_, f32>,
    frames: &[i64],
    labels: &[usize],
    n_clusters: usize,
    window: SnippetWindow,
) -> Result<Array3<f64>> {
    if frames.len() != labels.len() {
        return Err(SortError::Dimension {
            what: "labels".into(),
            expected: frames.len().to_string(),
            got: labels.len().to_string(),
        });
    }
    if let Some(&l) = labels.iter().find(|&&l| l >= n_clusters) {
        return Err(SortError::InvalidParameter {
            name: "labels",
            reason: format!("label {l} is not below n_clusters = {n_clusters}"),
        });
    }
    let (n, c) = traces.dim();
    let mut members = vec![Vec::new(); n_clusters];
    for (&f, &l) in frames.iter().zip(labels) {
        members[l].push(f);
    }
    let means: Vec<Array2<f64>> = members
        .par_iter()
        .map(|fs| {
            let mut sum = Array2::<f64>::zeros((window.len(), c));
            for &f in fs {
                for (i, mut dst) in sum.outer_iter_mut().enumerate() {
                    let t = f - window.before as i64 + i as i64;
                    if t >= 0 && (t as usize) < n {
                        dst.zip_mut_with(&traces.row(t as usize), |d, &v| *d += f64::from(v));
                    }
                }
            }
            if !fs.is_empty() {
                sum /= fs.len() as f64;
            }
            sum
        })
        .collect();
    let mut out = Array3::<f64>::zeros((n_clusters, window.len(), c));
    for (mut o, m) in out.outer_iter_mut().zip(&means) {
        o.assign(m);
    }
    Ok(out)
}

/// Largest normalised cross-correlation of two templates (`[sample, channel]`) over shifts
/// `|τ| ≤ max_lag` samples, all channels jointly. 0 if either is all zeros.
pub fn template_similarity(a: ArrayView2<'_, f64>, b: ArrayView2<'_, f64>, max_lag: usize) -> f64 {
    let t = a.nrows() as isize;
    let mut best = 0.0f64;
    for lag in -(max_lag as isize)..=(max_lag as isize) {
        let (mut dot, mut na, mut nb) = (0.0, 0.0, 0.0);
        for i in 0..t {
            let j = i + lag;
            if j < 0 || j >= t {
                continue;
            }
            for (x, y) in a.row(i as usize).iter().zip(b.row(j as usize)) {
                dot += x * y;
                na += x * x;
                nb += y * y;
            }
        }
        if na > 0.0 && nb > 0.0 {
            best = best.max(dot / (na * nb).sqrt());
        }
    }
    best
}

fn find(parent: &mut [usize], i: usize) -> usize {
    let mut r = i;
    while parent[r] != r {
        r = parent[r];
    }
    let mut j = i;
    while parent[j] != r {
        let next = parent[j];
        parent[j] = r;
        j = next;
    }
    r
}

/// Joins clusters whose templates are the same waveform (see the module docs): similarity
/// `≥ min_similarity` within `±max_lag` samples and peak-amplitude ratio `≤ max_amplitude_ratio`.
/// Returns new labels `0..k` numbered by first appearance of each merged group in cluster
/// order, and `k`.
///
/// ```
/// use ndarray::Array3;
/// use spikelab_sort::features::merge_similar;
/// // Clusters 0 and 2 share a waveform; 1 differs.
/// let t = Array3::from_shape_fn((3, 8, 1), |(k, s, _)| match k {
///     1 => (s as f64).sin(),
///     _ => -((s as f64 - 3.0).powi(2)).exp() * (1.0 + k as f64 / 10.0),
/// });
/// let (map, k) = merge_similar(t.view(), 0.95, 1, 2.0);
/// assert_eq!((map, k), (vec![0, 1, 0], 2));
/// ```
pub fn merge_similar(
    templates: ArrayView3<'_, f64>,
    min_similarity: f64,
    max_lag: usize,
    max_amplitude_ratio: f64,
) -> (Vec<usize>, usize) {
    let all: Vec<usize> = (0..templates.dim().2).collect();
    merge_similar_where(
        templates,
        min_similarity,
        max_lag,
        max_amplitude_ratio,
        |_, _| Some(all.clone()),
    )
}

/// [`merge_similar`] comparing only the pairs `(a, b)`, `a < b`, for which `channels(a, b)`
/// gives channels, and on those channels only: on a long probe, units whose peak channels are
/// neighbours, on their neighbourhoods (over all 384 channels the noise of the far channels
/// would dominate the correlation). Similarities are computed in parallel; the result does not
/// depend on the thread count.
pub fn merge_similar_where(
    templates: ArrayView3<'_, f64>,
    min_similarity: f64,
    max_lag: usize,
    max_amplitude_ratio: f64,
    channels: impl Fn(usize, usize) -> Option<Vec<usize>> + Sync,
) -> (Vec<usize>, usize) {
    let k = templates.dim().0;
    let peak: Vec<f64> = templates
        .outer_iter()
        .map(|t| t.iter().fold(0.0f64, |m, v| m.max(v.abs())))
        .collect();
    let pairs: Vec<(usize, usize, Vec<usize>)> = (0..k)
        .flat_map(|a| (a + 1..k).map(move |b| (a, b)))
        .filter(|&(a, b)| {
            let (pa, pb) = (peak[a], peak[b]);
            pa != 0.0 && pb != 0.0 && pa.max(pb) / pa.min(pb) <= max_amplitude_ratio
        })
        .filter_map(|(a, b)| channels(a, b).map(|ch| (a, b, ch)))
        .collect();
    let similar: Vec<bool> = pairs
        .par_iter()
        .map(|(a, b, ch)| {
            let on = |u: usize| templates.index_axis(Axis(0), u).select(Axis(1), ch);
            template_similarity(on(*a).view(), on(*b).view(), max_lag) >= min_similarity
        })
        .collect();
    let mut parent: Vec<usize> = (0..k).collect();
    for ((a, b, _), _) in pairs.iter().zip(&similar).filter(|(_, s)| **s) {
        let (ra, rb) = (find(&mut parent, *a), find(&mut parent, *b));
        if ra != rb {
            parent[ra.max(rb)] = ra.min(rb);
        }
    }
    let mut new_id = vec![usize::MAX; k];
    let mut next = 0;
    let map = (0..k)
        .map(|c| {
            let r = find(&mut parent, c);
            if new_id[r] == usize::MAX {
                new_id[r] = next;
                next += 1;
            }
            new_id[r]
        })
        .collect();
    (map, next)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn similarity_finds_the_lag() {
        let a = Array2::from_shape_fn((20, 2), |(t, c)| {
            (-((t as f64 - 8.0).powi(2)) / 4.0).exp() * (c as f64 + 1.0)
        });
        let b = Array2::from_shape_fn((20, 2), |(t, c)| {
            (-((t as f64 - 10.0).powi(2)) / 4.0).exp() * (c as f64 + 1.0)
        });
        assert!(template_similarity(a.view(), b.view(), 0) < 0.7);
        assert!(template_similarity(a.view(), b.view(), 2) > 0.999);
        assert_eq!(
            template_similarity(a.view(), Array2::zeros((20, 2)).view(), 2),
            0.0
        );
    }

    #[test]
    fn standardize_handles_constant_columns() {
        let mut x = array![[1.0, 5.0], [3.0, 5.0]];
        standardize_columns(&mut x);
        assert_eq!(x, array![[-1.0, 0.0], [1.0, 0.0]]);
    }

    #[test]
    fn merge_respects_amplitude_ratio() {
        let t = Array3::from_shape_fn((2, 8, 1), |(k, s, _)| {
            -((s as f64 - 3.0).powi(2)).exp() * if k == 0 { 1.0 } else { 5.0 }
        });
        assert_eq!(merge_similar(t.view(), 0.9, 0, 2.0).1, 2);
        assert_eq!(merge_similar(t.view(), 0.9, 0, 6.0).1, 1);
    }
}
