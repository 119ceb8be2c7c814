//! `spikelab calcium embed`: where a recording sits in Spikefinder-Elephant's statistical
//! embedding, how much each training dataset should weigh when retraining the CNN for it, and
//! the resulting retraining plan.
//!
//! Usage:
//!
//! ```text
//! spikelab calcium embed datasets/spikefinder/test/4.test.calcium.csv.gz --fps 100
//! spikelab calcium embed recording.npy --fps 30 --json weights.json
//! spikelab calcium embed data.1.test.preprocessed.mat.gz --sampled-fits 150 --seed 1
//! ```

use std::path::PathBuf;

use anyhow::{Context, Result};
use spikelab_calcium::embedding::{Embedding, EmbeddingReport, RecommendOptions, TreeEnsemble};
use spikelab_data::io::{self, ReadOptions};

/// Arguments of `spikelab calcium embed`.
#[derive(clap::Args, Debug)]
pub struct EmbedArgs {
    /// Calcium traces: Spikefinder CSV or `.npy` (`[time, neuron]`), a c2s `.mat[.gz]`
    /// (`data` struct with `calcium`/`fps`), a plain `.mat` matrix (see `--variable`) or NWB
    /// ophys.
    pub input: PathBuf,
    /// Frame rate (Hz); required for files that store none (CSV, NPY, MAT matrices).
    #[arg(long)]
    pub fps: Option<f64>,
    /// Use `--fps` even where the file stores a different rate.
    #[arg(long)]
    pub force_fps: bool,
    /// Name of the `[time, neuron]` matrix variable in a plain `.mat` file.
    #[arg(long)]
    pub variable: Option<String>,
    /// Apply the original's c2s preprocessing (40-s 5th-percentile baseline, 5/80-percentile
    /// normalisation, FFT resampling to 100 Hz) before computing the features. Always done when
    /// the frame rate is not 100 Hz; leave it off for Spikefinder-format data, which the
    /// training statistics were computed from without it.
    #[arg(long)]
    pub preprocess: bool,
    /// Average this many seeded tree fits (the original used 150 unseeded ones) instead of
    /// the exact expectation over the trees' random tie-breaking.
    #[arg(long)]
    pub sampled_fits: Option<usize>,
    /// Seed for `--sampled-fits`.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Also write features, location, weights and the retraining plan as JSON here.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Replace the `--json` file if it exists.
    #[arg(long)]
    pub force: bool,
}

/// The JSON file: the input's path, then the report.
#[derive(serde::Serialize)]
struct JsonOut<'a> {
    input: String,
    #[serde(flatten)]
    report: &'a EmbeddingReport,
}

/// Runs `spikelab calcium embed`.
pub fn run(args: EmbedArgs) -> Result<()> {
    if let Some(p) = &args.json {
        io::check_writable(p, args.force)?;
    }
    let options = ReadOptions {
        frame_rate_hz: args.fps,
        force_frame_rate: args.force_fps,
        variable: args.variable.clone(),
        ..ReadOptions::default()
    };
    let traces = io::read_traces(&args.input, &options)?;
    let ensemble = match args.sampled_fits {
        Some(fits) => TreeEnsemble::Sampled {
            fits,
            seed: args.seed,
        },
        None => TreeEnsemble::Expected,
    };
    let emb = Embedding::embedded().context("loading the bundled embedding artefacts")?;
    let options = RecommendOptions {
        preprocess: args.preprocess,
        ensemble,
    };
    let r = emb.recommend(&traces, &options)?;

    let pre = if r.preprocessed {
        " (c2s-preprocessed)"
    } else {
        ""
    };
    let (name, n, d, hz) = (
        args.input.display(),
        r.n_neurons,
        r.duration_s,
        r.frame_rate_hz,
    );
    println!("{name}: {n} neurons, {d:.1} s at {hz} Hz{pre}");
    let [x, y] = r.stats_location;
    println!("statistics-space location   ({x:+.4}, {y:+.4})");
    let [x, y] = r.predictive_point;
    println!(
        "predictive-space location   ({x:+.4}, {y:+.4})   [{}]",
        r.tree_ensemble
    );
    println!("training dataset   distance   weight   windows per iteration");
    for (e, d) in r.plan.entries.iter().zip(&r.distances) {
        println!(
            "{:>16}   {:>8.3}   {:>6.3}   {:>9}",
            e.dataset_id, d, e.weight, e.n_take
        );
    }
    let p = &r.plan;
    println!(
        "retraining: {} iterations × 1 epoch over {} windows, batch {}, Adagrad lr {}",
        p.iterations,
        p.windows_per_iteration(),
        p.batch_size,
        p.learning_rate
    );
    if let Some(p) = &args.json {
        let out = JsonOut {
            input: args.input.display().to_string(),
            report: &r,
        };
        io::write_json(p, &out, args.force)?;
        println!("wrote {}", p.display());
    }
    Ok(())
}
