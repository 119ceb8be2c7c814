//! Time-chunked data parallelism (issue #23) on the CPU backend: the chunking and the two
//! sums over shards give the single-engine loss, gradient, projections and Adam trajectory.

use spikelab_convseq::chunked::{ChunkedEngine, Replica, Shard, plan_time_chunks, reduced_len};
use spikelab_convseq::{ConvSeqError, ConvSeqParams, Engine, SparseEngine, init_logits};
use spikelab_data::SparseRaster;

/// 12 neurons × 3 000 bins: a 6-neuron sequence every 150 bins plus pseudo-random spikes.
fn raster() -> SparseRaster {
    let mut ev = Vec::new();
    for onset in (20..2900u64).step_by(150) {
        for n in 0..6 {
            ev.push((n, onset + 3 * n as u64));
        }
    }
    let mut x: u64 = 12345;
    for _ in 0..900 {
        x = x
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ev.push((((x >> 33) % 12) as usize, (x >> 20) % 3000));
    }
    SparseRaster::from_events(12, 3000, 0.01, &ev).unwrap()
}

fn params(k: usize) -> ConvSeqParams {
    ConvSeqParams {
        width_bins: 40,
        n_filters: k,
        filt_tv_l: 0.5,
        ..Default::default()
    }
}

fn max_abs_diff(a: impl IntoIterator<Item = f64>, b: impl IntoIterator<Item = f64>) -> f64 {
    a.into_iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f64::max)
}

#[test]
fn chunks_cover_the_outputs_and_overlap_by_w() {
    let p = params(1);
    let (t, w) = (3000, 40);
    let l = p.output_len(t);
    for n in [1, 2, 3, 7, l / w] {
        let c = plan_time_chunks(t, &p, n).unwrap();
        assert_eq!(c.len(), n);
        assert_eq!((c[0].outputs.start, c[n - 1].outputs.end), (0, l));
        for pair in c.windows(2) {
            assert_eq!(pair[0].outputs.end, pair[1].outputs.start);
            assert!(pair[0].bins.end - pair[1].bins.start >= w, "{pair:?}");
        }
        assert!(c.iter().all(|x| x.outputs.len() >= w && x.bins.end <= t));
    }
}

#[test]
fn any_number_of_shards_gives_the_single_engine_result() {
    let r = raster();
    for k in [1, 2] {
        let p = params(k);
        let logits = init_logits(k, 12, 40, 3);
        let mut single = SparseEngine::new(&r, p.clone(), logits.clone()).unwrap();
        let (t0, g0) = single.loss_and_grad().unwrap();
        let gmax = g0.iter().fold(0.0f64, |m, v| m.max(v.abs()));
        for n in [1, 2, 3, 7] {
            let mut eng = ChunkedEngine::new(&r, p.clone(), logits.clone(), n).unwrap();
            let (t, g) = eng.loss_and_grad().unwrap();
            assert!(
                (t.total - t0.total).abs() <= 1e-12 * t0.total.abs().max(1.0),
                "{t:?} vs {t0:?}"
            );
            assert!(max_abs_diff(t.var.clone(), t0.var.clone()) <= 1e-12);
            assert!(max_abs_diff(t.tv.clone(), t0.tv.clone()) <= 1e-12);
            assert_eq!(t.filt_tv, t0.filt_tv);
            assert!(
                max_abs_diff(g.iter().copied(), g0.iter().copied()) <= 1e-11 * gmax,
                "K {k}, {n} shards"
            );
        }
        // The same Adam trajectory over 30 epochs, and the same projections after it.
        let mut eng = ChunkedEngine::new(&r, p.clone(), logits.clone(), 3).unwrap();
        for _ in 0..30 {
            let a = single.step().unwrap();
            let b = eng.step().unwrap();
            assert!((a.total - b.total).abs() <= 1e-10 * a.total.abs().max(1.0));
        }
        let d = max_abs_diff(
            single.logits().unwrap().iter().copied(),
            eng.logits().unwrap().iter().copied(),
        );
        assert!(d <= 1e-9, "logits differ by {d}");
        let d = max_abs_diff(
            single.projections().unwrap().iter().copied(),
            eng.projections().unwrap().iter().copied(),
        );
        assert!(d <= 1e-10, "projections differ by {d}");
    }
}

#[test]
fn shards_on_the_ca1_recording_match_one_engine() {
    let r = spikelab_datasets::convseq::ca1_raster().unwrap();
    let p = ConvSeqParams::default();
    let logits = init_logits(1, r.n_neurons(), p.width_bins, 0);
    let mut single = SparseEngine::new(&r, p.clone(), logits.clone()).unwrap();
    let mut eng = ChunkedEngine::new(&r, p, logits, 8).unwrap();
    for _ in 0..3 {
        let a = single.step().unwrap();
        let b = eng.step().unwrap();
        assert!(
            (a.total - b.total).abs() <= 1e-10 * a.total.abs(),
            "{a:?} vs {b:?}"
        );
    }
    let d = max_abs_diff(
        single.logits().unwrap().iter().copied(),
        eng.logits().unwrap().iter().copied(),
    );
    assert!(d <= 1e-9, "logits differ by {d}");
}

#[test]
fn bad_input_is_a_typed_error() {
    let r = raster();
    let p = params(1);
    let logits = init_logits(1, 12, 40, 0);
    // No shard; more shards than L/W.
    assert!(matches!(
        plan_time_chunks(3000, &p, 0),
        Err(ConvSeqError::InvalidParameter { .. })
    ));
    assert!(matches!(
        ChunkedEngine::new(&r, p.clone(), logits.clone(), 3000 / 40 + 1),
        Err(ConvSeqError::InvalidParameter { .. })
    ));
    // K > 1 pair terms need whole projections.
    let pair = ConvSeqParams {
        proj_xcorr_l: 1.0,
        ..params(2)
    };
    assert!(matches!(
        ChunkedEngine::new(&r, pair, init_logits(2, 12, 40, 0), 2),
        Err(ConvSeqError::InvalidParameter { .. })
    ));
    // A chunk whose bins do not match its outputs.
    let mut c = plan_time_chunks(3000, &p, 2).unwrap().remove(1);
    c.bins.start += 1;
    assert!(matches!(
        Shard::new(&r, &p, c),
        Err(ConvSeqError::InvalidParameter { .. })
    ));
    // A reduction buffer of the wrong length.
    let rep = Replica::new(p.clone(), 3000, logits).unwrap();
    assert_eq!(reduced_len(&p, 12), 2 + 12 * 40);
    assert!(matches!(
        rep.loss_and_grad(&[0.0; 5]),
        Err(ConvSeqError::Shape { .. })
    ));
    // A non-finite sum stops with an error instead of stepping.
    let mut bad = vec![0.0; reduced_len(&p, 12)];
    bad[0] = f64::NAN;
    let mut rep = Replica::new(p, 3000, init_logits(1, 12, 40, 0)).unwrap();
    assert!(matches!(
        rep.step(&bad),
        Err(ConvSeqError::NonFinite { .. })
    ));
}
