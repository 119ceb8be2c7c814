//! Model files (`models/*.toml`): the paper preset's file equals the preset; a 2-population
//! network read from its file is simulated, fitted back and its output folder written.

use spikelab_neulvm::fit;
use spikelab_neulvm::recovery::latent_correlation;
use spikelab_neulvm::{
    FitOptions, FitResult, ModelConfig, ModelSpec, NeuLvm, NeulvmError, Recording, SimOptions,
    simulate,
};

fn spec(text: &str) -> ModelSpec {
    let s: ModelSpec = toml::from_str(text).unwrap();
    s.validate().unwrap();
    s
}

fn close(a: &[f64], b: &[f64]) -> bool {
    a.len() == b.len()
        && a.iter()
            .zip(b)
            .all(|(x, y)| (x - y).abs() <= 1e-12 * y.abs())
}

#[test]
fn winner_take_all_file_is_the_preset() -> Result<(), NeulvmError> {
    let file = spec(include_str!("../models/winner_take_all.toml"));
    let preset = ModelSpec::winner_take_all();
    assert_eq!(file.model, preset.model);
    assert!(close(&file.bounds()?.lower, &preset.bounds()?.lower));
    assert!(close(&file.bounds()?.upper, &preset.bounds()?.upper));
    assert!(close(
        &file.params.as_ref().unwrap().to_vec(),
        &preset.params.as_ref().unwrap().to_vec()
    ));
    // What a serde format writes reads back (conmat as rows).
    let text = toml::to_string(&preset).unwrap();
    assert!(text.contains("conmat = [["), "{text}");
    assert_eq!(spec(&text), preset);
    Ok(())
}

#[test]
fn bad_model_files_are_typed_errors() {
    let good = include_str!("../models/two_populations.toml");
    // Unknown key, a ragged conmat: parse errors.
    let typo = good.replace("ref_t_s =", "ref_ts =");
    assert!(toml::from_str::<ModelSpec>(&typo).is_err());
    let ragged = good.replace("[-1.0, 1.0]]", "[-1.0]]");
    assert!(toml::from_str::<ModelSpec>(&ragged).is_err());
    // A flat row-major conmat is read too.
    let flat = good.replace(
        "[[1.0, -1.0],\n          [-1.0, 1.0]]",
        "[1.0, -1.0, -1.0, 1.0]",
    );
    assert_eq!(spec(&flat), spec(good));
    // Parsed but invalid: one bound per population, lower < upper.
    for bad in [
        good.replace(
            "a_syn_hz = [333.3333333333333, 333.3333333333333]",
            "a_syn_hz = [333.0]",
        ),
        good.replace("j = [8.0, 8.0]", "j = [8.0]"),
        good.replace("j = [8.0, 8.0]", "j = [0.5, 8.0]"),
    ] {
        let s: ModelSpec = toml::from_str(&bad).unwrap();
        assert!(
            matches!(
                s.validate(),
                Err(NeulvmError::Config(_) | NeulvmError::Params(_))
            ),
            "{bad}"
        );
    }
}

/// Simulates the 2-population file's network (10 s, 5 recorded neurons per population),
/// fits it back from one restart of the prior and checks that the fit is sane: the recorded
/// config is the file's, the parameters stay in the box, the loss falls below that of the
/// initial draw, and the inferred Z follows the simulated one (the winner switches once in
/// these 10 s; r ≈ 0.85 / 0.79, above the data-driven initial Z's).
#[test]
fn two_population_file_fits_and_writes_its_folder() -> Result<(), NeulvmError> {
    let spec = spec(include_str!("../models/two_populations.toml"));
    let cfg: &ModelConfig = &spec.model;
    let mut so = SimOptions::new((10.0 / cfg.dt_s) as usize, 3);
    so.n_recorded = 5;
    let sim = simulate::simulate(cfg, spec.params.as_ref().unwrap(), &so)?;
    let model = NeuLvm::new(cfg.clone(), Recording::new(sim.spikes.clone())?)?;
    let mut opts = FitOptions::new(spec.bounds()?);
    opts.restarts = 1;
    opts.seed = 3;
    let res = fit::fit(&model, &opts, &mut spikelab_core::Silent)?;
    let best = res.best();
    assert_eq!(&res.config, cfg);
    assert!(opts.bounds.contains(&best.state.params.to_vec()));
    let z0 = model.initial_latent(opts.init_sigma_s)?;
    let l0 = model.loss(&best.init, z0.view())?.total();
    assert!(best.loss < l0, "loss {} vs initial {l0}", best.loss);
    let a = cfg.history_bins;
    let r_fit = latent_correlation(best.state.z.view(), sim.z.view(), a)?;
    let r_init = latent_correlation(z0.view(), sim.z.view(), a)?;
    println!(
        "r(Z) inferred {r_fit:?}, initial {r_init:?}, loss {}",
        best.loss
    );
    for p in 0..2 {
        assert!(
            r_fit[p] > 0.7 && r_fit[p] > r_init[p],
            "{r_fit:?} {r_init:?}"
        );
    }

    // The output folder: written, refused a second time, replaced with force.
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("fit");
    let written = res.write_dir(&out, false)?;
    assert!(written.len() >= 4 && written.iter().all(|p| p.is_file()));
    assert!(matches!(
        FitResult::check_output_dir(&out, false),
        Err(NeulvmError::Data(_))
    ));
    assert!(res.write_dir(&out, false).is_err());
    res.write_dir(&out, true)?;
    let back = FitResult::from_json(&std::fs::read_to_string(out.join("fit.json")).unwrap())?;
    // serde_json reads floats back to within an ulp, not always bit for bit.
    assert_eq!((&back.config, back.best), (&res.config, res.best));
    assert!(close(
        &back.best().state.params.to_vec(),
        &best.state.params.to_vec()
    ));
    let leftovers = std::fs::read_dir(&out)
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .ends_with(".tmp")
        })
        .count();
    assert_eq!(leftovers, 0);
    let sim_dir = dir.path().join("sim");
    sim.write_dir(&sim_dir, "test", false)?;
    let spikes = Recording::from_npy(&sim_dir.join("spikes.npy"))?;
    assert_eq!(spikes.spikes(), sim.spikes.view());
    Ok(())
}
