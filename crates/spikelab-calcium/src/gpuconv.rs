//! The fully-convolutional evaluation with candle ops, as GPUs run it: channels-last
//! activations, every convolution an explicit unfold (one strided copy per tap) followed by
//! one GEMM, and the output layer as a GEMM to `S` per-step projections summed at dilation 4.
//!
//! All traces are laid end to end in one stream and evaluated in chunks of at most
//! [`chunk_outputs`] windows (with `window − 1` samples of overlap), so the matrix products are
//! large whatever the trace lengths and device memory stays bounded (≈ 2 GiB of unfolded
//! activations per chunk on a GPU). Windows that straddle two traces are computed and dropped.
//!
//! Layouts: a chunk of `n` samples is `[n, 1]`; after a layer with `f` filters `[l, f]`. The
//! unfold of `[l, c]` for `k` taps at dilation `d` is `[l − d(k − 1), k·c]` with column
//! `j·c + ch`, which is the Keras kernel `(k, c, f)` read as a `(k·c, f)` matrix.

use candle_core::{DType, Device, Tensor};

use crate::error::Result;
use crate::spikenet::{LAYER_NAMES, SpikeNetArch, SpikeNetWeights, output_kernel_by_tap};

/// Arithmetic of the candle fully-convolutional evaluation (the GPU path).
///
/// ```
/// use spikelab_calcium::spikenet::{Conv1dSpikeNet, Precision, SpikeNetArch, SpikeNetWeights};
/// let net = Conv1dSpikeNet::new(SpikeNetWeights::glorot_uniform(SpikeNetArch::CASCADE, 1)?)
///     .with_candle_kernels(true)
///     .with_precision(Precision::Bf16);
/// let x: Vec<f32> = (0..300).map(|i| (i as f32 * 0.1).sin()).collect();
/// assert_eq!(net.forward_windows(&[&x])?[0].len(), 300 - 64 + 1);
/// # Ok::<(), spikelab_calcium::CalciumError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Precision {
    /// f32 storage and f32 products (TF32 explicitly off): the reference. Default.
    #[default]
    F32,
    /// f32 storage, matrix products on TF32 tensor cores (10-bit mantissa, f32 accumulation).
    /// Only CUDA has them; elsewhere this is `F32`.
    Tf32,
    /// bf16 activations and weights (8-bit mantissa), products accumulated in f32; outputs
    /// are returned as f32.
    Bf16,
}

/// Which kernels run the fully-convolutional evaluation on a CUDA device.
///
/// Measured on an H100 (100 traces × 1 h at 100 Hz, `calcium_speed`; M samples/s, f32 /
/// TF32 / bf16): Elephant `Unfold` 25.8 / 27.9 / 31.7, `CudnnChannelsFirst` 32.9 / 35.0 /
/// 44.7; CASCADE `Unfold` 46.3 / 46.9 / 54.4, `CudnnChannelsFirst` 61.9 / 58.4 / 66.3
/// (`docs/calcium.md`).
///
/// ```
/// use spikelab_calcium::spikenet::{Conv1dSpikeNet, GpuKernels, SpikeNetArch, SpikeNetWeights};
/// let net = Conv1dSpikeNet::new(SpikeNetWeights::glorot_uniform(SpikeNetArch::CASCADE, 1)?)
///     .with_gpu_kernels(GpuKernels::Unfold);
/// assert_eq!(net.gpu_kernels(), GpuKernels::Unfold);
/// # Ok::<(), spikelab_calcium::CalciumError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum GpuKernels {
    /// candle ops: one strided copy per tap into an unfolded matrix, one GEMM per layer,
    /// separate bias, ReLU and pool passes. Needs only the `cuda` feature; the default
    /// without `cudnn`.
    Unfold,
    /// cuDNN convolutions on channels-last activations (`[time, channel]`), each followed by
    /// one fused bias + ReLU + pool kernel. Needs the `cudnn` feature (and libcudnn 9 at run
    /// time). Slower than channels-first in every measured case.
    CudnnChannelsLast,
    /// The same on channels-first activations (`[channel, time]`, PyTorch's `conv1d`
    /// layout); the default where `cudnn` is built.
    CudnnChannelsFirst,
}

impl Default for GpuKernels {
    fn default() -> Self {
        if cfg!(feature = "cudnn") {
            GpuKernels::CudnnChannelsFirst
        } else {
            GpuKernels::Unfold
        }
    }
}

