//! File-level pipelines, as the `spikelab decode` commands run them: read a recording and a
//! target through `spikelab-data`'s reader facade, decode or audit, write the results.
//!
//! * [`read_inputs`]: counts `[neuron, frame]` (a raster, or spike trains binned at `bin_s`)
//!   and a target `[frame, output]` whose frame axis is found by its length.
//! * [`LinearDecoderFit::write`], [`KalmanDecoderFit::write`]: `fit.json` and
//!   `test_prediction.npy` `[test frame, output]`; `WindowFit::write` (EIT on raster
//!   windows): `fit.json` and the model.
//! * [`Audit::run_recording`]: lagged features, the time-ordered 80 % / 20 % split (validation =
//!   the last 1/8 of the training frames) and the BrainBits audit;
//!   [`AuditReport::write_json`] writes `audit.json`.
//! * [`one_hot`]: a one-hot code of an integer target; `Lags` parses from
//!   `zero`, `causal:N`, `centred:PAST,FUTURE`; [`UnitSelection`] (`all`, `odd`, `even`,
//!   `0,2,5-9`) picks raster rows.
//! * POYO on the same inputs: [`crate::poyo::FrameParams`], [`crate::poyo::fit_frames`],
//!   [`crate::poyo::transfer_frames`], [`crate::poyo::PoyoFit::write`],
//!   [`crate::poyo::predict_frames`].
//!
//! Files are written through a temporary name in their folder and renamed; existing files
//! are refused unless `force`.

use std::path::Path;
use std::str::FromStr;

use ndarray::{Array2, ArrayView2, Axis};
use spikelab_core::Observer;
use spikelab_data::io::{self, Loaded, ReadOptions};

use crate::brainbits::{Audit, AuditReport};
use crate::data::{Lags, TimeSplit, lagged_features, raster_counts, rows, spike_counts};
use crate::decoder::LinearDecoderFit;
use crate::error::{DecodeError, Result};
use crate::kalman::KalmanDecoderFit;

impl FromStr for Lags {
    type Err = DecodeError;

    /// `zero`, `causal:N` or `centred:PAST,FUTURE`.
    ///
    /// ```
    /// use spikelab_decode::Lags;
    /// assert_eq!("centred:9,10".parse::<Lags>()?, Lags::Centred { past: 9, future: 10 });
    /// assert_eq!("causal:20".parse::<Lags>()?, Lags::Causal(20));
    /// assert!("causal".parse::<Lags>().is_err());
    /// # Ok::<(), spikelab_decode::DecodeError>(())
    /// ```
    fn from_str(s: &str) -> Result<Self> {
        let bad = || {
            DecodeError::param(
                "lags",
                format!("{s:?}: expected zero, causal:N or centred:PAST,FUTURE"),
            )
        };
        let num = |v: &str| v.parse::<usize>().map_err(|_| bad());
        Ok(match s.split_once(':') {
            None if s == "zero" => Lags::Zero,
            Some(("causal", n)) => Lags::Causal(num(n)?),
            Some(("centred", pf)) => {
                let (p, f) = pf.split_once(',').ok_or_else(bad)?;
                Lags::Centred {
                    past: num(p)?,
                    future: num(f)?,
                }
            }
            _ => return Err(bad()),
        })
    }
}

/// Which rows (units) of a `[neuron, frame]` raster a decoder uses.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub enum UnitSelection {
    /// Every row.
    #[default]
    All,
    /// The odd 0-based rows 1, 3, 5, … (the spec's "odd-numbered units").
    Odd,
    /// The even 0-based rows 0, 2, 4, ….
    Even,
    /// These 0-based rows, in this order.
    List(Vec<usize>),
}

impl FromStr for UnitSelection {
    type Err = DecodeError;

    /// `all`, `odd`, `even`, or a comma-separated list of 0-based rows and ranges `a-b`
    /// (inclusive).
    ///
    /// ```
    /// use spikelab_decode::UnitSelection;
    /// assert_eq!("odd".parse::<UnitSelection>()?.rows(6)?, vec![1, 3, 5]);
    /// assert_eq!("0,4-6".parse::<UnitSelection>()?.rows(8)?, vec![0, 4, 5, 6]);
    /// assert!("3".parse::<UnitSelection>()?.rows(3).is_err());
    /// # Ok::<(), spikelab_decode::DecodeError>(())
    /// ```
    fn from_str(s: &str) -> Result<Self> {
        let bad = || {
            DecodeError::param(
                "units",
                format!("{s:?}: expected all, odd, even or rows like 0,2,5-9"),
            )
        };
        let num = |v: &str| v.trim().parse::<usize>().map_err(|_| bad());
        Ok(match s {
            "all" => Self::All,
            "odd" => Self::Odd,
            "even" => Self::Even,
            _ => {
                let mut rows = Vec::new();
                for part in s.split(',') {
                    match part.split_once('-') {
                        Some((a, b)) => {
                            let (a, b) = (num(a)?, num(b)?);
                            if b < a {
                                return Err(bad());
                            }
                            rows.extend(a..=b);
                        }
                        None => rows.push(num(part)?),
                    }
                }
                Self::List(rows)
            }
        })
    }
}

