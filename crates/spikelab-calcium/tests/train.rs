//! Training: sample counts of the original and a short seeded run on dataset 4 whose loss falls.
#![cfg(feature = "keras-h5")]
use candle_core::Device;
use spikelab_calcium::train::{TrainConfig, TrainingData, train};
use spikelab_calcium::{ElephantCnn, ElephantWeights};
use spikelab_datasets::Split;

#[test]
fn sample_counts_match_the_original_dataset_sizes() {
    // dataset_sizes[3], [4] of the original (datasets 4 and 5).
    for (n, want) in [(4u32, 165_048usize), (5, 149_976)] {
        let mut d = TrainingData::new();
        d.add_set(&spikelab_datasets::calcium::spikefinder_csv(n, Split::Train).unwrap())
            .unwrap();
        assert_eq!(d.n_samples(), want);
    }
}

#[test]
fn a_short_seeded_run_on_dataset_4_lowers_the_loss() {
    let mut d = TrainingData::new();
    d.add_set(&spikelab_datasets::calcium::spikefinder_csv(4, Split::Train).unwrap())
        .unwrap();
    let steps = 200;
    let cfg = TrainConfig {
        batch_size: 32,
        max_steps: Some(steps),
        seed: 1,
        ..TrainConfig::default()
    };
    let mut seen = 0;
    let r = train(
        &ElephantWeights::glorot_uniform(1),
        &d,
        &cfg,
        &Device::Cpu,
        |p| {
            seen = p.step;
            assert_eq!(p.total_steps, steps);
        },
    )
    .unwrap();
    assert_eq!(seen, steps);
    let mean = |s: &[f64]| s.iter().sum::<f64>() / s.len() as f64;
    let first = mean(&r.losses[..20]);
    let last = mean(&r.losses[steps - 20..]);
    eprintln!("loss {first:.4} → {last:.4}");
    assert!(last < 0.9 * first, "{first} → {last}");
    // The trained weights run and round-trip through safetensors.
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("w.safetensors");
    r.weights.save_safetensors(&p, false).unwrap();
    assert!(r.weights.save_safetensors(&p, false).is_err());
    let cnn = ElephantCnn::from_file(&p).unwrap();
    assert_eq!(cnn.weights(), &r.weights);
}

#[test]
fn retraining_follows_an_embedding_plan() {
    use spikelab_calcium::embedding::RetrainingPlan;
    use spikelab_calcium::train::retrain_with_plan;
    let s4 = spikelab_datasets::calcium::spikefinder_csv(4, Split::Train).unwrap();
    let s5 = spikelab_datasets::calcium::spikefinder_csv(5, Split::Train).unwrap();
    // Tiny weights so that each iteration is a few batches.
    let mut plan = RetrainingPlan::new(&[4, 5], &[0.004, 0.002], &[165_048, 149_976]).unwrap();
    plan.iterations = 2;
    plan.batch_size = 64;
    let per_iter = plan.windows_per_iteration();
    let init = ElephantWeights::embedded(1).unwrap();
    let r = retrain_with_plan(
        &init,
        &plan,
        &[(4, &s4), (5, &s5)],
        3,
        None,
        &Device::Cpu,
        |_| {},
    )
    .unwrap();
    assert_eq!(r.losses.len(), 2 * per_iter.div_ceil(64));
    assert!(r.losses.iter().all(|l| l.is_finite()));
    assert_ne!(r.weights, init);
    // A planned dataset without ground truth is an error.
    assert!(retrain_with_plan(&init, &plan, &[(4, &s4)], 3, None, &Device::Cpu, |_| {}).is_err());
}
