//! The measurement behind the choice of a hand-written adjoint over candle's autograd
//! (issue: "exact gradients … by a hand-written reverse sweep (adjoint) or by candle's
//! autograd — your choice, justified by a measurement").
//!
//! The whole neuLVM objective L_y + L_Z (default quirks, no external input) is written a
//! second time with candle tensor ops in f64 on the CPU — per bin: synaptic filter, drive,
//! the `[M, A]` cohort update, hazard, firing probability, survival-weighted sums, Λ, the
//! Gaussian density, the recorded neurons, the age shift — and differentiated by
//! `Tensor::backward`. The example checks that loss and gradients (w.r.t. the 12 parameters
//! and the latent Z) agree with [`NeuLvm::gradient`], then times both side by side on the
//! bundled data (T 2500, A 250, M 3).
//!
//! ```text
//! cargo run --release -p spikelab-neulvm --features candle --example candle_autograd [-- REPS]
//! ```

use std::time::Instant;

use anyhow::{Result, bail};
use candle_core::{Device, Var};
use ndarray::Array2;
use spikelab_data::io::npy;
use spikelab_datasets as datasets;
use spikelab_neulvm::{LambdaFallback, Params, Wrt};

use spikelab_neulvm::autograd::{consts, objective};

fn rel(a: &[f64], b: &[f64]) -> f64 {
    let num: f64 = a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum();
    let den: f64 = b.iter().map(|y| y * y).sum();
    (num / den.max(1e-300)).sqrt()
}

fn run() -> Result<()> {
    let reps: usize = std::env::args()
        .nth(1)
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(3);
    let model = spikelab_datasets::neulvm::model()?.with_parallel_populations(false);
    let z: Array2<f64> = npy::read_typed(&datasets::neulvm("Z_init_4ms.npy")?)?;
    let params = Params::winner_take_all_ground_truth();
    let dev = Device::Cpu;
    let c = consts(&model, &dev)?;
    let theta = Var::from_vec(params.to_vec(), 12, &dev)?;
    let (m, nb) = z.dim();
    let zv = Var::from_vec(z.iter().copied().collect::<Vec<_>>(), (m, nb), &dev)?;

    // Correctness first.
    let ours = model.gradient(&params, z.view(), LambdaFallback::MStep, Wrt::Both)?;
    let (ly, lz) = objective(&c, theta.as_tensor(), zv.as_tensor())?;
    let total = (&ly + &lz)?;
    let grads = total.backward()?;
    let loss_c = total.to_scalar::<f64>()?;
    let gp = grads
        .get(theta.as_tensor())
        .expect("θ gradient")
        .to_vec1::<f64>()?;
    let gz = grads
        .get(zv.as_tensor())
        .expect("Z gradient")
        .flatten_all()?
        .to_vec1::<f64>()?;
    let ours_gp = ours.params.as_ref().expect("θ gradient");
    let ours_gz: Vec<f64> = ours
        .latent
        .as_ref()
        .expect("Z gradient")
        .iter()
        .copied()
        .collect();
    let dl = ((loss_c - ours.losses.total()) / ours.losses.total()).abs();
    println!(
        "loss: candle {loss_c:.15} (L_y {:.12}, L_Z {:.12}), spikelab {:.15}, rel diff {dl:.2e}",
        ly.to_scalar::<f64>()?,
        lz.to_scalar::<f64>()?,
        ours.losses.total()
    );
    let (dp, dz) = (rel(&gp, ours_gp), rel(&gz, &ours_gz));
    println!("gradient rel diff (L2): θ {dp:.2e}, Z {dz:.2e}");
    if !(dl < 1e-10 && dp < 1e-8 && dz < 1e-8) {
        bail!(
            "candle autograd and the adjoint disagree: the timing below would compare different things"
        );
    }

    // Timing, side by side (one thread each: the adjoint's populations run serially here).
    let time = |f: &mut dyn FnMut() -> Result<()>| -> Result<f64> {
        f()?;
        let t0 = Instant::now();
        for _ in 0..reps {
            f()?;
        }
        Ok(1e3 * t0.elapsed().as_secs_f64() / reps as f64)
    };
    let t_ours_loss = time(&mut || {
        model.loss(&params, z.view())?;
        Ok(())
    })?;
    let t_ours_grad = time(&mut || {
        model.gradient(&params, z.view(), LambdaFallback::MStep, Wrt::Both)?;
        Ok(())
    })?;
    let t_c_loss = time(&mut || {
        let (a, b) = objective(&c, theta.as_tensor(), zv.as_tensor())?;
        (a + b)?.to_scalar::<f64>()?;
        Ok(())
    })?;
    let t_c_grad = time(&mut || {
        let (a, b) = objective(&c, theta.as_tensor(), zv.as_tensor())?;
        (a + b)?.backward()?;
        Ok(())
    })?;
    println!();
    println!(
        "| T 2500, A 250, M 3, f64, CPU ({} threads for candle) | spikelab adjoint | candle autograd | ratio |",
        candle_core::utils::get_num_threads()
    );
    println!("| --- | --- | --- | --- |");
    println!(
        "| loss | {t_ours_loss:.1} ms | {t_c_loss:.1} ms | {:.0}× |",
        t_c_loss / t_ours_loss
    );
    println!(
        "| loss + gradient (θ and Z) | {t_ours_grad:.1} ms | {t_c_grad:.1} ms | {:.0}× |",
        t_c_grad / t_ours_grad
    );
    println!(
        "| gradient / loss | {:.1}× | {:.1}× | |",
        t_ours_grad / t_ours_loss,
        t_c_grad / t_c_loss
    );
    Ok(())
}

fn main() -> Result<()> {
    // The autograd graph is ~10⁵ nodes deep; candle's topological sort recurses through it.
    std::thread::Builder::new()
        .stack_size(1 << 30)
        .spawn(run)?
        .join()
        .map_err(|_| anyhow::anyhow!("worker panicked"))?
}
