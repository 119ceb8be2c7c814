//! The scaling sweeps of `spikelab bench`: every method timed over a range of problem sizes
//! on inputs drawn by `spikelab-synth` (seeded, so every run times the same data).
//!
//! | suite | what is timed | inputs |
//! | --- | --- | --- |
//! | `convseq` | one training epoch against neurons and against bins (sparse path on the CPU, dense on a GPU) | Poisson raster at the density of the CA1 demo raster |
//! | `calcium` | Elephant CNN inference, fully convolutional and per window | GCaMP6s traces of 1-Hz Poisson neurons at 100 Hz |
//! | `neulvm` | loss and gradient against the recording length (CPU) | the neuLVM network simulated by the LIF generator, tiled in time |
//! | `synth` | the Poisson, sequence and LIF generators (CPU) | — |
//! | `io` | NPY raster and NWB units write/read (CPU) | 5-Hz Poisson units, 600 s |
//!
//! ```
//! use spikelab_bench::workloads::{Suite, SweepOptions};
//! use spikelab_bench::{Device, Report};
//! let mut report = Report::new("I/O, quick");
//! let opts = SweepOptions { quick: true };
//! let plots = "io".parse::<Suite>()?.run(Device::Cpu, &opts, &mut report, &mut spikelab_core::Silent)?;
//! assert_eq!(plots[0].name, "io-formats");
//! assert!(report.records.iter().any(|r| r.name == "cpu_npy_raster_read"));
//! # Ok::<(), spikelab_bench::BenchError>(())
//! ```

use std::path::Path;
use std::str::FromStr;

use ndarray::{Array3, s};
use serde::{Deserialize, Serialize};
use spikelab_core::{Flow, Observer, Progress};

use crate::{BenchError, Device, Record, Report, Result, Timing, bench_name, candle, time_it};

/// One sweep of `spikelab bench`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Suite {
    /// convSeq epochs.
    Convseq,
    /// Elephant CNN inference.
    Calcium,
    /// neuLVM loss and gradient.
    Neulvm,
    /// The synthetic generators.
    Synth,
    /// File formats.
    Io,
}

impl Suite {
    /// Every suite, in report order.
    pub const ALL: [Suite; 5] = [
        Suite::Convseq,
        Suite::Calcium,
        Suite::Neulvm,
        Suite::Synth,
        Suite::Io,
    ];

    /// The name used on the command line and in file names.
    pub fn name(self) -> &'static str {
        match self {
            Suite::Convseq => "convseq",
            Suite::Calcium => "calcium",
            Suite::Neulvm => "neulvm",
            Suite::Synth => "synth",
            Suite::Io => "io",
        }
    }

    /// Runs the sweep on `device`, adds its records to `report` and returns the plots that
    /// show it. Progress: stage = the suite's name, one step per measured size. A suite with
    /// nothing to time on `device` (the CPU-only ones on a GPU) returns no plots.
    pub fn run(
        self,
        device: Device,
        opts: &SweepOptions,
        report: &mut Report,
        observer: &mut dyn Observer,
    ) -> Result<Vec<PlotSpec>> {
        if !device.is_cpu() {
            candle(device)?;
        }
        let mut ctx = Ctx {
            device,
            quick: opts.quick,
            report,
            observer,
            stage: self.name(),
            step: 0,
            total: 0,
        };
        let plots = match self {
            Suite::Convseq => convseq(&mut ctx)?,
            Suite::Calcium => calcium(&mut ctx)?,
            Suite::Neulvm if device.is_cpu() => neulvm(&mut ctx)?,
            Suite::Synth if device.is_cpu() => synth(&mut ctx)?,
            Suite::Io if device.is_cpu() => io(&mut ctx)?,
            _ => Vec::new(),
        };
        Ok(plots
            .into_iter()
            .map(|p| PlotSpec {
                name: format!("{}-{}", self.name(), p.name),
                ..p
            })
            .collect())
    }
}

impl FromStr for Suite {
    type Err = BenchError;

    fn from_str(s: &str) -> Result<Self> {
        Suite::ALL
            .into_iter()
            .find(|x| x.name() == s)
            .ok_or_else(|| BenchError::InvalidParameter {
                name: "suite",
                reason: format!(
                    "unknown suite {s:?}: use one of {}",
                    Suite::ALL.map(Suite::name).join(", ")
                ),
            })
    }
}

/// Options of a sweep.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SweepOptions {
    /// Smaller sweeps (a smoke test that takes seconds).
    pub quick: bool,
}

/// A scaling plot of some records of a report: file stem, the full record names
/// ([`bench_name`]) drawn, and the label of the size axis.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlotSpec {
    /// File stem, `<suite>-<plot>`.
    pub name: String,
    /// Full record names drawn.
    pub series: Vec<String>,
    /// Label of the size axis.
    pub x_label: String,
}

