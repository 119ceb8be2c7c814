//! `spikelab`: the command-line front end of the spikelab workspace.

mod commands;
mod plots;
mod report;

use clap::{Parser, Subcommand};

/// Fast, exact methods for neural recordings.
#[derive(Parser, Debug)]
#[command(name = "spikelab", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Print what a file holds (type, shape, units, rates, duration).
    Inspect(commands::data::InspectArgs),
    /// Convert between formats (CSV, NPY, MAT, Kilosort → NPY, NWB, CSV).
    Convert(commands::data::ConvertArgs),
    /// Fill session and subject metadata (TOML) into a copy of an NWB file, DANDI-ready.
    Annotate(commands::nwb_out::AnnotateArgs),
    /// Run every method on the bundled data and write an HTML report with figures.
    Demo(commands::demo::DemoArgs),
    /// Calcium imaging → spike rates (Spikefinder-Elephant CNN) and the statistical embedding.
    #[command(subcommand)]
    Calcium(CalciumCli),
    /// Unsupervised spike-sequence detection (convSeq).
    #[command(subcommand)]
    Convseq(commands::convseq::ConvseqCommand),
    /// Scaling sweeps of every method (JSON, markdown tables, log-log plots).
    Bench(commands::bench::BenchArgs),
    /// Synthetic data with ground truth (sequences, calcium, LIF populations, Poisson).
    #[command(subcommand)]
    Synth(commands::synth::SynthCommand),
    /// Hidden mesoscopic LIF populations from recorded neurons (neuLVM): fit, simulate.
    #[command(subcommand)]
    Neulvm(commands::neulvm::NeulvmCommand),
    /// Linear dynamical systems: Kalman EM fits and mixtures of LDS (MoLDS Tensor-EM).
    #[command(subcommand)]
    Lds(commands::lds::LdsCommand),
    /// Decoding behaviour: linear decoders and the BrainBits bottleneck audit.
    #[command(subcommand)]
    Decode(commands::decode::DecodeCommand),
    /// Spike sorting of raw recordings, and scoring against ground truth.
    #[command(subcommand)]
    Sort(commands::sort::SortCommand),
    /// Many recordings: one command per recording for a Slurm array, HyperQueue or xargs.
    #[command(subcommand)]
    Batch(commands::batch::BatchCommand),
}

#[derive(Subcommand, Debug)]
enum CalciumCli {
    #[command(flatten)]
    Cnn(commands::calcium::CalciumCommand),
    /// Statistical embedding of a recording: features, location, training-dataset weights.
    Embed(commands::calcium_embed::EmbedArgs),
}

fn main() -> std::process::ExitCode {
    default_sigpipe();
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// Lets a closed stdout (`spikelab … | head`) end the process quietly, as it does other Unix
/// tools, instead of `println!` panicking with "failed printing to stdout: Broken pipe": the
/// Rust runtime ignores SIGPIPE, so writes to a closed pipe fail with EPIPE; the default action
/// terminates the process instead. Output files are written under a temporary name and then
/// renamed, so a run ended this way leaves no half-written file under the final name.
fn default_sigpipe() {
    #[cfg(unix)]
    // SAFETY: called first thing in `main`, before any thread exists; SIG_DFL is a valid
    // disposition for SIGPIPE.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Inspect(a) => commands::data::inspect(a),
        Command::Convert(a) => commands::data::convert(a),
        Command::Annotate(a) => commands::nwb_out::annotate(a),
        Command::Demo(a) => commands::demo::run(a),
        Command::Calcium(CalciumCli::Cnn(c)) => commands::calcium::run(c),
        Command::Calcium(CalciumCli::Embed(a)) => commands::calcium_embed::run(a),
        Command::Convseq(c) => commands::convseq::run(c),
        Command::Bench(a) => commands::bench::run(a),
        Command::Synth(c) => commands::synth::run(c),
        Command::Neulvm(c) => commands::neulvm::run(c),
        Command::Lds(c) => commands::lds::run(c),
        Command::Decode(c) => commands::decode::run(c),
        Command::Sort(c) => commands::sort::run(c),
        Command::Batch(c) => commands::batch::run(c),
    }
}
