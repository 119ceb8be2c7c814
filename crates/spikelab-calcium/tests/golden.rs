//! The network against the golden Keras outputs (`predictions/model1_keras`).
use ndarray::{Array2, Ix2};
use spikelab_calcium::{ElephantCnn, Evaluation};
use spikelab_data::datasets::{self, Split};

fn golden(name: &str) -> Array2<f32> {
    spikelab_data::io::npy::read_typed::<f32, Ix2>(&datasets::spikefinder_golden(name).unwrap())
        .unwrap()
}

fn max_abs_diff(a: &Array2<f64>, g: &Array2<f32>) -> f64 {
    assert_eq!(a.dim(), g.dim());
    let mut m = 0.0f64;
    for (x, y) in a.iter().zip(g.iter()) {
        assert_eq!(x.is_nan(), y.is_nan(), "NaN pattern differs");
        if x.is_finite() {
            m = m.max((x - *y as f64).abs());
        }
    }
    m
}

#[test]
fn fully_convolutional_matches_keras_on_test4_and_5() {
    let cnn = ElephantCnn::bundled("model1.h5").unwrap();
    for n in [4u32, 5] {
        let tr = spikelab_data::io::csv::read_calcium(
            &datasets::spikefinder_calcium(n, Split::Test).unwrap(),
            100.0,
        )
        .unwrap();
        let y = cnn.predict(&tr).unwrap();
        let d = max_abs_diff(&y, &golden(&format!("{n}.test.npy")));
        eprintln!("test {n}: max |Δ| = {d:e}");
        assert!(d < 1e-4, "test {n}: {d}");
    }
}

#[test]
fn per_window_matches_keras_on_test5_subset() {
    let cnn = ElephantCnn::bundled("model1.h5")
        .unwrap()
        .with_evaluation(Evaluation::PerWindow);
    let tr = spikelab_data::io::csv::read_calcium(
        &datasets::spikefinder_calcium(5, Split::Test).unwrap(),
        100.0,
    )
    .unwrap();
    let y = cnn.predict(&tr).unwrap();
    let d = max_abs_diff(&y, &golden("5.test.npy"));
    eprintln!("per-window test 5: max |Δ| = {d:e}");
    assert!(d < 1e-4);
}
