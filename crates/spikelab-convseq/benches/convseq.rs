//! Criterion benches of convSeq at demo size (452 × 18 137, W 200, K 1): one epoch of the
//! sparse path (forward + backward + Adam), the projection alone, α from 300 random filters
//! (tiled kernel and plain scatter) and α from the exact moments.
//! `cargo bench -p spikelab-convseq --bench convseq -- --quick`

use criterion::{Criterion, criterion_group, criterion_main};
use spikelab_convseq::{
    AlphaOptions, Backend, ConvSeqParams, init_logits, make_engine,
    null::{alpha_moments, alpha_random_filters, alpha_random_filters_reference},
};
use spikelab_datasets::convseq as bundled;

fn bench(c: &mut Criterion) {
    let raster = bundled::demo_raster().expect("bundled demo raster");
    let params = ConvSeqParams {
        backend: Backend::Sparse,
        ..Default::default()
    };
    let logits = init_logits(1, raster.n_neurons(), params.width_bins, 0);
    let mut g = c.benchmark_group("convseq_demo");
    g.sample_size(20);
    let mut engine = make_engine(&raster, &params, logits).expect("engine");
    g.bench_function("sparse_epoch", |b| b.iter(|| engine.step().expect("step")));
    g.bench_function("sparse_projection", |b| {
        b.iter(|| engine.projections().expect("projection"))
    });
    let opts = AlphaOptions {
        n_samples: 300,
        ..Default::default()
    };
    g.bench_function("alpha_300_filters", |b| {
        b.iter(|| alpha_random_filters(&raster, 200, &opts, 0).expect("alpha"))
    });
    g.bench_function("alpha_300_filters_plain_scatter", |b| {
        b.iter(|| alpha_random_filters_reference(&raster, 200, &opts, 0).expect("alpha"))
    });
    g.bench_function("alpha_exact_moments", |b| {
        b.iter(|| alpha_moments(&raster, 200, &opts).expect("alpha"))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
