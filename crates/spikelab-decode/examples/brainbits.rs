//! BrainBits audit numbers for docs/decode.md:
//! 1. the synthetic latent population (closed form vs the gradient path with weight decay 0 and
//!    the paper's 0.1);
//! 2. the CA1 raster (452 neurons, position in 24 bins as a one-hot target, lags t − 1 … t + 1,
//!    time-ordered 80/20 split, 1 000 bootstrap resamples of 20-frame test blocks).
//!
//! ```text
//! cargo run --release -p spikelab-decode --example brainbits
//! ```

use ndarray::{Array2, s};
use spikelab_core::Silent;
use spikelab_decode::brainbits::{standardize, train_bottleneck};
use spikelab_decode::{
    AuditParams, GradientParams, Lags, LatentPopulationParams, TimeSplit, fit_rrr, lagged_features,
    r2_score,
};

fn main() -> anyhow::Result<()> {
    // 1. Synthetic ground truth.
    let pop = LatentPopulationParams::default().generate(7)?;
    let (xtr, xte) = standardize(
        &pop.counts.slice(s![..4000, ..]).to_owned(),
        &pop.counts.slice(s![4000.., ..]).to_owned(),
    );
    let ytr = pop.target.slice(s![..4000, ..]).to_owned();
    let yte = pop.target.slice(s![4000.., ..]);
    println!("synthetic (300 Poisson neurons, 8 factors, 64 outputs), test R²:");
    println!("   b  closed form  AdamW wd 0 (200 ep)  AdamW wd 0.1 (100 ep)");
    for b in [2, 4, 8, 16] {
        let closed = fit_rrr(xtr.view(), ytr.view(), b, 0.0, None)?;
        let rc = r2_score(yte, closed.predict(xte.view())?.view())?;
        let g0 = GradientParams {
            weight_decay: 0.0,
            epochs: 200,
            ..Default::default()
        };
        let r0 = r2_score(
            yte,
            train_bottleneck(&xtr, &ytr, b, &g0, 1)?
                .predict(xte.view())?
                .view(),
        )?;
        let g1 = GradientParams::default();
        let r1 = r2_score(
            yte,
            train_bottleneck(&xtr, &ytr, b, &g1, 1)?
                .predict(xte.view())?
                .view(),
        )?;
        println!("{b:4}  {rc:.4}       {r0:.4}               {r1:.4}");
    }

    // 2. CA1.
    let spikelab_decode::DecodeInputs { counts, target } = spikelab_decode::read_inputs(
        &spikelab_datasets::convseq("ca1_rubin/neuronal_activity_mat.mat")?,
        Some("neuronal_activity_mat"),
        &spikelab_datasets::convseq("ca1_rubin/position_per_frame.mat")?,
        Some("position_per_frame"),
        0.05,
    )?;
    let pos: Vec<f64> = target.iter().copied().collect();
    let x = lagged_features(counts.view(), &Lags::Centred { past: 1, future: 1 })?;
    let y = Array2::from_shape_fn((pos.len(), 24), |(i, j)| {
        f64::from(u8::from(pos[i] as usize == j + 1))
    });
    let split = TimeSplit::new(x.nrows(), 0.8, 0.125)?;
    let rows = |m: &Array2<f64>, r: std::ops::Range<usize>| m.slice(s![r, ..]).to_owned();
    let audit = AuditParams {
        bottlenecks: vec![1, 2, 3, 5, 8, 12, 16, 20, 24],
        bootstrap: 1000,
        block_len: 20,
        ..Default::default()
    }
    .check()?;
    let rep = audit.run(
        rows(&x, split.train.clone()).view(),
        rows(&y, split.train.clone()).view(),
        rows(&x, split.test.clone()).view(),
        rows(&y, split.test.clone()).view(),
        &mut Silent,
    )?;
    println!(
        "\nCA1 one-hot position (24 bins), lags t−1…t+1: ceiling {:.4} [{:.4}, {:.4}], random {:+.4}, α {}",
        rep.ceiling, rep.ceiling_ci.0, rep.ceiling_ci.1, rep.random, rep.alpha
    );
    println!("   b      R²   95% CI            random   fidelity");
    for p in &rep.points {
        println!(
            "{:4}  {:.4}  [{:.4}, {:.4}]  {:+.4}  {:.3}",
            p.b, p.r2, p.ci.0, p.ci.1, p.r2_random, p.fidelity
        );
    }
    println!("smallest b with fidelity ≥ 0.9: {:?}", rep.b90);
    Ok(())
}
