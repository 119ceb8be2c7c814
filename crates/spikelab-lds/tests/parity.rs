//! Parity with pykalman 0.11.2, dynamax 1.0.3 and a dense exact posterior (cases L1–L6 of
//! docs/lds.md). The reference values are checked-in JSON files under
//! `datasets/lds/reference/`, written by `crates/spikelab-lds/scripts/make_fixtures.py`.

use std::path::PathBuf;

use nalgebra::{DMatrix, DVector};
use serde_json::Value;
use spikelab_core::Silent;
use spikelab_lds::{
    EmOptions, FilterOptions, Lds, Learn, Trajectory, e_step, fit_em, m_step, smooth,
};

fn reference(name: &str) -> Value {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join(format!("../../datasets/lds/reference/{name}.json"));
    let text = std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    serde_json::from_str(&text).unwrap()
}

fn num(v: &Value) -> f64 {
    v.as_f64().unwrap_or(f64::NAN) // null = missing
}
fn mat(v: &Value) -> DMatrix<f64> {
    let rows = v.as_array().unwrap();
    let nc = rows.first().map_or(0, |r| r.as_array().unwrap().len());
    DMatrix::from_fn(rows.len(), nc, |i, j| num(&rows[i][j]))
}
fn vecv(v: &Value) -> DVector<f64> {
    DVector::from_iterator(
        v.as_array().unwrap().len(),
        v.as_array().unwrap().iter().map(num),
    )
}
fn series_mat(v: &Value) -> Vec<DMatrix<f64>> {
    v.as_array().unwrap().iter().map(mat).collect()
}
fn series_vec(v: &Value) -> Vec<DVector<f64>> {
    v.as_array().unwrap().iter().map(vecv).collect()
}

fn model(v: &Value) -> Lds {
    let mut lds = Lds::new(
        mat(&v["A"]),
        mat(&v["Q"]),
        mat(&v["C"]),
        mat(&v["R"]),
        vecv(&v["mu0"]),
        mat(&v["Sigma0"]),
    )
    .unwrap();
    lds = lds.with_offsets(vecv(&v["b"]), vecv(&v["d"])).unwrap();
    if v.get("B").is_some() {
        lds = lds.with_inputs(mat(&v["B"]), mat(&v["D"])).unwrap();
    }
    lds
}

/// max|Δ| / max|reference| over a list of arrays.
fn rel<'a>(pairs: impl IntoIterator<Item = (&'a DMatrix<f64>, &'a DMatrix<f64>)>) -> f64 {
    let mut num = 0.0f64;
    let mut den = 0.0f64;
    for (a, b) in pairs {
        assert_eq!(a.shape(), b.shape());
        num = num.max((a - b).amax());
        den = den.max(b.amax());
    }
    num / den
}
fn rel_vecs(a: &[DVector<f64>], b: &[DVector<f64>]) -> f64 {
    assert_eq!(a.len(), b.len());
    let am: Vec<DMatrix<f64>> = a
        .iter()
        .map(|v| DMatrix::from_column_slice(v.len(), 1, v.as_slice()))
        .collect();
    let bm: Vec<DMatrix<f64>> = b
        .iter()
        .map(|v| DMatrix::from_column_slice(v.len(), 1, v.as_slice()))
        .collect();
    rel(am.iter().zip(bm.iter()))
}
fn rel_scalar(a: f64, b: f64) -> f64 {
    (a - b).abs() / b.abs()
}

fn check_filter_case(name: &str) {
    let r = reference(name);
    let lds = model(&r["model"]);
    let tr = Trajectory::new(mat(&r["y"])).unwrap();
    for square_root in [false, true] {
        let opts = FilterOptions {
            square_root,
            ..Default::default()
        };
        let sm = smooth(&lds, &tr, &opts).unwrap();
        let e_ll = rel_scalar(sm.filtered.loglik, num(&r["loglik"]));
        let e_fm = rel_vecs(&sm.filtered.means, &series_vec(&r["filtered_means"]));
        let e_fc = rel(sm
            .filtered
            .covs
            .iter()
            .zip(series_mat(&r["filtered_covs"]).iter()));
        let e_sm = rel_vecs(&sm.means, &series_vec(&r["smoothed_means"]));
        let e_sc = rel(sm.covs.iter().zip(series_mat(&r["smoothed_covs"]).iter()));
        println!(
            "{name} sqrt={square_root}: ll {e_ll:.2e} fm {e_fm:.2e} fc {e_fc:.2e} sm {e_sm:.2e} sc {e_sc:.2e}"
        );
        for e in [e_ll, e_fm, e_fc, e_sm, e_sc] {
            assert!(e <= 1e-10, "{name}: relative error {e:.3e} > 1e-10");
        }
    }
}

