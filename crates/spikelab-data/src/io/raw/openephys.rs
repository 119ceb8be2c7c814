//! Open Ephys binary format: `structure.oebin` (JSON) and one interleaved int16
//! `continuous/<folder_name>/continuous.dat` per stream.
//!
//! Reference: Open Ephys GUI documentation, "Binary format". Each entry of the oebin's
//! `continuous` array is a stream with `folder_name`, `sample_rate`, `num_channels`, a
//! `stream_name` (GUI ≥ 0.6) and `channels`, each with `channel_name`, `bit_volts` and
//! `units`. Values are int16, `num_channels` per sample. Gains to µV are `bit_volts` scaled by
//! the channel's unit (`uV` → 1, `mV` → 10³, `V` → 10⁶; other units are kept as is);
//! offsets are 0. The oebin holds no geometry: the probe is [`OpenEphysOptions::probe`] or
//! the default linear layout ([`super::default_linear_probe`]).
//!
//! The stream is [`OpenEphysOptions::stream`]: an index into `continuous`, or a name that
//! equals the `stream_name` or the `folder_name` (trailing `/` ignored). A file with one
//! stream needs neither.
//!
//! # Example
//! ```
//! use spikelab_data::RecordingSource;
//! use spikelab_data::io::raw::openephys::{self, OpenEphysOptions};
//! let dir = tempfile::tempdir().unwrap();
//! std::fs::write(dir.path().join("structure.oebin"), r#"{"GUI version": "0.6.4", "continuous": [
//!   {"folder_name": "Acquisition_Board-100.Rhythm Data/", "sample_rate": 30000.0,
//!    "stream_name": "Rhythm Data", "num_channels": 2, "channels": [
//!      {"channel_name": "CH1", "bit_volts": 0.195, "units": "uV"},
//!      {"channel_name": "ADC1", "bit_volts": 0.00015, "units": "V"}]}]}"#).unwrap();
//! let folder = dir.path().join("continuous/Acquisition_Board-100.Rhythm Data");
//! std::fs::create_dir_all(&folder).unwrap();
//! let v: Vec<i16> = vec![10, 20, 30, 40];
//! std::fs::write(folder.join("continuous.dat"), v.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>()).unwrap();
//! let rec = openephys::open(dir.path(), &OpenEphysOptions::default())?;
//! assert_eq!((rec.n_samples(), rec.n_channels()), (2, 2));
//! assert!((rec.read_chunk_uv(1, 1)?[[0, 0]] - 30.0 * 0.195).abs() < 1e-4);
//! assert!((rec.gain_to_uv()[1] - 150.0).abs() < 1e-3);
//! # Ok::<(), spikelab_data::DataError>(())
//! ```

use std::path::{Path, PathBuf};

use ndarray::Array2;
use serde_json::Value;

use super::{BinaryOptions, BinaryRecording, Dtype, RecordingSource, raw_err};
use crate::Probe;
use crate::error::{DataError, Result};

/// Which stream of a `structure.oebin` to read.
#[derive(Debug, Clone, PartialEq)]
pub enum StreamSelect {
    /// Index into the `continuous` array.
    Index(usize),
    /// `stream_name` or `folder_name`.
    Name(String),
}

/// Options of the Open Ephys reader.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct OpenEphysOptions {
    /// The stream; `None` is the only one (an error listing them when there are several).
    pub stream: Option<StreamSelect>,
    /// The probe (one contact per channel of the stream); `None` is the default linear
    /// layout.
    pub probe: Option<Probe>,
    /// Ignore bytes after the last whole sample row.
    pub drop_partial_row: bool,
}

/// `structure.oebin` for a path that is that file or the folder holding it.
pub fn oebin_path(path: &Path) -> Option<PathBuf> {
    if path.is_dir() {
        return Some(path.join("structure.oebin"));
    }
    (path.file_name()? == "structure.oebin").then(|| path.to_path_buf())
}

/// An Open Ephys stream, read lazily from its `continuous.dat`.
#[derive(Debug)]
pub struct OpenEphysRecording {
    binary: BinaryRecording,
    stream_name: String,
    channel_names: Vec<String>,
}

impl OpenEphysRecording {
    /// The stream's name (`stream_name`, or `folder_name` without `/` for older files).
    pub fn stream_name(&self) -> &str {
        &self.stream_name
    }
    /// The channels' names, in channel order.
    pub fn channel_names(&self) -> &[String] {
        &self.channel_names
    }
    /// The underlying binary reader.
    pub fn binary(&self) -> &BinaryRecording {
        &self.binary
    }
}

impl RecordingSource for OpenEphysRecording {
    fn n_samples(&self) -> usize {
        self.binary.n_samples()
    }
    fn n_channels(&self) -> usize {
        self.binary.n_channels()
    }
    fn sampling_rate_hz(&self) -> f64 {
        self.binary.sampling_rate_hz()
    }
    fn probe(&self) -> &Probe {
        self.binary.probe()
    }
    fn gain_to_uv(&self) -> &[f32] {
        self.binary.gain_to_uv()
    }
    fn offset_to_uv(&self) -> &[f32] {
        self.binary.offset_to_uv()
    }
    fn read_chunk(&self, start_sample: usize, n_samples: usize) -> Result<Array2<f32>> {
        self.binary.read_chunk(start_sample, n_samples)
    }
}

