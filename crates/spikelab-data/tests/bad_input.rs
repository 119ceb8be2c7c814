//! The bad-input table of docs/reliability.md for the readers of this crate: each input class
//! gets the typed error the table names (never a panic, an abort on a huge allocation, or
//! silently wrong data). MATLAB files have their own cases in tests/mat.rs.

use std::path::{Path, PathBuf};

use spikelab_data::DataError;
use spikelab_data::io::{self, ReadOptions, csv, npy};

fn file(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

fn gz(bytes: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

/// An `.npy` file with this header dictionary and payload.
fn npy_bytes(dict: &str, payload: &[u8]) -> Vec<u8> {
    let mut h = dict.to_string();
    while !(10 + h.len() + 1).is_multiple_of(64) {
        h.push(' ');
    }
    h.push('\n');
    let mut b = b"\x93NUMPY\x01\x00".to_vec();
    b.extend((h.len() as u16).to_le_bytes());
    b.extend(h.as_bytes());
    b.extend(payload);
    b
}

macro_rules! expect_err {
    ($what:expr, $r:expr, $pat:pat) => {
        match $r {
            Err(e) => {
                assert!(matches!(e, $pat), "{}: wrong error {e:?}", $what);
                eprintln!("{}: {e}", $what);
            }
            Ok(v) => panic!("{}: accepted, got {v:?}", $what),
        }
    };
}

#[test]
fn npy_bad_inputs() {
    let d = tempfile::tempdir().unwrap();
    let d = d.path();
    let f8 = |n: usize| vec![0u8; 8 * n];
    let cases: Vec<(&str, Vec<u8>)> = vec![
        (
            "random bytes",
            b"\x00\x13random garbage that is not npy".to_vec(),
        ),
        ("empty file", Vec::new()),
        (
            "truncated payload",
            npy_bytes(
                "{'descr': '<f8', 'fortran_order': False, 'shape': (10, 10), }",
                &f8(3),
            ),
        ),
        (
            "float16",
            npy_bytes(
                "{'descr': '<f2', 'fortran_order': False, 'shape': (4,), }",
                &[0; 8],
            ),
        ),
        (
            "object dtype",
            npy_bytes(
                "{'descr': '|O', 'fortran_order': False, 'shape': (1,), }",
                &[0; 8],
            ),
        ),
        (
            "complex dtype",
            npy_bytes(
                "{'descr': '<c16', 'fortran_order': False, 'shape': (1,), }",
                &[0; 16],
            ),
        ),
        (
            "huge declared shape",
            npy_bytes(
                "{'descr': '<f8', 'fortran_order': False, 'shape': (1000000000, 1000000000), }",
                &f8(4),
            ),
        ),
        (
            "shape overflowing usize",
            npy_bytes(
                "{'descr': '<f8', 'fortran_order': False, 'shape': (18446744073709551615, 3), }",
                &f8(4),
            ),
        ),
        (
            "header length past the end",
            b"\x93NUMPY\x01\x00\xff\xff{'descr'".to_vec(),
        ),
        (
            // Found by the npy fuzz target: a 4 GB header length was allocated before reading.
            "version-2 header length of 4 GB",
            b"\x93NUMPY\x02\x00\xfc\xff\xff\xff{'descr': '<f8', 'shape': (0, 2), }".to_vec(),
        ),
        (
            "malformed header dict",
            npy_bytes("{'descr': '<f8', 'shape': (2,", &f8(2)),
        ),
        (
            // Found by a 10-minute npy fuzz run: 128 bytes of nested brackets and escapes
            // kept ndarray-npy's header parser busy for minutes.
            "header nested 20 deep",
            std::fs::read(
                Path::new(env!("CARGO_MANIFEST_DIR"))
                    .join("../../fuzz/corpus/npy/regression-timeout-nested-header.npy"),
            )
            .unwrap(),
        ),
        (
            "header nested 6 deep",
            npy_bytes("{'descr': [(((('a',),),),)], 'shape': (2,), }", &f8(2)),
        ),
    ];
    for (what, bytes) in cases {
        let p = file(d, "a.npy", &bytes);
        expect_err!(what, npy::read_any(&p), DataError::Npy { .. });
    }
    // Typed readers: wrong rank, values that are not counts, infinite traces.
    let p = d.join("r3.npy");
    npy::write(&p, &ndarray::Array3::<f64>::zeros((2, 2, 2)), false).unwrap();
    expect_err!(
        "3-D raster",
        npy::read_raster(&p, 0.01),
        DataError::Npy { .. }
    );
    for (what, v) in [
        ("negative count", -1.0),
        ("fractional count", 0.5),
        ("NaN count", f64::NAN),
    ] {
        let p = d.join(format!("{what}.npy"));
        npy::write(&p, &ndarray::arr2(&[[1.0, v]]), false).unwrap();
        expect_err!(what, npy::read_raster(&p, 0.01), DataError::Npy { .. });
    }
    let p = d.join("inf.npy");
    npy::write(&p, &ndarray::arr2(&[[1.0, f64::INFINITY]]), false).unwrap();
    expect_err!(
        "infinite trace value",
        npy::read_traces(&p, 30.0),
        DataError::Shape { .. }
    );
    expect_err!(
        "zero frame rate",
        npy::read_traces(&d.join("r3.npy"), 0.0),
        DataError::Npy { .. } | DataError::InvalidParameter { .. }
    );
}

#[test]
fn csv_bad_inputs() {
    let d = tempfile::tempdir().unwrap();
    let d = d.path();
    let good = b"0,1\n0.5,1.5\n0.25,\n".to_vec();
    let cases: Vec<(&str, &str, Vec<u8>)> = vec![
        ("empty file", "a.csv", Vec::new()),
        ("ragged row", "a.csv", b"0,1\n0.5\n".to_vec()),
        ("text cell", "a.csv", b"0,1\n0.5,abc\n".to_vec()),
        ("not UTF-8", "a.csv", b"0,1\n\xff\xfe,1\n".to_vec()),
        ("truncated gzip", "a.csv.gz", gz(&good)[..20].to_vec()),
        (".gz that is not gzip", "a.csv.gz", good.clone()),
    ];
    for (what, name, bytes) in cases {
        let p = file(d, name, &bytes);
        expect_err!(
            what,
            csv::read_table(&p),
            DataError::Csv { .. } | DataError::Gzip { .. }
        );
    }
    for (what, cell) in [("negative count", "-1"), ("fractional count", "0.5")] {
        let p = file(d, "s.csv", format!("0\n1\n{cell}\n").as_bytes());
        expect_err!(
            what,
            csv::read_spike_counts(&p, 0.01),
            DataError::Csv { .. }
        );
    }
    let p = file(d, "inf.csv", b"0\n1\ninf\n");
    expect_err!(
        "infinite trace value",
        csv::read_calcium(&p, 100.0),
        DataError::Shape { .. }
    );
}

#[test]
fn open_bad_options_and_paths() {
    let d = tempfile::tempdir().unwrap();
    let d = d.path();
    let p = file(d, "t.csv", b"0,1\n0.5,1.5\n");
    for (what, o) in [
        (
            "zero frame rate",
            ReadOptions {
                frame_rate_hz: Some(0.0),
                ..Default::default()
            },
        ),
        (
            "NaN frame rate",
            ReadOptions {
                frame_rate_hz: Some(f64::NAN),
                ..Default::default()
            },
        ),
        (
            "negative bin",
            ReadOptions {
                bin_s: Some(-0.01),
                ..Default::default()
            },
        ),
        (
            "infinite bin",
            ReadOptions {
                bin_s: Some(f64::INFINITY),
                ..Default::default()
            },
        ),
    ] {
        expect_err!(what, io::open(&p, &o), DataError::InvalidParameter { .. });
    }
    let q = file(d, "t.xyz", b"");
    expect_err!(
        "unknown extension",
        io::open(&q, &ReadOptions::default()),
        DataError::UnknownFormat { .. }
    );
    expect_err!(
        "missing file",
        io::open(&d.join("none.npy"), &ReadOptions::default()),
        DataError::Io { .. }
    );
    let o = ReadOptions {
        content: Some(io::Content::SpikeTrains),
        ..Default::default()
    };
    expect_err!(
        "CSV read as spike trains",
        io::open(&p, &o),
        DataError::WrongContent { .. }
    );
}

#[test]
fn writers_refuse_to_clobber_and_leave_no_temp_file() {
    let d = tempfile::tempdir().unwrap();
    let d = d.path();
    let p = file(d, "old.npy", b"precious");
    let a = ndarray::arr2(&[[1.0, 2.0]]);
    expect_err!(
        "npy over an existing file",
        npy::write(&p, &a, false),
        DataError::AlreadyExists { .. }
    );
    let names = vec!["0".to_string(), "1".to_string()];
    let c = file(d, "old.csv", b"precious");
    expect_err!(
        "csv over an existing file",
        csv::write_table(&c, &names, &a, false),
        DataError::AlreadyExists { .. }
    );
    assert_eq!(std::fs::read(&p).unwrap(), b"precious");
    assert_eq!(std::fs::read(&c).unwrap(), b"precious");
    expect_err!(
        "npy into a missing folder",
        npy::write(&d.join("no/such/dir.npy"), &a, false),
        DataError::Io { .. }
    );
    expect_err!(
        "csv with wrong column count",
        csv::write_table(&d.join("n.csv"), &names[..1], &a, false),
        DataError::Shape { .. }
    );
    npy::write(&p, &a, true).unwrap();
    assert_eq!(npy::read_any(&p).unwrap().data.len(), 2);
    let left: Vec<_> = std::fs::read_dir(d)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert!(
        left.iter()
            .all(|n| !n.to_string_lossy().starts_with(".tmp-")),
        "{left:?}"
    );
}

#[cfg(feature = "hdf5")]
#[test]
fn nwb_bad_inputs() {
    let d = tempfile::tempdir().unwrap();
    let d = d.path();
    let st = spikelab_data::SpikeTrains::new(vec![vec![0.1, 0.2], vec![0.5]], 0.0, 1.0).unwrap();
    let good = d.join("good.nwb");
    io::nwb::write_units(
        &good,
        &st,
        &io::nwb::NwbWriteOptions::new("bad-input table"),
    )
    .unwrap();
    spikelab_datasets::collect_nwb(&good);
    let bytes = std::fs::read(&good).unwrap();
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("random bytes", b"not an hdf5 file at all".to_vec()),
        ("empty file", Vec::new()),
        ("truncated to 1/2", bytes[..bytes.len() / 2].to_vec()),
        ("truncated to 2 kB", bytes[..2048].to_vec()),
    ];
    for (what, b) in cases {
        let p = file(d, "bad.nwb", &b);
        expect_err!(what, io::nwb::read_units(&p), DataError::Nwb { .. });
    }
    expect_err!(
        "units file read as ophys",
        io::nwb::read_ophys(&good),
        DataError::Nwb { .. } | DataError::DatasetNotFound { .. } | DataError::WrongContent { .. }
    );
}
