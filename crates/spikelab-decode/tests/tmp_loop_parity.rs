//! TEMPORARY (not committed): the loops before the shared `train` module, compared bit for bit.
#![allow(missing_docs, clippy::all)]
use candle_core::{DType, Device, Tensor};
use candle_nn::{Optimizer, VarMap};
use ndarray::{Array2, Array4, Axis};
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use spikelab_core::{Flow, Observer, Progress};
use spikelab_decode::brainbits::train_bottleneck;
use spikelab_decode::eit::{
    Eit, EitConfig, EpochStats, StepClassifier, TrainParams, accuracy, train,
};
use spikelab_decode::nn::{Linear, ParamBuilder};
use spikelab_decode::{DecodeError, GradientParams, LatentPopulationParams, LinearModel, Result};

fn old_train_bottleneck(
    x: &Array2<f64>,
    y: &Array2<f64>,
    b: usize,
    g: &GradientParams,
    seed: u64,
) -> Result<LinearModel> {
    let device = Device::Cpu;
    let (n, d) = x.dim();
    let q = y.ncols();
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut order: Vec<usize> = (0..n).collect();
    order.shuffle(&mut rng);
    let n_val = ((g.val_fraction * n as f64).round() as usize).clamp(1, n - 1);
    let (val_idx, fit_idx) = order.split_at(n_val);
    let to_t = |a: &Array2<f64>, idx: &[usize]| -> Result<Tensor> {
        let sel = a.select(Axis(0), idx);
        let v: Vec<f32> = sel.iter().map(|&v| v as f32).collect();
        Ok(Tensor::from_vec(v, sel.dim(), &device)?)
    };
    let (xf, yf) = (to_t(x, fit_idx)?, to_t(y, fit_idx)?);
    let (xv, yv) = (to_t(x, val_idx)?, to_t(y, val_idx)?);
    let varmap = VarMap::new();
    let pb = ParamBuilder::new(&varmap, seed, DType::F32, &device);
    let enc = Linear::new(d, b, true, &pb.pp("bottleneck"))?;
    let dec = Linear::new(b, q, true, &pb.pp("head"))?;
    let forward = |x: &Tensor| -> Result<Tensor> { dec.forward(&enc.forward(x)?) };
    let mut opt = candle_nn::AdamW::new(
        varmap.all_vars(),
        candle_nn::ParamsAdamW {
            lr: g.lr,
            weight_decay: g.weight_decay,
            ..Default::default()
        },
    )?;
    let nf = fit_idx.len();
    let mut best: Option<(f64, Vec<Tensor>)> = None;
    let mut perm: Vec<u32> = (0..nf as u32).collect();
    for epoch in 0..g.epochs {
        opt.set_learning_rate(
            g.lr * (1.0 + (std::f64::consts::PI * epoch as f64 / g.epochs as f64).cos()) / 2.0,
        );
        perm.shuffle(&mut rng);
        for (step, chunk) in perm.chunks(g.batch).enumerate() {
            let idx = Tensor::from_slice(chunk, chunk.len(), &device)?;
            let xb = xf.index_select(&idx, 0)?;
            let yb = yf.index_select(&idx, 0)?;
            let loss = (forward(&xb)? - yb)?.sqr()?.mean_all()?;
            let lv = loss.to_scalar::<f32>()? as f64;
            if !lv.is_finite() {
                return Err(DecodeError::Diverged {
                    epoch,
                    step,
                    loss: lv,
                });
            }
            opt.backward_step(&loss)?;
        }
        let vl = (forward(&xv)? - &yv)?
            .sqr()?
            .mean_all()?
            .to_scalar::<f32>()? as f64;
        if best.as_ref().is_none_or(|(l, _)| vl < *l) {
            let snapshot = vec![
                enc.weight().copy()?,
                enc_bias(&varmap)?,
                dec.weight().copy()?,
                var(&varmap, "head.bias")?,
            ];
            best = Some((vl, snapshot));
        }
    }
    let (_, w) = best.ok_or_else(|| DecodeError::InvalidData("no epoch was run".into()))?;
    let to_a = |t: &Tensor| -> Result<Array2<f64>> {
        let t = t.to_dtype(DType::F64)?;
        let (r, c) = t.dims2()?;
        Ok(
            Array2::from_shape_vec((r, c), t.flatten_all()?.to_vec1::<f64>()?)
                .expect("shape from tensor"),
        )
    };
    let w1 = to_a(&w[0])?; // [b, d]
    let b1 = to_a(&w[1].reshape((1, b))?)?;
    let w2 = to_a(&w[2])?; // [q, b]
    let b2 = to_a(&w[3].reshape((1, q))?)?;
    let weights = w1.t().dot(&w2.t());
    let intercept = (b1.dot(&w2.t()) + b2).row(0).to_owned();
    Ok(LinearModel {
        weights,
        intercept,
        alpha: 0.0,
        rank: Some(b),
    })
}

fn var(varmap: &VarMap, name: &str) -> Result<Tensor> {
    let data = varmap.data().lock().expect("varmap lock");
    Ok(data
        .get(name)
        .ok_or_else(|| DecodeError::InvalidData(format!("missing parameter {name}")))?
        .as_tensor()
        .copy()?)
}

fn enc_bias(varmap: &VarMap) -> Result<Tensor> {
    var(varmap, "bottleneck.bias")
}

fn gather(x: &Array4<f64>, idx: &[usize], dtype: DType, device: &Device) -> Result<Tensor> {
    let (_, n, c, t) = x.dim();
    let mut v = Vec::with_capacity(idx.len() * n * c * t);
    for &i in idx {
        v.extend(x.slice(ndarray::s![i, .., .., ..]).iter().copied());
    }
    Ok(Tensor::from_vec(v, (idx.len(), n, c, t), device)?.to_dtype(dtype)?)
}

