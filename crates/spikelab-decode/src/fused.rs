//! Fused layer norm, softmax and GELU with their own backward passes.
//!
//! Composed from candle ops, a layer norm is 11 kernels forward and about 15 backward, a softmax
//! 5 and 10, an exact GELU 1 and 8; every op allocates its output. A transformer step of the
//! small models here (EIT's 50 k parameters, POYO-1.3M) is thousands of such kernels, so the
//! GPU time is launch and allocation overhead. Each function below is one custom op forward and
//! one backward (two for the layer norm: the row kernel and the column sums of `dw`, `db`):
//!
//! * [`layer_norm`]: `y = (x − μ)/√(σ² + ε) · w + b` over the last axis (biased σ², as
//!   PyTorch); backward `dx = r · (g w − mean(g w) − x̂ · mean(g w x̂))` with `r = 1/√(σ² + ε)`,
//!   `x̂ = (x − μ) r`, `dw = Σ_rows g x̂`, `db = Σ_rows g`;
//! * [`softmax_last_dim`]: `y = exp(x − max x) / Σ exp(x − max x)`; backward
//!   `dx = y ⊙ (g − Σ g ⊙ y)`;
//! * [`gelu_erf`]: `y = x Φ(x)`; backward `dx = g (Φ(x) + x φ(x))`.
//!
//! On the CPU they are loops in `f64` accumulation; on CUDA, kernels compiled with NVRTC at
//! first use (`fused.cu`, one block per row). Both take `f32` and `f64`; other dtypes and the
//! Metal backend fall back to the composed ops. Finite-difference tests in f64
//! (`tests/gradients.rs`) and equality with the composed ops check both directions.
//!
//! ```
//! use candle_core::{Device, Tensor, Var};
//! let x = Var::new(&[[1.0f64, 2.0, 4.0], [0.0, 0.0, 3.0]], &Device::Cpu)?;
//! let y = spikelab_decode::fused::softmax_last_dim(x.as_tensor())?;
//! let row: Vec<f64> = y.get(0)?.to_vec1()?;
//! assert!((row.iter().sum::<f64>() - 1.0).abs() < 1e-15);
//! let grads = y.get(0)?.get(2)?.backward()?; // ∂y₀₂/∂x₀ = y₀₂ (δ − y₀)
//! let g: Vec<f64> = grads.get(x.as_tensor()).unwrap().get(0)?.to_vec1()?;
//! assert!((g[2] - row[2] * (1.0 - row[2])).abs() < 1e-15);
//! # Ok::<(), spikelab_decode::DecodeError>(())
//! ```

use candle_core::backend::BackendStorage;
use candle_core::{CpuStorage, CustomOp1, CustomOp2, CustomOp3, D, DType, Layout, Shape, Tensor};

use crate::error::Result;

/// Whether the fused ops run on `x` (CPU or CUDA, f32 or f64).
fn fused_applies(x: &Tensor) -> bool {
    matches!(x.dtype(), DType::F32 | DType::F64) && (x.device().is_cpu() || x.device().is_cuda())
}

/// Layer normalisation over the last axis of `x` with affine `weight`, `bias` (`[d]`) and
/// `eps`, as one fused op with its own backward (see the module docs).
pub fn layer_norm(x: &Tensor, weight: &Tensor, bias: &Tensor, eps: f64) -> Result<Tensor> {
    if !fused_applies(x) {
        let n = x.dim(D::Minus1)? as f64;
        let mean = (x.sum_keepdim(D::Minus1)? / n)?;
        let xc = x.broadcast_sub(&mean)?;
        let var = (xc.sqr()?.sum_keepdim(D::Minus1)? / n)?;
        let xn = xc.broadcast_div(&(var + eps)?.sqrt()?)?;
        return Ok(xn.broadcast_mul(weight)?.broadcast_add(bias)?);
    }
    Ok(x.contiguous()?.apply_op3(
        &weight.contiguous()?,
        &bias.contiguous()?,
        LayerNormOp {
            eps,
            backward: false,
        },
    )?)
}

