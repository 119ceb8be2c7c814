//! Any network from a model file: simulate the 2-population model of
//! `models/two_populations.toml` (or the file given), fit it back by EM from the simulated
//! recorded neurons, and print the recovery (Pearson r of the inferred with the simulated Z,
//! fitted vs simulated parameters).
//!
//! ```text
//! cargo run -p spikelab-neulvm --release --example two_populations -- \
//!     [--model models/two_populations.toml] [--seconds 10] [--seed 3] [--recorded 5] [--restarts 2]
//! ```

use anyhow::{Context, Result};
use spikelab_core::{Flow, Progress};
use spikelab_neulvm::fit;
use spikelab_neulvm::recovery::latent_correlation;
use spikelab_neulvm::{FitOptions, ModelSpec, NeuLvm, Recording, SimOptions, simulate};

fn arg<T: std::str::FromStr>(name: &str, default: T) -> Result<T>
where
    T::Err: std::error::Error + Send + Sync + 'static,
{
    let a: Vec<String> = std::env::args().collect();
    match a.iter().position(|x| x == name).and_then(|i| a.get(i + 1)) {
        Some(v) => Ok(v.parse()?),
        None => Ok(default),
    }
}

fn main() -> Result<()> {
    let path: String = arg(
        "--model",
        concat!(env!("CARGO_MANIFEST_DIR"), "/models/two_populations.toml").to_string(),
    )?;
    let seconds: f64 = arg("--seconds", 10.0)?;
    let seed: u64 = arg("--seed", 3)?;
    let recorded: usize = arg("--recorded", 5)?;
    let restarts: usize = arg("--restarts", 2)?;
    let text = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
    let spec: ModelSpec = toml::from_str(&text).with_context(|| format!("parsing {path}"))?;
    spec.validate()?;
    let cfg = &spec.model;
    let truth = spec
        .params
        .clone()
        .context("the model file has no [params] to simulate")?;
    let mut so = SimOptions::new((seconds / cfg.dt_s).round() as usize, seed);
    so.n_recorded = recorded;
    let sim = simulate::simulate(cfg, &truth, &so)?;
    let a = cfg.history_bins;
    let per = (0.5 / cfg.dt_s) as usize;
    println!("simulated mean rate (Hz) per 0.5 s, population by population:");
    for p in 0..cfg.n_populations() {
        let row: Vec<String> = (a..sim.z.dim().1)
            .step_by(per)
            .map(|b| {
                let e = (b + per).min(sim.z.dim().1);
                let m = (b..e).map(|i| sim.z[[p, i]]).sum::<f64>() / (e - b) as f64;
                format!("{:.0}", m / cfg.dt_s)
            })
            .collect();
        println!("  {p}: {}", row.join(" "));
    }
    let model = NeuLvm::new(cfg.clone(), Recording::new(sim.spikes.clone())?)?;
    let mut opts = FitOptions::new(spec.bounds()?);
    opts.restarts = restarts;
    opts.seed = seed;
    let t0 = std::time::Instant::now();
    let res = fit::fit(&model, &opts, &mut |p: &Progress<'_>| {
        if p.stage == "m_step" {
            let m = |k: &str| p.metric(k).unwrap_or(f64::NAN);
            eprintln!(
                "restart {} EM {}: {} L-BFGS iterations, loss {:.5}",
                m("restart"),
                p.step,
                m("lbfgs_iters"),
                m("loss")
            );
        }
        Flow::Continue
    })?;
    let best = res.best();
    let z0 = model.initial_latent(opts.init_sigma_s)?;
    let r_fit = latent_correlation(best.state.z.view(), sim.z.view(), a)?;
    let r_init = latent_correlation(z0.view(), sim.z.view(), a)?;
    println!(
        "fit {:.1} s, best loss {:.5}",
        t0.elapsed().as_secs_f64(),
        best.loss
    );
    println!("r(Z) inferred {r_fit:.3?}, data-driven initial {r_init:.3?}");
    println!("fitted    {:.3?}", best.state.params.to_vec());
    println!("simulated {:.3?}", truth.to_vec());
    Ok(())
}
