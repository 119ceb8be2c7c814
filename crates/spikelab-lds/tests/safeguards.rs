//! Covariance safeguards (L7), freezing, bad input, and a reduced MoLDS benchmark.

use nalgebra::{DMatrix, DVector};
use rand::SeedableRng;
use spikelab_core::{Flow, Progress, Silent};
use spikelab_lds::eval::{adjusted_rand_index, clustering_accuracy, match_components};
use spikelab_lds::{
    EmOptions, FilterOptions, Lds, LdsError, Learn, MoldsInit, MoldsOptions, MoldsSpec, SuffStats,
    Trajectory, e_step, filter, fit_em, fit_molds, molds_em, smooth,
};

fn system() -> Lds {
    Lds::new(
        DMatrix::from_row_slice(3, 3, &[0.9, 0.2, 0.0, -0.2, 0.85, 0.1, 0.0, -0.1, 0.7]),
        DMatrix::identity(3, 3) * 0.05,
        DMatrix::from_row_slice(2, 3, &[1.0, 0.5, -0.3, 0.2, -1.0, 0.8]),
        DMatrix::from_row_slice(2, 2, &[0.3, 0.05, 0.05, 0.2]),
        DVector::zeros(3),
        DMatrix::identity(3, 3),
    )
    .unwrap()
}

fn sample(lds: &Lds, t: usize, seed: u64) -> Trajectory {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    Trajectory::new(lds.sample(t, None, None, &mut rng).unwrap().1).unwrap()
}

fn start() -> Lds {
    Lds::new(
        DMatrix::identity(3, 3) * 0.5,
        DMatrix::identity(3, 3),
        DMatrix::from_row_slice(2, 3, &[0.5, -0.2, 0.1, 0.3, 0.4, -0.6]),
        DMatrix::identity(2, 2),
        DVector::zeros(3),
        DMatrix::identity(3, 3),
    )
    .unwrap()
}

fn asym(p: &DMatrix<f64>) -> f64 {
    (p - p.transpose()).amax() / p.amax()
}

#[test]
fn covariances_stay_exactly_symmetric_over_ten_thousand_steps() {
    let lds = system();
    let tr = sample(&lds, 10_000, 1);
    for square_root in [false, true] {
        let sm = smooth(
            &lds,
            &tr,
            &FilterOptions {
                square_root,
                ..Default::default()
            },
        )
        .unwrap();
        let worst = sm
            .filtered
            .covs
            .iter()
            .chain(&sm.covs)
            .map(asym)
            .fold(0.0, f64::max);
        assert!(worst <= 1e-14, "max ‖P − Pᵀ‖/‖P‖ = {worst:.3e}");
        assert!(sm.filtered.loglik.is_finite());
    }
}

#[test]
fn filter_survives_zero_observation_noise() {
    let mut lds = system();
    lds.r = DMatrix::zeros(2, 2);
    let tr = sample(&lds, 500, 2);
    let f = filter(&lds, &tr, &FilterOptions::default()).unwrap();
    assert!(f.loglik.is_finite());
    assert!(f.means.iter().all(|m| m.iter().all(|v| v.is_finite())));
    // R = 0 and two identical output rows: S = C P Cᵀ is singular at every step; the jitter
    // ladder factorises it, counts the rescues, and the output stays finite.
    lds.c = DMatrix::from_row_slice(2, 3, &[1.0, 0.5, -0.3, 1.0, 0.5, -0.3]);
    let tr = sample(&lds, 500, 3);
    let f = filter(&lds, &tr, &FilterOptions::default()).unwrap();
    assert!(f.loglik.is_finite() && f.means.iter().all(|m| m.iter().all(|v| v.is_finite())));
    assert!(f.rescues > 0, "singular S was not reported");
    // A deterministic model (Q = R = 0) on noisy data is impossible data: a typed error or a
    // finite value, never NaN or a panic.
    lds.q = DMatrix::zeros(3, 3);
    let noisy = sample(&system(), 500, 4);
    match filter(&lds, &noisy, &FilterOptions::default()) {
        Ok(f) => assert!(f.loglik.is_finite()),
        Err(e) => assert!(
            matches!(e, LdsError::NonFinite(_) | LdsError::Cholesky(_)),
            "{e}"
        ),
    }
}

