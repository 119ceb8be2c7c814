//! `spikelab batch plan` end to end: three generated recordings (one name with a space and a
//! quote), one already done; the plan lists the two others as runnable shell lines, running
//! them writes their outputs, and planning again finds nothing left. The Slurm script runs one
//! line of the plan.

use std::process::Command;

mod common;
use common::spikelab;

fn ok(out: &std::process::Output) -> String {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Two-neuron calcium recordings `d/recs/NAME` (seed = position in `names`).
fn recordings(d: &std::path::Path, names: &[&str]) {
    std::fs::create_dir(d.join("recs")).unwrap();
    for (i, name) in names.iter().enumerate() {
        let (seed, out) = (i.to_string(), format!("recs/{name}"));
        let args = [
            "synth",
            "calcium",
            "--neurons",
            "2",
            "--duration-s",
            "20",
            "--fps",
            "30",
            "--seed",
            &seed,
            "--out",
            &out,
        ];
        ok(&spikelab(&args, d));
    }
}

#[test]
fn plan_runs_what_is_missing() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    recordings(d, &["a.npy", "b c'd.npy", "e.npy"]);
    std::fs::write(d.join("recs/notes.txt"), "not a recording").unwrap();
    std::fs::create_dir(d.join("out")).unwrap();
    std::fs::write(d.join("out/e.rates.npy"), "done before").unwrap();
    let plan = [
        "batch",
        "plan",
        "recs",
        "--glob",
        "*.npy",
        "--command",
        "calcium deconvolve {in} {out} --fps 30",
        "--suffix",
        ".rates.npy",
        "--out-dir",
        "out",
    ];
    let lines = ok(&spikelab(&plan, d));
    let lines: Vec<&str> = lines.lines().collect();
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert!(
        lines[0].contains("recs/a.npy out/a.rates.npy --fps 30"),
        "{}",
        lines[0]
    );
    assert!(
        lines[1].contains(r"'recs/b c'\''d.npy' 'out/b c'\''d.rates.npy'"),
        "{}",
        lines[1]
    );
    for line in &lines {
        let run = Command::new("sh")
            .arg("-c")
            .arg(line)
            .current_dir(d)
            .output()
            .unwrap();
        ok(&run);
    }
    assert!(d.join("out/a.rates.npy").is_file() && d.join("out/b c'd.rates.npy").is_file());
    assert_eq!(
        std::fs::read_to_string(d.join("out/e.rates.npy")).unwrap(),
        "done before"
    );
    assert_eq!(ok(&spikelab(&plan, d)), "", "nothing left to plan");
    let mut all = plan.to_vec();
    all.push("--all");
    assert_eq!(ok(&spikelab(&all, d)).lines().count(), 3);

    // A plan file and a Slurm array script; neither is replaced without --force.
    let mut write = all.clone();
    write.extend(["--write", "plan.txt", "--slurm", "job.sh"]);
    ok(&spikelab(&write, d));
    assert_eq!(
        std::fs::read_to_string(d.join("plan.txt"))
            .unwrap()
            .lines()
            .count(),
        3
    );
    let script = std::fs::read_to_string(d.join("job.sh")).unwrap();
    assert!(script.contains("#SBATCH --array=1-3"), "{script}");
    std::fs::remove_file(d.join("out/a.rates.npy")).unwrap();
    let task = Command::new("bash")
        .arg("job.sh")
        .env("SLURM_ARRAY_TASK_ID", "1")
        .current_dir(d)
        .output()
        .unwrap();
    // Line 1 is a.npy, whose output was removed: the task writes it again.
    ok(&task);
    assert!(d.join("out/a.rates.npy").is_file());
    let again = spikelab(&write, d);
    assert!(!again.status.success());
    write.push("--force");
    ok(&spikelab(&write, d));

    // Bad input: no {in}, an empty suffix, nothing matching.
    for bad in [
        vec![
            "batch",
            "plan",
            "recs",
            "--command",
            "calcium deconvolve x y",
            "--suffix",
            ".o",
        ],
        vec![
            "batch",
            "plan",
            "recs",
            "--command",
            "x {in}",
            "--suffix",
            "",
        ],
        vec![
            "batch",
            "plan",
            "recs",
            "--glob",
            "*.csv",
            "--command",
            "x {in}",
            "--suffix",
            ".o",
        ],
    ] {
        assert!(!spikelab(&bad, d).status.success(), "{bad:?}");
    }
}

/// `spikelab batch run`: the plan run here by a pool of device workers, one process per
/// command; `{device}` and `CUDA_VISIBLE_DEVICES` follow the worker's device.
#[test]
fn run_executes_the_plan_on_device_workers() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    recordings(d, &["a.npy", "b.npy"]);
    let run = [
        "batch",
        "run",
        "recs",
        "--glob",
        "?.npy",
        "--command",
        "calcium deconvolve {in} {out} --fps 30",
        "--suffix",
        ".rates.npy",
        "--out-dir",
        "out",
        "--devices",
        "cpu,cpu",
    ];
    std::fs::create_dir(d.join("out")).unwrap();
    ok(&spikelab(&run, d));
    for s in ["a", "b"] {
        assert!(d.join(format!("out/{s}.rates.npy")).is_file());
        let log = std::fs::read_to_string(d.join(format!("out/{s}.rates.npy.log"))).unwrap();
        assert!(log.contains("# device cpu"), "{log}");
    }
    // Nothing left: a rerun runs no command.
    let again = spikelab(&run, d);
    assert!(String::from_utf8_lossy(&again.stderr).contains("0 recordings to run"));

    // {device} and CUDA_VISIBLE_DEVICES, through a stand-in executable.
    let script = d.join("fake.sh");
    std::fs::write(
        &script,
        "#!/bin/sh\necho \"$CUDA_VISIBLE_DEVICES|$3\" > \"$2\"\n",
    )
    .unwrap();
    let exe = script.to_str().unwrap();
    let mut fake = vec![
        "batch",
        "run",
        "recs",
        "--command",
        "{in} {out} {device}",
        "--suffix",
        ".dev",
        "--out-dir",
        "out",
        "--devices",
        "cpu,cuda:3",
        "--exe",
    ];
    fake.push(exe);
    let st = std::process::Command::new("chmod")
        .arg("+x")
        .arg(&script)
        .status()
        .unwrap();
    assert!(st.success());
    ok(&spikelab(&fake, d));
    for s in ["a", "b"] {
        let got = std::fs::read_to_string(d.join(format!("out/{s}.dev"))).unwrap();
        assert!(["|cpu\n", "3|cuda:0\n"].contains(&got.as_str()), "{got:?}");
    }

    // A failing command fails the run and names it; a device that does not parse is refused.
    let mut bad = run.to_vec();
    bad[6] = "calcium deconvolve {in} {out} --fps -1";
    bad.push("--all");
    let out = spikelab(&bad, d);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("2 of 2 commands failed"));
    let mut tpu = run.to_vec();
    tpu[12] = "tpu";
    assert!(!spikelab(&tpu, d).status.success());
    // {device} belongs to `run`: a plan refuses it.
    let plan = [
        "batch",
        "plan",
        "recs",
        "--command",
        "x {in} --device {device}",
        "--suffix",
        ".o",
    ];
    assert!(!spikelab(&plan, d).status.success());
}
