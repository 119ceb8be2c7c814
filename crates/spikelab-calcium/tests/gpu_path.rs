//! The candle fully-convolutional evaluation (the path GPUs take: channels-last unfold + GEMM
//! over all traces laid end to end, in chunks) run on the CPU against our gemm kernel, for both
//! network sizes, traces shorter than the window, exactly one window, and traces spanning
//! several chunks and chunk boundaries.

use spikelab_calcium::spikenet::{Conv1dSpikeNet, Precision, SpikeNetArch, SpikeNetWeights};

fn traces(lengths: &[usize]) -> Vec<Vec<f32>> {
    lengths
        .iter()
        .enumerate()
        .map(|(j, &n)| {
            (0..n)
                .map(|i| {
                    let t = i as f32 * 0.01 + j as f32;
                    (t * 3.1).sin() + 0.5 * (t * 0.37).cos() + if i % 97 == 3 { 2.0 } else { 0.0 }
                })
                .collect()
        })
        .collect()
}

/// Largest |a − b| over the standard deviation of `a`.
fn rel_err(a: &[Vec<f32>], b: &[Vec<f32>]) -> f64 {
    let a: Vec<f64> = a.iter().flatten().map(|&v| v as f64).collect();
    let b: Vec<f64> = b.iter().flatten().map(|&v| v as f64).collect();
    assert_eq!(a.len(), b.len());
    let n = a.len() as f64;
    let mean = a.iter().sum::<f64>() / n;
    let sd = (a.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n).sqrt();
    assert!(sd > 0.0);
    a.iter()
        .zip(&b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f64::max)
        / sd
}

fn correlation(a: &[Vec<f32>], b: &[Vec<f32>]) -> f64 {
    let a: Vec<f64> = a.iter().flatten().map(|&v| v as f64).collect();
    let b: Vec<f64> = b.iter().flatten().map(|&v| v as f64).collect();
    let n = a.len() as f64;
    let (ma, mb) = (a.iter().sum::<f64>() / n, b.iter().sum::<f64>() / n);
    let cov: f64 = a.iter().zip(&b).map(|(x, y)| (x - ma) * (y - mb)).sum();
    let va: f64 = a.iter().map(|x| (x - ma).powi(2)).sum();
    let vb: f64 = b.iter().map(|y| (y - mb).powi(2)).sum();
    cov / (va * vb).sqrt()
}

fn check(arch: SpikeNetArch) -> Result<(), Box<dyn std::error::Error>> {
    let w = arch.window;
    // Shorter than the window, exactly one window, and long traces crossing chunk boundaries
    // (the CPU chunk is 2^26 bytes of unfold: 15 978 windows for Elephant, 29 433 for CASCADE).
    let xs = traces(&[w - 1, w, 1_000, 40_000, 3, 33_333]);
    let refs: Vec<&[f32]> = xs.iter().map(|v| v.as_slice()).collect();
    let net = Conv1dSpikeNet::new(SpikeNetWeights::glorot_uniform(arch, 7)?);
    let fast = net.forward_windows(&refs)?;
    let candle = net
        .clone()
        .with_candle_kernels(true)
        .forward_windows(&refs)?;
    let lens: Vec<usize> = candle.iter().map(Vec::len).collect();
    assert_eq!(lens, fast.iter().map(Vec::len).collect::<Vec<_>>());
    assert_eq!(lens[0], 0);
    assert_eq!(lens[1], 1);
    assert_eq!(lens[3], 40_000 - w + 1);
    let e32 = rel_err(&fast, &candle);
    assert!(
        e32 < 1e-5,
        "{arch:?}: f32 candle path vs gemm kernel {e32:.2e}"
    );

    // TF32 only changes CUDA products: on the CPU it is the f32 path, bit for bit.
    let tf32 = net
        .clone()
        .with_candle_kernels(true)
        .with_precision(Precision::Tf32)
        .forward_windows(&refs)?;
    assert_eq!(tf32, candle);

    let bf16 = net
        .clone()
        .with_candle_kernels(true)
        .with_precision(Precision::Bf16)
        .forward_windows(&refs)?;
    // bf16 rounds every activation and weight to 8 significant bits (2^-9 relative), five
    // layers deep; the worst of the ≈ 75 000 outputs lands within a few % of the output's sd
    // (measured: Elephant 0.038, CASCADE 0.128, whose 2-tap readout cancels more).
    let e16 = rel_err(&fast, &bf16);
    let r16 = correlation(&fast, &bf16);
    eprintln!("{arch:?}: max |Δ|/sd f32 {e32:.2e}, bf16 {e16:.2e} (r {r16:.6})");
    assert!(e16 > 0.0 && e16 < 0.3, "{arch:?}: bf16 {e16:.2e}");
    assert!(r16 > 0.999, "{arch:?}: bf16 correlation {r16}");
    Ok(())
}

#[test]
fn candle_path_equals_gemm_kernel_elephant() -> Result<(), Box<dyn std::error::Error>> {
    check(SpikeNetArch::ELEPHANT)
}

#[test]
fn candle_path_equals_gemm_kernel_cascade() -> Result<(), Box<dyn std::error::Error>> {
    check(SpikeNetArch::CASCADE)
}

