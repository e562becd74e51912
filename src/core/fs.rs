//! Files: atomic writes (a temporary file in the same folder, then a rename), so a failed export
//! or save never destroys the previous file; [`FileError`], an I/O error that names the file; and
//! [`cache_dir`], where on-disk caches live.

use std::io::Write;
use std::path::{Path, PathBuf};

/// An I/O error that names the file.
#[derive(Debug, thiserror::Error)]
#[error("{}: {source}", path.display())]
pub struct FileError {
    pub path: PathBuf,
    pub source: std::io::Error,
}

/// Writes `bytes` to `path` atomically.
pub fn write_atomic(path: impl AsRef<Path>, bytes: &[u8]) -> Result<(), FileError> {
    write_atomic_with(path, |file| file.write_all(bytes))
}

/// Creates `path` atomically from whatever `write` puts into the temporary file. If `write`
/// fails, the temporary file is removed and any existing `path` is left untouched.
pub fn write_atomic_with(
    path: impl AsRef<Path>,
    write: impl FnOnce(&mut std::io::BufWriter<&mut std::fs::File>) -> std::io::Result<()>,
) -> Result<(), FileError> {
    let path = path.as_ref();
    let err = |source| FileError { path: path.to_owned(), source };
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let name = path.file_name().ok_or_else(|| err(std::io::Error::other("not a file path")))?;
    let mut temp = tempfile::Builder::new()
        .prefix(&format!(".{}.", name.to_string_lossy()))
        .suffix(".tmp")
        .tempfile_in(dir)
        .map_err(err)?;
    {
        let mut writer = std::io::BufWriter::new(temp.as_file_mut());
        write(&mut writer).map_err(err)?;
        writer.flush().map_err(err)?;
    }
    temp.as_file().sync_all().map_err(err)?;
    temp.persist(path).map_err(|e| err(e.error))?;
    Ok(())
}

/// The folder of on-disk caches: `$CARVE_CACHE_DIR`, else the user cache folder (`~/.cache/carve`).
/// `scripts/test` points it at a fresh temporary folder, so tests never read a cache that an
/// earlier build wrote.
pub fn cache_dir() -> Option<PathBuf> {
    std::env::var_os("CARVE_CACHE_DIR")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .or_else(|| dirs::cache_dir().map(|d| d.join("carve")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failed_write_keeps_old_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.txt");
        write_atomic(&path, b"first").unwrap();
        let failed = write_atomic_with(&path, |w| {
            w.write_all(b"partial")?;
            Err(std::io::Error::other("disk on fire"))
        });
        assert!(failed.unwrap_err().to_string().contains("out.txt"));
        assert_eq!(std::fs::read(&path).unwrap(), b"first");
        // No temporary files left behind.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
        write_atomic(&path, b"second").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"second");
    }

    #[test]
    fn missing_folder_is_named() {
        let err = write_atomic("/nonexistent-carve-dir/x.png", b"x").unwrap_err();
        assert!(err.to_string().contains("/nonexistent-carve-dir/x.png"), "{err}");
    }
}
