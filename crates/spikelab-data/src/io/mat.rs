//! MATLAB Level-5 MAT-files (`.mat`, also gzip'd as `.mat.gz`): a small reader of the subset
//! that neuroscience data files use, plus readers for the c2s/Spikefinder and CASCADE
//! ground-truth layouts built on it.
//!
//! # Why our own reader
//!
//! The c2s and CASCADE files are made of **structs and cell arrays**. Of the Rust options we
//! found, `matio-rs` binds the C library MATIO (a system library CI and Windows users would
//! have to install) and `matrw` is a young pure-Rust crate whose maturity we could not vouch
//! for; `matfile` reads numeric arrays only, and `matlab-mat` and `matreader` are early 0.1
//! releases. The format is small and documented by MathWorks (*MAT-File
//! Format*, chapter "Level 5 MAT-File Format"), so this module implements the subset we need
//! with no dependency beyond `flate2`, returns this crate's typed errors (path, variable, field
//! and byte offset) and is tested never to panic on truncated or corrupted input.
//!
//! # What is supported
//!
//! * The 128-byte header: descriptive text starting with `MATLAB 5.0`, version `0x0100` and
//!   the endianness indicator `IM` (little-endian) or `MI` (big-endian); both byte orders are
//!   read. MAT v7.3 files are HDF5 files and are rejected with a message saying so; MAT v4
//!   files (no header) are rejected too.
//! * Data elements in the normal and the *small data element* format, `miCOMPRESSED`
//!   (zlib) elements, and `miMATRIX` arrays of every numeric class (`double`, `single`,
//!   `int8` … `uint64`) with real and imaginary parts. Data stored with a smaller type than
//!   the class (MATLAB writes a `double` array of small integers as `miUINT8`) is converted.
//!   All numbers are returned as `f64`; `int64`/`uint64` values above 2^53 lose precision.
//! * `logical`, `char` (`miUTF8`, `miUINT16`/`miUTF16`, `miUTF32`, `miUINT8`), struct arrays,
//!   objects (read like structs, with their class name), cell arrays, empty arrays and sparse
//!   matrices ([`MatSparse`], with a dense conversion).
//! * Function handles and opaque (MCOS) objects are kept as [`MatValue::Unsupported`] so that
//!   the other variables of the file can still be read. Unnamed top-level arrays (MATLAB's
//!   subsystem data for such objects) are skipped.
//!
//! Every length and offset is checked: a truncated or corrupt file is a
//! [`DataError::Mat`] whose reason names the variable, the field and
//! the byte offset, never a panic. Nesting deeper than 64 levels is refused.
//!
//! # Layout conventions
//!
//! MATLAB stores arrays **column-major**. [`MatArray::data`] keeps that order;
//! [`MatArray::to_array2`] returns an `[row, column]` array indexed as in MATLAB (`A(i, j)` is
//! `a[[i-1, j-1]]`). Struct and cell arrays are likewise numbered column-major over their
//! elements.
//!
//! # Example
//! ```
//! use spikelab_data::io::mat;
//! use spikelab_datasets as datasets;
//! let f = mat::read_mat(&datasets::convseq("ca1_rubin/neuronal_activity_mat.mat")?)?;
//! assert_eq!(f.names(), vec!["neuronal_activity_mat"]);
//! let a = f.variable("neuronal_activity_mat")?.as_array().unwrap();
//! assert_eq!(a.dims, vec![452, 18137]);
//! // MATLAB saved this 0/1 matrix as class double with uint8 storage; it is read as double.
//! assert_eq!(a.class, mat::MatClass::Double);
//! assert_eq!(a.data.iter().sum::<f64>(), 16982.0);
//! # Ok::<(), spikelab_data::DataError>(())
//! ```

use std::io::Read;
use std::path::{Path, PathBuf};

use ndarray::{Array2, ArrayD, IxDyn, ShapeBuilder};

use crate::error::{DataError, Result};
use crate::{BinnedRaster, CalciumTraces, SpikeTrains};

// Data types of data elements (MAT-file format, table 1-1).
const MI_INT8: u32 = 1;
const MI_UINT8: u32 = 2;
const MI_INT16: u32 = 3;
const MI_UINT16: u32 = 4;
const MI_INT32: u32 = 5;
const MI_UINT32: u32 = 6;
const MI_SINGLE: u32 = 7;
const MI_DOUBLE: u32 = 9;
const MI_INT64: u32 = 12;
const MI_UINT64: u32 = 13;
const MI_MATRIX: u32 = 14;
const MI_COMPRESSED: u32 = 15;
const MI_UTF8: u32 = 16;
const MI_UTF16: u32 = 17;
const MI_UTF32: u32 = 18;

const MAX_DEPTH: usize = 64;

/// The MATLAB class of an array (the `mxCLASS` of its array flags; `logical` is a flag in
/// the file and its own class here).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum MatClass {
    /// Cell array (`mxCELL_CLASS`).
    Cell,
    /// Struct array.
    Struct,
    /// Object (struct with a class name).
    Object,
    /// Character array.
    Char,
    /// Sparse matrix.
    Sparse,
    /// `double`.
    Double,
    /// `single`.
    Single,
    /// `int8`.
    Int8,
    /// `uint8`.
    UInt8,
    /// `int16`.
    Int16,
    /// `uint16`.
    UInt16,
    /// `int32`.
    Int32,
    /// `uint32`.
    UInt32,
    /// `int64`.
    Int64,
    /// `uint64`.
    UInt64,
    /// `logical` (stored as a numeric class with the logical flag).
    Logical,
    /// Function handle.
    Function,
    /// Opaque (MCOS) object.
    Opaque,
    /// A class code this reader does not know.
    Unknown(u8),
}

impl MatClass {
    fn from_code(code: u8) -> MatClass {
        match code {
            1 => MatClass::Cell,
            2 => MatClass::Struct,
            3 => MatClass::Object,
            4 => MatClass::Char,
            5 => MatClass::Sparse,
            6 => MatClass::Double,
            7 => MatClass::Single,
            8 => MatClass::Int8,
            9 => MatClass::UInt8,
            10 => MatClass::Int16,
            11 => MatClass::UInt16,
            12 => MatClass::Int32,
            13 => MatClass::UInt32,
            14 => MatClass::Int64,
            15 => MatClass::UInt64,
            16 => MatClass::Function,
            17 => MatClass::Opaque,
            c => MatClass::Unknown(c),
        }
    }

    /// The MATLAB name of the class (`"double"`, `"uint8"`, `"cell"`, …).
    pub fn name(self) -> &'static str {
        match self {
            MatClass::Cell => "cell",
            MatClass::Struct => "struct",
            MatClass::Object => "object",
            MatClass::Char => "char",
            MatClass::Sparse => "sparse",
            MatClass::Double => "double",
            MatClass::Single => "single",
            MatClass::Int8 => "int8",
            MatClass::UInt8 => "uint8",
            MatClass::Int16 => "int16",
            MatClass::UInt16 => "uint16",
            MatClass::Int32 => "int32",
            MatClass::UInt32 => "uint32",
            MatClass::Int64 => "int64",
            MatClass::UInt64 => "uint64",
            MatClass::Logical => "logical",
            MatClass::Function => "function_handle",
            MatClass::Opaque => "opaque",
            MatClass::Unknown(_) => "unknown",
        }
    }

    fn is_numeric(self) -> bool {
        matches!(
            self,
            MatClass::Double
                | MatClass::Single
                | MatClass::Int8
                | MatClass::UInt8
                | MatClass::Int16
                | MatClass::UInt16
                | MatClass::Int32
                | MatClass::UInt32
                | MatClass::Int64
                | MatClass::UInt64
        )
    }
}

