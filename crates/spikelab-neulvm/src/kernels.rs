//! Inner loops of the latent part of one population: the forward step over the age window,
//! its adjoint, and the stationary survival S0 with its adjoint.
//!
//! Every loop is written as independent lanes of [`LANES`] elements with per-lane
//! accumulators, branch-free (selects) and with the table-free [`exp_taylor13`], so that LLVM
//! vectorises it. The functions are `#[inline(always)]`: they are compiled into the
//! population sweep of `model.rs`, which exists in a portable, an AVX2+FMA and an
//! AVX-512F+FMA build chosen at run time by `spikelab_core::simd` (override:
//! `SPIKELAB_SIMD`). The order of every floating-point operation (lanes included) is fixed by
//! the source, not by the instruction set. The portable build has no FMA; the AVX builds use
//! fused multiply-adds inside the exponentials (`F = true`), so they give the same bits as
//! each other but differ from the portable build in the last bits.

use spikelab_core::fastexp::exp_taylor13;

/// Lanes of the accumulators (8 = one AVX-512 or two AVX2 registers).
pub(crate) const LANES: usize = 8;

/// Survivals below this are flushed to 0 (no subnormal arithmetic; < 1e-300 on every sum).
pub(crate) const FLUSH: f64 = 1e-300;

/// Constants of one population: Δ, μ, a_mem, θ.
#[derive(Clone, Copy)]
pub(crate) struct PopConst {
    pub dt: f64,
    pub mu: f64,
    pub am: f64,
    pub th: f64,
}

/// One cohort of the forward step: membrane update from `vi`, hazard λ, e^{−λΔ}, bin
/// probability P. `refr` holds the cohort at V = 0.
#[inline(always)]
pub(crate) fn cohort(vi: f64, du: f64, refr: bool, c: PopConst) -> (f64, f64, f64, f64) {
    let vk = vi + c.dt * (c.mu - vi) * c.am + du;
    let vk = if refr { 0.0 } else { vk };
    let l = exp_taylor13::<false>(vk - c.th);
    let l = if vk == 0.0 { 1e-8 } else { l };
    let x = l * c.dt;
    let e = exp_taylor13::<false>(-x);
    let p = if x < 0.01 { x } else { 1.0 - e };
    (vk, l, e, p)
}

/// Sums of one forward step: Σ P m, Σ m, Σ P v, Σ v.
pub(crate) type StepSums = [[f64; LANES]; 4];