/// Softmax over the last axis of `x`, one fused op with its own backward.
pub fn softmax_last_dim(x: &Tensor) -> Result<Tensor> {
    if !fused_applies(x) {
        return Ok(candle_nn::ops::softmax(x, D::Minus1)?);
    }
    Ok(x.contiguous()?.apply_op1(UnaryOp(Unary::Softmax))?)
}

/// GELU with the exact erf form (PyTorch `nn.GELU()`), one fused op with its own backward.
pub fn gelu_erf(x: &Tensor) -> Result<Tensor> {
    if !fused_applies(x) {
        return Ok(x.gelu_erf()?);
    }
    Ok(x.contiguous()?.apply_op1(UnaryOp(Unary::Gelu))?)
}

// ---------------------------------------------------------------------------------------------
// CPU kernels (rows in parallel; sums in f64).

/// The contiguous slice a layout views.
fn view<'a, T: candle_core::WithDType>(
    s: &'a CpuStorage,
    l: &Layout,
) -> candle_core::Result<&'a [T]> {
    match l.contiguous_offsets() {
        Some((a, b)) => Ok(&s.as_slice::<T>()?[a..b]),
        None => candle_core::bail!("fused op expects a contiguous tensor"),
    }
}

/// Last-axis length and row count of a layout.
fn rows_of(l: &Layout) -> candle_core::Result<(usize, usize)> {
    let d = *l
        .dims()
        .last()
        .ok_or_else(|| candle_core::Error::Msg("fused op on a scalar".into()))?;
    if d == 0 {
        candle_core::bail!("fused op on an empty last axis");
    }
    Ok((l.shape().elem_count() / d, d))
}

macro_rules! by_dtype {
    ($s:expr, $f:ident ( $($args:expr),* )) => {
        match $s.dtype() {
            DType::F32 => $f::<f32>($($args),*),
            DType::F64 => $f::<f64>($($args),*),
            dt => candle_core::bail!("fused op on {dt:?}"),
        }
    };
}

/// The float types of the CPU kernels: `exp` and `erf` in the type itself (f32 math for f32
/// tensors), sums in f64.
trait Real: candle_core::WithDType + Send + Sync {
    fn exp(self) -> Self;
    fn erf(self) -> Self;
}

impl Real for f32 {
    fn exp(self) -> Self {
        f32::exp(self)
    }
    fn erf(self) -> Self {
        candle_core::cpu::erf::erf_f32(self)
    }
}

impl Real for f64 {
    fn exp(self) -> Self {
        f64::exp(self)
    }
    fn erf(self) -> Self {
        candle_core::cpu::erf::erf_f64(self)
    }
}

/// Entries per parallel task of the element-wise kernels.
const PAR_CHUNK: usize = 1 << 14;

/// Applies `f(input rows, output rows)` to blocks of whole rows in parallel; `out_d` values
/// are written per input row of `d`.
fn par_rows<T: Real>(
    rows: usize,
    d: usize,
    out_d: usize,
    f: impl Fn(usize, &mut [T]) + Send + Sync,
) -> CpuStorage {
    use rayon::prelude::*;
    let mut out = vec![T::from_f64(0.0); rows * out_d];
    let per_task = (PAR_CHUNK / d.max(1)).max(1);
    out.par_chunks_mut(per_task * out_d)
        .enumerate()
        .for_each(|(i, block)| f(i * per_task, block));
    T::to_cpu_storage_owned(out)
}

fn ln_stats<T: Real>(xr: &[T], eps: f64) -> (f64, f64) {
    let n = xr.len() as f64;
    let mean = xr.iter().map(|v| v.to_f64()).sum::<f64>() / n;
    let var = xr.iter().map(|v| (v.to_f64() - mean).powi(2)).sum::<f64>() / n;
    (mean, 1.0 / (var + eps).sqrt())
}

fn ln_fwd_cpu<T: Real>(x: &[T], w: &[T], b: &[T], d: usize, eps: f64) -> CpuStorage {
    par_rows::<T>(x.len() / d, d, d, |row0, block| {
        for (r, yr) in block.chunks_exact_mut(d).enumerate() {
            let xr = &x[(row0 + r) * d..][..d];
            let (mean, rstd) = ln_stats(xr, eps);
            for i in 0..d {
                yr[i] = T::from_f64((xr[i].to_f64() - mean) * rstd * w[i].to_f64() + b[i].to_f64());
            }
        }
    })
}

