//! `spikelab decode fit` end to end on the bundled CA1 raster: the Kalman decoder and ridge
//! write their fit and test predictions, the fit reads back as a model that decodes, and
//! nothing is overwritten without `--force`.

use std::path::Path;

mod common;
use common::spikelab;

fn fit_args<'a>(raster: &'a str, pos: &'a str, model: &'a str, out: &'a str) -> Vec<&'a str> {
    vec![
        "decode",
        "fit",
        "--spikes",
        raster,
        "--spikes-variable",
        "neuronal_activity_mat",
        "--target",
        pos,
        "--target-variable",
        "position_per_frame",
        "--model",
        model,
        "--out",
        out,
    ]
}

#[test]
fn kalman_and_ridge_fits_on_ca1() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let raster = spikelab_datasets::convseq("ca1_rubin/neuronal_activity_mat.mat").unwrap();
    let pos = spikelab_datasets::convseq("ca1_rubin/position_per_frame.mat").unwrap();
    let (raster, pos) = (raster.to_str().unwrap(), pos.to_str().unwrap());

    let kalman = fit_args(raster, pos, "kalman", "kf");
    let out = spikelab(&kalman, d);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(d.join("kf/fit.json")).unwrap()).unwrap();
    let r2 = json["test_r2"].as_f64().unwrap();
    assert!(r2 > 0.85, "Kalman test R² {r2}");
    let model: spikelab_decode::KalmanModel =
        serde_json::from_value(json["model"].clone()).unwrap();
    assert_eq!((model.n_neurons, model.projection.ncols()), (452, 12));
    let pred: ndarray::Array2<f64> =
        spikelab_data::io::npy::read_typed(&d.join("kf/test_prediction.npy")).unwrap();
    assert_eq!(pred.shape(), &[3628, 1]);
    assert!(
        !spikelab(&kalman, d).status.success(),
        "overwrote without --force"
    );
    let mut forced = kalman.clone();
    forced.push("--force");
    assert!(spikelab(&forced, d).status.success());

    let mut ridge = fit_args(raster, pos, "ridge", "ridge");
    ridge.extend(["--lags", "zero"]);
    let out = spikelab(&ridge, d);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(d.join("ridge/fit.json")).unwrap()).unwrap();
    let r2 = json["test_r2"].as_f64().unwrap();
    assert!((r2 - 0.221).abs() < 0.01, "lag-0 ridge test R² {r2}");

    // The spec's anchor: centred ridge on the odd units, first 20 % of the training time
    // (scikit-learn 0.639).
    let mut odd = fit_args(raster, pos, "ridge", "odd");
    odd.extend(["--units", "odd", "--train-used", "0.2"]);
    let out = spikelab(&odd, d);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(d.join("odd/fit.json")).unwrap()).unwrap();
    let r2 = json["test_r2"].as_f64().unwrap();
    assert!(
        (r2 - 0.639).abs() < 0.01,
        "odd-unit ridge on 20 % test R² {r2}"
    );
}

/// `--model eit` on a small raster whose two classes are set by which neurons fire: EIT and
/// the probe classify it, the fit and the model are written, and the saved model loads and
/// predicts.
#[test]
fn eit_windows_fit_writes_a_model_that_loads() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (n, t) = (6, 400);
    let label = |f: usize| ((f / 20) % 2) as u8;
    let raster = ndarray::Array2::from_shape_fn((n, t), |(j, f)| {
        let on = (j < 3) == (label(f) == 0);
        f64::from(u8::from(on && (f * 7 + j * 3) % 3 != 0))
    });
    let target = ndarray::Array1::from_shape_fn(t, |f| f64::from(label(f) + 1));
    spikelab_data::io::npy::write(&d.join("raster.npy"), &raster, false).unwrap();
    spikelab_data::io::npy::write(&d.join("target.npy"), &target, false).unwrap();
    let args = [
        "decode",
        "fit",
        "--spikes",
        "raster.npy",
        "--target",
        "target.npy",
        "--model",
        "eit",
        "--epochs",
        "30",
        "--out",
        "eit",
    ];
    let out = spikelab(&args, d);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(d.join("eit/fit.json")).unwrap()).unwrap();
    assert_eq!(json["classes"], serde_json::json!([1.0, 2.0]));
    let acc = json["test_accuracy"].as_f64().unwrap();
    assert!(acc > 0.9, "EIT accuracy {acc}: {json}");
    assert!(json["probe_accuracy"].as_f64().unwrap() > 0.9);
    let model = spikelab_decode::eit::Eit::load(
        &d.join("eit/model.safetensors"),
        candle_core::DType::F32,
        &candle_core::Device::Cpu,
    )
    .unwrap();
    assert_eq!(model.config().n_units, n);
    assert!(
        !spikelab(&args, d).status.success(),
        "overwrote without --force"
    );
}

