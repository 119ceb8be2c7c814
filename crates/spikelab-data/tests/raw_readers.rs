//! Raw-recording readers: SpikeGLX, Open Ephys and plain binary files built here from their
//! documented layouts, the NWB `ElectricalSeries` written by pynwb compared with
//! spikeinterface's reading of it, chunked reads against whole reads, and every bad input.

use std::path::{Path, PathBuf};

use ndarray::Array2;
use proptest::prelude::*;
use spikelab_data::io::raw::openephys::{self, OpenEphysOptions, StreamSelect};
use spikelab_data::io::raw::spikeglx::{self, SpikeGlxOptions};
use spikelab_data::io::raw::{
    self, BinaryOptions, BinaryRecording, Dtype, RawOptions, channel_health, require_min_samples,
};
use spikelab_data::{DataError, Probe, Recording, RecordingSource};

fn write_i16(path: &Path, v: &[i16]) {
    std::fs::write(
        path,
        v.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>(),
    )
    .unwrap();
}

/// `n` samples × `c` channels, value `100·s + c − 50` (fits every dtype, negative for some).
fn pattern(n: usize, c: usize) -> Array2<f64> {
    Array2::from_shape_fn((n, c), |(s, ch)| (100 * s + ch) as f64 - 50.0)
}

fn encode(a: &Array2<f64>, dtype: Dtype) -> Vec<u8> {
    a.iter()
        .flat_map(|&v| match dtype {
            Dtype::I16 => (v as i16).to_le_bytes().to_vec(),
            Dtype::U16 => ((v + 50.0) as u16).to_le_bytes().to_vec(),
            Dtype::I32 => (v as i32).to_le_bytes().to_vec(),
            Dtype::F32 => (v as f32).to_le_bytes().to_vec(),
            Dtype::F64 => v.to_le_bytes().to_vec(),
        })
        .collect()
}

#[test]
fn plain_binary_every_dtype() {
    let dir = tempfile::tempdir().unwrap();
    let a = pattern(40, 3);
    for dtype in [Dtype::I16, Dtype::U16, Dtype::I32, Dtype::F32, Dtype::F64] {
        let p = dir.path().join(format!("{dtype:?}.bin"));
        let mut bytes = vec![7u8; 16]; // a header to skip
        bytes.extend(encode(&a, dtype));
        std::fs::write(&p, bytes).unwrap();
        let mut o = BinaryOptions::new(dtype, 3, 20_000.0);
        o.header_bytes = 16;
        let rec = BinaryRecording::open(&p, &o).unwrap();
        assert_eq!((rec.n_samples(), rec.n_channels()), (40, 3));
        let shift = if dtype == Dtype::U16 { 50.0 } else { 0.0 };
        let full = rec.read_chunk(0, 40).unwrap();
        for ((s, c), &v) in full.indexed_iter() {
            assert_eq!(v as f64, a[[s, c]] + shift, "{dtype:?} at {s},{c}");
        }
    }
}

#[test]
fn plain_binary_gains_channels_and_probe() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("rec.dat");
    let a = pattern(10, 4);
    std::fs::write(&p, encode(&a, Dtype::I16)).unwrap();
    let probe = Probe::new(vec![[0.0, 0.0], [5.0, 30.0]], 6.0).unwrap();
    let o = BinaryOptions {
        channels: Some(vec![3, 1]),
        gain_to_uv: Some(vec![0.5, 2.0]),
        offset_to_uv: Some(vec![1.0]),
        probe: Some(probe.clone()),
        ..BinaryOptions::new(Dtype::I16, 4, 1_000.0)
    };
    let rec = BinaryRecording::open(&p, &o).unwrap();
    assert_eq!(rec.probe(), &probe);
    let uv = rec.read_chunk_uv(2, 3).unwrap();
    assert_eq!(uv[[0, 0]], (a[[2, 3]] * 0.5 + 1.0) as f32);
    assert_eq!(uv[[2, 1]], (a[[4, 1]] * 2.0 + 1.0) as f32);
    let whole = rec.load().unwrap();
    assert_eq!(whole.traces()[[9, 0]], a[[9, 3]] as f32);
    assert_eq!(whole.gain_to_uv(), &[0.5, 2.0]);
    // Default probe: one column, 20 µm apart.
    let rec = BinaryRecording::open(&p, &BinaryOptions::new(Dtype::I16, 4, 1e3)).unwrap();
    assert_eq!(rec.probe().position_um(3), [0.0, 60.0]);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]
    #[test]
    fn chunks_equal_the_full_read(start in 0usize..200, len in 0usize..200, c in 1usize..6) {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("r.bin");
        let a = pattern(200, c);
        std::fs::write(&p, encode(&a, Dtype::F32)).unwrap();
        let rec = BinaryRecording::open(&p, &BinaryOptions::new(Dtype::F32, c, 3e4)).unwrap();
        let full = rec.load().unwrap();
        if start + len <= 200 {
            let chunk = rec.read_chunk(start, len).unwrap();
            let traces = full.traces();
            prop_assert_eq!(chunk.view(), traces.slice(ndarray::s![start..start + len, ..]));
            prop_assert_eq!(full.read_chunk(start, len).unwrap(), chunk);
        } else {
            prop_assert!(rec.read_chunk(start, len).is_err());
            prop_assert!(full.read_chunk(start, len).is_err());
        }
    }
}

