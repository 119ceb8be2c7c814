//! MAT v5 reader: real bundled files first, then synthetic files from a tiny test-only writer.

use spikelab_data::io::mat::{self, MatClass, MatValue};
use spikelab_data::{DataError, io};
use spikelab_datasets as datasets;

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

// ------------------------------------------------------------------------------------------
// A tiny test-only MAT v5 writer (numeric, char, struct, cell), little- or big-endian,
// optionally with miCOMPRESSED elements, so that every code path and bad input can be built.
// ------------------------------------------------------------------------------------------

mod writer {
    use std::io::Write;

    pub const MI_INT8: u32 = 1;
    pub const MI_UINT8: u32 = 2;
    pub const MI_INT16: u32 = 3;
    pub const MI_UINT16: u32 = 4;
    pub const MI_INT32: u32 = 5;
    pub const MI_UINT32: u32 = 6;
    pub const MI_SINGLE: u32 = 7;
    pub const MI_DOUBLE: u32 = 9;
    pub const MI_INT64: u32 = 12;
    pub const MI_MATRIX: u32 = 14;
    pub const MI_COMPRESSED: u32 = 15;
    pub const MI_UTF8: u32 = 16;

    pub const DOUBLE: u8 = 6;
    pub const SINGLE: u8 = 7;
    pub const INT16: u8 = 10;
    pub const UINT8: u8 = 9;
    pub const INT64: u8 = 14;

    pub enum V {
        Num {
            class: u8,
            dims: Vec<usize>,
            store: u32,
            re: Vec<f64>,
            im: Option<Vec<f64>>,
            logical: bool,
        },
        /// A char row vector stored as miUTF8, or a char matrix (rows equal length) as miUINT16.
        Str(Vec<String>),
        Struct {
            dims: Vec<usize>,
            fields: Vec<String>,
            elems: Vec<Vec<V>>,
        },
        Cell {
            dims: Vec<usize>,
            items: Vec<V>,
        },
        /// An miMATRIX element with no content (how scipy writes `[]`).
        EmptyMatrix,
    }

    pub fn row(x: &[f64]) -> V {
        V::Num {
            class: DOUBLE,
            dims: vec![1, x.len()],
            store: MI_DOUBLE,
            re: x.to_vec(),
            im: None,
            logical: false,
        }
    }

    pub fn scalar(x: f64) -> V {
        row(&[x])
    }

    pub fn s(x: &str) -> V {
        V::Str(vec![x.to_string()])
    }

    pub struct W {
        pub be: bool,
    }

    impl W {
        fn u32b(&self, v: u32) -> [u8; 4] {
            if self.be {
                v.to_be_bytes()
            } else {
                v.to_le_bytes()
            }
        }

        pub fn num_bytes(&self, ty: u32, v: &[f64]) -> Vec<u8> {
            let mut out = Vec::new();
            for &x in v {
                macro_rules! put {
                    ($t:ty) => {{
                        let y = x as $t;
                        out.extend_from_slice(&if self.be {
                            y.to_be_bytes()
                        } else {
                            y.to_le_bytes()
                        })
                    }};
                }
                match ty {
                    MI_INT8 => put!(i8),
                    MI_UINT8 => put!(u8),
                    MI_INT16 => put!(i16),
                    MI_UINT16 => put!(u16),
                    MI_INT32 => put!(i32),
                    MI_UINT32 => put!(u32),
                    MI_SINGLE => put!(f32),
                    MI_DOUBLE => put!(f64),
                    MI_INT64 => put!(i64),
                    _ => panic!("writer: type {ty}"),
                }
            }
            out
        }

        /// A data element; small format when the data fit in 4 bytes and `allow_small`.
        pub fn element(&self, ty: u32, data: &[u8], allow_small: bool) -> Vec<u8> {
            let mut out = Vec::new();
            if allow_small && data.len() <= 4 && ty != MI_MATRIX {
                out.extend_from_slice(&self.u32b(((data.len() as u32) << 16) | ty));
                out.extend_from_slice(data);
                out.resize(8, 0);
                return out;
            }
            out.extend_from_slice(&self.u32b(ty));
            out.extend_from_slice(&self.u32b(data.len() as u32));
            out.extend_from_slice(data);
            if ty != MI_COMPRESSED {
                out.resize(out.len().next_multiple_of(8), 0);
            }
            out
        }

