//! The two compute paths behind one trait.

use candle_core::{DType, Device, Tensor, Var};
use ndarray::{Array2, Array3};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};
use spikelab_data::SparseRaster;

use crate::dense::{DenseState, head_loss, terms_to_host};
use crate::error::{ConvSeqError, Result};
use crate::loss::{LossTerms, filter_tv, projection_terms, softmax_backward, softmax_rows};
use crate::params::{Backend, ConvSeqParams};
use crate::sparse::{self, Csr};

/// Seeded standard-normal logits `[K, N, W]` (row-major), the original's initialisation.
///
/// ```
/// let a = spikelab_convseq::init_logits(1, 3, 4, 7);
/// assert_eq!(a.len(), 12);
/// assert_eq!(a, spikelab_convseq::init_logits(1, 3, 4, 7));
/// ```
pub fn init_logits(k: usize, n: usize, w: usize, seed: u64) -> Vec<f64> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (0..k * n * w)
        .map(|_| StandardNormal.sample(&mut rng))
        .collect()
}

/// One compute path: evaluates the loss and its gradient and takes Adam steps.
///
/// Implemented by [`SparseEngine`] (event-driven CPU) and [`DenseEngine`] (candle, any
/// device). Both keep the logits `θ` (`[K, N, W]`) and the Adam state.
pub trait Engine {
    /// Loss terms and `∂loss/∂θ` (`[K, N, W]`) at the current logits, without stepping.
    fn loss_and_grad(&mut self) -> Result<(LossTerms, Array3<f64>)>;
    /// One epoch: forward, backward and one Adam step (PyTorch semantics). Returns the
    /// loss before the step, as PyTorch's loop logs it.
    fn step(&mut self) -> Result<LossTerms>;
    /// Current logits `[K, N, W]`.
    fn logits(&self) -> Result<Array3<f64>>;
    /// Projections `[K, L]` at the current logits.
    fn projections(&self) -> Result<Array2<f64>>;
}

/// Builds the engine that `params.backend` asks for, starting from `logits`
/// (`[K, N, W]` row-major, e.g. from [`init_logits`]).
pub fn make_engine<'a>(
    raster: &'a SparseRaster,
    params: &ConvSeqParams,
    logits: Vec<f64>,
) -> Result<Box<dyn Engine + 'a>> {
    params.validate_for(raster)?;
    check_logits(params, raster, logits.len())?;
    Ok(match params.backend {
        Backend::Sparse => Box::new(SparseEngine::new(raster, params.clone(), logits)?),
        Backend::Dense { device, dtype } => Box::new(DenseEngine::new(
            raster,
            params.clone(),
            &logits,
            &crate::params::candle_device(device)?,
            dtype.candle(),
        )?),
        #[cfg(feature = "cuda")]
        Backend::SparseCuda { ordinal } => Box::new(crate::cuda_sparse::SparseCudaEngine::new(
            raster,
            params.clone(),
            &logits,
            ordinal,
        )?),
        #[cfg(not(feature = "cuda"))]
        Backend::SparseCuda { ordinal } => {
            return Err(ConvSeqError::DeviceUnavailable {
                device: format!("cuda:{ordinal}"),
                reason: "spikelab-convseq was built without the `cuda` feature".into(),
            });
        }
    })
}

/// `Shape` error unless `len` is K·N·W for `params` on `raster`.
pub(crate) fn check_logits(
    params: &ConvSeqParams,
    raster: &SparseRaster,
    len: usize,
) -> Result<()> {
    let expect = params.n_filters * raster.n_neurons() * params.width_bins;
    if len != expect {
        return Err(ConvSeqError::Shape {
            what: "logits".into(),
            expected: format!("K·N·W = {expect} values"),
            got: format!("{len}"),
        });
    }
    Ok(())
}