#[test]
fn em_is_monotone_and_covariances_stay_psd() {
    let lds = system();
    let trajs: Vec<Trajectory> = (0..3).map(|s| sample(&lds, 300, 10 + s)).collect();
    let opts = EmOptions {
        max_iter: 60,
        tol: 0.0,
        ..Default::default()
    };
    let fit = fit_em(&start(), &trajs, &opts, &mut Silent).unwrap();
    for w in fit.loglik.windows(2) {
        assert!(
            w[1] >= w[0] - 1e-9 * w[0].abs(),
            "log-likelihood fell: {} → {}",
            w[0],
            w[1]
        );
    }
    for p in [&fit.lds.q, &fit.lds.r, &fit.lds.sigma0] {
        assert_eq!(p, &p.transpose());
        assert!(p.clone().symmetric_eigen().eigenvalues.min() > 0.0);
    }
}

#[test]
fn em_on_noise_free_data_stays_finite_for_200_iterations() {
    let mut lds = system();
    lds.r = DMatrix::zeros(2, 2);
    let trajs = vec![sample(&lds, 200, 3)];
    let opts = EmOptions {
        max_iter: 200,
        tol: 0.0,
        ..Default::default()
    };
    let fit = fit_em(&start(), &trajs, &opts, &mut Silent).unwrap();
    assert_eq!(fit.loglik.len(), 201);
    assert!(fit.loglik.iter().all(|v| v.is_finite()));
    let r_min = fit.lds.r.clone().symmetric_eigen().eigenvalues.min();
    assert!(r_min > 0.0, "R collapsed: λ_min = {r_min:e}");
}

#[test]
fn frozen_parameters_stay_bit_identical() {
    let lds = system();
    let trajs = vec![sample(&lds, 300, 4)];
    let init = start();
    let learn = Learn {
        a: false,
        r: false,
        sigma0: false,
        ..Learn::NO_OFFSETS
    };
    let fit = fit_em(
        &init,
        &trajs,
        &EmOptions {
            max_iter: 10,
            tol: 0.0,
            learn,
            ..Default::default()
        },
        &mut Silent,
    )
    .unwrap();
    assert_eq!(fit.lds.a, init.a);
    assert_eq!(fit.lds.r, init.r);
    assert_eq!(fit.lds.sigma0, init.sigma0);
    assert_eq!(fit.lds.b_off, init.b_off);
    assert_ne!(fit.lds.c, init.c);
    assert_ne!(fit.lds.q, init.q);
    for w in fit.loglik.windows(2) {
        assert!(w[1] >= w[0] - 1e-9 * w[0].abs());
    }
}

#[test]
fn partial_masks_need_diagonal_r_and_then_work() {
    let lds = system();
    let mut tr = sample(&lds, 300, 5);
    for t in (0..300).step_by(7) {
        tr.y[(t, 1)] = f64::NAN;
    }
    let trajs = vec![tr];
    let err = fit_em(&start(), &trajs, &EmOptions::default(), &mut Silent).unwrap_err();
    assert!(matches!(err, LdsError::Unsupported(_)), "{err}");
    let opts = EmOptions {
        max_iter: 30,
        tol: 0.0,
        diagonal_r: true,
        ..Default::default()
    };
    let fit = fit_em(&start(), &trajs, &opts, &mut Silent).unwrap();
    for w in fit.loglik.windows(2) {
        assert!(w[1] >= w[0] - 1e-9 * w[0].abs());
    }
    assert_eq!(fit.lds.r[(0, 1)], 0.0);
}

#[test]
fn observer_can_stop_em() {
    let lds = system();
    let trajs = vec![sample(&lds, 100, 6)];
    let mut seen = 0;
    let mut stop = |p: &Progress<'_>| {
        seen += 1;
        if p.step == 2 {
            Flow::Stop
        } else {
            Flow::Continue
        }
    };
    let fit = fit_em(
        &start(),
        &trajs,
        &EmOptions {
            tol: 0.0,
            ..Default::default()
        },
        &mut stop,
    )
    .unwrap();
    assert_eq!(fit.loglik.len(), 3);
    assert_eq!(seen, 3);
    assert!(!fit.converged);
}

