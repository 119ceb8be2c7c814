//! SpikeGLX recordings: an interleaved int16 `.bin` and its `.meta` text file.
//!
//! Reference: the SpikeGLX metadata help pages (billkarsh.github.io/SpikeGLX, "Metadata" for
//! 3A, 2.0 and 3.0). The `.meta` file holds one `key=value` per line; keys that start with
//! `~` (tables) are read without the `~`. What this reader uses:
//!
//! * rate: `imSampRate` (imec probes) or `niSampRate` (NI-DAQ); a file with neither is a
//!   [`DataError::RawRecording`];
//! * `nSavedChans` values per sample (int16, little-endian); `fileSizeBytes` is checked
//!   against the `.bin` size (a shorter file is truncated: error, unless
//!   [`SpikeGlxOptions::ignore_file_size`]);
//! * channel kinds from `snsApLfSy` (imec: counts of AP, LF and sync channels) or
//!   `snsMnMaXaDw` (NI: multiplexed neural, auxiliary analog, other analog, digital words),
//!   with `snsSaveChanSubset` (`all`, or a list like `0:10,50,384`) naming the acquired
//!   channels that were saved, in order (without `snsApLfSy`, the last channel is sync and
//!   the others are AP, or LF for a `.lf.bin`);
//! * gains to µV. Imec: `V = i · imAiRangeMax / imMaxInt / gain`, with `gain` the AP
//!   (`.ap.bin`, 4th field) or LF (`.lf.bin`, 5th field) gain of the channel's `imroTbl`
//!   entry `(chan bank refid apgain lfgain apfilt)` (Neuropixels 1.0 / 3A/3B); tables whose
//!   entries have no gains (Neuropixels 2.0) take `imChan0apGain` or the fixed 2.0 gain 80.
//!   `imMaxInt` missing (metadata before 2019) is 512. NI: `V = i · niAiRangeMax / niMaxInt /
//!   gain` with `niMNGain` for MN channels, `niMAGain` for MA and 1 for XA; `niMaxInt`
//!   missing is 32768. Offsets are 0;
//! * geometry, first found of: `snsGeomMap`
//!   `(part,n_shanks,shank_pitch_um,shank_width_um)(shank:x_um:z_um:used)…` giving `x = x_um +
//!   shank · shank_pitch_um`, `y = z_um`; a Neuropixels 1.0 / 3A `imroTbl`, whose entry
//!   `(chan bank …)` is electrode `e = bank · 384 + chan` at row `r = e / 2`, `y = 20 r` µm,
//!   `x = 32 (e mod 2) + 16` on even rows and `32 (e mod 2)` on odd ones (probeinterface's
//!   layout; SpikeGLX's own `snsGeomMap` is its mirror image, same distances); `snsShankMap`
//!   `(n_shanks,n_cols,n_rows)(shank:col:row:used)…` giving `x = col · col_pitch + shank ·
//!   shank_pitch`, `y = row · row_pitch` with [`SpikeGlxOptions::shank_map_pitch_um`]
//!   (default 32, 20 and 250 µm); else the default linear layout
//!   ([`super::default_linear_probe`]). A given [`SpikeGlxOptions::probe`] wins.
//!
//! The recording's channels are the neural ones (AP or LF for imec, MN/MA/XA for NI); the
//! sync channel (imec `SY`) or the digital words (NI `XD`) are not channels of the probe and
//! are read with [`SpikeGlxRecording::read_sync`].
//!
//! # Example
//! ```
//! use spikelab_data::RecordingSource;
//! use spikelab_data::io::raw::spikeglx::{self, SpikeGlxOptions};
//! let dir = tempfile::tempdir().unwrap();
//! let bin = dir.path().join("run_g0_t0.imec0.ap.bin");
//! // 3 samples × (2 AP + 1 sync) int16 values.
//! let v: Vec<i16> = vec![1, -1, 0, 2, -2, 64, 3, -3, 0];
//! std::fs::write(&bin, v.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>()).unwrap();
//! std::fs::write(dir.path().join("run_g0_t0.imec0.ap.meta"), "imSampRate=30000\nnSavedChans=3\n\
//!     fileSizeBytes=18\nimAiRangeMax=0.6\nimAiRangeMin=-0.6\nimMaxInt=512\nsnsApLfSy=2,0,1\n\
//!     snsSaveChanSubset=all\n~imroTbl=(0,2)(0 0 0 500 250 1)(1 0 0 250 250 1)\n").unwrap();
//! let rec = spikeglx::open(&bin, &SpikeGlxOptions::default())?;
//! assert_eq!(rec.n_channels(), 2);
//! // 0.6 V / 512 / 500 = 2.34375 µV per count.
//! assert!((rec.gain_to_uv()[0] - 2.34375).abs() < 1e-6);
//! assert_eq!(rec.read_sync(0, 3)?, vec![0, 64, 0]);
//! # Ok::<(), spikelab_data::DataError>(())
//! ```

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use ndarray::Array2;

