//! The `Deconvolver` pipeline: the same numbers as the model calls it wraps at the model's rate,
//! results back at the input's rate and length otherwise, the report and the observer.
#![cfg(all(feature = "keras-h5", feature = "embedded-weights"))]

use ndarray::{Array2, Ix2};
use spikelab_calcium::calibration::Calibration;
use spikelab_calcium::cascade::{CascadeModel, PredictOptions};
use spikelab_calcium::deconvolve::{
    DeconvolverParams, ModelChoice, RateHandling, Units, to_input_frames,
};
use spikelab_calcium::ensemble::ElephantEnsemble;
use spikelab_calcium::network::Skipped;
use spikelab_calcium::preprocess::fft_resample_nan;
use spikelab_calcium::{CalciumError, ElephantCnn};
use spikelab_core::{Flow, Progress, Silent};
use spikelab_data::CalciumTraces;
use spikelab_data::io::ReadOptions;
use spikelab_datasets as datasets;

fn same_bits(a: &Array2<f64>, b: &Array2<f64>) {
    assert_eq!(a.dim(), b.dim());
    for (x, y) in a.iter().zip(b) {
        assert!(x.to_bits() == y.to_bits(), "{x} vs {y}");
    }
}

fn test5() -> CalciumTraces {
    let p = datasets::spikefinder_calcium(5, datasets::Split::Test).unwrap();
    let o = ReadOptions {
        frame_rate_hz: Some(100.0),
        ..ReadOptions::default()
    };
    spikelab_data::io::read_traces(&p, &o).unwrap()
}

fn pearson(a: &[f64], b: &[f64]) -> f64 {
    let (x, y): (Vec<f64>, Vec<f64>) = a
        .iter()
        .zip(b)
        .filter(|(x, y)| x.is_finite() && y.is_finite())
        .map(|(x, y)| (*x, *y))
        .unzip();
    spikelab_core::stats::pearson(&x, &y).unwrap()
}

fn cascade_dir() -> std::path::PathBuf {
    datasets::path("models/cascade/Global_EXC_30Hz_smoothing50ms_causalkernel").unwrap()
}

#[test]
fn elephant_at_100_hz_is_the_network_itself() {
    let tr = test5();
    let out = DeconvolverParams::default()
        .build()
        .unwrap()
        .run(&tr, &mut Silent)
        .unwrap();
    same_bits(
        &out.values,
        &ElephantCnn::embedded(1).unwrap().predict(&tr).unwrap(),
    );
    assert_eq!(out.report.rate_handling, RateHandling::AsIs);
    assert!(out.report.skipped.is_empty() && !out.report.preprocessed);
    assert_eq!(out.report.noise_levels.len(), 8);

    let params = DeconvolverParams {
        model: ModelChoice::EmbeddedEnsemble,
        units: Units::RatesHz,
        ..Default::default()
    };
    // Two neurons are enough for the ensemble (ten network runs).
    let two = CalciumTraces::new(tr.data().slice(ndarray::s![.., ..2]).to_owned(), 100.0).unwrap();
    let out = params.build().unwrap().run(&two, &mut Silent).unwrap();
    let e = ElephantEnsemble::embedded().unwrap().predict(&two).unwrap();
    same_bits(
        &out.values,
        &Calibration::embedded_ensemble().rates_hz(&e, 100.0),
    );
    assert_eq!(
        out.report.calibration,
        Some(Calibration::embedded_ensemble())
    );
}

#[test]
fn elephant_off_rate_comes_back_at_the_input_rate() {
    // Test 5 resampled to 50 Hz; the answer at 50 Hz must follow the 100 Hz answer.
    let tr = test5();
    let n = tr.n_frames() / 2;
    let cols: Vec<Vec<f64>> = (0..tr.n_neurons())
        .map(|j| fft_resample_nan(&tr.data().column(j).to_vec(), n))
        .collect();
    let tr50 = CalciumTraces::from_columns(&cols, 50.0).unwrap();
    let params = DeconvolverParams {
        units: Units::RatesHz,
        ..Default::default()
    };
    let d = params.build().unwrap();
    let out = d.run(&tr50, &mut Silent).unwrap();
    assert_eq!(out.values.dim(), (n, 8));
    let r = &out.report;
    assert_eq!(
        (r.input_rate_hz, r.output_rate_hz, r.model_rate_hz),
        (50.0, 50.0, 100.0)
    );
    assert_eq!(r.rate_handling, RateHandling::Resampled);
    assert!(r.preprocessed);
    assert_eq!(r.n_model_frames, 2 * n);
    // NaN at the borders only (32 and 96 model frames → 16 and 48 input frames, ±1).
    for j in 0..8 {
        let c = out.values.column(j);
        assert!(c[15].is_nan() && c[17].is_finite(), "neuron {j}");
        if tr.valid_lengths()[j] == tr.n_frames() {
            assert!(c[n - 50].is_finite() && c[n - 47].is_nan(), "neuron {j}");
        }
        assert!(c.iter().all(|v| v.is_nan() || *v >= 0.0));
    }
    let full = d.run(&tr, &mut Silent).unwrap().values;
    let back = to_input_frames(&full, n, 2.0);
    for j in 0..8 {
        let r = pearson(&out.values.column(j).to_vec(), &back.column(j).to_vec());
        assert!(r > 0.8, "neuron {j}: r = {r}");
    }
}

