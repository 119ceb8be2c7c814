//! POYO (Azabou et al., "A Unified, Scalable Framework for Neural Population Decoding",
//! NeurIPS 2023, arXiv 2310.16046), ported from torch-brain 0.2.1 (Apache-2.0).
//!
//! **Tokens.** Every spike of a context window [0, L) is a token: the embedding of its unit
//! (a row of a table indexed by string unit ids, so recordings with different neurons share
//! one model) plus a token-type embedding; each unit present also gets a START (t = 0) and an
//! END (t = L) token. Time enters only through rotary embeddings.
//!
//! **Network (PerceiverIO).** Learned latent queries (`latents_per_step` per `latent_step_s`,
//! at the step centres) cross-attend to the tokens (encoder), pass `depth` self-attention
//! blocks (processor), and one query per target time, carrying the session embedding,
//! cross-attends to the latents (decoder); a Linear reads the output. Attention blocks are
//! pre-norm with residuals, feed-forward blocks GEGLU (a·GELU(g), hidden 4·dim).
//!
//! **Rotary time.** In every attention, the first half of each head is rotated pairwise by
//! angles θ_i = t·ω_i with `dim_head/4` periods log-spaced from 1e-4 to 2.0627 s: queries by the
//! query time, keys by the key time, so the score depends on t_q − t_k. In the encoder and the
//! processor the values are rotated by the key time as well and the output is rotated back by
//! −t_q, so each value carries its time relative to the query.
//!
//! **Training.** Weighted MSE on normalised targets; SparseLamb (LAMB without bias correction,
//! trust ratio clamp(‖θ‖, 0, 10)/‖step‖; embedding rows without gradient do not move and their
//! moments are reset); OneCycle with β₁ cycling 0.95 → 0.85 → 0.95; UnitDropout with the
//! triangle density. New recordings are decoded by **unit identification**: only the new unit
//! and session embeddings are trained, then optionally everything.
//!
//! **Evaluation.** Windows every L/2 over each interval; predictions of the same target time
//! are averaged; R² per recording (uniform over outputs), then the mean.
//!
//! # Example
//! ```
//! use candle_core::{DType, Device};
//! use spikelab_core::Silent;
//! use spikelab_decode::poyo::{self, PoyoConfig, Recording, TrainParams};
//! use spikelab_synth::MultiSessionParams;
//!
//! let sessions = MultiSessionParams { n_sessions: 1, units: (10, 10), duration_s: 4.0, ..Default::default() }
//!     .generate(0)?;
//! let s = &sessions[0];
//! let rec = Recording::new(&s.id, s.spikes.clone(), s.unit_ids.clone(),
//!     s.target_times_s.clone(), s.velocity.clone())?;
//! let cfg = PoyoConfig { dim: 16, depth: 1, dim_head: 8, cross_heads: 1, self_heads: 2,
//!     latents_per_step: 2, latent_step_s: 0.25, context_s: 0.5, ..PoyoConfig::poyo_1_3m(2) };
//! let params = TrainParams { steps: 2, batch: 4, ..Default::default() };
//! let recs = [rec];
//! let (model, report) = poyo::fit(cfg, &recs, &[vec![(0.0, 3.0)]], &params,
//!     DType::F32, &Device::Cpu, &mut Silent)?;
//! assert_eq!(report.loss.len(), 2);
//! let pred = poyo::predict(&model, &recs[0], &[(3.0, 4.0)], 8)?;
//! assert_eq!(pred.values.ncols(), 2);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod frames;
pub mod model;
pub mod optim;
pub mod tokenize;
pub mod train;
pub mod vocab;

pub use frames::{
    EVAL_BATCH, FrameParams, FramedRecording, PoyoFit, fit_frames, frame_unit_ids, predict_frames,
    spikes_from_counts, transfer_frames,
};
pub use model::{
    GegluBlock, Poyo, PoyoConfig, PoyoMeta, Rotary, RotaryCrossAttention, RotarySelfAttention,
    SPARSE_TABLES, Trace, rotate, weighted_mse,
};
pub use optim::{OneCycle, SparseLamb};
pub use tokenize::{
    Batch, Prepared, Recording, Sample, Stitcher, TargetNorm, UnitDropout, WindowGrid, collate,
    eval_starts, tokenize,
};
pub use train::{
    Prediction, Scope, TrainParams, TrainReport, TransferParams, evaluate, fit, new_model, predict,
    train, transfer,
};
pub use vocab::{PAD_WORD, Vocab};
