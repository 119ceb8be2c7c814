//! CASCADE training: resampling and kernels against SciPy, noise matching, a reduced model
//! trained on one DS09 neuron predicting the other, the saved folder loading back.
#![cfg(feature = "keras-h5")]
use std::path::PathBuf;

use ndarray::Array1;
use ndarray_npy::read_npy;
use spikelab_calcium::CalciumError;
use spikelab_calcium::cascade::train::{
    GroundTruthDataset, TargetSmoothing, TrainCascadeParams, causal_kernel, noise_matched_replicas,
    resample_trial, smooth_targets, train,
};
use spikelab_calcium::cascade::{CascadeModel, PredictOptions};
use spikelab_calcium::preprocess::noise_level;
use spikelab_calcium::spikenet::{Conv1dSpikeNet, SpikeNetArch, SpikeNetWeights};
use spikelab_core::{Flow, Progress, Silent};
use spikelab_data::io::mat::{CascadeTrial, read_cascade};

fn fixture(name: &str) -> Vec<f64> {
    let p = spikelab_datasets::path(&format!("cascade-train/{name}")).unwrap();
    let a: Array1<f64> = read_npy(p).unwrap();
    a.to_vec()
}

fn cell(name: &str) -> Vec<CascadeTrial> {
    let p = spikelab_datasets::cascade_sample(&format!(
        "CAttached_Chen2013_GC6f_{name}_full_mini.mat.gz"
    ))
    .unwrap();
    read_cascade(&p).unwrap()
}

#[test]
fn resampling_and_binning_match_scipy_and_numpy() {
    let t = &cell("cell1C")[0];
    let r = resample_trial(t, 30.0).unwrap();
    let want = fixture("resampled_cell1C_30hz.npy");
    assert_eq!(r.dff.len(), want.len());
    let scale = want.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    let err = r
        .dff
        .iter()
        .zip(&want)
        .fold(0.0f64, |m, (a, b)| m.max((a - b).abs()));
    assert!(err <= 1e-9 * scale, "max |Δ| {err}");
    assert_eq!(r.spikes, fixture("spikes_cell1C_30hz.npy"));
    assert!((r.frame_rate_hz - 29.997_269_997).abs() < 1e-6);
    // Within 5 % of the recording's rate: unchanged.
    let same = resample_trial(t, 58.0).unwrap();
    assert_eq!(same.dff, t.dff);
    assert_eq!(
        same.spikes.iter().sum::<f64>(),
        t.spike_times_s.len() as f64
    );
}

#[test]
fn causal_kernel_matches_scipy_invgauss() {
    for (name, sd, rate) in [
        ("causal_kernel_30hz_50ms.npy", 0.05, 30.0),
        ("causal_kernel_7p5hz_200ms.npy", 0.2, 7.5),
    ] {
        let want = fixture(name);
        let got = causal_kernel(sd, rate);
        let err = got
            .iter()
            .zip(&want)
            .fold(0.0f64, |m, (a, b)| m.max((a - b).abs()));
        assert!(err < 1e-12, "{name}: max |Δ| {err}");
    }
    // Gaussian targets keep the spike count away from the edges.
    let mut c = vec![0.0; 200];
    c[100] = 2.0;
    let g = smooth_targets(&c, 30.0, TargetSmoothing::Gaussian { sd_s: 0.2 }).unwrap();
    assert!((g.iter().sum::<f64>() - 2.0).abs() < 1e-9);
}

