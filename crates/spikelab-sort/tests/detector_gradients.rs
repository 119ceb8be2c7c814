//! The detection transformer: parameter counts of the reference (computed from PyTorch's
//! layer shapes: 791 297 with one layer, 3 160 577 with four) and every parameter's gradient
//! against central finite differences in f64 (h = 1e-6, relative error ≤ 1e-6 per tensor),
//! through the model and the weighted BCE loss.

use candle_core::{DType, Device, Tensor, Var};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use spikelab_sort::detector::{Detector, DetectorConfig};
use spikelab_sort::detector_train::bce_with_logits;

type Res<T> = anyhow::Result<T>;

#[test]
fn parameter_counts_match_the_reference() -> Res<()> {
    let one = Detector::new(DetectorConfig::default(), 0, DType::F32, &Device::Cpu)?;
    assert_eq!(one.n_parameters(), 791_297);
    let four = Detector::new(DetectorConfig::four_layers(), 0, DType::F32, &Device::Cpu)?;
    assert_eq!(four.n_parameters(), 3_160_577);
    Ok(())
}

fn fd_check(vars: &[(String, Var)], loss: &dyn Fn() -> Res<Tensor>) -> Res<()> {
    let grads = loss()?.backward()?;
    let h = 1e-6;
    for (name, var) in vars {
        let g = grads
            .get(var.as_tensor())
            .unwrap_or_else(|| panic!("{name}: no gradient (orphan)"));
        let g: Vec<f64> = g.flatten_all()?.to_vec1()?;
        assert!(g.iter().any(|v| *v != 0.0), "{name}: zero gradient");
        let base: Vec<f64> = var.as_tensor().flatten_all()?.to_vec1()?;
        let shape = var.as_tensor().shape().clone();
        let step = (base.len() / 40).max(1);
        let (mut num2, mut den2) = (0.0, 0.0);
        for i in (0..base.len()).step_by(step) {
            let mut v = base.clone();
            v[i] = base[i] + h;
            var.set(&Tensor::from_vec(v.clone(), &shape, &Device::Cpu)?)?;
            let lp = loss()?.to_scalar::<f64>()?;
            v[i] = base[i] - h;
            var.set(&Tensor::from_vec(v, &shape, &Device::Cpu)?)?;
            let lm = loss()?.to_scalar::<f64>()?;
            let fd = (lp - lm) / (2.0 * h);
            num2 += (fd - g[i]).powi(2);
            den2 += g[i].powi(2).max(fd.powi(2));
        }
        var.set(&Tensor::from_vec(base, &shape, &Device::Cpu)?)?;
        let rel = (num2 / den2.max(1e-300)).sqrt();
        assert!(rel <= 1e-6, "{name}: relative error {rel:e}");
    }
    Ok(())
}

/// Every parameter of a two-layer model (post-norm, ReLU, dropout with a fixed mask) gets the
/// gradient of the weighted BCE loss.
#[test]
fn every_parameter_gets_the_right_gradient() -> Res<()> {
    let cfg = DetectorConfig {
        channels: 3,
        hidden: 8,
        layers: 2,
        heads: 2,
        ff: 12,
        dropout: 0.1,
        window: 16,
    };
    let det = Detector::new(cfg, 5, DType::F64, &Device::Cpu)?;
    // Generic LayerNorm affine parameters and biases (zero at initialisation).
    let mut rng = ChaCha8Rng::seed_from_u64(6);
    let mut vars: Vec<(String, Var)> = det
        .varmap()
        .data()
        .lock()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    vars.sort_by(|a, b| a.0.cmp(&b.0));
    for (_, v) in &vars {
        let vals: Vec<f64> = v
            .as_tensor()
            .flatten_all()?
            .to_vec1::<f64>()?
            .iter()
            .map(|x| x + rng.random_range(-0.3..0.3))
            .collect();
        v.set(&Tensor::from_vec(vals, v.shape(), &Device::Cpu)?)?;
    }
    assert_eq!(vars.len(), 4 + 2 * 12);
    let x: Vec<f64> = (0..2 * 16 * 3)
        .map(|_| rng.random_range(-2.0..2.0))
        .collect();
    let x = Tensor::from_vec(x, (2, 16, 3), &Device::Cpu)?;
    let y: Vec<f64> = (0..32).map(|i| ((i % 5) == 0) as u8 as f64).collect();
    let y = Tensor::from_vec(y, (2, 16), &Device::Cpu)?;
    let loss = || -> Res<Tensor> {
        let mut drop = ChaCha8Rng::seed_from_u64(7);
        let z = det.forward(&x, Some(&mut drop))?;
        Ok(bce_with_logits(&z, &y, 4.0)?)
    };
    fd_check(&vars, &loss)
}
