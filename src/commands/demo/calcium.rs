//! Demo stage "calcium": the Spikefinder-Elephant CNN on the bundled test sets, beside the
//! published leaderboard, and the statistical embedding of test dataset 1.

use anyhow::Result;
use serde_json::json;
use spikelab_calcium::ElephantCnn;
use spikelab_calcium::embedding::{Embedding, TreeEnsemble, features_of_traces};
use spikelab_calcium::evaluate::{Padding, evaluate};
use spikelab_datasets::calcium::leaderboard_scores;

use super::{Ctx, StageOut, f};
use crate::plots::{Series, line_plot};
use crate::report::Section;

/// Runs the stage.
pub fn stage(ctx: &Ctx<'_>) -> Result<StageOut> {
    let sets: &[u32] = if ctx.quick { &[1, 4, 5] } else { &[1, 3, 4, 5] };
    ctx.bar.set_length(sets.len() as u64 + 2);
    let cnn = ElephantCnn::embedded(1)?;
    let lb_cnn = leaderboard_scores("Elephant (CNN)", "corr")?;
    let lb_emb = leaderboard_scores("Embedding of CNNs via Ca recording stats", "corr")?;
    let lb = |s: &[(String, f64)], n: u32| {
        s.iter()
            .find(|(d, _)| *d == format!("{n}.test.spikes"))
            .map(|(_, v)| *v)
    };
    let mut rows = Vec::new();
    let mut per_set = serde_json::Map::new();
    let mut fig_set = None;
    for &n in sets {
        let set = spikelab_datasets::calcium::spikefinder_test(n)?;
        let t0 = std::time::Instant::now();
        let score = evaluate(&cnn, &set, Padding::ZeroFilled)?;
        let secs = t0.elapsed().as_secs_f64();
        let samples: usize = set.calcium.valid_lengths().iter().sum();
        rows.push(vec![
            format!("test {n}"),
            format!("{}", set.calcium.n_neurons()),
            f(score.median_corr, 3),
            lb(&lb_cnn, n).map_or("—".into(), |v| f(v, 3)),
            lb(&lb_emb, n).map_or("—".into(), |v| f(v, 3)),
            format!("{:.0} k", samples as f64 / secs / 1e3),
        ]);
        per_set.insert(
            format!("test{n}"),
            json!({
                "median_corr": score.median_corr,
                "per_neuron_corr": score.corr,
                "leaderboard_elephant": lb(&lb_cnn, n),
                "leaderboard_embedding": lb(&lb_emb, n),
                "samples_per_s": samples as f64 / secs,
            }),
        );
        if n == 5 {
            fig_set = Some(set);
        }
        ctx.bar.inc(1);
    }

    // Figure: 40 s of test-5 neuron 1 with the prediction and the ground truth.
    let fig = ctx.fig("calcium_prediction.png");
    if let Some(set) = &fig_set {
        let j = 1;
        let pred = cnn.predict(&set.calcium)?;
        let (t0, t1) = (3000usize, 7000usize);
        let xs = |i: usize| i as f64 / 100.0;
        let z = |v: &[f64]| -> Vec<f64> {
            let finite: Vec<f64> = v.iter().copied().filter(|x| x.is_finite()).collect();
            let m = finite.iter().sum::<f64>() / finite.len().max(1) as f64;
            let sd = (finite.iter().map(|x| (x - m).powi(2)).sum::<f64>()
                / finite.len().max(1) as f64)
                .sqrt()
                .max(1e-12);
            v.iter().map(|x| (x - m) / sd).collect()
        };
        let cal: Vec<f64> = set.calcium.trace(j).iter().copied().collect();
        let calz = z(&cal[t0..t1]);
        let p: Vec<f64> = pred.column(j).iter().copied().collect();
        let pz = z(&p[t0..t1]);
        let spikes: Vec<(f64, f64)> = (t0..t1)
            .filter(|&i| set.spikes[[i, j]] > 0.0)
            .map(|i| (xs(i), -4.0 - 0.5 * set.spikes[[i, j]]))
            .collect();
        line_plot(
            &fig,
            "Spikefinder test 5, neuron 1: calcium, CNN prediction and ground truth",
            "time (s)",
            "z-score (calcium +6, prediction 0, spikes below)",
            &[
                Series {
                    label: "calcium (offset +6)",
                    points: (t0..t1).zip(calz).map(|(i, v)| (xs(i), v + 6.0)).collect(),
                    color: 7,
                    dots: false,
                },
                Series {
                    label: "prediction (model1.h5)",
                    points: (t0..t1).zip(pz).map(|(i, v)| (xs(i), v)).collect(),
                    color: 0,
                    dots: false,
                },
                Series {
                    label: "ground-truth spikes",
                    points: spikes,
                    color: 3,
                    dots: true,
                },
            ],
            &[],
            (1000, 420),
        )?;
    }
    ctx.bar.inc(1);

    // Statistical embedding of test 1: which training datasets to retrain on.
    let test1 = spikelab_datasets::calcium::spikefinder_test(1)?;
    let emb = Embedding::embedded()?;
    let feats = features_of_traces(&test1.calcium)?;
    let loc = emb.locate(feats.view())?;
    let w = emb.dataset_weights(loc, TreeEnsemble::Expected)?;
    ctx.bar.inc(1);

    let mean = |k: &str| -> f64 {
        let v: Vec<f64> = per_set.values().filter_map(|x| x[k].as_f64()).collect();
        v.iter().sum::<f64>() / v.len().max(1) as f64
    };
    let mut s = Section::new("calcium");
    s.text(
        "The Spikefinder-Elephant CNN (Rupprecht & Gerhard, 3rd of 37 entries of the Spikefinder \
         challenge, Berens et al. 2018) with its original weights, evaluated fully convolutionally. \
         Score: Pearson r of 40-ms spike sums, median over neurons (the challenge metric).",
    )
    .table(
        "Spikefinder test datasets: spikelab vs the published leaderboard",
        &[
            "dataset",
            "neurons",
            "spikelab (model1.h5)",
            "leaderboard: Elephant CNN",
            "leaderboard: with embedding",
            "samples/s",
        ],
        rows,
    )
    .figure(
        "40 s of Spikefinder test 5, neuron 1: calcium (grey), CNN output (blue), ground-truth spikes (red dots).",
        &fig,
    )
    .table(
        "Statistical embedding of test 1: weights of the ten training datasets for retraining (original: 1.00 .49 .05 .31 .01 .11 .18 .15 1.00 .19)",
        &["training dataset", "distance", "weight"],
        w.dataset_ids
            .iter()
            .zip(w.distances.iter().zip(w.weights.iter()))
            .map(|(id, (d, wt))| vec![id.to_string(), f(*d, 3), f(*wt, 2)])
            .collect(),
    );
    let numbers = json!({
        "model": "model1.h5",
        "datasets": per_set,
        "mean_median_corr": mean("median_corr"),
        "embedding_test1": {
            "stats_location": w.stats_location,
            "predictive_point": w.predictive_point,
            "weights": w.weights,
        },
    });
    Ok(StageOut {
        section: s,
        numbers,
    })
}