#[test]
fn cascade_within_and_beyond_its_rate() {
    let x: Array2<f64> = spikelab_data::io::npy::read_typed::<f64, Ix2>(
        &datasets::path("cascade-golden/ds09_global_exc_30hz/input_dff.npy").unwrap(),
    )
    .unwrap();
    // The golden rows plus an all-NaN neuron.
    let mut cols: Vec<Vec<f64>> = x.outer_iter().map(|r| r.to_vec()).collect();
    cols.push(vec![f64::NAN; x.ncols()]);
    let tr30 = CalciumTraces::new(
        Array2::from_shape_fn((x.ncols(), cols.len()), |(t, j)| cols[j][t]),
        30.0,
    )
    .unwrap();
    let params = DeconvolverParams {
        model: ModelChoice::Cascade(cascade_dir()),
        ..Default::default()
    };
    let d = params.clone().build().unwrap();
    let out = d.run(&tr30, &mut Silent).unwrap();
    let m = CascadeModel::load_partial(&cascade_dir()).unwrap();
    let p = m.predict(&tr30, &PredictOptions::default()).unwrap();
    same_bits(&out.values, &p.spike_prob.t().to_owned());
    let c = out.report.cascade.as_ref().unwrap();
    assert_eq!(c.model_noise_level, p.model_noise_level);
    let last = tr30.n_neurons() - 1;
    assert_eq!(out.report.skipped.len(), 1);
    assert_eq!(
        (out.report.skipped[0].neuron, &out.report.skipped[0].reason),
        (last, &Skipped::AllNan)
    );

    // 60 Hz: refused without resampling, at 60 Hz with it.
    let n = 2 * tr30.n_frames();
    let cols: Vec<Vec<f64>> = (0..tr30.n_neurons())
        .map(|j| fft_resample_nan(&tr30.data().column(j).to_vec(), n))
        .collect();
    let tr60 = CalciumTraces::from_columns(&cols, 60.0).unwrap();
    assert!(matches!(
        d.run(&tr60, &mut Silent),
        Err(CalciumError::FrameRateMismatch { .. })
    ));
    let d = DeconvolverParams {
        resample: true,
        ..params
    }
    .build()
    .unwrap();
    let out60 = d.run(&tr60, &mut Silent).unwrap();
    assert_eq!(out60.values.dim(), (n, tr30.n_neurons()));
    assert_eq!(out60.report.rate_handling, RateHandling::Resampled);
    // Spikes per 60-Hz frame: half the 30-Hz frame's, the same total.
    for j in 0..tr30.n_neurons() {
        let a: Vec<f64> = out.values.column(j).to_vec();
        if a.iter().all(|v| v.is_nan()) {
            continue;
        }
        let col60 = out60
            .values
            .column(j)
            .to_owned()
            .insert_axis(ndarray::Axis(1));
        let b = to_input_frames(&col60, a.len(), 2.0);
        let b: Vec<f64> = b.column(0).iter().map(|v| 2.0 * v).collect();
        let r = pearson(&a, &b);
        assert!(r > 0.95, "neuron {j}: r = {r}");
        let (sa, sb): (f64, f64) = a
            .iter()
            .zip(&b)
            .filter(|(x, y)| x.is_finite() && y.is_finite())
            .fold((0.0, 0.0), |(s, t), (x, y)| (s + x, t + y));
        assert!(
            (sa - sb).abs() <= 0.05 * sa.abs().max(1.0),
            "neuron {j}: {sa} vs {sb}"
        );
    }
}

