//! Kilosort / phy output folders → [`SpikeTrains`].
//!
//! Kilosort (versions 1–4) and phy share one folder layout (the "phy template-gui" format).
//! This module reads the part of it that defines spike trains:
//!
//! | file | content | required |
//! | --- | --- | --- |
//! | `spike_times.npy` | spike times in **samples**, integer dtype, shape `(n,)` or `(n, 1)` | yes |
//! | `spike_clusters.npy` | cluster id per spike (after manual curation in phy) | no: falls back to `spike_templates.npy` |
//! | `spike_templates.npy` | template id per spike (Kilosort's own assignment) | if no `spike_clusters.npy` |
//! | `params.py` | Python assignments; `sample_rate = 30000.0` is required | yes |
//! | `cluster_group.tsv` | phy curation labels (`cluster_id`, `group`) | no |
//! | `cluster_KSLabel.tsv` | Kilosort's automatic labels (`cluster_id`, `KSLabel`) | no |
//!
//! Spike times in seconds are `sample / sample_rate`. Units are the cluster ids present in the
//! spike assignments, in ascending order; each train is sorted. The recording interval is
//! `[0, t_stop]` where `t_stop` is the last spike time, or `n_samples / sample_rate` if
//! `params.py` has an `n_samples` entry and that is later.
//!
//! Labels: `cluster_group.tsv` (manual curation) wins over `cluster_KSLabel.tsv` for a cluster
//! listed in both.
//!
//! # Example
//! ```
//! use spikelab_data::{SpikeTrains, io::kilosort};
//! let dir = tempfile::tempdir()?;
//! let st = SpikeTrains::with_ids(vec![vec![0.001, 0.5], vec![0.25]], vec![3, 7], 0.0, 1.0)?;
//! kilosort::write_kilosort(dir.path(), &st, 30_000.0, false)?;
//! let back = kilosort::read_kilosort(dir.path())?;
//! assert_eq!(back.unit_ids(), &[3, 7]);
//! assert_eq!(back.train(0), &[0.001, 0.5]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use ndarray::Array1;

use crate::SpikeTrains;
use crate::error::{DataError, Result};
use crate::io::npy;

fn ks_err(path: &Path, reason: impl Into<String>) -> DataError {
    DataError::Kilosort {
        path: path.to_path_buf(),
        reason: reason.into(),
    }
}

/// A Python literal as it appears on the right-hand side of a `params.py` assignment.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum PyValue {
    /// An int or float literal.
    Number(f64),
    /// A string literal (`'…'`, `"…"`, with optional `r`/`b` prefix).
    Str(String),
    /// `True` / `False`.
    Bool(bool),
    /// `None`.
    None,
    /// A list or tuple of literals.
    List(Vec<PyValue>),
    /// Anything else (an expression), kept as text.
    Other(String),
}

impl PyValue {
    /// The number, if this is one.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            PyValue::Number(x) => Some(*x),
            _ => None,
        }
    }
    /// The string, if this is one.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            PyValue::Str(s) => Some(s),
            _ => None,
        }
    }
}

/// The assignments of a phy `params.py`.
///
/// ```
/// use spikelab_data::io::kilosort::PhyParams;
/// let p = PhyParams::parse("dat_path = 'rec.bin'  # raw data\nn_channels_dat = 385\n\
///                           dtype = 'int16'\noffset = 0\nsample_rate = 30000.\nhp_filtered = False\n")?;
/// assert_eq!(p.sample_rate_hz(), Some(30000.0));
/// assert_eq!(p.get("dat_path").and_then(|v| v.as_str()), Some("rec.bin"));
/// assert_eq!(p.get("n_channels_dat").and_then(|v| v.as_f64()), Some(385.0));
/// assert!(PhyParams::parse("sample_rate 30000").is_err());
/// # Ok::<(), spikelab_data::DataError>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PhyParams {
    /// Every `name = literal` assignment, by name.
    pub values: BTreeMap<String, PyValue>,
}

impl PhyParams {
    /// Parses `params.py` text: one `name = literal` per line, `#` comments and blank lines
    /// ignored. A line that is not an assignment is a [`DataError::Kilosort`] (path
    /// `params.py`) naming the 1-based line; [`read_params`] reports the real path.
    pub fn parse(text: &str) -> Result<PhyParams> {
        Self::parse_str(text).map_err(|e| ks_err(Path::new("params.py"), e))
    }

