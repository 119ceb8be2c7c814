//! The detection sweep of issue #20 (item 3), reduced for CI: two cells of the grid on the
//! bundled CA1 background (452 neurons × 18 137 bins), seed 0, the faithful mode at 1000
//! epochs (the full sweep uses 4000; `examples/convseq_sweep.rs`). Bars from the full-size
//! runs in docs/convseq.md: the robust mode recovers both cells (F1 ≥ 0.8, ρ ≥ 0.7), calls
//! the jitter-5 one significant, and is never below the faithful mode's F1.

use spikelab_bench::detection::{DetectionSweep, SweepMode, summarise, summary_markdown};

#[test]
fn robust_mode_recovers_long_sequences_where_the_faithful_mode_does_not() {
    let bg = spikelab_datasets::convseq::ca1_raster()
        .unwrap()
        .to_dense()
        .unwrap();
    let sweep = DetectionSweep {
        seqlens: vec![120],
        p_drops: vec![0.1],
        jitters_bins: vec![5.0, 30.0],
        seeds: vec![0],
        modes: vec![SweepMode::Faithful { epochs: 1000 }, SweepMode::Robust],
        ..DetectionSweep::issue20()
    };
    let cells = sweep.run(&bg, &mut spikelab_core::Silent).unwrap();
    assert_eq!(cells.len(), 4);
    let summary = summarise(&cells);
    let md = summary_markdown(&summary);
    for jitter in [5.0, 30.0] {
        let get = |mode: &str| {
            summary
                .iter()
                .find(|s| s.mode == mode && s.jitter_bins == jitter)
                .unwrap()
        };
        let (f, r) = (get("faithful"), get("robust"));
        assert_eq!(r.recovered, 1, "jitter {jitter}:\n{md}");
        assert!(r.f1_mean >= f.f1_mean, "jitter {jitter}:\n{md}");
    }
    // At jitter 30 the held-out test (~7 occurrences) does not reach p < 0.01.
    let sharp = cells
        .iter()
        .find(|c| c.mode == "robust" && c.jitter_bins == 5.0)
        .unwrap();
    assert_eq!(sharp.significant, Some(true), "{sharp:?}");
}
