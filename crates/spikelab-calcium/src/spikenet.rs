//! `Conv1dSpikeNet`: the 1-D CNN family shared by Spikefinder-Elephant and CASCADE.
//!
//! Both networks are `Conv1D(f₁, k₁) → Conv1D(f₂, k₂) → MaxPool(2) → Conv1D(f₃, k₃) →
//! MaxPool(2) → Dense(e)` per time step `→ Flatten → Dense(1)`, all convolutions `valid` with
//! stride 1, ReLU everywhere but the output. A [`SpikeNetArch`] holds the sizes (a CASCADE
//! model's `config.yaml` keys `windowsize`, `before_frac`, `filter_sizes`, `filter_numbers`,
//! `dense_expansion`); [`SpikeNetWeights`] the float32 parameters in the Keras layout:
//!
//! | layer | kernel shape | bias |
//! |---|---|---|
//! | conv1 | `(k₁, 1, f₁)` = (tap, in, out) | f₁ |
//! | conv2 | `(k₂, f₁, f₂)` | f₂ |
//! | conv3 | `(k₃, f₂, f₃)` | f₃ |
//! | dense1 | `(f₃, e)` = (in, out), applied per time step | e |
//! | dense2 | `(S·e, 1)`, flatten index `step·e + unit` | 1 |
//!
//! with `S` = [`SpikeNetArch::n_steps`] time steps left after the second pool (Keras pools
//! floor odd lengths). Elephant: window 128, filters 41/21/7 × 50/60/70, e = 300, S = 14
//! (120 131 parameters); CASCADE: window 64, filters 31/19/5 × 30/40/50, e = 30, S = 2
//! (35 441 parameters).
//!
//! [`Conv1dSpikeNet::forward_windows`] evaluates every window of a trace at once with the exact
//! fully-convolutional form of `crate::fastconv` on the CPU, or window by window on candle
//! (the reference, any device).

#[cfg(feature = "keras-h5")]
use std::path::Path;

#[cfg(feature = "keras-h5")]
use spikelab_data::io::hdf5_guard::{check_dataset_size, check_size, error_text, utf8};

use candle_core::{DType, Device, Tensor};
use rand::{Rng, SeedableRng};

use crate::error::{CalciumError, Result};
use crate::fastconv::FastNet;
use crate::gpuconv::ChannelsLast;
pub use crate::gpuconv::{GpuKernels, Precision};

/// Layer names used in our files and in error messages.
pub const LAYER_NAMES: [&str; 5] = ["conv1", "conv2", "conv3", "dense1", "dense2"];

/// Sizes of a [`Conv1dSpikeNet`].
///
/// ```
/// use spikelab_calcium::spikenet::SpikeNetArch;
/// assert_eq!(SpikeNetArch::CASCADE.n_params(), 35_441);
/// assert_eq!(SpikeNetArch::ELEPHANT.n_params(), 120_131);
/// assert_eq!(SpikeNetArch::CASCADE.n_steps(), 2);
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SpikeNetArch {
    /// Input window in samples (`windowsize`).
    pub window: usize,
    /// Fraction of the window before the predicted frame (`before_frac`); the caller's
    /// alignment convention, not used by the network itself.
    pub before_frac: f64,
    /// Kernel widths of the three convolutions (`filter_sizes`).
    pub filter_sizes: [usize; 3],
    /// Output channels of the three convolutions (`filter_numbers`).
    pub filter_numbers: [usize; 3],
    /// Units of the per-step dense layer (`dense_expansion`).
    pub dense_expansion: usize,
}

impl SpikeNetArch {
    /// Spikefinder-Elephant (Rupprecht & Gerhard 2017).
    pub const ELEPHANT: SpikeNetArch = SpikeNetArch {
        window: 128,
        before_frac: 0.25,
        filter_sizes: [41, 21, 7],
        filter_numbers: [50, 60, 70],
        dense_expansion: 300,
    };
    /// The pretrained CASCADE models (Rupprecht et al. 2021) other than the GCaMP8 one.
    pub const CASCADE: SpikeNetArch = SpikeNetArch {
        window: 64,
        before_frac: 0.5,
        filter_sizes: [31, 19, 5],
        filter_numbers: [30, 40, 50],
        dense_expansion: 30,
    };

    /// Lengths after conv2 and after conv3 on the pooled grid (`None` if a layer has no output).
    fn lengths(&self) -> Option<(usize, usize)> {
        let [k1, k2, k3] = self.filter_sizes;
        let l1 = (self.window + 1).checked_sub(k1)?;
        let l2 = (l1 + 1).checked_sub(k2)?;
        let l3 = (l2 / 2 + 1).checked_sub(k3)?;
        Some((l2, l3))
    }

    /// Checks that every size is ≥ 1, `before_frac` in [0, 1] and that each layer has output.
    pub fn validate(&self) -> Result<()> {
        let bad = |reason: String| CalciumError::InvalidParameter {
            name: "network architecture",
            reason,
        };
        if self.filter_sizes.contains(&0)
            || self.filter_numbers.contains(&0)
            || self.dense_expansion == 0
        {
            return Err(bad(format!("sizes must be ≥ 1: {self:?}")));
        }
        if !(0.0..=1.0).contains(&self.before_frac) {
            return Err(bad(format!(
                "before_frac must be in [0, 1], got {}",
                self.before_frac
            )));
        }
        match self.lengths() {
            Some((_, l3)) if l3 >= 2 => Ok(()),
            _ => Err(bad(format!(
                "window {} too short for filter sizes {:?} and two pools",
                self.window, self.filter_sizes
            ))),
        }
    }

    /// Time steps after the second pool (`S`: 14 for Elephant, 2 for CASCADE). Call on a
    /// validated architecture (0 otherwise).
    pub fn n_steps(&self) -> usize {
        self.lengths().map_or(0, |(_, l3)| l3 / 2)
    }

