//! Welch power spectrum with SciPy's defaults, as used by the embedding's noise features.

use realfft::RealFftPlanner;

use super::numeric::pairwise_sum;

/// Segment length of the embedding's Welch estimate (samples).
pub const WELCH_NPERSEG: usize = 1024;
/// Overlap of consecutive Welch segments (samples).
pub const WELCH_NOVERLAP: usize = 512;

/// Periodic Hamming window of length `m`, evaluated as SciPy's `get_window('hamming', m)`
/// (`fftbins=True`: a symmetric window of length `m + 1` without its last sample).
pub(crate) fn hamming_periodic(m: usize) -> Vec<f64> {
    // SciPy: general_cosine(M+1, [0.54, 1 - 0.54]) on fac = linspace(-pi, pi, M+1), truncated.
    let big_m = m + 1;
    let a0 = 0.54;
    let a1 = 1.0 - 0.54;
    let start = -std::f64::consts::PI;
    let stop = std::f64::consts::PI;
    let step = (stop - start) / (big_m - 1) as f64;
    (0..m)
        .map(|i| {
            let fac = if i == big_m - 1 {
                stop
            } else {
                i as f64 * step + start
            };
            a0 + a1 * fac.cos()
        })
        .collect()
}

/// One-sided Welch power **spectrum** (`scaling='spectrum'`) of `x` sampled at any rate.
///
/// Mirrors `scipy.signal.welch(x, window='hamming', nperseg, noverlap, scaling='spectrum')`
/// with SciPy's other defaults: periodic window, `detrend='constant'` per segment, no boundary
/// extension or padding, non-DC bins doubled (the Nyquist bin too for odd `nperseg`, not for
/// even), mean over segments. Returns `nperseg/2 + 1` bins spaced `fs/nperseg` apart.
/// Requires `x.len() >= nperseg > noverlap`; the caller checks.
pub(crate) fn welch_spectrum(x: &[f64], nperseg: usize, noverlap: usize) -> Vec<f64> {
    let win = hamming_periodic(nperseg);
    let wsum = pairwise_sum(&win);
    let scale = 1.0 / (wsum * wsum);
    let step = nperseg - noverlap;
    let nseg = (x.len() - noverlap) / step;
    let nbins = nperseg / 2 + 1;
    let mut planner = RealFftPlanner::<f64>::new();
    let fft = planner.plan_fft_forward(nperseg);
    let mut input = fft.make_input_vec();
    let mut spectrum = fft.make_output_vec();
    let mut scratch = fft.make_scratch_vec();
    let mut per_seg: Vec<Vec<f64>> = vec![Vec::with_capacity(nseg); nbins];
    for s in 0..nseg {
        let seg = &x[s * step..s * step + nperseg];
        let m = pairwise_sum(seg) / nperseg as f64;
        for ((o, &v), &w) in input.iter_mut().zip(seg).zip(&win) {
            *o = (v - m) * w;
        }
        fft.process_with_scratch(&mut input, &mut spectrum, &mut scratch)
            .expect("buffer sizes come from the plan");
        for (k, c) in spectrum.iter().enumerate() {
            let mut p = (c.re * c.re + c.im * c.im) * scale;
            let doubled = if nperseg.is_multiple_of(2) {
                k != 0 && k != nbins - 1
            } else {
                k != 0
            };
            if doubled {
                p *= 2.0;
            }
            per_seg[k].push(p);
        }
    }
    // Mean over segments (NumPy reduces along the last axis of a contiguous array: pairwise).
    per_seg
        .iter()
        .map(|v| pairwise_sum(v) / nseg as f64)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hamming_is_periodic() {
        let w = hamming_periodic(8);
        assert!((w[0] - 0.08).abs() < 1e-15);
        assert!((w[4] - 1.0).abs() < 1e-15);
        assert!((w[1] - w[7]).abs() < 1e-15);
    }

    #[test]
    fn sine_power_lands_in_its_bin() {
        // A 10-bin sine of amplitude 1 has spectrum power 0.5 (rms²) spread by the window.
        let n = 4096;
        let x: Vec<f64> = (0..n)
            .map(|i| (2.0 * std::f64::consts::PI * 10.0 * i as f64 / 1024.0).sin())
            .collect();
        let p = welch_spectrum(&x, 1024, 512);
        assert_eq!(p.len(), 513);
        let peak = (0..p.len()).max_by(|&a, &b| p[a].total_cmp(&p[b])).unwrap();
        assert_eq!(peak, 10);
        assert!((p[10] - 0.5).abs() < 1e-3, "{}", p[10]);
    }
}
