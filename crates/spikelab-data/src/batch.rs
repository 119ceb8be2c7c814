//! Many recordings, one command each: the plan behind `spikelab batch plan` (one complete
//! shell command per recording of a folder, for a Slurm job array, HyperQueue, GNU parallel
//! or `xargs -P`) and `spikelab batch run` (the same commands run here, one worker process
//! per listed device).
//!
//! A command template names the recording `{in}`, its output `{out}` (the output folder, or
//! the recording's folder, / the recording's name without its extension + the suffix) and
//! that name `{stem}`; [`run`] also fills in `{device}`. Recordings whose output exists are
//! left out unless `all` (a rerun plans only what is missing).
//!
//! ```
//! use spikelab_data::batch::{BatchSelection, plan};
//! let dir = tempfile::tempdir()?;
//! for name in ["a.npy", "b.npy", "notes.txt"] {
//!     std::fs::write(dir.path().join(name), "x")?;
//! }
//! let sel = BatchSelection {
//!     glob: "*.npy".into(),
//!     ..BatchSelection::new(dir.path(), "calcium deconvolve {in} {out} --fps 30", ".rates.npy", "spikelab")
//! };
//! let p = plan(&sel)?;
//! assert_eq!(p.commands.len(), 2);
//! assert!(p.commands[0].line.starts_with("spikelab calcium deconvolve "));
//! assert!(p.commands[0].line.ends_with("a.rates.npy --fps 30"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::path::{Path, PathBuf};

use spikelab_core::{Device, Observer, workers::run_on_devices};

use crate::error::{DataError, Result};

/// Which recordings of a folder, and the command for one of them.
#[derive(Debug, Clone, PartialEq)]
pub struct BatchSelection {
    /// Folder of recordings (not searched recursively).
    pub dir: PathBuf,
    /// The command for one recording (after `exe`), with `{in}`, `{out}`, `{stem}` and, for
    /// [`run`], `{device}`.
    pub command: String,
    /// Output name: the recording's name without its last extension + this suffix.
    pub suffix: String,
    /// Recordings to take: a file-name pattern with `*` and `?` (default `*`).
    pub glob: String,
    /// Folder of the outputs (`None`: each recording's folder).
    pub out_dir: Option<PathBuf>,
    /// Plan recordings whose output already exists too.
    pub all: bool,
    /// The executable the commands call.
    pub exe: String,
}

impl BatchSelection {
    /// Every recording of `dir`, outputs beside them, existing outputs left out.
    pub fn new(
        dir: impl Into<PathBuf>,
        command: impl Into<String>,
        suffix: impl Into<String>,
        exe: impl Into<String>,
    ) -> Self {
        BatchSelection {
            dir: dir.into(),
            command: command.into(),
            suffix: suffix.into(),
            glob: "*".into(),
            out_dir: None,
            all: false,
            exe: exe.into(),
        }
    }
}

/// One planned command.
#[derive(Debug, Clone, PartialEq)]
pub struct PlannedCommand {
    /// The complete shell line (quoted paths; `{device}` still to fill in).
    pub line: String,
    /// The recording.
    pub input: PathBuf,
    /// Its output.
    pub out: PathBuf,
    /// The recording's name without its extension.
    pub stem: String,
}

/// The commands of a [`BatchSelection`], in file-name order.
#[derive(Debug, Clone, PartialEq)]
pub struct BatchPlan {
    /// One command per recording whose output is missing (or every one, with `all`).
    pub commands: Vec<PlannedCommand>,
    /// Recordings left out because their output exists.
    pub left_out: usize,
}

