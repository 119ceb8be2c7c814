//! `spikelab bench`: scaling sweeps outside criterion, written as JSON, markdown and plots.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use indicatif::{ProgressBar, ProgressStyle};
use spikelab_bench::{BenchDevice, Record, Report, plot::scaling_plot, time_it};

/// Arguments of `spikelab bench`.
#[derive(clap::Args, Debug)]
pub struct BenchArgs {
    /// Which sweeps: `scaling` (every method), or one of `convseq`, `calcium`, `neulvm`,
    /// `synth`, `io`.
    #[arg(long, default_value = "scaling")]
    pub suite: String,
    /// `cpu`, `cuda` or `cuda:N` (CUDA needs a build with `--features cuda`).
    #[arg(long, default_value = "cpu")]
    pub device: String,
    /// Output folder for `<suite>-<device>.json`, `.md` and the PNG plots.
    #[arg(long, default_value = "docs/benchmarks")]
    pub out: PathBuf,
    /// Smaller sweeps (a smoke test that takes seconds).
    #[arg(long)]
    pub quick: bool,
    /// Replace existing result files.
    #[arg(long)]
    pub force: bool,
}

const SUITES: [&str; 5] = ["convseq", "calcium", "neulvm", "synth", "io"];

/// A reproducible pseudo-random stream (SplitMix64) for synthetic benchmark inputs.
struct Mix(u64);
impl Mix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

fn bar(len: usize, what: &str) -> ProgressBar {
    let b = ProgressBar::new(len as u64);
    b.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} {msg} [{elapsed_precise}]")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    b.set_message(what.to_string());
    b
}

