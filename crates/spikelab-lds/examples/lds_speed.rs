//! Speed table: filter + RTS smoother over N trajectories × T steps (n 3, m 2) and one MoLDS
//! EM iteration (K 3), with the scaling exponents in T and N (log-log least squares).
//!
//!     cargo run --release -p spikelab-lds --example lds_speed [-- --json]
//!
//! `--json` prints one JSON object instead (used by benches/peers/peers.py).

use std::time::Instant;

use rand::SeedableRng;
use rayon::prelude::*;
use spikelab_core::Silent;
use spikelab_lds::{
    EmOptions, FilterOptions, MoldsOptions, MoldsSpec, Trajectory, molds_em, smooth, tensor_init,
};

fn data(n_traj: usize, t_len: usize) -> (spikelab_lds::Lds, Vec<Trajectory>) {
    let spec = MoldsSpec {
        weights: vec![1.0],
        n_traj: 1,
        t_len: 2,
        ..Default::default()
    };
    let lds = spec.generate(0).unwrap().truth.components.remove(0);
    let mut lds = lds;
    lds.b_in = nalgebra::DMatrix::zeros(3, 0);
    lds.d_in = nalgebra::DMatrix::zeros(2, 0);
    lds.sigma0 = nalgebra::DMatrix::identity(3, 3);
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
    let trajs = (0..n_traj)
        .map(|_| Trajectory::new(lds.sample(t_len, None, None, &mut rng).unwrap().1).unwrap())
        .collect();
    (lds, trajs)
}

/// Best of `reps` wall-clock seconds of filter + smoother over all trajectories (rayon).
fn time_smooth(n_traj: usize, t_len: usize, reps: usize) -> f64 {
    let (lds, trajs) = data(n_traj, t_len);
    let opts = FilterOptions::default();
    (0..reps)
        .map(|_| {
            let t0 = Instant::now();
            let ll: f64 = trajs
                .par_iter()
                .map(|t| smooth(&lds, t, &opts).unwrap().filtered.loglik)
                .sum();
            assert!(ll.is_finite());
            t0.elapsed().as_secs_f64()
        })
        .fold(f64::INFINITY, f64::min)
}

fn slope(xs: &[f64], ys: &[f64]) -> f64 {
    let lx: Vec<f64> = xs.iter().map(|v| v.ln()).collect();
    let ly: Vec<f64> = ys.iter().map(|v| v.ln()).collect();
    let mx = lx.iter().sum::<f64>() / lx.len() as f64;
    let my = ly.iter().sum::<f64>() / ly.len() as f64;
    let num: f64 = lx.iter().zip(&ly).map(|(x, y)| (x - mx) * (y - my)).sum();
    let den: f64 = lx.iter().map(|x| (x - mx).powi(2)).sum();
    num / den
}

fn main() {
    let json = std::env::args().any(|a| a == "--json");
    let threads = rayon::current_num_threads();
    let base = time_smooth(600, 200, 5);
    let ts = [50.0, 100.0, 200.0, 400.0, 800.0];
    let t_times: Vec<f64> = ts
        .iter()
        .map(|&t| time_smooth(600, t as usize, 3))
        .collect();
    let ns = [75.0, 150.0, 300.0, 600.0, 1200.0];
    let n_times: Vec<f64> = ns
        .iter()
        .map(|&n| time_smooth(n as usize, 200, 3))
        .collect();
    // MoLDS EM iterations (E-step over all trajectories and components + M-step), timed as
    // ITERS iterations plus the final scoring E-step, divided by ITERS (a slight overestimate).
    const ITERS: usize = 4;
    let md = MoldsSpec::default().generate(0).unwrap();
    let opts = MoldsOptions {
        em: EmOptions {
            max_iter: ITERS,
            tol: 0.0,
            ..Default::default()
        },
        ..Default::default()
    };
    let init = tensor_init(&md.trajs, &opts).unwrap();
    let time_em = || {
        (0..3)
            .map(|_| {
                let t0 = Instant::now();
                let fit = molds_em(&init, &md.trajs, &opts, &mut Silent).unwrap();
                assert_eq!(fit.loglik.len(), ITERS + 1);
                t0.elapsed().as_secs_f64() / ITERS as f64
            })
            .fold(f64::INFINITY, f64::min)
    };
    let em_iter = time_em();
    let single = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap();
    let em_iter_1 = single.install(time_em);
    let base_1 = single.install(|| time_smooth(600, 200, 5));
    let (et, en) = (slope(&ts, &t_times), slope(&ns, &n_times));
    if json {
        println!(
            "{}",
            serde_json::json!({"threads": threads, "smooth_600x200_s": base, "t": ts, "t_s": t_times,
                "n": ns, "n_s": n_times, "exp_t": et, "exp_n": en, "molds_em_iter_s": em_iter,
                "smooth_600x200_1thread_s": base_1, "molds_em_iter_1thread_s": em_iter_1})
        );
        return;
    }
    println!(
        "seconds, best of 5 (filter + smoother) or 3 (MoLDS, {ITERS} iterations + scoring / {ITERS})\n"
    );
    println!("| task | {threads} threads | 1 thread |\n| --- | ---: | ---: |");
    println!("| filter + smoother, 600 × 200, n 3, m 2 | {base:.4} | {base_1:.4} |");
    println!("| one MoLDS EM iteration, 600 × 200, K 3 | {em_iter:.4} | {em_iter_1:.4} |\n");
    println!("| T (N = 600) | s |   | N (T = 200) | s |\n| ---: | ---: | --- | ---: | ---: |");
    for i in 0..ts.len() {
        println!(
            "| {} | {:.4} | | {} | {:.4} |",
            ts[i], t_times[i], ns[i], n_times[i]
        );
    }
    println!("\nscaling exponents (log-log slope): T {et:.3}, N {en:.3}");
}
