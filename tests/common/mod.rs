//! Helpers shared by the CLI integration tests.

use std::path::Path;
use std::process::{Command, Output};

/// Runs the built `spikelab` binary with `args` in `dir` and returns its output.
pub fn spikelab(args: &[&str], dir: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_spikelab"))
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run spikelab")
}
