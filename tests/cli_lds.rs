//! `spikelab synth molds`, `spikelab lds molds`, `spikelab lds fit` end to end on a small
//! seeded problem: outputs exist and parse, nothing is overwritten without `--force`.

mod common;
use common::spikelab;

#[test]
fn synth_then_molds_then_fit() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let synth = [
        "synth",
        "molds",
        "--trajectories",
        "40",
        "--steps",
        "80",
        "--seed",
        "3",
        "--out",
        "y.npy",
    ];
    let out = spikelab(&synth, d);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for f in ["y.npy", "y.u.npy", "y.truth.json"] {
        assert!(d.join(f).exists(), "{f} missing");
    }
    let again = spikelab(&synth, d);
    assert!(!again.status.success(), "overwrote without --force");
    let mut forced = synth.to_vec();
    forced.push("--force");
    assert!(spikelab(&forced, d).status.success());

    let molds = [
        "lds",
        "molds",
        "--y",
        "y.npy",
        "--u",
        "y.u.npy",
        "--components",
        "3",
        "--states",
        "3",
        "--out",
        "fit",
        "--iters",
        "3",
        "--truth",
        "y.truth.json",
    ];
    let out = spikelab(&molds, d);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for f in [
        "model.json",
        "fit.json",
        "responsibilities.npy",
        "comparison.json",
    ] {
        assert!(d.join("fit").join(f).exists(), "fit/{f} missing");
    }
    let cmp: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(d.join("fit/comparison.json")).unwrap())
            .unwrap();
    let acc = cmp["accuracy"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&acc));
    assert!(
        !spikelab(&molds, d).status.success(),
        "overwrote without --force"
    );

    let fit = [
        "lds", "fit", "--y", "y.npy", "--u", "y.u.npy", "--states", "3", "--out", "one.json",
        "--iters", "3",
    ];
    let out = spikelab(&fit, d);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let one: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(d.join("one.json")).unwrap()).unwrap();
    let ll = one["loglik"].as_array().unwrap();
    assert_eq!(ll.len(), 4);
    assert!(d.join("one.states.npy").exists());
    // No temporary files left behind.
    let leftovers: Vec<_> = std::fs::read_dir(d)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().contains(".tmp-"))
        .collect();
    assert!(leftovers.is_empty());
}
