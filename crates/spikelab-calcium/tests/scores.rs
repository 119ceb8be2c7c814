//! Spikefinder scores of `model1.h5` and the retrained model against the reference values of
//! the spec (§1.8) and the per-cell values of `predictions/model1_keras/scores.json`.
#![cfg(feature = "keras-h5")]
use spikelab_calcium::ElephantCnn;
use spikelab_calcium::evaluate::{Padding, evaluate};

fn reference() -> serde_json::Value {
    let p = spikelab_datasets::spikefinder_golden("scores.json").unwrap();
    serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap()
}

fn floats(v: &serde_json::Value) -> Vec<f64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect()
}

#[test]
fn model1_reproduces_the_reference_medians_and_per_cell_scores() {
    let cnn = ElephantCnn::embedded(1).unwrap();
    let refs = reference();
    // Spec §1.8 (zero-padded submission convention): 0.590 / 0.403 / 0.365 / 0.425.
    let spec = [(1u32, 0.590), (3, 0.403), (4, 0.365), (5, 0.425)];
    for (n, want) in spec {
        let set = spikelab_datasets::calcium::spikefinder_test(n).unwrap();
        for (padding, key) in [
            (Padding::ZeroFilled, "corr_zero_padded"),
            (Padding::NanDropped, "corr_nan_dropped"),
        ] {
            let s = evaluate(&cnn, &set, padding).unwrap();
            eprintln!(
                "test {n} {padding:?}: median {:.4} cells {:?}",
                s.median_corr, s.corr
            );
            assert!(
                (s.median_corr - want).abs() < 0.005,
                "test {n}: {}",
                s.median_corr
            );
            let cells = floats(&refs["model1"][n.to_string()][key]);
            assert_eq!(cells.len(), s.corr.len());
            for (a, b) in s.corr.iter().zip(&cells) {
                assert!((a - b).abs() < 1e-3, "test {n} {key}: {a} vs {b}");
            }
            assert!(s.median_rank.is_finite() && s.median_rank > 0.0);
        }
    }
}

#[test]
fn retrained_model_reproduces_the_per_cell_scores_on_test_1() {
    let cnn = ElephantCnn::from_file(
        &spikelab_datasets::elephant_model("model_for_test_dataset1_retrained.h5").unwrap(),
    )
    .unwrap();
    let set = spikelab_datasets::calcium::spikefinder_test(1).unwrap();
    let s = evaluate(&cnn, &set, Padding::ZeroFilled).unwrap();
    eprintln!("retrained test 1: {:?}", s.corr);
    // Spec §1.8: 0.550 / 0.586 / 0.547 / 0.595 / 0.603.
    let spec = [0.550, 0.586, 0.547, 0.595, 0.603];
    for (a, b) in s.corr.iter().zip(spec) {
        assert!((a - b).abs() < 0.0015, "{a} vs {b}");
    }
    let cells = floats(&reference()["retrained_test1"]["1"]["corr_zero_padded"]);
    for (a, b) in s.corr.iter().zip(&cells) {
        assert!((a - b).abs() < 1e-3, "{a} vs {b}");
    }
}

#[test]
fn ensemble_of_the_five_models_scores_in_the_same_range() {
    let e = spikelab_calcium::ensemble::ElephantEnsemble::embedded().unwrap();
    let set = spikelab_datasets::calcium::spikefinder_test(4).unwrap();
    let s = evaluate(&e, &set, Padding::NanDropped).unwrap();
    let single = evaluate(
        &ElephantCnn::embedded(1).unwrap(),
        &set,
        Padding::NanDropped,
    )
    .unwrap();
    eprintln!(
        "ensemble test 4: {:.4} (model1 {:.4})",
        s.median_corr, single.median_corr
    );
    assert!(s.median_corr > single.median_corr - 0.05 && s.median_corr < 1.0);
}
