//! The network against the golden Keras outputs (`predictions/model1_keras`, see its README):
//! all four test sets, both evaluations, to 1e-4.
#![cfg(feature = "keras-h5")]
use ndarray::{Array2, Ix2, s};
use spikelab_calcium::{ElephantCnn, Evaluation};
use spikelab_data::CalciumTraces;
use spikelab_datasets as datasets;

fn golden(name: &str) -> Array2<f32> {
    spikelab_data::io::npy::read_typed::<f32, Ix2>(&datasets::spikefinder_golden(name).unwrap())
        .unwrap()
}

fn max_abs_diff(a: &Array2<f64>, g: &Array2<f32>) -> f64 {
    assert_eq!(a.dim(), g.dim());
    let mut m = 0.0f64;
    let mut finite = 0;
    for (x, y) in a.iter().zip(g.iter()) {
        assert_eq!(x.is_nan(), y.is_nan(), "NaN pattern differs");
        if x.is_finite() {
            m = m.max((x - *y as f64).abs());
            finite += 1;
        }
    }
    assert!(finite > 1000);
    m
}

#[test]
fn fully_convolutional_matches_keras_on_tests_1_3_4_5() {
    let cnn = ElephantCnn::embedded(1).unwrap();
    for n in [1u32, 3, 4, 5] {
        let set = spikelab_datasets::calcium::spikefinder_test(n).unwrap();
        let y = cnn.predict(&set.calcium).unwrap();
        let d = max_abs_diff(&y, &golden(&format!("{n}.test.npy")));
        eprintln!("test {n}: max |Δ| = {d:e}");
        assert!(d < 1e-4, "test {n}: {d}");
    }
}

#[test]
fn retrained_model_matches_keras_on_test_1() {
    let cnn = ElephantCnn::from_file(
        &spikelab_datasets::elephant_model("model_for_test_dataset1_retrained.h5").unwrap(),
    )
    .unwrap();
    let set = spikelab_datasets::calcium::spikefinder_test(1).unwrap();
    let y = cnn.predict(&set.calcium).unwrap();
    let d = max_abs_diff(&y, &golden("model_for_test_dataset1_retrained.1.test.npy"));
    eprintln!("retrained test 1: max |Δ| = {d:e}");
    assert!(d < 1e-4);
}

/// The first `frames` frames of every neuron of a set (keeps the per-window test fast).
fn head(set: &CalciumTraces, frames: usize) -> CalciumTraces {
    CalciumTraces::new(set.data().slice(s![..frames, ..]).to_owned(), 100.0).unwrap()
}

#[test]
fn per_window_and_candle_fully_convolutional_agree_with_gemm_path_on_real_traces() {
    let fast = ElephantCnn::embedded(1).unwrap();
    let per_window = fast.clone().with_evaluation(Evaluation::PerWindow);
    let candle_fc = fast.clone().with_candle_kernels(true);
    for n in [4u32, 5] {
        let set = spikelab_datasets::calcium::spikefinder_test(n).unwrap();
        // 1200 frames from an interior stretch (1072 windows per neuron).
        let tr = CalciumTraces::new(
            set.calcium.data().slice(s![5000..6200, ..]).to_owned(),
            100.0,
        )
        .unwrap();
        let tr = head(&tr, 1200);
        let a = fast.predict(&tr).unwrap();
        let g = a.mapv(|v| v as f32);
        for other in [&per_window, &candle_fc] {
            let b = other.predict(&tr).unwrap();
            let d = max_abs_diff(&b, &g);
            eprintln!(
                "test {n}: {:?} vs gemm: max |Δ| = {d:e}",
                other.evaluation()
            );
            assert!(d < 1e-4, "{d}");
        }
    }
}

#[test]
fn chunking_does_not_change_the_fully_convolutional_output() {
    let set = spikelab_datasets::calcium::spikefinder_test(5).unwrap();
    let tr =
        CalciumTraces::new(set.calcium.data().slice(s![..3000, ..3]).to_owned(), 100.0).unwrap();
    let base = ElephantCnn::embedded(1).unwrap();
    let a = base.predict(&tr).unwrap();
    for chunk in [1usize, 2, 3, 97, 1000, 2872, 100_000] {
        let b = base
            .clone()
            .with_chunk_outputs(chunk)
            .unwrap()
            .predict(&tr)
            .unwrap();
        let d = max_abs_diff(&b, &a.mapv(|v| v as f32));
        assert!(d < 1e-5, "chunk {chunk}: {d}");
    }
    assert!(base.clone().with_chunk_outputs(0).is_err());
}
