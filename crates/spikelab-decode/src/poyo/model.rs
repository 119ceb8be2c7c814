//! The POYO network (PerceiverIO with rotary time embeddings) on candle, composed ops only.

use std::collections::HashMap;
use std::path::Path;

use candle_core::{D, DType, Device, Tensor, Var};
use candle_nn::VarMap;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use super::tokenize::{Batch, TargetNorm, WindowGrid};
use super::vocab::Vocab;
use crate::error::{DecodeError, Result};
use crate::nn::{Dropout, Embedding, Init, LayerNorm, Linear, ParamBuilder, attend_heads, geglu};

/// Shape and dropout of a POYO model.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct PoyoConfig {
    /// Token and latent width.
    pub dim: usize,
    /// Processor (self-attention) layers.
    pub depth: usize,
    /// Width of each attention head (half of it is rotated).
    pub dim_head: usize,
    /// Heads of the encoder and decoder cross-attention.
    pub cross_heads: usize,
    /// Heads of the processor self-attention.
    pub self_heads: usize,
    /// Latent queries per latent step.
    pub latents_per_step: usize,
    /// Latent step (s).
    pub latent_step_s: f64,
    /// Context window L (s).
    pub context_s: f64,
    /// Dropout inside the feed-forward blocks.
    pub ffn_dropout: f64,
    /// Dropout on the processor blocks' outputs.
    pub lin_dropout: f64,
    /// Dropout on attention probabilities.
    pub atn_dropout: f64,
    /// Outputs per query.
    pub dim_out: usize,
    /// Shortest rotary period (s).
    pub t_min_s: f64,
    /// Longest rotary period (s).
    pub t_max_s: f64,
}

impl PoyoConfig {
    /// POYO-1.3M (`poyo_1.3M.yaml`): dim 64, depth 6, 2 cross heads, 8 self heads, 16 latents
    /// per 125 ms step, 1-s context.
    pub fn poyo_1_3m(dim_out: usize) -> Self {
        Self {
            dim: 64,
            depth: 6,
            dim_head: 64,
            cross_heads: 2,
            self_heads: 8,
            latents_per_step: 16,
            latent_step_s: 0.125,
            context_s: 1.0,
            ffn_dropout: 0.2,
            lin_dropout: 0.4,
            atn_dropout: 0.2,
            dim_out,
            t_min_s: 1e-4,
            t_max_s: 2.0627,
        }
    }

    /// POYO-11.8M: dim 128, depth 24, 4 cross heads, 32 latents per step, rest as 1.3M.
    pub fn poyo_11_8m(dim_out: usize) -> Self {
        Self {
            dim: 128,
            depth: 24,
            cross_heads: 4,
            latents_per_step: 32,
            ..Self::poyo_1_3m(dim_out)
        }
    }

    /// A small configuration for CPU runs and tests: dim 32, depth 1, one 32-wide cross head,
    /// 2 self heads, 4 latents per 250-ms step, no dropout, 1-s context (the configuration of
    /// the synthetic CI check in `tests/poyo.rs`).
    ///
    /// ```
    /// let c = spikelab_decode::poyo::PoyoConfig::small(2);
    /// assert_eq!((c.dim, c.depth, c.grid().latents().0.len()), (32, 1, 16));
    /// ```
    pub fn small(dim_out: usize) -> Self {
        Self {
            dim: 32,
            depth: 1,
            dim_head: 32,
            cross_heads: 1,
            self_heads: 2,
            latents_per_step: 4,
            latent_step_s: 0.25,
            ffn_dropout: 0.0,
            lin_dropout: 0.0,
            atn_dropout: 0.0,
            ..Self::poyo_1_3m(dim_out)
        }
    }

