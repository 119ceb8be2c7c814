//! The latent part of one population: L_Z over the age-structured cohorts (forward sweep)
//! and its exact reverse sweep, built once per SIMD level.

use spikelab_core::fastexp::exp_taylor13;
use spikelab_core::simd::SimdLevel;

use super::NeuLvm;
use super::evaluate::PopGrad;
use super::workspace::{Workspace, scratch, two_rows};
use crate::kernels::{self, PopConst};
use crate::params::{ModelConfig, Params};

/// The value of π in the original Gaussian constant ½·ln(2·3.14) (checklist item 6).
#[allow(clippy::approx_constant)]
const ORIGINAL_PI: f64 = 3.14;

/// Stationary survival S0(s) of the original (`LIFmesoCell.S0`, numpy grid quirks included),
/// and Σ f·dr. S0(0) := 0.
pub(crate) fn stationary_survival(
    cfg: &ModelConfig,
    s: f64,
    h: f64,
    am: f64,
    th: f64,
) -> (f64, f64) {
    if s <= 0.0 {
        return (0.0, f64::INFINITY);
    }
    let n = (s / cfg.s0_step_s) as usize + 1;
    let jf: Vec<f64> = (0..n).map(|j| j as f64).collect();
    let mut buf = vec![0.0; n];
    let sum = kernels::s0_sum(s, cfg.s0_step_s, cfg.ref_t_s, h, am, th, &jf, &mut buf);
    let sv = (-sum).exp();
    // Flush to 0 below 1e-300 (no subnormals in the inner loops).
    (if sv < kernels::FLUSH { 0.0 } else { sv }, sum)
}

/// Initial condition of one population for (h, a_mem, θ): stationary survival S0 of every
/// age and (for a parameter gradient) ∂Σ_k/∂(h, a_mem, θ) of its exponent.
struct S0Table {
    s0: Vec<f64>,
    jac: Option<Vec<[f64; 3]>>,
}

impl NeuLvm {
    /// S0 of every age (and the Jacobian of its exponent) for one population; inlined into
    /// the dispatched population sweep so that it is vectorised with it. `buf`: scratch of at
    /// least 5·(A·Δ/dr + 3).
    ///
    /// The grid of age s is r_j = j·(s/n), n = int(s/dr). Where s/n == dr exactly (every age
    /// of the paper's configuration: s = 4k ms, dr = 1 ms), the grid is the common grid j·dr
    /// cut at n, so Σ_j f(r_j)·dr is a prefix sum of one table of f over the longest grid,
    /// accumulated in the same sequential order as the original's loop; only the end point
    /// f(s) is per age. Other ages are summed directly ([`kernels::s0_sum`]).
    #[inline(always)]
    fn s0_table(&self, h: f64, am: f64, th: f64, jac: bool, buf: &mut [f64]) -> S0Table {
        let a = self.cfg.history_bins;
        let (dr, rt) = (self.cfg.s0_step_s, self.cfg.ref_t_s);
        let nmax = (self.age_grid[a - 1] / dr) as usize + 2;
        let (jf, buf) = buf.split_at_mut(nmax);
        for (j, x) in jf.iter_mut().enumerate() {
            *x = j as f64;
        }
        let jf = &*jf;
        // Per-point values on the common grid, then in-place prefix sums P[m] = Σ_{j<m}.
        let (pf, buf) = buf.split_at_mut(nmax + 1);
        let (pj0, buf) = buf.split_at_mut(nmax + 1);
        let (pj1, buf) = buf.split_at_mut(nmax + 1);
        let pj2 = &mut buf[..nmax + 1];
        kernels::s0_grid_values(dr, rt, h, am, th, jf, &mut pf[1..]);
        if jac {
            kernels::s0_grid_jacobian(
                dr,
                rt,
                h,
                am,
                th,
                jf,
                [&mut pj0[1..], &mut pj1[1..], &mut pj2[1..]],
            );
        }
        for p in [&mut *pf, &mut *pj0, &mut *pj1, &mut *pj2] {
            p[0] = 0.0;
            for m in 1..p.len() {
                p[m] += p[m - 1];
            }
        }
        let mut s0 = vec![0.0; a];
        let mut jv = if jac { vec![[0.0; 3]; a] } else { Vec::new() };
        let mut direct: Vec<f64> = Vec::new();
        for k in 1..a {
            let s = self.age_grid[k];
            if s <= 0.0 {
                continue;
            }
            let (n, step) = kernels::s0_grid(s, dr);
            let common = n > 0 && n < nmax && step == dr;
            let sum = if common {
                pf[n] + kernels::s0_point(s, rt, h, am, th) * dr
            } else {
                direct.resize(4 * (n + 1), 0.0);
                kernels::s0_sum(s, dr, rt, h, am, th, jf, &mut direct)
            };
            let sv = (-sum).exp();
            s0[k] = if sv < kernels::FLUSH { 0.0 } else { sv };
            if jac {
                jv[k] = if common {
                    let e = kernels::s0_point_backward(s, rt, h, am, th, dr);
                    [pj0[n] + e.0, pj1[n] + e.1, pj2[n] + e.2]
                } else {
                    direct.resize(4 * (n + 1), 0.0);
                    kernels::s0_sum_jacobian(s, dr, rt, h, am, th, jf, &mut direct)
                };
            }
        }
        S0Table {
            s0,
            jac: jac.then_some(jv),
        }
    }