    fn parse_str(text: &str) -> std::result::Result<PhyParams, String> {
        let mut values = BTreeMap::new();
        for (i, raw) in text.lines().enumerate() {
            let line = strip_comment(raw).trim();
            if line.is_empty() {
                continue;
            }
            let Some((name, value)) = line.split_once('=') else {
                return Err(format!("line {}: not an assignment: {raw:?}", i + 1));
            };
            let name = name.trim();
            if name.is_empty() || !name.chars().all(|c| c.is_alphanumeric() || c == '_') {
                return Err(format!("line {}: bad variable name {name:?}", i + 1));
            }
            values.insert(name.to_string(), parse_literal(value.trim()));
        }
        Ok(PhyParams { values })
    }

    /// The value assigned to `name`.
    pub fn get(&self, name: &str) -> Option<&PyValue> {
        self.values.get(name)
    }

    /// `sample_rate` in Hz.
    pub fn sample_rate_hz(&self) -> Option<f64> {
        self.get("sample_rate").and_then(PyValue::as_f64)
    }
}

/// Removes a `#` comment that is not inside a string literal.
fn strip_comment(line: &str) -> &str {
    let mut quote: Option<char> = None;
    for (i, c) in line.char_indices() {
        match (quote, c) {
            (None, '#') => return &line[..i],
            (None, '\'' | '"') => quote = Some(c),
            (Some(q), c) if c == q => quote = None,
            _ => {}
        }
    }
    line
}

fn parse_literal(s: &str) -> PyValue {
    let s = s.trim();
    match s {
        "True" => return PyValue::Bool(true),
        "False" => return PyValue::Bool(false),
        "None" => return PyValue::None,
        _ => {}
    }
    let unprefixed = s.trim_start_matches(['r', 'R', 'b', 'B', 'u', 'U']);
    for q in ['\'', '"'] {
        if unprefixed.len() >= 2 && unprefixed.starts_with(q) && unprefixed.ends_with(q) {
            return PyValue::Str(unprefixed[1..unprefixed.len() - 1].to_string());
        }
    }
    if (s.starts_with('[') && s.ends_with(']')) || (s.starts_with('(') && s.ends_with(')')) {
        let inner = s[1..s.len() - 1].trim();
        if inner.is_empty() {
            return PyValue::List(Vec::new());
        }
        return PyValue::List(
            split_top_level(inner)
                .into_iter()
                .map(parse_literal)
                .collect(),
        );
    }
    let num = s.replace('_', "");
    if let Ok(x) = num.parse::<f64>() {
        return PyValue::Number(x);
    }
    PyValue::Other(s.to_string())
}

/// Splits on commas outside quotes and brackets; drops a trailing empty item.
fn split_top_level(s: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut depth, mut quote, mut start) = (0i32, None::<char>, 0);
    for (i, c) in s.char_indices() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '\'' | '"') => quote = Some(c),
            (None, '[' | '(') => depth += 1,
            (None, ']' | ')') => depth -= 1,
            (None, ',') if depth == 0 => {
                out.push(s[start..i].trim());
                start = i + 1;
            }
            _ => {}
        }
    }
    let last = s[start..].trim();
    if !last.is_empty() {
        out.push(last);
    }
    out
}

/// A cluster's label in `cluster_group.tsv` / `cluster_KSLabel.tsv`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ClusterLabel {
    /// Well-isolated single unit.
    Good,
    /// Multi-unit activity.
    Mua,
    /// Noise.
    Noise,
    /// Not yet sorted (phy's default).
    Unsorted,
    /// Any other label, verbatim.
    Other(String),
}

impl ClusterLabel {
    fn parse(s: &str) -> ClusterLabel {
        match s.trim().to_ascii_lowercase().as_str() {
            "good" => ClusterLabel::Good,
            "mua" => ClusterLabel::Mua,
            "noise" => ClusterLabel::Noise,
            "unsorted" => ClusterLabel::Unsorted,
            _ => ClusterLabel::Other(s.trim().to_string()),
        }
    }

