//! The reader facade `io::open`: format and content detection in one place, explicit overrides,
//! typed readers and their errors.

use spikelab_data::io::{self, Content, Loaded, ReadOptions};
use spikelab_data::{DataError, SpikeTrains};
use spikelab_datasets::{self as datasets, Split};

#[test]
fn csv_content_decides_not_the_name() {
    let calcium = datasets::spikefinder_calcium(4, Split::Test).unwrap();
    let spikes = datasets::spikefinder_spikes(4, Split::Test).unwrap();
    // Spikefinder CSVs store no frame rate: it is given (100 Hz).
    let o = ReadOptions {
        frame_rate_hz: Some(100.0),
        ..ReadOptions::default()
    };
    assert!(matches!(io::open(&calcium, &o).unwrap(), Loaded::Traces(_)));
    let Loaded::Raster(r) = io::open(&spikes, &o).unwrap() else {
        panic!("spike counts are a raster")
    };
    assert_eq!((r.n_neurons(), r.bin_s()), (3, 0.01));
    // The same counts copied to a name without "spikes" are still a raster.
    let dir = tempfile::tempdir().unwrap();
    let renamed = dir.path().join("counts.csv.gz");
    std::fs::copy(&spikes, &renamed).unwrap();
    assert!(matches!(io::open(&renamed, &o).unwrap(), Loaded::Raster(_)));
    // An explicit content wins over the content.
    let as_traces = ReadOptions {
        content: Some(Content::Traces),
        ..o.clone()
    };
    assert!(matches!(
        io::open(&renamed, &as_traces).unwrap(),
        Loaded::Traces(_)
    ));
    // Typed readers.
    let t = io::read_traces(&calcium, &o).unwrap();
    assert_eq!(t.n_neurons(), 3);
    assert_eq!(io::read_raster(&spikes, &o).unwrap(), r);
}

#[test]
fn mat_files_c2s_and_matrix() {
    let o = ReadOptions::default();
    let c2s = datasets::spikefinder_test_mat(4).unwrap();
    assert!(matches!(io::open(&c2s, &o).unwrap(), Loaded::Traces(_)));
    // The CA1 file's only 2-D matrix, whole numbers: a raster, binned as asked.
    let ca1 = datasets::convseq("ca1_rubin/neuronal_activity_mat.mat").unwrap();
    let r = io::read_raster(
        &ca1,
        &ReadOptions {
            bin_s: Some(0.05),
            ..ReadOptions::default()
        },
    )
    .unwrap();
    assert_eq!((r.n_neurons(), r.n_bins(), r.bin_s()), (452, 18137, 0.05));
    let named = io::read_raster(
        &ca1,
        &ReadOptions {
            bin_s: Some(0.05),
            variable: Some("neuronal_activity_mat".into()),
            ..ReadOptions::default()
        },
    )
    .unwrap();
    assert_eq!(named, r);
}

#[test]
fn kilosort_folder_and_npy() {
    let dir = tempfile::tempdir().unwrap();
    let st = SpikeTrains::new(vec![vec![0.1, 0.5], vec![0.25]], 0.0, 1.0).unwrap();
    let ks = dir.path().join("ks");
    io::kilosort::write_kilosort(&ks, &st, 30_000.0, false).unwrap();
    let o = ReadOptions {
        bin_s: Some(0.1),
        ..ReadOptions::default()
    };
    let read = io::read_spike_trains(&ks, &o).unwrap();
    assert_eq!(read.n_units(), 2);
    assert_eq!(read.total_spikes(), 3);
    let r = io::read_raster(&ks, &o).unwrap();
    assert_eq!(r.total_spikes(), 3);
    // An integer .npy is a raster, a float one an array unless asked for traces.
    let npy = dir.path().join("r.npy");
    io::npy::write(&npy, r.counts(), false).unwrap();
    assert!(matches!(io::open(&npy, &o).unwrap(), Loaded::Raster(_)));
    let f = dir.path().join("f.npy");
    io::npy::write(&f, &ndarray::array![[0.5, 1.5], [2.5, 3.5]], false).unwrap();
    assert!(matches!(io::open(&f, &o).unwrap(), Loaded::Array(_)));
    let a = io::read_population_activity(&f, &o).unwrap();
    assert_eq!(a.activity().dim(), (2, 2));
    let t = io::read_traces(
        &f,
        &ReadOptions {
            neurons_first: true,
            frame_rate_hz: Some(30.0),
            ..ReadOptions::default()
        },
    )
    .unwrap();
    assert_eq!((t.data()[[0, 1]], t.frame_rate_hz()), (2.5, 30.0));
}

#[test]
fn wrong_content_and_bad_options_are_errors() {
    let calcium = datasets::spikefinder_calcium(4, Split::Test).unwrap();
    let e = io::read_spike_trains(&calcium, &ReadOptions::default()).unwrap_err();
    assert!(matches!(e, DataError::WrongContent { .. }), "{e}");
    let bad = ReadOptions {
        frame_rate_hz: Some(0.0),
        ..ReadOptions::default()
    };
    let e = io::open(&calcium, &bad).unwrap_err();
    assert!(matches!(e, DataError::InvalidParameter { .. }), "{e}");
}

#[cfg(feature = "hdf5")]
#[test]
fn nwb_units_and_ophys() {
    let dir = spikelab_datasets::NwbTestDir::new();
    let st = SpikeTrains::new(vec![vec![0.1, 0.5], vec![0.25]], 0.0, 1.0).unwrap();
    let units = dir.path().join("u.nwb");
    io::nwb::write_units(&units, &st, &Default::default()).unwrap();
    assert_eq!(
        io::read_spike_trains(&units, &ReadOptions::default()).unwrap(),
        io::nwb::read_units(&units).unwrap()
    );
    let calcium = datasets::spikefinder_calcium(4, Split::Test).unwrap();
    let at_100_hz = ReadOptions {
        frame_rate_hz: Some(100.0),
        ..ReadOptions::default()
    };
    let tr = io::read_traces(&calcium, &at_100_hz).unwrap();
    let ophys = dir.path().join("o.nwb");
    io::nwb::write_ophys(&ophys, &tr, &Default::default()).unwrap();
    let back = io::read_traces(&ophys, &ReadOptions::default()).unwrap();
    assert_eq!(back.n_neurons(), 3);
    let e = io::read_spike_trains(&ophys, &ReadOptions::default()).unwrap_err();
    assert!(matches!(e, DataError::WrongContent { .. }), "{e}");
}
