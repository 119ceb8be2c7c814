//! Atomic file output: write a temporary sibling, then rename it over the target.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::{DataError, Result};

/// Writes `bytes` to `path` atomically: into a new temporary file in the same folder, then
/// renamed over `path`, so a reader never sees a half-written file and a failed write leaves
/// `path` as it was. An existing `path` is a [`DataError::AlreadyExists`] unless `overwrite`.
///
/// ```
/// let dir = tempfile::tempdir()?;
/// let p = dir.path().join("events.csv");
/// spikelab_data::io::write_atomic(&p, b"a,b\n", false)?;
/// assert!(spikelab_data::io::write_atomic(&p, b"c\n", false).is_err());
/// spikelab_data::io::write_atomic(&p, b"c\n", true)?;
/// assert_eq!(std::fs::read(&p)?, b"c\n");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn write_atomic(path: &Path, bytes: &[u8], overwrite: bool) -> Result<()> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    super::check_writable(path, overwrite)?;
    let file_name = path
        .file_name()
        .ok_or_else(|| DataError::param("path", format!("{} has no file name", path.display())))?;
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let tmp = dir.join(format!(
        ".{}.{}-{}.tmp",
        file_name.to_string_lossy(),
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let result = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&tmp)
        .and_then(|mut f| {
            f.write_all(bytes)?;
            f.sync_all()
        })
        .and_then(|()| std::fs::rename(&tmp, path));
    result.map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        DataError::io(path, e)
    })
}
