//! The fused layer norm, softmax and GELU on a CUDA device against the same ops on the CPU,
//! values and gradients, f32 and f64 (`cargo test -p spikelab-decode --features cuda --test
//! fused_cuda`; needs an NVIDIA GPU, fails without one).
#![cfg(feature = "cuda")]

use candle_core::{D, DType, Device, Tensor, Var};
use spikelab_decode::fused::{gelu_erf, layer_norm, softmax_last_dim};

type Res<T> = std::result::Result<T, Box<dyn std::error::Error>>;

fn data(rows: usize, d: usize, phase: f64) -> Res<Tensor> {
    Ok(Tensor::arange(0f64, (rows * d) as f64, &Device::Cpu)?
        .affine(0.173, phase)?
        .sin()?
        .affine(3.0, 0.2)?
        .reshape((rows, d))?)
}

fn max_rel(a: &Tensor, b: &Tensor) -> Res<f64> {
    let a: Vec<f64> = a
        .to_device(&Device::Cpu)?
        .to_dtype(DType::F64)?
        .flatten_all()?
        .to_vec1()?;
    let b: Vec<f64> = b
        .to_device(&Device::Cpu)?
        .to_dtype(DType::F64)?
        .flatten_all()?
        .to_vec1()?;
    // relative to the largest entry, at least 1 (the data are O(1); a layer norm of width 1
    // has dx = 0 exactly on the CPU and rounding-sized values on the GPU)
    let scale = b.iter().fold(1.0f64, |m, v| m.max(v.abs()));
    Ok(a.iter()
        .zip(&b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f64::max)
        / scale)
}

/// Runs the three ops and their gradients on `dev`; returns outputs then gradients.
fn run(dev: &Device, dtype: DType, rows: usize, d: usize) -> Res<Vec<Tensor>> {
    let x = Var::from_tensor(&data(rows, d, -1.0)?.to_dtype(dtype)?.to_device(dev)?)?;
    let w = Var::from_tensor(
        &data(1, d, 0.5)?
            .reshape(d)?
            .to_dtype(dtype)?
            .to_device(dev)?,
    )?;
    let b = Var::from_tensor(
        &data(1, d, 2.0)?
            .reshape(d)?
            .to_dtype(dtype)?
            .to_device(dev)?,
    )?;
    let g = data(rows, d, 0.3)?.to_dtype(dtype)?.to_device(dev)?;
    let mut out = Vec::new();
    let ln = layer_norm(x.as_tensor(), w.as_tensor(), b.as_tensor(), 1e-5)?;
    let sm = softmax_last_dim(&(x.as_tensor() * 4.0)?)?;
    let ge = gelu_erf(x.as_tensor())?;
    for y in [&ln, &sm, &ge] {
        let grads = (y * &g)?.sum_all()?.backward()?;
        out.push(y.clone());
        for v in [&x, &w, &b] {
            if let Some(t) = grads.get(v.as_tensor()) {
                out.push(t.clone());
            }
        }
    }
    Ok(out)
}

#[test]
fn cuda_fused_ops_match_the_cpu() -> Res<()> {
    let gpu = Device::new_cuda(0)?;
    // widths below, at and above one block of 256 threads; one row and many rows
    for (rows, d) in [(1, 1), (3, 7), (4096, 64), (37, 256), (5, 1000), (2, 5000)] {
        for (dtype, tol) in [(DType::F64, 1e-12), (DType::F32, 3e-5)] {
            let cpu = run(&Device::Cpu, dtype, rows, d)?;
            let cuda = run(&gpu, dtype, rows, d)?;
            assert_eq!(cpu.len(), cuda.len());
            for (i, (c, g)) in cpu.iter().zip(&cuda).enumerate() {
                let e = max_rel(g, c)?;
                println!("{rows}×{d} {dtype:?} tensor {i}: max relative difference {e:.2e}");
                assert!(e <= tol, "{rows}×{d} {dtype:?} tensor {i}: {e:e} > {tol:e}");
            }
        }
    }
    Ok(())
}

#[test]
fn cuda_softmax_of_masked_rows_is_finite() -> Res<()> {
    let gpu = Device::new_cuda(0)?;
    let x = Tensor::new(&[[-1e30f32, -1e30, -1e30], [0.0, -1e30, 1.0]], &gpu)?;
    let y: Vec<Vec<f32>> = softmax_last_dim(&x)?.to_vec2()?;
    assert!(y.iter().flatten().all(|v| v.is_finite()));
    assert!((y[0][0] - 1.0 / 3.0).abs() < 1e-7 && y[1][1] == 0.0);
    let z = candle_nn::ops::softmax(&x, D::Minus1)?.to_vec2::<f32>()?;
    assert!(
        y.iter()
            .flatten()
            .zip(z.iter().flatten())
            .all(|(a, b)| (a - b).abs() < 1e-6)
    );
    Ok(())
}