/// `[rows, 2d]` = `[dx | g x̂]` (see the module docs).
fn ln_bwd_cpu<T: Real>(x: &[T], w: &[T], g: &[T], d: usize, eps: f64) -> CpuStorage {
    par_rows::<T>(x.len() / d, d, 2 * d, |row0, block| {
        for (r, or) in block.chunks_exact_mut(2 * d).enumerate() {
            let xr = &x[(row0 + r) * d..][..d];
            let gr = &g[(row0 + r) * d..][..d];
            let (mean, rstd) = ln_stats(xr, eps);
            let (mut a, mut c) = (0.0, 0.0);
            for i in 0..d {
                let xh = (xr[i].to_f64() - mean) * rstd;
                let gw = gr[i].to_f64() * w[i].to_f64();
                a += gw;
                c += gw * xh;
                or[d + i] = T::from_f64(gr[i].to_f64() * xh);
            }
            let (a, c) = (a / d as f64, c / d as f64);
            for i in 0..d {
                let xh = (xr[i].to_f64() - mean) * rstd;
                or[i] = T::from_f64(rstd * (gr[i].to_f64() * w[i].to_f64() - a - xh * c));
            }
        }
    })
}

fn softmax_fwd_cpu<T: Real>(x: &[T], d: usize) -> CpuStorage {
    par_rows::<T>(x.len() / d, d, d, |row0, block| {
        for (r, yr) in block.chunks_exact_mut(d).enumerate() {
            let xr = &x[(row0 + r) * d..][..d];
            let m = xr.iter().fold(xr[0], |m, &v| if v > m { v } else { m });
            let mut s = 0.0f64;
            for (y, &v) in yr.iter_mut().zip(xr) {
                *y = (v - m).exp();
                s += y.to_f64();
            }
            let inv = T::from_f64(1.0 / s);
            for y in yr.iter_mut() {
                *y *= inv;
            }
        }
    })
}

fn softmax_bwd_cpu<T: Real>(y: &[T], g: &[T], d: usize) -> CpuStorage {
    par_rows::<T>(y.len() / d, d, d, |row0, block| {
        for (r, dr) in block.chunks_exact_mut(d).enumerate() {
            let yr = &y[(row0 + r) * d..][..d];
            let gr = &g[(row0 + r) * d..][..d];
            let s: f64 = yr
                .iter()
                .zip(gr)
                .map(|(y, g)| y.to_f64() * g.to_f64())
                .sum();
            let s = T::from_f64(s);
            for ((o, &y), &g) in dr.iter_mut().zip(yr).zip(gr) {
                *o = y * (g - s);
            }
        }
    })
}

fn gelu_fwd_cpu<T: Real>(x: &[T]) -> CpuStorage {
    let half = T::from_f64(0.5);
    let (one, r2) = (
        T::from_f64(1.0),
        T::from_f64(std::f64::consts::FRAC_1_SQRT_2),
    );
    par_rows::<T>(x.len(), 1, 1, |i0, block| {
        for (o, &v) in block.iter_mut().zip(&x[i0..]) {
            *o = half * v * (one + (v * r2).erf());
        }
    })
}

fn gelu_bwd_cpu<T: Real>(x: &[T], g: &[T]) -> CpuStorage {
    let half = T::from_f64(0.5);
    let (one, r2) = (
        T::from_f64(1.0),
        T::from_f64(std::f64::consts::FRAC_1_SQRT_2),
    );
    let inv_sqrt_2pi = T::from_f64(0.398_942_280_401_432_7);
    par_rows::<T>(x.len(), 1, 1, |i0, block| {
        for ((o, &v), &g) in block.iter_mut().zip(&x[i0..]).zip(&g[i0..]) {
            let cdf = half * (one + (v * r2).erf());
            let pdf = (T::from_f64(-0.5) * v * v).exp() * inv_sqrt_2pi;
            *o = g * (cdf + v * pdf);
        }
    })
}

// ---------------------------------------------------------------------------------------------
// CUDA kernels.

#[cfg(feature = "cuda")]
mod gpu {
    use std::sync::OnceLock;