fn name_of(s: &Value) -> String {
    s.get("stream_name")
        .and_then(Value::as_str)
        .map(str::to_string)
        .unwrap_or_else(|| {
            s.get("folder_name")
                .and_then(Value::as_str)
                .unwrap_or("")
                .trim_end_matches('/')
                .to_string()
        })
}

/// Opens one stream of an Open Ephys binary recording from `structure.oebin` or its folder
/// (module docs).
///
/// Errors: [`DataError::Io`] if a file is missing; [`DataError::RawRecording`] naming the
/// oebin for invalid JSON, no or an unknown stream (listing the streams), a missing
/// `sample_rate`, `num_channels` or `bit_volts`, a channel list whose length differs from
/// `num_channels`, or a probe with the wrong contact count;
/// [`DataError::PartialSampleRow`] for a `continuous.dat` that is not whole rows.
pub fn open(path: &Path, options: &OpenEphysOptions) -> Result<OpenEphysRecording> {
    let oebin = oebin_path(path)
        .ok_or_else(|| raw_err(path, "expected structure.oebin or the folder that holds it"))?;
    let text = std::fs::read_to_string(&oebin).map_err(|e| DataError::io(&oebin, e))?;
    let json: Value = serde_json::from_str(&text)
        .map_err(|e| raw_err(&oebin, format!("not valid JSON ({e})")))?;
    let streams = json
        .get("continuous")
        .and_then(Value::as_array)
        .filter(|a| !a.is_empty())
        .ok_or_else(|| raw_err(&oebin, "no `continuous` streams in the oebin"))?;
    let names: Vec<String> = streams.iter().map(name_of).collect();
    let idx = match &options.stream {
        None if streams.len() == 1 => 0,
        None => {
            return Err(raw_err(
                &oebin,
                format!(
                    "{} streams ({names:?}); choose one with OpenEphysOptions::stream",
                    streams.len()
                ),
            ));
        }
        Some(StreamSelect::Index(i)) if *i < streams.len() => *i,
        Some(StreamSelect::Index(i)) => {
            return Err(raw_err(
                &oebin,
                format!(
                    "stream index {i} but the oebin has {} streams ({names:?})",
                    streams.len()
                ),
            ));
        }
        Some(StreamSelect::Name(n)) => streams
            .iter()
            .position(|s| {
                name_of(s) == *n
                    || s.get("folder_name")
                        .and_then(Value::as_str)
                        .is_some_and(|f| f.trim_end_matches('/') == n.trim_end_matches('/'))
            })
            .ok_or_else(|| {
                raw_err(
                    &oebin,
                    format!("no stream named {n:?}; the streams are {names:?}"),
                )
            })?,
    };
    let s = &streams[idx];
    let what = |k: &str| {
        raw_err(
            &oebin,
            format!(
                "stream {:?} has no numeric `{k}`; the oebin is incomplete",
                names[idx]
            ),
        )
    };
    let rate = s
        .get("sample_rate")
        .and_then(Value::as_f64)
        .ok_or_else(|| what("sample_rate"))?;
    let n = s
        .get("num_channels")
        .and_then(Value::as_u64)
        .ok_or_else(|| what("num_channels"))? as usize;
    let folder = s
        .get("folder_name")
        .and_then(Value::as_str)
        .ok_or_else(|| {
            raw_err(
                &oebin,
                format!("stream {:?} has no `folder_name`", names[idx]),
            )
        })?;
    let channels = s
        .get("channels")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if channels.len() != n {
        return Err(raw_err(
            &oebin,
            format!(
                "stream {:?}: num_channels={n} but {} channel entries; the oebin is inconsistent",
                names[idx],
                channels.len()
            ),
        ));
    }
    let mut gains = Vec::with_capacity(n);
    let mut channel_names = Vec::with_capacity(n);
    for (i, c) in channels.iter().enumerate() {
        let bv = c.get("bit_volts").and_then(Value::as_f64).ok_or_else(|| {
            raw_err(
                &oebin,
                format!(
                    "channel {i} of stream {:?} has no numeric bit_volts",
                    names[idx]
                ),
            )
        })?;
        let unit = match c.get("units").and_then(Value::as_str).unwrap_or("uV") {
            "V" => 1e6,
            "mV" => 1e3,
            _ => 1.0,
        };
        gains.push((bv * unit) as f32);
        channel_names.push(
            c.get("channel_name")
                .and_then(Value::as_str)
                .map_or_else(|| format!("CH{}", i + 1), str::to_string),
        );
    }
    let dat = oebin
        .parent()
        .unwrap_or(Path::new("."))
        .join("continuous")
        .join(folder.trim_end_matches('/'))
        .join("continuous.dat");
    let mut opts = BinaryOptions::new(Dtype::I16, n, rate);
    opts.gain_to_uv = Some(gains);
    opts.probe = options.probe.clone();
    opts.drop_partial_row = options.drop_partial_row;
    let binary = BinaryRecording::open(&dat, &opts)?;
    Ok(OpenEphysRecording {
        binary,
        stream_name: names[idx].clone(),
        channel_names,
    })
}
