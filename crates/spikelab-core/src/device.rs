//! Where a computation runs.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::CoreError;

/// Where a computation runs. Parsed from `cpu`, `cuda`, `cuda:N`, `gpu` (= `cuda:0`), `metal`,
/// `metal:N`; displayed in the same form.
///
/// Whether a GPU is usable is decided by the crate that runs on it (a build without the `cuda`
/// feature answers with a typed error there); this type only names the device.
///
/// ```
/// use spikelab_core::Device;
/// assert_eq!("cpu".parse::<Device>()?, Device::Cpu);
/// assert_eq!("CUDA:2".parse::<Device>()?, Device::Cuda(2));
/// assert_eq!(Device::Metal(0).to_string(), "metal:0");
/// assert!("tpu".parse::<Device>().is_err());
/// # Ok::<(), spikelab_core::CoreError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
pub enum Device {
    /// The host CPU (always available).
    #[default]
    Cpu,
    /// An NVIDIA GPU by ordinal.
    Cuda(usize),
    /// An Apple GPU by ordinal.
    Metal(usize),
}

impl Device {
    /// `true` for the CPU.
    pub fn is_cpu(self) -> bool {
        matches!(self, Device::Cpu)
    }

    /// The candle device for this device (feature `candle`). A GPU that the build has no
    /// backend for (candle-core without its `cuda`/`metal` feature) or that the driver
    /// refuses is a [`CoreError::DeviceUnavailable`].
    ///
    /// A CUDA device (feature `cuda`) is created with cudarc's event tracking off: candle runs
    /// every op on the device's one stream, where the two CUDA events cudarc creates and
    /// destroys with every allocation order nothing, and a small model's training step makes
    /// thousands of allocations. Freed device memory stays in the device's memory pool for
    /// later allocations of the process (see `keep_freed_memory_in_pool`). On CUDA the device
    /// queues its work on the calling thread's per-thread stream: create a device in the
    /// thread that uses it (threads with their own devices then run side by side).
    ///
    /// ```
    /// use spikelab_core::Device;
    /// assert!(Device::Cpu.to_candle().unwrap().is_cpu());
    /// ```
    #[cfg(feature = "candle")]
    pub fn to_candle(self) -> Result<candle_core::Device, CoreError> {
        let unavailable = |e: candle_core::Error| CoreError::DeviceUnavailable {
            device: self.to_string(),
            reason: e.to_string(),
        };
        match self {
            Device::Cpu => Ok(candle_core::Device::Cpu),
            Device::Cuda(i) => {
                let dev = candle_core::Device::new_cuda(i).map_err(unavailable)?;
                #[cfg(feature = "cuda")]
                // SAFETY: candle 0.11.1 queues all work of this device on its one stream
                // (`new_cuda` takes the per-thread stream and never creates another), so no
                // allocation is used across streams and no cross-stream ordering is lost.
                unsafe {
                    dev.as_cuda_device()
                        .map_err(unavailable)?
                        .disable_event_tracking();
                }
                #[cfg(feature = "cuda")]
                keep_freed_memory_in_pool(dev.as_cuda_device().map_err(unavailable)?)
                    .map_err(unavailable)?;
                Ok(dev)
            }
            Device::Metal(i) => candle_core::Device::new_metal(i).map_err(unavailable),
        }
    }
}

/// Sets the release threshold of the device's default memory pool (the one
/// `cuMemAllocAsync` takes from) to "never": memory freed by one step stays in the pool for
/// the next, as in PyTorch's caching allocator. At the default threshold 0 the pool hands
/// every freed byte back to the driver at each synchronisation, and the next allocations map
/// it again.
#[cfg(feature = "cuda")]
fn keep_freed_memory_in_pool(dev: &candle_core::CudaDevice) -> candle_core::Result<()> {
    use candle_core::cuda_backend::cudarc::driver::sys;
    let cu_device = dev.cuda_stream().context().cu_device();
    let mut pool = std::mem::MaybeUninit::<sys::CUmemoryPool>::uninit();
    let mut threshold = u64::MAX;
    // SAFETY: `cu_device` is a valid device of an initialised driver (candle made a context
    // on it); `pool` is written by the driver before it is read; the attribute takes a
    // pointer to a u64, which `threshold` is and which outlives the call.
    unsafe {
        let r = sys::cuDeviceGetDefaultMemPool(pool.as_mut_ptr(), cu_device);
        if r != sys::CUresult::CUDA_SUCCESS {
            candle_core::bail!("cuDeviceGetDefaultMemPool: {r:?}");
        }
        let r = sys::cuMemPoolSetAttribute(
            pool.assume_init(),
            sys::CUmemPool_attribute::CU_MEMPOOL_ATTR_RELEASE_THRESHOLD,
            (&mut threshold as *mut u64).cast(),
        );
        if r != sys::CUresult::CUDA_SUCCESS {
            candle_core::bail!("cuMemPoolSetAttribute(release threshold): {r:?}");
        }
    }
    Ok(())
}