    use candle_core::backend::BackendStorage;
    use candle_core::cuda_backend::cudarc::driver::{LaunchConfig, PushKernelArg};
    use candle_core::cuda_backend::{CudaDType, CudaStorage};
    use candle_core::{DType, Layout};

    const SRC: &str = include_str!("fused.cu");
    const MODULE: &str = "spikelab_decode_fused";

    pub(super) fn ptx() -> candle_core::Result<&'static str> {
        static PTX: OnceLock<std::result::Result<String, String>> = OnceLock::new();
        spikelab_core::nvrtc_ptx(&PTX, SRC).map_err(candle_core::Error::Msg)
    }

    /// Threads per block for rows of length `d`: a power of two in 32…256.
    fn row_block(d: usize) -> u32 {
        d.next_power_of_two().clamp(32, 256) as u32
    }

    fn view<'a, T: CudaDType>(
        s: &'a CudaStorage,
        l: &Layout,
    ) -> candle_core::Result<candle_core::cuda_backend::cudarc::driver::CudaView<'a, T>> {
        match l.contiguous_offsets() {
            Some((a, b)) => Ok(s.as_cuda_slice::<T>()?.slice(a..b)),
            None => candle_core::bail!("fused op expects a contiguous tensor"),
        }
    }

    fn suffix(dt: DType) -> candle_core::Result<&'static str> {
        match dt {
            DType::F32 => Ok("f32"),
            DType::F64 => Ok("f64"),
            dt => candle_core::bail!("fused op on {dt:?}"),
        }
    }

    /// The kinds of launch the ops make.
    pub(super) enum Launch<'a> {
        /// Layer norm forward or backward: (x, w, b or g), `eps`.
        LayerNorm(&'a str, [(&'a CudaStorage, &'a Layout); 3], f64),
        /// Softmax forward (x) or backward (y, g).
        Softmax(&'a str, Vec<(&'a CudaStorage, &'a Layout)>),
        /// GELU forward (x) or backward (x, g).
        Gelu(&'a str, Vec<(&'a CudaStorage, &'a Layout)>),
    }

    impl Launch<'_> {
        /// The first input (its dtype and device are the launch's).
        fn first(&self) -> &CudaStorage {
            match self {
                Launch::LayerNorm(_, a, _) => a[0].0,
                Launch::Softmax(_, a) | Launch::Gelu(_, a) => a[0].0,
            }
        }
    }

    /// Runs one launch; `out_len` values are written (rows × d, or rows × 2d for the layer
    /// norm backward).
    pub(super) fn run(
        launch: Launch<'_>,
        rows: usize,
        d: usize,
        out_len: usize,
    ) -> candle_core::Result<CudaStorage> {
        let dt = launch.first().dtype();
        match dt {
            DType::F32 => run_t::<f32>(launch, rows, d, out_len, dt),
            DType::F64 => run_t::<f64>(launch, rows, d, out_len, dt),
            dt => candle_core::bail!("fused op on {dt:?}"),
        }
    }

    fn run_t<T>(
        launch: Launch<'_>,
        rows: usize,
        d: usize,
        out_len: usize,
        dt: DType,
    ) -> candle_core::Result<CudaStorage>
    where
        T: CudaDType
            + candle_core::WithDType
            + candle_core::cuda_backend::cudarc::driver::DeviceRepr,
    {
        let dev = launch.first().device().clone();
        let (name, args, eps) = match &launch {
            Launch::LayerNorm(n, a, eps) => (*n, a.to_vec(), Some(*eps)),
            Launch::Softmax(n, a) | Launch::Gelu(n, a) => (*n, a.clone(), None),
        };
        let func =
            dev.get_or_load_custom_func(&format!("{name}_{}", suffix(dt)?), MODULE, ptx()?)?;
        // SAFETY: every output entry is written by the kernel before it is read.
        let mut out = unsafe { dev.alloc::<T>(out_len.max(1))? };
        let views = args
            .iter()
            .map(|(s, l)| view::<T>(s, l))
            .collect::<candle_core::Result<Vec<_>>>()?;
        let d_i = d as i32;
        let n_u = (rows * d) as u64;
        let eps_t = T::from_f64(eps.unwrap_or(0.0));
        let is_gelu = matches!(launch, Launch::Gelu(..));
        let cfg = if is_gelu {
            LaunchConfig {
                grid_dim: ((rows * d).div_ceil(256).max(1) as u32, 1, 1),
                block_dim: (256, 1, 1),
                shared_mem_bytes: 0,
            }
        } else {
            LaunchConfig {
                grid_dim: (rows as u32, 1, 1),
                block_dim: (row_block(d), 1, 1),
                shared_mem_bytes: 0,
            }
        };
        if rows == 0 {
            return Ok(CudaStorage::wrap_cuda_slice(out, dev));
        }
        let mut b = func.builder();
        for v in &views {
            b.arg(v);
        }
        b.arg(&mut out);
        if is_gelu {
            b.arg(&n_u);
        } else {
            b.arg(&d_i);
        }
        if eps.is_some() {
            b.arg(&eps_t);
        }
        // SAFETY: the arguments match the kernel's signature in `fused.cu` (inputs, output,
        // length, eps for the layer norm); inputs hold rows·d values (`w`, `b` hold d), the
        // output `out_len`, and the grid covers exactly the rows (or the n entries).
        unsafe { b.launch(cfg) }.map_err(|e| candle_core::Error::Cuda(Box::new(e)))?;
        Ok(CudaStorage::wrap_cuda_slice(out, dev))
    }
}