    /// Keras kernel shapes of conv1, conv2, conv3, dense1, dense2.
    pub fn kernel_shapes(&self) -> [Vec<usize>; 5] {
        let [k1, k2, k3] = self.filter_sizes;
        let [f1, f2, f3] = self.filter_numbers;
        let e = self.dense_expansion;
        [
            vec![k1, 1, f1],
            vec![k2, f1, f2],
            vec![k3, f2, f3],
            vec![f3, e],
            vec![self.n_steps() * e, 1],
        ]
    }

    /// Bias lengths of the same layers.
    pub fn bias_lens(&self) -> [usize; 5] {
        let [f1, f2, f3] = self.filter_numbers;
        [f1, f2, f3, self.dense_expansion, 1]
    }

    /// Number of parameters.
    pub fn n_params(&self) -> usize {
        let k: usize = self
            .kernel_shapes()
            .iter()
            .map(|s| s.iter().product::<usize>())
            .sum();
        k + self.bias_lens().iter().sum::<usize>()
    }

    /// Multiply-adds per output sample of the fully-convolutional evaluation.
    pub fn macs_per_sample(&self) -> usize {
        let [k1, k2, k3] = self.filter_sizes;
        let [f1, f2, f3] = self.filter_numbers;
        let e = self.dense_expansion;
        k1 * f1 + k2 * f1 * f2 + k3 * f2 * f3 + f3 * e + self.n_steps() * e
    }
}

/// Checks that `kernels`/`biases` have the lengths of `arch` and hold only finite values.
pub(crate) fn check_layers(
    arch: &SpikeNetArch,
    kernels: &[Vec<f32>; 5],
    biases: &[Vec<f32>; 5],
    source: &str,
) -> Result<()> {
    let shapes = arch.kernel_shapes();
    let lens = arch.bias_lens();
    for i in 0..5 {
        let want: usize = shapes[i].iter().product();
        if kernels[i].len() != want {
            return Err(werr(
                source,
                format!(
                    "{} kernel has {} values, expected {:?} = {want}",
                    LAYER_NAMES[i],
                    kernels[i].len(),
                    shapes[i]
                ),
            ));
        }
        if biases[i].len() != lens[i] {
            return Err(werr(
                source,
                format!(
                    "{} bias has {} values, expected {}",
                    LAYER_NAMES[i],
                    biases[i].len(),
                    lens[i]
                ),
            ));
        }
        if kernels[i].iter().chain(&biases[i]).any(|v| !v.is_finite()) {
            return Err(werr(
                source,
                format!("{} has non-finite values", LAYER_NAMES[i]),
            ));
        }
    }
    Ok(())
}

pub(crate) fn werr(source: &str, reason: impl Into<String>) -> CalciumError {
    CalciumError::Weights {
        source_name: source.to_string(),
        reason: reason.into(),
    }
}

/// The float32 parameters of a [`Conv1dSpikeNet`] in Keras layout (see module docs).
#[derive(Debug, Clone, PartialEq)]
pub struct SpikeNetWeights {
    /// The sizes.
    pub arch: SpikeNetArch,
    /// Kernels of conv1, conv2, conv3, dense1, dense2 (row-major,
    /// [`SpikeNetArch::kernel_shapes`]).
    pub kernels: [Vec<f32>; 5],
    /// Biases of the same layers ([`SpikeNetArch::bias_lens`]).
    pub biases: [Vec<f32>; 5],
}

impl SpikeNetWeights {
    /// Builds from kernels and biases, checking the architecture, every length and that all
    /// values are finite.
    pub fn new(arch: SpikeNetArch, kernels: [Vec<f32>; 5], biases: [Vec<f32>; 5]) -> Result<Self> {
        let w = SpikeNetWeights {
            arch,
            kernels,
            biases,
        };
        w.validate("weights")?;
        Ok(w)
    }

    pub(crate) fn validate(&self, source: &str) -> Result<()> {
        self.arch.validate()?;
        check_layers(&self.arch, &self.kernels, &self.biases, source)
    }

    /// Total number of parameters.
    pub fn n_params(&self) -> usize {
        self.kernels.iter().chain(&self.biases).map(Vec::len).sum()
    }

    /// Keras' default initialisation: Glorot-uniform kernels (limit `√(6/(fan_in+fan_out))`,
    /// fans `k·in` / `k·out` for convolutions) and zero biases, from a seeded ChaCha8 generator.
    pub fn glorot_uniform(arch: SpikeNetArch, seed: u64) -> Result<Self> {
        arch.validate()?;
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let kernels = arch.kernel_shapes().map(|shape| {
            let (fan_in, fan_out) = match shape.len() {
                3 => (shape[0] * shape[1], shape[0] * shape[2]),
                _ => (shape[0], shape[1]),
            };
            let limit = (6.0 / (fan_in + fan_out) as f64).sqrt() as f32;
            let n: usize = shape.iter().product();
            (0..n).map(|_| rng.random_range(-limit..limit)).collect()
        });
        let biases = arch.bias_lens().map(|n| vec![0.0f32; n]);
        Ok(SpikeNetWeights {
            arch,
            kernels,
            biases,
        })
    }

