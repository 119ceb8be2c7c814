//! Windowed reads: the spikes or frames of one time window, decoding only the blocks
//! (compressed chunks, or fixed runs of a contiguous dataset) that a search and the window
//! itself touch.

use std::path::Path;

use hdf5::Dataset;
use ndarray::{Array2, Axis, s};

use super::h5::{ds_1d_i64, neurodata_type, read_checked, read_index};
use super::ophys::find_series;
use super::timeseries::{scale, time_base, time_major_data};
use super::{Msg, R, nwb_err, open};
use crate::error::{DataError, Result};
use crate::{CalciumTraces, SpikeTrains};

/// Elements per block of a dataset that is not chunked (read by hyperslab).
const CONTIGUOUS_BLOCK: usize = 4096;
/// Decoded blocks kept during one read (a unit's last block is often the next unit's first).
const CACHE_BLOCKS: usize = 4;
/// Largest deviation of a timestamp interval from the mean, relative to the mean (as in
/// [`read_ophys`](super::read_ophys)).
const IRREGULAR: f64 = 0.01;

/// Frames of a `RoiResponseSeries` inside a time window, from [`read_ophys_window`].
///
/// # Example
/// ```
/// use ndarray::array;
/// use spikelab_data::CalciumTraces;
/// use spikelab_data::io::nwb::{self, OphysWriteOptions};
/// let dir = tempfile::tempdir().unwrap();
/// let path = dir.path().join("o.nwb");
/// nwb::write_ophys(&path, &CalciumTraces::new(array![[1.0], [2.0], [3.0], [4.0]], 2.0)?, &OphysWriteOptions::default())?;
/// # spikelab_datasets::collect_nwb(&path);
/// let w = nwb::read_ophys_window(&path, None, 0.5, 1.5)?; // frames at 0.5 s and 1.0 s
/// assert_eq!((w.first_frame, w.t_first_s), (1, Some(0.5)));
/// assert_eq!(w.traces.trace(0).to_vec(), vec![2.0, 3.0]);
/// # Ok::<(), spikelab_data::DataError>(())
/// ```
#[derive(Debug, Clone)]
pub struct OphysWindow {
    /// Index, in the stored series, of the first returned frame (the number of frames before
    /// the window when it holds none).
    pub first_frame: usize,
    /// Time in seconds of the first returned frame (`None` when the window holds no frame);
    /// frame `i` of [`traces`](Self::traces) is at `t_first_s + i / frame_rate_hz`.
    pub t_first_s: Option<f64>,
    /// The frames `[first_frame, first_frame + n_frames)`, `[time, ROI]`, with
    /// `conversion`/`offset` applied; valid lengths count trailing NaN inside the window.
    pub traces: CalciumTraces,
}

