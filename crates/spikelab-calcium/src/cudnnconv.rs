//! The fully-convolutional evaluation on cuDNN (feature `cudnn`): each of the five layers is
//! one `cudnnConvolutionForward` followed by one epilogue kernel (`cudnnconv.cu`) that adds
//! the bias, applies the ReLU and, after conv2 and conv3, the stride-1 max-pool
//! (`max(h[t], h[t + d])`), in a single pass over the activations.
//!
//! The traces are laid end to end and cut into segments of `segment_windows` windows (plus
//! `window − 1` samples of overlap, zeros past the end), which cuDNN convolves as a batch
//! (`[segments, channels, time]` or `[segments, time, channels]`, see
//! [`GpuKernels`](crate::spikenet::GpuKernels)); a chunk holds as many segments as fit in
//! 2 GiB of the widest activation, and its buffers are reused by every chunk of a call.
//! Per segment of `n` samples: conv1 (`k₁` taps) → `n − k₁ + 1` steps of `f₁` channels,
//! conv2 → pool 1, conv3 at dilation 2 → pool 2, dense1 as a 1-tap convolution to `e`
//! channels, and the output layer as an `S`-tap convolution at dilation 4 to one channel,
//! whose first `n − window + 1` values are the windows' outputs: the maths of the unfold +
//! GEMM path (`gpuconv`), with the taps summed inside cuDNN's kernels.
//!
//! Algorithms: the first use of each shape in a process times every legacy-API algorithm
//! once (as PyTorch's `cudnn.benchmark` does) and keeps the fastest; math: FMA only for
//! [`Precision::F32`], tensor cores allowed for `Tf32` (TF32) and `Bf16` (bf16 data, f32
//! accumulation). Which algorithm wins may change between processes, and with it the last
//! bits of the outputs.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex, OnceLock};

use candle_core::cuda_backend::{CudaDevice, DeviceId};
use cudarc::cudnn::{self, ConvForward, Cudnn, CudnnDataType};
use cudarc::driver::{
    CudaSlice, CudaView, CudaViewMut, DevicePtr, DeviceRepr, LaunchConfig, PushKernelArg,
    ValidAsZeroBits,
};

use crate::error::{CalciumError, Result};
use crate::gpuconv::Precision;
use crate::spikenet::{SpikeNetArch, SpikeNetWeights};

const SRC: &str = include_str!("cudnnconv.cu");
const MODULE: &str = "spikelab_calcium_cudnn";
/// Largest cuDNN workspace an algorithm may ask for.
const MAX_WORKSPACE_BYTES: usize = 1 << 30;

type FwdAlgo = cudnn::sys::cudnnConvolutionFwdAlgo_t;

/// What the fastest algorithm depends on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct AlgoKey {
    device: DeviceId,
    /// `c_in`, `c_out`, taps and dilation.
    layer: [usize; 4],
    batch: usize,
    l_in: usize,
    channels_last: bool,
    math: u32,
    bf16: bool,
}

/// The fastest algorithm per shape, found at its first use in the process.
static ALGOS: LazyLock<Mutex<HashMap<AlgoKey, FwdAlgo>>> =
    LazyLock::new(|| Mutex::new(HashMap::new()));

fn cuda_err(what: &str, e: impl std::fmt::Display) -> CalciumError {
    CalciumError::Candle(candle_core::Error::Msg(format!("cuDNN {what}: {e}")))
}

thread_local! {
    /// One cuDNN handle per device and thread, bound to candle's stream of that device.
    static HANDLES: RefCell<HashMap<DeviceId, Arc<Cudnn>>> = RefCell::new(HashMap::new());
}

fn handle(dev: &CudaDevice) -> Result<Arc<Cudnn>> {
    HANDLES.with(|h| {
        if let Some(c) = h.borrow().get(&dev.id()) {
            return Ok(c.clone());
        }
        let c = Cudnn::new(dev.cuda_stream()).map_err(|e| cuda_err("handle", e))?;
        h.borrow_mut().insert(dev.id(), c.clone());
        Ok(c)
    })
}

