//! Two independent gravitating pairs (EIT's synthetic benchmark: Liu et al., NeurIPS 2022,
//! `two_body_dataset_creator.two_pair_setting_randomtime_diffmass`).
//!
//! Per trial and pair: masses m₁ ~ U[0.8, 1.2] (light) and m₂ ~ U[1.2, 1.6] (heavy); a position
//! p ~ U[0.5, 1.5]², r = ‖p‖, velocity v = (−p_y, p_x)/(2 r^{3/2}) · (1 + 0.05 ξ), ξ ~ N(0, 1);
//! body 1 at (p, v), body 2 at (−p, −v). Newtonian gravity (G = 1, no softening) is
//! integrated with an adaptive Dormand–Prince 5(4) method (rtol 1e-9, atol 1e-6, scipy's
//! `RK45` error norm) over t ∈ [0, 10] and read at 50 equally spaced times; a window of 10
//! consecutive readings starts at s ~ U{0, …, 39}. Bodies 0, 1 are pair 1 (light, heavy),
//! bodies 2, 3 pair 2.
//!
//! [`TwoBodyData::dataset`] builds EIT's classification task: every trial under all 24 body
//! permutations, positions only, labelled by the permutation's class ([`TwoBodyLabel`]).

use ndarray::{Array4, s};
use rand::Rng;
use rand_distr::{Distribution, StandardNormal};
use serde::{Deserialize, Serialize};

use crate::error::{Result, SynthError};
use crate::rng::stream;

/// Parameters of the two-body generator (defaults: the original's).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TwoBodyParams {
    /// Trials.
    pub n_trials: usize,
    /// Readings over [0, `t_end`].
    pub n_times: usize,
    /// End of the integration (time units of G = 1).
    pub t_end: f64,
    /// Consecutive readings kept per trial.
    pub window: usize,
    /// Relative tolerance of the integrator.
    pub rtol: f64,
    /// Absolute tolerance of the integrator.
    pub atol: f64,
}

impl Default for TwoBodyParams {
    fn default() -> Self {
        Self {
            n_trials: 500,
            n_times: 50,
            t_end: 10.0,
            window: 10,
            rtol: 1e-9,
            atol: 1e-6,
        }
    }
}

/// Which class a permutation of the four bodies gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum TwoBodyLabel {
    /// (type, connection): 12 classes.
    Both,
    /// How the four slots split into the two interacting pairs: 3 classes.
    Connection,
    /// Which two slots hold the light bodies: 6 classes.
    Type,
}

impl TwoBodyLabel {
    /// Number of classes.
    pub fn n_classes(self) -> usize {
        match self {
            TwoBodyLabel::Both => 12,
            TwoBodyLabel::Connection => 3,
            TwoBodyLabel::Type => 6,
        }
    }
}

impl std::str::FromStr for TwoBodyLabel {
    type Err = SynthError;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "both" => Ok(Self::Both),
            "connection" => Ok(Self::Connection),
            "type" => Ok(Self::Type),
            _ => Err(SynthError::InvalidParameter {
                name: "label",
                reason: format!("{s:?}: expected both, connection or type"),
            }),
        }
    }
}

/// The 24 permutations in the order of the original's `perm_expert_4` (slot j holds body
/// `π[j]`); class ids are assigned in order of first appearance along this list.
pub const PERMUTATIONS: [[usize; 4]; 24] = [
    [0, 1, 2, 3],
    [3, 1, 0, 2],
    [0, 3, 2, 1],
    [2, 0, 3, 1],
    [3, 2, 1, 0],
    [2, 1, 3, 0],
    [1, 0, 2, 3],
    [2, 0, 1, 3],
    [3, 0, 2, 1],
    [1, 3, 2, 0],
    [2, 3, 0, 1],
    [0, 1, 3, 2],
    [2, 1, 0, 3],
    [1, 2, 0, 3],
    [3, 2, 0, 1],
    [1, 3, 0, 2],
    [1, 0, 3, 2],
    [1, 2, 3, 0],
    [2, 3, 1, 0],
    [0, 2, 3, 1],
    [0, 2, 1, 3],
    [3, 0, 1, 2],
    [0, 3, 1, 2],
    [3, 1, 2, 0],
];

