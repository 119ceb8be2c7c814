//! The way back from the model's frame rate to the recording's.

use ndarray::Array2;

/// Brings `[time, neuron]` values at a model's frame rate back to `n_input` frames at the
/// recording's rate, `model_per_input` = model rate / input rate model frames per input frame
/// (frame 0 of both at time 0, as after a Fourier resampling): each frame stands for the
/// interval around its time, and an input frame gets the overlap-weighted mean of the model
/// frames its interval covers. Means of rates stay rates, non-negative values stay
/// non-negative, and an input frame touching a NaN model frame is NaN. Equal rates and lengths
/// return the values unchanged.
///
/// ```
/// use ndarray::array;
/// use spikelab_calcium::deconvolve::to_input_frames;
/// let y = array![[1.0], [3.0], [5.0], [7.0]]; // 4 model frames, 2 per input frame
/// let back = to_input_frames(&y, 2, 2.0); // input frames cover model frames [−1, 1) and [1, 3)
/// assert_eq!(back.column(0).to_vec(), vec![(1.5 * 1.0 + 0.5 * 3.0) / 2.0, 5.0]);
/// ```
pub fn to_input_frames(y: &Array2<f64>, n_input: usize, model_per_input: f64) -> Array2<f64> {
    let (n_model, n_neurons) = y.dim();
    if n_model == n_input && model_per_input == 1.0 {
        return y.clone();
    }
    let mut out = Array2::from_elem((n_input, n_neurons), f64::NAN);
    if n_model == 0 {
        return out;
    }
    // In model-frame units: model frame k covers [k − ½, k + ½) (the first and last frames
    // extend to the ends of the recording), input frame i covers [(i − ½)·s, (i + ½)·s).
    let s = model_per_input;
    let last = n_model - 1;
    let span = |k: usize| {
        let lo = if k == 0 {
            f64::NEG_INFINITY
        } else {
            k as f64 - 0.5
        };
        let hi = if k == last {
            f64::INFINITY
        } else {
            k as f64 + 0.5
        };
        (lo, hi)
    };
    for i in 0..n_input {
        let (lo, hi) = ((i as f64 - 0.5) * s, (i as f64 + 0.5) * s);
        let k0 = ((lo + 0.5).floor().max(0.0) as usize).min(last);
        let k1 = ((hi + 0.5).ceil().max(0.0) as usize).clamp(k0 + 1, n_model);
        for j in 0..n_neurons {
            let (mut sum, mut w) = (0.0, 0.0);
            for k in k0..k1 {
                let (a, b) = span(k);
                let o = hi.min(b) - lo.max(a);
                if o > 0.0 {
                    sum += o * y[[k, j]];
                    w += o;
                }
            }
            out[[i, j]] = sum / w;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn down_and_up_keep_the_mean_and_nan() {
        let y = Array2::from_shape_fn((300, 1), |(i, _)| (i as f64 * 0.1).sin() + 2.0);
        for n in [90, 100, 299, 301, 1000] {
            let b = to_input_frames(&y, n, 300.0 / n as f64);
            assert_eq!(b.dim(), (n, 1));
            let m_in = y.mean().unwrap();
            let m_out = b.mean().unwrap();
            assert!((m_in - m_out).abs() < 0.01, "{n}: {m_in} vs {m_out}");
        }
        let mut y = y;
        y[[150, 0]] = f64::NAN;
        let b = to_input_frames(&y, 100, 3.0);
        let nan: Vec<usize> = (0..100).filter(|&i| b[[i, 0]].is_nan()).collect();
        assert_eq!(nan, vec![50]);
    }
}
