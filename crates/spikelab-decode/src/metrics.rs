//! Decoding scores: R² per output (scikit-learn / torchmetrics semantics) and classification
//! accuracy.

use ndarray::{ArrayView1, ArrayView2, Axis};

use crate::error::{DecodeError, Result};

/// Coefficient of determination of each output column, `R²_j = 1 − Σ(y − ŷ)² / Σ(y − ȳ)²` with
/// ȳ the mean of the *evaluated* rows (scikit-learn `r2_score(..., multioutput="raw_values")`).
///
/// A constant column scores 1 when predicted exactly and 0 otherwise (scikit-learn's convention).
/// Axis order: `[sample, output]` for both arguments.
///
/// ```
/// use ndarray::array;
/// let y = array![[1.0, 0.0], [2.0, 1.0], [3.0, 0.0]];
/// let p = array![[1.0, 0.5], [2.0, 0.5], [4.0, 0.5]];
/// let r2 = spikelab_decode::r2_per_output(y.view(), p.view())?;
/// assert!((r2[0] - 0.5).abs() < 1e-12);
/// assert!((r2[1] - (1.0 - 0.75 / (2.0 / 3.0))).abs() < 1e-12);
/// # Ok::<(), spikelab_decode::DecodeError>(())
/// ```
pub fn r2_per_output(y_true: ArrayView2<'_, f64>, y_pred: ArrayView2<'_, f64>) -> Result<Vec<f64>> {
    if y_true.dim() != y_pred.dim() {
        return Err(DecodeError::Shape(format!(
            "targets {:?} vs predictions {:?}",
            y_true.dim(),
            y_pred.dim()
        )));
    }
    if y_true.nrows() < 2 {
        return Err(DecodeError::InvalidData(format!(
            "R² needs at least 2 rows, got {}",
            y_true.nrows()
        )));
    }
    if y_true.iter().chain(y_pred.iter()).any(|v| !v.is_finite()) {
        return Err(DecodeError::InvalidData(
            "R² of non-finite targets or predictions".into(),
        ));
    }
    let mean = y_true.mean_axis(Axis(0)).expect("rows checked above");
    Ok((0..y_true.ncols())
        .map(|j| {
            let (mut ss_res, mut ss_tot) = (0.0, 0.0);
            for (t, p) in y_true.column(j).iter().zip(y_pred.column(j)) {
                ss_res += (t - p) * (t - p);
                ss_tot += (t - mean[j]) * (t - mean[j]);
            }
            if ss_tot == 0.0 {
                if ss_res == 0.0 { 1.0 } else { 0.0 }
            } else {
                1.0 - ss_res / ss_tot
            }
        })
        .collect())
}

/// Uniform average of [`r2_per_output`] (scikit-learn's default `multioutput`).
pub fn r2_score(y_true: ArrayView2<'_, f64>, y_pred: ArrayView2<'_, f64>) -> Result<f64> {
    let r2 = r2_per_output(y_true, y_pred)?;
    Ok(r2.iter().sum::<f64>() / r2.len().max(1) as f64)
}

/// Fraction of predicted labels equal to the true labels.
///
/// ```
/// use ndarray::array;
/// let acc = spikelab_decode::accuracy(array![0, 1, 2, 2].view(), array![0, 1, 1, 2].view())?;
/// assert_eq!(acc, 0.75);
/// # Ok::<(), spikelab_decode::DecodeError>(())
/// ```
pub fn accuracy(y_true: ArrayView1<'_, u32>, y_pred: ArrayView1<'_, u32>) -> Result<f64> {
    if y_true.len() != y_pred.len() || y_true.is_empty() {
        return Err(DecodeError::Shape(format!(
            "accuracy of {} labels against {} predictions",
            y_true.len(),
            y_pred.len()
        )));
    }
    let hits = y_true.iter().zip(y_pred).filter(|(a, b)| a == b).count();
    Ok(hits as f64 / y_true.len() as f64)
}