/// A numeric or logical array, converted to `f64`.
///
/// `data` is **column-major** (MATLAB order): element `A(i, j)` of an `m × n` matrix is
/// `data[i + j*m]` (0-based). Use [`MatArray::to_array2`] for an `[row, column]` array.
///
/// ```
/// use spikelab_data::io::mat::{MatArray, MatClass};
/// let a = MatArray { dims: vec![2, 3], class: MatClass::Double,
///                    data: vec![1., 4., 2., 5., 3., 6.], imag: None };
/// let m = a.to_array2();
/// assert_eq!(m[[0, 2]], 3.0); // A(1, 3)
/// assert_eq!(m[[1, 0]], 4.0); // A(2, 1)
/// assert_eq!(a.len(), 6);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct MatArray {
    /// MATLAB dimensions (at least two, e.g. `[1, T]` for a row vector).
    pub dims: Vec<usize>,
    /// The MATLAB class the array had in the file.
    pub class: MatClass,
    /// Real part, column-major, converted to `f64`.
    pub data: Vec<f64>,
    /// Imaginary part for complex arrays (same layout as `data`).
    pub imag: Option<Vec<f64>>,
}

impl MatArray {
    /// Number of elements (product of `dims`).
    pub fn len(&self) -> usize {
        self.data.len()
    }

    /// `true` for an empty array (any dimension 0).
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// `true` if the array has an imaginary part.
    pub fn is_complex(&self) -> bool {
        self.imag.is_some()
    }

    /// `true` for row and column vectors, scalars and empty arrays (at most one dimension
    /// differs from 1, or no element at all: MATLAB writes "no spikes" as a `0×0` `[]`).
    pub fn is_vector(&self) -> bool {
        self.data.is_empty() || self.dims.iter().filter(|&&d| d != 1).count() <= 1
    }

    /// The value of a 1×1 array, `None` otherwise.
    pub fn scalar(&self) -> Option<f64> {
        (self.data.len() == 1).then(|| self.data[0])
    }

    /// The `[row, column]` matrix as in MATLAB. Dimensions beyond the second are folded into
    /// the columns, like MATLAB's `A(:, :)`.
    pub fn to_array2(&self) -> Array2<f64> {
        let rows = self.dims.first().copied().unwrap_or(0);
        let cols = match self.data.len().checked_div(rows) {
            Some(c) => c,
            // 0×n: keep the column count.
            None => self.dims.iter().skip(1).product(),
        };
        let n = rows * cols;
        Array2::from_shape_vec((rows, cols).f(), self.data[..n].to_vec())
            .expect("rows × cols ≤ data length")
    }

    /// The N-dimensional array with MATLAB's dimensions and indexing. Errors if `data` does
    /// not hold `product(dims)` values (impossible for an array read from a file).
    pub fn to_arrayd(&self) -> Result<ArrayD<f64>> {
        ArrayD::from_shape_vec(IxDyn(&self.dims).f(), self.data.clone()).map_err(|_| {
            DataError::Shape {
                what: "MatArray data".into(),
                expected: format!(
                    "{} values for dims {:?}",
                    self.dims.iter().product::<usize>(),
                    self.dims
                ),
                got: format!("{} values", self.data.len()),
            }
        })
    }
}

/// A struct array (or object): `dims` elements, each with the same named fields.
///
/// Elements are numbered column-major like every MATLAB array; a `1×N` struct array has
/// elements `0..N`.
#[derive(Debug, Clone, PartialEq)]
pub struct MatStruct {
    /// MATLAB dimensions of the struct array.
    pub dims: Vec<usize>,
    /// Class name for objects, `None` for plain structs.
    pub class_name: Option<String>,
    field_names: Vec<String>,
    /// `values[elem * n_fields + field]`.
    values: Vec<MatValue>,
}

impl MatStruct {
    /// Builds a struct array from field names and per-element field values (each inner `Vec`
    /// in the order of `field_names`, elements column-major). A [`DataError::Shape`] if the
    /// number of elements does not match `dims` or an element has the wrong number of values.
    ///
    /// ```
    /// use spikelab_data::io::mat::{MatArray, MatClass, MatStruct, MatValue};
    /// let fps = MatValue::Numeric(MatArray { dims: vec![1, 1], class: MatClass::Double,
    ///                                        data: vec![100.0], imag: None });
    /// let s = MatStruct::new(vec![1, 1], vec!["fps".into()], vec![vec![fps]])?;
    /// assert_eq!(s.field(0, "fps").and_then(|v| v.as_scalar()), Some(100.0));
    /// # Ok::<(), spikelab_data::DataError>(())
    /// ```
    pub fn new(
        dims: Vec<usize>,
        field_names: Vec<String>,
        elements: Vec<Vec<MatValue>>,
    ) -> Result<MatStruct> {
        let n: usize = dims.iter().product();
        if n != elements.len() {
            return Err(DataError::Shape {
                what: "struct elements".into(),
                expected: format!("{n} elements for dims {dims:?}"),
                got: format!("{} elements", elements.len()),
            });
        }
        let mut values = Vec::with_capacity(n * field_names.len());
        for (i, e) in elements.into_iter().enumerate() {
            if e.len() != field_names.len() {
                return Err(DataError::Shape {
                    what: format!("struct element {i}"),
                    expected: format!("{} values (one per field)", field_names.len()),
                    got: format!("{} values", e.len()),
                });
            }
            values.extend(e);
        }
        Ok(MatStruct {
            dims,
            class_name: None,
            field_names,
            values,
        })
    }

    /// Number of elements of the struct array.
    pub fn len(&self) -> usize {
        self.dims.iter().product()
    }

    /// `true` for a 0-element struct array.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Field names, in file order.
    pub fn field_names(&self) -> &[String] {
        &self.field_names
    }

    /// `true` if the struct has a field `name`.
    pub fn has_field(&self, name: &str) -> bool {
        self.field_names.iter().any(|f| f == name)
    }

    /// Field `name` of element `elem` (0-based, column-major), or `None` if either is absent.
    pub fn field(&self, elem: usize, name: &str) -> Option<&MatValue> {
        let f = self.field_names.iter().position(|f| f == name)?;
        if elem >= self.len() {
            return None;
        }
        self.values.get(elem * self.field_names.len() + f)
    }

    /// `(field name, value)` pairs of element `elem` (empty if out of range).
    pub fn fields(&self, elem: usize) -> impl Iterator<Item = (&str, &MatValue)> {
        let nf = self.field_names.len();
        let vals: &[MatValue] = if elem < self.len() {
            &self.values[elem * nf..(elem + 1) * nf]
        } else {
            &[]
        };
        self.field_names.iter().map(String::as_str).zip(vals.iter())
    }
}

/// A cell array: `dims` items, column-major.
#[derive(Debug, Clone, PartialEq)]
pub struct MatCell {
    /// MATLAB dimensions of the cell array.
    pub dims: Vec<usize>,
    /// The items, column-major.
    pub items: Vec<MatValue>,
}

