//! POYO's optimiser: SparseLamb and the OneCycle schedule with β₁ cycling.

use candle_core::{D, Tensor, Var, backprop::GradStore};

use crate::error::{DecodeError, Result};

/// OneCycle learning-rate and β₁ schedule (PyTorch `OneCycleLR` with `pct_start`,
/// `div_factor`, `final_div_factor`, cosine annealing and `cycle_momentum`): phase 1 (steps
/// 0 … e₁ = pct·total − 1) anneals lr from max/div to max and β₁ from 0.95 to 0.85; phase 2
/// (… e₂ = total − 1) anneals lr to max/(div·final_div) and β₁ back to 0.95. With
/// `cycle_momentum` off β₁ stays at `beta1_max`.
///
/// ```
/// use spikelab_decode::poyo::OneCycle;
/// let s = OneCycle::new(0.004, 40)?;
/// assert_eq!(s.at(0), (0.004, 0.95));
/// assert!((s.at(39).0 - 4e-7).abs() < 1e-15);
/// # Ok::<(), spikelab_decode::DecodeError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct OneCycle {
    /// Peak learning rate.
    pub max_lr: f64,
    /// Number of optimiser steps.
    pub total: usize,
    /// Fraction of the steps in phase 1.
    pub pct_start: f64,
    /// Initial lr = max_lr / div_factor.
    pub div_factor: f64,
    /// Final lr = initial lr / final_div_factor.
    pub final_div_factor: f64,
    /// Whether β₁ cycles (reference default: on).
    pub cycle_momentum: bool,
    /// β₁ at the ends of the cycle.
    pub beta1_max: f64,
    /// β₁ at the peak lr.
    pub beta1_min: f64,
}

fn anneal_cos(start: f64, end: f64, pct: f64) -> f64 {
    let cos_out = (std::f64::consts::PI * pct).cos() + 1.0;
    end + (start - end) / 2.0 * cos_out
}

impl OneCycle {
    /// POYO's setting: pct_start 0.5, div_factor 1, final_div_factor 1e4, β₁ 0.95 ↔ 0.85.
    pub fn new(max_lr: f64, total: usize) -> Result<Self> {
        if !(max_lr > 0.0 && max_lr.is_finite()) || total < 2 {
            return Err(DecodeError::param(
                "one_cycle",
                "need max_lr > 0 and at least 2 steps",
            ));
        }
        Ok(Self {
            max_lr,
            total,
            pct_start: 0.5,
            div_factor: 1.0,
            final_div_factor: 1e4,
            cycle_momentum: true,
            beta1_max: 0.95,
            beta1_min: 0.85,
        })
    }

    /// (lr, β₁) at step `s` (steps past the end stay at the last value).
    pub fn at(&self, s: usize) -> (f64, f64) {
        let s = s.min(self.total - 1) as f64;
        let initial = self.max_lr / self.div_factor;
        let min_lr = initial / self.final_div_factor;
        let e1 = self.pct_start * self.total as f64 - 1.0;
        let e2 = self.total as f64 - 1.0;
        let frac = |x: f64, span: f64| if span > 0.0 { x / span } else { 1.0 };
        let (lr, b1) = if s <= e1 {
            let pct = frac(s, e1);
            (
                anneal_cos(initial, self.max_lr, pct),
                anneal_cos(self.beta1_max, self.beta1_min, pct),
            )
        } else {
            let pct = frac(s - e1, e2 - e1);
            (
                anneal_cos(self.max_lr, min_lr, pct),
                anneal_cos(self.beta1_min, self.beta1_max, pct),
            )
        };
        (
            lr,
            if self.cycle_momentum {
                b1
            } else {
                self.beta1_max
            },
        )
    }
}

/// One parameter tensor under SparseLamb.
#[derive(Debug)]
pub struct LambParam {
    /// Name (for messages).
    pub name: String,
    /// The parameter.
    pub var: Var,
    /// Rows move only when they receive gradient (embedding tables).
    pub sparse: bool,
    m: Tensor,
    v: Tensor,
}

/// SparseLamb (POYO's `examples/poyo/optim.py`): Adam moments without bias correction,
/// step = m/(√v + ε) + λθ, trust ratio clamp(‖θ‖, 0, 10)/‖step‖ (1 when either norm is 0),
/// θ ← θ − lr·trust·step. For sparse tensors with some rows without gradient, those rows keep
/// their values and their moments are reset to 0 (the reference's behaviour).
#[derive(Debug)]
pub struct SparseLamb {
    params: Vec<LambParam>,
    /// β₂.
    pub beta2: f64,
    /// ε.
    pub eps: f64,
    /// Weight decay λ (all parameters).
    pub weight_decay: f64,
}