    /// Reads a Keras HDF5 file written by `save_weights` (root attribute `layer_names`) or by
    /// `model.save` (`model_weights/` group) — Keras 2.0/2.1 (Elephant, the CASCADE zoo) and
    /// TF 2.x Keras 2.x files alike (fixed or variable-length string attributes, weight names
    /// with or without a layer prefix). Layer names differ between files, so the five weighted
    /// layers are mapped **by order**, and their shapes must be those of `arch`; anything else
    /// is a [`CalciumError::Weights`].
    ///
    /// ```
    /// # #[cfg(feature = "keras-h5")] {
    /// use spikelab_calcium::spikenet::{SpikeNetArch, SpikeNetWeights};
    /// let dir = spikelab_datasets::path("models/cascade/Global_EXC_30Hz_smoothing50ms_causalkernel")?;
    /// let w = SpikeNetWeights::from_keras_h5(
    ///     &dir.join("Model_NoiseLevel_2_Ensemble_0.h5"),
    ///     &SpikeNetArch::CASCADE,
    /// )?;
    /// assert_eq!(w.n_params(), 35_441);
    /// # }
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[cfg(feature = "keras-h5")]
    pub fn from_keras_h5(path: &Path, arch: &SpikeNetArch) -> Result<Self> {
        arch.validate()?;
        let layers = read_keras_layers(path)?;
        Self::from_keras_layers(layers, arch, &path.display().to_string())
    }

    /// The layers of a Keras weight file, as read by any HDF5 reader (`layer_names` order,
    /// each with its `weight_names` arrays), mapped to the network: weightless layers are
    /// skipped, the five weighted ones (kernel + bias each) are taken **by order** and their
    /// shapes must be those of `arch`. `source` names the file in errors
    /// ([`CalciumError::Weights`]). [`SpikeNetWeights::from_keras_h5`] reads with libhdf5 and
    /// calls this; the Python package reads with h5py.
    pub fn from_keras_layers(
        layers: Vec<KerasLayer>,
        arch: &SpikeNetArch,
        source: &str,
    ) -> Result<Self> {
        let src = source;
        arch.validate()?;
        let shapes = arch.kernel_shapes();
        let lens = arch.bias_lens();
        let mut weighted = Vec::new();
        for l in layers {
            match l.weights.len() {
                0 => {}
                2 => weighted.push(l),
                n => {
                    return Err(werr(
                        src,
                        format!(
                            "layer {:?} has {n} weights: every weighted layer of the network has a kernel and a bias",
                            l.name
                        ),
                    ));
                }
            }
        }
        if weighted.len() != 5 {
            return Err(werr(
                src,
                format!(
                    "found {} weighted layers, the network has 5 (conv, conv, conv, dense, dense)",
                    weighted.len()
                ),
            ));
        }
        let mut kernels: Vec<Vec<f32>> = Vec::new();
        let mut biases: Vec<Vec<f32>> = Vec::new();
        for (idx, l) in weighted.into_iter().enumerate() {
            let [kernel, bias]: [KerasWeight; 2] = l.weights.try_into().expect("2 checked");
            if kernel.shape != shapes[idx] {
                return Err(werr(
                    src,
                    format!(
                        "layer {:?} ({}): kernel has shape {:?}, expected {:?} (another architecture?)",
                        l.name, LAYER_NAMES[idx], kernel.shape, shapes[idx]
                    ),
                ));
            }
            if bias.shape.as_slice() != [lens[idx]] {
                return Err(werr(
                    src,
                    format!(
                        "layer {:?} ({}): bias has shape {:?}, expected [{}]",
                        l.name, LAYER_NAMES[idx], bias.shape, lens[idx]
                    ),
                ));
            }
            for w in [&kernel, &bias] {
                let n: usize = w.shape.iter().product();
                if w.values.len() != n {
                    return Err(werr(
                        src,
                        format!(
                            "layer {:?} weight {:?}: {} values for shape {:?}",
                            l.name,
                            w.name,
                            w.values.len(),
                            w.shape
                        ),
                    ));
                }
            }
            kernels.push(kernel.values);
            biases.push(bias.values);
        }
        let w = SpikeNetWeights {
            arch: *arch,
            kernels: kernels.try_into().expect("5 checked"),
            biases: biases.try_into().expect("5 checked"),
        };
        w.validate(src)?;
        Ok(w)
    }

    /// Writes the weights as a Keras HDF5 weight file in the `save_weights` layout (root
    /// attribute `layer_names`; per layer a group with attribute `weight_names` and datasets
    /// `<layer>/kernel:0`, `<layer>/bias:0`; TF 2.x layer names `conv1d`, `conv1d_1`,
    /// `conv1d_2`, `dense`, `dense_1`), which [`SpikeNetWeights::from_keras_h5`] reads back
    /// bit for bit. An existing file is replaced.
    ///
    /// ```
    /// # #[cfg(feature = "keras-h5")] {
    /// use spikelab_calcium::spikenet::{SpikeNetArch, SpikeNetWeights};
    /// let dir = tempfile::tempdir()?;
    /// let p = dir.path().join("w.h5");
    /// let w = SpikeNetWeights::glorot_uniform(SpikeNetArch::CASCADE, 3)?;
    /// w.save_keras_h5(&p)?;
    /// assert_eq!(SpikeNetWeights::from_keras_h5(&p, &SpikeNetArch::CASCADE)?, w);
    /// # }
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[cfg(feature = "keras-h5")]
    pub fn save_keras_h5(&self, path: &Path) -> Result<()> {
        use hdf5::types::VarLenUnicode;
        let src = path.display().to_string();
        let h = |e: hdf5::Error| werr(&src, error_text(&e));
        let vl = |v: &[String]| -> Result<Vec<VarLenUnicode>> {
            v.iter()
                .map(|s| {
                    s.parse::<VarLenUnicode>()
                        .map_err(|e| werr(&src, e.to_string()))
                })
                .collect()
        };
        let names: Vec<String> = ["conv1d", "conv1d_1", "conv1d_2", "dense", "dense_1"]
            .iter()
            .map(|s| (*s).to_string())
            .collect();
        let file = hdf5::File::create(path).map_err(h)?;
        let ln = vl(&names)?;
        file.new_attr::<VarLenUnicode>()
            .shape(ln.len())
            .create("layer_names")
            .map_err(h)?
            .write_raw(&ln)
            .map_err(h)?;
        let shapes = self.arch.kernel_shapes();
        let lens = self.arch.bias_lens();
        for (i, lname) in names.iter().enumerate() {
            let g = file.create_group(lname).map_err(h)?;
            let wn = vl(&[format!("{lname}/kernel:0"), format!("{lname}/bias:0")])?;
            g.new_attr::<VarLenUnicode>()
                .shape(2)
                .create("weight_names")
                .map_err(h)?
                .write_raw(&wn)
                .map_err(h)?;
            let inner = g.create_group(lname).map_err(h)?;
            inner
                .new_dataset::<f32>()
                .shape(shapes[i].clone())
                .create("kernel:0")
                .map_err(h)?
                .write_raw(&self.kernels[i])
                .map_err(h)?;
            inner
                .new_dataset::<f32>()
                .shape(lens[i])
                .create("bias:0")
                .map_err(h)?
                .write_raw(&self.biases[i])
                .map_err(h)?;
        }
        file.close().map_err(h)?;
        Ok(())
    }