/// Class of every permutation of [`PERMUTATIONS`] under `label`.
///
/// ```
/// use spikelab_synth::twobody::{TwoBodyLabel, permutation_classes};
/// let both = permutation_classes(TwoBodyLabel::Both);
/// assert_eq!(&both[..6], &[0, 1, 2, 3, 4, 5]);
/// assert_eq!(permutation_classes(TwoBodyLabel::Type)[13], 5);
/// ```
pub fn permutation_classes(label: TwoBodyLabel) -> [u32; 24] {
    let key = |pi: &[usize; 4]| -> (Vec<usize>, Vec<Vec<usize>>) {
        // Slots of the light bodies (0 and 2).
        let mut light: Vec<usize> = (0..4).filter(|&j| pi[j].is_multiple_of(2)).collect();
        light.sort_unstable();
        // Slots of pair {0, 1} and pair {2, 3}, as an unordered partition.
        let mut pairs: Vec<Vec<usize>> = [0, 2]
            .iter()
            .map(|&b| {
                let mut v: Vec<usize> = (0..4).filter(|&j| pi[j] / 2 == b / 2).collect();
                v.sort_unstable();
                v
            })
            .collect();
        pairs.sort();
        (light, pairs)
    };
    let mut seen: Vec<(Vec<usize>, Vec<Vec<usize>>)> = Vec::new();
    let mut out = [0u32; 24];
    for (k, pi) in PERMUTATIONS.iter().enumerate() {
        let (light, pairs) = key(pi);
        let id_key = match label {
            TwoBodyLabel::Both => (light, pairs),
            TwoBodyLabel::Connection => (Vec::new(), pairs),
            TwoBodyLabel::Type => (light, Vec::new()),
        };
        let id = match seen.iter().position(|s| *s == id_key) {
            Some(i) => i,
            None => {
                seen.push(id_key);
                seen.len() - 1
            }
        };
        out[k] = id as u32;
    }
    out
}

/// Generated trials.
#[derive(Debug, Clone, PartialEq)]
pub struct TwoBodyData {
    /// `[trial, body, (m, x, y, vx, vy), step]`.
    pub states: Array4<f64>,
    /// Index of the first kept reading per trial.
    pub starts: Vec<usize>,
}

impl TwoBodyParams {
    fn check(&self) -> Result<()> {
        let bad = |name, reason: &str| {
            Err(SynthError::InvalidParameter {
                name,
                reason: reason.into(),
            })
        };
        if self.n_trials == 0 {
            return bad("n_trials", "must be ≥ 1");
        }
        if self.window == 0 || self.window > self.n_times {
            return bad("window", "must be in 1 … n_times");
        }
        if !(self.t_end > 0.0 && self.rtol > 0.0 && self.atol > 0.0) {
            return bad("t_end/rtol/atol", "must be > 0");
        }
        Ok(())
    }

    /// Generates the trials from `seed`.
    ///
    /// ```
    /// use spikelab_synth::TwoBodyParams;
    /// let p = TwoBodyParams { n_trials: 3, ..Default::default() };
    /// let d = p.generate(0)?;
    /// assert_eq!(d.states.dim(), (3, 4, 5, 10));
    /// # Ok::<(), spikelab_synth::SynthError>(())
    /// ```
    pub fn generate(&self, seed: u64) -> Result<TwoBodyData> {
        self.check()?;
        let mut rng = stream(seed, 0);
        let times: Vec<f64> = (0..self.n_times)
            .map(|i| self.t_end * i as f64 / (self.n_times - 1).max(1) as f64)
            .collect();
        let mut states = Array4::<f64>::zeros((self.n_trials, 4, 5, self.window));
        let mut starts = Vec::with_capacity(self.n_trials);
        for trial in 0..self.n_trials {
            let start = rng.random_range(0..=self.n_times - self.window);
            starts.push(start);
            for pair in 0..2 {
                let m1: f64 = rng.random_range(0.8..1.2);
                let m2: f64 = rng.random_range(1.2..1.6);
                let (px, py): (f64, f64) = (rng.random_range(0.5..1.5), rng.random_range(0.5..1.5));
                let xi: f64 = StandardNormal.sample(&mut rng);
                let r = (px * px + py * py).sqrt();
                let f = (1.0 + 0.05 * xi) / (2.0 * r.powf(1.5));
                let (vx, vy) = (-py * f, px * f);
                let y0 = [px, py, vx, vy, -px, -py, -vx, -vy];
                let traj = integrate_pair([m1, m2], y0, &times, self.rtol, self.atol)?;
                for (k, t) in (start..start + self.window).enumerate() {
                    for (b, m) in [m1, m2].into_iter().enumerate() {
                        let body = 2 * pair + b;
                        let st = &traj[t];
                        let v = [m, st[4 * b], st[4 * b + 1], st[4 * b + 2], st[4 * b + 3]];
                        for (c, val) in v.into_iter().enumerate() {
                            states[[trial, body, c, k]] = val;
                        }
                    }
                }
            }
        }
        Ok(TwoBodyData { states, starts })
    }
}

