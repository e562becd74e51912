//! Files: atomic writes (a temporary file in the same folder, then a rename), so a failed export
//! or save never destroys the previous file; [`FileError`], an I/O error that names the file;
//! [`cache_dir`], where on-disk caches live; and reading inputs safely: [`open_input`] refuses
//! anything but a regular file (a FIFO would block the open, `/dev/zero` never ends, a folder is
//! a confusing "Is a directory") without ever blocking, and [`read_input`] reads at most a cap
//! per kind of file ([`InputLimit`]), checked against the file's size before anything is
//! allocated.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

/// An I/O error that names the file.
#[derive(Debug, thiserror::Error)]
#[error("{}: {source}", path.display())]
pub struct FileError {
    pub path: PathBuf,
    pub source: std::io::Error,
}

/// The most Carve reads whole from one input file of a kind, in bytes. Each can be raised with an
/// environment variable (in MiB) for unusually large but valid files.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InputLimit {
    /// JSON and TOML documents a person or a tool writes: prompts, keypoints, scene, layout,
    /// manifest, project (`CARVE_MAX_DOCUMENT_MB`, default 64).
    Document,
    /// Photos and masks (`CARVE_MAX_IMAGE_FILE_MB`, default 512).
    Image,
    /// Meshes, splats, point clouds, npz archives, rigs (`CARVE_MAX_3D_FILE_MB`, default 4096).
    Data,
}

impl InputLimit {
    /// The cap in bytes.
    pub fn bytes(self) -> u64 {
        let (var, default_mb) = match self {
            Self::Document => ("CARVE_MAX_DOCUMENT_MB", 64),
            Self::Image => ("CARVE_MAX_IMAGE_FILE_MB", 512),
            Self::Data => ("CARVE_MAX_3D_FILE_MB", 4096),
        };
        let mb = std::env::var(var).ok().and_then(|v| v.trim().parse::<u64>().ok()).unwrap_or(default_mb);
        mb.saturating_mul(1 << 20)
    }

    fn variable(self) -> &'static str {
        match self {
            Self::Document => "CARVE_MAX_DOCUMENT_MB",
            Self::Image => "CARVE_MAX_IMAGE_FILE_MB",
            Self::Data => "CARVE_MAX_3D_FILE_MB",
        }
    }
}

/// What a path is when it is not a regular file, for messages.
fn file_type_name(file_type: std::fs::FileType) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    if file_type.is_dir() {
        "a folder"
    } else if file_type.is_fifo() {
        "a FIFO (named pipe)"
    } else if file_type.is_char_device() || file_type.is_block_device() {
        "a device"
    } else if file_type.is_socket() {
        "a socket"
    } else {
        "not a regular file"
    }
}

/// Opens an input file for reading: only a regular file (symlinks followed), never blocking on a
/// FIFO. Returns the file and its size.
pub fn open_input(path: &Path) -> Result<(std::fs::File, u64), FileError> {
    use std::os::unix::fs::OpenOptionsExt;
    let err = |source| FileError { path: path.to_owned(), source };
    // O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer forever. It has no
    // effect on reads from a regular file, the only kind kept.
    let file = std::fs::OpenOptions::new().read(true).custom_flags(libc::O_NONBLOCK).open(path).map_err(err)?;
    let meta = file.metadata().map_err(err)?;
    if !meta.is_file() {
        let what = file_type_name(meta.file_type());
        let message = if what == "a folder" {
            "is a folder, not a file".to_owned()
        } else {
            format!("is {what}, not a regular file")
        };
        return Err(err(std::io::Error::new(std::io::ErrorKind::InvalidInput, message)));
    }
    Ok((file, meta.len()))
}

/// Refuses a file of `len` bytes over `limit`.
pub fn check_input_size(path: &Path, len: u64, limit: InputLimit) -> Result<(), FileError> {
    let cap = limit.bytes();
    if len > cap {
        return Err(FileError {
            path: path.to_owned(),
            source: std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!(
                    "is {:.1} MiB, more than the {} MiB this kind of file may be (raise {} to allow it)",
                    len as f64 / (1 << 20) as f64,
                    cap >> 20,
                    limit.variable()
                ),
            ),
        });
    }
    Ok(())
}

