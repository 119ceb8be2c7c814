//! Transformer building blocks on candle whose gradients are actually computed.
//!
//! candle 0.11.1 builds the results of its fused kernels (`ops::layer_norm`, the
//! `LayerNorm` module's fast path, `rms_norm`, `softmax_last_dim`, the rope functions, `sdpa`)
//! without a backward op: `backward()` then silently returns no gradient for any parameter
//! upstream. Every block here is written with tensor ops that have a backward: composed ops
//! (matmul, broadcast arithmetic, `index_select`) and this crate's own fused layer norm,
//! softmax and GELU ([`crate::fused`], each with a backward kernel); `tests/gradients.rs`
//! checks every block against central finite differences in f64 and checks that no parameter
//! is left without a gradient.
//!
//! Parameters live in a [`candle_nn::VarMap`] under PyTorch-style dotted names
//! (`to_qkv.weight`, `ff.net.0.bias`, ...) and are initialised from a seeded ChaCha8 stream
//! with PyTorch's defaults (Linear: U(±1/√fan_in) for weights and biases; LayerNorm: 1 and 0),
//! so a seed gives the same model on every device.

use std::sync::{Arc, Mutex};

use candle_core::{D, DType, Device, Tensor, Var};
use candle_nn::VarMap;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};

use crate::error::{DecodeError, Result};

/// How a new parameter is initialised.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Init {
    /// Every entry equal to the value.
    Const(f64),
    /// U(−bound, bound).
    Uniform(f64),
    /// N(0, sd²).
    Normal(f64),
}

/// Creates named parameters in a [`VarMap`] from a seeded stream (like `candle_nn::VarBuilder`,
/// but reproducible on every device). A name that already exists (e.g. loaded from a file) is
/// reused as is, after a shape check.
#[derive(Clone)]
pub struct ParamBuilder {
    varmap: VarMap,
    rng: Arc<Mutex<ChaCha8Rng>>,
    prefix: String,
    dtype: DType,
    device: Device,
}

impl std::fmt::Debug for ParamBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ParamBuilder")
            .field("prefix", &self.prefix)
            .field("dtype", &self.dtype)
            .finish_non_exhaustive()
    }
}

impl ParamBuilder {
    /// A builder over `varmap` seeded with `seed`.
    pub fn new(varmap: &VarMap, seed: u64, dtype: DType, device: &Device) -> Self {
        Self {
            varmap: varmap.clone(),
            rng: Arc::new(Mutex::new(ChaCha8Rng::seed_from_u64(seed))),
            prefix: String::new(),
            dtype,
            device: device.clone(),
        }
    }

    /// The builder for the sub-module `name` (names are joined with dots).
    pub fn pp(&self, name: impl std::fmt::Display) -> Self {
        let mut b = self.clone();
        b.prefix = if self.prefix.is_empty() {
            name.to_string()
        } else {
            format!("{}.{name}", self.prefix)
        };
        b
    }

    /// The device parameters are created on.
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// The parameter dtype.
    pub fn dtype(&self) -> DType {
        self.dtype
    }

    /// The parameter `name` of shape `shape`, created with `init` if it does not exist yet.
    pub fn get(&self, shape: &[usize], name: &str, init: Init) -> Result<Tensor> {
        let full = if self.prefix.is_empty() {
            name.to_string()
        } else {
            format!("{}.{name}", self.prefix)
        };
        let mut data = self.varmap.data().lock().expect("varmap lock");
        if let Some(v) = data.get(&full) {
            if v.dims() != shape {
                return Err(DecodeError::Shape(format!(
                    "parameter {full} has shape {:?}, the model needs {shape:?}",
                    v.dims()
                )));
            }
            return Ok(v.as_tensor().clone());
        }
        let n: usize = shape.iter().product();
        let mut rng = self.rng.lock().expect("rng lock");
        let values: Vec<f64> = match init {
            Init::Const(c) => vec![c; n],
            Init::Uniform(b) => (0..n).map(|_| rng.random_range(-b..=b)).collect(),
            Init::Normal(sd) => (0..n)
                .map(|_| {
                    let z: f64 = StandardNormal.sample(&mut *rng);
                    sd * z
                })
                .collect::<Vec<f64>>(),
        };
        let t = Tensor::from_vec(values, shape, &self.device)?.to_dtype(self.dtype)?;
        let var = Var::from_tensor(&t)?;
        let out = var.as_tensor().clone();
        data.insert(full, var);
        Ok(out)
    }
}