/// Forward step for the non-refractory ages `k0..a` (k0 ≥ 1): the cohort of age k comes from
/// age k−1 of the previous step (`vprev`, `sprev`, `eprev` at index k−1), its survival decays
/// by e^{−λΔ} (flushed below [`FLUSH`]). Writes V, λ, e^{−λΔ}, S of the new step and adds the
/// four sums into `acc`. `zs[k]` = Z(t−1−k); `pbuf` (≥ a − k0) is scratch for P.
///
/// `F`: fused multiply-adds in the exponentials (only from code compiled with `fma`).
///
/// Two passes: an element-wise one (no reduction, so the loop vectoriser takes it whole) and
/// the lane-wise sums.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
pub(crate) fn forward_ages<const F: bool>(
    k0: usize,
    vprev: &[f64],
    sprev: &[f64],
    eprev: &[f64],
    zs: &[f64],
    du: f64,
    c: PopConst,
    out: [&mut [f64]; 4],
    pbuf: &mut [f64],
    acc: &mut StepSums,
) {
    let [v, lam, ee, sk] = out;
    let a = v.len();
    if k0 >= a {
        return;
    }
    let n = a - k0;
    let (vp, sp, ep) = (
        &vprev[k0 - 1..k0 - 1 + n],
        &sprev[k0 - 1..k0 - 1 + n],
        &eprev[k0 - 1..k0 - 1 + n],
    );
    let (v, lam, ee, sk, pb) = (
        &mut v[k0..k0 + n],
        &mut lam[k0..k0 + n],
        &mut ee[k0..k0 + n],
        &mut sk[k0..k0 + n],
        &mut pbuf[..n],
    );
    // Two loops with one exponential each (the same operations as [`cohort`]): shorter
    // dependency chains per iteration, so more iterations overlap.
    for k in 0..n {
        let sv = sp[k] * ep[k];
        sk[k] = if sv < FLUSH { 0.0 } else { sv };
        let vi = vp[k];
        let vk = vi + c.dt * (c.mu - vi) * c.am + du;
        let l = exp_taylor13::<F>(vk - c.th);
        v[k] = vk;
        lam[k] = if vk == 0.0 { 1e-8 } else { l };
    }
    for k in 0..n {
        let x = lam[k] * c.dt;
        let e = exp_taylor13::<F>(-x);
        ee[k] = e;
        pb[k] = if x < 0.01 { x } else { 1.0 - e };
    }
    let (sk, pb, zz) = (&*sk, &*pb, &zs[k0..k0 + n]);
    let nc = n / LANES * LANES;
    for c0 in (0..nc).step_by(LANES) {
        let (s8, p8, z8) = (lanes(sk, c0), lanes(pb, c0), lanes(zz, c0));
        for l in 0..LANES {
            let mk = s8[l] * z8[l];
            let vv = (1.0 - s8[l]) * mk;
            acc[0][l] += mk * p8[l];
            acc[1][l] += mk;
            acc[2][l] += vv * p8[l];
            acc[3][l] += vv;
        }
    }
    for k in nc..n {
        let l = k - nc;
        let mk = sk[k] * zz[k];
        let vv = (1.0 - sk[k]) * mk;
        acc[0][l] += mk * pb[k];
        acc[1][l] += mk;
        acc[2][l] += vv * pb[k];
        acc[3][l] += vv;
    }
}

/// Per-step scalars of the adjoint.
#[derive(Clone, Copy)]
pub(crate) struct AdjStep {
    /// ∂L/∂Z̄_pre (0 where the clip was active).
    pub gpre: f64,
    /// ∂L/∂(1 − Σm) = gpre·Λ.
    pub dmess: f64,
    /// ∂L/∂(Σ P v) = ∂L/∂Λ / Σv (0 for the fallback).
    pub dnv: f64,
    /// ∂L/∂(Σ v) from Λ = ΣPv/Σv.
    pub ddv: f64,
}

/// Lane accumulators of the adjoint: ∂θ, ∂μ, ∂a_mem (whole sweep) and ∂u (one step).
pub(crate) type AdjAcc = [[f64; LANES]; 4];

/// Element-wise adjoint of one cohort given its tape (V, λ, e, S) and input potential `vin`:
/// (∂V_in, ∂S, ∂Z, −∂θ term, ∂V_post, ∂a_mem term).
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn adjoint_one(
    tape: (f64, f64, f64, f64),
    vin: f64,
    zk: f64,
    gvn: f64,
    gsn: f64,
    refr: bool,
    st: AdjStep,
    c: PopConst,
) -> [f64; 6] {
    let (v, lam, e, sk) = tape;
    let x = lam * c.dt;
    let small = x < 0.01;
    let p = if small { x } else { 1.0 - e };
    let mk = sk * zk;
    let vk = (1.0 - sk) * mk;
    let base = st.gpre * p - st.dmess;
    let dv = st.dnv * p + st.ddv;
    let d_s = zk * base + dv * zk * (1.0 - 2.0 * sk) + gsn * e;
    let de = gsn * sk;
    let dz = sk * base + dv * sk * (1.0 - sk);
    let dp = st.gpre * mk + st.dnv * vk;
    let dx = dp * if small { 1.0 } else { e } - de * e;
    let dl = dx * c.dt;
    let dll = if v != 0.0 { dl * lam } else { 0.0 };
    let dvv = gvn + dll;
    let dvv = if refr { 0.0 } else { dvv };
    [
        dvv * (1.0 - c.dt * c.am),
        d_s,
        dz,
        dll,
        dvv,
        dvv * c.dt * (c.mu - vin),
    ]
}

