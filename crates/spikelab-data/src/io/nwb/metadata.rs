//! Session and subject metadata (`/general`, `/general/subject`) and the DANDI checks.
//!
//! DANDI (the NWB archive) and `nwbinspector --config dandi` treat a missing subject, subject
//! id, species, sex or age as CRITICAL. [`NwbMetadata`] carries these fields, checks the
//! forms nwbinspector 0.7 checks whenever a field is given, and with `dandi: true` refuses to
//! write a file that lacks a DANDI-required field ([`DataError::DandiMetadata`]).

use std::path::Path;

use hdf5::File;
use serde::Deserialize;

use super::h5::{group, scalar_str, typed, vlen};
use super::{CORE, Ctx, R};
use crate::error::{DataError, Result};

/// Who was recorded: NWB's `Subject` (`/general/subject`).
///
/// # Example
/// ```
/// use spikelab_data::io::nwb::NwbSubject;
/// let s = NwbSubject::new("mouse-3", "Mus musculus", "F", "P90D");
/// assert!(s.validate().is_ok());
/// assert!(NwbSubject::new("mouse-3", "mouse", "F", "P90D").validate().is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NwbSubject {
    /// `subject_id`: the lab's id of the animal (no `/`).
    pub subject_id: Option<String>,
    /// `species`: Latin binomial (`Mus musculus`) or an NCBI taxonomy IRI
    /// (`http://purl.obolibrary.org/obo/NCBITaxon_10090`).
    pub species: Option<String>,
    /// `sex`: `M`, `F`, `O` (other) or `U` (unknown).
    pub sex: Option<String>,
    /// `age`: ISO 8601 duration (`P90D`, `P2Y3M`) or a range `P90D/P120D` (open ends allowed:
    /// `P90D/`).
    pub age: Option<String>,
    /// `date_of_birth`, ISO 8601 with a UTC offset (an alternative to `age` for DANDI).
    pub date_of_birth: Option<String>,
    /// `description` of the subject.
    pub description: Option<String>,
    /// `strain`, e.g. `C57BL/6J`.
    pub strain: Option<String>,
    /// `genotype`.
    pub genotype: Option<String>,
    /// `weight` as `number unit`, e.g. `0.025 kg`.
    pub weight: Option<String>,
}

/// What the imaging metadata of an ophys file says (`[imaging]` in the TOML); applied to
/// [`OphysWriteOptions`](super::OphysWriteOptions) by
/// [`OphysWriteOptions::with_metadata`](super::OphysWriteOptions::with_metadata), and by
/// [`add_metadata`](super::add_metadata) to imaging planes whose location or indicator is
/// `unknown`.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NwbImaging {
    /// Brain area imaged, an Allen Mouse Brain CCF name or acronym (e.g. `VISp`);
    /// nwbinspector flags other terms.
    pub location: Option<String>,
    /// Calcium indicator, e.g. `GCaMP6s`.
    pub indicator: Option<String>,
    /// Excitation wavelength (nm).
    pub excitation_lambda_nm: Option<f64>,
    /// Emission wavelength (nm).
    pub emission_lambda_nm: Option<f64>,
}

/// Session-level metadata written to `/general` and the subject.
///
/// Read from options or from a small TOML file ([`NwbMetadata::from_toml_file`]):
///
/// ```toml
/// session_id = "day2"
/// experimenter = ["Doe, Jane"]
/// institution = "University of Somewhere"
/// lab = "Systems Neuroscience"
/// experiment_description = "V1 imaging during locomotion"
/// keywords = ["two-photon", "V1"]
/// dandi = true
///
/// [subject]
/// subject_id = "mouse-3"
/// species = "Mus musculus"
/// sex = "F"
/// age = "P90D"
///
/// [imaging]            # ophys files
/// location = "VISp"
/// indicator = "GCaMP6s"
/// ```
///
/// # Example
/// ```
/// use spikelab_data::io::nwb::NwbMetadata;
/// let meta = NwbMetadata::from_toml_str(
///     "session_id = \"day2\"\n[subject]\nsubject_id = \"m3\"\nspecies = \"Mus musculus\"\nsex = \"U\"\nage = \"P12W\"\n",
/// )?;
/// assert!(meta.dandi_missing().is_empty());
/// assert_eq!(NwbMetadata::default().dandi_missing(), ["subject"]);
/// # Ok::<(), spikelab_data::DataError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NwbMetadata {
    /// `session_id` (no `/`).
    pub session_id: Option<String>,
    /// `experimenter`: names, `Last, First` by convention.
    #[serde(default)]
    pub experimenter: Vec<String>,
    /// `experiment_description`.
    pub experiment_description: Option<String>,
    /// `institution`.
    pub institution: Option<String>,
    /// `lab`.
    pub lab: Option<String>,
    /// `keywords`.
    #[serde(default)]
    pub keywords: Vec<String>,
    /// `related_publications` (`doi:…` or a DOI link).
    #[serde(default)]
    pub related_publications: Vec<String>,
    /// The subject (`None` writes none; DANDI requires one).
    pub subject: Option<NwbSubject>,
    /// Imaging metadata: all of it for new ophys files; in an existing file, `location` and
    /// `indicator` of the imaging planes that say `unknown` (what spikelab writes when none is
    /// given).
    pub imaging: Option<NwbImaging>,
    /// `Units` `spike_times@resolution` (s): the smallest possible difference between two
    /// spike times, `1 / sampling rate` of the acquisition (3.3333333333333335e-5 for
    /// 30 kHz). Used for a units table that has none; a writer's own
    /// [`NwbWriteOptions::spike_time_resolution_s`](super::NwbWriteOptions::spike_time_resolution_s)
    /// wins. nwbinspector's DANDI checks flag units without one.
    pub spike_time_resolution_s: Option<f64>,
    /// Refuse to write a file that misses a DANDI-required field (`--dandi` in the CLI); the
    /// units' resolution counts as one.
    #[serde(default)]
    pub dandi: bool,
}