    /// Checks every field.
    pub fn check(&self) -> Result<()> {
        let pos = |name, v: usize| {
            if v == 0 {
                Err(DecodeError::param(name, "must be ≥ 1"))
            } else {
                Ok(())
            }
        };
        pos("dim", self.dim)?;
        pos("cross_heads", self.cross_heads)?;
        pos("self_heads", self.self_heads)?;
        pos("latents_per_step", self.latents_per_step)?;
        pos("dim_out", self.dim_out)?;
        if self.dim_head < 4 || !self.dim_head.is_multiple_of(4) {
            return Err(DecodeError::param("dim_head", "must be a multiple of 4"));
        }
        if !(self.context_s.is_finite()
            && self.latent_step_s > 0.0
            && self.latent_step_s <= self.context_s)
        {
            return Err(DecodeError::param(
                "latent_step_s",
                "need 0 < latent_step_s ≤ context_s (finite)",
            ));
        }
        if !(self.t_min_s > 0.0 && self.t_min_s < self.t_max_s && self.t_max_s.is_finite()) {
            return Err(DecodeError::param("t_min_s", "need 0 < t_min_s < t_max_s"));
        }
        for (n, p) in [
            ("ffn_dropout", self.ffn_dropout),
            ("lin_dropout", self.lin_dropout),
            ("atn_dropout", self.atn_dropout),
        ] {
            if !(0.0..1.0).contains(&p) {
                return Err(DecodeError::param(n, format!("{p} not in [0, 1)")));
            }
        }
        Ok(())
    }

    /// The window geometry.
    pub fn grid(&self) -> WindowGrid {
        WindowGrid {
            context_s: self.context_s,
            latent_step_s: self.latent_step_s,
            latents_per_step: self.latents_per_step,
        }
    }
}

/// Rotary time embedding on the first half of each head: `dim_head/4` periods log-spaced from
/// `t_min` to `t_max` (inclusive, computed in f32 as the reference does), ω = 2π/period, the
/// other half of the head unrotated (ω = 0). Pairs are interleaved: (x_{2i}, x_{2i+1}) is
/// rotated by θ_i = t·ω_i, computed in f64 from f64 times (as the reference does with its f64
/// timestamps) and then cast to the model dtype.
#[derive(Debug, Clone, PartialEq)]
pub struct Rotary {
    omega: Vec<f32>,
    f32_angles: bool,
}

impl Rotary {
    /// ω for heads of width `dim_head`.
    pub fn new(dim_head: usize, t_min: f64, t_max: f64) -> Self {
        let n = dim_head / 4;
        let (lo, hi) = ((t_min as f32).ln(), (t_max as f32).ln());
        let mut omega = vec![0f32; dim_head / 2];
        for (i, w) in omega.iter_mut().take(n).enumerate() {
            let x = if n > 1 {
                i as f32 / (n - 1) as f32
            } else {
                0.0
            };
            let period = (lo + x * (hi - lo)).exp();
            *w = 2.0 * std::f32::consts::PI / period;
        }
        Self {
            omega,
            f32_angles: false,
        }
    }

    /// Computes θ = t·ω in f32 for f32 models (the arithmetic of the reference run with f32
    /// timestamps; at t ≈ 1 s the largest angles then carry errors of ~1e-3 rad). Off by default.
    pub fn set_f32_angles(&mut self, on: bool) {
        self.f32_angles = on;
    }

    /// ω per frequency pair (`dim_head/2` values).
    pub fn omega(&self) -> &[f32] {
        &self.omega
    }

    /// Replaces ω (e.g. with the reference's stored buffer).
    pub fn set_omega(&mut self, omega: Vec<f32>) -> Result<()> {
        if omega.len() != self.omega.len() {
            return Err(DecodeError::Shape(format!(
                "omega of {} values for {}",
                omega.len(),
                self.omega.len()
            )));
        }
        self.omega = omega;
        Ok(())
    }

    /// (cos θ, sin θ) `[B, 1, N, dim_head]` for times `[B·N]`. The angles are computed on
    /// `device` (only the times are copied there), each (cos, sin) repeated for the two
    /// entries of its pair.
    pub fn embed(
        &self,
        times: &[f64],
        b: usize,
        dtype: DType,
        device: &Device,
    ) -> Result<(Tensor, Tensor)> {
        let n = times.len() / b;
        let half = self.omega.len();
        let t = Tensor::from_slice(times, (b * n, 1), device)?;
        let angles = if dtype == DType::F64 || !self.f32_angles {
            let w: Vec<f64> = self.omega.iter().map(|&w| w as f64).collect();
            t.broadcast_mul(&Tensor::from_vec(w, (1, half), device)?)?
        } else {
            let w = Tensor::from_slice(&self.omega, (1, half), device)?;
            t.to_dtype(DType::F32)?.broadcast_mul(&w)?
        };
        let pairs = |x: Tensor| -> Result<Tensor> {
            Ok(x.to_dtype(dtype)?
                .unsqueeze(2)?
                .broadcast_as((b * n, half, 2))?
                .contiguous()?
                .reshape((b, 1, n, 2 * half))?)
        };
        Ok((pairs(angles.cos()?)?, pairs(angles.sin()?)?))
    }
}

