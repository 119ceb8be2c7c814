//! Model parity: an independent brute-force formula, finite differences, and sparse = dense
//! on the bundled demo data.
#![allow(clippy::needless_range_loop)]

use spikelab_convseq::{
    Backend, ConvSeqParams, DenseDType, Device, SparseRaster, init_logits, make_engine,
};
use spikelab_datasets::convseq as bundled;

fn rel(a: &[f64], b: &[f64]) -> f64 {
    let num: f64 = a
        .iter()
        .zip(b)
        .map(|(x, y)| (x - y) * (x - y))
        .sum::<f64>()
        .sqrt();
    let den: f64 = b.iter().map(|y| y * y).sum::<f64>().sqrt();
    num / den.max(1e-300)
}

fn softmax(z: &[f64]) -> Vec<f64> {
    let m = z.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let e: Vec<f64> = z.iter().map(|v| (v - m).exp()).collect();
    let s: f64 = e.iter().sum();
    e.into_iter().map(|v| v / s).collect()
}

/// The loss straight from the spec's formulas, on a dense 0/1 raster (no shared code).
fn brute_loss(
    x: &[Vec<f64>],
    logits: &[f64],
    k: usize,
    w: usize,
    tv_l: f64,
    ftv_l: f64,
) -> (f64, Vec<Vec<f64>>) {
    let n = x.len();
    let t = x[0].len();
    let p = w / 2;
    let l = t + 2 * p - w + 1;
    let mut total = 0.0;
    let mut projs = Vec::new();
    for f in 0..k {
        let s: Vec<Vec<f64>> = (0..n)
            .map(|i| softmax(&logits[(f * n + i) * w..(f * n + i + 1) * w]))
            .collect();
        let mut proj = vec![0.0; l];
        for (tt, pr) in proj.iter_mut().enumerate() {
            for i in 0..n {
                for j in 0..w {
                    let b = tt as i64 + j as i64 - p as i64;
                    if b >= 0 && (b as usize) < t {
                        *pr += s[i][j] * x[i][b as usize];
                    }
                }
            }
        }
        let mean = proj.iter().sum::<f64>() / l as f64;
        let var = proj.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (l - 1) as f64;
        let tv = (0..l - 1)
            .map(|i| (proj[i + 1] - proj[i]).powi(2))
            .sum::<f64>()
            / (l - 1) as f64;
        let ftv = s
            .iter()
            .map(|r| (0..w - 1).map(|j| (r[j + 1] - r[j]).powi(2)).sum::<f64>())
            .sum::<f64>()
            / (n * (w - 1)) as f64;
        total += -var + tv_l * tv + ftv_l * ftv;
        projs.push(proj);
    }
    (total, projs)
}

fn small_case() -> (SparseRaster, Vec<Vec<f64>>) {
    let (n, t) = (5, 60);
    let mut ev = Vec::new();
    let mut dense = vec![vec![0.0; t]; n];
    for i in 0..n {
        for b in 0..t {
            if (i * 31 + b * 17 + i * b) % 11 == 0 {
                ev.push((i, b as u64));
                dense[i][b] = 1.0;
            }
        }
    }
    (
        SparseRaster::from_events(n, t as u64, 0.01, &ev).unwrap(),
        dense,
    )
}

#[test]
fn small_case_matches_brute_force_formula_and_finite_differences() {
    let (r, dense) = small_case();
    for (k, w) in [(1usize, 8usize), (2, 7)] {
        let params = ConvSeqParams {
            n_filters: k,
            width_bins: w,
            tv_l: 3.0,
            filt_tv_l: 0.7,
            ..Default::default()
        };
        let logits = init_logits(k, r.n_neurons(), w, 11);
        for backend in [
            Backend::Sparse,
            Backend::Dense {
                device: Device::Cpu,
                dtype: DenseDType::F64,
            },
        ] {
            let p = ConvSeqParams {
                backend,
                ..params.clone()
            };
            let mut e = make_engine(&r, &p, logits.clone()).unwrap();
            let (terms, grad) = e.loss_and_grad().unwrap();
            let (bl, bp) = brute_loss(&dense, &logits, k, w, 3.0, 0.7);
            assert!(
                (terms.total - bl).abs() < 1e-12 * bl.abs().max(1.0),
                "{backend:?}: {} vs {bl}",
                terms.total
            );
            let pr = e.projections().unwrap();
            for f in 0..k {
                assert!(rel(&pr.row(f).to_vec(), &bp[f]) < 1e-13);
            }
            // Central finite differences on a few logits.
            for idx in [
                0,
                3,
                w + 1,
                r.n_neurons() * w - 1,
                k * r.n_neurons() * w - 2,
            ] {
                let h = 1e-6;
                let mut lp = logits.clone();
                lp[idx] += h;
                let mut lm = logits.clone();
                lm[idx] -= h;
                let fd = (brute_loss(&dense, &lp, k, w, 3.0, 0.7).0
                    - brute_loss(&dense, &lm, k, w, 3.0, 0.7).0)
                    / (2.0 * h);
                let g = grad.as_slice().unwrap()[idx];
                assert!(
                    (fd - g).abs() < 1e-7 + 1e-5 * g.abs(),
                    "{backend:?} idx {idx}: fd {fd} vs {g}"
                );
            }
        }
    }
}

