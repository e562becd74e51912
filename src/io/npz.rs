//! NumPy `.npz` archives (zip of `.npy` arrays), read with `npyz`: whole arrays as `f64`/`i64`
//! with their shapes, any common numeric dtype accepted, every error naming the file and the key.

use std::io::{Cursor, Read};

use npyz::TypeChar;
use std::path::{Path, PathBuf};

/// Errors from reading an `.npz` file.
#[derive(Debug, thiserror::Error)]
pub enum NpzError {
    #[error("{}: not a readable .npz archive: {message}", path.display())]
    Archive { path: PathBuf, message: String },
    #[error("{}: no array named '{key}' (the file has: {present})", path.display())]
    Missing { path: PathBuf, key: String, present: String },
    #[error("{}: array '{key}': {message}", path.display())]
    Array { path: PathBuf, key: String, message: String },
}

/// One array: values in C order and the shape.
#[derive(Clone, Debug, PartialEq)]
pub struct NpArray<T> {
    pub data: Vec<T>,
    pub shape: Vec<usize>,
}

/// An opened archive (the bytes stay in memory: these files are small).
pub struct Npz {
    path: PathBuf,
    archive: npyz::npz::NpzArchive<Cursor<Vec<u8>>>,
}

impl Npz {
    pub fn open(path: &Path) -> Result<Self, NpzError> {
        let bytes = crate::core::fs::read_input(path, crate::core::fs::InputLimit::Data)
            .map_err(|e| NpzError::Archive { path: path.to_owned(), message: e.source.to_string() })?;
        Self::from_bytes(bytes, path)
    }

    /// Reads an archive already in memory; `path` names it in errors.
    pub fn from_bytes(bytes: Vec<u8>, path: &Path) -> Result<Self, NpzError> {
        let archive = npyz::npz::NpzArchive::new(Cursor::new(bytes))
            .map_err(|e| NpzError::Archive { path: path.to_owned(), message: e.to_string() })?;
        Ok(Self { path: path.to_owned(), archive })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn names(&self) -> Vec<String> {
        self.archive.array_names().map(str::to_owned).collect()
    }

    pub fn contains(&self, key: &str) -> bool {
        self.archive.array_names().any(|n| n == key)
    }

    fn array_error(&self, key: &str, message: impl Into<String>) -> NpzError {
        array_error(&self.path, key, message)
    }

    /// Checks the shape a member's header declares before npyz parses it: npyz multiplies the
    /// dimensions unchecked (a panic on `(2³², 2³², 2³²)`), so an overflowing or over-cap shape is
    /// refused here from the header's text.
    fn check_declared_shape(&mut self, key: &str) -> Result<(), NpzError> {
        let name = npyz::npz::file_name_from_array_name(key);
        let Ok(member) = self.archive.zip_archive().by_name(&name) else { return Ok(()) };
        let mut head = Vec::new();
        // Magic, version, length and the header dict: at most 64 KiB by the format. A read error
        // (a bad CRC) still leaves what was read in `head`, which is all this needs.
        let _ = member.take(65_536 + 12).read_to_end(&mut head);
        let text = String::from_utf8_lossy(&head);
        // The key in either quote style, then a tuple or a list; anything npyz might read as a
        // shape that is not plain whole numbers is refused here rather than handed on.
        let Some(after) = ["'shape'", "\"shape\""].iter().find_map(|k| text.split_once(k).map(|(_, rest)| rest)) else {
            return Ok(()); // npyz reports the missing key
        };
        let dims_text = after
            .trim_start()
            .strip_prefix(':')
            .map(str::trim_start)
            .and_then(|r| r.strip_prefix('(').or_else(|| r.strip_prefix('[')))
            .and_then(|r| r.split_once([')', ']']).map(|(inside, _)| inside));
        let unreadable = || array_error(&self.path, key, "the npy header's shape is not a tuple of whole numbers");
        let Some(dims_text) = dims_text else { return Err(unreadable()) };
        let dims: Option<Vec<u64>> = dims_text
            .split(',')
            .map(str::trim)
            .filter(|d| !d.is_empty())
            .map(|d| d.trim_end_matches(['L', 'l']).parse().ok())
            .collect();
        let Some(dims) = dims else { return Err(unreadable()) };
        let total = dims.iter().try_fold(1u64, |n, &d| n.checked_mul(d));
        match total {
            Some(n) if n <= crate::core::fs::InputLimit::Data.bytes() => Ok(()),
            _ => Err(array_error(&self.path, key, format!("shape {dims:?} declares more values than Carve reads"))),
        }
    }

    /// Opens member `key`: its header (dtype, shape, order) and a reader over its values.
    fn member(&mut self, key: &str) -> Result<npyz::NpyFile<impl Read + '_>, NpzError> {
        self.check_declared_shape(key)?;
        let present = self.names().join(", ");
        let path = self.path.clone();
        self.archive
            .by_name(key)
            .map_err(|e| NpzError::Array { path: path.clone(), key: key.into(), message: e.to_string() })?
            .ok_or(NpzError::Missing { path, key: key.into(), present })
    }

