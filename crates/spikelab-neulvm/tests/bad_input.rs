//! Bad input gives typed errors, never panics or NaN.

use ndarray::{Array2, Array3};
use spikelab_datasets as datasets;
use spikelab_neulvm::{
    Bounds, LambdaFallback, ModelConfig, NeuLvm, NeulvmError, Params, Recording, Wrt,
};

fn model() -> NeuLvm {
    NeuLvm::new(
        ModelConfig::winner_take_all(),
        Recording::from_npy(&datasets::neulvm("spikes_4ms.npy").unwrap()).unwrap(),
    )
    .unwrap()
}

#[test]
fn spikes_shape_and_values() {
    assert!(matches!(
        Recording::new(Array3::<u8>::from_elem((3, 300, 2), 2)),
        Err(NeulvmError::Spikes(_))
    ));
    assert!(matches!(
        Recording::new(Array3::<u8>::zeros((3, 0, 2))),
        Err(NeulvmError::Spikes(_))
    ));
    // Wrong number of populations, and no bin after the history window.
    let cfg = ModelConfig::winner_take_all();
    assert!(matches!(
        NeuLvm::new(
            cfg.clone(),
            Recording::new(Array3::<u8>::zeros((2, 300, 3))).unwrap()
        ),
        Err(NeulvmError::Spikes(_))
    ));
    assert!(matches!(
        NeuLvm::new(
            cfg,
            Recording::new(Array3::<u8>::zeros((3, 250, 3))).unwrap()
        ),
        Err(NeulvmError::Spikes(_))
    ));
}

#[test]
fn config_errors() {
    let mut cfg = ModelConfig::winner_take_all();
    cfg.history_bins = 0;
    assert!(matches!(cfg.validate(), Err(NeulvmError::Config(_))));
    let mut cfg = ModelConfig::winner_take_all();
    cfg.n_neurons[1] = 0;
    assert!(matches!(cfg.validate(), Err(NeulvmError::Config(_))));
    let mut cfg = ModelConfig::winner_take_all();
    cfg.dt_s = f64::NAN;
    assert!(matches!(cfg.validate(), Err(NeulvmError::Config(_))));
}

#[test]
fn params_and_latent_errors() {
    let m = model();
    let z = m.initial_latent(0.4).unwrap();
    let mut x = Params::winner_take_all_ground_truth().to_vec();
    x[3] = f64::NAN;
    assert!(matches!(
        Params::from_slice(&x),
        Err(NeulvmError::Params(_))
    ));
    let gt = Params::winner_take_all_ground_truth();
    let b = Bounds::relative_to(&gt, 0.4, 2.0).unwrap();
    let mut out = gt.to_vec();
    out[0] = 500.0;
    assert!(matches!(b.check(&out), Err(NeulvmError::Params(_))));
    let mut bad = z.clone();
    bad[[0, 400]] = 1.5;
    assert!(matches!(
        m.loss(&gt, bad.view()),
        Err(NeulvmError::Latent(_))
    ));
    bad[[0, 400]] = f64::NAN;
    assert!(matches!(
        m.loss(&gt, bad.view()),
        Err(NeulvmError::Latent(_))
    ));
    assert!(matches!(
        m.loss(&gt, Array2::zeros((3, 10)).view()),
        Err(NeulvmError::Latent(_))
    ));
}

#[test]
fn absurd_parameters_and_zero_latent_give_finite_values_or_typed_errors() {
    let m = model();
    // An all-zero latent makes Σv = 0 (Λ = 0/0) in the modelled bins: the fallbacks apply.
    let mut z = Array2::zeros((3, 2750));
    z.slice_mut(ndarray::s![.., ..250]).fill(0.05);
    let gt = Params::winner_take_all_ground_truth();
    for step in [LambdaFallback::MStep, LambdaFallback::EStep] {
        let g = m.gradient(&gt, z.view(), step, Wrt::Both).unwrap();
        assert!(g.losses.total().is_finite());
        assert!(g.params.unwrap().iter().all(|v| v.is_finite()));
        assert!(g.latent.unwrap().iter().all(|v| v.is_finite()));
    }
    // exp overflow: a typed error, not NaN.
    let mut x = gt.to_vec();
    x[6] = 900.0;
    let r = m.loss(&Params::from_slice(&x).unwrap(), z.view());
    assert!(matches!(r, Err(NeulvmError::NonFinite(_))) || r.unwrap().total().is_finite());
}
