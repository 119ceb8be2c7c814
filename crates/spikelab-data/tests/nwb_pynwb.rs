//! Interop with the reference NWB implementation, pynwb.
//!
//! These tests run in CI and are never skipped: they need a Python with pynwb, found as
//! `$SPIKELAB_PYTHON`, else `<repo>/.venv/bin/python`. Without one they FAIL and say to run
//! `bash scripts/setup_python.sh`. The Python side is `scripts/pynwb_check.py`.
#![cfg(feature = "hdf5")]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, MutexGuard};

use serde_json::Value;
use spikelab_data::io::nwb::{self, NwbElectrodes, NwbWriteOptions, OphysDtype, OphysWriteOptions};
use spikelab_data::{SpikeTrains, io};
use spikelab_datasets::{self as datasets, Split};

/// The tests run one at a time. HDF5 opens files without `O_CLOEXEC`, so a Python process
/// spawned by one test while another test has an HDF5 file open inherits that descriptor and
/// its file lock; the next `h5py` open of that file then fails with "unable to lock file"
/// (EAGAIN) until the unrelated Python exits.
static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Runs `scripts/pynwb_check.py <args>`; returns stdout parsed as JSON, panics with stderr on
/// failure.
fn pynwb_check(py: &Path, args: &[&str]) -> Value {
    let script = repo_root().join("scripts/pynwb_check.py");
    let out = Command::new(py)
        .arg(&script)
        .args(args)
        .output()
        .expect("run pynwb_check.py");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "pynwb_check.py {args:?} failed ({}):\n{stderr}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout)
    );
    if !stderr.trim().is_empty() {
        eprintln!("pynwb_check.py {args:?} stderr:\n{stderr}");
    }
    serde_json::from_slice(&out.stdout).expect("pynwb_check.py prints JSON")
}

/// float64 values sent by `pynwb_check.py` as IEEE-754 bit patterns (exact, NaN included).
fn f64s(v: &Value) -> Vec<f64> {
    v.as_array()
        .expect("array")
        .iter()
        .map(|x| f64::from_bits(x.as_u64().expect("u64 bit pattern")))
        .collect()
}

fn same(a: f64, b: f64) -> bool {
    a == b || (a.is_nan() && b.is_nan())
}

/// Real ragged trains (Spikefinder 5 test spike counts at 100 Hz turned into times) plus an
/// empty unit, with non-contiguous ids.
fn real_trains() -> SpikeTrains {
    let (counts, _) =
        io::csv::read_spike_counts(&datasets::spikefinder_spikes(5, Split::Test).unwrap(), 0.01)
            .unwrap();
    let c = counts.counts();
    let mut trains: Vec<Vec<f64>> = (0..c.nrows())
        .map(|i| {
            let mut t = Vec::new();
            for (b, &k) in c.row(i).iter().enumerate() {
                for s in 0..k {
                    t.push((b as f64 + (s as f64 + 0.5) / (k as f64 + 1.0)) * 0.01);
                }
            }
            t
        })
        .collect();
    trains.push(Vec::new());
    let n = trains.len() as i64;
    SpikeTrains::with_ids(
        trains,
        (0..n).map(|i| 1000 - 7 * i).collect(),
        0.0,
        c.ncols() as f64 * 0.01,
    )
    .unwrap()
}

