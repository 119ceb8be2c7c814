//! E-step: Adam on Z with the original's checkpoint and stopping rules.

use ndarray::Array2;

use crate::error::Result;
use crate::model::{LambdaFallback, NeuLvm, Wrt};
use crate::params::Params;

use spikelab_core::{Observer, Progress};

use super::{EStepRule, EmState, FitOptions, Reporter};

/// The optional smoothness penalty λ·(1/(M·T)) Σ_α N_α Σ_t (Z_α(t) − Z_α(t−1))² over the
/// modelled bins t ≥ A+1, and its gradient added into `grad`.
fn smoothness_penalty(model: &NeuLvm, z: &Array2<f64>, lambda: f64, grad: &mut Array2<f64>) -> f64 {
    if lambda == 0.0 {
        return 0.0;
    }
    let cfg = model.config();
    let a = cfg.history_bins;
    let (m, nb) = z.dim();
    let scale = lambda / (m * (nb - a)) as f64;
    let mut pen = 0.0;
    for p in 0..m {
        let w = scale * cfg.n_neurons[p] as f64;
        for t in (a + 1)..nb {
            let d = z[[p, t]] - z[[p, t - 1]];
            pen += w * d * d;
            grad[[p, t]] += 2.0 * w * d;
            grad[[p, t - 1]] -= 2.0 * w * d;
        }
    }
    pen
}

/// E-step (one call = one EM iteration's E-step). With the default
/// [`EStepRule::Original`] it follows the original: at most `e_max_iters` Adam steps on Z;
/// each step's (L_y, L_Z) is recorded before the update; if both are at their all-time minimum
/// over the run, Z is checkpointed; stop after `e_patience` steps without a checkpoint; then
/// reload the newest checkpoint. [`EStepRule::TotalLoss`], `e_reset_adam` and `z_smoothness`
/// change this as documented on [`FitOptions`].
/// Reports every Adam step to `observer` (stage `"e_step"`, see [`fit`](super::fit)); a
/// [`Flow::Stop`](spikelab_core::Flow::Stop) ends it after that step, with the checkpoint
/// reloaded as usual. Returns (steps run, whether this iteration checkpointed).
pub fn e_step(
    model: &NeuLvm,
    params: &Params,
    state: &mut EmState,
    opts: &FitOptions,
    em_iter: usize,
    observer: &mut (dyn Observer + Send),
) -> Result<(usize, bool)> {
    e_step_reported(
        model,
        params,
        state,
        opts,
        em_iter,
        &Reporter::new(observer),
    )
}

pub(super) fn e_step_reported(
    model: &NeuLvm,
    params: &Params,
    state: &mut EmState,
    opts: &FitOptions,
    em_iter: usize,
    rep: &Reporter<'_>,
) -> Result<(usize, bool)> {
    let mut last_improvement = 0;
    let mut saved_now = false;
    let mut steps = 0;
    let mut best_total = f64::INFINITY;
    let (lo, hi) = opts.z_clip;
    if opts.e_reset_adam {
        state.adam.m.fill(0.0);
        state.adam.v.fill(0.0);
        state.adam.t = 0;
    }
    while steps < opts.e_max_iters {
        let g = model.gradient(params, state.z.view(), LambdaFallback::EStep, Wrt::Latent)?;
        let (ly, lz) = (g.losses.loss_y, g.losses.loss_z);
        let mut gz = g.latent.expect("requested");
        let pen = smoothness_penalty(model, &state.z, opts.z_smoothness, &mut gz);
        rep.report(
            &Progress::new("e_step", steps)
                .with_metric("restart", state.restart as f64)
                .with_metric("em_iter", em_iter as f64)
                .with_metric("loss_y", ly)
                .with_metric("loss_z", lz),
        );
        let newsave = match opts.e_rule {
            EStepRule::Original => state.e_history.iter().all(|(y, z)| ly < *y && lz < *z),
            EStepRule::TotalLoss { rel_tol } => {
                let total = ly + lz + pen;
                let better = total < best_total - rel_tol * best_total.abs();
                if total < best_total {
                    best_total = total;
                }
                better
            }
        };
        state.e_history.push((ly, lz));
        if newsave {
            state.saved_z = Some(state.z.clone());
            saved_now = true;
            last_improvement = 0;
        } else {
            last_improvement += 1;
        }
        // Adam update (Keras form), then the constraint clip.
        let ad = &mut state.adam;
        ad.t += 1;
        let t = ad.t as f64;
        let lr_t = opts.e_lr * (1.0 - opts.e_beta2.powf(t)).sqrt() / (1.0 - opts.e_beta1.powf(t));
        ndarray::Zip::from(&mut state.z)
            .and(&mut ad.m)
            .and(&mut ad.v)
            .and(&gz)
            .for_each(|z, m, v, &gr| {
                let gr = if gr.is_finite() { gr } else { 0.0 };
                *m = opts.e_beta1 * *m + (1.0 - opts.e_beta1) * gr;
                *v = opts.e_beta2 * *v + (1.0 - opts.e_beta2) * gr * gr;
                *z = (*z - lr_t * *m / (v.sqrt() + opts.e_epsilon)).clamp(lo, hi);
            });
        steps += 1;
        if last_improvement >= opts.e_patience || rep.stopped() {
            break;
        }
    }
    if let Some(s) = &state.saved_z {
        state.z = s.clone();
    }
    Ok((steps, saved_now))
}
