//! The neuLVM objective L_y + L_Z written a second time, with candle tensor ops (f64), so
//! that candle's autograd (`Tensor::backward`) gives a gradient independent of the hand-written
//! adjoint of [`NeuLvm::gradient`]. Feature `candle`. It covers the no-input model with the
//! default quirks. `tests/candle_autograd.rs` checks that both agree (loss 3e-15, gradients
//! ≤ 1e-13 relative on the bundled data); `examples/candle_autograd.rs` times both.
//!
//! ```
//! use candle_core::{Device, Var};
//! use spikelab_neulvm::{LambdaFallback, Params, Wrt, autograd};
//! let model = spikelab_datasets::neulvm::model()?;
//! let params = Params::winner_take_all_ground_truth();
//! let z = model.initial_latent(0.4)?;
//! let dev = Device::Cpu;
//! let c = autograd::consts(&model, &dev)?;
//! let theta = Var::from_vec(params.to_vec(), 12, &dev)?;
//! let zv = Var::from_vec(z.iter().copied().collect::<Vec<_>>(), z.dim(), &dev)?;
//! let (ly, lz) = autograd::objective(&c, theta.as_tensor(), zv.as_tensor())?;
//! let total = (ly + lz)?;
//! let grads = total.backward()?;
//! let ours = model.gradient(&params, z.view(), LambdaFallback::MStep, Wrt::Params)?;
//! let g_theta = grads.get(theta.as_tensor()).expect("θ is in the graph").to_vec1::<f64>()?;
//! let ours_theta = ours.params.expect("requested");
//! for (a, b) in g_theta.iter().zip(&ours_theta) {
//!     assert!((a - b).abs() <= 1e-8 * b.abs().max(1.0), "{a} vs {b}");
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use candle_core::{D, DType, Device, Tensor};

use crate::NeuLvm;
use crate::error::{NeulvmError, Result};

/// Everything the candle graph needs that does not depend on (θ, Z).
pub struct Consts {
    m: usize,
    a: usize,
    t_len: usize,
    nb: usize,
    dt: f64,
    /// A0 per population (Hz), `[M]`.
    a0: Tensor,
    /// History part of the latent, A0·Δ, `[M, A]`.
    z_hist: Tensor,
    /// `conmat` `[M, M]` (row = presynaptic).
    conmat: Tensor,
    esyn: Tensor,
    n_neurons: Tensor,
    floor: Tensor,
    /// 1 where the cohort is not refractory, `[1, A]`.
    not_refr: Tensor,
    refr_mask: Tensor,
    /// Age grid `[1, A]` (s).
    age_grid: Tensor,
    /// S0 quadrature: nodes `[1, A, J]` and validity mask `[1, A, J]`.
    s0_r: Tensor,
    s0_mask: Tensor,
    /// Cohort 0 (age 0) has S0 = 0: multiplier `[1, A]`.
    s0_keep: Tensor,
    s0_step: f64,
    /// Recorded neurons: initial age (s) `[M, K]`, refractory-at-start mask.
    rec_age0_s: Tensor,
    rec_notrefr0: Tensor,
    /// Per modelled bin: spike mask `[M, K]` (u8) and refractory mask `[M, K]` (u8).
    rec_y: Vec<Tensor>,
    rec_refr: Vec<Tensor>,
    c2pi: f64,
}

