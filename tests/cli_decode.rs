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