        pub fn header_els(&self, class: u8, flags: u8, dims: &[usize], name: &str) -> Vec<u8> {
            let mut b = Vec::new();
            let f0 = class as u32 | ((flags as u32) << 8);
            let mut fl = self.u32b(f0).to_vec();
            fl.extend_from_slice(&self.u32b(0));
            b.extend(self.element(MI_UINT32, &fl, false));
            let d: Vec<f64> = dims.iter().map(|&x| x as f64).collect();
            b.extend(self.element(MI_INT32, &self.num_bytes(MI_INT32, &d), false));
            b.extend(self.element(MI_INT8, name.as_bytes(), true));
            b
        }

        pub fn matrix(&self, name: &str, v: &V) -> Vec<u8> {
            let body = match v {
                V::EmptyMatrix => Vec::new(),
                V::Num {
                    class,
                    dims,
                    store,
                    re,
                    im,
                    logical,
                } => {
                    let flags =
                        (if im.is_some() { 0x08 } else { 0 }) | (if *logical { 0x02 } else { 0 });
                    let mut b = self.header_els(*class, flags, dims, name);
                    b.extend(self.element(*store, &self.num_bytes(*store, re), true));
                    if let Some(im) = im {
                        b.extend(self.element(*store, &self.num_bytes(*store, im), true));
                    }
                    b
                }
                V::Str(rows) => {
                    let ncol = rows.first().map_or(0, |r| r.chars().count());
                    let mut b = self.header_els(4, 0, &[rows.len(), ncol], name);
                    if rows.len() == 1 {
                        b.extend(self.element(MI_UTF8, rows[0].as_bytes(), true));
                    } else {
                        // Column-major UTF-16 code units.
                        let chars: Vec<Vec<char>> =
                            rows.iter().map(|r| r.chars().collect()).collect();
                        let mut units = Vec::new();
                        for j in 0..ncol {
                            for r in &chars {
                                units.push(r[j] as u32 as f64);
                            }
                        }
                        b.extend(self.element(MI_UINT16, &self.num_bytes(MI_UINT16, &units), true));
                    }
                    b
                }
                V::Struct {
                    dims,
                    fields,
                    elems,
                } => {
                    let mut b = self.header_els(2, 0, dims, name);
                    let fnl = 32usize;
                    b.extend(self.element(
                        MI_INT32,
                        &self.num_bytes(MI_INT32, &[fnl as f64]),
                        true,
                    ));
                    let mut names = Vec::new();
                    for f in fields {
                        let mut n = f.as_bytes().to_vec();
                        n.resize(fnl, 0);
                        names.extend(n);
                    }
                    b.extend(self.element(MI_INT8, &names, false));
                    for e in elems {
                        for x in e {
                            b.extend(self.matrix("", x));
                        }
                    }
                    b
                }
                V::Cell { dims, items } => {
                    let mut b = self.header_els(1, 0, dims, name);
                    for x in items {
                        b.extend(self.matrix("", x));
                    }
                    b
                }
            };
            self.element(MI_MATRIX, &body, false)
        }

        pub fn header(&self) -> Vec<u8> {
            let mut h = b"MATLAB 5.0 MAT-file, written by the spikelab-data test writer".to_vec();
            h.resize(116, b' ');
            h.extend_from_slice(&[0u8; 8]);
            if self.be {
                h.extend_from_slice(&[0x01, 0x00, b'M', b'I']);
            } else {
                h.extend_from_slice(&[0x00, 0x01, b'I', b'M']);
            }
            h
        }

        pub fn file(&self, vars: &[(&str, V)], compress: bool) -> Vec<u8> {
            let mut out = self.header();
            for (name, v) in vars {
                let m = self.matrix(name, v);
                if compress {
                    let mut z =
                        flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
                    z.write_all(&m).unwrap();
                    out.extend(self.element(MI_COMPRESSED, &z.finish().unwrap(), false));
                } else {
                    out.extend(m);
                }
            }
            out
        }
    }
}

use writer::{V, W};

