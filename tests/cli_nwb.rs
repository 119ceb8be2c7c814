//! The CLI's NWB outputs end to end: calcium results and convSeq events added to a copy of the
//! user's file (never the file itself unless `--in-place`), new files with metadata from
//! `--nwb-meta`, `--dandi` refusing missing fields, and every file written passing
//! `nwbinspector` with DANDI's configuration (`scripts/nwbinspector_check.py`; needs the
//! `.venv` of `scripts/setup_python.sh`, as the other Python-checked tests).
#![cfg(feature = "hdf5")]

use std::path::{Path, PathBuf};
use std::process::Command;

use spikelab_data::io::nwb::{self, NwbWriteOptions};
use spikelab_data::{ColumnValues, SpikeTrains};

mod common;
use common::spikelab;

/// The tests run one at a time: HDF5 opens files without `O_CLOEXEC`, so a process spawned by
/// one test while another holds an HDF5 file open inherits its descriptor and file lock, and
/// the next open of that file fails with "unable to lock file".
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

fn ok(out: &std::process::Output) -> String {
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(out.status.success(), "{err}");
    err
}

fn data(rel: &str) -> String {
    let p: PathBuf = spikelab_datasets::path(rel).unwrap();
    p.display().to_string()
}

const META: &str = r#"
session_id = "day2"
experimenter = ["Doe, Jane"]
institution = "spikelab"
lab = "tests"
experiment_description = "CLI NWB checks"
keywords = ["spikelab"]

[subject]
subject_id = "mouse-3"
species = "Mus musculus"
sex = "F"
age = "P90D"

[imaging]
location = "VISp"
indicator = "GCaMP6s"
"#;

/// The user's sorted units: a seeded synthetic session (12 units, 99 occurrences of an
/// 8-unit sequence in 200 s) saved with a sampling resolution but no subject.
fn user_units(dir: &Path) -> SpikeTrains {
    ok(&spikelab(
        &[
            "synth",
            "sequences",
            "--neurons",
            "12",
            "--bins",
            "20000",
            "--bin-s",
            "0.01",
            "--seqlen",
            "8",
            "--gap",
            "200",
            "--jitter",
            "0",
            "--out",
            "synth.nwb",
        ],
        dir,
    ));
    let st = nwb::read_units(&dir.join("synth.nwb")).unwrap();
    let opts = NwbWriteOptions {
        spike_time_resolution_s: Some(1.0 / 30_000.0),
        session_start_time: "2024-03-01T09:30:00+01:00".into(),
        ..NwbWriteOptions::new("the user's sorted units")
    };
    nwb::write_units(&dir.join("units.nwb"), &st, &opts).unwrap();
    st
}

