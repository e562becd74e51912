//! On-disk cache of image-encoder outputs (SAM 3, SAM 2.1), so that reopening a photo — in a new
//! `carve segment` process or a new window — skips the encoder (SAM 3 at full size: ~30 s on a
//! 2-core CPU).
//!
//! One safetensors file per entry under `<cache dir>/features/` (see [`crate::core::fs::cache_dir`]),
//! named by a hash of (image content, model identity, precision). The whole folder is kept under a
//! size cap by evicting the least recently used entries (a hit refreshes the file's modification
//! time); `CARVE_FEATURE_CACHE_MB` sets the cap (default [`DEFAULT_CAP_MB`]; `0` turns the cache
//! off). Writes are atomic (temporary file + rename). An entry is checked on every read — the
//! safetensors header and offsets, the key it was written for, the number of tensors, an xxh3
//! checksum of the tensor bytes — and a bad one is deleted and reported, never used. Nothing here
//! can fail a segmentation: a cache that cannot be read or written is logged and skipped.
//!
//! The model identity ([`model_identity`]) hashes the manifest and, of the encoder file, its size,
//! first 64 KiB and last 1 MiB: a TorchScript file is a zip archive whose central directory (at
//! the end) lists every stored member with its CRC-32, so the tail identifies the weights without
//! reading gigabytes; a copied folder (new modification times) still hits.

use std::collections::HashMap;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use safetensors::tensor::{Dtype, SafeTensors, TensorView};
use tch::{Kind, Tensor};
use xxhash_rust::xxh3::{Xxh3, xxh3_128};

use crate::core::image::Image;

/// Default size cap of the feature cache (MiB): ~30 full-size SAM 3 images, ~250 SAM 2.1 ones.
pub const DEFAULT_CAP_MB: u64 = 4096;

/// Environment variable with the cap in MiB (`0` = no feature cache).
pub const CAP_ENV: &str = "CARVE_FEATURE_CACHE_MB";

/// Version of the entry layout and of what is stored; part of every key.
const FORMAT: &str = "carve-features-1";

/// Errors of the feature cache; each names the entry or folder.
#[derive(Debug, thiserror::Error)]
pub enum FeatureStoreError {
    #[error("{}: {source}", path.display())]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{}: not a usable feature cache entry: {message}", path.display())]
    Corrupt { path: PathBuf, message: String },
    #[error("{}: cannot store features: {message}", path.display())]
    Store { path: PathBuf, message: String },
}

/// What a lookup found.
pub enum Lookup {
    /// The encoder outputs, in the encoder's output order.
    Hit(Vec<Tensor>),
    Miss,
    /// The entry was there but unusable (it has been deleted).
    Corrupt(FeatureStoreError),
}

/// The feature cache of one model at one precision.
#[derive(Clone, Debug)]
pub struct FeatureStore {
    dir: PathBuf,
    cap_bytes: u64,
    model_id: String,
    precision: String,
}

/// Hash of an image's size and pixels (what the encoder sees; the file name does not matter).
pub fn image_key(image: &Image) -> String {
    let mut h = Xxh3::new();
    h.update(&image.width().to_le_bytes());
    h.update(&image.height().to_le_bytes());
    h.update(image.rgb().as_raw());
    format!("{:032x}", h.digest128())
}

/// Identity of a model folder's encoder (see the module doc): manifest text, encoder file size,
/// its first 64 KiB and last 1 MiB, and Carve's version (its pre-processing feeds the encoder).
pub fn model_identity(manifest: &Path, encoder: &Path) -> Result<String, FeatureStoreError> {
    let io = |path: &Path| {
        let path = path.to_owned();
        move |source| FeatureStoreError::Io { path, source }
    };
    let mut h = Xxh3::new();
    h.update(FORMAT.as_bytes());
    h.update(env!("CARGO_PKG_VERSION").as_bytes());
    let read = crate::core::fs::read_input(manifest, crate::core::fs::InputLimit::Document);
    h.update(&read.map_err(|e| FeatureStoreError::Io { path: e.path, source: e.source })?);
    let (mut file, len) =
        crate::core::fs::open_input(encoder).map_err(|e| FeatureStoreError::Io { path: e.path, source: e.source })?;
    h.update(&len.to_le_bytes());
    let mut head = vec![0u8; len.min(64 << 10) as usize];
    file.read_exact(&mut head).map_err(io(encoder))?;
    h.update(&head);
    let tail_len = len.min(1 << 20);
    file.seek(SeekFrom::Start(len - tail_len)).map_err(io(encoder))?;
    let mut tail = vec![0u8; tail_len as usize];
    file.read_exact(&mut tail).map_err(io(encoder))?;
    h.update(&tail);
    Ok(format!("{:032x}", h.digest128()))
}

