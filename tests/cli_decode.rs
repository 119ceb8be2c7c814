//! `spikelab decode fit` end to end on the bundled CA1 raster: the Kalman decoder and ridge
//! write their fit and test predictions, the fit reads back as a model that decodes, and
//! nothing is overwritten without `--force`.

use std::path::Path;
use std::process::Command;

fn spikelab(args: &[&str], dir: &Path) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_spikelab"))
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run spikelab")
}

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