struct Ctx<'a> {
    device: Device,
    quick: bool,
    report: &'a mut Report,
    observer: &'a mut dyn Observer,
    stage: &'static str,
    step: usize,
    total: usize,
}

impl Ctx<'_> {
    fn push(&mut self, r: Record) {
        self.report.push(r);
    }
    fn record(&self, name: &str, size_name: &str, size: f64, t: Timing) -> Record {
        Record::new(name, self.device, size_name, size, t)
    }
    fn start(&mut self, total: usize) {
        self.total = total;
        self.step = 0;
    }
    /// Reports one finished size; a stop request ends the sweep with what was measured.
    fn done(&mut self) -> bool {
        let p = Progress::new(self.stage, self.step).with_total(self.total);
        self.step += 1;
        self.observer.observe(&p) == Flow::Stop
    }
    fn plot(&self, name: &str, series: &[&str], x_label: &str) -> PlotSpec {
        PlotSpec {
            name: name.into(),
            series: series.iter().map(|s| bench_name(self.device, s)).collect(),
            x_label: x_label.into(),
        }
    }
}

fn run_err(e: impl std::fmt::Display) -> BenchError {
    BenchError::Run(e.to_string())
}

/// Poisson spike trains of `n` neurons at `rate_hz` for `duration_s`.
fn poisson(
    n: usize,
    rate_hz: f64,
    duration_s: f64,
    seed: u64,
) -> Result<spikelab_data::SpikeTrains> {
    spikelab_synth::PoissonParams::constant(vec![rate_hz; n], duration_s)
        .generate(seed)
        .map(|(st, _)| st)
        .map_err(run_err)
}

fn convseq(ctx: &mut Ctx<'_>) -> Result<Vec<PlotSpec>> {
    use spikelab_convseq::{
        Backend, ConvSeqParams, DenseDType, SparseRaster, init_logits, make_engine,
    };
    const BIN_S: f64 = 0.05;
    let rate_hz = 16_982.0 / (452.0 * 18_137.0) / BIN_S; // the demo raster's density
    let raster = |n: usize, t: usize| -> Result<SparseRaster> {
        let st = poisson(n, rate_hz, t as f64 * BIN_S, 7)?;
        Ok(st.bin_sparse(BIN_S).map_err(run_err)?.binarized())
    };
    let cpu = ctx.device.is_cpu();
    let backend = match ctx.device {
        Device::Cpu => Backend::Sparse,
        device => Backend::Dense {
            device,
            dtype: DenseDType::F32,
        },
    };
    let path = if cpu { "sparse" } else { "dense" };
    let params = ConvSeqParams {
        backend,
        ..Default::default()
    };
    let (ns, ts): (Vec<usize>, Vec<usize>) = if ctx.quick {
        (vec![100, 452, 2000], vec![5_000, 18_137, 100_000])
    } else if !cpu {
        // The dense path holds the whole [N, T] raster and its projections on the device.
        (
            vec![100, 452, 2_000, 10_000],
            vec![5_000, 18_137, 100_000, 1_000_000],
        )
    } else {
        (
            vec![100, 452, 2_000, 10_000],
            vec![5_000, 18_137, 100_000, 1_000_000, 10_000_000],
        )
    };
    ctx.start(ns.len() + ts.len());
    let device = ctx.device;
    let epoch = |n: usize, t: usize| -> Result<Timing> {
        let r = raster(n, t)?;
        let mut e =
            make_engine(&r, &params, init_logits(1, n, params.width_bins, 0)).map_err(run_err)?;
        let reps = if n * t > 50_000_000 { 3 } else { 10 };
        time_it(device, 2, reps, || e.step().map(|_| ()))
    };
    let name_n = format!("convseq_{path}_epoch_vs_neurons");
    let name_t = format!("convseq_{path}_epoch_vs_bins");
    let sizes = ns
        .iter()
        .map(|&n| (&name_n, "neurons", n, 18_137))
        .chain(ts.iter().map(|&t| (&name_t, "bins", 452, t)));
    for (name, axis, n, t) in sizes {
        let size = if axis == "neurons" { n } else { t };
        let r = ctx.record(name, axis, size as f64, epoch(n, t)?);
        ctx.push(r);
        if ctx.done() {
            break;
        }
    }
    Ok(vec![
        ctx.plot("neurons", &[&name_n], "neurons (18 137 bins, W 200, K 1)"),
        ctx.plot("bins", &[&name_t], "bins (452 neurons, W 200, K 1)"),
    ])
}

