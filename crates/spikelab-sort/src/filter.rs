//! Butterworth IIR design and (zero-phase) filtering, equal to SciPy's `scipy.signal.butter`,
//! `lfilter`, `filtfilt`, `sosfilt` and `sosfiltfilt` (SciPy 1.17, default arguments), in f64.
//!
//! # Design
//! The analog low-pass prototype of order N has no zeros, unit gain and the poles
//! `pₘ = −exp(iπm / 2N)`, `m = −N+1, −N+3, …, N−1` (on the left half of the unit circle).
//! Cut-off frequencies `f` (Hz) are normalised to `Wn = f / (fs/2)` and *pre-warped*,
//! `ω = 4·tan(π·Wn/2)`, so that the bilinear transform with `fs = 2` puts the −3 dB points
//! exactly at `f`. The prototype is moved to the wanted band in the s-plane (Oppenheim & Schafer,
//! *Discrete-Time Signal Processing*, §7.1; SciPy's `lp2lp_zpk`, `lp2hp_zpk`, `lp2bp_zpk`,
//! `lp2bs_zpk`):
//! * low-pass: `s → s/ω` (poles `ω·p`, gain `ω^N`);
//! * high-pass: `s → ω/s` (poles `ω/p`, N zeros at 0);
//! * band-pass with `ω₀ = √(ω₁ω₂)`, `B = ω₂ − ω₁`: `s → (s² + ω₀²)/(B·s)`, each pole `p` gives
//!   `B·p/2 ± √((B·p/2)² − ω₀²)`, N zeros at 0, gain `B^N`;
//! * band-stop: the inverse map, zeros at `±iω₀`.
//!
//! The bilinear transform `z = (4 + s)/(4 − s)` maps each pole and zero to the z-plane; zeros
//! at infinity go to `z = −1` (Nyquist), and the gain is corrected by
//! `Re(∏(4 − zᵢ) / ∏(4 − pᵢ))`. The transfer function `b/a` is the product `k·∏(1 − zᵢz⁻¹)` over
//! `∏(1 − pᵢz⁻¹)` expanded one root at a time (`np.poly`). Second-order sections follow SciPy's
//! `zpk2sos(pairing="nearest")`: conjugate pairs are collapsed, the pole closest to the unit
//! circle is taken first and paired with its conjugate (or the next real pole) and with the
//! nearest zeros, filling the sections from the last one backwards; the gain goes into the
//! first section. The `sos` form is numerically far better for narrow or low bands; the `ba`
//! form is kept because SimSort's chain uses it.
//!
//! Arithmetic follows NumPy's order (complex division by Smith's method, products left to
//! right), so coefficients agree with SciPy to a few ulps.
//!
//! # Filtering
//! [`lfilter`] is the direct form II transposed recursion
//! `y[n] = b₀x[n] + z₀`, `zᵢ ← zᵢ₊₁ + bᵢ₊₁x[n] − aᵢ₊₁y[n]`. [`filtfilt`] runs it forwards and
//! then backwards, which squares the magnitude response and cancels the phase. The edges are
//! handled as SciPy's default `method="pad"`: the signal is extended at both ends by
//! `padlen = 3·max(len a, len b)` samples of its *odd* (point-symmetric) reflection,
//! `2x₀ − x[k]`, and each pass starts from the filter's steady state for a step of the first
//! value (`lfilter_zi`, solving `(I − Aᵀ)·zi = b[1:] − a[1:]·b₀` with `A` the companion matrix),
//! the initial-condition idea of Gustafsson, "Determining the initial states in
//! forward-backward filtering", IEEE Trans. Signal Process. 44 (1996) 988–992. (SciPy's other
//! method, `method="gust"`, which solves for the optimal initial states, is not provided.)
//! [`sosfiltfilt`] does the same with cascaded sections, with
//! `padlen = 3·(2·n_sections + 1 − min(#b₂ = 0, #a₂ = 0))`.
//!
//! # Example
//! ```
//! use spikelab_sort::filter::{butter_ba, butter_sos, filtfilt, sosfiltfilt, Band};
//! let band = Band::Bandpass { low_hz: 300.0, high_hz: 3000.0 };
//! let ba = butter_ba(4, band, 10_000.0)?;
//! let sos = butter_sos(4, band, 10_000.0)?;
//! assert_eq!((ba.b.len(), ba.a.len(), sos.n_sections()), (9, 9, 4));
//! let x: Vec<f64> = (0..500).map(|i| (i as f64 * 0.3).sin() + 5.0).collect();
//! let y1 = filtfilt(&ba, &x)?;
//! let y2 = sosfiltfilt(&sos, &x)?;
//! assert!(y1.iter().zip(&y2).all(|(a, b)| (a - b).abs() < 1e-9));
//! # Ok::<(), spikelab_sort::SortError>(())
//! ```

use nalgebra::Complex;
use serde::{Deserialize, Serialize};

use crate::error::{Result, SortError};

type C64 = Complex<f64>;