impl SparseLamb {
    /// Over `(name, var, sparse)` triples; β₂ 0.999, ε 1e-6.
    pub fn new(params: Vec<(String, Var, bool)>, weight_decay: f64) -> Result<Self> {
        let params = params
            .into_iter()
            .map(|(name, var, sparse)| {
                let z = var.as_tensor().zeros_like()?;
                Ok(LambParam {
                    name,
                    m: z.clone(),
                    v: z,
                    var,
                    sparse,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Self {
            params,
            beta2: 0.999,
            eps: 1e-6,
            weight_decay,
        })
    }

    /// The parameters.
    pub fn params(&self) -> &[LambParam] {
        &self.params
    }

    /// `sum` with the gradients of `more` added to it, for this optimiser's parameters (one
    /// batch's gradients from several forward/backward passes).
    pub fn add_grads(&self, mut sum: GradStore, mut more: GradStore) -> Result<GradStore> {
        for p in &self.params {
            let theta = p.var.as_tensor();
            if let Some(g) = more.remove(theta) {
                let total = match sum.remove(theta) {
                    Some(s) => (s + g)?,
                    None => g,
                };
                sum.insert(theta, total);
            }
        }
        Ok(sum)
    }

    /// One step with learning rate `lr` and β₁ `beta1`; parameters without a gradient in
    /// `grads` are left alone.
    pub fn step(&mut self, grads: &GradStore, lr: f64, beta1: f64) -> Result<()> {
        let b2 = self.beta2;
        // Everything stays on the parameters' device: no value is read back to the host.
        for p in &mut self.params {
            let theta = p.var.as_tensor();
            let Some(g) = grads.get(theta) else {
                continue;
            };
            // Detached: m and v must not carry the step's autograd graph into the next step.
            let g = &g.detach();
            // 1 on rows with gradient (all ones when every row has one).
            let row_mask = if p.sparse && theta.rank() == 2 {
                Some(
                    g.abs()?
                        .sum_keepdim(D::Minus1)?
                        .gt(0.0)?
                        .to_dtype(theta.dtype())?,
                )
            } else {
                None
            };
            let mut m = ((&p.m * beta1)? + (g * (1.0 - beta1))?)?;
            let mut v = ((&p.v * b2)? + (g.sqr()? * (1.0 - b2))?)?;
            if let Some(mask) = &row_mask {
                m = m.broadcast_mul(mask)?;
                v = v.broadcast_mul(mask)?;
            }
            let step = ((&m / (v.sqrt()? + self.eps)?)? + (theta * self.weight_decay)?)?;
            let one = Tensor::ones((), theta.dtype(), theta.device())?;
            let zero = one.zeros_like()?;
            let wn = theta.sqr()?.sum_all()?.sqrt()?.minimum(&(&one * 10.0)?)?;
            let sn = step.sqr()?.sum_all()?.sqrt()?;
            let ratio = sn.gt(&zero)?.where_cond(&(&wn / &sn)?, &one)?;
            let trust = wn.gt(&zero)?.where_cond(&ratio, &one)?;
            let mut delta = step.broadcast_mul(&(trust * lr)?)?;
            if let Some(mask) = &row_mask {
                delta = delta.broadcast_mul(mask)?;
            }
            p.var.set(&(theta - delta)?)?;
            p.m = m;
            p.v = v;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    /// The moments hold no autograd path back to the parameters: the gradient of a weight
    /// used directly by a matmul is recorded as a function of that step's activations, and
    /// moments built from it would keep every step's graph alive.
    #[test]
    fn moments_carry_no_autograd_history() -> Result<()> {
        let dev = Device::Cpu;
        let w1 = Var::from_tensor(&Tensor::new(&[[0.5f64, -0.3], [0.2, 0.1]], &dev)?)?;
        let w2 = Var::from_tensor(&Tensor::new(&[[1.0f64], [-2.0]], &dev)?)?;
        let x = Tensor::new(&[[1.0f64, 2.0], [3.0, -1.0]], &dev)?;
        let loss = x
            .matmul(w1.as_tensor())?
            .tanh()?
            .matmul(w2.as_tensor())?
            .sqr()?
            .sum_all()?;
        let grads = loss.backward()?;
        let g2 = grads.get(w2.as_tensor()).expect("w2 has a gradient");
        let through = g2.sum_all()?.backward()?;
        assert!(
            through.get(w1.as_tensor()).is_some(),
            "precondition: w2's gradient is recorded as a function of w1"
        );
        let mut opt = SparseLamb::new(
            vec![
                ("w1".into(), w1.clone(), false),
                ("w2".into(), w2.clone(), false),
            ],
            0.0,
        )?;
        opt.step(&grads, 0.01, 0.9)?;
        for p in opt.params() {
            for state in [&p.m, &p.v] {
                let g = state.sum_all()?.backward()?;
                assert!(
                    g.get(w1.as_tensor()).is_none() && g.get(w2.as_tensor()).is_none(),
                    "a moment of {} depends on the parameters",
                    p.name
                );
            }
        }
        Ok(())
    }
}
