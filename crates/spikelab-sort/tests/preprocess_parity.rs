//! Common-median reference, z-score and ZCA whitening against NumPy (fixture made by
//! `scripts/sort_fixtures_filter.py`, datasets/sort/filter/), and the whole SimSort test chain
//! against SciPy + NumPy.

use ndarray::Array2;
use ndarray_npy::read_npy;
use serde_json::Value;
use spikelab_data::{Probe, Recording};
use spikelab_sort::preprocess::{
    Preprocess, apply_whitening, common_median_reference, zca_whitening_matrix, zscore,
};

fn load(name: &str) -> Array2<f64> {
    read_npy(
        spikelab_datasets::root()
            .unwrap()
            .join("sort/filter")
            .join(name),
    )
    .unwrap()
}

fn f32s(x: &Array2<f64>) -> Array2<f32> {
    x.mapv(|v| v as f32)
}

/// max |ours − theirs| / max |theirs|.
fn rel_err(ours: &Array2<f32>, theirs: &Array2<f64>) -> f64 {
    assert_eq!(ours.dim(), theirs.dim());
    let scale = theirs.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    ours.iter()
        .zip(theirs)
        .map(|(a, b)| (f64::from(*a) - b).abs())
        .fold(0.0, f64::max)
        / scale
}

#[test]
fn cmr_zscore_whitening_match_numpy() {
    let bp = load("chain_bandpass.npy");
    let e_cmr = rel_err(
        &common_median_reference(f32s(&bp).view()),
        &load("chain_cmr.npy"),
    );
    let z = zscore(f32s(&bp).view());
    let e_z = rel_err(&z.traces, &load("chain_zscore.npy"));
    let zf = load("chain_zscore.npy");
    let w = zca_whitening_matrix(f32s(&zf).view(), 1e-8).unwrap();
    let e_w = rel_err(
        &apply_whitening(f32s(&zf).view(), &w),
        &load("chain_whiten.npy"),
    );
    let meta: Value = serde_json::from_str(
        &std::fs::read_to_string(
            spikelab_datasets::root()
                .unwrap()
                .join("sort/filter/designs.json"),
        )
        .unwrap(),
    )
    .unwrap();
    let w_np = &meta["chain"]["whitening"];
    let mut e_wm = 0.0f64;
    for i in 0..4 {
        for j in 0..4 {
            let t = w_np[i][j].as_f64().unwrap();
            e_wm = e_wm.max((w[(i, j)] - t).abs() / t.abs().max(1.0));
        }
    }
    let mut e_stats = 0.0f64;
    for c in 0..4 {
        let m = meta["chain"]["zscore_mean"][c].as_f64().unwrap();
        let s = meta["chain"]["zscore_std"][c].as_f64().unwrap();
        e_stats = e_stats
            .max((z.means[c] - m).abs() / s)
            .max((z.stds[c] - s).abs() / s);
    }
    eprintln!(
        "relative errors (f32 storage): cmr {e_cmr:.2e}, zscore {e_z:.2e}, z stats {e_stats:.2e}, \
         whitened {e_w:.2e}, W {e_wm:.2e}"
    );
    assert!(e_cmr < 1e-6 && e_z < 1e-6 && e_stats < 1e-6 && e_w < 1e-6 && e_wm < 1e-6);
}

#[test]
fn simsort_test_chain_matches_scipy_numpy() {
    let x = load("signal.npy");
    let rec = Recording::new(f32s(&x), 30_000.0, Probe::tetrode(20.0)).unwrap();
    let plan = Preprocess::simsort_test().validate(30_000.0).unwrap();
    let (out_rec, out) = plan.apply_recording(&rec).unwrap();
    let e = rel_err(&out.traces, &load("chain_whiten.npy"));
    eprintln!("SimSort test chain (f32 input and storage): relative error {e:.2e}");
    assert!(e < 2e-6, "{e:e}");
    assert_eq!(out_rec.traces(), out.traces.view());
    assert!(out.zero_std_channels.is_empty());
}

/// The same chain with the filter in sos form agrees with SciPy's ba filtfilt chain too.
#[test]
fn sos_form_chain_matches_too() {
    let x = load("signal.npy");
    let mut p = Preprocess::simsort_test();
    p.filter.as_mut().unwrap().form = spikelab_sort::preprocess::FilterForm::Sos;
    let out = p
        .validate(30_000.0)
        .unwrap()
        .apply(f32s(&x).view())
        .unwrap();
    let e = rel_err(&out.traces, &load("chain_whiten.npy"));
    eprintln!("SimSort test chain, sos form: relative error {e:.2e}");
    assert!(e < 2e-6, "{e:e}");
}
