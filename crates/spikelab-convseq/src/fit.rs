//! Training driver, detection with learned filters, and the events writer.

use std::path::Path;

use ndarray::{Array2, Array3};
use serde::{Deserialize, Serialize};
use spikelab_core::{Device, Flow, Observer, Progress, Silent};
use spikelab_data::{ColumnValues, SparseRaster, TimeIntervals};

use crate::engine::{Engine, init_logits, make_engine};
use crate::error::{ConvSeqError, Result};
use crate::loss::{LossTerms, softmax_rows};
use crate::members::{Member, argmax_lags, participation};
use crate::null::{
    DenseAlphaOptions, NullStats, alpha_circular_shift, alpha_control_variate,
    alpha_random_filters, alpha_random_filters_bounded, alpha_random_filters_dense,
};
use crate::params::{AlphaOptions, Backend, ConvSeqParams, NullKind, candle_device};
use crate::peaks::{PeakStream, find_peaks};
use crate::sparse;

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

/// What the learned filters find in one recording: α, projections, events and members.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Detection {
    /// Bin width of the recording, s.
    pub bin_s: f64,
    /// Null statistics, one per filter (the random-filter null is shared).
    pub null: Vec<NullStats>,
    /// α per filter.
    pub alpha: Vec<f64>,
    /// Projections `[K, L]`, L = T + 2P − W + 1; index = window-centre bin (`[K, 0]` from
    /// [`ConvSeqFit::detect_bounded`], which does not keep them).
    pub projections: Array2<f64>,
    /// Detections of all filters, sorted by filter then bin.
    pub events: Vec<Event>,
    /// Per filter, participation of every neuron (with its learned lag).
    pub members: Vec<Vec<Member>>,
}

impl Detection {
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

    /// The events as CSV text: a `filter,bin,time_s,height` header, one row per event.
    ///
    /// ```
    /// use spikelab_convseq::{Detection, Event};
    /// let d = Detection {
    ///     bin_s: 0.05, null: vec![], alpha: vec![1.5], projections: Default::default(),
    ///     events: vec![Event { filter: 0, bin: 40, time_s: 2.0, height: 1.75 }],
    ///     members: vec![],
    /// };
    /// assert_eq!(d.events_csv(), "filter,bin,time_s,height\n0,40,2,1.75\n");
    /// ```
    pub fn events_csv(&self) -> String {
        let mut csv = String::from("filter,bin,time_s,height\n");
        for e in &self.events {
            csv.push_str(&format!(
                "{},{},{},{}\n",
                e.filter, e.bin, e.time_s, e.height
            ));
        }
        csv
    }

    /// Writes [`Detection::events_csv`] to `path` atomically (temporary file + rename). An
    /// existing file is an error unless `overwrite`.
    pub fn write_events_csv(&self, path: &Path, overwrite: bool) -> Result<()> {
        Ok(spikelab_data::io::write_bytes_atomic(
            path,
            self.events_csv().as_bytes(),
            overwrite,
        )?)
    }
}

/// A trained convSeq model: the learned filters with their sequence orders, the training
/// loss, and what the filters detect in the training recording. [`ConvSeqFit::detect`]
/// applies the filters to another recording.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ConvSeqFit {
    /// The parameters used.
    pub params: ConvSeqParams,
    /// Bin width of the training recording, s (the filters' taps are bins of this width).
    pub bin_s: f64,
    /// Learned logits `[K, N, W]`.
    pub logits: Array3<f64>,
    /// Softmaxed filters `[K, N, W]` (every row sums to 1).
    pub filters: Array3<f64>,
    /// Per filter, `argmax_w S[k, n, w]` for each neuron (`[K, N]`).
    pub lags: Array2<usize>,
    /// Per filter, neurons sorted by ascending lag (stable): the sequence order.
    pub orders: Vec<Vec<usize>>,
    /// Loss per epoch (before each step). Shorter than `params.epochs` if an observer
    /// stopped the training.
    pub loss_history: Vec<LossTerms>,
    /// α, projections, events and members on the training recording.
    pub detection: Detection,
    /// [`Mode::Robust`](crate::Mode::Robust): restart selection and held-out significance
    /// (`None` in the faithful mode).
    #[serde(default)]
    pub robust: Option<crate::robust::RobustReport>,
}

