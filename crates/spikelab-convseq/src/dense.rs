//! The dense candle path and the candle loss head.
//!
//! Cross-correlation as one GEMM plus a diagonal sum: with the time-padded raster
//! `Xp` (`[N, R]`, R = T + 2P) and the filters laid out as `[K·W, N]`,
//! `M = S · Xp` is `[K·W, R]` and `x̂_k[t] = Σ_w M[k·W + w, t + w]`. The diagonal sum is a
//! reshape trick (append W zeros to each filter's flattened `[W, R]` block, view it as
//! `[W, R + 1]`, keep the first L columns, sum over w), so everything is a GEMM plus views
//! and autograd differentiates it. candle's conv1d is avoided on purpose: it is ~5× slower
//! than an equivalent GEMM on CUDA (measured in `docs/benchmarks.md`).

use candle_core::{D, DType, Device, Tensor, Var};
use spikelab_data::SparseRaster;

use crate::error::{ConvSeqError, Result};
use crate::loss::LossTerms;
use crate::params::ConvSeqParams;

/// Per-filter (var, TV, filter TV) tensors, each `[K]`.
pub(crate) type Terms = (Tensor, Tensor, Tensor);

/// Time-padded dense raster `[N, T + 2P]` on `device`.
pub(crate) fn padded_raster(
    raster: &SparseRaster,
    p: usize,
    dtype: DType,
    device: &Device,
) -> Result<Tensor> {
    let (n, t) = (raster.n_neurons(), raster.n_bins() as usize);
    let r = t + 2 * p;
    let cells = n as u128 * r as u128;
    if cells > (1u128 << 32) {
        return Err(ConvSeqError::InvalidRaster(format!(
            "{n} × {r} padded cells are too many for the dense path; use Backend::Sparse"
        )));
    }
    let mut v = vec![0f32; n * r];
    for i in 0..n {
        for &(b, _) in &raster.rows()[i] {
            v[i * r + p + b as usize] = 1.0;
        }
    }
    Ok(Tensor::from_vec(v, (n, r), &Device::Cpu)?
        .to_dtype(dtype)?
        .to_device(device)?)
}

/// Projections `[K, L]` of **tap-reversed** softmaxed filters `s_rev` (`[K, N, W]`,
/// `s_rev[k, n, v] = S[k, n, W − 1 − v]`) on the padded raster `xp`. With `f64_sum`, the
/// diagonal sum runs in f64 whatever the GEMM dtype.
///
/// With reversed taps the diagonal of `M = S_rev · Xp` that feeds output t is
/// `M[v, t + W − 1 − v]`, i.e. flat index `(W − 1 + t) + v·(R − 1)`: a view of the
/// flattened GEMM output with row stride R − 1, so no copy is needed for K = 1.
pub(crate) fn project_dense(s_rev: &Tensor, xp: &Tensor, f64_sum: bool) -> Result<Tensor> {
    let (k, n, w) = s_rev.dims3()?;
    let (n2, r) = xp.dims2()?;
    if n != n2 {
        return Err(ConvSeqError::Shape {
            what: "filters vs raster".into(),
            expected: format!("{n2} neurons"),
            got: format!("{n}"),
        });
    }
    let l = r + 1 - w;
    let s2 = s_rev.transpose(1, 2)?.contiguous()?.reshape((k * w, n))?;
    let mut m = s2.matmul(xp)?; // [K·W, R]
    if f64_sum {
        // The TV term differences neighbouring projection values (~1 ± 0.01); f32
        // accumulation of the W-term diagonal would cost ~4 significant digits there.
        m = m.to_dtype(DType::F64)?;
    }
    let m = m.reshape((k, w * r))?;
    let diag = m
        .narrow(1, w - 1, w * (r - 1))?
        .reshape((k, w, r - 1))?
        .narrow(2, 0, l)?;
    Ok(diag.sum(1)?)
}

/// Reverses the last axis of a `[K, N, W]` host array (row-major).
pub(crate) fn reverse_taps(v: &[f64], w: usize) -> Vec<f64> {
    let mut out = v.to_vec();
    for row in out.chunks_mut(w) {
        row.reverse();
    }
    out
}

fn pow_u(x: &Tensor, p: u32) -> Result<Tensor> {
    let mut out = x.clone();
    for _ in 1..p {
        out = out.mul(x)?;
    }
    Ok(out)
}