fn demo_slice() -> SparseRaster {
    bundled::demo_raster()
        .unwrap()
        .slice_bins(2000, 5000)
        .unwrap()
}

fn sparse_vs_dense(params: ConvSeqParams, dtype: DenseDType, tol: f64) {
    let r = demo_slice();
    let ps = ConvSeqParams {
        backend: Backend::Sparse,
        ..params.clone()
    };
    let pd = ConvSeqParams {
        backend: Backend::Dense {
            device: Device::Cpu,
            dtype,
        },
        ..params.clone()
    };
    // Parameter points: two random initialisations and a partly trained filter.
    let mut points = vec![
        init_logits(params.n_filters, r.n_neurons(), params.width_bins, 5),
        init_logits(params.n_filters, r.n_neurons(), params.width_bins, 6),
    ];
    let mut trainer = make_engine(&r, &ps, points[0].clone()).unwrap();
    for _ in 0..30 {
        trainer.step().unwrap();
    }
    points.push(trainer.logits().unwrap().iter().copied().collect());
    for (i, logits) in points.into_iter().enumerate() {
        let mut es = make_engine(&r, &ps, logits.clone()).unwrap();
        let mut ed = make_engine(&r, &pd, logits).unwrap();
        let (ts, gs) = es.loss_and_grad().unwrap();
        let (td, gd) = ed.loss_and_grad().unwrap();
        let lrel = (ts.total - td.total).abs() / ts.total.abs();
        let grel = rel(gd.as_slice().unwrap(), gs.as_slice().unwrap());
        assert!(
            lrel <= tol,
            "point {i} {dtype:?}: loss {} vs {} (rel {lrel:e})",
            ts.total,
            td.total
        );
        assert!(grel <= tol, "point {i} {dtype:?}: gradient rel {grel:e}");
        for f in 0..ts.var.len() {
            assert!((ts.var[f] - td.var[f]).abs() <= tol * ts.var[f].abs());
        }
        assert!((ts.pair_terms - td.pair_terms).abs() <= tol * ts.pair_terms.abs().max(1e-3));
        let (prs, prd) = (es.projections().unwrap(), ed.projections().unwrap());
        assert!(rel(prd.as_slice().unwrap(), prs.as_slice().unwrap()) <= tol);
        // One Adam step each from the same point lands on the same logits.
        es.step().unwrap();
        ed.step().unwrap();
        let (ls, ld) = (es.logits().unwrap(), ed.logits().unwrap());
        assert!(rel(ld.as_slice().unwrap(), ls.as_slice().unwrap()) < 10.0 * tol);
    }
}

#[test]
fn sparse_equals_dense_f64_on_demo_data() {
    sparse_vs_dense(ConvSeqParams::default(), DenseDType::F64, 1e-10);
}

#[test]
fn sparse_equals_dense_f32_on_demo_data_within_1e5() {
    sparse_vs_dense(ConvSeqParams::default(), DenseDType::F32, 1e-5);
}

#[test]
fn sparse_equals_dense_with_k_gt_1_terms() {
    let p = ConvSeqParams {
        n_filters: 3,
        width_bins: 100,
        filt_tv_l: 2.0,
        proj_xcorr_l: 5.0,
        proj_sim_cos_l: 0.3,
        filt_xcor_l: 50.0,
        imbalance_l: 0.1,
        ..Default::default()
    };
    sparse_vs_dense(p, DenseDType::F64, 1e-9);
}

