//! LIF populations: the neuLVM winner-take-all network against the bundled regenerated data.

use ndarray::Array2;
use spikelab_data::io::npy;
use spikelab_datasets as datasets;
use spikelab_synth::{ExternalInput, LifParams, SynthError};

/// Mean rate (Hz) of each population in 0.5-s windows.
fn windowed(act: &Array2<f64>, steps_per_window: usize) -> Vec<Vec<f64>> {
    act.rows()
        .into_iter()
        .map(|r| {
            r.to_vec()
                .chunks_exact(steps_per_window)
                .map(|c| c.iter().sum::<f64>() / c.len() as f64)
                .collect()
        })
        .collect()
}

/// Winner per window (0 = E1, 1 = E2), `None` when the two E rates are within `margin_hz`.
fn winners(w: &[Vec<f64>], margin_hz: f64) -> Vec<Option<usize>> {
    w[0].iter()
        .zip(&w[1])
        .map(|(a, b)| {
            if a - b > margin_hz {
                Some(0)
            } else if b - a > margin_hz {
                Some(1)
            } else {
                None
            }
        })
        .collect()
}

fn switches(win: &[Option<usize>]) -> usize {
    let w: Vec<usize> = win.iter().flatten().copied().collect();
    w.windows(2).filter(|p| p[0] != p[1]).count()
}

#[test]
fn winner_take_all_matches_regenerated_dataset() {
    // The bundled data (original simulator, seed 20221011): Z = A·Δ at 4 ms.
    let z: Array2<f64> = npy::read_typed(&datasets::neulvm("Z_gt_4ms.npy").unwrap()).unwrap();
    let ref_rates: Vec<f64> = z
        .rows()
        .into_iter()
        .map(|r| r.mean().unwrap() / 0.004)
        .collect();
    let ref_w = windowed(&z.mapv(|x| x / 0.004), 125);
    let ref_win = winners(&ref_w, 5.0);
    let ref_decided = ref_win.iter().flatten().count() as f64 / ref_win.len() as f64;
    println!(
        "reference rates {ref_rates:?}, decided {ref_decided:.2}, switches {}",
        switches(&ref_win)
    );
    assert!(ref_decided > 0.8);

    let p = LifParams::default();
    let mut total_switches = 0;
    let mut e_mean = 0.0;
    let mut i_mean = 0.0;
    let seeds = [1u64, 2, 3];
    for &seed in &seeds {
        let (out, truth) = p.generate(seed).unwrap();
        let r = &truth.mean_rates_hz;
        let w = windowed(out.activity.activity(), 2500);
        let win = winners(&w, 5.0);
        let decided = win.iter().flatten().count() as f64 / win.len() as f64;
        let sw = switches(&win);
        println!("seed {seed}: rates {r:?}, decided {decided:.2}, switches {sw}");
        // Winner-take-all: one E population clearly above the other most of the time.
        assert!(decided > 0.7, "seed {seed}: decided fraction {decided}");
        // High state ≈ 18-20 Hz, low ≈ 5-6 Hz in the reference: check the spread.
        let hi: f64 =
            w[0].iter().zip(&w[1]).map(|(a, b)| a.max(*b)).sum::<f64>() / w[0].len() as f64;
        let lo: f64 =
            w[0].iter().zip(&w[1]).map(|(a, b)| a.min(*b)).sum::<f64>() / w[0].len() as f64;
        assert!(
            (12.0..26.0).contains(&hi) && (1.0..10.0).contains(&lo),
            "hi {hi} lo {lo}"
        );
        total_switches += sw;
        e_mean += (r[0] + r[1]) / 2.0 / seeds.len() as f64;
        i_mean += r[2] / seeds.len() as f64;
    }
    let ref_e = (ref_rates[0] + ref_rates[1]) / 2.0;
    println!(
        "E mean {e_mean} (ref {ref_e}), I mean {i_mean} (ref {})",
        ref_rates[2]
    );
    assert!(
        (e_mean - ref_e).abs() / ref_e < 0.15,
        "E {e_mean} vs {ref_e}"
    );
    assert!(
        (i_mean - ref_rates[2]).abs() / ref_rates[2] < 0.1,
        "I {i_mean}"
    );
    assert!(
        total_switches >= 1,
        "no winner-take-all switch in {} s",
        11 * seeds.len()
    );
}