#[test]
fn l1_filter_smoother_match_pykalman() {
    check_filter_case("L1_pykalman_filter");
}

#[test]
fn l3_masked_steps_match_pykalman() {
    check_filter_case("L3_pykalman_filter_masked");
}

fn check_em_case(name: &str) {
    let r = reference(name);
    let start = model(&r["start"]);
    let tr = Trajectory::new(mat(&r["y"])).unwrap();
    let iterates = r["iterates"].as_array().unwrap();
    let opts = EmOptions {
        max_iter: 1,
        tol: 0.0,
        ..Default::default()
    };
    let mut lds = start;
    let mut worst = 0.0f64;
    for (k, it) in iterates.iter().enumerate() {
        let (stats, _) = e_step(&lds, std::slice::from_ref(&tr), &opts.filter).unwrap();
        lds = m_step(&lds, &stats, &opts).unwrap();
        let e = rel([
            (&lds.a, &mat(&it["A"])),
            (&lds.c, &mat(&it["C"])),
            (&lds.q, &mat(&it["Q"])),
            (&lds.r, &mat(&it["R"])),
            (&lds.sigma0, &mat(&it["Sigma0"])),
        ]);
        let e_mu = rel_vecs(&[lds.mu0.clone()], &[vecv(&it["mu0"])]);
        let ll = smooth(&lds, &tr, &opts.filter).unwrap().filtered.loglik;
        let e_ll = rel_scalar(ll, num(&it["loglik"]));
        worst = worst.max(e).max(e_mu).max(e_ll);
        assert!(
            e.max(e_mu).max(e_ll) <= 1e-8,
            "{name} iterate {k}: {e:.3e} {e_mu:.3e} {e_ll:.3e}"
        );
    }
    println!("{name}: worst relative deviation over 20 iterates {worst:.2e}");
}

#[test]
fn l2_em_iterates_match_pykalman() {
    check_em_case("L2_pykalman_em");
}

#[test]
fn l3_em_iterates_with_masked_steps_match_pykalman() {
    check_em_case("L3_pykalman_em_masked");
}

#[test]
fn l4_inputs_and_biases_match_dynamax() {
    let r = reference("L4_dynamax_inputs");
    let truth = model(&r["truth"]);
    let tr = Trajectory::new(mat(&r["y"]))
        .unwrap()
        .with_inputs(mat(&r["u"]))
        .unwrap();
    let sm = smooth(&truth, &tr, &FilterOptions::default()).unwrap();
    let e_ll = rel_scalar(sm.filtered.loglik, num(&r["loglik"]));
    let e_fm = rel_vecs(&sm.filtered.means, &series_vec(&r["filtered_means"]));
    let e_sm = rel_vecs(&sm.means, &series_vec(&r["smoothed_means"]));
    let e_sc = rel(sm.covs.iter().zip(series_mat(&r["smoothed_covs"]).iter()));
    // dynamax's cross term is E[x_t x_{t+1}ᵀ] = cross[t]ᵀ + m_t m_{t+1}ᵀ.
    let second: Vec<DMatrix<f64>> = (0..sm.cross.len())
        .map(|t| sm.cross[t].transpose() + &sm.means[t] * sm.means[t + 1].transpose())
        .collect();
    let e_x = rel(second
        .iter()
        .zip(series_mat(&r["smoothed_second_cross"]).iter()));
    println!("L4 filter: ll {e_ll:.2e} fm {e_fm:.2e} sm {e_sm:.2e} sc {e_sc:.2e} cross {e_x:.2e}");
    for e in [e_ll, e_fm, e_sm, e_sc, e_x] {
        assert!(e <= 1e-10, "L4 inference: {e:.3e}");
    }
    let start = model(&r["start"]);
    let opts = EmOptions {
        max_iter: 20,
        tol: 0.0,
        learn: Learn::ALL,
        ..Default::default()
    };
    let fit = fit_em(&start, std::slice::from_ref(&tr), &opts, &mut Silent).unwrap();
    let want = model(&r["em_final"]);
    let e = rel([
        (&fit.lds.a, &want.a),
        (&fit.lds.b_in, &want.b_in),
        (&fit.lds.q, &want.q),
        (&fit.lds.c, &want.c),
        (&fit.lds.d_in, &want.d_in),
        (&fit.lds.r, &want.r),
        (&fit.lds.sigma0, &want.sigma0),
    ]);
    let e_off = rel_vecs(
        &[
            fit.lds.b_off.clone(),
            fit.lds.d_off.clone(),
            fit.lds.mu0.clone(),
        ],
        &[want.b_off.clone(), want.d_off.clone(), want.mu0.clone()],
    );
    // dynamax's log_probs[k] is the log-likelihood under the parameters after k updates.
    let lp = vecv(&r["em_log_probs"]);
    let e_lp = (0..lp.len())
        .map(|k| rel_scalar(fit.loglik[k], lp[k]))
        .fold(0.0, f64::max);
    println!("L4 EM: params {e:.2e} offsets {e_off:.2e} log-probs {e_lp:.2e}");
    assert!(
        e <= 1e-8 && e_off <= 1e-8 && e_lp <= 1e-8,
        "L4 EM: {e:.3e} {e_off:.3e} {e_lp:.3e}"
    );
}

