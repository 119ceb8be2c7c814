//! The recorded neurons of one population: L_y and its reverse sweep.

use spikelab_core::fastexp::exp_taylor13;

use super::NeuLvm;
use super::evaluate::PopGrad;
use crate::params::Params;

impl NeuLvm {
    /// Recorded neurons of one population: returns Σ ln p(y); accumulates gradients.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn pop_recorded(
        &self,
        al: usize,
        params: &Params,
        h: f64,
        u: &[f64],
        grad: bool,
        scale: f64,
        pg: &mut PopGrad,
    ) -> f64 {
        let a = self.cfg.history_bins;
        let t_len = u.len();
        let dt = self.cfg.dt_s;
        let ln_dt = dt.ln();
        let am = params.a_mem_hz[al];
        let mu = params.mu[al];
        let th = params.theta[al];
        let quirk3 = self.cfg.quirks.refractory_logp_uses_theta;
        let k_rec = self.rec.n_recorded();
        let spikes = self.rec.spikes.slice(ndarray::s![al, .., ..]);
        let mut total = 0.0;
        let w = -scale; // d(L)/d(ln p)
        for i in 0..k_rec {
            let age0 = self.rec_age0[al][i];
            let age0_s = dt * age0 as f64;
            let r0 = age0_s < self.cfg.ref_t_s;
            let vinit = if r0 {
                0.0
            } else {
                h * (1.0 - exp_taylor13::<false>(-age0_s * am))
            };
            let mut vin = vinit;
            let mut age = age0;
            let mut tape_v = if grad {
                Vec::with_capacity(t_len)
            } else {
                Vec::new()
            };
            let mut tape_vin = if grad {
                Vec::with_capacity(t_len)
            } else {
                Vec::new()
            };
            let mut tape_r = if grad {
                Vec::with_capacity(t_len)
            } else {
                Vec::new()
            };
            for s in 0..t_len {
                let refr = (age as f64) * dt < self.cfg.ref_t_s;
                let mut v = vin + dt * (mu - vin) * am + dt * u[s];
                if refr {
                    v = 0.0;
                }
                let lam = if v == 0.0 {
                    1e-8
                } else {
                    exp_taylor13::<false>(v - th)
                };
                let x = lam * dt;
                let y = spikes[[a + s, i]] == 1;
                if y {
                    total += if x < 0.01 {
                        if v == 0.0 && !quirk3 {
                            (1e-8 * dt).ln()
                        } else {
                            v - th + ln_dt
                        }
                    } else {
                        (1.0 - (-x).exp()).ln()
                    };
                } else {
                    total -= x;
                }
                if grad {
                    tape_v.push(v);
                    tape_vin.push(vin);
                    tape_r.push(refr);
                }
                if y {
                    age = 0;
                    vin = 0.0;
                } else {
                    age += 1;
                    vin = v;
                }
            }
            if !grad {
                continue;
            }
            let mut gnext = 0.0; // adjoint of V_post(s) from step s+1
            for s in (0..t_len).rev() {
                let v = tape_v[s];
                let y = spikes[[a + s, i]] == 1;
                let lam = if v == 0.0 {
                    1e-8
                } else {
                    exp_taylor13::<false>(v - th)
                };
                let x = lam * dt;
                let mut dv = gnext;
                let mut gx = 0.0;
                if y {
                    if x < 0.01 {
                        if v != 0.0 || quirk3 {
                            dv += w;
                            pg.dth -= w;
                        }
                    } else {
                        let e = (-x).exp();
                        gx += w * e / (1.0 - e);
                    }
                } else {
                    gx -= w;
                }
                if v != 0.0 {
                    dv += gx * x;
                    pg.dth -= gx * x;
                }
                let dvin = if tape_r[s] {
                    0.0
                } else {
                    pg.dmu += dv * dt * am;
                    pg.da += dv * dt * (mu - tape_vin[s]);
                    pg.du[s] += dv * dt;
                    dv * (1.0 - dt * am)
                };
                gnext = if s > 0 && spikes[[a + s - 1, i]] == 1 {
                    0.0
                } else {
                    dvin
                };
                if s == 0 && !r0 {
                    let e = exp_taylor13::<false>(-age0_s * am);
                    pg.dh += dvin * (1.0 - e);
                    pg.da += dvin * h * age0_s * e;
                }
            }
        }
        total
    }
}