#[test]
fn truncated_file_names_extra_bytes_and_can_drop_them() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("cut.bin");
    let mut bytes = encode(&pattern(5, 3), Dtype::I16);
    bytes.extend([1, 2, 3, 4]); // 2 of the 3 values of a sixth sample
    std::fs::write(&p, bytes).unwrap();
    let o = BinaryOptions::new(Dtype::I16, 3, 1e3);
    let e = BinaryRecording::open(&p, &o).unwrap_err();
    match &e {
        DataError::PartialSampleRow {
            path,
            extra_bytes,
            row_bytes,
            ..
        } => {
            assert_eq!(
                (path.as_path(), *extra_bytes, *row_bytes),
                (p.as_path(), 4, 6)
            );
        }
        other => panic!("{other}"),
    }
    let msg = e.to_string();
    assert!(
        msg.contains("cut.bin")
            && msg.contains("multiple of 6")
            && msg.contains("drop_partial_row"),
        "{msg}"
    );
    let rec = BinaryRecording::open(
        &p,
        &BinaryOptions {
            drop_partial_row: true,
            ..o
        },
    )
    .unwrap();
    assert_eq!(rec.n_samples(), 5);
}

#[test]
fn nan_in_float_file_names_sample_and_channel() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("nan.bin");
    let mut a = pattern(30, 4);
    a[[17, 2]] = f64::NAN;
    std::fs::write(&p, encode(&a, Dtype::F64)).unwrap();
    let rec = BinaryRecording::open(&p, &BinaryOptions::new(Dtype::F64, 4, 1e3)).unwrap();
    assert!(rec.read_chunk(0, 17).is_ok());
    let e = rec.read_chunk(10, 10).unwrap_err();
    assert!(
        matches!(
            e,
            DataError::NonFiniteSample {
                sample: 17,
                channel: 2,
                ..
            }
        ),
        "{e}"
    );
    assert!(e.to_string().contains("nan.bin"));
    assert!(rec.load().is_err());
}

#[test]
fn probe_with_wrong_channel_count() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("r.bin");
    std::fs::write(&p, encode(&pattern(4, 3), Dtype::I16)).unwrap();
    let o = BinaryOptions {
        probe: Some(Probe::tetrode(20.0)),
        ..BinaryOptions::new(Dtype::I16, 3, 1e3)
    };
    let e = BinaryRecording::open(&p, &o).unwrap_err();
    assert!(matches!(e, DataError::RawRecording { .. }), "{e}");
    let msg = e.to_string();
    assert!(
        msg.contains("r.bin") && msg.contains("4 contacts") && msg.contains("3 channels"),
        "{msg}"
    );
    // Bad gains, channels and dtype names are errors too.
    let o = BinaryOptions {
        gain_to_uv: Some(vec![1.0, 2.0]),
        ..BinaryOptions::new(Dtype::I16, 3, 1e3)
    };
    assert!(BinaryRecording::open(&p, &o).is_err());
    let o = BinaryOptions {
        channels: Some(vec![3]),
        ..BinaryOptions::new(Dtype::I16, 3, 1e3)
    };
    assert!(
        BinaryRecording::open(&p, &o)
            .unwrap_err()
            .to_string()
            .contains("channel 3")
    );
    assert!(Dtype::parse("int8").is_err());
}

