//! Inference throughput (samples/s) of each evaluation path on a synthetic-length recording
//! built by tiling real Spikefinder traces (speed does not depend on the values).
//!
//! ```text
//! cargo run -p spikelab-calcium --release --example calcium_speed -- [neurons] [minutes] [weights]
//! cargo run -p spikelab-calcium --release --features cuda --example calcium_speed -- 100 60
//! cargo run -p spikelab-calcium --release --features cudnn --example calcium_speed -- 100 60
//! ```
//! Defaults: 100 neurons × 60 min at 100 Hz (the issue's benchmark recording). The per-window
//! paths run on a 1 %-size subset (they are ~50× slower), and print their own sample count.

use std::time::Instant;

use candle_core::Device;
use spikelab_calcium::spikenet::{
    Conv1dSpikeNet, GpuKernels, Precision, SpikeNetArch, SpikeNetWeights,
};
use spikelab_calcium::{ElephantCnn, Evaluation};
use spikelab_data::CalciumTraces;
use spikelab_datasets::{self as datasets, Split};

fn recording(neurons: usize, frames: usize) -> anyhow::Result<CalciumTraces> {
    let src = spikelab_data::io::csv::read_calcium(
        &datasets::spikefinder_calcium(4, Split::Test)?,
        100.0,
    )?;
    let base: Vec<f64> = src.trace(0).to_vec();
    let cols: Vec<Vec<f64>> = (0..neurons)
        .map(|j| {
            (0..frames)
                .map(|i| base[(i + 997 * j) % base.len()])
                .collect()
        })
        .collect();
    Ok(CalciumTraces::from_columns(&cols, 100.0)?)
}

fn run(name: &str, cnn: &ElephantCnn, tr: &CalciumTraces) -> anyhow::Result<f64> {
    let _ = cnn.predict(&recording(1, 2000)?)?; // warm-up (allocations, device init)
    let t0 = Instant::now();
    let y = cnn.predict(tr)?;
    let dt = t0.elapsed().as_secs_f64();
    let samples = (tr.n_frames() * tr.n_neurons()) as f64;
    let rate = samples / dt;
    println!(
        "{name:<42} {:>10.0} samples/s  ({} samples in {dt:.3} s; checksum {:.4})",
        rate,
        samples,
        y.iter().filter(|v| v.is_finite()).sum::<f64>()
    );
    Ok(rate)
}

/// The CPU paths: our gemm kernel on the whole recording, candle's fully-convolutional and
/// per-window forms on a 1 % subset.
fn cpu_rows(cnn: &ElephantCnn, full: &CalciumTraces, small: &CalciumTraces) -> anyhow::Result<()> {
    let fc = run("fully-convolutional, CPU (gemm kernel)", cnn, full)?;
    if std::env::var_os("CHUNK_SWEEP").is_some() {
        for chunk in [512, 1024, 2048, 8192] {
            run(
                &format!("  … chunk {chunk}"),
                &cnn.clone().with_chunk_outputs(chunk)?,
                full,
            )?;
        }
    }
    let fc_candle = run(
        "fully-convolutional, CPU (candle unfold + GEMM)",
        &cnn.clone().with_candle_kernels(true),
        small,
    )?;
    let pw = run(
        "per-window, CPU (candle, batch 4096)",
        &cnn.clone().with_evaluation(Evaluation::PerWindow),
        small,
    )?;
    println!("speed-up fully-conv gemm / per-window: {:.0}×", fc / pw);
    println!(
        "speed-up fully-conv gemm / candle fully-conv: {:.1}×",
        fc / fc_candle
    );
    Ok(())
}

