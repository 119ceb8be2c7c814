//! CASCADE bad input: typed errors or documented NaN output, never a panic.
#![cfg(feature = "keras-h5")]

use ndarray::Array2;
use spikelab_calcium::CalciumError;
use spikelab_calcium::cascade::{CascadeConfig, CascadeModel, PredictOptions};
use spikelab_data::CalciumTraces;
use spikelab_datasets as datasets;

const GLOBAL: &str = "models/cascade/Global_EXC_30Hz_smoothing50ms_causalkernel";
const OGB: &str = "models/cascade/OGB_zf_pDp_7.5Hz_smoothing200ms";

/// A copy of a model folder with some files left out and the config optionally edited.
fn copy_model(src: &str, skip: &[&str], edit: impl Fn(String) -> String) -> tempfile::TempDir {
    let src = datasets::path(src).unwrap();
    let dir = tempfile::tempdir().unwrap();
    for e in std::fs::read_dir(&src).unwrap() {
        let e = e.unwrap();
        let name = e.file_name().to_string_lossy().into_owned();
        if skip.contains(&name.as_str()) {
            continue;
        }
        if name == "config.yaml" {
            let text = std::fs::read_to_string(e.path()).unwrap();
            std::fs::write(dir.path().join(name), edit(text)).unwrap();
        } else {
            std::fs::copy(e.path(), dir.path().join(name)).unwrap();
        }
    }
    dir
}

#[test]
fn missing_member_and_missing_level_are_typed_errors() {
    let d = copy_model(OGB, &["Model_NoiseLevel_7_Ensemble_3.h5"], |t| t);
    let e = CascadeModel::load_partial(d.path()).unwrap_err();
    assert!(matches!(e, CalciumError::Model { .. }), "{e}");
    assert!(e.to_string().contains("Ensemble_3"), "{e}");
    // The bundled OGB folder lacks levels 3–6: the strict loader refuses it ...
    let e = CascadeModel::load(&datasets::path(OGB).unwrap()).unwrap_err();
    assert!(matches!(e, CalciumError::Model { .. }), "{e}");
    // ... the partial one loads, and a neuron that needs level 4 is a typed error.
    let m = CascadeModel::load_partial(&datasets::path(OGB).unwrap()).unwrap();
    let x = Array2::from_shape_fn((1, 400), |(_, t)| {
        // ν ≈ 4: alternating steps of size a give median |Δx| = a.
        let a = 4.0 / 100.0 * 7.5f64.sqrt();
        if t % 2 == 0 { 0.0 } else { a }
    });
    let e = m
        .predict_rows(x.view(), &PredictOptions::default())
        .unwrap_err();
    assert!(matches!(e, CalciumError::Model { .. }), "{e}");
}

#[test]
fn config_unknown_key_missing_key_and_bad_values() {
    let d = copy_model(GLOBAL, &[], |t| format!("{t}\nwindow_size: 64\n"));
    let e = CascadeModel::load(d.path()).unwrap_err();
    assert!(matches!(e, CalciumError::Model { .. }) && e.to_string().contains("window_size"));
    let text =
        std::fs::read_to_string(datasets::path(GLOBAL).unwrap().join("config.yaml")).unwrap();
    let no_rate = text.replace("sampling_rate: 30", "");
    assert!(CascadeConfig::parse(&no_rate, "t").is_err());
    let zero_rate = text.replace("sampling_rate: 30", "sampling_rate: 0");
    assert!(matches!(
        CascadeConfig::parse(&zero_rate, "t"),
        Err(CalciumError::Model { .. })
    ));
    let bad_arch = text.replace("windowsize: 64", "windowsize: 40");
    assert!(CascadeConfig::parse(&bad_arch, "t").is_err());
    // Weights that do not match the config's architecture.
    let d = copy_model(GLOBAL, &[], |t| {
        t.replace("dense_expansion: 30", "dense_expansion: 10")
    });
    let e = CascadeModel::load(d.path()).unwrap_err();
    assert!(matches!(e, CalciumError::Weights { .. }), "{e}");
    // Not a model folder at all.
    let empty = tempfile::tempdir().unwrap();
    assert!(matches!(
        CascadeModel::load(empty.path()),
        Err(CalciumError::Model { .. })
    ));
}

#[test]
fn frame_rate_mismatch_names_closest_models() {
    let m = CascadeModel::load(&datasets::path(GLOBAL).unwrap()).unwrap();
    let x: Vec<f64> = (0..600).map(|t| (t as f64 * 0.3).sin() * 0.2).collect();
    let tr = CalciumTraces::from_columns(std::slice::from_ref(&x), 10.0).unwrap();
    match m.predict(&tr, &PredictOptions::default()) {
        Err(CalciumError::FrameRateMismatch { closest, .. }) => {
            assert!(closest.iter().all(|n| n.contains("_10Hz_")), "{closest:?}");
        }
        other => panic!("expected FrameRateMismatch, got {other:?}"),
    }
    // Within 5 %: accepted.
    let tr = CalciumTraces::from_columns(&[x], 31.0).unwrap();
    assert!(m.predict(&tr, &PredictOptions::default()).is_ok());
}

#[test]
fn short_all_nan_and_noise_override_inputs() {
    let m = CascadeModel::load(&datasets::path(GLOBAL).unwrap()).unwrap();
    // Shorter than the window: all NaN, no panic.
    let short = Array2::from_elem((2, 40), 0.1);
    let p = m
        .predict_rows(short.view(), &PredictOptions::default())
        .unwrap();
    assert!(p.spike_prob.iter().all(|v| v.is_nan()));
    // Empty matrix.
    let empty = Array2::<f64>::zeros((0, 100));
    let p = m
        .predict_rows(empty.view(), &PredictOptions::default())
        .unwrap();
    assert_eq!(p.spike_prob.dim(), (0, 100));
    // Wrong number of override noise levels.
    let x = Array2::from_elem((2, 100), 0.1);
    let opts = PredictOptions {
        noise_levels: Some(vec![2.0]),
        ..PredictOptions::default()
    };
    assert!(matches!(
        m.predict_rows(x.view(), &opts),
        Err(CalciumError::InvalidInput { .. })
    ));
}
