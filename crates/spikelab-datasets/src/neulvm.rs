//! Loaders for the bundled neuLVM fixture (`datasets/neulvm/regenerated_seed20221011/`, see its
//! README): the recorded spikes, the true latent and the golden file's random initial
//! parameters, so that examples and tests do not each parse the files again.

use ndarray::Array2;
use spikelab_data::io::npy;
use spikelab_neulvm::{ModelConfig, NeuLvm, NeulvmError, Params, Recording, Result};

use crate as datasets;

/// The winner-take-all model bound to the bundled recording (9 recorded neurons, 4-ms bins,
/// 1 s of history + 10 s).
///
/// ```
/// let model = spikelab_datasets::neulvm::model()?;
/// assert_eq!(model.recording().n_bins(), 2750);
/// # Ok::<(), spikelab_neulvm::NeulvmError>(())
/// ```
pub fn model() -> Result<NeuLvm> {
    NeuLvm::new(
        ModelConfig::winner_take_all(),
        Recording::from_npy(&datasets::neulvm("spikes_4ms.npy")?)?,
    )
}

/// The true latent Z `[population, bin]` of the bundled recording (`Z_gt_4ms.npy`).
pub fn latent_truth() -> Result<Array2<f64>> {
    Ok(npy::read_typed(&datasets::neulvm("Z_gt_4ms.npy")?)?)
}

/// The golden file's `x_rand`: the random initial parameters the original was run from.
///
/// ```
/// let x = spikelab_datasets::neulvm::golden_x_rand()?;
/// assert_eq!(x.to_vec().len(), 12);
/// # Ok::<(), spikelab_neulvm::NeulvmError>(())
/// ```
pub fn golden_x_rand() -> Result<Params> {
    let path = datasets::neulvm("golden_losses.json")?;
    let text =
        std::fs::read_to_string(&path).map_err(|e| spikelab_data::DataError::io(&path, e))?;
    let g: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| NeulvmError::Serde(format!("{}: {e}", path.display())))?;
    let x: Vec<f64> = g["x_rand"]
        .as_array()
        .ok_or_else(|| NeulvmError::Serde(format!("{}: no x_rand array", path.display())))?
        .iter()
        .map(|v| {
            v.as_f64()
                .ok_or_else(|| NeulvmError::Serde("x_rand holds a non-number".into()))
        })
        .collect::<Result<_>>()?;
    Params::from_slice(&x)
}