/// `spikelab bench`.
pub fn run(a: BenchArgs) -> Result<()> {
    let device = BenchDevice::parse(&a.device)?;
    let suites: Vec<&str> = match a.suite.as_str() {
        "scaling" | "all" => SUITES.to_vec(),
        s if SUITES.contains(&s) => vec![s],
        other => bail!(
            "unknown suite {other:?}: use scaling (all) or one of {}",
            SUITES.join(", ")
        ),
    };
    std::fs::create_dir_all(&a.out).with_context(|| format!("creating {}", a.out.display()))?;
    let stem = format!("{}-{}", a.suite, device.label().replace(':', ""));
    let json = a.out.join(format!("{stem}.json"));
    let md = a.out.join(format!("{stem}.md"));
    for p in [&json, &md] {
        if p.exists() && !a.force {
            bail!(
                "{} exists; pass --force to replace it or choose another --out",
                p.display()
            );
        }
    }
    let mut report = Report::new(&format!(
        "spikelab scaling ({}, {})",
        a.suite,
        device.label()
    ));
    report.notes.push(format!(
        "command: spikelab bench --suite {} --device {}{}",
        a.suite,
        a.device,
        if a.quick { " --quick" } else { "" }
    ));
    let mut plots: Vec<(String, Vec<String>, &'static str)> = Vec::new();
    for s in suites {
        let names = match s {
            "convseq" => convseq(&device, a.quick, &mut report)?,
            "calcium" => calcium(&device, a.quick, &mut report)?,
            "neulvm" => neulvm(&device, a.quick, &mut report)?,
            "synth" => synth(&device, a.quick, &mut report)?,
            "io" => io_suite(&device, a.quick, &mut report)?,
            _ => unreachable!("suite list checked above"),
        };
        for (plot, names, x) in names {
            plots.push((format!("{s}-{plot}"), names, x));
        }
    }
    report.write_json(&json, a.force)?;
    std::fs::write(&md, report.to_markdown())
        .with_context(|| format!("writing {}", md.display()))?;
    for (name, names, x) in plots {
        let png = a
            .out
            .join(format!("{name}-{}.png", device.label().replace(':', "")));
        let refs: Vec<&str> = names.iter().map(String::as_str).collect();
        scaling_plot(&report, &refs, x, &png, (900, 600), a.force)?;
        println!("plot → {}", png.display());
    }
    println!("{}", report.to_markdown());
    println!("results → {} and {}", json.display(), md.display());
    Ok(())
}

type PlotSpec = (String, Vec<String>, &'static str);

fn convseq(device: &BenchDevice, quick: bool, report: &mut Report) -> Result<Vec<PlotSpec>> {
    use spikelab_convseq::{
        Backend, ConvSeqParams, DenseDType, Device, SparseRaster, init_logits, make_engine,
    };
    let rate_per_bin = 16_982.0 / (452.0 * 18_137.0); // the demo raster's density
    let raster = |n: usize, t: usize, seed: u64| -> Result<SparseRaster> {
        let mut r = Mix(seed);
        let m = ((n * t) as f64 * rate_per_bin).round().max(1.0) as usize;
        let ev: Vec<(usize, u64)> = (0..m).map(|_| (r.below(n), r.below(t) as u64)).collect();
        Ok(SparseRaster::from_events(n, t as u64, 0.05, &ev)?)
    };
    let backend = match device {
        BenchDevice::Cpu => Backend::Sparse,
        BenchDevice::Cuda(i) => Backend::Dense {
            device: Device::Cuda(*i),
            dtype: DenseDType::F32,
        },
    };
    let path = if matches!(device, BenchDevice::Cpu) {
        "sparse"
    } else {
        "dense"
    };
    let params = ConvSeqParams {
        backend,
        ..Default::default()
    };
    let (ns, ts): (Vec<usize>, Vec<usize>) = if quick {
        (vec![100, 452, 2000], vec![5_000, 18_137, 100_000])
    } else if !matches!(device, BenchDevice::Cpu) {
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
    let b = bar(ns.len() + ts.len(), "convseq epochs");
    let epoch = |n: usize, t: usize| -> Result<spikelab_bench::Timing> {
        let r = raster(n, t, 7)?;
        let mut e = make_engine(&r, &params, init_logits(1, n, params.width_bins, 0))?;
        let reps = if n * t > 50_000_000 { 3 } else { 10 };
        Ok(time_it(device, 2, reps, || e.step().map(|_| ()))?)
    };
    let name_n = format!("convseq_{path}_epoch_vs_neurons");
    for &n in &ns {
        let t = epoch(n, 18_137)?;
        report.push(Record::new(&name_n, device, "neurons", n as f64, t));
        b.inc(1);
    }
    let name_t = format!("convseq_{path}_epoch_vs_bins");
    for &t in &ts {
        let tm = epoch(452, t)?;
        report.push(Record::new(&name_t, device, "bins", t as f64, tm));
        b.inc(1);
    }
    b.finish_and_clear();
    Ok(vec![
        (
            "neurons".into(),
            vec![device.bench_name(&name_n)],
            "neurons (18 137 bins, W 200, K 1)",
        ),
        (
            "bins".into(),
            vec![device.bench_name(&name_t)],
            "bins (452 neurons, W 200, K 1)",
        ),
    ])
}

fn calcium(device: &BenchDevice, quick: bool, report: &mut Report) -> Result<Vec<PlotSpec>> {
    use spikelab_calcium::{ElephantCnn, Evaluation};
    use spikelab_data::CalciumTraces;
    let mut cnn = ElephantCnn::embedded(1)?;
    if let BenchDevice::Cuda(_) = device {
        cnn = cnn.with_device(device.candle()?);
    }
    let per_window = cnn.clone().with_evaluation(Evaluation::PerWindow);
    let trace = |len: usize, neurons: usize| -> Result<CalciumTraces> {
        let mut r = Mix(11);
        let cols: Vec<Vec<f64>> = (0..neurons)
            .map(|_| {
                let mut x = 0.0f64;
                (0..len)
                    .map(|_| {
                        x = 0.97 * x + if r.below(100) == 0 { 1.0 } else { 0.0 };
                        x + (r.below(1000) as f64 / 1000.0 - 0.5) * 0.2
                    })
                    .collect()
            })
            .collect();
        Ok(CalciumTraces::from_columns(&cols, 100.0)?)
    };
    let lens: Vec<usize> = if quick {
        vec![10_000, 100_000]
    } else {
        vec![10_000, 100_000, 360_000, 1_000_000]
    };
    let b = bar(lens.len() + 2, "calcium inference");
    for &len in &lens {
        let tr = trace(len, 4)?;
        let t = time_it(device, 1, 3, || cnn.predict(&tr).map(|_| ()))?;
        report.push(
            Record::new("calcium_fully_conv", device, "samples", (len * 4) as f64, t)
                .with_throughput("samples/s", (len * 4) as f64),
        );
        b.inc(1);
    }
    for &len in &[2_000usize, 10_000] {
        let tr = trace(len, 1)?;
        let t = time_it(device, 0, 1, || per_window.predict(&tr).map(|_| ()))?;
        report.push(
            Record::new("calcium_per_window", device, "samples", len as f64, t)
                .with_throughput("samples/s", len as f64),
        );
        b.inc(1);
    }
    b.finish_and_clear();
    Ok(vec![(
        "inference".into(),
        vec![
            device.bench_name("calcium_fully_conv"),
            device.bench_name("calcium_per_window"),
        ],
        "samples (100 Hz frames × neurons)",
    )])
}

fn neulvm(device: &BenchDevice, quick: bool, report: &mut Report) -> Result<Vec<PlotSpec>> {
    use ndarray::{Array3, s};
    use spikelab_neulvm::{LambdaFallback, ModelConfig, NeuLvm, Params, Recording, Wrt};
    if !matches!(device, BenchDevice::Cpu) {
        return Ok(Vec::new());
    }
    // The bundled 11-s recording, tiled in time to longer recordings.
    let base = spikelab_data::io::npy::read_typed::<u8, ndarray::Ix3>(&spikelab_datasets::neulvm(
        "spikes_4ms.npy",
    )?)?;
    let (m, t0, k) = base.dim();
    let factors: Vec<usize> = if quick { vec![1, 2] } else { vec![1, 2, 4, 8] };
    let b = bar(factors.len(), "neuLVM loss and gradient");
    let params = Params::winner_take_all_ground_truth();
    for &fct in &factors {
        let mut sp = Array3::<u8>::zeros((m, t0 * fct, k));
        for r in 0..fct {
            sp.slice_mut(s![.., r * t0..(r + 1) * t0, ..]).assign(&base);
        }
        let model = NeuLvm::new(ModelConfig::winner_take_all(), Recording::new(sp)?)?;
        let z = model.initial_latent(0.4)?;
        let bins = (model.n_modelled_bins()) as f64;
        let t = time_it(device, 1, 5, || {
            model
                .loss_with(&params, z.view(), LambdaFallback::MStep)
                .map(|_| ())
        })?;
        report.push(Record::new("neulvm_loss", device, "bins", bins, t));
        let t = time_it(device, 1, 5, || {
            model
                .gradient(&params, z.view(), LambdaFallback::MStep, Wrt::Both)
                .map(|_| ())
        })?;
        report.push(Record::new("neulvm_gradient", device, "bins", bins, t));
        b.inc(1);
    }
    b.finish_and_clear();
    Ok(vec![(
        "loss".into(),
        vec![
            device.bench_name("neulvm_loss"),
            device.bench_name("neulvm_gradient"),
        ],
        "modelled 4-ms bins (3 populations, 9 neurons, A = 250)",
    )])
}

fn synth(device: &BenchDevice, quick: bool, report: &mut Report) -> Result<Vec<PlotSpec>> {
    use spikelab_synth::{LifParams, PoissonParams, SequenceParams};
    if !matches!(device, BenchDevice::Cpu) {
        return Ok(Vec::new());
    }
    let neurons: Vec<usize> = if quick {
        vec![100, 1_000]
    } else {
        vec![100, 1_000, 10_000]
    };
    let b = bar(neurons.len() + 3, "synthetic generators");
    for &n in &neurons {
        // 10 Hz for 100 s: 1000 spikes per neuron.
        let p = PoissonParams::constant(vec![10.0; n], 100.0);
        let mut spikes = 0.0;
        let t = time_it(device, 1, 3, || {
            p.generate(1)
                .map(|(st, _)| spikes = st.total_spikes() as f64)
        })?;
        report.push(
            Record::new("synth_poisson", device, "neurons", n as f64, t)
                .with_throughput("spikes/s", spikes),
        );
        b.inc(1);
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
        report.push(
            Record::new("synth_sequences", device, "bins", bins as f64, t)
                .with_throughput("spikes/s", spikes),
        );
        b.inc(1);
    }
    let lif = LifParams {
        duration_s: if quick { 2.0 } else { 11.0 },
        ..Default::default()
    };
    let steps = lif.n_steps() as f64 * lif.n_neurons.iter().sum::<usize>() as f64;
    let t = time_it(device, 0, 2, || lif.generate(1).map(|_| ()))?;
    report.push(
        Record::new("synth_lif", device, "neuron_steps", steps, t)
            .with_throughput("neuron-steps/s", steps),
    );
    b.finish_and_clear();
    Ok(vec![(
        "generators".into(),
        vec![device.bench_name("synth_poisson")],
        "neurons (10 Hz, 100 s)",
    )])
}

fn trains(n_units: usize, duration_s: f64, seed: u64) -> Result<spikelab_data::SpikeTrains> {
    let mut r = Mix(seed);
    let t: Vec<Vec<f64>> = (0..n_units)
        .map(|_| {
            let mut v: Vec<f64> = (0..(5.0 * duration_s) as usize)
                .map(|_| r.below(1_000_000_000) as f64 * 1e-9 * duration_s)
                .collect();
            v.sort_by(f64::total_cmp);
            v
        })
        .collect();
    Ok(spikelab_data::SpikeTrains::new(t, 0.0, duration_s)?)
}

fn io_suite(device: &BenchDevice, quick: bool, report: &mut Report) -> Result<Vec<PlotSpec>> {
    if !matches!(device, BenchDevice::Cpu) {
        return Ok(Vec::new());
    }
    let dir = std::env::temp_dir().join(format!("spikelab-bench-io-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let units: Vec<usize> = if quick {
        vec![10, 100]
    } else {
        vec![10, 100, 1_000]
    };
    let b = bar(units.len(), "I/O");
    for &u in &units {
        let st = trains(u, 600.0, 3)?;
        let spikes = st.total_spikes() as f64;
        let raster = st.bin(0.01)?;
        let npy = dir.join("r.npy");
        let t = time_it(device, 1, 3, || {
            spikelab_data::io::npy::write(&npy, raster.counts(), true)
        })?;
        report.push(
            Record::new("npy_raster_write", device, "spikes", spikes, t)
                .with_throughput("spikes/s", spikes),
        );
        let t = time_it(device, 1, 3, || {
            spikelab_data::io::npy::read_raster(&npy, 0.01).map(|_| ())
        })?;
        report.push(
            Record::new("npy_raster_read", device, "spikes", spikes, t)
                .with_throughput("spikes/s", spikes),
        );
        nwb_io(device, &dir, &st, report)?;
        b.inc(1);
    }
    b.finish_and_clear();
    let _ = std::fs::remove_dir_all(&dir);
    let mut names = vec![
        device.bench_name("npy_raster_write"),
        device.bench_name("npy_raster_read"),
    ];
    if cfg!(feature = "hdf5") {
        names.push(device.bench_name("nwb_units_write"));
        names.push(device.bench_name("nwb_units_read"));
    }
    Ok(vec![(
        "formats".into(),
        names,
        "spikes (5 Hz units, 600 s)",
    )])
}

#[cfg(feature = "hdf5")]
fn nwb_io(
    device: &BenchDevice,
    dir: &Path,
    st: &spikelab_data::SpikeTrains,
    report: &mut Report,
) -> Result<()> {
    use spikelab_data::io::nwb;
    let spikes = st.total_spikes() as f64;
    let p = dir.join("u.nwb");
    let t = time_it(device, 1, 3, || {
        nwb::write_units(
            &p,
            st,
            &nwb::NwbWriteOptions {
                overwrite: true,
                ..nwb::NwbWriteOptions::new("benchmark")
            },
        )
    })?;
    report.push(
        Record::new("nwb_units_write", device, "spikes", spikes, t)
            .with_throughput("spikes/s", spikes),
    );
    let t = time_it(device, 1, 3, || nwb::read_units(&p).map(|_| ()))?;
    report.push(
        Record::new("nwb_units_read", device, "spikes", spikes, t)
            .with_throughput("spikes/s", spikes),
    );
    Ok(())
}

#[cfg(not(feature = "hdf5"))]
fn nwb_io(_: &BenchDevice, _: &Path, _: &spikelab_data::SpikeTrains, _: &mut Report) -> Result<()> {
    Ok(())
}