#[test]
fn l5_batch_step_matches_dynamax_with_correct_sigma0() {
    let r = reference("L5_dynamax_batch");
    let start = model(&r["start"]);
    let ys = series_mat(&r["y"]);
    let us = series_mat(&r["u"]);
    let trajs: Vec<Trajectory> = ys
        .into_iter()
        .zip(us)
        .map(|(y, u)| Trajectory::new(y).unwrap().with_inputs(u).unwrap())
        .collect();
    let opts = EmOptions {
        learn: Learn::ALL,
        ..Default::default()
    };
    let (stats, ll) = e_step(&start, &trajs, &opts.filter).unwrap();
    let new = m_step(&start, &stats, &opts).unwrap();
    let want = model(&r["after_one_step"]);
    let e = rel([
        (&new.a, &want.a),
        (&new.b_in, &want.b_in),
        (&new.q, &want.q),
        (&new.c, &want.c),
        (&new.d_in, &want.d_in),
        (&new.r, &want.r),
        (&new.sigma0, &want.sigma0),
    ]);
    let e_off = rel_vecs(
        &[new.b_off.clone(), new.d_off.clone(), new.mu0.clone()],
        &[want.b_off.clone(), want.d_off.clone(), want.mu0.clone()],
    );
    let e_ll = rel_scalar(ll, num(&r["loglik"]));
    println!("L5: params {e:.2e} offsets {e_off:.2e} ll {e_ll:.2e}");
    assert!(
        e <= 1e-10 && e_off <= 1e-10 && e_ll <= 1e-10,
        "L5: {e:.3e} {e_off:.3e} {e_ll:.3e}"
    );
}

#[test]
fn l6_partial_masks_match_dense_posterior() {
    let r = reference("L6_dense_partial_mask");
    let lds = model(&r["model"]);
    let tr = Trajectory::new(mat(&r["y"])).unwrap();
    assert!(tr.n_observed() < tr.y.len());
    let sm = smooth(&lds, &tr, &FilterOptions::default()).unwrap();
    let e_ll = rel_scalar(sm.filtered.loglik, num(&r["loglik"]));
    let e_sm = rel_vecs(&sm.means, &series_vec(&r["smoothed_means"]));
    let e_sc = rel(sm.covs.iter().zip(series_mat(&r["smoothed_covs"]).iter()));
    let e_x = rel(sm.cross.iter().zip(series_mat(&r["cross_covs"]).iter()));
    println!("L6: ll {e_ll:.2e} sm {e_sm:.2e} sc {e_sc:.2e} cross {e_x:.2e}");
    for e in [e_ll, e_sm, e_sc, e_x] {
        assert!(e <= 1e-10, "L6: {e:.3e}");
    }
}