    /// The label as written in the TSV files (`good`, `mua`, `noise`, `unsorted`, …).
    pub fn as_str(&self) -> &str {
        match self {
            ClusterLabel::Good => "good",
            ClusterLabel::Mua => "mua",
            ClusterLabel::Noise => "noise",
            ClusterLabel::Unsorted => "unsorted",
            ClusterLabel::Other(s) => s,
        }
    }
}

/// Which per-spike assignment file the units came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Assignment {
    /// `spike_clusters.npy` (phy clusters, after curation).
    Clusters,
    /// `spike_templates.npy` (Kilosort templates; used when there is no `spike_clusters.npy`).
    Templates,
}

/// Everything [`read_kilosort_output`] reads from a folder.
#[derive(Debug, Clone)]
pub struct KilosortOutput {
    /// One train per cluster id (ascending ids), times in seconds.
    pub spike_trains: SpikeTrains,
    /// `sample_rate` from `params.py`, in Hz.
    pub sample_rate_hz: f64,
    /// The parsed `params.py`.
    pub params: PhyParams,
    /// Label of each unit (same order as `spike_trains.unit_ids()`), `None` where no TSV
    /// lists the cluster.
    pub labels: Vec<Option<ClusterLabel>>,
    /// Whether units are phy clusters or Kilosort templates.
    pub assignment: Assignment,
}

impl KilosortOutput {
    /// The label of unit id `id`, if any.
    pub fn label_of(&self, id: i64) -> Option<&ClusterLabel> {
        let pos = self.spike_trains.unit_ids().iter().position(|&u| u == id)?;
        self.labels[pos].as_ref()
    }

    /// The spike trains of the units with label `label` (same interval and ids).
    ///
    /// ```
    /// # use spikelab_data::{SpikeTrains, io::kilosort::{self, ClusterLabel}};
    /// # let dir = tempfile::tempdir()?;
    /// # let st = SpikeTrains::with_ids(vec![vec![0.1], vec![0.2]], vec![0, 1], 0.0, 1.0)?;
    /// # kilosort::write_kilosort(dir.path(), &st, 30_000.0, false)?;
    /// std::fs::write(dir.path().join("cluster_group.tsv"), "cluster_id\tgroup\n0\tgood\n1\tnoise\n")?;
    /// let out = kilosort::read_kilosort_output(dir.path())?;
    /// let good = out.units_labelled(&ClusterLabel::Good)?;
    /// assert_eq!(good.unit_ids(), &[0]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn units_labelled(&self, label: &ClusterLabel) -> Result<SpikeTrains> {
        let (trains, ids): (Vec<Vec<f64>>, Vec<i64>) = self
            .spike_trains
            .iter()
            .zip(&self.labels)
            .filter(|(_, l)| l.as_ref() == Some(label))
            .map(|((id, t), _)| (t.to_vec(), id))
            .unzip();
        SpikeTrains::with_ids(
            trains,
            ids,
            self.spike_trains.t_start_s(),
            self.spike_trains.t_stop_s(),
        )
    }
}

/// Reads a 1-D integer `.npy` (shape `(n,)` or `(n, 1)`); returns the values and the dtype.
fn read_int_vector(path: &Path, what: &str) -> Result<(Vec<i64>, &'static str)> {
    let a = npy::read_any(path).map_err(|e| ks_err(path, format!("{what}: {e}")))?;
    let shape = a.data.shape().to_vec();
    let ok_shape = shape.len() == 1 || (shape.len() == 2 && (shape[1] == 1 || shape[0] == 1));
    if !ok_shape {
        return Err(ks_err(
            path,
            format!("{what}: expected shape (n,) or (n, 1), got {shape:?}"),
        ));
    }
    if a.dtype.starts_with("float") || a.dtype == "bool" {
        return Err(ks_err(
            path,
            format!("{what}: expected an integer dtype, got {}", a.dtype),
        ));
    }
    // Integers up to 2^53 convert exactly; spike samples are far below that.
    Ok((a.data.iter().map(|&v| v as i64).collect(), a.dtype))
}