/// The cap from [`CAP_ENV`] (bytes), `None` when it is 0 (cache off). An unreadable value is
/// reported and the default used.
pub fn cap_from_env() -> Option<u64> {
    let mb = match std::env::var(CAP_ENV) {
        Ok(v) => v.trim().parse::<u64>().unwrap_or_else(|_| {
            tracing::warn!("{CAP_ENV}={v:?} is not a whole number of MiB; using {DEFAULT_CAP_MB}");
            DEFAULT_CAP_MB
        }),
        Err(_) => DEFAULT_CAP_MB,
    };
    (mb > 0).then(|| mb.saturating_mul(1 << 20))
}

fn kind_to_dtype(kind: Kind) -> Option<Dtype> {
    Some(match kind {
        Kind::Float => Dtype::F32,
        Kind::BFloat16 => Dtype::BF16,
        Kind::Half => Dtype::F16,
        Kind::Int64 => Dtype::I64,
        _ => return None,
    })
}

fn dtype_to_kind(dtype: Dtype) -> Option<Kind> {
    Some(match dtype {
        Dtype::F32 => Kind::Float,
        Dtype::BF16 => Kind::BFloat16,
        Dtype::F16 => Kind::Half,
        Dtype::I64 => Kind::Int64,
        _ => return None,
    })
}

impl FeatureStore {
    /// The cache for a model under the user cache folder, with the cap from the environment;
    /// `None` when the cache is off or there is no cache folder.
    pub fn for_model(model_id: String, precision: &str) -> Option<Self> {
        let cap_bytes = cap_from_env()?;
        let dir = crate::core::fs::cache_dir()?.join("features");
        Some(Self::new(dir, cap_bytes, model_id, precision))
    }