/// The constants of `model`'s graph on `dev`. Errors for a model with external input or with
/// non-default quirks ([`NeulvmError::Config`]).
pub fn consts(model: &NeuLvm, dev: &Device) -> Result<Consts> {
    let cfg = model.config();
    let rec = model.recording();
    if rec.input().is_some() {
        return Err(NeulvmError::Config(
            "the candle objective covers the no-input model".into(),
        ));
    }
    let q = &cfg.quirks;
    if !(q.silent_history_age_zero && q.refractory_logp_uses_theta && q.two_pi_as_6_28) {
        return Err(NeulvmError::Config(
            "the candle objective covers the default quirks".into(),
        ));
    }
    let m = cfg.n_populations();
    let a = cfg.history_bins;
    let nb = rec.n_bins();
    let t_len = nb - a;
    let dt = cfg.dt_s;
    let k_rec = rec.n_recorded();
    let a0: Vec<f64> = model.initial_rate_hz().to_vec();
    let z_hist: Vec<f64> = (0..m)
        .flat_map(|p| std::iter::repeat_n(a0[p] * dt, a))
        .collect();
    let step = (a as f64 * dt) / a as f64;
    let grid: Vec<f64> = (0..a).map(|i| i as f64 * step).collect();
    let refr: Vec<bool> = grid.iter().map(|&s| s < cfg.ref_t_s).collect();
    // S0 quadrature nodes, as `stationary_survival`: n = ⌊s/δ⌋, r_j = j·s/n, r_n = s.
    let dr = cfg.s0_step_s;
    let jmax = grid
        .iter()
        .map(|&s| (s / dr) as usize + 1)
        .max()
        .unwrap_or(1);
    let mut r = vec![0.0; a * jmax];
    let mut mask = vec![0.0; a * jmax];
    for (k, &s) in grid.iter().enumerate() {
        if s <= 0.0 {
            continue;
        }
        let n = (s / dr) as usize;
        let st = if n > 0 { s / n as f64 } else { 0.0 };
        for j in 0..=n {
            let rj = if n == 0 {
                0.0
            } else if j == n {
                s
            } else {
                j as f64 * st
            };
            r[k * jmax + j] = rj;
            mask[k * jmax + j] = if rj < cfg.ref_t_s { 0.0 } else { 1.0 };
        }
    }
    let spikes = rec.spikes();
    let mut age0 = vec![0.0; m * k_rec];
    let mut notrefr0 = vec![0.0; m * k_rec];
    let mut age = vec![0usize; m * k_rec];
    for p in 0..m {
        for i in 0..k_rec {
            let last = (0..a).rev().find(|&b| spikes[[p, b, i]] == 1);
            let ag = last.map_or(0, |b| a - 1 - b);
            age[p * k_rec + i] = ag;
            age0[p * k_rec + i] = dt * ag as f64;
            notrefr0[p * k_rec + i] = if dt * (ag as f64) < cfg.ref_t_s {
                0.0
            } else {
                1.0
            };
        }
    }
    let mut rec_y = Vec::with_capacity(t_len);
    let mut rec_refr = Vec::with_capacity(t_len);
    for s in 0..t_len {
        let mut y = vec![0u8; m * k_rec];
        let mut rf = vec![0u8; m * k_rec];
        for p in 0..m {
            for i in 0..k_rec {
                let j = p * k_rec + i;
                rf[j] = u8::from((age[j] as f64) * dt < cfg.ref_t_s);
                y[j] = spikes[[p, a + s, i]];
                if y[j] == 1 {
                    age[j] = 0;
                } else {
                    age[j] += 1;
                }
            }
        }
        rec_y.push(Tensor::from_vec(y, (m, k_rec), dev)?);
        rec_refr.push(Tensor::from_vec(rf, (m, k_rec), dev)?);
    }
    let nn: Vec<f64> = cfg.n_neurons.iter().map(|&n| n as f64).collect();
    let floor: Vec<f64> = nn.iter().map(|n| cfg.variance_floor * dt / n).collect();
    let esyn: Vec<f64> = cfg.a_syn_hz.iter().map(|s| (-dt * s).exp()).collect();
    let not_refr: Vec<f64> = refr.iter().map(|&r| if r { 0.0 } else { 1.0 }).collect();
    let refr_u8: Vec<u8> = refr.iter().map(|&r| u8::from(r)).collect();
    let keep: Vec<f64> = grid
        .iter()
        .map(|&s| if s <= 0.0 { 0.0 } else { 1.0 })
        .collect();
    Ok(Consts {
        m,
        a,
        t_len,
        nb,
        dt,
        a0: Tensor::from_vec(a0, m, dev)?,
        z_hist: Tensor::from_vec(z_hist, (m, a), dev)?,
        conmat: Tensor::from_vec(cfg.conmat.clone(), (m, m), dev)?,
        esyn: Tensor::from_vec(esyn, m, dev)?,
        n_neurons: Tensor::from_vec(nn, m, dev)?,
        floor: Tensor::from_vec(floor, m, dev)?,
        not_refr: Tensor::from_vec(not_refr, (1, a), dev)?,
        refr_mask: Tensor::from_vec(refr_u8, (1, a), dev)?,
        age_grid: Tensor::from_vec(grid, (1, a), dev)?,
        s0_r: Tensor::from_vec(r, (1, a, jmax), dev)?,
        s0_mask: Tensor::from_vec(mask, (1, a, jmax), dev)?,
        s0_keep: Tensor::from_vec(keep, (1, a), dev)?,
        s0_step: dr,
        rec_age0_s: Tensor::from_vec(age0, (m, k_rec), dev)?,
        rec_notrefr0: Tensor::from_vec(notrefr0, (m, k_rec), dev)?,
        rec_y,
        rec_refr,
        // The original's Gaussian constant uses 3.14 for π (spec quirk, kept by default).
        #[allow(clippy::approx_constant)]
        c2pi: 0.5 * (2.0f64 * 3.14).ln(),
    })
}

