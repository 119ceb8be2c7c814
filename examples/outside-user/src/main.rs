//! What a user's own project does with spikelab, outside this repository:
//!
//! 1. deconvolves a Spikefinder calcium CSV with the embedded Elephant weights;
//! 2. fits neuLVM with a 2-population model file (simulated recording, EM back);
//! 3. learns convSeq filters on one raster and detects on another (two halves of a seeded
//!    synthetic session with a planted sequence, scored against its ground truth);
//! 4. reads an NWB file and a Kilosort folder through `io::open`.
//!
//! ```text
//! cargo run --release -- CALCIUM.csv[.gz] UNITS.nwb KILOSORT_DIR
//! ```
//! Every step checks its result and the program exits with an error if one falls short.

use std::error::Error;
use std::path::{Path, PathBuf};

use spikelab_calcium::deconvolve::{DeconvolverParams, ModelChoice, Units};
use spikelab_convseq::{AlphaOptions, ConvSeq, ConvSeqParams, Truth, score};
use spikelab_core::Silent;
use spikelab_data::io::{self, Loaded, ReadOptions};
use spikelab_neulvm::recovery::latent_correlation;
use spikelab_neulvm::{FitOptions, ModelSpec, NeuLvm, Recording, SimOptions, fit, simulate};
use spikelab_synth::sequences::SequenceParams;

type Res<T> = Result<T, Box<dyn Error>>;

fn check(ok: bool, what: String) -> Res<()> {
    if ok { Ok(()) } else { Err(what.into()) }
}

/// Spikefinder CSVs are 100 Hz and store no rate: the rate is given, never assumed.
fn deconvolve(csv: &Path) -> Res<()> {
    let options = ReadOptions {
        frame_rate_hz: Some(100.0),
        ..ReadOptions::default()
    };
    let traces = io::read_traces(csv, &options)?;
    let params = DeconvolverParams {
        model: ModelChoice::Embedded(1),
        units: Units::RatesHz,
        ..DeconvolverParams::default()
    };
    let out = params.build()?.run(&traces, &mut Silent)?;
    let (frames, neurons) = out.values.dim();
    let finite = out.values.iter().filter(|v| v.is_finite()).count();
    let mean_hz = out.values.iter().filter(|v| v.is_finite()).sum::<f64>() / finite as f64;
    println!(
        "calcium: {neurons} neurons × {frames} frames at {} Hz → rates, mean {mean_hz:.2} Hz, {} skipped",
        out.report.output_rate_hz,
        out.report.skipped.len()
    );
    check(
        (frames, neurons) == (traces.n_frames(), traces.n_neurons()),
        format!("output {frames}×{neurons} is not the input's shape"),
    )?;
    check(
        finite > frames * neurons / 2 && mean_hz > 0.0 && mean_hz < 100.0,
        format!("implausible rates: {finite} finite values, mean {mean_hz} Hz"),
    )
}

/// Simulates the 2-population network of the model file and fits it back by EM.
fn neulvm(model_toml: &str) -> Res<()> {
    let spec: ModelSpec = toml::from_str(model_toml)?;
    spec.validate()?;
    let cfg = &spec.model;
    let truth = spec
        .params
        .clone()
        .ok_or("the model file has no [params]")?;
    let mut so = SimOptions::new((8.0 / cfg.dt_s).round() as usize, 3);
    so.n_recorded = 5;
    let sim = simulate::simulate(cfg, &truth, &so)?;
    let model = NeuLvm::new(cfg.clone(), Recording::new(sim.spikes.clone())?)?;
    let mut opts = FitOptions::new(spec.bounds()?);
    opts.restarts = 1;
    opts.max_em_iters = 4;
    opts.seed = 3;
    let res = fit::fit(&model, &opts, &mut Silent)?;
    let best = res.best();
    let r = latent_correlation(best.state.z.view(), sim.z.view(), cfg.history_bins)?;
    println!(
        "neulvm: {} populations, loss {:.5}, r(Z, simulated) {r:.3?}",
        cfg.n_populations(),
        best.loss
    );
    check(
        r.len() == 2 && r.iter().all(|&x| x > 0.5),
        format!("latent recovery too weak: r = {r:?}"),
    )
}

/// Fits convSeq on one raster and detects on another recording of the same network: a seeded
/// synthetic session with a planted sequence (convSeq README statistics: 452 neurons, 50-ms
/// bins, 120 members every 400 bins), cut into two rasters of 18 137 bins each.
fn convseq() -> Res<()> {
    let generator = SequenceParams {
        n_bins: 2 * 18_137,
        ..SequenceParams::default()
    };
    let (session, truth) = generator.generate(1)?;
    let split = 18_137;
    let train = session.slice_bins(0, split)?;
    let test = session.slice_bins(split, session.n_bins())?;
    let params = ConvSeqParams {
        epochs: 2_000,
        alpha: AlphaOptions {
            n_samples: 2_000,
            ..Default::default()
        },
        ..ConvSeqParams::default()
    };
    let fitted = ConvSeq::new(params)?.fit(&train)?;
    let det = fitted.detect(&test)?;
    let test_truth = Truth {
        centres_bins: truth
            .centres(0)
            .iter()
            .filter(|&&c| c >= split as i64)
            .map(|&c| (c - split as i64) as f64)
            .collect(),
        members: truth.types[0].members.clone(),
    };
    let s = score(&det, 0, &test_truth, 200.0)?;
    println!(
        "convseq: fit on bins 0–{split}, detect on the next {split}: {} true occurrences, TP {} FP {}, F1 {:.3}, order ρ {:.3}, member precision {:.3}",
        test_truth.centres_bins.len(),
        s.events.true_positives,
        s.events.false_positives,
        s.events.f1,
        s.order_spearman,
        s.member_precision
    );
    check(
        s.events.f1 >= 0.9 && s.order_spearman >= 0.5,
        format!("held-out detection too weak: {s:?}"),
    )
}

fn describe(what: &str, loaded: &Loaded) -> Res<()> {
    match loaded {
        Loaded::SpikeTrains(st) => {
            let spikes: usize = (0..st.n_units()).map(|u| st.train(u).len()).sum();
            println!(
                "{what}: {} units, {spikes} spikes over {:.2} s",
                st.n_units(),
                st.t_stop_s() - st.t_start_s()
            );
            check(st.n_units() > 0 && spikes > 0, format!("{what}: no spikes"))
        }
        other => Err(format!("{what}: expected spike trains, got {other:?}").into()),
    }
}

fn main() -> Res<()> {
    let args: Vec<PathBuf> = std::env::args_os().skip(1).map(PathBuf::from).collect();
    let [csv, nwb, kilosort] = args.as_slice() else {
        return Err("usage: outside-user CALCIUM.csv[.gz] UNITS.nwb KILOSORT_DIR".into());
    };
    deconvolve(csv)?;
    neulvm(include_str!("../two_populations.toml"))?;
    convseq()?;
    describe("nwb", &io::open(nwb, &ReadOptions::default())?)?;
    describe("kilosort", &io::open(kilosort, &ReadOptions::default())?)?;
    println!("outside-user: all steps passed");
    Ok(())
}
