//! Just enough of NumPy's `.npy` container and Python's pickle format to read the dicts that
//! `np.save(path, some_dict)` writes (Suite2p's `ops.npy` and `settings.npy`), **without
//! running any code**.
//!
//! `np.save` stores a dict as a 0-d object array whose payload is a pickle (protocol 3 or 4)
//! of that array. This module interprets the pickle opcodes symbolically: a `GLOBAL` is only a
//! name, `REDUCE`/`NEWOBJ`/`BUILD` only record their arguments, so nothing is imported or
//! called. Plain values (numbers, strings, lists, tuples, dicts) come back as they are, and
//! NumPy scalars (`numpy.core.multiarray.scalar(dtype, bytes)`) are decoded by [`Py::as_f64`].
//! Every length is checked against the input; unknown opcodes are errors, never panics.

use std::collections::HashMap;

/// Header of a `.npy` file.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct NpyHeader {
    /// The `descr` entry as written (e.g. `'<f4'`, `'|O'`, or a list of fields).
    pub descr: String,
    /// `fortran_order`.
    pub fortran_order: bool,
    /// `shape`.
    pub shape: Vec<usize>,
    /// Offset of the data after the header.
    pub data_offset: usize,
}

/// Parses the `.npy` magic, version and header dict text.
pub(crate) fn npy_header(bytes: &[u8]) -> Result<NpyHeader, String> {
    if bytes.len() < 10 || &bytes[..6] != b"\x93NUMPY" {
        return Err("not a .npy file (no \\x93NUMPY magic)".into());
    }
    let (len, start): (usize, usize) = match bytes[6] {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10),
        2 | 3 if bytes.len() >= 12 => (
            u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize,
            12,
        ),
        v => return Err(format!("unsupported .npy version {v}")),
    };
    let end = start
        .checked_add(len)
        .filter(|&e| e <= bytes.len())
        .ok_or("truncated .npy header")?;
    let text = std::str::from_utf8(&bytes[start..end]).map_err(|_| "header is not text")?;
    let descr = dict_entry(text, "descr").ok_or("header has no 'descr'")?;
    let fortran_order = dict_entry(text, "fortran_order").is_some_and(|v| v.trim() == "True");
    let shape_txt = dict_entry(text, "shape").ok_or("header has no 'shape'")?;
    let inner = shape_txt
        .trim()
        .strip_prefix('(')
        .and_then(|s| s.strip_suffix(')'))
        .ok_or_else(|| format!("bad shape {shape_txt}"))?;
    let shape = inner
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.trim_end_matches('L').parse::<usize>())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| format!("bad shape {shape_txt}"))?;
    Ok(NpyHeader {
        descr: descr.trim().to_string(),
        fortran_order,
        shape,
        data_offset: end,
    })
}

/// The text of `'key': value` in a Python dict literal, up to the matching `,` at depth 0.
fn dict_entry<'a>(text: &'a str, key: &str) -> Option<&'a str> {
    let at = text.find(&format!("'{key}'"))?;
    let rest = text[at + key.len() + 2..].trim_start().strip_prefix(':')?;
    let mut depth = 0i32;
    let mut quote = None;
    for (i, c) in rest.char_indices() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '\'' | '"') => quote = Some(c),
            (None, '(' | '[' | '{') => depth += 1,
            (None, ')' | ']' | '}') if depth > 0 => depth -= 1,
            (None, ',' | '}') if depth == 0 => return Some(&rest[..i]),
            _ => {}
        }
    }
    None
}

/// A value of the symbolic unpickler. Containers refer to other values by index into the
/// [`Pickle`] arena so that in-place updates after memoisation (as pickle does) are seen.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Py {
    None,
    Bool(bool),
    Int(i64),
    /// An integer that does not fit in i64.
    BigInt,
    Float(f64),
    Str(String),
    Bytes(Vec<u8>),
    Tuple(Vec<usize>),
    List(Vec<usize>),
    Dict(Vec<(usize, usize)>),
    Set(Vec<usize>),
    /// `module.name`, never imported.
    Global(String, String),
    /// `func(*args)`, never called; `state` is what `BUILD` gave it.
    Call {
        func: usize,
        args: usize,
        state: Option<usize>,
    },
}

/// The result of [`unpickle`]: an arena of values and the root.
#[derive(Debug, Clone)]
pub(crate) struct Pickle {
    pub arena: Vec<Py>,
    pub root: usize,
}

