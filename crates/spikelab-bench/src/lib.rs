//! # spikelab-bench
//!
//! Shared benchmark code for the spikelab workspace: users pick a method by how it scales, so
//! every method is measured the same way and the results are published as tables and plots.
//!
//! * Devices are [`spikelab_core::Device`] (`cpu`, `cuda:0`, re-exported as [`Device`]);
//!   [`time_it`] [`sync`]s the device before the clock is read, so GPU timings are not just
//!   kernel-launch times (the pattern of candle's own benches).
//! * [`workloads`]: the scaling sweeps of `spikelab bench` (convSeq, calcium, neuLVM, the
//!   synthetic generators, I/O), on inputs drawn by `spikelab-synth`.
//! * [`ProblemSize`] gives named sizes per method (demo, paper, stress).
//! * [`time_it`] runs a closure with warm-up and repeats and returns a [`Timing`]
//!   (median, min, mean, all samples).
//! * [`Record`] / [`Report`] are serde records with the machine, device, versions and git
//!   revision, rendered as markdown by [`Report::to_markdown`] and, with the default `plot`
//!   feature, as log-log PNG plots with the fitted scaling exponent ([`plot::scaling_plot`]).
//! * [`detection`]: accuracy sweeps of convSeq's modes over planted-sequence difficulty
//!   (sequence length × dropout × jitter), scored against the generator's ground truth.
//! * [`fit_exponent`] fits `time ≈ c · size^k` by least squares on log-log axes.
//!
//! # Example
//! ```
//! use spikelab_bench::{Device, Record, Report, fit_exponent, time_it};
//! let dev = Device::Cpu;
//! let mut report = Report::new("demo sweep");
//! for n in [1_000usize, 4_000, 16_000] {
//!     let t = time_it(dev, 1, 3, || {
//!         let v: Vec<f64> = (0..n).map(|i| (i as f64).sqrt()).collect();
//!         std::hint::black_box(v);
//!         Ok::<(), std::convert::Infallible>(())
//!     })
//!     .unwrap();
//!     report.push(Record::new("sqrt", dev, "n", n as f64, t));
//! }
//! let k = fit_exponent(&report.series("sqrt", dev)).unwrap();
//! assert!(k.is_finite());
//! assert!(report.to_markdown().contains("| cpu_sqrt |"));
//! ```
#![warn(missing_docs)]

use std::time::Instant;

use serde::{Deserialize, Serialize};
pub use spikelab_core::Device;

pub mod detection;
#[cfg(feature = "plot")]
pub mod plot;
pub mod workloads;

/// Errors of spikelab-bench.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BenchError {
    /// The requested device is not compiled in or not present.
    #[error(
        "device {0} is not available: {1} (build with `--features cuda` and run on a machine with an NVIDIA GPU)"
    )]
    DeviceUnavailable(String, String),
    /// A device synchronisation failed.
    #[error("candle: {0}")]
    Candle(#[from] candle_core::Error),
    /// The benchmarked closure failed.
    #[error("benchmark failed: {0}")]
    Run(String),
    /// Writing results failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: std::path::PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// Bad parameters (no samples, too few points to fit, …).
    #[error("invalid parameter {name}: {reason}")]
    InvalidParameter {
        /// Name.
        name: &'static str,
        /// Why.
        reason: String,
    },
    /// Plot rendering failed.
    #[error("plot: {0}")]
    Plot(String),
    /// Writing an output file failed (exists without overwrite, I/O).
    #[error(transparent)]
    Data(#[from] spikelab_data::DataError),
}

/// `Result` with [`BenchError`].
pub type Result<T> = std::result::Result<T, BenchError>;

/// Waits until all queued work on `device` has finished (no-op on the CPU), so that a clock
/// read after it measures the work, not just kernel launches.
pub fn sync(device: Device) -> Result<()> {
    if device.is_cpu() {
        return Ok(());
    }
    Ok(candle(device)?.synchronize()?)
}

/// The candle device of `device` ([`Device::to_candle`]), with the error saying how to build
/// for a GPU.
pub fn candle(device: Device) -> Result<candle_core::Device> {
    device
        .to_candle()
        .map_err(|e| BenchError::DeviceUnavailable(device.to_string(), e.to_string()))
}

/// `cpu_NAME`, `cuda_NAME` or `metal_NAME`: the naming used in every table.
pub fn bench_name(device: Device, name: &str) -> String {
    let kind = match device {
        Device::Cpu => "cpu",
        Device::Cuda(_) => "cuda",
        Device::Metal(_) => "metal",
    };
    format!("{kind}_{name}")
}

/// A named problem size of a method, with its parameters in words.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProblemSize {
    /// Method (`convseq`, `calcium`, `neulvm`, `synth`, `io`).
    pub method: &'static str,
    /// `demo`, `paper` or `stress`.
    pub name: &'static str,
    /// Parameters, e.g. `[("neurons", 452.0), ("bins", 18137.0)]`.
    pub params: Vec<(&'static str, f64)>,
}

/// The named sizes used across benches and the scaling report.
pub fn problem_sizes() -> Vec<ProblemSize> {
    let p = |method, name, params| ProblemSize {
        method,
        name,
        params,
    };
    vec![
        p(
            "convseq",
            "demo",
            vec![
                ("neurons", 452.0),
                ("bins", 18_137.0),
                ("width", 200.0),
                ("filters", 1.0),
            ],
        ),
        p(
            "convseq",
            "stress",
            vec![
                ("neurons", 1e4),
                ("bins", 1e7),
                ("width", 200.0),
                ("filters", 1.0),
            ],
        ),
        p(
            "calcium",
            "demo",
            vec![("neurons", 8.0), ("samples_per_neuron", 16_919.0)],
        ),
        p(
            "calcium",
            "paper",
            vec![("neurons", 100.0), ("samples_per_neuron", 360_000.0)],
        ),
        p(
            "neulvm",
            "paper",
            vec![
                ("populations", 3.0),
                ("bins", 2_500.0),
                ("history", 250.0),
                ("recorded", 9.0),
            ],
        ),
        p("synth", "demo", vec![("neurons", 1e3), ("bins", 1e6)]),
        p("synth", "stress", vec![("neurons", 1e4), ("bins", 1e7)]),
    ]
}

/// Timing of repeated runs, in seconds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Timing {
    /// Every measured run (after warm-up), seconds.
    pub samples_s: Vec<f64>,
    /// Median of the samples.
    pub median_s: f64,
    /// Fastest sample.
    pub min_s: f64,
    /// Mean of the samples.
    pub mean_s: f64,
}