impl NwbSubject {
    /// A subject with the four DANDI-required fields.
    pub fn new(
        subject_id: impl Into<String>,
        species: impl Into<String>,
        sex: impl Into<String>,
        age: impl Into<String>,
    ) -> Self {
        NwbSubject {
            subject_id: Some(subject_id.into()),
            species: Some(species.into()),
            sex: Some(sex.into()),
            age: Some(age.into()),
            ..Default::default()
        }
    }

    /// Checks the form of every field that is set (the checks nwbinspector's DANDI
    /// configuration rates CRITICAL or BEST_PRACTICE_VIOLATION).
    pub fn validate(&self) -> Result<()> {
        if let Some(id) = &self.subject_id {
            check_id("subject.subject_id", id)?;
        }
        if let Some(sp) = &self.species
            && !species_form_ok(sp)
        {
            return Err(DataError::param(
                "subject.species",
                format!(
                    "{sp:?}: use the Latin binomial (e.g. \"Mus musculus\") or an NCBI taxonomy IRI \
                     (e.g. \"http://purl.obolibrary.org/obo/NCBITaxon_10090\")"
                ),
            ));
        }
        if let Some(sex) = &self.sex
            && !matches!(sex.as_str(), "M" | "F" | "O" | "U")
        {
            return Err(DataError::param(
                "subject.sex",
                format!("{sex:?}: use M, F, O (other) or U (unknown)"),
            ));
        }
        if let Some(age) = &self.age {
            check_age(age)?;
        }
        if let Some(w) = &self.weight
            && !weight_form_ok(w)
        {
            return Err(DataError::param(
                "subject.weight",
                format!(
                    "{w:?}: use \"number unit\" with unit kg, g, mg, ug, ng or pg, e.g. \"0.025 kg\""
                ),
            ));
        }
        if let Some(dob) = &self.date_of_birth {
            super::session::check_iso8601("subject.date_of_birth", dob)?;
        }
        Ok(())
    }
}

impl NwbMetadata {
    /// Parses the TOML form shown in the type's docs; unknown keys are errors.
    pub fn from_toml_str(text: &str) -> Result<Self> {
        let meta: NwbMetadata = toml::from_str(text)
            .map_err(|e| DataError::param("NWB metadata", format!("invalid TOML: {e}")))?;
        meta.validate()?;
        Ok(meta)
    }