/// The pass (or stop) band of a filter, in Hz.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum Band {
    /// Pass below `cutoff_hz`.
    Lowpass {
        /// −3 dB frequency (Hz).
        cutoff_hz: f64,
    },
    /// Pass above `cutoff_hz`.
    Highpass {
        /// −3 dB frequency (Hz).
        cutoff_hz: f64,
    },
    /// Pass between `low_hz` and `high_hz`.
    Bandpass {
        /// Lower −3 dB frequency (Hz).
        low_hz: f64,
        /// Upper −3 dB frequency (Hz).
        high_hz: f64,
    },
    /// Stop between `low_hz` and `high_hz`.
    Bandstop {
        /// Lower −3 dB frequency (Hz).
        low_hz: f64,
        /// Upper −3 dB frequency (Hz).
        high_hz: f64,
    },
}

impl Band {
    /// Checks the band against the sampling rate: frequencies finite, `0 < f < fs/2`, and
    /// `low_hz < high_hz`.
    pub fn validate(&self, sampling_rate_hz: f64) -> Result<()> {
        if !(sampling_rate_hz.is_finite() && sampling_rate_hz > 0.0) {
            return Err(SortError::InvalidParameter {
                name: "sampling_rate_hz",
                reason: format!("must be finite and > 0, got {sampling_rate_hz}"),
            });
        }
        let nyq = sampling_rate_hz / 2.0;
        let check = |name: &'static str, f: f64| {
            if f.is_finite() && f > 0.0 && f < nyq {
                Ok(())
            } else {
                Err(SortError::InvalidParameter {
                    name,
                    reason: format!(
                        "must lie strictly between 0 and the Nyquist frequency {nyq} Hz \
                         (sampling rate {sampling_rate_hz} Hz), got {f}"
                    ),
                })
            }
        };
        match *self {
            Band::Lowpass { cutoff_hz } | Band::Highpass { cutoff_hz } => {
                check("cutoff_hz", cutoff_hz)
            }
            Band::Bandpass { low_hz, high_hz } | Band::Bandstop { low_hz, high_hz } => {
                check("low_hz", low_hz)?;
                check("high_hz", high_hz)?;
                if low_hz < high_hz {
                    Ok(())
                } else {
                    Err(SortError::InvalidParameter {
                        name: "low_hz",
                        reason: format!(
                            "the band needs low_hz < high_hz, got {low_hz} ≥ {high_hz}"
                        ),
                    })
                }
            }
        }
    }
}

/// A digital filter as zeros, poles and gain (z-plane).
#[derive(Debug, Clone, PartialEq)]
pub struct Zpk {
    /// Zeros.
    pub zeros: Vec<Complex<f64>>,
    /// Poles.
    pub poles: Vec<Complex<f64>>,
    /// Gain.
    pub gain: f64,
}

/// A transfer function `b(z)/a(z)` (coefficients of `z⁰, z⁻¹, …`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Ba {
    /// Numerator coefficients.
    pub b: Vec<f64>,
    /// Denominator coefficients (`a[0] ≠ 0`).
    pub a: Vec<f64>,
}

/// Second-order sections, rows `[b₀, b₁, b₂, 1, a₁, a₂]` applied in order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sos {
    sections: Vec<[f64; 6]>,
}

// NumPy's complex division (Smith's method), so designs agree with SciPy's to the last bits.
fn cdiv(n: C64, d: C64) -> C64 {
    let (ar, ai, br, bi) = (n.re, n.im, d.re, d.im);
    if br.abs() >= bi.abs() {
        if br == 0.0 && bi == 0.0 {
            return C64::new(ar / br.abs(), ai / br.abs());
        }
        let rat = bi / br;
        let scl = 1.0 / (br + bi * rat);
        C64::new((ar + ai * rat) * scl, (ai - ar * rat) * scl)
    } else {
        let rat = br / bi;
        let scl = 1.0 / (bi + br * rat);
        C64::new((ar * rat + ai) * scl, (ai * rat - ar) * scl)
    }
}

// Principal square root, accurate form (no polar round trip).
fn csqrt(z: C64) -> C64 {
    let (x, y) = (z.re, z.im);
    if x == 0.0 && y == 0.0 {
        return C64::new(0.0, y);
    }
    let t = ((x.abs() + x.hypot(y)) / 2.0).sqrt();
    if x >= 0.0 {
        C64::new(t, y / (2.0 * t))
    } else {
        C64::new(y.abs() / (2.0 * t), t.copysign(y))
    }
}

fn cprod(v: impl IntoIterator<Item = C64>) -> C64 {
    v.into_iter().fold(C64::new(1.0, 0.0), |acc, x| acc * x)
}

