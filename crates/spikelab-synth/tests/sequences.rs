//! Embedded sequences: parity mode (original recipe) and clean mode.

use spikelab_data::{BinnedRaster, SparseRaster};
use spikelab_synth::{
    Background, Occurrences, ParityParams, PoissonParams, RateModel, SequenceParams, SequenceType,
    SynthError,
};

/// A binary background with heterogeneous rates from the Poisson generator.
fn background(n: usize, bins: usize, seed: u64) -> BinnedRaster {
    let rates: Vec<f64> = (0..n).map(|i| 0.02 + 0.0005 * (i % 80) as f64).collect();
    let (st, _) = PoissonParams::constant(rates, bins as f64 * 0.05)
        .generate(seed)
        .unwrap();
    st.bin(0.05).unwrap().binarized()
}

/// Spike bins of an output row.
fn row_bins(r: &SparseRaster, row: usize) -> Vec<i64> {
    r.rows()[row].iter().map(|&(b, _)| b as i64).collect()
}

#[test]
fn parity_mode_follows_the_original_recipe() {
    let bg = background(150, 12_000, 1);
    let p = ParityParams {
        seqlen: 40,
        p_drop: 0.1,
        gap_bins: 300,
        jitter_std_bins: 3.0,
        lag_bins: 2,
    };
    let (x, truth) = p.generate(&bg, 7).unwrap();
    assert_eq!((x.n_neurons(), x.n_bins()), (150, 12_000));
    // Onsets 0, 300, … while onset < T − gap.
    let n_occ = (0..)
        .map(|k| k * 300)
        .take_while(|&s| s < 12_000 - 300)
        .count();
    assert_eq!(truth.occurrences.len(), n_occ);
    // Every insertion deleted exactly one non-member spike.
    let inserted: usize = truth.occurrences.iter().map(|o| o.n_inserted).sum();
    assert_eq!(inserted, truth.n_deleted);
    // Insertions only where a non-member spike existed: expected count ≈ slots·(1−p)·q, with
    // q the fraction of bins in which at least one non-member row spikes (measured on the
    // non-members' source rows; shuffling keeps it on average).
    let counts = bg.counts();
    let src = truth.source_rows.as_ref().unwrap();
    let members: std::collections::HashSet<usize> =
        truth.types[0].members.iter().copied().collect();
    let non_src: Vec<usize> = (0..150)
        .filter(|r| !members.contains(r))
        .map(|r| src[r])
        .collect();
    let occupied = (0..bg.n_bins())
        .filter(|&b| non_src.iter().any(|&n| counts[[n, b]] > 0))
        .count() as f64
        / bg.n_bins() as f64;
    let expected = n_occ as f64 * 40.0 * 0.9 * occupied;
    println!("inserted {inserted} expected {expected} occupied {occupied}");
    // Deletions deplete the occupied bins that later members aim at, so fewer land.
    assert!(
        inserted as f64 <= expected * 1.05 && inserted as f64 > 0.8 * expected,
        "{inserted} vs {expected}"
    );
    // Interval shuffling keeps each row's spike count (up to bin-0 merges) and the last spike.
    for r in 0..150 {
        if members.contains(&r) {
            continue;
        }
        let orig: Vec<usize> = (0..bg.n_bins())
            .filter(|&b| counts[[src[r], b]] > 0)
            .collect();
        let got = row_bins(&x, r);
        // Non-members can only lose spikes (deletions).
        assert!(got.len() <= orig.len());
    }
    // Members fire at their lag after each onset: the mean offset of the nearest spike to
    // onset + 2i (within ±4σ) is ≈ 0.
    let mut dev = Vec::new();
    for (i, &m) in truth.types[0].members.iter().enumerate() {
        let bins = row_bins(&x, m);
        for o in &truth.occurrences {
            let want = o.onset_bin + 2 * i as i64;
            if let Some(d) = bins
                .iter()
                .map(|b| b - want)
                .filter(|d| d.abs() <= 12)
                .min_by_key(|d| d.abs())
            {
                dev.push(d as f64);
            }
        }
    }
    let mean = dev.iter().sum::<f64>() / dev.len() as f64;
    assert!(mean.abs() < 0.5, "mean deviation {mean}");
    // Centres follow the original rule.
    for o in &truth.occurrences {
        assert!((o.centre_bin - (o.onset_bin + 39)).abs() <= 12, "{o:?}");
    }
    // Reproducible.
    assert_eq!(p.generate(&bg, 7).unwrap().0, x);
    assert_ne!(p.generate(&bg, 8).unwrap().0, x);
}

