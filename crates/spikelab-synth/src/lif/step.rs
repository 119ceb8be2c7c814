//! The fused, vectorised step of a population (potential, hazard, threshold crossing, reset),
//! bit-identical at every SIMD level.

use spikelab_core::fastexp::{
    EXP_LN2_16_HI, EXP_LN2_16_LO, EXP_MAGIC, EXP_N_LOG2E, EXP_POLY, EXP2_J16, exp_table16,
};
use spikelab_core::simd::{self, SimdLevel};

/// Per-step constants of a population's update.
#[derive(Clone, Copy)]
pub(super) struct Consts {
    /// `(1 − e)·μ + dt·input`.
    pub(super) c: f64,
    /// `exp(−dt·a_mem)`.
    pub(super) e: f64,
    /// Threshold θ.
    pub(super) th: f64,
    /// Time step (s).
    pub(super) dt: f64,
    /// Refractory steps (as f64).
    pub(super) refs: f64,
}

/// One step of a population: potential update, refractoriness, hazard accumulation, threshold
/// crossing (`acc ≥ thr`) and reset (`u = age = acc = 0`); the indices of the neurons that
/// fired are appended to `spiked` in increasing order.
///
/// Multiply-adds are written as `mul_add` (fused, one rounding) everywhere, so the result is
/// the same bit for bit on every machine and at every SIMD level. The level comes from
/// `spikelab_core::simd::active` (override: `SPIKELAB_SIMD`): hand-written AVX-512 intrinsics
/// (`step_pass_avx512`: the same operations, in the same order, on 8 lanes; the `exp` table
/// read is a two-register permute), an AVX2+FMA build of the portable code
/// (`step_pass_generic`, auto-vectorised, the table read a gather), or the portable build,
/// which on x86-64 (no `fma` target feature) goes through the correctly rounded software `fma`
/// of the C library: the same bits, but a library call per multiply-add (far slower). The
/// exponential is `spikelab_core::fastexp::exp_table16`. A unit test checks every level this
/// CPU supports against a plain one-neuron-at-a-time step bit for bit.
#[inline]
pub(super) fn step_pass(
    u: &mut [f64],
    age: &mut [f64],
    acc: &mut [f64],
    thr: &[f64],
    spiked: &mut Vec<u32>,
    k: Consts,
) {
    step_pass_at(simd::active(), u, age, acc, thr, spiked, k)
}

/// [`step_pass`] at a given level, which must be one this CPU supports (levels above the
/// detected one run the portable build).
#[inline]
fn step_pass_at(
    level: SimdLevel,
    u: &mut [f64],
    age: &mut [f64],
    acc: &mut [f64],
    thr: &[f64],
    spiked: &mut Vec<u32>,
    k: Consts,
) {
    match level {
        #[cfg(target_arch = "x86_64")]
        SimdLevel::Avx512 if level.is_supported() => {
            // SAFETY: the CPU supports AVX-512F (checked just above).
            unsafe { step_pass_avx512(u, age, acc, thr, spiked, k) }
        }
        #[cfg(target_arch = "x86_64")]
        SimdLevel::Avx2 if level.is_supported() => {
            // SAFETY: the CPU supports AVX2 and FMA (checked just above).
            unsafe { step_pass_avx2(u, age, acc, thr, spiked, k) }
        }
        _ => step_pass_generic(u, age, acc, thr, spiked, k),
    }
}