/// The Butterworth filter of order `order` for `band` at `sampling_rate_hz`, as zeros, poles and
/// gain (`scipy.signal.butter(order, Wn, btype, fs=fs, output="zpk")`).
///
/// Errors: [`SortError::InvalidParameter`] for order 0 or above 64, and for a band outside
/// `(0, fs/2)` or with `low_hz ≥ high_hz`.
pub fn butter_zpk(order: usize, band: Band, sampling_rate_hz: f64) -> Result<Zpk> {
    if order == 0 || order > 64 {
        return Err(SortError::InvalidParameter {
            name: "order",
            reason: format!("a Butterworth filter needs an order in 1..=64, got {order}"),
        });
    }
    band.validate(sampling_rate_hz)?;
    let n = order as f64;
    // Analog prototype.
    let poles: Vec<C64> = (0..order)
        .map(|i| {
            let m = -n + 1.0 + 2.0 * i as f64;
            let theta = std::f64::consts::PI * m / (2.0 * n);
            C64::new(-theta.cos(), -theta.sin())
        })
        .collect();
    let nyq = sampling_rate_hz / 2.0;
    let warp = |f: f64| 2.0 * 2.0 * (std::f64::consts::PI * (f / nyq) / 2.0).tan();
    let (zeros, poles, gain): (Vec<C64>, Vec<C64>, f64) = match band {
        Band::Lowpass { cutoff_hz } => {
            let wo = warp(cutoff_hz);
            let p = poles.iter().map(|p| p * wo).collect();
            (Vec::new(), p, wo.powf(n))
        }
        Band::Highpass { cutoff_hz } => {
            let wo = warp(cutoff_hz);
            let p: Vec<C64> = poles.iter().map(|&p| cdiv(C64::new(wo, 0.0), p)).collect();
            let k = cdiv(C64::new(1.0, 0.0), cprod(poles.iter().map(|p| -p))).re;
            (vec![C64::new(0.0, 0.0); order], p, k)
        }
        Band::Bandpass { low_hz, high_hz } | Band::Bandstop { low_hz, high_hz } => {
            let (w1, w2) = (warp(low_hz), warp(high_hz));
            let bw = w2 - w1;
            let wo = (w1 * w2).sqrt();
            let wo2 = C64::new(wo * wo, 0.0);
            let stop = matches!(band, Band::Bandstop { .. });
            let base: Vec<C64> = if stop {
                poles
                    .iter()
                    .map(|&p| cdiv(C64::new(bw / 2.0, 0.0), p))
                    .collect()
            } else {
                poles.iter().map(|p| p * bw / 2.0).collect()
            };
            let mut p: Vec<C64> = base.iter().map(|&q| q + csqrt(q * q - wo2)).collect();
            p.extend(base.iter().map(|&q| q - csqrt(q * q - wo2)));
            if stop {
                let mut z = vec![C64::new(0.0, wo); order];
                z.extend(vec![C64::new(0.0, -wo); order]);
                let k = cdiv(C64::new(1.0, 0.0), cprod(poles.iter().map(|p| -p))).re;
                (z, p, k)
            } else {
                (vec![C64::new(0.0, 0.0); order], p, bw.powf(n))
            }
        }
    };
    // Bilinear transform with fs = 2 (the frequencies were pre-warped for it).
    let fs2 = C64::new(4.0, 0.0);
    let degree = poles.len() - zeros.len();
    let mut zz: Vec<C64> = zeros.iter().map(|&z| cdiv(fs2 + z, fs2 - z)).collect();
    zz.extend(std::iter::repeat_n(C64::new(-1.0, 0.0), degree));
    let pz: Vec<C64> = poles.iter().map(|&p| cdiv(fs2 + p, fs2 - p)).collect();
    let kz = gain
        * cdiv(
            cprod(zeros.iter().map(|&z| fs2 - z)),
            cprod(poles.iter().map(|&p| fs2 - p)),
        )
        .re;
    Ok(Zpk {
        zeros: zz,
        poles: pz,
        gain: kz,
    })
}

/// Coefficients of `∏(x − rᵢ)` expanded one root at a time (`np.poly`), real part.
fn poly(roots: &[C64]) -> Vec<f64> {
    let mut a = vec![C64::new(1.0, 0.0)];
    for &r in roots {
        // Full convolution with [1, −r]; each complex dot product accumulates the four real
        // products separately, as NumPy's (BLAS `zdotu`) does.
        let k = [C64::new(1.0, 0.0), -r];
        let next = (0..=a.len())
            .map(|i| {
                let (mut rr, mut ii, mut ri, mut ir) = (0.0, 0.0, 0.0, 0.0);
                let lo = i.saturating_sub(1);
                for (j, x) in a.iter().enumerate().take(i + 1).skip(lo) {
                    let y = k[i - j];
                    rr += x.re * y.re;
                    ii += x.im * y.im;
                    ri += x.re * y.im;
                    ir += x.im * y.re;
                }
                C64::new(rr - ii, ri + ir)
            })
            .collect();
        a = next;
    }
    a.into_iter().map(|c| c.re).collect()
}

impl Zpk {
    /// The transfer function (`scipy.signal.zpk2tf`). The roots of a Butterworth design come in
    /// conjugate pairs, so the coefficients are real; imaginary round-off is dropped.
    pub fn to_ba(&self) -> Ba {
        let b = poly(&self.zeros)
            .into_iter()
            .map(|c| self.gain * c)
            .collect();
        Ba {
            b,
            a: poly(&self.poles),
        }
    }

    /// Second-order sections (`scipy.signal.zpk2sos(z, p, k, pairing="nearest")`).
    ///
    /// Errors: [`SortError::InvalidParameter`] if a complex root has no conjugate.
    pub fn to_sos(&self) -> Result<Sos> {
        zpk2sos(&self.zeros, &self.poles, self.gain)
    }
}

fn is_real(c: &C64) -> bool {
    c.im == 0.0
}

