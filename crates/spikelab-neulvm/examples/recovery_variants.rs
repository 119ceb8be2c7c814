//! Recovery of the latent activity Z under different E-step / EM options (issue #7): runs one
//! named variant of [`FitOptions`] from the golden file's x_rand (or from the seeded prior)
//! and prints one line per EM iteration and a Markdown table row (options, EM iterations,
//! Adam steps, final loss, r(Z) E1/E2/I over bins 250..2749, wall time). Z_gt is used only to
//! evaluate, never inside the fit. `--ceiling` prints r(Z_gt smoothed, Z_gt), an upper
//! reference for what a smooth estimate can reach.
//!
//! ```text
//! cargo run -p spikelab-neulvm --release --example recovery_variants -- --list
//! cargo run -p spikelab-neulvm --release --example recovery_variants -- \
//!     --variant total [--init x_rand|prior] [--restarts 5] [--threads 1]
//! ```

use std::time::Instant;

use anyhow::{Context, Result, bail};
use ndarray::{Array2, Ix2};
use spikelab_core::{Flow, Progress, Silent};
use spikelab_data::io::npy;
use spikelab_datasets as datasets;
use spikelab_neulvm::fit::{self, EStepRule, EmStopRule};
use spikelab_neulvm::{Bounds, FitOptions, LambdaFallback, ModelConfig, Params};

fn arg(name: &str) -> Option<String> {
    let a: Vec<String> = std::env::args().collect();
    a.iter()
        .position(|x| x == name)
        .and_then(|i| a.get(i + 1).cloned())
}

fn r_all(z: &Array2<f64>, zgt: &Array2<f64>, a: usize) -> [f64; 3] {
    let r = spikelab_neulvm::recovery::latent_correlation(z.view(), zgt.view(), a)
        .expect("latent and truth of the bundled data");
    [r[0], r[1], r[2]]
}

/// Gaussian smoothing (σ in bins, truncated at 4σ, renormalised at the edges).
fn gauss(x: &[f64], s: f64) -> Vec<f64> {
    let k = (4.0 * s).ceil() as isize;
    (0..x.len() as isize)
        .map(|i| {
            let (mut num, mut den) = (0.0, 0.0);
            for j in (i - k)..=(i + k) {
                if j >= 0 && (j as usize) < x.len() {
                    let w = (-0.5 * ((j - i) as f64 / s).powi(2)).exp();
                    num += w * x[j as usize];
                    den += w;
                }
            }
            num / den
        })
        .collect()
}

/// (name, description, options) of every variant.
fn variant(name: &str, base: &FitOptions) -> Result<(String, FitOptions)> {
    let mut o = base.clone();
    let total = |o: &mut FitOptions| {
        o.e_rule = EStepRule::TotalLoss { rel_tol: 0.0 };
        o.em_rule = EmStopRule::RelativeLoss { rel_tol: 1e-4 };
        o.max_em_iters = 8;
    };
    let d = match name {
        "original" => "original rules (E: both terms at all-time min; EM: M and E improved)",
        "total" => {
            total(&mut o);
            "E: total-loss rule, patience 3, ≤200 steps; EM: rel. tol 1e-4, ≤8 iters"
        }
        "total-reset" => {
            total(&mut o);
            o.e_reset_adam = true;
            "total + Adam reset per E-step"
        }
        "total-500" => {
            total(&mut o);
            o.e_max_iters = 500;
            o.e_patience = 10;
            "total, ≤500 Adam steps, patience 10"
        }
        "total-lr3" => {
            total(&mut o);
            o.e_lr = 3e-3;
            "total, Adam lr 3e-3"
        }
        "total-lr1e-2" => {
            total(&mut o);
            o.e_lr = 1e-2;
            o.e_reset_adam = true;
            "total, Adam lr 1e-2, reset"
        }
        "total-smooth1" => {
            total(&mut o);
            o.z_smoothness = 1.0;
            "total + smoothness prior λ=1"
        }
        "total-smooth10" => {
            total(&mut o);
            o.z_smoothness = 10.0;
            "total + smoothness prior λ=10"
        }
        "total-smooth100" => {
            total(&mut o);
            o.z_smoothness = 100.0;
            "total + smoothness prior λ=100"
        }
        "total-em20" => {
            total(&mut o);
            o.em_rule = EmStopRule::RelativeLoss { rel_tol: 1e-6 };
            o.max_em_iters = 20;
            "total, EM rel. tol 1e-6, ≤20 iters"
        }
        "original-2000" => {
            o.e_max_iters = 2000;
            o.e_patience = 20;
            "original rules, ≤2000 steps, patience 20"
        }
        _ => bail!("unknown variant {name}"),
    };
    Ok((d.to_string(), o))
}

