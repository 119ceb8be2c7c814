//! Many sessions over a pool of device workers (issue #23, item 2): each result equals the
//! single fit of its raster, whatever worker ran it.

use spikelab_convseq::{ConvSeq, ConvSeqError, ConvSeqParams, Device, Mode};
use spikelab_core::{CoreError, Flow, Progress, Silent};
use spikelab_synth::ParityParams;

#[test]
fn sessions_on_a_worker_pool_equal_their_single_fits() {
    let bg = spikelab_datasets::convseq::ca1_raster()
        .unwrap()
        .slice_bins(0, 5000)
        .unwrap()
        .to_dense()
        .unwrap();
    let sessions: Vec<_> = (0..4u64)
        .map(|s| {
            let mut p = ParityParams::hard_regime(s, false);
            p.jitter_std_bins = 5.0;
            p.generate(&bg, s).unwrap().0
        })
        .collect();
    for mode in [Mode::Faithful, Mode::Robust] {
        let cs = ConvSeq::new(ConvSeqParams {
            mode,
            epochs: 20,
            seed: 2,
            ..Default::default()
        })
        .unwrap();
        let mut reports = 0;
        let fits = cs
            .fit_sessions(
                &sessions,
                &[Device::Cpu, Device::Cpu],
                &mut |p: &Progress| {
                    assert_eq!((p.stage, p.total), ("job", Some(4)));
                    reports += 1;
                    Flow::Continue
                },
            )
            .unwrap();
        assert_eq!(reports, 4);
        for (raster, fit) in sessions.iter().zip(&fits) {
            let one = cs.fit(raster).unwrap();
            let fit = fit.as_ref().unwrap();
            assert_eq!(fit.logits, one.logits);
            assert_eq!(fit.detection.event_bins(0), one.detection.event_bins(0));
        }
    }
}

#[test]
fn a_device_the_build_lacks_fails_its_jobs_only() {
    let ev: Vec<(usize, u64)> = (0..300u64)
        .map(|i| ((i % 4) as usize, (i * 13) % 1000))
        .collect();
    let r = spikelab_data::SparseRaster::from_events(4, 1000, 0.01, &ev).unwrap();
    let cs = ConvSeq::new(ConvSeqParams {
        width_bins: 20,
        epochs: 3,
        ..Default::default()
    })
    .unwrap();
    let none = cs.fit_sessions(std::slice::from_ref(&r), &[], &mut Silent);
    assert!(matches!(
        none,
        Err(ConvSeqError::Core(CoreError::InvalidParameter { .. }))
    ));
    #[cfg(not(feature = "cuda"))]
    {
        let out = cs
            .fit_sessions(&[r.clone(), r], &[Device::Cuda(0)], &mut Silent)
            .unwrap();
        assert!(
            out.iter()
                .all(|f| matches!(f, Err(ConvSeqError::DeviceUnavailable { .. })))
        );
    }
}
