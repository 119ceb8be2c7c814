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
    let m = peaks.len();
    let mut order: Vec<usize> = (0..m).collect();
    order.sort_by(|&a, &b| x[peaks[a]].total_cmp(&x[peaks[b]])); // stable, ascending
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
    peaks
        .into_iter()
        .zip(keep)
        .filter_map(|(p, k)| k.then_some(p))
        .collect()
}