/// Reads the spike trains of every unit of `/units` restricted to `[t_start_s, t_stop_s)`.
///
/// The result keeps every unit (empty when it has no spike in the window) with its id, and
/// its interval is the window: `t_start_s()` / `t_stop_s()` are the arguments. A window
/// before the first or after the last spike gives empty trains.
///
/// What is read: `id` and `spike_times_index` in full (one value per unit), then, per unit,
/// the blocks of `spike_times` that an interpolation search for the two window bounds lands
/// on (about one per unit when the unit's spikes are spread evenly over the recording;
/// bisection every third step keeps the worst case logarithmic) and those holding the window.
/// A block is one compressed chunk (65 536 spikes in files from
/// [`write_units`](super::write_units)); a unit shorter than a block shares it with its
/// neighbours. The time does not grow with the file's length, only with the number of
/// units and the spikes in the window; `docs/formats.md` has measurements.
///
/// Each unit's times must be sorted, as NWB asks and [`write_units`](super::write_units)
/// writes (the full reader [`read_units`](super::read_units) sorts them instead). Every
/// block read is checked, so an inversion or a non-finite time met on the way is a
/// [`DataError::InvalidSpikeTimes`]; an inversion in blocks the search skips goes unseen.
///
/// Errors: [`DataError::InvalidParameter`] for a non-finite bound or `t_stop_s <
/// t_start_s` (an empty window `t_stop_s == t_start_s` is fine);
/// [`DataError::InvalidSpikeTimes`] as above; [`DataError::Nwb`] as for
/// [`read_units`](super::read_units).
///
/// # Example
/// ```
/// use spikelab_data::SpikeTrains;
/// use spikelab_data::io::nwb::{self, NwbWriteOptions};
/// let dir = tempfile::tempdir().unwrap();
/// let path = dir.path().join("u.nwb");
/// let st = SpikeTrains::with_ids(vec![vec![0.5, 1.5, 2.5], vec![], vec![2.0, 3.5]], vec![4, 5, 6], 0.0, 4.0)?;
/// nwb::write_units(&path, &st, &NwbWriteOptions::default())?;
/// # spikelab_datasets::collect_nwb(&path);
/// let w = nwb::read_units_window(&path, 1.0, 2.5)?;
/// assert_eq!((w.train(0), w.train(1), w.train(2)), (&[1.5][..], &[][..], &[2.0][..]));
/// assert_eq!((w.unit_ids(), w.t_start_s(), w.t_stop_s()), (&[4, 5, 6][..], 1.0, 2.5));
/// assert!(nwb::read_units_window(&path, 2.0, 1.0).is_err());
/// # Ok::<(), spikelab_data::DataError>(())
/// ```
pub fn read_units_window(path: &Path, t_start_s: f64, t_stop_s: f64) -> Result<SpikeTrains> {
    check_window(t_start_s, t_stop_s)?;
    let file = open(path)?;
    let (trains, ids) = units_window_in(&file, t_start_s, t_stop_s).map_err(|e| match e {
        UnitsErr::Read(Msg(m)) => nwb_err(path, m),
        UnitsErr::Unsorted { unit, reason } => DataError::InvalidSpikeTimes {
            unit,
            reason: format!(
                "{}: {reason} (read_units_window needs sorted times; read_units sorts them)",
                path.display()
            ),
        },
    })?;
    SpikeTrains::with_ids(trains, ids, t_start_s, t_stop_s)
}

/// Reads the frames of a `RoiResponseSeries` whose times lie in `[t_start_s, t_stop_s)`.
///
/// `series` is an HDF5 path as for [`read_ophys_series`](super::read_ophys_series); `None`
/// picks the series [`read_ophys`](super::read_ophys) reads. Only the rows of the window are
/// read from `data` (one hyperslab `[i0..i1, all ROIs]`), then `data@conversion` and
/// `data@offset` are applied as in the full readers.
///
/// With `starting_time` `t0` and `rate`, frame `i` is at `t0 + i / rate`, so the window holds
/// frames `ceil((t_start_s − t0)·rate) ≤ i < ceil((t_stop_s − t0)·rate)`. With `timestamps`,
/// the bounds come from a search over the timestamps that reads their first and last value
/// and the blocks it lands on; the frame rate is `(n − 1) / (last − first)`, and the
/// regularity the full reader checks over the whole series (every interval within 1 % of the
/// mean) is checked over the window's timestamps. Timestamps must be increasing.
///
/// A window outside the recording gives an [`OphysWindow`] with no frames and `t_first_s`
/// `None`.
///
/// Errors: [`DataError::InvalidParameter`] for a non-finite bound or `t_stop_s <
/// t_start_s`; [`DataError::Nwb`] for a missing series, data of more than 2 dimensions, no
/// time base, decreasing or (within the window) irregular timestamps, infinite values.
///
/// # Example
/// ```
/// use ndarray::Array2;
/// use spikelab_data::CalciumTraces;
/// use spikelab_data::io::nwb::{self, OphysWriteOptions};
/// let dir = tempfile::tempdir().unwrap();
/// let path = dir.path().join("o.nwb");
/// let data = Array2::from_shape_fn((300, 3), |(t, j)| (t * 3 + j) as f64);
/// let mut opts = OphysWriteOptions::default();
/// opts.starting_time_s = 10.0;
/// nwb::write_ophys(&path, &CalciumTraces::new(data, 30.0)?, &opts)?;
/// # spikelab_datasets::collect_nwb(&path);
/// // 10 s + [1 s, 2 s): frames 30..60.
/// let w = nwb::read_ophys_window(&path, Some("/processing/ophys/Fluorescence/RoiResponseSeries"), 11.0, 12.0)?;
/// assert_eq!((w.first_frame, w.traces.n_frames(), w.t_first_s), (30, 30, Some(11.0)));
/// assert_eq!(w.traces.data()[[0, 2]], 92.0);
/// assert_eq!(nwb::read_ophys_window(&path, None, 50.0, 60.0)?.traces.n_frames(), 0);
/// # Ok::<(), spikelab_data::DataError>(())
/// ```
pub fn read_ophys_window(
    path: &Path,
    series: Option<&str>,
    t_start_s: f64,
    t_stop_s: f64,
) -> Result<OphysWindow> {
    check_window(t_start_s, t_stop_s)?;
    let file = open(path)?;
    let series = match series {
        Some(s) => s.to_string(),
        None => find_series(&file)
            .map_err(|Msg(m)| nwb_err(path, m))?
            .into_iter()
            .next()
            .ok_or_else(|| {
                nwb_err(
                    path,
                    "no RoiResponseSeries under /processing/*/Fluorescence, /processing/*/DfOverF or /acquisition",
                )
            })?,
    };
    ophys_window_in(&file, &series, t_start_s, t_stop_s).map_err(|Msg(m)| nwb_err(path, m))
}