fn write_tmp(dir: &std::path::Path, name: &str, bytes: &[u8]) -> std::path::PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut g = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    g.write_all(bytes).unwrap();
    g.finish().unwrap()
}

fn sample_vars() -> Vec<(&'static str, V)> {
    use writer::*;
    vec![
        // Class double stored as miUINT8 (as MATLAB does for small integers), 2×3.
        (
            "counts",
            V::Num {
                class: DOUBLE,
                dims: vec![2, 3],
                store: MI_UINT8,
                re: vec![1., 4., 2., 5., 3., 255.],
                im: None,
                logical: false,
            },
        ),
        (
            "neg16",
            V::Num {
                class: INT16,
                dims: vec![1, 3],
                store: MI_INT16,
                re: vec![-300., 0., 300.],
                im: None,
                logical: false,
            },
        ),
        // Complex single, one value: real and imaginary parts are small data elements.
        (
            "z",
            V::Num {
                class: SINGLE,
                dims: vec![1, 1],
                store: MI_SINGLE,
                re: vec![1.5],
                im: Some(vec![-2.25]),
                logical: false,
            },
        ),
        (
            "mask",
            V::Num {
                class: UINT8,
                dims: vec![1, 4],
                store: MI_UINT8,
                re: vec![1., 0., 0., 1.],
                im: None,
                logical: true,
            },
        ),
        (
            "big",
            V::Num {
                class: INT64,
                dims: vec![2, 1],
                store: MI_INT64,
                re: vec![-5e15, 7.0],
                im: None,
                logical: false,
            },
        ),
        (
            "empty",
            V::Num {
                class: DOUBLE,
                dims: vec![0, 3],
                store: MI_DOUBLE,
                re: vec![],
                im: None,
                logical: false,
            },
        ),
        ("label", s("ΔF/F über")),
        ("rows", V::Str(vec!["ab".into(), "cd".into()])),
        (
            "st",
            V::Struct {
                dims: vec![1, 2],
                fields: vec!["a".into(), "name".into()],
                elems: vec![vec![scalar(1.0), s("x")], vec![row(&[2.0, 3.0]), s("y")]],
            },
        ),
        (
            "c",
            V::Cell {
                dims: vec![2, 2],
                items: vec![scalar(11.0), scalar(21.0), s("12"), V::EmptyMatrix],
            },
        ),
    ]
}

fn check_sample(f: &mat::MatFile) {
    assert_eq!(
        f.names(),
        vec![
            "counts", "neg16", "z", "mask", "big", "empty", "label", "rows", "st", "c"
        ]
    );
    let counts = f.variable("counts").unwrap().as_array().unwrap();
    assert_eq!(counts.class, MatClass::Double);
    let m = counts.to_array2();
    assert_eq!(m.dim(), (2, 3));
    assert_eq!(m[[0, 2]], 3.0);
    assert_eq!(m[[1, 2]], 255.0);
    assert_eq!(m[[1, 0]], 4.0);
    let nd = counts.to_arrayd().unwrap();
    assert_eq!(nd[[1, 1].as_slice()], 5.0);
    let neg = f.get("neg16").unwrap().as_array().unwrap();
    assert_eq!(
        (neg.class, neg.data.clone()),
        (MatClass::Int16, vec![-300., 0., 300.])
    );
    let z = f.get("z").unwrap().as_array().unwrap();
    assert_eq!(z.class, MatClass::Single);
    assert_eq!(z.scalar(), Some(1.5));
    assert_eq!(z.imag, Some(vec![-2.25]));
    let mask = f.get("mask").unwrap().as_array().unwrap();
    assert_eq!(mask.class, MatClass::Logical);
    assert_eq!(mask.data, vec![1., 0., 0., 1.]);
    assert_eq!(
        f.get("big").unwrap().as_array().unwrap().data,
        vec![-5e15, 7.0]
    );
    let empty = f.get("empty").unwrap().as_array().unwrap();
    assert!(empty.is_empty());
    assert_eq!(empty.to_array2().dim(), (0, 3));
    assert!(empty.is_vector());
    assert_eq!(f.get("label").unwrap().as_str(), Some("ΔF/F über"));
    assert_eq!(f.get("rows").unwrap().as_str(), Some("ab\ncd"));
    let st = f.get("st").unwrap().as_struct().unwrap();
    assert_eq!(st.len(), 2);
    assert_eq!(st.field_names(), &["a".to_string(), "name".to_string()]);
    assert_eq!(st.field(0, "a").unwrap().as_scalar(), Some(1.0));
    assert_eq!(
        st.field(1, "a").unwrap().as_array().unwrap().data,
        vec![2.0, 3.0]
    );
    assert_eq!(st.field(1, "name").unwrap().as_str(), Some("y"));
    assert!(st.field(2, "a").is_none());
    assert!(st.field(0, "b").is_none());
    assert_eq!(st.fields(1).count(), 2);
    let c = f.get("c").unwrap().as_cell().unwrap();
    assert_eq!(c.dims, vec![2, 2]);
    // Column-major: c{2,1} is the second item.
    assert_eq!(c.items[1].as_scalar(), Some(21.0));
    assert_eq!(c.items[2].as_str(), Some("12"));
    assert_eq!(c.items[3].describe(), "0x0 double");
}

