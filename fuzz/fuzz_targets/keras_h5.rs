//! Keras 2 HDF5 weight files: see [`spikelab_fuzz::keras_h5`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| spikelab_fuzz::keras_h5(data));
