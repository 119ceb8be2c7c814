//! Suite2p, CaImAn and SpikeInterface readers on folders and files laid out as the tools write
//! them (`datasets/readers/`, made by `scripts/reader_fixtures.py`; the SpikeInterface folder
//! by spikeinterface 0.105 itself), the frame-rate policy, and the bad inputs of issue #14.
//!
//! The tests that re-run the fixture script or build bad HDF5 files need a Python with numpy
//! and h5py (`$SPIKELAB_PYTHON`, else `<repo>/.venv/bin/python`, made by
//! `bash scripts/setup_python.sh`); without one they FAIL and say so.

use std::path::{Path, PathBuf};

use approx::assert_abs_diff_eq;
use ndarray::{Array2, Ix2};
use spikelab_data::DataError;
use spikelab_data::io::suite2p::{self, CellFilter, Suite2pOptions, Suite2pSignal};
use spikelab_data::io::{self, Format, Loaded, ReadOptions, npy, spikeinterface};

fn fixture(rel: &str) -> PathBuf {
    spikelab_datasets::path(&format!("readers/{rel}")).expect("bundled reader fixtures")
}

fn expected(rel: &str) -> Array2<f64> {
    npy::read_any(&fixture(rel))
        .unwrap()
        .data
        .into_dimensionality::<Ix2>()
        .unwrap()
}

fn assert_close(a: &Array2<f64>, b: &Array2<f64>, eps: f64) {
    assert_eq!(a.dim(), b.dim());
    let worst = a
        .iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f64::max);
    assert!(worst <= eps, "arrays differ by {worst} > {eps}");
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        if e.path().is_file() {
            std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    }
}

fn reason(e: &DataError) -> String {
    e.to_string()
}

// ---------------------------------------------------------------------------------------------
// Suite2p
// ---------------------------------------------------------------------------------------------

#[test]
fn suite2p_dff_matches_numpy_and_keeps_only_cells() {
    let plane = suite2p::read_plane(
        &fixture("suite2p/plane0"),
        &Suite2pOptions::default(),
        None,
        false,
    )
    .unwrap();
    assert_eq!(plane.traces.frame_rate_hz(), 30.0);
    assert_eq!(plane.rois, vec![0, 2, 3]);
    assert_eq!(plane.n_rois_total, 4);
    let want = expected("suite2p/expected_dff.npy");
    assert_eq!(plane.traces.data().dim(), want.dim());
    assert_close(plane.traces.data(), &want, 1e-12);
}

#[test]
fn suite2p_options_choose_rois_and_signal() {
    let dir = fixture("suite2p/plane0");
    let read = |o: Suite2pOptions| suite2p::read_plane(&dir, &o, None, false).unwrap();
    let p = read(Suite2pOptions {
        cells: CellFilter::MinProbability(0.6),
        ..Default::default()
    });
    assert_eq!(p.rois, vec![0, 2]);
    let all = read(Suite2pOptions {
        cells: CellFilter::All,
        signal: Suite2pSignal::Raw,
        ..Default::default()
    });
    let f = npy::read_any(&dir.join("F.npy")).unwrap().data;
    assert_eq!(all.traces.data().dim(), (90, 4));
    assert_eq!(all.traces.data()[[5, 1]], f[[1, 5]]); // [time, ROI] from [ROI, frame]
    let no_neuropil = read(Suite2pOptions {
        cells: CellFilter::All,
        signal: Suite2pSignal::Corrected,
        neuropil_coefficient: 0.0,
        ..Default::default()
    });
    assert_eq!(no_neuropil.traces.data(), all.traces.data());
    let corrected = read(Suite2pOptions {
        signal: Suite2pSignal::Corrected,
        ..Default::default()
    });
    let neu = npy::read_any(&dir.join("Fneu.npy")).unwrap().data;
    assert_abs_diff_eq!(
        corrected.traces.data()[[7, 1]],
        f[[2, 7]] - 0.7 * neu[[2, 7]],
        epsilon = 1e-12
    );
    let spks = read(Suite2pOptions {
        signal: Suite2pSignal::Deconvolved,
        ..Default::default()
    });
    assert_eq!(spks.traces.n_neurons(), 3);
    assert!(spks.traces.data().iter().all(|v| *v >= 0.0));
}

