//! Kalman-filter decoding of position from the bundled CA1 raster (Rubin et al., 452 neurons ×
//! 18 137 frames at 20 Hz), beside an unsupervised LDS and ridge on the same features.
//!
//!     cargo run --release -p spikelab-decode --example ca1_kalman_decoding
//!
//! Features (all three decoders): counts in the window t − 10 … t + 9, z-scored on the training
//! frames, top 12 principal components (`KalmanModel::features`). Train = first 80 % of the
//! frames, test = the rest; R² of the position on the test frames.
//!
//! 1. The supervised Kalman decoder (`KalmanDecoderParams::default()`, Wu et al. 2006).
//! 2. Unsupervised LDS: `spikelab_lds::fit_em` (8 states) on the training components, then a
//!    ridge readout from the smoothed (train) / filtered (test, causal) state means.
//! 3. Ridge from the components at the same frame.

use nalgebra::DMatrix;
use ndarray::{Array2, ArrayView2, s};
use spikelab_core::Silent;
use spikelab_decode::{KalmanDecoderParams, choose_alpha, fit_ridge, r2_score};
use spikelab_lds::{EmOptions, FilterOptions, Trajectory, filter, fit_em, init_from_data, smooth};

const N_STATES: usize = 8;

fn to_na(a: ArrayView2<'_, f64>) -> DMatrix<f64> {
    DMatrix::from_fn(a.nrows(), a.ncols(), |i, j| a[[i, j]])
}

/// Ridge from `x_tr` to `y_tr` (α on the last 1/8 of the rows, refit on all), scored on the test
/// rows; returns (R², α).
fn ridge_r2(
    x_tr: ArrayView2<'_, f64>,
    y_tr: ArrayView2<'_, f64>,
    x_te: ArrayView2<'_, f64>,
    y_te: ArrayView2<'_, f64>,
) -> anyhow::Result<(f64, f64)> {
    let cut = x_tr.nrows() * 7 / 8;
    let (alpha, _, _) = choose_alpha(
        x_tr.slice(s![..cut, ..]),
        y_tr.slice(s![..cut, ..]),
        x_tr.slice(s![cut.., ..]),
        y_tr.slice(s![cut.., ..]),
        &spikelab_decode::DEFAULT_ALPHAS,
        spikelab_decode::RidgeMethod::Auto,
    )?;
    let model = fit_ridge(x_tr, y_tr, alpha)?;
    Ok((r2_score(y_te, model.predict(x_te)?.view())?, alpha))
}

fn main() -> anyhow::Result<()> {
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
    let t_all = counts.ncols();

    // 1. Supervised Kalman decoder.
    let fit = KalmanDecoderParams::default()
        .check()?
        .fit(counts.view(), pos.view())?;
    let (train, test) = (fit.split.train.clone(), fit.split.test.clone());
    let (pos_tr, pos_te) = (
        pos.slice(s![train.clone(), ..]),
        pos.slice(s![test.clone(), ..]),
    );

    // The same features for the other two decoders.
    let pcs = fit.model.features(counts.view())?;
    let (pc_tr, pc_te) = (
        pcs.slice(s![train.clone(), ..]),
        pcs.slice(s![test.clone(), ..]),
    );

    // 2. Unsupervised LDS, ridge readout of its state means.
    let tr_traj = Trajectory::new(to_na(pc_tr))?;
    let init = init_from_data(std::slice::from_ref(&tr_traj), N_STATES, 0)?;
    let em = fit_em(
        &init,
        std::slice::from_ref(&tr_traj),
        &EmOptions {
            max_iter: 50,
            ..Default::default()
        },
        &mut Silent,
    )?;
    let sm = smooth(&em.lds, &tr_traj, &FilterOptions::default())?;
    let xs_tr = Array2::from_shape_fn((train.len(), N_STATES), |(t, k)| sm.means[t][k]);
    let ft = filter(
        &em.lds,
        &Trajectory::new(to_na(pc_te))?,
        &FilterOptions::default(),
    )?;
    let xs_te = Array2::from_shape_fn((test.len(), N_STATES), |(t, k)| ft.means[t][k]);
    let (r2_lds, alpha_lds) = ridge_r2(xs_tr.view(), pos_tr, xs_te.view(), pos_te)?;

    // 3. Ridge from the components.
    let (r2_pc, alpha_pc) = ridge_r2(pc_tr, pos_tr, pc_te, pos_te)?;

    println!(
        "CA1 (Rubin), {} neurons, {t_all} frames at 20 Hz; train {}, test {} frames;",
        counts.nrows(),
        train.len(),
        test.len()
    );
    println!("features: counts in the window t − 10 … t + 9, z-scored, top 12 PCs\n");
    println!("| decoder | test R² (position) |\n| --- | ---: |");
    println!(
        "| Kalman filter, supervised [position, velocity] state (Wu et al. 2006) | {:.3} |",
        fit.test_r2
    );
    println!(
        "| LDS-EM ({N_STATES} states, {} iterations) + ridge readout of filtered states (α {alpha_lds}) | {r2_lds:.3} |",
        em.loglik.len() - 1
    );
    println!("| ridge on the 12 PCs (α {alpha_pc}) | {r2_pc:.3} |");
    Ok(())
}
