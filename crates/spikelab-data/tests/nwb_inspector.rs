//! Every kind of NWB file spikelab writes passes `nwbinspector` 0.7 with DANDI's configuration:
//! no CRITICAL, no BEST_PRACTICE_VIOLATION (and pynwb's validation clean).
//!
//! Runs in CI and is never skipped: it needs a Python with nwbinspector (`$SPIKELAB_PYTHON`,
//! else `<repo>/.venv/bin/python` made by `bash scripts/setup_python.sh`); without one it fails
//! and says so. The Python side is `scripts/nwbinspector_check.py`. The CLI's NWB outputs are
//! checked the same way in `tests/cli_nwb.rs` of the root package.
#![cfg(feature = "hdf5")]

use std::path::Path;
use std::process::Command;

use ndarray::{Array2, array};
use spikelab_data::io::nwb::{
    self, ActivitySeries, NwbAddOptions, NwbElectrodes, NwbImaging, NwbMetadata, NwbSubject,
    NwbWriteOptions, OphysContainer, OphysDtype, OphysWriteOptions, RoiSeriesOptions,
};
use spikelab_data::{
    CalciumTraces, ColumnValues, DataError, PopulationActivity, SpikeTrains, TimeIntervals,
};

/// The tests run one at a time: HDF5 opens files without `O_CLOEXEC`, so a process spawned by
/// one test while another holds an HDF5 file open inherits its descriptor and file lock, and
/// the next open of that file fails with "unable to lock file".
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

fn metadata() -> NwbMetadata {
    NwbMetadata {
        session_id: Some("day2".into()),
        experimenter: vec!["Doe, Jane".into()],
        experiment_description: Some("spikelab NWB writer checks".into()),
        institution: Some("spikelab".into()),
        lab: Some("tests".into()),
        keywords: vec!["spikelab".into(), "test".into()],
        related_publications: vec![],
        subject: Some(NwbSubject {
            description: Some("a test subject".into()),
            strain: Some("C57BL/6J".into()),
            weight: Some("0.025 kg".into()),
            ..NwbSubject::new("mouse-3", "Mus musculus", "F", "P90D")
        }),
        imaging: None,
        spike_time_resolution_s: None,
        dandi: true,
    }
}

fn units_opts(desc: &str) -> NwbWriteOptions {
    NwbWriteOptions {
        session_start_time: "2024-03-01T09:30:00+01:00".into(),
        spike_time_resolution_s: Some(1.0 / 30_000.0),
        metadata: metadata(),
        ..NwbWriteOptions::new(desc)
    }
}

fn trains() -> SpikeTrains {
    let trains: Vec<Vec<f64>> = (0..6)
        .map(|u| {
            (0..40)
                .map(|k| 0.05 + 0.2 * k as f64 + 0.013 * u as f64)
                .collect()
        })
        .collect();
    SpikeTrains::with_ids(trains, vec![3, 5, 8, 13, 21, 34], 0.0, 10.0).unwrap()
}

fn traces() -> CalciumTraces {
    let data = Array2::from_shape_fn((300, 4), |(t, j)| {
        1.0 + (0.05 * t as f64 + j as f64).sin() * 0.3
    });
    CalciumTraces::new(data, 30.0).unwrap()
}

fn ophys_opts(desc: &str) -> OphysWriteOptions {
    OphysWriteOptions {
        session_start_time: "2024-03-01T09:30:00+01:00".into(),
        indicator: "GCaMP6s".into(),
        location: "VISp".into(),
        excitation_lambda_nm: 920.0,
        emission_lambda_nm: 510.0,
        metadata: metadata(),
        ..OphysWriteOptions::new(desc)
    }
}

