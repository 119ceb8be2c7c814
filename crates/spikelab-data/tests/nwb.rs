//! NWB reader/writer round trips and error paths (no Python needed; interop is in
//! `nwb_pynwb.rs`).
#![cfg(feature = "hdf5")]

use spikelab_data::io::nwb::{
    self, NwbElectrodes, NwbWriteOptions, OphysContainer, OphysDtype, OphysWriteOptions, PixelMask,
};
use spikelab_data::{CalciumTraces, DataError, SpikeTrains, io};
use spikelab_datasets::{self as datasets, Split};

/// Ragged trains from real data: the Spikefinder dataset 4 training spikes (first 5 neurons,
/// spike counts per 100 Hz frame turned into times), plus an empty unit.
fn real_trains() -> SpikeTrains {
    let (counts, _valid) = io::csv::read_spike_counts(
        &datasets::spikefinder_spikes(4, Split::Train).expect("dataset"),
        100.0,
    )
    .expect("spikes csv");
    let c = counts.counts();
    let n_bins = c.ncols();
    let mut trains: Vec<Vec<f64>> = (0..c.nrows().min(5))
        .map(|i| {
            let mut t = Vec::new();
            for (b, &k) in c.row(i).iter().enumerate() {
                for s in 0..k {
                    // Spread multiple spikes of one frame inside it.
                    t.push((b as f64 + (s as f64 + 0.5) / (k as f64 + 1.0)) * 0.01);
                }
            }
            t
        })
        .collect();
    trains.insert(2, Vec::new());
    let ids = (0..trains.len() as i64).map(|i| 100 + 3 * i).collect();
    SpikeTrains::with_ids(trains, ids, 0.0, n_bins as f64 * 0.01).expect("valid trains")
}

fn fixed_opts(desc: &str) -> NwbWriteOptions {
    let mut o = NwbWriteOptions::new(desc);
    o.session_start_time = "2024-03-01T09:30:00+01:00".into();
    o.identifier = "spikelab-test".into();
    o
}

#[test]
fn units_round_trip_ragged_with_empty_unit_and_electrodes() {
    let dir = spikelab_datasets::NwbTestDir::new();
    let st = real_trains();
    assert!(st.total_spikes() > 100, "fixture should have spikes");
    assert!(st.train(2).is_empty());

    // Without electrodes.
    let p1 = dir.path().join("plain.nwb");
    nwb::write_units(&p1, &st, &fixed_opts("plain")).unwrap();
    let back = nwb::read_units(&p1).unwrap();
    assert_eq!(back, st, "exact round trip incl. ids and interval");

    // With electrodes (unit u on rows [u % 4] and unit 3 on two rows).
    let p2 = dir.path().join("el.nwb");
    let mut opts = fixed_opts("with electrodes");
    let rows: Vec<Vec<usize>> = (0..st.n_units())
        .map(|u| if u == 3 { vec![1, 2] } else { vec![u % 4] })
        .collect();
    opts.electrodes = Some(NwbElectrodes::new(vec!["VISp".into(); 4], rows));
    nwb::write_units(&p2, &st, &opts).unwrap();
    assert_eq!(nwb::read_units(&p2).unwrap(), st);

    // spike_times is compressed and chunked.
    let f = hdf5::File::open(&p2).unwrap();
    let ds = f.dataset("units/spike_times").unwrap();
    assert!(ds.is_chunked());
    assert!(
        ds.filters()
            .iter()
            .any(|x| matches!(x, hdf5::filters::Filter::Deflate(_)))
    );
    let idx: Vec<u64> = f
        .dataset("units/spike_times_index")
        .unwrap()
        .read_raw()
        .unwrap();
    assert_eq!(idx.len(), st.n_units());
    assert_eq!(*idx.last().unwrap() as usize, st.total_spikes());
    assert_eq!(idx[1], idx[2], "empty unit has an empty range");
    let version = f
        .attr("nwb_version")
        .unwrap()
        .read_scalar::<hdf5::types::VarLenUnicode>()
        .unwrap();
    assert_eq!(version.as_str(), nwb::NWB_VERSION);

    let s = nwb::inspect(&p2).unwrap();
    let u = s.units.unwrap();
    assert_eq!(
        (u.n_units, u.n_spikes, u.has_electrodes),
        (st.n_units(), st.total_spikes(), true)
    );
    assert_eq!(s.identifier.as_deref(), Some("spikelab-test"));
    assert!(s.series.is_empty());
}

