//! EIT on a recording: classify a behavioural label (e.g. a position bin) from short windows
//! of the raster, beside a linear probe on the same windows.
//!
//! The raster `[neuron, frame]` is cut into consecutive windows of `window` frames
//! ([`raster_windows`]), each labelled with the class of its first frame; the first
//! `train_fraction` of the windows (in time) train, the rest test. Classes are the distinct
//! values of an integer target, in increasing order. The probe is ridge regression from the
//! flattened window (neuron × frame counts) to the one-hot class (α on the last 1/8 of the
//! training windows) with the arg-max as its prediction: the linear baseline EIT has to beat.

use candle_core::DType;
use ndarray::{Array2, ArrayView2, Axis};
use serde::{Deserialize, Serialize};
use spikelab_core::Observer;

use crate::data::check_target;
use crate::decoder::DEFAULT_ALPHAS;
use crate::eit::{Eit, EitConfig, EpochStats, TrainParams, accuracy, raster_windows, train};
use crate::error::{DecodeError, Result};
use crate::linear::{RidgeMethod, choose_alpha, fit_ridge};

/// Parameters of [`fit_windows`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WindowParams {
    /// Frames per window (default 2).
    pub window: usize,
    /// Fraction of the windows (from the start) that train (default 0.8).
    pub train_fraction: f64,
    /// Attention heads of both modules (default 6, as the original).
    pub heads: usize,
    /// Width per head (default 64).
    pub dim_head: usize,
    /// Training (defaults: Adam lr 1e-4, batch 64, 100 epochs, seed 0, test every 10).
    pub train: TrainParams,
    /// Device of the model.
    pub device: spikelab_core::Device,
}

impl Default for WindowParams {
    fn default() -> Self {
        Self {
            window: 2,
            train_fraction: 0.8,
            heads: 6,
            dim_head: 64,
            train: TrainParams {
                epochs: 100,
                ..TrainParams::default()
            },
            device: spikelab_core::Device::Cpu,
        }
    }
}

/// Scores of [`fit_windows`].
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WindowFit {
    /// The parameters used.
    pub params: WindowParams,
    /// Target value of each class index.
    pub classes: Vec<f64>,
    /// Training and test windows.
    pub n_windows: (usize, usize),
    /// Per-epoch loss and test accuracy.
    pub history: Vec<EpochStats>,
    /// EIT test accuracy over every (window, frame) prediction.
    pub test_accuracy: f64,
    /// The linear probe's test accuracy (one prediction per window).
    pub probe_accuracy: f64,
    /// α of the probe.
    pub probe_alpha: f64,
    /// Test accuracy of always predicting the most frequent training class.
    pub majority_accuracy: f64,
}

/// Class index of every frame of an integer-valued single-column target, and the value of
/// each class (sorted).
pub fn class_labels(target: ArrayView2<'_, f64>) -> Result<(Vec<u32>, Vec<f64>)> {
    if target.ncols() != 1 || target.iter().any(|v| !v.is_finite() || v.fract() != 0.0) {
        return Err(DecodeError::InvalidData(
            "classification needs a single integer-valued target column".into(),
        ));
    }
    let mut classes: Vec<f64> = target.iter().copied().collect();
    classes.sort_by(f64::total_cmp);
    classes.dedup();
    let labels = target
        .iter()
        .map(|v| classes.partition_point(|c| c < v) as u32)
        .collect();
    Ok((labels, classes))
}

fn argmax_rows(a: &Array2<f64>) -> Vec<u32> {
    a.outer_iter()
        .map(|r| {
            r.iter()
                .enumerate()
                .fold(
                    (0, f64::NEG_INFINITY),
                    |b, (i, &v)| if v > b.1 { (i, v) } else { b },
                )
                .0 as u32
        })
        .collect()
}