    pub fn new(dir: PathBuf, cap_bytes: u64, model_id: String, precision: &str) -> Self {
        Self { dir, cap_bytes, model_id, precision: precision.to_owned() }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The entry file for an image.
    pub fn entry_path(&self, image_key: &str) -> PathBuf {
        let name = xxh3_128(format!("{FORMAT}\n{}\n{}\n{image_key}", self.model_id, self.precision).as_bytes());
        self.dir.join(format!("{name:032x}.safetensors"))
    }

    fn metadata(&self, image_key: &str, count: usize, checksum: u64) -> HashMap<String, String> {
        HashMap::from([
            ("format".to_owned(), FORMAT.to_owned()),
            ("model".to_owned(), self.model_id.clone()),
            ("precision".to_owned(), self.precision.clone()),
            ("image".to_owned(), image_key.to_owned()),
            ("count".to_owned(), count.to_string()),
            ("checksum".to_owned(), format!("{checksum:016x}")),
        ])
    }

    /// The cached encoder outputs of an image (`expected` tensors, on `device`).
    pub fn load(&self, image_key: &str, expected: usize, device: tch::Device) -> Lookup {
        let path = self.entry_path(image_key);
        let meta = match std::fs::symlink_metadata(&path) {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Lookup::Miss,
            Err(source) => return Lookup::Corrupt(FeatureStoreError::Io { path, source }),
        };
        let result = if !meta.is_file() {
            Err("not a regular file".to_owned())
        } else if meta.len() > self.cap_bytes {
            Err(format!("{} bytes, more than the cache may hold", meta.len()))
        } else {
            std::fs::read(&path)
                .map_err(|e| e.to_string())
                .and_then(|bytes| self.decode(&bytes, image_key, expected, device))
        };
        match result {
            Ok(tensors) => {
                // Least recently used: a hit refreshes the modification time.
                if let Err(e) =
                    std::fs::File::options().write(true).open(&path).and_then(|f| f.set_modified(SystemTime::now()))
                {
                    tracing::debug!("{}: cannot refresh its time: {e}", path.display());
                }
                Lookup::Hit(tensors)
            }
            Err(message) => {
                let _ = std::fs::remove_file(&path);
                Lookup::Corrupt(FeatureStoreError::Corrupt { path, message })
            }
        }
    }

    fn decode(
        &self,
        bytes: &[u8],
        image_key: &str,
        expected: usize,
        device: tch::Device,
    ) -> Result<Vec<Tensor>, String> {
        let (_, header) = SafeTensors::read_metadata(bytes).map_err(|e| e.to_string())?;
        let meta = header.metadata().as_ref().ok_or("no metadata")?;
        let field = |k: &str| meta.get(k).map(String::as_str).unwrap_or("");
        for (key, want) in [
            ("format", FORMAT),
            ("model", self.model_id.as_str()),
            ("precision", self.precision.as_str()),
            ("image", image_key),
        ] {
            if field(key) != want {
                return Err(format!("written for another {key} ({:?})", field(key)));
            }
        }
        if field("count") != expected.to_string() {
            return Err(format!("{} tensors, expected {expected}", field("count")));
        }
        let st = SafeTensors::deserialize(bytes).map_err(|e| e.to_string())?;
        let mut hasher = Xxh3::new();
        let mut out = Vec::with_capacity(expected);
        for i in 0..expected {
            let view = st.tensor(&format!("{i:02}")).map_err(|e| e.to_string())?;
            let kind = dtype_to_kind(view.dtype()).ok_or_else(|| format!("tensor {i}: dtype {:?}", view.dtype()))?;
            let shape: Vec<i64> = view.shape().iter().map(|&d| d as i64).collect();
            hasher.update(view.data());
            let t = Tensor::f_from_data_size(view.data(), &shape, kind).map_err(|e| e.to_string())?;
            out.push(t.to_device(device));
        }
        if field("checksum") != format!("{:016x}", hasher.digest()) {
            return Err("checksum mismatch (the tensor bytes changed after writing)".into());
        }
        Ok(out)
    }

    /// Stores an image's encoder outputs (atomically), then evicts the least recently used
    /// entries until the folder fits the cap. An entry larger than the cap is not stored.
    pub fn store(&self, image_key: &str, tensors: &[Tensor]) -> Result<(), FeatureStoreError> {
        let path = self.entry_path(image_key);
        let fail = |message: String| FeatureStoreError::Store { path: path.clone(), message };
        let mut buffers = Vec::with_capacity(tensors.len());
        for (i, t) in tensors.iter().enumerate() {
            let dtype = kind_to_dtype(t.kind()).ok_or_else(|| fail(format!("tensor {i}: kind {:?}", t.kind())))?;
            let t = t.to_device(tch::Device::Cpu).contiguous();
            let numel = t.numel();
            let mut bytes = vec![0u8; numel * t.kind().elt_size_in_bytes()];
            t.f_copy_data_u8(&mut bytes, numel).map_err(|e| fail(e.to_string()))?;
            let shape: Vec<usize> = t.size().iter().map(|&d| d as usize).collect();
            buffers.push((dtype, shape, bytes));
        }
        let total: u64 = buffers.iter().map(|b| b.2.len() as u64).sum();
        if total > self.cap_bytes {
            return Err(fail(format!("{total} bytes, more than the cache cap of {} bytes", self.cap_bytes)));
        }
        let mut hasher = Xxh3::new();
        let mut views = Vec::with_capacity(buffers.len());
        for (i, (dtype, shape, bytes)) in buffers.iter().enumerate() {
            hasher.update(bytes);
            views.push((
                format!("{i:02}"),
                TensorView::new(*dtype, shape.clone(), bytes).map_err(|e| fail(e.to_string()))?,
            ));
        }
        let meta = self.metadata(image_key, tensors.len(), hasher.digest());
        let data = safetensors::serialize(views, Some(meta)).map_err(|e| fail(e.to_string()))?;
        std::fs::create_dir_all(&self.dir)
            .map_err(|source| FeatureStoreError::Io { path: self.dir.clone(), source })?;
        crate::core::fs::write_atomic(&path, &data)
            .map_err(|e| FeatureStoreError::Io { path: e.path, source: e.source })?;
        self.evict(&path);
        Ok(())
    }

    /// Removes the least recently used entries (never `keep`) until the folder fits the cap.
    fn evict(&self, keep: &Path) {
        let Ok(read) = std::fs::read_dir(&self.dir) else { return };
        let mut entries: Vec<(SystemTime, u64, PathBuf)> = read
            .filter_map(Result::ok)
            .filter(|e| e.path().extension().is_some_and(|x| x == "safetensors"))
            .filter_map(|e| {
                let m = e.metadata().ok()?;
                m.is_file().then(|| (m.modified().unwrap_or(SystemTime::UNIX_EPOCH), m.len(), e.path()))
            })
            .collect();
        let mut total: u64 = entries.iter().map(|e| e.1).sum();
        entries.sort_by_key(|e| e.0);
        for (_, len, path) in entries {
            if total <= self.cap_bytes {
                break;
            }
            if path != keep && std::fs::remove_file(&path).is_ok() {
                tracing::debug!("feature cache: evicted {}", path.display());
                total = total.saturating_sub(len);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tensors(seed: f64) -> Vec<Tensor> {
        vec![
            Tensor::from_slice(&[seed as f32; 1000]).view([10, 100]),
            Tensor::from_slice(&[seed as f32 + 1.0; 24]).view([2, 3, 4]),
        ]
    }

    fn hit(lookup: Lookup) -> Option<Vec<Tensor>> {
        match lookup {
            Lookup::Hit(t) => Some(t),
            _ => None,
        }
    }

    #[test]
    fn round_trip_keys_and_least_recently_used_eviction() {
        let dir = tempfile::tempdir().unwrap();
        // Each entry holds 4096 + 96 bytes of tensors (+ header): the cap fits two.
        let store = FeatureStore::new(dir.path().to_owned(), 10_000, "model-a".into(), "fp32");
        store.store("img1", &tensors(1.0)).unwrap();
        let got = hit(store.load("img1", 2, tch::Device::Cpu)).expect("hit");
        for (g, w) in got.iter().zip(tensors(1.0)) {
            assert!(g.equal(&w) && g.size() == w.size() && g.kind() == w.kind());
        }
        // Another model, precision or tensor count never reads this entry.
        let other_model = FeatureStore::new(dir.path().to_owned(), 10_000, "model-b".into(), "fp32");
        let other_precision = FeatureStore::new(dir.path().to_owned(), 10_000, "model-a".into(), "bf16");
        assert!(matches!(other_model.load("img1", 2, tch::Device::Cpu), Lookup::Miss));
        assert!(matches!(other_precision.load("img1", 2, tch::Device::Cpu), Lookup::Miss));
        assert!(matches!(store.load("img1", 3, tch::Device::Cpu), Lookup::Corrupt(_)), "count checked");
        assert!(matches!(store.load("img1", 2, tch::Device::Cpu), Lookup::Miss), "the bad entry is gone");

        // Least recently used: img1, img2 stored; img1 read (fresher); img3 evicts img2.
        store.store("img1", &tensors(1.0)).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(20));
        store.store("img2", &tensors(2.0)).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(20));
        assert!(hit(store.load("img1", 2, tch::Device::Cpu)).is_some());
        std::thread::sleep(std::time::Duration::from_millis(20));
        store.store("img3", &tensors(3.0)).unwrap();
        assert!(hit(store.load("img1", 2, tch::Device::Cpu)).is_some(), "recently read: kept");
        assert!(matches!(store.load("img2", 2, tch::Device::Cpu), Lookup::Miss), "least recently used: evicted");
        assert!(hit(store.load("img3", 2, tch::Device::Cpu)).is_some());

        // An entry bigger than the whole cap is refused, not stored.
        let small = FeatureStore::new(dir.path().join("small"), 1000, "model-a".into(), "fp32");
        assert!(small.store("img1", &tensors(1.0)).is_err());
        assert!(matches!(small.load("img1", 2, tch::Device::Cpu), Lookup::Miss));
    }

    #[test]
    fn a_fifo_or_folder_in_place_of_an_entry_is_rejected_without_blocking() {
        let dir = tempfile::tempdir().unwrap();
        let store = FeatureStore::new(dir.path().to_owned(), 1 << 20, "m".into(), "fp32");
        let path = store.entry_path("img");
        std::fs::create_dir_all(&path).unwrap();
        assert!(matches!(store.load("img", 2, tch::Device::Cpu), Lookup::Corrupt(_)));
        std::fs::remove_dir_all(&path).unwrap();
        let status = std::process::Command::new("mkfifo").arg(&path).status().unwrap();
        assert!(status.success());
        assert!(matches!(store.load("img", 2, tch::Device::Cpu), Lookup::Corrupt(_)));
    }
}
