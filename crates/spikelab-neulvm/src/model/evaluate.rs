//! One evaluation: the synaptic drive from the latent, the populations' losses and the chain
//! rule back to the parameters and the latent.

use ndarray::{Array2, ArrayView2};

use super::{Gradient, LambdaFallback, Losses, NeuLvm, Wrt};
use crate::error::{NeulvmError, Result};
use crate::params::Params;

/// Gradient accumulators of one population (filled by its latent and recorded sweeps).
pub(super) struct PopGrad {
    /// Whether the parameter gradient is wanted (else the initial condition's is skipped).
    pub(super) gp: bool,
    pub(super) da: f64,
    pub(super) dmu: f64,
    pub(super) dth: f64,
    /// ∂/∂h of the initial mean potential.
    pub(super) dh: f64,
    /// ∂/∂u(s) of the drive.
    pub(super) du: Vec<f64>,
    /// ∂/∂Z(t) of this population's latent.
    pub(super) dz: Vec<f64>,
}

/// What the populations are driven by, computed from the latent and the parameters.
struct Drive {
    /// Latent `[population × bin]` with the history bins overwritten by A0·Δ (item 4).
    zc: Vec<f64>,
    /// Coupling W[β→α] = J_β·conmat[β][α], row-major `[β][α]`.
    w: Vec<f64>,
    /// Synaptic decay per bin e^{−Δ·a_syn,β}.
    esyn: Vec<f64>,
    /// Synaptic currents I_β(s) `[β × modelled bin]`.
    isyn: Vec<f64>,
    /// Drive u_α(s) `[α × modelled bin]`.
    u: Vec<f64>,
    /// Initial mean potential h_α.
    h: Vec<f64>,
}

/// Sums of the populations' losses and their gradient accumulators.
struct PopOutputs {
    nll_sum: f64,
    lny_sum: f64,
    pgs: Vec<PopGrad>,
}

impl NeuLvm {
    /// Losses (and, if `wrt`, their gradient) at `params`, `z` with the given Λ fallback.
    pub(super) fn evaluate(
        &self,
        params: &Params,
        z: ArrayView2<'_, f64>,
        fallback: LambdaFallback,
        wrt: Option<Wrt>,
    ) -> Result<Gradient> {
        let (gp, gz) = wrt.map_or((false, false), |w| (w.params(), w.latent()));
        let m = self.cfg.n_populations();
        params.validate(m)?;
        self.check_latent(z)?;
        let t_len = self.n_modelled_bins();
        let drive = self.drive(params, z);
        let scale = 1.0 / (m * t_len) as f64;
        let out = self.run_populations(params, &drive, fallback.value(&self.cfg.quirks), gp, gz);
        let losses = Losses {
            loss_y: -out.lny_sum * scale,
            loss_z: out.nll_sum * scale,
        };
        if !(losses.loss_y.is_finite() && losses.loss_z.is_finite()) {
            return Err(NeulvmError::NonFinite(format!(
                "L_y = {}, L_Z = {} (exp overflow or p = 0 for these parameters)",
                losses.loss_y, losses.loss_z
            )));
        }
        if !(gp || gz) {
            return Ok(Gradient {
                losses,
                params: None,
                latent: None,
            });
        }
        let (params_grad, di) = self.backprop_drive(params, &drive, &out.pgs, gz);
        let g = Gradient {
            losses,
            params: gp.then_some(params_grad),
            latent: di.map(|di| self.latent_gradient(&drive, &out.pgs, &di)),
        };
        let finite = g
            .params
            .as_ref()
            .is_none_or(|v| v.iter().all(|x| x.is_finite()))
            && g.latent
                .as_ref()
                .is_none_or(|v| v.iter().all(|x| x.is_finite()));
        if !finite {
            return Err(NeulvmError::NonFinite("gradient".into()));
        }
        Ok(g)
    }

    /// The history-overwritten latent, the couplings, the synaptic currents, the drive u and
    /// the initial mean potential h.
    fn drive(&self, params: &Params, z: ArrayView2<'_, f64>) -> Drive {
        let m = self.cfg.n_populations();
        let a = self.cfg.history_bins;
        let nb = self.rec.n_bins();
        let t_len = nb - a;
        let dt = self.cfg.dt_s;
        // Latent with the history overwritten by A0·Δ (checklist item 4).
        let mut zc = vec![0.0; m * nb];
        for p in 0..m {
            for b in 0..nb {
                zc[p * nb + b] = if b < a { self.a0_hz[p] * dt } else { z[[p, b]] };
            }
        }
        // Coupling W[β→α] = J_β·conmat[β][α].
        let w: Vec<f64> = (0..m * m)
            .map(|i| params.j[i / m] * self.cfg.conmat[i])
            .collect();
        // Synaptic currents I_β(s), s = 0..T-1.
        let esyn: Vec<f64> = self
            .cfg
            .a_syn_hz
            .iter()
            .map(|&as_| (-dt * as_).exp())
            .collect();
        let mut isyn = vec![0.0; m * t_len];
        for p in 0..m {
            let mut cur = self.a0_hz[p];
            for s in 0..t_len {
                if s > 0 {
                    cur = esyn[p] * cur + (1.0 - esyn[p]) * zc[p * nb + a + s - 1] / dt;
                }
                isyn[p * t_len + s] = cur;
            }
        }
        // Drive u_α(s) and initial mean potential h_α.
        let mut u = vec![0.0; m * t_len];
        let mut h = vec![0.0; m];
        for al in 0..m {
            let mut x = 0.0;
            for be in 0..m {
                x += w[be * m + al] * self.a0_hz[be];
            }
            h[al] = params.mu[al] + x / params.a_mem_hz[al];
            for s in 0..t_len {
                let mut acc = 0.0;
                for be in 0..m {
                    acc += w[be * m + al] * isyn[be * t_len + s];
                }
                if let Some(ie) = &self.rec.i_ext {
                    acc += ie[[al, s]] * self.cfg.eps;
                }
                u[al * t_len + s] = acc;
            }
        }
        Drive {
            zc,
            w,
            esyn,
            isyn,
            u,
            h,
        }
    }