/// `x < c` as a u8 mask.
fn below(x: &Tensor, c: f64) -> Result<Tensor> {
    Ok(x.lt(&x.ones_like()?.affine(c, 0.0)?)?)
}

/// L_y + L_Z as a candle graph of `theta` (`[12]`: a_mem, J, μ, θ) and `z` (`[M, A + T]`).
pub fn objective(c: &Consts, theta: &Tensor, z: &Tensor) -> Result<(Tensor, Tensor)> {
    let (m, a, t_len, dt) = (c.m, c.a, c.t_len, c.dt);
    let am = theta.narrow(0, 0, m)?;
    let j = theta.narrow(0, m, m)?;
    let mu = theta.narrow(0, 2 * m, m)?;
    let th = theta.narrow(0, 3 * m, m)?;
    let col = |x: &Tensor| x.unsqueeze(1);
    let (am_c, mu_c, th_c) = (col(&am)?, col(&mu)?, col(&th)?);
    // W[β→α] = J_β·conmat[β][α]; h = μ + Wᵀ·A0 / a_mem.
    let w = c.conmat.broadcast_mul(&col(&j)?)?;
    let wa0 = c.a0.unsqueeze(0)?.matmul(&w)?.squeeze(0)?;
    let h = (&mu + wa0.div(&am)?)?;
    let h_c = col(&h)?;
    // Latent with the history overwritten; reversed copy for the cohort windows.
    let zc = Tensor::cat(&[&c.z_hist, &z.narrow(1, a, t_len)?], 1)?;
    let rev: Vec<u32> = (0..c.nb as u32).rev().collect();
    let zr = zc.index_select(&Tensor::new(rev.as_slice(), z.device())?, 1)?;
    // Stationary initial condition.
    let one_minus = |x: Tensor| -> Result<Tensor> { Ok(x.neg()?.exp()?.affine(-1.0, 1.0)?) };
    let mut vin = h_c
        .broadcast_mul(&one_minus(c.age_grid.broadcast_mul(&am_c)?)?)?
        .broadcast_mul(&c.not_refr)?;
    let am3 = am.reshape((m, 1, 1))?;
    let vt = h
        .reshape((m, 1, 1))?
        .broadcast_mul(&one_minus(c.s0_r.broadcast_mul(&am3)?)?)?;
    let f = vt
        .broadcast_sub(&th.reshape((m, 1, 1))?)?
        .exp()?
        .broadcast_mul(&c.s0_mask)?;
    let mut sk = f
        .sum(D::Minus1)?
        .affine(-c.s0_step, 0.0)?
        .exp()?
        .broadcast_mul(&c.s0_keep)?;
    let sk0 = sk.clone();
    sk = below(&sk0, 1e-300)?.where_cond(&sk0.zeros_like()?, &sk0)?;
    // Recorded neurons' initial potentials.
    let mut vrec = h_c
        .broadcast_mul(&one_minus(c.rec_age0_s.broadcast_mul(&am_c)?)?)?
        .mul(&c.rec_notrefr0)?;
    let dev = z.device();
    let zero_col = Tensor::zeros((m, 1), DType::F64, dev)?;
    let one_col = Tensor::ones((m, 1), DType::F64, dev)?;
    let tiny = Tensor::full(1e-8, (m, a), dev)?;
    let tiny_rec = Tensor::full(1e-8, c.rec_y[0].dims(), dev)?;
    let zeros_rec = Tensor::zeros(c.rec_y[0].dims(), DType::F64, dev)?;
    let refr_ma = c.refr_mask.broadcast_as((m, a))?;
    let ln_dt = dt.ln();
    let mut cur = c.a0.clone();
    let mut v = vin.clone();
    let mut ee = vin.clone();
    let mut nll_terms = Vec::with_capacity(t_len);
    let mut lny_terms = Vec::with_capacity(t_len);
    for s in 0..t_len {
        let t = a + s;
        if s > 0 {
            cur = (c.esyn.mul(&cur)?
                + c.esyn
                    .affine(-1.0, 1.0)?
                    .mul(&zc.narrow(1, t - 1, 1)?.squeeze(1)?.affine(1.0 / dt, 0.0)?)?)?;
            vin = Tensor::cat(&[&zero_col, &v.narrow(1, 0, a - 1)?], 1)?;
            let sv = sk.mul(&ee)?.narrow(1, 0, a - 1)?;
            let sv = below(&sv, 1e-300)?.where_cond(&sv.zeros_like()?, &sv)?;
            sk = Tensor::cat(&[&one_col, &sv], 1)?;
        }
        let u = cur.unsqueeze(0)?.matmul(&w)?.squeeze(0)?;
        let du_c = col(&u.affine(dt, 0.0)?)?;
        // Cohorts.
        let vk = (&vin
            + mu_c
                .broadcast_sub(&vin)?
                .broadcast_mul(&am_c)?
                .affine(dt, 0.0)?)?
        .broadcast_add(&du_c)?
        .broadcast_mul(&c.not_refr)?;
        let lam = refr_ma.where_cond(&tiny, &vk.broadcast_sub(&th_c)?.exp()?)?;
        let x = lam.affine(dt, 0.0)?;
        ee = x.neg()?.exp()?;
        let p = below(&x, 0.01)?.where_cond(&x, &ee.affine(-1.0, 1.0)?)?;
        v = vk;
        let zs = zr.narrow(1, c.nb - t, a)?;
        let mk = sk.mul(&zs)?;
        let vv = sk.affine(-1.0, 1.0)?.mul(&mk)?;
        let s_mp = mk.mul(&p)?.sum(1)?;
        let s_m = mk.sum(1)?;
        let s_vp = vv.mul(&p)?.sum(1)?;
        let s_v = vv.sum(1)?;
        let lt = s_vp.div(&s_v)?;
        let zp = (s_mp + lt.mul(&s_m.affine(-1.0, 1.0)?)?)?;
        let zb = zp.clamp(0.0, 1.0)?;
        let var = (zb.div(&c.n_neurons)? + &c.floor)?;
        let d = (zc.narrow(1, t, 1)?.squeeze(1)? - &zb)?;
        let nll = (d.sqr()?.div(&var)?.affine(0.5, 0.0)? + var.log()?.affine(0.5, c.c2pi)?)?;
        nll_terms.push(nll.sum_all()?);
        // Recorded neurons of every population (same drive u).
        let refr = &c.rec_refr[s];
        let vr = (&vrec
            + mu_c
                .broadcast_sub(&vrec)?
                .broadcast_mul(&am_c)?
                .affine(dt, 0.0)?)?
        .broadcast_add(&du_c)?;
        let vr = refr.where_cond(&zeros_rec, &vr)?;
        let lam_r = refr.where_cond(&tiny_rec, &vr.broadcast_sub(&th_c)?.exp()?)?;
        let xr = lam_r.affine(dt, 0.0)?;
        // Both branches of a `where_cond` are differentiated: feed the log branch a safe
        // dummy where it is not selected, or ∂ln(1 − e^{−x}) at x ≈ 0 gives 0·∞ = NaN.
        let small = below(&xr, 0.01)?;
        let x_safe = small.where_cond(&xr.ones_like()?, &xr)?;
        let lp1 = small.where_cond(
            &vr.broadcast_sub(&th_c)?.affine(1.0, ln_dt)?,
            &x_safe.neg()?.exp()?.affine(-1.0, 1.0)?.log()?,
        )?;
        let y = &c.rec_y[s];
        lny_terms.push(y.where_cond(&lp1, &xr.neg()?)?.sum_all()?);
        vrec = y.where_cond(&zeros_rec, &vr)?;
    }
    let scale = 1.0 / (m * t_len) as f64;
    let loss_z = Tensor::stack(&nll_terms, 0)?
        .sum_all()?
        .affine(scale, 0.0)?;
    let loss_y = Tensor::stack(&lny_terms, 0)?
        .sum_all()?
        .affine(-scale, 0.0)?;
    Ok((loss_y, loss_z))
}