fn check_window(t_start_s: f64, t_stop_s: f64) -> Result<()> {
    for (name, v) in [("t_start_s", t_start_s), ("t_stop_s", t_stop_s)] {
        if !v.is_finite() {
            return Err(DataError::param(name, format!("must be finite, got {v}")));
        }
    }
    if t_stop_s < t_start_s {
        return Err(DataError::param(
            "t_stop_s",
            format!("the window [{t_start_s}, {t_stop_s}) ends before it starts"),
        ));
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Block reads and the search.
// ---------------------------------------------------------------------------------------------

/// A 1-D dataset read one block at a time, with a few decoded blocks cached.
struct Blocks<'a> {
    ds: &'a Dataset,
    name: String,
    len: usize,
    block: usize,
    /// `(block number, values)`, most recently used last.
    cache: Vec<(usize, Vec<f64>)>,
}

impl<'a> Blocks<'a> {
    fn new(ds: &'a Dataset, name: &str) -> R<Self> {
        let len = match ds.shape().as_slice() {
            [len] => *len,
            other => return Err(Msg(format!("{name}: expected 1-D, got shape {other:?}"))),
        };
        let block = ds
            .chunk()
            .and_then(|c| c.first().copied())
            .filter(|&c| c > 0)
            .unwrap_or(CONTIGUOUS_BLOCK);
        Ok(Blocks {
            ds,
            name: name.to_string(),
            len,
            block,
            cache: Vec::with_capacity(CACHE_BLOCKS),
        })
    }

    /// First index and values of the block holding element `i` (`i < len`).
    fn block_of(&mut self, i: usize) -> R<(usize, &[f64])> {
        let b = i / self.block;
        match self.cache.iter().position(|(c, _)| *c == b) {
            Some(k) => {
                let hit = self.cache.remove(k);
                self.cache.push(hit);
            }
            None => {
                let a = b * self.block;
                let end = (a + self.block).min(self.len);
                let values = self
                    .ds
                    .read_slice_1d::<f64, _>(a..end)
                    .map_err(|e| Msg(format!("reading {}[{a}..{end}]: {e}", self.name)))?
                    .to_vec();
                if self.cache.len() == CACHE_BLOCKS {
                    self.cache.remove(0);
                }
                self.cache.push((b, values));
            }
        }
        let (_, values) = &self.cache[self.cache.len() - 1];
        Ok((b * self.block, values))
    }

    fn get(&mut self, i: usize) -> R<f64> {
        let (c0, values) = self.block_of(i)?;
        Ok(values[i - c0])
    }

    /// Elements `a..b`.
    fn range(&mut self, a: usize, b: usize) -> R<Vec<f64>> {
        let mut out = Vec::with_capacity(b.saturating_sub(a));
        let mut i = a;
        while i < b {
            let (c0, values) = self.block_of(i)?;
            let end = (c0 + values.len()).min(b);
            out.extend_from_slice(&values[i - c0..end - c0]);
            i = end;
        }
        Ok(out)
    }
}

/// Index `i` of the first pair `v[i] > v[i + 1]`, or with a NaN.
fn first_inversion(v: &[f64]) -> Option<usize> {
    v.windows(2).position(|w| {
        matches!(
            w[0].partial_cmp(&w[1]),
            None | Some(std::cmp::Ordering::Greater)
        )
    })
}

enum SearchErr {
    Read(Msg),
    /// Out of order or non-finite values.
    Unsorted(String),
}

impl From<Msg> for SearchErr {
    fn from(m: Msg) -> Self {
        SearchErr::Read(m)
    }
}

/// First index `i` in `lo..hi` with `v[i] >= x` (`hi` if none), for `v` non-decreasing there.
///
/// Each step decodes the block at a probe, clipped to the bracket, and either finds the
/// answer inside it or moves a bracket end past it. The probe interpolates between the
/// bracket ends' values, or extrapolates from one end with the last block's density; it
/// starts at `guess` and bisects every third step.
fn lower_bound(
    blocks: &mut Blocks<'_>,
    mut lo: usize,
    mut hi: usize,
    x: f64,
    mut guess: Option<usize>,
) -> std::result::Result<usize, SearchErr> {
    let mut below: Option<f64> = None; // v[lo - 1] < x
    let mut above: Option<f64> = None; // v[hi] >= x
    let mut density: Option<f64> = None; // elements per unit of value
    let mut step = 0usize;
    while lo < hi {
        step += 1;
        let mid = lo + (hi - lo) / 2;
        let estimate = if step.is_multiple_of(3) {
            None
        } else {
            guess
                .take()
                .map(|g| g as f64)
                .or(match (below, above, density) {
                    (Some(a), Some(b), _) if b > a => {
                        Some(lo as f64 - 1.0 + (x - a) / (b - a) * (hi - lo + 1) as f64)
                    }
                    (Some(a), _, Some(k)) => Some(lo as f64 - 1.0 + (x - a) * k),
                    (_, Some(b), Some(k)) => Some(hi as f64 - (b - x) * k),
                    _ => None,
                })
        };
        let p = match estimate {
            Some(e) if e.is_finite() => (e.max(lo as f64) as usize).min(hi - 1),
            _ => mid,
        };
        let (c0, values) = blocks.block_of(p)?;
        let a = c0.max(lo);
        let b = (c0 + values.len()).min(hi);
        let part = &values[a - c0..b - c0];
        if let Some(w) = first_inversion(part) {
            return Err(SearchErr::Unsorted(format!(
                "element {} ({}) is followed by {}",
                a + w,
                part[w],
                part[w + 1]
            )));
        }
        let (first, last) = (part[0], part[part.len() - 1]);
        if !(first.is_finite() && last.is_finite()) {
            return Err(SearchErr::Unsorted(format!(
                "non-finite value among elements {a}..{b}"
            )));
        }
        if below.is_some_and(|v| first < v) || above.is_some_and(|v| last > v) {
            return Err(SearchErr::Unsorted(format!(
                "elements {a}..{b} are out of order with those read before"
            )));
        }
        if last > first {
            density = Some((part.len() - 1) as f64 / (last - first));
        }
        if last < x {
            lo = b;
            below = Some(last);
        } else if first >= x {
            hi = a;
            above = Some(first);
        } else {
            return Ok(a + part.partition_point(|&v| v < x));
        }
    }
    Ok(lo)
}

// ---------------------------------------------------------------------------------------------
// Units.
// ---------------------------------------------------------------------------------------------

enum UnitsErr {
    Read(Msg),
    Unsorted { unit: usize, reason: String },
}

impl From<Msg> for UnitsErr {
    fn from(m: Msg) -> Self {
        UnitsErr::Read(m)
    }
}

/// `(trains, ids)` of the window.
fn units_window_in(
    file: &hdf5::File,
    t_start: f64,
    t_stop: f64,
) -> std::result::Result<(Vec<Vec<f64>>, Vec<i64>), UnitsErr> {
    let units = file
        .group("units")
        .map_err(|_| Msg("no /units table in this file".into()))?;
    let ids = ds_1d_i64(&units, "id")?;
    let n = ids.len();
    if !units.link_exists("spike_times") {
        if n == 0 {
            return Ok((Vec::new(), ids));
        }
        return Err(Msg("/units has no spike_times column".into()).into());
    }
    let times = units.dataset("spike_times").map_err(Msg::from)?;
    let mut blocks = Blocks::new(&times, "/units/spike_times")?;
    if !units.link_exists("spike_times_index") {
        return Err(Msg(format!(
            "/units/spike_times_index is missing: cannot tell which of the {} spike times belong to which of the {n} units",
            blocks.len
        ))
        .into());
    }
    let ends = read_index(&units, "spike_times_index", n, blocks.len)?;
    let span = obs_span(&units);
    let mut trains = Vec::with_capacity(n);
    let mut start = 0;
    for (unit, &end) in ends.iter().enumerate() {
        let unsorted = |e: SearchErr| match e {
            SearchErr::Read(m) => UnitsErr::Read(m),
            SearchErr::Unsorted(reason) => UnitsErr::Unsorted { unit, reason },
        };
        // First probe: where t_start falls if the unit's spikes are spread evenly.
        let guess = span.map(|(a, b)| {
            let f = ((t_start - a) / (b - a)).clamp(0.0, 1.0);
            start + (f * (end - start) as f64) as usize
        });
        let i0 = lower_bound(&mut blocks, start, end, t_start, guess).map_err(unsorted)?;
        let i1 = if t_stop > t_start {
            lower_bound(&mut blocks, i0, end, t_stop, Some(i0)).map_err(unsorted)?
        } else {
            i0
        };
        let train = blocks.range(i0, i1)?;
        if let Some(w) = first_inversion(&train) {
            return Err(UnitsErr::Unsorted {
                unit,
                reason: format!(
                    "spike {} at {} s comes after {} s",
                    i0 + w + 1 - start,
                    train[w + 1],
                    train[w]
                ),
            });
        }
        trains.push(train);
        start = end;
    }
    Ok((trains, ids))
}

/// `[min start, max stop]` of the finite `obs_intervals`, used only to place the first probe.
fn obs_span(units: &hdf5::Group) -> Option<(f64, f64)> {
    let ds = units.dataset("obs_intervals").ok()?;
    if ds.ndim() != 2 || ds.shape()[1] != 2 {
        return None;
    }
    let v = read_checked::<f64>(&ds).ok()?;
    let (a, b) = v
        .chunks_exact(2)
        .filter(|p| p[0].is_finite() && p[1].is_finite())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), p| {
            (a.min(p[0]), b.max(p[1]))
        });
    (a < b).then_some((a, b))
}