impl Pickle {
    pub fn get(&self, id: usize) -> &Py {
        &self.arena[id]
    }

    /// The string of a `Str` value.
    pub fn as_str(&self, id: usize) -> Option<&str> {
        match self.get(id) {
            Py::Str(s) => Some(s),
            _ => None,
        }
    }

    /// Looks `key` up in the dict `dict`.
    pub fn dict_get(&self, dict: usize, key: &str) -> Option<usize> {
        match self.get(dict) {
            Py::Dict(items) => items
                .iter()
                .find(|(k, _)| self.as_str(*k) == Some(key))
                .map(|&(_, v)| v),
            _ => None,
        }
    }

    /// The dict stored in a 0-d object array (`np.save(path, a_dict)`), or a bare dict.
    pub fn saved_dict(&self) -> Option<usize> {
        let root = self.root;
        match self.get(root) {
            Py::Dict(_) => Some(root),
            Py::Call {
                state: Some(state), ..
            } => {
                // ndarray.__setstate__((version, shape, dtype, is_fortran, [object]))
                let Py::Tuple(parts) = self.get(*state) else {
                    return None;
                };
                let Py::List(items) = self.get(*parts.last()?) else {
                    return None;
                };
                match items.as_slice() {
                    [only] if matches!(self.get(*only), Py::Dict(_)) => Some(*only),
                    _ => None,
                }
            }
            _ => None,
        }
    }

    /// A number: Python `float`/`int`/`bool`, or a NumPy scalar of a float, int or uint
    /// dtype of 1–8 bytes in either byte order.
    pub fn as_f64(&self, id: usize) -> Option<f64> {
        match self.get(id) {
            Py::Float(f) => Some(*f),
            Py::Int(i) => Some(*i as f64),
            Py::Bool(b) => Some(f64::from(u8::from(*b))),
            Py::Call { func, args, .. } => {
                let Py::Global(_, name) = self.get(*func) else {
                    return None;
                };
                if name != "scalar" {
                    return None;
                }
                let Py::Tuple(a) = self.get(*args) else {
                    return None;
                };
                let [dtype, data] = a.as_slice() else {
                    return None;
                };
                let Py::Bytes(raw) = self.get(*data) else {
                    return None;
                };
                let (code, big_endian) = self.dtype_code(*dtype)?;
                numpy_scalar(&code, big_endian, raw)
            }
            _ => None,
        }
    }

    /// `('f8', big_endian)` of a pickled `numpy.dtype('f8', False, True)` with its state.
    fn dtype_code(&self, id: usize) -> Option<(String, bool)> {
        let Py::Call { args, state, .. } = self.get(id) else {
            return None;
        };
        let Py::Tuple(a) = self.get(*args) else {
            return None;
        };
        let code = self.as_str(*a.first()?)?.to_string();
        let big_endian = state
            .and_then(|s| match self.get(s) {
                Py::Tuple(st) => st.get(1).and_then(|&o| self.as_str(o)).map(|o| o == ">"),
                _ => None,
            })
            .unwrap_or(false);
        Some((code, big_endian))
    }
}

fn numpy_scalar(code: &str, big_endian: bool, raw: &[u8]) -> Option<f64> {
    let kind = code.chars().next()?;
    let size: usize = code[1..].parse().ok()?;
    if raw.len() != size || !(1..=8).contains(&size) {
        return None;
    }
    let mut b = [0u8; 8];
    if big_endian {
        b[8 - size..].copy_from_slice(raw);
        b.reverse();
    } else {
        b[..size].copy_from_slice(raw);
    }
    let u = u64::from_le_bytes(b);
    match (kind, size) {
        ('f', 8) => Some(f64::from_bits(u)),
        ('f', 4) => Some(f64::from(f32::from_bits(u as u32))),
        ('u', _) | ('b', 1) => Some(u as f64),
        ('i', _) => {
            let shift = 64 - 8 * size as u32;
            Some((((u << shift) as i64) >> shift) as f64)
        }
        _ => None,
    }
}

/// Interprets a pickle stream symbolically (see the module docs).
pub(crate) fn unpickle(data: &[u8]) -> Result<Pickle, String> {
    let mut vm = Vm {
        data,
        pos: 0,
        arena: Vec::new(),
        stack: Vec::new(),
        marks: Vec::new(),
        memo: HashMap::new(),
    };
    let root = vm.run()?;
    Ok(Pickle {
        arena: vm.arena,
        root,
    })
}