/// [`step_pass_generic`] in AVX-512 intrinsics, bit-identical. Safety: the CPU must support
/// AVX-512F.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn step_pass_avx512(
    u: &mut [f64],
    age: &mut [f64],
    acc: &mut [f64],
    thr: &[f64],
    spiked: &mut Vec<u32>,
    k: Consts,
) {
    use std::arch::x86_64::*;
    let n = u.len();
    assert!(age.len() == n && acc.len() == n && thr.len() == n);
    let blocks = n / 8 * 8;
    let one = _mm512_set1_pd(1.0);
    let zero = _mm512_setzero_pd();
    let refs = _mm512_set1_pd(k.refs);
    let c = _mm512_set1_pd(k.c);
    let e = _mm512_set1_pd(k.e);
    let th = _mm512_set1_pd(k.th);
    let dt = _mm512_set1_pd(k.dt);
    let lo = _mm512_set1_pd(-700.0);
    let hi = _mm512_set1_pd(700.0);
    let nlog2e = _mm512_set1_pd(EXP_N_LOG2E);
    let magic = _mm512_set1_pd(EXP_MAGIC);
    let ln2_hi = _mm512_set1_pd(EXP_LN2_16_HI);
    let ln2_lo = _mm512_set1_pd(EXP_LN2_16_LO);
    let poly = EXP_POLY.map(|x| _mm512_set1_pd(x));
    // SAFETY: EXP2_J16 holds 16 u64 = two unaligned 8-lane loads.
    let (tab_lo, tab_hi) = unsafe {
        (
            _mm512_loadu_pd(EXP2_J16.as_ptr() as *const f64),
            _mm512_loadu_pd(EXP2_J16.as_ptr().add(8) as *const f64),
        )
    };
    let (pu, pg, pa, pt) = (
        u.as_mut_ptr(),
        age.as_mut_ptr(),
        acc.as_mut_ptr(),
        thr.as_ptr(),
    );
    // One 8-lane vector; four per block so that independent polynomial chains overlap.
    let vec8 = |o: usize| -> u8 {
        // SAFETY: o + 8 ≤ blocks ≤ n, the length of all four slices (asserted above).
        let (uu, g, a, t) = unsafe {
            (
                _mm512_loadu_pd(pu.add(o)),
                _mm512_loadu_pd(pg.add(o)),
                _mm512_loadu_pd(pa.add(o)),
                _mm512_loadu_pd(pt.add(o)),
            )
        };
        // advance(): age, potential (0 while refractory), hazard only where u ≠ 0.
        let ag = _mm512_add_pd(g, one);
        let refractory = _mm512_cmp_pd_mask::<_CMP_LT_OQ>(ag, refs);
        let un = _mm512_maskz_fmadd_pd(!refractory, e, uu, c);
        let live = _mm512_cmp_pd_mask::<_CMP_NEQ_UQ>(un, zero);
        // exp_table16(un − θ), operation for operation.
        let x = _mm512_min_pd(_mm512_max_pd(_mm512_sub_pd(un, th), lo), hi);
        let tt = _mm512_fmadd_pd(x, nlog2e, magic);
        let kk = _mm512_sub_pd(tt, magic);
        let r = _mm512_fnmadd_pd(kk, ln2_hi, x);
        let r = _mm512_fnmadd_pd(kk, ln2_lo, r);
        let mut p = poly[0];
        for &cf in &poly[1..] {
            p = _mm512_fmadd_pd(p, r, cf);
        }
        let tb = _mm512_castpd_si512(tt);
        // The permute reads the low 4 bits of each index lane: the table entry j.
        let tab = _mm512_permutex2var_pd(tab_lo, tb, tab_hi);
        let scale = _mm512_castsi512_pd(_mm512_add_epi64(
            _mm512_castpd_si512(tab),
            _mm512_slli_epi64::<48>(tb),
        ));
        let f = _mm512_mul_pd(p, scale);
        // Accumulate (fma(f, dt, acc) where u ≠ 0, else acc unchanged = fma(f, 0, acc)),
        // threshold test; the rare resets are done below.
        let an = _mm512_mask3_fmadd_pd(f, dt, a, live);
        let fired = _mm512_cmp_pd_mask::<_CMP_GE_OQ>(an, t);
        // SAFETY: as for the loads.
        unsafe {
            _mm512_storeu_pd(pa.add(o), an);
            _mm512_storeu_pd(pu.add(o), un);
            _mm512_storeu_pd(pg.add(o), ag);
        }
        fired
    };
    let mut reset = |fired: u64, base: usize| {
        let mut fired = fired;
        while fired != 0 {
            let i = base + fired.trailing_zeros() as usize;
            // SAFETY: i < base + 32 ≤ blocks ≤ n; through the same raw pointers.
            unsafe {
                *pu.add(i) = 0.0;
                *pg.add(i) = 0.0;
                *pa.add(i) = 0.0;
            }
            spiked.push(i as u32);
            fired &= fired - 1;
        }
    };
    let wide = blocks / LANES * LANES;
    for b in (0..wide).step_by(LANES) {
        let mut fired = 0u64;
        for v in 0..LANES / 8 {
            fired |= (vec8(b + 8 * v) as u64) << (8 * v);
        }
        reset(fired, b);
    }
    for o in (wide..blocks).step_by(8) {
        reset(vec8(o) as u64, o);
    }
    if blocks < n {
        let first = spiked.len();
        step_pass_generic(
            &mut u[blocks..],
            &mut age[blocks..],
            &mut acc[blocks..],
            &thr[blocks..],
            spiked,
            k,
        );
        for i in &mut spiked[first..] {
            *i += blocks as u32;
        }
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn step_pass_avx2(
    u: &mut [f64],
    age: &mut [f64],
    acc: &mut [f64],
    thr: &[f64],
    spiked: &mut Vec<u32>,
    k: Consts,
) {
    step_pass_generic(u, age, acc, thr, spiked, k)
}

/// Updates one neuron's age and potential; returns `(age, u, exp argument, hazard weight)`
/// where the weight is `dt`, or 0 when `u == 0` (refractory: no hazard).
#[inline(always)]
fn advance(age: f64, u: f64, k: Consts) -> (f64, f64, f64, f64) {
    let ag = age + 1.0;
    let un = if ag < k.refs {
        0.0
    } else {
        k.e.mul_add(u, k.c)
    };
    let live = if un == 0.0 { 0.0 } else { k.dt };
    (ag, un, un - k.th, live)
}

#[inline(always)]
fn step_pass_generic(
    u: &mut [f64],
    age: &mut [f64],
    acc: &mut [f64],
    thr: &[f64],
    spiked: &mut Vec<u32>,
    k: Consts,
) {
    // Blocks of LANES independent lanes (the polynomial chains overlap and vectorise), then
    // blocks of 8, then single neurons.
    let n = u.len();
    let b_wide = n / LANES * LANES;
    let b_8 = n / 8 * 8;
    let mut s = State { u, age, acc, thr };
    step_blocks::<LANES>(s.range(0, b_wide), spiked, k, 0);
    step_blocks::<8>(s.range(b_wide, b_8), spiked, k, b_wide);
    let State { u, age, acc, thr } = s.range(b_8, n);
    for (i, (((ui, gi), ai), &ti)) in u
        .iter_mut()
        .zip(age.iter_mut())
        .zip(acc.iter_mut())
        .zip(thr)
        .enumerate()
    {
        let (ag, un, x, live) = advance(*gi, *ui, k);
        let a = exp_table16(x).mul_add(live, *ai);
        if a >= ti {
            *ai = 0.0;
            *ui = 0.0;
            *gi = 0.0;
            spiked.push((b_8 + i) as u32);
        } else {
            *ai = a;
            *ui = un;
            *gi = ag;
        }
    }
}

/// The state vectors of a population (or of a range of its neurons).
struct State<'a> {
    u: &'a mut [f64],
    age: &'a mut [f64],
    acc: &'a mut [f64],
    thr: &'a [f64],
}

impl State<'_> {
    fn range(&mut self, from: usize, to: usize) -> State<'_> {
        State {
            u: &mut self.u[from..to],
            age: &mut self.age[from..to],
            acc: &mut self.acc[from..to],
            thr: &self.thr[from..to],
        }
    }
}