    /// Reads [`NwbMetadata::from_toml_str`] from a file.
    pub fn from_toml_file(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| DataError::io(path, e))?;
        Self::from_toml_str(&text).map_err(|e| match e {
            DataError::InvalidParameter { name, reason } => DataError::InvalidParameter {
                name,
                reason: format!("{}: {reason}", path.display()),
            },
            other => other,
        })
    }

    /// The DANDI-required fields that are missing: `subject`, `subject.subject_id`,
    /// `subject.species`, `subject.sex`, `subject.age` (or `subject.date_of_birth`).
    pub fn dandi_missing(&self) -> Vec<&'static str> {
        let Some(s) = &self.subject else {
            return vec!["subject"];
        };
        let mut missing = Vec::new();
        if s.subject_id.is_none() {
            missing.push("subject.subject_id");
        }
        if s.species.is_none() {
            missing.push("subject.species");
        }
        if s.sex.is_none() {
            missing.push("subject.sex");
        }
        if s.age.is_none() && s.date_of_birth.is_none() {
            missing.push("subject.age");
        }
        missing
    }

    /// Checks every field that is set, and with `dandi` that nothing DANDI needs is missing.
    pub fn validate(&self) -> Result<()> {
        self.validate_fields()?;
        if self.dandi {
            let missing = self.dandi_missing();
            if !missing.is_empty() {
                return Err(DataError::DandiMetadata {
                    missing: missing.iter().map(|s| s.to_string()).collect(),
                });
            }
        }
        Ok(())
    }

    /// Checks the form of every field that is set.
    pub fn validate_fields(&self) -> Result<()> {
        check_resolution(self.spike_time_resolution_s)?;
        if let Some(id) = &self.session_id {
            check_id("session_id", id)?;
        }
        if let Some(s) = &self.subject {
            s.validate()?;
        }
        for p in &self.related_publications {
            if !["doi:", "http://dx.doi.org/", "https://doi.org/"]
                .iter()
                .any(|s| p.starts_with(s))
            {
                return Err(DataError::param(
                    "related_publications",
                    format!("{p:?}: write it as \"doi:10.…\" or a https://doi.org/ link"),
                ));
            }
        }
        Ok(())
    }

    /// Writes the fields that are set into `/general` (which must exist), each only where the
    /// file has none: a new file gets all of them, a copy of a user's file keeps its own.
    pub(super) fn write(&self, file: &File) -> R<()> {
        let general = file.group("general").ctx(|| "group /general".to_string())?;
        for (name, value) in [
            ("session_id", &self.session_id),
            ("experiment_description", &self.experiment_description),
            ("institution", &self.institution),
            ("lab", &self.lab),
        ] {
            if let Some(v) = value
                && !general.link_exists(name)
            {
                scalar_str(&general, name, v)?;
            }
        }
        for (name, list) in [
            ("experimenter", &self.experimenter),
            ("keywords", &self.keywords),
            ("related_publications", &self.related_publications),
        ] {
            if !list.is_empty() && !general.link_exists(name) {
                let v = list.iter().map(|s| vlen(s)).collect::<R<Vec<_>>>()?;
                general
                    .new_dataset_builder()
                    .with_data(&v[..])
                    .create(name)
                    .ctx(|| format!("dataset /general/{name}"))?;
            }
        }
        if let Some(s) = &self.subject {
            let g = match general.group("subject") {
                Ok(g) => g,
                Err(_) => {
                    let g = group(&general, "subject")?;
                    typed(&g, "Subject", CORE)?;
                    g
                }
            };
            for (name, value) in [
                ("subject_id", &s.subject_id),
                ("species", &s.species),
                ("sex", &s.sex),
                ("description", &s.description),
                ("strain", &s.strain),
                ("genotype", &s.genotype),
                ("weight", &s.weight),
                ("date_of_birth", &s.date_of_birth),
            ] {
                if let Some(v) = value
                    && !g.link_exists(name)
                {
                    scalar_str(&g, name, v)?;
                }
            }
            if let Some(age) = &s.age
                && !g.link_exists("age")
                && !g.link_exists("date_of_birth")
            {
                let ds = scalar_str(&g, "age", age)?;
                super::h5::attr_str(&ds, "reference", "birth")?;
            }
        }
        if let Some(im) = &self.imaging {
            fill_imaging_planes(file, im)?;
        }
        if let Some(r) = self.spike_time_resolution_s
            && let Ok(times) = file.dataset("units/spike_times")
            && resolution_of(&times).is_none()
        {
            if times
                .attr_names()
                .is_ok_and(|a| a.iter().any(|n| n == "resolution"))
            {
                times
                    .delete_attr("resolution")
                    .ctx(|| "replacing /units/spike_times@resolution".to_string())?;
            }
            super::h5::attr_f64(&times, "resolution", r)?;
        }
        Ok(())
    }
}

/// A `spike_times@resolution` that says something (finite, > 0).
fn resolution_of(times: &hdf5::Dataset) -> Option<f64> {
    super::h5::f64_attr(times, "resolution").filter(|r| r.is_finite() && *r > 0.0)
}

/// A spike time resolution, when given, is finite and > 0.
pub(super) fn check_resolution(r: Option<f64>) -> Result<()> {
    match r {
        Some(r) if !(r.is_finite() && r > 0.0) => Err(DataError::param(
            "spike_time_resolution_s",
            format!("must be > 0 s (1 / the sampling rate), got {r}"),
        )),
        _ => Ok(()),
    }
}

