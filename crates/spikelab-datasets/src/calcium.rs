//! The bundled Spikefinder ground truth as [`GroundTruthSet`]s and the leaderboard dump.

use ndarray::Array2;
use spikelab_calcium::calibration::Calibration;
use spikelab_calcium::evaluate::{self, GroundTruthSet, Predictor};
use spikelab_calcium::{CalciumError, Result};
use spikelab_data::{CalciumTraces, io};

use crate::{self as datasets, Split};

/// A bundled Spikefinder CSV pair (`train` 4/5/6, `test` 4/5), 100 Hz.
///
/// ```
/// use spikelab_datasets::{Split, calcium};
/// let g = calcium::spikefinder_csv(4, Split::Test)?;
/// assert_eq!(g.spikes.dim(), (33280, 3));
/// # Ok::<(), spikelab_calcium::CalciumError>(())
/// ```
pub fn spikefinder_csv(n: u32, split: Split) -> Result<GroundTruthSet> {
    let calcium = io::csv::read_calcium(&datasets::spikefinder_calcium(n, split)?, 100.0)?;
    let spikes: Array2<f64> = io::csv::read_table(&datasets::spikefinder_spikes(n, split)?)?.values;
    let name = match split {
        Split::Train => format!("train {n}"),
        Split::Test => format!("test {n}"),
    };
    GroundTruthSet::new(name, calcium, spikes)
}

/// The bundled Spikefinder test set `n` (1, 3, 4 or 5) with the lengths of the golden
/// outputs: tests 1 and 3 from the c2s `.mat`, 4 and 5 from the CSVs (identical there).
pub fn spikefinder_test(n: u32) -> Result<GroundTruthSet> {
    match n {
        1 | 3 => {
            let g = GroundTruthSet::from_c2s_mat(
                format!("test {n}"),
                &datasets::spikefinder_test_mat(n)?,
            )?;
            // The c2s fps field is ≈100 Hz; the data are the Spikefinder 100 Hz traces.
            let calcium = CalciumTraces::new(g.calcium.data().clone(), 100.0)?;
            GroundTruthSet::new(g.name, calcium, g.spikes)
        }
        4 | 5 => spikefinder_csv(n, Split::Test),
        _ => Err(CalciumError::InvalidParameter {
            name: "n",
            reason: format!("bundled test sets with calcium are 1, 3, 4, 5; got {n}"),
        }),
    }
}

/// The training sets the stored calibrations were fitted on: Spikefinder train 4, 5, 6.
pub fn calibration_sets() -> Result<Vec<GroundTruthSet>> {
    [4, 5, 6]
        .into_iter()
        .map(|n| spikefinder_csv(n, Split::Train))
        .collect()
}

/// Fits a [`Calibration`] of any predictor on [`calibration_sets`] (how the stored
/// [`Calibration::embedded`] constants were made).
pub fn fit_calibration(predictor: &impl Predictor) -> Result<Calibration> {
    Calibration::fit_sets(predictor, &calibration_sets()?)
}

/// Per-dataset leaderboard scores of one submission from the bundled dump
/// ([`evaluate::leaderboard_scores`] on `spikefinder/leaderboard/spikefinder_leaderboard_dump.csv.gz`).
///
/// ```
/// let s = spikelab_datasets::calcium::leaderboard_scores("Elephant (CNN)", "corr")?;
/// let t4 = s.iter().find(|(d, _)| d == "4.test.spikes").unwrap().1;
/// assert!((t4 - 0.372).abs() < 5e-4);
/// # Ok::<(), spikelab_calcium::CalciumError>(())
/// ```
pub fn leaderboard_scores(algorithm: &str, metric: &str) -> Result<Vec<(String, f64)>> {
    let dump = datasets::spikefinder_leaderboard("spikefinder_leaderboard_dump.csv.gz")?;
    evaluate::leaderboard_scores(&dump, algorithm, metric)
}
