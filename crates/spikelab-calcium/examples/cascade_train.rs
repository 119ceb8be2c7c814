//! Trains a CASCADE model (CASCADE's recipe for Global_EXC 30 Hz: noise levels 2–8, 5 members
//! each, causal 50-ms target smoothing, batch 8192, 10 epochs, Adagrad lr 0.05, up to 500
//! noise replicas per trial) on a folder of CASCADE ground truth and prints the time per
//! member and the Adagrad steps per second. Nothing is written.
//!
//! With a HELD_OUT ground-truth file (a neuron not in the folder), the trained model then
//! predicts that neuron at the model's frame rate (30 Hz), noise-matched to each trained
//! level (one replica, seed 99), and the example prints the Pearson correlation with its spikes smoothed as the training
//! targets were: the held-out quality of a model trained on this device.
//!
//! ```text
//! cargo run -p spikelab-calcium --release --example cascade_train -- GROUND_TRUTH_DIR [DEVICE] [LEVELS] [MEMBERS] [HELD_OUT]
//! cargo run -p spikelab-calcium --release --no-default-features --features cuda \
//!     --example cascade_train -- datasets/cascade-sample/DS09-GCaMP6f-m-V1 cuda 2,3,4,5,6,7,8 5
//! ```
//! DEVICE is `cpu` (default) or `cuda[:N]`; LEVELS a comma list (default 2–8); MEMBERS per
//! level (default 5). `CONCURRENT_MEMBERS=N` trains N members at once (default 1; each on its
//! own thread and CUDA stream). `spikelab calcium train-cascade` runs the same training and saves the
//! model.

use std::path::PathBuf;
use std::time::Instant;

use spikelab_calcium::cascade::PredictOptions;
use spikelab_calcium::cascade::train::{
    GroundTruthDataset, TargetSmoothing, TrainCascadeParams, noise_matched_replicas,
    resample_trial, smooth_targets, train,
};
use spikelab_core::{Flow, Progress};
use spikelab_data::io::mat::read_cascade;

fn main() -> anyhow::Result<()> {
    let a: Vec<String> = std::env::args().skip(1).collect();
    let dir = PathBuf::from(a.first().ok_or_else(|| {
        anyhow::anyhow!(
            "usage: cascade_train GROUND_TRUTH_DIR [DEVICE] [LEVELS] [MEMBERS] [HELD_OUT]"
        )
    })?);
    let device: spikelab_core::Device = a.get(1).map_or("cpu", String::as_str).parse()?;
    let levels: Vec<f64> = a
        .get(2)
        .map_or("2,3,4,5,6,7,8", String::as_str)
        .split(',')
        .map(str::parse)
        .collect::<Result<_, _>>()?;
    let members: usize = a.get(3).map_or(Ok(5), |s| s.parse())?;
    let concurrent: usize = std::env::var("CONCURRENT_MEMBERS").map_or(Ok(1), |s| s.parse())?;
    let params = TrainCascadeParams {
        noise_levels: levels,
        ensemble_size: members,
        smoothing: TargetSmoothing::Causal { sd_s: 0.05 },
        device,
        concurrent_members: concurrent,
        ..TrainCascadeParams::new("timing")
    }
    .validate()?;
    let sets = vec![GroundTruthDataset::load_dir(&dir)?];
    println!(
        "{}: {} trials; device {device}",
        sets[0].name,
        sets[0].trials.len()
    );
    let t0 = Instant::now();
    // Per (noise level, member): steps, time of the first and of the last step.
    let mut per_member: Vec<((f64, f64), usize, f64, f64)> = Vec::new();
    let mut steps = 0usize;
    let mut next_report = 10.0;
    let trained = train(&params, &sets, &mut |p: &Progress| {
        let key = (
            p.metric("noise_level").unwrap_or(f64::NAN),
            p.metric("member").unwrap_or(f64::NAN),
        );
        let now = t0.elapsed().as_secs_f64();
        if steps == 0 {
            println!("first Adagrad step after {now:.1} s of preparation");
        }
        match per_member.iter_mut().find(|m| m.0 == key) {
            Some(m) => {
                m.1 += 1;
                m.3 = now;
            }
            None => {
                per_member.push((key, 1, now, now));
                println!(
                    "{now:.1} s: level {} member {} starts ({steps} steps done)",
                    key.0, key.1
                );
            }
        }
        steps += 1;
        if now >= next_report {
            println!("{now:.1} s: {steps} steps");
            next_report += 10.0;
        }
        Flow::Continue
    })?;
    let total = t0.elapsed().as_secs_f64();
    per_member.sort_by(|a, b| a.0.0.total_cmp(&b.0.0).then(a.0.1.total_cmp(&b.0.1)));
    for ((level, member), n, first, last) in &per_member {
        println!(
            "level {level} member {member}: {n} steps from {first:.1} s to {last:.1} s ({:.1} steps/s)",
            *n as f64 / (last - first).max(1e-9)
        );
    }
    for l in &trained.levels {
        println!(
            "level {}: {} trials used, windows per member {:?}, last-epoch loss {:?}",
            l.noise_level, l.trials_used, l.windows_per_member, l.final_loss
        );
    }
    println!(
        "{} members ({concurrent} at once), {steps} Adagrad steps in {total:.1} s ({:.1} steps/s, preparation included)",
        per_member.len(),
        steps as f64 / total
    );
    if let Some(held_out) = a.get(4) {
        let settings = params.params();
        let rate_hz = settings.frame_rate_hz;
        let held_out = std::path::Path::new(held_out);
        let name = held_out
            .file_name()
            .map_or_else(String::new, |n| n.to_string_lossy().into());
        for trial in read_cascade(held_out)? {
            let r = resample_trial(&trial, rate_hz)?;
            let truth = smooth_targets(&r.spikes, rate_hz, settings.smoothing)?;
            for &level in &settings.noise_levels {
                let Some(x) = noise_matched_replicas(&r.dff, rate_hz, level, 1, 99)?.pop() else {
                    println!("held-out trial already noisier than level {level}: skipped");
                    continue;
                };
                let rows = ndarray::Array2::from_shape_vec((1, x.len()), x)?;
                let p = trained
                    .model
                    .predict_rows(rows.view(), &PredictOptions::default())?;
                let (u, v): (Vec<f64>, Vec<f64>) = p
                    .spike_prob
                    .row(0)
                    .iter()
                    .zip(&truth)
                    .filter(|(p, _)| p.is_finite())
                    .map(|(p, t)| (*p, *t))
                    .unzip();
                println!(
                    "held out {name} at level {level}: {} frames, Pearson r {:.4}",
                    u.len(),
                    spikelab_core::stats::pearson(&u, &v)?
                );
            }
        }
    }
    Ok(())
}