/// Writes one file of every kind into `dir`.
fn write_all(dir: &Path) {
    let st = trains();
    nwb::write_units(&dir.join("units.nwb"), &st, &units_opts("units")).unwrap();
    let mut with_el = units_opts("units with electrodes");
    with_el.electrodes = Some(NwbElectrodes::new(
        vec!["VISp".into(); 2],
        (0..st.n_units()).map(|u| vec![u % 2]).collect(),
    ));
    nwb::write_units(&dir.join("units_electrodes.nwb"), &st, &with_el).unwrap();

    let tr = traces();
    nwb::write_ophys(&dir.join("ophys.nwb"), &tr, &ophys_opts("ophys f64")).unwrap();
    let mut dff = ophys_opts("ophys dF/F f32");
    dff.container = OphysContainer::DfOverF;
    dff.dtype = OphysDtype::F32;
    nwb::write_ophys(&dir.join("ophys_dff.nwb"), &tr, &dff).unwrap();

    let act = PopulationActivity::new(
        Array2::from_shape_fn((2, 500), |(p, t)| 5.0 + (0.01 * t as f64 + p as f64).cos()),
        0.002,
    )
    .unwrap();
    nwb::write_population_activity(
        &dir.join("latents.nwb"),
        "misc",
        "latent population activity",
        &[ActivitySeries {
            name: "latent_activity",
            description: "population activity (Hz)",
            unit: "Hz",
            activity: &act,
        }],
        &units_opts("population activity"),
    )
    .unwrap();

    let events = TimeIntervals::new(
        "convseq_events",
        "sequence occurrences",
        vec![0.4, 1.2, 3.3],
        vec![0.6, 1.5, 3.6],
    )
    .unwrap()
    .with_column("filter", "filter index", ColumnValues::I64(vec![0, 1, 0]))
    .unwrap()
    .with_column(
        "height",
        "peak height",
        ColumnValues::F64(vec![2.5, 3.0, 2.2]),
    )
    .unwrap()
    .with_column(
        "member_unit_ids",
        "unit ids",
        ColumnValues::RaggedI64(vec![vec![3, 5], vec![8], vec![3, 13, 21]]),
    )
    .unwrap();
    nwb::write_time_intervals(&dir.join("events.nwb"), &events, &units_opts("events")).unwrap();
    nwb::add_time_intervals(
        &dir.join("units.nwb"),
        &dir.join("units_with_events.nwb"),
        &events,
        &NwbAddOptions::default(),
    )
    .unwrap();

    let mut rates = Array2::from_shape_fn((300, 4), |(t, j)| ((t + j) % 7) as f64 * 0.5);
    rates.row_mut(0).fill(f64::NAN);
    nwb::add_roi_response_series(
        &dir.join("ophys.nwb"),
        &dir.join("ophys_with_rates.nwb"),
        rates.view(),
        30.0,
        &RoiSeriesOptions::default(),
        &NwbAddOptions::default(),
    )
    .unwrap();
}