/// `forward_windows_on_device` on the CPU (candle's unfold ops) against the gemm kernel, and
/// its refusal of traces shorter than the window or of an empty batch.
#[test]
fn on_device_entry_point_equals_gemm_kernel() -> Result<(), Box<dyn std::error::Error>> {
    use candle_core::{Device, Tensor};
    for arch in [SpikeNetArch::ELEPHANT, SpikeNetArch::CASCADE] {
        let net = Conv1dSpikeNet::new(SpikeNetWeights::glorot_uniform(arch, 3)?);
        let xs = traces(&[5_000, 5_000, 5_000]);
        let x = Tensor::from_vec(xs.concat(), (3, 5_000), &Device::Cpu)?;
        let y: Vec<Vec<f32>> = net.forward_windows_on_device(&x)?.to_vec2()?;
        let refs: Vec<&[f32]> = xs.iter().map(|v| v.as_slice()).collect();
        let e = rel_err(&net.forward_windows(&refs)?, &y);
        assert!(e < 1e-5, "{arch:?}: {e:.2e}");
        let w = arch.window;
        let short = Tensor::zeros((2, w - 1), candle_core::DType::F32, &Device::Cpu)?;
        assert!(net.forward_windows_on_device(&short).is_err());
        let empty = Tensor::zeros((0, w), candle_core::DType::F32, &Device::Cpu)?;
        assert!(net.forward_windows_on_device(&empty).is_err());
    }
    Ok(())
}

/// Every GPU kernel choice and precision on a CUDA device against the CPU gemm kernel
/// (`--features cuda`, or `cudnn` for the cuDNN rows; fails without a device). The long
/// trace crosses the cuDNN path's chunk boundary for Elephant (1 789 569 windows) and its
/// batch rows (360 000 windows by default).
#[cfg(feature = "cuda")]
#[test]
fn cuda_kernels_match_the_gemm_kernel() -> Result<(), Box<dyn std::error::Error>> {
    use spikelab_calcium::spikenet::GpuKernels;
    let dev = candle_core::Device::new_cuda(0)?;
    let mut kernels = vec![GpuKernels::Unfold];
    if cfg!(feature = "cudnn") {
        kernels.extend([
            GpuKernels::CudnnChannelsLast,
            GpuKernels::CudnnChannelsFirst,
        ]);
    }
    for arch in [SpikeNetArch::ELEPHANT, SpikeNetArch::CASCADE] {
        let w = arch.window;
        let xs = traces(&[w - 1, w, 1_000, 1_900_000, 3, 33_333]);
        let refs: Vec<&[f32]> = xs.iter().map(|v| v.as_slice()).collect();
        let net = Conv1dSpikeNet::new(SpikeNetWeights::glorot_uniform(arch, 7)?);
        let cpu = net.forward_windows(&refs)?;
        for &k in &kernels {
            for precision in [Precision::F32, Precision::Tf32, Precision::Bf16] {
                let gpu = net
                    .clone()
                    .with_device(dev.clone())
                    .with_gpu_kernels(k)
                    .with_precision(precision)
                    .forward_windows(&refs)?;
                let lens: Vec<usize> = gpu.iter().map(Vec::len).collect();
                assert_eq!(lens, cpu.iter().map(Vec::len).collect::<Vec<_>>());
                let (e, r) = (rel_err(&cpu, &gpu), correlation(&cpu, &gpu));
                eprintln!("{arch:?} {k:?} {precision:?}: max |Δ|/sd {e:.2e}, r {r:.7}");
                let bound = match precision {
                    Precision::F32 => 5e-5,
                    Precision::Tf32 => 3e-2,
                    _ => 0.3,
                };
                assert!(e < bound, "{arch:?} {k:?} {precision:?}: {e:.2e}");
                assert!(r > 0.999, "{arch:?} {k:?} {precision:?}: r {r}");
            }
            // traces held on the device, outputs left there
            let (n_traces, samples) = (3, 50_000);
            let equal = traces(&vec![samples; n_traces]);
            let x = candle_core::Tensor::from_vec(equal.concat(), (n_traces, samples), &dev)?;
            let on_dev = net
                .clone()
                .with_gpu_kernels(k)
                .forward_windows_on_device(&x)?;
            assert_eq!(on_dev.dims(), &[n_traces, samples - w + 1]);
            let on_dev: Vec<Vec<f32>> = on_dev.to_vec2()?;
            let eq_refs: Vec<&[f32]> = equal.iter().map(|v| v.as_slice()).collect();
            let e = rel_err(&net.forward_windows(&eq_refs)?, &on_dev);
            eprintln!("{arch:?} {k:?} F32 on the device: max |Δ|/sd {e:.2e}");
            assert!(e < 5e-5, "{arch:?} {k:?} on the device: {e:.2e}");
            if k != GpuKernels::Unfold {
                // many short batch rows, the last one padded: the same numbers
                let rows = net
                    .clone()
                    .with_device(dev.clone())
                    .with_gpu_kernels(k)
                    .with_gpu_segment_windows(10_007)?
                    .forward_windows(&refs)?;
                let e = rel_err(&cpu, &rows);
                eprintln!("{arch:?} {k:?} F32, rows of 10 007 windows: max |Δ|/sd {e:.2e}");
                assert!(e < 5e-5, "{arch:?} {k:?} rows of 10 007: {e:.2e}");
            }
        }
    }
    Ok(())
}
