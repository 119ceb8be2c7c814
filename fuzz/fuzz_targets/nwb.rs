//! NWB 2.x files (through libhdf5): see [`spikelab_fuzz::nwb`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| spikelab_fuzz::nwb(data));
