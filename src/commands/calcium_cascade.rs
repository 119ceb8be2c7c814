//! `spikelab calcium models` and the `--model cascade:NAME` path of `calcium deconvolve`.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use ndarray::Array2;
use spikelab_calcium::cascade::{CascadeModel, PredictOptions, Threshold, zoo};
use spikelab_calcium::preprocess::fft_resample;
use spikelab_data::CalciumTraces;

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
        "\nuse: spikelab calcium deconvolve IN OUT --fps RATE --model cascade:NAME (bundled) or cascade:FOLDER (downloaded)"
    );
    Ok(())
}

/// Parses `--threshold`.
pub fn threshold(s: &str) -> Result<Threshold> {
    Ok(match s {
        "clip" => Threshold::ClipNegative,
        "none" => Threshold::None,
        "single-spike" => Threshold::SingleSpike,
        other => bail!("--threshold must be clip, none or single-spike, got {other:?}"),
    })
}

fn load(name: &str) -> Result<CascadeModel> {
    let p = Path::new(name);
    let dir: PathBuf = if p.is_dir() {
        p.to_path_buf()
    } else {
        spikelab_datasets::path(&format!("models/cascade/{name}")).with_context(|| {
            format!("{name:?} is neither a model folder nor a bundled CASCADE model (see `spikelab calcium models`)")
        })?
    };
    Ok(CascadeModel::load_partial(&dir)?)
}

/// Runs a CASCADE model on `tr` and writes `[time, neuron]` spikes per frame (or Hz).
pub fn deconvolve(
    name: &str,
    mut tr: CalciumTraces,
    threshold: Threshold,
    resample: bool,
    rates: bool,
    out: &Path,
    force: bool,
) -> Result<()> {
    let model = load(name)?;
    let rate = model.config().sampling_rate_hz;
    eprintln!(
        "CASCADE model {} ({} Hz, smoothing {} ms{}, noise levels {:?})",
        model.config().model_name,
        rate,
        model.config().smoothing_s * 1e3,
        if model.config().causal_kernel {
            ", causal"
        } else {
            ""
        },
        model.config().noise_levels
    );
    if resample && (tr.frame_rate_hz() - rate).abs() > 1e-9 * rate {
        let n = (tr.n_frames() as f64 * rate / tr.frame_rate_hz()).round() as usize;
        let cols: Vec<Vec<f64>> = (0..tr.n_neurons())
            .map(|j| fft_resample(&tr.trace(j).to_vec(), n))
            .collect();
        eprintln!(
            "resampled {} → {rate} Hz ({} → {n} frames)",
            tr.frame_rate_hz(),
            tr.n_frames()
        );
        tr = CalciumTraces::from_columns(&cols, rate)?;
    }
    let t0 = std::time::Instant::now();
    let opts = PredictOptions {
        threshold,
        ..PredictOptions::default()
    };
    let p = model.predict(&tr, &opts)?;
    eprintln!(
        "{} samples in {:.2} s",
        tr.n_frames() * tr.n_neurons(),
        t0.elapsed().as_secs_f64()
    );
    for (j, (nu, l)) in p.noise_levels.iter().zip(&p.model_noise_level).enumerate() {
        eprintln!("  neuron {j}: noise level ν = {nu:.2} %·Hz^-1/2 → ensemble of level {l}");
    }
    if p.above_trained_range {
        eprintln!(
            "warning: the mean noise level is more than 2 above the model's highest level; check the ΔF/F computation or use a high-noise model"
        );
    }
    let y: Array2<f64> = if rates { p.rates_hz() } else { p.spike_prob }
        .t()
        .to_owned();
    super::calcium::write_matrix(out, &y, force)?;
    eprintln!(
        "wrote {} ({}, [time, neuron] at {rate} Hz; NaN where no window fits)",
        out.display(),
        if rates {
            "spikes/s"
        } else {
            "expected spikes per frame"
        }
    );
    Ok(())
}
