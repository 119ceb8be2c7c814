//! Converts the original Keras weight files `model1.h5` … `model5.h5` into the safetensors
//! files that feature `embedded-weights` compiles into the library
//! (`crates/spikelab-calcium/pretrained/`). Run once; the test
//! `tests/pretrained.rs::embedded_weights_match_keras` checks the result bit for bit.
//!
//! ```text
//! cargo run -p spikelab-calcium --release --example export_pretrained -- \
//!     datasets/models/spikefinder-elephant crates/spikelab-calcium/pretrained
//! ```

use std::path::PathBuf;

use spikelab_calcium::ElephantWeights;

fn main() -> anyhow::Result<()> {
    let a: Vec<String> = std::env::args().collect();
    anyhow::ensure!(a.len() == 3, "usage: export_pretrained KERAS_DIR OUT_DIR");
    let (src, dst) = (PathBuf::from(&a[1]), PathBuf::from(&a[2]));
    for n in 1..=5 {
        let w = ElephantWeights::from_keras_h5(&src.join(format!("model{n}.h5")))?;
        let out = dst.join(format!("elephant-model{n}.safetensors"));
        w.save_safetensors(&out, true)?;
        println!("{} ({} parameters)", out.display(), w.n_params());
    }
    Ok(())
}