#[test]
fn flat_channels_and_short_recordings() {
    let t = Array2::from_shape_fn((100, 4), |(s, c)| match c {
        1 => 0.0,
        3 => 5.0,
        _ => ((s * 7 + c) % 11) as f32,
    });
    let rec =
        Recording::with_gains(t, 1e3, Probe::tetrode(20.0), vec![2.0; 4], vec![0.0; 4]).unwrap();
    let h = channel_health(&rec, 13).unwrap();
    assert_eq!(h.zero_channels, vec![1]);
    assert_eq!(h.flat_channels, vec![1, 3]);
    assert_eq!(h.std_uv[1], 0.0);
    // Population std of channel 0 (values (7s) mod 11), times gain 2, by direct sum.
    let v: Vec<f64> = (0..100).map(|s| ((s * 7) % 11) as f64).collect();
    let m = v.iter().sum::<f64>() / 100.0;
    let sd = (v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / 100.0).sqrt();
    assert!((h.std_uv[0] - 2.0 * sd).abs() < 1e-9);
    match h.require_not_flat().unwrap_err() {
        DataError::FlatChannels { channels } => assert_eq!(channels, vec![1, 3]),
        other => panic!("{other}"),
    }
    let e = require_min_samples(&rec, 150, "a 150-sample window").unwrap_err();
    assert!(matches!(
        e,
        DataError::RecordingTooShort {
            n_samples: 100,
            required: 150,
            ..
        }
    ));
    assert!(e.to_string().contains("150-sample window"));
}

// ---------------------------------------------------------------------------------------------
// SpikeGLX
// ---------------------------------------------------------------------------------------------

/// An imec AP file: 4 AP channels + sync, NP1.0 imro with AP gains 500, 250, 1000, 2000.
fn spikeglx_ap(dir: &Path, n: usize, extra_meta: &str) -> (PathBuf, Vec<i16>) {
    let bin = dir.join("run_g0_t0.imec0.ap.bin");
    let v: Vec<i16> = (0..n * 5)
        .map(|i| {
            if i % 5 == 4 {
                (i / 5 % 2 * 64) as i16
            } else {
                (i as i16 % 97) - 40
            }
        })
        .collect();
    write_i16(&bin, &v);
    let meta = format!(
        "imSampRate=30000\nnSavedChans=5\nfileSizeBytes={}\nimAiRangeMax=0.6\nimAiRangeMin=-0.6\n\
         imMaxInt=512\nsnsApLfSy=4,0,1\nsnsSaveChanSubset=all\ntypeThis=imec\n\
         ~imroTbl=(0,4)(0 0 0 500 250 1)(1 0 0 250 250 1)(2 0 0 1000 250 1)(3 0 0 2000 250 1)\n\
         ~snsChanMap=(4,0,1)(AP0;0:0)(AP1;1:1)(AP2;2:2)(AP3;3:3)(SY0;4:4)\n{extra_meta}",
        n * 10
    );
    std::fs::write(dir.join("run_g0_t0.imec0.ap.meta"), meta).unwrap();
    (bin, v)
}

#[test]
fn spikeglx_np1_gains_geometry_and_sync() {
    let dir = tempfile::tempdir().unwrap();
    let geom = "~snsGeomMap=(NP1000,2,250,70)(0:43:0:1)(0:11:0:1)(1:59:20:1)(1:27:20:1)\n";
    let (bin, v) = spikeglx_ap(dir.path(), 50, geom);
    let rec = spikeglx::open(&bin, &SpikeGlxOptions::default()).unwrap();
    assert_eq!((rec.n_samples(), rec.n_channels()), (50, 4));
    assert_eq!(rec.sampling_rate_hz(), 30_000.0);
    // V = i · imAiRangeMax / imMaxInt / gain (SpikeGLX metadata help): µV per count.
    let expected = [
        0.6 / 512.0 / 500.0,
        0.6 / 512.0 / 250.0,
        0.6 / 512.0 / 1000.0,
        0.6 / 512.0 / 2000.0,
    ];
    for (g, e) in rec.gain_to_uv().iter().zip(expected) {
        assert!((*g as f64 - e * 1e6).abs() < 1e-6 * e * 1e6);
    }
    // x = x + shank · 250 µm, y = z.
    assert_eq!(
        rec.probe().positions_um(),
        &[[43.0, 0.0], [11.0, 0.0], [309.0, 20.0], [277.0, 20.0]]
    );
    let chunk = rec.read_chunk(7, 3).unwrap();
    for s in 0..3 {
        for c in 0..4 {
            assert_eq!(chunk[[s, c]], v[(7 + s) * 5 + c] as f32);
        }
    }
    assert_eq!(rec.read_sync(0, 4).unwrap(), vec![0, 64, 0, 64]);
    // The .meta path works too, and open_recording detects the pair.
    let via_meta =
        spikeglx::open(&bin.with_extension("meta"), &SpikeGlxOptions::default()).unwrap();
    assert_eq!(
        via_meta.read_chunk(0, 50).unwrap(),
        rec.read_chunk(0, 50).unwrap()
    );
    let any = raw::open_recording(&bin, &RawOptions::default()).unwrap();
    assert_eq!(any.n_channels(), 4);
    require_min_samples(&any, 50, "the whole file").unwrap();
    assert_eq!(
        channel_health(&any, 7).unwrap().flat_channels,
        Vec::<usize>::new()
    );
}

