//! Atomic file output: write a temporary sibling, then rename it over the target.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::{DataError, Result};

/// Writes `path` atomically: `write` fills a temporary file (hidden, in the same folder, so the
/// rename cannot cross file systems), which is synced and then moved onto `path`. A reader, or a
/// user after a crash or a `kill -9`, sees either no file or the complete one, never a half
/// written one; a killed writer may leave its `.tmp-<pid>-<n>-<file name>` behind (the name ends
/// with the extension of `path`, for writers that pick the format from it). An existing `path`
/// is a [`DataError::AlreadyExists`] unless `overwrite` (checked first, and again atomically at
/// the end: the file is hard-linked into place, which fails if another writer got there first).
/// On any error the temporary file is removed and `path` is as it was.
///
/// ```
/// # let dir = tempfile::tempdir()?;
/// let path = dir.path().join("out.txt");
/// spikelab_data::io::write_atomic(&path, false, |tmp| {
///     std::fs::write(tmp, "hello").map_err(|e| spikelab_data::DataError::io(tmp, e))
/// })?;
/// assert_eq!(std::fs::read_to_string(&path)?, "hello");
/// assert!(spikelab_data::io::write_atomic(&path, false, |_| Ok::<(), spikelab_data::DataError>(())).is_err());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn write_atomic<E: From<DataError>>(
    path: &Path,
    overwrite: bool,
    write: impl FnOnce(&Path) -> std::result::Result<(), E>,
) -> std::result::Result<(), E> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    super::check_writable(path, overwrite)?;
    let name = path
        .file_name()
        .ok_or_else(|| DataError::param("path", format!("{} has no file name", path.display())))?;
    let tmp = path.with_file_name(format!(
        ".tmp-{}-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed),
        name.to_string_lossy()
    ));
    let result = write(&tmp).and_then(|()| {
        std::fs::File::open(&tmp)
            .and_then(|f| f.sync_all())
            .map_err(|e| DataError::io(&tmp, e))?;
        if overwrite {
            return std::fs::rename(&tmp, path).map_err(|e| DataError::io(path, e).into());
        }
        match std::fs::hard_link(&tmp, path) {
            Ok(()) => std::fs::remove_file(&tmp).map_err(|e| DataError::io(&tmp, e).into()),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                Err(DataError::AlreadyExists {
                    path: path.to_path_buf(),
                }
                .into())
            }
            // File systems without hard links: the check at the start has to do.
            Err(_) => std::fs::rename(&tmp, path).map_err(|e| DataError::io(path, e).into()),
        }
    });
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// [`write_atomic`] of bytes already in memory.
///
/// ```
/// let dir = tempfile::tempdir()?;
/// let p = dir.path().join("events.csv");
/// spikelab_data::io::write_bytes_atomic(&p, b"a,b\n", false)?;
/// assert!(spikelab_data::io::write_bytes_atomic(&p, b"c\n", false).is_err());
/// spikelab_data::io::write_bytes_atomic(&p, b"c\n", true)?;
/// assert_eq!(std::fs::read(&p)?, b"c\n");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn write_bytes_atomic(path: &Path, bytes: &[u8], overwrite: bool) -> Result<()> {
    write_atomic(path, overwrite, |tmp| {
        std::fs::write(tmp, bytes).map_err(|e| DataError::io(tmp, e))
    })
}

/// Writes `value` as pretty-printed JSON through [`write_atomic`].
pub fn write_json<T: serde::Serialize + ?Sized>(
    path: &Path,
    value: &T,
    overwrite: bool,
) -> Result<()> {
    write_atomic(path, overwrite, |tmp| {
        let f = std::fs::File::create(tmp).map_err(|e| DataError::io(tmp, e))?;
        let mut w = std::io::BufWriter::new(f);
        serde_json::to_writer_pretty(&mut w, value)
            .map_err(|e| DataError::io(path, std::io::Error::other(e)))?;
        std::io::Write::flush(&mut w).map_err(|e| DataError::io(tmp, e))
    })
}

/// Writes the folder `dir` atomically: `write` fills a hidden temporary sibling folder, which
/// is then renamed to `dir`. An existing `dir` is a [`DataError::AlreadyExists`] unless
/// `overwrite`; then the old folder is moved aside, the new one renamed into place and the old
/// one removed, so a crash leaves either the old or the new folder complete (plus a hidden
/// `.tmp-`/`.old-` sibling). On any error the temporary folder is removed and `dir` is as it
/// was.
///
/// ```
/// let base = tempfile::tempdir()?;
/// let dir = base.path().join("sorting");
/// spikelab_data::io::write_dir_atomic(&dir, false, |tmp| {
///     std::fs::write(tmp.join("a.txt"), "1").map_err(|e| spikelab_data::DataError::io(tmp, e))
/// })?;
/// assert!(dir.join("a.txt").is_file());
/// assert!(spikelab_data::io::write_dir_atomic(&dir, false, |_| Ok::<(), spikelab_data::DataError>(())).is_err());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn write_dir_atomic<E: From<DataError>>(
    dir: &Path,
    overwrite: bool,
    write: impl FnOnce(&Path) -> std::result::Result<(), E>,
) -> std::result::Result<(), E> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    super::check_writable(dir, overwrite)?;
    let name = dir
        .file_name()
        .ok_or_else(|| DataError::param("dir", format!("{} has no folder name", dir.display())))?
        .to_string_lossy()
        .into_owned();
    let sibling = |kind: &str| {
        dir.with_file_name(format!(
            ".{kind}-{}-{}-{name}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ))
    };
    if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(|e| DataError::io(parent, e))?;
    }
    let tmp = sibling("tmp");
    std::fs::create_dir(&tmp).map_err(|e| DataError::io(&tmp, e))?;
    let result = write(&tmp).and_then(|()| {
        if dir.exists() {
            if !overwrite {
                return Err(DataError::AlreadyExists {
                    path: dir.to_path_buf(),
                }
                .into());
            }
            let old = sibling("old");
            std::fs::rename(dir, &old).map_err(|e| DataError::io(dir, e))?;
            std::fs::rename(&tmp, dir).map_err(|e| DataError::io(dir, e))?;
            std::fs::remove_dir_all(&old).map_err(|e| DataError::io(&old, e).into())
        } else {
            std::fs::rename(&tmp, dir).map_err(|e| DataError::io(dir, e).into())
        }
    });
    if result.is_err() {
        let _ = std::fs::remove_dir_all(&tmp);
    }
    result
}
