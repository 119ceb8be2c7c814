//! [`TimeIntervals`] ↔ an NWB `TimeIntervals` table in `/intervals/<name>`.

use std::path::Path;

use hdf5::{File, Group};

use super::h5::*;
use super::session::{NwbWriteOptions, write_atomically};
use super::{CORE, Ctx, Msg, R, nwb_err, open};
use crate::error::Result;
use crate::intervals::{ColumnValues, TimeIntervals};

/// Writes a new NWB file holding `table` as `/intervals/<name>` (a `TimeIntervals` table:
/// `start_time`, `stop_time` in seconds, then the table's columns; ragged columns as
/// `VectorData` + `VectorIndex`).
///
/// Errors as [`write_units`](super::write_units).
///
/// # Example
/// ```
/// use spikelab_data::{ColumnValues, TimeIntervals};
/// use spikelab_data::io::nwb::{self, NwbWriteOptions};
/// let dir = tempfile::tempdir().unwrap();
/// let path = dir.path().join("events.nwb");
/// let t = TimeIntervals::new("events", "detected events", vec![0.5, 2.0], vec![0.8, 2.4])?
///     .with_column("members", "unit ids", ColumnValues::RaggedI64(vec![vec![1, 4], vec![]]))?;
/// nwb::write_time_intervals(&path, &t, &NwbWriteOptions::new("events only"))?;
/// # spikelab_datasets::collect_nwb(&path);
/// assert_eq!(nwb::read_time_intervals(&path, "events")?, t);
/// # Ok::<(), spikelab_data::DataError>(())
/// ```
pub fn write_time_intervals(
    path: &Path,
    table: &TimeIntervals,
    opts: &NwbWriteOptions,
) -> Result<()> {
    write_atomically(path, &opts.session(), |file| write_table(file, table))
}

/// Writes `table` into `/intervals` of an open file (created if missing).
pub(super) fn write_table(file: &File, table: &TimeIntervals) -> R<()> {
    let intervals = match file.group("intervals") {
        Ok(g) => g,
        Err(_) => group(file, "intervals")?,
    };
    if intervals.link_exists(table.name()) {
        return Err(Msg(format!(
            "/intervals/{} exists already; choose another table name",
            table.name()
        )));
    }
    let g = group(&intervals, table.name())?;
    typed(&g, "TimeIntervals", CORE)?;
    attr_str(&g, "description", table.description())?;
    let mut names = vec!["start_time", "stop_time"];
    names.extend(table.columns().iter().map(|c| c.name.as_str()));
    attr_str_list(&g, "colnames", &names)?;
    ids(&g, &(0..table.len() as i64).collect::<Vec<_>>())?;
    vector_data(
        &g,
        "start_time",
        table.start_s(),
        "Start time of epoch, in seconds.",
        false,
    )?;
    vector_data(
        &g,
        "stop_time",
        table.stop_s(),
        "Stop time of epoch, in seconds.",
        false,
    )?;
    for c in table.columns() {
        match &c.values {
            ColumnValues::F64(v) => {
                vector_data(&g, &c.name, v, &c.description, false)?;
            }
            ColumnValues::I64(v) => {
                vector_data(&g, &c.name, v, &c.description, false)?;
            }
            ColumnValues::RaggedI64(v) => {
                let flat: Vec<i64> = v.iter().flatten().copied().collect();
                vector_data(&g, &c.name, &flat, &c.description, false)?;
                vector_index(file, &g, &c.name, &ends_of(v))?;
            }
        }
    }
    Ok(())
}

/// Reads the `TimeIntervals` table `/intervals/<name>`: start and stop times and every
/// column listed in `colnames` that holds numbers (float columns as [`ColumnValues::F64`],
/// integer ones as [`ColumnValues::I64`], indexed ones as [`ColumnValues::RaggedI64`]).
///
/// Errors ([`DataError::Nwb`](crate::DataError::Nwb)): no such table, missing or
/// inconsistent columns, a column of another type (text, references).
pub fn read_time_intervals(path: &Path, name: &str) -> Result<TimeIntervals> {
    let file = open(path)?;
    read_table(&file, name).map_err(|Msg(m)| nwb_err(path, m))
}

fn read_table(file: &File, name: &str) -> R<TimeIntervals> {
    let g: Group = file
        .group(&format!("intervals/{name}"))
        .map_err(|_| Msg(format!("no table /intervals/{name}")))?;
    let description = str_attr(&g, "description").unwrap_or_default();
    let start = ds_1d_f64(&g, "start_time")?;
    let stop = ds_1d_f64(&g, "stop_time")?;
    let mut table = TimeIntervals::new(name, description, start, stop)
        .map_err(|e| Msg(format!("/intervals/{name}: {e}")))?;
    let colnames = g
        .attr("colnames")
        .map_err(Msg::from)
        .and_then(|a| {
            crate::io::hdf5_guard::check_size(&a, 1)?;
            Ok(a.read_raw::<hdf5::types::VarLenUnicode>()?)
        })
        .ctx(|| format!("/intervals/{name}@colnames"))?;
    let colnames: Vec<String> = colnames
        .iter()
        .map(|c| crate::io::hdf5_guard::utf8(c.as_bytes()))
        .collect();
    for col in colnames.iter().map(String::as_str) {
        if col == "start_time" || col == "stop_time" {
            continue;
        }
        let ds = g.dataset(col).map_err(|_| {
            Msg(format!(
                "/intervals/{name}: column {col} listed but missing"
            ))
        })?;
        let description = str_attr(&ds, "description").unwrap_or_default();
        let is_float = matches!(
            ds.dtype().and_then(|t| t.to_descriptor()),
            Ok(hdf5::types::TypeDescriptor::Float(_))
        );
        let values = if g.link_exists(&format!("{col}_index")) {
            let flat = ds_1d_i64(&g, col)?;
            let ends = read_index(&g, &format!("{col}_index"), table.len(), flat.len())?;
            let mut lists = Vec::with_capacity(ends.len());
            let mut start = 0;
            for e in ends {
                lists.push(flat[start..e].to_vec());
                start = e;
            }
            ColumnValues::RaggedI64(lists)
        } else if is_float {
            ColumnValues::F64(ds_1d_f64(&g, col)?)
        } else {
            ColumnValues::I64(ds_1d_i64(&g, col)?)
        };
        table = table
            .with_column(col, description, values)
            .map_err(|e| Msg(format!("/intervals/{name}: {e}")))?;
    }
    Ok(table)
}
