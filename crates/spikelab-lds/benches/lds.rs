//! Criterion bench: filter + RTS smoother over 600 × 200 (n 3, m 2) and one MoLDS EM
//! iteration (600 × 200, K 3). `cargo bench -p spikelab-lds -- --quick`; the side-by-side run
//! with pykalman is `benches/peers/lds.py`, the scaling table `--example lds_speed`.

use criterion::{Criterion, criterion_group, criterion_main};
use rayon::prelude::*;
use spikelab_core::Silent;
use spikelab_lds::{
    EmOptions, FilterOptions, MoldsOptions, MoldsSpec, molds_em, smooth, tensor_init,
};

fn bench(c: &mut Criterion) {
    let data = MoldsSpec::default().generate(0).unwrap();
    let lds = data.truth.components[0].clone();
    let opts = FilterOptions::default();
    let mut g = c.benchmark_group("lds");
    g.sample_size(10);
    g.bench_function("filter+smoother 600x200 n3 m2 p2", |b| {
        b.iter(|| {
            let ll: f64 = data
                .trajs
                .par_iter()
                .map(|t| smooth(&lds, t, &opts).unwrap().filtered.loglik)
                .sum();
            assert!(ll.is_finite());
        })
    });
    let mopts = MoldsOptions {
        em: EmOptions {
            max_iter: 0,
            tol: 0.0,
            ..Default::default()
        },
        ..Default::default()
    };
    let init = tensor_init(&data.trajs, &mopts).unwrap();
    let one = MoldsOptions {
        em: EmOptions {
            max_iter: 1,
            tol: 0.0,
            ..Default::default()
        },
        ..Default::default()
    };
    // E-step + M-step + the E-step that scores the result (≈ 2 E-steps).
    g.bench_function("molds EM iteration 600x200 K3 (E+M+E)", |b| {
        b.iter(|| molds_em(&init, &data.trajs, &one, &mut Silent).unwrap())
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
