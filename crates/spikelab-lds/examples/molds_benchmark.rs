//! The synthetic MoLDS benchmark of docs/lds.md §9: Tensor-EM vs tensor-only vs random-init EM.
//!
//!     cargo run --release -p spikelab-lds --example molds_benchmark -- [SEEDS=20] [N=600] [T=200] [ITERS=100]
//!
//! Prints one row per seed and per method (median Markov error over components after Hungarian
//! matching, weight error, clustering accuracy, ARI, EM iterations, seconds) and a summary.

use std::time::Instant;

use spikelab_core::Silent;
use spikelab_lds::eval::{
    adjusted_rand_index, clustering_accuracy, match_components, weight_error,
};
use spikelab_lds::{EmOptions, MoldsInit, MoldsOptions, MoldsSpec, fit_molds};

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        0.5 * (v[n / 2 - 1] + v[n / 2])
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .map(|a| a.parse())
        .collect::<Result<_, _>>()?;
    let seeds = args.first().copied().unwrap_or(20);
    let spec = MoldsSpec {
        n_traj: args.get(1).copied().unwrap_or(600),
        t_len: args.get(2).copied().unwrap_or(200),
        ..Default::default()
    };
    let iters = args.get(3).copied().unwrap_or(100);
    let methods = [
        ("tensor-EM", MoldsInit::TensorEm),
        ("tensor-only", MoldsInit::TensorOnly),
        ("random-EM", MoldsInit::RandomEm { restarts: 1 }),
    ];
    println!("| seed | method | median ε | max ε | weight err | accuracy | ARI | EM iters | s |");
    println!("| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
    let mut summary: Vec<Vec<(f64, f64)>> = vec![Vec::new(); methods.len()];
    for seed in 0..seeds as u64 {
        let data = spec.generate(seed)?;
        for (mi, (name, init)) in methods.iter().enumerate() {
            let opts = MoldsOptions {
                init: *init,
                seed,
                em: EmOptions {
                    max_iter: iters,
                    tol: 1e-6,
                    ..Default::default()
                },
                ..Default::default()
            };
            let t0 = Instant::now();
            let fit = fit_molds(&data.trajs, &opts, &mut Silent)?;
            let secs = t0.elapsed().as_secs_f64();
            let (perm, errs) = match_components(&fit.model.components, &data.truth.components, 20);
            let labels = fit.labels();
            let acc = clustering_accuracy(&labels, &data.labels, &perm);
            let ari = adjusted_rand_index(&labels, &data.labels);
            let werr = weight_error(&fit.model.weights, &data.truth.weights, &perm);
            let med = median(errs.clone());
            let max = errs.iter().copied().fold(0.0, f64::max);
            println!(
                "| {seed} | {name} | {med:.4} | {max:.4} | {werr:.4} | {acc:.4} | {ari:.4} | {} | {secs:.2} |",
                fit.loglik.len() - 1
            );
            summary[mi].push((med, acc));
        }
    }
    println!(
        "\n| method | median over seeds of median ε | seeds with median ε > 0.2 | median accuracy | min accuracy |"
    );
    println!("| --- | ---: | ---: | ---: | ---: |");
    for (mi, (name, _)) in methods.iter().enumerate() {
        let eps: Vec<f64> = summary[mi].iter().map(|x| x.0).collect();
        let acc: Vec<f64> = summary[mi].iter().map(|x| x.1).collect();
        let bad = eps.iter().filter(|&&e| e > 0.2).count();
        println!(
            "| {name} | {:.4} | {bad}/{} | {:.4} | {:.4} |",
            median(eps.clone()),
            eps.len(),
            median(acc.clone()),
            acc.iter().copied().fold(1.0, f64::min)
        );
    }
    Ok(())
}