impl MatCell {
    /// Number of items.
    pub fn len(&self) -> usize {
        self.items.len()
    }
    /// `true` for an empty cell array.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }
}

/// A sparse matrix in MATLAB's compressed-sparse-column layout.
#[derive(Debug, Clone, PartialEq)]
pub struct MatSparse {
    /// `[rows, cols]`.
    pub dims: Vec<usize>,
    /// Row index of each stored value (0-based).
    pub row_indices: Vec<usize>,
    /// Column pointers (`cols + 1` entries): column `j` holds the values
    /// `col_ptr[j]..col_ptr[j+1]`.
    pub col_ptr: Vec<usize>,
    /// Stored values (real part; `1.0` for logical sparse matrices).
    pub data: Vec<f64>,
    /// Imaginary part of complex sparse matrices.
    pub imag: Option<Vec<f64>>,
    /// `true` for a logical sparse matrix.
    pub logical: bool,
}

impl MatSparse {
    /// Number of stored (non-zero) values.
    pub fn nnz(&self) -> usize {
        self.data.len()
    }

    /// The dense `[row, column]` matrix (real part). Entries whose indices fall outside
    /// `dims` (impossible for a matrix read from a file, which is checked) are ignored.
    pub fn to_dense(&self) -> Array2<f64> {
        let r = self.dims.first().copied().unwrap_or(0);
        let c = self.dims.get(1).copied().unwrap_or(0);
        let mut out = Array2::zeros((r, c));
        for (j, w) in self.col_ptr.windows(2).enumerate().take(c) {
            for k in w[0]..w[1].min(self.row_indices.len()).min(self.data.len()) {
                if let Some(x) = out.get_mut([self.row_indices[k], j]) {
                    *x += self.data[k];
                }
            }
        }
        out
    }
}

/// One MATLAB value.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum MatValue {
    /// Numeric or logical array (empty arrays `[]` included).
    Numeric(MatArray),
    /// Character array. A multi-row char matrix becomes its rows joined by `'\n'`.
    Char(String),
    /// Struct array or object.
    Struct(MatStruct),
    /// Cell array.
    Cell(MatCell),
    /// Sparse matrix.
    Sparse(MatSparse),
    /// A value this reader skips (function handles, opaque/MCOS objects such as `string` or
    /// `table`); the rest of the file is still read.
    Unsupported {
        /// Its class.
        class: MatClass,
    },
}

impl MatValue {
    /// The numeric/logical array, if this is one.
    pub fn as_array(&self) -> Option<&MatArray> {
        match self {
            MatValue::Numeric(a) => Some(a),
            _ => None,
        }
    }
    /// The struct array, if this is one.
    pub fn as_struct(&self) -> Option<&MatStruct> {
        match self {
            MatValue::Struct(s) => Some(s),
            _ => None,
        }
    }
    /// The cell array, if this is one.
    pub fn as_cell(&self) -> Option<&MatCell> {
        match self {
            MatValue::Cell(c) => Some(c),
            _ => None,
        }
    }
    /// The text, if this is a char array.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            MatValue::Char(s) => Some(s),
            _ => None,
        }
    }
    /// The value of a 1×1 numeric array.
    pub fn as_scalar(&self) -> Option<f64> {
        self.as_array().and_then(MatArray::scalar)
    }
    /// A short description for error messages, e.g. `"1x5 struct"` or `"char"`.
    pub fn describe(&self) -> String {
        let d = |dims: &[usize]| {
            dims.iter()
                .map(|d| d.to_string())
                .collect::<Vec<_>>()
                .join("x")
        };
        match self {
            MatValue::Numeric(a) => format!("{} {}", d(&a.dims), a.class.name()),
            MatValue::Char(_) => "char".into(),
            MatValue::Struct(s) => format!("{} struct", d(&s.dims)),
            MatValue::Cell(c) => format!("{} cell", d(&c.dims)),
            MatValue::Sparse(s) => format!("{} sparse", d(&s.dims)),
            MatValue::Unsupported { class } => format!("unsupported {}", class.name()),
        }
    }
}

/// The variables of a MAT-file, in file order.
#[derive(Debug, Clone)]
pub struct MatFile {
    path: PathBuf,
    header: String,
    vars: Vec<(String, MatValue)>,
}

impl MatFile {
    /// Parses a MAT v5 file held in memory; `path` is used in error messages only.
    pub fn from_bytes(bytes: &[u8], path: &Path) -> Result<MatFile> {
        parse_file(bytes)
            .map_err(|reason| mat_err(path, reason))
            .map(|(header, vars)| MatFile {
                path: path.to_path_buf(),
                header,
                vars,
            })
    }

    /// The variable `name`, or `None`.
    pub fn get(&self, name: &str) -> Option<&MatValue> {
        self.vars.iter().find(|(n, _)| n == name).map(|(_, v)| v)
    }

    /// The variable `name`; a [`DataError::Mat`] that lists the file's variables if absent.
    pub fn variable(&self, name: &str) -> Result<&MatValue> {
        self.get(name).ok_or_else(|| {
            mat_err(
                &self.path,
                format!(
                    "no variable '{name}' (the file holds: {})",
                    self.names().join(", ")
                ),
            )
        })
    }

    /// The numeric (or logical) variable `name` as an `[row, column]` matrix, indexed as in
    /// MATLAB (see [`read_matrix`]).
    pub fn matrix(&self, name: &str) -> Result<Array2<f64>> {
        let path = &self.path;
        let a = numeric(self, name)?;
        if a.dims.len() != 2 {
            return Err(mat_err(
                path,
                format!(
                    "variable '{name}' has {} dimensions {:?}, expected a 2-D matrix",
                    a.dims.len(),
                    a.dims
                ),
            ));
        }
        if a.is_complex() {
            return Err(mat_err(
                path,
                format!("variable '{name}' is complex; read it with read_mat to get both parts"),
            ));
        }
        Ok(a.to_array2())
    }

    /// Variable names in file order.
    pub fn names(&self) -> Vec<&str> {
        self.vars.iter().map(|(n, _)| n.as_str()).collect()
    }

    /// Number of variables.
    pub fn len(&self) -> usize {
        self.vars.len()
    }

    /// `true` if the file holds no variable.
    pub fn is_empty(&self) -> bool {
        self.vars.is_empty()
    }

    /// Iterates over `(name, value)` in file order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &MatValue)> {
        self.vars.iter().map(|(n, v)| (n.as_str(), v))
    }

    /// The header's descriptive text (e.g. `MATLAB 5.0 MAT-file, Platform: GLNXA64, …`).
    pub fn header_text(&self) -> &str {
        &self.header
    }

    /// The path the file was read from.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

fn mat_err(path: &Path, reason: impl Into<String>) -> DataError {
    DataError::Mat {
        path: path.to_path_buf(),
        reason: reason.into(),
    }
}

/// Reads a MAT v5 file (gzip'd or not).
///
/// ```
/// use spikelab_data::io::mat;
/// use spikelab_datasets as datasets;
/// let f = mat::read_mat(&datasets::elephant_stat_embedding("Parameters32py.mat")?)?;
/// let p = f.variable("Parameters32")?.as_array().unwrap();
/// assert_eq!(p.dims, vec![18, 32]);
/// assert!(f.variable("nope").is_err());
/// # Ok::<(), spikelab_data::DataError>(())
/// ```
pub fn read_mat(path: &Path) -> Result<MatFile> {
    let bytes = super::read_bytes_maybe_gz(path)?;
    MatFile::from_bytes(&bytes, path)
}

