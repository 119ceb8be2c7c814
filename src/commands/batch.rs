//! `spikelab batch plan`: one CLI command per recording of a folder, for a Slurm job array,
//! HyperQueue, GNU parallel or `xargs -P` (the Python package's `spikelab.batch` runs methods
//! on Dask instead).
//!
//! ```text
//! spikelab batch plan DIR --command "calcium deconvolve {in} {out} --fps 30" --suffix .rates.npy
//!     [--glob '*.npy'] [--out-dir OUT] [--all] [--exe PATH] [--slurm FILE] [--write FILE] [--force]
//! ```
//! `{in}` is a recording, `{out}` its output (`OUT/` or the recording's folder, the
//! recording's name without its extension + `--suffix`), `{stem}` that name. Recordings whose
//! output exists are left out (a rerun plans only what is missing) unless `--all`. Each line
//! is a complete shell command with quoted paths; `--write` saves the lines, `--slurm` a job
//! array script that runs line `$SLURM_ARRAY_TASK_ID` of that file.
//!
//! ```text
//! spikelab batch run DIR --command "calcium deconvolve {in} {out} --fps 30 --device {device}"
//!     --suffix .rates.npy --devices cuda:0,cuda:1,cuda:2 [--glob …] [--out-dir OUT] [--all] [--exe PATH]
//! ```
//! `batch run` runs the same plan on this machine: one worker per entry of `--devices`, each
//! taking the next command from a shared queue and running it as its own process (`sh -c`).
//! A worker on `cuda:i` runs its commands with `CUDA_VISIBLE_DEVICES=i` and `{device}` =
//! `cuda:0` (the process sees its GPU only); on `cpu`, `{device}` = `cpu`. List a device
//! twice for two processes on it. Every command's output is kept in its output's name + `.log`
//! (`out/a.rates.npy.log`, replaced by a rerun); the run ends with the failures listed and a non-zero exit if any failed.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};

/// Batch subcommands.
#[derive(Debug, Subcommand)]
pub enum BatchCommand {
    /// Write one command per recording of a folder (Slurm array, HyperQueue, xargs -P).
    Plan(PlanArgs),
    /// Run one command per recording of a folder here, one worker process per listed device.
    Run(RunArgs),
}

/// Which recordings, and the command for one of them (shared by `plan` and `run`).
#[derive(Debug, Args)]
pub struct Selection {
    /// Folder of recordings (not searched recursively).
    pub dir: PathBuf,
    /// The spikelab command for one recording, with `{in}`, `{out}` and `{stem}` (and, for
    /// `run`, `{device}`), e.g. "calcium deconvolve {in} {out} --fps 30".
    #[arg(long)]
    pub command: String,
    /// Output name: the recording's name without its last extension + this suffix.
    #[arg(long)]
    pub suffix: String,
    /// Recordings to take: a file-name pattern with `*` and `?`.
    #[arg(long, default_value = "*")]
    pub glob: String,
    /// Folder of the outputs (default: each recording's folder).
    #[arg(long)]
    pub out_dir: Option<PathBuf>,
    /// Plan recordings whose output already exists too.
    #[arg(long)]
    pub all: bool,
    /// The spikelab executable the commands call (default: this one).
    #[arg(long)]
    pub exe: Option<PathBuf>,
}

/// `spikelab batch plan`.
#[derive(Debug, Args)]
pub struct PlanArgs {
    #[command(flatten)]
    pub selection: Selection,
    /// Write the commands to this file (one per line) instead of printing them.
    #[arg(long)]
    pub write: Option<PathBuf>,
    /// Also write a Slurm job-array script running line $SLURM_ARRAY_TASK_ID of --write.
    #[arg(long, requires = "write")]
    pub slurm: Option<PathBuf>,
    /// Replace existing --write / --slurm files.
    #[arg(long)]
    pub force: bool,
}

/// `spikelab batch run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub selection: Selection,
    /// Devices of the workers, comma-separated (`cpu`, `cuda:N`; a device listed twice gets
    /// two workers).
    #[arg(long, default_value = "cpu", value_delimiter = ',')]
    pub devices: Vec<String>,
}

/// Runs a batch subcommand.
pub fn run(c: BatchCommand) -> Result<()> {
    match c {
        BatchCommand::Plan(a) => plan(a),
        BatchCommand::Run(a) => run_here(a),
    }
}

