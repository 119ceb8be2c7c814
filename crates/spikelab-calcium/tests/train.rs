//! Training: sample counts of the original and a short seeded run on dataset 4 whose loss falls.
#![cfg(feature = "keras-h5")]
use candle_core::Device;
use spikelab_calcium::evaluate::GroundTruthSet;
use spikelab_calcium::train::{TrainConfig, TrainingData, train};
use spikelab_calcium::{ElephantCnn, ElephantWeights};
use spikelab_data::datasets::Split;

#[test]
fn sample_counts_match_the_original_dataset_sizes() {
    // dataset_sizes[3], [4] of the original (datasets 4 and 5).
    for (n, want) in [(4u32, 165_048usize), (5, 149_976)] {
        let mut d = TrainingData::new();
        d.add_set(&GroundTruthSet::spikefinder_csv(n, Split::Train).unwrap())
            .unwrap();
        assert_eq!(d.n_samples(), want);
    }
}

#[test]
fn a_short_seeded_run_on_dataset_4_lowers_the_loss() {
    let mut d = TrainingData::new();
    d.add_set(&GroundTruthSet::spikefinder_csv(4, Split::Train).unwrap())
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
    let cnn = ElephantCnn::load(&p).unwrap();
    assert_eq!(cnn.weights(), &r.weights);
}