// ---------------------------------------------------------------------------------------------
// Ophys.
// ---------------------------------------------------------------------------------------------

fn ophys_window_in(file: &hdf5::File, series: &str, t_start: f64, t_stop: f64) -> R<OphysWindow> {
    let rrs = file
        .group(series)
        .map_err(|_| Msg(format!("no group {series} in this file")))?;
    let ty = neurodata_type(&rrs);
    if ty.as_deref() != Some("RoiResponseSeries") {
        return Err(Msg(format!(
            "{series} is not a RoiResponseSeries (neurodata_type {ty:?})"
        )));
    }
    let (data, t, n) = time_major_data(&rrs, series, "ROIs")?;
    let no_rate = || {
        Msg(format!(
            "{series} has neither starting_time@rate nor at least two timestamps: frame rate unknown"
        ))
    };
    let Rows {
        i0,
        i1,
        rate,
        t_first,
    } = if rrs.link_exists("starting_time") {
        let (rate, t0) = time_base(&rrs, t)?;
        let rate = rate
            .filter(|r| r.is_finite() && *r > 0.0)
            .ok_or_else(no_rate)?;
        let t0 = t0
            .filter(|v| v.is_finite())
            .ok_or_else(|| Msg(format!("{series}/starting_time is not a finite number")))?;
        let row = |x: f64| {
            let r = ((x - t0) * rate).ceil();
            if r <= 0.0 { 0 } else { (r as usize).min(t) }
        };
        let (i0, i1) = (row(t_start), row(t_stop));
        Rows {
            i0,
            i1,
            rate,
            t_first: (i0 < i1).then(|| t0 + i0 as f64 / rate),
        }
    } else if rrs.link_exists("timestamps") {
        timestamps_window(&rrs, series, t, t_start, t_stop)?.ok_or_else(no_rate)?
    } else {
        return Err(no_rate());
    };
    let mut arr = if i1 > i0 {
        let sel = || format!("reading {series}/data rows {i0}..{i1}");
        if n == 1 && data.ndim() == 1 {
            data.read_slice_1d::<f64, _>(i0..i1)
                .map_err(|e| Msg(format!("{}: {e}", sel())))?
                .insert_axis(Axis(1))
        } else {
            data.read_slice_2d::<f64, _>(s![i0..i1, ..])
                .map_err(|e| Msg(format!("{}: {e}", sel())))?
        }
    } else {
        Array2::zeros((0, n))
    };
    scale(&data, arr.iter_mut());
    let traces = CalciumTraces::new(arr, rate).map_err(|e| Msg(format!("{series}: {e}")))?;
    Ok(OphysWindow {
        first_frame: i0,
        t_first_s: t_first,
        traces,
    })
}

