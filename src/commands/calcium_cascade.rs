//! `spikelab calcium models` and the `cascade:NAME|FOLDER` names of `--model`.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use spikelab_calcium::cascade::zoo;

/// Prints the CASCADE model zoo.
pub fn models() -> Result<()> {
    println!(
        "{:<58} {:>8} {:>10} {:>7}  {:<22} available",
        "model", "rate Hz", "smooth ms", "causal", "family"
    );
    for m in zoo::known_models() {
        println!(
            "{:<58} {:>8} {:>10} {:>7}  {:<22} {}",
            m.name,
            m.frame_rate_hz,
            m.smoothing_ms.map_or("-".into(), |v| v.to_string()),
            if m.causal_kernel { "yes" } else { "no" },
            m.family,
            if m.bundled {
                "bundled (datasets/models/cascade)"
            } else {
                "download from the CASCADE authors"
            }
        );
    }
    println!(
        "\nuse: spikelab calcium deconvolve IN OUT --model cascade:NAME (bundled) or cascade:FOLDER (downloaded)"
    );
    Ok(())
}

/// The folder of `cascade:NAME` (a bundled model) or `cascade:FOLDER`.
pub fn model_dir(name: &str) -> Result<PathBuf> {
    let p = Path::new(name);
    if p.is_dir() {
        return Ok(p.to_path_buf());
    }
    spikelab_datasets::path(&format!("models/cascade/{name}")).with_context(|| {
        format!("{name:?} is neither a model folder nor a bundled CASCADE model (see `spikelab calcium models`)")
    })
}