impl Timing {
    /// Summarises samples (must be non-empty).
    pub fn from_samples(mut samples_s: Vec<f64>) -> Result<Self> {
        if samples_s.is_empty() {
            return Err(BenchError::InvalidParameter {
                name: "samples",
                reason: "no samples".into(),
            });
        }
        let mean_s = samples_s.iter().sum::<f64>() / samples_s.len() as f64;
        let mut sorted = samples_s.clone();
        sorted.sort_by(f64::total_cmp);
        let n = sorted.len();
        let median_s = if n % 2 == 1 {
            sorted[n / 2]
        } else {
            0.5 * (sorted[n / 2 - 1] + sorted[n / 2])
        };
        samples_s.shrink_to_fit();
        Ok(Timing {
            min_s: sorted[0],
            median_s,
            mean_s,
            samples_s,
        })
    }
}

/// Runs `f` `warmup` times unmeasured, then `repeats` times measured, synchronising the
/// device before each clock read.
pub fn time_it<E: std::fmt::Display>(
    device: Device,
    warmup: usize,
    repeats: usize,
    mut f: impl FnMut() -> std::result::Result<(), E>,
) -> Result<Timing> {
    if repeats == 0 {
        return Err(BenchError::InvalidParameter {
            name: "repeats",
            reason: "need at least one measured run".into(),
        });
    }
    for _ in 0..warmup {
        f().map_err(|e| BenchError::Run(e.to_string()))?;
    }
    sync(device)?;
    let mut samples = Vec::with_capacity(repeats);
    for _ in 0..repeats {
        let t0 = Instant::now();
        f().map_err(|e| BenchError::Run(e.to_string()))?;
        sync(device)?;
        samples.push(t0.elapsed().as_secs_f64());
    }
    Timing::from_samples(samples)
}

/// One measurement: a named computation on a device at one problem size.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    /// `cpu_…`/`cuda_…` name.
    pub name: String,
    /// Device label.
    pub device: String,
    /// What the size axis counts (`neurons`, `bins`, `samples`, …).
    pub size_name: String,
    /// The size.
    pub size: f64,
    /// The timing.
    pub timing: Timing,
    /// Optional throughput (items per second) with its unit, e.g. `("samples/s", 4.1e5)`.
    pub throughput: Option<(String, f64)>,
}

impl Record {
    /// A record named [`bench_name`]`(device, name)`.
    pub fn new(name: &str, device: Device, size_name: &str, size: f64, t: Timing) -> Self {
        Record {
            name: bench_name(device, name),
            device: device.to_string(),
            size_name: size_name.into(),
            size,
            timing: t,
            throughput: None,
        }
    }
    /// Adds a throughput computed as `items / median time`.
    pub fn with_throughput(mut self, unit: &str, items: f64) -> Self {
        self.throughput = Some((unit.into(), items / self.timing.median_s));
        self
    }
}