/// Trains EIT to classify the windows of `counts` `[neuron, frame]` by the class of `target`
/// `[frame, 1]` (integer-valued) and scores it and the linear probe on the test windows.
/// Returns the trained model (f32) and the scores.
pub fn fit_windows(
    counts: ArrayView2<'_, f64>,
    target: ArrayView2<'_, f64>,
    params: &WindowParams,
    observer: &mut dyn Observer,
) -> Result<(Eit, WindowFit)> {
    check_target(target, counts.ncols())?;
    if !(params.train_fraction > 0.0 && params.train_fraction < 1.0) {
        return Err(DecodeError::param(
            "train_fraction",
            format!("{} not in (0, 1)", params.train_fraction),
        ));
    }
    let (labels, classes) = class_labels(target)?;
    let (x, y) = raster_windows(counts, &labels, params.window)?;
    let n_win = y.len();
    let n_train = (params.train_fraction * n_win as f64).floor() as usize;
    if n_train < 8 || n_train == n_win {
        return Err(DecodeError::InvalidData(format!(
            "{n_win} windows leave {n_train} for training and {} for testing",
            n_win - n_train
        )));
    }
    let (xtr, xte) = x.view().split_at(Axis(0), n_train);
    let (ytr, yte) = y.split_at(n_train);
    let (xtr, xte) = (xtr.to_owned(), xte.to_owned());

    // Linear probe on the flattened windows.
    let flat = |a: &ndarray::Array4<f64>| -> Array2<f64> {
        let k = a.dim().0;
        a.to_shape((k, a.len() / k.max(1)))
            .map(|v| v.to_owned())
            .unwrap_or_else(|_| Array2::zeros((k, 0)))
    };
    let (ftr, fte) = (flat(&xtr), flat(&xte));
    let one_hot = |ys: &[u32]| {
        Array2::from_shape_fn((ys.len(), classes.len()), |(i, j)| {
            f64::from(u8::from(ys[i] as usize == j))
        })
    };
    let otr = one_hot(ytr);
    let cut = n_train * 7 / 8;
    let (probe_alpha, _, _) = choose_alpha(
        ftr.slice(ndarray::s![..cut, ..]),
        otr.slice(ndarray::s![..cut, ..]),
        ftr.slice(ndarray::s![cut.., ..]),
        otr.slice(ndarray::s![cut.., ..]),
        &DEFAULT_ALPHAS,
        RidgeMethod::Auto,
    )?;
    let probe = fit_ridge(ftr.view(), otr.view(), probe_alpha)?;
    let pred = argmax_rows(&probe.predict(fte.view())?);
    let hits = pred.iter().zip(yte).filter(|(p, y)| p == y).count();
    let probe_accuracy = hits as f64 / yte.len() as f64;
    let mut freq = vec![0usize; classes.len()];
    for &c in ytr {
        freq[c as usize] += 1;
    }
    let majority = (0..classes.len()).max_by_key(|&c| freq[c]).unwrap_or(0) as u32;
    let majority_accuracy =
        yte.iter().filter(|&&c| c == majority).count() as f64 / yte.len() as f64;

    // EIT.
    let cfg = EitConfig {
        n_units: counts.nrows(),
        n_channels: 1,
        heads: params.heads,
        dim_head: params.dim_head,
        n_classes: classes.len(),
        ..EitConfig::default()
    };
    let device = params.device.to_candle()?;
    let model = Eit::new(cfg, params.train.seed, DType::F32, &device)?;
    let history = train(
        &model,
        &xtr,
        ytr,
        Some((&xte, yte)),
        &params.train,
        None,
        observer,
    )?;
    let test_accuracy = match history.last().and_then(|h| h.test_accuracy) {
        Some(a) => a,
        None => accuracy(&model, &xte, yte)?,
    };
    Ok((
        model,
        WindowFit {
            params: params.clone(),
            classes,
            n_windows: (n_train, n_win - n_train),
            history,
            test_accuracy,
            probe_accuracy,
            probe_alpha,
            majority_accuracy,
        },
    ))
}