/// Adjoint of one cohort (scalar path): returns (∂V_in, ∂S, ∂Z); adds ∂θ, ∂μ, ∂a, ∂u to
/// `acc` lane `l`.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
pub(crate) fn cohort_adjoint(
    tape: (f64, f64, f64, f64),
    vin: f64,
    zk: f64,
    gvn: f64,
    gsn: f64,
    refr: bool,
    st: AdjStep,
    c: PopConst,
    acc: &mut AdjAcc,
    l: usize,
) -> (f64, f64, f64) {
    let r = adjoint_one(tape, vin, zk, gvn, gsn, refr, st, c);
    adjoint_accumulate(acc, l, r[3], r[4], r[5], c);
    (r[0], r[1], r[2])
}

#[inline(always)]
fn adjoint_accumulate(acc: &mut AdjAcc, l: usize, dll: f64, dvv: f64, dam: f64, c: PopConst) {
    acc[0][l] -= dll;
    acc[1][l] += dvv * c.dt * c.am;
    acc[2][l] += dam;
    acc[3][l] += dvv * c.dt;
}

/// Adjoint of one forward step for the non-refractory ages `k0..a` (k0 ≥ 1). `tape` = the
/// step's (V, λ, e, S) rows; `vsrc[k−1]` = the input potential of age k; `zs[k]` = Z(t−1−k);
/// `gnext` = adjoints (V, S) from the later step, read at k+1; writes this step's adjoints of
/// the input V and of S into `gout` and adds ∂Z(t−1−k) into `dzs[k]` (when given). `tmp`
/// (≥ 4·(a − k0)) is scratch.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
pub(crate) fn adjoint_ages(
    k0: usize,
    tape: [&[f64]; 4],
    vsrc: &[f64],
    zs: &[f64],
    gnext: [&[f64]; 2],
    gout: [&mut [f64]; 2],
    dzs: Option<&mut [f64]>,
    tmp: &mut [f64],
    st: AdjStep,
    c: PopConst,
    acc: &mut AdjAcc,
) {
    let [tv, tl, te, ts] = tape;
    let a = tv.len();
    if k0 >= a {
        return;
    }
    let n = a - k0;
    let (tv, tl, te, ts) = (
        &tv[k0..k0 + n],
        &tl[k0..k0 + n],
        &te[k0..k0 + n],
        &ts[k0..k0 + n],
    );
    let vs = &vsrc[k0 - 1..k0 - 1 + n];
    let zz = &zs[k0..k0 + n];
    let (gvn, gsn) = (&gnext[0][k0 + 1..k0 + 1 + n], &gnext[1][k0 + 1..k0 + 1 + n]);
    let [nv, ns] = gout;
    let (nv, ns) = (&mut nv[k0..k0 + n], &mut ns[k0..k0 + n]);
    let (t_dll, rest) = tmp.split_at_mut(n);
    let t_dvv = &mut rest[..n];
    let inp = AdjIn {
        tape: [tv, tl, te, ts],
        vs,
        zz,
        gnext: [gvn, gsn],
    };
    match dzs {
        Some(dz) => adjoint_pass::<true>(&inp, nv, ns, &mut dz[k0..k0 + n], t_dll, t_dvv, st, c),
        None => adjoint_pass::<false>(&inp, nv, ns, &mut [], t_dll, t_dvv, st, c),
    }
    let (t_dll, t_dvv) = (&*t_dll, &*t_dvv);
    let nc = n / LANES * LANES;
    for c0 in (0..nc).step_by(LANES) {
        let (x, y, v) = (lanes(t_dll, c0), lanes(t_dvv, c0), lanes(vs, c0));
        for l in 0..LANES {
            let dam = y[l] * c.dt * (c.mu - v[l]);
            adjoint_accumulate(acc, l, x[l], y[l], dam, c);
        }
    }
    for k in nc..n {
        let dam = t_dvv[k] * c.dt * (c.mu - vs[k]);
        adjoint_accumulate(acc, k - nc, t_dll[k], t_dvv[k], dam, c);
    }
}