/// Reads a whole input file of at most `limit` bytes (see [`open_input`]).
pub fn read_input(path: &Path, limit: InputLimit) -> Result<Vec<u8>, FileError> {
    let (file, len) = open_input(path)?;
    check_input_size(path, len, limit)?;
    let mut bytes = Vec::with_capacity(len as usize);
    // `take`: a file that grows while it is read still stops at the cap.
    file.take(limit.bytes().saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(|source| FileError { path: path.to_owned(), source })?;
    check_input_size(path, bytes.len() as u64, limit)?;
    Ok(bytes)
}

/// [`read_input`] of a UTF-8 text file.
pub fn read_input_string(path: &Path, limit: InputLimit) -> Result<String, FileError> {
    let bytes = read_input(path, limit)?;
    String::from_utf8(bytes).map_err(|e| FileError {
        path: path.to_owned(),
        source: std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("is not UTF-8 text (invalid byte at offset {})", e.utf8_error().valid_up_to()),
        ),
    })
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
    // tempfile creates files 0600; the result gets the mode of the file it replaces, or what the
    // umask gives a new file, as a plain `File::create` would.
    temp.as_file().set_permissions(new_file_permissions(path)).map_err(err)?;
    temp.persist(path).map_err(|e| err(e.error))?;
    Ok(())
}

/// Removes what a [`write_atomic`] of `path` killed mid-write left behind (its hidden
/// `.NAME.*.tmp` files beside `path`); returns how many were removed.
pub fn remove_stale_temps(path: &Path) -> usize {
    let (Some(dir), Some(name)) = (path.parent(), path.file_name()) else { return 0 };
    let prefix = format!(".{}.", name.to_string_lossy());
    let Ok(entries) = std::fs::read_dir(if dir.as_os_str().is_empty() { Path::new(".") } else { dir }) else {
        return 0;
    };
    entries
        .filter_map(Result::ok)
        .filter(|e| {
            let n = e.file_name();
            let n = n.to_string_lossy();
            n.starts_with(&prefix) && n.ends_with(".tmp") && e.file_type().is_ok_and(|t| t.is_file())
        })
        .filter(|e| std::fs::remove_file(e.path()).is_ok())
        .count()
}

/// The permissions a file written at `path` should get: those of the file it replaces, else
/// `0666` less the process umask.
fn new_file_permissions(path: &Path) -> std::fs::Permissions {
    use std::os::unix::fs::PermissionsExt;
    if let Ok(meta) = std::fs::metadata(path)
        && meta.is_file()
    {
        return meta.permissions();
    }
    // The umask, read without changing it (`umask(2)` can only set it): Linux reports it in
    // /proc/self/status since 4.7; 022 otherwise.
    let umask = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find_map(|l| l.strip_prefix("Umask:").map(|v| v.trim().to_owned())))
        .and_then(|v| u32::from_str_radix(&v, 8).ok())
        .unwrap_or(0o022);
    std::fs::Permissions::from_mode(0o666 & !umask)
}

/// A set of output files written all together or not at all. Each output is first written to a
/// staged path beside its destination ([`OutputSet::stage`]); [`OutputSet::commit`] renames them
/// all into place once every one was written. Dropped without a commit (an error on the way), the
/// staged files are removed and every destination keeps what it held before.
#[derive(Default)]
pub struct OutputSet {
    staged: Vec<(tempfile::TempPath, PathBuf)>,
}

impl OutputSet {
    pub fn new() -> Self {
        Self::default()
    }

    /// A temporary path in `destination`'s folder to write `destination`'s content to. The folder
    /// must exist (a missing one is an error naming it, before anything is written).
    pub fn stage(&mut self, destination: &Path) -> Result<PathBuf, FileError> {
        let err = |source| FileError { path: destination.to_owned(), source };
        let dir = match destination.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        let name = destination.file_name().ok_or_else(|| err(std::io::Error::other("not a file path")))?;
        if std::fs::metadata(destination).is_ok_and(|m| m.is_dir()) {
            return Err(err(std::io::Error::new(std::io::ErrorKind::IsADirectory, "is a folder")));
        }
        if !dir.is_dir() {
            let message = format!("the folder {} does not exist", dir.display());
            return Err(err(std::io::Error::new(std::io::ErrorKind::NotFound, message)));
        }
        // The staged name keeps the extension: writers choose the format by it.
        let suffix = match destination.extension() {
            Some(ext) => format!(".staged.{}", ext.to_string_lossy()),
            None => ".staged".to_owned(),
        };
        let temp = tempfile::Builder::new()
            .prefix(&format!(".{}.", name.to_string_lossy()))
            .suffix(&suffix)
            .tempfile_in(dir)
            // tempfile's message repeats the temporary name; the kind says enough.
            .map_err(|source| FileError { path: dir.to_owned(), source: std::io::Error::from(source.kind()) })?
            .into_temp_path();
        let path = temp.to_path_buf();
        self.staged.push((temp, destination.to_owned()));
        Ok(path)
    }

