//! The ground-truth recording generator against spikeinterface 0.105.3 (fixtures made by
//! `scripts/sort_fixtures_generator.py`) and statistical checks of its random parts.

use std::path::PathBuf;

use ndarray::{Array1, Array2, Array3, Axis};
use ndarray_npy::read_npy;
use spikelab_synth::recording::{
    FiringRates, GroundTruthParams, LocationParams, NoiseLevels, TargetSnr, TemplateRanges,
    UnitCount, UnitTemplateParams, inject_templates, poisson_spike_vector, template,
    unit_locations, waveform,
};

fn fixture(rel: &str) -> PathBuf {
    spikelab_datasets::root()
        .expect("datasets folder")
        .join("sort/generator")
        .join(rel)
}

/// spikeinterface's `InjectTemplatesRecording` on zero noise: same templates and spikes give
/// the same float32 traces (the additions happen in the same order, so this is bit-exact; the
/// specification's bound is 1e-5).
#[test]
fn injection_equals_spikeinterface_noise_free_recording() {
    let traces: Array2<f32> = read_npy(fixture("injection/traces.npy")).unwrap();
    let templates: Array3<f32> = read_npy(fixture("injection/templates.npy")).unwrap();
    let frames: Array1<i64> = read_npy(fixture("injection/spike_frames.npy")).unwrap();
    let units: Array1<i64> = read_npy(fixture("injection/spike_units.npy")).unwrap();
    let meta: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(fixture("injection/meta.json")).unwrap())
            .unwrap();
    let nbefore = meta["nbefore"].as_u64().unwrap() as usize;
    let spikes: Vec<(i64, usize)> = frames
        .iter()
        .zip(&units)
        .map(|(&f, &u)| (f, u as usize))
        .collect();
    assert!(spikes.len() > 30, "the fixture has overlapping spikes");
    let mut out = Array2::<f32>::zeros(traces.dim());
    inject_templates(&mut out, &spikes, templates.view(), nbefore, None).unwrap();
    let err = (&out - &traces).mapv(f32::abs).fold(0f32, |m, &v| m.max(v));
    eprintln!("injection: max |Rust − spikeinterface| = {err}");
    assert!(err <= 1e-5, "max |Rust − spikeinterface| = {err}");
    assert!(traces.iter().any(|&v| v.abs() > 50.0));
}

fn unit_params(params: &serde_json::Value, u: usize) -> UnitTemplateParams {
    let g = |k: &str| params[k][u].as_f64().unwrap();
    UnitTemplateParams {
        alpha: g("alpha"),
        depolarization_ms: g("depolarization_ms"),
        repolarization_ms: g("repolarization_ms"),
        recovery_ms: g("recovery_ms"),
        positive_amplitude: g("positive_amplitude"),
        smooth_ms: g("smooth_ms"),
        spatial_decay_um: g("spatial_decay"),
        propagation_speed_um_per_ms: g("propagation_speed"),
        ellipse_shrink: g("ellipse_shrink"),
        ellipse_angle_rad: g("ellipse_angle"),
    }
}

/// `generate_templates` with spikeinterface's own per-unit draws, unit and contact positions:
/// waveform, ellipsoid decay and FFT delay agree to float32 rounding.
#[test]
fn templates_equal_spikeinterface() {
    for case in ["templates_fs30k", "templates_fs10k_odd"] {
        let expected: Array3<f32> = read_npy(fixture(&format!("{case}/templates.npy"))).unwrap();
        let locs: Array2<f32> = read_npy(fixture(&format!("{case}/unit_locations.npy"))).unwrap();
        let ch: Array2<f64> = read_npy(fixture(&format!("{case}/channel_locations.npy"))).unwrap();
        let meta: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(fixture(&format!("{case}/params.json"))).unwrap(),
        )
        .unwrap();
        let fs = meta["sampling_rate_hz"].as_f64().unwrap();
        let before = meta["ms_before"].as_f64().unwrap();
        let after = meta["ms_after"].as_f64().unwrap();
        let positions: Vec<[f64; 2]> = ch.rows().into_iter().map(|r| [r[0], r[1]]).collect();
        let mut worst = 0f64;
        for u in 0..expected.shape()[0] {
            let p = unit_params(&meta["params"], u);
            let l = locs.row(u);
            let t = template(
                &positions,
                [l[0] as f64, l[1] as f64, l[2] as f64],
                &p,
                fs,
                before,
                after,
            )
            .unwrap();
            let e = expected.index_axis(Axis(0), u);
            assert_eq!(t.dim(), e.dim(), "{case} unit {u}");
            let scale = e.fold(0f32, |m, &v| m.max(v.abs())) as f64;
            for (a, b) in t.iter().zip(e.iter()) {
                worst = worst.max((*a as f64 - *b as f64).abs() / scale);
            }
        }
        eprintln!("{case}: max |Rust − spikeinterface| / max |template| = {worst:e}");
        assert!(worst <= 1e-6, "{case}: max relative error {worst}");
    }
}

