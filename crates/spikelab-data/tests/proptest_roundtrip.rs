//! Property tests: what spikelab writes it reads back bit for bit (NPY, CSV, NWB units and
//! ophys; MATLAB files are read-only), and spike trains ↔ rasters keep every spike.

use ndarray::Array2;
use proptest::prelude::*;
use spikelab_data::io::{self, csv, npy};
use spikelab_data::{SparseRaster, SpikeTrains};

/// Any f64 bit pattern except NaN payloads other than the canonical one (CSV writes NaN as an
/// empty cell, so only "a NaN" survives there).
fn any_f64() -> BoxedStrategy<f64> {
    prop_oneof![
        8 => any::<f64>().prop_filter("finite", |v| v.is_finite()),
        1 => Just(f64::NAN),
        1 => Just(f64::INFINITY),
        1 => Just(f64::NEG_INFINITY),
        1 => Just(-0.0),
        1 => Just(f64::MIN_POSITIVE / 4.0),
    ]
    .boxed()
}

fn matrix(
    max: usize,
    cell: impl Strategy<Value = f64> + Clone,
) -> impl Strategy<Value = Array2<f64>> {
    (0..=max, 1..=max).prop_flat_map(move |(r, c)| {
        proptest::collection::vec(cell.clone(), r * c)
            .prop_map(move |v| Array2::from_shape_vec((r, c), v).unwrap())
    })
}

fn same_bits(a: &Array2<f64>, b: &Array2<f64>) -> bool {
    a.dim() == b.dim()
        && a.iter()
            .zip(b.iter())
            .all(|(x, y)| x.to_bits() == y.to_bits() || (x.is_nan() && y.is_nan()))
}

/// Sorted spike trains on `[t0, t0 + dur]`.
fn trains() -> impl Strategy<Value = SpikeTrains> {
    (0.0..100.0f64, 0.001..50.0f64, 0..6usize).prop_flat_map(|(t0, dur, n)| {
        proptest::collection::vec(proptest::collection::vec(0.0..=1.0f64, 0..40), n).prop_map(
            move |fr| {
                let tr = fr
                    .into_iter()
                    .map(|f| {
                        let mut t: Vec<f64> = f
                            .into_iter()
                            .map(|x| (t0 + x * dur).min(t0 + dur))
                            .collect();
                        t.sort_by(f64::total_cmp);
                        t
                    })
                    .collect();
                SpikeTrains::new(tr, t0, t0 + dur).unwrap()
            },
        )
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn npy_f64_round_trip(m in matrix(12, any::<f64>())) {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.npy");
        npy::write(&p, &m, false).unwrap();
        let back = npy::read_any(&p).unwrap();
        prop_assert_eq!(back.dtype, "float64");
        let back = back.data.into_dimensionality::<ndarray::Ix2>().unwrap();
        prop_assert!(same_bits(&m, &back));
        // Never clobbered without `overwrite`.
        prop_assert!(npy::write(&p, &m, false).is_err());
    }

    #[test]
    fn npy_raster_round_trip(v in proptest::collection::vec(any::<u32>(), 1..60), n in 1..6usize) {
        let cols = v.len().div_ceil(n);
        let mut c = v.clone();
        c.resize(n * cols, 0);
        let counts = Array2::from_shape_vec((n, cols), c).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("r.npy");
        npy::write(&p, &counts, false).unwrap();
        let r = npy::read_raster(&p, 0.01).unwrap();
        prop_assert_eq!(r.counts(), &counts);
    }

    #[test]
    fn csv_round_trip(m in matrix(10, any_f64())) {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("t.csv");
        let names: Vec<String> = (0..m.ncols()).map(|j| j.to_string()).collect();
        csv::write_table(&p, &names, &m, false).unwrap();
        let t = csv::read_table(&p).unwrap();
        prop_assert_eq!(&t.columns, &names);
        prop_assert!(same_bits(&m, &t.values), "wrote {:?}\nread {:?}", m, t.values);
    }

    #[test]
    fn trains_raster_trains(st in trains(), bin_s in 0.001..5.0f64) {
        let dense = st.bin(bin_s).unwrap();
        let sparse = st.bin_sparse(bin_s).unwrap();
        let sparse_dense = sparse.to_dense().unwrap();
        prop_assert_eq!(sparse_dense.counts(), dense.counts());
        prop_assert_eq!(dense.n_bins() as f64, (st.duration_s() / bin_s).ceil().max(1.0));
        for (u, t) in st.trains().iter().enumerate() {
            prop_assert_eq!(dense.counts().row(u).iter().map(|&c| c as usize).sum::<usize>(), t.len());
        }
        // Back to trains at bin centres, binned again: the same raster.
        let centres: Vec<Vec<f64>> = dense
            .counts()
            .rows()
            .into_iter()
            .map(|row| {
                row.iter()
                    .enumerate()
                    .flat_map(|(b, &c)| {
                        let t = st.t_start_s() + (b as f64 + 0.5) * bin_s;
                        std::iter::repeat_n(t, c as usize)
                    })
                    .collect()
            })
            .collect();
        // Up to the last bin's centre (t_start + n·bin_s itself may round to n + 1 bins).
        let stop = st.t_stop_s().max(st.t_start_s() + (dense.n_bins() as f64 - 0.5) * bin_s);
        let again = SpikeTrains::new(centres, st.t_start_s(), stop).unwrap().bin(bin_s).unwrap();
        prop_assert_eq!(again.counts(), dense.counts());
        let from_rows = SparseRaster::from_rows(sparse.rows().to_vec(), sparse.n_bins(), bin_s).unwrap();
        prop_assert_eq!(from_rows.total_spikes(), st.total_spikes() as u64);
    }
}

#[cfg(feature = "hdf5")]
proptest! {
    // HDF5 files cost milliseconds each: fewer cases.
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn nwb_units_round_trip(st in trains()) {
        let dir = spikelab_datasets::NwbTestDir::new();
        let p = dir.path().join("u.nwb");
        let written = io::nwb::write_units(&p, &st, &io::nwb::NwbWriteOptions::new("proptest"));
        if st.n_units() == 0 {
            // Refused: an empty Units table fails DANDI's checks.
            prop_assert!(written.is_err() && !p.exists());
            return Ok(());
        }
        written.unwrap();
        let back = io::nwb::read_units(&p).unwrap();
        prop_assert_eq!(back.unit_ids(), st.unit_ids());
        prop_assert_eq!(back.trains(), st.trains());
    }

    #[test]
    fn nwb_ophys_round_trip(
        m in matrix(8, prop_oneof![-1e6..1e6f64, Just(f64::NAN)].boxed()),
        fps in 0.5..500.0f64,
    ) {
        // Recordings: at least one frame, and time the longest axis (nwbinspector flags
        // series with more ROIs than frames).
        prop_assume!(m.nrows() > 0 && m.nrows() >= m.ncols());
        let t = spikelab_data::CalciumTraces::new(m, fps).unwrap();
        let dir = spikelab_datasets::NwbTestDir::new();
        let p = dir.path().join("o.nwb");
        io::nwb::write_ophys(&p, &t, &io::nwb::OphysWriteOptions::new("proptest")).unwrap();
        let back = io::nwb::read_ophys(&p).unwrap();
        prop_assert!(same_bits(t.data(), back.data()));
        prop_assert_eq!(back.frame_rate_hz(), fps);
        prop_assert_eq!(back.valid_lengths(), t.valid_lengths());
    }
}