    /// The weights as candle tensors in Keras layout, keyed `conv1.kernel`, `conv1.bias`, ….
    pub fn to_tensors(&self, device: &Device) -> Result<std::collections::HashMap<String, Tensor>> {
        let shapes = self.arch.kernel_shapes();
        let lens = self.arch.bias_lens();
        let mut m = std::collections::HashMap::new();
        for i in 0..5 {
            m.insert(
                format!("{}.kernel", LAYER_NAMES[i]),
                Tensor::from_slice(&self.kernels[i], shapes[i].as_slice(), device)?,
            );
            m.insert(
                format!("{}.bias", LAYER_NAMES[i]),
                Tensor::from_slice(&self.biases[i], lens[i], device)?,
            );
        }
        Ok(m)
    }
}

/// One weight array of a Keras HDF5 layer (row-major float32 values).
#[derive(Debug, Clone, PartialEq)]
pub struct KerasWeight {
    /// Its name in the layer's `weight_names` (e.g. `conv1d/kernel:0`).
    pub name: String,
    /// The dataset's shape.
    pub shape: Vec<usize>,
    /// The values, row-major.
    pub values: Vec<f32>,
}

/// One layer of a Keras HDF5 weight file: its name in `layer_names` and its weights in
/// `weight_names` order (none for a weightless layer).
#[derive(Debug, Clone, PartialEq)]
pub struct KerasLayer {
    /// The layer's name.
    pub name: String,
    /// Its weights.
    pub weights: Vec<KerasWeight>,
}

/// The layers of a Keras HDF5 file, in `layer_names` order.
#[cfg(feature = "keras-h5")]
pub(crate) fn read_keras_layers(path: &Path) -> Result<Vec<KerasLayer>> {
    let src = path.display().to_string();
    let h = |e: hdf5::Error| werr(&src, error_text(&e));
    let file = hdf5::File::open(path).map_err(h)?;
    let root: hdf5::Group = if has_attr(&file, "layer_names").map_err(h)? {
        (*file).clone()
    } else if file.link_exists("model_weights") {
        file.group("model_weights").map_err(h)?
    } else {
        return Err(werr(
            &src,
            "no `layer_names` attribute and no `model_weights` group: not a Keras HDF5 weight file",
        ));
    };
    let layer_names = read_str_attr(&root, "layer_names").map_err(|e| werr(&src, e))?;
    let mut out = Vec::new();
    for lname in &layer_names {
        let g = root
            .group(lname)
            .map_err(|e| werr(&src, format!("layer {lname:?}: {}", error_text(&e))))?;
        let wnames = if has_attr(&g, "weight_names").map_err(h)? {
            read_str_attr(&g, "weight_names")
                .map_err(|e| werr(&src, format!("layer {lname:?}: {e}")))?
        } else {
            Vec::new()
        };
        let mut weights = Vec::new();
        for wn in &wnames {
            let what = |e: String| werr(&src, format!("layer {lname:?} weight {wn:?}: {e}"));
            let ds = g.dataset(wn).map_err(|e| what(error_text(&e)))?;
            check_dataset_size(&ds).map_err(what)?;
            let values: Vec<f32> = ds.read_raw().map_err(|e| what(error_text(&e)))?;
            weights.push(KerasWeight {
                name: wn.clone(),
                shape: ds.shape(),
                values,
            });
        }
        out.push(KerasLayer {
            name: lname.clone(),
            weights,
        });
    }
    Ok(out)
}

#[cfg(feature = "keras-h5")]
fn has_attr(g: &hdf5::Group, name: &str) -> hdf5::Result<bool> {
    Ok(g.attr_names()?.iter().any(|n| n == name))
}

/// A string-array attribute in any encoding Keras/h5py write; bytes that are not UTF-8 are
/// replaced, so names from a corrupt file are safe to format.
#[cfg(feature = "keras-h5")]
fn read_str_attr(g: &hdf5::Group, name: &str) -> std::result::Result<Vec<String>, String> {
    use hdf5::types::{FixedAscii, FixedUnicode, VarLenAscii, VarLenUnicode};
    let a = g
        .attr(name)
        .map_err(|e| format!("attribute {name}: {}", error_text(&e)))?;
    check_size(&a, 1).map_err(|e| format!("attribute {name} {e}"))?;
    if a.size() == 0 {
        // Keras writes `weight_names` of weightless layers as an empty float array.
        return Ok(Vec::new());
    }
    if let Ok(v) = a.read_raw::<FixedAscii<256>>() {
        return Ok(v.iter().map(|s| utf8(s.as_bytes())).collect());
    }
    if let Ok(v) = a.read_raw::<FixedUnicode<256>>() {
        return Ok(v.iter().map(|s| utf8(s.as_bytes())).collect());
    }
    if let Ok(v) = a.read_raw::<VarLenUnicode>() {
        return Ok(v.iter().map(|s| utf8(s.as_bytes())).collect());
    }
    let v = a
        .read_raw::<VarLenAscii>()
        .map_err(|e| format!("attribute {name}: {}", error_text(&e)))?;
    Ok(v.iter().map(|s| utf8(s.as_bytes())).collect())
}