    /// Given the drive the populations are independent: their latent and recorded sweeps run
    /// on separate threads (if enabled); sums in population order.
    fn run_populations(
        &self,
        params: &Params,
        drive: &Drive,
        fallback: f64,
        gp: bool,
        gz: bool,
    ) -> PopOutputs {
        let m = self.cfg.n_populations();
        let nb = self.rec.n_bins();
        let t_len = self.n_modelled_bins();
        let grad = gp || gz;
        let scale = 1.0 / (m * t_len) as f64;
        let run_pop = |al: usize| -> (f64, f64, PopGrad) {
            let mut pg = PopGrad {
                gp,
                da: 0.0,
                dmu: 0.0,
                dth: 0.0,
                dh: 0.0,
                du: if grad { vec![0.0; t_len] } else { Vec::new() },
                dz: if gz { vec![0.0; nb] } else { Vec::new() },
            };
            let ua = &drive.u[al * t_len..(al + 1) * t_len];
            let za = &drive.zc[al * nb..(al + 1) * nb];
            let h = drive.h[al];
            let nll = self.pop_latent(al, params, h, ua, za, fallback, grad, gz, scale, &mut pg);
            let lny = self.pop_recorded(al, params, h, ua, grad, scale, &mut pg);
            (nll, lny, pg)
        };
        let outs: Vec<(f64, f64, PopGrad)> = if self.parallel && m > 1 {
            std::thread::scope(|sc| {
                let hs: Vec<_> = (1..m).map(|al| sc.spawn(move || run_pop(al))).collect();
                let mut v = vec![run_pop(0)];
                v.extend(
                    hs.into_iter()
                        .map(|h| h.join().expect("population worker panicked")),
                );
                v
            })
        } else {
            (0..m).map(run_pop).collect()
        };
        let mut out = PopOutputs {
            nll_sum: 0.0,
            lny_sum: 0.0,
            pgs: Vec::with_capacity(m),
        };
        for (nll, lny, pg) in outs {
            out.nll_sum += nll;
            out.lny_sum += lny;
            out.pgs.push(pg);
        }
        out
    }

    /// Chain rule through the drive: du → dW, dI; dh → dμ, dW, da. Returns the parameter
    /// gradient (order of [`Params::to_vec`]) and, if `gz`, ∂/∂I_β(s).
    fn backprop_drive(
        &self,
        params: &Params,
        drive: &Drive,
        pgs: &[PopGrad],
        gz: bool,
    ) -> (Vec<f64>, Option<Vec<f64>>) {
        let m = self.cfg.n_populations();
        let t_len = self.n_modelled_bins();
        let (w, isyn) = (&drive.w, &drive.isyn);
        let mut dw = vec![0.0; m * m];
        let mut di = vec![0.0; m * t_len];
        let mut da = vec![0.0; m];
        let mut dmu = vec![0.0; m];
        let mut dth = vec![0.0; m];
        for al in 0..m {
            let pg = &pgs[al];
            da[al] += pg.da;
            dmu[al] += pg.dmu + pg.dh;
            dth[al] += pg.dth;
            let am = params.a_mem_hz[al];
            let mut x = 0.0;
            for be in 0..m {
                x += w[be * m + al] * self.a0_hz[be];
                dw[be * m + al] += pg.dh * self.a0_hz[be] / am;
                let mut acc = 0.0;
                for s in 0..t_len {
                    acc += pg.du[s] * isyn[be * t_len + s];
                }
                dw[be * m + al] += acc;
                if gz {
                    let wba = w[be * m + al];
                    for s in 0..t_len {
                        di[be * t_len + s] += pg.du[s] * wba;
                    }
                }
            }
            da[al] -= pg.dh * x / (am * am);
        }
        let mut dj = vec![0.0; m];
        for i in 0..m * m {
            dj[i / m] += dw[i] * self.cfg.conmat[i];
        }
        let mut g = da;
        g.extend_from_slice(&dj);
        g.extend_from_slice(&dmu);
        g.extend_from_slice(&dth);
        (g, gz.then_some(di))
    }

    /// ∂/∂Z `[population, bin]`: the populations' direct terms plus the reverse of
    /// I(s) = e·I(s−1) + (1−e)·Z(A+s−1)/Δ applied to ∂/∂I (`di`).
    fn latent_gradient(&self, drive: &Drive, pgs: &[PopGrad], di: &[f64]) -> Array2<f64> {
        let m = self.cfg.n_populations();
        let a = self.cfg.history_bins;
        let nb = self.rec.n_bins();
        let t_len = nb - a;
        let dt = self.cfg.dt_s;
        let esyn = &drive.esyn;
        let mut out = Array2::zeros((m, nb));
        for p in 0..m {
            let pg = &pgs[p];
            for b in a..nb {
                out[[p, b]] = pg.dz[b];
            }
            let mut carry = 0.0;
            for s in (1..t_len).rev() {
                let g = di[p * t_len + s] + carry;
                out[[p, a + s - 1]] += g * (1.0 - esyn[p]) / dt;
                carry = g * esyn[p];
            }
        }
        out
    }
}