fn read_labels(dir: &Path) -> Result<BTreeMap<i64, ClusterLabel>> {
    let mut labels = BTreeMap::new();
    // KSLabel first, then cluster_group overrides it.
    for file in ["cluster_KSLabel.tsv", "cluster_group.tsv"] {
        let path = dir.join(file);
        if !path.is_file() {
            continue;
        }
        let text = std::fs::read_to_string(&path).map_err(|e| DataError::io(&path, e))?;
        let mut lines = text
            .lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty());
        let Some((_, header)) = lines.next() else {
            continue;
        };
        let cols: Vec<&str> = header.split('\t').map(str::trim).collect();
        let id_col = cols.iter().position(|c| *c == "cluster_id" || *c == "id");
        let Some(id_col) = id_col else {
            return Err(ks_err(
                &path,
                format!("header {header:?} has no cluster_id column"),
            ));
        };
        let label_col = if id_col == 0 { 1 } else { 0 };
        if cols.len() < 2 {
            return Err(ks_err(
                &path,
                format!("header {header:?} has no label column"),
            ));
        }
        for (i, line) in lines {
            let cells: Vec<&str> = line.split('\t').collect();
            let (Some(id), Some(label)) = (cells.get(id_col), cells.get(label_col)) else {
                return Err(ks_err(
                    &path,
                    format!(
                        "line {}: expected 2 tab-separated cells, got {line:?}",
                        i + 1
                    ),
                ));
            };
            let id: i64 = id.trim().parse().map_err(|_| {
                ks_err(
                    &path,
                    format!("line {}: cluster id {id:?} is not an integer", i + 1),
                )
            })?;
            labels.insert(id, ClusterLabel::parse(label));
        }
    }
    Ok(labels)
}

/// Reads `params.py` of a Kilosort/phy folder.
pub fn read_params(dir: &Path) -> Result<PhyParams> {
    let path = dir.join("params.py");
    if !path.is_file() {
        return Err(ks_err(&path, "missing params.py (needed for sample_rate)"));
    }
    let text = std::fs::read_to_string(&path).map_err(|e| DataError::io(&path, e))?;
    PhyParams::parse_str(&text).map_err(|e| ks_err(&path, e))
}

/// Reads a Kilosort/phy folder with its parameters and cluster labels.
///
/// Errors ([`DataError::Kilosort`]): missing folder, `spike_times.npy` or `params.py`; no
/// `sample_rate` (or one ≤ 0); non-integer dtypes; negative spike samples; different lengths
/// of the times and the cluster assignments; malformed label TSVs.
pub fn read_kilosort_output(dir: &Path) -> Result<KilosortOutput> {
    if !dir.is_dir() {
        return Err(ks_err(dir, "not a folder"));
    }
    let params = read_params(dir)?;
    let params_path = dir.join("params.py");
    let sample_rate_hz = match params.get("sample_rate") {
        None => return Err(ks_err(&params_path, "no sample_rate assignment")),
        Some(v) => v
            .as_f64()
            .ok_or_else(|| ks_err(&params_path, format!("sample_rate is {v:?}, not a number")))?,
    };
    if !(sample_rate_hz.is_finite() && sample_rate_hz > 0.0) {
        return Err(ks_err(
            &params_path,
            format!("sample_rate = {sample_rate_hz}, must be > 0"),
        ));
    }

    let times_path = dir.join("spike_times.npy");
    if !times_path.is_file() {
        return Err(ks_err(&times_path, "missing spike_times.npy"));
    }
    let (samples, _) = read_int_vector(&times_path, "spike times")?;
    if let Some((i, s)) = samples.iter().enumerate().find(|(_, s)| **s < 0) {
        return Err(ks_err(
            &times_path,
            format!("spike {i} has negative sample index {s}"),
        ));
    }

    let clusters_path = dir.join("spike_clusters.npy");
    let templates_path = dir.join("spike_templates.npy");
    let (assign_path, assignment) = if clusters_path.is_file() {
        (clusters_path, Assignment::Clusters)
    } else if templates_path.is_file() {
        (templates_path, Assignment::Templates)
    } else {
        return Err(ks_err(
            dir,
            "missing spike_clusters.npy and spike_templates.npy (one is needed)",
        ));
    };
    let (ids, _) = read_int_vector(&assign_path, "cluster ids")?;
    if ids.len() != samples.len() {
        return Err(ks_err(
            &assign_path,
            format!(
                "{} cluster ids for {} spike times in spike_times.npy",
                ids.len(),
                samples.len()
            ),
        ));
    }

    let mut by_id: BTreeMap<i64, Vec<f64>> = BTreeMap::new();
    for (&s, &id) in samples.iter().zip(&ids) {
        by_id.entry(id).or_default().push(s as f64 / sample_rate_hz);
    }
    let last = samples.iter().copied().max().unwrap_or(0) as f64 / sample_rate_hz;
    let from_params = params
        .get("n_samples")
        .and_then(PyValue::as_f64)
        .filter(|n| n.is_finite() && *n > 0.0)
        .map_or(0.0, |n| n / sample_rate_hz);
    let t_stop_s = last.max(from_params);
    let (unit_ids, trains): (Vec<i64>, Vec<Vec<f64>>) = by_id.into_iter().unzip();
    let spike_trains = SpikeTrains::sorted_from(trains, unit_ids, 0.0, t_stop_s)?;

    let label_map = read_labels(dir)?;
    let labels = spike_trains
        .unit_ids()
        .iter()
        .map(|id| label_map.get(id).cloned())
        .collect();
    Ok(KilosortOutput {
        spike_trains,
        sample_rate_hz,
        params,
        labels,
        assignment,
    })
}

