//! Ground-truth datasets and the Spikefinder evaluation of a predictor on them.

use ndarray::{Array2, s};
use spikelab_data::{CalciumTraces, io};

use crate::error::{CalciumError, Result};
use crate::metric::{nanmedian, spikefinder_corr, spikefinder_rank};

/// Anything that turns 100 Hz calcium `[time, neuron]` into aligned predictions of the same
/// shape (NaN where undefined): a single network or an ensemble.
pub trait Predictor {
    /// Predictions `[time, neuron]`, same shape as `traces.data()`.
    fn predict(&self, traces: &CalciumTraces) -> Result<Array2<f64>>;
}

impl Predictor for crate::ElephantCnn {
    fn predict(&self, traces: &CalciumTraces) -> Result<Array2<f64>> {
        crate::ElephantCnn::predict(self, traces)
    }
}

/// Calcium traces with ground-truth spike counts per frame.
#[derive(Debug, Clone)]
pub struct GroundTruthSet {
    /// Dataset name (e.g. `test 4`).
    pub name: String,
    /// Calcium `[time, neuron]`, NaN-padded.
    pub calcium: CalciumTraces,
    /// Spike counts per frame, **`[time, neuron]`** like the calcium, NaN-padded.
    pub spikes: Array2<f64>,
}

impl GroundTruthSet {
    /// Checks that calcium and spikes have the same `[time, neuron]` shape.
    pub fn new(
        name: impl Into<String>,
        calcium: CalciumTraces,
        spikes: Array2<f64>,
    ) -> Result<Self> {
        let name = name.into();
        if calcium.data().dim() != spikes.dim() {
            return Err(CalciumError::InvalidInput {
                what: name,
                reason: format!(
                    "calcium is {:?} [time, neuron] but spikes are {:?}",
                    calcium.data().dim(),
                    spikes.dim()
                ),
            });
        }
        Ok(GroundTruthSet {
            name,
            calcium,
            spikes,
        })
    }

    /// A c2s `.mat` file (struct array `data` with fields `calcium`, `spikes`, `fps`), e.g.
    /// `data.N.test.preprocessed.mat[.gz]`. Traces keep their .mat lengths (for tests 1 and 3
    /// longer than the official CSVs).
    pub fn from_c2s_mat(name: impl Into<String>, path: &std::path::Path) -> Result<Self> {
        let name = name.into();
        let recs = io::mat::read_c2s(path)?;
        let mut sp = Vec::with_capacity(recs.len());
        for (i, r) in recs.iter().enumerate() {
            sp.push(
                r.spike_counts
                    .clone()
                    .ok_or_else(|| CalciumError::InvalidInput {
                        what: path.display().to_string(),
                        reason: format!("recording {i} has no `spikes` field"),
                    })?,
            );
        }
        let calcium = io::mat::c2s_to_traces(&recs)?;
        let t = calcium.n_frames();
        let mut spikes = Array2::from_elem((t, sp.len()), f64::NAN);
        for (j, col) in sp.iter().enumerate() {
            spikes
                .slice_mut(s![..col.len(), j])
                .assign(&ndarray::ArrayView1::from(col));
        }
        Self::new(name, calcium, spikes)
    }
}

/// How frames without a prediction (NaN) are scored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Padding {
    /// Drop them (with the ground truth), as the metric does with NaN.
    #[default]
    NanDropped,
    /// Count them as 0 inside each neuron's recording, like the original submission CSVs.
    ZeroFilled,
}

/// Per-neuron and median scores of one dataset.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct DatasetScore {
    /// Dataset name.
    pub name: String,
    /// Spikefinder correlation per neuron.
    pub corr: Vec<f64>,
    /// Spearman rank correlation per neuron (same 40-ms sums).
    pub rank: Vec<f64>,
    /// Median correlation (the Spikefinder per-dataset score).
    pub median_corr: f64,
    /// Median rank correlation.
    pub median_rank: f64,
}

