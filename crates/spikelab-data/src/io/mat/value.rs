//! The values a MAT-file holds: numeric arrays, structs, cells, sparse matrices, and the
//! file itself as an ordered list of named variables.

use std::path::{Path, PathBuf};

use ndarray::{Array2, ArrayD, IxDyn, ShapeBuilder};

use super::parse::parse_file;
use super::{mat_err, numeric};
use crate::error::{DataError, Result};

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
    pub(super) fn from_code(code: u8) -> MatClass {
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

    pub(super) fn is_numeric(self) -> bool {
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
    pub(super) field_names: Vec<String>,
    /// `values[elem * n_fields + field]`.
    pub(super) values: Vec<MatValue>,
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
    /// MATLAB (see [`read_matrix`](super::read_matrix)).
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
