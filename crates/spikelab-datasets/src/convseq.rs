//! The bundled convSeq rasters and ground truth (`datasets/convseq/`, see its README).

use spikelab_convseq::input::{read_id_time_txt, read_pairs_npy};
use spikelab_convseq::metrics::Truth;
use spikelab_convseq::{ConvSeqError, Result};
use spikelab_data::SparseRaster;

use crate as datasets;

/// The original convSeq demo raster (452 × 18 137 bins of 50 ms, 16 980 spikes), made by
/// the original generator (`synthetic_demo/`).
///
/// ```
/// let r = spikelab_datasets::convseq::demo_raster()?;
/// assert_eq!((r.n_neurons(), r.n_bins(), r.nnz()), (452, 18137, 16980));
/// # Ok::<(), spikelab_convseq::ConvSeqError>(())
/// ```
pub fn demo_raster() -> Result<SparseRaster> {
    let meta_path = datasets::convseq("synthetic_demo/meta.json")?;
    let meta = std::fs::read_to_string(&meta_path)
        .map_err(|e| spikelab_data::DataError::io(&meta_path, e))?;
    let meta: serde_json::Value = serde_json::from_str(&meta)
        .map_err(|e| ConvSeqError::InvalidRaster(format!("{}: {e}", meta_path.display())))?;
    let field = |name: &str| -> Result<f64> {
        meta.get(name)
            .and_then(|v| v.as_f64())
            .ok_or_else(|| ConvSeqError::InvalidRaster(format!("meta.json lacks number {name}")))
    };
    let n = field("n_neurons")? as usize;
    let t = field("n_bins")? as u64;
    let bin_s = field("bin_s")?;
    read_pairs_npy(
        &datasets::convseq("synthetic_demo/spikes.npy")?,
        n,
        t,
        bin_s,
    )
}

/// Ground truth of the demo (`gt_centres.npy`, `members.npy`): the 45 occurrence centres
/// (bins, as the original generator computes them) and the raster rows of the neurons at
/// sequence positions 0…119.
pub fn demo_truth() -> Result<Truth> {
    let c = spikelab_data::io::npy::read_any(&datasets::convseq("synthetic_demo/gt_centres.npy")?)?;
    let m = spikelab_data::io::npy::read_any(&datasets::convseq("synthetic_demo/members.npy")?)?;
    Ok(Truth {
        centres_bins: c.data.iter().copied().collect(),
        members: m.data.iter().map(|&v| v as usize).collect(),
    })
}

/// The songbird HVC spikes (PP-Seq demo file; 75 neurons, 22 s), binned at `bin_s`
/// seconds (the convSeq/PP-Seq authors use 1 ms).
pub fn songbird_raster(bin_s: f64) -> Result<SparseRaster> {
    read_id_time_txt(
        &datasets::convseq("songbird_hvc/songbird_spikes.txt")?,
        bin_s,
    )
}

/// The mouse CA1 raster of Rubin et al. (`ca1_rubin/neuronal_activity_mat.mat`, variable
/// `neuronal_activity_mat`): 452 neurons × 18 137 frames at 20 Hz (50 ms bins).
///
/// ```
/// let r = spikelab_datasets::convseq::ca1_raster()?;
/// assert_eq!((r.n_neurons(), r.n_bins(), r.nnz()), (452, 18137, 16982));
/// assert_eq!(r.max_count(), 1);
/// # Ok::<(), spikelab_convseq::ConvSeqError>(())
/// ```
pub fn ca1_raster() -> Result<SparseRaster> {
    let path = datasets::convseq("ca1_rubin/neuronal_activity_mat.mat")?;
    let r = spikelab_data::io::mat::read_raster(&path, "neuronal_activity_mat", 0.05)?;
    Ok(r.to_sparse())
}