#[test]
fn synthetic_round_trip_all_layouts() {
    let dir = tempfile::tempdir().unwrap();
    for be in [false, true] {
        for compress in [false, true] {
            let bytes = W { be }.file(&sample_vars(), compress);
            let p = write_tmp(dir.path(), &format!("s_{be}_{compress}.mat"), &bytes);
            let f = mat::read_mat(&p).unwrap();
            check_sample(&f);
            // The same file gzip'd.
            let pg = write_tmp(
                dir.path(),
                &format!("s_{be}_{compress}.mat.gz"),
                &gzip(&bytes),
            );
            check_sample(&mat::read_mat(&pg).unwrap());
        }
    }
}

fn c2s_file(recs: Vec<Vec<(&str, V)>>) -> Vec<u8> {
    let fields: Vec<String> = recs[0].iter().map(|(n, _)| n.to_string()).collect();
    let n = recs.len();
    let elems = recs
        .into_iter()
        .map(|r| r.into_iter().map(|(_, v)| v).collect())
        .collect();
    W { be: false }.file(
        &[(
            "data",
            V::Struct {
                dims: vec![1, n],
                fields,
                elems,
            },
        )],
        true,
    )
}

#[test]
fn synthetic_c2s_and_missing_fields() {
    use writer::{row, scalar};
    let dir = tempfile::tempdir().unwrap();
    let good = c2s_file(vec![
        vec![
            ("calcium", row(&[0.1, 0.2, 0.3, 0.4])),
            ("spikes", row(&[0., 1., 0., 2.])),
            ("spike_times", row(&[15.0, 35.0, 36.0])),
            ("fps", scalar(100.0)),
        ],
        vec![
            ("calcium", row(&[1.0, 2.0])),
            ("spikes", row(&[0., 0.])),
            ("spike_times", V::EmptyMatrix),
            ("fps", scalar(100.0)),
        ],
    ]);
    let p = write_tmp(dir.path(), "good.mat", &good);
    let recs = mat::read_c2s(&p).unwrap();
    assert_eq!(recs.len(), 2);
    assert_eq!(recs[0].spike_times_s, Some(vec![0.015, 0.035, 0.036]));
    assert_eq!(recs[1].spike_times_s, Some(vec![]));
    let tr = mat::c2s_to_traces(&recs).unwrap();
    assert_eq!(tr.valid_lengths(), &[4, 2]);
    let st = mat::c2s_to_spike_trains(&recs).unwrap();
    assert_eq!(st.counts(), vec![3, 0]);
    assert_eq!(st.t_stop_s(), 0.04);

    // Without spike fields the recording still reads, but spike trains cannot be built.
    let no_spikes = c2s_file(vec![vec![
        ("calcium", row(&[0.1, 0.2])),
        ("fps", scalar(60.0)),
    ]]);
    let p = write_tmp(dir.path(), "nospikes.mat", &no_spikes);
    let recs = mat::read_c2s(&p).unwrap();
    assert_eq!(recs[0].spike_counts, None);
    let e = mat::c2s_to_spike_trains(&recs).unwrap_err();
    assert!(e.to_string().contains("spike_times"), "{e}");

    // Missing fps / calcium: errors name the field and the element.
    for (missing, file) in [
        (
            "fps",
            c2s_file(vec![vec![("calcium", row(&[0.1])), ("spikes", row(&[0.]))]]),
        ),
        (
            "calcium",
            c2s_file(vec![vec![("spikes", row(&[0.])), ("fps", scalar(100.0))]]),
        ),
    ] {
        let p = write_tmp(dir.path(), &format!("no_{missing}.mat"), &file);
        let err = mat::read_c2s(&p).unwrap_err();
        let msg = err.to_string();
        assert!(matches!(err, DataError::Mat { .. }), "{msg}");
        assert!(
            msg.contains(&format!("'{missing}'")) && msg.contains("element 0"),
            "{msg}"
        );
    }
    // Mismatched spikes length, non-positive fps, matrix-valued calcium.
    for (what, file) in [
        (
            "frames",
            c2s_file(vec![vec![
                ("calcium", row(&[0.1, 0.2])),
                ("spikes", row(&[0.])),
                ("fps", scalar(100.0)),
            ]]),
        ),
        (
            "must be > 0",
            c2s_file(vec![vec![("calcium", row(&[0.1])), ("fps", scalar(0.0))]]),
        ),
        (
            "expected a real vector",
            c2s_file(vec![vec![
                (
                    "calcium",
                    V::Num {
                        class: writer::DOUBLE,
                        dims: vec![2, 2],
                        store: writer::MI_DOUBLE,
                        re: vec![1., 2., 3., 4.],
                        im: None,
                        logical: false,
                    },
                ),
                ("fps", scalar(100.0)),
            ]]),
        ),
    ] {
        let p = write_tmp(dir.path(), "bad.mat", &file);
        let msg = mat::read_c2s(&p).unwrap_err().to_string();
        assert!(msg.contains(what), "{msg}");
    }
    // No `data` variable at all.
    let p = write_tmp(
        dir.path(),
        "other.mat",
        &W { be: false }.file(&[("x", scalar(1.0))], false),
    );
    let msg = mat::read_c2s(&p).unwrap_err().to_string();
    assert!(
        msg.contains("no variable 'data'") && msg.contains('x'),
        "{msg}"
    );
}