#[test]
fn report_observer_and_bad_parameters() {
    // Neuron 0 fine, 1 all NaN, 2 constant.
    let good: Vec<f64> = (0..1000)
        .map(|i| ((i as f64 * 0.3).sin() * 2.0).exp())
        .collect();
    let tr =
        CalciumTraces::from_columns(&[good, vec![f64::NAN; 1000], vec![1.0; 1000]], 100.0).unwrap();
    let d = DeconvolverParams::default().build().unwrap();
    let mut seen = Vec::new();
    let mut obs = |p: &Progress<'_>| {
        seen.push((p.stage.to_string(), p.step, p.total));
        Flow::Continue
    };
    let out = d.run(&tr, &mut obs).unwrap();
    assert_eq!(seen.len(), 3);
    assert_eq!(seen[2], ("deconvolve".to_string(), 2, Some(3)));
    let reasons: Vec<(usize, Skipped)> = out
        .report
        .skipped
        .iter()
        .map(|s| (s.neuron, s.reason.clone()))
        .collect();
    assert_eq!(reasons, [(1, Skipped::AllNan), (2, Skipped::Constant)]);
    let json = serde_json::to_value(&out.report).unwrap();
    assert_eq!(json["skipped"][0]["reason"], "all_nan");
    assert_eq!(json["family"], "elephant");

    let mut stop = |_: &Progress<'_>| Flow::Stop;
    assert!(matches!(
        d.run(&tr, &mut stop),
        Err(CalciumError::Stopped { .. })
    ));

    let no_cal = DeconvolverParams {
        model: ModelChoice::ElephantFile(
            datasets::elephant_model("model_for_test_dataset1_retrained.h5").unwrap(),
        ),
        units: Units::RatesHz,
        ..Default::default()
    };
    assert!(matches!(
        no_cal.build(),
        Err(CalciumError::InvalidParameter {
            name: "calibration",
            ..
        })
    ));
    let bad = DeconvolverParams {
        model: ModelChoice::Embedded(6),
        ..Default::default()
    };
    assert!(bad.build().is_err());
    let missing = DeconvolverParams {
        model: ModelChoice::Cascade("/nonexistent/model".into()),
        ..Default::default()
    };
    assert!(matches!(missing.build(), Err(CalciumError::Model { .. })));
}

/// A CASCADE model loaded with another weight reader (here libhdf5's layers through the shared
/// `from_keras_layers` mapping, as the Python package does with h5py) runs with the same bits as
/// `build()`; a reader returning another architecture is a model error.
#[test]
fn cascade_loaded_with_a_reader_equals_build() {
    use spikelab_calcium::spikenet::{KerasLayer, KerasWeight, SpikeNetArch, SpikeNetWeights};
    let tr = CalciumTraces::new(
        Array2::from_shape_fn((400, 2), |(t, j)| {
            ((t as f64 * 0.21 + j as f64).sin()).exp() * 0.1
        }),
        30.0,
    )
    .unwrap();
    let params = DeconvolverParams {
        model: ModelChoice::Cascade(cascade_dir()),
        ..Default::default()
    };
    let want = params
        .clone()
        .build()
        .unwrap()
        .run(&tr, &mut Silent)
        .unwrap();
    let mut calls = 0;
    let m = CascadeModel::load_partial_with(&cascade_dir(), |p, arch| {
        calls += 1;
        let w = SpikeNetWeights::from_keras_h5(p, arch)?;
        // The layers as an h5py reader hands them over, with a weightless layer in between.
        let mut layers: Vec<KerasLayer> = (0..5)
            .map(|i| KerasLayer {
                name: format!("l{i}"),
                weights: vec![
                    KerasWeight {
                        name: "kernel:0".into(),
                        shape: arch.kernel_shapes()[i].clone(),
                        values: w.kernels[i].clone(),
                    },
                    KerasWeight {
                        name: "bias:0".into(),
                        shape: vec![arch.bias_lens()[i]],
                        values: w.biases[i].clone(),
                    },
                ],
            })
            .collect();
        layers.insert(
            2,
            KerasLayer {
                name: "pool".into(),
                weights: vec![],
            },
        );
        SpikeNetWeights::from_keras_layers(layers, arch, &p.display().to_string())
    })
    .unwrap();
    assert_eq!(calls, 35);
    let got = params.clone().build_with_cascade(m).unwrap();
    same_bits(&got.run(&tr, &mut Silent).unwrap().values, &want.values);
    // Row-major, as the `.npy` and NWB writers of the CLI take it.
    assert!(want.values.is_standard_layout());
    assert_eq!(got.params().model, params.model);

    let e = CascadeModel::load_partial_with(&cascade_dir(), |_, _| {
        SpikeNetWeights::glorot_uniform(SpikeNetArch::ELEPHANT, 0)
    })
    .unwrap_err();
    assert!(matches!(e, CalciumError::Model { .. }), "{e}");
    // No weighted layers: the mapping refuses them.
    let e = SpikeNetWeights::from_keras_layers(
        vec![
            KerasLayer {
                name: "x".into(),
                weights: vec![],
            };
            4
        ],
        &SpikeNetArch::CASCADE,
        "test",
    )
    .unwrap_err();
    assert!(matches!(e, CalciumError::Weights { .. }), "{e}");
}