/// Element types of the activations: f32 or bf16.
pub(crate) trait Elem:
    CudnnDataType + DeviceRepr + ValidAsZeroBits + Copy + 'static
{
    const ONE: Self;
    const ZERO: Self;
    /// Name of the epilogue kernel that reads and writes this type.
    const KERNEL: &'static str;
    /// Name of the one that reads this type and writes f32.
    const KERNEL_TO_F32: &'static str;
    fn from_f32(x: f32) -> Self;
}

impl Elem for f32 {
    const ONE: Self = 1.0;
    const ZERO: Self = 0.0;
    const KERNEL: &'static str = "epilogue_f32";
    const KERNEL_TO_F32: &'static str = "epilogue_f32";
    fn from_f32(x: f32) -> Self {
        x
    }
}

impl Elem for half::bf16 {
    const ONE: Self = half::bf16::ONE;
    const ZERO: Self = half::bf16::ZERO;
    const KERNEL: &'static str = "epilogue_bf16";
    const KERNEL_TO_F32: &'static str = "epilogue_bf16_to_f32";
    fn from_f32(x: f32) -> Self {
        half::bf16::from_f32(x)
    }
}

/// One layer: a convolution of `taps` taps at `dilation` from `c_in` to `c_out` channels,
/// then bias, optional ReLU and optional pool of offset `pool`.
struct Layer<T> {
    c_in: usize,
    c_out: usize,
    taps: usize,
    dilation: usize,
    pool: usize,
    relu: bool,
    /// KRSC (channels-last) or KCRS (channels-first), length `c_out·taps·c_in`.
    filter: CudaSlice<T>,
    bias: CudaSlice<f32>,
}

/// The network's weights on one CUDA device, ready for cuDNN.
pub(crate) struct CudnnNet<T: Elem> {
    arch: SpikeNetArch,
    dev: CudaDevice,
    cudnn: Arc<Cudnn>,
    channels_last: bool,
    math: cudnn::sys::cudnnMathType_t,
    layers: Vec<Layer<T>>,
    /// Windows per segment (one batch row).
    segment_windows: usize,
    /// cuDNN's workspace, grown to the largest an algorithm has asked for.
    workspace: RefCell<Option<CudaSlice<u8>>>,
}

/// Device buffers reused by every chunk of one call: the input rows, two activations
/// (convolution output, epilogue output) and the f32 outputs.
struct Buffers<T> {
    input: CudaSlice<T>,
    a: CudaSlice<T>,
    b: CudaSlice<T>,
    out: CudaSlice<f32>,
}

impl<T: Elem> CudnnNet<T> {
    pub(crate) fn new(
        w: &SpikeNetWeights,
        dev: &CudaDevice,
        precision: Precision,
        channels_last: bool,
        segment_windows: usize,
    ) -> Result<Self> {
        use cudnn::sys::cudnnMathType_t as M;
        let arch = w.arch;
        let [k1, k2, k3] = arch.filter_sizes;
        let [f1, f2, f3] = arch.filter_numbers;
        let (e, s) = (arch.dense_expansion, arch.n_steps());
        // (taps, c_in, c_out, dilation, pool, relu) per layer; Keras kernels are (k, c, f)
        // with dense1 (f₃, e) = (1, f₃, e) and dense2 (S·e, 1) = (S, e, 1).
        let shapes = [
            (k1, 1, f1, 1, 0, true),
            (k2, f1, f2, 1, 1, true),
            (k3, f2, f3, 2, 2, true),
            (1, f3, e, 1, 0, true),
            (s, e, 1, 4, 0, false),
        ];
        let mut layers = Vec::with_capacity(5);
        for (i, &(taps, c_in, c_out, dilation, pool, relu)) in shapes.iter().enumerate() {
            let keras = &w.kernels[i];
            let mut filter = Vec::with_capacity(keras.len());
            for o in 0..c_out {
                if channels_last {
                    for j in 0..taps {
                        for c in 0..c_in {
                            filter.push(T::from_f32(keras[(j * c_in + c) * c_out + o]));
                        }
                    }
                } else {
                    for c in 0..c_in {
                        for j in 0..taps {
                            filter.push(T::from_f32(keras[(j * c_in + c) * c_out + o]));
                        }
                    }
                }
            }
            layers.push(Layer {
                c_in,
                c_out,
                taps,
                dilation,
                pool,
                relu,
                filter: dev.clone_htod(&filter)?,
                bias: dev.clone_htod(&w.biases[i])?,
            });
        }
        let math = match precision {
            Precision::F32 => M::CUDNN_FMA_MATH,
            Precision::Tf32 | Precision::Bf16 => M::CUDNN_TENSOR_OP_MATH,
        };
        Ok(CudnnNet {
            arch,
            dev: dev.clone(),
            cudnn: handle(dev)?,
            channels_last,
            math,
            layers,
            segment_windows,
            workspace: RefCell::new(None),
        })
    }

