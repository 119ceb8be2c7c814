//! Training driver and read-out.

use ndarray::{Array2, Array3};
use serde::{Deserialize, Serialize};

use crate::engine::{Engine, init_logits, make_engine};
use crate::error::{ConvSeqError, Result};
use crate::loss::{LossTerms, softmax_rows};
use crate::members::{Member, participation};
use crate::null::{
    DenseAlphaOptions, NullStats, alpha_circular_shift, alpha_random_filters,
    alpha_random_filters_dense,
};
use crate::params::{Backend, ConvSeqParams, DeviceKind, NullKind};
use crate::peaks::find_peaks;
use crate::raster::SpikeRaster;

/// One detected occurrence: a peak of projection `filter` above α.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// Filter (sequence type) index.
    pub filter: usize,
    /// Output index t = centre bin of the filter window.
    pub bin: usize,
    /// `bin · bin_s`.
    pub time_s: f64,
    /// Projection value at the peak.
    pub height: f64,
}

/// Everything a fit produces.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ConvSeqFit {
    /// The parameters used.
    pub params: ConvSeqParams,
    /// Bin width of the raster, s.
    pub bin_s: f64,
    /// Null statistics, one per filter (the random-filter null is shared).
    pub null: Vec<NullStats>,
    /// α per filter.
    pub alpha: Vec<f64>,
    /// Learned logits `[K, N, W]`.
    pub logits: Array3<f64>,
    /// Softmaxed filters `[K, N, W]` (every row sums to 1).
    pub filters: Array3<f64>,
    /// Projections `[K, L]`, L = T + 2P − W + 1; index = window-centre bin.
    pub projections: Array2<f64>,
    /// Loss per epoch (before each step).
    pub loss_history: Vec<LossTerms>,
    /// Detections of all filters, sorted by filter then bin.
    pub events: Vec<Event>,
    /// Per filter, `argmax_w S[k, n, w]` for each neuron (`[K, N]`).
    pub lags: Array2<usize>,
    /// Per filter, neurons sorted by ascending lag (stable): the sequence order.
    pub orders: Vec<Vec<usize>>,
    /// Per filter, participation of every neuron.
    pub members: Vec<Vec<Member>>,
}

impl ConvSeqFit {
    /// Event bins of filter `k`.
    pub fn event_bins(&self, k: usize) -> Vec<usize> {
        self.events
            .iter()
            .filter(|e| e.filter == k)
            .map(|e| e.bin)
            .collect()
    }
    /// Member neurons of filter `k`, by decreasing z.
    pub fn member_neurons(&self, k: usize) -> Vec<usize> {
        let mut m: Vec<&Member> = self
            .members
            .get(k)
            .map(|v| v.iter().filter(|m| m.is_member).collect())
            .unwrap_or_default();
        m.sort_by(|a, b| b.z.total_cmp(&a.z));
        m.into_iter().map(|m| m.neuron).collect()
    }
}

/// The convSeq estimator: validated parameters plus `fit`.
///
/// # Example
/// ```
/// use spikelab_convseq::{ConvSeq, ConvSeqParams, AlphaOptions, SpikeRaster};
/// // 10 neurons firing in order every 100 bins, plus noise.
/// let mut ev = Vec::new();
/// for onset in (20..1900).step_by(100) {
///     for n in 0..10 { ev.push((n, onset + 2 * n)); }
/// }
/// for i in 0..200 { ev.push((i % 10, (i * 7919) % 2000)); }
/// let r = SpikeRaster::from_events(10, 2000, 0.01, &ev)?;
/// let p = ConvSeqParams {
///     width_bins: 40, epochs: 300, tv_l: 1.0,
///     alpha: AlphaOptions { n_samples: 200, ..Default::default() },
///     ..Default::default()
/// };
/// let fit = ConvSeq::new(p)?.fit(&r)?;
/// assert_eq!(fit.projections.dim(), (1, 2001));
/// assert!(fit.loss_history.last().unwrap().total < fit.loss_history[0].total);
/// assert!(!fit.events.is_empty());
/// # Ok::<(), spikelab_convseq::ConvSeqError>(())
/// ```
#[derive(Debug, Clone)]
pub struct ConvSeq {
    params: ConvSeqParams,
}

impl ConvSeq {
    /// Validates the parameters.
    pub fn new(params: ConvSeqParams) -> Result<Self> {
        params.validate()?;
        Ok(ConvSeq { params })
    }

    /// The parameters.
    pub fn params(&self) -> &ConvSeqParams {
        &self.params
    }

    /// Fits without progress reporting.
    pub fn fit(&self, raster: &SpikeRaster) -> Result<ConvSeqFit> {
        self.fit_with(raster, |_, _| {})
    }