// ---------------------------------------------------------------------------------------------
// The custom ops.

/// The layer norm's row kernel: forward (x, w, b) → y, or, with `backward`, (x, w, g) →
/// `[rows, 2d]` = `[dx | g x̂]` (the backward of the forward op).
struct LayerNormOp {
    eps: f64,
    backward: bool,
}

impl LayerNormOp {
    /// Rows, width and output shape for an input of layout `lx`.
    fn dims(&self, lx: &Layout) -> candle_core::Result<(usize, usize, Shape)> {
        let (rows, d) = rows_of(lx)?;
        let shape = if self.backward {
            Shape::from((rows, 2 * d))
        } else {
            lx.shape().clone()
        };
        Ok((rows, d, shape))
    }
}

impl CustomOp3 for LayerNormOp {
    fn name(&self) -> &'static str {
        if self.backward {
            "spikelab-layer-norm-bwd"
        } else {
            "spikelab-layer-norm"
        }
    }

    fn cpu_fwd(
        &self,
        x: &CpuStorage,
        lx: &Layout,
        w: &CpuStorage,
        lw: &Layout,
        c: &CpuStorage,
        lc: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let (_, d, shape) = self.dims(lx)?;
        if !self.backward {
            check_affine(d, lw, lc)?;
        }
        type Arg<'a> = (&'a CpuStorage, &'a Layout);
        fn go<T: Real>(
            op: &LayerNormOp,
            (x, lx): Arg,
            (w, lw): Arg,
            (c, lc): Arg,
            d: usize,
        ) -> candle_core::Result<CpuStorage> {
            let (x, w, c) = (view::<T>(x, lx)?, view::<T>(w, lw)?, view::<T>(c, lc)?);
            Ok(if op.backward {
                ln_bwd_cpu(x, w, c, d, op.eps)
            } else {
                ln_fwd_cpu(x, w, c, d, op.eps)
            })
        }
        let out = by_dtype!(x, go(self, (x, lx), (w, lw), (c, lc), d))?;
        Ok((out, shape))
    }

    #[cfg(feature = "cuda")]
    fn cuda_fwd(
        &self,
        x: &candle_core::CudaStorage,
        lx: &Layout,
        w: &candle_core::CudaStorage,
        lw: &Layout,
        c: &candle_core::CudaStorage,
        lc: &Layout,
    ) -> candle_core::Result<(candle_core::CudaStorage, Shape)> {
        let (rows, d, shape) = self.dims(lx)?;
        if !self.backward {
            check_affine(d, lw, lc)?;
        }
        let name = if self.backward {
            "layer_norm_bwd"
        } else {
            "layer_norm_fwd"
        };
        let launch = gpu::Launch::LayerNorm(name, [(x, lx), (w, lw), (c, lc)], self.eps);
        Ok((gpu::run(launch, rows, d, shape.elem_count())?, shape))
    }

    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        _b: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        if self.backward {
            candle_core::bail!("the layer norm's backward kernel has no backward");
        }
        let d = x.dim(D::Minus1)?;
        let rows = x.elem_count() / d;
        let grad = grad.contiguous()?;
        let op = LayerNormOp {
            eps: self.eps,
            backward: true,
        };
        let both = x.apply_op3_no_bwd(w, &grad, &op)?.reshape((rows, 2 * d))?;
        let dx = both.narrow(1, 0, d)?.contiguous()?.reshape(x.shape())?;
        let dw = both.narrow(1, d, d)?.sum(0)?;
        let db = grad.reshape((rows, d))?.sum(0)?;
        Ok((Some(dx), Some(dw), Some(db)))
    }
}