#[test]
fn bad_input_gives_typed_errors() {
    let lds = system();
    let good = sample(&lds, 50, 7);
    // ±inf in y.
    let mut y = good.y.clone();
    y[(3, 0)] = f64::INFINITY;
    assert!(matches!(Trajectory::new(y), Err(LdsError::NonFinite(_))));
    // All missing.
    let all_nan = Trajectory::new(DMatrix::from_element(20, 2, f64::NAN)).unwrap();
    let e = fit_em(&start(), &[all_nan], &EmOptions::default(), &mut Silent).unwrap_err();
    assert!(matches!(e, LdsError::InsufficientData(_)), "{e}");
    // No trajectories.
    assert!(matches!(
        fit_em(&start(), &[], &EmOptions::default(), &mut Silent),
        Err(LdsError::InsufficientData(_))
    ));
    // Wrong number of outputs.
    let wrong = Trajectory::new(DMatrix::zeros(10, 3)).unwrap();
    assert!(matches!(
        filter(&lds, &wrong, &FilterOptions::default()),
        Err(LdsError::Dimension { .. })
    ));
    // Inputs of the wrong length.
    assert!(matches!(
        good.clone().with_inputs(DMatrix::zeros(49, 1)),
        Err(LdsError::Dimension { .. })
    ));
    // Non-finite inputs.
    assert!(matches!(
        good.clone()
            .with_inputs(DMatrix::from_element(50, 1, f64::NAN)),
        Err(LdsError::NonFinite(_))
    ));
    // Non-PSD and asymmetric covariances.
    let mut bad = lds.clone();
    bad.q = DMatrix::from_row_slice(3, 3, &[1.0, 0.0, 0.0, 0.0, -1.0, 0.0, 0.0, 0.0, 1.0]);
    assert!(matches!(
        bad.validate(),
        Err(LdsError::NotCovariance { .. })
    ));
    bad.q = DMatrix::from_row_slice(3, 3, &[1.0, 0.5, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0]);
    assert!(matches!(
        bad.validate(),
        Err(LdsError::NotCovariance { .. })
    ));
    // Negative jitter.
    let opts = EmOptions {
        filter: FilterOptions {
            jitter: -1.0,
            ..Default::default()
        },
        ..Default::default()
    };
    assert!(matches!(
        fit_em(&start(), std::slice::from_ref(&good), &opts, &mut Silent),
        Err(LdsError::InvalidParameter { .. })
    ));
    // An unstable or singular A is accepted and gives finite output.
    let mut unstable = start();
    unstable.a = DMatrix::identity(3, 3) * 1.05;
    let fit = fit_em(
        &unstable,
        std::slice::from_ref(&good),
        &EmOptions {
            max_iter: 5,
            ..Default::default()
        },
        &mut Silent,
    )
    .unwrap();
    assert!(fit.loglik.iter().all(|v| v.is_finite()));
    let mut singular = start();
    singular.a = DMatrix::zeros(3, 3);
    assert!(
        fit_em(
            &singular,
            &[good],
            &EmOptions {
                max_iter: 5,
                ..Default::default()
            },
            &mut Silent
        )
        .is_ok()
    );
    // K larger than the number of trajectories.
    let data = MoldsSpec {
        n_traj: 2,
        t_len: 40,
        ..Default::default()
    }
    .generate(0)
    .unwrap();
    let e = fit_molds(&data.trajs, &MoldsOptions::default(), &mut Silent).unwrap_err();
    assert!(matches!(e, LdsError::InsufficientData(_)), "{e}");
}