    /// Fits, calling `on_epoch(epoch, &loss)` after every epoch (hook a progress bar here).
    pub fn fit_with(
        &self,
        raster: &SpikeRaster,
        mut on_epoch: impl FnMut(usize, &LossTerms),
    ) -> Result<ConvSeqFit> {
        let p = &self.params;
        p.validate_for(raster)?;
        let (k, n, w) = (p.n_filters, raster.n_neurons(), p.width_bins);
        // α before training, as the original (random-filter null).
        let pre_null = match (p.alpha.fixed, p.alpha.null) {
            (None, NullKind::RandomFilters) => Some(match p.backend {
                Backend::Dense { device, dtype } if device != DeviceKind::Cpu => {
                    alpha_random_filters_dense(
                        raster,
                        w,
                        &p.alpha,
                        p.seed,
                        &device.to_candle()?,
                        &DenseAlphaOptions {
                            dtype: dtype.candle(),
                            ..Default::default()
                        },
                    )?
                }
                _ => alpha_random_filters(raster, w, &p.alpha, p.seed)?,
            }),
            _ => None,
        };
        let logits = init_logits(k, n, w, p.seed);
        let mut engine: Box<dyn Engine + '_> = make_engine(raster, p, logits)?;
        let mut history = Vec::with_capacity(p.epochs);
        for ep in 0..p.epochs {
            let t = engine.step()?;
            on_epoch(ep, &t);
            history.push(t);
        }
        let logits = engine.logits()?;
        let projections = engine.projections()?;
        drop(engine);
        readout(raster, p, logits, projections, history, pre_null)
    }
}

/// Read-out from trained logits: softmax, α (if not given), peaks, order, members.
pub fn readout(
    raster: &SpikeRaster,
    p: &ConvSeqParams,
    logits: Array3<f64>,
    projections: Array2<f64>,
    loss_history: Vec<LossTerms>,
    pre_null: Option<NullStats>,
) -> Result<ConvSeqFit> {
    let (k, n, w) = logits.dim();
    if k != p.n_filters || w != p.width_bins || n != raster.n_neurons() {
        return Err(ConvSeqError::Shape {
            what: "logits".into(),
            expected: format!(
                "[{}, {}, {}]",
                p.n_filters,
                raster.n_neurons(),
                p.width_bins
            ),
            got: format!("[{k}, {n}, {w}]"),
        });
    }
    let l = projections.ncols();
    let flat: Vec<f64> = logits.iter().copied().collect();
    let mut s = vec![0.0; flat.len()];
    softmax_rows(&flat, w, &mut s);
    let filters = Array3::from_shape_vec((k, n, w), s.clone())
        .map_err(|e| ConvSeqError::param("filters", e.to_string()))?;
    let mut null = Vec::with_capacity(k);
    for f in 0..k {
        let st = if let Some(a) = p.alpha.fixed {
            NullStats {
                null: p.alpha.null,
                rule: p.alpha.rule,
                n_samples: 0,
                mean: f64::NAN,
                std: f64::NAN,
                alpha: a,
            }
        } else if let Some(pre) = &pre_null {
            pre.clone()
        } else {
            alpha_circular_shift(
                raster,
                &s[f * n * w..(f + 1) * n * w],
                w,
                &p.alpha,
                p.seed.wrapping_add(f as u64),
            )?
        };
        null.push(st);
    }
    let alpha: Vec<f64> = null.iter().map(|s| s.alpha).collect();
    let mut events = Vec::new();
    let mut lags = Array2::<usize>::zeros((k, n));
    let mut orders = Vec::with_capacity(k);
    let mut members = Vec::with_capacity(k);
    let h = p.members.half_window_bins.unwrap_or((w / 20).max(1));
    for f in 0..k {
        let x: Vec<f64> = projections.row(f).to_vec();
        let pk = find_peaks(&x, alpha[f], w);
        for &t in &pk {
            events.push(Event {
                filter: f,
                bin: t,
                time_s: t as f64 * raster.bin_s(),
                height: x[t],
            });
        }
        for i in 0..n {
            let row = filters.slice(ndarray::s![f, i, ..]);
            let mut best = 0;
            for j in 1..w {
                if row[j] > row[best] {
                    best = j;
                }
            }
            lags[[f, i]] = best;
        }
        let mut order: Vec<usize> = (0..n).collect();
        order.sort_by_key(|&i| lags[[f, i]]);
        orders.push(order);
        members.push(participation(
            raster,
            &s[f * n * w..(f + 1) * n * w],
            w,
            &pk,
            l,
            h,
            p.members.n_shuffles,
            p.members.z_threshold,
            p.seed.wrapping_add(f as u64),
        ));
    }
    Ok(ConvSeqFit {
        params: p.clone(),
        bin_s: raster.bin_s(),
        null,
        alpha,
        logits,
        filters,
        projections,
        loss_history,
        events,
        lags,
        orders,
        members,
    })
}