/// A Neuropixels 1.0 file read by spikeinterface 0.105.3 (scripts/sort_fixtures_readers.py).
#[test]
fn spikeglx_np1_matches_spikeinterface() {
    use ndarray::Array1;
    use ndarray_npy::read_npy;
    let dir = spikelab_datasets::root()
        .unwrap()
        .join("sort/readers/spikeglx");
    let rec = spikeglx::open(
        &dir.join("run_g0_t0.imec0.ap.bin"),
        &SpikeGlxOptions::default(),
    )
    .unwrap();
    let gains: Array1<f64> = read_npy(dir.join("expected_gain_uv.npy")).unwrap();
    let loc: Array2<f64> = read_npy(dir.join("expected_locations.npy")).unwrap();
    assert_eq!((rec.n_samples(), rec.n_channels()), (20, 384));
    let worst = rec
        .gain_to_uv()
        .iter()
        .zip(&gains)
        .map(|(a, b)| (*a as f64 - b).abs() / b)
        .fold(0.0, f64::max);
    eprintln!("SpikeGLX gains vs spikeinterface: max relative error {worst:e}");
    assert!(worst < 1e-7, "{worst}");
    for c in 0..384 {
        assert_eq!(
            rec.probe().position_um(c),
            [loc[[c, 0]], loc[[c, 1]]],
            "channel {c}"
        );
    }
    assert_eq!(rec.read_sync(0, 4).unwrap(), vec![0, 64, 0, 64]);
}

