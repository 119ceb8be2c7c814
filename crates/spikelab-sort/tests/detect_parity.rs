//! SimSort's threshold detector against the Python reference written from the specification
//! (`scripts/sort_fixtures_filter.py`, datasets/sort/filter/detect.json): frames equal.

use ndarray::Array2;
use ndarray_npy::read_npy;
use serde_json::Value;
use spikelab_sort::detect::{MergeOn, SimSortThreshold};

#[test]
fn simsort_detector_matches_reference() {
    let dir = spikelab_datasets::root().unwrap().join("sort/filter");
    let spec: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("detect.json")).unwrap()).unwrap();
    let cases = spec["cases"].as_array().unwrap();
    assert!(cases.len() >= 8);
    let mut n_frames = 0;
    for case in cases {
        let input: Array2<f64> =
            read_npy(dir.join(format!("{}.npy", case["input"].as_str().unwrap()))).unwrap();
        let det = SimSortThreshold {
            threshold: case["threshold"].as_f64().unwrap(),
            loc_range: spec["loc_range"].as_u64().unwrap() as usize,
            long_range: spec["long_range"].as_u64().unwrap() as usize,
            edge: spec["edge"].as_u64().unwrap() as usize,
            merge_window: spec["merge_window"].as_u64().unwrap() as usize,
            merge_on: match case["merge_on"].as_str().unwrap() {
                "last" => MergeOn::LastChannel,
                _ => MergeOn::MaxOverChannels,
            },
        };
        let want: Vec<i64> = case["frames"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_i64().unwrap())
            .collect();
        assert_eq!(det.detect(input.view()).unwrap(), want, "{case}");
        // f32 storage gives the same frames here (no near-ties).
        let f32_input = input.mapv(|v| v as f32);
        assert_eq!(det.detect(f32_input.view()).unwrap(), want, "{case} (f32)");
        n_frames += want.len();
    }
    assert!(n_frames > 40);
}

/// The standard detector on the band-passed fixture finds the injected spikes (troughs at the
/// frames set in `make_signal` of the fixture script), one peak each, and nothing else.
#[test]
fn standard_detector_finds_injected_spikes() {
    use spikelab_sort::detect::ThresholdDetector;
    let dir = spikelab_datasets::root().unwrap().join("sort/filter");
    let bp: Array2<f64> = read_npy(dir.join("chain_bandpass.npy")).unwrap();
    let injected = [40i64, 120, 131, 250, 262, 400, 470, 480, 600, 745];
    let peaks = ThresholdDetector {
        dead_time: 8,
        exclude_sweep: 5,
        ..Default::default()
    }
    .detect(bp.view(), None)
    .unwrap();
    let frames: Vec<i64> = peaks.iter().map(|p| p.frame).collect();
    for p in &frames {
        assert!(
            injected.iter().any(|t| (p - t).abs() <= 2),
            "spurious peak at {p}"
        );
    }
    let found = injected
        .iter()
        .filter(|t| frames.iter().any(|p| (p - *t).abs() <= 2))
        .count();
    assert_eq!(found, 10, "{frames:?}");
}