/// The weights laid out for the channels-last evaluation, on one device and dtype.
pub(crate) struct ChannelsLast {
    arch: SpikeNetArch,
    dtype: DType,
    precision: Precision,
    device: Device,
    /// `(k·c_in, f)` per convolution.
    conv: [Tensor; 3],
    conv_b: [Tensor; 3],
    /// `(f3, e)`.
    dense1: Tensor,
    dense1_b: Tensor,
    /// `(e, S)`: column `s` projects one pooled step onto output tap `s`.
    dense2: Tensor,
    /// `(1,)`, f32.
    dense2_b: Tensor,
}

/// Windows per chunk: the largest unfold (`k·c` values per window) in at most `budget_bytes`.
pub(crate) fn chunk_outputs(arch: &SpikeNetArch, device: &Device) -> usize {
    let [k1, k2, k3] = arch.filter_sizes;
    let [f1, f2, _] = arch.filter_numbers;
    let widest = (k1).max(k2 * f1).max(k3 * f2).max(arch.dense_expansion);
    let budget_bytes: usize = if device.is_cpu() { 1 << 26 } else { 1 << 31 };
    (budget_bytes / (4 * widest)).max(4096)
}

impl ChannelsLast {
    pub(crate) fn new(w: &SpikeNetWeights, device: &Device, precision: Precision) -> Result<Self> {
        let dtype = if precision == Precision::Bf16 {
            DType::BF16
        } else {
            DType::F32
        };
        let t = w.to_tensors(device)?;
        let get = |layer: usize, part: &str| -> Result<Tensor> {
            Ok(t[&format!("{}.{part}", LAYER_NAMES[layer])].to_dtype(dtype)?)
        };
        let conv: [Tensor; 3] = [
            Self::unfolded_kernel(&get(0, "kernel")?)?,
            Self::unfolded_kernel(&get(1, "kernel")?)?,
            Self::unfolded_kernel(&get(2, "kernel")?)?,
        ];
        let conv_b = [get(0, "bias")?, get(1, "bias")?, get(2, "bias")?];
        let dense2 = output_kernel_by_tap(&w.arch, &get(4, "kernel")?)?;
        let dense2_b = t[&format!("{}.bias", LAYER_NAMES[4])].to_dtype(DType::F32)?;
        Ok(ChannelsLast {
            arch: w.arch,
            dtype,
            precision,
            device: device.clone(),
            conv,
            conv_b,
            dense1: get(3, "kernel")?,
            dense1_b: get(3, "bias")?,
            dense2,
            dense2_b,
        })
    }

    /// Keras `(k, c, f)` → `(k·c, f)`.
    fn unfolded_kernel(k: &Tensor) -> Result<Tensor> {
        let (taps, c, f) = k.dims3()?;
        Ok(k.reshape((taps * c, f))?)
    }

    /// `relu(unfold(x) · W + b)`: `x` `[l, c]` → `[l − d(k − 1), f]`.
    fn conv_relu(&self, x: &Tensor, i: usize, dilation: usize) -> Result<Tensor> {
        let (l, _) = x.dims2()?;
        let taps = self.arch.filter_sizes[i];
        let lo = l - dilation * (taps - 1);
        let cols = (0..taps)
            .map(|j| x.narrow(0, j * dilation, lo))
            .collect::<candle_core::Result<Vec<_>>>()?;
        let u = Tensor::cat(&cols, 1)?;
        Ok(u.matmul(&self.conv[i])?
            .broadcast_add(&self.conv_b[i])?
            .relu()?)
    }

    /// `max(x[t], x[t + d])` along time (Keras' pooling in the fully-convolutional rewrite).
    fn pool(x: &Tensor, d: usize) -> Result<Tensor> {
        let l = x.dim(0)?;
        Ok(x.narrow(0, 0, l - d)?.maximum(&x.narrow(0, d, l - d)?)?)
    }

    /// Outputs of the `n − window + 1` windows of the chunk `x` (`[n]`, this evaluator's
    /// dtype and device), as f32 `[n − window + 1]`.
    fn forward_chunk(&self, x: &Tensor) -> Result<Tensor> {
        let n = x.dim(0)?;
        let n_out = n + 1 - self.arch.window;
        let steps = self.arch.n_steps();
        let x = x.reshape((n, 1))?;
        let h1 = self.conv_relu(&x, 0, 1)?;
        let h2 = self.conv_relu(&h1, 1, 1)?;
        let m1 = Self::pool(&h2, 1)?;
        let c3 = self.conv_relu(&m1, 2, 2)?;
        let m2 = Self::pool(&c3, 2)?; // [n_d, f3]
        let d = m2
            .matmul(&self.dense1)?
            .broadcast_add(&self.dense1_b)?
            .relu()?;
        let p = d.matmul(&self.dense2)?.to_dtype(DType::F32)?; // [n_d, S]
        let mut y = p.narrow(0, 0, n_out)?.narrow(1, 0, 1)?;
        for s in 1..steps {
            y = (y + p.narrow(0, 4 * s, n_out)?.narrow(1, s, 1)?)?;
        }
        Ok(y.squeeze(1)?.broadcast_add(&self.dense2_b)?)
    }