/// Parameter draws stay in their ranges and cover them.
#[test]
fn template_parameter_ranges() {
    let r = TemplateRanges::default();
    let mut g = spikelab_synth::rng::stream(11, 0);
    let draws: Vec<UnitTemplateParams> = (0..2000).map(|_| r.sample(&mut g)).collect();
    let check = |name: &str, (lo, hi): (f64, f64), f: &dyn Fn(&UnitTemplateParams) -> f64| {
        let v: Vec<f64> = draws.iter().map(f).collect();
        assert!(
            v.iter().all(|x| (lo..hi).contains(x)),
            "{name} out of range"
        );
        let mean = v.iter().sum::<f64>() / v.len() as f64;
        // Uniform: mean (lo+hi)/2, s.e. (hi−lo)/√(12·2000) ≈ 0.0065·(hi−lo); 5 s.e.
        assert!(
            (mean - (lo + hi) / 2.0).abs() < 0.033 * (hi - lo),
            "{name} mean {mean}"
        );
        let (mn, mx) = v
            .iter()
            .fold((f64::MAX, f64::MIN), |(a, b), &x| (a.min(x), b.max(x)));
        assert!(
            mn < lo + 0.01 * (hi - lo) && mx > hi - 0.01 * (hi - lo),
            "{name} coverage"
        );
    };
    check("alpha", r.alpha, &|p| p.alpha);
    check("depolarization_ms", r.depolarization_ms, &|p| {
        p.depolarization_ms
    });
    check("repolarization_ms", r.repolarization_ms, &|p| {
        p.repolarization_ms
    });
    check("recovery_ms", r.recovery_ms, &|p| p.recovery_ms);
    check("positive_amplitude", r.positive_amplitude, &|p| {
        p.positive_amplitude
    });
    check("smooth_ms", r.smooth_ms, &|p| p.smooth_ms);
    check("spatial_decay_um", r.spatial_decay_um, &|p| {
        p.spatial_decay_um
    });
    check("speed", r.propagation_speed_um_per_ms, &|p| {
        p.propagation_speed_um_per_ms
    });
    check("ellipse_shrink", r.ellipse_shrink, &|p| p.ellipse_shrink);
    check("ellipse_angle_rad", r.ellipse_angle_rad, &|p| {
        p.ellipse_angle_rad
    });
}

/// The trough of every waveform, and of every template on the channel nearest the unit (no
/// delay there), sits at nbefore, for sampling rates 10–40 kHz.
#[test]
fn trough_at_nbefore() {
    let r = TemplateRanges::default();
    let probe = spikelab_data::Probe::tetrode(20.0);
    let mut g = spikelab_synth::rng::stream(12, 0);
    for fs in [10_000.0, 20_000.0, 25_000.0, 30_000.0, 32_000.0, 40_000.0] {
        let nbefore = (fs / 1000.0) as usize;
        for _ in 0..50 {
            let p = r.sample(&mut g);
            let wf = waveform(fs, 1.0, 3.0, &p).unwrap();
            let argmin = (0..wf.len())
                .min_by(|&a, &b| wf[a].total_cmp(&wf[b]))
                .unwrap();
            assert_eq!(argmin, nbefore, "fs {fs}");
            let (locs, _) = unit_locations(&probe, 1, &LocationParams::default(), &mut g).unwrap();
            let t = template(probe.positions_um(), locs[0], &p, fs, 1.0, 3.0).unwrap();
            let c = (0..4)
                .min_by(|&a, &b| {
                    let mn = |c: usize| t.column(c).fold(f32::MAX, |m, &v| m.min(v));
                    mn(a).total_cmp(&mn(b))
                })
                .unwrap();
            let col = t.column(c);
            let am = (0..col.len())
                .min_by(|&a, &b| col[a].total_cmp(&col[b]))
                .unwrap();
            assert!(
                am.abs_diff(nbefore) <= 1,
                "fs {fs}: template trough at {am}"
            );
        }
    }
}