#[test]
fn noise_matching_reaches_the_target_level() {
    let r = resample_trial(&cell("cell1B")[0], 30.0).unwrap();
    let base = noise_level(&r.dff, r.frame_rate_hz).unwrap();
    assert!(base < 1.0, "{base}");
    for target in [1.0, 2.0, 5.0] {
        let reps = noise_matched_replicas(&r.dff, r.frame_rate_hz, target, 8, 3).unwrap();
        let want_n = ((1.2 * (target / base).powi(2)).ceil() as usize).min(8);
        assert_eq!(reps.len(), want_n);
        // Each replica has its own draw: within 5 %; on average within 2 %.
        let nus: Vec<f64> = reps
            .iter()
            .map(|x| noise_level(x, r.frame_rate_hz).unwrap())
            .collect();
        for nu in &nus {
            assert!((nu - target).abs() < 0.05 * target, "target {target}: {nu}");
        }
        let mean = nus.iter().sum::<f64>() / nus.len() as f64;
        assert!(
            (mean - target).abs() < 0.02 * target,
            "target {target}: mean {mean}"
        );
        // Seeded: the same seed gives the same replicas.
        assert_eq!(
            reps,
            noise_matched_replicas(&r.dff, r.frame_rate_hz, target, 8, 3).unwrap()
        );
    }
    // Noisier than the target: no replica.
    assert!(
        noise_matched_replicas(&r.dff, r.frame_rate_hz, base * 0.5, 8, 3)
            .unwrap()
            .is_empty()
    );
}

/// Pearson correlation of the prediction with the true spikes smoothed by the model's
/// Gaussian, over frames where the prediction is defined.
fn corr_with_truth(pred: &[f64], spikes: &[f64], rate: f64, sd_s: f64) -> f64 {
    let truth = smooth_targets(spikes, rate, TargetSmoothing::Gaussian { sd_s }).unwrap();
    let (a, b): (Vec<f64>, Vec<f64>) = pred
        .iter()
        .zip(&truth)
        .filter(|(p, _)| p.is_finite())
        .map(|(p, t)| (*p, *t))
        .unzip();
    spikelab_core::stats::pearson(&a, &b).unwrap()
}

const RATE: f64 = 30.0;
const LEVEL: f64 = 2.0;
const SD_S: f64 = 0.1;
const EPOCHS: usize = 8;

fn reduced_params(seed: u64) -> TrainCascadeParams {
    TrainCascadeParams {
        frame_rate_hz: RATE,
        noise_levels: vec![LEVEL],
        ensemble_size: 1,
        smoothing: TargetSmoothing::Gaussian { sd_s: SD_S },
        epochs: EPOCHS,
        batch_size: 256,
        max_replicas: 3,
        // Measured on this reduced run: lr 0.05 (CASCADE's) → r 0.744, 0.2 → 0.746; the
        // bar below was calibrated with 0.2.
        learning_rate: 0.2,
        seed,
        ..TrainCascadeParams::new("DS09_cell1B_30Hz_test")
    }
}

/// cell1C's first trial at 30 Hz, noise-matched to the training level (one replica).
fn held_out() -> (Vec<f64>, Vec<f64>) {
    let r = resample_trial(&cell("cell1C")[0], RATE).unwrap();
    let x = noise_matched_replicas(&r.dff, r.frame_rate_hz, LEVEL, 1, 99)
        .unwrap()
        .remove(0);
    (x, r.spikes)
}

fn predict(model: &CascadeModel, x: &[f64]) -> Vec<f64> {
    let rows = ndarray::Array2::from_shape_vec((1, x.len()), x.to_vec()).unwrap();
    let p = model
        .predict_rows(rows.view(), &PredictOptions::default())
        .unwrap();
    p.spike_prob.row(0).to_vec()
}