/// The loss head on tensors: `proj` `[K, L]`, `s` `[K, N, W]`. With `core = false` only the
/// K > 1 terms are returned (used by the sparse path when they are active).
pub(crate) fn head_loss(
    proj: &Tensor,
    s: &Tensor,
    params: &ConvSeqParams,
    core: bool,
) -> Result<(Tensor, Option<Terms>)> {
    let (k, l) = proj.dims2()?;
    let (_, n, w) = s.dims3()?;
    let mut total = Tensor::zeros((), proj.dtype(), proj.device())?;
    let mut terms = None;
    if core {
        let var = proj.var_keepdim(1)?.squeeze(1)?; // [K]
        let d = (proj.narrow(1, 1, l - 1)? - proj.narrow(1, 0, l - 1)?)?;
        let tv = d.sqr()?.mean(1)?; // [K]
        let e = (s.narrow(2, 1, w - 1)? - s.narrow(2, 0, w - 1)?)?;
        let ftv = (e.sqr()?.sum((1, 2))? / (n * (w - 1)) as f64)?; // [K]
        let per = ((var.neg()? + (&tv * params.tv_l)?)? + (&ftv * params.filt_tv_l)?)?;
        total = per.sum_all()?;
        terms = Some((var, tv, ftv));
    }
    if params.has_pair_terms() {
        total = (total + pair_terms(proj, s, params)?)?;
    }
    let _ = k;
    Ok((total, terms))
}

/// The weighted K > 1 terms (spec §1.4 table).
fn pair_terms(proj: &Tensor, s: &Tensor, params: &ConvSeqParams) -> Result<Tensor> {
    let (k, l) = proj.dims2()?;
    let (_, n, w) = s.dims3()?;
    let dev = proj.device();
    let dt = proj.dtype();
    let mut total = Tensor::zeros((), dt, dev)?;
    let npairs = (k * (k - 1) / 2) as f64;
    let rows: Vec<Tensor> = (0..k)
        .map(|i| proj.get(i))
        .collect::<candle_core::Result<_>>()?;
    if params.proj_xcorr_l != 0.0 {
        let xp = params.xcorr_padding_bins;
        let mut acc = Tensor::zeros((), dt, dev)?;
        for i in 0..k {
            for j in i + 1..k {
                let a = rows[i].broadcast_sub(&rows[i].mean_all()?)?;
                let b = rows[j].broadcast_sub(&rows[j].mean_all()?)?;
                let s0 = a.var_keepdim(0)?.sqrt()?;
                let s1 = b.var_keepdim(0)?.sqrt()?;
                let c = a
                    .reshape((1, 1, l))?
                    .conv1d(&b.reshape((1, 1, l))?, xp, 1, 1, 1)?
                    .flatten_all()?;
                let c = (c.broadcast_div(&(s0 * s1)?)? / l as f64)?;
                acc = (acc + pow_u(&c, 8)?.mean_all()?)?;
            }
        }
        let term = ((acc / npairs)? + 0.002)?;
        total = (total + (term * params.proj_xcorr_l)?)?;
    }
    if params.proj_sim_cos_l != 0.0 {
        let kw = params.proj_smoothing_kerwidth;
        let ker = (Tensor::ones((1, 1, kw), dt, dev)? / kw as f64)?;
        let sm: Vec<Tensor> = rows
            .iter()
            .map(|r| -> Result<Tensor> {
                let y = r
                    .reshape((1, 1, l))?
                    .conv1d(&ker, kw / 2, 1, 1, 1)?
                    .flatten_all()?;
                pow_u(&y, params.simpow)
            })
            .collect::<Result<_>>()?;
        let mut acc = Tensor::zeros((), dt, dev)?;
        for i in 0..k {
            for j in i + 1..k {
                let dot = (&sm[i] * &sm[j])?.sum_all()?;
                let nn = (sm[i].sqr()?.sum_all()? * sm[j].sqr()?.sum_all()?)?;
                let den = nn.maximum(1e-12)?.sqrt()?;
                acc = (acc + (dot / den)?)?;
            }
        }
        total = (total + ((acc / npairs)? * params.proj_sim_cos_l)?)?;
    }
    if params.filt_xcor_l != 0.0 {
        let mut acc = Tensor::zeros((), dt, dev)?;
        for i in 0..k {
            for j in i + 1..k {
                let a = s.get(i)?.reshape((1, n, w))?;
                let b = s.get(j)?.reshape((1, n, w))?;
                let c = a.conv1d(&b, w, 1, 1, 1)?;
                acc = (acc + c.sqr()?.mean_all()?)?;
            }
        }
        total = (total + ((acc / npairs)? * params.filt_xcor_l)?)?;
    }
    if params.imbalance_l != 0.0 {
        let pw = proj.sqr()?.mean(1)?;
        let ent = (&pw * pw.log()?)?.sum_all()?;
        total = (total + (ent * params.imbalance_l)?)?;
    }
    Ok(total)
}