    fn format(&self) -> cudnn::sys::cudnnTensorFormat_t {
        use cudnn::sys::cudnnTensorFormat_t as F;
        if self.channels_last {
            F::CUDNN_TENSOR_NHWC
        } else {
            F::CUDNN_TENSOR_NCHW
        }
    }

    /// The convolution of layer `i` (no bias) of `x`, a batch of `batch` segments of `l_in`
    /// steps each, into the start of `y`: `batch` segments of `l_out` steps and `c_out`
    /// channels. Returns `l_out`.
    fn conv(
        &self,
        i: usize,
        x: &impl DevicePtr<T>,
        y: &mut CudaViewMut<'_, T>,
        batch: usize,
        l_in: usize,
    ) -> Result<usize> {
        let layer = &self.layers[i];
        let l_out = l_in - layer.dilation * (layer.taps - 1);
        let dim = |v: usize| -> Result<i32> {
            i32::try_from(v).map_err(|_| cuda_err("size", format!("{v} exceeds i32")))
        };
        let fmt = self.format();
        let c = &self.cudnn;
        let e = |what| move |err| cuda_err(what, err);
        let xd = c
            .create_4d_tensor::<T>(fmt, [dim(batch)?, dim(layer.c_in)?, 1, dim(l_in)?])
            .map_err(e("input descriptor"))?;
        let yd = c
            .create_4d_tensor::<T>(fmt, [dim(batch)?, dim(layer.c_out)?, 1, dim(l_out)?])
            .map_err(e("output descriptor"))?;
        let wd = c
            .create_4d_filter::<T>(
                fmt,
                [dim(layer.c_out)?, dim(layer.c_in)?, 1, dim(layer.taps)?],
            )
            .map_err(e("filter descriptor"))?;
        let mut cd = c
            .create_conv2d::<f32>(
                [0, 0],
                [1, 1],
                [1, dim(layer.dilation)?],
                cudnn::sys::cudnnConvolutionMode_t::CUDNN_CROSS_CORRELATION,
            )
            .map_err(e("convolution descriptor"))?;
        cd.set_math_type(self.math).map_err(e("math type"))?;
        let op = ConvForward {
            conv: &cd,
            x: &xd,
            w: &wd,
            y: &yd,
        };
        let n_y = batch * l_out * layer.c_out;
        if y.len() < n_y {
            return Err(cuda_err("buffer", format!("{} < {n_y} values", y.len())));
        }
        let mut y = y.slice_mut(0..n_y);
        let key = AlgoKey {
            device: self.dev.id(),
            layer: [layer.c_in, layer.c_out, layer.taps, layer.dilation],
            batch,
            l_in,
            channels_last: self.channels_last,
            math: self.math as u32,
            bf16: std::mem::size_of::<T>() == 2,
        };
        let cached = ALGOS.lock().ok().and_then(|m| m.get(&key).copied());
        let algo = match cached {
            Some(a) => a,
            None => {
                let a = self.fastest(&op, x, &layer.filter, &mut y)?;
                if let Ok(mut m) = ALGOS.lock() {
                    m.insert(key, a);
                }
                a
            }
        };
        self.launch(&op, algo, x, &layer.filter, &mut y)
            .map_err(|m| cuda_err("convolution", m))?;
        Ok(l_out)
    }

