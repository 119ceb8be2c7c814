//! probeinterface probe files (`.json`, `.json.gz`): see [`spikelab_fuzz::probe`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| spikelab_fuzz::probe(data));