#[test]
fn sparse_equals_dense_time_ordered_scatter_odd_width() {
    // N·W = 452·3 < L = 1601: the sparse forward runs in time order; odd W (P = 1).
    sparse_vs_dense(
        ConvSeqParams {
            width_bins: 3,
            tv_l: 2.0,
            filt_tv_l: 0.5,
            ..Default::default()
        },
        DenseDType::F64,
        1e-10,
    );
}

/// The dense null's unfold + GEMM projections (chunked in time) against the brute-force
/// projection formula, for host-given softmax filters on real data.
#[test]
fn dense_null_projection_moments_match_brute_force_in_time_chunks() {
    use spikelab_convseq::null::{DenseAlphaOptions, dense_projection_moments};
    let r = demo_slice().slice_bins(0, 700).unwrap();
    let (n, t, w) = (r.n_neurons(), r.n_bins() as usize, 40);
    let p = w / 2;
    let l = t + 2 * p - w + 1;
    let mut x = vec![vec![0.0; t]; n];
    for (i, row) in x.iter_mut().enumerate() {
        for &(b, _) in &r.rows()[i] {
            row[b as usize] = 1.0;
        }
    }
    let b = 3;
    let mut filters = Vec::with_capacity(b * n * w);
    for f in 0..b {
        for i in 0..n {
            let z: Vec<f64> = (0..w)
                .map(|j| (((f * 7919 + i * 104_729 + j * 31) % 1000) as f64 / 250.0).sin())
                .collect();
            filters.extend(softmax(&z).into_iter().map(|v| v as f32));
        }
    }
    // 97 columns per chunk: several chunks, the last one ragged.
    let opts = DenseAlphaOptions {
        unfold_bytes: 97 * n * w * 4,
        ..Default::default()
    };
    let got = dense_projection_moments(&r, &filters, w, &candle_core::Device::Cpu, &opts).unwrap();
    assert_eq!(got.len(), b);
    for f in 0..b {
        let s = &filters[f * n * w..(f + 1) * n * w];
        let mut proj = vec![0.0f64; l];
        for (tt, pr) in proj.iter_mut().enumerate() {
            for i in 0..n {
                for j in 0..w {
                    let bb = tt as i64 + j as i64 - p as i64;
                    if bb >= 0 && (bb as usize) < t {
                        *pr += s[i * w + j] as f64 * x[i][bb as usize];
                    }
                }
            }
        }
        let mean = proj.iter().sum::<f64>() / l as f64;
        let sd = (proj.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (l - 1) as f64).sqrt();
        let mx = proj.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        assert!(
            (got[f].0 - mean).abs() <= 1e-6 * mean,
            "mean {} vs {mean}",
            got[f].0
        );
        assert!(
            (got[f].1 - sd).abs() <= 1e-4 * sd,
            "std {} vs {sd}",
            got[f].1
        );
        assert!(
            (got[f].2 - mx).abs() <= 1e-6 * mx,
            "max {} vs {mx}",
            got[f].2
        );
    }
}

/// The dense random-filter null (its own draws) agrees with the sparse CPU null to
/// Monte-Carlo precision on real data.
#[test]
fn dense_null_alpha_agrees_with_sparse_null() {
    use spikelab_convseq::AlphaOptions;
    use spikelab_convseq::null::{
        DenseAlphaOptions, alpha_random_filters, alpha_random_filters_dense,
    };
    let r = demo_slice().slice_bins(0, 1500).unwrap();
    let opts = AlphaOptions {
        n_samples: 400,
        ..Default::default()
    };
    let sparse = alpha_random_filters(&r, 50, &opts, 3).unwrap();
    let d = DenseAlphaOptions {
        batch: 150,
        ..Default::default()
    };
    let dense =
        alpha_random_filters_dense(&r, 50, &opts, 3, &candle_core::Device::Cpu, &d).unwrap();
    let again =
        alpha_random_filters_dense(&r, 50, &opts, 3, &candle_core::Device::Cpu, &d).unwrap();
    assert_eq!(dense, again, "seeded dense null must be reproducible");
    assert_eq!(dense.n_samples, 400);
    let rel = (dense.alpha - sparse.alpha).abs() / sparse.alpha;
    eprintln!(
        "dense α {} sparse α {} rel {rel:.2e}",
        dense.alpha, sparse.alpha
    );
    assert!(
        rel < 0.01,
        "dense α {} vs sparse α {}",
        dense.alpha,
        sparse.alpha
    );
    assert!((dense.mean - sparse.mean).abs() < 1e-3 * sparse.mean);
}
