//! The linear decoding pipeline: lagged features → time split → α on validation → refit →
//! test R².

use ndarray::{Array2, ArrayView2};
use serde::{Deserialize, Serialize};

use crate::data::{Lags, TimeSplit, check_target, lagged_features_sparse, rows};
use crate::error::{DecodeError, Result};
use crate::linear::{LinearModel, RidgeMethod, RidgePath, choose_alpha, rrr_from_ridge};
use crate::metrics::{r2_per_output, r2_score};

/// The ridge α grid of the spec: {0.1, 1, 10, 100, 10³, 10⁴}.
pub const DEFAULT_ALPHAS: [f64; 6] = [0.1, 1.0, 10.0, 100.0, 1e3, 1e4];

/// Parameters of a linear decoder (ridge / Wiener filter / reduced-rank regression).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LinearDecoderParams {
    /// Feature lags (default: centred, frames t − 9 … t + 10).
    pub lags: Lags,
    /// α grid searched on the validation split.
    pub alphas: Vec<f64>,
    /// Fraction of frames (from the start) used for training (default 0.8).
    pub train_fraction: f64,
    /// Fraction of the training frames (from their end) that scores α (default 1/8).
    pub val_fraction: f64,
    /// Fraction of the training frames, from their start, that fit and validate (default 1;
    /// the test frames do not move): learning curves. See [`TimeSplit::with_used`].
    #[serde(default = "one")]
    pub train_used: f64,
    /// Reduced-rank regression of this rank; `None` = full-rank ridge.
    pub rank: Option<usize>,
    /// Ridge solver (default [`RidgeMethod::Auto`]: exact eigendecomposition up to
    /// [`crate::EIGEN_MAX_FEATURES`] features, sparse conjugate gradients for wider sparse
    /// designs such as 20 lags of a spike raster).
    #[serde(default)]
    pub method: RidgeMethod,
}

impl Default for LinearDecoderParams {
    fn default() -> Self {
        Self {
            lags: Lags::Centred {
                past: 9,
                future: 10,
            },
            alphas: DEFAULT_ALPHAS.to_vec(),
            train_fraction: 0.8,
            val_fraction: 0.125,
            train_used: 1.0,
            rank: None,
            method: RidgeMethod::Auto,
        }
    }
}

fn one() -> f64 {
    1.0
}

/// Validated [`LinearDecoderParams`].
#[derive(Debug, Clone, PartialEq)]
pub struct LinearDecoder {
    params: LinearDecoderParams,
}

impl LinearDecoderParams {
    /// A Wiener filter: ridge on causal lags 0 … n − 1.
    pub fn wiener(n_lags: usize) -> Self {
        Self {
            lags: Lags::Causal(n_lags),
            ..Self::default()
        }
    }

    /// Checks the parameters once.
    pub fn check(self) -> Result<LinearDecoder> {
        if self.lags.offsets().is_empty() {
            return Err(DecodeError::param("lags", "empty lag set"));
        }
        if self.alphas.is_empty() || self.alphas.iter().any(|a| !(*a >= 0.0 && a.is_finite())) {
            return Err(DecodeError::param(
                "alphas",
                format!("{:?}: need a non-empty grid of finite α ≥ 0", self.alphas),
            ));
        }
        if !(self.val_fraction > 0.0 && self.val_fraction < 1.0) {
            return Err(DecodeError::param(
                "val_fraction",
                format!("{} not in (0, 1)", self.val_fraction),
            ));
        }
        if !(self.train_used > 0.0 && self.train_used <= 1.0) {
            return Err(DecodeError::param(
                "train_used",
                format!("{} not in (0, 1]", self.train_used),
            ));
        }
        if self.rank == Some(0) {
            return Err(DecodeError::param("rank", "must be ≥ 1"));
        }
        self.method.check()?;
        Ok(LinearDecoder { params: self })
    }
}

/// A fitted linear decoder and its scores.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LinearDecoderFit {
    /// The parameters used.
    pub params: LinearDecoderParams,
    /// The model refitted on all training frames in use.
    pub model: LinearModel,
    /// The split.
    pub split: TimeSplit,
    /// (α, validation R²) for every α of the grid.
    pub validation: Vec<(f64, f64)>,
    /// R² on the training frames.
    pub train_r2: f64,
    /// R² on the test frames (uniform average over outputs).
    pub test_r2: f64,
    /// R² per output on the test frames.
    pub test_r2_per_output: Vec<f64>,
    /// Test predictions `[test frame, output]`.
    #[serde(skip)]
    pub test_prediction: Array2<f64>,
}

impl LinearDecoder {
    /// The parameters.
    pub fn params(&self) -> &LinearDecoderParams {
        &self.params
    }

    /// Decodes `target` `[frame, output]` from `counts` `[neuron, frame]`.
    ///
    /// ```
    /// use ndarray::Array2;
    /// use spikelab_decode::{Lags, LinearDecoderParams};
    /// // Two neurons whose counts track a target, one noise neuron.
    /// let t = 400;
    /// let target = Array2::from_shape_fn((t, 1), |(i, _)| ((i as f64) * 0.05).sin());
    /// let counts = Array2::from_shape_fn((3, t), |(n, i)| match n {
    ///     0 => (3.0 + 3.0 * target[[i, 0]]).round(),
    ///     1 => (3.0 - 3.0 * target[[i, 0]]).round(),
    ///     _ => ((i * 7919) % 5) as f64,
    /// });
    /// let params = LinearDecoderParams { lags: Lags::Zero, ..Default::default() };
    /// let fit = params.check()?.fit(counts.view(), target.view())?;
    /// assert!(fit.test_r2 > 0.95);
    /// # Ok::<(), spikelab_decode::DecodeError>(())
    /// ```
    pub fn fit(
        &self,
        counts: ArrayView2<'_, f64>,
        target: ArrayView2<'_, f64>,
    ) -> Result<LinearDecoderFit> {
        let p = &self.params;
        // Sparse rows: lagged spike counts are mostly zero.
        let x = lagged_features_sparse(counts, &p.lags)?;
        check_target(target, x.nrows())?;
        let split =
            TimeSplit::with_used(x.nrows(), p.train_fraction, p.val_fraction, p.train_used)?;
        let (xf, yf) = (x.rows(split.fit.clone())?, rows(target, split.fit.clone()));
        let (xv, yv) = (x.rows(split.val.clone())?, rows(target, split.val.clone()));
        let (alpha, scores, models) =
            choose_alpha(&xf, yf.view(), &xv, yv.view(), &p.alphas, p.method)?;
        let (xtr, ytr) = (
            x.rows(split.train.clone())?,
            rows(target, split.train.clone()),
        );
        // The fit-rows solution at the chosen α starts the iterative refit.
        let start = models.iter().find(|m| m.alpha == alpha).map(|m| &m.weights);
        let mut model =
            RidgePath::with_method(&xtr, ytr.view(), p.method)?.model_from(alpha, start)?;
        if let Some(rank) = p.rank {
            model = rrr_from_ridge(&model, &xtr, rank, None)?;
        }
        let xte = x.rows(split.test.clone())?;
        let yte = rows(target, split.test.clone());
        let pred = model.predict(&xte)?;
        Ok(LinearDecoderFit {
            params: p.clone(),
            train_r2: r2_score(ytr.view(), model.predict(&xtr)?.view())?,
            test_r2_per_output: r2_per_output(yte.view(), pred.view())?,
            test_r2: r2_score(yte.view(), pred.view())?,
            validation: p.alphas.iter().copied().zip(scores).collect(),
            model,
            split,
            test_prediction: pred,
        })
    }
}
