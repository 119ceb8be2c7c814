//! Detection sweeps: where convSeq finds a planted sequence, per mode.
//!
//! The original generator's recipe ([`ParityParams`]: members written into a background
//! raster, each occurrence's member spikes dropped with probability `p_drop` and jittered by a
//! Gaussian of `jitter_bins`) is run over a grid of sequence length × dropout × jitter, with a
//! few seeds per cell, and each [`SweepMode`] is scored against the ground truth: event F1 with
//! one-to-one matching within ±`match_window_bins` ([`metrics::score`]) and the Spearman ρ of
//! the members' learned lags against their true order. The issue-#20 bar (F1 ≥ 0.8 and
//! ρ ≥ 0.7) is counted per cell as [`CellSummary::recovered`].
//!
//! # Example
//! ```
//! use spikelab_bench::detection::{DetectionSweep, SweepMode, summarise};
//! use spikelab_synth::{RateModel, SequenceParams};
//! // A Poisson background without sequences: 200 neurons × 10 000 bins, 0.005 spikes per bin.
//! let bg = SequenceParams {
//!     n_neurons: 200,
//!     n_bins: 10_000,
//!     rates: RateModel::Constant { per_bin: 0.005 },
//!     binary: true,
//!     types: vec![],
//!     ..SequenceParams::default()
//! }
//! .generate(1)?
//! .0
//! .to_dense()?;
//! let sweep = DetectionSweep {
//!     seqlens: vec![60],
//!     p_drops: vec![0.0],
//!     jitters_bins: vec![2.0],
//!     gap_bins: 500,
//!     seeds: vec![0],
//!     width_bins: 100,
//!     match_window_bins: 50.0,
//!     modes: vec![SweepMode::Robust],
//! };
//! let cells = sweep.run(&bg, &mut spikelab_core::Silent)?;
//! assert_eq!((cells.len(), cells[0].occurrences), (1, 19));
//! let s = summarise(&cells);
//! // The members' order is recovered (ρ 0.91 with this seed).
//! assert!(s[0].rho_mean > 0.8, "{s:?}");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::time::Instant;

use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use spikelab_convseq::{
    ConvSeq, ConvSeqParams, Mode,
    metrics::{self, Truth},
};
use spikelab_core::{Flow, Observer, Progress};
use spikelab_data::BinnedRaster;
use spikelab_synth::ParityParams;

use crate::{BenchError, Result};

/// A convSeq configuration compared in a sweep.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum SweepMode {
    /// The original method (`Mode::Faithful`, defaults: α from 15 000 random filters) with
    /// this many Adam epochs (the original's default is 4000).
    Faithful {
        /// Adam epochs.
        epochs: usize,
    },
    /// `Mode::Robust` with its default options.
    Robust,
}

impl SweepMode {
    /// Short name used in tables and plots: `faithful` or `robust`.
    pub fn name(self) -> &'static str {
        match self {
            SweepMode::Faithful { .. } => "faithful",
            SweepMode::Robust => "robust",
        }
    }

    fn params(self, width_bins: usize, seed: u64) -> ConvSeqParams {
        match self {
            SweepMode::Faithful { epochs } => ConvSeqParams {
                epochs,
                width_bins,
                seed,
                ..Default::default()
            },
            SweepMode::Robust => ConvSeqParams {
                mode: Mode::Robust,
                width_bins,
                seed,
                ..Default::default()
            },
        }
    }
}

/// The grid of a detection sweep. Every combination of `seqlens × p_drops × jitters_bins ×
/// seeds` is one raster; every mode is run on it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DetectionSweep {
    /// Sequence lengths (member neurons).
    pub seqlens: Vec<usize>,
    /// Per-member dropout probabilities, in [0, 1).
    pub p_drops: Vec<f64>,
    /// Jitter standard deviations, bins.
    pub jitters_bins: Vec<f64>,
    /// Gap between occurrence onsets, bins.
    pub gap_bins: u64,
    /// Generator and fit seeds (one raster per seed and cell).
    pub seeds: Vec<u64>,
    /// convSeq filter width W, bins (the original's default is 200).
    pub width_bins: usize,
    /// Detections match a true centre within ± this many bins.
    pub match_window_bins: f64,
    /// Modes to compare.
    pub modes: Vec<SweepMode>,
}