fn calcium(ctx: &mut Ctx<'_>) -> Result<Vec<PlotSpec>> {
    use spikelab_calcium::{ElephantCnn, Evaluation};
    use spikelab_synth::{CalciumParams, Indicator};
    let mut cnn = ElephantCnn::embedded(1).map_err(run_err)?;
    if !ctx.device.is_cpu() {
        cnn = cnn.with_device(candle(ctx.device)?);
    }
    let per_window = cnn.clone().with_evaluation(Evaluation::PerWindow);
    let trace = |len: usize, neurons: usize| -> Result<spikelab_data::CalciumTraces> {
        let spikes = poisson(neurons, 1.0, len as f64 / 100.0, 11)?;
        CalciumParams::new(100.0, Indicator::Gcamp6s)
            .with_noise_level(2.0)
            .generate(&spikes, 11)
            .map(|(t, _)| t)
            .map_err(run_err)
    };
    let lens: Vec<usize> = if ctx.quick {
        vec![10_000, 100_000]
    } else {
        vec![10_000, 100_000, 360_000, 1_000_000]
    };
    ctx.start(lens.len() + 2);
    let device = ctx.device;
    let runs = lens
        .iter()
        .map(|&len| ("calcium_fully_conv", len, 4, &cnn, 1, 3))
        .chain([2_000usize, 10_000].map(|len| ("calcium_per_window", len, 1, &per_window, 0, 1)));
    for (name, len, neurons, net, warmup, repeats) in runs {
        let tr = trace(len, neurons)?;
        let samples = (tr.n_frames() * neurons) as f64;
        let t = time_it(device, warmup, repeats, || net.predict(&tr).map(|_| ()))?;
        let r = ctx
            .record(name, "samples", samples, t)
            .with_throughput("samples/s", samples);
        ctx.push(r);
        if ctx.done() {
            break;
        }
    }
    Ok(vec![ctx.plot(
        "inference",
        &["calcium_fully_conv", "calcium_per_window"],
        "samples (100 Hz frames × neurons)",
    )])
}

fn neulvm(ctx: &mut Ctx<'_>) -> Result<Vec<PlotSpec>> {
    use spikelab_neulvm::{LambdaFallback, ModelConfig, NeuLvm, Params, Recording, Wrt};
    // neuLVM's 3-population network (11 s, 9 recorded neurons in 4-ms bins), tiled in time.
    let (sim, _) = spikelab_synth::LifParams::default()
        .generate(20_221_011)
        .map_err(run_err)?;
    let base = sim.rebin(20).map_err(run_err)?.spikes;
    let (m, t0, k) = base.dim();
    let factors: Vec<usize> = if ctx.quick {
        vec![1, 2]
    } else {
        vec![1, 2, 4, 8]
    };
    ctx.start(factors.len());
    let params = Params::winner_take_all_ground_truth();
    let device = ctx.device;
    for &f in &factors {
        let mut sp = Array3::<u8>::zeros((m, t0 * f, k));
        for r in 0..f {
            sp.slice_mut(s![.., r * t0..(r + 1) * t0, ..]).assign(&base);
        }
        let rec = Recording::new(sp).map_err(run_err)?;
        let model = NeuLvm::new(ModelConfig::winner_take_all(), rec).map_err(run_err)?;
        let z = model.initial_latent(0.4).map_err(run_err)?;
        let bins = model.n_modelled_bins() as f64;
        let t = time_it(device, 1, 5, || {
            model
                .loss_with(&params, z.view(), LambdaFallback::MStep)
                .map(|_| ())
        })?;
        let r = ctx.record("neulvm_loss", "bins", bins, t);
        ctx.push(r);
        let t = time_it(device, 1, 5, || {
            model
                .gradient(&params, z.view(), LambdaFallback::MStep, Wrt::Both)
                .map(|_| ())
        })?;
        let r = ctx.record("neulvm_gradient", "bins", bins, t);
        ctx.push(r);
        if ctx.done() {
            break;
        }
    }
    Ok(vec![ctx.plot(
        "loss",
        &["neulvm_loss", "neulvm_gradient"],
        "modelled 4-ms bins (3 populations, 9 neurons, A = 250)",
    )])
}