fn inspector_passes(files: &[PathBuf]) {
    let py = spikelab_datasets::python(&["nwbinspector"]);
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/nwbinspector_check.py");
    let out = Command::new(&py).arg(&script).args(files).output().unwrap();
    assert!(
        out.status.success(),
        "nwbinspector (DANDI config):\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn calcium_results_go_into_nwb_linked_to_the_rois() {
    let _serial = serial();
    let dir = spikelab_datasets::NwbTestDir::new();
    let d = dir.path();
    std::fs::write(d.join("meta.toml"), META).unwrap();
    let plane = data("readers/suite2p/plane0");
    // --dandi without metadata: refused before any work, nothing written.
    let err = spikelab(
        &[
            "calcium",
            "deconvolve",
            &plane,
            "r.npy",
            "--nwb",
            "s.nwb",
            "--dandi",
        ],
        d,
    );
    assert!(!err.status.success());
    assert!(String::from_utf8_lossy(&err.stderr).contains("--nwb-meta"));
    assert!(!d.join("s.nwb").exists());

    // Suite2p folder → a new NWB file with the traces and the rates linked to their ROIs.
    let args = [
        "calcium",
        "deconvolve",
        &plane,
        "rates.npy",
        "--rates",
        "--nwb",
        "session.nwb",
        "--nwb-meta",
        "meta.toml",
        "--dandi",
    ];
    ok(&spikelab(&args, d));
    let rates =
        spikelab_data::io::npy::read_typed::<f64, ndarray::Ix2>(&d.join("rates.npy")).unwrap();
    let series =
        nwb::read_ophys_series(&d.join("session.nwb"), "/processing/ophys/spike_rate").unwrap();
    assert_eq!(series.data().dim(), rates.dim());
    for (a, b) in series.data().iter().zip(rates.iter()) {
        assert!(a == b || (a.is_nan() && b.is_nan()));
    }
    assert_eq!(
        nwb::read_ophys(&d.join("session.nwb")).unwrap().n_neurons(),
        rates.ncols()
    );

    // An existing file is only read: the results go to a copy next to it.
    let before = std::fs::read(d.join("session.nwb")).unwrap();
    ok(&spikelab(
        &[
            "calcium",
            "deconvolve",
            "session.nwb",
            "z.npy",
            "--nwb",
            "session.nwb",
        ],
        d,
    ));
    assert_eq!(std::fs::read(d.join("session.nwb")).unwrap(), before);
    let copy = d.join("session_spikelab.nwb");
    assert!(nwb::read_ophys_series(&copy, "/processing/ophys/spike_inference").is_ok());
    // The copy exists now: a second run is refused without --force.
    let again = spikelab(
        &[
            "calcium",
            "deconvolve",
            "session.nwb",
            "z2.npy",
            "--nwb",
            "session.nwb",
        ],
        d,
    );
    assert!(!again.status.success() && String::from_utf8_lossy(&again.stderr).contains("exists"));
    assert!(
        !d.join("z2.npy").exists(),
        "outputs are checked before the work"
    );
    inspector_passes(&[d.join("session.nwb"), copy]);
}

#[test]
fn convseq_events_go_into_a_copy_of_the_units_file() {
    let _serial = serial();
    let dir = spikelab_datasets::NwbTestDir::new();
    let d = dir.path();
    std::fs::write(d.join("meta.toml"), META).unwrap();
    let st = user_units(d);
    let before = std::fs::read(d.join("units.nwb")).unwrap();
    let args = [
        "convseq",
        "detect",
        "units.nwb",
        "--bin-s",
        "0.01",
        "--filters",
        "1",
        "--width",
        "40",
        "--epochs",
        "200",
        "--null-samples",
        "100",
        "--seed",
        "1",
        "--tv-l",
        "1",
        "--out",
        "events.csv",
        "--nwb",
        "units.nwb",
        "--nwb-meta",
        "meta.toml",
        "--dandi",
    ];
    ok(&spikelab(&args, d));
    let after = std::fs::read(d.join("units.nwb")).unwrap();
    assert_eq!(after, before, "the user's file is only read");
    let out = d.join("units_spikelab.nwb");
    let table = nwb::read_time_intervals(&out, "convseq_events").unwrap();
    let csv = std::fs::read_to_string(d.join("events.csv")).unwrap();
    assert_eq!(table.len(), csv.lines().count() - 1);
    assert!(table.len() >= 80, "{} of 99 occurrences", table.len());
    let ColumnValues::RaggedI64(members) = &table.columns()[3].values else {
        panic!("member_unit_ids is ragged")
    };
    assert!(members[0].len() >= 6, "{:?}", members[0]);
    assert!(members[0].iter().all(|id| st.unit_ids().contains(id)));
    // Each row spans the members' predicted spikes around the filter's peak.
    let ColumnValues::F64(peaks) = &table.columns()[1].values else {
        panic!("peak_time is float")
    };
    for ((&a, &b), &p) in table.start_s().iter().zip(table.stop_s()).zip(peaks) {
        let around = (a - 0.2..=b + 0.2).contains(&p);
        assert!(b > a && b - a <= 0.4 && around, "[{a}, {b}] peak {p}");
    }
    let copied = nwb::read_units(&out).unwrap();
    assert_eq!(copied, st, "the units are copied unchanged");
    inspector_passes(&[out]);
}

#[test]
fn convert_writes_metadata_and_the_sampling_resolution() {
    let _serial = serial();
    let dir = spikelab_datasets::NwbTestDir::new();
    let d = dir.path();
    std::fs::write(d.join("meta.toml"), META).unwrap();
    let ks = data("readers/kilosort");
    ok(&spikelab(
        &[
            "convert",
            &ks,
            "units.nwb",
            "--nwb-meta",
            "meta.toml",
            "--dandi",
        ],
        d,
    ));
    let summary = nwb::inspect(&d.join("units.nwb")).unwrap();
    let r = summary.units.unwrap().spike_time_resolution_s.unwrap();
    assert!((r - 1.0 / 30_000.0).abs() < 1e-15, "{r}");
    let bad = spikelab(&["convert", &ks, "u2.nwb", "--dandi"], d);
    assert!(!bad.status.success() && !d.join("u2.nwb").exists());
    inspector_passes(&[d.join("units.nwb")]);
}

#[test]
fn neulvm_outputs_and_annotate_take_the_metadata() {
    let _serial = serial();
    let dir = spikelab_datasets::NwbTestDir::new();
    let d = dir.path();
    std::fs::write(d.join("meta.toml"), META).unwrap();
    let spikes = data("neulvm/regenerated_seed20221011/spikes_4ms.npy");
    let fit = [
        "neulvm",
        "fit",
        "--spikes",
        &spikes,
        "--out-dir",
        "fit",
        "--restarts",
        "1",
        "--max-em",
        "2",
        "--nwb-meta",
        "meta.toml",
        "--dandi",
    ];
    ok(&spikelab(&fit, d));
    // A command whose output is not NWB refuses the NWB options before any work.
    let molds = spikelab(
        &[
            "synth",
            "molds",
            "--out",
            "m.npy",
            "--nwb-meta",
            "meta.toml",
        ],
        d,
    );
    assert!(!molds.status.success() && !d.join("m.npy").exists());
    // annotate: a DANDI-ready copy of a file without a subject; the source is only read.
    let src = d.join("plain.nwb");
    let st = SpikeTrains::new(vec![vec![0.1, 0.7], vec![0.4]], 0.0, 1.0).unwrap();
    let opts = NwbWriteOptions {
        spike_time_resolution_s: Some(1.0 / 30_000.0),
        ..NwbWriteOptions::new("no subject")
    };
    nwb::write_units(&src, &st, &opts).unwrap();
    let before = std::fs::read(&src).unwrap();
    let no_meta = spikelab(&["annotate", "plain.nwb", "--dandi"], d);
    assert!(!no_meta.status.success());
    assert!(String::from_utf8_lossy(&no_meta.stderr).contains("subject"));
    assert!(!d.join("plain_spikelab.nwb").exists());
    ok(&spikelab(
        &[
            "annotate",
            "plain.nwb",
            "--nwb-meta",
            "meta.toml",
            "--dandi",
        ],
        d,
    ));
    assert_eq!(std::fs::read(&src).unwrap(), before);
    inspector_passes(&[d.join("fit/fit.nwb"), d.join("plain_spikelab.nwb")]);
}

/// Every synthetic NWB output, with metadata and `--dandi`, passes DANDI's checks: spike times
/// on the 30 kHz clock with its resolution, the imaging location from `[imaging]`.
#[test]
fn synth_nwb_outputs_pass_dandi_checks() {
    let _serial = serial();
    let dir = spikelab_datasets::NwbTestDir::new();
    let d = dir.path();
    std::fs::write(d.join("meta.toml"), META).unwrap();
    let runs: [&[&str]; 4] = [
        &["sequences", "--bins", "3000", "--out", "seq.nwb"],
        &[
            "poisson",
            "--neurons",
            "5",
            "--duration-s",
            "20",
            "--out",
            "poi.nwb",
        ],
        &[
            "calcium",
            "--neurons",
            "3",
            "--duration-s",
            "20",
            "--out",
            "cal.nwb",
        ],
        &[
            "lif",
            "--duration-s",
            "1",
            "--recorded",
            "3",
            "--out",
            "lif.nwb",
        ],
    ];
    let mut files = Vec::new();
    for run in runs {
        let mut args = vec!["synth"];
        args.extend_from_slice(run);
        args.extend_from_slice(&["--nwb-meta", "meta.toml", "--dandi"]);
        ok(&spikelab(&args, d));
        files.push(d.join(run[run.len() - 1]));
    }
    inspector_passes(&files);
    // Binning the sequences' times at the raster's bin width gives back the npy raster.
    ok(&spikelab(
        &[
            "synth",
            "sequences",
            "--bins",
            "3000",
            "--out",
            "raster.npy",
        ],
        d,
    ));
    let dense = spikelab_data::io::npy::read_raster(&d.join("raster.npy"), 0.05).unwrap();
    let binned = nwb::read_units(&d.join("seq.nwb"))
        .unwrap()
        .bin(0.05)
        .unwrap();
    assert_eq!(binned.counts().mapv(|c| c.min(1)), dense.counts());
}
