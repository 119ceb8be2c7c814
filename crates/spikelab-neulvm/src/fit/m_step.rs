//! M-step: L-BFGS over the parameters at fixed Z, on a sigmoid-reparametrised box.

use std::sync::Mutex;

use argmin::core::{CostFunction, Executor, Gradient as ArgGradient, State};
use argmin::solver::linesearch::MoreThuenteLineSearch;
use argmin::solver::quasinewton::LBFGS;
use ndarray::Array2;

use crate::error::{NeulvmError, Result};
use crate::model::{LambdaFallback, NeuLvm, Wrt};
use crate::params::Params;

use super::FitOptions;

fn sigmoid(z: f64) -> f64 {
    if z >= 0.0 {
        1.0 / (1.0 + (-z).exp())
    } else {
        let e = z.exp();
        e / (1.0 + e)
    }
}

/// (ζ, cost, gradient) of the last evaluation.
type CacheEntry = (Vec<f64>, f64, Vec<f64>);

struct MProblem<'a> {
    model: &'a NeuLvm,
    z: &'a Array2<f64>,
    lower: Vec<f64>,
    width: Vec<f64>,
    /// Cost scale: L-BFGS's first step is −∇, so the cost is divided by max(1, ‖∇₀‖∞) to keep
    /// that step O(1) in the unconstrained coordinates (else the sigmoid saturates at once).
    scale: f64,
    cache: Mutex<Option<CacheEntry>>,
}

impl MProblem<'_> {
    fn to_x(&self, zz: &[f64]) -> Vec<f64> {
        zz.iter()
            .zip(self.lower.iter().zip(&self.width))
            .map(|(z, (l, w))| l + w * sigmoid(*z))
            .collect()
    }

    fn eval(&self, zz: &[f64]) -> (f64, Vec<f64>) {
        if let Some((p, c, g)) = self.cache.lock().expect("no poisoning").as_ref()
            && p.as_slice() == zz
        {
            return (*c, g.clone());
        }
        let x = self.to_x(zz);
        // Absurd parameters (exp overflow) give a huge finite cost and no gradient, so that
        // the line search backs off; no NaN ever reaches L-BFGS.
        let (c, g) = match Params::from_slice(&x).and_then(|p| {
            self.model
                .gradient(&p, self.z.view(), LambdaFallback::MStep, Wrt::Params)
        }) {
            Ok(gr) => {
                let gx = gr.params.expect("requested");
                let g: Vec<f64> = zz
                    .iter()
                    .zip(gx.iter().zip(&self.width))
                    .map(|(z, (g, w))| {
                        let s = sigmoid(*z);
                        g * w * s * (1.0 - s)
                    })
                    .collect();
                (gr.losses.total(), g)
            }
            Err(_) => (1e30, vec![0.0; zz.len()]),
        };
        *self.cache.lock().expect("no poisoning") = Some((zz.to_vec(), c, g.clone()));
        (c, g)
    }
}

impl CostFunction for MProblem<'_> {
    type Param = Vec<f64>;
    type Output = f64;
    fn cost(&self, p: &Vec<f64>) -> std::result::Result<f64, argmin::core::Error> {
        Ok(self.eval(p).0 * self.scale)
    }
}

impl ArgGradient for MProblem<'_> {
    type Param = Vec<f64>;
    type Gradient = Vec<f64>;
    fn gradient(&self, p: &Vec<f64>) -> std::result::Result<Vec<f64>, argmin::core::Error> {
        Ok(self.eval(p).1.iter().map(|g| g * self.scale).collect())
    }
}

/// Result of one M-step.
#[derive(Debug, Clone, PartialEq)]
pub struct MStepResult {
    /// Optimised parameters (inside the bounds).
    pub params: Params,
    /// L_y + L_Z at the optimum (M-step Λ fallback).
    pub loss: f64,
    /// L-BFGS iterations.
    pub iters: u64,
}