#[test]
fn units_edge_cases_round_trip() {
    let dir = spikelab_datasets::NwbTestDir::new();
    // No units at all is refused (an empty Units table fails DANDI's checks); a non-zero
    // t_start and all-empty units round-trip.
    let none = dir.path().join("none.nwb");
    let err = nwb::write_units(
        &none,
        &SpikeTrains::new(vec![], 0.0, 0.0).unwrap(),
        &fixed_opts("none"),
    )
    .unwrap_err();
    assert!(err.to_string().contains("no units"), "{err}");
    assert!(!none.exists());
    for (name, st) in [
        (
            "offset.nwb",
            SpikeTrains::new(vec![vec![1.5, 2.5]], 1.0, 4.0).unwrap(),
        ),
        (
            "empty.nwb",
            SpikeTrains::new(vec![vec![], vec![]], 0.0, 10.0).unwrap(),
        ),
    ] {
        let p = dir.path().join(name);
        nwb::write_units(&p, &st, &fixed_opts(name)).unwrap();
        assert_eq!(nwb::read_units(&p).unwrap(), st, "{name}");
    }
    // Traces with no frames are refused; frames but all NaN for one ROI round-trip.
    let no_frames = CalciumTraces::new(ndarray::Array2::zeros((0, 2)), 30.0).unwrap();
    let p = dir.path().join("no_frames.nwb");
    let err = nwb::write_ophys(&p, &no_frames, &OphysWriteOptions::new("none")).unwrap_err();
    assert!(err.to_string().contains("nothing to write"), "{err}");
    assert!(!p.exists());
    let tr = CalciumTraces::from_columns(&[vec![1.0, 2.0], vec![]], 30.0).unwrap();
    let p = dir.path().join("nan_roi.nwb");
    nwb::write_ophys(&p, &tr, &OphysWriteOptions::new("nan ROI")).unwrap();
    let back = nwb::read_ophys(&p).unwrap();
    assert_eq!(back.data().dim(), tr.data().dim());
    assert_eq!(back.valid_lengths(), tr.valid_lengths());
}

