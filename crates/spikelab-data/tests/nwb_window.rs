//! Windowed NWB reads equal the full read filtered to the window: files from our writers, the
//! pynwb fixture, a hand-made `timestamps` series, edge windows and typed errors.
#![cfg(feature = "hdf5")]

use std::path::Path;
use std::str::FromStr;

use ndarray::{Array2, s};
use spikelab_data::io::nwb::{self, NwbWriteOptions, OphysDtype, OphysWriteOptions};
use spikelab_data::{CalciumTraces, DataError, SpikeTrains};

/// Deterministic uniform numbers in [0, 1) (64-bit LCG, top 53 bits).
struct Lcg(u64);
impl Lcg {
    fn next(&mut self) -> f64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// `n` sorted times in `[t0, t1)`.
fn poisson_like(rng: &mut Lcg, n: usize, t0: f64, t1: f64) -> Vec<f64> {
    let mut t: Vec<f64> = (0..n).map(|_| t0 + rng.next() * (t1 - t0)).collect();
    t.sort_by(f64::total_cmp);
    t
}

/// The full read restricted to `[a, b)`, interval set to the window.
fn filtered(full: &SpikeTrains, a: f64, b: f64) -> SpikeTrains {
    let trains = full
        .trains()
        .iter()
        .map(|t| t.iter().copied().filter(|&x| x >= a && x < b).collect())
        .collect();
    SpikeTrains::with_ids(trains, full.unit_ids().to_vec(), a, b).unwrap()
}

fn check_units_windows(path: &Path, windows: &[(f64, f64)]) {
    let full = nwb::read_units(path).unwrap();
    for &(a, b) in windows {
        let w = nwb::read_units_window(path, a, b).unwrap();
        assert_eq!(w, filtered(&full, a, b), "window [{a}, {b})");
    }
}

#[test]
fn units_windows_equal_the_filtered_full_read() {
    let dir = spikelab_datasets::NwbTestDir::new();
    let mut rng = Lcg(7);
    // Units longer than a chunk (65 536 spikes), short ones, empty ones, one spike.
    let trains = vec![
        poisson_like(&mut rng, 200_000, 0.0, 1000.0),
        vec![],
        poisson_like(&mut rng, 10, 100.0, 900.0),
        poisson_like(&mut rng, 90_000, 0.0, 1000.0),
        vec![],
        vec![500.0],
        poisson_like(&mut rng, 70_000, 400.0, 600.0),
    ];
    let spike = trains[0][123_456];
    let st = SpikeTrains::with_ids(trains, (10..17).collect(), 0.0, 1000.0).unwrap();
    let p = dir.path().join("big.nwb");
    nwb::write_units(&p, &st, &NwbWriteOptions::new("windows")).unwrap();
    let mut windows = vec![
        (-20.0, -10.0),   // before the recording
        (2000.0, 2100.0), // after it
        (-1.0, 1e4),      // all of it
        (0.0, 1000.0),    // exactly the recording
        (500.0, 500.0),   // empty window on a spike
        (500.0, 500.5),   // starts on a spike (included)
        (499.5, 500.0),   // ends on a spike (excluded)
        (spike, spike + 60.0),
        (spike - 60.0, spike),
        (950.0, 1010.0),
    ];
    for _ in 0..8 {
        let a = rng.next() * 1100.0 - 50.0;
        windows.push((a, a + 60.0));
    }
    check_units_windows(&p, &windows);

    // A single unit, all units empty.
    for (name, st) in [
        ("one.nwb", SpikeTrains::new(vec![vec![1.5, 2.5]], 1.0, 4.0)),
        (
            "empty.nwb",
            SpikeTrains::new(vec![vec![], vec![]], 0.0, 10.0),
        ),
    ] {
        let p = dir.path().join(name);
        nwb::write_units(&p, &st.unwrap(), &NwbWriteOptions::new(name)).unwrap();
        check_units_windows(&p, &[(0.0, 2.0), (2.0, 3.0), (-5.0, 50.0), (3.0, 3.0)]);
    }
}

#[test]
fn units_windows_of_the_pynwb_fixture() {
    let p = spikelab_datasets::path("readers/nwb/units_pynwb.nwb").unwrap();
    let full = nwb::read_units(&p).unwrap();
    assert!(full.total_spikes() > 0);
    let (t0, t1) = (full.t_start_s(), full.t_stop_s());
    let mid = 0.5 * (t0 + t1);
    let mut windows = vec![
        (t0 - 1.0, t1 + 1.0),
        (t0, mid),
        (mid, t1),
        (t1 + 1.0, t1 + 2.0),
        (mid, mid),
    ];
    for k in 0..10 {
        let a = t0 + (t1 - t0) * k as f64 / 10.0;
        windows.push((a, a + (t1 - t0) / 7.0));
    }
    check_units_windows(&p, &windows);
}

/// NaN-aware equality of two `[time, ROI]` arrays.
fn same(a: &Array2<f64>, b: &Array2<f64>) -> bool {
    a.dim() == b.dim()
        && a.iter()
            .zip(b.iter())
            .all(|(x, y)| x == y || (x.is_nan() && y.is_nan()))
}

/// Compares windows with the full read of `series`, frame `i` at `times[i]`.
fn check_ophys_windows(path: &Path, series: Option<&str>, times: &[f64], windows: &[(f64, f64)]) {
    let full = match series {
        Some(s) => nwb::read_ophys_series(path, s).unwrap(),
        None => nwb::read_ophys(path).unwrap(),
    };
    for &(a, b) in windows {
        let w = nwb::read_ophys_window(path, series, a, b).unwrap();
        let i0 = times.iter().position(|&t| t >= a).unwrap_or(times.len());
        let i1 = times.iter().position(|&t| t >= b).unwrap_or(times.len());
        let i1 = i1.max(i0);
        assert_eq!(w.first_frame, i0, "window [{a}, {b})");
        assert_eq!(
            w.t_first_s,
            (i1 > i0).then(|| times[i0]),
            "window [{a}, {b})"
        );
        assert!(
            same(
                w.traces.data(),
                &full.data().slice(s![i0..i1, ..]).to_owned()
            ),
            "window [{a}, {b})"
        );
        assert_eq!(w.traces.frame_rate_hz(), full.frame_rate_hz());
    }
}

#[test]
fn ophys_windows_equal_the_full_read_f64_and_f32() {
    let dir = spikelab_datasets::NwbTestDir::new();
    let (frames, rois, rate, t0) = (5000, 7, 20.0, 2.5);
    let mut data = Array2::from_shape_fn((frames, rois), |(t, j)| {
        (t as f64 * 0.01 + j as f64).sin() * 3.0 + j as f64
    });
    data.slice_mut(s![4000.., 3]).fill(f64::NAN); // a shorter ROI
    let tr = CalciumTraces::new(data, rate).unwrap();
    // Times as the reader computes them: t0 + i / rate.
    let times: Vec<f64> = (0..frames).map(|i| t0 + i as f64 / rate).collect();
    let windows = [
        (-10.0, 0.0),
        (0.0, 2.5),
        (2.5, 62.5),
        (2.51, 62.49),
        (100.0, 160.0),
        (200.0, 260.0),
        (249.0, 400.0),
        (300.0, 400.0),
        (30.0, 30.0),
        (-1.0, 1e6),
    ];
    for dtype in [OphysDtype::F64, OphysDtype::F32] {
        let p = dir.path().join(format!("{dtype:?}.nwb"));
        let mut opts = OphysWriteOptions::new("windows");
        opts.dtype = dtype;
        opts.starting_time_s = t0;
        nwb::write_ophys(&p, &tr, &opts).unwrap();
        check_ophys_windows(&p, None, &times, &windows);
        check_ophys_windows(
            &p,
            Some("/processing/ophys/Fluorescence/RoiResponseSeries"),
            &times,
            &windows,
        );
        let w = nwb::read_ophys_window(&p, None, 210.0, 260.0).unwrap();
        assert_eq!(w.traces.valid_lengths()[3], 0, "all padding in this window");
    }
}

/// A `RoiResponseSeries` in `/acquisition` with chunked `timestamps` and int16 data scaled
/// by `conversion` and `offset`, written with the `hdf5` crate as other tools lay it out.
fn write_timestamps_series(path: &Path, ts: &[f64], one_d: bool) {
    let f = hdf5::File::create(path).unwrap();
    let acq = f.create_group("acquisition").unwrap();
    let rrs = acq.create_group("trace").unwrap();
    let v = hdf5::types::VarLenUnicode::from_str("RoiResponseSeries").unwrap();
    rrs.new_attr::<hdf5::types::VarLenUnicode>()
        .create("neurodata_type")
        .unwrap()
        .write_scalar(&v)
        .unwrap();
    let n = ts.len();
    let data = if one_d {
        let d: Vec<i16> = (0..n).map(|i| (i % 1000) as i16).collect();
        rrs.new_dataset_builder()
            .chunk(100)
            .with_data(&d[..])
            .create("data")
            .unwrap()
    } else {
        let d = Array2::from_shape_fn((n, 3), |(i, j)| ((i * 3 + j) % 30_000) as i16);
        rrs.new_dataset_builder()
            .chunk((100, 3))
            .deflate(4)
            .with_data(&d)
            .create("data")
            .unwrap()
    };
    for (a, v) in [("conversion", 0.5f64), ("offset", 1.0)] {
        data.new_attr::<f64>()
            .create(a)
            .unwrap()
            .write_scalar(&v)
            .unwrap();
    }
    rrs.new_dataset_builder()
        .chunk(64)
        .deflate(4)
        .with_data(ts)
        .create("timestamps")
        .unwrap();
}

#[test]
fn ophys_windows_with_timestamps() {
    let dir = spikelab_datasets::NwbTestDir::new();
    // 1000 frames at 10 Hz from 5 s, jittered by 0.1 % of the interval.
    let ts: Vec<f64> = (0..1000)
        .map(|i| 5.0 + i as f64 * 0.1 + if i % 2 == 0 { 1e-4 } else { 0.0 })
        .collect();
    let windows = [
        (0.0, 5.0),
        (0.0, 5.05),
        (5.0001, 11.0),
        (20.0, 80.0),
        (50.0, 200.0),
        (104.9, 200.0),
        (200.0, 300.0),
        (30.0, 30.0),
    ];
    for one_d in [false, true] {
        let p = dir.path().join(format!("ts_{one_d}.nwb"));
        write_timestamps_series(&p, &ts, one_d);
        check_ophys_windows(&p, None, &ts, &windows);
        check_ophys_windows(&p, Some("/acquisition/trace"), &ts, &windows);
    }

    // Irregular timestamps are refused inside the window, like the full reader does.
    let mut irregular = ts.clone();
    irregular[500] += 0.05;
    let p = dir.path().join("irregular.nwb");
    write_timestamps_series(&p, &irregular, false);
    let err = nwb::read_ophys_window(&p, None, 40.0, 60.0).unwrap_err();
    assert!(err.to_string().contains("irregular"), "{err}");
    assert!(nwb::read_ophys_window(&p, None, 10.0, 20.0).is_ok());

    // Decreasing timestamps where the search looks.
    let mut decreasing = ts.clone();
    decreasing[300..400].reverse();
    let p = dir.path().join("decreasing.nwb");
    write_timestamps_series(&p, &decreasing, false);
    let err = nwb::read_ophys_window(&p, None, 39.0, 40.0).unwrap_err();
    assert!(
        matches!(err, DataError::Nwb { .. }) && err.to_string().contains("not increasing"),
        "{err}"
    );
}

#[test]
fn bad_windows_and_unsorted_units_are_typed_errors() {
    let dir = spikelab_datasets::NwbTestDir::new();
    let p = dir.path().join("u.nwb");
    let st = SpikeTrains::new(vec![vec![1.25, 2.5]], 0.0, 3.0).unwrap();
    nwb::write_units(&p, &st, &NwbWriteOptions::new("bad windows")).unwrap();
    let q = dir.path().join("o.nwb");
    let tr = CalciumTraces::new(Array2::zeros((10, 2)), 10.0).unwrap();
    nwb::write_ophys(&q, &tr, &OphysWriteOptions::new("bad windows")).unwrap();
    for (a, b) in [
        (f64::NAN, 1.0),
        (0.0, f64::NAN),
        (2.0, 1.0),
        (f64::NEG_INFINITY, 1.0),
        (0.0, f64::INFINITY),
    ] {
        let e = nwb::read_units_window(&p, a, b).unwrap_err();
        assert!(matches!(e, DataError::InvalidParameter { .. }), "{e}");
        let e = nwb::read_ophys_window(&q, None, a, b).unwrap_err();
        assert!(matches!(e, DataError::InvalidParameter { .. }), "{e}");
    }
    assert!(matches!(
        nwb::read_units_window(&dir.path().join("missing.nwb"), 0.0, 1.0).unwrap_err(),
        DataError::Io { .. }
    ));
    assert!(matches!(
        nwb::read_ophys_window(&q, Some("/processing/nope"), 0.0, 1.0).unwrap_err(),
        DataError::Nwb { .. }
    ));
    assert!(matches!(
        nwb::read_ophys_window(&p, None, 0.0, 1.0).unwrap_err(),
        DataError::Nwb { .. }
    ));

    // A unit stored unsorted (float32 times, uint8 index): the full reader sorts it, the
    // window reader reports it; the same layout sorted is read like the full reader does.
    for (name, times, sorted) in [
        ("unsorted.nwb", [0.3f32, 0.1, 0.2, 1.5], false),
        ("sorted32.nwb", [0.1f32, 0.2, 0.3, 1.5], true),
    ] {
        let u = dir.path().join(name);
        {
            let f = hdf5::File::create(&u).unwrap();
            let units = f.create_group("units").unwrap();
            units
                .new_dataset_builder()
                .with_data(&[5i32, 9][..])
                .create("id")
                .unwrap();
            units
                .new_dataset_builder()
                .with_data(&times[..])
                .create("spike_times")
                .unwrap();
            units
                .new_dataset_builder()
                .with_data(&[3u8, 4][..])
                .create("spike_times_index")
                .unwrap();
        }
        assert_eq!(nwb::read_units(&u).unwrap().train(0).len(), 3);
        if sorted {
            check_units_windows(&u, &[(0.0, 0.25), (0.15, 2.0), (-1.0, 5.0)]);
        } else {
            let e = nwb::read_units_window(&u, 0.0, 1.0).unwrap_err();
            assert!(
                matches!(e, DataError::InvalidSpikeTimes { unit: 0, .. }),
                "{e}"
            );
        }
    }
}