use super::{
    BinaryOptions, BinaryRecording, Dtype, RecordingSource, default_linear_probe, raw_err,
};
use crate::Probe;
use crate::error::{DataError, Result};

/// Options of the SpikeGLX reader.
#[derive(Debug, Clone, PartialEq)]
pub struct SpikeGlxOptions {
    /// The probe to use instead of the geometry in the `.meta` (one contact per neural
    /// channel).
    pub probe: Option<Probe>,
    /// `[column pitch, row pitch, shank pitch]` in µm for a `snsShankMap` (which stores
    /// column and row indices, not µm). Default `[32, 20, 250]` (Neuropixels 1.0).
    pub shank_map_pitch_um: [f64; 3],
    /// Read a `.bin` whose size differs from `fileSizeBytes` (e.g. a recording cut short by
    /// a crash); the whole rows it holds are read.
    pub ignore_file_size: bool,
    /// Ignore bytes after the last whole sample row.
    pub drop_partial_row: bool,
}

impl Default for SpikeGlxOptions {
    fn default() -> Self {
        Self {
            probe: None,
            shank_map_pitch_um: [32.0, 20.0, 250.0],
            ignore_file_size: false,
            drop_partial_row: false,
        }
    }
}

/// The `.meta` sibling of a SpikeGLX `.bin` (or the path itself if it is a `.meta`).
pub fn meta_path(path: &Path) -> Option<PathBuf> {
    match path.extension()?.to_str()? {
        "meta" => Some(path.to_path_buf()),
        "bin" => Some(path.with_extension("meta")),
        _ => None,
    }
}

/// Parses a `.meta` text: `key=value` per line, the `~` of table keys dropped.
pub fn parse_meta(text: &str) -> HashMap<String, String> {
    text.lines()
        .filter_map(|l| {
            let (k, v) = l.split_once('=')?;
            let k = k.trim();
            Some((
                k.strip_prefix('~').unwrap_or(k).to_string(),
                v.trim().to_string(),
            ))
        })
        .collect()
}

/// A SpikeGLX recording, read lazily from its `.bin`.
#[derive(Debug)]
pub struct SpikeGlxRecording {
    binary: BinaryRecording,
    meta: HashMap<String, String>,
    sync_columns: Vec<usize>,
}

impl SpikeGlxRecording {
    /// The `.meta` entries (table keys without `~`).
    pub fn meta(&self) -> &HashMap<String, String> {
        &self.meta
    }

    /// The underlying binary reader.
    pub fn binary(&self) -> &BinaryRecording {
        &self.binary
    }

    /// Column (in the file) of each saved sync or digital-word channel.
    pub fn sync_file_columns(&self) -> &[usize] {
        &self.sync_columns
    }

    /// The first sync channel (imec `SY`, NI first `XD` word) for samples
    /// `[start, start + n)`, as 16-bit words (bit `k` is input `k`).
    ///
    /// Errors: [`DataError::RawRecording`] if no sync channel was saved; read errors.
    pub fn read_sync(&self, start_sample: usize, n_samples: usize) -> Result<Vec<u16>> {
        let &c = self.sync_columns.first().ok_or_else(|| {
            raw_err(
                self.binary.path(),
                "no sync channel was saved (snsApLfSy / snsMnMaXaDw count none in snsSaveChanSubset)",
            )
        })?;
        let col = self
            .binary
            .read_file_columns(&[c], start_sample, n_samples)?;
        Ok(col.iter().map(|&v| v as i16 as u16).collect())
    }
}

