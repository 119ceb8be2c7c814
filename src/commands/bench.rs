//! `spikelab bench`: scaling sweeps outside criterion (crate `spikelab-bench`, module
//! `workloads`), written as JSON, markdown and plots.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use indicatif::{ProgressBar, ProgressStyle};
use spikelab_bench::workloads::{Suite, SweepOptions};
use spikelab_bench::{Device, Report, plot::scaling_plot};
use spikelab_core::{Flow, Progress};

/// Arguments of `spikelab bench`.
#[derive(clap::Args, Debug)]
pub struct BenchArgs {
    /// Which sweeps: `scaling` (every method), or one of `convseq`, `calcium`, `neulvm`,
    /// `synth`, `io`.
    #[arg(long, default_value = "scaling")]
    pub suite: String,
    /// `cpu`, `cuda` or `cuda:N` (CUDA needs a build with `--features cuda`).
    #[arg(long, default_value = "cpu")]
    pub device: String,
    /// Output folder for `<suite>-<device>.json`, `.md` and the PNG plots.
    #[arg(long, default_value = "docs/benchmarks")]
    pub out: PathBuf,
    /// Smaller sweeps (a smoke test that takes seconds).
    #[arg(long)]
    pub quick: bool,
    /// Replace existing result files.
    #[arg(long)]
    pub force: bool,
}

/// `spikelab bench`.
pub fn run(a: BenchArgs) -> Result<()> {
    let device: Device = a.device.parse()?;
    if !device.is_cpu() {
        spikelab_bench::candle(device)?;
    }
    let suites: Vec<Suite> = match a.suite.as_str() {
        "scaling" | "all" => Suite::ALL.to_vec(),
        s => match s.parse() {
            Ok(s) => vec![s],
            Err(e) => bail!("{e} (or scaling for all)"),
        },
    };
    std::fs::create_dir_all(&a.out).with_context(|| format!("creating {}", a.out.display()))?;
    let label = device.to_string().replace(':', "");
    let stem = format!("{}-{label}", a.suite);
    let json = a.out.join(format!("{stem}.json"));
    let md = a.out.join(format!("{stem}.md"));
    for p in [&json, &md] {
        if p.exists() && !a.force {
            bail!(
                "{} exists; pass --force to replace it or choose another --out",
                p.display()
            );
        }
    }
    let mut report = Report::new(&format!("spikelab scaling ({}, {device})", a.suite));
    report.notes.push(format!(
        "command: spikelab bench --suite {} --device {}{}",
        a.suite,
        a.device,
        if a.quick { " --quick" } else { "" }
    ));
    let opts = SweepOptions { quick: a.quick };
    let mut plots = Vec::new();
    for s in suites {
        let bar = ProgressBar::new(0);
        bar.set_style(
            ProgressStyle::with_template("{bar:40} {pos}/{len} {msg} [{elapsed_precise}]")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        bar.set_message(s.name());
        let mut observer = |p: &Progress<'_>| {
            bar.set_length(p.total.unwrap_or(0) as u64);
            bar.set_position(p.step as u64 + 1);
            Flow::Continue
        };
        plots.extend(s.run(device, &opts, &mut report, &mut observer)?);
        bar.finish_and_clear();
    }
    report.write_json(&json, a.force)?;
    std::fs::write(&md, report.to_markdown())
        .with_context(|| format!("writing {}", md.display()))?;
    for p in plots {
        let png = a.out.join(format!("{}-{label}.png", p.name));
        let refs: Vec<&str> = p.series.iter().map(String::as_str).collect();
        scaling_plot(&report, &refs, &p.x_label, &png, (900, 600), a.force)?;
        println!("plot → {}", png.display());
    }
    println!("{}", report.to_markdown());
    println!("results → {} and {}", json.display(), md.display());
    Ok(())
}
