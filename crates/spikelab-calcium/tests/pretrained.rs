//! What `spikelab-calcium` compiles in (feature `embedded-weights`) equals what the bundled
//! files give: the weights bit for bit, the embedding exactly, the calibration constants to
//! the f32 rounding of the re-fit.
#![cfg(feature = "embedded-weights")]

use spikelab_calcium::ElephantCnn;
use spikelab_calcium::calibration::Calibration;
use spikelab_calcium::embedding::Embedding;

#[cfg(feature = "keras-h5")]
#[test]
fn embedded_weights_match_keras() {
    use spikelab_calcium::ElephantWeights;
    for n in 1..=5u8 {
        let h5 = spikelab_datasets::elephant_model(&format!("model{n}.h5")).unwrap();
        let keras = ElephantWeights::from_keras_h5(&h5).unwrap();
        assert_eq!(ElephantWeights::embedded(n).unwrap(), keras, "model{n}");
    }
}

#[test]
fn embedded_embedding_matches_artefacts() {
    let p = spikelab_datasets::elephant_stat_embedding("Parameters174py.mat").unwrap();
    let files = Embedding::from_artefacts(p.parent().unwrap()).unwrap();
    let embedded = Embedding::embedded().unwrap();
    assert_eq!(embedded.parts(), files.parts());
}

/// The network runs in f32, and its matrix kernels round differently on CPUs with and without
/// AVX-512 (re-fits differ by ~1.6e-9 relative between two such machines), so the bound is
/// 1e-6 relative: still a thousand times tighter than any change of the data or the fit.
fn assert_close(stored: Calibration, refit: Calibration, what: &str) {
    let ok = |a: f64, b: f64| (a - b).abs() <= 1e-6 * b.abs().max(1e-3);
    assert!(
        ok(stored.intercept, refit.intercept) && ok(stored.slope, refit.slope),
        "{what}: stored {stored:?}, re-fit {refit:?}"
    );
}

/// The stored constants are the fit on Spikefinder train 4, 5, 6 (prints them for updating).
#[test]
fn stored_calibrations_match_refit() {
    let sets = spikelab_datasets::calcium::calibration_sets().unwrap();
    let mut preds = Vec::new();
    for n in 1..=5u8 {
        let cnn = ElephantCnn::embedded(n).unwrap();
        let p: Vec<_> = sets
            .iter()
            .map(|s| cnn.predict(&s.calcium).unwrap())
            .collect();
        let refit = Calibration::fit_predictions(&p, &sets).unwrap();
        println!("model{n}: {refit:?}");
        preds.push(p);
    }
    // The ensemble's prediction is the members' mean, summed in member order.
    let mean: Vec<_> = (0..sets.len())
        .map(|i| {
            let mut sum = preds[0][i].clone();
            for p in &preds[1..] {
                sum += &p[i];
            }
            sum / preds.len() as f64
        })
        .collect();
    let ens = Calibration::fit_predictions(&mean, &sets).unwrap();
    println!("ensemble: {ens:?}");
    for (n, p) in (1..=5u8).zip(&preds) {
        let refit = Calibration::fit_predictions(p, &sets).unwrap();
        assert_close(
            Calibration::embedded(n).unwrap(),
            refit,
            &format!("model{n}"),
        );
    }
    assert_close(Calibration::embedded_ensemble(), ens, "ensemble");
}
