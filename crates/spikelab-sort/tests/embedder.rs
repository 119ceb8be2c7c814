//! The GRU embedder: every parameter's gradient through candle's GRU and the triplet loss
//! against central finite differences (f64, h = 1e-6, relative error ≤ 1e-6 per tensor), and
//! a learning test: after a short training, held-out snippets of two different waveform shapes
//! embed with between-unit distances larger than within-unit ones, by a wider factor than
//! before training, and nearest-centroid labels are right.

use candle_core::{DType, Device, Tensor, Var};
use ndarray::Array3;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};
use spikelab_sort::embedder::{
    Embedder, EmbedderConfig, EmbedderTrainParams, train_embedder, triplet_margin_loss,
};

type Res<T> = anyhow::Result<T>;

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
        let (mut num2, mut den2) = (0.0, 0.0);
        for i in 0..base.len() {
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

#[test]
fn gru_and_triplet_loss_gradients() -> Res<()> {
    let cfg = EmbedderConfig {
        channels: 3,
        hidden: 5,
    };
    let e = Embedder::new(cfg, 2, DType::F64, &Device::Cpu)?;
    let mut vars: Vec<(String, Var)> = e
        .varmap()
        .data()
        .lock()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    vars.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(vars.len(), 4);
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let mut input = || -> Res<Tensor> {
        let v: Vec<f64> = (0..2 * 6 * 3)
            .map(|_| rng.random_range(-1.5..1.5))
            .collect();
        Ok(Tensor::from_vec(v, (2, 6, 3), &Device::Cpu)?)
    };
    let (a, p, n) = (input()?, input()?, input()?);
    // A margin large enough that every triplet is active.
    fd_check(&vars, &|| {
        Ok(triplet_margin_loss(
            &e.forward(&a)?,
            &e.forward(&p)?,
            &e.forward(&n)?,
            10.0,
        )?)
    })
}

const L: usize = 30;

/// `n` snippets `[n, L, 4]` of unit `u` (two shapes on different channels) in N(0, 0.3²).
fn snippets(u: usize, n: usize, rng: &mut ChaCha8Rng) -> Array3<f32> {
    Array3::from_shape_fn((n, L, 4), |(_, t, c)| {
        let t = t as f64 - 10.0;
        let w = if u == 0 {
            [-5.0, -2.0, 0.0, 0.0][c] * (-(t / 2.0).powi(2)).exp()
        } else {
            [0.0, 0.0, 3.0, 4.0][c] * (t / 3.0) * (-(t / 3.0).powi(2)).exp()
        };
        let z: f64 = StandardNormal.sample(rng);
        (w + 0.3 * z) as f32
    })
}

/// (mean between-unit distance) / (mean within-unit distance) and nearest-centroid accuracy.
fn separation(e: &Embedder, rng: &mut ChaCha8Rng) -> Res<(f64, f64)> {
    let a = snippets(0, 20, rng);
    let b = snippets(1, 20, rng);
    let both = ndarray::concatenate![ndarray::Axis(0), a, b];
    let emb = e.embed(&both.view(), 8)?;
    let d = |i: usize, j: usize| -> f64 {
        emb.row(i)
            .iter()
            .zip(emb.row(j))
            .map(|(x, y)| ((x - y) as f64).powi(2))
            .sum::<f64>()
            .sqrt()
    };
    let (mut within, mut nw, mut between, mut nb) = (0.0, 0, 0.0, 0);
    for i in 0..40 {
        for j in i + 1..40 {
            if (i < 20) == (j < 20) {
                within += d(i, j);
                nw += 1;
            } else {
                between += d(i, j);
                nb += 1;
            }
        }
    }
    let c0 = emb
        .slice(ndarray::s![..20, ..])
        .mean_axis(ndarray::Axis(0))
        .unwrap();
    let c1 = emb
        .slice(ndarray::s![20.., ..])
        .mean_axis(ndarray::Axis(0))
        .unwrap();
    let right = (0..40)
        .filter(|&i| {
            let r = emb.row(i);
            let d0: f32 = r.iter().zip(&c0).map(|(x, y)| (x - y).powi(2)).sum();
            let d1: f32 = r.iter().zip(&c1).map(|(x, y)| (x - y).powi(2)).sum();
            (d0 < d1) == (i < 20)
        })
        .count();
    Ok((
        (between / nb as f64) / (within / nw as f64),
        right as f64 / 40.0,
    ))
}

#[test]
fn embeddings_of_two_shapes_separate() -> Res<()> {
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    let units = [snippets(0, 40, &mut rng), snippets(1, 40, &mut rng)];
    let mut e = Embedder::new(
        EmbedderConfig {
            channels: 4,
            hidden: 16,
        },
        4,
        DType::F32,
        &Device::Cpu,
    )?;
    let (ratio0, acc0) = separation(&e, &mut ChaCha8Rng::seed_from_u64(12))?;
    let params = EmbedderTrainParams {
        steps: 60,
        batch: 32,
        lr: 1e-2,
        noise_level: 0.3,
        max_jitter: 2,
        ..Default::default()
    };
    let views: Vec<_> = units.iter().map(|u| u.view()).collect();
    let losses = train_embedder(&mut e, &views, &params, &mut spikelab_core::Silent)?;
    let (ratio, acc) = separation(&e, &mut ChaCha8Rng::seed_from_u64(12))?;
    let head: f64 = losses[..10].iter().sum::<f64>() / 10.0;
    let tail: f64 = losses[losses.len() - 10..].iter().sum::<f64>() / 10.0;
    println!(
        "ratio {ratio0:.2} → {ratio:.2}, accuracy {acc0:.2} → {acc:.2}, loss {head:.3} → {tail:.3}"
    );
    assert!(tail < 0.5 * head, "loss {head} → {tail}");
    assert!(ratio > 2.0 && ratio > ratio0, "ratio {ratio0} → {ratio}");
    assert_eq!(acc, 1.0);
    Ok(())
}