#[test]
fn synthetic_cascade_missing_events() {
    use writer::row;
    let dir = tempfile::tempdir().unwrap();
    let trial = |with_events: bool| {
        let mut fields = vec!["fluo_time".to_string(), "fluo_mean".to_string()];
        let mut vals = vec![row(&[0.0, 0.1, 0.2, 0.3]), row(&[0.0, 0.5, 0.2, 0.1])];
        if with_events {
            fields.push("events_AP".into());
            vals.push(row(&[1000.0, 2500.0]));
        }
        V::Struct {
            dims: vec![1, 1],
            fields,
            elems: vec![vals],
        }
    };
    let ok = W { be: false }.file(
        &[(
            "CAttached",
            V::Cell {
                dims: vec![1, 1],
                items: vec![trial(true)],
            },
        )],
        true,
    );
    let p = write_tmp(dir.path(), "ok.mat", &ok);
    let t = mat::read_cascade(&p).unwrap();
    assert_eq!(t[0].spike_times_s, vec![0.1, 0.25]);
    assert!((t[0].frame_rate_hz - 10.0).abs() < 1e-9);
    let bad = W { be: false }.file(
        &[(
            "CAttached",
            V::Cell {
                dims: vec![1, 1],
                items: vec![trial(false)],
            },
        )],
        true,
    );
    let p = write_tmp(dir.path(), "bad.mat", &bad);
    let msg = mat::read_cascade(&p).unwrap_err().to_string();
    assert!(
        msg.contains("'events_AP'") && msg.contains("trial 0"),
        "{msg}"
    );
}

