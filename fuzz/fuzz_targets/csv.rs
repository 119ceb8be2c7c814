//! Spikefinder CSV (plain and gzip): see [`spikelab_fuzz::csv`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| spikelab_fuzz::csv(data));