/// What a writer stores for an imaging plane's location or indicator that nobody gave
/// (spikelab's [`OphysWriteOptions`](super::OphysWriteOptions) default).
const NOT_GIVEN: &str = "unknown";

/// Sets the `location` and `indicator` of every `ImagingPlane` in `/general/optophysiology`
/// that holds [`NOT_GIVEN`] (or none) to those of `im`; a plane's own values are kept.
fn fill_imaging_planes(file: &File, im: &NwbImaging) -> R<()> {
    let Ok(optophys) = file.group("general/optophysiology") else {
        return Ok(());
    };
    for name in optophys
        .member_names()
        .ctx(|| "/general/optophysiology".to_string())?
    {
        let Ok(plane) = optophys.group(&name) else {
            continue;
        };
        if super::h5::neurodata_type(&plane).as_deref() != Some("ImagingPlane") {
            continue;
        }
        for (field, value) in [("location", &im.location), ("indicator", &im.indicator)] {
            let Some(v) = value else { continue };
            let given = match plane.dataset(field) {
                Ok(ds) => super::h5::read_string_lenient(&ds)? != NOT_GIVEN,
                Err(_) => false,
            };
            if !given {
                if plane.link_exists(field) {
                    plane
                        .unlink(field)
                        .ctx(|| format!("replacing {}/{field}", plane.name()))?;
                }
                scalar_str(&plane, field, v)?;
            }
        }
    }
    Ok(())
}

/// The DANDI-required fields an open NWB file lacks (names as in
/// [`NwbMetadata::dandi_missing`]).
pub(super) fn dandi_missing_in(file: &File) -> Vec<&'static str> {
    let mut missing = Vec::new();
    match file.group("general/subject") {
        Err(_) => missing.push("subject"),
        Ok(s) => {
            for (name, field) in [
                ("subject.subject_id", "subject_id"),
                ("subject.species", "species"),
                ("subject.sex", "sex"),
            ] {
                if !s.link_exists(field) {
                    missing.push(name);
                }
            }
            if !s.link_exists("age") && !s.link_exists("date_of_birth") {
                missing.push("subject.age");
            }
        }
    }
    if let Ok(times) = file.dataset("units/spike_times")
        && resolution_of(&times).is_none()
    {
        missing.push("spike_time_resolution_s");
    }
    missing
}

fn check_id(name: &'static str, id: &str) -> Result<()> {
    if id.trim().is_empty() || id.contains('/') {
        return Err(DataError::param(
            name,
            format!("{id:?}: must be non-empty and contain no '/' (DANDI builds paths from it)"),
        ));
    }
    Ok(())
}

/// `[A-Z][a-z]* [a-z]+` or `http://purl.obolibrary.org/obo/NCBITaxon_<digits>`, whole string.
fn species_form_ok(s: &str) -> bool {
    if let Some(id) = s.strip_prefix("http://purl.obolibrary.org/obo/NCBITaxon_") {
        return !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit());
    }
    let Some((genus, species)) = s.split_once(' ') else {
        return false;
    };
    let mut g = genus.bytes();
    matches!(g.next(), Some(b'A'..=b'Z'))
        && g.all(|b| b.is_ascii_lowercase())
        && !species.is_empty()
        && species.bytes().all(|b| b.is_ascii_lowercase())
}

/// `number unit`, unit one of kg, g, mg, ug, μg, ng, pg (any case).
fn weight_form_ok(s: &str) -> bool {
    let Some((num, unit)) = s.split_once(' ') else {
        return false;
    };
    let num_ok = match num.split_once('.') {
        Some((a, b)) => {
            !a.is_empty()
                && !b.is_empty()
                && a.bytes().all(|c| c.is_ascii_digit())
                && b.bytes().all(|c| c.is_ascii_digit())
        }
        None => !num.is_empty() && num.bytes().all(|c| c.is_ascii_digit()),
    };
    num_ok
        && ["kg", "g", "mg", "ug", "μg", "ng", "pg"]
            .iter()
            .any(|u| unit.eq_ignore_ascii_case(u))
}