/// The step on whole blocks of `L` neurons (`s.u.len()` a multiple of `L`); spike indices
/// are offset by `base`.
#[inline(always)]
fn step_blocks<const L: usize>(s: State<'_>, spiked: &mut Vec<u32>, k: Consts, base: usize) {
    for (b, (((uc, gc), ac), tc)) in
        s.u.chunks_exact_mut(L)
            .zip(s.age.chunks_exact_mut(L))
            .zip(s.acc.chunks_exact_mut(L))
            .zip(s.thr.chunks_exact(L))
            .enumerate()
    {
        let mut x = [0.0f64; L];
        let mut live = [0.0f64; L];
        let mut ag = [0.0f64; L];
        let mut un = [0.0f64; L];
        for i in 0..L {
            (ag[i], un[i], x[i], live[i]) = advance(gc[i], uc[i], k);
        }
        let f = exp_fast_lanes(x);
        let mut fired = 0u64;
        for i in 0..L {
            let a = f[i].mul_add(live[i], ac[i]);
            let s = a >= tc[i];
            fired |= (s as u64) << i;
            ac[i] = if s { 0.0 } else { a };
            uc[i] = if s { 0.0 } else { un[i] };
            gc[i] = if s { 0.0 } else { ag[i] };
        }
        while fired != 0 {
            spiked.push((base + b * L) as u32 + fired.trailing_zeros());
            fired &= fired - 1;
        }
    }
}

