//! HDF5 helpers shared by the NWB readers and writers: typed attributes, (compressed)
//! datasets, `VectorData`/`VectorIndex`/`id` columns, and lenient string and integer reads.

use std::str::FromStr;

use hdf5::types::{FixedAscii, FixedUnicode, TypeDescriptor, VarLenAscii, VarLenUnicode};
use hdf5::{Dataset, File, Group, H5Type, Location, ObjectReference1};
use ndarray::Array2;

use crate::io::hdf5_guard::{MAX_FILTER_RATIO, check_dataset_size, check_size, utf8};

use super::{CHUNK_ELEMS, Ctx, DEFLATE_LEVEL, HDMF, Msg, R};

pub(super) fn vlen(s: &str) -> R<VarLenUnicode> {
    VarLenUnicode::from_str(s).map_err(|e| Msg(format!("string {s:?}: {e}")))
}

pub(super) fn attr_str(loc: &Location, name: &str, value: &str) -> R<()> {
    let v = vlen(value)?;
    loc.new_attr::<VarLenUnicode>()
        .create(name)
        .and_then(|a| a.write_scalar(&v))
        .ctx(|| format!("attribute {}@{name}", loc.name()))
}

pub(super) fn attr_f64(loc: &Location, name: &str, value: f64) -> R<()> {
    loc.new_attr::<f64>()
        .create(name)
        .and_then(|a| a.write_scalar(&value))
        .ctx(|| format!("attribute {}@{name}", loc.name()))
}

pub(super) fn attr_ref(loc: &Location, name: &str, file: &File, target: &str) -> R<()> {
    let r: ObjectReference1 = file
        .reference(target)
        .ctx(|| format!("reference to {target}"))?;
    loc.new_attr::<ObjectReference1>()
        .create(name)
        .and_then(|a| a.write_scalar(&r))
        .ctx(|| format!("attribute {}@{name}", loc.name()))
}

pub(super) fn attr_str_list(loc: &Location, name: &str, values: &[&str]) -> R<()> {
    let v = values.iter().map(|s| vlen(s)).collect::<R<Vec<_>>>()?;
    loc.new_attr_builder()
        .with_data(&v[..])
        .create(name)
        .map(|_| ())
        .ctx(|| format!("attribute {}@{name}", loc.name()))
}

/// `neurodata_type`, `namespace`, `object_id`.
pub(super) fn typed(loc: &Location, neurodata_type: &str, namespace: &str) -> R<()> {
    attr_str(loc, "neurodata_type", neurodata_type)?;
    attr_str(loc, "namespace", namespace)?;
    attr_str(loc, "object_id", &uuid::Uuid::new_v4().to_string())
}

pub(super) fn group(parent: &Group, name: &str) -> R<Group> {
    parent
        .create_group(name)
        .ctx(|| format!("group {}/{name}", parent.name()))
}

/// A scalar dataset of any HDF5 type.
pub(super) fn scalar<T: H5Type>(parent: &Group, name: &str, value: &T) -> R<Dataset> {
    let ds = parent
        .new_dataset::<T>()
        .create(name)
        .ctx(|| format!("dataset {}/{name}", parent.name()))?;
    ds.write_scalar(value)
        .ctx(|| format!("dataset {}/{name}", parent.name()))?;
    Ok(ds)
}

pub(super) fn scalar_str(parent: &Group, name: &str, value: &str) -> R<Dataset> {
    scalar(parent, name, &vlen(value)?)
}

/// A 1-D dataset; chunked + gzip when `compress` and non-empty.
pub(super) fn vec1<T: H5Type>(
    parent: &Group,
    name: &str,
    data: &[T],
    compress: bool,
) -> R<Dataset> {
    let b = parent.new_dataset_builder();
    let res = if compress && !data.is_empty() {
        b.chunk(data.len().clamp(1, CHUNK_ELEMS))
            .deflate(DEFLATE_LEVEL)
            .with_data(data)
            .create(name)
    } else {
        b.with_data(data).create(name)
    };
    res.ctx(|| format!("dataset {}/{name}", parent.name()))
}

/// A 2-D dataset `[rows, cols]`; chunked by whole rows + gzip when `compress` and non-empty.
pub(super) fn mat2<T: H5Type>(
    parent: &Group,
    name: &str,
    data: &Array2<T>,
    compress: bool,
) -> R<Dataset> {
    let (rows, cols) = data.dim();
    let b = parent.new_dataset_builder();
    let res = if compress && rows > 0 && cols > 0 {
        let chunk_rows = (CHUNK_ELEMS / cols).clamp(1, rows);
        b.chunk((chunk_rows, cols))
            .deflate(DEFLATE_LEVEL)
            .with_data(data)
            .create(name)
    } else {
        b.with_data(data).create(name)
    };
    res.ctx(|| format!("dataset {}/{name}", parent.name()))
}

/// `VectorData` column with a description.
pub(super) fn vector_data<T: H5Type>(
    table: &Group,
    name: &str,
    data: &[T],
    description: &str,
    compress: bool,
) -> R<Dataset> {
    let ds = vec1(table, name, data, compress)?;
    typed(&ds, "VectorData", HDMF)?;
    attr_str(&ds, "description", description)?;
    Ok(ds)
}

/// `VectorIndex` (exclusive end offsets, uint64) pointing at `target` in `table`.
pub(super) fn vector_index(file: &File, table: &Group, target: &str, ends: &[u64]) -> R<()> {
    let name = format!("{target}_index");
    let ds = vec1(table, &name, ends, false)?;
    typed(&ds, "VectorIndex", HDMF)?;
    attr_str(
        &ds,
        "description",
        &format!("Index for VectorData '{target}'"),
    )?;
    attr_ref(&ds, "target", file, &format!("{}/{target}", table.name()))
}

