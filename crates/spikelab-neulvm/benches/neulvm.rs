//! Criterion benches: one loss evaluation, one exact gradient (parameters; latent), one Adam
//! step of the E-step, one M-step iteration budget and a short EM restart, on the bundled
//! data (T = 2500, A = 250, M = 3). `cargo bench -p spikelab-neulvm --bench neulvm -- --quick`.

use criterion::{Criterion, criterion_group};
use spikelab_datasets as datasets;
use spikelab_neulvm::fit;
use spikelab_neulvm::{
    Bounds, FitOptions, LambdaFallback, ModelConfig, NeuLvm, Params, Recording, Wrt,
};

fn setup() -> (NeuLvm, Params, FitOptions) {
    let model = NeuLvm::new(
        ModelConfig::winner_take_all(),
        Recording::from_npy(&datasets::neulvm("spikes_4ms.npy").expect("bundled data"))
            .expect("spikes"),
    )
    .expect("model");
    let gt = Params::winner_take_all_ground_truth();
    let opts = FitOptions::new(Bounds::relative_to(&gt, 0.4, 2.0).expect("bounds"));
    (model, gt, opts)
}

/// `p` with μ scaled by 1 + 1e-12·i: a new parameter vector for every call (the S0 cache
/// misses, as in the M-step, where every evaluation is at new parameters).
fn nudged(p: &Params, i: u64) -> Params {
    let mut q = p.clone();
    for m in q.mu.iter_mut() {
        *m *= 1.0 + 1e-12 * i as f64;
    }
    q
}

fn bench(c: &mut Criterion) {
    let (model, gt, opts) = setup();
    let z = model.initial_latent(0.4).expect("init");
    let serial = model.clone().with_parallel_populations(false);
    let mut g = c.benchmark_group("neulvm");
    g.sample_size(10);
    g.bench_function("loss", |b| {
        b.iter(|| serial.loss(&gt, z.view()).expect("loss"))
    });
    // New parameters at every call: S0 is not cached (the M-step's case).
    let calls = std::cell::Cell::new(0u64);
    g.bench_function("loss_new_params", |b| {
        b.iter(|| {
            calls.set(calls.get() + 1);
            serial
                .loss(&nudged(&gt, calls.get()), z.view())
                .expect("loss")
        })
    });
    g.bench_function("loss_3threads", |b| {
        b.iter(|| model.loss(&gt, z.view()).expect("loss"))
    });
    g.bench_function("gradient_params", |b| {
        b.iter(|| {
            calls.set(calls.get() + 1);
            serial
                .gradient(
                    &nudged(&gt, calls.get()),
                    z.view(),
                    LambdaFallback::MStep,
                    Wrt::Params,
                )
                .expect("grad")
        })
    });
    g.bench_function("gradient_latent", |b| {
        b.iter(|| {
            serial
                .gradient(&gt, z.view(), LambdaFallback::EStep, Wrt::Latent)
                .expect("grad")
        })
    });
    let mut eopts = opts.clone();
    eopts.e_max_iters = 1;
    g.bench_function("adam_step", |b| {
        b.iter_batched(
            || fit::new_state(&serial, 0, &gt, &eopts).expect("state"),
            |mut st| {
                fit::e_step(&serial, &gt, &mut st, &eopts, 0, &mut spikelab_core::Silent)
                    .expect("e")
            },
            criterion::BatchSize::LargeInput,
        )
    });
    let mut mopts = opts.clone();
    mopts.m_max_iters = 10;
    g.bench_function("m_step_10_iters", |b| {
        b.iter(|| fit::m_step(&serial, &z, &gt, &mopts).expect("m"))
    });
    let mut fopts = opts.clone();
    fopts.m_max_iters = 10;
    fopts.max_em_iters = 2;
    fopts.threads = 1;
    g.bench_function("em_restart_short", |b| {
        b.iter(|| {
            fit::fit_from(
                &serial,
                std::slice::from_ref(&gt),
                &fopts,
                &mut spikelab_core::Silent,
            )
            .expect("fit")
        })
    });
    g.finish();
}

