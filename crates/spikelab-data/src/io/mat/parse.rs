//! The Level-5 byte parser: header, (compressed) data elements, and `miMATRIX` arrays of
//! every class, with every length and offset checked.

use std::io::Read;

use super::value::*;

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

pub(super) fn parse_file(bytes: &[u8]) -> PResult<(String, Vec<(String, MatValue)>)> {
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
    // Without fields there is nothing to read, however many elements are declared.
    for e in (0..count).take_while(|_| nf > 0) {
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

/// Column-major char matrix → rows joined by '\n'. An empty matrix is an empty string
/// whatever its declared row count (a file may declare 10⁹ rows of nothing).
fn chars_to_string(chars: &[char], dims: &[usize]) -> String {
    let rows = dims.first().copied().unwrap_or(1);
    if chars.is_empty() || rows <= 1 || !chars.len().is_multiple_of(rows) {
        return chars.iter().collect();
    }
    let cols = chars.len() / rows;
    (0..rows)
        .map(|i| (0..cols).map(|j| chars[i + j * rows]).collect::<String>())
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::chars_to_string;

    #[test]
    fn char_matrices_to_strings() {
        // 2 × 3, column-major: "abc" / "def".
        let c: Vec<char> = "adbecf".chars().collect();
        assert_eq!(chars_to_string(&c, &[2, 3]), "abc\ndef");
        assert_eq!(chars_to_string(&c, &[1, 6]), "adbecf");
        // Found by the mat fuzz target: 10⁹ declared rows of nothing built 10⁹ empty strings.
        assert_eq!(chars_to_string(&[], &[1_000_000_000, 0]), "");
    }
}