/// Fully connected layer y = x Wᵀ + b, W `[out, in]` (PyTorch layout and init).
#[derive(Debug, Clone)]
pub struct Linear {
    inner: candle_nn::Linear,
}

impl Linear {
    /// `Linear(d_in, d_out, bias)` under `pb` (`weight`, `bias`).
    pub fn new(d_in: usize, d_out: usize, bias: bool, pb: &ParamBuilder) -> Result<Self> {
        let bound = 1.0 / (d_in as f64).sqrt();
        let w = pb.get(&[d_out, d_in], "weight", Init::Uniform(bound))?;
        let b = if bias {
            Some(pb.get(&[d_out], "bias", Init::Uniform(bound))?)
        } else {
            None
        };
        Ok(Self {
            inner: candle_nn::Linear::new(w, b),
        })
    }

    /// Applies the layer to the last axis.
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        Ok(candle_core::Module::forward(&self.inner, x)?)
    }

    /// The weight `[out, in]`.
    pub fn weight(&self) -> &Tensor {
        self.inner.weight()
    }
}

/// Layer normalisation over the last axis, eps 1e-5 (one fused op with its own backward).
#[derive(Debug, Clone)]
pub struct LayerNorm {
    weight: Tensor,
    bias: Tensor,
    eps: f64,
}

impl LayerNorm {
    /// `LayerNorm(dim)` under `pb` (`weight` = 1, `bias` = 0).
    pub fn new(dim: usize, pb: &ParamBuilder) -> Result<Self> {
        Ok(Self {
            weight: pb.get(&[dim], "weight", Init::Const(1.0))?,
            bias: pb.get(&[dim], "bias", Init::Const(0.0))?,
            eps: 1e-5,
        })
    }

    /// Normalises the last axis ([`crate::fused::layer_norm`]).
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        crate::fused::layer_norm(x, &self.weight, &self.bias, self.eps)
    }
}

/// GELU with the exact erf form (PyTorch `nn.GELU()` default).
pub fn gelu(x: &Tensor) -> Result<Tensor> {
    crate::fused::gelu_erf(x)
}

/// GEGLU: split the last axis into halves (a, g) and return a · gelu(g).
pub fn geglu(x: &Tensor) -> Result<Tensor> {
    let d = x.dim(D::Minus1)?;
    if d % 2 != 0 {
        return Err(DecodeError::Shape(format!("GEGLU of odd width {d}")));
    }
    let a = x.narrow(D::Minus1, 0, d / 2)?;
    let g = x.narrow(D::Minus1, d / 2, d / 2)?;
    Ok((a * crate::fused::gelu_erf(&g)?)?)
}

/// Inverted dropout: in training each entry is zeroed with probability `p` and the rest scaled
/// by 1/(1 − p); at evaluation it is the identity. On the CPU the mask is drawn entry by entry
/// from the caller's seeded ChaCha8 stream (bit-reproducible everywhere); on a GPU it is drawn
/// on the device by the device's generator, which the training loops seed once from that
/// stream ([`seed_device`]), so a run is reproducible on the same device and build and no
/// host-side mask is built and copied.
#[derive(Debug, Clone, Copy)]
pub struct Dropout {
    p: f64,
}

impl Dropout {
    /// Dropout with probability `p` ∈ [0, 1).
    pub fn new(p: f64) -> Result<Self> {
        if !(0.0..1.0).contains(&p) {
            return Err(DecodeError::param("dropout", format!("{p} not in [0, 1)")));
        }
        Ok(Self { p })
    }

    /// Applies dropout when `rng` is given (training), identity otherwise.
    pub fn forward(&self, x: &Tensor, rng: Option<&mut ChaCha8Rng>) -> Result<Tensor> {
        match rng {
            Some(rng) if self.p > 0.0 => {
                let keep = 1.0 / (1.0 - self.p);
                let mask = if x.device().is_cpu() {
                    let mask: Vec<f64> = (0..x.elem_count())
                        .map(|_| {
                            if rng.random::<f64>() < self.p {
                                0.0
                            } else {
                                keep
                            }
                        })
                        .collect();
                    Tensor::from_vec(mask, x.shape(), x.device())?.to_dtype(x.dtype())?
                } else {
                    let u = Tensor::rand(0f32, 1f32, x.shape(), x.device())?;
                    (u.ge(self.p)?.to_dtype(x.dtype())? * keep)?
                };
                Ok((x * mask)?)
            }
            _ => Ok(x.clone()),
        }
    }
}

