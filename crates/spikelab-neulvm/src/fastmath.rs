//! Elementary functions used in the inner loops.
//!
//! [`exp`] is an inlinable, branch-free and table-free e^x: x = n·ln2 + r with |r| ≤ ln2/2
//! (Cody–Waite split of ln2), the degree-13 Taylor polynomial of e^r (truncation error
//! < 5e-18 relative) in Estrin form (short dependency chains), and 2^n assembled from the bits. It has no table lookup
//! (a gather) and no branch, so loops that call it vectorise (4 lanes with AVX2, 8 with
//! AVX-512). Only plain IEEE multiplies and adds (no FMA), so the value is the same in every
//! build and lane. Error: a couple of ulp (unit test: < 6e-16 relative against std on a grid;
//! the golden-loss test checks the end result to 1e-12). Results: +∞ above 709, 0 below −708
//! (no subnormals), NaN for NaN.

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

/// e^x.
#[inline(always)]
pub(crate) fn exp(x: f64) -> f64 {
    exp_f::<false>(x)
}

/// a·b + c: one fused multiply-add when `F` (only in functions compiled with the `fma`
/// target feature, where it is one instruction), else a multiply and an add.
#[inline(always)]
fn ma<const F: bool>(a: f64, b: f64, c: f64) -> f64 {
    if F { a.mul_add(b, c) } else { a * b + c }
}

/// e^x; with `F` the reduction and the polynomial use fused multiply-adds (fewer
/// instructions, different last bits). Call with `F = true` only from code compiled with the
/// `fma` target feature.
#[inline(always)]
pub(crate) fn exp_f<const F: bool>(x: f64) -> f64 {
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

#[cfg(test)]
mod tests {
    #[test]
    fn exp_matches_std() {
        let mut worst: f64 = 0.0;
        let mut x = -700.0;
        while x < 700.0 {
            let a = super::exp(x);
            let b = x.exp();
            worst = worst.max(((a - b) / b).abs());
            x += 0.0137;
        }
        let mut x = -1.0;
        while x < 1.0 {
            let (a, b) = (super::exp(x), f64::exp(x));
            worst = worst.max(((a - b) / b).abs());
            x += 1.1e-4;
        }
        for x in [-1e-300, 0.0, 1e-10, -0.3465, 0.3466, 1.0, -1.0] {
            let (a, b) = (super::exp(x), f64::exp(x));
            worst = worst.max(((a - b) / b).abs());
        }
        assert!(worst < 6e-16, "worst relative error {worst}");
        // The FMA form (std's mul_add is correctly rounded on every target).
        let mut worst: f64 = 0.0;
        let mut x = -700.0;
        while x < 700.0 {
            let (a, b) = (super::exp_f::<true>(x), x.exp());
            worst = worst.max(((a - b) / b).abs());
            x += 0.0137;
        }
        assert!(worst < 6e-16, "FMA form: worst relative error {worst}");
        assert_eq!(super::exp(f64::NEG_INFINITY), 0.0);
        assert_eq!(super::exp(-800.0), 0.0);
        assert!(super::exp(-707.9) > 0.0);
        assert!(super::exp(708.9).is_finite());
        assert_eq!(super::exp(800.0), f64::INFINITY);
        assert!(super::exp(f64::NAN).is_nan());
    }
}
