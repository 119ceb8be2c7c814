//! Memory-bounded detection (`detect_bounded`) finds what `detect` finds, bit for bit.
use spikelab_convseq::{
    AlphaOptions, ConvSeq, ConvSeqError, ConvSeqFit, ConvSeqParams, Detection, NullKind,
};
use spikelab_data::SparseRaster;

/// 12 neurons, 8 of them firing in order every 100 bins, over `bins` bins.
fn raster(bins: u64) -> SparseRaster {
    let mut ev = Vec::new();
    for onset in (20..bins - 40).step_by(100) {
        for n in 0..8 {
            ev.push((n, onset + 3 * n as u64));
        }
    }
    for i in 0..bins / 10 {
        ev.push((8 + (i % 4) as usize, (i * 7919) % bins));
    }
    SparseRaster::from_events(12, bins, 0.01, &ev).unwrap()
}

fn fit() -> ConvSeqFit {
    let params = ConvSeqParams {
        width_bins: 40,
        tv_l: 1.0,
        epochs: 60,
        seed: 1,
        alpha: AlphaOptions {
            n_samples: 24,
            ..Default::default()
        },
        ..Default::default()
    };
    ConvSeq::new(params).unwrap().fit(&raster(2000)).unwrap()
}

fn same(a: &Detection, b: &Detection, what: &str) {
    assert_eq!(a.events, b.events, "{what}");
    assert!(!a.events.is_empty(), "{what}");
    assert_eq!(a.members, b.members, "{what}");
    assert_eq!(a.null.len(), b.null.len());
    for (x, y) in a.null.iter().zip(&b.null) {
        assert_eq!(x.n_samples, y.n_samples, "{what}");
        for (u, v) in [(x.mean, y.mean), (x.std, y.std), (x.alpha, y.alpha)] {
            assert!(
                u.to_bits() == v.to_bits() || (u.is_nan() && v.is_nan()),
                "{what}"
            );
        }
    }
    assert_eq!(b.projections.dim(), (a.projections.nrows(), 0));
}

#[test]
fn windows_of_any_size_find_the_same_events() {
    let fit = fit();
    let test = raster(5000);
    let whole = fit.detect(&test).unwrap();
    let l = whole.projections.ncols();
    for window in [1usize, 7, 39, 40, 41, 1000, l - 1, l, 10 * l] {
        same(
            &whole,
            &fit.detect_bounded(&test, window).unwrap(),
            &format!("window {window}"),
        );
    }
}

#[test]
fn fixed_alpha_and_circular_shift_null_too() {
    let fit = fit();
    let test = raster(3000);
    let fixed = AlphaOptions {
        fixed: Some(2.0),
        ..fit.params.alpha
    };
    let shift = AlphaOptions {
        null: NullKind::CircularShift,
        n_samples: 8,
        ..fit.params.alpha
    };
    for alpha in [fixed, shift] {
        let whole = fit.detect_with(&test, &alpha).unwrap();
        for window in [3usize, 500] {
            same(
                &whole,
                &fit.detect_bounded_with(&test, &alpha, window).unwrap(),
                "alpha",
            );
        }
    }
}

#[test]
fn a_recording_shorter_than_the_filter_size_and_a_zero_window() {
    let fit = fit();
    // 12 neurons × 40 taps ≥ L: the whole-path projection is made in neuron blocks.
    let short = raster(300);
    let alpha = AlphaOptions {
        fixed: Some(1.0),
        ..fit.params.alpha
    };
    let whole = fit.detect_with(&short, &alpha).unwrap();
    same(
        &whole,
        &fit.detect_bounded_with(&short, &alpha, 16).unwrap(),
        "short",
    );
    assert!(matches!(
        fit.detect_bounded(&short, 0),
        Err(ConvSeqError::InvalidParameter {
            name: "window_bins",
            ..
        })
    ));
}
