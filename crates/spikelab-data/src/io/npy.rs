//! NumPy `.npy` files (via `ndarray-npy`), with typed errors for wrong dtypes and ranks.
//!
//! [`read_any`] reads any numeric or bool array and converts it to f64 while remembering the
//! stored dtype; the typed readers ([`read_raster`], [`read_traces`], [`read_activity`])
//! check the rank and the values and return the spike-data types.

use std::io::Cursor;
use std::path::Path;

use ndarray::{Array, Array2, ArrayD, Dimension, IxDyn};
use ndarray_npy::{ReadNpyError, ReadNpyExt, ReadableElement, WritableElement, WriteNpyExt};

use crate::error::{DataError, Result};
use crate::{BinnedRaster, CalciumTraces, PopulationActivity};

fn npy_err(path: &Path, reason: impl Into<String>) -> DataError {
    DataError::Npy {
        path: path.into(),
        reason: reason.into(),
    }
}

/// An array read from an `.npy` file, converted to f64, with its stored dtype.
#[derive(Debug, Clone)]
pub struct NpyArray {
    /// NumPy dtype name of the stored data (`"float64"`, `"uint8"`, `"bool"`, …).
    pub dtype: &'static str,
    /// The values (C order, shape as stored).
    pub data: ArrayD<f64>,
}

