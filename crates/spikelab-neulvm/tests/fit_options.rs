//! The optional E-step / EM rules of `FitOptions` (issue #7): validation, JSON compatibility
//! and the behaviour of the total-loss E-step rule and the smoothness prior on short runs.
//! Their recovery numbers are in docs/neulvm.md (`examples/recovery_variants.rs`).

use ndarray::Array2;
use spikelab_datasets as datasets;
use spikelab_neulvm::fit::{self, EStepRule, EmStopRule};
use spikelab_neulvm::{
    Bounds, FitOptions, LambdaFallback, ModelConfig, NeuLvm, NeulvmError, Params, Recording,
};

fn setup() -> (NeuLvm, Params, FitOptions) {
    let model = NeuLvm::new(
        ModelConfig::winner_take_all(),
        Recording::from_npy(&datasets::neulvm("spikes_4ms.npy").unwrap()).unwrap(),
    )
    .unwrap();
    let gt = Params::winner_take_all_ground_truth();
    let opts = FitOptions::new(Bounds::relative_to(&gt, 0.4, 2.0).unwrap());
    (model, gt, opts)
}

fn roughness(z: &Array2<f64>) -> f64 {
    let (m, nb) = z.dim();
    (0..m)
        .flat_map(|p| (251..nb).map(move |t| (p, t)))
        .map(|(p, t)| (z[[p, t]] - z[[p, t - 1]]).powi(2))
        .sum()
}

#[test]
fn defaults_are_the_original_rules_and_bad_values_are_typed_errors() {
    let (_, _, o) = setup();
    assert_eq!(o.e_rule, EStepRule::Original);
    assert_eq!(o.em_rule, EmStopRule::Original);
    assert!(!o.e_reset_adam);
    assert_eq!(o.z_smoothness, 0.0);
    for bad in [-1e-3, f64::NAN, f64::INFINITY] {
        let mut b = o.clone();
        b.e_rule = EStepRule::TotalLoss { rel_tol: bad };
        assert!(matches!(b.validate(), Err(NeulvmError::Options(_))));
        let mut b = o.clone();
        b.em_rule = EmStopRule::RelativeLoss { rel_tol: bad };
        assert!(matches!(b.validate(), Err(NeulvmError::Options(_))));
        let mut b = o.clone();
        b.z_smoothness = bad;
        assert!(matches!(b.validate(), Err(NeulvmError::Options(_))));
    }
    // Options serialised before these fields existed still parse, with the original rules.
    let mut v = serde_json::to_value(&o).unwrap();
    for k in ["e_rule", "em_rule", "e_reset_adam", "z_smoothness"] {
        v.as_object_mut().unwrap().remove(k);
    }
    let back: FitOptions = serde_json::from_value(v).unwrap();
    assert_eq!(back, o);
}

#[test]
fn total_loss_rule_keeps_descending_and_smoothness_prior_smooths() {
    let (model, gt, mut o) = setup();
    o.e_rule = EStepRule::TotalLoss { rel_tol: 0.0 };
    o.e_max_iters = 12;
    o.e_patience = 12;
    let run = |o: &FitOptions| {
        let mut st = fit::new_state(&model, 0, &gt, o).unwrap();
        let l0 = model
            .loss_with(&gt, st.z.view(), LambdaFallback::EStep)
            .unwrap()
            .total();
        let (steps, saved) =
            fit::e_step(&model, &gt, &mut st, o, 0, &mut spikelab_core::Silent).unwrap();
        let l1 = model
            .loss_with(&gt, st.z.view(), LambdaFallback::EStep)
            .unwrap()
            .total();
        (steps, saved, l0, l1, st.z)
    };
    let (steps, saved, l0, l1, z_plain) = run(&o);
    // No early stop while the total loss decreases, and the returned Z is better.
    assert_eq!(steps, 12);
    assert!(saved && l1 < l0, "{l0} -> {l1}");
    o.z_smoothness = 100.0;
    let (_, _, _, _, z_smooth) = run(&o);
    assert!(
        roughness(&z_smooth) < roughness(&z_plain),
        "{} vs {}",
        roughness(&z_smooth),
        roughness(&z_plain)
    );
    // The latent stays a valid latent.
    model.check_latent(z_smooth.view()).unwrap();
}

/// A `Flow::Stop` from the observer ends the fit after the current E-step with a consistent,
/// resumable state: the run that stopped at the first E-step report and was then resumed by
/// `run_em` reaches the same iterates as an uninterrupted run.
#[test]
fn observer_stop_ends_early_and_the_state_resumes() {
    use spikelab_core::{Flow, Progress};
    let (model, gt, mut o) = setup();
    o.m_max_iters = 3;
    o.e_max_iters = 4;
    o.max_em_iters = 2;
    o.threads = 1;
    let mut stages = Vec::new();
    let res = fit::fit_from(
        &model,
        std::slice::from_ref(&gt),
        &o,
        &mut |p: &Progress<'_>| {
            stages.push(p.stage.to_string());
            if p.stage == "e_step" {
                Flow::Stop
            } else {
                Flow::Continue
            }
        },
    )
    .unwrap();
    assert_eq!(stages, ["m_step", "e_step", "restart"]);
    let mut stopped = res.restarts[0].state.clone();
    assert_eq!(stopped.iterations.len(), 1);
    assert_eq!(stopped.iterations[0].e_steps, 1);
    assert!(!stopped.done);
    // Resuming finishes the run; a fresh uninterrupted run with E-steps of one step each
    // follows the same first iteration.
    fit::run_em(&model, &mut stopped, &o, &mut spikelab_core::Silent).unwrap();
    assert!(stopped.done || stopped.iterations.len() == o.max_em_iters);
    let mut one = o.clone();
    one.e_max_iters = 1;
    one.max_em_iters = 1;
    let fresh = fit::fit_from(&model, &[gt], &one, &mut spikelab_core::Silent).unwrap();
    let (a, b) = (
        &fresh.restarts[0].state.iterations[0],
        &res.restarts[0].state.iterations[0],
    );
    assert_eq!(
        (a.m_loss, a.m_iters, a.e_steps, a.e_loss),
        (b.m_loss, b.m_iters, b.e_steps, b.e_loss)
    );
    assert!(
        a.stop && !b.stop,
        "the cut E-step is not a convergence verdict"
    );
}
