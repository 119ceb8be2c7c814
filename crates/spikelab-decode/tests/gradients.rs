//! Every transformer block against central finite differences (f64, CPU, h = 1e-6, relative
//! error ≤ 1e-6 per parameter tensor), the "no orphan" check (every parameter gets a non-zero
//! gradient), and a stacked model whose first layer must receive the gradient.

use candle_core::{DType, Device, Tensor, Var};
use candle_nn::VarMap;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use spikelab_decode::nn::{
    CrossAttention, Dropout, Embedding, FeedForward, LayerConfig, LayerNorm, Linear, ParamBuilder,
    SelfAttention, TransformerLayer, attend, geglu, gelu,
};

type Res<T> = anyhow::Result<T>;

fn randn(shape: &[usize], seed: u64) -> Res<Tensor> {
    let pb = ParamBuilder::new(&VarMap::new(), seed, DType::F64, &Device::Cpu);
    Ok(pb.get(shape, "x", spikelab_decode::nn::Init::Normal(1.0))?)
}

/// Checks d loss / d v for every var against central differences. `loss` recomputes the
/// scalar loss from the current values of the vars.
fn fd_check(vars: &[(String, Var)], loss: &dyn Fn() -> Res<Tensor>) -> Res<()> {
    let l = loss()?;
    let grads = l.backward()?;
    let h = 1e-6;
    for (name, var) in vars {
        let g = grads
            .get(var.as_tensor())
            .unwrap_or_else(|| panic!("{name}: no gradient (orphan)"));
        let g: Vec<f64> = g.flatten_all()?.to_vec1()?;
        let norm_g = g.iter().map(|v| v * v).sum::<f64>().sqrt();
        assert!(norm_g > 0.0, "{name}: zero gradient");
        let base: Vec<f64> = var.as_tensor().flatten_all()?.to_vec1()?;
        let shape = var.as_tensor().shape().clone();
        // Every entry of small tensors, an even spread of 40 entries of large ones.
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

fn vars_of(varmap: &VarMap) -> Vec<(String, Var)> {
    let mut v: Vec<(String, Var)> = varmap
        .data()
        .lock()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    v.sort_by(|a, b| a.0.cmp(&b.0));
    v
}

/// loss = Σ out ⊙ R with a fixed random R, so every output entry matters.
fn weighted_sum(out: &Tensor, seed: u64) -> Res<Tensor> {
    let r = randn(out.dims(), seed)?;
    Ok((out * r)?.sum_all()?)
}

fn model(seed: u64) -> (VarMap, ParamBuilder) {
    let vm = VarMap::new();
    let pb = ParamBuilder::new(&vm, seed, DType::F64, &Device::Cpu);
    (vm, pb)
}

fn input_var(shape: &[usize], seed: u64) -> Res<Var> {
    Ok(Var::from_tensor(&randn(shape, seed)?)?)
}

#[test]
fn linear_and_layer_norm() -> Res<()> {
    let (vm, pb) = model(1);
    let lin = Linear::new(5, 3, true, &pb.pp("lin"))?;
    let ln = LayerNorm::new(3, &pb.pp("ln"))?;
    // Non-trivial affine parameters so their gradients are generic.
    for (name, v) in vars_of(&vm) {
        if name.starts_with("ln") {
            v.set(&randn(v.dims(), 9)?)?;
        }
    }
    let x = input_var(&[2, 4, 5], 2)?;
    let mut vars = vars_of(&vm);
    vars.push(("input".into(), x.clone()));
    fd_check(&vars, &|| {
        weighted_sum(&ln.forward(&lin.forward(x.as_tensor())?)?, 3)
    })
}

#[test]
fn gelu_and_geglu() -> Res<()> {
    let x = input_var(&[3, 8], 4)?;
    let vars = vec![("input".to_string(), x.clone())];
    fd_check(&vars, &|| weighted_sum(&gelu(x.as_tensor())?, 5))?;
    fd_check(&vars, &|| weighted_sum(&geglu(x.as_tensor())?, 6))
}

#[test]
fn attention_with_key_mask() -> Res<()> {
    let (q, k, v) = (
        input_var(&[2, 3, 8], 7)?,
        input_var(&[2, 5, 8], 8)?,
        input_var(&[2, 5, 8], 9)?,
    );
    // Sample 0 sees keys 0–2, sample 1 all five.
    let mask = Tensor::from_vec(vec![1u8, 1, 1, 0, 0, 1, 1, 1, 1, 1], (2, 5), &Device::Cpu)?;
    let vars = vec![
        ("q".to_string(), q.clone()),
        ("k".to_string(), k.clone()),
        ("v".to_string(), v.clone()),
    ];
    let f = || -> Res<Tensor> {
        Ok(attend(
            q.as_tensor(),
            k.as_tensor(),
            v.as_tensor(),
            2,
            Some(&mask),
        )?)
    };
    fd_check(&vars, &|| weighted_sum(&f()?, 10))?;
    // Masked keys and values have no influence at all on sample 0.
    let grads = weighted_sum(&f()?, 10)?.backward()?;
    let gv: Vec<Vec<Vec<f64>>> = grads.get(v.as_tensor()).unwrap().to_vec3()?;
    assert!(gv[0][3].iter().chain(&gv[0][4]).all(|&g| g == 0.0));
    assert!(gv[1][4].iter().any(|&g| g != 0.0));
    Ok(())
}

#[test]
fn self_and_cross_attention_blocks() -> Res<()> {
    let (vm, pb) = model(11);
    let sa = SelfAttention::new(6, 3, 4, 0.0, &pb.pp("sa"))?;
    let ca = CrossAttention::new(6, 5, 2, 4, 0.0, &pb.pp("ca"))?;
    let x = input_var(&[2, 4, 6], 12)?;
    let ctx = input_var(&[2, 7, 5], 13)?;
    let mask = Tensor::from_vec(
        vec![1u8, 1, 1, 1, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1],
        (2, 7),
        &Device::Cpu,
    )?;
    let mut vars = vars_of(&vm);
    vars.push(("x".into(), x.clone()));
    vars.push(("ctx".into(), ctx.clone()));
    fd_check(&vars, &|| {
        let h = sa.forward(x.as_tensor(), None, None)?;
        weighted_sum(&ca.forward(&h, ctx.as_tensor(), Some(&mask), None)?, 14)
    })
}

#[test]
fn dropout_with_a_fixed_mask() -> Res<()> {
    let (vm, pb) = model(15);
    let lin = Linear::new(4, 6, true, &pb.pp("lin"))?;
    let drop = Dropout::new(0.5)?;
    let x = input_var(&[5, 4], 16)?;
    let mut vars = vars_of(&vm);
    vars.push(("x".into(), x.clone()));
    let f = || -> Res<Tensor> {
        let mut rng = ChaCha8Rng::seed_from_u64(17);
        Ok(drop.forward(&lin.forward(x.as_tensor())?, Some(&mut rng))?)
    };
    let out: Vec<Vec<f64>> = f()?.to_vec2()?;
    let eval: Vec<Vec<f64>> = drop
        .forward(&lin.forward(x.as_tensor())?, None)?
        .to_vec2()?;
    let zeros = out.iter().flatten().filter(|v| **v == 0.0).count();
    assert!((5..=25).contains(&zeros), "{zeros} of 30 dropped");
    for (o, e) in out.iter().flatten().zip(eval.iter().flatten()) {
        assert!(*o == 0.0 || (o - 2.0 * e).abs() < 1e-12);
    }
    fd_check(&vars, &|| weighted_sum(&f()?, 18))
}

#[test]
fn embedding_padding_row_gets_no_gradient() -> Res<()> {
    let (vm, pb) = model(19);
    let emb = Embedding::new(6, 4, Some(0), 0.02, &pb.pp("emb"))?;
    let ids = Tensor::from_vec(vec![0u32, 3, 3, 5, 0, 1], (2, 3), &Device::Cpu)?;
    let vars = vars_of(&vm);
    let f = || weighted_sum(&emb.forward(&ids)?, 20);
    fd_check(&vars, &f)?;
    let g: Vec<Vec<f64>> = f()?
        .backward()?
        .get(vars[0].1.as_tensor())
        .unwrap()
        .to_vec2()?;
    assert!(
        g[0].iter().all(|&v| v == 0.0),
        "padding row moved: {:?}",
        g[0]
    );
    assert!(g[2].iter().all(|&v| v == 0.0), "unused row 2");
    assert!(g[3].iter().all(|&v| v != 0.0));
    // The padding row reads as zeros even if the table holds something else there.
    let out: Vec<Vec<Vec<f64>>> = emb.forward(&ids)?.to_vec3()?;
    assert!(out[0][0].iter().all(|&v| v == 0.0));
    Ok(())
}

#[test]
fn feed_forward_and_layers() -> Res<()> {
    for (geglu_ff, offset, ff) in [
        (false, true, true),
        (true, false, true),
        (false, false, false),
    ] {
        let (vm, pb) = model(21);
        let block = FeedForward::new(6, 12, 0.0, geglu_ff, &pb.pp("ffn"))?;
        let cfg = LayerConfig {
            dim: 6,
            heads: 2,
            dim_head: 4,
            mlp: 10,
            dropout: 0.0,
            offset,
            ff,
        };
        let layer = TransformerLayer::new(&cfg, &pb.pp("layer"))?;
        let x = input_var(&[3, 5, 6], 22)?;
        let mut vars = vars_of(&vm);
        vars.push(("x".into(), x.clone()));
        fd_check(&vars, &|| {
            let h = block.forward(x.as_tensor(), None)?;
            weighted_sum(&layer.forward(&h, None, None)?, 23)
        })?;
    }
    Ok(())
}

/// A stack: Linear embedding → 3 transformer layers (EIT's offset layers among them) → Linear
/// head. The gradient must reach the embedding and match finite differences there.
#[test]
fn gradient_reaches_the_first_layer_of_a_stack() -> Res<()> {
    let (vm, pb) = model(24);
    let embed = Linear::new(3, 8, true, &pb.pp("embed"))?;
    let layers: Vec<TransformerLayer> = (0..3)
        .map(|i| {
            let cfg = LayerConfig {
                dim: 8,
                heads: 2,
                dim_head: 4,
                mlp: 16,
                dropout: 0.0,
                offset: i == 1,
                ff: true,
            };
            TransformerLayer::new(&cfg, &pb.pp(format!("layers.{i}")))
        })
        .collect::<Result<_, _>>()?;
    let head = Linear::new(8, 2, true, &pb.pp("head"))?;
    let x = randn(&[2, 6, 3], 25)?;
    let forward = || -> Res<Tensor> {
        let mut h = embed.forward(&x)?;
        for l in &layers {
            h = l.forward(&h, None, None)?;
        }
        weighted_sum(&head.forward(&h)?, 26)
    };
    let all = vars_of(&vm);
    let grads = forward()?.backward()?;
    for (name, v) in &all {
        let g = grads
            .get(v.as_tensor())
            .unwrap_or_else(|| panic!("{name}: orphan"));
        assert!(
            g.sqr()?.sum_all()?.to_scalar::<f64>()? > 0.0,
            "{name}: zero gradient"
        );
    }
    let first: Vec<(String, Var)> = all
        .into_iter()
        .filter(|(n, _)| n.starts_with("embed"))
        .collect();
    assert_eq!(first.len(), 2);
    fd_check(&first, &forward)
}

/// Documents why the blocks avoid candle's fused layer norm: in candle 0.11.1 it returns no
/// gradient for its input. If this starts failing, candle has fixed it (issue #3011).
#[test]
fn fused_candle_layer_norm_drops_the_gradient() -> Res<()> {
    // The fused kernel has no f64 version: f32.
    let x = Var::from_tensor(&randn(&[2, 4], 27)?.to_dtype(DType::F32)?)?;
    let w = Tensor::ones(4, DType::F32, &Device::Cpu)?;
    let b = Tensor::zeros(4, DType::F32, &Device::Cpu)?;
    let y = candle_nn::ops::layer_norm(x.as_tensor(), &w, &b, 1e-5)?;
    let grads = y.sum_all()?.backward()?;
    assert!(grads.get(x.as_tensor()).is_none());
    Ok(())
}

/// The whole EIT model (both modules, heads, per-unit embedding) against finite differences
/// of its cross-entropy loss; every parameter receives a gradient.
#[test]
fn eit_model_gradients() -> Res<()> {
    use spikelab_decode::eit::{Eit, EitConfig};
    let cfg = EitConfig {
        dim: 8,
        heads: 2,
        dim_head: 4,
        temporal_mlp: 8,
        n_classes: 3,
        ..Default::default()
    };
    let model = Eit::new(cfg, 30, DType::F64, &Device::Cpu)?;
    let x = randn(&[2, 4, 2, 5], 31)?;
    let labels = Tensor::from_vec(vec![0u32, 1, 2, 0, 1, 2, 0, 1, 2, 0], 10, &Device::Cpu)?;
    let loss = || -> Res<Tensor> {
        Ok(candle_nn::loss::cross_entropy(
            &model.forward(&x, None)?,
            &labels,
        )?)
    };
    let (shift, vars): (Vec<_>, Vec<_>) =
        vars_of(model.varmap()).into_iter().partition(|(n, _)| {
            n == "population.bottleneck.bias"
                || n == "population.transformer.layers.0.0.fn.to_out.0.bias"
        });
    assert_eq!((vars.len(), shift.len()), (23, 2));
    fd_check(&vars, &loss)?;
    // Both biases shift every unit's scalar alike (the population layer has no residual, so
    // `to_out`'s bias reaches Linear(d, 1) unchanged) and LayerNorm over the units removes the
    // shift: their gradients exist and are zero, as in the original.
    let g = loss()?.backward()?;
    for (name, v) in &shift {
        let gb = g.get(v.as_tensor()).expect("gradient computed");
        assert!(gb.abs()?.sum_all()?.to_scalar::<f64>()? < 1e-12, "{name}");
    }
    Ok(())
}

/// The NDT peer against finite differences; every parameter receives a gradient.
#[test]
fn ndt_model_gradients() -> Res<()> {
    use spikelab_decode::eit::{Ndt, NdtConfig, StepClassifier};
    let cfg = NdtConfig {
        n_steps: 5,
        heads: 2,
        dim_head: 4,
        mlp: 6,
        n_classes: 3,
        ..Default::default()
    };
    let model = Ndt::new(cfg, 40, DType::F64, &Device::Cpu)?;
    let x = randn(&[2, 4, 2, 5], 41)?;
    let labels = Tensor::from_vec(vec![0u32, 1, 2, 0, 1, 2, 0, 1, 2, 0], 10, &Device::Cpu)?;
    let vars = vars_of(model.params());
    assert_eq!(vars.len(), 2 + 1 + 2 * 11 + 4);
    fd_check(&vars, &|| {
        Ok(candle_nn::loss::cross_entropy(
            &model.logits(&x, None)?,
            &labels,
        )?)
    })
}

mod poyo_blocks {
    //! POYO's blocks: rotary rotation, rotary cross/self-attention, the GEGLU block, and a
    //! tiny whole model (every parameter, embeddings included).

    use super::*;
    use spikelab_decode::poyo::{
        Batch, GegluBlock, Poyo, PoyoConfig, PoyoMeta, Rotary, RotaryCrossAttention,
        RotarySelfAttention, TargetNorm, Vocab, rotate, weighted_mse,
    };

    fn rot(rotary: &Rotary, times: &[f64], b: usize) -> Res<(Tensor, Tensor)> {
        Ok(rotary.embed(times, b, DType::F64, &Device::Cpu)?)
    }

    fn times(n: usize, seed: u64) -> Vec<f64> {
        (0..n)
            .map(|i| ((i as u64 * 7919 + seed * 31) % 97) as f64 / 97.0)
            .collect()
    }

    #[test]
    fn rotation_is_orthogonal_and_differentiable() -> Res<()> {
        let rotary = Rotary::new(8, 0.05, 2.0);
        let x = input_var(&[2, 3, 4, 8], 20)?;
        let (c, s) = rot(&rotary, &times(8, 1), 2)?;
        let vars = vec![("x".to_string(), x.clone())];
        fd_check(&vars, &|| weighted_sum(&rotate(x.as_tensor(), &c, &s)?, 21))?;
        // Rotating by +θ then −θ is the identity; norms are kept.
        let y = rotate(x.as_tensor(), &c, &s)?;
        let back = rotate(&y, &c, &s.neg()?)?;
        let err = (back - x.as_tensor())?
            .abs()?
            .max_all()?
            .to_scalar::<f64>()?;
        assert!(err < 1e-12, "{err}");
        let n0 = x.as_tensor().sqr()?.sum_all()?.to_scalar::<f64>()?;
        let n1 = y.sqr()?.sum_all()?.to_scalar::<f64>()?;
        assert!((n0 - n1).abs() < 1e-9 * n0);
        Ok(())
    }

    #[test]
    fn rotary_cross_attention_with_mask_and_value_rotation() -> Res<()> {
        let rotary = Rotary::new(8, 0.05, 2.0);
        for rotate_value in [true, false] {
            let (vm, pb) = model(30);
            let blk = RotaryCrossAttention::new(6, 2, 8, 0.0, rotate_value, &pb.pp("atn"))?;
            for (name, v) in vars_of(&vm) {
                if name.contains("norm") {
                    v.set(&randn(v.dims(), 31)?)?;
                }
            }
            let xq = input_var(&[2, 3, 6], 32)?;
            let xc = input_var(&[2, 5, 6], 33)?;
            let q_rot = rot(&rotary, &times(6, 2), 2)?;
            let k_rot = rot(&rotary, &times(10, 3), 2)?;
            let mask =
                Tensor::from_vec(vec![1u8, 1, 1, 0, 0, 1, 1, 1, 1, 1], (2, 5), &Device::Cpu)?;
            let mut vars = vars_of(&vm);
            vars.push(("query".into(), xq.clone()));
            vars.push(("context".into(), xc.clone()));
            fd_check(&vars, &|| {
                let out = blk.forward(
                    xq.as_tensor(),
                    xc.as_tensor(),
                    &q_rot,
                    &k_rot,
                    Some(&mask),
                    None,
                )?;
                weighted_sum(&out, 34)
            })?;
        }
        Ok(())
    }

    #[test]
    fn rotary_self_attention_and_geglu_block() -> Res<()> {
        let rotary = Rotary::new(8, 0.05, 2.0);
        let (vm, pb) = model(40);
        let atn = RotarySelfAttention::new(6, 2, 8, 0.0, true, &pb.pp("atn"))?;
        let ffn = GegluBlock::new(6, 0.0, &pb.pp("ffn"))?;
        for (name, v) in vars_of(&vm) {
            if name.contains("norm") || name.starts_with("ffn.0") {
                v.set(&randn(v.dims(), 41)?)?;
            }
        }
        let x = input_var(&[2, 4, 6], 42)?;
        let r = rot(&rotary, &times(8, 4), 2)?;
        let mut vars = vars_of(&vm);
        vars.push(("input".into(), x.clone()));
        fd_check(&vars, &|| {
            let h = (x.as_tensor() + atn.forward(x.as_tensor(), &r, None, None)?)?;
            weighted_sum(&(&h + ffn.forward(&h, None)?)?, 43)
        })
    }

    #[test]
    fn tiny_poyo_every_parameter() -> Res<()> {
        let mut units = Vocab::new();
        units.extend(["a", "b", "c"])?;
        let mut sessions = Vocab::new();
        sessions.extend(["s"])?;
        let cfg = PoyoConfig {
            dim: 4,
            depth: 1,
            dim_head: 8,
            cross_heads: 1,
            self_heads: 2,
            latents_per_step: 2,
            latent_step_s: 0.5,
            context_s: 1.0,
            t_min_s: 0.05,
            ..PoyoConfig::poyo_1_3m(2)
        };
        let meta = PoyoMeta {
            config: cfg,
            units,
            sessions,
            norm: TargetNorm {
                mean: vec![0.0; 2],
                std: vec![1.0; 2],
            },
        };
        let model = Poyo::new(meta, 50, DType::F64, &Device::Cpu)?;
        // Two windows: 2 spikes + START/END of units 1, 2 and 1 spike + START/END of unit 3.
        let batch = Batch {
            b: 2,
            n_in: 8,
            n_lat: 4,
            n_out: 2,
            dim_out: 2,
            unit_index: vec![1, 2, 1, 2, 1, 2, 0, 0, 3, 3, 3, 0, 0, 0, 0, 0],
            token_type: vec![0, 0, 1, 1, 2, 2, 0, 0, 0, 1, 2, 0, 0, 0, 0, 0],
            input_times_s: vec![
                0.1, 0.7, 0.0, 0.0, 1.0, 1.0, 0.0, 0.0, 0.4, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0,
            ],
            input_mask: vec![1, 1, 1, 1, 1, 1, 0, 0, 1, 1, 1, 0, 0, 0, 0, 0],
            latent_index: vec![0, 1, 0, 1, 0, 1, 0, 1],
            latent_times_s: vec![0.25, 0.25, 0.75, 0.75, 0.25, 0.25, 0.75, 0.75],
            session: vec![1, 1],
            output_times_s: vec![0.3, 0.8, 0.5, 0.0],
            output_mask: vec![1, 1, 1, 0],
            targets: vec![0.5, -1.0, 1.5, 0.2, -0.3, 0.9, 0.0, 0.0],
            weights: vec![1.0, 2.0, 0.5, 0.0],
        };
        // Non-trivial LayerNorm affine parameters.
        for (name, v) in vars_of(model.varmap()) {
            if name.contains("norm") || name.contains("ffn.0") || name.contains(".1.0.") {
                v.set(&randn(v.dims(), 51)?)?;
            }
        }
        let vars = vars_of(model.varmap());
        fd_check(&vars, &|| {
            Ok(weighted_mse(&model.forward(&batch, None)?, &batch)?)
        })
    }
}
