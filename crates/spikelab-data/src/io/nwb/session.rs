//! File-level metadata (session description, identifier, ISO 8601 start time), the root
//! groups every NWB file has, and the atomic temp-file-then-rename write.

use std::path::Path;

use hdf5::File;

use super::h5::{attr_ref, attr_str, group, scalar_str, typed, vlen};
use super::metadata::NwbMetadata;
use super::units::NwbElectrodes;
use super::{CORE, Ctx, Msg, NWB_VERSION, R, nwb_err};
use crate::error::{DataError, Result};

/// File-level metadata and the overwrite switch for [`write_units`](super::write_units).
///
/// `Default` (and [`NwbWriteOptions::new`]) fills `identifier` with a fresh UUID and
/// `session_start_time` with the current UTC time; set them for reproducible files.
///
/// # Example
/// ```
/// use spikelab_data::io::nwb::NwbWriteOptions;
/// let mut opts = NwbWriteOptions::new("mouse 3, V1, day 2");
/// opts.session_start_time = "2024-03-01T09:30:00+01:00".into();
/// opts.overwrite = true;
/// assert_eq!(opts.identifier.len(), 36); // a UUID
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct NwbWriteOptions {
    /// Replace an existing file (default `false`: refuse).
    pub overwrite: bool,
    /// `session_description` (required by NWB, non-empty).
    pub session_description: String,
    /// `identifier`: a unique id of this file (non-empty).
    pub identifier: String,
    /// `session_start_time`, ISO 8601 with a UTC offset, e.g. `2024-03-01T09:30:00+01:00` or
    /// `…Z`. Spike times are seconds relative to it. Also used as `timestamps_reference_time`.
    pub session_start_time: String,
    /// Electrode metadata for the units (optional).
    pub electrodes: Option<NwbElectrodes>,
    /// `Units@resolution`: the smallest possible difference between two spike times, i.e.
    /// 1 / the sampling rate of the recording system (nwbinspector flags a units table
    /// without it). `None` writes none.
    pub spike_time_resolution_s: Option<f64>,
    /// Session and subject metadata (`/general`); see [`NwbMetadata`].
    pub metadata: NwbMetadata,
}

impl NwbWriteOptions {
    /// Options with this session description, a random identifier, start time now (UTC),
    /// no electrodes, no overwrite.
    pub fn new(session_description: impl Into<String>) -> Self {
        NwbWriteOptions {
            session_description: session_description.into(),
            ..Default::default()
        }
    }

    pub(super) fn session(&self) -> SessionMeta<'_> {
        SessionMeta {
            overwrite: self.overwrite,
            session_description: &self.session_description,
            identifier: &self.identifier,
            session_start_time: &self.session_start_time,
            metadata: &self.metadata,
        }
    }
}

impl Default for NwbWriteOptions {
    fn default() -> Self {
        NwbWriteOptions {
            overwrite: false,
            session_description: "spike times written by spikelab".into(),
            identifier: uuid::Uuid::new_v4().to_string(),
            session_start_time: now_iso8601(),
            electrodes: None,
            spike_time_resolution_s: None,
            metadata: NwbMetadata::default(),
        }
    }
}

pub(super) struct SessionMeta<'a> {
    pub(super) overwrite: bool,
    pub(super) session_description: &'a str,
    pub(super) identifier: &'a str,
    pub(super) session_start_time: &'a str,
    pub(super) metadata: &'a NwbMetadata,
}

impl SessionMeta<'_> {
    fn validate(&self) -> Result<()> {
        if self.session_description.trim().is_empty() {
            return Err(DataError::param(
                "session_description",
                "must not be empty (NWB requires it)",
            ));
        }
        if self.identifier.trim().is_empty() {
            return Err(DataError::param("identifier", "must not be empty"));
        }
        check_iso8601("session_start_time", self.session_start_time)?;
        self.metadata.validate()
    }
}

/// Current UTC time as ISO 8601 with offset, e.g. `2026-11-25T10:03:40.123456+00:00`.
pub(super) fn now_iso8601() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let secs = now.as_secs() as i64;
    let (days, sod) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:06}+00:00",
        sod / 3600,
        (sod / 60) % 60,
        sod % 60,
        now.subsec_micros()
    )
}

/// Checks `YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)`: pynwb needs a time zone.
pub(super) fn check_iso8601(name: &'static str, s: &str) -> Result<()> {
    let bad = |why: &str| {
        Err(DataError::param(
            name,
            format!(
                "{s:?} is not ISO 8601 with a UTC offset ({why}); expected e.g. 2024-03-01T09:30:00+01:00"
            ),
        ))
    };
    let b = s.as_bytes();
    if b.len() < 20 {
        return bad("too short");
    }
    let digits = |r: std::ops::Range<usize>| b[r].iter().all(u8::is_ascii_digit);
    if !(digits(0..4)
        && b[4] == b'-'
        && digits(5..7)
        && b[7] == b'-'
        && digits(8..10)
        && (b[10] == b'T' || b[10] == b' ')
        && digits(11..13)
        && b[13] == b':'
        && digits(14..16)
        && b[16] == b':'
        && digits(17..19))
    {
        return bad("date/time part");
    }
    let num = |r: std::ops::Range<usize>| s[r].parse::<u32>().unwrap_or(99);
    if !(1..=12).contains(&num(5..7))
        || !(1..=31).contains(&num(8..10))
        || num(11..13) > 23
        || num(14..16) > 59
        || num(17..19) > 60
    {
        return bad("field out of range");
    }
    let mut i = 19;
    if b[i] == b'.' {
        i += 1;
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if i == start {
            return bad("empty fraction");
        }
    }
    let tz = &s[i..];
    let tzb = tz.as_bytes();
    let ok_tz = tz == "Z"
        || (tzb.len() == 6
            && (tzb[0] == b'+' || tzb[0] == b'-')
            && tzb[1..3].iter().all(u8::is_ascii_digit)
            && tzb[3] == b':'
            && tzb[4..6].iter().all(u8::is_ascii_digit));
    if !ok_tz {
        return bad("missing or malformed UTC offset");
    }
    Ok(())
}