/// The output layer's Keras kernel `(S·e, 1)` (row `step·e + unit`) as `[e, S]`: column `s`
/// projects one pooled step onto tap `s` of the dilation-4 output convolution of the
/// fully-convolutional form.
pub(crate) fn output_kernel_by_tap(arch: &SpikeNetArch, dense2: &Tensor) -> Result<Tensor> {
    let (steps, e) = (arch.n_steps(), arch.dense_expansion);
    Ok(dense2.reshape((steps, e))?.t()?.contiguous()?)
}

/// Candle tensors of the weights in the layouts candle's ops want (per-window reference,
/// fully-convolutional GPU path, training).
#[derive(Debug, Clone)]
pub(crate) struct CandleParams {
    pub arch: SpikeNetArch,
    /// conv kernels as (out, in, k).
    pub conv: [Tensor; 3],
    pub conv_b: [Tensor; 3],
    /// dense1 (f₃, e), dense2 (S·e, 1).
    pub dense1: Tensor,
    pub dense1_b: Tensor,
    pub dense2: Tensor,
    pub dense2_b: Tensor,
    /// Convolutions whose gradients are right, for training: on the CPU a batch convolved as
    /// one long sample ([`conv1d_batch_as_one`]), elsewhere an unfold and a matrix product
    /// ([`conv1d_unfold`]).
    pub training: bool,
}

/// `x.conv1d(k)` (no padding, stride 1) of a batch `[b, c, l]` computed as one sample of
/// length `b·l` whose outputs across the joins are dropped. Same values as the batched op;
/// the point is the backward pass. In candle 0.11.1, for a batch of more than one sample and
/// more than one output channel:
/// - the kernel gradient is wrong on the CPU and on CUDA: it is a `conv1d` whose kernel is
///   the transposed output gradient, and `conv1d` reads a non-contiguous kernel as if it
///   were contiguous (huggingface/candle#3836 for the CPU, #3853 for CUDA);
/// - on the CPU the input gradient at dilation 1 (`conv_transpose1d` through col2im) is
///   wrong too.
///
/// With one sample the transposed gradient is contiguous and both are right (tests
/// `per_window_gradient_matches_finite_differences`, `pieces_gradient_matches_finite_differences`
/// and `candle_batched_conv1d_gradients_are_still_wrong`, which fails once candle is fixed).
fn conv1d_batch_as_one(x: &Tensor, k: &Tensor, dilation: usize) -> Result<Tensor> {
    let (b, c, l) = x.dims3()?;
    let span = (k.dim(2)? - 1) * dilation;
    let xs = x.transpose(0, 1)?.contiguous()?.reshape((1, c, b * l))?;
    let y = xs
        .conv1d(k, 0, 1, dilation, 1)?
        .pad_with_zeros(2, 0, span)?;
    let o = y.dim(1)?;
    Ok(y.reshape((o, b, l))?
        .narrow(2, 0, l - span)?
        .transpose(0, 1)?
        .contiguous()?)
}

/// `x.conv1d(k)` (no padding, stride 1) of `[b, c, l]` with `k` `[o, c, taps]` as an unfold
/// (`taps` shifted views stacked to `[b, c·taps, l_out]`) and one batched matrix product:
/// every op has a correct backward in candle 0.11.1. The training path on GPUs: there
/// [`conv1d_batch_as_one`] is slow, its kernel gradient being a `conv1d` with `b·l_out` taps.
pub(crate) fn conv1d_unfold(x: &Tensor, k: &Tensor, dilation: usize) -> Result<Tensor> {
    let (b, c, l) = x.dims3()?;
    let (o, _, taps) = k.dims3()?;
    let lo = l - dilation * (taps - 1);
    let cols = (0..taps)
        .map(|j| x.narrow(2, j * dilation, lo))
        .collect::<candle_core::Result<Vec<_>>>()?;
    let u = Tensor::stack(&cols, 2)?.reshape((b, c * taps, lo))?;
    Ok(k.reshape((o, c * taps))?.broadcast_matmul(&u)?)
}

impl CandleParams {
    /// For training: convolutions whose gradients are right on every device.
    pub(crate) fn for_training(mut self) -> Self {
        self.training = true;
        self
    }

    /// From Keras-layout tensors (kernels (k, in, out) / (in, out)), keeping autograd links.
    pub(crate) fn from_keras(
        arch: &SpikeNetArch,
        k: &[Tensor; 5],
        b: &[Tensor; 5],
    ) -> Result<Self> {
        let conv = [
            k[0].permute((2, 1, 0))?.contiguous()?,
            k[1].permute((2, 1, 0))?.contiguous()?,
            k[2].permute((2, 1, 0))?.contiguous()?,
        ];
        Ok(CandleParams {
            arch: *arch,
            conv,
            conv_b: [b[0].clone(), b[1].clone(), b[2].clone()],
            dense1: k[3].clone(),
            dense1_b: b[3].clone(),
            dense2: k[4].clone(),
            dense2_b: b[4].clone(),
            training: false,
        })
    }

    pub(crate) fn new(w: &SpikeNetWeights, device: &Device) -> Result<Self> {
        let t = w.to_tensors(device)?;
        let k: [Tensor; 5] =
            std::array::from_fn(|i| t[&format!("{}.kernel", LAYER_NAMES[i])].clone());
        let b: [Tensor; 5] =
            std::array::from_fn(|i| t[&format!("{}.bias", LAYER_NAMES[i])].clone());
        Self::from_keras(&w.arch, &k, &b)
    }

