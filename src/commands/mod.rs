//! One module per subcommand family.

pub mod batch;
pub mod bench;
pub mod calcium;
pub mod calcium_cascade;
pub mod calcium_embed;
pub mod convseq;
pub mod data;
pub mod decode;
pub mod decode_poyo;
pub mod demo;
pub mod lds;
pub mod neulvm;
pub mod nwb_out;
pub mod sort;
pub mod synth;
