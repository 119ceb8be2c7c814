//! EIT on the two-body benchmark: generate 500 trials (seeded), train on the first 400 × 24
//! permutations, report test accuracy and seconds per epoch.
//!
//! ```text
//! cargo run --release -p spikelab-decode --example eit_twobody -- [label] [epochs] [device] [trials] [model]
//! cargo run --release -p spikelab-decode --features cuda --example eit_twobody -- both 400 cuda 500 ndt
//! ```
//! label: both | connection | type (default both); epochs default 400; device cpu | cuda[:N];
//! model: eit (Adam lr 1e-4, default) | ndt (the peer, Adam lr 5e-4).
//!
//! `eit_twobody -- ca1 [epochs] [device]` instead runs the CA1 smoke of the spec at full size:
//! EIT (452 neurons, 6 heads of 64, Adam lr 1e-4, batch 64) classifies the coarse position (6
//! bins of 4 track bins) from 2-frame windows of the bundled raster, beside a linear probe on
//! the same windows (`spikelab_decode::eit_windows`; one binary, so one GPU build serves both).

use std::time::Instant;

use candle_core::DType;
use spikelab_core::{Flow, Progress};
use spikelab_decode::eit::{Eit, EitConfig, Ndt, NdtConfig, StepClassifier, TrainParams, train};
use spikelab_synth::{TwoBodyLabel, TwoBodyParams};

/// The CA1 smoke at full size (see the module docs).
fn ca1(epochs: usize, device: spikelab_core::Device) -> anyhow::Result<()> {
    use spikelab_decode::eit_windows::{WindowParams, fit_windows};
    let spikelab_decode::DecodeInputs {
        counts,
        target: pos,
    } = spikelab_decode::read_inputs(
        &spikelab_datasets::convseq("ca1_rubin/neuronal_activity_mat.mat")?,
        Some("neuronal_activity_mat"),
        &spikelab_datasets::convseq("ca1_rubin/position_per_frame.mat")?,
        Some("position_per_frame"),
        0.05,
    )?;
    let coarse = pos.mapv(|p| ((p - 1.0) / 4.0).floor());
    let params = WindowParams {
        train: TrainParams {
            epochs,
            eval_every: 10,
            ..TrainParams::default()
        },
        device,
        ..WindowParams::default()
    };
    let start = Instant::now();
    let mut last = Instant::now();
    let mut obs = |p: &Progress<'_>| {
        if let Some(a) = p.metric("accuracy") {
            println!(
                "epoch {:4}  loss {:.4}  test accuracy {a:.4}  ({:.2} s since the last report)",
                p.step + 1,
                p.metric("loss").unwrap_or(f64::NAN),
                last.elapsed().as_secs_f64()
            );
            last = Instant::now();
        }
        Flow::Continue
    };
    let (_, fit) = fit_windows(counts.view(), coarse.view(), &params, &mut obs)?;
    println!(
        "CA1 coarse position from 2-frame windows: EIT {:.4}, linear probe {:.4} (α {}), majority class {:.4}; {} train / {} test windows; {:.1} s on {device}",
        fit.test_accuracy,
        fit.probe_accuracy,
        fit.probe_alpha,
        fit.majority_accuracy,
        fit.n_windows.0,
        fit.n_windows.1,
        start.elapsed().as_secs_f64()
    );
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().is_some_and(|a| a == "ca1") {
        let epochs: usize = args.get(1).map_or(Ok(100), |s| s.parse())?;
        let device = args.get(2).map_or("cpu", |s| s.as_str()).parse()?;
        return ca1(epochs, device);
    }
    let label: TwoBodyLabel = args.first().map_or("both", |s| s.as_str()).parse()?;
    let epochs: usize = args.get(1).map_or(Ok(400), |s| s.parse())?;
    let device: spikelab_core::Device = args.get(2).map_or("cpu", |s| s.as_str()).parse()?;
    let trials: usize = args.get(3).map_or(Ok(500), |s| s.parse())?;
    let kind = args.get(4).map_or("eit", |s| s.as_str()).to_string();
    let n_train = trials * 4 / 5;
    let t0 = Instant::now();
    let data = TwoBodyParams {
        n_trials: trials,
        ..Default::default()
    }
    .generate(0)?;
    let (xtr, ytr) = data.dataset(0..n_train, label)?;
    let (xte, yte) = data.dataset(n_train..trials, label)?;
    println!(
        "generated {trials} trials in {:.2} s: {} train / {} test samples, label {label:?}",
        t0.elapsed().as_secs_f64(),
        ytr.len(),
        yte.len()
    );
    // CUDA_EVENTS=1 keeps cudarc's per-allocation events (candle's own `new_cuda`), to time
    // what `Device::to_candle` saves by turning them off.
    let dev = match device {
        spikelab_core::Device::Cuda(i) if std::env::var("CUDA_EVENTS").as_deref() == Ok("1") => {
            println!("cudarc event tracking on");
            candle_core::Device::new_cuda(i)?
        }
        _ => device.to_candle()?,
    };
    let cfg = EitConfig {
        n_classes: label.n_classes(),
        ..Default::default()
    };
    let (model, lr): (Box<dyn StepClassifier>, f64) = match kind.as_str() {
        "eit" => {
            let m = Eit::new(cfg, 0, DType::F32, &dev)?;
            println!(
                "EIT: {} parameters (original module {})",
                m.n_parameters(),
                m.config().original_parameter_count()
            );
            (Box::new(m), 1e-4)
        }
        "ndt" => {
            let ncfg = NdtConfig {
                n_classes: label.n_classes(),
                ..Default::default()
            };
            let m = Ndt::new(ncfg.clone(), 0, DType::F32, &dev)?;
            println!(
                "NDT: {} parameters (original module {})",
                m.n_parameters(),
                ncfg.original_parameter_count()
            );
            (Box::new(m), 5e-4)
        }
        other => anyhow::bail!("model {other:?}: expected eit or ndt"),
    };
    let params = TrainParams {
        epochs,
        lr,
        eval_every: 10,
        ..Default::default()
    };
    let start = Instant::now();
    let mut last = Instant::now();
    let mut obs = |p: &Progress<'_>| {
        let dt = last.elapsed().as_secs_f64();
        last = Instant::now();
        let acc = p
            .metric("accuracy")
            .map_or(String::new(), |a| format!("  test accuracy {a:.4}"));
        println!(
            "epoch {:4}  loss {:.4}{acc}  ({dt:.3} s/epoch)",
            p.step + 1,
            p.metric("loss").unwrap_or(f64::NAN)
        );
        Flow::Continue
    };
    let hist = train(
        model.as_ref(),
        &xtr,
        &ytr,
        Some((&xte, &yte)),
        &params,
        None,
        &mut obs,
    )?;
    let wall = start.elapsed().as_secs_f64();
    let fin = hist
        .last()
        .and_then(|h| h.test_accuracy)
        .unwrap_or(f64::NAN);
    println!(
        "{kind}: final test accuracy {fin:.4} after {epochs} epochs; {:.3} s per epoch ({} steps of batch 64) on {device}",
        wall / epochs as f64,
        ytr.len().div_ceil(64)
    );
    Ok(())
}
