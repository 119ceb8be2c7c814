//! POYO-1.3M against torch-brain 0.2.1 (fixture `datasets/poyo/parity`, made by
//! `scripts/poyo_parity_fixture.py`): every hooked activation, the output, the loss and every
//! parameter gradient, in f64 and in f32; the OneCycle lr/β₁ table; the parameter counts.

use std::collections::HashMap;
use std::path::PathBuf;

use candle_core::safetensors::SliceSafetensors;
use candle_core::{DType, Device, Tensor};
use spikelab_decode::poyo::{
    Batch, OneCycle, Poyo, PoyoConfig, PoyoMeta, Rotary, TargetNorm, Vocab, weighted_mse,
};

type Res<T> = anyhow::Result<T>;

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../datasets/poyo/parity")
}

fn meta_json() -> Res<serde_json::Value> {
    Ok(serde_json::from_str(&std::fs::read_to_string(
        dir().join("meta.json"),
    )?)?)
}

fn vocab(v: &serde_json::Value) -> Res<Vocab> {
    let words: Vec<String> = serde_json::from_value(v.clone())?;
    Ok(Vocab::try_from(words)?)
}

fn load(name: &str) -> Res<HashMap<String, Tensor>> {
    Ok(candle_core::safetensors::load(
        dir().join(name),
        &Device::Cpu,
    )?)
}

fn model(dtype: DType) -> Res<Poyo> {
    let m = meta_json()?;
    let meta = PoyoMeta {
        config: PoyoConfig::poyo_1_3m(2),
        units: vocab(&m["unit_vocab"])?,
        sessions: vocab(&m["session_vocab"])?,
        norm: TargetNorm {
            mean: vec![0.0; 2],
            std: vec![1.0; 2],
        },
    };
    Ok(Poyo::from_tensors(
        meta,
        &load("params.safetensors")?,
        dtype,
        &Device::Cpu,
    )?)
}

/// The fixture batch; timestamps cast to f32 and back for the f32 run, as the reference did.
fn batch(f32_times: bool) -> Res<Batch> {
    let buf = std::fs::read(dir().join("batch.safetensors"))?;
    let st = SliceSafetensors::new(&buf)?;
    let dev = Device::Cpu;
    let u32s = |n: &str| -> Res<Vec<u32>> {
        Ok(st
            .load(n, &dev)?
            .to_dtype(DType::I64)?
            .flatten_all()?
            .to_vec1::<i64>()?
            .into_iter()
            .map(|v| v as u32)
            .collect())
    };
    let f64s = |n: &str, cast: bool| -> Res<Vec<f64>> {
        let v = st.load(n, &dev)?.flatten_all()?.to_vec1::<f64>()?;
        Ok(if cast {
            v.into_iter().map(|x| x as f32 as f64).collect()
        } else {
            v
        })
    };
    let unit_index = u32s("input_unit_index")?;
    let weights = f64s("weights", false)?;
    // Masks are stored as bool (not loadable by candle): padded tokens hold unit 0, padded
    // outputs weight 0.
    let input_mask = unit_index.iter().map(|&u| u8::from(u != 0)).collect();
    let output_mask = weights.iter().map(|&w| u8::from(w > 0.0)).collect();
    Ok(Batch {
        b: 2,
        n_in: 64,
        n_lat: 128,
        n_out: 20,
        dim_out: 2,
        unit_index,
        token_type: u32s("input_token_type")?,
        input_times_s: f64s("input_timestamps", f32_times)?,
        input_mask,
        latent_index: u32s("latent_index")?,
        latent_times_s: f64s("latent_timestamps", f32_times)?,
        session: u32s("session_index")?,
        output_times_s: f64s("output_timestamps", f32_times)?,
        output_mask,
        targets: f64s("targets", false)?,
        weights,
    })
}

/// max |a − b| / max |b|.
fn rel(a: &Tensor, b: &Tensor) -> Res<f64> {
    let a: Vec<f64> = a.to_dtype(DType::F64)?.flatten_all()?.to_vec1()?;
    let b: Vec<f64> = b.to_dtype(DType::F64)?.flatten_all()?.to_vec1()?;
    assert_eq!(a.len(), b.len());
    let diff = a
        .iter()
        .zip(&b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f64::max);
    let scale = b.iter().map(|y| y.abs()).fold(0.0, f64::max);
    Ok(diff / scale.max(1e-300))
}

fn check_forward(dtype: DType, reference: &str, tol: f64) -> Res<(Poyo, Batch, Tensor)> {
    let mut model = model(dtype)?;
    // The f32 reference run computed its angles in f32 from f32 timestamps.
    model.rotary_mut().set_f32_angles(dtype == DType::F32);
    let batch = batch(dtype == DType::F32)?;
    let reference = load(reference)?;
    let mut trace = Vec::new();
    let out = model.forward_traced(&batch, None, Some(&mut trace))?;
    let mut worst = (String::new(), 0.0);
    for (name, t) in &trace {
        let key = if name == "output" {
            "output".to_string()
        } else {
            format!("act.{name}")
        };
        let r = reference
            .get(&key)
            .unwrap_or_else(|| panic!("fixture has no {key}"));
        assert_eq!(t.dims(), r.dims(), "{name}");
        let e = rel(t, r)?;
        if e > worst.1 {
            worst = (name.clone(), e);
        }
        assert!(e <= tol, "{dtype:?} {name}: relative error {e:e} > {tol:e}");
    }
    assert_eq!(
        trace.len(),
        4 + 3 + 2 + 12 + 2 + 1,
        "every hooked value compared"
    );
    eprintln!("{dtype:?}: worst activation {} at {:e}", worst.0, worst.1);
    let loss = weighted_mse(&out, &batch)?;
    let lref = reference["loss"].to_dtype(DType::F64)?.to_vec1::<f64>()?[0];
    let l = loss.to_dtype(DType::F64)?.to_scalar::<f64>()?;
    assert!((l - lref).abs() <= tol * lref, "loss {l} vs {lref}");
    Ok((model, batch, loss))
}