/// Rotates `x` `[B, H, N, d]` by (cos, sin) `[B, 1, N, d]`: x·cos + rot(x)·sin with
/// rot(x_{2i}, x_{2i+1}) = (−x_{2i+1}, x_{2i}). Pass −sin to rotate by −θ.
pub fn rotate(x: &Tensor, cos: &Tensor, sin: &Tensor) -> Result<Tensor> {
    let (b, h, n, d) = x.dims4()?;
    let pairs = x.reshape((b, h, n, d / 2, 2))?;
    let x0 = pairs.narrow(4, 0, 1)?;
    let x1 = pairs.narrow(4, 1, 1)?;
    let rot = Tensor::cat(&[&x1.neg()?, &x0], 4)?.reshape((b, h, n, d))?;
    Ok((x.broadcast_mul(cos)? + rot.broadcast_mul(sin)?)?)
}

fn split_heads(t: &Tensor, heads: usize) -> Result<Tensor> {
    let (b, n, hd) = t.dims3()?;
    Ok(t.reshape((b, n, heads, hd / heads))?
        .transpose(1, 2)?
        .contiguous()?)
}

fn merge_heads(t: &Tensor) -> Result<Tensor> {
    let (b, h, n, d) = t.dims4()?;
    Ok(t.transpose(1, 2)?.reshape((b, n, h * d))?)
}

/// Rotary (cos, sin) of a set of positions.
pub type RotEmb = (Tensor, Tensor);

/// Attention on rotated heads: q by the query times, k (and v when `rotate_value`) by the key
/// times, then the output by −(query time) when `rotate_value`.
#[allow(clippy::too_many_arguments)]
fn rotary_attend(
    q: &Tensor,
    k: &Tensor,
    v: &Tensor,
    heads: usize,
    q_rot: &RotEmb,
    k_rot: &RotEmb,
    rotate_value: bool,
    key_mask: Option<&Tensor>,
    dropout: &Dropout,
    rng: Option<&mut ChaCha8Rng>,
) -> Result<Tensor> {
    let q = rotate(&split_heads(q, heads)?, &q_rot.0, &q_rot.1)?;
    let k = rotate(&split_heads(k, heads)?, &k_rot.0, &k_rot.1)?;
    let mut v = split_heads(v, heads)?;
    if rotate_value {
        v = rotate(&v, &k_rot.0, &k_rot.1)?;
    }
    let mut out = attend_heads(&q, &k, &v, key_mask, dropout, rng)?;
    if rotate_value {
        out = rotate(&out, &q_rot.0, &q_rot.1.neg()?)?;
    }
    merge_heads(&out)
}

/// Cross-attention with rotary time embeddings (torch-brain `RotaryCrossAttention`): LN on the
/// queries and a separate LN on the context, `to_q`, `to_kv` (no bias), `to_out`.
#[derive(Debug, Clone)]
pub struct RotaryCrossAttention {
    norm: LayerNorm,
    norm_context: LayerNorm,
    to_q: Linear,
    to_kv: Linear,
    to_out: Linear,
    heads: usize,
    inner: usize,
    dropout: Dropout,
    rotate_value: bool,
}

impl RotaryCrossAttention {
    /// Queries and context of width `dim`.
    pub fn new(
        dim: usize,
        heads: usize,
        dim_head: usize,
        atn_dropout: f64,
        rotate_value: bool,
        pb: &ParamBuilder,
    ) -> Result<Self> {
        let inner = heads * dim_head;
        Ok(Self {
            norm: LayerNorm::new(dim, &pb.pp("norm"))?,
            norm_context: LayerNorm::new(dim, &pb.pp("norm_context"))?,
            to_q: Linear::new(dim, inner, false, &pb.pp("to_q"))?,
            to_kv: Linear::new(dim, 2 * inner, false, &pb.pp("to_kv"))?,
            to_out: Linear::new(inner, dim, true, &pb.pp("to_out"))?,
            heads,
            inner,
            dropout: Dropout::new(atn_dropout)?,
            rotate_value,
        })
    }