/// Where and with what the results were produced.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Machine {
    /// Host name, CPU model and logical core count.
    pub host: String,
    /// CPU model string from /proc/cpuinfo where available.
    pub cpu: String,
    /// Logical cores.
    pub cores: usize,
    /// spikelab version.
    pub spikelab_version: String,
    /// `git rev-parse --short HEAD` if available.
    pub git_revision: String,
    /// Seconds since the Unix epoch when the report was made.
    pub unix_time_s: u64,
}

impl Machine {
    /// Describes the current machine.
    pub fn current() -> Self {
        let cpu = std::fs::read_to_string("/proc/cpuinfo")
            .ok()
            .and_then(|s| {
                s.lines()
                    .find(|l| l.starts_with("model name"))
                    .and_then(|l| l.split(':').nth(1))
                    .map(|s| s.trim().to_string())
            })
            .unwrap_or_else(|| std::env::consts::ARCH.to_string());
        let git_revision = std::process::Command::new("git")
            .args(["rev-parse", "--short", "HEAD"])
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
            .unwrap_or_else(|| "unknown".into());
        Machine {
            host: std::fs::read_to_string("/etc/hostname")
                .map(|s| s.trim().to_string())
                .unwrap_or_default(),
            cpu,
            cores: std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1),
            spikelab_version: env!("CARGO_PKG_VERSION").into(),
            git_revision,
            unix_time_s: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0),
        }
    }
}

/// A set of records with the machine that produced them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// Title.
    pub title: String,
    /// Machine description.
    pub machine: Machine,
    /// Free-form notes (GPU name, commands, caveats).
    pub notes: Vec<String>,
    /// The measurements.
    pub records: Vec<Record>,
}

impl Report {
    /// An empty report for the current machine.
    pub fn new(title: &str) -> Self {
        Report {
            title: title.into(),
            machine: Machine::current(),
            notes: Vec::new(),
            records: Vec::new(),
        }
    }
    /// Adds a record.
    pub fn push(&mut self, r: Record) {
        self.records.push(r);
    }
    /// `(size, median seconds)` points of one named computation on one device, by size.
    pub fn series(&self, name: &str, device: Device) -> Vec<(f64, f64)> {
        self.series_named(&bench_name(device, name))
    }
    /// `(size, median seconds)` points of records with this full (`cpu_…`/`cuda_…`) name,
    /// sorted by size.
    pub fn series_named(&self, full_name: &str) -> Vec<(f64, f64)> {
        let mut v: Vec<(f64, f64)> = self
            .records
            .iter()
            .filter(|r| r.name == full_name)
            .map(|r| (r.size, r.timing.median_s))
            .collect();
        v.sort_by(|a, b| a.0.total_cmp(&b.0));
        v
    }
    /// Distinct record names in first-seen order.
    pub fn names(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for r in &self.records {
            if !out.contains(&r.name) {
                out.push(r.name.clone());
            }
        }
        out
    }
    /// Markdown: a table of every record and, per name with ≥ 2 sizes, the fitted exponent.
    pub fn to_markdown(&self) -> String {
        let m = &self.machine;
        let mut s = format!(
            "### {}\n\nMachine: {} ({} logical cores), spikelab {} @ {}\n\n",
            self.title, m.cpu, m.cores, m.spikelab_version, m.git_revision
        );
        for n in &self.notes {
            s.push_str(&format!("- {n}\n"));
        }
        if !self.notes.is_empty() {
            s.push('\n');
        }
        s.push_str(
            "| name | size | median | min | throughput |\n| --- | --- | --- | --- | --- |\n",
        );
        for r in &self.records {
            let thr = r
                .throughput
                .as_ref()
                .map(|(u, v)| format!("{} {u}", fmt_si(*v)))
                .unwrap_or_default();
            s.push_str(&format!(
                "| {} | {} = {} | {} | {} | {} |\n",
                r.name,
                r.size_name,
                fmt_si(r.size),
                fmt_time(r.timing.median_s),
                fmt_time(r.timing.min_s),
                thr
            ));
        }
        let mut exps = String::new();
        for name in self.names() {
            if let Ok(k) = fit_exponent(&self.series_named(&name)) {
                exps.push_str(&format!("| {name} | {k:.2} |\n"));
            }
        }
        if !exps.is_empty() {
            s.push_str("\nScaling exponent k in time ∝ size^k (least squares on log-log):\n\n| name | k |\n| --- | --- |\n");
            s.push_str(&exps);
        }
        s
    }
    /// Writes the report as pretty JSON; refuses to overwrite unless `overwrite`.
    pub fn write_json(&self, path: &std::path::Path, overwrite: bool) -> Result<()> {
        if path.exists() && !overwrite {
            return Err(BenchError::Io {
                path: path.into(),
                source: std::io::Error::new(
                    std::io::ErrorKind::AlreadyExists,
                    "exists; pass overwrite/--force to replace it",
                ),
            });
        }
        let s = serde_json::to_string_pretty(self).expect("report serialises");
        std::fs::write(path, s).map_err(|e| BenchError::Io {
            path: path.into(),
            source: e,
        })
    }
}

