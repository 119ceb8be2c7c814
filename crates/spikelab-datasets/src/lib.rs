//! The real data bundled in the spikelab repository's `datasets/` folder, for the workspace's
//! tests, examples and benches (a dev-dependency, `publish = false`, like `linfa-datasets`). No
//! library crate depends on it: libraries take paths, bytes or values, and what a library user
//! needs without the repository (the pretrained Elephant weights, the embedding artefacts, the
//! calibration constants) is compiled into `spikelab-calcium`.
//!
//! The crate root finds files ([`spikefinder_calcium`], [`convseq`](fn@convseq), ...); the
//! modules [`calcium`], [`convseq`](mod@convseq) and [`neulvm`](mod@neulvm) load them into the
//! method crates' types. Errors are [`DataError::DatasetNotFound`] or the method crate's error.
//!
//! The folder is looked up in this order: the `SPIKELAB_DATASETS` environment variable; the
//! `datasets/` folder of the source tree this crate was built from; a `datasets/` folder in
//! the current directory or any parent. Each bundled source keeps its README (provenance,
//! licence, format) beside the files.
//!
//! ```
//! use spikelab_datasets::{self as datasets, Split};
//! let p = datasets::spikefinder_calcium(5, Split::Train)?;
//! assert!(p.ends_with("spikefinder/train/5.train.calcium.csv.gz"));
//! # Ok::<(), spikelab_data::DataError>(())
//! ```
#![warn(missing_docs)]

pub mod calcium;
pub mod convseq;
pub mod neulvm;

use std::path::{Path, PathBuf};

use spikelab_data::{DataError, Result};

const MARKER: &str = "spikefinder/README.md";

fn is_root(p: &Path) -> bool {
    p.join(MARKER).is_file()
}

/// The `datasets/` folder.
pub fn root() -> Result<PathBuf> {
    let mut tried = Vec::new();
    if let Some(p) = std::env::var_os("SPIKELAB_DATASETS") {
        let p = PathBuf::from(p);
        if is_root(&p) {
            return Ok(p);
        }
        tried.push(p);
    }
    let built = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../datasets");
    if is_root(&built) {
        return Ok(built);
    }
    tried.push(built);
    if let Ok(mut dir) = std::env::current_dir() {
        loop {
            let c = dir.join("datasets");
            if is_root(&c) {
                return Ok(c);
            }
            if !dir.pop() {
                break;
            }
        }
    }
    Err(DataError::DatasetNotFound {
        name: "datasets/".into(),
        reason: format!(
            "tried {tried:?} and every datasets/ above the current directory; set SPIKELAB_DATASETS"
        ),
    })
}

/// A file or folder inside `datasets/`, which must exist.
pub fn path(relative: &str) -> Result<PathBuf> {
    let p = root()?.join(relative);
    if p.exists() {
        Ok(p)
    } else {
        Err(DataError::DatasetNotFound {
            name: relative.into(),
            reason: format!("{} does not exist", p.display()),
        })
    }
}

/// Spikefinder split.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Split {
    /// Training datasets (bundled: 4, 5, 6).
    Train,
    /// Test datasets (bundled CSVs: 4, 5; `.mat`: 1, 3, 4, 5).
    Test,
}

impl Split {
    fn name(self) -> &'static str {
        match self {
            Split::Train => "train",
            Split::Test => "test",
        }
    }
}

/// `spikefinder/{train,test}/N.{split}.calcium.csv.gz` (100 Hz, `[time, neuron]`).
pub fn spikefinder_calcium(n: u32, split: Split) -> Result<PathBuf> {
    let s = split.name();
    path(&format!("spikefinder/{s}/{n}.{s}.calcium.csv.gz"))
}

/// Ground-truth spike counts for dataset `n`: `spikefinder/{split}/…` or `spikes_only/…`.
pub fn spikefinder_spikes(n: u32, split: Split) -> Result<PathBuf> {
    let s = split.name();
    path(&format!("spikefinder/{s}/{n}.{s}.spikes.csv.gz"))
        .or_else(|_| path(&format!("spikefinder/spikes_only/{n}.{s}.spikes.csv.gz")))
}

/// `spikefinder/test/data.N.test.preprocessed.mat.gz` (c2s struct file; N in 1, 3, 4, 5).
pub fn spikefinder_test_mat(n: u32) -> Result<PathBuf> {
    path(&format!(
        "spikefinder/test/data.{n}.test.preprocessed.mat.gz"
    ))
}

/// Golden outputs of the original Keras network: `spikefinder/predictions/model1_keras/NAME`.
pub fn spikefinder_golden(name: &str) -> Result<PathBuf> {
    path(&format!("spikefinder/predictions/model1_keras/{name}"))
}

/// `spikefinder/leaderboard/NAME`.
pub fn spikefinder_leaderboard(name: &str) -> Result<PathBuf> {
    path(&format!("spikefinder/leaderboard/{name}"))
}

/// Spikefinder-Elephant Keras weights: `models/spikefinder-elephant/NAME` (e.g. `model1.h5`;
/// library users get models 1–5 from `ElephantWeights::embedded`).
pub fn elephant_model(name: &str) -> Result<PathBuf> {
    path(&format!("models/spikefinder-elephant/{name}"))
}