#[test]
fn ophys_round_trip_real_spikefinder_traces_with_nan_padding() {
    let dir = spikelab_datasets::NwbTestDir::new();
    let tr = io::csv::read_calcium(
        &datasets::spikefinder_calcium(4, Split::Test).unwrap(),
        100.0,
    )
    .unwrap();
    // The fixture is NaN-padded: some neuron is shorter than the longest one.
    let lens = tr.valid_lengths().to_vec();
    assert!(
        lens.iter().any(|&l| l < tr.n_frames()),
        "expected NaN padding"
    );

    // float64: bit-exact.
    let p = dir.path().join("f64.nwb");
    nwb::write_ophys(&p, &tr, &OphysWriteOptions::new("spikefinder 4 test")).unwrap();
    let back = nwb::read_ophys(&p).unwrap();
    assert_eq!(back.frame_rate_hz(), 100.0);
    assert_eq!(back.valid_lengths(), &lens[..]);
    assert_eq!(back.data().dim(), tr.data().dim());
    for (a, b) in back.data().iter().zip(tr.data().iter()) {
        assert!(a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan()));
    }

    // float32 in DfOverF with a custom name, masks and start time: equal to f32 precision.
    let p32 = dir.path().join("f32.nwb");
    let mut opts = OphysWriteOptions::new("f32");
    opts.dtype = OphysDtype::F32;
    opts.container = OphysContainer::DfOverF;
    opts.series_name = "dff".into();
    opts.starting_time_s = 2.5;
    opts.pixel_masks = Some(
        (0..tr.n_neurons() as u32)
            .map(|j| {
                vec![
                    PixelMask {
                        x: j,
                        y: 1,
                        weight: 0.5,
                    },
                    PixelMask {
                        x: j,
                        y: 2,
                        weight: 0.5,
                    },
                ]
            })
            .collect(),
    );
    nwb::write_ophys(&p32, &tr, &opts).unwrap();
    let back = nwb::read_ophys_series(&p32, "/processing/ophys/DfOverF/dff").unwrap();
    assert_eq!(back.valid_lengths(), &lens[..]);
    for (a, b) in back.data().iter().zip(tr.data().iter()) {
        assert!((a.is_nan() && b.is_nan()) || *a == (*b as f32) as f64);
    }
    let s = nwb::inspect(&p32).unwrap();
    assert_eq!(s.series.len(), 1);
    let ser = &s.series[0];
    assert_eq!(ser.path, "/processing/ophys/DfOverF/dff");
    assert_eq!((ser.n_frames, ser.n_rois), tr.data().dim());
    assert_eq!((ser.rate_hz, ser.starting_time_s), (Some(100.0), Some(2.5)));
    assert_eq!(ser.dtype, "float32");
    assert!(format!("{s}").contains("RoiResponseSeries /processing/ophys/DfOverF/dff"));

    // Reading ophys from a units-only file is a clear error, and vice versa.
    let err = nwb::read_units(&p).unwrap_err();
    assert!(matches!(err, DataError::Nwb { .. }), "{err}");
    assert!(err.to_string().contains("/units"), "{err}");
}

#[test]
fn writers_refuse_to_overwrite_and_keep_the_old_file() {
    let dir = spikelab_datasets::NwbTestDir::new();
    let p = dir.path().join("keep.nwb");
    let st = SpikeTrains::new(vec![vec![0.5]], 0.0, 1.0).unwrap();
    nwb::write_units(&p, &st, &fixed_opts("first")).unwrap();
    let before = std::fs::read(&p).unwrap();

    let other = SpikeTrains::new(vec![vec![0.1, 0.2]], 0.0, 1.0).unwrap();
    let err = nwb::write_units(&p, &other, &fixed_opts("second")).unwrap_err();
    assert!(matches!(err, DataError::AlreadyExists { .. }), "{err}");
    let tr = CalciumTraces::from_columns(&[vec![1.0, 2.0]], 10.0).unwrap();
    let err = nwb::write_ophys(&p, &tr, &OphysWriteOptions::default()).unwrap_err();
    assert!(matches!(err, DataError::AlreadyExists { .. }), "{err}");
    assert_eq!(std::fs::read(&p).unwrap(), before, "file untouched");

    // A failing overwrite (bad metadata) also leaves the old file and no temporary behind.
    let mut bad = fixed_opts("bad");
    bad.overwrite = true;
    bad.session_start_time = "2024-03-01 09:30".into();
    let err = nwb::write_units(&p, &other, &bad).unwrap_err();
    assert!(
        matches!(
            err,
            DataError::InvalidParameter {
                name: "session_start_time",
                ..
            }
        ),
        "{err}"
    );
    let mut bad_el = fixed_opts("bad electrodes");
    bad_el.overwrite = true;
    bad_el.electrodes = Some(NwbElectrodes::new(vec!["x".into()], vec![vec![3]]));
    assert!(nwb::write_units(&p, &other, &bad_el).is_err());
    assert_eq!(std::fs::read(&p).unwrap(), before, "file untouched");
    let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert_eq!(names.len(), 1, "no temporary files left");

    // With overwrite it is replaced.
    let mut ok = fixed_opts("second");
    ok.overwrite = true;
    nwb::write_units(&p, &other, &ok).unwrap();
    assert_eq!(nwb::read_units(&p).unwrap(), other);
}