#[test]
fn suite2p_v1_settings_file_gives_the_rate() {
    let p = suite2p::read_plane(
        &fixture("suite2p/plane_v1"),
        &Suite2pOptions::default(),
        None,
        false,
    )
    .unwrap();
    assert_eq!(p.traces.frame_rate_hz(), 7.5);
    assert_eq!(p.file_frame_rate_hz, Some(7.5));
}

#[test]
fn frame_rate_policy() {
    let dir = fixture("suite2p/plane0");
    let o = Suite2pOptions::default();
    // Agreeing within 1 %: the file's rate.
    let p = suite2p::read_plane(&dir, &o, Some(30.1), false).unwrap();
    assert_eq!(p.traces.frame_rate_hz(), 30.0);
    // Disagreeing: an error that says what to do, unless forced.
    let e = suite2p::read_plane(&dir, &o, Some(20.0), false).unwrap_err();
    assert!(
        matches!(e, DataError::FrameRateMismatch { file_hz, given_hz, .. } if file_hz == 30.0 && given_hz == 20.0)
    );
    assert!(reason(&e).contains("force"), "{e}");
    let p = suite2p::read_plane(&dir, &o, Some(20.0), true).unwrap();
    assert_eq!(p.traces.frame_rate_hz(), 20.0);
    // The same through the facade, for a c2s MAT file (100 Hz).
    let mat = spikelab_datasets::spikefinder_test_mat(4).unwrap();
    let given = |r: f64, force: bool| ReadOptions {
        frame_rate_hz: Some(r),
        force_frame_rate: force,
        ..Default::default()
    };
    assert!(matches!(
        io::read_traces(&mat, &given(30.0, false)),
        Err(DataError::FrameRateMismatch { .. })
    ));
    assert_eq!(
        io::read_traces(&mat, &given(30.0, true))
            .unwrap()
            .frame_rate_hz(),
        30.0
    );
    // A CSV stores no rate: not giving one is an error naming the option.
    let csv = spikelab_datasets::spikefinder_calcium(5, spikelab_datasets::Split::Test).unwrap();
    let e = io::read_traces(&csv, &ReadOptions::default()).unwrap_err();
    assert!(matches!(e, DataError::MissingFrameRate { .. }), "{e}");
    assert!(reason(&e).contains("--fps"), "{e}");
}