/// M-step: minimise L_y + L_Z over the parameters at fixed Z with argmin's L-BFGS
/// (More–Thuente line search, exact gradient), bounds enforced by
/// x = lower + (upper − lower)·sigmoid(ζ).
///
/// ```
/// use spikelab_neulvm::{fit, Bounds, FitOptions, ModelConfig, NeuLvm, Params, Recording};
/// use spikelab_data::io::npy;
/// use spikelab_datasets as datasets;
/// let model = NeuLvm::new(ModelConfig::winner_take_all(),
///     Recording::from_npy(&datasets::neulvm("spikes_4ms.npy")?)?)?;
/// let z = npy::read_typed::<f64, ndarray::Ix2>(&datasets::neulvm("Z_init_4ms.npy")?)?;
/// let gt = Params::winner_take_all_ground_truth();
/// let mut opts = FitOptions::new(Bounds::relative_to(&gt, 0.4, 2.0)?);
/// opts.m_max_iters = 3;
/// let before = model.loss(&gt, z.view())?.total();
/// let r = fit::m_step(&model, &z, &gt, &opts)?;
/// assert!(r.loss <= before);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn m_step(
    model: &NeuLvm,
    z: &Array2<f64>,
    x0: &Params,
    opts: &FitOptions,
) -> Result<MStepResult> {
    let b = &opts.bounds;
    let x0v = x0.to_vec();
    if x0v.len() != b.lower.len() {
        return Err(NeulvmError::Params("x0 and bounds differ in length".into()));
    }
    let width: Vec<f64> = b.upper.iter().zip(&b.lower).map(|(u, l)| u - l).collect();
    let zeta0: Vec<f64> = x0v
        .iter()
        .zip(b.lower.iter().zip(&width))
        .map(|(x, (l, w))| {
            let q = ((x - l) / w).clamp(1e-9, 1.0 - 1e-9);
            (q / (1.0 - q)).ln()
        })
        .collect();
    let mut prob = MProblem {
        model,
        z,
        lower: b.lower.clone(),
        width,
        scale: 1.0,
        cache: Mutex::new(None),
    };
    let (c0, g0) = prob.eval(&zeta0);
    let scale = 1.0 / g0.iter().fold(1.0f64, |a, g| a.max(g.abs()));
    prob.scale = scale;
    let ls = MoreThuenteLineSearch::new();
    let solver = LBFGS::new(ls, opts.m_memory)
        .with_tolerance_cost(opts.m_tol_cost * scale)
        .and_then(|s| s.with_tolerance_grad(opts.m_tol_grad * scale))
        .map_err(|e| NeulvmError::Optimizer(e.to_string()))?;
    let res = Executor::new(prob, solver)
        .configure(|st| st.param(zeta0.clone()).max_iters(opts.m_max_iters))
        .run();
    let (zbest, iters) = match res {
        Ok(r) => {
            let st = r.state();
            let it = st.get_iter();
            let best = st.get_best_param().cloned().unwrap_or(zeta0.clone());
            (best, it)
        }
        Err(e) => return Err(NeulvmError::Optimizer(e.to_string())),
    };
    let prob = MProblem {
        model,
        z,
        lower: b.lower.clone(),
        width: b.upper.iter().zip(&b.lower).map(|(u, l)| u - l).collect(),
        scale: 1.0,
        cache: Mutex::new(None),
    };
    let (cb, _) = prob.eval(&zbest);
    let (zeta, loss) = if cb <= c0 { (zbest, cb) } else { (zeta0, c0) };
    let x: Vec<f64> = prob
        .to_x(&zeta)
        .iter()
        .zip(b.lower.iter().zip(&b.upper))
        .map(|(v, (l, u))| v.clamp(*l, *u))
        .collect();
    Ok(MStepResult {
        params: Params::from_slice(&x)?,
        loss,
        iters,
    })
}
