//! MAT v5 reader: real bundled files first, then synthetic files from a tiny test-only writer.

use spikelab_data::io::mat::{self, MatClass};
use spikelab_data::{DataError, datasets, io};

// ------------------------------------------------------------------------------------------
// Real files
// ------------------------------------------------------------------------------------------

#[test]
fn c2s_test1_and_test3_lengths_match_golden_readme() {
    let r1 = mat::read_c2s(&datasets::spikefinder_test_mat(1).unwrap()).unwrap();
    let l1: Vec<usize> = r1.iter().map(|r| r.n_frames()).collect();
    assert_eq!(l1, vec![71984, 35992, 71985, 71985, 71985]);
    let r3 = mat::read_c2s(&datasets::spikefinder_test_mat(3).unwrap()).unwrap();
    let l3: Vec<usize> = r3.iter().map(|r| r.n_frames()).collect();
    assert_eq!(l3, vec![55769, 60957, 60908, 60957, 34173, 26236]);
    for r in r1.iter().chain(&r3) {
        // Each cell stores its exact resampled rate, within 0.01 % of 100 Hz.
        assert!((r.fps - 100.0).abs() < 1e-2, "{}", r.fps);
        let counts = r.spike_counts.as_ref().unwrap();
        assert_eq!(counts.len(), r.n_frames());
        assert!(counts.iter().all(|c| *c >= 0.0 && c.fract() == 0.0));
        let times = r.spike_times_s.as_ref().unwrap();
        // Spike times in seconds lie inside the recording (give or take one frame).
        assert!(
            times
                .iter()
                .all(|&t| t > -0.05 && t < r.duration_s() + 0.05)
        );
        assert!(r.calcium.iter().all(|v| v.is_finite()));
    }
    let tr = mat::c2s_to_traces(&r1).unwrap();
    assert_eq!(tr.n_frames(), 71985);
    assert_eq!(tr.valid_lengths(), &[71984, 35992, 71985, 71985, 71985]);
    assert!(tr.interior_nans().is_empty());
    assert_eq!(tr.frame_rate_hz(), r1[0].fps);
}

#[test]
fn c2s_spike_times_agree_with_spike_counts() {
    let recs = mat::read_c2s(&datasets::spikefinder_test_mat(3).unwrap()).unwrap();
    let st = mat::c2s_to_spike_trains(&recs).unwrap();
    assert_eq!(st.n_units(), 6);
    for (i, r) in recs.iter().enumerate() {
        let n_counts: f64 = r.spike_counts.as_ref().unwrap().iter().sum();
        let n_times = st.train(i).len() as f64;
        // c2s derives `spikes` by binning `spike_times` at the frame rate.
        assert_eq!(n_counts, n_times, "recording {i}");
        assert!(st.train(i).windows(2).all(|w| w[0] <= w[1]));
    }
}

#[test]
fn c2s_test4_calcium_equals_csv() {
    let recs = mat::read_c2s(&datasets::spikefinder_test_mat(4).unwrap()).unwrap();
    let csv = io::csv::read_calcium(
        &datasets::spikefinder_calcium(4, datasets::Split::Test).unwrap(),
        100.0,
    )
    .unwrap();
    assert_eq!(recs.len(), csv.n_neurons());
    for (j, r) in recs.iter().enumerate() {
        let col = csv.trace(j);
        assert_eq!(r.calcium.len(), col.len());
        let max_diff = r
            .calcium
            .iter()
            .zip(col.iter())
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f64::max);
        assert!(max_diff <= 1e-9, "neuron {j}: max |mat − csv| = {max_diff}");
    }
    // The spikes agree with the spikes CSV too.
    let (raster, lens) = io::csv::read_spike_counts(
        &datasets::spikefinder_spikes(4, datasets::Split::Test).unwrap(),
        0.01,
    )
    .unwrap();
    for (j, r) in recs.iter().enumerate() {
        assert_eq!(lens[j], r.n_frames());
        let c = r.spike_counts.as_ref().unwrap();
        for (k, v) in c.iter().enumerate() {
            assert_eq!(*v, raster.counts()[[j, k]] as f64);
        }
    }
}

#[test]
fn c2s_test5_traces() {
    let recs = mat::read_c2s(&datasets::spikefinder_test_mat(5).unwrap()).unwrap();
    let tr = mat::c2s_to_traces(&recs).unwrap();
    assert_eq!(
        tr.valid_lengths(),
        &[16919, 16919, 16919, 16919, 16919, 1700, 2501, 11720]
    );
}

#[test]
fn cascade_sample_trials() {
    let p = datasets::cascade_sample("CAttached_Chen2013_GC6f_cell1B_full_mini.mat.gz").unwrap();
    let trials = mat::read_cascade(&p).unwrap();
    assert_eq!(trials.len(), 2);
    assert_eq!(trials[0].dff.len(), 14400);
    assert_eq!(trials[0].fluo_time_s.len(), 14400);
    assert_eq!(trials[0].spike_times_s.len(), 131);
    for t in &trials {
        // README: ≈60 Hz imaging.
        assert!((t.frame_rate_hz - 60.0).abs() < 2.0, "{}", t.frame_rate_hz);
        // Spikes (converted from 1e-4 s units) fall within the imaging period.
        let (t0, t1) = (t.fluo_time_s[0], *t.fluo_time_s.last().unwrap());
        assert!(
            t.spike_times_s
                .iter()
                .all(|&s| s >= t0 - 1.0 && s <= t1 + 1.0)
        );
        assert!(t.spike_times_s.windows(2).all(|w| w[0] <= w[1]));
    }
    let tr = mat::cascade_to_traces(&trials).unwrap();
    assert_eq!(tr.n_neurons(), 2);
    assert_eq!(tr.valid_lengths()[0], 14400);
    let st = mat::cascade_to_spike_trains(&trials).unwrap();
    assert_eq!(st.counts()[0], 131);

    let p = datasets::cascade_sample("CAttached_Chen2013_GC6f_cell1C_full_mini.mat.gz").unwrap();
    let trials = mat::read_cascade(&p).unwrap();
    assert_eq!(trials.len(), 1);
    assert_eq!(trials[0].dff.len(), 11000);
    assert_eq!(trials[0].spike_times_s.len(), 150);
}

