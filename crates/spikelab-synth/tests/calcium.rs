//! Calcium traces: noise level ν, kernel amplitudes, saturation, drift, bundled spikes, errors.

use spikelab_data::{SpikeTrains, io::csv};
use spikelab_datasets as datasets;
use spikelab_synth::{CalciumParams, Indicator, PoissonParams, SynthError, calcium::noise_level};

#[test]
fn noise_level_is_met_for_every_indicator_and_frame_rate() {
    let spikes = PoissonParams::constant(vec![0.3, 0.7, 1.5], 120.0)
        .generate(1)
        .unwrap()
        .0;
    for ind in Indicator::ALL {
        for fps in [7.5, 30.0, 100.0] {
            for nu in [2.0, 4.0, 8.0] {
                let p = CalciumParams::new(fps, ind)
                    .with_noise_level(nu)
                    .with_drift(0.02, 20.0);
                let (tr, truth) = p.generate(&spikes, 4).unwrap();
                for j in 0..3 {
                    let col = tr.trace(j).to_vec();
                    let got = noise_level(&col, fps);
                    assert!(
                        (got - nu).abs() < 0.05 * nu,
                        "{ind:?} {fps} Hz ν={nu}: {got}"
                    );
                    assert!((truth.noise_level[j] - got).abs() < 1e-12);
                    assert!(col.iter().all(|v| v.is_finite()));
                }
            }
        }
    }
}

#[test]
fn single_spike_peaks_at_the_amplitude() {
    let spikes = SpikeTrains::new(vec![vec![1.0]], 0.0, 5.0).unwrap();
    for ind in Indicator::ALL {
        let k = ind.kinetics();
        let (_, truth) = CalciumParams::new(1000.0, ind)
            .generate(&spikes, 0)
            .unwrap();
        let peak = truth
            .clean
            .column(0)
            .iter()
            .cloned()
            .fold(f64::MIN, f64::max);
        assert!(
            (peak - k.amplitude).abs() < 0.01 * k.amplitude,
            "{ind:?}: {peak}"
        );
        assert_eq!(truth.spike_counts.column(0).sum(), 1);
        // Nothing before the spike.
        assert!(truth.clean.column(0).iter().take(1000).all(|&v| v == 0.0));
    }
    // AR(2) from the same time constants, at 30 Hz: unit-peak impulse × amplitude.
    let k = Indicator::Gcamp6s.kinetics();
    let g = spikelab_synth::Kinetics::ar_coefficients(k.rise_s, k.decay_s, 30.0);
    let (_, truth) = CalciumParams::new(30.0, Indicator::Gcamp6s)
        .with_ar(g)
        .generate(&spikes, 0)
        .unwrap();
    let peak = truth
        .clean
        .column(0)
        .iter()
        .cloned()
        .fold(f64::MIN, f64::max);
    assert!((peak - k.amplitude).abs() < 1e-12);
}

#[test]
fn saturation_bounds_the_trace() {
    let spikes = PoissonParams::constant(vec![40.0], 20.0)
        .generate(3)
        .unwrap()
        .0;
    let (_, lin) = CalciumParams::new(30.0, Indicator::Gcamp6s)
        .generate(&spikes, 1)
        .unwrap();
    let (_, sat) = CalciumParams::new(30.0, Indicator::Gcamp6s)
        .with_saturation(2.0)
        .generate(&spikes, 1)
        .unwrap();
    let max_lin = lin.clean.iter().cloned().fold(f64::MIN, f64::max);
    let max_sat = sat.clean.iter().cloned().fold(f64::MIN, f64::max);
    assert!(max_lin > 4.0, "{max_lin}");
    assert!(max_sat < 2.0 && max_sat > 1.0, "{max_sat}");
}