/// Reduced MoLDS benchmark (K 3, n 3, m 2, p 2, 10 dB) with 150 trajectories × 150 steps and
/// 25 EM iterations. Bars calibrated on seeds 0–4 (docs/lds.md): Tensor-EM reaches a median
/// Markov error ≤ 0.05 and accuracy ≥ 0.98, and improves on tensor-only.
#[test]
fn molds_tensor_em_recovers_reduced_benchmark() {
    let spec = MoldsSpec {
        n_traj: 150,
        t_len: 150,
        ..Default::default()
    };
    let data = spec.generate(0).unwrap();
    let em = EmOptions {
        max_iter: 25,
        tol: 1e-7,
        ..Default::default()
    };
    let mut results = Vec::new();
    for init in [MoldsInit::TensorEm, MoldsInit::TensorOnly] {
        let fit = fit_molds(
            &data.trajs,
            &MoldsOptions {
                init,
                em,
                ..Default::default()
            },
            &mut Silent,
        )
        .unwrap();
        for w in fit.loglik.windows(2) {
            assert!(
                w[1] >= w[0] - 1e-9 * w[0].abs(),
                "mixture log-likelihood fell"
            );
        }
        let (perm, mut errs) = match_components(&fit.model.components, &data.truth.components, 20);
        errs.sort_by(f64::total_cmp);
        let labels = fit.labels();
        let acc = clustering_accuracy(&labels, &data.labels, &perm);
        let ari = adjusted_rand_index(&labels, &data.labels);
        println!(
            "{init:?}: median ε {:.4}, accuracy {acc:.4}, ARI {ari:.4}",
            errs[1]
        );
        results.push((errs[1], acc));
    }
    let (tem, tonly) = (results[0], results[1]);
    assert!(tem.0 <= 0.05 && tem.1 >= 0.98, "Tensor-EM: {tem:?}");
    assert!(
        tem.0 < tonly.0,
        "EM did not improve on the tensor stage: {tem:?} vs {tonly:?}"
    );
}

/// MoLDS data with two lengths shared by several trajectories, one length of its own and one
/// trajectory with a missing step, so batch E-steps use shared and per-trajectory tracks.
fn mixed_molds_data() -> spikelab_lds::MoldsData {
    let mut data = MoldsSpec {
        n_traj: 40,
        t_len: 60,
        ..Default::default()
    }
    .generate(3)
    .unwrap();
    for (i, len) in [(5, 45), (6, 45), (9, 31)] {
        let tr = &mut data.trajs[i];
        tr.y = tr.y.rows(0, len).into_owned();
        tr.v = tr.v.rows(0, len).into_owned();
        tr.u = tr.u.rows(0, len).into_owned();
    }
    data.trajs[7].y.row_mut(10).fill(f64::NAN);
    data
}

#[test]
fn batch_e_step_equals_per_trajectory_smoothing_bit_for_bit() {
    let data = mixed_molds_data();
    let opts = FilterOptions::default();
    for lds in &data.truth.components {
        let (stats, ll) = e_step(lds, &data.trajs, &opts).unwrap();
        let mut want = SuffStats::zeros(3, 2, 2, 2);
        let mut want_ll = 0.0;
        for tr in &data.trajs {
            let sm = smooth(lds, tr, &opts).unwrap();
            want.add_scaled(&SuffStats::from_smoothed(lds, tr, &sm), 1.0);
            want_ll += sm.filtered.loglik;
        }
        assert_eq!(stats, want);
        assert_eq!(ll, want_ll);
    }
}

#[test]
fn molds_em_is_bit_identical_for_any_thread_count() {
    let data = mixed_molds_data();
    let opts = MoldsOptions {
        em: EmOptions {
            max_iter: 3,
            tol: 0.0,
            ..Default::default()
        },
        ..Default::default()
    };
    let run = |threads: usize| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap()
            .install(|| molds_em(&data.truth, &data.trajs, &opts, &mut Silent).unwrap())
    };
    let one = run(1);
    assert_eq!(one.loglik.len(), 4);
    for threads in [2, 3] {
        let many = run(threads);
        assert_eq!(many.loglik, one.loglik, "{threads} threads");
        assert_eq!(many.model, one.model, "{threads} threads");
        assert_eq!(many.responsibilities, one.responsibilities);
    }
}

/// Trajectories with different numbers of outputs are a typed error of `init_from_data`, not
/// an index panic (found through the Python binding).
#[test]
fn init_from_data_refuses_mixed_output_counts() {
    let a = sample(&system(), 50, 1);
    let b = Trajectory::new(a.y.columns(0, 1).into_owned()).unwrap();
    let err = spikelab_lds::init_from_data(&[a, b], 2, 0).unwrap_err();
    assert!(matches!(err, LdsError::Dimension { .. }), "{err}");
}