/// Lanes processed together in the portable (and AVX2) step: 4 AVX-512 or 8 AVX2 vectors,
/// so that independent polynomial chains hide the multiply-add latency (faster than 16
/// lanes, measured). At most 64 (the spike mask is a `u64`).
const LANES: usize = 32;

/// Populations are padded to a multiple of this many neurons (one AVX-512 vector).
pub(super) const PAD: usize = 8;

/// [`exp_table16`] on `L` independent lanes.
#[inline(always)]
fn exp_fast_lanes<const L: usize>(x: [f64; L]) -> [f64; L] {
    let mut out = [0.0; L];
    for k in 0..L {
        out[k] = exp_table16(x[k]);
    }
    out
}

#[cfg(test)]
mod tests {
    /// The step written plainly, one neuron at a time: potential, hazard, then the threshold
    /// test and reset (the definition the fused, vectorised pass must reproduce bit for bit).
    fn reference_step(
        u: &mut [f64],
        age: &mut [f64],
        acc: &mut [f64],
        thr: &[f64],
        k: super::Consts,
    ) -> Vec<u32> {
        let mut spiked = Vec::new();
        for i in 0..u.len() {
            age[i] += 1.0;
            u[i] = if age[i] < k.refs {
                0.0
            } else {
                k.e.mul_add(u[i], k.c)
            };
            let live = if u[i] == 0.0 { 0.0 } else { k.dt };
            acc[i] = spikelab_core::fastexp::exp_table16(u[i] - k.th).mul_add(live, acc[i]);
        }
        for i in 0..u.len() {
            if acc[i] >= thr[i] {
                u[i] = 0.0;
                age[i] = 0.0;
                acc[i] = 0.0;
                spiked.push(i as u32);
            }
        }
        spiked
    }

    #[test]
    fn fused_simd_pass_is_bit_identical_to_the_plain_step() {
        let n = 1003; // 31 blocks of 32 and a remainder of 11
        let u0: Vec<f64> = (0..n).map(|i| (i as f64 * 0.37) % 20.0).collect();
        let g0: Vec<f64> = (0..n).map(|i| (i % 40) as f64).collect();
        let a0: Vec<f64> = (0..n).map(|i| (i as f64).sin().abs()).collect();
        // The last 8 are inert padding (threshold NaN): they must never fire.
        let thr: Vec<f64> = (0..n)
            .map(|i| {
                if i < n - 8 {
                    0.5 + (i as f64 * 0.71).cos().abs()
                } else {
                    f64::NAN
                }
            })
            .collect();
        let k = super::Consts {
            c: 0.3,
            e: 0.99,
            th: 3.7,
            dt: 2e-4,
            refs: 20.0,
        };
        let mut total = 0;
        let levels = spikelab_core::simd::SimdLevel::supported();
        for path in 0..=levels.len() {
            let (mut u1, mut g1, mut a1) = (u0.clone(), g0.clone(), a0.clone());
            let (mut u2, mut g2, mut a2) = (u0.clone(), g0.clone(), a0.clone());
            for _ in 0..200 {
                let mut s1 = Vec::new();
                if let Some(&level) = levels.get(path) {
                    super::step_pass_at(level, &mut u1, &mut g1, &mut a1, &thr, &mut s1, k);
                } else {
                    super::step_pass(&mut u1, &mut g1, &mut a1, &thr, &mut s1, k);
                }
                let s2 = reference_step(&mut u2, &mut g2, &mut a2, &thr, k);
                assert_eq!(s1, s2);
                assert!(s1.iter().all(|&i| (i as usize) < n - 8));
                total += s1.len();
            }
            assert_eq!(u1, u2);
            assert_eq!(a1, a2);
            assert_eq!(g1, g2);
        }
        assert!(total > 100, "{total} spikes: the test must exercise resets");
    }
}