/// Seeds the random generator of a GPU `device` from `rng` (nothing on the CPU, whose dropout
/// masks come from `rng` itself). Training loops call it once per run: candle 0.11.1 reseeds
/// by creating a new cuRAND generator (device allocation, state set-up, and a synchronising
/// free of the old one), milliseconds each, which per dropout mask was most of a POYO step.
pub fn seed_device(device: &Device, rng: &mut ChaCha8Rng) -> Result<()> {
    if !device.is_cpu() {
        device.set_seed(rng.random::<u64>())?;
    }
    Ok(())
}

/// Embedding table `[n, dim]`; an optional padding row is zero and never receives a gradient
/// (PyTorch `padding_idx`).
#[derive(Debug, Clone)]
pub struct Embedding {
    weight: Tensor,
    row_mask: Option<Tensor>,
    dim: usize,
}

impl Embedding {
    /// `Embedding(n, dim)` under `pb` (`weight`, initialised N(0, sd²); the padding row 0).
    pub fn new(
        n: usize,
        dim: usize,
        padding_idx: Option<usize>,
        sd: f64,
        pb: &ParamBuilder,
    ) -> Result<Self> {
        if padding_idx.is_some_and(|p| p >= n) {
            return Err(DecodeError::param("padding_idx", "outside the table"));
        }
        let weight = pb.get(&[n, dim], "weight", Init::Normal(sd))?;
        let row_mask = match padding_idx {
            Some(p) => {
                let m: Vec<f64> = (0..n).map(|i| if i == p { 0.0 } else { 1.0 }).collect();
                Some(Tensor::from_vec(m, (n, 1), weight.device())?.to_dtype(weight.dtype())?)
            }
            None => None,
        };
        Ok(Self {
            weight,
            row_mask,
            dim,
        })
    }

    /// Rows for the indices `ids` (any shape, u32): output shape `ids.shape + [dim]`.
    ///
    /// On a CUDA device the table's gradient is a one-hot matrix product
    /// ([`gather_rows`]); elsewhere it is candle's `index_add`.
    pub fn forward(&self, ids: &Tensor) -> Result<Tensor> {
        let table = match &self.row_mask {
            Some(m) => self.weight.broadcast_mul(m)?,
            None => self.weight.clone(),
        };
        let mut shape = ids.dims().to_vec();
        let ids = ids.flatten_all()?;
        let flat = if table.device().is_cuda() {
            gather_rows(&table, &ids)?
        } else {
            table.index_select(&ids, 0)?
        };
        shape.push(self.dim);
        Ok(flat.reshape(shape)?)
    }
}

/// `table.index_select(ids, 0)` for a table `[n, dim]` and u32 `ids` `[N]`, with the table's
/// gradient computed as `onehot(ids)ᵀ · grad` (gemms over chunks of at most 2²⁵ one-hot
/// entries) instead of `index_add`.
///
/// candle 0.11.1's CUDA `index_add` gives one thread to each of the `dim` output columns and
/// walks all `N` indices in sequence, so the backward of a spike-token embedding (POYO:
/// N = 128 windows × ~1 000 tokens) runs 64 threads through 10⁵ dependent steps; the gemms
/// spread the same sum over the whole GPU. The values are the same up to summation order.
pub fn gather_rows(table: &Tensor, ids: &Tensor) -> Result<Tensor> {
    gather_rows_chunked(table, ids, 1 << 25)
}

fn gather_rows_chunked(table: &Tensor, ids: &Tensor, max_onehot: usize) -> Result<Tensor> {
    let (n_rows, _) = table.dims2()?;
    let ids = ids.flatten_all()?.contiguous()?;
    let gathered = table.detach().index_select(&ids, 0)?;
    let op = GatherRows {
        ids,
        n_rows,
        chunk: (max_onehot / n_rows.max(1)).max(1),
    };
    Ok(table.apply_op2(&gathered, op)?)
}

/// The custom op of [`gather_rows`]: forward returns (a copy of) the rows gathered by
/// `index_select`, backward routes the gradient to the table.
struct GatherRows {
    ids: Tensor,
    n_rows: usize,
    /// Indices per one-hot block.
    chunk: usize,
}