impl UnitSelection {
    /// The selected rows of a raster with `n` rows. Errors: rows ≥ `n`, repeated rows, an
    /// empty selection.
    pub fn rows(&self, n: usize) -> Result<Vec<usize>> {
        let rows: Vec<usize> = match self {
            Self::All => (0..n).collect(),
            Self::Odd => (1..n).step_by(2).collect(),
            Self::Even => (0..n).step_by(2).collect(),
            Self::List(r) => {
                if let Some(&bad) = r.iter().find(|&&i| i >= n) {
                    return Err(DecodeError::param(
                        "units",
                        format!("row {bad} is not among the raster's {n} rows (0-based)"),
                    ));
                }
                let mut seen = std::collections::HashSet::new();
                if let Some(dup) = r.iter().find(|&&i| !seen.insert(i)) {
                    return Err(DecodeError::param(
                        "units",
                        format!("row {dup} is repeated"),
                    ));
                }
                r.clone()
            }
        };
        if rows.is_empty() {
            return Err(DecodeError::param(
                "units",
                format!("selects no row of a raster with {n} rows"),
            ));
        }
        Ok(rows)
    }

    /// The selected rows of `counts` `[neuron, frame]` and their 0-based indices.
    pub fn select(&self, counts: ArrayView2<'_, f64>) -> Result<(Array2<f64>, Vec<usize>)> {
        let rows = self.rows(counts.nrows())?;
        Ok((counts.select(Axis(0), &rows), rows))
    }
}

/// Counts and target of a decoding run.
#[derive(Debug, Clone, PartialEq)]
pub struct DecodeInputs {
    /// Counts `[neuron, frame]`.
    pub counts: Array2<f64>,
    /// Target `[frame, output]`.
    pub target: Array2<f64>,
}

fn as_matrix(loaded: Loaded, path: &Path) -> Result<Array2<f64>> {
    let bad = |what: String| DecodeError::InvalidData(format!("{}: {what}", path.display()));
    Ok(match loaded {
        Loaded::Raster(r) => raster_counts(&r),
        Loaded::Array(a) => match a.data.ndim() {
            1 => a
                .data
                .insert_axis(Axis(1))
                .into_dimensionality()
                .map_err(|e| bad(e.to_string()))?,
            2 => a
                .data
                .into_dimensionality()
                .map_err(|e| bad(e.to_string()))?,
            n => return Err(bad(format!("{n}-dimensional array, expected 1 or 2"))),
        },
        Loaded::Traces(t) => t.data().t().to_owned(),
        Loaded::SpikeTrains(_) => return Err(bad("spike trains are not a target".into())),
    })
}

fn open(path: &Path, bin_s: f64, variable: Option<&str>) -> Result<Loaded> {
    let options = ReadOptions {
        frame_rate_hz: Some(1.0 / bin_s),
        bin_s: Some(bin_s),
        variable: variable.map(str::to_owned),
        ..ReadOptions::default()
    };
    Ok(io::open(path, &options)?)
}

/// Reads counts `[neuron, frame]`: a raster or array as stored, or spike trains binned at
/// `bin_s` seconds (the spikes of [`read_inputs`], without a target).
pub fn read_counts(spikes: &Path, variable: Option<&str>, bin_s: f64) -> Result<Array2<f64>> {
    if !(bin_s > 0.0 && bin_s.is_finite()) {
        return Err(DecodeError::param("bin_s", format!("{bin_s} is not > 0")));
    }
    match open(spikes, bin_s, variable)? {
        Loaded::SpikeTrains(s) => spike_counts(&s, bin_s),
        other => as_matrix(other, spikes),
    }
}