#[test]
fn every_nwb_file_spikelab_writes_passes_nwbinspector_dandi() {
    let _serial = serial();
    let py = spikelab_datasets::python(&["nwbinspector"]);
    let dir = spikelab_datasets::NwbTestDir::new();
    write_all(dir.path());
    let n = std::fs::read_dir(dir.path()).unwrap().count();
    assert_eq!(n, 8, "eight files, nothing else (no temporary files left)");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/nwbinspector_check.py");
    let out = Command::new(&py)
        .arg(&script)
        .arg(dir.path())
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "nwbinspector (DANDI config) found CRITICAL or BEST_PRACTICE_VIOLATION messages:\n{report}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_str(&report).unwrap();
    assert_eq!(v["files"], 8);
    // The schema is embedded as pynwb embeds it (readers without it, e.g. matnwb, need it).
    let specs = Command::new(&py)
        .args(["-c", "import h5py, sys\nf = h5py.File(sys.argv[1], 'r')\nprint(f[f.attrs['.specloc']].name, sorted(f['specifications'].keys()), sorted(f['specifications/core'].keys()))"])
        .arg(dir.path().join("ophys_with_rates.nwb"))
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&specs.stdout).trim(),
        "/specifications ['core', 'hdmf-common', 'hdmf-experimental'] ['2.11.0']",
        "{}",
        String::from_utf8_lossy(&specs.stderr)
    );
    // A reader with no schema of its own (as matnwb generates its classes) loads all three
    // namespaces from the file's cache and resolves the types spikelab writes.
    let cached = Command::new(&py)
        .args(["-c", "import sys\nfrom hdmf.spec import NamespaceCatalog\nfrom pynwb import NWBHDF5IO\nfrom pynwb.spec import NWBDatasetSpec, NWBGroupSpec, NWBNamespace\ncat = NamespaceCatalog(NWBGroupSpec, NWBDatasetSpec, NWBNamespace)\nNWBHDF5IO.load_namespaces(cat, sys.argv[1])\nprint(sorted(cat.namespaces), cat.get_namespace('core').version, [cat.get_spec('core', t).neurodata_type_inc for t in ['Units', 'RoiResponseSeries', 'TimeIntervals', 'ImagingPlane']])"])
        .arg(dir.path().join("ophys_with_rates.nwb"))
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&cached.stdout).trim(),
        "['core', 'hdmf-common', 'hdmf-experimental'] 2.11.0 ['DynamicTable', 'TimeSeries', 'DynamicTable', 'NWBContainer']",
        "{}",
        String::from_utf8_lossy(&cached.stderr)
    );
    // What is left are suggestions; print them for the log.
    for m in v["messages"].as_array().unwrap() {
        eprintln!("{}: {} ({})", m["file"], m["message"], m["importance"]);
    }
}

#[test]
fn metadata_round_trips_and_dandi_refuses_missing_fields() {
    let _serial = serial();
    let dir = spikelab_datasets::NwbTestDir::new();
    let st = trains();
    let mut opts = units_opts("no subject");
    opts.metadata.subject = None;
    let err = nwb::write_units(&dir.path().join("x.nwb"), &st, &opts).unwrap_err();
    assert!(
        matches!(&err, DataError::DandiMetadata { missing } if missing == &["subject"]),
        "{err}"
    );
    assert!(err.to_string().contains("--nwb-meta"), "{err}");
    assert!(!dir.path().join("x.nwb").exists());
    opts.metadata.dandi = false;
    nwb::write_units(&dir.path().join("x.nwb"), &st, &opts).unwrap();

    let mut bad = units_opts("bad species");
    bad.metadata.subject.as_mut().unwrap().species = Some("mouse".into());
    bad.metadata.dandi = false;
    let err = nwb::write_units(&dir.path().join("y.nwb"), &st, &bad).unwrap_err();
    assert!(err.to_string().contains("Mus musculus"), "{err}");
    // DANDI mode: units need a resolution (the options' or the metadata's) and times in
    // seconds; series need time as the longest axis.
    let mut no_res = units_opts("no resolution");
    no_res.spike_time_resolution_s = None;
    let err = nwb::write_units(&dir.path().join("r.nwb"), &st, &no_res).unwrap_err();
    assert!(
        matches!(&err, DataError::DandiMetadata { missing } if missing == &["spike_time_resolution_s"]),
        "{err}"
    );
    assert!(!dir.path().join("r.nwb").exists());
    no_res.metadata.spike_time_resolution_s = Some(1.0 / 20_000.0);
    nwb::write_units(&dir.path().join("r.nwb"), &st, &no_res).unwrap();
    let summary = nwb::inspect(&dir.path().join("r.nwb")).unwrap();
    assert_eq!(
        summary.units.unwrap().spike_time_resolution_s,
        Some(1.0 / 20_000.0)
    );
    let samples = SpikeTrains::new(vec![vec![300.0, 9000.0, 12_345.0]], 0.0, 20_000.0).unwrap();
    let err =
        nwb::write_units(&dir.path().join("s.nwb"), &samples, &units_opts("samples")).unwrap_err();
    assert!(err.to_string().contains("sample indices"), "{err}");
    let wide = CalciumTraces::new(Array2::zeros((3, 5)), 30.0).unwrap();
    let err = nwb::write_ophys(&dir.path().join("w.nwb"), &wide, &ophys_opts("wide")).unwrap_err();
    assert!(err.to_string().contains("transposed"), "{err}");
    assert!(!dir.path().join("s.nwb").exists() && !dir.path().join("w.nwb").exists());

    let mut bad_res = units_opts("bad resolution");
    bad_res.spike_time_resolution_s = Some(0.0);
    assert!(nwb::write_units(&dir.path().join("y.nwb"), &st, &bad_res).is_err());
    assert!(!dir.path().join("y.nwb").exists());
}