impl DetectionSweep {
    /// The grid of `docs/convseq.md` (issue #20, item 3): seqlen 40 / 80 / 120, p_drop 0.1 /
    /// 0.3, jitter 5 / 15 / 30 bins, gap 700, seeds 0 and 1, W 200, ±100-bin matching, the
    /// faithful mode at 4000 epochs and the robust mode.
    pub fn issue20() -> Self {
        DetectionSweep {
            seqlens: vec![40, 80, 120],
            p_drops: vec![0.1, 0.3],
            jitters_bins: vec![5.0, 15.0, 30.0],
            gap_bins: 700,
            seeds: vec![0, 1],
            width_bins: 200,
            match_window_bins: 100.0,
            modes: vec![SweepMode::Faithful { epochs: 4000 }, SweepMode::Robust],
        }
    }

    fn validate(&self) -> Result<()> {
        let bad = |name: &'static str, reason: &str| {
            Err(BenchError::InvalidParameter {
                name,
                reason: reason.into(),
            })
        };
        if self.seqlens.is_empty()
            || self.p_drops.is_empty()
            || self.jitters_bins.is_empty()
            || self.seeds.is_empty()
            || self.modes.is_empty()
        {
            return bad(
                "sweep",
                "every axis (seqlens, p_drops, jitters, seeds, modes) needs a value",
            );
        }
        if self.p_drops.iter().any(|p| !(0.0..1.0).contains(p)) {
            return bad("p_drops", "each must be in [0, 1)");
        }
        if self
            .jitters_bins
            .iter()
            .any(|j| !(j.is_finite() && *j >= 0.0))
        {
            return bad("jitters_bins", "each must be finite and ≥ 0");
        }
        if !(self.match_window_bins.is_finite() && self.match_window_bins >= 0.0) {
            return bad("match_window_bins", "must be finite and ≥ 0");
        }
        Ok(())
    }

    /// Runs the sweep on `background` (`[neuron, bin]` counts; ISI-shuffled per neuron by the
    /// generator). Rasters run in parallel (rayon); `observer` gets one step per finished
    /// batch of rasters (stage `sweep`) and may stop the sweep, which returns the cells done.
    ///
    /// Errors: [`BenchError::InvalidParameter`] for an empty axis or an out-of-range value;
    /// [`BenchError::Run`] when the generator or a fit fails (e.g. a seqlen above the number
    /// of neurons).
    pub fn run(
        &self,
        background: &BinnedRaster,
        observer: &mut dyn Observer,
    ) -> Result<Vec<DetectionCell>> {
        self.validate()?;
        let mut jobs = Vec::new();
        for &seqlen in &self.seqlens {
            for &p_drop in &self.p_drops {
                for &jitter in &self.jitters_bins {
                    for &seed in &self.seeds {
                        jobs.push((seqlen, p_drop, jitter, seed));
                    }
                }
            }
        }
        let batch = rayon::current_num_threads().max(1);
        let mut cells = Vec::with_capacity(jobs.len() * self.modes.len());
        for (i, chunk) in jobs.chunks(batch).enumerate() {
            let done: Vec<Vec<DetectionCell>> = chunk
                .par_iter()
                .map(|&(seqlen, p_drop, jitter, seed)| {
                    self.one(background, seqlen, p_drop, jitter, seed)
                })
                .collect::<Result<_>>()?;
            cells.extend(done.into_iter().flatten());
            let p = Progress::new("sweep", i).with_total(jobs.len().div_ceil(batch));
            if observer.observe(&p) == Flow::Stop {
                break;
            }
        }
        Ok(cells)
    }

    fn one(
        &self,
        background: &BinnedRaster,
        seqlen: usize,
        p_drop: f64,
        jitter_bins: f64,
        seed: u64,
    ) -> Result<Vec<DetectionCell>> {
        let run_err = |e: &dyn std::fmt::Display| BenchError::Run(e.to_string());
        let pp = ParityParams {
            seqlen,
            p_drop,
            gap_bins: self.gap_bins,
            jitter_std_bins: jitter_bins,
            lag_bins: 1,
        };
        let (raster, truth) = pp.generate(background, seed).map_err(|e| run_err(&e))?;
        let t = Truth {
            centres_bins: truth.centres(0).iter().map(|&c| c as f64).collect(),
            members: truth.types[0].members.clone(),
        };
        self.modes
            .iter()
            .map(|&mode| {
                let t0 = Instant::now();
                let fit = ConvSeq::new(mode.params(self.width_bins, seed))
                    .and_then(|c| c.fit(&raster))
                    .map_err(|e| run_err(&e))?;
                let s = metrics::score(&fit.detection, 0, &t, self.match_window_bins)
                    .map_err(|e| run_err(&e))?;
                Ok(DetectionCell {
                    mode: mode.name().into(),
                    seqlen,
                    p_drop,
                    jitter_bins,
                    seed,
                    occurrences: t.centres_bins.len(),
                    events: fit.detection.event_bins(0).len(),
                    f1: s.events.f1,
                    order_spearman: s.order_spearman,
                    significant: fit.robust.as_ref().map(|r| r.any_significant()),
                    wall_s: t0.elapsed().as_secs_f64(),
                })
            })
            .collect()
    }
}