impl ConvSeqFit {
    /// The events of `detection` (made with these filters) as a [`TimeIntervals`] table
    /// `convseq_events`, ready for NWB (`io::nwb::write_time_intervals` /
    /// `add_time_intervals`).
    ///
    /// Each row spans the bins where the filter's member neurons are predicted to fire
    /// (`bin − P + lag` for the smallest to the largest member lag, P = W/2; the whole window
    /// if the filter has no members), clipped at the recording start; times are
    /// `t_start_s + bin · bin_s`. Columns: `filter`, `peak_time` (s, the window centre),
    /// `height` (projection at the peak) and `member_unit_ids` (ragged; `unit_ids[n]` of
    /// raster row n, or n itself without ids). Rows are sorted by start time.
    ///
    /// Errors: [`ConvSeqError::InvalidParameter`] for a non-finite or negative `t_start_s`
    /// or `unit_ids` shorter than the raster's rows.
    ///
    /// # Example
    /// ```
    /// use spikelab_convseq::{AlphaOptions, ConvSeq, ConvSeqParams};
    /// use spikelab_data::{ColumnValues, SparseRaster};
    /// // 8 neurons fire in order, 3 bins apart, every 100 bins; 4 more fire at random.
    /// let mut ev = Vec::new();
    /// for onset in (20..1900u64).step_by(100) {
    ///     for n in 0..8 { ev.push((n, onset + 3 * n as u64)); }
    /// }
    /// for i in 0..200u64 { ev.push((8 + (i % 4) as usize, (i * 7919) % 2000)); }
    /// let raster = SparseRaster::from_events(12, 2000, 0.01, &ev)?;
    /// let params = ConvSeqParams {
    ///     width_bins: 40, tv_l: 1.0, epochs: 200, seed: 1,
    ///     alpha: AlphaOptions { n_samples: 100, ..Default::default() },
    ///     ..Default::default()
    /// };
    /// let fit = ConvSeq::new(params)?.fit(&raster)?;
    /// let ids: Vec<i64> = (100..112).collect();
    /// let table = fit.events_table(&fit.detection, 5.0, Some(&ids))?;
    /// assert_eq!(table.len(), fit.detection.events.len());
    /// assert!(table.len() > 10 && table.start_s()[0] >= 5.0);
    /// let ColumnValues::RaggedI64(members) = &table.columns()[3].values else { panic!() };
    /// assert!(members[0].iter().filter(|id| (100..108).contains(*id)).count() >= 6);
    /// # Ok::<(), spikelab_convseq::ConvSeqError>(())
    /// ```
    pub fn events_table(
        &self,
        detection: &Detection,
        t_start_s: f64,
        unit_ids: Option<&[i64]>,
    ) -> Result<TimeIntervals> {
        if !(t_start_s.is_finite() && t_start_s >= 0.0) {
            return Err(ConvSeqError::param(
                "t_start_s",
                format!("must be finite and ≥ 0 s, got {t_start_s}"),
            ));
        }
        let n_rows = self.logits.shape()[1];
        if let Some(ids) = unit_ids
            && ids.len() < n_rows
        {
            return Err(ConvSeqError::param(
                "unit_ids",
                format!("{} ids for {n_rows} raster rows", ids.len()),
            ));
        }
        let (w, p) = (self.params.width_bins as i64, self.params.padding() as i64);
        let bin_s = detection.bin_s;
        let mut rows: Vec<(f64, f64, &Event, Vec<i64>)> = detection
            .events
            .iter()
            .map(|e| {
                let members: Vec<&Member> = detection
                    .members
                    .get(e.filter)
                    .map(|m| m.iter().filter(|m| m.is_member).collect())
                    .unwrap_or_default();
                let (lo, hi) = match (
                    members.iter().map(|m| m.lag_bins as i64).min(),
                    members.iter().map(|m| m.lag_bins as i64).max(),
                ) {
                    (Some(lo), Some(hi)) => (lo, hi),
                    _ => (0, w - 1),
                };
                let first = (e.bin as i64 - p + lo).max(0);
                let last = (e.bin as i64 - p + hi + 1).max(first);
                let mut ids: Vec<i64> = members
                    .iter()
                    .map(|m| unit_ids.map_or(m.neuron as i64, |ids| ids[m.neuron]))
                    .collect();
                ids.sort_unstable();
                (
                    t_start_s + first as f64 * bin_s,
                    t_start_s + last as f64 * bin_s,
                    e,
                    ids,
                )
            })
            .collect();
        rows.sort_by(|a, b| a.0.total_cmp(&b.0));
        let table = TimeIntervals::new(
            "convseq_events",
            "sequence occurrences detected by convSeq (spikelab): one row per detection, \
             spanning the predicted spikes of the filter's member neurons",
            rows.iter().map(|r| r.0).collect(),
            rows.iter().map(|r| r.1).collect(),
        )?
        .with_column(
            "filter",
            "index of the convSeq filter (sequence type) that detected the event",
            ColumnValues::I64(rows.iter().map(|r| r.2.filter as i64).collect()),
        )?
        .with_column(
            "peak_time",
            "time of the filter window's centre at the projection peak (s)",
            ColumnValues::F64(rows.iter().map(|r| t_start_s + r.2.time_s).collect()),
        )?
        .with_column(
            "height",
            "projection value at the peak (a.u.)",
            ColumnValues::F64(rows.iter().map(|r| r.2.height).collect()),
        )?
        .with_column(
            "member_unit_ids",
            "ids of the filter's member units",
            ColumnValues::RaggedI64(rows.into_iter().map(|r| r.3).collect()),
        )?;
        Ok(table)
    }