fn check_affine(d: usize, lw: &Layout, lb: &Layout) -> candle_core::Result<()> {
    if lw.shape().elem_count() != d || lb.shape().elem_count() != d {
        candle_core::bail!(
            "layer norm of width {d} with weight {:?} and bias {:?}",
            lw.dims(),
            lb.dims()
        );
    }
    Ok(())
}

/// The two single-input ops: softmax over the last axis and GELU.
#[derive(Debug, Clone, Copy)]
enum Unary {
    Softmax,
    Gelu,
}

impl Unary {
    /// Rows and row length the kernels see (GELU: one row of every entry, one thread each).
    fn rows(self, l: &Layout) -> candle_core::Result<(usize, usize)> {
        match self {
            Unary::Softmax => rows_of(l),
            Unary::Gelu => Ok((l.shape().elem_count(), 1)),
        }
    }

    /// The CUDA kernel's name stem (forward or backward).
    #[cfg(feature = "cuda")]
    fn kernel(self, backward: bool) -> &'static str {
        match (self, backward) {
            (Unary::Softmax, false) => "softmax_fwd",
            (Unary::Softmax, true) => "softmax_bwd",
            (Unary::Gelu, false) => "gelu_fwd",
            (Unary::Gelu, true) => "gelu_bwd",
        }
    }

    #[cfg(feature = "cuda")]
    fn launch(
        self,
        backward: bool,
        args: Vec<(&candle_core::CudaStorage, &Layout)>,
    ) -> candle_core::Result<candle_core::CudaStorage> {
        let (rows, d) = self.rows(args[0].1)?;
        let name = self.kernel(backward);
        let launch = match self {
            Unary::Softmax => gpu::Launch::Softmax(name, args),
            Unary::Gelu => gpu::Launch::Gelu(name, args),
        };
        gpu::run(launch, rows, d, rows * d)
    }
}

/// Forward op of a [`Unary`].
struct UnaryOp(Unary);

impl CustomOp1 for UnaryOp {
    fn name(&self) -> &'static str {
        match self.0 {
            Unary::Softmax => "spikelab-softmax",
            Unary::Gelu => "spikelab-gelu",
        }
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        let (_, d) = self.0.rows(l)?;
        fn go<T: Real>(
            op: Unary,
            s: &CpuStorage,
            l: &Layout,
            d: usize,
        ) -> candle_core::Result<CpuStorage> {
            let x = view::<T>(s, l)?;
            Ok(match op {
                Unary::Softmax => softmax_fwd_cpu(x, d),
                Unary::Gelu => gelu_fwd_cpu(x),
            })
        }
        Ok((by_dtype!(s, go(self.0, s, l, d))?, l.shape().clone()))
    }

    #[cfg(feature = "cuda")]
    fn cuda_fwd(
        &self,
        s: &candle_core::CudaStorage,
        l: &Layout,
    ) -> candle_core::Result<(candle_core::CudaStorage, Shape)> {
        Ok((self.0.launch(false, vec![(s, l)])?, l.shape().clone()))
    }

    fn bwd(&self, x: &Tensor, res: &Tensor, grad: &Tensor) -> candle_core::Result<Option<Tensor>> {
        // softmax's backward needs its output, GELU's its input
        let first = match self.0 {
            Unary::Softmax => res,
            Unary::Gelu => x,
        };
        Ok(Some(first.apply_op2_no_bwd(
            &grad.contiguous()?,
            &UnaryBwdOp(self.0),
        )?))
    }
}

