//! Re-runs `scripts/make_fixtures.py --only pykalman` and checks that it reproduces the
//! checked-in pykalman and dense-posterior reference files (to 1e-12 relative: numpy/scipy
//! versions may differ in the last bits).
//!
//! Never skipped: it needs a Python with pykalman, found as `$SPIKELAB_PYTHON`, else
//! `<repo>/.venv/bin/python`; without one it FAILS and says to run
//! `bash scripts/setup_python.sh`. (The dynamax cases need JAX and are not re-run here.)

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Largest |a − b| / max(1, |b|) over two JSON trees with the same structure.
fn max_rel(a: &Value, b: &Value, path: &str) -> f64 {
    match (a, b) {
        (Value::Array(x), Value::Array(y)) => {
            assert_eq!(x.len(), y.len(), "{path}: lengths differ");
            x.iter()
                .zip(y)
                .enumerate()
                .map(|(i, (p, q))| max_rel(p, q, &format!("{path}[{i}]")))
                .fold(0.0, f64::max)
        }
        (Value::Object(x), Value::Object(y)) => {
            assert_eq!(x.len(), y.len(), "{path}: keys differ");
            x.iter()
                .map(|(k, v)| max_rel(v, &y[k], &format!("{path}.{k}")))
                .fold(0.0, f64::max)
        }
        (Value::Number(p), Value::Number(q)) => {
            let (p, q) = (p.as_f64().unwrap(), q.as_f64().unwrap());
            (p - q).abs() / q.abs().max(1.0)
        }
        (Value::String(_), Value::String(_)) => 0.0, // package versions may differ
        _ => {
            assert_eq!(a, b, "{path}");
            0.0
        }
    }
}

#[test]
fn make_fixtures_rerun_reproduces_pykalman_references() {
    let py = spikelab_datasets::python(&["pykalman", "numpy"]);
    let out = tempfile::tempdir().unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/make_fixtures.py");
    let run = Command::new(&py)
        .arg(&script)
        .args(["--only", "pykalman", "--out"])
        .arg(out.path())
        .output()
        .expect("run make_fixtures.py");
    assert!(
        run.status.success(),
        "make_fixtures.py failed:\n{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let names = [
        "L1_pykalman_filter",
        "L2_pykalman_em",
        "L3_pykalman_filter_masked",
        "L3_pykalman_em_masked",
        "L6_dense_partial_mask",
    ];
    for name in names {
        let read = |dir: &Path| -> Value {
            serde_json::from_str(
                &std::fs::read_to_string(dir.join(format!("{name}.json"))).unwrap(),
            )
            .unwrap()
        };
        let fresh = read(out.path());
        let stored = read(&repo_root().join("datasets/lds/reference"));
        let e = max_rel(&fresh, &stored, name);
        println!("{name}: max relative difference {e:.2e}");
        assert!(
            e <= 1e-12,
            "{name}: re-run differs from the checked-in file by {e:.3e}"
        );
    }
}