#[test]
fn a_reduced_model_trained_on_one_neuron_predicts_the_other() {
    let t0 = std::time::Instant::now();
    let train_set = GroundTruthDataset {
        name: "DS09-cell1B".into(),
        trials: cell("cell1B"),
    };
    let params = reduced_params(5).validate().unwrap();
    let mut steps = 0;
    let trained = train(
        &params,
        std::slice::from_ref(&train_set),
        &mut |p: &Progress| {
            assert_eq!(p.stage, "train-cascade");
            steps = p.step + 1;
            Flow::Continue
        },
    )
    .unwrap();
    let train_s = t0.elapsed().as_secs_f64();
    let rep = &trained.levels[0];
    assert_eq!(rep.trials_used, 2);
    let windows = rep.windows_per_member[0];
    // One step per piece of ≤ 256 consecutive windows (traces end mid-piece).
    assert!(
        steps % EPOCHS == 0 && steps >= EPOCHS * windows.div_ceil(256),
        "{steps}"
    );
    let (x, spikes) = held_out();
    let r_trained = corr_with_truth(&predict(&trained.model, &x), &spikes, RATE, SD_S);
    // The same network untrained (its Glorot initialisation).
    let untrained = CascadeModel::from_parts(
        PathBuf::new(),
        trained.model.config().clone(),
        vec![Some(vec![Conv1dSpikeNet::new(
            SpikeNetWeights::glorot_uniform(SpikeNetArch::CASCADE, 5).unwrap(),
        )])],
    )
    .unwrap();
    let r_untrained = corr_with_truth(&predict(&untrained, &x), &spikes, RATE, SD_S);
    // The pretrained Global_EXC 30 Hz model (DS09 is among its training data: in-sample).
    let global = CascadeModel::load(
        &spikelab_datasets::path("models/cascade/Global_EXC_30Hz_smoothing50ms_causalkernel")
            .unwrap(),
    )
    .unwrap();
    let r_global = corr_with_truth(&predict(&global, &x), &spikes, RATE, SD_S);
    eprintln!(
        "train {train_s:.1} s, {windows} windows, {steps} steps, last-epoch loss {:?}; held-out r: trained {r_trained:.3}, untrained {r_untrained:.3}, Global_EXC_30Hz {r_global:.3}",
        rep.final_loss
    );
    // Measured 0.746 (untrained 0.431, Global_EXC 0.677) on the dev machine; the bar leaves
    // 0.1 for other summation orders.
    assert!(r_trained > 0.65, "held-out correlation {r_trained}");
    assert!(
        r_trained > r_untrained + 0.2,
        "{r_trained} vs {r_untrained}"
    );

    // Saved as a CASCADE folder, it loads like a downloaded model and predicts identically.
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("model");
    trained.model.save(&out, false).unwrap();
    assert!(out.join("Model_NoiseLevel_2_Ensemble_0.h5").is_file());
    assert!(matches!(
        trained.model.save(&out, false),
        Err(CalciumError::Data(_))
    ));
    let back = CascadeModel::load(&out).unwrap();
    assert_eq!(back.config(), trained.model.config());
    assert_eq!(
        back.ensemble(0).unwrap()[0].weights(),
        trained.model.ensemble(0).unwrap()[0].weights()
    );
    let a = predict(&trained.model, &x);
    let b = predict(&back, &x);
    assert!(a.iter().zip(&b).all(|(u, v)| u.to_bits() == v.to_bits()));
}

#[test]
fn training_is_seeded_and_stoppable() {
    let set = GroundTruthDataset {
        name: "DS09-cell1C".into(),
        trials: cell("cell1C"),
    };
    let p = TrainCascadeParams {
        epochs: 1,
        max_windows: 600,
        ..reduced_params(1)
    }
    .validate()
    .unwrap();
    let a = train(&p, std::slice::from_ref(&set), &mut Silent).unwrap();
    let b = train(&p, std::slice::from_ref(&set), &mut Silent).unwrap();
    assert_eq!(a.levels[0].windows_per_member, [600]);
    assert_eq!(
        a.model.ensemble(0).unwrap()[0].weights(),
        b.model.ensemble(0).unwrap()[0].weights()
    );
    let stop = train(&p, std::slice::from_ref(&set), &mut |_: &Progress| {
        Flow::Stop
    });
    assert!(matches!(stop, Err(CalciumError::Stopped { .. })));
    // Members trained at once give the same model as one after the other.
    let several = |concurrent_members| {
        TrainCascadeParams {
            noise_levels: vec![2.0, 3.0],
            ensemble_size: 2,
            concurrent_members,
            ..p.params().clone()
        }
        .validate()
        .unwrap()
    };
    let mut steps = Vec::new();
    let one = train(&several(1), std::slice::from_ref(&set), &mut Silent).unwrap();
    let three = train(
        &several(3),
        std::slice::from_ref(&set),
        &mut |pr: &Progress| {
            steps.push(pr.step);
            Flow::Continue
        },
    )
    .unwrap();
    assert_eq!(one.levels, three.levels);
    for level in 0..2 {
        let (a, b) = (
            one.model.ensemble(level).unwrap(),
            three.model.ensemble(level).unwrap(),
        );
        assert_eq!(a.len(), 2);
        for (u, v) in a.iter().zip(b) {
            assert_eq!(u.weights(), v.weights());
        }
    }
    assert_ne!(
        one.model.ensemble(0).unwrap()[0].weights(),
        one.model.ensemble(0).unwrap()[1].weights()
    );
    // The observer hears every step of every member once, numbered in order.
    assert_eq!(steps, (0..steps.len()).collect::<Vec<_>>());
    assert!(!steps.is_empty());
    let stop = train(
        &several(3),
        std::slice::from_ref(&set),
        &mut |_: &Progress| Flow::Stop,
    );
    assert!(matches!(stop, Err(CalciumError::Stopped { .. })));
}