    /// Event bins of filter `k` in the training recording.
    pub fn event_bins(&self, k: usize) -> Vec<usize> {
        self.detection.event_bins(k)
    }

    /// Member neurons of filter `k` in the training recording, by decreasing z.
    pub fn member_neurons(&self, k: usize) -> Vec<usize> {
        self.detection.member_neurons(k)
    }

    /// Detects the learned sequences in another recording of the same neurons (same rows,
    /// same bin width), with α estimated on that recording as `params.alpha` says.
    ///
    /// Errors: [`ConvSeqError::Shape`] if the neuron count differs,
    /// [`ConvSeqError::InvalidParameter`] if the bin width differs or the recording is
    /// shorter than the filters, [`ConvSeqError::InvalidRaster`] if it holds no spikes.
    pub fn detect(&self, raster: &SparseRaster) -> Result<Detection> {
        self.detect_with(raster, &self.params.alpha)
    }

    /// As [`ConvSeqFit::detect`] with other significance options (e.g. a fixed α).
    pub fn detect_with(&self, raster: &SparseRaster, alpha: &AlphaOptions) -> Result<Detection> {
        let p = self.detect_params(raster, alpha)?;
        let pre = pre_null(raster, &p)?;
        let logits: Vec<f64> = self.logits.iter().copied().collect();
        let projections = make_engine(raster, &p, logits)?.projections()?;
        let w = p.width_bins;
        let d = detect_filters(raster, &p, &self.filters, pre, &mut |f, alpha| {
            whole_peaks(&projections, f, alpha, w)
        })?;
        Ok(Detection { projections, ..d })
    }

