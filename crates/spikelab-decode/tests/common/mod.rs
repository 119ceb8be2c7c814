//! Shared by the decode integration tests: the bundled CA1 raster and position.

use ndarray::Array2;

/// CA1 (Rubin): counts `[452 neuron, 18 137 frame]` and position `[frame, 1]` at 20 Hz.
pub fn ca1() -> (Array2<f64>, Array2<f64>) {
    let inputs = spikelab_decode::read_inputs(
        &spikelab_datasets::convseq("ca1_rubin/neuronal_activity_mat.mat").unwrap(),
        Some("neuronal_activity_mat"),
        &spikelab_datasets::convseq("ca1_rubin/position_per_frame.mat").unwrap(),
        Some("position_per_frame"),
        0.05,
    )
    .unwrap();
    (inputs.counts, inputs.target)
}
