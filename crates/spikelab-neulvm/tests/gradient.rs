//! Exact gradients against central finite differences, on the bundled data.

use ndarray::{Array2, Ix2};
use spikelab_data::io::npy;
use spikelab_datasets as datasets;
use spikelab_neulvm::{LambdaFallback, ModelConfig, NeuLvm, Params, Recording, Wrt};

fn model() -> NeuLvm {
    let rec = Recording::from_npy(&datasets::neulvm("spikes_4ms.npy").unwrap()).unwrap();
    NeuLvm::new(ModelConfig::winner_take_all(), rec).unwrap()
}

fn z(name: &str) -> Array2<f64> {
    npy::read_typed::<f64, Ix2>(&datasets::neulvm(name).unwrap()).unwrap()
}

fn golden_x(name: &str) -> Vec<f64> {
    let g: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(datasets::neulvm("golden_losses.json").unwrap()).unwrap(),
    )
    .unwrap();
    g[name]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect()
}

fn check_params(model: &NeuLvm, x: &[f64], zz: &Array2<f64>, step: LambdaFallback) {
    let p = Params::from_slice(x).unwrap();
    let g = model.gradient(&p, zz.view(), step, Wrt::Params).unwrap();
    let gp = g.params.unwrap();
    let f = |xx: &[f64]| {
        model
            .loss_with(&Params::from_slice(xx).unwrap(), zz.view(), step)
            .unwrap()
            .total()
    };
    let scale = gp.iter().map(|v| v.abs()).fold(0.0, f64::max);
    for i in 0..x.len() {
        // The original's bin probability switches from λΔ to 1−e^{−λΔ} at λΔ = 0.01, a jump
        // of ~5e-5 in P: a central difference whose interval straddles such a jump is wrong
        // by jump/2h. Try three step sizes; the adjoint must agree with one of them.
        let mut best = f64::INFINITY;
        let mut fd_best = 0.0;
        for rel in [1e-6, 1e-7, 3e-6] {
            let h = rel * x[i].abs().max(1.0);
            let mut xp = x.to_vec();
            let mut xm = x.to_vec();
            xp[i] += h;
            xm[i] -= h;
            let fd = (f(&xp) - f(&xm)) / (2.0 * h);
            let err = (fd - gp[i]).abs();
            if err < best {
                best = err;
                fd_best = fd;
            }
        }
        println!(
            "param {i}: adjoint {:.9e} fd {:.9e} err {:.2e}",
            gp[i], fd_best, best
        );
        assert!(
            best <= 1e-5 * fd_best.abs().max(1e-3 * scale).max(1e-8),
            "param {i}: adjoint {} vs fd {}",
            gp[i],
            fd_best
        );
    }
}

#[test]
fn parameter_gradient_matches_finite_differences() {
    let m = model();
    let zi = z("Z_init_4ms.npy");
    let zg = z("Z_gt_4ms.npy");
    let gt = Params::winner_take_all_ground_truth().to_vec();
    check_params(&m, &gt, &zi, LambdaFallback::MStep);
    check_params(&m, &gt, &zg, LambdaFallback::MStep);
    check_params(&m, &golden_x("x_rand"), &zi, LambdaFallback::MStep);
}

#[test]
fn latent_gradient_matches_finite_differences() {
    let m = model();
    let p = Params::winner_take_all_ground_truth();
    for (name, step) in [
        ("Z_init_4ms.npy", LambdaFallback::EStep),
        ("Z_gt_4ms.npy", LambdaFallback::MStep),
    ] {
        let zz = z(name);
        let g = m.gradient(&p, zz.view(), step, Wrt::Latent).unwrap();
        let gz = g.latent.unwrap();
        // History bins are overwritten: their gradient is 0.
        assert!(gz.slice(ndarray::s![.., ..250]).iter().all(|v| *v == 0.0));
        let scale = gz.iter().map(|v| v.abs()).fold(0.0, f64::max);
        for pop in 0..3 {
            for b in [250usize, 251, 400, 1234, 2000, 2748, 2749] {
                let h = 1e-7 * zz[[pop, b]].max(1e-3);
                let mut zp = zz.clone();
                let mut zm = zz.clone();
                zp[[pop, b]] += h;
                zm[[pop, b]] -= h;
                let fd = (m.loss_with(&p, zp.view(), step).unwrap().total()
                    - m.loss_with(&p, zm.view(), step).unwrap().total())
                    / (2.0 * h);
                let err = (fd - gz[[pop, b]]).abs();
                println!("Z[{pop},{b}]: adjoint {:.9e} fd {:.9e}", gz[[pop, b]], fd);
                assert!(
                    err <= 1e-4 * fd.abs().max(1e-4 * scale),
                    "Z[{pop},{b}]: adjoint {} vs fd {fd}",
                    gz[[pop, b]]
                );
            }
        }
    }
}