#[test]
fn parity_mode_rejects_bad_input() {
    let bg = background(50, 2000, 2);
    let bad = |p: ParityParams, b: &BinnedRaster| {
        matches!(p.generate(b, 0), Err(SynthError::InvalidParameter { .. }))
    };
    let d = ParityParams {
        seqlen: 20,
        gap_bins: 100,
        ..ParityParams::default()
    };
    assert!(bad(
        ParityParams {
            p_drop: 1.5,
            ..d.clone()
        },
        &bg
    ));
    assert!(bad(
        ParityParams {
            p_drop: -0.1,
            ..d.clone()
        },
        &bg
    ));
    assert!(bad(
        ParityParams {
            seqlen: 51,
            ..d.clone()
        },
        &bg
    ));
    assert!(bad(
        ParityParams {
            seqlen: 0,
            ..d.clone()
        },
        &bg
    ));
    assert!(bad(
        ParityParams {
            gap_bins: 10,
            ..d.clone()
        },
        &bg
    )); // shorter than the span 19
    assert!(bad(
        ParityParams {
            gap_bins: 5000,
            ..d.clone()
        },
        &bg
    )); // no occurrence fits
    let empty = BinnedRaster::new(ndarray::Array2::zeros((50, 2000)), 0.05).unwrap();
    assert!(matches!(
        d.generate(&empty, 0),
        Err(SynthError::EmptyBackground { .. })
    ));
    let none = BinnedRaster::new(ndarray::Array2::zeros((0, 2000)), 0.05).unwrap();
    assert!(matches!(
        d.generate(&none, 0),
        Err(SynthError::EmptyBackground { .. })
    ));
    assert!(d.generate(&bg, 0).is_ok());
}

#[test]
fn clean_mode_rates_insertions_and_lags() {
    let p = SequenceParams {
        n_neurons: 300,
        n_bins: 100_000,
        rates: RateModel::LogNormal {
            mean_per_bin: 0.01,
            sigma: 0.7,
        },
        types: vec![
            SequenceType {
                n_members: 40,
                lag_bins: 3.0,
                jitter_std_bins: 2.0,
                p_drop: 0.3,
                occurrences: Occurrences::Regular {
                    gap_bins: 500,
                    first_onset_bin: 50,
                },
                ..SequenceType::default()
            },
            SequenceType {
                n_members: 25,
                offsets_bins: Some((0..25).map(|i| (24 - i) as f64 * 2.0).collect()),
                jitter_std_bins: 1.0,
                p_drop: 0.0,
                warp_range: (0.7, 1.4),
                occurrences: Occurrences::Poisson {
                    mean_gap_bins: 300.0,
                },
                ..SequenceType::default()
            },
        ],
        ..SequenceParams::default()
    };
    let (x, truth) = p.generate(21).unwrap();
    // Background rates of non-members match the drawn rates (binary: 1 − e^{−r}).
    let labels = truth.row_labels();
    let (mut got, mut want) = (0.0, 0.0);
    for (r, lab) in labels.iter().enumerate() {
        if lab.is_none() {
            got += x.rows()[r].len() as f64;
            want += (1.0 - (-truth.background_rate_per_bin[r]).exp()) * 100_000.0;
        }
    }
    assert!((got - want).abs() < 4.0 * want.sqrt(), "{got} vs {want}");
    // Log-normal mean ≈ 0.01.
    let mean_rate = truth.background_rate_per_bin.iter().sum::<f64>() / 300.0;
    assert!((mean_rate - 0.01).abs() < 0.0015, "{mean_rate}");
    // Insertion counts: binomial(slots, 1 − p_drop) (minus the few outside the raster).
    for (k, ty) in p.types.iter().enumerate() {
        let occ: Vec<_> = truth
            .occurrences
            .iter()
            .filter(|o| o.type_index == k)
            .collect();
        let slots = (occ.len() * ty.n_members) as f64;
        let ins: usize = occ.iter().map(|o| o.n_inserted).sum();
        let mean = slots * (1.0 - ty.p_drop);
        let sd = (slots * ty.p_drop * (1.0 - ty.p_drop)).sqrt().max(1.0);
        assert!(
            (ins as f64 - mean).abs() < 5.0 * sd + 2.0,
            "type {k}: {ins} vs {mean}"
        );
    }
    // Regular schedule: onsets 50, 550, …
    let on0 = truth.onsets(0);
    assert_eq!(on0[0], 50);
    assert!(on0.windows(2).all(|w| w[1] - w[0] == 500));
    // Type 1 overlaps type 0 sometimes (Poisson onsets) and warps within range.
    let occ1: Vec<_> = truth
        .occurrences
        .iter()
        .filter(|o| o.type_index == 1)
        .collect();
    assert!(occ1.len() > 200);
    assert!(occ1.iter().all(|o| (0.7..=1.4).contains(&o.warp)));
    let overlapping = occ1
        .iter()
        .filter(|o| on0.iter().any(|&s| (o.onset_bin - s).abs() < 120))
        .count();
    assert!(overlapping > 10);
    // Lags: member i of type 0 fires 3·i bins after the onset (nearest spike, mean deviation).
    let mut dev = Vec::new();
    for (i, &m) in truth.types[0].members.iter().enumerate() {
        let bins = row_bins(&x, m);
        for &s in &on0 {
            let want = s + 3 * i as i64;
            if let Some(d) = bins
                .iter()
                .map(|b| b - want)
                .filter(|d| d.abs() <= 6)
                .min_by_key(|d| d.abs())
            {
                dev.push(d as f64);
            }
        }
    }
    let mean = dev.iter().sum::<f64>() / dev.len() as f64;
    let sd = (dev.iter().map(|d| (d - mean).powi(2)).sum::<f64>() / dev.len() as f64).sqrt();
    assert!(mean.abs() < 0.2, "{mean}");
    assert!((sd - 2.0).abs() < 0.5, "jitter sd {sd}");
    // Type 1 is reversed with warped offsets: member i at warp·2·(24 − i).
    let mut hits = 0;
    let mut total = 0;
    for (i, &m) in truth.types[1].members.iter().enumerate() {
        let bins = row_bins(&x, m);
        for o in &occ1 {
            let want = o.onset_bin + (o.warp * 2.0 * (24 - i) as f64).round() as i64;
            total += 1;
            if bins.iter().any(|b| (b - want).abs() <= 3) {
                hits += 1;
            }
        }
    }
    assert!(hits as f64 / total as f64 > 0.95, "{hits}/{total}");
    // Truth survives JSON.
    let json = serde_json::to_string(&truth).unwrap();
    let back: spikelab_synth::SequenceTruth = serde_json::from_str(&json).unwrap();
    assert_eq!(back.types, truth.types);
    assert_eq!(back.permutation, truth.permutation);
}

