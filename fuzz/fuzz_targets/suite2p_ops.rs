//! Suite2p `ops.npy` (pickled dict): see [`spikelab_fuzz::suite2p_ops`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| spikelab_fuzz::suite2p_ops(data));