    /// `x` `[B, N_q, dim]`, `context` `[B, N_k, dim]` → `[B, N_q, dim]`.
    pub fn forward(
        &self,
        x: &Tensor,
        context: &Tensor,
        q_rot: &RotEmb,
        k_rot: &RotEmb,
        key_mask: Option<&Tensor>,
        rng: Option<&mut ChaCha8Rng>,
    ) -> Result<Tensor> {
        let q = self.to_q.forward(&self.norm.forward(x)?)?;
        let kv = self.to_kv.forward(&self.norm_context.forward(context)?)?;
        let k = kv.narrow(D::Minus1, 0, self.inner)?;
        let v = kv.narrow(D::Minus1, self.inner, self.inner)?;
        let out = rotary_attend(
            &q,
            &k,
            &v,
            self.heads,
            q_rot,
            k_rot,
            self.rotate_value,
            key_mask,
            &self.dropout,
            rng,
        )?;
        self.to_out.forward(&out)
    }
}

/// Self-attention with rotary time embeddings (torch-brain `RotarySelfAttention`): one LN,
/// `to_qkv` (no bias), `to_out`.
#[derive(Debug, Clone)]
pub struct RotarySelfAttention {
    norm: LayerNorm,
    to_qkv: Linear,
    to_out: Linear,
    heads: usize,
    inner: usize,
    dropout: Dropout,
    rotate_value: bool,
}

impl RotarySelfAttention {
    /// Tokens of width `dim`.
    pub fn new(
        dim: usize,
        heads: usize,
        dim_head: usize,
        atn_dropout: f64,
        rotate_value: bool,
        pb: &ParamBuilder,
    ) -> Result<Self> {
        let inner = heads * dim_head;
        Ok(Self {
            norm: LayerNorm::new(dim, &pb.pp("norm"))?,
            to_qkv: Linear::new(dim, 3 * inner, false, &pb.pp("to_qkv"))?,
            to_out: Linear::new(inner, dim, true, &pb.pp("to_out"))?,
            heads,
            inner,
            dropout: Dropout::new(atn_dropout)?,
            rotate_value,
        })
    }

    /// `x` `[B, N, dim]` → `[B, N, dim]`.
    pub fn forward(
        &self,
        x: &Tensor,
        rot: &RotEmb,
        key_mask: Option<&Tensor>,
        rng: Option<&mut ChaCha8Rng>,
    ) -> Result<Tensor> {
        let qkv = self.to_qkv.forward(&self.norm.forward(x)?)?;
        let q = qkv.narrow(D::Minus1, 0, self.inner)?;
        let k = qkv.narrow(D::Minus1, self.inner, self.inner)?;
        let v = qkv.narrow(D::Minus1, 2 * self.inner, self.inner)?;
        let out = rotary_attend(
            &q,
            &k,
            &v,
            self.heads,
            rot,
            rot,
            self.rotate_value,
            key_mask,
            &self.dropout,
            rng,
        )?;
        self.to_out.forward(&out)
    }
}

/// LN → Linear(dim, 8·dim) → GEGLU → Dropout → Linear(4·dim, dim) (names `0`, `1.net.0`,
/// `1.net.3`, as torch-brain's `Sequential(LayerNorm, FeedForward)`).
#[derive(Debug, Clone)]
pub struct GegluBlock {
    norm: LayerNorm,
    lin1: Linear,
    lin2: Linear,
    dropout: Dropout,
}

impl GegluBlock {
    /// Block of width `dim` (hidden 4·dim).
    pub fn new(dim: usize, ffn_dropout: f64, pb: &ParamBuilder) -> Result<Self> {
        Ok(Self {
            norm: LayerNorm::new(dim, &pb.pp("0"))?,
            lin1: Linear::new(dim, 8 * dim, true, &pb.pp("1.net.0"))?,
            lin2: Linear::new(4 * dim, dim, true, &pb.pp("1.net.3"))?,
            dropout: Dropout::new(ffn_dropout)?,
        })
    }