/// A copy of a fresh contiguous tensor's storage.
fn copy_storage<S: candle_core::backend::BackendStorage>(
    s: &S,
    l: &candle_core::Layout,
) -> candle_core::Result<(S, candle_core::Shape)> {
    if !(l.is_contiguous() && l.start_offset() == 0) {
        candle_core::bail!("gather-rows expects a contiguous tensor at offset 0");
    }
    Ok((s.try_clone(l)?, l.shape().clone()))
}

impl candle_core::CustomOp2 for GatherRows {
    fn name(&self) -> &'static str {
        "gather-rows"
    }

    fn cpu_fwd(
        &self,
        _: &candle_core::CpuStorage,
        _: &candle_core::Layout,
        s: &candle_core::CpuStorage,
        l: &candle_core::Layout,
    ) -> candle_core::Result<(candle_core::CpuStorage, candle_core::Shape)> {
        copy_storage(s, l)
    }

    #[cfg(feature = "cuda")]
    fn cuda_fwd(
        &self,
        _: &candle_core::CudaStorage,
        _: &candle_core::Layout,
        s: &candle_core::CudaStorage,
        l: &candle_core::Layout,
    ) -> candle_core::Result<(candle_core::CudaStorage, candle_core::Shape)> {
        copy_storage(s, l)
    }

    fn bwd(
        &self,
        _table: &Tensor,
        _gathered: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>)> {
        let n = self.ids.dim(0)?;
        let grad = grad.contiguous()?;
        let rows =
            Tensor::arange(0u32, self.n_rows as u32, grad.device())?.reshape((1, self.n_rows))?;
        let mut acc: Option<Tensor> = None;
        for start in (0..n).step_by(self.chunk) {
            let len = self.chunk.min(n - start);
            let onehot = self
                .ids
                .narrow(0, start, len)?
                .reshape((len, 1))?
                .broadcast_eq(&rows)?
                .to_dtype(grad.dtype())?;
            let part = onehot.t()?.matmul(&grad.narrow(0, start, len)?)?;
            acc = Some(match acc {
                Some(a) => (a + part)?,
                None => part,
            });
        }
        let dim = grad.dim(1)?;
        let acc = match acc {
            Some(a) => a,
            None => Tensor::zeros((self.n_rows, dim), grad.dtype(), grad.device())?,
        };
        Ok((Some(acc), None))
    }
}

/// Scaled dot-product attention over heads ([`attend_heads`] after splitting the heads).
///
/// `q` `[B, N_q, H·d]`, `k`/`v` `[B, N_k, H·d]`; `key_mask` `[B, N_k]` (u8, 1 = real key): masked
/// keys get weight 0. Returns `[B, N_q, H·d]`.
pub fn attend(
    q: &Tensor,
    k: &Tensor,
    v: &Tensor,
    heads: usize,
    key_mask: Option<&Tensor>,
) -> Result<Tensor> {
    let (b, nq, hd) = q.dims3()?;
    let nk = k.dim(1)?;
    if hd % heads != 0 {
        return Err(DecodeError::Shape(format!(
            "{hd} not divisible by {heads} heads"
        )));
    }
    let d = hd / heads;
    let split = |t: &Tensor, n: usize| -> Result<Tensor> {
        Ok(t.reshape((b, n, heads, d))?.transpose(1, 2)?.contiguous()?)
    };
    let (q, k, v) = (split(q, nq)?, split(k, nk)?, split(v, nk)?);
    let out = attend_heads(&q, &k, &v, key_mask, &Dropout::new(0.0)?, None)?;
    Ok(out.transpose(1, 2)?.reshape((b, nq, hd))?)
}

/// Multi-head self-attention: `to_qkv` Linear(dim, 3·H·d, no bias), attention, then
/// `to_out.0` Linear(H·d, dim) + dropout (skipped, as in EIT, when H = 1 and d = dim).
#[derive(Debug, Clone)]
pub struct SelfAttention {
    to_qkv: Linear,
    to_out: Option<Linear>,
    dropout: Dropout,
    heads: usize,
    inner: usize,
}

