//! A model to fit or simulate, as one serialisable value ([`ModelSpec`]): the fixed settings,
//! the box of the fitted parameters and, optionally, parameters to simulate with. This is the
//! content of the CLI's `--model model.toml` (format in `docs/neulvm.md`); the paper's network
//! is the preset [`ModelSpec::winner_take_all`].

use serde::{Deserialize, Serialize};

use crate::error::{NeulvmError, Result};
use crate::params::{Bounds, ModelConfig, Params};

/// Box constraints of the fitted parameters, per parameter and population; also the uniform
/// prior the restarts are drawn from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ParamBox {
    /// Lower bounds.
    pub lower: Params,
    /// Upper bounds.
    pub upper: Params,
}

/// A model to fit or simulate: the fixed settings (`model`), the box of the fitted parameters
/// (`bounds`) and optional parameters to simulate with (`params`, e.g. the ground truth of
/// synthetic data; a fit does not read them).
///
/// Serde only: a TOML or JSON file maps onto it with any serde format crate, and
/// [`validate`](Self::validate) checks it once.
///
/// ```
/// use spikelab_neulvm::{ModelSpec, Params};
/// let spec = ModelSpec::winner_take_all();
/// spec.validate()?;
/// assert_eq!(spec.bounds()?.lower.len(), 12);
/// assert_eq!(spec.params, Some(Params::winner_take_all_ground_truth()));
/// // JSON here; the CLI reads the same structure from TOML.
/// let back: ModelSpec = serde_json::from_str(&serde_json::to_string(&spec).unwrap()).unwrap();
/// assert_eq!(back, spec);
/// # Ok::<(), spikelab_neulvm::NeulvmError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelSpec {
    /// Fixed settings of the mesoscopic model.
    pub model: ModelConfig,
    /// Box of the fitted parameters.
    pub bounds: ParamBox,
    /// Parameters to simulate with, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub params: Option<Params>,
}

impl ModelSpec {
    /// The paper's 3-population winner-take-all network ([`ModelConfig::winner_take_all`]),
    /// the original's box `[0.4·|x|, 2·|x|]` around the ground truth, and the ground truth as
    /// `params`.
    pub fn winner_take_all() -> Self {
        let truth = Params::winner_take_all_ground_truth();
        let b = Bounds::relative_to(&truth, 0.4, 2.0).expect("the preset's box is valid");
        let side = |x: &[f64]| Params::from_slice(x).expect("the preset's box is valid");
        Self {
            model: ModelConfig::winner_take_all(),
            bounds: ParamBox {
                lower: side(&b.lower),
                upper: side(&b.upper),
            },
            params: Some(truth),
        }
    }

    /// Checks the settings, that the box and `params` have one value per population, that the
    /// box is finite with lower < upper, that a_mem > 0 on the box, and that `params` (if any)
    /// are finite.
    pub fn validate(&self) -> Result<()> {
        self.model.validate()?;
        self.bounds()?;
        if let Some(p) = &self.params {
            p.validate(self.model.n_populations())?;
        }
        Ok(())
    }

    /// The box as [`Bounds`] (vector order of [`Params::to_vec`]), checked against the number
    /// of populations.
    pub fn bounds(&self) -> Result<Bounds> {
        let m = self.model.n_populations();
        for (side, p) in [("lower", &self.bounds.lower), ("upper", &self.bounds.upper)] {
            p.validate(m).map_err(|e| match e {
                NeulvmError::Params(s) => NeulvmError::Params(format!("bounds.{side}: {s}")),
                e => e,
            })?;
        }
        Bounds::new(self.bounds.lower.to_vec(), self.bounds.upper.to_vec())
    }
}
