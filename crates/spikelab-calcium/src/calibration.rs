//! Calibration of the network output (z-score units of the smoothed spike train, per neuron)
//! to spike rates in Hz.
//!
//! The Elephant network was trained on per-neuron z-scored targets, so its output has no
//! absolute scale: for a neuron with smoothed spike train `s`, the ideal output is
//! `(s − mean s)/std s`. We calibrate with one affine map fitted by least squares on ground
//! truth, pooled over all frames of all neurons of one or more datasets:
//!
//! `spikes per frame ≈ a + b·output`, then `rate_hz = max(0, a + b·output) · frame_rate_hz`,
//!
//! with the smoothed spike counts (the training kernel, SD √2 frames) as the regression target.
//! This is a population-average calibration: it gets the mean rate of a typical neuron of the
//! calibration data right, not each neuron's (per-neuron rates vary several-fold; the
//! correlation with the truth is unchanged). [`Calibration::embedded`] and
//! [`Calibration::embedded_ensemble`] are the constants of this fit for the embedded pretrained
//! models on the Spikefinder training datasets 4, 5 and 6 (computed once; a test of
//! `spikelab-datasets` re-fits them and checks the stored values).

use ndarray::Array2;

use crate::error::{CalciumError, Result};
use crate::evaluate::{GroundTruthSet, Predictor};
use crate::train::{SPIKE_KERNEL_SIGMA, convolve_same, smoothing_kernel};

/// `spikes per frame = max(0, intercept + slope · output)`.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Calibration {
    /// Spikes per frame at output 0.
    pub intercept: f64,
    /// Spikes per frame per output unit.
    pub slope: f64,
}

impl Calibration {
    /// Least-squares fit of smoothed spike counts on predictions (both `[time, neuron]`,
    /// frames where either is NaN ignored).
    ///
    /// ```
    /// use ndarray::array;
    /// use spikelab_calcium::calibration::Calibration;
    /// let pred = array![[0.0], [1.0], [2.0], [3.0]];
    /// let c = Calibration { intercept: 0.1, slope: 0.2 };
    /// let r = c.rates_hz(&pred, 100.0);
    /// assert!((r[[3, 0]] - 70.0).abs() < 1e-9);
    /// ```
    pub fn fit(pred: &Array2<f64>, spikes: &Array2<f64>) -> Result<Self> {
        if pred.dim() != spikes.dim() {
            return Err(CalciumError::InvalidInput {
                what: "calibration".into(),
                reason: format!("prediction {:?} vs spikes {:?}", pred.dim(), spikes.dim()),
            });
        }
        let k = smoothing_kernel(SPIKE_KERNEL_SIGMA);
        let (mut n, mut sx, mut sy, mut sxx, mut sxy) = (0.0f64, 0.0, 0.0, 0.0, 0.0);
        for j in 0..pred.ncols() {
            let s: Vec<f64> = spikes
                .column(j)
                .iter()
                .map(|v| if v.is_nan() { 0.0 } else { *v })
                .collect();
            let sm = convolve_same(&s, &k);
            for ((p, t), raw) in pred.column(j).iter().zip(sm).zip(spikes.column(j)) {
                if p.is_nan() || raw.is_nan() {
                    continue;
                }
                n += 1.0;
                sx += p;
                sy += t;
                sxx += p * p;
                sxy += p * t;
            }
        }
        let var = sxx / n.max(1.0) - (sx / n.max(1.0)).powi(2);
        if n < 2.0 || var <= 0.0 {
            return Err(CalciumError::InvalidInput {
                what: "calibration".into(),
                reason: "fewer than two distinct predicted frames".into(),
            });
        }
        let slope = (sxy / n - sx / n * sy / n) / var;
        Ok(Calibration {
            intercept: sy / n - slope * sx / n,
            slope,
        })
    }

    /// Fits on the predictions of `predictor` for several ground-truth sets (pooled).
    pub fn fit_sets(predictor: &impl Predictor, sets: &[GroundTruthSet]) -> Result<Self> {
        let preds = sets
            .iter()
            .map(|s| predictor.predict(&s.calcium))
            .collect::<Result<Vec<_>>>()?;
        Self::fit_predictions(&preds, sets)
    }

