//! The paper's workflow (Fig. 4) on the bundled regenerated data: data-driven initial Z, EM fit
//! (restarts from the seeded prior, or the golden file's x_rand), recovery measures against the
//! ground truth, a free simulation of the fitted model, and a PNG with the initial, inferred
//! and true population activity and the simulation.
//!
//! ```text
//! cargo run -p spikelab-neulvm --release --example winner_take_all -- \
//!     [--init prior|x_rand] [--restarts 5] [--sim-seconds 100] [--out neulvm_wta.png]
//! ```

use std::time::Instant;

use anyhow::Result;
use ndarray::Array2;
use plotters::prelude::*;
use spikelab_core::{Flow, Progress};
use spikelab_neulvm::fit;
use spikelab_neulvm::recovery::latent_correlation;
use spikelab_neulvm::{
    Bounds, FitOptions, LambdaFallback, ModelConfig, Params, SimOptions, simulate,
};

fn arg(name: &str) -> Option<String> {
    let a: Vec<String> = std::env::args().collect();
    a.iter()
        .position(|x| x == name)
        .and_then(|i| a.get(i + 1).cloned())
}

fn smooth(x: &[f64], w: usize) -> Vec<f64> {
    (0..x.len())
        .map(|i| {
            let lo = i.saturating_sub(w / 2);
            let hi = (i + w / 2 + 1).min(x.len());
            x[lo..hi].iter().sum::<f64>() / (hi - lo) as f64
        })
        .collect()
}