    /// Latent part of one population: returns Σ_t nll; accumulates gradients. Runs the
    /// AVX-512, AVX2 or portable build of the same code, as chosen by the model's
    /// [`SimdLevel`] (see [`NeuLvm::with_simd_level`]).
    #[allow(clippy::too_many_arguments)]
    pub(super) fn pop_latent(
        &self,
        al: usize,
        params: &Params,
        h: f64,
        u: &[f64],
        z: &[f64],
        fallback: f64,
        grad: bool,
        gz: bool,
        scale: f64,
        pg: &mut PopGrad,
    ) -> f64 {
        let mut ws = self.pool.take();
        let out = match self.simd {
            #[cfg(target_arch = "x86_64")]
            SimdLevel::Avx512 => {
                // SAFETY: `self.simd` is only ever a supported level (`with_simd_level` checks,
                // `simd::active` never exceeds the detected one), and Avx512 means AVX-512F,
                // AVX2 and FMA.
                unsafe {
                    self.pop_latent_avx512(
                        al, params, h, u, z, fallback, grad, gz, scale, pg, &mut ws,
                    )
                }
            }
            #[cfg(target_arch = "x86_64")]
            SimdLevel::Avx2 => {
                // SAFETY: as above; Avx2 means AVX2 and FMA.
                unsafe {
                    self.pop_latent_avx2(
                        al, params, h, u, z, fallback, grad, gz, scale, pg, &mut ws,
                    )
                }
            }
            _ => self.pop_latent_impl::<false>(
                al, params, h, u, z, fallback, grad, gz, scale, pg, &mut ws,
            ),
        };
        self.pool.put(ws);
        out
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f,fma")]
    #[allow(clippy::too_many_arguments)]
    fn pop_latent_avx512(
        &self,
        al: usize,
        params: &Params,
        h: f64,
        u: &[f64],
        z: &[f64],
        fallback: f64,
        grad: bool,
        gz: bool,
        scale: f64,
        pg: &mut PopGrad,
        ws: &mut Workspace,
    ) -> f64 {
        self.pop_latent_impl::<true>(al, params, h, u, z, fallback, grad, gz, scale, pg, ws)
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma")]
    #[allow(clippy::too_many_arguments)]
    fn pop_latent_avx2(
        &self,
        al: usize,
        params: &Params,
        h: f64,
        u: &[f64],
        z: &[f64],
        fallback: f64,
        grad: bool,
        gz: bool,
        scale: f64,
        pg: &mut PopGrad,
        ws: &mut Workspace,
    ) -> f64 {
        self.pop_latent_impl::<true>(al, params, h, u, z, fallback, grad, gz, scale, pg, ws)
    }

    #[inline(always)]
    #[allow(clippy::too_many_arguments)]
    fn pop_latent_impl<const F: bool>(
        &self,
        al: usize,
        params: &Params,
        h: f64,
        u: &[f64],
        z: &[f64],
        fallback: f64,
        grad: bool,
        gz: bool,
        scale: f64,
        pg: &mut PopGrad,
        ws: &mut Workspace,
    ) -> f64 {
        let a = self.cfg.history_bins;
        let t_len = u.len();
        let dt = self.cfg.dt_s;
        let am = params.a_mem_hz[al];
        let mu = params.mu[al];
        let th = params.theta[al];
        let c = PopConst { dt, mu, am, th };
        let nn = self.cfg.n_neurons[al] as f64;
        let floor = self.cfg.variance_floor * dt / nn;
        let c2pi = if self.cfg.quirks.two_pi_as_6_28 {
            0.5 * (2.0f64 * ORIGINAL_PI).ln()
        } else {
            0.5 * (2.0 * std::f64::consts::PI).ln()
        };
        let refr = &self.refr;
        // Ages below k0 (age 0 and the refractory ones) are done one by one; the rest are
        // non-refractory and go through the vectorised kernels.
        let k0 = self.n_refr.max(1);
        let Workspace {
            tv,
            tl,
            te,
            ts,
            zbar,
            zpre,
            lamt,
            sumv,
            messv,
            lvalid,
            zr,
            dzr,
            vinit,
            ones,
            tmp,
            g,
        } = ws;
        let ns0 = (self.age_grid[a - 1] / self.cfg.s0_step_s) as usize + 2;
        let tmp = scratch(tmp, (4 * a).max(5 * (ns0 + 1)));
        let vinit = scratch(vinit, a);
        let ones = scratch(ones, a);
        ones.fill(1.0);
        for k in 0..a {
            let s = self.age_grid[k];
            vinit[k] = if refr[k] {
                0.0
            } else {
                h * (1.0 - exp_taylor13::<false>(-s * am))
            };
        }
        let table = self.s0_table(h, am, th, grad && pg.gp, tmp);
        let sinit = &table.s0[..];
        let (vinit, ones) = (&*vinit, &*ones);
        // The tape: every step when differentiating, else two alternating rows.
        let rows = if grad { t_len.max(2) } else { 2 };
        let tv = scratch(tv, rows * a);
        let tl = scratch(tl, rows * a);
        let te = scratch(te, rows * a);
        let ts = scratch(ts, rows * a);
        let srow = if grad { t_len } else { 0 };
        let zbar = scratch(zbar, srow);
        let zpre = scratch(zpre, srow);
        let lamt = scratch(lamt, srow);
        let sumv = scratch(sumv, srow);
        let messv = scratch(messv, srow);
        let lvalid = scratch(lvalid, srow);
        // z reversed, so that Z(t−1−k) = zr[nb − t + k] is a forward, contiguous read.
        let nb = z.len();
        let zr = scratch(zr, nb);
        for (d, s) in zr.iter_mut().zip(z.iter().rev()) {
            *d = *s;
        }
        let zr = &*zr;
        let sw = Sweep {
            a,
            t_len,
            nb,
            k0,
            dt,
            c,
            nn,
            floor,
            c2pi,
            fallback,
            scale,
            refr,
            z,
            zr,
            u,
            vinit,
            sinit,
            ones,
        };
        let mut tape = Tape {
            tv,
            tl,
            te,
            ts,
            zbar,
            zpre,
            lamt,
            sumv,
            messv,
            lvalid,
        };
        let nll = forward_sweep::<F>(&sw, &mut tape, tmp, grad);
        if !grad {
            return nll;
        }
        let (mut d, g_v, g_s) = reverse_sweep::<F>(&sw, &tape, g, dzr, tmp, gz, pg);
        // d = (∂θ, ∂μ, ∂a_mem) of the sweep; the initial condition's terms are added to it.
        let mut dh = 0.0;
        if let Some(jac) = table.jac.as_ref().filter(|_| pg.gp) {
            dh = self.initial_condition_adjoint(jac, sinit, g_v, g_s, h, am, &mut d);
        }
        pg.da += d[2];
        pg.dmu += d[1];
        pg.dth += d[0];
        pg.dh += dh;
        nll
    }

    /// Adjoint of the initial condition (stationary V and S of every age, from h, a_mem, θ):
    /// adds its ∂a_mem and ∂θ to `d` = (∂θ, ∂μ, ∂a_mem) and returns ∂h.
    #[inline(always)]
    #[allow(clippy::too_many_arguments)]
    fn initial_condition_adjoint(
        &self,
        jac: &[[f64; 3]],
        sinit: &[f64],
        g_v: &[f64],
        g_s: &[f64],
        h: f64,
        am: f64,
        d: &mut [f64; 3],
    ) -> f64 {
        let refr = &self.refr;
        let mut dh = 0.0;
        let mut d0 = [0.0; 3];
        for k in 0..self.cfg.history_bins {
            let s = self.age_grid[k];
            if !refr[k] {
                let e = exp_taylor13::<false>(-s * am);
                dh += g_v[k] * (1.0 - e);
                d[2] += g_v[k] * h * s * e;
            }
            if k > 0 {
                // S = exp(−Σ): dΣ = −S·dS.
                let dsum = -sinit[k] * g_s[k];
                for (d, j) in d0.iter_mut().zip(jac[k]) {
                    *d += dsum * j;
                }
            }
        }
        d[2] += d0[1];
        d[0] += d0[2];
        dh + d0[0]
    }
}

/// Per-population inputs of a sweep.
#[derive(Clone, Copy)]
struct Sweep<'a> {
    /// Age window A (bins).
    a: usize,
    /// Modelled bins T.
    t_len: usize,
    /// All bins A + T.
    nb: usize,
    /// Ages below k0 (age 0 and the refractory ones) are done one by one.
    k0: usize,
    dt: f64,
    c: PopConst,
    /// Population size N.
    nn: f64,
    /// Variance floor·Δ/N.
    floor: f64,
    /// Gaussian constant ½·ln(2π) (or the original's 2·3.14).
    c2pi: f64,
    /// Λ where Σ v = 0.
    fallback: f64,
    /// 1/(M·T).
    scale: f64,
    refr: &'a [bool],
    /// The latent over all bins.
    z: &'a [f64],
    /// The latent reversed: Z(t−1−k) = zr[nb − t + k].
    zr: &'a [f64],
    /// Drive u(s).
    u: &'a [f64],
    /// Initial V and S of every age.
    vinit: &'a [f64],
    sinit: &'a [f64],
    /// A ones (the initial survival decay factors).
    ones: &'a [f64],
}

/// The forward sweep's record: V, λ, e^{−λΔ}, S of every age and the per-bin quantities of
/// every step when differentiating, else two alternating rows.
struct Tape<'a> {
    tv: &'a mut [f64],
    tl: &'a mut [f64],
    te: &'a mut [f64],
    ts: &'a mut [f64],
    zbar: &'a mut [f64],
    zpre: &'a mut [f64],
    lamt: &'a mut [f64],
    sumv: &'a mut [f64],
    messv: &'a mut [f64],
    lvalid: &'a mut [bool],
}