    /// As [`ConvSeqFit::detect`] in memory that does not grow with the recording's length
    /// beyond the raster and the events: the projections, the random-filter null and the
    /// peaks are computed over windows of `window_bins` output bins (each reading its
    /// W − 1 bins of filter overlap from the raster again), and the projections are not kept
    /// ([`Detection::projections`] is `[K, 0]`). Events, α, null statistics and members are
    /// those of [`ConvSeqFit::detect`] on the sparse path, bit for bit, whatever the window.
    ///
    /// The random-filter null makes each projection twice (sum, then squared deviations),
    /// so it costs twice the scatter of [`ConvSeqFit::detect`]; the circular-shift null
    /// still copies the raster per surrogate. A dense backend's parameters are run on the
    /// sparse path. Errors as [`ConvSeqFit::detect`], and
    /// [`ConvSeqError::InvalidParameter`] for `window_bins = 0`.
    pub fn detect_bounded(&self, raster: &SparseRaster, window_bins: usize) -> Result<Detection> {
        self.detect_bounded_with(raster, &self.params.alpha, window_bins)
    }

    /// As [`ConvSeqFit::detect_bounded`] with other significance options.
    pub fn detect_bounded_with(
        &self,
        raster: &SparseRaster,
        alpha: &AlphaOptions,
        window_bins: usize,
    ) -> Result<Detection> {
        if window_bins == 0 {
            return Err(ConvSeqError::param("window_bins", "must be ≥ 1"));
        }
        let p = ConvSeqParams {
            backend: Backend::Sparse,
            ..self.detect_params(raster, alpha)?
        };
        let pre = match (p.alpha.fixed, p.alpha.null) {
            (None, NullKind::RandomFilters) => Some(alpha_random_filters_bounded(
                raster,
                p.width_bins,
                &p.alpha,
                p.seed,
                window_bins,
            )?),
            (None, NullKind::RandomFiltersControlVariate) => Some(alpha_control_variate(
                raster,
                p.width_bins,
                &p.alpha,
                p.seed,
            )?),
            _ => None,
        };
        let (k, n, w) = self.filters.dim();
        let (pad, l) = (p.padding(), p.output_len(raster.n_bins() as usize));
        let logits: Vec<f64> = self.logits.iter().copied().collect();
        let mut s = vec![0.0; k * n * w];
        softmax_rows(&logits, w, &mut s);
        let window = window_bins.min(l);
        let mut buf = vec![0.0; window];
        let mut spikes = Vec::new();
        let detection = detect_filters(raster, &p, &self.filters, pre, &mut |f, alpha| {
            let rev = sparse::reversed(&s[f * n * w..(f + 1) * n * w], w);
            if n * w >= l {
                // The whole projection is no longer than a filter; made as the engine does.
                let mut x = vec![0.0; l];
                sparse::project_blocks(&sparse::Csr::new(raster), &rev, w, pad, &mut x);
                return Ok(find_peaks(&x, alpha, w)
                    .into_iter()
                    .map(|t| (t, x[t]))
                    .collect());
            }
            let mut peaks = PeakStream::new(l, alpha, w);
            for a in (0..l).step_by(window) {
                let out = &mut buf[..window.min(l - a)];
                sparse::project_window(raster, &rev, w, pad, a, out, &mut spikes);
                peaks.extend(out);
            }
            Ok(peaks.finish())
        })?;
        Ok(Detection {
            projections: Array2::zeros((k, 0)),
            ..detection
        })
    }

    /// The detection parameters for `raster`, checked as [`ConvSeqFit::detect`] says.
    fn detect_params(&self, raster: &SparseRaster, alpha: &AlphaOptions) -> Result<ConvSeqParams> {
        let (_, n, _) = self.filters.dim();
        if raster.n_neurons() != n {
            return Err(ConvSeqError::Shape {
                what: "raster".into(),
                expected: format!("{n} neurons (as in training)"),
                got: format!("{} neurons", raster.n_neurons()),
            });
        }
        if (raster.bin_s() - self.bin_s).abs() > 1e-9 * self.bin_s {
            return Err(ConvSeqError::param(
                "bin_s",
                format!(
                    "the filters were learned on {} s bins, the raster has {} s bins",
                    self.bin_s,
                    raster.bin_s()
                ),
            ));
        }
        let p = ConvSeqParams {
            alpha: *alpha,
            ..self.params.clone()
        };
        p.validate_for(raster)?;
        Ok(p)
    }
}