/// Inputs of [`adjoint_pass`], all of the same length.
struct AdjIn<'a> {
    tape: [&'a [f64]; 4],
    vs: &'a [f64],
    zz: &'a [f64],
    gnext: [&'a [f64]; 2],
}

/// Element-wise pass of [`adjoint_ages`]: adjoints of V_in and S, ∂Z added into `dz` when
/// `GZ`, and the two per-element terms the lane sums need.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn adjoint_pass<const GZ: bool>(
    inp: &AdjIn<'_>,
    nv: &mut [f64],
    ns: &mut [f64],
    dz: &mut [f64],
    t_dll: &mut [f64],
    t_dvv: &mut [f64],
    st: AdjStep,
    c: PopConst,
) {
    let n = nv.len();
    let [tv, tl, te, ts] = inp.tape;
    let (tv, tl, te, ts) = (&tv[..n], &tl[..n], &te[..n], &ts[..n]);
    let (vs, zz) = (&inp.vs[..n], &inp.zz[..n]);
    let (gvn, gsn) = (&inp.gnext[0][..n], &inp.gnext[1][..n]);
    let (ns, t_dll, t_dvv) = (&mut ns[..n], &mut t_dll[..n], &mut t_dvv[..n]);
    let dz = if GZ { &mut dz[..n] } else { dz };
    for k in 0..n {
        let r = adjoint_one(
            (tv[k], tl[k], te[k], ts[k]),
            vs[k],
            zz[k],
            gvn[k],
            gsn[k],
            false,
            st,
            c,
        );
        nv[k] = r[0];
        ns[k] = r[1];
        if GZ {
            dz[k] += r[2];
        }
        t_dll[k] = r[3];
        t_dvv[k] = r[4];
    }
}

/// `LANES` elements of `x` from `i`.
#[inline(always)]
fn lanes(x: &[f64], i: usize) -> &[f64; LANES] {
    x[i..i + LANES].try_into().expect("LANES elements")
}

/// Sum of lanes in a fixed order.
#[inline(always)]
pub(crate) fn lane_sum(q: &[f64; LANES]) -> f64 {
    ((q[0] + q[1]) + (q[2] + q[3])) + ((q[4] + q[5]) + (q[6] + q[7]))
}

/// The S0 grid of the original for age `s` (numpy `int(s/dr)` truncation and `linspace`):
/// points r_j = j·(s/n), j = 0..n−1, and r_n = s; (n, step).
#[inline(always)]
pub(crate) fn s0_grid(s: f64, dr: f64) -> (usize, f64) {
    let n = (s / dr) as usize;
    let step = if n > 0 { s / n as f64 } else { 0.0 };
    (n, step)
}

/// Σ_j f(r_j)·dr of the stationary survival for age `s` > 0, f = e^{V−θ} (0 where V == 0 or
/// r < ref), V = h(1 − e^{−a r}). `jf[j]` = j as f64 (≥ s/dr + 1 entries); `buf` the same
/// length (scratch).
#[allow(clippy::too_many_arguments)]
#[inline(always)]
pub(crate) fn s0_sum(
    s: f64,
    dr: f64,
    ref_t: f64,
    h: f64,
    am: f64,
    th: f64,
    jf: &[f64],
    buf: &mut [f64],
) -> f64 {
    let (n, step) = s0_grid(s, dr);
    if n == 0 {
        return s0_point(0.0, ref_t, h, am, th) * dr;
    }
    let (jf, b) = (&jf[..n], &mut buf[..n]);
    for j in 0..n {
        b[j] = s0_point(jf[j] * step, ref_t, h, am, th) * dr;
    }
    lane_total(b) + s0_point(s, ref_t, h, am, th) * dr
}