impl SelfAttention {
    /// `heads` heads of width `dim_head` on tokens of width `dim`.
    pub fn new(
        dim: usize,
        heads: usize,
        dim_head: usize,
        dropout: f64,
        pb: &ParamBuilder,
    ) -> Result<Self> {
        let inner = heads * dim_head;
        let project = !(heads == 1 && dim_head == dim);
        Ok(Self {
            to_qkv: Linear::new(dim, 3 * inner, false, &pb.pp("to_qkv"))?,
            to_out: if project {
                Some(Linear::new(inner, dim, true, &pb.pp("to_out.0"))?)
            } else {
                None
            },
            dropout: Dropout::new(dropout)?,
            heads,
            inner,
        })
    }

    /// `x` `[B, N, dim]` → `[B, N, dim]`.
    pub fn forward(
        &self,
        x: &Tensor,
        key_mask: Option<&Tensor>,
        rng: Option<&mut ChaCha8Rng>,
    ) -> Result<Tensor> {
        let qkv = self.to_qkv.forward(x)?;
        let q = qkv.narrow(D::Minus1, 0, self.inner)?;
        let k = qkv.narrow(D::Minus1, self.inner, self.inner)?;
        let v = qkv.narrow(D::Minus1, 2 * self.inner, self.inner)?;
        let out = attend(&q, &k, &v, self.heads, key_mask)?;
        match &self.to_out {
            Some(l) => self.dropout.forward(&l.forward(&out)?, rng),
            None => Ok(out),
        }
    }
}

/// Multi-head cross-attention (queries from `x`, keys and values from `context`):
/// `to_q` Linear(dim, H·d, no bias), `to_kv` Linear(dim_ctx, 2·H·d, no bias), `to_out`
/// Linear(H·d, dim) + dropout (POYO's layout).
#[derive(Debug, Clone)]
pub struct CrossAttention {
    to_q: Linear,
    to_kv: Linear,
    to_out: Linear,
    dropout: Dropout,
    heads: usize,
    inner: usize,
}

impl CrossAttention {
    /// Queries of width `dim`, context of width `dim_ctx`.
    pub fn new(
        dim: usize,
        dim_ctx: usize,
        heads: usize,
        dim_head: usize,
        dropout: f64,
        pb: &ParamBuilder,
    ) -> Result<Self> {
        let inner = heads * dim_head;
        Ok(Self {
            to_q: Linear::new(dim, inner, false, &pb.pp("to_q"))?,
            to_kv: Linear::new(dim_ctx, 2 * inner, false, &pb.pp("to_kv"))?,
            to_out: Linear::new(inner, dim, true, &pb.pp("to_out"))?,
            dropout: Dropout::new(dropout)?,
            heads,
            inner,
        })
    }

    /// `x` `[B, N_q, dim]`, `context` `[B, N_k, dim_ctx]`, `key_mask` `[B, N_k]` → `[B, N_q, dim]`.
    pub fn forward(
        &self,
        x: &Tensor,
        context: &Tensor,
        key_mask: Option<&Tensor>,
        rng: Option<&mut ChaCha8Rng>,
    ) -> Result<Tensor> {
        let q = self.to_q.forward(x)?;
        let kv = self.to_kv.forward(context)?;
        let k = kv.narrow(D::Minus1, 0, self.inner)?;
        let v = kv.narrow(D::Minus1, self.inner, self.inner)?;
        let out = attend(&q, &k, &v, self.heads, key_mask)?;
        self.dropout.forward(&self.to_out.forward(&out)?, rng)
    }
}

/// Feed-forward block: Linear(dim, hidden) → GELU (or GEGLU, halving the width) → Dropout →
/// Linear → Dropout (names `net.0`, `net.3`, as in EIT's `FeedForward`).
#[derive(Debug, Clone)]
pub struct FeedForward {
    lin1: Linear,
    lin2: Linear,
    dropout: Dropout,
    geglu: bool,
}

impl FeedForward {
    /// `hidden` is the width of the first Linear's output (for GEGLU the second Linear gets
    /// `hidden / 2`).
    pub fn new(
        dim: usize,
        hidden: usize,
        dropout: f64,
        geglu: bool,
        pb: &ParamBuilder,
    ) -> Result<Self> {
        let mid = if geglu { hidden / 2 } else { hidden };
        Ok(Self {
            lin1: Linear::new(dim, hidden, true, &pb.pp("net.0"))?,
            lin2: Linear::new(mid, dim, true, &pb.pp("net.3"))?,
            dropout: Dropout::new(dropout)?,
            geglu,
        })
    }