/// A linear track crossed every 8 s (target = position in [0, 1], 50-ms frames) and 24 place
/// cells with Gaussian fields tiling it (Bernoulli events from a fixed hash, so the raster is
/// the same on every machine). Returns `[neuron, frame]` and `[frame]`.
fn place_cells(frames: usize) -> (ndarray::Array2<f64>, ndarray::Array1<f64>) {
    let pos = ndarray::Array1::from_shape_fn(frames, |f| {
        let phase = (f % 320) as f64 / 160.0;
        if phase < 1.0 { phase } else { 2.0 - phase }
    });
    let uniform = |u: usize, f: usize| {
        let mut h = (u as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ (f as u64 + 7);
        h ^= h >> 31;
        h = h.wrapping_mul(0xBF58_476D_1CE4_E5B9);
        h ^= h >> 29;
        (h >> 11) as f64 / (1u64 << 53) as f64
    };
    let raster = ndarray::Array2::from_shape_fn((24, frames), |(u, f)| {
        let c = (u as f64 + 0.5) / 24.0;
        let p = 0.6 * (-(pos[f] - c).powi(2) / (2.0 * 0.06f64.powi(2))).exp() + 0.01;
        f64::from(u8::from(uniform(u, f) < p))
    });
    (raster, pos)
}

fn read_json(p: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap()
}

fn ok(out: &std::process::Output) {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn fails_with(out: &std::process::Output, what: &str) {
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains(what),
        "expected {what:?}: {err}"
    );
}

/// `decode fit --model poyo` (small configuration) on the even place cells, `decode predict`
/// with the saved model, `decode transfer` to the odd cells (unit identification), and the
/// typed errors: unknown units, NaN targets, a checkpoint of another configuration.
#[test]
fn poyo_fit_predict_transfer() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let frames = 2400; // 120 s: 96 s train, 24 s test
    let (raster, pos) = place_cells(frames);
    spikelab_data::io::npy::write(&d.join("raster.npy"), &raster, false).unwrap();
    spikelab_data::io::npy::write(&d.join("pos.npy"), &pos, false).unwrap();
    // The mean predictor's test R² (training mean): the floor the model must clear.
    let (tr, te) = (
        pos.slice(ndarray::s![..1920]),
        pos.slice(ndarray::s![1920..]),
    );
    let mean = tr.mean().unwrap();
    let ss = |m: f64| te.iter().map(|y| (y - m).powi(2)).sum::<f64>();
    let mean_r2 = 1.0 - ss(mean) / ss(te.mean().unwrap());

    let poyo = |units: &'static str, out: &'static str| {
        vec![
            "decode",
            "fit",
            "--spikes",
            "raster.npy",
            "--target",
            "pos.npy",
            "--model",
            "poyo",
            "--poyo-config",
            "small",
            "--steps",
            "150",
            "--batch",
            "16",
            "--max-lr",
            "0.002",
            "--seed",
            "1",
            "--units",
            units,
            "--out",
            out,
        ]
    };
    let fit = poyo("even", "fit");
    ok(&spikelab(&fit, d));
    let json = read_json(&d.join("fit/fit.json"));
    let r2 = json["test_r2"].as_f64().unwrap();
    eprintln!("POYO fit: test R² {r2:.4}, mean predictor {mean_r2:.4}");
    // Measured 0.992 (mean predictor 0.000); the bar leaves room for other CPUs' rounding.
    assert!(
        r2 > mean_r2 + 0.9,
        "POYO test R² {r2}, mean predictor {mean_r2}"
    );
    assert_eq!(json["n_units"], 12);
    assert_eq!(json["loss"][0].as_array().unwrap().len(), 150);
    let pred: ndarray::Array2<f64> =
        spikelab_data::io::npy::read_typed(&d.join("fit/test_prediction.npy")).unwrap();
    assert_eq!(pred.dim(), (480, 1));
    assert!(pred.iter().all(|v| v.is_finite()));
    fails_with(&spikelab(&fit, d), "exists");

    // The saved model decodes the whole recording.
    let predict = [
        "decode",
        "predict",
        "--model",
        "fit",
        "--spikes",
        "raster.npy",
        "--units",
        "even",
        "--out",
        "pred.npy",
    ];
    ok(&spikelab(&predict, d));
    let all: ndarray::Array2<f64> =
        spikelab_data::io::npy::read_typed(&d.join("pred.npy")).unwrap();
    assert_eq!(all.dim(), (frames, 1));
    // Units the model has not seen are refused (transfer first).
    let mut odd = predict.to_vec();
    odd[7] = "odd";
    odd[9] = "odd.npy";
    fails_with(&spikelab(&odd, d), "unknown unit id \"1\"");

    // Unit identification on the odd cells with half of the training time.
    let transfer = [
        "decode",
        "transfer",
        "--from",
        "fit",
        "--spikes",
        "raster.npy",
        "--target",
        "pos.npy",
        "--units",
        "odd",
        "--train-used",
        "0.5",
        "--steps",
        "60",
        "--batch",
        "16",
        "--max-lr",
        "0.01",
        "--out",
        "tr",
    ];
    ok(&spikelab(&transfer, d));
    let json = read_json(&d.join("tr/fit.json"));
    let r2 = json["test_r2"].as_f64().unwrap();
    eprintln!("POYO transfer: test R² {r2:.4}");
    // Measured 0.932.
    assert!(
        r2 > mean_r2 + 0.75,
        "transfer test R² {r2}, mean predictor {mean_r2}"
    );
    assert_eq!(json["split"]["train"]["end"], 960);
    // The transferred model decodes the odd cells (its last session is theirs).
    let mut odd = odd.clone();
    odd[3] = "tr";
    ok(&spikelab(&odd, d));
    let all: ndarray::Array2<f64> = spikelab_data::io::npy::read_typed(&d.join("odd.npy")).unwrap();
    assert_eq!(all.dim(), (frames, 1));

    // Bad input: NaN targets; a checkpoint whose configuration disagrees with its weights.
    let mut bad = pos.clone();
    bad[100] = f64::NAN;
    spikelab_data::io::npy::write(&d.join("nan.npy"), &bad, false).unwrap();
    let mut nan = poyo("all", "nan");
    nan[5] = "nan.npy";
    fails_with(&spikelab(&nan, d), "target [100, 0] is NaN");
    std::fs::create_dir(d.join("other")).unwrap();
    std::fs::copy(
        d.join("fit/model.safetensors"),
        d.join("other/model.safetensors"),
    )
    .unwrap();
    let meta = std::fs::read_to_string(d.join("fit/model.json")).unwrap();
    let mut meta: serde_json::Value = serde_json::from_str(&meta).unwrap();
    meta["config"]["dim"] = 64.into();
    std::fs::write(d.join("other/model.json"), meta.to_string()).unwrap();
    let mut other = predict.to_vec();
    other[3] = "other";
    other[9] = "other.npy";
    fails_with(&spikelab(&other, d), "model file");
}