    /// Fits on given predictions (`preds[i]` for `sets[i]`, same `[time, neuron]` shape), pooled
    /// over all sets.
    pub fn fit_predictions(preds: &[Array2<f64>], sets: &[GroundTruthSet]) -> Result<Self> {
        if preds.len() != sets.len() {
            return Err(CalciumError::InvalidInput {
                what: "calibration".into(),
                reason: format!("{} predictions for {} sets", preds.len(), sets.len()),
            });
        }
        let mut pcols = Vec::new();
        let mut scols = Vec::new();
        for (p, s) in preds.iter().zip(sets) {
            if p.dim() != s.spikes.dim() {
                return Err(CalciumError::InvalidInput {
                    what: s.name.clone(),
                    reason: format!("prediction {:?} vs spikes {:?}", p.dim(), s.spikes.dim()),
                });
            }
            for j in 0..p.ncols() {
                pcols.push(p.column(j).to_vec());
                scols.push(s.spikes.column(j).to_vec());
            }
        }
        let t = pcols.iter().map(Vec::len).max().unwrap_or(0);
        let mut pa = Array2::from_elem((t, pcols.len()), f64::NAN);
        let mut sa = Array2::from_elem((t, pcols.len()), f64::NAN);
        for (j, (p, s)) in pcols.iter().zip(&scols).enumerate() {
            for i in 0..p.len() {
                pa[[i, j]] = p[i];
                sa[[i, j]] = s[i];
            }
        }
        Self::fit(&pa, &sa)
    }

    /// The calibration of the embedded pretrained model 1–5
    /// ([`ElephantCnn::embedded`](crate::ElephantCnn::embedded)): the [`Calibration::fit_sets`]
    /// constants on Spikefinder training datasets 4, 5 and 6.
    ///
    /// ```
    /// use spikelab_calcium::calibration::Calibration;
    /// let c = Calibration::embedded(1)?;
    /// assert!(c.slope > 0.0);
    /// # Ok::<(), spikelab_calcium::CalciumError>(())
    /// ```
    pub fn embedded(model: u8) -> Result<Self> {
        match model {
            1..=5 => Ok(EMBEDDED_MODELS[usize::from(model) - 1]),
            _ => Err(CalciumError::InvalidParameter {
                name: "model",
                reason: format!("the embedded Elephant models are 1 to 5, got {model}"),
            }),
        }
    }

    /// The calibration of the ensemble of the five embedded models
    /// ([`ElephantEnsemble::embedded`](crate::ensemble::ElephantEnsemble::embedded)).
    pub fn embedded_ensemble() -> Self {
        EMBEDDED_ENSEMBLE
    }

    /// Spike rates in Hz, `max(0, a + b·output)·frame_rate_hz`; NaN stays NaN.
    pub fn rates_hz(&self, pred: &Array2<f64>, frame_rate_hz: f64) -> Array2<f64> {
        pred.mapv(|v| self.rate_hz(v, frame_rate_hz))
    }

    /// As [`Calibration::rates_hz`], in place.
    pub fn rates_hz_inplace(&self, pred: &mut Array2<f64>, frame_rate_hz: f64) {
        pred.mapv_inplace(|v| self.rate_hz(v, frame_rate_hz));
    }

    fn rate_hz(&self, v: f64, frame_rate_hz: f64) -> f64 {
        if v.is_nan() {
            f64::NAN
        } else {
            (self.intercept + self.slope * v).max(0.0) * frame_rate_hz
        }
    }
}

/// [`Calibration::embedded`] for models 1–5 (fitted on Spikefinder train 4, 5, 6).
const EMBEDDED_MODELS: [Calibration; 5] = [
    Calibration {
        intercept: 0.038839881556039096,
        slope: 0.09818460739177023,
    },
    Calibration {
        intercept: 0.03832066304728671,
        slope: 0.09943631677724335,
    },
    Calibration {
        intercept: 0.04030453786071147,
        slope: 0.10055628922552609,
    },
    Calibration {
        intercept: 0.03659197505877203,
        slope: 0.10416911753602398,
    },
    Calibration {
        intercept: 0.03844192746542607,
        slope: 0.10017230935475425,
    },
];

/// [`Calibration::embedded_ensemble`] (fitted on Spikefinder train 4, 5, 6).
const EMBEDDED_ENSEMBLE: Calibration = Calibration {
    intercept: 0.03849887733678363,
    slope: 0.10398444562546275,
};