/// Backward op of a [`Unary`]: softmax (y, g) → `y ⊙ (g − Σ g ⊙ y)`; GELU (x, g) →
/// `g (Φ(x) + x φ(x))`.
struct UnaryBwdOp(Unary);

impl CustomOp2 for UnaryBwdOp {
    fn name(&self) -> &'static str {
        match self.0 {
            Unary::Softmax => "spikelab-softmax-bwd",
            Unary::Gelu => "spikelab-gelu-bwd",
        }
    }

    fn cpu_fwd(
        &self,
        a: &CpuStorage,
        la: &Layout,
        g: &CpuStorage,
        lg: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let (_, d) = self.0.rows(la)?;
        fn go<T: Real>(
            op: Unary,
            (a, la): (&CpuStorage, &Layout),
            (g, lg): (&CpuStorage, &Layout),
            d: usize,
        ) -> candle_core::Result<CpuStorage> {
            let (a, g) = (view::<T>(a, la)?, view::<T>(g, lg)?);
            Ok(match op {
                Unary::Softmax => softmax_bwd_cpu(a, g, d),
                Unary::Gelu => gelu_bwd_cpu(a, g),
            })
        }
        Ok((
            by_dtype!(a, go(self.0, (a, la), (g, lg), d))?,
            la.shape().clone(),
        ))
    }

    #[cfg(feature = "cuda")]
    fn cuda_fwd(
        &self,
        a: &candle_core::CudaStorage,
        la: &Layout,
        g: &candle_core::CudaStorage,
        lg: &Layout,
    ) -> candle_core::Result<(candle_core::CudaStorage, Shape)> {
        Ok((
            self.0.launch(true, vec![(a, la), (g, lg)])?,
            la.shape().clone(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use candle_core::{Device, Var};

    use super::*;

    /// Composed-op references (the ops candle differentiates itself).
    fn composed_ln(x: &Tensor, w: &Tensor, b: &Tensor, eps: f64) -> candle_core::Result<Tensor> {
        let n = x.dim(D::Minus1)? as f64;
        let mean = (x.sum_keepdim(D::Minus1)? / n)?;
        let xc = x.broadcast_sub(&mean)?;
        let var = (xc.sqr()?.sum_keepdim(D::Minus1)? / n)?;
        xc.broadcast_div(&(var + eps)?.sqrt()?)?
            .broadcast_mul(w)?
            .broadcast_add(b)
    }

    fn inputs(dtype: DType, rows: usize, d: usize) -> Result<(Var, Var, Var, Tensor)> {
        let dev = Device::Cpu;
        let x = Tensor::arange(0f64, (rows * d) as f64, &dev)?
            .affine(0.37, -3.0)?
            .sin()?
            .affine(2.5, 0.1)?
            .reshape((rows, d))?
            .to_dtype(dtype)?;
        let w = Tensor::arange(0f64, d as f64, &dev)?
            .cos()?
            .to_dtype(dtype)?;
        let b = Tensor::arange(0f64, d as f64, &dev)?
            .affine(0.2, -0.5)?
            .to_dtype(dtype)?;
        // a weighting that makes every output matter differently
        let g = Tensor::arange(0f64, (rows * d) as f64, &dev)?
            .affine(0.91, 0.3)?
            .cos()?
            .reshape((rows, d))?
            .to_dtype(dtype)?;
        Ok((
            Var::from_tensor(&x)?,
            Var::from_tensor(&w)?,
            Var::from_tensor(&b)?,
            g,
        ))
    }

    fn close(a: &Tensor, b: &Tensor, tol: f64) -> Result<()> {
        let a: Vec<f64> = a.to_dtype(DType::F64)?.flatten_all()?.to_vec1()?;
        let b: Vec<f64> = b.to_dtype(DType::F64)?.flatten_all()?.to_vec1()?;
        assert_eq!(a.len(), b.len());
        let scale = b.iter().fold(1.0f64, |m, v| m.max(v.abs()));
        for (i, (x, y)) in a.iter().zip(&b).enumerate() {
            assert!(
                (x - y).abs() <= tol * scale,
                "entry {i} of {}: {x} vs {y}",
                a.len()
            );
        }
        Ok(())
    }

    #[test]
    fn fused_ops_equal_composed_ops_in_value_and_gradient() -> Result<()> {
        for (dtype, tol) in [(DType::F64, 1e-12), (DType::F32, 2e-5)] {
            for (rows, d) in [(5, 7), (3, 300), (1, 1)] {
                let (x, w, b, g) = inputs(dtype, rows, d)?;
                let (xt, wt, bt) = (x.as_tensor(), w.as_tensor(), b.as_tensor());
                let pairs: [(Tensor, Tensor); 3] = [
                    (
                        layer_norm(xt, wt, bt, 1e-5)?,
                        composed_ln(xt, wt, bt, 1e-5)?,
                    ),
                    (
                        softmax_last_dim(xt)?,
                        candle_nn::ops::softmax(xt, D::Minus1)?,
                    ),
                    (gelu_erf(xt)?, xt.gelu_erf()?),
                ];
                for (k, (fused, reference)) in pairs.into_iter().enumerate() {
                    close(&fused, &reference, tol)?;
                    // candle's GELU backward uses 0.398942 for 1/√(2π) (relative 1.6e-6 off)
                    let gtol = if k == 2 { tol.max(2e-6) } else { tol };
                    let gf = (&fused * &g)?.sum_all()?.backward()?;
                    let gr = (&reference * &g)?.sum_all()?.backward()?;
                    for v in [xt, wt, bt] {
                        match (gf.get(v), gr.get(v)) {
                            (Some(a), Some(r)) => close(a, r, gtol)?,
                            (None, None) => {}
                            (a, r) => panic!(
                                "gradient presence differs: {} vs {}",
                                a.is_some(),
                                r.is_some()
                            ),
                        }
                    }
                }
            }
        }
        Ok(())
    }

    /// NVRTC needs no GPU: the kernels compile wherever the `cuda` feature builds.
    #[cfg(feature = "cuda")]
    #[test]
    fn kernels_compile_to_ptx() {
        let ptx = super::gpu::ptx().unwrap();
        for stem in [
            "layer_norm_fwd",
            "layer_norm_bwd",
            "softmax_fwd",
            "softmax_bwd",
            "gelu_fwd",
            "gelu_bwd",
        ] {
            for t in ["f32", "f64"] {
                assert!(
                    ptx.contains(&format!(".entry {stem}_{t}")),
                    "{stem}_{t} missing"
                );
            }
        }
    }

    #[test]
    fn strided_inputs_and_masked_rows() -> Result<()> {
        let dev = Device::Cpu;
        // a transposed (non-contiguous) input
        let x = Tensor::arange(0f64, 24.0, &dev)?
            .reshape((4, 6))?
            .sin()?
            .t()?;
        close(
            &softmax_last_dim(&x)?,
            &candle_nn::ops::softmax(&x, D::Minus1)?,
            1e-15,
        )?;
        // a row whose keys are all masked by the −1e30 bias is uniform, finite
        let masked = Tensor::new(&[[-1e30f32, -1e30, -1e30], [0.0, -1e30, 1.0]], &dev)?;
        let y: Vec<Vec<f32>> = softmax_last_dim(&masked)?.to_vec2()?;
        assert_eq!(y[0], vec![1.0 / 3.0; 3]);
        assert_eq!(y[1][1], 0.0);
        // a constant row normalises to the bias
        let c = Tensor::new(&[[2.0f64; 4]], &dev)?;
        let (w, b) = (
            Tensor::ones(4, DType::F64, &dev)?,
            Tensor::new(&[0.5f64; 4], &dev)?,
        );
        assert_eq!(
            layer_norm(&c, &w, &b, 1e-5)?.to_vec2::<f64>()?,
            vec![vec![0.5; 4]]
        );
        // a weight of the wrong width is refused
        let bad = Tensor::ones(3, DType::F64, &dev)?;
        assert!(layer_norm(&c, &bad, &b, 1e-5).is_err());
        Ok(())
    }
}