/// Reads the spike trains of a Kilosort/phy folder: one unit per cluster id (ascending),
/// times in seconds. See [`read_kilosort_output`] for labels and parameters.
pub fn read_kilosort(dir: &Path) -> Result<SpikeTrains> {
    Ok(read_kilosort_output(dir)?.spike_trains)
}

/// Writes spike trains as a minimal phy folder: `spike_times.npy` (uint64 samples, sorted by
/// time, shape `(n,)`), `spike_clusters.npy` (int32 unit ids) and `params.py` with
/// `sample_rate` (and `n_samples` from `t_stop_s`, so reading back keeps the interval).
/// Times are rounded to the nearest sample. Creates `dir` if needed; refuses to replace
/// existing files unless `overwrite`.
///
/// Errors: negative times or `t_start_s < 0` (samples count from 0), ids outside `i32`,
/// `sample_rate_hz ≤ 0`.
pub fn write_kilosort(
    dir: &Path,
    spikes: &SpikeTrains,
    sample_rate_hz: f64,
    overwrite: bool,
) -> Result<()> {
    if !(sample_rate_hz.is_finite() && sample_rate_hz > 0.0) {
        return Err(DataError::param(
            "sample_rate_hz",
            format!("must be > 0 Hz, got {sample_rate_hz}"),
        ));
    }
    if spikes.t_start_s() < 0.0 {
        return Err(DataError::param(
            "spikes",
            format!(
                "t_start_s = {} < 0; Kilosort samples count from 0",
                spikes.t_start_s()
            ),
        ));
    }
    let files: Vec<PathBuf> = ["spike_times.npy", "spike_clusters.npy", "params.py"]
        .iter()
        .map(|f| dir.join(f))
        .collect();
    for f in &files {
        super::check_writable(f, overwrite)?;
    }
    let mut events: Vec<(u64, i32)> = Vec::with_capacity(spikes.total_spikes());
    for (id, train) in spikes.iter() {
        let id32 = i32::try_from(id).map_err(|_| {
            DataError::param(
                "spikes",
                format!("unit id {id} does not fit spike_clusters' int32"),
            )
        })?;
        for &t in train {
            events.push(((t * sample_rate_hz).round() as u64, id32));
        }
    }
    events.sort_unstable();
    std::fs::create_dir_all(dir).map_err(|e| DataError::io(dir, e))?;
    let times: Array1<u64> = events.iter().map(|e| e.0).collect();
    let ids: Array1<i32> = events.iter().map(|e| e.1).collect();
    npy::write(&files[0], &times, overwrite)?;
    npy::write(&files[1], &ids, overwrite)?;
    let n_samples = (spikes.t_stop_s() * sample_rate_hz).round() as u64;
    let text = format!(
        "# written by spikelab-data\nsample_rate = {sample_rate_hz:?}\nn_samples = {n_samples}\n"
    );
    super::write_bytes_atomic(&files[2], text.as_bytes(), overwrite)
}