    /// Runs `op` with `algo` and a workspace of the size it needs.
    fn launch(
        &self,
        op: &ConvForward<'_, T, f32, T>,
        algo: FwdAlgo,
        x: &impl DevicePtr<T>,
        filter: &CudaSlice<T>,
        y: &mut CudaViewMut<'_, T>,
    ) -> std::result::Result<(), String> {
        let ws_bytes = op.get_workspace_size(algo).map_err(|e| e.to_string())?;
        if ws_bytes > MAX_WORKSPACE_BYTES {
            return Err(format!("workspace of {ws_bytes} bytes"));
        }
        let mut ws = self.workspace.borrow_mut();
        if ws_bytes > 0 && ws.as_ref().is_none_or(|w| w.len() < ws_bytes) {
            *ws = None;
            // SAFETY: the workspace is scratch space that cuDNN writes before it reads.
            *ws = Some(unsafe { self.dev.alloc::<u8>(ws_bytes) }.map_err(|e| e.to_string())?);
        }
        let ws = ws.as_mut().filter(|_| ws_bytes > 0);
        // SAFETY: `x` holds `c_in·l_in` values, the filter `c_out·taps·c_in` and `y`
        // `c_out·l_out`, all of type `T` and laid out as the descriptors of `op` say; the
        // workspace holds at least the bytes the algorithm needs.
        unsafe { op.launch(algo, ws, (T::ONE, T::ZERO), x, filter, y) }.map_err(|e| e.to_string())
    }

    /// The fastest algorithm for `op`, timed once each after one untimed run (what
    /// PyTorch's `cudnn.benchmark` does); algorithms that fail or need more than
    /// [`MAX_WORKSPACE_BYTES`] are skipped. Falls back to cuDNN's heuristic choice.
    fn fastest(
        &self,
        op: &ConvForward<'_, T, f32, T>,
        x: &impl DevicePtr<T>,
        filter: &CudaSlice<T>,
        y: &mut CudaViewMut<'_, T>,
    ) -> Result<FwdAlgo> {
        use FwdAlgo as A;
        let stream = self.dev.cuda_stream();
        let sync = || stream.synchronize().map_err(|e| cuda_err("synchronize", e));
        let mut best: Option<(f64, FwdAlgo)> = None;
        for algo in [
            A::CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM,
            A::CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_PRECOMP_GEMM,
            A::CUDNN_CONVOLUTION_FWD_ALGO_GEMM,
            A::CUDNN_CONVOLUTION_FWD_ALGO_DIRECT,
            A::CUDNN_CONVOLUTION_FWD_ALGO_FFT,
            A::CUDNN_CONVOLUTION_FWD_ALGO_FFT_TILING,
            A::CUDNN_CONVOLUTION_FWD_ALGO_WINOGRAD,
            A::CUDNN_CONVOLUTION_FWD_ALGO_WINOGRAD_NONFUSED,
        ] {
            sync()?;
            if self.launch(op, algo, x, filter, y).is_err() || sync().is_err() {
                continue;
            }
            let t0 = std::time::Instant::now();
            if self.launch(op, algo, x, filter, y).is_err() {
                continue;
            }
            sync()?;
            let dt = t0.elapsed().as_secs_f64();
            if best.is_none_or(|(b, _)| dt < b) {
                best = Some((dt, algo));
            }
        }
        match best {
            Some((_, a)) => Ok(a),
            None => op.pick_algorithm().map_err(|e| cuda_err("algorithm", e)),
        }
    }