#[test]
// Files broken on purpose: a plain temporary folder, not collected for nwbinspector.
fn missing_spike_times_index_is_a_typed_error() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("noindex.nwb");
    let st = SpikeTrains::new(vec![vec![0.1, 0.2], vec![0.3]], 0.0, 1.0).unwrap();
    nwb::write_units(&p, &st, &fixed_opts("to be broken")).unwrap();
    {
        let f = hdf5::File::open_rw(&p).unwrap();
        f.group("units")
            .unwrap()
            .unlink("spike_times_index")
            .unwrap();
    }
    let err = nwb::read_units(&p).unwrap_err();
    match &err {
        DataError::Nwb { path, reason } => {
            assert_eq!(path, &p);
            assert!(reason.contains("spike_times_index"), "{reason}");
        }
        other => panic!("expected DataError::Nwb, got {other:?}"),
    }
    assert!(err.to_string().contains("noindex.nwb"));

    // An index that does not end at the number of spikes is rejected too.
    let p2 = dir.path().join("badindex.nwb");
    nwb::write_units(&p2, &st, &fixed_opts("to be broken")).unwrap();
    {
        let f = hdf5::File::open_rw(&p2).unwrap();
        let units = f.group("units").unwrap();
        units.unlink("spike_times_index").unwrap();
        units
            .new_dataset_builder()
            .with_data(&[2u8, 2][..])
            .create("spike_times_index")
            .unwrap();
    }
    let err = nwb::read_units(&p2).unwrap_err();
    assert!(err.to_string().contains("ends at 2"), "{err}");
}

#[test]
fn not_an_hdf5_file_and_missing_files_are_typed_errors() {
    let dir = spikelab_datasets::NwbTestDir::new();
    // A real non-HDF5 file from the bundled data.
    let csv = datasets::spikefinder_calcium(4, Split::Test).unwrap();
    for f in [
        nwb::read_units(&csv).map(|_| ()),
        nwb::read_ophys(&csv).map(|_| ()),
        nwb::inspect(&csv).map(|_| ()),
    ] {
        let err = f.unwrap_err();
        assert!(matches!(err, DataError::Nwb { .. }), "{err}");
        assert!(err.to_string().contains("HDF5"), "{err}");
    }
    let missing = dir.path().join("nope.nwb");
    assert!(matches!(
        nwb::read_units(&missing),
        Err(DataError::Io { .. })
    ));
    // Writing into a folder that does not exist fails without panicking.
    let deep = dir.path().join("no/such/dir/x.nwb");
    let st = SpikeTrains::new(vec![vec![0.1]], 0.0, 1.0).unwrap();
    assert!(nwb::write_units(&deep, &st, &fixed_opts("x")).is_err());
}

#[test]
fn ophys_errors() {
    let dir = spikelab_datasets::NwbTestDir::new();
    let p = dir.path().join("u.nwb");
    let st = SpikeTrains::new(vec![vec![0.1]], 0.0, 1.0).unwrap();
    nwb::write_units(&p, &st, &fixed_opts("units only")).unwrap();
    let err = nwb::read_ophys(&p).unwrap_err();
    assert!(err.to_string().contains("no RoiResponseSeries"), "{err}");
    let err = nwb::read_ophys_series(&p, "/units").unwrap_err();
    assert!(err.to_string().contains("not a RoiResponseSeries"), "{err}");

    let tr = CalciumTraces::from_columns(&[vec![1.0, 2.0], vec![3.0]], 10.0).unwrap();
    let opts = OphysWriteOptions {
        pixel_masks: Some(vec![vec![]]),
        ..Default::default()
    };
    let err = nwb::write_ophys(&dir.path().join("o.nwb"), &tr, &opts).unwrap_err();
    assert!(matches!(err, DataError::Shape { .. }), "{err}");
    let opts = OphysWriteOptions {
        series_name: "a/b".into(),
        ..Default::default()
    };
    assert!(nwb::write_ophys(&dir.path().join("o.nwb"), &tr, &opts).is_err());
    assert!(!dir.path().join("o.nwb").exists());
}