/// SciPy's `_cplxreal`: complex roots once (positive imaginary part, averaged with the
/// conjugate), then real roots; sorted by real part then |imag|.
fn cplxreal(z: &[C64]) -> Result<Vec<C64>> {
    if z.is_empty() {
        return Ok(Vec::new());
    }
    let tol = 100.0 * f64::EPSILON;
    let mut z = z.to_vec();
    // Stable sort by (real, |imag|), as np.lexsort.
    z.sort_by(|a, b| {
        a.re.total_cmp(&b.re)
            .then(a.im.abs().total_cmp(&b.im.abs()))
    });
    let (real, cplx): (Vec<C64>, Vec<C64>) =
        z.into_iter().partition(|c| c.im.abs() <= tol * c.norm());
    let zr: Vec<C64> = real.iter().map(|c| C64::new(c.re, 0.0)).collect();
    let mut zp: Vec<C64> = cplx.iter().copied().filter(|c| c.im > 0.0).collect();
    let mut zn: Vec<C64> = cplx.iter().copied().filter(|c| c.im < 0.0).collect();
    let unmatched = || SortError::InvalidParameter {
        name: "zpk",
        reason: "a complex root has no matching conjugate; filters must have real coefficients"
            .into(),
    };
    if zp.len() != zn.len() {
        return Err(unmatched());
    }
    // Within runs of equal real part, order by |imag|.
    let mut start = 0;
    while start < zp.len() {
        let mut stop = start + 1;
        while stop < zp.len() && zp[stop].re - zp[stop - 1].re <= tol * zp[stop - 1].norm() {
            stop += 1;
        }
        if stop - start > 1 {
            for chunk in [&mut zp[start..stop], &mut zn[start..stop]] {
                chunk.sort_by(|a, b| a.im.abs().total_cmp(&b.im.abs()));
            }
        }
        start = stop;
    }
    let mut out = Vec::with_capacity(zp.len() + zr.len());
    for (p, n) in zp.iter().zip(&zn) {
        if (p - n.conj()).norm() > tol * n.norm() {
            return Err(unmatched());
        }
        out.push((p + n.conj()) / 2.0);
    }
    out.extend(zr);
    Ok(out)
}

fn single_section(z: &[C64], p: &[C64]) -> [f64; 6] {
    let b = poly(z);
    let a = poly(p);
    let mut s = [0.0; 6];
    s[3 - b.len()..3].copy_from_slice(&b);
    s[6 - a.len()..6].copy_from_slice(&a);
    s
}

fn nearest(from: &[C64], to: C64, which: Option<bool>) -> usize {
    let mut order: Vec<usize> = (0..from.len()).collect();
    order.sort_by(|&i, &j| (from[i] - to).norm().total_cmp(&(from[j] - to).norm()));
    *order
        .iter()
        .find(|&&i| which.is_none_or(|want_real| is_real(&from[i]) == want_real))
        .expect("a root of the requested kind exists by construction")
}

fn zpk2sos(z: &[C64], p: &[C64], k: f64) -> Result<Sos> {
    if z.is_empty() && p.is_empty() {
        return Ok(Sos {
            sections: vec![[k, 0.0, 0.0, 1.0, 0.0, 0.0]],
        });
    }
    let mut z = z.to_vec();
    let mut p = p.to_vec();
    let zero = C64::new(0.0, 0.0);
    let n = z.len().max(p.len());
    z.resize(n, zero);
    p.resize(n, zero);
    let n_sections = n.div_ceil(2);
    if p.len() % 2 == 1 {
        p.push(zero);
        z.push(zero);
    }
    let mut z = cplxreal(&z)?;
    let mut p = cplxreal(&p)?;
    let idx_worst = |v: &[C64]| -> usize {
        let mut best = 0;
        for i in 1..v.len() {
            if (1.0 - v[i].norm()).abs() < (1.0 - v[best].norm()).abs() {
                best = i;
            }
        }
        best
    };
    let count_real = |v: &[C64]| v.iter().filter(|c| is_real(c)).count();
    let mut sos = vec![[0.0; 6]; n_sections];
    for si in (0..n_sections).rev() {
        let p1 = p.remove(idx_worst(&p));
        if is_real(&p1) && count_real(&p) == 0 {
            let z1 = z.remove(nearest(&z, p1, Some(true)));
            sos[si] = single_section(&[z1, zero], &[p1, zero]);
        } else if p.len() + 1 == z.len()
            && !is_real(&p1)
            && count_real(&p) == 1
            && count_real(&z) == 1
        {
            let z1 = z.remove(nearest(&z, p1, Some(false)));
            sos[si] = single_section(&[z1, z1.conj()], &[p1, p1.conj()]);
        } else {
            let p2 = if is_real(&p1) {
                let reals: Vec<usize> = (0..p.len()).filter(|&i| is_real(&p[i])).collect();
                let vals: Vec<C64> = reals.iter().map(|&i| p[i]).collect();
                p.remove(reals[idx_worst(&vals)])
            } else {
                p1.conj()
            };
            if z.is_empty() {
                sos[si] = single_section(&[], &[p1, p2]);
            } else {
                let z1 = z.remove(nearest(&z, p1, None));
                if !is_real(&z1) {
                    sos[si] = single_section(&[z1, z1.conj()], &[p1, p2]);
                } else if !z.is_empty() {
                    let z2 = z.remove(nearest(&z, p1, Some(true)));
                    sos[si] = single_section(&[z1, z2], &[p1, p2]);
                } else {
                    sos[si] = single_section(&[z1], &[p1, p2]);
                }
            }
        }
    }
    for c in &mut sos[0][..3] {
        *c *= k;
    }
    Ok(Sos { sections: sos })
}

