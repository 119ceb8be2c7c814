//! Ridge, reduced-rank regression and R² against a NumPy reference of the same equations
//! (`scripts/make_linear_fixture.py`), the CA1 lag-0 anchor, and bad input.

mod common;
use common::ca1;

use ndarray::{Array1, Array2};
use spikelab_decode::{
    DecodeError, Lags, LinearDecoderParams, TimeSplit, fit_ridge, fit_rrr, r2_per_output,
};

fn mat(v: &serde_json::Value) -> Array2<f64> {
    let rows: Vec<Vec<f64>> = serde_json::from_value(v.clone()).unwrap();
    let (r, c) = (rows.len(), rows[0].len());
    Array2::from_shape_vec((r, c), rows.into_iter().flatten().collect()).unwrap()
}

fn vec1(v: &serde_json::Value) -> Array1<f64> {
    Array1::from(serde_json::from_value::<Vec<f64>>(v.clone()).unwrap())
}

fn assert_rel(a: &[f64], b: &[f64], tol: f64, what: &str) {
    let scale = b.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    for (x, y) in a.iter().zip(b) {
        assert!((x - y).abs() <= tol * scale, "{what}: {x} vs {y}");
    }
}

#[test]
fn ridge_rrr_and_r2_match_numpy_reference() {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/linear.json"
    ))
    .unwrap();
    let f: serde_json::Value = serde_json::from_str(&text).unwrap();
    let (xtr, ytr) = (mat(&f["x_train"]), mat(&f["y_train"]));
    let (xte, yte) = (mat(&f["x_test"]), mat(&f["y_test"]));
    let cases = f["cases"].as_array().unwrap();
    assert_eq!(cases.len(), 6);
    for case in cases {
        let alpha = case["alpha"].as_f64().unwrap();
        let model = if case["kind"] == "ridge" {
            fit_ridge(xtr.view(), ytr.view(), alpha).unwrap()
        } else {
            let c: Vec<f64> = serde_json::from_value(case["column_weights"].clone()).unwrap();
            let rank = case["rank"].as_u64().unwrap() as usize;
            fit_rrr(xtr.view(), ytr.view(), rank, alpha, Some(&c)).unwrap()
        };
        let what = format!("{} α={alpha} rank={}", case["kind"], case["rank"]);
        assert_rel(
            model.weights.as_slice().unwrap(),
            mat(&case["weights"]).as_slice().unwrap(),
            1e-8,
            &what,
        );
        assert_rel(
            model.intercept.as_slice().unwrap(),
            vec1(&case["intercept"]).as_slice().unwrap(),
            1e-8,
            &what,
        );
        let r2 = r2_per_output(yte.view(), model.predict(xte.view()).unwrap().view()).unwrap();
        assert_rel(
            &r2,
            vec1(&case["test_r2"]).as_slice().unwrap(),
            1e-10,
            &what,
        );
    }
}

/// The spec's CA1 anchor for ridge on lag 0 only (scikit-learn, measured): test R² 0.221.
#[test]
fn ca1_lag0_ridge_matches_anchor() {
    let (counts, pos) = ca1();
    assert_eq!(counts.dim(), (452, 18_137));
    let params = LinearDecoderParams {
        lags: Lags::Zero,
        ..Default::default()
    };
    let fit = params
        .check()
        .unwrap()
        .fit(counts.view(), pos.view())
        .unwrap();
    assert_eq!(fit.split.test, 14_509..18_137);
    assert!(
        (fit.test_r2 - 0.221).abs() <= 0.01,
        "lag-0 ridge R² {} (α {}), anchor 0.221",
        fit.test_r2,
        fit.model.alpha
    );
}