// ---------------------------------------------------------------------------------------
// Parsing
// ---------------------------------------------------------------------------------------

type PResult<T> = std::result::Result<T, String>;

struct Element<'a> {
    ty: u32,
    data: &'a [u8],
    offset: usize,
}

struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
    be: bool,
}

fn u16_at(b: &[u8], be: bool) -> u16 {
    let a = [b[0], b[1]];
    if be {
        u16::from_be_bytes(a)
    } else {
        u16::from_le_bytes(a)
    }
}

fn u32_at(b: &[u8], be: bool) -> u32 {
    let a = [b[0], b[1], b[2], b[3]];
    if be {
        u32::from_be_bytes(a)
    } else {
        u32::from_le_bytes(a)
    }
}

fn type_name(ty: u32) -> &'static str {
    match ty {
        MI_INT8 => "miINT8",
        MI_UINT8 => "miUINT8",
        MI_INT16 => "miINT16",
        MI_UINT16 => "miUINT16",
        MI_INT32 => "miINT32",
        MI_UINT32 => "miUINT32",
        MI_SINGLE => "miSINGLE",
        MI_DOUBLE => "miDOUBLE",
        MI_INT64 => "miINT64",
        MI_UINT64 => "miUINT64",
        MI_MATRIX => "miMATRIX",
        MI_COMPRESSED => "miCOMPRESSED",
        MI_UTF8 => "miUTF8",
        MI_UTF16 => "miUTF16",
        MI_UTF32 => "miUTF32",
        _ => "unknown type",
    }
}

impl<'a> Cursor<'a> {
    fn new(buf: &'a [u8], be: bool) -> Self {
        Cursor { buf, pos: 0, be }
    }

    fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    fn at_end(&self) -> bool {
        self.pos >= self.buf.len()
    }

    /// Reads the next data element (tag + data), skipping the padding to 8 bytes.
    fn next(&mut self) -> PResult<Element<'a>> {
        let start = self.pos;
        if self.remaining() < 8 {
            return Err(format!(
                "truncated: data element tag at byte {start} needs 8 bytes, {} remain",
                self.remaining()
            ));
        }
        let w0 = u32_at(&self.buf[start..], self.be);
        if w0 >> 16 != 0 {
            // Small data element: type and size share the first 4 bytes, data in the next 4.
            let ty = w0 & 0xffff;
            let n = (w0 >> 16) as usize;
            if n > 4 {
                return Err(format!(
                    "corrupt small data element at byte {start}: {n} bytes (at most 4 allowed)"
                ));
            }
            self.pos += 8;
            return Ok(Element {
                ty,
                data: &self.buf[start + 4..start + 4 + n],
                offset: start,
            });
        }
        let ty = w0;
        let n = u32_at(&self.buf[start + 4..], self.be) as usize;
        if n > self.remaining() - 8 {
            return Err(format!(
                "truncated: {} element at byte {start} declares {n} bytes but only {} remain",
                type_name(ty),
                self.remaining() - 8
            ));
        }
        let data = &self.buf[start + 8..start + 8 + n];
        self.pos = start + 8 + n;
        if ty != MI_COMPRESSED {
            // Elements are padded to 8 bytes (the final padding may be missing).
            self.pos = self.pos.next_multiple_of(8).min(self.buf.len());
        }
        Ok(Element {
            ty,
            data,
            offset: start,
        })
    }

    fn next_of(&mut self, what: &str) -> PResult<Element<'a>> {
        self.next().map_err(|e| format!("{what}: {e}"))
    }
}

fn parse_file(bytes: &[u8]) -> PResult<(String, Vec<(String, MatValue)>)> {
    if bytes.len() < 128 {
        return Err(format!(
            "not a MAT v5 file: {} bytes, shorter than the 128-byte header",
            bytes.len()
        ));
    }
    let header = &bytes[..116];
    let text = String::from_utf8_lossy(header)
        .trim_end_matches(['\0', ' '])
        .to_string();
    if text.starts_with("MATLAB 7.3") {
        return Err(
            "MAT v7.3 file: these are HDF5 files; read them with an HDF5 reader (save with -v7 for this reader)"
                .into(),
        );
    }
    if !text.starts_with("MATLAB 5.0") {
        return Err(format!(
            "not a MAT v5 file: header text does not start with 'MATLAB 5.0' (starts with {:?}); MAT v4 files are not supported",
            text.chars().take(20).collect::<String>()
        ));
    }
    let be = match &bytes[126..128] {
        b"IM" => false,
        b"MI" => true,
        other => {
            return Err(format!(
                "bad endianness indicator {:?} at byte 126 (expected 'IM' or 'MI')",
                String::from_utf8_lossy(other)
            ));
        }
    };
    let version = u16_at(&bytes[124..126], be);
    if version != 0x0100 {
        return Err(format!(
            "unsupported MAT version 0x{version:04x} (expected 0x0100)"
        ));
    }
    let mut vars = Vec::new();
    let mut cur = Cursor::new(&bytes[128..], be);
    while !cur.at_end() {
        if cur.remaining() < 8 && cur.buf[cur.pos..].iter().all(|&b| b == 0) {
            break; // trailing padding
        }
        let el = cur
            .next()
            .map_err(|e| format!("{e} (offset after the header)"))?;
        read_top_element(el, be, &mut vars)?;
    }
    Ok((text, vars))
}

fn read_top_element(el: Element<'_>, be: bool, vars: &mut Vec<(String, MatValue)>) -> PResult<()> {
    match el.ty {
        MI_MATRIX => {
            let idx = vars.len();
            let (name, value) = parse_matrix(el.data, be, 0).map_err(|e| {
                format!(
                    "variable #{idx} (element at byte {} after the header): {e}",
                    el.offset
                )
            })?;
            // MATLAB's subsystem data (used by MCOS objects) is an unnamed top-level array;
            // a variable without a name cannot be addressed, so it is skipped.
            if !name.is_empty() {
                vars.push((name, value));
            }
            Ok(())
        }
        MI_COMPRESSED => {
            let mut out = Vec::new();
            flate2::read::ZlibDecoder::new(el.data)
                .read_to_end(&mut out)
                .map_err(|e| {
                    format!(
                        "compressed element at byte {} after the header: zlib: {e}",
                        el.offset
                    )
                })?;
            let mut inner = Cursor::new(&out, be);
            while !inner.at_end() {
                if inner.remaining() < 8 && inner.buf[inner.pos..].iter().all(|&b| b == 0) {
                    break; // padding after the compressed variable
                }
                let sub = inner.next().map_err(|e| {
                    format!(
                        "inside the compressed element at byte {} after the header: {e}",
                        el.offset
                    )
                })?;
                if sub.ty == MI_COMPRESSED {
                    return Err("nested compressed element".into());
                }
                read_top_element(sub, be, vars)?;
            }
            Ok(())
        }
        ty => Err(format!(
            "unexpected {} (type {ty}) element at byte {} after the header: variables must be miMATRIX or miCOMPRESSED",
            type_name(ty),
            el.offset
        )),
    }
}

