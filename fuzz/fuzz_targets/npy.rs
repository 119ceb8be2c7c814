//! NumPy `.npy` files: see [`spikelab_fuzz::npy`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| spikelab_fuzz::npy(data));
