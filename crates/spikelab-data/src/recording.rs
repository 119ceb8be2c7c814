//! Raw extracellular recordings (multichannel voltage) with their probe geometry, and spike
//! sortings in sample frames (ground truth or a sorter's output).

use ndarray::{Array2, ArrayView2, CowArray, Ix2};
use serde::{Deserialize, Serialize};

use crate::error::{DataError, Result};
use crate::spikes::SpikeTrains;

/// Contact positions of a probe, in µm, one row `[x, y]` per channel in channel order.
///
/// # Example
/// ```
/// use spikelab_data::Probe;
/// let p = Probe::tetrode(20.0);
/// assert_eq!(p.n_channels(), 4);
/// assert_eq!(p.position_um(3), [20.0, 20.0]);
/// # Ok::<(), spikelab_data::DataError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Probe {
    positions_um: Vec<[f64; 2]>,
    contact_radius_um: f64,
}

impl Probe {
    /// A probe from contact positions (µm) and the contact radius (µm, 0 for point contacts).
    ///
    /// Errors: [`DataError::InvalidParameter`] for no contacts, non-finite positions or a
    /// negative radius.
    pub fn new(positions_um: Vec<[f64; 2]>, contact_radius_um: f64) -> Result<Self> {
        if positions_um.is_empty() {
            return Err(DataError::InvalidParameter {
                name: "positions_um",
                reason: "a probe needs at least one contact".into(),
            });
        }
        if positions_um.iter().flatten().any(|v| !v.is_finite()) {
            return Err(DataError::InvalidParameter {
                name: "positions_um",
                reason: "contact positions must be finite".into(),
            });
        }
        if !(contact_radius_um.is_finite() && contact_radius_um >= 0.0) {
            return Err(DataError::InvalidParameter {
                name: "contact_radius_um",
                reason: format!("must be finite and ≥ 0, got {contact_radius_um}"),
            });
        }
        Ok(Self {
            positions_um,
            contact_radius_um,
        })
    }

    /// `n_columns` columns of contacts, `xpitch_um` apart, filled column by column with
    /// `ypitch_um` between rows (spikeinterface's `generate_multi_columns_probe` layout:
    /// channel `c` is at `x = (c / rows)·xpitch`, `y = (c % rows)·ypitch`).
    ///
    /// Errors: [`DataError::InvalidParameter`] if `n_channels` is not a positive multiple of
    /// `n_columns` or a pitch is not positive.
    pub fn multi_column(
        n_channels: usize,
        n_columns: usize,
        xpitch_um: f64,
        ypitch_um: f64,
        contact_radius_um: f64,
    ) -> Result<Self> {
        if n_columns == 0 || n_channels == 0 || !n_channels.is_multiple_of(n_columns) {
            return Err(DataError::InvalidParameter {
                name: "n_channels",
                reason: format!(
                    "{n_channels} channels cannot fill {n_columns} equal columns; use a positive multiple"
                ),
            });
        }
        if !(xpitch_um > 0.0 && ypitch_um > 0.0) {
            return Err(DataError::InvalidParameter {
                name: "pitch_um",
                reason: "pitches must be positive".into(),
            });
        }
        let rows = n_channels / n_columns;
        let positions = (0..n_channels)
            .map(|c| [(c / rows) as f64 * xpitch_um, (c % rows) as f64 * ypitch_um])
            .collect();
        Self::new(positions, contact_radius_um)
    }

    /// A 2 × 2 tetrode with `pitch_um` between neighbours and 6-µm contacts.
    pub fn tetrode(pitch_um: f64) -> Self {
        let p = pitch_um;
        Self {
            positions_um: vec![[0.0, 0.0], [0.0, p], [p, 0.0], [p, p]],
            contact_radius_um: 6.0,
        }
    }

    /// Number of contacts (channels).
    pub fn n_channels(&self) -> usize {
        self.positions_um.len()
    }