fn synth(ctx: &mut Ctx<'_>) -> Result<Vec<PlotSpec>> {
    use spikelab_synth::{LifParams, PoissonParams, SequenceParams};
    let neurons: Vec<usize> = if ctx.quick {
        vec![100, 1_000]
    } else {
        vec![100, 1_000, 10_000]
    };
    ctx.start(neurons.len() + 3);
    let device = ctx.device;
    for &n in &neurons {
        // 10 Hz for 100 s: 1000 spikes per neuron.
        let p = PoissonParams::constant(vec![10.0; n], 100.0);
        let mut spikes = 0.0;
        let t = time_it(device, 1, 3, || {
            p.generate(1)
                .map(|(st, _)| spikes = st.total_spikes() as f64)
        })?;
        let r = ctx
            .record("synth_poisson", "neurons", n as f64, t)
            .with_throughput("spikes/s", spikes);
        ctx.push(r);
        if ctx.done() {
            return Ok(Vec::new());
        }
    }
    for &bins in &[18_137u64, 181_370] {
        let p = SequenceParams {
            n_bins: bins,
            ..Default::default()
        };
        let mut spikes = 0.0;
        let t = time_it(device, 1, 3, || {
            p.generate(1).map(|(r, _)| spikes = r.total_spikes() as f64)
        })?;
        let r = ctx
            .record("synth_sequences", "bins", bins as f64, t)
            .with_throughput("spikes/s", spikes);
        ctx.push(r);
        if ctx.done() {
            return Ok(Vec::new());
        }
    }
    let lif = LifParams {
        duration_s: if ctx.quick { 2.0 } else { 11.0 },
        ..Default::default()
    };
    let steps = lif.n_steps() as f64 * lif.n_neurons.iter().sum::<usize>() as f64;
    let t = time_it(device, 0, 2, || lif.generate(1).map(|_| ()))?;
    let r = ctx
        .record("synth_lif", "neuron_steps", steps, t)
        .with_throughput("neuron-steps/s", steps);
    ctx.push(r);
    ctx.done();
    Ok(vec![ctx.plot(
        "generators",
        &["synth_poisson"],
        "neurons (10 Hz, 100 s)",
    )])
}

fn io(ctx: &mut Ctx<'_>) -> Result<Vec<PlotSpec>> {
    let dir = std::env::temp_dir().join(format!("spikelab-bench-io-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|source| BenchError::Io {
        path: dir.clone(),
        source,
    })?;
    let result = io_sizes(ctx, &dir);
    let _ = std::fs::remove_dir_all(&dir);
    result?;
    let mut names = vec!["npy_raster_write", "npy_raster_read"];
    if cfg!(feature = "hdf5") {
        names.extend(["nwb_units_write", "nwb_units_read"]);
    }
    Ok(vec![ctx.plot(
        "formats",
        &names,
        "spikes (5 Hz units, 600 s)",
    )])
}

fn io_sizes(ctx: &mut Ctx<'_>, dir: &Path) -> Result<()> {
    use spikelab_data::io::npy;
    let units: Vec<usize> = if ctx.quick {
        vec![10, 100]
    } else {
        vec![10, 100, 1_000]
    };
    ctx.start(units.len());
    let device = ctx.device;
    for &u in &units {
        let st = poisson(u, 5.0, 600.0, 3)?;
        let spikes = st.total_spikes() as f64;
        let raster = st.bin(0.01).map_err(run_err)?;
        let path = dir.join("r.npy");
        let t = time_it(device, 1, 3, || npy::write(&path, raster.counts(), true))?;
        let r = ctx.record("npy_raster_write", "spikes", spikes, t);
        ctx.push(r.with_throughput("spikes/s", spikes));
        let t = time_it(device, 1, 3, || npy::read_raster(&path, 0.01).map(|_| ()))?;
        let r = ctx.record("npy_raster_read", "spikes", spikes, t);
        ctx.push(r.with_throughput("spikes/s", spikes));
        nwb(ctx, dir, &st)?;
        if ctx.done() {
            break;
        }
    }
    Ok(())
}

#[cfg(feature = "hdf5")]
fn nwb(ctx: &mut Ctx<'_>, dir: &Path, st: &spikelab_data::SpikeTrains) -> Result<()> {
    use spikelab_data::io::nwb;
    let spikes = st.total_spikes() as f64;
    let p = dir.join("u.nwb");
    let opts = nwb::NwbWriteOptions {
        overwrite: true,
        ..nwb::NwbWriteOptions::new("benchmark")
    };
    let t = time_it(ctx.device, 1, 3, || nwb::write_units(&p, st, &opts))?;
    let r = ctx.record("nwb_units_write", "spikes", spikes, t);
    ctx.push(r.with_throughput("spikes/s", spikes));
    let t = time_it(ctx.device, 1, 3, || nwb::read_units(&p).map(|_| ()))?;
    let r = ctx.record("nwb_units_read", "spikes", spikes, t);
    ctx.push(r.with_throughput("spikes/s", spikes));
    Ok(())
}

#[cfg(not(feature = "hdf5"))]
fn nwb(_: &mut Ctx<'_>, _: &Path, _: &spikelab_data::SpikeTrains) -> Result<()> {
    Ok(())
}
