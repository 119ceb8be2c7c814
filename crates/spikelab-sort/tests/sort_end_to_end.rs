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

/// A 64-contact, 4-column probe: channel groups by radius, the local template merge, and the
/// candle (f32) whitening path against the f64 one.
#[test]
fn generated_probe_is_sorted_with_channel_groups() {
    let gt = GroundTruthParams {
        duration_s: 40.0,
        probe: spikelab_data::Probe::multi_column(64, 4, 16.0, 20.0, 6.0).unwrap(),
        ..GroundTruthParams::probe_benchmark(12)
    }
    .generate(11)
    .unwrap();
    let defaults = SortParams::default();
    let params = SortParams {
        detector: spikelab_sort::detect::ThresholdDetector {
            radius_um: Some(40.0),
            ..defaults.detector
        },
        group_radius_um: Some(40.0),
        ..defaults
    };
    let result = sort(&gt.recording, &params, &mut spikelab_core::Silent).unwrap();
    let cmp =
        compare_to_ground_truth(&gt.sorting, &result.sorting, &CompareParams::default()).unwrap();
    let acc = cmp.mean_accuracy().unwrap();
    let per_unit: Vec<f64> = cmp.by_unit().iter().map(|p| p.accuracy).collect();
    eprintln!(
        "64-channel probe, seed 11, 40 s: mean accuracy {acc:.3} {per_unit:.2?}, {} units, {} clusters",
        result.sorting.n_units(),
        result.n_clusters
    );
    assert!(acc > 0.7, "mean accuracy {acc}");
    assert_eq!(result.templates.dim().2, 64);

    // The whitening's covariance and product as f32 candle products agree with the f64 path
    // (`Device::Cpu` runs the same candle code as a GPU).
    use spikelab_sort::preprocess::{
        apply_whitening, covariance, covariance_on, whiten_in_place_on, zca_from_covariance,
    };
    let x = gt.recording.traces();
    let dev = candle_core::Device::Cpu;
    let (c64, c32) = (covariance(x).unwrap(), covariance_on(x, &dev).unwrap());
    let scale = c64.diag().iter().fold(0.0f64, |m, v| m.max(*v));
    let cov_err = c64
        .iter()
        .zip(&c32)
        .fold(0.0f64, |m, (a, b)| m.max((a - b).abs()))
        / scale;
    let w = zca_from_covariance(&c64, 1e-8).unwrap();
    let reference = apply_whitening(x, &w);
    let mut y = x.to_owned();
    whiten_in_place_on(&mut y, &w, &dev).unwrap();
    let white_err = y
        .iter()
        .zip(&reference)
        .fold(0.0f32, |m, (a, b)| m.max((a - b).abs()));
    eprintln!(
        "f32 candle vs f64: covariance {cov_err:.1e} (of the largest variance), whitened {white_err:.1e}"
    );
    assert!(
        cov_err < 1e-5 && white_err < 1e-3,
        "{cov_err:e} {white_err:e}"
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
