//! Speed table at demo size (452 × 18 137, W 200, K 1): ms per epoch (forward + backward +
//! Adam, mean after warm-up) of the sparse CPU path, the dense CPU path (f32 and f64) and,
//! when built with `--features cuda`, the dense CUDA path; plus the α computation time
//! (15 000 random filters) on the CPU (sparse) and on the GPU (dense).
//!
//! ```text
//! cargo run --release -p spikelab-convseq --example convseq_speed
//! cargo run --release -p spikelab-convseq --features cuda --example convseq_speed -- --cuda
//! options: --sparse-epochs N (200) --dense-cpu-epochs N (3, 0 skips) --gpu-epochs N (200)
//!          --alpha-samples N (15000) --no-cpu-alpha --cuda
//!          --alpha-only (only the α table: plain scatter, then the tiled kernel per SIMD level)
//! ```

use std::time::Instant;

use spikelab_convseq::{
    AlphaOptions, Backend, ConvSeqParams, DenseDType, DenseEngine, Device, Engine, init_logits,
    make_engine, null,
};
use spikelab_core::simd::SimdLevel;
use spikelab_datasets::convseq as bundled;

fn arg(args: &[String], name: &str, default: usize) -> anyhow::Result<usize> {
    match args.iter().position(|a| a == name) {
        Some(i) => Ok(args
            .get(i + 1)
            .ok_or_else(|| anyhow::anyhow!("{name} needs a value"))?
            .parse()?),
        None => Ok(default),
    }
}

fn time_engine(e: &mut dyn Engine, warm: usize, epochs: usize) -> anyhow::Result<f64> {
    for _ in 0..warm {
        e.step()?;
    }
    let t0 = Instant::now();
    for _ in 0..epochs {
        e.step()?;
    }
    Ok(1e3 * t0.elapsed().as_secs_f64() / epochs as f64)
}

/// GPU engines that queue an epoch without reading anything back.
trait Queued {
    fn queue(&mut self) -> anyhow::Result<()>;
    fn wait(&self) -> anyhow::Result<()>;
}

impl Queued for DenseEngine {
    fn queue(&mut self) -> anyhow::Result<()> {
        Ok(self.step_async()?)
    }
    fn wait(&self) -> anyhow::Result<()> {
        Ok(self.sync()?)
    }
}

#[cfg(feature = "cuda")]
impl Queued for spikelab_convseq::cuda_sparse::SparseCudaEngine {
    fn queue(&mut self) -> anyhow::Result<()> {
        Ok(self.step_async()?)
    }
    fn wait(&self) -> anyhow::Result<()> {
        Ok(self.sync()?)
    }
}

