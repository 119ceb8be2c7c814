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