#[test]
fn bundled_spikefinder_spikes_to_calcium() {
    // Spikefinder training spikes (dataset 1, 100 Hz counts) → times → GCaMP6s at 30 Hz.
    let (counts, _) = csv::read_spike_counts(
        &datasets::spikefinder_spikes(1, datasets::Split::Train).unwrap(),
        0.01,
    )
    .unwrap();
    let c = counts.counts();
    let (n, bins) = c.dim();
    let n = n.min(3);
    let trains: Vec<Vec<f64>> = (0..n)
        .map(|i| {
            let mut t = Vec::new();
            for b in 0..bins {
                for k in 0..c[[i, b]] {
                    t.push((b as f64 + (k as f64 + 0.5) / (c[[i, b]] as f64 + 1.0)) * 0.01);
                }
            }
            t
        })
        .collect();
    let total: usize = trains.iter().map(Vec::len).sum();
    assert!(total > 100);
    let st = SpikeTrains::new(trains, 0.0, bins as f64 * 0.01).unwrap();
    let (tr, truth) = CalciumParams::new(30.0, Indicator::Gcamp6s)
        .with_noise_level(2.0)
        .generate(&st, 8)
        .unwrap();
    let kept: u32 = truth.spike_counts.iter().sum();
    assert!(total as u32 - kept <= n as u32); // at most the last partial frame
    assert_eq!(tr.n_neurons(), n);
    for j in 0..n {
        let nu = noise_level(&tr.trace(j).to_vec(), 30.0);
        assert!((nu - 2.0).abs() < 0.1);
    }
    // Reproducible and serialisable.
    let (tr2, _) = CalciumParams::new(30.0, Indicator::Gcamp6s)
        .with_noise_level(2.0)
        .generate(&st, 8)
        .unwrap();
    assert_eq!(tr.data(), tr2.data());
    let json = serde_json::to_string(&truth).unwrap();
    assert!(json.contains("noise_sigma"));
}

#[test]
fn calcium_rejects_bad_input() {
    let spikes = PoissonParams::constant(vec![1.0], 10.0)
        .generate(0)
        .unwrap()
        .0;
    let bad = |p: CalciumParams| {
        matches!(
            p.generate(&spikes, 0),
            Err(SynthError::InvalidParameter { .. })
        )
    };
    assert!(bad(CalciumParams::new(0.0, Indicator::Ogb1)));
    assert!(bad(CalciumParams::new(-30.0, Indicator::Ogb1)));
    assert!(bad(CalciumParams::new(f64::NAN, Indicator::Ogb1)));
    assert!(bad(
        CalciumParams::new(30.0, Indicator::Ogb1).with_noise_level(-1.0)
    ));
    assert!(bad(
        CalciumParams::new(30.0, Indicator::Ogb1).with_saturation(0.0)
    ));
    assert!(bad(
        CalciumParams::new(30.0, Indicator::Ogb1).with_ar(vec![1.1])
    ));
    assert!(bad(
        CalciumParams::new(30.0, Indicator::Ogb1).with_ar(vec![])
    ));
    assert!(bad(CalciumParams::new(0.1, Indicator::Ogb1))); // a single frame
    let mut p = CalciumParams::new(30.0, Indicator::Ogb1);
    p.kinetics.model = spikelab_synth::KernelModel::RiseDecay {
        rise_s: 1.0,
        decay_s: 0.5,
    };
    assert!(bad(p));
    assert!(Indicator::from_name("GCaMP6f").is_ok());
    assert!(Indicator::from_name("gfp").is_err());
    // A huge drift makes the tiny target unreachable: typed error, not a wrong ν.
    let busy = PoissonParams::constant(vec![1.0], 10.0)
        .generate(0)
        .unwrap()
        .0;
    let r = CalciumParams::new(30.0, Indicator::Ogb1)
        .with_drift(5.0, 0.05)
        .with_noise_level(0.01)
        .generate(&busy, 0);
    assert!(matches!(r, Err(SynthError::NoiseLevelUnreachable { .. })));
}