/// PTX for the CUDA C++ source `src`, compiled with NVRTC for `compute_80` at the first call
/// with `cell` and kept there (the driver JIT-compiles PTX for the GPU at hand: A100, H100,
/// H200 …). A compile error is kept too and returned as its message (feature `cuda`).
#[cfg(feature = "cuda")]
pub fn nvrtc_ptx(
    cell: &'static std::sync::OnceLock<Result<String, String>>,
    src: &str,
) -> Result<&'static str, String> {
    use candle_core::cuda_backend::cudarc::nvrtc::{CompileOptions, compile_ptx_with_opts};
    cell.get_or_init(|| {
        compile_ptx_with_opts(
            src,
            CompileOptions {
                arch: Some("compute_80"),
                ..Default::default()
            },
        )
        .map(|p| p.to_src())
        .map_err(|e| format!("NVRTC: {e}"))
    })
    .as_deref()
    .map_err(Clone::clone)
}

/// Sets cuBLAS's TF32 flag for `f32` matrix products (process-global in candle) and restores
/// the previous value when dropped. TF32 keeps f32's range with a 10-bit mantissa (relative
/// rounding ≈ 5e-4 per product); without a CUDA build the flag does nothing.
///
/// ```
/// let _tf32 = spikelab_core::Tf32Guard::set(true);
/// // f32 matrix products on a CUDA device use TF32 tensor cores until `_tf32` drops.
/// ```
#[cfg(feature = "candle")]
#[derive(Debug)]
pub struct Tf32Guard(bool);

#[cfg(feature = "candle")]
impl Tf32Guard {
    /// Turns TF32 on or off until the guard drops.
    pub fn set(on: bool) -> Self {
        let prev = candle_core::cuda::gemm_reduced_precision_f32();
        candle_core::cuda::set_gemm_reduced_precision_f32(on);
        Tf32Guard(prev)
    }
}

#[cfg(feature = "candle")]
impl Drop for Tf32Guard {
    fn drop(&mut self) {
        candle_core::cuda::set_gemm_reduced_precision_f32(self.0);
    }
}

impl FromStr for Device {
    type Err = CoreError;

    fn from_str(s: &str) -> Result<Self, CoreError> {
        let lower = s.trim().to_ascii_lowercase();
        let bad = || CoreError::InvalidParameter {
            name: "device",
            reason: format!("{s:?}: expected cpu, cuda[:N] or metal[:N]"),
        };
        let (name, ordinal) = match lower.split_once(':') {
            Some((name, n)) => (name, n.parse::<usize>().map_err(|_| bad())?),
            None => (lower.as_str(), 0),
        };
        match name {
            "cpu" if !lower.contains(':') => Ok(Device::Cpu),
            "cuda" | "gpu" => Ok(Device::Cuda(ordinal)),
            "metal" => Ok(Device::Metal(ordinal)),
            _ => Err(bad()),
        }
    }
}

impl fmt::Display for Device {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Device::Cpu => write!(f, "cpu"),
            Device::Cuda(n) => write!(f, "cuda:{n}"),
            Device::Metal(n) => write!(f, "metal:{n}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_display_round_trip() {
        for d in [
            Device::Cpu,
            Device::Cuda(0),
            Device::Cuda(7),
            Device::Metal(1),
        ] {
            assert_eq!(d.to_string().parse::<Device>().unwrap(), d);
        }
        assert_eq!("gpu".parse::<Device>().unwrap(), Device::Cuda(0));
        for bad in ["", "cpu:1", "cuda:x", "cuda:-1", "tpu", "metal:"] {
            assert!(bad.parse::<Device>().is_err(), "{bad:?} parsed");
        }
    }
}
