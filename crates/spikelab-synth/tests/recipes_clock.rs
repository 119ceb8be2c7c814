//! The spike times the recipes write to NWB: on the 30 kHz clock, and binning the sequences'
//! times gives their raster back.

use spikelab_data::{SparseRaster, SpikeTrains};
use spikelab_synth::SynthError;
use spikelab_synth::recipes::{NWB_CLOCK_HZ, SequencesRecipe, raster_to_trains, trains_on_clock};

/// Every time is a whole number of clock samples.
fn on_clock(st: &SpikeTrains) -> bool {
    st.trains().iter().flatten().all(|&t| {
        let s = t * NWB_CLOCK_HZ;
        (s - s.round()).abs() < 1e-6
    })
}

#[test]
fn raster_times_are_on_the_clock_and_bin_back_to_the_raster() {
    for bin_s in [0.05, 0.033, 0.001, 1.6 / NWB_CLOCK_HZ] {
        let events: Vec<(usize, u64)> = (0..3000u64)
            .map(|k| ((k % 7) as usize, (k * 2_654_435_761) % 5000))
            .chain([(2, 4999), (2, 4999), (0, 0)])
            .collect();
        let r = SparseRaster::from_events(7, 5000, bin_s, &events).unwrap();
        let st = raster_to_trains(&r).unwrap();
        assert!(on_clock(&st), "bin_s {bin_s}");
        assert_eq!(st.total_spikes(), events.len());
        let back = st.bin_sparse(bin_s).unwrap();
        assert_eq!(back.n_bins(), r.n_bins(), "bin_s {bin_s}");
        assert_eq!(back.rows(), r.rows(), "bin_s {bin_s}");
        // The same raster gives the same times.
        assert_eq!(raster_to_trains(&r).unwrap(), st);
    }
    let short = SparseRaster::from_events(1, 10, 1.0 / NWB_CLOCK_HZ, &[(0, 3)]).unwrap();
    assert!(matches!(
        raster_to_trains(&short),
        Err(SynthError::InvalidParameter { name: "bin_s", .. })
    ));
}

#[test]
fn recipe_rasters_survive_the_round_trip() {
    let recipe = SequencesRecipe {
        bins: 4000,
        ..Default::default()
    };
    let (r, _) = recipe.generate(3).unwrap();
    let back = raster_to_trains(&r).unwrap().bin_sparse(r.bin_s()).unwrap();
    assert_eq!(back.rows(), r.rows());
}

#[test]
fn rounding_to_the_clock_keeps_order_and_interval() {
    let st = SpikeTrains::with_ids(
        vec![vec![0.0, 1e-6, 0.123_456_789, 1.999_999_9], vec![]],
        vec![4, 9],
        0.0,
        2.0,
    )
    .unwrap();
    let q = trains_on_clock(&st).unwrap();
    assert!(on_clock(&q));
    assert_eq!(q.unit_ids(), &[4, 9]);
    assert_eq!(q.trains()[0].len(), 4);
    assert_eq!(q.trains()[0][3], 2.0);
    assert!((q.trains()[0][2] - 0.123_456_789).abs() <= 0.5 / NWB_CLOCK_HZ);
}