    fn conv_relu(&self, x: &Tensor, i: usize, dilation: usize) -> Result<Tensor> {
        let batched = x.dim(0)? > 1;
        let y = match (self.training, x.device().is_cpu()) {
            (true, false) => conv1d_unfold(x, &self.conv[i], dilation)?,
            (true, true) if batched => conv1d_batch_as_one(x, &self.conv[i], dilation)?,
            _ => x.conv1d(&self.conv[i], 0, 1, dilation, 1)?,
        };
        Ok(y.broadcast_add(&self.conv_b[i].reshape((1, (), 1))?)?
            .relu()?)
    }

    /// Keras `MaxPooling1D(2)` on `[b, c, l]`: floors odd lengths.
    fn pool(x: &Tensor) -> Result<Tensor> {
        let (b, c, l) = x.dims3()?;
        let x = if l % 2 == 1 {
            x.narrow(2, 0, l - 1)?
        } else {
            x.clone()
        };
        Ok(x.reshape((b, c, l / 2, 2))?.max(3)?)
    }

    /// Per-window forward pass: `x` is `[batch, window]` f32, the result `[batch]`.
    pub(crate) fn forward_windows(&self, x: &Tensor) -> Result<Tensor> {
        let b = x.dim(0)?;
        let x = x.reshape((b, 1, self.arch.window))?;
        let h = self.conv_relu(&x, 0, 1)?;
        let h = self.conv_relu(&h, 1, 1)?;
        let h = Self::pool(&h)?;
        let h = self.conv_relu(&h, 2, 1)?;
        let h = Self::pool(&h)?; // [b, f3, S]
        let h = h.transpose(1, 2)?.contiguous()?; // [b, S, f3]
        let h = h
            .broadcast_matmul(&self.dense1)?
            .broadcast_add(&self.dense1_b)?
            .relu()?; // [b, S, e]
        let h = h.reshape((b, ()))?; // flatten: step·e + unit
        let y = h.matmul(&self.dense2)?.broadcast_add(&self.dense2_b)?;
        Ok(y.reshape(b)?)
    }

    /// Fully-convolutional forward pass of a batch of equal-length pieces `z` `[b, n]` (f32)
    /// with candle ops, differentiable: the result `[b, n − window + 1]` holds the outputs of
    /// every window of each piece (training on contiguous runs of windows).
    pub(crate) fn forward_full_batch(&self, z: &Tensor) -> Result<Tensor> {
        let (b, n) = z.dims2()?;
        let n_out = (n + 1)
            .checked_sub(self.arch.window)
            .filter(|&m| m > 0)
            .ok_or_else(|| CalciumError::InvalidInput {
                what: "training piece".into(),
                reason: format!("{n} samples, shorter than the window {}", self.arch.window),
            })?;
        let x = z.reshape((b, 1, n))?;
        // Conv 1 and 2, max-pool 2 as a stride-1 pairwise maximum, conv 3 with dilation 2,
        // max-pool again as a maximum at gap 2.
        let h1 = self.conv_relu(&x, 0, 1)?;
        let h2 = self.conv_relu(&h1, 1, 1)?;
        let l2 = h2.dim(2)?;
        let m1 = h2
            .narrow(2, 0, l2 - 1)?
            .maximum(&h2.narrow(2, 1, l2 - 1)?)?;
        let c3 = self.conv_relu(&m1, 2, 2)?;
        let l3 = c3.dim(2)?;
        let m2 = c3
            .narrow(2, 0, l3 - 2)?
            .maximum(&c3.narrow(2, 2, l3 - 2)?)?; // [b, f3, n_d]
        let d = m2
            .transpose(1, 2)?
            .contiguous()?
            .broadcast_matmul(&self.dense1)?
            .broadcast_add(&self.dense1_b)?
            .relu()?; // [b, n_d, e]
        let k5 = output_kernel_by_tap(&self.arch, &self.dense2)?.unsqueeze(0)?; // [1, e, S]
        let dt = d.transpose(1, 2)?.contiguous()?; // [b, e, n_d]
        let y = dt.conv1d(&k5, 0, 1, 4, 1)?.squeeze(1)?; // [b, ≥ n_out]
        Ok(y.narrow(1, 0, n_out)?.broadcast_add(&self.dense2_b)?)
    }
}

/// `value` if it is ≥ 1, else the parameter error naming `name`.
fn at_least_one(name: &'static str, value: usize) -> Result<usize> {
    if value == 0 {
        return Err(CalciumError::InvalidParameter {
            name,
            reason: "must be ≥ 1".into(),
        });
    }
    Ok(value)
}

/// Default windows per batch row of the cuDNN evaluation.
const DEFAULT_GPU_SEGMENT_WINDOWS: usize = 360_000;

/// Which evaluation of the network to use. Both give the same numbers to ≲1e-5.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Evaluation {
    /// One window per output, as Keras `predict` does: the reference, on candle (any device).
    PerWindow,
    /// The exact fully-convolutional form: on the CPU our gemm-based kernel, on a GPU device
    /// the same maths on the chosen [`GpuKernels`] (in the chosen [`Precision`]).
    #[default]
    FullyConvolutional,
}