/// Parses an ISO 8601 duration `P[nY][nM][nW][nD][T[nH][nM][nS]]` (n an integer or decimal)
/// into approximate days; `None` if the form is wrong.
fn duration_days(s: &str) -> Option<f64> {
    let rest = s.strip_prefix('P')?;
    if rest.is_empty() {
        return None;
    }
    let (date, time) = match rest.split_once('T') {
        Some((d, t)) => {
            if t.is_empty() || !t.starts_with(|c: char| c.is_ascii_digit()) {
                return None;
            }
            (d, Some(t))
        }
        None => (rest, None),
    };
    let parse = |part: &str, units: &[(char, f64)]| -> Option<f64> {
        let mut days = 0.0;
        let mut next = 0;
        let mut num = String::new();
        for c in part.chars() {
            if c.is_ascii_digit() || c == '.' {
                num.push(c);
                continue;
            }
            let i = units.iter().position(|(u, _)| *u == c)?;
            if i < next || num.is_empty() || num.starts_with('.') || num.ends_with('.') {
                return None;
            }
            if num.matches('.').count() > 1 {
                return None;
            }
            days += num.parse::<f64>().ok()? * units[i].1;
            num.clear();
            next = i + 1;
        }
        num.is_empty().then_some(days)
    };
    let d = parse(date, &[('Y', 365.25), ('M', 30.44), ('W', 7.0), ('D', 1.0)])?;
    let t = match time {
        Some(t) => parse(
            t,
            &[
                ('H', 1.0 / 24.0),
                ('M', 1.0 / 1440.0),
                ('S', 1.0 / 86_400.0),
            ],
        )?,
        None => 0.0,
    };
    Some(d + t)
}

fn check_age(age: &str) -> Result<()> {
    let bad = |why: &str| {
        Err(DataError::param(
            "subject.age",
            format!(
                "{age:?} {why}; use an ISO 8601 duration such as \"P90D\" or \"P2Y3M\", or a range \"P90D/P120D\""
            ),
        ))
    };
    match age.split_once('/') {
        None => match duration_days(age) {
            Some(_) => Ok(()),
            None => bad("is not an ISO 8601 duration"),
        },
        Some((lo, hi)) => {
            let lo_d = if lo.is_empty() {
                Some(None)
            } else {
                duration_days(lo).map(Some)
            };
            let hi_d = if hi.is_empty() {
                Some(None)
            } else {
                duration_days(hi).map(Some)
            };
            match (lo_d, hi_d) {
                (Some(Some(a)), Some(Some(b))) if a >= b => {
                    bad("is a range whose bounds do not increase")
                }
                (Some(_), Some(_)) if !(lo.is_empty() && hi.is_empty()) => Ok(()),
                _ => bad("is not a range of ISO 8601 durations"),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms_match_nwbinspector() {
        for ok in [
            "Mus musculus",
            "Homo sapiens",
            "http://purl.obolibrary.org/obo/NCBITaxon_10090",
        ] {
            assert!(species_form_ok(ok), "{ok}");
        }
        for bad in [
            "mouse",
            "mus musculus",
            "Mus Musculus",
            "Mus  musculus",
            "Mus musculus ",
            "http://purl.obolibrary.org/obo/NCBITaxon_",
        ] {
            assert!(!species_form_ok(bad), "{bad}");
        }
        for ok in [
            "P90D",
            "P2Y3M",
            "P1.5W",
            "PT12H",
            "P1DT2H3M4.5S",
            "P90D/P120D",
            "P90D/",
            "/P2Y",
        ] {
            assert!(check_age(ok).is_ok(), "{ok}");
        }
        for bad in [
            "P",
            "90 days",
            "P90",
            "PT",
            "P1D2Y",
            "P120D/P90D",
            "/",
            "P1..5D",
            "P1DT",
        ] {
            assert!(check_age(bad).is_err(), "{bad}");
        }
        for ok in ["25 g", "0.025 kg", "3 MG"] {
            assert!(weight_form_ok(ok), "{ok}");
        }
        for bad in ["25g", "25 lb", ".5 g", "25"] {
            assert!(!weight_form_ok(bad), "{bad}");
        }
    }

    #[test]
    fn dandi_requires_the_subject_fields() {
        let mut meta = NwbMetadata {
            dandi: true,
            ..Default::default()
        };
        match meta.validate() {
            Err(DataError::DandiMetadata { missing }) => assert_eq!(missing, ["subject"]),
            other => panic!("{other:?}"),
        }
        meta.subject = Some(NwbSubject {
            species: Some("Mus musculus".into()),
            ..Default::default()
        });
        match meta.validate() {
            Err(DataError::DandiMetadata { missing }) => {
                assert_eq!(
                    missing,
                    ["subject.subject_id", "subject.sex", "subject.age"]
                )
            }
            other => panic!("{other:?}"),
        }
        meta.subject = Some(NwbSubject::new("m3", "Mus musculus", "M", "P3M"));
        meta.validate().unwrap();
        assert!(NwbMetadata::from_toml_str("nonsense = 1").is_err());
        assert!(NwbMetadata::from_toml_str("[subject]\nsex = \"female\"").is_err());
    }
}