    /// Applies the block to the last axis (no residual).
    pub fn forward(&self, x: &Tensor, rng: Option<&mut ChaCha8Rng>) -> Result<Tensor> {
        let h = geglu(&self.lin1.forward(&self.norm.forward(x)?)?)?;
        self.lin2.forward(&self.dropout.forward(&h, rng)?)
    }
}

/// Names of the tables that SparseLamb treats as sparse (rows move only with a gradient).
pub const SPARSE_TABLES: [&str; 2] = ["unit_emb.weight", "session_emb.weight"];

/// What a saved model holds besides the weights.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PoyoMeta {
    /// Shape.
    pub config: PoyoConfig,
    /// Unit vocabulary (row order of `unit_emb.weight`).
    pub units: Vocab,
    /// Session vocabulary (row order of `session_emb.weight`).
    pub sessions: Vocab,
    /// Target normalisation.
    pub norm: TargetNorm,
}

/// A POYO model: weights in a [`VarMap`] under torch-brain's state-dict names.
pub struct Poyo {
    meta: PoyoMeta,
    varmap: VarMap,
    dtype: DType,
    device: Device,
    rotary: Rotary,
    unit_emb: Embedding,
    session_emb: Embedding,
    token_type_emb: Embedding,
    latent_emb: Embedding,
    enc_atn: RotaryCrossAttention,
    enc_ffn: GegluBlock,
    proc: Vec<(RotarySelfAttention, GegluBlock)>,
    dec_atn: RotaryCrossAttention,
    dec_ffn: GegluBlock,
    readout: Linear,
    lin_dropout: Dropout,
}

impl std::fmt::Debug for Poyo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Poyo")
            .field("config", &self.meta.config)
            .field("units", &self.meta.units.len())
            .field("sessions", &self.meta.sessions.len())
            .finish_non_exhaustive()
    }
}

/// Hooked intermediate values of one forward pass, by the parity fixture's names
/// (`unit_emb`, `enc_atn`, `proc.3.ffn`, `output`, ...).
pub type Trace = Vec<(String, Tensor)>;

impl Poyo {
    /// A freshly initialised model (embeddings N(0, 0.02) with zero padding rows, Linear and
    /// LayerNorm as PyTorch) over the given vocabularies.
    pub fn new(meta: PoyoMeta, seed: u64, dtype: DType, device: &Device) -> Result<Self> {
        let model = Self::build(meta, VarMap::new(), seed, dtype, device)?;
        for name in SPARSE_TABLES {
            model.zero_row0(name)?;
        }
        Ok(model)
    }

    /// Builds the model around `varmap`, creating the parameters it does not hold yet.
    pub fn build(
        meta: PoyoMeta,
        varmap: VarMap,
        seed: u64,
        dtype: DType,
        device: &Device,
    ) -> Result<Self> {
        let c = meta.config;
        c.check()?;
        if meta.norm.mean.len() != c.dim_out || meta.norm.std.len() != c.dim_out {
            return Err(DecodeError::Shape(format!(
                "target normalisation of {} outputs for dim_out {}",
                meta.norm.mean.len(),
                c.dim_out
            )));
        }
        let pb = ParamBuilder::new(&varmap, seed, dtype, device);
        let emb = |n, name: &str, pad| Embedding::new(n, c.dim, pad, 0.02, &pb.pp(name));
        let unit_emb = emb(meta.units.len(), "unit_emb", Some(0))?;
        let session_emb = emb(meta.sessions.len(), "session_emb", Some(0))?;
        let token_type_emb = emb(4, "token_type_emb", None)?;
        let latent_emb = emb(c.latents_per_step, "latent_emb", None)?;
        let cross = |name: &str, rv| {
            RotaryCrossAttention::new(
                c.dim,
                c.cross_heads,
                c.dim_head,
                c.atn_dropout,
                rv,
                &pb.pp(name),
            )
        };
        let enc_atn = cross("enc_atn", true)?;
        let enc_ffn = GegluBlock::new(c.dim, c.ffn_dropout, &pb.pp("enc_ffn"))?;
        let proc = (0..c.depth)
            .map(|i| {
                let p = pb.pp(format!("proc_layers.{i}"));
                Ok((
                    RotarySelfAttention::new(
                        c.dim,
                        c.self_heads,
                        c.dim_head,
                        c.atn_dropout,
                        true,
                        &p.pp("0"),
                    )?,
                    GegluBlock::new(c.dim, c.ffn_dropout, &p.pp("1"))?,
                ))
            })
            .collect::<Result<Vec<_>>>()?;
        let dec_atn = cross("dec_atn", false)?;
        let dec_ffn = GegluBlock::new(c.dim, c.ffn_dropout, &pb.pp("dec_ffn"))?;
        let readout = Linear::new(c.dim, c.dim_out, true, &pb.pp("readout"))?;
        Ok(Self {
            rotary: Rotary::new(c.dim_head, c.t_min_s, c.t_max_s),
            lin_dropout: Dropout::new(c.lin_dropout)?,
            meta,
            varmap,
            dtype,
            device: device.clone(),
            unit_emb,
            session_emb,
            token_type_emb,
            latent_emb,
            enc_atn,
            enc_ffn,
            proc,
            dec_atn,
            dec_ffn,
            readout,
        })
    }