fn old_train<M: StepClassifier + ?Sized>(
    model: &M,
    x_train: &Array4<f64>,
    y_train: &[u32],
    test: Option<(&Array4<f64>, &[u32])>,
    params: &TrainParams,
    vars: Option<Vec<candle_core::Var>>,
    observer: &mut dyn Observer,
) -> Result<Vec<EpochStats>> {
    let (n, _, _, t) = x_train.dim();
    if y_train.len() != n || n == 0 {
        return Err(DecodeError::Shape(format!(
            "{n} trials with {} labels",
            y_train.len()
        )));
    }
    if let Some(&bad) = y_train.iter().find(|&&y| y as usize >= model.n_classes()) {
        return Err(DecodeError::InvalidData(format!(
            "label {bad} for a {}-class model",
            model.n_classes()
        )));
    }
    if !(params.lr > 0.0 && params.batch > 0 && params.epochs > 0) {
        return Err(DecodeError::InvalidParameter {
            name: "train",
            reason: "bad".into(),
        });
    }
    let device = model.on_device().clone();
    let dtype = model.param_dtype();
    let mut opt = candle_nn::AdamW::new(
        vars.unwrap_or_else(|| model.params().all_vars()),
        candle_nn::ParamsAdamW {
            lr: params.lr,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 0.0,
        },
    )?;
    let mut rng = ChaCha8Rng::seed_from_u64(params.seed);
    let mut order: Vec<usize> = (0..n).collect();
    let mut history = Vec::new();
    for epoch in 0..params.epochs {
        order.shuffle(&mut rng);
        let mut total = 0.0;
        let mut steps = 0;
        for (step, idx) in order.chunks(params.batch).enumerate() {
            let xb = gather(x_train, idx, dtype, &device)?;
            let labels: Vec<u32> = idx
                .iter()
                .flat_map(|&i| std::iter::repeat_n(y_train[i], t))
                .collect();
            let yb = Tensor::from_vec(labels, idx.len() * t, &device)?;
            let logits = model.logits(&xb, Some(&mut rng))?;
            let loss = candle_nn::loss::cross_entropy(&logits.to_dtype(DType::F32)?, &yb)?;
            let lv = loss.to_scalar::<f32>()? as f64;
            if !lv.is_finite() {
                return Err(DecodeError::Diverged {
                    epoch,
                    step,
                    loss: lv,
                });
            }
            opt.backward_step(&loss)?;
            total += lv;
            steps += 1;
        }
        let loss = total / steps as f64;
        let last = epoch + 1 == params.epochs;
        let evaluate = last || (params.eval_every > 0 && (epoch + 1) % params.eval_every == 0);
        let test_accuracy = match test {
            Some((xt, yt)) if evaluate => Some(accuracy(model, xt, yt)?),
            _ => None,
        };
        history.push(EpochStats {
            epoch,
            loss,
            test_accuracy,
        });
        let mut p = Progress::new("epoch", epoch)
            .with_total(params.epochs)
            .with_metric("loss", loss);
        if let Some(a) = test_accuracy {
            p = p.with_metric("accuracy", a);
        }
        if observer.observe(&p) == Flow::Stop {
            break;
        }
    }
    Ok(history)
}

#[test]
fn bottleneck_bits() {
    let pop = LatentPopulationParams {
        n_samples: 700,
        n_neurons: 40,
        n_outputs: 5,
        ..Default::default()
    }
    .generate(2)
    .unwrap();
    let g = GradientParams {
        epochs: 7,
        ..Default::default()
    };
    let a = old_train_bottleneck(&pop.counts, &pop.target, 3, &g, 5).unwrap();
    let b = train_bottleneck(&pop.counts, &pop.target, 3, &g, 5).unwrap();
    assert_eq!(a.weights, b.weights);
    assert_eq!(a.intercept, b.intercept);
    println!("bottleneck weights[0,0] {:e}", a.weights[[0, 0]]);
}

#[test]
fn eit_bits() {
    let data = spikelab_synth::TwoBodyParams {
        n_trials: 6,
        ..Default::default()
    }
    .generate(1)
    .unwrap();
    let (x, y) = data
        .dataset(0..4, spikelab_synth::TwoBodyLabel::Type)
        .unwrap();
    let (xt, yt) = data
        .dataset(4..6, spikelab_synth::TwoBodyLabel::Type)
        .unwrap();
    let cfg = EitConfig {
        n_classes: spikelab_synth::TwoBodyLabel::Type.n_classes(),
        dim: 8,
        heads: 2,
        dim_head: 8,
        temporal_mlp: 8,
        ..Default::default()
    };
    let p = TrainParams {
        epochs: 4,
        batch: 16,
        eval_every: 2,
        ..Default::default()
    };
    let m1 = Eit::new(cfg.clone(), 3, DType::F32, &Device::Cpu).unwrap();
    let m2 = Eit::new(cfg, 3, DType::F32, &Device::Cpu).unwrap();
    let mut seen1 = Vec::new();
    let mut seen2 = Vec::new();
    let h1 = old_train(
        &m1,
        &x,
        &y,
        Some((&xt, &yt)),
        &p,
        None,
        &mut |q: &Progress<'_>| {
            seen1.push(format!("{q:?}"));
            Flow::Continue
        },
    )
    .unwrap();
    let h2 = train(
        &m2,
        &x,
        &y,
        Some((&xt, &yt)),
        &p,
        None,
        &mut |q: &Progress<'_>| {
            seen2.push(format!("{q:?}"));
            Flow::Continue
        },
    )
    .unwrap();
    assert_eq!(h1, h2);
    assert_eq!(seen1, seen2);
    println!("{h1:?}");
}