#[test]
fn unit_distances_at_least_minimum() {
    let probe = spikelab_data::Probe::tetrode(20.0);
    let lp = LocationParams::default();
    for seed in 0..200u64 {
        let mut g = spikelab_synth::rng::stream(seed, 1);
        let (locs, ok) = unit_locations(&probe, 8, &lp, &mut g).unwrap();
        assert!(ok, "seed {seed}: no placement after the restarts");
        for a in 0..8 {
            assert!((-10.0..=30.0).contains(&locs[a][0]) && (-10.0..=30.0).contains(&locs[a][1]));
            assert!((5.0..=50.0).contains(&locs[a][2]));
            for b in 0..a {
                let d: f64 = (0..3).map(|k| (locs[a][k] - locs[b][k]).powi(2)).sum();
                assert!(
                    d.sqrt() >= 20.0,
                    "seed {seed}: units {a},{b} at {}",
                    d.sqrt()
                );
            }
        }
    }
}

/// Mean rates match the targets (the refractory correction keeps them), no ISI is within the
/// refractory period, and ISIs just above it occur.
#[test]
fn firing_rates_and_refractory_period() {
    let rates = [2.0, 15.0, 50.0, 100.0];
    let (fs, dur, ref_ms) = (30_000.0, 2_000.0, 4.0);
    let sv = poisson_spike_vector(&rates, fs, dur, ref_ms, 3).unwrap();
    assert!(sv.windows(2).all(|w| w[0] <= w[1]));
    let r_frames = 120;
    for (u, &r) in rates.iter().enumerate() {
        let f: Vec<i64> = sv.iter().filter(|s| s.1 == u).map(|s| s.0).collect();
        let n = f.len() as f64;
        // Count s.d. of a renewal process: √(r·T)·CV, CV = 1 − r·ref ≤ 1; bound 5·√(r·T).
        assert!(
            (n - r * dur).abs() < 5.0 * (r * dur).sqrt(),
            "unit {u}: {n} spikes for {r} Hz"
        );
        let isi_min = f.windows(2).map(|w| w[1] - w[0]).min().unwrap();
        assert!(isi_min > r_frames, "unit {u}: ISI {isi_min} ≤ refractory");
        if r >= 50.0 {
            assert!(isi_min < r_frames + 20, "unit {u}: min ISI {isi_min}");
        }
        assert!(f[0] >= 1 && *f.last().unwrap() < (dur * fs) as i64);
    }
    assert!(poisson_spike_vector(&[300.0], fs, 1.0, 4.0, 0).is_err());
}

/// Removing the injected spikes leaves white noise with the requested σ per channel; the
/// amplitude factors have mean 1 and s.d. = jitter.
#[test]
fn noise_levels_and_amplitude_jitter() {
    let params = GroundTruthParams {
        duration_s: 20.0,
        sampling_rate_hz: 30_000.0,
        n_units: UnitCount::Fixed(4),
        firing_rates: FiringRates::PerUnit(vec![20.0, 30.0, 40.0, 50.0]),
        noise_levels: NoiseLevels::PerChannel(vec![1.0, 5.0, 10.0, 20.0]),
        amplitude_jitter: 0.05,
        ..GroundTruthParams::default()
    };
    let gt = params.generate(21).unwrap();
    let spikes = gt.sorting.spike_vector();
    let factors = gt.truth.amplitude_factors.clone().unwrap();
    assert_eq!(factors.len(), spikes.len());
    let mean = factors.iter().sum::<f64>() / factors.len() as f64;
    let sd =
        (factors.iter().map(|a| (a - mean).powi(2)).sum::<f64>() / factors.len() as f64).sqrt();
    assert!(
        (mean - 1.0).abs() < 0.005 && (sd - 0.05).abs() < 0.004,
        "{mean} {sd}"
    );
    let mut clean = Array2::<f32>::zeros(gt.recording.traces().dim());
    inject_templates(
        &mut clean,
        &spikes,
        gt.truth.templates.view(),
        gt.truth.nbefore,
        Some(&factors),
    )
    .unwrap();
    let noise = &gt.recording.traces() - &clean;
    for (c, want) in [1.0, 5.0, 10.0, 20.0].into_iter().enumerate() {
        let col = noise.column(c);
        let n = col.len() as f64;
        let m = col.iter().map(|&v| v as f64).sum::<f64>() / n;
        let s = (col.iter().map(|&v| (v as f64 - m).powi(2)).sum::<f64>() / n).sqrt();
        // s.e. of the s.d. is σ/√(2n) ≈ 0.09 % here.
        assert!(
            (s / want - 1.0).abs() < 0.005,
            "channel {c}: σ {s}, want {want}"
        );
        assert!(m.abs() < 0.005 * want, "channel {c}: mean {m}");
    }
}

