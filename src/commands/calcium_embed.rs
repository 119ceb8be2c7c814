//! `spikelab calcium embed`: where a recording sits in Spikefinder-Elephant's statistical
//! embedding, how much each training dataset should weigh when retraining the CNN for it, and
//! the resulting retraining plan.
//!
//! Usage:
//!
//! ```text
//! spikelab calcium embed datasets/spikefinder/test/4.test.calcium.csv.gz
//! spikelab calcium embed recording.npy --fps 30 --json weights.json
//! spikelab calcium embed data.1.test.preprocessed.mat.gz --sampled-fits 150 --seed 1
//! ```

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use serde_json::json;
use spikelab_calcium::embedding::{
    Embedding, FEATURE_NAMES, FEATURE_RATE_HZ, FEATURE_RATE_TOLERANCE_HZ, RetrainingPlan,
    TreeEnsemble, features_of_traces,
};
use spikelab_calcium::preprocess::Preprocessing;
use spikelab_data::CalciumTraces;
use spikelab_data::io::{self, ReadOptions};

/// Arguments of `spikelab calcium embed`.
#[derive(clap::Args, Debug)]
pub struct EmbedArgs {
    /// Calcium traces: Spikefinder CSV or `.npy` (`[time, neuron]`), a c2s `.mat[.gz]`
    /// (`data` struct with `calcium`/`fps`), a plain `.mat` matrix (see `--variable`) or NWB
    /// ophys.
    pub input: PathBuf,
    /// Frame rate (Hz) of CSV/NPY/plain-matrix input (c2s files carry their own).
    #[arg(long, default_value_t = 100.0)]
    pub fps: f64,
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

fn load_traces(args: &EmbedArgs) -> Result<CalciumTraces> {
    let options = ReadOptions {
        frame_rate_hz: Some(args.fps),
        variable: args.variable.clone(),
        ..ReadOptions::default()
    };
    Ok(io::read_traces(&args.input, &options)?)
}

/// Runs `spikelab calcium embed`.
pub fn run(args: EmbedArgs) -> Result<()> {
    if let Some(p) = &args.json {
        io::check_writable(p, args.force)?;
    }
    let mut traces = load_traces(&args)?;
    let off_rate = (traces.frame_rate_hz() - FEATURE_RATE_HZ).abs() > FEATURE_RATE_TOLERANCE_HZ;
    let preprocessed = args.preprocess || off_rate;
    if preprocessed {
        traces = Preprocessing::default()
            .apply(&traces)
            .context("c2s preprocessing")?;
    }
    let empty = traces.empty_neurons();
    if !empty.is_empty() {
        bail!("neurons {empty:?} are all NaN; remove them first");
    }
    let ensemble = match args.sampled_fits {
        Some(fits) => TreeEnsemble::Sampled {
            fits,
            seed: args.seed,
        },
        None => TreeEnsemble::Expected,
    };
    let emb = Embedding::embedded().context("loading the bundled embedding artefacts")?;
    let features = features_of_traces(&traces)?;
    let location = emb.locate(features.view())?;
    let weights = emb.dataset_weights(location, ensemble)?;
    let plan = RetrainingPlan::from_weights_original_sizes(&weights)?;

    println!(
        "{}: {} neurons, {:.1} s at {} Hz{}",
        args.input.display(),
        traces.n_neurons(),
        traces.duration_s(),
        traces.frame_rate_hz(),
        if preprocessed {
            " (c2s-preprocessed)"
        } else {
            ""
        }
    );
    println!(
        "statistics-space location   ({:+.4}, {:+.4})",
        location[0], location[1]
    );
    println!(
        "predictive-space location   ({:+.4}, {:+.4})   [{}]",
        weights.predictive_point[0],
        weights.predictive_point[1],
        match ensemble {
            TreeEnsemble::Expected => "exact tree-ensemble expectation".to_string(),
            TreeEnsemble::Sampled { fits, seed } => format!("{fits} sampled fits, seed {seed}"),
        }
    );
    println!("training dataset   distance   weight   windows per iteration");
    for (i, e) in plan.entries.iter().enumerate() {
        println!(
            "{:>16}   {:>8.3}   {:>6.3}   {:>9}",
            e.dataset_id, weights.distances[i], e.weight, e.n_take
        );
    }
    println!(
        "retraining: {} iterations × 1 epoch over {} windows, batch {}, Adagrad lr {}",
        plan.iterations,
        plan.windows_per_iteration(),
        plan.batch_size,
        plan.learning_rate
    );

    if let Some(p) = &args.json {
        let per_neuron: Vec<serde_json::Value> = features
            .rows()
            .into_iter()
            .map(|r| {
                FEATURE_NAMES
                    .iter()
                    .zip(r.iter())
                    .map(|(n, v)| ((*n).to_string(), json!(v)))
                    .collect::<serde_json::Map<_, _>>()
                    .into()
            })
            .collect();
        let doc = json!({
            "input": args.input.display().to_string(),
            "frame_rate_hz": traces.frame_rate_hz(),
            "preprocessed": preprocessed,
            "features": per_neuron,
            "stats_location": location,
            "predictive_point": weights.predictive_point,
            "dataset_ids": weights.dataset_ids,
            "distances": weights.distances,
            "weights": weights.weights,
            "plan": plan,
        });
        std::fs::write(p, serde_json::to_string_pretty(&doc)?)
            .with_context(|| format!("writing {}", p.display()))?;
        println!("wrote {}", p.display());
    }
    Ok(())
}