/// One mode on one raster of a sweep.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DetectionCell {
    /// [`SweepMode::name`].
    pub mode: String,
    /// Sequence length.
    pub seqlen: usize,
    /// Dropout probability.
    pub p_drop: f64,
    /// Jitter sd, bins.
    pub jitter_bins: f64,
    /// Seed of the generator and the fit.
    pub seed: u64,
    /// Planted occurrences.
    pub occurrences: usize,
    /// Detected events.
    pub events: usize,
    /// Event F1 within ± the matching window.
    pub f1: f64,
    /// Spearman ρ of the members' learned lags against their true order (NaN when undefined).
    pub order_spearman: f64,
    /// Robust mode: whether the held-out test called the filter significant.
    pub significant: Option<bool>,
    /// Wall time of the fit (detection included), seconds; rasters run concurrently.
    pub wall_s: f64,
}

/// The seeds of one grid cell and mode, averaged.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CellSummary {
    /// Mode name.
    pub mode: String,
    /// Sequence length.
    pub seqlen: usize,
    /// Dropout probability.
    pub p_drop: f64,
    /// Jitter sd, bins.
    pub jitter_bins: f64,
    /// Seeds averaged.
    pub n_seeds: usize,
    /// Mean event F1.
    pub f1_mean: f64,
    /// Mean order ρ (an undefined ρ counts as 0).
    pub rho_mean: f64,
    /// Seeds with F1 ≥ 0.8 and ρ ≥ 0.7.
    pub recovered: usize,
}

/// Averages the cells of each (mode, seqlen, p_drop, jitter) over seeds, in first-seen order.
pub fn summarise(cells: &[DetectionCell]) -> Vec<CellSummary> {
    let mut out: Vec<CellSummary> = Vec::new();
    for c in cells {
        let rho = if c.order_spearman.is_finite() {
            c.order_spearman
        } else {
            0.0
        };
        let hit = usize::from(c.f1 >= 0.8 && rho >= 0.7);
        let found = out.iter_mut().find(|s| {
            s.mode == c.mode
                && s.seqlen == c.seqlen
                && s.p_drop == c.p_drop
                && s.jitter_bins == c.jitter_bins
        });
        match found {
            Some(s) => {
                let k = s.n_seeds as f64;
                s.f1_mean = (s.f1_mean * k + c.f1) / (k + 1.0);
                s.rho_mean = (s.rho_mean * k + rho) / (k + 1.0);
                s.n_seeds += 1;
                s.recovered += hit;
            }
            None => out.push(CellSummary {
                mode: c.mode.clone(),
                seqlen: c.seqlen,
                p_drop: c.p_drop,
                jitter_bins: c.jitter_bins,
                n_seeds: 1,
                f1_mean: c.f1,
                rho_mean: rho,
                recovered: hit,
            }),
        }
    }
    out
}