    /// Bias, ReLU and pool of layer `i` on its convolution `a` (`batch` segments of `l`
    /// steps), into `O`.
    fn epilogue<O: DeviceRepr>(
        &self,
        kernel: &str,
        i: usize,
        a: &CudaView<'_, T>,
        out: &mut CudaViewMut<'_, O>,
        batch: usize,
        l: usize,
    ) -> Result<usize> {
        static PTX: OnceLock<std::result::Result<String, String>> = OnceLock::new();
        let ptx = spikelab_core::nvrtc_ptx(&PTX, SRC).map_err(|e| cuda_err("epilogue", e))?;
        let layer = &self.layers[i];
        let l_out = l - layer.pool;
        let n = batch * l_out * layer.c_out;
        let func = self.dev.get_or_load_custom_func(kernel, MODULE, ptx)?;
        if out.len() < n || a.len() < batch * l * layer.c_out {
            return Err(cuda_err(
                "buffer",
                format!("epilogue of layer {i} on short buffers"),
            ));
        }
        let (batch_i, l_i, c_i) = (batch as i32, l as i64, layer.c_out as i32);
        let (d_i, cl_i, relu_i) = (
            layer.pool as i32,
            i32::from(self.channels_last),
            i32::from(layer.relu),
        );
        let cfg = LaunchConfig {
            grid_dim: (n.div_ceil(256).clamp(1, 1 << 16) as u32, 1, 1),
            block_dim: (256, 1, 1),
            shared_mem_bytes: 0,
        };
        let mut b = func.builder();
        b.arg(a);
        b.arg(&layer.bias);
        b.arg(out);
        b.arg(&batch_i);
        b.arg(&l_i);
        b.arg(&c_i);
        b.arg(&d_i);
        b.arg(&cl_i);
        b.arg(&relu_i);
        // SAFETY: the arguments match `cudnnconv.cu`'s epilogue signature; `a` holds
        // `batch·l·c` values, the bias `c`, `out` the `batch·(l − d)·c` the grid-stride loop
        // writes.
        unsafe { b.launch(cfg) }.map_err(|e| cuda_err("epilogue launch", e))?;
        Ok(l_out)
    }

    /// Runs the network on the `batch` segments in `bufs.input` (`seg_len` samples each);
    /// the outputs are left in `bufs.out`, `l` per segment. Returns `l`.
    fn forward_chunk(&self, bufs: &mut Buffers<T>, batch: usize, seg_len: usize) -> Result<usize> {
        let Buffers { input, a, b, out } = bufs;
        let x = input.slice(0..batch * seg_len);
        let mut l = self.conv(0, &x, &mut a.as_view_mut(), batch, seg_len)?;
        for i in 0..4 {
            let (av, mut bv) = (a.as_view(), b.as_view_mut());
            let lh = self.epilogue::<T>(T::KERNEL, i, &av, &mut bv, batch, l)?;
            l = self.conv(i + 1, &b.as_view(), &mut a.as_view_mut(), batch, lh)?;
        }
        let (av, mut ov) = (a.as_view(), out.as_view_mut());
        self.epilogue::<f32>(T::KERNEL_TO_F32, 4, &av, &mut ov, batch, l)
    }

    /// Buffers for chunks of `rows` segments of `seg_len` samples: the largest activation
    /// before and after each epilogue, and the outputs.
    fn buffers(&self, rows: usize, seg_len: usize) -> Result<Buffers<T>> {
        let mut widest = 0;
        let mut l = seg_len;
        for layer in &self.layers[..4] {
            l -= layer.dilation * (layer.taps - 1);
            widest = widest.max(l * layer.c_out);
            l -= layer.pool;
        }
        let last = &self.layers[4];
        let l_out = l - last.dilation * (last.taps - 1);
        widest = widest.max(l_out);
        // SAFETY: every entry a chunk reads is written earlier in that chunk (the input by
        // the memset and copies, activations by the convolutions and epilogues).
        unsafe {
            Ok(Buffers {
                input: self.dev.alloc::<T>(rows * seg_len)?,
                a: self.dev.alloc::<T>(rows * widest)?,
                b: self.dev.alloc::<T>(rows * widest)?,
                out: self.dev.alloc::<f32>(rows * l_out)?,
            })
        }
    }

