//! Weights of the Spikefinder-Elephant CNN: Keras 2.0 HDF5 files, our own safetensors files,
//! and Glorot-uniform initialisation.
//!
//! All arrays are stored **in the Keras layout**, row-major, float32 (the original network is
//! float32):
//!
//! | layer | kernel shape | bias |
//! |---|---|---|
//! | conv1 | `(41, 1, 50)` = (tap, in, out) | 50 |
//! | conv2 | `(21, 50, 60)` | 60 |
//! | conv3 | `(7, 60, 70)` | 70 |
//! | dense1 | `(70, 300)` = (in, out), applied per time step | 300 |
//! | dense2 | `(4200, 1)`, flatten index `t·300 + unit` | 1 |

use std::collections::HashMap;
use std::path::Path;

use candle_core::{Device, Tensor};

use crate::error::{CalciumError, Result};
use crate::spikenet::{SpikeNetArch, SpikeNetWeights};

/// Window length of the network in samples (1.28 s at 100 Hz).
pub const WINDOW: usize = 128;
/// Index inside the window that an output belongs to (25 % past / 75 % future).
pub const WINDOW_OFFSET: usize = 32;

/// Kernel shapes of the five weighted layers in Keras order.
pub const KERNEL_SHAPES: [&[usize]; 5] = [
    &[41, 1, 50],
    &[21, 50, 60],
    &[7, 60, 70],
    &[70, 300],
    &[4200, 1],
];
/// Bias lengths of the five weighted layers.
pub const BIAS_LENS: [usize; 5] = [50, 60, 70, 300, 1];
/// Layer names used in our safetensors files (and in error messages).
pub use crate::spikenet::LAYER_NAMES;

/// Number of parameters of the network (120,131).
pub const N_PARAMS: usize =
    41 * 50 + 50 + 21 * 50 * 60 + 60 + 7 * 60 * 70 + 70 + 70 * 300 + 300 + 4200 + 1;

fn werr(source: &str, reason: impl Into<String>) -> CalciumError {
    CalciumError::Weights {
        source_name: source.to_string(),
        reason: reason.into(),
    }
}

/// The 120,131 float32 parameters of the Elephant network, in Keras layout (see module docs).
///
/// ```
/// use spikelab_calcium::weights::{ElephantWeights, N_PARAMS};
/// let w = ElephantWeights::glorot_uniform(7);
/// assert_eq!(w.n_params(), N_PARAMS);
/// assert_eq!(w.kernels[1].len(), 21 * 50 * 60);
/// assert!(w.biases.iter().all(|b| b.iter().all(|&v| v == 0.0)));
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct ElephantWeights {
    /// Kernels of conv1, conv2, conv3, dense1, dense2 (row-major, shapes [`KERNEL_SHAPES`]).
    pub kernels: [Vec<f32>; 5],
    /// Biases of the same layers (lengths [`BIAS_LENS`]).
    pub biases: [Vec<f32>; 5],
}

impl ElephantWeights {
    /// Builds from kernels and biases, checking every length and that all values are finite.
    pub fn new(kernels: [Vec<f32>; 5], biases: [Vec<f32>; 5]) -> Result<Self> {
        let w = ElephantWeights { kernels, biases };
        w.validate("weights")?;
        Ok(w)
    }

    fn validate(&self, source: &str) -> Result<()> {
        crate::spikenet::check_layers(&SpikeNetArch::ELEPHANT, &self.kernels, &self.biases, source)
    }

    /// Total number of parameters.
    pub fn n_params(&self) -> usize {
        self.kernels.iter().chain(&self.biases).map(Vec::len).sum()
    }

    /// Keras' default initialisation, as in the original `model_config`: Glorot-uniform kernels
    /// (limit `√(6/(fan_in+fan_out))`, with fans `k·in` / `k·out` for convolutions) and zero
    /// biases, from a seeded ChaCha8 generator.
    pub fn glorot_uniform(seed: u64) -> Self {
        let w = SpikeNetWeights::glorot_uniform(SpikeNetArch::ELEPHANT, seed)
            .expect("the Elephant architecture constants are valid");
        ElephantWeights {
            kernels: w.kernels,
            biases: w.biases,
        }
    }

    /// Reads a Keras 2.0 HDF5 file, either the `save_weights` layout (`model1.h5`…`model5.h5`:
    /// root attribute `layer_names`) or the `model.save` layout (`model_weights/` group, as in
    /// `model_for_test_dataset1_retrained.h5`). Layer names differ between files, so the five
    /// weighted layers are mapped **by order**; any other count or shape is a
    /// [`CalciumError::Weights`].
    ///
    /// ```
    /// # #[cfg(feature = "keras-h5")] {
    /// use spikelab_calcium::weights::{ElephantWeights, N_PARAMS};
    /// let p = spikelab_datasets::elephant_model("model1.h5")?;
    /// let w = ElephantWeights::from_keras_h5(&p)?;
    /// assert_eq!(w.n_params(), N_PARAMS);
    /// # }
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[cfg(feature = "keras-h5")]
    pub fn from_keras_h5(path: &Path) -> Result<Self> {
        let w = SpikeNetWeights::from_keras_h5(path, &SpikeNetArch::ELEPHANT)?;
        Ok(ElephantWeights {
            kernels: w.kernels,
            biases: w.biases,
        })
    }

    /// The same parameters as a [`SpikeNetWeights`] of architecture [`SpikeNetArch::ELEPHANT`].
    pub fn to_spikenet(&self) -> SpikeNetWeights {
        SpikeNetWeights {
            arch: SpikeNetArch::ELEPHANT,
            kernels: self.kernels.clone(),
            biases: self.biases.clone(),
        }
    }