/// `scipy.signal.butter(order, Wn, btype, fs=fs)` in transfer-function form (`output="ba"`).
///
/// ```
/// use spikelab_sort::filter::{butter_ba, Band};
/// let ba = butter_ba(1, Band::Lowpass { cutoff_hz: 1000.0 }, 10_000.0)?;
/// // First order: b = [k, k], a = [1, a1] with unit gain at DC.
/// assert!(((ba.b[0] + ba.b[1]) / (ba.a[0] + ba.a[1]) - 1.0).abs() < 1e-12);
/// # Ok::<(), spikelab_sort::SortError>(())
/// ```
///
/// Errors as [`butter_zpk`].
pub fn butter_ba(order: usize, band: Band, sampling_rate_hz: f64) -> Result<Ba> {
    Ok(butter_zpk(order, band, sampling_rate_hz)?.to_ba())
}

/// `scipy.signal.butter(order, Wn, btype, fs=fs, output="sos")`.
///
/// ```
/// use spikelab_sort::filter::{butter_sos, Band};
/// let sos = butter_sos(5, Band::Highpass { cutoff_hz: 150.0 }, 30_000.0)?;
/// assert_eq!(sos.n_sections(), 3);
/// # Ok::<(), spikelab_sort::SortError>(())
/// ```
///
/// Errors as [`butter_zpk`].
pub fn butter_sos(order: usize, band: Band, sampling_rate_hz: f64) -> Result<Sos> {
    butter_zpk(order, band, sampling_rate_hz)?.to_sos()
}

impl Ba {
    /// Checks the coefficients: both non-empty, finite, `a[0] ≠ 0`.
    pub fn validate(&self) -> Result<()> {
        if self.b.is_empty() || self.a.is_empty() {
            return Err(SortError::InvalidParameter {
                name: "ba",
                reason: "b and a need at least one coefficient each".into(),
            });
        }
        if self.b.iter().chain(&self.a).any(|v| !v.is_finite()) {
            return Err(SortError::NonFinite("filter coefficients b, a".into()));
        }
        if self.a[0] == 0.0 {
            return Err(SortError::InvalidParameter {
                name: "a",
                reason: "a[0] must be non-zero (it normalises the recursion)".into(),
            });
        }
        Ok(())
    }

    /// The edge padding [`filtfilt`] uses: `3·max(len a, len b)` (SciPy's default).
    pub fn padlen(&self) -> usize {
        3 * self.a.len().max(self.b.len())
    }

    /// `b/a[0]` and `a/a[0]`, both padded with zeros to the same length.
    fn normalised(&self) -> (Vec<f64>, Vec<f64>) {
        let n = self.a.len().max(self.b.len());
        let a0 = self.a[0];
        let mut b: Vec<f64> = self.b.iter().map(|v| v / a0).collect();
        let mut a: Vec<f64> = self.a.iter().map(|v| v / a0).collect();
        b.resize(n, 0.0);
        a.resize(n, 0.0);
        (b, a)
    }
}

impl Sos {
    /// Sections from rows `[b₀, b₁, b₂, a₀, a₁, a₂]`.
    ///
    /// Errors: [`SortError::InvalidParameter`] for no section or `a₀ ≠ 1` (as SciPy requires);
    /// [`SortError::NonFinite`] for NaN or infinite coefficients.
    pub fn new(sections: Vec<[f64; 6]>) -> Result<Self> {
        if sections.is_empty() {
            return Err(SortError::InvalidParameter {
                name: "sos",
                reason: "at least one section is needed".into(),
            });
        }
        if sections.iter().flatten().any(|v| !v.is_finite()) {
            return Err(SortError::NonFinite("second-order sections".into()));
        }
        if sections.iter().any(|s| s[3] != 1.0) {
            return Err(SortError::InvalidParameter {
                name: "sos",
                reason: "the leading denominator coefficient a₀ of every section must be 1".into(),
            });
        }
        Ok(Self { sections })
    }

    /// The sections, rows `[b₀, b₁, b₂, 1, a₁, a₂]`.
    pub fn sections(&self) -> &[[f64; 6]] {
        &self.sections
    }

    /// Number of sections.
    pub fn n_sections(&self) -> usize {
        self.sections.len()
    }

    /// The edge padding [`sosfiltfilt`] uses (SciPy's default):
    /// `3·(2·n_sections + 1 − min(#{b₂ = 0}, #{a₂ = 0}))`.
    pub fn padlen(&self) -> usize {
        let zb = self.sections.iter().filter(|s| s[2] == 0.0).count();
        let za = self.sections.iter().filter(|s| s[5] == 0.0).count();
        3 * (2 * self.sections.len() + 1 - zb.min(za))
    }
}

