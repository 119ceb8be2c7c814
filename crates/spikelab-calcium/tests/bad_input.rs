//! Bad input: typed errors or documented NaN output, never a panic.
#![cfg(feature = "keras-h5")]
use ndarray::Array2;
use spikelab_calcium::preprocess::{Preprocessing, noise_level};
use spikelab_calcium::weights::ElephantWeights;
use spikelab_calcium::{CalciumError, ElephantCnn, Skipped};
use spikelab_data::CalciumTraces;
use spikelab_datasets::{self as datasets, Split};

fn real_trace(len: usize) -> Vec<f64> {
    let tr = spikelab_data::io::csv::read_calcium(
        &datasets::spikefinder_calcium(4, Split::Test).unwrap(),
        100.0,
    )
    .unwrap();
    tr.trace(0).iter().take(len).copied().collect()
}

#[test]
fn bad_neurons_get_nan_columns_and_a_reason() {
    let cnn = ElephantCnn::embedded(1).unwrap();
    let good = real_trace(2000);
    let mut cols = vec![
        good.clone(),
        vec![f64::NAN; 2000],
        vec![1.5; 2000],
        good[..100].to_vec(),
    ];
    // An interior NaN gap in a copy of the good trace.
    let mut gap = good.clone();
    gap[700..710].iter_mut().for_each(|v| *v = f64::NAN);
    cols.push(gap);
    let tr = CalciumTraces::from_columns(&cols, 100.0).unwrap();
    let (y, skipped) = cnn.predict_report(&tr).unwrap();
    assert_eq!(y.dim(), (2000, 5));
    assert_eq!(skipped.len(), 3);
    assert!(matches!(skipped[0], (1, Skipped::AllNan)));
    assert!(matches!(skipped[1], (2, Skipped::Constant)));
    assert!(matches!(skipped[2], (3, Skipped::TooShort { frames: 100 })));
    for j in 1..4 {
        assert!(y.column(j).iter().all(|v| v.is_nan()));
    }
    assert!(
        y.column(0)
            .iter()
            .skip(32)
            .take(2000 - 128)
            .all(|v| v.is_finite())
    );
    // The gap frames are NaN in the output; far from the gap it equals the clean prediction
    // up to the z-scoring statistics (which exclude the 10 NaN frames).
    assert!((700..710).all(|i| y[[i, 4]].is_nan()));
    assert!(y[[711, 4]].is_finite());
}

#[test]
fn single_trace_errors_are_typed() {
    let cnn = ElephantCnn::embedded(1).unwrap();
    for bad in [vec![], vec![f64::NAN; 300], vec![2.0; 300], real_trace(128)] {
        assert!(matches!(
            cnn.predict_trace(&bad),
            Err(CalciumError::InvalidInput { .. })
        ));
    }
    // Exactly 129 frames: one window, output at frame 32 only.
    let y = cnn.predict_trace(&real_trace(129)).unwrap();
    assert_eq!(y.iter().filter(|v| v.is_finite()).count(), 1);
    assert!(y[32].is_finite());
}

#[test]
fn wrong_frame_rate_is_an_error() {
    let cnn = ElephantCnn::embedded(1).unwrap();
    let tr = CalciumTraces::from_columns(&[real_trace(1000)], 30.0).unwrap();
    assert!(matches!(
        cnn.predict(&tr),
        Err(CalciumError::InvalidInput { .. })
    ));
    assert!(CalciumTraces::from_columns(&[real_trace(1000)], 0.0).is_err());
    assert!(matches!(
        noise_level(&real_trace(10), -1.0),
        Err(CalciumError::InvalidParameter { .. })
    ));
    assert!(
        Preprocessing::default()
            .apply_trace(&real_trace(100), 0.0)
            .is_err()
    );
    let p = Preprocessing {
        baseline_percentile: 120.0,
        ..Preprocessing::default()
    };
    assert!(p.apply_trace(&real_trace(100), 30.0).is_err());
}

#[test]
fn weights_of_another_architecture_are_rejected() {
    let dir = tempfile::tempdir().unwrap();
    // safetensors with a wrong conv2 kernel shape.
    let w = ElephantWeights::glorot_uniform(3);
    let mut t = w.to_tensors(&candle_core::Device::Cpu).unwrap();
    t.insert(
        "conv2.kernel".into(),
        candle_core::Tensor::zeros(
            (21, 50, 61),
            candle_core::DType::F32,
            &candle_core::Device::Cpu,
        )
        .unwrap(),
    );
    let p = dir.path().join("bad.safetensors");
    candle_core::safetensors::save(&t, &p).unwrap();
    let e = ElephantWeights::from_file(&p).unwrap_err();
    assert!(matches!(e, CalciumError::Weights { .. }), "{e}");
    t.remove("dense2.bias");
    candle_core::safetensors::save(&t, &p).unwrap();
    assert!(matches!(
        ElephantWeights::from_file(&p),
        Err(CalciumError::Weights { .. })
    ));
    // Not a weight file at all.
    let q = dir.path().join("x.h5");
    std::fs::write(&q, b"not hdf5").unwrap();
    assert!(matches!(
        ElephantWeights::from_file(&q),
        Err(CalciumError::Weights { .. })
    ));
    // A Keras-style HDF5 file with the wrong layer shapes.
    let h = dir.path().join("other.h5");
    {
        use hdf5::types::VarLenUnicode;
        let f = hdf5::File::create(&h).unwrap();
        let names: Vec<VarLenUnicode> = ["conv1d_1", "dense_1"]
            .iter()
            .map(|s| s.parse().unwrap())
            .collect();
        f.new_attr::<VarLenUnicode>()
            .shape(2)
            .create("layer_names")
            .unwrap()
            .write_raw(&names)
            .unwrap();
        for (lname, kshape, blen) in [
            ("conv1d_1", vec![31usize, 1, 30], 30usize),
            ("dense_1", vec![30, 1], 1),
        ] {
            let g = f.create_group(lname).unwrap();
            let wn: Vec<VarLenUnicode> = [format!("{lname}/kernel:0"), format!("{lname}/bias:0")]
                .iter()
                .map(|s| s.parse().unwrap())
                .collect();
            g.new_attr::<VarLenUnicode>()
                .shape(2)
                .create("weight_names")
                .unwrap()
                .write_raw(&wn)
                .unwrap();
            let inner = g.create_group(lname).unwrap();
            let n: usize = kshape.iter().product();
            inner
                .new_dataset::<f32>()
                .shape(kshape.clone())
                .create("kernel:0")
                .unwrap()
                .write_raw(&vec![0.0f32; n])
                .unwrap();
            inner
                .new_dataset::<f32>()
                .shape(blen)
                .create("bias:0")
                .unwrap()
                .write_raw(&vec![0.0f32; blen])
                .unwrap();
        }
    }
    let e = ElephantWeights::from_file(&h).unwrap_err();
    assert!(matches!(e, CalciumError::Weights { .. }), "{e}");
    eprintln!("{e}");
    // Model files 1..5 and the retrained one all load.
    for m in [
        "model1.h5",
        "model2.h5",
        "model3.h5",
        "model4.h5",
        "model5.h5",
        "model_for_test_dataset1_retrained.h5",
    ] {
        assert_eq!(
            ElephantWeights::from_file(&datasets::elephant_model(m).unwrap())
                .unwrap()
                .n_params(),
            spikelab_calcium::weights::N_PARAMS
        );
    }
    let _ = Array2::<f64>::zeros((1, 1));
}