    /// Reads `key` as `f64`, from any float, integer or bool dtype (through npyz's typed reads, so
    /// byte order and sizes are npyz's business).
    pub fn f64(&mut self, key: &str) -> Result<NpArray<f64>, NpzError> {
        self.f64_of(key, true)
    }

    /// Like [`Npz::f64`] for quantities (coordinates, parameters): a bool array is refused, not
    /// read as 0/1.
    pub fn f64_numbers(&mut self, key: &str) -> Result<NpArray<f64>, NpzError> {
        self.f64_of(key, false)
    }

    fn f64_of(&mut self, key: &str, allow_bool: bool) -> Result<NpArray<f64>, NpzError> {
        let path = self.path.clone();
        let file = self.member(key)?;
        let (shape, fortran) = header_of(&file);
        let (ts, size) = plain_type(&file).map_err(|m| array_error(&path, key, m))?;
        let values = match (ts.type_char(), size) {
            (TypeChar::Float, 2) => read_as::<half::f16, _>(file, |v| v.to_f64()),
            (TypeChar::Float, 4) => read_as::<f32, _>(file, f64::from),
            (TypeChar::Float, 8) => read_as::<f64, _>(file, |v| v),
            (TypeChar::Bool, 1) if allow_bool => read_as::<bool, _>(file, |v| f64::from(u8::from(v))),
            (TypeChar::Bool, _) => Err("dtype bool, expected numbers".into()),
            (TypeChar::Int, 1) => read_as::<i8, _>(file, f64::from),
            (TypeChar::Int, 2) => read_as::<i16, _>(file, f64::from),
            (TypeChar::Int, 4) => read_as::<i32, _>(file, f64::from),
            (TypeChar::Int, 8) => read_as::<i64, _>(file, |v| v as f64),
            (TypeChar::Uint, 1) => read_as::<u8, _>(file, f64::from),
            (TypeChar::Uint, 2) => read_as::<u16, _>(file, f64::from),
            (TypeChar::Uint, 4) => read_as::<u32, _>(file, f64::from),
            (TypeChar::Uint, 8) => read_as::<u64, _>(file, |v| v as f64),
            _ => Err(format!("unsupported dtype {ts}")),
        }
        .map_err(|m| array_error(&path, key, m))?;
        finish(&path, key, values, shape, fortran)
    }

    /// Reads `key` as `i64`, exactly (integer dtypes only; a `u64` above `i64::MAX` is an error).
    pub fn i64(&mut self, key: &str) -> Result<NpArray<i64>, NpzError> {
        let path = self.path.clone();
        let file = self.member(key)?;
        let (shape, fortran) = header_of(&file);
        let (ts, size) = plain_type(&file).map_err(|m| array_error(&path, key, m))?;
        let values = match (ts.type_char(), size) {
            (TypeChar::Int, 1) => read_as::<i8, _>(file, i64::from),
            (TypeChar::Int, 2) => read_as::<i16, _>(file, i64::from),
            (TypeChar::Int, 4) => read_as::<i32, _>(file, i64::from),
            (TypeChar::Int, 8) => read_as::<i64, _>(file, |v| v),
            (TypeChar::Uint, 1) => read_as::<u8, _>(file, i64::from),
            (TypeChar::Uint, 2) => read_as::<u16, _>(file, i64::from),
            (TypeChar::Uint, 4) => read_as::<u32, _>(file, i64::from),
            (TypeChar::Uint, 8) => read_as::<u64, _>(file, i64::try_from).and_then(|v| {
                v.into_iter()
                    .collect::<Result<Vec<i64>, _>>()
                    .map_err(|_| "a uint64 value does not fit in int64".into())
            }),
            (TypeChar::Int | TypeChar::Uint, _) => Err(format!("unsupported dtype {ts}")),
            _ => Err(format!("dtype {ts}, expected integers")),
        }
        .map_err(|m| array_error(&path, key, m))?;
        finish(&path, key, values, shape, fortran)
    }