/// One Adam step (PyTorch semantics, step number `step` ≥ 1) of `theta` with gradient `g`.
pub(crate) fn adam_step(
    params: &ConvSeqParams,
    step: usize,
    g: &[f64],
    (theta, m, v): (&mut [f64], &mut [f64], &mut [f64]),
) {
    let (b1, b2, lr, eps) = (params.beta1, params.beta2, params.lr, params.eps);
    let bc1 = 1.0 - b1.powi(step as i32);
    let bc2s = (1.0 - b2.powi(step as i32)).sqrt();
    let step_size = lr / bc1;
    for i in 0..theta.len() {
        m[i] = b1 * m[i] + (1.0 - b1) * g[i];
        v[i] = b2 * v[i] + (1.0 - b2) * g[i] * g[i];
        theta[i] -= step_size * m[i] / (v[i].sqrt() / bc2s + eps);
    }
}

/// The event-driven CPU path (f64). Work per epoch ≈ 2·K·W·spikes multiply-adds; memory
/// is the spikes plus K·(N·W + L) floats. The forward scatter runs in neuron order (4
/// fixed blocks) when the filter N·W is at least the projection length L, and in time
/// order (disjoint output chunks) otherwise; both are deterministic on any thread count.
pub struct SparseEngine<'a> {
    raster: &'a SparseRaster,
    csr: Csr,
    by_time: Vec<(u32, u32)>,
    params: ConvSeqParams,
    theta: Vec<f64>,
    m: Vec<f64>,
    v: Vec<f64>,
    step: usize,
    s: Vec<f64>,
    rev: Vec<f64>,
    proj: Vec<f64>,
    g: Vec<f64>,
    gs: Vec<f64>,
    grev: Vec<f64>,
    gz: Vec<f64>,
}

impl<'a> SparseEngine<'a> {
    /// New engine at the given logits (`[K, N, W]` row-major).
    pub fn new(raster: &'a SparseRaster, params: ConvSeqParams, logits: Vec<f64>) -> Result<Self> {
        params.validate_for(raster)?;
        check_logits(&params, raster, logits.len())?;
        let (k, n, w) = (params.n_filters, raster.n_neurons(), params.width_bins);
        let l = params.output_len(raster.n_bins() as usize);
        let sz = k * n * w;
        let csr = Csr::new(raster);
        Ok(SparseEngine {
            raster,
            by_time: sparse::time_ordered(&csr),
            csr,
            params,
            theta: logits,
            m: vec![0.0; sz],
            v: vec![0.0; sz],
            step: 0,
            s: vec![0.0; sz],
            rev: vec![0.0; n * w],
            proj: vec![0.0; k * l],
            g: vec![0.0; k * l],
            gs: vec![0.0; sz],
            grev: vec![0.0; n * w],
            gz: vec![0.0; sz],
        })
    }

    fn dims(&self) -> (usize, usize, usize, usize) {
        (
            self.params.n_filters,
            self.raster.n_neurons(),
            self.params.width_bins,
            self.params.output_len(self.raster.n_bins() as usize),
        )
    }

    fn forward(&mut self) {
        let (k, n, w, l) = self.dims();
        let p = self.params.padding();
        softmax_rows(&self.theta, w, &mut self.s);
        for f in 0..k {
            let sf = &self.s[f * n * w..(f + 1) * n * w];
            for (dst, src) in self.rev.chunks_mut(w).zip(sf.chunks(w)) {
                for j in 0..w {
                    dst[j] = src[w - 1 - j];
                }
            }
            let out = &mut self.proj[f * l..(f + 1) * l];
            if n * w >= l {
                sparse::project_blocks(&self.csr, &self.rev, w, p, out);
            } else {
                sparse::project(&self.by_time, &self.rev, w, p, out);
            }
        }
    }