    /// Position `[x, y]` of channel `c` in µm. Panics if `c` is out of range.
    pub fn position_um(&self, c: usize) -> [f64; 2] {
        self.positions_um[c]
    }

    /// All contact positions, in channel order.
    pub fn positions_um(&self) -> &[[f64; 2]] {
        &self.positions_um
    }

    /// Contact radius in µm.
    pub fn contact_radius_um(&self) -> f64 {
        self.contact_radius_um
    }

    /// Checks that the probe has one contact per channel of a recording with `n_channels`.
    ///
    /// Errors: [`DataError::ProbeChannelMismatch`] naming both counts.
    ///
    /// ```
    /// let p = spikelab_data::Probe::tetrode(20.0);
    /// assert!(p.check_n_channels(4).is_ok());
    /// assert!(p.check_n_channels(32).is_err());
    /// ```
    pub fn check_n_channels(&self, n_channels: usize) -> Result<()> {
        if self.n_channels() != n_channels {
            return Err(DataError::ProbeChannelMismatch {
                probe_contacts: self.n_channels(),
                recording_channels: n_channels,
            });
        }
        Ok(())
    }
}

/// A multichannel voltage recording held in memory.
///
/// * `traces` is `[sample, channel]`, f32 (as recorded files and spikeinterface store them),
///   in the stored unit; `value_uv = traces · gain_to_uv[c] + offset_to_uv[c]`.
/// * The probe has one contact per channel, in channel order.
///
/// # Example
/// ```
/// use ndarray::Array2;
/// use spikelab_data::{Probe, Recording};
/// let rec = Recording::new(Array2::zeros((30_000, 4)), 30_000.0, Probe::tetrode(20.0))?;
/// assert_eq!(rec.n_channels(), 4);
/// assert_eq!(rec.duration_s(), 1.0);
/// # Ok::<(), spikelab_data::DataError>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Recording {
    traces: Array2<f32>,
    sampling_rate_hz: f64,
    probe: Probe,
    gain_to_uv: Vec<f32>,
    offset_to_uv: Vec<f32>,
}

impl Recording {
    /// A recording in µV (gain 1, offset 0).
    ///
    /// Errors: [`DataError::Shape`] if the probe's channel count differs from the traces';
    /// [`DataError::InvalidParameter`] for a non-positive or non-finite sampling rate;
    /// [`DataError::InvalidParameter`] if a value is NaN or infinite (with the first sample and
    /// channel where it occurs).
    pub fn new(traces: Array2<f32>, sampling_rate_hz: f64, probe: Probe) -> Result<Self> {
        let c = traces.ncols();
        Self::with_gains(traces, sampling_rate_hz, probe, vec![1.0; c], vec![0.0; c])
    }

    /// A recording stored in another unit: `value_uv = traces · gain + offset` per channel.
    ///
    /// Errors: as [`Recording::new`], and [`DataError::Shape`] if a gain or offset vector does
    /// not have one value per channel.
    pub fn with_gains(
        traces: Array2<f32>,
        sampling_rate_hz: f64,
        probe: Probe,
        gain_to_uv: Vec<f32>,
        offset_to_uv: Vec<f32>,
    ) -> Result<Self> {
        let c = traces.ncols();
        if probe.n_channels() != c {
            return Err(DataError::Shape {
                what: "probe".into(),
                expected: format!("{c} contacts (one per trace column)"),
                got: format!("{} contacts", probe.n_channels()),
            });
        }
        for (what, v) in [("gain_to_uv", &gain_to_uv), ("offset_to_uv", &offset_to_uv)] {
            if v.len() != c {
                return Err(DataError::Shape {
                    what: what.into(),
                    expected: format!("{c} values"),
                    got: format!("{} values", v.len()),
                });
            }
        }
        if !(sampling_rate_hz.is_finite() && sampling_rate_hz > 0.0) {
            return Err(DataError::InvalidParameter {
                name: "sampling_rate_hz",
                reason: format!("must be positive and finite, got {sampling_rate_hz}"),
            });
        }
        if let Some(((s, ch), v)) = traces.indexed_iter().find(|(_, v)| !v.is_finite()) {
            return Err(DataError::InvalidParameter {
                name: "traces",
                reason: format!(
                    "value {v} at sample {s}, channel {ch}; interpolate or zero bad samples first"
                ),
            });
        }
        Ok(Self {
            traces,
            sampling_rate_hz,
            probe,
            gain_to_uv,
            offset_to_uv,
        })
    }

