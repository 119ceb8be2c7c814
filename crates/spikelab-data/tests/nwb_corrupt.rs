//! NWB files whose datasets declare more data than the file holds (as corrupt or fuzzed files
//! do): a typed `DataError::Nwb`, never an allocation of the declared size.
#![cfg(feature = "hdf5")]
use std::path::Path;

use spikelab_data::io::hdf5_guard::{MAX_FILTER_RATIO, check_dataset_size};
use spikelab_data::io::nwb::{self, NwbWriteOptions};
use spikelab_data::{DataError, SpikeTrains};

const HUGE: usize = 1_000_000_000_000;

fn write_units(p: &Path) {
    let st = SpikeTrains::new(vec![vec![0.5, 1.5], vec![2.0]], 0.0, 3.0).unwrap();
    nwb::write_units(p, &st, &NwbWriteOptions::new("corrupt")).unwrap();
}

/// Replaces `/units/{name}` by a chunked dataset of `HUGE` elements, none of them written
/// (a few hundred bytes on disk).
fn declare_huge<T: hdf5::H5Type>(p: &Path, name: &str) {
    let f = hdf5::File::open_rw(p).unwrap();
    let units = f.group("units").unwrap();
    units.unlink(name).unwrap();
    units
        .new_dataset::<T>()
        .chunk(1024)
        .shape(HUGE)
        .create(name)
        .unwrap();
}

fn assert_nwb_size_error(r: spikelab_data::Result<impl std::fmt::Debug>, what: &str) {
    match r {
        Err(DataError::Nwb { reason, .. }) => {
            assert!(reason.contains(what), "{reason}");
            assert!(reason.contains("file can hold"), "{reason}");
        }
        other => panic!("expected a DataError::Nwb, got {other:?}"),
    }
}

#[test]
fn huge_declared_units_columns_are_typed_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let p = tmp.path().join("ids.nwb");
    write_units(&p);
    declare_huge::<i64>(&p, "id");
    assert_nwb_size_error(nwb::read_units(&p), "units/id");

    let p = tmp.path().join("times.nwb");
    write_units(&p);
    declare_huge::<f64>(&p, "spike_times");
    assert_nwb_size_error(nwb::read_units(&p), "units/spike_times");
    assert!(nwb::inspect(&p).is_err());
}

#[test]
fn compressed_datasets_within_the_filter_ratio_pass() {
    let tmp = tempfile::tempdir().unwrap();
    let p = tmp.path().join("zeros.h5");
    let f = hdf5::File::create(&p).unwrap();
    // 2 MB of zeros, deflated to a few kB.
    let zeros = vec![0.0f64; 1 << 18];
    let ds = f
        .new_dataset_builder()
        .chunk(1 << 14)
        .deflate(9)
        .with_data(&zeros)
        .create("z")
        .unwrap();
    f.flush().unwrap();
    assert!(((zeros.len() * 8) as u64) > f.size());
    assert!(((zeros.len() * 8) as u64) < f.size() * MAX_FILTER_RATIO);
    check_dataset_size(&ds).unwrap();
    let plain = f.new_dataset::<f64>().shape(4).create("p").unwrap();
    check_dataset_size(&plain).unwrap();
}
