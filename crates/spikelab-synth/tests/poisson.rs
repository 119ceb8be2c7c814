//! Poisson/gamma populations: rates, dead time, regularity, time-varying rates, errors.

use ndarray::Array2;
use spikelab_synth::{PoissonParams, SynthError};

#[test]
fn constant_rates_dead_time_and_reproducibility() {
    let rates: Vec<f64> = (0..200).map(|i| 1.0 + i as f64 * 0.2).collect();
    let p = PoissonParams::constant(rates.clone(), 100.0).with_refractory_s(0.002);
    let (st, truth) = p.generate(11).unwrap();
    assert_eq!(st.n_units(), 200);
    // Total count vs expectation: Poisson-ish, within 4 sd.
    let expected: f64 = rates.iter().sum::<f64>() * 100.0;
    let got = st.total_spikes() as f64;
    assert!(
        (got - expected).abs() < 4.0 * expected.sqrt(),
        "{got} vs {expected}"
    );
    // Per-neuron rates within 5 sd.
    for (i, (&r, &q)) in rates.iter().zip(&truth.realised_rates_hz).enumerate() {
        let sd = (r / 100.0).sqrt();
        assert!((q - r).abs() < 5.0 * sd, "neuron {i}: {q} vs {r}");
    }
    for tr in st.trains() {
        assert!(tr.windows(2).all(|w| w[1] - w[0] >= 0.002 - 1e-12));
        assert!(tr.iter().all(|&t| (0.0..100.0).contains(&t)));
    }
    assert_eq!(p.generate(11).unwrap().0, st);
    assert_ne!(p.generate(12).unwrap().0, st);
    let json = serde_json::to_string(&truth).unwrap();
    let back: spikelab_synth::PoissonTruth = serde_json::from_str(&json).unwrap();
    assert_eq!(back.seed, truth.seed);
    for (a, b) in back.realised_rates_hz.iter().zip(&truth.realised_rates_hz) {
        assert!((a - b).abs() <= 1e-12 * b.abs());
    }
}

#[test]
fn gamma_shape_sets_interval_cv() {
    for shape in [1.0, 4.0] {
        let (st, _) = PoissonParams::constant(vec![20.0; 20], 200.0)
            .with_gamma_shape(shape)
            .generate(2)
            .unwrap();
        let isis: Vec<f64> = st
            .trains()
            .iter()
            .flat_map(|t| t.windows(2).map(|w| w[1] - w[0]).collect::<Vec<_>>())
            .collect();
        let n = isis.len() as f64;
        let m = isis.iter().sum::<f64>() / n;
        let v = isis.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (n - 1.0);
        let cv = v.sqrt() / m;
        let want = 1.0 / shape.sqrt();
        assert!(
            (cv - want).abs() < 0.05 * want + 0.01,
            "shape {shape}: CV {cv} vs {want}"
        );
        assert!((m - 0.05).abs() < 0.002, "mean ISI {m}");
    }
}

#[test]
fn time_varying_rates_follow_the_profile() {
    // 100 neurons, rate 5 Hz for 10 s then 40 Hz for 10 s, 3-ms dead time.
    let steps = 200;
    let mut r = Array2::<f64>::zeros((100, steps));
    for s in 0..steps {
        let v = if s < 100 { 5.0 } else { 40.0 };
        r.column_mut(s).fill(v);
    }
    let (st, truth) = PoissonParams::time_varying(r, 0.1)
        .with_refractory_s(0.003)
        .generate(4)
        .unwrap();
    let (mut a, mut b) = (0usize, 0usize);
    for tr in st.trains() {
        a += tr.iter().filter(|&&t| t < 10.0).count();
        b += tr.iter().filter(|&&t| t >= 10.0).count();
    }
    let ra = a as f64 / 100.0 / 10.0;
    let rb = b as f64 / 100.0 / 10.0;
    assert!((ra - 5.0).abs() < 0.3, "{ra}");
    assert!((rb - 40.0).abs() < 1.2, "{rb}");
    assert!((truth.rates_hz[0] - 22.5).abs() < 1e-12);
}

#[test]
fn poisson_rejects_bad_input() {
    let bad = |p: PoissonParams| matches!(p.generate(0), Err(SynthError::InvalidParameter { .. }));
    assert!(bad(PoissonParams::constant(vec![1.0, 0.0], 1.0)));
    assert!(bad(PoissonParams::constant(vec![-1.0], 1.0)));
    assert!(bad(PoissonParams::constant(vec![f64::NAN], 1.0)));
    assert!(bad(PoissonParams::constant(vec![], 1.0)));
    assert!(bad(PoissonParams::constant(vec![1.0], 0.0)));
    assert!(bad(
        PoissonParams::constant(vec![600.0], 1.0).with_refractory_s(0.002)
    ));
    assert!(bad(
        PoissonParams::constant(vec![1.0], 1.0).with_gamma_shape(0.0)
    ));
    assert!(bad(PoissonParams::time_varying(
        Array2::from_elem((2, 3), -1.0),
        0.1
    )));
    assert!(bad(PoissonParams::time_varying(
        Array2::from_elem((2, 3), 1.0),
        0.0
    )));
}