    /// Reads `key` as `f64` and checks its shape; `None` in `shape` matches any length.
    pub fn f64_shaped(&mut self, key: &str, shape: &[Option<usize>]) -> Result<NpArray<f64>, NpzError> {
        let a = self.f64_numbers(key)?;
        check_shape(self, key, &a.shape, shape)?;
        Ok(a)
    }
}

fn check_shape(npz: &Npz, key: &str, got: &[usize], want: &[Option<usize>]) -> Result<(), NpzError> {
    let ok = got.len() == want.len() && got.iter().zip(want).all(|(g, w)| w.is_none_or(|w| w == *g));
    if ok {
        return Ok(());
    }
    let want: Vec<String> = want.iter().map(|w| w.map_or("N".into(), |w| w.to_string())).collect();
    Err(npz.array_error(key, format!("shape {got:?}, expected [{}]", want.join(", "))))
}

fn fortran_to_c<T: Copy>(values: &[T], shape: &[usize]) -> Vec<T> {
    let n = values.len();
    let mut out = Vec::with_capacity(n);
    let mut index = vec![0usize; shape.len()];
    for _ in 0..n {
        let mut offset = 0;
        let mut stride = 1;
        for (i, &d) in index.iter().zip(shape) {
            offset += i * stride;
            stride *= d;
        }
        out.push(values[offset]);
        for k in (0..shape.len()).rev() {
            index[k] += 1;
            if index[k] < shape[k] {
                break;
            }
            index[k] = 0;
        }
    }
    out
}

fn array_error(path: &Path, key: &str, message: impl Into<String>) -> NpzError {
    NpzError::Array { path: path.to_owned(), key: key.to_owned(), message: message.into() }
}

/// Shape (as `usize`) and whether the data is in Fortran order.
fn header_of<R: Read>(file: &npyz::NpyFile<R>) -> (Vec<usize>, bool) {
    let shape = file.shape().iter().map(|&d| usize::try_from(d).unwrap_or(usize::MAX)).collect();
    (shape, matches!(file.order(), npyz::Order::Fortran))
}

/// The member's scalar type and its size in bytes (structured dtypes are refused).
fn plain_type<R: Read>(file: &npyz::NpyFile<R>) -> Result<(npyz::TypeStr, usize), String> {
    match file.dtype() {
        npyz::DType::Plain(ts) => {
            let size = ts.size_field() as usize;
            Ok((ts, size))
        }
        _ => Err("structured dtype, expected numbers".into()),
    }
}

/// Reads every value as `T` and converts it. The vector grows as values arrive (capacity capped
/// up front), so a header declaring a huge shape cannot make Carve allocate before the data is
/// there; [`Npz::finish`] then checks the count against the shape.
fn read_as<T: npyz::Deserialize, U>(
    file: npyz::NpyFile<impl Read>,
    convert: impl Fn(T) -> U,
) -> Result<Vec<U>, String> {
    // The shape's product is checked here: npyz's own `len` overflows (a panic) on a header such
    // as (2³², 2³², 2³²), and a declared size beyond the cap is refused before reading.
    let declared = file
        .shape()
        .iter()
        .try_fold(1u64, |n, &d| n.checked_mul(d))
        .filter(|&n| n.saturating_mul(std::mem::size_of::<T>() as u64) <= crate::core::fs::InputLimit::Data.bytes())
        .ok_or_else(|| format!("shape {:?} declares more values than Carve reads", file.shape()))?;
    let declared = usize::try_from(declared).unwrap_or(usize::MAX);
    let reader = file.data::<T>().map_err(|e| e.to_string())?;
    let mut out = Vec::with_capacity(declared.min(1 << 20));
    for value in reader {
        out.push(convert(value.map_err(|e| format!("truncated or unreadable data: {e}"))?));
    }
    Ok(out)
}

/// Checks the value count against the shape (overflow-safe) and returns the values in C order.
fn finish<T: Copy>(
    path: &Path,
    key: &str,
    values: Vec<T>,
    shape: Vec<usize>,
    fortran: bool,
) -> Result<NpArray<T>, NpzError> {
    let expected = shape.iter().try_fold(1usize, |n, &d| n.checked_mul(d));
    if expected != Some(values.len()) {
        return Err(array_error(path, key, format!("{} values for shape {shape:?}", values.len())));
    }
    let data = if fortran && shape.len() > 1 { fortran_to_c(&values, &shape) } else { values };
    Ok(NpArray { data, shape })
}