/// Sets a fixed-length ASCII string attribute (what some non-Python HDF5 writers produce).
fn fixed_attr<const N: usize>(loc: &hdf5::Location, name: &str, value: &str) {
    let v = hdf5::types::FixedAscii::<N>::from_ascii(value).unwrap();
    loc.new_attr::<hdf5::types::FixedAscii<N>>()
        .create(name)
        .unwrap()
        .write_scalar(&v)
        .unwrap();
}

#[test]
fn reads_foreign_layouts_fixed_strings_narrow_types_unsorted_timestamps() {
    let dir = spikelab_datasets::NwbTestDir::new();
    let p = dir.path().join("foreign.nwb");
    {
        let f = hdf5::File::create(&p).unwrap();
        let units = f.create_group("units").unwrap();
        fixed_attr::<5>(&units, "neurodata_type", "Units");
        units
            .new_dataset_builder()
            .with_data(&[5i32, 9][..])
            .create("id")
            .unwrap();
        // float32 times, unit 0 stored unsorted, uint16 index.
        units
            .new_dataset_builder()
            .with_data(&[0.3f32, 0.1, 0.2, 1.5][..])
            .create("spike_times")
            .unwrap();
        units
            .new_dataset_builder()
            .with_data(&[3u16, 4][..])
            .create("spike_times_index")
            .unwrap();
        // A 1-D int16 RoiResponseSeries in /acquisition with timestamps, conversion, offset.
        let acq = f.create_group("acquisition").unwrap();
        for (name, ts) in [
            ("trace", [1.0, 1.25, 1.5, 1.75]),
            ("z_irregular", [0.0, 1.0, 3.0, 4.0]),
        ] {
            let rrs = acq.create_group(name).unwrap();
            fixed_attr::<17>(&rrs, "neurodata_type", "RoiResponseSeries");
            let data = rrs
                .new_dataset_builder()
                .with_data(&[10i16, 20, 30, 40][..])
                .create("data")
                .unwrap();
            for (a, v) in [("conversion", 0.5f32), ("offset", 1.0f32)] {
                data.new_attr::<f32>()
                    .create(a)
                    .unwrap()
                    .write_scalar(&v)
                    .unwrap();
            }
            rrs.new_dataset_builder()
                .with_data(&ts[..])
                .create("timestamps")
                .unwrap();
        }
    }
    let st = nwb::read_units(&p).unwrap();
    assert_eq!(st.unit_ids(), &[5, 9]);
    assert_eq!(
        st.train(0),
        &[0.1f32 as f64, 0.2f32 as f64, 0.3f32 as f64],
        "sorted on read"
    );
    assert_eq!((st.t_start_s(), st.t_stop_s()), (0.0, 1.5f32 as f64));

    let tr = nwb::read_ophys(&p).unwrap();
    assert_eq!(tr.frame_rate_hz(), 4.0);
    assert_eq!(tr.trace(0).to_vec(), vec![6.0, 11.0, 16.0, 21.0]);
    let err = nwb::read_ophys_series(&p, "/acquisition/z_irregular").unwrap_err();
    assert!(err.to_string().contains("irregular"), "{err}");

    let s = nwb::inspect(&p).unwrap();
    assert_eq!(s.nwb_version, None);
    assert_eq!(s.units.unwrap().n_spikes, 4);
    assert_eq!(s.series.len(), 2);
    assert_eq!(s.series[0].path, "/acquisition/trace");
    assert_eq!(s.series[0].rate_hz, Some(4.0));
    assert_eq!(s.series[1].rate_hz, None, "irregular timestamps: no rate");
}
