//! Keras HDF5 inputs that crashed the weight reader under `cargo fuzz` (gzipped, in
//! `tests/data/fuzz/`): each must give a typed error, never a panic or an abort.
//! `utf8-name-*`: layer names that are not UTF-8; `huge-weight-*`: a weight dataset declaring
//! far more elements than the file holds (up to 256 TiB).
#![cfg(feature = "keras-h5")]
use std::path::Path;

use spikelab_calcium::CalciumError;
use spikelab_calcium::spikenet::{SpikeNetArch, SpikeNetWeights};

fn inputs() -> Vec<(String, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/fuzz");
    let mut v: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with(".h5.gz"))
        .map(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            (name, spikelab_data::io::read_bytes_maybe_gz(&p).unwrap())
        })
        .collect();
    v.sort();
    v
}

#[test]
fn fuzz_inputs_give_typed_errors() {
    let inputs = inputs();
    assert_eq!(inputs.len(), 8);
    let tmp = tempfile::tempdir().unwrap();
    for (name, bytes) in inputs {
        let p = tmp.path().join(name.trim_end_matches(".gz"));
        std::fs::write(&p, bytes).unwrap();
        for arch in [SpikeNetArch::ELEPHANT, SpikeNetArch::CASCADE] {
            match SpikeNetWeights::from_keras_h5(&p, &arch) {
                Err(CalciumError::Weights { reason, .. }) => {
                    if name.starts_with("huge-weight") {
                        assert!(reason.contains("file can hold"), "{name}: {reason}");
                    }
                    // The message is formatted with `{:?}` by callers too.
                    let _ = format!("{reason:?}");
                }
                other => panic!("{name}: expected a weights error, got {other:?}"),
            }
        }
    }
}
