//! MATLAB v5 files: see [`spikelab_fuzz::mat`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| spikelab_fuzz::mat(data));