    /// Applies the block to the last axis.
    pub fn forward(&self, x: &Tensor, mut rng: Option<&mut ChaCha8Rng>) -> Result<Tensor> {
        let h = self.lin1.forward(x)?;
        let h = if self.geglu { geglu(&h)? } else { gelu(&h)? };
        let h = self.dropout.forward(&h, rng.as_deref_mut())?;
        self.dropout.forward(&self.lin2.forward(&h)?, rng)
    }
}

/// One PreNorm transformer layer as in EIT: a = Attn(LN(x)); x = a if `offset` else x + a;
/// then, with a feed-forward block, x = x + FF(LN(x)).
#[derive(Debug, Clone)]
pub struct TransformerLayer {
    norm1: LayerNorm,
    attn: SelfAttention,
    ff: Option<(LayerNorm, FeedForward)>,
    offset: bool,
}

/// Shape of a [`TransformerLayer`].
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct LayerConfig {
    /// Token width.
    pub dim: usize,
    /// Attention heads.
    pub heads: usize,
    /// Width per head.
    pub dim_head: usize,
    /// Feed-forward hidden width.
    pub mlp: usize,
    /// Dropout probability (attention output and feed-forward).
    pub dropout: f64,
    /// `true`: no residual around attention (EIT's `offset`).
    pub offset: bool,
    /// Whether the feed-forward sub-block is applied.
    pub ff: bool,
}

impl TransformerLayer {
    /// The layer under `pb` (names `0.0.norm`, `0.0.fn`, `0.1.norm`, `0.1.fn` as in EIT's
    /// `Transformer.layers[i]`). The feed-forward parameters are created only when `ff`.
    pub fn new(cfg: &LayerConfig, pb: &ParamBuilder) -> Result<Self> {
        Ok(Self {
            norm1: LayerNorm::new(cfg.dim, &pb.pp("0.norm"))?,
            attn: SelfAttention::new(
                cfg.dim,
                cfg.heads,
                cfg.dim_head,
                cfg.dropout,
                &pb.pp("0.fn"),
            )?,
            ff: if cfg.ff {
                Some((
                    LayerNorm::new(cfg.dim, &pb.pp("1.norm"))?,
                    FeedForward::new(cfg.dim, cfg.mlp, cfg.dropout, false, &pb.pp("1.fn"))?,
                ))
            } else {
                None
            },
            offset: cfg.offset,
        })
    }

    /// `x` `[B, N, dim]` → `[B, N, dim]`.
    pub fn forward(
        &self,
        x: &Tensor,
        key_mask: Option<&Tensor>,
        mut rng: Option<&mut ChaCha8Rng>,
    ) -> Result<Tensor> {
        let a = self
            .attn
            .forward(&self.norm1.forward(x)?, key_mask, rng.as_deref_mut())?;
        let x = if self.offset { a } else { (x + a)? };
        match &self.ff {
            Some((norm, ff)) => Ok((&x + ff.forward(&norm.forward(&x)?, rng)?)?),
            None => Ok(x),
        }
    }
}

/// Softmax cross-entropy of `logits` `[n, classes]` against `labels` `[n]` (u32), mean over n,
/// composed from `log_softmax` (which has a backward).
pub fn cross_entropy(logits: &Tensor, labels: &Tensor) -> Result<Tensor> {
    Ok(candle_nn::loss::cross_entropy(logits, labels)?)
}

/// Scaled dot-product attention on heads that are already split: `q` `[B, H, N_q, d]`, `k`/`v`
/// `[B, H, N_k, d]`, scale 1/√d, `key_mask` `[B, N_k]` (u8, 1 = real key; masked keys get
/// weight 0), and dropout on the attention probabilities when `rng` is given (softmax:
/// [`crate::fused::softmax_last_dim`]). Returns `[B, H, N_q, d]`.
pub fn attend_heads(
    q: &Tensor,
    k: &Tensor,
    v: &Tensor,
    key_mask: Option<&Tensor>,
    dropout: &Dropout,
    rng: Option<&mut ChaCha8Rng>,
) -> Result<Tensor> {
    let (b, _, _, d) = q.dims4()?;
    let nk = k.dim(2)?;
    let mut scores = (q.matmul(&k.t()?)? * (1.0 / (d as f64).sqrt()))?;
    if let Some(mask) = key_mask {
        if mask.dims() != [b, nk] {
            return Err(DecodeError::Shape(format!(
                "key mask {:?} for {b} × {nk} keys",
                mask.dims()
            )));
        }
        // 0 on real keys, −1e30 on masked ones: adding it leaves a masked score at exactly
        // −1e30 (its ulp is far above any score), so the weight is 0 (uniform on a row with
        // no real key, as a fill would give).
        let bias = ((mask.to_dtype(scores.dtype())? - 1.0)? * 1e30)?.reshape((b, 1, 1, nk))?;
        scores = scores.broadcast_add(&bias)?;
    }
    let attn = crate::fused::softmax_last_dim(&scores)?;
    let attn = dropout.forward(&attn, rng)?;
    Ok(attn.matmul(&v.contiguous()?)?)
}