#[test]
fn clean_mode_is_reproducible_and_streams() {
    let p = SequenceParams {
        n_neurons: 120,
        n_bins: 30_000,
        chunk_bins: 7_000,
        background: Background::Gamma { shape: 2.0 },
        types: vec![SequenceType {
            n_members: 30,
            ..SequenceType::default()
        }],
        ..SequenceParams::default()
    };
    let (a, ta) = p.generate(3).unwrap();
    let (b, tb) = p.generate(3).unwrap();
    assert_eq!(a, b);
    assert_eq!(ta, tb);
    assert_ne!(p.generate(4).unwrap().0, a);
    // Chunked output concatenates to the full raster, whatever the chunk size.
    let q = SequenceParams {
        chunk_bins: 1_000,
        ..p.clone()
    };
    assert_eq!(q.generate(3).unwrap().0, a);
    let (stream, _) = q.stream(3).unwrap();
    let mut rows: Vec<Vec<(u64, u32)>> = vec![Vec::new(); 120];
    for ch in stream {
        let ch = ch.unwrap();
        for (r, row) in rows.iter_mut().zip(ch.raster.rows()) {
            r.extend(row.iter().map(|&(b, c)| (b + ch.start_bin, c)));
        }
    }
    assert_eq!(SparseRaster::from_rows(rows, 30_000, 0.05).unwrap(), a);
}

#[test]
fn clean_mode_scales_to_1e4_neurons_by_1e7_bins() {
    // 10^4 neurons × 10^7 bins streamed chunk by chunk; memory ∝ spikes (≈ 10^6 here).
    let p = SequenceParams {
        n_neurons: 10_000,
        n_bins: 10_000_000,
        rates: RateModel::Constant { per_bin: 1e-5 },
        chunk_bins: 1 << 20,
        types: vec![SequenceType {
            n_members: 100,
            occurrences: Occurrences::Regular {
                gap_bins: 100_000,
                first_onset_bin: 0,
            },
            ..SequenceType::default()
        }],
        ..SequenceParams::default()
    };
    let (stream, truth) = p.stream(1).unwrap();
    let mut total = 0u64;
    let mut chunks = 0;
    for ch in stream {
        total += ch.unwrap().raster.total_spikes();
        chunks += 1;
    }
    assert_eq!(chunks, 10);
    let expected = 1e-5 * 1e11;
    assert!(
        (total as f64 - expected).abs() < 0.01 * expected + 10_000.0,
        "{total}"
    );
    assert_eq!(truth.occurrences.len(), 99);
}

