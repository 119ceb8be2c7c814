//! `spikelab convert` killed with SIGKILL at random moments of a long write: the output is
//! either absent or complete (or, with `--force`, the complete old file), and the input is
//! untouched. Writers go through a temporary file and a rename (`spikelab_data::io::write_atomic`).

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use ndarray::Array2;
use spikelab_data::io;

/// `[time, neuron]` traces big enough that formatting and writing them takes a noticeable time.
fn input(dir: &Path) -> std::path::PathBuf {
    let (t, n) = (150_000, 12);
    let a = Array2::from_shape_fn((t, n), |(i, j)| {
        ((i * 7 + j * 13) % 1000) as f64 / 997.0 - 0.25
    });
    let p = dir.join("in.npy");
    io::npy::write(&p, &a, false).unwrap();
    p
}

fn convert(inp: &Path, out: &Path, force: bool) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_spikelab"));
    c.args(["convert", "--content", "traces", "--fps", "100"])
        .arg(inp)
        .arg(out);
    if force {
        c.arg("--force");
    }
    c.stdout(Stdio::null()).stderr(Stdio::null());
    c
}

/// Deterministic pseudo-random fractions (xorshift64), so a failure can be replayed.
fn fractions(seed: u64, n: usize) -> Vec<f64> {
    let mut x = seed;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 11) as f64 / (1u64 << 53) as f64
        })
        .collect()
}

/// Kills a run after `frac` × `full` and returns whether it had already finished.
fn run_and_kill(mut cmd: Command, full: Duration, frac: f64) -> bool {
    let mut child = cmd.spawn().unwrap();
    std::thread::sleep(full.mul_f64(frac));
    let finished = child.try_wait().unwrap().is_some();
    let _ = child.kill(); // SIGKILL on Unix
    child.wait().unwrap();
    finished
}

fn check_kills(ext: &str, same: impl Fn(&Path, &Path) -> bool) {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let inp = input(d);
    let in_bytes = std::fs::read(&inp).unwrap();
    let reference = d.join(format!("reference.{ext}"));
    let t0 = Instant::now();
    assert!(convert(&inp, &reference, false).status().unwrap().success());
    let full = t0.elapsed();
    // The file that `--force` replaces: a complete file with other content.
    let small = d.join("small.npy");
    io::npy::write(&small, &Array2::<f64>::ones((5, 3)), false).unwrap();
    let old = d.join(format!("old.{ext}"));
    assert!(convert(&small, &old, false).status().unwrap().success());
    let (mut killed, mut absent, mut complete) = (0, 0, 0);
    for (i, f) in fractions(0x5eed ^ ext.len() as u64, 10)
        .into_iter()
        .enumerate()
    {
        // A fresh target: absent or complete.
        let out = d.join(format!("out{i}.{ext}"));
        let finished = run_and_kill(convert(&inp, &out, false), full, f * 1.1);
        if out.exists() {
            assert!(
                same(&out, &reference),
                "kill at {:.0}% left a partial {}",
                f * 110.0,
                out.display()
            );
            complete += 1;
        } else {
            assert!(!finished, "a finished run left no output");
            absent += 1;
        }
        killed += usize::from(!finished);
        // Replacing an existing file with --force: the old complete file or the new one.
        let target = d.join(format!("force{i}.{ext}"));
        std::fs::copy(&old, &target).unwrap();
        run_and_kill(convert(&inp, &target, true), full, f * 1.1);
        assert!(target.exists(), "kill during --force removed the old file");
        assert!(
            same(&target, &reference) || same(&target, &old),
            "kill during --force left a partial file"
        );
        assert_eq!(std::fs::read(&inp).unwrap(), in_bytes, "the input changed");
    }
    eprintln!(
        "{ext}: full run {full:?}; {killed} killed mid-run, {absent} absent, {complete} complete"
    );
    assert!(killed > 0, "no run was killed before it finished");
}

#[test]
fn killed_csv_writes_leave_no_partial_file() {
    check_kills("csv", |a, b| {
        std::fs::read(a).unwrap() == std::fs::read(b).unwrap()
    });
}

#[test]
fn killed_npy_writes_leave_no_partial_file() {
    check_kills("npy", |a, b| {
        std::fs::read(a).unwrap() == std::fs::read(b).unwrap()
    });
}

#[test]
fn killed_nwb_writes_leave_no_partial_file() {
    // NWB files carry a random identifier: compare what they hold.
    check_kills("nwb", |a, b| {
        let (x, y) = (io::nwb::read_ophys(a), io::nwb::read_ophys(b).unwrap());
        x.is_ok_and(|x| x.data() == y.data() && x.frame_rate_hz() == y.frame_rate_hz())
    });
}
