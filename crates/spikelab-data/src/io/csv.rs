//! Spikefinder CSV: a header of column names (neuron indices), then one row per frame;
//! shorter neurons are padded with empty cells (read as NaN) at the end. `.csv.gz` works.

use std::path::Path;

use ndarray::Array2;

use crate::error::{DataError, Result};
use crate::{BinnedRaster, CalciumTraces};

/// A numeric CSV table: column names and a `[row, column]` array with NaN for empty cells.
#[derive(Debug, Clone)]
pub struct CsvTable {
    /// Header cells.
    pub columns: Vec<String>,
    /// `[row, column]` values; empty cells and `NaN`/`nan` are NaN.
    pub values: Array2<f64>,
}

/// Reads a numeric CSV with a header line. Errors on ragged rows and non-numeric cells.
pub fn read_table(path: &Path) -> Result<CsvTable> {
    let bytes = crate::io::read_bytes_maybe_gz(path)?;
    let text = String::from_utf8(bytes).map_err(|e| DataError::Csv {
        path: path.into(),
        line: 0,
        reason: format!("not UTF-8 text: {e}"),
    })?;
    let mut lines = text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty());
    let (_, header) = lines.next().ok_or_else(|| DataError::Csv {
        path: path.into(),
        line: 1,
        reason: "empty file (no header)".into(),
    })?;
    let columns: Vec<String> = header
        .split(',')
        .map(|s| s.trim().trim_matches('"').to_string())
        .collect();
    let ncol = columns.len();
    let mut flat = Vec::new();
    let mut nrow = 0;
    for (i, line) in lines {
        let mut n = 0;
        for cell in line.split(',') {
            let c = cell.trim();
            let v = if c.is_empty() || c.eq_ignore_ascii_case("nan") {
                f64::NAN
            } else {
                c.parse::<f64>().map_err(|_| DataError::Csv {
                    path: path.into(),
                    line: i + 1,
                    reason: format!("column {}: {c:?} is not a number", n + 1),
                })?
            };
            flat.push(v);
            n += 1;
        }
        if n != ncol {
            return Err(DataError::Csv {
                path: path.into(),
                line: i + 1,
                reason: format!("ragged row: {n} cells, header has {ncol}"),
            });
        }
        nrow += 1;
    }
    let values = Array2::from_shape_vec((nrow, ncol), flat).expect("rows × columns checked");
    Ok(CsvTable { columns, values })
}

/// Reads Spikefinder calcium traces (`N.train.calcium.csv[.gz]`) at `frame_rate_hz`
/// (Spikefinder data are resampled to 100 Hz).
///
/// ```
/// let p = spikelab_datasets::spikefinder_calcium(4, spikelab_datasets::Split::Test)?;
/// let tr = spikelab_data::io::csv::read_calcium(&p, 100.0)?;
/// assert_eq!(tr.n_neurons(), 3);
/// assert_eq!(tr.valid_lengths(), &[33280, 33280, 30810]);
/// # Ok::<(), spikelab_data::DataError>(())
/// ```
pub fn read_calcium(path: &Path, frame_rate_hz: f64) -> Result<CalciumTraces> {
    CalciumTraces::new(read_table(path)?.values, frame_rate_hz)
}

/// Reads Spikefinder spike counts (`N.train.spikes.csv[.gz]`) into a `[neuron, bin]` raster
/// and the per-neuron valid lengths (frames before the NaN padding; padded bins hold 0).
pub fn read_spike_counts(path: &Path, bin_s: f64) -> Result<(BinnedRaster, Vec<usize>)> {
    let t = read_table(path)?;
    let (nrow, ncol) = t.values.dim();
    let mut counts = Array2::<u32>::zeros((ncol, nrow));
    let mut valid = vec![0usize; ncol];
    for ((i, j), &v) in t.values.indexed_iter() {
        if v.is_nan() {
            continue;
        }
        if !(v >= 0.0 && v.fract() == 0.0) {
            return Err(DataError::Csv {
                path: path.into(),
                line: i + 2,
                reason: format!(
                    "column {}: spike count {v} is not a whole number ≥ 0",
                    j + 1
                ),
            });
        }
        counts[[j, i]] = v as u32;
        valid[j] = i + 1;
    }
    Ok((BinnedRaster::new(counts, bin_s)?, valid))
}

/// Writes a `[row, column]` table with a header; NaN is written as an empty cell (the
/// Spikefinder convention; `NaN` in a one-column row, which would otherwise be a blank line),
/// [atomically](crate::io::write_atomic). Refuses to overwrite unless
/// `overwrite`.
pub fn write_table(
    path: &Path,
    columns: &[String],
    values: &Array2<f64>,
    overwrite: bool,
) -> Result<()> {
    crate::io::check_writable(path, overwrite)?;
    if columns.len() != values.ncols() {
        return Err(DataError::Shape {
            what: "CSV columns".into(),
            expected: format!("{} names", values.ncols()),
            got: format!("{}", columns.len()),
        });
    }
    let mut s = columns.join(",");
    s.push('\n');
    for row in values.rows() {
        let cells: Vec<String> = row
            .iter()
            .map(|v| {
                if v.is_nan() {
                    String::new()
                } else {
                    format!("{v}")
                }
            })
            .collect();
        let line = cells.join(",");
        // A blank line would be skipped on reading: a one-column NaN row is written `NaN`.
        s.push_str(if line.is_empty() { "NaN" } else { &line });
        s.push('\n');
    }
    crate::io::write_bytes_atomic(path, s.as_bytes(), overwrite)
}
