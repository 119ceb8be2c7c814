//! `spikelab demo`: every method on bundled real data, one command, one report.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use serde_json::{Value, json};

use crate::report::{Section, render};

mod calcium;
mod convseq;
mod data;
mod neulvm;
mod synth;

/// Arguments of `spikelab demo`.
#[derive(clap::Args, Debug)]
pub struct DemoArgs {
    /// Folder for `index.html`, `summary.json` and the figures.
    #[arg(long, default_value = "report")]
    pub out: PathBuf,
    /// Shorter runs (fewer epochs, restarts and datasets) that finish in a few minutes on 2 cores.
    #[arg(long)]
    pub quick: bool,
    /// Replace the files of an existing report in `--out` (otherwise spikelab refuses).
    #[arg(long)]
    pub force: bool,
    /// Seed for every stochastic stage.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Run only these stages (comma-separated: data,synth,convseq,calcium,neulvm).
    #[arg(long, value_delimiter = ',')]
    pub only: Vec<String>,
}

/// What every stage gets.
pub struct Ctx<'a> {
    /// Output folder (exists).
    pub out: &'a Path,
    /// `--quick`.
    pub quick: bool,
    /// `--seed`.
    pub seed: u64,
    /// This stage's progress bar (a spinner; stages may set a length and advance it).
    pub bar: &'a ProgressBar,
}

impl Ctx<'_> {
    /// Path of a figure file in the output folder.
    pub fn fig(&self, name: &str) -> PathBuf {
        self.out.join(name)
    }
}

/// What a stage returns: its report section and its numbers for `summary.json`.
pub struct StageOut {
    /// The HTML section.
    pub section: Section,
    /// Every number the stage printed.
    pub numbers: Value,
}

type StageFn = fn(&Ctx<'_>) -> Result<StageOut>;

fn stages() -> Vec<(&'static str, &'static str, StageFn)> {
    vec![
        (
            "data",
            "Formats: bundled recordings read, converted and read back",
            data::stage,
        ),
        (
            "convseq",
            "Sequences: convSeq on the demo raster and mouse CA1",
            convseq::stage,
        ),
        (
            "calcium",
            "Calcium: Spikefinder-Elephant CNN and statistical embedding",
            calcium::stage,
        ),
        (
            "synth",
            "Synthetic data: each generator and its ground truth",
            synth::stage,
        ),
        (
            "neulvm",
            "Hidden populations: neuLVM fitted to 9 recorded neurons",
            neulvm::stage,
        ),
    ]
}

const REPORT_FILES: [&str; 2] = ["index.html", "summary.json"];

fn prepare_out(out: &Path, force: bool) -> Result<()> {
    if out.exists() {
        let existing: Vec<String> = REPORT_FILES
            .iter()
            .filter(|f| out.join(f).exists())
            .map(|f| f.to_string())
            .collect();
        if !existing.is_empty() && !force {
            bail!(
                "{} already holds a report ({}); pass --force to replace it or choose another --out",
                out.display(),
                existing.join(", ")
            );
        }
    } else {
        std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    }
    Ok(())
}

/// `spikelab demo`.
pub fn run(args: DemoArgs) -> Result<()> {
    let t0 = Instant::now();
    prepare_out(&args.out, args.force)?;
    if args.force {
        // Figures of an earlier run are replaced one by one by this run's; nothing else in the
        // folder is touched.
        for f in REPORT_FILES {
            let p = args.out.join(f);
            if p.exists() {
                std::fs::remove_file(&p).with_context(|| format!("removing {}", p.display()))?;
            }
        }
    }
    let all = stages();
    for o in &args.only {
        if !all.iter().any(|(n, _, _)| n == o) {
            bail!(
                "unknown stage {o:?}; stages are {}",
                all.iter().map(|s| s.0).collect::<Vec<_>>().join(", ")
            );
        }
    }
    let chosen: Vec<_> = all
        .into_iter()
        .filter(|(n, _, _)| args.only.is_empty() || args.only.iter().any(|o| o == n))
        .collect();
    let mp = MultiProgress::new();
    let style = ProgressStyle::with_template(
        "{spinner:.green} [{elapsed_precise}] {prefix:>8} {wide_bar:.cyan/blue} {pos}/{len} {msg}",
    )
    .expect("valid template")
    .progress_chars("=> ");
    let mut sections = Vec::new();
    let mut numbers = serde_json::Map::new();
    let mut failures = Vec::new();
    for (name, title, f) in chosen {
        let bar = mp.add(ProgressBar::new(1));
        bar.set_style(style.clone());
        bar.set_prefix(name);
        bar.set_message(title);
        bar.enable_steady_tick(Duration::from_millis(200));
        let ts = Instant::now();
        let ctx = Ctx {
            out: &args.out,
            quick: args.quick,
            seed: args.seed,
            bar: &bar,
        };
        match f(&ctx) {
            Ok(mut so) => {
                let secs = ts.elapsed().as_secs_f64();
                bar.finish_with_message(format!("{title}: done in {secs:.1} s"));
                so.section.title = format!("{title} ({secs:.1} s)");
                if let Value::Object(m) = &mut so.numbers {
                    m.insert("elapsed_s".into(), json!(secs));
                }
                numbers.insert(name.into(), so.numbers);
                sections.push(so.section);
            }
            Err(e) => {
                bar.abandon_with_message(format!("{title}: FAILED: {e:#}"));
                let mut s = Section::new(&format!("{title}: FAILED"));
                s.text(format!("{e:#}"));
                sections.push(s);
                numbers.insert(name.into(), json!({ "error": format!("{e:#}") }));
                failures.push(name);
            }
        }
    }
    let total = t0.elapsed().as_secs_f64();
    let summary = json!({
        "spikelab_version": env!("CARGO_PKG_VERSION"),
        "seed": args.seed,
        "quick": args.quick,
        "total_time_s": total,
        "stages": Value::Object(numbers),
    });
    let intro = vec![
        format!(
            "spikelab {} ran every method on the data bundled in the repository{} in {:.1} s (seed {}).",
            env!("CARGO_PKG_VERSION"),
            if args.quick { " (--quick)" } else { "" },
            total,
            args.seed
        ),
        "Every number below is also in summary.json beside this file.".into(),
    ];
    let html = render("spikelab demo report", &intro, &sections)?;
    let index = args.out.join("index.html");
    std::fs::write(&index, html).with_context(|| format!("writing {}", index.display()))?;
    let sj = args.out.join("summary.json");
    std::fs::write(&sj, serde_json::to_string_pretty(&summary)?)
        .with_context(|| format!("writing {}", sj.display()))?;
    println!(
        "report: {} (summary: {}), {total:.1} s",
        index.display(),
        sj.display()
    );
    if !failures.is_empty() {
        bail!("stages failed: {}", failures.join(", "));
    }
    Ok(())
}

/// Formats a float with `d` decimals for tables.
pub fn f(v: f64, d: usize) -> String {
    format!("{v:.d$}")
}