fn elem_size(ty: u32) -> Option<usize> {
    Some(match ty {
        MI_INT8 | MI_UINT8 | MI_UTF8 => 1,
        MI_INT16 | MI_UINT16 | MI_UTF16 => 2,
        MI_INT32 | MI_UINT32 | MI_SINGLE | MI_UTF32 => 4,
        MI_DOUBLE | MI_INT64 | MI_UINT64 => 8,
        _ => return None,
    })
}

/// Converts numeric element data of any mi type to `f64`.
fn decode_numeric(el: &Element<'_>, be: bool) -> PResult<Vec<f64>> {
    let size = elem_size(el.ty).ok_or_else(|| {
        format!(
            "{} (type {}) at byte {} is not a numeric data type",
            type_name(el.ty),
            el.ty,
            el.offset
        )
    })?;
    if !el.data.len().is_multiple_of(size) {
        return Err(format!(
            "{} element at byte {} has {} bytes, not a multiple of {size}",
            type_name(el.ty),
            el.offset,
            el.data.len()
        ));
    }
    let c = el.data.chunks_exact(size);
    macro_rules! conv {
        ($t:ty) => {
            c.map(|b| {
                let a = b.try_into().expect("chunk has the type's size");
                (if be {
                    <$t>::from_be_bytes(a)
                } else {
                    <$t>::from_le_bytes(a)
                }) as f64
            })
            .collect()
        };
    }
    Ok(match el.ty {
        MI_INT8 => conv!(i8),
        MI_UINT8 | MI_UTF8 => conv!(u8),
        MI_INT16 => conv!(i16),
        MI_UINT16 | MI_UTF16 => conv!(u16),
        MI_INT32 => conv!(i32),
        MI_UINT32 | MI_UTF32 => conv!(u32),
        MI_SINGLE => conv!(f32),
        MI_DOUBLE => conv!(f64),
        MI_INT64 => conv!(i64),
        _ => conv!(u64),
    })
}

fn decode_ints(el: &Element<'_>, be: bool, what: &str) -> PResult<Vec<i64>> {
    let v = decode_numeric(el, be).map_err(|e| format!("{what}: {e}"))?;
    Ok(v.into_iter().map(|x| x as i64).collect())
}

fn checked_count(dims: &[usize]) -> PResult<usize> {
    dims.iter()
        .try_fold(1usize, |a, &d| a.checked_mul(d))
        .ok_or_else(|| format!("dimensions {dims:?} overflow"))
}

fn ascii_name(data: &[u8]) -> String {
    let end = data.iter().position(|&b| b == 0).unwrap_or(data.len());
    String::from_utf8_lossy(&data[..end]).into_owned()
}

/// Parses the body of an miMATRIX element into `(name, value)`.
fn parse_matrix(data: &[u8], be: bool, depth: usize) -> PResult<(String, MatValue)> {
    if depth > MAX_DEPTH {
        return Err(format!("nesting deeper than {MAX_DEPTH} levels"));
    }
    if data.is_empty() {
        // An miMATRIX with no content is an empty double array `[]`.
        return Ok((
            String::new(),
            MatValue::Numeric(MatArray {
                dims: vec![0, 0],
                class: MatClass::Double,
                data: Vec::new(),
                imag: None,
            }),
        ));
    }
    let mut cur = Cursor::new(data, be);
    let flags = cur.next_of("array flags")?;
    if flags.data.len() < 8 {
        return Err(format!(
            "array flags: {} bytes, expected 8",
            flags.data.len()
        ));
    }
    let f0 = u32_at(flags.data, be);
    let nzmax = u32_at(&flags.data[4..], be) as usize;
    let class_code = (f0 & 0xff) as u8;
    let fbits = (f0 >> 8) & 0xff;
    let complex = fbits & 0x08 != 0;
    let logical = fbits & 0x02 != 0;
    let class = MatClass::from_code(class_code);

    let dims_el = cur.next_of("dimensions")?;
    let dims_i = decode_ints(&dims_el, be, "dimensions")?;
    if dims_i.iter().any(|&d| d < 0) {
        return Err(format!("negative dimension in {dims_i:?}"));
    }
    let dims: Vec<usize> = dims_i.iter().map(|&d| d as usize).collect();
    let count = checked_count(&dims)?;
    let name_el = cur.next_of("array name")?;
    let name = ascii_name(name_el.data);
    let ctx = |e: String| {
        if name.is_empty() {
            e
        } else {
            format!("'{name}': {e}")
        }
    };

    let value = match class {
        c if c.is_numeric() => {
            let real = cur.next_of("real part").map_err(ctx)?;
            let re = decode_numeric(&real, be).map_err(|e| ctx(format!("real part: {e}")))?;
            if re.len() != count {
                return Err(ctx(format!(
                    "real part has {} values, dimensions {dims:?} need {count}",
                    re.len()
                )));
            }
            let imag = if complex {
                let im_el = cur.next_of("imaginary part").map_err(ctx)?;
                let im =
                    decode_numeric(&im_el, be).map_err(|e| ctx(format!("imaginary part: {e}")))?;
                if im.len() != count {
                    return Err(ctx(format!(
                        "imaginary part has {} values, dimensions {dims:?} need {count}",
                        im.len()
                    )));
                }
                Some(im)
            } else {
                None
            };
            MatValue::Numeric(MatArray {
                dims,
                class: if logical { MatClass::Logical } else { class },
                data: re,
                imag,
            })
        }
        MatClass::Char => {
            let el = if cur.at_end() {
                None
            } else {
                Some(cur.next_of("char data").map_err(ctx)?)
            };
            let chars: Vec<char> = match el {
                None => Vec::new(),
                Some(el) => decode_chars(&el, be).map_err(ctx)?,
            };
            MatValue::Char(chars_to_string(&chars, &dims))
        }
        MatClass::Cell => {
            if count > cur.remaining() / 8 {
                return Err(ctx(format!(
                    "cell dimensions {dims:?} need {count} elements but only {} bytes remain",
                    cur.remaining()
                )));
            }
            let mut items = Vec::with_capacity(count);
            for i in 0..count {
                let el = cur.next_of(&format!("cell item {i}")).map_err(ctx)?;
                if el.ty != MI_MATRIX {
                    return Err(ctx(format!(
                        "cell item {i}: expected miMATRIX, found {}",
                        type_name(el.ty)
                    )));
                }
                let (_, v) = parse_matrix(el.data, be, depth + 1)
                    .map_err(|e| ctx(format!("cell item {i}: {e}")))?;
                items.push(v);
            }
            MatValue::Cell(MatCell { dims, items })
        }
        MatClass::Struct | MatClass::Object => {
            let class_name = if class == MatClass::Object {
                let el = cur.next_of("object class name").map_err(ctx)?;
                Some(ascii_name(el.data))
            } else {
                None
            };
            let mut s = parse_struct_body(&mut cur, be, depth, dims, count).map_err(ctx)?;
            s.class_name = class_name;
            MatValue::Struct(s)
        }
        MatClass::Sparse => MatValue::Sparse(
            parse_sparse(&mut cur, be, dims, nzmax, complex, logical).map_err(ctx)?,
        ),
        _ => MatValue::Unsupported { class },
    };
    Ok((name, value))
}