/// The steady state of [`lfilter`]'s recursion for a unit step (`scipy.signal.lfilter_zi`):
/// filtering a constant `c` from the state `c·zi` gives the constant output `c·H(1)`.
///
/// ```
/// use spikelab_sort::filter::{butter_ba, lfilter, lfilter_zi, Band};
/// let ba = butter_ba(2, Band::Lowpass { cutoff_hz: 100.0 }, 1000.0)?;
/// let zi = lfilter_zi(&ba)?;
/// let (y, _) = lfilter(&ba, &[1.0; 5], Some(&zi))?;
/// assert!(y.iter().all(|v| (v - 1.0).abs() < 1e-12));
/// # Ok::<(), spikelab_sort::SortError>(())
/// ```
///
/// SciPy solves the linear system with LAPACK; here the closed form is evaluated in
/// double-double arithmetic, which gives the exact solution rounded once. The two differ when
/// the system is ill-conditioned (poles near z = 1), and so do the first samples of [`filtfilt`]
/// (see the crate's parity test for the measured size).
///
/// Errors: invalid coefficients ([`Ba::validate`]); a pole at z = 1.
pub fn lfilter_zi(ba: &Ba) -> Result<Vec<f64>> {
    ba.validate()?;
    let (b, a) = ba.normalised();
    let m = a.len() - 1;
    if m == 0 {
        return Ok(Vec::new());
    }
    // (I − Aᵀ)·zi = B with A the companion matrix of a, B = b[1:] − a[1:]·b₀, has the closed
    // form zi₀ = ΣB / Σa, zi_k = (Σ_{j≤k} a_j)·zi₀ − Σ_{j<k} B_j. The sums cancel badly when a
    // pole is near z = 1 (narrow or low bands), so they run in double-double arithmetic: zi is
    // then the exact solution for the given coefficients, rounded once.
    let bb: Vec<Dd> = (1..=m)
        .map(|i| Dd::from(b[i]) - Dd::prod(a[i], b[0]))
        .collect();
    let asum = a.iter().fold(Dd::from(0.0), |s, &v| s + Dd::from(v));
    if asum.hi == 0.0 {
        return Err(SortError::InvalidParameter {
            name: "a",
            reason: "the filter has a pole at z = 1, so no steady state exists".into(),
        });
    }
    let zi0 = bb.iter().fold(Dd::from(0.0), |s, &v| s + v) / asum;
    let mut out = Vec::with_capacity(m);
    let mut acc_a = Dd::from(1.0);
    let mut acc_b = Dd::from(0.0);
    for k in 0..m {
        if k > 0 {
            acc_a = acc_a + Dd::from(a[k]);
            acc_b = acc_b + bb[k - 1];
        }
        out.push((acc_a * zi0 - acc_b).hi);
    }
    Ok(out)
}

/// A double-double number `hi + lo` (Dekker 1971; Hida, Li & Bailey 2001), about 106 bits.
#[derive(Debug, Clone, Copy)]
struct Dd {
    hi: f64,
    lo: f64,
}

impl Dd {
    fn two_sum(a: f64, b: f64) -> Dd {
        let s = a + b;
        let bb = s - a;
        Dd {
            hi: s,
            lo: (a - (s - bb)) + (b - bb),
        }
    }
    fn fast_two_sum(a: f64, b: f64) -> Dd {
        let s = a + b;
        Dd {
            hi: s,
            lo: b - (s - a),
        }
    }
    fn prod(a: f64, b: f64) -> Dd {
        let p = a * b;
        Dd {
            hi: p,
            lo: a.mul_add(b, -p),
        }
    }
}

impl From<f64> for Dd {
    fn from(v: f64) -> Self {
        Dd { hi: v, lo: 0.0 }
    }
}

impl std::ops::Add for Dd {
    type Output = Dd;
    fn add(self, o: Dd) -> Dd {
        let s = Dd::two_sum(self.hi, o.hi);
        let t = Dd::two_sum(self.lo, o.lo);
        let v = Dd::fast_two_sum(s.hi, s.lo + t.hi);
        Dd::fast_two_sum(v.hi, v.lo + t.lo)
    }
}

impl std::ops::Neg for Dd {
    type Output = Dd;
    fn neg(self) -> Dd {
        Dd {
            hi: -self.hi,
            lo: -self.lo,
        }
    }
}

impl std::ops::Sub for Dd {
    type Output = Dd;
    fn sub(self, o: Dd) -> Dd {
        self + (-o)
    }
}

impl std::ops::Mul for Dd {
    type Output = Dd;
    fn mul(self, o: Dd) -> Dd {
        let p = Dd::prod(self.hi, o.hi);
        Dd::fast_two_sum(p.hi, p.lo + (self.hi * o.lo + self.lo * o.hi))
    }
}

impl std::ops::Div for Dd {
    type Output = Dd;
    fn div(self, o: Dd) -> Dd {
        let q1 = self.hi / o.hi;
        let r = self - o * Dd::from(q1);
        let q2 = r.hi / o.hi;
        let r = r - o * Dd::from(q2);
        let q3 = r.hi / o.hi;
        Dd::fast_two_sum(q1, q2) + Dd::from(q3)
    }
}