/// The convSeq estimator: validated parameters plus `fit`.
///
/// # Example
/// ```
/// use spikelab_convseq::{ConvSeq, ConvSeqParams, AlphaOptions};
/// use spikelab_data::{ColumnValues, SparseRaster, TimeIntervals};
/// // 10 neurons firing in order every 100 bins, plus noise.
/// let mut ev = Vec::new();
/// for onset in (20..1900).step_by(100) {
///     for n in 0..10 { ev.push((n, onset + 2 * n as u64)); }
/// }
/// for i in 0..200 { ev.push((i % 10, (i as u64 * 7919) % 2000)); }
/// let r = SparseRaster::from_events(10, 2000, 0.01, &ev)?;
/// let p = ConvSeqParams {
///     width_bins: 40, epochs: 300, tv_l: 1.0,
///     alpha: AlphaOptions { n_samples: 200, ..Default::default() },
///     ..Default::default()
/// };
/// let fit = ConvSeq::new(p)?.fit(&r)?;
/// assert_eq!(fit.detection.projections.dim(), (1, 2001));
/// assert!(fit.loss_history.last().unwrap().total < fit.loss_history[0].total);
/// assert!(!fit.detection.events.is_empty());
/// # Ok::<(), spikelab_convseq::ConvSeqError>(())
/// ```
#[derive(Debug, Clone)]
pub struct ConvSeq {
    params: ConvSeqParams,
}

