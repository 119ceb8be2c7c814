//! Parity of `spikelab_sort::compare` with spikeinterface 0.105.3's
//! `compare_sorter_to_ground_truth` (and of the assignment with scipy 1.17.1's
//! `linear_sum_assignment`) on the fixtures of `scripts/sort_fixtures_metric.py`
//! (`datasets/sort/parity/`). Integers equal, floats within 1e-12.

use std::path::PathBuf;

use ndarray::{Array1, Array2};
use ndarray_npy::read_npy;
use serde_json::Value;
use spikelab_data::Sorting;
use spikelab_sort::assignment::linear_sum_assignment;
use spikelab_sort::compare::{
    CompareParams, MatchMode, SimSortParams, compare_to_ground_truth, detection_score,
    simsort_accuracy,
};

const TOL: f64 = 1e-12;

fn dir() -> PathBuf {
    spikelab_datasets::root().unwrap().join("sort/parity")
}

fn fixtures() -> Value {
    let text = std::fs::read_to_string(dir().join("cases.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn ints(v: &Value) -> Vec<i64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_i64().unwrap())
        .collect()
}

fn floats(v: &Value) -> Vec<f64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect()
}

/// A sorting with the fixture's unit ids (which may include units without spikes).
fn load_sorting(name: &str, ids: &[i64], fs: f64, n_samples: i64) -> Sorting {
    let f: Array1<i64> = read_npy(dir().join(format!("{name}_frames.npy"))).unwrap();
    let l: Array1<i64> = read_npy(dir().join(format!("{name}_labels.npy"))).unwrap();
    let trains = ids
        .iter()
        .map(|&id| {
            let mut t: Vec<i64> = f
                .iter()
                .zip(&l)
                .filter(|(_, x)| **x == id)
                .map(|(s, _)| *s)
                .collect();
            t.sort_unstable();
            t
        })
        .collect();
    Sorting::new(ids.to_vec(), trains, fs, n_samples).unwrap()
}

fn close(a: f64, b: f64, what: &str) {
    assert!((a - b).abs() <= TOL, "{what}: {a} vs {b}");
}

fn params(p: &Value) -> CompareParams {
    let d = CompareParams::default();
    let get = |k: &str, def: f64| p.get(k).and_then(Value::as_f64).unwrap_or(def);
    CompareParams {
        delta_time_ms: get("delta_time", d.delta_time_ms),
        match_score: get("match_score", d.match_score),
        well_detected_score: get("well_detected_score", d.well_detected_score),
        redundant_score: get("redundant_score", d.redundant_score),
        overmerged_score: get("overmerged_score", d.overmerged_score),
        chance_score: get("chance_score", d.chance_score),
        match_mode: match p.get("match_mode").and_then(Value::as_str) {
            Some("best") => MatchMode::Best,
            None | Some("hungarian") => MatchMode::Hungarian,
            Some(m) => panic!("unknown match_mode {m}"),
        },
        ..d
    }
}

fn opt_index_to_id(m: &[Option<usize>], ids: &[i64]) -> Vec<i64> {
    m.iter().map(|x| x.map_or(-1, |j| ids[j])).collect()
}

#[test]
fn spikeinterface_parity_on_every_case() {
    let fx = fixtures();
    let cases = fx["cases"].as_array().unwrap();
    assert!(cases.len() >= 20);
    for case in cases {
        let name = case["name"].as_str().unwrap();
        let fs = case["sampling_rate_hz"].as_f64().unwrap();
        let n = case["n_samples"].as_i64().unwrap();
        let gt_ids = ints(&case["gt_unit_ids"]);
        let t_ids = ints(&case["tested_unit_ids"]);
        let gt = load_sorting(case["gt"].as_str().unwrap(), &gt_ids, fs, n);
        let tested = load_sorting(case["tested"].as_str().unwrap(), &t_ids, fs, n);
        let si = &case["spikeinterface"];
        let c = compare_to_ground_truth(&gt, &tested, &params(&case["params"])).unwrap();

        assert_eq!(
            c.delta_frames,
            si["delta_frames"].as_i64().unwrap(),
            "{name}"
        );
        let m_ref: Vec<Vec<u64>> = si["match_event_count"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| ints(r).into_iter().map(|x| x as u64).collect())
            .collect();
        assert_eq!(c.match_event_count, m_ref, "{name}: match_event_count");
        let a_ref = si["agreement_scores"].as_array().unwrap();
        assert_eq!(a_ref.len(), c.agreement_scores.len(), "{name}");
        for (row, r) in c.agreement_scores.iter().zip(a_ref) {
            let r = floats(r);
            assert_eq!(row.len(), r.len(), "{name}");
            for (x, y) in row.iter().zip(&r) {
                close(*x, *y, &format!("{name}: agreement"));
            }
        }
        assert_eq!(
            opt_index_to_id(&c.hungarian_match_12, &t_ids),
            ints(&si["hungarian_match_12"]),
            "{name}: hungarian"
        );
        assert_eq!(
            opt_index_to_id(&c.best_match_12, &t_ids),
            ints(&si["best_match_12"]),
            "{name}"
        );
        assert_eq!(
            opt_index_to_id(&c.best_match_21, &gt_ids),
            ints(&si["best_match_21"]),
            "{name}"
        );

        let raw = &si["raw_count"];
        let col = |f: fn(&spikelab_sort::compare::UnitCounts) -> u64| -> Vec<i64> {
            c.raw_count().iter().map(|u| f(u) as i64).collect()
        };
        assert_eq!(col(|u| u.tp), ints(&raw["tp"]), "{name}: tp");
        assert_eq!(col(|u| u.fn_), ints(&raw["fn"]), "{name}: fn");
        assert_eq!(col(|u| u.fp), ints(&raw["fp"]), "{name}: fp");
        assert_eq!(col(|u| u.num_gt), ints(&raw["num_gt"]), "{name}: num_gt");
        assert_eq!(
            col(|u| u.num_tested),
            ints(&raw["num_tested"]),
            "{name}: num_tested"
        );

        let keys = [
            "accuracy",
            "recall",
            "precision",
            "false_discovery_rate",
            "miss_rate",
        ];
        let pick = |p: &spikelab_sort::compare::Performance, k: &str| match k {
            "accuracy" => p.accuracy,
            "recall" => p.recall,
            "precision" => p.precision,
            "false_discovery_rate" => p.false_discovery_rate,
            _ => p.miss_rate,
        };
        for k in keys {
            let r = floats(&si["by_unit"][k]);
            assert_eq!(r.len(), c.by_unit().len());
            for (p, y) in c.by_unit().iter().zip(&r) {
                close(pick(p, k), *y, &format!("{name}: by_unit {k}"));
            }
            match c.pooled_with_average() {
                Some(p) => close(
                    pick(&p, k),
                    si["pooled_with_average"][k].as_f64().unwrap(),
                    name,
                ),
                None => assert!(gt_ids.is_empty()),
            }
        }

        let cls = &c.unit_classes;
        assert_eq!(
            cls.well_detected,
            ints(&si["well_detected"]),
            "{name}: well detected"
        );
        assert_eq!(
            cls.false_positive.clone().unwrap(),
            ints(&si["false_positive"]),
            "{name}: fp"
        );
        assert_eq!(
            cls.redundant.clone().unwrap(),
            ints(&si["redundant"]),
            "{name}: redundant"
        );
        assert_eq!(
            cls.overmerged.clone().unwrap(),
            ints(&si["overmerged"]),
            "{name}: overmerged"
        );
        assert_eq!(cls.bad.clone().unwrap(), ints(&si["bad"]), "{name}: bad");

        // Detection score against the independent Python reference.
        let det = &case["detection"];
        let all_frames: Vec<i64> = tested.spike_vector().into_iter().map(|(f, _)| f).collect();
        let d = detection_score(&gt, &all_frames, det["delta_ms"].as_f64().unwrap()).unwrap();
        assert_eq!(
            d.tp as i64,
            det["tp"].as_i64().unwrap(),
            "{name}: detection tp"
        );
        assert_eq!(
            d.fp as i64,
            det["fp"].as_i64().unwrap(),
            "{name}: detection fp"
        );
        assert_eq!(
            d.fn_ as i64,
            det["fn"].as_i64().unwrap(),
            "{name}: detection fn"
        );
        close(d.precision, det["precision"].as_f64().unwrap(), name);
        close(d.recall, det["recall"].as_f64().unwrap(), name);
        close(d.f1, det["f1"].as_f64().unwrap(), name);

        // SimSort variant against the independent Python reference.
        if let Some(ss) = case.get("simsort") {
            let p = SimSortParams {
                chunk_samples: ss["chunk_samples"].as_i64().unwrap(),
                delta_ms: ss["delta_ms"].as_f64().unwrap(),
            };
            let s = simsort_accuracy(&gt, &tested, &p).unwrap();
            let chunks = ss["chunks"].as_array().unwrap();
            assert_eq!(s.chunks.len(), chunks.len(), "{name}: simsort chunks");
            for (c, r) in s.chunks.iter().zip(chunks) {
                assert_eq!(c.gt_unit_ids, ints(&r["gt_units"]), "{name}");
                for (x, y) in c.accuracy.iter().zip(floats(&r["accuracy"])) {
                    close(*x, y, &format!("{name}: simsort accuracy"));
                }
                close(c.mean_accuracy, r["mean"].as_f64().unwrap(), name);
            }
            close(
                s.mean_accuracy.unwrap(),
                ss["mean_accuracy"].as_f64().unwrap(),
                name,
            );
        }
    }
}

#[test]
fn assignment_equals_scipy_with_ties() {
    let fx = fixtures();
    let cases = fx["lsap"].as_array().unwrap();
    assert!(cases.len() >= 40);
    for (k, case) in cases.iter().enumerate() {
        let rows: Vec<Vec<f64>> = case["cost"]
            .as_array()
            .unwrap()
            .iter()
            .map(floats)
            .collect();
        let (nr, nc) = (rows.len(), rows[0].len());
        let cost = Array2::from_shape_fn((nr, nc), |(i, j)| rows[i][j]);
        let got = linear_sum_assignment(cost.view()).unwrap();
        let want: Vec<(usize, usize)> = ints(&case["rows"])
            .into_iter()
            .zip(ints(&case["cols"]))
            .map(|(i, j)| (i as usize, j as usize))
            .collect();
        assert_eq!(got, want, "lsap case {k}: {cost}");
    }
}