#[test]
fn spikelab_files_read_in_pynwb_and_validate() {
    let _serial = serial();
    let py = datasets::python(&["pynwb"]);
    let dir = spikelab_datasets::NwbTestDir::new();

    // Units with electrodes.
    let st = real_trains();
    assert!(st.total_spikes() > 100);
    let units_path = dir.path().join("units.nwb");
    let mut opts = NwbWriteOptions::new("spikelab interop: units");
    opts.session_start_time = "2024-03-01T09:30:00+01:00".into();
    let rows: Vec<Vec<usize>> = (0..st.n_units())
        .map(|u| if u % 2 == 0 { vec![u % 3] } else { vec![0, 2] })
        .collect();
    opts.electrodes = Some(NwbElectrodes::new(vec!["VISp".into(); 3], rows.clone()));
    nwb::write_units(&units_path, &st, &opts).unwrap();

    let seen = pynwb_check(&py, &["read", units_path.to_str().unwrap()]);
    assert_eq!(seen["warnings"], serde_json::json!([]), "pynwb warned");
    let u = &seen["units"];
    let ids: Vec<i64> = u["ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_i64().unwrap())
        .collect();
    assert_eq!(ids, st.unit_ids());
    let trains = u["spike_times"].as_array().unwrap();
    assert_eq!(trains.len(), st.n_units());
    for (i, t) in trains.iter().enumerate() {
        assert_eq!(
            f64s(t),
            st.train(i),
            "unit {i} spike times as pynwb sees them"
        );
    }
    let el: Vec<Vec<usize>> = u["electrodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            r.as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_u64().unwrap() as usize)
                .collect()
        })
        .collect();
    assert_eq!(el, rows);
    assert_eq!(u["electrode_group"], "shank0");
    for iv in u["obs_intervals"].as_array().unwrap() {
        assert_eq!(f64s(&iv[0]), vec![st.t_start_s(), st.t_stop_s()]);
    }
    assert_eq!(seen["session_start_time"], "2024-03-01T09:30:00+01:00");
    let v = pynwb_check(&py, &["validate", units_path.to_str().unwrap()]);
    assert_eq!(
        v["errors"].as_array().unwrap().len(),
        0,
        "pynwb-validate: {v}"
    );

    // Ophys: real Spikefinder traces with NaN padding, float64 and float32.
    let tr = io::csv::read_calcium(
        &datasets::spikefinder_calcium(5, Split::Test).unwrap(),
        100.0,
    )
    .unwrap();
    for dtype in [OphysDtype::F64, OphysDtype::F32] {
        let p = dir.path().join(format!("ophys_{dtype:?}.nwb"));
        let mut o = OphysWriteOptions::new("spikelab interop: ophys");
        o.dtype = dtype;
        o.indicator = "OGB-1".into();
        nwb::write_ophys(&p, &tr, &o).unwrap();
        let seen = pynwb_check(&py, &["read", p.to_str().unwrap()]);
        assert_eq!(seen["warnings"], serde_json::json!([]), "pynwb warned");
        let series = seen["series"].as_array().unwrap();
        assert_eq!(series.len(), 1);
        let s = &series[0];
        assert_eq!(
            s["path"],
            "/processing/ophys/Fluorescence/RoiResponseSeries"
        );
        assert_eq!(
            s["shape"],
            serde_json::json!([tr.n_frames(), tr.n_neurons()])
        );
        assert_eq!(s["rate"].as_f64(), Some(100.0));
        assert_eq!(s["n_rois"].as_u64(), Some(tr.n_neurons() as u64));
        assert_eq!(s["rois_table"], "PlaneSegmentation");
        assert_eq!(s["device"], "microscope");
        let data = f64s(&s["data"]);
        for (a, b) in data.iter().zip(tr.data().iter()) {
            let b = match dtype {
                OphysDtype::F32 => (*b as f32) as f64,
                _ => *b,
            };
            assert!(same(*a, b), "{a} vs {b}");
        }
        let v = pynwb_check(&py, &["validate", p.to_str().unwrap()]);
        assert_eq!(
            v["errors"].as_array().unwrap().len(),
            0,
            "pynwb-validate: {v}"
        );
    }
}