/// `*` matches any run of characters, `?` one character; everything else itself.
fn glob_match(pattern: &[char], name: &[char]) -> bool {
    match (pattern.first(), name.first()) {
        (None, None) => true,
        (Some('*'), _) => {
            glob_match(&pattern[1..], name) || (!name.is_empty() && glob_match(pattern, &name[1..]))
        }
        (Some('?'), Some(_)) => glob_match(&pattern[1..], &name[1..]),
        (Some(p), Some(n)) if p == n => glob_match(&pattern[1..], &name[1..]),
        _ => false,
    }
}

/// POSIX shell quoting: plain words as they are, anything else in single quotes.
fn quote(s: &str) -> String {
    let plain = !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:+,@%".contains(c));
    if plain {
        s.to_owned()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

/// The output of `input`: `out_dir` (or the input's folder) / stem + suffix.
fn output_of(input: &Path, out_dir: Option<&Path>, suffix: &str) -> Result<(PathBuf, String)> {
    let stem = input
        .file_stem()
        .and_then(|s| s.to_str())
        .with_context(|| format!("{} has no UTF-8 file name", input.display()))?
        .to_owned();
    let dir = out_dir
        .map(Path::to_path_buf)
        .or_else(|| input.parent().map(Path::to_path_buf))
        .unwrap_or_default();
    Ok((dir.join(format!("{stem}{suffix}")), stem))
}

/// One planned command: its shell line, output path and stem.
struct Planned {
    line: String,
    out: PathBuf,
    stem: String,
}

/// The planned commands, in file-name order, and how many recordings were left out.
fn plan_lines(a: &Selection, exe: &str, for_plan: bool) -> Result<(Vec<Planned>, usize)> {
    if !a.command.contains("{in}") {
        bail!("--command must contain {{in}} (the recording)");
    }
    if for_plan && a.command.contains("{device}") {
        bail!("{{device}} is filled in by `batch run`; for a plan, write the device in --command");
    }
    if a.suffix.is_empty() || a.suffix.contains('/') {
        bail!("--suffix must be a non-empty file-name ending, e.g. .rates.npy");
    }
    let pattern: Vec<char> = a.glob.chars().collect();
    let mut inputs = Vec::new();
    for entry in
        std::fs::read_dir(&a.dir).with_context(|| format!("reading {}", a.dir.display()))?
    {
        let path = entry?.path();
        let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        if path.is_file() && glob_match(&pattern, &name.chars().collect::<Vec<_>>()) {
            inputs.push(path);
        }
    }
    inputs.sort();
    let mut lines = Vec::new();
    let mut done = 0;
    for input in &inputs {
        let (out, stem) = output_of(input, a.out_dir.as_deref(), &a.suffix)?;
        if &out == input {
            bail!(
                "{}: its output would be the recording itself; choose another --suffix",
                input.display()
            );
        }
        if out.exists() && !a.all {
            done += 1;
            continue;
        }
        let text = |p: &Path| {
            p.to_str()
                .map(quote)
                .with_context(|| format!("{} is not UTF-8", p.display()))
        };
        let cmd = a
            .command
            .replace("{in}", &text(input)?)
            .replace("{out}", &text(&out)?)
            .replace("{stem}", &quote(&stem));
        lines.push(Planned {
            line: format!("{} {cmd}", quote(exe)),
            out,
            stem,
        });
    }
    if inputs.is_empty() {
        bail!("no file in {} matches {:?}", a.dir.display(), a.glob);
    }
    Ok((lines, done))
}

fn slurm_script(commands: &Path, n: usize) -> Result<String> {
    let file = std::fs::canonicalize(commands)
        .with_context(|| format!("resolving {}", commands.display()))?;
    let file = file
        .to_str()
        .with_context(|| format!("{} is not UTF-8", file.display()))?;
    let mut s = String::new();
    writeln!(s, "#!/bin/bash")?;
    writeln!(s, "#SBATCH --job-name=spikelab")?;
    writeln!(s, "#SBATCH --array=1-{n}")?;
    writeln!(s, "#SBATCH --cpus-per-task=2")?;
    writeln!(
        s,
        "# Runs line $SLURM_ARRAY_TASK_ID of the plan; add your partition, time and"
    )?;
    writeln!(s, "# memory lines above. Submit with: sbatch THIS_FILE")?;
    writeln!(s, "set -euo pipefail")?;
    writeln!(
        s,
        "line=$(sed -n \"${{SLURM_ARRAY_TASK_ID}}p\" {})",
        quote(file)
    )?;
    writeln!(s, "exec bash -c \"$line\"")?;
    Ok(s)
}

/// The executable the commands call: `--exe` or this one.
fn exe_of(a: &Selection) -> Result<String> {
    let exe = match &a.exe {
        Some(p) => p.clone(),
        None => std::env::current_exe().context("finding this executable")?,
    };
    Ok(exe
        .to_str()
        .with_context(|| format!("{} is not UTF-8", exe.display()))?
        .to_owned())
}

fn plan(a: PlanArgs) -> Result<()> {
    let exe = exe_of(&a.selection)?;
    let (planned, done) = plan_lines(&a.selection, &exe, true)?;
    let lines: Vec<String> = planned.into_iter().map(|p| p.line).collect();
    let mut text = lines.join("\n");
    if !lines.is_empty() {
        text.push('\n');
    }
    match &a.write {
        None => print!("{text}"),
        Some(path) => {
            if let Some(s) = &a.slurm {
                spikelab_data::io::check_writable(s, a.force)?;
            }
            spikelab_data::io::write_bytes_atomic(path, text.as_bytes(), a.force)?;
            if let Some(s) = &a.slurm {
                let script = slurm_script(path, lines.len().max(1))?;
                spikelab_data::io::write_bytes_atomic(s, script.as_bytes(), a.force)?;
                eprintln!("wrote {}", s.display());
            }
            eprintln!("wrote {} ({} commands)", path.display(), lines.len());
        }
    }
    eprintln!(
        "{} recordings planned, {done} left out (output exists{})",
        lines.len(),
        if a.selection.all { "; --all" } else { "" }
    );
    Ok(())
}

/// `{device}` and the environment of a worker's processes on `device`.
fn device_env(device: spikelab_core::Device) -> (String, Option<String>) {
    match device {
        spikelab_core::Device::Cuda(i) => ("cuda:0".into(), Some(i.to_string())),
        other => (other.to_string(), None),
    }
}

fn run_here(a: RunArgs) -> Result<()> {
    let devices = a
        .devices
        .iter()
        .map(|d| d.trim().parse::<spikelab_core::Device>())
        .collect::<std::result::Result<Vec<_>, _>>()?;
    let exe = exe_of(&a.selection)?;
    let (planned, done) = plan_lines(&a.selection, &exe, false)?;
    eprintln!(
        "{} recordings to run on {} workers ({}), {done} left out (output exists)",
        planned.len(),
        devices.len(),
        a.devices.join(", ")
    );
    let bar = indicatif::ProgressBar::new(planned.len() as u64);
    let n = planned.len();
    let results = spikelab_core::workers::run_on_devices(
        &devices,
        planned,
        |device, _, job: Planned| -> Result<(String, f64)> {
            let (name, visible) = device_env(device);
            let line = job.line.replace("{device}", &quote(&name));
            let mut log = job.out.clone().into_os_string();
            log.push(".log");
            let log = PathBuf::from(log);
            let t0 = std::time::Instant::now();
            let mut cmd = std::process::Command::new("sh");
            cmd.arg("-c").arg(&line);
            if let Some(v) = visible {
                cmd.env("CUDA_VISIBLE_DEVICES", v);
            }
            let out = cmd.output().with_context(|| format!("starting {line}"))?;
            let mut text = format!("$ {line}\n# device {device}\n");
            text.push_str(&String::from_utf8_lossy(&out.stdout));
            text.push_str(&String::from_utf8_lossy(&out.stderr));
            spikelab_data::io::write_bytes_atomic(&log, text.as_bytes(), true)?;
            if !out.status.success() {
                bail!(
                    "{} failed on {device} ({}); log {}",
                    job.stem,
                    out.status,
                    log.display()
                );
            }
            Ok((
                format!("{} on {device}", job.stem),
                t0.elapsed().as_secs_f64(),
            ))
        },
        &mut |_: &spikelab_core::Progress| {
            bar.inc(1);
            spikelab_core::Flow::Continue
        },
    )?;
    bar.finish_and_clear();
    let mut failed = 0;
    for r in &results {
        match r {
            Ok((what, s)) => eprintln!("ok: {what} ({s:.1} s)"),
            Err(e) => {
                failed += 1;
                eprintln!("failed: {e:#}");
            }
        }
    }
    if failed > 0 {
        bail!("{failed} of {n} commands failed");
    }
    eprintln!("{n} commands done");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glob_and_quote() {
        let g = |p: &str, n: &str| {
            glob_match(
                &p.chars().collect::<Vec<_>>(),
                &n.chars().collect::<Vec<_>>(),
            )
        };
        assert!(g("*.npy", "a.npy") && g("rec?_*.npy", "rec1_x.npy") && g("*", ""));
        assert!(!g("*.npy", "a.npz") && !g("rec?.npy", "rec10.npy"));
        assert_eq!(quote("/data/a.npy"), "/data/a.npy");
        assert_eq!(quote("my file's.npy"), r"'my file'\''s.npy'");
        assert_eq!(quote(""), "''");
    }
}