/// A network of the Elephant/CASCADE family with loaded weights.
///
/// ```
/// use spikelab_calcium::spikenet::{Conv1dSpikeNet, SpikeNetArch, SpikeNetWeights};
/// let net = Conv1dSpikeNet::new(SpikeNetWeights::glorot_uniform(SpikeNetArch::CASCADE, 1)?);
/// let x: Vec<f32> = (0..200).map(|i| (i as f32 * 0.1).sin()).collect();
/// let y = net.forward_windows(&[&x])?.remove(0);
/// assert_eq!(y.len(), 200 - 64 + 1); // one output per window start
/// # Ok::<(), spikelab_calcium::CalciumError>(())
/// ```
#[derive(Debug, Clone)]
pub struct Conv1dSpikeNet {
    weights: SpikeNetWeights,
    fast: FastNet,
    evaluation: Evaluation,
    device: Device,
    batch_size: usize,
    candle_kernels: bool,
    chunk_outputs: usize,
    precision: Precision,
    gpu_kernels: GpuKernels,
    gpu_segment_windows: usize,
}

impl Conv1dSpikeNet {
    /// A network with the given weights, fully-convolutional evaluation on the CPU.
    pub fn new(weights: SpikeNetWeights) -> Self {
        let fast = FastNet::new(&weights);
        Conv1dSpikeNet {
            weights,
            fast,
            evaluation: Evaluation::default(),
            device: Device::Cpu,
            batch_size: 4096,
            candle_kernels: false,
            chunk_outputs: crate::fastconv::CHUNK_OUTPUTS,
            precision: Precision::F32,
            gpu_kernels: GpuKernels::default(),
            gpu_segment_windows: DEFAULT_GPU_SEGMENT_WINDOWS,
        }
    }

    /// Chooses the evaluation (default: fully convolutional).
    pub fn with_evaluation(mut self, evaluation: Evaluation) -> Self {
        self.evaluation = evaluation;
        self
    }

    /// Runs on another candle device. On the CPU the fully-convolutional evaluation uses our
    /// gemm kernel; elsewhere candle ops.
    pub fn with_device(mut self, device: Device) -> Self {
        self.device = device;
        self
    }

    /// Uses candle's ops for the fully-convolutional evaluation even on the CPU (the code path
    /// GPUs take; a cross-check).
    pub fn with_candle_kernels(mut self, yes: bool) -> Self {
        self.candle_kernels = yes;
        self
    }

    /// The arithmetic of the candle fully-convolutional evaluation (GPUs, or the CPU with
    /// [`with_candle_kernels`](Self::with_candle_kernels)); default [`Precision::F32`]. The
    /// CPU gemm kernel is always f32.
    pub fn with_precision(mut self, precision: Precision) -> Self {
        self.precision = precision;
        self
    }

    /// The precision of the candle fully-convolutional evaluation.
    pub fn precision(&self) -> Precision {
        self.precision
    }

    /// The kernels of the fully-convolutional evaluation on a CUDA device (default
    /// [`GpuKernels::CudnnChannelsFirst`] with the `cudnn` feature, else
    /// [`GpuKernels::Unfold`]). Asking for cuDNN in a build without it is an error when the
    /// network runs on a CUDA device.
    pub fn with_gpu_kernels(mut self, gpu_kernels: GpuKernels) -> Self {
        self.gpu_kernels = gpu_kernels;
        self
    }

    /// The kernels of the fully-convolutional evaluation on a CUDA device.
    pub fn gpu_kernels(&self) -> GpuKernels {
        self.gpu_kernels
    }

    /// Windows per batch row of the cuDNN evaluation: the recording is cut into segments of
    /// this many windows (plus `window − 1` samples of overlap) that cuDNN convolves as one
    /// batch (default 360 000). Results do not depend on it.
    pub fn with_gpu_segment_windows(mut self, windows: usize) -> Result<Self> {
        self.gpu_segment_windows = at_least_one("gpu_segment_windows", windows)?;
        Ok(self)
    }

    /// Windows per chunk of the CPU fully-convolutional kernel (default 4096).
    pub fn with_chunk_outputs(mut self, chunk_outputs: usize) -> Result<Self> {
        self.chunk_outputs = at_least_one("chunk_outputs", chunk_outputs)?;
        Ok(self)
    }

    /// Windows per batch for the per-window evaluation (default 4096).
    pub fn with_batch_size(mut self, batch_size: usize) -> Result<Self> {
        self.batch_size = at_least_one("batch_size", batch_size)?;
        Ok(self)
    }

    /// The weights.
    pub fn weights(&self) -> &SpikeNetWeights {
        &self.weights
    }

    /// The sizes.
    pub fn arch(&self) -> &SpikeNetArch {
        &self.weights.arch
    }

    /// The evaluation in use.
    pub fn evaluation(&self) -> Evaluation {
        self.evaluation
    }

    /// The windows per call that keep results independent of how a trace is cut into
    /// pieces starting at multiples of it: the CPU kernel's chunk or the per-window batch;
    /// `None` for candle's fully-convolutional form, which evaluates every window exactly
    /// whatever the cut.
    pub(crate) fn piece_granularity(&self) -> Option<usize> {
        match (self.evaluation, &self.device) {
            (Evaluation::FullyConvolutional, Device::Cpu) if !self.candle_kernels => {
                Some(self.chunk_outputs)
            }
            (Evaluation::FullyConvolutional, _) => None,
            (Evaluation::PerWindow, _) => Some(self.batch_size),
        }
    }