/// What [`write_phy`] needs besides the sorting: the waveform of each unit and where the
/// voltage data lives.
#[derive(Debug, Clone)]
pub struct PhyExport<'a> {
    /// The sorted units; unit index `u` is template `u`, its id the phy cluster id.
    pub sorting: &'a crate::Sorting,
    /// Mean waveform per unit, `[unit, sample, channel]`.
    pub templates: ndarray::ArrayView3<'a, f32>,
    /// Amplitude per spike, in [`crate::Sorting::spike_vector`] order (`None`: all 1).
    pub amplitudes: Option<&'a [f32]>,
    /// Contact positions (µm).
    pub probe: &'a crate::Probe,
    /// The voltage file phy reads waveforms from (written into `params.py` as given), its
    /// NumPy dtype name (`"int16"`, `"float32"`), its channel count and header offset in bytes.
    pub dat: Option<(&'a Path, &'a str, usize, u64)>,
    /// Whether that file is already high-pass filtered.
    pub hp_filtered: bool,
}

/// Writes a phy template-gui folder (`spike_times`, `spike_templates`, `spike_clusters`,
/// `amplitudes`, `templates`, `similar_templates`, `channel_map`, `channel_positions`,
/// `whitening_mat_inv`, `params.py`), atomically as a whole ([`crate::io::write_dir_atomic`]):
/// an existing `dir` is an error unless `overwrite`. [`read_kilosort`] reads it back.
///
/// Errors: templates whose unit or channel count does not match the sorting or the probe,
/// amplitudes of the wrong length, unit ids outside `i32`.
///
/// ```
/// use ndarray::Array3;
/// use spikelab_data::{Probe, Sorting, io::kilosort};
/// let base = tempfile::tempdir()?;
/// let sorting = Sorting::new(vec![3, 7], vec![vec![10, 50], vec![20]], 30_000.0, 100)?;
/// let templates = Array3::<f32>::zeros((2, 60, 4));
/// let probe = Probe::tetrode(20.0);
/// let export = kilosort::PhyExport {
///     sorting: &sorting, templates: templates.view(), amplitudes: None, probe: &probe,
///     dat: None, hp_filtered: true,
/// };
/// kilosort::write_phy(&base.path().join("phy"), &export, false)?;
/// let back = kilosort::read_kilosort(&base.path().join("phy"))?;
/// assert_eq!(back.unit_ids(), &[3, 7]);
/// // In frames, the sorting comes back whole.
/// assert_eq!(spikelab_data::io::open_sorting(&base.path().join("phy"))?, sorting);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn write_phy(dir: &Path, export: &PhyExport<'_>, overwrite: bool) -> Result<()> {
    super::write_dir_atomic(dir, overwrite, |tmp| write_phy_files(tmp, export))
}