    /// A model whose parameters are `tensors` (torch-brain state-dict names; `rotary_emb.omega`
    /// replaces the computed ω). Every parameter of the model must be present with its shape.
    pub fn from_tensors(
        meta: PoyoMeta,
        tensors: &HashMap<String, Tensor>,
        dtype: DType,
        device: &Device,
    ) -> Result<Self> {
        let varmap = VarMap::new();
        {
            let mut data = varmap.data().lock().expect("varmap lock");
            for (k, t) in tensors {
                if k == "rotary_emb.omega" {
                    continue;
                }
                let t = t.to_dtype(dtype)?.to_device(device)?;
                data.insert(k.clone(), Var::from_tensor(&t)?);
            }
        }
        let n_given = tensors.keys().filter(|k| *k != "rotary_emb.omega").count();
        let mut model = Self::build(meta, varmap, 0, dtype, device)?;
        if model.varmap.all_vars().len() != n_given {
            return Err(DecodeError::Shape(format!(
                "{} tensors given, the model has {} parameters",
                n_given,
                model.varmap.all_vars().len()
            )));
        }
        let mut created = Vec::new();
        for k in model.varmap.data().lock().expect("varmap lock").keys() {
            if !tensors.contains_key(k) {
                created.push(k.clone());
            }
        }
        if !created.is_empty() {
            return Err(DecodeError::Shape(format!(
                "missing parameters {created:?}"
            )));
        }
        if let Some(omega) = tensors.get("rotary_emb.omega") {
            model
                .rotary
                .set_omega(omega.to_dtype(DType::F32)?.to_vec1::<f32>()?)?;
        }
        Ok(model)
    }

    fn zero_row0(&self, name: &str) -> Result<()> {
        let data = self.varmap.data().lock().expect("varmap lock");
        let var = data
            .get(name)
            .ok_or_else(|| DecodeError::Shape(format!("no parameter {name}")))?;
        let t = var.as_tensor();
        let n = t.dim(0)?;
        let rest = t.narrow(0, 1, n - 1)?;
        let zero = Tensor::zeros((1, t.dim(1)?), t.dtype(), t.device())?;
        var.set(&Tensor::cat(&[&zero, &rest], 0)?)?;
        Ok(())
    }

    /// Configuration, vocabularies and target normalisation.
    pub fn meta(&self) -> &PoyoMeta {
        &self.meta
    }

    /// Shape.
    pub fn config(&self) -> &PoyoConfig {
        &self.meta.config
    }

    /// The parameters.
    pub fn varmap(&self) -> &VarMap {
        &self.varmap
    }

    /// Device of the parameters.
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// Parameter dtype.
    pub fn dtype(&self) -> DType {
        self.dtype
    }

    /// The rotary embedding.
    pub fn rotary(&self) -> &Rotary {
        &self.rotary
    }

    /// The rotary embedding, to change how angles are computed.
    pub fn rotary_mut(&mut self) -> &mut Rotary {
        &mut self.rotary
    }

    /// Number of trainable parameters.
    pub fn n_parameters(&self) -> usize {
        self.varmap
            .all_vars()
            .iter()
            .map(|v| v.as_tensor().elem_count())
            .sum()
    }