    /// Fills `self.gz` with ∂loss/∂θ; returns the loss terms.
    fn backward(&mut self) -> Result<LossTerms> {
        let (k, n, w, l) = self.dims();
        let p = self.params.padding();
        let mut terms = LossTerms::default();
        self.gs.iter_mut().for_each(|v| *v = 0.0);
        for f in 0..k {
            let (var, tv) = projection_terms(
                &self.proj[f * l..(f + 1) * l],
                self.params.tv_l,
                &mut self.g[f * l..(f + 1) * l],
            );
            let ftv = filter_tv(
                &self.s[f * n * w..(f + 1) * n * w],
                w,
                self.params.filt_tv_l,
                &mut self.gs[f * n * w..(f + 1) * n * w],
            );
            terms.total += -var + self.params.tv_l * tv + self.params.filt_tv_l * ftv;
            terms.var.push(var);
            terms.tv.push(tv);
            terms.filt_tv.push(ftv);
        }
        if self.params.has_pair_terms() {
            let dev = Device::Cpu;
            let proj = Var::from_tensor(&Tensor::from_slice(&self.proj, (k, l), &dev)?)?;
            let s = Var::from_tensor(&Tensor::from_slice(&self.s, (k, n, w), &dev)?)?;
            let (pair, _) = head_loss(proj.as_tensor(), s.as_tensor(), &self.params, false)?;
            let grads = pair.backward()?;
            let pv = pair.to_dtype(DType::F64)?.to_scalar::<f64>()?;
            terms.pair_terms = pv;
            terms.total += pv;
            if let Some(gp) = grads.get(proj.as_tensor()) {
                for (a, b) in self.g.iter_mut().zip(gp.flatten_all()?.to_vec1::<f64>()?) {
                    *a += b;
                }
            }
            if let Some(gsp) = grads.get(s.as_tensor()) {
                for (a, b) in self.gs.iter_mut().zip(gsp.flatten_all()?.to_vec1::<f64>()?) {
                    *a += b;
                }
            }
        }
        for f in 0..k {
            sparse::gather(&self.csr, &self.g[f * l..(f + 1) * l], w, p, &mut self.grev);
            let gsf = &mut self.gs[f * n * w..(f + 1) * n * w];
            for (dst, src) in gsf.chunks_mut(w).zip(self.grev.chunks(w)) {
                for j in 0..w {
                    dst[j] += src[w - 1 - j];
                }
            }
        }
        softmax_backward(&self.s, &self.gs, w, &mut self.gz);
        if !terms.total.is_finite() {
            return Err(ConvSeqError::NonFinite {
                what: "loss",
                epoch: self.step,
            });
        }
        Ok(terms)
    }
}

impl Engine for SparseEngine<'_> {
    fn loss_and_grad(&mut self) -> Result<(LossTerms, Array3<f64>)> {
        let (k, n, w, _) = self.dims();
        self.forward();
        let t = self.backward()?;
        let g = Array3::from_shape_vec((k, n, w), self.gz.clone())
            .map_err(|e| ConvSeqError::param("grad", e.to_string()))?;
        Ok((t, g))
    }

    fn step(&mut self) -> Result<LossTerms> {
        self.forward();
        let t = self.backward()?;
        self.step += 1;
        adam_step(
            &self.params,
            self.step,
            &self.gz,
            (&mut self.theta, &mut self.m, &mut self.v),
        );
        Ok(t)
    }

    fn logits(&self) -> Result<Array3<f64>> {
        let (k, n, w, _) = self.dims();
        Array3::from_shape_vec((k, n, w), self.theta.clone())
            .map_err(|e| ConvSeqError::param("logits", e.to_string()))
    }

    fn projections(&self) -> Result<Array2<f64>> {
        let (k, n, w, l) = self.dims();
        let p = self.params.padding();
        let mut s = vec![0.0; k * n * w];
        softmax_rows(&self.theta, w, &mut s);
        let mut out = Array2::<f64>::zeros((k, l));
        let mut rev = vec![0.0; n * w];
        let mut buf = vec![0.0; l];
        for f in 0..k {
            for (dst, src) in rev
                .chunks_mut(w)
                .zip(s[f * n * w..(f + 1) * n * w].chunks(w))
            {
                for j in 0..w {
                    dst[j] = src[w - 1 - j];
                }
            }
            if n * w >= l {
                sparse::project_blocks(&self.csr, &rev, w, p, &mut buf);
            } else {
                sparse::project(&self.by_time, &rev, w, p, &mut buf);
            }
            out.row_mut(f).assign(&ndarray::ArrayView1::from(&buf[..]));
        }
        Ok(out)
    }
}