#[test]
fn spikeglx_shank_map_lf_subset_and_default_layout() {
    let dir = tempfile::tempdir().unwrap();
    // LF stream of NP1.0: gain from the 5th imro field; channels 1 and 3 and sync saved.
    let bin = dir.path().join("x_g0_t0.imec0.lf.bin");
    write_i16(&bin, &[1, 2, 9, 3, 4, 0]);
    std::fs::write(
        bin.with_extension("meta"),
        "imSampRate=2500\nnSavedChans=3\nfileSizeBytes=12\nimAiRangeMax=0.6\nimMaxInt=512\n\
         snsApLfSy=0,4,1\nsnsSaveChanSubset=1,3:4\n\
         ~imroTbl=(0,4)(0 0 0 500 250 1)(1 0 0 500 125 1)(2 0 0 500 250 1)(3 0 0 500 50 1)\n\
         ~snsShankMap=(1,2,480)(0:1:0:1)(0:0:1:1)\n",
    )
    .unwrap();
    let rec = spikeglx::open(&bin, &SpikeGlxOptions::default()).unwrap();
    assert_eq!(rec.n_channels(), 2);
    let g = rec.gain_to_uv();
    assert!((g[0] as f64 - 0.6 / 512.0 / 125.0 * 1e6).abs() < 1e-4);
    assert!((g[1] as f64 - 0.6 / 512.0 / 50.0 * 1e6).abs() < 1e-4);
    // NP 1.0 imro geometry wins over the shank map: electrodes 1 (row 0) and 3 (row 1).
    assert_eq!(rec.probe().positions_um(), &[[48.0, 0.0], [32.0, 20.0]]);
    assert_eq!(
        rec.read_chunk(0, 2).unwrap().into_raw_vec_and_offset().0,
        vec![1.0, 2.0, 3.0, 4.0]
    );
    assert_eq!(rec.read_sync(1, 1).unwrap(), vec![0]);

    // No snsApLfSy in an .lf file: the last channel is sync, the others LF (5th imro field).
    let bin3 = dir.path().join("z_g0_t0.imec0.lf.bin");
    write_i16(&bin3, &[1, 2, 0]);
    std::fs::write(
        bin3.with_extension("meta"),
        "imSampRate=2500\nnSavedChans=3\nimAiRangeMax=0.6\nimMaxInt=512\n\
         ~imroTbl=(0,2)(0 0 0 500 125 1)(1 0 0 500 50 1)\n",
    )
    .unwrap();
    let rec = spikeglx::open(&bin3, &SpikeGlxOptions::default()).unwrap();
    assert_eq!(rec.n_channels(), 2);
    assert!((rec.gain_to_uv()[1] as f64 - 0.6 / 512.0 / 50.0 * 1e6).abs() < 1e-4);
    assert_eq!(rec.sync_file_columns(), &[2]);

    // NP2.0 imro (no gains, no NP 1.0 geometry), imMaxInt 8192: gain 80, shank map.
    let bin2 = dir.path().join("y_g0_t0.imec0.ap.bin");
    write_i16(&bin2, &[1, 2, 3, 4]);
    std::fs::write(
        bin2.with_extension("meta"),
        "imSampRate=30000\nnSavedChans=2\nimAiRangeMax=0.5\nimMaxInt=8192\nsnsApLfSy=2,0,0\n\
         ~imroTbl=(21,2)(0 0 0 0)(1 0 0 1)\n~snsShankMap=(1,2,480)(0:1:0:1)(0:0:1:1)\n",
    )
    .unwrap();
    let rec = spikeglx::open(&bin2, &SpikeGlxOptions::default()).unwrap();
    assert!((rec.gain_to_uv()[0] as f64 - 0.5 / 8192.0 / 80.0 * 1e6).abs() < 1e-6);
    // col · 32 µm, row · 20 µm.
    assert_eq!(rec.probe().positions_um(), &[[32.0, 0.0], [0.0, 20.0]]);
    assert!(rec.read_sync(0, 1).is_err());
}

#[test]
fn spikeglx_nidq_gains() {
    let dir = tempfile::tempdir().unwrap();
    let bin = dir.path().join("run_g0_t0.nidq.bin");
    write_i16(&bin, &[100, 200, 300, 7, -100, -200, -300, 8]);
    std::fs::write(
        bin.with_extension("meta"),
        "niSampRate=25000\nnSavedChans=4\nfileSizeBytes=16\nniAiRangeMax=5\nniAiRangeMin=-5\n\
         niMaxInt=32768\nniMNGain=200\nniMAGain=2\nsnsMnMaXaDw=1,1,1,1\nsnsSaveChanSubset=all\ntypeThis=nidq\n",
    )
    .unwrap();
    let rec = spikeglx::open(&bin, &SpikeGlxOptions::default()).unwrap();
    assert_eq!(rec.n_channels(), 3);
    let expected = [5.0 / 32768.0 / 200.0, 5.0 / 32768.0 / 2.0, 5.0 / 32768.0];
    for (g, e) in rec.gain_to_uv().iter().zip(expected) {
        assert!((*g as f64 / (e * 1e6) - 1.0).abs() < 1e-6);
    }
    assert_eq!(rec.read_sync(0, 2).unwrap(), vec![7, 8]);
    // No map: one column 20 µm apart.
    assert_eq!(
        rec.probe().positions_um(),
        &[[0.0, 0.0], [0.0, 20.0], [0.0, 40.0]]
    );
}