/// Root attributes, required datasets and the standard top-level groups.
fn write_root(file: &File, meta: &SessionMeta<'_>) -> R<()> {
    attr_str(file, "nwb_version", NWB_VERSION)?;
    typed(file, "NWBFile", CORE)?;
    let created = [vlen(&now_iso8601())?];
    file.new_dataset_builder()
        .with_data(&created[..])
        .create("file_create_date")
        .ctx(|| "dataset /file_create_date".to_string())?;
    scalar_str(file, "identifier", meta.identifier)?;
    scalar_str(file, "session_description", meta.session_description)?;
    scalar_str(file, "session_start_time", meta.session_start_time)?;
    scalar_str(file, "timestamps_reference_time", meta.session_start_time)?;
    for g in ["acquisition", "analysis", "processing", "general"] {
        group(file, g)?;
    }
    let script = scalar_str(
        &file.group("general")?,
        "source_script",
        concat!("spikelab-data ", env!("CARGO_PKG_VERSION")),
    )?;
    attr_str(&script, "file_name", "spikelab")?;
    let stim = group(file, "stimulus")?;
    group(&stim, "presentation")?;
    group(&stim, "templates")?;
    meta.metadata.write(file)?;
    write_spec_cache(file)
}

/// The NWB core, hdmf-common and hdmf-experimental specifications of the schema versions
/// this module writes, as pynwb caches them (`scripts/nwb_spec_cache.py`; BSD licences in
/// `schema/`).
const SPEC_CACHE: &str = include_str!("schema/cache.json");

/// Embeds the schema in `/specifications/<namespace>/<version>/<source>` (one JSON string
/// each) and points the root's `.specloc` at it, as pynwb does, so that readers without this
/// schema version (matnwb, older pynwb) can read the file.
fn write_spec_cache(file: &File) -> R<()> {
    #[derive(serde::Deserialize)]
    struct Cache {
        entries: Vec<(String, String)>,
    }
    let cache: Cache =
        serde_json::from_str(SPEC_CACHE).map_err(|e| Msg(format!("embedded schema cache: {e}")))?;
    let specs = group(file, "specifications")?;
    for (path, text) in &cache.entries {
        let mut parent = specs.clone();
        let mut parts = path.split('/').peekable();
        while let Some(part) = parts.next() {
            if parts.peek().is_none() {
                scalar_str(&parent, part, text)?;
            } else {
                parent = match parent.group(part) {
                    Ok(g) => g,
                    Err(_) => group(&parent, part)?,
                };
            }
        }
    }
    attr_ref(file, ".specloc", file, "/specifications")
}

pub(super) fn device(file: &File, name: &str, description: &str) -> R<()> {
    let general = file.group("general").ctx(|| "group /general".to_string())?;
    let devices = match general.group("devices") {
        Ok(g) => g,
        Err(_) => group(&general, "devices")?,
    };
    let dev = group(&devices, name)?;
    typed(&dev, "Device", CORE)?;
    attr_str(&dev, "description", description)
}

/// Writes a complete file through `fill` with [`write_atomic`](crate::io::write_atomic): a
/// temporary sibling of `path` that is moved into place only once complete. On any error
/// `path` is untouched.
pub(super) fn write_atomically(
    path: &Path,
    meta: &SessionMeta<'_>,
    fill: impl FnOnce(&File) -> R<()>,
) -> Result<()> {
    crate::io::check_writable(path, meta.overwrite)?;
    meta.validate()?;
    if path.is_dir() {
        return Err(nwb_err(path, "is a folder, expected a file path"));
    }
    crate::io::write_atomic(path, meta.overwrite, |tmp| {
        let result = (|| -> R<File> {
            let file = File::create_excl(tmp).ctx(|| format!("creating {}", tmp.display()))?;
            write_root(&file, meta)?;
            fill(&file)?;
            Ok(file)
        })();
        let file = result.map_err(|Msg(m)| nwb_err(path, m))?;
        if meta.metadata.dandi {
            let missing = super::metadata::dandi_missing_in(&file);
            if !missing.is_empty() {
                return Err(DataError::DandiMetadata {
                    missing: missing.iter().map(|s| s.to_string()).collect(),
                });
            }
        }
        file.close()
            .map_err(|e| nwb_err(path, format!("closing the file: {e}")))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso8601_checks() {
        let check = |s: &str| check_iso8601("t", s);
        assert!(check("2024-03-01T09:30:00+01:00").is_ok());
        assert!(check("2024-03-01T09:30:00.123Z").is_ok());
        assert!(check(&now_iso8601()).is_ok());
        assert!(check("2024-03-01T09:30:00").is_err());
        assert!(check("2024-13-01T09:30:00Z").is_err());
        assert!(check("yesterday").is_err());
    }
}
