//! Raw-recording metadata (SpikeGLX `.meta`, Open Ephys `structure.oebin`, spikelab
//! `recording.json`): see [`spikelab_fuzz::raw_meta`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| spikelab_fuzz::raw_meta(data));