/// Reads the spikes (a `[neuron, frame]` raster or array, or spike trains binned at `bin_s`
/// seconds) and the target (one row or one column per frame; `bin_s` is also the frame
/// period of plain arrays). `*_variable` names the MATLAB variable in a `.mat` file.
pub fn read_inputs(
    spikes: &Path,
    spikes_variable: Option<&str>,
    target: &Path,
    target_variable: Option<&str>,
    bin_s: f64,
) -> Result<DecodeInputs> {
    let counts = read_counts(spikes, spikes_variable, bin_s)?;
    let t = counts.ncols();
    let y = as_matrix(open(target, bin_s, target_variable)?, target)?;
    let target = if y.nrows() == t {
        y
    } else if y.ncols() == t {
        y.t().to_owned()
    } else {
        return Err(DecodeError::Shape(format!(
            "target {:?} has no axis of the raster's {t} frames",
            y.dim()
        )));
    };
    Ok(DecodeInputs { counts, target })
}

/// One-hot code `[frame, class]` of a single integer-valued target column (classes from its
/// minimum to its maximum).
///
/// ```
/// let y = ndarray::array![[2.0], [4.0], [3.0]];
/// let h = spikelab_decode::pipeline::one_hot(y.view())?;
/// assert_eq!(h, ndarray::array![[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, 1.0, 0.0]]);
/// # Ok::<(), spikelab_decode::DecodeError>(())
/// ```
pub fn one_hot(target: ArrayView2<'_, f64>) -> Result<Array2<f64>> {
    if target.ncols() != 1 || target.iter().any(|v| !v.is_finite() || v.fract() != 0.0) {
        return Err(DecodeError::InvalidData(
            "a one-hot code needs a single integer-valued target column".into(),
        ));
    }
    let lo = target.iter().fold(f64::INFINITY, |m, &v| m.min(v));
    let hi = target.iter().fold(f64::NEG_INFINITY, |m, &v| m.max(v));
    let k = (hi - lo) as usize + 1;
    Ok(Array2::from_shape_fn((target.nrows(), k), |(i, j)| {
        f64::from(u8::from((target[[i, 0]] - lo) as usize == j))
    }))
}

fn check_files(dir: &Path, files: &[&str], force: bool) -> Result<()> {
    for f in files {
        io::check_writable(&dir.join(f), force)?;
    }
    Ok(())
}

fn create_dir(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|source| DecodeError::Io {
        path: dir.to_path_buf(),
        source,
    })
}

/// Files of a decoder fit: the fit as JSON and the test predictions.
const FIT_FILES: [&str; 2] = ["fit.json", "test_prediction.npy"];

/// Writes `dir/fit.json` and `dir/test_prediction.npy` atomically; creates `dir`.
fn write_fit(
    dir: &Path,
    fit: &impl serde::Serialize,
    prediction: &Array2<f64>,
    force: bool,
) -> Result<()> {
    check_files(dir, &FIT_FILES, force)?;
    create_dir(dir)?;
    io::write_json(&dir.join(FIT_FILES[0]), fit, force)?;
    io::write_atomic(&dir.join(FIT_FILES[1]), force, |tmp| {
        io::npy::write(tmp, prediction, true)
    })?;
    Ok(())
}

