//! Acceptance on the bundled convSeq demo (made by the original generator): the full
//! default run (α from 15 000 random filters, 4000 epochs of Adam, seed 0) must find
//! ≥ 42 of the 45 occurrences with F1 ≥ 0.9 and order Spearman ≥ 0.85. The sparse path
//! makes this a ~20 s test in release mode.

use spikelab_convseq::{AlphaOptions, ConvSeq, ConvSeqParams, NullKind, metrics};
use spikelab_core::{Flow, Progress};
use spikelab_datasets::convseq as bundled;

#[test]
fn full_demo_run_meets_acceptance() {
    let raster = bundled::demo_raster().unwrap();
    let truth = bundled::demo_truth().unwrap();
    assert_eq!(truth.centres_bins.len(), 45);
    assert_eq!(truth.members.len(), 120);
    let mut last_epoch = 0;
    let fit = ConvSeq::new(ConvSeqParams::default())
        .unwrap()
        .fit_with(&raster, &mut |p: &Progress| {
            last_epoch = p.step;
            Flow::Continue
        })
        .unwrap();
    assert_eq!(last_epoch, 3999);
    assert_eq!(fit.loss_history.len(), 4000);
    let det = &fit.detection;

    // α: the original measured mean 0.9329, std 0.1200, α 1.5327 on an H100 (its own
    // generator run; ours differs by 2 spikes). Monte-Carlo agreement within 0.5 %.
    let null = &det.null[0];
    assert_eq!(null.n_samples, 15_000);
    assert!(
        (null.mean - 0.9329).abs() < 0.005,
        "null mean {}",
        null.mean
    );
    assert!(
        (det.alpha[0] - 1.5327).abs() < 0.0077,
        "alpha {}",
        det.alpha[0]
    );

    // The control-variate estimate of the same statistic from 300 filters (a fit with
    // `NullKind::RandomFiltersControlVariate`): measured 1.531600 vs this run's 1.531618; the
    // Monte-Carlo standard error of the 15 000-filter α is 3.9e-5.
    let cv_params = ConvSeqParams {
        epochs: 1,
        alpha: AlphaOptions {
            null: NullKind::RandomFiltersControlVariate,
            n_samples: 300,
            ..AlphaOptions::default()
        },
        ..ConvSeqParams::default()
    };
    let cv = ConvSeq::new(cv_params).unwrap().fit(&raster).unwrap();
    let cv_null = &cv.detection.null[0];
    assert_eq!(
        (cv_null.null, cv_null.n_samples),
        (NullKind::RandomFiltersControlVariate, 300)
    );
    assert!(
        (cv.detection.alpha[0] - det.alpha[0]).abs() < 1e-4,
        "control variate α {} vs Monte-Carlo {}",
        cv.detection.alpha[0],
        det.alpha[0]
    );

    // Training cannot change the projection mean (each spike adds weight 1).
    let proj = det.projections.row(0);
    let mean = proj.iter().sum::<f64>() / proj.len() as f64;
    assert!((mean - null.mean).abs() < 0.01, "projection mean {mean}");
    assert!(fit.loss_history[3999].total < fit.loss_history[0].total);
    assert!(fit.loss_history[3999].var[0] > 5.0 * fit.loss_history[0].var[0]);

    // Detections (±200 bins), order (Spearman of the true position vs the learned argmax
    // lag of the 120 members) and called members.
    let s = metrics::score(det, 0, &truth, 200.0).unwrap();
    assert!(
        s.events.true_positives >= 42,
        "TP {}",
        s.events.true_positives
    );
    assert!(s.events.f1 >= 0.9, "F1 {}", s.events.f1);
    assert!(s.order_spearman >= 0.85, "Spearman {}", s.order_spearman);
    assert!(
        s.member_precision >= 0.8 && s.member_recall >= 0.6,
        "members precision {} recall {}",
        s.member_precision,
        s.member_recall
    );
    let z = metrics::zone_metric(
        &fit.event_bins(0),
        &truth.centres_bins,
        200,
        raster.n_bins() as usize,
    );
    assert!(z.true_positives >= 42);
    for e in &det.events {
        assert!(e.height >= det.alpha[0]);
        assert!((e.time_s - e.bin as f64 * 0.05).abs() < 1e-9);
    }
    // The learned lags of the fit are the members' lags of its detection.
    for m in &det.members[0] {
        assert_eq!(m.lag_bins, fit.lags[[0, m.neuron]]);
    }
}

/// An observer that answers `Flow::Stop` ends training after that epoch, and the read-out
/// is made from the filters reached.
#[test]
fn observer_can_stop_training() {
    let raster = bundled::demo_raster().unwrap().slice_bins(0, 3000).unwrap();
    let p = ConvSeqParams {
        epochs: 50,
        alpha: spikelab_convseq::AlphaOptions {
            n_samples: 50,
            ..Default::default()
        },
        ..Default::default()
    };
    let fit = ConvSeq::new(p)
        .unwrap()
        .fit_with(&raster, &mut |p: &Progress| {
            assert_eq!((p.stage, p.total), ("epoch", Some(50)));
            if p.step == 9 {
                Flow::Stop
            } else {
                Flow::Continue
            }
        })
        .unwrap();
    assert_eq!(fit.loss_history.len(), 10);
    assert_eq!(fit.detection.projections.ncols(), 3001);
}