/// The preset's SNR: peak |template| on the extremum channel over the noise level measured as
/// spikeinterface does (MAD/0.6745) on the noise (the traces minus the injected spikes) is the
/// drawn SNR. On the full traces the spikes inflate the MAD a little, so that SNR is a few
/// per cent lower.
#[test]
fn benchmark_snr_matches_target() {
    let params = GroundTruthParams {
        duration_s: 30.0,
        ..GroundTruthParams::tetrode_benchmark()
    };
    let gt = params.generate(1001).unwrap();
    let t = &gt.truth;
    let n = t.snr.len();
    assert!((5..=8).contains(&n));
    assert!(t.snr.iter().all(|s| (3.0..15.0).contains(s)));
    assert!(t.rates_hz.iter().all(|r| (2.0..15.0).contains(r)));
    let spikes = gt.sorting.spike_vector();
    let mut clean = Array2::<f32>::zeros(gt.recording.traces().dim());
    inject_templates(
        &mut clean,
        &spikes,
        t.templates.view(),
        t.nbefore,
        t.amplitude_factors.as_deref(),
    )
    .unwrap();
    let traces = gt.recording.traces();
    let noise = &traces - &clean;
    let mad = |col: ndarray::ArrayView1<f32>| {
        let mut v: Vec<f64> = col.iter().map(|&x| x as f64).collect();
        let med = median(&mut v);
        let mut dev: Vec<f64> = v.iter().map(|x| (x - med).abs()).collect();
        median(&mut dev) / 0.6745
    };
    let noise_level: Vec<f64> = (0..4).map(|c| mad(noise.column(c))).collect();
    let full_level: Vec<f64> = (0..4).map(|c| mad(traces.column(c))).collect();
    for c in 0..4 {
        // s.e. of the MAD estimate over 9·10⁵ samples ≈ 0.13 %.
        assert!(
            (noise_level[c] / 10.0 - 1.0).abs() < 0.01,
            "channel {c}: {}",
            noise_level[c]
        );
        assert!(full_level[c] >= noise_level[c] && full_level[c] < 1.15 * noise_level[c]);
    }
    for u in 0..n {
        let c = t.extremum_channel[u];
        let tpl = t.templates.index_axis(Axis(0), u);
        let peak = tpl.fold(0f32, |m, &v| m.max(v.abs())) as f64;
        let col_peak = tpl.column(c).fold(0f32, |m, &v| m.max(v.abs())) as f64;
        assert_eq!(peak, col_peak);
        let snr = peak / noise_level[c];
        assert!(
            (snr / t.snr[u] - 1.0).abs() < 0.01,
            "unit {u}: SNR {snr} vs {}",
            t.snr[u]
        );
        let snr_full = peak / full_level[c];
        eprintln!(
            "unit {u}: target {:.3}, on noise {snr:.3}, on traces {snr_full:.3}",
            t.snr[u]
        );
    }
    // Spike counts follow the drawn rates.
    for (u, &r) in t.rates_hz.iter().enumerate() {
        let k = gt.sorting.frames(u).len() as f64;
        assert!((k - 30.0 * r).abs() < 5.0 * (30.0 * r).sqrt(), "unit {u}");
    }
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_unstable_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        0.5 * (v[n / 2 - 1] + v[n / 2])
    }
}

#[test]
fn same_seed_same_recording() {
    let p = GroundTruthParams {
        duration_s: 2.0,
        ..GroundTruthParams::tetrode_benchmark()
    };
    let a = p.generate(5).unwrap();
    let b = p.generate(5).unwrap();
    let c = p.generate(6).unwrap();
    assert_eq!(a.recording, b.recording);
    assert_eq!(a.sorting, b.sorting);
    assert_eq!(a.truth, b.truth);
    assert_ne!(a.recording.traces(), c.recording.traces());
    serde_json::to_string(&a.truth).unwrap();
}

#[test]
fn invalid_parameters_are_typed_errors() {
    let base = GroundTruthParams::default();
    let bad = [
        GroundTruthParams {
            refractory_ms: 70.0,
            ..base.clone()
        },
        GroundTruthParams {
            firing_rates: FiringRates::PerUnit(vec![1.0, 2.0]),
            ..base.clone()
        },
        GroundTruthParams {
            noise_levels: NoiseLevels::Constant(0.0),
            target_snr: Some(TargetSnr::Uniform { min: 3.0, max: 5.0 }),
            ..base.clone()
        },
        GroundTruthParams {
            noise_levels: NoiseLevels::PerChannel(vec![1.0; 3]),
            ..base.clone()
        },
        GroundTruthParams {
            ms_after: 0.5,
            ..base.clone()
        },
        GroundTruthParams {
            n_units: UnitCount::Uniform { min: 4, max: 2 },
            ..base.clone()
        },
        GroundTruthParams {
            duration_s: -1.0,
            ..base.clone()
        },
    ];
    for p in bad {
        let e = p.generate(0).unwrap_err();
        assert!(
            matches!(e, spikelab_synth::SynthError::InvalidParameter { .. }),
            "{e}"
        );
    }
}