fn parse_struct_body(
    cur: &mut Cursor<'_>,
    be: bool,
    depth: usize,
    dims: Vec<usize>,
    count: usize,
) -> PResult<MatStruct> {
    let len_el = cur.next_of("field-name length")?;
    let fnl = decode_ints(&len_el, be, "field-name length")?;
    let fnl = match fnl.as_slice() {
        [n] if *n > 0 => *n as usize,
        [0] => 1,
        other => return Err(format!("bad field-name length {other:?}")),
    };
    let names_el = cur.next_of("field names")?;
    if !names_el.data.len().is_multiple_of(fnl) {
        return Err(format!(
            "field names: {} bytes is not a multiple of the field-name length {fnl}",
            names_el.data.len()
        ));
    }
    let field_names: Vec<String> = names_el.data.chunks_exact(fnl).map(ascii_name).collect();
    let nf = field_names.len();
    let total = count
        .checked_mul(nf)
        .ok_or_else(|| "struct size overflows".to_string())?;
    if total > cur.remaining() / 8 {
        return Err(format!(
            "struct dimensions {dims:?} with {nf} fields need {total} values but only {} bytes remain",
            cur.remaining()
        ));
    }
    let mut values = Vec::with_capacity(total);
    for e in 0..count {
        for f in &field_names {
            let el = cur.next_of(&format!("field '{f}' of element {e}"))?;
            if el.ty != MI_MATRIX {
                return Err(format!(
                    "field '{f}' of element {e}: expected miMATRIX, found {}",
                    type_name(el.ty)
                ));
            }
            let (_, v) = parse_matrix(el.data, be, depth + 1)
                .map_err(|err| format!("field '{f}' of element {e}: {err}"))?;
            values.push(v);
        }
    }
    Ok(MatStruct {
        dims,
        class_name: None,
        field_names,
        values,
    })
}

fn parse_sparse(
    cur: &mut Cursor<'_>,
    be: bool,
    dims: Vec<usize>,
    nzmax: usize,
    complex: bool,
    logical: bool,
) -> PResult<MatSparse> {
    if dims.len() != 2 {
        return Err(format!(
            "sparse matrix with dimensions {dims:?} (must be 2-D)"
        ));
    }
    let ir_el = cur.next_of("sparse row indices")?;
    let ir = decode_ints(&ir_el, be, "sparse row indices")?;
    let jc_el = cur.next_of("sparse column pointers")?;
    let jc = decode_ints(&jc_el, be, "sparse column pointers")?;
    let (r, c) = (dims[0], dims[1]);
    if jc.len() != c + 1 {
        return Err(format!(
            "sparse column pointers: {} entries for {c} columns",
            jc.len()
        ));
    }
    let nnz = jc[c];
    if nnz < 0 || nnz as usize > ir.len() || (nnz as usize) > nzmax.max(ir.len()) {
        return Err(format!(
            "sparse matrix: {nnz} stored values but {} row indices",
            ir.len()
        ));
    }
    let nnz = nnz as usize;
    if jc.windows(2).any(|w| w[0] < 0 || w[1] < w[0]) {
        return Err("sparse column pointers are not non-decreasing".into());
    }
    let row_indices: Vec<usize> = ir[..nnz]
        .iter()
        .map(|&i| {
            if i < 0 || i as usize >= r {
                Err(format!("sparse row index {i} outside 0..{r}"))
            } else {
                Ok(i as usize)
            }
        })
        .collect::<PResult<_>>()?;
    let col_ptr: Vec<usize> = jc.iter().map(|&p| p as usize).collect();
    let mut read_vals = |what: &str| -> PResult<Vec<f64>> {
        if cur.at_end() && logical {
            return Ok(vec![1.0; nnz]);
        }
        let el = cur.next_of(what)?;
        let mut v = decode_numeric(&el, be).map_err(|e| format!("{what}: {e}"))?;
        if v.len() < nnz {
            return Err(format!("{what}: {} values for {nnz} entries", v.len()));
        }
        v.truncate(nnz);
        Ok(v)
    };
    let data = read_vals("sparse values")?;
    let imag = if complex {
        Some(read_vals("sparse imaginary values")?)
    } else {
        None
    };
    Ok(MatSparse {
        dims,
        row_indices,
        col_ptr,
        data,
        imag,
        logical,
    })
}

fn decode_chars(el: &Element<'_>, be: bool) -> PResult<Vec<char>> {
    Ok(match el.ty {
        MI_UTF8 => String::from_utf8_lossy(el.data).chars().collect(),
        MI_UINT8 | MI_INT8 => el.data.iter().map(|&b| b as char).collect(),
        MI_UINT16 | MI_UTF16 | MI_INT16 => {
            if !el.data.len().is_multiple_of(2) {
                return Err(format!(
                    "char data at byte {}: odd byte count {} for 16-bit characters",
                    el.offset,
                    el.data.len()
                ));
            }
            let units: Vec<u16> = el.data.chunks_exact(2).map(|b| u16_at(b, be)).collect();
            char::decode_utf16(units)
                .map(|r| r.unwrap_or(char::REPLACEMENT_CHARACTER))
                .collect()
        }
        MI_UINT32 | MI_UTF32 | MI_INT32 => {
            if !el.data.len().is_multiple_of(4) {
                return Err(format!(
                    "char data at byte {}: byte count {} is not a multiple of 4",
                    el.offset,
                    el.data.len()
                ));
            }
            el.data
                .chunks_exact(4)
                .map(|b| char::from_u32(u32_at(b, be)).unwrap_or(char::REPLACEMENT_CHARACTER))
                .collect()
        }
        ty => {
            return Err(format!(
                "char data at byte {} has type {} (type {ty})",
                el.offset,
                type_name(ty)
            ));
        }
    })
}

/// Column-major char matrix → rows joined by '\n'.
fn chars_to_string(chars: &[char], dims: &[usize]) -> String {
    let rows = dims.first().copied().unwrap_or(1);
    if rows <= 1 || !chars.len().is_multiple_of(rows) {
        return chars.iter().collect();
    }
    let cols = chars.len() / rows;
    (0..rows)
        .map(|i| (0..cols).map(|j| chars[i + j * rows]).collect::<String>())
        .collect::<Vec<_>>()
        .join("\n")
}

// ---------------------------------------------------------------------------------------
// Plain matrices and rasters
// ---------------------------------------------------------------------------------------

fn numeric<'a>(f: &'a MatFile, name: &str) -> Result<&'a MatArray> {
    let v = f.variable(name)?;
    v.as_array().ok_or_else(|| {
        mat_err(
            &f.path,
            format!(
                "variable '{name}' is a {}, expected a numeric matrix",
                v.describe()
            ),
        )
    })
}

/// Reads the numeric (or logical) variable `name` as an `[row, column]` matrix, indexed as in
/// MATLAB. Errors if the variable is missing, not numeric, complex or has more than two
/// dimensions.
///
/// ```
/// use spikelab_data::io::mat;
/// use spikelab_datasets as datasets;
/// let p = datasets::elephant_stat_embedding("Parameters174py.mat")?;
/// let raw = mat::read_matrix(&p, "Parameters174temp")?;
/// assert_eq!(raw.dim(), (174, 18));
/// # Ok::<(), spikelab_data::DataError>(())
/// ```
pub fn read_matrix(path: &Path, name: &str) -> Result<Array2<f64>> {
    read_mat(path)?.matrix(name)
}

