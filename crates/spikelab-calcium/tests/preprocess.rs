//! Preprocessing: FFT resampling against a direct DFT implementation of SciPy's algorithm,
//! running percentile against a brute-force one, noise level, NaN handling.
#![allow(clippy::needless_range_loop, clippy::manual_memcpy)] // the reference DFT is written index by index on purpose
use spikelab_calcium::preprocess::{Preprocessing, fft_resample, noise_level, running_percentile};
use spikelab_core::stats::percentile_of_sorted;
use spikelab_datasets::{self as datasets, Split};

/// scipy.signal.resample written out with an O(n²) DFT (independent of rustfft).
fn dft_resample(x: &[f64], num: usize) -> Vec<f64> {
    use std::f64::consts::PI;
    let n = x.len();
    let spec: Vec<(f64, f64)> = (0..n)
        .map(|k| {
            x.iter().enumerate().fold((0.0, 0.0), |(re, im), (t, &v)| {
                let a = -2.0 * PI * (k * t) as f64 / n as f64;
                (re + v * a.cos(), im + v * a.sin())
            })
        })
        .collect();
    // Full two-sided spectrum of length num, as scipy's complex path builds it.
    let mut y = vec![(0.0, 0.0); num];
    let m = n.min(num);
    let half = m / 2 + 1;
    for k in 0..half.min(n) {
        y[k] = spec[k];
    }
    for k in 1..(m - half + 1) {
        y[num - k] = spec[n - k];
    }
    if m.is_multiple_of(2) {
        let k = m / 2;
        if num < n {
            // fold: bin k gets X[k] + X[n-k]
            y[k] = (spec[k].0 + spec[n - k].0, spec[k].1 + spec[n - k].1);
        } else if num > n {
            y[k] = (spec[k].0 * 0.5, spec[k].1 * 0.5);
            y[num - k] = y[k];
        }
    }
    (0..num)
        .map(|t| {
            y.iter()
                .enumerate()
                .map(|(k, &(re, im))| {
                    let a = 2.0 * PI * (k * t) as f64 / num as f64;
                    re * a.cos() - im * a.sin()
                })
                .sum::<f64>()
                / n as f64
        })
        .collect()
}

#[test]
fn fft_resample_matches_scipy_algorithm_for_odd_and_even_lengths() {
    let tr = spikelab_data::io::csv::read_calcium(
        &datasets::spikefinder_calcium(4, Split::Test).unwrap(),
        100.0,
    )
    .unwrap();
    let x: Vec<f64> = tr.trace(1).iter().skip(1000).take(240).copied().collect();
    for (n, num) in [
        (240, 100),
        (240, 333),
        (239, 100),
        (239, 480),
        (240, 240),
        (101, 50),
        (100, 37),
    ] {
        let a = fft_resample(&x[..n], num);
        let b = dft_resample(&x[..n], num);
        let d = a
            .iter()
            .zip(&b)
            .map(|(p, q)| (p - q).abs())
            .fold(0.0, f64::max);
        assert!(d < 1e-9, "n={n} num={num}: {d}");
    }
}

#[test]
fn running_percentile_matches_brute_force() {
    let x: Vec<f64> = (0..500)
        .map(|i| ((i * 7919) % 101) as f64 + 0.1 * i as f64)
        .collect();
    let w = 60;
    let fast = running_percentile(&x, w, 5.0).unwrap();
    let d = w / 2 + 1;
    for t in 0..x.len() {
        let lo = (t + 1).saturating_sub(d);
        let hi = (t + d).min(x.len());
        let mut s = x[lo..hi].to_vec();
        s.sort_by(f64::total_cmp);
        assert_eq!(fast[t], percentile_of_sorted(&s, 5.0).unwrap());
    }
}

#[test]
fn preprocessing_resamples_and_keeps_nan_frames() {
    let tr = spikelab_data::io::csv::read_calcium(
        &datasets::spikefinder_calcium(5, Split::Test).unwrap(),
        100.0,
    )
    .unwrap();
    // Treat 3000 frames as a 30 Hz recording, with a NaN gap.
    let mut x: Vec<f64> = tr.trace(0).iter().take(3000).copied().collect();
    x[1500..1530].iter_mut().for_each(|v| *v = f64::NAN);
    let (y, rate) = Preprocessing::default().apply_trace(&x, 30.0).unwrap();
    assert_eq!(rate, 100.0);
    assert_eq!(y.len(), 10000);
    let nans = y.iter().filter(|v| v.is_nan()).count();
    assert!((95..=105).contains(&nans), "{nans}");
    assert!(y[..4900].iter().all(|v| v.is_finite()));
    // No resampling needed: same length, no crash (the original raised NameError here).
    let clean: Vec<f64> = tr.trace(0).iter().take(3000).copied().collect();
    let (z, rate) = Preprocessing::default()
        .apply_trace(&clean, 100.05)
        .unwrap();
    assert_eq!((z.len(), rate), (3000, 100.05));
    // The normalised trace has p5 = 0 and p80 = 1.
    let mut s: Vec<f64> = z.iter().copied().filter(|v| v.is_finite()).collect();
    s.sort_by(f64::total_cmp);
    let (p5, p80) = (
        percentile_of_sorted(&s, 5.0).unwrap(),
        percentile_of_sorted(&s, 80.0).unwrap(),
    );
    assert!(p5.abs() < 1e-9 && (p80 - 1.0).abs() < 1e-9);
}

#[test]
fn noise_level_of_real_traces_is_positive_and_scale_covariant() {
    let tr = spikelab_data::io::csv::read_calcium(
        &datasets::spikefinder_calcium(4, Split::Test).unwrap(),
        100.0,
    )
    .unwrap();
    for j in 0..tr.n_neurons() {
        let x: Vec<f64> = tr.trace(j).to_vec();
        let nu = noise_level(&x, 100.0).unwrap();
        assert!(nu > 0.0 && nu.is_finite());
        let x2: Vec<f64> = x.iter().map(|v| 2.0 * v).collect();
        assert!((noise_level(&x2, 100.0).unwrap() - 2.0 * nu).abs() < 1e-12);
    }
}