#[test]
fn rebin_averages_activity_and_merges_recorded_spikes() {
    // Our own re-binning: activity averaged, spikes summed then > 0.
    let p = LifParams {
        duration_s: 2.0,
        ..LifParams::default()
    };
    let (out, _) = p.generate(5).unwrap();
    let rb = out.rebin(20).unwrap();
    assert_eq!(rb.spikes.dim(), (3, 500, 3));
    let a = out.activity.activity();
    for pop in 0..3 {
        let mean_fine = a.row(pop).mean().unwrap();
        let mean_coarse = rb.activity.activity().row(pop).mean().unwrap();
        assert!((mean_fine - mean_coarse).abs() < 1e-9);
        assert!((rb.z.row(pop).mean().unwrap() - mean_coarse * 0.004).abs() < 1e-12);
    }
    for (u, steps) in out.recorded_steps.iter().enumerate() {
        let pop = out.recorded_population[u];
        let k = u % 3;
        let bins: std::collections::BTreeSet<u64> = steps.iter().map(|s| s / 20).collect();
        let n_on = rb
            .spikes
            .slice(ndarray::s![pop, .., k])
            .iter()
            .filter(|&&v| v == 1)
            .count();
        assert_eq!(n_on, bins.len());
    }
    // Every recorded spike is one of the population's spikes.
    assert!(out.recorded.total_spikes() > 0);
}

#[test]
fn lif_is_reproducible_and_responds_to_input() {
    let p = LifParams {
        duration_s: 0.5,
        ..LifParams::default()
    };
    let (a, ta) = p.generate(9).unwrap();
    let (b, _) = p.generate(9).unwrap();
    let json = serde_json::to_string(&ta).unwrap();
    let back: spikelab_synth::LifTruth = serde_json::from_str(&json).unwrap();
    assert_eq!(back.recorded_ids, ta.recorded_ids);
    assert_eq!(back.params.n_neurons, vec![400, 400, 200]);
    assert_eq!(
        ta.recorded_ids.iter().map(Vec::len).sum::<usize>(),
        a.recorded.n_units()
    );
    let (c, _) = p.generate(10).unwrap();
    assert_eq!(a, b);
    assert_ne!(a.activity, c.activity);
    // Strong inhibitory external drive to E1 and E2 silences them compared with no input.
    let q = LifParams {
        i_ext: ExternalInput::Constant(vec![-400.0, -400.0, 0.0]),
        ..p.clone()
    };
    let (d, td) = q.generate(9).unwrap();
    let (_, ta) = p.generate(9).unwrap();
    assert!(
        td.mean_rates_hz[0] + td.mean_rates_hz[1]
            < 0.5 * (ta.mean_rates_hz[0] + ta.mean_rates_hz[1])
    );
    assert_eq!(d.activity.n_bins(), 2500);
}

#[test]
fn lif_rejects_bad_parameters() {
    let bad = |p: LifParams| matches!(p.generate(0), Err(SynthError::InvalidParameter { .. }));
    let d = LifParams {
        duration_s: 0.01,
        ..LifParams::default()
    };
    assert!(bad(LifParams {
        dt_s: 0.0,
        ..d.clone()
    }));
    assert!(bad(LifParams {
        duration_s: -1.0,
        ..d.clone()
    }));
    assert!(bad(LifParams {
        n_neurons: vec![400, 0, 200],
        ..d.clone()
    }));
    assert!(bad(LifParams {
        n_recorded: 500,
        ..d.clone()
    }));
    assert!(bad(LifParams {
        mu: vec![14.4; 2],
        ..d.clone()
    }));
    assert!(bad(LifParams {
        theta: vec![f64::NAN; 3],
        ..d.clone()
    }));
    assert!(bad(LifParams {
        a_mem_per_s: vec![0.0; 3],
        ..d.clone()
    }));
    assert!(bad(LifParams {
        conmat: vec![vec![1.0; 2]; 3],
        ..d.clone()
    }));
    assert!(bad(LifParams {
        i_ext: ExternalInput::PerStep(Array2::zeros((3, 3))),
        ..d.clone()
    }));
    assert!(d.generate(0).is_ok());
}