#[test]
fn bad_input_is_a_typed_error() {
    let counts = Array2::<f64>::ones((3, 50));
    let mut target = Array2::<f64>::zeros((50, 1));
    target[[7, 0]] = f64::NAN;
    let dec = LinearDecoderParams {
        lags: Lags::Zero,
        ..Default::default()
    }
    .check()
    .unwrap();
    assert!(matches!(
        dec.fit(counts.view(), target.view()),
        Err(DecodeError::InvalidData(_))
    ));
    // A lag window longer than the recording.
    let long = LinearDecoderParams {
        lags: Lags::Causal(60),
        ..Default::default()
    };
    let ok_target = Array2::<f64>::zeros((50, 1));
    assert!(matches!(
        long.check().unwrap().fit(counts.view(), ok_target.view()),
        Err(DecodeError::InvalidParameter { .. })
    ));
    // No test data.
    assert!(TimeSplit::new(50, 1.0, 0.125).is_err());
    // Rank above the input dimension.
    let x = Array2::from_shape_fn((20, 2), |(i, j)| (i * (j + 1)) as f64 + (i % 3) as f64);
    let y = Array2::from_shape_fn((20, 4), |(i, j)| (i + j) as f64);
    assert!(matches!(
        fit_rrr(x.view(), y.view(), 3, 1.0, None),
        Err(DecodeError::InvalidParameter { .. })
    ));
    // OLS on collinear features.
    let xc = Array2::from_shape_fn((20, 2), |(i, _)| i as f64);
    assert!(matches!(
        fit_ridge(xc.view(), y.view(), 0.0),
        Err(DecodeError::Singular(_))
    ));
}

/// BrainDiffuser's objective (heads weighted [1, 2, 4], per-head mean MSE) as weighted RRR, then
/// `scale_latents`, against the NumPy reference to 1e-10.
#[test]
fn braindiffuser_objective_and_scale_latents_match_numpy() {
    use spikelab_decode::brainbits::{head_column_weights, scale_latents};
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/linear.json"
    ))
    .unwrap();
    let f: serde_json::Value = serde_json::from_str(&text).unwrap();
    let bd = &f["braindiffuser"];
    let heads: Vec<usize> = serde_json::from_value(bd["heads"].clone()).unwrap();
    let hw: Vec<f64> = serde_json::from_value(bd["head_weights"].clone()).unwrap();
    let c = head_column_weights(&heads, &hw).unwrap();
    assert_rel(
        &c,
        vec1(&bd["column_weights"]).as_slice().unwrap(),
        1e-15,
        "c",
    );
    let (xtr, xte) = (mat(&f["x_train"]), mat(&f["x_test"]));
    let ytr = mat(&bd["y_train"]);
    let m = fit_rrr(xtr.view(), ytr.view(), 2, 1.0, Some(&c)).unwrap();
    let scaled = scale_latents(m.predict(xte.view()).unwrap().view(), ytr.view()).unwrap();
    assert_rel(
        scaled.as_slice().unwrap(),
        mat(&bd["scaled_prediction"]).as_slice().unwrap(),
        1e-10,
        "scaled",
    );
}

/// The four CA1 anchors on 9 040 / 4 520 lagged features (scikit-learn, measured), served by
/// the sparse conjugate-gradient path that `RidgeMethod::Auto` picks at this size. The odd units
/// are the odd 0-based rows (1, 3, …, 451): the 1-based reading gives 0.554 and 0.741.
#[test]
fn ca1_lagged_ridge_matches_anchors() {
    let (counts, pos) = ca1();
    let odd: Vec<usize> = (1..452).step_by(2).collect();
    let odd_counts = counts.select(ndarray::Axis(0), &odd);
    let centred = Lags::Centred {
        past: 9,
        future: 10,
    };
    let cases = [
        (
            "causal 0…19, all units",
            &counts,
            Lags::Causal(20),
            1.0,
            0.795,
        ),
        (
            "centred −10…+9, all units",
            &counts,
            centred.clone(),
            1.0,
            0.805,
        ),
        (
            "centred, odd units, first 20 %",
            &odd_counts,
            centred.clone(),
            0.2,
            0.639,
        ),
        ("centred, odd units", &odd_counts, centred, 1.0, 0.724),
    ];
    for (name, counts, lags, train_used, anchor) in cases {
        let start = std::time::Instant::now();
        let fit = LinearDecoderParams {
            lags,
            train_used,
            ..Default::default()
        }
        .check()
        .unwrap()
        .fit(counts.view(), pos.view())
        .unwrap();
        println!(
            "{name}: R² {:.4} (anchor {anchor}), α {}, {:.2} s",
            fit.test_r2,
            fit.model.alpha,
            start.elapsed().as_secs_f64()
        );
        assert_eq!(fit.split.test, 14_509..18_137);
        assert!(
            (fit.test_r2 - anchor).abs() <= 0.01,
            "{name}: R² {} (α {}), anchor {anchor}",
            fit.test_r2,
            fit.model.alpha
        );
    }
}