#[test]
fn clean_mode_rejects_bad_input() {
    let bad = |p: SequenceParams| matches!(p.generate(0), Err(SynthError::InvalidParameter { .. }));
    let d = SequenceParams {
        n_bins: 2_000,
        ..SequenceParams::default()
    };
    let ty = SequenceType::default();
    assert!(bad(SequenceParams {
        types: vec![SequenceType {
            p_drop: 1.01,
            ..ty.clone()
        }],
        ..d.clone()
    }));
    assert!(bad(SequenceParams {
        types: vec![SequenceType {
            n_members: 453,
            ..ty.clone()
        }],
        ..d.clone()
    }));
    assert!(bad(SequenceParams {
        types: vec![
            ty.clone(),
            SequenceType {
                n_members: 400,
                ..ty.clone()
            }
        ],
        ..d.clone()
    }));
    assert!(bad(SequenceParams {
        types: vec![SequenceType {
            occurrences: Occurrences::Regular {
                gap_bins: 100,
                first_onset_bin: 0
            },
            ..ty.clone()
        }],
        ..d.clone()
    }));
    assert!(bad(SequenceParams {
        rates: RateModel::Constant { per_bin: 0.0 },
        ..d.clone()
    }));
    assert!(bad(SequenceParams {
        rates: RateModel::LogNormal {
            mean_per_bin: -1.0,
            sigma: 1.0
        },
        ..d.clone()
    }));
    assert!(bad(SequenceParams {
        n_neurons: 0,
        ..d.clone()
    }));
    assert!(bad(SequenceParams {
        bin_s: 0.0,
        ..d.clone()
    }));
    assert!(bad(SequenceParams {
        types: vec![SequenceType {
            warp_range: (1.2, 0.8),
            ..ty.clone()
        }],
        ..d.clone()
    }));
    assert!(d.generate(0).is_ok());
}

#[test]
fn parity_mode_on_the_bundled_ca1_raster_matches_the_original_run() {
    let path = spikelab_datasets::convseq("ca1_rubin/neuronal_activity_mat.mat").unwrap();
    let bg = spikelab_data::io::mat::read_raster(&path, "neuronal_activity_mat", 0.05).unwrap();
    assert_eq!(bg.counts().dim(), (452, 18_137));
    assert_eq!(bg.total_spikes(), 16_982);
    let (x, truth) = ParityParams::default().generate(&bg, 0).unwrap();
    // The README dataset: 45 occurrences, ≈ 16 980 spikes (the original's run kept 16 978-16 980).
    assert_eq!(truth.occurrences.len(), 45);
    let total = x.total_spikes() as i64;
    assert!((total - 16_980).abs() <= 40, "{total}");
    // Effective participation ≈ 0.9 × P(bin has a non-member spike) ≈ 40 % (spec §2.3).
    let inserted: usize = truth.occurrences.iter().map(|o| o.n_inserted).sum();
    let participation = inserted as f64 / (45.0 * 120.0);
    assert!((0.3..0.5).contains(&participation), "{participation}");
    // Members end up firing more than the others (original: 54 vs 31.5 spikes per neuron).
    let labels = truth.row_labels();
    let (mut sm, mut sn) = (0usize, 0usize);
    for (r, lab) in labels.iter().enumerate() {
        let c = x.rows()[r].len();
        if lab.is_some() { sm += c } else { sn += c }
    }
    let (pm, pn) = (sm as f64 / 120.0, sn as f64 / 332.0);
    println!(
        "CA1 parity: {total} spikes, participation {participation:.3}, members {pm:.1} vs others {pn:.1} spikes per neuron"
    );
    assert!(pm / pn > 1.4 && pm / pn < 2.2, "{pm} vs {pn}");
    // Centres ≈ onset + 60.
    for o in &truth.occurrences {
        assert!((o.centre_bin - o.onset_bin - 60).abs() <= 30, "{o:?}");
    }
    // Same statistics as the bundled dataset made by the original generator.
    let meta: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(spikelab_datasets::convseq("synthetic_demo/meta.json").unwrap())
            .unwrap(),
    )
    .unwrap();
    assert_eq!(
        meta["n_occurrences"].as_u64().unwrap(),
        truth.occurrences.len() as u64
    );
    let orig = meta["n_spikes"].as_i64().unwrap();
    assert!((total - orig).abs() <= 40, "{total} vs {orig}");
}
