//! A seeded generated tetrode sorted end to end on the CPU, scored with the spikeinterface
//! metric, written as a phy folder and read back.

use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use spikelab_data::Sorting;
use spikelab_sort::compare::{CompareParams, compare_to_ground_truth};
use spikelab_sort::pipeline::{SortParams, sort};
use spikelab_synth::GroundTruthParams;

#[test]
fn generated_tetrode_is_sorted_better_than_chance() {
    let gt = GroundTruthParams {
        duration_s: 30.0,
        ..GroundTruthParams::tetrode_benchmark()
    }
    .generate(7)
    .unwrap();
    let params = SortParams::default();
    let mut stages = Vec::new();
    let mut observer = |p: &spikelab_core::Progress<'_>| {
        stages.push(p.stage.to_string());
        spikelab_core::Flow::Continue
    };
    let result = sort(&gt.recording, &params, &mut observer).unwrap();
    assert!(stages.iter().any(|s| s == "cluster"));
    let cmp_params = CompareParams::default();
    let cmp = compare_to_ground_truth(&gt.sorting, &result.sorting, &cmp_params).unwrap();
    let acc = cmp.mean_accuracy().unwrap();
    let per_unit: Vec<f64> = cmp.by_unit().iter().map(|p| p.accuracy).collect();
    eprintln!(
        "seed 7, 30 s: mean accuracy {acc:.3} {per_unit:.2?}, {} units, SNR {:.1?}",
        result.sorting.n_units(),
        gt.truth.snr
    );
    // The same detected spikes with shuffled unit labels: what clustering adds.
    let spikes = result.sorting.spike_vector();
    let mut labels: Vec<i64> = spikes.iter().map(|s| s.1 as i64).collect();
    labels.shuffle(&mut ChaCha8Rng::seed_from_u64(0));
    let frames: Vec<i64> = spikes.iter().map(|s| s.0).collect();
    let shuffled = Sorting::from_samples_and_labels(
        &frames,
        &labels,
        result.sorting.sampling_rate_hz(),
        result.sorting.n_samples(),
    )
    .unwrap();
    let chance = compare_to_ground_truth(&gt.sorting, &shuffled, &cmp_params)
        .unwrap()
        .mean_accuracy()
        .unwrap();
    eprintln!("shuffled labels: {chance:.3}");
    assert!(acc > 0.6, "mean accuracy {acc}");
    assert!(acc > chance + 0.4, "{acc} vs chance {chance}");

    // phy folder round trip, and no overwrite without asking.
    let base = tempfile::tempdir().unwrap();
    let dir = base.path().join("sorting");
    spikelab_data::io::write_dir_atomic(&dir, false, |tmp| {
        result.write_files(tmp, gt.recording.probe(), None, &params)
    })
    .unwrap();
    assert_eq!(
        spikelab_data::io::open_sorting(&dir).unwrap(),
        result.sorting
    );
    assert!(
        spikelab_data::io::write_dir_atomic(&dir, false, |tmp| {
            result.write_files(tmp, gt.recording.probe(), None, &params)
        })
        .is_err()
    );
}

#[test]
fn bad_recordings_are_typed_errors() {
    let gt = GroundTruthParams {
        duration_s: 0.001,
        ..GroundTruthParams::tetrode_benchmark()
    }
    .generate(1)
    .unwrap();
    // 30 samples: shorter than one snippet.
    assert!(
        sort(
            &gt.recording,
            &SortParams::default(),
            &mut spikelab_core::Silent
        )
        .is_err()
    );
    let flat = spikelab_data::Recording::new(
        ndarray::Array2::zeros((30_000, 4)),
        30_000.0,
        spikelab_data::Probe::tetrode(20.0),
    )
    .unwrap();
    let e = sort(&flat, &SortParams::default(), &mut spikelab_core::Silent).unwrap_err();
    assert!(e.to_string().contains("constant"), "{e}");
}
