//! The `spikelab convseq` subcommand (`src/commands/convseq.rs` at the repository root)
//! as a standalone example, so it is compiled and usable before the lead wires it into
//! the `spikelab` binary:
//!
//! ```text
//! cargo run --release -p spikelab-convseq --example convseq_cli -- detect \
//!     datasets/convseq/ca1_rubin/neuronal_activity_mat.mat --out events.csv \
//!     --json fit.json --plot fig.png
//! ```
#[path = "../../../src/commands/convseq.rs"]
mod convseq;

use clap::Parser;

#[derive(clap::Parser)]
#[command(name = "convseq")]
struct Cli {
    #[command(subcommand)]
    cmd: convseq::ConvseqCommand,
}

fn main() -> anyhow::Result<()> {
    convseq::run(Cli::parse().cmd)
}
