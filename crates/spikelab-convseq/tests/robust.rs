//! Robust mode (issue #20): the hard regime of the original generator, null rasters, and
//! bad input. Rasters: `spikelab_synth::ParityParams` (the original recipe) on the bundled
//! CA1 raster, parameters drawn per seed from the ranges (seqlen 60–80, p_drop
//! 0.2–0.3, jitter std 20–30 bins, gap 600–800 bins). Ground truth comes from the generator.

use spikelab_convseq::{
    ConvSeq, ConvSeqError, ConvSeqParams, Mode, RobustOptions,
    metrics::{Truth, score},
};
use spikelab_data::SparseRaster;
use spikelab_synth::{Occurrences, ParityParams, SequenceParams, SequenceType};

/// The hard regime on the first `n_bins` bins of the CA1 raster; `null`: no member spike.
fn hard(seed: u64, n_bins: u64, null: bool) -> (SparseRaster, Truth) {
    let p = ParityParams::hard_regime(seed, null);
    let bg = spikelab_datasets::convseq::ca1_raster()
        .unwrap()
        .slice_bins(0, n_bins)
        .unwrap()
        .to_dense()
        .unwrap();
    let (raster, truth) = p.generate(&bg, seed).unwrap();
    let t = Truth {
        centres_bins: truth.centres(0).iter().map(|&c| c as f64).collect(),
        members: truth.types[0].members.clone(),
    };
    (raster, t)
}

fn robust(seed: u64) -> ConvSeqParams {
    ConvSeqParams {
        mode: Mode::Robust,
        seed,
        ..Default::default()
    }
}

/// Scores of the robust mode on the full-size hard regime (452 × 18 137) for seeds 0..5:
/// (F1 within ±100 bins, order ρ).
fn hard_scores() -> Vec<(f64, f64)> {
    (0..5)
        .map(|seed| {
            let (raster, truth) = hard(seed, 18_137, false);
            let fit = ConvSeq::new(robust(seed)).unwrap().fit(&raster).unwrap();
            let s = score(&fit.detection, 0, &truth, 100.0).unwrap();
            println!(
                "seed {seed}: F1 {:.3} ρ {:.3} events {} held-out p {:.4}",
                s.events.f1,
                s.order_spearman,
                fit.detection.events.len(),
                fit.robust.as_ref().unwrap().significance[0].p_value
            );
            (s.events.f1, s.order_spearman)
        })
        .collect()
}

/// Regression guard at the level reached (docs/convseq.md): F1 ≥ 0.7 and ρ ≥ 0.6 in ≥ 3 of
/// 5 seeds, where the faithful mode reaches F1 0.22–0.53 and ρ −0.07–0.45. Issue #20's target
/// (F1 ≥ 0.8 and ρ ≥ 0.7 in ≥ 4 of 5) is not reached: 1 of 5 (`examples/convseq_robust.rs`
/// prints every seed).
#[test]
fn hard_regime_recovered_in_most_seeds() {
    let ok = hard_scores()
        .iter()
        .filter(|(f1, rho)| *f1 >= 0.7 && *rho >= 0.6)
        .count();
    assert!(ok >= 3, "only {ok} of 5 seeds reached F1 ≥ 0.7, ρ ≥ 0.6");
}

/// Null rasters (same background and rates, every member spike dropped; reduced to the
/// first 9000 bins for CI, the full size is in the example): no significant sequence in
/// ≥ 95 % of the seeds (19 of 20 here).
#[test]
fn null_rasters_not_significant() {
    let seeds = 20;
    let mut sig = 0;
    for seed in 100..100 + seeds {
        let (raster, _) = hard(seed, 9_000, true);
        let fit = ConvSeq::new(robust(seed)).unwrap().fit(&raster).unwrap();
        let rep = fit.robust.as_ref().unwrap();
        if rep.any_significant() {
            sig += 1;
        } else {
            assert!(rep.summary().contains("no significant sequence"));
        }
    }
    assert!(sig <= 1, "{sig} of {seeds} null rasters called significant");
}

