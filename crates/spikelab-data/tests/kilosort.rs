//! Kilosort/phy folder reader and writer, on folders generated in a tempdir.

use std::path::Path;

use ndarray::{Array1, Array2};
use ndarray_npy::write_npy;
use spikelab_data::io::kilosort::{self, Assignment, ClusterLabel, PyValue};
use spikelab_data::io::mat;
use spikelab_data::{DataError, SpikeTrains};
use spikelab_datasets as datasets;

const PARAMS: &str = "\
dat_path = r'C:\\data\\rec#1.bin'   # a '#' inside a string is not a comment
n_channels_dat = 385
dtype = 'int16'
offset = 0
sample_rate = 30000.  # Hz
hp_filtered = False
channel_map = [0, 1, 2, ]
";

fn make_folder(dir: &Path) {
    // Spikes of clusters 5, 2 and 9, not sorted by cluster; times as an (n, 1) uint64 array.
    let samples: Vec<u64> = vec![10, 300, 450, 3000, 3001, 60_000, 90_000];
    let clusters: Vec<i32> = vec![5, 2, 5, 9, 2, 5, 9];
    let t = Array2::from_shape_vec((samples.len(), 1), samples).unwrap();
    write_npy(dir.join("spike_times.npy"), &t).unwrap();
    write_npy(dir.join("spike_clusters.npy"), &Array1::from(clusters)).unwrap();
    std::fs::write(dir.join("params.py"), PARAMS).unwrap();
    std::fs::write(
        dir.join("cluster_KSLabel.tsv"),
        "cluster_id\tKSLabel\n2\tgood\n5\tmua\n9\tgood\n",
    )
    .unwrap();
    // Manual curation overrides KSLabel for cluster 9; cluster 11 has no spikes.
    std::fs::write(
        dir.join("cluster_group.tsv"),
        "cluster_id\tgroup\n9\tnoise\n11\tgood\n",
    )
    .unwrap();
}

#[test]
fn reads_generated_phy_folder() {
    let dir = tempfile::tempdir().unwrap();
    make_folder(dir.path());
    let out = kilosort::read_kilosort_output(dir.path()).unwrap();
    assert_eq!(out.sample_rate_hz, 30000.0);
    assert_eq!(out.assignment, Assignment::Clusters);
    let st = &out.spike_trains;
    assert_eq!(st.unit_ids(), &[2, 5, 9]);
    assert_eq!(st.train(0), &[300.0 / 30000.0, 3001.0 / 30000.0]);
    assert_eq!(
        st.train(1),
        &[10.0 / 30000.0, 450.0 / 30000.0, 60_000.0 / 30000.0]
    );
    assert_eq!(st.train(2), &[0.1, 3.0]);
    assert_eq!(st.t_start_s(), 0.0);
    assert_eq!(st.t_stop_s(), 3.0);
    assert_eq!(
        out.labels,
        vec![
            Some(ClusterLabel::Good),
            Some(ClusterLabel::Mua),
            Some(ClusterLabel::Noise)
        ]
    );
    assert_eq!(out.label_of(9), Some(&ClusterLabel::Noise));
    assert_eq!(out.label_of(11), None);
    assert_eq!(
        out.units_labelled(&ClusterLabel::Good).unwrap().unit_ids(),
        &[2]
    );
    // params.py literals.
    let p = &out.params;
    assert_eq!(
        p.get("dat_path").and_then(PyValue::as_str),
        Some("C:\\data\\rec#1.bin")
    );
    assert_eq!(p.get("hp_filtered"), Some(&PyValue::Bool(false)));
    assert_eq!(
        p.get("channel_map"),
        Some(&PyValue::List(vec![
            PyValue::Number(0.0),
            PyValue::Number(1.0),
            PyValue::Number(2.0)
        ]))
    );
    // The plain reader gives the same trains.
    assert_eq!(&kilosort::read_kilosort(dir.path()).unwrap(), st);
}

#[test]
fn falls_back_to_templates_and_reads_n_samples() {
    let dir = tempfile::tempdir().unwrap();
    write_npy(
        dir.path().join("spike_times.npy"),
        &Array1::from(vec![5i64, 20, 40]),
    )
    .unwrap();
    write_npy(
        dir.path().join("spike_templates.npy"),
        &Array1::from(vec![1u32, 0, 1]),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("params.py"),
        "sample_rate = 1e3\nn_samples = 1_000\n",
    )
    .unwrap();
    let out = kilosort::read_kilosort_output(dir.path()).unwrap();
    assert_eq!(out.assignment, Assignment::Templates);
    assert_eq!(out.spike_trains.unit_ids(), &[0, 1]);
    assert_eq!(out.spike_trains.train(1), &[0.005, 0.04]);
    assert_eq!(out.spike_trains.t_stop_s(), 1.0);
    assert!(out.labels.iter().all(Option::is_none));
}

fn expect_ks_err(dir: &Path, needle: &str) {
    match kilosort::read_kilosort(dir) {
        Err(e @ DataError::Kilosort { .. }) => {
            assert!(e.to_string().contains(needle), "{e} lacks {needle:?}")
        }
        other => panic!("expected a Kilosort error containing {needle:?}, got {other:?}"),
    }
}