/// `ElementIdentifiers` `id` column.
pub(super) fn ids(table: &Group, ids: &[i64]) -> R<()> {
    let ds = vec1(table, "id", ids, false)?;
    typed(&ds, "ElementIdentifiers", HDMF)
}

/// Exclusive end offsets of ragged lists.
pub(super) fn ends_of<T>(lists: &[Vec<T>]) -> Vec<u64> {
    let mut acc = 0u64;
    lists
        .iter()
        .map(|l| {
            acc += l.len() as u64;
            acc
        })
        .collect()
}

/// Reads a scalar string from an attribute or dataset in any string encoding HDF5 tools use.
pub(super) fn read_string(c: &hdf5::Container) -> R<String> {
    let desc = c.dtype()?.to_descriptor()?;
    let s = match desc {
        TypeDescriptor::VarLenUnicode => utf8(c.read_scalar::<VarLenUnicode>()?.as_bytes()),
        TypeDescriptor::VarLenAscii => utf8(c.read_scalar::<VarLenAscii>()?.as_bytes()),
        TypeDescriptor::FixedAscii(_) => utf8(c.read_scalar::<FixedAscii<4096>>()?.as_bytes()),
        TypeDescriptor::FixedUnicode(_) => utf8(c.read_scalar::<FixedUnicode<4096>>()?.as_bytes()),
        other => return Err(Msg(format!("expected a string, found {other}"))),
    };
    Ok(s)
}

/// Reads a scalar-or-1-element string (NWB writes some as 1-element arrays).
pub(super) fn read_string_lenient(c: &hdf5::Container) -> R<String> {
    if c.is_scalar() {
        return read_string(c);
    }
    let desc = c.dtype()?.to_descriptor()?;
    check_size(c, MAX_FILTER_RATIO)?;
    match desc {
        TypeDescriptor::VarLenUnicode => c
            .read_raw::<VarLenUnicode>()?
            .first()
            .map(|s| utf8(s.as_bytes()))
            .ok_or_else(|| Msg("empty string array".into())),
        TypeDescriptor::VarLenAscii => c
            .read_raw::<VarLenAscii>()?
            .first()
            .map(|s| utf8(s.as_bytes()))
            .ok_or_else(|| Msg("empty string array".into())),
        other => Err(Msg(format!("expected a string, found {other}"))),
    }
}

pub(super) fn str_attr(loc: &Location, name: &str) -> Option<String> {
    loc.attr(name).ok().and_then(|a| read_string(&a).ok())
}

pub(super) fn f64_attr(loc: &Location, name: &str) -> Option<f64> {
    loc.attr(name)
        .ok()
        .and_then(|a| a.read_scalar::<f64>().ok())
}

pub(super) fn root_string(file: &File, name: &str) -> Option<String> {
    file.dataset(name)
        .ok()
        .and_then(|d| read_string_lenient(&d).ok())
}

pub(super) fn neurodata_type(loc: &Location) -> Option<String> {
    str_attr(loc, "neurodata_type")
}

/// A whole dataset, once the file is known to hold its declared size (corrupt files declare
/// any size, and `read_raw` allocates it up front).
pub(super) fn read_checked<T: H5Type>(ds: &Dataset) -> R<Vec<T>> {
    check_dataset_size(ds)?;
    Ok(ds.read_raw::<T>()?)
}

pub(super) fn ds_1d_f64(g: &Group, name: &str) -> R<Vec<f64>> {
    let ds = g
        .dataset(name)
        .ctx(|| format!("{}/{name} is missing", g.name()))?;
    if ds.ndim() > 1 {
        return Err(Msg(format!(
            "{}/{name}: expected 1-D, got shape {:?}",
            g.name(),
            ds.shape()
        )));
    }
    read_checked::<f64>(&ds).ctx(|| format!("reading {}/{name}", g.name()))
}

pub(super) fn ds_1d_i64(g: &Group, name: &str) -> R<Vec<i64>> {
    let ds = g
        .dataset(name)
        .ctx(|| format!("{}/{name} is missing", g.name()))?;
    let desc = ds.dtype()?.to_descriptor()?;
    if !matches!(
        desc,
        TypeDescriptor::Integer(_) | TypeDescriptor::Unsigned(_)
    ) {
        return Err(Msg(format!(
            "{}/{name}: expected integers, found {desc}",
            g.name()
        )));
    }
    if ds.ndim() > 1 {
        return Err(Msg(format!(
            "{}/{name}: expected 1-D, got shape {:?}",
            g.name(),
            ds.shape()
        )));
    }
    read_checked::<i64>(&ds).ctx(|| format!("reading {}/{name}", g.name()))
}

/// Reads a `VectorIndex` and checks it: non-decreasing exclusive ends, last = `data_len`.
pub(super) fn read_index(g: &Group, name: &str, n_rows: usize, data_len: usize) -> R<Vec<usize>> {
    let raw = ds_1d_i64(g, name)?;
    if raw.len() != n_rows {
        return Err(Msg(format!(
            "{}/{name} has {} entries but the table has {n_rows} rows",
            g.name(),
            raw.len()
        )));
    }
    let mut prev = 0i64;
    for (i, &e) in raw.iter().enumerate() {
        if e < prev {
            return Err(Msg(format!(
                "{}/{name}[{i}] = {e} is smaller than the previous end {prev} (ends must be non-decreasing)",
                g.name()
            )));
        }
        prev = e;
    }
    if prev as usize != data_len {
        return Err(Msg(format!(
            "{}/{name} ends at {prev} but the indexed column has {data_len} elements",
            g.name()
        )));
    }
    Ok(raw.into_iter().map(|e| e as usize).collect())
}