/// Statistical-embedding artefacts: `models/spikefinder-elephant/statEmbedding/NAME`.
pub fn elephant_stat_embedding(name: &str) -> Result<PathBuf> {
    path(&format!("models/spikefinder-elephant/statEmbedding/{name}"))
}

/// The regenerated neuLVM example data: `neulvm/regenerated_seed20221011/NAME`.
pub fn neulvm(name: &str) -> Result<PathBuf> {
    path(&format!("neulvm/regenerated_seed20221011/{name}"))
}

/// convSeq data: `convseq/NAME` (e.g. `synthetic_demo/spikes.npy`,
/// `ca1_rubin/neuronal_activity_mat.mat`, `songbird_hvc/songbird_spikes.txt`).
pub fn convseq(name: &str) -> Result<PathBuf> {
    path(&format!("convseq/{name}"))
}

/// CASCADE ground-truth format sample: `cascade-sample/DS09-GCaMP6f-m-V1/NAME`.
pub fn cascade_sample(name: &str) -> Result<PathBuf> {
    path(&format!("cascade-sample/DS09-GCaMP6f-m-V1/{name}"))
}

/// The Python interpreter of the interop tests, checked to import every module of `modules`:
/// `$SPIKELAB_PYTHON`, else `<repo>/.venv/bin/python` (made by `bash scripts/setup_python.sh`:
/// numpy, scipy, h5py, pynwb, pykalman). Those tests are never skipped: without such a Python
/// this panics and says how to get one.
pub fn python(modules: &[&str]) -> PathBuf {
    let (py, origin) = match std::env::var_os("SPIKELAB_PYTHON") {
        Some(p) => (PathBuf::from(p), "$SPIKELAB_PYTHON"),
        None => (
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.venv/bin/python"),
            "<repo>/.venv/bin/python",
        ),
    };
    let import = format!("import {}", modules.join(", "));
    let ok = std::process::Command::new(&py)
        .args(["-c", &import])
        .output()
        .map(|o| o.status.success());
    match ok {
        Ok(true) => py,
        other => panic!(
            "{origin} = {} cannot `{import}` ({other:?}): run `bash scripts/setup_python.sh` in \
             the repository root, or point $SPIKELAB_PYTHON at a Python that has these modules",
            py.display()
        ),
    }
}

/// The environment variable naming the folder that [`collect_nwb`] and [`NwbTestDir`] copy
/// NWB files into (`scripts/test.sh` sets it and runs nwbinspector on what it collects).
pub const NWB_COLLECT_ENV: &str = "SPIKELAB_NWB_COLLECT";

/// Copies the NWB file `path` into the folder named by `$SPIKELAB_NWB_COLLECT`, under a name
/// unique to this process and test; nothing when the variable is unset, and nothing for a
/// file that is not HDF5 (a test's deliberately broken input). Panics when the copy fails, as
/// a test helper should.
pub fn collect_nwb(path: &Path) {
    use std::io::Read;
    use std::sync::atomic::{AtomicUsize, Ordering};
    static N: AtomicUsize = AtomicUsize::new(0);
    let Some(into) = std::env::var_os(NWB_COLLECT_ENV) else {
        return;
    };
    let mut magic = [0u8; 8];
    let is_hdf5 = std::fs::File::open(path)
        .and_then(|mut f| f.read_exact(&mut magic))
        .is_ok()
        && magic == *b"\x89HDF\r\n\x1a\n";
    if !is_hdf5 {
        return;
    }
    let test = std::thread::current()
        .name()
        .unwrap_or("main")
        .replace(|c: char| !c.is_ascii_alphanumeric(), "_");
    let file = path
        .file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_default();
    let name = format!(
        "{}-{}-{test}-{file}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    );
    let into = PathBuf::from(into);
    std::fs::create_dir_all(&into)
        .and_then(|()| std::fs::copy(path, into.join(name)))
        .unwrap_or_else(|e| panic!("collecting {} into {}: {e}", path.display(), into.display()));
}

/// A temporary folder (removed on drop, like `tempfile::TempDir`) for a test that writes NWB
/// files: on drop, every `.nwb` file in it, at any depth, goes through [`collect_nwb`] first.
/// The NWB tests use it so that nwbinspector sees every file they wrote.
///
/// ```
/// let dir = spikelab_datasets::NwbTestDir::new();
/// assert!(dir.path().is_dir());
/// ```
pub struct NwbTestDir(tempfile::TempDir);

impl NwbTestDir {
    /// A new empty folder.
    pub fn new() -> Self {
        NwbTestDir(tempfile::tempdir().expect("creating a temporary folder"))
    }

    /// Its path.
    pub fn path(&self) -> &Path {
        self.0.path()
    }
}

impl Default for NwbTestDir {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for NwbTestDir {
    fn drop(&mut self) {
        if std::env::var_os(NWB_COLLECT_ENV).is_none() || std::thread::panicking() {
            return;
        }
        let mut stack = vec![self.0.path().to_path_buf()];
        while let Some(d) = stack.pop() {
            let Ok(entries) = std::fs::read_dir(&d) else {
                continue;
            };
            for p in entries.flatten().map(|e| e.path()) {
                if p.is_dir() {
                    stack.push(p);
                } else if p.extension().is_some_and(|e| e == "nwb") {
                    collect_nwb(&p);
                }
            }
        }
    }
}
