//! Mean shift and its bandwidth against scikit-learn 1.9.1 (`datasets/sort/cluster`, made by
//! `scripts/sort_fixtures_cluster.py`).

use ndarray::{Array1, Array2};
use ndarray_npy::read_npy;
use spikelab_sort::cluster::{MeanShiftParams, estimate_bandwidth, mean_shift};

fn dir() -> std::path::PathBuf {
    spikelab_datasets::root().unwrap().join("sort/cluster")
}

#[test]
fn bandwidth_and_clusters_equal_scikit_learn() {
    let expected: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir().join("expected.json")).unwrap())
            .unwrap();
    for name in ["blobs2d", "blobs4d"] {
        let x: Array2<f64> = read_npy(dir().join(format!("{name}_x.npy"))).unwrap();
        let case = &expected["cases"][name];
        for q in ["0.04", "0.1", "0.3"] {
            let want = case["bandwidth"][q].as_f64().unwrap();
            let got = estimate_bandwidth(x.view(), q.parse().unwrap(), None, 0).unwrap();
            assert!(
                (got - want).abs() <= 1e-12 * want,
                "{name} q{q}: {got} vs {want}"
            );
        }
        for q in ["0.1", "0.3"] {
            let h = case["bandwidth"][q].as_f64().unwrap();
            let fit = mean_shift(x.view(), &MeanShiftParams::default().bandwidth(h)).unwrap();
            let centers: Array2<f64> =
                read_npy(dir().join(format!("{name}_q{q}_centers.npy"))).unwrap();
            let labels: Array1<i64> =
                read_npy(dir().join(format!("{name}_q{q}_labels.npy"))).unwrap();
            assert_eq!(fit.centers.dim(), centers.dim(), "{name} q{q}");
            let err = (&fit.centers - &centers)
                .iter()
                .fold(0.0f64, |m, v| m.max(v.abs()));
            assert!(err < 1e-9, "{name} q{q}: centre error {err}");
            let labels: Vec<usize> = labels.iter().map(|&l| l as usize).collect();
            assert_eq!(fit.labels, labels, "{name} q{q}");
            assert_eq!(
                fit.n_iter as u64,
                case["mean_shift"][q]["n_iter"].as_u64().unwrap(),
                "{name} q{q}"
            );
        }
    }
}
