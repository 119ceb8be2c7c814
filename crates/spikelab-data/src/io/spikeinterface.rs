//! SpikeInterface sorting folders: what `sorting.save(folder=…)` writes (the
//! `NumpyFolderSorting` format of spikeinterface ≥ 0.100; Buccino et al., *eLife* 9:e61834,
//! 2020).
//!
//! | file | content |
//! | --- | --- |
//! | `numpysorting_info.json` | `sampling_frequency` (Hz), `unit_ids` (list), `num_segments` |
//! | `spikes.npy` | structured array, one record per spike: `sample_index`, `unit_index` (into `unit_ids`), `segment_index` (int64) |
//! | `si_folder.json` | `class` = `spikeinterface.core.sortingfolder.NumpyFolderSorting` (not needed) |
//!
//! Spike times are `sample_index / sampling_frequency` seconds from the segment's start. The
//! interval is `[0, (last sample + 1) / fs]`: a sorting folder does not store the recording's
//! length. Unit ids that are integers (or strings of digits) become
//! [`SpikeTrains::unit_ids`]; other ids are numbered 0… in file order and kept as text in
//! [`Sorting::unit_names`].
//!
//! # Example
//! ```
//! use spikelab_data::io::spikeinterface;
//! let dir = spikelab_datasets::path("readers/spikeinterface/sorting")?;
//! let s = spikeinterface::read_sorting(&dir, 0)?;
//! assert_eq!(s.trains.unit_ids(), &[3, 7, 12]);
//! assert_eq!(s.sampling_frequency_hz, 30_000.0);
//! let raster = s.trains.bin(0.05)?; // a convSeq input at 50 ms bins
//! assert_eq!(raster.n_neurons(), 3);
//! # Ok::<(), spikelab_data::DataError>(())
//! ```

use std::path::Path;

use serde_json::Value;

use super::pickle::npy_header;
use crate::SpikeTrains;
use crate::error::{DataError, Result};

/// A sorting folder read by [`read_sorting`].
#[derive(Debug, Clone)]
pub struct Sorting {
    /// One train per unit, in `unit_ids` order (seconds).
    pub trains: SpikeTrains,
    /// The unit ids as stored (JSON text of each id).
    pub unit_names: Vec<String>,
    /// `sampling_frequency` (Hz).
    pub sampling_frequency_hz: f64,
    /// Number of segments in the folder.
    pub num_segments: usize,
}

fn err(path: &Path, reason: impl Into<String>) -> DataError {
    DataError::SpikeInterface {
        path: path.to_path_buf(),
        reason: reason.into(),
    }
}

/// `true` if `dir` holds `numpysorting_info.json` and `spikes.npy`.
pub fn is_sorting_folder(dir: &Path) -> bool {
    dir.join("numpysorting_info.json").is_file() && dir.join("spikes.npy").is_file()
}

/// The fields of a little-endian structured dtype `[('name', '<i8'), …]`: name, offset,
/// size, signed.
fn fields(descr: &str) -> Option<Vec<(String, usize, usize, bool)>> {
    let mut out = Vec::new();
    let mut offset = 0;
    for part in descr.split('(').skip(1) {
        let mut quoted = part.split('\'').skip(1).step_by(2);
        let name = quoted.next()?.to_string();
        let ty = quoted.next()?;
        let (endian, rest) = ty.split_at(1);
        let (kind, size) = rest.split_at(1);
        let size: usize = size.parse().ok()?;
        if !matches!(endian, "<" | "|") || !matches!(kind, "i" | "u") || size == 0 || size > 8 {
            return None;
        }
        out.push((name, offset, size, kind == "i"));
        offset += size;
    }
    Some(out)
}

fn int_at(rec: &[u8], off: usize, size: usize, signed: bool) -> i64 {
    let mut b = [0u8; 8];
    b[..size].copy_from_slice(&rec[off..off + size]);
    let u = u64::from_le_bytes(b);
    if signed {
        let shift = 64 - 8 * size as u32;
        ((u << shift) as i64) >> shift
    } else {
        u as i64
    }
}