impl BatchPlan {
    /// The shell lines, to be run elsewhere (a plan file, a Slurm array). `{device}` is filled
    /// in by [`run`] only, so a template that uses it is an error here.
    pub fn shell_lines(&self) -> Result<Vec<String>> {
        if self.commands.iter().any(|c| c.line.contains("{device}")) {
            return Err(DataError::param(
                "command",
                "{device} is filled in by `batch run`; for a plan, write the device in the command",
            ));
        }
        Ok(self.commands.iter().map(|c| c.line.clone()).collect())
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
pub fn shell_quote(s: &str) -> String {
    let plain = !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:+,@%".contains(c));
    if plain {
        s.to_owned()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

fn utf8(p: &Path) -> Result<&str> {
    p.to_str()
        .ok_or_else(|| DataError::param("path", format!("{} is not UTF-8", p.display())))
}

/// Plans one command per recording of `sel.dir` that matches `sel.glob`.
///
/// Errors: a template without `{in}`, an empty suffix or one with `/`, an output that would
/// be the recording itself, no matching file, an unreadable folder, a non-UTF-8 path.
pub fn plan(sel: &BatchSelection) -> Result<BatchPlan> {
    if !sel.command.contains("{in}") {
        return Err(DataError::param(
            "command",
            "must contain {in} (the recording)",
        ));
    }
    if sel.suffix.is_empty() || sel.suffix.contains('/') {
        return Err(DataError::param(
            "suffix",
            "must be a non-empty file-name ending, e.g. .rates.npy",
        ));
    }
    let pattern: Vec<char> = sel.glob.chars().collect();
    let mut inputs = Vec::new();
    for entry in std::fs::read_dir(&sel.dir).map_err(|e| DataError::io(&sel.dir, e))? {
        let path = entry.map_err(|e| DataError::io(&sel.dir, e))?.path();
        let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        if path.is_file() && glob_match(&pattern, &name.chars().collect::<Vec<_>>()) {
            inputs.push(path);
        }
    }
    if inputs.is_empty() {
        return Err(DataError::param(
            "glob",
            format!("no file in {} matches {:?}", sel.dir.display(), sel.glob),
        ));
    }
    inputs.sort();
    let mut commands = Vec::new();
    let mut left_out = 0;
    for input in inputs {
        let stem = input
            .file_stem()
            .and_then(|s| s.to_str())
            .ok_or_else(|| {
                DataError::param(
                    "path",
                    format!("{} has no UTF-8 file name", input.display()),
                )
            })?
            .to_owned();
        let dir = sel
            .out_dir
            .clone()
            .or_else(|| input.parent().map(Path::to_path_buf))
            .unwrap_or_default();
        let out = dir.join(format!("{stem}{}", sel.suffix));
        if out == input {
            return Err(DataError::param(
                "suffix",
                format!(
                    "{}: its output would be the recording itself; choose another suffix",
                    input.display()
                ),
            ));
        }
        if out.exists() && !sel.all {
            left_out += 1;
            continue;
        }
        let cmd = sel
            .command
            .replace("{in}", &shell_quote(utf8(&input)?))
            .replace("{out}", &shell_quote(utf8(&out)?))
            .replace("{stem}", &shell_quote(&stem));
        commands.push(PlannedCommand {
            line: format!("{} {cmd}", shell_quote(&sel.exe)),
            input,
            out,
            stem,
        });
    }
    Ok(BatchPlan { commands, left_out })
}

/// A Slurm job-array script that runs line `$SLURM_ARRAY_TASK_ID` of the plan file
/// `commands` (which holds `n` lines).
pub fn slurm_script(commands: &Path, n: usize) -> Result<String> {
    let file = std::fs::canonicalize(commands).map_err(|e| DataError::io(commands, e))?;
    let file = shell_quote(utf8(&file)?);
    Ok(format!(
        "#!/bin/bash\n#SBATCH --job-name=spikelab\n#SBATCH --array=1-{n}\n#SBATCH --cpus-per-task=2\n\
         # Runs line $SLURM_ARRAY_TASK_ID of the plan; add your partition, time and\n\
         # memory lines above. Submit with: sbatch THIS_FILE\nset -euo pipefail\n\
         line=$(sed -n \"${{SLURM_ARRAY_TASK_ID}}p\" {file})\nexec bash -c \"$line\"\n"
    ))
}

/// One command that [`run`] finished.
#[derive(Debug, Clone, PartialEq)]
pub struct CommandDone {
    /// The recording's name without its extension.
    pub stem: String,
    /// The worker's device.
    pub device: Device,
    /// Wall time of the command, seconds.
    pub seconds: f64,
    /// Its output, kept in the output's name + `.log`.
    pub log: PathBuf,
}

/// `{device}` and `CUDA_VISIBLE_DEVICES` for a worker's processes on `device`: a GPU worker's
/// process sees its GPU only, as `cuda:0`.
fn device_env(device: Device) -> (String, Option<String>) {
    match device {
        Device::Cuda(i) => ("cuda:0".into(), Some(i.to_string())),
        other => (other.to_string(), None),
    }
}

/// Runs every planned command here (`sh -c`), on a pool of one worker per entry of
/// `devices` ([`run_on_devices`]): a worker on `cuda:i` runs its commands with
/// `CUDA_VISIBLE_DEVICES=i` and `{device}` = `cuda:0`, elsewhere `{device}` is the device's
/// name. Each command's output is written to its output's name + `.log` (replaced by a
/// rerun). One `Result` per command, in plan order; a command that exits with an error is
/// [`DataError::CommandFailed`]. The observer sees one `"job"` report per finished command.
pub fn run(
    plan: &BatchPlan,
    devices: &[Device],
    observer: &mut impl Observer,
) -> Result<Vec<Result<CommandDone>>> {
    Ok(run_on_devices(
        devices,
        plan.commands.iter().collect(),
        |device, _, job: &PlannedCommand| -> Result<CommandDone> {
            let (name, visible) = device_env(device);
            let line = job.line.replace("{device}", &shell_quote(&name));
            let mut log = job.out.clone().into_os_string();
            log.push(".log");
            let log = PathBuf::from(log);
            let t0 = std::time::Instant::now();
            let mut cmd = std::process::Command::new("sh");
            cmd.arg("-c").arg(&line);
            if let Some(v) = visible {
                cmd.env("CUDA_VISIBLE_DEVICES", v);
            }
            let out = cmd.output().map_err(|e| DataError::io(&job.input, e))?;
            let mut text = format!("$ {line}\n# device {device}\n");
            text.push_str(&String::from_utf8_lossy(&out.stdout));
            text.push_str(&String::from_utf8_lossy(&out.stderr));
            crate::io::write_bytes_atomic(&log, text.as_bytes(), true)?;
            if !out.status.success() {
                return Err(DataError::CommandFailed {
                    stem: job.stem.clone(),
                    device: device.to_string(),
                    status: out.status.to_string(),
                    log,
                });
            }
            Ok(CommandDone {
                stem: job.stem.clone(),
                device,
                seconds: t0.elapsed().as_secs_f64(),
                log,
            })
        },
        observer,
    )?)
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
        assert_eq!(shell_quote("/data/a.npy"), "/data/a.npy");
        assert_eq!(shell_quote("my file's.npy"), r"'my file'\''s.npy'");
        assert_eq!(shell_quote(""), "''");
    }

    #[test]
    fn device_env_isolates_each_gpu() {
        assert_eq!(
            device_env(Device::Cuda(3)),
            ("cuda:0".into(), Some("3".into()))
        );
        assert_eq!(device_env(Device::Cpu), ("cpu".into(), None));
    }
}