/// Σ of `x` in [`LANES`] lanes, then [`lane_sum`] (fixed order).
#[inline(always)]
fn lane_total(x: &[f64]) -> f64 {
    let n = x.len();
    let nc = n / LANES * LANES;
    let mut acc = [0.0; LANES];
    for c0 in (0..nc).step_by(LANES) {
        let x8 = lanes(x, c0);
        for l in 0..LANES {
            acc[l] += x8[l];
        }
    }
    for k in nc..n {
        acc[k - nc] += x[k];
    }
    lane_sum(&acc)
}

/// f(r)·dr of [`s0_sum`] on the common grid r_j = j·dr: `out[j]` for j < out.len().
#[inline(always)]
pub(crate) fn s0_grid_values(
    dr: f64,
    ref_t: f64,
    h: f64,
    am: f64,
    th: f64,
    jf: &[f64],
    out: &mut [f64],
) {
    let n = out.len();
    let jf = &jf[..n];
    for j in 0..n {
        out[j] = s0_point(jf[j] * dr, ref_t, h, am, th) * dr;
    }
}

/// Per-point derivatives (∂h, ∂a, ∂θ) of f(r)·dr on the common grid r_j = j·dr.
#[inline(always)]
pub(crate) fn s0_grid_jacobian(
    dr: f64,
    ref_t: f64,
    h: f64,
    am: f64,
    th: f64,
    jf: &[f64],
    out: [&mut [f64]; 3],
) {
    let [o0, o1, o2] = out;
    let n = o0.len();
    let (jf, o1, o2) = (&jf[..n], &mut o1[..n], &mut o2[..n]);
    for j in 0..n {
        let (x, y, z) = s0_point_backward(jf[j] * dr, ref_t, h, am, th, dr);
        o0[j] = x;
        o1[j] = y;
        o2[j] = z;
    }
}

/// f(r) of [`s0_sum`].
#[inline(always)]
pub(crate) fn s0_point(r: f64, ref_t: f64, h: f64, am: f64, th: f64) -> f64 {
    let v = h * (1.0 - exp_taylor13::<false>(-r * am));
    let v = if r < ref_t { 0.0 } else { v };
    let f = exp_taylor13::<false>(v - th);
    if v == 0.0 { 0.0 } else { f }
}

/// ∂/∂(h, a, θ) of [`s0_sum`]. `buf` ≥ 3·(s/dr) entries (scratch).
#[allow(clippy::too_many_arguments)]
#[inline(always)]
pub(crate) fn s0_sum_jacobian(
    s: f64,
    dr: f64,
    ref_t: f64,
    h: f64,
    am: f64,
    th: f64,
    jf: &[f64],
    buf: &mut [f64],
) -> [f64; 3] {
    let (n, step) = s0_grid(s, dr);
    let last = s0_point_backward(if n == 0 { 0.0 } else { s }, ref_t, h, am, th, dr);
    if n == 0 {
        return [last.0, last.1, last.2];
    }
    let jf = &jf[..n];
    let (b0, rest) = buf.split_at_mut(n);
    let (b1, rest) = rest.split_at_mut(n);
    let b2 = &mut rest[..n];
    for j in 0..n {
        let (x, y, z) = s0_point_backward(jf[j] * step, ref_t, h, am, th, dr);
        b0[j] = x;
        b1[j] = y;
        b2[j] = z;
    }
    [
        lane_total(b0) + last.0,
        lane_total(b1) + last.1,
        lane_total(b2) + last.2,
    ]
}

/// Per-point derivative of [`s0_point`] times `w`: (∂h, ∂a, ∂θ).
#[inline(always)]
pub(crate) fn s0_point_backward(
    r: f64,
    ref_t: f64,
    h: f64,
    am: f64,
    th: f64,
    w: f64,
) -> (f64, f64, f64) {
    let e = exp_taylor13::<false>(-r * am);
    let v = h * (1.0 - e);
    let f = exp_taylor13::<false>(v - th);
    let gv = w * f;
    let live = !(r < ref_t || v == 0.0);
    let gv = if live { gv } else { 0.0 };
    (gv * (1.0 - e), gv * h * r * e, -gv)
}
