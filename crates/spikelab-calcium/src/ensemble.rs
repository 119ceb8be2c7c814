//! Ensembles of Elephant networks: the average of several weight sets' predictions.
//!
//! Not in the original (which used `model1.h5` only); CASCADE, its successor, averages five
//! models per noise level. The bundled `model1.h5` … `model5.h5` are independent training
//! runs of the same architecture.

use ndarray::Array2;
use spikelab_data::CalciumTraces;

use crate::error::{CalciumError, Result};
use crate::evaluate::Predictor;
use crate::network::ElephantCnn;

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

impl Predictor for ElephantEnsemble {
    fn predict(&self, traces: &CalciumTraces) -> Result<Array2<f64>> {
        ElephantEnsemble::predict(self, traces)
    }
}
