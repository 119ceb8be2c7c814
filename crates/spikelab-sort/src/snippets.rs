//! Snippet (waveform) extraction around spike frames.
//!
//! For a frame `f`, the snippet holds samples `[f − before, f + after)` of every channel
//! (SimSort: `before = 20`, `after = 40`, 60 samples, specification §6); samples outside the
//! recording are zero (zero padding at the edges). The output is `[spike, sample, channel]`.
//!
//! ```
//! use ndarray::Array2;
//! use spikelab_sort::snippets::{extract_snippets, SnippetWindow};
//! let x = Array2::from_shape_fn((100, 2), |(t, c)| (t * 10 + c) as f32);
//! let s = extract_snippets(x.view(), &[5, 50], SnippetWindow::default())?;
//! assert_eq!(s.dim(), (2, 60, 2));
//! assert_eq!(s[(0, 0, 0)], 0.0); // frame 5 − 20 < 0: padded
//! assert_eq!(s[(0, 20, 1)], 51.0); // the peak sample sits at index `before`
//! assert_eq!(s[(1, 59, 0)], 890.0);
//! # Ok::<(), spikelab_sort::SortError>(())
//! ```

use ndarray::{Array3, ArrayView2, s};
use serde::{Deserialize, Serialize};

use crate::error::{Result, SortError};
use crate::filter::{Ba, lfilter};

/// Samples kept before and after the spike frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnippetWindow {
    /// Samples before the frame (20).
    pub before: usize,
    /// Samples from the frame on, the frame included (40).
    pub after: usize,
}

impl Default for SnippetWindow {
    fn default() -> Self {
        Self {
            before: 20,
            after: 40,
        }
    }
}

impl SnippetWindow {
    /// Snippet length in samples, `before + after`.
    pub fn len(&self) -> usize {
        self.before + self.after
    }

    /// Whether the window is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Snippets `[spike, sample, channel]` of `traces` (`[sample, channel]`) around `frames`.
///
/// Errors: [`SortError::InvalidParameter`] for an empty window or a frame outside
/// `0..n_samples`.
pub fn extract_snippets(
    traces: ArrayView2<f32>,
    frames: &[i64],
    window: SnippetWindow,
) -> Result<Array3<f32>> {
    let all: Vec<usize> = (0..traces.ncols()).collect();
    extract_snippets_on(traces, frames, window, &all)
}

/// Snippets `[spike, sample, k]` of `traces` on the listed `channels` only (`k` indexes
/// `channels`), so a 384-channel probe costs the size of a channel group per spike.
///
/// ```
/// use ndarray::Array2;
/// use spikelab_sort::snippets::{extract_snippets_on, SnippetWindow};
/// let x = Array2::from_shape_fn((100, 5), |(t, c)| (t * 10 + c) as f32);
/// let w = SnippetWindow { before: 1, after: 2 };
/// let s = extract_snippets_on(x.view(), &[50], w, &[4, 1])?;
/// assert_eq!(s.dim(), (1, 3, 2));
/// assert_eq!((s[(0, 0, 0)], s[(0, 2, 1)]), (494.0, 511.0));
/// # Ok::<(), spikelab_sort::SortError>(())
/// ```
///
/// Errors: as [`extract_snippets`]; a channel outside `0..n_channels`.
pub fn extract_snippets_on(
    traces: ArrayView2<f32>,
    frames: &[i64],
    window: SnippetWindow,
    channels: &[usize],
) -> Result<Array3<f32>> {
    if window.is_empty() {
        return Err(SortError::InvalidParameter {
            name: "window",
            reason: "before + after must be at least 1 sample".into(),
        });
    }
    let (n, c) = traces.dim();
    if let Some(&bad) = channels.iter().find(|&&ch| ch >= c) {
        return Err(SortError::InvalidParameter {
            name: "channels",
            reason: format!("channel {bad} is outside the traces' 0..{c} channels"),
        });
    }
    let mut out = Array3::<f32>::zeros((frames.len(), window.len(), channels.len()));
    for (k, &f) in frames.iter().enumerate() {
        if f < 0 || f as usize >= n {
            return Err(SortError::InvalidParameter {
                name: "frames",
                reason: format!("frame {f} (spike {k}) is outside the recording's 0..{n} samples"),
            });
        }
        let start = f - window.before as i64;
        let lo = start.max(0) as usize;
        let hi = ((f + window.after as i64) as usize).min(n);
        let off = (lo as i64 - start) as usize;
        for (i, t) in (lo..hi).enumerate() {
            let row = traces.row(t);
            for (o, &ch) in out.slice_mut(s![k, off + i, ..]).iter_mut().zip(channels) {
                *o = row[ch];
            }
        }
    }
    Ok(out)
}

/// Causal filtering of every snippet along time, in place (`lfilter(b, a, snippets, axis=1)`
/// from rest, in f64). SimSort low-passes its *training* snippets this way (Butterworth order
/// 1, 1 kHz at 10 kHz; specification §5) and not its test snippets.
///
/// ```
/// use ndarray::Array3;
/// use spikelab_sort::filter::{butter_ba, Band};
/// use spikelab_sort::snippets::filter_snippets_causal;
/// let mut s = Array3::<f32>::ones((2, 60, 4));
/// let ba = butter_ba(1, Band::Lowpass { cutoff_hz: 1000.0 }, 10_000.0)?;
/// filter_snippets_causal(&mut s, &ba)?;
/// assert!(s[(0, 0, 0)] < 0.5 && (s[(1, 59, 3)] - 1.0).abs() < 1e-6);
/// # Ok::<(), spikelab_sort::SortError>(())
/// ```
///
/// Errors: invalid coefficients.
pub fn filter_snippets_causal(snippets: &mut Array3<f32>, ba: &Ba) -> Result<()> {
    let (n_spikes, _, n_channels) = snippets.dim();
    for k in 0..n_spikes {
        for c in 0..n_channels {
            let mut lane = snippets.slice_mut(s![k, .., c]);
            let x: Vec<f64> = lane.iter().map(|&v| f64::from(v)).collect();
            let (y, _) = lfilter(ba, &x, None)?;
            for (o, v) in lane.iter_mut().zip(y) {
                *o = v as f32;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array2;

    #[test]
    fn edges_are_zero_padded_and_bad_frames_rejected() {
        let x = Array2::from_shape_fn((30, 1), |(t, _)| t as f32 + 1.0);
        let w = SnippetWindow {
            before: 3,
            after: 4,
        };
        let s = extract_snippets(x.view(), &[0, 28], w).unwrap();
        assert_eq!(
            s.slice(s![0, .., 0]).to_vec(),
            vec![0.0, 0.0, 0.0, 1.0, 2.0, 3.0, 4.0]
        );
        assert_eq!(
            s.slice(s![1, .., 0]).to_vec(),
            vec![26.0, 27.0, 28.0, 29.0, 30.0, 0.0, 0.0]
        );
        assert!(extract_snippets(x.view(), &[30], w).is_err());
        assert!(extract_snippets(x.view(), &[-1], w).is_err());
        let empty = SnippetWindow {
            before: 0,
            after: 0,
        };
        assert!(extract_snippets(x.view(), &[1], empty).is_err());
        assert_eq!(extract_snippets(x.view(), &[], w).unwrap().dim(), (0, 7, 1));
    }
}