#[test]
fn pynwb_files_read_in_spikelab() {
    let _serial = serial();
    let py = datasets::python(&["pynwb"]);
    let dir = spikelab_datasets::NwbTestDir::new();
    let path = dir.path().join("pynwb.nwb");
    let truth_path = dir.path().join("truth.json");
    pynwb_check(
        &py,
        &[
            "write",
            path.to_str().unwrap(),
            truth_path.to_str().unwrap(),
        ],
    );
    let truth: Value = serde_json::from_slice(&std::fs::read(&truth_path).unwrap()).unwrap();

    // Units: pynwb writes a uint8 index, int64 ids, no obs_intervals.
    let st = nwb::read_units(&path).unwrap();
    let ids: Vec<i64> = truth["ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_i64().unwrap())
        .collect();
    assert_eq!(st.unit_ids(), &ids[..]);
    let mut last = 0.0f64;
    for (i, t) in truth["spike_times"].as_array().unwrap().iter().enumerate() {
        let t = f64s(t);
        last = t.iter().copied().fold(last, f64::max);
        assert_eq!(st.train(i), &t[..], "unit {i}");
    }
    assert!(st.train(1).is_empty());
    assert_eq!((st.t_start_s(), st.t_stop_s()), (0.0, last));

    // Fluorescence (rate, float32, NaN padding) is the first series.
    let fl = &truth["fluorescence"];
    let tr = nwb::read_ophys(&path).unwrap();
    assert_eq!(tr.frame_rate_hz(), fl["rate"].as_f64().unwrap());
    assert_eq!(
        [tr.n_frames(), tr.n_neurons()],
        [
            fl["shape"][0].as_u64().unwrap() as usize,
            fl["shape"][1].as_u64().unwrap() as usize
        ]
    );
    assert_eq!(tr.valid_lengths(), &[120, 100, 120]);
    for (a, b) in tr.data().iter().zip(f64s(&fl["data"])) {
        assert!(same(*a, b), "{a} vs {b}");
    }

    // DfOverF with timestamps: rate inferred from them.
    let dff = &truth["dff"];
    let tr = nwb::read_ophys_series(&path, dff["path"].as_str().unwrap()).unwrap();
    assert!((tr.frame_rate_hz() - dff["rate"].as_f64().unwrap()).abs() < 1e-9);
    assert_eq!(tr.n_frames(), dff["shape"][0].as_u64().unwrap() as usize);
    for (a, b) in tr.data().iter().zip(f64s(&dff["data"])) {
        assert_eq!(*a, b);
    }

    let s = nwb::inspect(&path).unwrap();
    assert!(s.nwb_version.as_deref().unwrap().starts_with("2."));
    let u = s.units.unwrap();
    assert_eq!((u.n_units, u.has_electrodes), (4, true));
    let paths: Vec<&str> = s.series.iter().map(|x| x.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "/processing/ophys/Fluorescence/RoiResponseSeries",
            "/processing/ophys/DfOverF/dff"
        ]
    );
    assert_eq!(s.series[0].starting_time_s, Some(2.0));
    assert_eq!(s.series[1].starting_time_s, Some(5.0));
}

/// Population activity (as `spikelab neulvm fit` writes it) as generic `TimeSeries`: pynwb
/// reads the same values, rate and units, and the file validates.
#[test]
fn population_activity_reads_in_pynwb_and_validates() {
    use spikelab_data::PopulationActivity;
    use spikelab_data::io::nwb::ActivitySeries;
    let _serial = serial();
    let py = datasets::python(&["pynwb"]);
    let dir = spikelab_datasets::NwbTestDir::new();
    // The bundled ground-truth latent of the neuLVM dataset, [population, bin], 4-ms bins.
    let z = io::npy::read_activity(&datasets::neulvm("Z_gt_4ms.npy").unwrap(), 0.004).unwrap();
    let hz = PopulationActivity::new(z.activity().mapv(|v| v / 0.004), 0.004).unwrap();
    let path = dir.path().join("latent.nwb");
    let series = [
        ActivitySeries {
            name: "latent_z",
            activity: &z,
            unit: "expected spikes per neuron per bin",
            description: "ground-truth latent",
        },
        ActivitySeries {
            name: "activity_hz",
            activity: &hz,
            unit: "Hz",
            description: "latent / bin width",
        },
    ];
    nwb::write_population_activity(
        &path,
        "neulvm",
        "neuLVM interop test",
        &series,
        &NwbWriteOptions::new("spikelab interop: population activity"),
    )
    .unwrap();
    let seen = pynwb_check(&py, &["read", path.to_str().unwrap()]);
    assert_eq!(seen["warnings"], serde_json::json!([]), "pynwb warned");
    let ts = seen["time_series"].as_array().unwrap();
    assert_eq!(ts.len(), 2);
    // Sorted by name: activity_hz, latent_z.
    for (s, want, name) in [(&ts[0], &hz, "activity_hz"), (&ts[1], &z, "latent_z")] {
        assert_eq!(s["path"], format!("/processing/neulvm/{name}"));
        assert_eq!(
            s["shape"],
            serde_json::json!([want.n_bins(), want.n_populations()])
        );
        assert!((s["rate"].as_f64().unwrap() - 250.0).abs() < 1e-9);
        assert_eq!(s["starting_time"].as_f64(), Some(0.0));
        let data = f64s(&s["data"]);
        let expect: Vec<f64> = want.activity().t().iter().copied().collect();
        assert_eq!(data, expect, "{name}: values differ");
    }
    assert_eq!(ts[0]["unit"], "Hz");
    let v = pynwb_check(&py, &["validate", path.to_str().unwrap()]);
    assert_eq!(
        v["errors"].as_array().unwrap().len(),
        0,
        "pynwb-validate: {v}"
    );
    // And back in spikelab.
    let back = nwb::read_population_activity(&path, "/processing/neulvm/latent_z").unwrap();
    assert_eq!(back.activity(), z.activity());
}