fn check_grads(model: &Poyo, loss: &Tensor, tol: f64) -> Res<()> {
    let reference = load("f64.safetensors")?;
    let grads = loss.backward()?;
    let data = model.varmap().data().lock().unwrap();
    let mut n = 0;
    let mut worst = (String::new(), 0.0f64);
    for (name, var) in data.iter() {
        let g = grads
            .get(var.as_tensor())
            .unwrap_or_else(|| panic!("{name}: no gradient"));
        let r = &reference[&format!("grad.{name}")];
        // Relative Frobenius error of the tensor.
        let d = (g.to_dtype(DType::F64)? - r.to_dtype(DType::F64)?)?
            .sqr()?
            .sum_all()?
            .to_scalar::<f64>()?
            .sqrt();
        let s = r
            .to_dtype(DType::F64)?
            .sqr()?
            .sum_all()?
            .to_scalar::<f64>()?
            .sqrt();
        let e = d / s;
        if e > worst.1 {
            worst = (name.clone(), e);
        }
        assert!(e <= tol, "grad {name}: relative error {e:e} > {tol:e}");
        n += 1;
    }
    eprintln!("worst gradient {} at {:e}", worst.0, worst.1);
    assert_eq!(
        n,
        reference.keys().filter(|k| k.starts_with("grad.")).count()
    );
    // Padding rows of the unit and session tables get exactly zero gradient.
    for name in ["unit_emb.weight", "session_emb.weight"] {
        let g = grads.get(data[name].as_tensor()).unwrap();
        let row0: Vec<f64> = g.get(0)?.to_dtype(DType::F64)?.to_vec1()?;
        assert!(row0.iter().all(|&v| v == 0.0), "{name} row 0");
    }
    Ok(())
}

#[test]
fn f64_forward_and_gradients_match_torch_brain() -> Res<()> {
    // Gradients are stored as f32: 1e-6 relative is their resolution.
    let (model, _, loss) = check_forward(DType::F64, "f64.safetensors", 1e-9)?;
    let l = loss.to_scalar::<f64>()?;
    assert!((l - 1.0259364896208574).abs() < 1e-12, "loss {l}");
    check_grads(&model, &loss, 1e-6)
}

#[test]
fn f32_forward_and_gradients_match_torch_brain() -> Res<()> {
    check_forward(DType::F32, "f32.safetensors", 1e-5)?;
    // Gradients of the f32 model as it trains (f64 timestamps and angles) against the f64 run.
    let model = model(DType::F32)?;
    let batch = batch(false)?;
    let loss = weighted_mse(&model.forward(&batch, None)?, &batch)?;
    check_grads(&model, &loss, 1e-4)
}

#[test]
fn omega_and_parameter_counts() -> Res<()> {
    let p = load("params.safetensors")?;
    let omega: Vec<f32> = p["rotary_emb.omega"].to_vec1()?;
    let ours = Rotary::new(64, 1e-4, 2.0627);
    assert_eq!(omega.len(), ours.omega().len());
    for (a, b) in ours.omega().iter().zip(&omega) {
        assert!((a - b).abs() <= 2e-6 * b.abs(), "omega {a} vs {b}");
    }
    assert!(omega[16..].iter().all(|&w| w == 0.0));
    let m = model(DType::F32)?;
    assert_eq!(m.n_parameters(), 1_255_554);
    // POYO-1.3M with 452 units, 1 recording, 1 output (spec §6.5).
    let mut units = Vocab::new();
    units.extend((0..452).map(|i| i.to_string()))?;
    let mut sessions = Vocab::new();
    sessions.extend(["ca1"])?;
    let meta = PoyoMeta {
        config: PoyoConfig::poyo_1_3m(1),
        units,
        sessions,
        norm: TargetNorm {
            mean: vec![0.0],
            std: vec![1.0],
        },
    };
    let m = Poyo::new(meta, 0, DType::F32, &Device::Cpu)?;
    assert_eq!(m.n_parameters(), 1_283_073);
    Ok(())
}

#[test]
fn one_cycle_matches_torch_table() -> Res<()> {
    let m = meta_json()?;
    let table: Vec<(f64, f64)> = serde_json::from_value(m["onecycle_lr_beta1"].clone())?;
    assert_eq!(table.len(), 40);
    let s = OneCycle::new(0.004, 40)?;
    for (step, &(lr, b1)) in table.iter().enumerate() {
        let (l, b) = s.at(step);
        assert!((l - lr).abs() <= 1e-12, "step {step}: lr {l} vs {lr}");
        assert!((b - b1).abs() <= 1e-12, "step {step}: beta1 {b} vs {b1}");
    }
    let mut off = s;
    off.cycle_momentum = false;
    assert!((0..40).all(|k| off.at(k).1 == 0.95));
    Ok(())
}