    /// Outputs of every window of the stream `x` (`total` samples on the device):
    /// `total − window + 1` values on the device.
    pub(crate) fn forward_stream(&self, x: &CudaView<'_, T>) -> Result<CudaSlice<f32>> {
        let win = self.arch.window;
        let total = x.len();
        let n_windows = (total + 1)
            .checked_sub(win)
            .filter(|&n| n > 0)
            .ok_or_else(|| cuda_err("input", format!("{total} samples, fewer than a window")))?;
        let widest = self.layers.iter().map(|l| l.c_out).max().unwrap_or(1);
        let chunk_windows = ((1usize << 31) / (4 * widest)).max(4096);
        let seg = self
            .segment_windows
            .min(chunk_windows)
            .min(n_windows)
            .max(1);
        let seg_len = seg + win - 1;
        let n_rows = n_windows.div_ceil(seg);
        let rows_per_chunk = (chunk_windows / seg).max(1);
        let mut bufs = self.buffers(rows_per_chunk.min(n_rows), seg_len)?;
        // SAFETY: every entry is written by one of the row copies below.
        let mut y = unsafe { self.dev.alloc::<f32>(n_windows) }?;
        let stream = self.dev.cuda_stream();
        let mut r0 = 0;
        while r0 < n_rows {
            let rows = rows_per_chunk.min(n_rows - r0);
            // rows of `seg_len` samples starting every `seg`; zeros past the stream's end
            let mut input = bufs.input.slice_mut(0..rows * seg_len);
            stream
                .memset_zeros(&mut input)
                .map_err(|e| cuda_err("memset", e))?;
            for r in 0..rows {
                let start = (r0 + r) * seg;
                let avail = seg_len.min(total - start);
                let mut dst = input.slice_mut(r * seg_len..r * seg_len + avail);
                self.dev
                    .memcpy_dtod(&x.slice(start..start + avail), &mut dst)?;
            }
            let l = self.forward_chunk(&mut bufs, rows, seg_len)?;
            for r in 0..rows {
                let start = (r0 + r) * seg;
                let m = seg.min(n_windows - start);
                let mut dst = y.slice_mut(start..start + m);
                self.dev
                    .memcpy_dtod(&bufs.out.slice(r * l..r * l + m), &mut dst)?;
            }
            r0 += rows;
        }
        Ok(y)
    }
}

/// The cuDNN evaluation as a candle op: a stream `[total]` (f32, or bf16 for
/// [`Precision::Bf16`], contiguous, on a CUDA device) → the outputs of its
/// `total − window + 1` windows, f32, on the same device.
pub(crate) struct StreamOp {
    pub(crate) weights: SpikeNetWeights,
    pub(crate) precision: Precision,
    pub(crate) channels_last: bool,
    pub(crate) segment_windows: usize,
}

impl StreamOp {
    fn run<T: Elem + candle_core::cuda_backend::CudaDType>(
        &self,
        s: &candle_core::CudaStorage,
        l: &candle_core::Layout,
    ) -> Result<CudaSlice<f32>> {
        use candle_core::backend::BackendStorage;
        let (a, b) = l
            .contiguous_offsets()
            .ok_or_else(|| cuda_err("input", "the stream must be contiguous"))?;
        let net = CudnnNet::<T>::new(
            &self.weights,
            s.device(),
            self.precision,
            self.channels_last,
            self.segment_windows,
        )?;
        net.forward_stream(&s.as_cuda_slice::<T>()?.slice(a..b))
    }
}

impl candle_core::CustomOp1 for StreamOp {
    fn name(&self) -> &'static str {
        "spikelab-cudnn-spikenet"
    }

    fn cpu_fwd(
        &self,
        _: &candle_core::CpuStorage,
        _: &candle_core::Layout,
    ) -> candle_core::Result<(candle_core::CpuStorage, candle_core::Shape)> {
        candle_core::bail!("the cuDNN evaluation runs on CUDA devices only")
    }

    fn cuda_fwd(
        &self,
        s: &candle_core::CudaStorage,
        l: &candle_core::Layout,
    ) -> candle_core::Result<(candle_core::CudaStorage, candle_core::Shape)> {
        use candle_core::backend::BackendStorage;
        let y = match s.dtype() {
            candle_core::DType::F32 => self.run::<f32>(s, l),
            candle_core::DType::BF16 => self.run::<half::bf16>(s, l),
            dt => candle_core::bail!("the cuDNN evaluation on {dt:?}"),
        }
        .map_err(|e| candle_core::Error::Msg(e.to_string()))?;
        let n = y.len();
        Ok((
            candle_core::CudaStorage::wrap_cuda_slice(y, s.device().clone()),
            candle_core::Shape::from(n),
        ))
    }
}