    /// Adds rows for new unit and session ids (N(0, 0.02), seeded) and returns the model over
    /// the extended vocabularies; existing rows keep their values.
    pub fn extend_vocab(
        self,
        new_units: &[String],
        new_sessions: &[String],
        seed: u64,
    ) -> Result<Self> {
        let mut meta = self.meta.clone();
        meta.units.extend(new_units)?;
        meta.sessions.extend(new_sessions)?;
        let scratch = VarMap::new();
        let pb = ParamBuilder::new(&scratch, seed, self.dtype, &self.device);
        {
            let mut data = self.varmap.data().lock().expect("varmap lock");
            for (name, extra) in [
                ("unit_emb.weight", new_units.len()),
                ("session_emb.weight", new_sessions.len()),
            ] {
                if extra == 0 {
                    continue;
                }
                let old = data
                    .get(name)
                    .ok_or_else(|| DecodeError::Shape(format!("no parameter {name}")))?
                    .as_tensor()
                    .clone();
                let rows = pb.get(&[extra, self.meta.config.dim], name, Init::Normal(0.02))?;
                let t = Tensor::cat(&[&old, &rows], 0)?;
                data.insert(name.to_string(), Var::from_tensor(&t)?);
            }
        }
        Self::build(meta, self.varmap.clone(), seed, self.dtype, &self.device).map(|m| Self {
            rotary: self.rotary.clone(),
            ..m
        })
    }

    /// Forward pass: predictions `[B, n_out, dim_out]` (normalised units). Dropout is on when
    /// `rng` is given (training).
    pub fn forward(&self, batch: &Batch, rng: Option<&mut ChaCha8Rng>) -> Result<Tensor> {
        self.forward_traced(batch, rng, None)
    }

    /// [`Poyo::forward`] that also records the intermediate values into `trace`.
    pub fn forward_traced(
        &self,
        batch: &Batch,
        mut rng: Option<&mut ChaCha8Rng>,
        mut trace: Option<&mut Trace>,
    ) -> Result<Tensor> {
        let c = &self.meta.config;
        if batch.dim_out != c.dim_out {
            return Err(DecodeError::Shape(format!(
                "batch of {} outputs for a model with {}",
                batch.dim_out, c.dim_out
            )));
        }
        let n_units = self.meta.units.len() as u32;
        let n_sessions = self.meta.sessions.len() as u32;
        if batch.unit_index.iter().any(|&u| u >= n_units)
            || batch.session.iter().any(|&s| s == 0 || s >= n_sessions)
            || batch.token_type.iter().any(|&t| t >= 4)
            || batch
                .latent_index
                .iter()
                .any(|&l| l as usize >= c.latents_per_step)
        {
            return Err(DecodeError::InvalidData(
                "batch indices outside the model's tables".into(),
            ));
        }
        let (b, dev, dt) = (batch.b, &self.device, self.dtype);
        let tracing = trace.is_some();
        let mut keep = |name: &str, t: &Tensor| {
            if let Some(tr) = trace.as_deref_mut() {
                tr.push((name.to_string(), t.clone()));
            }
        };
        let ids = |v: &[u32], n: usize| Tensor::from_vec(v.to_vec(), (b, n), dev);
        let unit = self
            .unit_emb
            .forward(&ids(&batch.unit_index, batch.n_in)?)?;
        let ttype = self
            .token_type_emb
            .forward(&ids(&batch.token_type, batch.n_in)?)?;
        keep("unit_emb", &unit);
        keep("token_type_emb", &ttype);
        let inputs = (unit + ttype)?;
        let mut latents = self
            .latent_emb
            .forward(&ids(&batch.latent_index, batch.n_lat)?)?;
        keep("latent_emb", &latents);
        let session =
            self.session_emb
                .forward(&Tensor::from_vec(batch.session.clone(), b, dev)?)?;
        keep("session_emb", &session);
        let mut queries = session
            .unsqueeze(1)?
            .broadcast_as((b, batch.n_out, c.dim))?
            .contiguous()?;
        let in_rot = self.rotary.embed(&batch.input_times_s, b, dt, dev)?;
        let lat_rot = self.rotary.embed(&batch.latent_times_s, b, dt, dev)?;
        let out_rot = self.rotary.embed(&batch.output_times_s, b, dt, dev)?;
        if tracing {
            for (name, r) in [
                ("rotary.input", &in_rot),
                ("rotary.latent", &lat_rot),
                ("rotary.output", &out_rot),
            ] {
                let cs = Tensor::cat(&[&r.0, &r.1], D::Minus1)?.squeeze(1)?;
                keep(name, &cs);
            }
        }
        let mask = Tensor::from_vec(batch.input_mask.clone(), (b, batch.n_in), dev)?;
        let a = self.enc_atn.forward(
            &latents,
            &inputs,
            &lat_rot,
            &in_rot,
            Some(&mask),
            rng.as_deref_mut(),
        )?;
        keep("enc_atn", &a);
        latents = (latents + a)?;
        let f = self.enc_ffn.forward(&latents, rng.as_deref_mut())?;
        keep("enc_ffn", &f);
        latents = (latents + f)?;
        for (i, (atn, ffn)) in self.proc.iter().enumerate() {
            let a = atn.forward(&latents, &lat_rot, None, rng.as_deref_mut())?;
            keep(&format!("proc.{i}.atn"), &a);
            latents = (&latents + self.lin_dropout.forward(&a, rng.as_deref_mut())?)?;
            let f = ffn.forward(&latents, rng.as_deref_mut())?;
            keep(&format!("proc.{i}.ffn"), &f);
            latents = (&latents + self.lin_dropout.forward(&f, rng.as_deref_mut())?)?;
        }
        let a = self.dec_atn.forward(
            &queries,
            &latents,
            &out_rot,
            &lat_rot,
            None,
            rng.as_deref_mut(),
        )?;
        keep("dec_atn", &a);
        queries = (queries + a)?;
        let f = self.dec_ffn.forward(&queries, rng)?;
        keep("dec_ffn", &f);
        let out = self.readout.forward(&(queries + f)?)?;
        keep("output", &out);
        Ok(out)
    }