/// `scipy.signal.lfilter(b, a, x, zi=zi)`: the causal filter (direct form II transposed).
/// Returns the output and the final state (`len = max(len a, len b) − 1`). `zi = None` starts
/// from rest.
///
/// ```
/// use spikelab_sort::filter::{lfilter, Ba};
/// // Moving sum of two samples.
/// let (y, zf) = lfilter(&Ba { b: vec![1.0, 1.0], a: vec![1.0] }, &[1.0, 2.0, 3.0], None)?;
/// assert_eq!((y, zf), (vec![1.0, 3.0, 5.0], vec![3.0]));
/// # Ok::<(), spikelab_sort::SortError>(())
/// ```
///
/// Errors: invalid coefficients; `zi` of the wrong length.
pub fn lfilter(ba: &Ba, x: &[f64], zi: Option<&[f64]>) -> Result<(Vec<f64>, Vec<f64>)> {
    ba.validate()?;
    let (b, a) = ba.normalised();
    let m = b.len() - 1;
    let mut z = match zi {
        Some(zi) if zi.len() != m => {
            return Err(SortError::Dimension {
                what: "lfilter initial state zi".into(),
                expected: m.to_string(),
                got: zi.len().to_string(),
            });
        }
        Some(zi) => zi.to_vec(),
        None => vec![0.0; m],
    };
    let mut y = Vec::with_capacity(x.len());
    for &xn in x {
        if m == 0 {
            y.push(xn * b[0]);
            continue;
        }
        let yn = z[0] + b[0] * xn;
        for i in 0..m - 1 {
            z[i] = z[i + 1] + xn * b[i + 1] - yn * a[i + 1];
        }
        z[m - 1] = xn * b[m] - yn * a[m];
        y.push(yn);
    }
    Ok((y, z))
}

/// The odd extension of `x` by `n` samples at each end (`scipy.signal._arraytools.odd_ext`).
fn odd_ext(x: &[f64], n: usize) -> Vec<f64> {
    let len = x.len();
    let (first, last) = (x[0], x[len - 1]);
    let mut ext = Vec::with_capacity(len + 2 * n);
    ext.extend((1..=n).rev().map(|k| 2.0 * first - x[k]));
    ext.extend_from_slice(x);
    ext.extend((0..n).map(|j| 2.0 * last - x[len - 2 - j]));
    ext
}

fn check_len(len: usize, padlen: usize) -> Result<()> {
    if len <= padlen {
        Err(SortError::SignalTooShort {
            n_samples: len,
            padlen,
        })
    } else {
        Ok(())
    }
}

/// Zero-phase filtering, `scipy.signal.filtfilt(b, a, x)` with its defaults (odd padding of
/// [`Ba::padlen`] samples, steady-state initial conditions from [`lfilter_zi`]).
///
/// Errors: [`SortError::SignalTooShort`] if `x.len() ≤ padlen` (SciPy raises `ValueError`);
/// invalid coefficients.
pub fn filtfilt(ba: &Ba, x: &[f64]) -> Result<Vec<f64>> {
    ba.validate()?;
    let edge = ba.padlen();
    check_len(x.len(), edge)?;
    let zi = lfilter_zi(ba)?;
    let ext = odd_ext(x, edge);
    let scaled = |c: f64| zi.iter().map(|v| v * c).collect::<Vec<f64>>();
    let (mut y, _) = lfilter(ba, &ext, Some(&scaled(ext[0])))?;
    y.reverse();
    let (mut y, _) = lfilter(ba, &y, Some(&scaled(y[0])))?;
    y.reverse();
    Ok(y[edge..edge + x.len()].to_vec())
}

/// `scipy.signal.sosfilt_zi`: per-section steady states for a unit step at the input.
///
/// Errors: a section with a pole at z = 1.
pub fn sosfilt_zi(sos: &Sos) -> Result<Vec<[f64; 2]>> {
    let mut scale = 1.0;
    let mut out = Vec::with_capacity(sos.n_sections());
    for s in &sos.sections {
        let ba = Ba {
            b: s[..3].to_vec(),
            a: s[3..].to_vec(),
        };
        let zi = lfilter_zi(&ba)?;
        out.push([scale * zi[0], scale * zi[1]]);
        scale *= (s[0] + s[1] + s[2]) / (s[3] + s[4] + s[5]);
    }
    Ok(out)
}

/// `scipy.signal.sosfilt(sos, x, zi=zi)`: the sections in cascade (each in direct form II
/// transposed). Returns the output and the final states. `zi = None` starts from rest.
///
/// Errors: `zi` with a length other than the number of sections.
pub fn sosfilt(sos: &Sos, x: &[f64], zi: Option<&[[f64; 2]]>) -> Result<(Vec<f64>, Vec<[f64; 2]>)> {
    let ns = sos.n_sections();
    let mut z = match zi {
        Some(zi) if zi.len() != ns => {
            return Err(SortError::Dimension {
                what: "sosfilt initial state zi (sections)".into(),
                expected: ns.to_string(),
                got: zi.len().to_string(),
            });
        }
        Some(zi) => zi.to_vec(),
        None => vec![[0.0; 2]; ns],
    };
    let mut y = Vec::with_capacity(x.len());
    for &xn in x {
        let mut cur = xn;
        for (s, zs) in sos.sections.iter().zip(z.iter_mut()) {
            let new = s[0] * cur + zs[0];
            zs[0] = s[1] * cur - s[4] * new + zs[1];
            zs[1] = s[2] * cur - s[5] * new;
            cur = new;
        }
        y.push(cur);
    }
    Ok((y, z))
}