    /// Raw outputs of the first `n_out(n)` windows (window `j` = `x[j..j+window]`) of each
    /// f32 trace of length `n`; `n_out(n) ≤ n − window + 1`.
    pub(crate) fn forward_with(
        &self,
        traces: &[&[f32]],
        n_out: impl Fn(usize) -> usize + Copy,
    ) -> Result<Vec<Vec<f32>>> {
        let win = self.weights.arch.window;
        match (self.evaluation, &self.device) {
            (Evaluation::FullyConvolutional, Device::Cpu) if !self.candle_kernels => Ok(self
                .fast
                .forward_many_with(traces, self.chunk_outputs, n_out)),
            (Evaluation::FullyConvolutional, dev) => {
                let total: usize = traces.iter().map(|t| t.len()).sum();
                if total < win {
                    return Ok(traces.iter().map(|_| Vec::new()).collect());
                }
                let x = crate::gpuconv::stream_to_device(traces, dev)?;
                let out = self.forward_stream(&x)?;
                crate::gpuconv::split_per_trace_from(traces, &out, win, n_out)
            }
            (Evaluation::PerWindow, dev) => {
                let p = CandleParams::new(&self.weights, dev)?;
                traces
                    .iter()
                    .map(|z| self.forward_windows_one(&p, z, n_out(z.len()), win, dev))
                    .collect()
            }
        }
    }

    /// Raw outputs of every window of equal-length traces held on a device, with no copy
    /// through the host: `x` `[traces, samples]` f32 → `[traces, samples − window + 1]` f32 on
    /// `x`'s device (for GPU pipelines, and the throughput that compares with PyTorch's peer,
    /// which keeps its data on the GPU). Fully-convolutional: the chosen [`GpuKernels`] and
    /// [`Precision`] on a CUDA device, candle's unfold ops elsewhere.
    ///
    /// ```
    /// use candle_core::{Device, Tensor};
    /// use spikelab_calcium::spikenet::{Conv1dSpikeNet, SpikeNetArch, SpikeNetWeights};
    /// let net = Conv1dSpikeNet::new(SpikeNetWeights::glorot_uniform(SpikeNetArch::CASCADE, 1)?);
    /// let x: Vec<f32> = (0..600).map(|i| (i as f32 * 0.1).sin()).collect();
    /// let y = net.forward_windows_on_device(&Tensor::from_vec(x.clone(), (2, 300), &Device::Cpu)?)?;
    /// assert_eq!(y.dims(), &[2, 300 - 64 + 1]);
    /// let host = net.forward_windows(&[&x[300..]])?.remove(0);
    /// let row: Vec<f32> = y.get(1)?.to_vec1()?;
    /// assert!(row.iter().zip(&host).all(|(a, b)| (a - b).abs() < 1e-4));
    /// # Ok::<(), spikelab_calcium::CalciumError>(())
    /// ```
    pub fn forward_windows_on_device(&self, x: &Tensor) -> Result<Tensor> {
        let win = self.weights.arch.window;
        let (traces, samples) = x.dims2()?;
        if samples < win || traces == 0 {
            return Err(CalciumError::InvalidInput {
                what: "traces on the device".into(),
                reason: format!(
                    "[{traces}, {samples}]: need ≥ 1 trace of ≥ {win} samples (the window)"
                ),
            });
        }
        let stream = x.to_dtype(DType::F32)?.contiguous()?.flatten_all()?;
        let y = self.forward_stream(&stream)?;
        Ok(y.pad_with_zeros(0, 0, win - 1)?
            .reshape((traces, samples))?
            .narrow(1, 0, samples + 1 - win)?)
    }

    /// Outputs of every window of a stream `[total ≥ window]` (f32) on its own device, with
    /// the candle or cuDNN kernels this network is set to use there.
    fn forward_stream(&self, stream: &Tensor) -> Result<Tensor> {
        match stream.device() {
            Device::Cuda(_) if self.gpu_kernels != GpuKernels::Unfold => self.stream_cudnn(stream),
            dev => ChannelsLast::new(&self.weights, dev, self.precision)?.forward_stream(stream),
        }
    }

    #[cfg(feature = "cudnn")]
    fn stream_cudnn(&self, stream: &Tensor) -> Result<Tensor> {
        let op = crate::cudnnconv::StreamOp {
            weights: self.weights.clone(),
            precision: self.precision,
            channels_last: self.gpu_kernels == GpuKernels::CudnnChannelsLast,
            segment_windows: self.gpu_segment_windows,
        };
        let dtype = if self.precision == Precision::Bf16 {
            DType::BF16
        } else {
            DType::F32
        };
        Ok(stream.to_dtype(dtype)?.apply_op1_no_bwd(&op)?)
    }

    #[cfg(not(feature = "cudnn"))]
    fn stream_cudnn(&self, _stream: &Tensor) -> Result<Tensor> {
        Err(CalciumError::InvalidParameter {
            name: "gpu_kernels",
            reason: format!(
                "{:?} needs spikelab-calcium built with the `cudnn` feature",
                self.gpu_kernels
            ),
        })
    }

    fn forward_windows_one(
        &self,
        p: &CandleParams,
        z: &[f32],
        nw: usize,
        win: usize,
        dev: &Device,
    ) -> Result<Vec<f32>> {
        let mut out = Vec::with_capacity(nw);
        let mut buf = Vec::with_capacity(self.batch_size * win);
        let mut j0 = 0;
        while j0 < nw {
            let b = self.batch_size.min(nw - j0);
            buf.clear();
            for j in j0..j0 + b {
                buf.extend_from_slice(&z[j..j + win]);
            }
            let x = Tensor::from_slice(&buf, (b, win), dev)?;
            let y: Vec<f32> = p.forward_windows(&x)?.to_vec1()?;
            out.extend(y);
            j0 += b;
        }
        Ok(out)
    }

    /// Raw network outputs of **every** window of each trace: `n − window + 1` values for a
    /// trace of `n ≥ window` samples (window `j` is `x[j..j+window]`), none for shorter ones.
    /// NaN inputs follow TensorFlow's float32 rules up to the first pool (see
    /// `crate::cascade` for the exact NaN rule); callers mask windows with interior NaN.
    pub fn forward_windows(&self, traces: &[&[f32]]) -> Result<Vec<Vec<f32>>> {
        let win = self.weights.arch.window;
        self.forward_with(traces, |n| (n + 1).saturating_sub(win))
    }
}