/// The dense candle path (f32 or f64, any candle device).
pub struct DenseEngine {
    params: ConvSeqParams,
    state: DenseState,
}

impl DenseEngine {
    /// New engine at the given logits on `device`.
    pub fn new(
        raster: &SparseRaster,
        params: ConvSeqParams,
        logits: &[f64],
        device: &Device,
        dtype: DType,
    ) -> Result<Self> {
        params.validate_for(raster)?;
        let state = DenseState::new(raster, &params, logits, device, dtype)?;
        Ok(DenseEngine { params, state })
    }

    /// One epoch without copying anything back to the host (for timing GPU runs; call
    /// [`DenseEngine::sync`] before reading the clock).
    pub fn step_async(&mut self) -> Result<()> {
        let (loss, _, _) = self.state.forward(&self.params)?;
        let g = self.state.grad(&loss)?;
        self.state.adam(&g, &self.params)
    }

    /// Waits for queued device work to finish.
    pub fn sync(&self) -> Result<()> {
        self.state.xp.device().synchronize()?;
        Ok(())
    }

    fn fill_pairs(&self, mut t: LossTerms) -> LossTerms {
        let core: f64 = (0..t.var.len())
            .map(|f| -t.var[f] + self.params.tv_l * t.tv[f] + self.params.filt_tv_l * t.filt_tv[f])
            .sum();
        t.pair_terms = if self.params.has_pair_terms() {
            t.total - core
        } else {
            0.0
        };
        t
    }
}

impl Engine for DenseEngine {
    fn loss_and_grad(&mut self) -> Result<(LossTerms, Array3<f64>)> {
        let (loss, terms, _) = self.state.forward(&self.params)?;
        let g = self.state.grad(&loss)?;
        let t = self.fill_pairs(terms_to_host(&loss, &terms)?);
        let (k, n, w) = g.dims3()?;
        let gv = crate::dense::reverse_taps(
            &g.to_dtype(DType::F64)?.flatten_all()?.to_vec1::<f64>()?,
            w,
        );
        let ga = Array3::from_shape_vec((k, n, w), gv)
            .map_err(|e| ConvSeqError::param("grad", e.to_string()))?;
        Ok((t, ga))
    }

    fn step(&mut self) -> Result<LossTerms> {
        let (loss, terms, _) = self.state.forward(&self.params)?;
        let g = self.state.grad(&loss)?;
        let t = self.fill_pairs(terms_to_host(&loss, &terms)?);
        if !t.total.is_finite() {
            return Err(ConvSeqError::NonFinite {
                what: "loss",
                epoch: self.state.step,
            });
        }
        self.state.adam(&g, &self.params)?;
        Ok(t)
    }

    fn logits(&self) -> Result<Array3<f64>> {
        let th = self.state.theta.as_tensor();
        let (k, n, w) = th.dims3()?;
        let v = crate::dense::reverse_taps(
            &th.to_dtype(DType::F64)?.flatten_all()?.to_vec1::<f64>()?,
            w,
        );
        Array3::from_shape_vec((k, n, w), v)
            .map_err(|e| ConvSeqError::param("logits", e.to_string()))
    }

    fn projections(&self) -> Result<Array2<f64>> {
        let s = candle_nn::ops::softmax(self.state.theta.as_tensor(), candle_core::D::Minus1)?;
        let proj = crate::dense::project_dense(&s, &self.state.xp, true)?;
        let (k, l) = proj.dims2()?;
        let v = proj.to_dtype(DType::F64)?.flatten_all()?.to_vec1::<f64>()?;
        Array2::from_shape_vec((k, l), v).map_err(|e| ConvSeqError::param("proj", e.to_string()))
    }
}
