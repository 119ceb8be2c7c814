//! The probeinterface JSON reader and writer against files written by probeinterface 0.4.2,
//! with the channel positions spikeinterface 0.105.3 gives a recording after
//! `set_probegroup` (scripts/sort_fixtures_probe.py, datasets/sort/probe/).

use std::path::{Path, PathBuf};

use spikelab_data::io::probe::{read_probe, write_probe};
use spikelab_data::{DataError, Probe};

fn dir() -> PathBuf {
    spikelab_datasets::root().unwrap().join("sort/probe")
}

fn expected() -> serde_json::Value {
    let text = std::fs::read_to_string(dir().join("expected.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// Positions agree to 1e-9 µm (the mm file is scaled by 1000 on both sides; the rest is
/// copied).
fn check(name: &str) -> Probe {
    let all = expected();
    let want = &all["files"][name];
    let probe = read_probe(&dir().join(name)).unwrap();
    let n = want["n_channels"].as_u64().unwrap() as usize;
    assert_eq!(probe.n_channels(), n, "{name}");
    let pos = want["positions_um"].as_array().unwrap();
    for (c, xy) in pos.iter().enumerate() {
        let x = xy[0].as_f64().unwrap();
        let y = xy[1].as_f64().unwrap();
        let [gx, gy] = probe.position_um(c);
        assert!(
            (gx - x).abs() < 1e-9 && (gy - y).abs() < 1e-9,
            "{name} channel {c}: got [{gx}, {gy}], spikeinterface [{x}, {y}]"
        );
    }
    let r = want["contact_radius_um"].as_f64().unwrap();
    assert!(
        (probe.contact_radius_um() - r).abs() < 1e-12,
        "{name} radius"
    );
    probe
}

#[test]
fn tetrode_matches_spikeinterface() {
    check("tetrode.json");
}

#[test]
fn multi_columns_reverse_wiring_matches_spikeinterface() {
    let p = check("multi_columns.json");
    // Wired in reverse: channel 0 is the last contact (top of the third column).
    assert_eq!(p.position_um(0), [40.0, 180.0]);
}

#[test]
fn neuropixels_shuffled_wiring_with_unwired_contacts_matches_spikeinterface() {
    let p = check("np1_slice.json");
    assert_eq!(p.n_channels(), 42); // 48 contacts, 6 unwired
}

#[test]
fn probe_group_is_ordered_by_global_device_channel() {
    check("group.json");
}

#[test]
fn millimetres_are_converted_to_micrometres() {
    check("mm_units.json");
}

#[test]
fn three_d_probe_is_a_typed_error() {
    let path = dir().join("three_d.json");
    let e = read_probe(&path).unwrap_err();
    let msg = e.to_string();
    assert!(matches!(e, DataError::ProbeFile { .. }), "{e:?}");
    assert!(
        msg.contains("three_d.json") && msg.contains("to_2d"),
        "{msg}"
    );
}

#[test]
fn write_then_read_round_trips() {
    let tmp = tempfile::tempdir().unwrap();
    for name in ["np1_slice.json", "group.json", "mm_units.json"] {
        let probe = read_probe(&dir().join(name)).unwrap();
        let out = tmp.path().join(name);
        write_probe(&out, &probe, false).unwrap();
        assert_eq!(read_probe(&out).unwrap(), probe, "{name}");
        // Atomic writer: no overwrite without asking, no temporary file left behind.
        assert!(matches!(
            write_probe(&out, &probe, false),
            Err(DataError::AlreadyExists { .. })
        ));
        write_probe(&out, &probe, true).unwrap();
    }
    let left: Vec<_> = std::fs::read_dir(tmp.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".tmp"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn written_file_has_the_fields_probeinterface_requires() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("t.json");
    write_probe(&out, &Probe::tetrode(25.0), false).unwrap();
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    assert_eq!(v["specification"], "probeinterface");
    let p = &v["probes"][0];
    // Probe.from_dict needs these; the JSON schema also needs annotations and contact_ids.
    for key in [
        "ndim",
        "si_units",
        "annotations",
        "contact_positions",
        "contact_plane_axes",
        "contact_shapes",
        "contact_shape_params",
        "contact_ids",
        "device_channel_indices",
    ] {
        assert!(p.get(key).is_some(), "missing {key}");
    }
    assert_eq!(p["contact_shape_params"][0]["radius"], 6.0);
    assert_eq!(p["device_channel_indices"][3], 3);
}

fn write_tmp(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

/// Each bad file gives a `ProbeFile` error that names the file and contains `hint`.
#[test]
fn bad_files_are_typed_errors_naming_the_file_and_the_fix() {
    let tmp = tempfile::tempdir().unwrap();
    let probe = |fields: &str| {
        format!(
            r#"{{"specification": "probeinterface", "version": "0.4.2", "probes": [{{{fields}}}]}}"#
        )
    };
    let cases: Vec<(&str, String, &str)> = vec![
        ("notjson.json", "{probes".into(), "not valid JSON"),
        (
            "otherspec.json",
            r#"{"specification": "bids", "probes": []}"#.into(),
            "not \"probeinterface\"",
        ),
        ("noprobes.json", r#"{"specification": "probeinterface"}"#.into(), "no \"probes\""),
        ("empty.json", r#"{"probes": []}"#.into(), "empty"),
        (
            "nopositions.json",
            probe(r#""ndim": 2, "si_units": "um""#),
            "no \"contact_positions\"; write the file with probeinterface",
        ),
        (
            "nounits.json",
            probe(r#""ndim": 2, "contact_positions": [[0, 0]]"#),
            "no \"si_units\"",
        ),
        (
            "inches.json",
            probe(r#""ndim": 2, "si_units": "in", "contact_positions": [[0, 0]]"#),
            "use \"um\", \"mm\" or \"m\"",
        ),
        (
            "ragged.json",
            probe(r#""ndim": 2, "si_units": "um", "contact_positions": [[0, 0], [1]]"#),
            "contact_positions[1]",
        ),
        (
            "nowidth.json",
            probe(
                r#""ndim": 2, "si_units": "um", "contact_positions": [[0, 0]],
                   "contact_shapes": ["square"], "contact_shape_params": [{"radius": 3}]"#,
            ),
            "no \"width\"",
        ),
        (
            "duplicate.json",
            probe(
                r#""ndim": 2, "si_units": "um", "contact_positions": [[0, 0], [0, 20]],
                   "device_channel_indices": [0, 0]"#,
            ),
            "device channel 0 is wired to two contacts",
        ),
        (
            "gap.json",
            probe(
                r#""ndim": 2, "si_units": "um", "contact_positions": [[0, 0], [0, 20]],
                   "device_channel_indices": [0, 2]"#,
            ),
            "no contact is wired to device channel 1",
        ),
        (
            "short_wiring.json",
            probe(
                r#""ndim": 2, "si_units": "um", "contact_positions": [[0, 0], [0, 20]],
                   "device_channel_indices": [0]"#,
            ),
            "list of 2 integers",
        ),
        (
            "allunwired.json",
            probe(
                r#""ndim": 2, "si_units": "um", "contact_positions": [[0, 0]],
                   "device_channel_indices": [-1]"#,
            ),
            "no wired contacts",
        ),
        (
            "mixed.json",
            r#"{"probes": [
                {"ndim": 2, "si_units": "um", "contact_positions": [[0, 0]], "device_channel_indices": [0]},
                {"ndim": 2, "si_units": "um", "contact_positions": [[9, 0]]}]}"#
                .into(),
            "probe 0 has device_channel_indices but probe 1 has none",
        ),
    ];
    for (name, text, hint) in cases {
        let path = write_tmp(tmp.path(), name, &text);
        let e = read_probe(&path).unwrap_err();
        let msg = e.to_string();
        assert!(matches!(e, DataError::ProbeFile { .. }), "{name}: {e:?}");
        assert!(msg.contains(name), "{name}: {msg}");
        assert!(msg.contains(hint), "{name}: {msg}");
    }
    let missing = tmp.path().join("absent.json");
    assert!(matches!(read_probe(&missing), Err(DataError::Io { .. })));
}

#[test]
fn recording_takes_a_probe_with_one_contact_per_channel() {
    use ndarray::Array2;
    use spikelab_data::Recording;
    let probe = read_probe(&dir().join("np1_slice.json")).unwrap();
    let rec = Recording::new(Array2::zeros((5, 4)), 30_000.0, Probe::tetrode(20.0)).unwrap();
    let e = rec.clone().with_probe(probe).unwrap_err();
    assert!(matches!(
        e,
        DataError::ProbeChannelMismatch {
            probe_contacts: 42,
            recording_channels: 4
        }
    ));
    let tet = read_probe(&dir().join("tetrode.json")).unwrap();
    let rec = rec.with_probe(tet.clone()).unwrap();
    assert_eq!(rec.probe(), &tet);
}
