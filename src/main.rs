//! `spikelab`: the command-line front end of the spikelab workspace.

mod commands;

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
    // @@COMMANDS@@ (method crates add their subcommands above this line)
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Inspect(a) => commands::data::inspect(a),
        Command::Convert(a) => commands::data::convert(a),
        // @@DISPATCH@@
    }
}