/// Reads a `[neuron, bin]` spike-count matrix (`neurons × frames`, as stored in the file) as a
/// [`BinnedRaster`] with bin width `bin_s` seconds. Values must be non-negative integers.
///
/// ```
/// use spikelab_data::io::mat;
/// use spikelab_datasets as datasets;
/// let p = datasets::convseq("ca1_rubin/neuronal_activity_mat.mat")?;
/// let r = mat::read_raster(&p, "neuronal_activity_mat", 0.05)?; // 20 Hz imaging
/// assert_eq!((r.n_neurons(), r.n_bins()), (452, 18137));
/// assert_eq!(r.total_spikes(), 16982);
/// # Ok::<(), spikelab_data::DataError>(())
/// ```
pub fn read_raster(path: &Path, name: &str, bin_s: f64) -> Result<BinnedRaster> {
    let m = read_matrix(path, name)?;
    if let Some(bad) = m
        .iter()
        .find(|&&v| !(v.is_finite() && v >= 0.0 && v.fract() == 0.0 && v <= u32::MAX as f64))
    {
        return Err(mat_err(
            path,
            format!("variable '{name}' holds {bad}, not a non-negative integer spike count"),
        ));
    }
    BinnedRaster::new(m.mapv(|v| v as u32), bin_s)
}

// ---------------------------------------------------------------------------------------
// Domain layouts: c2s / Spikefinder and CASCADE
// ---------------------------------------------------------------------------------------

/// One recording of a c2s/Spikefinder `.mat` file (an element of its `data` struct array).
#[derive(Debug, Clone, PartialEq)]
pub struct C2sRecording {
    /// Fluorescence, one value per frame.
    pub calcium: Vec<f64>,
    /// Sampling rate of `calcium` in Hz (field `fps`).
    pub fps: f64,
    /// Spike count per frame (field `spikes`), if present.
    pub spike_counts: Option<Vec<f64>>,
    /// Spike times in **seconds** (field `spike_times`, stored in ms), if present.
    pub spike_times_s: Option<Vec<f64>>,
}

impl C2sRecording {
    /// Number of frames.
    pub fn n_frames(&self) -> usize {
        self.calcium.len()
    }
    /// Duration `n_frames / fps` in seconds.
    pub fn duration_s(&self) -> f64 {
        self.calcium.len() as f64 / self.fps
    }
}

fn vector_field(
    path: &Path,
    s: &MatStruct,
    elem: usize,
    field: &str,
    what: &str,
) -> Result<Option<Vec<f64>>> {
    let Some(v) = s.field(elem, field) else {
        return Ok(None);
    };
    match v.as_array() {
        Some(a) if a.is_vector() && !a.is_complex() => Ok(Some(a.data.clone())),
        _ => Err(mat_err(
            path,
            format!(
                "{what}: field '{field}' is a {}, expected a real vector",
                v.describe()
            ),
        )),
    }
}

/// The struct elements of a variable that is a struct array or a cell array of 1×1 structs.
fn struct_elements<'a>(
    path: &Path,
    v: &'a MatValue,
    var: &str,
) -> Result<Vec<(&'a MatStruct, usize)>> {
    match v {
        MatValue::Struct(s) => Ok((0..s.len()).map(|i| (s, i)).collect()),
        MatValue::Cell(c) => c
            .items
            .iter()
            .enumerate()
            .map(|(i, it)| match it {
                MatValue::Struct(s) if s.len() == 1 => Ok((s, 0)),
                other => Err(mat_err(
                    path,
                    format!(
                        "'{var}'{{{}}} is a {}, expected a 1x1 struct",
                        i + 1,
                        other.describe()
                    ),
                )),
            })
            .collect(),
        other => Err(mat_err(
            path,
            format!(
                "variable '{var}' is a {}, expected a struct array or a cell array of structs",
                other.describe()
            ),
        )),
    }
}

/// Reads a c2s/Spikefinder file (`data.N.test.preprocessed.mat[.gz]`): variable `data`, a
/// struct array (or cell array of structs) with fields `calcium` (1×T), `fps`, and optionally
/// `spikes` (1×T counts) and `spike_times` (ms; converted to seconds).
///
/// Errors name the missing or malformed field and the recording index.
///
/// ```
/// use spikelab_data::io::mat;
/// use spikelab_datasets as datasets;
/// let recs = mat::read_c2s(&datasets::spikefinder_test_mat(4)?)?;
/// assert_eq!(recs.len(), 3);
/// assert_eq!(recs[0].n_frames(), 33280);
/// assert_eq!(recs[0].fps, 100.0);
/// let traces = mat::c2s_to_traces(&recs)?;
/// assert_eq!(traces.valid_lengths(), &[33280, 33280, 30810]);
/// # Ok::<(), spikelab_data::DataError>(())
/// ```
pub fn read_c2s(path: &Path) -> Result<Vec<C2sRecording>> {
    let f = read_mat(path)?;
    let v = f.variable("data")?;
    let elems = struct_elements(path, v, "data")?;
    elems
        .into_iter()
        .enumerate()
        .map(|(i, (s, e))| {
            let what = format!("data element {i}");
            let calcium = vector_field(path, s, e, "calcium", &what)?
                .ok_or_else(|| mat_err(path, format!("{what}: missing field 'calcium'")))?;
            let fps_v = s
                .field(e, "fps")
                .ok_or_else(|| mat_err(path, format!("{what}: missing field 'fps'")))?;
            let fps = fps_v.as_scalar().ok_or_else(|| {
                mat_err(
                    path,
                    format!(
                        "{what}: field 'fps' is a {}, expected a scalar",
                        fps_v.describe()
                    ),
                )
            })?;
            if !(fps.is_finite() && fps > 0.0) {
                return Err(mat_err(path, format!("{what}: fps = {fps}, must be > 0")));
            }
            let spike_counts = vector_field(path, s, e, "spikes", &what)?;
            if let Some(sc) = &spike_counts
                && sc.len() != calcium.len()
            {
                return Err(mat_err(
                    path,
                    format!(
                        "{what}: 'spikes' has {} frames but 'calcium' has {}",
                        sc.len(),
                        calcium.len()
                    ),
                ));
            }
            let spike_times_s = vector_field(path, s, e, "spike_times", &what)?
                .map(|t| t.into_iter().map(|ms| ms / 1000.0).collect::<Vec<_>>());
            if let Some(t) = &spike_times_s
                && let Some(bad) = t.iter().find(|x| !x.is_finite())
            {
                return Err(mat_err(path, format!("{what}: 'spike_times' holds {bad}")));
            }
            Ok(C2sRecording {
                calcium,
                fps,
                spike_counts,
                spike_times_s,
            })
        })
        .collect()
}

fn common_rate(rates: &[f64], rel_tol: f64) -> Result<f64> {
    let Some(&r0) = rates.first() else {
        return Err(DataError::param("recordings", "no recording given"));
    };
    if let Some(bad) = rates.iter().find(|&&r| ((r - r0) / r0).abs() > rel_tol) {
        return Err(DataError::param(
            "frame_rate_hz",
            format!(
                "recordings have different frame rates ({r0} Hz and {bad} Hz); resample them first"
            ),
        ));
    }
    Ok(r0)
}

/// Puts the recordings side by side as `[time, neuron]` [`CalciumTraces`] (NaN-padded at the
/// end; valid lengths are the recordings' lengths).
///
/// The frame rate is the first recording's `fps`; the others must agree within 1 %. (The
/// Spikefinder files store each cell's exact resampled rate, e.g. 99.9993 Hz and 100.0003 Hz
/// in test 1, for data that are treated as 100 Hz.)
pub fn c2s_to_traces(recs: &[C2sRecording]) -> Result<CalciumTraces> {
    let fps = common_rate(&recs.iter().map(|r| r.fps).collect::<Vec<_>>(), 0.01)?;
    let cols: Vec<Vec<f64>> = recs.iter().map(|r| r.calcium.clone()).collect();
    CalciumTraces::from_columns(&cols, fps)
}