impl RecordingSource for SpikeGlxRecording {
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

#[derive(Clone, Copy, PartialEq, Debug)]
enum Kind {
    /// Neural channel; the index into the imro table (imec) and the gain group.
    Neural(usize, Group),
    Sync,
}

#[derive(Clone, Copy, PartialEq, Debug)]
enum Group {
    Ap,
    Lf,
    Mn,
    Ma,
    Xa,
}

fn num<T: std::str::FromStr>(
    meta_file: &Path,
    meta: &HashMap<String, String>,
    key: &str,
) -> Result<Option<T>> {
    match meta.get(key) {
        None => Ok(None),
        Some(v) => v.trim().parse::<T>().map(Some).map_err(|_| {
            raw_err(
                meta_file,
                format!("{key}={v} is not a number; fix the value in the .meta"),
            )
        }),
    }
}

/// More channels than any acquisition system writes per stream (SpikeGLX: at most a few
/// thousand); a `.meta` declaring more is refused before anything is allocated for them.
const MAX_CHANNELS: usize = 1 << 16;

fn counts(meta_file: &Path, key: &str, v: &str, n: usize) -> Result<Vec<usize>> {
    let c: Vec<usize> = v
        .split(',')
        .map(|x| x.trim().parse::<usize>())
        .collect::<std::result::Result<_, _>>()
        .map_err(|_| {
            raw_err(
                meta_file,
                format!("{key}={v}: expected {n} comma-separated counts"),
            )
        })?;
    if c.len() != n {
        return Err(raw_err(
            meta_file,
            format!("{key}={v}: expected {n} comma-separated counts"),
        ));
    }
    if c.iter()
        .try_fold(0usize, |a, &x| a.checked_add(x))
        .is_none_or(|t| t > MAX_CHANNELS)
    {
        return Err(raw_err(
            meta_file,
            format!("{key}={v}: more than {MAX_CHANNELS} channels"),
        ));
    }
    Ok(c)
}

/// `all` or `a:b,c,…` (inclusive ranges) → acquired channel indices.
fn saved_subset(meta_file: &Path, v: Option<&String>, n_acquired: usize) -> Result<Vec<usize>> {
    let Some(v) = v.filter(|v| v.trim() != "all") else {
        return Ok((0..n_acquired).collect());
    };
    let bad = || {
        raw_err(
            meta_file,
            format!("snsSaveChanSubset={v}: expected `all` or a list like 0:10,50"),
        )
    };
    let beyond = |c: usize| {
        if c >= n_acquired {
            Err(raw_err(
                meta_file,
                format!(
                    "snsSaveChanSubset={v}: channel {c} is beyond the {n_acquired} acquired channels"
                ),
            ))
        } else {
            Ok(())
        }
    };
    let mut out = Vec::new();
    for part in v.split(',') {
        match part.split_once(':') {
            Some((a, b)) => {
                let a: usize = a.trim().parse().map_err(|_| bad())?;
                let b: usize = b.trim().parse().map_err(|_| bad())?;
                if b < a {
                    return Err(bad());
                }
                beyond(b)?;
                out.extend(a..=b);
            }
            None => {
                let a: usize = part.trim().parse().map_err(|_| bad())?;
                beyond(a)?;
                out.push(a);
            }
        }
    }
    Ok(out)
}

/// `(header)(entry)(entry)…` → header and entries, without parentheses.
fn table(v: &str) -> (String, Vec<String>) {
    let mut parts = v
        .split(')')
        .map(|p| p.trim().trim_start_matches('(').to_string())
        .filter(|p| !p.is_empty());
    let header = parts.next().unwrap_or_default();
    (header, parts.collect())
}

/// Opens a SpikeGLX recording from its `.bin` or `.meta` path (module docs).
///
/// Errors: [`DataError::Io`] for a missing file; [`DataError::RawRecording`] naming the
/// `.meta` or `.bin` for a missing sample rate or `nSavedChans`, unreadable values, a
/// `fileSizeBytes` different from the `.bin` size, a table whose length differs from the
/// channel count, or a given probe with the wrong number of contacts;
/// [`DataError::PartialSampleRow`] for a size that is not a whole number of rows.
pub fn open(path: &Path, options: &SpikeGlxOptions) -> Result<SpikeGlxRecording> {
    let meta_file = meta_path(path).ok_or_else(|| {
        raw_err(
            path,
            "a SpikeGLX recording is a .bin with its .meta; give either path",
        )
    })?;
    let bin = meta_file.with_extension("bin");
    let text = std::fs::read_to_string(&meta_file).map_err(|e| DataError::io(&meta_file, e))?;
    let meta = parse_meta(&text);
    let m = &meta_file;
    let imec = meta.contains_key("imSampRate") || meta.contains_key("imAiRangeMax");
    let rate: f64 = match num::<f64>(m, &meta, "imSampRate")? {
        Some(r) => r,
        None => num::<f64>(m, &meta, "niSampRate")?.ok_or_else(|| {
            raw_err(m, "no imSampRate (imec) or niSampRate (NI-DAQ) key: the sampling rate is unknown; add the key with the rate SpikeGLX recorded at, or read the .bin as plain binary with its rate")
        })?,
    };
    if !(rate.is_finite() && rate > 0.0) {
        return Err(raw_err(
            m,
            format!("sampling rate {rate} Hz must be positive"),
        ));
    }
    let n_saved: usize = num(m, &meta, "nSavedChans")?.ok_or_else(|| {
        raw_err(
            m,
            "no nSavedChans key: the number of channels per sample is unknown; add it to the .meta",
        )
    })?;
    if n_saved == 0 {
        return Err(raw_err(m, "nSavedChans=0: the file holds no channels"));
    }
    if n_saved > MAX_CHANNELS {
        return Err(raw_err(
            m,
            format!("nSavedChans={n_saved}: more than {MAX_CHANNELS} channels"),
        ));
    }

    // Kinds of the acquired channels, then of the saved ones.
    let stream_lf = bin
        .file_name()
        .map(|n| n.to_string_lossy().contains(".lf."))
        .unwrap_or(false);
    let acquired: Vec<Kind> = if imec {
        let v = meta.get("snsApLfSy").cloned().unwrap_or_else(|| {
            if stream_lf {
                format!("0,{},1", n_saved - 1)
            } else {
                format!("{},0,1", n_saved - 1)
            }
        });
        let c = counts(m, "snsApLfSy", &v, 3)?;
        (0..c[0])
            .map(|i| Kind::Neural(i, Group::Ap))
            .chain((0..c[1]).map(|i| Kind::Neural(i, Group::Lf)))
            .chain((0..c[2]).map(|_| Kind::Sync))
            .collect()
    } else {
        let v = meta
            .get("snsMnMaXaDw")
            .cloned()
            .unwrap_or_else(|| format!("{n_saved},0,0,0"));
        let c = counts(m, "snsMnMaXaDw", &v, 4)?;
        (0..c[0])
            .map(|i| Kind::Neural(i, Group::Mn))
            .chain((0..c[1]).map(|i| Kind::Neural(i, Group::Ma)))
            .chain((0..c[2]).map(|i| Kind::Neural(i, Group::Xa)))
            .chain((0..c[3]).map(|_| Kind::Sync))
            .collect()
    };
    let saved = saved_subset(m, meta.get("snsSaveChanSubset"), acquired.len())?;
    if saved.len() != n_saved {
        return Err(raw_err(
            m,
            format!(
                "snsSaveChanSubset lists {} channels but nSavedChans={n_saved}; the .meta is inconsistent",
                saved.len()
            ),
        ));
    }
    let mut neural = Vec::new(); // (file column, kind)
    let mut sync = Vec::new();
    for (col, &a) in saved.iter().enumerate() {
        match acquired.get(a) {
            Some(Kind::Neural(i, g)) => neural.push((col, *i, *g)),
            Some(Kind::Sync) => sync.push(col),
            None => {
                return Err(raw_err(
                    m,
                    format!(
                        "snsSaveChanSubset names channel {a} but only {} were acquired",
                        acquired.len()
                    ),
                ));
            }
        }
    }
    if neural.is_empty() {
        return Err(raw_err(m, "no neural channel was saved"));
    }
    let n = neural.len();

    // Gains.
    let volts_per_count = |range_key: &str, max_key: &str, default_max: f64| -> Result<f64> {
        let range: f64 = num(m, &meta, range_key)?.ok_or_else(|| {
            raw_err(
                m,
                format!("no {range_key} key: the voltage range is unknown; add it to the .meta"),
            )
        })?;
        let max: f64 = num(m, &meta, max_key)?.unwrap_or(default_max);
        Ok(range / max)
    };
    let gains: Vec<f32> = if imec {
        let (header, imro) = table(meta.get("imroTbl").map_or("", |s| s.as_str()));
        let imro_gains = imro_has_gains(&header, &imro);
        let vpc = volts_per_count("imAiRangeMax", "imMaxInt", 512.0)?;
        let fixed: f64 = num(m, &meta, "imChan0apGain")?.unwrap_or(80.0);
        neural
            .iter()
            .map(|&(_, i, g)| {
                let gain = if imro_gains {
                    let field = if g == Group::Lf { 4 } else { 3 };
                    imro_fields(m, &imro, i)?[field]
                } else {
                    fixed
                };
                if !(gain.is_finite() && gain > 0.0) {
                    return Err(raw_err(
                        m,
                        format!("gain {gain} of channel {i} must be positive"),
                    ));
                }
                Ok((vpc / gain * 1e6) as f32)
            })
            .collect::<Result<_>>()?
    } else {
        let vpc = volts_per_count("niAiRangeMax", "niMaxInt", 32768.0)?;
        let mn: f64 = num(m, &meta, "niMNGain")?.unwrap_or(1.0);
        let ma: f64 = num(m, &meta, "niMAGain")?.unwrap_or(1.0);
        neural
            .iter()
            .map(|&(_, _, g)| {
                let gain = match g {
                    Group::Mn => mn,
                    Group::Ma => ma,
                    _ => 1.0,
                };
                (vpc / gain * 1e6) as f32
            })
            .collect()
    };

    // Geometry.
    let probe = match &options.probe {
        Some(p) => p.clone(),
        None => geometry(m, &meta, &neural, options.shank_map_pitch_um)?,
    };
    let mut opts = BinaryOptions::new(Dtype::I16, n_saved, rate);
    opts.channels = Some(neural.iter().map(|&(c, _, _)| c).collect());
    opts.probe = Some(probe);
    opts.gain_to_uv = Some(gains);
    opts.drop_partial_row = options.drop_partial_row;
    let binary = BinaryRecording::open(&bin, &opts).map_err(|e| match e {
        DataError::RawRecording { reason, .. } if reason.contains("contacts") => {
            raw_err(&bin, format!("{reason} ({n} neural channels in the .meta)"))
        }
        other => other,
    })?;
    if let Some(expected) = num::<u64>(m, &meta, "fileSizeBytes")? {
        let size = std::fs::metadata(&bin)
            .map_err(|e| DataError::io(&bin, e))?
            .len();
        if size != expected && !options.ignore_file_size {
            return Err(raw_err(
                &bin,
                format!(
                    "the file has {size} bytes but fileSizeBytes={expected} in the .meta; the copy is incomplete or the file was cut. Copy it again, or set ignore_file_size to read the whole rows it holds"
                ),
            ));
        }
    }
    Ok(SpikeGlxRecording {
        binary,
        meta,
        sync_columns: sync,
    })
}

fn geometry(
    m: &Path,
    meta: &HashMap<String, String>,
    neural: &[(usize, usize, Group)],
    pitch: [f64; 3],
) -> Result<Probe> {
    let n = neural.len();
    let bad = |key: &str, e: &str| {
        raw_err(
            m,
            format!("{key} entry ({e}) is not shank:x:y:used; fix or remove the key"),
        )
    };
    // One entry per saved neural channel, or one per acquired neural channel (index `i`).
    let pick = |key: &str, entries: &[String]| -> Result<Vec<String>> {
        if entries.len() == n {
            return Ok(entries.to_vec());
        }
        neural
            .iter()
            .map(|&(_, i, _)| {
                let k = entries.len();
                entries.get(i).cloned().ok_or_else(|| {
                    let why = format!("{key} has {k} entries but neural channel {i} was saved");
                    raw_err(m, format!("{why}; the .meta is inconsistent"))
                })
            })
            .collect()
    };
    if let Some(v) = meta.get("snsGeomMap") {
        let (header, entries) = table(v);
        let shank_pitch: f64 = header
            .split(',')
            .nth(2)
            .and_then(|x| x.trim().parse().ok())
            .ok_or_else(|| {
                raw_err(
                    m,
                    format!("snsGeomMap header ({header}) is not (part,shanks,pitch,width)"),
                )
            })?;
        let pos = pick("snsGeomMap", &entries)?
            .iter()
            .map(|e| {
                let f = map_fields(e).ok_or_else(|| bad("snsGeomMap", e))?;
                Ok([f[1] + f[0] * shank_pitch, f[2]])
            })
            .collect::<Result<Vec<_>>>()?;
        return Probe::new(pos, 0.0);
    }
    if let Some(v) = meta.get("imroTbl") {
        let (header, imro) = table(v);
        if imro_has_gains(&header, &imro) {
            // Neuropixels 1.0 / 3A: electrode e = bank·384 + chan in two staggered columns.
            let pos = neural
                .iter()
                .map(|&(_, i, _)| {
                    let f = imro_fields(m, &imro, i)?;
                    let electrode = f[1] as usize * 384 + f[0] as usize;
                    let row = electrode / 2;
                    let stagger = if row.is_multiple_of(2) { 16.0 } else { 0.0 };
                    Ok([(electrode % 2) as f64 * 32.0 + stagger, row as f64 * 20.0])
                })
                .collect::<Result<Vec<_>>>()?;
            return Probe::new(pos, 0.0);
        }
    }
    if let Some(v) = meta.get("snsShankMap") {
        let (_, entries) = table(v);
        let pos = pick("snsShankMap", &entries)?
            .iter()
            .map(|e| {
                let f = map_fields(e).ok_or_else(|| bad("snsShankMap", e))?;
                Ok([f[1] * pitch[0] + f[0] * pitch[2], f[2] * pitch[1]])
            })
            .collect::<Result<Vec<_>>>()?;
        return Probe::new(pos, 0.0);
    }
    default_linear_probe(n)
}

/// Whether an `imroTbl` carries per-channel gains: Neuropixels 1.0 (header `(0,n)`, entries
/// `chan bank refid apgain lfgain apfilt`) or 3A (header `(serial,option,n)`, entries
/// `chan bank refid apgain lfgain`).
fn imro_has_gains(header: &str, entries: &[String]) -> bool {
    let h: Vec<&str> = header.split(',').map(str::trim).collect();
    let fields = if h.len() == 3 {
        5
    } else if h.first() == Some(&"0") {
        6
    } else {
        return false;
    };
    !entries.is_empty()
        && entries
            .iter()
            .all(|e| e.split_whitespace().count() >= fields)
}

/// The numbers of `imroTbl` entry `i` (at least the 5 or 6 [`imro_has_gains`] checked).
/// The numbers of a `snsGeomMap` / `snsShankMap` entry (`a:b:c[:d]`), at least three.
fn map_fields(entry: &str) -> Option<Vec<f64>> {
    let f: Vec<f64> = entry
        .split(':')
        .map(|x| x.trim().parse::<f64>())
        .collect::<std::result::Result<_, _>>()
        .ok()?;
    (f.len() >= 3).then_some(f)
}

fn imro_fields(m: &Path, imro: &[String], i: usize) -> Result<Vec<f64>> {
    let e = imro.get(i).ok_or_else(|| {
        raw_err(
            m,
            format!(
                "imroTbl has {} entries but channel {i} was saved; the .meta is inconsistent",
                imro.len()
            ),
        )
    })?;
    let f: Vec<f64> = e
        .split_whitespace()
        .map(str::parse::<f64>)
        .collect::<std::result::Result<_, _>>()
        .map_err(|_| {
            raw_err(
                m,
                format!("imroTbl entry ({e}) holds a value that is not a number"),
            )
        })?;
    // chan < 384 and bank < 16 (Neuropixels 1.0 has 960 electrodes: banks 0–2).
    if f.len() < 5
        || f.iter().take(2).any(|v| *v < 0.0 || v.fract() != 0.0)
        || f[0] >= 384.0
        || f[1] >= 16.0
    {
        return Err(raw_err(
            m,
            format!(
                "imroTbl entry ({e}) is not (chan bank refid apgain lfgain …) with chan < 384, bank < 16"
            ),
        ));
    }
    Ok(f)
}
