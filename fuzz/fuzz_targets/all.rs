//! Every target in one binary (to ship one file to another machine): `SPIKELAB_FUZZ=NAME`
//! picks the target (`mat`, `npy`, `csv`, `kilosort_params`, `raw_meta`, `probe`, `nwb`, `suite2p_ops`; `nwb` with feature `hdf5`,
//! on by default; `keras_h5` with feature `calcium`).
#![no_main]

use std::sync::OnceLock;

static TARGET: OnceLock<fn(&[u8])> = OnceLock::new();

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let f =
        TARGET.get_or_init(
            || match std::env::var("SPIKELAB_FUZZ").unwrap_or_default().as_str() {
                "mat" => spikelab_fuzz::mat,
                "npy" => spikelab_fuzz::npy,
                "csv" => spikelab_fuzz::csv,
                "kilosort_params" => spikelab_fuzz::kilosort_params,
                "raw_meta" => spikelab_fuzz::raw_meta,
                "probe" => spikelab_fuzz::probe,
                #[cfg(feature = "hdf5")]
                "nwb" => spikelab_fuzz::nwb,
                "suite2p_ops" => spikelab_fuzz::suite2p_ops,
                #[cfg(feature = "calcium")]
                "keras_h5" => spikelab_fuzz::keras_h5,
                other => panic!("SPIKELAB_FUZZ={other:?}: name a target"),
            },
        );
    f(data)
});
