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

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use spikelab_data::batch::{self, BatchSelection};

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

/// The library's selection from the arguments (`--exe` or this executable).
fn selection(a: &Selection) -> Result<BatchSelection> {
    let exe = match &a.exe {
        Some(p) => p.clone(),
        None => std::env::current_exe().context("finding this executable")?,
    };
    let exe = exe
        .to_str()
        .with_context(|| format!("{} is not UTF-8", exe.display()))?
        .to_owned();
    Ok(BatchSelection {
        glob: a.glob.clone(),
        out_dir: a.out_dir.clone(),
        all: a.all,
        ..BatchSelection::new(&a.dir, &a.command, &a.suffix, exe)
    })
}

fn plan(a: PlanArgs) -> Result<()> {
    let p = batch::plan(&selection(&a.selection)?)?;
    let lines = p.shell_lines()?;
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
                let script = batch::slurm_script(path, lines.len().max(1))?;
                spikelab_data::io::write_bytes_atomic(s, script.as_bytes(), a.force)?;
                eprintln!("wrote {}", s.display());
            }
            eprintln!("wrote {} ({} commands)", path.display(), lines.len());
        }
    }
    eprintln!(
        "{} recordings planned, {} left out (output exists{})",
        lines.len(),
        p.left_out,
        if a.selection.all { "; --all" } else { "" }
    );
    Ok(())
}

fn run_here(a: RunArgs) -> Result<()> {
    let devices = a
        .devices
        .iter()
        .map(|d| d.trim().parse::<spikelab_core::Device>())
        .collect::<std::result::Result<Vec<_>, _>>()?;
    let p = batch::plan(&selection(&a.selection)?)?;
    let n = p.commands.len();
    eprintln!(
        "{n} recordings to run on {} workers ({}), {} left out (output exists)",
        devices.len(),
        a.devices.join(", "),
        p.left_out
    );
    let bar = indicatif::ProgressBar::new(n as u64);
    let results = batch::run(&p, &devices, &mut |_: &spikelab_core::Progress| {
        bar.inc(1);
        spikelab_core::Flow::Continue
    })?;
    bar.finish_and_clear();
    let mut failed = 0;
    for r in &results {
        match r {
            Ok(d) => eprintln!("ok: {} on {} ({:.1} s)", d.stem, d.device, d.seconds),
            Err(e) => {
                failed += 1;
                eprintln!("failed: {e}");
            }
        }
    }
    if failed > 0 {
        bail!("{failed} of {n} commands failed");
    }
    eprintln!("{n} commands done");
    Ok(())
}