/// Reads segment `segment` of a `NumpyFolderSorting` folder (module docs).
///
/// Errors ([`DataError::SpikeInterface`], naming the file and the fix): a missing
/// `numpysorting_info.json` or `spikes.npy`, a `spikes.npy` that is not the structured array
/// SpikeInterface writes, a `unit_index` outside `unit_ids` (files from different sortings),
/// repeated unit ids, a segment that does not exist, a non-positive sampling frequency.
pub fn read_sorting(dir: &Path, segment: usize) -> Result<Sorting> {
    let info_path = dir.join("numpysorting_info.json");
    if !info_path.is_file() {
        return Err(err(
            &info_path,
            "missing: not a SpikeInterface NumpyFolderSorting folder; save the sorting with sorting.save(folder=...)",
        ));
    }
    let text = std::fs::read_to_string(&info_path).map_err(|e| DataError::io(&info_path, e))?;
    let info: Value =
        serde_json::from_str(&text).map_err(|e| err(&info_path, format!("not JSON: {e}")))?;
    let fs = info["sampling_frequency"]
        .as_f64()
        .filter(|f| f.is_finite() && *f > 0.0)
        .ok_or_else(|| err(&info_path, "sampling_frequency is missing or not > 0"))?;
    let ids = info["unit_ids"]
        .as_array()
        .ok_or_else(|| err(&info_path, "unit_ids is missing or not a list"))?;
    let unit_names: Vec<String> = ids
        .iter()
        .map(|v| match v {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        })
        .collect();
    for (i, n) in unit_names.iter().enumerate() {
        if unit_names[..i].contains(n) {
            return Err(err(&info_path, format!("unit id {n} appears twice")));
        }
    }
    let numeric: Option<Vec<i64>> = unit_names.iter().map(|s| s.parse().ok()).collect();
    let unit_ids = numeric.unwrap_or_else(|| (0..unit_names.len() as i64).collect());
    let num_segments = info["num_segments"].as_u64().unwrap_or(1) as usize;
    if segment >= num_segments {
        return Err(err(
            &info_path,
            format!("segment {segment} asked for, the sorting has {num_segments}"),
        ));
    }

    let spikes_path = dir.join("spikes.npy");
    if !spikes_path.is_file() {
        return Err(err(
            &spikes_path,
            "missing: the spike records are not there; copy the whole sorting folder",
        ));
    }
    let bytes = std::fs::read(&spikes_path).map_err(|e| DataError::io(&spikes_path, e))?;
    let h = npy_header(&bytes).map_err(|m| err(&spikes_path, m))?;
    let bad_layout = || {
        err(
            &spikes_path,
            format!(
                "expected SpikeInterface's 1-D structured array (sample_index, unit_index, segment_index), found dtype {} shape {:?}",
                h.descr, h.shape
            ),
        )
    };
    let fl = fields(&h.descr).ok_or_else(bad_layout)?;
    let field = |name: &str| fl.iter().find(|f| f.0 == name).cloned();
    let (Some(sample), Some(unit)) = (field("sample_index"), field("unit_index")) else {
        return Err(bad_layout());
    };
    let seg = field("segment_index");
    let itemsize: usize = fl.iter().map(|f| f.2).sum();
    let n = match h.shape.as_slice() {
        [n] => *n,
        _ => return Err(bad_layout()),
    };
    let data = &bytes[h.data_offset..];
    if n.checked_mul(itemsize) != Some(data.len()) {
        return Err(err(
            &spikes_path,
            format!(
                "holds {} bytes for {n} records of {itemsize} bytes: truncated",
                data.len()
            ),
        ));
    }
    let mut trains = vec![Vec::new(); unit_ids.len()];
    let mut last = 0i64;
    for (k, rec) in data.chunks_exact(itemsize).enumerate() {
        let s = seg.as_ref().map_or(0, |f| int_at(rec, f.1, f.2, f.3));
        if s != segment as i64 {
            continue;
        }
        let u = int_at(rec, unit.1, unit.2, unit.3);
        let t = int_at(rec, sample.1, sample.2, sample.3);
        let Some(train) = usize::try_from(u).ok().and_then(|u| trains.get_mut(u)) else {
            return Err(err(
                &spikes_path,
                format!(
                    "spike {k} has unit_index {u}, but numpysorting_info.json lists {} unit ids; the two files come from different sortings",
                    unit_ids.len()
                ),
            ));
        };
        if t < 0 {
            return Err(err(
                &spikes_path,
                format!("spike {k} has a negative sample_index {t}"),
            ));
        }
        last = last.max(t);
        train.push(t as f64 / fs);
    }
    let t_stop = (last + 1) as f64 / fs;
    let trains = SpikeTrains::sorted_from(trains, unit_ids, 0.0, t_stop)?;
    Ok(Sorting {
        trains,
        unit_names,
        sampling_frequency_hz: fs,
        num_segments,
    })
}
