//! Peak finding with SciPy `find_peaks(x, height=h, distance=d)` semantics.

/// Indices of peaks of `x` with SciPy `signal.find_peaks(x, height=min_height,
/// distance=min_distance)` semantics:
///
/// 1. local maxima: `x[i-1] < x[i]` and the next different value is smaller; a flat
///    plateau counts once, at its middle (`(left + right) / 2`, rounded down); the first
///    and last samples are never peaks;
/// 2. keep peaks with height ≥ `min_height`;
/// 3. in order of decreasing height (ties: later peak first, as SciPy's stable order from
///    the end), drop every peak closer than `min_distance` samples to a kept one.
///
/// Returns sorted indices. NaN samples never form peaks.
///
/// # Example
/// ```
/// use spikelab_convseq::find_peaks;
/// let x = [0.0, 2.0, 2.0, 2.0, 0.0, 1.0, 0.0, 3.0, 0.0];
/// assert_eq!(find_peaks(&x, 0.5, 1), vec![2, 5, 7]);
/// assert_eq!(find_peaks(&x, 0.5, 4), vec![2, 7]);
/// assert_eq!(find_peaks(&x, 2.5, 1), vec![7]);
/// ```
pub fn find_peaks(x: &[f64], min_height: f64, min_distance: usize) -> Vec<usize> {
    let n = x.len();
    let mut peaks = Vec::new();
    if n < 3 {
        return peaks;
    }
    let mut i = 1;
    let i_max = n - 1;
    while i < i_max {
        if x[i - 1] < x[i] {
            let mut ahead = i + 1;
            while ahead < i_max && x[ahead] == x[i] {
                ahead += 1;
            }
            if x[ahead] < x[i] {
                let left = i;
                let right = ahead - 1;
                peaks.push((left + right) / 2);
                i = ahead;
            }
        }
        i += 1;
    }
    peaks.retain(|&p| x[p] >= min_height);
    let d = min_distance.max(1);
    if d <= 1 || peaks.len() < 2 {
        return peaks;
    }
    let heights: Vec<f64> = peaks.iter().map(|&p| x[p]).collect();
    let keep = keep_by_distance(&peaks, &heights, d);
    peaks
        .into_iter()
        .zip(keep)
        .filter_map(|(p, k)| k.then_some(p))
        .collect()
}

/// Step 3 of [`find_peaks`]: which of the sorted `peaks` (heights `heights`) survive.
fn keep_by_distance(peaks: &[usize], heights: &[f64], d: usize) -> Vec<bool> {
    let m = peaks.len();
    let mut order: Vec<usize> = (0..m).collect();
    order.sort_by(|&a, &b| heights[a].total_cmp(&heights[b])); // stable, ascending
    let mut keep = vec![true; m];
    for &j in order.iter().rev() {
        if !keep[j] {
            continue;
        }
        let mut k = j;
        while k > 0 && peaks[j] - peaks[k - 1] < d {
            keep[k - 1] = false;
            k -= 1;
        }
        let mut k = j + 1;
        while k < m && peaks[k] - peaks[j] < d {
            keep[k] = false;
            k += 1;
        }
    }
    keep
}

/// [`find_peaks`] over samples that arrive one at a time, for a signal of known length
/// that is never held whole. Peaks closer than the distance form chains; only a chain's
/// peaks can suppress one another, so each chain is decided alone when the next peak is
/// far enough, with the same result as the whole-signal call.
#[derive(Debug)]
pub(crate) struct PeakStream {
    len: usize,
    min_height: f64,
    d: usize,
    t: usize,
    prev: f64,
    /// A rise into a plateau: its first index and value.
    plateau: Option<(usize, f64)>,
    /// Peaks of the current chain: index, height.
    chain: Vec<(usize, f64)>,
    /// Decided peaks: index, height.
    peaks: Vec<(usize, f64)>,
}

impl PeakStream {
    /// A stream for a signal of `len` samples.
    pub(crate) fn new(len: usize, min_height: f64, min_distance: usize) -> Self {
        PeakStream {
            len,
            min_height,
            d: min_distance.max(1),
            t: 0,
            prev: f64::NAN,
            plateau: None,
            chain: Vec::new(),
            peaks: Vec::new(),
        }
    }

    /// The next samples.
    pub(crate) fn extend(&mut self, xs: &[f64]) {
        for &x in xs {
            self.push(x);
        }
    }

    fn push(&mut self, x: f64) {
        let t = self.t;
        let last = self.len.saturating_sub(1);
        if let Some((left, v)) = self.plateau {
            if t < last && x == v {
                self.prev = x;
                self.t += 1;
                return;
            }
            self.plateau = None;
            if x < v {
                self.candidate((left + t - 1) / 2, v);
            }
        }
        if t >= 1 && t < last && self.prev < x {
            self.plateau = Some((t, x));
        }
        self.prev = x;
        self.t += 1;
    }

    fn candidate(&mut self, p: usize, h: f64) {
        if h < self.min_height {
            return;
        }
        if let Some(&(q, _)) = self.chain.last()
            && p - q >= self.d
        {
            self.decide();
        }
        self.chain.push((p, h));
    }

    fn decide(&mut self) {
        let idx: Vec<usize> = self.chain.iter().map(|c| c.0).collect();
        let h: Vec<f64> = self.chain.iter().map(|c| c.1).collect();
        let keep = keep_by_distance(&idx, &h, self.d);
        self.peaks.extend(
            self.chain
                .iter()
                .zip(keep)
                .filter_map(|(&c, k)| k.then_some(c)),
        );
        self.chain.clear();
    }

    /// The peaks (index, height), sorted, after all `len` samples.
    pub(crate) fn finish(mut self) -> Vec<(usize, f64)> {
        self.decide();
        self.peaks
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_stream_finds_the_whole_signal_peaks() {
        // Plateaus, ties, chains of close peaks and a rising end.
        let mut x: Vec<f64> = (0..3000)
            .map(|i| (((i * 7919) % 97) as f64 / 10.0).floor() + ((i % 13) / 7) as f64)
            .collect();
        x[2999] = 50.0;
        for len in [0usize, 1, 2, 3, 10, 500, 3000] {
            let x = &x[..len];
            for (h, d) in [(0.0, 1usize), (3.0, 5), (5.0, 40), (8.5, 200)] {
                let whole = find_peaks(x, h, d);
                for piece in [1usize, 2, 7, 1000] {
                    let mut st = PeakStream::new(len, h, d);
                    for c in x.chunks(piece) {
                        st.extend(c);
                    }
                    let got: Vec<usize> = st.finish().iter().map(|p| p.0).collect();
                    assert_eq!(got, whole, "len {len}, h {h}, d {d}, piece {piece}");
                }
            }
        }
    }
}