fn main() -> Result<()> {
    let init = arg("--init").unwrap_or_else(|| "prior".into());
    let restarts: usize = arg("--restarts")
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(5);
    let sim_s: f64 = arg("--sim-seconds")
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(100.0);
    let out = arg("--out").unwrap_or_else(|| "neulvm_wta.png".into());

    let cfg = ModelConfig::winner_take_all();
    let dt = cfg.dt_s;
    let model = spikelab_datasets::neulvm::model()?;
    let zgt = spikelab_datasets::neulvm::latent_truth()?;
    let gt = Params::winner_take_all_ground_truth();
    let mut opts = FitOptions::new(Bounds::relative_to(&gt, 0.4, 2.0)?);
    opts.restarts = restarts;
    let inits = if init == "x_rand" {
        vec![spikelab_datasets::neulvm::golden_x_rand()?]
    } else {
        opts.draw_prior(restarts)
    };
    let z0 = model.initial_latent(opts.init_sigma_s)?;
    let t0 = Instant::now();
    let res = fit::fit_from(&model, &inits, &opts, &mut |p: &Progress<'_>| {
        let m = |k: &str| p.metric(k).unwrap_or(f64::NAN);
        match p.stage {
            "m_step" => eprintln!(
                "restart {} EM {}: M-step {} L-BFGS iterations, loss {:.5}",
                m("restart"),
                p.step,
                m("lbfgs_iters"),
                m("loss")
            ),
            "restart" => eprintln!("restart {} done, loss {:.5}", p.step, m("loss")),
            _ => {}
        }
        Flow::Continue
    })?;
    let fit_s = t0.elapsed().as_secs_f64();
    let best = res.best();
    let p = &best.state.params;
    println!(
        "fit: {} restart(s) in {fit_s:.1} s; chosen restart {} ",
        res.restarts.len(),
        res.best
    );
    for (i, r) in res.restarts.iter().enumerate() {
        println!(
            "  restart {i}: {} EM iterations, final M-step loss {:.5}",
            r.state.iterations.len(),
            r.loss
        );
    }
    let l = model.loss_with(p, best.state.z.view(), LambdaFallback::MStep)?;
    println!(
        "loss L_y + L_Z = {:.5} (L_y {:.5}, L_Z {:.5})",
        l.total(),
        l.loss_y,
        l.loss_z
    );
    let names = [
        "a_mem E1", "a_mem E2", "a_mem I", "J_E1", "J_E2", "J_I", "mu E1", "mu E2", "mu I",
        "theta E1", "theta E2", "theta I",
    ];
    for ((n, x), g) in names.iter().zip(p.to_vec()).zip(gt.to_vec()) {
        println!(
            "  {n:9} {x:9.4} (truth {g:8.4}, error {:+6.1} %)",
            100.0 * (x - g) / g
        );
    }
    let a = cfg.history_bins;
    let nb = zgt.dim().1;
    let row = |z: &Array2<f64>, q: usize| -> Vec<f64> { (a..nb).map(|i| z[[q, i]]).collect() };
    let r_fit = latent_correlation(best.state.z.view(), zgt.view(), a)?;
    let r_init = latent_correlation(z0.view(), zgt.view(), a)?;
    for (q, name) in ["E1", "E2", "I"].iter().enumerate() {
        println!(
            "  r(Z) {name}: inferred {:.3}, initial {:.3}",
            r_fit[q], r_init[q]
        );
    }
    let sim_bins = (sim_s / dt).round() as usize;
    let t1 = Instant::now();
    let sim = simulate::simulate(&cfg, p, &SimOptions::new(sim_bins.max(1), 7))?;
    println!(
        "free simulation of {sim_s} s in {:.2} s",
        t1.elapsed().as_secs_f64()
    );

    // Plot: rows = initial / inferred / truth overlay per population, and the simulation.
    spikelab_core::register_plot_font();
    let root = BitMapBackend::new(&out, (1400, 1000)).into_drawing_area();
    root.fill(&WHITE)?;
    let panels = root.split_evenly((4, 1));
    let colors = [RED, BLUE, GREEN];
    let t_axis: Vec<f64> = (a..nb).map(|i| (i - a) as f64 * dt).collect();
    let series = [
        ("initial Z (data-driven)", &z0),
        ("inferred Z (EM)", &best.state.z),
        ("true Z", &zgt),
    ];
    for (panel, (title, z)) in panels.iter().take(3).zip(series.iter()) {
        let mut ch = ChartBuilder::on(panel)
            .caption(
                format!("{title}: activity (Hz, 80-ms average)"),
                ("sans-serif", 18),
            )
            .margin(8)
            .x_label_area_size(25)
            .y_label_area_size(45)
            .build_cartesian_2d(0.0..t_axis.last().copied().unwrap_or(1.0), 0.0..60.0)?;
        ch.configure_mesh().x_desc("time (s)").draw()?;
        for q in 0..3 {
            let hz: Vec<f64> = smooth(&row(z, q), 20).iter().map(|v| v / dt).collect();
            ch.draw_series(LineSeries::new(t_axis.iter().copied().zip(hz), colors[q]))?
                .label(["E1", "E2", "I"][q])
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 15, y)], colors[q]));
        }
        ch.configure_series_labels()
            .background_style(WHITE.mix(0.8))
            .draw()?;
    }
    let sim_t: Vec<f64> = (0..sim_bins).map(|i| i as f64 * dt).collect();
    let mut ch = ChartBuilder::on(&panels[3])
        .caption(
            "free simulation of the fitted model: expected count n̄ = Z̄·N (80-ms average)",
            ("sans-serif", 18),
        )
        .margin(8)
        .x_label_area_size(25)
        .y_label_area_size(45)
        .build_cartesian_2d(0.0..sim_s, 0.0..50.0)?;
    ch.configure_mesh().x_desc("time (s)").draw()?;
    for (q, color) in colors.iter().enumerate() {
        let n: Vec<f64> = (a..a + sim_bins)
            .map(|i| sim.z_mean[[q, i]] * cfg.n_neurons[q] as f64)
            .collect();
        ch.draw_series(LineSeries::new(
            sim_t.iter().copied().zip(smooth(&n, 20)),
            *color,
        ))?;
    }
    root.present()?;
    println!("wrote {out}");
    Ok(())
}