impl LinearDecoderFit {
    /// Files written by [`LinearDecoderFit::write`].
    pub const FILES: [&'static str; 2] = FIT_FILES;

    /// Checks that [`LinearDecoderFit::write`] may write into `dir`.
    pub fn check_writable(dir: &Path, force: bool) -> Result<()> {
        check_files(dir, &Self::FILES, force)
    }

    /// Writes `dir/fit.json` (parameters, α grid, split, scores, weights) and
    /// `dir/test_prediction.npy`; creates `dir`.
    pub fn write(&self, dir: &Path, force: bool) -> Result<()> {
        write_fit(dir, self, &self.test_prediction, force)
    }
}

impl KalmanDecoderFit {
    /// Writes `dir/fit.json` (parameters, split, scores, the feature map and the state-space
    /// model, which [`crate::KalmanModel`] reads back) and `dir/test_prediction.npy`; creates
    /// `dir`. The files are those of [`LinearDecoderFit::FILES`].
    pub fn write(&self, dir: &Path, force: bool) -> Result<()> {
        write_fit(dir, self, &self.test_prediction, force)
    }
}

impl crate::eit_windows::WindowFit {
    /// Files written by [`WindowFit::write`](crate::eit_windows::WindowFit::write).
    pub const FILES: [&'static str; 3] = ["fit.json", "model.safetensors", "model.json"];

    /// Checks that `write` may write into `dir`.
    pub fn check_writable(dir: &Path, force: bool) -> Result<()> {
        check_files(dir, &Self::FILES, force)
    }

    /// Writes `dir/fit.json` (parameters, classes, per-epoch history, EIT and probe
    /// accuracies) and the trained model (`dir/model.safetensors` + `dir/model.json`, read
    /// back by [`crate::eit::Eit::load`]); creates `dir`.
    pub fn write(&self, model: &crate::eit::Eit, dir: &Path, force: bool) -> Result<()> {
        Self::check_writable(dir, force)?;
        create_dir(dir)?;
        model.save(&dir.join(Self::FILES[1]), force)?;
        io::write_json(&dir.join(Self::FILES[0]), self, force)?;
        Ok(())
    }
}

impl Audit {
    /// The audit of a recording: lagged features of `counts` `[neuron, frame]`, the first 80 %
    /// of the frames for training (the last 1/8 of them choose α), the rest for testing; then
    /// [`Audit::run`].
    pub fn run_recording(
        &self,
        counts: ArrayView2<'_, f64>,
        target: ArrayView2<'_, f64>,
        lags: &Lags,
        observer: &mut dyn Observer,
    ) -> Result<AuditReport> {
        let x = lagged_features(counts, lags)?;
        if target.nrows() != x.nrows() {
            return Err(DecodeError::Shape(format!(
                "target has {} frames, the raster {}",
                target.nrows(),
                x.nrows()
            )));
        }
        let split = TimeSplit::new(x.nrows(), 0.8, 0.125)?;
        let (xtr, ytr) = (
            rows(x.view(), split.train.clone()),
            rows(target, split.train.clone()),
        );
        let (xte, yte) = (rows(x.view(), split.test.clone()), rows(target, split.test));
        self.run(xtr.view(), ytr.view(), xte.view(), yte.view(), observer)
    }
}

impl AuditReport {
    /// Writes the report as pretty JSON to `path`; creates its folder.
    pub fn write_json(&self, path: &Path, force: bool) -> Result<()> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            create_dir(dir)?;
        }
        Ok(io::write_json(path, self, force)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{AuditParams, LinearDecoderParams};
    use spikelab_core::Silent;

    #[test]
    fn lags_parse_errors_are_typed() {
        for bad in ["", "causal:x", "centred:1", "window:3", "zero:1"] {
            assert!(bad.parse::<Lags>().is_err(), "{bad:?}");
        }
        assert_eq!("zero".parse::<Lags>().unwrap(), Lags::Zero);
    }

    #[test]
    fn one_hot_refuses_non_integers() {
        assert!(one_hot(ndarray::array![[0.5], [1.0]].view()).is_err());
        assert!(one_hot(ndarray::array![[1.0, 2.0]].view()).is_err());
    }

    #[test]
    fn files_in_fit_and_audit_out() {
        let dir = tempfile::tempdir().unwrap();
        let t = 600;
        let target = Array2::from_shape_fn((t, 1), |(i, _)| (i as f64 * 0.05).sin());
        let counts = Array2::from_shape_fn((4, t), |(n, i)| {
            (3.0 + 2.0 * (n as f64 + 1.0) * target[[i, 0]] + ((i * 7 + n) % 3) as f64).round()
        });
        let sp = dir.path().join("spikes.npy");
        let tp = dir.path().join("target.npy");
        io::npy::write(&sp, &counts, false).unwrap();
        // The target stored as one row: read_inputs finds the frame axis.
        io::npy::write(&tp, &target.t().to_owned(), false).unwrap();
        let inputs = read_inputs(&sp, None, &tp, None, 0.05).unwrap();
        assert_eq!(inputs.target, target);
        let fit = LinearDecoderParams {
            lags: Lags::Zero,
            ..Default::default()
        }
        .check()
        .unwrap()
        .fit(inputs.counts.view(), inputs.target.view())
        .unwrap();
        let out = dir.path().join("fit");
        fit.write(&out, false).unwrap();
        assert!(fit.write(&out, false).is_err(), "overwrote without force");
        let back: LinearDecoderFit =
            serde_json::from_str(&std::fs::read_to_string(out.join("fit.json")).unwrap()).unwrap();
        assert_eq!(back.test_r2, fit.test_r2);
        let audit = AuditParams {
            bottlenecks: vec![1, 2],
            bootstrap: 0,
            ..Default::default()
        }
        .check()
        .unwrap();
        let rep = audit
            .run_recording(
                inputs.counts.view(),
                inputs.target.view(),
                &Lags::Zero,
                &mut Silent,
            )
            .unwrap();
        assert_eq!(rep.points.len(), 2);
        let json = out.join("audit.json");
        rep.write_json(&json, false).unwrap();
        assert!(rep.write_json(&json, false).is_err());
        let short = Array2::<f64>::zeros((t - 1, 1));
        assert!(
            audit
                .run_recording(inputs.counts.view(), short.view(), &Lags::Zero, &mut Silent)
                .is_err()
        );
    }
}