/// The backend that runs `asked` on `device` (see [`ConvSeq::fit_sessions`]).
fn backend_on(asked: Backend, device: Device) -> Backend {
    match (device, asked) {
        (
            Device::Cpu,
            b @ (Backend::Sparse
            | Backend::Dense {
                device: Device::Cpu,
                ..
            }),
        ) => b,
        (Device::Cpu, _) => Backend::Sparse,
        (Device::Cuda(i), Backend::Dense { dtype, .. }) => Backend::Dense {
            device: Device::Cuda(i),
            dtype,
        },
        (Device::Cuda(i), _) => Backend::SparseCuda { ordinal: i },
        (Device::Metal(i), Backend::Dense { dtype, .. }) => Backend::Dense {
            device: Device::Metal(i),
            dtype,
        },
        (Device::Metal(i), _) => Backend::Dense {
            device: Device::Metal(i),
            dtype: crate::params::DenseDType::F32,
        },
    }
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

    /// Fits every raster (e.g. the sessions of a study) on a pool of one worker per entry of
    /// `devices` ([`spikelab_core::workers::run_on_devices`]); results in raster order, one
    /// `Result` per raster, each equal to [`ConvSeq::fit`] of that raster on its worker's
    /// device. The backend follows the device: on the CPU the parameters' backend when it
    /// runs there, else [`Backend::Sparse`]; on `cuda:i` the dense backend on that GPU when
    /// the parameters ask for a dense one, else [`Backend::SparseCuda`]; on `metal:i` the
    /// dense backend in f32. The observer sees one `"job"` report per finished raster.
    ///
    /// ```
    /// use spikelab_convseq::{ConvSeq, ConvSeqParams, Device, SparseRaster};
    /// let sessions: Vec<SparseRaster> = (0..3u64)
    ///     .map(|s| {
    ///         let ev: Vec<(usize, u64)> =
    ///             (0..300u64).map(|i| ((i % 4) as usize, (i * 13 + s) % 1000)).collect();
    ///         SparseRaster::from_events(4, 1000, 0.01, &ev)
    ///     })
    ///     .collect::<Result<_, _>>()?;
    /// let cs = ConvSeq::new(ConvSeqParams { width_bins: 20, epochs: 5, ..Default::default() })?;
    /// let fits = cs.fit_sessions(&sessions, &[Device::Cpu, Device::Cpu], &mut spikelab_core::Silent)?;
    /// assert_eq!(fits.len(), 3);
    /// assert_eq!(fits[1].as_ref().unwrap().logits, cs.fit(&sessions[1])?.logits);
    /// # Ok::<(), spikelab_convseq::ConvSeqError>(())
    /// ```
    pub fn fit_sessions(
        &self,
        rasters: &[SparseRaster],
        devices: &[Device],
        observer: &mut impl Observer,
    ) -> Result<Vec<Result<ConvSeqFit>>> {
        let jobs: Vec<&SparseRaster> = rasters.iter().collect();
        let out = spikelab_core::workers::run_on_devices(
            devices,
            jobs,
            |device, _, raster| {
                let params = ConvSeqParams {
                    backend: backend_on(self.params.backend, device),
                    ..self.params.clone()
                };
                ConvSeq::new(params)?.fit(raster)
            },
            observer,
        )?;
        Ok(out)
    }

    /// Fits without progress reporting.
    pub fn fit(&self, raster: &SparseRaster) -> Result<ConvSeqFit> {
        self.fit_with(raster, &mut Silent)
    }

    /// Fits, reporting every epoch to `observer` (stage `"epoch"`, metric `"loss"`). If the
    /// observer answers [`Flow::Stop`], training ends after that epoch and the read-out is
    /// made from the filters reached so far.
    ///
    /// A bin holding several spikes of one neuron counts once (convSeq works on a binary
    /// raster, as the original).
    pub fn fit_with(
        &self,
        raster: &SparseRaster,
        observer: &mut impl Observer,
    ) -> Result<ConvSeqFit> {
        let p = &self.params;
        p.validate_for(raster)?;
        if p.mode == crate::params::Mode::Robust {
            return crate::robust::fit(raster, p, observer);
        }
        let (k, n, w) = (p.n_filters, raster.n_neurons(), p.width_bins);
        let pre = pre_null(raster, p)?;
        let logits = init_logits(k, n, w, p.seed);
        let mut engine: Box<dyn Engine + '_> = make_engine(raster, p, logits)?;
        let mut history = Vec::with_capacity(p.epochs);
        for ep in 0..p.epochs {
            let t = engine.step()?;
            let flow = observer.observe(
                &Progress::new("epoch", ep)
                    .with_total(p.epochs)
                    .with_metric("loss", t.total),
            );
            history.push(t);
            if flow == Flow::Stop {
                break;
            }
        }
        let logits = engine.logits()?;
        let projections = engine.projections()?;
        drop(engine);
        let flat: Vec<f64> = logits.iter().copied().collect();
        let mut s = vec![0.0; flat.len()];
        softmax_rows(&flat, w, &mut s);
        let filters = Array3::from_shape_vec((k, n, w), s)
            .map_err(|e| ConvSeqError::param("filters", e.to_string()))?;
        let d = detect_filters(raster, p, &filters, pre, &mut |f, alpha| {
            whole_peaks(&projections, f, alpha, w)
        })?;
        let detection = Detection { projections, ..d };
        let lags = argmax_lags(&filters);
        let orders = (0..k)
            .map(|f| {
                let mut order: Vec<usize> = (0..n).collect();
                order.sort_by_key(|&i| lags[[f, i]]);
                order
            })
            .collect();
        Ok(ConvSeqFit {
            params: p.clone(),
            bin_s: raster.bin_s(),
            logits,
            filters,
            lags,
            orders,
            loss_history: history,
            detection,
            robust: None,
        })
    }
}

