//! NumPy `.npz` archives (zip of `.npy` arrays), read with `npyz`: whole arrays as `f64`/`i64`
//! with their shapes, any common numeric dtype accepted, every error naming the file and the key.

use std::io::{Cursor, Read};
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
        let bytes =
            std::fs::read(path).map_err(|e| NpzError::Archive { path: path.to_owned(), message: e.to_string() })?;
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
        NpzError::Array { path: self.path.clone(), key: key.to_owned(), message: message.into() }
    }

    fn raw(&mut self, key: &str) -> Result<(npyz::DType, Vec<usize>, Vec<u8>, bool), NpzError> {
        let present = self.names().join(", ");
        let path = self.path.clone();
        let file = self
            .archive
            .by_name(key)
            .map_err(|e| NpzError::Array { path: path.clone(), key: key.into(), message: e.to_string() })?
            .ok_or_else(|| NpzError::Missing { path: path.clone(), key: key.into(), present })?;
        let dtype = file.dtype();
        let shape: Vec<usize> = file.shape().iter().map(|&d| d as usize).collect();
        let fortran = matches!(file.order(), npyz::Order::Fortran);
        let mut reader = file.into_inner();
        let mut bytes = Vec::new();
        reader.read_to_end(&mut bytes).map_err(|e| NpzError::Array {
            path,
            key: key.into(),
            message: e.to_string(),
        })?;
        Ok((dtype, shape, bytes, fortran))
    }

    /// Reads `key` as `f64` (from f2/f4/f8/i*/u*), checking the element count against the shape.
    pub fn f64(&mut self, key: &str) -> Result<NpArray<f64>, NpzError> {
        let (dtype, shape, bytes, fortran) = self.raw(key)?;
        let values = decode_numeric(&dtype, &bytes).map_err(|m| self.array_error(key, m))?;
        self.finish(key, values, shape, fortran)
    }

    /// Reads `key` as `i64` (integer dtypes only).
    pub fn i64(&mut self, key: &str) -> Result<NpArray<i64>, NpzError> {
        let (dtype, shape, bytes, fortran) = self.raw(key)?;
        let npyz::DType::Plain(ts) = &dtype else {
            return Err(self.array_error(key, "structured dtype, expected integers"));
        };
        if !matches!(ts.type_char(), npyz::TypeChar::Int | npyz::TypeChar::Uint) {
            return Err(self.array_error(key, format!("dtype {ts}, expected integers")));
        }
        let values = decode_numeric(&dtype, &bytes).map_err(|m| self.array_error(key, m))?;
        let values: Vec<i64> = values.into_iter().map(|v| v as i64).collect();
        self.finish(key, values, shape, fortran)
    }

    fn finish<T: Copy>(
        &self,
        key: &str,
        values: Vec<T>,
        shape: Vec<usize>,
        fortran: bool,
    ) -> Result<NpArray<T>, NpzError> {
        let expected: usize = shape.iter().product();
        if values.len() != expected {
            return Err(self.array_error(key, format!("{} values for shape {shape:?}", values.len())));
        }
        let data = if fortran && shape.len() > 1 { fortran_to_c(&values, &shape) } else { values };
        Ok(NpArray { data, shape })
    }

    /// Reads `key` as `f64` and checks its shape; `None` in `shape` matches any length.
    pub fn f64_shaped(&mut self, key: &str, shape: &[Option<usize>]) -> Result<NpArray<f64>, NpzError> {
        let a = self.f64(key)?;
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

fn decode_numeric(dtype: &npyz::DType, bytes: &[u8]) -> Result<Vec<f64>, String> {
    let npyz::DType::Plain(ts) = dtype else { return Err("structured dtype, expected numbers".into()) };
    let size = ts.size_field() as usize;
    let big = matches!(ts.endianness(), npyz::Endianness::Big);
    if size == 0 || !bytes.len().is_multiple_of(size) {
        return Err(format!("{} bytes do not hold whole {ts} values", bytes.len()));
    }
    let mut out = Vec::with_capacity(bytes.len() / size);
    let mut word = [0u8; 8];
    for chunk in bytes.chunks_exact(size) {
        word[..size].copy_from_slice(chunk);
        if big {
            word[..size].reverse();
        }
        let v = match (ts.type_char(), size) {
            (npyz::TypeChar::Float, 2) => half_to_f64(u16::from_le_bytes([word[0], word[1]])),
            (npyz::TypeChar::Float, 4) => f32::from_le_bytes([word[0], word[1], word[2], word[3]]) as f64,
            (npyz::TypeChar::Float, 8) => f64::from_le_bytes(word),
            (npyz::TypeChar::Int, 1) => word[0] as i8 as f64,
            (npyz::TypeChar::Int, 2) => i16::from_le_bytes([word[0], word[1]]) as f64,
            (npyz::TypeChar::Int, 4) => i32::from_le_bytes([word[0], word[1], word[2], word[3]]) as f64,
            (npyz::TypeChar::Int, 8) => i64::from_le_bytes(word) as f64,
            (npyz::TypeChar::Uint | npyz::TypeChar::Bool, 1) => word[0] as f64,
            (npyz::TypeChar::Uint, 2) => u16::from_le_bytes([word[0], word[1]]) as f64,
            (npyz::TypeChar::Uint, 4) => u32::from_le_bytes([word[0], word[1], word[2], word[3]]) as f64,
            (npyz::TypeChar::Uint, 8) => u64::from_le_bytes(word) as f64,
            _ => return Err(format!("unsupported dtype {ts}")),
        };
        out.push(v);
    }
    Ok(out)
}

fn half_to_f64(h: u16) -> f64 {
    let sign = if h & 0x8000 != 0 { -1.0 } else { 1.0 };
    let exp = ((h >> 10) & 0x1f) as i32;
    let frac = (h & 0x3ff) as f64;
    sign * match exp {
        0 => frac * 2f64.powi(-24),
        31 => {
            if frac == 0.0 {
                f64::INFINITY
            } else {
                f64::NAN
            }
        }
        e => (1.0 + frac / 1024.0) * 2f64.powi(e - 15),
    }
}