#[test]
fn bad_headers() {
    let dir = tempfile::tempdir().unwrap();
    let good = W { be: false }.file(&[("x", writer::scalar(1.0))], false);
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("short", good[..100].to_vec(), "128-byte header"),
        ("v4", vec![0u8; 200], "MATLAB 5.0"),
        (
            "v73",
            {
                let mut b = good.clone();
                b[..10].copy_from_slice(b"MATLAB 7.3");
                b
            },
            "HDF5",
        ),
        (
            "endian",
            {
                let mut b = good.clone();
                b[126..128].copy_from_slice(b"XX");
                b
            },
            "endianness",
        ),
        (
            "version",
            {
                let mut b = good.clone();
                b[124] = 7;
                b
            },
            "version",
        ),
    ];
    for (name, bytes, needle) in cases {
        let p = write_tmp(dir.path(), &format!("{name}.mat"), &bytes);
        let err = mat::read_mat(&p).unwrap_err();
        assert!(matches!(err, DataError::Mat { .. }), "{name}: {err}");
        assert!(err.to_string().contains(needle), "{name}: {err}");
        assert!(err.to_string().contains(&format!("{name}.mat")), "{err}");
    }
}

#[test]
fn gzip_problems_are_typed_errors() {
    let dir = tempfile::tempdir().unwrap();
    let real = std::fs::read(datasets::spikefinder_test_mat(4).unwrap()).unwrap();
    // Truncated .mat.gz.
    let p = write_tmp(dir.path(), "trunc.mat.gz", &real[..real.len() / 2]);
    let err = mat::read_mat(&p).unwrap_err();
    assert!(
        matches!(err, DataError::Gzip { .. } | DataError::Mat { .. }),
        "{err}"
    );
    // A .gz that is not gzip.
    let plain = W { be: false }.file(&[("x", writer::scalar(1.0))], false);
    let p = write_tmp(dir.path(), "plain.mat.gz", &plain);
    let err = mat::read_mat(&p).unwrap_err();
    assert!(matches!(err, DataError::Gzip { .. }), "{err}");
    // Missing file.
    let err = mat::read_mat(&dir.path().join("nope.mat")).unwrap_err();
    assert!(matches!(err, DataError::Io { .. }), "{err}");
}

