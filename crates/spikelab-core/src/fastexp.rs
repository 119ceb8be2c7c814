//! Branch-free, table-light `e^x` for the vectorised inner loops.
//!
//! Two kernels, each kept because a golden result depends on its exact bits:
//!
//! * [`exp_taylor13`] (neuLVM's latent sweep): `x = n·ln2 + r`, `|r| ≤ ln2/2` (Cody–Waite split
//!   of ln2), the degree-13 Taylor polynomial of `e^r` (truncation < 5e-18 relative) in Estrin
//!   form, `2^n` assembled from the bits. No table (no gather), so loops that call it
//!   vectorise. With `FMA = false` it uses plain IEEE multiplies and adds: **the same bits in
//!   every build and lane**. With `FMA = true` the reduction and the polynomial use fused
//!   multiply-adds: fewer instructions and **different last bits**; neuLVM uses it in its AVX2
//!   and AVX-512 builds, so neuLVM's scalar level (ARM, or `SPIKELAB_SIMD=scalar`) differs from
//!   its AVX levels in the last bits of the loss (the golden tests hold to 1e-12 on every
//!   level). AVX2 and AVX-512 give the same bits (same operations, lane for lane).
//! * [`exp_table16`] (the LIF simulator of `spikelab-synth`): `x = (16m + j)·ln2/16 + r`,
//!   `|r| ≤ ln2/32`, a degree-6 Taylor polynomial, times `2^(j/16)` from the 16-entry
//!   [`EXP2_J16`] table with `2^m` added into its exponent bits. It **always** uses fused
//!   multiply-adds (`f64::mul_add`, correctly rounded on every target), so every build gives
//!   the same bits; the constants are public so that an intrinsics version (synth's AVX-512
//!   step, which reads the table with one two-register permute) can compute the same
//!   operations. In a build without the `fma` target feature (the scalar level on x86-64)
//!   each `mul_add` is a call to the C library's `fma`: the same bits, several times slower.
//!
//! Both: error of a couple of ulp against `f64::exp` (unit tests), NaN for NaN.
//!
//! ```
//! use spikelab_core::fastexp::{exp_table16, exp_taylor13};
//! for x in [-3.5, 0.0, 1.0, 700.0] {
//!     assert!((exp_taylor13::<false>(x) / x.exp() - 1.0).abs() < 1e-15);
//!     assert!((exp_table16(x) / x.exp() - 1.0).abs() < 1e-14);
//! }
//! assert_eq!(exp_taylor13::<false>(-800.0), 0.0);
//! assert_eq!(exp_taylor13::<false>(800.0), f64::INFINITY);
//! ```

const INV_LN2: f64 = std::f64::consts::LOG2_E;
#[allow(clippy::excessive_precision)]
const LN2_HI: f64 = 6.931_471_803_691_238_164_90e-1;
#[allow(clippy::excessive_precision)]
const LN2_LO: f64 = 1.908_214_929_270_587_700_02e-10;
const MAGIC: f64 = 6_755_399_441_055_744.0; // 1.5·2^52

/// 1/k! for k = 2..=13.
const C: [f64; 12] = [
    1.0 / 2.0,
    1.0 / 6.0,
    1.0 / 24.0,
    1.0 / 120.0,
    1.0 / 720.0,
    1.0 / 5040.0,
    1.0 / 40320.0,
    1.0 / 362_880.0,
    1.0 / 3_628_800.0,
    1.0 / 39_916_800.0,
    1.0 / 479_001_600.0,
    1.0 / 6_227_020_800.0,
];

/// a·b + c: one fused multiply-add when `F` (only in functions compiled with the `fma`
/// target feature, where it is one instruction), else a multiply and an add.
#[inline(always)]
fn ma<const F: bool>(a: f64, b: f64, c: f64) -> f64 {
    if F { a.mul_add(b, c) } else { a * b + c }
}

/// `e^x` (+∞ above 709, 0 below −708, no subnormals); with `F` the reduction and the polynomial use fused multiply-adds (fewer
/// instructions, different last bits). Call with `F = true` only from code compiled with the
/// `fma` target feature.
#[inline(always)]
pub fn exp_taylor13<const F: bool>(x: f64) -> f64 {
    let xc = x.clamp(-708.0, 709.0);
    let kf = ma::<F>(xc, INV_LN2, MAGIC);
    let n = kf - MAGIC;
    let r = if F {
        (-n).mul_add(LN2_LO, (-n).mul_add(LN2_HI, xc))
    } else {
        (xc - n * LN2_HI) - n * LN2_LO
    };
    // Estrin's scheme (depth 5 instead of Horner's 12: the loops are latency-bound).
    let r2 = r * r;
    let r4 = r2 * r2;
    let q0 = ma::<F>(C[1], r, C[0]);
    let q2 = ma::<F>(C[3], r, C[2]);
    let q4 = ma::<F>(C[5], r, C[4]);
    let q6 = ma::<F>(C[7], r, C[6]);
    let q8 = ma::<F>(C[9], r, C[8]);
    let q10 = ma::<F>(C[11], r, C[10]);
    let a = ma::<F>(r2, q2, q0);
    let b = ma::<F>(r2, q6, q4);
    let c = ma::<F>(r2, q10, q8);
    let p = ma::<F>(r4, ma::<F>(r4, c, b), a);
    // 1 + r + r²·p: the two leading terms added last keep the rounding error near 1 ulp.
    let p = 1.0 + ma::<F>(r2, p, r);
    let ni = (kf.to_bits() as i64).wrapping_sub(MAGIC.to_bits() as i64);
    let scale = f64::from_bits((ni.wrapping_add(1023) as u64) << 52);
    let y = p * scale;
    let y = if x > 709.0 { f64::INFINITY } else { y };
    let y = if x < -708.0 { 0.0 } else { y };
    if x.is_nan() { x } else { y }
}

