//! Ensembles of Elephant networks: the average of several weight sets' predictions.
//!
//! Not in the original (which used `model1.h5` only); CASCADE, its successor, averages five
//! models per noise level. The bundled `model1.h5` … `model5.h5` are independent training
//! runs of the same architecture.

use ndarray::Array2;
use spikelab_data::CalciumTraces;

use crate::error::{CalciumError, Result};
use crate::evaluate::Predictor;
use crate::network::{ElephantCnn, SkippedNeurons, check_chunk_frames, check_rate};

/// Several networks whose predictions are averaged frame by frame.
///
/// ```
/// # #[cfg(feature = "embedded-weights")] {
/// use spikelab_calcium::ensemble::ElephantEnsemble;
/// let e = ElephantEnsemble::embedded()?;
/// assert_eq!(e.len(), 5);
/// # }
/// # Ok::<(), spikelab_calcium::CalciumError>(())
/// ```
#[derive(Debug, Clone)]
pub struct ElephantEnsemble {
    members: Vec<ElephantCnn>,
}

impl ElephantEnsemble {
    /// An ensemble of at least one network.
    pub fn new(members: Vec<ElephantCnn>) -> Result<Self> {
        if members.is_empty() {
            return Err(CalciumError::InvalidParameter {
                name: "members",
                reason: "an ensemble needs at least one network".into(),
            });
        }
        Ok(ElephantEnsemble { members })
    }

    /// The five embedded pretrained models 1–5 ([`ElephantCnn::embedded`]).
    #[cfg(feature = "embedded-weights")]
    pub fn embedded() -> Result<Self> {
        Self::new((1..=5).map(ElephantCnn::embedded).collect::<Result<_>>()?)
    }

    /// Number of members.
    pub fn len(&self) -> usize {
        self.members.len()
    }

    /// Always false (an ensemble has at least one member).
    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    /// The members.
    pub fn members(&self) -> &[ElephantCnn] {
        &self.members
    }

    /// Mean of the members' predictions (`[time, neuron]`, NaN where undefined).
    pub fn predict(&self, traces: &CalciumTraces) -> Result<Array2<f64>> {
        let mut sum = self.members[0].predict(traces)?;
        for m in &self.members[1..] {
            sum += &m.predict(traces)?;
        }
        Ok(sum / self.members.len() as f64)
    }
}

impl ElephantEnsemble {
    /// As [`ElephantEnsemble::predict`] in bounded memory, with the same bits: each member
    /// runs as [`ElephantCnn::predict_report_bounded`] and adds into one output.
    pub fn predict_bounded(
        &self,
        traces: &CalciumTraces,
        chunk_frames: usize,
    ) -> Result<Array2<f64>> {
        check_rate(traces.frame_rate_hz())?;
        check_chunk_frames(chunk_frames)?;
        let mut out = Array2::from_elem(traces.data().dim(), f64::NAN);
        self.predict_into(traces, chunk_frames, &mut out)?;
        Ok(out)
    }

    /// The bounded mean written into `out` (all NaN on entry), in the order of
    /// [`ElephantEnsemble::predict`]: member 1, plus each further member, divided by the count.
    pub(crate) fn predict_into(
        &self,
        traces: &CalciumTraces,
        chunk_frames: usize,
        out: &mut Array2<f64>,
    ) -> Result<SkippedNeurons> {
        let skipped = self.members[0].predict_into(traces, chunk_frames, out, false)?;
        for m in &self.members[1..] {
            m.predict_into(traces, chunk_frames, out, true)?;
        }
        let k = self.members.len() as f64;
        out.mapv_inplace(|v| v / k);
        Ok(skipped)
    }
}

impl Predictor for ElephantEnsemble {
    fn predict(&self, traces: &CalciumTraces) -> Result<Array2<f64>> {
        ElephantEnsemble::predict(self, traces)
    }
}