struct Vm<'a> {
    data: &'a [u8],
    pos: usize,
    arena: Vec<Py>,
    stack: Vec<usize>,
    marks: Vec<usize>,
    memo: HashMap<u64, usize>,
}

impl Vm<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8], String> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&e| e <= self.data.len())
            .ok_or_else(|| format!("pickle truncated at byte {}", self.pos))?;
        let s = &self.data[self.pos..end];
        self.pos = end;
        Ok(s)
    }
    fn u8(&mut self) -> Result<u8, String> {
        Ok(self.take(1)?[0])
    }
    fn u16(&mut self) -> Result<usize, String> {
        let b = self.take(2)?;
        Ok(u16::from_le_bytes([b[0], b[1]]) as usize)
    }
    fn u32(&mut self) -> Result<usize, String> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize)
    }
    fn u64(&mut self) -> Result<usize, String> {
        let b = self.take(8)?;
        usize::try_from(u64::from_le_bytes(b.try_into().expect("8 bytes")))
            .map_err(|_| "pickle length too large".to_string())
    }
    fn line(&mut self) -> Result<String, String> {
        let rest = &self.data[self.pos..];
        let n = rest
            .iter()
            .position(|&c| c == b'\n')
            .ok_or("pickle: unterminated text line")?;
        let s = String::from_utf8_lossy(&rest[..n]).into_owned();
        self.pos += n + 1;
        Ok(s)
    }
    fn push(&mut self, v: Py) {
        self.arena.push(v);
        self.stack.push(self.arena.len() - 1);
    }
    fn pop(&mut self) -> Result<usize, String> {
        self.stack
            .pop()
            .ok_or_else(|| "pickle: stack underflow".into())
    }
    fn pop_mark(&mut self) -> Result<Vec<usize>, String> {
        let m = self.marks.pop().ok_or("pickle: no mark")?;
        if m > self.stack.len() {
            return Err("pickle: mark above the stack".into());
        }
        Ok(self.stack.split_off(m))
    }
    fn top(&self) -> Result<usize, String> {
        self.stack
            .last()
            .copied()
            .ok_or_else(|| "pickle: empty stack".into())
    }
    fn utf8(&mut self, n: usize) -> Result<(), String> {
        let s = String::from_utf8(self.take(n)?.to_vec()).map_err(|_| "pickle: bad UTF-8")?;
        self.push(Py::Str(s));
        Ok(())
    }
    fn bytes(&mut self, n: usize) -> Result<(), String> {
        let b = self.take(n)?.to_vec();
        self.push(Py::Bytes(b));
        Ok(())
    }
    fn long(&mut self, n: usize) -> Result<(), String> {
        let b = self.take(n)?;
        let v = if n == 0 {
            Py::Int(0)
        } else if n <= 8 {
            let mut buf = [if b[n - 1] & 0x80 != 0 { 0xff } else { 0 }; 8];
            buf[..n].copy_from_slice(b);
            Py::Int(i64::from_le_bytes(buf))
        } else {
            Py::BigInt
        };
        self.push(v);
        Ok(())
    }
    fn extend(&mut self, target: usize, items: Vec<usize>) -> Result<(), String> {
        match &mut self.arena[target] {
            Py::List(l) | Py::Set(l) => l.extend(items),
            _ => return Err("pickle: APPEND to something that is not a list".into()),
        }
        Ok(())
    }
    fn set_items(&mut self, target: usize, kv: Vec<usize>) -> Result<(), String> {
        if !kv.len().is_multiple_of(2) {
            return Err("pickle: odd number of items for SETITEMS".into());
        }
        let Py::Dict(d) = &mut self.arena[target] else {
            return Err("pickle: SETITEM on something that is not a dict".into());
        };
        d.extend(kv.chunks_exact(2).map(|p| (p[0], p[1])));
        Ok(())
    }
    /// The memo index of a PUT/GET opcode: text line, 1 or 4 bytes, or (MEMOIZE) the next.
    fn memo_key(&mut self, op: u8) -> Result<u64, String> {
        match op {
            b'p' | b'g' => self
                .line()?
                .trim()
                .parse()
                .map_err(|_| "pickle: bad memo index".into()),
            b'q' | b'h' => Ok(u64::from(self.u8()?)),
            b'r' | b'j' => Ok(self.u32()? as u64),
            _ => Ok(self.memo.len() as u64),
        }
    }
    fn memo_put(&mut self, key: u64) -> Result<(), String> {
        let top = self.top()?;
        self.memo.insert(key, top);
        Ok(())
    }
    fn memo_get(&mut self, key: u64) -> Result<(), String> {
        let id = *self
            .memo
            .get(&key)
            .ok_or_else(|| format!("pickle: memo key {key} unset"))?;
        self.stack.push(id);
        Ok(())
    }

    fn run(&mut self) -> Result<usize, String> {
        loop {
            let op = self.u8()?;
            match op {
                0x80 => {
                    let p = self.u8()?;
                    if p > 5 {
                        return Err(format!("pickle protocol {p} is not supported"));
                    }
                }
                0x95 => {
                    self.u64()?;
                } // FRAME: length only
                b'.' => return self.pop(),
                b'(' => self.marks.push(self.stack.len()),
                b'0' => {
                    self.pop()?;
                }
                b'1' => {
                    self.pop_mark()?;
                }
                b'2' => {
                    let t = self.top()?;
                    self.stack.push(t);
                }
                b'N' => self.push(Py::None),
                0x88 => self.push(Py::Bool(true)),
                0x89 => self.push(Py::Bool(false)),
                b'J' => {
                    let b = self.take(4)?;
                    let v = i32::from_le_bytes([b[0], b[1], b[2], b[3]]);
                    self.push(Py::Int(i64::from(v)));
                }
                b'K' => {
                    let v = self.u8()?;
                    self.push(Py::Int(i64::from(v)));
                }
                b'M' => {
                    let v = self.u16()?;
                    self.push(Py::Int(v as i64));
                }
                0x8a => {
                    let n = self.u8()? as usize;
                    self.long(n)?;
                }
                0x8b => {
                    let n = self.u32()?;
                    self.long(n)?;
                }
                b'I' | b'L' => {
                    let s = self.line()?;
                    let s = s.trim_end_matches('L');
                    let v = match s {
                        "00" => Py::Bool(false),
                        "01" => Py::Bool(true),
                        _ => s.parse::<i64>().map(Py::Int).unwrap_or(Py::BigInt),
                    };
                    self.push(v);
                }
                b'F' => {
                    let s = self.line()?;
                    let v = s.trim().parse::<f64>().map_err(|_| "pickle: bad FLOAT")?;
                    self.push(Py::Float(v));
                }
                b'G' => {
                    let b = self.take(8)?;
                    let v = f64::from_be_bytes(b.try_into().expect("8 bytes"));
                    self.push(Py::Float(v));
                }
                0x8c => {
                    let n = self.u8()? as usize;
                    self.utf8(n)?;
                }
                b'X' => {
                    let n = self.u32()?;
                    self.utf8(n)?;
                }
                0x8d => {
                    let n = self.u64()?;
                    self.utf8(n)?;
                }
                b'V' => {
                    let s = self.line()?;
                    self.push(Py::Str(s));
                }
                b'C' | b'U' => {
                    let n = self.u8()? as usize;
                    self.bytes(n)?;
                }
                b'B' | b'T' => {
                    let n = self.u32()?;
                    self.bytes(n)?;
                }
                0x8e | 0x96 => {
                    let n = self.u64()?;
                    self.bytes(n)?;
                }
                b'S' => {
                    let s = self.line()?;
                    self.push(Py::Str(s.trim_matches(['\'', '"']).to_string()));
                }
                b')' => self.push(Py::Tuple(Vec::new())),
                b']' => self.push(Py::List(Vec::new())),
                b'}' => self.push(Py::Dict(Vec::new())),
                0x8f => self.push(Py::Set(Vec::new())),
                b't' => {
                    let items = self.pop_mark()?;
                    self.push(Py::Tuple(items));
                }
                0x85..=0x87 => {
                    let n = (op - 0x84) as usize;
                    if self.stack.len() < n {
                        return Err("pickle: stack underflow".into());
                    }
                    let items = self.stack.split_off(self.stack.len() - n);
                    self.push(Py::Tuple(items));
                }
                b'l' => {
                    let items = self.pop_mark()?;
                    self.push(Py::List(items));
                }
                b'd' => {
                    let kv = self.pop_mark()?;
                    self.push(Py::Dict(Vec::new()));
                    let d = self.top()?;
                    self.set_items(d, kv)?;
                }
                0x91 => {
                    let items = self.pop_mark()?;
                    self.push(Py::Set(items));
                }
                b'a' => {
                    let v = self.pop()?;
                    let l = self.top()?;
                    self.extend(l, vec![v])?;
                }
                b'e' | 0x90 => {
                    let items = self.pop_mark()?;
                    let l = self.top()?;
                    self.extend(l, items)?;
                }
                b's' => {
                    let v = self.pop()?;
                    let k = self.pop()?;
                    let d = self.top()?;
                    self.set_items(d, vec![k, v])?;
                }
                b'u' => {
                    let kv = self.pop_mark()?;
                    let d = self.top()?;
                    self.set_items(d, kv)?;
                }
                b'c' => {
                    let module = self.line()?;
                    let name = self.line()?;
                    self.push(Py::Global(module, name));
                }
                0x93 => {
                    let name = self.pop()?;
                    let module = self.pop()?;
                    let (Some(m), Some(n)) = (
                        self.str_of(module).map(str::to_string),
                        self.str_of(name).map(str::to_string),
                    ) else {
                        return Err("pickle: STACK_GLOBAL needs two strings".into());
                    };
                    self.push(Py::Global(m, n));
                }
                b'R' | 0x81 => {
                    let args = self.pop()?;
                    let func = self.pop()?;
                    self.push(Py::Call {
                        func,
                        args,
                        state: None,
                    });
                }
                0x92 => {
                    let _kwargs = self.pop()?;
                    let args = self.pop()?;
                    let func = self.pop()?;
                    self.push(Py::Call {
                        func,
                        args,
                        state: None,
                    });
                }
                b'b' => {
                    let st = self.pop()?;
                    let obj = self.top()?;
                    match &mut self.arena[obj] {
                        Py::Call { state, .. } => *state = Some(st),
                        _ => return Err("pickle: BUILD on a plain value".into()),
                    }
                }
                b'p' | b'q' | b'r' | 0x94 => {
                    let k = self.memo_key(op)?;
                    self.memo_put(k)?;
                }
                b'g' | b'h' | b'j' => {
                    let k = self.memo_key(op)?;
                    self.memo_get(k)?;
                }
                other => {
                    return Err(format!(
                        "pickle opcode 0x{other:02x} at byte {} is not supported",
                        self.pos - 1
                    ));
                }
            }
        }
    }

    fn str_of(&self, id: usize) -> Option<&str> {
        match &self.arena[id] {
            Py::Str(s) => Some(s),
            _ => None,
        }
    }
}

