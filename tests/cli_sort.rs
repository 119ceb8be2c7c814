//! `spikelab sort run --probe`: a probeinterface file (datasets/sort/probe/, written by
//! probeinterface 0.4.2) replaces the recording's probe, and the phy output carries its
//! positions as spikeinterface orders them; mismatches and conflicting flags are refused.
//! Also: output piped into a reader that closes early (`| head`) ends quietly.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn spikelab(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_spikelab"))
        .args(args)
        .output()
        .unwrap()
}

fn probe_dir() -> PathBuf {
    spikelab_datasets::root().unwrap().join("sort/probe")
}

/// A 4-channel ground-truth recording folder (`synth recording`, tetrode preset, 3 s).
fn tetrode_recording(dir: &Path) -> PathBuf {
    let rec = dir.join("rec");
    let out = spikelab(&[
        "synth",
        "recording",
        "--duration-s",
        "3",
        "--out",
        rec.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    rec
}

#[test]
fn sort_run_takes_the_probe_file_and_checks_it() {
    let tmp = tempfile::tempdir().unwrap();
    let rec = tetrode_recording(tmp.path());
    let rec_s = rec.to_str().unwrap();

    let sort_with_probe = |probe: &std::path::Path, out: &std::path::Path| {
        spikelab(&[
            "sort",
            "run",
            rec_s,
            "--probe",
            probe.to_str().unwrap(),
            "--no-plots",
            "--out",
            out.to_str().unwrap(),
        ])
    };
    let probe = probe_dir().join("tetrode.json");
    let out = tmp.path().join("sorted");
    let o = sort_with_probe(&probe, &out);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let pos: ndarray::Array2<f64> =
        spikelab_data::io::npy::read_typed(&out.join("channel_positions.npy")).unwrap();
    let text = std::fs::read_to_string(probe_dir().join("expected.json")).unwrap();
    let expected: serde_json::Value = serde_json::from_str(&text).unwrap();
    let want = expected["files"]["tetrode.json"]["positions_um"]
        .as_array()
        .unwrap();
    assert_eq!(pos.nrows(), want.len());
    for (c, xy) in want.iter().enumerate() {
        for d in 0..2 {
            let w = xy[d].as_f64().unwrap();
            assert!(
                (pos[[c, d]] - w).abs() < 1e-9,
                "channel {c}: {} vs {w}",
                pos[[c, d]]
            );
        }
    }

    // 42 wired contacts for a 4-channel recording: refused before sorting, naming both counts.
    let no = tmp.path().join("no");
    let o = sort_with_probe(&probe_dir().join("np1_slice.json"), &no);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success());
    assert!(
        err.contains("42 wired contacts")
            && err.contains("4 channels")
            && err.contains("np1_slice.json"),
        "{err}"
    );
    assert!(!tmp.path().join("no").exists());

    // --probe and --tetrode-pitch-um together: a usage error.
    let o = spikelab(&[
        "sort",
        "run",
        rec_s,
        "--probe",
        probe.to_str().unwrap(),
        "--tetrode-pitch-um",
        "20",
        "--out",
        tmp.path().join("no").to_str().unwrap(),
    ]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("cannot be used with"), "{err}");

    // A probe file that is not one: the reader's typed error reaches the user.
    let bad = tmp.path().join("bad.json");
    std::fs::write(&bad, r#"{"probes": [{"ndim": 3, "si_units": "um"}]}"#).unwrap();
    let o = sort_with_probe(&bad, &no);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        !o.status.success() && err.contains("bad.json") && err.contains("to_2d"),
        "{err}"
    );
}

/// `spikelab … | head -1`: stdout is a pipe whose reader has gone. The process must end
/// without the "failed printing to stdout: Broken pipe" panic (killed by SIGPIPE, as `cat`
/// or `ls` would be, or exiting normally).
#[cfg(unix)]
#[test]
fn closed_stdout_ends_quietly() {
    use std::os::unix::process::ExitStatusExt;
    let tmp = tempfile::tempdir().unwrap();
    let rec = tetrode_recording(tmp.path());
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let o = Command::new(env!("CARGO_BIN_EXE_spikelab"))
        .args(["sort", "compare", "--gt"])
        .arg(&rec)
        .arg("--sorted")
        .arg(&rec)
        .stdout(writer)
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!err.contains("panicked"), "{err}");
    assert!(
        o.status.success() || o.status.signal() == Some(libc::SIGPIPE),
        "{:?}: {err}",
        o.status
    );
}
