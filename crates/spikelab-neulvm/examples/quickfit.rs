//! Scratch timing run (replaced by the real example later).
use spikelab_data::datasets;
use spikelab_neulvm::{Bounds, FitOptions, ModelConfig, NeuLvm, Params, Recording, Step, fit};

fn main() -> anyhow::Result<()> {
    let model = NeuLvm::new(
        ModelConfig::winner_take_all(),
        Recording::from_npy(&datasets::neulvm("spikes_4ms.npy")?)?,
    )?;
    let gt = Params::winner_take_all_ground_truth();
    let z = model.initial_latent(0.4)?;
    let t = std::time::Instant::now();
    for _ in 0..10 {
        model.loss(&gt, z.view())?;
    }
    println!("loss {:.3} ms", t.elapsed().as_secs_f64() * 100.0);
    let t = std::time::Instant::now();
    for _ in 0..5 {
        model.gradient(&gt, z.view(), Step::M, true, false)?;
    }
    println!("grad params {:.3} ms", t.elapsed().as_secs_f64() * 200.0);
    let t = std::time::Instant::now();
    for _ in 0..5 {
        model.gradient(&gt, z.view(), Step::E, false, true)?;
    }
    println!("grad Z {:.3} ms", t.elapsed().as_secs_f64() * 200.0);
    if std::env::args().any(|a| a == "--timing-only") {
        return Ok(());
    }
    let g: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(datasets::neulvm(
        "golden_losses.json",
    )?)?)?;
    let xr: Vec<f64> = g["x_rand"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect();
    let xr = Params::from_slice(&xr)?;
    let mut opts = FitOptions::new(Bounds::relative_to(&gt, 0.4, 2.0)?);
    opts.threads = 1;
    let t = std::time::Instant::now();
    let res = fit::fit_from(&model, &[xr], &opts, &|p| {
        if let fit::Progress::MStep { .. } = p {
            eprintln!("{p:?}")
        }
    })?;
    println!("fit {:.2} s", t.elapsed().as_secs_f64());
    let b = res.best();
    println!("{:?}", b.state.iterations);
    println!("params {:?}", b.state.params);
    let zgt = spikelab_data::io::npy::read_typed::<f64, ndarray::Ix2>(&datasets::neulvm(
        "Z_gt_4ms.npy",
    )?)?;
    for p in 0..3 {
        let a: Vec<f64> = (250..2750).map(|i| b.state.z[[p, i]]).collect();
        let c: Vec<f64> = (250..2750).map(|i| zgt[[p, i]]).collect();
        let ma = a.iter().sum::<f64>() / a.len() as f64;
        let mc = c.iter().sum::<f64>() / c.len() as f64;
        let cov: f64 = a.iter().zip(&c).map(|(x, y)| (x - ma) * (y - mc)).sum();
        let va: f64 = a.iter().map(|x| (x - ma).powi(2)).sum();
        let vc: f64 = c.iter().map(|y| (y - mc).powi(2)).sum();
        println!("r(Z) pop {p}: {:.3}", cov / (va * vc).sqrt());
    }
    Ok(())
}