/// The permutation classes of [`TwoBodyTruth`], one per label.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TwoBodyClasses {
    /// [`TwoBodyLabel::Both`].
    pub both: [u32; 24],
    /// [`TwoBodyLabel::Connection`].
    pub connection: [u32; 24],
    /// [`TwoBodyLabel::Type`].
    #[serde(rename = "type")]
    pub kind: [u32; 24],
}

/// Ground truth of a [`TwoBodyData`] set (`FILE.truth.json` of `spikelab synth twobody`;
/// fields in the file's key order).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TwoBodyTruth {
    /// Axis order of the states.
    pub axes: String,
    /// Which body is which.
    pub bodies: String,
    /// Class of every permutation under each label.
    pub classes: TwoBodyClasses,
    /// The 24 body permutations.
    pub permutations: [[usize; 4]; 24],
    /// The seed.
    pub seed: u64,
    /// First kept reading of every trial.
    pub window_starts: Vec<usize>,
}

impl TwoBodyData {
    /// The ground truth of these trials, drawn with `seed`.
    pub fn truth(&self, seed: u64) -> TwoBodyTruth {
        TwoBodyTruth {
            axes: "[trial, body, (m, x, y, vx, vy), step]".into(),
            bodies: "0, 1 = pair 1 (light, heavy); 2, 3 = pair 2".into(),
            classes: TwoBodyClasses {
                both: permutation_classes(TwoBodyLabel::Both),
                connection: permutation_classes(TwoBodyLabel::Connection),
                kind: permutation_classes(TwoBodyLabel::Type),
            },
            permutations: PERMUTATIONS,
            seed,
            window_starts: self.starts.clone(),
        }
    }

    /// Writes the states to `path` (`.npy`, f64) and [`TwoBodyData::truth`] to `path` with
    /// the extension `truth.json`; both are checked before either is written.
    pub fn write(&self, path: &std::path::Path, seed: u64, force: bool) -> Result<()> {
        use spikelab_data::io;
        let truth = path.with_extension("truth.json");
        io::check_writable(path, force)?;
        io::check_writable(&truth, force)?;
        io::write_atomic(path, force, |tmp| io::npy::write(tmp, &self.states, true))?;
        io::write_json(&truth, &self.truth(seed), force)?;
        Ok(())
    }
}

impl TwoBodyData {
    /// EIT's dataset over `trials`: for each permutation (outer loop) and trial (inner loop), the
    /// positions of the permuted bodies `[sample, slot, (x, y), step]` and the class of the
    /// permutation under `label` (the same for every step).
    pub fn dataset(
        &self,
        trials: std::ops::Range<usize>,
        label: TwoBodyLabel,
    ) -> Result<(Array4<f64>, Vec<u32>)> {
        let n = self.states.dim().0;
        if trials.end > n || trials.is_empty() {
            return Err(SynthError::InvalidParameter {
                name: "trials",
                reason: format!("{trials:?} is empty or outside 0 … {n}"),
            });
        }
        let steps = self.states.dim().3;
        let classes = permutation_classes(label);
        let mut x = Array4::<f64>::zeros((24 * trials.len(), 4, 2, steps));
        let mut y = Vec::with_capacity(24 * trials.len());
        let mut i = 0;
        for (k, pi) in PERMUTATIONS.iter().enumerate() {
            for trial in trials.clone() {
                for (slot, &body) in pi.iter().enumerate() {
                    x.slice_mut(s![i, slot, .., ..])
                        .assign(&self.states.slice(s![trial, body, 1..3, ..]));
                }
                y.push(classes[k]);
                i += 1;
            }
        }
        Ok((x, y))
    }
}