/// The files of [`write_phy`], written into the existing folder `dir` (each refuses to replace
/// a file already there). Use it inside [`crate::io::write_dir_atomic`] to add files of your own
/// to the folder.
///
/// Errors: as [`write_phy`].
pub fn write_phy_files(dir: &Path, export: &PhyExport<'_>) -> Result<()> {
    let s = export.sorting;
    let (n_units, n_t, n_c) = export.templates.dim();
    if n_units != s.n_units() || n_c != export.probe.n_channels() {
        return Err(DataError::Shape {
            what: "templates".into(),
            expected: format!(
                "[{} units, samples, {} channels]",
                s.n_units(),
                export.probe.n_channels()
            ),
            got: format!("[{n_units}, {n_t}, {n_c}]"),
        });
    }
    let spikes = s.spike_vector();
    if let Some(a) = export.amplitudes
        && a.len() != spikes.len()
    {
        return Err(DataError::Shape {
            what: "amplitudes".into(),
            expected: format!("{} values (one per spike)", spikes.len()),
            got: format!("{} values", a.len()),
        });
    }
    let ids: Vec<i32> = s
        .unit_ids()
        .iter()
        .map(|&id| {
            i32::try_from(id).map_err(|_| {
                DataError::param("sorting", format!("unit id {id} does not fit phy's int32"))
            })
        })
        .collect::<Result<_>>()?;
    // Cosine similarity of the flattened templates.
    let flat: Vec<Vec<f64>> = export
        .templates
        .outer_iter()
        .map(|t| t.iter().map(|&v| f64::from(v)).collect())
        .collect();
    let similar = ndarray::Array2::from_shape_fn((n_units, n_units), |(a, b)| {
        let dot: f64 = flat[a].iter().zip(&flat[b]).map(|(x, y)| x * y).sum();
        let na: f64 = flat[a].iter().map(|x| x * x).sum::<f64>().sqrt();
        let nb: f64 = flat[b].iter().map(|x| x * x).sum::<f64>().sqrt();
        if na > 0.0 && nb > 0.0 {
            (dot / (na * nb)) as f32
        } else {
            0.0
        }
    });
    let mut params = String::from("# written by spikelab-data\n");
    match export.dat {
        Some((path, dtype, n_channels, offset)) => params.push_str(&format!(
            "dat_path = r'{}'\nn_channels_dat = {n_channels}\ndtype = '{dtype}'\noffset = {offset}\n",
            path.display()
        )),
        None => params.push_str(&format!(
            "dat_path = ''\nn_channels_dat = {n_c}\ndtype = 'float32'\noffset = 0\n"
        )),
    }
    params.push_str(&format!(
        "sample_rate = {:?}\nhp_filtered = {}\nn_samples = {}\n",
        s.sampling_rate_hz(),
        if export.hp_filtered { "True" } else { "False" },
        s.n_samples()
    ));
    let times: Array1<i64> = spikes.iter().map(|x| x.0).collect();
    let templ: Array1<i32> = spikes.iter().map(|x| x.1 as i32).collect();
    let clusters: Array1<i32> = spikes.iter().map(|x| ids[x.1]).collect();
    let amps: Array1<f32> = match export.amplitudes {
        Some(a) => a.iter().copied().collect(),
        None => Array1::ones(spikes.len()),
    };
    npy::write(&dir.join("spike_times.npy"), &times, false)?;
    npy::write(&dir.join("spike_templates.npy"), &templ, false)?;
    npy::write(&dir.join("spike_clusters.npy"), &clusters, false)?;
    npy::write(&dir.join("amplitudes.npy"), &amps, false)?;
    npy::write(
        &dir.join("templates.npy"),
        &export.templates.to_owned(),
        false,
    )?;
    npy::write(&dir.join("similar_templates.npy"), &similar, false)?;
    let map: Array1<i32> = (0..n_c as i32).collect();
    npy::write(&dir.join("channel_map.npy"), &map, false)?;
    let pos = ndarray::Array2::from_shape_fn((n_c, 2), |(c, d)| export.probe.position_um(c)[d]);
    npy::write(&dir.join("channel_positions.npy"), &pos, false)?;
    npy::write(
        &dir.join("whitening_mat_inv.npy"),
        &ndarray::Array2::<f64>::eye(n_c),
        false,
    )?;
    super::write_bytes_atomic(&dir.join("params.py"), params.as_bytes(), false)
}

/// A Kilosort/phy folder as a [`crate::Sorting`] in sample frames (`spike_times.npy` as
/// stored), over `n_samples` from `params.py` (or the last spike + 1).
///
/// Errors: as [`read_kilosort_output`].
pub fn read_phy_sorting(dir: &Path) -> Result<crate::Sorting> {
    let out = read_kilosort_output(dir)?;
    let fs = out.sample_rate_hz;
    let frames: Vec<Vec<i64>> = out
        .spike_trains
        .trains()
        .iter()
        .map(|t| t.iter().map(|&s| (s * fs).round() as i64).collect())
        .collect();
    let last = frames.iter().flatten().copied().max().unwrap_or(-1);
    let n_samples = out
        .params
        .get("n_samples")
        .and_then(PyValue::as_f64)
        .map_or(0, |n| n as i64)
        .max(last + 1);
    crate::Sorting::new(out.spike_trains.unit_ids().to_vec(), frames, fs, n_samples)
}