/// Forward sweep over the modelled bins: cohort update, Z̄ and the Gaussian NLL of Z; returns
/// Σ_t nll and fills the tape.
#[inline(always)]
fn forward_sweep<const F: bool>(
    sw: &Sweep<'_>,
    tape: &mut Tape<'_>,
    tmp: &mut [f64],
    grad: bool,
) -> f64 {
    let Sweep {
        a,
        t_len,
        nb,
        k0,
        dt,
        c,
        nn,
        floor,
        c2pi,
        fallback,
        refr,
        z,
        zr,
        u,
        vinit,
        sinit,
        ones,
        ..
    } = *sw;
    let Tape {
        tv,
        tl,
        te,
        ts,
        zbar,
        zpre,
        lamt,
        sumv,
        messv,
        lvalid,
    } = tape;
    let row_of = |s: usize| if grad { s } else { s % 2 };
    let mut nll = 0.0;
    for s in 0..t_len {
        let t = a + s;
        let cur = row_of(s);
        let prev = if s == 0 { row_of(1) } else { row_of(s - 1) };
        let (pv, cv) = two_rows(tv, a, prev, cur);
        let (pl, cl) = two_rows(tl, a, prev, cur);
        let (pe, ce) = two_rows(te, a, prev, cur);
        let (ps, cs) = two_rows(ts, a, prev, cur);
        let _ = pl;
        let du = dt * u[s];
        let zs = &zr[nb - t..nb - t + a];
        // Age shift: the cohort of age k−1 becomes age k; its survival decays by
        // e^{−λΔ}. Survivals below 1e-300 are flushed to 0 (they contribute < 1e-300 to
        // every sum, and subnormal arithmetic is ~100× slower). At s = 0 the inputs are
        // the stationary initial condition.
        let (vsrc, ssrc, esrc): (&[f64], &[f64], &[f64]) = if s == 0 {
            (&vinit[1..], &sinit[1..], ones)
        } else {
            (pv, ps, pe)
        };
        let mut pre = [0.0; 4];
        for k in 0..k0.min(a) {
            let (vi, sv) = if s == 0 {
                (vinit[k], sinit[k])
            } else if k == 0 {
                (0.0, 1.0)
            } else {
                let sv = ps[k - 1] * pe[k - 1];
                (pv[k - 1], if sv < kernels::FLUSH { 0.0 } else { sv })
            };
            let (vk, lk, e, p) = kernels::cohort(vi, du, refr[k], c);
            cv[k] = vk;
            cl[k] = lk;
            ce[k] = e;
            cs[k] = sv;
            let mk = sv * zs[k];
            let vv = (1.0 - sv) * mk;
            pre[0] += mk * p;
            pre[1] += mk;
            pre[2] += vv * p;
            pre[3] += vv;
        }
        let mut acc = [[0.0; kernels::LANES]; 4];
        kernels::forward_ages::<F>(
            k0,
            vsrc,
            ssrc,
            esrc,
            zs,
            du,
            c,
            [cv, cl, ce, cs],
            &mut tmp[..],
            &mut acc,
        );
        let s_mp = pre[0] + kernels::lane_sum(&acc[0]);
        let s_m = pre[1] + kernels::lane_sum(&acc[1]);
        let s_vp = pre[2] + kernels::lane_sum(&acc[2]);
        let s_v = pre[3] + kernels::lane_sum(&acc[3]);
        let mess = 1.0 - s_m;
        let mut lt = s_vp / s_v;
        let valid = !lt.is_nan();
        if !valid {
            lt = fallback;
        }
        let zp = s_mp + lt * mess;
        let zb = zp.clamp(0.0, 1.0);
        let var = zb / nn + floor;
        let d = z[t] - zb;
        nll += 0.5 * d * d / var + 0.5 * var.ln() + c2pi;
        if grad {
            zbar[s] = zb;
            zpre[s] = zp;
            lamt[s] = lt;
            sumv[s] = s_v;
            messv[s] = mess;
            lvalid[s] = valid;
        }
    }
    nll
}