/// A markdown table of [`summarise`]d cells: one row per (seqlen, p_drop, jitter), the modes
/// side by side as `F1 / ρ (recovered/seeds)`.
pub fn summary_markdown(summary: &[CellSummary]) -> String {
    let mut modes: Vec<&str> = Vec::new();
    for s in summary {
        if !modes.contains(&s.mode.as_str()) {
            modes.push(&s.mode);
        }
    }
    let mut md = String::from("| seqlen | p_drop | jitter (bins) |");
    for m in &modes {
        md.push_str(&format!(" {m}: F1 / ρ (ok) |"));
    }
    md.push_str("\n|---|---|---|");
    md.push_str(&"---|".repeat(modes.len()));
    md.push('\n');
    let mut keys: Vec<(usize, f64, f64)> = Vec::new();
    for s in summary {
        let k = (s.seqlen, s.p_drop, s.jitter_bins);
        if !keys.contains(&k) {
            keys.push(k);
        }
    }
    for (seqlen, p_drop, jitter) in keys {
        md.push_str(&format!("| {seqlen} | {p_drop:.2} | {jitter:.0} |"));
        for m in &modes {
            match summary.iter().find(|s| {
                s.mode == *m && s.seqlen == seqlen && s.p_drop == p_drop && s.jitter_bins == jitter
            }) {
                Some(s) => md.push_str(&format!(
                    " {:.2} / {:.2} ({}/{}) |",
                    s.f1_mean, s.rho_mean, s.recovered, s.n_seeds
                )),
                None => md.push_str(" — |"),
            }
        }
        md.push('\n');
    }
    md
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cell(mode: &str, seed: u64, f1: f64, rho: f64) -> DetectionCell {
        DetectionCell {
            mode: mode.into(),
            seqlen: 60,
            p_drop: 0.2,
            jitter_bins: 20.0,
            seed,
            occurrences: 25,
            events: 25,
            f1,
            order_spearman: rho,
            significant: None,
            wall_s: 1.0,
        }
    }

    #[test]
    fn summary_averages_seeds_and_counts_recoveries() {
        let cells = [
            cell("robust", 0, 0.9, 0.8),
            cell("robust", 1, 0.7, f64::NAN),
            cell("faithful", 0, 0.3, 0.1),
        ];
        let s = summarise(&cells);
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].n_seeds, 2);
        assert!((s[0].f1_mean - 0.8).abs() < 1e-12);
        assert!((s[0].rho_mean - 0.4).abs() < 1e-12);
        assert_eq!(s[0].recovered, 1);
        let md = summary_markdown(&s);
        assert!(
            md.contains("| 60 | 0.20 | 20 | 0.80 / 0.40 (1/2) | 0.30 / 0.10 (0/1) |"),
            "{md}"
        );
    }

    #[test]
    fn empty_axis_and_bad_dropout_are_errors() {
        let bg = BinnedRaster::new(ndarray::Array2::<u32>::ones((4, 100)), 0.01).unwrap();
        let mut s = DetectionSweep::issue20();
        s.seeds.clear();
        assert!(matches!(
            s.run(&bg, &mut spikelab_core::Silent),
            Err(BenchError::InvalidParameter { .. })
        ));
        let mut s = DetectionSweep::issue20();
        s.p_drops = vec![1.0];
        assert!(matches!(
            s.run(&bg, &mut spikelab_core::Silent),
            Err(BenchError::InvalidParameter {
                name: "p_drops",
                ..
            })
        ));
    }
}