/// Deterministic xorshift for the corruption test.
fn xorshift(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

#[test]
fn truncated_and_corrupted_files_never_panic() {
    let dir = tempfile::tempdir().unwrap();
    // Uncompressed and compressed synthetic files with every layout, and a real file.
    let mut sources = vec![
        W { be: false }.file(&sample_vars(), false),
        W { be: true }.file(&sample_vars(), false),
        W { be: false }.file(&sample_vars(), true),
    ];
    sources.push(
        std::fs::read(datasets::elephant_stat_embedding("embedding_spacesX.mat").unwrap()).unwrap(),
    );
    let p = dir.path().join("t.mat");
    let mut seed = 0x9e3779b97f4a7c15u64;
    for src in &sources {
        // Every truncation point after the header: an error, never a panic or a success
        // with missing data (a cut exactly between two variables is a shorter valid file).
        for cut in 128..src.len() {
            let r = mat::MatFile::from_bytes(&src[..cut], &p);
            if let Ok(f) = r {
                assert!(f.len() < 10, "cut {cut}");
            }
        }
        // Random byte corruption: any outcome but a panic.
        for _ in 0..300 {
            let mut b = src.clone();
            for _ in 0..4 {
                let i = 128 + (xorshift(&mut seed) as usize) % (b.len() - 128);
                b[i] = xorshift(&mut seed) as u8;
            }
            let _ = mat::MatFile::from_bytes(&b, &p);
        }
    }
    // A truncated uncompressed file reports the truncation.
    let src = &sources[0];
    let err = mat::MatFile::from_bytes(&src[..src.len() - 3], &p).unwrap_err();
    assert!(err.to_string().contains("truncated"), "{err}");
}

#[test]
fn deep_nesting_is_refused() {
    let mut v = writer::scalar(1.0);
    for _ in 0..100 {
        v = V::Cell {
            dims: vec![1, 1],
            items: vec![v],
        };
    }
    let bytes = W { be: false }.file(&[("deep", v)], false);
    let err = mat::MatFile::from_bytes(&bytes, std::path::Path::new("deep.mat")).unwrap_err();
    assert!(err.to_string().contains("nesting"), "{err}");
}

#[test]
fn sparse_object_and_unsupported_classes() {
    use writer::*;
    let w = W { be: false };
    // 3×2 sparse [0 5; 7 0; 0 9]: CSC row indices 1, 0, 2; column pointers 0, 1, 3.
    let mut sp = w.header_els(5, 0, &[3, 2], "sp");
    sp.extend(w.element(MI_INT32, &w.num_bytes(MI_INT32, &[1., 0., 2.]), true));
    sp.extend(w.element(MI_INT32, &w.num_bytes(MI_INT32, &[0., 1., 3.]), true));
    sp.extend(w.element(MI_DOUBLE, &w.num_bytes(MI_DOUBLE, &[7., 5., 9.]), true));
    // An object of class 'Rec' with one field.
    let mut ob = w.header_els(3, 0, &[1, 1], "ob");
    ob.extend(w.element(MI_INT8, b"Rec", true));
    ob.extend(w.element(MI_INT32, &w.num_bytes(MI_INT32, &[8.]), true));
    let mut fname = b"rate_hz".to_vec();
    fname.resize(8, 0);
    ob.extend(w.element(MI_INT8, &fname, false));
    ob.extend(w.matrix("", &scalar(30.0)));
    // A function handle (class 16) with an arbitrary body.
    let mut fh = w.header_els(16, 0, &[1, 1], "fh");
    fh.extend(w.element(MI_UINT8, &[1, 2, 3, 4, 5, 6, 7, 8, 9], false));
    // A sparse matrix whose row index is out of range.
    let mut bad = w.header_els(5, 0, &[2, 1], "bad");
    bad.extend(w.element(MI_INT32, &w.num_bytes(MI_INT32, &[4.]), true));
    bad.extend(w.element(MI_INT32, &w.num_bytes(MI_INT32, &[0., 1.]), true));
    bad.extend(w.element(MI_DOUBLE, &w.num_bytes(MI_DOUBLE, &[1.]), true));

    let mut file = w.header();
    for body in [&sp, &ob, &fh] {
        file.extend(w.element(MI_MATRIX, body, false));
    }
    file.extend(w.matrix("after", &scalar(2.0)));
    // An unnamed top-level array (like MATLAB's subsystem data) is skipped.
    file.extend(w.matrix("", &scalar(3.0)));
    let f = mat::MatFile::from_bytes(&file, std::path::Path::new("x.mat")).unwrap();
    assert_eq!(f.names(), vec!["sp", "ob", "fh", "after"]);
    let MatValue::Sparse(s) = f.get("sp").unwrap() else {
        panic!("not sparse: {:?}", f.get("sp"));
    };
    assert_eq!(s.nnz(), 3);
    let d = s.to_dense();
    assert_eq!(d, ndarray::array![[0., 5.], [7., 0.], [0., 9.]]);
    let ob = f.get("ob").unwrap().as_struct().unwrap();
    assert_eq!(ob.class_name.as_deref(), Some("Rec"));
    assert_eq!(ob.field(0, "rate_hz").unwrap().as_scalar(), Some(30.0));
    assert_eq!(
        f.get("fh").unwrap(),
        &MatValue::Unsupported {
            class: MatClass::Function
        }
    );
    assert_eq!(f.get("after").unwrap().as_scalar(), Some(2.0));

    let mut file = w.header();
    file.extend(w.element(MI_MATRIX, &bad, false));
    let err = mat::MatFile::from_bytes(&file, std::path::Path::new("bad.mat")).unwrap_err();
    assert!(err.to_string().contains("row index 4"), "{err}");
    assert!(err.to_string().contains("'bad'"), "{err}");
}

/// Found by a 10-minute mat fuzz run: a struct declaring about 10¹⁸ elements and no fields
/// looped over every element (minutes); with no fields there is nothing to read.
#[test]
fn fieldless_struct_with_huge_dimensions_is_read_at_once() {
    let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/corpus/mat/regression-timeout-fieldless-struct.mat");
    let bytes = std::fs::read(p).unwrap();
    // The fieldless struct is skipped at once; the file then ends mid-tag.
    let err = spikelab_data::io::mat::MatFile::from_bytes(&bytes, std::path::Path::new("f.mat"))
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("truncated: data element tag at byte 2880"),
        "{err}"
    );
}
