//! The memory-bounded Elephant path (`chunk_frames`) has the bits of the whole-trace path.
#![cfg(feature = "embedded-weights")]
use ndarray::{Array2, s};
use spikelab_calcium::deconvolve::{DeconvolverParams, ModelChoice, Units};
use spikelab_calcium::ensemble::ElephantEnsemble;
use spikelab_calcium::{CalciumError, ElephantCnn, Evaluation};
use spikelab_core::Silent;
use spikelab_data::CalciumTraces;

fn same_bits(a: &Array2<f64>, b: &Array2<f64>, what: &str) {
    assert_eq!(a.dim(), b.dim(), "{what}");
    for ((i, x), y) in a.indexed_iter().zip(b.iter()) {
        assert!(
            x.to_bits() == y.to_bits() || (x.is_nan() && y.is_nan()),
            "{what}: {i:?}: {x} vs {y}"
        );
    }
}

/// Spikefinder test set 5 (100 Hz), `frames` long, with NaN runs at the start, inside (also
/// across piece boundaries) and at the end, a shorter neuron, a constant and a too-short one.
fn traces(frames: usize) -> CalciumTraces {
    let set = spikelab_datasets::calcium::spikefinder_test(5).unwrap();
    let d = set.calcium.data().slice(s![..frames, ..3]).to_owned();
    let mut cols: Vec<Vec<f64>> = (0..3).map(|j| d.column(j).to_vec()).collect();
    let runs = (0..5)
        .chain(300..420)
        .chain(1000..1003)
        .chain(frames - 7..frames);
    for i in runs.filter(|&i| i < frames) {
        cols[0][i] = f64::NAN;
    }
    cols[1][frames / 2] = f64::NAN;
    cols[2].truncate(frames * 2 / 3);
    cols.push(vec![1.5; frames]);
    cols.push(d.column(0).slice(s![..100]).to_vec());
    CalciumTraces::from_columns(&cols, 100.0).unwrap()
}

#[test]
fn pieces_of_any_size_give_the_whole_trace_bits() {
    let tr = traces(3000);
    // A 7-window kernel chunk makes pieces far shorter than the 128-frame window.
    let cnn = ElephantCnn::embedded(1)
        .unwrap()
        .with_chunk_outputs(7)
        .unwrap();
    let (whole, skipped) = cnn.predict_report(&tr).unwrap();
    assert_eq!(skipped.len(), 2);
    for chunk in [
        1usize,
        6,
        7,
        8,
        20,
        127,
        128,
        129,
        1000,
        2871,
        2872,
        3000,
        1 << 20,
    ] {
        let (b, sk) = cnn.predict_report_bounded(&tr, chunk).unwrap();
        same_bits(&b, &whole, &format!("chunk {chunk}"));
        assert_eq!(sk, skipped);
    }
}

#[test]
fn default_kernel_and_per_window_evaluation_keep_their_bits() {
    let tr = traces(9000);
    let cnn = ElephantCnn::embedded(2).unwrap();
    let whole = cnn.predict(&tr).unwrap();
    for chunk in [1usize, 4096, 5000, 8192, 8872, 100_000] {
        let (b, _) = cnn.predict_report_bounded(&tr, chunk).unwrap();
        same_bits(&b, &whole, &format!("chunk {chunk}"));
    }
    let short = traces(700);
    let pw = ElephantCnn::embedded(1)
        .unwrap()
        .with_evaluation(Evaluation::PerWindow)
        .with_batch_size(50)
        .unwrap();
    let whole = pw.predict(&short).unwrap();
    for chunk in [1usize, 120, 572] {
        let (b, _) = pw.predict_report_bounded(&short, chunk).unwrap();
        same_bits(&b, &whole, &format!("per-window chunk {chunk}"));
    }
}

#[test]
fn ensemble_bounded_is_the_ensemble_mean() {
    let tr = traces(3000);
    let e = ElephantEnsemble::embedded().unwrap();
    let whole = e.predict(&tr).unwrap();
    for chunk in [1usize, 4096] {
        same_bits(&e.predict_bounded(&tr, chunk).unwrap(), &whole, "ensemble");
    }
}

#[test]
fn deconvolver_default_is_bounded_and_matches_whole_trace() {
    assert_eq!(
        DeconvolverParams::default().chunk_frames,
        Some(spikelab_calcium::deconvolve::DEFAULT_CHUNK_FRAMES)
    );
    let at100 = traces(3000);
    let data30 = at100.data().slice(s![..1000, ..]).to_owned();
    let at30 = CalciumTraces::new(data30, 30.0).unwrap();
    for (tr, model, units) in [
        (&at100, ModelChoice::Embedded(1), Units::Network),
        (&at100, ModelChoice::EmbeddedEnsemble, Units::RatesHz),
        (&at30, ModelChoice::Embedded(3), Units::RatesHz),
    ] {
        let run = |chunk_frames| {
            DeconvolverParams {
                model: model.clone(),
                units,
                chunk_frames,
                ..Default::default()
            }
            .build()
            .unwrap()
            .run(tr, &mut Silent)
            .unwrap()
        };
        let whole = run(None);
        for chunk in [Some(1), Some(4096), Some(1 << 18)] {
            let b = run(chunk);
            same_bits(&b.values, &whole.values, &format!("{model} {chunk:?}"));
            // NaN noise levels compare equal in their JSON form (`null`).
            assert_eq!(
                serde_json::to_string(&b.report).unwrap(),
                serde_json::to_string(&whole.report).unwrap()
            );
        }
    }
}

#[test]
fn a_zero_chunk_is_a_typed_error() {
    let p = DeconvolverParams {
        chunk_frames: Some(0),
        ..Default::default()
    };
    assert!(matches!(
        p.build(),
        Err(CalciumError::InvalidParameter {
            name: "chunk_frames",
            ..
        })
    ));
    let cnn = ElephantCnn::embedded(1).unwrap();
    assert!(matches!(
        cnn.predict_report_bounded(&traces(600), 0),
        Err(CalciumError::InvalidParameter { .. })
    ));
    let e = ElephantEnsemble::embedded().unwrap();
    assert!(e.predict_bounded(&traces(600), 0).is_err());
}
