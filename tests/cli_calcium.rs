//! `spikelab calcium deconvolve` and `embed` end to end: the frame-rate rules (no silent
//! default, a conflicting `--fps` needs `--force-fps`), output at the input's rate, the JSON
//! report, nothing overwritten without `--force`.

use std::path::PathBuf;

mod common;
use common::spikelab;

fn data(rel: &str) -> String {
    let p: PathBuf = spikelab_datasets::path(rel).unwrap();
    p.display().to_string()
}

fn ok(out: &std::process::Output) {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn fails_with(out: &std::process::Output, needle: &str) {
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains(needle), "{err}");
}

#[test]
fn deconvolve_frame_rates_report_and_force() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // The CASCADE golden input: 24 rows × 3000 frames at 30 Hz, `[neuron, time]`, no stored rate.
    let npy = data("cascade-golden/ds09_global_exc_30hz/input_dff.npy");
    let base = ["calcium", "deconvolve", &npy, "out.npy", "--neurons-first"];
    fails_with(&spikelab(&base, d), "--fps");
    let mut args = base.to_vec();
    args.extend(["--fps", "30", "--rates", "--report", "report.json"]);
    ok(&spikelab(&args, d));
    let y = spikelab_data::io::npy::read_typed::<f64, ndarray::Ix2>(&d.join("out.npy")).unwrap();
    assert_eq!(y.dim(), (3000, 24)); // at 30 Hz, not the model's 100 Hz
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(d.join("report.json")).unwrap()).unwrap();
    assert_eq!(report["model"], "model1");
    assert_eq!(report["rate_handling"], "resampled");
    assert_eq!(report["output_rate_hz"], 30.0);
    assert_eq!(report["n_model_frames"], 10000);
    fails_with(&spikelab(&args, d), "exists");
    args.push("--force");
    ok(&spikelab(&args, d));
    // A c2s file stores its rate: a different --fps is refused unless forced.
    let mat = data("spikefinder/test/data.5.test.preprocessed.mat.gz");
    let c2s = ["calcium", "deconvolve", &mat, "c2s.csv", "--fps", "99"];
    fails_with(&spikelab(&c2s, d), "--force-fps");
    assert!(!d.join("c2s.csv").exists());
    let mut forced = c2s.to_vec();
    forced.push("--force-fps");
    ok(&spikelab(&forced, d));
    fails_with(
        &spikelab(&["calcium", "deconvolve", &mat, "x.txt"], d),
        ".csv or .npy",
    );
}

#[test]
fn embed_writes_its_report() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let csv = data("spikefinder/test/4.test.calcium.csv.gz");
    let args = ["calcium", "embed", &csv, "--json", "emb.json"];
    fails_with(&spikelab(&args, d), "--fps");
    let mut args = args.to_vec();
    args.extend(["--fps", "100"]);
    ok(&spikelab(&args, d));
    let r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(d.join("emb.json")).unwrap()).unwrap();
    assert_eq!(r["weights"].as_array().unwrap().len(), 10);
    assert_eq!(r["features"].as_array().unwrap().len(), 3);
    assert_eq!(r["preprocessed"], false);
    assert!(
        r["input"]
            .as_str()
            .unwrap()
            .ends_with("4.test.calcium.csv.gz")
    );
}

#[test]
fn train_cascade_writes_a_model_folder_that_deconvolve_uses() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let gt = data("cascade-sample");
    let base = [
        "calcium",
        "train-cascade",
        "--ground-truth",
        &gt,
        "--frame-rate",
        "30",
        "--noise-levels",
        "2",
        "--ensemble",
        "1",
        "--epochs",
        "1",
        "--batch-size",
        "256",
        "--max-replicas",
        "1",
        "--max-windows",
        "2000",
        "--out",
        "my_model",
    ];
    let mut args = base.to_vec();
    args.extend(["--indicator", "GCaMP6f"]);
    ok(&spikelab(&args, d));
    let model = d.join("my_model");
    assert!(model.join("config.yaml").is_file());
    assert!(model.join("Model_NoiseLevel_2_Ensemble_0.h5").is_file());
    let cfg = std::fs::read_to_string(model.join("config.yaml")).unwrap();
    assert!(cfg.contains("model_name: my_model") && cfg.contains("- DS09-GCaMP6f-m-V1"));
    // No overwrite without --force; an indicator that selects nothing names what exists.
    fails_with(&spikelab(&args, d), "exists");
    let mut ogb = base.to_vec();
    ogb.extend(["--indicator", "OGB", "--force"]);
    fails_with(&spikelab(&ogb, d), "DS09-GCaMP6f-m-V1");
    let mut bad = base.to_vec();
    bad[7] = "2.5";
    bad.push("--force");
    fails_with(&spikelab(&bad, d), "noise_levels");
    // The folder is a CASCADE model for `deconvolve`.
    let npy = data("cascade-golden/ds09_global_exc_30hz/input_dff.npy");
    let m = format!("cascade:{}", model.display());
    ok(&spikelab(
        &[
            "calcium",
            "deconvolve",
            &npy,
            "out.npy",
            "--neurons-first",
            "--fps",
            "30",
            "--model",
            &m,
        ],
        d,
    ));
    let y = spikelab_data::io::npy::read_typed::<f64, ndarray::Ix2>(&d.join("out.npy")).unwrap();
    assert_eq!(y.dim(), (3000, 24));
}
