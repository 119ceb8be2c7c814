//! Butterworth design and zero-phase filtering against SciPy 1.17 (fixture made by
//! `scripts/sort_fixtures_filter.py`, datasets/sort/filter/).

use std::path::PathBuf;

use ndarray::{Array2, Array3};
use ndarray_npy::read_npy;
use serde_json::Value;
use spikelab_sort::filter::{
    Ba, Band, butter_ba, butter_sos, filtfilt, lfilter, sosfilt, sosfiltfilt,
};

fn dir() -> PathBuf {
    spikelab_datasets::root().unwrap().join("sort/filter")
}

fn band(d: &Value) -> Band {
    let wn = &d["wn"];
    match d["btype"].as_str().unwrap() {
        "lowpass" => Band::Lowpass {
            cutoff_hz: wn.as_f64().unwrap(),
        },
        "highpass" => Band::Highpass {
            cutoff_hz: wn.as_f64().unwrap(),
        },
        "bandpass" => Band::Bandpass {
            low_hz: wn[0].as_f64().unwrap(),
            high_hz: wn[1].as_f64().unwrap(),
        },
        "bandstop" => Band::Bandstop {
            low_hz: wn[0].as_f64().unwrap(),
            high_hz: wn[1].as_f64().unwrap(),
        },
        other => panic!("unknown btype {other}"),
    }
}

fn floats(v: &Value) -> Vec<f64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect()
}

fn max_abs_diff(a: &[f64], b: &[f64]) -> f64 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f64::max)
}

fn meta() -> Value {
    serde_json::from_str(&std::fs::read_to_string(dir().join("designs.json")).unwrap()).unwrap()
}