/// The rows `i0..i1` of a window, the frame rate and the first row's time.
struct Rows {
    i0: usize,
    i1: usize,
    rate: f64,
    t_first: Option<f64>,
}

/// [`Rows`] from `timestamps`; `None` when there are fewer than two.
fn timestamps_window(
    rrs: &hdf5::Group,
    series: &str,
    t: usize,
    t_start: f64,
    t_stop: f64,
) -> R<Option<Rows>> {
    let ds = rrs.dataset("timestamps")?;
    let name = format!("{series}/timestamps");
    let mut blocks = Blocks::new(&ds, &name)?;
    if blocks.len != t {
        return Err(Msg(format!(
            "{name} has {} entries for {t} frames",
            blocks.len
        )));
    }
    if t < 2 {
        return Ok(None);
    }
    let (first, last) = (blocks.get(0)?, blocks.get(t - 1)?);
    // As the full reader: one over the mean interval.
    let rate = 1.0 / ((last - first) / (t - 1) as f64);
    if !(rate.is_finite() && rate > 0.0) {
        return Err(Msg(format!("{name} are not increasing")));
    }
    let not_increasing = |e: SearchErr| match e {
        SearchErr::Read(m) => m,
        SearchErr::Unsorted(r) => Msg(format!("{name} are not increasing: {r}")),
    };
    let guess = ((t_start - first) * rate).clamp(0.0, (t - 1) as f64) as usize;
    let i0 = lower_bound(&mut blocks, 0, t, t_start, Some(guess)).map_err(not_increasing)?;
    let i1 = if t_stop > t_start {
        lower_bound(&mut blocks, i0, t, t_stop, Some(i0)).map_err(not_increasing)?
    } else {
        i0
    };
    let ts = blocks.range(i0, i1)?;
    let mean = 1.0 / rate;
    let worst = ts
        .windows(2)
        .map(|w| ((w[1] - w[0]) - mean).abs())
        .fold(0.0, f64::max);
    if worst > IRREGULAR * mean || worst.is_nan() {
        return Err(Msg(format!(
            "{name} are irregular within the window (an interval deviates by {worst} s from the mean {mean} s); CalciumTraces needs a constant frame rate"
        )));
    }
    Ok(Some(Rows {
        i0,
        i1,
        rate,
        t_first: ts.first().copied(),
    }))
}