#[test]
fn ca1_raster() {
    let p = datasets::convseq("ca1_rubin/neuronal_activity_mat.mat").unwrap();
    let r = mat::read_raster(&p, "neuronal_activity_mat", 0.05).unwrap();
    assert_eq!(r.counts().dim(), (452, 18137));
    assert_eq!(r.total_spikes(), 16982);
    assert_eq!(r.max_count(), 1);
    assert!(r.counts().rows().into_iter().all(|row| row.sum() >= 1));
    assert_eq!(r.bin_s(), 0.05);
    // Position per frame: 1..24.
    let p = datasets::convseq("ca1_rubin/position_per_frame.mat").unwrap();
    let pos = mat::read_matrix(&p, "position_per_frame").unwrap();
    assert_eq!(pos.dim(), (1, 18137));
    let max = pos.iter().copied().fold(f64::MIN, f64::max);
    let min = pos.iter().copied().fold(f64::MAX, f64::min);
    assert_eq!((min, max), (1.0, 24.0));
}

#[test]
fn stat_embedding_variables_and_shapes() {
    type Vars = &'static [(&'static str, (usize, usize))];
    let cases: &[(&str, Vars)] = &[
        (
            "Parameters174py.mat",
            &[
                ("Parameters174temp", (174, 18)),
                ("Parameters174", (18, 174)),
                ("DasetS", (174, 1)),
            ],
        ),
        (
            "Parameters32py.mat",
            &[("Parameters32", (18, 32)), ("DasetS32", (32, 1))],
        ),
        (
            "Confusion.mat",
            &[
                ("Confusion", (174, 174)),
                ("DaSet", (174, 1)),
                ("Confusion_later", (174, 174)),
                ("DaSet2", (1, 174)),
            ],
        ),
        (
            "embedding_spacesX.mat",
            &[
                ("embedding_2D_predictions", (10, 2)),
                ("embedding_2D_stats", (10, 2)),
                ("embedding_2D_stats33", (5, 2)),
                ("predicting_quality", (1, 174)),
                ("goodindizes", (1, 165)),
                ("DaSet2", (1, 165)),
                ("DaSet", (1, 165)),
                ("DasetS32", (32, 1)),
            ],
        ),
    ];
    for (file, vars) in cases {
        let p = datasets::elephant_stat_embedding(file).unwrap();
        let f = mat::read_mat(&p).unwrap();
        let names: Vec<&str> = vars.iter().map(|(n, _)| *n).collect();
        assert_eq!(f.names(), names, "{file}");
        for (name, shape) in *vars {
            let m = mat::read_matrix(&p, name).unwrap();
            assert_eq!(m.dim(), *shape, "{file}:{name}");
            assert!(m.iter().all(|v| v.is_finite()), "{file}:{name}");
        }
    }
    // Parameters174 is Parameters174temp z-scored per feature (population std) and transposed.
    let p = datasets::elephant_stat_embedding("Parameters174py.mat").unwrap();
    let raw = mat::read_matrix(&p, "Parameters174temp").unwrap();
    let z = mat::read_matrix(&p, "Parameters174").unwrap();
    for k in 0..18 {
        let col = raw.column(k);
        let mean = col.mean().unwrap();
        let sd = col.std(0.0);
        for i in 0..174 {
            let expect = (raw[[i, k]] - mean) / sd;
            assert!((z[[k, i]] - expect).abs() < 1e-9, "feature {k} neuron {i}");
        }
    }
    // goodindizes are 0-based neuron indices stored as int64.
    let f = mat::read_mat(&datasets::elephant_stat_embedding("embedding_spacesX.mat").unwrap())
        .unwrap();
    let g = f.variable("goodindizes").unwrap().as_array().unwrap();
    assert_eq!(g.class, MatClass::Int64);
    assert!(
        g.data
            .iter()
            .all(|&i| (0.0..174.0).contains(&i) && i.fract() == 0.0)
    );
    assert!(g.data.windows(2).all(|w| w[0] < w[1]));
}

#[test]
fn missing_variable_error_lists_contents() {
    let p = datasets::elephant_stat_embedding("Parameters32py.mat").unwrap();
    let err = mat::read_matrix(&p, "Parameters33").unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, DataError::Mat { .. }));
    assert!(
        msg.contains("Parameters33") && msg.contains("Parameters32"),
        "{msg}"
    );
    // A struct variable is not a matrix.
    let p = datasets::spikefinder_test_mat(4).unwrap();
    let err = mat::read_matrix(&p, "data").unwrap_err();
    assert!(err.to_string().contains("cell"), "{err}");
}