#[test]
fn intervals_and_added_series_round_trip_and_never_touch_the_source() {
    let _serial = serial();
    let dir = spikelab_datasets::NwbTestDir::new();
    let src = dir.path().join("ophys.nwb");
    let tr = traces();
    nwb::write_ophys(&src, &tr, &ophys_opts("source")).unwrap();
    let before = std::fs::read(&src).unwrap();

    let rates = array![[f64::NAN, 1.0], [0.5, 2.0]];
    // Two columns: no series has two ROIs.
    let dst = dir.path().join("out.nwb");
    let err = nwb::add_roi_response_series(
        &src,
        &dst,
        rates.view(),
        30.0,
        &Default::default(),
        &add(false),
    )
    .unwrap_err();
    assert!(
        err.to_string().contains("no RoiResponseSeries with 2 ROIs"),
        "{err}"
    );
    assert!(!dst.exists());
    // In place without overwrite is refused; the source is unchanged.
    let full = Array2::from_elem((300, 4), 1.5);
    let err = nwb::add_roi_response_series(
        &src,
        &src,
        full.view(),
        30.0,
        &Default::default(),
        &add(false),
    )
    .unwrap_err();
    assert!(matches!(err, DataError::AlreadyExists { .. }), "{err}");
    assert_eq!(std::fs::read(&src).unwrap(), before);

    let at = nwb::add_roi_response_series(
        &src,
        &dst,
        full.view(),
        30.0,
        &Default::default(),
        &add(false),
    )
    .unwrap();
    assert_eq!(
        std::fs::read(&src).unwrap(),
        before,
        "the source is only read"
    );
    let back = nwb::read_ophys_series(&dst, &at).unwrap();
    assert_eq!(back.data(), full);
    assert_eq!(
        nwb::read_ophys(&dst).unwrap().data(),
        tr.data(),
        "the source series is copied unchanged"
    );
    // The same name twice is refused.
    let again = dir.path().join("again.nwb");
    assert!(
        nwb::add_roi_response_series(
            &dst,
            &again,
            full.view(),
            30.0,
            &Default::default(),
            &add(false)
        )
        .is_err()
    );
    assert!(!again.exists());
    // In place with overwrite.
    nwb::add_time_intervals(
        &dst,
        &dst,
        &TimeIntervals::new("e", "one", vec![1.0], vec![2.0]).unwrap(),
        &add(true),
    )
    .unwrap();
    assert_eq!(nwb::read_time_intervals(&dst, "e").unwrap().len(), 1);
    // Not an NWB file.
    let not_nwb = dir.path().join("plain.nwb");
    std::fs::write(&not_nwb, b"not hdf5").unwrap();
    assert!(
        nwb::add_time_intervals(
            &not_nwb,
            &dir.path().join("z.nwb"),
            &TimeIntervals::new("e", "", vec![], vec![]).unwrap(),
            &add(false)
        )
        .is_err()
    );
}

fn add(overwrite: bool) -> NwbAddOptions {
    NwbAddOptions {
        overwrite,
        ..Default::default()
    }
}