type State = [f64; 8];

fn deriv(m: [f64; 2], y: &State) -> State {
    let (dx, dy) = (y[4] - y[0], y[5] - y[1]);
    let r3 = (dx * dx + dy * dy).powf(1.5);
    // Body 1 is pulled towards body 2 and vice versa.
    [
        y[2],
        y[3],
        m[1] * dx / r3,
        m[1] * dy / r3,
        y[6],
        y[7],
        -m[0] * dx / r3,
        -m[0] * dy / r3,
    ]
}

fn axpy(y: &State, h: f64, terms: &[(f64, &State)]) -> State {
    let mut out = *y;
    for (c, k) in terms {
        for i in 0..8 {
            out[i] += h * c * k[i];
        }
    }
    out
}

/// Adaptive Dormand–Prince 5(4) from `times[0]` through every reading time (steps end
/// exactly on each reading).
fn integrate_pair(
    m: [f64; 2],
    y0: State,
    times: &[f64],
    rtol: f64,
    atol: f64,
) -> Result<Vec<State>> {
    const A2: f64 = 1.0 / 5.0;
    const A3: [f64; 2] = [3.0 / 40.0, 9.0 / 40.0];
    const A4: [f64; 3] = [44.0 / 45.0, -56.0 / 15.0, 32.0 / 9.0];
    const A5: [f64; 4] = [
        19372.0 / 6561.0,
        -25360.0 / 2187.0,
        64448.0 / 6561.0,
        -212.0 / 729.0,
    ];
    const A6: [f64; 5] = [
        9017.0 / 3168.0,
        -355.0 / 33.0,
        46732.0 / 5247.0,
        49.0 / 176.0,
        -5103.0 / 18656.0,
    ];
    const B: [f64; 6] = [
        35.0 / 384.0,
        0.0,
        500.0 / 1113.0,
        125.0 / 192.0,
        -2187.0 / 6784.0,
        11.0 / 84.0,
    ];
    // Error weights: 5th-order minus embedded 4th-order solution.
    const E: [f64; 7] = [
        71.0 / 57600.0,
        0.0,
        -71.0 / 16695.0,
        71.0 / 1920.0,
        -17253.0 / 339200.0,
        22.0 / 525.0,
        -1.0 / 40.0,
    ];
    let mut out = vec![y0];
    let mut y = y0;
    let mut t = times[0];
    let mut h: f64 = 1e-3;
    let mut k1 = deriv(m, &y);
    for &t_next in &times[1..] {
        let mut steps = 0usize;
        while t < t_next {
            steps += 1;
            if steps > 1_000_000 || !h.is_finite() {
                return Err(SynthError::InvalidParameter {
                    name: "two-body integration",
                    reason: format!("step size collapsed at t = {t} (bodies collided?)"),
                });
            }
            let last = t + h >= t_next;
            let hs = if last { t_next - t } else { h };
            let k2 = deriv(m, &axpy(&y, hs, &[(A2, &k1)]));
            let k3 = deriv(m, &axpy(&y, hs, &[(A3[0], &k1), (A3[1], &k2)]));
            let k4 = deriv(
                m,
                &axpy(&y, hs, &[(A4[0], &k1), (A4[1], &k2), (A4[2], &k3)]),
            );
            let k5 = deriv(
                m,
                &axpy(
                    &y,
                    hs,
                    &[(A5[0], &k1), (A5[1], &k2), (A5[2], &k3), (A5[3], &k4)],
                ),
            );
            let k6 = deriv(
                m,
                &axpy(
                    &y,
                    hs,
                    &[
                        (A6[0], &k1),
                        (A6[1], &k2),
                        (A6[2], &k3),
                        (A6[3], &k4),
                        (A6[4], &k5),
                    ],
                ),
            );
            let y_new = axpy(
                &y,
                hs,
                &[
                    (B[0], &k1),
                    (B[2], &k3),
                    (B[3], &k4),
                    (B[4], &k5),
                    (B[5], &k6),
                ],
            );
            let k7 = deriv(m, &y_new);
            let mut err2 = 0.0;
            for i in 0..8 {
                let e = hs
                    * (E[0] * k1[i]
                        + E[2] * k3[i]
                        + E[3] * k4[i]
                        + E[4] * k5[i]
                        + E[5] * k6[i]
                        + E[6] * k7[i]);
                let sc = atol + rtol * y[i].abs().max(y_new[i].abs());
                err2 += (e / sc).powi(2);
            }
            let err = (err2 / 8.0).sqrt();
            let factor = if err == 0.0 {
                10.0
            } else {
                (0.9 * err.powf(-0.2)).clamp(0.2, 10.0)
            };
            if err <= 1.0 {
                t = if last { t_next } else { t + hs };
                y = y_new;
                k1 = k7;
                if !last {
                    h = hs * factor;
                }
            } else {
                h = hs * factor.min(1.0);
            }
        }
        out.push(y);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_match_the_original_table() {
        // Rows k = 0 … 23 of the spec's table (type, connection, both).
        let ty = [
            0, 1, 0, 2, 3, 4, 5, 2, 5, 1, 0, 4, 0, 5, 5, 1, 3, 3, 4, 2, 2, 3, 4, 1,
        ];
        let co = [
            0, 1, 1, 2, 0, 2, 0, 1, 2, 1, 0, 0, 1, 2, 0, 2, 0, 1, 0, 1, 2, 1, 2, 2,
        ];
        let bo = [
            0, 1, 2, 3, 4, 5, 6, 7, 8, 1, 0, 9, 2, 8, 6, 10, 4, 11, 9, 7, 3, 11, 5, 10,
        ];
        assert_eq!(permutation_classes(TwoBodyLabel::Type), ty);
        assert_eq!(permutation_classes(TwoBodyLabel::Connection), co);
        assert_eq!(permutation_classes(TwoBodyLabel::Both), bo);
    }

    #[test]
    fn circular_orbit_conserves_energy_and_momentum() {
        // Equal masses on the exact circular orbit: r stays 2‖p‖.
        let m = [1.0, 1.0];
        let (px, py) = (0.6, 0.8);
        let r = 1.0f64;
        let f = 1.0 / (2.0 * r.powf(1.5));
        let y0 = [px, py, -py * f, px * f, -px, -py, py * f, -px * f];
        let times: Vec<f64> = (0..50).map(|i| 10.0 * i as f64 / 49.0).collect();
        let traj = integrate_pair(m, y0, &times, 1e-9, 1e-6).unwrap();
        for st in &traj {
            let d = ((st[4] - st[0]).powi(2) + (st[5] - st[1]).powi(2)).sqrt();
            assert!((d - 2.0).abs() < 1e-6, "separation {d}");
        }
        // Unequal masses: total momentum and energy are conserved.
        let m = [0.9, 1.4];
        let y0 = [px, py, -py * f, px * f, -px, -py, py * f, -px * f];
        let traj = integrate_pair(m, y0, &times, 1e-9, 1e-6).unwrap();
        let energy = |s: &State| {
            let d = ((s[4] - s[0]).powi(2) + (s[5] - s[1]).powi(2)).sqrt();
            0.5 * m[0] * (s[2] * s[2] + s[3] * s[3]) + 0.5 * m[1] * (s[6] * s[6] + s[7] * s[7])
                - m[0] * m[1] / d
        };
        let e0 = energy(&traj[0]);
        for st in &traj {
            assert!((energy(st) - e0).abs() < 1e-6 * e0.abs().max(1.0));
            let pxm = m[0] * st[2] + m[1] * st[6];
            assert!((pxm - (m[0] - m[1]) * (-py * f)).abs() < 1e-8);
        }
    }

    #[test]
    fn dataset_layout() {
        let d = TwoBodyParams {
            n_trials: 4,
            ..Default::default()
        }
        .generate(1)
        .unwrap();
        let (x, y) = d.dataset(1..3, TwoBodyLabel::Both).unwrap();
        assert_eq!(x.dim(), (48, 4, 2, 10));
        // Sample 2 = permutation 1 ([3, 1, 0, 2]), trial 1: slot 0 holds body 3.
        assert_eq!(x[[2, 0, 0, 4]], d.states[[1, 3, 1, 4]]);
        assert_eq!(x[[2, 3, 1, 9]], d.states[[1, 2, 2, 9]]);
        assert_eq!(y[2], 1);
        assert!(d.dataset(3..5, TwoBodyLabel::Type).is_err());
        assert!(d.states.iter().all(|v| v.is_finite()));
    }
}