#[test]
fn spikeglx_bad_meta() {
    let dir = tempfile::tempdir().unwrap();
    let (bin, _) = spikeglx_ap(dir.path(), 10, "");
    let meta = bin.with_extension("meta");
    let good = std::fs::read_to_string(&meta).unwrap();

    // No sample rate.
    std::fs::write(&meta, good.replace("imSampRate=30000\n", "")).unwrap();
    let e = spikeglx::open(&bin, &SpikeGlxOptions::default()).unwrap_err();
    let msg = e.to_string();
    assert!(matches!(e, DataError::RawRecording { .. }));
    assert!(
        msg.contains(".ap.meta") && msg.contains("imSampRate") && msg.contains("niSampRate"),
        "{msg}"
    );

    // fileSizeBytes larger than the file: truncated copy.
    std::fs::write(
        &meta,
        good.replace("fileSizeBytes=100", "fileSizeBytes=110"),
    )
    .unwrap();
    let e = spikeglx::open(&bin, &SpikeGlxOptions::default()).unwrap_err();
    assert!(
        e.to_string().contains("fileSizeBytes=110") && e.to_string().contains("ignore_file_size"),
        "{e}"
    );
    let o = SpikeGlxOptions {
        ignore_file_size: true,
        ..Default::default()
    };
    assert_eq!(spikeglx::open(&bin, &o).unwrap().n_samples(), 10);

    // A partial last row (the .bin cut mid-sample).
    std::fs::write(&meta, &good).unwrap();
    let mut bytes = std::fs::read(&bin).unwrap();
    bytes.truncate(96);
    std::fs::write(&bin, &bytes).unwrap();
    let o = SpikeGlxOptions {
        ignore_file_size: true,
        ..Default::default()
    };
    let e = spikeglx::open(&bin, &o).unwrap_err();
    assert!(
        matches!(
            e,
            DataError::PartialSampleRow {
                extra_bytes: 6,
                row_bytes: 10,
                ..
            }
        ),
        "{e}"
    );
    let o = SpikeGlxOptions {
        drop_partial_row: true,
        ..o
    };
    assert_eq!(spikeglx::open(&bin, &o).unwrap().n_samples(), 9);

    // A probe whose contact count differs from the neural channels.
    let o = SpikeGlxOptions {
        probe: Some(Probe::multi_column(6, 2, 20.0, 20.0, 6.0).unwrap()),
        ignore_file_size: true,
        drop_partial_row: true,
        ..Default::default()
    };
    let e = spikeglx::open(&bin, &o).unwrap_err();
    assert!(
        e.to_string().contains("6 contacts") && e.to_string().contains("4 neural channels"),
        "{e}"
    );

    // nSavedChans that disagrees with the saved subset; imro too short.
    std::fs::write(&meta, good.replace("nSavedChans=5", "nSavedChans=4")).unwrap();
    assert!(
        spikeglx::open(&bin, &o)
            .unwrap_err()
            .to_string()
            .contains("nSavedChans=4")
    );
    std::fs::write(&meta, good.replace("(3 0 0 2000 250 1)", "")).unwrap();
    assert!(
        spikeglx::open(&bin, &o)
            .unwrap_err()
            .to_string()
            .contains("imroTbl has 3 entries")
    );
    // A channel or bank past the probe's range (found by fuzz/raw_meta: it overflowed).
    std::fs::write(
        &meta,
        good.replace(
            "(2 0 0 1000 250 1)",
            "(2 99999999999999999999 0 1000 250 1)",
        ),
    )
    .unwrap();
    assert!(
        spikeglx::open(&bin, &o)
            .unwrap_err()
            .to_string()
            .contains("chan < 384")
    );
    // Channel counts of 10¹⁴–10¹⁶ (found by fuzz/raw_meta: a vector of that many channel
    // kinds was allocated, then the process aborted) are refused before any allocation.
    for (from, to, says) in [
        (
            "nSavedChans=5\n",
            "nSavedChans=3333333333333333\n",
            "nSavedChans=3333333333333333",
        ),
        (
            "snsApLfSy=4,0,1",
            "snsApLfSy=99999999999999,0,1",
            "more than 65536 channels",
        ),
        (
            "snsSaveChanSubset=all",
            "snsSaveChanSubset=0:99999999999999",
            "channel 99999999999999 is beyond",
        ),
        (
            "snsSaveChanSubset=all",
            "snsSaveChanSubset=0:3,7",
            "channel 7 is beyond the 5",
        ),
    ] {
        std::fs::write(&meta, good.replace(from, to)).unwrap();
        let e = spikeglx::open(&bin, &o).unwrap_err();
        assert!(matches!(e, DataError::RawRecording { .. }), "{e}");
        assert!(e.to_string().contains(says), "{from} → {e}");
    }
}

// ---------------------------------------------------------------------------------------------
// Open Ephys
// ---------------------------------------------------------------------------------------------