fn try_read<T: ReadableElement + Copy>(
    bytes: &[u8],
    conv: impl Fn(T) -> f64,
) -> std::result::Result<Option<ArrayD<f64>>, ReadNpyError> {
    match ArrayD::<T>::read_npy(Cursor::new(bytes)) {
        Ok(a) => Ok(Some(a.mapv(conv))),
        Err(ReadNpyError::WrongDescriptor(_)) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Refuses a header length past the end of the file, a header nested deeper than NumPy
/// writes, and a header that declares more elements than the file has payload bytes (every
/// dtype takes at least one byte), because `ndarray-npy` allocates both before it reads (a
/// 100-byte file declaring a 4 GB header or 10¹² values would otherwise abort the process)
/// and its header parser backtracks exponentially on deep nesting. Headers this cannot parse
/// are left to `ndarray-npy`, which reports them.
fn check_declared_len(path: &Path, bytes: &[u8]) -> Result<()> {
    if bytes.len() < 12 || !bytes.starts_with(b"\x93NUMPY") {
        return Ok(());
    }
    let (hlen, start) = if bytes[6] == 1 {
        (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10usize)
    } else {
        let h = u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]);
        (h as usize, 12usize)
    };
    let Some(header) = bytes.get(start..start.saturating_add(hlen)) else {
        return Err(npy_err(
            path,
            format!(
                "the header length {hlen} runs past the end of the file ({} bytes)",
                bytes.len()
            ),
        ));
    };
    let text = String::from_utf8_lossy(header);
    // NumPy writes a flat dict (`{'descr': …, 'shape': (…), }`; a structured dtype nests a list
    // of tuples, depth 3). Deeper nesting is no NumPy header, and the header parser of
    // `ndarray-npy` backtracks exponentially on it (a 128-byte header took minutes).
    let mut depth = 0usize;
    let mut deepest = 0usize;
    for c in text.chars() {
        match c {
            '{' | '[' | '(' => {
                depth += 1;
                deepest = deepest.max(depth);
            }
            '}' | ']' | ')' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    if deepest > 4 {
        return Err(npy_err(
            path,
            format!("the header nests brackets {deepest} deep; NumPy headers are flat dicts"),
        ));
    }
    let Some(tuple) = text.find("shape").map(|i| &text[i..]) else {
        return Ok(());
    };
    let (Some(a), Some(b)) = (tuple.find('('), tuple.find(')')) else {
        return Ok(());
    };
    let mut n: u128 = 1;
    for d in tuple.get(a + 1..b).unwrap_or("").split(',').map(str::trim) {
        match d.parse::<u128>() {
            Ok(v) => n = n.saturating_mul(v),
            Err(_) if d.is_empty() => {}
            Err(_) => return Ok(()),
        }
    }
    let payload = bytes.len() - start - hlen;
    if n > payload as u128 {
        return Err(npy_err(
            path,
            format!("the header declares {n} values but the file holds {payload} bytes of data"),
        ));
    }
    Ok(())
}

/// Reads any `.npy` array of a bool, integer or float dtype (also gzip-compressed).
pub fn read_any(path: &Path) -> Result<NpyArray> {
    let bytes = crate::io::read_bytes_maybe_gz(path)?;
    check_declared_len(path, &bytes)?;
    let e = |e: ReadNpyError| npy_err(path, e.to_string());
    macro_rules! attempt {
        ($t:ty, $name:expr) => {
            if let Some(a) = try_read::<$t>(&bytes, |v| v as f64).map_err(e)? {
                return Ok(NpyArray {
                    dtype: $name,
                    data: a,
                });
            }
        };
    }
    attempt!(f64, "float64");
    attempt!(f32, "float32");
    attempt!(i64, "int64");
    attempt!(i32, "int32");
    attempt!(i16, "int16");
    attempt!(i8, "int8");
    attempt!(u64, "uint64");
    attempt!(u32, "uint32");
    attempt!(u16, "uint16");
    attempt!(u8, "uint8");
    if let Some(a) = try_read::<bool>(&bytes, |v| v as u8 as f64).map_err(e)? {
        return Ok(NpyArray {
            dtype: "bool",
            data: a,
        });
    }
    Err(npy_err(
        path,
        "unsupported dtype (expected bool, an integer or a float type, little-endian)",
    ))
}

/// Reads an array of exactly element type `T` and dimension `D`
/// (e.g. `read_typed::<f32, Ix2>` for a float32 matrix).
/// A different dtype or rank is a [`DataError::Npy`] that says what was found.
pub fn read_typed<T: ReadableElement, D: Dimension>(path: &Path) -> Result<Array<T, D>> {
    let bytes = crate::io::read_bytes_maybe_gz(path)?;
    check_declared_len(path, &bytes)?;
    Array::<T, D>::read_npy(Cursor::new(&bytes)).map_err(|e| match e {
        ReadNpyError::WrongDescriptor(d) => npy_err(
            path,
            format!("wrong dtype {d:?} for {}", std::any::type_name::<T>()),
        ),
        other => npy_err(path, other.to_string()),
    })
}

fn read_rank2(path: &Path, what: &str) -> Result<(Array2<f64>, &'static str)> {
    let a = read_any(path)?;
    let shape = a.data.shape().to_vec();
    if shape.len() != 2 {
        return Err(npy_err(
            path,
            format!("{what} must be 2-D, got shape {shape:?}"),
        ));
    }
    let arr = a
        .data
        .into_dimensionality::<ndarray::Ix2>()
        .map_err(|e| npy_err(path, e.to_string()))?;
    Ok((arr, a.dtype))
}

/// Reads a `[neuron, bin]` count raster from a 2-D array of whole, non-negative numbers.
pub fn read_raster(path: &Path, bin_s: f64) -> Result<BinnedRaster> {
    let (a, _) = read_rank2(path, "a raster [neuron, bin]")?;
    BinnedRaster::from_f64(a.view(), bin_s).map_err(|e| npy_err(path, e.to_string()))
}

/// Reads `[time, neuron]` calcium traces (NaN padding allowed).
pub fn read_traces(path: &Path, frame_rate_hz: f64) -> Result<CalciumTraces> {
    let (a, _) = read_rank2(path, "calcium traces [time, neuron]")?;
    CalciumTraces::new(a, frame_rate_hz)
}

/// Reads `[population, bin]` activity.
pub fn read_activity(path: &Path, bin_s: f64) -> Result<PopulationActivity> {
    let (a, _) = read_rank2(path, "population activity [population, bin]")?;
    PopulationActivity::new(a, bin_s)
}

/// Writes an array as `.npy` ([atomically](crate::io::write_atomic)); refuses to overwrite
/// unless `overwrite`.
pub fn write<T: WritableElement, S, D>(
    path: &Path,
    array: &ndarray::ArrayBase<S, D>,
    overwrite: bool,
) -> Result<()>
where
    S: ndarray::Data<Elem = T>,
    D: Dimension,
{
    crate::io::write_atomic(path, overwrite, |tmp| {
        let f = std::fs::File::create(tmp).map_err(|e| DataError::io(tmp, e))?;
        array
            .write_npy(std::io::BufWriter::new(f))
            .map_err(|e| npy_err(path, e.to_string()))
    })
}

/// Writes any f64 array with a dynamic shape.
pub fn write_dyn(path: &Path, array: &Array<f64, IxDyn>, overwrite: bool) -> Result<()> {
    write(path, array, overwrite)
}