/// On-CPU time of the calling thread (ns), from `/proc/thread-self/schedstat` (Linux); `None`
/// elsewhere.
fn thread_cpu_ns() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    s.split_whitespace().next()?.parse().ok()
}

/// `NEULVM_CPU_TABLE=1 cargo bench -p spikelab-neulvm --bench neulvm`: median wall and on-CPU
/// time of the single-threaded operations over 30 runs: minimum and median wall time, mean
/// on-CPU time (the kernel counts it in scheduler ticks, so only the mean over many runs is
/// meaningful). On a shared machine the on-CPU time is far less sensitive to the load than
/// the wall time.
fn cpu_table() {
    let (model, gt, opts) = setup();
    let z = model.initial_latent(0.4).expect("init");
    let serial = model.clone().with_parallel_populations(false);
    let mut eopts = opts.clone();
    eopts.e_max_iters = 1;
    type Op<'a> = (&'static str, Box<dyn Fn() + 'a>);
    let st0 = fit::new_state(&serial, 0, &gt, &eopts).expect("state");
    let calls = std::cell::Cell::new(0u64);
    let st1 = st0.clone();
    let ops: Vec<Op> = vec![
        (
            "loss",
            Box::new(|| {
                serial.loss(&gt, z.view()).expect("loss");
            }),
        ),
        (
            "loss (new parameters)",
            Box::new(|| {
                calls.set(calls.get() + 1);
                serial
                    .loss(&nudged(&gt, calls.get()), z.view())
                    .expect("loss");
            }),
        ),
        (
            "gradient params (new parameters)",
            Box::new(|| {
                calls.set(calls.get() + 1);
                serial
                    .gradient(
                        &nudged(&gt, calls.get()),
                        z.view(),
                        LambdaFallback::MStep,
                        Wrt::Params,
                    )
                    .expect("grad");
            }),
        ),
        (
            "gradient latent",
            Box::new(|| {
                serial
                    .gradient(&gt, z.view(), LambdaFallback::EStep, Wrt::Latent)
                    .expect("grad");
            }),
        ),
        (
            "adam step",
            Box::new(|| {
                let mut st = st0.clone();
                fit::e_step(&serial, &gt, &mut st, &eopts, 0, &mut spikelab_core::Silent)
                    .expect("e");
            }),
        ),
        (
            "loss, populations on threads (wall only)",
            Box::new(|| {
                model.loss(&gt, z.view()).expect("loss");
            }),
        ),
        (
            "adam step, populations on threads (wall only)",
            Box::new(|| {
                let mut st = st1.clone();
                fit::e_step(&model, &gt, &mut st, &eopts, 0, &mut spikelab_core::Silent)
                    .expect("e");
            }),
        ),
    ];
    println!("| operation | wall ms (min) | wall ms (median) | on-CPU ms (mean) |");
    println!("| --- | --- | --- | --- |");
    for (name, f) in &ops {
        f();
        let mut wall = Vec::new();
        let mut cpu = Vec::new();
        for _ in 0..30 {
            let c0 = thread_cpu_ns();
            let t0 = std::time::Instant::now();
            f();
            wall.push(t0.elapsed().as_secs_f64() * 1e3);
            if let (Some(a), Some(b)) = (c0, thread_cpu_ns()) {
                cpu.push((b - a) as f64 * 1e-6);
            }
        }
        let med = |v: &mut Vec<f64>| {
            v.sort_by(f64::total_cmp);
            v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
        };
        let mean = cpu.iter().sum::<f64>() / cpu.len().max(1) as f64;
        let min = wall.iter().copied().fold(f64::INFINITY, f64::min);
        println!("| {name} | {min:.2} | {:.2} | {mean:.2} |", med(&mut wall));
    }
}

criterion_group!(benches, bench);

fn main() {
    if std::env::var_os("NEULVM_CPU_TABLE").is_some() {
        cpu_table();
        return;
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