fn openephys_folder(dir: &Path) -> Vec<i16> {
    std::fs::write(
        dir.join("structure.oebin"),
        r#"{"GUI version": "0.6.7",
  "continuous": [
    {"folder_name": "Acquisition_Board-100.Rhythm Data/", "sample_rate": 30000.0,
     "source_processor_name": "Acquisition Board", "stream_name": "Rhythm Data", "num_channels": 3,
     "channels": [
       {"channel_name": "CH1", "bit_volts": 0.195, "units": "uV"},
       {"channel_name": "CH2", "bit_volts": 0.195, "units": "uV"},
       {"channel_name": "ADC1", "bit_volts": 0.0001875, "units": "V"}]},
    {"folder_name": "NI-DAQmx-101.PXI-6133/", "sample_rate": 1000.0, "stream_name": "PXI-6133",
     "num_channels": 1, "channels": [{"channel_name": "AI0", "bit_volts": 0.5, "units": "mV"}]}],
  "events": [], "spikes": []}"#,
    )
    .unwrap();
    let a = dir.join("continuous/Acquisition_Board-100.Rhythm Data");
    let b = dir.join("continuous/NI-DAQmx-101.PXI-6133");
    std::fs::create_dir_all(&a).unwrap();
    std::fs::create_dir_all(&b).unwrap();
    let v: Vec<i16> = (0..60).map(|i| i * 3 - 90).collect();
    write_i16(&a.join("continuous.dat"), &v);
    write_i16(&b.join("continuous.dat"), &[5, 6, 7]);
    v
}