    /// Outputs of every window of the stream `x` (`[total]`, f32, this evaluator's device):
    /// `[total − window + 1]` f32 on that device.
    pub(crate) fn forward_stream(&self, x: &Tensor) -> Result<Tensor> {
        let _tf32 = spikelab_core::Tf32Guard::set(self.precision == Precision::Tf32);
        let win = self.arch.window;
        let total = x.dim(0)?;
        let x = x.to_dtype(self.dtype)?;
        let n_windows = total + 1 - win;
        let chunk = chunk_outputs(&self.arch, &self.device);
        let mut out = Vec::new();
        let mut start = 0;
        while start < n_windows {
            let m = chunk.min(n_windows - start);
            out.push(self.forward_chunk(&x.narrow(0, start, m + win - 1)?)?);
            start += m;
        }
        Ok(Tensor::cat(&out, 0)?)
    }
}

/// The traces laid end to end on `dev` (`[total]` f32). On a GPU each trace is copied from
/// its own memory and the pieces joined on the device: no concatenated host copy.
pub(crate) fn stream_to_device(traces: &[&[f32]], dev: &Device) -> Result<Tensor> {
    let total: usize = traces.iter().map(|t| t.len()).sum();
    if dev.is_cpu() {
        return Ok(Tensor::from_vec(traces.concat(), total, dev)?);
    }
    let parts = traces
        .iter()
        .filter(|t| !t.is_empty())
        .map(|t| Tensor::from_slice(t, t.len(), dev))
        .collect::<candle_core::Result<Vec<_>>>()?;
    Ok(Tensor::cat(&parts, 0)?)
}

/// [`split_per_trace`] of a stream output `out` (`[total − window + 1]` f32) wherever it is.
/// On CUDA each trace's outputs are copied straight from the device into their own vector;
/// elsewhere the whole output comes to the host first.
pub(crate) fn split_per_trace_from(
    traces: &[&[f32]],
    out: &Tensor,
    win: usize,
    n_out: impl Fn(usize) -> usize,
) -> Result<Vec<Vec<f32>>> {
    #[cfg(feature = "cuda")]
    if out.device().is_cuda() {
        use candle_core::backend::BackendStorage;
        let out = out.to_dtype(DType::F32)?.contiguous()?;
        let (storage, layout) = out.storage_and_layout();
        let (candle_core::Storage::Cuda(s), Some((base, _))) =
            (&*storage, layout.contiguous_offsets())
        else {
            return Err(
                candle_core::Error::Msg("a contiguous CUDA tensor was expected".into()).into(),
            );
        };
        let slice = s.as_cuda_slice::<f32>()?;
        let stream = s.device().cuda_stream();
        return trace_output_ranges(traces, win, n_out)
            .map(|r| {
                if r.is_empty() {
                    return Ok(Vec::new());
                }
                Ok(stream
                    .clone_dtoh(&slice.slice(base + r.start..base + r.end))
                    .map_err(|e| candle_core::Error::Cuda(Box::new(e)))?)
            })
            .collect();
    }
    let out: Vec<f32> = out.to_dtype(DType::F32)?.to_vec1()?;
    Ok(split_per_trace(traces, &out, win, n_out))
}

/// Where each trace's outputs lie in the output of the traces laid end to end (`out[j]`: the
/// window starting at stream sample `j`): the first `n_out(len)` windows of each, at most the
/// `len − window + 1` inside it.
fn trace_output_ranges<'a>(
    traces: &'a [&[f32]],
    win: usize,
    n_out: impl Fn(usize) -> usize + 'a,
) -> impl Iterator<Item = std::ops::Range<usize>> + 'a {
    traces.iter().scan(0, move |offset, t| {
        let m = n_out(t.len()).min((t.len() + 1).saturating_sub(win));
        let r = *offset..*offset + m;
        *offset += t.len();
        Some(r)
    })
}

/// The outputs of a stream of traces laid end to end, cut back per trace
/// ([`trace_output_ranges`]).
fn split_per_trace(
    traces: &[&[f32]],
    out: &[f32],
    win: usize,
    n_out: impl Fn(usize) -> usize,
) -> Vec<Vec<f32>> {
    trace_output_ranges(traces, win, n_out)
        .map(|r| out[r].to_vec())
        .collect()
}