/// Dense state: padded raster, tap-reversed logits and Adam moments on one device.
/// The loss is invariant under reversing every filter's taps (var/TV of the same
/// projection, squared differences along taps, cross-correlations over symmetric lags).
pub(crate) struct DenseState {
    pub xp: Tensor,
    pub theta: Var,
    pub m: Tensor,
    pub v: Tensor,
    pub step: usize,
}

impl DenseState {
    pub fn new(
        raster: &SparseRaster,
        params: &ConvSeqParams,
        logits: &[f64],
        device: &Device,
        dtype: DType,
    ) -> Result<Self> {
        let (k, n, w) = (params.n_filters, raster.n_neurons(), params.width_bins);
        let xp = padded_raster(raster, params.padding(), dtype, device)?;
        let th = Tensor::from_vec(reverse_taps(logits, w), (k, n, w), &Device::Cpu)?
            .to_dtype(dtype)?
            .to_device(device)?;
        // Adam moments in f64 (PyTorch keeps them in the parameter dtype; f64 costs
        // nothing here and keeps the f32 and f64 paths on the same trajectory longer).
        let m = th.to_dtype(DType::F64)?.zeros_like()?;
        let v = m.zeros_like()?;
        Ok(DenseState {
            xp,
            theta: Var::from_tensor(&th)?,
            m,
            v,
            step: 0,
        })
    }

    /// Loss tensor (scalar), its per-filter terms, and the projection, at the current logits.
    pub fn forward(&self, params: &ConvSeqParams) -> Result<(Tensor, Terms, Tensor)> {
        let s = candle_nn::ops::softmax(self.theta.as_tensor(), D::Minus1)?;
        let proj = project_dense(&s, &self.xp, true)?;
        let (loss, terms) = head_loss(&proj, &s.to_dtype(DType::F64)?, params, true)?;
        let terms = terms.ok_or_else(|| ConvSeqError::param("core", "missing terms"))?;
        Ok((loss, terms, proj))
    }

    /// Gradient of the loss w.r.t. the logits.
    pub fn grad(&self, loss: &Tensor) -> Result<Tensor> {
        let grads = loss.backward()?;
        grads
            .get(self.theta.as_tensor())
            .cloned()
            .ok_or_else(|| ConvSeqError::param("theta", "no gradient reached the logits"))
    }

    /// PyTorch-semantics Adam step.
    pub fn adam(&mut self, g: &Tensor, params: &ConvSeqParams) -> Result<()> {
        let g = &g.to_dtype(DType::F64)?;
        self.step += 1;
        let (b1, b2) = (params.beta1, params.beta2);
        self.m = ((&self.m * b1)? + (g * (1.0 - b1))?)?;
        self.v = ((&self.v * b2)? + (g.sqr()? * (1.0 - b2))?)?;
        let bc1 = 1.0 - b1.powi(self.step as i32);
        let bc2 = 1.0 - b2.powi(self.step as i32);
        let denom = ((self.v.sqrt()? / bc2.sqrt())? + params.eps)?;
        let upd = ((&self.m / denom)? * (params.lr / bc1))?;
        let new = (self.theta.as_tensor() - upd.to_dtype(self.theta.dtype())?)?;
        self.theta.set(&new)?;
        Ok(())
    }
}

/// Collects a loss-terms triple into [`LossTerms`] (syncs the device).
pub(crate) fn terms_to_host(loss: &Tensor, t: &Terms) -> Result<LossTerms> {
    let f = |x: &Tensor| -> Result<Vec<f64>> { Ok(x.to_dtype(DType::F64)?.to_vec1::<f64>()?) };
    let total = loss.to_dtype(DType::F64)?.to_scalar::<f64>()?;
    let var = f(&t.0)?;
    let tv = f(&t.1)?;
    let filt_tv = f(&t.2)?;
    Ok(LossTerms {
        total,
        var,
        tv,
        filt_tv,
        pair_terms: 0.0,
    })
}