/// Zero-phase filtering with second-order sections, `scipy.signal.sosfiltfilt(sos, x)` with its
/// defaults (odd padding of [`Sos::padlen`] samples, initial states from [`sosfilt_zi`]).
///
/// Errors: [`SortError::SignalTooShort`] if `x.len() ≤ padlen`.
pub fn sosfiltfilt(sos: &Sos, x: &[f64]) -> Result<Vec<f64>> {
    let edge = sos.padlen();
    check_len(x.len(), edge)?;
    let zi = sosfilt_zi(sos)?;
    let ext = odd_ext(x, edge);
    let scaled = |c: f64| zi.iter().map(|v| [v[0] * c, v[1] * c]).collect::<Vec<_>>();
    let (mut y, _) = sosfilt(sos, &ext, Some(&scaled(ext[0])))?;
    y.reverse();
    let (mut y, _) = sosfilt(sos, &y, Some(&scaled(y[0])))?;
    y.reverse();
    Ok(y[edge..edge + x.len()].to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_bands_are_errors() {
        let fs = 30_000.0;
        for band in [
            Band::Lowpass {
                cutoff_hz: 15_000.0,
            },
            Band::Lowpass { cutoff_hz: 0.0 },
            Band::Highpass {
                cutoff_hz: f64::NAN,
            },
            Band::Bandpass {
                low_hz: 3000.0,
                high_hz: 300.0,
            },
            Band::Bandpass {
                low_hz: 300.0,
                high_hz: 300.0,
            },
            Band::Bandstop {
                low_hz: 300.0,
                high_hz: 16_000.0,
            },
        ] {
            assert!(
                matches!(
                    butter_ba(4, band, fs),
                    Err(SortError::InvalidParameter { .. })
                ),
                "{band:?}"
            );
        }
        let ok = Band::Lowpass { cutoff_hz: 100.0 };
        assert!(butter_ba(0, ok, fs).is_err());
        assert!(butter_ba(2, ok, 0.0).is_err());
    }

    #[test]
    fn short_signal_is_an_error() {
        let ba = butter_ba(4, Band::Highpass { cutoff_hz: 300.0 }, 30_000.0).unwrap();
        assert_eq!(ba.padlen(), 15);
        let x = vec![0.0; 15];
        assert!(matches!(
            filtfilt(&ba, &x),
            Err(SortError::SignalTooShort {
                n_samples: 15,
                padlen: 15
            })
        ));
        assert!(filtfilt(&ba, &[0.0; 16]).is_ok());
        let sos = ba_to_sos_for_test();
        assert!(sosfiltfilt(&sos, &[1.0; 10]).is_err());
    }

    fn ba_to_sos_for_test() -> Sos {
        butter_sos(4, Band::Highpass { cutoff_hz: 300.0 }, 30_000.0).unwrap()
    }

    #[test]
    fn constant_passes_lowpass_and_vanishes_in_highpass() {
        let x = vec![3.5; 100];
        let lo = butter_sos(3, Band::Lowpass { cutoff_hz: 500.0 }, 10_000.0).unwrap();
        assert!(
            sosfiltfilt(&lo, &x)
                .unwrap()
                .iter()
                .all(|v| (v - 3.5).abs() < 1e-12)
        );
        let hi = butter_ba(3, Band::Highpass { cutoff_hz: 500.0 }, 10_000.0).unwrap();
        assert!(filtfilt(&hi, &x).unwrap().iter().all(|v| v.abs() < 1e-12));
    }

    #[test]
    fn coefficient_validation() {
        assert!(Sos::new(vec![]).is_err());
        assert!(Sos::new(vec![[1.0, 0.0, 0.0, 2.0, 0.0, 0.0]]).is_err());
        assert!(
            Ba {
                b: vec![1.0],
                a: vec![0.0]
            }
            .validate()
            .is_err()
        );
        assert!(
            Ba {
                b: vec![f64::NAN],
                a: vec![1.0]
            }
            .validate()
            .is_err()
        );
        let ba = Ba {
            b: vec![1.0, 1.0],
            a: vec![1.0],
        };
        assert!(lfilter(&ba, &[1.0], Some(&[0.0, 0.0])).is_err());
        // a[0] ≠ 1 is normalised away.
        let x = [1.0, -2.0, 0.5, 4.0];
        let scaled = Ba {
            b: vec![2.0, 2.0],
            a: vec![2.0, -1.0],
        };
        let unit = Ba {
            b: vec![1.0, 1.0],
            a: vec![1.0, -0.5],
        };
        assert_eq!(
            lfilter(&scaled, &x, None).unwrap(),
            lfilter(&unit, &x, None).unwrap()
        );
        assert_eq!(lfilter_zi(&scaled).unwrap(), lfilter_zi(&unit).unwrap());
    }
}