    /// The stored traces, `[sample, channel]`.
    pub fn traces(&self) -> ArrayView2<'_, f32> {
        self.traces.view()
    }

    /// The traces in µV (`traces · gain + offset`), `[sample, channel]`: borrowed when every
    /// gain is 1 and every offset 0, a scaled copy otherwise.
    pub fn traces_uv(&self) -> CowArray<'_, f32, Ix2> {
        let identity = self.gain_to_uv.iter().all(|&g| g == 1.0)
            && self.offset_to_uv.iter().all(|&o| o == 0.0);
        if identity {
            return self.traces.view().into();
        }
        let mut out = self.traces.clone();
        for (mut col, (&g, &o)) in out
            .columns_mut()
            .into_iter()
            .zip(self.gain_to_uv.iter().zip(&self.offset_to_uv))
        {
            if g != 1.0 || o != 0.0 {
                col.mapv_inplace(|v| v * g + o);
            }
        }
        out.into()
    }

    /// Consumes the recording, returning its stored traces.
    pub fn into_traces(self) -> Array2<f32> {
        self.traces
    }

    /// Sampling rate in Hz.
    pub fn sampling_rate_hz(&self) -> f64 {
        self.sampling_rate_hz
    }

    /// Number of samples (rows).
    pub fn n_samples(&self) -> usize {
        self.traces.nrows()
    }

    /// Number of channels (columns).
    pub fn n_channels(&self) -> usize {
        self.traces.ncols()
    }

    /// Duration in seconds (`n_samples / sampling_rate_hz`).
    pub fn duration_s(&self) -> f64 {
        self.n_samples() as f64 / self.sampling_rate_hz
    }

    /// The probe.
    pub fn probe(&self) -> &Probe {
        &self.probe
    }

    /// The same recording with another probe (e.g. one read by
    /// [`io::probe::read_probe`](crate::io::probe::read_probe)); contact `c` of `probe` is
    /// channel `c`.
    ///
    /// Errors: [`DataError::ProbeChannelMismatch`] if the probe does not have one contact per
    /// channel.
    ///
    /// ```
    /// use ndarray::Array2;
    /// use spikelab_data::{Probe, Recording};
    /// let rec = Recording::new(Array2::zeros((10, 4)), 30_000.0, Probe::tetrode(20.0))?;
    /// let rec = rec.with_probe(Probe::multi_column(4, 1, 1.0, 25.0, 6.0)?)?;
    /// assert_eq!(rec.probe().position_um(3), [0.0, 75.0]);
    /// # Ok::<(), spikelab_data::DataError>(())
    /// ```
    pub fn with_probe(mut self, probe: Probe) -> Result<Self> {
        probe.check_n_channels(self.n_channels())?;
        self.probe = probe;
        Ok(self)
    }

    /// Per-channel gain to µV.
    pub fn gain_to_uv(&self) -> &[f32] {
        &self.gain_to_uv
    }

    /// Per-channel offset in µV.
    pub fn offset_to_uv(&self) -> &[f32] {
        &self.offset_to_uv
    }
}

/// A spike sorting in sample frames: per unit, the sorted frames of its spikes.
///
/// Frames are sample indices at `sampling_rate_hz` in `[0, n_samples)`. Unit ids are the
/// sorter's (or the ground truth's) labels, in the order of the trains.
///
/// # Example
/// ```
/// use spikelab_data::Sorting;
/// let s = Sorting::from_samples_and_labels(&[30, 10, 20], &[1, 0, 1], 30_000.0, 100)?;
/// assert_eq!(s.unit_ids(), &[0, 1]);
/// assert_eq!(s.frames(1), &[20, 30]);
/// assert_eq!(s.spike_vector(), vec![(10, 0), (20, 1), (30, 1)]);
/// # Ok::<(), spikelab_data::DataError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sorting {
    unit_ids: Vec<i64>,
    frames: Vec<Vec<i64>>,
    sampling_rate_hz: f64,
    n_samples: i64,
}