    /// Moves every staged file into place; returns the destinations. (Each move is a rename in
    /// one folder: everything that can fail — writing, a full disk, a missing folder — has failed
    /// before this point.)
    pub fn commit(self) -> Result<Vec<PathBuf>, FileError> {
        let mut done = Vec::with_capacity(self.staged.len());
        for (temp, destination) in self.staged {
            if let Ok(file) = std::fs::File::open(&temp) {
                let _ = file.set_permissions(new_file_permissions(&destination));
            }
            temp.persist(&destination).map_err(|e| FileError { path: destination.clone(), source: e.error })?;
            done.push(destination);
        }
        Ok(done)
    }
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
    #[allow(unsafe_code)]
    fn inputs_must_be_regular_files_under_the_cap() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("pipe.json");
        let c = std::ffi::CString::new(fifo.as_os_str().as_encoded_bytes()).unwrap();
        // SAFETY: a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        let e = read_input(&fifo, InputLimit::Document).unwrap_err().to_string();
        assert!(e.contains("pipe.json") && e.contains("FIFO"), "{e}");
        let e = read_input(Path::new("/dev/zero"), InputLimit::Document).unwrap_err().to_string();
        assert!(e.contains("/dev/zero") && e.contains("device"), "{e}");
        let e = read_input(dir.path(), InputLimit::Document).unwrap_err().to_string();
        assert!(e.contains("is a folder"), "{e}");
        let big = dir.path().join("big.json");
        std::fs::File::create(&big).unwrap().set_len(65 << 20).unwrap();
        let e = read_input(&big, InputLimit::Document).unwrap_err().to_string();
        assert!(e.contains("big.json") && e.contains("CARVE_MAX_DOCUMENT_MB"), "{e}");
        let text = dir.path().join("t.txt");
        std::fs::write(&text, b"ok\xff").unwrap();
        assert!(read_input_string(&text, InputLimit::Document).unwrap_err().to_string().contains("UTF-8"));
        std::fs::write(&text, b"fine").unwrap();
        assert_eq!(read_input_string(&text, InputLimit::Document).unwrap(), "fine");
    }

    #[test]
    fn an_output_set_is_written_whole_or_not_at_all() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a.txt"), dir.path().join("b.txt"));
        std::fs::write(&a, b"old a").unwrap();
        // A failure after the first output leaves the old file and no staged file.
        {
            let mut set = OutputSet::new();
            write_atomic(set.stage(&a).unwrap(), b"new a").unwrap();
            assert!(set.stage(&dir.path().join("missing/b.txt")).is_err());
        }
        assert_eq!(std::fs::read(&a).unwrap(), b"old a");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
        let mut set = OutputSet::new();
        write_atomic(set.stage(&a).unwrap(), b"new a").unwrap();
        write_atomic(set.stage(&b).unwrap(), b"new b").unwrap();
        assert_eq!(set.commit().unwrap(), vec![a.clone(), b.clone()]);
        assert_eq!(std::fs::read(&a).unwrap(), b"new a");
        assert_eq!(std::fs::read(&b).unwrap(), b"new b");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 2);
        // New files get 0666 less the umask, not tempfile's 0600.
        let mode = std::fs::metadata(&b).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, new_file_permissions(&dir.path().join("none")).mode() & 0o777);
    }

    #[test]
    fn missing_folder_is_named() {
        let err = write_atomic("/nonexistent-carve-dir/x.png", b"x").unwrap_err();
        assert!(err.to_string().contains("/nonexistent-carve-dir/x.png"), "{err}");
    }
}