#[test]
fn suite2p_bad_folders_are_typed_errors_naming_file_and_fix() {
    let tmp = tempfile::tempdir().unwrap();
    let src = fixture("suite2p/plane0");
    let fresh = |name: &str| {
        let d = tmp.path().join(name);
        copy_dir(&src, &d);
        d
    };
    let o = Suite2pOptions::default();

    let d = fresh("no_f");
    std::fs::remove_file(d.join("F.npy")).unwrap();
    let e = suite2p::read_plane(&d, &o, None, false).unwrap_err();
    assert!(
        matches!(&e, DataError::Suite2p { path, .. } if path.ends_with("F.npy")),
        "{e}"
    );
    assert!(reason(&e).contains("plane folder"), "{e}");

    let d = fresh("short_fneu");
    npy::write(&d.join("Fneu.npy"), &Array2::<f32>::zeros((4, 10)), true).unwrap();
    let e = suite2p::read_plane(&d, &o, None, false).unwrap_err();
    assert!(
        matches!(&e, DataError::Suite2p { path, .. } if path.ends_with("Fneu.npy")),
        "{e}"
    );
    assert!(reason(&e).contains("does not match F.npy"), "{e}");

    let d = fresh("iscell_rows");
    npy::write(&d.join("iscell.npy"), &Array2::<f64>::ones((3, 2)), true).unwrap();
    let e = suite2p::read_plane(&d, &o, None, false).unwrap_err();
    assert!(
        matches!(&e, DataError::Suite2p { path, .. } if path.ends_with("iscell.npy")),
        "{e}"
    );

    let d = fresh("no_iscell");
    std::fs::remove_file(d.join("iscell.npy")).unwrap();
    let e = suite2p::read_plane(&d, &o, None, false).unwrap_err();
    assert!(reason(&e).contains("--all-rois"), "{e}");
    let all = Suite2pOptions {
        cells: CellFilter::All,
        ..Default::default()
    };
    assert_eq!(
        suite2p::read_plane(&d, &all, None, false)
            .unwrap()
            .traces
            .n_neurons(),
        4
    );

    // ops.npy without 'fs' (a pickled dict {'tau': 1.0}, protocol 2, as np.save wrote it
    // in old NumPy): the rate must be given, and the error names the option.
    let d = fresh("ops_without_fs");
    let mut header = b"{'descr': '|O', 'fortran_order': False, 'shape': (), }".to_vec();
    while !(10 + header.len() + 1).is_multiple_of(64) {
        header.push(b' ');
    }
    header.push(b'\n');
    let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
    bytes.extend_from_slice(&(header.len() as u16).to_le_bytes());
    bytes.extend_from_slice(&header);
    bytes.extend_from_slice(
        b"\x80\x02}q\x00X\x03\x00\x00\x00tauq\x01G?\xf0\x00\x00\x00\x00\x00\x00s.",
    );
    std::fs::write(d.join("ops.npy"), &bytes).unwrap();
    let e = suite2p::read_plane(&d, &o, None, false).unwrap_err();
    assert!(
        matches!(&e, DataError::MissingFrameRate { path, .. } if path.ends_with("ops.npy")),
        "{e}"
    );
    assert!(reason(&e).contains("frame_rate_hz"), "{e}");
    assert_eq!(
        suite2p::read_plane(&d, &o, Some(12.0), false)
            .unwrap()
            .traces
            .frame_rate_hz(),
        12.0
    );

    // An ops.npy that is not a pickled dict.
    let d = fresh("garbage_ops");
    npy::write(&d.join("ops.npy"), &Array2::<f64>::zeros((2, 2)), true).unwrap();
    let e = suite2p::read_plane(&d, &o, None, false).unwrap_err();
    assert!(
        matches!(&e, DataError::Suite2p { path, .. } if path.ends_with("ops.npy")),
        "{e}"
    );

    // NaN frames.
    let d = fresh("nan_frame");
    let mut f = npy::read_any(&d.join("F.npy"))
        .unwrap()
        .data
        .into_dimensionality::<Ix2>()
        .unwrap()
        .mapv(|v| v as f32);
    f[[2, 17]] = f32::NAN;
    npy::write(&d.join("F.npy"), &f, true).unwrap();
    let e = suite2p::read_plane(&d, &o, None, false).unwrap_err();
    assert!(reason(&e).contains("ROI 2 frame 17"), "{e}");

    // A baseline that is not positive (neuropil larger than the ROI).
    let d = fresh("negative_baseline");
    npy::write(
        &d.join("Fneu.npy"),
        &(f.mapv(|v| if v.is_nan() { 1.0 } else { v }) * 2.0),
        true,
    )
    .unwrap();
    npy::write(
        &d.join("F.npy"),
        &f.mapv(|v| if v.is_nan() { 1.0 } else { v }),
        true,
    )
    .unwrap();
    let e = suite2p::read_plane(&d, &o, None, false).unwrap_err();
    assert!(reason(&e).contains("neuropil_coefficient"), "{e}");
}

// ---------------------------------------------------------------------------------------------
// SpikeInterface
// ---------------------------------------------------------------------------------------------