/// ms per epoch without host copies, after 20 warm-up epochs (PTX JIT on a fresh host).
fn ms_queued(e: &mut impl Queued, epochs: usize) -> anyhow::Result<f64> {
    for _ in 0..20 {
        e.queue()?;
    }
    e.wait()?;
    let t0 = Instant::now();
    for _ in 0..epochs {
        e.queue()?;
    }
    e.wait()?;
    Ok(1e3 * t0.elapsed().as_secs_f64() / epochs as f64)
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let sparse_epochs = arg(&args, "--sparse-epochs", 200)?;
    let dense_cpu_epochs = arg(&args, "--dense-cpu-epochs", 3)?;
    let gpu_epochs = arg(&args, "--gpu-epochs", 200)?;
    let alpha_samples = arg(&args, "--alpha-samples", 15_000)?;
    let use_cuda = args.iter().any(|a| a == "--cuda");
    let cpu_alpha = !args.iter().any(|a| a == "--no-cpu-alpha");

    let alpha_only = args.iter().any(|a| a == "--alpha-only");
    let raster = bundled::demo_raster()?;
    let base = ConvSeqParams::default();
    let logits = init_logits(1, raster.n_neurons(), base.width_bins, 0);
    println!(
        "demo raster {} × {}, {} spikes, W {}, K 1; rayon threads {}",
        raster.n_neurons(),
        raster.n_bins(),
        raster.nnz(),
        base.width_bins,
        rayon::current_num_threads()
    );
    println!(
        "load average before: {}",
        std::fs::read_to_string("/proc/loadavg")
            .unwrap_or_default()
            .trim()
    );
    if alpha_only {
        return alpha_table(&raster, alpha_samples, cpu_alpha, use_cuda);
    }
    println!("| path | device | dtype | ms/epoch | epochs timed |");
    println!("| --- | --- | --- | --- | --- |");
    let ps = ConvSeqParams {
        backend: Backend::Sparse,
        ..base.clone()
    };
    let mut e = make_engine(&raster, &ps, logits.clone())?;
    let ms = time_engine(e.as_mut(), 10, sparse_epochs)?;
    println!("| sparse (event-driven) | cpu | f64 | {ms:.3} | {sparse_epochs} |");
    drop(e);
    if dense_cpu_epochs > 0 {
        for dtype in [DenseDType::F32, DenseDType::F64] {
            let pd = ConvSeqParams {
                backend: Backend::Dense {
                    device: Device::Cpu,
                    dtype,
                },
                ..base.clone()
            };
            let mut e = make_engine(&raster, &pd, logits.clone())?;
            let ms = time_engine(e.as_mut(), 1, dense_cpu_epochs)?;
            println!(
                "| dense (GEMM + diagonal sum) | cpu | {dtype:?} | {ms:.1} | {dense_cpu_epochs} |"
            );
        }
    }
    let mut gpu_rows = Vec::new();
    if use_cuda {
        let dev = spikelab_convseq::params::candle_device(Device::Cuda(0))?;
        {
            let dtype = DenseDType::F32;
            let pd = ConvSeqParams {
                backend: Backend::Dense {
                    device: Device::Cuda(0),
                    dtype,
                },
                ..base.clone()
            };
            let mut e = DenseEngine::new(&raster, pd.clone(), &logits, &dev, dtype_candle(dtype))?;
            let ms_async = ms_queued(&mut e, gpu_epochs)?;
            let ms_logged = time_engine(&mut e, 2, gpu_epochs)?;
            println!(
                "| dense, no per-epoch copy | cuda:0 | {dtype:?} | {ms_async:.3} | {gpu_epochs} |"
            );
            println!(
                "| dense, loss copied each epoch | cuda:0 | {dtype:?} | {ms_logged:.3} | {gpu_epochs} |"
            );
            // Same loss and gradient as the sparse path at the initial logits.
            let mut es = make_engine(&raster, &ps, logits.clone())?;
            let mut eg = DenseEngine::new(&raster, pd, &logits, &dev, dtype_candle(dtype))?;
            let (ts, gs) = es.loss_and_grad()?;
            let (tg, gg) = eg.loss_and_grad()?;
            let num: f64 = gs
                .iter()
                .zip(gg.iter())
                .map(|(a, b)| (a - b) * (a - b))
                .sum::<f64>()
                .sqrt();
            let den: f64 = gs.iter().map(|a| a * a).sum::<f64>().sqrt();
            gpu_rows.push(format!(
                "cuda vs sparse at init: loss rel diff {:.2e}, gradient rel diff {:.2e}",
                ((ts.total - tg.total) / ts.total).abs(),
                num / den
            ));
        }
    }
    #[cfg(feature = "cuda")]
    if use_cuda {
        gpu_rows.extend(sparse_cuda_rows(&raster, &base, &logits, gpu_epochs)?);
    }
    for r in gpu_rows {
        println!("{r}");
    }
    alpha_table(&raster, alpha_samples, cpu_alpha, use_cuda)
}

/// The event-driven CUDA path: ms/epoch with and without the per-epoch loss copy, then its
/// loss and gradient against the CPU sparse path at the initial logits and after 500 epochs.
#[cfg(feature = "cuda")]
fn sparse_cuda_rows(
    raster: &spikelab_convseq::SparseRaster,
    base: &ConvSeqParams,
    logits: &[f64],
    epochs: usize,
) -> anyhow::Result<Vec<String>> {
    use spikelab_convseq::cuda_sparse::SparseCudaEngine;
    let p = ConvSeqParams {
        backend: Backend::SparseCuda { ordinal: 0 },
        ..base.clone()
    };
    let mut e = SparseCudaEngine::new(raster, p.clone(), logits, 0)?;
    let ms_async = ms_queued(&mut e, epochs)?;
    let ms_logged = time_engine(&mut e, 2, epochs)?;
    println!(
        "| sparse (event-driven), no per-epoch copy | cuda:0 | f64 | {ms_async:.3} | {epochs} |"
    );
    println!(
        "| sparse (event-driven), loss copied each epoch | cuda:0 | f64 | {ms_logged:.3} | {epochs} |"
    );
    let ps = ConvSeqParams {
        backend: Backend::Sparse,
        ..base.clone()
    };
    let rel = |a: &ndarray::Array3<f64>, b: &ndarray::Array3<f64>| {
        let num: f64 = a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum::<f64>();
        (num / a.iter().map(|x| x * x).sum::<f64>()).sqrt()
    };
    let mut rows = Vec::new();
    let mut cpu = make_engine(raster, &ps, logits.to_vec())?;
    let mut gpu = SparseCudaEngine::new(raster, p, logits, 0)?;
    for at in [0usize, 500] {
        for _ in 0..at {
            cpu.step()?;
            gpu.step()?;
        }
        let (tc, gc) = cpu.loss_and_grad()?;
        let (tg, gg) = gpu.loss_and_grad()?;
        rows.push(format!(
            "sparse cuda vs sparse cpu after {at} epochs: loss rel diff {:.2e}, gradient rel diff {:.2e}, logits rel diff {:.2e}",
            ((tc.total - tg.total) / tc.total).abs(),
            rel(&gc, &gg),
            rel(&cpu.logits()?, &gpu.logits()?)
        ));
    }
    Ok(rows)
}