/// Fits `t ≈ c · n^k` to `(n, t)` points by least squares on `(ln n, ln t)`; returns `k`.
/// Needs at least two distinct positive sizes.
///
/// ```
/// let pts: Vec<(f64, f64)> = [10.0f64, 100.0, 1000.0].iter().map(|&n| (n, 3.0 * n * n)).collect();
/// assert!((spikelab_bench::fit_exponent(&pts).unwrap() - 2.0).abs() < 1e-12);
/// ```
pub fn fit_exponent(points: &[(f64, f64)]) -> Result<f64> {
    let pts: Vec<(f64, f64)> = points
        .iter()
        .filter(|(n, t)| *n > 0.0 && *t > 0.0)
        .map(|(n, t)| (n.ln(), t.ln()))
        .collect();
    let m = pts.len() as f64;
    if pts.len() < 2 {
        return Err(BenchError::InvalidParameter {
            name: "points",
            reason: "need ≥ 2 positive points".into(),
        });
    }
    let mx = pts.iter().map(|p| p.0).sum::<f64>() / m;
    let my = pts.iter().map(|p| p.1).sum::<f64>() / m;
    let sxx: f64 = pts.iter().map(|p| (p.0 - mx).powi(2)).sum();
    if sxx == 0.0 {
        return Err(BenchError::InvalidParameter {
            name: "points",
            reason: "all sizes are equal".into(),
        });
    }
    let sxy: f64 = pts.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum();
    Ok(sxy / sxx)
}

/// Formats seconds as `12.3 ms`, `4.56 s`, `789 µs`.
pub fn fmt_time(s: f64) -> String {
    if s >= 1.0 {
        format!("{s:.3} s")
    } else if s >= 1e-3 {
        format!("{:.3} ms", s * 1e3)
    } else {
        format!("{:.1} µs", s * 1e6)
    }
}

/// Formats a number with an SI suffix (`1.2 M`, `3.4 k`).
pub fn fmt_si(v: f64) -> String {
    let a = v.abs();
    if a >= 1e9 {
        format!("{:.3} G", v / 1e9)
    } else if a >= 1e6 {
        format!("{:.3} M", v / 1e6)
    } else if a >= 1e4 {
        format!("{:.1} k", v / 1e3)
    } else if a.fract() == 0.0 {
        format!("{v}")
    } else {
        format!("{v:.3}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_names_and_availability() {
        assert_eq!(bench_name(Device::Cuda(1), "x"), "cuda_x");
        assert!(sync(Device::Cpu).is_ok());
        if !cfg!(feature = "cuda") {
            let e = sync(Device::Cuda(0)).unwrap_err().to_string();
            assert!(e.contains("--features cuda"), "{e}");
        }
    }

    #[test]
    fn timing_summary() {
        let t = Timing::from_samples(vec![3.0, 1.0, 2.0, 10.0]).unwrap();
        assert_eq!(t.min_s, 1.0);
        assert_eq!(t.median_s, 2.5);
        assert_eq!(t.mean_s, 4.0);
        assert!(Timing::from_samples(vec![]).is_err());
    }

    #[test]
    fn exponent_of_noisy_linear_law() {
        let pts: Vec<(f64, f64)> = (1..=6)
            .map(|i| {
                let n = 10f64.powi(i);
                (n, 2e-6 * n * (1.0 + 0.01 * (i as f64).sin()))
            })
            .collect();
        let k = fit_exponent(&pts).unwrap();
        assert!((k - 1.0).abs() < 0.01, "{k}");
        assert!(fit_exponent(&[(1.0, 1.0)]).is_err());
    }

    #[test]
    fn json_refuses_overwrite() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("r.json");
        let r = Report::new("t");
        r.write_json(&p, false).unwrap();
        assert!(r.write_json(&p, false).is_err());
        r.write_json(&p, true).unwrap();
        let back: Report = serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap();
        assert_eq!(back, r);
    }
}