#[test]
fn bad_input() {
    let (raster, _) = hard(0, 3_000, false);
    let with = |o: RobustOptions| ConvSeqParams {
        robust: o,
        ..robust(0)
    };
    for o in [
        RobustOptions {
            restarts: 0,
            ..Default::default()
        },
        RobustOptions {
            heldout_fraction: 0.0,
            ..Default::default()
        },
        RobustOptions {
            heldout_fraction: 1.0,
            ..Default::default()
        },
        RobustOptions {
            heldout_fraction: f64::NAN,
            ..Default::default()
        },
    ] {
        assert!(matches!(
            ConvSeq::new(with(o)),
            Err(ConvSeqError::InvalidParameter { .. })
        ));
    }
    // 700 bins: the held-out part (210 bins) is shorter than 2W = 400.
    let short = raster.slice_bins(0, 700).unwrap();
    let e = ConvSeq::new(robust(0)).unwrap().fit(&short).unwrap_err();
    assert!(
        matches!(&e, ConvSeqError::InvalidRaster(m) if m.contains("held-out")),
        "{e}"
    );
    // The faithful mode ignores the robust options.
    let faithful = ConvSeqParams {
        mode: Mode::Faithful,
        ..with(RobustOptions {
            restarts: 0,
            ..Default::default()
        })
    };
    assert!(ConvSeq::new(faithful).is_ok());
}

/// Two interleaved sequence types (clean mode, 452 neurons × 18 137 bins with CA1-matched
/// rates; 60 members each, jitter 10 bins, p_drop 0.2, one occurrence every 700 bins, the
/// second type 350 bins after the first) and K = 2: each type is recovered by its own filter
/// (F1 ≥ 0.8, ρ ≥ 0.7) and both are significant. With one planted type and K = 2, the second
/// filter is not significant.
#[test]
fn two_types_two_filters() {
    let ty = |first: u64| SequenceType {
        n_members: 60,
        jitter_std_bins: 10.0,
        p_drop: 0.2,
        occurrences: Occurrences::Regular {
            gap_bins: 700,
            first_onset_bin: first,
        },
        ..SequenceType::default()
    };
    let two = SequenceParams {
        types: vec![ty(0), ty(350)],
        binary: true,
        ..SequenceParams::default()
    };
    let k2 = ConvSeqParams {
        n_filters: 2,
        ..robust(3)
    };
    let (raster, truth) = two.generate(3).unwrap();
    let fit = ConvSeq::new(k2.clone()).unwrap().fit(&raster).unwrap();
    let rep = fit.robust.as_ref().unwrap();
    print!("{}", rep.summary());
    let mut used = Vec::new();
    for ty in 0..2 {
        let t = Truth {
            centres_bins: truth.centres(ty).iter().map(|&c| c as f64).collect(),
            members: truth.types[ty].members.clone(),
        };
        let (k, s) = (0..2)
            .map(|k| (k, score(&fit.detection, k, &t, 100.0).unwrap()))
            .max_by(|a, b| a.1.events.f1.total_cmp(&b.1.events.f1))
            .unwrap();
        println!(
            "type {ty}: filter {k}, F1 {:.3} ρ {:.3}",
            s.events.f1, s.order_spearman
        );
        assert!(
            s.events.f1 >= 0.8 && s.order_spearman >= 0.7,
            "type {ty}: {s:?}"
        );
        assert!(rep.significance[k].significant, "{}", rep.summary());
        used.push(k);
    }
    assert_ne!(used[0], used[1], "one filter took both types");

    let one = SequenceParams {
        types: vec![ty(0)],
        ..two
    };
    let (raster, _) = one.generate(3).unwrap();
    let fit = ConvSeq::new(k2).unwrap().fit(&raster).unwrap();
    let rep = fit.robust.as_ref().unwrap();
    print!("{}", rep.summary());
    assert!(rep.significance[0].significant, "{}", rep.summary());
    assert!(!rep.significance[1].significant, "{}", rep.summary());
}
