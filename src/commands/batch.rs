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

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};

/// Batch subcommands.
#[derive(Debug, Subcommand)]
pub enum BatchCommand {
    /// Write one command per recording of a folder (Slurm array, HyperQueue, xargs -P).
    Plan(PlanArgs),
}

/// `spikelab batch plan`.
#[derive(Debug, Args)]
pub struct PlanArgs {
    /// Folder of recordings (not searched recursively).
    pub dir: PathBuf,
    /// The spikelab command for one recording, with `{in}`, `{out}` and `{stem}`, e.g.
    /// "calcium deconvolve {in} {out} --fps 30".
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

/// Runs a batch subcommand.
pub fn run(c: BatchCommand) -> Result<()> {
    match c {
        BatchCommand::Plan(a) => plan(a),
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

/// The planned command lines, in file-name order.
fn plan_lines(a: &PlanArgs, exe: &str) -> Result<(Vec<String>, usize)> {
    if !a.command.contains("{in}") {
        bail!("--command must contain {{in}} (the recording)");
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
        lines.push(format!("{} {cmd}", quote(exe)));
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

fn plan(a: PlanArgs) -> Result<()> {
    let exe = match &a.exe {
        Some(p) => p.clone(),
        None => std::env::current_exe().context("finding this executable")?,
    };
    let exe = exe
        .to_str()
        .with_context(|| format!("{} is not UTF-8", exe.display()))?
        .to_owned();
    let (lines, done) = plan_lines(&a, &exe)?;
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
        if a.all { "; --all" } else { "" }
    );
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
