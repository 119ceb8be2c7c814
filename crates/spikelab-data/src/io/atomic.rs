//! Atomic file output: write a temporary sibling, then rename it over the target.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::{DataError, Result};

/// Writes `path` through `write`, which fills a temporary file in the same folder; the file is
/// then renamed over `path`, so readers never see a half-written file. The temporary name is
/// `.tmp-<pid>-<n>-<file name>`: unique within the process and ending with the extension of
/// `path`, for writers that pick the format from it. Refuses an existing `path` unless
/// `overwrite` ([`DataError::AlreadyExists`]); on any error the temporary file is removed and
/// `path` is as it was.
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
    let result = write(&tmp)
        .and_then(|()| std::fs::rename(&tmp, path).map_err(|e| E::from(DataError::io(path, e))));
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// Writes `bytes` to `path` through [`write_atomic`], synced to disk before the rename.
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
        use std::io::Write;
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(tmp)
            .and_then(|mut f| {
                f.write_all(bytes)?;
                f.sync_all()
            })
            .map_err(|e| DataError::io(tmp, e))
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
