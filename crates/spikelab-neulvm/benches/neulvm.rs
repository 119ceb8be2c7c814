//! Criterion benches: one loss evaluation, one exact gradient (parameters; latent), one Adam
//! step of the E-step, one M-step iteration budget and a short EM restart, on the bundled
//! data (T = 2500, A = 250, M = 3). `cargo bench -p spikelab-neulvm --bench neulvm -- --quick`.

use criterion::{Criterion, criterion_group, criterion_main};
use spikelab_data::datasets;
use spikelab_neulvm::fit::{self, Progress};
use spikelab_neulvm::{Bounds, FitOptions, ModelConfig, NeuLvm, Params, Recording, Step};

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

fn bench(c: &mut Criterion) {
    let (model, gt, opts) = setup();
    let z = model.initial_latent(0.4).expect("init");
    let serial = model.clone().with_parallel_populations(false);
    let mut g = c.benchmark_group("neulvm");
    g.sample_size(10);
    g.bench_function("loss", |b| {
        b.iter(|| serial.loss(&gt, z.view()).expect("loss"))
    });
    g.bench_function("loss_3threads", |b| {
        b.iter(|| model.loss(&gt, z.view()).expect("loss"))
    });
    g.bench_function("gradient_params", |b| {
        b.iter(|| {
            serial
                .gradient(&gt, z.view(), Step::M, true, false)
                .expect("grad")
        })
    });
    g.bench_function("gradient_latent", |b| {
        b.iter(|| {
            serial
                .gradient(&gt, z.view(), Step::E, false, true)
                .expect("grad")
        })
    });
    let mut eopts = opts.clone();
    eopts.e_max_iters = 1;
    g.bench_function("adam_step", |b| {
        b.iter_batched(
            || fit::new_state(&serial, 0, &gt, &eopts).expect("state"),
            |mut st| fit::e_step(&serial, &gt, &mut st, &eopts, 0, &|_: &Progress| {}).expect("e"),
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
                &|_: &Progress| {},
            )
            .expect("fit")
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