/// Reverse sweep over the modelled bins. Accumulates ∂/∂u and ∂/∂Z into `pg`; returns
/// (∂θ, ∂μ, ∂a_mem) of the sweep and the adjoints of the initial V and S of every age.
#[inline(always)]
fn reverse_sweep<'g, const F: bool>(
    sw: &Sweep<'_>,
    tape: &Tape<'_>,
    g: &'g mut [Vec<f64>; 4],
    dzr: &mut Vec<f64>,
    tmp: &mut [f64],
    gz: bool,
    pg: &mut PopGrad,
) -> ([f64; 3], &'g [f64], &'g [f64]) {
    let Sweep {
        a,
        t_len,
        nb,
        k0,
        c,
        nn,
        floor,
        scale,
        refr,
        z,
        zr,
        vinit,
        ..
    } = *sw;
    let Tape {
        tv,
        tl,
        te,
        ts,
        zbar,
        zpre,
        lamt,
        sumv,
        messv,
        lvalid,
    } = tape;
    // Reverse sweep. g_v / g_s: adjoints of V_post(s)[k] and S(s+1)[k] from step s+1
    // (read at k+1); n_v / n_s: those of step s.
    let [g_v, g_s, n_v, n_s] = g;
    let mut g_v = &mut scratch(g_v, a + 1)[..];
    let mut g_s = &mut scratch(g_s, a + 1)[..];
    let mut n_v = &mut scratch(n_v, a + 1)[..];
    let mut n_s = &mut scratch(n_s, a + 1)[..];
    for b in [&mut g_v, &mut g_s, &mut n_v, &mut n_s] {
        b.fill(0.0);
    }
    let dzr = scratch(dzr, if gz { nb } else { 0 });
    dzr.fill(0.0);
    let mut acc: kernels::AdjAcc = [[0.0; kernels::LANES]; 4];
    for s in (0..t_len).rev() {
        let t = a + s;
        let zb = zbar[s];
        let var = zb / nn + floor;
        let d = z[t] - zb;
        if gz {
            pg.dz[t] += scale * d / var;
        }
        let dzb = -d / var + (-0.5 * d * d / (var * var) + 0.5 / var) / nn;
        let gpre = if (0.0..=1.0).contains(&zpre[s]) {
            scale * dzb
        } else {
            0.0
        };
        let lt = lamt[s];
        let dmess = gpre * lt;
        let dlam_t = gpre * messv[s];
        let (dnv, ddv) = if lvalid[s] {
            (dlam_t / sumv[s], -dlam_t * lt / sumv[s])
        } else {
            (0.0, 0.0)
        };
        let st = kernels::AdjStep {
            gpre,
            dmess,
            dnv,
            ddv,
        };
        let cur = s * a..s * a + a;
        let tape = [
            &tv[cur.clone()],
            &tl[cur.clone()],
            &te[cur.clone()],
            &ts[cur],
        ];
        let vsrc: &[f64] = if s == 0 {
            &vinit[1..]
        } else {
            &tv[(s - 1) * a..s * a]
        };
        let zs = &zr[nb - t..nb - t + a];
        for k in 0..k0.min(a) {
            let vin = if s == 0 {
                vinit[k]
            } else if k == 0 {
                0.0
            } else {
                vsrc[k - 1]
            };
            let (gv, gs, dzk) = kernels::cohort_adjoint(
                (tape[0][k], tape[1][k], tape[2][k], tape[3][k]),
                vin,
                zs[k],
                g_v[k + 1],
                g_s[k + 1],
                refr[k],
                st,
                c,
                &mut acc,
                k % kernels::LANES,
            );
            n_v[k] = gv;
            n_s[k] = gs;
            if gz {
                dzr[nb - t + k] += dzk;
            }
        }
        let dzs = if gz {
            Some(&mut dzr[nb - t..nb - t + a])
        } else {
            None
        };
        kernels::adjoint_ages(
            k0,
            tape,
            vsrc,
            zs,
            [&*g_v, &*g_s],
            [&mut *n_v, &mut *n_s],
            dzs,
            &mut tmp[..],
            st,
            c,
            &mut acc,
        );
        pg.du[s] += kernels::lane_sum(&acc[3]);
        acc[3] = [0.0; kernels::LANES];
        std::mem::swap(&mut g_v, &mut n_v);
        std::mem::swap(&mut g_s, &mut n_s);
    }
    if gz {
        // dzr[nb − t + k] holds ∂Z(t−1−k); the history bins are dropped by the caller.
        for (b, d) in pg.dz.iter_mut().enumerate() {
            *d += dzr[nb - 1 - b];
        }
    }
    let d = [
        kernels::lane_sum(&acc[0]),
        kernels::lane_sum(&acc[1]),
        kernels::lane_sum(&acc[2]),
    ];
    // g_v[k], g_s[k] now hold the adjoints of the initial V_k and S_k.
    let (g_v, g_s): (&'g [f64], &'g [f64]) = (g_v, g_s);
    (d, g_v, g_s)
}