/// One spike train per recording from `spike_times` (seconds, frame 0 at t = 0). The interval
/// is `[min(0, first spike), max(longest duration, last spike)]`. Errors if a recording has no
/// `spike_times`.
///
/// ```
/// use spikelab_data::io::mat;
/// use spikelab_datasets as datasets;
/// let recs = mat::read_c2s(&datasets::spikefinder_test_mat(5)?)?;
/// let st = mat::c2s_to_spike_trains(&recs)?;
/// assert_eq!(st.n_units(), recs.len());
/// # Ok::<(), spikelab_data::DataError>(())
/// ```
pub fn c2s_to_spike_trains(recs: &[C2sRecording]) -> Result<SpikeTrains> {
    let trains = recs
        .iter()
        .enumerate()
        .map(|(i, r)| {
            r.spike_times_s.clone().ok_or_else(|| {
                DataError::param(
                    "recordings",
                    format!("recording {i} has no 'spike_times' field"),
                )
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let dur = recs
        .iter()
        .map(C2sRecording::duration_s)
        .fold(0.0, f64::max);
    trains_on_interval(trains, dur)
}

fn trains_on_interval(trains: Vec<Vec<f64>>, duration_s: f64) -> Result<SpikeTrains> {
    let lo = trains.iter().flatten().copied().fold(0.0f64, f64::min);
    let hi = trains.iter().flatten().copied().fold(duration_s, f64::max);
    let ids = (0..trains.len() as i64).collect();
    SpikeTrains::sorted_from(trains, ids, lo, hi)
}

/// One trial of a CASCADE ground-truth file (an element of its `CAttached` cell array).
#[derive(Debug, Clone, PartialEq)]
pub struct CascadeTrial {
    /// Frame times in seconds (field `fluo_time`).
    pub fluo_time_s: Vec<f64>,
    /// ΔF/F as a fraction, one value per frame (field `fluo_mean`).
    pub dff: Vec<f64>,
    /// Spike times in seconds on the same clock as `fluo_time_s` (field `events_AP`, stored
    /// in units of 1e-4 s).
    pub spike_times_s: Vec<f64>,
    /// Frame rate in Hz: 1 / median of the frame-time differences.
    pub frame_rate_hz: f64,
}

/// Ephys sampling rate of CASCADE's `events_AP` (samples of 1e-4 s).
pub const CASCADE_EPHYS_RATE_HZ: f64 = 1e4;

/// Reads a CASCADE ground-truth file (`CAttached_*.mat[.gz]`): variable `CAttached`, a cell
/// array of structs (a struct array works too) with `fluo_time` (s), `fluo_mean` (ΔF/F) and
/// `events_AP` (units of 1e-4 s).
///
/// ```
/// use spikelab_data::io::mat;
/// use spikelab_datasets as datasets;
/// let p = datasets::cascade_sample("CAttached_Chen2013_GC6f_cell1B_full_mini.mat.gz")?;
/// let trials = mat::read_cascade(&p)?;
/// assert_eq!(trials.len(), 2);
/// assert!((trials[0].frame_rate_hz - 60.0).abs() < 2.0);
/// # Ok::<(), spikelab_data::DataError>(())
/// ```
pub fn read_cascade(path: &Path) -> Result<Vec<CascadeTrial>> {
    let f = read_mat(path)?;
    let v = f.variable("CAttached")?;
    let elems = struct_elements(path, v, "CAttached")?;
    elems
        .into_iter()
        .enumerate()
        .map(|(i, (s, e))| {
            let what = format!("CAttached trial {i}");
            let need = |field: &str| -> Result<Vec<f64>> {
                vector_field(path, s, e, field, &what)?
                    .ok_or_else(|| mat_err(path, format!("{what}: missing field '{field}'")))
            };
            let fluo_time_s = need("fluo_time")?;
            let dff = need("fluo_mean")?;
            let events = need("events_AP")?;
            if fluo_time_s.len() != dff.len() {
                return Err(mat_err(
                    path,
                    format!(
                        "{what}: 'fluo_time' has {} frames but 'fluo_mean' has {}",
                        fluo_time_s.len(),
                        dff.len()
                    ),
                ));
            }
            if fluo_time_s.len() < 2 {
                return Err(mat_err(
                    path,
                    format!("{what}: fewer than 2 frames, no frame rate"),
                ));
            }
            if fluo_time_s.iter().any(|t| !t.is_finite())
                || fluo_time_s.windows(2).any(|w| w[1] <= w[0])
            {
                return Err(mat_err(
                    path,
                    format!("{what}: 'fluo_time' is not finite and strictly increasing"),
                ));
            }
            let mut diffs: Vec<f64> = fluo_time_s.windows(2).map(|w| w[1] - w[0]).collect();
            diffs.sort_by(f64::total_cmp);
            let m = diffs.len();
            let med = if m % 2 == 1 {
                diffs[m / 2]
            } else {
                0.5 * (diffs[m / 2 - 1] + diffs[m / 2])
            };
            if let Some(bad) = events.iter().find(|x| !x.is_finite()) {
                return Err(mat_err(path, format!("{what}: 'events_AP' holds {bad}")));
            }
            let mut spike_times_s: Vec<f64> =
                events.iter().map(|x| x / CASCADE_EPHYS_RATE_HZ).collect();
            spike_times_s.sort_by(f64::total_cmp);
            Ok(CascadeTrial {
                fluo_time_s,
                dff,
                spike_times_s,
                frame_rate_hz: 1.0 / med,
            })
        })
        .collect()
}

/// The trials' ΔF/F side by side as `[time, trial]` [`CalciumTraces`] (NaN-padded). The frame
/// rate is the first trial's; the others must agree within 1 %.
pub fn cascade_to_traces(trials: &[CascadeTrial]) -> Result<CalciumTraces> {
    let rate = common_rate(
        &trials.iter().map(|t| t.frame_rate_hz).collect::<Vec<_>>(),
        0.01,
    )?;
    let cols: Vec<Vec<f64>> = trials.iter().map(|t| t.dff.clone()).collect();
    CalciumTraces::from_columns(&cols, rate)
}

/// One spike train per trial, with times relative to the trial's first frame
/// (`t - fluo_time_s[0]`) so that they line up with [`cascade_to_traces`]. The interval is
/// `[min(0, first spike), max(longest trial, last spike)]`.
pub fn cascade_to_spike_trains(trials: &[CascadeTrial]) -> Result<SpikeTrains> {
    if trials.is_empty() {
        return Err(DataError::param("trials", "no trial given"));
    }
    let trains: Vec<Vec<f64>> = trials
        .iter()
        .map(|t| {
            let t0 = t.fluo_time_s.first().copied().unwrap_or(0.0);
            t.spike_times_s.iter().map(|s| s - t0).collect()
        })
        .collect();
    let dur = trials
        .iter()
        .map(|t| t.dff.len() as f64 / t.frame_rate_hz)
        .fold(0.0, f64::max);
    trains_on_interval(trains, dur)
}