const VARIANTS: [&str; 11] = [
    "original",
    "total",
    "total-reset",
    "total-500",
    "total-lr3",
    "total-lr1e-2",
    "total-smooth1",
    "total-smooth10",
    "total-smooth100",
    "total-em20",
    "original-2000",
];

fn main() -> Result<()> {
    let cfg = ModelConfig::winner_take_all();
    let a = cfg.history_bins;
    let zgt = npy::read_typed::<f64, Ix2>(&datasets::neulvm("Z_gt_4ms.npy")?)?;
    if std::env::args().any(|x| x == "--list") {
        for v in VARIANTS {
            println!("{v}");
        }
        return Ok(());
    }
    if std::env::args().any(|x| x == "--ceiling") {
        println!("| σ of the Gaussian smoothing of Z_gt (bins) | r E1 | r E2 | r I |");
        println!("| --- | --- | --- | --- |");
        for s in [2.0, 3.0, 5.0, 8.0, 12.0, 20.0, 40.0] {
            let mut zs = zgt.clone();
            for q in 0..3 {
                let row: Vec<f64> = zgt.row(q).to_vec();
                for (i, v) in gauss(&row, s).into_iter().enumerate() {
                    zs[[q, i]] = v;
                }
            }
            let r = r_all(&zs, &zgt, a);
            println!("| {s} | {:.3} | {:.3} | {:.3} |", r[0], r[1], r[2]);
        }
        return Ok(());
    }
    let name = arg("--variant").unwrap_or_else(|| "original".into());
    let init = arg("--init").unwrap_or_else(|| "x_rand".into());
    let restarts: usize = arg("--restarts")
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(5);
    let threads: usize = arg("--threads")
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(1);
    let model = spikelab_datasets::neulvm::model()?;
    let gt = Params::winner_take_all_ground_truth();
    let mut base = FitOptions::new(Bounds::relative_to(&gt, 0.4, 2.0)?);
    base.threads = threads;
    base.restarts = restarts;
    let (desc, opts) = variant(&name, &base)?;
    let inits = if init == "x_rand" {
        vec![spikelab_datasets::neulvm::golden_x_rand()?]
    } else {
        opts.draw_prior(restarts)
    };
    if let Some(n) = arg("--trace") {
        // r(Z) along one long E-step after the first M-step: the variant's Adam settings and
        // smoothness prior, total-loss rule, no early stop; r printed every 25 steps.
        let n: usize = n.parse()?;
        let t0 = Instant::now();
        let mut st = fit::new_state(&model, 0, &inits[0], &opts)?;
        // `--at-gt`: the true parameters instead of the first M-step (a reference only).
        let ms = if std::env::args().any(|x| x == "--at-gt") {
            let loss = model.loss(&gt, st.z.view())?.total();
            fit::MStepResult {
                params: gt.clone(),
                loss,
                iters: 0,
            }
        } else {
            fit::m_step(&model, &st.z, &inits[0], &opts)?
        };
        println!("[{name} trace] M-step {} it, loss {:.5}", ms.iters, ms.loss);
        let mut o = opts.clone();
        o.e_rule = EStepRule::TotalLoss { rel_tol: 0.0 };
        o.e_patience = usize::MAX;
        o.e_max_iters = 25;
        let mut done = 0;
        while done < n {
            let (k, _) = fit::e_step(&model, &ms.params, &mut st, &o, 0, &mut Silent)?;
            done += k;
            let l = model.loss_with(&ms.params, st.z.view(), LambdaFallback::EStep)?;
            let r = r_all(&st.z, &zgt, a);
            println!(
                "[{name} trace] {:6.1} s step {done}: loss {:.5} (L_y {:.5}, L_Z {:.5}); r(Z) {:.3} / {:.3} / {:.3}",
                t0.elapsed().as_secs_f64(),
                l.total(),
                l.loss_y,
                l.loss_z,
                r[0],
                r[1],
                r[2]
            );
            o.e_reset_adam = false;
        }
        return Ok(());
    }
    let t0 = Instant::now();
    let mut cb = |p: &Progress<'_>| {
        if p.stage == "m_step" {
            let m = |k: &str| p.metric(k).unwrap_or(f64::NAN);
            eprintln!(
                "[{name}] {:7.1} s restart {} EM {}: M-step {} it, loss {:.5}",
                t0.elapsed().as_secs_f64(),
                m("restart"),
                p.step,
                m("lbfgs_iters"),
                m("loss")
            );
        }
        Flow::Continue
    };
    let res = if inits.len() == 1 {
        // One restart: run EM one iteration at a time (same path as one run_em call) to
        // print r(Z) after every iteration.
        let mut st = fit::new_state(&model, 0, &inits[0], &opts)?;
        for k in 1..=opts.max_em_iters {
            let mut o = opts.clone();
            o.max_em_iters = k;
            st.done = false;
            fit::run_em(&model, &mut st, &o, &mut cb)?;
            let it = st.iterations.last().context("one iteration")?;
            let r = r_all(&st.z, &zgt, a);
            println!(
                "[{name}] {:7.1} s EM {}: M {} it loss {:.5}; E {} steps, loss {:.5}; r(Z) {:.3} / {:.3} / {:.3}",
                t0.elapsed().as_secs_f64(),
                k - 1,
                it.m_iters,
                it.m_loss,
                it.e_steps,
                it.e_loss,
                r[0],
                r[1],
                r[2]
            );
            if it.stop {
                break;
            }
        }
        st.done = true;
        let loss = st
            .iterations
            .last()
            .map(|i| i.m_loss)
            .unwrap_or(f64::INFINITY);
        fit::FitResult {
            config: model.config().clone(),
            restarts: vec![fit::RestartResult {
                init: inits[0].clone(),
                state: st,
                loss,
            }],
            best: 0,
        }
    } else {
        fit::fit_from(&model, &inits, &opts, &mut cb)?
    };
    let wall = t0.elapsed().as_secs_f64();
    for (i, rr) in res.restarts.iter().enumerate() {
        let r = r_all(&rr.state.z, &zgt, a);
        let l = model.loss_with(&rr.state.params, rr.state.z.view(), LambdaFallback::MStep)?;
        for (k, it) in rr.state.iterations.iter().enumerate() {
            println!(
                "[{name}] restart {i} EM {k}: M {} it loss {:.5}; E {} steps (saved {}), loss {:.5}",
                it.m_iters, it.m_loss, it.e_steps, it.e_improved, it.e_loss
            );
        }
        println!(
            "[{name}] restart {i}: final loss {:.5} (L_y {:.5}, L_Z {:.5}); r(Z) {:.3} / {:.3} / {:.3}",
            l.total(),
            l.loss_y,
            l.loss_z,
            r[0],
            r[1],
            r[2]
        );
    }
    let best = res.best();
    let r = r_all(&best.state.z, &zgt, a);
    let l = model
        .loss_with(
            &best.state.params,
            best.state.z.view(),
            LambdaFallback::MStep,
        )?
        .total();
    let em = best.state.iterations.len();
    let steps: usize = best.state.iterations.iter().map(|i| i.e_steps).sum();
    let msteps: u64 = best.state.iterations.iter().map(|i| i.m_iters).sum();
    println!(
        "| {name} ({init}, {} restart(s)) | {desc} | {em} | {msteps} | {steps} | {:.5} | {l:.5} | {:.3} / {:.3} / {:.3} | {wall:.0} s |",
        inits.len(),
        best.loss,
        r[0],
        r[1],
        r[2]
    );
    Ok(())
}