/// Saves `varmap` (safetensors at `path`) and `meta` (JSON at `path` with extension `json`),
/// each atomically ([`spikelab_data::io::write_atomic`]). Both targets are checked before
/// either is written: an existing one is [`DecodeError::ModelFile`] unless `force`.
pub(crate) fn save_checkpoint<M: serde::Serialize>(
    varmap: &VarMap,
    meta: &M,
    path: &std::path::Path,
    force: bool,
) -> Result<()> {
    let json = path.with_extension("json");
    for p in [path, json.as_path()] {
        if p.exists() && !force {
            return Err(DecodeError::ModelFile {
                path: p.to_path_buf(),
                reason: "exists (pass force to overwrite)".into(),
            });
        }
    }
    let text = serde_json::to_string_pretty(meta).map_err(|e| DecodeError::ModelFile {
        path: json.clone(),
        reason: e.to_string(),
    })?;
    spikelab_data::io::write_atomic(path, force, |tmp| {
        varmap.save(tmp)?;
        Ok::<(), DecodeError>(())
    })?;
    spikelab_data::io::write_bytes_atomic(&json, text.as_bytes(), force)?;
    Ok(())
}

/// Reads the JSON metadata that [`save_checkpoint`] wrote next to `path`; unreadable JSON is
/// [`DecodeError::ModelFile`].
pub(crate) fn load_checkpoint_meta<M: serde::de::DeserializeOwned>(
    path: &std::path::Path,
) -> Result<M> {
    let json = path.with_extension("json");
    let text = std::fs::read_to_string(&json).map_err(|source| DecodeError::Io {
        path: json.clone(),
        source,
    })?;
    serde_json::from_str(&text).map_err(|e| DecodeError::ModelFile {
        path: json,
        reason: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gather_rows_matches_index_select_in_value_and_gradient() -> Result<()> {
        let dev = Device::Cpu;
        let vals: Vec<f64> = (0..15).map(|i| ((i * 7) % 11) as f64 - 4.5).collect();
        let table = Var::from_vec(vals, (5, 3), &dev)?;
        let ids = Tensor::new(&[0u32, 2, 2, 4, 2, 0, 1, 4, 4], &dev)?;
        let w = Tensor::arange(0f64, 27.0, &dev)?.reshape((9, 3))?.cos()?;
        let reference = table.as_tensor().index_select(&ids, 0)?;
        let g_ref = (&reference * &w)?.sum_all()?.backward()?;
        let g_ref = g_ref
            .get(table.as_tensor())
            .expect("gradient")
            .to_vec2::<f64>()?;
        // one block, then blocks of 2 and 3 indices (the last one short)
        for max_onehot in [1 << 25, 10, 15] {
            let out = gather_rows_chunked(table.as_tensor(), &ids, max_onehot)?;
            assert_eq!(out.to_vec2::<f64>()?, reference.to_vec2::<f64>()?);
            let g = (&out * &w)?.sum_all()?.backward()?;
            let g = g
                .get(table.as_tensor())
                .expect("gradient")
                .to_vec2::<f64>()?;
            for (a, b) in g.iter().flatten().zip(g_ref.iter().flatten()) {
                assert!((a - b).abs() < 1e-12, "{a} vs {b}");
            }
        }
        // row 3 is never picked: zero gradient
        let out = gather_rows(table.as_tensor(), &ids)?;
        let g = (&out * &w)?.sum_all()?.backward()?;
        let row3 = g.get(table.as_tensor()).expect("gradient").get(3)?;
        assert_eq!(row3.to_vec1::<f64>()?, vec![0.0; 3]);
        Ok(())
    }
}