/// Coefficients within 1e-12 (relative to the largest of each array); on a signal of amplitude
/// ≈ 100: lfilter on SciPy's coefficients bit-equal, filtfilt on SciPy's coefficients within
/// 1e-9 of filtfilt with the exact steady state, sosfiltfilt within 1e-9 of SciPy's.
#[test]
fn butter_and_filters_match_scipy() {
    let meta = meta();
    let signal: Array2<f64> = read_npy(dir().join("signal.npy")).unwrap();
    let filtered: Array3<f64> = read_npy(dir().join("filtered.npy")).unwrap();
    let n_short = filtered.shape()[2];
    let x: Vec<f64> = signal.column(0).iter().take(n_short).copied().collect();
    let designs = meta["designs"].as_array().unwrap();
    assert_eq!(designs.len(), filtered.shape()[0]);
    let mut worst = [0.0f64; 5];
    for (d, design) in designs.iter().enumerate() {
        let name = design["name"].as_str().unwrap();
        let order = design["order"].as_u64().unwrap() as usize;
        let fs = design["fs"].as_f64().unwrap();
        let ba = butter_ba(order, band(design), fs).unwrap();
        let sos = butter_sos(order, band(design), fs).unwrap();
        for (ours, key) in [(&ba.b, "b"), (&ba.a, "a")] {
            let theirs = floats(&design[key]);
            let scale = theirs.iter().fold(0.0f64, |m, v| m.max(v.abs()));
            let err = max_abs_diff(ours, &theirs) / scale;
            assert!(err < 1e-12, "{name} {key}: relative error {err:e}");
            worst[0] = worst[0].max(err);
        }
        let theirs: Vec<f64> = design["sos"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(floats)
            .collect();
        let ours: Vec<f64> = sos.sections().iter().flatten().copied().collect();
        let err = max_abs_diff(&ours, &theirs);
        assert!(err < 1e-12, "{name} sos: error {err:e}");
        worst[1] = worst[1].max(err);
        assert_eq!(ba.padlen() as u64, design["padlen_ba"].as_u64().unwrap());
        assert_eq!(sos.padlen() as u64, design["padlen_sos"].as_u64().unwrap());

        let row = |k: usize| filtered.slice(ndarray::s![d, k, ..]).to_vec();
        // The filters themselves, on SciPy's coefficients.
        let theirs_ba = Ba {
            b: floats(&design["b"]),
            a: floats(&design["a"]),
        };
        let e_lf_exact = max_abs_diff(&lfilter(&theirs_ba, &x, None).unwrap().0, &row(2));
        let e_zi = max_abs_diff(&filtfilt(&theirs_ba, &x).unwrap(), &row(3));
        assert!(
            e_lf_exact < 1e-12,
            "{name} lfilter on SciPy's b, a: {e_lf_exact:e}"
        );
        assert!(
            e_zi < 1e-9,
            "{name} filtfilt on SciPy's b, a (exact zi): {e_zi:e}"
        );
        // End to end: our design and filters against SciPy's outputs. SciPy's ba filtfilt
        // carries the LAPACK round-off of its lfilter_zi (`scipy_zi_error`); the tolerance
        // adds it.
        let scipy_zi_error = design["scipy_zi_error"].as_f64().unwrap();
        let e_ba = max_abs_diff(&filtfilt(&ba, &x).unwrap(), &row(0));
        let e_sos = max_abs_diff(&sosfiltfilt(&sos, &x).unwrap(), &row(1));
        let e_lf = max_abs_diff(&lfilter(&ba, &x, None).unwrap().0, &row(2));
        // The causal cascade equals the transfer function up to the ba form's round-off.
        let e_cascade = max_abs_diff(&sosfilt(&sos, &x, None).unwrap().0, &row(2));
        eprintln!(
            "{name}: filtfilt {e_ba:.2e} (SciPy's own zi error {scipy_zi_error:.2e}; on SciPy's \
             b, a vs exact zi {e_zi:.2e}), sosfiltfilt {e_sos:.2e}, lfilter {e_lf:.2e}, \
             sosfilt vs lfilter {e_cascade:.2e}"
        );
        assert!(
            e_ba < 1e-9 + 2.0 * scipy_zi_error,
            "{name} filtfilt: {e_ba:e}"
        );
        assert!(e_sos < 1e-9, "{name} sosfiltfilt: {e_sos:e}");
        assert!(e_lf < 1e-9, "{name} lfilter: {e_lf:e}");
        assert!(e_cascade < 1e-6, "{name} sosfilt: {e_cascade:e}");
        worst[2] = worst[2].max(e_ba);
        worst[3] = worst[3].max(e_sos);
        worst[4] = worst[4].max(e_lf);
    }
    eprintln!(
        "worst: ba coef {:.2e}, sos coef {:.2e}, filtfilt {:.2e}, sosfiltfilt {:.2e}, lfilter {:.2e}",
        worst[0], worst[1], worst[2], worst[3], worst[4]
    );
}

/// SimSort's test chain band-pass (order 4, 300–10 000 Hz at 30 kHz, ba form) on all four
/// channels of the 800-sample signal.
#[test]
fn chain_bandpass_matches_scipy_filtfilt() {
    let signal: Array2<f64> = read_npy(dir().join("signal.npy")).unwrap();
    let expected: Array2<f64> = read_npy(dir().join("chain_bandpass.npy")).unwrap();
    let band = Band::Bandpass {
        low_hz: 300.0,
        high_hz: 10_000.0,
    };
    let ba = butter_ba(4, band, 30_000.0).unwrap();
    let sos = butter_sos(4, band, 30_000.0).unwrap();
    for c in 0..signal.ncols() {
        let x = signal.column(c).to_vec();
        let want = expected.column(c).to_vec();
        let e_ba = max_abs_diff(&filtfilt(&ba, &x).unwrap(), &want);
        let e_sos = max_abs_diff(&sosfiltfilt(&sos, &x).unwrap(), &want);
        eprintln!("channel {c}: ba {e_ba:.2e}, sos {e_sos:.2e}");
        assert!(e_ba < 1e-9 && e_sos < 1e-9);
    }
}
