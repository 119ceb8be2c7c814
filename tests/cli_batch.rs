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

#[test]
fn plan_runs_what_is_missing() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::create_dir(d.join("recs")).unwrap();
    for (i, name) in ["a.npy", "b c'd.npy", "e.npy"].iter().enumerate() {
        let seed = i.to_string();
        let out = format!("recs/{name}");
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
