//! The Spikefinder leaderboard attempt of issue #19 with the data this repository bundles. For
//! each test set (1, 3, 4, 5) the statistical embedding of its calcium (no spikes) gives the
//! weights of the ten training datasets. Where one of the nearest training datasets (weight 1)
//! has its calcium bundled (4, 5 or 6), pretrained models 1..=MEMBERS are retrained with those
//! weights on the bundled sets (the original's recipe: ITERATIONS iterations of one epoch,
//! batch 256, Adagrad at lr 0.01, size-equalised) and their mean prediction is used; elsewhere
//! the plan would train mostly on data the embedding calls dissimilar, and the pretrained
//! 5-model ensemble is used. Tests at the same embedding location share the retrained models.
//! The score is the Spikefinder metric (median correlation, zero padding); test spikes are used
//! for the score only, never for training or for a choice.
//!
//! ```text
//! cargo run --release -p spikelab-calcium --example spikefinder_leaderboard -- [MEMBERS] [ITERATIONS] [TESTS]
//! ```
//! MEMBERS default 5, ITERATIONS default 5, TESTS default `1,3,4,5`.

use std::time::Instant;

use candle_core::Device;
use ndarray::Array2;
use spikelab_calcium::embedding::{
    Embedding, ORIGINAL_DATASET_SIZES, RecommendOptions, RetrainingPlan,
};
use spikelab_calcium::evaluate::{Padding, score};
use spikelab_calcium::train::retrain_with_plan;
use spikelab_calcium::{ElephantCnn, ElephantWeights, ensemble::ElephantEnsemble};
use spikelab_datasets::Split;
use spikelab_datasets::calcium::{spikefinder_csv, spikefinder_test};

const BUNDLED_TRAIN: [usize; 3] = [4, 5, 6];

fn mean(preds: &[Array2<f64>]) -> Array2<f64> {
    let mut sum = preds[0].clone();
    for p in &preds[1..] {
        sum += p;
    }
    sum / preds.len() as f64
}

fn main() -> anyhow::Result<()> {
    let a: Vec<String> = std::env::args().skip(1).collect();
    let members: u8 = a.first().map_or(Ok(5), |s| s.parse())?;
    let iterations: usize = a.get(1).map_or(Ok(5), |s| s.parse())?;
    let tests: Vec<u32> = a
        .get(2)
        .map_or("1,3,4,5", String::as_str)
        .split(',')
        .map(str::parse)
        .collect::<Result<_, _>>()?;
    let embedding = Embedding::embedded()?;
    let train: Vec<_> = BUNDLED_TRAIN
        .iter()
        .map(|&d| spikefinder_csv(d as u32, Split::Train))
        .collect::<Result<_, _>>()?;
    let sets: Vec<(usize, &_)> = BUNDLED_TRAIN.iter().copied().zip(&train).collect();
    let pretrained = ElephantEnsemble::embedded()?;
    // Retrained members per plan (tests at the same embedding location share them).
    let mut retrained: Vec<(Vec<f64>, Vec<ElephantCnn>)> = Vec::new();
    let mut rows = Vec::new();
    for &t in &tests {
        let test = spikefinder_test(t)?;
        let report = embedding.recommend(&test.calcium, &RecommendOptions::default())?;
        let weight_of = |d: usize| {
            report.weights[report
                .dataset_ids
                .iter()
                .position(|&i| i == d)
                .expect("ids 1-10")]
        };
        let w: Vec<f64> = BUNDLED_TRAIN.iter().map(|&d| weight_of(d)).collect();
        let nearest = report.dataset_ids[report
            .distances
            .iter()
            .enumerate()
            .min_by(|x, y| x.1.total_cmp(y.1))
            .expect("ten datasets")
            .0];
        println!(
            "test {t}: weights of datasets 1-10 {:.3?} (nearest {nearest})",
            report.weights
        );
        let zero = |pred: &Array2<f64>| -> anyhow::Result<f64> {
            Ok(score("test", pred, &test.spikes, Padding::ZeroFilled)?.median_corr)
        };
        let m1 = zero(&pretrained.members()[0].predict(&test.calcium)?)?;
        let ens = zero(&pretrained.predict(&test.calcium)?)?;
        // Retrain only where one of the embedding's nearest training datasets (weight 1) has
        // its calcium bundled; elsewhere the plan would train mostly on data the embedding
        // calls dissimilar.
        let mut member_scores = Vec::new();
        let mut retrained_ens = None;
        if w.iter().any(|&x| x >= 1.0 - 1e-9) {
            if !retrained.iter().any(|(pw, _)| *pw == w) {
                let sizes: Vec<usize> = BUNDLED_TRAIN
                    .iter()
                    .map(|&d| ORIGINAL_DATASET_SIZES[d - 1])
                    .collect();
                let mut plan = RetrainingPlan::new(&BUNDLED_TRAIN, &w, &sizes)?;
                plan.iterations = iterations;
                let mut cnns = Vec::new();
                for m in 1..=members {
                    let t0 = Instant::now();
                    let init = ElephantWeights::embedded(m)?;
                    let r = retrain_with_plan(
                        &init,
                        &plan,
                        &sets,
                        u64::from(m),
                        None,
                        &Device::Cpu,
                        |_| {},
                    )?;
                    println!(
                        "  retrained model {m}: {} windows per iteration, {} steps, {:.0} s",
                        plan.windows_per_iteration(),
                        r.losses.len(),
                        t0.elapsed().as_secs_f64()
                    );
                    cnns.push(ElephantCnn::new(r.weights));
                }
                retrained.push((w.clone(), cnns));
            }
            let cnns = &retrained
                .iter()
                .find(|(pw, _)| *pw == w)
                .expect("just added")
                .1;
            let mut preds = Vec::new();
            for cnn in cnns {
                let pred = cnn.predict(&test.calcium)?;
                member_scores.push(zero(&pred)?);
                preds.push(pred);
            }
            retrained_ens = Some(zero(&mean(&preds))?);
        }
        println!(
            "  model 1 {m1:.4}, ensemble {ens:.4}, retrained {member_scores:.4?}, retrained ensemble {retrained_ens:.4?}"
        );
        rows.push((t, nearest, w, m1, ens, member_scores, retrained_ens));
    }
    println!(
        "\n| test | nearest training set | weights 4 / 5 / 6 | model 1 | ensemble 1-{} | retrained models | their mean prediction | used |\n| --- | --- | --- | --- | --- | --- | --- | --- |",
        pretrained.len()
    );
    let mut used = Vec::new();
    for (t, nearest, w, m1, ens, ms, re) in &rows {
        let ms: Vec<String> = ms.iter().map(|v| format!("{v:.4}")).collect();
        let u = re.unwrap_or(*ens);
        used.push(u);
        println!(
            "| {t} | {nearest} | {:.3} / {:.3} / {:.3} | {m1:.4} | {ens:.4} | {} | {} | {u:.4} |",
            w[0],
            w[1],
            w[2],
            if ms.is_empty() {
                "—".into()
            } else {
                ms.join(" ")
            },
            re.map_or("—".into(), |v| format!("{v:.4}"))
        );
    }
    let n = rows.len() as f64;
    println!(
        "| mean | | | {:.4} | {:.4} | | | **{:.4}** |",
        rows.iter().map(|r| r.3).sum::<f64>() / n,
        rows.iter().map(|r| r.4).sum::<f64>() / n,
        used.iter().sum::<f64>() / n
    );
    Ok(())
}