fn alpha_table(
    raster: &spikelab_data::SparseRaster,
    alpha_samples: usize,
    cpu_alpha: bool,
    use_cuda: bool,
) -> anyhow::Result<()> {
    let opts = AlphaOptions {
        n_samples: alpha_samples,
        ..Default::default()
    };
    println!();
    println!("| α ({alpha_samples} random filters) | device | seconds (wall, CPU) | α |");
    println!("| --- | --- | --- | --- |");
    if cpu_alpha {
        // The plain scatter and the tiled kernel at every SIMD level this CPU has, one after
        // the other in one process (on a shared machine, compare the ratios). CPU seconds are
        // this process's user + system time (Linux), which other jobs inflate less than the
        // wall-clock time; on an idle machine wall ≈ CPU / threads.
        let mut runs: Vec<(String, AlphaRun)> = vec![(
            "sparse f32, plain scatter (reference)".into(),
            Box::new(|| null::alpha_random_filters_reference(raster, 200, &opts, 0)),
        )];
        for level in SimdLevel::supported().into_iter().rev() {
            runs.push((
                format!("sparse f32, tiled, {level}"),
                Box::new(move || null::alpha_random_filters_at(raster, 200, &opts, 0, level)),
            ));
        }
        runs.push((
            "exact moments, E[mean] + 5·sqrt(E[var]) (not the Monte-Carlo α)".into(),
            Box::new(|| null::alpha_moments(raster, 200, &opts)),
        ));
        for k in [300usize, 1500] {
            let o = AlphaOptions {
                n_samples: k,
                ..opts
            };
            runs.push((
                format!("control variate, {k} filters, tiled (estimates the Monte-Carlo α)"),
                Box::new(move || null::alpha_control_variate(raster, 200, &o, 0)),
            ));
        }
        for (label, run) in runs {
            let (t0, c0) = (Instant::now(), cpu_seconds());
            let a = run()?;
            let cpu = cpu_seconds()
                .zip(c0)
                .map_or("n/a".to_string(), |(c1, c0)| format!("{:.2}", c1 - c0));
            println!(
                "| {label} | cpu | {:.2} (CPU {cpu}) | {:.6} |",
                t0.elapsed().as_secs_f64(),
                a.alpha
            );
        }
    }
    if use_cuda {
        let dev = spikelab_convseq::params::candle_device(Device::Cuda(0))?;
        let variants = [
            ("dense f32 unfold-GEMM, TF32, batch 500", true, 500),
            ("dense f32 unfold-GEMM, TF32, batch 1000", true, 1000),
            ("dense f32 unfold-GEMM, full f32, batch 500", false, 500),
        ];
        // Warm-up (kernel JIT, cuBLAS handles) on a small null.
        let small = AlphaOptions {
            n_samples: 200,
            ..opts
        };
        null::alpha_random_filters_dense(
            raster,
            200,
            &small,
            1,
            &dev,
            &null::DenseAlphaOptions::default(),
        )?;
        for (label, tf32, batch) in variants {
            let d = null::DenseAlphaOptions {
                tf32,
                batch,
                ..Default::default()
            };
            let t0 = Instant::now();
            let a = null::alpha_random_filters_dense(raster, 200, &opts, 0, &dev, &d)?;
            println!(
                "| {label} | cuda:0 | {:.3} | {:.5} (mean {:.5}, std {:.5}) |",
                t0.elapsed().as_secs_f64(),
                a.alpha,
                a.mean,
                a.std
            );
        }
    }
    println!(
        "load average after: {}",
        std::fs::read_to_string("/proc/loadavg")
            .unwrap_or_default()
            .trim()
    );
    Ok(())
}

/// One way of computing the random-filter null.
type AlphaRun<'a> = Box<dyn Fn() -> spikelab_convseq::Result<null::NullStats> + 'a>;

/// User + system CPU seconds of this process so far (Linux `/proc/self/stat`, in clock
/// ticks of 1/100 s), or `None` elsewhere.
fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let after = stat.rsplit_once(')')?.1;
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks: f64 = f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?;
    Some(ticks / 100.0)
}

fn dtype_candle(d: DenseDType) -> candle_core::DType {
    match d {
        DenseDType::F32 => candle_core::DType::F32,
        DenseDType::F64 => candle_core::DType::F64,
    }
}