/// The random-filter null, computed before training as the original does (on the dense
/// device when one is asked for); `None` for a fixed α or the circular-shift null.
fn pre_null(raster: &SparseRaster, p: &ConvSeqParams) -> Result<Option<NullStats>> {
    if p.alpha.fixed.is_some() || p.alpha.null == NullKind::CircularShift {
        return Ok(None);
    }
    let w = p.width_bins;
    if p.alpha.null == NullKind::RandomFiltersControlVariate {
        return Ok(Some(alpha_control_variate(raster, w, &p.alpha, p.seed)?));
    }
    // GPU backends draw the random filters on their device (the sparse CUDA path with the
    // default options: f32, TF32 gemms).
    let gpu = match p.backend {
        Backend::Dense { device, dtype } if !device.is_cpu() => Some((device, dtype.candle())),
        Backend::SparseCuda { ordinal } => Some((
            spikelab_core::Device::Cuda(ordinal),
            DenseAlphaOptions::default().dtype,
        )),
        _ => None,
    };
    Ok(Some(match gpu {
        Some((device, dtype)) => alpha_random_filters_dense(
            raster,
            w,
            &p.alpha,
            p.seed,
            &candle_device(device)?,
            &DenseAlphaOptions {
                dtype,
                ..Default::default()
            },
        )?,
        None => alpha_random_filters(raster, w, &p.alpha, p.seed)?,
    }))
}

/// The peaks `(bin, height)` of projection `f` above `alpha`, at least `w` apart.
fn whole_peaks(
    projections: &Array2<f64>,
    f: usize,
    alpha: f64,
    w: usize,
) -> Result<Vec<(usize, f64)>> {
    let x = projections.row(f);
    let x = x
        .as_slice()
        .ok_or_else(|| ConvSeqError::param("projections", "not in standard layout"))?;
    Ok(find_peaks(x, alpha, w)
        .into_iter()
        .map(|t| (t, x[t]))
        .collect())
}

/// α per filter (fixed, the shared random-filter null, or the circular-shift null of each
/// filter), the peaks above it (`(bin, height)` from `peaks(filter, α)`), and the members,
/// for softmaxed `filters` `[K, N, W]`; the projections are left empty for the caller.
fn detect_filters(
    raster: &SparseRaster,
    p: &ConvSeqParams,
    filters: &Array3<f64>,
    pre_null: Option<NullStats>,
    peaks: &mut dyn FnMut(usize, f64) -> Result<Vec<(usize, f64)>>,
) -> Result<Detection> {
    let (k, n, w) = filters.dim();
    let l = p.output_len(raster.n_bins() as usize);
    let s = filters
        .as_slice()
        .ok_or_else(|| ConvSeqError::param("filters", "not in standard layout"))?;
    let h = p.members.half_window_bins.unwrap_or((w / 20).max(1));
    let mut null = Vec::with_capacity(k);
    let mut events = Vec::new();
    let mut members = Vec::with_capacity(k);
    for f in 0..k {
        let filter = &s[f * n * w..(f + 1) * n * w];
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
            alpha_circular_shift(raster, filter, w, &p.alpha, p.seed.wrapping_add(f as u64))?
        };
        let found = peaks(f, st.alpha)?;
        events.extend(found.iter().map(|&(t, height)| Event {
            filter: f,
            bin: t,
            time_s: t as f64 * raster.bin_s(),
            height,
        }));
        let pk: Vec<usize> = found.iter().map(|e| e.0).collect();
        members.push(participation(
            raster,
            filter,
            w,
            &pk,
            l,
            h,
            p.members.n_shuffles,
            p.members.z_threshold,
            p.seed.wrapping_add(f as u64),
        ));
        null.push(st);
    }
    Ok(Detection {
        bin_s: raster.bin_s(),
        alpha: null.iter().map(|s| s.alpha).collect(),
        null,
        projections: Array2::zeros((k, 0)),
        events,
        members,
    })
}