    /// Writes the weights (`path`, safetensors) and [`PoyoMeta`] (`path` with extension
    /// `json`: configuration, vocabularies, target normalisation), each through a temporary
    /// file and a rename. Refuses to overwrite unless `force`.
    pub fn save(&self, path: &Path, force: bool) -> Result<()> {
        crate::nn::save_checkpoint(&self.varmap, &self.meta, path, force)
    }

    /// Loads a model written by [`Poyo::save`]. Weights of another configuration or
    /// vocabulary size are [`DecodeError::ModelFile`].
    pub fn load(path: &Path, dtype: DType, device: &Device) -> Result<Self> {
        let meta: PoyoMeta = crate::nn::load_checkpoint_meta(path)?;
        let bad = |reason: String| DecodeError::ModelFile {
            path: path.to_path_buf(),
            reason,
        };
        let tensors =
            candle_core::safetensors::load(path, device).map_err(|e| bad(e.to_string()))?;
        Self::from_tensors(meta, &tensors, dtype, device).map_err(|e| bad(e.to_string()))
    }
}

/// Weighted MSE Σᵢ wᵢ·mean_d(ŷ − y)² / Σᵢ wᵢ over the output queries of a batch (padded queries
/// have weight 0). Errors when every weight is 0.
pub fn weighted_mse(pred: &Tensor, batch: &Batch) -> Result<Tensor> {
    let wsum: f64 = batch.weights.iter().sum();
    if wsum.is_nan() || wsum <= 0.0 {
        return Err(DecodeError::InvalidData(
            "batch without output queries of positive weight".into(),
        ));
    }
    Ok((weighted_sse(pred, batch)? / wsum)?)
}

/// The numerator of [`weighted_mse`], Σᵢ wᵢ·mean_d(ŷ − y)².
pub(crate) fn weighted_sse(pred: &Tensor, batch: &Batch) -> Result<Tensor> {
    let (dev, dt) = (pred.device(), pred.dtype());
    let y = Tensor::from_vec(
        batch.targets.clone(),
        (batch.b, batch.n_out, batch.dim_out),
        dev,
    )?
    .to_dtype(dt)?;
    let w = Tensor::from_vec(batch.weights.clone(), (batch.b, batch.n_out), dev)?.to_dtype(dt)?;
    let per = (pred - y)?.sqr()?.mean(D::Minus1)?;
    Ok((per * w)?.sum_all()?)
}