impl Sorting {
    /// A sorting from per-unit frame lists (each sorted ascending) and their unit ids.
    ///
    /// Errors: [`DataError::Shape`] if ids and trains differ in number;
    /// [`DataError::InvalidParameter`] for duplicate ids or a bad sampling rate;
    /// [`DataError::InvalidSpikeTimes`] for unsorted frames or frames outside `[0, n_samples)`.
    pub fn new(
        unit_ids: Vec<i64>,
        frames: Vec<Vec<i64>>,
        sampling_rate_hz: f64,
        n_samples: i64,
    ) -> Result<Self> {
        if unit_ids.len() != frames.len() {
            return Err(DataError::Shape {
                what: "unit_ids".into(),
                expected: format!("{} ids (one per train)", frames.len()),
                got: format!("{} ids", unit_ids.len()),
            });
        }
        let mut seen = unit_ids.clone();
        seen.sort_unstable();
        if seen.windows(2).any(|w| w[0] == w[1]) {
            return Err(DataError::InvalidParameter {
                name: "unit_ids",
                reason: "unit ids must be unique".into(),
            });
        }
        if !(sampling_rate_hz.is_finite() && sampling_rate_hz > 0.0) {
            return Err(DataError::InvalidParameter {
                name: "sampling_rate_hz",
                reason: format!("must be positive and finite, got {sampling_rate_hz}"),
            });
        }
        for (u, f) in frames.iter().enumerate() {
            if f.windows(2).any(|w| w[1] < w[0]) {
                return Err(DataError::InvalidSpikeTimes {
                    unit: u,
                    reason: "frames are not sorted".into(),
                });
            }
            if let (Some(&lo), Some(&hi)) = (f.first(), f.last())
                && (lo < 0 || hi >= n_samples)
            {
                return Err(DataError::InvalidSpikeTimes {
                    unit: u,
                    reason: format!("frames must lie in [0, {n_samples}), found {lo}..={hi}"),
                });
            }
        }
        Ok(Self {
            unit_ids,
            frames,
            sampling_rate_hz,
            n_samples,
        })
    }

    /// A sorting from a spike vector: `samples[k]` is the frame of spike `k`, `labels[k]` its
    /// unit. Units are ordered by id; each unit's frames are sorted.
    ///
    /// Errors: as [`Sorting::new`], and [`DataError::Shape`] if the two slices differ in length.
    pub fn from_samples_and_labels(
        samples: &[i64],
        labels: &[i64],
        sampling_rate_hz: f64,
        n_samples: i64,
    ) -> Result<Self> {
        if samples.len() != labels.len() {
            return Err(DataError::Shape {
                what: "labels".into(),
                expected: format!("{} labels (one per sample)", samples.len()),
                got: format!("{} labels", labels.len()),
            });
        }
        let mut ids = labels.to_vec();
        ids.sort_unstable();
        ids.dedup();
        let mut frames = vec![Vec::new(); ids.len()];
        for (&s, l) in samples.iter().zip(labels) {
            let u = ids.binary_search(l).expect("id collected above");
            frames[u].push(s);
        }
        for f in &mut frames {
            f.sort_unstable();
        }
        Self::new(ids, frames, sampling_rate_hz, n_samples)
    }

    /// Unit ids, in train order.
    pub fn unit_ids(&self) -> &[i64] {
        &self.unit_ids
    }

    /// Number of units.
    pub fn n_units(&self) -> usize {
        self.unit_ids.len()
    }

