//! Golden losses of the original numpy code (`golden_losses.json`) on the bundled data.

use ndarray::{Array2, Ix2};
use spikelab_core::simd::SimdLevel;
use spikelab_data::io::npy;
use spikelab_datasets as datasets;
use spikelab_neulvm::{ModelConfig, NeuLvm, Params, Recording};

fn load() -> (NeuLvm, serde_json::Value) {
    let rec = Recording::from_npy(&datasets::neulvm("spikes_4ms.npy").unwrap()).unwrap();
    let model = NeuLvm::new(ModelConfig::winner_take_all(), rec).unwrap();
    let g: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(datasets::neulvm("golden_losses.json").unwrap()).unwrap(),
    )
    .unwrap();
    (model, g)
}

fn z(name: &str) -> Array2<f64> {
    npy::read_typed::<f64, Ix2>(&datasets::neulvm(name).unwrap()).unwrap()
}

fn vecf(v: &serde_json::Value) -> Vec<f64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect()
}

#[test]
fn golden_losses_match_to_1e12() {
    let (model, g) = load();
    let a0 = vecf(&g["init_A0_hz"]);
    for (p, q) in model.initial_rate_hz().iter().zip(&a0) {
        assert!((p - q).abs() <= 1e-12 * q.abs());
    }
    // Every SIMD level this CPU runs (the portable one is what ARM runs); the AVX levels share
    // their bits, the portable one differs in the last bits (no FMA in its exponentials).
    let mut avx_losses: Vec<Vec<(f64, f64)>> = Vec::new();
    for level in SimdLevel::supported() {
        let model = model.clone().with_simd_level(level).unwrap();
        let mut losses = Vec::new();
        for (zname, zfile) in [("Zgt", "Z_gt_4ms.npy"), ("Zinit", "Z_init_4ms.npy")] {
            let zz = z(zfile);
            for xname in ["x_gt", "x_rand"] {
                let x = Params::from_slice(&vecf(&g[xname])).unwrap();
                let l = model.loss(&x, zz.view()).unwrap();
                losses.push((l.loss_y, l.loss_z));
                let key = format!("{level} {zname}/{xname}");
                let gkey = format!("{zname}/{xname}");
                let gy = g["losses"][&gkey]["loss_y"].as_f64().unwrap();
                let gzv = g["losses"][&gkey]["loss_Z"].as_f64().unwrap();
                let ry = ((l.loss_y - gy) / gy).abs();
                let rz = ((l.loss_z - gzv) / gzv).abs();
                println!(
                    "{key}: L_y {} (rel {ry:.2e}), L_Z {} (rel {rz:.2e})",
                    l.loss_y, l.loss_z
                );
                assert!(ry <= 1e-12, "{key} L_y {} vs {gy}", l.loss_y);
                assert!(rz <= 1e-12, "{key} L_Z {} vs {gzv}", l.loss_z);
            }
        }
        if level != SimdLevel::Scalar {
            avx_losses.push(losses);
        }
    }
    assert!(avx_losses.windows(2).all(|w| w[0] == w[1]));
}

#[test]
fn initial_latent_reproduces_the_original_z_init() {
    // Z_init_4ms.npy was produced by the original (SciPy gaussian_filter1d, σ = 0.4 s = 100 bins,
    // reflect) from spikes_4ms.npy.
    let (model, _) = load();
    let z0 = model.initial_latent(0.4).unwrap();
    let want = z("Z_init_4ms.npy");
    assert_eq!(z0.dim(), want.dim());
    let err = z0
        .iter()
        .zip(&want)
        .map(|(a, b)| (a - b).abs() / b.abs().max(1e-12))
        .fold(0.0, f64::max);
    println!("max relative error vs Z_init_4ms: {err:e}");
    assert!(err < 1e-10, "{err}");
}