/// The network alone (`forward_windows` on f32 traces) on the GPU in each precision, for
/// Elephant (the given weights) and the CASCADE architecture (Glorot weights): samples/s and
/// the largest |difference| from the f32 output over the f32 output's standard deviation.
fn gpu_precisions(cnn: &ElephantCnn, tr: &CalciumTraces, dev: &Device) -> anyhow::Result<()> {
    let cols: Vec<Vec<f32>> = (0..tr.n_neurons())
        .map(|j| tr.trace(j).iter().map(|&v| v as f32).collect())
        .collect();
    let traces: Vec<&[f32]> = cols.iter().map(|c| c.as_slice()).collect();
    let samples = (tr.n_frames() * tr.n_neurons()) as f64;
    // the same traces held on the device, for the host-free rate (equal lengths here)
    let on_device =
        candle_core::Tensor::from_vec(traces.concat(), (traces.len(), tr.n_frames()), dev)?;
    let cascade = Conv1dSpikeNet::new(SpikeNetWeights::glorot_uniform(SpikeNetArch::CASCADE, 1)?);
    // The unfold path first: its f32 output is the reference of every row.
    let mut kernels = vec![GpuKernels::Unfold];
    if cfg!(feature = "cudnn") {
        kernels.extend([
            GpuKernels::CudnnChannelsLast,
            GpuKernels::CudnnChannelsFirst,
        ]);
    }
    // SEGMENTS=a,b,…: windows per batch row of the cuDNN rows (default: the library's)
    let segments: Vec<Option<usize>> = match std::env::var("SEGMENTS") {
        Ok(v) => v
            .split(',')
            .map(|s| s.parse().map(Some))
            .collect::<Result<_, _>>()?,
        Err(_) => vec![None],
    };
    let mut runs = Vec::new();
    for &k in &kernels {
        let segs = if k == GpuKernels::Unfold {
            vec![None]
        } else {
            segments.clone()
        };
        for seg in segs {
            for p in [Precision::F32, Precision::Tf32, Precision::Bf16] {
                runs.push((k, seg, p));
            }
        }
    }
    for (name, net) in [("Elephant", cnn.net().clone()), ("CASCADE", cascade)] {
        let mut reference: Option<Vec<f32>> = None;
        for &(kernels, seg, precision) in &runs {
            let mut net = net
                .clone()
                .with_device(dev.clone())
                .with_gpu_kernels(kernels)
                .with_precision(precision);
            if let Some(seg) = seg {
                net = net.with_gpu_segment_windows(seg)?;
            }
            let seg = seg.map_or(String::new(), |s| format!(" rows of {s}"));
            // warm-up at full size: compiles the kernels and times cuDNN's algorithms
            let _ = net.forward_windows(&traces)?;
            let mut times = Vec::new();
            let mut y = Vec::new();
            for _ in 0..3 {
                let t0 = Instant::now();
                y = net.forward_windows(&traces)?;
                times.push(t0.elapsed().as_secs_f64());
            }
            let dt = times.iter().sum::<f64>() / times.len() as f64;
            let _ = net.forward_windows_on_device(&on_device)?; // warm-up
            dev.synchronize()?;
            let t0 = Instant::now();
            for _ in 0..3 {
                std::hint::black_box(net.forward_windows_on_device(&on_device)?);
            }
            dev.synchronize()?;
            let dt_device = t0.elapsed().as_secs_f64() / 3.0;
            let flat: Vec<f32> = y.concat();
            let err = match &reference {
                None => {
                    reference = Some(flat);
                    String::from("reference")
                }
                Some(r) => {
                    let n = r.len() as f64;
                    let mean = r.iter().map(|&v| v as f64).sum::<f64>() / n;
                    let sd = (r.iter().map(|&v| (v as f64 - mean).powi(2)).sum::<f64>() / n).sqrt();
                    let max = r
                        .iter()
                        .zip(&flat)
                        .map(|(a, b)| (*a as f64 - *b as f64).abs())
                        .fold(0.0, f64::max);
                    format!("max |Δ| / sd {:.2e}", max / sd)
                }
            };
            println!(
                "{name:<9} network, CUDA, {kernels:?}{seg} {precision:<5?} {:>12.0} samples/s, on the device {:>12.0}  (mean of 3: {dt:.3} s, {dt_device:.3} s; {err})",
                samples / dt,
                samples / dt_device
            );
        }
    }
    Ok(())
}

#[cfg(feature = "embedded-weights")]
fn bundled() -> anyhow::Result<ElephantCnn> {
    Ok(ElephantCnn::embedded(1)?)
}

#[cfg(not(feature = "embedded-weights"))]
fn bundled() -> anyhow::Result<ElephantCnn> {
    anyhow::bail!(
        "built without `embedded-weights`: pass a .safetensors weights file as third argument"
    )
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let neurons: usize = args.get(1).map(|s| s.parse()).transpose()?.unwrap_or(100);
    let minutes: f64 = args.get(2).map(|s| s.parse()).transpose()?.unwrap_or(60.0);
    let frames = (minutes * 60.0 * 100.0) as usize;
    println!(
        "recording: {neurons} neurons × {minutes} min at 100 Hz = {} samples; rayon threads: {}",
        neurons * frames,
        rayon::current_num_threads()
    );
    let full = recording(neurons, frames)?;
    let small = recording(
        neurons.clamp(1, 4),
        (frames / 100).max(2000).min(frames.max(2000)),
    )?;
    // Optional third argument: a weights file (needed when built without `keras-h5`).
    let cnn = match args.get(3) {
        Some(p) => ElephantCnn::from_file(std::path::Path::new(p))?,
        None => bundled()?,
    };
    // GPU_ONLY=1 skips the CPU rows (on a GPU host, to time the GPU rows alone).
    if std::env::var_os("GPU_ONLY").is_none() {
        cpu_rows(&cnn, &full, &small)?;
    }
    if candle_core::utils::cuda_is_available() {
        let dev = Device::new_cuda(0)?;
        run(
            "fully-convolutional, CUDA (candle), predict",
            &cnn.clone().with_device(dev.clone()),
            &full,
        )?;
        run(
            "per-window, CUDA (candle, batch 4096)",
            &cnn.clone()
                .with_device(dev.clone())
                .with_evaluation(Evaluation::PerWindow),
            &small,
        )?;
        gpu_precisions(&cnn, &full, &dev)?;
    } else {
        println!("CUDA: not built (enable the `cuda` feature) or no device");
    }
    Ok(())
}