/// Reads the dict that `np.save(path, a_dict)` wrote, from the file's bytes.
pub(crate) fn read_saved_dict(bytes: &[u8]) -> Result<(Pickle, usize), String> {
    let h = npy_header(bytes)?;
    if h.descr != "'|O'" || !h.shape.is_empty() {
        return Err(format!(
            "expected a pickled dict (dtype object, shape ()), found dtype {} shape {:?}",
            h.descr, h.shape
        ));
    }
    let p = unpickle(&bytes[h.data_offset..])?;
    let d = p
        .saved_dict()
        .ok_or("the pickled object is not a dict saved with np.save")?;
    Ok((p, d))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scalars_decode_in_both_byte_orders() {
        assert_eq!(
            numpy_scalar("f8", false, &30.5f64.to_le_bytes()),
            Some(30.5)
        );
        assert_eq!(numpy_scalar("f8", true, &30.5f64.to_be_bytes()), Some(30.5));
        assert_eq!(numpy_scalar("f4", false, &7.5f32.to_le_bytes()), Some(7.5));
        assert_eq!(
            numpy_scalar("i2", false, &(-3i16).to_le_bytes()),
            Some(-3.0)
        );
        assert_eq!(numpy_scalar("u4", true, &9u32.to_be_bytes()), Some(9.0));
        assert_eq!(numpy_scalar("f8", false, &[0; 4]), None);
    }

    #[test]
    fn truncated_and_garbage_input_are_errors() {
        // A protocol-2 pickle of {'fs': 1.5} cut at every length never panics.
        let full = b"\x80\x02}q\x00X\x02\x00\x00\x00fsq\x01G?\xf8\x00\x00\x00\x00\x00\x00s.";
        let p = unpickle(full).unwrap();
        let d = p.saved_dict().unwrap();
        assert_eq!(p.dict_get(d, "fs").and_then(|v| p.as_f64(v)), Some(1.5));
        for n in 0..full.len() {
            assert!(unpickle(&full[..n]).is_err());
        }
        assert!(unpickle(b"\xff").is_err());
        assert!(npy_header(b"not npy").is_err());
    }
}