    /// Frames of unit index `u` (not id). Panics if `u` is out of range.
    pub fn frames(&self, u: usize) -> &[i64] {
        &self.frames[u]
    }

    /// All trains, in unit order.
    pub fn trains(&self) -> &[Vec<i64>] {
        &self.frames
    }

    /// Spike counts per unit.
    pub fn counts(&self) -> Vec<usize> {
        self.frames.iter().map(Vec::len).collect()
    }

    /// Sampling rate in Hz.
    pub fn sampling_rate_hz(&self) -> f64 {
        self.sampling_rate_hz
    }

    /// Length of the recording in samples.
    pub fn n_samples(&self) -> i64 {
        self.n_samples
    }

    /// All spikes as `(frame, unit index)`, sorted by frame, then unit index (spikeinterface's
    /// spike vector order).
    pub fn spike_vector(&self) -> Vec<(i64, usize)> {
        let mut v: Vec<(i64, usize)> = self
            .frames
            .iter()
            .enumerate()
            .flat_map(|(u, f)| f.iter().map(move |&s| (s, u)))
            .collect();
        v.sort_unstable();
        v
    }

    /// The same spikes as [`SpikeTrains`] in seconds (`frame / sampling_rate_hz`) over
    /// `[0, n_samples / sampling_rate_hz]`.
    pub fn to_spike_trains(&self) -> Result<SpikeTrains> {
        let fs = self.sampling_rate_hz;
        SpikeTrains::with_ids(
            self.frames
                .iter()
                .map(|f| f.iter().map(|&s| s as f64 / fs).collect())
                .collect(),
            self.unit_ids.clone(),
            0.0,
            self.n_samples as f64 / fs,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multi_column_matches_spikeinterface_layout() {
        let p = Probe::multi_column(4, 2, 20.0, 20.0, 6.0).unwrap();
        assert_eq!(
            p.positions_um(),
            &[[0.0, 0.0], [0.0, 20.0], [20.0, 0.0], [20.0, 20.0]]
        );
        assert!(Probe::multi_column(5, 2, 20.0, 20.0, 6.0).is_err());
    }

    #[test]
    fn recording_rejects_bad_input() {
        let probe = Probe::tetrode(20.0);
        assert!(matches!(
            Recording::new(Array2::zeros((10, 3)), 30e3, probe.clone()),
            Err(DataError::Shape { .. })
        ));
        let mut t = Array2::zeros((10, 4));
        t[[7, 2]] = f32::NAN;
        let e = Recording::new(t, 30e3, probe.clone()).unwrap_err();
        assert!(e.to_string().contains("sample 7, channel 2"), "{e}");
        assert!(Recording::new(Array2::zeros((10, 4)), 0.0, probe).is_err());
    }

    #[test]
    fn gains_scale_to_microvolts() {
        let t = Array2::from_shape_fn((3, 4), |(s, c)| (s + c) as f32);
        let rec = Recording::with_gains(
            t,
            1e3,
            Probe::tetrode(13.0),
            vec![0.5; 4],
            vec![0.0, 1.0, 0.0, 0.0],
        )
        .unwrap();
        assert_eq!(rec.traces_uv()[[2, 1]], 3.0 * 0.5 + 1.0);
    }

    #[test]
    fn sorting_checks_frames() {
        assert!(Sorting::new(vec![1], vec![vec![5, 3]], 1e3, 10).is_err());
        assert!(Sorting::new(vec![1], vec![vec![3, 10]], 1e3, 10).is_err());
        assert!(Sorting::new(vec![1, 1], vec![vec![], vec![]], 1e3, 10).is_err());
        let s = Sorting::new(vec![4, 2], vec![vec![3, 9], vec![3]], 1e3, 10).unwrap();
        assert_eq!(s.spike_vector(), vec![(3, 0), (3, 1), (9, 0)]);
        let st = s.to_spike_trains().unwrap();
        assert_eq!(st.unit_ids(), &[4, 2]);
        assert_eq!(st.train(0), &[0.003, 0.009]);
    }
}
