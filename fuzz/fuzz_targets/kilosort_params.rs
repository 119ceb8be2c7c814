//! Kilosort/phy `params.py`: see [`spikelab_fuzz::kilosort_params`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| spikelab_fuzz::kilosort_params(data));