/// Scores predictions against spike counts, both `[time, neuron]` of the same shape.
pub fn score(
    name: &str,
    pred: &Array2<f64>,
    spikes: &Array2<f64>,
    padding: Padding,
) -> Result<DatasetScore> {
    if pred.dim() != spikes.dim() {
        return Err(CalciumError::InvalidInput {
            what: name.into(),
            reason: format!("prediction {:?} vs spikes {:?}", pred.dim(), spikes.dim()),
        });
    }
    let mut corr = Vec::new();
    let mut rank = Vec::new();
    for j in 0..pred.ncols() {
        let truth = spikes.column(j);
        let mut p = pred.column(j).to_owned();
        if padding == Padding::ZeroFilled {
            for (v, t) in p.iter_mut().zip(truth.iter()) {
                if v.is_nan() && !t.is_nan() {
                    *v = 0.0;
                }
            }
        }
        corr.push(spikefinder_corr(truth, p.view())?);
        rank.push(spikefinder_rank(truth, p.view())?);
    }
    Ok(DatasetScore {
        name: name.into(),
        median_corr: nanmedian(&corr),
        median_rank: nanmedian(&rank),
        corr,
        rank,
    })
}

/// Predicts a ground-truth set and scores it.
///
/// ```
/// # #[cfg(feature = "keras-h5")] {
/// use spikelab_calcium::{ElephantCnn, evaluate::{evaluate, GroundTruthSet, Padding}};
/// let cnn = ElephantCnn::embedded(1)?;
/// let s = evaluate(&cnn, &spikelab_datasets::calcium::spikefinder_test(4)?, Padding::ZeroFilled)?;
/// assert!((s.median_corr - 0.365).abs() < 0.005);
/// # }
/// # Ok::<(), spikelab_calcium::CalciumError>(())
/// ```
pub fn evaluate(
    predictor: &impl Predictor,
    set: &GroundTruthSet,
    padding: Padding,
) -> Result<DatasetScore> {
    let pred = predictor.predict(&set.calcium)?;
    score(&set.name, &pred, &set.spikes, padding)
}

/// Splits one CSV line, honouring double quotes.
fn split_csv_line(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' if quoted && chars.peek() == Some(&'"') => {
                cur.push('"');
                chars.next();
            }
            '"' => quoted = !quoted,
            ',' if !quoted => out.push(std::mem::take(&mut cur)),
            _ => cur.push(c),
        }
    }
    out.push(cur);
    out
}

/// The Spikefinder leaderboard's per-dataset scores of one submission, from a dump of the
/// leaderboard database (CSV, optionally gzipped, with columns `algo_algorithm`,
/// `dset_dataset`, `label_label`, `label_value`; the repository bundles
/// `spikefinder_leaderboard_dump.csv.gz`): `(dataset, value)` pairs such as
/// `("1.test.spikes", 0.5977)` for `metric` `corr` (or `rank`, `info`, `loglik`), sorted by
/// dataset. Errors if the submission is not in the dump.
///
/// ```
/// use spikelab_calcium::evaluate::leaderboard_scores;
/// let dump = spikelab_datasets::spikefinder_leaderboard("spikefinder_leaderboard_dump.csv.gz")?;
/// let s = leaderboard_scores(&dump, "Elephant (CNN)", "corr")?;
/// let t4 = s.iter().find(|(d, _)| d == "4.test.spikes").unwrap().1;
/// assert!((t4 - 0.372).abs() < 5e-4);
/// # Ok::<(), spikelab_calcium::CalciumError>(())
/// ```
pub fn leaderboard_scores(
    path: &std::path::Path,
    algorithm: &str,
    metric: &str,
) -> Result<Vec<(String, f64)>> {
    let bytes = io::read_bytes_maybe_gz(path)?;
    let text = String::from_utf8_lossy(&bytes);
    let mut lines = text.lines();
    let header = split_csv_line(lines.next().unwrap_or(""));
    let col = |name: &str| {
        header
            .iter()
            .position(|h| h == name)
            .ok_or_else(|| CalciumError::InvalidInput {
                what: path.display().to_string(),
                reason: format!("no column {name:?}"),
            })
    };
    let (ca, cd, cl, cv) = (
        col("algo_algorithm")?,
        col("dset_dataset")?,
        col("label_label")?,
        col("label_value")?,
    );
    let mut found = std::collections::BTreeMap::new();
    for line in lines {
        let f = split_csv_line(line);
        if f.len() <= ca.max(cd).max(cl).max(cv) || f[ca] != algorithm || f[cl] != metric {
            continue;
        }
        if let Ok(v) = f[cv].parse::<f64>() {
            found.insert(f[cd].clone(), v);
        }
    }
    if found.is_empty() {
        return Err(CalciumError::InvalidInput {
            what: path.display().to_string(),
            reason: format!("no {metric:?} scores for submission {algorithm:?}"),
        });
    }
    Ok(found.into_iter().collect())
}