/// Bits of `2^(j/16)`, `j = 0‥15` (correctly rounded, computed with 60-digit decimal
/// arithmetic), minus `j·2^48`: adding `t_bits << 48` (where `t = x·16/ln2 + 1.5·2^52`, whose low
/// mantissa bits hold `k = 16m + j` in two's complement) then adds `m` to the exponent and
/// cancels the `j` term, so `2^(k/16)` costs one shift and one integer add. See [`exp_table16`].
pub const EXP2_J16: [u64; 16] = [
    0x3ff0_0000_0000_0000,
    0x3fef_b558_6cf9_890f,
    0x3fef_72b8_3c7d_517b,
    0x3fef_387a_6e75_6238,
    0x3fef_06fe_0a31_b715,
    0x3fee_dea6_4c12_3422,
    0x3fee_bfda_d536_2a27,
    0x3fee_ab07_dd48_5429,
    0x3fee_a09e_667f_3bcd,
    0x3fee_a114_73eb_0187,
    0x3fee_ace5_422a_a0db,
    0x3fee_c491_82a3_f090,
    0x3fee_e89f_995a_d3ad,
    0x3fef_199b_dd85_529c,
    0x3fef_5818_dcfb_a487,
    0x3fef_a4af_a2a4_90da,
];

/// `16/ln2`, the reduction factor of [`exp_table16`].
pub const EXP_N_LOG2E: f64 = 16.0 * std::f64::consts::LOG2_E;
/// `ln2/16` split so that `k·HI` is exact for `|k| < 2^21` (fdlibm's `ln2_hi`, `ln2_lo`, / 16).
pub const EXP_LN2_16_HI: f64 = 6.931_471_803_691_238e-1 / 16.0;
/// The low part of `ln2/16` (see [`EXP_LN2_16_HI`]).
pub const EXP_LN2_16_LO: f64 = 1.908_214_929_270_587_7e-10_f64 / 16.0;
/// `1.5·2^52`: adding it rounds to an integer held in the low mantissa bits.
pub const EXP_MAGIC: f64 = 6_755_399_441_055_744.0;
/// Taylor coefficients `1/n!`, `n = 6‥0`.
pub const EXP_POLY: [f64; 7] = [
    1.0 / 720.0,
    1.0 / 120.0,
    1.0 / 24.0,
    1.0 / 6.0,
    0.5,
    1.0,
    1.0,
];

/// `exp(x)` for `x` in `[−700, 700]` (clamped outside), relative error below 1e-14: reduction
/// `x = (16m + j)·ln2/16 + r` (Cody–Waite, `|r| ≤ ln2/32`), a degree-6 Taylor polynomial
/// (truncation error ≤ 5e-16), times `2^(j/16)` from a 16-entry table with `2^m` added into
/// its exponent bits. Branch-free, with fused multiply-adds in every build (see the module
/// docs).
#[inline(always)]
pub fn exp_table16(x: f64) -> f64 {
    let x = x.clamp(-700.0, 700.0);
    let t = x.mul_add(EXP_N_LOG2E, EXP_MAGIC);
    let k = t - EXP_MAGIC;
    let r = (-k).mul_add(EXP_LN2_16_HI, x);
    let r = (-k).mul_add(EXP_LN2_16_LO, r);
    let mut p = EXP_POLY[0];
    for &c in &EXP_POLY[1..] {
        p = p.mul_add(r, c);
    }
    // The low 16 bits of EXP_MAGIC are 0, so the low bits of t are those of k = 16m + j.
    let tb = t.to_bits();
    let scale = f64::from_bits(EXP2_J16[(tb & 15) as usize].wrapping_add(tb << 48));
    p * scale
}

#[cfg(test)]
mod tests {
    use super::*;

    fn worst_relative_error(f: impl Fn(f64) -> f64, lo: f64, hi: f64, step: f64) -> f64 {
        let mut worst: f64 = 0.0;
        let mut x = lo;
        while x < hi {
            worst = worst.max(((f(x) - x.exp()) / x.exp()).abs());
            x += step;
        }
        worst
    }

    #[test]
    fn taylor13_matches_std_in_both_forms() {
        let plain = |x| exp_taylor13::<false>(x);
        let fused = |x| exp_taylor13::<true>(x);
        for f in [&plain as &dyn Fn(f64) -> f64, &fused] {
            let worst = worst_relative_error(f, -700.0, 700.0, 0.0137)
                .max(worst_relative_error(f, -1.0, 1.0, 1.1e-4));
            assert!(worst < 6e-16, "worst relative error {worst}");
        }
        for x in [-1e-300, 0.0, 1e-10, -0.3465, 0.3466, 1.0, -1.0] {
            assert!(((plain(x) - x.exp()) / x.exp()).abs() < 6e-16);
        }
        assert_eq!(plain(f64::NEG_INFINITY), 0.0);
        assert_eq!(plain(-800.0), 0.0);
        assert!(plain(-707.9) > 0.0);
        assert!(plain(708.9).is_finite());
        assert_eq!(plain(800.0), f64::INFINITY);
        assert!(plain(f64::NAN).is_nan());
    }

    #[test]
    fn table16_matches_std() {
        let worst = worst_relative_error(exp_table16, -700.0, 700.0, 0.0137);
        assert!(worst < 1e-14, "{worst}");
        assert!(exp_table16(f64::NAN).is_nan());
    }
}