    /// The weights as candle tensors in Keras layout, keyed `conv1.kernel`, `conv1.bias`, ….
    pub fn to_tensors(&self, device: &Device) -> Result<HashMap<String, Tensor>> {
        let mut m = HashMap::new();
        for i in 0..5 {
            m.insert(
                format!("{}.kernel", LAYER_NAMES[i]),
                Tensor::from_slice(&self.kernels[i], KERNEL_SHAPES[i], device)?,
            );
            m.insert(
                format!("{}.bias", LAYER_NAMES[i]),
                Tensor::from_slice(&self.biases[i], BIAS_LENS[i], device)?,
            );
        }
        Ok(m)
    }

    /// Reads weights back from tensors keyed as in [`ElephantWeights::to_tensors`].
    pub fn from_tensors(tensors: &HashMap<String, Tensor>, source: &str) -> Result<Self> {
        let mut kernels: Vec<Vec<f32>> = Vec::new();
        let mut biases: Vec<Vec<f32>> = Vec::new();
        for i in 0..5 {
            for (kind, want, out) in [
                ("kernel", KERNEL_SHAPES[i].to_vec(), &mut kernels),
                ("bias", vec![BIAS_LENS[i]], &mut biases),
            ] {
                let key = format!("{}.{kind}", LAYER_NAMES[i]);
                let t = tensors
                    .get(&key)
                    .ok_or_else(|| werr(source, format!("missing tensor {key:?}")))?;
                if t.dims() != want.as_slice() {
                    return Err(werr(
                        source,
                        format!("tensor {key:?} has shape {:?}, expected {want:?}", t.dims()),
                    ));
                }
                let v: Vec<f32> = t
                    .to_dtype(candle_core::DType::F32)?
                    .flatten_all()?
                    .to_vec1()?;
                out.push(v);
            }
        }
        let w = ElephantWeights {
            kernels: kernels.try_into().expect("5 layers"),
            biases: biases.try_into().expect("5 layers"),
        };
        w.validate(source)?;
        Ok(w)
    }

    /// Saves to a safetensors file (our format for trained weights; Keras layout and names as
    /// in [`ElephantWeights::to_tensors`]). Refuses to overwrite unless `overwrite`.
    ///
    /// ```
    /// use spikelab_calcium::weights::ElephantWeights;
    /// let dir = std::env::temp_dir().join(format!("elephant-doc-{}", std::process::id()));
    /// std::fs::create_dir_all(&dir)?;
    /// let p = dir.join("w.safetensors");
    /// let w = ElephantWeights::glorot_uniform(1);
    /// w.save_safetensors(&p, true)?;
    /// assert_eq!(ElephantWeights::load_safetensors(&p)?, w);
    /// # std::fs::remove_dir_all(&dir)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn save_safetensors(&self, path: &Path, overwrite: bool) -> Result<()> {
        let t = self.to_tensors(&Device::Cpu)?;
        spikelab_data::io::write_atomic(path, overwrite, |tmp| {
            Ok::<(), crate::CalciumError>(candle_core::safetensors::save(&t, tmp)?)
        })
    }

    /// Loads a safetensors file written by [`ElephantWeights::save_safetensors`].
    pub fn load_safetensors(path: &Path) -> Result<Self> {
        let src = path.display().to_string();
        let t = candle_core::safetensors::load(path, &Device::Cpu)
            .map_err(|e| werr(&src, e.to_string()))?;
        Self::from_tensors(&t, &src)
    }

    /// Loads weights by file extension: `.safetensors` → [`ElephantWeights::load_safetensors`],
    /// `.h5`/`.hdf5` → [`ElephantWeights::from_keras_h5`] (feature `keras-h5`).
    pub fn from_file(path: &Path) -> Result<Self> {
        let name = path.to_string_lossy().to_lowercase();
        if name.ends_with(".safetensors") {
            return Self::load_safetensors(path);
        }
        #[cfg(feature = "keras-h5")]
        if name.ends_with(".h5") || name.ends_with(".hdf5") {
            return Self::from_keras_h5(path);
        }
        Err(werr(
            &path.display().to_string(),
            "unknown weight format: expected .safetensors or (with feature keras-h5) .h5",
        ))
    }

    /// The original's pretrained weights `model1.h5` … `model5.h5` (`model` 1–5; Spikefinder-
    /// Elephant, MIT), compiled into the library as safetensors (feature `embedded-weights`,
    /// 0.48 MB each) and bit-identical to the Keras files. Model 1 is the challenge entry.
    ///
    /// ```
    /// use spikelab_calcium::weights::{ElephantWeights, N_PARAMS};
    /// let w = ElephantWeights::embedded(1)?;
    /// assert_eq!(w.n_params(), N_PARAMS);
    /// assert!(ElephantWeights::embedded(6).is_err());
    /// # Ok::<(), spikelab_calcium::CalciumError>(())
    /// ```
    #[cfg(feature = "embedded-weights")]
    pub fn embedded(model: u8) -> Result<Self> {
        let bytes: &[u8] = match model {
            1 => include_bytes!("../pretrained/elephant-model1.safetensors"),
            2 => include_bytes!("../pretrained/elephant-model2.safetensors"),
            3 => include_bytes!("../pretrained/elephant-model3.safetensors"),
            4 => include_bytes!("../pretrained/elephant-model4.safetensors"),
            5 => include_bytes!("../pretrained/elephant-model5.safetensors"),
            _ => {
                return Err(CalciumError::InvalidParameter {
                    name: "model",
                    reason: format!("the embedded Elephant models are 1 to 5, got {model}"),
                });
            }
        };
        let src = format!("embedded model{model}");
        let t = candle_core::safetensors::load_buffer(bytes, &Device::Cpu)
            .map_err(|e| werr(&src, e.to_string()))?;
        Self::from_tensors(&t, &src)
    }
}