#[test]
fn openephys_streams_values_and_gains() {
    let dir = tempfile::tempdir().unwrap();
    let v = openephys_folder(dir.path());
    let o = OpenEphysOptions {
        stream: Some(StreamSelect::Name("Rhythm Data".into())),
        ..Default::default()
    };
    let rec = openephys::open(dir.path(), &o).unwrap();
    assert_eq!((rec.n_samples(), rec.n_channels()), (20, 3));
    assert_eq!(rec.channel_names(), &["CH1", "CH2", "ADC1"]);
    let uv = rec.read_chunk_uv(4, 2).unwrap();
    assert!((uv[[1, 0]] - v[15] as f32 * 0.195).abs() < 1e-4);
    assert!((uv[[0, 2]] - v[14] as f32 * 187.5).abs() < 1e-2);
    let by_index = openephys::open(
        &dir.path().join("structure.oebin"),
        &OpenEphysOptions {
            stream: Some(StreamSelect::Index(1)),
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(by_index.stream_name(), "PXI-6133");
    assert_eq!(by_index.sampling_rate_hz(), 1000.0);
    assert!((by_index.gain_to_uv()[0] - 500.0).abs() < 1e-3);
    let by_folder = OpenEphysOptions {
        stream: Some(StreamSelect::Name("NI-DAQmx-101.PXI-6133/".into())),
        ..Default::default()
    };
    assert_eq!(
        openephys::open(dir.path(), &by_folder).unwrap().n_samples(),
        3
    );
    let any = raw::open_recording(
        dir.path(),
        &RawOptions {
            openephys: o,
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(any.load().unwrap().traces()[[0, 1]], v[1] as f32);
}

/// An Open Ephys GUI 0.5 recording read by spikeinterface 0.105.3
/// (scripts/sort_fixtures_readers.py): its µV, neural and ADC streams side by side.
#[test]
fn openephys_matches_spikeinterface() {
    use ndarray_npy::read_npy;
    let root = spikelab_datasets::root()
        .unwrap()
        .join("sort/readers/openephys");
    let expected: Array2<f32> = read_npy(root.join("expected_uv.npy")).unwrap();
    let rec = openephys::open(
        &root.join("Record_Node_101/experiment1/recording1"),
        &OpenEphysOptions::default(),
    )
    .unwrap();
    assert_eq!(rec.stream_name(), "Rhythm_FPGA-100.0");
    assert_eq!(rec.sampling_rate_hz(), 30_000.0);
    let uv = rec.read_chunk_uv(0, rec.n_samples()).unwrap();
    assert_eq!(uv.dim(), expected.dim());
    let worst = uv
        .iter()
        .zip(&expected)
        .map(|(a, b)| ((a - b) / b.abs().max(1.0)).abs())
        .fold(0.0f32, f32::max);
    eprintln!("Open Ephys vs spikeinterface: max relative error {worst:e}");
    assert!(worst < 1e-6, "{worst}");
}

#[test]
fn openephys_bad_input() {
    let dir = tempfile::tempdir().unwrap();
    openephys_folder(dir.path());
    let e = openephys::open(dir.path(), &OpenEphysOptions::default()).unwrap_err();
    let msg = e.to_string();
    assert!(
        msg.contains("structure.oebin") && msg.contains("Rhythm Data") && msg.contains("PXI-6133"),
        "{msg}"
    );
    let e = openephys::open(
        dir.path(),
        &OpenEphysOptions {
            stream: Some(StreamSelect::Name("nope".into())),
            ..Default::default()
        },
    )
    .unwrap_err();
    assert!(e.to_string().contains("no stream named"));
    let o = OpenEphysOptions {
        stream: Some(StreamSelect::Index(0)),
        probe: Some(Probe::tetrode(10.0)),
        ..Default::default()
    };
    let e = openephys::open(dir.path(), &o).unwrap_err();
    assert!(
        e.to_string().contains("continuous.dat") && e.to_string().contains("4 contacts"),
        "{e}"
    );
    let oebin = dir.path().join("structure.oebin");
    let text = std::fs::read_to_string(&oebin).unwrap();
    std::fs::write(
        &oebin,
        text.replace("\"num_channels\": 3", "\"num_channels\": 4"),
    )
    .unwrap();
    let o = OpenEphysOptions {
        stream: Some(StreamSelect::Index(0)),
        ..Default::default()
    };
    assert!(
        openephys::open(dir.path(), &o)
            .unwrap_err()
            .to_string()
            .contains("num_channels=4")
    );
    std::fs::write(&oebin, text.replace("\"sample_rate\": 30000.0,", "")).unwrap();
    assert!(
        openephys::open(dir.path(), &o)
            .unwrap_err()
            .to_string()
            .contains("sample_rate")
    );
}

#[test]
fn open_recording_needs_a_layout_for_unknown_files() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("mystery.raw");
    std::fs::write(&p, [0u8; 8]).unwrap();
    let e = raw::open_recording(&p, &RawOptions::default())
        .err()
        .unwrap();
    assert!(matches!(e, DataError::UnknownFormat { .. }));
    assert!(e.to_string().contains("RawOptions::binary"));
}

// ---------------------------------------------------------------------------------------------
// NWB
// ---------------------------------------------------------------------------------------------

#[cfg(feature = "hdf5")]
mod nwb {
    use super::*;
    use ndarray_npy::read_npy;

    fn fixture(name: &str) -> PathBuf {
        spikelab_datasets::root()
            .unwrap()
            .join("sort/readers/nwb")
            .join(name)
    }

    #[test]
    fn electrical_series_matches_spikeinterface() {
        let rec =
            raw::open_recording(&fixture("ecephys_pynwb.nwb"), &RawOptions::default()).unwrap();
        let expected: Array2<f32> = read_npy(fixture("expected_uv.npy")).unwrap();
        let loc: Array2<f64> = read_npy(fixture("expected_locations.npy")).unwrap();
        assert_eq!((rec.n_samples(), rec.n_channels()), expected.dim());
        assert_eq!(rec.sampling_rate_hz(), 10_000.0);
        let uv = rec.read_chunk_uv(0, rec.n_samples()).unwrap();
        // f32 products in a different order: within 1e-6 relative of the largest value.
        let scale = expected.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        let worst = uv
            .iter()
            .zip(&expected)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0f32, f32::max);
        eprintln!("NWB vs spikeinterface: max abs error {worst} µV (largest value {scale} µV)");
        assert!(
            worst <= 1e-6 * scale,
            "max |Δ| = {worst} µV (scale {scale})"
        );
        for c in 0..4 {
            assert_eq!(rec.probe().position_um(c), [loc[[c, 0]], loc[[c, 1]]]);
        }
        for (start, len) in [(0, 1), (17, 50), (250, 50), (299, 1)] {
            let chunk = rec.read_chunk(start, len).unwrap();
            let full = rec.read_chunk(0, 300).unwrap();
            assert_eq!(
                chunk.view(),
                full.slice(ndarray::s![start..start + len, ..])
            );
        }
        assert!(rec.read_chunk(299, 2).is_err());
    }

    #[test]
    fn missing_series_is_named() {
        let e =
            raw::nwb::open(&fixture("ecephys_pynwb.nwb"), Some("/acquisition/LFP")).unwrap_err();
        assert!(matches!(e, DataError::Nwb { .. }));
        assert!(
            e.to_string().contains("ecephys_pynwb.nwb")
                && e.to_string().contains("/acquisition/LFP")
        );
    }
}