#[test]
fn bad_folders_give_kilosort_errors() {
    // Missing params.py.
    let dir = tempfile::tempdir().unwrap();
    make_folder(dir.path());
    std::fs::remove_file(dir.path().join("params.py")).unwrap();
    expect_ks_err(dir.path(), "params.py");

    // params.py without sample_rate.
    std::fs::write(dir.path().join("params.py"), "dtype = 'int16'\n").unwrap();
    expect_ks_err(dir.path(), "sample_rate");
    // sample_rate that is not a number, or not positive.
    std::fs::write(dir.path().join("params.py"), "sample_rate = 'fast'\n").unwrap();
    expect_ks_err(dir.path(), "sample_rate");
    std::fs::write(dir.path().join("params.py"), "sample_rate = 0\n").unwrap();
    expect_ks_err(dir.path(), "sample_rate");
    // A line that is not an assignment.
    std::fs::write(dir.path().join("params.py"), "sample_rate 30000\n").unwrap();
    expect_ks_err(dir.path(), "line 1");
    std::fs::write(dir.path().join("params.py"), PARAMS).unwrap();

    // Length mismatch between times and clusters.
    write_npy(
        dir.path().join("spike_clusters.npy"),
        &Array1::from(vec![1i32, 2]),
    )
    .unwrap();
    expect_ks_err(dir.path(), "2 cluster ids for 7 spike times");

    // Negative sample index.
    write_npy(
        dir.path().join("spike_times.npy"),
        &Array1::from(vec![3i64, -1]),
    )
    .unwrap();
    expect_ks_err(dir.path(), "negative");

    // Float spike times.
    write_npy(
        dir.path().join("spike_times.npy"),
        &Array1::from(vec![0.5f64, 1.0]),
    )
    .unwrap();
    expect_ks_err(dir.path(), "integer dtype");

    // 2-D spike times.
    write_npy(
        dir.path().join("spike_times.npy"),
        &Array2::<i64>::zeros((2, 2)),
    )
    .unwrap();
    expect_ks_err(dir.path(), "shape");

    // No cluster assignment at all.
    write_npy(
        dir.path().join("spike_times.npy"),
        &Array1::from(vec![3u64, 4]),
    )
    .unwrap();
    std::fs::remove_file(dir.path().join("spike_clusters.npy")).unwrap();
    expect_ks_err(dir.path(), "spike_templates.npy");

    // Missing spike_times.npy.
    std::fs::remove_file(dir.path().join("spike_times.npy")).unwrap();
    expect_ks_err(dir.path(), "spike_times.npy");

    // Malformed label file.
    let dir = tempfile::tempdir().unwrap();
    make_folder(dir.path());
    std::fs::write(
        dir.path().join("cluster_group.tsv"),
        "cluster_id\tgroup\nx\tgood\n",
    )
    .unwrap();
    expect_ks_err(dir.path(), "not an integer");

    // Not a folder.
    expect_ks_err(&dir.path().join("nope"), "not a folder");
}

#[test]
fn round_trip_of_real_ground_truth_spikes() {
    // Ground-truth spike times of Spikefinder test 3 (from the bundled .mat) as "clusters".
    let recs = mat::read_c2s(&datasets::spikefinder_test_mat(3).unwrap()).unwrap();
    let st = mat::c2s_to_spike_trains(&recs).unwrap();
    // Kilosort samples start at 0: shift onto [0, duration].
    let t0 = st.t_start_s();
    let trains: Vec<Vec<f64>> = st
        .trains()
        .iter()
        .map(|t| t.iter().map(|x| x - t0).collect())
        .collect();
    let ids: Vec<i64> = (0..trains.len() as i64).map(|i| 10 * i + 3).collect();
    let st = SpikeTrains::with_ids(trains, ids, 0.0, st.t_stop_s() - t0).unwrap();

    let dir = tempfile::tempdir().unwrap();
    let sr = 30_000.0;
    kilosort::write_kilosort(dir.path(), &st, sr, false).unwrap();
    let back = kilosort::read_kilosort(dir.path()).unwrap();
    assert_eq!(back.unit_ids(), st.unit_ids());
    assert_eq!(back.counts(), st.counts());
    assert!((back.t_stop_s() - st.t_stop_s()).abs() <= 0.5 / sr);
    for (a, b) in back.trains().iter().zip(st.trains()) {
        for (x, y) in a.iter().zip(b) {
            assert!((x - y).abs() <= 0.5 / sr + 1e-12, "{x} vs {y}");
        }
    }
    // Refuses to overwrite, unless asked.
    let err = kilosort::write_kilosort(dir.path(), &st, sr, false).unwrap_err();
    assert!(matches!(err, DataError::AlreadyExists { .. }));
    kilosort::write_kilosort(dir.path(), &st, sr, true).unwrap();
    // Bad sample rate and ids beyond int32.
    assert!(kilosort::write_kilosort(dir.path(), &st, 0.0, true).is_err());
    let big = SpikeTrains::with_ids(vec![vec![0.1]], vec![1 << 40], 0.0, 1.0).unwrap();
    assert!(kilosort::write_kilosort(dir.path(), &big, sr, true).is_err());
}
