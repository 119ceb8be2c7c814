//! Acceptance on the bundled convSeq demo (made by the original generator): the full
//! default run (α from 15 000 random filters, 4000 epochs of Adam, seed 0) must find
//! ≥ 42 of the 45 occurrences with F1 ≥ 0.9 and order Spearman ≥ 0.85. The sparse path
//! makes this a ~20 s test in release mode.

use spikelab_convseq::{ConvSeq, ConvSeqParams, metrics};
use spikelab_datasets::convseq as bundled;

#[test]
fn full_demo_run_meets_acceptance() {
    let raster = bundled::demo_raster().unwrap();
    let truth = bundled::demo_truth().unwrap();
    assert_eq!(truth.centres.len(), 45);
    assert_eq!(truth.members.len(), 120);
    let mut last_epoch = 0;
    let fit = ConvSeq::new(ConvSeqParams::default())
        .unwrap()
        .fit_with(&raster, |ep, _| last_epoch = ep)
        .unwrap();
    assert_eq!(last_epoch, 3999);
    assert_eq!(fit.loss_history.len(), 4000);

    // α: the original measured mean 0.9329, std 0.1200, α 1.5327 on an H100 (its own
    // generator run; ours differs by 2 spikes). Monte-Carlo agreement within 0.5 %.
    let null = &fit.null[0];
    assert_eq!(null.n_samples, 15_000);
    assert!(
        (null.mean - 0.9329).abs() < 0.005,
        "null mean {}",
        null.mean
    );
    assert!(
        (fit.alpha[0] - 1.5327).abs() < 0.0077,
        "alpha {}",
        fit.alpha[0]
    );

    // Training cannot change the projection mean (each spike adds weight 1).
    let proj = fit.projections.row(0);
    let mean = proj.iter().sum::<f64>() / proj.len() as f64;
    assert!((mean - null.mean).abs() < 0.01, "projection mean {mean}");
    assert!(fit.loss_history[3999].total < fit.loss_history[0].total);
    assert!(fit.loss_history[3999].var[0] > 5.0 * fit.loss_history[0].var[0]);

    // Detections.
    let det: Vec<f64> = fit.events.iter().map(|e| e.bin as f64).collect();
    let m = metrics::match_events(&det, &truth.centres, 200.0);
    assert!(m.true_positives >= 42, "TP {}", m.true_positives);
    assert!(m.f1 >= 0.9, "F1 {}", m.f1);
    let z = metrics::zone_metric(&fit.event_bins(0), &truth.centres, 200, raster.n_bins());
    assert!(z.true_positives >= 42);
    for e in &fit.events {
        assert!(e.height >= fit.alpha[0]);
        assert!((e.time_s - e.bin as f64 * 0.05).abs() < 1e-9);
    }

    // Order: Spearman of the true position vs the learned argmax lag of the 120 members.
    let pos: Vec<f64> = (0..120).map(|i| i as f64).collect();
    let lag: Vec<f64> = truth
        .members
        .iter()
        .map(|&n| fit.lags[[0, n]] as f64)
        .collect();
    let rho = metrics::spearman(&pos, &lag);
    assert!(rho >= 0.85, "Spearman {rho}");

    // Participation: called members are mostly true members, and most true ones are found.
    let called = fit.member_neurons(0);
    let tp = called.iter().filter(|n| truth.members.contains(n)).count();
    let precision = tp as f64 / called.len() as f64;
    let recall = tp as f64 / 120.0;
    assert!(
        precision >= 0.8 && recall >= 0.6,
        "members precision {precision} recall {recall}"
    );
}