#[test]
fn bad_ground_truth_and_params_are_typed_errors() {
    let ok = reduced_params(0);
    let mut trials = cell("cell1C");
    // No spikes at all.
    for t in &mut trials {
        t.spike_times_s.clear();
    }
    let no_spikes = GroundTruthDataset {
        name: "silent".into(),
        trials: trials.clone(),
    };
    let e = train(&ok.clone().validate().unwrap(), &[no_spikes], &mut Silent).err();
    assert!(
        matches!(e, Some(CalciumError::InvalidInput { .. })),
        "{e:?}"
    );
    // A trial with NaN in every frame.
    let mut nan = cell("cell1C");
    nan[0].dff.iter_mut().for_each(|v| *v = f64::NAN);
    let e = train(
        &ok.clone().validate().unwrap(),
        &[GroundTruthDataset {
            name: "nan".into(),
            trials: nan,
        }],
        &mut Silent,
    )
    .err();
    assert!(
        matches!(&e, Some(CalciumError::InvalidInput { reason, .. }) if reason.contains("NaN")),
        "{e:?}"
    );
    // A level below every trial's own noise (at the recording's 60 Hz: no resampling, which
    // would remove the added Nyquist-frequency noise).
    let e = train(
        &TrainCascadeParams {
            noise_levels: vec![1.0],
            frame_rate_hz: 60.0,
            ..ok.clone()
        }
        .validate()
        .unwrap(),
        &[GroundTruthDataset {
            name: "c".into(),
            trials: vec![{
                let mut t = cell("cell1C")[0].clone();
                // Add strong alternating noise: ν ≫ 1.
                for (i, v) in t.dff.iter_mut().enumerate() {
                    *v += if i % 2 == 0 { 0.5 } else { -0.5 };
                }
                t
            }],
        }],
        &mut Silent,
    )
    .err();
    assert!(
        matches!(&e, Some(CalciumError::InvalidInput { reason, .. }) if reason.contains("noisier")),
        "{e:?}"
    );
    assert!(train(&ok.clone().validate().unwrap(), &[], &mut Silent).is_err());
    for bad in [
        TrainCascadeParams {
            frame_rate_hz: -1.0,
            ..ok.clone()
        },
        TrainCascadeParams {
            noise_levels: vec![0.0],
            ..ok.clone()
        },
        TrainCascadeParams {
            ensemble_size: 0,
            ..ok.clone()
        },
        TrainCascadeParams {
            epochs: 0,
            ..ok.clone()
        },
        TrainCascadeParams {
            batch_size: 0,
            ..ok.clone()
        },
        TrainCascadeParams {
            smoothing: TargetSmoothing::Causal { sd_s: 0.0 },
            ..ok.clone()
        },
        TrainCascadeParams {
            noise_levels: vec![2.0, 2.0],
            ..ok.clone()
        },
        TrainCascadeParams {
            concurrent_members: 0,
            ..ok.clone()
        },
    ] {
        assert!(matches!(
            bad.validate(),
            Err(CalciumError::InvalidParameter { .. })
        ));
    }
}