#[test]
fn a_copy_of_a_users_file_gets_missing_metadata_and_keeps_its_own() {
    let _serial = serial();
    let dir = spikelab_datasets::NwbTestDir::new();
    let src = dir.path().join("user.nwb");
    let mut own = units_opts("user's session");
    own.metadata.subject = None;
    own.metadata.dandi = false;
    own.metadata.lab = Some("their lab".into());
    nwb::write_units(&src, &trains(), &own).unwrap();
    let events = TimeIntervals::new("e", "one", vec![1.0], vec![2.0]).unwrap();
    // --dandi without the subject: refused, nothing written.
    let dst = dir.path().join("copy.nwb");
    let opts = NwbAddOptions {
        metadata: NwbMetadata {
            dandi: true,
            ..Default::default()
        },
        ..Default::default()
    };
    let err = nwb::add_time_intervals(&src, &dst, &events, &opts).unwrap_err();
    assert!(
        matches!(&err, DataError::DandiMetadata { missing } if missing == &["subject"]),
        "{err}"
    );
    assert!(!dst.exists());
    // With the subject given, the copy passes nwbinspector's DANDI checks and keeps the lab.
    let opts = NwbAddOptions {
        metadata: NwbMetadata {
            lab: Some("our lab".into()),
            ..metadata()
        },
        ..Default::default()
    };
    nwb::add_time_intervals(&src, &dst, &events, &opts).unwrap();
    let py = spikelab_datasets::python(&["nwbinspector", "pynwb"]);
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/nwbinspector_check.py");
    let out = Command::new(&py).arg(&script).arg(&dst).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let lab = Command::new(&py)
        .args([
            "-c",
            "import pynwb, sys\nprint(pynwb.NWBHDF5IO(sys.argv[1], 'r').read().lab)",
        ])
        .arg(&dst)
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&lab.stdout).trim(), "their lab");
}

#[test]
fn imaging_metadata_fills_planes_nobody_described_and_keeps_described_ones() {
    let _serial = serial();
    let dir = spikelab_datasets::NwbTestDir::new();
    let (plain, described) = (dir.path().join("plain.nwb"), dir.path().join("visal.nwb"));
    let mut opts = ophys_opts("no imaging metadata");
    opts.location = "unknown".into();
    opts.indicator = "unknown".into();
    opts.metadata.subject = None;
    opts.metadata.dandi = false;
    nwb::write_ophys(&plain, &traces(), &opts).unwrap();
    let mut own = ophys_opts("their own plane");
    own.location = "VISal".into();
    nwb::write_ophys(&described, &traces(), &own).unwrap();
    let meta = NwbAddOptions {
        metadata: NwbMetadata {
            imaging: Some(NwbImaging {
                location: Some("VISp".into()),
                indicator: Some("GCaMP6f".into()),
                ..Default::default()
            }),
            ..metadata()
        },
        ..Default::default()
    };
    let (plain_out, described_out) = (dir.path().join("a.nwb"), dir.path().join("b.nwb"));
    nwb::add_metadata(&plain, &plain_out, &meta).unwrap();
    nwb::add_metadata(&described, &described_out, &meta).unwrap();
    let py = spikelab_datasets::python(&["nwbinspector", "pynwb"]);
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/nwbinspector_check.py");
    let out = Command::new(&py)
        .arg(&script)
        .args([&plain_out, &described_out])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let planes = Command::new(&py)
        .args([
            "-c",
            "import pynwb, sys\nfor f in sys.argv[1:]:\n    p = pynwb.NWBHDF5IO(f, 'r').read().imaging_planes['ImagingPlane']\n    print(p.location, p.indicator)",
        ])
        .args([&plain_out, &described_out])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&planes.stdout).trim(),
        "VISp GCaMP6f\nVISal GCaMP6s",
        "{}",
        String::from_utf8_lossy(&planes.stderr)
    );
}
