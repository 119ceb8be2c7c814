//! The BrainBits acceptance bars on synthetic ground truth (spec §3.4): 300 Poisson neurons
//! driven by 8 latent factors, a 64-dimensional target.

use ndarray::s;
use spikelab_core::Silent;
use spikelab_decode::brainbits::{standardize, train_bottleneck};
use spikelab_decode::{AuditParams, GradientParams, LatentPopulationParams, r2_score};

fn data() -> spikelab_decode::LatentPopulation {
    LatentPopulationParams::default().generate(7).unwrap()
}

#[test]
fn closed_form_curve_meets_the_bars() {
    let pop = data();
    let (xtr, ytr) = (
        pop.counts.slice(s![..4000, ..]),
        pop.target.slice(s![..4000, ..]),
    );
    let (xte, yte) = (
        pop.counts.slice(s![4000.., ..]),
        pop.target.slice(s![4000.., ..]),
    );
    let audit = AuditParams {
        bottlenecks: vec![1, 2, 4, 8, 16, 64],
        bootstrap: 200,
        ..Default::default()
    }
    .check()
    .unwrap();
    let rep = audit.run(xtr, ytr, xte, yte, &mut Silent).unwrap();
    let r2 = |b: usize| rep.points.iter().find(|p| p.b == b).unwrap().r2;
    eprintln!("{}", serde_json::to_string_pretty(&rep).unwrap());
    assert!(rep.ceiling > 0.5, "ceiling {}", rep.ceiling);
    assert!(
        r2(8) >= 0.95 * rep.ceiling,
        "b=8: {} vs ceiling {}",
        r2(8),
        rep.ceiling
    );
    assert!(
        r2(4) <= 0.80 * rep.ceiling,
        "b=4: {} vs ceiling {}",
        r2(4),
        rep.ceiling
    );
    assert!(rep.random <= 0.01, "random baseline {}", rep.random);
    assert!(rep.points.iter().all(|p| p.r2_random <= 0.01));
    assert_eq!(rep.b90, Some(8));
    // The curve rises with b up to the latent dimension.
    for w in rep.points.windows(2).take(3) {
        assert!(w[1].r2 > w[0].r2, "{:?}", rep.points);
    }
}

#[test]
fn gradient_path_converges_to_the_closed_form() {
    let pop = data();
    let (xtr, xte) = standardize(
        &pop.counts.slice(s![..4000, ..]).to_owned(),
        &pop.counts.slice(s![4000.., ..]).to_owned(),
    );
    let ytr = pop.target.slice(s![..4000, ..]).to_owned();
    let yte = pop.target.slice(s![4000.., ..]);
    for b in [4, 8] {
        let closed = spikelab_decode::fit_rrr(xtr.view(), ytr.view(), b, 0.0, None).unwrap();
        let r2_closed = r2_score(yte, closed.predict(xte.view()).unwrap().view()).unwrap();
        let g = GradientParams {
            weight_decay: 0.0,
            epochs: 200,
            ..Default::default()
        };
        let m = train_bottleneck(&xtr, &ytr, b, &g, 1).unwrap();
        let r2_grad = r2_score(yte, m.predict(xte.view()).unwrap().view()).unwrap();
        eprintln!("b={b}: closed form {r2_closed:.4}, AdamW wd 0 {r2_grad:.4}");
        assert!(
            (r2_closed - r2_grad).abs() <= 0.01,
            "b={b}: {r2_closed} vs {r2_grad}"
        );
    }
}

#[test]
fn gradient_mode_of_the_audit_and_early_stop() {
    use spikelab_core::{Flow, Progress};
    use spikelab_decode::AuditMode;
    let pop = LatentPopulationParams {
        n_samples: 800,
        n_neurons: 60,
        n_outputs: 16,
        ..Default::default()
    }
    .generate(3)
    .unwrap();
    let (xtr, ytr) = (
        pop.counts.slice(s![..600, ..]),
        pop.target.slice(s![..600, ..]),
    );
    let (xte, yte) = (
        pop.counts.slice(s![600.., ..]),
        pop.target.slice(s![600.., ..]),
    );
    let base = AuditParams {
        bottlenecks: vec![2, 8],
        bootstrap: 0,
        ..Default::default()
    };
    let closed = base
        .clone()
        .check()
        .unwrap()
        .run(xtr, ytr, xte, yte, &mut Silent)
        .unwrap();
    let grad = AuditParams {
        mode: AuditMode::Gradient(GradientParams {
            weight_decay: 0.0,
            epochs: 150,
            ..Default::default()
        }),
        ..base.clone()
    }
    .check()
    .unwrap()
    .run(xtr, ytr, xte, yte, &mut Silent)
    .unwrap();
    assert_eq!(grad.mode, "gradient");
    for (c, g) in closed.points.iter().zip(&grad.points) {
        assert!(
            (c.r2 - g.r2).abs() < 0.03,
            "b={}: {} vs {}",
            c.b,
            c.r2,
            g.r2
        );
        assert!(g.r2_random < 0.02);
    }
    // An observer that stops after the first bottleneck gets a one-point curve.
    let mut stop = |_: &Progress<'_>| Flow::Stop;
    let rep = base
        .check()
        .unwrap()
        .run(xtr, ytr, xte, yte, &mut stop)
        .unwrap();
    assert_eq!(rep.points.len(), 1);
    // b above the input dimension is a typed error.
    let too_wide = AuditParams {
        bottlenecks: vec![61],
        ..Default::default()
    };
    assert!(
        too_wide
            .check()
            .unwrap()
            .run(xtr, ytr, xte, yte, &mut Silent)
            .is_err()
    );
}