#[test]
fn spikeinterface_sorting_folder_written_by_spikeinterface() {
    let dir = fixture("spikeinterface/sorting");
    let s = spikeinterface::read_sorting(&dir, 0).unwrap();
    assert_eq!(s.trains.unit_ids(), &[3, 7, 12]);
    assert_eq!(s.trains.counts(), vec![5, 4, 0]);
    assert_eq!(s.sampling_frequency_hz, 30_000.0);
    // First spike of unit 7 (unit_index 1) at sample 25655 (see the fixture script's seed).
    assert_eq!(s.trains.train(1)[0], 25_655.0 / 30_000.0);
    assert_eq!(s.trains.t_start_s(), 0.0);
    assert_abs_diff_eq!(s.trains.t_stop_s(), 85_038.0 / 30_000.0, epsilon = 1e-12);
    // Through the facade: spike trains, and a raster at the user's bin width.
    assert_eq!(Format::detect(&dir).unwrap(), Format::SpikeInterface);
    match io::open(&dir, &ReadOptions::default()).unwrap() {
        Loaded::SpikeTrains(st) => assert_eq!(st, s.trains),
        other => panic!("expected spike trains, got {}", other.kind()),
    }
    let r = io::read_raster(
        &dir,
        &ReadOptions {
            bin_s: Some(0.05),
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(r.n_neurons(), 3);
    assert_eq!(r.bin_s(), 0.05);
    assert_eq!(r.total_spikes(), 9);
}

#[test]
fn spikeinterface_bad_folders() {
    let tmp = tempfile::tempdir().unwrap();
    let src = fixture("spikeinterface/sorting");
    let fresh = |name: &str| {
        let d = tmp.path().join(name);
        copy_dir(&src, &d);
        d
    };
    let d = fresh("fewer_ids");
    std::fs::write(
        d.join("numpysorting_info.json"),
        r#"{"sampling_frequency": 30000.0, "unit_ids": [3], "num_segments": 1}"#,
    )
    .unwrap();
    let e = spikeinterface::read_sorting(&d, 0).unwrap_err();
    assert!(
        matches!(&e, DataError::SpikeInterface { path, .. } if path.ends_with("spikes.npy")),
        "{e}"
    );
    assert!(reason(&e).contains("different sortings"), "{e}");

    let d = fresh("repeated_ids");
    std::fs::write(
        d.join("numpysorting_info.json"),
        r#"{"sampling_frequency": 30000.0, "unit_ids": [3, 3, 12], "num_segments": 1}"#,
    )
    .unwrap();
    assert!(reason(&spikeinterface::read_sorting(&d, 0).unwrap_err()).contains("twice"));

    let d = fresh("no_spikes");
    std::fs::remove_file(d.join("spikes.npy")).unwrap();
    let e = spikeinterface::read_sorting(&d, 0).unwrap_err();
    assert!(matches!(e, DataError::SpikeInterface { .. }), "{e}");

    let d = fresh("segment");
    assert!(reason(&spikeinterface::read_sorting(&d, 1).unwrap_err()).contains("segment 1"));

    let d = fresh("plain_array");
    npy::write(&d.join("spikes.npy"), &Array2::<i64>::zeros((3, 3)), true).unwrap();
    let e = spikeinterface::read_sorting(&d, 0).unwrap_err();
    assert!(reason(&e).contains("structured array"), "{e}");
}

// ---------------------------------------------------------------------------------------------
// CaImAn (HDF5)
// ---------------------------------------------------------------------------------------------

#[cfg(feature = "hdf5")]
mod caiman {
    use super::*;
    use spikelab_data::CalciumTraces;
    use spikelab_data::io::caiman::{self, CaimanSignal};
    use std::process::Command;

    fn repo_root() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
    }

    fn run_python(code: &str) {
        let out = Command::new(spikelab_datasets::python(&["numpy", "h5py"]))
            .args(["-c", code])
            .output()
            .expect("run python");
        assert!(
            out.status.success(),
            "python failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    #[test]
    fn caiman_c_plus_residual_and_dff() {
        let path = fixture("caiman/cnmf_results.hdf5");
        assert_eq!(Format::detect(&path).unwrap(), Format::Caiman);
        let r = caiman::read_caiman(&path, CaimanSignal::Auto, None, false).unwrap();
        assert_eq!(r.signal, CaimanSignal::CPlusResidual);
        assert_eq!(r.traces.frame_rate_hz(), 15.0);
        let want = expected("caiman/expected_c_plus_yra.npy");
        assert_close(r.traces.data(), &want, 1e-15);
        // F_dff is 'NoneType' here: asking for it says what to do.
        let e = caiman::read_caiman(&path, CaimanSignal::Dff, None, false).unwrap_err();
        assert!(reason(&e).contains("detrend_df_f"), "{e}");

        let dff = fixture("caiman/cnmf_dff.hdf5");
        let t = io::read_traces(&dff, &ReadOptions::default()).unwrap();
        assert_close(t.data(), &(want.clone() / 10.0), 1e-15);
        let t = io::read_traces(
            &dff,
            &ReadOptions {
                caiman: CaimanSignal::CPlusResidual,
                ..Default::default()
            },
        )
        .unwrap();
        assert_close(t.data(), &want, 1e-15);
    }

    #[test]
    fn caiman_bad_files() {
        let tmp = tempfile::tempdir().unwrap();
        let p = |n: &str| tmp.path().join(n);
        let code = format!(
            r#"
import h5py, numpy as np
with h5py.File({no_est:?}, "w") as f:
    f.create_group("params").create_group("data")["fr"] = 15.0
with h5py.File({no_fr:?}, "w") as f:
    e = f.create_group("estimates"); e["C"] = np.ones((2, 5)); e["YrA"] = np.zeros((2, 5))
    f["params/data/fr"] = "NoneType"
with h5py.File({shapes:?}, "w") as f:
    e = f.create_group("estimates"); e["C"] = np.ones((2, 5)); e["YrA"] = np.zeros((3, 5))
    f["params/data/fr"] = 15.0
with h5py.File({only_c:?}, "w") as f:
    e = f.create_group("estimates"); e["C"] = np.ones((2, 5)); e["YrA"] = "NoneType"
    f["params/data/fr"] = 15.0
with h5py.File({nan:?}, "w") as f:
    e = f.create_group("estimates"); c = np.ones((2, 5)); c[1, 3] = np.nan
    e["C"] = c; e["YrA"] = np.zeros((2, 5)); f["params/data/fr"] = 15.0
"#,
            no_est = p("no_est.hdf5"),
            no_fr = p("no_fr.hdf5"),
            shapes = p("shapes.hdf5"),
            only_c = p("only_c.hdf5"),
            nan = p("nan.hdf5"),
        );
        run_python(&code);
        let read = |n: &str| caiman::read_caiman(&p(n), CaimanSignal::Auto, None, false);

        let e = read("no_est.hdf5").unwrap_err();
        assert!(
            matches!(&e, DataError::Caiman { .. }) && reason(&e).contains("cnm.save"),
            "{e}"
        );
        // Detected as CaImAn by its params group, so the facade gives the same message.
        assert!(
            reason(&io::read_traces(&p("no_est.hdf5"), &ReadOptions::default()).unwrap_err())
                .contains("estimates")
        );
        let e = read("no_fr.hdf5").unwrap_err();
        assert!(matches!(e, DataError::MissingFrameRate { .. }), "{e}");
        let ok = caiman::read_caiman(&p("no_fr.hdf5"), CaimanSignal::Auto, Some(9.0), false);
        assert_eq!(ok.unwrap().traces.frame_rate_hz(), 9.0);
        assert!(reason(&read("shapes.hdf5").unwrap_err()).contains("same fit"));
        assert!(reason(&read("only_c.hdf5").unwrap_err()).contains("YrA"));
        assert!(reason(&read("nan.hdf5").unwrap_err()).contains("C[1, 3]"));
    }

    /// The fixture script, re-run here with numpy/h5py, gives files the readers read to the
    /// same values as the checked-in ones.
    #[test]
    fn fixture_script_reproduces_the_checked_in_files() {
        let tmp = tempfile::tempdir().unwrap();
        let out = Command::new(spikelab_datasets::python(&["numpy", "h5py"]))
            .arg(repo_root().join("scripts/reader_fixtures.py"))
            .arg(tmp.path())
            .output()
            .expect("run reader_fixtures.py");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        for plane in ["plane0", "plane_v1"] {
            let read = |d: PathBuf| -> CalciumTraces {
                suite2p::read_plane(&d, &Suite2pOptions::default(), None, false)
                    .unwrap()
                    .traces
            };
            let a = read(fixture(&format!("suite2p/{plane}")));
            let b = read(tmp.path().join("suite2p").join(plane));
            assert_eq!(a.data(), b.data(), "{plane}");
            assert_eq!(a.frame_rate_hz(), b.frame_rate_hz());
        }
        for f in ["cnmf_results.hdf5", "cnmf_dff.hdf5"] {
            let a =
                io::read_traces(&fixture(&format!("caiman/{f}")), &ReadOptions::default()).unwrap();
            let b = io::read_traces(&tmp.path().join("caiman").join(f), &ReadOptions::default())
                .unwrap();
            assert_eq!(a.data(), b.data(), "{f}");
            assert_eq!(a.frame_rate_hz(), b.frame_rate_hz());
        }
    }
}

#[test]
fn folders_are_detected_by_content() {
    assert_eq!(
        Format::detect(&fixture("suite2p/plane0")).unwrap(),
        Format::Suite2p
    );
    let tmp = tempfile::tempdir().unwrap();
    // An unknown folder falls to Kilosort, whose reader says what is missing.
    assert_eq!(Format::detect(tmp.path()).unwrap(), Format::Kilosort);
    // Suite2p through the facade: traces at the file's rate; a raster is the wrong content.
    let t = io::read_traces(&fixture("suite2p/plane0"), &ReadOptions::default()).unwrap();
    assert_eq!((t.n_neurons(), t.frame_rate_hz()), (3, 30.0));
    assert!(matches!(
        io::read_raster(&fixture("suite2p/plane0"), &ReadOptions::default()),
        Err(DataError::WrongContent { .. })
    ));
}
